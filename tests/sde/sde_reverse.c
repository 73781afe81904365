/* Reverse mode through SDE steps (nde_sri_step_reverse, nde_sde_solver_step_reverse) against
   central finite differences: one step (state, parameters, error estimate) and a whole
   fixed-step solve along one fixed Brownian path, for every solver, on GBM and the spiral SDE
   with parameterized C callbacks, float64. */
#include "sde_test_util.h"

/* ---- problems with parameters: drift, diffusion and their vjps on host float64 ---- */

typedef struct prob {
  int spiral;    /* 0: GBM f = a(1 + τt)u, g = b(1 + τt/2)u; 1: spiral (alpha, beta, gamma) */
  double p[3];   /* GBM: a, b; spiral: alpha, beta, gamma */
  int np;
  double tau;    /* GBM time dependence (tests stage times c0, c1) */
} prob;

static nde_status drift(void *ctx, double t, const nde_array *u, nde_array *out) {
  const prob *q = ctx;
  const double *x = u->data;
  double *y = out->data;
  if (!q->spiral) {
    for (size_t i = 0; i < u->size; ++i)
      y[i] = q->p[0] * (1 + q->tau * t) * x[i];
    return NDE_OK;
  }
  for (size_t c = 0; c < u->size / 2; ++c) {
    double a = x[2 * c] * x[2 * c] * x[2 * c], b = x[2 * c + 1] * x[2 * c + 1] * x[2 * c + 1];
    y[2 * c] = -q->p[0] * a - q->p[1] * b;
    y[2 * c + 1] = q->p[1] * a - q->p[0] * b;
  }
  return NDE_OK;
}

static nde_status diffusion(void *ctx, double t, const nde_array *u, nde_array *out) {
  const prob *q = ctx;
  const double *x = u->data;
  double *y = out->data;
  double s = q->spiral ? q->p[2] : q->p[1] * (1 + 0.5 * q->tau * t);
  for (size_t i = 0; i < u->size; ++i)
    y[i] = s * x[i];
  return NDE_OK;
}

static nde_status drift_vjp(void *ctx, double t, const nde_array *u, const nde_array *w,
                            nde_array *w_u, void *w_p) {
  const prob *q = ctx;
  const double *x = u->data, *v = w->data;
  double *g = w_u->data, *gp = w_p;
  if (!q->spiral) {
    double s = q->p[0] * (1 + q->tau * t);
    for (size_t i = 0; i < u->size; ++i) {
      g[i] = s * v[i];
      if (gp)
        gp[0] += (1 + q->tau * t) * v[i] * x[i];
    }
    return NDE_OK;
  }
  for (size_t c = 0; c < u->size / 2; ++c) {
    double u1 = x[2 * c], u2 = x[2 * c + 1], w1 = v[2 * c], w2 = v[2 * c + 1];
    double a = u1 * u1 * u1, b = u2 * u2 * u2;
    g[2 * c] = 3 * u1 * u1 * (-q->p[0] * w1 + q->p[1] * w2);
    g[2 * c + 1] = 3 * u2 * u2 * (-q->p[1] * w1 - q->p[0] * w2);
    if (gp) {
      gp[0] += -w1 * a - w2 * b;
      gp[1] += -w1 * b + w2 * a;
    }
  }
  return NDE_OK;
}

static nde_status diffusion_vjp(void *ctx, double t, const nde_array *u, const nde_array *w,
                                nde_array *w_u, void *w_p) {
  const prob *q = ctx;
  const double *x = u->data, *v = w->data;
  double *g = w_u->data, *gp = w_p;
  double f = q->spiral ? 1.0 : 1 + 0.5 * q->tau * t;
  double s = (q->spiral ? q->p[2] : q->p[1]) * f;
  for (size_t i = 0; i < u->size; ++i) {
    g[i] = s * v[i];
    if (gp)
      gp[q->spiral ? 2 : 1] += f * v[i] * x[i];
  }
  return NDE_OK;
}

static nde_sde_rhs rhs_of(prob *q) {
  return (nde_sde_rhs){.drift = drift, .diffusion = diffusion, .drift_vjp = drift_vjp,
                     .diffusion_vjp = diffusion_vjp, .noise = NDE_NOISE_DIAGONAL, .ctx = q};
}

