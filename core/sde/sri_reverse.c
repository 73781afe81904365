/*
 * Reverse mode through one SRI step (nde/sde.h, ::nde_sde_reverse): the
 * discrete adjoint of nde_sri_step() along a fixed Brownian path, with t,
 * dt and the noise (ΔW, χ₁, χ₂, χ₃) frozen.
 *
 * Forward (see ::nde_sri_tableau):
 *   H0_i = u + h·Σ_j A0_ij k_j + χ₂ ⊙ Σ_j B0_ij g_j,   k_i = f(t + c0_i h, H0_i)
 *   H1_i = u + h·Σ_j A1_ij k_j + √h · Σ_j B1_ij g_j,   g_i = g(t + c1_i h, H1_i)
 *   u₁   = u + h·Σ α_i k_i + ΔW ⊙ Σ β1_i g_i + χ₁ ⊙ Σ β2_i g_i + E₂
 *   E₂   = χ₂ ⊙ Σ β3_i g_i + χ₃ ⊙ Σ β4_i g_i,   err = δ·h·Σ e_i k_i + E₂
 *   EEst = wrms(err; u, u₁)
 * Reverse, with U = λ₁ (+ EEst's scale term) and R = ∂(w·EEst)/∂err:
 *   k̄_i = h·α_i·U + δ·h·e_i·R
 *   ḡ_i = β1_i ΔW⊙U + β2_i χ₁⊙U + β3_i χ₂⊙(U + R) + β4_i χ₃⊙(U + R)
 * then for i = s−1 … 0 (stage i feeds only later stages, so its cotangent
 * is complete when reached):
 *   H̄1_i = ḡ_iᵀ∂g/∂u at H1_i:  λ₀ += H̄1_i, k̄_j += h·A1_ij H̄1_i, ḡ_j += √h·B1_ij H̄1_i
 *   H̄0_i = k̄_iᵀ∂f/∂u at H0_i:  λ₀ += H̄0_i, k̄_j += h·A0_ij H̄0_i, ḡ_j += B0_ij χ₂⊙H̄0_i
 * and λ₀ += U (the identity term of u₁ and of every stage's u).
 */
#include "config.h"

#include <math.h>

#include <nde/backend.h>
#include <nde/sde.h>

#include "sri_internal.h"

/* Euler–Maruyama as a one-stage SRI tableau (Kloeden & Platen §10.2). */
static const double em_zero[1] = {0}, em_one[1] = {1};
static const nde_sri_tableau em_tableau = {
    .stages = 1, .c0 = em_zero, .c1 = em_zero, .a0 = em_zero, .a1 = em_zero,
    .b0 = em_zero, .b1 = em_zero, .alpha = em_one, .beta1 = em_one, .beta2 = em_zero,
    .beta3 = em_zero, .beta4 = em_zero, .e1 = em_zero, .delta = 0, .stability_size = 0};

const nde_sri_tableau *nde_sri_tableau_euler_maruyama(void) { return &em_tableau; }

static int any_nonzero(int s, const double *w) {
  for (int i = 0; i < s; ++i)
    if (w[i] != 0)
      return 1;
  return 0;
}

