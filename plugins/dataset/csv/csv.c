/*
 * The `csv` dataset: numeric delimited text, one sample per line, for
 * regression (any number of target columns) or classification (one target
 * column of class indices 0, 1, ...). Plain or gzip-compressed files.
 *
 * Blank lines and lines starting with '#' are skipped; an optional header
 * line is skipped. Every row must have the same number of fields and every
 * field must be a finite number; otherwise the error names the file, the
 * line and the field.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nde/dataset.h>

/* Refuse text files above 4 GiB. */
#define CSV_MAX_BYTES ((size_t)4 << 30)

typedef struct csv_set {
  size_t rows, cols;
  double *values; /* rows × cols, row-major */
  size_t n_targets;
  size_t *targets; /* target column indices */
  size_t *inputs;  /* input column indices */
  size_t n_classes;
} csv_set;

static void csv_close(void *data) {
  csv_set *s = data;
  if (!s)
    return;
  free(s->values);
  free(s->targets);
  free(s->inputs);
  free(s);
}

/* Next line of the text: [*line, *end) without the newline; advances *p. */
static int next_line(char **p, char **line, char **end) {
  if (!**p)
    return 0;
  *line = *p;
  char *nl = strchr(*p, '\n');
  *end = nl ? nl : *p + strlen(*p);
  *p = nl ? nl + 1 : *end;
  if (*end > *line && (*end)[-1] == '\r')
    --*end;
  return 1;
}

static int is_skipped(const char *line, const char *end) {
  while (line < end && isspace((unsigned char)*line))
    ++line;
  return line == end || *line == '#';
}

/* A reader of the data rows: lines that are not blank, not comments and not the header. */
typedef struct row_reader {
  char *p;
  size_t lineno;
  int header_left; /* 1 while the header line (option "header") is still to be skipped */
} row_reader;

/* Next data row: [*line, *end), its line number in rr->lineno; 0 at the end of the text. */
static int next_row(row_reader *rr, char **line, char **end) {
  while (next_line(&rr->p, line, end)) {
    ++rr->lineno;
    if (is_skipped(*line, *end))
      continue;
    if (rr->header_left) {
      rr->header_left = 0;
      continue;
    }
    return 1;
  }
  return 0;
}

static size_t count_fields(const char *line, const char *end, char delim) {
  size_t n = 1;
  for (const char *c = line; c < end; ++c)
    n += *c == delim;
  return n;
}

/* Parse one row of exactly s->cols fields into out[]. */
static nde_status parse_row(const char *path, size_t lineno, char *line, char *end, char delim,
                            size_t cols, double *out) {
  *end = 0;
  char *field = line;
  for (size_t c = 0; c < cols; ++c) {
    char *stop = strchr(field, delim);
    if (!stop)
      stop = end;
    char saved = *stop;
    *stop = 0;
    char *p = field, *q;
    while (isspace((unsigned char)*p))
      ++p;
    errno = 0;
    double v = strtod(p, &q);
    while (isspace((unsigned char)*q))
      ++q;
    if (q == p || *q) {
      nde_status st = nde_error(NDE_EPARSE, "%s:%zu: field %zu '%.40s' is not a number%s", path,
                                lineno, c + 1, p,
                                lineno == 1 ? " (set header: true if line 1 holds column names)"
                                            : "");
      *stop = saved;
      return st;
    }
    if (!isfinite(v)) {
      *stop = saved;
      return nde_error(NDE_EPARSE, "%s:%zu: field %zu is not finite", path, lineno, c + 1);
    }
    out[c] = v;
    *stop = saved;
    field = stop + 1;
  }
  return NDE_OK;
}

static nde_status parse_text(const char *path, char *text, const nde_options *o, csv_set *s) {
  const char *delims = nde_options_string(o, "delimiter", ",");
  if (strlen(delims) != 1)
    return nde_error(NDE_EINVAL, "delimiter must be one character, got '%s'", delims);
  char delim = delims[0];
  int header = nde_options_bool(o, "header", 0);
  /* First pass: count rows and fix the column count. */
  char *line, *end;
  size_t rows = 0, cols = 0;
  row_reader rr = {text, 0, header};
  while (next_row(&rr, &line, &end)) {
    size_t n = count_fields(line, end, delim);
    if (cols == 0)
      cols = n;
    else if (n != cols)
      return nde_error(NDE_EPARSE, "%s:%zu: %zu fields, but earlier rows have %zu", path,
                       rr.lineno, n, cols);
    ++rows;
  }
  if (rows == 0)
    return nde_error(NDE_EPARSE, "%s: no data rows", path);
  s->rows = rows;
  s->cols = cols;
  s->values = malloc(rows * cols * sizeof *s->values);
  if (!s->values)
    return nde_error(NDE_ENOMEM, "%s: out of memory for %zu x %zu values", path, rows, cols);
  /* Second pass: parse. */
  rr = (row_reader){text, 0, header};
  size_t r = 0;
  while (next_row(&rr, &line, &end)) {
    NDE_TRY(parse_row(path, rr.lineno, line, end, delim, cols, s->values + r * cols));
    ++r;
  }
  return NDE_OK;
}

