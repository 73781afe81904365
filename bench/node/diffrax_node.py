"""diffrax (JAX) peer of bench_node.c: the same neural ODEs, parameters,
inputs and cotangents (read from bench_node's DUMP folder). The first call
is jit compilation + run; it is reported separately (compile_s = first call
minus a steady call); timings are of the compiled function after warm-up.

Usage: diffrax_node.py CASE DTYPE SOLVER TOL MODE SENS REPEATS WARMUP DUMP [DEVICE]
  SOLVER dopri5 | tsit5; MODE forward | backward; SENS direct (diffrax's
  default RecursiveCheckpointAdjoint) | adjoint (BacksolveAdjoint); DEVICE
  cpu | gpu (refused unless JAX's default backend is that one; on a GPU
  float32 matmuls run at "highest" precision, i.e. without TF32, like nde's
  cuda backend by default). Without DEVICE, JAX's default backend.
NFE: diffrax reports steps, not evaluations; nfe_forward is derived from
them (FSAL methods: 6 per step (accepted or rejected) + 1 at t0) and marked
"derived". There is no evaluation for the initial step: diffrax 0.7.2's
diffeqsolve(dt0=None) starts an ODE at dt0 = 0.01 (it wraps the terms before
the controller's init, whose Hairer heuristic only runs for a bare
ODETerm); counting f's calls with a jax.debug.callback gives 6·steps + 1.
Controller (the "controller" field): PIDController(rtol, atol) with its
defaults, an I controller (pcoeff 0, icoeff 1: dt_new = dt·0.9·E^(-1/5),
factor in [0.2, 10], never below 1 after an accepted step), which nde runs
with the solver option "controller": "i"; nde's default is Hairer's PI
controller (beta1 0.17, beta2 0.04). Dopri5's error estimate is Shampine's
embedded pair, exactly 2/3 of the Hairer one nde's dopri5 uses, so diffrax
at tolerance tol controls the error as nde does at 1.5·tol (docs/ode.md,
"dopri5 against diffrax").
"""
import json
import statistics
import sys
import time

import numpy as np

DTYPE = sys.argv[2]
import jax  # noqa: E402

if DTYPE == "float64":
    jax.config.update("jax_enable_x64", True)
DEVICE = sys.argv[10] if len(sys.argv) > 10 else jax.default_backend()
if jax.default_backend() != DEVICE:
    sys.exit(f"diffrax_node.py: JAX runs on {jax.default_backend()}, not {DEVICE}")
if DEVICE == "gpu":
    jax.config.update("jax_default_matmul_precision", "highest")
import diffrax  # noqa: E402
import jax.numpy as jnp  # noqa: E402


def load(dump, name):
    return np.fromfile(f"{dump}/{name}", dtype=np.float64)


def dense(flat, layout, prefix, dt):
    w = b = None
    for name, off, rows, cols in layout:
        if name == prefix + ".weight":
            w = flat[off:off + rows * cols].reshape(cols, rows).T.copy()
        if name == prefix + ".bias":
            b = flat[off:off + rows].copy()
    return jnp.asarray(w, dt), jnp.asarray(b, dt)


def main():
    case, dtype, solver, tol, mode, sens = sys.argv[1:7]
    reps, warmup, dump = int(sys.argv[7]), int(sys.argv[8]), sys.argv[9]
    tol = float(tol)
    dt = jnp.float32 if dtype == "float32" else jnp.float64
    layout = []
    for line in open(f"{dump}/layout.txt"):
        name, off, rows, cols = line.split()
        layout.append((name, int(off), int(rows), int(cols)))
    flat = load(dump, "params.f64")
    mnist = case == "mnist"
    n, batch = (784, 512) if mnist else (2, 1)
    x = jnp.asarray(load(dump, "x.f64").reshape(batch, n), dt)
    if mnist:
        params = (dense(flat, layout, "model.dynamics.chain[1]", dt),
                  dense(flat, layout, "model.dynamics.chain[3]", dt))
        dy = jnp.asarray(load(dump, "dy.f64").reshape(batch, n), dt)

        def f(t, u, p):
            (w1, b1), (w2, b2) = p
            tc = jnp.full((u.shape[0], 1), t, u.dtype)
            z = jnp.tanh(jnp.concatenate([u, tc], 1) @ w1.T + b1)
            return jnp.tanh(jnp.concatenate([z, tc], 1) @ w2.T + b2)

        saveat, t1 = diffrax.SaveAt(t1=True), 1.0
    else:
        params = (dense(flat, layout, "model.dynamics.chain[1]", dt),
                  dense(flat, layout, "model.dynamics.chain[2]", dt))

        def f(t, u, p):
            (w1, b1), (w2, b2) = p
            return jnp.tanh(u ** 3 @ w1.T + b1) @ w2.T + b2

        saveat, t1 = diffrax.SaveAt(ts=jnp.linspace(0, 1.5, 30, dtype=dt)), 1.5
        target = jnp.broadcast_to(x, (30, batch, n))
    method = {"dopri5": diffrax.Dopri5, "tsit5": diffrax.Tsit5}[solver]()
    adjoint = diffrax.BacksolveAdjoint() if sens == "adjoint" else diffrax.RecursiveCheckpointAdjoint()
    ctrl = diffrax.PIDController(rtol=tol, atol=tol)

    def solve(p):
        return diffrax.diffeqsolve(diffrax.ODETerm(f), method, 0.0, t1, None, x, args=p,
                                   saveat=saveat, stepsize_controller=ctrl, adjoint=adjoint,
                                   max_steps=100000)

    if mode == "forward":
        run = jax.jit(lambda p: solve(p))
    else:
        def loss(p):
            sol = solve(p)
            if mnist:
                return jnp.sum(sol.ys[-1] * dy), sol.stats["num_steps"]
            return jnp.mean((sol.ys - target) ** 2), sol.stats["num_steps"]

        grad = jax.grad(loss, has_aux=True)

        @jax.jit
        def run(p):  # one training step: gradient and an SGD update with lr 0
            g, steps = grad(p)
            return jax.tree_util.tree_map(lambda a, b: a - 0.0 * b, p, g), steps

    def once():
        out = run(params)
        jax.block_until_ready(out)
        return out

    t0 = time.perf_counter()
    out = once()
    first = time.perf_counter() - t0
    for _ in range(warmup):
        out = once()
    inner = 1 if mnist else 20
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        for _ in range(inner):
            out = once()
        times.append((time.perf_counter() - t0) / inner)
    steps = int(out.stats["num_steps"]) if mode == "forward" else int(out[1])
    t = min(times)
    print(json.dumps({"impl": "diffrax", "device": DEVICE, "version": diffrax.__version__, "jax": jax.__version__,
                      "case": case, "dtype": dtype, "solver": solver, "tol": tol, "mode": mode,
                      "sensitivity": sens if mode == "backward" else "-", "batch": batch,
                      "time_s": t, "median_s": statistics.median(times), "first_s": first, "compile_s": first - t, "steps": steps,
                      "nfe_forward": 6 * steps + 1, "nfe_derived": True,
                      "controller": "i", "dt0": 0.01}))


if __name__ == "__main__":
    main()
