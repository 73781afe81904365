/*
 * Single SDE steps outside the integrator (nde/sde_adjoint.h): one step of
 * a solver's method over a given interval of the Brownian path, exactly as
 * nde_sde_solve() takes it (same noise query and expansion, same stepper),
 * and the inverse of that step map by fixed-point iteration, which the
 * backsolve adjoint uses to walk the solution back from u(t1).
 */
#include "config.h"

#include <math.h>
#include <stdlib.h>

#include <nde/backend.h>
#include <nde/nonlinear.h>
#include <nde/sde_adjoint.h>

struct nde_sde_stepper {
  const nde_sde_solver *solver;
  nde_sde_noise noise;
  size_t n, m;
  int s;
  nde_array *arrays; /* dW, chi[3], k[s], g[s], h0[s], scratch[3], guess, image */
  int narrays;
  double *host;      /* dw[m], dz[m], expansion scratch[4n] */
  nde_array *dW, *chi[3], *k, *g, *h0, *scratch, *guess, *image;
};

void nde_sde_stepper_destroy(nde_sde_stepper **stepper) {
  if (!stepper || !*stepper)
    return;
  nde_sde_stepper *sp = *stepper;
  for (int i = 0; i < sp->narrays; ++i)
    nde_array_destroy(&sp->arrays[i]);
  free(sp->arrays);
  free(sp->host);
  free(sp);
  *stepper = NULL;
}

size_t nde_sde_stepper_bytes(const nde_sde_stepper *sp) {
  size_t b = sizeof *sp + (2 * sp->m + 4 * sp->n) * sizeof(double);
  for (int i = 0; i < sp->narrays; ++i)
    b += nde_array_bytes(&sp->arrays[i]);
  return b;
}

nde_status nde_sde_stepper_create(const nde_sde_solver *solver, nde_sde_noise noise,
                                  const nde_array *like, nde_sde_stepper **out) {
  *out = NULL;
  const nde_sde_solver_ops *ops = solver->ops;
  if (!ops->tableau && !ops->step)
    return nde_error(NDE_EINVAL, "sde_solver '%s' has neither a tableau nor a step",
                     ops->header.name);
  if (noise == NDE_NOISE_GENERAL)
    return nde_error(NDE_EUNSUPPORTED, "sde_solver '%s': single steps for the SDE adjoints "
                     "support diagonal and scalar noise only", ops->header.name);
  nde_sde_stepper *sp = calloc(1, sizeof *sp);
  if (!sp)
    return nde_error(NDE_ENOMEM, "out of memory for an SDE stepper");
  sp->solver = solver;
  sp->noise = noise;
  sp->n = like->size;
  sp->m = nde_sde_noise_dim(noise, like);
  sp->s = ops->stages;
  int total = 4 + 3 * sp->s + 3 + 2;
  sp->arrays = calloc((size_t)total, sizeof *sp->arrays);
  sp->host = malloc((2 * sp->m + 4 * sp->n) * sizeof *sp->host);
  nde_status st = NDE_OK;
  if (!sp->arrays || !sp->host)
    st = nde_error(NDE_ENOMEM, "out of memory for an SDE stepper");
  for (int i = 0; st == NDE_OK && i < total; ++i)
    if ((st = nde_array_create(like->backend, like->dtype, like->ndim, like->shape,
                               &sp->arrays[i])) == NDE_OK)
      sp->narrays++;
  if (st) {
    nde_sde_stepper_destroy(&sp);
    return st;
  }
  nde_array *a = sp->arrays;
  sp->dW = a;
  for (int i = 0; i < 3; ++i)
    sp->chi[i] = a + 1 + i;
  sp->k = a + 4;
  sp->g = sp->k + sp->s;
  sp->h0 = sp->g + sp->s;
  sp->scratch = sp->h0 + sp->s;
  sp->guess = sp->scratch + 3;
  sp->image = sp->guess + 1;
  *out = sp;
  return NDE_OK;
}

/* Query and expand the noise of [t, tnext] as the integrator does. */
static nde_status load_noise(nde_sde_stepper *sp, nde_brownian *path, double t, double tnext,
                             const nde_array *like) {
  int dz = sp->solver->ops->needs_dz;
  double *dw = sp->host, *z = sp->host + sp->m, *ex = sp->host + 2 * sp->m;
  NDE_TRY(nde_brownian_increment(path, t, tnext, dw, dz ? z : NULL));
  return nde_sde_noise_expand(sp->noise, like, tnext - t, dw, z, sp->dW, dz ? sp->chi[0] : NULL,
                              sp->chi[1], sp->chi[2], ex);
}

/* Φ(u0) into u1 with the loaded noise. */
static nde_status apply(nde_sde_stepper *sp, const nde_sde_rhs *rhs, double t, double h,
                        const nde_array *u0, nde_array *u1, long *nf, long *ng) {
  const nde_sde_solver_ops *ops = sp->solver->ops;
  int dz = ops->needs_dz;
  nde_sde_step step = {.t = t,
                       .dt = h,
                       .u0 = u0,
                       .u1 = u1,
                       .err = NULL,
                       .delta = 0,
                       .dW = sp->dW,
                       .chi1 = dz ? sp->chi[0] : NULL,
                       .chi2 = dz ? sp->chi[1] : NULL,
                       .chi3 = dz ? sp->chi[2] : NULL,
                       .k = sp->k,
                       .g = sp->g,
                       .h0 = sp->h0,
                       .nk = sp->s,
                       .scratch = sp->scratch};
  nde_status st = ops->tableau ? nde_sri_step(ops->tableau, rhs, &step) : ops->step(rhs, &step);
  *nf += step.nf;
  *ng += step.ng;
  return st;
}

