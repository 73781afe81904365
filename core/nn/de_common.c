/*
 * Machinery shared by the differential-equation layers (de_common.h).
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "de_common.h"

nde_status nde_de_plugin_spec(const json_t *spec, const char *path, const char *fallback,
                              const char **name, json_t **options) {
  *options = NULL;
  if (!spec || json_is_string(spec)) {
    *name = spec ? json_string_value(spec) : fallback;
    *options = json_object();
    return *options ? NDE_OK : nde_error(NDE_ENOMEM, "out of memory");
  }
  const json_t *p = json_is_object(spec) ? json_object_get(spec, "plugin") : NULL;
  if (!json_is_string(p))
    return nde_error(NDE_EINVAL, "%s: expected a plugin name or {\"plugin\": NAME, options...}",
                     path);
  *name = json_string_value(p);
  *options = json_deep_copy(spec);
  if (!*options)
    return nde_error(NDE_ENOMEM, "out of memory");
  json_object_del(*options, "plugin");
  return NDE_OK;
}

nde_status nde_de_open_sensitivity(nde_builder *b, const json_t *spec, const char *layer_path,
                                   unsigned capability, const char *what,
                                   const nde_sensitivity_ops **ops, nde_options **options,
                                   void **state) {
  char path[1100];
  const char *name;
  json_t *given;
  snprintf(path, sizeof path, "%s.sensitivity", layer_path);
  nde_status st = nde_de_plugin_spec(json_object_get(spec, "sensitivity"), path, NDE_DE_DEFAULT_SENSITIVITY, &name,
                                     &given);
  const void *vt = NULL;
  if (st == NDE_OK)
    st = nde_de_open_plugin(b, NDE_KIND_SENSITIVITY, name, given, path, &vt, options);
  json_decref(given);
  NDE_TRY(st);
  *ops = vt;
  if (!((*ops)->capabilities & capability)) {
    char names[512];
    const char *problem = capability == NDE_SENS_SDE ? "sde"
                          : capability == NDE_SENS_ODE ? "ode"
                                                       : "fixed_point";
    return nde_error(NDE_EINVAL, "%s: sensitivity '%s' does not differentiate %s solves (ones "
                     "that do: %s)", path, name, what,
                     nde_registry_capable_names(nde_builder_registry(b), NDE_KIND_SENSITIVITY,
                                                "problems", problem, names, sizeof names));
  }
  st = (*ops)->create(*options, state);
  return st == NDE_OK ? NDE_OK : nde_error_prefix(st, "%s: sensitivity '%s'", path, name);
}

nde_status nde_de_open_plugin(nde_builder *b, nde_plugin_kind kind, const char *name,
                              json_t *given, const char *path, const void **vtable,
                              nde_options **options) {
  return nde_registry_open_plugin(nde_builder_registry(b), kind, name, nde_options_wrap(given),
                                  path, vtable, options);
}

nde_status nde_de_parse_span(const json_t *spec, const char *layer_path, int forward_only,
                             double *t0, double *t1, double **saveat, size_t *nsave) {
  *saveat = NULL;
  *nsave = 1;
  const json_t *ts = json_object_get(spec, "tspan");
  if (!json_is_array(ts) || json_array_size(ts) != 2 || !json_is_number(json_array_get(ts, 0)) ||
      !json_is_number(json_array_get(ts, 1)))
    return nde_error(NDE_EINVAL, "%s.tspan: expected [t0, t1] (two numbers)", layer_path);
  *t0 = json_number_value(json_array_get(ts, 0));
  *t1 = json_number_value(json_array_get(ts, 1));
  if (!isfinite(*t0) || !isfinite(*t1) || *t0 == *t1)
    return nde_error(NDE_EINVAL, "%s.tspan: t0 and t1 must be finite and different", layer_path);
  if (forward_only && !(*t1 > *t0))
    return nde_error(NDE_EINVAL, "%s.tspan: this layer integrates forward only; need t0 < t1, "
                     "got [%g, %g]", layer_path, *t0, *t1);
  double tdir = *t1 > *t0 ? 1.0 : -1.0;
  const json_t *sa = json_object_get(spec, "saveat");
  if (!sa)
    return NDE_OK;
  if (!json_is_array(sa) || json_array_size(sa) == 0)
    return nde_error(NDE_EINVAL, "%s.saveat: expected a non-empty array of times", layer_path);
  size_t n = json_array_size(sa);
  double *s = malloc(n * sizeof *s);
  if (!s)
    return nde_error(NDE_ENOMEM, "out of memory");
  *saveat = s;
  *nsave = n;
  for (size_t i = 0; i < n; ++i) {
    const json_t *v = json_array_get(sa, i);
    double t = json_is_number(v) ? json_number_value(v) : NAN;
    if (!isfinite(t) || tdir * (t - *t0) < 0 || tdir * (t - *t1) > 0)
      return nde_error(NDE_EINVAL, "%s.saveat[%zu]: expected a time within tspan [%g, %g]",
                       layer_path, i, *t0, *t1);
    if (i && tdir * (t - s[i - 1]) <= 0)
      return nde_error(NDE_EINVAL, "%s.saveat[%zu]: times must increase from t0 to t1",
                       layer_path, i);
    s[i] = t;
  }
  return NDE_OK;
}

/* One entry: the plugin with its options, and the "coef" schedule (default 1). */
static nde_status reg_open(nde_builder *b, const json_t *spec, const char *path, nde_de_reg *out) {
  const char *name;
  json_t *given;
  nde_status st = nde_de_plugin_spec(spec, path, NULL, &name, &given);
  if (st != NDE_OK) {
    json_decref(given);
    return st;
  }
  json_t *coef = json_incref(json_object_get(given, "coef"));
  json_object_del(given, "coef");
  const void *vt = NULL;
  st = nde_de_open_plugin(b, NDE_KIND_REGULARIZER, name, given, path, &vt, &out->options);
  json_decref(given);
  out->ops = vt;
  if (st == NDE_OK) {
    char where[1100];
    snprintf(where, sizeof where, "%s.coef", path);
    if (coef) {
      char *text = json_dumps(coef, JSON_ENCODE_ANY | JSON_COMPACT);
      st = text ? nde_schedule_parse(text, where, &out->coef)
                : nde_error(NDE_ENOMEM, "out of memory");
      free(text);
    } else
      out->coef = (nde_schedule){.kind = NDE_SCHEDULE_CONSTANT, .value = 1.0};
  }
  json_decref(coef);
  return st;
}

