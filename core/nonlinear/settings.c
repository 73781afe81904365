/* Nonlinear solvers: the shared settings and configuring a solver plugin. */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nl_impl.h"

nde_nonlinear_settings nde_nonlinear_settings_default(void) {
  nde_nonlinear_settings s = {.abstol = 1e-8,
                              .reltol = 1e-8,
                              .maxiters = 1000,
                              .termination = NDE_NL_TERM_ABS,
                              .norm = NDE_NL_NORM_INF,
                              .keep_best = 1,
                              .history = 1};
  return s;
}

static const char *const term_names[] = {"abs", "rel", "abs_rel"};
static const char *const norm_names[] = {"inf", "l2", "rms"};

static nde_status parse_choice(const json_t *v, const char *key, const char *where,
                               const char *const *names, int count, int *out) {
  const char *s = json_string_value(v);
  for (int i = 0; s && i < count; ++i)
    if (!strcmp(s, names[i])) {
      *out = i;
      return NDE_OK;
    }
  return nde_error(NDE_EINVAL, "%s%s%s: must be one of %s%s%s%s%s", where ? where : "",
                   where ? "." : "", key, names[0], count > 1 ? ", " : "",
                   count > 1 ? names[1] : "", count > 2 ? ", " : "", count > 2 ? names[2] : "");
}

static nde_status parse_positive(const json_t *v, const char *key, const char *where,
                                 double *out) {
  if (!json_is_number(v) || !(json_number_value(v) >= 0) || !isfinite(json_number_value(v)))
    return nde_error(NDE_EINVAL, "%s%s%s: must be a finite number >= 0", where ? where : "",
                     where ? "." : "", key);
  *out = json_number_value(v);
  return NDE_OK;
}

nde_status nde_nl_settings_split(const json_t *given, const char *where,
                                 nde_nonlinear_settings *s, json_t **rest) {
  *rest = given ? json_deep_copy(given) : json_object();
  if (!*rest)
    return nde_error(NDE_ENOMEM, "out of memory");
  const char *key;
  json_t *v;
  void *tmp;
  nde_status st = NDE_OK;
  json_object_foreach_safe(*rest, tmp, key, v) {
    int handled = 1, choice;
    if (!strcmp(key, "abstol"))
      st = parse_positive(v, key, where, &s->abstol);
    else if (!strcmp(key, "reltol"))
      st = parse_positive(v, key, where, &s->reltol);
    else if (!strcmp(key, "maxiters")) {
      if (!json_is_integer(v) || json_integer_value(v) < 0)
        st = nde_error(NDE_EINVAL, "%s%smaxiters: must be an integer >= 0", where ? where : "",
                       where ? "." : "");
      else
        s->maxiters = json_integer_value(v);
    } else if (!strcmp(key, "termination")) {
      if ((st = parse_choice(v, key, where, term_names, 3, &choice)) == NDE_OK)
        s->termination = (nde_nl_termination)choice;
    } else if (!strcmp(key, "norm")) {
      if ((st = parse_choice(v, key, where, norm_names, 3, &choice)) == NDE_OK)
        s->norm = (nde_nl_norm_kind)choice;
    } else if (!strcmp(key, "keep_best") || !strcmp(key, "history")) {
      if (!json_is_boolean(v))
        st = nde_error(NDE_EINVAL, "%s%s%s: must be true or false", where ? where : "",
                       where ? "." : "", key);
      else if (key[0] == 'k')
        s->keep_best = json_is_true(v);
      else
        s->history = json_is_true(v);
    } else if (!strcmp(key, "plugin"))
      handled = 1;
    else
      handled = 0;
    if (st != NDE_OK)
      break;
    if (handled)
      json_object_del(*rest, key);
  }
  if (st != NDE_OK) {
    json_decref(*rest);
    *rest = NULL;
  }
  return st;
}

nde_status nde_nl_solver_configure(struct nde_registry *registry, const char *name,
                                   const json_t *given, const char *where,
                                   const nde_nonlinear_settings *base,
                                   nde_nonlinear_solver **out) {
  *out = NULL;
  const nde_plugin *plugin;
  NDE_TRY(nde_registry_find(registry, NDE_KIND_NONLINEAR_SOLVER, name, &plugin));
  const void *vtable = NULL;
  nde_nonlinear_solver *s = calloc(1, sizeof *s);
  if (!s)
    return nde_error(NDE_ENOMEM, "out of memory");
  s->settings = base ? *base : nde_nonlinear_settings_default();
  s->registry = registry;
  snprintf(s->name, sizeof s->name, "%s", name);
  json_t *rest = NULL;
  nde_status st = nde_nl_settings_split(given, where, &s->settings, &rest);
  if (st == NDE_OK)
    st = nde_plugin_open(plugin, nde_options_wrap(rest), where, &vtable, &s->options);
  json_decref(rest);
  if (st != NDE_OK) {
    free(s);
    return st;
  }
  s->ops = vtable;
  *out = s;
  return NDE_OK;
}

nde_status nde_nonlinear_solver_open(struct nde_registry *registry, const char *name,
                                     const char *options_json, const char *where,
                                     nde_nonlinear_solver **out) {
  *out = NULL;
  json_t *given = NULL;
  if (options_json && *options_json) {
    json_error_t err;
    given = json_loads(options_json, 0, &err);
    if (!given)
      return nde_json_error(where ? where : "nonlinear solver options", &err);
    if (!json_is_object(given)) {
      json_decref(given);
      return nde_error(NDE_EINVAL, "%s: solver options must be a JSON object",
                       where ? where : "nonlinear solver");
    }
  }
  nde_status st = nde_nl_solver_configure(registry, name, given, where, NULL, out);
  json_decref(given);
  return st;
}

void nde_nonlinear_solver_drop_workspace(nde_nonlinear_solver *solver) {
  if (!solver)
    return;
  for (size_t i = 0; i < solver->npool; ++i)
    solver->pool_be->ops->release(solver->pool_be->ctx, solver->pool[i].ptr);
  free(solver->pool);
  solver->pool = NULL;
  solver->npool = solver->cappool = 0;
  solver->pool_be = NULL;
}

void nde_nonlinear_solver_reuse_workspace(nde_nonlinear_solver *solver, int reuse) {
  if (!solver)
    return;
  if (!reuse)
    nde_nonlinear_solver_drop_workspace(solver);
  solver->reuse = reuse != 0;
}

void nde_nonlinear_solver_destroy(nde_nonlinear_solver **solver) {
  if (!solver || !*solver)
    return;
  nde_nonlinear_solver_drop_workspace(*solver);
  for (size_t i = 0; i < (*solver)->nstages; ++i) {
    free((*solver)->stages[i].name);
    free((*solver)->stages[i].options);
    nde_nonlinear_solver_destroy(&(*solver)->stages[i].solver);
  }
  free((*solver)->stages);
  nde_options_destroy(&(*solver)->options);
  free(*solver);
  *solver = NULL;
}

nde_nonlinear_settings *nde_nonlinear_solver_settings(nde_nonlinear_solver *solver) {
  return &solver->settings;
}

const char *nde_nonlinear_solver_name(const nde_nonlinear_solver *solver) { return solver->name; }

void nde_nonlinear_result_clear(nde_nonlinear_result *result) {
  if (!result)
    return;
  free(result->history);
  memset(result, 0, sizeof *result);
}
