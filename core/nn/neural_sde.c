/*
 * neural_sde: the Itô SDE du = f(t, u; p) dt + g(t, u; p) dW, u(t0) = x,
 * with drift f and diffusion g any layers, solved for K trajectories per
 * sample; the output is their mean (and variance) at t1 or at saveat. JSON:
 *
 *   {"layer": "neural_sde", "drift": LAYER, "diffusion": LAYER,
 *    "tspan": [t0, t1], "saveat": [t, ...],           optional: a time series
 *    "noise": "diagonal" | "scalar" | "general",      default diagonal
 *    "brownian_dim": m,           general noise: Wiener processes per trajectory
 *    "trajectories": K, "eval_trajectories": K,       default 1, = trajectories
 *    "output": "mean" | "mean_var",                   default mean
 *    "solver": "sosri" | {"plugin": "sosri", "abstol": ..., ...},
 *    "sensitivity": "direct" | {"plugin": ..., options},   default direct
 *    "brownian": "stored" | "tree",                   default stored
 *    "regularizer": NAME | {"plugin": NAME, "coef": SCHEDULE, options} | [...],
 *    "max_step_growth": 100}     the step-count guard of de_common.h (0: off)
 *
 * The whole batch is ONE SDE system: the input (F, B) is repeated K times
 * into a state (F, B·K) (trajectory k of sample b is column k·B + b), so
 * every sample and trajectory shares the adaptive steps and the error norm,
 * as the thesis solves a batch (its NFE is per batch). The noise is one
 * Brownian path per forward pass, keyed by the run's seed, the layer and the
 * training step, so the backward pass and finite-difference checks see the
 * same noise. "output": "mean" gives per sample the mean state over the
 * trajectories at each save point (time-major: feature f of point j is
 * element f + F·j); "mean_var" gives at each point F means then F unbiased
 * variances (divided by K − 1). With a linear layer after it, the mean
 * state's logits are the mean of the trajectories' logits.
 *
 * Solve statistics go to the metrics stream: nfe_forward (drift
 * evaluations, rejected steps included), nfe_diffusion, steps_accepted,
 * steps_rejected, nfe_backward (drift and diffusion pullbacks).
 *
 * General noise: the diffusion layer maps the F state features to F·m
 * values per column, read as the F × m matrix g column-major (value j is
 * g[j % F][j / F]); du = f dt + g dW with m independent Wiener processes per
 * trajectory and sample. Needs a solver that supports it (euler_maruyama).
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nde/brownian.h>
#include <nde/model.h>
#include <nde/sde.h>
#include <nde/sensitivity.h>

#include "de_common.h"

/* The solver without a "solver" key. */
#define NSDE_DEFAULT_SOLVER "sosri"

typedef struct nsde_state {
  nde_de_state de;
  size_t k_train, k_eval;
  int mean_var;
  int tree;
  nde_sde_noise noise;
  size_t brownian_dim; /* m of general noise (1 otherwise) */
  nde_sde_solver *solver;
  nde_brownian *path;  /* the latest forward's noise, re-queried by its vjp */
  uint64_t path_key;   /* its stream and dimension */
  size_t path_dim;
} nsde_state;

/* Drift and diffusion: the two child layers evaluated in the arena on the (F, B·K) state. */
typedef struct nsde_rhs {
  const nde_layer *node, *drift, *diffusion;
  nde_layer_ctx lctx; /* batch B·K, no metrics */
  const void *params; /* the node's parameter slice */
  nde_arena_mark keep_mark; /* where the kept evaluations start (keep_begin) */
} nsde_rhs;

/* One evaluation kept for its pullback (arena host memory). */
typedef struct nsde_kept {
  const nde_layer *child;
  nde_record *rec;
} nsde_kept;

/* What one evaluation keeps for its vjp (arena host memory). */
typedef struct nsde_eval {
  uint64_t generation;
  size_t k;                 /* trajectories of this pass */
  nsde_rhs rhs;
  nde_sde_rhs f;
  nde_sde_sens_problem problem;
  nde_array u0;             /* (F, B·K) */
  nde_de_saves saves;       /* the solve's save points: the layer's, plus t_reg */
  void *saved;              /* mean_var: the states at the user's points, (F·B·K) each */
  nde_de_weights w;
  /* the extra local step (local error regularization), when saves.local */
  double dt_reg;
  void *u_reg;              /* u(t_reg), F·B·K elements */
} nsde_eval;

/*
 * One child layer at (t, u): its output into @p out, or with a cotangent
 * @p w its pullback (w_u into @p out, w_p accumulated into the child's
 * slice of the node's gradient @p w_p), recomputing the forward.
 */
static nde_status run_child(nsde_rhs *r, const nde_layer *child, double t, const nde_array *u,
                            const nde_array *w, nde_array *out, void *w_p) {
  nde_arena_mark mark = nde_arena_get_mark(r->lctx.arena);
  nde_record *rec;
  nde_status st = nde_layer_forward(child, &r->lctx, u->data, t,
                                    nde_child_params(r->node, child, r->lctx.dtype, r->params),
                                    &rec);
  if (st == NDE_OK && w)
    st = nde_layer_vjp(child, &r->lctx, rec, w->data, out->data,
                       nde_child_dparams(r->node, child, r->lctx.dtype, w_p), NULL);
  else if (st == NDE_OK)
    st = r->lctx.backend->ops->copy(r->lctx.backend->ctx, out->data, rec->y,
                                    nde_array_bytes(out));
  nde_arena_rewind(r->lctx.arena, mark);
  return st;
}

