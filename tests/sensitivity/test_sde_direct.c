/*
 * The SDE sensitivities (sde_forward / sde_backward of `direct`,
 * `backsolve_adjoint` and `interpolating_adjoint`) against central finite
 * differences along the same Brownian path with the step sequence frozen:
 * the adaptive solve's step sizes are replayed (nde_sde_options::replay_dt)
 * in every finite-difference solve. The adjoints are also compared with
 * `direct`'s gradient: interpolating_adjoint re-solves the same steps and
 * must agree to rounding, backsolve_adjoint to its inversion tolerance.
 *
 * The SDE, per component i of a (rows × cols) state with row r = i % rows:
 *   f_i = a_r·u_i + b_r·tanh(u_i),   g_i = c_r·u_i + d_r·(1 + t/2),
 * parameters p = (a_0, a_1, b_0, b_1, c_0, c_1, d_0, d_1); diagonal noise,
 * or scalar noise (one Wiener process per column), or general noise with
 * two Wiener processes per column and the ROWS × 2 matrix per column
 *   g_{r0} = c_r·u_r + (1 + t/2)·d_r·u_r²/4,   g_{r1} = d_r·u_{(r+1) % ROWS}
 * (column 1 mixes the rows, so the matrix layout and its pullback matter).
 * Loss L = Σ_s ⟨w_s, u(s)⟩ over save points at t0, between steps and at t1,
 * plus Σ_j ω_j·EEst_j and Σ_j ν_j·(stiffness estimate)_j when tested.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include <nde/nde.h>

#define ROWS 2
#define NP (4 * ROWS)
#define MAXN 8
#define MAXSTEPS 512

/* ---- the parameterized SDE (host float64) ---- */

typedef struct prob {
  double p[NP];
  long nf, ng, nfv, ngv; /* evaluations, for the statistics check */
  int general;           /* general noise (the matrix diffusion above) */
} prob;

static nde_status drift(void *ctx, double t, const nde_array *u, nde_array *out) {
  (void)t;
  prob *q = ctx;
  const double *x = u->data;
  double *y = out->data;
  for (size_t i = 0; i < u->size; ++i)
    y[i] = q->p[i % ROWS] * x[i] + q->p[ROWS + i % ROWS] * tanh(x[i]);
  q->nf++;
  return NDE_OK;
}

/* General noise: the ROWS × 2 matrix per column, column-major (entry (r, k) of column c at r + ROWS·k + 2·ROWS·c). */
static void general_diffusion(const prob *q, double t, const double *x, size_t n, double *y) {
  for (size_t i = 0; i < n; ++i) {
    size_t r = i % ROWS, c = i / ROWS, next = (r + 1) % ROWS + ROWS * c;
    y[r + 2 * ROWS * c] = q->p[2 * ROWS + r] * x[i] + (1 + 0.5 * t) * q->p[3 * ROWS + r] *
                                                     x[i] * x[i] / 4;
    y[r + ROWS + 2 * ROWS * c] = q->p[3 * ROWS + r] * x[next];
  }
}

static void general_diffusion_vjp(const prob *q, double t, const double *x, size_t n,
                                  const double *v, double *g, double *gp) {
  for (size_t i = 0; i < n; ++i)
    g[i] = 0;
  for (size_t i = 0; i < n; ++i) {
    size_t r = i % ROWS, c = i / ROWS, next = (r + 1) % ROWS + ROWS * c;
    double v0 = v[r + 2 * ROWS * c], v1 = v[r + ROWS + 2 * ROWS * c];
    g[i] += v0 * (q->p[2 * ROWS + r] + (1 + 0.5 * t) * q->p[3 * ROWS + r] * x[i] / 2);
    g[next] += v1 * q->p[3 * ROWS + r];
    if (gp) {
      gp[2 * ROWS + r] += v0 * x[i];
      gp[3 * ROWS + r] += v0 * (1 + 0.5 * t) * x[i] * x[i] / 4 + v1 * x[next];
    }
  }
}

static nde_status diffusion(void *ctx, double t, const nde_array *u, nde_array *out) {
  prob *q = ctx;
  const double *x = u->data;
  double *y = out->data;
  if (q->general) {
    general_diffusion(q, t, x, u->size, y);
    q->ng++;
    return NDE_OK;
  }
  for (size_t i = 0; i < u->size; ++i)
    y[i] = q->p[2 * ROWS + i % ROWS] * x[i] + q->p[3 * ROWS + i % ROWS] * (1 + 0.5 * t);
  q->ng++;
  return NDE_OK;
}

static nde_status drift_vjp(void *ctx, double t, const nde_array *u, const nde_array *w,
                            nde_array *w_u, void *w_p) {
  (void)t;
  prob *q = ctx;
  const double *x = u->data, *v = w->data;
  double *g = w_u->data, *gp = w_p;
  for (size_t i = 0; i < u->size; ++i) {
    size_t r = i % ROWS;
    double th = tanh(x[i]);
    g[i] = v[i] * (q->p[r] + q->p[ROWS + r] * (1 - th * th));
    if (gp) {
      gp[r] += v[i] * x[i];
      gp[ROWS + r] += v[i] * th;
    }
  }
  q->nfv++;
  return NDE_OK;
}

