/*
 * The `cuda` backend's kernels (kernels.cu, compiled by nvcc) as seen from
 * its C side (cuda.c). Every launcher enqueues its work on @p stream and
 * returns the launch's error (cudaSuccess when nothing was launched, as for
 * n == 0) without waiting for the kernel; `dt` is 0 for float32 and 1 for
 * float64 (nde_dtype's values). Element counts are size_t and indexing
 * inside the kernels is 64-bit.
 *
 * Reductions write one double into device memory (`out`, or two for the
 * softmax cross-entropy) using @p partials (RED_PARTIALS doubles of device
 * scratch): one pass of at most RED_PARTIALS blocks, then one block that
 * combines the block results in a fixed order, so a result does not
 * depend on scheduling.
 */
#ifndef NDE_CUDA_KERNELS_H
#define NDE_CUDA_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include <cuda_runtime_api.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Block results a reduction may produce (and doubles of scratch it needs per value). */
#define RED_PARTIALS 1024

/** Terms lincomb passes to one kernel launch (the launcher splits longer sums). */
#define LINCOMB_MAX_TERMS 32

/** Which scalar a reduction computes (cu_reduce). */
typedef enum cu_reduction {
  CU_SUM,      /* Σ x */
  CU_DOT,      /* Σ x·y */
  CU_SUMSQ,    /* Σ x² */
  CU_MAXABS,   /* max |x|, NaN when any element is NaN */
  CU_NONFINITE /* number of non-finite elements */
} cu_reduction;

cudaError_t cu_fill(cudaStream_t s, int dt, size_t n, double v, void *x);
cudaError_t cu_scale(cudaStream_t s, int dt, size_t n, double a, void *x);
cudaError_t cu_axpby(cudaStream_t s, int dt, size_t n, double a, const void *x, double b,
                     void *y);
cudaError_t cu_axpy(cudaStream_t s, int dt, size_t n, double a, const void *x, void *y);
/* y = beta·y + Σ c[j]·x[j] over m ≤ LINCOMB_MAX_TERMS terms (all used; beta == 0: y not read). */
cudaError_t cu_lincomb(cudaStream_t s, int dt, size_t n, int m, const double *c,
                       const void *const *x, double beta, void *y);
cudaError_t cu_mul(cudaStream_t s, int dt, size_t n, const void *x, const void *y, void *z);
/* out (device, one double) = the reduction of x (and y for CU_DOT). */
cudaError_t cu_reduce(cudaStream_t s, int dt, cu_reduction what, size_t n, const void *x,
                      const void *y, double *partials, double *out);
/* out = Σ (e/(abstol + reltol·max(|u0|, |u1|)))² (u1 may be NULL). */
cudaError_t cu_wrms_sumsq(cudaStream_t s, int dt, size_t n, const void *e, const void *u0,
                          const void *u1, double abstol, double reltol, double *partials,
                          double *out);
cudaError_t cu_wrms_vjp(cudaStream_t s, int dt, size_t n, const void *e, const void *u0,
                        const void *u1, double abstol, double reltol, double norm, double w,
                        void *de, void *du0, void *du1);
/* c[i + j·ldc] = beta·c (0 when beta == 0) for an m×n block (gemm with k == 0). */
cudaError_t cu_scale_matrix(cudaStream_t s, int dt, size_t m, size_t n, double beta, void *c,
                            size_t ldc);
cudaError_t cu_add_column(cudaStream_t s, int dt, size_t rows, size_t cols, const void *b,
                          void *y);
cudaError_t cu_sum_columns(cudaStream_t s, int dt, size_t rows, size_t cols, const void *x,
                           double beta, void *out);
cudaError_t cu_activation(cudaStream_t s, int dt, int act, size_t n, const void *x, void *y);
cudaError_t cu_activation_vjp(cudaStream_t s, int dt, int act, size_t n, const void *x,
                              const void *y, const void *dy, void *dx);
cudaError_t cu_random_normal(cudaStream_t s, int dt, size_t n, uint64_t seed, uint64_t stream,
                             uint64_t offset, double mean, double sd, void *x);
cudaError_t cu_random_uniform(cudaStream_t s, int dt, size_t n, uint64_t seed, uint64_t stream,
                              uint64_t offset, double lo, double hi, void *x);
/* Different dtypes only (the same dtype is a copy). */
cudaError_t cu_convert(cudaStream_t s, int dt_src, const void *src, int dt_dst, void *dst,
                       size_t n);
cudaError_t cu_sq_axpby(cudaStream_t s, int dt, size_t n, double a, const void *x,
                        const void *w, double b, double c, void *y);
cudaError_t cu_max_abs(cudaStream_t s, int dt, size_t n, const void *x, double b, void *y);
cudaError_t cu_div_axpy(cudaStream_t s, int dt, size_t n, double a, const void *x, double c,
                        const void *y, double eps, int root, void *z);
cudaError_t cu_fill_matrix(cudaStream_t s, int dt, size_t rows, size_t cols, double v, void *dst,
                           size_t ldd);
/* out[0] = Σ loss, out[1] = number of correct columns (see nde_backend_ops). */
cudaError_t cu_softmax_xent(cudaStream_t s, int dt, size_t classes, size_t batch,
                            const void *logits, const void *labels, double scale, void *grad,
                            double *partials, double *out);

#ifdef __cplusplus
}
#endif
#endif /* NDE_CUDA_KERNELS_H */