/* ---- the same problem with kept evaluations (nde_sde_rhs::drift_keep ...) ---- */

/* A kept evaluation: which function, its t and a copy of its input. */
typedef struct kept_eval {
  int diffusion;
  double t;
  nde_array u;
  struct kept_eval *next;
} kept_eval;

typedef struct kept_prob {
  prob *q;
  kept_eval *list;
  int open;                   /* between keep_begin and keep_end */
  long begins, ends, keeps, kept_vjps, plain_vjps;
} kept_prob;

static nde_status k_begin(void *ctx) {
  kept_prob *k = ctx;
  cr_expect(!k->open, "keep_begin twice");
  k->open = 1;
  k->begins++;
  return NDE_OK;
}

static void k_end(void *ctx) {
  kept_prob *k = ctx;
  while (k->list) {
    kept_eval *e = k->list;
    k->list = e->next;
    nde_array_destroy(&e->u);
    free(e);
  }
  k->open = 0;
  k->ends++;
}

static nde_status k_keep(kept_prob *k, int diff, double t, const nde_array *u, nde_array *out,
                         void **kept) {
  cr_assert(k->open, "an evaluation kept outside keep_begin/keep_end");
  kept_eval *e = calloc(1, sizeof *e);
  cr_assert_not_null(e);
  e->diffusion = diff;
  e->t = t;
  e->u = sde_state(u->shape[0], u->size / u->shape[0], 0);
  memcpy(e->u.data, u->data, u->size * sizeof(double));
  e->next = k->list;
  k->list = e;
  k->keeps++;
  *kept = e;
  return diff ? diffusion(k->q, t, u, out) : drift(k->q, t, u, out);
}

static nde_status k_drift_keep(void *ctx, double t, const nde_array *u, nde_array *out,
                               void **kept) {
  return k_keep(ctx, 0, t, u, out, kept);
}

static nde_status k_diffusion_keep(void *ctx, double t, const nde_array *u, nde_array *out,
                                   void **kept) {
  return k_keep(ctx, 1, t, u, out, kept);
}

static nde_status k_kept_vjp(void *ctx, void *kept, const nde_array *w, nde_array *w_u,
                             void *w_p) {
  kept_prob *k = ctx;
  kept_eval *e = kept;
  cr_assert(k->open, "a kept evaluation pulled back after keep_end");
  k->kept_vjps++;
  return e->diffusion ? diffusion_vjp(k->q, e->t, &e->u, w, w_u, w_p)
                      : drift_vjp(k->q, e->t, &e->u, w, w_u, w_p);
}

static nde_status k_drift(void *ctx, double t, const nde_array *u, nde_array *out) {
  return drift(((kept_prob *)ctx)->q, t, u, out);
}
static nde_status k_diffusion(void *ctx, double t, const nde_array *u, nde_array *out) {
  return diffusion(((kept_prob *)ctx)->q, t, u, out);
}
static nde_status k_drift_vjp(void *ctx, double t, const nde_array *u, const nde_array *w,
                              nde_array *w_u, void *w_p) {
  ((kept_prob *)ctx)->plain_vjps++;
  return drift_vjp(((kept_prob *)ctx)->q, t, u, w, w_u, w_p);
}
static nde_status k_diffusion_vjp(void *ctx, double t, const nde_array *u, const nde_array *w,
                                  nde_array *w_u, void *w_p) {
  ((kept_prob *)ctx)->plain_vjps++;
  return diffusion_vjp(((kept_prob *)ctx)->q, t, u, w, w_u, w_p);
}

static nde_sde_rhs kept_rhs_of(kept_prob *k) {
  return (nde_sde_rhs){.drift = k_drift, .diffusion = k_diffusion, .drift_vjp = k_drift_vjp,
                       .diffusion_vjp = k_diffusion_vjp, .noise = NDE_NOISE_DIAGONAL, .ctx = k,
                       .keep_begin = k_begin, .drift_keep = k_drift_keep,
                       .diffusion_keep = k_diffusion_keep, .kept_vjp = k_kept_vjp,
                       .keep_end = k_end};
}

/* ---- one step, forward ---- */

typedef struct noise {
  nde_array dW, chi[3];
} noise;

