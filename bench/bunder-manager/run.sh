#!/usr/bin/env bash
# bunder-manager bench: redis-benchmark through the manager's RESP endpoint (AUTH <project> <key>,
# then the socket handed to the child, or relayed) versus directly against the same child process,
# in the same run.
# Usage: bench/bunder-manager/run.sh BUILD_DIR
# Env: BENCH_REQUESTS (per -P 1 run, default 100000; -P 16 runs use 10x, so that a run lasts about
# as long as a -P 1 run), BENCH_CONNECTIONS (default 50), BENCH_ROUNDS (rounds per row, default 3;
# a round runs direct, manager, manager, direct and keeps each side's mean, so a drift within the
# round hits both sides alike; the table shows each side's median over the rounds),
# BUNDER_BIN (child binary; default BUILD_DIR/bunder when it answers PING, else redis-server).
# BENCH_VERBOSE=1 prints every run's rps to stderr.
# BUNBASE_BUNDER_MANAGER_HANDOFF=0 keeps clients on the manager's relay instead of handing their
# socket to the child after AUTH (the default with a bunder child), to compare the two paths.
# Prints a table (pipeline, command, direct rps, manager rps, ratio, and the child's CPU time per
# request on each path in ns — exact from /proc/<pid>/task/*/schedstat, so it shows whether a path
# costs the child more work even when the machine's load scatters the rps) and ends with
# `ratio: X`, the worst row's manager/direct throughput (X < 1 means going through the manager
# costs throughput).
set -euo pipefail

BUILD_DIR=${1:?usage: bench/bunder-manager/run.sh BUILD_DIR}
BUILD_DIR=$(cd "$BUILD_DIR" && pwd)
BUNBASED="$BUILD_DIR/bunbased"
REQS=${BENCH_REQUESTS:-100000}
CONNS=${BENCH_CONNECTIONS:-50}
ROUNDS=${BENCH_ROUNDS:-3}

[ -x "$BUNBASED" ] || { echo "bench/bunder-manager: $BUNBASED not found" >&2; exit 1; }
for t in redis-benchmark redis-cli; do
  command -v $t >/dev/null || { echo "bench/bunder-manager: $t not found" >&2; exit 1; }
done

TMP=$(mktemp -d /tmp/bb-bench-bmgr.XXXXXX)
chmod 0755 "$TMP"
BB_PID=""
PROBE_PID=""

