/*
 * backsolve_adjoint: [u, λ, μ] integrated backward from t1 (Chen et al. 2018).
 * The machinery (forward storage, augmented right-hand side, backward
 * sweep) is the core's (nde/adjoint.h); this plugin maps its options.
 */
#include <nde/adjoint.h>

static nde_status create(const nde_options *options, void **state) {
  return nde_adjoint_sens_create(NDE_ADJOINT_BACKSOLVE, options, state);
}

static const nde_sensitivity_ops ops = {
    .header = NDE_PLUGIN_HEADER(NDE_KIND_SENSITIVITY, "backsolve_adjoint", nde_sensitivity_ops),
    .capabilities = NDE_SENS_ODE,
    .create = create,
    .destroy = nde_adjoint_sens_destroy,
    .forward = nde_adjoint_sens_forward,
    .backward = nde_adjoint_sens_backward,
};

NDE_PLUGIN_EXPORT const void *nde_plugin_sensitivity_backsolve_adjoint(void);
NDE_PLUGIN_EXPORT const void *nde_plugin_sensitivity_backsolve_adjoint(void) { return &ops; }