/* Noise of one step of size h for n components, from Philox (seed), as the integrator forms it. */
static noise make_noise(size_t rows, size_t cols, double h, uint64_t seed) {
  size_t n = rows * cols;
  noise z;
  z.dW = sde_state(rows, cols, 0);
  for (int i = 0; i < 3; ++i)
    z.chi[i] = sde_state(rows, cols, 0);
  double *dw = z.dW.data, *c1 = z.chi[0].data, *c2 = z.chi[1].data, *c3 = z.chi[2].data;
  for (size_t i = 0; i < n; ++i) {
    double w = sqrt(h) * nde_philox_normal(seed, 1, i), dz = sqrt(h) * nde_philox_normal(seed, 2, i);
    dw[i] = w;
    c1[i] = (w * w - h) / (2 * sqrt(h));
    c2[i] = 0.5 * (w + dz / sqrt(3.0));
    c3[i] = (w * w * w - 3 * h * w) / (6 * h);
  }
  return z;
}

static void free_noise(noise *z) {
  nde_array_destroy(&z->dW);
  for (int i = 0; i < 3; ++i)
    nde_array_destroy(&z->chi[i]);
}

/* u1 (and EEst when *eest is wanted) of one step of @p ops from u0. */
static void forward_step(const nde_sde_solver_ops *ops, const nde_sde_rhs *rhs, double t,
                         double h, const nde_array *u0, const noise *z, nde_array *u1,
                         double *eest, double *eigen, double tol) {
  size_t rows = u0->shape[0], cols = u0->ndim > 1 ? u0->shape[1] : 1;
  nde_array k[4], g[4], h0[4], sc[3], err = sde_state(rows, cols, 0);
  for (int i = 0; i < 4; ++i) {
    k[i] = sde_state(rows, cols, 0);
    g[i] = sde_state(rows, cols, 0);
    h0[i] = sde_state(rows, cols, 0);
  }
  for (int i = 0; i < 3; ++i)
    sc[i] = sde_state(rows, cols, 0);
  nde_sde_step st = {.t = t, .dt = h, .u0 = u0, .u1 = u1, .err = ops->adaptive ? &err : NULL,
                     .delta = ops->delta, .dW = &z->dW, .chi1 = &z->chi[0], .chi2 = &z->chi[1],
                     .chi3 = &z->chi[2], .k = k, .g = g, .h0 = h0, .nk = 4, .scratch = sc,
                     .want_eigen = eigen != NULL};
  nde_status s = ops->tableau ? nde_sri_step(ops->tableau, rhs, &st) : ops->step(rhs, &st);
  cr_assert_eq(s, NDE_OK, "%s", nde_last_error());
  if (eest)
    *eest = ops->adaptive ? sde_backend()->ops->wrms_norm(sde_backend()->ctx, NDE_FLOAT64,
                                                          u0->size, err.data, u0->data,
                                                          u1->data, tol, tol)
                          : 0.0;
  if (eigen)
    *eigen = st.eigen_est;
  for (int i = 0; i < 4; ++i) {
    nde_array_destroy(&k[i]);
    nde_array_destroy(&g[i]);
    nde_array_destroy(&h0[i]);
  }
  for (int i = 0; i < 3; ++i)
    nde_array_destroy(&sc[i]);
  nde_array_destroy(&err);
}

static double dot(const double *a, const double *b, size_t n) {
  double s = 0;
  for (size_t i = 0; i < n; ++i)
    s += a[i] * b[i];
  return s;
}

/* L = ⟨c, u1⟩ + w·EEst + we·eigen_est of one step */
static double step_loss(const nde_sde_solver_ops *ops, prob *q, double t, double h,
                        const nde_array *u0, const noise *z, const double *c, double w,
                        double we, double tol) {
  nde_sde_rhs rhs = rhs_of(q);
  nde_array u1 = sde_state(u0->shape[0], u0->size / u0->shape[0], 0);
  double eest = 0, eig = 0;
  forward_step(ops, &rhs, t, h, u0, z, &u1, &eest, &eig, tol);
  double L = dot(c, u1.data, u0->size) + w * eest + (we != 0 ? we * eig : 0.0);
  nde_array_destroy(&u1);
  return L;
}

