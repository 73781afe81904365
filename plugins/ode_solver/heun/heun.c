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

NDE_RK_PLUGIN_DEFINE(heun, 2, 2, 1, .c = c, .a = a, .b = b, .btilde = btilde);
