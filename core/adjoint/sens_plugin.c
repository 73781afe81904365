/*
 * The vtable operations shared by the three adjoint sensitivity plugins.
 * A plugin's state holds the ODE adjoint and, for the methods that have
 * one (backsolve, interpolating), the SDE adjoint (nde/sde_adjoint.h).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <nde/adjoint.h>
#include <nde/sde_adjoint.h>

typedef struct sens_state {
  nde_adjoint *ode;
  nde_sde_adjoint *sde; /* NULL for quadrature_adjoint */
} sens_state;

static const char *const method_names[] = {"backsolve_adjoint", "interpolating_adjoint",
                                           "quadrature_adjoint"};

static const char *method_name(nde_adjoint_method method) {
  return (unsigned)method < sizeof method_names / sizeof *method_names ? method_names[method]
                                                                       : "adjoint";
}

nde_status nde_adjoint_sens_create(nde_adjoint_method method, const nde_options *options,
                                   void **state) {
  nde_adjoint_config cfg = {.method = method};
  cfg.solver = nde_options_string(options, "solver", "");
  cfg.abstol = nde_options_number(options, "abstol", 0.0);
  cfg.reltol = nde_options_number(options, "reltol", 0.0);
  cfg.checkpoints = (size_t)nde_options_int(options, "checkpoints", 0);
  cfg.quadrature_points = (int)nde_options_int(options, "quadrature_points", 0);
  cfg.reset = nde_options_bool(options, "reset", 1);
  /* "norm" is validated against the manifest's choices before this runs */
  const char *norm = nde_options_string(options, "norm", "seminorm");
  cfg.norm = strcmp(norm, "full") ? NDE_ADJOINT_NORM_SEMINORM : NDE_ADJOINT_NORM_FULL;
  sens_state *s = calloc(1, sizeof *s);
  if (!s)
    return nde_error(NDE_ENOMEM, "%s: out of memory", method_name(method));
  nde_status st = nde_adjoint_create(&cfg, &s->ode);
  if (st == NDE_OK && method != NDE_ADJOINT_QUADRATURE) {
    nde_sde_adjoint_config sc = {
        .method = method == NDE_ADJOINT_BACKSOLVE ? NDE_SDE_ADJOINT_BACKSOLVE
                                                  : NDE_SDE_ADJOINT_INTERPOLATING,
        .checkpoints = cfg.checkpoints,
        .inversion_tol = nde_options_number(options, "inversion_tol", 0.0),
        .inversion_iters = (int)nde_options_int(options, "inversion_iters", 0),
        .inversion_solver = nde_options_string(options, "inversion_solver", "")};
    st = nde_sde_adjoint_create(&sc, &s->sde);
  }
  if (st != NDE_OK) {
    nde_adjoint_sens_destroy(s);
    return nde_error_prefix(st, "%s", method_name(method));
  }
  *state = s;
  return NDE_OK;
}

void nde_adjoint_sens_destroy(void *state) {
  sens_state *s = state;
  if (!s)
    return;
  nde_adjoint_destroy(&s->ode);
  nde_sde_adjoint_destroy(&s->sde);
  free(s);
}

nde_status nde_adjoint_sens_forward(void *state, const nde_sens_problem *problem,
                                    nde_ode_solution *sol) {
  return nde_adjoint_forward(((sens_state *)state)->ode, problem, sol);
}

nde_status nde_adjoint_sens_backward(void *state, const nde_sens_problem *problem,
                                     const nde_array *du_save, const double *w_eest,
                                     const double *w_eigen, nde_array *du0, void *dparams,
                                     nde_sens_stats *stats) {
  if (w_eest || w_eigen)
    return nde_error(NDE_EINVAL,
                     "continuous adjoints cannot differentiate per-step error or stiffness "
                     "estimates; use a sensitivity whose manifest claims \"step_estimates\": "
                     "true (`nde plugins --kind sensitivity`)");
  return nde_adjoint_backward(((sens_state *)state)->ode, problem, du_save, du0, dparams, stats);
}

nde_status nde_adjoint_sens_sde_forward(void *state, const nde_sde_sens_problem *problem,
                                        nde_sde_solution *sol) {
  sens_state *s = state;
  if (!s->sde)
    return nde_error(NDE_EUNSUPPORTED, "this adjoint has no SDE method");
  return nde_sde_adjoint_forward(s->sde, problem, sol);
}

nde_status nde_adjoint_sens_sde_backward(void *state, const nde_sde_sens_problem *problem,
                                         const nde_array *du_save, const double *w_eest,
                                         const double *w_eigen, nde_array *du0, void *dparams,
                                         nde_sens_stats *stats) {
  sens_state *s = state;
  if (!s->sde)
    return nde_error(NDE_EUNSUPPORTED, "this adjoint has no SDE method");
  return nde_sde_adjoint_backward(s->sde, problem, du_save, w_eest, w_eigen, du0, dparams,
                                  stats);
}
