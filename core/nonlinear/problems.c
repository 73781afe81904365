/*
 * The nonlinear test-problem library: the 23 problems of Burkardt's
 * test_nonlin collection in the order, sizes and starting points of SciML's
 * NonlinearProblemLibrary.jl (SciML/DiffEqProblemLibrary.jl,
 * lib/NonlinearProblemLibrary/src/NonlinearProblemLibrary.jl @ 055ed25),
 * the set NonlinearSolve.jl's robustness comparison uses. Problems 1–14 and
 * 21 are Moré, Garbow & Hillstrom (ACM TOMS 7(1), 1981) functions.
 * Written from the formulas; deliberate differences from that file:
 *  - Watson (6) is the gradient of the MGH Watson sum of squares, as in
 *    Burkardt's source: F starts from zero (the Julia code accumulates into
 *    the caller's uninitialised output buffer), the sums use (j − 1) and
 *    (k − 1) and the last correction is 3x₁ − 2x₁x₂ + 2x₁³ (the Julia file
 *    has j, k and x₁², which is not the gradient of anything);
 *  - Chebyquad (7) is in the Julia file's variables y = 2x − 1 with its
 *    start y_i = (2i − n)/(n + 1);
 *  - Chandrasekhar (23) keeps the Julia file's μ_i = i/n (Burkardt uses
 *    (2i − 1)/(2n)); c = 0.9.
 * Problem 24 is the Broyden tridiagonal function at n = 10⁴, a large smooth
 * system for limited-memory methods.
 */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <nde/names.h>
#include <nde/nonlinear_problem.h>

#include "nl_impl.h"

#define PI 3.14159265358979323846

/* 1 generalized Rosenbrock */
static void f_rosenbrock(size_t n, const double *x, double *f) {
  f[0] = 1.0 - x[0];
  for (size_t i = 1; i < n; ++i)
    f[i] = 10.0 * (x[i] - x[i - 1] * x[i - 1]);
}
static void s_rosenbrock(size_t n, double *x) {
  for (size_t i = 0; i < n; ++i)
    x[i] = 1.0;
  x[0] = -1.2;
}
static int z_ones(size_t n, double *x) {
  for (size_t i = 0; i < n; ++i)
    x[i] = 1.0;
  return 1;
}
static int z_zeros(size_t n, double *x) {
  memset(x, 0, n * sizeof *x);
  return 1;
}

/* 2 Powell singular */
static void f_powell_singular(size_t n, const double *x, double *f) {
  (void)n;
  f[0] = x[0] + 10.0 * x[1];
  f[1] = sqrt(5.0) * (x[2] - x[3]);
  f[2] = (x[1] - 2.0 * x[2]) * (x[1] - 2.0 * x[2]);
  f[3] = sqrt(10.0) * (x[0] - x[3]) * (x[0] - x[3]);
}
static void s_powell_singular(size_t n, double *x) {
  (void)n;
  x[0] = 3, x[1] = -1, x[2] = 0, x[3] = 1;
}

/* 3 Powell badly scaled */
static void f_powell_badly_scaled(size_t n, const double *x, double *f) {
  (void)n;
  f[0] = 10000.0 * x[0] * x[1] - 1.0;
  f[1] = exp(-x[0]) + exp(-x[1]) - 1.0001;
}
static void s_powell_badly_scaled(size_t n, double *x) {
  (void)n;
  x[0] = 0, x[1] = 1;
}

/* 4 Wood */
static void f_wood(size_t n, const double *x, double *f) {
  (void)n;
  double t1 = x[1] - x[0] * x[0], t2 = x[3] - x[2] * x[2];
  f[0] = -200.0 * x[0] * t1 - (1.0 - x[0]);
  f[1] = 200.0 * t1 + 20.2 * (x[1] - 1.0) + 19.8 * (x[3] - 1.0);
  f[2] = -180.0 * x[2] * t2 - (1.0 - x[2]);
  f[3] = 180.0 * t2 + 20.2 * (x[3] - 1.0) + 19.8 * (x[1] - 1.0);
}
static void s_wood(size_t n, double *x) {
  (void)n;
  x[0] = -3, x[1] = -1, x[2] = -3, x[3] = -1;
}

