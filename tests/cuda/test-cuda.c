/*
 * The cuda backend against the cpu backend, operation by operation: random
 * inputs, float32 and float64, odd sizes (1, 7, 1023, 4097), every required
 * and optional operation of nde_backend_ops; Philox draws bit for bit; device
 * out-of-memory as a status naming the size.
 *
 * Needs an NVIDIA GPU: without one (no driver, no device) the binary exits
 * 77 before any test runs, which automake counts as SKIP. The probe runs in
 * a child process, because a CUDA context does not survive the fork()
 * Criterion runs each test in.
 *
 * NDE_TEST_DEVICE_BACKEND=NAME runs the same comparisons against another
 * backend (the test-only `sealed` one, whose memory the host cannot read,
 * checks this file's own plumbing on a machine without a GPU).
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nde/backend.h>
#include <nde/rng.h>

static const size_t sizes[] = {1, 7, 1023, 4097};
#define N_SIZES (sizeof sizes / sizeof *sizes)
static const nde_dtype dtypes[] = {NDE_FLOAT32, NDE_FLOAT64};

static nde_backend *cpu, *gpu;

/* The backend under test: cuda unless NDE_TEST_DEVICE_BACKEND names another. */
static const char *device_backend(void) {
  const char *name = getenv("NDE_TEST_DEVICE_BACKEND");
  return name && *name ? name : "cuda";
}

static void setup(void) {
  cr_assert_eq(nde_backend_open(NULL, "cpu", NULL, &cpu), NDE_OK, "%s", nde_last_error());
  cr_assert_eq(nde_backend_open(NULL, device_backend(), NULL, &gpu), NDE_OK, "%s",
               nde_last_error());
}

static void teardown(void) {
  nde_backend_destroy(&cpu);
  nde_backend_destroy(&gpu);
}

TestSuite(cuda, .init = setup, .fini = teardown);

/* ---------------------------------------------------------------- paired buffers */

/* The same n values of dtype dt in cpu memory (h) and in cuda memory (d). */
typedef struct buf {
  nde_dtype dt;
  size_t n;
  void *h, *d;
} buf;

static size_t dsize(nde_dtype dt) { return dt == NDE_FLOAT32 ? 4 : 8; }

static double get(const buf *b, const void *p, size_t i) {
  return b->dt == NDE_FLOAT32 ? (double)((const float *)p)[i] : ((const double *)p)[i];
}

/* A buffer of U[lo, hi) values drawn from @p seed (the same bits on both sides). */
static buf make(nde_dtype dt, size_t n, uint64_t seed, double lo, double hi) {
  buf b = {dt, n, NULL, NULL};
  size_t bytes = n * dsize(dt);
  cr_assert_eq(cpu->ops->alloc(cpu->ctx, bytes, &b.h), NDE_OK);
  cr_assert_eq(gpu->ops->alloc(gpu->ctx, bytes, &b.d), NDE_OK, "%s", nde_last_error());
  nde_rng rng = nde_rng_make(seed, 17);
  for (size_t i = 0; i < n; ++i) {
    double v = lo + (hi - lo) * nde_rng_uniform(&rng);
    if (dt == NDE_FLOAT32)
      ((float *)b.h)[i] = (float)v;
    else
      ((double *)b.h)[i] = v;
  }
  cr_assert_eq(gpu->ops->upload(gpu->ctx, b.d, b.h, bytes), NDE_OK, "%s", nde_last_error());
  return b;
}

static void drop(buf *b) {
  cpu->ops->release(cpu->ctx, b->h);
  gpu->ops->release(gpu->ctx, b->d);
}

/* Tolerances per dtype: relative and absolute. */
typedef struct tol {
  double rel32, abs32, rel64, abs64;
} tol;
static const tol ELEMENTWISE = {2e-6, 1e-6, 1e-14, 1e-14};
static const tol TRANSCENDENTAL = {2e-5, 2e-6, 1e-13, 1e-14};

static bool close_to(double a, double b, double rel, double abs_tol) {
  if (isnan(a) || isnan(b))
    return isnan(a) && isnan(b);
  if (isinf(a) || isinf(b))
    return a == b;
  return fabs(a - b) <= abs_tol + rel * fmax(fabs(a), fabs(b));
}

