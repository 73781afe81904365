/*
 * sde_solver conformance: the claims against the vtable, strong order on
 * geometric Brownian motion (exact solution along the same Brownian path),
 * and, where "reverse_step" is claimed, reverse mode through one step: the
 * reverse recomputes the forward step's u1, and its cotangent of u0 matches
 * central differences.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

#define STRONG_TOL 0.2
#define NPATHS 400

static nde_status open_solver(nde_registry *reg, const char *name, const char *json,
                              nde_sde_solver **out) {
  nde_options *given = NULL;
  nde_status st = nde_options_parse(json, &given);
  if (st == NDE_OK)
    st = nde_sde_solver_open(reg, name, given, "check", out);
  nde_options_destroy(&given);
  return st;
}

/* Mean over NPATHS paths of |u(1) - exact(1)| for GBM with fixed step dt. */
static nde_status gbm_error(nde_registry *reg, const char *name, double dt, double *err) {
  const double a = 1.01, b = 0.87, u0 = 0.5, T = 1.0;
  char json[128], gbm[96];
  snprintf(json, sizeof json, "{\"adaptive\": false, \"dt\": %.17g}", dt);
  snprintf(gbm, sizeof gbm, "{\"a\": %.17g, \"b\": %.17g}", a, b);
  nde_options *params = NULL;
  nde_sde_problem *p = NULL;
  nde_sde_solver *s = NULL;
  nde_brownian *path = NULL;
  nde_array u = {0};
  nde_sde_solution sol = {0};
  double *w = malloc(4 * NPATHS * sizeof *w), *ex = w + NPATHS, *un = w + 2 * NPATHS,
         *u0s = w + 3 * NPATHS;
  nde_backend *be = nde_check_cpu_backend(reg);
  nde_status st = !w ? nde_error(NDE_ENOMEM, "out of memory")
                  : !be ? NDE_EPLUGIN
                        : nde_options_parse(gbm, &params);
  if (st == NDE_OK)
    st = nde_sde_problem_create("gbm", params, &p);
  nde_options_destroy(&params);
  if (st == NDE_OK)
    st = open_solver(reg, name, json, &s);
  size_t shape[2] = {1, NPATHS};
  if (st == NDE_OK)
    st = nde_array_create(be, NDE_FLOAT64, 2, shape, &u);
  for (size_t i = 0; w && i < NPATHS; ++i)
    u0s[i] = u0;
  if (st == NDE_OK)
    st = nde_array_from_doubles(&u, u0s, NPATHS);
  if (st == NDE_OK) {
    nde_brownian_config bc = {.seed = 42, .stream = 0, .t0 = 0, .t1 = T, .dim = NPATHS,
                              .levy_area = s->ops->needs_dz};
    st = nde_brownian_create(&bc, &path);
  }
  nde_sde_rhs rhs = p ? nde_sde_problem_rhs(p) : (nde_sde_rhs){0};
  if (st == NDE_OK)
    st = nde_sde_solve(s, &rhs, NULL, 0, T, &u, path, NULL, 0, &sol);
  if (st == NDE_OK)
    st = nde_brownian_query(path, T, w, NULL);
  if (st == NDE_OK)
    st = nde_sde_problem_exact(p, 0, u0s, T, w, NPATHS, ex);
  if (st == NDE_OK)
    st = nde_array_to_doubles(&sol.u_final, un, NPATHS);
  if (st == NDE_OK) {
    double e = 0;
    for (size_t i = 0; i < NPATHS; ++i)
      e += fabs(un[i] - ex[i]);
    *err = e / NPATHS;
  }
  nde_sde_solution_clear(&sol);
  nde_brownian_destroy(&path);
  nde_array_destroy(&u);
  nde_sde_solver_destroy(&s);
  nde_sde_problem_destroy(&p);
  free(w);
  return st;
}

