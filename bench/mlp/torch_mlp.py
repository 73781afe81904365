"""PyTorch (CPU) peer of bench_mlp.c: the same MLP, batch, loss and SGD step.

Run with /usr/bin/python3 (Debian's python3-torch). Prints one JSON object
like bench_mlp: median seconds per training step over REPEATS blocks of
STEPS steps after WARMUP steps, with torch.set_num_threads(THREADS).
"""
import json
import sys
import time

import torch

steps = int(sys.argv[1]) if len(sys.argv) > 1 else 50
repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 7
warmup = int(sys.argv[3]) if len(sys.argv) > 3 else 10
threads = int(sys.argv[4]) if len(sys.argv) > 4 else 2
torch.set_num_threads(threads)
torch.manual_seed(0)

B, IN, K = 512, 784, 10


class Mlp(torch.nn.Module):
    """tanh(W1 [x; t] + B1) -> tanh(W2 [z; t] + B2) -> W3 f + B3 (thesis 5.3.1.1)."""

    def __init__(self):
        super().__init__()
        self.l1 = torch.nn.Linear(IN + 1, 100)
        self.l2 = torch.nn.Linear(100 + 1, IN)
        self.l3 = torch.nn.Linear(IN, K)

    def forward(self, x, t):
        tt = torch.full((x.shape[0], 1), t)
        z = torch.tanh(self.l1(torch.cat([x, tt], dim=1)))
        f = torch.tanh(self.l2(torch.cat([z, tt], dim=1)))
        return self.l3(f)


model = Mlp()
opt = torch.optim.SGD(model.parameters(), lr=0.01)
x = torch.rand(B, IN)
y = torch.arange(B) % K
loss_fn = torch.nn.CrossEntropyLoss()
times = []
cpu = []
loss = None
for s in range(warmup + steps * repeats):
    if s >= warmup and (s - warmup) % steps == 0:
        t0 = time.perf_counter()
        c0 = time.process_time()
    opt.zero_grad(set_to_none=False)
    loss = loss_fn(model(x, 0.0), y)
    loss.backward()
    opt.step()
    if s >= warmup and (s - warmup) % steps == steps - 1:
        times.append((time.perf_counter() - t0) / steps)
        cpu.append((time.process_time() - c0) / steps)
times.sort()
cpu.sort()
print(json.dumps({"impl": "pytorch " + torch.__version__, "batch": B,
                  "params": sum(p.numel() for p in model.parameters()),
                  "median_step_s": times[len(times) // 2], "min_step_s": times[0],
                  "max_step_s": times[-1], "median_cpu_step_s": cpu[len(cpu) // 2],
                  "final_loss": float(loss)}))