/* The cuda copy of b equals the cpu copy within t; names the first element that does not. */
static void expect_same(const buf *b, tol t, const char *what) {
  size_t bytes = b->n * dsize(b->dt);
  void *back = malloc(bytes ? bytes : 1);
  cr_assert_eq(gpu->ops->download(gpu->ctx, back, b->d, bytes), NDE_OK, "%s: %s", what,
               nde_last_error());
  double rel = b->dt == NDE_FLOAT32 ? t.rel32 : t.rel64;
  double abs_tol = b->dt == NDE_FLOAT32 ? t.abs32 : t.abs64;
  for (size_t i = 0; i < b->n; ++i) {
    double c = get(b, b->h, i), g = get(b, back, i);
    if (!close_to(c, g, rel, abs_tol)) {
      free(back);
      cr_assert_fail("%s (%s, n=%zu): element %zu: cpu %.17g, cuda %.17g", what,
                     b->dt == NDE_FLOAT32 ? "float32" : "float64", b->n, i, c, g);
    }
  }
  free(back);
}

static void expect_scalar(nde_dtype dt, double c, double g, double rel, double abs_tol,
                          const char *what, size_t n) {
  cr_expect(close_to(c, g, rel, abs_tol), "%s (%s, n=%zu): cpu %.17g, cuda %.17g", what,
            dt == NDE_FLOAT32 ? "float32" : "float64", n, c, g);
}

/* Run the same operation on both backends: OP(be, ptr) with ptr(b) the side's pointer. */
#define BOTH(call)                                                               \
  do {                                                                           \
    nde_backend *be = cpu;                                                       \
    int side = 0;                                                                \
    call;                                                                        \
    be = gpu;                                                                    \
    side = 1;                                                                    \
    call;                                                                        \
    (void)side;                                                                  \
  } while (0)
#define P(b) (side ? (b).d : (b).h)

#define FOR_CASES(dt, n)                                                         \
  for (size_t di_ = 0; di_ < 2; ++di_)                                           \
    for (size_t si_ = 0; si_ < N_SIZES; ++si_)                                   \
      for (nde_dtype dt = dtypes[di_]; dt == dtypes[di_]; dt = (nde_dtype)99)   \
        for (size_t n = sizes[si_]; n == sizes[si_]; n = 0)

/* ---------------------------------------------------------------- basics */

Test(cuda, is_a_device_backend) {
  if (!strcmp(device_backend(), "cuda"))
    cr_expect_eq(gpu->ops->device, NDE_DEVICE_CUDA);
  cr_expect_eq(nde_backend_host_readable(gpu), 0);
}

Test(cuda, alloc_is_zeroed_and_copies_round_trip) {
  FOR_CASES(dt, n) {
    buf a = make(dt, n, 1, -1, 1), b = make(dt, n, 2, -1, 1);
    void *z;
    cr_assert_eq(gpu->ops->alloc(gpu->ctx, n * dsize(dt), &z), NDE_OK);
    double *back = calloc(n, sizeof(double));
    memset(back, 0x7f, n * dsize(dt));
    cr_assert_eq(gpu->ops->download(gpu->ctx, back, z, n * dsize(dt)), NDE_OK);
    for (size_t i = 0; i < n * dsize(dt); ++i)
      cr_assert_eq(((unsigned char *)back)[i], 0, "alloc not zeroed at byte %zu", i);
    free(back);
    gpu->ops->release(gpu->ctx, z);
    BOTH(cr_assert_eq(be->ops->copy(be->ctx, P(b), P(a), n * dsize(dt)), NDE_OK));
    expect_same(&b, ELEMENTWISE, "copy");
    drop(&a);
    drop(&b);
  }
  void *empty;
  cr_assert_eq(gpu->ops->alloc(gpu->ctx, 0, &empty), NDE_OK);
  cr_expect_not_null(empty);
  gpu->ops->release(gpu->ctx, empty);
}