nde_status nde_check_sde_strong_order(nde_registry *reg, const char *name, int k0, int k1,
                                      double *slope) {
  double dts[16], errs[16];
  int n = 0;
  for (int k = k0; k <= k1 && n < 16; ++k, ++n) {
    dts[n] = 1.0 / (double)(1 << k);
    nde_status st = gbm_error(reg, name, dts[n], &errs[n]);
    if (st != NDE_OK)
      return st;
  }
  *slope = nde_check_loglog_slope(dts, errs, n);
  return NDE_OK;
}

static void check_claims(nde_check_run *run, const nde_sde_solver_ops *ops, double order) {
  const nde_options *caps = nde_check_caps(run);
  int adaptive = nde_options_bool(caps, "adaptive", 0);
  int levy = nde_options_bool(caps, "needs_levy_area", ops->needs_dz);
  int ok = ops->strong_order == order && adaptive == !!ops->adaptive && levy == !!ops->needs_dz;
  nde_check_record(run, "claims", ok ? NDE_CHECK_PASS : NDE_CHECK_FAIL, ops->strong_order, order,
                   0,
                   "vtable strong order %g, adaptive %d, needs_dz %d; manifest strong_order %g, "
                   "adaptive %s, needs_levy_area %s",
                   ops->strong_order, ops->adaptive, ops->needs_dz, order,
                   adaptive ? "true" : "false", levy ? "true" : "false");
}

static void check_strong(nde_check_run *run, const char *name, double order) {
  /* order 1/2 needs many more levels before the fit settles */
  int k0 = order < 1 ? 4 : 3, k1 = order < 1 ? 10 : 8;
  double s = NAN;
  nde_status st = nde_check_sde_strong_order(run->registry, name, k0, k1, &s);
  if (st != NDE_OK) {
    nde_check_record(run, "strong order", NDE_CHECK_FAIL, NAN, order, STRONG_TOL, "%s",
                     nde_last_error());
    return;
  }
  nde_check_record(run, "strong order",
                   fabs(s - order) <= STRONG_TOL ? NDE_CHECK_PASS : NDE_CHECK_FAIL, s, order,
                   STRONG_TOL,
                   "GBM (a 1.01, b 0.87), %d paths, dt 2^-%d..2^-%d: slope %.2f vs claimed %g "
                   "(±%.1f)",
                   NPATHS, k0, k1, s, order, STRONG_TOL);
}

/* ---- reverse step ------------------------------------------------------- */

#define RN 4

/* f = -u³ + u/2, g = 0.3 u + 0.1 sin u (diagonal noise), with pullbacks */
/* The four maps pointwise on host doubles; w = NULL evaluates, else pulls w back. */
static void drift_host(double t, size_t n, const double *x, const double *w, double *y) {
  (void)t;
  for (size_t i = 0; i < n; ++i)
    y[i] = w ? (-3 * x[i] * x[i] + 0.5) * w[i] : -x[i] * x[i] * x[i] + 0.5 * x[i];
}
static void diffusion_host(double t, size_t n, const double *x, const double *w, double *y) {
  (void)t;
  for (size_t i = 0; i < n; ++i)
    y[i] = w ? (0.3 + 0.1 * cos(x[i])) * w[i] : 0.3 * x[i] + 0.1 * sin(x[i]);
}
static nde_status drift(void *ctx, double t, const nde_array *u, nde_array *out) {
  (void)ctx;
  return nde_check_on_host(drift_host, t, RN, u, NULL, out);
}
static nde_status diffusion(void *ctx, double t, const nde_array *u, nde_array *out) {
  (void)ctx;
  return nde_check_on_host(diffusion_host, t, RN, u, NULL, out);
}
static nde_status drift_vjp(void *ctx, double t, const nde_array *u, const nde_array *w,
                            nde_array *w_u, void *w_p) {
  (void)ctx, (void)w_p;
  return nde_check_on_host(drift_host, t, RN, u, w, w_u);
}
static nde_status diffusion_vjp(void *ctx, double t, const nde_array *u, const nde_array *w,
                                nde_array *w_u, void *w_p) {
  (void)ctx, (void)w_p;
  return nde_check_on_host(diffusion_host, t, RN, u, w, w_u);
}

enum { NWORK = 96 };

typedef struct pool {
  nde_array a[NWORK + 16];
  int n;
} pool;

