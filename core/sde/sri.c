/*
 * Rößler SRI tableaus: validation, the strong-order-1.5 conditions, and the
 * one generic SRI stepper every SRI plugin uses (see nde/sde.h).
 */
#include "config.h"

#include <math.h>
#include <stdlib.h>

#include <nde/backend.h>
#include <nde/sde.h>

#include "sri_internal.h"

static double dotv(int s, const double *x, const double *y) {
  double acc = 0;
  for (int i = 0; i < s; ++i)
    acc += x[i] * y[i];
  return acc;
}

static void matvec(int s, const double *m, const double *x, double *y) {
  for (int i = 0; i < s; ++i) {
    y[i] = 0;
    for (int j = 0; j < s; ++j)
      y[i] += m[i * s + j] * x[j];
  }
}

void nde_sri_order_residuals(const nde_sri_tableau *tb, double res[NDE_SRI_ORDER_CONDITIONS]) {
  int s = tb->stages;
  double e[NDE_SRI_MAX_STAGES] = {0}, a0e[NDE_SRI_MAX_STAGES], a1e[NDE_SRI_MAX_STAGES];
  double b0e[NDE_SRI_MAX_STAGES], b1e[NDE_SRI_MAX_STAGES], b0e2[NDE_SRI_MAX_STAGES];
  double b1e2[NDE_SRI_MAX_STAGES], b1b1e[NDE_SRI_MAX_STAGES], a1b0e[NDE_SRI_MAX_STAGES];
  for (int i = 0; i < s; ++i)
    e[i] = 1;
  matvec(s, tb->a0, e, a0e);
  matvec(s, tb->a1, e, a1e);
  matvec(s, tb->b0, e, b0e);
  matvec(s, tb->b1, e, b1e);
  for (int i = 0; i < s; ++i) {
    b0e2[i] = b0e[i] * b0e[i];
    b1e2[i] = b1e[i] * b1e[i];
  }
  matvec(s, tb->b1, b1e, b1b1e);
  matvec(s, tb->a1, b0e, a1b0e);
  const double *b[4] = {tb->beta1, tb->beta2, tb->beta3, tb->beta4};
  static const double sum_b[4] = {1, 0, 0, 0};
  static const double b_b1e[4] = {0, 1, 0, 0};
  static const double b_a1e[4] = {1, 0, -1, 0};
  static const double b_b1e2[4] = {1, 0, -1, 2};
  static const double b_b1b1e[4] = {0, 0, 0, 1};
  res[0] = dotv(s, tb->alpha, e) - 1;
  for (int k = 0; k < 4; ++k) {
    res[1 + k] = dotv(s, b[k], e) - sum_b[k];       /* 2..5 */
    res[5 + k] = dotv(s, b[k], b1e) - b_b1e[k];     /* 6..9 */
    res[12 + k] = dotv(s, b[k], a1e) - b_a1e[k];    /* 13..16 */
    res[16 + k] = dotv(s, b[k], b1e2) - b_b1e2[k];  /* 17..20 */
    res[20 + k] = dotv(s, b[k], b1b1e) - b_b1b1e[k]; /* 21..24 */
  }
  res[9] = dotv(s, tb->alpha, a0e) - 0.5; /* 10 */
  res[10] = dotv(s, tb->alpha, b0e) - 1;  /* 11 */
  res[11] = dotv(s, tb->alpha, b0e2) - 1.5; /* 12 */
  res[24] = 0.5 * dotv(s, tb->beta1, a1b0e) + dotv(s, tb->beta3, a1b0e) / 3; /* 25 */
}

/* Which stages' f (resp. g) values are ever used. */
void nde_sri_used_stages(const nde_sri_tableau *tb, int with_err, int *uf, int *ug) {
  int s = tb->stages;
  for (int i = 0; i < s; ++i) {
    uf[i] = tb->alpha[i] != 0 || (with_err && tb->e1[i] != 0) ||
            (tb->stability_size > 0 && i >= s - 2);
    ug[i] = tb->beta1[i] != 0 || tb->beta2[i] != 0 || tb->beta3[i] != 0 || tb->beta4[i] != 0;
    for (int r = i + 1; r < s; ++r) {
      if (tb->a0[r * s + i] != 0 || tb->a1[r * s + i] != 0)
        uf[i] = 1;
      if (tb->b0[r * s + i] != 0 || tb->b1[r * s + i] != 0)
        ug[i] = 1;
    }
  }
  /* a stage used by a later row must itself be computed: rows are only
   * evaluated when their value is used, so propagate backward */
  for (int i = s - 1; i >= 0; --i)
    for (int r = i + 1; r < s; ++r) {
      if ((uf[r] && (tb->a0[r * s + i] != 0)) || (ug[r] && tb->a1[r * s + i] != 0))
        uf[i] = 1;
      if ((uf[r] && tb->b0[r * s + i] != 0) || (ug[r] && tb->b1[r * s + i] != 0))
        ug[i] = 1;
    }
}

/* Gather row i's nonzero coefficients over stage arrays into (c, x) lists. */
static int gather(int i, int s, const double *m, double scale, const nde_array *arr,
                  double *c, const void **x) {
  int k = 0;
  for (int j = 0; j < i; ++j)
    if (m[i * s + j] != 0) {
      c[k] = scale * m[i * s + j];
      x[k] = arr[j].data;
      ++k;
    }
  return k;
}

static int gather_w(int s, const double *w, double scale, const nde_array *arr, double *c,
                    const void **x) {
  int k = 0;
  for (int j = 0; j < s; ++j)
    if (w[j] != 0) {
      c[k] = scale * w[j];
      x[k] = arr[j].data;
      ++k;
    }
  return k;
}