Test(cuda, out_of_memory_names_the_size) {
  void *p = NULL;
  size_t huge = (size_t)1 << 52; /* 4 PiB */
  nde_status st = gpu->ops->alloc(gpu->ctx, huge, &p);
  cr_expect_eq(st, NDE_ENOMEM, "%s", nde_last_error());
  cr_expect_null(p);
  cr_expect(strstr(nde_last_error(), "4503599627370496 bytes") != NULL, "%s", nde_last_error());
  /* the instance still works afterwards */
  buf a = make(NDE_FLOAT64, 7, 3, 0, 1);
  expect_same(&a, ELEMENTWISE, "after OOM");
  drop(&a);
}

/* ---------------------------------------------------------------- elementwise */

Test(cuda, fill_scale_axpy_axpby_mul) {
  FOR_CASES(dt, n) {
    buf x = make(dt, n, 11, -2, 2), y = make(dt, n, 12, -2, 2), z = make(dt, n, 13, -2, 2);
    BOTH(be->ops->fill(be->ctx, dt, n, 0.3, P(z)));
    expect_same(&z, ELEMENTWISE, "fill");
    BOTH(be->ops->scale(be->ctx, dt, n, -1.7, P(y)));
    expect_same(&y, ELEMENTWISE, "scale");
    BOTH(be->ops->axpy(be->ctx, dt, n, 0.6, P(x), P(y)));
    expect_same(&y, ELEMENTWISE, "axpy");
    BOTH(be->ops->axpby(be->ctx, dt, n, 0.25, P(x), -3.0, P(y)));
    expect_same(&y, ELEMENTWISE, "axpby");
    BOTH(be->ops->axpby(be->ctx, dt, n, 2.0, P(x), 0.0, P(z)));
    expect_same(&z, ELEMENTWISE, "axpby beta=0");
    BOTH(be->ops->mul(be->ctx, dt, n, P(x), P(y), P(z)));
    expect_same(&z, ELEMENTWISE, "mul");
    BOTH(be->ops->mul(be->ctx, dt, n, P(x), P(y), P(x))); /* output aliases an input */
    expect_same(&x, ELEMENTWISE, "mul aliased");
    drop(&x);
    drop(&y);
    drop(&z);
  }
}

Test(cuda, lincomb_of_stages) {
  FOR_CASES(dt, n) {
    enum { K = 9 };
    buf s[K], y = make(dt, n, 30, -1, 1);
    double c[K];
    for (int j = 0; j < K; ++j) {
      s[j] = make(dt, n, 31 + (uint64_t)j, -1, 1);
      c[j] = j == 3 ? 0.0 : 0.1 * (j + 1) * (j % 2 ? -1 : 1);
    }
    const void *xh[K], *xd[K];
    for (int j = 0; j < K; ++j) {
      xh[j] = j == 3 ? NULL : s[j].h; /* a zero coefficient's operand may be NULL */
      xd[j] = j == 3 ? NULL : s[j].d;
    }
    double betas[] = {0.0, 1.0, -0.5};
    for (int bi = 0; bi < 3; ++bi) {
      BOTH(be->ops->lincomb(be->ctx, dt, n, K, c, side ? xd : xh, betas[bi], P(y)));
      expect_same(&y, (tol){1e-5, 1e-5, 1e-13, 5e-14}, "lincomb");
    }
    /* y aliasing a term, as an RK step writing its result over a stage */
    const void *ah[K], *ad[K];
    memcpy(ah, xh, sizeof ah);
    memcpy(ad, xd, sizeof ad);
    ah[0] = y.h;
    ad[0] = y.d;
    BOTH(be->ops->lincomb(be->ctx, dt, n, K, c, side ? ad : ah, 0.0, P(y)));
    expect_same(&y, (tol){1e-5, 1e-5, 1e-13, 5e-14}, "lincomb aliased");
    /* no terms at all */
    double zero[2] = {0, 0};
    const void *none[2] = {NULL, NULL};
    BOTH(be->ops->lincomb(be->ctx, dt, n, 2, zero, none, 2.0, P(y)));
    expect_same(&y, ELEMENTWISE, "lincomb without terms");
    for (int j = 0; j < K; ++j)
      drop(&s[j]);
    drop(&y);
  }
}

