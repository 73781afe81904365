/* What the forward and reverse Runge–Kutta steps (rk.c, rk_host.c, rk_reverse.c) share. */
#ifndef NDE_CORE_ODE_RK_IMPL_H
#define NDE_CORE_ODE_RK_IMPL_H

#include <nde/array.h>
#include <nde/ode.h>

#include "../registry/tableau_plugin.h"
#include "../util/internal.h"

#define NDE_RK_MAX_STAGES NDE_TABLEAU_MAX_STAGES

/* y = x0 + dt·Σ_{j<m} coef[j]·k[j] in one backend lincomb (m ≤ NDE_RK_MAX_STAGES). */
NDE_INTERNAL void nde_rk_combine(const nde_array *x0, double dt, const double *coef, int m,
                                 const nde_array *k, nde_array *y);

/* A step's outputs before it runs: no evaluations, no f1, no estimates yet; tableau set. */
NDE_INTERNAL void nde_rk_step_begin(const nde_rk_tableau *tb, nde_ode_step *st);

/* Tiny float64 host states (at most this many elements, one process) step in plain loops. */
#define NDE_RK_HOST_MAX 64

/* Whether nde_rk_step_host() applies to this step's arrays (rk_host.c). */
NDE_INTERNAL int nde_rk_host_applicable(const nde_ode_step *st);

/* nde_rk_step() for such states: the same outputs, the arithmetic in host loops. */
NDE_INTERNAL nde_status nde_rk_step_host(const nde_rk_tableau *tb, const nde_ode_rhs *f,
                                         nde_ode_step *st);

#endif