static nde_status drift_eval(void *ctx, double t, const nde_array *u, nde_array *out) {
  nsde_rhs *r = ctx;
  return run_child(r, r->drift, t, u, NULL, out, NULL);
}

static nde_status diffusion_eval(void *ctx, double t, const nde_array *u, nde_array *out) {
  nsde_rhs *r = ctx;
  return run_child(r, r->diffusion, t, u, NULL, out, NULL);
}

static nde_status drift_vjp(void *ctx, double t, const nde_array *u, const nde_array *w,
                            nde_array *w_u, void *w_p) {
  nsde_rhs *r = ctx;
  return run_child(r, r->drift, t, u, w, w_u, w_p);
}

static nde_status diffusion_vjp(void *ctx, double t, const nde_array *u, const nde_array *w,
                                nde_array *w_u, void *w_p) {
  nsde_rhs *r = ctx;
  return run_child(r, r->diffusion, t, u, w, w_u, w_p);
}

/*
 * Kept evaluations (nde_sde_rhs::drift_keep ...): the child's record stays in
 * the arena until keep_end, so the reverse step's pullback of a stage uses
 * the evaluation that recomputed it instead of running the child again.
 */
static nde_status keep_begin(void *ctx) {
  nsde_rhs *r = ctx;
  r->keep_mark = nde_arena_get_mark(r->lctx.arena);
  return NDE_OK;
}

static void keep_end(void *ctx) {
  nsde_rhs *r = ctx;
  nde_arena_rewind(r->lctx.arena, r->keep_mark);
}

static nde_status child_keep(nsde_rhs *r, const nde_layer *child, double t, const nde_array *u,
                             nde_array *out, void **kept) {
  nsde_kept *k;
  NDE_TRY(nde_arena_alloc_host(r->lctx.arena, sizeof *k, (void **)&k));
  k->child = child;
  NDE_TRY(nde_layer_forward(child, &r->lctx, u->data, t,
                            nde_child_params(r->node, child, r->lctx.dtype, r->params), &k->rec));
  *kept = k;
  return r->lctx.backend->ops->copy(r->lctx.backend->ctx, out->data, k->rec->y,
                                    nde_array_bytes(out));
}

static nde_status drift_keep(void *ctx, double t, const nde_array *u, nde_array *out,
                             void **kept) {
  nsde_rhs *r = ctx;
  return child_keep(r, r->drift, t, u, out, kept);
}

static nde_status diffusion_keep(void *ctx, double t, const nde_array *u, nde_array *out,
                                 void **kept) {
  nsde_rhs *r = ctx;
  return child_keep(r, r->diffusion, t, u, out, kept);
}

static nde_status kept_vjp(void *ctx, void *kept, const nde_array *w, nde_array *w_u,
                           void *w_p) {
  nsde_rhs *r = ctx;
  nsde_kept *k = kept;
  nde_arena_mark mark = nde_arena_get_mark(r->lctx.arena);
  nde_status st = nde_layer_vjp(k->child, &r->lctx, k->rec, w->data, w_u->data,
                                nde_child_dparams(r->node, k->child, r->lctx.dtype, w_p), NULL);
  nde_arena_rewind(r->lctx.arena, mark);
  return st;
}

/* ---------------------------------------------------------------- building */

static void nsde_destroy(nde_layer *node) {
  nsde_state *s = node->state;
  if (!s)
    return;
  nde_sde_solver_destroy(&s->solver);
  nde_de_state_release(&s->de);
  nde_brownian_destroy(&s->path);
  free(s);
  node->state = NULL;
}

/* What a regularizer needs of this layer's solver and sensitivity. */
static nde_status check_regularizer(void *user, const nde_de_reg *reg, const char *path) {
  nsde_state *s = user;
  const char *name = reg->ops->header.name, *solver = s->solver->ops->header.name;
  unsigned needs = reg->ops->needs;
  char names[512];
  if ((needs & (NDE_REG_NEEDS_STEP_ESTIMATES | NDE_REG_NEEDS_LOCAL_STEP)) &&
      !s->solver->ops->adaptive)
    return nde_error(NDE_EINVAL, "%s: regularizer '%s' needs a solver with an error estimate; "
                     "'%s' has none (solvers that do: %s)", path, name, solver,
                     nde_registry_capable_names(s->de.registry, NDE_KIND_SDE_SOLVER, "error_estimate",
                                                NULL, names, sizeof names));
  if ((needs & (NDE_REG_NEEDS_STEP_ESTIMATES | NDE_REG_NEEDS_LOCAL_STEP)) &&
      !s->solver->solve.adaptive)
    return nde_error(NDE_EINVAL, "%s: regularizer '%s' reads the error estimates of adaptive "
                     "steps; solver '%s' runs with adaptive = false", path, name, solver);
  NDE_TRY(nde_de_check_reg_sensitivity(&s->de, reg, path));
  NDE_TRY(nde_de_check_reg_stiffness(&s->de, reg, path, NDE_KIND_SDE_SOLVER, solver,
                                     s->solver->ops->stiffness));
  if (needs & NDE_REG_NEEDS_LOCAL_STEP) {
    if (s->de.has_local)
      return nde_error(NDE_EINVAL, "%s: regularizer '%s': only one local regularizer per "
                       "neural_sde", path, name);
    if (!s->solver->ops->tableau)
      return nde_error(NDE_EINVAL, "%s: regularizer '%s' takes one extra step of the solver "
                       "and needs an SRI method with an error estimate; '%s' is not one", path,
                       name, solver);
    s->de.has_local = 1;
  }
  if (needs & NDE_REG_CHANGES_SPAN)
    return nde_error(NDE_EINVAL, "%s: regularizer '%s' changes the span during training; a "
                     "neural_sde keeps its Brownian path on the fixed tspan", path, name);
  return NDE_OK;
}

