/*
 * The `cpu` backend: host memory, OpenBLAS (or oneDNN, BLIS: the "gemm"
 * option, gemm_onednn.c, gemm_blis.c) for BLAS-shaped operations,
 * OpenMP for elementwise work on large vectors. Every operation exists in a
 * float32 and a float64 flavour generated from one template below.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#ifdef NDE_HAVE_ONEDNN
#include <oneapi/dnnl/dnnl.h>

#include "gemm_onednn.h"
#endif
#ifdef NDE_HAVE_BLIS
#include "gemm_blis.h"
#endif

#include <nde/backend.h>
#include <nde/rng.h>

/*
 * The hottest elementwise kernels (activations, bias columns) are compiled
 * for several x86-64 levels and picked when the plugin loads (GCC function
 * multiversioning): AVX2+FMA and AVX-512 machines get 8 and 16 float lanes
 * from a binary built for baseline x86-64 (configure checks the compiler
 * and passes NDE_HAVE_TARGET_CLONES).
 */
#if defined(NDE_HAVE_TARGET_CLONES) && defined(__x86_64__)
#define CPU_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#endif
#ifndef CPU_CLONES
#define CPU_CLONES
#endif
/*
 * No fused multiply-adds: the stage combinations and error norms round
 * exactly as the baseline x86-64 build does (separate multiply and add), on
 * every SIMD width, so adaptive step sequences (and results that depend on
 * them, such as trained models) do not change with the machine.
 */
#if defined(__GNUC__) && !defined(__clang__)
#define CPU_NOCONTRACT __attribute__((optimize("fp-contract=off")))
#else
#define CPU_NOCONTRACT
#endif

/* Below this many elements OpenMP's fork/join costs more than it saves. */
#define PARALLEL_THRESHOLD 32768

/*
 * PARALLEL_LOOP(n, body) runs `for (size_t i = 0; i < n; ++i) body`, with
 * OpenMP only from PARALLEL_THRESHOLD elements on. The small case never
 * enters an OpenMP region: even `omp parallel for if (0)` costs ~0.3 µs per
 * call in libgomp, which dominated ODE steps on small states.
 */
#ifdef _OPENMP
#define DO_PRAGMA(x) _Pragma(#x)
#define PARALLEL_LOOP(n, ...)                                                    \
  do {                                                                           \
    if ((n) < PARALLEL_THRESHOLD) {                                              \
      for (size_t i = 0; i < (n); ++i)                                           \
        __VA_ARGS__                                                              \
    } else {                                                                     \
      DO_PRAGMA(omp parallel for schedule(static))                               \
      for (size_t i = 0; i < (n); ++i)                                           \
        __VA_ARGS__                                                              \
    }                                                                            \
  } while (0)
#define PARALLEL_LOOP_SUM(n, var, ...)                                           \
  do {                                                                           \
    if ((n) < PARALLEL_THRESHOLD) {                                              \
      for (size_t i = 0; i < (n); ++i)                                           \
        __VA_ARGS__                                                              \
    } else {                                                                     \
      DO_PRAGMA(omp parallel for schedule(static) reduction(+ : var))            \
      for (size_t i = 0; i < (n); ++i)                                           \
        __VA_ARGS__                                                              \
    }                                                                            \
  } while (0)
/* Threads and SIMD lanes: for loops GCC's -O2 cost model leaves scalar (sqrt, division). */
#define PARALLEL_LOOP_SIMD(n, ...)                                               \
  do {                                                                           \
    if ((n) < PARALLEL_THRESHOLD) {                                              \
      DO_PRAGMA(omp simd)                                                        \
      for (size_t i = 0; i < (n); ++i)                                           \
        __VA_ARGS__                                                              \
    } else {                                                                     \
      DO_PRAGMA(omp parallel for simd schedule(static))                          \
      for (size_t i = 0; i < (n); ++i)                                           \
        __VA_ARGS__                                                              \
    }                                                                            \
  } while (0)
#else
#define PARALLEL_LOOP(n, ...)                                                    \
  do {                                                                           \
    for (size_t i = 0; i < (n); ++i)                                             \
      __VA_ARGS__                                                                \
  } while (0)
#define PARALLEL_LOOP_SUM(n, var, ...) PARALLEL_LOOP(n, __VA_ARGS__)
#define PARALLEL_LOOP_SIMD(n, ...) PARALLEL_LOOP(n, __VA_ARGS__)
#endif
/* Elementwise loops (y[i] from x[i] only, aliasing allowed) may use SIMD. */
#ifdef _OPENMP
#define SIMD_LOOP DO_PRAGMA(omp simd)
#define DO_SIMD_SUM(v) DO_PRAGMA(omp simd reduction(+ : v))
#else
#define SIMD_LOOP
#define DO_SIMD_SUM(v)
#endif

/* Which library computes GEMMs (the "gemm" option). */
typedef enum gemm_lib { GEMM_AUTO, GEMM_OPENBLAS, GEMM_ONEDNN, GEMM_BLIS } gemm_lib;

typedef struct cpu_ctx {
  gemm_lib gemm;
#ifdef NDE_HAVE_ONEDNN
  cpu_matmul_cache *matmul; /* oneDNN matmul primitives per shape (NULL: dnnl_sgemm) */
#endif
} cpu_ctx;

static nde_status cpu_create(const nde_options *options, void **ctx) {
  const char *g = nde_options_string(options, "gemm", "auto");
  gemm_lib lib = !strcmp(g, "openblas") ? GEMM_OPENBLAS
                 : !strcmp(g, "onednn") ? GEMM_ONEDNN
                 : !strcmp(g, "blis")   ? GEMM_BLIS
                                        : GEMM_AUTO;
#ifndef NDE_HAVE_ONEDNN
  if (lib == GEMM_ONEDNN)
    return nde_error(NDE_EUNSUPPORTED, "gemm: \"onednn\" asked for, but nde was built without "
                     "oneDNN (install libdnnl-dev and reconfigure); use \"openblas\" or \"auto\"");
#endif
#ifndef NDE_HAVE_BLIS
  if (lib == GEMM_BLIS)
    return nde_error(NDE_EUNSUPPORTED, "gemm: \"blis\" asked for, but nde was built without "
                     "BLIS (install libblis-dev and reconfigure); use \"openblas\" or \"auto\"");
#endif
  cpu_ctx *c = malloc(sizeof *c);
  if (!c)
    return nde_error(NDE_ENOMEM, "cpu backend: out of memory");
  c->gemm = lib;
#ifdef NDE_HAVE_ONEDNN
  c->matmul = lib == GEMM_OPENBLAS ? NULL : cpu_matmul_cache_create();
#endif
  *ctx = c;
  return NDE_OK;
}

static void cpu_destroy(void *ctx) {
#ifdef NDE_HAVE_ONEDNN
  if (ctx)
    cpu_matmul_cache_destroy(((cpu_ctx *)ctx)->matmul);
#endif
  free(ctx);
}

static nde_status cpu_alloc(void *ctx, size_t bytes, void **ptr) {
  (void)ctx;
  /* 64-byte alignment for vector loads; calloc semantics (zeroed). */
  size_t rounded = (bytes + 63) & ~(size_t)63;
  if (rounded == 0)
    rounded = 64;
  void *p = aligned_alloc(64, rounded);
  if (!p)
    return nde_error(NDE_ENOMEM, "cpu backend: cannot allocate %zu bytes", bytes);
  memset(p, 0, rounded);
  *ptr = p;
  return NDE_OK;
}

static void cpu_release(void *ctx, void *ptr) {
  (void)ctx;
  free(ptr);
}

static nde_status cpu_copy(void *ctx, void *dst, const void *src, size_t bytes) {
  (void)ctx;
  if (bytes)
    memcpy(dst, src, bytes);
  return NDE_OK;
}

/* ------------------------------------------------------------ activations */

