/**
 * @file nde/nonlinear.h
 * @brief Nonlinear solvers (kind "nonlinear_solver"): F(u) = 0 and u = f(u), matrix-free.
 *
 * A problem is a residual callback over backend arrays of one dtype: u and
 * F(u) are @c n elements in the backend's memory. A DEQ hands a whole batch
 * (features × batch, column-major) as one system of n = features·batch
 * unknowns and says how many columns it has, so solvers that keep per-sample
 * quantities (L-Broyden's denominators) can.
 *
 * The caller gives what it has: the residual always; Jacobian–vector and
 * vector–Jacobian products when it can compute them (a layer's jvp/vjp); a
 * dense Jacobian only for small systems. Solvers ask the core through the
 * `nde_nl_*` functions below, which fall back to finite differences where a
 * product or the dense Jacobian is missing, count every evaluation, keep the
 * residual-norm history and remember the best iterate. Those functions are
 * the shared machinery of every solver plugin: norms and termination tests,
 * the backtracking line search, the dense finite-difference Jacobian and
 * scratch memory all live here, once.
 *
 * Non-convergence is never an abort: nde_nonlinear_solve() returns
 * NDE_EMAXITERS or NDE_ENOCONV (or NDE_ENONFINITE) with the best iterate in
 * @p u and its statistics filled in, so a DEQ can train on an unconverged
 * forward pass as the thesis's code does.
 */
#ifndef NDE_NONLINEAR_H
#define NDE_NONLINEAR_H

#include <stddef.h>
#include <stdint.h>

#include <nde/array.h>
#include <nde/backend.h>
#include <nde/options.h>
#include <nde/plugin.h>
#include <nde/status.h>

