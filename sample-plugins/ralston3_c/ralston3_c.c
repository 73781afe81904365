/*
 * ralston3_c: a third-party ode_solver plugin for nde, built only against the
 * installed headers (see README.md, the plugin-author tutorial). The same
 * method ships as data alone in ../ralston3/ralston3.json: a plain
 * Runge-Kutta method needs no library; this folder shows how to write one
 * for methods that do (a custom step, a state, dense output of its own).
 *
 * Ralston's third-order method: A. Ralston, "Runge–Kutta methods with
 * minimum error bounds", Math. Comp. 16(80), 431–437 (1962). Three stages,
 *   c = (0, 1/2, 3/4),  a21 = 1/2,  a32 = 3/4,  b = (2/9, 1/3, 4/9),
 * with the explicit midpoint rule bhat = (0, 1, 0) (order 2, it reuses
 * stage 2) as the embedded solution for the error estimate:
 *   btilde = b − bhat = (2/9, −2/3, 4/9).
 * The core's generic Runge–Kutta stepper does all the arithmetic; the
 * integrator does step-size control, saving (cubic Hermite dense output)
 * and statistics.
 */
#include <nde/ode.h>

static const double c[3] = {0.0, 0.5, 0.75};
static const double a[9] = {
    0.0, 0.0,  0.0, /* stage 1 */
    0.5, 0.0,  0.0, /* stage 2 */
    0.0, 0.75, 0.0, /* stage 3 */
};
static const double b[3] = {2.0 / 9.0, 1.0 / 3.0, 4.0 / 9.0};
static const double btilde[3] = {2.0 / 9.0, 1.0 / 3.0 - 1.0, 4.0 / 9.0};

static const nde_rk_tableau tableau = {
    .stages = 3,
    .order = 3,
    .embedded_order = 2,
    .fsal = 0,
    .c = c,
    .a = a,
    .b = b,
    .btilde = btilde,
    .interp_degree = 0, /* cubic Hermite dense output */
    .interp = NULL,
    .stability_size = 0, /* no stiffness estimate */
};

static const nde_ode_solver_ops ops = {
    .header = NDE_PLUGIN_HEADER(NDE_KIND_ODE_SOLVER, "ralston3_c", nde_ode_solver_ops),
    .tableau = &tableau,
    .order = 3,
    .error_order = 2,
    .stages = 3,
};

/* The only exported symbol; the manifest's "entry" names it. */
NDE_PLUGIN_EXPORT const void *nde_plugin_ode_solver_ralston3_c(void);
NDE_PLUGIN_EXPORT const void *nde_plugin_ode_solver_ralston3_c(void) { return &ops; }
