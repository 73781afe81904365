/* The SDE integrator: adaptive steps along one path (RSwM), weak means, noise types, saveat,
   statistics, and every error path. */
#include "sde_test_util.h"

/* Adaptive SOSRI/SOSRI2/SRIW1 on GBM: the path-wise error falls as the tolerance shrinks. */
static void adaptive_converges(const char *name, int stored) {
  double tols[3] = {1e-1, 1e-2, 1e-3}, err[3];
  long prev_steps = 0;
  for (int i = 0; i < 3; ++i) {
    char json[128];
    snprintf(json, sizeof json, "{\"adaptive\": true, \"abstol\": %g, \"reltol\": %g}", tols[i],
             tols[i]);
    nde_sde_stats st;
    nde_status s = sde_gbm_solve(name, json, 1.01, 0.87, 20, 0.5, 1.0, 5, stored, &err[i], NULL, &st);
    cr_assert_eq(s, NDE_OK, "%s tol %g: %s", name, tols[i], nde_last_error());
    cr_log_info("%s tol %g: error %.3e, %ld accepted, %ld rejected, nf %ld ng %ld", name,
                tols[i], err[i], st.accepted, st.rejected, st.nf, st.ng);
    cr_expect(st.accepted > prev_steps, "%s: more steps at a tighter tolerance", name);
    prev_steps = st.accepted;
    if (i > 0)
      cr_expect(err[i] < err[i - 1], "%s: error %g at tol %g not below %g at tol %g", name,
                err[i], tols[i], err[i - 1], tols[i - 1]);
  }
  cr_expect(err[2] < 0.05 * err[0], "%s: error fell only from %g to %g", name, err[0], err[2]);
}

Test(sde_integrator, adaptive_sosri_converges_on_one_path) { adaptive_converges("sosri", 0); }
Test(sde_integrator, adaptive_sosri2_converges_on_one_path) { adaptive_converges("sosri2", 0); }
Test(sde_integrator, adaptive_sri_w1_converges_on_one_path) { adaptive_converges("sri_w1", 0); }
Test(sde_integrator, adaptive_sosri_converges_on_stored_path) { adaptive_converges("sosri", 1); }

/* No increment is lost: the accepted steps' ΔW sum to W(T), rejections included. */
typedef struct sum_ctx {
  double *sum;
  size_t n;
  double t_end;
  long steps;
} sum_ctx;

static nde_status add_increment(void *user, const nde_sde_step *step, double eest) {
  (void)eest;
  sum_ctx *c = user;
  double *dw = malloc(c->n * sizeof *dw);
  nde_array_to_doubles(step->dW, dw, c->n);
  for (size_t i = 0; i < c->n; ++i)
    c->sum[i] += dw[i];
  free(dw);
  c->t_end = step->t + step->dt;
  c->steps++;
  return NDE_OK;
}

