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
  struct nde_ode_workspace *ws; /* where memory comes from and goes back to, or NULL */
  /* the memory behind each array the solve took (≥ its size: a workspace's buffer
     may be larger), by data pointer: the steps swap arrays between the slots */
  struct ws_buf *taken;
  size_t ntaken, taken_cap;
} ode_work;

/*
 * A workspace is a pool of backend buffers. A solve takes each state-sized
 * array it needs (state, stages, scratch, saved states) from the pool: the
 * smallest buffer that is large enough (on the same backend), or, when none
 * is, a new array, dropping the smallest buffer that was too small, so the
 * pool follows the largest state it serves. At the end the solve gives its
 * work arrays back, and nde_ode_solution_recycle() the solution's. Taking
 * and giving are atomic (a solve on another thread gets other buffers or
 * allocates its own), so a forward solve and the backward solves of an
 * adjoint, with different state sizes, share one set of buffers.
 */
typedef struct ws_buf ws_buf;
struct ws_buf {
  void *data;
  size_t bytes;
  nde_backend *backend;
};

#define WS_MAX_BUFFERS 64

struct nde_ode_workspace {
  int taken; /* the lock */
  ws_buf *buf;
  size_t n;
};

nde_status nde_ode_workspace_create(nde_ode_workspace **out) {
  *out = calloc(1, sizeof **out);
  return *out ? NDE_OK : nde_error(NDE_ENOMEM, "out of memory");
}

static void buf_release(ws_buf *b) {
  if (b->data)
    b->backend->ops->release(b->backend->ctx, b->data);
  *b = (ws_buf){0};
}

void nde_ode_workspace_destroy(nde_ode_workspace **ws) {
  if (!ws || !*ws)
    return;
  for (size_t i = 0; i < (*ws)->n; ++i)
    buf_release(&(*ws)->buf[i]);
  free((*ws)->buf);
  free(*ws);
  *ws = NULL;
}

static int ws_lock(nde_ode_workspace *ws) {
  return ws && !__atomic_exchange_n(&ws->taken, 1, __ATOMIC_ACQUIRE);
}

static void ws_unlock(nde_ode_workspace *ws) { __atomic_store_n(&ws->taken, 0, __ATOMIC_RELEASE); }

/* An array like @p like (backend, dtype) of this shape, from the pool or new; *bytes: its memory. */
static nde_status ws_get(nde_ode_workspace *ws, const nde_array *like, int ndim,
                         const size_t *shape, nde_array *out, size_t *bytes) {
  size_t n = 1;
  for (int d = 0; d < ndim; ++d)
    n *= shape[d];
  size_t need = n * nde_dtype_size(like->dtype);
  ws_buf got = {0}, drop = {0};
  if (ws_lock(ws)) {
    size_t fit = SIZE_MAX, small = SIZE_MAX;
    for (size_t i = 0; i < ws->n; ++i) {
      const ws_buf *b = &ws->buf[i];
      if (b->backend != like->backend)
        continue;
      if (b->bytes >= need) {
        if (fit == SIZE_MAX || b->bytes < ws->buf[fit].bytes)
          fit = i;
      } else if (small == SIZE_MAX || b->bytes < ws->buf[small].bytes)
        small = i;
    }
    size_t pick = fit != SIZE_MAX ? fit : small;
    if (pick != SIZE_MAX) {
      *(fit != SIZE_MAX ? &got : &drop) = ws->buf[pick];
      ws->buf[pick] = ws->buf[--ws->n];
    }
    ws_unlock(ws);
  }
  buf_release(&drop);
  if (!got.data) {
    NDE_TRY(nde_array_create(like->backend, like->dtype, ndim, shape, out));
    *bytes = need;
    return NDE_OK;
  }
  *out = (nde_array){.dtype = like->dtype, .ndim = ndim, .size = n, .data = got.data,
                     .backend = got.backend, .owned = 1};
  for (int d = 0; d < ndim; ++d)
    out->shape[d] = shape[d];
  *bytes = got.bytes;
  return NDE_OK;
}

/* Give *a (with @p bytes of memory) to the pool, or free it; *a becomes empty. */
static void ws_put(nde_ode_workspace *ws, nde_array *a, size_t bytes) {
  if (!a->data || !a->owned || !ws_lock(ws)) {
    nde_array_destroy(a);
    return;
  }
  ws_buf b = {a->data, bytes > nde_array_bytes(a) ? bytes : nde_array_bytes(a), a->backend};
  ws_buf drop = {0};
  if (ws->n == WS_MAX_BUFFERS) { /* full: the smallest goes */
    size_t s = 0;
    for (size_t i = 1; i < ws->n; ++i)
      if (ws->buf[i].bytes < ws->buf[s].bytes)
        s = i;
    drop = ws->buf[s];
    ws->buf[s] = ws->buf[--ws->n];
  }
  ws_buf *grown = realloc(ws->buf, (ws->n + 1) * sizeof *grown);
  if (grown) {
    ws->buf = grown;
    ws->buf[ws->n++] = b;
    *a = (nde_array){0};
  }
  ws_unlock(ws);
  buf_release(&drop);
  nde_array_destroy(a); /* only when the pool could not grow */
}

