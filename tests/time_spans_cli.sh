#!/bin/sh
# neural_ode "time_spans": "per_sample" through the CLI: a CSV of series
# with their own spans (state, t0, t1 -> state at t1 of a rotation),
# `nde gradcheck` on it with the direct sensitivity (plus a regularizer) and
# an adjoint, a few training steps, and a span with t1 <= t0 refused with
# a message naming the batch sample; gradcheck and training of a latent_ode
# whose series bring their own spans.
set -u
nde=${NDE_TEST_BUILDDIR:-.}/nde
tmp=${TMPDIR:-/tmp}/nde-tspan-$$
mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

python3 - "$tmp/train.csv" "$tmp/test.csv" "$tmp/bad.csv" <<'PY'
import math, sys
def rows(n, k):
    out = []
    for i in range(n):
        x = [math.cos(0.7 * i + k), math.sin(1.3 * i + k)]
        t0 = 0.1 * (i % 5) - 0.2
        t1 = t0 + 0.3 + 0.15 * ((i * 3 + k) % 7)
        c, s = math.cos(t1 - t0), math.sin(t1 - t0)
        out.append([x[0], x[1], t0, t1, c * x[0] - s * x[1], s * x[0] + c * x[1]])
    return out
for path, n, k in ((sys.argv[1], 32, 0), (sys.argv[2], 16, 1)):
    with open(path, "w") as f:
        for r in rows(n, k):
            f.write(",".join("%.12g" % v for v in r) + "\n")
bad = rows(8, 2)
bad[5][3] = bad[5][2]  # t1 == t0
with open(sys.argv[3], "w") as f:
    for r in bad:
        f.write(",".join("%.12g" % v for v in r) + "\n")
PY

pipe() { # $1 train file, $2 sensitivity (direct: with a regularizer differentiating the steps)
  reg=
  [ "$2" = direct ] && reg=', "regularizer": {"plugin": "error_global", "coef": 0.01}'
  cat <<EOF
{"seed": 1,
 "data": {"dataset": "csv", "train": "$1", "test": "$tmp/test.csv", "target": [4, 5],
          "batch_size": 8},
 "model": {"layer": "neural_ode", "time_spans": "per_sample", "tspan": [0, 1],
           "dynamics": {"chain": [{"layer": "dense", "out": 8, "activation": "tanh"},
                                  {"layer": "dense", "out": 2}]},
           "solver": {"plugin": "tsit5", "abstol": 1e-6, "reltol": 1e-6},
           "sensitivity": "$2"$reg},
 "loss": "mse", "optimizer": {"plugin": "adam", "lr": 0.01},
 "train": {"steps": 6}}
EOF
}

for sens in direct interpolating_adjoint; do
  pipe "$tmp/train.csv" $sens >"$tmp/p.json"
  out=$("$nde" gradcheck "$tmp/p.json" --params 12 --tol 1e-4 --json) ||
    fail "gradcheck ($sens): exit $? ($out)"
  echo "$out" | python3 -c '
import json, sys
o = json.load(sys.stdin)
assert o["ok"] is True and o["checked"] == 12 and o["max_rel_error"] <= 1e-4, o' ||
    fail "gradcheck JSON ($sens): $out"
  echo "$sens: $out"
done

"$nde" train "$tmp/p.json" >"$tmp/out" 2>&1 || fail "training: $(cat "$tmp/out")"

# the latent ODE with per-sample spans: 2 channels on the grid 0, 1/3, 2/3, 1 of s, each
# series on its own [t0, t1]; input values, mask, t0, t1 (18 columns), target values, mask
python3 - "$tmp/lode.csv" <<'PY'
import math, sys
with open(sys.argv[1], "w") as f:
    for i in range(24):
        t0 = 0.2 * (i % 4)
        t1 = t0 + 0.5 + 0.25 * (i % 5)
        vals, mask = [], []
        for j in range(4):
            t = t0 + (t1 - t0) * j / 3
            for c in range(2):
                seen = (i + 3 * j + c) % 3 != 0
                mask.append(1.0 if seen else 0.0)
                vals.append(math.sin(t + c) if seen else 0.0)
        row = vals + mask + [t0, t1] + vals + mask
        f.write(",".join("%.12g" % v for v in row) + "\n")
PY
cat >"$tmp/lode.json" <<EOF
{"seed": 2,
 "data": {"dataset": "csv", "train": "$tmp/lode.csv", "test": "$tmp/lode.csv",
          "target": [18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33],
          "batch_size": 8},
 "model": {"layer": "latent_ode", "channels": 2, "tspan": [0, 1], "points": 4,
           "time_spans": "per_sample", "latent": 3, "hidden": 4, "units": 5, "obs_std": 0.5,
           "decoder": {"solver": {"plugin": "tsit5", "abstol": 1e-6, "reltol": 1e-6}}},
 "loss": "masked_mse", "optimizer": {"plugin": "adam", "lr": 0.01},
 "train": {"steps": 4}}
EOF
out=$("$nde" gradcheck "$tmp/lode.json" --params 16 --tol 1e-4 --json) ||
  fail "latent_ode gradcheck: exit $? ($out)"
echo "latent_ode: $out"
"$nde" train "$tmp/lode.json" >"$tmp/out" 2>&1 || fail "latent_ode training: $(cat "$tmp/out")"

pipe "$tmp/bad.csv" direct >"$tmp/bad.json"
"$nde" train "$tmp/bad.json" >"$tmp/out" 2>&1; rc=$?
[ $rc -eq 2 ] || fail "t1 == t0 exits $rc, expected 2: $(cat "$tmp/out")"
grep -q "batch sample [0-7] has the time span \[t0, t1\] = \[-0.2, -0.2\]" "$tmp/out" || fail "no sample named: $(cat "$tmp/out")"
echo "ok"
