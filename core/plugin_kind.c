/*
 * One descriptor per plugin kind: what libnde knows about a kind's vtable
 * (its baseline size, its required slots, its own checks) in one table row.
 * The size rule is written once, in nde_vtable_validate():
 *
 *   a vtable is accepted when header.size >= the kind's baseline size (the
 *   size of the first published version of that vtable) and every required
 *   slot is non-NULL; slots past the plugin's size read as absent.
 *
 * The registry hands out a copy of each loaded vtable that is zero-filled
 * past the plugin's size (nde_kind_vtable_copy), so an optional slot an
 * older plugin never had reads as NULL everywhere in the core.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <nde/backend.h>
#include <nde/dataset.h>
#include <nde/layer.h>
#include <nde/linear.h>
#include <nde/nonlinear.h>
#include <nde/ode.h>
#include <nde/optimizer.h>
#include <nde/regularizer.h>
#include <nde/sde.h>
#include <nde/sensitivity.h>

#include "plugin_kind.h"

/* ---------------------------------------------------------------- kind-specific checks */

static nde_status check_ode_solver(const void *vtable, const char *name) {
  const nde_ode_solver_ops *ops = vtable;
  if (ops->order < 1)
    return nde_error(NDE_EPLUGIN, "ode_solver '%s': order must be >= 1", name);
  if (ops->stages < 1)
    return nde_error(NDE_EPLUGIN, "ode_solver '%s': stages must be >= 1", name);
  if (ops->tableau) {
    NDE_TRY(nde_rk_tableau_validate(ops->tableau, name));
    if (ops->tableau->stages > ops->stages)
      return nde_error(NDE_EPLUGIN, "ode_solver '%s': stages smaller than the tableau's", name);
  } else if (!ops->step)
    return nde_error(NDE_EPLUGIN, "ode_solver '%s': needs a tableau or a step function", name);
  return NDE_OK;
}

static nde_status check_sde_solver(const void *vtable, const char *name) {
  const nde_sde_solver_ops *ops = vtable;
  if (!(ops->strong_order > 0) || !(ops->weak_order > 0))
    return nde_error(NDE_EPLUGIN, "sde_solver '%s': strong and weak orders must be > 0", name);
  if (ops->stages < 1)
    return nde_error(NDE_EPLUGIN, "sde_solver '%s': stages must be >= 1", name);
  if (ops->tableau) {
    NDE_TRY(nde_sri_tableau_validate(ops->tableau, name));
    if (ops->tableau->stages > ops->stages)
      return nde_error(NDE_EPLUGIN, "sde_solver '%s': stages smaller than the tableau's", name);
    if (!ops->needs_dz)
      return nde_error(NDE_EPLUGIN, "sde_solver '%s': SRI methods need dZ (set needs_dz)", name);
  } else if (!ops->step)
    return nde_error(NDE_EPLUGIN, "sde_solver '%s': needs a tableau or a step function", name);
  if (ops->adaptive && !(ops->delta >= 0))
    return nde_error(NDE_EPLUGIN, "sde_solver '%s': delta must be >= 0", name);
  return NDE_OK;
}

static nde_status check_sensitivity(const void *vtable, const char *name) {
  const nde_sensitivity_ops *ops = vtable;
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
      (!NDE_VTABLE_HAS(ops, nde_sensitivity_ops, sde_forward) ||
       !NDE_VTABLE_HAS(ops, nde_sensitivity_ops, sde_backward)))
    return nde_error(NDE_EPLUGIN,
                     "sensitivity '%s' claims SDE support without sde_forward/sde_backward", name);
  return NDE_OK;
}

static nde_status check_regularizer(const void *vtable, const char *name) {
  const nde_regularizer_ops *ops = vtable;
  if ((ops->needs & NDE_REG_NEEDS_STEP_ESTIMATES) && !ops->required_sensitivity)
    return nde_error(NDE_EPLUGIN,
                     "regularizer '%s' needs step estimates but names no required sensitivity",
                     name);
  return NDE_OK;
}

/* ---------------------------------------------------------------- the table */

#define SLOT(type, field) {#field, offsetof(type, field)}