static nde_array *mk(pool *P, nde_backend *be, nde_status *st) {
  size_t shape[1] = {RN};
  nde_array *a = &P->a[P->n++];
  if (*st == NDE_OK)
    *st = nde_array_create(be, NDE_FLOAT64, 1, shape, a);
  if (*st == NDE_OK)
    be->ops->fill(be->ctx, NDE_FLOAT64, RN, 0.0, a->data);
  return a;
}

static void pool_free(pool *P) {
  for (int i = 0; i < P->n; ++i)
    nde_array_destroy(&P->a[i]);
  P->n = 0;
}

/* The noise of the step, expanded as the integrator hands it to steps. */
typedef struct noise {
  nde_array *dW, *chi[3];
} noise;

/* One forward step of the plugin's method (tableau or custom step): u1. */
static nde_status forward(const nde_sde_solver_ops *ops, nde_backend *be, const noise *z,
                          double t, double h, const double *u0v, double *u1v) {
  pool P = {.n = 0};
  nde_status st = NDE_OK;
  nde_sde_rhs rhs = {.drift = drift, .diffusion = diffusion, .drift_vjp = drift_vjp,
                     .diffusion_vjp = diffusion_vjp, .noise = NDE_NOISE_DIAGONAL, .ctx = NULL};
  int ns = ops->stages > 0 ? ops->stages : 1;
  if (ns > 16)
    return nde_error(NDE_EPLUGIN, "more than 16 stages");
  nde_array *u0 = mk(&P, be, &st), *u1 = mk(&P, be, &st), *err = mk(&P, be, &st);
  nde_array *k = &P.a[P.n];
  for (int i = 0; i < ns; ++i)
    mk(&P, be, &st);
  nde_array *g = &P.a[P.n];
  for (int i = 0; i < ns; ++i)
    mk(&P, be, &st);
  nde_array *h0 = &P.a[P.n];
  for (int i = 0; i < ns; ++i)
    mk(&P, be, &st);
  nde_array *sc = &P.a[P.n];
  for (int i = 0; i < 3; ++i)
    mk(&P, be, &st);
  if (st == NDE_OK)
    st = nde_array_from_doubles(u0, u0v, RN);
  nde_sde_step step = {.t = t, .dt = h, .u0 = u0, .u1 = u1, .err = ops->adaptive ? err : NULL,
                       .delta = ops->delta, .dW = z->dW, .chi1 = z->chi[0], .chi2 = z->chi[1],
                       .chi3 = z->chi[2], .k = k, .g = g, .h0 = h0, .nk = ns, .scratch = sc};
  if (st == NDE_OK)
    st = ops->tableau ? nde_sri_step(ops->tableau, &rhs, &step) : ops->step(&rhs, &step);
  if (st == NDE_OK)
    st = nde_array_to_doubles(u1, u1v, RN);
  pool_free(&P);
  return st;
}

