/*
 * GEMM throughput of the libraries the cpu backend could use, at the shapes
 * of the thesis's models, in nde's convention (column-major
 * C(m×n) = op(A)(m×k)·op(B)(k×n)):
 *   MNIST block   dense 785→100 tanh, dense 101→784 tanh at batch 512, and
 *                 their pullbacks dX = Wᵀ·dZ and dW += dZ·Xᵀ;
 *   MLP           the MNIST block plus the classifier dense 784→10;
 *   DEQ 4.1       dense 784→128 relu, the cell's 128→128 relu products,
 *                 dense 128→10, at batch 32 and 512;
 *   SDE 5.4       dense 784→32, drift 32→64 tanh → 64→32, diffusion
 *                 32→32, classifier 32→10 at batch 512.
 * A forward shape ("fwd") is a dense layer's Z = W·X followed by bias and
 * activation: every variant measures the whole of it, either the library's
 * GEMM then nde's one-pass epilogue (the cpu backend's bias_activation), or
 * oneDNN's matmul primitive with the bias and the activation fused
 * (post-op; the cpu backend's own code, gemm_onednn.c, compiled in). Pullback shapes ("dX", "dW") are the GEMM alone; dW
 * accumulates (beta 1) as nde's dense VJP does.
 *
 * One executable per library (the libraries export clashing BLAS symbols),
 * chosen at compile time: -DBENCH_OPENBLAS, -DBENCH_ONEDNN, -DBENCH_BLIS or
 * -DBENCH_XSMM. Usage: bench_gemm_LIB DTYPE THREADS [REPEATS=30]
 * Prints one JSON line per (shape, variant): the best (minimum) time over
 * REPEATS calls after warm-up, and GFLOP/s from it (2mnk flops); the
 * minimum is the least sensitive statistic to other jobs' load.
 * bench/gemm/run.sh runs every library and prints the table.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include <nde/nde.h>

#if defined(BENCH_OPENBLAS) || defined(BENCH_XSMM)
#include <cblas.h>
#endif
#ifdef BENCH_ONEDNN
#include <oneapi/dnnl/dnnl.h>

#include "../../plugins/backend/cpu/gemm_onednn.h"
#endif
#ifdef BENCH_BLIS
#include "../../plugins/backend/cpu/gemm_blis.h"
#endif
#ifdef BENCH_XSMM
#include <libxsmm.h>
#endif

typedef struct shape {
  const char *model, *name;
  size_t m, n, k;
  int ta, tb;  /* op(A) = Aᵀ, op(B) = Bᵀ */
  int fwd;     /* a dense layer's forward: bias + act after the product */
  nde_activation act;
  double beta; /* 0, or 1 for the accumulated weight gradients */
} shape;

#define FWD(model, name, out, in, b, act) {model, name, out, b, in, 0, 0, 1, act, 0.0}
#define DX(model, name, out, in, b) {model, name, in, b, out, 1, 0, 0, NDE_ACT_IDENTITY, 0.0}
#define DW(model, name, out, in, b) {model, name, out, in, b, 0, 1, 0, NDE_ACT_IDENTITY, 1.0}

