#!/bin/sh
# GPU check of the cuda backend, in one run of at most ~8 minutes:
#   1. configure with CUDA (--with-cuda, so a missing toolkit fails loudly)
#      and build, in a build folder of its own;
#   2. the backend's own tests (tests/cuda/test-cuda: every operation against
#      the cpu backend, both dtypes, odd sizes; Philox draws bit for bit) and
#      the neural ODE/SDE/DEQ pipelines with backend=cuda against cpu
#      (tests/cuda/cuda_pipelines.sh);
#   3. the MNIST neural ODE of bench/node (batch 512, float32, tol 1e-5,
#      dopri5 and tsit5; forward, backward direct, backward adjoint) with
#      backend=cuda, against torchdiffeq (PyTorch, CUDA) and diffrax (JAX, GPU)
#      on the same GPU and the same parameters, inputs and cotangents.
# Results: $OUT (or bench/out/gpu) receives env.txt, tests.log, node-gpu.jsonl
# (one JSON object per run), node-gpu.md (the table of bench/node/summarize.py)
# and summary.json ({"ok": ..., "checks": [...]}, every check with its verdict).
# Exit status 0 only when every check passed.
#
# Usage: bench/gpu/run.sh   (from anywhere; needs nvcc, an NVIDIA GPU, python3
# with torch + torchdiffeq and jax + diffrax; autoreconf unless ./configure
# exists). BUILD=DIR picks the build folder (default _build/gpu, or the
# source folder when it is configured in place), JOBS=N the
# make parallelism, PYTHON the interpreter with the peers (default python3),
# SKIP_PEERS=1 runs nde alone.
set -u
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
out=${OUT:-$src/bench/out/gpu}
build=${BUILD:-$src/_build/gpu}
# a tree configured in place refuses other build folders: build there
[ -z "${BUILD:-}" ] && [ -f "$src/config.status" ] && build=$src
jobs=${JOBS:-$(getconf _NPROCESSORS_ONLN)}
python=${PYTHON:-python3}
mkdir -p "$out" "$build"
out=$(cd "$out" && pwd)
build=$(cd "$build" && pwd)
start=$(date +%s)
checks=$out/checks.jsonl
: > "$checks"
: > "$out/node-gpu.jsonl"
status=0

say() { echo "[gpu +$(( $(date +%s) - start ))s] $*" >&2; }
# check NAME VERDICT DETAIL: record one verdict (pass | fail | skip)
check() {
  python3 -c 'import json, sys; print(json.dumps({"check": sys.argv[1], "verdict": sys.argv[2], "detail": sys.argv[3]}))' \
    "$1" "$2" "$3" >> "$checks"
  say "$2: $1${3:+ ($3)}"
  [ "$2" != fail ] || status=1
}
finish() {
  python3 - "$checks" "$out/summary.json" "$(( $(date +%s) - start ))" <<'PY'
import json, sys
checks = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
ok = all(c["verdict"] != "fail" for c in checks) and any(c["verdict"] == "pass" for c in checks)
json.dump({"ok": ok, "seconds": int(sys.argv[3]), "checks": checks}, open(sys.argv[2], "w"), indent=1)
print("bench/gpu/run.sh:", "PASS" if ok else "FAIL", "-", sys.argv[2])
PY
  exit $status
}

# ---------------------------------------------------------------- the machine
{
  echo "date: $(date -u +%FT%TZ)"
  echo "source: $(cd "$src" && git rev-parse --short HEAD 2>/dev/null || echo unknown)"
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1
  nvcc --version 2>&1 | tail -1
  echo "cpus: $(getconf _NPROCESSORS_ONLN)"
} > "$out/env.txt"
cat "$out/env.txt" >&2
command -v nvcc > /dev/null || { check toolkit fail "nvcc not on PATH"; finish; }
nvidia-smi -L > /dev/null 2>&1 || { check gpu fail "nvidia-smi sees no GPU"; finish; }
cuda_home=$(dirname "$(dirname "$(command -v nvcc)")")

# ---------------------------------------------------------------- 1. build
if [ ! -x "$src/configure" ]; then
  say "autoreconf"
  (cd "$src" && autoreconf -fi) > "$out/autoreconf.log" 2>&1 ||
    { check autoreconf fail "see autoreconf.log (or copy a tree with ./configure, e.g. from make dist)"; finish; }
fi
if [ ! -f "$build/Makefile" ]; then
  say "configure in $build"
  (cd "$build" && "$src/configure" --with-cuda="$cuda_home" --without-mpi) > "$out/configure.log" 2>&1 ||
    { check configure fail "see configure.log: $(tail -1 "$out/configure.log")"; finish; }
fi
grep -q '^HAVE_CUDA_TRUE = *$' "$build/Makefile" ||
  { check configure fail "configure did not enable the cuda backend"; finish; }
say "make -j$jobs"
make -C "$build" -j"$jobs" > "$out/build.log" 2>&1 ||
  { check build fail "see build.log: $(grep -m1 -i error "$out/build.log")"; finish; }
