/*
 * neural_ode: y = u(t1) (or the states at saveat) of du/dt = f(t, u; p),
 * u(t0) = x, where f is any layer (the "dynamics"). JSON:
 *
 *   {"layer": "neural_ode", "dynamics": LAYER, "tspan": [t0, t1],
 *    "saveat": [t, ...],                        optional: a time series
 *    "solver": "tsit5" | {"plugin": "tsit5", "abstol": ..., ...},
 *    "sensitivity": "direct" | {"plugin": ..., options},     default direct
 *    "regularizer": NAME | {"plugin": NAME, "coef": SCHEDULE, options} | [...],
 *    "max_step_growth": 100}                    optional, see below
 *
 * The dynamics become an nde_ode_rhs (eval = the layer's forward at (t, u)
 * in the evaluation arena; vjp = its pullback w.r.t. u and the dynamics'
 * parameters, recomputing the forward), the solve runs through the
 * sensitivity plugin, and the vjp calls the plugin's backward. Solve
 * statistics go to the metrics stream (nfe_forward, nfe_backward,
 * steps_accepted, steps_rejected, backward_peak_bytes) and regularization
 * terms to the loss.
 *
 * A regularizer that moves the end time (steer) combines with saveat when
 * the last save point lies before t1: only the end past the saved times
 * moves (a draw that would cut a save point off is an error).
 *
 * With saveat the output holds, per sample, the states at the save points
 * one after the other (time-major within the sample: feature f of save
 * point j is element f + F·j), the layout of the spiral_ode dataset's
 * targets.
 *
 * Step-count guard (de_common.h): a solve may take at most max_step_growth
 * times as many steps (accepted + rejected) as the most any earlier solve
 * of this layer took (never fewer than 1000), capped by the solver's own
 * maxiters. A training step whose parameters made the dynamics stiff or
 * unstable (a huge learning rate or regularization coefficient) then stops
 * with NDE_ELIMIT after a bounded amount of work, instead of grinding on to
 * maxiters. 0 turns the guard off.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nde/model.h>
#include <nde/sensitivity.h>

#include "de_common.h"
#include "time_spans.h"

/* The solver without a "solver" key. */
#define NODE_DEFAULT_SOLVER "tsit5"

typedef struct node_state {
  nde_de_state de;
  nde_ode_solver *solver;
  int per_sample; /* "time_spans": "per_sample" (time_spans.h) */
  nde_ode_workspace *ws; /* the memory pool of every solve with `solver` (its options'
                            workspace): forward, the sensitivity's forward and backward */
} node_state;

/* The right-hand side: the dynamics layer evaluated in the arena. */
typedef struct rhs_ctx {
  const nde_layer *dyn;
  nde_layer_ctx lctx;
  const void *params;
  long nfe, nvjp;
  const nde_time_spans *spans; /* per-sample spans, or NULL */
  size_t n_dyn;                /* the dynamics' parameters (the spans' slots follow) */
} rhs_ctx;

/* What one evaluation keeps for its vjp (arena host memory). */
typedef struct node_eval {
  uint64_t generation;
  rhs_ctx rhs;
  nde_ode_rhs f;
  nde_sens_problem problem;
  nde_array u0;
  nde_de_saves saves;       /* the solve's save points: the layer's, plus t_reg */
  nde_time_spans spans;     /* per-sample spans (when the layer has them) */
  double *w_eest, *w_eigen; /* NULL when no regularizer weights them */
  /* the extra local step (local error regularization), when saves.local */
  double dt_reg, w_local;
  nde_array *lk;            /* its stages (solver stages arrays) */
  nde_array lu0, lu1;       /* its start and end states */
} node_eval;

/* f(t, u) into du through the dynamics. keep_records = 0 (a plain evaluation): a
   forward-only pass written straight into du (the solver's stage array), *rec only
   valid until the arena is rewound. keep_records = 1: the records a pullback reads
   (*rec), the output written straight into du too (the record's output is du,
   which the caller leaves alone until the pullback), except with time spans:
   then it is copied into du, so scaling du leaves the recorded output as the
   layers computed it. */
