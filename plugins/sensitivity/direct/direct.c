/*
 * direct: discrete sensitivities — reverse mode through the accepted steps
 * of an explicit Runge–Kutta solve, stage by stage, or of a multistep solve
 * that describes its steps (vcab3: nde_ode_step::lm_*) (thesis §2.5, "discrete
 * sensitivity analysis"; Table 2.1's memory O(steps·stages·n)).
 *
 * forward: the integrator's on_step hook copies every accepted step's start
 * state and stage derivatives k_i. backward: walks the steps from last to
 * first with nde_rk_step_reverse() (the core's adjoint of one step), adding
 * the cotangents of the save points (dense output is linear in u_n and the
 * k_i) and of the per-step error and stiffness estimates. Step sizes are
 * frozen: the gradient is the exact derivative of the discrete solution
 * with the accepted step sequence held fixed.
 *
 * The SDE half (direct_sde.c) does the same through the accepted steps of
 * an SDE solve along one fixed Brownian path.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <nde/backend.h>
#include <nde/options.h>
#include <nde/sensitivity.h>

#include "direct.h"

#define MAX_STAGES 16

static nde_status direct_create(const nde_options *options, void **state) {
  int64_t mb = nde_options_int(options, "max_tape_mb", DIRECT_DEFAULT_MAX_TAPE_MB);
  if (mb < 1 || (uint64_t)mb > SIZE_MAX / (1024 * 1024))
    return nde_error(NDE_EINVAL, "max_tape_mb: must be from 1 to %zu, got %lld",
                     SIZE_MAX / (1024 * 1024), (long long)mb);
  direct_state *s = calloc(1, sizeof *s);
  if (!s)
    return nde_error(NDE_ENOMEM, "out of memory");
  s->max_tape_bytes = (size_t)mb * 1024 * 1024;
  *state = s;
  return NDE_OK;
}

nde_status direct_tape_check(const direct_state *s, size_t steps, size_t per_step) {
  if (per_step == 0 || steps <= s->max_tape_bytes / per_step)
    return NDE_OK;
  return nde_error(NDE_ELIMIT,
                   "direct: the recorded steps would exceed max_tape_mb = %zu MiB at step %zu "
                   "(%.3g KiB per step): the solve takes far more steps than it should "
                   "(stiff or unstable dynamics: a learning rate or regularization coefficient "
                   "too large?); raise the sensitivity's max_tape_mb if this is expected, or use "
                   "a sensitivity whose memory does not grow with the steps (backsolve_adjoint)",
                   s->max_tape_bytes / (1024 * 1024), steps, (double)per_step / 1024.0);
}

static void direct_destroy(void *state) {
  direct_state *s = state;
  if (!s)
    return;
  for (size_t i = 0; i < s->allocated; ++i)
    nde_array_destroy(&s->steps[i].store);
  free(s->steps);
  nde_array_destroy(&s->u_final);
  direct_sde_free(s);
  free(s);
}

static nde_status on_step(void *user, const nde_ode_step *st, double eest) {
  (void)eest;
  direct_state *s = user;
  const nde_array *u = st->u0;
  size_t n = u->size;
  if (s->nsteps == s->cap) {
    size_t cap = s->cap ? 2 * s->cap : 64;
    step_rec *p = realloc(s->steps, cap * sizeof *p);
    if (!p)
      return nde_error(NDE_ENOMEM, "direct: out of memory storing step %zu", s->nsteps);
    memset(p + s->cap, 0, (cap - s->cap) * sizeof *p);
    s->steps = p;
    s->cap = cap;
  }
  size_t want = n * (size_t)(s->stages + 1);
  NDE_TRY(direct_tape_check(s, s->nsteps + 1, want * nde_dtype_size(u->dtype) + sizeof(step_rec)));
  step_rec *r = &s->steps[s->nsteps];
  if (s->nsteps < s->allocated && (r->store.size != want || r->store.dtype != u->dtype ||
                                   r->store.backend != u->backend)) {
    nde_array_destroy(&r->store);
    size_t shape[2] = {n, (size_t)s->stages + 1};
    NDE_TRY(nde_array_create(u->backend, u->dtype, 2, shape, &r->store));
  } else if (s->nsteps >= s->allocated) {
    size_t shape[2] = {n, (size_t)s->stages + 1};
    NDE_TRY(nde_array_create(u->backend, u->dtype, 2, shape, &r->store));
    s->allocated = s->nsteps + 1;
  }
  const nde_backend_ops *be = u->backend->ops;
  size_t bytes = nde_array_bytes(u);
  char *dst = r->store.data;
  NDE_TRY(be->copy(u->backend->ctx, dst, u->data, bytes));
  for (int i = 0; i < s->stages; ++i)
    NDE_TRY(be->copy(u->backend->ctx, dst + (size_t)(i + 1) * bytes, st->k[i].data, bytes));
  r->t = st->t;
  r->dt = st->dt;
  r->tableau = st->tableau;
  r->lm_m = st->lm_m;
  if (!r->tableau && (r->lm_m < 1 || r->lm_m > NDE_LM_MAX || (size_t)r->lm_m > s->nsteps + 1))
    return nde_error(NDE_EUNSUPPORTED, "direct: the solver does not describe its step at t = %g "
                     "(neither a Runge-Kutta tableau nor multistep weights; see nde_ode_step)",
                     st->t);
  if (r->tableau && r->tableau->stages > s->stages)
    return nde_error(NDE_EINTERNAL, "direct: a %d-stage step in a %d-stage solver",
                     r->tableau->stages, s->stages);
  for (int i = 0; i < r->lm_m; ++i) {
    r->lm_w[i] = st->lm_w[i];
    r->lm_e[i] = st->lm_e[i];
  }
  s->nsteps++;
  return NDE_OK;
}

static nde_status direct_forward(void *state, const nde_sens_problem *p, nde_ode_solution *sol) {
  direct_state *s = state;
  *sol = (nde_ode_solution){0};
  const nde_ode_solver *solver = p->solver;
  const nde_rk_tableau *tb = solver->ops->tableau;
  nde_ode_options o = solver->solve;
  if (!tb && NDE_VTABLE_HAS(solver->ops, nde_ode_solver_ops, dense) && solver->ops->dense)
    return nde_error(NDE_EUNSUPPORTED, "direct: solver '%s' has its own dense output, which "
                     "direct cannot differentiate", solver->ops->header.name);
  if (o.steady_state)
    return nde_error(NDE_EUNSUPPORTED, "direct: steady_state termination is not differentiable "
                     "step by step; use a fixed tspan");
  o.record_steps = 1;
  o.on_step = on_step;
  o.user = s;
  s->nsteps = 0;
  s->stages = tb ? tb->stages : solver->ops->stages;
  s->abstol = o.abstol;
  s->reltol = o.reltol;
  s->t0 = p->t0;
  s->t1 = p->t1;
  NDE_TRY(nde_ode_solve(solver, p->f, &o, p->t0, p->t1, p->u0, p->saveat, p->nsave, sol));
  if (sol->stats.nsteps != s->nsteps)
    return nde_error(NDE_EINTERNAL, "direct: %zu recorded steps but %zu stored",
                     sol->stats.nsteps, s->nsteps);
  const nde_array *uf = &sol->u_final;
  if (s->u_final.size != uf->size || s->u_final.dtype != uf->dtype ||
      s->u_final.backend != uf->backend) {
    nde_array_destroy(&s->u_final);
    NDE_TRY(nde_array_create(uf->backend, uf->dtype, p->u0->ndim, p->u0->shape, &s->u_final));
  }
  return uf->backend->ops->copy(uf->backend->ctx, s->u_final.data, uf->data, nde_array_bytes(uf));
}

/* Column view i of a step's store, shaped like u0. */
static nde_array column(const nde_array *store, const nde_array *like, size_t i) {
  nde_array v = *like;
  v.data = (char *)store->data + i * nde_array_bytes(like);
  v.owned = 0;
  return v;
}