/* A positive integer option (default @p fallback). */
static nde_status count_option(const json_t *spec, const char *key, const char *layer_path,
                               size_t fallback, size_t *out) {
  const json_t *v = json_object_get(spec, key);
  *out = fallback;
  if (!v)
    return NDE_OK;
  if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 1000000)
    return nde_error(NDE_EINVAL, "%s.%s: expected an integer from 1 to 1000000", layer_path, key);
  *out = (size_t)json_integer_value(v);
  return NDE_OK;
}

/* A string option among @p choices (default choices[0]); *index its position. */
static nde_status choice_option(const json_t *spec, const char *key, const char *layer_path,
                                const char *const *choices, size_t n, int *index) {
  const json_t *v = json_object_get(spec, key);
  *index = 0;
  if (!v)
    return NDE_OK;
  for (size_t i = 0; json_is_string(v) && i < n; ++i)
    if (!strcmp(json_string_value(v), choices[i])) {
      *index = (int)i;
      return NDE_OK;
    }
  char list[200] = "";
  for (size_t i = 0; i < n; ++i)
    snprintf(list + strlen(list), sizeof list - strlen(list), "%s\"%s\"", i ? ", " : "",
             choices[i]);
  return nde_error(NDE_EINVAL, "%s.%s: expected one of %s", layer_path, key, list);
}

static nde_status open_solver(nde_builder *b, nde_layer *node, nsde_state *s,
                              const json_t *spec) {
  char path[1100];
  const char *name;
  json_t *given;
  snprintf(path, sizeof path, "%s.solver", node->path);
  nde_status st = nde_de_plugin_spec(json_object_get(spec, "solver"), path, NSDE_DEFAULT_SOLVER,
                                     &name, &given);
  s->de.registry = nde_builder_registry(b);
  if (st == NDE_OK)
    st = nde_sde_solver_open(nde_builder_registry(b), name, nde_options_wrap(given), path,
                             &s->solver);
  json_decref(given);
  return st;
}

static nde_status nsde_build_inner(nde_builder *b, nde_layer *node, const json_t *spec,
                                   nsde_state *s) {
  NDE_TRY(nde_de_step_guard_parse(spec, node->path, &s->de.guard));
  NDE_TRY(nde_de_parse_span(spec, node->path, 1, &s->de.t0, &s->de.t1, &s->de.saveat, &s->de.nsave));
  NDE_TRY(count_option(spec, "trajectories", node->path, 1, &s->k_train));
  NDE_TRY(count_option(spec, "eval_trajectories", node->path, s->k_train, &s->k_eval));
  static const char *const outputs[] = {"mean", "mean_var"}, *const noises[] = {"diagonal",
                                                                                  "scalar",
                                                                                  "general"},
                           *const paths[] = {"stored", "tree"};
  int choice;
  NDE_TRY(choice_option(spec, "output", node->path, outputs, 2, &s->mean_var));
  NDE_TRY(choice_option(spec, "noise", node->path, noises, 3, &choice));
  s->noise = choice == 2 ? NDE_NOISE_GENERAL : choice ? NDE_NOISE_SCALAR : NDE_NOISE_DIAGONAL;
  NDE_TRY(count_option(spec, "brownian_dim", node->path, 1, &s->brownian_dim));
  if (s->noise != NDE_NOISE_GENERAL && json_object_get(spec, "brownian_dim"))
    return nde_error(NDE_EINVAL, "%s.brownian_dim: only with \"noise\": \"general\" (%s noise "
                     "has one Wiener process per %s)", node->path, noises[choice],
                     choice ? "trajectory" : "state variable");
  NDE_TRY(choice_option(spec, "brownian", node->path, paths, 2, &s->tree));
  if (s->mean_var && (s->k_train < 2 || s->k_eval < 2))
    return nde_error(NDE_EINVAL, "%s.output: \"mean_var\" needs at least 2 trajectories (the "
                     "variance divides by K - 1); got %s = 1", node->path,
                     s->k_train < 2 ? "trajectories" : "eval_trajectories");
  /* drift and diffusion keep the state size */
  static const char *const roles[2] = {"drift", "diffusion"};
  for (int i = 0; i < 2; ++i) {
    char path[1100];
    const json_t *c = json_object_get(spec, roles[i]);
    if (!c)
      return nde_error(NDE_EINVAL, "%s.%s: missing (the layer giving the %s)", node->path,
                       roles[i], i ? "noise amplitude g(t, u)" : "drift f(t, u)");
    snprintf(path, sizeof path, "%s.%s", node->path, roles[i]);
    nde_layer *child;
    NDE_TRY(nde_builder_child(b, node, c, path, &node->input, &child));
    size_t want = nde_shape_size(&node->input) * (i ? s->brownian_dim : 1);
    if (i && s->noise == NDE_NOISE_GENERAL && nde_shape_size(&child->output) != want)
      return nde_error(NDE_EINVAL, "%s: maps %zu features to %zu; the diffusion of a neural_sde "
                       "with general noise gives the %zu x %zu matrix g (%zu values)", path,
                       nde_shape_size(&node->input), nde_shape_size(&child->output),
                       nde_shape_size(&node->input), s->brownian_dim, want);
    if (nde_shape_size(&child->output) != want)
      return nde_error(NDE_EINVAL, "%s: maps %zu features to %zu; the %s of a neural_sde must "
                       "keep the state size (%s noise)", path, nde_shape_size(&node->input),
                       nde_shape_size(&child->output), roles[i], noises[choice]);
  }
  size_t per_point = nde_shape_size(&node->input) * (s->mean_var ? 2 : 1);
  if (s->de.saveat || s->mean_var)
    node->output = nde_shape_vector(per_point * s->de.nsave);
  else
    node->output = node->input;
  NDE_TRY(open_solver(b, node, s, spec));
  nde_sde_rhs probe = {.noise = s->noise, .brownian_dim = s->brownian_dim};
  char where[1100];
  snprintf(where, sizeof where, "%s.solver", node->path);
  NDE_TRY(nde_sde_noise_check(s->solver->ops, &probe, where));
  NDE_TRY(nde_de_build_rest(b, node, spec, NDE_SENS_SDE, "SDE", check_regularizer, s, &s->de));
  /* the per-step stiffness estimate costs two passes over the state: only when read */
  s->solver->solve.stiffness_estimate = s->de.reads_stiffness;
  return NDE_OK;
}

