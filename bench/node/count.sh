#!/bin/sh
# Instruction counts (valgrind's callgrind) of the MNIST block's pieces:
# one evaluation, one VJP, one short dopri5 forward solve, and the spiral
# forward solve. Unlike wall time they do not change with the machine's
# load, so they compare two builds fairly on a shared machine.
# Usage: bench/node/count.sh [BUILDDIR] (default .); DTYPE=float64 for
# float64, GEMM=openblas|onednn|auto (the cpu backend's "gemm" option).
set -e
build=${1:-.}
dtype=${DTYPE:-float32}
gemm=${GEMM:-auto}
export NDE_PLUGIN_PATH="$(cd "$build" && pwd)/_plugins"
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
make -C "$build" bench/node/count_node >/dev/null
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for what in eval vjp solve spiral; do
  "$build/libtool" --mode=execute valgrind --tool=callgrind --collect-atstart=no \
    --toggle-collect=measured_region --callgrind-out-file="$tmp/$what.out" \
    "$build/bench/node/count_node" "$what" "$dtype" "$gemm" >"$tmp/$what.txt" 2>"$tmp/$what.err" ||
    { cat "$tmp/$what.err" >&2; exit 1; }
  ir=$(sed -n 's/^summary: //p' "$tmp/$what.out")
  echo "$(cat "$tmp/$what.txt") (gemm $gemm): $ir instructions"
done