/* Relative-or-absolute agreement. */
static void expect_close(double got, double want, double tol, const char *what, int i) {
  cr_expect(fabs(got - want) <= tol * (1 + fabs(want)), "%s[%d]: reverse %.15g, FD %.15g", what,
            i, got, want);
}

static void one_step_check(const char *solver, int spiral) {
  nde_sde_solver *s = sde_solver(solver, "{}");
  const nde_sde_solver_ops *ops = s->ops;
  size_t rows = 2, cols = 3, n = rows * cols;
  prob q = spiral ? (prob){1, {0.1, 2.0, 0.2}, 3, 0} : (prob){0, {1.01, 0.87}, 2, 0.7};
  double t = 0.3, h = spiral ? 0.05 : 0.1, tol = 1e-2;
  double w = ops->adaptive ? 0.7 : 0.0;
  double we = ops->stiffness ? 0.3 : 0.0; /* SOSRI2's stiffness estimate */
  nde_array u0 = sde_state(rows, cols, 0);
  double *x = u0.data, c[6];
  for (size_t i = 0; i < n; ++i) {
    x[i] = (spiral ? 1.0 : 0.5) + 0.3 * nde_philox_normal(11, 3, i);
    c[i] = nde_philox_normal(11, 4, i);
  }
  noise z = make_noise(rows, cols, h, 42);

  /* reverse */
  nde_sde_rhs rhs = rhs_of(&q);
  nde_array du1 = sde_state(rows, cols, 0), du0 = sde_state(rows, cols, 0);
  memcpy(du1.data, c, n * sizeof(double));
  int nw = NDE_SDE_REVERSE_WORK(4);
  nde_array work[NDE_SDE_REVERSE_WORK(4)];
  for (int i = 0; i < nw; ++i)
    work[i] = sde_state(rows, cols, 0);
  double dp[3] = {0};
  nde_sde_reverse r = {.t = t, .dt = h, .u0 = &u0, .dW = &z.dW, .chi1 = &z.chi[0],
                       .chi2 = &z.chi[1], .chi3 = &z.chi[2], .delta = ops->delta, .du1 = &du1,
                       .w_eest = w, .abstol = tol, .reltol = tol, .w_eigen = we, .du0 = &du0,
                       .dparams = dp,
                       .work = work, .nwork = nw};
  cr_assert_eq(nde_sde_solver_step_reverse(ops, &rhs, &r), NDE_OK, "%s: %s", solver,
               nde_last_error());
  cr_expect(r.nf_vjp >= 1 && r.ng_vjp >= 1);

  /* the same reverse step with kept evaluations: the same numbers, every stage evaluated
     once and pulled back from that evaluation, never through drift_vjp / diffusion_vjp */
  {
    kept_prob kp = {.q = &q};
    nde_sde_rhs krhs = kept_rhs_of(&kp);
    cr_expect(nde_sde_rhs_keeps(&krhs) && !nde_sde_rhs_keeps(&rhs));
    nde_array kdu0 = sde_state(rows, cols, 0);
    double kdp[3] = {0};
    nde_sde_reverse kr = r;
    kr.du0 = &kdu0;
    kr.dparams = kdp;
    cr_assert_eq(nde_sde_solver_step_reverse(ops, &krhs, &kr), NDE_OK, "%s: %s", solver,
                 nde_last_error());
    cr_expect(memcmp(kdu0.data, du0.data, n * sizeof(double)) == 0 &&
                  memcmp(kdp, dp, sizeof dp) == 0,
              "%s: kept evaluations change the result", solver);
    cr_expect(kp.begins == 1 && kp.ends == 1 && !kp.list, "%s: keep_begin/keep_end unbalanced",
              solver);
    cr_expect_eq(kp.plain_vjps, 0, "%s: %ld pullbacks re-evaluated their stage", solver,
                 kp.plain_vjps);
    cr_expect_eq(kp.kept_vjps, kr.nf_vjp + kr.ng_vjp);
    cr_expect_eq(kp.keeps, kr.nf + kr.ng, "%s: %ld kept evaluations, %ld stage evaluations",
                 solver, kp.keeps, kr.nf + kr.ng);
    nde_array_destroy(&kdu0);
  }
  if (ops->adaptive) {
    double eest, eig;
    nde_array u1 = sde_state(rows, cols, 0);
    forward_step(ops, &rhs, t, h, &u0, &z, &u1, &eest, &eig, tol);
    if (we != 0)
      cr_expect(fabs(r.eigen_est - eig) <= 1e-13 * eig, "%s: recomputed stiffness %g vs %g",
                solver, r.eigen_est, eig);
    cr_expect(fabs(r.eest - eest) <= 1e-14 * eest, "%s: recomputed EEst %g vs %g", solver,
              r.eest, eest);
    cr_expect(eest > 1e-3, "%s: the test needs a visible error estimate (%g)", solver, eest);
    nde_array_destroy(&u1);
  }

  /* central differences in u0 and in the parameters */
  const double *g = du0.data;
  for (size_t i = 0; i < n; ++i) {
    double e = 1e-6 * (1 + fabs(x[i])), keep = x[i];
    x[i] = keep + e;
    double Lp = step_loss(ops, &q, t, h, &u0, &z, c, w, we, tol);
    x[i] = keep - e;
    double Lm = step_loss(ops, &q, t, h, &u0, &z, c, w, we, tol);
    x[i] = keep;
    expect_close(g[i], (Lp - Lm) / (2 * e), 1e-7, solver, (int)i);
  }
  for (int j = 0; j < q.np; ++j) {
    double e = 1e-6 * (1 + fabs(q.p[j])), keep = q.p[j];
    q.p[j] = keep + e;
    double Lp = step_loss(ops, &q, t, h, &u0, &z, c, w, we, tol);
    q.p[j] = keep - e;
    double Lm = step_loss(ops, &q, t, h, &u0, &z, c, w, we, tol);
    q.p[j] = keep;
    expect_close(dp[j], (Lp - Lm) / (2 * e), 1e-7, "dparams", j);
  }
  for (int i = 0; i < nw; ++i)
    nde_array_destroy(&work[i]);
  nde_array_destroy(&du0), nde_array_destroy(&du1), nde_array_destroy(&u0);
  free_noise(&z);
  nde_sde_solver_destroy(&s);
}

