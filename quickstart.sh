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
echo "== main job: train a Fashion-MNIST classifier (examples/mlp-fashion-mnist.json)"
./nde plugins --kind backend
./nde train examples/mlp-fashion-mnist.json