Test(cuda, lincomb_longer_than_one_launch) {
  enum { K = 40 };
  size_t n = 1023;
  buf s[K], y = make(NDE_FLOAT64, n, 90, -1, 1);
  double c[K];
  const void *xh[K], *xd[K];
  for (int j = 0; j < K; ++j) {
    s[j] = make(NDE_FLOAT64, n, 91 + (uint64_t)j, -1, 1);
    c[j] = 1.0 / (j + 1);
    xh[j] = s[j].h;
    xd[j] = s[j].d;
  }
  BOTH(be->ops->lincomb(be->ctx, NDE_FLOAT64, n, K, c, side ? xd : xh, 0.5, P(y)));
  expect_same(&y, ELEMENTWISE, "lincomb of 40 terms");
  for (int j = 0; j < K; ++j)
    drop(&s[j]);
  drop(&y);
}

/* ---------------------------------------------------------------- reductions */

Test(cuda, reductions) {
  FOR_CASES(dt, n) {
    buf x = make(dt, n, 41, -3, 2), y = make(dt, n, 42, -1, 1), u = make(dt, n, 43, -5, 5);
    double r[2][8];
    BOTH({
      r[side][0] = be->ops->dot(be->ctx, dt, n, P(x), P(y));
      r[side][1] = be->ops->norm2(be->ctx, dt, n, P(x));
      r[side][2] = be->ops->norm_inf(be->ctx, dt, n, P(x));
      r[side][3] = be->ops->sum(be->ctx, dt, n, P(x));
      r[side][4] = be->ops->wrms_norm(be->ctx, dt, n, P(x), P(y), NULL, 1e-6, 1e-3);
      r[side][5] = be->ops->wrms_norm(be->ctx, dt, n, P(x), P(y), P(u), 1e-6, 1e-3);
      r[side][6] = be->ops->all_finite(be->ctx, dt, n, P(x));
    });
    const char *names[] = {"dot", "norm2", "norm_inf", "sum", "wrms_norm", "wrms_norm u1",
                           "all_finite"};
    for (int k = 0; k < 7; ++k)
      expect_scalar(dt, r[0][k], r[1][k], 1e-10, 1e-12 * (double)n, names[k], n);
    cr_expect_eq(r[1][6], 1.0);
    /* a NaN and an infinity */
    double bad[2] = {NAN, INFINITY};
    for (int k = 0; k < 2; ++k) {
      size_t at = n / 2;
      if (dt == NDE_FLOAT32) {
        float v = (float)bad[k];
        cr_assert_eq(gpu->ops->upload(gpu->ctx, (char *)x.d + at * 4, &v, 4), NDE_OK);
      } else {
        cr_assert_eq(gpu->ops->upload(gpu->ctx, (char *)x.d + at * 8, &bad[k], 8), NDE_OK);
      }
      cr_expect_eq(gpu->ops->all_finite(gpu->ctx, dt, n, x.d), 0, "all_finite with %g", bad[k]);
      double m = gpu->ops->norm_inf(gpu->ctx, dt, n, x.d);
      cr_expect(k == 0 ? isnan(m) : isinf(m), "norm_inf with %g gave %g", bad[k], m);
    }
    drop(&x);
    drop(&y);
    drop(&u);
  }
  cr_expect_eq(gpu->ops->wrms_norm(gpu->ctx, NDE_FLOAT64, 0, NULL, NULL, NULL, 1, 1), 0.0);
  cr_expect_eq(gpu->ops->sum(gpu->ctx, NDE_FLOAT64, 0, NULL), 0.0);
  cr_expect_eq(gpu->ops->norm_inf(gpu->ctx, NDE_FLOAT32, 0, NULL), 0.0);
}

