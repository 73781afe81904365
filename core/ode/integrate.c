/*
 * The ODE integrator shared by every ode_solver plugin: step-size control,
 * saving (saveat with dense output, or every step), statistics, steady-state
 * termination, and the failure modes (non-finite state, dt underflow,
 * iteration limit), each a status with a message.
 */
#include "config.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <nde/backend.h>
#include <nde/ode.h>

#include "../integrator/integrator.h"
#include "../util/internal.h"

/* Everything one solve allocates. */
typedef struct ode_work {
  const nde_ode_solver_ops *ops;
  void *state;
  const nde_backend_ops *be;
  void *bc;
  nde_array u, u1, err, f1buf, scratch[2];
  nde_array *k;
  int nk;
  /* saved points: columns of `saves` (size × cap) */
  nde_array saves;
  size_t ncols, cap;
  double *ts;
  size_t step_cap;
  struct nde_ode_workspace *ws; /* where a saves array may come from, or NULL */
} ode_work;

/*
 * A workspace keeps a finished solve's state-sized arrays (all but u, which
 * the solution takes): u1, err, f1buf, scratch[2] and the stages. A solve
 * takes them (atomically, so two solves sharing a workspace never share
 * arrays) when they match its state and method, and gives them back. The
 * solution's arrays (u_final and the saved states) come back through
 * nde_ode_solution_recycle(); a solve takes them as its u and saves.
 */
#define WS_ARRAYS 5
struct nde_ode_workspace {
  int held; /* 1 while stage arrays are kept (guarded by `taken`) */
  int taken;
  nde_array a[WS_ARRAYS];
  nde_array *k;
  int nk;
  nde_array u;     /* a recycled u_final (data NULL: none) */
  nde_array saves; /* recycled saved states: shape[0] rows, shape[1] columns */
};

nde_status nde_ode_workspace_create(nde_ode_workspace **out) {
  *out = calloc(1, sizeof **out);
  return *out ? NDE_OK : nde_error(NDE_ENOMEM, "out of memory");
}

/* Free the stage arrays (the recycled solution arrays stay). */
static void ws_clear(nde_ode_workspace *ws) {
  for (int i = 0; i < WS_ARRAYS; ++i)
    nde_array_destroy(&ws->a[i]);
  for (int i = 0; i < ws->nk; ++i)
    nde_array_destroy(&ws->k[i]);
  free(ws->k);
  ws->k = NULL;
  ws->nk = 0;
  ws->held = 0;
}

void nde_ode_workspace_destroy(nde_ode_workspace **ws) {
  if (!ws || !*ws)
    return;
  ws_clear(*ws);
  nde_array_destroy(&(*ws)->u);
  nde_array_destroy(&(*ws)->saves);
  free(*ws);
  *ws = NULL;
}

static int ws_lock(nde_ode_workspace *ws) {
  return ws && !__atomic_exchange_n(&ws->taken, 1, __ATOMIC_ACQUIRE);
}

static void ws_unlock(nde_ode_workspace *ws) { __atomic_store_n(&ws->taken, 0, __ATOMIC_RELEASE); }

static int same_layout(const nde_array *a, const nde_array *u) {
  if (a->backend != u->backend || a->dtype != u->dtype || a->ndim != u->ndim)
    return 0;
  for (int d = 0; d < u->ndim; ++d)
    if (a->shape[d] != u->shape[d])
      return 0;
  return 1;
}

static nde_array **work_arrays(ode_work *w, nde_array *slot[WS_ARRAYS]) {
  slot[0] = &w->u1, slot[1] = &w->err, slot[2] = &w->f1buf;
  slot[3] = &w->scratch[0], slot[4] = &w->scratch[1];
  return slot;
}

/* Move a matching workspace's stage arrays into w (1), or leave them (0); a
   recycled u of u0's layout moves into w->u either way. */