static void check_reverse(nde_check_run *run, const nde_sde_solver_ops *ops) {
  if (!nde_options_bool(nde_check_caps(run), "reverse_step", 0)) {
    nde_check_record(run, "reverse step", NDE_CHECK_SKIP, NAN, NAN, NAN, "not claimed");
    return;
  }
  nde_backend *be = nde_check_cpu_backend(run->registry);
  nde_status st = be ? NDE_OK : NDE_EPLUGIN;
  const double t = 0.3, h = 0.05, u0v[RN] = {0.8, -0.5, 1.2, 0.3},
               c[RN] = {0.4, -1.3, 0.6, 0.9};
  const double dw[RN] = {0.13, -0.21, 0.05, 0.3}, dz[RN] = {-0.17, 0.08, 0.22, -0.04};
  pool P = {.n = 0};
  noise z;
  z.dW = mk(&P, be, &st);
  for (int i = 0; i < 3; ++i)
    z.chi[i] = mk(&P, be, &st);
  if (st == NDE_OK)
    st = nde_sde_noise_expand(NDE_NOISE_DIAGONAL, z.dW, h, dw, dz, z.dW, z.chi[0], z.chi[1],
                              z.chi[2], NULL);
  double u1f[RN], u1r[RN], du0v[RN];
  if (st == NDE_OK)
    st = forward(ops, be, &z, t, h, u0v, u1f);
  nde_sde_rhs rhs = {.drift = drift, .diffusion = diffusion, .drift_vjp = drift_vjp,
                     .diffusion_vjp = diffusion_vjp, .noise = NDE_NOISE_DIAGONAL, .ctx = NULL};
  nde_array *u0 = mk(&P, be, &st), *u1 = mk(&P, be, &st), *du1 = mk(&P, be, &st),
            *du0 = mk(&P, be, &st);
  int nw = NDE_SDE_REVERSE_WORK(ops->stages > 0 ? ops->stages : 1);
  if (nw > NWORK)
    st = nde_error(NDE_EPLUGIN, "too many stages for the check");
  nde_array *work = &P.a[P.n];
  for (int i = 0; i < nw && st == NDE_OK; ++i)
    mk(&P, be, &st);
  if (st == NDE_OK)
    st = nde_array_from_doubles(u0, u0v, RN);
  if (st == NDE_OK)
    st = nde_array_from_doubles(du1, c, RN);
  nde_sde_reverse r = {.t = t, .dt = h, .u0 = u0, .dW = z.dW, .chi1 = z.chi[0],
                       .chi2 = z.chi[1], .chi3 = z.chi[2], .delta = ops->delta, .du1 = du1,
                       .du0 = du0, .work = work, .nwork = nw, .u1 = u1};
  if (st == NDE_OK)
    st = nde_sde_solver_step_reverse(ops, &rhs, &r);
  if (st == NDE_OK)
    st = nde_array_to_doubles(u1, u1r, RN);
  if (st == NDE_OK)
    st = nde_array_to_doubles(du0, du0v, RN);
  double drift_u1 = 0, worst = 0;
  for (int i = 0; i < RN && st == NDE_OK; ++i)
    drift_u1 = fmax(drift_u1, fabs(u1r[i] - u1f[i]) / (1 + fabs(u1f[i])));
  for (int i = 0; i < RN && st == NDE_OK; ++i) {
    double up[RN], um[RN], yp[RN], ym[RN], e = 1e-6, Lp = 0, Lm = 0;
    memcpy(up, u0v, sizeof up);
    memcpy(um, u0v, sizeof um);
    up[i] += e;
    um[i] -= e;
    st = forward(ops, be, &z, t, h, up, yp);
    if (st == NDE_OK)
      st = forward(ops, be, &z, t, h, um, ym);
    for (int j = 0; j < RN; ++j)
      Lp += c[j] * yp[j], Lm += c[j] * ym[j];
    double fd = (Lp - Lm) / (2 * e);
    worst = fmax(worst, fabs(du0v[i] - fd) / (1 + fabs(fd)));
  }
  pool_free(&P);
  if (st != NDE_OK) {
    nde_check_record(run, "reverse step", NDE_CHECK_FAIL, NAN, 0, 1e-6, "%s", nde_last_error());
    return;
  }
  int ok = drift_u1 <= 1e-12 && worst <= 1e-6;
  nde_check_record(run, "reverse step", ok ? NDE_CHECK_PASS : NDE_CHECK_FAIL, worst, 0, 1e-6,
                   "one step forward then reversed: recomputed u1 differs by %.2g (want <= "
                   "1e-12), cotangent of u0 vs central differences %.2g (want <= 1e-6)",
                   drift_u1, worst);
}

nde_status nde_check_sde_solver(nde_check_run *run, const void *vtable) {
  const nde_sde_solver_ops *ops = vtable;
  const char *name = nde_plugin_name(run->plugin);
  double order = nde_options_number(nde_check_caps(run), "strong_order", NAN);
  if (!(order > 0)) {
    nde_check_record(run, "claims", NDE_CHECK_FAIL, NAN, NAN, NAN,
                     "the manifest claims no \"strong_order\" (a number > 0)");
    return NDE_OK;
  }
  check_claims(run, ops, order);
  check_strong(run, name, order);
  check_reverse(run, ops);
  return NDE_OK;
}
