/*
 * The integrator's contract: failure modes end with a status and message,
 * steady-state termination, saveat validation, option validation, the
 * controller, the matrix exponential and the problem library.
 */
#include "ode_test_util.h"

/* du/dt = u² from u(0) = 1: blows up at t = 1 */
static nde_status blowup_eval(void *ctx, double t, const nde_array *u, nde_array *du) {
  (void)ctx;
  (void)t;
  double x[1];
  nde_array_to_doubles(u, x, 1);
  x[0] = x[0] * x[0];
  return nde_array_from_doubles(du, x, 1);
}

/* du/dt = -u, but NaN after t = 0.5 */
static nde_status nan_eval(void *ctx, double t, const nde_array *u, nde_array *du) {
  (void)ctx;
  double x[1];
  nde_array_to_doubles(u, x, 1);
  x[0] = t > 0.5 ? NAN : -x[0];
  return nde_array_from_doubles(du, x, 1);
}

/* fails with its own status at t > 0.3 */
static nde_status failing_eval(void *ctx, double t, const nde_array *u, nde_array *du) {
  (void)ctx;
  if (t > 0.3)
    return nde_error(NDE_EUNSUPPORTED, "rhs refused t = %g", t);
  double x[1];
  nde_array_to_doubles(u, x, 1);
  x[0] = -x[0];
  return nde_array_from_doubles(du, x, 1);
}

static nde_status solve_scalar(const char *name, const char *opts,
                               nde_status (*eval)(void *, double, const nde_array *, nde_array *),
                               double t1, nde_ode_solution *sol) {
  double one = 1.0;
  nde_array a = test_state(NDE_FLOAT64, 1, &one);
  nde_ode_solver *s = test_solver(name, opts);
  nde_ode_rhs f = {.eval = eval};
  nde_status st = nde_ode_solve(s, &f, NULL, 0, t1, &a, NULL, 0, sol);
  nde_array_destroy(&a);
  nde_ode_solver_destroy(&s);
  return st;
}

Test(ode_fail, dt_underflow_or_nonfinite_on_blowup) {
  nde_ode_solution sol;
  nde_status st = solve_scalar("tsit5", "{}", blowup_eval, 2.0, &sol);
  cr_expect(st == NDE_EDTMIN || st == NDE_ENONFINITE, "got %s: %s", nde_status_name(st),
            nde_last_error());
  cr_expect_lt(sol.t_final, 1.0 + 1e-6);
  cr_expect_gt(sol.t_final, 0.99);
  cr_expect_gt(sol.stats.accepted, 0, "statistics survive the failure");
  cr_log_info("blow-up: %s", nde_last_error());
  nde_ode_solution_clear(&sol);
}

Test(ode_fail, dtmin) {
  nde_ode_solution sol;
  nde_status st = solve_scalar("tsit5", "{\"dtmin\": 1e-3}", blowup_eval, 2.0, &sol);
  cr_expect_eq(st, NDE_EDTMIN, "%s", nde_last_error());
  cr_expect(strstr(nde_last_error(), "dtmin") != NULL, "%s", nde_last_error());
  cr_expect(strstr(nde_last_error(), "tsit5") != NULL, "%s", nde_last_error());
  nde_ode_solution_clear(&sol);
}

Test(ode_fail, maxiters) {
  nde_ode_solution sol;
  nde_status st = solve_scalar("bs3", "{\"maxiters\": 5, \"abstol\": 1e-12, \"reltol\": 1e-12}", failing_eval, 0.2, &sol);
  cr_expect_eq(st, NDE_EMAXITERS, "%s", nde_last_error());
  cr_expect_eq(sol.stats.accepted + sol.stats.rejected, 5);
  nde_ode_solution_clear(&sol);
}

Test(ode_fail, nonfinite_fixed_step) {
  nde_ode_solution sol;
  nde_status st = solve_scalar("heun", "{\"adaptive\": false, \"dt\": 0.1}", nan_eval, 1.0, &sol);
  cr_expect_eq(st, NDE_ENONFINITE, "%s", nde_last_error());
  cr_expect(strstr(nde_last_error(), "non-finite") != NULL);
  nde_ode_solution_clear(&sol);
}

Test(ode_fail, nonfinite_adaptive) {
  nde_ode_solution sol;
  nde_status st = solve_scalar("tsit5", "{}", nan_eval, 1.0, &sol);
  cr_expect(st == NDE_ENONFINITE || st == NDE_EDTMIN, "%s", nde_last_error());
  cr_expect_leq(sol.t_final, 0.5 + 1e-9);
  nde_ode_solution_clear(&sol);
}

