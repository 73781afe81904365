/*
 * interpolating_adjoint: [λ, μ] backward, u(t) from the forward dense output (Hindmarsh et al. 2005, CVODES).
 * The machinery (forward storage, augmented right-hand side, backward
 * sweep) is the core's (nde/adjoint.h); this plugin maps its options.
 */
#include <nde/adjoint.h>

static nde_status create(const nde_options *options, void **state) {
  return nde_adjoint_sens_create(NDE_ADJOINT_INTERPOLATING, options, state);
}

static const nde_sensitivity_ops ops = {
    .header = NDE_PLUGIN_HEADER(NDE_KIND_SENSITIVITY, "interpolating_adjoint", nde_sensitivity_ops),
    .capabilities = NDE_SENS_ODE,
    .create = create,
    .destroy = nde_adjoint_sens_destroy,
    .forward = nde_adjoint_sens_forward,
    .backward = nde_adjoint_sens_backward,
};

NDE_PLUGIN_EXPORT const void *nde_plugin_sensitivity_interpolating_adjoint(void);
NDE_PLUGIN_EXPORT const void *nde_plugin_sensitivity_interpolating_adjoint(void) { return &ops; }
