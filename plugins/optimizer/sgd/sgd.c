/*
 * Plain stochastic gradient descent (Robbins & Monro 1951) with optional
 * coupled L2 weight decay:  θ ← θ − lr·(g + λ·θ)  =  (1 − lr·λ)·θ − lr·g.
 * No state.
 */
#include <nde/optimizer.h>

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

NDE_OPTIMIZER_DEFINE(sgd, sgd_step, NULL);