Test(ode_fail, rhs_error_propagates) {
  nde_ode_solution sol;
  nde_status st = solve_scalar("dopri5", "{}", failing_eval, 1.0, &sol);
  cr_expect_eq(st, NDE_EUNSUPPORTED);
  cr_expect(strstr(nde_last_error(), "rhs refused") != NULL, "%s", nde_last_error());
  nde_ode_solution_clear(&sol);
}

Test(ode_fail, fixed_step_needs_dt) {
  nde_ode_solution sol;
  cr_expect_eq(solve_scalar("euler", "{}", failing_eval, 0.2, &sol), NDE_EINVAL);
  cr_expect(strstr(nde_last_error(), "dt") != NULL);
  nde_ode_solution_clear(&sol);
}

Test(ode_fail, saveat_outside_tspan) {
  double one = 1.0, saveat[2] = {0.5, 1.5};
  nde_array a = test_state(NDE_FLOAT64, 1, &one);
  nde_ode_solver *s = test_solver("tsit5", "{}");
  nde_ode_rhs f = {.eval = failing_eval};
  nde_ode_solution sol;
  cr_expect_eq(nde_ode_solve(s, &f, NULL, 0, 1, &a, saveat, 2, &sol), NDE_EINVAL);
  cr_expect(strstr(nde_last_error(), "saveat[1]") != NULL, "%s", nde_last_error());
  nde_ode_solution_clear(&sol);
  nde_array_destroy(&a);
  nde_ode_solver_destroy(&s);
}

Test(ode_fail, bad_options_and_names) {
  nde_options *o = NULL;
  nde_ode_solver *s = NULL;
  nde_options_parse("{\"abstol\": -1}", &o);
  cr_expect_eq(nde_ode_solver_open(NULL, "tsit5", o, "solver", &s), NDE_EINVAL);
  cr_expect(strstr(nde_last_error(), "abstol") != NULL, "%s", nde_last_error());
  nde_options_destroy(&o);
  nde_options_parse("{\"reltoll\": 1e-3}", &o);
  cr_expect_eq(nde_ode_solver_open(NULL, "tsit5", o, "solver", &s), NDE_EINVAL);
  cr_expect(strstr(nde_last_error(), "reltol") != NULL, "%s", nde_last_error());
  nde_options_destroy(&o);
  cr_expect_eq(nde_ode_solver_open(NULL, "tsit6", NULL, "solver", &s), NDE_ENOTFOUND);
  cr_expect(strstr(nde_last_error(), "tsit5") != NULL, "%s", nde_last_error());
  nde_options_parse("{\"adaptive\": true}", &o);
  cr_expect_eq(nde_ode_solver_open(NULL, "euler", o, "solver", &s), NDE_EINVAL);
  cr_expect(strstr(nde_last_error(), "error estimate") != NULL, "%s", nde_last_error());
  nde_options_destroy(&o);
  nde_options_parse("{\"qmin\": 2}", &o);
  cr_expect_eq(nde_ode_solver_open(NULL, "tsit5", o, "solver", &s), NDE_EINVAL);
  nde_options_destroy(&o);
  cr_expect_null(s);
}

/* A tableau whose rows do not sum to c is refused. */
Test(ode_fail, bad_tableau_refused) {
  static const double c[2] = {0, 0.5}, a[4] = {0, 0, 1, 0}, b[2] = {0.5, 0.5};
  static const nde_rk_tableau tb = {.stages = 2, .order = 2, .c = c, .a = a, .b = b};
  static const nde_ode_solver_ops ops = {
      .header = NDE_PLUGIN_HEADER(NDE_KIND_ODE_SOLVER, "broken", nde_ode_solver_ops),
      .tableau = &tb, .order = 2, .stages = 2};
  nde_ode_solver *s = NULL;
  cr_expect_eq(nde_ode_solver_open_ops(&ops, NULL, &s), NDE_EPLUGIN);
  cr_expect(strstr(nde_last_error(), "row 2") != NULL, "%s", nde_last_error());
}

Test(ode_steady, terminates_at_steady_state) {
  nde_ode_problem *p = test_problem("linear", "{\"A\": [[-1, 0.5], [0, -2]]}");
  nde_ode_solution sol;
  cr_assert_eq(test_solve("tsit5", "{\"steady_state\": true, \"abstol\": 1e-8, \"reltol\": 1e-6}",
                          p, 0, 1e4, NDE_FLOAT64, NULL, 0, &sol, NULL), NDE_OK,
               "%s", nde_last_error());
  cr_expect_eq(sol.stats.steady, 1);
  cr_expect_lt(sol.t_final, 100.0);
  double u[2];
  nde_array_to_doubles(&sol.u_final, u, 2);
  /* ||A u|| <= 1e-8 implies ||u|| is tiny */
  cr_expect_lt(fabs(u[0]) + fabs(u[1]), 1e-7);
  nde_ode_solution_clear(&sol);
  /* without the option it runs to t1 */
  cr_assert_eq(test_solve("tsit5", "{\"abstol\": 1e-8, \"reltol\": 1e-6}", p, 0, 1e3,
                          NDE_FLOAT64, NULL, 0, &sol, NULL), NDE_OK);
  cr_expect_eq(sol.stats.steady, 0);
  cr_expect_eq(sol.t_final, 1e3);
  nde_ode_solution_clear(&sol);
  nde_ode_problem_destroy(&p);
}

