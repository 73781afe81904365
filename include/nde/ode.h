/**
 * @file nde/ode.h
 * @brief Ordinary differential equations: right-hand sides, solver plugins
 *        (kind "ode_solver"), Runge–Kutta tableaus, and the integrator.
 *
 * A problem is du/dt = f(t, u) on [t0, t1] (t1 < t0 integrates backward).
 * The state u is one backend array of any shape — a whole batch
 * (features × batch) is one system — and every vector operation goes
 * through the backend (nde/backend.h), so solvers run on any device.
 *
 * Explicit Runge–Kutta plugins only describe their method with an
 * ::nde_rk_tableau; ONE generic core stepper (nde_rk_step()) does the
 * stepping, the error estimate, the stiffness estimate and the dense
 * output. Other methods (multistep: `vcab3`) supply their own `step`.
 *
 * Per accepted step the integrator records t, dt, the controller's error
 * norm EEst and, for methods with a stiffness estimate, Shampine's
 * eigenvalue estimate; the stage derivatives k_i of every accepted step are
 * handed to an optional hook (nde_ode_options::on_step), which is what a
 * discrete reverse-mode sensitivity needs.
 */
#ifndef NDE_ODE_H
#define NDE_ODE_H

#include <stddef.h>

#include <nde/array.h>
#include <nde/controller.h>
#include <nde/integrator.h>
#include <nde/options.h>
#include <nde/plugin.h>
#include <nde/status.h>

