/* What the forward and reverse Runge–Kutta steps (rk.c, rk_reverse.c) share. */
#ifndef NDE_CORE_ODE_RK_IMPL_H
#define NDE_CORE_ODE_RK_IMPL_H

#include <nde/array.h>

#include "../registry/tableau_plugin.h"
#include "../util/internal.h"

#define NDE_RK_MAX_STAGES NDE_TABLEAU_MAX_STAGES

/* y = x0 + dt·Σ_{j<m} coef[j]·k[j] in one backend lincomb (m ≤ NDE_RK_MAX_STAGES). */
NDE_INTERNAL void nde_rk_combine(const nde_array *x0, double dt, const double *coef, int m,
                                 const nde_array *k, nde_array *y);

#endif
