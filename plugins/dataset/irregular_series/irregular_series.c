/*
 * The `irregular_series` dataset: irregularly sampled multichannel time
 * series on a time grid (the union-of-times scheme of the latent_ode
 * layer). A sample is 2·C·T numbers: the values at the T grid times (channel
 * c of time j at c + C·j), then the mask in the same layout (1 observed,
 * 0 missing; a missing value is stored as 0). The target is the same
 * vector: the task is interpolation, reconstructing the observed entries
 * (loss "masked_mse").
 *
 * Two sources:
 *
 *  - synthetic (no "path"): a seeded set shaped like PhysioNet 2012 as the
 *    latent ODE papers preprocess it (41 channels, 48 hours, values in
 *    [0, 1], most entries missing). Each series is driven by a known
 *    four-dimensional nonlinear latent system in scaled time τ = t/8:
 *        z1' = z2,  z2' = −sin z1 − 0.1 z2 + 0.5 z3          (forced pendulum)
 *        z3' = z4,  z4' = (1 − z3²) z4 − z3                    (van der Pol, μ = 1)
 *    from z1, z3 ~ U(−2, 2), z2, z4 ~ N(0, 0.5²) per series, solved with
 *    classic RK4 (10 steps between grid times). Channel c observes
 *    y_c = σ(Σ_k W_ck z_k + b_c) + N(0, noise²), with W_ck ~ N(0, 0.6²) and
 *    b_c ~ N(0, 0.5²) fixed for every seed (the system is the same, the
 *    series are the seed's). Observation pattern: each grid time is
 *    observed with probability observe_times, and at an observed time each
 *    channel with probability observe_channels (at least one channel, and at
 *    least one time per series). Train and test use distinct Philox
 *    streams of the pipeline's seed.
 *
 *  - a CSV file ("path", plain or gzip): one observation per line,
 *        series,time,channel,value,mask
 *    (an optional header line; '#' comments and blank lines skipped). The
 *    series id is any text without commas; a series' rows are contiguous,
 *    their times never decrease; channel is 0..C−1; a time is snapped to
 *    the nearest grid time and must lie within half a grid step of the
 *    grid. Rows with mask 0 are skipped (their value may be anything,
 *    NaN included). The last test_fraction of the series (in file order)
 *    form the test split. Bad input — a series with no observed entry, a
 *    time that decreases, a NaN or infinite observed value, a channel out
 *    of range, the same entry observed twice, a malformed field — is an
 *    error naming the file, the line, the series and the field.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nde/dataset.h>
#include <nde/rng.h>

#define IS_MAX_BYTES ((size_t)4 << 30)
#define IS_MAX_FEATURES ((size_t)1 << 26)
#define IS_LATENT 4

typedef struct series_set {
  size_t C, T, count;
  double t0, dt;
  double *data; /* count × 2CT */
} series_set;

static void is_close(void *data) {
  series_set *s = data;
  if (s) {
    free(s->data);
    free(s);
  }
}

/* ------------------------------------------------------------ synthetic */

static void latent_rhs(const double z[IS_LATENT], double dz[IS_LATENT]) {
  dz[0] = z[1];
  dz[1] = -sin(z[0]) - 0.1 * z[1] + 0.5 * z[2];
  dz[2] = z[3];
  dz[3] = (1.0 - z[2] * z[2]) * z[3] - z[2];
}

static void latent_rk4(double z[IS_LATENT], double h) {
  double k[4][IS_LATENT], tmp[IS_LATENT];
  static const double stage[4] = {0.0, 0.5, 0.5, 1.0}, weight[4] = {1, 2, 2, 1};
  for (int s = 0; s < 4; ++s) {
    for (int i = 0; i < IS_LATENT; ++i)
      tmp[i] = z[i] + (s ? stage[s] * h * k[s - 1][i] : 0.0);
    latent_rhs(tmp, k[s]);
  }
  for (int i = 0; i < IS_LATENT; ++i) {
    double sum = 0;
    for (int s = 0; s < 4; ++s)
      sum += weight[s] * k[s][i];
    z[i] += h / 6.0 * sum;
  }
}

