/*
 * SOSRI2: the second stability-optimized SRI method of Rackauckas & Nie
 * (2018), strong order 1.5 for scalar or diagonal noise, with c0₃ = c0₄ = 1
 * (no stage outside the step), the embedded error estimate, and the
 * stiffness estimate ‖k₄ − k₃‖/‖H0₄ − H0₃‖ (stability region size 10.6,
 * StochasticDiffEq `alg_stability_size(::SOSRI2)`).
 *
 * Coefficients: C. Rackauckas & Q. Nie, "Stability-optimized high order
 * methods and stiffness detection for pathwise stiff stochastic differential
 * equations", IEEE HPEC 2020 (arXiv:1804.04344, 2018), as tabulated in
 * SciML/StochasticDiffEq.jl `src/caches/rossler_caches.jl`
 * (SOSRI2ConstantCache, commit 01398cc) and, in matrix form,
 * `src/tableaus.jl` (constructSRIOpt2). Row i of A0, A1, B0, B1 is stage i.
 * tests/test-sde-tableaus.c checks them against Rößler's order conditions.
 */
#include <nde/sde.h>

static const double c0[4] = {0, 0.13804532298278663, 0.9999999999999992, 0.9999999999999994};
static const double c1[4] = {0, 0.45605532163856893, 0.999999999999996, 0.9999999999999962};
static const double a0[16] = {
    0, 0, 0, 0,
    0.13804532298278663, 0, 0, 0,
    0.5818361298250374, 0.4181638701749618, 0, 0,
    0.4670018408674211, 0.8046204792187386, -0.27162232008616016, 0};
static const double a1[16] = {
    0, 0, 0, 0,
    0.45605532163856893, 0, 0, 0,
    0.7555807846451692, 0.24441921535482677, 0, 0,
    0.6981181143266059, 0.3453277086024727, -0.04344582292908241, 0};
static const double b0[16] = {
    0, 0, 0, 0,
    0.08852381537667678, 0, 0, 0,
    1.0317752458971061, 0.4563552922077882, 0, 0,
    1.73078280444124, -0.46089678470929774, -0.9637509618944188, 0};
static const double b1[16] = {
    0, 0, 0, 0,
    0.6753186815412179, 0, 0, 0,
    -0.07452812525785148, -0.49783736486149366, 0, 0,
    -0.5591906709928903, 0.022696571806569924, -0.8984927888368557, 0};
static const double alpha[4] = {-0.15036858140642623, 0.7545275856696072, 0.686995463807979, -0.2911544680711602};
static const double beta1[4] = {-0.45315689727309133, 0.8330937231303951, 0.3792843195533544, 0.24077885458934192};
static const double beta2[4] = {-0.4994383733810986, 0.9181786186154077, -0.25613778661003145, -0.16260245862427797};
static const double beta3[4] = {1.4531568972730915, -0.8330937231303933, -0.3792843195533583, -0.24077885458934023};
static const double beta4[4] = {-0.4976090683622265, 0.9148155835648892, -1.4102107084476505, 0.9930041932449877};
static const double e1[4] = {1, 1, 1, 1};

static const nde_sri_tableau tableau = {
    .stages = 4, .c0 = c0, .c1 = c1, .a0 = a0, .a1 = a1, .b0 = b0, .b1 = b1,
    .alpha = alpha, .beta1 = beta1, .beta2 = beta2, .beta3 = beta3, .beta4 = beta4,
    .e1 = e1, .delta = 1.0, .stability_size = 10.6};

NDE_PLUGIN_DEFINE(sde_solver, sosri2, .tableau = &tableau, .strong_order = 1.5, .weak_order = 2.0,
                  .needs_dz = 1, .adaptive = 1, .stiffness = 1, .stages = 4, .delta = 1.0,
                  .step = NULL);
