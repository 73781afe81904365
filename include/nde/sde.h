/**
 * @file nde/sde.h
 * @brief Itô stochastic differential equations: drift and diffusion
 *        callbacks, SRI tableaus, solver plugins (kind "sde_solver") and the
 *        integrator with adaptive steps along one fixed Brownian path.
 *
 * A problem is the Itô SDE du = f(t, u) dt + g(t, u) ∘ dW on [t0, t1]
 * (∘ here is the Itô product that the noise type defines, not Stratonovich):
 *  - diagonal noise: g(t, u) has u's shape and component i is driven by its
 *    own Wiener process W_i: du_i = f_i dt + g_i dW_i;
 *  - scalar noise: g has u's shape and every component of one column of u
 *    (one sample of a batch (features × batch); a 1-D u is one column) is
 *    driven by the same W_c: du_ic = f_ic dt + g_ic dW_c;
 *  - general noise: every column of u (n rows) is driven by its own m
 *    independent Wiener processes W_{kc} (m = nde_sde_rhs::brownian_dim)
 *    through an n × m matrix g: du_ic = f_ic dt + Σ_k g_ikc dW_kc. The
 *    diffusion fills an array of n·m·K values (K columns), column c's matrix
 *    column-major at offset n·m·c (g_ikc at i + n·k + n·m·c), and the path
 *    has m·K components (W_kc at k + m·c). Solvers opt in with
 *    nde_sde_solver_ops::general_noise (Euler–Maruyama does; SRI methods,
 *    which need iterated integrals of distinct W's, do not).
 *
 * The state u is one backend array of any shape, so K independent
 * trajectories of an n-dimensional SDE are ONE system of shape (n, K): they
 * share the adaptive steps and the error norm, as the thesis solves a batch.
 *
 * Stochastic Runge–Kutta methods of Rößler's SRI class are described by an
 * ::nde_sri_tableau; ONE generic core stepper (nde_sri_step()) performs the
 * step, the embedded error estimate and the stiffness estimate for all of
 * them. Other methods (Euler–Maruyama) supply their own `step`.
 *
 * Randomness comes from an ::nde_brownian path (nde/brownian.h): the
 * integrator queries W (and the Lévy area for ΔZ) at step ends, so a
 * rejected step is retried on the bridge of the same path and every
 * adaptive solution is a solution along ONE fixed Brownian path (the
 * guarantee of rejection sampling with memory, RSwM, Rackauckas & Nie 2017,
 * with the tree as the memory).
 */
#ifndef NDE_SDE_H
#define NDE_SDE_H

#include <stddef.h>

#include <nde/array.h>
#include <nde/brownian.h>
#include <nde/controller.h>
#include <nde/integrator.h>
#include <nde/options.h>
#include <nde/plugin.h>
#include <nde/status.h>

