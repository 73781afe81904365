/*
 * Dense output of a whole forward solve: every accepted step's interpolation
 * data, recorded by an on_step hook, evaluated anywhere in the span. Used by
 * the interpolating and quadrature adjoints (u(t) during the backward pass).
 */
#include "config.h"

#include <math.h>
#include <stdlib.h>

#include <nde/adjoint.h>
#include <nde/backend.h>

#include "../util/internal.h"
#include "adjoint_impl.h"

#define MAX_STAGES 16

struct nde_ode_trajectory {
  const nde_rk_tableau *tableau; /* NULL: Hermite */
  const nde_ode_rhs *f;
  int per_step; /* states stored per step */
  int stages;
  int ndim;
  size_t shape[NDE_MAX_DIMS];
  size_t n;
  nde_dtype dtype;
  struct nde_backend *backend;
  nde_array *blocks; /* one (n × per_step) block per step; kept across clear() */
  double *t, *dt;
  size_t count, cap, allocated;
  size_t hint;
  long nfe;
  nde_ode_step_hook next;
  void *next_user;
};

nde_status nde_ode_step_dense(const nde_rk_tableau *tableau, const nde_ode_step *step,
                              double theta, nde_array *out) {
  if (tableau && tableau->interp_degree > 0)
    return nde_rk_dense(tableau, step, theta, out);
  return nde_hermite_dense(step, theta, out);
}

nde_status nde_ode_trajectory_create(const nde_ode_solver *solver, const nde_ode_rhs *f,
                                     const nde_array *u_like, nde_ode_trajectory **out) {
  *out = NULL;
  nde_ode_trajectory *tr = calloc(1, sizeof *tr);
  if (!tr)
    return nde_error(NDE_ENOMEM, "out of memory");
  const nde_rk_tableau *tb = solver->ops->tableau;
  if (tb && tb->interp_degree > 0 && tb->stages <= MAX_STAGES) {
    tr->tableau = tb;
    tr->stages = tb->stages;
    tr->per_step = 1 + tb->stages; /* u_n, k_1..k_s */
  } else
    tr->per_step = 4; /* u_n, f_n, u_{n+1}, f_{n+1} */
  tr->f = f;
  tr->ndim = u_like->ndim;
  for (int d = 0; d < u_like->ndim; ++d)
    tr->shape[d] = u_like->shape[d];
  tr->n = u_like->size;
  tr->dtype = u_like->dtype;
  tr->backend = u_like->backend;
  *out = tr;
  return NDE_OK;
}

void nde_ode_trajectory_destroy(nde_ode_trajectory **traj) {
  if (!traj || !*traj)
    return;
  nde_ode_trajectory *tr = *traj;
  for (size_t i = 0; i < tr->allocated; ++i)
    nde_array_destroy(&tr->blocks[i]);
  free(tr->blocks);
  free(tr->t);
  free(tr->dt);
  free(tr);
  *traj = NULL;
}

void nde_ode_trajectory_reset(nde_ode_trajectory *traj) {
  traj->count = 0;
  traj->hint = 0;
}

size_t nde_ode_trajectory_steps(const nde_ode_trajectory *traj) { return traj->count; }

size_t nde_ode_trajectory_bytes(const nde_ode_trajectory *traj) {
  return traj->count * (size_t)traj->per_step * traj->n * nde_dtype_size(traj->dtype) +
         traj->count * 2 * sizeof(double);
}

long nde_ode_trajectory_nfe(const nde_ode_trajectory *traj) { return traj->nfe; }

static nde_status view_state(const nde_ode_trajectory *tr, const nde_array *block, int i,
                             nde_array *out) {
  return nde_array_view(block, (size_t)i * tr->n, tr->ndim, tr->shape, out);
}

static nde_status reserve(nde_ode_trajectory *tr) {
  if (tr->count == tr->cap) {
    size_t cap = tr->cap ? 2 * tr->cap : 64;
    if (nde_resize(&tr->blocks, cap, sizeof *tr->blocks) != NDE_OK ||
        nde_resize(&tr->t, cap, sizeof *tr->t) != NDE_OK ||
        nde_resize(&tr->dt, cap, sizeof *tr->dt) != NDE_OK)
      return nde_error(NDE_ENOMEM, "out of memory storing the dense output");
    tr->cap = cap;
  }
  if (tr->count == tr->allocated) {
    size_t shape[2] = {tr->n, (size_t)tr->per_step};
    tr->blocks[tr->allocated] = (nde_array){0};
    NDE_TRY(nde_array_create(tr->backend, tr->dtype, 2, shape, &tr->blocks[tr->allocated]));
    tr->allocated++;
  }
  return NDE_OK;
}

