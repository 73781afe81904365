/* The spiral_sde dataset: shapes and layouts, seeded reproducibility, its mean and variance
   against an independent Monte-Carlo estimate (Euler–Maruyama with a much finer step and
   other random numbers, written here), and bad options. */
#include "sde_test_util.h"

static nde_status open_ds(const char *json, const char *split, uint64_t seed, nde_dataset **ds) {
  *ds = NULL;
  return nde_dataset_open(NULL, "spiral_sde", json, split, seed, "data", ds);
}

static nde_dataset *must_open(const char *json, const char *split, uint64_t seed) {
  nde_dataset *ds;
  cr_assert_eq(open_ds(json, split, seed, &ds), NDE_OK, "%s", nde_last_error());
  return ds;
}

/* The series (4·points values) of a "series" dataset. */
static double *series(nde_dataset *ds, size_t points) {
  nde_dataset_info info;
  nde_dataset_get_info(ds, &info);
  cr_assert_eq(info.count, 1);
  cr_assert_eq(info.input_size, 2);
  cr_assert_eq(info.target_size, 4 * points);
  double *y = malloc(4 * points * sizeof *y), x[2];
  nde_dataset_sample(ds, 0, x, y);
  return y;
}

Test(spiral_sde, shapes_and_layouts) {
  nde_dataset *ds = must_open("{\"trajectories\": 300}", "train", 1);
  double *y = series(ds, 30), x[2];
  nde_dataset_sample(ds, 0, x, y);
  cr_expect_eq(x[0], 2.0);
  cr_expect_eq(x[1], 0.0);
  /* t = 0: every trajectory is at u0, so mean u0 and variance 0 */
  cr_expect_eq(y[0], 2.0);
  cr_expect_eq(y[1], 0.0);
  cr_expect_eq(y[2], 0.0);
  cr_expect_eq(y[3], 0.0);
  for (size_t p = 1; p < 30; ++p)
    cr_expect(y[4 * p + 2] > 0 && y[4 * p + 3] > 0, "variance at point %zu", p);
  nde_dataset *dp = must_open("{\"trajectories\": 300, \"layout\": \"points\"}", "train", 1);
  nde_dataset_info info;
  nde_dataset_get_info(dp, &info);
  cr_expect_eq(info.count, 30);
  cr_expect_eq(info.input_size, 1);
  cr_expect_eq(info.target_size, 4);
  for (size_t p = 0; p < 30; ++p) {
    double t, z[4];
    nde_dataset_sample(dp, p, &t, z);
    cr_expect(fabs(t - (double)p / 29) < 1e-15, "t[%zu] = %g", p, t);
    for (int i = 0; i < 4; ++i)
      cr_expect_eq(z[i], y[4 * p + (size_t)i], "the layouts hold the same numbers");
  }
  /* batches through the core batcher: (4·30, 1) targets */
  nde_array in = sde_state(2, 1, 0), tg = sde_state(120, 1, 0);
  uint64_t idx = 0;
  cr_expect_eq(nde_dataset_batch(ds, &idx, 1, &in, &tg), NDE_OK, "%s", nde_last_error());
  cr_expect_eq(((double *)tg.data)[119], y[119]);
  nde_array_destroy(&in), nde_array_destroy(&tg);
  free(y);
  nde_dataset_destroy(&ds);
  nde_dataset_destroy(&dp);
}

Test(spiral_sde, seeded_and_reproducible) {
  const char *json = "{\"trajectories\": 500, \"points\": 11}";
  nde_dataset *a = must_open(json, "train", 7), *b = must_open(json, "train", 7);
  nde_dataset *c = must_open(json, "train", 8), *d = must_open(json, "test", 7);
  double *ya = series(a, 11), *yb = series(b, 11), *yc = series(c, 11), *yd = series(d, 11);
  cr_expect(memcmp(ya, yb, 44 * sizeof *ya) == 0, "same seed and split: identical data");
  int diff_seed = 0, diff_split = 0;
  for (int i = 4; i < 44; ++i) {
    diff_seed |= ya[i] != yc[i];
    diff_split |= ya[i] != yd[i];
  }
  cr_expect(diff_seed, "another seed gives other paths");
  cr_expect(diff_split, "train and test use different noise");
  free(ya), free(yb), free(yc), free(yd);
  nde_dataset_destroy(&a), nde_dataset_destroy(&b), nde_dataset_destroy(&c), nde_dataset_destroy(&d);
}

/* Independent Monte Carlo: Euler–Maruyama on the tutorial's SDE with 64 steps per interval,
   Philox normals of another key; mean, variance and the standard errors of both. */
