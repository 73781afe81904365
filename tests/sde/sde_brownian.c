/* The virtual Brownian tree: statistics of W and of the Lévy area, repeatability, order. */
#include "sde_test_util.h"

/* depth < 0: stored mode */
static nde_brownian *make_path(uint64_t seed, size_t dim, int levy, int depth) {
  nde_brownian_config c = {.seed = seed, .stream = 3, .t0 = 0, .t1 = 1, .dim = dim,
                           .levy_area = levy, .depth = depth < 0 ? 0 : depth,
                           .stored = depth < 0};
  nde_brownian *b = NULL;
  cr_assert_eq(nde_brownian_create(&c, &b), NDE_OK, "%s", nde_last_error());
  return b;
}

/* Sample mean/variance/covariance helpers over components. */
static double mean(const double *x, size_t n) {
  double s = 0;
  for (size_t i = 0; i < n; ++i)
    s += x[i];
  return s / n;
}
static double cov(const double *x, const double *y, size_t n) {
  double mx = mean(x, n), my = mean(y, n), s = 0;
  for (size_t i = 0; i < n; ++i)
    s += (x[i] - mx) * (y[i] - my);
  return s / (n - 1);
}

#define N 20000
/* 4.5 standard errors of a variance estimate v from N samples */
#define VTOL(v) (4.5 * (v) * sqrt(2.0 / N))

static void check_moments(int levy, int depth) {
  nde_brownian *b = make_path(7, N, levy, depth);
  /* dyadic and non-dyadic points, queried out of order */
  double ts[5] = {0.7, 0.25, 0.3183, 1.0, 0.61803};
  static double w[5][N];
  for (int i = 0; i < 5; ++i)
    cr_assert_eq(nde_brownian_query(b, ts[i], w[i], NULL), NDE_OK, "%s", nde_last_error());
  for (int i = 0; i < 5; ++i) {
    cr_expect(fabs(mean(w[i], N)) < 4.5 * sqrt(ts[i] / N), "E W(%g) = %g", ts[i],
              mean(w[i], N));
    for (int j = 0; j < 5; ++j) {
      double c = cov(w[i], w[j], N), want = fmin(ts[i], ts[j]);
      cr_expect(fabs(c - want) < VTOL(fmax(ts[i], ts[j])), "Cov(W(%g), W(%g)) = %g, want %g",
                ts[i], ts[j], c, want);
    }
  }
  /* the bridge: regressing W(t) on W(1) gives slope t and residual variance t(1 − t) */
  for (int i = 0; i < 5; ++i) {
    if (ts[i] == 1.0)
      continue;
    double slope = cov(w[i], w[3], N) / cov(w[3], w[3], N);
    double t = ts[i];
    double *r = malloc(N * sizeof *r);
    for (size_t k = 0; k < N; ++k)
      r[k] = w[i][k] - slope * w[3][k];
    double rv = cov(r, r, N);
    free(r);
    cr_expect(fabs(slope - t) < 0.03, "bridge slope at %g: %g", t, slope);
    cr_expect(fabs(rv - t * (1 - t)) < VTOL(t * (1 - t)), "bridge variance at %g: %g, want %g",
              t, rv, t * (1 - t));
  }
  nde_brownian_destroy(&b);
}

Test(sde_brownian, moments_and_bridge_deep_tree) { check_moments(0, 0); }
Test(sde_brownian, moments_and_bridge_with_levy_area) { check_moments(1, 0); }
/* a shallow tree puts the non-dyadic points inside leaves: the leaf bridge is exact too */
Test(sde_brownian, moments_and_bridge_in_leaves) { check_moments(1, 2); }

