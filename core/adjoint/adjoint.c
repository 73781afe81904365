/*
 * The continuous adjoints (backsolve, interpolating, quadrature): the forward
 * solve that keeps what each needs, the augmented right-hand sides, and the
 * backward sweep from t1 to t0 that stops at every save point (to add its
 * cotangent to λ) and at every checkpoint (to re-solve the next interval).
 */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <nde/adjoint.h>
#include <nde/backend.h>

#include "adjoint_impl.h"

struct nde_adjoint {
  nde_adjoint_config cfg;
  char *solver_name;
  nde_ode_solver *own_solver; /* backward solver when it differs from the forward one */
  /* what the forward pass kept */
  int have_forward;
  double t0, t1;
  size_t n, nsave;
  nde_array u_end;  /* BACKSOLVE: u(t1) */
  nde_array saves;  /* BACKSOLVE with reset: the saved states */
  nde_ode_trajectory *traj;
  size_t traj_peak;
  /* checkpoints (INTERPOLATING): states at ck_t[0..nck) */
  nde_array ck_u;
  double *ck_t;
  size_t nck, ck_grid;
  nde_ode_step_hook ck_next;
  void *ck_next_user;
  long loaded; /* checkpoint interval whose dense output is in traj; −1 none */
  /* kept between calls (made anew when the problem's shape changes), so
     repeated training steps allocate no state-sized memory: the solves'
     memory pool when the caller's solver options bring none (the forward,
     checkpoint and backward solves share one), and the sweep's arrays
     (aug_ctx) */
  nde_ode_workspace *ws;
  nde_array y, ubuf, mu, lamq, wu, fbuf;
};

nde_status nde_adjoint_create(const nde_adjoint_config *config, nde_adjoint **out) {
  *out = NULL;
  nde_adjoint *a = calloc(1, sizeof *a);
  if (!a)
    return nde_error(NDE_ENOMEM, "out of memory");
  a->cfg = *config;
  a->loaded = -1;
  if (config->solver && *config->solver) {
    nde_status st = nde_ode_solver_open(NULL, config->solver, config->solver_options, "solver",
                                        &a->own_solver);
    if (st != NDE_OK) {
      free(a);
      return st;
    }
  }
  a->cfg.solver = NULL;
  a->cfg.solver_options = NULL;
  *out = a;
  return NDE_OK;
}

void nde_adjoint_destroy(nde_adjoint **adj) {
  if (!adj || !*adj)
    return;
  nde_adjoint *a = *adj;
  nde_ode_solver_destroy(&a->own_solver);
  nde_array_destroy(&a->u_end);
  nde_array_destroy(&a->saves);
  nde_array_destroy(&a->ck_u);
  free(a->ck_t);
  nde_ode_trajectory_destroy(&a->traj);
  nde_ode_workspace_destroy(&a->ws);
  nde_array *kept[] = {&a->y, &a->ubuf, &a->mu, &a->lamq, &a->wu, &a->fbuf};
  for (size_t i = 0; i < sizeof kept / sizeof *kept; ++i)
    nde_array_destroy(kept[i]);
  free(a);
  *adj = NULL;
}

static nde_status check_problem(const nde_sens_problem *p) {
  if (!p || !p->f || !p->f->eval || !p->solver || !p->u0 || !p->u0->backend)
    return nde_error(NDE_EINVAL, "sensitivity problem: missing right-hand side, solver or u0");
  if (!p->f->vjp)
    return nde_error(NDE_EINVAL, "sensitivity problem: the right-hand side has no vjp");
  if (!p->saveat || p->nsave < 1)
    return nde_error(NDE_EINVAL, "sensitivity problem: at least one save point is needed");
  return NDE_OK;
}

static size_t elem(const nde_array *u) { return nde_dtype_size(u->dtype); }

/* ---- checkpoints: the state at the first accepted step end past each grid time ---- */

static double grid_time(const nde_adjoint *a, size_t k) {
  return a->t0 + (a->t1 - a->t0) * (double)k / (double)a->cfg.checkpoints;
}

