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

# --- bunbased, and nginx serving the very bytes of our /health body -----------------------------------
start_bunbased
mkdir -p "$TMP/nginx/www"
curl -s -o "$TMP/nginx/www/health" "$BB_URL/health"
start_nginx health

# --- wrk --------------------------------------------------------------------------------------------

ROWS=()
run_wrk() { # side url conns
  local side=$1 url=$2 c=$3 out
  out=$(wrk -t1 -c"$c" -d"$DURATION" --latency "$url/health" 2>&1) || {
    echo "bench/http: wrk failed against $side:" >&2; echo "$out" >&2; exit 1; }
  ROWS+=("$side $c $(wrk_stats "$out")")
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