static nde_status diffusion_vjp(void *ctx, double t, const nde_array *u, const nde_array *w,
                                nde_array *w_u, void *w_p) {
  prob *q = ctx;
  const double *x = u->data, *v = w->data;
  double *g = w_u->data, *gp = w_p;
  if (q->general) {
    general_diffusion_vjp(q, t, x, u->size, v, g, gp);
    q->ngv++;
    return NDE_OK;
  }
  for (size_t i = 0; i < u->size; ++i) {
    size_t r = i % ROWS;
    g[i] = v[i] * q->p[2 * ROWS + r];
    if (gp) {
      gp[2 * ROWS + r] += v[i] * x[i];
      gp[3 * ROWS + r] += v[i] * (1 + 0.5 * t);
    }
  }
  q->ngv++;
  return NDE_OK;
}

static prob default_prob(void) {
  return (prob){{-0.9, 0.4, 0.7, -0.5, 0.35, 0.25, 0.2, -0.15}, 0, 0, 0, 0, 0};
}

/* ---- plumbing ---- */

static nde_backend *backend(void) {
  static nde_backend *be;
  if (!be)
    cr_assert_eq(nde_backend_open(NULL, "cpu", NULL, &be), NDE_OK, "%s", nde_last_error());
  return be;
}

static nde_array state(size_t rows, size_t cols, const double *x) {
  nde_array a = {0};
  size_t shape[2] = {rows, cols};
  cr_assert_eq(nde_array_create(backend(), NDE_FLOAT64, 2, shape, &a), NDE_OK);
  if (x)
    cr_assert_eq(nde_array_from_doubles(&a, x, rows * cols), NDE_OK);
  else
    backend()->ops->fill(backend()->ctx, NDE_FLOAT64, rows * cols, 0.0, a.data);
  return a;
}

static nde_sde_solver *open_solver(const char *name, const char *json) {
  nde_options *given = NULL;
  cr_assert_eq(nde_options_parse(json, &given), NDE_OK, "%s", nde_last_error());
  nde_sde_solver *s = NULL;
  cr_assert_eq(nde_sde_solver_open(NULL, name, given, "solver", &s), NDE_OK, "%s: %s", name,
               nde_last_error());
  nde_options_destroy(&given);
  return s;
}

typedef struct sens {
  const nde_sensitivity_ops *ops;
  void *state;
} sens;

static sens sens_open(const char *name, const char *json) {
  const nde_plugin *pl = NULL;
  cr_assert_eq(nde_registry_find(NULL, NDE_KIND_SENSITIVITY, name, &pl), NDE_OK, "%s",
               nde_last_error());
  nde_options *given = NULL, *opts = NULL;
  cr_assert_eq(nde_options_parse(json ? json : "{}", &given), NDE_OK);
  cr_assert_eq(nde_plugin_options(pl, given, "sensitivity", &opts), NDE_OK, "%s",
               nde_last_error());
  const void *vt = NULL;
  cr_assert_eq(nde_plugin_load(pl, &vt), NDE_OK, "%s", nde_last_error());
  sens s = {vt, NULL};
  cr_assert(s.ops->capabilities & NDE_SENS_SDE);
  cr_assert(NDE_VTABLE_HAS(s.ops, nde_sensitivity_ops, sde_backward));
  cr_assert_eq(s.ops->create(opts, &s.state), NDE_OK, "%s", nde_last_error());
  nde_options_destroy(&given);
  nde_options_destroy(&opts);
  return s;
}

static nde_brownian *make_path(size_t dim, int stored, uint64_t seed) {
  nde_brownian_config bc = {.seed = seed, .stream = 3, .t0 = 0, .t1 = 1, .dim = dim,
                            .levy_area = 1, .stored = stored};
  nde_brownian *path = NULL;
  cr_assert_eq(nde_brownian_create(&bc, &path), NDE_OK, "%s", nde_last_error());
  return path;
}

/* ---- one case: gradient of the loss against finite differences ---- */

typedef struct sde_case {
  const char *solver, *json;
  nde_sde_noise noise;
  size_t cols;
  int stored;     /* stored-mode path (else the tree) */
  int with_eest;  /* weights on every step's EEst */
  int with_eigen; /* weights on every step's stiffness estimate (SOSRI2) */
} sde_case;

/* The sensitivity under test (NULL: direct), its options, and the largest
   relative difference from direct's gradient it may have. */
typedef struct sens_case {
  const char *sens, *sens_json;
  double vs_direct;
} sens_case;

static const double saveat[] = {0.0, 0.137, 0.41, 0.77, 1.0};
#define NSAVE (sizeof saveat / sizeof saveat[0])

