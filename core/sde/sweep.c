/*
 * The reverse sweep of every SDE sensitivity (nde/sde_adjoint.h): the
 * discrete adjoint of an SDE solve along its fixed Brownian path, walking
 * the accepted steps from last to first. How the start state u_j of a step
 * is obtained is the caller's (stored, re-solved from a checkpoint, or
 * reconstructed by inverting the step); the rest is here: the step's noise
 * re-queried over exactly the interval the integrator used and expanded as
 * it did (nde_sde_noise_expand()), the step reversed with
 * nde_sde_solver_step_reverse() together with the weights on its error and
 * stiffness estimates, and the save points' cotangents split between the
 * ends of the step that interpolated them.
 */
#include "config.h"

#include <math.h>
#include <stdlib.h>

#include <nde/backend.h>
#include <nde/sde_adjoint.h>

nde_status nde_sde_sweep_check(const char *who, const nde_sde_sens_problem *p, size_t nsteps,
                               const nde_array *du_save, const double *w_eest,
                               const double *w_eigen, const nde_array *du0) {
  const nde_sde_solver_ops *ops = p->solver->ops;
  const char *name = ops->header.name;
  size_t n = p->u0->size;
  if (!p->rhs->drift_vjp || !p->rhs->diffusion_vjp)
    return nde_error(NDE_EINVAL, "%s: the SDE needs drift_vjp and diffusion_vjp for its "
                     "backward pass (%s missing)", who,
                     !p->rhs->drift_vjp ? "drift_vjp" : "diffusion_vjp");
  NDE_TRY(nde_sde_noise_check(ops, p->rhs, who));
  if (!ops->tableau && !(NDE_VTABLE_HAS(ops, nde_sde_solver_ops, step_reverse) &&
                         ops->step_reverse))
    return nde_error(NDE_EUNSUPPORTED, "%s: sde_solver '%s' has no reverse step", who, name);
  if (!du_save || du_save->size != n * p->nsave || du_save->dtype != p->u0->dtype)
    return nde_error(NDE_EINVAL, "%s: SDE cotangents have %zu elements, expected %zu x %zu "
                     "of the state's dtype", who, du_save ? du_save->size : 0, n, p->nsave);
  if (du0 && (du0->size != n || du0->dtype != p->u0->dtype))
    return nde_error(NDE_EINVAL, "%s: du0 has %zu elements, the state %zu", who, du0->size, n);
  for (size_t j = 0; j < nsteps; ++j) {
    if (w_eest && w_eest[j] != 0 && !ops->adaptive)
      return nde_error(NDE_EINVAL, "%s: error-estimate weights given, but sde_solver '%s' "
                       "has no error estimate", who, name);
    if (w_eigen && w_eigen[j] != 0 && !ops->stiffness)
      return nde_error(NDE_EINVAL, "%s: stiffness-estimate weights given, but sde_solver "
                       "'%s' has no stiffness estimate", who, name);
  }
  return NDE_OK;
}

/* End of step j: the next step's start, t1 for the last (exactly as the integrator had it). */
static double step_end(const nde_sde_sweep *sw, size_t j) {
  return j + 1 < sw->nsteps ? sw->t[j + 1] : sw->problem->t1;
}

/*
 * Which step saved each save point and with which interpolation weight θ
 * (the point is (1 − θ)·u_j + θ·u_{j+1}), by the integrator's rule
 * (save_points in core/sde/integrate.c): points at t0 are saved before the
 * first step (owner −1, the state u0 itself); step j takes every pending
 * point ≤ its end, the last step every remaining one, θ = (s − t_j)/h_j
 * clamped to [0, 1].
 */
static nde_status save_owners(const nde_sde_sweep *sw, long *owner, double *theta) {
  const double *saveat = sw->problem->saveat;
  size_t nsave = sw->problem->nsave, next = 0;
  while (next < nsave && saveat[next] <= sw->problem->t0) {
    owner[next] = -1;
    theta[next++] = 0;
  }
  for (size_t j = 0; j < sw->nsteps; ++j) {
    int last = j + 1 == sw->nsteps;
    double t = sw->t[j], h = sw->dt[j], tnext = step_end(sw, j);
    while (next < nsave && (saveat[next] <= tnext || last)) {
      double th = h > 0 ? (saveat[next] - t) / h : 0;
      owner[next] = (long)j;
      theta[next++] = th < 0 ? 0 : th > 1 ? 1 : th;
    }
  }
  if (next < nsave)
    return nde_error(NDE_EINTERNAL, "SDE save point %zu not reached by the solve", next);
  return NDE_OK;
}

