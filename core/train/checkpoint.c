/* Training checkpoints in safetensors (see checkpoint.h for the contents). */
#include "config.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nde/model.h>
#include <nde/safetensors.h>

#include "checkpoint.h"

#define CHECKPOINT_FORMAT "nde-checkpoint-1"

static nde_st_dtype st_dtype(nde_dtype dt) { return dt == NDE_FLOAT32 ? NDE_ST_F32 : NDE_ST_F64; }

/* Copy n elements of backend memory to a new host buffer. */
static nde_status to_host(nde_backend *be, const void *src, size_t bytes, void **out) {
  *out = malloc(bytes ? bytes : 1);
  if (!*out)
    return nde_error(NDE_ENOMEM, "out of memory");
  nde_status st = be->ops->download(be->ctx, *out, src, bytes);
  if (st != NDE_OK) {
    free(*out);
    *out = NULL;
  }
  return st;
}

nde_status nde_checkpoint_save(const char *path, const nde_model *model, const void *params,
                               nde_optimizer *optimizer, const nde_run_state *state) {
  nde_backend *be = nde_model_backend(model);
  nde_dtype dt = nde_model_dtype(model);
  size_t es = nde_dtype_size(dt), np = nde_model_param_count(model);
  size_t nb = nde_model_block_count(model);
  int nbuf = optimizer ? nde_optimizer_buffer_count(optimizer) : 0;
  nde_st_tensor *t = calloc(nb + (size_t)nbuf + 1, sizeof *t);
  char **names = calloc((size_t)nbuf + 1, sizeof *names);
  void **hosts = calloc((size_t)nbuf + 2, sizeof *hosts);
  nde_status st = t && names && hosts ? NDE_OK : nde_error(NDE_ENOMEM, "out of memory");
  if (st == NDE_OK)
    st = to_host(be, params, np * es, &hosts[0]);
  for (size_t i = 0; i < nb && st == NDE_OK; ++i) {
    const nde_layout_entry *e = nde_model_block(model, i);
    t[i].name = e->name;
    t[i].dtype = st_dtype(dt);
    t[i].ndim = e->ndim;
    for (int d = 0; d < e->ndim; ++d) /* column-major extents, reversed: row-major */
      t[i].shape[d] = e->shape[e->ndim - 1 - d];
    t[i].data = (char *)hosts[0] + e->offset * es;
  }
  for (int k = 0; k < nbuf && st == NDE_OK; ++k) {
    const char *bname;
    nde_array view;
    st = nde_optimizer_buffer(optimizer, k, &bname, &view);
    if (st != NDE_OK)
      break;
    size_t len = strlen(bname) + 16;
    names[k] = malloc(len);
    if (!names[k]) {
      st = nde_error(NDE_ENOMEM, "out of memory");
      break;
    }
    snprintf(names[k], len, "optimizer.%s", bname);
    st = to_host(be, view.data, view.size * es, &hosts[k + 1]);
    nde_st_tensor *x = &t[nb + (size_t)k];
    x->name = names[k];
    x->dtype = st_dtype(dt);
    x->ndim = 1;
    x->shape[0] = view.size;
    x->data = hosts[k + 1];
  }
  if (st == NDE_OK) {
    char v[10][64], duals[NDE_NFE_DUALS_MAX * 3 * 26 + 1] = "";
    snprintf(v[0], 64, "%" PRIu64, state->step);
    snprintf(v[1], 64, "%" PRIu64, state->epoch_rng.seed);
    snprintf(v[2], 64, "%" PRIu64, state->epoch_rng.stream);
    snprintf(v[3], 64, "%" PRIu64, state->epoch_rng.counter);
    snprintf(v[4], 64, "%" PRIu64, state->epoch_pos);
    snprintf(v[5], 64, "%d", state->have_epoch);
    snprintf(v[6], 64, "%" PRIu64, state->optimizer_steps);
    snprintf(v[7], 64, "%.17g", state->wall_time);
    snprintf(v[8], 64, "%s", nde_dtype_name(dt));
    snprintf(v[9], 64, "%.17g", state->data_loss_average);
    for (int i = 0; i < state->nfe_duals.n && i < NDE_NFE_DUALS_MAX; ++i) {
      size_t used = strlen(duals);
      snprintf(duals + used, sizeof duals - used, "%s%.17g %.17g %.17g", i ? " " : "",
               state->nfe_duals.target[i], state->nfe_duals.rate[i],
               state->nfe_duals.multiplier[i]);
    }
    const char *meta[] = {"format",         CHECKPOINT_FORMAT,
                          "step",           v[0],
                          "rng_seed",       v[1],
                          "rng_stream",     v[2],
                          "rng_counter",    v[3],
                          "epoch_position", v[4],
                          "epoch_drawn",    v[5],
                          "optimizer_steps", v[6],
                          "wall_time",      v[7],
                          "dtype",          v[8],
                          "data_loss_average", v[9],
                          "nfe_duals",      duals,
                          "optimizer",      optimizer ? nde_optimizer_name(optimizer) : ""};
    st = nde_safetensors_write(path, t, nb + (size_t)nbuf, meta, sizeof meta / sizeof *meta / 2);
  }
  for (int k = 0; k < nbuf; ++k)
    free(names ? names[k] : NULL);
  for (int k = 0; hosts && k < nbuf + 1; ++k)
    free(hosts[k]);
  free(hosts);
  free(names);
  free(t);
  return st;
}

