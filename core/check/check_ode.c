/*
 * ode_solver conformance: the manifest's claims against the vtable, the
 * claimed order (fixed-step convergence on a linear and on a nonlinear,
 * non-autonomous problem with exact solutions), tolerance proportionality
 * (adaptive), the dense output's order, FSAL evaluation counts, the
 * stiffness estimate, and reverse mode through one step.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

/* The slope must be within this of the claimed order (fixed step, both problems). */
#define ORDER_TOL 0.3

/* ---- problems ------------------------------------------------------------ */

/* linear 2x2 with a rotating, decaying solution; exact by expm */
#define LIN_A "{\"A\": [[-0.5, 2.0], [-2.0, -0.5]]}"

/*
 * Nonlinear, non-autonomous, with a closed form on [0, 2]:
 *   x' = -(x² + y²) y,  y' = (x² + y²) x   (a rotation at angular speed r² = x0² + y0²)
 *   z' = z cos t                          (z = z0 exp(sin t))
 *   w' = w (1 - w)                        (logistic)
 */
static const double nl_u0[4] = {1.2, 0.4, 0.7, 0.2};

static nde_status nl_eval(void *ctx, double t, const nde_array *u, nde_array *du) {
  (void)ctx;
  double x[4], f[4];
  nde_status st = nde_array_to_doubles(u, x, 4);
  if (st != NDE_OK)
    return st;
  double r2 = x[0] * x[0] + x[1] * x[1];
  f[0] = -r2 * x[1];
  f[1] = r2 * x[0];
  f[2] = x[2] * cos(t);
  f[3] = x[3] * (1 - x[3]);
  return nde_array_from_doubles(du, f, 4);
}

static void nl_exact(double t, double *u) {
  double r2 = nl_u0[0] * nl_u0[0] + nl_u0[1] * nl_u0[1], a = r2 * t;
  u[0] = nl_u0[0] * cos(a) - nl_u0[1] * sin(a);
  u[1] = nl_u0[0] * sin(a) + nl_u0[1] * cos(a);
  u[2] = nl_u0[2] * exp(sin(t));
  u[3] = 1 / (1 + (1 / nl_u0[3] - 1) * exp(-t));
}

static nde_status open_solver(nde_registry *reg, const char *name, const char *json,
                              nde_ode_solver **out) {
  nde_options *given = NULL;
  nde_status st = nde_options_parse(json, &given);
  if (st == NDE_OK)
    st = nde_ode_solver_open(reg, name, given, "check", out);
  nde_options_destroy(&given);
  return st;
}

static nde_status make_state(nde_registry *reg, size_t n, const double *v, nde_array *a) {
  nde_backend *be = nde_check_cpu_backend(reg);
  if (!be)
    return NDE_EPLUGIN;
  size_t shape[1] = {n};
  nde_status st = nde_array_create(be, NDE_FLOAT64, 1, shape, a);
  if (st == NDE_OK)
    st = nde_array_from_doubles(a, v, n);
  return st;
}

/*
 * Solve @p problem with solver options @p json over [0, t1]; *err = max-norm
 * error at t1 (when err), *sol kept when not NULL (else freed).
 */
static nde_status solve(nde_registry *reg, const char *name, const char *json, int problem,
                        double t1, const double *saveat, size_t nsave, nde_ode_solution *out,
                        double *err) {
  nde_ode_problem *p = NULL;
  nde_options *params = NULL;
  nde_ode_solver *s = NULL;
  nde_array a = {0};
  nde_ode_solution sol = {0};
  double u0[4], ue[4], uf[4];
  size_t n = 4;
  nde_ode_rhs f = {nl_eval, NULL, NULL};
  nde_status st = NDE_OK;
  if (problem == NDE_CHECK_ODE_LINEAR) {
    st = nde_options_parse(LIN_A, &params);
    if (st == NDE_OK)
      st = nde_ode_problem_create("linear", params, &p);
    nde_options_destroy(&params);
    if (st != NDE_OK)
      return st;
    n = nde_ode_problem_dim(p);
    nde_ode_problem_defaults(p, u0, NULL);
    f = nde_ode_problem_rhs(p);
  } else {
    memcpy(u0, nl_u0, sizeof u0);
  }
  st = make_state(reg, n, u0, &a);
  if (st == NDE_OK)
    st = open_solver(reg, name, json, &s);
  if (st == NDE_OK)
    st = nde_ode_solve(s, &f, NULL, 0, t1, &a, saveat, nsave, &sol);
  if (st == NDE_OK && err) {
    if (p)
      st = nde_ode_problem_exact(p, 0, u0, sol.t_final, ue);
    else
      nl_exact(sol.t_final, ue);
    if (st == NDE_OK)
      st = nde_array_to_doubles(&sol.u_final, uf, n);
    double m = 0;
    for (size_t i = 0; i < n; ++i)
      m = fmax(m, fabs(uf[i] - ue[i]));
    *err = m;
  }
  if (out)
    *out = sol;
  else
    nde_ode_solution_clear(&sol);
  nde_ode_solver_destroy(&s);
  nde_array_destroy(&a);
  nde_ode_problem_destroy(&p);
  return st;
}