static nde_status record(void *user, const nde_ode_step *st, double eest) {
  nde_ode_trajectory *tr = user;
  if (tr->next)
    NDE_TRY(tr->next(tr->next_user, st, eest));
  NDE_TRY(reserve(tr));
  const nde_backend_ops *be = tr->backend->ops;
  void *bc = tr->backend->ctx;
  size_t bytes = tr->n * nde_dtype_size(tr->dtype);
  char *dst = tr->blocks[tr->count].data;
  NDE_TRY(be->copy(bc, dst, st->u0->data, bytes));
  if (tr->tableau) {
    for (int i = 0; i < tr->stages; ++i)
      NDE_TRY(be->copy(bc, dst + (size_t)(i + 1) * bytes, st->k[i].data, bytes));
  } else {
    NDE_TRY(be->copy(bc, dst + bytes, st->k[0].data, bytes));
    NDE_TRY(be->copy(bc, dst + 2 * bytes, st->u1->data, bytes));
    if (st->f1_valid)
      NDE_TRY(be->copy(bc, dst + 3 * bytes, st->f1->data, bytes));
    else {
      nde_array u1, f1;
      NDE_TRY(view_state(tr, &tr->blocks[tr->count], 2, &u1));
      NDE_TRY(view_state(tr, &tr->blocks[tr->count], 3, &f1));
      NDE_TRY(tr->f->eval(tr->f->ctx, st->t + st->dt, &u1, &f1));
      tr->nfe++;
    }
  }
  tr->t[tr->count] = st->t;
  tr->dt[tr->count] = st->dt;
  tr->count++;
  return NDE_OK;
}

void nde_ode_trajectory_attach(nde_ode_trajectory *traj, nde_ode_options *opt) {
  if (opt->on_step != record) {
    traj->next = opt->on_step;
    traj->next_user = opt->user;
  }
  opt->on_step = record;
  opt->user = traj;
}

/* Index of the step containing t (steps are ordered in the direction of integration). */
static size_t locate(nde_ode_trajectory *tr, double t) {
  double dir = tr->dt[0] >= 0 ? 1.0 : -1.0;
  size_t h = tr->hint < tr->count ? tr->hint : 0;
  if (dir * (t - tr->t[h]) >= 0 && (h + 1 == tr->count || dir * (t - tr->t[h + 1]) < 0))
    return h;
  size_t lo = 0, hi = tr->count - 1; /* last step whose start is at or before t */
  while (lo < hi) {
    size_t mid = lo + (hi - lo + 1) / 2;
    if (dir * (t - tr->t[mid]) >= 0)
      lo = mid;
    else
      hi = mid - 1;
  }
  tr->hint = lo;
  return lo;
}

nde_status nde_ode_trajectory_eval(nde_ode_trajectory *tr, double t, nde_array *out) {
  if (!tr->count)
    return nde_error(NDE_EINVAL, "dense output requested before any step was recorded");
  size_t j = locate(tr, t);
  double theta = (t - tr->t[j]) / tr->dt[j];
  theta = theta < 0 ? 0 : theta > 1 ? 1 : theta;
  nde_array *blk = &tr->blocks[j];
  nde_array u0, k[MAX_STAGES], u1, f1;
  NDE_TRY(view_state(tr, blk, 0, &u0));
  nde_ode_step st = {.t = tr->t[j], .dt = tr->dt[j], .u0 = &u0, .k = k};
  if (tr->tableau) {
    for (int i = 0; i < tr->stages; ++i)
      NDE_TRY(view_state(tr, blk, i + 1, &k[i]));
    st.nk = tr->stages;
  } else {
    NDE_TRY(view_state(tr, blk, 1, &k[0]));
    NDE_TRY(view_state(tr, blk, 2, &u1));
    NDE_TRY(view_state(tr, blk, 3, &f1));
    st.nk = 1;
    st.u1 = &u1;
    st.f1 = &f1;
    st.f1_valid = 1;
  }
  return nde_ode_step_dense(tr->tableau, &st, theta, out);
}

void nde_ode_trajectory_set_rhs(nde_ode_trajectory *traj, const nde_ode_rhs *f) { traj->f = f; }

int nde_ode_trajectory_fits(const nde_ode_trajectory *traj, const nde_ode_solver *solver,
                            const nde_array *u_like) {
  const nde_rk_tableau *tb = solver->ops->tableau;
  int rk = tb && tb->interp_degree > 0 && tb->stages <= MAX_STAGES;
  if ((rk ? tb : NULL) != traj->tableau || u_like->size != traj->n ||
      u_like->dtype != traj->dtype || u_like->backend != traj->backend ||
      u_like->ndim != traj->ndim)
    return 0;
  for (int d = 0; d < u_like->ndim; ++d)
    if (u_like->shape[d] != traj->shape[d])
      return 0;
  return 1;
}