static inline double act_value(nde_activation act, double x) {
  switch (act) {
  case NDE_ACT_IDENTITY:
    return x;
  case NDE_ACT_TANH:
    return tanh(x);
  case NDE_ACT_RELU:
    return x > 0 ? x : 0;
  case NDE_ACT_SIGMOID:
    return x >= 0 ? 1 / (1 + exp(-x)) : exp(x) / (1 + exp(x));
  case NDE_ACT_SOFTPLUS:
    return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x));
  case NDE_ACT_GELU:
    return 0.5 * x * erfc(-x * M_SQRT1_2);
  case NDE_ACT_SWISH:
    return x >= 0 ? x / (1 + exp(-x)) : x * exp(x) / (1 + exp(x));
  case NDE_ACT_CUBE:
    return x * x * x;
  default:
    return NAN;
  }
}

/* d act / dx at x, given y = act(x). */
static inline double act_derivative(nde_activation act, double x, double y) {
  switch (act) {
  case NDE_ACT_IDENTITY:
    return 1;
  case NDE_ACT_TANH:
    return 1 - y * y;
  case NDE_ACT_RELU:
    return x > 0 ? 1 : 0;
  case NDE_ACT_SIGMOID:
    return y * (1 - y);
  case NDE_ACT_SOFTPLUS:
    return x >= 0 ? 1 / (1 + exp(-x)) : exp(x) / (1 + exp(x));
  case NDE_ACT_GELU:
    return 0.5 * erfc(-x * M_SQRT1_2) + x * exp(-0.5 * x * x) * 0.39894228040143267794;
  case NDE_ACT_SWISH: {
    double s = x >= 0 ? 1 / (1 + exp(-x)) : exp(x) / (1 + exp(x));
    return s + x * s * (1 - s);
  }
  case NDE_ACT_CUBE:
    return 3 * x * x;
  default:
    return NAN;
  }
}

/*
 * tanh per dtype. float64 calls libm. float32 uses a branch-free form the
 * compiler vectorizes (libm's scalar tanh was 40% of an MLP training step):
 *  - |x| < 0.4: the odd Taylor series x − x³/3 + 2x⁵/15 − 17x⁷/315 +
 *    62x⁹/2835 − 1382x¹¹/155925 (Abramowitz & Stegun 4.5.64); the first
 *    omitted term is below 1e-7 relative there;
 *  - otherwise (1 − e)/(1 + e) with e = exp(−2|x|) (no cancellation since
 *    e < 0.45), exp by Cody–Waite reduction e = 2ⁿ·exp(r), |r| ≤ ln2/2, with
 *    ln 2 split into 0.693145751953125 + 1.42860682030941723e-6 (Cody & Waite,
 *    Software Manual for the Elementary Functions, 1980) and the degree-6
 *    Taylor polynomial of exp(r) (remainder < 2e-8);
 *  - |x| is clamped at 9 (tanh 9 rounds to 1 in float32).
 * Selections are integer masks on the bit patterns (|x| orders like its
 * bits), so there is no branch and no trapping compare. Measured error at
 * most 4 ulp over [−20, 20] in steps of 1e-5; ±0, ±inf and NaN map to
 * ±0, ±1 and NaN.
 * float64 (libm's scalar tanh was 82% of a float64 neural-SDE training
 * step): tanh|x| = −e/(2 + e) with e = expm1(−2|x|), no cancellation for
 * small x; expm1 by the same Cody–Waite reduction with ln 2 split into
 * 6.93147180369123816490e-01 + 1.90821492927058770002e-10 (the split of
 * fdlibm's e_exp.c), the degree-13 Taylor polynomial of expm1(r) on
 * |r| ≤ ln2/2 (remainder < 2e-17 relative), and
 * expm1(v) = 2ⁿ·expm1(r) + (2ⁿ − 1); |x| clamped at 20. Measured error at
 * most 2.8 ulp over [−25, 25] in steps of 1.37e-5 against long-double
 * tanhl; 8× faster than libm's tanh per element with AVX2.
 */
static inline double tanh_f64(double x) {
  union bits {
    double f;
    int64_t i;
  } ux = {x}, ua, ut, k, scale;
  const int64_t clamp = 0x4034000000000000; /* 20.0: tanh 20 rounds to 1 */
  int64_t ai = ux.i & 0x7fffffffffffffff;
  int64_t mc = -(int64_t)(ai > clamp);
  ua.i = (clamp & mc) | (ai & ~mc);
  double v = -2.0 * ua.f;
  k.f = v * 1.4426950408889634074 + 6755399441055744.0; /* + 1.5·2⁵²: n = round(v/ln 2) */
  double n = k.f - 6755399441055744.0;
  double r = (v - n * 6.93147180369123816490e-01) - n * 1.90821492927058770002e-10;
  double p = 1.0 / 6227020800.0; /* expm1(r) by its degree-13 Taylor polynomial */
  p = p * r + 1.0 / 479001600.0;
  p = p * r + 1.0 / 39916800.0;
  p = p * r + 1.0 / 3628800.0;
  p = p * r + 1.0 / 362880.0;
  p = p * r + 1.0 / 40320.0;
  p = p * r + 1.0 / 5040.0;
  p = p * r + 1.0 / 720.0;
  p = p * r + 1.0 / 120.0;
  p = p * r + 1.0 / 24.0;
  p = p * r + 1.0 / 6.0;
  p = p * r + 0.5;
  p = p * r + 1.0;
  p = p * r;
  scale.i = (k.i - 0x4338000000000000 + 1023) * ((int64_t)1 << 52); /* 2ⁿ from n's bits */
  double e = scale.f * p + (scale.f - 1.0);                         /* expm1(−2|x|) */
  ut.f = -e / (2.0 + e);
  ut.i = (ut.i & 0x7fffffffffffffff) | (ux.i & (int64_t)0x8000000000000000);
  int64_t mn = -(int64_t)(ai > 0x7ff0000000000000); /* NaN */
  ut.i = (ux.i & mn) | (ut.i & ~mn);
  return ut.f;
}
static inline float tanh_f32(float x) {
  union bits {
    float f;
    int32_t i;
  } ux = {x}, ua, us, ub, ut;
  int32_t ai = ux.i & 0x7fffffff;
  int32_t m9 = -(int32_t)(ai > 0x41100000); /* |x| > 9 */
  ua.i = (0x41100000 & m9) | (ai & ~m9);
  float a = ua.f, z = a * a;
  float p = -1382.0f / 155925.0f;
  p = p * z + 62.0f / 2835.0f;
  p = p * z - 17.0f / 315.0f;
  p = p * z + 2.0f / 15.0f;
  p = p * z - 1.0f / 3.0f;
  us.f = a + a * z * p;
  float v = -2.0f * a;
  float n = (v * 1.44269504088896341f + 12582912.0f) - 12582912.0f; /* round to nearest */
  float r = (v - n * 0.693145751953125f) - n * 1.42860682030941723212e-6f;
  float q = 1.0f / 720.0f;
  q = q * r + 1.0f / 120.0f;
  q = q * r + 1.0f / 24.0f;
  q = q * r + 1.0f / 6.0f;
  q = q * r + 0.5f;
  q = q * r + 1.0f;
  q = q * r + 1.0f;
  union bits scale = {.i = ((int32_t)n + 127) * (1 << 23)};
  float e = q * scale.f;
  ub.f = (1.0f - e) / (1.0f + e);
  int32_t ms = -(int32_t)(ai < 0x3ecccccd); /* |x| < 0.4 */
  ut.i = (us.i & ms) | (ub.i & ~ms) | (ux.i & (int32_t)0x80000000);
  int32_t mn = -(int32_t)(ai > 0x7f800000); /* NaN */
  ut.i = (ux.i & mn) | (ut.i & ~mn);
  return ut.f;
}

