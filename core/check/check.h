/*
 * The conformance suite behind `nde check` (docs/conformance.md): tests a
 * plugin against what its manifest claims. One file per plugin kind
 * (check_<kind>.c); this header is shared by them, the command
 * (core/cli/cmd_check.c) and the solver test suites, which measure the same
 * properties through the same functions. Built as a convenience library
 * (core/check/libndecheck.la) on top of libnde's public API only: nothing
 * here is part of libnde's ABI.
 */
#ifndef NDE_CHECK_H
#define NDE_CHECK_H

#include <stdarg.h>

#include <nde/nde.h>

/* The outcome of one check. SKIP: nothing is claimed, or no test exists (said so). */
typedef enum nde_check_verdict {
  NDE_CHECK_PASS = 0,
  NDE_CHECK_FAIL = 1,
  NDE_CHECK_SKIP = 2
} nde_check_verdict;

/* "PASS", "FAIL", "SKIP". */
const char *nde_check_verdict_name(nde_check_verdict verdict);

/*
 * One line of the report: which check, its verdict, the measured value
 * against the manifest's claim (NaN where a check has no number), the
 * tolerance it was held to, and a one-line detail.
 */
typedef struct nde_check_result {
  const char *plugin;
  const char *kind;
  const char *check;
  nde_check_verdict verdict;
  double measured;
  double claimed;
  double tolerance;
  char detail[320];
} nde_check_result;

/* Receives every result as it is made. */
typedef void (*nde_check_sink)(void *user, const nde_check_result *result);

/* A run over one plugin: where results go and how many of each verdict. */
typedef struct nde_check_run {
  nde_registry *registry;   /* where the plugin was found (solvers are opened from it) */
  const nde_plugin *plugin; /* the plugin under test */
  nde_check_sink sink;      /* may be NULL */
  void *user;
  int npass, nfail, nskip;
} nde_check_run;

/* Record one result (the detail is printf-formatted). */
void nde_check_record(nde_check_run *run, const char *check, nde_check_verdict verdict,
                      double measured, double claimed, double tolerance, const char *fmt, ...)
    NDE_PRINTF(7, 8);

/*
 * Run every check for @p plugin's kind: first "load" (the library loads and
 * its vtable passes the registry's checks), then the kind's own checks.
 * Kinds without behavioural checks say so in a SKIP line. Returns NDE_OK
 * (the verdicts are in run->nfail etc.) or an internal error (out of memory).
 */
nde_status nde_check_plugin(nde_check_run *run);

/* Per-kind checks (called by nde_check_plugin() after a successful load). */
nde_status nde_check_ode_solver(nde_check_run *run, const void *vtable);
nde_status nde_check_sde_solver(nde_check_run *run, const void *vtable);
nde_status nde_check_nonlinear_solver(nde_check_run *run, const void *vtable);
nde_status nde_check_linear_solver(nde_check_run *run, const void *vtable);
nde_status nde_check_layer(nde_check_run *run, const void *vtable);
nde_status nde_check_optimizer(nde_check_run *run, const void *vtable);
nde_status nde_check_backend(nde_check_run *run, const void *vtable);
nde_status nde_check_dataset(nde_check_run *run, const void *vtable);

nde_status nde_check_sensitivity(nde_check_run *run, const void *vtable);
nde_status nde_check_regularizer(nde_check_run *run, const void *vtable);

/*
 * Build @p model_json (4 input features, batch 3, float64, cpu) and record
 * check @p what: dx and dparams of <c, y> (+ the layers' auxiliary loss when
 * @p with_aux) from the model's vjp against central differences, with the
 * solvers' accepted steps recorded by the vjp's forward pass and replayed by
 * every difference. Passes when the relative error is <= @p tol.
 */
void nde_check_model_gradient(nde_check_run *run, const char *what, const char *model_json,
                              double tol, int with_aux);

/*
 * A right-hand side (or its pullback) of a small test problem, on host
 * doubles: out = f(t, x) or, with @p w, out = (∂f/∂x)ᵀ w; n <= 16.
 */
typedef void (*nde_check_host_fn)(double t, size_t n, const double *x, const double *w,
                                  double *out);

/*
 * Evaluate @p f on arrays: reads @p u (and @p w unless NULL) into doubles,
 * writes @p out. The reverse-step checks' test problems are written this way.
 */
nde_status nde_check_on_host(nde_check_host_fn f, double t, size_t n, const nde_array *u,
                             const nde_array *w, nde_array *out);

/* ode_solver "reverse_step": the adjoint of one step against central differences. */
void nde_check_ode_reverse(nde_check_run *run, const nde_ode_solver_ops *ops);

/* The manifest's capabilities of the plugin under test (borrowed). */
const nde_options *nde_check_caps(const nde_check_run *run);

/* 1 when capability @p key is the string @p value or an array holding it. */
int nde_check_cap_has(const nde_check_run *run, const char *key, const char *value);

/* ---- measurements shared with the test suites ---------------------------- */

/* Least-squares slope of log(y) against log(x) over n points. */
double nde_check_loglog_slope(const double *x, const double *y, int n);

/* The cpu backend, opened once per process from @p registry (NULL on failure, message set). */
nde_backend *nde_check_cpu_backend(nde_registry *registry);

/*
 * Fixed-step convergence of ode_solver @p name on problem @p problem
 * (NDE_CHECK_ODE_LINEAR: du/dt = A u with a rotating, decaying solution;
 * NDE_CHECK_ODE_NONLINEAR: a nonlinear, non-autonomous system with a
 * closed-form solution, see check_ode.c) over [0, 2]. dt shrinks from 1/2
 * (halving for a claimed @p order up to 4, by 2^(4/order) above) until the
 * error falls below 5e-13 (round-off) or 2^14 steps; the slope is fitted
 * over the last (up to) four levels with errors below 1e-2.
 * *slope is the fitted order; h and err (4 entries) and *levels receive the
 * data. NDE_OK or the solve's status.
 */
enum { NDE_CHECK_ODE_LINEAR = 0, NDE_CHECK_ODE_NONLINEAR = 1 };
nde_status nde_check_ode_order(nde_registry *registry, const char *name, int order,
                               int problem, double *slope, double *h, double *err, int *levels);

/*
 * Adaptive solves of the linear problem at tolerances tol[i] = tol0·ratio^i
 * (i < 4, abstol = reltol): errors into err[4], *slope = d log err / d log tol.
 * For a method of order p: tol0 1e-3, ratio 0.1 when p ≤ 2; 1e-4, 0.01 otherwise.
 */
nde_status nde_check_ode_tolerance(nde_registry *registry, const char *name, int order,
                                   double *tol, double *err, double *slope);

/*
 * Dense output: fixed-step solves (h = 1/4, 1/8, 1/16) of the linear problem
 * saved at 20 points never on a step boundary; *slope is the order of the
 * largest error at those points.
 */
nde_status nde_check_ode_dense(nde_registry *registry, const char *name, double *slope);

/*
 * Strong convergence of sde_solver @p name on geometric Brownian motion
 * (a = 1.01, b = 0.87, u0 = 0.5, T = 1, 400 paths, exact solution on the
 * same path): dt = 2^-k for k in [k0, k1]; *slope is the fitted order.
 */
nde_status nde_check_sde_strong_order(nde_registry *registry, const char *name, int k0, int k1,
                                      double *slope);

#endif /* NDE_CHECK_H */