#ifdef __cplusplus
extern "C" {
#endif

struct nde_registry;

/**
 * The right-hand side f(t, u) (and optionally its pullback).
 *
 * @var eval  du = f(t, u). @p du has u's shape, dtype and backend, never aliases u.
 * @var vjp   optional (NULL if absent): w_u = wᵀ ∂f/∂u at (t, u); when @p w_p is
 *            non-NULL also accumulate (+=) wᵀ ∂f/∂p into it (the parameters'
 *            layout belongs to the callback). Used by sensitivity plugins.
 * @var ctx   passed back to both functions.
 */
typedef struct nde_ode_rhs {
  nde_status (*eval)(void *ctx, double t, const nde_array *u, nde_array *du);
  nde_status (*vjp)(void *ctx, double t, const nde_array *u, const nde_array *w, nde_array *w_u,
                    void *w_p);
  void *ctx;
} nde_ode_rhs;

/**
 * An explicit Runge–Kutta method (Butcher tableau plus what the integrator
 * needs to adapt, interpolate and estimate stiffness). All arrays are static
 * data owned by the plugin.
 *
 * @var stages          s ≥ 1
 * @var order           order p of the propagated solution (b)
 * @var embedded_order  order of the embedded solution, 0 if there is none (not adaptive)
 * @var fsal            1 if the last stage is f(t + dt, u_{n+1}) ("first same as last":
 *                      c_s = 1 and row s of A equals b); it is reused as the next step's k_1
 * @var c               s nodes (c[0] = 0)
 * @var a               s·s row-major coefficients a[i·s + j], only j < i read
 * @var b               s weights of the solution
 * @var btilde          s weights of the error estimate, btilde = b − bhat
 *                      (err = dt·Σ btilde_i k_i); NULL when embedded_order == 0
 * @var interp_degree   0: dense output is the cubic Hermite interpolant of
 *                      (u_n, f_n, u_{n+1}, f_{n+1}); d > 0: the continuous extension
 *                      u(t_n + θdt) = u_n + dt·Σ_i b_i(θ) k_i with
 *                      b_i(θ) = Σ_{j=1..d} interp[i·d + j − 1]·θ^j
 * @var interp          s·d coefficients, or NULL when interp_degree == 0
 * @var stability_size  > 0 enables the stiffness estimate (requires fsal, s ≥ 3 and
 *                      c_{s−1} = c_s):
 *                      the radius of the stability region along the negative real
 *                      axis (Tsit5 3.5068, DP5 3.3066); |eigen_est·dt| / stability_size
 *                      near 1 means the step size is limited by stability (stiffness)
 */
typedef struct nde_rk_tableau {
  int stages;
  int order;
  int embedded_order;
  int fsal;
  const double *c;
  const double *a;
  const double *b;
  const double *btilde;
  int interp_degree;
  const double *interp;
  double stability_size;
} nde_rk_tableau;

/** Check a tableau's shape and consistency (Σb = 1, Σbtilde ≈ 0, row sums = c, FSAL). */
NDE_API nde_status nde_rk_tableau_validate(const nde_rk_tableau *tableau, const char *name);

/**
 * One step, as the integrator hands it to a stepper. The integrator owns
 * every array (same shape, dtype and backend as u).
 *
 * In: t, dt (negative backward), u0, k[0] = f(t, u0), nk ≥ stages arrays.
 * Out: u1, err (when non-NULL and the method has an estimate), f1/f1_valid,
 * eigen_est (NaN when the method has none or want_eigen is 0), nfe (evaluations made), and
 * k[0..stages−1] hold the stage derivatives of this step until the next step.
 *
 * @var f1        where f(t + dt, u1) is, when the step computed it (f1_valid = 1).
 *                On entry it points to an integrator buffer; a stepper may
 *                point it at one of k (FSAL Runge–Kutta points it at k[s−1]).
 * @var scratch   two work arrays for the stepper (contents undefined)
 * @var tableau   out: nde_rk_step() sets the tableau it stepped with
 * @var lm_m, lm_w, lm_e  out, multistep methods: the step as a combination of
 *                the derivatives f_{n−i} = f(t_{n−i}, u_{n−i}) at the start of
 *                this (i = 0: k[0]) and the previous accepted steps, with
 *                weights fixed by the step sizes; lets the `direct`
 *                sensitivity differentiate it (vcab3 sets them)
 */
/** Most history points a multistep step may describe (nde_ode_step::lm_m). */
#define NDE_LM_MAX 8

typedef struct nde_ode_step {
  double t, dt;
  const nde_array *u0;
  nde_array *u1;
  nde_array *err;
  nde_array *k;
  int nk;
  nde_array *f1;
  int f1_valid;
  nde_array *scratch;
  double eigen_est;
  long nfe;
  /* appended: how the step was taken, for reverse mode (the `direct` sensitivity) */
  const nde_rk_tableau *tableau; /**< set by nde_rk_step(): the tableau of an RK step */
  int lm_m;                      /**< > 0: a linear multistep step (see below) */
  double lm_w[NDE_LM_MAX];       /**< u1 = u0 + Σ_{i<lm_m} lm_w[i]·f_{n−i} */
  double lm_e[NDE_LM_MAX];       /**< err = Σ_{i<lm_m} lm_e[i]·f_{n−i} */
  /* appended: the error norm fused with the error estimate (one pass over memory) */
  int want_eest;        /**< in: nonzero → nde_rk_step() sets eest (below) and leaves the
                             contents of err unspecified (err is then scratch) */
  double abstol, reltol; /**< in: the norm's tolerances when want_eest */
  double eest;          /**< out: wrms_norm(err; u0, u1) when eest_valid */
  int eest_valid;       /**< out: 1 when the step computed eest */
  /* appended: a seminorm (nde_ode_options::norm_size) */
  size_t norm_n;        /**< in: 0, or the number of leading elements of the state the
                             error norm covers (eest is then wrms_norm over elements
                             [0, norm_n) only; the rest of err is not part of it) */
  /* appended: the stiffness estimate on request (nde_ode_options::stiffness_estimate) */
  int want_eigen;       /**< in: nonzero → a method with a stiffness estimate computes
                             eigen_est; 0 → eigen_est is NaN (two passes over the state
                             per step saved) */
} nde_ode_step;

/**
 * The generic explicit Runge–Kutta step: stages with backend `lincomb`, the
 * solution, the error estimate dt·Σ btilde_i k_i (if step->err), and for a
 * tableau with stability_size > 0, when step->want_eigen is set, Shampine's
 * stiffness estimate (NaN otherwise)
 *   eigen_est = ‖k_s − k_{s−1}‖₂ / ‖g_s − g_{s−1}‖₂
 * (g_i the stage states, g_s = u_{n+1}; Hairer & Wanner II, §IV.2, p. 22),
 * an estimate of the dominant |λ| of ∂f/∂u. Public so that multistep
 * plugins can start with a Runge–Kutta method. A float64 state of at most
 * 64 elements in host memory on one process is stepped in plain loops
 * instead of backend calls (same arithmetic, same results; the backend's
 * per-call costs would exceed the flops).
 */
NDE_API nde_status nde_rk_step(const nde_rk_tableau *tableau, const nde_ode_rhs *f,
                               nde_ode_step *step);

/**
 * Dense output of the last Runge–Kutta step at t + θ·dt (θ ∈ [0, 1]) into
 * @p out: the tableau's continuous extension, or the cubic Hermite
 * interpolant (needs step->f1_valid) when it has none.
 */
NDE_API nde_status nde_rk_dense(const nde_rk_tableau *tableau, const nde_ode_step *step,
                                double theta, nde_array *out);

/** Cubic Hermite interpolation over a step from (u0, k[0]) to (u1, f1) at θ ∈ [0, 1]. */
NDE_API nde_status nde_hermite_dense(const nde_ode_step *step, double theta, nde_array *out);

/**
 * An ODE solver plugin (kind "ode_solver").
 *
 * A Runge–Kutta plugin sets @p tableau and leaves the function slots NULL.
 * Any other method sets tableau = NULL and provides at least @p step.
 * Fields are only ever appended (a future `step_reverse`, the adjoint of one
 * step, goes at the end), see NDE_VTABLE_HAS().
 *
 * @var tableau      explicit RK description, or NULL for a custom method
 * @var order        order p of the method (the controller's gains use it)
 * @var error_order  order of the error estimate, 0 when there is none (fixed step only)
 * @var stages       number of k arrays the integrator must provide (≥ 1)
 * @var create       optional: per-solve state from validated options and u0 (shape, dtype)
 * @var destroy      optional: free the state
 * @var step         one step (see ::nde_ode_step); must set k[0..]-dependent outputs
 * @var step_done    optional: told whether the step just taken was accepted
 *                   (multistep methods push their history here); called before
 *                   the integrator reuses any array of the step
 * @var dense        optional: dense output over the last accepted step at θ;
 *                   NULL means cubic Hermite
 * @var restart      optional: forget the history (after a discontinuity)
 */
typedef struct nde_ode_solver_ops {
  nde_plugin_header header;
  const nde_rk_tableau *tableau;
  int order;
  int error_order;
  int stages;
  nde_status (*create)(const nde_options *options, const nde_array *u0, void **state);
  void (*destroy)(void *state);
  nde_status (*step)(void *state, const nde_ode_rhs *f, nde_ode_step *step);
  void (*step_done)(void *state, const nde_ode_step *step, int accepted);
  nde_status (*dense)(void *state, const nde_ode_step *step, double theta, nde_array *out);
  void (*restart)(void *state);
} nde_ode_solver_ops;

/**
 * Define a Runge–Kutta ode_solver plugin in one statement: its tableau and
 * the vtable that steps with it, with the stage count and the orders
 * written once for both:
 *
 *     NDE_RK_PLUGIN_DEFINE(ralston3_c, 3, 3, 2, .c = c, .a = a, .b = b, .btilde = btilde);
 *
 * @p stages, @p order and @p embedded_order are the tableau's `stages`,
 * `order` and `embedded_order` and the vtable's `stages`, `order` and
 * `error_order`; the further arguments are the tableau's other fields as
 * designated initializers (fsal, c, a, b, btilde, interp_degree, interp,
 * stability_size; what is left out is 0). @p name is a bare word; the entry
 * point is `nde_plugin_ode_solver_<name>` (NDE_PLUGIN_DEFINE()).
 */
#define NDE_RK_PLUGIN_DEFINE(name, stages_, order_, embedded_order_, ...)          \
  static const nde_rk_tableau nde_rk_plugin_tableau_##name = {                    \
      .stages = (stages_), .order = (order_), .embedded_order = (embedded_order_), \
      __VA_ARGS__};                                                                \
  NDE_PLUGIN_DEFINE(ode_solver, name, .tableau = &nde_rk_plugin_tableau_##name,    \
                    .order = (order_), .error_order = (embedded_order_),           \
                    .stages = (stages_))