static const nde_kind_slot backend_slots[] = {
    SLOT(nde_backend_ops, create),         SLOT(nde_backend_ops, destroy),
    SLOT(nde_backend_ops, alloc),          SLOT(nde_backend_ops, release),
    SLOT(nde_backend_ops, copy),           SLOT(nde_backend_ops, upload),
    SLOT(nde_backend_ops, download),       SLOT(nde_backend_ops, fill),
    SLOT(nde_backend_ops, scale),          SLOT(nde_backend_ops, axpy),
    SLOT(nde_backend_ops, axpby),          SLOT(nde_backend_ops, lincomb),
    SLOT(nde_backend_ops, mul),            SLOT(nde_backend_ops, dot),
    SLOT(nde_backend_ops, norm2),          SLOT(nde_backend_ops, norm_inf),
    SLOT(nde_backend_ops, sum),            SLOT(nde_backend_ops, wrms_norm),
    SLOT(nde_backend_ops, gemm),           SLOT(nde_backend_ops, add_column),
    SLOT(nde_backend_ops, sum_columns),    SLOT(nde_backend_ops, activation),
    SLOT(nde_backend_ops, activation_vjp), SLOT(nde_backend_ops, random_normal),
    SLOT(nde_backend_ops, random_uniform), SLOT(nde_backend_ops, all_finite),
    SLOT(nde_backend_ops, convert)};
static const nde_kind_slot layer_slots[] = {
    SLOT(nde_layer_ops, create), SLOT(nde_layer_ops, destroy), SLOT(nde_layer_ops, forward),
    SLOT(nde_layer_ops, vjp)};
static const nde_kind_slot sensitivity_slots[] = {SLOT(nde_sensitivity_ops, create),
                                                  SLOT(nde_sensitivity_ops, destroy)};
static const nde_kind_slot regularizer_slots[] = {SLOT(nde_regularizer_ops, prepare),
                                                  SLOT(nde_regularizer_ops, evaluate)};
static const nde_kind_slot optimizer_slots[] = {SLOT(nde_optimizer_ops, n_buffers),
                                                SLOT(nde_optimizer_ops, buffer_name),
                                                SLOT(nde_optimizer_ops, step)};
static const nde_kind_slot dataset_slots[] = {
    SLOT(nde_dataset_ops, open), SLOT(nde_dataset_ops, close), SLOT(nde_dataset_ops, info),
    SLOT(nde_dataset_ops, sample)};
static const nde_kind_slot nonlinear_slots[] = {SLOT(nde_nonlinear_solver_ops, solve)};
static const nde_kind_slot linear_slots[] = {SLOT(nde_linear_solver_ops, solve)};

#define SLOTS(array) array, sizeof array / sizeof array[0]
#define NO_SLOTS NULL, 0

/*
 * Baseline sizes: the vtable as first published, i.e. up to and including
 * its last field before anything was appended. Never change a baseline;
 * append new optional slots after it.
 */
