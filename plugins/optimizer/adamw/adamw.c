/*
 * AdamW (Loshchilov & Hutter, "Decoupled weight decay regularization",
 * ICLR 2019, Algorithm 2), with the decay scaled by the learning rate as in
 * Optax's adamw and PyTorch's AdamW:
 *     θ ← θ − lr·( m̂ / (√v̂ + ε) + λ·θ )
 * with Adam's moments m, v. The decay does not enter the moments.
 * Defaults: Adam's, and λ = 1e-4 (Optax).
 */
#include <nde/optimizer.h>

static nde_status adamw_step(const nde_options *options, nde_backend *be, nde_dtype dt,
                             size_t n, double lr, uint64_t step, void *params, const void *grads,
                             void *const *buffers) {
  NDE_TRY(nde_optimizer_check_backend(be, "adamw"));
  nde_adam_settings s = nde_adam_settings_read(options, 1e-8, 0);
  double wd = nde_options_number(options, "weight_decay", 1e-4);
  /* The Adam direction does not depend on θ (nor do the moments), so
   * decaying first is exact. */
  if (wd != 0)
    be->ops->scale(be->ctx, dt, n, 1 - lr * wd, params);
  nde_adam_update(be, dt, n, lr, step, &s, grads, buffers[0], buffers[1], params);
  return NDE_OK;
}

NDE_OPTIMIZER_DEFINE(adamw, adamw_step, "m", "v");