static nde_status ck_store(nde_adjoint *a, double t, const nde_array *u) {
  nde_array col;
  NDE_TRY(nde_array_view(&a->ck_u, a->nck * a->n, 1, &a->n, &col));
  NDE_TRY(u->backend->ops->copy(u->backend->ctx, col.data, u->data, a->n * elem(u)));
  a->ck_t[a->nck++] = t;
  return NDE_OK;
}

static nde_status ck_record(void *user, const nde_ode_step *st, double eest) {
  nde_adjoint *a = user;
  if (a->ck_next)
    NDE_TRY(a->ck_next(a->ck_next_user, st, eest));
  double dir = a->t1 >= a->t0 ? 1.0 : -1.0, tnew = st->t + st->dt;
  int passed = 0;
  while (a->ck_grid < a->cfg.checkpoints && dir * (tnew - grid_time(a, a->ck_grid)) >= 0) {
    a->ck_grid++;
    passed = 1;
  }
  if (passed && dir * (a->t1 - tnew) > 0 && a->nck < a->cfg.checkpoints)
    NDE_TRY(ck_store(a, tnew, st->u1));
  return NDE_OK;
}

/* ---- memory kept between calls ---- */

/* Every solve's memory pool: the caller's (the problem's solver options), else the adjoint's. */
static nde_status use_workspace(nde_adjoint *a, const nde_sens_problem *p, nde_ode_options *o) {
  o->workspace = p->solver->solve.workspace;
  if (!o->workspace) {
    if (!a->ws)
      NDE_TRY(nde_ode_workspace_create(&a->ws));
    o->workspace = a->ws;
  }
  return NDE_OK;
}

/* *arr with this layout: kept when it has it, else made (zeroed) anew. */
static nde_status keep_array(nde_array *arr, const nde_array *like, int ndim, const size_t *shape) {
  int same = arr->data && arr->backend == like->backend && arr->dtype == like->dtype &&
             arr->ndim == ndim;
  for (int d = 0; same && d < ndim; ++d)
    same = arr->shape[d] == shape[d];
  if (same)
    return NDE_OK;
  nde_array_destroy(arr);
  return nde_array_create(like->backend, like->dtype, ndim, shape, arr);
}

/* ---- forward ---- */