/*
 * Block-wise linear combinations: vectors are processed in blocks of
 * COMB_BLOCK elements; within a block each term is one SIMD pass over an
 * accumulator on the stack (in L1), so memory is read once per term and the
 * results written once, whatever the number of terms. comb_blocks computes
 *   y = Σ_j cy[j]·x[j] over my terms (if my > 0),
 *   e = Σ_j ce[j]·x[j] over me terms (stored when e is not NULL),
 * and returns Σ_i (e[i] / (atol + rtol·max(|u0[i]|, |yv[i]|)))², with yv the
 * y just computed (or `yread` when my == 0); rtol == 0: Σ (e[i]/atol)².
 * wrms_norm is this same kernel, so the two agree bit for bit. comb_one (one
 * block) is compiled for several x86-64 levels (CPU_CLONES): its term passes
 * and the squares use the machine's widest SIMD lanes, without FMA
 * contraction (CPU_NOCONTRACT), and the squares are summed by nde_wrms_sum()
 * (nde/backend.h: 16 partial sums by element index, folded in a fixed order,
 * so the adds are independent and still the same at every SIMD width); the
 * blocks' sums are added in block order. From PARALLEL_THRESHOLD elements on,
 * blocks are spread over the OpenMP threads, each block's sum kept apart and
 * added in the same order: the results are those of the scalar baseline
 * build on one thread, bit for bit, whatever the machine and thread count.
 */
#define COMB_BLOCK NDE_WRMS_BLOCK
#define COMB_CHUNK 1024 /* blocks whose sums one parallel pass keeps (on the stack) */
#define COMB_TERMS 32 /* lincomb_wrms: at most this many vectors (backend.h) */
#define DEFINE_COMB_OPS(T, S)                                                    \
  CPU_NOCONTRACT static inline void comb_block_##S(size_t off, size_t len, int m, \
                                                   const T *cc,                  \
                                    const T *const *xx, T *acc) {                \
    const T c0 = cc[0], *x0 = xx[0] + off;                                       \
    SIMD_LOOP for (size_t i = 0; i < len; ++i)                                   \
      acc[i] = c0 * x0[i];                                                       \
    for (int j = 1; j < m; ++j) {                                                \
      const T cj = cc[j], *xj = xx[j] + off;                                     \
      SIMD_LOOP for (size_t i = 0; i < len; ++i)                                 \
        acc[i] += cj * xj[i];                                                    \
    }                                                                            \
  }                                                                              \
  CPU_CLONES CPU_NOCONTRACT static double comb_one_##S(size_t blk, size_t n, int my, \
                                    const T *cy, const T *const *xy, T *y,       \
                                    int me, const T *ce, const T *const *xe,     \
                                    T *e, const T *u0, const T *yread,           \
                                    double atol, double rtol, double s) {        \
    T ay[COMB_BLOCK], ae[COMB_BLOCK];                                            \
    size_t off = blk * COMB_BLOCK;                                               \
    size_t len = n - off < COMB_BLOCK ? n - off : COMB_BLOCK;                    \
    if (my)                                                                      \
      comb_block_##S(off, len, my, cy, xy, ay);                                  \
    if (me)                                                                      \
      comb_block_##S(off, len, me, ce, xe, ae);                                  \
    if (my)                                                                      \
      memcpy(y + off, ay, len * sizeof(T));                                      \
    if (!me)                                                                     \
      return s;                                                                  \
    if (e)                                                                       \
      memcpy(e + off, ae, len * sizeof(T));                                      \
    /* the squares in SIMD lanes (q), then summed in nde_wrms_sum()'s fixed    \
       order (16 independent partial sums: not bound by the add latency) */     \
    double q[COMB_BLOCK];                                                        \
    if (rtol == 0) {                                                             \
      SIMD_LOOP for (size_t i = 0; i < len; ++i) {                               \
        double r = (double)ae[i] / atol;                                         \
        q[i] = r * r;                                                            \
      }                                                                          \
    } else {                                                                     \
      const T *uu = u0 + off, *yv = my ? ay : yread ? yread + off : NULL;        \
      if (yv) {                                                                  \
        /* the larger magnitude taken in T (exact, and a SIMD max: the same   \
           value as in double, where GCC left the loop scalar) */               \
        SIMD_LOOP for (size_t i = 0; i < len; ++i) {                             \
          T a = uu[i] < 0 ? -uu[i] : uu[i], b = yv[i] < 0 ? -yv[i] : yv[i];      \
          double r = (double)ae[i] / (atol + rtol * (double)(a > b ? a : b));    \
          q[i] = r * r;                                                          \
        }                                                                        \
      } else {                                                                   \
        SIMD_LOOP for (size_t i = 0; i < len; ++i) {                             \
          double r = (double)ae[i] / (atol + rtol * fabs((double)uu[i]));        \
          q[i] = r * r;                                                          \
        }                                                                        \
      }                                                                          \
    }                                                                            \
    return s + nde_wrms_sum(q, len);                                             \
  }                                                                              \
  static double comb_blocks_##S(size_t n, int my, const T *cy,                  \
                                const T *const *xy, T *y, int me, const T *ce,   \
                                const T *const *xe, T *e, const T *u0,           \
                                double atol, double rtol) {                      \
    size_t nb = (n + COMB_BLOCK - 1) / COMB_BLOCK;                               \
    double s = 0;                                                                \
    if (n < PARALLEL_THRESHOLD) {                                                \
      for (size_t b = 0; b < nb; ++b)                                            \
        s = comb_one_##S(b, n, my, cy, xy, y, me, ce, xe, e, u0, y, atol, rtol, s); \
      return s;                                                                  \
    }                                                                            \
    /* each block's sum apart, then added in block order: the bits of the     \
       sequential loop above, whatever the number of threads */                \
    double part[COMB_CHUNK];                                                     \
    for (size_t b0 = 0; b0 < nb; b0 += COMB_CHUNK) {                             \
      size_t nc = nb - b0 < COMB_CHUNK ? nb - b0 : COMB_CHUNK;                   \
      OMP_BLOCKS                                                                 \
      for (size_t j = 0; j < nc; ++j)                                            \
        part[j] = comb_one_##S(b0 + j, n, my, cy, xy, y, me, ce, xe, e, u0, y,    \
                               atol, rtol, 0.0);                                 \
      for (size_t j = 0; j < nc; ++j)                                            \
        s += part[j];                                                            \
    }                                                                            \
    return s;                                                                    \
  }                                                                              \
  static double comb_tiny_##S(size_t n, int my, const T *cy, const T *const *xy, \
                              T *y, int me, const T *ce, const T *const *xe,     \
                              T *e, const T *u0, double atol, double rtol) {     \
    double q[16];                                                                \
    for (size_t i = 0; i < n; ++i) {                                             \
      T ay = 0, ae = 0;                                                          \
      for (int j = 0; j < my; ++j)                                               \
        ay += cy[j] * xy[j][i];                                                  \
      for (int j = 0; j < me; ++j)                                               \
        ae += ce[j] * xe[j][i];                                                  \
      double sc = atol;                                                          \
      if (rtol != 0) {                                                           \
        double a = fabs((double)u0[i]);                                          \
        if (my || y) {                                                           \
          double b = fabs((double)(my ? ay : y[i]));                             \
          a = a > b ? a : b;                                                     \
        }                                                                        \
        sc += rtol * a;                                                          \
      }                                                                          \
      if (my)                                                                    \
        y[i] = ay;                                                               \
      if (e)                                                                     \
        e[i] = ae;                                                               \
      double r = (double)ae / sc;                                                \
      q[i] = r * r;                                                              \
    }                                                                            \
    return nde_wrms_sum(q, n); /* the blocks' order: one block of n */           \
  }                                                                              \
  static double lincomb_wrms_##S(size_t n, int k, const T *const *x,            \
                                 const double *cy, T *y, const double *ce, T *e, \
                                 const T *u0, double atol, double rtol) {        \
    T ky[COMB_TERMS], ke[COMB_TERMS];                                            \
    const T *xy[COMB_TERMS], *xe[COMB_TERMS];                                    \
    int my = 0, me = 0;                                                          \
    for (int j = 0; j < k && j < COMB_TERMS; ++j) {                              \
      if (cy && cy[j] != 0) {                                                    \
        ky[my] = (T)cy[j];                                                       \
        xy[my++] = x[j];                                                         \
      }                                                                          \
      if (ce[j] != 0) {                                                          \
        ke[me] = (T)ce[j];                                                       \
        xe[me++] = x[j];                                                         \
      }                                                                          \
    }                                                                            \
    if (n == 0)                                                                  \
      return 0;                                                                  \
    if (n < 16) /* tiny states: one scalar pass, no block machinery */           \
      return sqrt(comb_tiny_##S(n, my, ky, xy, y, me, ke, xe, e, u0, atol,       \
                                rtol) / (double)n);                              \
    if (cy && my == 0)                                                           \
      memset(y, 0, n * sizeof(T));                                               \
    if (!me && e)                                                                \
      memset(e, 0, n * sizeof(T));                                               \
    return sqrt(comb_blocks_##S(n, my, ky, xy, y, me, ke, xe, e, u0, atol,       \
                                rtol) / (double)n);                              \
  }

