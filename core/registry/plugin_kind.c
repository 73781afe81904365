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

#include <pthread.h>
#include <stdarg.h>
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

/* ---------------------------------------------------------------- claimed capabilities */

/*
 * What a manifest's "capabilities" claim is checked against the library's
 * vtable at load, so `nde plugins`, solver selection and conformance checks
 * (which read the manifest alone) can trust it.
 */
static nde_status claim_error(const char *name, const char *key, const char *fmt, ...)
    NDE_PRINTF(3, 4);
static nde_status claim_error(const char *name, const char *key, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  nde_verror(NDE_EPLUGIN, fmt, ap);
  va_end(ap);
  return nde_error_prefix(NDE_EPLUGIN, "'%s': manifest capabilities.%s", name, key);
}

/* A claimed number that must equal the library's @have (absent: nothing claimed). */
static nde_status claim_number(const json_t *caps, const char *key, double have,
                               const char *name) {
  const json_t *v = json_object_get(caps, key);
  if (!v)
    return NDE_OK;
  if (!json_is_number(v))
    return claim_error(name, key, "must be a number, got %s", nde_json_type_name(v));
  if (json_number_value(v) != have)
    return claim_error(name, key, "is %g, but the library's is %g", json_number_value(v), have);
  return NDE_OK;
}

/* A claimed boolean; true must be backed by @have, false must not hide @must_match_false. */
static nde_status claim_true(const json_t *caps, const char *key, int have, const char *what,
                             const char *name) {
  const json_t *v = json_object_get(caps, key);
  if (!v)
    return NDE_OK;
  if (!json_is_boolean(v))
    return claim_error(name, key, "must be true or false, got %s", nde_json_type_name(v));
  if (json_is_true(v) && !have)
    return claim_error(name, key, "is true, but the library has no %s", what);
  return NDE_OK;
}

static nde_status caps_ode_solver(const void *vtable, const json_t *caps, const char *name) {
  const nde_ode_solver_ops *ops = vtable;
  const nde_rk_tableau *tb = ops->tableau;
  NDE_TRY(claim_number(caps, "order", ops->order, name));
  NDE_TRY(claim_number(caps, "embedded_order", ops->error_order, name));
  /* a multistep method's "stages" counts evaluations per step, at most the k arrays it asks for */
  const json_t *stages = json_object_get(caps, "stages");
  if (json_is_true(json_object_get(caps, "multistep")) && json_is_number(stages)) {
    if (!(json_number_value(stages) >= 1 && json_number_value(stages) <= ops->stages))
      return claim_error(name, "stages", "is %g, but a multistep library with %d stage arrays "
                         "makes 1 to %d evaluations per step", json_number_value(stages),
                         ops->stages, ops->stages);
  } else
    NDE_TRY(claim_number(caps, "stages", ops->stages, name));
  NDE_TRY(claim_true(caps, "adaptive", ops->error_order > 0, "error estimate (error_order 0)",
                     name));
  NDE_TRY(claim_true(caps, "error_estimate", ops->error_order > 0,
                     "error estimate (error_order 0)", name));
  NDE_TRY(claim_true(caps, "fsal", tb && tb->fsal, "FSAL tableau", name));
  NDE_TRY(claim_true(caps, "stiffness_estimate", tb && tb->stability_size > 0,
                     "stiffness estimate (tableau stability_size 0)", name));
  NDE_TRY(claim_true(caps, "reverse_step", tb != NULL,
                     "reverse step (only a tableau method has the core's reverse step)", name));
  const json_t *dense = json_object_get(caps, "dense_output");
  if (dense && json_is_string(dense) && !strncmp(json_string_value(dense), "order", 5) &&
      !(tb && tb->interp_degree > 0) && !ops->dense)
    return claim_error(name, "dense_output",
                       "is \"%s\", but the library has neither a continuous extension nor a "
                       "dense slot (cubic Hermite: say \"hermite\")",
                       json_string_value(dense));
  return NDE_OK;
}

static nde_status caps_sde_solver(const void *vtable, const json_t *caps, const char *name) {
  const nde_sde_solver_ops *ops = vtable;
  NDE_TRY(claim_number(caps, "strong_order", ops->strong_order, name));
  NDE_TRY(claim_number(caps, "weak_order", ops->weak_order, name));
  NDE_TRY(claim_true(caps, "adaptive", ops->adaptive, "error estimate (adaptive 0)", name));
  NDE_TRY(claim_true(caps, "error_estimate", ops->adaptive, "error estimate (adaptive 0)", name));
  NDE_TRY(claim_true(caps, "stiffness_estimate", ops->stiffness, "stiffness estimate", name));
  NDE_TRY(claim_true(caps, "reverse_step", ops->tableau || ops->step_reverse,
                     "reverse step (neither an SRI tableau nor a step_reverse slot)", name));
  return NDE_OK;
}