static const shape shapes[] = {
    FWD("mnist", "fwd 785->100 tanh", 100, 785, 512, NDE_ACT_TANH),
    FWD("mnist", "fwd 101->784 tanh", 784, 101, 512, NDE_ACT_TANH),
    DX("mnist", "dX 100->785", 100, 785, 512),
    DX("mnist", "dX 784->101", 784, 101, 512),
    DW("mnist", "dW 100x785", 100, 785, 512),
    DW("mnist", "dW 784x101", 784, 101, 512),
    FWD("mlp", "fwd 784->10", 10, 784, 512, NDE_ACT_IDENTITY),
    DX("mlp", "dX 10->784", 10, 784, 512),
    DW("mlp", "dW 10x784", 10, 784, 512),
    FWD("deq-b512", "fwd 784->128 relu", 128, 784, 512, NDE_ACT_RELU),
    FWD("deq-b512", "fwd 128->128 relu", 128, 128, 512, NDE_ACT_RELU),
    DX("deq-b512", "dX 128->128", 128, 128, 512),
    DW("deq-b512", "dW 128x128", 128, 128, 512),
    DW("deq-b512", "dW 128x784", 128, 784, 512),
    FWD("deq-b32", "fwd 784->128 relu", 128, 784, 32, NDE_ACT_RELU),
    FWD("deq-b32", "fwd 128->128 relu", 128, 128, 32, NDE_ACT_RELU),
    DX("deq-b32", "dX 128->128", 128, 128, 32),
    FWD("sde", "fwd 784->32", 32, 784, 512, NDE_ACT_IDENTITY),
    FWD("sde", "fwd 32->64 tanh", 64, 32, 512, NDE_ACT_TANH),
    FWD("sde", "fwd 64->32", 32, 64, 512, NDE_ACT_IDENTITY),
    FWD("sde", "fwd 32->32", 32, 32, 512, NDE_ACT_IDENTITY),
    DX("sde", "dX 64->32", 64, 32, 512),
    DX("sde", "dX 32->64", 32, 64, 512),
    DW("sde", "dW 64x32", 64, 32, 512),
};
#define NSHAPES (sizeof shapes / sizeof shapes[0])

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* the operands of one shape: A (lda = rows of A as stored), B, C, bias */
typedef struct operands {
  void *a, *b, *c, *z, *bias;
  size_t lda, ldb, ldc;
} operands;

static nde_backend *be; /* the cpu backend, for nde's epilogue */
static nde_dtype dt;
static size_t es;

static void *filled(size_t n, unsigned seed) {
  void *p = aligned_alloc(64, (n * es + 63) & ~(size_t)63);
  if (!p)
    return NULL;
  srand(seed);
  for (size_t i = 0; i < n; ++i) {
    double v = (double)rand() / RAND_MAX - 0.5;
    if (dt == NDE_FLOAT32)
      ((float *)p)[i] = (float)v;
    else
      ((double *)p)[i] = v;
  }
  return p;
}

static int operands_make(const shape *s, operands *o) {
  size_t ar = s->ta ? s->k : s->m, ac = s->ta ? s->m : s->k;
  size_t br = s->tb ? s->n : s->k, bc = s->tb ? s->k : s->n;
  o->lda = ar;
  o->ldb = br;
  o->ldc = s->m;
  o->a = filled(ar * ac, 1);
  o->b = filled(br * bc, 2);
  o->c = filled(s->m * s->n, 3);
  o->z = filled(s->m * s->n, 4);
  o->bias = filled(s->m, 5);
  return o->a && o->b && o->c && o->z && o->bias;
}

static void operands_free(operands *o) {
  free(o->a);
  free(o->b);
  free(o->c);
  free(o->z);
  free(o->bias);
}

/* nde's epilogue after a plain GEMM into z: y = act(z + bias) */
static void epilogue(const shape *s, operands *o) {
  if (s->fwd)
    nde_backend_bias_activation(be, dt, s->act, s->m, s->n, o->bias, o->c, o->c);
}

typedef void (*run_fn)(const shape *s, operands *o, void *state);

static void report(const char *lib, const char *variant, const shape *s, int threads,
                   double best) {
  double flops = 2.0 * (double)s->m * (double)s->n * (double)s->k;
  printf("{\"lib\": \"%s\", \"variant\": \"%s\", \"model\": \"%s\", \"shape\": \"%s\", "
         "\"m\": %zu, \"n\": %zu, \"k\": %zu, \"ta\": %d, \"tb\": %d, \"dtype\": \"%s\", "
         "\"threads\": %d, \"best_s\": %.6g, \"gflops\": %.2f}\n",
         lib, variant, s->model, s->name, s->m, s->n, s->k, s->ta, s->tb,
         dt == NDE_FLOAT32 ? "float32" : "float64", threads, best, flops / best / 1e9);
  fflush(stdout);
}

