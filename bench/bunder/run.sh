#!/usr/bin/env bash
# bench/bunder/run.sh BUILD_DIR — redis-benchmark against build/bunder and Debian's redis-server
# with identical flags in the same run: -c 50, -P 1 and -P 16, persistence off and
# appendfsync everysec (with rows for EVALSHA of a small script, SETBIT on random keys, PFADD of
# random elements, XADD and XREAD, GEOADD, GEOSEARCH, ZUNIONSTORE, SORT and DUMP next to
# redis-benchmark's own tests); plus resident memory for 1M small keys loaded with redis-cli --pipe.
# Prints one table and `ratio: X` = the worst row: ops/s bunder / redis, and for the two memory
# rows (used_memory and RSS growth per key) redis / bunder, so above 1 is better everywhere. Both
# servers run side by side (fresh per persistence x pipeline group); each ops/s row is measured
# BENCH_REPEAT times (default 3) right after each other, the two servers alternating — redis first
# in odd rounds, bunder first in even ones — and the median of each side is compared: on a small
# shared machine one run swings by ±30 %, and measuring one server's whole table before the
# other's lets a load change of the machine land on one side only.
set -euo pipefail
BUILD=${1:-build}
BUNDER=$(cd "$BUILD" && pwd)/bunder
TESTS=${BENCH_TESTS:-set,get,incr,lpush,rpush,lpop,sadd,hset,zadd,lrange_100,mset}
N1=${BENCH_N1:-60000}     # requests per test with -P 1
N16=${BENCH_N16:-400000}  # requests per test with -P 16
KEYS=${BENCH_KEYS:-1000000}
REPEAT=${BENCH_REPEAT:-3}  # rounds per row, redis and bunder alternating; the median is reported
EXTRA=${BENCH_EXTRA:-1}    # 1: also the evalsha_incr, setbit_rand, pfadd_rand, xadd_maxlen, xread_count10, geo, zunionstore, sort and dump rows
command -v redis-server >/dev/null || { echo "redis-server not installed" >&2; exit 1; }
[ -x "$BUNDER" ] || { echo "no $BUNDER (build the bunder target)" >&2; exit 1; }

TMP=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1]);s.close()'; }
wait_port() { for _ in $(seq 1 100); do redis-cli -p "$1" ping >/dev/null 2>&1 && return 0; sleep 0.05; done; echo "server on $1 did not start" >&2; exit 1; }

# start_server KIND PERSIST -> sets PORT, PID
start_server() {
  local kind=$1 persist=$2 dir
  dir=$(mktemp -d -p "$TMP")
  PORT=$(free_port)
  local aof=(--appendonly no)
  [ "$persist" = everysec ] && aof=(--appendonly yes --appendfsync everysec)
  if [ "$kind" = bunder ]; then
    "$BUNDER" --port "$PORT" --dir "$dir" "${aof[@]}" 2>"$dir/log" &
  else
    redis-server --port "$PORT" --dir "$dir" --save '' "${aof[@]}" --daemonize no --logfile "$dir/log" &
  fi
  PID=$!
  PIDS+=("$PID")
  wait_port "$PORT"
}
stop_server() { kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; }