Test(cuda, wrms_norm_vjp) {
  FOR_CASES(dt, n) {
    buf e = make(dt, n, 51, -1, 1), u0 = make(dt, n, 52, -2, 2), u1 = make(dt, n, 53, -2, 2);
    buf de = make(dt, n, 54, -1, 1), du0 = make(dt, n, 55, -1, 1), du1 = make(dt, n, 56, -1, 1);
    double norm = cpu->ops->wrms_norm(cpu->ctx, dt, n, e.h, u0.h, u1.h, 1e-4, 1e-2);
    BOTH(be->ops->wrms_norm_vjp(be->ctx, dt, n, P(e), P(u0), P(u1), 1e-4, 1e-2, norm, 0.7,
                                P(de), P(du0), P(du1)));
    expect_same(&de, TRANSCENDENTAL, "wrms_norm_vjp de");
    expect_same(&du0, TRANSCENDENTAL, "wrms_norm_vjp du0");
    expect_same(&du1, TRANSCENDENTAL, "wrms_norm_vjp du1");
    norm = cpu->ops->wrms_norm(cpu->ctx, dt, n, e.h, u0.h, NULL, 1e-4, 1e-2);
    BOTH(be->ops->wrms_norm_vjp(be->ctx, dt, n, P(e), P(u0), NULL, 1e-4, 1e-2, norm, -1.3,
                                P(de), NULL, NULL));
    expect_same(&de, TRANSCENDENTAL, "wrms_norm_vjp without u1");
    drop(&e);
    drop(&u0);
    drop(&u1);
    drop(&de);
    drop(&du0);
    drop(&du1);
  }
}

/* ---------------------------------------------------------------- matrices */

Test(cuda, gemm_every_transpose_and_odd_shape) {
  static const size_t shapes[][3] = {{1, 1, 1}, {7, 1023, 7}, {1023, 7, 1}, {7, 7, 1023},
                                     {33, 4097, 7}, {5, 3, 0}};
  for (int di = 0; di < 2; ++di) {
    nde_dtype dt = dtypes[di];
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; ++s) {
      size_t m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
      for (int ta = 0; ta < 2; ++ta)
        for (int tb = 0; tb < 2; ++tb) {
          size_t lda = (ta ? k : m) + 1, ldb = (tb ? n : k) + 2, ldc = m + 3;
          buf a = make(dt, lda * (ta ? m : k) + 1, 61, -1, 1);
          buf b = make(dt, ldb * (tb ? k : n) + 1, 62, -1, 1);
          buf c = make(dt, ldc * n, 63, -1, 1);
          for (int bi = 0; bi < 2; ++bi) {
            double beta = bi ? 0.5 : 0.0;
            BOTH(be->ops->gemm(be->ctx, dt, ta ? NDE_TRANS : NDE_NO_TRANS,
                               tb ? NDE_TRANS : NDE_NO_TRANS, m, n, k, 1.25, P(a), lda, P(b),
                               ldb, beta, P(c), ldc));
            char what[96];
            snprintf(what, sizeof what, "gemm %zux%zux%zu ta=%d tb=%d beta=%g", m, n, k, ta, tb,
                     beta);
            double sk = sqrt((double)k + 1);
            expect_same(&c, (tol){1e-5, 2e-6 * sk, 1e-13, 1e-14 * sk}, what);
          }
          drop(&a);
          drop(&b);
          drop(&c);
        }
    }
  }
}

Test(cuda, columns_and_blocks) {
  static const size_t shapes[][2] = {{1, 1}, {7, 1}, {1, 4097}, {7, 1023}, {1023, 7}};
  for (int di = 0; di < 2; ++di) {
    nde_dtype dt = dtypes[di];
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; ++s) {
      size_t rows = shapes[s][0], cols = shapes[s][1];
      buf bias = make(dt, rows, 71, -1, 1), y = make(dt, rows * cols, 72, -1, 1);
      buf out = make(dt, rows, 73, -1, 1);
      BOTH(be->ops->add_column(be->ctx, dt, rows, cols, P(bias), P(y)));
      expect_same(&y, ELEMENTWISE, "add_column");
      BOTH(be->ops->sum_columns(be->ctx, dt, rows, cols, P(y), 0.0, P(out)));
      expect_same(&out, (tol){2e-5, 2e-4, 1e-13, 1e-12}, "sum_columns beta=0");
      BOTH(be->ops->sum_columns(be->ctx, dt, rows, cols, P(y), 0.5, P(out)));
      expect_same(&out, (tol){2e-5, 2e-4, 1e-13, 1e-12}, "sum_columns beta=0.5");
      /* a block into a wider matrix, and a filled row */
      size_t ldd = rows + 5;
      buf dst = make(dt, ldd * cols, 74, -1, 1);
      BOTH(be->ops->copy_matrix(be->ctx, dt, rows, cols, P(y), rows, P(dst), ldd));
      expect_same(&dst, ELEMENTWISE, "copy_matrix");
      BOTH(be->ops->fill_matrix(be->ctx, dt, 1, cols, -2.5, (char *)P(dst) + rows * dsize(dt),
                                ldd));
      expect_same(&dst, ELEMENTWISE, "fill_matrix");
      drop(&bias);
      drop(&y);
      drop(&out);
      drop(&dst);
    }
  }
}