static void rswm_bookkeeping(int stored) {
  size_t K = 8;
  nde_sde_problem *p = sde_problem("gbm", "{\"a\": 1.5, \"b\": 1.2}");
  nde_sde_solver *s = sde_solver("sosri", "{\"abstol\": 1e-3, \"reltol\": 1e-3, \"dt\": 0.5}");
  nde_array u = sde_state(1, K, 1.0);
  nde_brownian_config bc = {.seed = 3, .t0 = 0, .t1 = 2, .dim = K, .levy_area = 1,
                            .stored = stored};
  nde_brownian *path = NULL;
  cr_assert_eq(nde_brownian_create(&bc, &path), NDE_OK);
  double sum[8] = {0}, w[8];
  sum_ctx ctx = {sum, K, 0, 0};
  nde_sde_options o = s->solve;
  o.on_step = add_increment;
  o.user = &ctx;
  nde_sde_rhs rhs = nde_sde_problem_rhs(p);
  nde_sde_solution sol;
  cr_assert_eq(nde_sde_solve(s, &rhs, &o, 0, 2, &u, path, NULL, 0, &sol), NDE_OK, "%s",
               nde_last_error());
  cr_expect(sol.stats.rejected > 0, "the test needs rejected steps (dt = 0.5 is too large)");
  cr_expect_eq(ctx.steps, sol.stats.accepted);
  cr_expect_eq(ctx.t_end, 2.0);
  cr_assert_eq(nde_brownian_query(path, 2.0, w, NULL), NDE_OK);
  for (size_t i = 0; i < K; ++i)
    cr_expect(fabs(sum[i] - w[i]) < 1e-12, "sum of increments %g, W(T) = %g", sum[i], w[i]);
  /* per-step statistics: contiguous time points from t0 to t1, EEst ≤ 1 */
  cr_assert_eq(sol.stats.nsteps, (size_t)sol.stats.accepted);
  double t = 0;
  for (size_t i = 0; i < sol.stats.nsteps; ++i) {
    cr_expect(fabs(sol.stats.steps[i].t - t) < 1e-14);
    cr_expect(sol.stats.steps[i].eest <= 1.0);
    cr_expect(isnan(sol.stats.steps[i].eigen_est), "SOSRI has no stiffness estimate");
    t += sol.stats.steps[i].dt;
  }
  cr_expect(fabs(t - 2.0) < 1e-12);
  /* the records are the solver-neutral ones regularizers read, without a copy */
  nde_solve_stats view = {.nfe = sol.stats.nf, .accepted = sol.stats.accepted,
                          .rejected = sol.stats.rejected, .nsteps = sol.stats.nsteps,
                          .steps = sol.stats.steps};
  double r = -1, expect = 0;
  for (size_t i = 0; i < sol.stats.nsteps; ++i)
    expect += sol.stats.steps[i].eest * fabs(sol.stats.steps[i].dt);
  cr_assert_eq(nde_reg_step_sum(&view, NDE_REG_STEP_EEST, 0, &r, NULL), NDE_OK);
  cr_expect(expect > 0 && fabs(r - expect) <= 1e-15 * expect, "R = %.17g, expected %.17g", r,
            expect);
  cr_expect_eq(nde_reg_step_sum(&view, NDE_REG_STEP_EIGEN, 0, &r, NULL), NDE_EINVAL,
               "SOSRI records no stiffness estimate: the stiffness sum is refused");
  cr_expect(!strcmp(nde_sde_noise_name(NDE_NOISE_SCALAR), "scalar"));
  cr_expect(!strcmp(nde_sde_noise_name(NDE_NOISE_GENERAL), "general"));
  cr_expect_null(nde_sde_noise_name((nde_sde_noise)7));
  cr_expect_eq(sol.stats.nf, 4 * (sol.stats.accepted + sol.stats.rejected));
  cr_expect_eq(sol.stats.ng, 4 * (sol.stats.accepted + sol.stats.rejected));
  nde_sde_solution_clear(&sol);
  nde_brownian_destroy(&path);
  nde_array_destroy(&u);
  nde_sde_solver_destroy(&s);
  nde_sde_problem_destroy(&p);
}

Test(sde_integrator, rswm_accepted_increments_sum_to_w_of_t) { rswm_bookkeeping(0); }
Test(sde_integrator, rswm_stored_path_increments_sum_to_w_of_t) { rswm_bookkeeping(1); }

/* Weak means: E u(T) = u0·exp(aT) for GBM, K = 4000 trajectories in one system. */
Test(sde_integrator, weak_mean_of_gbm) {
  const char *names[] = {"euler_maruyama", "sri_w1", "sosri", "sosri2"};
  double a = 0.5, b = 0.5, T = 1, u0 = 1;
  size_t K = 4000;
  double exact = u0 * exp(a * T);
  double sd = u0 * exp(a * T) * sqrt(exp(b * b * T) - 1) / sqrt((double)K);
  for (int i = 0; i < 4; ++i) {
    double m;
    nde_status st = sde_gbm_solve(names[i], "{\"adaptive\": false, \"dt\": 0.03125}", a, b, K, u0,
                                  T, 17, i % 2, NULL, &m, NULL);
    cr_assert_eq(st, NDE_OK, "%s: %s", names[i], nde_last_error());
    cr_expect(fabs(m - exact) < 4 * sd + (i == 0 ? 0.03 : 0.002), "%s: mean %g, exact %g (sd %g)",
              names[i], m, exact, sd);
  }
}

/* Scalar noise: one W per column drives all of its rows. */
static nde_status col_drift(void *ctx, double t, const nde_array *u, nde_array *out) {
  (void)ctx, (void)t;
  u->backend->ops->axpby(u->backend->ctx, u->dtype, u->size, 0.3, u->data, 0.0, out->data);
  return NDE_OK;
}
static nde_status col_diffusion(void *ctx, double t, const nde_array *u, nde_array *out) {
  (void)ctx, (void)t;
  u->backend->ops->axpby(u->backend->ctx, u->dtype, u->size, 0.6, u->data, 0.0, out->data);
  return NDE_OK;
}

