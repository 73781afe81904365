#!/bin/sh
# Work–precision benchmark of nde's ODE solvers vs SUNDIALS ARKODE and GSL.
# Run from a configured and built nde tree:  sh bench/ode/run.sh [BUILDDIR]
# Prints Markdown tables; append them to bench/RESULTS.md by hand or with
#   sh bench/ode/run.sh > /tmp/ode-bench.md
# Instruction counts per step and a work-precision table in instructions
# (independent of machine load): sh bench/ode/count.sh [BUILDDIR]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
build=${1:-$top}
# the peers, from Debian
if ! test -f /usr/include/gsl/gsl_odeiv2.h || ! test -f /usr/include/arkode/arkode_erkstep.h; then
  apt-get install -y libsundials-dev libgsl-dev > /dev/null
fi
out=$(mktemp -d "${TMPDIR:-/tmp}/nde-bench-ode.XXXXXX")
trap 'rm -rf "$out"' EXIT
${CC:-cc} -O2 -std=c11 -I"$top/include" -I"$build/include" "$here/wp.c" -o "$out/wp" \
  -L"$build/core/.libs" -lnde -lsundials_arkode -lsundials_nvecserial -lsundials_generic \
  -lgsl -lgslcblas -lm -Wl,-rpath,"$build/core/.libs"
echo "Machine: $(uname -m), $(nproc) cores, $(. /etc/os-release && echo "$PRETTY_NAME"); $(date -u +%Y-%m-%d)"
echo "Peers: SUNDIALS $(dpkg-query -W -f='${Version}' libsundials-dev 2>/dev/null), GSL $(dpkg-query -W -f='${Version}' libgsl-dev 2>/dev/null)"
OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 NDE_PLUGIN_PATH="$build/_plugins" "$out/wp"
