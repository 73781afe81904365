/*
 * The generic explicit Runge–Kutta stepper: every RK plugin is only a
 * tableau, and this file does the arithmetic through backend lincomb.
 */
#include "config.h"

#include <math.h>

#include <nde/backend.h>
#include <nde/ode.h>

#include "rk_impl.h"

void nde_rk_combine(const nde_array *x0, double dt, const double *coef, int m,
                    const nde_array *k, nde_array *y) {
  const nde_backend_ops *be = y->backend->ops;
  const void *x[NDE_RK_MAX_STAGES + 1];
  double c[NDE_RK_MAX_STAGES + 1];
  x[0] = x0->data;
  c[0] = 1.0;
  for (int j = 0; j < m; ++j) {
    x[j + 1] = k[j].data;
    c[j + 1] = dt * coef[j];
  }
  be->lincomb(y->backend->ctx, y->dtype, y->size, m + 1, c, x, 0.0, y->data);
}

/*
 * The fused last pass of a step (nde_backend_lincomb_wrms with e = NULL:
 * y = Σ cy_j x_j when cy is given, and the norm of Σ ce_j x_j) under the
 * step's seminorm: with 0 < norm_n < n the norm covers the first norm_n
 * elements, and the rest of y is a plain lincomb (the same numbers, still
 * one pass over memory in all).
 */
static double fused_norm(nde_ode_step *st, int k, const void *const *x, const double *cy,
                         const double *ce) {
  const nde_backend *b = st->u1->backend;
  nde_dtype dtp = st->u1->dtype;
  size_t n = st->u1->size, m = st->norm_n > 0 && st->norm_n < n ? st->norm_n : n;
  double eest = nde_backend_lincomb_wrms(b, dtp, m, k, x, cy, st->u1->data, ce, NULL,
                                         st->u0->data, st->abstol, st->reltol, st->err->data);
  if (m < n && cy) {
    size_t off = m * nde_dtype_size(dtp);
    const void *xr[NDE_RK_MAX_STAGES + 1];
    for (int j = 0; j < k; ++j)
      xr[j] = x[j] ? (const char *)x[j] + off : NULL;
    b->ops->lincomb(b->ctx, dtp, n - m, k, cy, xr, 0.0, (char *)st->u1->data + off);
  }
  return eest;
}

void nde_rk_step_begin(const nde_rk_tableau *tb, nde_ode_step *st) {
  st->nfe = 0;
  st->f1_valid = 0;
  st->eigen_est = NAN;
  st->tableau = tb;
  st->lm_m = 0;
  st->eest_valid = 0;
}

