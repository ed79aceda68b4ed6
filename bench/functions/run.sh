#!/usr/bin/env bash
# functions bench: a hello-world handler (bench/functions/hello.js) on the QuickJS runtime through
# the gateway, versus bun serving the same handler with Bun.serve in the same run.
#   worker-start   bunbase-qjs-worker spawn + runtime + bundle load (--check), p50/p99 ms
#   cold-invoke    a new version deployed, then its first invocation through the gateway (a worker
#                  is started for it: X-Bunbase-Cold-Start: true), p50/p99 ms (curl)
#   warm-gateway   wrk GET /v1/functions/hello with an sk_ (key lookup, matrix, forward, one frame
#                  round trip to a warm worker)
#   warm-bunrt     the same through the gateway on the functions' Bun runtime (?runtime=bun)
#   warm-bun       wrk GET of the same handler under Bun.serve
# Usage: bench/functions/run.sh BUILD_DIR. Env: BENCH_DURATION (default 10s), BENCH_CONNECTIONS
# (default 8), BENCH_COLD_RUNS (default 20). Needs wrk, jq, curl, and bun from
# src/functions/bun/node_modules (scripts/setup.sh). Ends with `ratio:` = warm-gateway req/s over
# warm-bun req/s (the issue's target: >= 1.0).
set -euo pipefail

BUILD_DIR=${1:?usage: bench/functions/run.sh BUILD_DIR}
BUILD_DIR=$(cd "$BUILD_DIR" && pwd)
BUNBASED="$BUILD_DIR/bunbased"
WORKER="$BUILD_DIR/bunbase-qjs-worker"
HERE=$(cd "$(dirname "$0")" && pwd)
BUN="$HERE/../../src/functions/bun/node_modules/@oven/bun-linux-x64/bin/bun"
DURATION=${BENCH_DURATION:-10s}
CONNS=${BENCH_CONNECTIONS:-8}
COLD_RUNS=${BENCH_COLD_RUNS:-20}

for f in "$BUNBASED" "$WORKER" "$BUN"; do
  [ -x "$f" ] || { echo "bench/functions: $f not found (build, and scripts/setup.sh for bun)" >&2; exit 1; }
done
for t in wrk jq curl node; do
  command -v "$t" >/dev/null || { echo "bench/functions: $t not found" >&2; exit 1; }
done

BENCH=functions
# shellcheck source=../lib.sh
source "$(dirname "$0")/../lib.sh"

start_bunbased BUNBASE_PLATFORM_RATE_LIMIT=0 BUNBASE_HTTP_MAX_CONNECTIONS_PER_IP=0 \
  "BUNBASE_FUNCTIONS_MAX_WORKERS=$CONNS" -- --services=bun-auth,platform,functions

J=(-H "Content-Type: application/json")
curl -sf "${J[@]}" -X POST "$BB_URL/v1/auth/register" \
  -d '{"email":"bench@example.com","password":"correct-horse-battery","name":"Bench"}' >/dev/null
AT=$(curl -sf "${J[@]}" -X POST "$BB_URL/v1/auth/login" \
  -d '{"email":"bench@example.com","password":"correct-horse-battery"}' | jq -r .access_token)
curl -sf "${J[@]}" -H "Authorization: Bearer $AT" -X POST "$BB_URL/v1/projects" \
  -d '{"name":"bench"}' >"$TMP/project.json"
PID=$(jq -r .id "$TMP/project.json")
SK=$(jq -r '.keys[] | select(.kind == "sk") | .key' "$TMP/project.json")

deploy() { # file
  curl -sf -X PUT "$BB_URL/v1/projects/$PID/functions/hello" -H "Authorization: Bearer $AT" \
    --data-binary @"$1" >/dev/null
}

ROWS=()
# worker start + load
read -r p50 p99 < <(node "$HERE/coldstart.mjs" "$WORKER" "$HERE/hello.js" 50)
ROWS+=("worker-start - $p50 $p99 0")

# cold invocations: each on a new version, so each starts a worker
COLD=()
for ((i = 0; i < COLD_RUNS; i++)); do
  { cat "$HERE/hello.js"; echo "// v$i"; } >"$TMP/v.js"
  deploy "$TMP/v.js"
  out=$(curl -s -o /dev/null -D "$TMP/h" -w '%{time_total}' -H "X-Bunbase-Client-Key: $SK" \
    "$BB_URL/v1/functions/hello")
  grep -qi '^x-bunbase-cold-start: true' "$TMP/h" || { echo "bench/functions: not a cold start" >&2; exit 1; }
  COLD+=("$(awk -v s="$out" 'BEGIN { printf "%.3f", s * 1000 }')")
done
read -r c50 c99 < <(printf '%s\n' "${COLD[@]}" | sort -n | awk '{ a[NR] = $1 } END {
  i50 = int(NR * 0.5) + 1; i99 = int(NR * 0.99) + 1; if (i99 > NR) i99 = NR; print a[i50], a[i99] }')
ROWS+=("cold-invoke - $c50 $c99 0")

deploy "$HERE/hello.js"
curl -sf -X PUT "$BB_URL/v1/projects/$PID/functions/hellobun?runtime=bun" \
  -H "Authorization: Bearer $AT" --data-binary @"$HERE/hello.js" >/dev/null
cat >"$TMP/gw.lua" <<LUA
wrk.headers["X-Bunbase-Client-Key"] = "$SK"
LUA
echo "" >"$TMP/plain.lua"
[ "$(curl -s -H "X-Bunbase-Client-Key: $SK" "$BB_URL/v1/functions/hello" | jq -r .hello)" = world ] ||
  { echo "bench/functions: the function does not answer" >&2; exit 1; }

BUN_PORT=$(free_port)
(cd "$HERE" && exec "$BUN" serve.js "$BUN_PORT") >"$TMP/bun.out" 2>&1 &
NGX_PID=$! # lib.sh's cleanup stops it
for ((i = 0; i < 100; i++)); do
  [ "$(curl -s "http://127.0.0.1:$BUN_PORT/" | jq -r .hello 2>/dev/null)" = world ] && break
  sleep 0.1
done

run_wrk() { # label url script
  local out
  out=$(wrk -t1 -c"$CONNS" -d"$DURATION" --latency -s "$3" "$2" 2>&1) || {
    echo "bench/functions: wrk failed ($1):" >&2; echo "$out" >&2; exit 1; }
  ROWS+=("$1 $(wrk_stats "$out")")
}
run_wrk warm-gateway "$BB_URL/v1/functions/hello" "$TMP/gw.lua"
curl -s -H "X-Bunbase-Client-Key: $SK" "$BB_URL/v1/functions/hellobun" >/dev/null
run_wrk warm-bunrt "$BB_URL/v1/functions/hellobun" "$TMP/gw.lua"
run_wrk warm-bun "http://127.0.0.1:$BUN_PORT/" "$TMP/plain.lua"

echo "bench/functions: wrk -t1 -c$CONNS -d$DURATION; cold runs $COLD_RUNS; bun $("$BUN" --version)"
printf "%-14s %12s %10s %10s %8s\n" row req/s p50_ms p99_ms errors
for r in "${ROWS[@]}"; do printf "%-14s %12s %10s %10s %8s\n" $r; done
printf '%s\n' "${ROWS[@]}" | awk '
  $1 == "warm-gateway" { g = $2 } $1 == "warm-bun" { b = $2 }
  END { printf "ratio: %.2f\n", (b > 0 ? g / b : 0) }'
