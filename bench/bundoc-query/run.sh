#!/usr/bin/env bash
# bench/bundoc-query: equality, range and sorted top-k queries through the bundoc store layer
# (planner + secondary indexes) vs SQLite (same JSON documents, expression indexes on the same
# fields), with and without indexes, same process, same disk. Prints a table and `ratio: X`
# (geometric mean of SQLite time / bundoc time over the indexed rows; > 1 = bundoc faster).
#   bench/bundoc-query/run.sh BUILD_DIR        BENCH_DOCS=100000 by default (BENCH_DOCS=1000000)
# Needs libsqlite3-dev and BUILD_DIR/libbb_bundoc.a + libbb_base.a (cmake --build BUILD_DIR).
set -euo pipefail
BUILD_DIR=${1:?usage: bench/bundoc-query/run.sh BUILD_DIR}
BUILD_DIR=$(cd "$BUILD_DIR" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
DOCS=${BENCH_DOCS:-100000}
for lib in libbb_bundoc.a libbb_base.a; do
  [ -f "$BUILD_DIR/$lib" ] || { echo "missing $BUILD_DIR/$lib (build the bb_bundoc target)" >&2; exit 1; }
done
WORK=$(mktemp -d "${BENCH_TMPDIR:-$ROOT}/.bench-bundoc-query.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
extra=$(pkg-config --libs libpcre2-8 2>/dev/null || true)
cc -O2 -g -D_GNU_SOURCE -I"$ROOT/src/bundoc" -I"$ROOT/src/core" "$HERE/bench_query.c" \
  "$BUILD_DIR/libbb_bundoc.a" "$BUILD_DIR/libbb_base.a" -ljansson -lcrypto -lsqlite3 $extra \
  -lpthread -lm -o "$WORK/bench_query"
"$WORK/bench_query" "$WORK" "$DOCS"