static nde_status rhs_forward(rhs_ctx *r, double t, const nde_array *u, nde_array *du,
                              int keep_records, nde_record **rec) {
  r->nfe++;
  nde_layer_ctx lctx = r->lctx;
  lctx.no_pullback = !keep_records;
  void *into = (!keep_records || !r->spans) && du->data != u->data ? du->data : NULL;
  NDE_TRY(nde_layer_forward_into(r->dyn, &lctx, u->data, t, r->params, into, rec));
  if ((*rec)->y != du->data)
    NDE_TRY(r->lctx.backend->ops->copy(r->lctx.backend->ctx, du->data, (*rec)->y,
                                       nde_array_bytes(du)));
  if (r->spans)
    nde_time_spans_apply(&r->lctx, r->spans, du->data);
  return NDE_OK;
}

static nde_status rhs_eval(void *ctx, double t, const nde_array *u, nde_array *du) {
  rhs_ctx *r = ctx;
  nde_arena_mark mark = nde_arena_get_mark(r->lctx.arena);
  nde_record *rec;
  nde_status st = rhs_forward(r, t, u, du, 0, &rec);
  nde_arena_rewind(r->lctx.arena, mark);
  return st;
}

/* The pullback of w through the evaluation recorded in @p rec (the spans' scaling first). */
static nde_status rhs_pullback(rhs_ctx *r, const nde_record *rec, const nde_array *w,
                               nde_array *w_u, void *w_p) {
  const void *wd = w->data;
  if (r->spans) {
    void *ws, *g = w_p ? nde_elem(w_p, r->lctx.dtype, r->n_dyn) : NULL;
    NDE_TRY(nde_time_spans_pullback(&r->lctx, r->spans, w->data, rec->y, g, &ws));
    wd = ws;
  }
  r->nvjp++;
  return nde_layer_vjp(r->dyn, &r->lctx, rec, wd, w_u ? w_u->data : NULL, w_p, NULL);
}

/* w_u may be NULL here (rhs_vjp_params): the input cotangent is then not formed. */
static nde_status rhs_vjp(void *ctx, double t, const nde_array *u, const nde_array *w,
                          nde_array *w_u, void *w_p) {
  rhs_ctx *r = ctx;
  nde_arena_mark mark = nde_arena_get_mark(r->lctx.arena);
  nde_record *rec;
  nde_status st = nde_layer_forward(r->dyn, &r->lctx, u->data, t, r->params, &rec);
  if (st == NDE_OK)
    st = rhs_pullback(r, rec, w, w_u, w_p);
  nde_arena_rewind(r->lctx.arena, mark);
  return st;
}

/* The parameter part of the pullback alone (nde_sens_problem::vjp_params). */
static nde_status rhs_vjp_params(void *ctx, double t, const nde_array *u, const nde_array *w,
                                 void *w_p) {
  return rhs_vjp(ctx, t, u, w, NULL, w_p);
}

/* f(t, u) and the pullback of w from one forward pass (nde_sens_problem::eval_vjp). */
static nde_status rhs_eval_vjp(void *ctx, double t, const nde_array *u, nde_array *du,
                               const nde_array *w, nde_array *w_u, void *w_p) {
  rhs_ctx *r = ctx;
  nde_arena_mark mark = nde_arena_get_mark(r->lctx.arena);
  nde_record *rec;
  nde_status st = rhs_forward(r, t, u, du, 1, &rec);
  if (st == NDE_OK)
    st = rhs_pullback(r, rec, w, w_u, w_p);
  nde_arena_rewind(r->lctx.arena, mark);
  return st;
}

/* ---------------------------------------------------------------- building */

static void node_destroy(nde_layer *node) {
  node_state *s = node->state;
  if (!s)
    return;
  nde_ode_solver_destroy(&s->solver);
  nde_ode_workspace_destroy(&s->ws);
  nde_de_state_release(&s->de);
  free(s);
  node->state = NULL;
}