static nde_status nsde_build(nde_builder *b, nde_layer *node, const json_t *spec) {
  nsde_state *s; /* freed by nsde_destroy, also after a failure */
  NDE_TRY(nde_core_state_new(node, spec, "drift, diffusion and tspan", sizeof *s, (void **)&s));
  return nsde_build_inner(b, node, spec, s);
}

/* ---------------------------------------------------------------- evaluation */

/* An array of the state's shape on arena memory @p data. */
static nde_array state_view(const nsde_eval *ev, void *data) {
  nde_array a = ev->u0;
  a.data = data;
  a.owned = 0;
  return a;
}

/* The noise of [t, t + dt] from the layer's path, expanded for the solver's step. */
static nde_status step_noise(const nsde_state *s, const nsde_eval *ev, const nde_layer_ctx *ctx,
                             double t, double dt, nde_array *dW, nde_array chi[3]) {
  if (s->noise == NDE_NOISE_GENERAL) /* the local step's arrays are shaped for u */
    return nde_error(NDE_EUNSUPPORTED, "neural_sde: local error regularization supports "
                     "diagonal and scalar noise only");
  size_t m = nde_sde_noise_dim(s->noise, &ev->u0), n = ev->u0.size;
  double *host;
  NDE_TRY(nde_arena_alloc_host(ctx->arena, (2 * m + 4 * n) * sizeof *host, (void **)&host));
  int dz = s->solver->ops->needs_dz;
  NDE_TRY(nde_brownian_increment(s->path, t, t + dt, host, dz ? host + m : NULL));
  return nde_sde_noise_expand(s->noise, &ev->u0, dt, host, host + m, dW, dz ? &chi[0] : NULL,
                              dz ? &chi[1] : NULL, dz ? &chi[2] : NULL, host + 2 * m);
}

/* Arena arrays of the state's shape. */
static nde_status state_arrays(const nde_layer_ctx *ctx, const nsde_eval *ev, int count,
                               nde_array *out) {
  for (int i = 0; i < count; ++i) {
    void *d;
    NDE_TRY(nde_ctx_alloc(ctx, ev->u0.size, &d));
    out[i] = state_view(ev, d);
  }
  return NDE_OK;
}

/*
 * The extra step of local error regularization: from (t_reg, u(t_reg)) one
 * step of the solver's method with the step size the solver used at t_reg
 * (cut to end at t1), on the layer's Brownian path. Returns its error norm.
 */
static nde_status local_step(const nsde_state *s, nsde_eval *ev, const nde_layer_ctx *ctx,
                             const nde_solve_stats *stats, nde_reg_local_dt rule,
                             const double *frozen, double *eest, long *nf) {
  double dt = nde_de_accepted_dt(stats, ev->saves.t_reg, s->de.t0, s->de.t1);
  *nf = 0;
  if (rule == NDE_REG_DT_INITIAL) {
    /* the first step a fresh adaptive solve from (t_reg, u(t_reg)) takes in the thesis's code
       (StochasticDiffEq's heuristic, nde_sde_initial_dt) */
    nde_array work[NDE_SDE_INITIAL_DT_WORK];
    NDE_TRY(state_arrays(ctx, ev, NDE_SDE_INITIAL_DT_WORK, work));
    nde_array u = state_view(ev, ev->u_reg);
    long ng = 0;
    double h;
    NDE_TRY(nde_sde_initial_dt(&ev->f, ev->saves.t_reg, &u, s->solver->ops->strong_order,
                               s->solver->solve.abstol, s->solver->solve.reltol,
                               s->de.t1 - ev->saves.t_reg, work, &h, nf, &ng));
    dt = h;
    if (frozen) /* a frozen step sequence freezes this step's size too */
      dt = *frozen;
  }
  ev->dt_reg = dt;
  const nde_sde_solver_ops *ops = s->solver->ops;
  int ns = ops->stages;
  /* k[ns], g[ns], h0[ns], then u1, err, dW, chi[3], scratch[3] */
  nde_array *a;
  NDE_TRY(nde_arena_alloc_host(ctx->arena, (size_t)(3 * ns + 9) * sizeof *a, (void **)&a));
  NDE_TRY(state_arrays(ctx, ev, 3 * ns + 9, a));
  nde_array *rest = a + 3 * ns, *chi = rest + 3;
  nde_array u0 = state_view(ev, ev->u_reg);
  NDE_TRY(step_noise(s, ev, ctx, ev->saves.t_reg, dt, &rest[2], chi));
  nde_sde_step step = {.t = ev->saves.t_reg, .dt = dt, .u0 = &u0, .u1 = &rest[0], .err = &rest[1],
                       .delta = s->solver->solve.delta >= 0 ? s->solver->solve.delta : ops->delta,
                       .dW = &rest[2], .chi1 = ops->needs_dz ? &chi[0] : NULL,
                       .chi2 = ops->needs_dz ? &chi[1] : NULL,
                       .chi3 = ops->needs_dz ? &chi[2] : NULL, .k = a, .g = a + ns,
                       .h0 = a + 2 * ns, .nk = ns, .scratch = rest + 6};
  NDE_TRY(nde_sri_step(ops->tableau, &ev->f, &step));
  *nf += step.nf;
  nde_backend *be = ctx->backend;
  *eest = be->ops->wrms_norm(be->ctx, ctx->dtype, u0.size, step.err->data, u0.data,
                             step.u1->data, s->solver->solve.abstol, s->solver->solve.reltol);
  return NDE_OK;
}