nde_status nde_adjoint_forward(nde_adjoint *a, const nde_sens_problem *p, nde_ode_solution *sol) {
  *sol = (nde_ode_solution){0};
  NDE_TRY(check_problem(p));
  const nde_array *u0 = p->u0;
  a->have_forward = 0;
  a->t0 = p->t0;
  a->t1 = p->t1;
  a->n = u0->size;
  a->nsave = p->nsave;
  a->loaded = -1;
  a->traj_peak = 0;
  nde_ode_options o = p->solver->solve;
  o.record_steps = 1;
  NDE_TRY(use_workspace(a, p, &o));
  nde_adjoint_method m = a->cfg.method;
  if (m != NDE_ADJOINT_BACKSOLVE) {
    if (a->traj && !nde_ode_trajectory_fits(a->traj, p->solver, u0))
      nde_ode_trajectory_destroy(&a->traj);
    if (!a->traj)
      NDE_TRY(nde_ode_trajectory_create(p->solver, p->f, u0, &a->traj));
    nde_ode_trajectory_set_rhs(a->traj, p->f);
    nde_ode_trajectory_reset(a->traj);
    if (m == NDE_ADJOINT_INTERPOLATING && a->cfg.checkpoints > 0) {
      size_t c = a->cfg.checkpoints;
      if (a->ck_u.size != c * a->n || a->ck_u.dtype != u0->dtype ||
          a->ck_u.backend != u0->backend) {
        nde_array_destroy(&a->ck_u);
        size_t shape[2] = {a->n, c};
        NDE_TRY(nde_array_create(u0->backend, u0->dtype, 2, shape, &a->ck_u));
        double *t = realloc(a->ck_t, c * sizeof *t);
        if (!t)
          return nde_error(NDE_ENOMEM, "out of memory for checkpoints");
        a->ck_t = t;
      }
      a->nck = 0;
      a->ck_grid = 1;
      NDE_TRY(ck_store(a, p->t0, u0));
      a->ck_next = o.on_step;
      a->ck_next_user = o.user;
      o.on_step = ck_record;
      o.user = a;
    } else {
      a->nck = 0;
      nde_ode_trajectory_attach(a->traj, &o);
    }
  }
  NDE_TRY(nde_ode_solve(p->solver, p->f, &o, p->t0, p->t1, u0, p->saveat, p->nsave, sol));
  if (sol->stats.steady)
    return nde_error(NDE_EINVAL, "continuous adjoints need the solve to reach t1; it stopped at "
                     "a steady state at t = %g (disable steady_state)", sol->t_final);
  if (m == NDE_ADJOINT_BACKSOLVE) {
    if (a->u_end.size != a->n || a->u_end.dtype != u0->dtype || a->u_end.backend != u0->backend) {
      nde_array_destroy(&a->u_end);
      NDE_TRY(nde_array_create(u0->backend, u0->dtype, 1, &a->n, &a->u_end));
    }
    const nde_backend_ops *be = u0->backend->ops;
    NDE_TRY(be->copy(u0->backend->ctx, a->u_end.data, sol->u_final.data, a->n * elem(u0)));
    if (a->cfg.reset) {
      if (a->saves.size != sol->u.size || a->saves.dtype != u0->dtype ||
          a->saves.backend != u0->backend) {
        nde_array_destroy(&a->saves);
        size_t shape[2] = {a->n, p->nsave};
        NDE_TRY(nde_array_create(u0->backend, u0->dtype, 2, shape, &a->saves));
      }
      NDE_TRY(be->copy(u0->backend->ctx, a->saves.data, sol->u.data, sol->u.size * elem(u0)));
    }
  } else if (a->nck == 0) {
    a->traj_peak = nde_ode_trajectory_bytes(a->traj);
    a->loaded = 0;
  }
  a->have_forward = 1;
  return NDE_OK;
}

/* ---- the augmented right-hand sides ----
 *
 * The backward solves run in reversed time s = −t (from −t1 up to −t0), where
 * the augmented system reads d[u, λ, μ]/ds = [−f, λᵀ∂f/∂u, λᵀ∂f/∂p]: the VJP's
 * outputs are the derivatives as they come, with no pass negating λ's and μ's
 * parts (only backsolve's u part is negated, n elements instead of n + p).
 * Negation is exact and IEEE rounding is symmetric in sign, so every step,
 * error norm and state is bit for bit what the solve in t would give.
 */
typedef struct aug_ctx {
  nde_adjoint *a;
  const nde_sens_problem *p;
  const nde_rk_tableau *btableau; /* backward method's tableau (quadrature dense output) */
  /* the adjoint's kept arrays (nde_adjoint::ubuf, ...): */
  nde_array *ubuf;              /* u(t) from the dense output */
  nde_array *mu;                /* QUADRATURE: the parameter integral */
  nde_array *lamq, *wu, *fbuf;  /* QUADRATURE: λ at a node, scratch, f1 for Hermite */
  nde_ode_rhs rhs;
  double gl_x[NDE_GAUSS_LEGENDRE_MAX], gl_w[NDE_GAUSS_LEGENDRE_MAX];
  int gl_m;
  long nvjp, nfe_extra;
} aug_ctx;