/* What a regularizer needs of this layer's solver and sensitivity. */
static nde_status check_regularizer(void *user, const nde_de_reg *out, const char *path) {
  node_state *s = user;
  const char *name = out->ops->header.name;
  unsigned needs = out->ops->needs;
  NDE_TRY(nde_de_check_reg_sensitivity(&s->de, out, path));
  if ((needs & NDE_REG_NEEDS_STEP_ESTIMATES) && s->solver->ops->error_order == 0)
    return nde_error(NDE_EINVAL, "%s: regularizer '%s' needs a solver with an error estimate; "
                     "'%s' has none", path, name, s->solver->ops->header.name);
  const nde_rk_tableau *tb = s->solver->ops->tableau;
  NDE_TRY(nde_de_check_reg_stiffness(&s->de, out, path, NDE_KIND_ODE_SOLVER,
                                     s->solver->ops->header.name, tb && tb->stability_size > 0));
  if (needs & NDE_REG_NEEDS_LOCAL_STEP) {
    if (s->de.has_local)
      return nde_error(NDE_EINVAL, "%s: regularizer '%s': only one local regularizer per "
                       "neural_ode", path, name);
    if (!s->solver->ops->tableau || !s->solver->ops->tableau->btilde)
      return nde_error(NDE_EINVAL, "%s: regularizer '%s' takes one extra step of the solver "
                       "and needs an explicit Runge-Kutta method with an error estimate; '%s' "
                       "is not one", path, name, s->solver->ops->header.name);
    s->de.has_local = 1;
  }
  if ((needs & NDE_REG_CHANGES_SPAN) && s->de.saveat &&
      !(s->de.t1 > s->de.t0 && s->de.saveat[s->de.nsave - 1] < s->de.t1))
    return nde_error(NDE_EINVAL, "%s: regularizer '%s' changes the end time during training; "
                     "with saveat the last save point must lie before t1 (integrating forward), "
                     "so that only the end past the saved times moves", path, name);
  return NDE_OK;
}

static nde_status node_build_inner(nde_builder *b, nde_layer *node, const json_t *spec,
                                   node_state *s) {
  NDE_TRY(nde_de_step_guard_parse(spec, node->path, &s->de.guard));
  char path[1100];
  NDE_TRY(nde_de_parse_span(spec, node->path, 0, &s->de.t0, &s->de.t1, &s->de.saveat, &s->de.nsave));
  const json_t *sa = json_object_get(spec, "saveat");
  const json_t *tsp = json_object_get(spec, "time_spans");
  if (tsp && !(json_is_string(tsp) && (!strcmp(json_string_value(tsp), "per_sample") ||
                                       !strcmp(json_string_value(tsp), "shared"))))
    return nde_error(NDE_EINVAL, "%s.time_spans: expected \"shared\" or \"per_sample\"",
                     node->path);
  s->per_sample = tsp && !strcmp(json_string_value(tsp), "per_sample");
  nde_shape state = node->input;
  if (s->per_sample) {
    if (s->de.t0 != 0.0 || s->de.t1 != 1.0)
      return nde_error(NDE_EINVAL, "%s.tspan: with time_spans \"per_sample\" the solve runs on "
                       "the common interval s in [0, 1]; tspan must be [0, 1], got [%g, %g]",
                       node->path, s->de.t0, s->de.t1);
    if (nde_shape_size(&node->input) < 3)
      return nde_error(NDE_EINVAL, "%s: with time_spans \"per_sample\" a sample is its state "
                       "followed by [t0, t1]; the input has only %zu features", node->path,
                       nde_shape_size(&node->input));
    state = nde_shape_vector(nde_shape_size(&node->input) - 2);
  }
  /* dynamics */
  const json_t *dyn = json_object_get(spec, "dynamics");
  if (!dyn)
    return nde_error(NDE_EINVAL, "%s.dynamics: missing (the layer giving du/dt)", node->path);
  snprintf(path, sizeof path, "%s.dynamics", node->path);
  nde_layer *child;
  NDE_TRY(nde_builder_child(b, node, dyn, path, &state, &child));
  if (nde_shape_size(&child->output) != nde_shape_size(&state))
    return nde_error(NDE_EINVAL, "%s: maps %zu features to %zu; the dynamics of a neural_ode "
                     "must keep the state size", path, nde_shape_size(&state),
                     nde_shape_size(&child->output));
  if (sa)
    node->output = nde_shape_vector(nde_shape_size(&state) * s->de.nsave);
  else
    node->output = state;
  /* solver */
  const char *name;
  json_t *given;
  snprintf(path, sizeof path, "%s.solver", node->path);
  nde_status st =
      nde_de_plugin_spec(json_object_get(spec, "solver"), path, NODE_DEFAULT_SOLVER, &name, &given);
  if (st != NDE_OK) {
    json_decref(given);
    return st;
  }
  s->de.registry = nde_builder_registry(b);
  st = nde_ode_solver_open(nde_builder_registry(b), name, nde_options_wrap(given), path,
                                      &s->solver);
  json_decref(given);
  NDE_TRY(st);
  NDE_TRY(nde_de_build_rest(b, node, spec, NDE_SENS_ODE, "ODE", check_regularizer, s, &s->de));
  /* the per-step stiffness estimate costs two passes over the state: only when read */
  s->solver->solve.stiffness_estimate = s->de.reads_stiffness;
  return NDE_OK;
}