/* Metadata @p key, required. */
static nde_status meta_string(const nde_safetensors *f, const char *path, const char *key,
                              const char **out) {
  *out = nde_safetensors_metadata(f, key);
  if (!*out)
    return nde_error(NDE_EPARSE, "%s: not an nde training checkpoint (no metadata '%s')", path,
                     key);
  return NDE_OK;
}

/* An unsigned decimal integer: digits only (no sign, no blanks), no overflow. */
static nde_status meta_u64(const nde_safetensors *f, const char *path, const char *key,
                           uint64_t *out) {
  const char *v;
  NDE_TRY(meta_string(f, path, key, &v));
  uint64_t x = 0;
  for (const char *c = v; *c; ++c) {
    if (*c < '0' || *c > '9')
      return nde_error(NDE_EPARSE,
                       "%s: checkpoint metadata '%s' is not a non-negative integer: '%s'", path,
                       key, v);
    unsigned d = (unsigned)(*c - '0');
    if (x > (UINT64_MAX - d) / 10)
      return nde_error(NDE_EPARSE, "%s: checkpoint metadata '%s' is out of range: '%s'", path,
                       key, v);
    x = 10 * x + d;
  }
  if (!*v)
    return nde_error(NDE_EPARSE, "%s: checkpoint metadata '%s' is empty", path, key);
  *out = x;
  return NDE_OK;
}

static int model_has_block(const nde_model *model, const char *name) {
  for (size_t i = 0; i < nde_model_block_count(model); ++i)
    if (!strcmp(nde_model_block(model, i)->name, name))
      return 1;
  return 0;
}

static int optimizer_has_buffer(nde_optimizer *optimizer, const char *name) {
  for (int k = 0; k < nde_optimizer_buffer_count(optimizer); ++k) {
    const char *bname;
    nde_array view;
    if (nde_optimizer_buffer(optimizer, k, &bname, &view) == NDE_OK && !strcmp(bname, name))
      return 1;
  }
  return 0;
}

/* The file's dtype and optimizer, and no tensor that neither the model nor the optimizer has. */
static nde_status check_contents(const nde_safetensors *f, const char *path,
                                 const nde_model *model, nde_optimizer *optimizer) {
  const char *dtype;
  NDE_TRY(meta_string(f, path, "dtype", &dtype));
  const char *want = nde_dtype_name(nde_model_dtype(model));
  if (strcmp(dtype, want))
    return nde_error(NDE_EINVAL,
                     "%s: checkpoint metadata 'dtype' is '%s' but the pipeline's dtype is '%s'",
                     path, dtype, want);
  if (optimizer) {
    const char *name;
    NDE_TRY(meta_string(f, path, "optimizer", &name));
    if (strcmp(name, nde_optimizer_name(optimizer)))
      return nde_error(NDE_EINVAL,
                       "%s: checkpoint metadata 'optimizer' is '%s' but the pipeline's optimizer "
                       "is '%s'",
                       path, name, nde_optimizer_name(optimizer));
  }
  static const char prefix[] = "optimizer.";
  for (size_t i = 0; i < nde_safetensors_count(f); ++i) {
    const char *name = nde_safetensors_at(f, i)->name;
    int is_opt = !strncmp(name, prefix, sizeof prefix - 1);
    if (!is_opt && !model_has_block(model, name))
      return nde_error(NDE_EINVAL, "%s: tensor '%s' is not a parameter block of this model",
                       path, name);
    if (is_opt && optimizer && !optimizer_has_buffer(optimizer, name + sizeof prefix - 1))
      return nde_error(NDE_EINVAL, "%s: tensor '%s' is not a state buffer of optimizer '%s'",
                       path, name, nde_optimizer_name(optimizer));
  }
  return NDE_OK;
}

