/*
 * nde_gradcheck(): the pipeline's loss gradient against fourth-order central
 * finite differences in float64, on one batch, with the solvers' step sequences
 * frozen (recorded by the gradient pass, replayed by every evaluation).
 */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <nde/backend.h>
#include <nde/dataset.h>
#include <nde/loss.h>
#include <nde/model.h>

#include "pipeline_impl.h"

typedef struct gc {
  nde_backend *backend;
  nde_dataset *data;
  nde_model *model;
  nde_arena *arena;
  nde_array params, grads, x, y, dy;
  size_t n_out, batch;
} gc;

static void gc_close(gc *g) {
  nde_array_destroy(&g->params);
  nde_array_destroy(&g->grads);
  nde_array_destroy(&g->x);
  nde_array_destroy(&g->y);
  nde_array_destroy(&g->dy);
  nde_arena_destroy(&g->arena);
  nde_model_destroy(&g->model);
  nde_dataset_destroy(&g->data);
  nde_backend_destroy(&g->backend);
}

/* Loss at the current parameters; with want_grad the gradient into g->grads. */
static nde_status eval_loss(gc *g, nde_pipeline *p, int freeze, int want_grad, double *loss) {
  nde_layer_metrics metrics;
  nde_layer_metrics_clear(&metrics);
  nde_arena_reset(g->arena);
  nde_layer_ctx ctx = {g->backend, NDE_FLOAT64, g->batch, g->arena, 0, 1, p->seed, &metrics,
                       freeze, 0, 0.0, NULL};
  const nde_layer *root = nde_model_root(g->model);
  nde_record *rec;
  NDE_TRY(nde_layer_forward(root, &ctx, g->x.data, 0.0, g->params.data, &rec));
  double data_loss;
  NDE_TRY(nde_loss_eval(g->backend, NDE_FLOAT64, p->loss, g->n_out, g->batch,
                        nde_record_output(rec), g->y.data, 1.0, &data_loss,
                        want_grad ? g->dy.data : NULL, NULL));
  *loss = data_loss + metrics.aux_loss;
  if (!want_grad)
    return NDE_OK;
  g->backend->ops->fill(g->backend->ctx, NDE_FLOAT64, g->grads.size, 0.0, g->grads.data);
  return nde_layer_vjp(root, &ctx, rec, g->dy.data, NULL, g->grads.data, NULL);
}

static nde_status run(gc *g, nde_pipeline *p, const nde_gradcheck_options *o,
                      nde_gradcheck_result *r) {
  NDE_TRY(nde_backend_open(p->registry, p->backend_name, p->backend_options, &g->backend));
  NDE_TRY(nde_dataset_open(p->registry, p->dataset_name, p->data_json, "train", p->seed, "data",
                           &g->data));
  nde_dataset_info info;
  nde_dataset_get_info(g->data, &info);
  nde_shape in = nde_shape_vector(info.input_size);
  NDE_TRY(nde_model_build(p->registry, p->model_json, "model", &in, g->backend, NDE_FLOAT64,
                          &g->model));
  g->n_out = nde_shape_size(nde_layer_output_shape(nde_model_root(g->model)));
  if (p->loss != NDE_LOSS_CROSS_ENTROPY &&
      nde_loss_target_rows(p->loss, g->n_out) != info.target_size)
    return nde_error(NDE_EINVAL, "model: outputs %zu features but targets have %zu (%s)",
                     g->n_out, info.target_size, nde_loss_name(p->loss));
  g->batch = p->batch_size < info.count ? p->batch_size : info.count;
  size_t np = nde_model_param_count(g->model);
  size_t xs[2] = {info.input_size, g->batch}, ys[2] = {info.target_size, g->batch},
         ds[2] = {g->n_out, g->batch};
  NDE_TRY(nde_array_create(g->backend, NDE_FLOAT64, 1, &np, &g->params));
  NDE_TRY(nde_array_create(g->backend, NDE_FLOAT64, 1, &np, &g->grads));
  NDE_TRY(nde_array_create(g->backend, NDE_FLOAT64, 2, xs, &g->x));
  NDE_TRY(nde_array_create(g->backend, NDE_FLOAT64, 2, ys, &g->y));
  NDE_TRY(nde_array_create(g->backend, NDE_FLOAT64, 2, ds, &g->dy));
  NDE_TRY(nde_arena_create(g->backend, &g->arena));
  nde_rng init = nde_rng_make(p->seed, 1); /* as nde_train initializes */
  NDE_TRY(nde_model_init_params(g->model, &init, g->params.data));
  uint64_t *idx = malloc(g->batch * sizeof *idx);
  double *host = malloc(np * sizeof *host), *grad = malloc(np * sizeof *grad);
  uint64_t *pick = malloc(np * sizeof *pick);
  nde_status st = (idx && host && grad && pick) ? NDE_OK : nde_error(NDE_ENOMEM, "out of memory");
  if (st == NDE_OK) {
    for (size_t i = 0; i < g->batch; ++i)
      idx[i] = i;
    st = nde_dataset_batch(g->data, idx, g->batch, &g->x, &g->y);
  }
  if (st == NDE_OK)
    st = eval_loss(g, p, 1, 1, &r->loss);
  if (st == NDE_OK)
    st = nde_array_to_doubles(&g->grads, grad, np);
  if (st == NDE_OK)
    st = nde_array_to_doubles(&g->params, host, np);
  size_t want = o && o->n_check ? o->n_check : 20;
  if (want > np)
    want = np;
  double eps = o && o->eps > 0 ? o->eps : 1e-3;
  if (st == NDE_OK) {
    for (size_t i = 0; i < np; ++i)
      pick[i] = i;
    nde_rng rng = nde_rng_make(o ? o->seed : 0, 0x67726164u /* "grad" */);
    nde_rng_shuffle(&rng, pick, np);
  }
  r->checked = 0;
  r->max_rel_error = r->max_abs_error = 0;
  for (size_t c = 0; st == NDE_OK && c < want; ++c) {
    size_t i = pick[c];
    double p0 = host[i], h = eps * fmax(1.0, fabs(p0)), l[4] = {0, 0, 0, 0};
    static const double off[4] = {1, -1, 2, -2};
    for (int q = 0; q < 4 && st == NDE_OK; ++q) {
      host[i] = p0 + off[q] * h;
      st = nde_array_from_doubles(&g->params, host, np);
      if (st == NDE_OK)
        st = eval_loss(g, p, 2, 0, &l[q]);
    }
    host[i] = p0;
    if (st == NDE_OK)
      st = nde_array_from_doubles(&g->params, host, np);
    /* fourth-order central difference: truncation O(h⁴) lets h be large enough that the
       rounding noise of the loss (error estimates are computed with cancellation) stays small */
    double fd = (8.0 * (l[0] - l[1]) - (l[2] - l[3])) / (12.0 * h), err = fabs(fd - grad[i]);
    double rel = err / fmax(fmax(fabs(fd), fabs(grad[i])), 1e-8);
    if (err > r->max_abs_error)
      r->max_abs_error = err;
    if (rel > r->max_rel_error)
      r->max_rel_error = rel;
    r->checked++;
  }
  free(idx);
  free(host);
  free(grad);
  free(pick);
  return st;
}

nde_status nde_gradcheck(nde_pipeline *p, const nde_gradcheck_options *o,
                         nde_gradcheck_result *r) {
  *r = (nde_gradcheck_result){0};
  gc g = {0};
  nde_status st = run(&g, p, o, r);
  gc_close(&g);
  return st == NDE_OK ? NDE_OK : nde_error_prefix(st, "%s: gradcheck", p->file);
}
