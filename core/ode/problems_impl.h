/* Private to the ODE problem library: the per-problem definitions. */
#ifndef NDE_CORE_ODE_PROBLEMS_IMPL_H
#define NDE_CORE_ODE_PROBLEMS_IMPL_H

#include <stddef.h>

#include <nde/ode_problem.h>

#include "../util/internal.h"

#define NDE_PROBLEM_MAX_PARAMS 4

typedef struct nde_problem_def nde_problem_def;

struct nde_ode_problem {
  const nde_problem_def *def;
  size_t dim;
  double param[NDE_PROBLEM_MAX_PARAMS];
  double *A; /* linear: dim×dim row-major */
  double *host_u, *host_du;
  double *conv; /* 2·nconv doubles for non-float64 arrays */
  size_t nconv;
  const void *host_ops; /* the last backend vtable found host-readable (saves the check per call) */
};

struct nde_problem_def {
  const char *name;
  size_t dim; /* 0: from the parameters (linear) */
  int has_matrix;
  int nparams;
  const char *param_names[NDE_PROBLEM_MAX_PARAMS];
  double param_default[NDE_PROBLEM_MAX_PARAMS];
  const double *u0;
  double tspan[2];
  void (*eval)(const nde_ode_problem *p, double t, const double *u, double *du);
  nde_status (*exact)(const nde_ode_problem *p, double t0, const double *u0, double t, double *u);
};

NDE_INTERNAL extern const nde_problem_def nde_problem_linear, nde_problem_exponential,
    nde_problem_lotka_volterra, nde_problem_lorenz, nde_problem_van_der_pol,
    nde_problem_pleiades, nde_problem_arenstorf, nde_problem_rigid_body;

#endif