static nde_status node_build(nde_builder *b, nde_layer *node, const json_t *spec) {
  node_state *s; /* freed by node_destroy, also after a failure */
  NDE_TRY(nde_core_state_new(node, spec, "dynamics and tspan", sizeof *s, (void **)&s));
  return node_build_inner(b, node, spec, s);
}

/* ---------------------------------------------------------------- evaluation */

/* A state-shaped array in the arena. */
static nde_status arena_array(const nde_layer_ctx *ctx, const nde_array *like, nde_array *out) {
  *out = *like;
  out->owned = 0;
  return nde_ctx_alloc(ctx, like->size, &out->data);
}

/*
 * The extra step of local error regularization: from (t_reg, u(t_reg)) one
 * step of the solver's tableau with the step size the solver used at t_reg
 * (cut to end at t1). Keeps u(t_reg), the stages and u1 for the vjp;
 * returns the step's error norm in *eest and its evaluations in *nfe.
 */
static nde_status local_step(const node_state *s, node_eval *ev, const nde_layer_ctx *ctx,
                             const nde_array *ureg, const nde_solve_stats *stats,
                             nde_reg_local_dt rule, const double *frozen, double *eest,
                             long *nfe) {
  const nde_rk_tableau *tb = s->solver->ops->tableau;
  double t0 = ev->problem.t0, t1 = ev->problem.t1, tdir = t1 >= t0 ? 1.0 : -1.0;
  double dt = nde_de_accepted_dt(stats, ev->saves.t_reg, t0, t1);
  *nfe = 0;
  ev->dt_reg = dt;
  nde_backend *be = ctx->backend;
  NDE_TRY(nde_arena_alloc_host(ctx->arena, (size_t)tb->stages * sizeof *ev->lk, (void **)&ev->lk));
  for (int i = 0; i < tb->stages; ++i)
    NDE_TRY(arena_array(ctx, ureg, &ev->lk[i]));
  nde_array err, f1, scratch[2];
  NDE_TRY(arena_array(ctx, ureg, &ev->lu0));
  NDE_TRY(arena_array(ctx, ureg, &ev->lu1));
  NDE_TRY(arena_array(ctx, ureg, &err));
  NDE_TRY(arena_array(ctx, ureg, &f1));
  NDE_TRY(arena_array(ctx, ureg, &scratch[0]));
  NDE_TRY(arena_array(ctx, ureg, &scratch[1]));
  NDE_TRY(be->ops->copy(be->ctx, ev->lu0.data, ureg->data, nde_array_bytes(ureg)));
  NDE_TRY(ev->f.eval(ev->f.ctx, ev->saves.t_reg, &ev->lu0, &ev->lk[0]));
  if (rule == NDE_REG_DT_INITIAL) {
    /* the first step of a fresh adaptive solve from (t_reg, u(t_reg)) */
    double mag;
    NDE_TRY(nde_initial_dt(ev->f.eval, ev->f.ctx, ev->saves.t_reg, &ev->lu0, &ev->lk[0], tdir,
                           s->solver->ops->order, s->solver->solve.abstol,
                           s->solver->solve.reltol, fabs(t1 - ev->saves.t_reg), &mag, nfe));
    dt = tdir * fmin(mag, fabs(t1 - ev->saves.t_reg));
    if (frozen) /* a frozen step sequence freezes this step's size too */
      dt = *frozen;
    ev->dt_reg = dt;
  }
  nde_ode_step st = {.t = ev->saves.t_reg, .dt = dt, .u0 = &ev->lu0, .u1 = &ev->lu1, .err = &err,
                     .k = ev->lk, .nk = tb->stages, .f1 = &f1, .scratch = scratch};
  NDE_TRY(nde_rk_step(tb, &ev->f, &st));
  *nfe += 1 + st.nfe;
  *eest = be->ops->wrms_norm(be->ctx, ctx->dtype, ureg->size, err.data, ev->lu0.data,
                                   ev->lu1.data, s->solver->solve.abstol,
                                   s->solver->solve.reltol);
  return NDE_OK;
}