/* The augmented system's derivative in reversed time: @p s = −t. */
static nde_status aug_eval(void *ctx, double s, const nde_array *y, nde_array *dy) {
  aug_ctx *c = ctx;
  double t = -s;
  const nde_sens_problem *p = c->p;
  const nde_array *u0 = p->u0;
  const nde_backend_ops *be = u0->backend->ops;
  void *bc = u0->backend->ctx;
  size_t n = u0->size, np = p->n_params;
  nde_adjoint_method m = c->a->cfg.method;
  nde_array u, lam, dlam, du;
  size_t off = 0;
  if (m == NDE_ADJOINT_BACKSOLVE) {
    NDE_TRY(nde_array_view(y, 0, u0->ndim, u0->shape, &u));
    NDE_TRY(nde_array_view(dy, 0, u0->ndim, u0->shape, &du));
    if (!p->eval_vjp)
      NDE_TRY(p->f->eval(p->f->ctx, t, &u, &du));
    off = n;
  } else {
    NDE_TRY(nde_ode_trajectory_eval(c->a->traj, t, c->ubuf));
    u = *c->ubuf;
  }
  NDE_TRY(nde_array_view(y, off, u0->ndim, u0->shape, &lam));
  NDE_TRY(nde_array_view(dy, off, u0->ndim, u0->shape, &dlam));
  void *dmu = NULL;
  if (m != NDE_ADJOINT_QUADRATURE && np) { /* the VJP accumulates into dμ/ds */
    dmu = (char *)dy->data + (off + n) * elem(u0);
    be->fill(bc, u0->dtype, np, 0.0, dmu);
  }
  if (m == NDE_ADJOINT_BACKSOLVE && p->eval_vjp) /* f and its pullback from one pass */
    NDE_TRY(p->eval_vjp(p->f->ctx, t, &u, &du, &lam, &dlam, dmu));
  else
    NDE_TRY(p->f->vjp(p->f->ctx, t, &u, &lam, &dlam, dmu));
  c->nvjp++;
  if (m == NDE_ADJOINT_BACKSOLVE) /* du/ds = −f */
    be->scale(bc, u0->dtype, n, -1.0, du.data);
  return NDE_OK;
}

/* QUADRATURE: after every accepted backward step, μ += ∫ over the step of λᵀ∂f/∂p. */
static nde_status quad_step(void *user, const nde_ode_step *st, double eest) {
  (void)eest;
  aug_ctx *c = user;
  const nde_sens_problem *p = c->p;
  const nde_array *u0 = p->u0;
  const nde_backend_ops *be = u0->backend->ops;
  void *bc = u0->backend->ctx;
  nde_ode_step s = *st;
  int hermite = !(c->btableau && c->btableau->interp_degree > 0);
  if (hermite && !s.f1_valid) {
    NDE_TRY(aug_eval(c, s.t + s.dt, s.u1, c->fbuf));
    c->nfe_extra++;
    s.f1 = c->fbuf;
    s.f1_valid = 1;
  }
  /* the step runs in reversed time (s.t = −t, s.dt = −dt): λ's dense output is λ's */
  for (int q = 0; q < c->gl_m; ++q) {
    double tq = -(s.t + c->gl_x[q] * s.dt);
    NDE_TRY(nde_ode_step_dense(c->btableau, &s, c->gl_x[q], c->lamq));
    NDE_TRY(nde_ode_trajectory_eval(c->a->traj, tq, c->ubuf));
    /* the step runs from t toward t0: its share of ∫_{t0}^{t1} is −dt·Σ w_q g(t_q) */
    be->scale(bc, u0->dtype, c->lamq->size, s.dt * c->gl_w[q], c->lamq->data);
    if (p->vjp_params) /* λ's cotangent at the node is not needed: skip forming it */
      NDE_TRY(p->vjp_params(p->f->ctx, tq, c->ubuf, c->lamq, c->mu->data));
    else
      NDE_TRY(p->f->vjp(p->f->ctx, tq, c->ubuf, c->lamq, c->wu, c->mu->data));
    c->nvjp++;
  }
  return NDE_OK;
}

/* ---- the backward sweep ---- */

static int cmp_up(const void *x, const void *y) {
  double a = *(const double *)x, b = *(const double *)y;
  return (a > b) - (a < b);
}

