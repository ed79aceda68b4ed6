#!/usr/bin/env bash
# bench/bundoc: bundoc vs SQLite (WAL, synchronous=FULL) on ~1 KB JSON documents, same machine,
# same run: insert (1 and 8 writers), point get, replace (1 and 8 writers), full scan. Prints a table
# and `ratio: X` (geometric mean of ours/SQLite per row; > 1 means bundoc is faster).
#   bench/bundoc/run.sh BUILD_DIR          BENCH_DOCS=100000 by default
# Needs libsqlite3-dev and BUILD_DIR/libbb_bundoc.a + libbb_base.a (cmake --build BUILD_DIR).
set -euo pipefail
BUILD_DIR=${1:?usage: bench/bundoc/run.sh BUILD_DIR}
BUILD_DIR=$(cd "$BUILD_DIR" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
DOCS=${BENCH_DOCS:-100000}
for lib in libbb_bundoc.a libbb_base.a; do
  [ -f "$BUILD_DIR/$lib" ] || { echo "missing $BUILD_DIR/$lib (build the bb_bundoc target)" >&2; exit 1; }
done
# scratch space on the build dir's disk (git-ignored; not tmpfs, so fsync is real); BENCH_TMPDIR
# to put it elsewhere
WORK=$(mktemp -d "${BENCH_TMPDIR:-$BUILD_DIR}/bench-bundoc.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
extra=$(pkg-config --libs libpcre2-8 2>/dev/null || true)
cc -O2 -g -D_GNU_SOURCE -I"$ROOT/src/bundoc" -I"$ROOT/src/core" "$HERE/bench_bundoc.c" \
  "$BUILD_DIR/libbb_bundoc.a" "$BUILD_DIR/libbb_base.a" -ljansson -lcrypto -lsqlite3 $extra \
  -lpthread -lm -o "$WORK/bench_bundoc"
"$WORK/bench_bundoc" "$WORK" "$DOCS"
