/*
 * The cpu backend's operations against naive loops, in float32 and float64,
 * for sizes that are and are not multiples of the vector width, and one
 * large enough to take the OpenMP path.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include <nde/nde.h>

static nde_backend *be;
static const size_t sizes[] = {1, 3, 7, 8, 33, 100, 40001};
#define N_SIZES (sizeof sizes / sizeof sizes[0])

static void setup(void) {
  nde_status st = nde_backend_open(NULL, "cpu", NULL, &be);
  cr_assert_eq(st, NDE_OK, "cannot open cpu backend: %s", nde_last_error());
}

static void teardown(void) { nde_backend_destroy(&be); }

TestSuite(backend, .init = setup, .fini = teardown);

/* A host vector of reproducible values in [-2, 2]. */
static double *host_values(size_t n, uint64_t stream) {
  double *v = malloc(n * sizeof *v);
  for (size_t i = 0; i < n; ++i)
    v[i] = 4 * nde_philox_uniform(11, stream, i) - 2;
  return v;
}

static nde_array make(nde_dtype dt, size_t n, const double *values) {
  nde_array a;
  size_t shape[1] = {n};
  cr_assert_eq(nde_array_create(be, dt, 1, shape, &a), NDE_OK);
  if (values)
    cr_assert_eq(nde_array_from_doubles(&a, values, n), NDE_OK);
  return a;
}

static double *fetch(const nde_array *a) {
  double *v = malloc(a->size * sizeof *v + 1);
  cr_assert_eq(nde_array_to_doubles(a, v, a->size), NDE_OK);
  return v;
}

static double tol(nde_dtype dt) { return dt == NDE_FLOAT32 ? 2e-5 : 1e-13; }

static void expect_close(const double *got, const double *want, size_t n, double rtol,
                         const char *what, nde_dtype dt) {
  for (size_t i = 0; i < n; ++i) {
    double scale = 1 + fabs(want[i]);
    cr_expect(fabs(got[i] - want[i]) <= rtol * scale, "%s (%s, n=%zu) [%zu]: got %.17g want %.17g",
              what, nde_dtype_name(dt), n, i, got[i], want[i]);
  }
}

/* Round a value to the dtype, as the array stores it. */
static double as_dtype(nde_dtype dt, double v) { return dt == NDE_FLOAT32 ? (float)v : v; }

