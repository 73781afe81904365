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
 * (post-op). Pullback shapes ("dX", "dW") are the GEMM alone; dW
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
#endif
#ifdef BENCH_BLIS
#include <blis.h>
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
                   double best, const char *impl) {
  double flops = 2.0 * (double)s->m * (double)s->n * (double)s->k;
  printf("{\"lib\": \"%s\", \"variant\": \"%s\", \"model\": \"%s\", \"shape\": \"%s\", "
         "\"m\": %zu, \"n\": %zu, \"k\": %zu, \"ta\": %d, \"tb\": %d, \"dtype\": \"%s\", "
         "\"threads\": %d, \"best_s\": %.6g, \"gflops\": %.2f%s%s%s}\n",
         lib, variant, s->model, s->name, s->m, s->n, s->k, s->ta, s->tb,
         dt == NDE_FLOAT32 ? "float32" : "float64", threads, best, flops / best / 1e9,
         impl ? ", \"impl\": \"" : "", impl ? impl : "", impl ? "\"" : "");
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
static void run_lib(const shape *s, operands *o, void *state) {
  (void)state;
  trans_t ta = s->ta ? BLIS_TRANSPOSE : BLIS_NO_TRANSPOSE, tb = s->tb ? BLIS_TRANSPOSE : BLIS_NO_TRANSPOSE;
  if (dt == NDE_FLOAT32) {
    float one = 1, beta = (float)s->beta;
    bli_sgemm(ta, tb, (dim_t)s->m, (dim_t)s->n, (dim_t)s->k, &one, o->a, 1, (inc_t)o->lda, o->b, 1,
              (inc_t)o->ldb, &beta, o->c, 1, (inc_t)o->ldc);
  } else {
    double one = 1, beta = s->beta;
    bli_dgemm(ta, tb, (dim_t)s->m, (dim_t)s->n, (dim_t)s->k, &one, o->a, 1, (inc_t)o->lda, o->b, 1,
              (inc_t)o->ldb, &beta, o->c, 1, (inc_t)o->ldc);
  }
  epilogue(s, o);
}
static void set_threads(int t) { bli_thread_set_num_threads(t); }
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

/* the matmul primitive, created once per shape: nde's column-major operands
   as row-major matrices by strides (see the cpu backend's gemm_onednn.c) */
typedef struct matmul {
  dnnl_engine_t engine;
  dnnl_stream_t stream;
  dnnl_primitive_t prim;
  dnnl_memory_t src, wei, bias, dst;
  int nargs; /* 4 with the bias */
  const char *impl;
} matmul;

static dnnl_alg_kind_t dnnl_act(nde_activation act) {
  return act == NDE_ACT_TANH ? dnnl_eltwise_tanh : dnnl_eltwise_relu;
}

/* 0 when oneDNN has no implementation (e.g. float64 on CPUs) */
static int matmul_make(const shape *s, operands *o, int fused, matmul *mm) {
  memset(mm, 0, sizeof *mm);
  if (dt != NDE_FLOAT32) /* oneDNN 2.x has no f64 data type on CPUs */
    return 0;
  dnnl_data_type_t ty = dnnl_f32;
  dnnl_memory_desc_t src, wei, bias, dst;
  dnnl_dims_t sd = {(dnnl_dim_t)s->n, (dnnl_dim_t)s->k}, wd = {(dnnl_dim_t)s->k, (dnnl_dim_t)s->m},
              dd = {(dnnl_dim_t)s->n, (dnnl_dim_t)s->m}, bd = {1, (dnnl_dim_t)s->m};
  /* src = op(B)ᵀ (n×k), weights = op(A)ᵀ (k×m), dst = Cᵀ (n×m) */
  dnnl_dims_t ss = {s->tb ? 1 : (dnnl_dim_t)o->ldb, s->tb ? (dnnl_dim_t)o->ldb : 1},
              ws = {s->ta ? 1 : (dnnl_dim_t)o->lda, s->ta ? (dnnl_dim_t)o->lda : 1},
              ds = {(dnnl_dim_t)o->ldc, 1};
  if (dnnl_memory_desc_init_by_strides(&src, 2, sd, ty, ss) ||
      dnnl_memory_desc_init_by_strides(&wei, 2, wd, ty, ws) ||
      dnnl_memory_desc_init_by_strides(&dst, 2, dd, ty, ds) ||
      dnnl_memory_desc_init_by_tag(&bias, 2, bd, ty, dnnl_ab))
    return 0;
  dnnl_matmul_desc_t desc;
  if (dnnl_matmul_desc_init(&desc, &src, &wei, fused ? &bias : NULL, &dst))
    return 0;
  dnnl_primitive_attr_t attr;
  dnnl_post_ops_t po;
  dnnl_primitive_attr_create(&attr);
  dnnl_post_ops_create(&po);
  if (s->beta != 0)
    dnnl_post_ops_append_sum(po, 1.0f);
  if (fused && s->act != NDE_ACT_IDENTITY)
    dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_act(s->act), 0.0f, 0.0f);
  dnnl_primitive_attr_set_post_ops(attr, po);
  dnnl_post_ops_destroy(po);
  dnnl_engine_create(&mm->engine, dnnl_cpu, 0);
  dnnl_stream_create(&mm->stream, mm->engine, dnnl_stream_default_flags);
  dnnl_primitive_desc_t pd;
  dnnl_status_t st = dnnl_primitive_desc_create(&pd, &desc, attr, mm->engine, NULL);
  dnnl_primitive_attr_destroy(attr);
  if (st != dnnl_success)
    return 0;
  dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &mm->impl);
  dnnl_primitive_create(&mm->prim, pd);
  dnnl_memory_create(&mm->src, &src, mm->engine, o->b);
  dnnl_memory_create(&mm->wei, &wei, mm->engine, o->a);
  dnnl_memory_create(&mm->bias, &bias, mm->engine, o->bias);
  dnnl_memory_create(&mm->dst, &dst, mm->engine, o->c);
  mm->impl = strdup(mm->impl ? mm->impl : "?");
  mm->nargs = fused ? 4 : 3;
  dnnl_primitive_desc_destroy(pd);
  return 1;
}