/* Loss of a replayed solve (solver->solve.replay_dt set) from u0 = x with q's parameters. */
static double replay_loss(const nde_sde_solver *solver, prob *q, nde_sde_noise noise,
                          nde_brownian *path, const double *x, size_t cols, const double *wsave,
                          const double *w_eest, const double *w_eig, size_t nsteps,
                          double *u_saved) {
  size_t n = ROWS * cols;
  nde_array u0 = state(ROWS, cols, x);
  nde_sde_rhs rhs = {.drift = drift, .diffusion = diffusion, .drift_vjp = drift_vjp,
                     .diffusion_vjp = diffusion_vjp, .noise = noise, .ctx = q,
                     .brownian_dim = 2};
  nde_sde_solution sol;
  cr_assert_eq(nde_sde_solve(solver, &rhs, NULL, 0, 1, &u0, path, saveat, NSAVE, &sol), NDE_OK,
               "%s", nde_last_error());
  cr_assert_eq(sol.stats.nsteps, nsteps);
  const double *U = sol.u.data;
  double L = 0;
  for (size_t i = 0; i < n * NSAVE; ++i)
    L += wsave[i] * U[i];
  for (size_t j = 0; j < nsteps; ++j) {
    if (w_eest)
      L += w_eest[j] * sol.stats.steps[j].eest;
    if (w_eig)
      L += w_eig[j] * sol.stats.steps[j].eigen_est;
  }
  if (u_saved)
    memcpy(u_saved, U, n * NSAVE * sizeof *U);
  nde_sde_solution_clear(&sol);
  nde_array_destroy(&u0);
  return L;
}

