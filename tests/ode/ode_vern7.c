/*
 * vern7 (Verner's most efficient 7(6) pair, data-only manifest): the
 * propagated solution converges at order 7 and the embedded one at order 6,
 * measured with fixed steps against the exact solution of a nonlinear,
 * non-autonomous system; the error estimate of one step on the Arenstorf
 * orbit falls like the local error of a 6th-order method (h^7) and equals
 * u1 − û1; at a tight tolerance vern7 needs fewer evaluations than tsit5.
 */
#include "ode_test_util.h"

#include "../../core/check/check.h"

/*
 * A nonlinear, non-autonomous test system with a closed form on [0, 1]:
 *   a' = (1 + a²)/2  (a = tan(t/2)),  b' = −t b  (b = exp(−t²/2)),  c' = d, d' = −4c (c = cos 2t)
 */
static nde_status tan_eval(void *ctx, double t, const nde_array *u, nde_array *du) {
  (void)ctx;
  double x[4], f[4];
  NDE_TRY(nde_array_to_doubles(u, x, 4));
  f[0] = 0.5 * (1 + x[0] * x[0]);
  f[1] = -t * x[1];
  f[2] = x[3];
  f[3] = -4 * x[2];
  return nde_array_from_doubles(du, f, 4);
}

static void tan_exact(double t, double *u) {
  u[0] = tan(0.5 * t);
  u[1] = exp(-0.5 * t * t);
  u[2] = cos(2 * t);
  u[3] = -2 * sin(2 * t);
}

/* max-norm error at t = 1 of a fixed-step solve of the tan system with n steps */
static double fixed_error(nde_ode_solver *s, int n) {
  double u0[4], ue[4], uf[4];
  tan_exact(0, u0);
  nde_array a = test_state(NDE_FLOAT64, 4, u0);
  nde_ode_options o = s->solve;
  o.adaptive = 0;
  o.dt = 1.0 / n;
  o.save_everystep = 0;
  nde_ode_rhs f = {tan_eval, NULL, NULL};
  nde_ode_solution sol;
  cr_assert_eq(nde_ode_solve(s, &f, &o, 0, 1, &a, NULL, 0, &sol), NDE_OK, "%s",
               nde_last_error());
  cr_assert_eq(sol.stats.accepted, n);
  tan_exact(1, ue);
  nde_array_to_doubles(&sol.u_final, uf, 4);
  double m = 0;
  for (int i = 0; i < 4; ++i)
    m = fmax(m, fabs(uf[i] - ue[i]));
  nde_ode_solution_clear(&sol);
  nde_array_destroy(&a);
  return m;
}

/* slope of log error vs log dt over n0·1.3^k steps, k < 5 */
static double observed_order(nde_ode_solver *s, int n0, const char *what) {
  double h[5], e[5];
  for (int k = 0; k < 5; ++k) {
    int n = (int)lround(n0 * pow(1.3, k));
    h[k] = 1.0 / n;
    e[k] = fixed_error(s, n);
    cr_log_info("%s: %d steps, error %.3e", what, n, e[k]);
    cr_assert(e[k] > 1e-13, "%s: error %.3g at %d steps is at round-off; refit", what, e[k], n);
  }
  double slope = nde_check_loglog_slope(h, e, 5);
  cr_log_info("%s: observed order %.3f", what, slope);
  return slope;
}

Test(vern7, propagated_solution_is_order_7) {
  nde_ode_solver *s = test_solver("vern7", "{}");
  cr_expect_eq(s->ops->order, 7);
  cr_expect_eq(s->ops->stages, 10);
  double slope = observed_order(s, 5, "vern7");
  cr_expect(slope > 6.5 && slope < 7.5, "vern7: order %.3f, want 6.5..7.5", slope);
  nde_ode_solver_destroy(&s);
}

/* The embedded weights bhat = b − btilde as a method of their own converge at order 6. */
Test(vern7, embedded_solution_is_order_6) {
  nde_ode_solver *v = test_solver("vern7", "{}");
  const nde_rk_tableau *tb = v->ops->tableau;
  cr_assert_not_null(tb);
  cr_assert_eq(tb->embedded_order, 6);
  static double bhat[16];
  for (int i = 0; i < tb->stages; ++i)
    bhat[i] = tb->b[i] - tb->btilde[i];
  nde_rk_tableau emb = {.stages = tb->stages, .order = 6, .c = tb->c, .a = tb->a, .b = bhat};
  nde_ode_solver_ops ops = {
      .header = NDE_PLUGIN_HEADER(NDE_KIND_ODE_SOLVER, "vern7_embedded", nde_ode_solver_ops),
      .tableau = &emb, .order = 6, .stages = tb->stages};
  nde_ode_solver *s = NULL;
  cr_assert_eq(nde_ode_solver_open_ops(&ops, NULL, &s), NDE_OK, "%s", nde_last_error());
  double slope = observed_order(s, 5, "vern7 bhat");
  cr_expect(slope > 5.5 && slope < 6.5, "embedded solution: order %.3f, want 5.5..6.5", slope);
  nde_ode_solver_destroy(&s);
  nde_ode_solver_destroy(&v);
}

