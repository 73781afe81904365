#!/bin/sh
# Optimizer update throughput: nde's optimizer plugins (cpu backend) against
# torch.optim on the CPU, same thread count, measured in the same run.
# Usage: bench/optim/run.sh [BUILDDIR] (default: .)
set -e
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-.}
threads=${THREADS:-2}
export OPENBLAS_NUM_THREADS=$threads OMP_NUM_THREADS=$threads
export NDE_PLUGIN_PATH="$(cd "$build" && pwd)/_plugins"
make -C "$build" bench/optim/bench_optim >/dev/null
if ! /usr/bin/python3 -c 'import torch' 2>/dev/null; then
  echo "installing python3-torch (the peer)..." >&2
  apt-get install -y -q python3-torch >/dev/null
fi
echo "threads: $threads; machine: $(nproc) cores, $(uname -m); load: $(cut -d' ' -f1-3 /proc/loadavg)"
for n in ${SIZES:-100000 1000000}; do
  for dtype in float32 float64; do
    "$build/bench/optim/bench_optim" $n 20 $dtype
    /usr/bin/python3 "$here/torch_optim.py" $n 20 $dtype "$threads"
  done
done