Test(ode_steady, fills_remaining_saveat) {
  nde_ode_problem *p = test_problem("linear", "{\"A\": [[-3, 0], [0, -2]]}");
  double saveat[3] = {0.5, 50, 900};
  nde_ode_solution sol;
  cr_assert_eq(test_solve("bs3", "{\"steady_state\": true, \"abstol\": 1e-9, \"reltol\": 1e-6}",
                          p, 0, 1e3, NDE_FLOAT64, saveat, 3, &sol, NULL), NDE_OK);
  cr_expect_eq(sol.nsave, 3);
  cr_expect_eq(sol.stats.steady, 1);
  nde_ode_solution_clear(&sol);
  nde_ode_problem_destroy(&p);
}

Test(ode_controller, pi_controller_rules) {
  nde_pi_controller c;
  nde_pi_controller_init(&c, 5);
  cr_expect_float_eq(c.beta1, 0.14, 1e-15);
  cr_expect_float_eq(c.beta2, 0.08, 1e-15);
  double dt;
  /* zero error: grow by qmax */
  cr_expect(nde_pi_controller_step(&c, 0.0, 0.1, &dt));
  cr_expect_float_eq(dt, 1.0, 1e-12);
  /* large error: reject, shrink at most by qmin */
  cr_expect(!nde_pi_controller_step(&c, 1e6, 0.1, &dt));
  cr_expect_float_eq(dt, 0.02, 1e-12);
  /* negative dt keeps its sign */
  cr_expect(!nde_pi_controller_step(&c, 2.0, -0.1, &dt));
  cr_expect_lt(dt, 0);
  cr_expect_gt(dt, -0.1);
  /* NaN error: rejected */
  cr_expect(!nde_pi_controller_step(&c, NAN, 0.1, &dt));
  cr_expect_float_eq(dt, 0.02, 1e-12);
  /* accepted step: q = EEst^β1 / qold^β2 / γ */
  nde_pi_controller_reset(&c);
  cr_expect(nde_pi_controller_step(&c, 0.5, 1.0, &dt));
  double q = pow(0.5, 0.14) / pow(1e-4, 0.08) / 0.9;
  cr_expect_float_eq(dt, 1.0 / q, 1e-12);
  cr_expect_float_eq(c.qold, 0.5, 0);
}

/* "controller": "i" is diffrax's PIDController default: dt_new = dt·γ·EEst^(-1/p), no
   proportional term, and an accepted step never shrinks the next one. */
Test(ode_controller, i_controller_rules) {
  nde_options *o = NULL;
  nde_pi_controller c;
  cr_assert_eq(nde_options_parse("{\"controller\": \"i\", \"beta1\": 0.17, \"beta2\": 0.04}", &o),
               NDE_OK);
  cr_assert_eq(nde_pi_controller_from_options(o, 5, &c), NDE_OK);
  nde_options_destroy(&o);
  cr_expect_float_eq(c.beta1, 0.2, 1e-15);
  cr_expect_eq(c.beta2, 0.0);
  double dt;
  /* the previous error plays no part: the same EEst gives the same factor every time */
  for (int i = 0; i < 2; ++i) {
    cr_expect(nde_pi_controller_step(&c, 0.01, 1.0, &dt));
    cr_expect_float_eq(dt, 0.9 * pow(0.01, -0.2), 1e-12, "%.17g", dt);
  }
  /* accepted with 0.9·EEst^(-1/5) < 1: dt stays (the PI default shrinks it) */
  cr_expect(nde_pi_controller_step(&c, 0.9, 1.0, &dt));
  cr_expect_float_eq(dt, 1.0, 0);
  nde_pi_controller pi;
  nde_pi_controller_init(&pi, 5);
  cr_expect(nde_pi_controller_step(&pi, 0.9, 1.0, &dt));
  cr_expect_lt(dt, 1.0);
  /* rejected: 0.9·EEst^(-1/5), at least qmin */
  cr_expect(!nde_pi_controller_step(&c, 2.0, 1.0, &dt));
  cr_expect_float_eq(dt, 0.9 * pow(2.0, -0.2), 1e-12);
  /* an unknown controller is refused with the key's name */
  cr_assert_eq(nde_options_parse("{\"controller\": \"pid\"}", &o), NDE_OK);
  cr_expect_eq(nde_pi_controller_from_options(o, 5, &c), NDE_EINVAL);
  cr_expect(strstr(nde_last_error(), "controller") != NULL, "%s", nde_last_error());
  nde_options_destroy(&o);
}

