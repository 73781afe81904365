/*
 * parallel: every branch gets the same input; the outputs are concatenated
 * along the features ("combine": "concat", the default) or summed ("add").
 * JSON: {"parallel": [LAYER, ...], "combine": "concat"}; branch i is at
 * PATH.parallel[i].
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <stdlib.h>

#include "layer_impl.h"

typedef struct parallel_state {
  int add; /* 1: sum the branches; 0: concatenate */
} parallel_state;

static nde_status parallel_build(nde_builder *b, nde_layer *node, const json_t *spec) {
  const json_t *list = json_is_object(spec) ? json_object_get(spec, "parallel") : NULL;
  if (!json_is_array(list) || json_array_size(list) == 0)
    return nde_error(NDE_EINVAL, "%s.parallel: expected a non-empty array of layers",
                     node->path);
  parallel_state *state = calloc(1, sizeof *state);
  if (!state)
    return nde_error(NDE_ENOMEM, "out of memory");
  node->state = state;
  const json_t *value = json_object_get(spec, "combine");
  if (value) {
    static const char *const modes[] = {"concat", "add"};
    int mode;
    if (!json_is_string(value))
      return nde_error(NDE_EINVAL, "%s.combine: expected \"concat\" or \"add\"", node->path);
    nde_status st = nde_lookup_name("combine mode", modes, 2, json_string_value(value), &mode);
    if (st != NDE_OK)
      return nde_error_prefix(st, "%s.combine", node->path);
    state->add = mode == 1;
  }
  size_t features = 0;
  for (size_t i = 0; i < json_array_size(list); ++i) {
    char path[1024];
    snprintf(path, sizeof path, "%s.parallel[%zu]", node->path, i);
    nde_layer *child;
    NDE_TRY(nde_builder_child(b, node, json_array_get(list, i), path, &node->input, &child));
    size_t f = nde_shape_size(&child->output);
    if (state->add && i > 0 && f != features)
      return nde_error(NDE_EINVAL, "%s: branch has %zu output features, branch 0 has %zu; "
                       "\"add\" needs them equal", path, f, features);
    features = state->add ? f : features + f;
  }
  node->output = state->add ? node->children[0]->output : nde_shape_vector(features);
  return NDE_OK;
}

static nde_status parallel_forward(const nde_layer *node, const nde_layer_ctx *ctx,
                                   nde_record *rec) {
  const parallel_state *state = node->state;
  const nde_backend *be = ctx->backend;
  size_t n = node->n_children, rows = nde_shape_size(&node->output);
  NDE_TRY(nde_arena_alloc_host(ctx->arena, n * sizeof *rec->children, (void **)&rec->children));
  rec->n_children = n;
  NDE_TRY(nde_ctx_alloc(ctx, rows * ctx->batch, &rec->y));
  if (!state->add)
    NDE_TRY(NDE_BACKEND_NEED(be, copy_matrix));
  size_t row = 0;
  for (size_t i = 0; i < n; ++i) {
    const nde_layer *c = node->children[i];
    NDE_TRY(nde_layer_forward(c, ctx, rec->x, rec->t,
                              nde_child_params(node, c, ctx->dtype, rec->params),
                              &rec->children[i]));
    size_t f = nde_shape_size(&c->output);
    if (state->add) {
      be->ops->axpby(be->ctx, ctx->dtype, f * ctx->batch, 1.0, rec->children[i]->y,
                     i == 0 ? 0.0 : 1.0, rec->y);
    } else {
      be->ops->copy_matrix(be->ctx, ctx->dtype, f, ctx->batch, rec->children[i]->y, f,
                           nde_elem(rec->y, ctx->dtype, row), rows);
      row += f;
    }
  }
  return NDE_OK;
}

static nde_status parallel_vjp(const nde_layer *node, const nde_layer_ctx *ctx,
                               const nde_record *rec, const void *dy, void *dx, void *dparams,
                               double *dt) {
  const parallel_state *state = node->state;
  const nde_backend *be = ctx->backend;
  size_t rows = nde_shape_size(&node->output), in = nde_shape_size(&node->input) * ctx->batch;
  void *dy_branch = NULL, *dx_branch = NULL;
  if (!state->add)
    NDE_TRY(nde_ctx_alloc(ctx, rows * ctx->batch, &dy_branch));
  if (dx && node->n_children > 1)
    NDE_TRY(nde_ctx_alloc(ctx, in, &dx_branch));
  size_t row = 0;
  for (size_t i = 0; i < node->n_children; ++i) {
    const nde_layer *c = node->children[i];
    size_t f = nde_shape_size(&c->output);
    const void *g = dy;
    if (!state->add) {
      be->ops->copy_matrix(be->ctx, ctx->dtype, f, ctx->batch, nde_celem(dy, ctx->dtype, row),
                           rows, dy_branch, f);
      g = dy_branch;
      row += f;
    }
    void *gx = dx ? (i == 0 ? dx : dx_branch) : NULL;
    NDE_TRY(nde_layer_vjp(c, ctx, rec->children[i], g, gx,
                          nde_child_dparams(node, c, ctx->dtype, dparams), dt));
    if (dx && i > 0)
      be->ops->axpy(be->ctx, ctx->dtype, in, 1.0, dx_branch, dx);
  }
  return NDE_OK;
}

static nde_status parallel_jvp(const nde_layer *node, const nde_layer_ctx *ctx,
                               const nde_record *rec, const void *tx, const void *tparams,
                               double tt, void *ty) {
  const parallel_state *state = node->state;
  const nde_backend *be = ctx->backend;
  size_t rows = nde_shape_size(&node->output), row = 0;
  void *branch;
  NDE_TRY(nde_ctx_alloc(ctx, rows * ctx->batch, &branch));
  for (size_t i = 0; i < node->n_children; ++i) {
    const nde_layer *c = node->children[i];
    size_t f = nde_shape_size(&c->output);
    NDE_TRY(nde_layer_jvp(c, ctx, rec->children[i], tx,
                          nde_child_cparams(node, c, ctx->dtype, tparams), tt, branch));
    if (state->add) {
      be->ops->axpby(be->ctx, ctx->dtype, f * ctx->batch, 1.0, branch, i == 0 ? 0.0 : 1.0, ty);
    } else {
      be->ops->copy_matrix(be->ctx, ctx->dtype, f, ctx->batch, branch, f,
                           nde_elem(ty, ctx->dtype, row), rows);
      row += f;
    }
  }
  return NDE_OK;
}

static void parallel_destroy(nde_layer *node) { free(node->state); }

static const nde_core_key parallel_keys[] = {
    {"parallel", "layers", 1, NULL, "the branches; each gets the same input", NULL},
    {"combine", "string", 0, NDE_JSON_STR("concat"),
     "concatenate the branches' outputs along the features, or add them (equal sizes)",
     "[\"concat\", \"add\"]"},
};

NDE_CORE_LAYER_DEFINE(parallel,
                      "branches on the same input, concatenated or added",
                      parallel_keys,
                      .build = parallel_build, .forward = parallel_forward,
                      .vjp = parallel_vjp, .destroy = parallel_destroy, .jvp = parallel_jvp);