/* Pull the local step's weighted error estimate back to u(t_reg): adds into @p du_reg. */
static nde_status local_step_vjp(const nsde_state *s, nsde_eval *ev, const nde_layer_ctx *ctx,
                                 void *du_reg, void *dparams) {
  const nde_sde_solver_ops *ops = s->solver->ops;
  int nwork = NDE_SDE_REVERSE_WORK(ops->stages);
  nde_array *a;
  NDE_TRY(nde_arena_alloc_host(ctx->arena, (size_t)(nwork + 5) * sizeof *a, (void **)&a));
  NDE_TRY(state_arrays(ctx, ev, nwork + 5, a));
  nde_array *dW = &a[nwork], *chi = &a[nwork + 1], *du0 = &a[nwork + 4];
  NDE_TRY(step_noise(s, ev, ctx, ev->saves.t_reg, ev->dt_reg, dW, chi));
  nde_array u0 = state_view(ev, ev->u_reg);
  nde_sde_reverse r = {.t = ev->saves.t_reg, .dt = ev->dt_reg, .u0 = &u0, .dW = dW,
                       .chi1 = ops->needs_dz ? &chi[0] : NULL,
                       .chi2 = ops->needs_dz ? &chi[1] : NULL,
                       .chi3 = ops->needs_dz ? &chi[2] : NULL,
                       .delta = s->solver->solve.delta >= 0 ? s->solver->solve.delta : ops->delta,
                       .du1 = NULL, .w_eest = ev->w.w_local, .abstol = s->solver->solve.abstol,
                       .reltol = s->solver->solve.reltol, .du0 = du0, .dparams = dparams,
                       .work = a, .nwork = nwork};
  NDE_TRY(nde_sde_solver_step_reverse(ops, &ev->f, &r));
  nde_backend *be = ctx->backend;
  be->ops->axpy(be->ctx, ctx->dtype, du0->size, 1.0, du0->data, du_reg);
  return NDE_OK;
}

/* A stream of this layer's noise for (step, training): the same in a pass's vjp and FD checks. */
static uint64_t path_stream(const nsde_state *s, const nde_layer_ctx *ctx) {
  nde_rng base = nde_rng_make(ctx->seed, s->de.key ^ 0x5deull);
  nde_rng r = nde_rng_split(&base, 2 * ctx->step + (ctx->training ? 1 : 0));
  return nde_rng_u64(&r);
}

/*
 * Reduce save column @p col of the solution (F·B·K) to the output's rows at
 * point @p j: the mean over the K trajectories (and the variance).
 */
static nde_status reduce_point(const nsde_state *s, const nsde_eval *ev, const nde_layer_ctx *ctx,
                               const void *col, size_t j, void *y) {
  nde_backend *be = ctx->backend;
  size_t F = ev->u0.shape[0], B = ctx->batch, K = ev->k, es = nde_dtype_size(ctx->dtype);
  size_t ld = F * s->de.nsave * (s->mean_var ? 2 : 1), rows = F * (s->mean_var ? 2 : 1);
  void *mean, *var = NULL;
  NDE_TRY(nde_ctx_alloc(ctx, F * B, &mean));
  double *c;
  const void **x;
  NDE_TRY(nde_arena_alloc_host(ctx->arena, K * sizeof *c, (void **)&c));
  NDE_TRY(nde_arena_alloc_host(ctx->arena, K * sizeof *x, (void **)&x));
  for (size_t k = 0; k < K; ++k) {
    c[k] = 1.0 / (double)K;
    x[k] = (const char *)col + k * F * B * es;
  }
  be->ops->lincomb(be->ctx, ctx->dtype, F * B, (int)K, c, x, 0.0, mean);
  be->ops->copy_matrix(be->ctx, ctx->dtype, F, B, mean, F, (char *)y + j * rows * es, ld);
  if (!s->mean_var)
    return NDE_OK;
  NDE_TRY(nde_ctx_alloc(ctx, F * B, &var));
  be->ops->fill(be->ctx, ctx->dtype, F * B, 0.0, var);
  for (size_t k = 0; k < K; ++k)
    be->ops->sq_axpby(be->ctx, ctx->dtype, F * B, 1.0 / (double)(K - 1), x[k], mean, 1.0, 0.0,
                      var);
  be->ops->copy_matrix(be->ctx, ctx->dtype, F, B, var, F, (char *)y + (j * rows + F) * es, ld);
  return NDE_OK;
}