static void check_sens(sde_case c, sens_case c2) {
  nde_sde_solver *solver = open_solver(c.solver, c.json);
  size_t cols = c.cols, n = ROWS * cols;
  cr_assert(n <= MAXN);
  prob q = default_prob();
  q.general = c.noise == NDE_NOISE_GENERAL;
  double x[MAXN], wsave[MAXN * NSAVE];
  for (size_t i = 0; i < n; ++i)
    x[i] = 0.8 + 0.35 * nde_philox_normal(5, 1, i);
  for (size_t i = 0; i < n * NSAVE; ++i)
    wsave[i] = cos(0.7 * (double)i + 0.3);
  nde_array u0 = state(ROWS, cols, x);
  nde_sde_rhs rhs = {.drift = drift, .diffusion = diffusion, .drift_vjp = drift_vjp,
                     .diffusion_vjp = diffusion_vjp, .noise = c.noise, .ctx = &q,
                     .brownian_dim = 2};
  size_t dim = nde_sde_rhs_noise_dim(&rhs, &u0);
  nde_brownian *path = make_path(dim, c.stored, 77);
  nde_sde_sens_problem pb = {.rhs = &rhs, .solver = solver, .path = path, .t0 = 0, .t1 = 1,
                             .saveat = saveat, .nsave = NSAVE, .u0 = &u0, .n_params = NP};
  const char *sname = c2.sens ? c2.sens : "direct";
  sens s = sens_open(sname, c2.sens_json);

  /* forward: the adaptive (or fixed-step) solve itself */
  nde_sde_solution sol;
  cr_assert_eq(s.ops->sde_forward(s.state, &pb, &sol), NDE_OK, "%s: %s", c.solver,
               nde_last_error());
  size_t N = sol.stats.nsteps;
  cr_assert(N >= 6 && N <= MAXSTEPS, "%s: %zu steps", c.solver, N);
  double dts[MAXSTEPS], w_eest[MAXSTEPS], w_eig[MAXSTEPS], forward_u[MAXN * NSAVE];
  int between = 0;
  for (size_t j = 0; j < N; ++j) {
    dts[j] = sol.stats.steps[j].dt;
    w_eest[j] = 0.5 + 0.3 * cos(1.3 * (double)j);
    w_eig[j] = 0.02 * (1 + sin((double)j));
    for (size_t k = 1; k + 1 < NSAVE; ++k)
      between += saveat[k] > sol.stats.steps[j].t &&
                 saveat[k] < sol.stats.steps[j].t + sol.stats.steps[j].dt;
  }
  cr_expect(between >= 2, "%s: the test wants save points between steps (%d)", c.solver,
            between);
  memcpy(forward_u, sol.u.data, n * NSAVE * sizeof(double));
  nde_sde_solution_clear(&sol);

  /* backward */
  nde_array du_save = state(n, NSAVE, wsave), du0 = state(ROWS, cols, NULL);
  double dp[NP] = {0};
  nde_sens_stats stats;
  long nf0 = q.nf + q.ng, nv0 = q.nfv + q.ngv;
  cr_assert_eq(s.ops->sde_backward(s.state, &pb, &du_save, c.with_eest ? w_eest : NULL,
                                   c.with_eigen ? w_eig : NULL, &du0, dp, &stats),
               NDE_OK, "%s: %s", c.solver, nde_last_error());
  cr_expect_eq(stats.nfe, q.nf + q.ng - nf0, "nfe %ld vs %ld", stats.nfe, q.nf + q.ng - nf0);
  cr_expect_eq(stats.nvjp, q.nfv + q.ngv - nv0);
  cr_expect(stats.nvjp >= 2 * (long)N);
  if (!c2.sens)
    cr_expect(stats.peak_bytes >= N * n * sizeof(double));

  /* finite differences with the step sequence frozen (and the same path) */
  solver->solve.replay_dt = dts;
  solver->solve.n_replay = N;
  solver->solve.record_steps = 1;
  solver->solve.stiffness_estimate = c.with_eigen; /* the loss reads the estimates */
  const double *we = c.with_eest ? w_eest : NULL, *wg = c.with_eigen ? w_eig : NULL;
  double replay_u[MAXN * NSAVE];
  replay_loss(solver, &q, c.noise, path, x, cols, wsave, we, wg, N, replay_u);
  double rep = 0;
  for (size_t i = 0; i < n * NSAVE; ++i)
    rep = fmax(rep, fabs(replay_u[i] - forward_u[i]));
  cr_expect(rep < 1e-12, "%s: the replayed solve differs from the adaptive one by %g", c.solver,
            rep);
  double grad[MAXN + NP], fd[MAXN + NP], scale = 0, maxerr = 0;
  memcpy(grad, du0.data, n * sizeof(double));
  memcpy(grad + n, dp, sizeof dp);
  double vs_direct = 0;
  if (c2.sens) { /* direct's gradient on the same problem */
    solver->solve.replay_dt = NULL;
    sens d = sens_open("direct", NULL);
    cr_assert_eq(d.ops->sde_forward(d.state, &pb, &sol), NDE_OK, "%s", nde_last_error());
    nde_sde_solution_clear(&sol);
    nde_array ddu0 = state(ROWS, cols, NULL);
    double ddp[NP] = {0}, dg[MAXN + NP], dscale = 0;
    nde_sens_stats dstats;
    cr_assert_eq(d.ops->sde_backward(d.state, &pb, &du_save, we, wg, &ddu0, ddp, &dstats),
                 NDE_OK, "%s", nde_last_error());
    memcpy(dg, ddu0.data, n * sizeof(double));
    memcpy(dg + n, ddp, sizeof ddp);
    for (size_t k = 0; k < n + NP; ++k)
      dscale = fmax(dscale, fabs(dg[k]));
    for (size_t k = 0; k < n + NP; ++k)
      vs_direct = fmax(vs_direct, fabs(grad[k] - dg[k]) / dscale);
    cr_expect(vs_direct <= c2.vs_direct, "%s: %g from direct's gradient (allowed %g)", sname,
              vs_direct, c2.vs_direct);
    d.ops->destroy(d.state);
    nde_array_destroy(&ddu0);
    solver->solve.replay_dt = dts;
  }
  for (size_t k = 0; k < n + NP; ++k) {
    double *v = k < n ? &x[k] : &q.p[k - n];
    double keep = *v, e = 1e-6 * (1 + fabs(keep));
    *v = keep + e;
    double Lp = replay_loss(solver, &q, c.noise, path, x, cols, wsave, we, wg, N, NULL);
    *v = keep - e;
    double Lm = replay_loss(solver, &q, c.noise, path, x, cols, wsave, we, wg, N, NULL);
    *v = keep;
    fd[k] = (Lp - Lm) / (2 * e);
    scale = fmax(scale, fabs(fd[k]));
  }
  for (size_t k = 0; k < n + NP; ++k) {
    double err = fabs(grad[k] - fd[k]) / fmax(scale, 1e-3);
    maxerr = fmax(maxerr, err);
    cr_expect(err < 2e-7, "%s (%s noise): d%s[%zu]: reverse %.12g, FD %.12g", c.solver,
              nde_sde_noise_name(c.noise), k < n ? "u0" : "p", k < n ? k : k - n, grad[k],
              fd[k]);
  }
  fprintf(stderr, "sde %-21s %-14s %-8s %s eest=%d eig=%d steps=%3zu: max rel FD error %.2e, "
          "vs direct %.2e, backward nfe %ld\n", sname, c.solver, nde_sde_noise_name(c.noise),
          c.stored ? "stored" : "tree  ", c.with_eest, c.with_eigen, N, maxerr, vs_direct,
          stats.nfe);

  s.ops->destroy(s.state);
  nde_array_destroy(&du_save), nde_array_destroy(&du0), nde_array_destroy(&u0);
  nde_brownian_destroy(&path);
  nde_sde_solver_destroy(&solver);
}

static void check_case(sde_case c) { check_sens(c, (sens_case){NULL, NULL, 0}); }

#define ADAPTIVE "{\"abstol\": 0.01, \"reltol\": 0.01}"
#define FIXED "{\"adaptive\": false, \"dt\": 0.0625}"

