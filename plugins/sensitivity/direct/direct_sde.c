/*
 * direct, the SDE half: discrete reverse mode through the accepted steps of
 * an SDE solve along ONE fixed Brownian path (nde/sensitivity.h,
 * ::nde_sde_sens_problem).
 *
 * sde_forward: nde_sde_solve() with an on_step hook that keeps every
 * accepted step's t, dt and start state u_j (memory O(steps·n); the stages
 * are not kept). sde_backward: the core's reverse sweep
 * (nde_sde_reverse_sweep(), nde/sde_adjoint.h) with u_j read from that tape:
 * each step's noise re-queried, its stages recomputed from u_j and pulled
 * back with the weights on its error and stiffness estimates. The step
 * sequence and the noise are frozen: the result is the exact gradient of
 * the discrete solution along that path.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <nde/backend.h>
#include <nde/sde_adjoint.h>
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

/* The sweep's request for u_j: a copy of the stored column. */
static nde_status stored_state_fn(void *user, size_t j, const nde_array *u_next, nde_array *uj,
                                  nde_sens_stats *stats) {
  (void)u_next, (void)stats;
  const direct_sde *tp = user;
  nde_array col = stored_state(tp, uj, j);
  return uj->backend->ops->copy(uj->backend->ctx, uj->data, col.data, nde_array_bytes(uj));
}

nde_status direct_sde_backward(void *state, const nde_sde_sens_problem *p,
                               const nde_array *du_save, const double *w_eest,
                               const double *w_eigen, nde_array *du0, void *dparams,
                               nde_sens_stats *stats) {
  direct_state *s = state;
  direct_sde *tp = &s->sde;
  *stats = (nde_sens_stats){0};
  if (!tp->ready)
    return nde_error(NDE_EINVAL, "direct: sde_backward without a successful sde_forward");
  if (p->u0->size != tp->n || p->u0->dtype != tp->dtype || p->u0->backend != tp->backend ||
      p->nsave != tp->nsave || p->t0 != tp->t0 || p->t1 != tp->t1 || !p->saveat)
    return nde_error(NDE_EINVAL, "direct: sde_backward's problem differs from the last "
                                 "sde_forward's (state, span or save points)");
  NDE_TRY(nde_sde_sweep_check("direct", p, tp->nsteps, du_save, w_eest, w_eigen, du0));
  nde_sde_sweep sw = {.problem = p,
                      .nsteps = tp->nsteps,
                      .t = tp->t,
                      .dt = tp->dt,
                      .abstol = tp->abstol,
                      .reltol = tp->reltol,
                      .delta = tp->delta,
                      .state = stored_state_fn,
                      .user = tp};
  nde_status st = nde_sde_reverse_sweep(&sw, du_save, w_eest, w_eigen, du0, dparams, stats);
  stats->peak_bytes += ((tp->nsteps + DIRECT_SDE_BLOCK - 1) / DIRECT_SDE_BLOCK) *
                           DIRECT_SDE_BLOCK * nde_array_bytes(p->u0) +
                       tp->cap * 2 * sizeof(double);
  return st ? nde_error_prefix(st, "direct") : NDE_OK;
}
