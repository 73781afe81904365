/*
 * Kind-specific checks of a loaded plugin's vtable: each kind's required
 * operations must be present. A kind without a checker here accepts any
 * vtable with a valid header (the registry checks the header itself).
 */
#include "config.h"

#include <stddef.h>

#include <nde/backend.h>
#include <nde/dataset.h>
#include <nde/optimizer.h>
#include <nde/layer.h>
#include <nde/ode.h>
#include <nde/sde.h>
#include <nde/linear.h>
#include <nde/nonlinear.h>
#include <nde/regularizer.h>
#include <nde/sensitivity.h>

#include "registry_impl.h"

/*
 * The vtable must reach past its last required field (fields appended later
 * are optional, so an older plugin's smaller vtable stays valid) and have
 * every required field.
 */
#define CHECK_SIZE(ops, type, last_required, kindname)                           \
  if ((ops)->header.size < offsetof(type, last_required) + sizeof((ops)->last_required)) \
    return nde_error(NDE_EPLUGIN, "%s vtable of '%s' is %u bytes, smaller than ABI %d's %zu", \
                     kindname, (ops)->header.name ? (ops)->header.name : "?",   \
                     (ops)->header.size, NDE_ABI_VERSION,                        \
                     offsetof(type, last_required) + sizeof((ops)->last_required));
#define REQUIRE(ops, field, kindname)                                            \
  if (!(ops)->field)                                                             \
    return nde_error(NDE_EPLUGIN, "%s '%s' lacks required operation '%s'", kindname, \
                     (ops)->header.name ? (ops)->header.name : "?", #field);

static nde_status check_optimizer(const nde_optimizer_ops *ops) {
  CHECK_SIZE(ops, nde_optimizer_ops, step, "optimizer")
  REQUIRE(ops, n_buffers, "optimizer")
  REQUIRE(ops, buffer_name, "optimizer")
  REQUIRE(ops, step, "optimizer")
  return NDE_OK;
}

static nde_status check_dataset(const nde_dataset_ops *ops) {
  CHECK_SIZE(ops, nde_dataset_ops, sample, "dataset")
  REQUIRE(ops, open, "dataset")
  REQUIRE(ops, close, "dataset")
  REQUIRE(ops, info, "dataset")
  REQUIRE(ops, sample, "dataset")
  return NDE_OK;
}

nde_status nde_vtable_check(nde_plugin_kind kind, const void *vtable) {
  switch (kind) {
  case NDE_KIND_BACKEND:
    return nde_backend_ops_validate(vtable);
  case NDE_KIND_OPTIMIZER:
    return check_optimizer(vtable);
  case NDE_KIND_DATASET:
    return check_dataset(vtable);
  case NDE_KIND_LAYER:
    return nde_layer_ops_validate(vtable);
  case NDE_KIND_ODE_SOLVER:
    return nde_ode_solver_ops_validate(vtable);
  case NDE_KIND_SDE_SOLVER:
    return nde_sde_solver_ops_validate(vtable);
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
  case NDE_KIND_SENSITIVITY:
    return nde_sensitivity_ops_validate(vtable);
  case NDE_KIND_REGULARIZER:
    return nde_regularizer_ops_validate(vtable);
  default:
    return NDE_OK;
  }
}