static nde_status choose_columns(const char *path, const nde_options *o, csv_set *s) {
  size_t nt = nde_options_array_size(o, "target");
  if (nt == 0)
    return nde_error(NDE_EINVAL, "target: give at least one column index");
  s->targets = calloc(nt, sizeof *s->targets);
  s->inputs = calloc(s->cols, sizeof *s->inputs);
  if (!s->targets || !s->inputs)
    return nde_error(NDE_ENOMEM, "out of memory");
  unsigned char *is_target = calloc(s->cols, 1);
  if (!is_target)
    return nde_error(NDE_ENOMEM, "out of memory");
  nde_status st = NDE_OK;
  for (size_t i = 0; i < nt && st == NDE_OK; ++i) {
    double c = nde_options_array_number(o, "target", i, NAN);
    double col = c < 0 ? (double)s->cols + c : c;
    if (!(floor(c) == c))
      st = nde_error(NDE_EINVAL, "target[%zu]: expected an integer column index", i);
    else if (col < 0 || col >= (double)s->cols)
      st = nde_error(NDE_EINVAL,
                     "target[%zu]: column %g does not exist in %s, which has %zu columns "
                     "(0-based; negative counts from the end)",
                     i, c, path, s->cols);
    else if (is_target[(size_t)col])
      st = nde_error(NDE_EINVAL, "target[%zu]: column %g is listed twice", i, c);
    else {
      is_target[(size_t)col] = 1;
      s->targets[i] = (size_t)col;
    }
  }
  s->n_targets = nt;
  size_t ni = 0;
  for (size_t c = 0; c < s->cols; ++c)
    if (!is_target[c])
      s->inputs[ni++] = c;
  free(is_target);
  if (st == NDE_OK && ni == 0)
    st = nde_error(NDE_EINVAL, "%s: every column is a target; no input columns remain", path);
  return st;
}

static nde_status check_classes(const char *path, const nde_options *o, csv_set *s) {
  if (s->n_targets != 1)
    return nde_error(NDE_EINVAL, "task 'classification' needs exactly one target column, got %zu",
                     s->n_targets);
  int64_t classes = nde_options_int(o, "classes", 0);
  double top = -1;
  for (size_t r = 0; r < s->rows; ++r) {
    double v = s->values[r * s->cols + s->targets[0]];
    if (v < 0 || floor(v) != v || v > 1e9)
      return nde_error(NDE_EPARSE,
                       "%s: data row %zu: class label %g is not a non-negative integer", path,
                       r + 1, v);
    if (classes > 0 && v >= (double)classes)
      return nde_error(NDE_EPARSE, "%s: data row %zu: class label %g is not below classes = %lld",
                       path, r + 1, v, (long long)classes);
    if (v > top)
      top = v;
  }
  s->n_classes = classes > 0 ? (size_t)classes : (size_t)top + 1;
  return NDE_OK;
}

static nde_status csv_open(const nde_options *o, const char *split, uint64_t seed, void **data) {
  (void)seed;
  *data = NULL;
  NDE_TRY(nde_dataset_split_index("csv", split, NULL));
  const char *path = nde_options_string(o, split, "");
  if (!path[0])
    return nde_error(NDE_EINVAL, "%s: no file given for the %s split", split, split);
  unsigned char *text;
  size_t size;
  NDE_TRY(nde_dataset_read_file(path, CSV_MAX_BYTES, &text, &size));
  if (memchr(text, 0, size)) {
    free(text);
    return nde_error(NDE_EPARSE, "%s: contains NUL bytes; not a text file", path);
  }
  csv_set *s = calloc(1, sizeof *s);
  nde_status st = s ? parse_text(path, (char *)text, o, s) : nde_error(NDE_ENOMEM, "out of memory");
  free(text);
  if (st == NDE_OK)
    st = choose_columns(path, o, s);
  if (st == NDE_OK && !strcmp(nde_options_string(o, "task", "regression"), "classification"))
    st = check_classes(path, o, s);
  if (st != NDE_OK) {
    csv_close(s);
    return st;
  }
  *data = s;
  return NDE_OK;
}

static void csv_info(void *data, nde_dataset_info *info) {
  const csv_set *s = data;
  info->count = s->rows;
  info->input_size = s->cols - s->n_targets;
  info->target_size = s->n_targets;
  info->n_classes = s->n_classes;
}

static void csv_sample(void *data, size_t index, double *x, double *y) {
  const csv_set *s = data;
  const double *row = s->values + index * s->cols;
  for (size_t j = 0; j < s->cols - s->n_targets; ++j)
    x[j] = row[s->inputs[j]];
  for (size_t j = 0; j < s->n_targets; ++j)
    y[j] = row[s->targets[j]];
}

NDE_PLUGIN_DEFINE(dataset, csv, .open = csv_open, .close = csv_close, .info = csv_info,
                  .sample = csv_sample);
