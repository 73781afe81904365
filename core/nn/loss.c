/* Data losses: mean squared error (plain and masked) and softmax cross-entropy on logits. */
#include "config.h"

#include <string.h>

#include "layer_impl.h"

static const char *const loss_names[] = {"mse", "cross_entropy", "masked_mse"};
#define N_LOSSES (sizeof loss_names / sizeof *loss_names)

nde_status nde_loss_parse(const char *name, nde_loss *out) {
  if (!strcmp(name, "logitcrossentropy") || !strcmp(name, "softmax_cross_entropy")) {
    *out = NDE_LOSS_CROSS_ENTROPY;
    return NDE_OK;
  }
  int index;
  NDE_TRY(nde_lookup_name("loss", loss_names, (int)N_LOSSES, name, &index));
  *out = (nde_loss)index;
  return NDE_OK;
}

const char *nde_loss_name(nde_loss loss) {
  return (unsigned)loss < N_LOSSES ? loss_names[loss] : NULL;
}

size_t nde_loss_target_rows(nde_loss loss, size_t outputs) {
  return loss == NDE_LOSS_CROSS_ENTROPY ? 1 : loss == NDE_LOSS_MASKED_MSE ? 2 * outputs : outputs;
}

/*
 * Σ m·(y − v)² / Σ m with targets [v; m] per column: the values and the mask
 * are split into contiguous copies, then every step is a backend operation.
 */
static nde_status masked_mse(nde_backend *be, nde_dtype dt, size_t rows, size_t batch,
                             const void *y, const void *target, double scale, double *value,
                             void *dy) {
  NDE_TRY(NDE_BACKEND_NEED(be, copy_matrix));
  size_t n = rows * batch, es = nde_dtype_size(dt);
  void *buf;
  NDE_TRY(be->ops->alloc(be->ctx, 3 * n * es + 1, &buf));
  char *diff = buf, *mask = diff + n * es, *w = mask + n * es;
  be->ops->copy_matrix(be->ctx, dt, rows, batch, target, 2 * rows, diff, rows);
  be->ops->copy_matrix(be->ctx, dt, rows, batch, (const char *)target + rows * es, 2 * rows, mask,
                       rows);
  be->ops->axpby(be->ctx, dt, n, 1.0, y, -1.0, diff); /* y − v */
  be->ops->mul(be->ctx, dt, n, mask, diff, w);
  double count = be->ops->sum(be->ctx, dt, n, mask);
  *value = count > 0 ? be->ops->dot(be->ctx, dt, n, w, diff) / count : 0.0;
  if (dy) {
    be->ops->copy(be->ctx, dy, w, n * es);
    be->ops->scale(be->ctx, dt, n, count > 0 ? 2.0 * scale / count : 0.0, dy);
  }
  be->ops->release(be->ctx, buf);
  return NDE_OK;
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
  case NDE_LOSS_MASKED_MSE:
    return masked_mse(backend, dtype, rows, batch, y, targets, scale, value, dy);
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
