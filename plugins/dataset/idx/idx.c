/*
 * The `idx` dataset: image classification sets in the IDX format of MNIST
 * (LeCun, Cortes, Burges: "THE MNIST DATABASE of handwritten digits",
 * http://yann.lecun.com/exdb/mnist/, section "FILE FORMATS"), plain or
 * gzip-compressed: Fashion-MNIST, MNIST, KMNIST, EMNIST...
 *
 * An IDX file is a 4-byte big-endian magic 0x00 0x00 TYPE NDIM, NDIM
 * big-endian 32-bit extents, then the elements, big-endian, row-major.
 * Images are an NDIM ≥ 2 array (count, rows, cols, ...); labels an NDIM = 1
 * array of unsigned bytes. Every inconsistency — wrong magic, unknown type,
 * a size that does not match the header, trailing bytes, different counts,
 * a label out of range — is an error naming the file.
 *
 * Files are streamed: after the header only the bytes it promises are read
 * (only those of the first `limit` items when set), so a gzip bomb or a
 * header that lies costs at most the memory of the declared shape.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <sys/stat.h>

#include <nde/dataset.h>

/* Refuse files claiming more than this (gzip bombs, corrupt headers): 8 GiB. */
#define IDX_MAX_BYTES ((size_t)8 << 30)

enum { SCALE_NONE, SCALE_UNIT, SCALE_SYMMETRIC };

typedef struct idx_array {
  unsigned char *file; /* the data read: every item, or the first `limit` */
  size_t file_size;
  unsigned type;       /* 0x08 ubyte ... 0x0E double */
  unsigned ndim;
  size_t dims[8];
  size_t elem_size;
  const unsigned char *data; /* first element */
} idx_array;

typedef struct idx_set {
  idx_array images, labels;
  size_t count, input_size, n_classes;
  int scale;
} idx_set;

static size_t idx_type_size(unsigned type) {
  switch (type) {
  case 0x08: /* unsigned byte */
  case 0x09: /* signed byte */
    return 1;
  case 0x0B: /* short */
    return 2;
  case 0x0C: /* int */
  case 0x0D: /* float */
    return 4;
  case 0x0E: /* double */
    return 8;
  default:
    return 0;
  }
}