Test(ode_expm, rotation_and_scaling) {
  double w = 3.0, t = 2.5, a[4] = {0, w * t, -w * t, 0}, e[4];
  cr_assert_eq(nde_expm(2, a, e), NDE_OK);
  cr_expect_float_eq(e[0], cos(w * t), 1e-14);
  cr_expect_float_eq(e[1], sin(w * t), 1e-14);
  cr_expect_float_eq(e[2], -sin(w * t), 1e-14);
  double d[9] = {-50, 0, 0, 0, 3, 0, 0, 0, 0.1}, f[9];
  cr_assert_eq(nde_expm(3, d, f), NDE_OK);
  cr_expect(fabs(f[0] - exp(-50)) < 1e-30);
  cr_expect(fabs(f[4] / exp(3) - 1) < 1e-13, "%.17g", f[4]);
  cr_expect(fabs(f[8] / exp(0.1) - 1) < 1e-15);
  /* nilpotent: expm([[0,1],[0,0]]) = [[1,1],[0,1]] */
  double n[4] = {0, 1, 0, 0}, g[4];
  cr_assert_eq(nde_expm(2, n, g), NDE_OK);
  cr_expect_float_eq(g[1], 1.0, 1e-15);
  cr_expect_float_eq(g[0], 1.0, 1e-15);
}

Test(ode_problems, every_problem_solves) {
  for (size_t i = 0; i < nde_ode_problem_count(); ++i) {
    const char *name = nde_ode_problem_name_at(i);
    nde_ode_problem *p = test_problem(name, NULL);
    double tspan[2], e;
    nde_ode_problem_defaults(p, NULL, tspan);
    nde_status st = test_solve("tsit5", "{\"abstol\": 1e-9, \"reltol\": 1e-9}", p, tspan[0],
                               tspan[1], NDE_FLOAT64, NULL, 0, NULL, &e);
    cr_expect_eq(st, NDE_OK, "%s: %s", name, nde_last_error());
    if (nde_ode_problem_has_exact(p)) {
      cr_expect_lt(e, 1e-5, "%s: error %g", name, e);
      cr_log_info("%s: error %.3g at t1 = %g", name, e, tspan[1]);
    }
    nde_ode_problem_destroy(&p);
  }
}

Test(ode_problems, batch_of_systems) {
  /* a (3, 2) array is two Lorenz systems; they evolve independently */
  nde_ode_problem *p = test_problem("lorenz", NULL);
  double u0[6] = {1, 0, 0, 1, 0, 0}, u[6];
  nde_array a = {0};
  size_t shape[2] = {3, 2};
  cr_assert_eq(nde_array_create(test_backend(), NDE_FLOAT64, 2, shape, &a), NDE_OK);
  nde_array_from_doubles(&a, u0, 6);
  nde_ode_solver *s = test_solver("tsit5", "{}");
  nde_ode_rhs f = nde_ode_problem_rhs(p);
  nde_ode_solution sol;
  cr_assert_eq(nde_ode_solve(s, &f, NULL, 0, 1, &a, NULL, 0, &sol), NDE_OK);
  cr_expect_eq(sol.u_final.ndim, 2);
  nde_array_to_doubles(&sol.u_final, u, 6);
  for (int i = 0; i < 3; ++i)
    cr_expect_eq(u[i], u[3 + i]);
  nde_ode_solution_clear(&sol);
  nde_array_destroy(&a);
  nde_ode_solver_destroy(&s);
  nde_ode_problem_destroy(&p);
}

Test(ode_problems, bad_names_and_parameters) {
  nde_ode_problem *p = NULL;
  cr_expect_eq(nde_ode_problem_create("lorenzz", NULL, &p), NDE_ENOTFOUND);
  cr_expect(strstr(nde_last_error(), "lorenz") != NULL, "%s", nde_last_error());
  nde_options *o = NULL;
  nde_options_parse("{\"sigmaa\": 3}", &o);
  cr_expect_eq(nde_ode_problem_create("lorenz", o, &p), NDE_EINVAL);
  cr_expect(strstr(nde_last_error(), "sigma") != NULL, "%s", nde_last_error());
  nde_options_destroy(&o);
  nde_options_parse("{\"A\": [[1, 2], [3]]}", &o);
  cr_expect_eq(nde_ode_problem_create("linear", o, &p), NDE_EINVAL);
  cr_expect(strstr(nde_last_error(), "A[1]") != NULL, "%s", nde_last_error());
  nde_options_destroy(&o);
  cr_expect_null(p);
}

/* The on_step hook sees every accepted step with its stages: u1 = u0 + dt Σ b_i k_i. */
typedef struct hook_log {
  int calls;
  double worst;
} hook_log;