static void matmul_free(matmul *mm) {
  dnnl_memory_destroy(mm->src);
  dnnl_memory_destroy(mm->wei);
  dnnl_memory_destroy(mm->bias);
  dnnl_memory_destroy(mm->dst);
  dnnl_primitive_destroy(mm->prim);
  dnnl_stream_destroy(mm->stream);
  dnnl_engine_destroy(mm->engine);
  free((void *)mm->impl);
}

static void run_matmul(const shape *s, operands *o, void *state) {
  matmul *mm = state;
  dnnl_exec_arg_t args[4] = {{DNNL_ARG_SRC, mm->src}, {DNNL_ARG_WEIGHTS, mm->wei},
                             {DNNL_ARG_DST, mm->dst}, {DNNL_ARG_BIAS, mm->bias}};
  if (dnnl_primitive_execute(mm->prim, mm->stream, mm->nargs, args) != dnnl_success ||
      dnnl_stream_wait(mm->stream) != dnnl_success) {
    fprintf(stderr, "bench_gemm: oneDNN matmul failed on %s\n", s->name);
    exit(1);
  }
}

/* the primitive without post-ops, then nde's epilogue */
static void run_matmul_then_epilogue(const shape *s, operands *o, void *state) {
  run_matmul(s, o, state);
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
             time_best(run_lib, s, &o, NULL, repeats), NULL);
    for (int fused = 0; fused <= s->fwd; ++fused) {
      matmul mm;
      if (!matmul_make(s, &o, fused, &mm)) {
        printf("{\"lib\": \"onednn\", \"variant\": \"matmul%s\", \"model\": \"%s\", "
               "\"shape\": \"%s\", \"dtype\": \"%s\", \"threads\": %d, \"unsupported\": true}\n",
               fused ? " fused" : "", s->model, s->name, argv[1], threads);
        continue;
      }
      report("onednn", fused ? "matmul fused bias+act" : s->fwd ? "matmul+nde epilogue" : "matmul",
             s, threads,
             time_best(fused ? run_matmul : run_matmul_then_epilogue, s, &o, &mm, repeats), mm.impl);
      matmul_free(&mm);
    }
#else
    report(LIB, s->fwd ? "gemm+nde epilogue" : "gemm", s, threads,
           time_best(run_lib, s, &o, NULL, repeats), NULL);
#endif
    operands_free(&o);
  }
  nde_backend_destroy(&be);
  return 0;
}