static int ws_take(nde_ode_workspace *ws, ode_work *w, const nde_array *u0, int stages) {
  if (!ws_lock(ws))
    return 0;
  if (ws->u.data && same_layout(&ws->u, u0)) {
    w->u = ws->u;
    ws->u = (nde_array){0};
  }
  int ok = ws->held && ws->nk == stages && same_layout(&ws->a[0], u0);
  if (ok) {
    nde_array *slot[WS_ARRAYS];
    work_arrays(w, slot);
    for (int i = 0; i < WS_ARRAYS; ++i) {
      *slot[i] = ws->a[i];
      ws->a[i] = (nde_array){0};
    }
    w->k = ws->k;
    w->nk = ws->nk;
    ws->k = NULL;
    ws->nk = 0;
    ws->held = 0;
  }
  ws_unlock(ws);
  return ok;
}

/* Give w's arrays to the workspace (replacing what it held); 1 when taken. */
static int ws_give(nde_ode_workspace *ws, ode_work *w) {
  if (!w->k || w->nk == 0 || !ws_lock(ws))
    return 0;
  ws_clear(ws);
  nde_array *slot[WS_ARRAYS];
  work_arrays(w, slot);
  for (int i = 0; i < WS_ARRAYS; ++i) {
    ws->a[i] = *slot[i];
    *slot[i] = (nde_array){0};
  }
  ws->k = w->k;
  ws->nk = w->nk;
  ws->held = 1;
  w->k = NULL;
  w->nk = 0;
  ws_unlock(ws);
  return 1;
}

/* A recycled saves array with rows of u's size and at least @p want columns, into w. */
static void ws_take_saves(nde_ode_workspace *ws, ode_work *w, const nde_array *u, size_t want) {
  if (!ws_lock(ws))
    return;
  nde_array *s = &ws->saves;
  if (s->data && s->backend == u->backend && s->dtype == u->dtype && s->shape[0] == u->size &&
      s->shape[1] >= want) {
    w->saves = *s;
    w->cap = s->shape[1];
    *s = (nde_array){0};
  }
  ws_unlock(ws);
}

void nde_ode_solution_recycle(nde_ode_solution *sol, nde_ode_workspace *ws) {
  if (sol && ws_lock(ws)) {
    if (sol->u_final.data && sol->u_final.owned) {
      nde_array_destroy(&ws->u);
      ws->u = sol->u_final;
      sol->u_final = (nde_array){0};
    }
    if (sol->u.data && sol->u.owned && sol->u.ndim == 2 && sol->u.shape[1] > 0) {
      nde_array_destroy(&ws->saves);
      ws->saves = sol->u;
      sol->u = (nde_array){0};
    }
    ws_unlock(ws);
  }
  nde_ode_solution_clear(sol);
}

static nde_status alloc_like(const nde_array *u, nde_array *out) {
  return nde_array_create(u->backend, u->dtype, u->ndim, u->shape, out);
}

static nde_status save_reserve(ode_work *w, const nde_array *u, size_t want) {
  if (want <= w->cap)
    return NDE_OK;
  if (!w->saves.data) {
    ws_take_saves(w->ws, w, u, want);
    if (w->saves.data) {
      double *ts = malloc(w->cap * sizeof *ts);
      if (!ts)
        return nde_error(NDE_ENOMEM, "out of memory saving the solution");
      w->ts = ts;
      return NDE_OK;
    }
  }
  /* start at what is wanted (small for a solve that saves one or two points:
     the adjoints solve many short pieces) and double from there */
  size_t cap = w->cap ? w->cap : (want > 2 ? want : 2);
  while (cap < want)
    cap *= 2;
  nde_array bigger = {0};
  size_t shape[2] = {u->size, cap};
  NDE_TRY(nde_array_create(u->backend, u->dtype, 2, shape, &bigger));
  if (w->ncols)
    w->be->copy(w->bc, bigger.data, w->saves.data, w->ncols * nde_array_bytes(u));
  double *ts = realloc(w->ts, cap * sizeof *ts);
  if (!ts) {
    nde_array_destroy(&bigger);
    return nde_error(NDE_ENOMEM, "out of memory saving the solution");
  }
  w->ts = ts;
  nde_array_destroy(&w->saves);
  w->saves = bigger;
  w->cap = cap;
  return NDE_OK;
}

