#!/usr/bin/env bash
# platform bench: the gateway's cost. wrk GET of one ~1 KB document through the gateway with an sk_
# key (/v1/database/..., key lookup + matrix + in-process dispatch to bundoc-server) versus the same
# GET sent straight to bundoc-server's route with the internal token, in the same run and process;
# alongside, logins per second at the configured Argon2id cost (POST /v1/auth/login, rate limits
# off). Usage: bench/platform/run.sh BUILD_DIR
# Env: BENCH_DURATION (wrk -d, default 10s), BENCH_CONNECTIONS (default 50), BENCH_REPEAT (GET
# rounds, default 3: direct/gateway, then gateway/direct, ... so both sides see the same noise;
# each row's median req/s, p50 and p99 reported, every round printed), BENCH_LOGIN_DURATION
# (default 5s), BENCH_LOGIN_CONNECTIONS (default 4), BENCH_PERF (a file: after the rounds, one
# more gateway run under `perf record --call-graph dwarf` of bunbased, written there).
# Also prints which thread answered the gateway's GETs (bunbase_platform_gateway_loop_total: the
# HTTP loop thread, else the worker pool).
# Prints req/s, p50, p99 per row and `ratio: X` = the worse of gateway/direct req/s and
# direct/gateway p99 (target >= 0.8).
set -euo pipefail

BUILD_DIR=${1:?usage: bench/platform/run.sh BUILD_DIR}
BUILD_DIR=$(cd "$BUILD_DIR" && pwd)
BUNBASED="$BUILD_DIR/bunbased"
DURATION=${BENCH_DURATION:-10s}
CONNS=${BENCH_CONNECTIONS:-50}
LOGIN_DURATION=${BENCH_LOGIN_DURATION:-5s}
LOGIN_CONNS=${BENCH_LOGIN_CONNECTIONS:-4}
REPEAT=${BENCH_REPEAT:-3}
PERF_OUT=${BENCH_PERF:-}
TOKEN=bench-internal-token-0123456789abcdef

[ -x "$BUNBASED" ] || { echo "bench/platform: $BUNBASED not found or not executable" >&2; exit 1; }
for t in wrk jq curl; do
  command -v "$t" >/dev/null || { echo "bench/platform: $t not found" >&2; exit 1; }
done

BENCH=platform
# shellcheck source=../lib.sh
source "$(dirname "$0")/../lib.sh"

start_bunbased "BUNBASE_INTERNAL_TOKEN=$TOKEN" BUNBASE_PLATFORM_RATE_LIMIT=0 \
  BUNBASE_HTTP_MAX_CONNECTIONS_PER_IP=0 -- --services=bun-auth,platform,buncast,bundoc-server

J=(-H "Content-Type: application/json")
USER='{"email":"bench@example.com","password":"correct-horse-battery"}'
curl -sf "${J[@]}" -X POST "$BB_URL/v1/auth/register" \
  -d '{"email":"bench@example.com","password":"correct-horse-battery","name":"Bench"}' >/dev/null
AT=$(curl -sf "${J[@]}" -X POST "$BB_URL/v1/auth/login" -d "$USER" | jq -r .access_token)
curl -sf "${J[@]}" -H "Authorization: Bearer $AT" -X POST "$BB_URL/v1/projects" \
  -d '{"name":"bench"}' >"$TMP/project.json"
PID=$(jq -r .id "$TMP/project.json")
SK=$(jq -r '.keys[] | select(.kind == "sk") | .key' "$TMP/project.json")
PAD=$(head -c 900 /dev/zero | tr '\0' 'x')
curl -sf "${J[@]}" -H "X-Bunbase-Client-Key: $SK" -X POST "$BB_URL/v1/database/collections" \
  -d '{"name":"docs"}' >/dev/null
curl -sf "${J[@]}" -H "X-Bunbase-Client-Key: $SK" -X POST "$BB_URL/v1/database/documents/docs" \
  -d "{\"_id\":\"doc1\",\"title\":\"benchmark document\",\"n\":42,\"pad\":\"$PAD\"}" >/dev/null