/* ---------------------------------------------------------------- activations */

Test(cuda, activations_and_their_pullbacks) {
  FOR_CASES(dt, n) {
    for (int act = 0; act < NDE_ACT_COUNT; ++act) {
      buf x = make(dt, n, 80 + (uint64_t)act, -6, 6), y = make(dt, n, 1, 0, 1);
      buf dy = make(dt, n, 81, -1, 1), dx = make(dt, n, 82, -1, 1);
      char what[64];
      snprintf(what, sizeof what, "activation %s", nde_activation_name((nde_activation)act));
      BOTH(be->ops->activation(be->ctx, dt, (nde_activation)act, n, P(x), P(y)));
      expect_same(&y, TRANSCENDENTAL, what);
      /* the pullback from the same (x, y) on both sides */
      cr_assert_eq(gpu->ops->upload(gpu->ctx, y.d, y.h, n * dsize(dt)), NDE_OK);
      snprintf(what, sizeof what, "activation_vjp %s", nde_activation_name((nde_activation)act));
      BOTH(be->ops->activation_vjp(be->ctx, dt, (nde_activation)act, n, P(x), P(y), P(dy),
                                   P(dx)));
      expect_same(&dx, TRANSCENDENTAL, what);
      BOTH(be->ops->activation_vjp(be->ctx, dt, (nde_activation)act, n, P(x), P(y), P(dy),
                                   P(dy))); /* dx aliasing dy */
      expect_same(&dy, TRANSCENDENTAL, what);
      BOTH(be->ops->activation(be->ctx, dt, (nde_activation)act, n, P(x), P(x))); /* in place */
      expect_same(&x, TRANSCENDENTAL, what);
      drop(&x);
      drop(&y);
      drop(&dy);
      drop(&dx);
    }
  }
}

/* ---------------------------------------------------------------- random draws */

/* Bits of element i as an integer (float32 widened). */
static uint64_t bits_of(nde_dtype dt, const void *p, size_t i) {
  if (dt == NDE_FLOAT32) {
    uint32_t u;
    memcpy(&u, (const float *)p + i, 4);
    return u;
  }
  uint64_t u;
  memcpy(&u, (const double *)p + i, 8);
  return u;
}

Test(cuda, philox_uniform_bit_for_bit) {
  FOR_CASES(dt, n) {
    buf x = make(dt, n, 1, 0, 1);
    uint64_t offsets[] = {0, 12345, UINT64_C(0xFFFFFFFF) - 3}; /* the last crosses 2^32 */
    for (int o = 0; o < 3; ++o) {
      BOTH(be->ops->random_uniform(be->ctx, dt, n, UINT64_C(0x1234567890ABCDEF), 77, offsets[o],
                                   -2.0, 3.0, P(x)));
      void *back = malloc(n * dsize(dt));
      cr_assert_eq(gpu->ops->download(gpu->ctx, back, x.d, n * dsize(dt)), NDE_OK);
      for (size_t i = 0; i < n; ++i)
        cr_assert_eq(bits_of(dt, back, i), bits_of(dt, x.h, i),
                     "uniform element %zu (offset %llu): cpu %.17g cuda %.17g", i,
                     (unsigned long long)offsets[o], get(&x, x.h, i), get(&x, back, i));
      free(back);
    }
    drop(&x);
  }
}