#ifdef _OPENMP
#define OMP_BLOCKS DO_PRAGMA(omp parallel for schedule(static))
#else
#define OMP_BLOCKS
#endif

/* ------------------------------------------------------------ template */

#define DEFINE_OPS(T, S, BLAS)                                                   \
  static void fill_##S(size_t n, double v, T *x) {                               \
    PARALLEL_LOOP(n, x[i] = (T)v;);                                              \
  }                                                                              \
  static void axpby_##S(size_t n, double a, const T *x, double b, T *y) {        \
    T ta = (T)a, tb = (T)b;                                                      \
    if (b == 0) {                                                                \
      PARALLEL_LOOP(n, y[i] = ta * x[i];);                                       \
    } else {                                                                     \
      PARALLEL_LOOP(n, y[i] = ta * x[i] + tb * y[i];);                           \
    }                                                                            \
  }                                                                              \
  static void lincomb_apply_##S(size_t n, int m, const T *cc, const T *const *xx, \
                                double beta, T *y) {                             \
    T tb = (T)beta;                                                              \
    if (m == 0) {                                                                \
      if (beta == 0)                                                             \
        fill_##S(n, 0, y);                                                       \
      else if (beta != 1)                                                        \
        PARALLEL_LOOP(n, y[i] *= tb;);                                           \
      return;                                                                    \
    }                                                                            \
    /* Tiny vectors (n < 16) are fastest in one scalar pass; longer ones go        \
       block by block (comb_blocks), each term a SIMD pass over a block that      \
       stays in L1, and y written once. */                                       \
    if (n >= 16) {                                                               \
      T c2[17];                                                                  \
      const T *x2[17];                                                           \
      int m2 = 0;                                                                \
      if (beta != 0) {                                                           \
        c2[m2] = tb;                                                             \
        x2[m2++] = y;                                                            \
      }                                                                          \
      for (int j = 0; j < m; ++j, ++m2) {                                        \
        c2[m2] = cc[j];                                                          \
        x2[m2] = xx[j];                                                          \
      }                                                                          \
      comb_blocks_##S(n, m2, c2, x2, y, 0, NULL, NULL, NULL, NULL, 0, 0);        \
      return;                                                                    \
    }                                                                            \
    for (size_t i = 0; i < n; ++i) {                                             \
      T acc = beta == 0 ? (T)0 : tb * y[i];                                      \
      for (int j = 0; j < m; ++j)                                                \
        acc += cc[j] * xx[j][i];                                                 \
      y[i] = acc;                                                                \
    }                                                                            \
  }                                                                              \
  static void lincomb_##S(size_t n, int k, const double *c, const T *const *x,   \
                          double beta, T *y) {                                   \
    /* Gather the non-zero terms, then fused passes of up to 16 terms. */        \
    T cc[16];                                                                    \
    const T *xx[16];                                                             \
    int m = 0, first = 1;                                                        \
    for (int j = 0; j <= k; ++j) {                                               \
      if (j < k && c[j] != 0) {                                                  \
        cc[m] = (T)c[j];                                                         \
        xx[m++] = x[j];                                                          \
      }                                                                          \
      if (m == 16 || (j == k && (m > 0 || first))) {                             \
        lincomb_apply_##S(n, m, cc, xx, first ? beta : 1.0, y);                  \
        first = 0;                                                               \
        m = 0;                                                                   \
      }                                                                          \
    }                                                                            \
  }                                                                              \
  static void mul_##S(size_t n, const T *x, const T *y, T *z) {                  \
    PARALLEL_LOOP(n, z[i] = x[i] * y[i];);                                       \
  }                                                                              \
  static double norm_inf_##S(size_t n, const T *x) {                             \
    double m = 0;                                                                \
    int nan_seen = 0;                                                            \
    for (size_t i = 0; i < n; ++i) {                                             \
      double a = fabs((double)x[i]);                                             \
      if (a != a)                                                                \
        nan_seen = 1;                                                            \
      if (a > m)                                                                 \
        m = a;                                                                   \
    }                                                                            \
    return nan_seen ? NAN : m;                                                   \
  }                                                                              \
  static double sum_##S(size_t n, const T *x) {                                  \
    double s = 0;                                                                \
    PARALLEL_LOOP_SUM(n, s, s += x[i];);                                         \
    return s;                                                                    \
  }                                                                              \
  CPU_CLONES static void add_column_##S(size_t rows, size_t cols, const T *b,    \
                                        T *y) {                                  \
    for (size_t c = 0; c < cols; ++c) { /* b is not inside y */                \
      T *yc = y + c * rows;                                                      \
      SIMD_LOOP                                                                  \
      for (size_t r = 0; r < rows; ++r)                                          \
        yc[r] += b[r];                                                           \
    }                                                                            \
  }                                                                              \
  /* out may not overlap x (restrict): the column sums vectorize over rows */    \
  CPU_CLONES static void sum_columns_##S(size_t rows, size_t cols,              \
                                         const T *restrict x, double beta,      \
                                         T *restrict out) {                      \
    for (size_t r = 0; r < rows; ++r)                                            \
      out[r] = beta == 0 ? (T)0 : (T)beta * out[r];                              \
    for (size_t c = 0; c < cols; ++c)                                            \
      for (size_t r = 0; r < rows; ++r)                                          \
        out[r] += x[r + c * rows];                                               \
  }                                                                              \
  CPU_CLONES static void activation_##S(nde_activation act, size_t n, const T *x, \
                                        T *y) {                                  \
    switch (act) {                                                               \
    case NDE_ACT_IDENTITY:                                                       \
      if (x != y)                                                                \
        memcpy(y, x, n * sizeof(T));                                             \
      break;                                                                     \
    case NDE_ACT_RELU:                                                           \
      PARALLEL_LOOP(n, y[i] = x[i] > 0 ? x[i] : 0;);                             \
      break;                                                                     \
    case NDE_ACT_CUBE:                                                           \
      PARALLEL_LOOP(n, y[i] = x[i] * x[i] * x[i];);                              \
      break;                                                                     \
    case NDE_ACT_TANH:                                                           \
      PARALLEL_LOOP_SIMD(n, { y[i] = tanh_##S(x[i]); });               \
      break;                                                                     \
    default:                                                                     \
      PARALLEL_LOOP(n,                                                           \
          y[i] = (T)act_value(act, (double)x[i]););                              \
    }                                                                            \
  }                                                                              \
  CPU_CLONES static void activation_vjp_##S(nde_activation act, size_t n,       \
                                            const T *x,                          \
                                 const T *y, const T *dy, T *dx) {               \
    switch (act) {                                                               \
    case NDE_ACT_IDENTITY:                                                       \
      if (dx != dy)                                                              \
        memcpy(dx, dy, n * sizeof(T));                                           \
      break;                                                                     \
    case NDE_ACT_TANH:                                                           \
      PARALLEL_LOOP_SIMD(n, dx[i] = dy[i] * (1 - y[i] * y[i]););                 \
      break;                                                                     \
    case NDE_ACT_RELU:                                                           \
      PARALLEL_LOOP(n, dx[i] = x[i] > 0 ? dy[i] : 0;);                           \
      break;                                                                     \
    default:                                                                     \
      PARALLEL_LOOP(n,                                                           \
          dx[i] = (T)((double)dy[i] * act_derivative(act, (double)x[i], (double)y[i]));); \
    }                                                                            \
  }                                                                              \
  static void random_normal_##S(size_t n, uint64_t seed, uint64_t stream,        \
                                uint64_t offset, double mean, double sd, T *x) { \
    PARALLEL_LOOP(n,                                                             \
        x[i] = (T)(mean + sd * nde_philox_normal(seed, stream, offset + i)););   \
  }                                                                              \
  static void random_uniform_##S(size_t n, uint64_t seed, uint64_t stream,       \
                                 uint64_t offset, double lo, double hi, T *x) {  \
    PARALLEL_LOOP(n,                                                             \
        x[i] = (T)(lo + (hi - lo) * nde_philox_uniform(seed, stream, offset + i));); \
  }                                                                              \
  static void sq_axpby_##S(size_t n, double a, const T *x, const T *w, double b, \
                           double c, T *y) {                                     \
    T ta = (T)a, tb = (T)b, tc = (T)c;                                           \
    if (w) {                                                                     \
      PARALLEL_LOOP_SIMD(n, {                                                    \
        T d = x[i] - w[i];                                                       \
        y[i] = ta * d * d + tb * y[i] + tc;                                      \
      });                                                                        \
    } else {                                                                     \
      PARALLEL_LOOP_SIMD(n,                                                      \
          y[i] = ta * x[i] * x[i] + tb * y[i] + tc;);                            \
    }                                                                            \
  }                                                                              \
  static void max_abs_##S(size_t n, const T *x, double b, T *y) {                \
    T tb = (T)b;                                                                 \
    PARALLEL_LOOP_SIMD(n, {                                                      \
      T u = tb * y[i], g = x[i] < 0 ? -x[i] : x[i];                              \
      y[i] = u > g ? u : g;                                                      \
    });                                                                          \
  }                                                                              \
  static void div_axpy_##S(size_t n, double a, const T *x, double c, const T *y, \
                           double eps, int root, T *z) {                         \
    T ta = (T)a, tc = (T)c, te = (T)eps;                                         \
    if (root) {                                                                  \
      PARALLEL_LOOP_SIMD(n,                                                      \
          z[i] += ta * x[i] / (SQRT_##S(tc * y[i]) + te););                      \
    } else {                                                                     \
      PARALLEL_LOOP_SIMD(n,                                                      \
          z[i] += ta * x[i] / (tc * y[i] + te););                                \
    }                                                                            \
  }                                                                              \
  /* x·0 is ±0 for a finite x and NaN for ±inf and NaN: the block's sum of     \
     them is 0 exactly when every element is finite, in any order (SIMD) */     \
  CPU_CLONES static int finite_block_##S(size_t len, const T *x) {              \
    T acc = 0;                                                                   \
    DO_SIMD_SUM(acc) for (size_t i = 0; i < len; ++i)                            \
      acc += x[i] * (T)0;                                                        \
    return acc == 0;                                                             \
  }                                                                              \
  static int all_finite_##S(size_t n, const T *x) {                              \
    size_t nb = (n + COMB_BLOCK - 1) / COMB_BLOCK;                               \
    int bad = 0;                                                                 \
    PARALLEL_LOOP_SUM(nb, bad,                                                   \
        bad += !finite_block_##S(n - i * COMB_BLOCK < COMB_BLOCK                 \
                                     ? n - i * COMB_BLOCK : COMB_BLOCK,          \
                                 x + i * COMB_BLOCK););                          \
    return bad == 0;                                                             \
  }