static nde_status nsde_forward_solve(const nde_layer *node, const nde_layer_ctx *ctx,
                                     nde_record *rec, nsde_eval *ev, nde_sde_solution *sol) {
  nsde_state *s = node->state;
  nde_backend *be = ctx->backend;
  size_t F = nde_shape_size(&node->input), B = ctx->batch, K = ev->k, es = nde_dtype_size(ctx->dtype);

  /* the regularizers' plans (random draws replayable from seed, step and layer) */
  double t0 = s->de.t0, t1 = s->de.t1;
  nde_rng base = nde_rng_make(ctx->seed, s->de.key);
  nde_rng at_step = nde_rng_split(&base, ctx->step);
  nde_reg_plan *plans;
  NDE_TRY(nde_de_regs_prepare(s->de.regs, s->de.nregs, ctx, &at_step, node->path, &plans, &t0, &t1));
  size_t ilocal, ibiased;
  nde_de_local_plan(s->de.regs, s->de.nregs, plans, s->de.sens->capabilities, s->de.hist_t, s->de.n_hist, t0,
                    t1, &at_step, &ilocal, &ibiased);
  NDE_TRY(nde_de_save_points(ctx, s->de.saveat, s->de.nsave, t0, t1, ilocal < s->de.nregs,
                             ilocal < s->de.nregs ? plans[ilocal].t_reg : 0.0, &ev->saves));

  /* the state (F, B·K): K copies of the input */
  void *u0;
  NDE_TRY(nde_ctx_alloc(ctx, F * B * K, &u0));
  for (size_t k = 0; k < K; ++k)
    be->ops->copy_matrix(be->ctx, ctx->dtype, F, B, rec->x, F, (char *)u0 + k * F * B * es, F);
  ev->u0 = (nde_array){.dtype = ctx->dtype, .ndim = 2, .shape = {F, B * K}, .size = F * B * K,
                       .data = u0, .backend = be, .owned = 0};
  ev->rhs = (nsde_rhs){.node = node, .drift = node->children[0],
                       .diffusion = node->children[1], .lctx = *ctx, .params = rec->params};
  ev->rhs.lctx.metrics = NULL;
  ev->rhs.lctx.batch = B * K;
  ev->f = (nde_sde_rhs){.drift = drift_eval, .diffusion = diffusion_eval, .drift_vjp = drift_vjp,
                        .diffusion_vjp = diffusion_vjp, .noise = s->noise, .ctx = &ev->rhs,
                        .keep_begin = keep_begin, .drift_keep = drift_keep,
                        .diffusion_keep = diffusion_keep, .kept_vjp = kept_vjp,
                        .keep_end = keep_end, .brownian_dim = s->brownian_dim};

  /* the noise of this pass. A replay (freeze_steps 2) keeps the recording pass's path: a
     stored path's values depend on the order of first queries, and the recording solve's
     rejected steps drew points (then bridged inside them) that a replay never queries, so a
     new path would give the replayed steps other increments */
  uint64_t stream = path_stream(s, ctx);
  size_t dim = nde_sde_rhs_noise_dim(&ev->f, &ev->u0);
  if (ctx->freeze_steps != 2 || !s->path || s->path_key != stream || s->path_dim != dim) {
    nde_brownian_destroy(&s->path);
    /* keyed by the global column: trajectory k of the batch's sample b has the same noise
       whichever rank holds b (columns k·B + b; q noise components per column) */
    size_t first, all, q = dim / (B * K);
    NDE_TRY(nde_backend_global_offset(be, B, &first, &all));
    nde_brownian_config pc = {.seed = ctx->seed, .stream = stream, .t0 = s->de.t0, .t1 = s->de.t1,
                              .dim = dim, .levy_area = s->solver->ops->needs_dz,
                              .stored = !s->tree, .local_block = q * B, .global_block = q * all,
                              .block_offset = q * first};
    NDE_TRY(nde_brownian_create(&pc, &s->path));
    s->path_key = stream;
    s->path_dim = dim;
  }
  ev->problem = (nde_sde_sens_problem){.rhs = &ev->f, .solver = s->solver, .path = s->path,
                                       .t0 = t0, .t1 = t1, .saveat = ev->saves.t,
                                       .nsave = ev->saves.n, .u0 = &ev->u0,
                                       .n_params = node->param_count};

  /* frozen step sequences (finite-difference checks) */
  nde_sde_options saved_opts = s->solver->solve;
  if (ctx->freeze_steps == 2) {
    if (!s->de.frozen_dt)
      return nde_error(NDE_EINVAL, "%s: no recorded step sequence to replay", node->path);
    s->solver->solve.replay_dt = s->de.frozen_dt;
    s->solver->solve.n_replay = s->de.n_frozen;
  }
  s->solver->solve.maxiters =
      nde_de_step_guard_begin(&s->de.guard, saved_opts.maxiters, ctx->freeze_steps);
  nde_status st = s->de.sens->sde_forward(s->de.sens_state, &ev->problem, sol);
  s->solver->solve = saved_opts;
  NDE_TRY(nde_de_step_guard_end(&s->de.guard, st, sol->stats.accepted, sol->stats.rejected,
                                ctx->freeze_steps));
  if (sol->nsave != ev->saves.n)
    return nde_error(NDE_EINTERNAL, "sensitivity returned %zu save points, expected %zu",
                     sol->nsave, ev->saves.n);
  if (ctx->freeze_steps == 1) {
    double *dts = realloc(s->de.frozen_dt, (sol->stats.nsteps + 1) * sizeof *dts);
    if (!dts)
      return nde_error(NDE_ENOMEM, "out of memory");
    s->de.frozen_dt = dts;
    s->de.n_frozen = sol->stats.nsteps;
    for (size_t j = 0; j < sol->stats.nsteps; ++j)
      dts[j] = sol->stats.steps[j].dt;
  }

  /* the output, and what the vjp needs of the solution */
  size_t n = F * B * K;
  NDE_TRY(nde_ctx_alloc(ctx, nde_shape_size(&node->output) * B, &rec->y));
  if (s->mean_var)
    NDE_TRY(nde_ctx_alloc(ctx, n * ev->saves.n_user, &ev->saved));
  for (size_t j = 0; j < ev->saves.n_user; ++j) {
    const char *col = (const char *)sol->u.data + ev->saves.user_col[j] * n * es;
    NDE_TRY(reduce_point(s, ev, ctx, col, j, rec->y));
    if (s->mean_var)
      NDE_TRY(be->ops->copy(be->ctx, (char *)ev->saved + j * n * es, col, n * es));
  }
  /* the solve as regularizers and the local step read it: the step records are shared */
  nde_solve_stats view = {.nfe = sol->stats.nf, .accepted = sol->stats.accepted,
                          .rejected = sol->stats.rejected, .nsteps = sol->stats.nsteps,
                          .steps = sol->stats.steps};
  if (ev->saves.local) {
    NDE_TRY(nde_ctx_alloc(ctx, n, &ev->u_reg));
    NDE_TRY(be->ops->copy(be->ctx, ev->u_reg, (const char *)sol->u.data + ev->saves.reg_col * n * es,
                          n * es));
    double eest = NAN;
    long lnf = 0;
    NDE_TRY(local_step(s, ev, ctx, &view, plans[ilocal].local_dt_rule,
                       ctx->freeze_steps == 2 ? &s->de.frozen_local_dt : NULL, &eest, &lnf));
    if (ctx->freeze_steps == 1)
      s->de.frozen_local_dt = ev->dt_reg;
    plans[ilocal].local_eest = eest;
    plans[ilocal].local_dt = ev->dt_reg;
    view.nfe += lnf;
  }
  nde_layer_report(ctx, "nfe_forward", (double)view.nfe);
  nde_layer_report(ctx, "nfe_diffusion", (double)sol->stats.ng);
  nde_layer_report(ctx, "steps_accepted", (double)sol->stats.accepted);
  nde_layer_report(ctx, "steps_rejected", (double)sol->stats.rejected);
  /* biased local regularization draws from this solve's points next time */
  if (s->de.has_local && ctx->training && !ctx->freeze_steps)
    nde_de_keep_history(&view, &s->de.hist_t, &s->de.n_hist);
  return nde_de_regs_evaluate(s->de.regs, s->de.nregs, ctx, &at_step, node->path, &view, plans, ilocal,
                              ibiased, &ev->w);
}