/* t1, the save points, the checkpoints and t0, ordered from t1 to t0, distinct. */
static nde_status break_times(const nde_adjoint *a, const nde_sens_problem *p, double **out,
                              size_t *count) {
  size_t cap = p->nsave + a->nck + 2, k = 0;
  double *b = malloc(cap * sizeof *b);
  if (!b)
    return nde_error(NDE_ENOMEM, "out of memory");
  b[k++] = p->t0;
  b[k++] = p->t1;
  for (size_t j = 0; j < p->nsave; ++j)
    b[k++] = p->saveat[j];
  for (size_t j = 0; j < a->nck; ++j)
    b[k++] = a->ck_t[j];
  qsort(b, k, sizeof *b, cmp_up);
  size_t u = 0;
  for (size_t i = 0; i < k; ++i)
    if (!u || b[i] != b[u - 1])
      b[u++] = b[i];
  if (p->t1 >= p->t0) /* from t1 down to t0 */
    for (size_t i = 0; i < u / 2; ++i) {
      double t = b[i];
      b[i] = b[u - 1 - i];
      b[u - 1 - i] = t;
    }
  *out = b;
  *count = u;
  return NDE_OK;
}

/* Dense output over the checkpoint interval containing [t_lo, t_hi] (re-solved forward). */
static nde_status load_interval(nde_adjoint *a, const nde_sens_problem *p, double t_lo,
                                nde_sens_stats *stats) {
  if (a->nck == 0)
    return NDE_OK;
  double dir = a->t1 >= a->t0 ? 1.0 : -1.0;
  size_t k = 0;
  while (k + 1 < a->nck && dir * (t_lo - a->ck_t[k + 1]) >= 0)
    ++k;
  if ((long)k == a->loaded)
    return NDE_OK;
  double end = k + 1 < a->nck ? a->ck_t[k + 1] : a->t1;
  nde_ode_trajectory_reset(a->traj);
  nde_ode_trajectory_set_rhs(a->traj, p->f);
  long nfe0 = nde_ode_trajectory_nfe(a->traj);
  nde_ode_options o = p->solver->solve;
  o.on_step = NULL;
  o.user = NULL;
  o.record_steps = 0;
  o.save_everystep = 0;
  o.steady_state = 0;
  NDE_TRY(use_workspace(a, p, &o));
  nde_ode_trajectory_attach(a->traj, &o);
  nde_array uk;
  NDE_TRY(nde_array_view(&a->ck_u, k * a->n, p->u0->ndim, p->u0->shape, &uk));
  nde_ode_solution fs;
  nde_status st = nde_ode_solve(p->solver, p->f, &o, a->ck_t[k], end, &uk, &end, 1, &fs);
  stats->nfe += fs.stats.nfe + (nde_ode_trajectory_nfe(a->traj) - nfe0);
  nde_ode_solution_recycle(&fs, o.workspace);
  if (st != NDE_OK)
    return nde_error_prefix(st, "re-solving checkpoint interval [%g, %g]", a->ck_t[k], end);
  a->loaded = (long)k;
  size_t bytes = nde_ode_trajectory_bytes(a->traj);
  if (bytes > a->traj_peak)
    a->traj_peak = bytes;
  return NDE_OK;
}

