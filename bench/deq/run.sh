#!/bin/sh
# The Table 4.1 DEQ, forward + backward per batch: nde (steady_state, jfb) against
# torchdeq 0.1.0 (ift=True, default phantom gradient) on the same weights and inputs,
# same thread count, in one run. Usage: bench/deq/run.sh [BUILDDIR] (default: .)
set -e
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-.}
threads=${THREADS:-1}  # 2 threads on the loaded 2-core VM spin-wait: 30x slower for both
repeats=${REPEATS:-20}
export OPENBLAS_NUM_THREADS=$threads OMP_NUM_THREADS=$threads
export NDE_PLUGIN_PATH="$(cd "$build" && pwd)/_plugins"
make -C "$build" bench/deq/bench_deq >/dev/null
if ! /usr/bin/python3 -c 'import torch' 2>/dev/null; then
  echo "installing python3-torch (the peer)..." >&2
  apt-get install -y -q python3-torch >/dev/null
fi
if ! /usr/bin/python3 -c 'import torchdeq' 2>/dev/null; then
  echo "installing torchdeq 0.1.0 (the peer)..." >&2
  /usr/bin/python3 -m pip install -q --no-deps --break-system-packages torchdeq==0.1.0 >/dev/null
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "threads: $threads; machine: $(nproc) cores, $(uname -m); load: $(cut -d' ' -f1-3 /proc/loadavg)"
for B in 32 512; do
  "$build/bench/deq/bench_deq" "$B" steady_state "$repeats" "$tmp/w$B.bin"
  /usr/bin/python3 "$here/torchdeq_bench.py" "$tmp/w$B.bin" "$B" ift "$repeats" "$threads"
  "$build/bench/deq/bench_deq" "$B" jfb "$repeats"
  /usr/bin/python3 "$here/torchdeq_bench.py" "$tmp/w$B.bin" "$B" phantom "$repeats" "$threads"
done