static nde_status check_stages(void *user, const nde_ode_step *st, double eest) {
  hook_log *log = user;
  /* Tsit5's b (row 7 of its tableau, OrdinaryDiffEq tsit_tableaus.jl) */
  static const double b[6] = {0.09646076681806523, 0.01, 0.4798896504144996,
                              1.379008574103742, -3.290069515436081, 2.324710524099774};
  double u0[3], u1[3], k[3];
  nde_array_to_doubles(st->u0, u0, 3);
  nde_array_to_doubles(st->u1, u1, 3);
  for (int j = 0; j < 6; ++j) {
    nde_array_to_doubles(&st->k[j], k, 3);
    for (int i = 0; i < 3; ++i)
      u0[i] += st->dt * b[j] * k[i];
  }
  for (int i = 0; i < 3; ++i)
    log->worst = fmax(log->worst, fabs(u0[i] - u1[i]) / fmax(1.0, fabs(u1[i])));
  cr_expect_leq(eest, 1.0);
  log->calls++;
  return NDE_OK;
}

Test(ode_hook, sees_stages_of_accepted_steps) {
  nde_ode_problem *p = test_problem("lorenz", NULL);
  double u0[3];
  nde_ode_problem_defaults(p, u0, NULL);
  nde_array a = test_state(NDE_FLOAT64, 3, u0);
  nde_ode_solver *s = test_solver("tsit5", "{\"abstol\": 1e-8, \"reltol\": 1e-8}");
  nde_ode_options o = s->solve;
  hook_log log = {0};
  o.on_step = check_stages;
  o.user = &log;
  nde_ode_rhs f = nde_ode_problem_rhs(p);
  nde_ode_solution sol;
  cr_assert_eq(nde_ode_solve(s, &f, &o, 0, 1, &a, NULL, 0, &sol), NDE_OK);
  cr_expect_eq(log.calls, sol.stats.accepted);
  cr_expect_lt(log.worst, 1e-13);
  nde_ode_solution_clear(&sol);
  nde_array_destroy(&a);
  nde_ode_solver_destroy(&s);
  nde_ode_problem_destroy(&p);
}

static nde_status failing_hook(void *user, const nde_ode_step *st, double eest) {
  (void)user;
  (void)eest;
  return st->t > 0.5 ? nde_error(NDE_ENOCONV, "hook stops at t = %g", st->t) : NDE_OK;
}

Test(ode_hook, error_stops_the_solve) {
  nde_ode_problem *p = test_problem("exponential", NULL);
  double u0 = 0.5;
  nde_array a = test_state(NDE_FLOAT64, 1, &u0);
  nde_ode_solver *s = test_solver("bs3", "{}");
  nde_ode_options o = s->solve;
  o.on_step = failing_hook;
  nde_ode_rhs f = nde_ode_problem_rhs(p);
  nde_ode_solution sol;
  cr_expect_eq(nde_ode_solve(s, &f, &o, 0, 1, &a, NULL, 0, &sol), NDE_ENOCONV);
  cr_expect(strstr(nde_last_error(), "hook stops") != NULL, "%s", nde_last_error());
  nde_ode_solution_clear(&sol);
  nde_array_destroy(&a);
  nde_ode_solver_destroy(&s);
  nde_ode_problem_destroy(&p);
}

Test(ode_saving, endpoints_only_and_dtmax) {
  nde_ode_problem *p = test_problem("lorenz", NULL);
  nde_ode_solution sol;
  cr_assert_eq(test_solve("dopri5", "{\"save_everystep\": false, \"dtmax\": 0.01}", p, 0, 1,
                          NDE_FLOAT64, NULL, 0, &sol, NULL), NDE_OK);
  cr_expect_eq(sol.nsave, 2);
  cr_expect_eq(sol.t[0], 0.0);
  cr_expect_eq(sol.t[1], 1.0);
  cr_expect_geq(sol.stats.accepted, 100);
  for (size_t i = 0; i < sol.stats.nsteps; ++i)
    cr_expect_leq(fabs(sol.stats.steps[i].dt), 0.01 * (1 + 1e-12));
  /* the last saved column is the final state */
  double last[3], fin[3], all[6];
  nde_array_to_doubles(&sol.u, all, 6);
  memcpy(last, all + 3, sizeof last);
  nde_array_to_doubles(&sol.u_final, fin, 3);
  cr_expect_eq(memcmp(last, fin, sizeof fin), 0);
  nde_ode_solution_clear(&sol);
  /* every step saved: nsave = accepted + 1, times strictly increasing */
  cr_assert_eq(test_solve("bs3", "{}", p, 0, 1, NDE_FLOAT64, NULL, 0, &sol, NULL), NDE_OK);
  cr_expect_eq(sol.nsave, (size_t)sol.stats.accepted + 1);
  for (size_t i = 1; i < sol.nsave; ++i)
    cr_expect_gt(sol.t[i], sol.t[i - 1]);
  nde_ode_solution_clear(&sol);
  nde_ode_problem_destroy(&p);
}