nde_status nde_check_ode_order(nde_registry *reg, const char *name, int order, int problem,
                               double *slope, double *h, double *err, int *levels) {
  /*
   * Refine dt from 1/2 until the error falls below 5e-13 (round-off would
   * bend the curve) or 2^14 steps; fit the last four levels whose error is
   * below 1e-2, the asymptotic regime. Up to order 4 dt halves; a method of
   * higher order p refines by 2^(4/p), so that each level still gains about
   * a factor 16 and four levels fit between the pre-asymptotic errors and
   * round-off (halving, a 7th-order method crosses that range in 2-3 levels).
   */
  double ratio = order > 4 ? pow(2.0, 4.0 / order) : 2.0, hs[24], es[24];
  int m = 0, prev = 0;
  for (double x = 4; x <= (1 << 14) + 0.5 && m < 24; x *= ratio) {
    int n = (int)lround(x);
    if (n <= prev)
      continue;
    prev = n;
    char opts[128];
    double e = NAN, dt = 2.0 / n;
    snprintf(opts, sizeof opts, "{\"adaptive\": false, \"dt\": %.17g}", dt);
    nde_status st = solve(reg, name, opts, problem, 2.0, NULL, 0, NULL, &e);
    if (st != NDE_OK)
      return st;
    if (e < 5e-13)
      break;
    hs[m] = dt;
    es[m++] = e;
    if (m >= 4 && es[m - 4] < 1e-2 && n >= 1 << 10)
      break; /* enough: slow methods need not go to 2^14 */
  }
  int first = m;
  while (first > 0 && es[first - 1] < 1e-2 && m - first < 4)
    --first;
  if (m - first < 3 && m >= 3)
    first = m - 3; /* never converging below 1e-2: fit what there is */
  *levels = m - first;
  if (*levels < 2)
    return nde_error(NDE_ENOCONV, "%s: fewer than two usable step sizes", name);
  for (int i = first; i < m; ++i) {
    h[i - first] = hs[i];
    err[i - first] = es[i];
  }
  *slope = nde_check_loglog_slope(h, err, *levels);
  return NDE_OK;
}

nde_status nde_check_ode_tolerance(nde_registry *reg, const char *name, int order, double *tol,
                                   double *err, double *slope) {
  double tol0 = order <= 2 ? 1e-3 : 1e-4, ratio = order <= 2 ? 0.1 : 0.01;
  for (int i = 0; i < 4; ++i) {
    char opts[128];
    tol[i] = tol0 * pow(ratio, i);
    snprintf(opts, sizeof opts, "{\"abstol\": %g, \"reltol\": %g}", tol[i], tol[i]);
    nde_status st = solve(reg, name, opts, NDE_CHECK_ODE_LINEAR, 2.0, NULL, 0, NULL, &err[i]);
    if (st != NDE_OK)
      return st;
  }
  *slope = nde_check_loglog_slope(tol, err, 4);
  return NDE_OK;
}

