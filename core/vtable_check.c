/*
 * Kind-specific checks of a loaded plugin's vtable: each kind's required
 * operations must be present. A kind without a checker here accepts any
 * vtable with a valid header (the registry checks the header itself).
 */
#include "config.h"

#include <nde/backend.h>
#include <nde/ode.h>
#include <nde/sde.h>

#include "registry_impl.h"

nde_status nde_vtable_check(nde_plugin_kind kind, const void *vtable) {
  switch (kind) {
  case NDE_KIND_BACKEND:
    return nde_backend_ops_validate(vtable);
  case NDE_KIND_ODE_SOLVER:
    return nde_ode_solver_ops_validate(vtable);
  case NDE_KIND_SDE_SOLVER:
    return nde_sde_solver_ops_validate(vtable);
  default:
    return NDE_OK;
  }
}