/* Backward work: arrays shaped like u0 and host buffers, freed together. */
typedef struct sweep_work {
  nde_array *arrays;
  int n, cap;
  double *host; /* dw[m], dz[m], expand scratch[4n], theta[nsave] */
  long *owner;  /* [nsave] */
} sweep_work;

static nde_status work_alloc(sweep_work *w, const nde_array *like, nde_array **out) {
  if (w->n == w->cap)
    return nde_error(NDE_EINTERNAL, "SDE sweep work arrays exhausted");
  NDE_TRY(nde_array_create(like->backend, like->dtype, like->ndim, like->shape,
                           &w->arrays[w->n]));
  *out = &w->arrays[w->n++];
  return NDE_OK;
}

/* The step's dW (u's shape; (m, K) for general noise). */
static nde_status noise_alloc(sweep_work *w, const nde_sde_rhs *rhs, const nde_array *like,
                              nde_array **out) {
  if (w->n == w->cap)
    return nde_error(NDE_EINTERNAL, "SDE sweep work arrays exhausted");
  NDE_TRY(nde_sde_noise_array(rhs, like, 0, &w->arrays[w->n]));
  *out = &w->arrays[w->n++];
  return NDE_OK;
}

static void work_free(sweep_work *w) {
  for (int i = 0; i < w->n; ++i)
    nde_array_destroy(&w->arrays[i]);
  free(w->arrays);
  free(w->host);
  free(w->owner);
}

/* Add c·(column i of du_save) to y (skipped when c is 0). */
static void add_save(const nde_array *du_save, const nde_array *like, size_t i, double c,
                     void *y) {
  if (c == 0)
    return;
  const nde_backend_ops *be = like->backend->ops;
  const void *col = (const char *)du_save->data + i * nde_array_bytes(like);
  be->axpy(like->backend->ctx, like->dtype, like->size, c, col, y);
}

/* What reversing one step needs: noise buffers and work arrays. */
typedef struct reverser {
  double *dw, *dz, *ex; /* host: increments (m each), expansion scratch (4n) */
  nde_array *dW, *chi[3];
  nde_array *work;
  int nwork;
} reverser;

/* λ_j (into @p lam0) from λ_{j+1} (@p lam) through step j at its start state @p uj. */
static nde_status reverse_step(const nde_sde_sweep *sw, size_t j, const reverser *rv,
                               const nde_array *uj, const nde_array *lam, nde_array *lam0,
                               void *dparams, const double *w_eest, const double *w_eigen,
                               nde_sens_stats *stats) {
  const nde_sde_sens_problem *p = sw->problem;
  const nde_sde_solver_ops *ops = p->solver->ops;
  const nde_sde_rhs *rhs = p->rhs;
  double t = sw->t[j], h = sw->dt[j];
  NDE_TRY(nde_brownian_increment(p->path, t, step_end(sw, j), rv->dw,
                                 ops->needs_dz ? rv->dz : NULL));
  NDE_TRY(nde_sde_noise_expand(rhs->noise, p->u0, h, rv->dw, rv->dz, rv->dW, rv->chi[0],
                               rv->chi[1], rv->chi[2], rv->ex));
  nde_sde_reverse r = {.t = t,
                       .dt = h,
                       .u0 = uj,
                       .dW = rv->dW,
                       .chi1 = rv->chi[0],
                       .chi2 = rv->chi[1],
                       .chi3 = rv->chi[2],
                       .delta = sw->delta,
                       .du1 = lam,
                       .w_eest = w_eest ? w_eest[j] : 0.0,
                       .abstol = sw->abstol,
                       .reltol = sw->reltol,
                       .w_eigen = w_eigen ? w_eigen[j] : 0.0,
                       .du0 = lam0,
                       .dparams = dparams,
                       .work = rv->work,
                       .nwork = rv->nwork};
  nde_status st = nde_sde_solver_step_reverse(ops, rhs, &r);
  stats->nfe += r.nf + r.ng;
  stats->nvjp += r.nf_vjp + r.ng_vjp;
  return st;
}

