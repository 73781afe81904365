"""diffrax (JAX) side of the neural spiral SDE benchmark (bench/sde/run_neural.sh).

diffrax has no Itô SRI methods; its adaptive SDE solvers are Stratonovich. So it solves
the Stratonovich form of the same Itô SDE: with diagonal noise du_i = f_i dt + g_i dW_i
and g(u) = W3·u + b3, the Itô–Stratonovich drift correction is
−½ Σ_j g_j ∂g_i/∂u_j δ_ij = −½ (W3)_ii g_i, so
    du = (f(u) − ½ diag(W3) ⊙ g(u)) dt + g(u) ∘ dW
has the same pathwise solution. Solver: SPaRK (diffrax's recommended adaptive solver
for general noise; embedded error estimate) with a PIDController, on a
VirtualBrownianTree with space-time Lévy area (tol 2^-14), 100 trajectories as one
(100, 2) state (flattened to 200 components for the diagonal operator).

Prints JSON lines like torchsde_neural_spiral.py:
  check    f (the Itô drift, before the correction) and g at (2, 0), (0.5, −1)
  floor    one jitted evaluation of corrected drift + diffusion on the (100, 2) state
  forward  SPaRK adaptive (tolerance sweep): median time of the jitted solve
           (compile reported separately as compile_s), error at t = 1 against SPaRK
           with 2^-13 fixed steps on the same tree; steps (accepted/rejected).
           diffrax does not count evaluations; SPaRK's vector-field calls per step
           are not reported.
  train    one training step: jax.grad of the loss through diffeqsolve (default
           RecursiveCheckpointAdjoint, i.e. discrete reverse mode) with 30 save points.
Usage: diffrax_neural_spiral.py DATADIR [float32|float64] [SEED] [QUICK]
"""
import json
import os
import statistics
import sys
import time

DTYPE = sys.argv[2] if len(sys.argv) > 2 else "float32"
import jax  # noqa: E402

if DTYPE == "float64":
    jax.config.update("jax_enable_x64", True)
import diffrax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import lineax  # noqa: E402

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import neural_spiral_data  # noqa: E402

K = 100
# the clock of every timing: the process's CPU time (default, the VM is shared) or, with
# BENCH_CLOCK=wall, wall-clock time (the same variable as bench_neural_sde.c reads)
clock = time.perf_counter if os.environ.get("BENCH_CLOCK") == "wall" else time.process_time


