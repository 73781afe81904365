/*
 * CSV datasets: the input is one split's file, opened through the csv
 * plugin as a pipeline's "data" opens it, then every sample read back.
 *
 * Input layout: byte 0 chooses the options
 *   bit 0: header = true; bit 1: task = classification;
 *   bits 2-3: delimiter (',', ';', tab, space);
 *   bits 4-5: target ([-1], [0], [0, -1], [1]);
 *   bit 6: gzip-compress the file (name it .gz); bit 7: classes = 3 (else 0: from the data);
 * the rest is the file.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "fuzz.h"

#define MAX_SAMPLES 256

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  unsigned flags = data[0];
  remove(nde_fuzz_write(0, "split.csv", "", 0));
  remove(nde_fuzz_write(0, "split.csv.gz", "", 0));
  const char *path = flags & 64 ? nde_fuzz_write_gz(0, "split.csv.gz", data + 1, size - 1)
                                : nde_fuzz_write(0, "split.csv", data + 1, size - 1);
  static const char *const delims[] = {",", ";", "\\t", " "};
  static const char *const targets[] = {"[-1]", "[0]", "[0, -1]", "[1]"};
  int classify = (flags & 2) != 0;
  char options[2048];
  snprintf(options, sizeof options,
           "{\"train\": \"%s\", \"header\": %s, \"task\": \"%s\", \"delimiter\": \"%s\", "
           "\"target\": %s, \"classes\": %d}",
           path, flags & 1 ? "true" : "false", classify ? "classification" : "regression",
           delims[(flags >> 2) & 3], targets[(flags >> 4) & 3], flags & 128 ? 3 : 0);

  nde_dataset *ds = NULL;
  nde_status st = nde_dataset_open(nde_fuzz_registry(), "csv", options, "train", 0, "data", &ds);
  nde_fuzz_expect_message(st, "csv open");
  if (st != NDE_OK)
    return 0;
  nde_dataset_info info;
  nde_dataset_get_info(ds, &info);
  if (info.count == 0 || info.input_size == 0 || info.target_size == 0 ||
      (classify && (info.target_size != 1 || info.n_classes == 0)))
    nde_fuzz_fail("csv accepted a split with count %zu, input_size %zu, target_size %zu, "
                  "%zu classes",
                  info.count, info.input_size, info.target_size, info.n_classes);
  double *x = malloc(info.input_size * sizeof *x);
  double *y = malloc(info.target_size * sizeof *y);
  size_t n = info.count < MAX_SAMPLES ? info.count : MAX_SAMPLES;
  for (size_t i = 0; i < n; ++i) {
    nde_dataset_sample(ds, i, x, y);
    for (size_t k = 0; k < info.input_size; ++k)
      if (!isfinite(x[k]))
        nde_fuzz_fail("sample %zu: input %zu is %g (the plugin refuses non-finite fields)", i,
                      k, x[k]);
    if (classify && !(y[0] >= 0 && y[0] < (double)info.n_classes))
      nde_fuzz_fail("sample %zu has class %g of %zu", i, y[0], info.n_classes);
  }
  free(x);
  free(y);
  nde_dataset_destroy(&ds);
  return 0;
}
