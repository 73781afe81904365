/*
 * The continuous adjoint sensitivities: one source built once per method,
 * each a plugin named after it (the layer/activation pattern).
 * NDE_ADJOINT_METHOD (an nde_adjoint_method) and NDE_ADJOINT_NAME (the
 * plugin's name as a bare word) come from the plugin folder's Makemodule.am:
 *   backsolve_adjoint      [u, λ, μ] integrated backward from t1 (Chen et al. 2018)
 *   interpolating_adjoint  [λ, μ] backward, u(t) from the forward dense output
 *                          (Hindmarsh et al. 2005, CVODES)
 *   quadrature_adjoint     λ backward, dL/dp = ∫ λᵀ∂f/∂p dt by Gauss–Legendre
 *                          (Kim et al. 2021)
 * The machinery (forward storage, augmented right-hand side, backward
 * sweep) is the core's (nde/adjoint.h); the plugin maps its options.
 */
#include <nde/adjoint.h>

static nde_status create(const nde_options *options, void **state) {
  return nde_adjoint_sens_create(NDE_ADJOINT_METHOD, options, state);
}

/* backsolve and interpolating also differentiate SDE solves (nde/sde_adjoint.h) */
#define HAS_SDE (NDE_ADJOINT_METHOD != NDE_ADJOINT_QUADRATURE)

NDE_PLUGIN_DEFINE(sensitivity, NDE_ADJOINT_NAME,
                  .capabilities = NDE_SENS_ODE | (HAS_SDE ? NDE_SENS_SDE : 0), .create = create,
                  .destroy = nde_adjoint_sens_destroy, .forward = nde_adjoint_sens_forward,
                  .backward = nde_adjoint_sens_backward,
                  .sde_forward = HAS_SDE ? nde_adjoint_sens_sde_forward : NULL,
                  .sde_backward = HAS_SDE ? nde_adjoint_sens_sde_backward : NULL);