typedef struct work {
  nde_array arrays[MAX_STAGES + NDE_LM_MAX + 8];
  int n;
} work;

static void work_free(work *w) {
  for (int i = 0; i < w->n; ++i)
    nde_array_destroy(&w->arrays[i]);
}

static nde_status work_alloc(work *w, const nde_array *like, nde_array **out) {
  NDE_TRY(nde_array_create(like->backend, like->dtype, like->ndim, like->shape, &w->arrays[w->n]));
  *out = &w->arrays[w->n++];
  return NDE_OK;
}

/*
 * Reverse of a multistep step u1 = u_n + Σ_i w_i f_{n−i} (err = Σ_i e_i f_{n−i}):
 * ū_n = ū1 (+ the error norm's scale terms) + (∂f/∂u)ᵀ f̄_n at (t_n, u_n); the
 * cotangents of the older f_{n−i} wait in their steps' pending slots.
 */
static nde_status lm_reverse(const direct_state *s, const nde_sens_problem *p,
                             const step_rec *r, size_t jj, const nde_array *un,
                             const nde_array *un1, const nde_array *kk, nde_array *du1,
                             nde_array *dk, double w_eest, nde_array *du0, nde_array *pending,
                             nde_array *scratch, void *dparams, nde_sens_stats *stats) {
  const nde_backend_ops *be = un->backend->ops;
  void *bc = un->backend->ctx;
  nde_dtype dtp = un->dtype;
  size_t n = un->size;
  /* f_{n−i} is k_0 of step jj − i */
  nde_array *fbar[NDE_LM_MAX];
  for (int i = 0; i < r->lm_m; ++i)
    fbar[i] = i == 0 ? &dk[0] : &pending[(jj - (size_t)i) % NDE_LM_MAX];
  be->fill(bc, dtp, n, 0.0, du0->data);
  if (w_eest != 0.0) {
    if (!NDE_VTABLE_HAS(be, nde_backend_ops, wrms_norm_vjp))
      return nde_error(NDE_EUNSUPPORTED, "backend '%s' lacks operation 'wrms_norm_vjp'",
                       be->header.name);
    nde_array *err = &scratch[0], *ebar = &scratch[1];
    be->fill(bc, dtp, n, 0.0, err->data);
    for (int i = 0; i < r->lm_m; ++i) {
      nde_array fi = column(&s->steps[jj - (size_t)i].store, un, 1);
      be->axpy(bc, dtp, n, r->lm_e[i], fi.data, err->data);
    }
    double eest = be->wrms_norm(bc, dtp, n, err->data, un->data, un1->data, s->abstol, s->reltol);
    be->fill(bc, dtp, n, 0.0, ebar->data);
    be->wrms_norm_vjp(bc, dtp, n, err->data, un->data, un1->data, s->abstol, s->reltol, eest,
                      w_eest, ebar->data, du0->data, du1->data);
    for (int i = 0; i < r->lm_m; ++i)
      be->axpy(bc, dtp, n, r->lm_e[i], ebar->data, fbar[i]->data);
  }
  be->axpy(bc, dtp, n, 1.0, du1->data, du0->data);
  for (int i = 0; i < r->lm_m; ++i)
    be->axpy(bc, dtp, n, r->lm_w[i], du1->data, fbar[i]->data);
  nde_array *g = &scratch[2];
  NDE_TRY(p->f->vjp(p->f->ctx, r->t, un, &dk[0], g, dparams));
  stats->nvjp++;
  be->axpy(bc, dtp, n, 1.0, g->data, du0->data);
  (void)kk;
  return NDE_OK;
}

