/*
 * Argument checks the dataset plugins share: the train/test split
 * (nde/dataset.h) and fixed-length number arrays such as u0 (nde/options.h).
 */
#include "config.h"

#include <math.h>
#include <string.h>

#include <nde/dataset.h>
#include <nde/options.h>

nde_status nde_dataset_split_index(const char *plugin, const char *split, int *which) {
  int w;
  if (!strcmp(split, "train"))
    w = 0;
  else if (!strcmp(split, "test"))
    w = 1;
  else
    return nde_error(NDE_EINVAL, "unknown split '%s' (%s has \"train\" and \"test\")", split,
                     plugin);
  if (which)
    *which = w;
  return NDE_OK;
}

nde_status nde_options_numbers(const nde_options *o, const char *key, size_t n, double *out) {
  if (nde_options_array_size(o, key) != n)
    return nde_error(NDE_EINVAL, "%s: expected %zu numbers", key, n);
  for (size_t i = 0; i < n; ++i)
    out[i] = nde_options_array_number(o, key, i, NAN);
  for (size_t i = 0; i < n; ++i)
    if (!isfinite(out[i]))
      return nde_error(NDE_EINVAL, "%s: expected %zu finite numbers", key, n);
  return NDE_OK;
}