Test(backend, vector_ops_match_naive_loops) {
  for (int d = 0; d < 2; ++d) {
    nde_dtype dt = d ? NDE_FLOAT64 : NDE_FLOAT32;
    for (size_t s = 0; s < N_SIZES; ++s) {
      size_t n = sizes[s];
      double *x = host_values(n, 1), *y = host_values(n, 2), *z = host_values(n, 3);
      for (size_t i = 0; i < n; ++i) {
        x[i] = as_dtype(dt, x[i]);
        y[i] = as_dtype(dt, y[i]);
        z[i] = as_dtype(dt, z[i]);
      }
      double *want = malloc(n * sizeof *want);
      nde_array ax = make(dt, n, x), ay = make(dt, n, y), az = make(dt, n, z);

      /* axpy */
      be->ops->axpy(be->ctx, dt, n, 0.5, ax.data, ay.data);
      for (size_t i = 0; i < n; ++i)
        want[i] = y[i] + 0.5 * x[i];
      double *got = fetch(&ay);
      expect_close(got, want, n, tol(dt), "axpy", dt);
      free(got);

      /* axpby */
      nde_array_from_doubles(&ay, y, n);
      be->ops->axpby(be->ctx, dt, n, -1.5, ax.data, 0.25, ay.data);
      for (size_t i = 0; i < n; ++i)
        want[i] = -1.5 * x[i] + 0.25 * y[i];
      got = fetch(&ay);
      expect_close(got, want, n, tol(dt), "axpby", dt);
      free(got);

      /* lincomb with a zero coefficient (NULL operand) and aliasing of y */
      nde_array_from_doubles(&ay, y, n);
      double c[4] = {0.3, 0, -2.0, 1.25};
      const void *xs[4] = {ax.data, NULL, az.data, ay.data};
      be->ops->lincomb(be->ctx, dt, n, 4, c, xs, 0.5, ay.data);
      for (size_t i = 0; i < n; ++i)
        want[i] = 0.5 * y[i] + 0.3 * x[i] - 2.0 * z[i] + 1.25 * y[i];
      got = fetch(&ay);
      expect_close(got, want, n, tol(dt), "lincomb", dt);
      free(got);

      /* lincomb with more terms than one fused pass takes */
      double c20[20];
      const void *x20[20];
      for (int j = 0; j < 20; ++j) {
        c20[j] = 0.1 * (j + 1);
        x20[j] = j % 2 ? ax.data : az.data;
      }
      be->ops->lincomb(be->ctx, dt, n, 20, c20, x20, 0, ay.data);
      for (size_t i = 0; i < n; ++i) {
        want[i] = 0;
        for (int j = 0; j < 20; ++j)
          want[i] += c20[j] * (j % 2 ? x[i] : z[i]);
      }
      got = fetch(&ay);
      expect_close(got, want, n, 5 * tol(dt), "lincomb20", dt);
      free(got);

      /* mul, scale, fill */
      be->ops->mul(be->ctx, dt, n, ax.data, az.data, ay.data);
      for (size_t i = 0; i < n; ++i)
        want[i] = x[i] * z[i];
      got = fetch(&ay);
      expect_close(got, want, n, tol(dt), "mul", dt);
      free(got);
      be->ops->scale(be->ctx, dt, n, -3, ay.data);
      for (size_t i = 0; i < n; ++i)
        want[i] *= -3;
      got = fetch(&ay);
      expect_close(got, want, n, tol(dt), "scale", dt);
      free(got);
      be->ops->fill(be->ctx, dt, n, 2.5, ay.data);
      for (size_t i = 0; i < n; ++i)
        want[i] = 2.5;
      got = fetch(&ay);
      expect_close(got, want, n, 0, "fill", dt);
      free(got);

      /* reductions */
      double dot = 0, nrm = 0, amax = 0, sum = 0, wrms = 0, wrms1 = 0;
      for (size_t i = 0; i < n; ++i) {
        dot += x[i] * z[i];
        nrm += x[i] * x[i];
        amax = fmax(amax, fabs(z[i]));
        sum += z[i];
        double sc = 1e-3 + 1e-2 * fmax(fabs(x[i]), fabs(y[i]));
        wrms += (z[i] / sc) * (z[i] / sc);
        double sc1 = 1e-3 + 1e-2 * fabs(x[i]);
        wrms1 += (z[i] / sc1) * (z[i] / sc1);
      }
      nrm = sqrt(nrm);
      wrms = sqrt(wrms / n);
      wrms1 = sqrt(wrms1 / n);
      nde_array_from_doubles(&ay, y, n);
      double r = 10 * tol(dt);
      cr_expect(fabs(be->ops->dot(be->ctx, dt, n, ax.data, az.data) - dot) <= r * (1 + fabs(dot)));
      cr_expect(fabs(be->ops->norm2(be->ctx, dt, n, ax.data) - nrm) <= r * (1 + nrm));
      cr_expect_eq(be->ops->norm_inf(be->ctx, dt, n, az.data), amax);
      cr_expect(fabs(be->ops->sum(be->ctx, dt, n, az.data) - sum) <= r * (1 + fabs(sum)));
      double w = be->ops->wrms_norm(be->ctx, dt, n, az.data, ax.data, ay.data, 1e-3, 1e-2);
      cr_expect(fabs(w - wrms) <= r * wrms, "wrms %g vs %g", w, wrms);
      double w1 = be->ops->wrms_norm(be->ctx, dt, n, az.data, ax.data, NULL, 1e-3, 1e-2);
      cr_expect(fabs(w1 - wrms1) <= r * wrms1, "wrms(u1=NULL) %g vs %g", w1, wrms1);
      cr_expect(be->ops->all_finite(be->ctx, dt, n, az.data));

      nde_array_destroy(&ax);
      nde_array_destroy(&ay);
      nde_array_destroy(&az);
      free(x);
      free(y);
      free(z);
      free(want);
    }
  }
}

Test(backend, norm_inf_and_all_finite_see_nan_and_inf) {
  for (int d = 0; d < 2; ++d) {
    nde_dtype dt = d ? NDE_FLOAT64 : NDE_FLOAT32;
    double v[5] = {1, -2, 3, 0, 0.5};
    nde_array a = make(dt, 5, v);
    cr_expect(be->ops->all_finite(be->ctx, dt, 5, a.data));
    v[3] = NAN;
    nde_array_from_doubles(&a, v, 5);
    cr_expect(isnan(be->ops->norm_inf(be->ctx, dt, 5, a.data)));
    cr_expect(!be->ops->all_finite(be->ctx, dt, 5, a.data));
    v[3] = INFINITY;
    nde_array_from_doubles(&a, v, 5);
    cr_expect(!be->ops->all_finite(be->ctx, dt, 5, a.data));
    nde_array_destroy(&a);
  }
}

