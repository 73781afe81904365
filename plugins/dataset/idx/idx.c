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
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <nde/dataset.h>

/* Refuse files claiming more than this (gzip bombs, corrupt headers): 8 GiB. */
#define IDX_MAX_BYTES ((size_t)8 << 30)

enum { SCALE_NONE, SCALE_UNIT, SCALE_SYMMETRIC };

typedef struct idx_array {
  unsigned char *file; /* whole file contents */
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

/* Parse the header of a file held in memory and check its size against it. */
static nde_status idx_parse(const char *path, idx_array *a) {
  const unsigned char *b = a->file;
  if (a->file_size < 4)
    return nde_error(NDE_EPARSE, "%s: not an IDX file: %zu bytes, shorter than the 4-byte magic",
                     path, a->file_size);
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
  if (a->file_size < header)
    return nde_error(NDE_EPARSE, "%s: truncated: %zu bytes, shorter than the %zu-byte header",
                     path, a->file_size, header);
  size_t elements = 1;
  for (unsigned d = 0; d < a->ndim; ++d) {
    a->dims[d] = be32(b + 4 + 4 * d);
    if (a->dims[d] != 0 && elements > IDX_MAX_BYTES / a->dims[d])
      return nde_error(NDE_EPARSE, "%s: header extents are implausibly large", path);
    elements *= a->dims[d];
  }
  if (elements > IDX_MAX_BYTES / a->elem_size)
    return nde_error(NDE_EPARSE, "%s: header extents are implausibly large", path);
  size_t expected = header + elements * a->elem_size;
  if (a->file_size < expected)
    return nde_error(NDE_EPARSE,
                     "%s: truncated: the header promises %zu bytes of data, the file holds %zu",
                     path, expected - header, a->file_size - header);
  if (a->file_size > expected)
    return nde_error(NDE_EPARSE, "%s: %zu unexpected bytes after the %zu bytes of data", path,
                     a->file_size - expected, expected - header);
  a->data = b + header;
  return NDE_OK;
}

static nde_status idx_load(const char *path, idx_array *a) {
  memset(a, 0, sizeof *a);
  NDE_TRY(nde_dataset_read_file(path, IDX_MAX_BYTES, &a->file, &a->file_size));
  return idx_parse(path, a);
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
  if (l->ndim != 1 || l->type != 0x08)
    return nde_error(NDE_EPARSE,
                     "%s: labels must be a 1-dimensional unsigned-byte IDX array (magic 0x00000801)",
                     path);
  for (size_t i = 0; i < s->count; ++i)
    if (l->data[i] >= s->n_classes)
      return nde_error(NDE_EPARSE, "%s: label %u of sample %zu is not below classes = %zu", path,
                       l->data[i], i, s->n_classes);
  return NDE_OK;
}

static nde_status idx_open(const nde_options *o, const char *split, uint64_t seed, void **data) {
  (void)seed;
  *data = NULL;
  if (strcmp(split, "train") != 0 && strcmp(split, "test") != 0)
    return nde_error(NDE_EINVAL, "unknown split '%s' (idx has \"train\" and \"test\")", split);
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
  nde_status st = idx_load(images_path, &s->images);
  if (st == NDE_OK)
    st = idx_load(labels_path, &s->labels);
  if (st == NDE_OK && s->images.ndim < 2)
    st = nde_error(NDE_EPARSE, "%s: images must have at least 2 dimensions (count, features...)",
                   images_path);
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
    int64_t limit = nde_options_int(o, "limit", 0);
    if (limit > 0 && (size_t)limit < s->count)
      s->count = (size_t)limit;
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

static const nde_dataset_ops idx_ops = {
    .header = NDE_PLUGIN_HEADER(NDE_KIND_DATASET, "idx", nde_dataset_ops),
    .open = idx_open,
    .close = idx_close,
    .info = idx_info,
    .sample = idx_sample,
};

NDE_PLUGIN_EXPORT const void *nde_plugin_dataset_idx(void);
NDE_PLUGIN_EXPORT const void *nde_plugin_dataset_idx(void) { return &idx_ops; }