nde_status nde_sde_stepper_step(nde_sde_stepper *sp, const nde_sde_rhs *rhs, nde_brownian *path,
                                double t, double tnext, const nde_array *u0, nde_array *u1,
                                long *nf, long *ng) {
  NDE_TRY(load_noise(sp, path, t, tnext, u0));
  return apply(sp, rhs, t, tnext - t, u0, u1, nf, ng);
}

/* F(u) = Φ(u) − u1 for the nonlinear solver (raw vectors wrapped as arrays shaped like u1). */
typedef struct invert_ctx {
  nde_sde_stepper *sp;
  const nde_sde_rhs *rhs;
  double t, h;
  const nde_array *u1;
  long *nf, *ng;
} invert_ctx;

static nde_status invert_residual(void *user, const void *u, void *out) {
  invert_ctx *c = user;
  nde_array uv = *c->u1, ov = *c->u1;
  uv.data = (void *)u;
  ov.data = out;
  uv.owned = ov.owned = 0;
  NDE_TRY(apply(c->sp, c->rhs, c->t, c->h, &uv, &ov, c->nf, c->ng));
  c->u1->backend->ops->axpy(c->u1->backend->ctx, c->u1->dtype, c->u1->size, -1.0, c->u1->data,
                            out);
  return NDE_OK;
}

nde_status nde_sde_stepper_invert(nde_sde_stepper *sp, const nde_sde_rhs *rhs,
                                  nde_brownian *path, double t, double tnext,
                                  const nde_array *u1, nde_array *u0, double tol, int maxiter,
                                  nde_nonlinear_solver *fallback, long *nf, long *ng,
                                  int *iters) {
  const nde_backend_ops *be = u1->backend->ops;
  void *bc = u1->backend->ctx;
  nde_dtype dtp = u1->dtype;
  size_t n = u1->size;
  double h = tnext - t;
  if (iters)
    *iters = 0;
  NDE_TRY(load_noise(sp, path, t, tnext, u1));
  /* start: the explicit reversed step u0 = u1 − (Φ(u1) − u1), kept in guess */
  NDE_TRY(apply(sp, rhs, t, h, u1, sp->image, nf, ng));
  NDE_TRY(be->copy(bc, sp->guess->data, u1->data, nde_array_bytes(u1)));
  be->axpby(bc, dtp, n, -1.0, sp->image->data, 2.0, sp->guess->data);
  NDE_TRY(be->copy(bc, u0->data, sp->guess->data, nde_array_bytes(u1)));
  /* the fixed-point iteration while it contracts */
  double res = INFINITY, prev = INFINITY;
  int it = 0;
  int fp_max = fallback ? (maxiter + 1) / 2 : maxiter; /* leave the rest to the fallback */
  while (it < fp_max) {
    NDE_TRY(apply(sp, rhs, t, h, u0, sp->image, nf, ng));
    ++it;
    /* residual r = Φ(u0) − u1 into image; u0 ← u0 − r */
    be->axpy(bc, dtp, n, -1.0, u1->data, sp->image->data);
    res = be->wrms_norm(bc, dtp, n, sp->image->data, u0->data, u1->data, tol, tol);
    if (!isfinite(res) || (it >= 2 && res > 0.5 * prev))
      break; /* not contracting fast enough */
    be->axpy(bc, dtp, n, -1.0, sp->image->data, u0->data);
    prev = res;
    if (res <= 1.0)
      break;
  }
  if (iters)
    *iters = it;
  if (res <= 1.0)
    return NDE_OK;
  if (fallback && it < maxiter) {
    /* Newton-type solve of Φ(u0) = u1 from the explicit guess */
    NDE_TRY(be->copy(bc, u0->data, sp->guess->data, nde_array_bytes(u1)));
    invert_ctx c = {sp, rhs, t, h, u1, nf, ng};
    nde_nonlinear_problem pb = {.backend = u1->backend,
                                .dtype = dtp,
                                .n = n,
                                .form = NDE_NL_ROOT,
                                .residual = invert_residual,
                                .user = &c};
    nde_nonlinear_settings *set = nde_nonlinear_solver_settings(fallback);
    set->abstol = tol;
    set->reltol = tol;
    set->termination = NDE_NL_TERM_ABS_REL;
    set->norm = NDE_NL_NORM_RMS;
    set->maxiters = maxiter - it;
    set->history = 0;
    nde_nonlinear_result r = {0};
    nde_status st = nde_nonlinear_solve(fallback, &pb, u0->data, &r);
    if (iters)
      *iters = it + (int)r.iterations;
    res = r.residual;
    nde_nonlinear_result_clear(&r);
    if (st == NDE_OK)
      return NDE_OK;
    if (st != NDE_ENOCONV && st != NDE_EMAXITERS && st != NDE_ENONFINITE)
      return st;
    return nde_error(NDE_ENOCONV, "inverting the SDE step [%g, %g] (dt = %g): the fixed-point "
                     "iteration does not contract and %s stopped at residual %g (tolerance %g); "
                     "use interpolating_adjoint, or smaller steps", t, tnext, h,
                     nde_nonlinear_solver_name(fallback), res, tol);
  }
  return nde_error(NDE_ENOCONV, "inverting the SDE step [%g, %g] (dt = %g): residual %g times "
                   "the tolerance %g after %d fixed-point iterations; the step is too long for "
                   "the iteration to contract (use interpolating_adjoint, smaller steps, or an "
                   "inversion_solver)", t, tnext, h, res, tol, it);
}
