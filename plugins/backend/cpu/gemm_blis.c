/*
 * GEMMs through BLIS's typed API. BLIS takes a row and a column
 * stride per matrix, so nde's column-major arrays are (1, leading
 * dimension), and a transpose is a flag. The thread count is given per call
 * (a runtime object on the stack): OpenMP's maximum, as the backend's
 * elementwise loops use, whatever BLIS_NUM_THREADS says.
 */
#include <blis.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "gemm_blis.h"

void cpu_blis_gemm(nde_dtype dt, int ta, int tb, size_t m, size_t n, size_t k, double alpha,
                   const void *a, size_t lda, const void *b, size_t ldb, double beta, void *c,
                   size_t ldc) {
  rntm_t rntm = BLIS_RNTM_INITIALIZER;
#ifdef _OPENMP
  bli_rntm_set_num_threads((dim_t)omp_get_max_threads(), &rntm);
#else
  bli_rntm_set_num_threads(1, &rntm);
#endif
  trans_t bta = ta ? BLIS_TRANSPOSE : BLIS_NO_TRANSPOSE, btb = tb ? BLIS_TRANSPOSE : BLIS_NO_TRANSPOSE;
  /* BLIS does not write its inputs; its API takes them without const */
  if (dt == NDE_FLOAT32) {
    float sa = (float)alpha, sb = (float)beta;
    bli_sgemm_ex(bta, btb, (dim_t)m, (dim_t)n, (dim_t)k, &sa, (float *)a, 1, (inc_t)lda,
                 (float *)b, 1, (inc_t)ldb, &sb, c, 1, (inc_t)ldc, NULL, &rntm);
  } else {
    bli_dgemm_ex(bta, btb, (dim_t)m, (dim_t)n, (dim_t)k, &alpha, (double *)a, 1, (inc_t)lda,
                 (double *)b, 1, (inc_t)ldb, &beta, c, 1, (inc_t)ldc, NULL, &rntm);
  }
}
