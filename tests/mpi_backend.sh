#!/bin/sh
# The mpi backend's reductions equal the whole vector's (tests/mpi/backend_mpi.c)
# on 1, 2 and 3 ranks (uneven shares), with no hang.
set -u
fail() { echo "FAIL: $*"; exit 1; }
skip() { echo "SKIP: $*"; exit 77; }
build=$(cd "${NDE_TEST_BUILDDIR:-.}" && pwd)
command -v mpirun >/dev/null 2>&1 || skip "no mpirun (Open MPI is not installed)"
[ -f "$build/_plugins/backend_mpi.so" ] ||
  skip "no mpi backend (nde built without Open MPI, or a sanitizer build: see configure.ac)"
OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
export OMPI_ALLOW_RUN_AS_ROOT OMPI_ALLOW_RUN_AS_ROOT_CONFIRM OMP_NUM_THREADS
prog="$build/tests/mpi/backend_mpi"
for np in 1 2 3; do
  timeout 120 mpirun --oversubscribe --allow-run-as-root -np $np \
    "$build/libtool" --mode=execute "$prog" || fail "$np ranks (exit status $?)"
done
echo PASS
