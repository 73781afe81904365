/*
 * A deliberately wrong ode_solver for the conformance test (tests/check/):
 * Ralston's third-order tableau with one coefficient moved, a31 = 0.05 and
 * a32 = 0.70 instead of 0 and 3/4. The row still sums to c3 = 3/4 and the
 * tableau passes the registry's consistency checks, but the order-3
 * condition Σ b_i a_ij c_j = 1/6 fails (4/9 · 0.70 · 1/2 ≈ 0.156), so the
 * method is only second order while bad_rk3.json claims 3: `nde check`
 * must say FAIL.
 */
#include <nde/ode.h>

static const double c[3] = {0.0, 0.5, 0.75};
static const double a[9] = {
    0.0,  0.0,  0.0, /* stage 1 */
    0.5,  0.0,  0.0, /* stage 2 */
    0.05, 0.70, 0.0, /* stage 3: should be 0, 3/4 */
};
static const double b[3] = {2.0 / 9.0, 1.0 / 3.0, 4.0 / 9.0};
static const double btilde[3] = {2.0 / 9.0, 1.0 / 3.0 - 1.0, 4.0 / 9.0};

NDE_RK_PLUGIN_DEFINE(bad_rk3, 3, 3, 2, .c = c, .a = a, .b = b, .btilde = btilde);