Test(sde_integrator, scalar_noise_per_column) {
  size_t rows = 3, K = 20;
  nde_sde_solver *s = sde_solver("sosri2", "{\"adaptive\": false, \"dt\": 0.001953125}");
  nde_array u = sde_state(rows, K, 1.0);
  nde_sde_rhs rhs = {.drift = col_drift, .diffusion = col_diffusion,
                     .noise = NDE_NOISE_SCALAR};
  cr_expect_eq(nde_sde_noise_dim(NDE_NOISE_SCALAR, &u), K);
  nde_brownian_config bc = {.seed = 1, .t0 = 0, .t1 = 1, .dim = K, .levy_area = 1};
  nde_brownian *path = NULL;
  cr_assert_eq(nde_brownian_create(&bc, &path), NDE_OK);
  nde_sde_solution sol;
  cr_assert_eq(nde_sde_solve(s, &rhs, NULL, 0, 1, &u, path, NULL, 0, &sol), NDE_OK, "%s",
               nde_last_error());
  double w[20], out[60];
  cr_assert_eq(nde_brownian_query(path, 1.0, w, NULL), NDE_OK);
  cr_assert_eq(nde_array_to_doubles(&sol.u_final, out, 60), NDE_OK);
  for (size_t c = 0; c < K; ++c)
    for (size_t r = 0; r < rows; ++r) {
      double ex = exp((0.3 - 0.18) + 0.6 * w[c]);
      cr_expect(fabs(out[c * rows + r] - ex) < 1e-4 * ex, "column %zu row %zu: %g vs %g", c, r,
                out[c * rows + r], ex);
    }
  nde_sde_solution_clear(&sol);
  nde_brownian_destroy(&path);
  nde_array_destroy(&u);
  nde_sde_solver_destroy(&s);
}

/* saveat on the spiral SDE: 30 points, the first is u0; stiffness estimates from SOSRI2. */
Test(sde_integrator, spiral_saveat_and_stiffness_estimates) {
  size_t K = 100;
  nde_sde_problem *p = sde_problem("spiral_sde", NULL);
  nde_sde_solver *s = sde_solver("sosri2", "{\"abstol\": 0.3, \"reltol\": 0.3}");
  s->solve.stiffness_estimate = 1;
  nde_array u = sde_state(2, K, 0.0);
  double *u0 = calloc(2 * K, sizeof *u0);
  for (size_t i = 0; i < K; ++i)
    u0[2 * i] = 2.0;
  cr_assert_eq(nde_array_from_doubles(&u, u0, 2 * K), NDE_OK);
  double ts[30];
  for (int i = 0; i < 30; ++i)
    ts[i] = i / 29.0;
  nde_brownian_config bc = {.seed = 5, .t0 = 0, .t1 = 1, .dim = 2 * K, .levy_area = 1};
  nde_brownian *path = NULL;
  cr_assert_eq(nde_brownian_create(&bc, &path), NDE_OK);
  nde_sde_rhs rhs = nde_sde_problem_rhs(p);
  nde_sde_solution sol;
  cr_assert_eq(nde_sde_solve(s, &rhs, NULL, 0, 1, &u, path, ts, 30, &sol), NDE_OK, "%s",
               nde_last_error());
  cr_assert_eq(sol.nsave, 30);
  cr_expect_eq(sol.u.shape[0], 2 * K);
  cr_expect_eq(sol.u.shape[1], 30);
  double *all = malloc(2 * K * 30 * sizeof *all);
  cr_assert_eq(nde_array_to_doubles(&sol.u, all, 2 * K * 30), NDE_OK);
  for (size_t i = 0; i < 2 * K; ++i)
    cr_expect_eq(all[i], u0[i], "saved t0 column differs from u0");
  double fin[200];
  cr_assert_eq(nde_array_to_doubles(&sol.u_final, fin, 2 * K), NDE_OK);
  for (size_t i = 0; i < 2 * K; ++i)
    cr_expect_eq(all[29 * 2 * K + i], fin[i], "saved t1 column differs from u_final");
  for (size_t i = 0; i < sol.stats.nsteps; ++i)
    cr_expect(isfinite(sol.stats.steps[i].eigen_est) && sol.stats.steps[i].eigen_est >= 0,
              "SOSRI2 gives a stiffness estimate every step");
  cr_log_info("spiral: %ld accepted, %ld rejected, nf %ld", sol.stats.accepted,
              sol.stats.rejected, sol.stats.nf);
  /* not asked for: no estimate, and the same steps to the same end state */
  nde_sde_solution plain;
  s->solve.stiffness_estimate = 0;
  cr_assert_eq(nde_array_from_doubles(&u, u0, 2 * K), NDE_OK);
  cr_assert_eq(nde_sde_solve(s, &rhs, NULL, 0, 1, &u, path, ts, 30, &plain), NDE_OK, "%s",
               nde_last_error());
  cr_expect(plain.stats.accepted == sol.stats.accepted &&
                plain.stats.rejected == sol.stats.rejected && plain.stats.nf == sol.stats.nf,
            "the stiffness estimate changed the steps");
  cr_expect(memcmp(plain.u_final.data, sol.u_final.data, nde_array_bytes(&sol.u_final)) == 0,
            "the stiffness estimate changed the solution");
  for (size_t i = 0; i < plain.stats.nsteps; ++i)
    cr_expect(isnan(plain.stats.steps[i].eigen_est), "step %zu: an estimate not asked for", i);
  nde_sde_solution_clear(&plain);
  free(all);
  free(u0);
  nde_sde_solution_clear(&sol);
  nde_brownian_destroy(&path);
  nde_array_destroy(&u);
  nde_sde_solver_destroy(&s);
  nde_sde_problem_destroy(&p);
}