nde_status nde_de_regs_build(nde_builder *b, const json_t *spec, const char *layer_path,
                             nde_status (*check)(void *user, const nde_de_reg *reg,
                                                 const char *path),
                             void *user, nde_de_reg **regs, size_t *n) {
  *regs = NULL;
  *n = 0;
  size_t count = 0;
  if (spec && !(json_is_string(spec) && !strcmp(json_string_value(spec), "none")))
    count = json_is_array(spec) ? json_array_size(spec) : 1;
  if (!count)
    return NDE_OK;
  *regs = calloc(count, sizeof **regs);
  if (!*regs)
    return nde_error(NDE_ENOMEM, "out of memory");
  char path[1100];
  for (size_t i = 0; i < count; ++i) {
    const json_t *r = json_is_array(spec) ? json_array_get(spec, i) : spec;
    if (json_is_array(spec))
      snprintf(path, sizeof path, "%s.regularizer[%zu]", layer_path, i);
    else
      snprintf(path, sizeof path, "%s.regularizer", layer_path);
    nde_status st = reg_open(b, r, path, &(*regs)[i]);
    *n = i + 1;
    if (st == NDE_OK && check)
      st = check(user, &(*regs)[i], path);
    NDE_TRY(st);
  }
  return NDE_OK;
}

void nde_de_regs_destroy(nde_de_reg *regs, size_t n) {
  for (size_t i = 0; i < n; ++i)
    nde_options_destroy(&regs[i].options);
  free(regs);
}

uint64_t nde_de_layer_key(const char *path) {
  uint64_t h = 1469598103934665603ull; /* FNV-1a */
  for (; *path; ++path)
    h = (h ^ (unsigned char)*path) * 1099511628211ull;
  return h;
}

