/* Data losses: mean squared error and softmax cross-entropy on logits. */
#include "config.h"

#include <string.h>

#include "layer_impl.h"

static const char *const loss_names[] = {"mse", "cross_entropy"};

nde_status nde_loss_parse(const char *name, nde_loss *out) {
  if (!strcmp(name, "logitcrossentropy") || !strcmp(name, "softmax_cross_entropy")) {
    *out = NDE_LOSS_CROSS_ENTROPY;
    return NDE_OK;
  }
  int index;
  NDE_TRY(nde_lookup_name("loss", loss_names, 2, name, &index));
  *out = (nde_loss)index;
  return NDE_OK;
}

const char *nde_loss_name(nde_loss loss) {
  return (unsigned)loss < 2 ? loss_names[loss] : NULL;
}

static nde_status mse(nde_backend *be, nde_dtype dt, size_t n, const void *y, const void *target,
                      double scale, double *value, void *dy) {
  void *diff = dy;
  if (!diff)
    NDE_TRY(be->ops->alloc(be->ctx, n * nde_dtype_size(dt), &diff));
  NDE_TRY(be->ops->copy(be->ctx, diff, y, n * nde_dtype_size(dt)));
  be->ops->axpy(be->ctx, dt, n, -1.0, target, diff);
  double ss = be->ops->dot(be->ctx, dt, n, diff, diff); /* over all ranks */
  size_t total = nde_backend_global_count(be, n);
  *value = total ? ss / (double)total : 0.0;
  if (dy)
    be->ops->scale(be->ctx, dt, n, total ? 2.0 * scale / (double)total : 0.0, dy);
  else
    be->ops->release(be->ctx, diff);
  return NDE_OK;
}

nde_status nde_loss_eval(nde_backend *backend, nde_dtype dtype, nde_loss loss, size_t rows,
                         size_t batch, const void *y, const void *targets, double scale,
                         double *value, void *dy, size_t *correct) {
  if (correct)
    *correct = 0;
  switch (loss) {
  case NDE_LOSS_MSE:
    return mse(backend, dtype, rows * batch, y, targets, scale, value, dy);
  case NDE_LOSS_CROSS_ENTROPY: {
    NDE_TRY(NDE_BACKEND_NEED(backend, softmax_cross_entropy));
    /* a distributed backend sums the total and the count over the ranks: the mean is over
       the whole batch */
    size_t all = nde_backend_global_count(backend, batch);
    double mean_scale = all ? scale / (double)all : 0.0;
    double total = backend->ops->softmax_cross_entropy(backend->ctx, dtype, rows, batch, y,
                                                       targets, mean_scale, dy, correct);
    *value = all ? total / (double)all : 0.0;
    return NDE_OK;
  }
  default:
    return nde_error(NDE_EINVAL, "unknown loss %d", (int)loss);
  }
}