/* --- error paths ------------------------------------------------------------------------ */

static nde_status nan_drift(void *ctx, double t, const nde_array *u, nde_array *out) {
  (void)ctx;
  u->backend->ops->fill(u->backend->ctx, u->dtype, u->size, t > 0.3 ? NAN : 1.0, out->data);
  return NDE_OK;
}
static nde_status failing_diffusion(void *ctx, double t, const nde_array *u, nde_array *out) {
  (void)ctx, (void)u, (void)out;
  if (t > 0.5)
    return nde_error(NDE_EIO, "diffusion failed on purpose");
  return NDE_OK;
}

typedef struct err_case {
  nde_sde_solver *s;
  nde_sde_problem *p;
  nde_array u;
  nde_brownian *path;
} err_case;

static err_case setup(const char *solver, const char *json, int levy) {
  err_case c;
  c.s = sde_solver(solver, json);
  c.p = sde_problem("gbm", NULL);
  c.u = sde_state(1, 4, 1.0);
  nde_brownian_config bc = {.seed = 1, .t0 = 0, .t1 = 1, .dim = 4, .levy_area = levy};
  c.path = NULL;
  cr_assert_eq(nde_brownian_create(&bc, &c.path), NDE_OK);
  return c;
}

static void teardown(err_case *c) {
  nde_brownian_destroy(&c->path);
  nde_array_destroy(&c->u);
  nde_sde_solver_destroy(&c->s);
  nde_sde_problem_destroy(&c->p);
}

static nde_status run(err_case *c, nde_sde_rhs *rhs, const nde_sde_options *o, double t1) {
  nde_sde_solution sol;
  nde_status st = nde_sde_solve(c->s, rhs, o, 0, t1, &c->u, c->path, NULL, 0, &sol);
  nde_sde_solution_clear(&sol);
  return st;
}

Test(sde_integrator, error_non_finite_state) {
  err_case c = setup("sosri", "{\"adaptive\": false, \"dt\": 0.125}", 1);
  nde_sde_rhs rhs = nde_sde_problem_rhs(c.p);
  rhs.drift = nan_drift;
  cr_expect_eq(run(&c, &rhs, NULL, 1), NDE_ENONFINITE);
  cr_expect(strstr(nde_last_error(), "non-finite") != NULL, "%s", nde_last_error());
  teardown(&c);
}

Test(sde_integrator, error_non_finite_adaptive_hits_dtmin) {
  err_case c = setup("sosri", "{\"dt\": 0.125, \"dtmin\": 1e-3}", 1);
  nde_sde_rhs rhs = nde_sde_problem_rhs(c.p);
  rhs.drift = nan_drift;
  nde_status st = run(&c, &rhs, NULL, 1);
  cr_expect(st == NDE_EDTMIN || st == NDE_ENONFINITE, "got %s", nde_status_name(st));
  teardown(&c);
}

Test(sde_integrator, error_dtmin) {
  err_case c = setup("sosri", "{\"abstol\": 1e-12, \"reltol\": 1e-12, \"dtmin\": 0.01}", 1);
  nde_sde_rhs rhs = nde_sde_problem_rhs(c.p);
  cr_expect_eq(run(&c, &rhs, NULL, 1), NDE_EDTMIN);
  cr_expect(strstr(nde_last_error(), "dtmin") != NULL, "%s", nde_last_error());
  teardown(&c);
}

Test(sde_integrator, error_maxiters) {
  err_case c = setup("euler_maruyama", "{\"dt\": 0.001, \"maxiters\": 10}", 0);
  nde_sde_rhs rhs = nde_sde_problem_rhs(c.p);
  cr_expect_eq(run(&c, &rhs, NULL, 1), NDE_EMAXITERS);
  cr_expect(strstr(nde_last_error(), "maxiters") != NULL, "%s", nde_last_error());
  teardown(&c);
}

