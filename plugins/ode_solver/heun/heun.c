/*
 * Heun's method (explicit trapezoidal rule), order 2, with forward Euler as
 * the embedded order-1 solution: b = (1/2, 1/2), bhat = (1, 0), so
 * btilde = b − bhat = (−1/2, 1/2). Hairer, Nørsett & Wanner, Solving ODEs I,
 * §II.1, Table 1.1.
 */
#include <nde/ode.h>

static const double c[2] = {0.0, 1.0};
static const double a[4] = {0.0, 0.0, 1.0, 0.0};
static const double b[2] = {0.5, 0.5};
static const double btilde[2] = {-0.5, 0.5};

static const nde_rk_tableau tableau = {.stages = 2,
                                       .order = 2,
                                       .embedded_order = 1,
                                       .fsal = 0,
                                       .c = c,
                                       .a = a,
                                       .b = b,
                                       .btilde = btilde};

static const nde_ode_solver_ops ops = {
    .header = NDE_PLUGIN_HEADER(NDE_KIND_ODE_SOLVER, "heun", nde_ode_solver_ops),
    .tableau = &tableau,
    .order = 2,
    .error_order = 1,
    .stages = 2,
};

NDE_PLUGIN_EXPORT const void *nde_plugin_ode_solver_heun(void);
NDE_PLUGIN_EXPORT const void *nde_plugin_ode_solver_heun(void) { return &ops; }