/* Recompute the stages k, g, H0, H1 from u0 (as nde_sri_step() does) */
static nde_status forward_stages(const nde_sri_tableau *tb, const nde_sde_rhs *rhs,
                                 nde_sde_reverse *r, const int *uf, const int *ug, nde_array *k,
                                 nde_array *g, nde_array *h0, nde_array *h1, void **kf,
                                 void **kg) {
  const nde_array *u0 = r->u0;
  const nde_backend_ops *ops = u0->backend->ops;
  void *bx = u0->backend->ctx;
  nde_dtype dt_ = u0->dtype;
  size_t n = u0->size;
  int s = tb->stages;
  double h = r->dt, sh = sqrt(h);
  double c[2 * NDE_SRI_MAX_STAGES + 1];
  const void *x[2 * NDE_SRI_MAX_STAGES + 1];
  for (int i = 0; i < s; ++i) {
    if (uf[i]) {
      int kb = 0;
      for (int j = 0; j < i; ++j)
        if (tb->b0[i * s + j] != 0)
          c[kb] = tb->b0[i * s + j], x[kb++] = g[j].data;
      if (kb) {
        ops->lincomb(bx, dt_, n, kb, c, x, 0.0, h0[i].data);
        ops->mul(bx, dt_, n, h0[i].data, r->chi2->data, h0[i].data);
      }
      int ka = 0;
      for (int j = 0; j < i; ++j)
        if (tb->a0[i * s + j] != 0)
          c[ka] = h * tb->a0[i * s + j], x[ka++] = k[j].data;
      c[ka] = 1.0, x[ka++] = u0->data;
      ops->lincomb(bx, dt_, n, ka, c, x, kb ? 1.0 : 0.0, h0[i].data);
      if (kf)
        NDE_TRY(rhs->drift_keep(rhs->ctx, r->t + tb->c0[i] * h, &h0[i], &k[i], &kf[i]));
      else
        NDE_TRY(rhs->drift(rhs->ctx, r->t + tb->c0[i] * h, &h0[i], &k[i]));
      r->nf++;
    }
    if (ug[i]) {
      int m = 0;
      for (int j = 0; j < i; ++j) {
        if (tb->a1[i * s + j] != 0)
          c[m] = h * tb->a1[i * s + j], x[m++] = k[j].data;
        if (tb->b1[i * s + j] != 0)
          c[m] = sh * tb->b1[i * s + j], x[m++] = g[j].data;
      }
      c[m] = 1.0, x[m++] = u0->data;
      ops->lincomb(bx, dt_, n, m, c, x, 0.0, h1[i].data);
      if (kg)
        NDE_TRY(rhs->diffusion_keep(rhs->ctx, r->t + tb->c1[i] * h, &h1[i], &g[i], &kg[i]));
      else
        NDE_TRY(rhs->diffusion(rhs->ctx, r->t + tb->c1[i] * h, &h1[i], &g[i]));
      r->ng++;
    }
  }
  return NDE_OK;
}

/* y = Σ_i w_i·a_i over the stages (0 when every weight is 0); returns whether any term. */
static int weighted(const nde_backend_ops *ops, void *bx, nde_dtype dt_, size_t n, int s,
                    const double *w, double scale, const nde_array *a, void *y) {
  double c[NDE_SRI_MAX_STAGES];
  const void *x[NDE_SRI_MAX_STAGES];
  int m = 0;
  for (int i = 0; i < s; ++i)
    if (w[i] != 0)
      c[m] = scale * w[i], x[m++] = a[i].data;
  ops->lincomb(bx, dt_, n, m, c, x, 0.0, y);
  return m > 0;
}

int nde_sde_rhs_keeps(const nde_sde_rhs *rhs) {
  return rhs->keep_begin && rhs->drift_keep && rhs->diffusion_keep && rhs->kept_vjp &&
         rhs->keep_end;
}

static nde_status step_reverse(const nde_sri_tableau *tb, const nde_sde_rhs *rhs,
                               nde_sde_reverse *r, int keeps);

nde_status nde_sri_step_reverse(const nde_sri_tableau *tb, const nde_sde_rhs *rhs,
                                nde_sde_reverse *r) {
  int keeps = nde_sde_rhs_keeps(rhs);
  if (keeps)
    NDE_TRY(rhs->keep_begin(rhs->ctx));
  nde_status st = step_reverse(tb, rhs, r, keeps);
  if (keeps)
    rhs->keep_end(rhs->ctx);
  return st;
}

