/*
 * Dormand–Prince 5(4): J. R. Dormand and P. J. Prince, "A family of embedded
 * Runge–Kutta formulae", J. Comput. Appl. Math. 6(1), 19–26 (1980), with
 * Hairer's embedded weights bhat = (5179/57600, 0, 7571/16695, 393/640,
 * −92097/339200, 187/2100, 1/40) and dense output (Hairer, Nørsett & Wanner,
 * Solving ODEs I, §II.6, and the CONTD5 routine of dopri5.f). Numbers checked
 * against OrdinaryDiffEq.jl's DP5ConstantCache and DP5_dense_ds
 * (low_order_rk_tableaus.jl). Stability size 3.3066 as OrdinaryDiffEq's
 * alg_stability_size for DP5.
 *
 * Hairer's continuous extension, with ydiff = dt·Σ b_i k_i,
 *   u(θ) = u0 + θ(ydiff + (1−θ)(dt k1 − ydiff + θ(2 ydiff − dt k1 − dt k7
 *          + (1−θ) dt Σ d_i k_i)))
 * is written here in the generic form u0 + dt·Σ_i b_i(θ) k_i; expanding in θ
 * gives, with e1, e7 the unit vectors of stages 1 and 7,
 *   b_i(θ) = e1_i θ + (3b_i − 2e1_i − e7_i + d_i) θ² + (−2b_i + e1_i + e7_i − 2d_i) θ³ + d_i θ⁴.
 */
#include <nde/ode.h>

static const double c[7] = {0.0, 1.0 / 5.0, 3.0 / 10.0, 4.0 / 5.0, 8.0 / 9.0, 1.0, 1.0};

#define B1 (35.0 / 384.0)
#define B3 (500.0 / 1113.0)
#define B4 (125.0 / 192.0)
#define B5 (-2187.0 / 6784.0)
#define B6 (11.0 / 84.0)

static const double a[49] = {
    0, 0, 0, 0, 0, 0, 0, /* */
    1.0 / 5.0, 0, 0, 0, 0, 0, 0, /* */
    3.0 / 40.0, 9.0 / 40.0, 0, 0, 0, 0, 0, /* */
    44.0 / 45.0, -56.0 / 15.0, 32.0 / 9.0, 0, 0, 0, 0, /* */
    19372.0 / 6561.0, -25360.0 / 2187.0, 64448.0 / 6561.0, -212.0 / 729.0, 0, 0, 0, /* */
    9017.0 / 3168.0, -355.0 / 33.0, 46732.0 / 5247.0, 49.0 / 176.0, -5103.0 / 18656.0, 0, 0,
    B1, 0, B3, B4, B5, B6, 0,
};
static const double b[7] = {B1, 0.0, B3, B4, B5, B6, 0.0};
/* btilde = b − bhat */
static const double btilde[7] = {B1 - 5179.0 / 57600.0,   0.0,
                                 B3 - 7571.0 / 16695.0,   B4 - 393.0 / 640.0,
                                 B5 + 92097.0 / 339200.0, B6 - 187.0 / 2100.0,
                                 -1.0 / 40.0};

#define D1 (-12715105075.0 / 11282082432.0)
#define D3 (87487479700.0 / 32700410799.0)
#define D4 (-10690763975.0 / 1880347072.0)
#define D5 (701980252875.0 / 199316789632.0)
#define D6 (-1453857185.0 / 822651844.0)
#define D7 (69997945.0 / 29380423.0)

/* b_i(θ) coefficients of θ, θ², θ³, θ⁴ (see the comment at the top) */
#define ROW(bi, e1, e7, di)                                                      \
  (e1), 3.0 * (bi)-2.0 * (e1) - (e7) + (di), -2.0 * (bi) + (e1) + (e7)-2.0 * (di), (di)
static const double interp[28] = {
    ROW(B1, 1.0, 0.0, D1), ROW(0.0, 0.0, 0.0, 0.0), ROW(B3, 0.0, 0.0, D3),
    ROW(B4, 0.0, 0.0, D4), ROW(B5, 0.0, 0.0, D5),   ROW(B6, 0.0, 0.0, D6),
    ROW(0.0, 0.0, 1.0, D7),
};

NDE_RK_PLUGIN_DEFINE(dopri5, 7, 5, 4, .fsal = 1, .c = c, .a = a, .b = b, .btilde = btilde,
                     .interp_degree = 4, .interp = interp, .stability_size = 3.3066);
