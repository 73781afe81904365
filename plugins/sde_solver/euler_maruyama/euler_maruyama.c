/*
 * Euler–Maruyama: u₁ = u + h·f(t, u) + g(t, u) ⊙ ΔW. Strong order 1/2, weak
 * order 1 for Itô SDEs (Kloeden & Platen, Numerical Solution of SDEs, §10.2).
 * Fixed steps only (no error estimate). Diagonal, scalar and general noise
 * (g(t, u) an n × m matrix per column: u₁ = u + h·f + g·ΔW).
 */
#include <nde/sde.h>

/* The core's Euler–Maruyama step (shared with lamba_em). */
static nde_status em_step(const nde_sde_rhs *rhs, nde_sde_step *st) {
  return nde_sde_em_step(rhs, st);
}

/* Reverse mode: Euler–Maruyama is the one-stage SRI tableau of the core; general noise has its own pullback there. */
static nde_status em_step_reverse(const nde_sde_rhs *rhs, nde_sde_reverse *rev) {
  if (rhs->noise == NDE_NOISE_GENERAL)
    return nde_em_general_step_reverse(rhs, rev);
  return nde_sri_step_reverse(nde_sri_tableau_euler_maruyama(), rhs, rev);
}

NDE_PLUGIN_DEFINE(sde_solver, euler_maruyama, .tableau = NULL, .strong_order = 0.5,
                  .weak_order = 1.0, .needs_dz = 0, .adaptive = 0, .stiffness = 0, .stages = 1,
                  .delta = 0, .step = em_step, .step_reverse = em_step_reverse,
                  .general_noise = 1);