/* 5 helical valley */
static void f_helical_valley(size_t n, const double *x, double *f) {
  (void)n;
  double t;
  if (x[0] > 0)
    t = atan(x[1] / x[0]) / (2.0 * PI);
  else if (x[0] < 0)
    t = atan(x[1] / x[0]) / (2.0 * PI) + 0.5;
  else
    t = 0.25 * (x[1] > 0 ? 1.0 : x[1] < 0 ? -1.0 : 0.0);
  f[0] = 10.0 * (x[2] - 10.0 * t);
  f[1] = 10.0 * (sqrt(x[0] * x[0] + x[1] * x[1]) - 1.0);
  f[2] = x[2];
}
static void s_helical_valley(size_t n, double *x) {
  (void)n;
  x[0] = -1, x[1] = 0, x[2] = 0;
}
static int z_helical_valley(size_t n, double *x) {
  (void)n;
  x[0] = 1, x[1] = 0, x[2] = 0;
  return 1;
}

/* 6 Watson (gradient form, 29 sample points) */
static void f_watson(size_t n, const double *x, double *f) {
  memset(f, 0, n * sizeof *f);
  for (int i = 1; i <= 29; ++i) {
    double ti = i / 29.0, s1 = 0, s2 = 0, t = 1.0;
    for (size_t j = 2; j <= n; ++j) {
      s1 += (double)(j - 1) * t * x[j - 1];
      t *= ti;
    }
    t = 1.0;
    for (size_t j = 1; j <= n; ++j) {
      s2 += t * x[j - 1];
      t *= ti;
    }
    t = 1.0 / ti;
    for (size_t k = 1; k <= n; ++k) {
      f[k - 1] += t * (s1 - s2 * s2 - 1.0) * ((double)k - 1.0 - 2.0 * ti * s2);
      t *= ti;
    }
  }
  f[0] += 3.0 * x[0] - 2.0 * x[0] * x[1] + 2.0 * x[0] * x[0] * x[0];
  f[1] += x[1] - x[0] * x[0] - 1.0;
}
static void s_zeros(size_t n, double *x) { memset(x, 0, n * sizeof *x); }

/* 7 Chebyquad, in the library's shifted variables y = 2x − 1 ∈ [−1, 1] */
static void f_chebyquad(size_t n, const double *x, double *f) {
  memset(f, 0, n * sizeof *f);
  for (size_t j = 0; j < n; ++j) {
    double t1 = 1.0, t2 = x[j]; /* T_0(y_j), T_1(y_j) */
    for (size_t i = 0; i < n; ++i) {
      f[i] += t2;
      double t3 = 2.0 * x[j] * t2 - t1;
      t1 = t2;
      t2 = t3;
    }
  }
  for (size_t i = 0; i < n; ++i) {
    f[i] /= (double)n;
    if ((i + 1) % 2 == 0)
      f[i] += 1.0 / ((double)(i + 1) * (i + 1) - 1.0);
  }
}
static void s_chebyquad(size_t n, double *x) {
  for (size_t i = 0; i < n; ++i)
    x[i] = (2.0 * (double)(i + 1) - (double)n) / (double)(n + 1);
}

/* 8 Brown almost-linear */
static void f_brown(size_t n, const double *x, double *f) {
  double sum = 0, prod = 1;
  for (size_t i = 0; i < n; ++i) {
    sum += x[i];
    prod *= x[i];
  }
  for (size_t i = 0; i + 1 < n; ++i)
    f[i] = x[i] + sum - (double)(n + 1);
  f[n - 1] = prod - 1.0;
}
static void s_half(size_t n, double *x) {
  for (size_t i = 0; i < n; ++i)
    x[i] = 0.5;
}

/* 9 discrete boundary value */
static void f_boundary_value(size_t n, const double *x, double *f) {
  double h = 1.0 / (double)(n + 1);
  for (size_t k = 0; k < n; ++k) {
    double t = x[k] + (double)(k + 1) * h + 1.0;
    f[k] = 2.0 * x[k] + 0.5 * h * h * t * t * t;
    if (k > 0)
      f[k] -= x[k - 1];
    if (k + 1 < n)
      f[k] -= x[k + 1];
  }
}
static void s_boundary(size_t n, double *x) {
  double h = 1.0 / (double)(n + 1);
  for (size_t i = 0; i < n; ++i) {
    double t = (double)(i + 1) * h;
    x[i] = t * (t - 1.0);
  }
}