GW="$BB_URL/v1/database/collections/docs/documents/doc1"
DIRECT="$BB_URL/v1/projects/$PID/databases/(default)/collections/docs/documents/doc1"
# both answer the same bytes
a=$(curl -sf -H "X-Bunbase-Client-Key: $SK" "$GW")
b=$(curl -sf -H "Authorization: Bearer $TOKEN" -H "X-Bunbase-Identity: admin" "$DIRECT")
[ "$a" = "$b" ] || { echo "bench/platform: gateway and direct answers differ" >&2; exit 1; }

cat >"$TMP/gw.lua" <<LUA
wrk.headers["X-Bunbase-Client-Key"] = "$SK"
LUA
cat >"$TMP/direct.lua" <<LUA
wrk.headers["Authorization"] = "Bearer $TOKEN"
wrk.headers["X-Bunbase-Identity"] = "admin"
LUA
cat >"$TMP/login.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '$USER'
LUA

ROWS=()
wrk_once() { # label url script conns duration
  local out
  out=$(wrk -t1 -c"$4" -d"$5" --latency -s "$3" "$2" 2>&1) || {
    echo "bench/platform: wrk failed ($1):" >&2; echo "$out" >&2; exit 1; }
  wrk_stats "$out"
}
loop_answers() {
  curl -sf -H "Authorization: Bearer $TOKEN" "$BB_URL/metrics" |
    awk '$1 == "bunbase_platform_gateway_loop_total" { n += $2 } END { printf "%d", n }'
}
GD="" GG=""
loop0=$(loop_answers)
for ((round = 1; round <= REPEAT; round++)); do
  if ((round % 2)); then
    GD+="$(wrk_once GET-doc-direct "$DIRECT" "$TMP/direct.lua" "$CONNS" "$DURATION")"$'\n'
    GG+="$(wrk_once GET-doc-gateway "$GW" "$TMP/gw.lua" "$CONNS" "$DURATION")"$'\n'
  else
    GG+="$(wrk_once GET-doc-gateway "$GW" "$TMP/gw.lua" "$CONNS" "$DURATION")"$'\n'
    GD+="$(wrk_once GET-doc-direct "$DIRECT" "$TMP/direct.lua" "$CONNS" "$DURATION")"$'\n'
  fi
done
loop1=$(loop_answers)
ROWS+=("GET-doc-direct $(median_rows <<<"$GD")" "GET-doc-gateway $(median_rows <<<"$GG")")
ROWS+=("login $(wrk_once login "$BB_URL/v1/auth/login" "$TMP/login.lua" "$LOGIN_CONNS" "$LOGIN_DURATION")")
if [ -n "$PERF_OUT" ]; then
  perf record -F 999 --call-graph dwarf,16384 -o "$PERF_OUT" -p "$BB_PID" -- sleep 5 >/dev/null 2>&1 &
  PERF_PID=$!
  wrk -t1 -c"$CONNS" -d5s -s "$TMP/gw.lua" "$GW" >/dev/null 2>&1
  wait "$PERF_PID" || echo "bench/platform: perf record failed" >&2
fi

echo "bench/platform: wrk -t1 -c$CONNS -d$DURATION (login: -c$LOGIN_CONNS -d$LOGIN_DURATION)," \
  "document $(printf %s "$a" | wc -c) bytes; GET rows: median of $REPEAT alternating rounds"
printf "GET rounds (req/s p50_ms p99_ms errors):\n"
paste -d' ' <(sed '/^$/d; s/^/  direct /' <<<"$GD") <(sed '/^$/d; s/^/  gateway /' <<<"$GG")
echo "gateway GETs answered on the loop thread: $((loop1 - loop0)) (the rest on the worker pool)"
printf "%-18s %12s %10s %10s %8s\n" row req/s p50_ms p99_ms errors
for r in "${ROWS[@]}"; do printf "%-18s %12s %10s %10s %8s\n" $r; done
printf '%s\n' "${ROWS[@]}" | awk '
  $1 == "GET-doc-direct" { dr = $2; dp = $4 } $1 == "GET-doc-gateway" { gr = $2; gp = $4 }
  $1 == "login" { printf "logins/s at the configured Argon2id cost: %s\n", $2 }
  END { t = dr > 0 ? gr / dr : 0; l = gp > 0 ? dp / gp : 0; w = t < l ? t : l
        printf "gateway vs direct: throughput %.2f, p99 %.2f\nratio: %.2f\n", t, l, w }'