Test(sde_direct, sosri_diagonal) {
  check_case((sde_case){"sosri", ADAPTIVE, NDE_NOISE_DIAGONAL, 3, 0, 0, 0});
}
Test(sde_direct, sosri2_diagonal_stored_path) {
  check_case((sde_case){"sosri2", ADAPTIVE, NDE_NOISE_DIAGONAL, 3, 1, 0, 0});
}
Test(sde_direct, sri_w1_diagonal) {
  check_case((sde_case){"sri_w1", ADAPTIVE, NDE_NOISE_DIAGONAL, 3, 0, 0, 0});
}
Test(sde_direct, euler_maruyama_diagonal) {
  check_case((sde_case){"euler_maruyama", FIXED, NDE_NOISE_DIAGONAL, 3, 1, 0, 0});
}
Test(sde_direct, euler_maruyama_general) {
  check_case((sde_case){"euler_maruyama", FIXED, NDE_NOISE_GENERAL, 3, 0, 0, 0});
}
Test(sde_direct, euler_maruyama_general_stored_path) {
  check_case((sde_case){"euler_maruyama", FIXED, NDE_NOISE_GENERAL, 2, 1, 0, 0});
}
Test(sde_direct, sosri_scalar) {
  check_case((sde_case){"sosri", ADAPTIVE, NDE_NOISE_SCALAR, 3, 1, 0, 0});
}
Test(sde_direct, sosri2_scalar) {
  check_case((sde_case){"sosri2", ADAPTIVE, NDE_NOISE_SCALAR, 3, 0, 0, 0});
}
Test(sde_direct, sri_w1_scalar) {
  check_case((sde_case){"sri_w1", ADAPTIVE, NDE_NOISE_SCALAR, 3, 0, 0, 0});
}
Test(sde_direct, euler_maruyama_scalar) {
  check_case((sde_case){"euler_maruyama", FIXED, NDE_NOISE_SCALAR, 3, 0, 0, 0});
}
Test(sde_direct, error_estimates_sosri) {
  check_case((sde_case){"sosri", ADAPTIVE, NDE_NOISE_DIAGONAL, 3, 0, 1, 0});
}
Test(sde_direct, error_estimates_sri_w1_scalar) {
  check_case((sde_case){"sri_w1", ADAPTIVE, NDE_NOISE_SCALAR, 3, 1, 1, 0});
}
Test(sde_direct, error_and_stiffness_estimates_sosri2) {
  check_case((sde_case){"sosri2", ADAPTIVE, NDE_NOISE_DIAGONAL, 3, 0, 1, 1});
}

/* ---- the SDE adjoints: the same checks, and agreement with direct ---- */

#define BACKSOLVE(tol) ((sens_case){"backsolve_adjoint", "{\"inversion_tol\": 1e-14}", tol})
#define INTERP(c) ((sens_case){"interpolating_adjoint", "{\"checkpoints\": " #c "}", 1e-13})

Test(sde_backsolve, sosri_diagonal_tree) {
  check_sens((sde_case){"sosri", ADAPTIVE, NDE_NOISE_DIAGONAL, 3, 0, 0, 0}, BACKSOLVE(1e-9));
}
Test(sde_backsolve, sosri2_scalar_with_estimates) {
  check_sens((sde_case){"sosri2", ADAPTIVE, NDE_NOISE_SCALAR, 3, 1, 1, 1}, BACKSOLVE(1e-9));
}
Test(sde_backsolve, sri_w1_diagonal_with_estimates) {
  check_sens((sde_case){"sri_w1", ADAPTIVE, NDE_NOISE_DIAGONAL, 3, 1, 1, 0}, BACKSOLVE(1e-9));
}
Test(sde_backsolve, euler_maruyama_diagonal) {
  check_sens((sde_case){"euler_maruyama", FIXED, NDE_NOISE_DIAGONAL, 3, 0, 0, 0},
             BACKSOLVE(1e-9));
}
Test(sde_interpolating, sosri_diagonal_every_state) {
  check_sens((sde_case){"sosri", ADAPTIVE, NDE_NOISE_DIAGONAL, 3, 0, 0, 0}, INTERP(0));
}
Test(sde_interpolating, sosri2_diagonal_3_checkpoints) {
  check_sens((sde_case){"sosri2", ADAPTIVE, NDE_NOISE_DIAGONAL, 3, 0, 1, 1}, INTERP(3));
}
Test(sde_interpolating, sri_w1_scalar_5_checkpoints) {
  check_sens((sde_case){"sri_w1", ADAPTIVE, NDE_NOISE_SCALAR, 3, 1, 1, 0}, INTERP(5));
}
Test(sde_interpolating, euler_maruyama_1_checkpoint) {
  check_sens((sde_case){"euler_maruyama", FIXED, NDE_NOISE_SCALAR, 3, 0, 0, 0}, INTERP(1));
}

/* ---- the tape: reused across calls, the caller's on_step still called ---- */

static nde_status count_steps(void *user, const nde_sde_step *st, double eest) {
  (void)st, (void)eest;
  ++*(long *)user;
  return NDE_OK;
}

