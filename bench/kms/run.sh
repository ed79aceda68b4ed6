#!/usr/bin/env bash
# bun-kms bench: the service's overhead. wrk drives AES-256-GCM encrypt and decrypt (1 KiB) and
# Ed25519 sign (1 KiB) through bun-kms's HTTP routes (internal token, many concurrent requests:
# audit record, SQLite read, envelope open, EVP, JSON/base64 per call) versus `openssl speed` for
# the same primitive on the same machine in the same run (one core, no service around it).
# Usage: bench/kms/run.sh BUILD_DIR
# Env: BENCH_DURATION (wrk -d, default 5s), BENCH_CONNECTIONS (default 16), BENCH_SPEED_SECONDS
# (openssl speed -seconds, default 3).
# Prints ops/s per row (p50/p99 for ours) and `ratio: X` = ours/openssl ops/s of the worst row.
set -euo pipefail

BUILD_DIR=${1:?usage: bench/kms/run.sh BUILD_DIR}
BUILD_DIR=$(cd "$BUILD_DIR" && pwd)
BUNBASED="$BUILD_DIR/bunbased"
DURATION=${BENCH_DURATION:-5s}
CONNS=${BENCH_CONNECTIONS:-16}
SPEED_S=${BENCH_SPEED_SECONDS:-3}
TOKEN=bench-internal-token-0123456789abcdef

[ -x "$BUNBASED" ] || { echo "bench/kms: $BUNBASED not found or not executable" >&2; exit 1; }
for t in wrk jq curl openssl; do
  command -v "$t" >/dev/null || { echo "bench/kms: $t not found" >&2; exit 1; }
done

BENCH=kms
# shellcheck source=../lib.sh
source "$(dirname "$0")/../lib.sh"

start_bunbased "BUNBASE_INTERNAL_TOKEN=$TOKEN" BUNBASE_HTTP_MAX_CONNECTIONS_PER_IP=0 -- --services=bun-kms

H=(-H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json")
K="$BB_URL/v1/kms/p_bench/keys"
curl -sf "${H[@]}" -X POST "$K" -d '{"name":"aes","type":"aes256-gcm"}' >/dev/null
curl -sf "${H[@]}" -X POST "$K" -d '{"name":"ed","type":"ed25519"}' >/dev/null
MSG=$(head -c 1024 /dev/urandom | base64 -w0)
CT=$(curl -sf "${H[@]}" -X POST "$K/aes/encrypt" -d "{\"plaintext\":\"$MSG\"}" | jq -r .ciphertext)
PT=$(curl -sf "${H[@]}" -X POST "$K/aes/decrypt" -d "{\"ciphertext\":\"$CT\"}" | jq -r .plaintext)
[ "$PT" = "$MSG" ] || { echo "bench/kms: decrypt did not round-trip" >&2; exit 1; }

lua() { # file body
  cat >"$1" <<LUA
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer $TOKEN"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '$2'
LUA
}
lua "$TMP/enc.lua" "{\"plaintext\":\"$MSG\"}"
lua "$TMP/dec.lua" "{\"ciphertext\":\"$CT\"}"
lua "$TMP/sign.lua" "{\"alg\":\"EdDSA\",\"message\":\"$MSG\"}"

ROWS=()
run_wrk() { # label url script openssl_ops
  local out
  out=$(wrk -t2 -c"$CONNS" -d"$DURATION" --latency -s "$3" "$2" 2>&1) || {
    echo "bench/kms: wrk failed ($1):" >&2; echo "$out" >&2; exit 1; }
  ROWS+=("$1 $(wrk_stats "$out") $4")
}

# the peer: openssl speed, same primitive, same size
gcm_kbs=$(openssl speed -seconds "$SPEED_S" -bytes 1024 -evp aes-256-gcm 2>/dev/null |
  awk '/^AES-256-GCM/ {sub(/k$/, "", $2); print $2}')
ed_sign=$(openssl speed -seconds "$SPEED_S" ed25519 2>/dev/null | awk '/Ed25519/ {print $(NF-1)}')
[ -n "$gcm_kbs" ] && [ -n "$ed_sign" ] || { echo "bench/kms: cannot parse openssl speed" >&2; exit 1; }
gcm_ops=$(awk -v k="$gcm_kbs" 'BEGIN { printf "%.0f", k * 1000 / 1024 }')

run_wrk aes-gcm-encrypt "$K/aes/encrypt" "$TMP/enc.lua" "$gcm_ops"
run_wrk aes-gcm-decrypt "$K/aes/decrypt" "$TMP/dec.lua" "$gcm_ops"
run_wrk ed25519-sign "$K/ed/sign" "$TMP/sign.lua" "$ed_sign"

echo "bench/kms: wrk -t2 -c$CONNS -d$DURATION through HTTP (1 KiB payloads) vs openssl speed -seconds $SPEED_S"
printf "%-16s %12s %10s %10s %8s %14s %8s\n" row ours_ops/s p50_ms p99_ms errors openssl_ops/s ratio
printf '%s\n' "${ROWS[@]}" | awk '
  { r = $6 > 0 ? $2 / $6 : 0; printf "%-16s %12s %10s %10s %8s %14s %8.4f\n", $1, $2, $3, $4, $5, $6, r
    if (NR == 1 || r < w) w = r; if ($5 > 0) bad = 1 }
  END { if (bad) print "bench/kms: some requests failed" > "/dev/stderr"; printf "ratio: %.4f\n", w }'
