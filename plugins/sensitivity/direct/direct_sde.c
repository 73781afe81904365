/*
 * direct, the SDE half: discrete reverse mode through the accepted steps of
 * an SDE solve along ONE fixed Brownian path (nde/sensitivity.h,
 * ::nde_sde_sens_problem).
 *
 * sde_forward: nde_sde_solve() with an on_step hook that keeps every
 * accepted step's t, dt and start state u_j (memory O(steps·n); the stages
 * are not kept). sde_backward: walks the steps from last to first; for step
 * j it re-queries the step's noise from the path over exactly the interval
 * the integrator used, expands it as the integrator did
 * (nde_sde_noise_expand()), and reverses the step with
 * nde_sde_solver_step_reverse(), which recomputes the stages from u_j and
 * pulls the cotangent back through them (drift_vjp and diffusion_vjp),
 * together with the weights on the step's error estimate EEst_j and
 * stiffness estimate. Save points are linear interpolants of the step's
 * ends (as the integrator saves them), so their cotangents split between
 * u_j and u_{j+1}. The step sequence and the noise are frozen: the result
 * is the exact gradient of the discrete solution along that path.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <nde/backend.h>
#include <nde/sensitivity.h>

#include "direct.h"

void direct_sde_free(direct_sde *tp) {
  for (size_t i = 0; i < tp->nblocks; ++i)
    nde_array_destroy(&tp->blocks[i]);
  free(tp->blocks);
  free(tp->t);
  free(tp->dt);
  *tp = (direct_sde){0};
}

/* Drop the stored blocks (the state's size, dtype or backend changed). */
static void drop_blocks(direct_sde *tp) {
  for (size_t i = 0; i < tp->nblocks; ++i)
    nde_array_destroy(&tp->blocks[i]);
  tp->nblocks = 0;
}

/* Step j's start state, a view shaped like @p like. */
static nde_array stored_state(const direct_sde *tp, const nde_array *like, size_t j) {
  nde_array v = *like;
  v.data = (char *)tp->blocks[j / DIRECT_SDE_BLOCK].data +
           (j % DIRECT_SDE_BLOCK) * nde_array_bytes(like);
  v.owned = 0;
  return v;
}

/* Room for step tp->nsteps: its t, dt and a column of a block. */
static nde_status reserve_step(direct_sde *tp, const nde_array *u) {
  size_t j = tp->nsteps;
  if (j == tp->cap) {
    size_t cap = tp->cap ? 2 * tp->cap : 256;
    double *t = realloc(tp->t, cap * sizeof *t);
    if (t)
      tp->t = t;
    double *dt = t ? realloc(tp->dt, cap * sizeof *dt) : NULL;
    if (!t || !dt)
      return nde_error(NDE_ENOMEM, "direct: out of memory recording SDE step %zu", j);
    tp->dt = dt;
    tp->cap = cap;
  }
  size_t b = j / DIRECT_SDE_BLOCK;
  if (b < tp->nblocks)
    return NDE_OK;
  if (b == tp->blocks_cap) {
    size_t cap = tp->blocks_cap ? 2 * tp->blocks_cap : 8;
    nde_array *p = realloc(tp->blocks, cap * sizeof *p);
    if (!p)
      return nde_error(NDE_ENOMEM, "direct: out of memory recording SDE step %zu", j);
    tp->blocks = p;
    tp->blocks_cap = cap;
  }
  size_t shape[2] = {u->size, DIRECT_SDE_BLOCK};
  NDE_TRY(nde_array_create(u->backend, u->dtype, 2, shape, &tp->blocks[b]));
  tp->nblocks = b + 1;
  return NDE_OK;
}

/* The integrator's hook after every accepted step: keep t, dt and u_j. */
static nde_status sde_on_step(void *user, const nde_sde_step *st, double eest) {
  direct_sde *tp = &((direct_state *)user)->sde;
  const nde_array *u = st->u0;
  NDE_TRY(direct_tape_check(user, tp->nsteps + 1, nde_array_bytes(u) + 2 * sizeof(double)));
  NDE_TRY(reserve_step(tp, u));
  size_t j = tp->nsteps;
  nde_array col = stored_state(tp, u, j);
  NDE_TRY(u->backend->ops->copy(u->backend->ctx, col.data, u->data, nde_array_bytes(u)));
  tp->t[j] = st->t;
  tp->dt[j] = st->dt;
  tp->nsteps = j + 1;
  return tp->user_hook ? tp->user_hook(tp->user, st, eest) : NDE_OK;
}

