/*
 * The `cuda` backend: device memory (stream-ordered cudaMallocAsync where
 * the device supports memory pools, else cudaMalloc; never managed memory),
 * one CUDA stream and one cuBLAS handle per instance, cuBLAS for gemm and
 * the kernels of kernels.cu for everything else.
 *
 * Nothing waits for the device except what must: download() (the host
 * needs the bytes), upload() (the host may reuse its buffer) and the operations that return a scalar to the host
 * (dot, norms, sum, wrms_norm, all_finite, softmax_cross_entropy), which
 * copy one or two doubles back and synchronise the stream. The solvers ask
 * for about one such scalar per step (the error norm).
 *
 * Operations that return void cannot report a failure (a launch error, a
 * cuBLAS error, or a fault in an earlier asynchronous kernel): the first one
 * is kept in the instance and returned, with the operation's name, by the
 * next operation that returns a status (alloc, copy, upload, download);
 * scalar operations then return NaN, which solvers and training treat as a
 * non-finite result.
 */
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <nde/backend.h>

#include "kernels.h"

typedef struct cuda_ctx {
  int device;
  int pool; /* the device supports cudaMallocAsync */
  cudaStream_t stream;
  cublasHandle_t blas;
  double *partials; /* device: 2·RED_PARTIALS block results, then 2 reduction results */
  double *result;   /* pinned host: the 2 reduction results */
  pthread_mutex_t lock; /* one reduction at a time uses partials/result; guards `failed` */
  char failed[256];     /* the first failure of a void operation ("" when none) */
} cuda_ctx;

/* Device pointers of the reduction results, after the block partials. */
#define RESULTS(ctx) ((ctx)->partials + 2 * RED_PARTIALS)

/* Make the instance's device current on this thread (a caller may use several threads). */
static int use(cuda_ctx *ctx) { return cudaSetDevice(ctx->device) == cudaSuccess; }

/* Remember the first failure of an operation that cannot return one. */
static void note(cuda_ctx *ctx, const char *op, const char *what) {
  pthread_mutex_lock(&ctx->lock);
  if (!ctx->failed[0])
    snprintf(ctx->failed, sizeof ctx->failed, "%s: %s", op, what);
  pthread_mutex_unlock(&ctx->lock);
}

static void check(cuda_ctx *ctx, const char *op, cudaError_t e) {
  if (e != cudaSuccess)
    note(ctx, op, cudaGetErrorString(e));
}

/* The status for an earlier failure, or NDE_OK. */
static nde_status earlier_failure(cuda_ctx *ctx) {
  pthread_mutex_lock(&ctx->lock);
  nde_status st = ctx->failed[0] ? nde_error(NDE_EINTERNAL,
                                             "cuda backend: an earlier operation failed (%s)",
                                             ctx->failed)
                                 : NDE_OK;
  pthread_mutex_unlock(&ctx->lock);
  return st;
}

static nde_status cuda_failure(const char *op, cudaError_t e) {
  return nde_error(e == cudaErrorMemoryAllocation ? NDE_ENOMEM : NDE_EINTERNAL,
                   "cuda backend: %s: %s (%s)", op, cudaGetErrorString(e), cudaGetErrorName(e));
}

/* ------------------------------------------------------------ instances */

static void cuda_destroy(void *vctx) {
  cuda_ctx *ctx = vctx;
  if (!ctx)
    return;
  use(ctx);
  if (ctx->stream)
    cudaStreamSynchronize(ctx->stream);
  if (ctx->blas)
    cublasDestroy(ctx->blas);
  cudaFree(ctx->partials);
  cudaFreeHost(ctx->result);
  if (ctx->stream)
    cudaStreamDestroy(ctx->stream);
  pthread_mutex_destroy(&ctx->lock);
  free(ctx);
}