static nde_status synthetic(series_set *s, const nde_options *o, int which, uint64_t seed) {
  size_t count = (size_t)nde_options_int(o, which ? "test_count" : "count", which ? 512 : 2048);
  double p_time = nde_options_number(o, "observe_times", 0.5);
  double p_chan = nde_options_number(o, "observe_channels", 0.3);
  double noise = nde_options_number(o, "noise", 0.01);
  size_t C = s->C, T = s->T, n = 2 * C * T;
  s->count = count;
  if (!(s->data = calloc(count * n, sizeof *s->data)))
    return nde_error(NDE_ENOMEM, "out of memory");
  /* the observation map: the same for every seed */
  double *w = malloc(C * (IS_LATENT + 1) * sizeof *w);
  if (!w)
    return nde_error(NDE_ENOMEM, "out of memory");
  nde_rng fixed = nde_rng_make(0x504859534ull, 0x4e4554ull);
  for (size_t i = 0; i < C * (IS_LATENT + 1); ++i)
    w[i] = (i % (IS_LATENT + 1) == IS_LATENT ? 0.5 : 0.6) * nde_rng_normal(&fixed);
  nde_rng rng = nde_rng_make(seed, which ? 0x49525254ull : 0x49525241ull);
  const double tau_per_hour = 1.0 / 8.0;
  const int substeps = 10;
  for (size_t k = 0; k < count; ++k) {
    double *x = s->data + k * n, *m = x + C * T;
    double z[IS_LATENT] = {4.0 * nde_rng_uniform(&rng) - 2.0, 0.5 * nde_rng_normal(&rng),
                           4.0 * nde_rng_uniform(&rng) - 2.0, 0.5 * nde_rng_normal(&rng)};
    size_t seen = 0;
    for (size_t j = 0; j < T; ++j) {
      if (j > 0)
        for (int q = 0; q < substeps; ++q)
          latent_rk4(z, s->dt * tau_per_hour / substeps);
      int at_time = nde_rng_uniform(&rng) < p_time || (j == T - 1 && seen == 0);
      if (!at_time)
        continue;
      size_t first = nde_rng_below(&rng, C), here = 0;
      for (size_t c = 0; c < C; ++c) {
        if (!(c == first || nde_rng_uniform(&rng) < p_chan))
          continue;
        const double *wc = w + c * (IS_LATENT + 1);
        double a = wc[IS_LATENT];
        for (int i = 0; i < IS_LATENT; ++i)
          a += wc[i] * z[i];
        x[c + C * j] = 1.0 / (1.0 + exp(-a)) + noise * nde_rng_normal(&rng);
        m[c + C * j] = 1.0;
        here++;
      }
      seen += here;
    }
  }
  free(w);
  return NDE_OK;
}

/* ------------------------------------------------------------ CSV */

/* A reader of one CSV line's comma-separated fields. */
typedef struct line_reader {
  const char *file;
  size_t line;
  char *cur;
} line_reader;

/* The next field (NUL-terminated in place, blanks trimmed); NULL at the end of the line. */
static char *next_field(line_reader *r) {
  if (!r->cur)
    return NULL;
  char *start = r->cur, *comma = strchr(start, ',');
  if (comma) {
    *comma = '\0';
    r->cur = comma + 1;
  } else {
    r->cur = NULL;
  }
  while (isspace((unsigned char)*start))
    ++start;
  char *end = start + strlen(start);
  while (end > start && isspace((unsigned char)end[-1]))
    *--end = '\0';
  return start;
}

static nde_status field_number(const line_reader *r, const char *series, const char *name,
                               const char *text, double *out) {
  char *end;
  errno = 0;
  *out = strtod(text, &end);
  if (end == text || *end || errno == ERANGE)
    return nde_error(NDE_EINVAL, "%s:%zu: series '%s': field '%s': '%s' is not a number",
                     r->file, r->line, series, name, text);
  return NDE_OK;
}

/* One series being filled: its sample vector, the last row's time, and its observed entries. */
typedef struct building {
  char id[128];
  double *x;
  double last_t;
  size_t observed, first_line;
} building;

static nde_status finish_series(const building *b, const char *file) {
  if (b->x && b->observed == 0)
    return nde_error(NDE_EINVAL, "%s:%zu: series '%s' has no observations (every row has mask 0); "
                     "drop it from the file", file, b->first_line, b->id);
  return NDE_OK;
}

/* A series id and the line its rows start at (the contiguity check). */
typedef struct series_id {
  char id[128];
  size_t line;
} series_id;

/*
 * Parse the CSV text into series (all of them; the split is chosen
 * afterwards); *seen (free()) receives each series' id and first line.
 */
