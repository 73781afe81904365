/* The nonlinear-solve driver: sets up the context, runs the plugin, returns the best iterate. */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nl_impl.h"

void nde_nl_ctx_release(nde_nl_ctx *ctx);

static nde_status run_plugin(nde_nl_ctx *ctx, const nde_nonlinear_solver *solver, void *u) {
  snprintf(ctx->result->method, sizeof ctx->result->method, "%s", solver->name);
  ctx->iter = 0;
  return solver->ops->solve(solver->options, ctx, u);
}

static int is_nonconvergence(nde_status st) {
  return st == NDE_EMAXITERS || st == NDE_ENOCONV || st == NDE_ENONFINITE;
}

nde_status nde_nonlinear_solve(nde_nonlinear_solver *solver, const nde_nonlinear_problem *problem,
                               void *u, nde_nonlinear_result *result) {
  nde_nonlinear_result local;
  if (!result)
    result = &local;
  memset(result, 0, sizeof *result);
  if (!solver || !problem || !u)
    return result->status = nde_error(NDE_EINVAL, "nonlinear solve: NULL argument");
  if (!problem->backend || !problem->residual)
    return result->status =
               nde_error(NDE_EINVAL, "nonlinear solve: the problem needs a backend and a residual");
  if (problem->n == 0)
    return result->status = nde_error(NDE_EINVAL, "nonlinear solve: the problem has n = 0");
  if (problem->batch > 1 && problem->n % problem->batch)
    return result->status = nde_error(NDE_EINVAL, "nonlinear solve: n = %zu is not a multiple of "
                                                  "batch = %zu", problem->n, problem->batch);
  nde_nl_ctx ctx = {.problem = problem,
                    .settings = solver->settings,
                    .result = result,
                    .registry = solver->registry,
                    .be = problem->backend,
                    .dt = problem->dtype,
                    .n = problem->n,
                    .esz = nde_dtype_size(problem->dtype),
                    .best_score = INFINITY,
                    .owner = solver};
  if (solver->reuse && solver->pool_be != problem->backend) {
    nde_nonlinear_solver_drop_workspace(solver);
    solver->pool_be = problem->backend;
  }
  if (!ctx.esz)
    return result->status = nde_error(NDE_EINVAL, "nonlinear solve: invalid dtype");
  void *v[3];
  nde_status st = nde_nl_vectors(&ctx, 3, v);
  if (st == NDE_OK) {
    ctx.best = v[0];
    ctx.scratch = v[1];
    ctx.scratch2 = v[2];
    st = run_plugin(&ctx, solver, u);
    if (st != NDE_OK) {
      char msg[512];
      snprintf(msg, sizeof msg, "%s", nde_last_error());
      if (is_nonconvergence(st) && solver->settings.keep_best && isfinite(ctx.best_score)) {
        problem->backend->ops->copy(problem->backend->ctx, u, ctx.best, ctx.n * ctx.esz);
        result->residual = ctx.best_fnorm;
      }
      nde_error(st, "%s: %s", solver->name, msg);
    }
  }
  nde_nl_ctx_release(&ctx);
  result->status = st;
  return st;
}

/* The configured solver for a stage: from the outer solver's cache, else configured and cached. */
static nde_status stage_solver(nde_nl_ctx *ctx, const char *name, const char *options_json,
                               nde_nonlinear_solver **out) {
  nde_nonlinear_solver *owner = ctx->owner;
  for (size_t i = 0; owner && i < owner->nstages; ++i) {
    nl_stage *st = &owner->stages[i];
    if (!strcmp(st->name, name) &&
        ((!st->options && !options_json) ||
         (st->options && options_json && !strcmp(st->options, options_json))) &&
        !memcmp(&st->base, &ctx->settings, sizeof st->base)) {
      *out = st->solver;
      return NDE_OK;
    }
  }
  json_t *given = NULL;
  if (options_json && *options_json) {
    json_error_t err;
    given = json_loads(options_json, 0, &err);
    if (!given)
      return nde_json_error(name, &err);
  }
  nde_nonlinear_solver *sub = NULL;
  nde_status st = nde_nl_solver_configure(ctx->registry, name, given, name, &ctx->settings, &sub);
  json_decref(given);
  if (st != NDE_OK)
    return st;
  nl_stage *grown = owner ? realloc(owner->stages, (owner->nstages + 1) * sizeof *grown) : NULL;
  char *n = strdup(name), *o = options_json ? strdup(options_json) : NULL;
  if (!grown || !n || (options_json && !o)) {
    if (grown)
      owner->stages = grown;
    free(n);
    free(o);
    nde_nonlinear_solver_destroy(&sub);
    return nde_error(NDE_ENOMEM, "out of memory");
  }
  owner->stages = grown;
  owner->stages[owner->nstages++] = (nl_stage){n, o, ctx->settings, sub};
  *out = sub;
  return NDE_OK;
}

nde_status nde_nl_run_stage(nde_nl_ctx *ctx, const char *name, const char *options_json,
                            void *u) {
  if (ctx->depth >= 4)
    return nde_error(NDE_EINVAL, "nonlinear polyalgorithm nested too deeply at '%s'", name);
  nde_nonlinear_solver *sub = NULL;
  NDE_TRY(stage_solver(ctx, name, options_json, &sub));
  nde_nonlinear_settings saved = ctx->settings;
  int64_t saved_iter = ctx->iter;
  ctx->settings = sub->settings;
  ctx->depth++;
  nde_status st = run_plugin(ctx, sub, u);
  ctx->depth--;
  ctx->settings = saved;
  ctx->iter = saved_iter;
  if (options_json && *options_json) /* name the stage with its options: "newton {...}" */
    snprintf(ctx->result->method, sizeof ctx->result->method, "%s %s", name, options_json);
  return st;
}
