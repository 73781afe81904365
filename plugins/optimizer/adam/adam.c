/*
 * Adam (Kingma & Ba, "Adam: A method for stochastic optimization", ICLR
 * 2015, Algorithm 1):
 *     m ← β₁·m + (1 − β₁)·g
 *     v ← β₂·v + (1 − β₂)·g²
 *     θ ← θ − lr·m̂ / (√v̂ + ε),   m̂ = m/(1 − β₁ᵗ),  v̂ = v/(1 − β₂ᵗ)
 * Defaults lr = 1e-3, β₁ = 0.9, β₂ = 0.999, ε = 1e-8 (the paper's).
 */
#include <nde/optimizer.h>

static nde_status adam_step(const nde_options *options, nde_backend *be, nde_dtype dt, size_t n,
                            double lr, uint64_t step, void *params, const void *grads,
                            void *const *buffers) {
  NDE_TRY(nde_optimizer_check_backend(be, "adam"));
  nde_adam_settings s = nde_adam_settings_read(options, 1e-8, 0);
  nde_adam_update(be, dt, n, lr, step, &s, grads, buffers[0], buffers[1], params);
  return NDE_OK;
}

NDE_OPTIMIZER_DEFINE(adam, adam_step, "m", "v");