make -C "$build" -j"$jobs" bench/node/bench_node >> "$out/build.log" 2>&1 ||
  { check build fail "bench_node: see build.log"; finish; }
warnings=$(grep -c -i 'warning:' "$out/build.log")
check build pass "$warnings compiler warnings"
export NDE_PLUGIN_PATH="$build/_plugins"
"$build/nde" plugin cuda > "$out/plugin-cuda.txt" 2>&1 ||
  { check backend-opens fail "$(tail -1 "$out/plugin-cuda.txt")"; finish; }
check backend-opens pass "$(grep '^Status' "$out/plugin-cuda.txt")"

# ---------------------------------------------------------------- 2. tests
say "tests/cuda"
timeout 300 make -C "$build" -j"$jobs" check \
  TESTS="tests/cuda/test-cuda tests/cuda/cuda_pipelines.sh tests/cuda/cuda_unusable.sh" \
  > "$out/tests.log" 2>&1
for t in tests/cuda/test-cuda tests/cuda/cuda_pipelines.sh; do
  res=$(sed -n 's/^:test-result: //p' "$build/$t.trs" 2>/dev/null)
  case "$res" in
    PASS) check "$t" pass "" ;;
    *) check "$t" fail "${res:-not run}: see $build/$t.log"; cp "$build/$t.log" "$out/" 2>/dev/null ;;
  esac
done
cp "$build/tests/cuda/"*.log "$out/" 2>/dev/null

# ---------------------------------------------------------------- 3. MNIST neural ODE, batch 512
bench() { # IMPL CMD...: one JSON line into node-gpu.jsonl, or a failed check
  impl=$1; shift
  if timeout 150 "$@" > "$out/last.json" 2> "$out/last.err" && grep -q '^{' "$out/last.json"; then
    grep '^{' "$out/last.json" | tee -a "$out/node-gpu.jsonl" >&2
    return 0
  fi
  check "bench $impl $*" fail "$(tail -2 "$out/last.err" | tr '\n' ' ')"
  return 1
}
budget=${BUDGET:-460} # seconds since start after which remaining peer runs are skipped
dump=$out/dump
mkdir -p "$dump"
export NDE_BENCH_BACKEND=cuda
for solver in dopri5 tsit5; do
  for mode in "forward direct" "backward direct" "backward adjoint"; do
    set -- $mode
    nde_sens=$2
    [ "$2" = adjoint ] && nde_sens=backsolve_adjoint # the peers' adjoints solve backwards too
    say "nde cuda mnist float32 $solver $1 $nde_sens"
    bench nde "$build/bench/node/bench_node" mnist float32 "$solver" 1e-5 "$1" "$nde_sens" 3 1 "$dump" ||
      continue
    [ "${SKIP_PEERS:-0}" = 1 ] && continue
    if [ "$(( $(date +%s) - start ))" -gt "$budget" ]; then
      check "peers $solver $1 $2" skip "time budget (${budget}s) spent"
      continue
    fi
    if [ "$solver" = dopri5 ]; then # torchdiffeq has no tsit5
      say "torchdiffeq cuda $solver $1 $2"
      bench torchdiffeq python3 "$src/bench/node/torchdiffeq_node.py" mnist float32 "$solver" 1e-5 \
        "$1" "$2" 3 1 "$dump" "$jobs" cuda
    fi
    say "diffrax gpu $solver $1 $2"
    bench diffrax "$python" "$src/bench/node/diffrax_node.py" mnist float32 "$solver" 1e-5 \
      "$1" "$2" 3 1 "$dump" gpu
  done
done
unset NDE_BENCH_BACKEND
python3 "$src/bench/node/summarize.py" "$out/node-gpu.jsonl" > "$out/node-gpu.md" 2> "$out/summarize.err" ||
  check summarize fail "$(tail -1 "$out/summarize.err")"
cat "$out/node-gpu.md" >&2

# sanity of the comparison: nde's runs completed, and its forward NFE is
# within 25% of torchdiffeq's (same dopri5, same tolerance, same problem)
python3 - "$out/node-gpu.jsonl" > "$out/sanity.txt" 2>&1 <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
nde = [r for r in rows if r["impl"] == "nde"]
assert len(nde) == 6, f"{len(nde)} of 6 nde runs"
assert all(r["backend"] == "cuda" and r["time_s"] > 0 for r in nde), "an nde run not on cuda"
for r in nde:
    if r["solver"] == "dopri5" and r["mode"] == "forward":
        td = [t for t in rows if t["impl"] == "torchdiffeq" and t["mode"] == "forward"]
        if td:
            a, b = r["nfe_forward"], td[0]["nfe_forward"]
            assert abs(a - b) <= 0.25 * b, f"forward NFE nde {a} vs torchdiffeq {b}"
print("ok:", len(nde), "nde runs;", len(rows) - len(nde), "peer runs")
PY
if [ $? -eq 0 ]; then check bench-sanity pass "$(cat "$out/sanity.txt")"; else check bench-sanity fail "$(tail -1 "$out/sanity.txt")"; fi
rm -rf "$dump" "$out/last.json" "$out/last.err"
finish