/* Metadata @p key as a finite number >= 0; absent: an error when @p required, else *out kept. */
static nde_status meta_number(const nde_safetensors *f, const char *path, const char *key,
                              int required, double *out) {
  const char *v = nde_safetensors_metadata(f, key);
  if (!v && !required)
    return NDE_OK;
  NDE_TRY(meta_string(f, path, key, &v));
  char *end;
  double x = strtod(v, &end);
  if (!*v || *end || !isfinite(x) || x < 0)
    return nde_error(NDE_EPARSE, "%s: checkpoint metadata '%s' is not a finite number >= 0: '%s'",
                     path, key, v);
  *out = x;
  return NDE_OK;
}

/*
 * The target_nfe multipliers: "nfe_duals" holds "target rate multiplier"
 * triples separated by spaces (empty: none). Optional: checkpoints written
 * before target_nfe coefficients lack it (no multipliers yet).
 */
static nde_status read_duals(const nde_safetensors *f, const char *path, nde_nfe_duals *d) {
  memset(d, 0, sizeof *d);
  const char *v = nde_safetensors_metadata(f, "nfe_duals");
  const char *p = v ? v : "";
  double x[3 * NDE_NFE_DUALS_MAX];
  int n = 0;
  while (*p) {
    char *end;
    if (n == 3 * NDE_NFE_DUALS_MAX)
      return nde_error(NDE_EPARSE, "%s: checkpoint metadata 'nfe_duals' has more than %d "
                       "triples: '%s'", path, NDE_NFE_DUALS_MAX, v);
    x[n] = strtod(p, &end);
    if (end == p || !isfinite(x[n]) || (*end && *end != ' '))
      return nde_error(NDE_EPARSE, "%s: checkpoint metadata 'nfe_duals' is not a list of "
                       "numbers: '%s'", path, v);
    n++;
    p = *end ? end + 1 : end;
  }
  if (n % 3)
    return nde_error(NDE_EPARSE, "%s: checkpoint metadata 'nfe_duals' is not a list of "
                     "(target, rate, multiplier) triples: '%s'", path, v);
  for (int i = 0; i < n / 3; ++i) {
    double target = x[3 * i], rate = x[3 * i + 1], m = x[3 * i + 2];
    if (!(target > 0 && rate > 0 && m >= NDE_NFE_MULTIPLIER_MIN && m <= NDE_NFE_MULTIPLIER_MAX))
      return nde_error(NDE_EPARSE, "%s: checkpoint metadata 'nfe_duals': triple %d (%g %g %g) "
                       "needs target > 0, rate > 0 and a multiplier in [%g, %g]", path, i + 1,
                       target, rate, m, NDE_NFE_MULTIPLIER_MIN, NDE_NFE_MULTIPLIER_MAX);
    d->target[i] = target;
    d->rate[i] = rate;
    d->multiplier[i] = m;
  }
  d->n = n / 3;
  return NDE_OK;
}