/** Called after every accepted step with the step's data (k holds its stages). */
typedef nde_status (*nde_ode_step_hook)(void *user, const nde_ode_step *step, double eest);

/**
 * Solve options. Every field has a default (nde_ode_options_default()) and
 * the same-named JSON option of every ode_solver manifest.
 *
 * @var abstol, reltol  tolerances of the error norm (defaults 1e-6, 1e-3)
 * @var dt              initial (adaptive) or fixed step magnitude; 0 = automatic
 *                      (Hairer's heuristic; fixed step requires dt > 0)
 * @var adaptive        1: adapt dt with the PI controller (needs an error estimate)
 * @var dtmin           smallest |dt| before NDE_EDTMIN; 0 = automatic 1e-14·max(1, |t|)
 * @var dtmax           largest |dt|; 0 = |t1 − t0|
 * @var maxiters        largest number of steps (accepted + rejected), default 100000
 * @var steady_state    1: stop when ‖f(t, u)‖₂ ≤ abstol + reltol·‖u‖₂ after a step
 * @var save_everystep  with no saveat points: 1 saves every accepted step, 0 only t0, t1
 * @var record_steps    1: keep per-step statistics (t, dt, EEst, eigen_est)
 * @var stiffness_estimate 1: compute the per-step stiffness estimate (methods that
 *                      have one); 0 (default): eigen_est is NaN
 * @var controller      PI controller (gains from the method order unless given)
 * @var on_step, user   optional hook after every accepted step
 * @var replay_dt, n_replay  optional frozen step sequence (see the fields)
 * @var norm_size       optional seminorm: the error norm over the first norm_size elements
 */
