/*
 * Kernels of the `cuda` backend (see kernels.h for the launchers' contract).
 * Each operation is a template over the element type, instantiated for
 * float and double; indices are size_t and every kernel is a grid-stride
 * loop, so any n works with a bounded grid. Activations mirror the cpu
 * backend's formulas (plugins/backend/cpu/cpu.c); random draws call the
 * header-only Philox of nde/rng.h, so element i is the same function of
 * (seed, stream, offset + i) as on the CPU.
 */
#include <math.h>
#include <stdint.h>

#include <cuda_runtime.h>

#include <nde/rng.h>

#include "kernels.h"

#define THREADS 256
/* Grid-stride loops: more blocks than this only add scheduling work. */
#define MAX_BLOCKS 65535u

#define FOR_EACH(i, n)                                                           \
  for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n);        \
       i += (size_t)gridDim.x * blockDim.x)

static unsigned grid_for(size_t n, unsigned cap) {
  size_t blocks = (n + THREADS - 1) / THREADS;
  return blocks > cap ? cap : (unsigned)blocks;
}

/*
 * Launch kernel<float> or kernel<double> over n elements (nothing for
 * n == 0); the arguments may name T, the element type of the branch.
 */
#define LAUNCH_T(dt, n, kernel, ...)                                             \
  do {                                                                           \
    if ((n) == 0)                                                                \
      return cudaSuccess;                                                        \
    unsigned grid_ = grid_for((n), MAX_BLOCKS);                                  \
    if ((dt) == 0) {                                                             \
      typedef float T;                                                           \
      kernel<T><<<grid_, THREADS, 0, s>>>(__VA_ARGS__);                          \
    } else {                                                                     \
      typedef double T;                                                          \
      kernel<T><<<grid_, THREADS, 0, s>>>(__VA_ARGS__);                          \
    }                                                                            \
    return cudaGetLastError();                                                   \
  } while (0)

/* T-typed views of the launchers' void pointers (the kernel's T picks the cast). */
#define AS(T, p) ((T *)(p))
#define AS_C(T, p) ((const T *)(p))

/* ------------------------------------------------------------ math per type */

/* m_NAME(x): the float function for float, the double one for double. */
#define MATH_PAIR(name, f32, f64)                                                \
  __device__ static inline float m_##name(float x) { return f32(x); }            \
  __device__ static inline double m_##name(double x) { return f64(x); }
MATH_PAIR(exp, expf, exp)
MATH_PAIR(log1p, log1pf, log1p)
MATH_PAIR(tanh, tanhf, tanh)
MATH_PAIR(erfc, erfcf, erfc)
MATH_PAIR(sqrt, sqrtf, sqrt)
MATH_PAIR(abs, fabsf, fabs)
#undef MATH_PAIR

/* The logistic function without overflow for either sign of x. */
template <class T> __device__ static inline T sigmoid(T x) {
  if (x >= 0)
    return (T)1 / ((T)1 + m_exp(-x));
  T e = m_exp(x);
  return e / ((T)1 + e);
}

/* Activation values (the numbering of nde_activation in nde/backend.h). */
enum { A_IDENTITY, A_TANH, A_RELU, A_SIGMOID, A_SOFTPLUS, A_GELU, A_SWISH, A_CUBE };

template <class T> __device__ static inline T act_value(int act, T x) {
  switch (act) {
  case A_IDENTITY:
    return x;
  case A_TANH:
    return m_tanh(x);
  case A_RELU:
    return x > 0 ? x : (T)0;
  case A_SIGMOID:
    return sigmoid(x);
  case A_SOFTPLUS:
    return x > 0 ? x + m_log1p(m_exp(-x)) : m_log1p(m_exp(x));
  case A_GELU:
    return (T)0.5 * x * m_erfc(-x * (T)0.70710678118654752440);
  case A_SWISH:
    return x * sigmoid(x);
  case A_CUBE:
    return x * x * x;
  default:
    return (T)NAN;
  }
}

/* d act / dx at x, given y = act(x). */
template <class T> __device__ static inline T act_derivative(int act, T x, T y) {
  switch (act) {
  case A_IDENTITY:
    return 1;
  case A_TANH:
    return (T)1 - y * y;
  case A_RELU:
    return x > 0 ? (T)1 : (T)0;
  case A_SIGMOID:
    return y * ((T)1 - y);
  case A_SOFTPLUS:
    return sigmoid(x);
  case A_GELU:
    return (T)0.5 * m_erfc(-x * (T)0.70710678118654752440) +
           x * m_exp((T)-0.5 * x * x) * (T)0.39894228040143267794;
  case A_SWISH: {
    T sg = sigmoid(x);
    return sg + x * sg * ((T)1 - sg);
  }
  case A_CUBE:
    return (T)3 * x * x;
  default:
    return (T)NAN;
  }
}