#ifdef __cplusplus
extern "C" {
#endif

struct nde_registry;

/** Which equation the problem's callback describes. */
typedef enum nde_nl_form {
  NDE_NL_ROOT = 0,       /**< `residual` computes F(u); solve F(u) = 0 */
  NDE_NL_FIXED_POINT = 1 /**< `residual` computes f(u); solve u = f(u), i.e. F(u) = f(u) − u */
} nde_nl_form;

/**
 * A nonlinear system. Callbacks return NDE_OK or a status with a message
 * (a failing callback stops the solve with that status). All vector
 * arguments are @c n elements of @c dtype in @c backend memory, except the
 * dense Jacobian, which is host doubles. In the fixed-point form the
 * products are those of f (the core subtracts the identity).
 */
typedef struct nde_nonlinear_problem {
  nde_backend *backend; /**< owner of every vector */
  nde_dtype dtype;      /**< element type of every vector */
  size_t n;             /**< number of unknowns (features × batch for a batch) */
  size_t batch;         /**< columns of u when it is a batch (0 or 1: one system) */
  nde_nl_form form;     /**< root or fixed-point form */
  /** out = F(u) (or f(u) in the fixed-point form). Required. */
  nde_status (*residual)(void *user, const void *u, void *out);
  /** out = J(u)·v, J = ∂F/∂u (or ∂f/∂u). Optional: else forward differences. */
  nde_status (*jvp)(void *user, const void *u, const void *v, void *out);
  /** out = J(u)ᵀ·w. Optional: solvers that need it refuse problems without it. */
  nde_status (*vjp)(void *user, const void *u, const void *w, void *out);
  /**
   * Dense Jacobian into host memory, column-major n×n (J[i + j·n] = ∂F_i/∂u_j,
   * or ∂f_i/∂u_j). Optional: else forward differences, n residual calls.
   */
  nde_status (*jacobian)(void *user, const void *u, double *jac);
  void *user; /**< passed to every callback */
} nde_nonlinear_problem;

/** When the iteration stops successfully (‖·‖ is the settings' norm). */
typedef enum nde_nl_termination {
  NDE_NL_TERM_ABS = 0,     /**< ‖F(u)‖ ≤ abstol */
  NDE_NL_TERM_REL = 1,     /**< ‖F(u)‖ ≤ reltol·‖u + F(u)‖ (= reltol·‖f(u)‖ for a fixed point) */
  NDE_NL_TERM_ABS_REL = 2  /**< either of the two */
} nde_nl_termination;

/** Norm used by the termination test and the history. */
typedef enum nde_nl_norm {
  NDE_NL_NORM_INF = 0, /**< max |x_i| */
  NDE_NL_NORM_L2 = 1,  /**< Euclidean norm over all n elements (the whole batch) */
  NDE_NL_NORM_RMS = 2  /**< ‖x‖₂ / √n */
} nde_nl_norm_kind;

/**
 * Options every nonlinear solver shares; the core reads them from the
 * solver's JSON object before the plugin's own options are validated.
 * JSON keys: "abstol", "reltol", "maxiters", "termination" ("abs", "rel",
 * "abs_rel"), "norm" ("inf", "l2", "rms"), "keep_best" (bool), "history" (bool).
 */
typedef struct nde_nonlinear_settings {
  double abstol;                  /**< absolute tolerance (default 1e-8) */
  double reltol;                  /**< relative tolerance (default 1e-8) */
  int64_t maxiters;               /**< iteration limit of one solve (default 1000) */
  nde_nl_termination termination; /**< default NDE_NL_TERM_ABS */
  nde_nl_norm_kind norm;               /**< default NDE_NL_NORM_INF */
  int keep_best;                  /**< on failure return the best iterate (default 1) */
  int history;                    /**< record the residual norm of every iteration (default 1) */
} nde_nonlinear_settings;

/** The defaults listed in ::nde_nonlinear_settings. */
NDE_API nde_nonlinear_settings nde_nonlinear_settings_default(void);

/**
 * Statistics and outcome of one solve. `history` (host, malloc'd) holds the
 * termination norm after each iteration (entry 0: at the initial guess);
 * free it with nde_nonlinear_result_clear().
 */
typedef struct nde_nonlinear_result {
  nde_status status;  /**< NDE_OK when converged; NDE_EMAXITERS / NDE_ENOCONV / NDE_ENONFINITE otherwise */
  int64_t iterations; /**< iterations of every method tried, summed */
  int64_t nfe;        /**< residual evaluations (including finite-difference ones) */
  int64_t njvp;       /**< Jacobian–vector products requested (callback or finite difference) */
  int64_t nvjp;       /**< vector–Jacobian products */
  int64_t njac;       /**< dense Jacobians formed */
  int64_t nlinear;    /**< inner linear-solver iterations (Newton–Krylov's GMRES) */
  double residual;    /**< termination norm ‖F(u)‖ at the returned u */
  char method[160];   /**< the solver that produced u (a polyalgorithm: its last stage, "name {options}") */
  double *history;    /**< termination norms, one per iteration */
  size_t history_len; /**< entries in history */
  size_t history_cap; /**< allocated entries */
} nde_nonlinear_result;

/** Free the history and zero the result. */
NDE_API void nde_nonlinear_result_clear(nde_nonlinear_result *result);

/** A running solve, owned by the core; solver plugins work through it. */
typedef struct nde_nl_ctx nde_nl_ctx;

/**
 * Nonlinear-solver vtable (kind "nonlinear_solver"). Required: `solve`.
 *
 * `solve` improves @p u in place (n elements on the problem's backend) until
 * nde_nl_step_done() reports convergence, and returns NDE_OK then. Otherwise
 * it returns NDE_EMAXITERS (the limit, as reported by nde_nl_step_done()),
 * NDE_ENOCONV (stalled or diverged) or NDE_ENONFINITE; @p u may then be
 * anything, the core replaces it by the best iterate. @p options are the
 * plugin's validated manifest options (the shared settings removed).
 */
typedef struct nde_nonlinear_solver_ops {
  nde_plugin_header header;
  nde_status (*solve)(const nde_options *options, nde_nl_ctx *ctx, void *u);
} nde_nonlinear_solver_ops;

/** A configured solver: a plugin plus its options and the shared settings. */
typedef struct nde_nonlinear_solver nde_nonlinear_solver;

/**
 * Configure a solver from @p registry (NULL: the default registry) by
 * plugin name and a JSON object text of options (NULL: defaults), which may
 * mix the shared settings with the plugin's own options. @p where prefixes
 * messages (a JSON path; may be NULL). NDE_ENOTFOUND with a did-you-mean
 * for an unknown name, NDE_EINVAL for a bad option.
 */
NDE_API nde_status nde_nonlinear_solver_open(struct nde_registry *registry, const char *name,
                                             const char *options_json, const char *where,
                                             nde_nonlinear_solver **out);

/** Release a solver; NULLs the pointer. */
NDE_API void nde_nonlinear_solver_destroy(nde_nonlinear_solver **solver);

/**
 * Keep the work memory (Krylov bases, Broyden updates, scratch vectors)
 * between solves instead of allocating it each time: for a layer that solves
 * many same-sized systems (a DEQ in training). The memory belongs to the
 * backend of the last solve: call nde_nonlinear_solver_drop_workspace() (or
 * close the solver) before closing that backend. Off by default. A solver is
 * never to be used by two threads at once, with or without reuse.
 */
NDE_API void nde_nonlinear_solver_reuse_workspace(nde_nonlinear_solver *solver, int reuse);

/** Release the kept work memory now (it is allocated again by the next solve). */
NDE_API void nde_nonlinear_solver_drop_workspace(nde_nonlinear_solver *solver);

/** The solver's shared settings (borrowed; may be modified before a solve). */
NDE_API nde_nonlinear_settings *nde_nonlinear_solver_settings(nde_nonlinear_solver *solver);

/** The solver's plugin name. */
NDE_API const char *nde_nonlinear_solver_name(const nde_nonlinear_solver *solver);

/**
 * Solve @p problem from the initial guess in @p u (overwritten by the
 * solution, or by the best iterate on failure). The return value equals
 * result->status; @p result may be NULL. Bad arguments are NDE_EINVAL and
 * leave u untouched; a failing callback's status is returned as is.
 */
NDE_API nde_status nde_nonlinear_solve(nde_nonlinear_solver *solver,
                                       const nde_nonlinear_problem *problem, void *u,
                                       nde_nonlinear_result *result);

/* ------------------------------------------------------------------------ */
/* Shared machinery for solver plugins (call only from inside `solve`).      */
/* ------------------------------------------------------------------------ */

/** The problem being solved. */
NDE_API const nde_nonlinear_problem *nde_nl_problem(const nde_nl_ctx *ctx);

/** The settings of the current solve. */
NDE_API const nde_nonlinear_settings *nde_nl_settings(const nde_nl_ctx *ctx);

/** The statistics so far (counts may be read; the core updates them). */
NDE_API nde_nonlinear_result *nde_nl_result(nde_nl_ctx *ctx);

/** The registry the solver came from (NULL: the default one); stages and inner linear solvers use it. */
NDE_API struct nde_registry *nde_nl_registry(const nde_nl_ctx *ctx);

/** The problem's backend (every vector operation goes through its vtable). */
NDE_API nde_backend *nde_nl_backend(const nde_nl_ctx *ctx);
/** The problem's dtype. */
NDE_API nde_dtype nde_nl_dtype(const nde_nl_ctx *ctx);
/** The number of unknowns n. */
NDE_API size_t nde_nl_n(const nde_nl_ctx *ctx);
/** The number of batch columns (≥ 1; n is a multiple of it). */
NDE_API size_t nde_nl_batch(const nde_nl_ctx *ctx);

/**
 * Allocate @p count work vectors of n elements (zeroed) on the backend; they
 * are released when the solve ends (kept for the next solve when the solver
 * reuses its workspace). NDE_ENOMEM on failure.
 */
NDE_API nde_status nde_nl_vectors(nde_nl_ctx *ctx, int count, void **vectors);

/**
 * Allocate @p count elements of the problem's dtype on the backend, for
 * buffers that are not n long (coefficients, stacked bases); their contents
 * are unspecified (not zeroed: the memory may come from an earlier solve);
 * released when the solve ends.
 */
NDE_API nde_status nde_nl_buffer(nde_nl_ctx *ctx, size_t count, void **out);

/** Scratch host memory of @p bytes (zeroed), freed when the solve ends. */
NDE_API nde_status nde_nl_host(nde_nl_ctx *ctx, size_t bytes, void **out);

/** The settings' norm of a vector of n elements. */
NDE_API double nde_nl_norm(nde_nl_ctx *ctx, const void *x);

/**
 * out = F(u) (the core forms f(u) − u in the fixed-point form), counted in
 * nfe; *norm (may be NULL) is the settings' norm of F(u), +∞ when F(u) has a
 * non-finite entry. The core keeps u as the best iterate when it improves
 * on every earlier evaluation. Returns the callback's status.
 */
NDE_API nde_status nde_nl_residual(nde_nl_ctx *ctx, const void *u, void *out, double *norm);

/** 1 when (u, F, ‖F‖ = fnorm) passes the termination test, else 0. */
NDE_API int nde_nl_converged(nde_nl_ctx *ctx, const void *u, const void *F, double fnorm);

/**
 * Record one completed iteration at (u, F, fnorm): counts it, appends fnorm
 * to the history and tests termination. *done = 1 when converged. Returns
 * NDE_EMAXITERS (with a message) when the iteration limit is reached without
 * convergence, NDE_ENONFINITE when fnorm is not finite, else NDE_OK.
 * Call nde_nl_start() once at the initial guess first.
 */
NDE_API nde_status nde_nl_step_done(nde_nl_ctx *ctx, const void *u, const void *F, double fnorm,
                                    int *done);

/**
 * Record the initial guess (history entry 0); *done = 1 when it already
 * converges. NDE_EMAXITERS when it does not and maxiters is 0 (the solve only
 * evaluates the start), NDE_ENONFINITE when fnorm is not finite.
 */
NDE_API nde_status nde_nl_start(nde_nl_ctx *ctx, const void *u, const void *F, double fnorm,
                                int *done);

/**
 * out = J(u)·v. Uses the problem's jvp when present, otherwise a forward
 * difference (F(u + h·v) − F(u))/h with h = √ε·max(1, ‖u‖)/‖v‖ (one residual
 * call), reusing @p Fu = F(u) (required for the difference).
 */
NDE_API nde_status nde_nl_jvp(nde_nl_ctx *ctx, const void *u, const void *Fu, const void *v,
                              void *out);

/** out = J(u)ᵀ·w; NDE_EUNSUPPORTED when the problem has no vjp. */
NDE_API nde_status nde_nl_vjp(nde_nl_ctx *ctx, const void *u, const void *w, void *out);

/** 1 when the problem provides vjp. */
NDE_API int nde_nl_has_vjp(const nde_nl_ctx *ctx);

/**
 * The dense Jacobian of F at u into host memory (column-major n×n): the
 * problem's callback, else forward differences column by column with
 * h_j = √ε·max(|u_j|, 1) (n residual calls), reusing @p Fu = F(u).
 */
NDE_API nde_status nde_nl_jacobian(nde_nl_ctx *ctx, const void *u, const void *Fu, double *jac);

/** What a line search achieved. */
typedef struct nde_nl_line_search_out {
  double lambda; /**< the step length taken */
  double fnorm;  /**< termination norm of F at the new point */
  int accepted;  /**< 1 when the sufficient-decrease condition held */
} nde_nl_line_search_out;

/**
 * Backtracking line search on the merit φ(λ) = ½‖F(u + λ·d)‖₂² (Dennis &
 * Schnabel 1983, Algorithm A6.3.1: Armijo condition with α = 1e-4, first a
 * quadratic then cubic interpolation, each new λ kept in [0.1λ, 0.5λ]).
 * @p slope is φ'(0) = F(u)ᵀJ(u)d; pass NAN to have it computed with one
 * jvp; for an exact Newton direction it is −‖F‖₂². Writes the new point to
 * @p u_new and F(u_new) to @p F_new. When no λ ≥ @p lambda_min satisfies the
 * condition, the last trial point is returned with accepted = 0.
 */
NDE_API nde_status nde_nl_line_search(nde_nl_ctx *ctx, const void *u, const void *Fu,
                                      const void *d, double slope, double lambda_min,
                                      void *u_new, void *F_new, nde_nl_line_search_out *out);

/**
 * Run another nonlinear-solver plugin on the same problem from @p u (a
 * polyalgorithm's stage). @p options_json may mix shared settings (which
 * override the current ones for this stage) and that plugin's options.
 * Counts and history accumulate; the best iterate is shared. Returns the
 * stage's status; on success result->method names the stage's plugin.
 */
NDE_API nde_status nde_nl_run_stage(nde_nl_ctx *ctx, const char *name, const char *options_json,
                                    void *u);

#ifdef __cplusplus
}
#endif
#endif /* NDE_NONLINEAR_H */