static void reuse_and_chained_hook(const char *sname, const char *sjson) {
  nde_sde_solver *solver = open_solver("sosri", ADAPTIVE);
  long hooked = 0;
  solver->solve.on_step = count_steps;
  solver->solve.user = &hooked;
  sens s = sens_open(sname, sjson);
  prob q = default_prob();
  nde_sde_rhs rhs = {.drift = drift, .diffusion = diffusion, .drift_vjp = drift_vjp,
                     .diffusion_vjp = diffusion_vjp, .noise = NDE_NOISE_DIAGONAL, .ctx = &q};
  double grads[2][MAXN];
  for (int round = 0; round < 3; ++round) {
    size_t cols = round == 1 ? 2 : 3, n = ROWS * cols; /* the tape changes shape and back */
    double x[MAXN], w[MAXN * NSAVE];
    for (size_t i = 0; i < n; ++i)
      x[i] = 0.5 + 0.1 * (double)i;
    for (size_t i = 0; i < n * NSAVE; ++i)
      w[i] = 1.0 / (1.0 + (double)i);
    nde_array u0 = state(ROWS, cols, x), du_save = state(n, NSAVE, w), du0 = state(ROWS, cols,
                                                                                    NULL);
    nde_brownian *path = make_path(n, 0, 11);
    nde_sde_sens_problem pb = {.rhs = &rhs, .solver = solver, .path = path, .t0 = 0, .t1 = 1,
                               .saveat = saveat, .nsave = NSAVE, .u0 = &u0, .n_params = NP};
    nde_sde_solution sol;
    hooked = 0;
    cr_assert_eq(s.ops->sde_forward(s.state, &pb, &sol), NDE_OK, "%s", nde_last_error());
    cr_expect_eq(hooked, sol.stats.accepted, "the caller's on_step ran %ld times for %ld steps",
                 hooked, sol.stats.accepted);
    double dp[NP] = {0};
    nde_sens_stats st;
    cr_assert_eq(s.ops->sde_backward(s.state, &pb, &du_save, NULL, NULL, &du0, dp, &st), NDE_OK,
                 "%s", nde_last_error());
    if (round != 1)
      memcpy(grads[round / 2], du0.data, n * sizeof(double));
    nde_sde_solution_clear(&sol);
    nde_brownian_destroy(&path);
    nde_array_destroy(&u0), nde_array_destroy(&du_save), nde_array_destroy(&du0);
  }
  for (size_t i = 0; i < 6; ++i)
    cr_expect_eq(grads[0][i], grads[1][i], "the same problem twice gives another gradient");
  s.ops->destroy(s.state);
  nde_sde_solver_destroy(&solver);
}

/* ---- error paths ---- */

static void refuses_bad_calls(const char *sname, const char *sjson) {
  nde_sde_solver *solver = open_solver("sosri", ADAPTIVE);
  sens s = sens_open(sname, sjson);
  prob q = default_prob();
  nde_sde_rhs rhs = {.drift = drift, .diffusion = diffusion, .drift_vjp = drift_vjp,
                     .diffusion_vjp = diffusion_vjp, .noise = NDE_NOISE_DIAGONAL, .ctx = &q};
  double x[4] = {0.5, 0.6, 0.7, 0.8}, w[4 * NSAVE] = {0};
  nde_array u0 = state(ROWS, 2, x), du_save = state(4, NSAVE, w), du0 = state(ROWS, 2, NULL);
  nde_array short_save = state(4, NSAVE - 1, NULL);
  nde_brownian *path = make_path(4, 0, 1);
  nde_sde_sens_problem pb = {.rhs = &rhs, .solver = solver, .path = path, .t0 = 0, .t1 = 1,
                             .saveat = saveat, .nsave = NSAVE, .u0 = &u0, .n_params = NP};
  double dp[NP] = {0};
  nde_sens_stats st;

  /* backward before any forward */
  cr_expect_eq(s.ops->sde_backward(s.state, &pb, &du_save, NULL, NULL, &du0, dp, &st),
               NDE_EINVAL);
  cr_expect(strstr(nde_last_error(), "without a successful sde_forward"), "%s",
            nde_last_error());

  /* no save points */
  nde_sde_solution sol;
  nde_sde_sens_problem nosave = pb;
  nosave.saveat = NULL;
  cr_expect_eq(s.ops->sde_forward(s.state, &nosave, &sol), NDE_EINVAL);
  nde_sde_solution_clear(&sol);

  cr_assert_eq(s.ops->sde_forward(s.state, &pb, &sol), NDE_OK, "%s", nde_last_error());
  size_t N = sol.stats.nsteps;
  nde_sde_solution_clear(&sol);

  /* cotangents of the wrong size */
  cr_expect_eq(s.ops->sde_backward(s.state, &pb, &short_save, NULL, NULL, &du0, dp, &st),
               NDE_EINVAL);
  cr_expect(strstr(nde_last_error(), "cotangents"), "%s", nde_last_error());

  /* missing pullbacks */
  nde_sde_rhs novjp = rhs;
  novjp.diffusion_vjp = NULL;
  nde_sde_sens_problem pv = pb;
  pv.rhs = &novjp;
  cr_expect_eq(s.ops->sde_backward(s.state, &pv, &du_save, NULL, NULL, &du0, dp, &st),
               NDE_EINVAL);
  cr_expect(strstr(nde_last_error(), "diffusion_vjp"), "%s", nde_last_error());
  novjp = rhs;
  novjp.drift_vjp = NULL;
  cr_expect_eq(s.ops->sde_backward(s.state, &pv, &du_save, NULL, NULL, &du0, dp, &st),
               NDE_EINVAL);
  cr_expect(strstr(nde_last_error(), "drift_vjp"), "%s", nde_last_error());

  /* a problem that is not the forward's */
  nde_sde_sens_problem other = pb;
  other.t1 = 0.5;
  cr_expect_eq(s.ops->sde_backward(s.state, &other, &du_save, NULL, NULL, &du0, dp, &st),
               NDE_EINVAL);

  /* stiffness weights for a method without a stiffness estimate */
  double *ones = malloc(N * sizeof *ones);
  for (size_t j = 0; j < N; ++j)
    ones[j] = 1;
  cr_expect_eq(s.ops->sde_backward(s.state, &pb, &du_save, NULL, ones, &du0, dp, &st),
               NDE_EINVAL);
  cr_expect(strstr(nde_last_error(), "stiffness"), "%s", nde_last_error());

  /* a failed forward leaves nothing to reverse */
  nde_sde_solver *em = open_solver("euler_maruyama", "{\"adaptive\": false, \"dt\": 0.1}");
  nde_sde_sens_problem pe = pb;
  pe.solver = em;
  cr_assert_eq(s.ops->sde_forward(s.state, &pe, &sol), NDE_OK, "%s", nde_last_error());
  nde_sde_solution_clear(&sol);
  cr_expect_eq(s.ops->sde_backward(s.state, &pe, &du_save, ones, NULL, &du0, dp, &st),
               NDE_EINVAL, "Euler-Maruyama has no error estimate to weight");
  cr_expect(strstr(nde_last_error(), "error estimate"), "%s", nde_last_error());
  em->solve.dt = -1; /* the solve refuses: the tape is invalid afterwards */
  cr_expect_neq(s.ops->sde_forward(s.state, &pe, &sol), NDE_OK);
  nde_sde_solution_clear(&sol);
  cr_expect_eq(s.ops->sde_backward(s.state, &pe, &du_save, NULL, NULL, &du0, dp, &st),
               NDE_EINVAL);

  /* a custom method without a reverse step */
  nde_sde_solver_ops custom = *em->ops;
  custom.step_reverse = NULL;
  em->solve.dt = 0.1;
  const nde_sde_solver_ops *keep = em->ops;
  em->ops = &custom;
  cr_assert_eq(s.ops->sde_forward(s.state, &pe, &sol), NDE_OK, "%s", nde_last_error());
  nde_sde_solution_clear(&sol);
  cr_expect_eq(s.ops->sde_backward(s.state, &pe, &du_save, NULL, NULL, &du0, dp, &st),
               NDE_EUNSUPPORTED);
  em->ops = keep;

  free(ones);
  s.ops->destroy(s.state);
  nde_sde_solver_destroy(&em);
  nde_array_destroy(&u0), nde_array_destroy(&du_save), nde_array_destroy(&du0);
  nde_array_destroy(&short_save);
  nde_brownian_destroy(&path);
  nde_sde_solver_destroy(&solver);
}

