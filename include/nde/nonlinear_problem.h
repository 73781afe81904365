/**
 * @file nde/nonlinear_problem.h
 * @brief The nonlinear test-problem library, selectable by name, for tests,
 *        `nde check`, `nde solve` and benchmarks (application API; the
 *        nonlinear solver ABI is nde/nonlinear.h).
 */
#ifndef NDE_NONLINEAR_PROBLEM_H
#define NDE_NONLINEAR_PROBLEM_H

#include <stddef.h>

#include <nde/array.h>
#include <nde/backend.h>
#include <nde/nonlinear.h>
#include <nde/status.h>

#ifdef NDE_PLUGIN_ABI_ONLY
#error "nde/nonlinear_problem.h is application API, not plugin ABI (docs/headers.md)"
#endif

#ifdef __cplusplus
extern "C" {
#endif

/**
 * A test problem on host doubles: residual(x, out) with its standard size
 * and starting point. Problems 1–23 are the 23-problem set of Burkardt's
 * test_nonlin as packaged in SciML's NonlinearProblemLibrary.jl, in that
 * order; number 24 is `bratu2d`, a large smooth problem (n = 10⁴).
 */
typedef struct nde_nl_test_problem {
  int number;           /**< 1-based number in the set */
  const char *name;     /**< short identifier ("rosenbrock", "powell_singular", ...) */
  const char *title;    /**< descriptive title */
  size_t n;             /**< standard size */
  /** out = F(x) for x of the problem's n. */
  void (*residual)(size_t n, const double *x, double *out);
  /** Fill x (n doubles) with the standard starting point. */
  void (*start)(size_t n, double *x);
  /** Known solution or NULL (fills n doubles, returns 1; 0 when none is known). */
  int (*solution)(size_t n, double *x);
} nde_nl_test_problem;

/** Number of problems in the library (23 standard + the large one). */
NDE_API int nde_nl_test_problem_count(void);

/** Problem with 1-based @p number, or NULL. */
NDE_API const nde_nl_test_problem *nde_nl_test_problem_get(int number);

/**
 * Look up by name: a problem's own name, its number as text ("7"), or the
 * set's name "test23" together with @p number (1–23). NDE_ENOTFOUND with a
 * did-you-mean otherwise.
 */
NDE_API nde_status nde_nl_test_problem_find(const char *name, int number,
                                            const nde_nl_test_problem **out);

/**
 * Wrap a library problem as an ::nde_nonlinear_problem on @p backend with
 * @p dtype and size @p n (0: the standard size): the residual moves u to the
 * host, evaluates in double precision and moves F back. Release with
 * nde_nl_test_problem_unbind().
 */
NDE_API nde_status nde_nl_test_problem_bind(const nde_nl_test_problem *tp, nde_backend *backend,
                                            nde_dtype dtype, size_t n,
                                            nde_nonlinear_problem *out);

/** Free what nde_nl_test_problem_bind() allocated and zero the problem. */
NDE_API void nde_nl_test_problem_unbind(nde_nonlinear_problem *problem);

#ifdef __cplusplus
}
#endif
#endif /* NDE_NONLINEAR_PROBLEM_H */
