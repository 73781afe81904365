/* Training checkpoints in safetensors (see checkpoint.h for the contents). */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    char v[9][64];
    snprintf(v[0], 64, "%" PRIu64, state->step);
    snprintf(v[1], 64, "%" PRIu64, state->epoch_rng.seed);
    snprintf(v[2], 64, "%" PRIu64, state->epoch_rng.stream);
    snprintf(v[3], 64, "%" PRIu64, state->epoch_rng.counter);
    snprintf(v[4], 64, "%" PRIu64, state->epoch_pos);
    snprintf(v[5], 64, "%d", state->have_epoch);
    snprintf(v[6], 64, "%" PRIu64, state->optimizer_steps);
    snprintf(v[7], 64, "%.17g", state->wall_time);
    snprintf(v[8], 64, "%s", nde_dtype_name(dt));
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

static nde_status meta_u64(const nde_safetensors *f, const char *path, const char *key,
                           uint64_t *out) {
  const char *v = nde_safetensors_metadata(f, key);
  char *end;
  if (!v || !*v)
    return nde_error(NDE_EPARSE, "%s: not an nde training checkpoint (no metadata '%s')", path,
                     key);
  *out = strtoull(v, &end, 10);
  if (*end)
    return nde_error(NDE_EPARSE, "%s: metadata '%s' is not an integer: '%s'", path, key, v);
  return NDE_OK;
}

nde_status nde_checkpoint_load(const char *path, const nde_model *model, void *params,
                               nde_optimizer *optimizer, nde_run_state *state) {
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
  uint64_t drawn = 0;
  if (st == NDE_OK)
    st = meta_u64(f, path, "step", &state->step);
  if (st == NDE_OK && optimizer) {
    if (st == NDE_OK)
      st = meta_u64(f, path, "rng_seed", &state->epoch_rng.seed);
    if (st == NDE_OK)
      st = meta_u64(f, path, "rng_stream", &state->epoch_rng.stream);
    if (st == NDE_OK)
      st = meta_u64(f, path, "rng_counter", &state->epoch_rng.counter);
    if (st == NDE_OK)
      st = meta_u64(f, path, "epoch_position", &state->epoch_pos);
    if (st == NDE_OK)
      st = meta_u64(f, path, "epoch_drawn", &drawn);
    if (st == NDE_OK)
      st = meta_u64(f, path, "optimizer_steps", &state->optimizer_steps);
    const char *wt = nde_safetensors_metadata(f, "wall_time");
    state->wall_time = wt ? strtod(wt, NULL) : 0.0;
    state->have_epoch = drawn != 0;
  }
  nde_safetensors_close(&f);
  return st;
}
