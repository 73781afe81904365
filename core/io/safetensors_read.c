/*
 * Reading safetensors files with full validation before anything is
 * handed out (see nde/safetensors.h for the checks).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nde/names.h>
#include <nde/safetensors.h>

#include "../util/internal.h"
#include "regular_file.h"

/* The reference implementation refuses headers above 100 MB; so do we. */
#define ST_MAX_HEADER ((uint64_t)100 * 1000 * 1000)

struct nde_safetensors {
  char *path;
  unsigned char *file; /* whole file */
  size_t size;
  json_t *header;
  size_t count;
  nde_st_tensor *tensors; /* sorted by data offset */
  size_t n_meta;
  const char **meta; /* key, value pairs borrowed from header */
};

static nde_status parse_dtype(const char *path, const char *name, const json_t *v,
                              nde_st_dtype *out) {
  const char *s = json_string_value(v);
  if (!s)
    return nde_error(NDE_EPARSE, "%s: tensor '%s': 'dtype' must be a string", path, name);
  for (int d = 0; d < NDE_ST_DTYPE_COUNT; ++d)
    if (!strcmp(s, nde_st_dtype_name((nde_st_dtype)d))) {
      *out = (nde_st_dtype)d;
      return NDE_OK;
    }
  return nde_error(NDE_EPARSE, "%s: tensor '%s': unknown dtype '%s'", path, name, s);
}

static int get_u64(const json_t *v, uint64_t *out) {
  if (!json_is_integer(v) || json_integer_value(v) < 0)
    return 0;
  *out = (uint64_t)json_integer_value(v);
  return 1;
}

static nde_status parse_tensor(nde_safetensors *f, const char *name, const json_t *entry,
                               size_t buffer_size, nde_st_tensor *t) {
  const char *path = f->path;
  if (!json_is_object(entry))
    return nde_error(NDE_EPARSE, "%s: tensor '%s': expected an object, got %s", path, name,
                     nde_json_type_name(entry));
  const char *key;
  json_t *value;
  json_object_foreach((json_t *)entry, key, value) {
    (void)value;
    if (strcmp(key, "dtype") && strcmp(key, "shape") && strcmp(key, "data_offsets"))
      return nde_error(NDE_EPARSE, "%s: tensor '%s': unknown field '%s'", path, name, key);
  }
  t->name = name;
  NDE_TRY(parse_dtype(path, name, json_object_get(entry, "dtype"), &t->dtype));
  const json_t *shape = json_object_get(entry, "shape");
  if (!json_is_array(shape) || json_array_size(shape) > NDE_ST_MAX_DIMS)
    return nde_error(NDE_EPARSE, "%s: tensor '%s': 'shape' must be an array of at most %d extents",
                     path, name, NDE_ST_MAX_DIMS);
  t->ndim = (int)json_array_size(shape);
  uint64_t elements = 1;
  for (int d = 0; d < t->ndim; ++d) {
    if (!get_u64(json_array_get(shape, (size_t)d), &t->shape[d]))
      return nde_error(NDE_EPARSE, "%s: tensor '%s': shape[%d] is not a non-negative integer",
                       path, name, d);
    if (t->shape[d] != 0 && elements > UINT64_MAX / t->shape[d])
      return nde_error(NDE_EPARSE, "%s: tensor '%s': shape overflows", path, name);
    elements *= t->shape[d];
  }
  const json_t *off = json_object_get(entry, "data_offsets");
  uint64_t begin, end;
  if (!json_is_array(off) || json_array_size(off) != 2 || !get_u64(json_array_get(off, 0), &begin) ||
      !get_u64(json_array_get(off, 1), &end))
    return nde_error(NDE_EPARSE,
                     "%s: tensor '%s': 'data_offsets' must be [begin, end] non-negative integers",
                     path, name);
  if (begin > end || end > buffer_size)
    return nde_error(NDE_EPARSE,
                     "%s: tensor '%s': data_offsets [%llu, %llu] lie outside the %zu-byte data "
                     "buffer",
                     path, name, (unsigned long long)begin, (unsigned long long)end, buffer_size);
  size_t esize = nde_st_dtype_size(t->dtype);
  if (elements > UINT64_MAX / esize || elements * esize != end - begin)
    return nde_error(NDE_EPARSE,
                     "%s: tensor '%s': %s shape holds %llu elements (%llu bytes) but data_offsets "
                     "span %llu bytes",
                     path, name, nde_st_dtype_name(t->dtype), (unsigned long long)elements,
                     (unsigned long long)(elements * esize), (unsigned long long)(end - begin));
  t->nbytes = (size_t)(end - begin);
  t->data = (const void *)(uintptr_t)begin; /* an offset until the layout is checked */
  return NDE_OK;
}

