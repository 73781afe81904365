/**
 * @file nde/sde_problem.h
 * @brief Named SDE test problems (for `nde solve`, tests and benchmarks).
 *
 * | name       | dim | SDE (Itô, diagonal noise)                          | params (defaults)   |
 * |------------|-----|----------------------------------------------------|---------------------|
 * | gbm        | any | du = a·u dt + b·u dW (per component)               | a = 1.01, b = 0.87  |
 * | spiral_sde | 2   | du₁ = (−0.1u₁³ − 2u₂³)dt + 0.2u₁ dW₁,              | alpha = 0.1,        |
 * |            |     | du₂ = (2u₁³ − 0.1u₂³)dt + 0.2u₂ dW₂                | beta = 2, gamma = 0.2 |
 * | gbm_general| any | du = a·u dt + B₁u dW₁ + B₂u dW₂ (general noise,    | a = 1.01, b1 = 0.6, |
 * |            |     | m = 2 per column), B₁ = b1·I, B₂ = b2·diag((−1)^i) | b2 = 0.5            |
 *
 * gbm has the exact solution along the same path
 * u(t) = u(t0)·exp((a − b²/2)(t − t0) + b·(W(t) − W(t0))); its default u0 is
 * 1/2 on [0, 1] (DifferentialEquations.jl's linear SDE test problem).
 * gbm_general's B_k commute, so along the path
 * u(t) = exp((a − ½(B₁² + B₂²))(t − t0) + B₁ΔW₁ + B₂ΔW₂)·u(t0) (its exact
 * solution takes the 2 increments of the system's own W₁, W₂).
 * spiral_sde is the DiffEqFlux neural-SDE tutorial's data generator
 * (du/dt = ((u³)ᵀA)ᵀ, A = [−α β; −β −α]; u0 = (2, 0) on [0, 1]); the thesis
 * (§5.3.2.1) prints the rotation with the opposite sign, the tutorial code
 * (which made the thesis data) is followed here.
 *
 * States may hold K trajectories as a (dim, K) array (gbm: any shape).
 */
#ifndef NDE_SDE_PROBLEM_H
#define NDE_SDE_PROBLEM_H

#ifdef NDE_PLUGIN_ABI_ONLY
#error "nde/sde_problem.h is application API, not plugin ABI (docs/headers.md)"
#endif

#include <stddef.h>

#include <nde/options.h>
#include <nde/sde.h>
#include <nde/status.h>

#ifdef __cplusplus
extern "C" {
#endif

/** An instantiated problem (name + parameters + per-backend scratch). */
typedef struct nde_sde_problem nde_sde_problem;

/** Number of problems in the library. */
NDE_API size_t nde_sde_problem_count(void);

/** Name of problem @p index, NULL past the end. */
NDE_API const char *nde_sde_problem_name_at(size_t index);

/**
 * Create problem @p name with @p params (NULL or missing keys: defaults;
 * unknown keys: NDE_EINVAL). NDE_ENOTFOUND with a did-you-mean otherwise.
 */
NDE_API nde_status nde_sde_problem_create(const char *name, const nde_options *params,
                                          nde_sde_problem **out);

/** Free a problem and NULL the pointer. */
NDE_API void nde_sde_problem_destroy(nde_sde_problem **problem);

/** The problem's name. */
NDE_API const char *nde_sde_problem_name(const nde_sde_problem *problem);

/** State dimension of one system; 0 when any dimension works (gbm). */
NDE_API size_t nde_sde_problem_dim(const nde_sde_problem *problem);

/** Default u0 of one system (dim doubles, or 1 for gbm) and time span; either may be NULL. */
NDE_API void nde_sde_problem_defaults(const nde_sde_problem *problem, double *u0,
                                      double tspan[2]);

/** Drift and diffusion over backend arrays; the problem must outlive its use. */
NDE_API nde_sde_rhs nde_sde_problem_rhs(nde_sde_problem *problem);

/** 1 if the problem has an exact path-wise solution. */
NDE_API int nde_sde_problem_has_exact(const nde_sde_problem *problem);

/**
 * Exact solution at t of @p n components started at u0 (time t0), given the
 * Brownian increments @p dw[i] = W_i(t) − W_i(t0) of their noise
 * (diagonal: one per component; gbm_general: the system's two). NDE_EUNSUPPORTED without one.
 */
NDE_API nde_status nde_sde_problem_exact(const nde_sde_problem *problem, double t0,
                                         const double *u0, double t, const double *dw, size_t n,
                                         double *u);

#ifdef __cplusplus
}
#endif
#endif /* NDE_SDE_PROBLEM_H */