Test(backend, gemm_matches_naive_for_all_transposes) {
  const size_t m = 5, n = 3, k = 7;
  for (int d = 0; d < 2; ++d) {
    nde_dtype dt = d ? NDE_FLOAT64 : NDE_FLOAT32;
    for (int ta = 0; ta < 2; ++ta)
      for (int tb = 0; tb < 2; ++tb) {
        size_t lda = ta ? k : m, ldb = tb ? n : k;
        double *a = host_values(m * k, 4), *b = host_values(k * n, 5), *c = host_values(m * n, 6);
        for (size_t i = 0; i < m * k; ++i)
          a[i] = as_dtype(dt, a[i]);
        for (size_t i = 0; i < k * n; ++i)
          b[i] = as_dtype(dt, b[i]);
        for (size_t i = 0; i < m * n; ++i)
          c[i] = as_dtype(dt, c[i]);
        nde_array A = make(dt, m * k, a), B = make(dt, k * n, b), C = make(dt, m * n, c);
        be->ops->gemm(be->ctx, dt, ta ? NDE_TRANS : NDE_NO_TRANS, tb ? NDE_TRANS : NDE_NO_TRANS, m,
                      n, k, 1.5, A.data, lda, B.data, ldb, -0.5, C.data, m);
        double want[15];
        for (size_t i = 0; i < m; ++i)
          for (size_t j = 0; j < n; ++j) {
            double s = 0;
            for (size_t l = 0; l < k; ++l) {
              double aij = ta ? a[l + i * lda] : a[i + l * lda];
              double bij = tb ? b[j + l * ldb] : b[l + j * ldb];
              s += aij * bij;
            }
            want[i + j * m] = 1.5 * s - 0.5 * c[i + j * m];
          }
        double *got = fetch(&C);
        expect_close(got, want, m * n, 10 * tol(dt), "gemm", dt);
        free(got);
        nde_array_destroy(&A);
        nde_array_destroy(&B);
        nde_array_destroy(&C);
        free(a);
        free(b);
        free(c);
      }
  }
}

Test(backend, columns_add_and_sum) {
  const size_t rows = 5, cols = 9;
  for (int d = 0; d < 2; ++d) {
    nde_dtype dt = d ? NDE_FLOAT64 : NDE_FLOAT32;
    double *y = host_values(rows * cols, 7), *bias = host_values(rows, 8);
    nde_array Y = make(dt, rows * cols, y), B = make(dt, rows, bias);
    be->ops->add_column(be->ctx, dt, rows, cols, B.data, Y.data);
    double *got = fetch(&Y), want[45];
    for (size_t c = 0; c < cols; ++c)
      for (size_t r = 0; r < rows; ++r)
        want[r + c * rows] = as_dtype(dt, y[r + c * rows]) + as_dtype(dt, bias[r]);
    expect_close(got, want, rows * cols, tol(dt), "add_column", dt);
    free(got);
    be->ops->sum_columns(be->ctx, dt, rows, cols, Y.data, 2.0, B.data);
    got = fetch(&B);
    double want_sum[5];
    for (size_t r = 0; r < rows; ++r) {
      want_sum[r] = 2.0 * as_dtype(dt, bias[r]);
      for (size_t c = 0; c < cols; ++c)
        want_sum[r] += want[r + c * rows];
    }
    expect_close(got, want_sum, rows, 10 * tol(dt), "sum_columns", dt);
    free(got);
    nde_array_destroy(&Y);
    nde_array_destroy(&B);
    free(y);
    free(bias);
  }
}

/* Reference activations and derivatives, written independently of the backend. */
static double ref_act(nde_activation a, double x) {
  switch (a) {
  case NDE_ACT_IDENTITY:
    return x;
  case NDE_ACT_TANH:
    return tanh(x);
  case NDE_ACT_RELU:
    return x > 0 ? x : 0;
  case NDE_ACT_SIGMOID:
    return 1 / (1 + exp(-x));
  case NDE_ACT_SOFTPLUS:
    return log(1 + exp(x));
  case NDE_ACT_GELU:
    return x * 0.5 * (1 + erf(x / sqrt(2)));
  case NDE_ACT_SWISH:
    return x / (1 + exp(-x));
  case NDE_ACT_CUBE:
    return x * x * x;
  default:
    return NAN;
  }
}