/* 10 discrete integral equation */
static void f_integral_equation(size_t n, const double *x, double *f) {
  double h = 1.0 / (double)(n + 1);
  for (size_t k = 1; k <= n; ++k) {
    double tk = (double)k * h, s1 = 0, s2 = 0;
    for (size_t j = 1; j <= k; ++j) {
      double tj = (double)j * h, t = x[j - 1] + tj + 1.0;
      s1 += tj * t * t * t;
    }
    for (size_t j = k; j <= n; ++j) {
      double tj = (double)j * h, t = x[j - 1] + tj + 1.0;
      s2 += (1.0 - tj) * t * t * t;
    }
    f[k - 1] = x[k - 1] + h * ((1.0 - tk) * s1 + tk * s2) / 2.0;
  }
}

/* 11 trigonometric */
static void f_trigonometric(size_t n, const double *x, double *f) {
  double c = 0;
  for (size_t i = 0; i < n; ++i)
    c += cos(x[i]);
  for (size_t k = 0; k < n; ++k)
    f[k] = (double)n - c + (double)(k + 1) * (1.0 - cos(x[k])) - sin(x[k]);
}
static void s_trig(size_t n, double *x) {
  for (size_t i = 0; i < n; ++i)
    x[i] = 1.0 / (double)n;
}

/* 12 variably dimensioned */
static void f_variably_dimensioned(size_t n, const double *x, double *f) {
  double s = 0;
  for (size_t j = 0; j < n; ++j)
    s += (double)(j + 1) * (x[j] - 1.0);
  for (size_t k = 0; k < n; ++k)
    f[k] = x[k] - 1.0 + (double)(k + 1) * s * (1.0 + 2.0 * s * s);
}
static void s_variably(size_t n, double *x) {
  for (size_t i = 0; i < n; ++i)
    x[i] = 1.0 - (double)(i + 1) / (double)n;
}

/* 13 Broyden tridiagonal (also 24 at n = 10⁴) */
static void f_broyden_tridiagonal(size_t n, const double *x, double *f) {
  for (size_t k = 0; k < n; ++k) {
    f[k] = (3.0 - 2.0 * x[k]) * x[k] + 1.0;
    if (k > 0)
      f[k] -= x[k - 1];
    if (k + 1 < n)
      f[k] -= 2.0 * x[k + 1];
  }
}
static void s_minus_ones(size_t n, double *x) {
  for (size_t i = 0; i < n; ++i)
    x[i] = -1.0;
}

/* 14 Broyden banded (ml = 5, mu = 1) */
static void f_broyden_banded(size_t n, const double *x, double *f) {
  for (size_t k = 0; k < n; ++k) {
    size_t k1 = k >= 5 ? k - 5 : 0, k2 = k + 1 < n ? k + 1 : n - 1;
    double t = 0;
    for (size_t j = k1; j <= k2; ++j)
      if (j != k)
        t += x[j] * (1.0 + x[j]);
    f[k] = x[k] * (2.0 + 5.0 * x[k] * x[k]) + 1.0 - t;
  }
}

/* 15 Hammarling 2×2 matrix square root */
static void f_hammarling2(size_t n, const double *x, double *f) {
  (void)n;
  f[0] = x[0] * x[0] + x[1] * x[2] - 0.0001;
  f[1] = x[0] * x[1] + x[1] * x[3] - 1.0;
  f[2] = x[2] * x[0] + x[3] * x[2];
  f[3] = x[2] * x[1] + x[3] * x[3] - 0.0001;
}
static void s_hammarling2(size_t n, double *x) {
  (void)n;
  x[0] = 1, x[1] = 0, x[2] = 0, x[3] = 1;
}
static int z_hammarling2(size_t n, double *x) {
  (void)n;
  x[0] = 0.01, x[1] = 50, x[2] = 0, x[3] = 0.01;
  return 1;
}

