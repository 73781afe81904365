/*
 * steady_state: implicit differentiation of a fixed point z* = f(z*, x; p).
 *
 * By the implicit function theorem ∂z*∕∂p = (I − J)⁻¹ ∂f/∂p with J = ∂f/∂z
 * at z*, so for a loss L with cotangent g = ∂L/∂z*
 *     dL/dp = λᵀ ∂f/∂p,  dL/dx = λᵀ ∂f/∂x,  where (I − J)ᵀ λ = g
 * (thesis ch. 3 §3.2–3.3; Bai et al. 2019, §3.1.3). The linear system is
 * solved matrix-free by a linear_solver plugin (GMRES by default) whose
 * products are A·w = w − Jᵀw, one VJP of f each; a last VJP with λ gives
 * the parameter and input cotangents. An unconverged linear solve is not
 * fatal: its last iterate is used and the solver's status is returned
 * (NDE_EMAXITERS), as the thesis's code trains with 15 GMRES iterations.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nde/backend.h>
#include <nde/linear.h>
#include <nde/plugin.h>
#include <nde/registry.h>
#include <nde/sensitivity.h>

typedef struct ss_state {
  nde_linear_solver *solver;
  int start_at_cotangent;
} ss_state;

static nde_status ss_create(const nde_options *options, void **state) {
  const char *name = nde_options_string(options, "linear_solver", "gmres");
  const nde_plugin *plugin;
  nde_status st = nde_registry_find(NULL, NDE_KIND_LINEAR_SOLVER, name, &plugin);
  if (st != NDE_OK)
    return nde_error_prefix(st, "steady_state: linear_solver");
  /* hand over only the tolerances the chosen linear solver declares (dense_lu has none) */
  const nde_options *specs = nde_plugin_option_specs(plugin);
  char json[256];
  int len = snprintf(json, sizeof json, "{");
  const char *keys[3] = {"abstol", "reltol", "maxiters"};
  for (int i = 0; i < 3; ++i) {
    if (!nde_options_has(specs, keys[i]))
      continue;
    if (i == 2)
      len += snprintf(json + len, sizeof json - (size_t)len, "%s\"%s\": %lld", len > 1 ? ", " : "",
                      keys[i], (long long)nde_options_int(options, keys[i], 15));
    else
      len += snprintf(json + len, sizeof json - (size_t)len, "%s\"%s\": %.17g",
                      len > 1 ? ", " : "", keys[i], nde_options_number(options, keys[i], 5e-3));
  }
  snprintf(json + len, sizeof json - (size_t)len, "}");
  ss_state *s = calloc(1, sizeof *s);
  if (!s)
    return nde_error(NDE_ENOMEM, "steady_state: out of memory");
  st = nde_linear_solver_open(NULL, name, json, "steady_state.linear_solver", &s->solver);
  if (st != NDE_OK) {
    free(s);
    return st;
  }
  s->start_at_cotangent = !strcmp(nde_options_string(options, "initial_guess", "cotangent"),
                                  "cotangent");
  *state = s;
  return NDE_OK;
}

static void ss_destroy(void *state) {
  ss_state *s = state;
  if (!s)
    return;
  nde_linear_solver_destroy(&s->solver);
  free(s);
}

/* The operator A = I − Jᵀ applied through the problem's VJP. */
typedef struct ss_operator {
  const nde_fp_problem *problem;
  nde_array work; /* Jᵀw */
  long nvjp;
} ss_operator;

static nde_array like(const nde_array *z, void *data) {
  nde_array a = *z;
  a.data = data;
  a.owned = 0;
  return a;
}

static nde_status ss_matvec(void *user, const void *x, void *out) {
  ss_operator *op = user;
  const nde_array *z = op->problem->z_star;
  nde_array w = like(z, (void *)x);
  nde_status st = op->problem->vjp(op->problem->ctx, z, &w, &op->work, NULL, NULL);
  if (st != NDE_OK)
    return st;
  op->nvjp++;
  nde_backend *be = z->backend;
  be->ops->copy(be->ctx, out, x, nde_array_bytes(z));
  be->ops->axpy(be->ctx, z->dtype, z->size, -1.0, op->work.data, out);
  return NDE_OK;
}

static nde_status ss_backward(void *state, const nde_fp_problem *problem, const nde_array *dz,
                              void *dparams, nde_array *dx, nde_sens_stats *stats) {
  ss_state *s = state;
  const nde_array *z = problem->z_star;
  if (!problem->vjp || !z || !dz || dz->size != z->size || dz->dtype != z->dtype)
    return nde_error(NDE_EINVAL, "steady_state: the cotangent must have z*'s size and dtype");
  nde_backend *be = z->backend;
  ss_operator op = {problem, {0}, 0};
  nde_array lambda = {0};
  nde_status st = nde_array_create(be, z->dtype, z->ndim, z->shape, &op.work);
  if (st == NDE_OK)
    st = nde_array_create(be, z->dtype, z->ndim, z->shape, &lambda);
  if (st != NDE_OK)
    goto done;
  if (s->start_at_cotangent)
    be->ops->copy(be->ctx, lambda.data, dz->data, nde_array_bytes(z));
  else
    be->ops->fill(be->ctx, z->dtype, z->size, 0.0, lambda.data);
  nde_linear_problem lp = {be, z->dtype, z->size, ss_matvec, NULL, NULL, &op};
  nde_linear_result res;
  memset(&res, 0, sizeof res);
  nde_status lin = nde_linear_solve(s->solver, &lp, dz->data, lambda.data, &res);
  if (lin != NDE_OK && lin != NDE_EMAXITERS) {
    st = nde_error_prefix(lin, "steady_state: linear solve of (I - J^T) lambda = dL/dz*");
    goto done;
  }
  char why[512] = "";
  if (lin == NDE_EMAXITERS)
    snprintf(why, sizeof why,
             "steady_state: the linear solve stopped after %lld iterations at residual %g; "
             "its last iterate was used",
             (long long)res.iterations, res.residual);
  /* one more VJP: parameter and input cotangents from λ */
  st = problem->vjp(problem->ctx, z, &lambda, &op.work, dparams, dx);
  if (st == NDE_OK) {
    op.nvjp++;
    if (lin == NDE_EMAXITERS)
      st = nde_error(NDE_EMAXITERS, "%s", why);
  }
done:
  if (stats) {
    memset(stats, 0, sizeof *stats);
    stats->nvjp = op.nvjp;
    stats->nfe = 0;
    stats->peak_bytes = 2 * nde_array_bytes(z);
  }
  nde_array_destroy(&lambda);
  nde_array_destroy(&op.work);
  return st;
}

NDE_PLUGIN_DEFINE(sensitivity, steady_state, .capabilities = NDE_SENS_FIXED_POINT,
                  .create = ss_create, .destroy = ss_destroy, .fixed_point_backward = ss_backward);
