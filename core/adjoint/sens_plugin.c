/* The vtable operations shared by the three adjoint sensitivity plugins. */
#include "config.h"

#include <nde/adjoint.h>

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
  nde_adjoint *adj = NULL;
  nde_status st = nde_adjoint_create(&cfg, &adj);
  if (st != NDE_OK)
    return nde_error_prefix(st, "%s", method_name(method));
  *state = adj;
  return NDE_OK;
}

void nde_adjoint_sens_destroy(void *state) {
  nde_adjoint *adj = state;
  nde_adjoint_destroy(&adj);
}

nde_status nde_adjoint_sens_forward(void *state, const nde_sens_problem *problem,
                                    nde_ode_solution *sol) {
  return nde_adjoint_forward(state, problem, sol);
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
  return nde_adjoint_backward(state, problem, du_save, du0, dparams, stats);
}