static nde_status caps_sensitivity(const void *vtable, const json_t *caps, const char *name) {
  const nde_sensitivity_ops *ops = vtable;
  static const struct {
    const char *problem;
    unsigned flag;
  } problems[] = {{"ode", NDE_SENS_ODE}, {"sde", NDE_SENS_SDE},
                  {"fixed_point", NDE_SENS_FIXED_POINT}};
  const json_t *list = json_object_get(caps, "problems");
  if (list) {
    if (!json_is_array(list))
      return claim_error(name, "problems", "must be an array of strings");
    unsigned claimed = 0;
    size_t i;
    const json_t *v;
    json_array_foreach(list, i, v) {
      size_t k = 0;
      while (k < 3 && !(json_is_string(v) && !strcmp(json_string_value(v), problems[k].problem)))
        ++k;
      if (k == 3)
        return claim_error(name, "problems", "[%zu] must be \"ode\", \"sde\" or \"fixed_point\"",
                           i);
      claimed |= problems[k].flag;
    }
    for (size_t k = 0; k < 3; ++k)
      if ((claimed & problems[k].flag) != (ops->capabilities & problems[k].flag))
        return claim_error(name, "problems", "%s \"%s\", but the library %s",
                           claimed & problems[k].flag ? "lists" : "omits", problems[k].problem,
                           ops->capabilities & problems[k].flag ? "serves it" : "does not");
  }
  NDE_TRY(claim_true(caps, "step_estimates", ops->capabilities & NDE_SENS_STEP_ESTIMATES,
                     "NDE_SENS_STEP_ESTIMATES flag", name));
  NDE_TRY(claim_true(caps, "discrete_exact", ops->capabilities & NDE_SENS_DISCRETE_EXACT,
                     "NDE_SENS_DISCRETE_EXACT flag", name));
  return NDE_OK;
}

static nde_status caps_layer(const void *vtable, const json_t *caps, const char *name) {
  const nde_layer_ops *ops = vtable;
  return claim_true(caps, "jvp", ops->jvp != NULL, "jvp slot", name);
}

/* ---------------------------------------------------------------- common options */

/*
 * The options every plugin of a kind shares, stated once here: a manifest
 * inherits them and carries only its own (overrides of a default or doc, and
 * extra options). The defaults are also the solver's defaults when no
 * manifest is involved (nde_ode_options_default(), nde_sde_options_default()).
 */
static const char ode_solver_options[] =
    "{"
    "\"abstol\": {\"type\": \"number\", \"default\": 1e-06, \"range\": [0, null], \"doc\": \"absolute tolerance of the local error estimate\"},"
    "\"reltol\": {\"type\": \"number\", \"default\": 0.001, \"range\": [0, null], \"doc\": \"relative tolerance of the local error estimate\"},"
    "\"dt\": {\"type\": \"number\", \"default\": 0, \"range\": [0, null], \"doc\": \"initial step (adaptive) or fixed step; 0 = Hairer's automatic initial step\"},"
    "\"adaptive\": {\"type\": \"boolean\", \"default\": true, \"doc\": \"adapt the step with the PI controller\"},"
    "\"dtmin\": {\"type\": \"number\", \"default\": 0, \"range\": [0, null], \"doc\": \"smallest step before failing with NDE_EDTMIN; 0 = 1e-14*max(1,|t|)\"},"
    "\"dtmax\": {\"type\": \"number\", \"default\": 0, \"range\": [0, null], \"doc\": \"largest step; 0 = |t1 - t0|\"},"
    "\"maxiters\": {\"type\": \"integer\", \"default\": 100000, \"range\": [1, null], \"doc\": \"largest number of steps (accepted + rejected) before NDE_EMAXITERS\"},"
    "\"steady_state\": {\"type\": \"boolean\", \"default\": false, \"doc\": \"stop early when ||f(t,u)||_2 <= abstol + reltol*||u||_2\"},"
    "\"save_everystep\": {\"type\": \"boolean\", \"default\": true, \"doc\": \"without saveat: save every accepted step (false: only t0 and the end)\"},"
    "\"record_steps\": {\"type\": \"boolean\", \"default\": true, \"doc\": \"keep per-step statistics (t, dt, error norm, stiffness estimate)\"},"
    "\"beta1\": {\"type\": \"number\", \"default\": 0, \"range\": [0, null], \"doc\": \"PI controller integral gain; 0 = 7/(10p) for order p\"},"
    "\"beta2\": {\"type\": \"number\", \"default\": 0, \"range\": [0, null], \"doc\": \"PI controller proportional gain; 0 = 2/(5p) for order p\"},"
    "\"gamma\": {\"type\": \"number\", \"default\": 0.9, \"range\": [0, 1], \"doc\": \"safety factor of the step-size controller\"},"
    "\"qmin\": {\"type\": \"number\", \"default\": 0.2, \"range\": [0, 1], \"doc\": \"smallest step ratio dt_new/dt\"},"
    "\"qmax\": {\"type\": \"number\", \"default\": 10.0, \"range\": [1, null], \"doc\": \"largest step ratio dt_new/dt\"},"
    "\"qsteady_min\": {\"type\": \"number\", \"default\": 1.0, \"range\": [0, null], \"doc\": \"keep dt when qsteady_min <= dt/dt_new <= qsteady_max\"},"
    "\"qsteady_max\": {\"type\": \"number\", \"default\": 1.0, \"range\": [0, null], \"doc\": \"see qsteady_min\"},"
    "\"qoldinit\": {\"type\": \"number\", \"default\": 0.0001, \"range\": [0, null], \"doc\": \"initial previous error norm of the PI controller\"},"
    "\"controller\": {\"type\": \"string\", \"default\": \"pi\", \"choices\": [\"pi\", \"i\"], \"doc\": \"step-size controller: pi = the PI controller (beta1, beta2; Hairer's DOPRI5 and OrdinaryDiffEq); i = diffrax's PIDController default, an I controller (gain 1/p, beta1 and beta2 ignored) that never shrinks the step after an accepted step\"}"
    "}";

