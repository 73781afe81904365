/* Reading data files, plain or gzip, whole or as a stream, with every failure named. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>

#include <nde/dataset.h>

#include "../io/regular_file.h"

struct nde_data_file {
  gzFile gz;
  char *path;
};

nde_status nde_data_file_open(const char *path, nde_data_file **out) {
  *out = NULL;
  int fd;
  uint64_t size;
  NDE_TRY(nde_open_regular_file(path, &fd, &size));
  nde_data_file *f = calloc(1, sizeof *f);
  if (!f || !(f->path = strdup(path))) {
    free(f);
    close(fd);
    return nde_error(NDE_ENOMEM, "%s: out of memory", path);
  }
  errno = 0;
  f->gz = gzdopen(fd, "rb");
  if (!f->gz) {
    close(fd);
    nde_status st = nde_error(NDE_EIO, "%s: cannot open: %s", path,
                              errno ? strerror(errno) : "out of memory");
    free(f->path);
    free(f);
    return st;
  }
  gzbuffer(f->gz, 1 << 17);
  *out = f;
  return NDE_OK;
}

const char *nde_data_file_path(const nde_data_file *file) { return file->path; }

nde_status nde_data_file_read(nde_data_file *file, void *buf, size_t n, size_t *got) {
  *got = 0;
  while (*got < n) {
    size_t want = n - *got < (1u << 30) ? n - *got : (1u << 30);
    int r = gzread(file->gz, (unsigned char *)buf + *got, (unsigned)want);
    if (r < 0) {
      int code;
      const char *msg = gzerror(file->gz, &code);
      return nde_error(NDE_EIO, "%s: %s: %s", file->path,
                       code == Z_DATA_ERROR ? "corrupt compressed data" : "read error",
                       code == Z_ERRNO ? strerror(errno) : msg);
    }
    if (r == 0)
      break;
    *got += (size_t)r;
  }
  if (*got < n) {
    int code;
    gzerror(file->gz, &code);
    if (code == Z_BUF_ERROR)
      return nde_error(NDE_EIO, "%s: truncated: the compressed stream ends early", file->path);
  }
  return NDE_OK;
}

/* Close and free; the status of gzclose as a message only when @p report. */
static nde_status close_file(nde_data_file *f, int report) {
  int closed = gzclose(f->gz);
  nde_status st = NDE_OK;
  if (report && closed == Z_BUF_ERROR)
    st = nde_error(NDE_EIO, "%s: truncated: the compressed stream ends early", f->path);
  else if (report && closed != Z_OK)
    st = nde_error(NDE_EIO, "%s: error closing the file (zlib code %d)", f->path, closed);
  free(f->path);
  free(f);
  return st;
}

nde_status nde_data_file_destroy(nde_data_file **file) {
  if (!file || !*file)
    return NDE_OK;
  nde_data_file *f = *file;
  *file = NULL;
  return close_file(f, 1);
}

nde_status nde_dataset_read_file(const char *path, size_t max_bytes, unsigned char **data,
                                 size_t *size) {
  *data = NULL;
  *size = 0;
  nde_data_file *f;
  NDE_TRY(nde_data_file_open(path, &f));
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
    size_t got;
    st = nde_data_file_read(f, buf + used, cap - used, &got);
    if (st != NDE_OK)
      break;
    used += got;
    if (used > max_bytes) {
      st = nde_error(NDE_EINVAL, "%s: larger than the %zu bytes allowed", path, max_bytes);
      break;
    }
    if (used < cap)
      break; /* the end of the content */
  }
  nde_status closed = close_file(f, st == NDE_OK); /* keep the first failure's message */
  if (st == NDE_OK)
    st = closed;
  if (st != NDE_OK) {
    free(buf);
    return st;
  }
  buf[used] = 0;
  *data = buf;
  *size = used;
  return NDE_OK;
}
