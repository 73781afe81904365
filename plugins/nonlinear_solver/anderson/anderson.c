/*
 * Anderson acceleration (type II, Walker & Ni, SIAM J. Numer. Anal. 49(4),
 * 2011) of the fixed-point map g(u) = u + F(u). With the last m differences
 * ΔU = [Δu_i], ΔF = [ΔF_i]:
 *   γ = argmin ‖F_k − ΔF·γ‖₂ (Tikhonov-regularised normal equations,
 *       (ΔFᵀΔF + λ·max diag·I) γ = ΔFᵀF_k),
 *   u_{k+1} = u_k + β F_k − (ΔU + β ΔF) γ,
 * β the damping (mixing) parameter; m = 0 is the damped Picard iteration.
 */
#include <math.h>
#include <string.h>

#include <nde/linear.h>
#include <nde/nonlinear.h>

static nde_status solve(const nde_options *options, nde_nl_ctx *ctx, void *u) {
  int m = (int)nde_options_int(options, "memory", 5);
  double beta = nde_options_number(options, "damping", 1.0);
  double lambda = nde_options_number(options, "regularization", 1e-10);
  nde_backend *be = nde_nl_backend(ctx);
  const nde_backend_ops *o = be->ops;
  void *bc = be->ctx;
  nde_dtype dt = nde_nl_dtype(ctx);
  size_t n = nde_nl_n(ctx);

  void *F, *Fold, *uold;
  NDE_TRY(nde_nl_vectors(ctx, 1, &F));
  NDE_TRY(nde_nl_vectors(ctx, 1, &Fold));
  NDE_TRY(nde_nl_vectors(ctx, 1, &uold));
  void **dU = NULL, **dF = NULL;
  double *gram = NULL, *rhs = NULL, *h = NULL, *coef = NULL;
  const void **vecs = NULL;
  if (m > 0) {
    NDE_TRY(nde_nl_host(ctx, 2 * (size_t)m * sizeof(void *), (void **)&dU));
    dF = dU + m;
    NDE_TRY(nde_nl_vectors(ctx, m, dU));
    NDE_TRY(nde_nl_vectors(ctx, m, dF));
    NDE_TRY(nde_nl_host(ctx, (size_t)m * m * sizeof(double), (void **)&gram));
    NDE_TRY(nde_nl_host(ctx, (size_t)m * m * sizeof(double), (void **)&h));
    NDE_TRY(nde_nl_host(ctx, (size_t)m * sizeof(double), (void **)&rhs));
  }
  NDE_TRY(nde_nl_host(ctx, (size_t)(2 * m + 2) * sizeof(double), (void **)&coef));
  NDE_TRY(nde_nl_host(ctx, (size_t)(2 * m + 2) * sizeof(void *), (void **)&vecs));

  double fn;
  int done, count = 0, head = 0; /* ring buffer: slots [0, count), next write at head */
  NDE_TRY(nde_nl_residual(ctx, u, F, &fn));
  NDE_TRY(nde_nl_start(ctx, u, F, fn, &done));
  while (!done) {
    o->copy(bc, uold, u, n * nde_dtype_size(dt));
    o->copy(bc, Fold, F, n * nde_dtype_size(dt));
    /* γ from the regularised normal equations */
    int k = 0;
    if (count > 0) {
      double dmax = 0;
      for (int i = 0; i < count; ++i) {
        rhs[i] = o->dot(bc, dt, n, dF[i], F);
        for (int j = 0; j <= i; ++j)
          gram[i + j * count] = gram[j + i * count] = o->dot(bc, dt, n, dF[i], dF[j]);
        dmax = fmax(dmax, gram[i + i * count]);
      }
      memcpy(h, gram, (size_t)count * count * sizeof *h);
      for (int i = 0; i < count; ++i)
        h[i + i * count] += lambda * (dmax > 0 ? dmax : 1.0);
      if (nde_dense_least_squares((size_t)count, (size_t)count, h, rhs, 1e-14) != NDE_OK)
        count = 0; /* degenerate history: restart from a plain step */
      for (int i = 0; i < count; ++i) {
        coef[k] = -rhs[i];
        vecs[k++] = dU[i];
        coef[k] = -beta * rhs[i];
        vecs[k++] = dF[i];
      }
    }
    coef[k] = beta;
    vecs[k++] = F;
    o->lincomb(bc, dt, n, k, coef, vecs, 1.0, u);
    NDE_TRY(nde_nl_residual(ctx, u, F, &fn));
    NDE_TRY(nde_nl_step_done(ctx, u, F, fn, &done));
    if (m > 0 && !done) {
      /* store Δu = u − uold, ΔF = F − Fold in the ring */
      const void *xu[2] = {u, uold}, *xf[2] = {F, Fold};
      double c[2] = {1.0, -1.0};
      o->lincomb(bc, dt, n, 2, c, xu, 0.0, dU[head]);
      o->lincomb(bc, dt, n, 2, c, xf, 0.0, dF[head]);
      head = (head + 1) % m;
      if (count < m)
        count++;
    }
  }
  return NDE_OK;
}

NDE_PLUGIN_DEFINE(nonlinear_solver, anderson, .solve = solve);