/* Pull the local step's weighted error estimate back to u(t_reg): adds into @p du_reg. */
static nde_status local_step_vjp(const node_state *s, node_eval *ev, const nde_layer_ctx *ctx,
                                 void *du_reg, void *dparams) {
  const nde_rk_tableau *tb = s->solver->ops->tableau;
  nde_backend *be = ctx->backend;
  nde_array *dk, zero, du0, scratch[4];
  NDE_TRY(nde_arena_alloc_host(ctx->arena, (size_t)tb->stages * sizeof *dk, (void **)&dk));
  for (int i = 0; i < tb->stages; ++i) {
    NDE_TRY(arena_array(ctx, &ev->lu0, &dk[i]));
    be->ops->fill(be->ctx, ctx->dtype, dk[i].size, 0.0, dk[i].data);
  }
  NDE_TRY(arena_array(ctx, &ev->lu0, &zero));
  be->ops->fill(be->ctx, ctx->dtype, zero.size, 0.0, zero.data);
  NDE_TRY(arena_array(ctx, &ev->lu0, &du0));
  for (int i = 0; i < 4; ++i)
    NDE_TRY(arena_array(ctx, &ev->lu0, &scratch[i]));
  nde_rk_reverse r = {.t = ev->saves.t_reg, .dt = ev->dt_reg, .u0 = &ev->lu0, .u1 = &ev->lu1,
                      .k = ev->lk, .du1 = &zero, .dk = dk, .w_eest = ev->w_local,
                      .abstol = s->solver->solve.abstol, .reltol = s->solver->solve.reltol,
                      .du0 = &du0, .dparams = dparams, .scratch = scratch};
  NDE_TRY(nde_rk_step_reverse(tb, &ev->f, &r));
  be->ops->axpy(be->ctx, ctx->dtype, du0.size, 1.0, du0.data, du_reg);
  return NDE_OK;
}