#define SQRT_f32 sqrtf
#define SQRT_f64 sqrt

#define DEFINE_MATRIX_OPS(T, S)                                                   \
  static void copy_matrix_##S(size_t rows, size_t cols, const T *src, size_t lds,  \
                              T *dst, size_t ldd) {                                \
    for (size_t c = 0; c < cols; ++c)                                              \
      memcpy(dst + c * ldd, src + c * lds, rows * sizeof(T));                      \
  }                                                                                \
  static void fill_matrix_##S(size_t rows, size_t cols, T v, T *dst, size_t ldd) { \
    for (size_t c = 0; c < cols; ++c)                                              \
      for (size_t r = 0; r < rows; ++r)                                            \
        dst[r + c * ldd] = v;                                                      \
  }                                                                                \
  static double xent_##S(size_t k, size_t batch, const T *z, const T *labels,      \
                         double scale, T *grad, size_t *correct) {                 \
    double total = 0;                                                              \
    size_t right = 0;                                                              \
    for (size_t c = 0; c < batch; ++c) {                                           \
      const T *col = z + c * k;                                                    \
      size_t best = 0;                                                             \
      for (size_t r = 1; r < k; ++r)                                               \
        if (col[r] > col[best])                                                    \
          best = r;                                                                \
      double m = (double)col[best], s = 0;                                         \
      for (size_t r = 0; r < k; ++r)                                               \
        s += exp((double)col[r] - m);                                              \
      double lse = m + log(s);                                                     \
      double lab = (double)labels[c];                                              \
      int valid = lab >= 0 && lab < (double)k;                                     \
      size_t label = valid ? (size_t)lab : 0;                                      \
      if (valid) {                                                                 \
        total += lse - (double)col[label];                                         \
        right += best == label;                                                    \
      }                                                                            \
      if (grad) {                                                                  \
        T *g = grad + c * k;                                                       \
        for (size_t r = 0; r < k; ++r)                                             \
          g[r] = valid ? (T)(scale * (exp((double)col[r] - lse) - (r == label)))   \
                       : (T)0;                                                     \
      }                                                                            \
    }                                                                              \
    if (correct)                                                                   \
      *correct = right;                                                            \
    return total;                                                                  \
  }

DEFINE_COMB_OPS(float, f32)
DEFINE_COMB_OPS(double, f64)
DEFINE_OPS(float, f32, s)
DEFINE_OPS(double, f64, d)
DEFINE_MATRIX_OPS(float, f32)
DEFINE_MATRIX_OPS(double, f64)

/*
 * Dense-layer epilogues, one pass: column by column, the bias and the
 * activation (forward) or the activation's pullback and the bias gradient
 * (reverse) while the column is in L1. The arithmetic is activation_*'s and
 * add_column/sum_columns's, in the same order, so the results equal the
 * unfused operations bit for bit. Matrices that fit in L1 take the two
 * unfused calls (no per-column cost). Large matrices spread columns (forward) or
 * row ranges (reverse: each thread owns its rows of db) over the threads.
 */
