/*
 * The cpu backend's weighted RMS norms (lincomb_wrms, wrms_norm) against a
 * plain scalar loop that sums the squares in the documented order
 * (nde_wrms_sum() per NDE_WRMS_BLOCK elements, the blocks in order), bit for
 * bit: tiny states, one block, many blocks, the threaded path and more than
 * one chunk of blocks, float32 and float64. The kernel is compiled for
 * several x86-64 levels and picks one at run time; tests/norm_order.sh runs
 * this program on 1 to 3 threads, under several OPENBLAS_CORETYPE values and
 * under valgrind (which hides AVX-512, so another clone runs), so every
 * code path the machine can take is held to the same reference. Exit status
 * 0 when all agree, 1 otherwise.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nde/nde.h>

static int failures = 0;

static void expect(int ok, const char *what, nde_dtype dt, size_t n, double a, double b) {
  if (ok)
    return;
  ++failures;
  fprintf(stderr, "FAIL %s (%s, n = %zu): %.17g vs reference %.17g\n", what, nde_dtype_name(dt), n,
          a, b);
}

/* element i of x as double, and the dtype's arithmetic of y = c0·x0 + c1·x1 + c2·x2 */
static double get(nde_dtype dt, const void *x, size_t i) {
  return dt == NDE_FLOAT32 ? (double)((const float *)x)[i] : ((const double *)x)[i];
}
static double comb3(nde_dtype dt, const double *c, const void *const *x, size_t i) {
  if (dt == NDE_FLOAT32) {
    float acc = (float)c[0] * ((const float *)x[0])[i];
    acc += (float)c[1] * ((const float *)x[1])[i];
    acc += (float)c[2] * ((const float *)x[2])[i];
    return acc;
  }
  double acc = c[0] * ((const double *)x[0])[i];
  acc += c[1] * ((const double *)x[1])[i];
  acc += c[2] * ((const double *)x[2])[i];
  return acc;
}

/* Σ q in the documented order, and in plain element order (to show that the order matters) */
static double blocked_sum(const double *q, size_t n) {
  double s = 0;
  for (size_t b = 0; b < n; b += NDE_WRMS_BLOCK)
    s += nde_wrms_sum(q + b, n - b < NDE_WRMS_BLOCK ? n - b : NDE_WRMS_BLOCK);
  return s;
}
static double sequential_sum(const double *q, size_t n) {
  double s = 0;
  for (size_t i = 0; i < n; ++i)
    s += q[i];
  return s;
}

int main(void) {
  nde_backend *cpu = NULL;
  if (nde_backend_open(NULL, "cpu", NULL, &cpu) != NDE_OK) {
    fprintf(stderr, "FAIL: %s\n", nde_last_error());
    return 1;
  }
  /* tiny, one block, a partial block, many blocks, from the threaded path on
     (32768), and past one chunk of 1024 blocks */
  static const size_t sizes[] = {1, 5, 15, 16, 17, 100, 512, 513, 5000, 32767, 32768, 40001,
                                 530001};
  const size_t nmax = 530001;
  double *q = malloc(nmax * sizeof *q), *yr = malloc(nmax * sizeof *yr);
  int order_matters = 0;
  for (int d = 0; d < 2; ++d) {
    nde_dtype dt = d ? NDE_FLOAT64 : NDE_FLOAT32;
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; ++s) {
      size_t n = sizes[s];
      nde_array x[3], u0, y, e;
      for (int j = 0; j < 3; ++j) {
        nde_array_create(cpu, dt, 1, &n, &x[j]);
        cpu->ops->random_uniform(cpu->ctx, dt, n, 11, (uint64_t)j, 0, -2.0, 2.0, x[j].data);
      }
      nde_array_create(cpu, dt, 1, &n, &u0);
      nde_array_create(cpu, dt, 1, &n, &y);
      nde_array_create(cpu, dt, 1, &n, &e);
      cpu->ops->random_uniform(cpu->ctx, dt, n, 12, 0, 0, -1.0, 1.0, u0.data);
      const void *xp[3] = {x[0].data, x[1].data, x[2].data};
      double cy[3] = {1.0, 0.3, -0.7}, ce[3] = {0.01, -0.02, 0.005};
      const double atol = 1e-6, rtol = 1e-3;
      /* the last pass of a step: y, e and the norm of e scaled by u0 and y */
      double got = nde_backend_lincomb_wrms(cpu, dt, n, 3, xp, cy, y.data, ce, e.data, u0.data,
                                            atol, rtol, NULL);
      for (size_t i = 0; i < n; ++i) {
        yr[i] = comb3(dt, cy, xp, i);
        double ei = comb3(dt, ce, xp, i);
        expect(get(dt, y.data, i) == yr[i] && get(dt, e.data, i) == ei, "y and e", dt, n, i, i);
        double a = fabs(get(dt, u0.data, i)), b = fabs(yr[i]);
        double r = ei / (atol + rtol * (a > b ? a : b));
        q[i] = r * r;
      }
      double want = sqrt(blocked_sum(q, n) / (double)n);
      expect(memcmp(&got, &want, sizeof got) == 0, "lincomb_wrms", dt, n, got, want);
      order_matters |= blocked_sum(q, n) != sequential_sum(q, n);
      /* wrms_norm of the stored e: the same kernel, the same bits */
      double w = cpu->ops->wrms_norm(cpu->ctx, dt, n, e.data, u0.data, y.data, atol, rtol);
      expect(memcmp(&w, &want, sizeof w) == 0, "wrms_norm", dt, n, w, want);
      /* reltol 0, no y: an RMS norm of a difference (the stiffness estimate's norms) */
      double pm[2] = {1.0, -1.0};
      got = nde_backend_lincomb_wrms(cpu, dt, n, 2, xp, NULL, NULL, pm, NULL, NULL, 1.0, 0.0, NULL);
      for (size_t i = 0; i < n; ++i) {
        double v = dt == NDE_FLOAT32
                       ? (double)(((const float *)xp[0])[i] - ((const float *)xp[1])[i])
                       : ((const double *)xp[0])[i] - ((const double *)xp[1])[i];
        q[i] = v * v;
      }
      want = sqrt(blocked_sum(q, n) / (double)n);
      expect(memcmp(&got, &want, sizeof got) == 0, "rms of a difference", dt, n, got, want);
      for (int j = 0; j < 3; ++j)
        nde_array_destroy(&x[j]);
      nde_array_destroy(&u0);
      nde_array_destroy(&y);
      nde_array_destroy(&e);
    }
  }
  /* the reference must be able to tell the orders apart on these data */
  if (!order_matters) {
    ++failures;
    fprintf(stderr, "FAIL: the blocked and sequential sums agree on every input; the test "
                    "cannot see the order\n");
  }
  free(q);
  free(yr);
  nde_backend_destroy(&cpu);
  const char *isa = "";
#if defined(__x86_64__) && defined(__GNUC__)
  isa = __builtin_cpu_supports("avx512f") ? " (AVX-512 visible)"
        : __builtin_cpu_supports("avx2") ? " (AVX2 visible, no AVX-512)"
                                         : " (neither AVX2 nor AVX-512 visible)";
#endif
  printf("%s: norms equal the documented summation order%s\n", failures ? "FAIL" : "ok", isa);
  return failures ? 1 : 0;
}
