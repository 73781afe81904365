#!/bin/sh
# Instruction counts per step and per RHS evaluation of nde's ODE solvers and
# GSL's rk8pd on the bench/ode problems (callgrind; independent of machine
# load, unlike the CPU times of run.sh). Only the solve itself is counted
# (callgrind --toggle-collect on wp.c's solve_nde / solve_gsl), including the
# per-solve allocation and the RHS evaluations; the reference solution (wp.c)
# is computed outside the counted function. Error: max norm at the final time,
# as in run.sh, so the table is a work-precision diagram in instructions.
# Run from a configured and built nde tree:
#   sh bench/ode/count.sh [BUILDDIR]     (PROBLEMS, TOLS, SOLVERS override the sets)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
build=${1:-$top}
if ! test -f /usr/include/gsl/gsl_odeiv2.h || ! test -f /usr/include/arkode/arkode_erkstep.h; then
  apt-get install -y libsundials-dev libgsl-dev valgrind > /dev/null
fi
out=$(mktemp -d "${TMPDIR:-/tmp}/nde-count-ode.XXXXXX")
trap 'rm -rf "$out"' EXIT
${CC:-cc} -O2 -std=c11 -I"$top/include" -I"$build/include" "$here/wp.c" -o "$out/wp" \
  -L"$build/core/.libs" -lnde -lsundials_arkode -lsundials_nvecserial -lsundials_generic \
  -lgsl -lgslcblas -lm -Wl,-rpath,"$build/core/.libs"
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 NDE_PLUGIN_PATH="$build/_plugins"
echo "| problem | tol | solver | error | NFE | steps | instructions / solve | / step | / NFE |"
echo "|---|---|---|---|---|---|---|---|---|"
for p in ${PROBLEMS:-lorenz pleiades arenstorf}; do
  for tol in ${TOLS:-1e-5 1e-6 1e-7 1e-8 1e-9 1e-10}; do
    for s in ${SOLVERS:-tsit5 dopri5 vern7 gsl-rk8pd}; do
      case $s in gsl-*) fn=solve_gsl ;; *) fn=solve_nde ;; esac
      line=$("$out/wp" count "$s" "$p" "$tol" 1)
      nfe=$(echo "$line" | sed -n 's/.*nfe \([0-9]*\),.*/\1/p')
      steps=$(echo "$line" | sed -n 's/.*steps \([0-9]*\) per.*/\1/p')
      err=$(echo "$line" | sed -n 's/.*error \([-+.e0-9]*\).*/\1/p')
      # two runs, 1 and 3 solves: the difference / 2 is one solve, without the
      # reference solve (GSL's rk8pd at 1e-14 when the problem has no exact solution)
      for r in 1 3; do
        valgrind --tool=callgrind --callgrind-out-file="$out/cg.$r" --collect-atstart=no \
          --toggle-collect="$fn" "$out/wp" count "$s" "$p" "$tol" $r > /dev/null 2>&1
      done
      ir=$(for r in 1 3; do sed -n 's/^\(summary\|totals\): *\([0-9]*\).*/\2/p' "$out/cg.$r" | head -n 1; done |
        awk 'NR == 1 { a = $1 } NR == 2 { print $1 - a }')
      awk -v p="$p" -v t="$tol" -v s="$s" -v e="$err" -v n="$nfe" -v k="$steps" -v ir="$ir" 'BEGIN {
        per = ir / 2; printf "| %s | %s | %s | %s | %d | %d | %.0f | %.0f | %.0f |\n", p, t, s, e, n, k, per, per / k, per / n }'
    done
  done
done
