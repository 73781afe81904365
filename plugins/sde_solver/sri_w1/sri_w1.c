/*
 * SRIW1: Rößler's SRI1 scheme, strong order 1.5 (weak order 2) for Itô SDEs
 * with scalar or diagonal noise, with the embedded error estimate of
 * Rackauckas & Nie (2017) (E₁ over the two drift stages, δ = 1/6).
 *
 * Coefficients: A. Rößler, SIAM J. Numer. Anal. 48(3) (2010), Table 5.2
 * (SRI1); as tabulated in SciML/StochasticDiffEq.jl `src/tableaus.jl`
 * (`constructSRIW1`) and its hand-written step in `src/perform_step/sri.jl`.
 * Stages 3 and 4 of the drift are unused (α₃ = α₄ = 0); the generic
 * stepper skips them, so a step costs 2 drift and 4 diffusion evaluations.
 */
#include <nde/sde.h>

static const double c0[4] = {0, 0.75, 0, 0};
static const double c1[4] = {0, 0.25, 1, 0.25};
static const double a0[16] = {
    0, 0, 0, 0, /**/ 0.75, 0, 0, 0, /**/ 0, 0, 0, 0, /**/ 0, 0, 0, 0};
static const double b0[16] = {
    0, 0, 0, 0, /**/ 1.5, 0, 0, 0, /**/ 0, 0, 0, 0, /**/ 0, 0, 0, 0};
static const double a1[16] = {
    0, 0, 0, 0, /**/ 0.25, 0, 0, 0, /**/ 1, 0, 0, 0, /**/ 0.25, 0, 0, 0};
static const double b1[16] = {
    0, 0, 0, 0, /**/ 0.5, 0, 0, 0, /**/ -1, 0, 0, 0, /**/ -5, 3, 0.5, 0};
static const double alpha[4] = {1.0 / 3, 2.0 / 3, 0, 0};
static const double beta1[4] = {-1, 4.0 / 3, 2.0 / 3, 0};
static const double beta2[4] = {-1, 4.0 / 3, -1.0 / 3, 0};
static const double beta3[4] = {2, -4.0 / 3, -2.0 / 3, 0};
static const double beta4[4] = {-2, 5.0 / 3, -2.0 / 3, 1};
static const double e1[4] = {1, 1, 0, 0};

static const nde_sri_tableau tableau = {
    .stages = 4, .c0 = c0, .c1 = c1, .a0 = a0, .a1 = a1, .b0 = b0, .b1 = b1,
    .alpha = alpha, .beta1 = beta1, .beta2 = beta2, .beta3 = beta3, .beta4 = beta4,
    .e1 = e1, .delta = 1.0 / 6, .stability_size = 0};

NDE_PLUGIN_DEFINE(sde_solver, sri_w1, .tableau = &tableau, .strong_order = 1.5, .weak_order = 2.0,
                  .needs_dz = 1, .adaptive = 1, .stiffness = 0, .stages = 4, .delta = 1.0 / 6,
                  .step = NULL);