nde_status nde_de_regs_prepare(const nde_de_reg *regs, size_t n, const nde_layer_ctx *ctx,
                               const nde_rng *at_step, const char *layer_path,
                               nde_reg_plan **plans, double *t0, double *t1) {
  *plans = NULL;
  if (!n)
    return NDE_OK;
  NDE_TRY(nde_arena_alloc_host(ctx->arena, n * sizeof **plans, (void **)plans));
  for (size_t i = 0; i < n; ++i) {
    nde_rng rng = nde_rng_split(at_step, i);
    nde_reg_plan *p = &(*plans)[i];
    *p = (nde_reg_plan){.t0 = *t0, .t1 = *t1, .t_reg = NAN, .local_eest = NAN};
    nde_status st = regs[i].ops->prepare(regs[i].options, ctx->training, &rng, p);
    if (st != NDE_OK)
      return nde_error_prefix(st, "%s: regularizer '%s'", layer_path, regs[i].ops->header.name);
    *t0 = p->t0;
    *t1 = p->t1;
  }
  return NDE_OK;
}

/* The weight arrays, allocated on first use (zeroed). */
static nde_status weights_ready(const nde_layer_ctx *ctx, size_t ns, nde_de_weights *w) {
  if (w->w_eest)
    return NDE_OK;
  NDE_TRY(nde_arena_alloc_host(ctx->arena, 2 * ns * sizeof(double), (void **)&w->w_eest));
  memset(w->w_eest, 0, 2 * ns * sizeof(double));
  w->w_eigen = w->w_eest + ns;
  return NDE_OK;
}

nde_status nde_de_regs_evaluate(const nde_de_reg *regs, size_t n, const nde_layer_ctx *ctx,
                                const nde_rng *at_step, const char *layer_path,
                                const nde_solve_stats *stats, nde_reg_plan *plans, size_t ilocal,
                                size_t ibiased, nde_de_weights *w) {
  *w = (nde_de_weights){0};
  size_t ns = stats->nsteps;
  size_t jbiased = 0;
  if (ibiased < n && ns) {
    nde_rng pick = nde_rng_split(at_step, 1000 + ibiased);
    jbiased = (size_t)nde_rng_below(&pick, ns);
    plans[ibiased].t_reg = stats->steps[jbiased].t;
    plans[ibiased].local_eest = stats->steps[jbiased].eest;
    plans[ibiased].local_dt = stats->steps[jbiased].dt;
  }
  double *we = NULL, *wg = NULL;
  if (n && ns) {
    we = calloc(2 * ns, sizeof *we);
    if (!we)
      return nde_error(NDE_ENOMEM, "out of memory");
    wg = we + ns;
  }
  nde_status st = NDE_OK;
  for (size_t i = 0; st == NDE_OK && i < n; ++i) {
    const nde_de_reg *r = &regs[i];
    double value = 0, w_local = 0;
    if (we)
      memset(we, 0, 2 * ns * sizeof *we);
    st = r->ops->evaluate(r->options, stats, &plans[i], &value, we, wg, &w_local);
    if (st != NDE_OK) {
      st = nde_error_prefix(st, "%s: regularizer '%s'", layer_path, r->ops->header.name);
      break;
    }
    if (!ctx->training)
      continue;
    double coef;
    st = nde_schedule_coef(&r->coef, ctx->step, ctx->data_loss, ctx->nfe_duals, &coef);
    if (st != NDE_OK) {
      st = nde_error_prefix(st, "%s: regularizer '%s'", layer_path, r->ops->header.name);
      break;
    }
    nde_layer_add_loss(ctx, r->ops->header.name, coef, value);
    if (i == ilocal)
      w->w_local += coef * w_local;
    if (i == ibiased && ns) {
      if ((st = weights_ready(ctx, ns, w)) != NDE_OK)
        break;
      w->w_eest[jbiased] += coef * w_local;
    }
    if (!(r->ops->needs & NDE_REG_NEEDS_STEP_ESTIMATES) || !we)
      continue;
    if ((st = weights_ready(ctx, ns, w)) != NDE_OK)
      break;
    for (size_t j = 0; j < ns; ++j) {
      w->w_eest[j] += coef * we[j];
      w->w_eigen[j] += coef * wg[j];
    }
  }
  free(we);
  return st;
}

double nde_de_pick_accepted(const double *hist, size_t n, double t0, double t1,
                            const nde_rng *at_step, size_t i) {
  double tdir = t1 >= t0 ? 1.0 : -1.0;
  nde_rng pick = nde_rng_split(at_step, 1000 + i);
  size_t nh = 0;
  for (size_t j = 0; j < n; ++j)
    nh += tdir * (hist[j] - t0) >= 0 && tdir * (t1 - hist[j]) > 0;
  if (!nh)
    return t0 + nde_rng_uniform(&pick) * (t1 - t0);
  uint64_t k = nde_rng_below(&pick, nh);
  for (size_t j = 0; j < n; ++j)
    if (tdir * (hist[j] - t0) >= 0 && tdir * (t1 - hist[j]) > 0 && k-- == 0)
      return hist[j];
  return t0; /* not reached */
}