static nde_status cuda_create(const nde_options *options, void **out) {
  *out = NULL;
  int count = 0;
  cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess)
    return nde_error(NDE_EPLUGIN,
                     "no usable CUDA device: %s (%s from cudaGetDeviceCount); the cuda backend "
                     "needs an NVIDIA GPU and its driver",
                     cudaGetErrorString(e), cudaGetErrorName(e));
  if (count <= 0)
    return nde_error(NDE_EPLUGIN, "no CUDA device found; the cuda backend needs an NVIDIA GPU");
  int64_t device = nde_options_int(options, "device", 0);
  if (device < 0 || device >= count)
    return nde_error(NDE_EINVAL, "option device = %lld, but this machine has %d CUDA device%s "
                     "(0 to %d)", (long long)device, count, count == 1 ? "" : "s", count - 1);
  /* kernels.cu carries sm_80 and sm_90 code and compute_90 PTX: older GPUs cannot run it */
  int major = 0, minor = 0;
  cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, (int)device);
  cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, (int)device);
  if (major < 8)
    return nde_error(NDE_EPLUGIN, "CUDA device %lld has compute capability %d.%d; the cuda "
                     "backend is built for 8.0 and newer", (long long)device, major, minor);
  cuda_ctx *ctx = calloc(1, sizeof *ctx);
  if (!ctx)
    return nde_error(NDE_ENOMEM, "out of memory");
  ctx->device = (int)device;
  pthread_mutex_init(&ctx->lock, NULL);
  nde_status st = NDE_OK;
  const char *step = "cudaSetDevice";
  e = cudaSetDevice(ctx->device);
  if (e == cudaSuccess && (step = "cudaStreamCreate",
                           e = cudaStreamCreateWithFlags(&ctx->stream, cudaStreamNonBlocking)) ==
                              cudaSuccess &&
      (step = "allocating reduction scratch",
       e = cudaMalloc((void **)&ctx->partials, (2 * RED_PARTIALS + 2) * sizeof(double))) ==
          cudaSuccess)
    e = cudaMallocHost((void **)&ctx->result, 2 * sizeof(double));
  if (e != cudaSuccess) /* the device exists but cannot be used (busy, prohibited, no memory) */
    st = e == cudaErrorMemoryAllocation
             ? cuda_failure(step, e)
             : nde_error(NDE_EPLUGIN, "CUDA device %d is not usable: %s: %s (%s)", ctx->device,
                         step, cudaGetErrorString(e), cudaGetErrorName(e));
  if (st == NDE_OK) {
    int pools = 0;
    if (cudaDeviceGetAttribute(&pools, cudaDevAttrMemoryPoolsSupported, ctx->device) ==
        cudaSuccess)
      ctx->pool = pools != 0;
    /* keep freed blocks in the pool (the default hands them back to the
       driver at every synchronisation, and solvers allocate per solve) */
    cudaMemPool_t mempool;
    uint64_t keep = UINT64_MAX;
    if (ctx->pool && cudaDeviceGetDefaultMemPool(&mempool, ctx->device) == cudaSuccess)
      cudaMemPoolSetAttribute(mempool, cudaMemPoolAttrReleaseThreshold, &keep);
    cublasStatus_t b = cublasCreate(&ctx->blas);
    if (b == CUBLAS_STATUS_SUCCESS)
      b = cublasSetStream(ctx->blas, ctx->stream);
    /* TF32 tensor cores round float32 GEMM inputs to 10 mantissa bits: only on request. */
    if (b == CUBLAS_STATUS_SUCCESS)
      b = cublasSetMathMode(ctx->blas, nde_options_bool(options, "allow_tf32", 0)
                                           ? CUBLAS_TF32_TENSOR_OP_MATH
                                           : CUBLAS_DEFAULT_MATH);
    if (b != CUBLAS_STATUS_SUCCESS)
      st = nde_error(NDE_EPLUGIN, "cuda backend: cuBLAS: %s", cublasGetStatusString(b));
  }
  if (st != NDE_OK) {
    cuda_destroy(ctx);
    return st;
  }
  *out = ctx;
  return NDE_OK;
}

/* ------------------------------------------------------------ memory */