/* Call @p fn(name, spiral) on GBM and the spiral for every sde_solver claiming "reverse_step". */
static void each_reversible(void (*fn)(const char *solver, int spiral)) {
  nde_registry *reg = nde_registry_default();
  cr_assert_not_null(reg, "%s", nde_last_error());
  int n = 0;
  for (size_t i = 0; i < nde_registry_count(reg); ++i) {
    const nde_plugin *p = nde_registry_at(reg, i);
    if (nde_plugin_kind_of(p) != NDE_KIND_SDE_SOLVER ||
        !nde_options_bool(nde_plugin_capabilities(p), "reverse_step", 0))
      continue;
    fn(nde_plugin_name(p), 0);
    fn(nde_plugin_name(p), 1);
    ++n;
  }
  cr_expect_gt(n, 0, "no sde_solver claims reverse_step");
}

Test(sde_reverse, one_step_every_reversible_solver) { each_reversible(one_step_check); }

/* ---- a whole fixed-step solve on one Brownian path ---- */

#define MAX_STEPS 64

typedef struct tape {
  size_t n;
  int count;
  double t[MAX_STEPS], dt[MAX_STEPS];
  double *u[MAX_STEPS], *noise[MAX_STEPS]; /* u_n; dW, chi1, chi2, chi3 (4·n) */
} tape;

static nde_status record(void *user, const nde_sde_step *st, double eest) {
  (void)eest;
  tape *tp = user;
  cr_assert(tp->count < MAX_STEPS);
  int k = tp->count++;
  size_t n = tp->n;
  tp->t[k] = st->t;
  tp->dt[k] = st->dt;
  tp->u[k] = malloc(n * sizeof(double));
  tp->noise[k] = calloc(4 * n, sizeof(double));
  memcpy(tp->u[k], st->u0->data, n * sizeof(double));
  memcpy(tp->noise[k], st->dW->data, n * sizeof(double));
  const nde_array *chi[3] = {st->chi1, st->chi2, st->chi3};
  for (int i = 0; i < 3; ++i)
    if (chi[i])
      memcpy(tp->noise[k] + (size_t)(i + 1) * n, chi[i]->data, n * sizeof(double));
  return NDE_OK;
}