#define EPILOGUE_IN_CACHE 4096 /* elements: below this the unfused pair is cheaper */
#define DEFINE_EPILOGUE_OPS(T, S)                                                 \
  static void bias_act_col_##S(nde_activation act, size_t rows, const T *b, T *z, \
                               T *y) {                                            \
    if (b)                                                                        \
      add_column_##S(rows, 1, b, z);                                              \
    if (act != NDE_ACT_IDENTITY || y != z)                                        \
      activation_##S(act, rows, z, y);                                            \
  }                                                                               \
  static void bias_activation_##S(nde_activation act, size_t rows, size_t cols,   \
                                  const T *b, T *z, T *y) {                       \
    if (rows * cols <= EPILOGUE_IN_CACHE) { /* in L1: two calls, no per-column cost */ \
      if (b)                                                                      \
        add_column_##S(rows, cols, b, z);                                         \
      if (act != NDE_ACT_IDENTITY || y != z)                                      \
        activation_##S(act, rows * cols, z, y);                                   \
      return;                                                                     \
    }                                                                             \
    if (rows * cols < PARALLEL_THRESHOLD || rows >= PARALLEL_THRESHOLD) {         \
      for (size_t c = 0; c < cols; ++c)                                           \
        bias_act_col_##S(act, rows, b, z + c * rows, y + c * rows);               \
      return;                                                                     \
    }                                                                             \
    OMP_FOR                                                                       \
    for (size_t c = 0; c < cols; ++c)                                             \
      bias_act_col_##S(act, rows, b, z + c * rows, y + c * rows);                 \
  }                                                                               \
  /* tanh with a bias: dZ and db's column sums in one loop, no call per column */ \
  CPU_CLONES static void tanh_vjp_bias_rows_##S(size_t nr, size_t rows,          \
                                                size_t cols, const T *y,          \
                                                const T *dy, T *dx, T *db) {      \
    for (size_t c = 0; c < cols; ++c) {                                           \
      const T *yc = y + c * rows, *dyc = dy + c * rows;                           \
      T *dxc = dx + c * rows;                                                     \
      SIMD_LOOP                                                                   \
      for (size_t r = 0; r < nr; ++r) {                                           \
        T g = dyc[r] * (1 - yc[r] * yc[r]);                                       \
        dxc[r] = g;                                                               \
        db[r] += g;                                                               \
      }                                                                           \
    }                                                                             \
  }                                                                               \
  static void vjp_bias_rows_##S(nde_activation act, size_t r0, size_t nr,         \
                                size_t rows, size_t cols, const T *x, const T *y, \
                                const T *dy, T *dx, T *db) {                      \
    if (act == NDE_ACT_TANH && db) {                                              \
      tanh_vjp_bias_rows_##S(nr, rows, cols, y + r0, dy + r0, dx + r0, db + r0);  \
      return;                                                                     \
    }                                                                             \
    for (size_t c = 0; c < cols; ++c) {                                           \
      size_t o = r0 + c * rows;                                                   \
      activation_vjp_##S(act, nr, x + o, y + o, dy + o, dx + o);                  \
      if (db)                                                                     \
        add_column_##S(nr, 1, dx + o, db + r0);                                   \
    }                                                                             \
  }                                                                               \
  static void activation_vjp_bias_##S(nde_activation act, size_t rows,            \
                                      size_t cols, const T *x, const T *y,        \
                                      const T *dy, T *dx, T *db) {                \
    if (rows * cols <= EPILOGUE_IN_CACHE) { /* in L1: two calls, no per-column cost */ \
      activation_vjp_##S(act, rows * cols, x, y, dy, dx);                         \
      if (db)                                                                     \
        sum_columns_##S(rows, cols, dx, 1.0, db);                                 \
      return;                                                                     \
    }                                                                             \
    if (rows * cols < PARALLEL_THRESHOLD || rows >= PARALLEL_THRESHOLD) {         \
      vjp_bias_rows_##S(act, 0, rows, rows, cols, x, y, dy, dx, db);              \
      return;                                                                     \
    }                                                                             \
    size_t nb = (rows + 63) / 64;                                                 \
    OMP_FOR                                                                       \
    for (size_t b = 0; b < nb; ++b) {                                             \
      size_t r0 = b * 64, nr = rows - r0 < 64 ? rows - r0 : 64;                   \
      vjp_bias_rows_##S(act, r0, nr, rows, cols, x, y, dy, dx, db);               \
    }                                                                             \
  }
#ifdef _OPENMP
#define OMP_FOR DO_PRAGMA(omp parallel for schedule(static))
#else
#define OMP_FOR
#endif
DEFINE_EPILOGUE_OPS(float, f32)
DEFINE_EPILOGUE_OPS(double, f64)

/* ------------------------------------------------------------ dispatch */

#define DISPATCH(dt, call32, call64)                                             \
  do {                                                                           \
    if ((dt) == NDE_FLOAT32) {                                                   \
      call32;                                                                    \
    } else {                                                                     \
      call64;                                                                    \
    }                                                                            \
  } while (0)

static nde_status cpu_upload(void *ctx, void *dst, const void *src, size_t bytes) {
  return cpu_copy(ctx, dst, src, bytes);
}

static nde_status cpu_download(void *ctx, void *dst, const void *src, size_t bytes) {
  return cpu_copy(ctx, dst, src, bytes);
}

static void cpu_fill(void *ctx, nde_dtype dt, size_t n, double v, void *x) {
  DISPATCH(dt, fill_f32(n, v, x), fill_f64(n, v, x));
}

static void cpu_scale(void *ctx, nde_dtype dt, size_t n, double a, void *x) {
  DISPATCH(dt, cblas_sscal((blasint)n, (float)a, x, 1), cblas_dscal((blasint)n, a, x, 1));
}

static void cpu_axpy(void *ctx, nde_dtype dt, size_t n, double a, const void *x, void *y) {
  DISPATCH(dt, cblas_saxpy((blasint)n, (float)a, x, 1, y, 1),
           cblas_daxpy((blasint)n, a, x, 1, y, 1));
}

static void cpu_axpby(void *ctx, nde_dtype dt, size_t n, double a, const void *x, double b,
                      void *y) {
  DISPATCH(dt, axpby_f32(n, a, x, b, y), axpby_f64(n, a, x, b, y));
}

static void cpu_lincomb(void *ctx, nde_dtype dt, size_t n, int k, const double *c,
                        const void *const *x, double beta, void *y) {
  DISPATCH(dt, lincomb_f32(n, k, c, (const float *const *)x, beta, y),
           lincomb_f64(n, k, c, (const double *const *)x, beta, y));
}

static void cpu_mul(void *ctx, nde_dtype dt, size_t n, const void *x, const void *y, void *z) {
  DISPATCH(dt, mul_f32(n, x, y, z), mul_f64(n, x, y, z));
}

static double cpu_dot(void *ctx, nde_dtype dt, size_t n, const void *x, const void *y) {
  if (dt == NDE_FLOAT32)
    return cblas_dsdot((blasint)n, x, 1, y, 1);
  return cblas_ddot((blasint)n, x, 1, y, 1);
}

static double cpu_norm2(void *ctx, nde_dtype dt, size_t n, const void *x) {
  if (dt == NDE_FLOAT32)
    return sqrt(cblas_dsdot((blasint)n, x, 1, x, 1));
  return cblas_dnrm2((blasint)n, x, 1);
}

static double cpu_norm_inf(void *ctx, nde_dtype dt, size_t n, const void *x) {
  if (dt == NDE_FLOAT32)
    return norm_inf_f32(n, x);
  return norm_inf_f64(n, x);
}

static double cpu_sum(void *ctx, nde_dtype dt, size_t n, const void *x) {
  if (dt == NDE_FLOAT32)
    return sum_f32(n, x);
  return sum_f64(n, x);
}

/* wrms_norm is lincomb_wrms of the one term 1·e (exact): the same blocks and,
   on many threads, the same partial sums, so the fused operation and the
   core's fallback (lincomb, then wrms_norm) agree bit for bit. */
static double cpu_wrms(void *ctx, nde_dtype dt, size_t n, const void *e, const void *u0,
                       const void *u1, double atol, double rtol) {
  static const double one = 1.0;
  const void *x[1] = {e};
  if (dt == NDE_FLOAT32)
    return lincomb_wrms_f32(n, 1, (const float *const *)x, NULL, (void *)u1, &one, NULL, u0,
                            atol, rtol);
  return lincomb_wrms_f64(n, 1, (const double *const *)x, NULL, (void *)u1, &one, NULL, u0, atol,
                          rtol);
}

