#!/bin/sh
# Benchmark: the 23 nonlinear test problems with nde's solvers against MINPACK
# hybrd1, SUNDIALS KINSOL and PETSc SNES, in one process.
#   bench/nonlinear/run.sh [BUILDDIR]
# Run from the source tree after `make` (BUILDDIR defaults to the source tree).
# Installs the peers with apt-get (root); PETSc is skipped if it cannot be installed.
# Prints Markdown tables (append them to bench/RESULTS.md) and leaves the raw
# JSON Lines in $OUT (default /tmp/nde-bench-nonlinear.jsonl).
set -eu
src=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$src}
out=${OUT:-/tmp/nde-bench-nonlinear.jsonl}
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q minpack-dev libsundials-dev >/dev/null
petsc_flags=""
if apt-get install -y -q petsc-dev >/dev/null 2>&1 && pkg-config --exists PETSc; then
  petsc_flags="-DHAVE_PETSC $(pkg-config --cflags --libs PETSc) $(pkg-config --cflags --libs ompi-c 2>/dev/null || true)"
else
  echo "note: PETSc not available; benchmarking without it" >&2
fi
exe=$(mktemp /tmp/nde-bench-nl.XXXXXX)
# shellcheck disable=SC2086
gcc -O2 -Wall -I"$src/include" -I"$build/include" -o "$exe" "$src/bench/nonlinear/bench_nonlinear.c" \
  -L"$build/core/.libs" -lnde -Wl,-rpath,"$build/core/.libs" -lminpack -lsundials_kinsol \
  -lsundials_nvecserial -lsundials_sunlinsoldense -lsundials_sunmatrixdense -lsundials_generic \
  $petsc_flags -lm
NDE_PLUGIN_PATH="$build/_plugins" OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 "$exe" >"$out"
rm -f "$exe"
python3 "$src/bench/nonlinear/summarize.py" "$out"