/* ⟨c, u(T)⟩ of a fixed-step solve with dt = T/steps on the path (seed 9); records a tape. */
static double solve_loss(nde_sde_solver *s, prob *q, const double *u0v, size_t rows,
                         size_t cols, const double *c, int steps, tape *tp) {
  size_t n = rows * cols;
  nde_array u0 = sde_state(rows, cols, 0);
  memcpy(u0.data, u0v, n * sizeof(double));
  nde_brownian_config bc = {.seed = 9, .t0 = 0, .t1 = 1, .dim = n,
                            .levy_area = s->ops->needs_dz};
  nde_brownian *path = NULL;
  cr_assert_eq(nde_brownian_create(&bc, &path), NDE_OK);
  nde_sde_options o = s->solve;
  o.adaptive = 0;
  o.dt = 1.0 / steps;
  if (tp) {
    o.on_step = record;
    o.user = tp;
  }
  nde_sde_rhs rhs = rhs_of(q);
  nde_sde_solution sol;
  cr_assert_eq(nde_sde_solve(s, &rhs, &o, 0, 1, &u0, path, NULL, 0, &sol), NDE_OK, "%s",
               nde_last_error());
  double L = dot(c, sol.u_final.data, n);
  nde_sde_solution_clear(&sol);
  nde_brownian_destroy(&path);
  nde_array_destroy(&u0);
  return L;
}

static void whole_solve_check(const char *solver, int spiral) {
  nde_sde_solver *s = sde_solver(solver, "{}");
  size_t rows = 2, cols = 2, n = rows * cols;
  int steps = spiral ? 32 : 16;
  prob q = spiral ? (prob){1, {0.1, 2.0, 0.2}, 3, 0} : (prob){0, {1.01, 0.87}, 2, 0.5};
  double u0[4], c[4];
  for (size_t i = 0; i < n; ++i) {
    u0[i] = spiral ? (i % 2 ? 0.3 : 1.5) : 0.5 + 0.1 * (double)i;
    c[i] = 1.0 + 0.25 * (double)i;
  }
  tape tp = {.n = n};
  solve_loss(s, &q, u0, rows, cols, c, steps, &tp);
  cr_assert_eq(tp.count, steps);

  /* the tape's noise is what re-querying the path and nde_sde_noise_expand() give */
  {
    nde_brownian_config bc = {.seed = 9, .t0 = 0, .t1 = 1, .dim = n,
                              .levy_area = s->ops->needs_dz};
    nde_brownian *path = NULL;
    cr_assert_eq(nde_brownian_create(&bc, &path), NDE_OK);
    nde_array e[4];
    for (int i = 0; i < 4; ++i)
      e[i] = sde_state(rows, cols, 0);
    int nz = s->ops->needs_dz;
    for (int k = tp.count - 1; k >= 0; k -= 3) { /* backward, as a reverse sweep queries */
      double dw[4], dz[4];
      cr_assert_eq(nde_brownian_increment(path, tp.t[k], tp.t[k] + tp.dt[k], dw,
                                          nz ? dz : NULL), NDE_OK);
      cr_assert_eq(nde_sde_noise_expand(NDE_NOISE_DIAGONAL, &e[0], tp.dt[k], dw, dz, &e[0],
                                        nz ? &e[1] : NULL, &e[2], &e[3], NULL), NDE_OK, "%s",
                   nde_last_error());
      for (int i = 0; i < (nz ? 4 : 1); ++i)
        cr_expect(memcmp(e[i].data, tp.noise[k] + (size_t)i * n, n * sizeof(double)) == 0,
                  "step %d, noise array %d differs from the recorded one", k, i);
    }
    for (int i = 0; i < 4; ++i)
      nde_array_destroy(&e[i]);
    nde_brownian_destroy(&path);
  }

  /* reverse sweep: λ_N = c, then one reverse step per recorded step */
  nde_sde_rhs rhs = rhs_of(&q);
  nde_array lam = sde_state(rows, cols, 0), lam0 = sde_state(rows, cols, 0);
  nde_array un = sde_state(rows, cols, 0), z[4];
  for (int i = 0; i < 4; ++i)
    z[i] = sde_state(rows, cols, 0);
  int nw = NDE_SDE_REVERSE_WORK(4);
  nde_array work[NDE_SDE_REVERSE_WORK(4)];
  for (int i = 0; i < nw; ++i)
    work[i] = sde_state(rows, cols, 0);
  memcpy(lam.data, c, n * sizeof(double));
  double dp[3] = {0};
  for (int k = tp.count - 1; k >= 0; --k) {
    memcpy(un.data, tp.u[k], n * sizeof(double));
    for (int i = 0; i < 4; ++i)
      memcpy(z[i].data, tp.noise[k] + (size_t)i * n, n * sizeof(double));
    nde_sde_reverse r = {.t = tp.t[k], .dt = tp.dt[k], .u0 = &un, .dW = &z[0],
                         .chi1 = s->ops->needs_dz ? &z[1] : NULL,
                         .chi2 = s->ops->needs_dz ? &z[2] : NULL,
                         .chi3 = s->ops->needs_dz ? &z[3] : NULL, .delta = s->ops->delta,
                         .du1 = &lam, .du0 = &lam0, .dparams = dp, .work = work, .nwork = nw};
    cr_assert_eq(nde_sde_solver_step_reverse(s->ops, &rhs, &r), NDE_OK, "%s",
                 nde_last_error());
    nde_array sw = lam;
    lam = lam0;
    lam0 = sw;
  }
  const double *g = lam.data;
  for (size_t i = 0; i < n; ++i) {
    double e = 1e-6 * (1 + fabs(u0[i])), keep = u0[i];
    u0[i] = keep + e;
    double Lp = solve_loss(s, &q, u0, rows, cols, c, steps, NULL);
    u0[i] = keep - e;
    double Lm = solve_loss(s, &q, u0, rows, cols, c, steps, NULL);
    u0[i] = keep;
    expect_close(g[i], (Lp - Lm) / (2 * e), 1e-7, solver, (int)i);
  }
  for (int j = 0; j < q.np; ++j) {
    double e = 1e-6 * (1 + fabs(q.p[j])), keep = q.p[j];
    q.p[j] = keep + e;
    double Lp = solve_loss(s, &q, u0, rows, cols, c, steps, NULL);
    q.p[j] = keep - e;
    double Lm = solve_loss(s, &q, u0, rows, cols, c, steps, NULL);
    q.p[j] = keep;
    expect_close(dp[j], (Lp - Lm) / (2 * e), 1e-7, "dparams", j);
  }
  for (int k = 0; k < tp.count; ++k)
    free(tp.u[k]), free(tp.noise[k]);
  for (int i = 0; i < nw; ++i)
    nde_array_destroy(&work[i]);
  for (int i = 0; i < 4; ++i)
    nde_array_destroy(&z[i]);
  nde_array_destroy(&lam), nde_array_destroy(&lam0), nde_array_destroy(&un);
  nde_sde_solver_destroy(&s);
}