Test(sde_direct, reuse_and_chained_hook) { reuse_and_chained_hook("direct", NULL); }
Test(sde_backsolve, reuse_and_chained_hook) { reuse_and_chained_hook("backsolve_adjoint", NULL); }
Test(sde_interpolating, reuse_and_chained_hook) {
  reuse_and_chained_hook("interpolating_adjoint", "{\"checkpoints\": 4}");
}
Test(sde_direct, refuses_bad_calls) { refuses_bad_calls("direct", NULL); }
Test(sde_backsolve, refuses_bad_calls) { refuses_bad_calls("backsolve_adjoint", NULL); }
Test(sde_interpolating, refuses_bad_calls) {
  refuses_bad_calls("interpolating_adjoint", "{\"checkpoints\": 2}");
}

/* ---- memory: what each method keeps as the number of steps grows ---- */

/* peak_bytes of one forward/backward pair with @p steps fixed Euler–Maruyama steps */
static size_t peak_for_ex(const char *sname, const char *sjson, size_t steps, size_t cols,
                          int expect_limit) {
  char json[128];
  snprintf(json, sizeof json, "{\"adaptive\": false, \"dt\": %.17g}", 1.0 / (double)steps);
  nde_sde_solver *solver = open_solver("euler_maruyama", json);
  sens s = sens_open(sname, sjson);
  prob q = default_prob();
  nde_sde_rhs rhs = {.drift = drift, .diffusion = diffusion, .drift_vjp = drift_vjp,
                     .diffusion_vjp = diffusion_vjp, .noise = NDE_NOISE_DIAGONAL, .ctx = &q};
  size_t n = ROWS * cols;
  double *x = malloc(n * sizeof *x), *w = malloc(n * NSAVE * sizeof *w);
  for (size_t i = 0; i < n; ++i)
    x[i] = 0.5 + 0.01 * (double)i;
  for (size_t i = 0; i < n * NSAVE; ++i)
    w[i] = 1.0;
  nde_array u0 = state(ROWS, cols, x), du_save = state(n, NSAVE, w), du0 = state(ROWS, cols, NULL);
  nde_brownian *path = make_path(n, 0, 5);
  nde_sde_sens_problem pb = {.rhs = &rhs, .solver = solver, .path = path, .t0 = 0, .t1 = 1,
                             .saveat = saveat, .nsave = NSAVE, .u0 = &u0, .n_params = NP};
  nde_sde_solution sol;
  nde_sens_stats st = {0};
  nde_status fs = s.ops->sde_forward(s.state, &pb, &sol);
  nde_sde_solution_clear(&sol);
  if (expect_limit) {
    cr_expect_eq(fs, NDE_ELIMIT, "%s: a tape over max_tape_mb gives %d", sname, (int)fs);
    cr_expect(strstr(nde_last_error(), "max_tape_mb"), "%s", nde_last_error());
  } else {
    cr_assert_eq(fs, NDE_OK, "%s", nde_last_error());
    double dp[NP] = {0};
    cr_assert_eq(s.ops->sde_backward(s.state, &pb, &du_save, NULL, NULL, &du0, dp, &st),
                 NDE_OK, "%s: %s", sname, nde_last_error());
  }
  s.ops->destroy(s.state);
  nde_brownian_destroy(&path);
  nde_array_destroy(&u0), nde_array_destroy(&du_save), nde_array_destroy(&du0);
  nde_sde_solver_destroy(&solver);
  free(x), free(w);
  return st.peak_bytes;
}