/* A view of the next save column shaped like u. */
static nde_status save_column(ode_work *w, const nde_array *u, double t, nde_array *view) {
  NDE_TRY(save_reserve(w, u, w->ncols + 1));
  NDE_TRY(nde_array_view(&w->saves, w->ncols * u->size, u->ndim, u->shape, view));
  w->ts[w->ncols++] = t;
  return NDE_OK;
}

static nde_status save_copy(ode_work *w, const nde_array *u, double t) {
  nde_array col;
  NDE_TRY(save_column(w, u, t, &col));
  return w->be->copy(w->bc, col.data, u->data, nde_array_bytes(u));
}

static void swap_arrays(nde_array *a, nde_array *b) {
  nde_array t = *a;
  *a = *b;
  *b = t;
}

static nde_status do_step(ode_work *w, const nde_ode_rhs *f, nde_ode_step *st) {
  if (w->ops->tableau)
    return nde_rk_step(w->ops->tableau, f, st);
  return w->ops->step(w->state, f, st);
}

static nde_status do_dense(ode_work *w, const nde_ode_rhs *f, nde_ode_step *st, double th,
                           nde_array *out, long *nfe) {
  int needs_f1 = !w->ops->dense && !(w->ops->tableau && w->ops->tableau->interp_degree > 0);
  if (needs_f1 && !st->f1_valid) {
    /* Hermite needs f(t1, u1); it is reused as the next step's f0, so no evaluation is wasted */
    NDE_TRY(f->eval(f->ctx, st->t + st->dt, st->u1, &w->f1buf));
    ++*nfe;
    st->f1 = &w->f1buf;
    st->f1_valid = 1;
  }
  if (w->ops->dense)
    return w->ops->dense(w->state, st, th, out);
  if (w->ops->tableau)
    return nde_rk_dense(w->ops->tableau, st, th, out);
  return nde_hermite_dense(st, th, out);
}

static void work_free(ode_work *w) {
  if (w->state && w->ops->destroy)
    w->ops->destroy(w->state);
  nde_array_destroy(&w->u);
  nde_array_destroy(&w->u1);
  nde_array_destroy(&w->err);
  nde_array_destroy(&w->f1buf);
  nde_array_destroy(&w->scratch[0]);
  nde_array_destroy(&w->scratch[1]);
  for (int i = 0; i < w->nk; ++i)
    nde_array_destroy(&w->k[i]);
  free(w->k);
  nde_array_destroy(&w->saves);
  free(w->ts);
}

static nde_status check_saveat(double t0, double t1, const double *saveat, size_t n) {
  double tdir = t1 >= t0 ? 1.0 : -1.0;
  for (size_t i = 0; i < n; ++i) {
    double s = saveat[i];
    if (!isfinite(s) || tdir * (s - t0) < 0 || tdir * (s - t1) > 0)
      return nde_error(NDE_EINVAL, "saveat[%zu] = %g lies outside tspan [%g, %g]", i, s, t0, t1);
    if (i && tdir * (s - saveat[i - 1]) < 0)
      return nde_error(NDE_EINVAL, "saveat[%zu] = %g: saveat must be ordered from t0 to t1", i,
                       s);
  }
  return NDE_OK;
}

