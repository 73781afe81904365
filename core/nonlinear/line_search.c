/*
 * Backtracking line search on ½‖F‖₂² for every nonlinear solver
 * (Dennis & Schnabel, "Numerical Methods for Unconstrained Optimization and
 * Nonlinear Equations", 1983, Algorithm A6.3.1).
 */
#include "config.h"

#include <math.h>

#include "nl_impl.h"

#define ARMIJO 1e-4

nde_status nde_nl_line_search(nde_nl_ctx *ctx, const void *u, const void *Fu, const void *d,
                              double slope, double lambda_min, void *u_new, void *F_new,
                              nde_nl_line_search_out *out) {
  const nde_backend_ops *be = ctx->be->ops;
  void *bc = ctx->be->ctx;
  double f2 = be->norm2(bc, ctx->dt, ctx->n, Fu);
  double phi0 = 0.5 * f2 * f2;
  if (isnan(slope)) {
    if (!ctx->ls_tmp)
      NDE_TRY(nde_nl_vectors(ctx, 1, &ctx->ls_tmp));
    NDE_TRY(nde_nl_jvp(ctx, u, Fu, d, ctx->ls_tmp));
    slope = be->dot(bc, ctx->dt, ctx->n, Fu, ctx->ls_tmp);
  }
  if (!(lambda_min > 0))
    lambda_min = 1e-12;
  double lambda = 1.0, lambda_prev = 0, phi_prev = 0;
  out->accepted = 0;
  for (int k = 0;; ++k) {
    const void *x[2] = {u, d};
    double c[2] = {1.0, lambda};
    be->lincomb(bc, ctx->dt, ctx->n, 2, c, x, 0.0, u_new);
    double fn;
    NDE_TRY(nde_nl_residual(ctx, u_new, F_new, &fn));
    double f1 = be->norm2(bc, ctx->dt, ctx->n, F_new);
    double phi = 0.5 * f1 * f1;
    out->lambda = lambda;
    out->fnorm = fn;
    if (isfinite(phi) && isfinite(fn) && phi <= phi0 + ARMIJO * lambda * slope) {
      out->accepted = 1;
      return NDE_OK;
    }
    if (lambda < lambda_min || k >= 60 || !(slope < 0))
      return NDE_OK; /* not a descent direction or no acceptable step: caller decides */
    double next;
    if (!isfinite(phi))
      next = 0.1 * lambda;
    else if (k == 0)
      next = -slope / (2.0 * (phi - phi0 - slope)); /* minimizer of the quadratic model */
    else {
      double r1 = phi - phi0 - lambda * slope;
      double r2 = phi_prev - phi0 - lambda_prev * slope;
      double l1 = lambda * lambda, l2 = lambda_prev * lambda_prev;
      double a = (r1 / l1 - r2 / l2) / (lambda - lambda_prev);
      double b = (-lambda_prev * r1 / l1 + lambda * r2 / l2) / (lambda - lambda_prev);
      if (a == 0)
        next = -slope / (2.0 * b);
      else {
        double disc = b * b - 3.0 * a * slope;
        next = disc < 0 ? 0.5 * lambda : (-b + sqrt(disc)) / (3.0 * a);
      }
    }
    if (!isfinite(next) || next > 0.5 * lambda)
      next = 0.5 * lambda;
    lambda_prev = lambda;
    phi_prev = isfinite(phi) ? phi : phi_prev;
    lambda = fmax(next, 0.1 * lambda);
  }
}
