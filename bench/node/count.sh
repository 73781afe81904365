#!/bin/sh
# Instruction counts (valgrind's callgrind) of the MNIST block's pieces:
# one evaluation, one VJP, one short dopri5 forward solve, and the spiral
# forward solve. Unlike wall time they do not change with the machine's
# load, so they compare two builds fairly on a shared machine.
# Usage: bench/node/count.sh [BUILDDIR] (default .); DTYPE=float64 for
# float64, GEMM=openblas|onednn|auto (the cpu backend's "gemm" option).
# PIECES lists what to count (default "eval vjp solve spiral"); "grad" is a
# whole MNIST gradient as bench_node's backward cells take it (tspan [0, 1],
# dopri5, tol 1e-5), once for each sensitivity in SENS (default
# backsolve_adjoint), counted on the second call (the first warms up, as a
# training step follows others). Under callgrind a grad takes minutes.
set -e
build=${1:-.}
dtype=${DTYPE:-float32}
gemm=${GEMM:-auto}
export NDE_PLUGIN_PATH="$(cd "$build" && pwd)/_plugins"
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
make -C "$build" bench/node/count_node >/dev/null
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for what in ${PIECES:-eval vjp solve spiral}; do
  for sens in $([ "$what" = grad ] && echo "${SENS:-backsolve_adjoint}" || echo -); do
    "$build/libtool" --mode=execute valgrind --tool=callgrind --collect-atstart=no \
      --toggle-collect=measured_region --callgrind-out-file="$tmp/$what.out" \
      "$build/bench/node/count_node" "$what" "$dtype" "$gemm" "$sens" >"$tmp/$what.txt" \
      2>"$tmp/$what.err" || { cat "$tmp/$what.err" >&2; exit 1; }
    ir=$(sed -n 's/^summary: //p' "$tmp/$what.out")
    echo "$(cat "$tmp/$what.txt") (gemm $gemm): $ir instructions"
  done
done