/*
 * Normals: the Philox blocks and the uniforms from them are identical (bit
 * operations and exact arithmetic); Box–Muller then calls log and cos,
 * which libm and CUDA round within 1–2 ulp, so float64 draws agree to a
 * few ulp and float32 draws (rounded from those) are identical except in
 * the rare case where the float64 values straddle a float32 rounding
 * boundary (at most one element in this test, and then by one ulp).
 */
Test(cuda, philox_normal_matches) {
  FOR_CASES(dt, n) {
    buf x = make(dt, n, 1, 0, 1);
    BOTH(be->ops->random_normal(be->ctx, dt, n, 42, 3, 1000, 0.5, 2.0, P(x)));
    void *back = malloc(n * dsize(dt));
    cr_assert_eq(gpu->ops->download(gpu->ctx, back, x.d, n * dsize(dt)), NDE_OK);
    size_t differ = 0;
    for (size_t i = 0; i < n; ++i) {
      uint64_t c = bits_of(dt, x.h, i), g = bits_of(dt, back, i);
      uint64_t ulps = c > g ? c - g : g - c;
      differ += ulps != 0;
      cr_assert_leq(ulps, dt == NDE_FLOAT32 ? 1 : 16, "normal element %zu: cpu %.17g cuda %.17g",
                    i, get(&x, x.h, i), get(&x, back, i));
    }
    if (dt == NDE_FLOAT32)
      cr_expect_leq(differ, 1, "%zu of %zu float32 normals differ", differ, n);
    free(back);
    drop(&x);
  }
}

/* ---------------------------------------------------------------- conversions and optimizers */

Test(cuda, convert_between_dtypes) {
  for (size_t s = 0; s < N_SIZES; ++s) {
    size_t n = sizes[s];
    buf f = make(NDE_FLOAT32, n, 5, -3, 3), d = make(NDE_FLOAT64, n, 6, -3, 3);
    BOTH(be->ops->convert(be->ctx, NDE_FLOAT64, P(d), NDE_FLOAT32, P(f), n));
    expect_same(&f, (tol){0, 0, 0, 0}, "convert float64 -> float32");
    BOTH(be->ops->scale(be->ctx, NDE_FLOAT32, n, 1.5, P(f)));
    BOTH(be->ops->convert(be->ctx, NDE_FLOAT32, P(f), NDE_FLOAT64, P(d), n));
    expect_same(&d, (tol){0, 0, 0, 0}, "convert float32 -> float64");
    buf d2 = make(NDE_FLOAT64, n, 7, -3, 3);
    BOTH(be->ops->convert(be->ctx, NDE_FLOAT64, P(d), NDE_FLOAT64, P(d2), n));
    expect_same(&d2, (tol){0, 0, 0, 0}, "convert same dtype");
    drop(&f);
    drop(&d);
    drop(&d2);
  }
}

Test(cuda, optimizer_updates) {
  FOR_CASES(dt, n) {
    buf g = make(dt, n, 101, -1, 1), m = make(dt, n, 102, -1, 1), v = make(dt, n, 103, 0, 1);
    buf w = make(dt, n, 104, -1, 1);
    BOTH(be->ops->sq_axpby(be->ctx, dt, n, 0.001, P(g), NULL, 0.999, 0.0, P(v)));
    expect_same(&v, ELEMENTWISE, "sq_axpby");
    BOTH(be->ops->sq_axpby(be->ctx, dt, n, 0.01, P(g), P(m), 0.99, 1e-8, P(v)));
    expect_same(&v, ELEMENTWISE, "sq_axpby with w");
    BOTH(be->ops->max_abs(be->ctx, dt, n, P(g), 0.9, P(m)));
    expect_same(&m, ELEMENTWISE, "max_abs");
    BOTH(be->ops->div_axpy(be->ctx, dt, n, -0.01, P(g), 1.2, P(v), 1e-8, 1, P(w)));
    expect_same(&w, TRANSCENDENTAL, "div_axpy root");
    BOTH(be->ops->div_axpy(be->ctx, dt, n, -0.01, P(g), 1.2, P(m), 1e-3, 0, P(w)));
    expect_same(&w, TRANSCENDENTAL, "div_axpy");
    drop(&g);
    drop(&m);
    drop(&v);
    drop(&w);
  }
}