nde_status nde_sde_reverse_sweep(const nde_sde_sweep *sweep, const nde_array *du_save,
                                 const double *w_eest, const double *w_eigen, nde_array *du0,
                                 void *dparams, nde_sens_stats *stats) {
  const nde_sde_sens_problem *p = sweep->problem;
  const nde_sde_solver_ops *ops = p->solver->ops;
  const nde_array *u0 = p->u0;
  const nde_backend_ops *be = u0->backend->ops;
  void *bc = u0->backend->ctx;
  nde_dtype dtp = u0->dtype;
  size_t n = u0->size, m = nde_sde_rhs_noise_dim(p->rhs, u0), nsave = p->nsave;
  int stages = ops->tableau && ops->tableau->stages > ops->stages ? ops->tableau->stages
                                                                  : ops->stages;
  int nwork = NDE_SDE_REVERSE_WORK(stages), needs_dz = ops->needs_dz;

  sweep_work w = {0};
  w.cap = nwork + 10;
  w.arrays = calloc((size_t)w.cap, sizeof *w.arrays);
  w.host = malloc((2 * m + 4 * n + nsave) * sizeof *w.host);
  w.owner = malloc(nsave * sizeof *w.owner);
  nde_status st = NDE_OK;
  if (!w.arrays || !w.host || !w.owner) {
    st = nde_error(NDE_ENOMEM, "out of memory for the SDE backward pass");
    goto done;
  }
  reverser rv = {.dw = w.host, .dz = w.host + m, .ex = w.host + 2 * m, .nwork = nwork};
  double *theta = w.host + 2 * m + 4 * n;
  nde_array *lam, *lam0, *extra, *ucur, *unext;
  if ((st = work_alloc(&w, u0, &lam)) || (st = work_alloc(&w, u0, &lam0)) ||
      (st = work_alloc(&w, u0, &extra)) || (st = noise_alloc(&w, p->rhs, u0, &rv.dW)) ||
      (st = work_alloc(&w, u0, &ucur)) || (st = work_alloc(&w, u0, &unext)))
    goto done;
  for (int i = 0; needs_dz && i < 3; ++i)
    if ((st = work_alloc(&w, u0, &rv.chi[i])))
      goto done;
  rv.work = &w.arrays[w.n];
  for (int i = 0; i < nwork; ++i) {
    nde_array *a;
    if ((st = work_alloc(&w, u0, &a)))
      goto done;
  }
  if ((st = save_owners(sweep, w.owner, theta)))
    goto done;
  if (sweep->u_final && (st = be->copy(bc, unext->data, sweep->u_final->data,
                                       nde_array_bytes(u0))))
    goto done;

  /* λ: the cotangent of u_{j+1} while step j is reversed */
  be->fill(bc, dtp, n, 0.0, lam->data);
  size_t next = nsave; /* save points are consumed from the end */
  for (size_t jj = sweep->nsteps; jj-- > 0;) {
    /* the save points of this step: θ·w to u_{j+1}, (1 − θ)·w to u_j */
    be->fill(bc, dtp, n, 0.0, extra->data);
    while (next > 0 && w.owner[next - 1] == (long)jj) {
      size_t i = --next;
      add_save(du_save, u0, i, theta[i], lam->data);
      add_save(du_save, u0, i, 1 - theta[i], extra->data);
    }
    st = sweep->state(sweep->user, jj, sweep->u_final ? unext : NULL, ucur, stats);
    if (st == NDE_OK)
      st = reverse_step(sweep, jj, &rv, ucur, lam, lam0, dparams, w_eest, w_eigen, stats);
    if (st) {
      st = nde_error_prefix(st, "SDE step %zu (t = %g, dt = %g)", jj, sweep->t[jj],
                            sweep->dt[jj]);
      goto done;
    }
    be->axpy(bc, dtp, n, 1.0, extra->data, lam0->data);
    nde_array *tmp = lam;
    lam = lam0;
    lam0 = tmp;
    tmp = unext;
    unext = ucur;
    ucur = tmp;
  }
  while (next > 0) { /* points at t0: the state u0 itself */
    size_t i = --next;
    add_save(du_save, u0, i, 1.0, lam->data);
  }
  if (du0)
    st = be->copy(bc, du0->data, lam->data, nde_array_bytes(u0));
done:
  stats->peak_bytes = (size_t)w.n * nde_array_bytes(u0) +
                      (2 * m + 4 * n + nsave) * sizeof(double) + nsave * sizeof(long);
  work_free(&w);
  return st;
}
