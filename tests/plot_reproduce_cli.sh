#!/bin/sh
# Run folders of `nde reproduce`: a tiny fig-5.2 and table-5.3 write
# summary.json, table.txt and a folder per row (and seed) with metrics,
# checkpoint and the fitted trajectory (the model's output at the save
# points, whose mse is the reported test loss); built with PLplot the loss,
# NFE and fit figures are valid non-blank PNGs that `nde plot` redraws byte
# for byte from the folder; a row's missing metrics file is named.
set -u
nde=$(cd "${NDE_TEST_BUILDDIR:-.}" && pwd)/nde
src=$(cd "${srcdir:-.}" && pwd)
NDE_EXAMPLES=$src/examples
export NDE_EXAMPLES
fail() { echo "FAIL: $*"; exit 1; }
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
plplot=${NDE_TEST_PLPLOT:-yes}

out=$("$nde" reproduce fig-5.2 --steps 20 --seeds 0 --out "$tmp/fig" --json 2>"$tmp/err") \
  || fail "fig-5.2 exit status $?: $(cat "$tmp/err")"
tail -n 1 "$tmp/err" | grep -qx "results in $tmp/fig/" || fail "stderr: $(cat "$tmp/err")"
python3 - "$out" "$tmp/fig" "$plplot" <<'PY' || fail "fig-5.2 run folder"
import json, os, sys
o, d, plplot = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3] == "yes"
assert o["run_dir"] == d, o["run_dir"]
want = ["loss.png", "nfe.png", "trajectories.png"] if plplot else []
assert o["figures"] == want, o["figures"]
s = json.load(open(d + "/summary.json"))
assert s["command"] == "reproduce" and s["name"] == "fig-5.2", s
runs = [r["runs"][0] for r in s["rows"]]  # one seed: one run per row
assert [r["run_dir"] for r in runs] == ["fig-5.2-vanilla/seed-0", "fig-5.2-regularized/seed-0"], runs
table = open(d + "/table.txt").read()
assert table.startswith("fig-5.2: ") and "ernode+srnode" in table and "676.2" in table, table
for r in runs:
    run = os.path.join(d, r["run_dir"])
    assert os.path.getsize(run + "/checkpoint.safetensors") > 0, run
    lines = [json.loads(l) for l in open(run + "/metrics.jsonl")]
    assert [l["step"] for l in lines if "loss" in l] == list(range(1, 21)), run
    assert any("test_loss" in l for l in lines), run
    t = json.load(open(run + "/trajectory.json"))
    assert t["layout"] == "states" and t["state_size"] == 2 and len(t["t"]) == 30, t.keys()
    assert len(t["target"]) == 60 and len(t["output"]) == 60, run
    # the spiral starts at u0 = (2, 0), and so does the model's trajectory
    assert t["target"][:2] == [2.0, 0.0] and t["output"][:2] == [2.0, 0.0], t["output"][:2]
    mse = sum((a - b) ** 2 for a, b in zip(t["output"], t["target"])) / 60
    assert abs(mse - r["loss"]) <= 1e-9 * max(1.0, r["loss"]), (mse, r["loss"])
PY

"$nde" reproduce table-5.3 --steps 2 --seeds 5,35 --rows ERNSDE --set data.trajectories=1000 \
  --out "$tmp/sde" >"$tmp/table" 2>"$tmp/err" || fail "table-5.3 exit status $?: $(cat "$tmp/err")"
cmp -s "$tmp/table" "$tmp/sde/table.txt" || fail "table.txt differs from the printed table"
python3 - "$tmp/sde" <<'PY' || fail "table-5.3 run folder"
import json, os, sys
d = sys.argv[1]
s = json.load(open(d + "/summary.json"))
(row,) = s["rows"]
assert [r["run_dir"] for r in row["runs"]] == ["table-5.3-ernsde/seed-5", "table-5.3-ernsde/seed-35"], row
for r in row["runs"]:
    assert os.path.getsize(os.path.join(d, r["run_dir"], "metrics.jsonl")) > 0, r
t = json.load(open(d + "/table-5.3-ernsde/seed-5/trajectory.json"))  # the first seed's fit
assert not os.path.exists(d + "/table-5.3-ernsde/seed-35/trajectory.json")
assert t["layout"] == "mean_var" and t["state_size"] == 2 and len(t["output"]) == 120, t.keys()
assert all(v >= 0 for j in range(30) for v in t["output"][4 * j + 2:4 * j + 4]), "a negative variance"
mse = sum((a - b) ** 2 for a, b in zip(t["output"], t["target"])) / 120
loss = row["runs"][0]["loss"]
assert abs(mse - loss) <= 1e-5 * max(1.0, loss), (mse, loss)  # float32
PY

if [ "$plplot" = no ]; then
  grep -q "built without PLplot" "$tmp/err" || fail "no note that figures were not drawn"
  ls "$tmp/fig" "$tmp/sde" | grep -q '\.png$' && fail "figures without PLplot"
  echo ok
  exit 0
fi
python3 "$src/tests/png_check.py" 960 600 "$tmp/fig/loss.png" "$tmp/fig/nfe.png" \
  "$tmp/sde/loss.png" "$tmp/sde/nfe.png" || fail "bad loss/NFE PNG"
python3 "$src/tests/png_check.py" 0 600 "$tmp/fig/trajectories.png" "$tmp/sde/sde-fit.png" \
  || fail "bad fit PNG"
test ! -e "$tmp/fig/sde-fit.png" && test ! -e "$tmp/sde/trajectories.png" || fail "the wrong fit figure"
for d in fig sde; do
  mkdir "$tmp/$d.first" && cp "$tmp/$d"/*.png "$tmp/$d.first/" && rm "$tmp/$d"/*.png
  "$nde" plot "$tmp/$d" >/dev/null || fail "nde plot $d"
  for f in "$tmp/$d.first"/*.png; do
    cmp -s "$f" "$tmp/$d/$(basename "$f")" || fail "nde plot drew another $(basename "$f")"
  done
done
rm "$tmp/sde/table-5.3-ernsde/seed-35/metrics.jsonl"
"$nde" plot "$tmp/sde" 2>"$tmp/err" && fail "a missing metrics file should fail"
grep -q "$tmp/sde/table-5.3-ernsde/seed-35/metrics.jsonl: cannot read" "$tmp/err" \
  || fail "missing metrics: $(cat "$tmp/err")"
echo '{"layout": "states", "state_size": 2, "t": [0, 1]}' > "$tmp/fig/fig-5.2-vanilla/seed-0/trajectory.json"
"$nde" plot "$tmp/fig" 2>"$tmp/err" && fail "a malformed trajectory should fail"
grep -q "$tmp/fig/fig-5.2-vanilla/seed-0/trajectory.json: \"target\"" "$tmp/err" \
  || fail "bad trajectory: $(cat "$tmp/err")"
echo ok
