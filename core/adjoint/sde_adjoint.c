/*
 * The SDE halves of `backsolve_adjoint` and `interpolating_adjoint`
 * (nde/sde_adjoint.h). Both run the core reverse sweep
 * (nde_sde_reverse_sweep()) over the forward solve's accepted steps along
 * the same Brownian path; they differ in how u_j reaches it:
 *
 *  BACKSOLVE: the forward keeps u(t1), the saved states and the step sequence.
 *    The sweep walks back from u(t1), each u_j the solution of
 *    Φ_h(u_j; ΔW, ΔZ) = u_{j+1} for the forward method's step map Φ_h on the
 *    re-queried increments (nde_sde_stepper_invert()). The gradient is the
 *    discrete adjoint of the solve at the reconstructed states: it equals
 *    `direct`'s up to the inversion tolerance amplified by the conditioning
 *    of the reverse flow (exact in the limit inversion_tol → 0 while the
 *    iteration contracts).
 *
 *  INTERPOLATING: the forward keeps checkpoints, at most C of them: every
 *    step's start state until C are held, then every other one is dropped and
 *    the stride doubles (so with S steps the stride is < 2S/C). The sweep
 *    re-solves one segment of `stride` steps from its checkpoint with the
 *    forward method (nde_sde_stepper_step(), the integrator's exact steps)
 *    and reverses it: exactly `direct`'s gradient at O((C + 2S/C)·n) memory
 *    and one extra forward solve.
 */
#include "config.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <nde/backend.h>
#include <nde/nonlinear.h>
#include <nde/sde_adjoint.h>

struct nde_sde_adjoint {
  nde_sde_adjoint_config cfg;
  /* the forward's accepted steps */
  double *t, *dt;
  size_t nsteps, cap;
  /* INTERPOLATING: checkpoints ckpt[i] = u_{i·stride} */
  nde_array *ckpt;
  size_t nckpt, ckpt_cap, stride;
  /* ... and the segment being reversed: seg[i] = u_{seg_start + i} */
  nde_array *seg;
  size_t seg_alloc, seg_start, seg_len;
  /* BACKSOLVE: u(t1), the forward's saved states (n × nsave) to check the
     reconstruction against, and a scratch state */
  nde_array u_final, saved, check;
  nde_sde_stepper *stepper; /* during backward */
  nde_nonlinear_solver *inverter; /* BACKSOLVE: the inversion_solver */
  char *name;                     /* the config's name (owned) */
  const nde_sde_sens_problem *problem; /* during forward / backward */
  /* what the backward pass must use as the forward did */
  int ready;
  double t0, t1, abstol, reltol, delta;
  size_t nsave, n;
  nde_dtype dtype;
  const struct nde_backend *backend;
  nde_sde_step_hook user_hook;
  void *user;
};

static const char *who(const nde_sde_adjoint *adj) {
  if (adj->cfg.name)
    return adj->cfg.name;
  return adj->cfg.method == NDE_SDE_ADJOINT_BACKSOLVE ? "backsolve_adjoint"
                                                       : "interpolating_adjoint";
}

static void free_arrays(nde_array *a, size_t n) {
  for (size_t i = 0; i < n; ++i)
    nde_array_destroy(&a[i]);
}

/* Drop every stored array (the state's layout changed). */
static void drop_layout(nde_sde_adjoint *adj) {
  free_arrays(adj->ckpt, adj->ckpt_cap);
  free(adj->ckpt);
  adj->ckpt = NULL;
  adj->ckpt_cap = adj->nckpt = 0;
  free_arrays(adj->seg, adj->seg_alloc);
  free(adj->seg);
  adj->seg = NULL;
  adj->seg_alloc = adj->seg_len = 0;
  nde_array_destroy(&adj->u_final);
  nde_array_destroy(&adj->saved);
  nde_array_destroy(&adj->check);
  nde_sde_stepper_destroy(&adj->stepper);
}