Test(sde_integrator, error_callback_status_propagates) {
  err_case c = setup("sri_w1", "{\"adaptive\": false, \"dt\": 0.125}", 1);
  nde_sde_rhs rhs = nde_sde_problem_rhs(c.p);
  rhs.diffusion = failing_diffusion;
  cr_expect_eq(run(&c, &rhs, NULL, 1), NDE_EIO);
  teardown(&c);
}

Test(sde_integrator, error_bad_configuration) {
  err_case c = setup("sosri", "{}", 0);
  nde_sde_rhs rhs = nde_sde_problem_rhs(c.p);
  cr_expect_eq(run(&c, &rhs, NULL, 1), NDE_EINVAL); /* path without Lévy area */
  cr_expect(strstr(nde_last_error(), "Levy") != NULL, "%s", nde_last_error());
  rhs.noise = NDE_NOISE_GENERAL; /* without brownian_dim, then with a solver without it */
  cr_expect_eq(run(&c, &rhs, NULL, 1), NDE_EINVAL);
  cr_expect(strstr(nde_last_error(), "brownian_dim") != NULL, "%s", nde_last_error());
  rhs.brownian_dim = 1;
  cr_expect_eq(run(&c, &rhs, NULL, 1), NDE_EUNSUPPORTED);
  cr_expect(strstr(nde_last_error(), "general") != NULL, "%s", nde_last_error());
  rhs.noise = NDE_NOISE_SCALAR; /* (1, 4) state: 4 columns, path dim 4: fine dimension-wise */
  nde_sde_solver_destroy(&c.s);
  c.s = sde_solver("euler_maruyama", "{}");
  cr_expect_eq(run(&c, &rhs, NULL, 1), NDE_EINVAL); /* fixed step without dt */
  cr_expect(strstr(nde_last_error(), "dt > 0") != NULL, "%s", nde_last_error());
  nde_sde_options o = c.s->solve;
  o.adaptive = 1;
  o.dt = 0.1;
  cr_expect_eq(run(&c, &rhs, &o, 1), NDE_EINVAL); /* no error estimate */
  o.adaptive = 0;
  cr_expect_eq(run(&c, &rhs, &o, 2), NDE_EINVAL); /* beyond the path */
  cr_expect_eq(run(&c, &rhs, &o, 0), NDE_EINVAL); /* empty span */
  rhs.noise = NDE_NOISE_DIAGONAL;
  nde_array_destroy(&c.u);
  c.u = sde_state(2, 4, 1.0); /* 8 components, path of 4 */
  cr_expect_eq(run(&c, &rhs, &o, 1), NDE_EINVAL);
  cr_expect(strstr(nde_last_error(), "dimension") != NULL, "%s", nde_last_error());
  teardown(&c);
  nde_sde_solver *s = NULL;
  cr_expect_eq(nde_sde_solver_open(NULL, "sossri", NULL, "solver", &s), NDE_ENOTFOUND);
  cr_expect(strstr(nde_last_error(), "sosri") != NULL, "%s", nde_last_error());
  nde_options *bad = NULL;
  cr_assert_eq(nde_options_parse("{\"qmax\": 0.5}", &bad), NDE_OK);
  cr_expect_neq(nde_sde_solver_open(NULL, "sosri", bad, "solver", &s), NDE_OK);
  nde_options_destroy(&bad);
}

Test(sde_integrator, sde_controller_defaults) {
  nde_sde_solver *s = sde_solver("sosri", "{}");
  cr_expect(fabs(s->solve.controller.beta1 - 7.0 / 15) < 1e-15);
  cr_expect(fabs(s->solve.controller.beta2 - 4.0 / 15) < 1e-15);
  cr_expect(fabs(s->solve.controller.qmax - 9.0 / 8) < 1e-15);
  cr_expect(fabs(s->solve.controller.qmin - 0.2) < 1e-15);
  cr_expect(fabs(s->solve.controller.gamma - 0.9) < 1e-15);
  cr_expect(s->solve.adaptive);
  nde_sde_solver_destroy(&s);
  s = sde_solver("sri_w1", "{}");
  cr_expect(s->solve.delta < 0 && fabs(s->ops->delta - 1.0 / 6) < 1e-15, "SRIW1 delta 1/6");
  nde_sde_solver_destroy(&s);
  s = sde_solver("euler_maruyama", "{\"dt\": 0.1}");
  cr_expect(!s->solve.adaptive);
  nde_sde_solver_destroy(&s);
}

