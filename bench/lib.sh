# bench/lib.sh — shared by the bench scripts that run bunbased and nginx side by side
# (start_bunbased, start_nginx, wrk_stats, free_port, stop_pid, to_ms).
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

# start_bunbased [VAR=value ...] [-- serve-args ...]: starts $BUNBASED on a free loopback port with
# data in $TMP/bb and log level warn; sets BB_PORT, BB_PID, BB_URL; waits (60 s) for the listening
# line and GET /health 200, else prints its stderr and exits.
start_bunbased() {
  local envs=() i ok=0
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do envs+=("$1"); shift; done
  [ "${1:-}" = "--" ] && shift
  BB_PORT=$(free_port)
  mkdir -p "$TMP/bb"
  env -u BUNBASE_DATABASE_URL BUNBASE_LOG_LEVEL=warn BUNBASE_BUNDER_MANAGER_RESP_ADDR=127.0.0.1:0 \
    "${envs[@]}" "$BUNBASED" serve --data "$TMP/bb" --listen "127.0.0.1:$BB_PORT" "$@" \
    >"$TMP/bb.out" 2>"$TMP/bb.err" &
  BB_PID=$!
  BB_URL="http://127.0.0.1:$BB_PORT"
  for ((i = 0; i < 600; i++)); do
    if ! kill -0 "$BB_PID" 2>/dev/null; then
      echo "bench/$BENCH: bunbased exited during startup; stderr:" >&2; tail -n 40 "$TMP/bb.err" >&2; exit 1
    fi
    if grep -q "bunbased listening on" "$TMP/bb.out" 2>/dev/null &&
       [ "$(curl -s -o /dev/null -w '%{http_code}' "$BB_URL/health")" = 200 ]; then ok=1; break; fi
    sleep 0.1
  done
  [ $ok = 1 ] || { echo "bench/$BENCH: bunbased not healthy after 60 s; stderr:" >&2; tail -n 40 "$TMP/bb.err" >&2; exit 1; }
}

# start_nginx NAME: nginx (one worker, no access log, keep-alive without recycling) serving the
# file $TMP/nginx/www/NAME at /NAME on a free loopback port; sets NGX_PORT, NGX_PID, NGX_URL;
# waits for it and checks it serves exactly that file.
start_nginx() {
  local name=$1 i ok=0
  mkdir -p "$TMP/nginx/logs"
  NGX_PORT=$(free_port)
  cat >"$TMP/nginx/nginx.conf" <<NGX
daemon off;
master_process off;
worker_processes 1;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/logs/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  tcp_nodelay on;
  keepalive_timeout 60s;
  keepalive_requests 1000000;
  default_type application/json;
  client_body_temp_path $TMP/nginx/tmp_body;
  proxy_temp_path $TMP/nginx/tmp_proxy;
  fastcgi_temp_path $TMP/nginx/tmp_fastcgi;
  uwsgi_temp_path $TMP/nginx/tmp_uwsgi;
  scgi_temp_path $TMP/nginx/tmp_scgi;
  server {
    listen 127.0.0.1:$NGX_PORT;
    location = /$name { alias $TMP/nginx/www/$name; }
  }
}
NGX
  "$NGINX" -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" -e "$TMP/nginx/logs/error.log" \
    >"$TMP/nginx/stdout" 2>&1 &
  NGX_PID=$!
  NGX_URL="http://127.0.0.1:$NGX_PORT"
  for ((i = 0; i < 100; i++)); do
    kill -0 "$NGX_PID" 2>/dev/null || break
    if [ "$(curl -s -o /dev/null -w '%{http_code}' "$NGX_URL/$name")" = 200 ]; then ok=1; break; fi
    sleep 0.1
  done
  [ $ok = 1 ] || { echo "bench/$BENCH: nginx did not start:" >&2; cat "$TMP/nginx/stdout" "$TMP/nginx/logs/error.log" >&2; exit 1; }
  cmp -s <(curl -s "$NGX_URL/$name") "$TMP/nginx/www/$name" || { echo "bench/$BENCH: nginx body differs" >&2; exit 1; }
}

# wrk_stats OUTPUT: "req/s p50_ms p99_ms errors" from wrk --latency output (errors = socket
# errors + non-2xx/3xx answers).
wrk_stats() {
  local out=$1 rps p50 p99 errs non2xx
  rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
  p50=$(to_ms "$(awk '$1 == "50%" {print $2}' <<<"$out")")
  p99=$(to_ms "$(awk '$1 == "99%" {print $2}' <<<"$out")")
  errs=$(awk '/Socket errors:/ {gsub(",", ""); print $4 + $6 + $8 + $10}' <<<"$out")
  non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $5}' <<<"$out")
  echo "$rps $p50 $p99 $(( ${errs:-0} + ${non2xx:-0} ))"
}

# median_rows: the median of each column over "req/s p50_ms p99_ms errors" lines on stdin (one per
# round; errors summed), as one such line.
median_rows() {
  python3 -c 'import sys,statistics as st
rows=[l.split() for l in sys.stdin if l.strip()]
cols=list(zip(*rows))
print(" ".join([f"{st.median(map(float,c)):.2f}" if i < 3 else str(sum(int(float(x)) for x in c)) for i, c in enumerate(cols)]))'
}
