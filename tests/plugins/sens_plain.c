/*
 * Test plugin: a sensitivity that differentiates ODE solves but not the
 * per-step estimates (no NDE_SENS_STEP_ESTIMATES), like the adjoints. Its
 * forward is a plain solve; its backward refuses. The neural_ode layer must
 * refuse to pair it with error_global/stiffness_global when building.
 */
#include <stdlib.h>

#include <nde/sensitivity.h>

static nde_status create(const nde_options *o, void **s) {
  (void)o;
  *s = NULL;
  return NDE_OK;
}
static void destroy(void *s) { (void)s; }
static nde_status forward(void *s, const nde_sens_problem *p, nde_ode_solution *sol) {
  (void)s;
  return nde_ode_solve(p->solver, p->f, NULL, p->t0, p->t1, p->u0, p->saveat, p->nsave, sol);
}
static nde_status backward(void *s, const nde_sens_problem *p, const nde_array *du_save,
                           const double *w_eest, const double *w_eigen, nde_array *du0,
                           void *dparams, nde_sens_stats *stats) {
  (void)s, (void)p, (void)du_save, (void)w_eest, (void)w_eigen, (void)du0, (void)dparams;
  (void)stats;
  return nde_error(NDE_EUNSUPPORTED, "test plugin: no backward pass");
}

NDE_PLUGIN_DEFINE(sensitivity, plain, .capabilities = NDE_SENS_ODE, .create = create,
                  .destroy = destroy, .forward = forward, .backward = backward);