static nde_status nsde_forward(const nde_layer *node, const nde_layer_ctx *ctx, nde_record *rec) {
  nsde_state *s = node->state;
  NDE_TRY(NDE_BACKEND_NEED(ctx->backend, copy_matrix));
  NDE_TRY(NDE_BACKEND_NEED(ctx->backend, sq_axpby));
  nsde_eval *ev;
  NDE_TRY(nde_arena_alloc_host(ctx->arena, sizeof *ev, (void **)&ev));
  memset(ev, 0, sizeof *ev);
  rec->data = ev;
  ev->generation = ++s->de.generation;
  ev->k = ctx->training ? s->k_train : s->k_eval;
  if (s->mean_var && ev->k < 2)
    return nde_error(NDE_EINVAL, "%s: \"mean_var\" needs at least 2 trajectories (got "
                     "eval_trajectories = 1)", node->path);
  nde_sde_solution sol = {0};
  nde_status st = nsde_forward_solve(node, ctx, rec, ev, &sol);
  nde_sde_solution_clear(&sol);
  return st == NDE_OK ? NDE_OK : nde_error_prefix(st, "%s (neural_sde)", node->path);
}

/* Cotangents of the solve's save columns from the output's (mean and variance per point). */
static nde_status save_cotangents(const nsde_state *s, const nsde_eval *ev,
                                  const nde_layer_ctx *ctx, const void *dy, void *dsave) {
  nde_backend *be = ctx->backend;
  size_t F = ev->u0.shape[0], B = ctx->batch, K = ev->k, es = nde_dtype_size(ctx->dtype);
  size_t n = F * B * K, ld = F * s->de.nsave * (s->mean_var ? 2 : 1);
  size_t rows = F * (s->mean_var ? 2 : 1);
  be->ops->fill(be->ctx, ctx->dtype, n * ev->saves.n, 0.0, dsave);
  void *dmean, *dvar = NULL, *mean = NULL;
  NDE_TRY(nde_ctx_alloc(ctx, F * B, &dmean));
  if (s->mean_var) {
    NDE_TRY(nde_ctx_alloc(ctx, F * B, &dvar));
    NDE_TRY(nde_ctx_alloc(ctx, F * B, &mean));
  }
  for (size_t j = 0; j < ev->saves.n_user; ++j) {
    char *col = (char *)dsave + ev->saves.user_col[j] * n * es;
    be->ops->copy_matrix(be->ctx, ctx->dtype, F, B, (const char *)dy + j * rows * es, ld, dmean,
                         F);
    if (s->mean_var) {
      be->ops->copy_matrix(be->ctx, ctx->dtype, F, B, (const char *)dy + (j * rows + F) * es, ld,
                           dvar, F);
      const char *x = (const char *)ev->saved + j * n * es;
      be->ops->fill(be->ctx, ctx->dtype, F * B, 0.0, mean);
      for (size_t k = 0; k < K; ++k)
        be->ops->axpy(be->ctx, ctx->dtype, F * B, 1.0 / (double)K, x + k * F * B * es, mean);
      /* ∂var/∂x_k = 2(x_k − mean)/(K − 1) (the Σ(x_k − mean) = 0 term of the mean drops) */
      for (size_t k = 0; k < K; ++k) {
        char *dk = col + k * F * B * es;
        const void *xm[2] = {x + k * F * B * es, mean};
        double c[2] = {2.0 / (double)(K - 1), -2.0 / (double)(K - 1)};
        be->ops->lincomb(be->ctx, ctx->dtype, F * B, 2, c, xm, 0.0, dk);
        be->ops->mul(be->ctx, ctx->dtype, F * B, dk, dvar, dk);
      }
    }
    for (size_t k = 0; k < K; ++k)
      be->ops->axpy(be->ctx, ctx->dtype, F * B, 1.0 / (double)K, dmean, col + k * F * B * es);
  }
  return NDE_OK;
}