static nde_status sweep(nde_adjoint *a, const nde_sens_problem *p, const nde_array *du_save,
                        nde_array *y, aug_ctx *c, const nde_ode_solver *bsolver,
                        nde_ode_options *bo, nde_sens_stats *stats) {
  const nde_array *u0 = p->u0;
  const nde_backend_ops *be = u0->backend->ops;
  void *bc = u0->backend->ctx;
  size_t n = a->n, es = elem(u0);
  size_t lam_off = a->cfg.method == NDE_ADJOINT_BACKSOLVE ? n : 0;
  double *b = NULL;
  size_t nb = 0;
  NDE_TRY(break_times(a, p, &b, &nb));
  nde_status st = NDE_OK;
  /* until the first cotangent arrives λ and μ stay 0: nothing to integrate,
     unless backsolve must carry u back to a save point without a reset */
  int idle = !(a->cfg.method == NDE_ADJOINT_BACKSOLVE && !a->cfg.reset);
  for (size_t i = 0; i < nb && st == NDE_OK; ++i) {
    long reset = -1;
    for (size_t j = 0; j < p->nsave; ++j)
      if (p->saveat[j] == b[i]) {
        be->axpy(bc, u0->dtype, n, 1.0, (const char *)du_save->data + j * n * es,
                 (char *)y->data + lam_off * es);
        reset = (long)j;
        idle = 0;
      }
    if (a->cfg.method == NDE_ADJOINT_BACKSOLVE && a->cfg.reset && reset >= 0 && i > 0)
      st = be->copy(bc, y->data, (const char *)a->saves.data + (size_t)reset * n * es, n * es);
    if (st != NDE_OK || i + 1 == nb)
      break;
    if (idle)
      continue;
    if (a->cfg.method != NDE_ADJOINT_BACKSOLVE)
      st = load_interval(a, p, b[i + 1], stats);
    if (st != NDE_OK)
      break;
    nde_ode_solution bs;
    double s_end = -b[i + 1]; /* reversed time (see aug_eval) */
    st = nde_ode_solve(bsolver, &c->rhs, bo, -b[i], s_end, y, &s_end, 1, &bs);
    stats->nfe += bs.stats.nfe;
    stats->accepted += bs.stats.accepted;
    stats->rejected += bs.stats.rejected;
    /* the next piece starts with the step size this one ended with (the last
       step may be cut short by the piece's end: take the larger of the last
       two), instead of a fresh initial-step estimate and a ramp-up */
    if (bo->adaptive && bs.stats.nsteps > 0) {
      size_t k = bs.stats.nsteps;
      double h = fabs(bs.stats.steps[k - 1].dt);
      if (k > 1)
        h = fmax(h, fabs(bs.stats.steps[k - 2].dt));
      bo->dt = h;
    }
    if (st == NDE_OK)
      st = be->copy(bc, y->data, bs.u_final.data, y->size * es);
    else
      st = nde_error_prefix(st, "adjoint solve over [%g, %g]", b[i + 1], b[i]);
    nde_ode_solution_recycle(&bs, bo->workspace);
  }
  free(b);
  return st;
}

