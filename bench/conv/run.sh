#!/bin/sh
# conv2d forward/backward at the shapes of the thesis's small CIFAR10 models
# (32x32x3 input, 16-64 channels, 3x3 kernels, batch 32; the 28x28 Fashion-MNIST
# stem of examples/paper/table-6.4-*.json), nde against PyTorch's CPU conv, and a
# conv neural ODE forward (dopri5 at 1e-4) against torchdiffeq, in the same run
# and with the same thread count. Usage: bench/conv/run.sh [BUILDDIR] (default .)
# Needs python3-torch, python3-scipy and torchdiffeq
# (/usr/bin/python3 -m pip install --break-system-packages --no-deps torchdiffeq).
# SMOKE=1 runs one small shape with 2 repeats (checks the script, measures nothing).
set -e
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-.}
threads=${THREADS:-2}
export OPENBLAS_NUM_THREADS=$threads OMP_NUM_THREADS=$threads OMP_WAIT_POLICY=passive
export NDE_PLUGIN_PATH="$(cd "$build" && pwd)/_plugins"
make -C "$build" bench/conv/bench_conv >/dev/null
echo "threads: $threads; machine: $(getconf _NPROCESSORS_ONLN) cores, $(uname -m); load: $(cut -d' ' -f1-3 /proc/loadavg)"
if [ "${SMOKE:-0}" = 1 ]; then
  shapes="8 8 2 4 3 1 1 4"; reps=2; nodes="8 4 2"
else
  # W H CIN COUT K STRIDE PAD BATCH
  shapes="32 32 3 16 3 1 1 32
32 32 16 16 3 1 1 32
16 16 32 32 3 1 1 32
16 16 64 64 3 1 1 32
32 32 16 32 4 2 1 32
28 28 1 8 4 2 1 32
14 14 8 8 3 1 1 32"
  reps=20; nodes="16 32 32
14 8 32"
fi
echo "$shapes" | while read -r w h ci co k s p b; do
  "$build/bench/conv/bench_conv" conv $w $h $ci $co $k $s $p $b $reps
  /usr/bin/python3 "$here/torch_conv.py" conv $w $h $ci $co $k $s $p $b $reps $threads
done
echo "$nodes" | while read -r s c b; do
  "$build/bench/conv/bench_conv" node $s $c $b $((reps < 5 ? reps : 5))
  /usr/bin/python3 "$here/torch_conv.py" node $s $c $b $((reps < 5 ? reps : 5)) $threads
done