static double time_best(run_fn fn, const shape *s, operands *o, void *state, int repeats) {
  for (int w = 0; w < 3; ++w)
    fn(s, o, state);
  double best = INFINITY;
  for (int r = 0; r < repeats; ++r) {
    double t0 = now();
    fn(s, o, state);
    double t = now() - t0;
    if (t < best)
      best = t;
  }
  return best;
}

/* ---------------------------------------------------------------- libraries */

#if defined(BENCH_OPENBLAS)
#define LIB "openblas"
static void run_lib(const shape *s, operands *o, void *state) {
  (void)state;
  enum CBLAS_TRANSPOSE ta = s->ta ? CblasTrans : CblasNoTrans, tb = s->tb ? CblasTrans : CblasNoTrans;
  if (dt == NDE_FLOAT32)
    cblas_sgemm(CblasColMajor, ta, tb, (blasint)s->m, (blasint)s->n, (blasint)s->k, 1.0f, o->a,
                (blasint)o->lda, o->b, (blasint)o->ldb, (float)s->beta, o->c, (blasint)o->ldc);
  else
    cblas_dgemm(CblasColMajor, ta, tb, (blasint)s->m, (blasint)s->n, (blasint)s->k, 1.0, o->a,
                (blasint)o->lda, o->b, (blasint)o->ldb, s->beta, o->c, (blasint)o->ldc);
  epilogue(s, o);
}
static void set_threads(int t) { openblas_set_num_threads(t); }
#elif defined(BENCH_BLIS)
#define LIB "blis"
/* the cpu backend's own BLIS call (gemm_blis.c, compiled in) */
static void run_lib(const shape *s, operands *o, void *state) {
  (void)state;
  cpu_blis_gemm(dt, s->ta, s->tb, s->m, s->n, s->k, 1.0, o->a, o->lda, o->b, o->ldb, s->beta, o->c,
                o->ldc);
  epilogue(s, o);
}
/* cpu_blis_gemm runs on OpenMP's thread count */
static void set_threads(int t) { (void)t; }
#elif defined(BENCH_XSMM)
#define LIB "libxsmm"
static void run_lib(const shape *s, operands *o, void *state) {
  (void)state;
  char ta = s->ta ? 'T' : 'N', tb = s->tb ? 'T' : 'N';
  libxsmm_blasint m = (libxsmm_blasint)s->m, n = (libxsmm_blasint)s->n, k = (libxsmm_blasint)s->k,
                  lda = (libxsmm_blasint)o->lda, ldb = (libxsmm_blasint)o->ldb,
                  ldc = (libxsmm_blasint)o->ldc;
  if (dt == NDE_FLOAT32) {
    float one = 1, beta = (float)s->beta;
    libxsmm_sgemm(&ta, &tb, &m, &n, &k, &one, o->a, &lda, o->b, &ldb, &beta, o->c, &ldc);
  } else {
    double one = 1, beta = s->beta;
    libxsmm_dgemm(&ta, &tb, &m, &n, &k, &one, o->a, &lda, o->b, &ldb, &beta, o->c, &ldc);
  }
  epilogue(s, o);
}
/* libxsmm_?gemm runs on the calling thread; products above its small-size
   threshold go to the BLAS it was linked with (OpenBLAS here) */
static void set_threads(int t) { openblas_set_num_threads(t); }
#elif defined(BENCH_ONEDNN)
#define LIB "onednn"
static void run_lib(const shape *s, operands *o, void *state) {
  (void)state;
  /* row-major: the column-major C = op(A)·op(B) is Cᵀ = op(B)ᵀ·op(A)ᵀ */
  dnnl_sgemm(s->tb ? 'T' : 'N', s->ta ? 'T' : 'N', (dnnl_dim_t)s->n, (dnnl_dim_t)s->m,
             (dnnl_dim_t)s->k, 1.0f, o->b, (dnnl_dim_t)o->ldb, o->a, (dnnl_dim_t)o->lda,
             (float)s->beta, o->c, (dnnl_dim_t)o->ldc);
  epilogue(s, o);
}
static void set_threads(int t) {
#ifdef _OPENMP
  omp_set_num_threads(t);
#endif
}

