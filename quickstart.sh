#!/usr/bin/env bash
# Quick start: install what is missing (Debian), build nde in this folder,
# and run the main job. Re-running it skips the steps already done.
set -euo pipefail
cd "$(dirname "$0")"

missing=$(for p in $(cat .ci/debian-packages); do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || echo "$p"
done)
if [ -n "$missing" ]; then
  SUDO=
  [ "$(id -u)" = 0 ] || SUDO=sudo
  echo "== installing: $(echo $missing)"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
fi

if [ ! -f Makefile ]; then
  echo "== configuring"
  autoreconf -fi >/dev/null
  ./configure -q
fi
echo "== building"
make -j"$(nproc)" >/dev/null

export NDE_PLUGIN_PATH="$PWD/_plugins"
echo "== main job: fit the spiral ODE with a neural ODE (thesis Fig. 5.2), vanilla vs"
echo "   error+stiffness regularized (ERNODE + SRNODE), same seed; NFE = right-hand-side"
echo "   evaluations of one prediction (the cost the regularizers cut)"
field() { sed -n "s/^ *\"$1\": \([^,]*\),*$/\1/p"; }
printf '%-12s %10s %14s %10s\n' model test_nfe fit_loss train_s
for m in vanilla regularized; do
  out=$(./nde train "examples/paper/fig-5.2-$m.json" --set train.steps=3000 --json)
  printf '%-12s %10.0f %14.3e %10.2f\n' "$m" "$(echo "$out" | field test_nfe)" \
    "$(echo "$out" | field test_loss)" "$(echo "$out" | field wall_time)"
done

echo
echo "== and a neural SDE: the stochastic spiral (thesis Table 5.3), 100 trajectories per"
echo "   iteration as one system, vanilla vs error- (ERNSDE) and stiffness-regularized (SRNSDE);"
echo "   NFE = drift evaluations of one prediction, 250 AdaBelief steps each"
OMP_NUM_THREADS=1 ./nde reproduce table-5.3 --seeds 5 | sed -n '/^model/,$p'
