/**
 * @file nde/ode_problem.h
 * @brief A library of standard ODE test problems, selectable by name, for
 *        tests, demos (`nde solve`) and benchmarks.
 *
 * | name            | dim | parameters (JSON, defaults)                       | exact solution |
 * |-----------------|-----|---------------------------------------------------|----------------|
 * | linear          | n   | "A": n×n rows (default [[-0.5, 2], [-2, -0.5]])   | expm(A(t−t0))·u0 |
 * | exponential     | 1   | "lambda": 1.01                                    | u0·e^{λ(t−t0)} |
 * | lotka_volterra  | 2   | "a","b","c","d": 1.5, 1, 3, 1                     | none           |
 * | lorenz          | 3   | "sigma","rho","beta": 10, 28, 8/3                 | none           |
 * | van_der_pol     | 2   | "mu": 1 (non-stiff)                               | none           |
 * | pleiades        | 28  | none (7 bodies, masses 1..7, Hairer et al. I §II.10) | none        |
 * | arenstorf       | 4   | "mu": 0.012277471                                 | u0 at multiples of the period T |
 * | rigid_body      | 3   | "I1","I2","I3": −2, 1.25, −0.5                    | none           |
 *
 * States are column vectors of length dim; an array of shape (dim, B)
 * (or any shape with a multiple of dim elements) is B independent systems.
 * Default initial values and time spans are the standard ones
 * (DiffEqProblemLibrary / Hairer, Nørsett & Wanner I).
 */
#ifndef NDE_ODE_PROBLEM_H
#define NDE_ODE_PROBLEM_H

#ifdef NDE_PLUGIN_ABI_ONLY
#error "nde/ode_problem.h is application API, not plugin ABI (docs/headers.md)"
#endif

#include <stddef.h>

#include <nde/ode.h>
#include <nde/options.h>
#include <nde/status.h>

#ifdef __cplusplus
extern "C" {
#endif

/** An instantiated problem (name + parameters). */
typedef struct nde_ode_problem nde_ode_problem;

/** Number of problems in the library. */
NDE_API size_t nde_ode_problem_count(void);

/** Name of problem @p index (0 ≤ index < count), NULL past the end. */
NDE_API const char *nde_ode_problem_name_at(size_t index);

/**
 * Create problem @p name with @p params (an object of the parameters in the
 * table; NULL or missing keys take the defaults; unknown keys are NDE_EINVAL).
 * NDE_ENOTFOUND with a did-you-mean for an unknown name.
 */
NDE_API nde_status nde_ode_problem_create(const char *name, const nde_options *params,
                                          nde_ode_problem **out);

/** Free a problem and NULL the pointer. */
NDE_API void nde_ode_problem_destroy(nde_ode_problem **problem);

/** The problem's name. */
NDE_API const char *nde_ode_problem_name(const nde_ode_problem *problem);

/** State dimension of one system. */
NDE_API size_t nde_ode_problem_dim(const nde_ode_problem *problem);

/** Standard initial value (dim doubles) and time span. Either pointer may be NULL. */
NDE_API void nde_ode_problem_defaults(const nde_ode_problem *problem, double *u0,
                                      double tspan[2]);

/**
 * The right-hand side as an ::nde_ode_rhs over backend arrays (any dtype;
 * float64 CPU arrays are used in place, others go through host doubles).
 * The problem must outlive every use of the returned value.
 */
NDE_API nde_ode_rhs nde_ode_problem_rhs(nde_ode_problem *problem);

/** f(t, u) on host doubles for one system (benchmarks, references). */
NDE_API void nde_ode_problem_eval(const nde_ode_problem *problem, double t, const double *u,
                                  double *du);

/** 1 if the problem has an exact solution (possibly only at some times, see the table). */
NDE_API int nde_ode_problem_has_exact(const nde_ode_problem *problem);

/**
 * Exact solution at @p t of one system started from (t0, u0) into @p u
 * (dim doubles). NDE_EUNSUPPORTED when there is none at t (arenstorf away
 * from a multiple of its period).
 */
NDE_API nde_status nde_ode_problem_exact(const nde_ode_problem *problem, double t0,
                                         const double *u0, double t, double *u);

/**
 * Matrix exponential of the n×n row-major matrix @p a into @p out (may not
 * alias): scaling and squaring with the degree-13 Padé approximant
 * (Higham, SIAM J. Matrix Anal. Appl. 26(4), 2005), LAPACK for the solve.
 */
NDE_API nde_status nde_expm(size_t n, const double *a, double *out);

#ifdef __cplusplus
}
#endif

#endif /* NDE_ODE_PROBLEM_H */