nde_status nde_sde_adjoint_create(const nde_sde_adjoint_config *config, nde_sde_adjoint **out) {
  *out = NULL;
  if (config->method != NDE_SDE_ADJOINT_BACKSOLVE &&
      config->method != NDE_SDE_ADJOINT_INTERPOLATING)
    return nde_error(NDE_EINVAL, "SDE adjoint: unknown method %d", (int)config->method);
  if (config->inversion_tol < 0 || config->inversion_iters < 0)
    return nde_error(NDE_EINVAL, "SDE adjoint: inversion_tol and inversion_iters must be >= 0");
  nde_sde_adjoint *adj = calloc(1, sizeof *adj);
  if (!adj)
    return nde_error(NDE_ENOMEM, "out of memory for an SDE adjoint");
  adj->cfg = *config;
  adj->cfg.inversion_solver = NULL;
  adj->cfg.name = NULL;
  if (config->name && !(adj->name = strdup(config->name))) {
    free(adj);
    return nde_error(NDE_ENOMEM, "out of memory for an SDE adjoint");
  }
  adj->cfg.name = adj->name;
  if (config->method == NDE_SDE_ADJOINT_BACKSOLVE && config->inversion_solver &&
      *config->inversion_solver) {
    nde_status st = nde_nonlinear_solver_open(NULL, config->inversion_solver, NULL,
                                              "inversion_solver", &adj->inverter);
    if (st) {
      free(adj->name);
      free(adj);
      return st;
    }
  }
  *out = adj;
  return NDE_OK;
}

void nde_sde_adjoint_destroy(nde_sde_adjoint **adj) {
  if (!adj || !*adj)
    return;
  drop_layout(*adj);
  nde_nonlinear_solver_destroy(&(*adj)->inverter);
  free((*adj)->name);
  free((*adj)->t);
  free((*adj)->dt);
  free(*adj);
  *adj = NULL;
}

/* Keep a copy of @p u in @p slot (created on first use). */
static nde_status keep_state(nde_array *slot, const nde_array *u) {
  if (slot->data && (slot->size != u->size || slot->dtype != u->dtype ||
                     slot->backend != u->backend || slot->ndim != u->ndim))
    nde_array_destroy(slot);
  if (!slot->data)
    NDE_TRY(nde_array_create(u->backend, u->dtype, u->ndim, u->shape, slot));
  return u->backend->ops->copy(u->backend->ctx, slot->data, u->data, nde_array_bytes(u));
}

/* INTERPOLATING: every other checkpoint dropped, the stride doubled. */
static void thin_checkpoints(nde_sde_adjoint *adj) {
  size_t kept = 0;
  for (size_t i = 0; i < adj->nckpt; i += 2) {
    nde_array tmp = adj->ckpt[kept];
    adj->ckpt[kept++] = adj->ckpt[i];
    adj->ckpt[i] = tmp;
  }
  adj->nckpt = kept;
  adj->stride *= 2;
}

static nde_status record_checkpoint(nde_sde_adjoint *adj, size_t j, const nde_array *u) {
  if (j % adj->stride)
    return NDE_OK;
  size_t limit = adj->cfg.checkpoints;
  if (limit && adj->nckpt == limit) {
    thin_checkpoints(adj);
    if (j % adj->stride)
      return NDE_OK;
  }
  if (adj->cfg.tape_check)
    NDE_TRY(adj->cfg.tape_check(adj->cfg.tape_user, adj->nckpt + 1, nde_array_bytes(u)));
  if (adj->nckpt == adj->ckpt_cap) {
    size_t cap = adj->ckpt_cap ? 2 * adj->ckpt_cap : 16;
    if (limit && cap > limit)
      cap = limit;
    nde_array *p = realloc(adj->ckpt, cap * sizeof *p);
    if (!p)
      return nde_error(NDE_ENOMEM, "%s: out of memory keeping checkpoint %zu", who(adj),
                       adj->nckpt);
    memset(p + adj->ckpt_cap, 0, (cap - adj->ckpt_cap) * sizeof *p);
    adj->ckpt = p;
    adj->ckpt_cap = cap;
  }
  return keep_state(&adj->ckpt[adj->nckpt++], u);
}

