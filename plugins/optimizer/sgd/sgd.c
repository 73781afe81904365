/*
 * Plain stochastic gradient descent (Robbins & Monro 1951) with optional
 * coupled L2 weight decay:  θ ← θ − lr·(g + λ·θ)  =  (1 − lr·λ)·θ − lr·g.
 * No state.
 */
#include <nde/optimizer.h>

static int sgd_n_buffers(const nde_options *options) {
  (void)options;
  return 0;
}

static const char *sgd_buffer_name(const nde_options *options, int index) {
  (void)options;
  (void)index;
  return NULL;
}

static nde_status sgd_step(const nde_options *options, nde_backend *be, nde_dtype dt, size_t n,
                           double lr, uint64_t step, void *params, const void *grads,
                           void *const *buffers) {
  (void)step;
  (void)buffers;
  double wd = nde_options_number(options, "weight_decay", 0);
  if (wd != 0)
    be->ops->axpby(be->ctx, dt, n, -lr, grads, 1 - lr * wd, params);
  else
    be->ops->axpy(be->ctx, dt, n, -lr, grads, params);
  return NDE_OK;
}

NDE_PLUGIN_DEFINE(optimizer, sgd, .n_buffers = sgd_n_buffers, .buffer_name = sgd_buffer_name,
                  .step = sgd_step);