/* The reverse step; with @p keeps, the stages' evaluations are kept for their pullbacks. */
static nde_status step_reverse(const nde_sri_tableau *tb, const nde_sde_rhs *rhs,
                               nde_sde_reverse *r, int keeps) {
  const nde_array *u0 = r->u0;
  const nde_backend_ops *ops = u0->backend->ops;
  void *bx = u0->backend->ctx;
  nde_dtype dt_ = u0->dtype;
  size_t n = u0->size;
  int s = tb->stages;
  r->nf = r->ng = r->nf_vjp = r->ng_vjp = 0;
  r->eest = 0;
  r->eigen_est = NAN;
  if (s < 1 || s > NDE_SRI_MAX_STAGES)
    return nde_error(NDE_EINVAL, "SRI reverse step: %d stages (1..%d)", s, NDE_SRI_MAX_STAGES);
  if (r->nwork < NDE_SDE_REVERSE_WORK(s))
    return nde_error(NDE_EINVAL, "SRI reverse step: %d work arrays, the tableau needs %d",
                     r->nwork, NDE_SDE_REVERSE_WORK(s));
  if (!rhs->drift || !rhs->diffusion || !rhs->drift_vjp || !rhs->diffusion_vjp)
    return nde_error(NDE_EINVAL, "SRI reverse step: the SDE needs drift, diffusion, drift_vjp "
                                 "and diffusion_vjp");
  if (!(r->dt > 0))
    return nde_error(NDE_EINVAL, "SRI reverse step: dt must be > 0, got %g", r->dt);
  if (!r->dW || !r->du0 || r->du0 == r->du1)
    return nde_error(NDE_EINVAL, "SRI reverse step: needs dW and a du0 distinct from du1");
  int need_chi2 = any_nonzero(s, tb->beta3) || any_nonzero(s * s, tb->b0);
  if ((any_nonzero(s, tb->beta2) && !r->chi1) || (need_chi2 && !r->chi2) ||
      (any_nonzero(s, tb->beta4) && !r->chi3))
    return nde_error(NDE_EINVAL, "SRI reverse step: the tableau reads chi1..chi3, which are NULL");
  int with_err = r->w_eest != 0, with_eig = r->w_eigen != 0;
  if (with_eig && !(tb->stability_size > 0 && s >= 2))
    return nde_error(NDE_EINVAL, "SRI reverse step: w_eigen given, but the tableau has no "
                                 "stiffness estimate");
  if (with_err && !NDE_VTABLE_HAS(ops, nde_backend_ops, wrms_norm_vjp))
    return nde_error(NDE_EUNSUPPORTED, "backend '%s' lacks operation 'wrms_norm_vjp'",
                     ops->header.name);
  nde_array *k = r->work, *g = k + s, *h0 = g + s, *h1 = h0 + s, *kb = h1 + s, *gb = kb + s;
  nde_array *w = gb + s;
  nde_array *u1 = &w[0], *err = &w[1], *tmp = &w[2], *tmp2 = &w[3], *U = &w[4], *R = &w[5];
  nde_array *P[4] = {&w[6], &w[7], &w[8], &w[9]}; /* ΔW⊙U, χ₁⊙U, χ₂⊙(U+R), χ₃⊙(U+R) */
  int uf[NDE_SRI_MAX_STAGES], ug[NDE_SRI_MAX_STAGES];
  nde_sri_used_stages(tb, with_err, uf, ug);
  double h = r->dt, sh = sqrt(h);

  void *kf[NDE_SRI_MAX_STAGES] = {0}, *kg[NDE_SRI_MAX_STAGES] = {0};
  NDE_TRY(forward_stages(tb, rhs, r, uf, ug, k, g, h0, h1, keeps ? kf : NULL,
                         keeps ? kg : NULL));

  /* E₂ (in err), then u₁, then err = δ·h·Σ e k + E₂ */
  if (weighted(ops, bx, dt_, n, s, tb->beta3, 1.0, g, err->data))
    ops->mul(bx, dt_, n, err->data, r->chi2->data, err->data);
  if (weighted(ops, bx, dt_, n, s, tb->beta4, 1.0, g, tmp->data)) {
    ops->mul(bx, dt_, n, tmp->data, r->chi3->data, tmp->data);
    ops->axpy(bx, dt_, n, 1.0, tmp->data, err->data);
  }
  weighted(ops, bx, dt_, n, s, tb->beta1, 1.0, g, tmp->data);
  ops->mul(bx, dt_, n, tmp->data, r->dW->data, tmp->data);
  weighted(ops, bx, dt_, n, s, tb->alpha, h, k, u1->data);
  ops->axpy(bx, dt_, n, 1.0, tmp->data, u1->data);
  ops->axpy(bx, dt_, n, 1.0, u0->data, u1->data);
  ops->axpy(bx, dt_, n, 1.0, err->data, u1->data);
  if (weighted(ops, bx, dt_, n, s, tb->beta2, 1.0, g, tmp->data)) {
    ops->mul(bx, dt_, n, tmp->data, r->chi1->data, tmp->data);
    ops->axpy(bx, dt_, n, 1.0, tmp->data, u1->data);
  }
  if (r->u1)
    NDE_TRY(ops->copy(bx, r->u1->data, u1->data, nde_array_bytes(u0)));

  /* seed cotangents: U = λ₁, R = 0, λ₀ = 0; EEst adds to all three */
  if (r->du1)
    NDE_TRY(ops->copy(bx, U->data, r->du1->data, nde_array_bytes(u0)));
  else
    ops->fill(bx, dt_, n, 0.0, U->data);
  ops->fill(bx, dt_, n, 0.0, R->data);
  ops->fill(bx, dt_, n, 0.0, r->du0->data);
  if (with_err) {
    if (weighted(ops, bx, dt_, n, s, tb->e1, r->delta * h, k, tmp->data))
      ops->axpy(bx, dt_, n, 1.0, tmp->data, err->data);
    r->eest = ops->wrms_norm(bx, dt_, n, err->data, u0->data, u1->data, r->abstol, r->reltol);
    ops->wrms_norm_vjp(bx, dt_, n, err->data, u0->data, u1->data, r->abstol, r->reltol,
                       r->eest, r->w_eest, R->data, r->du0->data, U->data);
  }

  /* stage cotangents from u₁ and err */
  const nde_array *noise[4] = {r->dW, r->chi1, r->chi2, r->chi3};
  const double *betas[4] = {tb->beta1, tb->beta2, tb->beta3, tb->beta4};
  int has[4];
  for (int q = 0; q < 4; ++q) {
    has[q] = any_nonzero(s, betas[q]);
    if (!has[q])
      continue;
    if (q < 2) {
      ops->mul(bx, dt_, n, U->data, noise[q]->data, P[q]->data);
    } else {
      const void *x2[2] = {U->data, R->data};
      double c2[2] = {1.0, 1.0};
      ops->lincomb(bx, dt_, n, 2, c2, x2, 0.0, P[q]->data);
      ops->mul(bx, dt_, n, P[q]->data, noise[q]->data, P[q]->data);
    }
  }
  for (int i = 0; i < s; ++i) {
    const void *x2[2] = {U->data, R->data};
    double c2[2] = {h * tb->alpha[i], r->delta * h * (with_err ? tb->e1[i] : 0.0)};
    ops->lincomb(bx, dt_, n, 2, c2, x2, 0.0, kb[i].data);
    double c4[4];
    const void *x4[4];
    int m = 0;
    for (int q = 0; q < 4; ++q)
      if (has[q] && betas[q][i] != 0)
        c4[m] = betas[q][i], x4[m++] = P[q]->data;
    ops->lincomb(bx, dt_, n, m, c4, x4, 0.0, gb[i].data);
  }
  ops->axpy(bx, dt_, n, 1.0, U->data, r->du0->data);

  /* stiffness estimate ρ = ‖a‖/‖b‖, a = k_s − k_{s−1}, b = H0_s − H0_{s−1}:
     ∂ρ/∂a = a/(‖a‖‖b‖), ∂ρ/∂b = −ρ·b/‖b‖²; the H0 part is kept in P[0] (stage s−1's
     cotangent; stage s−2 gets its negative) and added after the stage's drift vjp */
  int eig_h0 = 0;
  if (with_eig) {
    const void *kk[2] = {k[s - 1].data, k[s - 2].data}, *hh[2] = {h0[s - 1].data, h0[s - 2].data};
    double pm[2] = {1.0, -1.0};
    ops->lincomb(bx, dt_, n, 2, pm, kk, 0.0, tmp->data);
    ops->lincomb(bx, dt_, n, 2, pm, hh, 0.0, P[0]->data);
    double na = ops->norm2(bx, dt_, n, tmp->data), nb = ops->norm2(bx, dt_, n, P[0]->data);
    r->eigen_est = nb > 0 ? na / nb : 0.0;
    if (na > 0 && nb > 0) {
      double ca = r->w_eigen / (na * nb);
      ops->axpy(bx, dt_, n, ca, tmp->data, kb[s - 1].data);
      ops->axpy(bx, dt_, n, -ca, tmp->data, kb[s - 2].data);
      ops->scale(bx, dt_, n, -r->w_eigen * r->eigen_est / (nb * nb), P[0]->data);
      eig_h0 = 1;
    }
  }

  /* pull back through the stages in reverse order */
  for (int i = s - 1; i >= 0; --i) {
    if (ug[i]) {
      if (keeps)
        NDE_TRY(rhs->kept_vjp(rhs->ctx, kg[i], &gb[i], tmp, r->dparams));
      else
        NDE_TRY(rhs->diffusion_vjp(rhs->ctx, r->t + tb->c1[i] * h, &h1[i], &gb[i], tmp,
                                   r->dparams));
      r->ng_vjp++;
      ops->axpy(bx, dt_, n, 1.0, tmp->data, r->du0->data);
      for (int j = 0; j < i; ++j) {
        if (tb->a1[i * s + j] != 0)
          ops->axpy(bx, dt_, n, h * tb->a1[i * s + j], tmp->data, kb[j].data);
        if (tb->b1[i * s + j] != 0)
          ops->axpy(bx, dt_, n, sh * tb->b1[i * s + j], tmp->data, gb[j].data);
      }
    }
    if (uf[i]) {
      if (keeps)
        NDE_TRY(rhs->kept_vjp(rhs->ctx, kf[i], &kb[i], tmp, r->dparams));
      else
        NDE_TRY(rhs->drift_vjp(rhs->ctx, r->t + tb->c0[i] * h, &h0[i], &kb[i], tmp,
                               r->dparams));
      r->nf_vjp++;
      if (eig_h0 && i >= s - 2) /* the stiffness estimate's direct H0 dependence */
        ops->axpy(bx, dt_, n, i == s - 1 ? 1.0 : -1.0, P[0]->data, tmp->data);
      ops->axpy(bx, dt_, n, 1.0, tmp->data, r->du0->data);
      int chi_done = 0;
      for (int j = 0; j < i; ++j) {
        if (tb->a0[i * s + j] != 0)
          ops->axpy(bx, dt_, n, h * tb->a0[i * s + j], tmp->data, kb[j].data);
        if (tb->b0[i * s + j] != 0) {
          if (!chi_done) {
            ops->mul(bx, dt_, n, tmp->data, r->chi2->data, tmp2->data);
            chi_done = 1;
          }
          ops->axpy(bx, dt_, n, tb->b0[i * s + j], tmp2->data, gb[j].data);
        }
      }
    }
  }
  return NDE_OK;
}

nde_status nde_sde_solver_step_reverse(const nde_sde_solver_ops *ops, const nde_sde_rhs *rhs,
                                       nde_sde_reverse *reverse) {
  if (ops->tableau)
    return nde_sri_step_reverse(ops->tableau, rhs, reverse);
  if (NDE_VTABLE_HAS(ops, nde_sde_solver_ops, step_reverse) && ops->step_reverse)
    return ops->step_reverse(rhs, reverse);
  return nde_error(NDE_EUNSUPPORTED, "sde_solver '%s' has no reverse step", ops->header.name);
}
