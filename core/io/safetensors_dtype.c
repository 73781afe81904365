/* safetensors element types: spellings and sizes. */
#include "config.h"

#include <nde/safetensors.h>

const char *nde_st_dtype_name(nde_st_dtype dtype) {
  switch (dtype) {
#define NDE_ST_NAME_(sym, str, size)                                             \
  case sym:                                                                      \
    return str;
    NDE_ST_DTYPE_LIST(NDE_ST_NAME_)
#undef NDE_ST_NAME_
  default:
    return NULL;
  }
}

size_t nde_st_dtype_size(nde_st_dtype dtype) {
  switch (dtype) {
#define NDE_ST_SIZE_(sym, str, size)                                             \
  case sym:                                                                      \
    return size;
    NDE_ST_DTYPE_LIST(NDE_ST_SIZE_)
#undef NDE_ST_SIZE_
  default:
    return 0;
  }
}