/* ws_get() for the solve @p w, which remembers the memory behind the array. */
static nde_status work_get(ode_work *w, const nde_array *like, int ndim, const size_t *shape,
                           nde_array *out, size_t *bytes) {
  if (w->ntaken == w->taken_cap) {
    size_t cap = w->taken_cap ? 2 * w->taken_cap : 16;
    ws_buf *t = realloc(w->taken, cap * sizeof *t);
    if (!t)
      return nde_error(NDE_ENOMEM, "out of memory");
    w->taken = t;
    w->taken_cap = cap;
  }
  size_t b;
  NDE_TRY(ws_get(w->ws, like, ndim, shape, out, &b));
  w->taken[w->ntaken++] = (ws_buf){out->data, b, out->backend};
  if (bytes)
    *bytes = b;
  return NDE_OK;
}

/* The memory behind an array the solve took (the latest record of its data pointer). */
static size_t work_bytes(const ode_work *w, const nde_array *a) {
  for (size_t i = w->ntaken; i-- > 0;)
    if (w->taken[i].data == a->data)
      return w->taken[i].bytes;
  return nde_array_bytes(a);
}

static nde_array **work_arrays(ode_work *w, nde_array *slot[5]) {
  slot[0] = &w->u1, slot[1] = &w->err, slot[2] = &w->f1buf;
  slot[3] = &w->scratch[0], slot[4] = &w->scratch[1];
  return slot;
}

/* The solve's work arrays (all but u and saves, which the solution takes) back to the pool. */
static void ws_give(nde_ode_workspace *ws, ode_work *w) {
  nde_array *slot[5];
  work_arrays(w, slot);
  for (int i = 0; i < 5; ++i)
    ws_put(ws, slot[i], work_bytes(w, slot[i]));
  for (int i = 0; i < w->nk; ++i)
    ws_put(ws, &w->k[i], work_bytes(w, &w->k[i]));
}

void nde_ode_solution_recycle(nde_ode_solution *sol, nde_ode_workspace *ws) {
  if (!sol)
    return;
  ws_put(ws, &sol->u_final, sol->u_final_bytes);
  ws_put(ws, &sol->u, sol->u_bytes);
  nde_ode_solution_clear(sol);
}

static nde_status save_reserve(ode_work *w, const nde_array *u, size_t want) {
  if (want <= w->cap)
    return NDE_OK;
  /* start at what is wanted (small for a solve that saves one or two points:
     the adjoints solve many short pieces) and double from there */
  size_t cap = w->cap ? w->cap : (want > 2 ? want : 2);
  while (cap < want)
    cap *= 2;
  nde_array bigger = {0};
  size_t shape[2] = {u->size, cap}, bytes;
  NDE_TRY(work_get(w, u, 2, shape, &bigger, &bytes));
  /* a larger buffer holds more columns */
  size_t col = nde_array_bytes(u);
  if (col && bytes / col > cap) {
    cap = bytes / col;
    bigger.shape[1] = cap;
    bigger.size = u->size * cap;
  }
  if (w->ncols)
    w->be->copy(w->bc, bigger.data, w->saves.data, w->ncols * nde_array_bytes(u));
  double *ts = realloc(w->ts, cap * sizeof *ts);
  if (!ts) {
    ws_put(w->ws, &bigger, bytes);
    return nde_error(NDE_ENOMEM, "out of memory saving the solution");
  }
  w->ts = ts;
  ws_put(w->ws, &w->saves, work_bytes(w, &w->saves));
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
  free(w->taken);
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
  int stages = w->ops->stages;
  w->k = calloc((size_t)stages, sizeof *w->k);
  if (!w->k)
    return nde_error(NDE_ENOMEM, "out of memory");
  NDE_TRY(work_get(w, u0, u0->ndim, u0->shape, &w->u, NULL));
  nde_array *slot[5];
  work_arrays(w, slot);
  for (int i = 0; i < 5; ++i)
    NDE_TRY(work_get(w, u0, u0->ndim, u0->shape, slot[i], NULL));
  for (; w->nk < stages; ++w->nk)
    NDE_TRY(work_get(w, u0, u0->ndim, u0->shape, &w->k[w->nk], NULL));
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
    sol->u_final_bytes = work_bytes(&w, &w.u);
    w.u = (nde_array){0};
  }
  if (w.saves.data) {
    sol->u = w.saves;
    sol->u.ndim = 2;
    sol->u.shape[0] = u0->size;
    sol->u.shape[1] = w.ncols;
    sol->u_bytes = work_bytes(&w, &w.saves);
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