static int by_offset(const void *a, const void *b) {
  uintptr_t x = (uintptr_t)((const nde_st_tensor *)a)->data;
  uintptr_t y = (uintptr_t)((const nde_st_tensor *)b)->data;
  if (x != y)
    return x < y ? -1 : 1;
  size_t nx = ((const nde_st_tensor *)a)->nbytes, ny = ((const nde_st_tensor *)b)->nbytes;
  return nx < ny ? -1 : nx > ny;
}

static nde_status parse_metadata(nde_safetensors *f, const json_t *meta) {
  if (!json_is_object(meta))
    return nde_error(NDE_EPARSE, "%s: '__metadata__' must be an object of strings", f->path);
  f->n_meta = json_object_size(meta);
  f->meta = calloc(2 * f->n_meta + 1, sizeof *f->meta);
  if (!f->meta)
    return nde_error(NDE_ENOMEM, "out of memory");
  size_t i = 0;
  const char *key;
  json_t *value;
  json_object_foreach((json_t *)meta, key, value) {
    if (!json_is_string(value))
      return nde_error(NDE_EPARSE, "%s: __metadata__ '%s' is %s, not a string", f->path, key,
                       nde_json_type_name(value));
    f->meta[2 * i] = key;
    f->meta[2 * i + 1] = json_string_value(value);
    ++i;
  }
  return NDE_OK;
}

/* Every byte of the buffer belongs to exactly one tensor, in offset order. */
static nde_status check_layout(nde_safetensors *f, size_t buffer_size) {
  qsort(f->tensors, f->count, sizeof *f->tensors, by_offset);
  uint64_t at = 0;
  for (size_t i = 0; i < f->count; ++i) {
    const nde_st_tensor *t = &f->tensors[i];
    uint64_t begin = (uintptr_t)t->data;
    if (begin < at)
      return nde_error(NDE_EPARSE, "%s: tensor '%s' overlaps tensor '%s'", f->path, t->name,
                       f->tensors[i - 1].name);
    if (begin > at)
      return nde_error(NDE_EPARSE, "%s: bytes %llu to %llu of the data buffer (before tensor "
                                   "'%s') belong to no tensor",
                       f->path, (unsigned long long)at, (unsigned long long)begin, t->name);
    at = begin + t->nbytes;
  }
  if (at != buffer_size)
    return nde_error(NDE_EPARSE, "%s: %llu bytes after the last tensor belong to no tensor",
                     f->path, (unsigned long long)(buffer_size - at));
  return NDE_OK;
}

static uint64_t le64(const unsigned char *b) {
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i)
    n = n << 8 | b[i];
  return n;
}

/* The 8-byte header length @p n of a file of @p file_size bytes. */
static nde_status check_header_length(const char *path, uint64_t n, uint64_t file_size) {
  if (n < 2 || n > ST_MAX_HEADER || n > file_size - 8)
    return nde_error(NDE_EPARSE,
                     "%s: header length %llu is out of bounds (2 to %llu, and within the "
                     "file's %llu bytes): not a safetensors file?",
                     path, (unsigned long long)n, (unsigned long long)ST_MAX_HEADER,
                     (unsigned long long)file_size);
  return NDE_OK;
}

