#!/bin/sh
# neural_ode "time_spans": "per_sample" through the CLI: a CSV of series
# with their own spans (state, t0, t1 -> state at t1 of a rotation),
# `nde gradcheck` on it with the direct sensitivity (plus a regularizer) and
# an adjoint, a few training steps, and a span with t1 <= t0 refused with
# a message naming the batch sample.
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

pipe "$tmp/bad.csv" direct >"$tmp/bad.json"
"$nde" train "$tmp/bad.json" >"$tmp/out" 2>&1; rc=$?
[ $rc -eq 2 ] || fail "t1 == t0 exits $rc, expected 2: $(cat "$tmp/out")"
grep -q "batch sample [0-7] has the time span \[t0, t1\] = \[-0.2, -0.2\]" "$tmp/out" || fail "no sample named: $(cat "$tmp/out")"
echo "ok"
