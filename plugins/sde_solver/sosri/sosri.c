/*
 * SOSRI: the stability-optimized SRI method of Rackauckas & Nie (2018),
 * strong order 1.5 for Itô SDEs with scalar or diagonal noise, optimized
 * for drift-stiff problems, with the embedded error estimate δ·E₁ + E₂.
 *
 * Coefficients: C. Rackauckas & Q. Nie, "Stability-optimized high order
 * methods and stiffness detection for pathwise stiff stochastic differential
 * equations", IEEE HPEC 2020 (arXiv:1804.04344, 2018), as tabulated in
 * SciML/StochasticDiffEq.jl `src/caches/rossler_caches.jl`
 * (SOSRIConstantCache, commit 01398cc) and, in matrix form,
 * `src/tableaus.jl` (constructSRIOpt1). Row i of A0, A1, B0, B1 is stage i.
 * tests/test-sde-tableaus.c checks them against Rößler's order conditions.
 */
#include <nde/sde.h>

static const double c0[4] = {0, -0.04199224421316468, 0.7898405466170333, 3.7504010171562823};
static const double c1[4] = {0, 0.26204282091330466, 0.05879875232001766, 0.758661169101175};
static const double a0[16] = {
    0, 0, 0, 0,
    -0.04199224421316468, 0, 0, 0,
    2.842612915017106, -2.0527723684000727, 0, 0,
    4.338237071435815, -2.8895936137439793, 2.3017575594644466, 0};
static const double a1[16] = {
    0, 0, 0, 0,
    0.26204282091330466, 0, 0, 0,
    0.20903646383505375, -0.1502377115150361, 0, 0,
    0.05836595312746999, 0.6149440396332373, 0.08535117634046772, 0};
static const double b0[16] = {
    0, 0, 0, 0,
    -0.21641093549612528, 0, 0, 0,
    1.5336352863679572, 0.26066223492647056, 0, 0,
    -1.0536037558179159, 1.7015284721089472, -0.20725685784180017, 0};
static const double b1[16] = {
    0, 0, 0, 0,
    -0.5119011827621657, 0, 0, 0,
    2.67767339866713, -4.9395031322250995, 0, 0,
    0.15580956238299215, 3.2361551006624674, -1.4223118283355949, 0};
static const double alpha[4] = {1.140099274172029, -0.6401334255743456, 0.4736296532772559, 0.026404498125060714};
static const double beta1[4] = {-1.8453464565104432, 2.688764531100726, -0.2523866501071323, 0.40896857551684956};
static const double beta2[4] = {0.4969658141589478, -0.5771202869753592, -0.12919702470322217, 0.2093514975196336};
static const double beta3[4] = {2.8453464565104425, -2.688764531100725, 0.2523866501071322, -0.40896857551684945};
static const double beta4[4] = {0.11522663875443433, -0.57877086147738, 0.2857851028163886, 0.17775911990655704};
static const double e1[4] = {1, 1, 1, 1};

static const nde_sri_tableau tableau = {
    .stages = 4, .c0 = c0, .c1 = c1, .a0 = a0, .a1 = a1, .b0 = b0, .b1 = b1,
    .alpha = alpha, .beta1 = beta1, .beta2 = beta2, .beta3 = beta3, .beta4 = beta4,
    .e1 = e1, .delta = 1.0, .stability_size = 0};

NDE_PLUGIN_DEFINE(sde_solver, sosri, .tableau = &tableau, .strong_order = 1.5, .weak_order = 2.0,
                  .needs_dz = 1, .adaptive = 1, .stiffness = 0, .stages = 4, .delta = 1.0,
                  .step = NULL);