static nde_status cuda_alloc(void *vctx, size_t bytes, void **ptr) {
  cuda_ctx *ctx = vctx;
  *ptr = NULL;
  NDE_TRY(earlier_failure(ctx));
  if (!use(ctx))
    return nde_error(NDE_EINTERNAL, "cuda backend: cannot select device %d", ctx->device);
  size_t size = bytes ? bytes : 1; /* a unique pointer even for 0 bytes */
  void *p = NULL;
  cudaError_t e = ctx->pool ? cudaMallocAsync(&p, size, ctx->stream) : cudaMalloc(&p, size);
  cudaMemPool_t mempool;
  if (e == cudaErrorMemoryAllocation && ctx->pool &&
      cudaDeviceGetDefaultMemPool(&mempool, ctx->device) == cudaSuccess) {
    /* blocks the pool keeps may be what is missing: hand them back, try once more */
    cudaGetLastError();
    cudaStreamSynchronize(ctx->stream);
    cudaMemPoolTrimTo(mempool, 0);
    e = cudaMallocAsync(&p, size, ctx->stream);
  }
  if (e != cudaSuccess) {
    cudaGetLastError(); /* an allocation failure is not sticky: clear it */
    size_t free_b = 0, total_b = 0;
    cudaMemGetInfo(&free_b, &total_b);
    /* more than the device has is out of memory too, whatever the error's name */
    if (e == cudaErrorMemoryAllocation || (total_b > 0 && bytes > total_b))
      return nde_error(NDE_ENOMEM,
                       "cuda backend: out of device memory allocating %zu bytes on device %d "
                       "(%zu of %zu bytes free)",
                       bytes, ctx->device, free_b, total_b);
    return nde_error(NDE_EINTERNAL, "cuda backend: allocating %zu bytes: %s", bytes,
                     cudaGetErrorString(e));
  }
  e = cudaMemsetAsync(p, 0, size, ctx->stream);
  if (e != cudaSuccess) {
    if (ctx->pool)
      cudaFreeAsync(p, ctx->stream);
    else
      cudaFree(p);
    return cuda_failure("zeroing new memory", e);
  }
  *ptr = p;
  return NDE_OK;
}

static void cuda_release(void *vctx, void *ptr) {
  cuda_ctx *ctx = vctx;
  if (!ptr)
    return;
  use(ctx);
  check(ctx, "release", ctx->pool ? cudaFreeAsync(ptr, ctx->stream) : cudaFree(ptr));
}

/*
 * One copy on the instance's stream: device to device stays queued; host to
 * device and back wait for it (the host reads the bytes, or may reuse its
 * buffer as soon as this returns: CUDA stages pageable memory before
 * cudaMemcpyAsync returns, but a page-locked buffer would still be read
 * later). Uploads happen once per batch or checkpoint, not per solver step.
 */
static nde_status transfer(cuda_ctx *ctx, const char *op, void *dst, const void *src,
                           size_t bytes, enum cudaMemcpyKind kind) {
  NDE_TRY(earlier_failure(ctx));
  if (bytes == 0)
    return NDE_OK;
  use(ctx);
  cudaError_t e = cudaMemcpyAsync(dst, src, bytes, kind, ctx->stream);
  if (e == cudaSuccess && kind != cudaMemcpyDeviceToDevice)
    e = cudaStreamSynchronize(ctx->stream);
  return e == cudaSuccess ? NDE_OK : cuda_failure(op, e);
}

static nde_status cuda_copy(void *ctx, void *dst, const void *src, size_t bytes) {
  return transfer(ctx, "copy", dst, src, bytes, cudaMemcpyDeviceToDevice);
}

static nde_status cuda_upload(void *ctx, void *dst, const void *src, size_t bytes) {
  return transfer(ctx, "upload", dst, src, bytes, cudaMemcpyHostToDevice);
}

static nde_status cuda_download(void *ctx, void *dst, const void *src, size_t bytes) {
  return transfer(ctx, "download", dst, src, bytes, cudaMemcpyDeviceToHost);
}

/* ------------------------------------------------------------ scalars back to the host */

/*
 * Run a reduction launcher (which writes RESULTS(ctx)[0..count)) and bring
 * its results to the host: the one place besides download() that waits.
 * Returns 0 and leaves NaN in out[] on failure.
 */
#define REDUCE_TO_HOST(ctx, op, count, out, launch)                              \
  do {                                                                           \
    use(ctx);                                                                    \
    pthread_mutex_lock(&(ctx)->lock);                                            \
    cudaError_t e_ = (launch);                                                   \
    if (e_ == cudaSuccess)                                                       \
      e_ = cudaMemcpyAsync((ctx)->result, RESULTS(ctx), (count) * sizeof(double), \
                           cudaMemcpyDeviceToHost, (ctx)->stream);               \
    if (e_ == cudaSuccess)                                                       \
      e_ = cudaStreamSynchronize((ctx)->stream);                                 \
    for (int j_ = 0; j_ < (count); ++j_)                                         \
      (out)[j_] = e_ == cudaSuccess ? (ctx)->result[j_] : NAN;                   \
    pthread_mutex_unlock(&(ctx)->lock);                                          \
    check(ctx, op, e_);                                                          \
  } while (0)