Test(sde_reverse, solve_every_reversible_solver) { each_reversible(whole_solve_check); }

/* ---- error paths ---- */

Test(sde_reverse, refuses_bad_input) {
  nde_sde_solver *s = sde_solver("sosri", "{}");
  prob q = {0, {1, 1}, 2, 0};
  nde_sde_rhs rhs = rhs_of(&q);
  nde_array u0 = sde_state(2, 1, 1.0), du0 = sde_state(2, 1, 0);
  noise z = make_noise(2, 1, 0.1, 1);
  nde_array work[NDE_SDE_REVERSE_WORK(4)];
  int nw = NDE_SDE_REVERSE_WORK(4);
  for (int i = 0; i < nw; ++i)
    work[i] = sde_state(2, 1, 0);
  nde_sde_reverse r = {.t = 0, .dt = 0.1, .u0 = &u0, .dW = &z.dW, .chi1 = &z.chi[0],
                       .chi2 = &z.chi[1], .chi3 = &z.chi[2], .delta = 1, .du0 = &du0,
                       .work = work, .nwork = nw};
  cr_expect_eq(nde_sde_solver_step_reverse(s->ops, &rhs, &r), NDE_OK, "%s", nde_last_error());
  nde_sde_reverse bad = r;
  bad.nwork = nw - 1;
  cr_expect_eq(nde_sde_solver_step_reverse(s->ops, &rhs, &bad), NDE_EINVAL);
  cr_expect(strstr(nde_last_error(), "work arrays") != NULL, "%s", nde_last_error());
  bad = r;
  bad.chi2 = NULL;
  cr_expect_eq(nde_sde_solver_step_reverse(s->ops, &rhs, &bad), NDE_EINVAL);
  bad = r;
  bad.w_eigen = 1; /* SOSRI has no stiffness estimate */
  cr_expect_eq(nde_sde_solver_step_reverse(s->ops, &rhs, &bad), NDE_EINVAL);
  bad = r;
  bad.dt = 0;
  cr_expect_eq(nde_sde_solver_step_reverse(s->ops, &rhs, &bad), NDE_EINVAL);
  nde_sde_rhs novjp = rhs;
  novjp.diffusion_vjp = NULL;
  cr_expect_eq(nde_sde_solver_step_reverse(s->ops, &novjp, &r), NDE_EINVAL);
  cr_expect(strstr(nde_last_error(), "diffusion_vjp") != NULL, "%s", nde_last_error());
  /* a custom method without step_reverse */
  nde_sde_solver_ops custom = *s->ops;
  custom.tableau = NULL;
  custom.step_reverse = NULL;
  cr_expect_eq(nde_sde_solver_step_reverse(&custom, &rhs, &r), NDE_EUNSUPPORTED);
  /* Euler–Maruyama's tableau is a valid SRI tableau of strong order 1/2: its order-1.5
     conditions fail, the consistency ones (Σα = 1, Σβ1 = 1) hold */
  const nde_sri_tableau *em = nde_sri_tableau_euler_maruyama();
  cr_expect_eq(nde_sri_tableau_validate(em, "euler_maruyama"), NDE_OK);
  double res[NDE_SRI_ORDER_CONDITIONS];
  nde_sri_order_residuals(em, res);
  cr_expect_eq(res[0], 0.0);
  cr_expect_eq(res[1], 0.0);
  for (int i = 0; i < nw; ++i)
    nde_array_destroy(&work[i]);
  nde_array_destroy(&u0), nde_array_destroy(&du0);
  free_noise(&z);
  nde_sde_solver_destroy(&s);
}