/* ---------------------------------------------------------------- loss */

Test(cuda, softmax_cross_entropy) {
  static const size_t classes_list[] = {1, 7, 10};
  FOR_CASES(dt, batch) {
    for (size_t ci = 0; ci < 3; ++ci) {
      size_t classes = classes_list[ci];
      buf z = make(dt, classes * batch, 111, -5, 5), labels = make(dt, batch, 1, 0, 1);
      buf grad = make(dt, classes * batch, 112, -1, 1);
      for (size_t c = 0; c < batch; ++c) { /* every class, and one label out of range */
        double l = c == batch / 2 && batch > 1 ? (double)classes : (double)(c % classes);
        if (dt == NDE_FLOAT32)
          ((float *)labels.h)[c] = (float)l;
        else
          ((double *)labels.h)[c] = l;
      }
      cr_assert_eq(gpu->ops->upload(gpu->ctx, labels.d, labels.h, batch * dsize(dt)), NDE_OK);
      size_t right[2] = {0, 0};
      double loss[2];
      BOTH(loss[side] = be->ops->softmax_cross_entropy(be->ctx, dt, classes, batch, P(z),
                                                       P(labels), 0.25, P(grad), &right[side]));
      expect_scalar(dt, loss[0], loss[1], 1e-10, 1e-10, "softmax_cross_entropy loss", batch);
      cr_expect_eq(right[0], right[1], "correct: cpu %zu cuda %zu", right[0], right[1]);
      expect_same(&grad, (tol){1e-6, 1e-7, 1e-13, 1e-15}, "softmax_cross_entropy grad");
      BOTH(loss[side] = be->ops->softmax_cross_entropy(be->ctx, dt, classes, batch, P(z),
                                                       P(labels), 1.0, NULL, NULL));
      expect_scalar(dt, loss[0], loss[1], 1e-10, 1e-10, "softmax_cross_entropy no grad", batch);
      drop(&z);
      drop(&labels);
      drop(&grad);
    }
  }
}

/* ---------------------------------------------------------------- entry */

/*
 * Whether the cuda backend opens here, decided in a child process (CUDA must
 * not be initialised before Criterion forks). On failure @p why gets the reason.
 */
static bool cuda_usable(char *why, size_t cap) {
  int fd[2];
  if (pipe(fd) != 0) {
    snprintf(why, cap, "pipe failed");
    return false;
  }
  pid_t pid = fork();
  if (pid == 0) {
    close(fd[0]);
    nde_backend *be = NULL;
    nde_status st = nde_backend_open(NULL, device_backend(), NULL, &be);
    const char *msg = st == NDE_OK ? "" : nde_last_error();
    ssize_t w = write(fd[1], msg, strlen(msg));
    (void)w;
    nde_backend_destroy(&be);
    _exit(st == NDE_OK ? 0 : 1);
  }
  close(fd[1]);
  ssize_t got = pid > 0 ? read(fd[0], why, cap - 1) : -1;
  why[got > 0 ? (size_t)got : 0] = 0;
  close(fd[0]);
  int status = 0;
  if (pid < 0 || waitpid(pid, &status, 0) != pid)
    return false;
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* Visible: Criterion's workers find main in the executable's symbol table
   (libnde's build hides symbols by default). */
__attribute__((visibility("default"))) int main(int argc, char *argv[]);
int main(int argc, char *argv[]) {
  /* first: in Criterion's test workers (the same binary) this runs the test */
  struct criterion_test_set *tests = criterion_initialize();
  char why[1024];
  if (!cuda_usable(why, sizeof why)) {
    printf("SKIP: the %s backend cannot run here: %s\n", device_backend(),
           why[0] ? why : "(no reason given)");
    criterion_finalize(tests);
    return 77;
  }
  int result = 0;
  if (criterion_handle_args(argc, argv, true))
    result = !criterion_run_all_tests(tests);
  criterion_finalize(tests);
  return result;
}
