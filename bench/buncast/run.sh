#!/usr/bin/env bash
# buncast bench: bunbased's buncast (IPC over TCP, our C client library) vs Debian's nats-server
# (libnats), same bench program (bench/buncast/bench_client.c) built twice, same run.
# Usage: bench/buncast/run.sh BUILD_DIR
# Env: BENCH_LAT_N (latency samples, default 5000), BENCH_FAN1_MSGS (default 100000),
#      BENCH_FAN1000_MSGS (default 200), BENCH_FAN_SUBS (default 1000).
# Rows: publish→deliver latency p50/p99 (one message in flight), fan-out throughput (deliveries/s)
# to 1 and to 1,000 subscriber connections. Ends with `ratio: X`, the worst row of ours/nats for
# throughput and nats/ours for latency (X < 1: we are slower). Both brokers get the same per-
# subscriber buffer (64 MiB, NATS's default max_pending) so neither cuts a subscriber off.
set -euo pipefail

BUILD_DIR=${1:?usage: bench/buncast/run.sh BUILD_DIR}
BUILD_DIR=$(cd "$BUILD_DIR" && pwd)
SRC=$(cd "$(dirname "$0")/../.." && pwd)
BUNBASED="$BUILD_DIR/bunbased"
LAT_N=${BENCH_LAT_N:-5000}
FAN1=${BENCH_FAN1_MSGS:-100000}
FANK=${BENCH_FAN1000_MSGS:-200}
SUBS=${BENCH_FAN_SUBS:-1000}
NATS_SERVER=${NATS_SERVER:-$(command -v nats-server || echo /usr/sbin/nats-server)}

[ -x "$BUNBASED" ] || { echo "bench/buncast: $BUNBASED not found" >&2; exit 1; }
[ -x "$NATS_SERVER" ] || { echo "bench/buncast: nats-server not found" >&2; exit 1; }
pkg-config --exists libnats || { echo "bench/buncast: libnats (libnats-dev) not found" >&2; exit 1; }

TMP=$(mktemp -d /tmp/bb-bench-buncast.XXXXXX)
chmod 0755 "$TMP"
BB_PID=""
NATS_PID=""

free_port() {
  node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

stop_pid() {
  local pid=$1 secs=$2 i
  [ -n "$pid" ] || return 0
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < secs * 10; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop_pid "$NATS_PID" 5
  stop_pid "$BB_PID" 20
  local pm
  for pm in $(grep -l -a -F "$TMP/bb" /proc/[0-9]*/cmdline 2>/dev/null | cut -d/ -f3); do
    if tr '\0' ' ' 2>/dev/null <"/proc/$pm/cmdline" | grep -q postgres; then kill -QUIT "$pm" 2>/dev/null || true; fi
  done
  sleep 0.2
  rm -rf "$TMP"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- bench clients ---------------------------------------------------------------------------------
# ours is built with the tree (CMake target bench_buncast_client)
[ -x "$BUILD_DIR/bench_buncast_client" ] ||
  { echo "bench/buncast: missing $BUILD_DIR/bench_buncast_client (cmake --build)" >&2; exit 1; }
cp "$BUILD_DIR/bench_buncast_client" "$TMP/bench_ours"
# shellcheck disable=SC2046
cc -O2 -DUSE_NATS "$SRC/bench/buncast/bench_client.c" $(pkg-config --cflags --libs libnats) \
  -lpthread -o "$TMP/bench_nats"

# --- bunbased (buncast) ----------------------------------------------------------------------------
BB_PORT=$(free_port); BC_HTTP=$(free_port); BC_IPC=$(free_port)
mkdir -p "$TMP/bb"
env -u BUNBASE_DATABASE_URL BUNBASE_LOG_LEVEL=warn BUNBASE_BUNCAST_ADDR="127.0.0.1:$BC_HTTP" \
  BUNBASE_BUNCAST_IPC_ADDR="127.0.0.1:$BC_IPC" BUNBASE_BUNCAST_QUEUE_BYTES=67108864 \
  BUNBASE_BUNCAST_MAX_CONNECTIONS=5000 \
  "$BUNBASED" serve --data "$TMP/bb" --listen "127.0.0.1:$BB_PORT" --services=platform,buncast \
  >"$TMP/bb.out" 2>"$TMP/bb.err" &
BB_PID=$!
for ((i = 0; i < 600; i++)); do
  kill -0 "$BB_PID" 2>/dev/null || { echo "bench/buncast: bunbased exited; stderr:" >&2; tail -n 40 "$TMP/bb.err" >&2; exit 1; }
  curl -fsS "http://127.0.0.1:$BC_HTTP/health" >/dev/null 2>&1 && break
  sleep 0.1
done

# --- nats-server -----------------------------------------------------------------------------------
NATS_PORT=$(free_port)
"$NATS_SERVER" -a 127.0.0.1 -p "$NATS_PORT" >"$TMP/nats.log" 2>&1 &
NATS_PID=$!
for ((i = 0; i < 100; i++)); do
  (exec 3<>"/dev/tcp/127.0.0.1/$NATS_PORT") 2>/dev/null && break
  sleep 0.1
done

OURS="127.0.0.1:$BC_IPC"
export BENCH_BUNCAST_TOKEN_FILE="$TMP/bb/internal_token" # buncast's IPC needs the internal token
NATS="nats://127.0.0.1:$NATS_PORT"
field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p"; }

lat_o=$("$TMP/bench_ours" latency "$OURS" "$LAT_N")
lat_n=$("$TMP/bench_nats" latency "$NATS" "$LAT_N")
f1_o=$("$TMP/bench_ours" fanout "$OURS" 1 "$FAN1")
f1_n=$("$TMP/bench_nats" fanout "$NATS" 1 "$FAN1")
fk_o=$("$TMP/bench_ours" fanout "$OURS" "$SUBS" "$FANK")
fk_n=$("$TMP/bench_nats" fanout "$NATS" "$SUBS" "$FANK")

p50_o=$(echo "$lat_o" | field p50_us); p99_o=$(echo "$lat_o" | field p99_us)
p50_n=$(echo "$lat_n" | field p50_us); p99_n=$(echo "$lat_n" | field p99_us)
t1_o=$(echo "$f1_o" | field deliveries_per_s); t1_n=$(echo "$f1_n" | field deliveries_per_s)
tk_o=$(echo "$fk_o" | field deliveries_per_s); tk_n=$(echo "$fk_n" | field deliveries_per_s)

awk -v p50o="$p50_o" -v p50n="$p50_n" -v p99o="$p99_o" -v p99n="$p99_n" \
    -v t1o="$t1_o" -v t1n="$t1_n" -v tko="$tk_o" -v tkn="$tk_n" -v subs="$SUBS" 'BEGIN {
  printf "%-34s %14s %14s %8s\n", "metric", "buncast", "nats-server", "ratio"
  r1 = p50n / p50o; r2 = p99n / p99o; r3 = t1o / t1n; r4 = tko / tkn
  printf "%-34s %14.1f %14.1f %8.2f\n", "publish->deliver p50 (us)", p50o, p50n, r1
  printf "%-34s %14.1f %14.1f %8.2f\n", "publish->deliver p99 (us)", p99o, p99n, r2
  printf "%-34s %14.0f %14.0f %8.2f\n", "fan-out 1 sub (deliveries/s)", t1o, t1n, r3
  printf "%-34s %14.0f %14.0f %8.2f\n", "fan-out " subs " subs (deliveries/s)", tko, tkn, r4
  w = r1; if (r2 < w) w = r2; if (r3 < w) w = r3; if (r4 < w) w = r4
  printf "ratio: %.2f\n", w
}'
