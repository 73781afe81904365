/*
 * IDX datasets (MNIST's format), plain and gzip: the input is one split's
 * images and labels files, opened through the idx plugin exactly as a
 * pipeline's "data" opens them, then every sample read back.
 *
 * Input layout: byte 0 chooses how the two files are stored and opened
 *   bit 0: the images file is named .gz and holds the bytes as given (a raw
 *          gzip stream to mutate); bit 1: the same for the labels file;
 *   bit 2: gzip-compress the images bytes on the way (valid streams of
 *          fuzzed IDX data); bit 3: the same for the labels;
 *   bits 4-5: scale (unit, symmetric, none); bit 6: limit = 3;
 *   bit 7: classes = 2 (else 10);
 * bytes 1-2: the images file's length L (little-endian, clamped to what is
 * there); then L bytes of images, the rest is the labels file.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

/* Samples read back per input (all of them up to this). */
#define MAX_SAMPLES 256

static const char *store(int slot, const char *name, int gz_name, int compress,
                         const uint8_t *bytes, size_t n) {
  char file[64];
  snprintf(file, sizeof file, "%s%s", name, gz_name || compress ? ".gz" : "");
  return compress ? nde_fuzz_write_gz(slot, file, bytes, n) : nde_fuzz_write(slot, file, bytes, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 3)
    return 0;
  unsigned flags = data[0];
  size_t len = (size_t)data[1] | (size_t)data[2] << 8;
  if (len > size - 3)
    len = size - 3;
  const uint8_t *images = data + 3, *labels = data + 3 + len;
  size_t n_labels = size - 3 - len;

  /* remove the other spelling of each file so the plugin sees only this one */
  remove(nde_fuzz_write(0, "img", "", 0));
  remove(nde_fuzz_write(0, "img.gz", "", 0));
  remove(nde_fuzz_write(0, "lab", "", 0));
  remove(nde_fuzz_write(0, "lab.gz", "", 0));
  const char *img = store(0, "img", flags & 1, flags & 4, images, len);
  const char *lab = store(1, "lab", flags & 2, flags & 8, labels, n_labels);

  static const char *const scales[] = {"unit", "symmetric", "none", "unit"};
  char options[3072];
  snprintf(options, sizeof options,
           "{\"train_images\": \"%s\", \"train_labels\": \"%s\", \"scale\": \"%s\", "
           "\"limit\": %d, \"classes\": %d}",
           img, lab, scales[(flags >> 4) & 3], flags & 64 ? 3 : 0, flags & 128 ? 2 : 10);

  nde_dataset *ds = NULL;
  nde_status st = nde_dataset_open(nde_fuzz_registry(), "idx", options, "train", 0, "data", &ds);
  nde_fuzz_expect_message(st, "idx open");
  if (st != NDE_OK)
    return 0;
  nde_dataset_info info;
  nde_dataset_get_info(ds, &info);
  if (info.count == 0 || info.input_size == 0 || info.target_size != 1 || info.n_classes == 0)
    nde_fuzz_fail("idx accepted a split with count %zu, input_size %zu, target_size %zu, "
                  "%zu classes",
                  info.count, info.input_size, info.target_size, info.n_classes);
  if (!(flags & 5) && info.input_size > len)
    nde_fuzz_fail("idx reports %zu values per sample from a %zu-byte file", info.input_size, len);
  if ((flags & 64) && info.count > 3)
    nde_fuzz_fail("limit 3 gave %zu samples", info.count);
  double *x = malloc(info.input_size * sizeof *x), y;
  size_t n = info.count < MAX_SAMPLES ? info.count : MAX_SAMPLES;
  for (size_t i = 0; i < n; ++i) {
    nde_dataset_sample(ds, i, x, &y);
    if (!(y >= 0 && y < (double)info.n_classes))
      nde_fuzz_fail("sample %zu has label %g of %zu classes", i, y, info.n_classes);
  }
  free(x);
  nde_dataset_destroy(&ds);
  return 0;
}
