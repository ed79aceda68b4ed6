#!/usr/bin/env bash
# Installs everything BunBase needs to build, test and benchmark on Debian 12.
# Idempotent: only missing packages are installed. Run as root (or with sudo available).
set -euo pipefail

DEB_PKGS=(
  build-essential cmake pkg-config git curl ca-certificates jq
  libuv1-dev libhttp-parser-dev libjansson-dev libssl-dev libcurl4-openssl-dev
  libpq-dev postgresql postgresql-contrib libcmocka-dev
  clang libclang-rt-14-dev llvm
  nginx-light wrk procps iproute2 util-linux tmux
  redis-server redis-tools libhiredis-dev nats-server libnats-dev libpcre2-dev libsqlite3-dev sqlite3
  liblua5.1-0-dev lua-cjson-dev lua-bitop-dev
  libsodium-dev
)
# Node.js (for the integration tests' runner and the JS parts): any node >= 18 will do; only install
# Debian's when none is on PATH (a NodeSource nodejs already ships npm and conflicts with Debian's npm).
if ! command -v node >/dev/null 2>&1; then DEB_PKGS+=(nodejs npm); fi
# functions: the workers' sandbox (bubblewrap namespaces, a libseccomp filter in the QuickJS worker)
DEB_PKGS+=(bubblewrap libseccomp-dev)
# the dashboard's browser tests (tests/integration/web_journey.test.mjs): Debian's chromium, driven
# by playwright-core (npm, web/package-lock.json)
DEB_PKGS+=(chromium)
# functions: tarball bundles (.tar.gz) extracted with libarchive
DEB_PKGS+=(libarchive-dev)
# profiling the benches (perf record; bench/platform's BENCH_PERF)
DEB_PKGS+=(linux-perf)

missing=()
for p in "${DEB_PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# nginx-light's package starts a system nginx on :80; we only use the binary in benches.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet nginx 2>/dev/null; then
  $SUDO systemctl stop nginx || true
  $SUDO systemctl disable nginx >/dev/null 2>&1 || true
fi
# redis-server and nats-server are peers for tests and benchmarks only; their system services
# must not hold the default ports.
for svc in redis-server nats-server; do
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$svc" 2>/dev/null; then
    $SUDO systemctl stop "$svc" || true
    $SUDO systemctl disable "$svc" >/dev/null 2>&1 || true
  fi
done
if [ -x /etc/init.d/redis-server ] && pgrep -x redis-server >/dev/null 2>&1; then
  $SUDO /etc/init.d/redis-server stop >/dev/null 2>&1 || true
fi
# functions: the QuickJS sources (npm package qjsc, pinned by src/functions/worker/package-lock.json)
# that CMake compiles into bunbase-qjs-worker. Install scripts are skipped (qjsc's own would build a
# node addon we do not use). Offline-safe: nothing is fetched when the pinned tree is in place.
QJS_DIR="$(cd "$(dirname "$0")/.." && pwd)/src/functions/worker"
if [ -f "$QJS_DIR/package-lock.json" ] && \
   ! grep -q '"version": "0.3.0"' "$QJS_DIR/node_modules/qjsc/package.json" 2>/dev/null; then
  echo "setup: installing the QuickJS sources (npm qjsc) into $QJS_DIR/node_modules" >&2
  (cd "$QJS_DIR" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
fi
# functions' Bun runtime (and bench/functions' peer): bun (npm package bun, pinned by
# src/functions/bun/package-lock.json; the binary comes in its platform package, so no install
# script is needed).
BUN_DIR="$(cd "$(dirname "$0")/.." && pwd)/src/functions/bun"
if [ -f "$BUN_DIR/package-lock.json" ] && [ ! -x "$BUN_DIR/node_modules/@oven/bun-linux-x64/bin/bun" ]; then
  echo "setup: installing bun (npm) into $BUN_DIR/node_modules" >&2
  (cd "$BUN_DIR" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null) ||
    echo "setup: bun not installed (the Bun runtime and bench/functions will say so)" >&2
fi
# bunder's client-library tests: ioredis, node-redis and BullMQ (npm, pinned by
# tests/integration/clients/package-lock.json), run against bunder and redis-server by
# tests/integration/bunder_clients.test.mjs (which skips when they are absent). No install scripts
# (msgpackr-extract's optional native addon is not needed). Nothing is fetched when the pinned
# tree is in place.
CLIENTS_DIR="$(cd "$(dirname "$0")/.." && pwd)/tests/integration/clients"
if [ -f "$CLIENTS_DIR/package-lock.json" ] && \
   ! grep -q '"version": "5.34.0"' "$CLIENTS_DIR/node_modules/bullmq/package.json" 2>/dev/null; then
  echo "setup: installing the Redis client libraries (npm) into $CLIENTS_DIR/node_modules" >&2
  (cd "$CLIENTS_DIR" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null) ||
    echo "setup: npm ci failed in $CLIENTS_DIR (registry unreachable?): bunder_clients tests will skip" >&2
fi
# The dashboard (web/: React + Vite + TypeScript, vitest, playwright-core; pinned by
# web/package-lock.json). `make build` then builds web/dist offline from these. Nothing is fetched
# when the installed tree matches the lock file.
WEB_DIR="$(cd "$(dirname "$0")/.." && pwd)/web"
if [ -f "$WEB_DIR/package-lock.json" ] && { [ ! -f "$WEB_DIR/node_modules/.package-lock.json" ] ||
   [ "$WEB_DIR/package-lock.json" -nt "$WEB_DIR/node_modules/.package-lock.json" ]; }; then
  echo "setup: installing the dashboard's packages (npm) into $WEB_DIR/node_modules" >&2
  (cd "$WEB_DIR" && npm ci --no-audit --no-fund --loglevel=error >/dev/null) ||
    echo "setup: npm ci failed in $WEB_DIR (registry unreachable?): the dashboard will not be built" >&2
fi
# The Debian postgresql package may start its default cluster; we never use it.
exit 0