/* 16 Hammarling 3×3 matrix square root: X·X = A, X stored row-wise as in the source */
static void f_hammarling3(size_t n, const double *x, double *f) {
  (void)n;
  f[0] = x[0] * x[0] + x[1] * x[3] + x[2] * x[6] - 0.0001;
  f[1] = x[0] * x[1] + x[1] * x[4] + x[2] * x[7] - 1.0;
  f[2] = x[0] * x[2] + x[1] * x[5] + x[2] * x[8];
  f[3] = x[3] * x[0] + x[4] * x[3] + x[5] * x[6];
  f[4] = x[3] * x[1] + x[4] * x[4] + x[5] * x[7] - 0.0001;
  f[5] = x[3] * x[2] + x[4] * x[5] + x[5] * x[8];
  f[6] = x[6] * x[0] + x[7] * x[3] + x[8] * x[6];
  f[7] = x[6] * x[1] + x[7] * x[4] + x[8] * x[7];
  f[8] = x[6] * x[2] + x[7] * x[5] + x[8] * x[8] - 0.0001;
}
static void s_hammarling3(size_t n, double *x) {
  (void)n;
  memset(x, 0, 9 * sizeof *x);
  x[0] = x[4] = x[8] = 1.0;
}
static int z_hammarling3(size_t n, double *x) {
  (void)n;
  memset(x, 0, 9 * sizeof *x);
  x[0] = x[4] = x[8] = 0.01;
  x[1] = 50;
  return 1;
}

/* 17 Dennis–Schnabel 2×2 example */
static void f_dennis_schnabel(size_t n, const double *x, double *f) {
  (void)n;
  f[0] = x[0] + x[1] - 3.0;
  f[1] = x[0] * x[0] + x[1] * x[1] - 9.0;
}
static void s_dennis_schnabel(size_t n, double *x) {
  (void)n;
  x[0] = 1, x[1] = 5;
}
static int z_dennis_schnabel(size_t n, double *x) {
  (void)n;
  x[0] = 0, x[1] = 3;
  return 1;
}

/* 18 sample problem 18 */
static void f_sample18(size_t n, const double *x, double *f) {
  (void)n;
  f[0] = x[0] != 0 ? x[1] * x[1] * (1.0 - exp(-x[0] * x[0])) / x[0] : 0.0;
  f[1] = x[1] != 0 ? x[0] * (1.0 - exp(-x[1] * x[1])) / x[1] : 0.0;
}
static void s_twos(size_t n, double *x) { x[0] = 2, x[1] = 2 + 0 * (double)n; }

/* 19 sample problem 19 */
static void f_sample19(size_t n, const double *x, double *f) {
  (void)n;
  double r = x[0] * x[0] + x[1] * x[1];
  f[0] = x[0] * r;
  f[1] = x[1] * r;
}
static void s_threes(size_t n, double *x) { x[0] = 3, x[1] = 3 + 0 * (double)n; }

/* 20 scalar x(x − 5)² */
static void f_scalar(size_t n, const double *x, double *f) {
  (void)n;
  f[0] = x[0] * (x[0] - 5.0) * (x[0] - 5.0);
}
static void s_one(size_t n, double *x) { x[0] = 1 + 0 * (double)n; }

/* 21 Freudenstein–Roth */
static void f_freudenstein_roth(size_t n, const double *x, double *f) {
  (void)n;
  double y = x[1];
  f[0] = x[0] - y * y * y + 5.0 * y * y - 2.0 * y - 13.0;
  f[1] = x[0] + y * y * y + y * y - 14.0 * y - 29.0;
}
static void s_freudenstein_roth(size_t n, double *x) {
  (void)n;
  x[0] = 0.5, x[1] = -2;
}
static int z_freudenstein_roth(size_t n, double *x) {
  (void)n;
  x[0] = 5, x[1] = 4;
  return 1;
}

/* 22 Boggs */
static void f_boggs(size_t n, const double *x, double *f) {
  (void)n;
  f[0] = x[0] * x[0] - x[1] + 1.0;
  f[1] = x[0] - cos(0.5 * PI * x[1]);
}
static void s_boggs(size_t n, double *x) {
  (void)n;
  x[0] = 1, x[1] = 0;
}
static int z_boggs(size_t n, double *x) {
  (void)n;
  x[0] = 0, x[1] = 1;
  return 1;
}