nde_status nde_check_ode_dense(nde_registry *reg, const char *name, double *slope) {
  nde_ode_problem *p = NULL;
  nde_options *params = NULL;
  nde_status st = nde_options_parse(LIN_A, &params);
  if (st == NDE_OK)
    st = nde_ode_problem_create("linear", params, &p);
  nde_options_destroy(&params);
  if (st != NDE_OK)
    return st;
  double saveat[20], h[3], e[3], u0[2], u[40], ue[2];
  nde_ode_problem_defaults(p, u0, NULL);
  for (int i = 0; i < 20; ++i)
    saveat[i] = 0.0371 + 0.1 * i; /* never on a step boundary */
  for (int l = 0; l < 3 && st == NDE_OK; ++l) {
    h[l] = 0.25 / (1 << l);
    char opts[128];
    snprintf(opts, sizeof opts, "{\"adaptive\": false, \"dt\": %.17g}", h[l]);
    nde_ode_solution sol = {0};
    st = solve(reg, name, opts, NDE_CHECK_ODE_LINEAR, 2.0, saveat, 20, &sol, NULL);
    if (st == NDE_OK && sol.nsave != 20)
      st = nde_error(NDE_EPLUGIN, "%s: %zu saved points, asked for 20", name, sol.nsave);
    if (st == NDE_OK)
      st = nde_array_to_doubles(&sol.u, u, 40);
    double m = 0;
    for (int i = 0; i < 20 && st == NDE_OK; ++i) {
      st = nde_ode_problem_exact(p, 0, u0, saveat[i], ue);
      m = fmax(m, fmax(fabs(u[2 * i] - ue[0]), fabs(u[2 * i + 1] - ue[1])));
    }
    e[l] = fmax(m, 1e-300);
    nde_ode_solution_clear(&sol);
  }
  nde_ode_problem_destroy(&p);
  if (st == NDE_OK)
    *slope = nde_check_loglog_slope(h, e, 3);
  return st;
}

/* ---- the checks ----------------------------------------------------------- */

static void check_claims(nde_check_run *run, const nde_ode_solver_ops *ops, int order) {
  const nde_options *caps = nde_check_caps(run);
  int adaptive = nde_options_bool(caps, "adaptive", 0);
  int fsal = nde_options_bool(caps, "fsal", 0);
  int ok = ops->order == order && (!adaptive || ops->error_order > 0);
  char extra[96] = "";
  if (ops->tableau && ops->tableau->fsal != fsal) {
    ok = 0;
    snprintf(extra, sizeof extra, "; tableau fsal %d vs manifest %s", ops->tableau->fsal,
             fsal ? "true" : "false");
  }
  nde_check_record(run, "claims", ok ? NDE_CHECK_PASS : NDE_CHECK_FAIL, ops->order, order, 0,
                   "vtable order %d, error order %d; manifest order %d%s%s", ops->order,
                   ops->error_order, order,
                   adaptive && ops->error_order <= 0 ? ", adaptive claimed without an error estimate"
                                                     : "",
                   extra);
}

static void check_order(nde_check_run *run, const char *name, int order, int problem) {
  double s = NAN, h[4], e[4];
  int m = 0;
  const char *what = problem == NDE_CHECK_ODE_LINEAR ? "order (linear)" : "order (nonlinear)";
  nde_status st = nde_check_ode_order(run->registry, name, order, problem, &s, h, e, &m);
  if (st != NDE_OK) {
    nde_check_record(run, what, NDE_CHECK_FAIL, NAN, order, ORDER_TOL, "%s", nde_last_error());
    return;
  }
  int ok = fabs(s - order) <= ORDER_TOL && m >= 3;
  nde_check_record(run, what, ok ? NDE_CHECK_PASS : NDE_CHECK_FAIL, s, order, ORDER_TOL,
                   "fixed-step slope %.2f vs claimed %d (±%.1f), dt %.3g..%.3g, error %.3g..%.3g",
                   s, order, ORDER_TOL, h[0], h[m - 1], e[0], e[m - 1]);
}