nde_status nde_rk_step(const nde_rk_tableau *tb, const nde_ode_rhs *f, nde_ode_step *st) {
  if (nde_rk_host_applicable(st))
    return nde_rk_step_host(tb, f, st);
  int s = tb->stages;
  double t = st->t, dt = st->dt;
  nde_array *k = st->k;
  nde_array *tmp = &st->scratch[0], *gprev = &st->scratch[1];
  const nde_backend_ops *be = st->u1->backend->ops;
  void *bc = st->u1->backend->ctx;
  nde_dtype dtp = st->u1->dtype;
  size_t n = st->u1->size;
  int want_eig = st->want_eigen && tb->stability_size > 0;
  nde_rk_step_begin(tb, st);
  int last_explicit = tb->fsal ? s - 1 : s; /* stages evaluated at intermediate states */
  for (int i = 1; i < last_explicit; ++i) {
    nde_array *g = (want_eig && i == s - 2) ? gprev : tmp;
    nde_rk_combine(st->u0, dt, &tb->a[i * s], i, k, g);
    NDE_TRY(f->eval(f->ctx, t + tb->c[i] * dt, g, &k[i]));
    st->nfe++;
  }
  int fused = st->want_eest && st->err && tb->btilde;
  st->eest_valid = 0;
  if (fused && !tb->fsal) {
    /* the solution, the error estimate and its norm in one pass */
    const void *x[NDE_RK_MAX_STAGES + 1];
    double cy[NDE_RK_MAX_STAGES + 1], ce[NDE_RK_MAX_STAGES + 1];
    x[0] = st->u0->data;
    cy[0] = 1.0;
    ce[0] = 0.0;
    for (int j = 0; j < s; ++j) {
      x[j + 1] = k[j].data;
      cy[j + 1] = dt * tb->b[j];
      ce[j + 1] = dt * tb->btilde[j];
    }
    st->eest = fused_norm(st, s + 1, x, cy, ce);
    st->eest_valid = 1;
  } else
    /* the solution (for FSAL this is also the last stage state) */
    nde_rk_combine(st->u0, dt, tb->b, tb->fsal ? s - 1 : s, k, st->u1);
  if (tb->fsal) {
    NDE_TRY(f->eval(f->ctx, t + dt, st->u1, &k[s - 1]));
    st->nfe++;
    st->f1 = &k[s - 1];
    st->f1_valid = 1;
  }
  if (st->err && tb->btilde && !st->eest_valid) {
    const void *x[NDE_RK_MAX_STAGES];
    double c[NDE_RK_MAX_STAGES];
    for (int j = 0; j < s; ++j) {
      x[j] = k[j].data;
      c[j] = dt * tb->btilde[j];
    }
    if (fused) { /* FSAL: the estimate and its norm in one pass, err not written */
      st->eest = fused_norm(st, s, x, NULL, c);
      st->eest_valid = 1;
    } else
      be->lincomb(bc, dtp, n, s, c, x, 0.0, st->err->data);
  }
  if (want_eig) {
    /* Shampine's estimate ||k_s - k_{s-1}||_2 / ||u1 - g_{s-1}||_2, computed as a
       ratio of RMS norms (wrms with abstol 1, reltol 0): the same number; each
       difference and its norm in one pass, no temporary written. */
    const void *x[2] = {k[s - 1].data, k[s - 2].data};
    double c[2] = {1.0, -1.0};
    double num = nde_backend_lincomb_wrms(st->u1->backend, dtp, n, 2, x, NULL, NULL, c, NULL,
                                          NULL, 1.0, 0.0, tmp->data);
    const void *y[2] = {st->u1->data, gprev->data};
    double den = nde_backend_lincomb_wrms(st->u1->backend, dtp, n, 2, y, NULL, NULL, c, NULL,
                                          NULL, 1.0, 0.0, tmp->data);
    st->eigen_est = den > 0 ? num / den : 0.0;
  }
  return NDE_OK;
}

nde_status nde_hermite_dense(const nde_ode_step *st, double th, nde_array *out) {
  if (!st->f1_valid)
    return nde_error(NDE_EINTERNAL, "Hermite dense output needs f(t1, u1)");
  double th2 = th * th, th3 = th2 * th, dt = st->dt;
  const void *x[4] = {st->u0->data, st->k[0].data, st->u1->data, st->f1->data};
  double c[4] = {2 * th3 - 3 * th2 + 1, dt * (th3 - 2 * th2 + th), -2 * th3 + 3 * th2,
                 dt * (th3 - th2)};
  out->backend->ops->lincomb(out->backend->ctx, out->dtype, out->size, 4, c, x, 0.0, out->data);
  return NDE_OK;
}

nde_status nde_rk_dense(const nde_rk_tableau *tb, const nde_ode_step *st, double th,
                        nde_array *out) {
  int d = tb->interp_degree, s = tb->stages;
  if (d <= 0)
    return nde_hermite_dense(st, th, out);
  double w[NDE_RK_MAX_STAGES];
  for (int i = 0; i < s; ++i) {
    double acc = 0, p = th;
    for (int j = 0; j < d; ++j, p *= th)
      acc += tb->interp[i * d + j] * p;
    w[i] = acc;
  }
  nde_rk_combine(st->u0, st->dt, w, s, st->k, out);
  return NDE_OK;
}
