/*
 * Gauss–Legendre nodes and weights on [0, 1]: Newton's method on P_m from
 * the three-term recurrence (k+1)P_{k+1} = (2k+1)xP_k − kP_{k−1}, started at
 * cos(π(i − 1/4)/(m + 1/2)) (Abramowitz & Stegun 22.16.6 / 25.4.29, Numerical
 * Recipes §4.6), weights 2/((1 − x²)P_m'(x)²) on [−1, 1].
 */
#include "config.h"

#include <math.h>

#include <nde/adjoint.h>

nde_status nde_gauss_legendre(int m, double *nodes, double *weights) {
  if (m < 1 || m > NDE_GAUSS_LEGENDRE_MAX)
    return nde_error(NDE_EINVAL, "Gauss-Legendre: %d points (1 to %d supported)", m,
                     NDE_GAUSS_LEGENDRE_MAX);
  for (int i = 0; i < (m + 1) / 2; ++i) {
    double x = cos(M_PI * (i + 0.75) / (m + 0.5)), dp = 1;
    for (int it = 0; it < 100; ++it) {
      double p0 = 1, p1 = x;
      for (int k = 1; k < m; ++k) {
        double p2 = ((2.0 * k + 1) * x * p1 - k * p0) / (k + 1);
        p0 = p1;
        p1 = p2;
      }
      if (m == 1)
        p0 = 1, p1 = x;
      /* P_m' = m (x P_m − P_{m−1}) / (x² − 1) */
      dp = m * (x * p1 - p0) / (x * x - 1);
      double dx = p1 / dp;
      x -= dx;
      if (fabs(dx) < 1e-16)
        break;
    }
    /* recompute P_m' at the converged node */
    double p0 = 1, p1 = x;
    for (int k = 1; k < m; ++k) {
      double p2 = ((2.0 * k + 1) * x * p1 - k * p0) / (k + 1);
      p0 = p1;
      p1 = p2;
    }
    dp = m * (x * p1 - p0) / (x * x - 1);
    double w = 2 / ((1 - x * x) * dp * dp);
    /* x ∈ (0, 1] is the i-th largest root: map ±x to [0, 1] */
    nodes[i] = 0.5 * (1 - x);
    nodes[m - 1 - i] = 0.5 * (1 + x);
    weights[i] = weights[m - 1 - i] = 0.5 * w;
  }
  if (m % 2)
    nodes[m / 2] = 0.5;
  return NDE_OK;
}