static nde_status setup(ode_work *w, const nde_ode_solver *solver, const nde_array *u0,
                        nde_ode_workspace *ws) {
  w->ops = solver->ops;
  w->be = u0->backend->ops;
  w->bc = u0->backend->ctx;
  w->ws = ws;
  int taken = ws_take(ws, w, u0, w->ops->stages);
  if (!w->u.data)
    NDE_TRY(alloc_like(u0, &w->u));
  if (taken) {
    if (w->ops->create)
      NDE_TRY(w->ops->create(solver->options, u0, &w->state));
    return w->be->copy(w->bc, w->u.data, u0->data, nde_array_bytes(u0));
  }
  NDE_TRY(alloc_like(u0, &w->u1));
  NDE_TRY(alloc_like(u0, &w->err));
  NDE_TRY(alloc_like(u0, &w->f1buf));
  NDE_TRY(alloc_like(u0, &w->scratch[0]));
  NDE_TRY(alloc_like(u0, &w->scratch[1]));
  w->k = calloc((size_t)w->ops->stages, sizeof *w->k);
  if (!w->k)
    return nde_error(NDE_ENOMEM, "out of memory");
  for (; w->nk < w->ops->stages; ++w->nk)
    NDE_TRY(alloc_like(u0, &w->k[w->nk]));
  if (w->ops->create)
    NDE_TRY(w->ops->create(solver->options, u0, &w->state));
  return w->be->copy(w->bc, w->u.data, u0->data, nde_array_bytes(u0));
}

