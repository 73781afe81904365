#!/bin/sh
# Spiral SDE, 100 trajectories, adaptive: nde (SOSRI, SOSRI2) vs torchsde 0.2.6 (srk), each
# measured against a fine solution on its own fixed Brownian path; time to reach the same error.
# Run from a configured and built nde tree:  sh bench/sde/run.sh [BUILDDIR] > /tmp/sde-bench.md
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
build=${1:-$top}
# the peer: torch from Debian, torchsde (and its pure-Python dependency) from PyPI
if ! /usr/bin/python3 -c "import torch, scipy" 2>/dev/null; then
  apt-get install -y python3-torch python3-scipy > /dev/null
fi
if ! /usr/bin/python3 -c "import torchsde" 2>/dev/null; then
  /usr/bin/python3 -m pip install -q --break-system-packages --no-deps torchsde==0.2.6 trampoline==0.1.2
fi
out=$(mktemp -d "${TMPDIR:-/tmp}/nde-bench-sde.XXXXXX")
trap 'rm -rf "$out"' EXIT
${CC:-cc} -O2 -std=c11 -I"$top/include" -I"$build/include" "$here/spiral_wp.c" -o "$out/wp" \
  -L"$build/core/.libs" -lnde -lm -Wl,-rpath,"$build/core/.libs"
echo "Machine: $(uname -m), $(nproc) cores, $(. /etc/os-release && echo "$PRETTY_NAME"); $(date -u +%Y-%m-%d)"
echo "Peer: torchsde $(/usr/bin/python3 -c 'import torchsde; print(torchsde.__version__)'), torch $(/usr/bin/python3 -c 'import torch; print(torch.__version__)')"
echo
OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 NDE_PLUGIN_PATH="$build/_plugins" "$out/wp" > "$out/rows.jsonl"
OMP_NUM_THREADS=1 /usr/bin/python3 "$here/torchsde_spiral.py" >> "$out/rows.jsonl"
/usr/bin/python3 "$here/compare.py" "$out/rows.jsonl"