/* The run state, each field checked against @p expect when given. */
static nde_status read_state(const nde_safetensors *f, const char *path,
                             const nde_checkpoint_expect *expect, nde_run_state *state) {
  uint64_t drawn;
  NDE_TRY(meta_u64(f, path, "rng_seed", &state->epoch_rng.seed));
  NDE_TRY(meta_u64(f, path, "rng_stream", &state->epoch_rng.stream));
  NDE_TRY(meta_u64(f, path, "rng_counter", &state->epoch_rng.counter));
  NDE_TRY(meta_u64(f, path, "epoch_position", &state->epoch_pos));
  NDE_TRY(meta_u64(f, path, "epoch_drawn", &drawn));
  NDE_TRY(meta_u64(f, path, "optimizer_steps", &state->optimizer_steps));
  NDE_TRY(meta_number(f, path, "wall_time", 1, &state->wall_time));
  /* optional: checkpoints written before follow_loss coefficients lack it (0: none known) */
  state->data_loss_average = 0;
  NDE_TRY(meta_number(f, path, "data_loss_average", 0, &state->data_loss_average));
  NDE_TRY(read_duals(f, path, &state->nfe_duals));
  if (drawn > 1)
    return nde_error(NDE_EPARSE, "%s: checkpoint metadata 'epoch_drawn' must be 0 or 1, got %llu",
                     path, (unsigned long long)drawn);
  state->have_epoch = drawn != 0;
  if (state->optimizer_steps > state->step)
    return nde_error(NDE_EINVAL,
                     "%s: checkpoint metadata 'optimizer_steps' = %llu exceeds 'step' = %llu",
                     path, (unsigned long long)state->optimizer_steps,
                     (unsigned long long)state->step);
  if (!expect)
    return NDE_OK;
  if (state->step > expect->max_step)
    return nde_error(NDE_EINVAL,
                     "%s: checkpoint metadata 'step' = %llu is past train.steps = %llu; nothing to "
                     "train (raise train.steps to continue this run)",
                     path, (unsigned long long)state->step, (unsigned long long)expect->max_step);
  uint64_t limit = state->have_epoch ? expect->train_count : 0;
  if (state->epoch_pos > limit)
    return nde_error(NDE_EINVAL,
                     "%s: checkpoint metadata 'epoch_position' = %llu is beyond %s (%llu samples)",
                     path, (unsigned long long)state->epoch_pos,
                     state->have_epoch ? "the training set" : "the start of the first epoch",
                     (unsigned long long)limit);
  if (state->have_epoch && state->epoch_rng.seed != expect->rng_seed)
    return nde_error(NDE_EINVAL,
                     "%s: checkpoint metadata 'rng_seed' = %llu but the pipeline's seed is %llu",
                     path, (unsigned long long)state->epoch_rng.seed,
                     (unsigned long long)expect->rng_seed);
  if (state->have_epoch && state->epoch_rng.stream != expect->rng_stream)
    return nde_error(NDE_EINVAL,
                     "%s: checkpoint metadata 'rng_stream' = %llu is not the shuffling stream %llu",
                     path, (unsigned long long)state->epoch_rng.stream,
                     (unsigned long long)expect->rng_stream);
  return NDE_OK;
}

nde_status nde_checkpoint_load(const char *path, const nde_model *model, void *params,
                               nde_optimizer *optimizer, const nde_checkpoint_expect *expect,
                               nde_run_state *state) {
  nde_safetensors *f;
  NDE_TRY(nde_safetensors_read(path, &f));
  nde_backend *be = nde_model_backend(model);
  nde_dtype dt = nde_model_dtype(model);
  size_t es = nde_dtype_size(dt);
  nde_status st = NDE_OK;
  const char *format = nde_safetensors_metadata(f, "format");
  if (!format || strcmp(format, CHECKPOINT_FORMAT))
    st = nde_error(NDE_EPARSE, "%s: not an nde training checkpoint (format '%s')", path,
                   format ? format : "none");
  if (st == NDE_OK)
    st = check_contents(f, path, model, optimizer);
  if (st == NDE_OK)
    st = meta_u64(f, path, "step", &state->step);
  if (st == NDE_OK && optimizer)
    st = read_state(f, path, expect, state);
  for (size_t i = 0; i < nde_model_block_count(model) && st == NDE_OK; ++i) {
    const nde_layout_entry *e = nde_model_block(model, i);
    const nde_st_tensor *t;
    st = nde_safetensors_expect(f, e->name, st_dtype(dt), e->size, &t);
    if (st == NDE_OK)
      st = be->ops->upload(be->ctx, (char *)params + e->offset * es, t->data, e->size * es);
  }
  for (int k = 0; optimizer && k < nde_optimizer_buffer_count(optimizer) && st == NDE_OK; ++k) {
    const char *bname;
    nde_array view;
    st = nde_optimizer_buffer(optimizer, k, &bname, &view);
    char name[256];
    snprintf(name, sizeof name, "optimizer.%s", bname);
    const nde_st_tensor *t;
    if (st == NDE_OK)
      st = nde_safetensors_expect(f, name, st_dtype(dt), view.size, &t);
    if (st == NDE_OK)
      st = be->ops->upload(be->ctx, view.data, t->data, view.size * es);
  }
  nde_safetensors_destroy(&f);
  return st;
}
