/*
 * dataset conformance (minimal): for synthetic data (capability
 * "synthetic": true, every required option with a default) both splits open, their shapes are sane, samples are finite, class
 * targets are below n_classes, and opening again with the same seed gives
 * the same samples. A dataset that reads files is only loaded, and the
 * report says so.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

static const char *needs_option(const nde_plugin *plugin) {
  const nde_options *specs = nde_plugin_option_specs(plugin);
  for (size_t i = 0; i < nde_options_count(specs); ++i) {
    const char *key = nde_options_key_at(specs, i);
    const nde_options *spec = nde_options_object(specs, key);
    if (nde_options_bool(spec, "required", 0) && !nde_options_has(spec, "default"))
      return key;
  }
  return NULL;
}

static void check_split(nde_check_run *run, const char *split) {
  const char *name = nde_plugin_name(run->plugin);
  nde_dataset *a = NULL, *b = NULL;
  char what[48];
  snprintf(what, sizeof what, "samples (%s)", split);
  nde_status st = nde_dataset_open(run->registry, name, NULL, split, 7, "check", &a);
  if (st == NDE_OK)
    st = nde_dataset_open(run->registry, name, NULL, split, 7, "check", &b);
  if (st != NDE_OK) {
    nde_check_record(run, what, NDE_CHECK_FAIL, NAN, NAN, NAN, "%s", nde_last_error());
    nde_dataset_destroy(&a);
    return;
  }
  nde_dataset_info info;
  nde_dataset_get_info(a, &info);
  size_t nx = info.input_size, ny = info.target_size, bad = 0, differ = 0;
  size_t count = info.count < 64 ? info.count : 64;
  double *x = malloc((2 * nx + 2 * ny) * sizeof *x), *y = x + nx, *x2 = y + ny, *y2 = x2 + nx;
  for (size_t k = 0; x && k < count; ++k) {
    nde_dataset_sample(a, k, x, y);
    nde_dataset_sample(b, k, x2, y2);
    for (size_t i = 0; i < nx; ++i)
      bad += !isfinite(x[i]), differ += x[i] != x2[i];
    for (size_t i = 0; i < ny; ++i) {
      bad += !isfinite(y[i]) || (info.n_classes && (y[i] < 0 || y[i] >= (double)info.n_classes ||
                                                    y[i] != floor(y[i])));
      differ += y[i] != y2[i];
    }
  }
  free(x);
  nde_dataset_destroy(&a);
  nde_dataset_destroy(&b);
  nde_check_record(run, what, bad == 0 && differ == 0 ? NDE_CHECK_PASS : NDE_CHECK_FAIL,
                   (double)(bad + differ), 0, 0,
                   "%zu samples of %zu -> %zu%s: %zu invalid values, %zu differ between two "
                   "opens with one seed",
                   count, nx, ny, info.n_classes ? " (class index)" : "", bad, differ);
}

nde_status nde_check_dataset(nde_check_run *run, const void *vtable) {
  (void)vtable;
  if (!nde_options_bool(nde_check_caps(run), "synthetic", 0)) {
    nde_check_record(run, "samples", NDE_CHECK_SKIP, NAN, NAN, NAN,
                     "reads data files (not \"synthetic\"): only load and vtable are checked");
    return NDE_OK;
  }
  const char *need = needs_option(run->plugin);
  if (need) {
    nde_check_record(run, "samples", NDE_CHECK_SKIP, NAN, NAN, NAN,
                     "needs option '%s' without a default: only load and vtable are checked", need);
    return NDE_OK;
  }
  check_split(run, "train");
  check_split(run, "test");
  return NDE_OK;
}
