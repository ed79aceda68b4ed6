#!/usr/bin/env bash
# HTTP bench: bunbased GET /health vs nginx serving the same bytes as a static file, in the same run.
# Usage: bench/http/run.sh BUILD_DIR
# Env: BENCH_DURATION (wrk -d, default 10s), BENCH_CONNECTIONS (default 50).
# Prints a table (side, connections, req/s, p50, p99, errors) and ends with `ratio: X`, where X is the
# worst across rows of ours/nginx (throughput) and nginx/ours (latency); X < 1 means we are slower.
set -euo pipefail

BUILD_DIR=${1:?usage: bench/http/run.sh BUILD_DIR}
BUILD_DIR=$(cd "$BUILD_DIR" && pwd)
BUNBASED="$BUILD_DIR/bunbased"
DURATION=${BENCH_DURATION:-10s}
CONNS=${BENCH_CONNECTIONS:-50}
NGINX=${NGINX:-/usr/sbin/nginx}

for bin in "$BUNBASED" "$NGINX"; do
  [ -x "$bin" ] || { echo "bench/http: $bin not found or not executable" >&2; exit 1; }
done
command -v wrk >/dev/null || { echo "bench/http: wrk not found" >&2; exit 1; }
command -v curl >/dev/null || { echo "bench/http: curl not found" >&2; exit 1; }

BENCH=http
# shellcheck source=../lib.sh
source "$(dirname "$0")/../lib.sh"

# --- bunbased -------------------------------------------------------------------------------------
BB_PORT=$(free_port)
mkdir -p "$TMP/bb"
env -u BUNBASE_DATABASE_URL BUNBASE_LOG_LEVEL=warn \
  "$BUNBASED" serve --data "$TMP/bb" --listen "127.0.0.1:$BB_PORT" >"$TMP/bb.out" 2>"$TMP/bb.err" &
BB_PID=$!
BB_URL="http://127.0.0.1:$BB_PORT"
ok=0
for ((i = 0; i < 600; i++)); do
  if ! kill -0 "$BB_PID" 2>/dev/null; then
    echo "bench/http: bunbased exited during startup; stderr:" >&2; tail -n 40 "$TMP/bb.err" >&2; exit 1
  fi
  if grep -q "bunbased listening on" "$TMP/bb.out" 2>/dev/null &&
     [ "$(curl -s -o /dev/null -w '%{http_code}' "$BB_URL/health")" = 200 ]; then ok=1; break; fi
  sleep 0.1
done
[ $ok = 1 ] || { echo "bench/http: bunbased not healthy after 60 s; stderr:" >&2; tail -n 40 "$TMP/bb.err" >&2; exit 1; }

# --- nginx, serving the very bytes of our /health body ----------------------------------------------
mkdir -p "$TMP/nginx/www" "$TMP/nginx/logs"
curl -s -o "$TMP/nginx/www/health" "$BB_URL/health"
NGX_PORT=$(free_port)
cat >"$TMP/nginx/nginx.conf" <<EOF
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
    location = /health { alias $TMP/nginx/www/health; }
  }
}
EOF
"$NGINX" -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" -e "$TMP/nginx/logs/error.log" \
  >"$TMP/nginx/stdout" 2>&1 &
NGX_PID=$!
NGX_URL="http://127.0.0.1:$NGX_PORT"
ok=0
for ((i = 0; i < 100; i++)); do
  kill -0 "$NGX_PID" 2>/dev/null || break
  if [ "$(curl -s -o /dev/null -w '%{http_code}' "$NGX_URL/health")" = 200 ]; then ok=1; break; fi
  sleep 0.1
done
[ $ok = 1 ] || { echo "bench/http: nginx did not start:" >&2; cat "$TMP/nginx/stdout" "$TMP/nginx/logs/error.log" >&2; exit 1; }
cmp -s <(curl -s "$NGX_URL/health") "$TMP/nginx/www/health" || { echo "bench/http: nginx body differs" >&2; exit 1; }

# --- wrk --------------------------------------------------------------------------------------------

ROWS=()
run_wrk() { # side url conns
  local side=$1 url=$2 c=$3 out rps p50 p99 errs non2xx
  out=$(wrk -t1 -c"$c" -d"$DURATION" --latency "$url/health" 2>&1) || {
    echo "bench/http: wrk failed against $side:" >&2; echo "$out" >&2; exit 1; }
  rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
  p50=$(to_ms "$(awk '$1 == "50%" {print $2}' <<<"$out")")
  p99=$(to_ms "$(awk '$1 == "99%" {print $2}' <<<"$out")")
  errs=$(awk '/Socket errors:/ {gsub(",", ""); print $4 + $6 + $8 + $10}' <<<"$out")
  non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $5}' <<<"$out")
  errs=$(( ${errs:-0} + ${non2xx:-0} ))
  ROWS+=("$side $c $rps $p50 $p99 $errs")
}

for c in "$CONNS" 1; do
  run_wrk bunbased "$BB_URL" "$c"
  run_wrk nginx "$NGX_URL" "$c"
done

echo "bench/http: GET /health, wrk -t1 -d$DURATION, body $(wc -c <"$TMP/nginx/www/health") bytes"
printf '%-9s %6s %12s %10s %10s %7s\n' side conns req/s p50_ms p99_ms errors
for r in "${ROWS[@]}"; do
  # shellcheck disable=SC2086
  printf '%-9s %6s %12s %10s %10s %7s\n' $r
done
printf '%s\n' "${ROWS[@]}" | awk '
  { side[NR] = $1; c[NR] = $2; rps[$1, $2] = $3; p50[$1, $2] = $4; p99[$1, $2] = $5; conns[$2] = 1 }
  function upd(name, v) { if (v < worst) { worst = v; what = name } }
  END {
    worst = 1e18
    for (k in conns) {
      if (rps["bunbased", k] > 0 && rps["nginx", k] > 0) upd("req/s c=" k, rps["bunbased", k] / rps["nginx", k])
      if (p50["bunbased", k] > 0) upd("p50 c=" k, p50["nginx", k] / p50["bunbased", k])
      if (p99["bunbased", k] > 0) upd("p99 c=" k, p99["nginx", k] / p99["bunbased", k])
    }
    printf "worst row: %s\n", what
    printf "ratio: %.2f\n", worst
  }'