/* ΔZ over [s, t] is N(0, t − s) and uncorrelated with ΔW; I₁₀ has the right covariance. */
static void check_levy(int depth, double s, double t) {
  nde_brownian *b = make_path(11, N, 1, depth);
  static double dw[N], dz[N];
  cr_assert_eq(nde_brownian_increment(b, s, t, dw, dz), NDE_OK, "%s", nde_last_error());
  double h = t - s;
  cr_expect(fabs(cov(dw, dw, N) - h) < VTOL(h), "Var dW = %g, want %g", cov(dw, dw, N), h);
  cr_expect(fabs(cov(dz, dz, N) - h) < VTOL(h), "Var dZ = %g, want %g", cov(dz, dz, N), h);
  cr_expect(fabs(cov(dw, dz, N)) < 4.5 * h / sqrt(N), "Cov(dW, dZ) = %g", cov(dw, dz, N));
  nde_brownian_destroy(&b);
}

Test(sde_brownian, stored_moments_and_bridge) { check_moments(0, -1); }
Test(sde_brownian, stored_moments_and_bridge_with_levy_area) { check_moments(1, -1); }
Test(sde_brownian, stored_levy_area) { check_levy(-1, 0.1234, 0.4321); }

/* Stored mode: a bridged point between two stored ones has the exact law, Lévy area included */
Test(sde_brownian, stored_bridge_increments) {
  nde_brownian *b = make_path(5, N, 1, -1);
  static double w[N], dw[N], dz[N];
  cr_assert_eq(nde_brownian_query(b, 0.8, w, NULL), NDE_OK);
  /* [0.3, 0.5] now lies inside the stored interval [0, 0.8]: both ends are bridged */
  cr_assert_eq(nde_brownian_increment(b, 0.3, 0.5, dw, dz), NDE_OK);
  double h = 0.2;
  cr_expect(fabs(cov(dw, dw, N) - h) < VTOL(h), "Var dW = %g", cov(dw, dw, N));
  cr_expect(fabs(cov(dz, dz, N) - h) < VTOL(h), "Var dZ = %g", cov(dz, dz, N));
  cr_expect(fabs(cov(dw, dz, N)) < 4.5 * h / sqrt(N), "Cov(dW, dZ) = %g", cov(dw, dz, N));
  cr_expect(fabs(cov(dw, w, N) - h) < VTOL(0.8), "Cov(dW, W(0.8)) = %g", cov(dw, w, N));
  nde_brownian_destroy(&b);
}

Test(sde_brownian, stored_repeatable) {
  double ts[5] = {0.5, 0.9, 0.2, 0.7, 0.2};
  double a[5][3], c[5][3];
  nde_brownian *p = make_path(8, 3, 1, -1), *q = make_path(8, 3, 1, -1);
  for (int i = 0; i < 5; ++i) {
    cr_assert_eq(nde_brownian_query(p, ts[i], a[i], NULL), NDE_OK);
    cr_assert_eq(nde_brownian_query(q, ts[i], c[i], NULL), NDE_OK);
  }
  for (int i = 0; i < 5; ++i)
    for (int k = 0; k < 3; ++k)
      cr_expect_eq(a[i][k], c[i][k], "same queries, same path");
  for (int k = 0; k < 3; ++k)
    cr_expect_eq(a[2][k], a[4][k], "re-query gives the stored value");
  double again[3];
  cr_assert_eq(nde_brownian_query(p, 0.7, again, NULL), NDE_OK);
  for (int k = 0; k < 3; ++k)
    cr_expect_eq(again[k], a[3][k]);
  nde_brownian_destroy(&p);
  nde_brownian_destroy(&q);
}

Test(sde_brownian, levy_area_dyadic) { check_levy(0, 0.25, 0.5); }
Test(sde_brownian, levy_area_arbitrary) { check_levy(0, 0.1234, 0.4321); }
Test(sde_brownian, levy_area_inside_leaves) { check_levy(2, 0.30, 0.6); }
Test(sde_brownian, levy_area_same_leaf_endpoints) { check_levy(3, 0.25, 0.3); }

