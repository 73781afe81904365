/*
 * jfb: Jacobian-free backprop (Fung et al. 2022, "JFB: Jacobian-free
 * backpropagation for implicit networks"; thesis ch. 3 §4.2). The implicit
 * gradient λᵀ∂f/∂p with (I − J)ᵀλ = ∂L/∂z* is replaced by λ = ∂L/∂z*: the
 * gradient of ONE application of f at z*, treating z* as a constant. One VJP;
 * a descent direction when f is contractive enough, not the exact gradient.
 */
#include <stdlib.h>
#include <string.h>

#include <nde/backend.h>
#include <nde/plugin.h>
#include <nde/sensitivity.h>

static nde_status jfb_create(const nde_options *options, void **state) {
  (void)options;
  *state = NULL;
  return NDE_OK;
}

static void jfb_destroy(void *state) { (void)state; }

static nde_status jfb_backward(void *state, const nde_fp_problem *problem, const nde_array *dz,
                               void *dparams, nde_array *dx, nde_sens_stats *stats) {
  (void)state;
  const nde_array *z = problem->z_star;
  if (!problem->vjp || !z || !dz || dz->size != z->size || dz->dtype != z->dtype)
    return nde_error(NDE_EINVAL, "jfb: the cotangent must have z*'s size and dtype");
  nde_array wz = {0};
  NDE_TRY(nde_array_create(z->backend, z->dtype, z->ndim, z->shape, &wz));
  nde_status st = problem->vjp(problem->ctx, z, dz, &wz, dparams, dx);
  nde_array_destroy(&wz);
  if (stats) {
    memset(stats, 0, sizeof *stats);
    stats->nvjp = 1;
    stats->peak_bytes = nde_array_bytes(z);
  }
  return st;
}

NDE_PLUGIN_DEFINE(sensitivity, jfb, .capabilities = NDE_SENS_FIXED_POINT, .create = jfb_create,
                  .destroy = jfb_destroy, .fixed_point_backward = jfb_backward);