static nde_status decay_eval(void *ctx, double t, const nde_array *u, nde_array *du) {
  (void)ctx;
  (void)t;
  double x[1];
  nde_array_to_doubles(u, x, 1);
  x[0] = -x[0];
  return nde_array_from_doubles(du, x, 1);
}

/* Hairer's initial step, by hand for du/dt = -u, u0 = 1, tolerances 1e-6, order 5:
   sk = 2e-6, d0 = d1 = 5e5, dt0 = 0.01, d2 = (0.01 / sk) / dt0 = 5e5,
   dt1 = (0.01 / 5e5)^(1/5), dt = min(100 dt0, dt1, dtmax). */
Test(ode_controller, hairer_initial_step) {
  double one = 1.0, mone = -1.0, dt;
  nde_array u = test_state(NDE_FLOAT64, 1, &one), f = test_state(NDE_FLOAT64, 1, &mone);
  long nfe = 0;
  cr_assert_eq(nde_initial_dt(decay_eval, NULL, 0.0, &u, &f, 1.0, 5, 1e-6, 1e-6, 10.0, &dt, &nfe),
               NDE_OK);
  cr_expect_float_eq(dt, pow(0.01 / 5e5, 0.2), 1e-12);
  cr_expect_eq(nfe, 1);
  /* dtmax caps it; backward integration gives the same magnitude */
  cr_assert_eq(nde_initial_dt(decay_eval, NULL, 0.0, &u, &f, -1.0, 5, 1e-6, 1e-6, 0.001, &dt,
                              &nfe), NDE_OK);
  cr_expect_float_eq(dt, 0.001, 1e-15);
  nde_array_destroy(&u);
  nde_array_destroy(&f);
}

/* u' = −u (the leading elements) and, after them, v' = (1 + u)·8·cos(8 t): v follows u but
   feeds back into nothing, and it oscillates faster (its error would shorten the steps). */
static nde_status lead_tail_eval(void *ctx, double t, const nde_array *u, nde_array *du) {
  size_t lead = *(const size_t *)ctx, n = u->size;
  double x[4];
  nde_array_to_doubles(u, x, n);
  for (size_t i = lead; i < n; ++i)
    x[i] = (1.0 + x[i - lead]) * 8.0 * cos(8.0 * t);
  for (size_t i = 0; i < lead; ++i)
    x[i] = -x[i];
  return nde_array_from_doubles(du, x, n);
}

/* nde_ode_options::norm_size: the elements past it never shorten a step. Solving [u, v]
   under the seminorm over u takes exactly the steps of solving u alone (the same u to the
   last bit, the initial step included), fewer than the full norm; the step functions'
   fused norms (FSAL tsit5 and dopri5, non-FSAL heun and bs3) and the integrator's own
   (vcab3's multistep steps) all honour it. */