static const char sde_solver_options[] =
    "{"
    "\"abstol\": {\"type\": \"number\", \"default\": 0.01, \"range\": [0, null], \"doc\": \"absolute tolerance of the local error estimate\"},"
    "\"reltol\": {\"type\": \"number\", \"default\": 0.01, \"range\": [0, null], \"doc\": \"relative tolerance of the local error estimate\"},"
    "\"dt\": {\"type\": \"number\", \"default\": 0, \"range\": [0, null], \"doc\": \"fixed step, or the first step when adaptive (0 = Hairer's heuristic on the drift)\"},"
    "\"adaptive\": {\"type\": \"boolean\", \"default\": true, \"doc\": \"adapt the step with the PI controller along one Brownian path (RSwM)\"},"
    "\"delta\": {\"type\": \"number\", \"default\": -1, \"range\": [-1, null], \"doc\": \"weight of the drift part of the error estimate; < 0 = the method's default\"},"
    "\"dtmin\": {\"type\": \"number\", \"default\": 0, \"range\": [0, null], \"doc\": \"smallest step before failing with NDE_EDTMIN; 0 = 1e-14*max(1,|t|)\"},"
    "\"dtmax\": {\"type\": \"number\", \"default\": 0, \"range\": [0, null], \"doc\": \"largest step; 0 = t1 - t0\"},"
    "\"maxiters\": {\"type\": \"integer\", \"default\": 100000, \"range\": [1, null], \"doc\": \"largest number of steps (accepted + rejected) before NDE_EMAXITERS\"},"
    "\"record_steps\": {\"type\": \"boolean\", \"default\": true, \"doc\": \"keep per-step statistics (t, dt, error norm, stiffness estimate)\"},"
    "\"first_step\": {\"type\": \"string\", \"default\": \"drift\", \"choices\": [\"drift\", \"stochasticdiffeq\"], \"doc\": \"first step of an adaptive solve without dt: Hairer's heuristic on the drift, or StochasticDiffEq's noise-aware one (much shorter; the thesis's setting)\"},"
    "\"beta1\": {\"type\": \"number\", \"default\": 0, \"range\": [0, null], \"doc\": \"PI controller integral gain; 0 = 7/(10p), p the strong order\"},"
    "\"beta2\": {\"type\": \"number\", \"default\": 0, \"range\": [0, null], \"doc\": \"PI controller proportional gain; 0 = 2/(5p)\"},"
    "\"gamma\": {\"type\": \"number\", \"default\": 0.9, \"range\": [0, 1], \"doc\": \"safety factor of the step-size controller\"},"
    "\"qmin\": {\"type\": \"number\", \"default\": 0.2, \"range\": [0, 1], \"doc\": \"smallest step ratio dt_new/dt\"},"
    "\"qmax\": {\"type\": \"number\", \"default\": 1.125, \"range\": [1, null], \"doc\": \"largest step ratio dt_new/dt (9/8 for SDEs, StochasticDiffEq)\"}"
    "}";

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
                          sizeof(nde_backend_ops), SLOTS(backend_slots), NULL, NULL, NULL},
    [NDE_KIND_LAYER] = {NDE_KIND_LAYER, NDE_VTABLE_END(nde_layer_ops, vjp), sizeof(nde_layer_ops),
                        SLOTS(layer_slots), NULL, caps_layer, NULL},
    [NDE_KIND_ODE_SOLVER] = {NDE_KIND_ODE_SOLVER, NDE_VTABLE_END(nde_ode_solver_ops, restart),
                             sizeof(nde_ode_solver_ops), NO_SLOTS, check_ode_solver,
                             caps_ode_solver, ode_solver_options},
    [NDE_KIND_SDE_SOLVER] = {NDE_KIND_SDE_SOLVER, NDE_VTABLE_END(nde_sde_solver_ops, step),
                             sizeof(nde_sde_solver_ops), NO_SLOTS, check_sde_solver,
                             caps_sde_solver, sde_solver_options},
    [NDE_KIND_NONLINEAR_SOLVER] = {NDE_KIND_NONLINEAR_SOLVER,
                                   NDE_VTABLE_END(nde_nonlinear_solver_ops, solve),
                                   sizeof(nde_nonlinear_solver_ops), SLOTS(nonlinear_slots), NULL,
                                   NULL, NULL},
    [NDE_KIND_LINEAR_SOLVER] = {NDE_KIND_LINEAR_SOLVER,
                                NDE_VTABLE_END(nde_linear_solver_ops, solve),
                                sizeof(nde_linear_solver_ops), SLOTS(linear_slots), NULL, NULL,
                                NULL},
    [NDE_KIND_SENSITIVITY] = {NDE_KIND_SENSITIVITY, NDE_VTABLE_END(nde_sensitivity_ops, backward),
                              sizeof(nde_sensitivity_ops), SLOTS(sensitivity_slots),
                              check_sensitivity, caps_sensitivity, NULL},
    [NDE_KIND_REGULARIZER] = {NDE_KIND_REGULARIZER,
                              NDE_VTABLE_END(nde_regularizer_ops, evaluate),
                              sizeof(nde_regularizer_ops), SLOTS(regularizer_slots),
                              check_regularizer, NULL, NULL},
    [NDE_KIND_OPTIMIZER] = {NDE_KIND_OPTIMIZER, NDE_VTABLE_END(nde_optimizer_ops, step),
                            sizeof(nde_optimizer_ops), SLOTS(optimizer_slots), NULL, NULL, NULL},
    [NDE_KIND_DATASET] = {NDE_KIND_DATASET, NDE_VTABLE_END(nde_dataset_ops, sample),
                          sizeof(nde_dataset_ops), SLOTS(dataset_slots), NULL, NULL, NULL},
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