static nde_status parse_csv(series_set *s, char *text, const char *file, series_id **seen) {
  size_t C = s->C, T = s->T, n = 2 * C * T, cap = 0;
  building b = {.x = NULL};
  line_reader r = {file, 0, NULL};
  int header_checked = 0;
  nde_status st = NDE_OK;
  for (char *line = text; line && st == NDE_OK;) {
    char *nl = strchr(line, '\n');
    if (nl)
      *nl = '\0';
    r.line++;
    r.cur = line;
    line = nl ? nl + 1 : NULL;
    char *f[6];
    int nf = 0;
    while (nf < 6 && (f[nf] = next_field(&r)))
      nf++;
    if (nf == 0 || (nf == 1 && (!*f[0] || *f[0] == '#')) || *f[0] == '#')
      continue;
    if (nf != 5)
      st = nde_error(NDE_EINVAL, "%s:%zu: expected 5 fields (series,time,channel,value,mask), "
                     "got %d", file, r.line, nf);
    if (st != NDE_OK)
      break;
    double t, ch, v, mask;
    if (!header_checked) {
      header_checked = 1;
      char *end;
      strtod(f[1], &end);
      if (end == f[1])
        continue; /* a header line: its time field is not a number */
    }
    if (strlen(f[0]) >= sizeof b.id) {
      st = nde_error(NDE_EINVAL, "%s:%zu: field 'series': id longer than %zu characters", file,
                     r.line, sizeof b.id - 1);
      break;
    }
    if (!b.x || strcmp(b.id, f[0])) { /* a new series */
      if ((st = finish_series(&b, file)) != NDE_OK)
        break;
      if (s->count == cap) {
        size_t ncap = cap ? 2 * cap : 64;
        double *d = realloc(s->data, ncap * n * sizeof *d);
        series_id *ids = realloc(*seen, ncap * sizeof *ids);
        if (d)
          s->data = d;
        if (ids)
          *seen = ids;
        if (!d || !ids) {
          st = nde_error(NDE_ENOMEM, "out of memory");
          break;
        }
        cap = ncap;
      }
      snprintf((*seen)[s->count].id, sizeof b.id, "%s", f[0]);
      (*seen)[s->count].line = r.line;
      b.x = s->data + s->count * n;
      memset(b.x, 0, n * sizeof *b.x);
      snprintf(b.id, sizeof b.id, "%s", f[0]);
      b.last_t = -INFINITY;
      b.observed = 0;
      b.first_line = r.line;
      s->count++;
    }
    if ((st = field_number(&r, b.id, "time", f[1], &t)) != NDE_OK ||
        (st = field_number(&r, b.id, "channel", f[2], &ch)) != NDE_OK ||
        (st = field_number(&r, b.id, "mask", f[4], &mask)) != NDE_OK)
      break;
    if (!isfinite(t) || t < b.last_t) {
      st = nde_error(NDE_EINVAL, "%s:%zu: series '%s': field 'time': %g %s", file, r.line, b.id,
                     t, isfinite(t) ? "is before the previous row's time (times must not "
                                      "decrease within a series)" : "is not finite");
      break;
    }
    b.last_t = t;
    if (mask != 0 && mask != 1) {
      st = nde_error(NDE_EINVAL, "%s:%zu: series '%s': field 'mask': %g is not 0 or 1", file,
                     r.line, b.id, mask);
      break;
    }
    if (ch != floor(ch) || ch < 0 || ch >= (double)C) {
      st = nde_error(NDE_EINVAL, "%s:%zu: series '%s': field 'channel': %g is not an integer "
                     "from 0 to %zu", file, r.line, b.id, ch, C - 1);
      break;
    }
    if (mask == 0)
      continue;
    if ((st = field_number(&r, b.id, "value", f[3], &v)) != NDE_OK)
      break;
    if (!isfinite(v)) {
      st = nde_error(NDE_EINVAL, "%s:%zu: series '%s': field 'value': observed value %g is not "
                     "finite (give mask 0 for a missing entry)", file, r.line, b.id, v);
      break;
    }
    double g = (t - s->t0) / s->dt;
    if (g < -0.5 || g > (double)(T - 1) + 0.5) {
      st = nde_error(NDE_EINVAL, "%s:%zu: series '%s': field 'time': %g is outside the grid "
                     "[%g, %g]", file, r.line, b.id, t, s->t0, s->t0 + s->dt * (double)(T - 1));
      break;
    }
    size_t j = (size_t)llround(g < 0 ? 0 : g > (double)(T - 1) ? (double)(T - 1) : g);
    size_t at = (size_t)ch + C * j;
    if (b.x[C * T + at] != 0) {
      st = nde_error(NDE_EINVAL, "%s:%zu: series '%s': channel %zu at grid time %g is observed "
                     "twice", file, r.line, b.id, (size_t)ch, s->t0 + s->dt * (double)j);
      break;
    }
    b.x[at] = v;
    b.x[C * T + at] = 1;
    b.observed++;
  }
  if (st == NDE_OK)
    st = finish_series(&b, file);
  if (st == NDE_OK && s->count == 0)
    st = nde_error(NDE_EINVAL, "%s: no series", file);
  return st;
}