void nde_de_keep_history(const nde_solve_stats *stats, double **hist, size_t *n) {
  size_t ns = stats->nsteps;
  if (!ns)
    return;
  double *h = realloc(*hist, ns * sizeof *h);
  if (!h)
    return;
  *hist = h;
  *n = ns;
  for (size_t j = 0; j < ns; ++j)
    h[j] = stats->steps[j].t;
}

double nde_de_accepted_dt(const nde_solve_stats *stats, double t_reg, double t0, double t1) {
  double tdir = t1 >= t0 ? 1.0 : -1.0, dt = t1 - t_reg;
  for (size_t j = 0; j < stats->nsteps; ++j) {
    const nde_step_record *q = &stats->steps[j];
    if (tdir * (t_reg - q->t) >= 0 && tdir * (q->t + q->dt - t_reg) > 0) {
      if (fabs(q->dt) < fabs(dt))
        dt = q->dt;
      break;
    }
  }
  return dt;
}

void nde_de_local_plan(const nde_de_reg *regs, size_t n, nde_reg_plan *plans, unsigned sens_caps,
                       const double *hist, size_t nhist, double t0, double t1,
                       const nde_rng *at_step, size_t *ilocal, size_t *ibiased) {
  double tdir = t1 >= t0 ? 1.0 : -1.0;
  *ilocal = *ibiased = n;
  for (size_t i = 0; i < n; ++i) {
    if (!(regs[i].ops->needs & NDE_REG_NEEDS_LOCAL_STEP) ||
        plans[i].sampling == NDE_REG_SAMPLE_NONE)
      continue;
    if (plans[i].sampling == NDE_REG_SAMPLE_ACCEPTED && (sens_caps & NDE_SENS_STEP_ESTIMATES) &&
        plans[i].local_dt_rule == NDE_REG_DT_ACCEPTED) {
      /* exact Algorithm 6.2: the step from an accepted point t_j with the solver's own step
         size is step j itself, whose error norm the solve already has; the sensitivity
         differentiates it like error_global's (drawn after the solve) */
      *ibiased = i;
      continue;
    }
    /* otherwise the accepted time points of the last training solve (so that u(t_reg) is a
       save point of this solve at no extra cost) */
    if (plans[i].sampling == NDE_REG_SAMPLE_ACCEPTED)
      plans[i].t_reg = nde_de_pick_accepted(hist, nhist, t0, t1, at_step, i);
    if (isfinite(plans[i].t_reg) && tdir * (plans[i].t_reg - t0) >= 0 &&
        tdir * (t1 - plans[i].t_reg) > 0)
      *ilocal = i;
  }
}

nde_status nde_de_save_points(const nde_layer_ctx *ctx, const double *user, size_t n_user,
                              double t0, double t1, int local, double t_reg, nde_de_saves *out) {
  double tdir = t1 >= t0 ? 1.0 : -1.0;
  if (!user)
    user = &t1, n_user = 1;
  *out = (nde_de_saves){.n_user = n_user, .local = local, .t_reg = t_reg};
  NDE_TRY(nde_arena_alloc_host(ctx->arena, n_user * sizeof *out->user_col,
                               (void **)&out->user_col));
  NDE_TRY(nde_arena_alloc_host(ctx->arena, (n_user + 1) * sizeof *out->t, (void **)&out->t));
  size_t m = 0;
  int placed = !local;
  for (size_t j = 0; j < n_user; ++j) {
    if (!placed && tdir * (t_reg - user[j]) <= 0) {
      if (t_reg != user[j])
        out->t[m++] = t_reg;
      out->reg_col = m;
      placed = 1;
    }
    out->user_col[j] = m;
    out->t[m++] = user[j];
  }
  if (!placed) {
    out->reg_col = m;
    out->t[m++] = t_reg;
  }
  out->n = m;
  return NDE_OK;
}