nde_status direct_sde_forward(void *state, const nde_sde_sens_problem *p,
                              nde_sde_solution *sol) {
  direct_state *s = state;
  direct_sde *tp = &s->sde;
  *sol = (nde_sde_solution){0};
  tp->ready = 0;
  if (!p->saveat || p->nsave == 0)
    return nde_error(NDE_EINVAL, "direct: an SDE solve needs save points (nsave >= 1)");
  const nde_sde_solver *solver = p->solver;
  const nde_array *u0 = p->u0;
  nde_sde_options o = solver->solve; /* replay_dt, when the caller set it, stays */
  tp->user_hook = o.on_step;
  tp->user = o.user;
  o.record_steps = 1;
  o.on_step = sde_on_step;
  o.user = s;
  if (tp->n != u0->size || tp->dtype != u0->dtype || tp->backend != u0->backend) {
    drop_blocks(tp);
    tp->n = u0->size;
    tp->dtype = u0->dtype;
    tp->backend = u0->backend;
  }
  tp->nsteps = 0;
  NDE_TRY(nde_sde_solve(solver, p->rhs, &o, p->t0, p->t1, u0, p->path, p->saveat, p->nsave,
                        sol));
  if (sol->stats.nsteps != tp->nsteps)
    return nde_error(NDE_EINTERNAL, "direct: %zu recorded SDE steps but %zu stored",
                     sol->stats.nsteps, tp->nsteps);
  tp->t0 = p->t0;
  tp->t1 = p->t1;
  tp->nsave = p->nsave;
  tp->abstol = o.abstol;
  tp->reltol = o.reltol;
  tp->delta = o.delta >= 0 ? o.delta : solver->ops->delta; /* the integrator's rule */
  tp->ready = 1;
  return NDE_OK;
}

/* End of step j: the next step's start, t1 for the last (exactly as the integrator had it). */
static double step_end(const direct_sde *tp, size_t j) {
  return j + 1 < tp->nsteps ? tp->t[j + 1] : tp->t1;
}

/*
 * Which step saved each save point and with which interpolation weight θ
 * (the point is (1 − θ)·u_j + θ·u_{j+1}), by the integrator's rule
 * (save_points in core/sde/integrate.c): points at t0 are saved before the
 * first step (owner −1, the state u0 itself); step j takes every pending
 * point ≤ its end, the last step every remaining one, θ = (s − t_j)/h_j
 * clamped to [0, 1].
 */
static nde_status save_owners(const direct_sde *tp, const double *saveat, size_t nsave,
                              long *owner, double *theta) {
  size_t next = 0;
  while (next < nsave && saveat[next] <= tp->t0) {
    owner[next] = -1;
    theta[next++] = 0;
  }
  for (size_t j = 0; j < tp->nsteps; ++j) {
    int last = j + 1 == tp->nsteps;
    double t = tp->t[j], h = tp->dt[j], tnext = step_end(tp, j);
    while (next < nsave && (saveat[next] <= tnext || last)) {
      double th = h > 0 ? (saveat[next] - t) / h : 0;
      owner[next] = (long)j;
      theta[next++] = th < 0 ? 0 : th > 1 ? 1 : th;
    }
  }
  if (next < nsave)
    return nde_error(NDE_EINTERNAL, "direct: SDE save point %zu not reached by the solve", next);
  return NDE_OK;
}

/* Backward work: arrays shaped like u0 and host buffers, freed together. */
typedef struct sde_work {
  nde_array *arrays;
  int n, cap;
  double *host; /* dw[m], dz[m], expand scratch[4n], theta[nsave] */
  long *owner;  /* [nsave] */
} sde_work;

static nde_status sde_work_alloc(sde_work *w, const nde_array *like, nde_array **out) {
  if (w->n == w->cap)
    return nde_error(NDE_EINTERNAL, "direct: SDE work arrays exhausted");
  NDE_TRY(nde_array_create(like->backend, like->dtype, like->ndim, like->shape,
                           &w->arrays[w->n]));
  *out = &w->arrays[w->n++];
  return NDE_OK;
}

static void sde_work_free(sde_work *w) {
  for (int i = 0; i < w->n; ++i)
    nde_array_destroy(&w->arrays[i]);
  free(w->arrays);
  free(w->host);
  free(w->owner);
}