static double reduce(cuda_ctx *ctx, const char *op, nde_dtype dt, cu_reduction what, size_t n,
                     const void *x, const void *y) {
  double r;
  REDUCE_TO_HOST(ctx, op, 1, &r,
                 cu_reduce(ctx->stream, (int)dt, what, n, x, y, ctx->partials, RESULTS(ctx)));
  return r;
}

static double cuda_dot(void *ctx, nde_dtype dt, size_t n, const void *x, const void *y) {
  return reduce(ctx, "dot", dt, CU_DOT, n, x, y);
}

static double cuda_norm2(void *ctx, nde_dtype dt, size_t n, const void *x) {
  return sqrt(reduce(ctx, "norm2", dt, CU_SUMSQ, n, x, NULL));
}

static double cuda_norm_inf(void *ctx, nde_dtype dt, size_t n, const void *x) {
  return reduce(ctx, "norm_inf", dt, CU_MAXABS, n, x, NULL);
}

static double cuda_sum(void *ctx, nde_dtype dt, size_t n, const void *x) {
  return reduce(ctx, "sum", dt, CU_SUM, n, x, NULL);
}

static int cuda_all_finite(void *ctx, nde_dtype dt, size_t n, const void *x) {
  return reduce(ctx, "all_finite", dt, CU_NONFINITE, n, x, NULL) == 0;
}

static double cuda_wrms(void *vctx, nde_dtype dt, size_t n, const void *e, const void *u0,
                        const void *u1, double atol, double rtol) {
  cuda_ctx *ctx = vctx;
  if (n == 0)
    return 0;
  double s;
  REDUCE_TO_HOST(ctx, "wrms_norm", 1, &s,
                 cu_wrms_sumsq(ctx->stream, (int)dt, n, e, u0, u1, atol, rtol, ctx->partials,
                               RESULTS(ctx)));
  return sqrt(s / (double)n);
}

static double cuda_softmax_cross_entropy(void *vctx, nde_dtype dt, size_t classes, size_t batch,
                                         const void *logits, const void *labels, double scale,
                                         void *grad, size_t *correct) {
  cuda_ctx *ctx = vctx;
  double r[2];
  REDUCE_TO_HOST(ctx, "softmax_cross_entropy", 2, r,
                 cu_softmax_xent(ctx->stream, (int)dt, classes, batch, logits, labels, scale,
                                 grad, ctx->partials, RESULTS(ctx)));
  if (correct)
    *correct = r[1] >= 0 ? (size_t)r[1] : 0; /* NaN (a failure) counts none */
  return r[0];
}

/* ------------------------------------------------------------ asynchronous operations */

/* Queue a kernel launcher's work on the instance's stream; remember a failure. */
#define QUEUE(vctx, op, launcher, ...)                                           \
  do {                                                                           \
    cuda_ctx *c_ = (vctx);                                                       \
    use(c_);                                                                     \
    check(c_, op, launcher(c_->stream, __VA_ARGS__));                            \
  } while (0)

static void cuda_fill(void *ctx, nde_dtype dt, size_t n, double v, void *x) {
  QUEUE(ctx, "fill", cu_fill, (int)dt, n, v, x);
}

static void cuda_scale(void *ctx, nde_dtype dt, size_t n, double a, void *x) {
  QUEUE(ctx, "scale", cu_scale, (int)dt, n, a, x);
}

static void cuda_axpy(void *ctx, nde_dtype dt, size_t n, double a, const void *x, void *y) {
  QUEUE(ctx, "axpy", cu_axpy, (int)dt, n, a, x, y);
}

static void cuda_axpby(void *ctx, nde_dtype dt, size_t n, double a, const void *x, double b,
                       void *y) {
  QUEUE(ctx, "axpby", cu_axpby, (int)dt, n, a, x, b, y);
}

/*
 * One kernel for all non-zero terms (up to LINCOMB_MAX_TERMS; a longer sum
 * takes more passes, the later ones with beta = 1): a Runge–Kutta stage
 * combination reads each stage once and writes y once.
 */