static size_t peak_for(const char *sname, const char *sjson, size_t steps, size_t cols) {
  return peak_for_ex(sname, sjson, steps, cols, 0);
}

Test(sde_memory, direct_refuses_a_tape_over_max_tape_mb) {
  /* 1024 states of 2 x 256 doubles: 4 MiB of tape against a 1 MiB limit */
  peak_for_ex("direct", "{\"max_tape_mb\": 1}", 1024, 256, 1);
}

Test(sde_memory, backsolve_flat_direct_grows) {
  size_t cols = 256, state_bytes = ROWS * cols * sizeof(double);
  size_t d1 = peak_for("direct", NULL, 64, cols), d2 = peak_for("direct", NULL, 1024, cols);
  size_t b1 = peak_for("backsolve_adjoint", NULL, 64, cols);
  size_t b2 = peak_for("backsolve_adjoint", NULL, 1024, cols);
  size_t i1 = peak_for("interpolating_adjoint", "{\"checkpoints\": 32}", 64, cols);
  size_t i2 = peak_for("interpolating_adjoint", "{\"checkpoints\": 32}", 1024, cols);
  fprintf(stderr, "peak bytes 64 -> 1024 steps: direct %zu -> %zu, backsolve %zu -> %zu, "
          "interpolating(32) %zu -> %zu\n", d1, d2, b1, b2, i1, i2);
  cr_expect(d2 - d1 >= 900 * state_bytes, "direct keeps every step's state");
  /* backsolve: only the step sequence (16 bytes a step) grows, no state */
  cr_expect(b2 - b1 <= 16 * 2048, "backsolve grew by %zu bytes", b2 - b1);
  cr_expect(b2 < 64 * state_bytes, "backsolve holds %zu bytes (%zu states)", b2,
            b2 / state_bytes);
  /* interpolating: 32 checkpoints + a segment of < 2·1024/32 states + the work */
  cr_expect(i2 <= (32 + 64 + 64) * state_bytes + 16 * 2048, "interpolating holds %zu states",
            i2 / state_bytes);
}

/* ---- backsolve: an inversion that cannot converge is an error, not a wrong gradient ---- */

Test(sde_backsolve, inversion_limit) {
  nde_sde_solver *solver = open_solver("sosri", ADAPTIVE);
  sens s = sens_open("backsolve_adjoint", "{\"inversion_tol\": 1e-15, \"inversion_iters\": 1}");
  prob q = default_prob();
  nde_sde_rhs rhs = {.drift = drift, .diffusion = diffusion, .drift_vjp = drift_vjp,
                     .diffusion_vjp = diffusion_vjp, .noise = NDE_NOISE_DIAGONAL, .ctx = &q};
  double x[6] = {0.5, 0.6, 0.7, 0.8, 0.9, 1.0}, w[6 * NSAVE];
  for (size_t i = 0; i < 6 * NSAVE; ++i)
    w[i] = 1;
  nde_array u0 = state(ROWS, 3, x), du_save = state(6, NSAVE, w), du0 = state(ROWS, 3, NULL);
  nde_brownian *path = make_path(6, 0, 9);
  nde_sde_sens_problem pb = {.rhs = &rhs, .solver = solver, .path = path, .t0 = 0, .t1 = 1,
                             .saveat = saveat, .nsave = NSAVE, .u0 = &u0, .n_params = NP};
  nde_sde_solution sol;
  cr_assert_eq(s.ops->sde_forward(s.state, &pb, &sol), NDE_OK, "%s", nde_last_error());
  nde_sde_solution_clear(&sol);
  double dp[NP] = {0};
  nde_sens_stats st;
  cr_expect_eq(s.ops->sde_backward(s.state, &pb, &du_save, NULL, NULL, &du0, dp, &st),
               NDE_ENOCONV);
  cr_expect(strstr(nde_last_error(), "backsolve_adjoint") &&
                strstr(nde_last_error(), "inverting the SDE step"), "%s", nde_last_error());
  s.ops->destroy(s.state);
  nde_brownian_destroy(&path);
  nde_array_destroy(&u0), nde_array_destroy(&du_save), nde_array_destroy(&du0);
  nde_sde_solver_destroy(&solver);
}