static void check_tolerance(nde_check_run *run, const char *name, int order) {
  double tol[4], e[4], s = NAN;
  nde_status st = nde_check_ode_tolerance(run->registry, name, order, tol, e, &s);
  if (st != NDE_OK) {
    nde_check_record(run, "tolerance", NDE_CHECK_FAIL, NAN, 1, 0.4, "%s", nde_last_error());
    return;
  }
  int mono = e[1] < e[0] && e[2] < e[1] && e[3] < e[2];
  int ok = mono && s > 0.6 && s < 1.4 && e[3] < 1e3 * tol[3];
  nde_check_record(run, "tolerance", ok ? NDE_CHECK_PASS : NDE_CHECK_FAIL, s, 1, 0.4,
                   "error ~ tol^%.2f (want 0.6..1.4, decreasing: %s), tol %.0e..%.0e, "
                   "error %.3g..%.3g",
                   s, mono ? "yes" : "no", tol[0], tol[3], e[0], e[3]);
}

static void check_dense(nde_check_run *run, const char *name, int order) {
  const char *claim = nde_options_string(nde_check_caps(run), "dense_output", NULL);
  if (!claim) {
    nde_check_record(run, "dense output", NDE_CHECK_SKIP, NAN, NAN, NAN, "not claimed");
    return;
  }
  int dorder = 0;
  if (!strcmp(claim, "hermite"))
    dorder = 3; /* cubic Hermite: O(h^4) locally, third order at points */
  else if (sscanf(claim, "order %d", &dorder) != 1 || dorder < 1) {
    nde_check_record(run, "dense output", NDE_CHECK_FAIL, NAN, NAN, NAN,
                     "capability dense_output \"%s\" is neither \"hermite\" nor \"order N\"",
                     claim);
    return;
  }
  int want = dorder < order ? dorder : order;
  double s = NAN;
  nde_status st = nde_check_ode_dense(run->registry, name, &s);
  if (st != NDE_OK) {
    nde_check_record(run, "dense output", NDE_CHECK_FAIL, NAN, want, ORDER_TOL, "%s",
                     nde_last_error());
    return;
  }
  nde_check_record(run, "dense output", s >= want - ORDER_TOL ? NDE_CHECK_PASS : NDE_CHECK_FAIL,
                   s, want, ORDER_TOL,
                   "error between steps falls at order %.2f, want >= %d - %.1f (\"%s\", method "
                   "order %d)",
                   s, want, ORDER_TOL, claim, order);
}

/* FSAL: after f(t0, u0), every step (accepted or rejected) costs stages - 1 evaluations. */
static void check_fsal(nde_check_run *run, const char *name, const nde_ode_solver_ops *ops) {
  const nde_options *caps = nde_check_caps(run);
  if (!nde_options_bool(caps, "fsal", 0)) {
    nde_check_record(run, "fsal", NDE_CHECK_SKIP, NAN, NAN, NAN, "not claimed");
    return;
  }
  int stages = (int)nde_options_int(caps, "stages", ops->stages);
  nde_ode_solution sol = {0};
  nde_ode_problem *p = NULL;
  nde_ode_solver *s = NULL;
  nde_array a = {0};
  double u0[3], saveat[5] = {0.1, 0.2, 0.3, 0.4, 0.5};
  nde_status st = nde_ode_problem_create("lorenz", NULL, &p);
  if (st == NDE_OK) {
    nde_ode_problem_defaults(p, u0, NULL);
    st = make_state(run->registry, 3, u0, &a);
  }
  /* a too-large first step forces rejections; dt given: no initial-step evaluations */
  if (st == NDE_OK)
    st = open_solver(run->registry, name, "{\"abstol\": 1e-8, \"reltol\": 1e-8, \"dt\": 0.5}",
                     &s);
  nde_ode_rhs f = p ? nde_ode_problem_rhs(p) : (nde_ode_rhs){0};
  if (st == NDE_OK)
    st = nde_ode_solve(s, &f, NULL, 0, 1, &a, saveat, 5, &sol);
  if (st != NDE_OK) {
    nde_check_record(run, "fsal", NDE_CHECK_FAIL, NAN, NAN, 0, "%s", nde_last_error());
  } else {
    long steps = sol.stats.accepted + sol.stats.rejected;
    long want = 1 + (long)(stages - 1) * steps;
    nde_check_record(run, "fsal", sol.stats.nfe == want ? NDE_CHECK_PASS : NDE_CHECK_FAIL,
                     (double)sol.stats.nfe, (double)want, 0,
                     "%ld evaluations for %ld accepted + %ld rejected steps, want 1 + %d x %ld = "
                     "%ld",
                     sol.stats.nfe, sol.stats.accepted, sol.stats.rejected, stages - 1, steps,
                     want);
  }
  nde_ode_solution_clear(&sol);
  nde_ode_solver_destroy(&s);
  nde_array_destroy(&a);
  nde_ode_problem_destroy(&p);
}

