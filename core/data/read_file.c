/* Reading a whole data file, plain or gzip, with every failure named. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include <nde/dataset.h>

nde_status nde_dataset_read_file(const char *path, size_t max_bytes, unsigned char **data,
                                 size_t *size) {
  *data = NULL;
  *size = 0;
  errno = 0;
  gzFile f = gzopen(path, "rb");
  if (!f)
    return nde_error(NDE_EIO, "%s: cannot open: %s", path,
                     errno ? strerror(errno) : "out of memory");
  gzbuffer(f, 1 << 17);
  size_t cap = 1 << 16, used = 0;
  unsigned char *buf = malloc(cap + 1);
  nde_status st = buf ? NDE_OK : nde_error(NDE_ENOMEM, "%s: out of memory", path);
  while (st == NDE_OK) {
    if (used == cap) {
      if (cap > max_bytes) {
        st = nde_error(NDE_EINVAL, "%s: larger than the %zu bytes allowed", path, max_bytes);
        break;
      }
      size_t grown = cap * 2;
      unsigned char *bigger = realloc(buf, grown + 1);
      if (!bigger) {
        st = nde_error(NDE_ENOMEM, "%s: out of memory reading %zu bytes", path, grown);
        break;
      }
      buf = bigger;
      cap = grown;
    }
    size_t want = cap - used;
    if (want > (1u << 30))
      want = 1u << 30;
    int got = gzread(f, buf + used, (unsigned)want);
    if (got < 0) {
      int code;
      const char *msg = gzerror(f, &code);
      st = nde_error(NDE_EIO, "%s: %s: %s", path,
                     code == Z_DATA_ERROR ? "corrupt compressed data" : "read error",
                     code == Z_ERRNO ? strerror(errno) : msg);
      break;
    }
    if (got == 0)
      break;
    used += (size_t)got;
    if (used > max_bytes) {
      st = nde_error(NDE_EINVAL, "%s: larger than the %zu bytes allowed", path, max_bytes);
      break;
    }
  }
  if (st == NDE_OK) {
    int code;
    gzerror(f, &code);
    if (code == Z_BUF_ERROR)
      st = nde_error(NDE_EIO, "%s: truncated: the compressed stream ends early", path);
  }
  int closed = gzclose(f);
  if (st == NDE_OK && closed == Z_BUF_ERROR)
    st = nde_error(NDE_EIO, "%s: truncated: the compressed stream ends early", path);
  else if (st == NDE_OK && closed != Z_OK)
    st = nde_error(NDE_EIO, "%s: error closing the file (zlib code %d)", path, closed);
  if (st != NDE_OK) {
    free(buf);
    return st;
  }
  buf[used] = 0;
  *data = buf;
  *size = used;
  return NDE_OK;
}
