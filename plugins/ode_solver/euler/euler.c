/*
 * Forward Euler: u_{n+1} = u_n + dt·f(t_n, u_n). Order 1, one stage, no
 * error estimate (fixed step only). Stepping is the core RK stepper.
 */
#include <nde/ode.h>

static const double c[1] = {0.0};
static const double a[1] = {0.0};
static const double b[1] = {1.0};

static const nde_rk_tableau tableau = {
    .stages = 1, .order = 1, .embedded_order = 0, .fsal = 0, .c = c, .a = a, .b = b};

static const nde_ode_solver_ops ops = {
    .header = NDE_PLUGIN_HEADER(NDE_KIND_ODE_SOLVER, "euler", nde_ode_solver_ops),
    .tableau = &tableau,
    .order = 1,
    .error_order = 0,
    .stages = 1,
};

NDE_PLUGIN_EXPORT const void *nde_plugin_ode_solver_euler(void);
NDE_PLUGIN_EXPORT const void *nde_plugin_ode_solver_euler(void) { return &ops; }
