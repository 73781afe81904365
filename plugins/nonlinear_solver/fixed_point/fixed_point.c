/*
 * Damped fixed-point (Picard) iteration u ← u + β·F(u). In the fixed-point
 * form F(u) = f(u) − u, so this is u ← (1 − β)u + β f(u); β = 1 is the plain
 * iteration z_{k+1} = f(z_k) of a DEQ.
 */
#include <nde/nonlinear.h>

static nde_status solve(const nde_options *options, nde_nl_ctx *ctx, void *u) {
  double beta = nde_options_number(options, "damping", 1.0);
  nde_backend *be = nde_nl_backend(ctx);
  nde_dtype dt = nde_nl_dtype(ctx);
  size_t n = nde_nl_n(ctx);
  void *F;
  NDE_TRY(nde_nl_vectors(ctx, 1, &F));
  double fn;
  int done;
  NDE_TRY(nde_nl_residual(ctx, u, F, &fn));
  NDE_TRY(nde_nl_start(ctx, u, F, fn, &done));
  while (!done) {
    be->ops->axpy(be->ctx, dt, n, beta, F, u);
    NDE_TRY(nde_nl_residual(ctx, u, F, &fn));
    NDE_TRY(nde_nl_step_done(ctx, u, F, fn, &done));
  }
  return NDE_OK;
}

NDE_PLUGIN_DEFINE(nonlinear_solver, fixed_point, .solve = solve);