/* The main loop; on return the caller packages what was saved. */
static nde_status integrate(ode_work *w, const nde_ode_rhs *f, nde_ode_options *o, double t0,
                            double t1, const double *saveat, size_t nsave, nde_ode_stats *stats,
                            double *t_end) {
  const nde_ode_solver_ops *ops = w->ops;
  nde_dtype dtp = w->u.dtype;
  size_t n = w->u.size;
  double tdir = t1 >= t0 ? 1.0 : -1.0, span = fabs(t1 - t0);
  double dtmax = o->dtmax > 0 ? o->dtmax : span;
  int adaptive = o->adaptive && ops->error_order > 0;
  int want_err = adaptive || ops->error_order > 0;
  size_t norm_n = o->norm_size > 0 && o->norm_size < n ? o->norm_size : n; /* seminorm */
  double t = t0;
  *t_end = t;
  size_t isave = 0;

  NDE_TRY(f->eval(f->ctx, t0, &w->u, &w->k[0]));
  stats->nfe++;
  int f0_valid = 1;
  if (!w->be->all_finite(w->bc, dtp, n, w->u.data))
    return nde_error(NDE_ENONFINITE, "initial state u0 is not finite");
  if (!w->be->all_finite(w->bc, dtp, n, w->k[0].data))
    return nde_error(NDE_ENONFINITE, "f(t0, u0) is not finite at t0 = %g", t0);

  if (nsave) {
    while (isave < nsave && saveat[isave] == t0)
      NDE_TRY(save_copy(w, &w->u, saveat[isave++]));
  } else
    NDE_TRY(save_copy(w, &w->u, t0));
  if (span == 0)
    return NDE_OK;

  double dt;
  if (o->replay_dt) {
    if (o->n_replay == 0)
      return nde_error(NDE_EINVAL, "replay: empty step sequence");
    dt = o->replay_dt[0];
  } else if (o->dt > 0)
    dt = tdir * fmin(o->dt, dtmax);
  else if (adaptive) {
    double mag;
    /* u1 and err are free until the first step */
    NDE_TRY(nde_initial_dt_into(f->eval, f->ctx, t0, &w->u, &w->k[0], tdir, ops->order,
                                o->abstol, o->reltol, dtmax, norm_n, &w->u1, &w->err, &mag,
                                &stats->nfe));
    dt = tdir * mag;
  } else
    return nde_error(NDE_EINVAL, "dt: a fixed-step solve (adaptive = false) needs dt > 0");

  nde_pi_controller ctl = o->controller;
  nde_pi_controller_reset(&ctl);
  long iters = 0;
  /* fixed steps end at t0 + k·dt (nde_fixed_step_end), not at a running sum */
  int fixed = !adaptive && !o->replay_dt;
  size_t nfixed = 0;
  double tfixed = t0;
  while (tdir * (t1 - t) > 0) {
    double dtmin = o->dtmin > 0 ? o->dtmin : 1e-14 * fmax(1.0, fabs(t));
    if (iters >= o->maxiters)
      return nde_error(NDE_EMAXITERS, "maxiters (%ld steps) reached at t = %.17g before t1 = %g",
                       o->maxiters, t, t1);
    ++iters;
    if (!f0_valid) {
      NDE_TRY(f->eval(f->ctx, t, &w->u, &w->k[0]));
      stats->nfe++;
      f0_valid = 1;
    }
    double h = fabs(dt) > dtmax ? tdir * dtmax : dt;
    int last = 0;
    double rem = t1 - t;
    if (o->replay_dt) {
      size_t i = (size_t)(iters - 1);
      if (i >= o->n_replay)
        return nde_error(NDE_EINVAL, "replay: the %zu replayed steps end at t = %.17g before "
                         "t1 = %g", o->n_replay, t, t1);
      h = o->replay_dt[i];
      if (i + 1 == o->n_replay) {
        h = rem;
        last = 1;
      }
    } else if (fixed) {
      tfixed = nde_fixed_step_end(t0, t1, dt, nfixed + 1, &last);
      h = tfixed - t;
    } else if (tdir * (h - rem) >=
               -1e-12 * fabs(rem) - 4 * DBL_EPSILON * fmax(fabs(t), fabs(t1))) {
      h = rem;
      last = 1;
    }
    if (adaptive && !last && fabs(h) < dtmin)
      return nde_error(NDE_EDTMIN, "step size %g fell below dtmin %g at t = %.17g", fabs(h),
                       dtmin, t);
    nde_ode_step st = {.t = t,
                       .dt = h,
                       .u0 = &w->u,
                       .u1 = &w->u1,
                       .err = want_err ? &w->err : NULL,
                       .k = w->k,
                       .nk = w->nk,
                       .f1 = &w->f1buf,
                       .scratch = w->scratch,
                       .eigen_est = NAN,
                       .want_eest = want_err,
                       .abstol = o->abstol,
                       .reltol = o->reltol,
                       .norm_n = norm_n,
                       .want_eigen = o->stiffness_estimate};
    nde_status s = do_step(w, f, &st);
    stats->nfe += st.nfe;
    if (s != NDE_OK)
      return nde_error_prefix(s, "step at t = %.17g, dt = %g", t, h);
    if (!w->be->all_finite(w->bc, dtp, n, w->u1.data)) {
      if (ops->step_done)
        ops->step_done(w->state, &st, 0);
      stats->rejected++;
      if (!adaptive || o->replay_dt)
        return nde_error(NDE_ENONFINITE, "state became non-finite in the step from t = %.17g "
                         "(dt = %g)", t, h);
      dt = h * ctl.qmin;
      if (fabs(dt) < dtmin)
        return nde_error(NDE_ENONFINITE, "state became non-finite at t = %.17g and the step "
                         "size fell below dtmin %g", t, dtmin);
      continue;
    }
    double eest = 0;
    if (st.eest_valid)
      eest = st.eest;
    else if (want_err)
      eest = w->be->wrms_norm(w->bc, dtp, norm_n, w->err.data, w->u.data, w->u1.data,
                              o->abstol, o->reltol);
    double dtnew = dt;
    if (adaptive && !o->replay_dt && !nde_pi_controller_step(&ctl, eest, h, &dtnew)) {
      if (ops->step_done)
        ops->step_done(w->state, &st, 0);
      stats->rejected++;
      dt = dtnew;
      if (fabs(dt) < dtmin)
        return nde_error(NDE_EDTMIN, "step size %g fell below dtmin %g at t = %.17g "
                         "(error norm %g)", fabs(dt), dtmin, t, eest);
      continue;
    }
    stats->accepted++;
    if (o->record_steps)
      NDE_TRY(nde_step_record_push(&stats->steps, &stats->nsteps, &w->step_cap,
                                   (nde_step_record){t, h, eest, st.eigen_est}));
    if (o->on_step)
      NDE_TRY(o->on_step(o->user, &st, eest));
    double tnew = last ? t1 : fixed ? tfixed : t + h;
    nfixed += fixed;
    if (nsave) {
      while (isave < nsave && tdir * (saveat[isave] - tnew) <= 0) {
        double sv = saveat[isave++];
        if (sv == tnew)
          NDE_TRY(save_copy(w, &w->u1, sv));
        else {
          nde_array col;
          NDE_TRY(save_column(w, &w->u, sv, &col));
          NDE_TRY(do_dense(w, f, &st, (sv - t) / h, &col, &stats->nfe));
        }
      }
    } else if (o->save_everystep || last)
      NDE_TRY(save_copy(w, &w->u1, tnew));
    if (ops->step_done)
      ops->step_done(w->state, &st, 1);
    if (st.f1_valid) {
      swap_arrays(st.f1, &w->k[0]);
      f0_valid = 1;
    } else
      f0_valid = 0;
    swap_arrays(&w->u, &w->u1);
    t = tnew;
    *t_end = t;
    if (o->replay_dt)
      dt = (size_t)iters < o->n_replay ? o->replay_dt[iters] : dt;
    else if (adaptive)
      dt = dtnew;
    if (o->steady_state) {
      if (!f0_valid) {
        NDE_TRY(f->eval(f->ctx, t, &w->u, &w->k[0]));
        stats->nfe++;
        f0_valid = 1;
      }
      double du = w->be->norm2(w->bc, dtp, n, w->k[0].data);
      double un = w->be->norm2(w->bc, dtp, n, w->u.data);
      if (du <= o->abstol + o->reltol * un) {
        stats->steady = 1;
        /* the state no longer changes: the remaining save points are the steady state */
        if (nsave)
          while (isave < nsave)
            NDE_TRY(save_copy(w, &w->u, saveat[isave++]));
        else if (!o->save_everystep)
          NDE_TRY(save_copy(w, &w->u, t));
        return NDE_OK;
      }
    }
  }
  return NDE_OK;
}

