#!/bin/sh
# Neural-ODE solve and gradient timings: nde against torchdiffeq (PyTorch CPU)
# and diffrax (JAX CPU), in one run, on the same parameters, inputs and
# cotangents (bench_node dumps them; the peers read them), same thread count.
#   (a) the thesis's MNIST neural ODE block at batch 512
#   (b) the fig-5.2 spiral model at batch 1 (forward solve, one training step)
# Usage: bench/node/run.sh [BUILDDIR] (default .). GRID=full runs every
# combination of float32/float64, dopri5/tsit5, tol 1e-5/1.4e-8 and every
# sensitivity for (a); the default GRID=quick runs a subset (see below).
# THREADS (default "1 2") lists the thread counts; every case runs at each.
# JAX/XLA has no reliable thread-count switch, so with fewer threads than the
# machine has cores every process (nde and both peers) is pinned to the first
# THREADS cores with taskset: the peers then use nde's thread count.
# OpenMP threads wait passively (OMP_WAIT_POLICY=passive): spinning threads
# collapse on a shared machine. Run it on a quiet machine: the load average
# is printed and recorded with every result.
# Controllers: nde runs its default PI controller (Hairer's gains); the peers
# run an I controller (diffrax's PIDController default, torchdiffeq's). Every
# MNIST forward case also runs nde with "controller": "i" (the same rule as
# the peers); the table's "ctrl" columns say which row is which.
# Output: JSON lines in bench/out/node.jsonl (with threads, load and each
# process's peak memory, i.e. per sensitivity) and a Markdown table on stdout.
set -e
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-.}
thread_list=${THREADS:-1 2}
grid=${GRID:-quick}
export OMP_WAIT_POLICY=passive
export XLA_FLAGS="--xla_force_host_platform_device_count=1"
export NDE_PLUGIN_PATH="$(cd "$build" && pwd)/_plugins"
make -C "$build" bench/node/bench_node >/dev/null
out=$(cd "$build" && pwd)/bench/out
mkdir -p "$out"
log=$out/node.jsonl
: >"$log"
# peers: python3-torch from apt, torchdiffeq and diffrax from pip (never committed)
. "$here/../torchdiffeq_peer.sh"
venv=${JAX_VENV:-$out/jaxenv}
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv" && "$venv/bin/pip" install -q jax diffrax || echo "diffrax: could not install; torchdiffeq only" >&2
fi
have_jax=0
"$venv/bin/python" -c 'import diffrax' 2>/dev/null && have_jax=1
echo "threads: $thread_list; machine: $(getconf _NPROCESSORS_ONLN) cores, $(uname -m); load: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

# pinned CMD...: run CMD on the first $threads cores when that is fewer than all
pinned() {
  if [ "$threads" -lt "$(getconf _NPROCESSORS_ONLN)" ] && command -v taskset >/dev/null; then
    taskset -c "0-$((threads - 1))" "$@"
  else
    "$@"
  fi
}

# the peers' JSON lines get the thread count, as nde's carry it
tag() { sed "s/^{/{\"threads\": $threads, /"; }

# one_case CASE DTYPE SOLVER TOL MODE SENS REPEATS: nde (with every sensitivity
# it has for SENS), then the peers on the dumped problem
one_case() {
  dump=$out/node-dump-$1-$2
  mkdir -p "$dump"
  case $6 in
    adjoint) nde_sens="backsolve_adjoint interpolating_adjoint quadrature_adjoint" ;;
    *) nde_sens=direct ;;
  esac
  first=1
  for s in $nde_sens; do
    if [ $first = 1 ]; then
      pinned "$build/bench/node/bench_node" "$1" "$2" "$3" "$4" "$5" "$s" "$7" 1 "$dump" | tee -a "$log"
      first=0
      if [ "$1" = mnist ] && [ "$5" = forward ]; then # the peers' I controller
        NDE_BENCH_SOLVER_OPTIONS='"controller": "i"' \
          pinned "$build/bench/node/bench_node" "$1" "$2" "$3" "$4" "$5" "$s" "$7" 1 | tee -a "$log"
      fi
    else
      pinned "$build/bench/node/bench_node" "$1" "$2" "$3" "$4" "$5" "$s" "$7" 1 | tee -a "$log"
    fi
  done
  if [ "$3" = dopri5 ]; then # torchdiffeq has no tsit5
    pinned /usr/bin/python3 "$here/torchdiffeq_node.py" "$1" "$2" "$3" "$4" "$5" "$6" "$7" 1 "$dump" "$threads" | tag | tee -a "$log"
  fi
  if [ $have_jax = 1 ]; then
    pinned "$venv/bin/python" "$here/diffrax_node.py" "$1" "$2" "$3" "$4" "$5" "$6" "$7" 1 "$dump" | tag | tee -a "$log"
  fi
}

for threads in $thread_list; do
  export OPENBLAS_NUM_THREADS=$threads OMP_NUM_THREADS=$threads MKL_NUM_THREADS=$threads
  echo "$threads thread(s); load: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
  # (b) spiral, batch 1, float64, the fig-5.2 tolerance
  for solver in tsit5 dopri5; do
    one_case spiral float64 $solver 1e-6 forward direct 5
    one_case spiral float64 $solver 1e-6 backward direct 5
    one_case spiral float64 $solver 1e-6 backward adjoint 5
  done
  # (a) MNIST, batch 512
  if [ "$grid" = full ]; then
    for dtype in float32 float64; do for solver in dopri5 tsit5; do for tol in 1e-5 1.4e-8; do
      one_case mnist $dtype $solver $tol forward direct 3
      one_case mnist $dtype $solver $tol backward direct 3
      one_case mnist $dtype $solver $tol backward adjoint 3
    done; done; done
  else # quick: both dtypes at 1e-5 with dopri5 (every peer has it); float64 at 1.4e-8 forward
    for dtype in float32 float64; do
      one_case mnist $dtype dopri5 1e-5 forward direct 3
      one_case mnist $dtype dopri5 1e-5 backward direct 3
      one_case mnist $dtype dopri5 1e-5 backward adjoint 3
    done
    one_case mnist float64 tsit5 1e-5 forward direct 3
    one_case mnist float64 dopri5 1.4e-8 forward direct 3
  fi
done
/usr/bin/python3 "$here/summarize.py" "$log"
