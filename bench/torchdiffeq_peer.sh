# Sourced by the bench scripts that compare with PyTorch: installs the peers
# when they are missing, python3-torch from apt and torchdiffeq from pip
# (never committed, never needed by the build or the tests).
/usr/bin/python3 -c 'import torch' 2>/dev/null || apt-get install -y -q python3-torch >/dev/null
/usr/bin/python3 -c 'import torchdiffeq' 2>/dev/null ||
  /usr/bin/python3 -m pip install -q --break-system-packages --no-deps torchdiffeq