/* nde_sde_noise_expand: scalar noise repeats a column's increment down the column. */
Test(sde_reverse, noise_expand_scalar_and_errors) {
  nde_array dW = sde_state(2, 3, 0), c1 = sde_state(2, 3, 0), c2 = sde_state(2, 3, 0),
            c3 = sde_state(2, 3, 0);
  double dw[3] = {0.1, -0.2, 0.3}, dz[3] = {0.05, 0.0, -0.1}, h = 0.04;
  cr_assert_eq(nde_sde_noise_expand(NDE_NOISE_SCALAR, &dW, h, dw, dz, &dW, &c1, &c2, &c3, NULL),
               NDE_OK, "%s", nde_last_error());
  const double *w = dW.data, *x1 = c1.data, *x2 = c2.data, *x3 = c3.data;
  for (size_t i = 0; i < 6; ++i) {
    double v = dw[i / 2], z = dz[i / 2];
    cr_expect_eq(w[i], v);
    cr_expect(fabs(x1[i] - (v * v - h) / (2 * sqrt(h))) < 1e-15);
    cr_expect(fabs(x2[i] - 0.5 * (v + z / sqrt(3.0))) < 1e-15);
    cr_expect(fabs(x3[i] - (v * v * v - 3 * h * v) / (6 * h)) < 1e-15);
  }
  /* general noise: the increments as they are, and no chi terms */
  cr_expect_eq(nde_sde_noise_expand(NDE_NOISE_GENERAL, &dW, h, dw, dz, &c1, &c1, &c2, &c3,
                                    NULL), NDE_EUNSUPPORTED);
  cr_expect_eq(nde_sde_noise_expand(NDE_NOISE_SCALAR, &dW, 0, dw, dz, &dW, NULL, NULL, NULL,
                                    NULL), NDE_EINVAL);
  cr_expect_eq(nde_sde_noise_expand(NDE_NOISE_SCALAR, &dW, h, dw, NULL, &dW, &c1, &c2, &c3,
                                    NULL), NDE_EINVAL);
  nde_array_destroy(&dW), nde_array_destroy(&c1), nde_array_destroy(&c2), nde_array_destroy(&c3);
}
