/*
 * direct, the SDE half: discrete reverse mode through the accepted steps of
 * an SDE solve along ONE fixed Brownian path (nde/sensitivity.h,
 * ::nde_sde_sens_problem).
 *
 * This is the core's interpolating SDE adjoint with every step's start
 * state kept (nde/sde_adjoint.h: checkpoints 0, so nothing is re-solved),
 * under direct's name and its max_tape_mb limit: sde_forward keeps every
 * accepted step's t, dt and u_j (memory O(steps·n); the stages are not
 * kept); sde_backward is the core's reverse sweep (nde_sde_reverse_sweep()):
 * each step's noise re-queried, its stages recomputed from u_j and pulled
 * back with the weights on its error and stiffness estimates. The step
 * sequence and the noise are frozen: the result is the exact gradient of
 * the discrete solution along that path.
 */
#include <nde/sde_adjoint.h>
#include <nde/sensitivity.h>

#include "direct.h"

void direct_sde_free(direct_state *s) { nde_sde_adjoint_destroy(&s->sde); }

/* max_tape_mb for the kept states (and their two step times each) */
static nde_status tape_check(void *user, size_t states, size_t bytes_each) {
  return direct_tape_check(user, states, bytes_each + 2 * sizeof(double));
}

nde_status direct_sde_forward(void *state, const nde_sde_sens_problem *p,
                              nde_sde_solution *sol) {
  direct_state *s = state;
  if (!s->sde) {
    nde_sde_adjoint_config cfg = {.method = NDE_SDE_ADJOINT_INTERPOLATING,
                                  .checkpoints = 0,
                                  .name = "direct",
                                  .tape_check = tape_check,
                                  .tape_user = s};
    NDE_TRY(nde_sde_adjoint_create(&cfg, &s->sde));
  }
  return nde_sde_adjoint_forward(s->sde, p, sol);
}

nde_status direct_sde_backward(void *state, const nde_sde_sens_problem *p,
                               const nde_array *du_save, const double *w_eest,
                               const double *w_eigen, nde_array *du0, void *dparams,
                               nde_sens_stats *stats) {
  direct_state *s = state;
  if (!s->sde) {
    *stats = (nde_sens_stats){0};
    return nde_error(NDE_EINVAL, "direct: sde_backward without a successful sde_forward");
  }
  return nde_sde_adjoint_backward(s->sde, p, du_save, w_eest, w_eigen, du0, dparams, stats);
}
