/*
 * Bogacki–Shampine 3(2): P. Bogacki and L. F. Shampine, "A 3(2) pair of
 * Runge–Kutta formulas", Appl. Math. Lett. 2(4), 321–325 (1989).
 * Four stages with FSAL (the fourth stage is f(t+dt, u_{n+1})); the embedded
 * 2nd-order weights are bhat = (7/24, 1/4, 1/3, 1/8). The same numbers are in
 * OrdinaryDiffEq.jl's BS3ConstantCache (low_order_rk_tableaus.jl, which
 * stores bhat − b; here btilde = b − bhat). Dense output: cubic Hermite.
 */
#include <nde/ode.h>

static const double c[4] = {0.0, 0.5, 0.75, 1.0};
static const double a[16] = {
    0.0,       0.0,       0.0,       0.0, /* */
    0.5,       0.0,       0.0,       0.0, /* */
    0.0,       0.75,      0.0,       0.0, /* */
    2.0 / 9.0, 1.0 / 3.0, 4.0 / 9.0, 0.0,
};
static const double b[4] = {2.0 / 9.0, 1.0 / 3.0, 4.0 / 9.0, 0.0};
static const double btilde[4] = {2.0 / 9.0 - 7.0 / 24.0, 1.0 / 3.0 - 1.0 / 4.0,
                                 4.0 / 9.0 - 1.0 / 3.0, -1.0 / 8.0};

static const nde_rk_tableau tableau = {.stages = 4,
                                       .order = 3,
                                       .embedded_order = 2,
                                       .fsal = 1,
                                       .c = c,
                                       .a = a,
                                       .b = b,
                                       .btilde = btilde};

static const nde_ode_solver_ops ops = {
    .header = NDE_PLUGIN_HEADER(NDE_KIND_ODE_SOLVER, "bs3", nde_ode_solver_ops),
    .tableau = &tableau,
    .order = 3,
    .error_order = 2,
    .stages = 4,
};

NDE_PLUGIN_EXPORT const void *nde_plugin_ode_solver_bs3(void);
NDE_PLUGIN_EXPORT const void *nde_plugin_ode_solver_bs3(void) { return &ops; }
