#!/bin/sh
# The cpu backend's norms equal their documented summation order bit for bit
# (tests/norm_order.c) on every path this machine can take: 1 to 3 OpenMP
# threads, several OpenBLAS core types, and under valgrind, which hides
# AVX-512 from the program, so the kernel's AVX2 clone runs instead of the
# AVX-512 one (on a machine that has it).
set -u
fail() { echo "FAIL: $*"; exit 1; }
build=$(cd "${NDE_TEST_BUILDDIR:-.}" && pwd)
prog="$build/tests/norm_order"
run() { "$build/libtool" --mode=execute "$@"; }
for t in 1 2 3; do
  OMP_NUM_THREADS=$t run "$prog" || fail "$t threads"
done
for core in Prescott Haswell SkylakeX; do
  OPENBLAS_CORETYPE=$core OMP_NUM_THREADS=2 run "$prog" || fail "OPENBLAS_CORETYPE=$core"
done
if command -v valgrind >/dev/null 2>&1 && [ "${NDE_TEST_SANITIZERS:-no}" != yes ]; then
  OMP_NUM_THREADS=2 run valgrind -q --error-exitcode=9 "$prog" || fail "under valgrind"
else
  echo "note: valgrind not run (not installed, or a sanitizer build)"
fi
echo PASS