#ifdef __cplusplus
extern "C" {
#endif

struct nde_registry;
struct nde_sde_reverse;
struct nde_sde_solver_ops;

/** Structure of the noise term. */
typedef enum nde_sde_noise {
  NDE_NOISE_DIAGONAL = 0, /**< one Wiener process per component of u */
  NDE_NOISE_SCALAR = 1,   /**< one Wiener process per column of u */
  NDE_NOISE_GENERAL = 2   /**< g is n × m per column, m = nde_sde_rhs::brownian_dim */
} nde_sde_noise;

/** "diagonal", "scalar", "general"; NULL for an invalid value. */
NDE_API const char *nde_sde_noise_name(nde_sde_noise noise);

/**
 * Drift f and diffusion g (and, later, their pullbacks).
 *
 * @var drift      du = f(t, u); @p out has u's shape, never aliases u.
 * @var diffusion  out = g(t, u) (u's shape for diagonal and scalar noise; for
 *                 general noise n·m·K values, see ::nde_sde_noise, shaped as
 *                 nde_sde_diffusion_shape() says).
 * @var drift_vjp, diffusion_vjp  optional (NULL): w_u = wᵀ ∂f/∂u (resp. g) at
 *                 (t, u), and when @p w_p is non-NULL accumulate (+=) wᵀ ∂/∂p
 *                 into it (layout owned by the callback). For sensitivities.
 * @var noise      noise structure
 * @var ctx        passed back to every function
 */
typedef struct nde_sde_rhs {
  nde_status (*drift)(void *ctx, double t, const nde_array *u, nde_array *out);
  nde_status (*diffusion)(void *ctx, double t, const nde_array *u, nde_array *out);
  nde_status (*drift_vjp)(void *ctx, double t, const nde_array *u, const nde_array *w,
                          nde_array *w_u, void *w_p);
  nde_status (*diffusion_vjp)(void *ctx, double t, const nde_array *u, const nde_array *w,
                              nde_array *w_u, void *w_p);
  nde_sde_noise noise;
  void *ctx;
  /* ---- appended: kept evaluations (optional; all five or none) ---- */
  /**
   * For reverse mode without re-evaluating inside each pullback: between
   * keep_begin and keep_end, drift_keep / diffusion_keep evaluate like drift /
   * diffusion and also keep what the pullback needs, returning a handle
   * (*kept); kept_vjp(kept, w) is then the pullback at that evaluation (the
   * semantics of drift_vjp / diffusion_vjp without recomputing). keep_end
   * releases every kept evaluation. nde_sri_step_reverse() uses them when all
   * five are set: each stage is then evaluated once and pulled back once in
   * the backward pass.
   */
  nde_status (*keep_begin)(void *ctx);
  nde_status (*drift_keep)(void *ctx, double t, const nde_array *u, nde_array *out, void **kept);
  nde_status (*diffusion_keep)(void *ctx, double t, const nde_array *u, nde_array *out,
                               void **kept);
  nde_status (*kept_vjp)(void *ctx, void *kept, const nde_array *w, nde_array *w_u, void *w_p);
  void (*keep_end)(void *ctx);
  /* ---- appended ---- */
  /** m, the Wiener processes per column for general noise (≥ 1); unused otherwise */
  size_t brownian_dim;
} nde_sde_rhs;

/** 1 when @p rhs provides all five kept-evaluation callbacks. */
NDE_API int nde_sde_rhs_keeps(const nde_sde_rhs *rhs);

/**
 * Number of Wiener processes the noise of @p rhs needs for a state shaped
 * like @p u: u->size (diagonal) or its number of columns (scalar).
 */
NDE_API size_t nde_sde_noise_dim(nde_sde_noise noise, const nde_array *u);

/**
 * Number of Wiener processes @p rhs needs for a state shaped like @p u:
 * nde_sde_noise_dim() for diagonal and scalar noise, brownian_dim × (number
 * of columns of u) for general noise (0 when brownian_dim is 0).
 */
NDE_API size_t nde_sde_rhs_noise_dim(const nde_sde_rhs *rhs, const nde_array *u);

/**
 * Shape of the diffusion's output (and of the integrator's g arrays) for a
 * state @p u: u's shape for diagonal and scalar noise; (n·m) for a 1-D u of n
 * elements and (n·m, K) for a (n, K) u under general noise. @p shape holds
 * NDE_MAX_DIMS extents; returns the number of dimensions.
 */
NDE_API int nde_sde_diffusion_shape(const nde_sde_rhs *rhs, const nde_array *u, size_t *shape);

/**
 * The general-noise product per column: out_c = β·out_c + Σ_k g_kc·dw_kc, i.e.
 * for each column c of the (n, K) state, out[:, c] = β·out[:, c] + G_c·dw_c
 * with G_c the n × m matrix of @p g (layout of ::nde_sde_noise) and dw_c the
 * m values of @p dw at m·c (one backend gemm per column).
 */
NDE_API void nde_sde_general_product(size_t n, size_t m, size_t K, const nde_array *g,
                                     const nde_array *dw, double beta, nde_array *out);

/**
 * out = g·ΔW as a step adds it, for every noise type: the elementwise
 * product (u's size) for diagonal and scalar noise, nde_sde_general_product()
 * for general noise. @p dW is the step's noise as nde_sde_noise_expand()
 * gives it; @p out has u's shape and may alias neither g nor dW for general
 * noise.
 */
NDE_API void nde_sde_noise_times(const nde_sde_rhs *rhs, const nde_array *u, const nde_array *g,
                                 const nde_array *dW, nde_array *out);

/**
 * Its pullback in g: wg = (λ_c dw_cᵀ) per column, the n × m outer product of
 * column c of @p lam (n values) and dw_c, written in g's layout.
 */
NDE_API void nde_sde_general_outer(size_t n, size_t m, size_t K, const nde_array *lam,
                                   const nde_array *dw, nde_array *wg);

/**
 * A stochastic Runge–Kutta method of Rößler's SRI class for Itô SDEs with
 * scalar or diagonal noise (A. Rößler, "Runge–Kutta methods for the strong
 * approximation of solutions of stochastic differential equations", SIAM J.
 * Numer. Anal. 48(3), 2010). With h = dt, ΔW, and
 * χ₁ = I₁₁/√h = (ΔW² − h)/(2√h), χ₂ = I₁₀/h = (ΔW + ΔZ/√3)/2,
 * χ₃ = I₁₁₁/h = (ΔW³ − 3hΔW)/(6h) (elementwise):
 *
 *   H0_i = u + h·Σ_j A0_ij k_j + χ₂ ⊙ Σ_j B0_ij g_j,   k_i = f(t + c0_i h, H0_i)
 *   H1_i = u + h·Σ_j A1_ij k_j + √h · Σ_j B1_ij g_j,   g_i = g(t + c1_i h, H1_i)
 *   E₂   = χ₂ ⊙ Σ β3_i g_i + χ₃ ⊙ Σ β4_i g_i
 *   u₁   = u + h·Σ α_i k_i + ΔW ⊙ Σ β1_i g_i + χ₁ ⊙ Σ β2_i g_i + E₂
 *
 * and the embedded error estimate of Rackauckas & Nie (2017, 2018)
 * err = δ·E₁ + E₂ with E₁ = h·Σ e_i k_i, EEst = ‖err / (abstol + reltol·max(|u|, |u₁|))‖_RMS.
 * Stiffness estimate (when stability_size > 0 and the step asks for it,
 * nde_sde_step::want_eigen): ‖k_s − k_{s−1}‖ / ‖H0_s − H0_{s−1}‖.
 * Matrices are s·s row-major (row i = stage i), only j < i read.
 *
 * @var stages         s ≥ 1
 * @var c0, c1         drift and diffusion stage times (s each)
 * @var a0, a1, b0, b1 stage matrices (s·s each)
 * @var alpha          drift weights; beta1..beta4 diffusion weights (s each)
 * @var e1             weights of E₁ (1 for the stages it sums; SRIW1 sums 2)
 * @var delta          default δ of the error estimate (1; 1/6 for SRIW1)
 * @var stability_size > 0 enables the stiffness estimate; the method's
 *                     stability-region size along the negative real axis
 */
typedef struct nde_sri_tableau {
  int stages;
  const double *c0, *c1;
  const double *a0, *a1, *b0, *b1;
  const double *alpha, *beta1, *beta2, *beta3, *beta4;
  const double *e1;
  double delta;
  double stability_size;
} nde_sri_tableau;

/** Check a tableau's shape and consistency (c0 = A0·1, c1 = A1·1, explicit). */
NDE_API nde_status nde_sri_tableau_validate(const nde_sri_tableau *tableau, const char *name);

/** Number of Rößler strong-order-1.5 conditions (nde_sri_order_residuals()). */
#define NDE_SRI_ORDER_CONDITIONS 25

/**
 * Residuals of Rößler's 25 strong-order-1.5 conditions for SRI methods with
 * scalar or diagonal noise (Rößler 2010, the order conditions of the SRI
 * class; the same list as StochasticDiffEq's `checkSRIOrder` in
 * src/tableaus.jl).
 * res[k] is 0 when condition k + 1 holds. With e = (1, …, 1):
 *  1 αᵀe = 1           2 β1ᵀe = 1          3 β2ᵀe = 0          4 β3ᵀe = 0
 *  5 β4ᵀe = 0          6 β1ᵀB1e = 0        7 β2ᵀB1e = 1        8 β3ᵀB1e = 0
 *  9 β4ᵀB1e = 0       10 αᵀA0e = 1/2      11 αᵀB0e = 1        12 αᵀ(B0e)² = 3/2
 * 13 β1ᵀA1e = 1       14 β2ᵀA1e = 0       15 β3ᵀA1e = −1      16 β4ᵀA1e = 0
 * 17 β1ᵀ(B1e)² = 1    18 β2ᵀ(B1e)² = 0    19 β3ᵀ(B1e)² = −1   20 β4ᵀ(B1e)² = 2
 * 21 β1ᵀB1(B1e) = 0   22 β2ᵀB1(B1e) = 0   23 β3ᵀB1(B1e) = 0   24 β4ᵀB1(B1e) = 1
 * 25 ½β1ᵀA1(B0e) + ⅓β3ᵀA1(B0e) = 0
 */
NDE_API void nde_sri_order_residuals(const nde_sri_tableau *tableau,
                                     double res[NDE_SRI_ORDER_CONDITIONS]);

/**
 * One step, as the integrator hands it to a stepper. The integrator owns
 * every array (u's shape, dtype and backend).
 *
 * In: t, dt (> 0), u0, the noise over [t, t + dt] expanded to u's shape
 * (dW; for general noise the m·K increments as they are, shaped (m, K);
 * and, for methods with needs_dz, chi1 = I₁₁/√h, chi2 = I₁₀/h,
 * chi3 = I₁₁₁/h computed from (ΔW, ΔZ) — see ::nde_sri_tableau), delta,
 * work arrays k[nk], g[nk] (shaped by nde_sde_diffusion_shape()), h0[nk] and
 * scratch[3].
 * Out: u1; err = δ·E₁ + E₂ when err is not NULL and the method has an
 * estimate; eigen_est (NaN when the method has none or want_eigen is 0); nf
 * and ng (drift and diffusion evaluations made).
 */
typedef struct nde_sde_step {
  double t, dt;
  const nde_array *u0;
  nde_array *u1;
  nde_array *err;
  double delta;
  const nde_array *dW;
  const nde_array *chi1, *chi2, *chi3;
  nde_array *k, *g, *h0;
  int nk;
  nde_array *scratch;
  double eigen_est;
  long nf, ng;
  /* appended */
  int want_eigen; /**< in: nonzero → a tableau with stability_size > 0 computes eigen_est
                       (nde_sde_options::stiffness_estimate); 0 → eigen_est is NaN */
} nde_sde_step;

/**
 * The noise of one step of size @p h expanded to the shape of @p like, as
 * the integrator hands it to steps (::nde_sde_step) and reverse steps
 * (::nde_sde_reverse): with c = i for diagonal noise and c = i / rows for
 * scalar noise (rows = like's first extent; one Wiener process per column),
 * dW[i] = ΔW_c and, when @p chi1 is not NULL (methods that need ΔZ),
 * chi1[i] = (ΔW_c² − h)/(2√h), chi2[i] = (ΔW_c + ΔZ_c/√3)/2,
 * chi3[i] = (ΔW_c³ − 3hΔW_c)/(6h). @p dw and @p dz hold
 * nde_sde_noise_dim() values (as nde_brownian_increment() gives them; dz is
 * read only with chi1). General noise: dW receives the nde_sde_noise_dim()
 * increments unexpanded (dW has that many elements, chi1 must be NULL).
 * @p host: 4·like->size doubles of scratch, or NULL
 * (then allocated for the call). The arrays have like's size and dtype.
 */
NDE_API nde_status nde_sde_noise_expand(nde_sde_noise noise, const nde_array *like, double h,
                                        const double *dw, const double *dz, nde_array *dW,
                                        nde_array *chi1, nde_array *chi2, nde_array *chi3,
                                        double *host);

/**
 * Whether @p ops can solve the noise of @p rhs: NDE_EINVAL for an unknown
 * noise type or general noise with brownian_dim 0, NDE_EUNSUPPORTED for
 * general noise with a solver that does not set general_noise (@p who
 * prefixes the message).
 */
NDE_API nde_status nde_sde_noise_check(const struct nde_sde_solver_ops *ops,
                                       const nde_sde_rhs *rhs, const char *who);

/**
 * Create the array a step's noise needs for a state like @p like: its dW
 * (@p diffusion 0: like's shape, or (m, K) for general noise) or a diffusion
 * value (@p diffusion 1: nde_sde_diffusion_shape()).
 */
NDE_API nde_status nde_sde_noise_array(const nde_sde_rhs *rhs, const nde_array *like,
                                       int diffusion, nde_array *out);

/** The generic SRI step (see ::nde_sri_tableau); skips stages whose values are never used. */
NDE_API nde_status nde_sri_step(const nde_sri_tableau *tableau, const nde_sde_rhs *rhs,
                                nde_sde_step *step);

/**
 * An SDE solver plugin (kind "sde_solver").
 *
 * An SRI plugin sets @p tableau and leaves @p step NULL; any other method
 * sets tableau = NULL and provides @p step (and, for reverse mode,
 * @p step_reverse). Fields are only ever appended, see NDE_VTABLE_HAS().
 *
 * @var tableau       SRI description, or NULL for a custom method
 * @var strong_order  strong order of convergence (0.5, 1.0, 1.5)
 * @var weak_order    weak order of convergence
 * @var needs_dz      1 when steps read chi1..chi3 (the ΔZ of I₁₀): the
 *                    integrator then draws Lévy areas from the path
 * @var adaptive      1 when the step produces an embedded error estimate
 * @var stiffness     1 when the step produces a stiffness estimate
 * @var stages        number of k/g/h0 arrays the integrator must provide (≥ 1)
 * @var delta         default δ of the error estimate (ignored when !adaptive)
 * @var step          custom step (tableau == NULL)
 */
typedef struct nde_sde_solver_ops {
  nde_plugin_header header;
  const nde_sri_tableau *tableau;
  double strong_order;
  double weak_order;
  int needs_dz;
  int adaptive;
  int stiffness;
  int stages;
  double delta;
  nde_status (*step)(const nde_sde_rhs *rhs, nde_sde_step *step);
  /* ---- appended: reverse mode (test with NDE_VTABLE_HAS) ---- */
  /**
   * Optional reverse of the custom @p step (see ::nde_sde_reverse); NULL for
   * SRI plugins (nde_sri_step_reverse() on their tableau) and for custom
   * methods without one. Call it through nde_sde_solver_step_reverse().
   */
  nde_status (*step_reverse)(const nde_sde_rhs *rhs, struct nde_sde_reverse *reverse);
  /* ---- appended (test with NDE_VTABLE_HAS) ---- */
  /** 1 when step (and step_reverse) handle NDE_NOISE_GENERAL; the integrator refuses it otherwise */
  int general_noise;
} nde_sde_solver_ops;


/** Called after every accepted step (u1 is the new state). */
typedef nde_status (*nde_sde_step_hook)(void *user, const nde_sde_step *step, double eest);

/** First step of an adaptive solve that is given no dt (nde_sde_options::first_step). */
enum {
  /** Hairer's heuristic on the drift alone (order 2): the step the drift allows */
  NDE_SDE_FIRST_STEP_DRIFT = 0,
  /**
   * nde_sde_initial_dt(): StochasticDiffEq's heuristic, which counts the
   * noise and starts far shorter; the controller then grows the step by at
   * most qmax = 9/8 per step, so early steps cost many more evaluations.
   * What the thesis's numbers were measured with.
   */
  NDE_SDE_FIRST_STEP_STOCHASTICDIFFEQ = 1
};

/**
 * Solve options. Defaults: nde_sde_options_default(); the same-named JSON
 * options of every sde_solver manifest.
 *
 * @var abstol, reltol  tolerances of the error norm (defaults 1e-2, 1e-2)
 * @var dt              fixed step, or the first step when adaptive; required (> 0)
 *                      for fixed steps; 0 with adaptive = Hairer's heuristic on the drift
 * @var adaptive        1: adapt dt with the PI controller (needs an error estimate)
 * @var delta           δ of the error estimate (< 0: the method's default)
 * @var dtmin           smallest dt before NDE_EDTMIN; 0 = 1e-14·max(1, |t|)
 * @var dtmax           largest dt; 0 = t1 − t0
 * @var maxiters        largest number of steps (accepted + rejected), default 100000
 * @var record_steps    1: keep per-step statistics (t, dt, EEst, eigen_est)
 * @var controller      PI controller; SDE defaults (StochasticDiffEq): qmax 9/8,
 *                      qmin 1/5, γ 0.9, β1 = 7/(10p), β2 = 2/(5p) with p the
 *                      strong order (SRI: 7/15, 4/15)
 * @var on_step, user   optional hook after every accepted step
 * @var first_step    how an adaptive solve without dt picks its first step:
 *                      ::NDE_SDE_FIRST_STEP_DRIFT (default) or
 *                      ::NDE_SDE_FIRST_STEP_STOCHASTICDIFFEQ. Appended field.
 * @var replay_dt, n_replay  non-NULL: take exactly these n_replay step sizes
 *                      (> 0; the last one is cut or stretched to end at t1),
 *                      never rejecting, whatever the error estimate says:
 *                      a frozen step sequence (finite-difference checks of
 *                      discrete sensitivities). Appended field.
 */
typedef struct nde_sde_options {
  double abstol, reltol, dt, delta, dtmin, dtmax;
  int adaptive;
  long maxiters;
  int record_steps;
  nde_pi_controller controller;
  nde_sde_step_hook on_step;
  void *user;
  const double *replay_dt;
  size_t n_replay;
  int first_step;
  int stiffness_estimate; /**< 1: every step computes the stiffness estimate (methods with
                               one, e.g. SOSRI2); 0 (default): eigen_est is NaN, two passes
                               over the state per step saved. Not a JSON option: the
                               neural_sde layer sets it when a regularizer reads the
                               estimate (NDE_REG_NEEDS_STIFFNESS), `nde solve
                               --step-records` when it shows it. Appended field. */
} nde_sde_options;

/** Number of work arrays nde_sde_initial_dt() needs. */
#define NDE_SDE_INITIAL_DT_WORK 5

/**
 * The first step of an adaptive solve from (t, u0) by the heuristic of
 * StochasticDiffEq.jl's `sde_determine_initdt` (the thesis's code; see
 * core/sde/initial_dt.c for the formulas): drift and diffusion (3·g) norms
 * relative to sk = abstol + reltol·|u0|, one Euler step of size
 * h0 = 0.01·‖u0/sk‖/‖(|f| + 3|g|)/sk‖, and
 * dt = min(100·h0, (0.01/max(d1, d2))^(1/(order + 1/2)), dtmax). Whenever
 * there is noise its d2 ≈ 6‖g/sk‖/h0, so this step is much shorter than
 * the drift-only heuristic nde_sde_solve() starts with. Used by the local
 * regularizers' "step": "initial" in neural_sde.
 *
 * @param order  the method's strong order (1.5 for SRI methods)
 * @param work   NDE_SDE_INITIAL_DT_WORK arrays shaped like u0
 * @param nf, ng incremented by the drift and diffusion evaluations (2 each)
 * Needs the backend's max_abs operation.
 */
NDE_API nde_status nde_sde_initial_dt(const nde_sde_rhs *rhs, double t, const nde_array *u0,
                                      double order, double abstol, double reltol, double dtmax,
                                      nde_array *work, double *dt, long *nf, long *ng);

/** Defaults for a method of strong order @p strong_order. */
NDE_API void nde_sde_options_default(double strong_order, nde_sde_options *opt);

/**
 * Defaults, then every key of @p options naming a field above (abstol,
 * reltol, dt, adaptive, delta, dtmin, dtmax, maxiters, record_steps, first_step
 * ("drift" | "stochasticdiffeq"), and the
 * controller's beta1, beta2, gamma, qmin, qmax, qoldinit; a beta of 0 means
 * "from the order"). NDE_EINVAL for values out of range.
 */
NDE_API nde_status nde_sde_options_parse(const nde_options *options, double strong_order,
                                         nde_sde_options *opt);

/** Statistics of one accepted step: the solver-neutral record (nde/integrator.h). */
typedef nde_step_record nde_sde_step_stats;

/** Counters of a solve. */
typedef struct nde_sde_stats {
  long nf;                   /**< drift evaluations (rejected steps included) */
  long ng;                   /**< diffusion evaluations (rejected steps included) */
  long accepted;             /**< accepted steps */
  long rejected;             /**< rejected steps */
  size_t nsteps;             /**< entries of steps */
  nde_sde_step_stats *steps; /**< per accepted step, when record_steps */
} nde_sde_stats;

/**
 * The result of nde_sde_solve(); free with nde_sde_solution_clear().
 *
 * @var nsave    saved points (t0 and t1 without saveat; else the saveat points)
 * @var t        their times (host)
 * @var u        saved states, shape (u0.size, nsave); between steps saveat
 *               values are linearly interpolated (as StochasticDiffEq does)
 * @var u_final  the state at t1
 */
typedef struct nde_sde_solution {
  size_t nsave;
  double *t;
  nde_array u;
  nde_array u_final;
  double t_final;
  nde_sde_stats stats;
} nde_sde_solution;

/** Free a solution's memory (safe on a zeroed one). */
NDE_API void nde_sde_solution_clear(nde_sde_solution *sol);

/** An opened solver: the plugin's vtable plus its validated options. */
typedef struct nde_sde_solver {
  const nde_sde_solver_ops *ops;
  nde_options *options;  /**< validated, defaults filled (owned) */
  nde_sde_options solve; /**< parsed from options */
} nde_sde_solver;

/**
 * Open an sde_solver plugin by name from @p registry (NULL: default),
 * validating @p given options against its manifest (@p where prefixes
 * messages). NDE_ENOTFOUND with a suggestion for unknown names.
 */
NDE_API nde_status nde_sde_solver_open(struct nde_registry *registry, const char *name,
                                       const nde_options *given, const char *where,
                                       nde_sde_solver **out);

/** Open a vtable in hand (tests, embedding); @p options (may be NULL) parsed with nde_sde_options_parse. */
NDE_API nde_status nde_sde_solver_open_ops(const nde_sde_solver_ops *ops,
                                           const nde_options *options, nde_sde_solver **out);

/** Close a solver and NULL the pointer. */
NDE_API void nde_sde_solver_destroy(nde_sde_solver **solver);

/**
 * Integrate the SDE from (t0, u0) to t1 > t0 along the Brownian @p path.
 *
 * @param path    dim = nde_sde_rhs_noise_dim(rhs, u0), covering [t0, t1];
 *                with levy_area when the method needs_dz
 * @param opt     NULL: solver->solve
 * @param saveat  increasing times in [t0, t1] (NULL/0: save t0 and t1)
 * @param sol     out; zeroed first. On failure it keeps the statistics, and
 *                the status says why: NDE_ENONFINITE (NaN/Inf state or error),
 *                NDE_EDTMIN, NDE_EMAXITERS, or a callback's error.
 */
NDE_API nde_status nde_sde_solve(const nde_sde_solver *solver, const nde_sde_rhs *rhs,
                                 const nde_sde_options *opt, double t0, double t1,
                                 const nde_array *u0, nde_brownian *path, const double *saveat,
                                 size_t nsave, nde_sde_solution *sol);

/* ------------------------------------------------------------------------ */
/* Reverse mode through one step (discrete sensitivities)                    */
/* ------------------------------------------------------------------------ */

/**
 * Euler–Maruyama written as a one-stage SRI tableau (α = β1 = 1, every other
 * coefficient 0): u₁ = u + h·f(t, u) + ΔW ⊙ g(t, u). It needs no χ arrays.
 * The `euler_maruyama` plugin steps with its own code and reverses with
 * this tableau.
 */
NDE_API const nde_sri_tableau *nde_sri_tableau_euler_maruyama(void);

/** Number of work arrays nde_sri_step_reverse() needs for an s-stage tableau. */
#define NDE_SDE_REVERSE_WORK(s) (6 * (s) + 10)

/**
 * The adjoint of one SDE step (nde_sri_step()) along a fixed Brownian path,
 * with t, dt and the noise frozen: given the cotangent λ₁ of u₁ and weights
 * on the step's error and stiffness estimates, it returns λ₀, the cotangent of u₀,
 * and accumulates the parameter cotangent through the callbacks' vjps.
 *
 * The stages are recomputed from u₀ and the noise (nothing of the forward
 * step needs to be kept but t, dt, u₀, ΔW and ΔZ), then pulled back in
 * reverse stage order: each drift stage costs one rhs->drift_vjp and each
 * diffusion stage one rhs->diffusion_vjp (both required), with the
 * semantics of ::nde_sde_rhs (w_u = wᵀ∂/∂u overwritten, w_p += wᵀ∂/∂p).
 * When the rhs keeps evaluations (nde_sde_rhs_keeps()), the recomputed
 * stages are evaluated with drift_keep / diffusion_keep and pulled back with
 * kept_vjp instead, so a pullback does not evaluate its stage again.
 *
 * The error term is EEst = wrms(δ·E₁ + E₂; u₀, u₁; abstol, reltol) of
 * ::nde_sri_tableau, the integrator's controller norm; its cotangent
 * includes the dependence of the tolerance scale on u₀ and u₁ (through the
 * backend's wrms_norm_vjp, which it then needs).
 *
 * @var t, dt            the step as the forward step had it
 * @var u0               its start state u₀
 * @var dW, chi1, chi2, chi3  the noise over the step expanded to u₀'s shape,
 *                       exactly as in ::nde_sde_step (chi* may be NULL for
 *                       tableaus that never read them, e.g. Euler–Maruyama)
 * @var delta            δ of the error estimate
 * @var du1              in: λ₁, the cotangent of u₁ (NULL: zero)
 * @var w_eest           cotangent of EEst (0: none)
 * @var abstol, reltol   the tolerances of that norm
 * @var w_eigen          cotangent of the stiffness estimate
 *                       ‖k_s − k_{s−1}‖₂ / ‖H0_s − H0_{s−1}‖₂ (0: none; needs a
 *                       tableau with stability_size > 0, e.g. SOSRI2)
 * @var du0              out: λ₀ (overwritten; may not alias du1)
 * @var dparams          passed to the vjps as w_p (accumulated; NULL: not wanted)
 * @var work, nwork      ≥ NDE_SDE_REVERSE_WORK(stages) arrays shaped like u₀
 * @var u1               out, optional (NULL): the recomputed u₁
 * @var eest             out: the recomputed EEst when w_eest ≠ 0, else 0
 * @var eigen_est        out: the recomputed stiffness estimate when w_eigen ≠ 0, else NaN
 * @var nf, ng           out: drift and diffusion evaluations made
 * @var nf_vjp, ng_vjp   out: drift_vjp and diffusion_vjp calls made
 */
typedef struct nde_sde_reverse {
  double t, dt;
  const nde_array *u0;
  const nde_array *dW, *chi1, *chi2, *chi3;
  double delta;
  const nde_array *du1;
  double w_eest, abstol, reltol;
  double w_eigen;
  nde_array *du0;
  void *dparams;
  nde_array *work;
  int nwork;
  nde_array *u1;
  double eest, eigen_est;
  long nf, ng, nf_vjp, ng_vjp;
} nde_sde_reverse;

/** Reverse mode through one SRI step (see ::nde_sde_reverse). */
NDE_API nde_status nde_sri_step_reverse(const nde_sri_tableau *tableau, const nde_sde_rhs *rhs,
                                        nde_sde_reverse *reverse);

/**
 * One Euler–Maruyama step for every noise type, u₁ = u + h·f(t, u) + g(t, u)·ΔW
 * (nde_sde_noise_times()): k[0] = f, g[0] = g, scratch[0] = g·ΔW; nf = ng = 1;
 * eigen_est NaN; err untouched. The step of the `euler_maruyama` plugin and the
 * first half of `lamba_em`'s.
 */
NDE_API nde_status nde_sde_em_step(const nde_sde_rhs *rhs, nde_sde_step *step);

/**
 * Reverse mode through one Euler–Maruyama step with general noise (the
 * `euler_maruyama` plugin's step_reverse for NDE_NOISE_GENERAL; see
 * ::nde_sde_reverse): one drift_vjp and one diffusion_vjp, whose cotangent
 * is the per-column outer product λ₁_c ΔW_cᵀ (nde_sde_general_outer()).
 * Needs 3 work arrays; w_eest and w_eigen must be 0.
 */
NDE_API nde_status nde_em_general_step_reverse(const nde_sde_rhs *rhs, nde_sde_reverse *reverse);

/**
 * Reverse one step of @p ops's method: nde_sri_step_reverse() on its
 * tableau, else its step_reverse; NDE_EUNSUPPORTED when it has neither.
 */
NDE_API nde_status nde_sde_solver_step_reverse(const nde_sde_solver_ops *ops,
                                               const nde_sde_rhs *rhs, nde_sde_reverse *reverse);

#ifdef __cplusplus
}
#endif
#endif /* NDE_SDE_H */