static const nde_kind_desc kinds[NDE_KIND_COUNT] = {
    [NDE_KIND_BACKEND] = {NDE_KIND_BACKEND, NDE_VTABLE_END(nde_backend_ops, convert),
                          sizeof(nde_backend_ops), SLOTS(backend_slots), NULL},
    [NDE_KIND_LAYER] = {NDE_KIND_LAYER, NDE_VTABLE_END(nde_layer_ops, vjp), sizeof(nde_layer_ops),
                        SLOTS(layer_slots), NULL},
    [NDE_KIND_ODE_SOLVER] = {NDE_KIND_ODE_SOLVER, NDE_VTABLE_END(nde_ode_solver_ops, restart),
                             sizeof(nde_ode_solver_ops), NO_SLOTS, check_ode_solver},
    [NDE_KIND_SDE_SOLVER] = {NDE_KIND_SDE_SOLVER, NDE_VTABLE_END(nde_sde_solver_ops, step),
                             sizeof(nde_sde_solver_ops), NO_SLOTS, check_sde_solver},
    [NDE_KIND_NONLINEAR_SOLVER] = {NDE_KIND_NONLINEAR_SOLVER,
                                   NDE_VTABLE_END(nde_nonlinear_solver_ops, solve),
                                   sizeof(nde_nonlinear_solver_ops), SLOTS(nonlinear_slots), NULL},
    [NDE_KIND_LINEAR_SOLVER] = {NDE_KIND_LINEAR_SOLVER,
                                NDE_VTABLE_END(nde_linear_solver_ops, solve),
                                sizeof(nde_linear_solver_ops), SLOTS(linear_slots), NULL},
    [NDE_KIND_SENSITIVITY] = {NDE_KIND_SENSITIVITY, NDE_VTABLE_END(nde_sensitivity_ops, backward),
                              sizeof(nde_sensitivity_ops), SLOTS(sensitivity_slots),
                              check_sensitivity},
    [NDE_KIND_REGULARIZER] = {NDE_KIND_REGULARIZER,
                              NDE_VTABLE_END(nde_regularizer_ops, evaluate),
                              sizeof(nde_regularizer_ops), SLOTS(regularizer_slots),
                              check_regularizer},
    [NDE_KIND_OPTIMIZER] = {NDE_KIND_OPTIMIZER, NDE_VTABLE_END(nde_optimizer_ops, step),
                            sizeof(nde_optimizer_ops), SLOTS(optimizer_slots), NULL},
    [NDE_KIND_DATASET] = {NDE_KIND_DATASET, NDE_VTABLE_END(nde_dataset_ops, sample),
                          sizeof(nde_dataset_ops), SLOTS(dataset_slots), NULL},
};

const nde_kind_desc *nde_kind_descriptor(nde_plugin_kind kind) {
  return (int)kind >= 0 && kind < NDE_KIND_COUNT ? &kinds[kind] : NULL;
}

size_t nde_plugin_kind_baseline_size(nde_plugin_kind kind) {
  const nde_kind_desc *d = nde_kind_descriptor(kind);
  return d ? d->baseline_size : 0;
}

/* ---------------------------------------------------------------- the one rule */

nde_status nde_vtable_validate(nde_plugin_kind kind, const void *vtable) {
  const nde_kind_desc *d = nde_kind_descriptor(kind);
  if (!d)
    return nde_error(NDE_EINVAL, "invalid plugin kind %d", (int)kind);
  if (!vtable)
    return nde_error(NDE_EPLUGIN, "%s: no vtable", nde_plugin_kind_name(kind));
  const nde_plugin_header *h = vtable;
  const char *kname = nde_plugin_kind_name(kind);
  const char *name = h->name ? h->name : "?";
  if (h->abi_version != NDE_ABI_VERSION)
    return nde_error(NDE_EABI, "%s '%s' was built for ABI %u, but this nde has ABI %d", kname,
                     name, h->abi_version, NDE_ABI_VERSION);
  if (h->kind != kind)
    return nde_error(NDE_EPLUGIN, "'%s' implements kind %s, not %s", name,
                     nde_plugin_kind_name(h->kind) ? nde_plugin_kind_name(h->kind) : "?", kname);
  if (h->size < d->baseline_size)
    return nde_error(NDE_EPLUGIN,
                     "%s vtable of '%s' is %u bytes, smaller than ABI %d's baseline of %zu bytes "
                     "(the first published %s vtable); rebuild the plugin against this nde",
                     kname, name, h->size, NDE_ABI_VERSION, d->baseline_size, kname);
  for (size_t i = 0; i < d->n_required; ++i) {
    void (*slot)(void);
    memcpy(&slot, (const char *)vtable + d->required[i].offset, sizeof slot);
    if (!slot)
      return nde_error(NDE_EPLUGIN, "%s '%s' lacks required operation '%s'", kname, name,
                       d->required[i].name);
  }
  return d->check ? d->check(vtable, name) : NDE_OK;
}

void *nde_kind_vtable_copy(nde_plugin_kind kind, const void *vtable) {
  const nde_kind_desc *d = nde_kind_descriptor(kind);
  const nde_plugin_header *h = vtable;
  if (!d || !h)
    return NULL;
  void *copy = calloc(1, d->current_size);
  if (copy)
    memcpy(copy, vtable, h->size < d->current_size ? h->size : d->current_size);
  return copy;
}