static nde_status backward_steps(direct_state *s, const nde_sens_problem *p,
                                 const nde_array *du_save, const double *w_eest,
                                 const double *w_eigen, nde_array *ubar, void *dparams,
                                 nde_sens_stats *stats, work *w) {
  const nde_ode_solver *solver = p->solver;
  const nde_rk_tableau *tb_dense = solver->ops->tableau; /* NULL: Hermite dense output */
  const nde_array *u0 = p->u0;
  const nde_backend_ops *be = u0->backend->ops;
  void *bc = u0->backend->ctx;
  nde_dtype dtp = u0->dtype;
  size_t n = u0->size;
  int st_count = s->stages;
  double tdir = p->t1 >= p->t0 ? 1.0 : -1.0;
  nde_array *dk, *du1, *du0, *scratch, *extra0, *fvjp;
  NDE_TRY(work_alloc(w, u0, &du1));
  NDE_TRY(work_alloc(w, u0, &du0));
  NDE_TRY(work_alloc(w, u0, &extra0));
  NDE_TRY(work_alloc(w, u0, &fvjp));
  dk = &w->arrays[w->n];
  for (int i = 0; i < st_count; ++i) {
    nde_array *a;
    NDE_TRY(work_alloc(w, u0, &a));
  }
  scratch = &w->arrays[w->n];
  for (int i = 0; i < 4; ++i) {
    nde_array *a;
    NDE_TRY(work_alloc(w, u0, &a));
  }
  /* cotangents of f_j = k_0 of step j waiting for step j (multistep history), a ring */
  nde_array *pending = &w->arrays[w->n];
  for (int i = 0; i < NDE_LM_MAX; ++i) {
    nde_array *a;
    NDE_TRY(work_alloc(w, u0, &a));
    be->fill(bc, dtp, n, 0.0, a->data);
  }

  /* which step each save point belongs to (the integrator's rule) */
  size_t nsave = p->saveat ? p->nsave : 0;
  long *owner = calloc(nsave ? nsave : 1, sizeof *owner);
  if (!owner)
    return nde_error(NDE_ENOMEM, "out of memory");
  {
    size_t isave = 0;
    while (isave < nsave && p->saveat[isave] == p->t0)
      owner[isave++] = -1;
    for (size_t j = 0; j < s->nsteps && isave < nsave; ++j) {
      const step_rec *r = &s->steps[j];
      double tnew = r->dt == p->t1 - r->t ? p->t1 : r->t + r->dt;
      while (isave < nsave && tdir * (p->saveat[isave] - tnew) <= 0)
        owner[isave++] = (long)j;
    }
    if (isave < nsave) {
      free(owner);
      return nde_error(NDE_EINTERNAL, "direct: save point %zu not reached by the solve", isave);
    }
  }

  be->fill(bc, dtp, n, 0.0, ubar->data);
  size_t next = nsave; /* save points are consumed from the end */
  nde_status status = NDE_OK;
  for (size_t jj = s->nsteps; jj-- > 0 && status == NDE_OK;) {
    const step_rec *r = &s->steps[jj];
    nde_array un = column(&r->store, u0, 0);
    nde_array kk[MAX_STAGES];
    for (int i = 0; i < st_count; ++i)
      kk[i] = column(&r->store, u0, (size_t)i + 1);
    nde_array un1 = jj + 1 < s->nsteps ? column(&s->steps[jj + 1].store, u0, 0) : s->u_final;
    for (int i = 0; i < st_count; ++i)
      be->fill(bc, dtp, n, 0.0, dk[i].data);
    be->fill(bc, dtp, n, 0.0, extra0->data);
    NDE_TRY(be->copy(bc, du1->data, ubar->data, nde_array_bytes(du1)));
    double tnew = r->dt == p->t1 - r->t ? p->t1 : r->t + r->dt;
    while (next > 0 && owner[next - 1] == (long)jj) {
      size_t i = --next;
      const void *wcol = (const char *)du_save->data + i * nde_array_bytes(u0);
      double sv = p->saveat[i];
      if (sv == tnew) {
        be->axpy(bc, dtp, n, 1.0, wcol, du1->data);
        continue;
      }
      double th = (sv - r->t) / r->dt;
      double wts[MAX_STAGES];
      be->axpy(bc, dtp, n, 1.0, wcol, extra0->data);
      if (tb_dense && nde_rk_dense_weights(tb_dense, th, wts)) {
        for (int q = 0; q < st_count; ++q)
          if (wts[q] != 0.0)
            be->axpy(bc, dtp, n, r->dt * wts[q], wcol, dk[q].data);
      } else {
        /* cubic Hermite on (u_n, k_0, u_{n+1}, f_{n+1}) */
        double th2 = th * th, th3 = th2 * th, h = r->dt;
        be->axpy(bc, dtp, n, 2 * th3 - 3 * th2, wcol, extra0->data); /* total h00 */
        be->axpy(bc, dtp, n, h * (th3 - 2 * th2 + th), wcol, dk[0].data);
        be->axpy(bc, dtp, n, -2 * th3 + 3 * th2, wcol, du1->data);
        double c11 = h * (th3 - th2);
        if (r->tableau && r->tableau->fsal)
          be->axpy(bc, dtp, n, c11, wcol, dk[r->tableau->stages - 1].data);
        else {
          /* f_{n+1} = f(t_{n+1}, u_{n+1}) was evaluated for the interpolant */
          nde_array wv = *u0;
          wv.data = scratch[0].data;
          wv.owned = 0;
          be->fill(bc, dtp, n, 0.0, wv.data);
          be->axpy(bc, dtp, n, c11, wcol, wv.data);
          NDE_TRY(p->f->vjp(p->f->ctx, tnew, &un1, &wv, fvjp, dparams));
          stats->nvjp++;
          be->axpy(bc, dtp, n, 1.0, fvjp->data, du1->data);
        }
      }
    }
    /* cotangent of f_n = k_0 from later multistep steps */
    nde_array *pend = &pending[jj % NDE_LM_MAX];
    be->axpy(bc, dtp, n, 1.0, pend->data, dk[0].data);
    be->fill(bc, dtp, n, 0.0, pend->data);
    if (!r->tableau) {
      status = lm_reverse(s, p, r, jj, &un, &un1, kk, du1, dk, w_eest ? w_eest[jj] : 0.0,
                          du0, pending, scratch, dparams, stats);
      const void *x[2] = {du0->data, extra0->data};
      double c[2] = {1.0, 1.0};
      be->lincomb(bc, dtp, n, 2, c, x, 0.0, ubar->data);
      continue;
    }
    nde_rk_reverse rv = {.t = r->t,
                         .dt = r->dt,
                         .u0 = &un,
                         .u1 = &un1,
                         .k = kk,
                         .du1 = du1,
                         .dk = dk,
                         .w_eest = w_eest ? w_eest[jj] : 0.0,
                         .abstol = s->abstol,
                         .reltol = s->reltol,
                         .w_eigen = w_eigen ? w_eigen[jj] : 0.0,
                         .du0 = du0,
                         .dparams = dparams,
                         .scratch = scratch};
    status = nde_rk_step_reverse(r->tableau, p->f, &rv);
    stats->nvjp += rv.nvjp;
    if (status != NDE_OK)
      status = nde_error_prefix(status, "direct: step %zu (t = %g, dt = %g)", jj, r->t, r->dt);
    const void *x[2] = {du0->data, extra0->data};
    double c[2] = {1.0, 1.0};
    be->lincomb(bc, dtp, n, 2, c, x, 0.0, ubar->data);
  }
  while (status == NDE_OK && next > 0) { /* points at t0 */
    size_t i = --next;
    be->axpy(bc, dtp, n, 1.0, (const char *)du_save->data + i * nde_array_bytes(u0), ubar->data);
  }
  free(owner);
  return status;
}

