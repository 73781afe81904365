/*
 * AdaMax (Kingma & Ba 2015, section 7.1, Algorithm 2): Adam with the
 * infinity norm in place of the second moment,
 *     m ← β₁·m + (1 − β₁)·g
 *     u ← max(β₂·u, |g|)
 *     θ ← θ − (lr / (1 − β₁ᵗ))·m / (u + ε)
 * The paper has no ε (u > 0 once any gradient is nonzero); Optax's adamax
 * adds ε = 1e-8 to keep zero-gradient coordinates finite, and so do we.
 * Defaults lr = 2e-3, β₁ = 0.9, β₂ = 0.999 (the paper's).
 */
#include <math.h>

#include <nde/optimizer.h>

static nde_status adamax_step(const nde_options *options, nde_backend *be, nde_dtype dt,
                              size_t n, double lr, uint64_t step, void *params,
                              const void *grads, void *const *buffers) {
  NDE_TRY(nde_optimizer_check_backend(be, "adamax"));
  nde_adam_settings s = nde_adam_settings_read(options, 1e-8, 0); /* β₂ decays u here */
  void *m = buffers[0], *u = buffers[1];
  be->ops->axpby(be->ctx, dt, n, 1 - s.b1, grads, s.b1, m);
  be->ops->max_abs(be->ctx, dt, n, grads, s.b2, u);
  be->ops->div_axpy(be->ctx, dt, n, -lr / (1 - pow(s.b1, (double)step)), m, 1, u, s.eps, 0,
                    params);
  return NDE_OK;
}

NDE_OPTIMIZER_DEFINE(adamax, adamax_step, "m", "u");