/* 23 Chandrasekhar H-equation, c = 0.9 */
static void f_chandrasekhar(size_t n, const double *x, double *f) {
  const double c = 0.9;
  for (size_t i = 0; i < n; ++i) {
    double mi = (double)(i + 1) / (double)n, s = 0;
    for (size_t j = 0; j < n; ++j) {
      double mj = (double)(j + 1) / (double)n;
      s += mi * x[j] / (mi + mj);
    }
    f[i] = x[i] - 1.0 / (1.0 - c * s / (2.0 * (double)n));
  }
}
static void s_ones(size_t n, double *x) {
  for (size_t i = 0; i < n; ++i)
    x[i] = 1.0;
}

static const nde_nl_test_problem problems[] = {
    {1, "rosenbrock", "Generalized Rosenbrock function", 10, f_rosenbrock, s_rosenbrock, z_ones},
    {2, "powell_singular", "Powell singular function", 4, f_powell_singular, s_powell_singular,
     z_zeros},
    {3, "powell_badly_scaled", "Powell badly scaled function", 2, f_powell_badly_scaled,
     s_powell_badly_scaled, NULL},
    {4, "wood", "Wood function", 4, f_wood, s_wood, z_ones},
    {5, "helical_valley", "Helical valley function", 3, f_helical_valley, s_helical_valley,
     z_helical_valley},
    {6, "watson", "Watson function", 2, f_watson, s_zeros, NULL},
    {7, "chebyquad", "Chebyquad function", 2, f_chebyquad, s_chebyquad, NULL},
    {8, "brown_almost_linear", "Brown almost linear function", 10, f_brown, s_half, z_ones},
    {9, "discrete_boundary_value", "Discrete boundary value function", 10, f_boundary_value,
     s_boundary, NULL},
    {10, "discrete_integral_equation", "Discrete integral equation function", 10,
     f_integral_equation, s_boundary, NULL},
    {11, "trigonometric", "Trigonometric function", 10, f_trigonometric, s_trig, NULL},
    {12, "variably_dimensioned", "Variably dimensioned function", 10, f_variably_dimensioned,
     s_variably, z_ones},
    {13, "broyden_tridiagonal", "Broyden tridiagonal function", 10, f_broyden_tridiagonal,
     s_minus_ones, NULL},
    {14, "broyden_banded", "Broyden banded function", 10, f_broyden_banded, s_minus_ones, NULL},
    {15, "hammarling_2x2", "Hammarling 2 by 2 matrix square root problem", 4, f_hammarling2,
     s_hammarling2, z_hammarling2},
    {16, "hammarling_3x3", "Hammarling 3 by 3 matrix square root problem", 9, f_hammarling3,
     s_hammarling3, z_hammarling3},
    {17, "dennis_schnabel", "Dennis and Schnabel 2 by 2 example", 2, f_dennis_schnabel,
     s_dennis_schnabel, z_dennis_schnabel},
    {18, "sample_18", "Sample problem 18", 2, f_sample18, s_twos, z_zeros},
    {19, "sample_19", "Sample problem 19", 2, f_sample19, s_threes, z_zeros},
    {20, "scalar", "Scalar problem f(x) = x(x - 5)^2", 1, f_scalar, s_one, NULL},
    {21, "freudenstein_roth", "Freudenstein-Roth function", 2, f_freudenstein_roth,
     s_freudenstein_roth, z_freudenstein_roth},
    {22, "boggs", "Boggs function", 2, f_boggs, s_boggs, z_boggs},
    {23, "chandrasekhar", "Chandrasekhar function", 10, f_chandrasekhar, s_ones, NULL},
    {24, "broyden_tridiagonal_large", "Broyden tridiagonal function, n = 10^4", 10000,
     f_broyden_tridiagonal, s_minus_ones, NULL},
};

#define NPROBLEMS ((int)(sizeof problems / sizeof problems[0]))

int nde_nl_test_problem_count(void) { return NPROBLEMS; }