static nde_status parse_file(nde_safetensors *f) {
  const char *path = f->path;
  if (f->size < 8)
    return nde_error(NDE_EPARSE, "%s: %zu bytes, too short for the 8-byte header length",
                     path, f->size);
  uint64_t n = le64(f->file);
  NDE_TRY(check_header_length(path, n, f->size));
  const char *text = (const char *)f->file + 8;
  if (text[0] != '{')
    return nde_error(NDE_EPARSE, "%s: the header does not start with '{'", path);
  json_error_t error;
  f->header = json_loadb(text, (size_t)n, JSON_REJECT_DUPLICATES, &error);
  if (!f->header)
    return nde_error(NDE_EPARSE, "%s: header: invalid JSON at byte %d: %s", path, error.position,
                     error.text);
  if (!json_is_object(f->header))
    return nde_error(NDE_EPARSE, "%s: the header is not a JSON object", path);
  size_t buffer_size = f->size - 8 - (size_t)n;
  const unsigned char *buffer = f->file + 8 + n;
  const json_t *meta = json_object_get(f->header, "__metadata__");
  if (meta)
    NDE_TRY(parse_metadata(f, meta));
  f->count = json_object_size(f->header) - (meta ? 1 : 0);
  f->tensors = calloc(f->count + 1, sizeof *f->tensors);
  if (!f->tensors)
    return nde_error(NDE_ENOMEM, "out of memory");
  size_t i = 0;
  const char *name;
  json_t *entry;
  json_object_foreach(f->header, name, entry) {
    if (!strcmp(name, "__metadata__"))
      continue;
    if (!name[0])
      return nde_error(NDE_EPARSE, "%s: a tensor has an empty name", path);
    NDE_TRY(parse_tensor(f, name, entry, buffer_size, &f->tensors[i++]));
  }
  NDE_TRY(check_layout(f, buffer_size));
  for (i = 0; i < f->count; ++i)
    f->tensors[i].data = buffer + (uintptr_t)f->tensors[i].data;
  return NDE_OK;
}

/* Read exactly @p n bytes; a file that ends early changed under us. */
static nde_status read_exact(int fd, const char *path, unsigned char *buf, size_t n,
                             uint64_t file_size) {
  size_t done = 0;
  while (done < n) {
    size_t want = n - done < ((size_t)1 << 30) ? n - done : ((size_t)1 << 30);
    ssize_t got = read(fd, buf + done, want);
    if (got < 0 && errno == EINTR)
      continue;
    if (got < 0)
      return nde_error(NDE_EIO, "%s: read error: %s", path, strerror(errno));
    if (got == 0)
      return nde_error(NDE_EIO, "%s: ended before its %llu bytes were read (changed while "
                                "being read?)",
                       path, (unsigned long long)file_size);
    done += (size_t)got;
  }
  return NDE_OK;
}

/*
 * A regular file, read whole once its header length is known to fit: no
 * allocation beyond the file's size, nothing read from devices or FIFOs.
 */
static nde_status read_whole(const char *path, unsigned char **data, size_t *size) {
  int fd;
  uint64_t file_size;
  NDE_TRY(nde_open_regular_file(path, &fd, &file_size));
  unsigned char head[8], extra;
  unsigned char *buf = NULL;
  nde_status st = NDE_OK;
  if (file_size < 8)
    st = nde_error(NDE_EPARSE, "%s: %llu bytes, too short for the 8-byte header length", path,
                   (unsigned long long)file_size);
  if (st == NDE_OK)
    st = read_exact(fd, path, head, 8, file_size);
  if (st == NDE_OK)
    st = check_header_length(path, le64(head), file_size);
  if (st == NDE_OK && file_size > SIZE_MAX / 2)
    st = nde_error(NDE_ENOMEM, "%s: %llu bytes do not fit in memory", path,
                   (unsigned long long)file_size);
  if (st == NDE_OK && !(buf = malloc((size_t)file_size)))
    st = nde_error(NDE_ENOMEM, "%s: out of memory for its %llu bytes", path,
                   (unsigned long long)file_size);
  if (st == NDE_OK) {
    memcpy(buf, head, 8);
    st = read_exact(fd, path, buf + 8, (size_t)file_size - 8, file_size);
  }
  if (st == NDE_OK && read(fd, &extra, 1) > 0)
    st = nde_error(NDE_EIO, "%s: grew past its %llu bytes while being read", path,
                   (unsigned long long)file_size);
  close(fd);
  if (st != NDE_OK) {
    free(buf);
    return st;
  }
  *data = buf;
  *size = (size_t)file_size;
  return NDE_OK;
}