/* The integrator's hook after every accepted step: the step, and a checkpoint. */
static nde_status on_step(void *user, const nde_sde_step *st, double eest) {
  nde_sde_adjoint *adj = user;
  size_t j = adj->nsteps;
  if (j == adj->cap) {
    size_t cap = adj->cap ? 2 * adj->cap : 256;
    double *t = realloc(adj->t, cap * sizeof *t);
    if (t)
      adj->t = t;
    double *dt = t ? realloc(adj->dt, cap * sizeof *dt) : NULL;
    if (!t || !dt)
      return nde_error(NDE_ENOMEM, "%s: out of memory recording SDE step %zu", who(adj), j);
    adj->dt = dt;
    adj->cap = cap;
  }
  adj->t[j] = st->t;
  adj->dt[j] = st->dt;
  if (adj->cfg.method == NDE_SDE_ADJOINT_INTERPOLATING)
    NDE_TRY(record_checkpoint(adj, j, st->u0));
  adj->nsteps = j + 1;
  return adj->user_hook ? adj->user_hook(adj->user, st, eest) : NDE_OK;
}

nde_status nde_sde_adjoint_forward(nde_sde_adjoint *adj, const nde_sde_sens_problem *p,
                                   nde_sde_solution *sol) {
  *sol = (nde_sde_solution){0};
  adj->ready = 0;
  if (!p->saveat || p->nsave == 0)
    return nde_error(NDE_EINVAL, "%s: an SDE solve needs save points (nsave >= 1)", who(adj));
  const nde_sde_solver *solver = p->solver;
  const nde_array *u0 = p->u0;
  nde_sde_options o = solver->solve; /* replay_dt, when the caller set it, stays */
  adj->user_hook = o.on_step;
  adj->user = o.user;
  o.record_steps = 1; /* the per-step records the caller reads */
  o.on_step = on_step;
  o.user = adj;
  if (adj->n != u0->size || adj->dtype != u0->dtype || adj->backend != u0->backend) {
    drop_layout(adj);
    adj->n = u0->size;
    adj->dtype = u0->dtype;
    adj->backend = u0->backend;
  }
  adj->nsteps = 0;
  adj->nckpt = 0;
  adj->stride = 1;
  adj->seg_len = 0;
  NDE_TRY(nde_sde_solve(solver, p->rhs, &o, p->t0, p->t1, u0, p->path, p->saveat, p->nsave,
                        sol));
  if (adj->cfg.method == NDE_SDE_ADJOINT_BACKSOLVE) {
    NDE_TRY(keep_state(&adj->u_final, &sol->u_final));
    NDE_TRY(keep_state(&adj->saved, &sol->u));
    NDE_TRY(keep_state(&adj->check, &sol->u_final));
  }
  adj->t0 = p->t0;
  adj->t1 = p->t1;
  adj->nsave = p->nsave;
  adj->abstol = o.abstol;
  adj->reltol = o.reltol;
  adj->delta = o.delta >= 0 ? o.delta : solver->ops->delta; /* the integrator's rule */
  adj->ready = 1;
  return NDE_OK;
}

/* End of step j as the integrator had it. */
static double step_end(const nde_sde_adjoint *adj, size_t j) {
  return j + 1 < adj->nsteps ? adj->t[j + 1] : adj->t1;
}

/* BACKSOLVE: u_j by inverting step j from u_{j+1}. */
/*
 * BACKSOLVE: the reconstructed step [u_j, u_{j+1}] against the forward's saved
 * states at the save points it interpolates, so that a reconstruction the
 * reverse flow has carried away (an unstable backward flow amplifying the
 * inversion error, or another preimage of a long step) is an error, not a
 * wrong gradient. Tolerance √tol of the inversion (weighted RMS).
 */
