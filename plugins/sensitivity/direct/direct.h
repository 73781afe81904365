/*
 * Private to the `direct` sensitivity plugin: the state its ODE half
 * (direct.c) and its SDE half (direct_sde.c) share. Not installed.
 */
#ifndef NDE_PLUGIN_DIRECT_H
#define NDE_PLUGIN_DIRECT_H

#include <stddef.h>

#include <nde/sensitivity.h>

/* One accepted ODE step: its start state and stage derivatives. */
typedef struct step_rec {
  double t, dt;
  nde_array store; /* (n, s + 1): u_n, k_0 .. k_{s-1} */
  const nde_rk_tableau *tableau; /* an RK step, or NULL for a multistep one: */
  int lm_m;
  double lm_w[NDE_LM_MAX], lm_e[NDE_LM_MAX];
} step_rec;

/* Default of the "max_tape_mb" option: the most memory the recorded steps may take. */
#define DIRECT_DEFAULT_MAX_TAPE_MB 4096

typedef struct direct_state {
  size_t max_tape_bytes; /* the "max_tape_mb" option */
  step_rec *steps;
  size_t nsteps, cap, allocated; /* allocated: steps whose store exists (reused) */
  int stages;
  nde_array u_final;
  double abstol, reltol;
  double t0, t1;
  nde_status hook_status;
  struct nde_sde_adjoint *sde; /* the SDE half (direct_sde.c), created on first use */
} direct_state;

/* The SDE half (direct_sde.c); the plugin's vtable points at these. */
nde_status direct_sde_forward(void *state, const nde_sde_sens_problem *problem,
                              nde_sde_solution *sol);
nde_status direct_sde_backward(void *state, const nde_sde_sens_problem *problem,
                               const nde_array *du_save, const double *w_eest,
                               const double *w_eigen, nde_array *du0, void *dparams,
                               nde_sens_stats *stats);
/*
 * NDE_ELIMIT when a tape of @p steps steps of @p per_step bytes each would
 * exceed the state's max_tape_bytes (the message names the option).
 */
nde_status direct_tape_check(const direct_state *s, size_t steps, size_t per_step);

/* Release the SDE half (the state itself stays). */
void direct_sde_free(direct_state *s);

#endif /* NDE_PLUGIN_DIRECT_H */