nde_status nde_safetensors_read(const char *path, nde_safetensors **out) {
  *out = NULL;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
  return nde_error(NDE_EUNSUPPORTED, "%s: safetensors needs a little-endian host", path);
#endif
  nde_safetensors *f = calloc(1, sizeof *f);
  if (!f || !(f->path = strdup(path))) {
    free(f);
    return nde_error(NDE_ENOMEM, "out of memory");
  }
  nde_status st = read_whole(path, &f->file, &f->size);
  if (st == NDE_OK)
    st = parse_file(f);
  return NDE_HAND_OVER(st, f, out, nde_safetensors_destroy);
}

void nde_safetensors_destroy(nde_safetensors **file) {
  if (!file || !*file)
    return;
  nde_safetensors *f = *file;
  json_decref(f->header);
  free(f->tensors);
  free(f->meta);
  free(f->file);
  free(f->path);
  free(f);
  *file = NULL;
}

size_t nde_safetensors_count(const nde_safetensors *f) { return f->count; }

const nde_st_tensor *nde_safetensors_at(const nde_safetensors *f, size_t index) {
  return index < f->count ? &f->tensors[index] : NULL;
}

nde_status nde_safetensors_find(const nde_safetensors *f, const char *name,
                                const nde_st_tensor **out) {
  *out = NULL;
  for (size_t i = 0; i < f->count; ++i)
    if (!strcmp(f->tensors[i].name, name)) {
      *out = &f->tensors[i];
      return NDE_OK;
    }
  const char **names = malloc((f->count + 1) * sizeof *names);
  const char *guess = NULL;
  if (names) {
    for (size_t i = 0; i < f->count; ++i)
      names[i] = f->tensors[i].name;
    guess = nde_suggest_name(name, names, f->count);
  }
  nde_status st = guess ? nde_error(NDE_ENOTFOUND, "%s: no tensor '%s'; did you mean '%s'?",
                                    f->path, name, guess)
                        : nde_error(NDE_ENOTFOUND, "%s: no tensor '%s'", f->path, name);
  free(names);
  return st;
}

nde_status nde_safetensors_expect(const nde_safetensors *f, const char *name, nde_st_dtype dtype,
                                  size_t count, const nde_st_tensor **out) {
  NDE_TRY(nde_safetensors_find(f, name, out));
  const nde_st_tensor *t = *out;
  size_t have = t->nbytes / nde_st_dtype_size(t->dtype);
  if (t->dtype != dtype || have != count) {
    *out = NULL;
    return nde_error(NDE_EINVAL, "%s: tensor '%s' is %s with %zu elements; expected %s with %zu",
                     f->path, name, nde_st_dtype_name(t->dtype), have, nde_st_dtype_name(dtype),
                     count);
  }
  return NDE_OK;
}

size_t nde_safetensors_metadata_count(const nde_safetensors *f) { return f->n_meta; }

nde_status nde_safetensors_metadata_at(const nde_safetensors *f, size_t index, const char **key,
                                       const char **value) {
  if (index >= f->n_meta)
    return nde_error(NDE_EINVAL, "%s: no metadata entry %zu (there are %zu)", f->path, index,
                     f->n_meta);
  *key = f->meta[2 * index];
  *value = f->meta[2 * index + 1];
  return NDE_OK;
}

const char *nde_safetensors_metadata(const nde_safetensors *f, const char *key) {
  for (size_t i = 0; i < f->n_meta; ++i)
    if (!strcmp(f->meta[2 * i], key))
      return f->meta[2 * i + 1];
  return NULL;
}
