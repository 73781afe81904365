/*
 * General (matrix) noise (nde/sde.h): the per-column product g·ΔW, its
 * pullback in g, g·ΔW for every noise type, the Euler–Maruyama step the
 * euler_maruyama and lamba_em plugins share, and its reverse with general noise,
 * u₁ = u + h·f(t, u) + G(t, u)·ΔW, whose adjoint is
 * λ₀ = λ₁ + (h·λ₁)ᵀ∂f/∂u + Σ_c (λ₁_c ΔW_cᵀ) : ∂G/∂u.
 */
#include "config.h"

#include <math.h>

#include <nde/backend.h>
#include <nde/sde.h>

/* Element @p i of @p a (a pointer into its data). */
static void *at(const nde_array *a, size_t i) {
  return (char *)a->data + i * nde_dtype_size(a->dtype);
}

void nde_sde_general_product(size_t n, size_t m, size_t K, const nde_array *g,
                             const nde_array *dw, double beta, nde_array *out) {
  const nde_backend_ops *ops = g->backend->ops;
  for (size_t c = 0; c < K; ++c)
    ops->gemm(g->backend->ctx, g->dtype, NDE_NO_TRANS, NDE_NO_TRANS, n, 1, m, 1.0,
              at(g, n * m * c), n, at(dw, m * c), m, beta, at(out, n * c), n);
}

void nde_sde_general_outer(size_t n, size_t m, size_t K, const nde_array *lam,
                           const nde_array *dw, nde_array *wg) {
  const nde_backend_ops *ops = lam->backend->ops;
  for (size_t c = 0; c < K; ++c)
    ops->gemm(lam->backend->ctx, lam->dtype, NDE_NO_TRANS, NDE_NO_TRANS, n, m, 1, 1.0,
              at(lam, n * c), n, at(dw, m * c), 1, 0.0, at(wg, n * m * c), n);
}

void nde_sde_noise_times(const nde_sde_rhs *rhs, const nde_array *u, const nde_array *g,
                         const nde_array *dW, nde_array *out) {
  if (rhs->noise == NDE_NOISE_GENERAL) {
    size_t K = nde_sde_noise_dim(NDE_NOISE_SCALAR, u);
    nde_sde_general_product(u->size / K, rhs->brownian_dim, K, g, dW, 0.0, out);
    return;
  }
  u->backend->ops->mul(u->backend->ctx, u->dtype, u->size, g->data, dW->data, out->data);
}

nde_status nde_sde_em_step(const nde_sde_rhs *rhs, nde_sde_step *st) {
  const nde_array *u0 = st->u0;
  st->nf = st->ng = 0;
  st->eigen_est = (double)NAN;
  NDE_TRY(rhs->drift(rhs->ctx, st->t, u0, &st->k[0]));
  st->nf = 1;
  NDE_TRY(rhs->diffusion(rhs->ctx, st->t, u0, &st->g[0]));
  st->ng = 1;
  nde_sde_noise_times(rhs, u0, &st->g[0], st->dW, &st->scratch[0]);
  const void *x[3] = {u0->data, st->k[0].data, st->scratch[0].data};
  double c[3] = {1.0, st->dt, 1.0};
  u0->backend->ops->lincomb(u0->backend->ctx, u0->dtype, u0->size, 3, c, x, 0.0, st->u1->data);
  return NDE_OK;
}

nde_status nde_em_general_step_reverse(const nde_sde_rhs *rhs, nde_sde_reverse *rev) {
  const nde_array *u0 = rev->u0;
  const nde_backend_ops *be = u0->backend->ops;
  void *bc = u0->backend->ctx;
  size_t n = u0->size, K = nde_sde_noise_dim(NDE_NOISE_SCALAR, u0), m = rhs->brownian_dim;
  rev->nf = rev->ng = rev->nf_vjp = rev->ng_vjp = 0;
  rev->eest = 0;
  rev->eigen_est = (double)NAN;
  if (rev->w_eest != 0 || rev->w_eigen != 0)
    return nde_error(NDE_EUNSUPPORTED, "Euler-Maruyama reverse step: the error and stiffness "
                     "estimates are not differentiated (weights must be 0)");
  if (rev->nwork < 3 || !rhs->drift_vjp || !rhs->diffusion_vjp)
    return nde_error(NDE_EINVAL, "euler_maruyama reverse: needs 3 work arrays, drift_vjp and "
                     "diffusion_vjp");
  nde_array g = {0};
  NDE_TRY(nde_sde_noise_array(rhs, u0, 1, &g));
  nde_array *w = &rev->work[0], *wu = &rev->work[1], *wg_u = &rev->work[2];
  nde_status st = NDE_OK;
  if (rev->u1) { /* the recomputed u₁ */
    if ((st = rhs->drift(rhs->ctx, rev->t, u0, w)) ||
        (st = rhs->diffusion(rhs->ctx, rev->t, u0, &g)))
      goto done;
    rev->nf++, rev->ng++;
    nde_sde_general_product(n / K, m, K, &g, rev->dW, 0.0, wu);
    const void *x[3] = {u0->data, w->data, wu->data};
    double c[3] = {1.0, rev->dt, 1.0};
    be->lincomb(bc, u0->dtype, n, 3, c, x, 0.0, rev->u1->data);
  }
  if (!rev->du1) {
    be->fill(bc, u0->dtype, n, 0.0, rev->du0->data);
    goto done;
  }
  /* drift: w = h·λ₁ pulled back */
  be->axpby(bc, u0->dtype, n, rev->dt, rev->du1->data, 0.0, w->data);
  if ((st = rhs->drift_vjp(rhs->ctx, rev->t, u0, w, wu, rev->dparams)))
    goto done;
  rev->nf_vjp++;
  /* diffusion: the cotangent of G is λ₁_c ΔW_cᵀ per column */
  nde_sde_general_outer(n / K, m, K, rev->du1, rev->dW, &g);
  if ((st = rhs->diffusion_vjp(rhs->ctx, rev->t, u0, &g, wg_u, rev->dparams)))
    goto done;
  rev->ng_vjp++;
  const void *x[3] = {rev->du1->data, wu->data, wg_u->data};
  double c[3] = {1.0, 1.0, 1.0};
  be->lincomb(bc, u0->dtype, n, 3, c, x, 0.0, rev->du0->data);
done:
  nde_array_destroy(&g);
  return st;
}
