#!/usr/bin/env bash
# Runs every bench/*/run.sh in turn against BUILD_DIR (e.g. `make bench` -> bench/run.sh build).
# Each bench prints its own table and ends with `ratio: X` (ours vs. the peer; < 1 means slower).
# Exit status: non-zero if any bench failed to run.
set -uo pipefail

BUILD_DIR=${1:?usage: bench/run.sh BUILD_DIR}
BUILD_DIR=$(cd "$BUILD_DIR" && pwd) || exit 1
HERE=$(cd "$(dirname "$0")" && pwd)

failed=()
summary=()
for script in "$HERE"/*/run.sh; do
  [ -f "$script" ] || continue
  name=$(basename "$(dirname "$script")")
  echo "=== bench/$name ==="
  log=$(mktemp /tmp/bb-bench-log.XXXXXX)
  bash "$script" "$BUILD_DIR" 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  out=$(cat "$log"); rm -f "$log"
  if [ "$rc" -ne 0 ]; then
    failed+=("$name")
    summary+=("$name: FAILED (exit $rc)")
  else
    summary+=("$name: $(grep '^ratio:' <<<"$out" | tail -n 1)")
  fi
  echo
done

echo "=== summary ==="
printf '%s\n' "${summary[@]}"
[ ${#failed[@]} -eq 0 ] || { echo "failed: ${failed[*]}" >&2; exit 1; }