/* On du/dt = diag(-1, -lambda) u, once stability limits the step the estimate tracks lambda. */
static void check_stiffness(nde_check_run *run, const char *name) {
  if (!nde_options_bool(nde_check_caps(run), "stiffness_estimate", 0)) {
    nde_check_record(run, "stiffness estimate", NDE_CHECK_SKIP, NAN, NAN, NAN, "not claimed");
    return;
  }
  const double lambda = 300;
  nde_options *params = NULL;
  nde_ode_problem *p = NULL;
  nde_ode_solver *s = NULL;
  nde_array a = {0};
  nde_ode_solution sol = {0};
  double u0[2];
  nde_status st = nde_options_parse("{\"A\": [[-1, 0], [0, -300]]}", &params);
  if (st == NDE_OK)
    st = nde_ode_problem_create("linear", params, &p);
  nde_options_destroy(&params);
  if (st == NDE_OK) {
    nde_ode_problem_defaults(p, u0, NULL);
    st = make_state(run->registry, 2, u0, &a);
  }
  if (st == NDE_OK)
    st = open_solver(run->registry, name, "{\"abstol\": 1e-6, \"reltol\": 1e-6}", &s);
  nde_ode_rhs f = p ? nde_ode_problem_rhs(p) : (nde_ode_rhs){0};
  if (st == NDE_OK) {
    s->solve.stiffness_estimate = 1;
    st = nde_ode_solve(s, &f, NULL, 0, 5, &a, NULL, 0, &sol);
  }
  if (st != NDE_OK) {
    nde_check_record(run, "stiffness estimate", NDE_CHECK_FAIL, NAN, lambda, 0.8, "%s",
                     nde_last_error());
  } else {
    size_t n = sol.stats.nsteps, good = 0, counted = 0;
    for (size_t i = n / 2; i < n; ++i) {
      double est = sol.stats.steps[i].eigen_est;
      ++counted;
      good += isfinite(est) && est > 0.5 * lambda && est < 1.05 * lambda;
    }
    double frac = counted ? (double)good / (double)counted : 0;
    nde_check_record(run, "stiffness estimate", frac >= 0.8 ? NDE_CHECK_PASS : NDE_CHECK_FAIL,
                     frac, 1, 0.2,
                     "%zu of %zu late estimates within [0.5, 1.05] x %g on diag(-1, -%g), "
                     "want >= 80%%",
                     good, counted, lambda, lambda);
  }
  nde_ode_solution_clear(&sol);
  nde_ode_solver_destroy(&s);
  nde_array_destroy(&a);
  nde_ode_problem_destroy(&p);
}

nde_status nde_check_ode_solver(nde_check_run *run, const void *vtable) {
  const nde_ode_solver_ops *ops = vtable;
  const char *name = nde_plugin_name(run->plugin);
  const nde_options *caps = nde_check_caps(run);
  int order = (int)nde_options_int(caps, "order", 0);
  if (order < 1) {
    nde_check_record(run, "claims", NDE_CHECK_FAIL, NAN, NAN, NAN,
                     "the manifest claims no \"order\" (an integer >= 1)");
    return NDE_OK;
  }
  check_claims(run, ops, order);
  check_order(run, name, order, NDE_CHECK_ODE_LINEAR);
  check_order(run, name, order, NDE_CHECK_ODE_NONLINEAR);
  if (nde_options_bool(caps, "adaptive", 0))
    check_tolerance(run, name, order);
  else
    nde_check_record(run, "tolerance", NDE_CHECK_SKIP, NAN, NAN, NAN, "not adaptive");
  check_dense(run, name, order);
  check_fsal(run, name, ops);
  check_stiffness(run, name);
  nde_check_ode_reverse(run, ops);
  return NDE_OK;
}
