/*
 * Writing safetensors files atomically: header and data go to a temporary
 * file beside the target, which is fsync'ed and renamed over it; on any
 * failure the temporary file is removed and the target left as it was.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include <nde/safetensors.h>

/* Product of the extents times the element size, or SIZE_MAX on overflow. */
static size_t tensor_bytes(const nde_st_tensor *t) {
  size_t n = nde_st_dtype_size(t->dtype);
  for (int d = 0; d < t->ndim; ++d) {
    if (t->shape[d] != 0 && n > SIZE_MAX / t->shape[d])
      return SIZE_MAX;
    n *= (size_t)t->shape[d];
  }
  return n;
}

static nde_status check_tensors(const char *path, const nde_st_tensor *t, size_t count) {
  for (size_t i = 0; i < count; ++i) {
    const char *name = t[i].name;
    if (!name || !name[0])
      return nde_error(NDE_EINVAL, "%s: tensor %zu has no name", path, i);
    if (!strcmp(name, "__metadata__"))
      return nde_error(NDE_EINVAL, "%s: '__metadata__' is reserved, not a tensor name", path);
    if (!nde_st_dtype_name(t[i].dtype))
      return nde_error(NDE_EINVAL, "%s: tensor '%s': invalid dtype %d", path, name,
                       (int)t[i].dtype);
    if (t[i].ndim < 0 || t[i].ndim > NDE_ST_MAX_DIMS)
      return nde_error(NDE_EINVAL, "%s: tensor '%s': %d dimensions (0 to %d allowed)", path,
                       name, t[i].ndim, NDE_ST_MAX_DIMS);
    size_t bytes = tensor_bytes(&t[i]);
    if (bytes == SIZE_MAX)
      return nde_error(NDE_EINVAL, "%s: tensor '%s': shape too large", path, name);
    if (bytes && !t[i].data)
      return nde_error(NDE_EINVAL, "%s: tensor '%s': no data", path, name);
    for (size_t j = 0; j < i; ++j)
      if (!strcmp(t[j].name, name))
        return nde_error(NDE_EINVAL, "%s: tensor name '%s' is used twice", path, name);
  }
  return NDE_OK;
}

/* The JSON header, padded with spaces so the data starts 8-byte aligned. */
static nde_status build_header(const char *path, const nde_st_tensor *t, size_t count,
                               const char *const *metadata, size_t n_metadata, char **out,
                               size_t *out_len) {
  json_t *root = json_object();
  json_t *meta = n_metadata ? json_object() : NULL;
  int bad = !root || (n_metadata && !meta);
  for (size_t i = 0; !bad && i < n_metadata; ++i) {
    const char *k = metadata[2 * i], *v = metadata[2 * i + 1];
    if (!k || !v) {
      json_decref(root);
      json_decref(meta);
      return nde_error(NDE_EINVAL, "%s: metadata entry %zu has a NULL key or value", path, i);
    }
    bad |= json_object_set_new(meta, k, json_string(v)) != 0;
  }
  if (meta)
    bad |= json_object_set_new(root, "__metadata__", meta) != 0;
  size_t offset = 0;
  for (size_t i = 0; !bad && i < count; ++i) {
    json_t *shape = json_array();
    for (int d = 0; shape && d < t[i].ndim; ++d)
      bad |= json_array_append_new(shape, json_integer((json_int_t)t[i].shape[d])) != 0;
    size_t bytes = tensor_bytes(&t[i]);
    json_t *entry = json_pack("{s:s, s:o, s:[I, I]}", "dtype", nde_st_dtype_name(t[i].dtype),
                              "shape", shape, "data_offsets", (json_int_t)offset,
                              (json_int_t)(offset + bytes));
    bad |= !entry || json_object_set_new(root, t[i].name, entry) != 0;
    offset += bytes;
  }
  char *text = bad ? NULL : json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
  json_decref(root);
  if (!text)
    return nde_error(NDE_ENOMEM, "%s: cannot build the header (out of memory or invalid UTF-8 in "
                                 "a name or metadata)",
                     path);
  size_t len = strlen(text), padded = (len + 7) & ~(size_t)7;
  char *buf = malloc(padded + 1);
  if (!buf) {
    free(text);
    return nde_error(NDE_ENOMEM, "out of memory");
  }
  memcpy(buf, text, len);
  memset(buf + len, ' ', padded - len);
  buf[padded] = 0;
  free(text);
  *out = buf;
  *out_len = padded;
  return NDE_OK;
}

static int write_all(int fd, const void *data, size_t n) {
  const char *p = data;
  while (n > 0) {
    ssize_t w = write(fd, p, n > (1u << 30) ? (1u << 30) : n);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      return -1;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* fsync the folder holding path, so the rename itself is durable. */
static void sync_parent(const char *path) {
  char dir[4096];
  snprintf(dir, sizeof dir, "%s", path);
  char *slash = strrchr(dir, '/');
  if (slash == dir)
    slash[1] = 0;
  else if (slash)
    *slash = 0;
  else
    snprintf(dir, sizeof dir, ".");
  int fd = open(dir, O_RDONLY | O_DIRECTORY);
  if (fd >= 0) {
    fsync(fd);
    close(fd);
  }
}

nde_status nde_safetensors_write(const char *path, const nde_st_tensor *tensors, size_t count,
                                 const char *const *metadata, size_t n_metadata) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
  return nde_error(NDE_EUNSUPPORTED, "%s: safetensors needs a little-endian host", path);
#endif
  if (!path || !path[0])
    return nde_error(NDE_EINVAL, "safetensors: no file name given");
  if (count && !tensors)
    return nde_error(NDE_EINVAL, "%s: no tensors given", path);
  NDE_TRY(check_tensors(path, tensors, count));
  char *header = NULL;
  size_t header_len = 0;
  NDE_TRY(build_header(path, tensors, count, metadata, n_metadata, &header, &header_len));

  size_t tmp_len = strlen(path) + 16;
  char *tmp = malloc(tmp_len);
  if (!tmp) {
    free(header);
    return nde_error(NDE_ENOMEM, "out of memory");
  }
  snprintf(tmp, tmp_len, "%s.tmp-XXXXXX", path);
  int fd = mkstemp(tmp);
  if (fd < 0) {
    int err = errno;
    free(header);
    free(tmp);
    return nde_error(NDE_EWRITE, "%s: cannot create a temporary file beside it: %s", path,
                     strerror(err));
  }
  unsigned char len8[8];
  for (int i = 0; i < 8; ++i)
    len8[i] = (unsigned char)((uint64_t)header_len >> (8 * i));
  int failed = write_all(fd, len8, 8) || write_all(fd, header, header_len);
  for (size_t i = 0; !failed && i < count; ++i)
    failed = write_all(fd, tensors[i].data, tensor_bytes(&tensors[i]));
  int err = errno;
  if (!failed && fsync(fd) != 0) {
    failed = 1;
    err = errno;
  }
  if (close(fd) != 0 && !failed) {
    failed = 1;
    err = errno;
  }
  if (!failed && rename(tmp, path) != 0) {
    failed = 1;
    err = errno;
  }
  free(header);
  if (failed) {
    unlink(tmp);
    free(tmp);
    return nde_error(NDE_EWRITE, "%s: write failed: %s", path, strerror(err));
  }
  free(tmp);
  sync_parent(path);
  return NDE_OK;
}