/* ------------------------------------------------------------ elementwise */

template <class T> __global__ void fill_k(size_t n, double v, T *x) {
  T tv = (T)v;
  FOR_EACH(i, n) x[i] = tv;
}

template <class T> __global__ void scale_k(size_t n, double a, T *x) {
  T ta = (T)a;
  FOR_EACH(i, n) x[i] *= ta;
}

template <class T> __global__ void axpby_k(size_t n, double a, const T *x, double b, T *y) {
  T ta = (T)a, tb = (T)b;
  if (b == 0) {
    FOR_EACH(i, n) y[i] = ta * x[i];
  } else {
    FOR_EACH(i, n) y[i] = ta * x[i] + tb * y[i];
  }
}

template <class T> __global__ void axpy_k(size_t n, double a, const T *x, T *y) {
  T ta = (T)a;
  FOR_EACH(i, n) y[i] += ta * x[i];
}

/* Coefficients and operands of one lincomb launch, passed by value. */
struct lincomb_terms {
  double c[LINCOMB_MAX_TERMS];
  const void *x[LINCOMB_MAX_TERMS];
};

template <class T>
__global__ void lincomb_k(size_t n, int m, lincomb_terms t, double beta, T *y) {
  T tb = (T)beta;
  FOR_EACH(i, n) {
    T acc = beta == 0 ? (T)0 : tb * y[i]; /* y is not read when beta == 0 */
    for (int j = 0; j < m; ++j)
      acc += (T)t.c[j] * AS_C(T, t.x[j])[i];
    y[i] = acc;
  }
}

template <class T> __global__ void mul_k(size_t n, const T *x, const T *y, T *z) {
  FOR_EACH(i, n) z[i] = x[i] * y[i];
}

/* ------------------------------------------------------------ reductions */

/* max that propagates NaN (fmax would drop it). */
__device__ static inline double max_nan(double a, double b) {
  if (a != a || b != b)
    return NAN;
  return a > b ? a : b;
}

/* Reduce the THREADS values of sh[] into sh[0]: sums, or NaN-propagating maxima. */
__device__ static inline void block_reduce(double *sh, int is_max) {
  for (int half = THREADS / 2; half > 0; half /= 2) {
    __syncthreads();
    if ((int)threadIdx.x < half)
      sh[threadIdx.x] = is_max ? max_nan(sh[threadIdx.x], sh[threadIdx.x + half])
                               : sh[threadIdx.x] + sh[threadIdx.x + half];
  }
  __syncthreads();
}

template <class T>
__global__ void reduce_k(size_t n, int what, const T *x, const T *y, double *partials) {
  __shared__ double sh[THREADS];
  double acc = 0;
  int is_max = what == CU_MAXABS;
  FOR_EACH(i, n) {
    double v = (double)x[i];
    switch (what) {
    case CU_SUM:
      acc += v;
      break;
    case CU_DOT:
      acc += v * (double)y[i];
      break;
    case CU_SUMSQ:
      acc += v * v;
      break;
    case CU_MAXABS:
      acc = max_nan(acc, fabs(v));
      break;
    default: /* CU_NONFINITE */
      acc += isfinite(v) ? 0.0 : 1.0;
    }
  }
  sh[threadIdx.x] = acc;
  block_reduce(sh, is_max);
  if (threadIdx.x == 0)
    partials[blockIdx.x] = sh[0];
}

/* One block: out = the combination of partials[0..nb) in a fixed order. */
__global__ void finish_k(int nb, int is_max, const double *partials, double *out) {
  __shared__ double sh[THREADS];
  double acc = 0;
  for (int b = threadIdx.x; b < nb; b += THREADS)
    acc = is_max ? max_nan(acc, partials[b]) : acc + partials[b];
  sh[threadIdx.x] = acc;
  block_reduce(sh, is_max);
  if (threadIdx.x == 0)
    *out = sh[0];
}

