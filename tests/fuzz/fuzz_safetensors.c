/*
 * safetensors files: the bytes are the file, read by nde_safetensors_read()
 * (the reader behind checkpoints, `nde eval` and problem files' parameter
 * files). An accepted file must hold what it says: every tensor's bytes
 * inside the file, nbytes = product(shape) x element size, every name
 * findable, every metadata entry readable. The harness reads every byte of
 * every tensor so the sanitizers see any out-of-range view.
 */
#include "config.h"

#include <string.h>

#include <nde/safetensors.h>

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *path = nde_fuzz_write(0, "file.safetensors", data, size);
  nde_safetensors *f = NULL;
  nde_status st = nde_safetensors_read(path, &f);
  nde_fuzz_expect_message(st, "nde_safetensors_read");
  if (st != NDE_OK) {
    if (f)
      nde_fuzz_fail("a refused file left an open handle");
    return 0;
  }
  size_t total = 0;
  volatile unsigned char sink = 0;
  for (size_t i = 0; i < nde_safetensors_count(f); ++i) {
    const nde_st_tensor *t = nde_safetensors_at(f, i);
    if (!t || !t->name || !t->name[0])
      nde_fuzz_fail("tensor %zu has no name", i);
    if (t->ndim < 0 || t->ndim > NDE_ST_MAX_DIMS || !nde_st_dtype_name(t->dtype))
      nde_fuzz_fail("tensor '%s' has ndim %d / dtype %d", t->name, t->ndim, (int)t->dtype);
    size_t elements = 1;
    for (int d = 0; d < t->ndim; ++d)
      elements *= (size_t)t->shape[d];
    if (elements * nde_st_dtype_size(t->dtype) != t->nbytes)
      nde_fuzz_fail("tensor '%s': %zu bytes for %zu elements", t->name, t->nbytes, elements);
    total += t->nbytes;
    if (total > size)
      nde_fuzz_fail("tensors claim %zu bytes of a %zu-byte file", total, size);
    const unsigned char *bytes = t->data;
    for (size_t b = 0; b < t->nbytes; ++b)
      sink ^= bytes[b];
    const nde_st_tensor *found;
    if (nde_safetensors_find(f, t->name, &found) != NDE_OK || found != t)
      nde_fuzz_fail("tensor '%s' is listed but not found", t->name);
    st = nde_safetensors_expect(f, t->name, t->dtype, elements, &found);
    if (st != NDE_OK)
      nde_fuzz_fail("tensor '%s' does not match its own dtype and size", t->name);
  }
  if (nde_safetensors_at(f, nde_safetensors_count(f)) != NULL)
    nde_fuzz_fail("a tensor past the end");
  for (size_t i = 0; i < nde_safetensors_metadata_count(f); ++i) {
    const char *key, *value;
    if (nde_safetensors_metadata_at(f, i, &key, &value) != NDE_OK || !key || !value)
      nde_fuzz_fail("metadata entry %zu unreadable", i);
    if (nde_safetensors_metadata(f, key) == NULL)
      nde_fuzz_fail("metadata '%s' listed but not found", key);
    sink ^= (unsigned char)strlen(value);
  }
  const nde_st_tensor *none;
  st = nde_safetensors_find(f, "no such tensor", &none);
  if (st == NDE_OK && strcmp(none->name, "no such tensor"))
    nde_fuzz_fail("find returned another tensor");
  nde_fuzz_expect_message(st, "nde_safetensors_find");
  nde_safetensors_destroy(&f);
  (void)sink;
  return 0;
}
