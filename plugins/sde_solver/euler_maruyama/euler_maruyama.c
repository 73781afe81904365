/*
 * Euler–Maruyama: u₁ = u + h·f(t, u) + g(t, u) ⊙ ΔW. Strong order 1/2, weak
 * order 1 for Itô SDEs (Kloeden & Platen, Numerical Solution of SDEs, §10.2).
 * Fixed steps only (no error estimate). Diagonal, scalar and general noise
 * (g(t, u) an n × m matrix per column: u₁ = u + h·f + g·ΔW).
 */
#include <math.h>

#include <nde/backend.h>
#include <nde/sde.h>

static nde_status em_step(const nde_sde_rhs *rhs, nde_sde_step *st) {
  const nde_array *u0 = st->u0;
  const nde_backend_ops *ops = u0->backend->ops;
  void *bx = u0->backend->ctx;
  size_t n = u0->size;
  st->nf = st->ng = 0;
  NDE_TRY(rhs->drift(rhs->ctx, st->t, u0, &st->k[0]));
  st->nf = 1;
  NDE_TRY(rhs->diffusion(rhs->ctx, st->t, u0, &st->g[0]));
  st->ng = 1;
  /* g(t, u)·ΔW (general noise: n × m times m per column) into scratch */
  nde_sde_noise_times(rhs, u0, &st->g[0], st->dW, &st->scratch[0]);
  const void *x[3] = {u0->data, st->k[0].data, st->scratch[0].data};
  double c[3] = {1.0, st->dt, 1.0};
  ops->lincomb(bx, u0->dtype, n, 3, c, x, 0.0, st->u1->data);
  st->eigen_est = (double)NAN;
  return NDE_OK;
}

/* Reverse mode: Euler–Maruyama is the one-stage SRI tableau of the core; general noise has its own pullback there. */
static nde_status em_step_reverse(const nde_sde_rhs *rhs, nde_sde_reverse *rev) {
  if (rhs->noise == NDE_NOISE_GENERAL)
    return nde_em_general_step_reverse(rhs, rev);
  return nde_sri_step_reverse(nde_sri_tableau_euler_maruyama(), rhs, rev);
}

NDE_PLUGIN_DEFINE(sde_solver, euler_maruyama, .tableau = NULL, .strong_order = 0.5,
                  .weak_order = 1.0, .needs_dz = 0, .adaptive = 0, .stiffness = 0, .stages = 1,
                  .delta = 0, .step = em_step, .step_reverse = em_step_reverse,
                  .general_noise = 1);