static void cuda_lincomb(void *vctx, nde_dtype dt, size_t n, int k, const double *c,
                         const void *const *x, double beta, void *y) {
  cuda_ctx *ctx = vctx;
  use(ctx);
  double cc[LINCOMB_MAX_TERMS];
  const void *xx[LINCOMB_MAX_TERMS];
  int m = 0, first = 1;
  for (int j = 0; j <= k; ++j) {
    if (j < k && c[j] != 0) {
      cc[m] = c[j];
      xx[m++] = x[j];
    }
    if (m == LINCOMB_MAX_TERMS || (j == k && (m > 0 || first))) {
      double b = first ? beta : 1.0;
      cudaError_t e = cudaSuccess;
      if (m > 0)
        e = cu_lincomb(ctx->stream, (int)dt, n, m, cc, xx, b, y);
      else if (b == 0)
        e = cu_fill(ctx->stream, (int)dt, n, 0, y);
      else if (b != 1)
        e = cu_scale(ctx->stream, (int)dt, n, b, y);
      check(ctx, "lincomb", e);
      first = 0;
      m = 0;
    }
  }
}

static void cuda_mul(void *ctx, nde_dtype dt, size_t n, const void *x, const void *y, void *z) {
  QUEUE(ctx, "mul", cu_mul, (int)dt, n, x, y, z);
}

static void cuda_gemm(void *vctx, nde_dtype dt, nde_transpose ta, nde_transpose tb, size_t m,
                      size_t n, size_t k, double alpha, const void *a, size_t lda, const void *b,
                      size_t ldb, double beta, void *c, size_t ldc) {
  cuda_ctx *ctx = vctx;
  if (m == 0 || n == 0)
    return;
  use(ctx);
  if (k == 0) { /* as on cpu: C = beta·C */
    check(ctx, "gemm", cu_scale_matrix(ctx->stream, (int)dt, m, n, beta, c, ldc));
    return;
  }
  if (m > INT32_MAX || n > INT32_MAX || k > INT32_MAX || lda > INT32_MAX || ldb > INT32_MAX ||
      ldc > INT32_MAX) {
    note(ctx, "gemm", "a dimension exceeds cuBLAS's 32-bit limit");
    return;
  }
  cublasOperation_t oa = ta == NDE_TRANS ? CUBLAS_OP_T : CUBLAS_OP_N;
  cublasOperation_t ob = tb == NDE_TRANS ? CUBLAS_OP_T : CUBLAS_OP_N;
  cublasStatus_t st;
  if (dt == NDE_FLOAT32) {
    float fa = (float)alpha, fb = (float)beta;
    st = cublasSgemm(ctx->blas, oa, ob, (int)m, (int)n, (int)k, &fa, a, (int)lda, b, (int)ldb,
                     &fb, c, (int)ldc);
  } else {
    st = cublasDgemm(ctx->blas, oa, ob, (int)m, (int)n, (int)k, &alpha, a, (int)lda, b,
                     (int)ldb, &beta, c, (int)ldc);
  }
  if (st != CUBLAS_STATUS_SUCCESS)
    note(ctx, "gemm", cublasGetStatusString(st));
}

static void cuda_add_column(void *ctx, nde_dtype dt, size_t rows, size_t cols, const void *b,
                            void *y) {
  QUEUE(ctx, "add_column", cu_add_column, (int)dt, rows, cols, b, y);
}

static void cuda_sum_columns(void *ctx, nde_dtype dt, size_t rows, size_t cols, const void *x,
                             double beta, void *out) {
  QUEUE(ctx, "sum_columns", cu_sum_columns, (int)dt, rows, cols, x, beta, out);
}

static void cuda_activation(void *ctx, nde_dtype dt, nde_activation act, size_t n, const void *x,
                            void *y) {
  QUEUE(ctx, "activation", cu_activation, (int)dt, (int)act, n, x, y);
}

static void cuda_activation_vjp(void *ctx, nde_dtype dt, nde_activation act, size_t n,
                                const void *x, const void *y, const void *dy, void *dx) {
  QUEUE(ctx, "activation_vjp", cu_activation_vjp, (int)dt, (int)act, n, x, y, dy, dx);
}

static void cuda_random_normal(void *ctx, nde_dtype dt, size_t n, uint64_t seed,
                               uint64_t stream, uint64_t offset, double mean, double sd,
                               void *x) {
  QUEUE(ctx, "random_normal", cu_random_normal, (int)dt, n, seed, stream, offset, mean, sd, x);
}

static void cuda_random_uniform(void *ctx, nde_dtype dt, size_t n, uint64_t seed,
                                uint64_t stream, uint64_t offset, double lo, double hi,
                                void *x) {
  QUEUE(ctx, "random_uniform", cu_random_uniform, (int)dt, n, seed, stream, offset, lo, hi, x);
}