nde_status nde_sri_step(const nde_sri_tableau *tb, const nde_sde_rhs *rhs, nde_sde_step *st) {
  const nde_array *u0 = st->u0;
  const nde_backend_ops *ops = u0->backend->ops;
  void *bx = u0->backend->ctx;
  nde_dtype dt_ = u0->dtype;
  size_t n = u0->size;
  int s = tb->stages;
  if (st->nk < s)
    return nde_error(NDE_EINVAL, "SRI step: %d work arrays, the tableau needs %d", st->nk, s);
  double h = st->dt, sh = sqrt(h), t = st->t;
  int uf[NDE_SRI_MAX_STAGES], ug[NDE_SRI_MAX_STAGES];
  nde_sri_used_stages(tb, st->err != NULL, uf, ug);
  double c[NDE_SRI_MAX_STAGES + 1] = {0};
  const void *x[NDE_SRI_MAX_STAGES + 1] = {0};
  nde_array *tmp = &st->scratch[0], *tmp2 = &st->scratch[1];
  st->nf = st->ng = 0;
  st->eigen_est = NAN;
  for (int i = 0; i < s; ++i) {
    if (uf[i]) {
      /* H0_i = u + h·Σ A0_ij k_j + χ₂ ⊙ Σ B0_ij g_j */
      nde_array *H0 = &st->h0[i];
      int kb = gather(i, s, tb->b0, 1.0, st->g, c, x);
      if (kb) {
        ops->lincomb(bx, dt_, n, kb, c, x, 0.0, H0->data);
        ops->mul(bx, dt_, n, H0->data, st->chi2->data, H0->data);
      }
      int ka = gather(i, s, tb->a0, h, st->k, c, x);
      c[ka] = 1.0;
      x[ka] = u0->data;
      ops->lincomb(bx, dt_, n, ka + 1, c, x, kb ? 1.0 : 0.0, H0->data);
      NDE_TRY(rhs->drift(rhs->ctx, t + tb->c0[i] * h, H0, &st->k[i]));
      st->nf++;
    }
    if (ug[i]) {
      /* H1_i = u + h·Σ A1_ij k_j + √h·Σ B1_ij g_j */
      int ka = gather(i, s, tb->a1, h, st->k, c, x);
      int kb = gather(i, s, tb->b1, sh, st->g, c + ka, x + ka);
      c[ka + kb] = 1.0;
      x[ka + kb] = u0->data;
      ops->lincomb(bx, dt_, n, ka + kb + 1, c, x, 0.0, tmp->data);
      NDE_TRY(rhs->diffusion(rhs->ctx, t + tb->c1[i] * h, tmp, &st->g[i]));
      st->ng++;
    }
  }
  /* E₂ = χ₂ ⊙ Σ β3 g + χ₃ ⊙ Σ β4 g, kept in scratch[2] */
  nde_array *e2 = &st->scratch[2];
  int k3 = gather_w(s, tb->beta3, 1.0, st->g, c, x);
  ops->lincomb(bx, dt_, n, k3, c, x, 0.0, e2->data);
  if (k3)
    ops->mul(bx, dt_, n, e2->data, st->chi2->data, e2->data);
  int k4 = gather_w(s, tb->beta4, 1.0, st->g, c, x);
  if (k4) {
    ops->lincomb(bx, dt_, n, k4, c, x, 0.0, tmp->data);
    ops->mul(bx, dt_, n, tmp->data, st->chi3->data, tmp->data);
    ops->axpy(bx, dt_, n, 1.0, tmp->data, e2->data);
  }
  /* u₁ = u + h Σ α k + E₂ + ΔW ⊙ Σ β1 g + χ₁ ⊙ Σ β2 g */
  int k1 = gather_w(s, tb->beta1, 1.0, st->g, c, x);
  ops->lincomb(bx, dt_, n, k1, c, x, 0.0, tmp->data);
  ops->mul(bx, dt_, n, tmp->data, st->dW->data, tmp->data);
  int k2 = gather_w(s, tb->beta2, 1.0, st->g, c, x);
  if (k2) {
    ops->lincomb(bx, dt_, n, k2, c, x, 0.0, tmp2->data);
    ops->mul(bx, dt_, n, tmp2->data, st->chi1->data, tmp2->data);
  }
  int ka = gather_w(s, tb->alpha, h, st->k, c, x);
  c[ka] = 1.0, x[ka++] = u0->data;
  c[ka] = 1.0, x[ka++] = e2->data;
  c[ka] = 1.0, x[ka++] = tmp->data;
  if (k2)
    c[ka] = 1.0, x[ka++] = tmp2->data;
  ops->lincomb(bx, dt_, n, ka, c, x, 0.0, st->u1->data);
  if (st->err) {
    /* err = δ·h·Σ e_i k_i + E₂ */
    int ke = gather_w(s, tb->e1, st->delta * h, st->k, c, x);
    c[ke] = 1.0, x[ke++] = e2->data;
    ops->lincomb(bx, dt_, n, ke, c, x, 0.0, st->err->data);
  }
  if (st->want_eigen && tb->stability_size > 0 && s >= 2) {
    const void *kk[2] = {st->k[s - 1].data, st->k[s - 2].data};
    const void *hh[2] = {st->h0[s - 1].data, st->h0[s - 2].data};
    double pm[2] = {1.0, -1.0};
    ops->lincomb(bx, dt_, n, 2, pm, kk, 0.0, tmp->data);
    double num = ops->norm2(bx, dt_, n, tmp->data);
    ops->lincomb(bx, dt_, n, 2, pm, hh, 0.0, tmp->data);
    double den = ops->norm2(bx, dt_, n, tmp->data);
    st->eigen_est = den > 0 ? num / den : 0.0;
  }
  return NDE_OK;
}