template <class T>
__global__ void wrms_k(size_t n, const T *e, const T *u0, const T *u1, double atol, double rtol,
                       double *partials) {
  __shared__ double sh[THREADS];
  double acc = 0;
  FOR_EACH(i, n) {
    double a = fabs((double)u0[i]);
    if (u1) {
      double b = fabs((double)u1[i]);
      a = a > b ? a : b;
    }
    double r = (double)e[i] / (atol + rtol * a);
    acc += r * r;
  }
  sh[threadIdx.x] = acc;
  block_reduce(sh, 0);
  if (threadIdx.x == 0)
    partials[blockIdx.x] = sh[0];
}

template <class T>
__global__ void wrms_vjp_k(size_t n, const T *e, const T *u0, const T *u1, double atol,
                           double rtol, double g, T *de, T *du0, T *du1) {
  FOR_EACH(i, n) {
    double a = fabs((double)u0[i]), b = u1 ? fabs((double)u1[i]) : 0.0;
    int first = !u1 || a >= b;
    double sc = atol + rtol * (first ? a : b);
    double r = (double)e[i] / sc;
    if (de)
      de[i] = (T)((double)de[i] + g * r / sc);
    double ds = -g * r * r / sc * rtol;
    if (first) {
      if (du0 && u0[i] != 0)
        du0[i] = (T)((double)du0[i] + (u0[i] > 0 ? ds : -ds));
    } else if (du1 && u1[i] != 0) {
      du1[i] = (T)((double)du1[i] + (u1[i] > 0 ? ds : -ds));
    }
  }
}

/* ------------------------------------------------------------ matrices */

template <class T> __global__ void scale_matrix_k(size_t m, size_t n, double beta, T *c, size_t ldc) {
  T tb = (T)beta;
  FOR_EACH(i, m * n) {
    size_t r = i % m, col = i / m;
    T *p = c + r + col * ldc;
    *p = beta == 0 ? (T)0 : tb * *p;
  }
}

template <class T> __global__ void add_column_k(size_t rows, size_t cols, const T *b, T *y) {
  FOR_EACH(i, rows * cols) y[i] += b[i % rows];
}

/*
 * Column sums (bias gradients: rows = features, cols = batch). A block of
 * SUMCOL_ROWS × SUMCOL_SPLIT threads owns SUMCOL_ROWS consecutive rows
 * (adjacent threads read adjacent addresses); thread (tx, ty) sums columns
 * ty, ty + SUMCOL_SPLIT, ... of its row, then the SUMCOL_SPLIT partial sums
 * of a row are added in a fixed order.
 */
#define SUMCOL_ROWS 32
#define SUMCOL_SPLIT 16
template <class T>
__global__ void sum_columns_k(size_t rows, size_t cols, const T *x, double beta, T *out) {
  __shared__ T sh[SUMCOL_SPLIT][SUMCOL_ROWS + 1];
  size_t r = (size_t)blockIdx.x * SUMCOL_ROWS + threadIdx.x;
  T acc = 0;
  if (r < rows)
    for (size_t c = threadIdx.y; c < cols; c += SUMCOL_SPLIT)
      acc += x[r + c * rows];
  sh[threadIdx.y][threadIdx.x] = acc;
  __syncthreads();
  if (threadIdx.y == 0 && r < rows) {
    T sum = beta == 0 ? (T)0 : (T)beta * out[r]; /* out is not read when beta == 0 */
    for (int k = 0; k < SUMCOL_SPLIT; ++k)
      sum += sh[k][threadIdx.x];
    out[r] = sum;
  }
}

template <class T>
__global__ void fill_matrix_k(size_t rows, size_t cols, double v, T *dst, size_t ldd) {
  T tv = (T)v;
  FOR_EACH(i, rows * cols) dst[i % rows + (i / rows) * ldd] = tv;
}

/* ------------------------------------------------------------ activations */

template <class T> __global__ void activation_k(int act, size_t n, const T *x, T *y) {
  FOR_EACH(i, n) y[i] = act_value<T>(act, x[i]);
}

template <class T>
__global__ void activation_vjp_k(int act, size_t n, const T *x, const T *y, const T *dy, T *dx) {
  FOR_EACH(i, n) dx[i] = dy[i] * act_derivative<T>(act, x[i], y[i]);
}

/* ------------------------------------------------------------ random draws */

/*
 * mean + sd·z in double with explicit round-to-nearest operations: nvcc
 * would otherwise contract it into one fused multiply-add, which rounds
 * once where the CPU rounds twice.
 */
template <class T>
__global__ void random_normal_k(size_t n, uint64_t seed, uint64_t stream, uint64_t offset,
                                double mean, double sd, T *x) {
  FOR_EACH(i, n) {
    double z = nde_philox_normal(seed, stream, offset + i);
    x[i] = (T)__dadd_rn(mean, __dmul_rn(sd, z));
  }
}