/* nde_sde_initial_dt against the formulas of StochasticDiffEq's sde_determine_initdt,
   evaluated here by hand for du = 0.3u dt + 0.6u dW (col_drift, col_diffusion). */
Test(sde_integrator, initial_dt_matches_the_stochasticdiffeq_heuristic) {
  double v[3] = {1.0, -2.0, 0.5}, atol = 0.1, rtol = 0.1, order = 1.5;
  nde_array u = sde_state(3, 1, 0.0);
  cr_assert_eq(nde_array_from_doubles(&u, v, 3), NDE_OK);
  nde_array work[NDE_SDE_INITIAL_DT_WORK];
  for (int i = 0; i < NDE_SDE_INITIAL_DT_WORK; ++i)
    work[i] = sde_state(3, 1, 0.0);
  nde_sde_rhs rhs = {.drift = col_drift, .diffusion = col_diffusion, .noise = NDE_NOISE_DIAGONAL};
  double dt = 0;
  long nf = 0, ng = 0;
  cr_assert_eq(nde_sde_initial_dt(&rhs, 0.0, &u, order, atol, rtol, 1.0, work, &dt, &nf, &ng),
               NDE_OK, "%s", nde_last_error());
  /* by hand */
  double s0 = 0, s1 = 0, s2 = 0, sk[3];
  for (int i = 0; i < 3; ++i) {
    sk[i] = atol + rtol * fabs(v[i]);
    s0 += pow(v[i] / sk[i], 2);
    s1 += pow((0.3 * fabs(v[i]) + 3 * 0.6 * fabs(v[i])) / sk[i], 2);
  }
  double d0 = sqrt(s0 / 3), d1 = sqrt(s1 / 3), h0 = 0.01 * d0 / d1;
  for (int i = 0; i < 3; ++i) {
    double u1 = v[i] + h0 * 0.3 * v[i];
    s2 += pow((fabs(0.3 * u1 - 0.3 * v[i]) + 3 * (0.6 * fabs(v[i]) + 0.6 * fabs(u1))) / sk[i], 2);
  }
  double d2 = sqrt(s2 / 3) / h0;
  double want = fmin(100 * h0, pow(10.0, -(2 + log10(fmax(d1, d2))) / (order + 0.5)));
  cr_expect(fabs(dt - want) < 1e-12 * want, "dt %.17g, by hand %.17g", dt, want);
  cr_expect(nf == 2 && ng == 2, "nf %ld ng %ld", nf, ng);
  /* much shorter than the drift alone suggests: d2 ~ 6|g|/h0 */
  cr_expect(dt < 0.05, "dt %g", dt);
  for (int i = 0; i < NDE_SDE_INITIAL_DT_WORK; ++i)
    nde_array_destroy(&work[i]);
  nde_array_destroy(&u);
}

/* first_step = stochasticdiffeq: the first accepted (or tried) step is nde_sde_initial_dt's. */
Test(sde_integrator, first_step_option_uses_the_stochasticdiffeq_heuristic) {
  double v[3] = {1.0, -2.0, 0.5};
  nde_array u = sde_state(3, 1, 0.0);
  cr_assert_eq(nde_array_from_doubles(&u, v, 3), NDE_OK);
  nde_sde_rhs rhs = {.drift = col_drift, .diffusion = col_diffusion, .noise = NDE_NOISE_DIAGONAL};
  nde_array work[NDE_SDE_INITIAL_DT_WORK];
  for (int i = 0; i < NDE_SDE_INITIAL_DT_WORK; ++i)
    work[i] = sde_state(3, 1, 0.0);
  double want = 0;
  long nf = 0, ng = 0;
  cr_assert_eq(nde_sde_initial_dt(&rhs, 0.0, &u, 1.5, 0.1, 0.1, 1.0, work, &want, &nf, &ng),
               NDE_OK);
  nde_sde_solver *drift_first = sde_solver("sosri", "{\"abstol\": 0.1, \"reltol\": 0.1}");
  nde_sde_solver *sde_first = sde_solver("sosri", "{\"abstol\": 0.1, \"reltol\": 0.1, "
                                                  "\"first_step\": \"stochasticdiffeq\"}");
  nde_brownian_config pc = {.seed = 3, .stream = 1, .t0 = 0, .t1 = 1, .dim = 3, .levy_area = 1,
                            .stored = 1};
  nde_brownian *path = NULL;
  cr_assert_eq(nde_brownian_create(&pc, &path), NDE_OK);
  nde_sde_solution a = {0}, b = {0};
  cr_assert_eq(nde_sde_solve(sde_first, &rhs, NULL, 0, 1, &u, path, NULL, 0, &a), NDE_OK, "%s",
               nde_last_error());
  cr_assert_eq(nde_sde_solve(drift_first, &rhs, NULL, 0, 1, &u, path, NULL, 0, &b), NDE_OK, "%s",
               nde_last_error());
  cr_expect(a.stats.rejected > 0 || fabs(a.stats.steps[0].dt - want) < 1e-12,
            "first step %g, heuristic %g", a.stats.steps[0].dt, want);
  cr_expect(a.stats.steps[0].dt < b.stats.steps[0].dt, "stochasticdiffeq %g vs drift %g",
            a.stats.steps[0].dt, b.stats.steps[0].dt);
  cr_expect(a.stats.accepted > b.stats.accepted, "%ld vs %ld steps", a.stats.accepted,
            b.stats.accepted);
  nde_sde_solution_clear(&a);
  nde_sde_solution_clear(&b);
  nde_brownian_destroy(&path);
  nde_sde_solver_destroy(&drift_first);
  nde_sde_solver_destroy(&sde_first);
  for (int i = 0; i < NDE_SDE_INITIAL_DT_WORK; ++i)
    nde_array_destroy(&work[i]);
  nde_array_destroy(&u);
}