Test(ode_seminorm, tail_outside_the_norm_never_shortens_a_step) {
  static const char *const solvers[] = {"tsit5", "dopri5", "bs3", "heun", "vcab3"};
  for (size_t s = 0; s < sizeof solvers / sizeof *solvers; ++s) {
    int low = !strcmp(solvers[s], "heun") || !strcmp(solvers[s], "bs3");
    nde_ode_solver *solver =
        test_solver(solvers[s], low ? "{\"abstol\": 1e-5, \"reltol\": 1e-5}"
                                    : "{\"abstol\": 1e-7, \"reltol\": 1e-7}");
    size_t lead = 2;
    const double x0[4] = {1.0, 0.5, 0.0, 0.0};
    nde_ode_rhs f = {.eval = lead_tail_eval, .ctx = &lead};
    nde_ode_solution alone, semi, full;
    nde_array u0 = test_state(NDE_FLOAT64, 2, x0), y0 = test_state(NDE_FLOAT64, 4, x0);
    cr_assert_eq(nde_ode_solve(solver, &f, NULL, 0, 2, &u0, NULL, 0, &alone), NDE_OK, "%s",
                 nde_last_error());
    nde_ode_options o = solver->solve;
    o.norm_size = 2;
    cr_assert_eq(nde_ode_solve(solver, &f, &o, 0, 2, &y0, NULL, 0, &semi), NDE_OK, "%s",
                 nde_last_error());
    o.norm_size = 0;
    cr_assert_eq(nde_ode_solve(solver, &f, &o, 0, 2, &y0, NULL, 0, &full), NDE_OK, "%s",
                 nde_last_error());
    cr_expect_eq(semi.stats.accepted, alone.stats.accepted, "%s", solvers[s]);
    cr_expect_eq(semi.stats.rejected, alone.stats.rejected, "%s", solvers[s]);
    cr_expect_eq(semi.stats.nfe, alone.stats.nfe, "%s", solvers[s]);
    cr_expect_lt(semi.stats.nfe, full.stats.nfe, "%s: the full norm sees v's error", solvers[s]);
    double a[2], y[4], yf[4];
    nde_array_to_doubles(&alone.u_final, a, 2);
    nde_array_to_doubles(&semi.u_final, y, 4);
    nde_array_to_doubles(&full.u_final, yf, 4);
    cr_expect(a[0] == y[0] && a[1] == y[1], "%s: u %.17g %.17g vs %.17g %.17g", solvers[s], a[0],
              a[1], y[0], y[1]);
    /* v is still integrated, with u's steps: as accurate as those steps allow */
    cr_expect(fabs(y[2] - yf[2]) < 1e-2 && fabs(y[3] - yf[3]) < 1e-2, "%s: v %g %g vs %g %g",
              solvers[s], y[2], y[3], yf[2], yf[3]);
    if (getenv("NDE_TEST_VERBOSE"))
      fprintf(stderr, "%s: nfe alone %ld seminorm %ld full %ld; v error %.2g\n", solvers[s],
              alone.stats.nfe, semi.stats.nfe, full.stats.nfe,
              fmax(fabs(y[2] - yf[2]), fabs(y[3] - yf[3])));
    nde_ode_solution_clear(&alone);
    nde_ode_solution_clear(&semi);
    nde_ode_solution_clear(&full);
    nde_array_destroy(&u0);
    nde_array_destroy(&y0);
    nde_ode_solver_destroy(&solver);
  }
}

/*
 * Tiny float64 host states step in plain loops (core/ode/rk_host.c) instead
 * of backend calls. The same solves through a copy of the cpu backend that
 * does not declare host memory (so the stepper and the problem take the
 * backend path) must take the same steps to the same solution, error norms
 * and stiffness estimates: the two paths do the same arithmetic.
 */
Test(ode_host_path, same_steps_as_the_backend_path) {
  nde_backend_ops ops = *test_backend()->ops;
  ops.host_readable = 0;
  ops.device = NDE_DEVICE_CUDA; /* for a vtable read as older than host_readable */
  nde_backend *be = NULL;
  cr_assert_eq(nde_backend_open_ops(&ops, NULL, &be), NDE_OK, "%s", nde_last_error());
  static const char *const solvers[] = {"tsit5", "dopri5", "vern7", "bs3"};
  static const char *const problems[] = {"lorenz", "arenstorf", "pleiades"};
  for (size_t p = 0; p < 3; ++p) {
    nde_ode_problem *prob = test_problem(problems[p], "{}");
    size_t n = nde_ode_problem_dim(prob);
    double u0[64], tspan[2], ya[64], yb[64];
    nde_ode_problem_defaults(prob, u0, tspan);
    nde_ode_rhs f = nde_ode_problem_rhs(prob);
    for (size_t s = 0; s < sizeof solvers / sizeof *solvers; ++s) {
      nde_ode_solver *sv = test_solver(solvers[s], "{\"abstol\": 1e-8, \"reltol\": 1e-8}");
      sv->solve.stiffness_estimate = 1;
      nde_ode_solution sol[2];
      for (int path = 0; path < 2; ++path) {
        nde_array a = {0};
        size_t shape[1] = {n};
        cr_assert_eq(nde_array_create(path ? be : test_backend(), NDE_FLOAT64, 1, shape, &a),
                     NDE_OK);
        cr_assert_eq(nde_array_from_doubles(&a, u0, n), NDE_OK);
        cr_assert_eq(nde_ode_solve(sv, &f, NULL, tspan[0], tspan[1], &a, NULL, 0, &sol[path]),
                     NDE_OK, "%s %s: %s", solvers[s], problems[p], nde_last_error());
        nde_array_destroy(&a);
      }
      cr_expect_eq(sol[0].stats.accepted, sol[1].stats.accepted, "%s %s", solvers[s],
                   problems[p]);
      cr_expect_eq(sol[0].stats.rejected, sol[1].stats.rejected, "%s %s", solvers[s],
                   problems[p]);
      cr_expect_eq(sol[0].stats.nfe, sol[1].stats.nfe, "%s %s", solvers[s], problems[p]);
      nde_array_to_doubles(&sol[0].u_final, ya, n);
      nde_array_to_doubles(&sol[1].u_final, yb, n);
      for (size_t i = 0; i < n; ++i)
        cr_expect_leq(fabs(ya[i] - yb[i]), 1e-12 * (1 + fabs(ya[i])), "%s %s: u[%zu] %.17g vs %.17g",
                      solvers[s], problems[p], i, ya[i], yb[i]);
      size_t m = sol[0].stats.nsteps < sol[1].stats.nsteps ? sol[0].stats.nsteps
                                                            : sol[1].stats.nsteps;
      for (size_t j = 0; j < m; ++j) {
        const nde_step_record *r0 = &sol[0].stats.steps[j], *r1 = &sol[1].stats.steps[j];
        cr_expect_leq(fabs(r0->eest - r1->eest), 1e-9 * (1 + r0->eest), "%s %s step %zu",
                      solvers[s], problems[p], j);
        if (!isnan(r0->eigen_est) || !isnan(r1->eigen_est))
          cr_expect_leq(fabs(r0->eigen_est - r1->eigen_est), 1e-9 * (1 + r0->eigen_est),
                        "%s %s step %zu: stiffness %g vs %g", solvers[s], problems[p], j,
                        r0->eigen_est, r1->eigen_est);
      }
      nde_ode_solution_clear(&sol[0]);
      nde_ode_solution_clear(&sol[1]);
      nde_ode_solver_destroy(&sv);
    }
    nde_ode_problem_destroy(&prob);
  }
  nde_backend_destroy(&be);
}

