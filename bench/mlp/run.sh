#!/bin/sh
# Training-step throughput of the thesis's MNIST-sized MLP at batch 512:
# nde (cpu backend, OpenBLAS) against PyTorch on the CPU, same thread count,
# measured in the same run. Usage: bench/mlp/run.sh [BUILDDIR] (default: .)
set -e
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-.}
threads=${THREADS:-2}
export OPENBLAS_NUM_THREADS=$threads OMP_NUM_THREADS=$threads
export NDE_PLUGIN_PATH="$(cd "$build" && pwd)/_plugins"
make -C "$build" bench/mlp/bench_mlp >/dev/null
if ! /usr/bin/python3 -c 'import torch' 2>/dev/null; then
  echo "installing python3-torch (the peer)..." >&2
  apt-get install -y -q python3-torch >/dev/null
fi
echo "threads: $threads; machine: $(getconf _NPROCESSORS_ONLN) cores, $(uname -m); load: $(cut -d' ' -f1-3 /proc/loadavg)"
for round in 1 2 3; do
  "$build/bench/mlp/bench_mlp" 50 7 10
  /usr/bin/python3 "$here/torch_mlp.py" 50 7 10 "$threads"
done