static nde_status node_forward(const nde_layer *node, const nde_layer_ctx *ctx, nde_record *rec) {
  node_state *s = node->state;
  const nde_layer *dyn = node->children[0];
  nde_backend *be = ctx->backend;
  NDE_TRY(NDE_BACKEND_NEED(be, copy_matrix));
  size_t F = nde_shape_size(&dyn->input), B = ctx->batch;
  node_eval *ev;
  NDE_TRY(nde_arena_alloc_host(ctx->arena, sizeof *ev, (void **)&ev));
  rec->data = ev;
  const void *x0 = rec->x;
  if (s->per_sample) {
    NDE_TRY(nde_time_spans_split(ctx, rec->x, F, node->path, &ev->spans));
    x0 = ev->spans.u0;
  }
  ev->generation = ++s->de.generation;

  /* the regularizers' plans (random draws replayable from seed, step and layer) */
  double t0 = s->de.t0, t1 = s->de.t1;
  nde_rng base = nde_rng_make(ctx->seed, s->de.key);
  nde_rng at_step = nde_rng_split(&base, ctx->step);
  nde_reg_plan *plans;
  NDE_TRY(nde_de_regs_prepare(s->de.regs, s->de.nregs, ctx, &at_step, node->path, &plans, &t0, &t1));
  if (s->de.saveat && (t0 != s->de.t0 || !(t1 >= s->de.saveat[s->de.nsave - 1])))
    return nde_error(NDE_EINVAL, "%s (neural_ode): a regularizer moved the span to [%g, %g], "
                     "which no longer holds the save points up to %g; keep the end-time window "
                     "past the last save point", node->path, t0, t1,
                     s->de.saveat[s->de.nsave - 1]);
  /* t_reg of a local regularizer (at most one) */
  size_t ilocal, ibiased;
  nde_de_local_plan(s->de.regs, s->de.nregs, plans, s->de.sens->capabilities, s->de.hist_t, s->de.n_hist, t0,
                    t1, &at_step, &ilocal, &ibiased);
  NDE_TRY(nde_de_save_points(ctx, s->de.saveat, s->de.nsave, t0, t1, ilocal < s->de.nregs,
                             ilocal < s->de.nregs ? plans[ilocal].t_reg : 0.0, &ev->saves));

  ev->rhs = (rhs_ctx){.dyn = dyn, .lctx = *ctx, .params = nde_child_params(node, dyn, ctx->dtype,
                                                                            rec->params)};
  ev->rhs.lctx.metrics = NULL;
  ev->rhs.lctx.no_pullback = 0; /* rhs_vjp's evaluations keep their records */
  ev->rhs.n_dyn = dyn->param_count;
  ev->rhs.spans = s->per_sample ? &ev->spans : NULL;
  ev->f = (nde_ode_rhs){rhs_eval, rhs_vjp, &ev->rhs};
  ev->u0 = (nde_array){.dtype = ctx->dtype, .ndim = 2, .shape = {F, B}, .size = F * B,
                       .data = (void *)x0, .backend = be, .owned = 0};
  /* per-sample spans: the durations are parameters of the right-hand side after the dynamics' */
  ev->problem = (nde_sens_problem){.f = &ev->f, .solver = s->solver, .t0 = t0, .t1 = t1,
                                   .saveat = ev->saves.t, .nsave = ev->saves.n, .u0 = &ev->u0,
                                   .n_params = dyn->param_count + (s->per_sample ? B : 0),
                                   .eval_vjp = rhs_eval_vjp, .vjp_params = rhs_vjp_params};

  /* every solve of this layer's solver (forward, the sensitivity's forward and
     backward) takes its memory from the layer's pool */
  if (!s->ws) {
    nde_status wst = nde_ode_workspace_create(&s->ws);
    if (wst != NDE_OK)
      return nde_error_prefix(wst, "%s (neural_ode)", node->path);
    s->solver->solve.workspace = s->ws;
  }
  /* frozen step sequences (finite-difference checks) */
  nde_ode_options saved_opts = s->solver->solve;
  if (ctx->freeze_steps == 2) {
    if (!s->de.frozen_dt)
      return nde_error(NDE_EINVAL, "%s: no recorded step sequence to replay", node->path);
    s->solver->solve.replay_dt = s->de.frozen_dt;
    s->solver->solve.n_replay = s->de.n_frozen;
  }
  s->solver->solve.maxiters =
      nde_de_step_guard_begin(&s->de.guard, saved_opts.maxiters, ctx->freeze_steps);
  nde_ode_solution sol = {0};
  /* forward-only: a plain solve, without the sensitivity's tape or checkpoints (the
     step records stay: regularizers read them) */
  nde_ode_options plain = s->solver->solve;
  plain.record_steps = 1;
  nde_status st = ctx->no_pullback ? nde_ode_solve(s->solver, &ev->f, &plain, t0, t1, &ev->u0,
                                                   ev->saves.t, ev->saves.n, &sol)
                                   : s->de.sens->forward(s->de.sens_state, &ev->problem, &sol);
  s->solver->solve = saved_opts;
  st = nde_de_step_guard_end(&s->de.guard, st, sol.stats.accepted, sol.stats.rejected,
                             ctx->freeze_steps);
  if (st == NDE_OK && sol.nsave != ev->saves.n)
    st = nde_error(NDE_EINTERNAL, "sensitivity returned %zu save points, expected %zu",
                   sol.nsave, ev->saves.n);
  if (st == NDE_OK && ctx->freeze_steps == 1) {
    double *dts = realloc(s->de.frozen_dt, (sol.stats.nsteps + 1) * sizeof *dts);
    if (!dts)
      st = nde_error(NDE_ENOMEM, "out of memory");
    else {
      s->de.frozen_dt = dts;
      s->de.n_frozen = sol.stats.nsteps;
      for (size_t j = 0; j < sol.stats.nsteps; ++j)
        dts[j] = sol.stats.steps[j].dt;
    }
  }
  if (st == NDE_OK)
    st = nde_ctx_alloc(ctx, nde_shape_size(&node->output) * B, &rec->y);
  if (st == NDE_OK) {
    size_t es = nde_dtype_size(ctx->dtype);
    for (size_t j = 0; j < ev->saves.n_user; ++j)
      be->ops->copy_matrix(be->ctx, ctx->dtype, F, B,
                           (char *)sol.u.data + ev->saves.user_col[j] * F * B * es, F,
                           (char *)rec->y + j * F * es, F * ev->saves.n_user);
    if (ev->saves.local) {
      nde_array ureg = ev->u0;
      ureg.data = (char *)sol.u.data + ev->saves.reg_col * F * B * es;
      long nfe = 0;
      double eest = NAN;
      const double *frozen = ctx->freeze_steps == 2 ? &s->de.frozen_local_dt : NULL;
      st = local_step(s, ev, ctx, &ureg, &sol.stats, plans[ilocal].local_dt_rule, frozen, &eest,
                      &nfe);
      if (ctx->freeze_steps == 1)
        s->de.frozen_local_dt = ev->dt_reg;
      plans[ilocal].local_eest = eest;
      plans[ilocal].local_dt = ev->dt_reg;
      sol.stats.nfe += nfe;
    }
    nde_layer_report(ctx, "nfe_forward", (double)sol.stats.nfe);
    nde_layer_report(ctx, "steps_accepted", (double)sol.stats.accepted);
    nde_layer_report(ctx, "steps_rejected", (double)sol.stats.rejected);
  }
  /* regularization terms */
  if (st == NDE_OK) {
    nde_de_weights w;
    st = nde_de_regs_evaluate(s->de.regs, s->de.nregs, ctx, &at_step, node->path, &sol.stats, plans,
                              ilocal, ibiased, &w);
    ev->w_eest = w.w_eest;
    ev->w_eigen = w.w_eigen;
    ev->w_local = w.w_local;
  }
  /* biased local regularization draws from the accepted time points of this solve next time */
  if (st == NDE_OK && s->de.has_local && ctx->training && !ctx->freeze_steps)
    nde_de_keep_history(&sol.stats, &s->de.hist_t, &s->de.n_hist);
  nde_ode_solution_recycle(&sol, s->ws);
  return st == NDE_OK ? NDE_OK : nde_error_prefix(st, "%s (neural_ode)", node->path);
}

