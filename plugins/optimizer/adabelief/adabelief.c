/*
 * AdaBelief (Zhuang et al., "AdaBelief optimizer: adapting stepsizes by the
 * belief in observed gradients", NeurIPS 2020, Algorithm 2):
 *     m ← β₁·m + (1 − β₁)·g
 *     s ← β₂·s + (1 − β₂)·(g − m)² + ε
 *     θ ← θ − lr·m̂ / (√ŝ + ε),   m̂ = m/(1 − β₁ᵗ),  ŝ = s/(1 − β₂ᵗ)
 * (m in (g − m)² is the freshly updated one). Defaults lr = 1e-3,
 * β₁ = 0.9, β₂ = 0.999, ε = 1e-16 (the authors' adabelief-pytorch ≥ 0.1).
 */
#include <nde/optimizer.h>

static nde_status adabelief_step(const nde_options *options, nde_backend *be, nde_dtype dt,
                                 size_t n, double lr, uint64_t step, void *params,
                                 const void *grads, void *const *buffers) {
  NDE_TRY(nde_optimizer_check_backend(be, "adabelief"));
  nde_adam_settings s = nde_adam_settings_read(options, 1e-16, 1);
  nde_adam_update(be, dt, n, lr, step, &s, grads, buffers[0], buffers[1], params);
  return NDE_OK;
}

NDE_OPTIMIZER_DEFINE(adabelief, adabelief_step, "m", "s");