#ifdef NDE_HAVE_ONEDNN
/* oneDNN for float32 when asked, or (auto) for products big enough that its
   dispatch costs nothing next to the arithmetic; it has no float64 GEMM. */
static int use_onednn(const void *ctx, nde_dtype dt, size_t m, size_t n, size_t k) {
  gemm_lib lib = ctx ? ((const cpu_ctx *)ctx)->gemm : GEMM_AUTO;
  return dt == NDE_FLOAT32 &&
         (lib == GEMM_ONEDNN || (lib == GEMM_AUTO && (double)m * (double)n * (double)k >= 262144.0));
}
static cpu_matmul_cache *matmul_cache(const void *ctx) {
  return ctx ? ((const cpu_ctx *)ctx)->matmul : NULL;
}
#endif

#ifdef NDE_HAVE_BLIS
/* BLIS only when asked ("gemm": "blis"). auto keeps float64 on OpenBLAS: on a
   quiet machine (bench/gemm, bench/RESULTS.md) OpenBLAS was faster than
   Debian's BLIS 0.9 at five of the MNIST block's seven float64 shapes on one
   thread, and BLIS does not use a second thread at these sizes. */
static int use_blis(const void *ctx) {
  return ctx && ((const cpu_ctx *)ctx)->gemm == GEMM_BLIS;
}
#endif

static void cpu_gemm(void *ctx, nde_dtype dt, nde_transpose ta, nde_transpose tb, size_t m,
                     size_t n, size_t k, double alpha, const void *a, size_t lda, const void *b,
                     size_t ldb, double beta, void *c, size_t ldc) {
  if (m == 0 || n == 0)
    return;
  enum CBLAS_TRANSPOSE cta = ta == NDE_TRANS ? CblasTrans : CblasNoTrans;
  enum CBLAS_TRANSPOSE ctb = tb == NDE_TRANS ? CblasTrans : CblasNoTrans;
  if (k == 0) { /* BLAS leaves C alone only if beta == 1; define it as C = beta C. */
    DISPATCH(dt, for (size_t j = 0; j < n; ++j) for (size_t i = 0; i < m; ++i)
                 ((float *)c)[i + j * ldc] = beta == 0 ? 0 : (float)beta * ((float *)c)[i + j * ldc],
             for (size_t j = 0; j < n; ++j) for (size_t i = 0; i < m; ++i)
                 ((double *)c)[i + j * ldc] = beta == 0 ? 0 : beta * ((double *)c)[i + j * ldc]);
    return;
  }
#ifdef NDE_HAVE_ONEDNN
  if (use_onednn(ctx, dt, m, n, k)) {
    /* A plain product goes to dnnl_sgemm: at the pullbacks' shapes it was
       ~1.5% faster than the matmul primitive (task-clock of one MNIST-block
       VJP); the primitive serves dense_forward, where it fuses the epilogue.
       dnnl_sgemm is row-major: the column-major C = op(A)·op(B) is the
       row-major Cᵀ = op(B)ᵀ·op(A)ᵀ, with the same arrays and leading dimensions */
    if (dnnl_sgemm(tb == NDE_TRANS ? 'T' : 'N', ta == NDE_TRANS ? 'T' : 'N', (dnnl_dim_t)n,
                   (dnnl_dim_t)m, (dnnl_dim_t)k, (float)alpha, b, (dnnl_dim_t)ldb, a,
                   (dnnl_dim_t)lda, (float)beta, c, (dnnl_dim_t)ldc) == dnnl_success)
      return;
    /* a refusal (it validates its arguments) falls through to OpenBLAS */
  }
#endif
#ifdef NDE_HAVE_BLIS
  if (use_blis(ctx)) {
    cpu_blis_gemm(dt, ta == NDE_TRANS, tb == NDE_TRANS, m, n, k, alpha, a, lda, b, ldb, beta, c,
                  ldc);
    return;
  }
#endif
  DISPATCH(dt,
           cblas_sgemm(CblasColMajor, cta, ctb, (blasint)m, (blasint)n, (blasint)k, (float)alpha,
                       a, (blasint)lda, b, (blasint)ldb, (float)beta, c, (blasint)ldc),
           cblas_dgemm(CblasColMajor, cta, ctb, (blasint)m, (blasint)n, (blasint)k, alpha, a,
                       (blasint)lda, b, (blasint)ldb, beta, c, (blasint)ldc));
}

static void cpu_add_column(void *ctx, nde_dtype dt, size_t rows, size_t cols, const void *b,
                           void *y) {
  DISPATCH(dt, add_column_f32(rows, cols, b, y), add_column_f64(rows, cols, b, y));
}

static void cpu_sum_columns(void *ctx, nde_dtype dt, size_t rows, size_t cols, const void *x,
                            double beta, void *out) {
  DISPATCH(dt, sum_columns_f32(rows, cols, x, beta, out),
           sum_columns_f64(rows, cols, x, beta, out));
}

static void cpu_activation(void *ctx, nde_dtype dt, nde_activation act, size_t n, const void *x,
                           void *y) {
  DISPATCH(dt, activation_f32(act, n, x, y), activation_f64(act, n, x, y));
}

static void cpu_activation_vjp(void *ctx, nde_dtype dt, nde_activation act, size_t n,
                               const void *x, const void *y, const void *dy, void *dx) {
  DISPATCH(dt, activation_vjp_f32(act, n, x, y, dy, dx),
           activation_vjp_f64(act, n, x, y, dy, dx));
}

static void cpu_random_normal(void *ctx, nde_dtype dt, size_t n, uint64_t seed, uint64_t stream,
                              uint64_t offset, double mean, double sd, void *x) {
  DISPATCH(dt, random_normal_f32(n, seed, stream, offset, mean, sd, x),
           random_normal_f64(n, seed, stream, offset, mean, sd, x));
}

static void cpu_random_uniform(void *ctx, nde_dtype dt, size_t n, uint64_t seed,
                               uint64_t stream, uint64_t offset, double lo, double hi, void *x) {
  DISPATCH(dt, random_uniform_f32(n, seed, stream, offset, lo, hi, x),
           random_uniform_f64(n, seed, stream, offset, lo, hi, x));
}

static int cpu_all_finite(void *ctx, nde_dtype dt, size_t n, const void *x) {
  if (dt == NDE_FLOAT32)
    return all_finite_f32(n, x);
  return all_finite_f64(n, x);
}

static void cpu_convert(void *ctx, nde_dtype ds, const void *src, nde_dtype dd, void *dst,
                        size_t n) {
  if (ds == dd) {
    memmove(dst, src, n * nde_dtype_size(ds));
  } else if (ds == NDE_FLOAT32) {
    const float *s = src;
    double *d = dst;
    for (size_t i = 0; i < n; ++i)
      d[i] = s[i];
  } else {
    const double *s = src;
    float *d = dst;
    for (size_t i = 0; i < n; ++i)
      d[i] = (float)s[i];
  }
}

static void cpu_sq_axpby(void *ctx, nde_dtype dt, size_t n, double a, const void *x,
                         const void *w, double b, double c, void *y) {
  DISPATCH(dt, sq_axpby_f32(n, a, x, w, b, c, y), sq_axpby_f64(n, a, x, w, b, c, y));
}

static void cpu_max_abs(void *ctx, nde_dtype dt, size_t n, const void *x, double b, void *y) {
  DISPATCH(dt, max_abs_f32(n, x, b, y), max_abs_f64(n, x, b, y));
}

static void cpu_div_axpy(void *ctx, nde_dtype dt, size_t n, double a, const void *x, double c,
                         const void *y, double eps, int root, void *z) {
  DISPATCH(dt, div_axpy_f32(n, a, x, c, y, eps, root, z),
           div_axpy_f64(n, a, x, c, y, eps, root, z));
}