static nde_status direct_backward(void *state, const nde_sens_problem *p,
                                  const nde_array *du_save, const double *w_eest,
                                  const double *w_eigen, nde_array *du0, void *dparams,
                                  nde_sens_stats *stats) {
  direct_state *s = state;
  *stats = (nde_sens_stats){0};
  if (!p->f->vjp)
    return nde_error(NDE_EINVAL, "direct: the right-hand side has no vjp");
  if (!p->saveat || p->nsave == 0)
    return nde_error(NDE_EINVAL, "direct: no save points to take cotangents for");
  if (du_save->size != p->u0->size * p->nsave)
    return nde_error(NDE_EINVAL, "direct: cotangents have %zu elements, expected %zu x %zu",
                     du_save->size, p->u0->size, p->nsave);
  work w = {0};
  nde_array *ubar;
  nde_status st = work_alloc(&w, p->u0, &ubar);
  if (st == NDE_OK)
    st = backward_steps(s, p, du_save, w_eest, w_eigen, ubar, dparams, stats, &w);
  if (st == NDE_OK && du0)
    st = ubar->backend->ops->copy(ubar->backend->ctx, du0->data, ubar->data,
                                  nde_array_bytes(ubar));
  size_t per_step = p->u0->size * (size_t)(s->stages + 1) * nde_dtype_size(p->u0->dtype);
  stats->nfe = stats->nvjp;
  stats->peak_bytes = s->nsteps * per_step + (size_t)w.n * nde_array_bytes(p->u0);
  work_free(&w);
  return st;
}

NDE_PLUGIN_DEFINE(sensitivity, direct,
                  .capabilities = NDE_SENS_ODE | NDE_SENS_SDE | NDE_SENS_STEP_ESTIMATES |
                                  NDE_SENS_DISCRETE_EXACT,
                  .create = direct_create, .destroy = direct_destroy, .forward = direct_forward,
                  .backward = direct_backward, .sde_forward = direct_sde_forward,
                  .sde_backward = direct_sde_backward);
