/* The integrator skeleton shared by the ODE and SDE solvers (core/integrator/integrator.h). */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <nde/registry.h>

#include "integrator.h"

nde_status nde_step_record_push(nde_step_record **steps, size_t *n, size_t *cap,
                                nde_step_record r) {
  if (nde_grow(steps, *n, cap, sizeof **steps, 64) != NDE_OK)
    return nde_error(NDE_ENOMEM, "out of memory recording step statistics");
  (*steps)[(*n)++] = r;
  return NDE_OK;
}

void nde_step_options_read(const nde_options *options, double *abstol, double *reltol,
                           double *dt, double *dtmin, double *dtmax, int *adaptive, long *maxiters,
                           int *record_steps) {
  static const char *const keys[] = {"abstol", "reltol", "dt", "dtmin", "dtmax"};
  double *values[] = {abstol, reltol, dt, dtmin, dtmax};
  for (size_t i = 0; i < sizeof keys / sizeof *keys; ++i)
    *values[i] = nde_options_number(options, keys[i], *values[i]);
  *adaptive = nde_options_bool(options, "adaptive", *adaptive);
  *maxiters = (long)nde_options_int(options, "maxiters", *maxiters);
  *record_steps = nde_options_bool(options, "record_steps", *record_steps);
}

nde_status nde_step_options_check(double abstol, double reltol, double dt, double dtmin,
                                  double dtmax, long maxiters) {
  if (!(abstol >= 0) || !(reltol >= 0) || abstol + reltol <= 0)
    return nde_error(NDE_EINVAL, "abstol/reltol: must be >= 0 and not both 0 (got %g, %g)",
                     abstol, reltol);
  if (!(dt >= 0) || !(dtmin >= 0) || !(dtmax >= 0))
    return nde_error(NDE_EINVAL, "dt, dtmin, dtmax: must be >= 0 (0 = automatic)");
  if (maxiters < 1)
    return nde_error(NDE_EINVAL, "maxiters: must be >= 1, got %ld", maxiters);
  return NDE_OK;
}

nde_status nde_solver_open_as(const nde_solver_type *type, const void *ops,
                              struct nde_registry *registry, const char *name,
                              const nde_options *given, const char *where, void **out) {
  *out = NULL;
  const void *vtable = ops;
  nde_options *owned = NULL;
  if (ops) {
    NDE_TRY(nde_vtable_validate(type->kind, ops));
    NDE_TRY(nde_options_copy(given, &owned));
  } else {
    NDE_TRY(nde_registry_open_plugin(registry, type->kind, name, given, where, &vtable, &owned));
  }
  char *s = calloc(1, type->size);
  if (!s) {
    nde_options_destroy(&owned);
    return nde_error(NDE_ENOMEM, "out of memory");
  }
  memcpy(s + type->ops_at, &vtable, sizeof vtable);
  memcpy(s + type->options_at, &owned, sizeof owned);
  nde_status st = type->finish(s);
  if (st != NDE_OK) {
    nde_solver_close_as(type, s);
    return nde_error_prefix(st, "%s", ((const nde_plugin_header *)vtable)->name);
  }
  *out = s;
  return NDE_OK;
}

void nde_solver_close_as(const nde_solver_type *type, void *solver) {
  if (!solver)
    return;
  nde_options *owned;
  memcpy(&owned, (char *)solver + type->options_at, sizeof owned);
  nde_options_destroy(&owned);
  free(solver);
}

void nde_solution_release(double *t, nde_array *u, nde_array *u_final, nde_step_record *steps) {
  free(t);
  nde_array_destroy(u);
  nde_array_destroy(u_final);
  free(steps);
}
