/* `nde check`: the result record, the kind dispatch and the shared measurements. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "check.h"

const char *nde_check_verdict_name(nde_check_verdict verdict) {
  switch (verdict) {
  case NDE_CHECK_PASS:
    return "PASS";
  case NDE_CHECK_FAIL:
    return "FAIL";
  default:
    return "SKIP";
  }
}

void nde_check_record(nde_check_run *run, const char *check, nde_check_verdict verdict,
                      double measured, double claimed, double tolerance, const char *fmt, ...) {
  nde_check_result r = {.plugin = nde_plugin_name(run->plugin),
                        .kind = nde_plugin_kind_name(nde_plugin_kind_of(run->plugin)),
                        .check = check,
                        .verdict = verdict,
                        .measured = measured,
                        .claimed = claimed,
                        .tolerance = tolerance};
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(r.detail, sizeof r.detail, fmt, ap);
  va_end(ap);
  if (verdict == NDE_CHECK_PASS)
    ++run->npass;
  else if (verdict == NDE_CHECK_FAIL)
    ++run->nfail;
  else
    ++run->nskip;
  if (run->sink)
    run->sink(run->user, &r);
}

typedef nde_status (*kind_check_fn)(nde_check_run *run, const void *vtable);

/* The behavioural checks of each kind; NULL: load and vtable only (said so). */
static kind_check_fn kind_check(nde_plugin_kind kind) {
  switch (kind) {
  case NDE_KIND_ODE_SOLVER:
    return nde_check_ode_solver;
  case NDE_KIND_SDE_SOLVER:
    return nde_check_sde_solver;
  case NDE_KIND_NONLINEAR_SOLVER:
    return nde_check_nonlinear_solver;
  case NDE_KIND_LINEAR_SOLVER:
    return nde_check_linear_solver;
  case NDE_KIND_LAYER:
    return nde_check_layer;
  case NDE_KIND_OPTIMIZER:
    return nde_check_optimizer;
  case NDE_KIND_BACKEND:
    return nde_check_backend;
  case NDE_KIND_DATASET:
    return nde_check_dataset;
  case NDE_KIND_SENSITIVITY:
    return nde_check_sensitivity;
  case NDE_KIND_REGULARIZER:
    return nde_check_regularizer;
  default:
    return NULL;
  }
}

nde_status nde_check_plugin(nde_check_run *run) {
  const void *vtable = NULL;
  nde_status st = nde_plugin_load(run->plugin, &vtable);
  if (st != NDE_OK) {
    nde_check_record(run, "load", NDE_CHECK_FAIL, NAN, NAN, NAN, "%s", nde_last_error());
    return NDE_OK;
  }
  const char *library = nde_plugin_library_path(run->plugin);
  if (library)
    nde_check_record(run, "load", NDE_CHECK_PASS, NAN, NAN, NAN,
                     "library loaded, vtable accepted (%s)", library);
  else
    nde_check_record(run, "load", NDE_CHECK_PASS, NAN, NAN, NAN,
                     "tableau read from the manifest, vtable built and accepted (no library)");
  nde_plugin_kind kind = nde_plugin_kind_of(run->plugin);
  kind_check_fn fn = kind_check(kind);
  if (!fn) {
    nde_check_record(run, "behaviour", NDE_CHECK_SKIP, NAN, NAN, NAN,
                     "no conformance test for kind %s (only load and vtable are checked)",
                     nde_plugin_kind_name(kind));
    return NDE_OK;
  }
  return fn(run, vtable);
}

double nde_check_loglog_slope(const double *x, const double *y, int n) {
  double sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (int i = 0; i < n; ++i) {
    double a = log(x[i]), b = log(y[i]);
    sx += a;
    sy += b;
    sxx += a * a;
    sxy += a * b;
  }
  return (n * sxy - sx * sy) / (n * sxx - sx * sx);
}

nde_backend *nde_check_cpu_backend(nde_registry *registry) {
  static nde_backend *backend;
  if (!backend && nde_backend_open(registry, "cpu", NULL, &backend) != NDE_OK)
    backend = NULL;
  return backend;
}

const nde_options *nde_check_caps(const nde_check_run *run) {
  return nde_plugin_capabilities(run->plugin);
}

int nde_check_cap_has(const nde_check_run *run, const char *key, const char *value) {
  const nde_options *caps = nde_check_caps(run);
  const char *s = nde_options_string(caps, key, NULL);
  if (s)
    return !strcmp(s, value);
  char *text = nde_options_to_json(caps);
  if (!text)
    return 0;
  json_t *root = json_loads(text, 0, NULL);
  free(text);
  int found = 0;
  json_t *arr = json_object_get(root, key), *item;
  size_t i;
  if (json_is_array(arr))
    json_array_foreach(arr, i, item) {
      if (json_is_string(item) && !strcmp(json_string_value(item), value))
        found = 1;
    }
  json_decref(root);
  return found;
}