template <class T>
__global__ void random_uniform_k(size_t n, uint64_t seed, uint64_t stream, uint64_t offset,
                                 double lo, double hi, T *x) {
  double width = __dsub_rn(hi, lo);
  FOR_EACH(i, n) {
    double u = nde_philox_uniform(seed, stream, offset + i);
    x[i] = (T)__dadd_rn(lo, __dmul_rn(width, u));
  }
}

/* ------------------------------------------------------------ optimizers */

template <class T>
__global__ void sq_axpby_k(size_t n, double a, const T *x, const T *w, double b, double c,
                           T *y) {
  T ta = (T)a, tb = (T)b, tc = (T)c;
  FOR_EACH(i, n) {
    T d = w ? x[i] - w[i] : x[i];
    y[i] = ta * d * d + tb * y[i] + tc;
  }
}

template <class T> __global__ void max_abs_k(size_t n, const T *x, double b, T *y) {
  T tb = (T)b;
  FOR_EACH(i, n) {
    T u = tb * y[i], g = m_abs(x[i]);
    y[i] = u > g ? u : g;
  }
}

template <class T>
__global__ void div_axpy_k(size_t n, double a, const T *x, double c, const T *y, double eps,
                           int root, T *z) {
  T ta = (T)a, tc = (T)c, te = (T)eps;
  if (root) {
    FOR_EACH(i, n) z[i] += ta * x[i] / (m_sqrt(tc * y[i]) + te);
  } else {
    FOR_EACH(i, n) z[i] += ta * x[i] / (tc * y[i] + te);
  }
}

template <class S, class D> __global__ void convert_k(size_t n, const S *src, D *dst) {
  FOR_EACH(i, n) dst[i] = (D)src[i];
}

/* ------------------------------------------------------------ softmax cross-entropy */

/*
 * One thread per column: the first maximal logit, log-sum-exp with the
 * maximum subtracted, the loss term and (optionally) the gradient column;
 * then loss and correct counts are summed per block into partials[b] and
 * partials[RED_PARTIALS + b].
 */
template <class T>
__global__ void xent_k(size_t k, size_t batch, const T *z, const T *labels, double scale, T *grad,
                       double *partials) {
  __shared__ double sh[THREADS];
  double loss = 0, right = 0;
  FOR_EACH(c, batch) {
    const T *col = z + c * k;
    size_t best = 0;
    for (size_t r = 1; r < k; ++r)
      if (col[r] > col[best])
        best = r;
    double m = (double)col[best], s = 0;
    for (size_t r = 0; r < k; ++r)
      s += exp((double)col[r] - m);
    double lse = m + log(s);
    double lab = (double)labels[c];
    int valid = lab >= 0 && lab < (double)k;
    size_t label = valid ? (size_t)lab : 0;
    if (valid) {
      loss += lse - (double)col[label];
      right += best == label ? 1.0 : 0.0;
    }
    if (grad) {
      T *g = grad + c * k;
      for (size_t r = 0; r < k; ++r)
        g[r] = valid ? (T)(scale * (exp((double)col[r] - lse) - (r == label ? 1.0 : 0.0))) : (T)0;
    }
  }
  sh[threadIdx.x] = loss;
  block_reduce(sh, 0);
  if (threadIdx.x == 0)
    partials[blockIdx.x] = sh[0];
  __syncthreads(); /* sh[0] is read above before it is overwritten below */
  sh[threadIdx.x] = right;
  block_reduce(sh, 0);
  if (threadIdx.x == 0)
    partials[RED_PARTIALS + blockIdx.x] = sh[0];
}

/* ------------------------------------------------------------ launchers */

