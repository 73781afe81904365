#!/bin/sh
# The spiral NEURAL SDE of thesis Table 5.3 (drift u³ → dense(2→50, tanh) → dense(50→2),
# diffusion dense(2→2), diagonal noise, 100 trajectories from (2, 0) as one (2, 100)
# system, t in [0, 1]): nde against torchsde 0.2.6 (srk) and, when it installs, diffrax
# (SPaRK on the Stratonovich form), in one run, one thread each, the same parameters
# (neural_spiral_data.py writes them; every side reads them).
#   (a) adaptive forward solves: time, drift evaluations, error at t = 1 against a fine
#       solution on the same Brownian path; time to reach the same error
#   (b) one training step (30 save points, mean/variance loss, discrete reverse mode)
#   (c) nde's floor ratio: time ÷ (drift evaluations × one drift+diffusion evaluation)
# Run from a configured and built nde tree:
#   sh bench/sde/run_neural.sh [BUILDDIR] > /tmp/neural-sde.md
# DTYPE=float32 (default, as the thesis) | float64; QUICK=1 runs fewer tolerances;
# JAX_VENV=DIR: the virtual environment for jax + diffrax (default BUILDDIR/bench/out/jaxenv;
# NO_DIFFRAX=1 skips diffrax). The JSON lines are kept in BUILDDIR/bench/out/neural_sde.jsonl.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
build=$(cd "${1:-$top}" && pwd)
dtype=${DTYPE:-float32}
quick=${QUICK:-0}
seed=${SEED:-2026}
# peers: torch from Debian, torchsde (and its pure-Python dependency) from PyPI, never committed
if ! /usr/bin/python3 -c "import torch, numpy" 2>/dev/null; then
  apt-get install -y python3-torch python3-numpy > /dev/null
fi
if ! /usr/bin/python3 -c "import torchsde" 2>/dev/null; then
  /usr/bin/python3 -m pip install -q --break-system-packages --no-deps torchsde==0.2.6 trampoline==0.1.2
fi
mkdir -p "$build/bench/out"
venv=${JAX_VENV:-$build/bench/out/jaxenv}
have_jax=0
if [ "${NO_DIFFRAX:-0}" != 1 ]; then
  if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv" && "$venv/bin/pip" install -q jax diffrax ||
      echo "diffrax: could not install; torchsde only" >&2
  fi
  "$venv/bin/python" -c 'import diffrax' 2>/dev/null && have_jax=1
fi
out=$(mktemp -d "${TMPDIR:-/tmp}/nde-bench-neural-sde.XXXXXX")
trap 'rm -rf "$out"' EXIT
/usr/bin/python3 "$here/neural_spiral_data.py" "$out/data"
${CC:-cc} -O2 -std=c11 -I"$top/include" -I"$build/include" "$here/bench_neural_sde.c" \
  -o "$out/bench_neural_sde" -L"$build/core/.libs" -lnde -lm -Wl,-rpath,"$build/core/.libs"
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1
export XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1 --xla_force_host_platform_device_count=1"
echo "Machine: $(uname -m), $(getconf _NPROCESSORS_ONLN) cores, $(. /etc/os-release && echo "$PRETTY_NAME"); $(date -u '+%Y-%m-%d %H:%M UTC'); load before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "Peers: torchsde $(/usr/bin/python3 -c 'import torchsde; print(torchsde.__version__)'), torch $(/usr/bin/python3 -c 'import torch; print(torch.__version__)')$([ $have_jax = 1 ] && "$venv/bin/python" -c 'import diffrax, jax; print(", diffrax", diffrax.__version__, ", jax", jax.__version__)')"
echo "dtype $dtype, seed $seed, one thread everywhere; times: medians of ${BENCH_CLOCK:-cpu} time (BENCH_CLOCK=wall for wall-clock)"
echo
rows=$out/rows.jsonl
NDE_PLUGIN_PATH="$build/_plugins" "$out/bench_neural_sde" "$out/data" "$dtype" "$seed" "$quick" > "$rows"
/usr/bin/python3 "$here/torchsde_neural_spiral.py" "$out/data" "$dtype" "$seed" "$quick" >> "$rows"
if [ $have_jax = 1 ]; then
  "$venv/bin/python" "$here/diffrax_neural_spiral.py" "$out/data" "$dtype" "$seed" "$quick" >> "$rows" 2> "$out/diffrax.err" ||
    { echo "diffrax run failed:" >&2; tail -5 "$out/diffrax.err" >&2; }
fi
cp "$rows" "$build/bench/out/neural_sde.jsonl"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
/usr/bin/python3 "$here/summarize_neural.py" "$rows"