static uint32_t be32(const unsigned char *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Element i of an IDX array as a double (big-endian decoding). */
static double idx_value(const idx_array *a, size_t i) {
  const unsigned char *p = a->data + i * a->elem_size;
  switch (a->type) {
  case 0x08:
    return p[0];
  case 0x09:
    return (double)(int8_t)p[0];
  case 0x0B:
    return (double)(int16_t)(uint16_t)((unsigned)p[0] << 8 | p[1]);
  case 0x0C:
    return (double)(int32_t)be32(p);
  case 0x0D: {
    uint32_t bits = be32(p);
    float f;
    memcpy(&f, &bits, 4);
    return f;
  }
  case 0x0E: {
    uint64_t bits = (uint64_t)be32(p) << 32 | be32(p + 4);
    double d;
    memcpy(&d, &bits, 8);
    return d;
  }
  default:
    return NAN;
  }
}

enum { ROLE_IMAGES, ROLE_LABELS };

/* Read the magic and extents, and check them against what @p role needs. */
static nde_status idx_header(nde_data_file *f, const char *path, int role, idx_array *a) {
  unsigned char b[4 * 8];
  size_t got;
  NDE_TRY(nde_data_file_read(f, b, 4, &got));
  if (got < 4)
    return nde_error(NDE_EPARSE, "%s: not an IDX file: %zu bytes, shorter than the 4-byte magic",
                     path, got);
  uint32_t magic = be32(b);
  a->type = b[2];
  a->ndim = b[3];
  a->elem_size = idx_type_size(a->type);
  if (b[0] != 0 || b[1] != 0 || a->elem_size == 0 || a->ndim == 0 || a->ndim > 8)
    return nde_error(NDE_EPARSE,
                     "%s: not an IDX file: magic 0x%08X (expected 0x0000TTNN with type TT in "
                     "08, 09, 0B, 0C, 0D, 0E and 1 <= NN <= 8 dimensions)",
                     path, magic);
  size_t header = 4 + 4 * (size_t)a->ndim;
  NDE_TRY(nde_data_file_read(f, b, header - 4, &got));
  if (got < header - 4)
    return nde_error(NDE_EPARSE, "%s: truncated: %zu bytes, shorter than the %zu-byte header",
                     path, 4 + got, header);
  size_t elements = 1;
  for (unsigned d = 0; d < a->ndim; ++d) {
    a->dims[d] = be32(b + 4 * d);
    if (a->dims[d] != 0 && elements > IDX_MAX_BYTES / a->dims[d])
      return nde_error(NDE_EPARSE, "%s: header extents are implausibly large", path);
    elements *= a->dims[d];
  }
  if (elements > IDX_MAX_BYTES / a->elem_size)
    return nde_error(NDE_EPARSE, "%s: header extents are implausibly large", path);
  if (role == ROLE_IMAGES && a->ndim < 2)
    return nde_error(NDE_EPARSE, "%s: images must have at least 2 dimensions (count, features...)",
                     path);
  if (role == ROLE_LABELS && (a->ndim != 1 || a->type != 0x08))
    return nde_error(NDE_EPARSE,
                     "%s: labels must be a 1-dimensional unsigned-byte IDX array (magic 0x00000801)",
                     path);
  return NDE_OK;
}

/*
 * The first @p want bytes of data, in a buffer that grows as bytes arrive
 * (a header that promises more than the stream holds costs nothing), then,
 * when @p whole, one more read to check that nothing follows.
 */
static nde_status idx_data(nde_data_file *f, const char *path, size_t want, int whole,
                           size_t declared, idx_array *a) {
  size_t cap = want < ((size_t)1 << 20) ? want : ((size_t)1 << 20), used = 0;
  a->file = malloc(cap ? cap : 1);
  if (!a->file)
    return nde_error(NDE_ENOMEM, "%s: out of memory", path);
  for (;;) {
    size_t got;
    NDE_TRY(nde_data_file_read(f, a->file + used, cap - used, &got));
    used += got;
    if (used < cap || cap == want)
      break;
    size_t grown = cap > want / 2 ? want : 2 * cap;
    unsigned char *bigger = realloc(a->file, grown);
    if (!bigger)
      return nde_error(NDE_ENOMEM, "%s: out of memory reading %zu bytes", path, grown);
    a->file = bigger;
    cap = grown;
  }
  if (used < want)
    return whole ? nde_error(NDE_EPARSE,
                             "%s: truncated: the header promises %zu bytes of data, the file "
                             "holds %zu",
                             path, declared, used)
                 : nde_error(NDE_EPARSE,
                             "%s: truncated: the first %zu bytes of data are needed, the file "
                             "holds %zu",
                             path, want, used);
  if (whole) {
    unsigned char extra;
    size_t got;
    NDE_TRY(nde_data_file_read(f, &extra, 1, &got));
    if (got)
      return nde_error(NDE_EPARSE,
                       "%s: unexpected bytes after the %zu bytes of data the header promises",
                       path, declared);
  }
  a->file_size = used;
  a->data = a->file;
  return NDE_OK;
}

/*
 * Stream one IDX file: the header, then only the data of the first
 * @p max_items items (all when 0), so neither a lying header nor a gzip
 * bomb makes us hold more than the header's shape (and the limit) allows.
 */
static nde_status idx_load(const char *path, int role, size_t max_items, idx_array *a) {
  memset(a, 0, sizeof *a);
  nde_data_file *f;
  NDE_TRY(nde_data_file_open(path, &f));
  nde_status st = idx_header(f, path, role, a);
  if (st == NDE_OK) {
    size_t item = a->elem_size; /* bytes per item: the product of the extents after the first */
    for (unsigned d = 1; d < a->ndim; ++d)
      item *= a->dims[d];
    size_t items = max_items && max_items < a->dims[0] ? max_items : a->dims[0];
    st = idx_data(f, path, items * item, items == a->dims[0], a->dims[0] * item, a);
  }
  if (st == NDE_OK)
    st = nde_data_file_destroy(&f);
  else
    nde_data_file_destroy(&f);
  return st;
}

static int is_file(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/*
 * The file for one part of a split: the explicit option if given (relative
 * to `path` unless absolute), else the first standard name present in
 * `path` ("train-images-idx3-ubyte", its ".gz", and the dotted spelling
 * "train-images.idx3-ubyte" some mirrors use).
 */
static nde_status find_file(const nde_options *o, const char *split, const char *part,
                            const char *idx_kind, char *out, size_t out_size) {
  const char *dir = nde_options_string(o, "path", "");
  char key[32];
  snprintf(key, sizeof key, "%s_%s", split, part);
  const char *explicit_name = nde_options_string(o, key, "");
  if (explicit_name[0]) {
    if (explicit_name[0] == '/' || !dir[0])
      snprintf(out, out_size, "%s", explicit_name);
    else
      snprintf(out, out_size, "%s/%s", dir, explicit_name);
    if (!is_file(out))
      return nde_error(NDE_EIO, "%s: %s: no such file", key, out);
    return NDE_OK;
  }
  if (!dir[0])
    return nde_error(NDE_EINVAL,
                     "set 'path' to a folder holding the IDX files, or '%s' to the file itself",
                     key);
  const char *prefix = strcmp(split, "train") == 0 ? "train" : "t10k";
  const char *forms[] = {"%s/%s-%s-%s", "%s/%s-%s-%s.gz", "%s/%s-%s.%s", "%s/%s-%s.%s.gz"};
  for (size_t i = 0; i < sizeof forms / sizeof forms[0]; ++i) {
    snprintf(out, out_size, forms[i], dir, prefix, part, idx_kind);
    if (is_file(out))
      return NDE_OK;
  }
  return nde_error(NDE_EIO, "%s: no %s-%s-%s (or .gz) in this folder (set '%s' to name the file)",
                   dir, prefix, part, idx_kind, key);
}

static void idx_close(void *data) {
  idx_set *s = data;
  if (!s)
    return;
  free(s->images.file);
  free(s->labels.file);
  free(s);
}

static nde_status idx_check_labels(const char *path, const idx_set *s) {
  const idx_array *l = &s->labels;
  for (size_t i = 0; i < s->count; ++i)
    if (l->data[i] >= s->n_classes)
      return nde_error(NDE_EPARSE, "%s: label %u of sample %zu is not below classes = %zu", path,
                       l->data[i], i, s->n_classes);
  return NDE_OK;
}

static nde_status idx_open(const nde_options *o, const char *split, uint64_t seed, void **data) {
  (void)seed;
  *data = NULL;
  NDE_TRY(nde_dataset_split_index("idx", split, NULL));
  char images_path[4096], labels_path[4096];
  NDE_TRY(find_file(o, split, "images", "idx3-ubyte", images_path, sizeof images_path));
  NDE_TRY(find_file(o, split, "labels", "idx1-ubyte", labels_path, sizeof labels_path));
  idx_set *s = calloc(1, sizeof *s);
  if (!s)
    return nde_error(NDE_ENOMEM, "out of memory");
  const char *scale = nde_options_string(o, "scale", "unit");
  s->scale = !strcmp(scale, "none") ? SCALE_NONE : !strcmp(scale, "symmetric") ? SCALE_SYMMETRIC
                                                                               : SCALE_UNIT;
  s->n_classes = (size_t)nde_options_int(o, "classes", 10);
  int64_t limit = nde_options_int(o, "limit", 0);
  size_t max_items = limit > 0 && (uint64_t)limit < SIZE_MAX ? (size_t)limit : 0;
  nde_status st = idx_load(images_path, ROLE_IMAGES, max_items, &s->images);
  if (st == NDE_OK)
    st = idx_load(labels_path, ROLE_LABELS, max_items, &s->labels);
  if (st == NDE_OK && s->scale != SCALE_NONE && s->images.type != 0x08)
    st = nde_error(NDE_EINVAL,
                   "%s: scale '%s' maps bytes 0..255; these images are not unsigned bytes (use "
                   "scale \"none\")",
                   images_path, scale);
  if (st == NDE_OK && s->labels.ndim >= 1 && s->images.dims[0] != s->labels.dims[0])
    st = nde_error(NDE_EPARSE, "%s holds %zu images but %s holds %zu labels", images_path,
                   s->images.dims[0], labels_path, s->labels.dims[0]);
  if (st == NDE_OK) {
    s->count = s->images.dims[0];
    if (max_items && max_items < s->count)
      s->count = max_items;
    s->input_size = 1;
    for (unsigned d = 1; d < s->images.ndim; ++d)
      s->input_size *= s->images.dims[d];
    if (s->count == 0 || s->input_size == 0)
      st = nde_error(NDE_EPARSE, "%s: no samples (extents %zu x %zu)", images_path,
                     s->images.dims[0], s->input_size);
  }
  if (st == NDE_OK)
    st = idx_check_labels(labels_path, s);
  if (st != NDE_OK) {
    idx_close(s);
    return st;
  }
  *data = s;
  return NDE_OK;
}

static void idx_info(void *data, nde_dataset_info *info) {
  const idx_set *s = data;
  info->count = s->count;
  info->input_size = s->input_size;
  info->target_size = 1;
  info->n_classes = s->n_classes;
}

static void idx_sample(void *data, size_t index, double *x, double *y) {
  const idx_set *s = data;
  const idx_array *im = &s->images;
  size_t base = index * s->input_size;
  switch (s->scale) {
  case SCALE_UNIT:
    for (size_t j = 0; j < s->input_size; ++j)
      x[j] = im->data[base + j] * (1.0 / 255.0);
    break;
  case SCALE_SYMMETRIC:
    for (size_t j = 0; j < s->input_size; ++j)
      x[j] = im->data[base + j] * (2.0 / 255.0) - 1.0;
    break;
  default:
    for (size_t j = 0; j < s->input_size; ++j)
      x[j] = idx_value(im, base + j);
  }
  y[0] = s->labels.data[index];
}

NDE_PLUGIN_DEFINE(dataset, idx, .open = idx_open, .close = idx_close, .info = idx_info,
                  .sample = idx_sample);
