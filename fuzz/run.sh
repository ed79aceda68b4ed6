#!/usr/bin/env bash
# Runs every libFuzzer target built in BUILD_DIR (make fuzz) for SECONDS each, starting from a
# copy of its seed corpus; new crashes are written as fuzz/<name>/crash-* (git-ignored).
set -euo pipefail
build=${1:-build-fuzz}
seconds=${2:-60}
cd "$(dirname "$0")/.."
status=0
for dir in fuzz/*/; do
  name=$(basename "$dir")
  bin="$build/fuzz/fuzz_$name"
  [ -x "$bin" ] || continue
  work=$(mktemp -d)
  cp -r "$dir/corpus/." "$work/"
  echo "== fuzz_$name for ${seconds}s"
  if ! "$bin" -max_total_time="$seconds" -artifact_prefix="$dir/" "$work" 2>&1 | tail -3; then
    status=1
  fi
  rm -rf "$work"
done
exit $status