static void monte_carlo(size_t N, size_t points, double *mean, double *var, double *se_m,
                        double *se_v) {
  const int sub = 64;
  double h = 1.0 / (double)(points - 1) / sub, sh = sqrt(h);
  double *s1 = calloc(2 * points, sizeof *s1), *s2 = calloc(2 * points, sizeof *s2);
  double *s3 = calloc(2 * points, sizeof *s3), *s4 = calloc(2 * points, sizeof *s4);
  for (size_t j = 0; j < N; ++j) {
    double u[2] = {2.0, 0.0};
    uint64_t ctr = 0;
    for (size_t p = 0; p < points; ++p) {
      if (p > 0)
        for (int k = 0; k < sub; ++k) {
          double a = u[0] * u[0] * u[0], b = u[1] * u[1] * u[1];
          double f0 = -0.1 * a - 2.0 * b, f1 = 2.0 * a - 0.1 * b;
          double w0 = sh * nde_philox_normal(1234, j, ctr++);
          double w1 = sh * nde_philox_normal(1234, j, ctr++);
          u[0] += h * f0 + 0.2 * u[0] * w0;
          u[1] += h * f1 + 0.2 * u[1] * w1;
        }
      for (int c = 0; c < 2; ++c) {
        double x = u[c];
        s1[2 * p + c] += x;
        s2[2 * p + c] += x * x;
        s3[2 * p + c] += x * x * x;
        s4[2 * p + c] += x * x * x * x;
      }
    }
  }
  for (size_t i = 0; i < 2 * points; ++i) {
    double m = s1[i] / N, e2 = s2[i] / N, e3 = s3[i] / N, e4 = s4[i] / N;
    double v = e2 - m * m;
    double m4 = e4 - 4 * m * e3 + 6 * m * m * e2 - 3 * m * m * m * m; /* central 4th moment */
    mean[i] = m;
    var[i] = v * N / (N - 1);
    se_m[i] = sqrt(v / N);
    se_v[i] = sqrt(fmax(m4 - v * v, 0) / N);
  }
  free(s1), free(s2), free(s3), free(s4);
}

/* Compare a dataset's series with the Monte Carlo at 5 standard errors of the difference. */
static void expect_matches(const double *y, size_t P, const double *mean, const double *var,
                           const double *se_m, const double *se_v, const char *what) {
  double worst = 0;
  for (size_t p = 1; p < P; ++p)
    for (int c = 0; c < 2; ++c) {
      size_t i = 2 * p + (size_t)c;
      /* two independent estimates: difference ~ N(0, 2·se²); 5 standard errors + step bias */
      double zm = fabs(y[4 * p + (size_t)c] - mean[i]) / (sqrt(2.0) * se_m[i] + 2e-3);
      double zv = fabs(y[4 * p + 2 + (size_t)c] - var[i]) / (sqrt(2.0) * se_v[i] + 2e-4);
      worst = fmax(worst, fmax(zm, zv));
      cr_expect(zm < 5, "%s: mean[%zu][%d]: dataset %g, Monte Carlo %g (se %g)", what, p, c,
                y[4 * p + (size_t)c], mean[i], se_m[i]);
      cr_expect(zv < 5, "%s: var[%zu][%d]: dataset %g, Monte Carlo %g (se %g)", what, p, c,
                y[4 * p + 2 + (size_t)c], var[i], se_v[i]);
    }
  cr_log_info("%s: worst standardized difference %.2f", what, worst);
}

Test(spiral_sde, moments_match_an_independent_monte_carlo) {
  size_t N = 3000, P = 30;
  double mean[60], var[60], se_m[60], se_v[60];
  monte_carlo(N, P, mean, var, se_m, se_v);
  /* the default (SOSRI, 32 substeps) and a high-accuracy setting (SOSRI2, 128 substeps) */
  nde_dataset *ds = must_open("{\"trajectories\": 3000}", "train", 3);
  double *y = series(ds, P);
  expect_matches(y, P, mean, var, se_m, se_v, "sosri/32");
  /* the spiral turns counter-clockwise (du2 = +2u1^3 ...): u2's mean rises first */
  cr_expect(y[4 * 3 + 1] > 0.1, "mean u2 at t = 3/29: %g", y[4 * 3 + 1]);
  nde_dataset *hi = must_open("{\"trajectories\": 1500, \"solver\": \"sosri2\", "
                              "\"substeps\": 128}", "test", 3);
  double *yh = series(hi, P);
  expect_matches(yh, P, mean, var, se_m, se_v, "sosri2/128");
  free(y), free(yh);
  nde_dataset_destroy(&ds), nde_dataset_destroy(&hi);
}

Test(spiral_sde, bad_options) {
  nde_dataset *ds;
  cr_expect_neq(open_ds("{\"u0\": [1, 2, 3]}", "train", 0, &ds), NDE_OK);
  cr_expect(strstr(nde_last_error(), "u0") != NULL, "%s", nde_last_error());
  cr_expect_neq(open_ds("{\"points\": 1}", "train", 0, &ds), NDE_OK);
  cr_expect_neq(open_ds("{\"trajectories\": 1}", "train", 0, &ds), NDE_OK);
  cr_expect_neq(open_ds("{\"solver\": \"sosr\"}", "train", 0, &ds), NDE_OK);
  cr_expect_neq(open_ds("{\"t1\": 0}", "train", 0, &ds), NDE_OK);
  cr_expect_neq(open_ds("{\"layout\": \"grid\"}", "train", 0, &ds), NDE_OK);
  cr_expect_neq(open_ds("{\"trajectories\": 10}", "valid", 0, &ds), NDE_OK);
  cr_expect(strstr(nde_last_error(), "split") != NULL, "%s", nde_last_error());
  cr_expect_neq(open_ds("{\"points\": 100000, \"substeps\": 100000}", "train", 0, &ds), NDE_OK);
  /* a blow-up is an error, not NaN data: u0 far out with one coarse Euler–Maruyama step */
  cr_expect_eq(open_ds("{\"u0\": [1e6, 0], \"trajectories\": 4, \"points\": 2, \"substeps\": 4, "
                       "\"solver\": \"euler_maruyama\"}", "train", 0, &ds), NDE_ENONFINITE,
               "%s", nde_last_error());
  cr_expect(ds == NULL);
}
