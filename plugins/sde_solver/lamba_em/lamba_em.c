/*
 * lamba_em: Euler–Maruyama with an embedded error estimate for adaptive
 * steps, for every noise type (diagonal, scalar, general), in the style of
 * H. Lamba, "An adaptive timestepping algorithm for stochastic differential
 * equations", J. Comput. Appl. Math. 161(2), 2003 (the estimate
 * StochasticDiffEq.jl's LambaEM uses).
 *
 * The step is Euler–Maruyama, u₁ = u + h·f(t, u) + g(t, u)·ΔW. The error
 * estimate is its difference from the trapezoidal (Heun-type) corrector that
 * re-evaluates f and g at the end point:
 *   err = (h/2)·(f(t + h, u₁) − f(t, u)) + ½·(g(t + h, u₁) − g(t, u))·ΔW,
 * the drift part O(h²) and the diffusion part O(h) where the solution is
 * smooth, so the controller shrinks steps where the noise amplitude changes
 * fast. Only products g·ΔW appear, so it needs no iterated integrals of
 * distinct Wiener processes: that is why it serves general (matrix) noise.
 * With fixed steps it is Euler–Maruyama (one f and one g per step).
 * No reverse step (yet): the pullback of the estimate through the end-point
 * evaluations is not written, so sensitivities refuse it; differentiate
 * Euler–Maruyama with fixed steps instead.
 */
#include <math.h>

#include <nde/backend.h>
#include <nde/sde.h>

static nde_status lamba_step(const nde_sde_rhs *rhs, nde_sde_step *st) {
  const nde_array *u0 = st->u0;
  const nde_backend_ops *ops = u0->backend->ops;
  void *bx = u0->backend->ctx;
  size_t n = u0->size;
  double h = st->dt;
  NDE_TRY(nde_sde_em_step(rhs, st));
  if (!st->err)
    return NDE_OK;
  /* the end point's f and g, and their differences from the start's */
  NDE_TRY(rhs->drift(rhs->ctx, st->t + h, st->u1, &st->k[1]));
  st->nf = 2;
  NDE_TRY(rhs->diffusion(rhs->ctx, st->t + h, st->u1, &st->g[1]));
  st->ng = 2;
  ops->axpy(bx, u0->dtype, st->g[1].size, -1.0, st->g[0].data, st->g[1].data);
  nde_sde_noise_times(rhs, u0, &st->g[1], st->dW, &st->scratch[1]);
  const void *e[3] = {st->k[1].data, st->k[0].data, st->scratch[1].data};
  double ce[3] = {0.5 * h, -0.5 * h, 0.5};
  ops->lincomb(bx, u0->dtype, n, 3, ce, e, 0.0, st->err->data);
  return NDE_OK;
}

NDE_PLUGIN_DEFINE(sde_solver, lamba_em, .tableau = NULL, .strong_order = 0.5, .weak_order = 1.0,
                  .needs_dz = 0, .adaptive = 1, .stiffness = 0, .stages = 2, .delta = 1,
                  .step = lamba_step, .step_reverse = NULL, .general_noise = 1);
