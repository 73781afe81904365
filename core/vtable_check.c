/*
 * Kind-specific checks of a loaded plugin's vtable: each kind's required
 * operations must be present. A kind without a checker here accepts any
 * vtable with a valid header (the registry checks the header itself).
 */
#include "config.h"

#include <nde/backend.h>
#include <nde/linear.h>
#include <nde/nonlinear.h>

#include "registry_impl.h"

nde_status nde_vtable_check(nde_plugin_kind kind, const void *vtable) {
  switch (kind) {
  case NDE_KIND_BACKEND:
    return nde_backend_ops_validate(vtable);
  case NDE_KIND_NONLINEAR_SOLVER: {
    const nde_nonlinear_solver_ops *ops = vtable;
    if (ops->header.size < sizeof(nde_nonlinear_solver_ops) || !ops->solve)
      return nde_error(NDE_EPLUGIN, "nonlinear_solver '%s' lacks required operation 'solve'",
                       ops->header.name ? ops->header.name : "?");
    return NDE_OK;
  }
  case NDE_KIND_LINEAR_SOLVER: {
    const nde_linear_solver_ops *ops = vtable;
    if (ops->header.size < sizeof(nde_linear_solver_ops) || !ops->solve)
      return nde_error(NDE_EPLUGIN, "linear_solver '%s' lacks required operation 'solve'",
                       ops->header.name ? ops->header.name : "?");
    return NDE_OK;
  }
  default:
    return NDE_OK;
  }
}