/* Same (seed, stream): same values, whatever the order and number of queries. */
Test(sde_brownian, repeatable_and_order_independent) {
  size_t n = 5;
  double ts[6] = {0.9, 0.1, 0.55, 0.123456, 1.0, 0.5};
  double a[6][5], ay[6][5], bw[6][5], by[6][5];
  nde_brownian *p = make_path(99, n, 1, 0), *q = make_path(99, n, 1, 0);
  for (int i = 0; i < 6; ++i)
    cr_assert_eq(nde_brownian_query(p, ts[i], a[i], ay[i]), NDE_OK);
  for (int i = 5; i >= 0; --i) {
    double junk[5];
    cr_assert_eq(nde_brownian_query(q, 0.77 * ts[i], junk, NULL), NDE_OK);
    cr_assert_eq(nde_brownian_query(q, ts[i], bw[i], by[i]), NDE_OK);
  }
  for (int i = 0; i < 6; ++i)
    for (size_t c = 0; c < n; ++c) {
      cr_expect_eq(a[i][c], bw[i][c], "W(%g)[%zu] differs between query orders", ts[i], c);
      cr_expect_eq(ay[i][c], by[i][c], "Y(%g)[%zu] differs between query orders", ts[i], c);
    }
  /* re-query the first path: same answers */
  double again[5];
  cr_assert_eq(nde_brownian_query(p, ts[3], again, NULL), NDE_OK);
  for (size_t c = 0; c < n; ++c)
    cr_expect_eq(again[c], a[3][c]);
  /* another stream: other values */
  nde_brownian_config cfg = *nde_brownian_config_of(p);
  cfg.stream = 4;
  nde_brownian *r = NULL;
  cr_assert_eq(nde_brownian_create(&cfg, &r), NDE_OK);
  double other[5];
  cr_assert_eq(nde_brownian_query(r, ts[0], other, NULL), NDE_OK);
  cr_expect_neq(other[0], a[0][0]);
  /* W at t0 is 0; increments telescope */
  double w0[5], d1[5], d2[5], wt[5];
  cr_assert_eq(nde_brownian_query(p, 0.0, w0, NULL), NDE_OK);
  cr_expect_eq(w0[0], 0.0);
  cr_assert_eq(nde_brownian_increment(p, 0.0, 0.3, d1, NULL), NDE_OK);
  cr_assert_eq(nde_brownian_increment(p, 0.3, 0.8, d2, NULL), NDE_OK);
  cr_assert_eq(nde_brownian_query(p, 0.8, wt, NULL), NDE_OK);
  cr_expect(fabs(d1[0] + d2[0] - wt[0]) < 1e-14);
  nde_brownian_destroy(&p);
  nde_brownian_destroy(&q);
  nde_brownian_destroy(&r);
}

Test(sde_brownian, error_paths) {
  nde_brownian *b = NULL;
  nde_brownian_config c = {.t0 = 1, .t1 = 1, .dim = 1};
  cr_expect_eq(nde_brownian_create(&c, &b), NDE_EINVAL);
  c.t1 = 2;
  c.dim = 0;
  cr_expect_eq(nde_brownian_create(&c, &b), NDE_EINVAL);
  c.dim = 1;
  c.depth = 60;
  cr_expect_eq(nde_brownian_create(&c, &b), NDE_EINVAL);
  c.depth = 0;
  cr_assert_eq(nde_brownian_create(&c, &b), NDE_OK);
  double w, y;
  cr_expect_eq(nde_brownian_query(b, 2.5, &w, NULL), NDE_EINVAL);
  cr_expect(strstr(nde_last_error(), "outside") != NULL, "%s", nde_last_error());
  cr_expect_eq(nde_brownian_query(b, 1.5, &w, &y), NDE_EINVAL); /* no Lévy area */
  cr_expect_eq(nde_brownian_increment(b, 1.5, 1.2, &w, NULL), NDE_EINVAL);
  cr_expect_eq(nde_brownian_increment(b, 1.2, 1.5, &w, &y), NDE_EINVAL);
  nde_brownian_destroy(&b);
  nde_brownian_destroy(&b); /* safe twice */
}