def main():
    folder = sys.argv[1]
    seed = int(sys.argv[3]) if len(sys.argv) > 3 else 2026
    quick = len(sys.argv) > 4 and sys.argv[4] == "1"
    dt = jnp.float32 if DTYPE == "float32" else jnp.float64
    p, tmean, tvar = neural_spiral_data.read(folder)
    params = {k: jnp.asarray(v, dt) for k, v in p.items()}
    tmean, tvar = jnp.asarray(tmean, dt), jnp.asarray(tvar, dt)

    def f_ito(y, q):  # y: (K, 2)
        return jnp.tanh((y ** 3) @ q["W1"].T + q["b1"]) @ q["W2"].T + q["b2"]

    def g(y, q):
        return y @ q["W3"].T + q["b3"]

    def drift(t, yf, q):  # Stratonovich drift on the flat state
        y = yf.reshape(K, 2)
        return (f_ito(y, q) - 0.5 * jnp.diagonal(q["W3"]) * g(y, q)).reshape(-1)

    def diffusion(t, yf, q):
        return lineax.DiagonalLinearOperator(g(yf.reshape(K, 2), q).reshape(-1))

    states = jnp.asarray([[2.0, 0.0], [0.5, -1.0]], dt)
    print(json.dumps({"lib": "diffrax", "kind": "check",
                      "f": [float(v) for v in f_ito(states, params).reshape(-1)],
                      "g": [float(v) for v in g(states, params).reshape(-1)]}))
    y0 = jnp.tile(jnp.asarray([2.0, 0.0], dt), K)
    yr = jax.random.uniform(jax.random.PRNGKey(1), (2 * K,), dt, -1.0, 1.0)
    fg = jax.jit(lambda y, q: (drift(0.0, y, q), diffusion(0.0, y, q).diagonal))
    jax.block_until_ready(fg(yr, params))
    reps = 2000
    t0 = clock()
    for _ in range(reps):
        out = fg(yr, params)
    jax.block_until_ready(out)
    feval = (clock() - t0) / reps
    print(json.dumps({"lib": "diffrax", "kind": "floor", "dtype": DTYPE, "f_plus_g_seconds": feval,
                      "version": diffrax.__version__, "jax": jax.__version__}))
    sys.stdout.flush()

    bm = diffrax.VirtualBrownianTree(0.0, 1.0, tol=2.0 ** -14, shape=(2 * K,),
                                     key=jax.random.PRNGKey(seed),
                                     levy_area=diffrax.SpaceTimeLevyArea)
    terms = diffrax.MultiTerm(diffrax.ODETerm(drift), diffrax.ControlTerm(diffusion, bm))
    solver = diffrax.SPaRK()

    def solve(q, ctrl, saveat, dt0, max_steps=16384):
        return diffrax.diffeqsolve(terms, solver, 0.0, 1.0, dt0, y0, args=q, saveat=saveat,
                                   stepsize_controller=ctrl, max_steps=max_steps)

    fine = jax.jit(lambda q: solve(q, diffrax.ConstantStepSize(), diffrax.SaveAt(t1=True),
                                   2.0 ** -13).ys[-1])(params)
    fine = fine.reshape(K, 2)

    def timed(fn, n):
        ts = []
        for _ in range(n):
            t0 = clock()
            out = fn()
            jax.block_until_ready(out)
            ts.append(clock() - t0)
        return statistics.median(ts), min(ts), out

    tols = [1.0, 0.3, 0.1] if quick else [1.0, 0.3, 0.1, 3e-2, 1e-2, 3e-3]
    for tol in tols:
        ctrl = diffrax.PIDController(rtol=tol, atol=tol, dtmin=1e-5)
        run = jax.jit(lambda q: solve(q, ctrl, diffrax.SaveAt(t1=True), 0.01))
        t0 = clock()
        jax.block_until_ready(run(params))
        first = clock() - t0
        med, best, sol = timed(lambda: run(params), 5)
        out = sol.ys[-1].reshape(K, 2)
        err = float(jnp.mean(jnp.max(jnp.abs(out - fine), axis=1)))
        print(json.dumps({"lib": "diffrax", "kind": "forward", "dtype": DTYPE, "method": "SPaRK",
                          "tol": tol, "seconds": med, "best_seconds": best, "compile_s": first - med,
                          "error": err, "steps": int(sol.stats["num_steps"]),
                          "accepted": int(sol.stats["num_accepted_steps"]),
                          "rejected": int(sol.stats["num_rejected_steps"])}))
        sys.stdout.flush()

    ts30 = jnp.linspace(0.0, 1.0, 30, dtype=dt)
    for tol in ([0.3] if quick else [0.3, 0.1, 3e-2, 1e-2]):
        ctrl = diffrax.PIDController(rtol=tol, atol=tol, dtmin=1e-5)

        def loss(q):
            sol = solve(q, ctrl, diffrax.SaveAt(ts=ts30), 0.01, max_steps=4096)
            ys = sol.ys.reshape(30, K, 2)
            mean = ys.mean(axis=1)
            var = ys.var(axis=1, ddof=1)
            return jnp.mean((mean - tmean) ** 2) + jnp.mean((var - tvar) ** 2), sol.stats["num_steps"]

        step = jax.jit(jax.value_and_grad(loss, has_aux=True))
        t0 = clock()
        jax.block_until_ready(step(params))
        first = clock() - t0
        med, best, ((lv, steps), gr) = timed(lambda: step(params), 3)
        gnorm = float(sum(float(jnp.sum(v ** 2)) for v in gr.values()) ** 0.5)
        print(json.dumps({"lib": "diffrax", "kind": "train", "dtype": DTYPE, "method": "SPaRK",
                          "tol": tol, "seconds": med, "best_seconds": best, "compile_s": first - med,
                          "steps": int(steps), "loss": float(lv), "grad_norm": gnorm}))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
