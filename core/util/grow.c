/* Growing arrays (core/util/internal.h): one realloc-doubling rule for libnde. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "internal.h"

nde_status nde_resize(void *items, size_t count, size_t size) {
  void *old, *p;
  memcpy(&old, items, sizeof old);
  if (count && size > (size_t)-1 / count)
    return nde_error(NDE_ENOMEM, "out of memory (%zu elements of %zu bytes)", count, size);
  p = realloc(old, count * size);
  if (!p && count)
    return nde_error(NDE_ENOMEM, "out of memory");
  memcpy(items, &p, sizeof p);
  return NDE_OK;
}

nde_status nde_grow(void *items, size_t n, size_t *cap, size_t size, size_t first) {
  if (n < *cap)
    return NDE_OK;
  size_t nc = *cap ? 2 * *cap : first;
  NDE_TRY(nde_resize(items, nc, size));
  *cap = nc;
  return NDE_OK;
}