stop_pid() { # pid, seconds before SIGKILL
  local pid=$1 secs=$2 i
  [ -n "$pid" ] || return 0
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < secs * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop_pid "$PROBE_PID" 5
  stop_pid "$BB_PID" 20
  rm -rf "$TMP"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
  node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

# --- child binary: build/bunder if it answers, else redis-server ---------------------------------
CHILD=${BUNDER_BIN:-}
if [ -z "$CHILD" ] && [ -x "$BUILD_DIR/bunder" ]; then
  port=$(free_port)
  mkdir -p "$TMP/probe"
  "$BUILD_DIR/bunder" --port "$port" --bind 127.0.0.1 --dir "$TMP/probe" --appendonly yes \
    --appendfsync everysec --requirepass probe --maxmemory 100mb >"$TMP/probe.log" 2>&1 &
  PROBE_PID=$!
  for ((i = 0; i < 30; i++)); do
    if [ "$(redis-cli -p "$port" -a probe --no-auth-warning PING 2>/dev/null)" = PONG ]; then
      CHILD="$BUILD_DIR/bunder"; break
    fi
    sleep 0.1
  done
  stop_pid "$PROBE_PID" 5
  PROBE_PID=""
fi
CHILD=${CHILD:-/usr/bin/redis-server}
echo "child binary: $CHILD"

# --- bunbased with only bunder-manager ------------------------------------------------------------
echo "p1 benchkey" >"$TMP/keys"
BASE=$((30000 + RANDOM % 2000))
mkdir -p "$TMP/bb"
env -u BUNBASE_DATABASE_URL BUNBASE_LOG_LEVEL=info BUNBASE_BUNDER_BIN="$CHILD" \
  BUNBASE_BUNDER_MANAGER_RESP_ADDR=127.0.0.1:0 BUNBASE_BUNDER_MANAGER_KEYS_FILE="$TMP/keys" \
  BUNBASE_BUNDER_MANAGER_PORT_BASE=$BASE BUNBASE_BUNDER_MANAGER_PORT_COUNT=100 \
  BUNBASE_BUNDER_MANAGER_MAXMEMORY_MB=1024 \
  "$BUNBASED" serve --data "$TMP/bb" --listen 127.0.0.1:0 --services=bunder-manager \
  >"$TMP/bb.out" 2>"$TMP/bb.err" &
BB_PID=$!
RESP=""
for ((i = 0; i < 600; i++)); do
  kill -0 "$BB_PID" 2>/dev/null || { echo "bunbased exited; stderr:" >&2; tail -n 30 "$TMP/bb.err" >&2; exit 1; }
  RESP=$(grep -o 'mod=bunder-manager msg="ready" resp_port=[0-9]*' "$TMP/bb.err" 2>/dev/null | grep -o '[0-9]*$' || true)
  [ -n "$RESP" ] && break
  sleep 0.1
done
[ -n "$RESP" ] || { echo "bench/bunder-manager: manager not ready" >&2; exit 1; }

# first use spawns the child
[ "$(redis-cli -p "$RESP" --user p1 --pass benchkey --no-auth-warning PING)" = PONG ] ||
  { echo "bench/bunder-manager: AUTH through the manager failed" >&2; tail -n 30 "$TMP/bb.err" >&2; exit 1; }
DIR="$TMP/bb/bunder/projects/p1"
CHILD_PORT=$(grep -o 'msg="child_ready" project=p1 pid=[0-9]* port=[0-9]*' "$TMP/bb.err" | tail -n 1 | grep -o '[0-9]*$')
CHILD_PID=$(grep -o 'msg="child_ready" project=p1 pid=[0-9]*' "$TMP/bb.err" | tail -n 1 | grep -o '[0-9]*$')
SECRET=$(cat "$DIR/bunder.secret")
[ "$(redis-cli -p "$CHILD_PORT" -a "$SECRET" --no-auth-warning PING)" = PONG ] ||
  { echo "bench/bunder-manager: child not reachable directly" >&2; exit 1; }

# CPU time the child has used so far, in ns (sum_exec_runtime of its threads: exact, unlike ticks)
child_cpu_ns() {
  cat /proc/"$CHILD_PID"/task/*/schedstat 2>/dev/null | awk '{s += $1} END {printf "%.0f", s}'
}

# one redis-benchmark run: target (direct|manager), command, pipeline, requests;
# prints "<rps> <child CPU ns per request>"
run() {
  local target=$1 cmd=$2 pl=$3 n=$4 auth c0 c1 rps
  if [ "$target" = direct ]; then auth=(-p "$CHILD_PORT" -a "$SECRET");
  else auth=(-p "$RESP" --user p1 -a benchkey); fi
  c0=$(child_cpu_ns)
  rps=$(redis-benchmark "${auth[@]}" -c "$CONNS" -n "$n" -P "$pl" -t "$cmd" -d 16 --csv 2>/dev/null |
    awk -F'","' 'NR>1 {print $2; exit}')
  c1=$(child_cpu_ns)
  echo "${rps:-0} $(awk -v a="$c0" -v b="$c1" -v n="$n" 'BEGIN{printf "%.0f", (b - a) / n}')"
}

mean2() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.0f", (a + b) / 2}'; }

median() { # numbers as arguments
  printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

printf '%-9s %-5s %14s %14s %7s %11s %11s\n' pipeline cmd direct_rps manager_rps ratio \
  direct_ns manager_ns
worst=""
for pl in 1 16; do
  n=$REQS
  [ "$pl" -gt 1 ] && n=$((REQS * 10))
  for cmd in set get; do
    ds=(); ms=(); dc=(); mc=()
    for ((r = 0; r < ROUNDS; r++)); do
      # one round = direct, manager, manager, direct (ABBA): a drift during the round (the AOF
      # of SET rows grows ~40 MB per run, rewrites fork) weighs on both sides alike
      d1=$(run direct "$cmd" "$pl" "$n"); m1=$(run manager "$cmd" "$pl" "$n")
      m2=$(run manager "$cmd" "$pl" "$n"); d2=$(run direct "$cmd" "$pl" "$n")
      ds+=("$(mean2 "${d1% *}" "${d2% *}")"); ms+=("$(mean2 "${m1% *}" "${m2% *}")")
      dc+=("$(mean2 "${d1#* }" "${d2#* }")"); mc+=("$(mean2 "${m1#* }" "${m2#* }")")
    done
    [ -n "${BENCH_VERBOSE:-}" ] && echo "  -P $pl $cmd direct: ${ds[*]} (${dc[*]} ns)  manager: ${ms[*]} (${mc[*]} ns)" >&2
    med_d=$(median "${ds[@]}"); med_m=$(median "${ms[@]}")
    ratio=$(awk -v d="$med_d" -v m="$med_m" 'BEGIN{ if (d>0) printf "%.3f", m/d; else print "0" }')
    printf '%-9s %-5s %14.0f %14.0f %7s %11s %11s\n' "-P $pl" "$cmd" "$med_d" "$med_m" "$ratio" \
      "$(median "${dc[@]}")" "$(median "${mc[@]}")"
    worst=$(awk -v w="$worst" -v r="$ratio" 'BEGIN{ if (w=="" || r<w) print r; else print w }')
  done
done
path=relay
grep -q 'msg="ready" .* handoff=on' "$TMP/bb.err" && path="socket handoff"
echo "(redis-benchmark -c $CONNS -d 16, median of $ROUNDS rounds of direct/manager/manager/direct; child: $(basename "$CHILD"); manager path: $path; target: ratio >= 0.95)"
echo "ratio: $worst"
