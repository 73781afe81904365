/*
 * Deliberately broken optimizer and dataset plugins for tests/test-vtable.c:
 * a vtable missing a required operation, and one too small for the ABI.
 */
#include <nde/dataset.h>
#include <nde/optimizer.h>

static int no_buffers(const nde_options *options) {
  (void)options;
  return 0;
}

static const char *no_name(const nde_options *options, int index) {
  (void)options;
  (void)index;
  return NULL;
}

/* step is missing */
NDE_PLUGIN_DEFINE(optimizer, stepless, .n_buffers = no_buffers, .buffer_name = no_name);

/* a header claiming a vtable that ends before its required fields */
static const nde_dataset_ops truncated = {
    .header = {NDE_ABI_VERSION, (uint32_t)sizeof(nde_plugin_header) + sizeof(void *),
               NDE_KIND_DATASET, "truncated"},
};

NDE_PLUGIN_EXPORT const void *nde_plugin_dataset_truncated(void);
NDE_PLUGIN_EXPORT const void *nde_plugin_dataset_truncated(void) { return &truncated; }

/*
 * A layer built against an older nde whose layer vtable ended at `vjp` (the
 * first published layer vtable, before `jvp` was appended). Its struct is
 * followed in memory by a non-NULL word exactly where today's `jvp` slot
 * sits, so a core that ignored the header's size would read a bogus jvp.
 * y = 2x.
 */
#include <string.h>

#include <nde/backend.h>
#include <nde/layer.h>

typedef struct old_layer_ops {
  nde_plugin_header header;
  nde_status (*create)(const nde_options *options, const nde_shape *input, nde_layer_spec *spec,
                       void **self);
  void (*destroy)(void *self);
  nde_status (*forward)(void *self, const nde_layer_ctx *ctx, const void *x, double t,
                        const void *params, void *y, void *saved);
  nde_status (*vjp)(void *self, const nde_layer_ctx *ctx, const void *x, double t,
                    const void *params, const void *y, const void *saved, const void *dy,
                    void *dx, void *dparams, double *dt, void *scratch);
} old_layer_ops;

static size_t twice_features;

static nde_status twice_create(const nde_options *options, const nde_shape *input,
                               nde_layer_spec *spec, void **self) {
  (void)options;
  twice_features = nde_shape_size(input);
  spec->output = *input;
  *self = &twice_features;
  return NDE_OK;
}

static void twice_destroy(void *self) { (void)self; }

static nde_status twice_forward(void *self, const nde_layer_ctx *ctx, const void *x, double t,
                                const void *params, void *y, void *saved) {
  (void)t, (void)params, (void)saved;
  size_t n = *(const size_t *)self * ctx->batch;
  ctx->backend->ops->fill(ctx->backend->ctx, ctx->dtype, n, 0.0, y);
  ctx->backend->ops->axpy(ctx->backend->ctx, ctx->dtype, n, 2.0, x, y);
  return NDE_OK;
}

static nde_status twice_vjp(void *self, const nde_layer_ctx *ctx, const void *x, double t,
                            const void *params, const void *y, const void *saved, const void *dy,
                            void *dx, void *dparams, double *dt, void *scratch) {
  (void)x, (void)t, (void)params, (void)y, (void)saved, (void)dparams, (void)dt, (void)scratch;
  size_t n = *(const size_t *)self * ctx->batch;
  if (dx) {
    ctx->backend->ops->fill(ctx->backend->ctx, ctx->dtype, n, 0.0, dx);
    ctx->backend->ops->axpy(ctx->backend->ctx, ctx->dtype, n, 2.0, dy, dx);
  }
  return NDE_OK;
}

static const struct {
  old_layer_ops ops;
  const void *poison; /* where today's jvp slot is */
} twice = {
    {.header = {NDE_ABI_VERSION, (uint32_t)sizeof(old_layer_ops), NDE_KIND_LAYER, "twice"},
     .create = twice_create,
     .destroy = twice_destroy,
     .forward = twice_forward,
     .vjp = twice_vjp},
    &twice_features,
};

/* shorter than the first published layer vtable: ends before the required vjp */
static const nde_layer_ops too_short = {
    .header = {NDE_ABI_VERSION, (uint32_t)NDE_VTABLE_END(nde_layer_ops, forward), NDE_KIND_LAYER,
               "too_short"},
    .create = twice_create,
    .destroy = twice_destroy,
    .forward = twice_forward,
    .vjp = twice_vjp,
};

NDE_PLUGIN_EXPORT const void *nde_plugin_layer_twice(void);
NDE_PLUGIN_EXPORT const void *nde_plugin_layer_twice(void) { return &twice; }
NDE_PLUGIN_EXPORT const void *nde_plugin_layer_too_short(void);
NDE_PLUGIN_EXPORT const void *nde_plugin_layer_too_short(void) { return &too_short; }
