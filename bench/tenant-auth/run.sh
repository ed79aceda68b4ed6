#!/usr/bin/env bash
# tenant-auth bench: end-user logins per second through the gateway at the configured Argon2id cost
# (POST /v1/auth/project/login with a pk_: gateway, matrix, forward to tenant-auth, the user read
# from the project's bundoc database, Argon2id verify, a session written, a JWT signed by bun-kms),
# versus bare Argon2id verifications at the same cost (libsodium, argon2_peer.c) on the same number
# of threads, in the same run. The login is dominated by the hash by design: the ratio shows what
# everything around it costs.
# Usage: bench/tenant-auth/run.sh BUILD_DIR
# Env: BENCH_SECONDS (default 5), BENCH_CONNECTIONS (default 4), BENCH_OPSLIMIT (default 2),
# BENCH_MEMLIMIT_KIB (default 19456: tenant-auth's defaults).
# Prints logins/s, p50/p99, the peer's verifies/s and `ratio: X` = ours / peer.
set -euo pipefail

BUILD_DIR=${1:?usage: bench/tenant-auth/run.sh BUILD_DIR}
BUILD_DIR=$(cd "$BUILD_DIR" && pwd)
BUNBASED="$BUILD_DIR/bunbased"
SECS=${BENCH_SECONDS:-5}
CONNS=${BENCH_CONNECTIONS:-4}
OPS=${BENCH_OPSLIMIT:-2}
MEM=${BENCH_MEMLIMIT_KIB:-19456}
HERE=$(cd "$(dirname "$0")" && pwd)

[ -x "$BUNBASED" ] || { echo "bench/tenant-auth: $BUNBASED not found or not executable" >&2; exit 1; }
for t in jq curl node cc pkg-config; do
  command -v "$t" >/dev/null || { echo "bench/tenant-auth: $t not found" >&2; exit 1; }
done

BENCH=tenant-auth
# shellcheck source=../lib.sh
source "$HERE/../lib.sh"

cc -O2 -o "$TMP/argon2_peer" "$HERE/argon2_peer.c" $(pkg-config --cflags --libs libsodium) -lpthread

start_bunbased BUNBASE_TENANT_AUTH_RATE_LIMIT=0 BUNBASE_PLATFORM_RATE_LIMIT=0 \
  BUNBASE_HTTP_MAX_CONNECTIONS_PER_IP=0 "BUNBASE_TENANT_AUTH_ARGON2_OPSLIMIT=$OPS" \
  "BUNBASE_TENANT_AUTH_ARGON2_MEMLIMIT_KIB=$MEM"

J=(-H 'Content-Type: application/json')
curl -sf "${J[@]}" -X POST "$BB_URL/v1/auth/register" \
  -d '{"email":"bench@example.com","password":"bench-password-dev","name":"Bench"}' >/dev/null
TOKEN=$(curl -sf "${J[@]}" -X POST "$BB_URL/v1/auth/login" \
  -d '{"email":"bench@example.com","password":"bench-password-dev"}' | jq -r .access_token)
curl -sf "${J[@]}" -H "Authorization: Bearer $TOKEN" -X POST "$BB_URL/v1/projects" \
  -d '{"name":"Bench"}' >"$TMP/project.json"
PROJECT=$(jq -r .id "$TMP/project.json")
PK=$(jq -r '.keys[] | select(.kind == "pk") | .key' "$TMP/project.json")
SK=$(jq -r '.keys[] | select(.kind == "sk") | .key' "$TMP/project.json")
curl -sf "${J[@]}" -H "X-Bunbase-Client-Key: $SK" -X PUT "$BB_URL/v1/projects/$PROJECT/auth/config" \
  -d '{"providers":{"email_password":{"enabled":true}}}' >/dev/null
curl -sf "${J[@]}" -H "X-Bunbase-Client-Key: $PK" -X POST "$BB_URL/v1/auth/project/register" \
  -d '{"email":"user@example.com","password":"bench-password-1"}' >/dev/null

# the peer runs before and after ours (the mean), so a busy neighbour weighs on both sides alike
peer1=$("$TMP/argon2_peer" "$OPS" "$MEM" "$CONNS" "$SECS")

# ours: CONNS concurrent clients logging in for SECS seconds (keep-alive)
node - "$BB_URL" "$PK" "$CONNS" "$SECS" >"$TMP/ours.json" <<'JS'
const [url, pk, conns, secs] = process.argv.slice(2);
const http = require('http');
const agent = new http.Agent({ keepAlive: true, maxSockets: Number(conns) });
const body = JSON.stringify({ email: 'user@example.com', password: 'bench-password-1' });
const lat = []; let errors = 0;
const until = Date.now() + Number(secs) * 1000, t0 = Date.now();
function one() {
  return new Promise((resolve) => {
    const s = process.hrtime.bigint();
    const req = http.request(`${url}/v1/auth/project/login`, { method: 'POST', agent, headers: {
      'Content-Type': 'application/json', 'X-Bunbase-Client-Key': pk, 'Content-Length': Buffer.byteLength(body) } }, (res) => {
      res.resume();
      res.on('end', () => { if (res.statusCode === 200) lat.push(Number(process.hrtime.bigint() - s) / 1e6); else errors++; resolve(); });
    });
    req.on('error', () => { errors++; resolve(); });
    req.end(body);
  });
}
async function worker() { while (Date.now() < until) await one(); }
Promise.all(Array.from({ length: Number(conns) }, worker)).then(() => {
  const el = (Date.now() - t0) / 1000;
  lat.sort((a, b) => a - b);
  const q = (p) => (lat.length ? lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] : 0);
  console.log(JSON.stringify({ rate: lat.length / el, p50: q(0.5), p99: q(0.99), errors }));
  agent.destroy();
});
JS
read -r rate p50 p99 errors < <(jq -r '"\(.rate) \(.p50) \(.p99) \(.errors)"' "$TMP/ours.json")
peer2=$("$TMP/argon2_peer" "$OPS" "$MEM" "$CONNS" "$SECS")
peer=$(awk -v a="$peer1" -v b="$peer2" 'BEGIN { printf "%.1f", (a + b) / 2 }')

echo "bench/tenant-auth: Argon2id opslimit=$OPS memlimit=${MEM}KiB, $CONNS concurrent, ${SECS}s each, $(nproc) cores"
printf "%-28s %12s %10s %10s %8s\n" row per_second p50_ms p99_ms errors
printf "%-28s %12.1f %10.2f %10.2f %8d\n" "ours: login over HTTP" "$rate" "$p50" "$p99" "$errors"
printf "%-28s %12.1f %10s %10s %8s\n" "peer: bare argon2id verify" "$peer" - - -
[ "$errors" = 0 ] || echo "bench/tenant-auth: some logins failed" >&2
awk -v a="$rate" -v b="$peer" 'BEGIN { printf "ratio: %.4f\n", (b > 0 ? a / b : 0) }'