static nde_status node_vjp(const nde_layer *node, const nde_layer_ctx *ctx,
                           const nde_record *rec, const void *dy, void *dx, void *dparams,
                           double *dt) {
  (void)dt; /* the output does not depend on the layer's input time */
  node_state *s = node->state;
  node_eval *ev = rec->data;
  const nde_layer *dyn = node->children[0];
  if (ev->generation != s->de.generation)
    return nde_error(NDE_EINVAL, "%s: the vjp of a neural_ode must follow its latest forward "
                     "pass (the sensitivity keeps only the last solve)", node->path);
  nde_backend *be = ctx->backend;
  size_t F = nde_shape_size(&dyn->input), B = ctx->batch, es = nde_dtype_size(ctx->dtype);
  void *dsave;
  NDE_TRY(nde_ctx_alloc(ctx, F * B * ev->saves.n, &dsave));
  if (ev->saves.n != ev->saves.n_user)
    be->ops->fill(be->ctx, ctx->dtype, F * B * ev->saves.n, 0.0, dsave);
  for (size_t j = 0; j < ev->saves.n_user; ++j)
    be->ops->copy_matrix(be->ctx, ctx->dtype, F, B, (const char *)dy + j * F * es, F * ev->saves.n_user,
                         (char *)dsave + ev->saves.user_col[j] * F * B * es, F);
  nde_array du_save = {.dtype = ctx->dtype, .ndim = 2, .shape = {F * B, ev->saves.n},
                       .size = F * B * ev->saves.n, .data = dsave, .backend = be};
  void *dx_data = s->per_sample ? NULL : dx;
  if (!dx_data)
    NDE_TRY(nde_ctx_alloc(ctx, F * B, &dx_data));
  nde_array du0 = ev->u0;
  du0.data = dx_data;
  void *dp_dyn = nde_child_dparams(node, dyn, ctx->dtype, dparams), *dp = dp_dyn;
  size_t P = dyn->param_count;
  if (s->per_sample) {
    /* the dynamics' gradient followed by the B durations' (see time_spans.h) */
    NDE_TRY(nde_ctx_alloc(ctx, P + B, &dp));
    if (dp_dyn && P)
      NDE_TRY(be->ops->copy(be->ctx, dp, dp_dyn, P * es));
    else
      be->ops->fill(be->ctx, ctx->dtype, P, 0.0, dp);
    be->ops->fill(be->ctx, ctx->dtype, B, 0.0, nde_elem(dp, ctx->dtype, P));
  }
  ev->rhs.lctx = *ctx; /* temporaries of this pass come from this arena position */
  ev->rhs.lctx.metrics = NULL;
  ev->rhs.lctx.no_pullback = 0; /* rhs_vjp's evaluations keep their records */
  if (ev->saves.local && ev->w_local != 0.0) {
    nde_status st = local_step_vjp(s, ev, ctx, (char *)dsave + ev->saves.reg_col * F * B * es, dp);
    if (st != NDE_OK)
      return nde_error_prefix(st, "%s (neural_ode) vjp of the local regularization step",
                              node->path);
  }
  nde_sens_stats stats = {0};
  nde_status st = s->de.sens->backward(s->de.sens_state, &ev->problem, &du_save, ev->w_eest,
                                    ev->w_eigen, &du0, dp, &stats);
  if (st != NDE_OK)
    return nde_error_prefix(st, "%s (neural_ode) vjp", node->path);
  if (s->per_sample) {
    if (dp_dyn && P)
      NDE_TRY(be->ops->copy(be->ctx, dp_dyn, dp, P * es));
    if (dx) {
      be->ops->copy_matrix(be->ctx, ctx->dtype, F, B, dx_data, F, dx, F + 2);
      nde_time_spans_cotangent(ctx, B, nde_elem(dp, ctx->dtype, P), dx, F + 2, F);
    }
  }
  nde_layer_report(ctx, "nfe_backward", (double)(stats.nfe > stats.nvjp ? stats.nfe : stats.nvjp));
  nde_layer_report(ctx, "backward_peak_bytes", (double)stats.peak_bytes);
  return NDE_OK;
}

