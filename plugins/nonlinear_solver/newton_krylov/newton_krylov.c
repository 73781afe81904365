/*
 * Jacobian-free Newton–Krylov (Knoll & Keyes, J. Comput. Phys. 193, 2004):
 * each Newton step solves J d = −F inexactly with a linear-solver plugin
 * (GMRES by default) whose matrix–vector product is the core's J·v (the
 * problem's jvp, else a forward difference), to a relative tolerance η
 * (constant, or Eisenstat & Walker's choice 2, SIAM J. Sci. Comput. 17,
 * 1996: η_k = γ(‖F_k‖/‖F_{k−1}‖)², safeguarded). The step is globalised by
 * the core's backtracking line search; with ‖F + J d‖ ≤ η‖F‖ the slope
 * bound −(1 − η)‖F‖² is used for the Armijo test.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <nde/linear.h>
#include <nde/nonlinear.h>

typedef struct jv {
  nde_nl_ctx *ctx;
  const void *u, *F;
} jv;

static nde_status matvec(void *user, const void *x, void *out) {
  jv *j = user;
  return nde_nl_jvp(j->ctx, j->u, j->F, x, out);
}

static nde_status solve(const nde_options *options, nde_nl_ctx *ctx, void *u) {
  const char *lin = nde_options_string(options, "linear_solver", "gmres");
  int restart = (int)nde_options_int(options, "krylov_dim", 30);
  int lin_maxiters = (int)nde_options_int(options, "linear_maxiters", 200);
  const char *forcing = nde_options_string(options, "forcing", "eisenstat_walker");
  double eta_max = nde_options_number(options, "eta", 0.1);
  nde_backend *be = nde_nl_backend(ctx);
  const nde_backend_ops *o = be->ops;
  nde_dtype dt = nde_nl_dtype(ctx);
  size_t n = nde_nl_n(ctx), esz = nde_dtype_size(dt);
  void *v[5];
  NDE_TRY(nde_nl_vectors(ctx, 5, v));
  void *F = v[0], *d = v[1], *un = v[2], *Fn = v[3], *rhs = v[4];
  double fn, f2, f2_old = NAN, eta = eta_max;
  int done;
  NDE_TRY(nde_nl_residual(ctx, u, F, &fn));
  NDE_TRY(nde_nl_start(ctx, u, F, fn, &done));
  f2 = o->norm2(be->ctx, dt, n, F);
  int ew = !strcmp(forcing, "eisenstat_walker");
  while (!done) {
    if (ew && isfinite(f2_old) && f2_old > 0) {
      /* Eisenstat–Walker choice 2 (γ = 0.9, α = 2) with its safeguard */
      double e = 0.9 * (f2 / f2_old) * (f2 / f2_old);
      double guard = 0.9 * eta * eta;
      if (guard > 0.1)
        e = fmax(e, guard);
      eta = fmin(eta_max, e);
      eta = fmax(eta, 1e-10);
    }
    char opts[256];
    snprintf(opts, sizeof opts,
             "{\"reltol\": %.17g, \"abstol\": 0, \"maxiters\": %d, \"restart\": %d}", eta,
             lin_maxiters, restart);
    nde_linear_solver *ls = NULL;
    nde_status st = nde_linear_solver_open(nde_nl_registry(ctx), lin, strcmp(lin, "gmres") ? NULL : opts,
                                           "newton_krylov.linear_solver", &ls);
    if (st != NDE_OK)
      return st;
    jv user = {ctx, u, F};
    nde_linear_problem lp = {.backend = be, .dtype = dt, .n = n, .matvec = matvec, .user = &user};
    o->copy(be->ctx, rhs, F, n * esz);
    o->scale(be->ctx, dt, n, -1.0, rhs);
    o->fill(be->ctx, dt, n, 0.0, d);
    nde_linear_result lr;
    st = nde_linear_solve(ls, &lp, rhs, d, &lr);
    nde_linear_solver_destroy(&ls);
    nde_nl_result(ctx)->nlinear += lr.iterations;
    if (st != NDE_OK && st != NDE_EMAXITERS)
      return st;
    double achieved = f2 > 0 ? fmin(lr.residual / f2, 1.0) : 0.0;
    double slope = -(1.0 - fmax(achieved, eta)) * f2 * f2;
    if (!(slope < 0))
      slope = NAN; /* the linear solve made no progress: measure the slope */
    nde_nl_line_search_out out;
    NDE_TRY(nde_nl_line_search(ctx, u, F, d, slope, 1e-10, un, Fn, &out));
    if (!out.accepted && !(out.fnorm < fn))
      return nde_error(NDE_ENOCONV, "line search found no decrease");
    o->copy(be->ctx, u, un, n * esz);
    o->copy(be->ctx, F, Fn, n * esz);
    fn = out.fnorm;
    f2_old = f2;
    f2 = o->norm2(be->ctx, dt, n, F);
    NDE_TRY(nde_nl_step_done(ctx, u, F, fn, &done));
  }
  return NDE_OK;
}

NDE_PLUGIN_DEFINE(nonlinear_solver, newton_krylov, .solve = solve);