nde_status nde_de_step_guard_parse(const json_t *spec, const char *layer_path,
                                   nde_de_step_guard *g) {
  *g = (nde_de_step_guard){.growth = NDE_DE_DEFAULT_STEP_GROWTH};
  const json_t *v = json_object_get(spec, "max_step_growth");
  if (!v)
    return NDE_OK;
  double x = json_is_number(v) ? json_number_value(v) : -1;
  if (!isfinite(x) || x < 0 || (x > 0 && x < 1))
    return nde_error(NDE_EINVAL, "%s.max_step_growth: expected 0 (no guard) or a number >= 1",
                     layer_path);
  g->growth = x;
  return NDE_OK;
}

long nde_de_step_guard_begin(nde_de_step_guard *g, long maxiters, int frozen) {
  g->limit = 0;
  if (g->growth <= 0 || g->most <= 0 || frozen)
    return maxiters;
  double limit = fmax(g->growth * (double)g->most, NDE_DE_STEP_GUARD_FLOOR);
  if (limit >= (double)maxiters)
    return maxiters;
  g->limit = (long)limit;
  return g->limit;
}

nde_status nde_de_step_guard_end(nde_de_step_guard *g, nde_status st, long accepted,
                                 long rejected, int frozen) {
  if (st == NDE_EMAXITERS && g->limit)
    return nde_error(NDE_ELIMIT, "the solve needed more than %ld steps, over %g times the most "
                     "any earlier solve of this layer took (%ld): the dynamics have become "
                     "stiff or unstable (a learning rate or regularization coefficient too "
                     "large?); set max_step_growth (0: no limit) if this growth is expected",
                     g->limit, g->growth, g->most);
  if (st == NDE_OK && !frozen && accepted + rejected > g->most)
    g->most = accepted + rejected;
  return st;
}

void nde_de_state_release(nde_de_state *de) {
  free(de->saveat);
  if (de->sens && de->sens_state)
    de->sens->destroy(de->sens_state);
  nde_options_destroy(&de->sens_options);
  nde_de_regs_destroy(de->regs, de->nregs);
  free(de->frozen_dt);
  free(de->hist_t);
}

nde_status nde_de_build_rest(nde_builder *b, const nde_layer *node, const json_t *spec,
                             unsigned capability, const char *what,
                             nde_status (*check)(void *user, const nde_de_reg *reg,
                                                 const char *path),
                             void *user, nde_de_state *de) {
  NDE_TRY(nde_de_open_sensitivity(b, spec, node->path, capability, what, &de->sens,
                                  &de->sens_options, &de->sens_state));
  NDE_TRY(nde_de_regs_build(b, json_object_get(spec, "regularizer"), node->path, check, user,
                            &de->regs, &de->nregs));
  de->reads_stiffness = 0;
  for (size_t i = 0; i < de->nregs; ++i)
    if (de->regs[i].ops->needs & NDE_REG_NEEDS_STIFFNESS)
      de->reads_stiffness = 1;
  de->key = nde_de_layer_key(node->path);
  return NDE_OK;
}

nde_status nde_de_check_reg_sensitivity(const nde_de_state *de, const nde_de_reg *reg,
                                        const char *path) {
  char names[512];
  if ((reg->ops->needs & NDE_REG_NEEDS_STEP_ESTIMATES) &&
      !(de->sens->capabilities & NDE_SENS_STEP_ESTIMATES))
    return nde_error(NDE_EINVAL,
                     "%s: regularizer '%s' differentiates the per-step error/stiffness "
                     "estimates, which sensitivity '%s' cannot do; use \"sensitivity\": \"%s\"",
                     path, reg->ops->header.name, de->sens->header.name,
                     reg->ops->required_sensitivity
                         ? reg->ops->required_sensitivity
                         : nde_registry_capable_names(de->registry, NDE_KIND_SENSITIVITY,
                                                      "step_estimates", NULL, names,
                                                      sizeof names));
  return NDE_OK;
}

nde_status nde_de_check_reg_stiffness(const nde_de_state *de, const nde_de_reg *reg,
                                      const char *path, nde_plugin_kind kind, const char *solver,
                                      int solver_has_stiffness) {
  char names[512];
  if ((reg->ops->needs & NDE_REG_NEEDS_STIFFNESS) && !solver_has_stiffness)
    return nde_error(NDE_EINVAL, "%s: regularizer '%s' reads stiffness estimates, which solver "
                     "'%s' does not make (solvers that do: %s)", path, reg->ops->header.name,
                     solver,
                     nde_registry_capable_names(de->registry, kind, "stiffness_estimate", NULL,
                                                names, sizeof names));
  return NDE_OK;
}
