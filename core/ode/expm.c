/*
 * Matrix exponential by scaling and squaring with the [13/13] Padé
 * approximant: N. J. Higham, "The scaling and squaring method for the
 * matrix exponential revisited", SIAM J. Matrix Anal. Appl. 26(4),
 * 1179–1193 (2005), Algorithm 2.3 with m = 13 only (θ13 = 5.371920351148152).
 * Matrices are small (ODE test problems): plain loops, LAPACK dgesv for the
 * one linear solve.
 */
#include "config.h"

#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <nde/ode_problem.h>

/* c = a·b, n×n row-major */
static void matmul(size_t n, const double *a, const double *b, double *c) {
  for (size_t i = 0; i < n; ++i)
    for (size_t j = 0; j < n; ++j) {
      double s = 0;
      for (size_t k = 0; k < n; ++k)
        s += a[i * n + k] * b[k * n + j];
      c[i * n + j] = s;
    }
}

/*
 * out = A6·(c[12] A6 + c[10] A4 + c[8] A2) + c[6] A6 + c[4] A4 + c[2] A2 + c[0] I
 * (T: n×n scratch): with c = b the even half V of the [13/13] Padé
 * approximant, with c = b + 1 the odd half U before its product with A.
 */
static void pade_half(size_t n, const double *c, const double *A2, const double *A4,
                      const double *A6, double *T, double *out) {
  size_t nn = n * n;
  for (size_t i = 0; i < nn; ++i)
    T[i] = c[12] * A6[i] + c[10] * A4[i] + c[8] * A2[i];
  matmul(n, A6, T, out);
  for (size_t i = 0; i < nn; ++i)
    out[i] += c[6] * A6[i] + c[4] * A4[i] + c[2] * A2[i];
  for (size_t i = 0; i < n; ++i)
    out[i * n + i] += c[0];
}

static double norm1(size_t n, const double *a) {
  double m = 0;
  for (size_t j = 0; j < n; ++j) {
    double s = 0;
    for (size_t i = 0; i < n; ++i)
      s += fabs(a[i * n + j]);
    m = fmax(m, s);
  }
  return m;
}

nde_status nde_expm(size_t n, const double *a, double *out) {
  static const double b[14] = {64764752532480000.0, 32382376266240000.0, 7771770303897600.0,
                               1187353796428800.0,  129060195264000.0,   10559470521600.0,
                               670442572800.0,      33522128640.0,       1323241920.0,
                               40840800.0,          960960.0,            16380.0,
                               182.0,               1.0};
  const double theta13 = 5.371920351148152;
  if (n == 0)
    return NDE_OK;
  for (size_t i = 0; i < n * n; ++i)
    if (!isfinite(a[i]))
      return nde_error(NDE_ENONFINITE, "expm: matrix has a non-finite entry");
  size_t nn = n * n;
  double *w = calloc(8 * nn, sizeof *w);
  lapack_int *piv = calloc(n, sizeof *piv);
  if (!w || !piv) {
    free(w);
    free(piv);
    return nde_error(NDE_ENOMEM, "expm: out of memory");
  }
  double *A = w, *A2 = w + nn, *A4 = w + 2 * nn, *A6 = w + 3 * nn, *U = w + 4 * nn,
         *V = w + 5 * nn, *T = w + 6 * nn, *T2 = w + 7 * nn;
  double nrm = norm1(n, a);
  if (!isfinite(nrm)) { /* finite entries whose column sums overflow: no finite scaling */
    free(w);
    free(piv);
    return nde_error(NDE_ENONFINITE, "expm: the matrix's 1-norm overflows (%g)", nrm);
  }
  int s = nrm > theta13 ? (int)ceil(log2(nrm / theta13)) : 0; /* at most 1024 */
  double scale = ldexp(1.0, -s);
  for (size_t i = 0; i < nn; ++i)
    A[i] = a[i] * scale;
  matmul(n, A, A, A2);
  matmul(n, A2, A2, A4);
  matmul(n, A2, A4, A6);
  /* U = A·[A6(b13 A6 + b11 A4 + b9 A2) + b7 A6 + b5 A4 + b3 A2 + b1 I] */
  pade_half(n, b + 1, A2, A4, A6, T, T2);
  matmul(n, A, T2, U);
  /* V = A6(b12 A6 + b10 A4 + b8 A2) + b6 A6 + b4 A4 + b2 A2 + b0 I */
  pade_half(n, b, A2, A4, A6, T, V);
  /* (V − U) X = (V + U) */
  for (size_t i = 0; i < nn; ++i) {
    T[i] = V[i] - U[i];
    out[i] = V[i] + U[i];
  }
  lapack_int info = LAPACKE_dgesv(LAPACK_ROW_MAJOR, (lapack_int)n, (lapack_int)n, T,
                                  (lapack_int)n, piv, out, (lapack_int)n);
  nde_status st = NDE_OK;
  if (info != 0)
    st = nde_error(NDE_EINTERNAL, "expm: singular Padé denominator (dgesv info %d)", (int)info);
  for (int k = 0; k < s && st == NDE_OK; ++k) {
    matmul(n, out, out, T);
    memcpy(out, T, nn * sizeof *out);
  }
  free(w);
  free(piv);
  return st;
}
