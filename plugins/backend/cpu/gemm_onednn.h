/*
 * The cpu backend's float32 GEMMs through oneDNN's matmul primitive
 * (gemm_onednn.c): one primitive per shape, created on first use and cached,
 * with the dense layer's bias and activation as post-ops when asked.
 */
#ifndef NDE_CPU_GEMM_ONEDNN_H
#define NDE_CPU_GEMM_ONEDNN_H

#include <stddef.h>

#include <nde/backend.h>

typedef struct cpu_matmul_cache cpu_matmul_cache;

/** A new, empty cache; NULL when out of memory or when oneDNN has no CPU engine. */
cpu_matmul_cache *cpu_matmul_cache_create(void);

/** Release every primitive (NULL: nothing). */
void cpu_matmul_cache_destroy(cpu_matmul_cache *cache);

/**
 * Column-major C(m×n) = alpha·op(A)·op(B) + beta·C, then when @p bias is not
 * NULL C += bias (m elements, one per row), then C = act(C), with the
 * primitive cached for this shape, these leading dimensions and flags.
 * Returns 0 when done, -1 when oneDNN has no implementation for it (the
 * refusal is cached too: the caller computes C another way). Thread-safe.
 */
int cpu_matmul_f32(cpu_matmul_cache *cache, int ta, int tb, size_t m, size_t n, size_t k,
                   float alpha, const float *a, size_t lda, const float *b, size_t ldb, float beta,
                   float *c, size_t ldc, const float *bias, nde_activation act);

/** 1 when oneDNN has this activation as an eltwise post-op (identity included). */
int cpu_matmul_has_activation(nde_activation act);

#endif /* NDE_CPU_GEMM_ONEDNN_H */