extern "C" {

cudaError_t cu_fill(cudaStream_t s, int dt, size_t n, double v, void *x) {
  LAUNCH_T(dt, n, fill_k, n, v, AS(T, x));
}

cudaError_t cu_scale(cudaStream_t s, int dt, size_t n, double a, void *x) {
  LAUNCH_T(dt, n, scale_k, n, a, AS(T, x));
}

cudaError_t cu_axpby(cudaStream_t s, int dt, size_t n, double a, const void *x, double b,
                     void *y) {
  LAUNCH_T(dt, n, axpby_k, n, a, AS_C(T, x), b, AS(T, y));
}

cudaError_t cu_axpy(cudaStream_t s, int dt, size_t n, double a, const void *x, void *y) {
  LAUNCH_T(dt, n, axpy_k, n, a, AS_C(T, x), AS(T, y));
}

cudaError_t cu_lincomb(cudaStream_t s, int dt, size_t n, int m, const double *c,
                       const void *const *x, double beta, void *y) {
  lincomb_terms t;
  if (m < 0 || m > LINCOMB_MAX_TERMS)
    return cudaErrorInvalidValue;
  for (int j = 0; j < LINCOMB_MAX_TERMS; ++j) {
    t.c[j] = j < m ? c[j] : 0.0;
    t.x[j] = j < m ? x[j] : NULL;
  }
  LAUNCH_T(dt, n, lincomb_k, n, m, t, beta, AS(T, y));
}

cudaError_t cu_mul(cudaStream_t s, int dt, size_t n, const void *x, const void *y, void *z) {
  LAUNCH_T(dt, n, mul_k, n, AS_C(T, x), AS_C(T, y), AS(T, z));
}

/* The second pass of every reduction: one block over the first pass's nb results. */
static cudaError_t finish(cudaStream_t s, unsigned nb, int is_max, const double *partials,
                          double *out) {
  finish_k<<<1, THREADS, 0, s>>>((int)nb, is_max, partials, out);
  return cudaGetLastError();
}

cudaError_t cu_reduce(cudaStream_t s, int dt, cu_reduction what, size_t n, const void *x,
                      const void *y, double *partials, double *out) {
  if (n == 0)
    return cudaMemsetAsync(out, 0, sizeof(double), s);
  unsigned nb = grid_for(n, RED_PARTIALS);
  if (dt == 0)
    reduce_k<float><<<nb, THREADS, 0, s>>>(n, (int)what, AS_C(float, x), AS_C(float, y),
                                           partials);
  else
    reduce_k<double><<<nb, THREADS, 0, s>>>(n, (int)what, AS_C(double, x), AS_C(double, y),
                                            partials);
  cudaError_t e = cudaGetLastError();
  return e != cudaSuccess ? e : finish(s, nb, what == CU_MAXABS, partials, out);
}

cudaError_t cu_wrms_sumsq(cudaStream_t s, int dt, size_t n, const void *e, const void *u0,
                          const void *u1, double abstol, double reltol, double *partials,
                          double *out) {
  if (n == 0)
    return cudaMemsetAsync(out, 0, sizeof(double), s);
  unsigned nb = grid_for(n, RED_PARTIALS);
  if (dt == 0)
    wrms_k<float><<<nb, THREADS, 0, s>>>(n, AS_C(float, e), AS_C(float, u0), AS_C(float, u1),
                                         abstol, reltol, partials);
  else
    wrms_k<double><<<nb, THREADS, 0, s>>>(n, AS_C(double, e), AS_C(double, u0),
                                          AS_C(double, u1), abstol, reltol, partials);
  cudaError_t err = cudaGetLastError();
  return err != cudaSuccess ? err : finish(s, nb, 0, partials, out);
}

cudaError_t cu_wrms_vjp(cudaStream_t s, int dt, size_t n, const void *e, const void *u0,
                        const void *u1, double abstol, double reltol, double norm, double w,
                        void *de, void *du0, void *du1) {
  if (!(norm > 0)) /* not differentiable at 0: nothing is added */
    return cudaSuccess;
  double g = w / ((double)n * norm);
  LAUNCH_T(dt, n, wrms_vjp_k, n, AS_C(T, e), AS_C(T, u0), AS_C(T, u1), abstol, reltol, g,
           AS(T, de), AS(T, du0), AS(T, du1));
}

cudaError_t cu_scale_matrix(cudaStream_t s, int dt, size_t m, size_t n, double beta, void *c,
                            size_t ldc) {
  LAUNCH_T(dt, m * n, scale_matrix_k, m, n, beta, AS(T, c), ldc);
}

cudaError_t cu_add_column(cudaStream_t s, int dt, size_t rows, size_t cols, const void *b,
                          void *y) {
  LAUNCH_T(dt, rows * cols, add_column_k, rows, cols, AS_C(T, b), AS(T, y));
}

cudaError_t cu_sum_columns(cudaStream_t s, int dt, size_t rows, size_t cols, const void *x,
                           double beta, void *out) {
  if (rows == 0)
    return cudaSuccess;
  size_t blocks = (rows + SUMCOL_ROWS - 1) / SUMCOL_ROWS;
  if (blocks > 0x7fffffffu)
    return cudaErrorInvalidValue;
  dim3 block(SUMCOL_ROWS, SUMCOL_SPLIT);
  if (dt == 0)
    sum_columns_k<float><<<(unsigned)blocks, block, 0, s>>>(rows, cols, AS_C(float, x), beta,
                                                            AS(float, out));
  else
    sum_columns_k<double><<<(unsigned)blocks, block, 0, s>>>(rows, cols, AS_C(double, x), beta,
                                                             AS(double, out));
  return cudaGetLastError();
}

cudaError_t cu_activation(cudaStream_t s, int dt, int act, size_t n, const void *x, void *y) {
  LAUNCH_T(dt, n, activation_k, act, n, AS_C(T, x), AS(T, y));
}

cudaError_t cu_activation_vjp(cudaStream_t s, int dt, int act, size_t n, const void *x,
                              const void *y, const void *dy, void *dx) {
  LAUNCH_T(dt, n, activation_vjp_k, act, n, AS_C(T, x), AS_C(T, y), AS_C(T, dy), AS(T, dx));
}

cudaError_t cu_random_normal(cudaStream_t s, int dt, size_t n, uint64_t seed, uint64_t stream,
                             uint64_t offset, double mean, double sd, void *x) {
  LAUNCH_T(dt, n, random_normal_k, n, seed, stream, offset, mean, sd, AS(T, x));
}

cudaError_t cu_random_uniform(cudaStream_t s, int dt, size_t n, uint64_t seed, uint64_t stream,
                              uint64_t offset, double lo, double hi, void *x) {
  LAUNCH_T(dt, n, random_uniform_k, n, seed, stream, offset, lo, hi, AS(T, x));
}

cudaError_t cu_convert(cudaStream_t s, int dt_src, const void *src, int dt_dst, void *dst,
                       size_t n) {
  if (n == 0)
    return cudaSuccess;
  if (dt_src == dt_dst) /* the caller copies */
    return cudaErrorInvalidValue;
  unsigned grid = grid_for(n, MAX_BLOCKS);
  if (dt_src == 0)
    convert_k<float, double><<<grid, THREADS, 0, s>>>(n, AS_C(float, src), AS(double, dst));
  else
    convert_k<double, float><<<grid, THREADS, 0, s>>>(n, AS_C(double, src), AS(float, dst));
  return cudaGetLastError();
}

cudaError_t cu_sq_axpby(cudaStream_t s, int dt, size_t n, double a, const void *x,
                        const void *w, double b, double c, void *y) {
  LAUNCH_T(dt, n, sq_axpby_k, n, a, AS_C(T, x), AS_C(T, w), b, c, AS(T, y));
}

cudaError_t cu_max_abs(cudaStream_t s, int dt, size_t n, const void *x, double b, void *y) {
  LAUNCH_T(dt, n, max_abs_k, n, AS_C(T, x), b, AS(T, y));
}

cudaError_t cu_div_axpy(cudaStream_t s, int dt, size_t n, double a, const void *x, double c,
                        const void *y, double eps, int root, void *z) {
  LAUNCH_T(dt, n, div_axpy_k, n, a, AS_C(T, x), c, AS_C(T, y), eps, root, AS(T, z));
}

cudaError_t cu_fill_matrix(cudaStream_t s, int dt, size_t rows, size_t cols, double v, void *dst,
                           size_t ldd) {
  LAUNCH_T(dt, rows * cols, fill_matrix_k, rows, cols, v, AS(T, dst), ldd);
}

cudaError_t cu_softmax_xent(cudaStream_t s, int dt, size_t classes, size_t batch,
                            const void *logits, const void *labels, double scale, void *grad,
                            double *partials, double *out) {
  if (classes == 0 || batch == 0)
    return cudaMemsetAsync(out, 0, 2 * sizeof(double), s);
  unsigned nb = grid_for(batch, RED_PARTIALS);
  if (dt == 0)
    xent_k<float><<<nb, THREADS, 0, s>>>(classes, batch, AS_C(float, logits),
                                         AS_C(float, labels), scale, AS(float, grad), partials);
  else
    xent_k<double><<<nb, THREADS, 0, s>>>(classes, batch, AS_C(double, logits),
                                          AS_C(double, labels), scale, AS(double, grad),
                                          partials);
  cudaError_t e = cudaGetLastError();
  if (e == cudaSuccess)
    e = finish(s, nb, 0, partials, out);
  return e != cudaSuccess ? e : finish(s, nb, 0, partials + RED_PARTIALS, out + 1);
}

} /* extern "C" */