static void cuda_convert(void *vctx, nde_dtype ds, const void *src, nde_dtype dd, void *dst,
                         size_t n) {
  cuda_ctx *ctx = vctx;
  use(ctx);
  if (ds != dd)
    check(ctx, "convert", cu_convert(ctx->stream, (int)ds, src, (int)dd, dst, n));
  else if (n > 0 && src != dst)
    check(ctx, "convert",
          cudaMemcpyAsync(dst, src, n * nde_dtype_size(ds), cudaMemcpyDeviceToDevice,
                          ctx->stream));
}

static void cuda_sq_axpby(void *ctx, nde_dtype dt, size_t n, double a, const void *x,
                          const void *w, double b, double c, void *y) {
  QUEUE(ctx, "sq_axpby", cu_sq_axpby, (int)dt, n, a, x, w, b, c, y);
}

static void cuda_max_abs(void *ctx, nde_dtype dt, size_t n, const void *x, double b, void *y) {
  QUEUE(ctx, "max_abs", cu_max_abs, (int)dt, n, x, b, y);
}

static void cuda_div_axpy(void *ctx, nde_dtype dt, size_t n, double a, const void *x, double c,
                          const void *y, double eps, int root, void *z) {
  QUEUE(ctx, "div_axpy", cu_div_axpy, (int)dt, n, a, x, c, y, eps, root, z);
}

static void cuda_copy_matrix(void *vctx, nde_dtype dt, size_t rows, size_t cols, const void *src,
                             size_t lds, void *dst, size_t ldd) {
  cuda_ctx *ctx = vctx;
  if (rows == 0 || cols == 0)
    return;
  use(ctx);
  size_t sz = nde_dtype_size(dt);
  cudaError_t e =
      cols == 1 ? cudaMemcpyAsync(dst, src, rows * sz, cudaMemcpyDeviceToDevice, ctx->stream)
                : cudaMemcpy2DAsync(dst, ldd * sz, src, lds * sz, rows * sz, cols,
                                    cudaMemcpyDeviceToDevice, ctx->stream);
  check(ctx, "copy_matrix", e);
}

static void cuda_fill_matrix(void *ctx, nde_dtype dt, size_t rows, size_t cols, double value,
                             void *dst, size_t ldd) {
  QUEUE(ctx, "fill_matrix", cu_fill_matrix, (int)dt, rows, cols, value, dst, ldd);
}

static void cuda_wrms_vjp(void *ctx, nde_dtype dt, size_t n, const void *e, const void *u0,
                          const void *u1, double atol, double rtol, double norm, double w,
                          void *de, void *du0, void *du1) {
  QUEUE(ctx, "wrms_norm_vjp", cu_wrms_vjp, (int)dt, n, e, u0, u1, atol, rtol, norm, w, de, du0,
        du1);
}

NDE_PLUGIN_DEFINE(backend, cuda, .device = NDE_DEVICE_CUDA, .create = cuda_create,
                                 .destroy = cuda_destroy, .alloc = cuda_alloc,
                                 .release = cuda_release, .copy = cuda_copy,
                                 .upload = cuda_upload, .download = cuda_download,
                                 .fill = cuda_fill, .scale = cuda_scale, .axpy = cuda_axpy,
                                 .axpby = cuda_axpby, .lincomb = cuda_lincomb,
                                 .mul = cuda_mul, .dot = cuda_dot, .norm2 = cuda_norm2,
                                 .norm_inf = cuda_norm_inf, .sum = cuda_sum,
                                 .wrms_norm = cuda_wrms, .gemm = cuda_gemm,
                                 .add_column = cuda_add_column,
                                 .sum_columns = cuda_sum_columns,
                                 .activation = cuda_activation,
                                 .activation_vjp = cuda_activation_vjp,
                                 .random_normal = cuda_random_normal,
                                 .random_uniform = cuda_random_uniform,
                                 .all_finite = cuda_all_finite, .convert = cuda_convert,
                                 .sq_axpby = cuda_sq_axpby, .max_abs = cuda_max_abs,
                                 .div_axpy = cuda_div_axpy,
                                 .copy_matrix = cuda_copy_matrix,
                                 .fill_matrix = cuda_fill_matrix,
                                 .softmax_cross_entropy = cuda_softmax_cross_entropy,
                                 .wrms_norm_vjp = cuda_wrms_vjp, .host_readable = 0);