Test(backend, activations_and_their_vjps) {
  const size_t n = 101;
  for (int d = 0; d < 2; ++d) {
    nde_dtype dt = d ? NDE_FLOAT64 : NDE_FLOAT32;
    double *x = host_values(n, 9), *dy = host_values(n, 10);
    for (size_t i = 0; i < n; ++i)
      x[i] = as_dtype(dt, 3 * x[i] + (x[i] > 0 ? 1e-3 : -1e-3)); /* keep away from relu's kink */
    for (int a = 0; a < NDE_ACT_COUNT; ++a) {
      nde_array X = make(dt, n, x), Y = make(dt, n, NULL), DY = make(dt, n, dy),
                DX = make(dt, n, NULL);
      be->ops->activation(be->ctx, dt, (nde_activation)a, n, X.data, Y.data);
      be->ops->activation_vjp(be->ctx, dt, (nde_activation)a, n, X.data, Y.data, DY.data, DX.data);
      double *y = fetch(&Y), *dx = fetch(&DX), want[101], want_dx[101];
      for (size_t i = 0; i < n; ++i) {
        want[i] = ref_act((nde_activation)a, x[i]);
        double h = 1e-6 * (1 + fabs(x[i]));
        double slope = (ref_act((nde_activation)a, x[i] + h) - ref_act((nde_activation)a, x[i] - h)) / (2 * h);
        want_dx[i] = as_dtype(dt, dy[i]) * slope;
      }
      expect_close(y, want, n, 4 * tol(dt), nde_activation_name((nde_activation)a), dt);
      expect_close(dx, want_dx, n, dt == NDE_FLOAT32 ? 1e-4 : 1e-7,
                   nde_activation_name((nde_activation)a), dt);
      free(y);
      free(dx);
      nde_array_destroy(&X);
      nde_array_destroy(&Y);
      nde_array_destroy(&DY);
      nde_array_destroy(&DX);
    }
    free(x);
    free(dy);
  }
}

/* Error of @p got in units in the last place of the correctly rounded tanh(x) of dtype @p dt. */
static double tanh_ulps(nde_dtype dt, double got, double x) {
  long double ref = tanhl((long double)x);
  double r = dt == NDE_FLOAT32 ? (double)(float)ref : (double)ref;
  double ulp = dt == NDE_FLOAT32 ? (double)(nextafterf((float)fabs(r), INFINITY) - (float)fabs(r))
                                 : nextafter(fabs(r), INFINITY) - fabs(r);
  return (double)(fabsl((long double)got - ref) / ulp);
}

Test(backend, tanh_is_accurate_to_a_few_ulps_in_both_dtypes) {
  /* the cpu backend's own vectorizable tanh (nde's, not libm's) against long-double tanhl */
  const size_t n = 200001;
  double *x = malloc((n + 12) * sizeof *x);
  cr_assert(x);
  for (size_t i = 0; i < n; ++i)
    x[i] = -25.0 + 50.0 * (double)i / (double)(n - 1);
  const double special[12] = {1e-300, -1e-20, 1e-10, 3e-5, 0.01, 0.34657, 0.4, 8.99, 9.01,
                              19.99, 20.01, 1e300};
  memcpy(x + n, special, sizeof special);
  for (int d = 0; d < 2; ++d) {
    nde_dtype dt = d ? NDE_FLOAT64 : NDE_FLOAT32;
    nde_array X = make(dt, n + 12, x), Y = make(dt, n + 12, NULL);
    be->ops->activation(be->ctx, dt, NDE_ACT_TANH, n + 12, X.data, Y.data);
    double *y = fetch(&Y), *xs = fetch(&X), worst = 0, at = 0;
    for (size_t i = 0; i < n + 12; ++i) {
      double e = tanh_ulps(dt, y[i], xs[i]);
      if (e > worst)
        worst = e, at = xs[i];
    }
    cr_expect(worst <= 4.0, "%s tanh: %.2f ulp at x = %.17g", dt == NDE_FLOAT32 ? "float32" :
              "float64", worst, at);
    /* signed zeros, infinities and NaN */
    const double odd[5] = {0.0, -0.0, INFINITY, -INFINITY, NAN};
    nde_array O = make(dt, 5, odd), T = make(dt, 5, NULL);
    be->ops->activation(be->ctx, dt, NDE_ACT_TANH, 5, O.data, T.data);
    double *t = fetch(&T);
    cr_expect(t[0] == 0 && !signbit(t[0]) && t[1] == 0 && signbit(t[1]), "tanh(+-0) = +-0");
    cr_expect(t[2] == 1 && t[3] == -1 && isnan(t[4]), "tanh(+-inf) = +-1, tanh(nan) = nan");
    free(t);
    free(y);
    free(xs);
    nde_array_destroy(&X);
    nde_array_destroy(&Y);
    nde_array_destroy(&O);
    nde_array_destroy(&T);
  }
  free(x);
}