static int compare_ids(const void *a, const void *b) {
  const series_id *x = a, *y = b;
  int c = strcmp(x->id, y->id);
  return c ? c : (x->line > y->line) - (x->line < y->line);
}

/* Series ids must be contiguous: a repeated id means the rows of one series are scattered. */
static nde_status check_contiguous(series_id *ids, size_t n, const char *file) {
  qsort(ids, n, sizeof *ids, compare_ids);
  for (size_t k = 1; k < n; ++k)
    if (!strcmp(ids[k].id, ids[k - 1].id))
      return nde_error(NDE_EINVAL, "%s:%zu: series '%s': its rows start again after line %zu; "
                       "the rows of a series must be contiguous", file, ids[k].line, ids[k].id,
                       ids[k - 1].line);
  return NDE_OK;
}

static nde_status from_csv(series_set *s, const nde_options *o, int which) {
  const char *path = nde_options_string(o, "path", "");
  unsigned char *raw;
  size_t size;
  NDE_TRY(nde_dataset_read_file(path, IS_MAX_BYTES, &raw, &size));
  series_id *ids = NULL;
  nde_status st = parse_csv(s, (char *)raw, path, &ids);
  if (st == NDE_OK)
    st = check_contiguous(ids, s->count, path);
  free(ids);
  free(raw);
  NDE_TRY(st);
  double frac = nde_options_number(o, "test_fraction", 0.2);
  size_t n_test = (size_t)llround(frac * (double)s->count);
  size_t n_train = s->count - n_test;
  if ((which ? n_test : n_train) == 0)
    return nde_error(NDE_EINVAL, "%s: %zu series and test_fraction %g leave the %s split empty",
                     path, s->count, frac, which ? "test" : "train");
  size_t n = 2 * s->C * s->T;
  if (which)
    memmove(s->data, s->data + n_train * n, n_test * n * sizeof *s->data);
  s->count = which ? n_test : n_train;
  return NDE_OK;
}

/* ------------------------------------------------------------ plugin */

static nde_status is_open(const nde_options *o, const char *split, uint64_t seed, void **data) {
  *data = NULL;
  int which;
  NDE_TRY(nde_dataset_split_index("irregular_series", split, &which));
  double span[2];
  NDE_TRY(nde_options_numbers(o, "tspan", 2, span));
  size_t C = (size_t)nde_options_int(o, "channels", 41), T = (size_t)nde_options_int(o, "points", 49);
  if (!isfinite(span[0]) || !isfinite(span[1]) || !(span[1] > span[0]))
    return nde_error(NDE_EINVAL, "tspan: expected [t0, t1] with t0 < t1, got [%g, %g]", span[0],
                     span[1]);
  if (C == 0 || T < 2 || C > IS_MAX_FEATURES / (2 * T))
    return nde_error(NDE_EINVAL, "channels x points = %zu x %zu: out of range", C, T);
  series_set *s = calloc(1, sizeof *s);
  if (!s)
    return nde_error(NDE_ENOMEM, "out of memory");
  s->C = C;
  s->T = T;
  s->t0 = span[0];
  s->dt = (span[1] - span[0]) / (double)(T - 1);
  const char *path = nde_options_string(o, "path", "");
  nde_status st = *path ? from_csv(s, o, which) : synthetic(s, o, which, seed);
  if (st != NDE_OK) {
    is_close(s);
    return st;
  }
  *data = s;
  return NDE_OK;
}

static void is_info(void *data, nde_dataset_info *info) {
  const series_set *s = data;
  info->count = s->count;
  info->input_size = 2 * s->C * s->T;
  info->target_size = 2 * s->C * s->T;
  info->n_classes = 0;
}

static void is_sample(void *data, size_t index, double *x, double *y) {
  const series_set *s = data;
  size_t n = 2 * s->C * s->T;
  memcpy(x, s->data + index * n, n * sizeof *x);
  memcpy(y, s->data + index * n, n * sizeof *y);
}

NDE_PLUGIN_DEFINE(dataset, irregular_series, .open = is_open, .close = is_close,
                                             .info = is_info, .sample = is_sample);
