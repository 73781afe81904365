#!/usr/bin/python3
"""The peers of bench_conv.c, same arguments and JSON keys:
  torch_conv.py conv W H CIN COUT K STRIDE PAD BATCH [REPEATS=20] [THREADS=2]
      torch.nn.Conv2d (float32, NCHW) forward, then backward (input and
      kernel/bias gradients) of <dy, y>;
  torch_conv.py node S C BATCH [REPEATS=5] [THREADS=2]
      torchdiffeq.odeint of dz/dt = conv(tanh(conv(z))) over [0, 1], dopri5 at
      rtol = atol = 1e-4, forward only (no_grad), with its NFE.
Median wall times in ms after a warm-up."""
import json
import statistics
import sys
import time

import torch


def conv(args):
    W, H, cin, cout, k, stride, pad, batch = map(int, args[:8])
    reps = int(args[8]) if len(args) > 8 else 20
    torch.manual_seed(1)
    layer = torch.nn.Conv2d(cin, cout, k, stride=stride, padding=pad)
    x = torch.randn(batch, cin, H, W, requires_grad=True)
    fw, bw = [], []
    for r in range(-2, reps):
        layer.zero_grad()
        x.grad = None
        t0 = time.perf_counter()
        y = layer(x)
        t1 = time.perf_counter()
        dy = torch.ones_like(y) if r < -1 else dy
        y.backward(dy)
        t2 = time.perf_counter()
        if r >= 0:
            fw.append(1e3 * (t1 - t0))
            bw.append(1e3 * (t2 - t1))
    return {"impl": "torch", "op": "conv2d", "W": W, "H": H, "cin": cin, "cout": cout,
            "kernel": k, "stride": stride, "padding": pad, "batch": batch,
            "forward_ms": statistics.median(fw), "backward_ms": statistics.median(bw)}


def node(args):
    import torchdiffeq

    S, C, batch = map(int, args[:3])
    reps = int(args[3]) if len(args) > 3 else 5
    torch.manual_seed(1)

    class F(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.c1 = torch.nn.Conv2d(C, C, 3, padding=1)
            self.c2 = torch.nn.Conv2d(C, C, 3, padding=1)
            self.nfe = 0

        def forward(self, t, z):
            self.nfe += 1
            return self.c2(torch.tanh(self.c1(z)))

    f = F()
    z0 = torch.randn(batch, C, S, S)
    ts = torch.tensor([0.0, 1.0])
    times = []
    with torch.no_grad():
        for r in range(-1, reps):
            f.nfe = 0
            t0 = time.perf_counter()
            torchdiffeq.odeint(f, z0, ts, method="dopri5", rtol=1e-4, atol=1e-4)
            if r >= 0:
                times.append(1e3 * (time.perf_counter() - t0))
    return {"impl": "torchdiffeq", "op": "conv_node_forward", "size": S, "channels": C,
            "batch": batch, "nfe": f.nfe, "forward_ms": statistics.median(times)}


if __name__ == "__main__":
    mode, rest = sys.argv[1], sys.argv[2:]
    nargs = 9 if mode == "conv" else 4
    threads = int(rest[nargs]) if len(rest) > nargs else 2
    torch.set_num_threads(threads)
    print(json.dumps(conv(rest) if mode == "conv" else node(rest)))