/* the cpu backend's matmul primitives (gemm_onednn.c, compiled in), cached per shape */
static cpu_matmul_cache *cache;

static void run_matmul(const shape *s, operands *o, int fused) {
  if (cpu_matmul_f32(cache, s->ta, s->tb, s->m, s->n, s->k, 1.0f, o->a, o->lda, o->b, o->ldb,
                     (float)s->beta, o->c, o->ldc, fused ? o->bias : NULL,
                     fused ? s->act : NDE_ACT_IDENTITY) != 0) {
    fprintf(stderr, "bench_gemm: oneDNN has no matmul for %s\n", s->name);
    exit(1);
  }
}
static void run_matmul_fused(const shape *s, operands *o, void *state) {
  (void)state;
  run_matmul(s, o, 1);
}
/* the primitive without post-ops, then nde's epilogue */
static void run_matmul_then_epilogue(const shape *s, operands *o, void *state) {
  (void)state;
  run_matmul(s, o, 0);
  epilogue(s, o);
}
#else
#error "define one of BENCH_OPENBLAS, BENCH_ONEDNN, BENCH_BLIS, BENCH_XSMM"
#endif

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s float32|float64 THREADS [REPEATS=30]\n", argv[0]);
    return 2;
  }
  dt = !strcmp(argv[1], "float64") ? NDE_FLOAT64 : NDE_FLOAT32;
  es = dt == NDE_FLOAT32 ? 4 : 8;
  int threads = atoi(argv[2]), repeats = argc > 3 ? atoi(argv[3]) : 30;
  if (threads < 1 || repeats < 1) {
    fprintf(stderr, "bench_gemm: THREADS and REPEATS must be >= 1\n");
    return 2;
  }
#ifdef _OPENMP
  omp_set_num_threads(threads);
#endif
  set_threads(threads);
  /* nde's epilogue on its cpu backend (OpenBLAS GEMMs are not used here) */
  if (nde_backend_open(NULL, "cpu", "{\"gemm\": \"openblas\"}", &be) != NDE_OK) {
    fprintf(stderr, "bench_gemm: %s\n", nde_last_error());
    return 1;
  }
#ifdef BENCH_ONEDNN
  if (!(cache = cpu_matmul_cache_create())) {
    fprintf(stderr, "bench_gemm: no oneDNN CPU engine\n");
    return 1;
  }
#endif
  for (size_t i = 0; i < NSHAPES; ++i) {
    const shape *s = &shapes[i];
    operands o;
    if (!operands_make(s, &o)) {
      fprintf(stderr, "bench_gemm: out of memory\n");
      return 1;
    }
#ifdef BENCH_ONEDNN
    if (dt == NDE_FLOAT32)
      report("onednn", s->fwd ? "sgemm+nde epilogue" : "sgemm", s, threads,
             time_best(run_lib, s, &o, NULL, repeats));
    for (int fused = 0; fused <= s->fwd; ++fused) {
      if (dt != NDE_FLOAT32) { /* oneDNN 2.x has no f64 data type on CPUs */
        printf("{\"lib\": \"onednn\", \"variant\": \"matmul%s\", \"model\": \"%s\", "
               "\"shape\": \"%s\", \"dtype\": \"%s\", \"threads\": %d, \"unsupported\": true}\n",
               fused ? " fused" : "", s->model, s->name, argv[1], threads);
        continue;
      }
      report("onednn", fused ? "matmul fused bias+act" : s->fwd ? "matmul+nde epilogue" : "matmul",
             s, threads,
             time_best(fused ? run_matmul_fused : run_matmul_then_epilogue, s, &o, NULL, repeats));
    }
#else
    report(LIB, s->fwd ? "gemm+nde epilogue" : "gemm", s, threads,
           time_best(run_lib, s, &o, NULL, repeats));
#endif
    operands_free(&o);
  }
  nde_backend_destroy(&be);
#ifdef BENCH_ONEDNN
  cpu_matmul_cache_destroy(cache);
#endif
  return 0;
}
