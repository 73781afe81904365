/* Required-operation checks of sensitivity and regularizer vtables. */
#include "config.h"

#include <nde/regularizer.h>
#include <nde/sensitivity.h>

nde_status nde_sensitivity_ops_validate(const nde_sensitivity_ops *ops) {
  const char *name = ops->header.name ? ops->header.name : "?";
  if (ops->header.size < offsetof(nde_sensitivity_ops, backward) + sizeof ops->backward)
    return nde_error(NDE_EPLUGIN, "sensitivity '%s': vtable too small (%u bytes)", name,
                     ops->header.size);
  if (!ops->create || !ops->destroy)
    return nde_error(NDE_EPLUGIN, "sensitivity '%s' lacks create/destroy", name);
  if (!(ops->capabilities & (NDE_SENS_ODE | NDE_SENS_FIXED_POINT | NDE_SENS_SDE)))
    return nde_error(NDE_EPLUGIN, "sensitivity '%s' claims none of NDE_SENS_ODE, "
                     "NDE_SENS_FIXED_POINT, NDE_SENS_SDE", name);
  if ((ops->capabilities & NDE_SENS_ODE) && (!ops->forward || !ops->backward))
    return nde_error(NDE_EPLUGIN, "sensitivity '%s' claims ODE support without forward/backward",
                     name);
  if ((ops->capabilities & NDE_SENS_FIXED_POINT) &&
      !NDE_VTABLE_HAS(ops, nde_sensitivity_ops, fixed_point_backward))
    return nde_error(NDE_EPLUGIN,
                     "sensitivity '%s' claims fixed-point support without fixed_point_backward",
                     name);
  if ((ops->capabilities & NDE_SENS_SDE) &&
      (!NDE_VTABLE_HAS(ops, nde_sensitivity_ops, sde_backward) || !ops->sde_forward ||
       !ops->sde_backward))
    return nde_error(NDE_EPLUGIN,
                     "sensitivity '%s' claims SDE support without sde_forward/sde_backward", name);
  return NDE_OK;
}

nde_status nde_regularizer_ops_validate(const nde_regularizer_ops *ops) {
  const char *name = ops->header.name ? ops->header.name : "?";
  if (ops->header.size < sizeof(nde_regularizer_ops))
    return nde_error(NDE_EPLUGIN, "regularizer '%s': vtable too small (%u bytes)", name,
                     ops->header.size);
  if (!ops->prepare || !ops->evaluate)
    return nde_error(NDE_EPLUGIN, "regularizer '%s' lacks prepare/evaluate", name);
  if ((ops->needs & NDE_REG_NEEDS_STEP_ESTIMATES) && !ops->required_sensitivity)
    return nde_error(NDE_EPLUGIN,
                     "regularizer '%s' needs step estimates but names no required sensitivity",
                     name);
  return NDE_OK;
}