declare -A RES
declare -A MEM MEMU MEMR
declare -A SPORT SPID
# start_pair PERSIST: both servers up side by side (SPORT/SPID[redis|bunder]), same dataset setup
start_pair() {
  local kind
  for kind in redis bunder; do
    start_server "$kind" "$1"
    SPORT[$kind]=$PORT
    SPID[$kind]=$PID
    setup_data "$PORT"
  done
}
stop_pair() {
  local kind
  for kind in redis bunder; do PID=${SPID[$kind]}; stop_server; done
}
# the data the custom rows read: a 1,000-entry stream, 1,000 geo points near Sicily, two 100-member
# sorted sets, a 1,000-number list, a 100-field hash
setup_data() {
  local port=$1
  {
    for i in $(seq 1 1000); do echo "XADD xs $i-1 field value$i"; done
    for i in $(seq 1 1000); do echo "GEOADD geo1k $((12 + i % 5)).$((i * 37 % 1000)) $((37 + i % 3)).$((i * 91 % 1000)) p$i"; done
    for i in $(seq 1 100); do echo "ZADD za $i a$i"; echo "ZADD zb $((i * 2)) a$((i + 50))"; done
    for i in $(seq 1 1000); do echo "RPUSH sl $(( (i * 7919) % 100003 ))"; done
    for i in $(seq 1 100); do echo "HSET dh f$i value$i"; done
  } | redis-cli -p "$port" >/dev/null
  SHA=$(redis-cli -p "$port" script load "return redis.call('incr', KEYS[1])")
}
# one_row KIND P N ROWNAME|- ARGS...: one redis-benchmark run against KIND; appends "name,rps"
# lines to $TMP/out.KIND (ROWNAME -: redis-benchmark's own test names from -t)
one_row() {
  local kind=$1 P=$2 n=$3 name=$4
  shift 4
  if [ "$name" = - ]; then
    redis-benchmark -p "${SPORT[$kind]}" -c 50 -n "$n" -P "$P" --csv "$@" 2>/dev/null \
      | tail -n +2 | tr -d '"' | while IFS=, read -r tname rps _; do echo "$tname,$rps"; done >>"$TMP/out.$kind"
  else
    local rps
    rps=$(redis-benchmark -p "${SPORT[$kind]}" -c 50 -n "$n" -P "$P" --csv "$@" 2>/dev/null | tail -n 1 | tr -d '"' | cut -d, -f2)
    echo "$name,${rps:-0}" >>"$TMP/out.$kind"
  fi
}
# alt_row P N ROWNAME|- ARGS...: REPEAT rounds of the row, the two servers alternating which goes
# first, so a load change on the shared machine hits both sides of a row alike
alt_row() {
  local round
  for round in $(seq 1 "$REPEAT"); do
    if [ $((round % 2)) = 1 ]; then
      one_row redis "$@"; one_row bunder "$@"
    else
      one_row bunder "$@"; one_row redis "$@"
    fi
  done
}
run_group() { # persist pipeline n
  local persist=$1 P=$2 n=$3 t kind heavy=$(( $3 / 8 ))
  : >"$TMP/out.redis"
  : >"$TMP/out.bunder"
  start_pair "$persist"
  for t in ${TESTS//,/ }; do
    alt_row "$P" "$n" - -t "$t"
  done
  if [ "$EXTRA" = 1 ]; then
    alt_row "$P" "$n" evalsha_incr -r 1000 EVALSHA "$SHA" 1 'key:__rand_int__'
    alt_row "$P" "$n" setbit_rand -r 1000 SETBIT 'bitmap:__rand_int__' 12345 1
    alt_row "$P" "$n" pfadd_rand -r 10000000 PFADD hll 'elem:__rand_int__'
    # streams: XADD with auto ids on 100 streams (MAXLEN ~ bounds them, as producers do), XREAD of
    # 10 entries from the 1,000-entry stream
    alt_row "$P" "$n" xadd_maxlen -r 100 XADD 'stream:__rand_int__' MAXLEN '~' 10000 '*' field value
    alt_row "$P" "$n" xread_count10 XREAD COUNT 10 STREAMS xs 0
    # data commands added for Redis 7; the slow ones (ms per call) run n/8 requests: a rate needs
    # no more, and the run stays within minutes
    alt_row "$P" "$n" geoadd_rand -r 100000 GEOADD geo 13.361389 38.115556 'pt:__rand_int__'
    alt_row "$P" "$heavy" geosearch_r200km_count10 GEOSEARCH geo1k FROMLONLAT 14 38 BYRADIUS 200 km COUNT 10 ASC
    alt_row "$P" "$heavy" zunionstore_2x100 ZUNIONSTORE zu 2 za zb WEIGHTS 1 2
    alt_row "$P" "$heavy" sort_1000_limit10 SORT sl LIMIT 0 10
    alt_row "$P" "$n" dump_hash100 DUMP dh
  fi
  stop_pair
  for kind in redis bunder; do
    while IFS=, read -r name rps; do
      RES["$persist|P$P|$name|$kind"]="${RES["$persist|P$P|$name|$kind"]:-} $rps"
    done <"$TMP/out.$kind"
  done
}

median() { python3 -c 'import sys,statistics;print(f"{statistics.median(map(float,sys.argv[1:])):.2f}")' "$@"; }

ROWS=()
for persist in off everysec; do
  for P in 1 16; do
    n=$N1; [ "$P" = 16 ] && n=$N16
    run_group "$persist" "$P" "$n"
    ROWS+=("$persist|P$P")
  done
done

# memory for KEYS small keys (key:<n> -> 3-byte value), same input to both servers
python3 - "$KEYS" >"$TMP/keys.resp" <<'PY'
import sys
n=int(sys.argv[1]); out=sys.stdout
buf=[]
for i in range(n):
    k=f"key:{i:012d}"
    buf.append(f"*3\r\n$3\r\nSET\r\n${len(k)}\r\n{k}\r\n$3\r\nxxx\r\n")
    if len(buf)>=10000: out.write("".join(buf)); buf=[]
out.write("".join(buf))
PY
for kind in redis bunder; do
  start_server "$kind" off
  rss0=$(awk '/VmRSS/{print $2}' /proc/$PID/status)
  used0=$(redis-cli -p "$PORT" info memory | tr -d '\r' | awk -F: '/^used_memory:/{print $2}')
  redis-cli -p "$PORT" --pipe <"$TMP/keys.resp" >/dev/null
  dbsize=$(redis-cli -p "$PORT" dbsize)
  rss1=$(awk '/VmRSS/{print $2}' /proc/$PID/status)
  used=$(redis-cli -p "$PORT" info memory | tr -d '\r' | awk -F: '/^used_memory:/{print $2}')
  MEM[$kind]="$dbsize keys rss=$(( (rss1-rss0)/1024 ))MiB bytes/key=$(( (rss1-rss0)*1024/dbsize )) used_memory=$((used/1048576))MiB"
  MEMU[$kind]=$(( (used-used0)/dbsize ))
  MEMR[$kind]=$(( (rss1-rss0)*1024/dbsize ))
  stop_server
done 2>/dev/null || true

printf '%-10s %-4s %-34s %14s %14s %7s\n' persist pipe test redis_ops/s bunder_ops/s ratio
worst=999
for r in "${ROWS[@]}"; do
  while IFS= read -r name; do
    red=$(median ${RES["$r|$name|redis"]:-0}); bun=$(median ${RES["$r|$name|bunder"]:-0})
    ratio=$(python3 -c "print(f'{($bun/$red) if $red>0 else 0:.2f}')")
    printf '%-10s %-4s %-34s %14s %14s %7s\n' "${r%%|*}" "${r##*|}" "$name" "$red" "$bun" "$ratio"
    worst=$(python3 -c "print(min($worst,$ratio))")
  done < <(printf '%s\n' "${!RES[@]}" | grep "^$r|" | cut -d'|' -f3 | sort -u)
done
# memory rows: bytes per key (lower is better, so the ratio is redis / bunder)
for m in used_memory rss; do
  if [ $m = used_memory ]; then red=${MEMU[redis]:-0}; bun=${MEMU[bunder]:-0}; else red=${MEMR[redis]:-0}; bun=${MEMR[bunder]:-0}; fi
  ratio=$(python3 -c "print(f'{($red/$bun) if $bun>0 else 0:.2f}')")
  printf '%-10s %-4s %-34s %14s %14s %7s\n' off - "memory_${m}_bytes_per_key" "$red" "$bun" "$ratio"
  worst=$(python3 -c "print(min($worst,$ratio))")
done
echo
echo "memory (${KEYS} keys, key:<12 digits> = 3 bytes): redis: ${MEM[redis]:-?}"
echo "memory (${KEYS} keys, key:<12 digits> = 3 bytes): bunder: ${MEM[bunder]:-?}"
echo "(shared machine: ops/s rows are medians of $REPEAT alternating rounds; memory is measured once, it does not vary)"
echo "ratio: $worst"