nde_status nde_kind_check_capabilities(nde_plugin_kind kind, const void *vtable,
                                       const json_t *caps) {
  const nde_kind_desc *d = nde_kind_descriptor(kind);
  const nde_plugin_header *h = vtable;
  if (!d || !d->check_capabilities || !caps)
    return NDE_OK;
  return d->check_capabilities(vtable, caps, h->name ? h->name : "?");
}

/* The common options of every kind, parsed once. */
static pthread_once_t options_once = PTHREAD_ONCE_INIT;
static json_t *common_options[NDE_KIND_COUNT];
static json_t *common_defaults[NDE_KIND_COUNT];

static void parse_common_options(void) {
  for (int k = 0; k < NDE_KIND_COUNT; ++k) {
    json_error_t error;
    common_options[k] = kinds[k].options ? json_loads(kinds[k].options, 0, &error) : json_object();
    common_defaults[k] = json_object();
    const char *key;
    json_t *spec;
    if (common_options[k] && common_defaults[k])
      json_object_foreach(common_options[k], key, spec) {
        json_t *def = json_object_get(spec, "default");
        if (def)
          json_object_set(common_defaults[k], key, def);
      }
  }
}

const json_t *nde_kind_common_options(nde_plugin_kind kind) {
  if ((int)kind < 0 || kind >= NDE_KIND_COUNT)
    return NULL;
  pthread_once(&options_once, parse_common_options);
  return common_options[kind];
}

const nde_options *nde_kind_option_defaults(nde_plugin_kind kind) {
  if ((int)kind < 0 || kind >= NDE_KIND_COUNT)
    return NULL;
  pthread_once(&options_once, parse_common_options);
  return nde_options_wrap(common_defaults[kind]);
}
