/*
 * Continuous adjoints, thesis Table 2.1 measured: for a small neural ODE
 * du/dt = W2 tanh(W1 u + b1) + b2 (n states, H hidden units, plain C loops,
 * host doubles) this prints, per sensitivity plugin and tolerance, the time
 * of one forward + backward pass, the forward and backward NFE, the VJP
 * count, the accepted/rejected backward steps, the peak memory the method
 * reports, and the gradient's distance from a reference (interpolating
 * adjoint at 1e-12). The backsolve and interpolating adjoints run with
 * their default seminorm and with "norm": "full" (docs/sensitivity.md).
 *
 * Peer, in the same process on the same right-hand side: SUNDIALS CVODES
 * (Adams–Moulton with fixed-point iteration, forward with Hermite
 * checkpoints every 50 steps, backward adjoint with the parameter gradient
 * as a quadrature under error control) for the final-point loss. CVODES
 * at 1e-12 is also compared with nde's reference, an independent check.
 *
 * Build and run: sh bench/adjoint/run.sh [BUILDDIR]. Not part of make check.
 */
#define _POSIX_C_SOURCE 199309L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cvodes/cvodes.h>
#include <nvector/nvector_serial.h>
#include <sunnonlinsol/sunnonlinsol_fixedpoint.h>

#include <nde/nde.h>

enum { N = 8, H = 32, NP = 2 * N * H + H + N };
#define T1 5.0

static double P[NP]; /* W1 (H×N), b1 (H), W2 (N×H), b2 (N), column-major */
#define W1(i, j) P[(i) + (j)*H]
#define B1(i) P[N * H + (i)]
#define W2(i, j) P[N * H + H + (i) + (j)*N]
#define B2(i) P[2 * N * H + H + (i)]

static long n_eval, n_vjp;

static void rhs(const double *x, double *y, double *h) {
  for (int i = 0; i < H; ++i) {
    double s = B1(i);
    for (int j = 0; j < N; ++j)
      s += W1(i, j) * x[j];
    h[i] = tanh(s);
  }
  for (int r = 0; r < N; ++r) {
    double s = B2(r);
    for (int i = 0; i < H; ++i)
      s += W2(r, i) * h[i];
    y[r] = s;
  }
}

/* g = (∂f/∂u)ᵀ v; when gp: gp += (∂f/∂p)ᵀ v */
static void vjp(const double *x, const double *v, double *g, double *gp) {
  double h[H], a[H], y[N];
  rhs(x, y, h);
  for (int i = 0; i < H; ++i) {
    double s = 0;
    for (int r = 0; r < N; ++r)
      s += W2(r, i) * v[r];
    a[i] = s * (1 - h[i] * h[i]);
  }
  for (int j = 0; j < N; ++j) {
    double s = 0;
    for (int i = 0; i < H; ++i)
      s += W1(i, j) * a[i];
    g[j] = s;
  }
  if (gp) {
    for (int j = 0; j < N; ++j)
      for (int i = 0; i < H; ++i)
        gp[i + j * H] += a[i] * x[j];
    for (int i = 0; i < H; ++i)
      gp[N * H + i] += a[i];
    for (int i = 0; i < H; ++i)
      for (int r = 0; r < N; ++r)
        gp[N * H + H + r + i * N] += v[r] * h[i];
    for (int r = 0; r < N; ++r)
      gp[2 * N * H + H + r] += v[r];
  }
}

/* ---- nde callbacks ---- */
/* the state is a batch: (N, B), one column per sample */
static nde_status nde_f(void *ctx, double t, const nde_array *u, nde_array *du) {
  (void)ctx, (void)t;
  double h[H];
  for (size_t b = 0; b < u->size / N; ++b)
    rhs((const double *)u->data + b * N, (double *)du->data + b * N, h);
  n_eval++;
  return NDE_OK;
}
static nde_status nde_vjp(void *ctx, double t, const nde_array *u, const nde_array *w,
                          nde_array *wu, void *wp) {
  (void)ctx, (void)t;
  for (size_t b = 0; b < u->size / N; ++b)
    vjp((const double *)u->data + b * N, (const double *)w->data + b * N,
        (double *)wu->data + b * N, wp);
  n_vjp++;
  return NDE_OK;
}