Test(backend, random_fills_match_the_counter_based_sequence) {
  const size_t n = 1000;
  for (int d = 0; d < 2; ++d) {
    nde_dtype dt = d ? NDE_FLOAT64 : NDE_FLOAT32;
    nde_array A = make(dt, n, NULL);
    be->ops->random_normal(be->ctx, dt, n, 3, 4, 100, 1.0, 2.0, A.data);
    double *a = fetch(&A);
    for (size_t i = 0; i < n; ++i)
      cr_expect(fabs(a[i] - as_dtype(dt, 1.0 + 2.0 * nde_philox_normal(3, 4, 100 + i))) < 1e-6);
    free(a);
    be->ops->random_uniform(be->ctx, dt, n, 3, 4, 0, -1.0, 3.0, A.data);
    a = fetch(&A);
    for (size_t i = 0; i < n; ++i) {
      cr_expect(a[i] >= -1.0 && a[i] <= 3.0);
      cr_expect(fabs(a[i] - as_dtype(dt, -1.0 + 4.0 * nde_philox_uniform(3, 4, i))) < 1e-6);
    }
    free(a);
    nde_array_destroy(&A);
  }
}

Test(backend, convert_and_views) {
  double v[6] = {1.5, -2.25, 3, 4, 5, 6};
  nde_array A = make(NDE_FLOAT64, 6, v), B = make(NDE_FLOAT32, 6, NULL);
  be->ops->convert(be->ctx, NDE_FLOAT64, A.data, NDE_FLOAT32, B.data, 6);
  double *b = fetch(&B);
  for (int i = 0; i < 6; ++i)
    cr_expect_eq(b[i], v[i]);
  free(b);
  nde_array view;
  size_t shape[2] = {2, 2};
  cr_assert_eq(nde_array_view(&A, 2, 2, shape, &view), NDE_OK);
  cr_expect_eq(((double *)view.data)[0], 3);
  cr_expect_eq(view.owned, 0);
  cr_expect_eq(nde_array_view(&A, 4, 2, shape, &view), NDE_EINVAL);
  nde_array_destroy(&A);
  nde_array_destroy(&B);
}

/* Host doubles to and from raw backend memory (inside an allocation), rounded to the dtype. */
Test(backend, doubles_to_and_from_raw_backend_memory) {
  const double v[3] = {0.1, -2.5, 1e-3};
  for (int d = 0; d < 2; ++d) {
    nde_dtype dt = d ? NDE_FLOAT64 : NDE_FLOAT32;
    nde_array A = make(dt, 5, NULL);
    void *at1 = (char *)A.data + nde_dtype_size(dt); /* elements 1..3 */
    cr_assert_eq(nde_backend_from_doubles(be, dt, v, 3, at1), NDE_OK);
    double *all = fetch(&A);
    cr_expect_eq(all[0], 0.0);
    cr_expect_eq(all[4], 0.0);
    for (int i = 0; i < 3; ++i)
      cr_expect_eq(all[i + 1], as_dtype(dt, v[i]), "%s [%d]", nde_dtype_name(dt), i);
    double back[3];
    cr_assert_eq(nde_backend_to_doubles(be, dt, at1, 3, back), NDE_OK);
    for (int i = 0; i < 3; ++i)
      cr_expect_eq(back[i], as_dtype(dt, v[i]), "%s [%d]", nde_dtype_name(dt), i);
    free(all);
    nde_array_destroy(&A);
  }
}