nde_status nde_adjoint_backward(nde_adjoint *a, const nde_sens_problem *p,
                                const nde_array *du_save, nde_array *du0, void *dparams,
                                nde_sens_stats *stats) {
  *stats = (nde_sens_stats){0};
  NDE_TRY(check_problem(p));
  if (!a->have_forward)
    return nde_error(NDE_EINVAL, "backward called without a successful forward solve");
  const nde_array *u0 = p->u0;
  size_t n = u0->size, np = p->n_params, es = elem(u0);
  if (n != a->n || p->nsave != a->nsave || p->t0 != a->t0 || p->t1 != a->t1)
    return nde_error(NDE_EINVAL, "backward: the problem differs from the last forward solve");
  if (!du_save || du_save->size != n * p->nsave || du_save->dtype != u0->dtype)
    return nde_error(NDE_EINVAL, "backward: du_save must hold %zu x %zu cotangents of u0's dtype",
                     n, p->nsave);
  if (du0 && (du0->size != n || du0->dtype != u0->dtype))
    return nde_error(NDE_EINVAL, "backward: du0 must have u0's size and dtype");
  if (np && !dparams)
    return nde_error(NDE_EINVAL, "backward: dparams is NULL with n_params = %zu", np);
  const nde_backend_ops *be = u0->backend->ops;
  void *bc = u0->backend->ctx;
  nde_adjoint_method m = a->cfg.method;

  const nde_ode_solver *bsolver = a->own_solver ? a->own_solver : p->solver;
  nde_ode_options bo = bsolver->solve;
  bo.abstol = a->cfg.abstol > 0 ? a->cfg.abstol : p->solver->solve.abstol;
  bo.reltol = a->cfg.reltol > 0 ? a->cfg.reltol : p->solver->solve.reltol;
  bo.on_step = NULL;
  bo.user = NULL;
  bo.record_steps = 1; /* the last step sizes seed the next piece (see sweep) */
  bo.save_everystep = 0;
  bo.steady_state = 0;
  /* the seminorm: the error norm covers the leading [u, λ] (BACKSOLVE) or λ (INTERPOLATING) */
  bo.norm_size = 0;
  if (a->cfg.norm == NDE_ADJOINT_NORM_SEMINORM && m != NDE_ADJOINT_QUADRATURE && np)
    bo.norm_size = m == NDE_ADJOINT_BACKSOLVE ? 2 * n : n;

  size_t N = m == NDE_ADJOINT_BACKSOLVE ? 2 * n + np : m == NDE_ADJOINT_INTERPOLATING ? n + np : n;
  aug_ctx c = {.a = a, .p = p, .btableau = bsolver->ops->tableau, .ubuf = &a->ubuf,
               .mu = &a->mu, .lamq = &a->lamq, .wu = &a->wu, .fbuf = &a->fbuf};
  c.rhs = (nde_ode_rhs){.eval = aug_eval, .ctx = &c};
  nde_status st = use_workspace(a, p, &bo);
  /* y = [u(t1), 0, 0] (BACKSOLVE) or 0: λ and μ start at zero */
  size_t extra = N; /* y */
  if (st == NDE_OK)
    st = keep_array(&a->y, u0, 1, &N);
  if (st == NDE_OK) {
    size_t lead = m == NDE_ADJOINT_BACKSOLVE ? n : 0;
    be->fill(bc, u0->dtype, N - lead, 0.0, (char *)a->y.data + lead * es);
  }
  if (st == NDE_OK && m != NDE_ADJOINT_BACKSOLVE) {
    st = keep_array(&a->ubuf, u0, u0->ndim, u0->shape);
    extra += n;
  }
  if (st == NDE_OK && m == NDE_ADJOINT_QUADRATURE) {
    size_t one = np ? np : 1;
    st = keep_array(&a->mu, u0, 1, &one);
    if (st == NDE_OK)
      be->fill(bc, u0->dtype, one, 0.0, a->mu.data);
    if (st == NDE_OK)
      st = keep_array(&a->lamq, u0, u0->ndim, u0->shape);
    if (st == NDE_OK)
      st = keep_array(&a->wu, u0, u0->ndim, u0->shape);
    if (st == NDE_OK)
      st = keep_array(&a->fbuf, u0, u0->ndim, u0->shape);
    extra += np + 3 * n;
    c.gl_m = a->cfg.quadrature_points;
    if (c.gl_m <= 0) {
      c.gl_m = (bsolver->ops->order + 2) / 2;
      if (c.gl_m < 2)
        c.gl_m = 2;
    }
    if (st == NDE_OK)
      st = nde_gauss_legendre(c.gl_m, c.gl_x, c.gl_w);
    bo.on_step = quad_step;
    bo.user = &c;
  }
  if (st == NDE_OK && m == NDE_ADJOINT_BACKSOLVE)
    st = be->copy(bc, a->y.data, a->u_end.data, n * es);
  if (st == NDE_OK)
    st = sweep(a, p, du_save, &a->y, &c, bsolver, &bo, stats);
  if (st == NDE_OK) {
    size_t lam_off = m == NDE_ADJOINT_BACKSOLVE ? n : 0;
    if (du0)
      st = be->copy(bc, du0->data, (const char *)a->y.data + lam_off * es, n * es);
    if (np) {
      const void *mu = m == NDE_ADJOINT_QUADRATURE ? a->mu.data
                                                   : (const char *)a->y.data + (lam_off + n) * es;
      be->axpy(bc, u0->dtype, np, 1.0, mu, dparams);
    }
  }
  stats->nfe += c.nfe_extra;
  stats->nvjp = c.nvjp;
  /* memory: stored forward data + sweep arrays + the larger of the integrators' work arrays */
  size_t stored = 0;
  if (m == NDE_ADJOINT_BACKSOLVE)
    stored = n * es + (a->cfg.reset ? n * p->nsave * es : 0);
  else
    stored = a->traj_peak + a->nck * (n * es + sizeof(double));
  size_t bwork = (size_t)(bsolver->ops->stages + 8) * N * es;
  size_t fwork = a->nck ? (size_t)(p->solver->ops->stages + 8) * n * es : 0;
  stats->peak_bytes = stored + extra * es + (bwork > fwork ? bwork : fwork);
  return st;
}
