#!/bin/sh
# GEMM libraries at the thesis's shapes (bench/gemm/bench_gemm.c): OpenBLAS,
# oneDNN (dnnl_sgemm, and the matmul primitive plain or with the bias and
# activation fused), BLIS and libxsmm, whichever configure found; float32
# and float64, THREADS (default "1 2") threads. Forward shapes include the
# bias + activation epilogue in every variant. Run it on a quiet machine: the
# load average is printed. Prints a Markdown table (GFLOP/s from the best of
# REPEATS calls, default 30; the best per shape and column in bold).
# Output: JSON lines in BUILDDIR/bench/out/gemm.jsonl.
# Usage: bench/gemm/run.sh [BUILDDIR] (default .)
set -e
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:-.}" && pwd)
repeats=${REPEATS:-30}
thread_list=${THREADS:-1 2}
export NDE_PLUGIN_PATH="$build/_plugins"
export OMP_WAIT_POLICY=passive
make -C "$build" bench-gemm >/dev/null
mkdir -p "$build/bench/out"
log=$build/bench/out/gemm.jsonl
: >"$log"
echo "machine: $(getconf _NPROCESSORS_ONLN) cores, $(uname -m); load: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
for threads in $thread_list; do
  for dtype in float32 float64; do
    for lib in openblas onednn blis xsmm; do
      prog=$build/bench/gemm/bench_gemm_$lib
      [ -x "$prog" ] || continue
      OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads BLIS_NUM_THREADS=$threads \
        "$build/libtool" --mode=execute "$prog" "$dtype" "$threads" "$repeats" >>"$log"
    done
  done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
python3 "$here/summarize.py" "$log"