static nde_status check_saved(nde_sde_adjoint *adj, size_t j, const nde_array *uj,
                              const nde_array *u_next, double tol) {
  const nde_sde_sens_problem *p = adj->problem;
  const nde_backend_ops *be = uj->backend->ops;
  void *bc = uj->backend->ctx;
  double a = adj->t[j], b = step_end(adj, j), h = b - a, ctol = sqrt(tol);
  for (size_t i = 0; i < p->nsave; ++i) {
    double s = p->saveat[i];
    if (s < a || s > b)
      continue;
    double th = h > 0 ? (s - a) / h : 0;
    const void *x[2] = {uj->data, u_next->data};
    double c[2] = {1 - th, th};
    be->lincomb(bc, uj->dtype, uj->size, 2, c, x, 0.0, adj->check.data);
    const void *col = (const char *)adj->saved.data + i * nde_array_bytes(uj);
    be->axpy(bc, uj->dtype, uj->size, -1.0, col, adj->check.data);
    double e = be->wrms_norm(bc, uj->dtype, uj->size, adj->check.data, col, col, ctol, ctol);
    if (!(e <= 1.0))
      return nde_error(NDE_ENOCONV, "the reconstructed solution left the forward one at save "
                       "point t = %g (%g times the tolerance %g): the backward flow amplifies "
                       "the inversion error (unstable reverse dynamics, or steps too long to "
                       "invert uniquely); use interpolating_adjoint, or smaller steps", s, e,
                       ctol);
  }
  return NDE_OK;
}

/* BACKSOLVE: u_j by inverting step j from u_{j+1}, checked at the save points. */
static nde_status backsolve_state(void *user, size_t j, const nde_array *u_next, nde_array *uj,
                                  nde_sens_stats *stats) {
  nde_sde_adjoint *adj = user;
  double tol = adj->cfg.inversion_tol;
  if (!(tol > 0))
    tol = uj->dtype == NDE_FLOAT32 ? 1e-5 : 1e-12;
  int maxiter = adj->cfg.inversion_iters > 0 ? adj->cfg.inversion_iters : 50;
  long nf = 0, ng = 0;
  nde_status st = nde_sde_stepper_invert(adj->stepper, adj->problem->rhs, adj->problem->path,
                                         adj->t[j], step_end(adj, j), u_next, uj, tol, maxiter,
                                         adj->inverter, &nf, &ng, NULL);
  stats->nfe += nf + ng;
  return st ? st : check_saved(adj, j, uj, u_next, tol);
}

