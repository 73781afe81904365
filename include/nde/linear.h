/**
 * @file nde/linear.h
 * @brief Linear solvers (kind "linear_solver"): A x = b, matrix-free or dense.
 *
 * A is given as a matrix–vector product over backend arrays (what a DEQ's
 * implicit backward pass has: x ↦ x − (∂f/∂z)ᵀx through a VJP), optionally
 * with a preconditioner z = M⁻¹r, or as a dense column-major matrix in host
 * memory for small systems. Iterative solvers (`gmres`) use the product;
 * direct solvers (`dense_lu`) use the dense matrix and, when none is given,
 * assemble it from n products.
 *
 * Iterative solvers declare the usual options in their manifests: "abstol",
 * "reltol" (stop when ‖b − A x‖₂ ≤ max(abstol, reltol·‖b‖₂)) and "maxiters";
 * direct solvers have none of them.
 */
#ifndef NDE_LINEAR_H
#define NDE_LINEAR_H

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

/**
 * A linear system A x = b of n unknowns. Vectors are n elements of dtype
 * in backend memory. At least one of `matvec` and `dense` is required.
 */
typedef struct nde_linear_problem {
  nde_backend *backend; /**< owner of every vector */
  nde_dtype dtype;      /**< element type */
  size_t n;             /**< number of unknowns */
  /** out = A·x. */
  nde_status (*matvec)(void *user, const void *x, void *out);
  /** out = M⁻¹·r, a right preconditioner (optional; iterative solvers only). */
  nde_status (*precond)(void *user, const void *r, void *out);
  /** A in host memory, column-major n×n (optional). */
  const double *dense;
  void *user; /**< passed to the callbacks */
} nde_linear_problem;

/** Statistics of one linear solve. */
typedef struct nde_linear_result {
  nde_status status;   /**< NDE_OK, or NDE_EMAXITERS with the last iterate in x */
  int64_t iterations;  /**< Krylov iterations (direct solvers: 0) */
  int64_t nmatvec;     /**< products with A */
  int64_t nprecond;    /**< preconditioner applications */
  double residual;     /**< ‖b − A x‖₂ at the returned x (estimate for GMRES) */
} nde_linear_result;

/**
 * Linear-solver vtable (kind "linear_solver"). Required: `solve`.
 * `solve` improves x (initial guess in, solution out) and fills @p result
 * (never NULL); it returns NDE_OK or NDE_EMAXITERS (a usable x), or a hard
 * error (a failing callback, a singular dense matrix: NDE_ENOCONV).
 */
typedef struct nde_linear_solver_ops {
  nde_plugin_header header;
  nde_status (*solve)(const nde_options *options, const nde_linear_problem *problem,
                      const void *b, void *x, nde_linear_result *result);
} nde_linear_solver_ops;

/** A configured linear solver: plugin plus validated options. */
typedef struct nde_linear_solver nde_linear_solver;

/**
 * Configure a linear solver from @p registry (NULL: default) by name with a
 * JSON object text of options (NULL: defaults); @p where prefixes messages.
 */
NDE_API nde_status nde_linear_solver_open(struct nde_registry *registry, const char *name,
                                          const char *options_json, const char *where,
                                          nde_linear_solver **out);

/** Release a linear solver; NULLs the pointer. */
NDE_API void nde_linear_solver_destroy(nde_linear_solver **solver);

/** The solver's plugin name. */
NDE_API const char *nde_linear_solver_name(const nde_linear_solver *solver);

/**
 * Solve A x = b; x holds the initial guess on entry. @p result may be NULL.
 * Returns the solver's status (also in result->status).
 */
NDE_API nde_status nde_linear_solve(nde_linear_solver *solver, const nde_linear_problem *problem,
                                    const void *b, void *x, nde_linear_result *result);

/**
 * Dense LU solve on the host (LAPACK dgesv): overwrite @p b (n × nrhs,
 * column-major) with A⁻¹b; @p a (n×n) is overwritten by its factors.
 * NDE_ENOCONV when A is exactly singular.
 */
NDE_API nde_status nde_dense_lu_solve(size_t n, size_t nrhs, double *a, double *b);

/**
 * Dense least squares on the host (LAPACK dgelsd, minimum-norm solution):
 * b (max(m, n) rows, 1 column) gets argmin ‖A x − b‖₂ in its first n rows;
 * @p a (m×n) is destroyed. Singular values below rcond·σ_max count as zero.
 */
NDE_API nde_status nde_dense_least_squares(size_t m, size_t n, double *a, double *b,
                                           double rcond);

#ifdef __cplusplus
}
#endif
#endif /* NDE_LINEAR_H */
