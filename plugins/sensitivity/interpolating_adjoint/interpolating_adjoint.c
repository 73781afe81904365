/*
 * interpolating_adjoint: [λ, μ] backward, u(t) from the forward dense output (Hindmarsh et al. 2005, CVODES).
 * The machinery (forward storage, augmented right-hand side, backward
 * sweep) is the core's (nde/adjoint.h); this plugin maps its options.
 */
#include <nde/adjoint.h>

static nde_status create(const nde_options *options, void **state) {
  nde_adjoint_config cfg = {.method = NDE_ADJOINT_INTERPOLATING};
  cfg.solver = nde_options_string(options, "solver", "");
  cfg.abstol = nde_options_number(options, "abstol", 0.0);
  cfg.reltol = nde_options_number(options, "reltol", 0.0);
  cfg.checkpoints = (size_t)nde_options_int(options, "checkpoints", 0);
  nde_adjoint *adj = NULL;
  nde_status st = nde_adjoint_create(&cfg, &adj);
  if (st != NDE_OK)
    return nde_error_prefix(st, "interpolating_adjoint");
  *state = adj;
  return NDE_OK;
}

static void destroy(void *state) {
  nde_adjoint *adj = state;
  nde_adjoint_free(&adj);
}

static nde_status forward(void *state, const nde_sens_problem *problem, nde_ode_solution *sol) {
  return nde_adjoint_forward(state, problem, sol);
}

static nde_status backward(void *state, const nde_sens_problem *problem,
                           const nde_array *du_save, const double *w_eest, const double *w_eigen,
                           nde_array *du0, void *dparams, nde_sens_stats *stats) {
  if (w_eest || w_eigen)
    return nde_error(NDE_EINVAL, "interpolating_adjoint cannot differentiate per-step error or stiffness "
                     "estimates; use the 'direct' sensitivity");
  return nde_adjoint_backward(state, problem, du_save, du0, dparams, stats);
}

static const nde_sensitivity_ops ops = {
    .header = NDE_PLUGIN_HEADER(NDE_KIND_SENSITIVITY, "interpolating_adjoint", nde_sensitivity_ops),
    .capabilities = NDE_SENS_ODE,
    .create = create,
    .destroy = destroy,
    .forward = forward,
    .backward = backward,
};

NDE_PLUGIN_EXPORT const void *nde_plugin_sensitivity_interpolating_adjoint(void);
NDE_PLUGIN_EXPORT const void *nde_plugin_sensitivity_interpolating_adjoint(void) { return &ops; }