typedef struct nde_ode_options {
  double abstol, reltol, dt, dtmin, dtmax;
  int adaptive;
  long maxiters;
  int steady_state;
  int save_everystep;
  int record_steps;
  nde_pi_controller controller;
  nde_ode_step_hook on_step;
  void *user;
  /* appended */
  const double *replay_dt; /**< non-NULL: take exactly these n_replay signed step sizes
                                (the last is clamped to end at t1), accepting each without
                                the controller: a frozen step sequence (finite-difference
                                checks); the error estimates are still computed */
  size_t n_replay;         /**< number of entries of replay_dt */
  size_t norm_size;        /**< 0: the error norm covers the whole state; k > 0: only its
                                first k elements (a seminorm: the rest are integrated but
                                never shorten a step). Not a JSON option: the continuous
                                adjoints set it to leave the parameter adjoint out
                                (nde_adjoint_config::norm) */
  struct nde_ode_workspace *workspace; /**< optional: a pool of memory the solve takes its
                                            state, stage and scratch arrays from and gives
                                            the work arrays back to (nde_ode_workspace_create;
                                            the solution's with nde_ode_solution_recycle), so
                                            repeated solves allocate and zero no state-sized
                                            memory; solves of different state sizes share
                                            it (each takes the smallest buffers that fit,
                                            the pool grows to the largest); NULL: each solve
                                            allocates its own */
  int stiffness_estimate;  /**< 1: every step computes Shampine's stiffness estimate
                                (nde_ode_step::eigen_est, in the step records and the
                                on_step hook) when the method has one; 0 (default): it is
                                NaN, and a step makes two passes over the state fewer. Not
                                a JSON option: the neural_ode layer sets it when a
                                regularizer reads the estimate (NDE_REG_NEEDS_STIFFNESS),
                                `nde solve --step-records` and `nde check` when they show
                                or test it */
} nde_ode_options;

