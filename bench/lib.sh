# bench/lib.sh — shared by the bench scripts that run bunbased and nginx side by side.
# Source it after setting BENCH (the bench's name, for messages). It creates $TMP (traversable by
# the postgres user, which runs bunbased's embedded cluster) and installs a cleanup trap that stops
# $NGX_PID and $BB_PID, any postgres left under $TMP/bb, and removes $TMP.

TMP=$(mktemp -d "/tmp/bb-bench-$BENCH.XXXXXX")
chmod 0755 "$TMP"
BB_PID=""
NGX_PID=""

free_port() {
  node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

stop_pid() { # pid, seconds before SIGKILL
  local pid=$1 secs=$2 i
  [ -n "$pid" ] || return 0
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < secs * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "bench/$BENCH: pid $pid did not exit after SIGTERM, killing" >&2
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}

bench_cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop_pid "$NGX_PID" 5
  stop_pid "$BB_PID" 20
  # a postmaster left behind under our data dir (only if bunbased failed to stop it): stop it by pid
  local pm
  for pm in $(grep -l -a -F "$TMP/bb" /proc/[0-9]*/cmdline 2>/dev/null | cut -d/ -f3); do
    if tr '\0' ' ' 2>/dev/null <"/proc/$pm/cmdline" | grep -q postgres; then
      echo "bench/$BENCH: postgres $pm left running for $TMP/bb, stopping it" >&2
      kill -QUIT "$pm" 2>/dev/null || true
    fi
  done
  sleep 0.2
  rm -rf "$TMP"
  exit $rc
}
trap bench_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# to_ms "1.23ms" -> 1.23 ; handles us, ms, s, m (wrk's latency units)
to_ms() {
  awk -v v="$1" 'BEGIN {
    n = v + 0; u = v; sub(/^[0-9.]+/, "", u);
    if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000;
    printf "%.3f", n }'
}