static nde_ode_problem *arenstorf(double *period) {
  nde_ode_problem *p = test_problem("arenstorf", "{}");
  double u0[4], tspan[2];
  nde_ode_problem_defaults(p, u0, tspan);
  *period = tspan[1];
  return p;
}

/*
 * One step from the Arenstorf initial state: the estimate dt·Σ btilde_i k_i
 * is the local error of the 6th-order embedded solution, O(h^7), and it
 * matches u1 − û1 computed from the two solutions apart.
 */
Test(vern7, error_estimate_falls_like_h7) {
  nde_ode_solver *v = test_solver("vern7", "{}");
  const nde_rk_tableau *tb = v->ops->tableau;
  double T;
  nde_ode_problem *p = arenstorf(&T);
  double u0[4];
  nde_ode_problem_defaults(p, u0, NULL);
  nde_ode_rhs f = nde_ode_problem_rhs(p);
  nde_array a0 = test_state(NDE_FLOAT64, 4, u0), u1 = test_state(NDE_FLOAT64, 4, u0);
  nde_array err = test_state(NDE_FLOAT64, 4, u0), scratch[2], k[10];
  scratch[0] = test_state(NDE_FLOAT64, 4, u0);
  scratch[1] = test_state(NDE_FLOAT64, 4, u0);
  for (int i = 0; i < 10; ++i)
    k[i] = test_state(NDE_FLOAT64, 4, u0);
  double h[5], e[5];
  for (int l = 0; l < 5; ++l) {
    h[l] = 2e-3 / pow(1.5, l);
    cr_assert_eq(f.eval(f.ctx, 0, &a0, &k[0]), NDE_OK);
    nde_ode_step st = {.t = 0, .dt = h[l], .u0 = &a0, .u1 = &u1, .err = &err, .k = k,
                       .nk = 10, .f1 = &scratch[0], .scratch = scratch};
    cr_assert_eq(nde_rk_step(tb, &f, &st), NDE_OK, "%s", nde_last_error());
    cr_assert_eq(st.nfe, 9);
    double ev[4], y[4], yhat[4], c[10];
    nde_array_to_doubles(&err, ev, 4);
    nde_array_to_doubles(&u1, y, 4);
    for (int i = 0; i < 10; ++i)
      c[i] = tb->b[i] - tb->btilde[i];
    double kv[10][4];
    for (int i = 0; i < 10; ++i)
      nde_array_to_doubles(&k[i], kv[i], 4);
    e[l] = 0;
    for (int j = 0; j < 4; ++j) {
      yhat[j] = u0[j];
      for (int i = 0; i < 10; ++i)
        yhat[j] += h[l] * c[i] * kv[i][j];
      e[l] = fmax(e[l], fabs(ev[j]));
      cr_expect_leq(fabs(ev[j] - (y[j] - yhat[j])), 1e-14 + 1e-6 * fabs(ev[j]),
                    "component %d: estimate %.3g vs u1 - uhat1 %.3g", j, ev[j], y[j] - yhat[j]);
    }
  }
  double slope = nde_check_loglog_slope(h, e, 5);
  cr_log_info("vern7 local error estimate: %.3g .. %.3g, slope %.3f", e[0], e[4], slope);
  cr_expect(slope > 6.5 && slope < 7.5, "estimate ~ h^%.3f, want 7 (6th-order local error)",
            slope);
  for (int i = 0; i < 10; ++i)
    nde_array_destroy(&k[i]);
  nde_array_destroy(&scratch[0]);
  nde_array_destroy(&scratch[1]);
  nde_array_destroy(&a0);
  nde_array_destroy(&u1);
  nde_array_destroy(&err);
  nde_ode_problem_destroy(&p);
  nde_ode_solver_destroy(&v);
}

/* Adaptive on the Arenstorf orbit at tol 1e-10: reaches the tolerance's accuracy with fewer
   evaluations than tsit5 (what a high-order pair is for). */
Test(vern7, tight_tolerance_needs_fewer_evaluations_than_tsit5) {
  double T;
  nde_ode_problem *p = arenstorf(&T);
  const char *opts = "{\"abstol\": 1e-10, \"reltol\": 1e-10, \"save_everystep\": false}";
  nde_ode_solution sv, st;
  double ev, et;
  cr_assert_eq(test_solve("vern7", opts, p, 0, T, NDE_FLOAT64, NULL, 0, &sv, &ev), NDE_OK, "%s",
               nde_last_error());
  cr_assert_eq(test_solve("tsit5", opts, p, 0, T, NDE_FLOAT64, NULL, 0, &st, &et), NDE_OK, "%s",
               nde_last_error());
  cr_log_info("tol 1e-10: vern7 %ld NFE, error %.3g; tsit5 %ld NFE, error %.3g",
              sv.stats.nfe, ev, st.stats.nfe, et);
  cr_expect_lt(ev, 1e-6);
  cr_expect_lt(sv.stats.nfe, st.stats.nfe);
  nde_ode_solution_clear(&sv);
  nde_ode_solution_clear(&st);
  nde_ode_problem_destroy(&p);
}