static const nde_core_key node_keys[] = {
    {"dynamics", "layer", 1, NULL, "the layer f giving du/dt = f(t, u); keeps the state size",
     NULL},
    {"tspan", "array", 1, NULL, "[t0, t1]: finite and different (t1 < t0 integrates backwards)",
     NULL},
    NDE_DE_KEY_SAVEAT,
    {"solver", "plugin", 0, NDE_JSON_STR(NODE_DEFAULT_SOLVER),
     "ode_solver plugin: NAME or {\"plugin\": NAME, \"abstol\": ..., options...}", NULL},
    NDE_DE_KEY_SENSITIVITY,
    NDE_DE_KEY_REGULARIZER,
    NDE_DE_KEY_MAX_STEP_GROWTH,
    {"time_spans", "string", 0, "\"shared\"",
     "per_sample: each input sample is its state then [t0, t1], solved on s in [0, 1] with "
     "du/ds = (t1 - t0) f(u); tspan must be [0, 1] and saveat is in s",
     "[\"shared\", \"per_sample\"]"},
};

NDE_CORE_LAYER_DEFINE(neural_ode,
                      "neural ODE: y = u(t1) of du/dt = f(t, u; p), u(t0) = x",
                      node_keys,
                      .build = node_build, .forward = node_forward, .vjp = node_vjp,
                      .destroy = node_destroy);