static void cpu_copy_matrix(void *ctx, nde_dtype dt, size_t rows, size_t cols, const void *src,
                            size_t lds, void *dst, size_t ldd) {
  DISPATCH(dt, copy_matrix_f32(rows, cols, src, lds, dst, ldd),
           copy_matrix_f64(rows, cols, src, lds, dst, ldd));
}

static void cpu_fill_matrix(void *ctx, nde_dtype dt, size_t rows, size_t cols, double value,
                            void *dst, size_t ldd) {
  DISPATCH(dt, fill_matrix_f32(rows, cols, (float)value, dst, ldd),
           fill_matrix_f64(rows, cols, value, dst, ldd));
}

static double cpu_softmax_cross_entropy(void *ctx, nde_dtype dt, size_t classes, size_t batch,
                                        const void *logits, const void *labels, double scale,
                                        void *grad, size_t *correct) {
  (void)ctx;
  if (dt == NDE_FLOAT32)
    return xent_f32(classes, batch, logits, labels, scale, grad, correct);
  return xent_f64(classes, batch, logits, labels, scale, grad, correct);
}

/* Pullback of the weighted RMS norm (see backend.h); accumulated in double. */
#define WRMS_VJP(S, T)                                                           \
  static void wrms_vjp_##S(size_t n, const T *e, const T *u0, const T *u1,      \
                           double atol, double rtol, double norm, double w,      \
                           T *de, T *du0, T *du1) {                              \
    if (n == 0 || !(norm > 0))                                                   \
      return;                                                                    \
    double g = w / ((double)n * norm);                                           \
    for (size_t i = 0; i < n; ++i) {                                             \
      double a = fabs((double)u0[i]), b = u1 ? fabs((double)u1[i]) : 0.0;        \
      int first = !u1 || a >= b;                                                 \
      double sc = atol + rtol * (first ? a : b);                                 \
      double r = (double)e[i] / sc;                                              \
      if (de)                                                                    \
        de[i] = (T)((double)de[i] + g * r / sc);                                 \
      double ds = -g * r * r / sc * rtol;                                        \
      if (first) {                                                               \
        if (du0 && u0[i] != 0)                                                   \
          du0[i] = (T)((double)du0[i] + (u0[i] > 0 ? ds : -ds));                 \
      } else if (du1 && u1[i] != 0)                                              \
        du1[i] = (T)((double)du1[i] + (u1[i] > 0 ? ds : -ds));                   \
    }                                                                            \
  }
WRMS_VJP(f32, float)
WRMS_VJP(f64, double)
#undef WRMS_VJP

static void cpu_wrms_vjp(void *ctx, nde_dtype dt, size_t n, const void *e, const void *u0,
                         const void *u1, double atol, double rtol, double norm, double w,
                         void *de, void *du0, void *du1) {
  (void)ctx;
  if (dt == NDE_FLOAT32)
    wrms_vjp_f32(n, e, u0, u1, atol, rtol, norm, w, de, du0, du1);
  else
    wrms_vjp_f64(n, e, u0, u1, atol, rtol, norm, w, de, du0, du1);
}

static double cpu_lincomb_wrms(void *ctx, nde_dtype dt, size_t n, int k, const void *const *x,
                               const double *cy, void *y, const double *ce, void *e,
                               const void *u0, double atol, double rtol) {
  (void)ctx;
  if (dt == NDE_FLOAT32)
    return lincomb_wrms_f32(n, k, (const float *const *)x, cy, y, ce, e, u0, atol, rtol);
  return lincomb_wrms_f64(n, k, (const double *const *)x, cy, y, ce, e, u0, atol, rtol);
}

static void cpu_bias_activation(void *ctx, nde_dtype dt, nde_activation act, size_t rows,
                                size_t cols, const void *b, void *z, void *y) {
  (void)ctx;
  DISPATCH(dt, bias_activation_f32(act, rows, cols, b, z, y),
           bias_activation_f64(act, rows, cols, b, z, y));
}

/*
 * A dense layer's forward (backend.h): with oneDNN (float32) one matmul
 * primitive computes W·X + b and, when the pre-activation is not wanted and
 * oneDNN has the activation, the activation too, as post-ops while the
 * output tile is in cache; with z wanted the primitive adds the bias and one
 * pass computes y = act(z). Otherwise the GEMM, then the one-pass epilogue.
 */
static void cpu_dense_forward(void *ctx, nde_dtype dt, nde_activation act, size_t m, size_t n,
                              size_t k, const void *w, size_t ldw, const void *x, size_t ldx,
                              const void *b, void *z, void *y) {
  if (m == 0 || n == 0)
    return;
  void *zz = z ? z : y;
#ifdef NDE_HAVE_ONEDNN
  cpu_matmul_cache *mc = matmul_cache(ctx);
  if (k > 0 && mc && use_onednn(ctx, dt, m, n, k)) {
    if (!z && cpu_matmul_has_activation(act)) {
      if (cpu_matmul_f32(mc, 0, 0, m, n, k, 1.0f, w, ldw, x, ldx, 0.0f, y, m, b, act) == 0)
        return;
    } else if (cpu_matmul_f32(mc, 0, 0, m, n, k, 1.0f, w, ldw, x, ldx, 0.0f, zz, m, b,
                              NDE_ACT_IDENTITY) == 0) {
      if (act != NDE_ACT_IDENTITY || y != zz)
        activation_f32(act, m * n, zz, y);
      return;
    }
  }
#endif
  cpu_gemm(ctx, dt, NDE_NO_TRANS, NDE_NO_TRANS, m, n, k, 1.0, w, ldw, x, ldx, 0.0, zz, m);
  cpu_bias_activation(ctx, dt, act, m, n, b, zz, y);
}

static void cpu_activation_vjp_bias(void *ctx, nde_dtype dt, nde_activation act, size_t rows,
                                    size_t cols, const void *x, const void *y, const void *dy,
                                    void *dx, void *db) {
  (void)ctx;
  DISPATCH(dt, activation_vjp_bias_f32(act, rows, cols, x, y, dy, dx, db),
           activation_vjp_bias_f64(act, rows, cols, x, y, dy, dx, db));
}

NDE_PLUGIN_DEFINE(backend, cpu,
                  .device = NDE_DEVICE_CPU,
                  .create = cpu_create,
                  .destroy = cpu_destroy,
                  .alloc = cpu_alloc,
                  .release = cpu_release,
                  .copy = cpu_copy,
                  .upload = cpu_upload,
                  .download = cpu_download,
                  .fill = cpu_fill,
                  .scale = cpu_scale,
                  .axpy = cpu_axpy,
                  .axpby = cpu_axpby,
                  .lincomb = cpu_lincomb,
                  .mul = cpu_mul,
                  .dot = cpu_dot,
                  .norm2 = cpu_norm2,
                  .norm_inf = cpu_norm_inf,
                  .sum = cpu_sum,
                  .wrms_norm = cpu_wrms,
                  .gemm = cpu_gemm,
                  .add_column = cpu_add_column,
                  .sum_columns = cpu_sum_columns,
                  .activation = cpu_activation,
                  .activation_vjp = cpu_activation_vjp,
                  .random_normal = cpu_random_normal,
                  .random_uniform = cpu_random_uniform,
                  .all_finite = cpu_all_finite,
                  .convert = cpu_convert,
                  .sq_axpby = cpu_sq_axpby,
                  .max_abs = cpu_max_abs,
                  .div_axpy = cpu_div_axpy,
                  .copy_matrix = cpu_copy_matrix,
                  .fill_matrix = cpu_fill_matrix,
                  .softmax_cross_entropy = cpu_softmax_cross_entropy,
                  .wrms_norm_vjp = cpu_wrms_vjp,
                  .host_readable = 1,
                  .lincomb_wrms = cpu_lincomb_wrms,
                  .bias_activation = cpu_bias_activation,
                  .activation_vjp_bias = cpu_activation_vjp_bias,
                  .dense_forward = cpu_dense_forward);