/* ---- CVODES callbacks ---- */
static int cv_f(realtype t, N_Vector y, N_Vector yd, void *ud) {
  (void)t, (void)ud;
  double h[H];
  rhs(N_VGetArrayPointer(y), N_VGetArrayPointer(yd), h);
  n_eval++;
  return 0;
}
static int cv_fB(realtype t, N_Vector y, N_Vector yB, N_Vector yBd, void *ud) {
  (void)t, (void)ud;
  double *g = N_VGetArrayPointer(yBd);
  vjp(N_VGetArrayPointer(y), N_VGetArrayPointer(yB), g, NULL);
  for (int i = 0; i < N; ++i)
    g[i] = -g[i];
  n_vjp++;
  return 0;
}
static int cv_fQB(realtype t, N_Vector y, N_Vector yB, N_Vector qBd, void *ud) {
  (void)t, (void)ud;
  double g[N], *q = N_VGetArrayPointer(qBd);
  memset(q, 0, NP * sizeof *q);
  vjp(N_VGetArrayPointer(y), N_VGetArrayPointer(yB), g, q);
  /* qB(t1) = 0, qB' = −λᵀ∂f/∂p: qB(t0) = ∫_{t0}^{t1} λᵀ∂f/∂p dt = dL/dp */
  for (int i = 0; i < NP; ++i)
    q[i] = -q[i];
  n_vjp++;
  return 0;
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static const double U0[N] = {0.5, -0.3, 0.2, 0.1, -0.4, 0.3, -0.1, 0.25};
static double *G; /* loss weights (N·B × nsave) */
static double *U0B; /* the batch of initial states (N × B) */

typedef struct result {
  double time, err;
  long fnfe, bnfe, nvjp, acc, rej;
  size_t peak;
  double du0[N], dp[NP];
} result;

static double rel_err(const result *a, const result *ref) {
  double e = 0, s = 0;
  for (int i = 0; i < N; ++i)
    e = fmax(e, fabs(a->du0[i] - ref->du0[i])), s = fmax(s, fabs(ref->du0[i]));
  for (int i = 0; i < NP; ++i)
    e = fmax(e, fabs(a->dp[i] - ref->dp[i])), s = fmax(s, fabs(ref->dp[i]));
  return e / s;
}

static nde_backend *be;

static int run_nde(const char *method, const char *opts, double tol, size_t ns, size_t B,
                   int reps, result *r) {
  char js[128];
  snprintf(js, sizeof js, "{\"abstol\": %g, \"reltol\": %g}", tol, tol);
  nde_options *given = NULL, *o = NULL;
  nde_ode_solver *solver = NULL;
  if (nde_options_parse(js, &given) || nde_ode_solver_open(NULL, "tsit5", given, "s", &solver))
    return fprintf(stderr, "%s\n", nde_last_error()), 1;
  nde_options_destroy(&given);
  const nde_plugin *pl;
  const void *vt;
  if (nde_registry_find(NULL, NDE_KIND_SENSITIVITY, method, &pl) ||
      nde_options_parse(opts, &given) || nde_plugin_options(pl, given, method, &o) ||
      nde_plugin_load(pl, &vt))
    return fprintf(stderr, "%s\n", nde_last_error()), 1;
  const nde_sensitivity_ops *ops = vt;
  void *state;
  if (ops->create(o, &state))
    return fprintf(stderr, "%s\n", nde_last_error()), 1;
  size_t n = N * B, np = NP, ushape[2] = {N, B}, shape[2] = {n, ns};
  nde_array u0 = {0}, g = {0}, d0 = {0}, dp = {0};
  nde_array_create(be, NDE_FLOAT64, 2, ushape, &u0);
  nde_array_from_doubles(&u0, U0B, n);
  nde_array_create(be, NDE_FLOAT64, 2, shape, &g);
  nde_array_from_doubles(&g, G, n * ns);
  nde_array_create(be, NDE_FLOAT64, 2, ushape, &d0);
  nde_array_create(be, NDE_FLOAT64, 1, &np, &dp);
  double saveat[32];
  for (size_t j = 0; j < ns; ++j)
    saveat[j] = T1 * (double)(j + 1) / (double)ns;
  nde_ode_rhs f = {nde_f, nde_vjp, NULL};
  nde_sens_problem prob = {.f = &f, .solver = solver, .t0 = 0, .t1 = T1, .saveat = saveat,
                           .nsave = ns, .u0 = &u0, .n_params = NP};
  double best = INFINITY;
  for (int k = 0; k < reps; ++k) {
    nde_ode_solution sol;
    nde_sens_stats st;
    be->ops->fill(be->ctx, NDE_FLOAT64, NP, 0.0, dp.data);
    n_eval = n_vjp = 0;
    double t = now();
    if (ops->forward(state, &prob, &sol) ||
        ops->backward(state, &prob, &g, NULL, NULL, &d0, dp.data, &st))
      return fprintf(stderr, "%s\n", nde_last_error()), 1;
    t = now() - t;
    best = fmin(best, t);
    r->fnfe = sol.stats.nfe;
    r->bnfe = st.nfe, r->nvjp = st.nvjp, r->acc = st.accepted, r->rej = st.rejected;
    if (n_vjp != st.nvjp)
      return fprintf(stderr, "VJP count mismatch: %ld counted, %ld reported\n", n_vjp, st.nvjp), 1;
    r->peak = st.peak_bytes;
    nde_ode_solution_clear(&sol);
  }
  r->time = best;
  memcpy(r->du0, d0.data, sizeof r->du0); /* the first sample's */
  memcpy(r->dp, dp.data, sizeof r->dp);
  nde_array_destroy(&u0);
  nde_array_destroy(&g);
  nde_array_destroy(&d0);
  nde_array_destroy(&dp);
  ops->destroy(state);
  nde_options_destroy(&given);
  nde_options_destroy(&o);
  nde_ode_solver_destroy(&solver);
  return 0;
}

static int run_cvodes(double tol, int reps, result *r) {
  SUNContext ctx;
  SUNContext_Create(NULL, &ctx);
  double best = INFINITY;
  for (int k = 0; k < reps; ++k) {
    N_Vector y = N_VNew_Serial(N, ctx), yB = N_VNew_Serial(N, ctx), qB = N_VNew_Serial(NP, ctx);
    memcpy(N_VGetArrayPointer(y), U0B, N * sizeof(double));
    memcpy(N_VGetArrayPointer(yB), G, N * sizeof(double));
    N_VConst(0.0, qB);
    long e0 = n_eval, v0 = n_vjp;
    double t = now();
    void *mem = CVodeCreate(CV_ADAMS, ctx);
    CVodeInit(mem, cv_f, 0.0, y);
    CVodeSStolerances(mem, tol, tol);
    CVodeSetMaxNumSteps(mem, 1000000);
    SUNNonlinearSolver nls = SUNNonlinSol_FixedPoint(y, 0, ctx);
    CVodeSetNonlinearSolver(mem, nls);
    CVodeAdjInit(mem, 50, CV_HERMITE);
    realtype tret;
    int ncheck;
    if (CVodeF(mem, T1, y, &tret, CV_NORMAL, &ncheck) < 0)
      return fprintf(stderr, "CVodeF failed\n"), 1;
    long fe = n_eval - e0;
    int which;
    CVodeCreateB(mem, CV_ADAMS, &which);
    CVodeInitB(mem, which, cv_fB, T1, yB);
    CVodeSStolerancesB(mem, which, tol, tol);
    CVodeSetMaxNumStepsB(mem, which, 1000000);
    SUNNonlinearSolver nlsB = SUNNonlinSol_FixedPoint(yB, 0, ctx);
    CVodeSetNonlinearSolverB(mem, which, nlsB);
    CVodeQuadInitB(mem, which, cv_fQB, qB);
    CVodeSetQuadErrConB(mem, which, SUNTRUE);
    CVodeQuadSStolerancesB(mem, which, tol, tol);
    if (CVodeB(mem, 0.0, CV_NORMAL) < 0)
      return fprintf(stderr, "CVodeB failed\n"), 1;
    CVodeGetB(mem, which, &tret, yB);
    CVodeGetQuadB(mem, which, &tret, qB);
    t = now() - t;
    best = fmin(best, t);
    long nstB = 0, netfB = 0;
    void *memB = CVodeGetAdjCVodeBmem(mem, which);
    CVodeGetNumSteps(memB, &nstB);
    CVodeGetNumErrTestFails(memB, &netfB);
    r->fnfe = fe;
    r->bnfe = n_eval - e0 - fe; /* re-evaluations of f during the backward pass */
    r->nvjp = n_vjp - v0;
    r->acc = nstB;
    r->rej = netfB;
    r->peak = 0;
    memcpy(r->du0, N_VGetArrayPointer(yB), sizeof r->du0);
    memcpy(r->dp, N_VGetArrayPointer(qB), sizeof r->dp);
    SUNNonlinSolFree(nls);
    SUNNonlinSolFree(nlsB);
    CVodeFree(&mem);
    N_VDestroy(y);
    N_VDestroy(yB);
    N_VDestroy(qB);
  }
  r->time = best;
  SUNContext_Free(&ctx);
  return 0;
}

static void row(const char *name, const result *r) {
  printf("| %s | %.3g | %.2f | %ld | %ld | %ld | %ld/%ld | ", name, r->err, r->time * 1e3, r->fnfe,
         r->bnfe, r->nvjp, r->acc, r->rej);
  if (r->peak)
    printf("%.1f |\n", r->peak / 1024.0);
  else
    printf("– |\n");
}

static void header(size_t B, size_t ns) {
  printf("\n#### neural ODE %d → %d → %d (tanh), %d parameters, batch %zu (state %zu), "
         "t in [0, %g], %zu save point%s\n\n",
         N, H, N, NP, B, (size_t)N * B, T1, ns, ns > 1 ? "s (time-series loss)" : " (final state)");
  printf("| method | grad. error | fwd+bwd ms | fwd NFE | bwd NFE | VJPs | bwd steps acc/rej | peak KiB |\n");
  printf("|---|---|---|---|---|---|---|---|\n");
}

int main(void) {
  for (int i = 0; i < NP; ++i) /* fixed pseudo-random weights */
    P[i] = 1.8 / sqrt((double)H) * sin(12.9898 * (i + 1));
  enum { BMAX = 256, SMAX = 20 };
  G = malloc(sizeof *G * N * BMAX * SMAX);
  U0B = malloc(sizeof *U0B * N * BMAX);
  for (int i = 0; i < N * BMAX * SMAX; ++i)
    G[i] = cos(0.7 * i + 0.3);
  for (int b = 0; b < BMAX; ++b)
    for (int i = 0; i < N; ++i)
      U0B[i + b * N] = U0[i] * cos(0.1 * b) + 0.01 * b * sin(i + 1.0);
  if (nde_backend_open(NULL, "cpu", NULL, &be))
    return fprintf(stderr, "%s\n", nde_last_error()), 1;
  static const struct {
    const char *label, *method, *opts;
  } m[] = {
      {"backsolve_adjoint", "backsolve_adjoint", "{}"},
      {"backsolve_adjoint, norm full", "backsolve_adjoint", "{\"norm\": \"full\"}"},
      {"interpolating_adjoint", "interpolating_adjoint", "{}"},
      {"interpolating_adjoint, norm full", "interpolating_adjoint", "{\"norm\": \"full\"}"},
      {"interpolating_adjoint, checkpoints 4", "interpolating_adjoint", "{\"checkpoints\": 4}"},
      {"quadrature_adjoint", "quadrature_adjoint", "{}"},
  };
  static const struct {
    size_t B, ns;
  } cases[] = {{1, 1}, {1, SMAX}, {BMAX, 1}};
  for (size_t cs = 0; cs < sizeof cases / sizeof *cases; ++cs) {
    size_t B = cases[cs].B, ns = cases[cs].ns;
    result ref;
    if (run_nde("interpolating_adjoint", "{}", 1e-12, ns, B, 1, &ref))
      return 1;
    header(B, ns);
    double tols[2] = {1e-6, 1e-8};
    for (int ti = 0; ti < 2; ++ti) {
      for (size_t k = 0; k < sizeof m / sizeof *m; ++k) {
        result r;
        if (run_nde(m[k].method, m[k].opts, tols[ti], ns, B, B > 1 ? 3 : 5, &r))
          return 1;
        r.err = rel_err(&r, &ref);
        char label[96];
        snprintf(label, sizeof label, "%s, tol %g", m[k].label, tols[ti]);
        row(label, &r);
      }
      if (ns == 1 && B == 1) {
        result r;
        if (run_cvodes(tols[ti], 5, &r))
          return 1;
        r.err = rel_err(&r, &ref);
        char label[96];
        snprintf(label, sizeof label, "CVODES adjoint (Adams), tol %g", tols[ti]);
        row(label, &r);
      }
    }
    if (ns == 1 && B == 1) {
      result r;
      if (run_cvodes(1e-12, 1, &r))
        return 1;
      printf("\nCVODES at 1e-12 vs nde's reference (interpolating_adjoint, tsit5 at 1e-12): "
             "relative gradient difference %.2g\n", rel_err(&r, &ref));
    }
  }
  nde_backend_destroy(&be);
  free(G);
  free(U0B);
  return 0;
}