const nde_nl_test_problem *nde_nl_test_problem_get(int number) {
  return number >= 1 && number <= NPROBLEMS ? &problems[number - 1] : NULL;
}

nde_status nde_nl_test_problem_find(const char *name, int number,
                                    const nde_nl_test_problem **out) {
  *out = NULL;
  if (!name)
    return nde_error(NDE_EINVAL, "no problem name given");
  if (!strcmp(name, "test23")) {
    if (number < 1 || number > 23)
      return nde_error(NDE_EINVAL, "test23: number must be 1..23, got %d", number);
    *out = &problems[number - 1];
    return NDE_OK;
  }
  char *end;
  long k = strtol(name, &end, 10);
  if (*name && !*end) {
    if (k < 1 || k > NPROBLEMS)
      return nde_error(NDE_ENOTFOUND, "no nonlinear test problem number %ld (1..%d)", k,
                       NPROBLEMS);
    *out = &problems[k - 1];
    return NDE_OK;
  }
  const char *names[NPROBLEMS + 2];
  for (int i = 0; i < NPROBLEMS; ++i) {
    if (!strcmp(name, problems[i].name)) {
      *out = &problems[i];
      return NDE_OK;
    }
    names[i] = problems[i].name;
  }
  names[NPROBLEMS] = "test23";
  names[NPROBLEMS + 1] = NULL;
  const char *guess = nde_suggest_name(name, names, NPROBLEMS + 1);
  if (guess)
    return nde_error(NDE_ENOTFOUND, "no nonlinear test problem named '%s'; did you mean '%s'?",
                     name, guess);
  return nde_error(NDE_ENOTFOUND, "no nonlinear test problem named '%s'", name);
}

/* ---- binding a host problem to a backend ---- */

typedef struct bound {
  const nde_nl_test_problem *tp;
  nde_backend *be;
  nde_dtype dt;
  size_t n;
  double *x, *f;
  float *buf;
} bound;

static nde_status to_host(bound *b, const void *src, double *dst) {
  if (b->dt == NDE_FLOAT64)
    return b->be->ops->download(b->be->ctx, dst, src, b->n * 8);
  NDE_TRY(b->be->ops->download(b->be->ctx, b->buf, src, b->n * 4));
  for (size_t i = 0; i < b->n; ++i)
    dst[i] = b->buf[i];
  return NDE_OK;
}

static nde_status bound_residual(void *user, const void *u, void *out) {
  bound *b = user;
  NDE_TRY(to_host(b, u, b->x));
  b->tp->residual(b->n, b->x, b->f);
  if (b->dt == NDE_FLOAT64)
    return b->be->ops->upload(b->be->ctx, out, b->f, b->n * 8);
  for (size_t i = 0; i < b->n; ++i)
    b->buf[i] = (float)b->f[i];
  return b->be->ops->upload(b->be->ctx, out, b->buf, b->n * 4);
}

nde_status nde_nl_test_problem_bind(const nde_nl_test_problem *tp, nde_backend *backend,
                                    nde_dtype dtype, size_t n, nde_nonlinear_problem *out) {
  memset(out, 0, sizeof *out);
  if (!tp || !backend)
    return nde_error(NDE_EINVAL, "test problem bind: NULL argument");
  if (n == 0)
    n = tp->n;
  bound *b = calloc(1, sizeof *b);
  double *mem = b ? calloc(2 * n, sizeof(double)) : NULL;
  float *buf = mem ? calloc(n, sizeof(float)) : NULL;
  if (!buf) {
    free(b);
    free(mem);
    return nde_error(NDE_ENOMEM, "out of memory");
  }
  *b = (bound){tp, backend, dtype, n, mem, mem + n, buf};
  out->backend = backend;
  out->dtype = dtype;
  out->n = n;
  out->batch = 1;
  out->form = NDE_NL_ROOT;
  out->residual = bound_residual;
  out->user = b;
  return NDE_OK;
}

void nde_nl_test_problem_unbind(nde_nonlinear_problem *problem) {
  if (!problem || !problem->user)
    return;
  bound *b = problem->user;
  free(b->x);
  free(b->buf);
  free(b);
  memset(problem, 0, sizeof *problem);
}