nde_status nde_ode_solve(const nde_ode_solver *solver, const nde_ode_rhs *f,
                         const nde_ode_options *opt, double t0, double t1, const nde_array *u0,
                         const double *saveat, size_t nsave, nde_ode_solution *sol) {
  *sol = (nde_ode_solution){0};
  if (!solver || !f || !f->eval || !u0 || !u0->backend)
    return nde_error(NDE_EINVAL, "nde_ode_solve: missing solver, right-hand side or u0");
  if (!isfinite(t0) || !isfinite(t1))
    return nde_error(NDE_EINVAL, "tspan: t0 and t1 must be finite (got %g, %g)", t0, t1);
  if (!saveat)
    nsave = 0;
  NDE_TRY(check_saveat(t0, t1, saveat, nsave));
  nde_ode_options o = opt ? *opt : solver->solve;
  ode_work w = {0};
  nde_status st = setup(&w, solver, u0, o.workspace);
  double t_end = t0;
  if (st == NDE_OK) {
    st = integrate(&w, f, &o, t0, t1, saveat, nsave, &sol->stats, &t_end);
    if (st != NDE_OK)
      st = nde_error_prefix(st, "%s", solver->ops->header.name);
  }
  /* package what exists, also after a failure */
  if (w.u.data) {
    sol->t_final = t_end;
    sol->u_final = w.u;
    w.u = (nde_array){0};
  }
  if (w.saves.data) {
    sol->u = w.saves;
    sol->u.ndim = 2;
    sol->u.shape[0] = u0->size;
    sol->u.shape[1] = w.ncols;
    sol->u.size = u0->size * w.ncols;
    w.saves = (nde_array){0};
    sol->t = w.ts;
    sol->nsave = w.ncols;
    w.ts = NULL;
  }
  if (st == NDE_OK)
    ws_give(o.workspace, &w);
  work_free(&w);
  return st;
}
