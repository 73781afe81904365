/*
 * The cpu backend's GEMMs through BLIS (gemm_blis.c): at the thesis's
 * shapes BLIS's double-precision kernels beat OpenBLAS's (bench/gemm), and
 * oneDNN has no float64.
 */
#ifndef NDE_CPU_GEMM_BLIS_H
#define NDE_CPU_GEMM_BLIS_H

#include <stddef.h>

#include <nde/array.h>

/**
 * Column-major C(m×n) = alpha·op(A)·op(B) + beta·C (BLAS semantics; beta 0
 * does not read C) on as many threads as OpenMP's current maximum.
 */
void cpu_blis_gemm(nde_dtype dt, int ta, int tb, size_t m, size_t n, size_t k, double alpha,
                   const void *a, size_t lda, const void *b, size_t ldb, double beta, void *c,
                   size_t ldc);

#endif /* NDE_CPU_GEMM_BLIS_H */