/** Arrays nde_ode_solve() reuses between solves (see nde_ode_options::workspace). */
typedef struct nde_ode_workspace nde_ode_workspace;

/** An empty workspace (it takes arrays after the first solve that uses it). */
NDE_API nde_status nde_ode_workspace_create(nde_ode_workspace **out);

/** Free a workspace and the arrays it holds; NULL is a no-op; *ws becomes NULL. */
NDE_API void nde_ode_workspace_destroy(nde_ode_workspace **ws);

/** Defaults for a method of order @p order. */
NDE_API void nde_ode_options_default(int order, nde_ode_options *opt);

/**
 * Defaults, then every key of @p options that names a field above
 * (abstol, reltol, dt, adaptive, dtmin, dtmax, maxiters, steady_state,
 * save_everystep, record_steps, and the controller's beta1, beta2, gamma,
 * qmin, qmax, qsteady_min, qsteady_max, qoldinit, controller). NDE_EINVAL for values out
 * of range (messages name the option).
 */
NDE_API nde_status nde_ode_options_parse(const nde_options *options, int order,
                                         nde_ode_options *opt);

/** Statistics of one accepted step: the solver-neutral record (nde/integrator.h). */
typedef nde_step_record nde_ode_step_stats;

/** Counters of a solve: the solver-neutral ::nde_solve_stats (nde/integrator.h). */
typedef nde_solve_stats nde_ode_stats;

/**
 * The result of nde_ode_solve(). Release with nde_ode_solution_clear().
 *
 * @var nsave    number of saved points
 * @var t        their times (host)
 * @var u        saved states, shape (u0.size, nsave): column j is the state at t[j]
 * @var u_final  the state where the solve stopped (t1, or the steady state)
 * @var t_final  where the solve stopped
 */
typedef struct nde_ode_solution {
  size_t nsave;
  double *t;
  nde_array u;
  nde_array u_final;
  double t_final;
  nde_ode_stats stats;
  /* appended */
  size_t u_bytes, u_final_bytes; /**< the memory behind u and u_final (at least their
                                      sizes: a workspace's buffers may be larger), which
                                      nde_ode_solution_recycle() keeps whole */
} nde_ode_solution;

/** Free a solution's memory (safe on a zeroed one). */
NDE_API void nde_ode_solution_clear(nde_ode_solution *sol);

/**
 * nde_ode_solution_clear(), except that the solution's state arrays
 * (u_final and the saved states u, as nde_ode_solve() left them) go to
 * @p ws instead of being freed: later solves with this workspace
 * (nde_ode_options::workspace) take them as any state-sized array, so a
 * program that solves repeatedly allocates no state-sized memory at all.
 * @p ws NULL (or in use by a solve on another thread): a plain clear.
 */
NDE_API void nde_ode_solution_recycle(nde_ode_solution *sol, nde_ode_workspace *ws);

/** An opened solver: the plugin's vtable plus its validated options. */
typedef struct nde_ode_solver {
  const nde_ode_solver_ops *ops;
  nde_options *options; /**< validated, defaults filled (owned) */
  nde_ode_options solve; /**< parsed from options */
} nde_ode_solver;

/**
 * Open an ode_solver plugin by name from @p registry (NULL: default),
 * validating @p given options against its manifest (@p where prefixes
 * messages, e.g. "solver"). NDE_ENOTFOUND with a suggestion for unknown names.
 */
NDE_API nde_status nde_ode_solver_open(struct nde_registry *registry, const char *name,
                                       const nde_options *given, const char *where,
                                       nde_ode_solver **out);