/*
 * General noise: gbm_general (u0 = (0.5, 0.8), two Wiener processes per
 * column) solved by Euler–Maruyama with fixed steps dt for K trajectories
 * along one tree path. *strong = mean over trajectories of the max-norm error
 * at t = 1 against the exact solution on the same path; weak[i] = the mean of
 * u_i(1) − exact_i(1), an estimate of E[u_h(1)] − E[u(1)] whose Monte Carlo
 * noise is that of the (small) strong error, not of u(1) itself.
 */
static void general_solve(const char *solver, const char *json, size_t K, double *strong,
                          double weak[2], long *steps, long *ng, double *first) {
  nde_sde_problem *p = sde_problem("gbm_general", "{}");
  nde_sde_solver *s = sde_solver(solver, json);
  nde_array u = sde_state(2, K, 0.5);
  double *x = u.data;
  for (size_t c = 0; c < K; ++c)
    x[2 * c + 1] = 0.8;
  nde_sde_rhs rhs = nde_sde_problem_rhs(p);
  cr_assert_eq(rhs.noise, NDE_NOISE_GENERAL);
  cr_assert_eq(nde_sde_rhs_noise_dim(&rhs, &u), 2 * K);
  nde_brownian_config bc = {.seed = 11, .stream = 0, .t0 = 0, .t1 = 1, .dim = 2 * K};
  nde_brownian *path = NULL;
  cr_assert_eq(nde_brownian_create(&bc, &path), NDE_OK, "%s", nde_last_error());
  nde_sde_solution sol;
  cr_assert_eq(nde_sde_solve(s, &rhs, NULL, 0, 1, &u, path, NULL, 0, &sol), NDE_OK, "%s",
               nde_last_error());
  if (!s->solve.adaptive) {
    cr_expect_eq(sol.stats.nf, sol.stats.accepted);
    cr_expect_eq(sol.stats.ng, sol.stats.accepted);
  }
  if (steps)
    *steps = sol.stats.accepted + sol.stats.rejected;
  if (ng)
    *ng = sol.stats.ng;
  double *w = malloc(2 * K * sizeof *w), u0[2] = {0.5, 0.8}, ex[2];
  cr_assert_eq(nde_brownian_query(path, 1, w, NULL), NDE_OK);
  const double *uf = sol.u_final.data;
  if (first)
    *first = uf[0];
  *strong = weak[0] = weak[1] = 0;
  for (size_t c = 0; c < K; ++c) {
    cr_assert_eq(nde_sde_problem_exact(p, 0, u0, 1, w + 2 * c, 2, ex), NDE_OK);
    *strong += fmax(fabs(uf[2 * c] - ex[0]), fabs(uf[2 * c + 1] - ex[1])) / (double)K;
    for (int i = 0; i < 2; ++i)
      weak[i] += (uf[2 * c + i] - ex[i]) / (double)K;
  }
  free(w);
  nde_sde_solution_clear(&sol);
  nde_brownian_destroy(&path);
  nde_array_destroy(&u);
  nde_sde_solver_destroy(&s);
  nde_sde_problem_destroy(&p);
}

static void general_em(double dt, size_t K, double *strong, double weak[2]) {
  char json[96];
  snprintf(json, sizeof json, "{\"adaptive\": false, \"dt\": %.17g}", dt);
  general_solve("euler_maruyama", json, K, strong, weak, NULL, NULL, NULL);
}

