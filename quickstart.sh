#!/usr/bin/env bash
# Quick start: install what is missing (Debian), build nde in this folder,
# and run the main job. Re-running it skips the steps already done.
set -euo pipefail
cd "$(dirname "$0")"

echo "== [1/5] checking the Debian packages in .ci/debian-packages"
missing=$(for p in $(cat .ci/debian-packages); do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || echo "$p"
done)
if [ -n "$missing" ]; then
  SUDO=
  [ "$(id -u)" = 0 ] || SUDO=sudo
  echo "   installing: $(echo $missing)"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
fi

if [ ! -f Makefile ]; then
  echo "== [2/5] configuring"
  autoreconf -fi >/dev/null
  ./configure -q
else
  echo "== [2/5] configured already (rm Makefile to configure again)"
fi
echo "== [3/5] building with make -j$(nproc) (a few minutes the first time)"
make -j"$(nproc)" >/dev/null

export NDE_PLUGIN_PATH="$PWD/_plugins"
# the models are small: one thread each (idle OpenBLAS/OpenMP threads only spin)
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# A table of `nde reproduce NAME --json` under 100 columns: our mean ± std over the
# seeds, and under each row the thesis's numbers for it.
table() {
  python3 - "$1" "$2" <<'PY'
import json, math, sys
kind, o = sys.argv[1], json.load(open(sys.argv[2]))

def num(x):
    return x if isinstance(x, (int, float)) and math.isfinite(x) else None

def cell(d, key, fmt):
    m, s = num(d.get(key)), num(d.get(key + "_std"))
    if m is None:
        return "-"
    return fmt % m + ("" if s is None else "\u00b1" + fmt % s)

if kind == "ode":  # fig-5.2: the fit's mse; the thesis gives the NFE only
    loss_key, loss_head, loss_fmt = "loss", "test mse", "%.2e"
else:              # table-5.3: the thesis's form of the loss (2 x mse)
    loss_key, loss_head, loss_fmt = "loss_thesis_form", "loss", "%.4f"
row = "%-15s %15s %19s %13s %11s %17s"
print(row % ("model", "NFE", loss_head, "train s", "CPU s", "pred s"))
for r in o["rows"]:
    t = r["thesis"]
    print(row % (r["model"], cell(r, "test_nfe", "%.0f"), cell(r, loss_key, loss_fmt),
                 cell(r, "train_time", "%.1f"), cell(r, "cpu_time", "%.1f"),
                 cell(r, "prediction_time", "%.5f")))
    print(row % ("  (thesis)", cell(t, "test_nfe", "%.0f"), cell(t, loss_key, loss_fmt),
                 cell(t, "train_time", "%.1f"), "-", cell(t, "prediction_time", "%.5f")))
seeds = ", ".join(str(s) for s in o.get("seeds", []))
for r in o["rows"]:
    if "nfe_ratio" in r:
        print("ratio %s / %s, seed by seed: NFE %.2f\u00b1%.2f (thesis %.2f), test mse "
              "%.1f\u00b1%.1f"
              % (r["model"], o["rows"][0]["model"], r["nfe_ratio"], r["nfe_ratio_std"],
                 r["thesis"]["nfe_ratio"], r["loss_ratio"], r["loss_ratio_std"]))
if kind == "ode":
    n = sum(len(r["runs"]) for r in o["rows"])
    bad = ["%s seeds %s" % (r["model"], ",".join(str(x["seed"]) for x in r["runs"]
                                                 if not x["loss"] < 1e-3))
           for r in o["rows"] if any(not x["loss"] < 1e-3 for x in r["runs"])]
    ok = n - sum(1 for r in o["rows"] for x in r["runs"] if not x["loss"] < 1e-3)
    print("converged (test mse < 1e-3): %d of %d fits%s" % (ok, n, "; NOT: " + "; ".join(bad)
                                                             if bad else ""))
print("mean\u00b1std over seeds %s; %d training steps per run" % (seeds, o["rows"][0]["steps"]))
figures = ["%s/%s" % (o["run_dir"], f) for f in o.get("figures", [])]
print("figures: " + (", ".join(figures) if figures else
                     "none (nde was built without PLplot); data in %s/" % o["run_dir"]))
PY
}

legend="NFE: right-hand-side evaluations of one prediction (SDE: of the drift); train s: wall
seconds of training; CPU s: processor seconds of all threads over the run, data set-up
included; pred s: wall seconds of one prediction; (thesis): the thesis's numbers (its Julia
code and hardware), - where it gives none"

echo "== [4/5] main job: fit the spiral ODE with a neural ODE (thesis Fig. 5.2), vanilla vs"
echo "   error+stiffness regularized (ERNODE + SRNODE), 5 seeds x 2 fits of 3000 Adam steps"
./nde reproduce fig-5.2 --json >"$tmp/ode.json"
echo
table ode "$tmp/ode.json"
echo "test mse: mean squared error of the fitted trajectory against the 30 data points"
echo "$legend"

echo
echo "== [5/5] and a neural SDE: the stochastic spiral (thesis Table 5.3), 100 trajectories per"
echo "   iteration as one system, vanilla vs error- (ERNSDE) and stiffness-regularized (SRNSDE),"
echo "   2 seeds x 3 fits of 250 AdaBelief steps"
./nde reproduce table-5.3 --seeds 5,35 --json >"$tmp/sde.json"
echo
table sde "$tmp/sde.json"
echo "loss: the thesis's form, mse of the means + mse of the variances of 100 predicted"
echo "trajectories against those of 10000 simulated ones, at 30 times (2 x nde's mse)"