/* INTERPOLATING: u_j from the re-solved segment that holds it. */
static nde_status interpolating_state(void *user, size_t j, const nde_array *u_next,
                                      nde_array *uj, nde_sens_stats *stats) {
  (void)u_next;
  nde_sde_adjoint *adj = user;
  const nde_backend_ops *be = uj->backend->ops;
  if (adj->stride == 1) /* every state kept */
    return j < adj->nckpt ? be->copy(uj->backend->ctx, uj->data, adj->ckpt[j].data,
                                     nde_array_bytes(uj))
                          : nde_error(NDE_EINTERNAL, "%s: no state for step %zu", who(adj), j);
  if (!(adj->seg_len && j >= adj->seg_start && j < adj->seg_start + adj->seg_len)) {
    size_t c = j / adj->stride, start = c * adj->stride;
    size_t len = adj->nsteps - start < adj->stride ? adj->nsteps - start : adj->stride;
    if (c >= adj->nckpt)
      return nde_error(NDE_EINTERNAL, "%s: no checkpoint for step %zu", who(adj), j);
    if (adj->seg_alloc < len) {
      nde_array *p = realloc(adj->seg, len * sizeof *p);
      if (!p)
        return nde_error(NDE_ENOMEM, "%s: out of memory for a segment of %zu steps", who(adj),
                         len);
      memset(p + adj->seg_alloc, 0, (len - adj->seg_alloc) * sizeof *p);
      adj->seg = p;
      adj->seg_alloc = len;
    }
    adj->seg_len = 0;
    NDE_TRY(keep_state(&adj->seg[0], &adj->ckpt[c]));
    long nf = 0, ng = 0;
    for (size_t i = 1; i < len; ++i) {
      if (!adj->seg[i].data)
        NDE_TRY(nde_array_create(uj->backend, uj->dtype, uj->ndim, uj->shape, &adj->seg[i]));
      nde_status st = nde_sde_stepper_step(adj->stepper, adj->problem->rhs, adj->problem->path,
                                           adj->t[start + i - 1], adj->t[start + i],
                                           &adj->seg[i - 1], &adj->seg[i], &nf, &ng);
      stats->nfe += nf + ng;
      nf = ng = 0;
      NDE_TRY(st);
    }
    adj->seg_start = start;
    adj->seg_len = len;
  }
  return be->copy(uj->backend->ctx, uj->data, adj->seg[j - adj->seg_start].data,
                  nde_array_bytes(uj));
}

static size_t stored_bytes(const nde_sde_adjoint *adj) {
  size_t state = adj->n * nde_dtype_size(adj->dtype);
  size_t b = adj->cap * 2 * sizeof(double) + (adj->ckpt_cap + adj->seg_alloc) * state;
  if (adj->u_final.data)
    b += 2 * state + nde_array_bytes(&adj->saved);
  if (adj->stepper)
    b += nde_sde_stepper_bytes(adj->stepper);
  return b;
}

nde_status nde_sde_adjoint_backward(nde_sde_adjoint *adj, const nde_sde_sens_problem *p,
                                    const nde_array *du_save, const double *w_eest,
                                    const double *w_eigen, nde_array *du0, void *dparams,
                                    nde_sens_stats *stats) {
  *stats = (nde_sens_stats){0};
  const char *name = who(adj);
  if (!adj->ready)
    return nde_error(NDE_EINVAL, "%s: sde_backward without a successful sde_forward", name);
  if (p->u0->size != adj->n || p->u0->dtype != adj->dtype || p->u0->backend != adj->backend ||
      p->nsave != adj->nsave || p->t0 != adj->t0 || p->t1 != adj->t1 || !p->saveat)
    return nde_error(NDE_EINVAL, "%s: sde_backward's problem differs from the last "
                     "sde_forward's (state, span or save points)", name);
  NDE_TRY(nde_sde_sweep_check(name, p, adj->nsteps, du_save, w_eest, w_eigen, du0));
  int back = adj->cfg.method == NDE_SDE_ADJOINT_BACKSOLVE;
  /* the stepper re-solves segments and inverts steps: not needed with every state kept */
  if (back || adj->stride > 1)
    NDE_TRY(nde_sde_stepper_create(p->solver, p->rhs->noise, p->u0, &adj->stepper));
  adj->problem = p;
  adj->seg_len = 0;
  nde_sde_sweep sw = {.problem = p,
                      .nsteps = adj->nsteps,
                      .t = adj->t,
                      .dt = adj->dt,
                      .abstol = adj->abstol,
                      .reltol = adj->reltol,
                      .delta = adj->delta,
                      .u_final = back ? &adj->u_final : NULL,
                      .state = back ? backsolve_state : interpolating_state,
                      .user = adj};
  nde_status st = nde_sde_reverse_sweep(&sw, du_save, w_eest, w_eigen, du0, dparams, stats);
  stats->peak_bytes += stored_bytes(adj);
  nde_sde_stepper_destroy(&adj->stepper);
  adj->problem = NULL;
  return st ? nde_error_prefix(st, "%s", name) : NDE_OK;
}