/* Least-squares slope of log(err) against log(dt) for dt = dt0·2^−i. */
static double fitted_order(const double *err, int n) {
  double sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (int i = 0; i < n; ++i) {
    double x = -log(2.0) * i, y = log(fabs(err[i]));
    sx += x, sy += y, sxx += x * x, sxy += x * y;
  }
  return (n * sxy - sx * sy) / (n * sxx - sx * sx);
}

Test(sde_integrator, general_noise_euler_maruyama_strong_order_half) {
  double err[5], weak[2];
  for (int i = 0; i < 5; ++i)
    general_em(0.125 / (1 << i), 400, &err[i], weak);
  double order = fitted_order(err, 5);
  fprintf(stderr, "EM general noise strong errors %.4g %.4g %.4g %.4g %.4g: order %.3f\n", err[0],
          err[1], err[2], err[3], err[4], order);
  cr_expect(order > 0.35 && order < 0.7, "strong order %g", order);
  cr_expect(err[4] < 0.15, "error %g at dt = 1/128", err[4]);
}

Test(sde_integrator, general_noise_euler_maruyama_weak_order_one) {
  /* E[u_h(1)] = u0·(1 + a·h)^(1/h) for EM on this linear SDE, E[u(1)] = u0·e^a */
  double err[2][3], a = 1.01, u0[2] = {0.5, 0.8};
  for (int i = 0; i < 3; ++i) {
    double h = 0.25 / (1 << i), strong, weak[2];
    general_em(h, 20000, &strong, weak);
    for (int c = 0; c < 2; ++c) {
      err[c][i] = weak[c];
      double expect = u0[c] * (pow(1 + a * h, 1 / h) - exp(a));
      cr_expect(fabs(weak[c] - expect) < 0.1 * fabs(expect) + 2e-3,
                "component %d, h = %g: weak error %g, EM's expectation says %g", c, h, weak[c],
                expect);
    }
  }
  for (int c = 0; c < 2; ++c) {
    double order = fitted_order(err[c], 3);
    fprintf(stderr, "EM general noise weak errors (component %d) %.4g %.4g %.4g: order %.3f\n",
            c, err[c][0], err[c][1], err[c][2], order);
    cr_expect(order > 0.8 && order < 1.2, "weak order %g", order);
  }
}

/* lamba_em: fixed steps are Euler-Maruyama's to the bit; adaptive steps converge with the tolerance. */
Test(sde_integrator, general_noise_lamba_em_adaptive) {
  double e_em, e_l, w[2], u_em, u_l;
  general_solve("euler_maruyama", "{\"adaptive\": false, \"dt\": 0.01}", 50, &e_em, w, NULL,
                NULL, &u_em);
  general_solve("lamba_em", "{\"adaptive\": false, \"dt\": 0.01}", 50, &e_l, w, NULL, NULL,
                &u_l);
  cr_expect_eq(u_em, u_l, "fixed-step lamba_em %.17g, euler_maruyama %.17g", u_l, u_em);
  double prev = INFINITY;
  long prev_steps = 0;
  for (int i = 0; i < 3; ++i) {
    double tol = 0.1 * pow(0.1, i), err;
    long steps, ng;
    char json[96];
    snprintf(json, sizeof json, "{\"abstol\": %g, \"reltol\": %g}", tol, tol);
    general_solve("lamba_em", json, 50, &err, w, &steps, &ng, NULL);
    fprintf(stderr, "lamba_em general noise tol %g: error %.4g, %ld steps\n", tol, err, steps);
    cr_expect_eq(ng, 2 * steps, "2 diffusion evaluations per attempted step");
    cr_expect(err < prev, "error %g at tol %g not below %g", err, tol, prev);
    cr_expect(steps > prev_steps);
    prev = err;
    prev_steps = steps;
  }
  cr_expect(prev < 0.1, "error %g at tol 1e-3", prev);
}

/* lamba_em on diagonal noise (gbm): adaptive solves converge with the tolerance too. */
Test(sde_integrator, lamba_em_diagonal_adaptive) {
  double prev = INFINITY;
  for (int i = 0; i < 3; ++i) {
    double tol = 0.1 * pow(0.1, i), err, mean;
    char json[96];
    snprintf(json, sizeof json, "{\"abstol\": %g, \"reltol\": %g}", tol, tol);
    cr_assert_eq(sde_gbm_solve("lamba_em", json, 1.01, 0.87, 50, 0.5, 1, 3, 0, &err, &mean, NULL),
                 NDE_OK, "%s", nde_last_error());
    cr_expect(err < prev, "error %g at tol %g not below %g", err, tol, prev);
    prev = err;
  }
}