/* Refuse what the backward pass cannot do, before any work. */
static nde_status check_backward(const direct_sde *tp, const nde_sde_sens_problem *p,
                                 const nde_array *du_save, const double *w_eest,
                                 const double *w_eigen, const nde_array *du0) {
  const nde_sde_solver_ops *ops = p->solver->ops;
  const char *name = ops->header.name;
  if (!tp->ready)
    return nde_error(NDE_EINVAL, "direct: sde_backward without a successful sde_forward");
  if (!p->rhs->drift_vjp || !p->rhs->diffusion_vjp)
    return nde_error(NDE_EINVAL, "direct: the SDE needs drift_vjp and diffusion_vjp for its "
                                 "backward pass (%s missing)",
                     !p->rhs->drift_vjp ? "drift_vjp" : "diffusion_vjp");
  if (!ops->tableau && !(NDE_VTABLE_HAS(ops, nde_sde_solver_ops, step_reverse) &&
                         ops->step_reverse))
    return nde_error(NDE_EUNSUPPORTED, "direct: sde_solver '%s' has no reverse step", name);
  if (p->u0->size != tp->n || p->u0->dtype != tp->dtype || p->u0->backend != tp->backend ||
      p->nsave != tp->nsave || p->t0 != tp->t0 || p->t1 != tp->t1 || !p->saveat)
    return nde_error(NDE_EINVAL, "direct: sde_backward's problem differs from the last "
                                 "sde_forward's (state, span or save points)");
  if (!du_save || du_save->size != tp->n * tp->nsave || du_save->dtype != tp->dtype)
    return nde_error(NDE_EINVAL, "direct: SDE cotangents have %zu elements, expected %zu x %zu "
                     "of the state's dtype", du_save ? du_save->size : 0, tp->n, tp->nsave);
  if (du0 && (du0->size != tp->n || du0->dtype != tp->dtype))
    return nde_error(NDE_EINVAL, "direct: du0 has %zu elements, the state %zu", du0->size,
                     tp->n);
  for (size_t j = 0; j < tp->nsteps; ++j) {
    if (w_eest && w_eest[j] != 0 && !ops->adaptive)
      return nde_error(NDE_EINVAL, "direct: error-estimate weights given, but sde_solver '%s' "
                       "has no error estimate", name);
    if (w_eigen && w_eigen[j] != 0 && !ops->stiffness)
      return nde_error(NDE_EINVAL, "direct: stiffness-estimate weights given, but sde_solver "
                       "'%s' has no stiffness estimate", name);
  }
  return NDE_OK;
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

/* What reversing one step needs besides the tape: noise buffers and work arrays. */
typedef struct sweep {
  double *dw, *dz, *ex; /* host: increments (m each), expansion scratch (4n) */
  nde_array *dW, *chi[3];
  nde_array *work;
  int nwork;
} sweep;

/*
 * λ_j from λ_{j+1} (in @p lam) through step j: the step's noise re-queried
 * over exactly [t_j, t_{j+1}] and expanded as the integrator did, then the
 * solver's reverse step with the step's weights on EEst_j and the stiffness
 * estimate.
 */
static nde_status reverse_step(const direct_sde *tp, const nde_sde_sens_problem *p, size_t j,
                               const sweep *sw, const nde_array *lam, nde_array *lam0,
                               void *dparams, const double *w_eest, const double *w_eigen,
                               nde_sens_stats *stats) {
  const nde_sde_solver_ops *ops = p->solver->ops;
  const nde_sde_rhs *rhs = p->rhs;
  double t = tp->t[j], h = tp->dt[j];
  NDE_TRY(nde_brownian_increment(p->path, t, step_end(tp, j), sw->dw,
                                 ops->needs_dz ? sw->dz : NULL));
  NDE_TRY(nde_sde_noise_expand(rhs->noise, p->u0, h, sw->dw, sw->dz, sw->dW, sw->chi[0],
                               sw->chi[1], sw->chi[2], sw->ex));
  nde_array uj = stored_state(tp, p->u0, j);
  nde_sde_reverse rv = {.t = t,
                        .dt = h,
                        .u0 = &uj,
                        .dW = sw->dW,
                        .chi1 = sw->chi[0],
                        .chi2 = sw->chi[1],
                        .chi3 = sw->chi[2],
                        .delta = tp->delta,
                        .du1 = lam,
                        .w_eest = w_eest ? w_eest[j] : 0.0,
                        .abstol = tp->abstol,
                        .reltol = tp->reltol,
                        .w_eigen = w_eigen ? w_eigen[j] : 0.0,
                        .du0 = lam0,
                        .dparams = dparams,
                        .work = sw->work,
                        .nwork = sw->nwork};
  nde_status st = nde_sde_solver_step_reverse(ops, rhs, &rv);
  stats->nfe += rv.nf + rv.ng;
  stats->nvjp += rv.nf_vjp + rv.ng_vjp;
  return st;
}

nde_status direct_sde_backward(void *state, const nde_sde_sens_problem *p,
                               const nde_array *du_save, const double *w_eest,
                               const double *w_eigen, nde_array *du0, void *dparams,
                               nde_sens_stats *stats) {
  direct_state *s = state;
  const direct_sde *tp = &s->sde;
  *stats = (nde_sens_stats){0};
  NDE_TRY(check_backward(tp, p, du_save, w_eest, w_eigen, du0));
  const nde_sde_solver_ops *ops = p->solver->ops;
  const nde_sde_rhs *rhs = p->rhs;
  const nde_array *u0 = p->u0;
  const nde_backend_ops *be = u0->backend->ops;
  void *bc = u0->backend->ctx;
  nde_dtype dtp = u0->dtype;
  size_t n = u0->size, m = nde_sde_noise_dim(rhs->noise, u0), nsave = p->nsave;
  int stages = ops->tableau && ops->tableau->stages > ops->stages ? ops->tableau->stages
                                                                  : ops->stages;
  int nwork = NDE_SDE_REVERSE_WORK(stages), needs_dz = ops->needs_dz;

  sde_work w = {0};
  w.cap = nwork + 8;
  w.arrays = calloc((size_t)w.cap, sizeof *w.arrays);
  w.host = malloc((2 * m + 4 * n + nsave) * sizeof *w.host);
  w.owner = malloc(nsave * sizeof *w.owner);
  nde_status st = NDE_OK;
  if (!w.arrays || !w.host || !w.owner) {
    st = nde_error(NDE_ENOMEM, "direct: out of memory for the SDE backward pass");
    goto done;
  }
  sweep sw = {.dw = w.host, .dz = w.host + m, .ex = w.host + 2 * m, .nwork = nwork};
  double *theta = w.host + 2 * m + 4 * n;
  nde_array *lam, *lam0, *extra;
  if ((st = sde_work_alloc(&w, u0, &lam)) || (st = sde_work_alloc(&w, u0, &lam0)) ||
      (st = sde_work_alloc(&w, u0, &extra)) || (st = sde_work_alloc(&w, u0, &sw.dW)))
    goto done;
  for (int i = 0; needs_dz && i < 3; ++i)
    if ((st = sde_work_alloc(&w, u0, &sw.chi[i])))
      goto done;
  sw.work = &w.arrays[w.n];
  for (int i = 0; i < nwork; ++i) {
    nde_array *a;
    if ((st = sde_work_alloc(&w, u0, &a)))
      goto done;
  }
  if ((st = save_owners(tp, p->saveat, nsave, w.owner, theta)))
    goto done;

  /* λ: the cotangent of u_{j+1} while step j is reversed */
  be->fill(bc, dtp, n, 0.0, lam->data);
  size_t next = nsave; /* save points are consumed from the end */
  for (size_t jj = tp->nsteps; jj-- > 0;) {
    /* the save points of this step: θ·w to u_{j+1}, (1 − θ)·w to u_j */
    be->fill(bc, dtp, n, 0.0, extra->data);
    while (next > 0 && w.owner[next - 1] == (long)jj) {
      size_t i = --next;
      add_save(du_save, u0, i, theta[i], lam->data);
      add_save(du_save, u0, i, 1 - theta[i], extra->data);
    }
    st = reverse_step(tp, p, jj, &sw, lam, lam0, dparams, w_eest, w_eigen, stats);
    if (st) {
      st = nde_error_prefix(st, "direct: SDE step %zu (t = %g, dt = %g)", jj, tp->t[jj],
                            tp->dt[jj]);
      goto done;
    }
    be->axpy(bc, dtp, n, 1.0, extra->data, lam0->data);
    nde_array *tmp = lam;
    lam = lam0;
    lam0 = tmp;
  }
  while (next > 0) { /* points at t0: the state u0 itself */
    size_t i = --next;
    add_save(du_save, u0, i, 1.0, lam->data);
  }
  if (du0)
    st = be->copy(bc, du0->data, lam->data, nde_array_bytes(u0));
done:
  stats->peak_bytes = ((tp->nsteps + DIRECT_SDE_BLOCK - 1) / DIRECT_SDE_BLOCK) *
                          DIRECT_SDE_BLOCK * nde_array_bytes(u0) +
                      tp->cap * 2 * sizeof(double) + (size_t)w.n * nde_array_bytes(u0) +
                      (2 * m + 4 * n + nsave) * sizeof(double) + nsave * sizeof(long);
  sde_work_free(&w);
  return st;
}