static nde_status nsde_vjp(const nde_layer *node, const nde_layer_ctx *ctx, const nde_record *rec,
                           const void *dy, void *dx, void *dparams, double *dt) {
  (void)dt; /* the output does not depend on the layer's input time */
  nsde_state *s = node->state;
  nsde_eval *ev = rec->data;
  if (ev->generation != s->de.generation)
    return nde_error(NDE_EINVAL, "%s: the vjp of a neural_sde must follow its latest forward "
                     "pass (the sensitivity keeps only the last solve)", node->path);
  nde_backend *be = ctx->backend;
  size_t F = ev->u0.shape[0], B = ctx->batch, K = ev->k, es = nde_dtype_size(ctx->dtype);
  size_t n = F * B * K;
  void *dsave;
  NDE_TRY(nde_ctx_alloc(ctx, n * ev->saves.n, &dsave));
  NDE_TRY(save_cotangents(s, ev, ctx, dy, dsave));
  nde_array du_save = {.dtype = ctx->dtype, .ndim = 2, .shape = {n, ev->saves.n},
                       .size = n * ev->saves.n, .data = dsave, .backend = be};
  ev->rhs.lctx = *ctx; /* temporaries of this pass come from this arena position */
  ev->rhs.lctx.metrics = NULL;
  ev->rhs.lctx.batch = B * K;
  if (ev->saves.local && ev->w.w_local != 0.0) {
    nde_status st = local_step_vjp(s, ev, ctx, (char *)dsave + ev->saves.reg_col * n * es, dparams);
    if (st != NDE_OK)
      return nde_error_prefix(st, "%s (neural_sde) vjp of the local regularization step",
                              node->path);
  }
  void *du0_data;
  NDE_TRY(nde_ctx_alloc(ctx, n, &du0_data));
  nde_array du0 = state_view(ev, du0_data);
  nde_sens_stats stats = {0};
  nde_status st = s->de.sens->sde_backward(s->de.sens_state, &ev->problem, &du_save, ev->w.w_eest,
                                        ev->w.w_eigen, &du0, dparams, &stats);
  if (st != NDE_OK)
    return nde_error_prefix(st, "%s (neural_sde) vjp", node->path);
  if (dx) {
    be->ops->fill(be->ctx, ctx->dtype, F * B, 0.0, dx);
    for (size_t k = 0; k < K; ++k)
      be->ops->axpy(be->ctx, ctx->dtype, F * B, 1.0, (const char *)du0_data + k * F * B * es, dx);
  }
  nde_layer_report(ctx, "nfe_backward", (double)stats.nvjp);
  nde_layer_report(ctx, "backward_peak_bytes", (double)stats.peak_bytes);
  return NDE_OK;
}

static const nde_core_key nsde_keys[] = {
    {"drift", "layer", 1, NULL, "the layer giving the drift f(t, u); keeps the state size", NULL},
    {"diffusion", "layer", 1, NULL, "the layer giving the noise amplitude g(t, u); keeps the state "
     "size (general noise: F x brownian_dim values)", NULL},
    {"tspan", "array", 1, NULL, "[t0, t1] with t0 < t1 (forward only)", NULL},
    NDE_DE_KEY_SAVEAT,
    {"noise", "string", 0, NDE_JSON_STR("diagonal"),
     "diagonal: one Brownian motion per state variable; scalar: one for all; general: "
     "brownian_dim of them through the F x brownian_dim matrix the diffusion gives",
     "[\"diagonal\", \"scalar\", \"general\"]"},
    {"brownian_dim", "integer", 0, "1",
     "general noise: Wiener processes per trajectory (1 to 1000000); the diffusion layer then "
     "gives F x brownian_dim values, the matrix column-major", NULL},
    {"trajectories", "integer", 0, "1", "trajectories per sample in training (1 to 1000000)",
     NULL},
    {"eval_trajectories", "integer", 0, NULL,
     "trajectories per sample at evaluation (1 to 1000000); absent: = trajectories", NULL},
    {"output", "string", 0, NDE_JSON_STR("mean"),
     "the trajectories' mean, or means then unbiased variances (needs 2+ trajectories)",
     "[\"mean\", \"mean_var\"]"},
    {"solver", "plugin", 0, NDE_JSON_STR(NSDE_DEFAULT_SOLVER),
     "sde_solver plugin: NAME or {\"plugin\": NAME, \"abstol\": ..., options...}", NULL},
    NDE_DE_KEY_SENSITIVITY,
    {"brownian", "string", 0, NDE_JSON_STR("stored"),
     "Brownian path: stored increments, or a re-queryable Brownian tree",
     "[\"stored\", \"tree\"]"},
    NDE_DE_KEY_REGULARIZER,
    NDE_DE_KEY_MAX_STEP_GROWTH,
};

NDE_CORE_LAYER_DEFINE(neural_sde,
                      "neural SDE: mean (and variance) over K trajectories of du = f dt + g dW",
                      nsde_keys,
                      .build = nsde_build, .forward = nsde_forward, .vjp = nsde_vjp,
                      .destroy = nsde_destroy);
