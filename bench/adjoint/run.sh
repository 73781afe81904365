#!/bin/sh
# Continuous adjoints (thesis Table 2.1) vs SUNDIALS CVODES's adjoint.
# Run from a configured and built nde tree:  sh bench/adjoint/run.sh [BUILDDIR]
# Prints Markdown; append it to bench/RESULTS.md.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
build=${1:-$top}
if ! test -f /usr/include/cvodes/cvodes.h; then
  apt-get install -y libsundials-dev > /dev/null
fi
out=$(mktemp -d "${TMPDIR:-/tmp}/nde-bench-adjoint.XXXXXX")
trap 'rm -rf "$out"' EXIT
${CC:-cc} -O2 -std=c11 -I"$top/include" -I"$build/include" "$here/adjoint.c" -o "$out/adjoint" \
  -L"$build/core/.libs" -lnde -lsundials_cvodes -lsundials_nvecserial \
  -lsundials_sunnonlinsolfixedpoint -lsundials_generic -lm -Wl,-rpath,"$build/core/.libs"
echo "Machine: $(uname -m), $(nproc) cores, $(. /etc/os-release && echo "$PRETTY_NAME"); $(date -u +%Y-%m-%d)"
echo "Peer: SUNDIALS CVODES $(dpkg-query -W -f='${Version}' libsundials-dev 2>/dev/null)"
OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 NDE_PLUGIN_PATH="$build/_plugins" "$out/adjoint"