/** Open a vtable in hand (tests, embedding); @p options is parsed with nde_ode_options_parse. */
NDE_API nde_status nde_ode_solver_open_ops(const nde_ode_solver_ops *ops,
                                           const nde_options *options, nde_ode_solver **out);

/** Close a solver and NULL the pointer. */
NDE_API void nde_ode_solver_destroy(nde_ode_solver **solver);

/**
 * Integrate du/dt = f(t, u) from (t0, u0) to t1 with @p solver's method.
 *
 * @param opt     solve options; NULL uses solver->solve
 * @param saveat  times to save at, monotone in the direction of integration,
 *                within [t0, t1] (dense output between steps); NULL/0 points:
 *                save per opt->save_everystep
 * @param sol     out; zeroed first. On failure it keeps the statistics and
 *                the points saved so far, and the status and message say why:
 *                NDE_ENONFINITE (NaN/Inf state), NDE_EDTMIN (step below dtmin),
 *                NDE_EMAXITERS (maxiters steps), or the right-hand side's error.
 */
NDE_API nde_status nde_ode_solve(const nde_ode_solver *solver, const nde_ode_rhs *f,
                                 const nde_ode_options *opt, double t0, double t1,
                                 const nde_array *u0, const double *saveat, size_t nsave,
                                 nde_ode_solution *sol);

/* ------------------------------------------------------------------------ */
/* Reverse mode through one step (discrete sensitivities)                    */
/* ------------------------------------------------------------------------ */

/**
 * The adjoint of one explicit Runge–Kutta step (nde_rk_step()) with t and
 * dt frozen: given the cotangent of u1, of the stage derivatives k_i (from
 * dense output, say) and of the step's error and stiffness estimates, it
 * returns the cotangent of u0 and accumulates the parameter gradient. The
 * stage states are recomputed from u0 and k (one lincomb each); each stage
 * costs one f->vjp (required). Used by the `direct` sensitivity and by the
 * extra step of local regularization.
 *
 * @var t, dt      the step (as the forward step had them)
 * @var u0, u1     its start and end states
 * @var k          its stages k[0..s−1] (as nde_rk_step() left them)
 * @var du1        in: cotangent of u1 (read only)
 * @var dk         s work arrays: in, extra cotangents of k_i (zero when none);
 *                 destroyed
 * @var w_eest     cotangent of EEst = wrms(dt·Σ btilde_i k_i; u0, u1; abstol,
 *                 reltol) (0: none; needs btilde and the backend's wrms_norm_vjp)
 * @var abstol, reltol  the tolerances of that norm
 * @var w_eigen    cotangent of the stiffness estimate (0: none; needs stability_size > 0)
 * @var du0        out: cotangent of u0 (overwritten)
 * @var dparams    passed to f->vjp (accumulated; NULL: not wanted)
 * @var scratch    4 work arrays shaped like u0
 * @var nvjp       out: number of f->vjp calls made
 */
typedef struct nde_rk_reverse {
  double t, dt;
  const nde_array *u0, *u1;
  const nde_array *k;
  const nde_array *du1;
  nde_array *dk;
  double w_eest, abstol, reltol;
  double w_eigen;
  nde_array *du0;
  void *dparams;
  nde_array *scratch;
  long nvjp;
} nde_rk_reverse;

/** Reverse mode through one explicit RK step (see ::nde_rk_reverse). */
NDE_API nde_status nde_rk_step_reverse(const nde_rk_tableau *tableau, const nde_ode_rhs *f,
                                       nde_rk_reverse *r);

/**
 * Weights of a tableau's dense output at θ: u(t + θdt) = u0 + dt·Σ w_i k_i
 * for a continuous extension (returns 1), or 0 when the tableau has none
 * (cubic Hermite). @p w has room for the tableau's stages.
 */
NDE_API int nde_rk_dense_weights(const nde_rk_tableau *tableau, double theta, double *w);

#ifdef __cplusplus
}
#endif

#endif /* NDE_ODE_H */
