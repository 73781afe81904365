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

/*
 * The tableau and the vtable that steps with it, in one statement: 3 stages,
 * order 3, embedded order 2, then the tableau's arrays. Left out (0): fsal,
 * interp (dense output is cubic Hermite) and stability_size (no stiffness
 * estimate). It also defines the only exported symbol, the entry point
 * nde_plugin_ode_solver_ralston3_c that the manifest's "entry" names.
 */
NDE_RK_PLUGIN_DEFINE(ralston3_c, 3, 3, 2, .c = c, .a = a, .b = b, .btilde = btilde);
