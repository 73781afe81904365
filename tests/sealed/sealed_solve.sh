#!/bin/sh
# `nde solve` on the `sealed` test backend ("backend": "sealed"; see
# sealed_pipelines.sh): ODE problems of the library (float64 and float32),
# SDE problems, a layer problem with trained parameters and nonlinear
# problems print exactly what they print on cpu. The library problems'
# right-hand sides once read the state in place whenever the backend's
# device was the CPU (a fault here).
set -u
NDE="${NDE_TEST_BUILDDIR:-.}/nde"
builddir="${NDE_TEST_BUILDDIR:-.}"
srcdir="${NDE_TEST_SRCDIR:?}"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/nde-sealed-solve.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
fail=0
bad() { echo "FAIL: $*"; fail=1; }

lib="$builddir/tests/plugins/.libs/backend_sealed.so"
[ -f "$lib" ] || { echo "FAIL: $lib not built"; exit 1; }
mkdir "$tmp/plugins"
cp "$lib" "$tmp/plugins/"
cp "$srcdir/plugins/sealed.json" "$tmp/plugins/"
nde() { "$NDE" --plugin-dir "$tmp/plugins" "$@"; }

solve() { # NAME FILE [--set ...]: same exit status 0 and the same JSON on both backends
  name=$1; shift
  for b in cpu sealed; do
    nde solve "$@" --set backend=\"$b\" --json > "$tmp/$name-$b.out" 2> "$tmp/$name-$b.err"
    rc=$?
    [ $rc -eq 0 ] || { bad "$name on $b exited $rc"; tail -3 "$tmp/$name-$b.err"; return 1; }
  done
  cmp -s "$tmp/$name-cpu.out" "$tmp/$name-sealed.out" ||
    { bad "$name: sealed differs from cpu"; diff "$tmp/$name-cpu.out" "$tmp/$name-sealed.out" | head -6; return 1; }
  grep -q '"t"\|"u"' "$tmp/$name-cpu.out" || { bad "$name: no solution printed"; return 1; }
  echo "ok: $name"
}

cat > "$tmp/lorenz.json" <<'JSON'
{"problem": "lorenz", "u0": [1, 0, 0], "tspan": [0, 1], "saveat": [0.25, 0.5, 1],
 "solver": {"plugin": "tsit5", "abstol": 1e-8, "reltol": 1e-8}}
JSON
solve lorenz "$tmp/lorenz.json"
solve lorenz-f32 "$tmp/lorenz.json" --set dtype=float32 --set solver.plugin=dopri5
cat > "$tmp/linear.json" <<'JSON'
{"problem": {"name": "linear", "A": [[0, 1], [-1, 0]]}, "u0": [1, 0], "tspan": [0, 2],
 "saveat": 0.5, "solver": {"plugin": "vcab3", "abstol": 1e-7, "reltol": 1e-7}}
JSON
solve linear "$tmp/linear.json"
cat > "$tmp/gbm.json" <<'JSON'
{"problem": {"name": "gbm", "a": 1.01, "b": 0.87}, "u0": [0.5], "tspan": [0, 1],
 "trajectories": 20, "seed": 1, "saveat": [0.5, 1],
 "solver": {"plugin": "sosri2", "abstol": 1e-3, "reltol": 1e-3}}
JSON
solve gbm "$tmp/gbm.json"
solve gbm-em "$tmp/gbm.json" --set 'solver={"plugin": "euler_maruyama", "dt": 0.01}' --set brownian=stored
solve spiral-sde "$tmp/gbm.json" --set 'problem="spiral_sde"' --set 'u0=[2, 0]' --set solver.plugin=sri_w1

# a layer problem whose parameters are a checkpoint of the fig-5.2 pipeline
nde train "$srcdir/../examples/paper/fig-5.2-vanilla.json" --set train.steps=2 \
  --set train.checkpoint="$tmp/run" > /dev/null 2>&1 || bad "training the layer's parameters"
cat > "$tmp/layer.json" <<JSON
{"problem": {"name": "layer",
  "parameters": "$tmp/run/checkpoint.safetensors",
  "prefix": "model.chain[0].dynamics",
  "dynamics": {"chain": ["cube", {"layer": "dense", "out": 50, "activation": "tanh"},
                         {"layer": "dense", "out": 2}]}},
 "u0": [2, 0], "tspan": [0, 1.5], "saveat": [0.5, 1, 1.5]}
JSON
solve layer "$tmp/layer.json"
sed -e '/"parameters"/d' -e 's/"prefix": "model.chain\[0\].dynamics",/"seed": 3,/' \
  "$tmp/layer.json" > "$tmp/layer-seeded.json"
grep -q '"seed": 3' "$tmp/layer-seeded.json" || bad "could not write layer-seeded.json"
solve layer-seeded "$tmp/layer-seeded.json"

for p in freudenstein_roth large_lbroyden; do
  solve "$p" "$srcdir/../examples/nonlinear/$p.json"
done

# a backend that is not there: exit 2 naming the key
nde solve "$tmp/lorenz.json" --set backend=\"no_such\" > "$tmp/nb.out" 2>&1
[ $? -eq 2 ] && grep -q "backend" "$tmp/nb.out" || bad "unknown backend: $(cat "$tmp/nb.out")"
for f in lorenz gbm layer; do
  nde solve "$tmp/$f.json" --set backend=3 > "$tmp/nb.out" 2>&1
  [ $? -eq 2 ] && grep -q "backend: expected a backend plugin name" "$tmp/nb.out" ||
    bad "$f: a backend that is not a name: $(cat "$tmp/nb.out")"
done
exit $fail
