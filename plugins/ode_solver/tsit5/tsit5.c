/*
 * Tsitouras 5(4): Ch. Tsitouras, "Runge–Kutta pairs of order 5(4) satisfying
 * only the first column simplifying assumption", Comput. Math. Appl. 62(2),
 * 770–775 (2011). Seven stages, FSAL.
 *
 * Coefficients: the ~80-digit values of OrdinaryDiffEq.jl
 * lib/OrdinaryDiffEqTsit5/src/tsit_tableaus.jl (Tsit5ConstantCacheActual,
 * BigFloat method; cross-checked against diffrax _solver/tsit5.py), written
 * to 21+ digits so the compiler rounds them correctly. OrdinaryDiffEq stores
 * btilde = bhat − b; nde's convention is btilde = b − bhat, so the signs here
 * are flipped. The free 4th-order interpolant b_i(θ) = Σ_j r_ij θ^j is
 * Tsit5Interp from the same file. Stability-region size 3.5068 is
 * OrdinaryDiffEq's alg_stability_size for Tsit5.
 *
 * The PI gains default to 0.17/0.04 in tsit5.json (Hairer's DOPRI5 values,
 * as for dopri5), not the generic 7/(10p), 2/(5p) = 0.14/0.08, which settle
 * at an error norm of ~0.17 instead of ~0.44 and cost ~20% more steps; see
 * docs/ode.md, "Controller defaults".
 */
#include <nde/ode.h>

#define C4 0.98002554090450968572981028628702459549
static const double c[7] = {0.0, 0.161, 0.327, 0.9, C4, 1.0, 1.0};

#define A71 0.096460766818065229518167313165128763337
#define A72 0.01
#define A73 0.47988965041449957477524953229059651991
#define A74 1.3790085741037418931922748218568727708
#define A75 -3.2900695154360806799010475857113638501
#define A76 2.3247105240997739824153559183987657961

static const double a[49] = {
    0, 0, 0, 0, 0, 0, 0, /* */
    0.161, 0, 0, 0, 0, 0, 0, /* */
    -0.0084806554923569885444268742502307746751, 0.33548065549235698854442687425023077468, 0, 0,
    0, 0, 0, /* */
    2.8971530571054934321304325941929387649, -6.3594484899750748431481599123838256260,
    4.3622954328695814110177273181908868610, 0, 0, 0, 0, /* */
    5.3258648284392566044288779208405113178, -11.748883564062827877747170339785772962,
    7.4955393428898362083046047845643581557, -0.092495066361755249256502079332071916113, 0, 0,
    0, /* */
    5.8614554429464200286592514869826478904, -12.920969317847109291706118681783359395,
    8.1593678985761586431804007945392534852, -0.071584973281400997224530542525829738691,
    -0.028269050394068382909003057212712241467, 0, 0, /* */
    A71, A72, A73, A74, A75, A76, 0,
};
static const double b[7] = {A71, A72, A73, A74, A75, A76, 0.0};
static const double btilde[7] = {
    0.0017800110522257714433785506075395347759, 0.00081643445965674690322363606335468624018,
    -0.0078808780102619960103147276725263042386, 0.14471100717326290753716514797263511672,
    -0.58235716545255522501993761065204217943, 0.45808210592918694666163651883255429744,
    -1.0 / 66.0};
/* r[i][j-1]: b_i(θ) = Σ_{j=1..4} r_ij θ^j */
static const double interp[28] = {
    1.0, -2.7637061972748259113367359304814002609, 2.9132554618219127437506809930680800000,
    -1.0530884977290216, /* */
    0.0, 0.13169999999999999727, -0.22339999999999999818, 0.1017, /* */
    0.0, 3.9302962368947515285068744670981339800, -5.9410338721315047347024920258945800100,
    2.490627285651252793, /* */
    0.0, -12.411077166933676983734381540685453484, 30.338188630282321598172990369183657600,
    -16.54810288924490272, /* */
    0.0, 37.509313416511039194969039653345196312, -88.178904894766401101427669354120981700,
    47.37952196281928122, /* */
    0.0, -27.896526289197287805948263144598643896, 65.091894674793671526290219287165536580,
    -34.87065786149660974, /* */
    0.0, 1.5, -4.0, 2.5,
};

static const nde_rk_tableau tableau = {.stages = 7,
                                       .order = 5,
                                       .embedded_order = 4,
                                       .fsal = 1,
                                       .c = c,
                                       .a = a,
                                       .b = b,
                                       .btilde = btilde,
                                       .interp_degree = 4,
                                       .interp = interp,
                                       .stability_size = 3.5068};

static const nde_ode_solver_ops ops = {
    .header = NDE_PLUGIN_HEADER(NDE_KIND_ODE_SOLVER, "tsit5", nde_ode_solver_ops),
    .tableau = &tableau,
    .order = 5,
    .error_order = 4,
    .stages = 7,
};

NDE_PLUGIN_EXPORT const void *nde_plugin_ode_solver_tsit5(void);
NDE_PLUGIN_EXPORT const void *nde_plugin_ode_solver_tsit5(void) { return &ops; }
