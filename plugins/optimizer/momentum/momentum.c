/*
 * Heavy-ball momentum (Polyak 1964), in the form of PyTorch's SGD and
 * Optax's `trace`:
 *     v ← μ·v + g + λ·θ
 *     θ ← θ − lr·v                       (heavy ball)
 *     θ ← θ − lr·(g + λ·θ + μ·v)         (Nesterov; Sutskever et al. 2013)
 * with optional coupled L2 weight decay λ. One state buffer, "velocity".
 */
#include <nde/optimizer.h>

static nde_status momentum_step(const nde_options *options, nde_backend *be, nde_dtype dt,
                                size_t n, double lr, uint64_t step, void *params,
                                const void *grads, void *const *buffers) {
  (void)step;
  double mu = nde_options_number(options, "momentum", 0.9);
  double wd = nde_options_number(options, "weight_decay", 0);
  int nesterov = nde_options_bool(options, "nesterov", 0);
  void *v = buffers[0];
  if (wd == 0) { /* the common case: two-term BLAS-shaped updates */
    be->ops->axpby(be->ctx, dt, n, 1.0, grads, mu, v); /* v = g + mu v */
    if (nesterov) {
      be->ops->axpy(be->ctx, dt, n, -lr, grads, params);
      be->ops->axpy(be->ctx, dt, n, -lr * mu, v, params);
    } else {
      be->ops->axpy(be->ctx, dt, n, -lr, v, params);
    }
    return NDE_OK;
  }
  /* v = mu v + g + wd θ */
  const void *terms[2] = {grads, params};
  double c[2] = {1, wd};
  be->ops->lincomb(be->ctx, dt, n, 2, c, terms, mu, v);
  if (nesterov) {
    /* θ = θ − lr (g + wd θ + mu v) */
    const void *x[3] = {grads, v, params};
    double cn[3] = {-lr, -lr * mu, -lr * wd};
    be->ops->lincomb(be->ctx, dt, n, 3, cn, x, 1.0, params);
  } else {
    be->ops->axpy(be->ctx, dt, n, -lr, v, params);
  }
  return NDE_OK;
}

NDE_OPTIMIZER_DEFINE(momentum, momentum_step, "velocity");