/* Lorenz batches of @p systems from (1, 0, 0)·(1 + j/10): the final states. */
static void solve_lorenz_batch(const char *solver, size_t systems, nde_ode_workspace *ws,
                               double *out, long *nfe) {
  nde_ode_problem *p = test_problem("lorenz", NULL);
  double u0[12] = {0};
  for (size_t j = 0; j < systems; ++j)
    u0[3 * j] = 1 + 0.1 * (double)j;
  nde_array a = {0};
  size_t shape[2] = {3, systems};
  cr_assert_eq(nde_array_create(test_backend(), NDE_FLOAT64, 2, shape, &a), NDE_OK);
  nde_array_from_doubles(&a, u0, 3 * systems);
  nde_ode_solver *s = test_solver(solver, "{}");
  nde_ode_options o = s->solve;
  o.workspace = ws;
  nde_ode_rhs f = nde_ode_problem_rhs(p);
  nde_ode_solution sol;
  cr_assert_eq(nde_ode_solve(s, &f, &o, 0, 1, &a, NULL, 0, &sol), NDE_OK, "%s", nde_last_error());
  nde_array_to_doubles(&sol.u_final, out, 3 * systems);
  *nfe = sol.stats.nfe;
  cr_assert(sol.nsave >= 2);
  double first[12];
  nde_array col; /* the saved t0 column: u0 */
  cr_assert_eq(nde_array_view(&sol.u, 0, 2, shape, &col), NDE_OK);
  cr_assert_eq(nde_array_to_doubles(&col, first, 3 * systems), NDE_OK);
  for (size_t j = 0; j < 3 * systems; ++j)
    cr_expect_eq(first[j], u0[j], "%s, %zu systems, ws %d: u(t0)[%zu] %.17g vs %.17g", solver,
                 systems, ws != NULL, j, first[j], u0[j]);
  nde_ode_solution_recycle(&sol, ws); /* NULL ws: a plain clear */
  nde_array_destroy(&a);
  nde_ode_solver_destroy(&s);
  nde_ode_problem_destroy(&p);
}

/* A workspace's arrays, and the solutions' arrays recycled into it, carry over between
   solves without changing any result, also when the next solve has another state
   shape or another number of stages. */
Test(ode_workspace, reused_arrays_give_the_same_solutions) {
  nde_ode_workspace *ws = NULL;
  cr_assert_eq(nde_ode_workspace_create(&ws), NDE_OK);
  /* up and down in size: a pool of buffers serves smaller states with larger buffers */
  const char *solvers[] = {"tsit5", "tsit5", "bs3", "tsit5", "dopri5", "dopri5", "bs3", "tsit5"};
  size_t systems[] = {2, 2, 2, 4, 4, 4, 1, 4};
  for (int i = 0; i < 8; ++i) {
    double ref[12], got[12];
    long nfe_ref, nfe;
    solve_lorenz_batch(solvers[i], systems[i], NULL, ref, &nfe_ref);
    solve_lorenz_batch(solvers[i], systems[i], ws, got, &nfe);
    cr_expect_eq(nfe, nfe_ref, "solve %d (%s): nfe %ld vs %ld", i, solvers[i], nfe, nfe_ref);
    for (size_t j = 0; j < 3 * systems[i]; ++j)
      cr_expect_eq(got[j], ref[j], "solve %d (%s): u[%zu] %.17g vs %.17g", i, solvers[i], j,
                   got[j], ref[j]);
  }
  nde_ode_workspace_destroy(&ws);
  cr_expect_null(ws);
  nde_ode_workspace_destroy(&ws); /* NULL: no-op */
}
