/*
 * Deep equilibrium layers (thesis ch. 3 §3, ch. 4): deq, skip_deq,
 * skip_reg_deq (discrete, a nonlinear_solver plugin) and continuous_deq
 * (dz/dt = f(z, x) − z integrated by an ode_solver plugin to its steady
 * state). They share everything but the forward solve.
 *
 * The cell has additive input injection, f(z, x) = g(z) + h(x):
 *   "dynamics": LAYER g, F features → F features (required);
 *   "injection": LAYER h, input features → F (optional; without it h(x) = x).
 * This is the cell of the thesis's code (Parallel(+, relu(W₁z), relu(W₂x))).
 * h(x) is computed once per forward pass; NFE counts evaluations of g.
 *
 * Forward: z₀ (zeros / "skip" network / f(0, x)), z_s = solve(z = f(z, x)),
 * output y = f(z_s, x) — one extra evaluation counted in NFE, as the
 * thesis's code does. Backward: y's cotangent goes through that evaluation
 * directly and into z_s, whose cotangent the sensitivity plugin
 * (steady_state: implicit function theorem; jfb) maps to the parameters
 * of g and to h; h's cotangent then flows into the injection layer and x.
 *
 * Auxiliary losses (nde_layer_add_loss):
 *  - "skip_coef" λ: λ·mean|z₀ − y| (L1, as the thesis's code; with z₀ = 0
 *    it is an L1 penalty on y). Its gradient reaches y and z₀ (the skip
 *    network, or g at 0 and h for f(0, x)).
 *  - "regularizer": "jacobian_frobenius" with "coef" γ: one Gaussian probe
 *    ε (Philox stream keyed by the seed, the step and the layer), v = Jᵀε
 *    with J = ∂g/∂z at z_s, value ‖v‖²/(F·B) (Bai et al. 2021, Hutchinson).
 *    Gradient: with a = 2γv/(F·B), the term's derivative is the mixed second
 *    derivative ∂/∂(θ, z) [εᵀ J(z, θ) a], computed as the central difference
 *    of two VJPs, (VJP_ε(z_s + h·a) − VJP_ε(z_s − h·a)) / 2h (two extra
 *    evaluations and VJPs of g); h = ε_mach^(1/3)·max(1, ‖z_s‖∞)/‖a‖∞.
 *    The z-part enters z_s's cotangent before the implicit solve, so the
 *    term is differentiated through the equilibrium too.
 *
 * Statistics (nde_layer_report): nfe_forward (evaluations of g, including
 * f(0, x) and the output), iterations_forward, unconverged_forward (1 when
 * the solver stopped without meeting its tolerance), nvjp_backward,
 * unconverged_backward, skip_loss, jac_loss.
 */
#include "config.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nde/model.h>
#include <nde/nonlinear.h>
#include <nde/ode.h>
#include <nde/registry.h>
#include <nde/sensitivity.h>

#include "layer_impl.h"

typedef enum deq_init { DEQ_INIT_ZEROS = 0, DEQ_INIT_SKIP, DEQ_INIT_F0 } deq_init;

/* Defaults, shared by the builder and the key tables at the end of this file. */
#define DEQ_STR_(x) #x
#define DEQ_STR(x) DEQ_STR_(x)
/* the thesis's code: L-Broyden, memory 27, B₀ = −I, rel. tol 5e-3 over the whole batch
   (Euclidean norm), 50 iterations, best iterate returned */
#define DEQ_SOLVER "lbroyden"
#define DEQ_SOLVER_OPTIONS                                                                     \
  "\"memory\": 27, \"alpha\": -1.0, \"abstol\": 5e-3, \"reltol\": 5e-3, \"maxiters\": 50, "      \
  "\"termination\": \"rel\", \"norm\": \"l2\", \"keep_best\": true, \"history\": false"
#define CDEQ_SOLVER "tsit5"
#define CDEQ_SOLVER_OPTIONS "\"abstol\": 5e-3, \"reltol\": 5e-3"
#define DEQ_SENSITIVITY "steady_state"
#define DEQ_SKIP_COEF 0.01 /* thesis text λ_skip = 0.01 (0 with initial guess zeros) */
#define DEQ_STEADY_RELTOL 5e-3
#define DEQ_T1 1000.0

typedef struct deq_state {
  int continuous;
  deq_init init;
  int i_dyn, i_inj, i_skip; /* child indices (-1: absent) */
  size_t features;          /* F */
  double skip_coef;
  double jac_coef;
  double steady_reltol;     /* continuous: stop when ‖dz‖₂ ≤ tol·‖dz + z‖₂ */
  double t1;                /* continuous: integrate at most to t1 */
  nde_nonlinear_solver *nl;
  nde_ode_solver *ode;
  const nde_sensitivity_ops *sens;
  void *sens_state;
  nde_options *sens_options;
} deq_state;

/* What the backward pass needs from one forward evaluation (arena host memory). */
typedef struct deq_data {
  nde_record *rec_inj, *rec_skip, *rec_g0, *rec_out; /* rec_out: g at z_s */
  void *h;      /* injected features (F, B); aliases x without injection */
  void *z0;     /* initial guess (F, B) */
  void *zs;     /* solver's result (F, B) */
  void *eps;    /* Jacobian probe, NULL when not regularized */
  void *v;      /* Jᵀε */
  void *diff;   /* z₀ − y, when the skip term was added */
  void *absdiff; /* |z₀ − y| */
} deq_data;

/* ------------------------------------------------------------------------ */
/* Build                                                                     */

static void deq_destroy(nde_layer *node) {
  deq_state *s = node->state;
  if (!s)
    return;
  nde_nonlinear_solver_destroy(&s->nl);
  nde_ode_solver_destroy(&s->ode);
  if (s->sens && s->sens_state)
    s->sens->destroy(s->sens_state);
  nde_options_destroy(&s->sens_options);
  free(s);
  node->state = NULL;
}

/* Split a plugin reference (string or {"plugin": name, options...}) into name and options text. */
static nde_status plugin_ref(const json_t *v, const char *where, const char *fallback_name,
                             const char *fallback_options, char *name, size_t name_size,
                             char **options) {
  *options = NULL;
  if (!v) {
    snprintf(name, name_size, "%s", fallback_name);
    *options = strdup(fallback_options);
    return *options ? NDE_OK : nde_error(NDE_ENOMEM, "out of memory");
  }
  if (json_is_string(v)) {
    snprintf(name, name_size, "%s", json_string_value(v));
    *options = strdup("{}");
    return *options ? NDE_OK : nde_error(NDE_ENOMEM, "out of memory");
  }
  if (!json_is_object(v) || !json_is_string(json_object_get(v, "plugin")))
    return nde_error(NDE_EINVAL, "%s: expected a plugin name or an object with \"plugin\"", where);
  snprintf(name, name_size, "%s", json_string_value(json_object_get(v, "plugin")));
  json_t *copy = json_deep_copy(v);
  if (!copy)
    return nde_error(NDE_ENOMEM, "out of memory");
  json_object_del(copy, "plugin");
  *options = json_dumps(copy, JSON_COMPACT);
  json_decref(copy);
  return *options ? NDE_OK : nde_error(NDE_ENOMEM, "out of memory");
}

static nde_status open_sensitivity(nde_builder *b, deq_state *s, const json_t *v,
                                   const char *where) {
  char name[128];
  char *text = NULL;
  NDE_TRY(plugin_ref(v, where, DEQ_SENSITIVITY, "{}", name, sizeof name, &text));
  nde_options *given = NULL;
  nde_status st = nde_options_parse(text, &given);
  free(text);
  const nde_plugin *plugin = NULL;
  if (st == NDE_OK)
    st = nde_registry_find(nde_builder_registry(b), NDE_KIND_SENSITIVITY, name, &plugin);
  const void *vt = NULL;
  if (st == NDE_OK)
    st = nde_plugin_open(plugin, given, where, &vt, &s->sens_options);
  nde_options_destroy(&given);
  if (st != NDE_OK)
    return nde_error_prefix(st, "%s", where);
  s->sens = vt;
  char names[512];
  if (!(s->sens->capabilities & NDE_SENS_FIXED_POINT))
    return nde_error(NDE_EINVAL, "%s: sensitivity '%s' cannot differentiate a fixed point (use "
                     "%s)", where, name,
                     nde_registry_capable_names(nde_builder_registry(b), NDE_KIND_SENSITIVITY,
                                                "problems", "fixed_point", names, sizeof names));
  st = s->sens->create(s->sens_options, &s->sens_state);
  return st == NDE_OK ? NDE_OK : nde_error_prefix(st, "%s", where);
}

static nde_status open_solver(nde_builder *b, const nde_layer *node, deq_state *s,
                              const json_t *v) {
  char where[1100], name[128];
  snprintf(where, sizeof where, "%s.solver", node->path);
  char *text = NULL;
  if (s->continuous) {
    NDE_TRY(plugin_ref(v, where, CDEQ_SOLVER, "{" CDEQ_SOLVER_OPTIONS "}", name, sizeof name,
                       &text));
    nde_options *given = NULL;
    nde_status st = nde_options_parse(text, &given);
    free(text);
    if (st == NDE_OK)
      st = nde_ode_solver_open(nde_builder_registry(b), name, given, where, &s->ode);
    nde_options_destroy(&given);
    return st;
  }
  NDE_TRY(plugin_ref(v, where, DEQ_SOLVER, "{" DEQ_SOLVER_OPTIONS "}", name, sizeof name,
                     &text));
  nde_status st =
      nde_nonlinear_solver_open(nde_builder_registry(b), name, text, where, &s->nl);
  free(text);
  if (st == NDE_OK)
    nde_nonlinear_solver_reuse_workspace(s->nl, 1);
  return st;
}

static nde_status parse_regularizer(const nde_layer *node, deq_state *s, const json_t *v) {
  if (!v)
    return NDE_OK;
  const char *name = NULL;
  double coef = 1.0;
  if (json_is_string(v))
    name = json_string_value(v);
  else if (json_is_object(v) && json_is_string(json_object_get(v, "plugin"))) {
    name = json_string_value(json_object_get(v, "plugin"));
    const char *key;
    const json_t *val;
    json_object_foreach((json_t *)v, key, val) {
      if (!strcmp(key, "plugin"))
        continue;
      if (strcmp(key, "coef") || !json_is_number(val) || json_number_value(val) < 0)
        return nde_error(NDE_EINVAL, "%s.regularizer.%s: a DEQ regularizer takes only \"coef\" "
                         "(a number >= 0)", node->path, key);
      coef = json_number_value(val);
    }
  } else
    return nde_error(NDE_EINVAL, "%s.regularizer: expected \"none\", \"jacobian_frobenius\" or "
                     "{\"plugin\": \"jacobian_frobenius\", \"coef\": c}", node->path);
  static const char *const names[] = {"none", "jacobian_frobenius"};
  int which;
  nde_status st = nde_lookup_name("DEQ regularizer", names, 2, name, &which);
  if (st != NDE_OK)
    return nde_error_prefix(st, "%s.regularizer", node->path);
  s->jac_coef = which == 1 ? coef : 0.0;
  return NDE_OK;
}

static nde_status deq_build_common(nde_builder *b, nde_layer *node, const json_t *spec,
                                   int continuous, deq_init init) {
  deq_state *s = calloc(1, sizeof *s);
  if (!s)
    return nde_error(NDE_ENOMEM, "out of memory");
  node->state = s;
  s->continuous = continuous;
  s->init = init;
  s->i_dyn = s->i_inj = s->i_skip = -1;
  s->skip_coef = init == DEQ_INIT_ZEROS ? 0.0 : DEQ_SKIP_COEF;
  s->steady_reltol = DEQ_STEADY_RELTOL;
  s->t1 = DEQ_T1;
  const json_t *v;
  if ((v = json_object_get(spec, "initial_guess"))) {
    static const char *const inits[] = {"zeros", "skip", "f0"};
    int which;
    if (!json_is_string(v))
      return nde_error(NDE_EINVAL, "%s.initial_guess: expected \"zeros\", \"skip\" or \"f0\"",
                       node->path);
    nde_status st = nde_lookup_name("initial guess", inits, 3, json_string_value(v), &which);
    if (st != NDE_OK)
      return nde_error_prefix(st, "%s.initial_guess", node->path);
    s->init = (deq_init)which;
    if (s->init != DEQ_INIT_ZEROS && !json_object_get(spec, "skip_coef"))
      s->skip_coef = DEQ_SKIP_COEF;
  }
  if ((v = json_object_get(spec, "skip_coef"))) {
    if (!json_is_number(v) || json_number_value(v) < 0)
      return nde_error(NDE_EINVAL, "%s.skip_coef: expected a number >= 0", node->path);
    s->skip_coef = json_number_value(v);
  }
  if ((v = json_object_get(spec, "steady_reltol"))) {
    if (!json_is_number(v) || !(json_number_value(v) > 0))
      return nde_error(NDE_EINVAL, "%s.steady_reltol: expected a number > 0", node->path);
    s->steady_reltol = json_number_value(v);
  }
  if ((v = json_object_get(spec, "t1"))) {
    if (!json_is_number(v) || !(json_number_value(v) > 0))
      return nde_error(NDE_EINVAL, "%s.t1: expected a number > 0", node->path);
    s->t1 = json_number_value(v);
  }
  NDE_TRY(parse_regularizer(node, s, json_object_get(spec, "regularizer")));

  char path[1100];
  nde_layer *child;
  nde_shape state_shape = node->input;
  const json_t *inj = json_object_get(spec, "injection");
  if (inj) {
    snprintf(path, sizeof path, "%s.injection", node->path);
    NDE_TRY(nde_builder_child(b, node, inj, path, &node->input, &child));
    s->i_inj = (int)node->n_children - 1;
    state_shape = child->output;
  }
  s->features = nde_shape_size(&state_shape);
  const json_t *dyn = json_object_get(spec, "dynamics");
  if (!dyn)
    return nde_error(NDE_EINVAL, "%s.dynamics: missing (the layer g of f(z, x) = g(z) + h(x))",
                     node->path);
  snprintf(path, sizeof path, "%s.dynamics", node->path);
  NDE_TRY(nde_builder_child(b, node, dyn, path, &state_shape, &child));
  s->i_dyn = (int)node->n_children - 1;
  if (nde_shape_size(&child->output) != s->features)
    return nde_error(NDE_EINVAL, "%s: maps %zu features to %zu; the equilibrium needs them equal"
                     "%s", path, s->features, nde_shape_size(&child->output),
                     inj ? "" : " (without \"injection\" the state has the input's features)");
  const json_t *skip = json_object_get(spec, "skip");
  if (s->init == DEQ_INIT_SKIP && !skip)
    return nde_error(NDE_EINVAL, "%s.skip: missing (the network that predicts the initial "
                     "guess from x)", node->path);
  if (skip && s->init != DEQ_INIT_SKIP)
    return nde_error(NDE_EINVAL, "%s.skip: given, but the initial guess is not \"skip\"",
                     node->path);
  if (skip) {
    snprintf(path, sizeof path, "%s.skip", node->path);
    NDE_TRY(nde_builder_child(b, node, skip, path, &node->input, &child));
    s->i_skip = (int)node->n_children - 1;
    if (nde_shape_size(&child->output) != s->features)
      return nde_error(NDE_EINVAL, "%s: outputs %zu features; the equilibrium has %zu", path,
                       nde_shape_size(&child->output), s->features);
  }
  NDE_TRY(open_solver(b, node, s, json_object_get(spec, "solver")));
  snprintf(path, sizeof path, "%s.sensitivity", node->path);
  NDE_TRY(open_sensitivity(b, s, json_object_get(spec, "sensitivity"), path));
  node->output = state_shape;
  return NDE_OK;
}

static nde_status deq_build(nde_builder *b, nde_layer *node, const json_t *spec) {
  return deq_build_common(b, node, spec, 0, DEQ_INIT_ZEROS);
}
static nde_status skip_deq_build(nde_builder *b, nde_layer *node, const json_t *spec) {
  return deq_build_common(b, node, spec, 0, DEQ_INIT_SKIP);
}
static nde_status skip_reg_deq_build(nde_builder *b, nde_layer *node, const json_t *spec) {
  return deq_build_common(b, node, spec, 0, DEQ_INIT_F0);
}
static nde_status continuous_deq_build(nde_builder *b, nde_layer *node, const json_t *spec) {
  return deq_build_common(b, node, spec, 1, DEQ_INIT_ZEROS);
}

/* ------------------------------------------------------------------------ */
/* Forward                                                                   */

/* Evaluation of g inside a solve: the record is thrown away (arena rewound). */
typedef struct deq_eval {
  const nde_layer *node;
  const nde_layer_ctx *ctx;
  const void *params; /* g's parameters */
  const void *h;
  size_t n;
  long nfe;
  /* continuous termination */
  double tol;
  int steady;
  void *z_steady;
} deq_eval;

/* out = g(u) + h + c·u */
static nde_status eval_f(deq_eval *e, const void *u, double c, void *out) {
  const deq_state *s = e->node->state;
  const nde_layer *g = e->node->children[s->i_dyn];
  nde_arena_mark mark = nde_arena_get_mark(e->ctx->arena);
  nde_record *r;
  nde_status st = nde_layer_forward(g, e->ctx, u, 0.0, e->params, &r);
  if (st == NDE_OK) {
    const void *terms[3] = {r->y, e->h, u};
    const double coefs[3] = {1.0, 1.0, c};
    e->ctx->backend->ops->lincomb(e->ctx->backend->ctx, e->ctx->dtype, e->n, 3, coefs, terms,
                                  0.0, out);
    e->nfe++;
  }
  nde_arena_rewind(e->ctx->arena, mark);
  return st;
}

static nde_status nl_residual(void *user, const void *u, void *out) {
  return eval_f(user, u, 0.0, out);
}

static nde_status ode_rhs(void *user, double t, const nde_array *u, nde_array *du) {
  (void)t;
  return eval_f(user, u->data, -1.0, du->data);
}

/* Stop the integration once ‖dz‖₂ ≤ tol·‖dz + z‖₂ (the thesis code's relative criterion). */
static nde_status ode_hook(void *user, const nde_ode_step *step, double eest) {
  (void)eest;
  deq_eval *e = user;
  nde_backend *be = e->ctx->backend;
  const void *dz = step->f1_valid ? step->f1->data : NULL;
  void *tmp = NULL;
  if (!dz) {
    NDE_TRY(nde_ctx_alloc(e->ctx, e->n, &tmp));
    NDE_TRY(eval_f(e, step->u1->data, -1.0, tmp));
    dz = tmp;
  }
  double dd = be->ops->dot(be->ctx, e->ctx->dtype, e->n, dz, dz);
  double dzz = be->ops->dot(be->ctx, e->ctx->dtype, e->n, dz, step->u1->data);
  double zz = be->ops->dot(be->ctx, e->ctx->dtype, e->n, step->u1->data, step->u1->data);
  double sum = dd + 2 * dzz + zz;
  if (sqrt(dd) <= e->tol * sqrt(sum > 0 ? sum : 0)) {
    be->ops->copy(be->ctx, e->z_steady, step->u1->data, e->n * nde_dtype_size(e->ctx->dtype));
    e->steady = 1;
    /* not an error: deq_forward recognizes the stop by e->steady */
    return NDE_ENOCONV;
  }
  return NDE_OK;
}

static nde_status solve_discrete(const deq_state *s, deq_eval *e, void *z, double *iters,
                                 int *unconverged) {
  nde_nonlinear_problem p;
  memset(&p, 0, sizeof p);
  p.backend = e->ctx->backend;
  p.dtype = e->ctx->dtype;
  p.n = e->n;
  p.batch = e->ctx->batch;
  p.form = NDE_NL_FIXED_POINT;
  p.residual = nl_residual;
  p.user = e;
  nde_nonlinear_result res;
  memset(&res, 0, sizeof res);
  nde_status st = nde_nonlinear_solve(s->nl, &p, z, &res);
  *iters = (double)res.iterations;
  nde_nonlinear_result_clear(&res);
  *unconverged = st != NDE_OK;
  if (st == NDE_EMAXITERS || st == NDE_ENOCONV)
    st = NDE_OK; /* the best iterate is in z; training goes on, as in the thesis's code */
  return st;
}

static nde_status solve_continuous(const deq_state *s, deq_eval *e, void *z, double *iters,
                                   int *unconverged) {
  size_t shape[2] = {s->features, e->ctx->batch};
  nde_array u0 = {e->ctx->dtype, 2, {shape[0], shape[1]}, e->n, z, e->ctx->backend, 0};
  nde_ode_rhs rhs = {ode_rhs, NULL, e};
  nde_ode_options opt = s->ode->solve;
  opt.steady_state = 0;
  opt.save_everystep = 0;
  opt.record_steps = 0;
  opt.on_step = ode_hook;
  opt.user = e;
  e->tol = s->steady_reltol;
  e->steady = 0;
  e->z_steady = z;
  nde_ode_solution sol;
  memset(&sol, 0, sizeof sol);
  nde_status st = nde_ode_solve(s->ode, &rhs, &opt, 0.0, s->t1, &u0, NULL, 0, &sol);
  *iters = (double)(sol.stats.accepted + sol.stats.rejected);
  *unconverged = !e->steady;
  if (e->steady)
    st = NDE_OK;
  else if (st == NDE_OK) /* reached t1 without the criterion: take the final state */
    e->ctx->backend->ops->copy(e->ctx->backend->ctx, z, sol.u_final.data,
                               e->n * nde_dtype_size(e->ctx->dtype));
  /* e->nfe counted every evaluation already (the integrator calls ode_rhs) */
  nde_ode_solution_clear(&sol);
  return st;
}

/* Elements of the whole batch's state (over all ranks): the auxiliary losses are means over it. */
static size_t global_n(const deq_state *s, const nde_layer_ctx *ctx) {
  return nde_backend_global_count(ctx->backend, s->features * ctx->batch);
}

static nde_status deq_forward(const nde_layer *node, const nde_layer_ctx *ctx, nde_record *rec) {
  const deq_state *s = node->state;
  nde_backend *be = ctx->backend;
  nde_dtype dt = ctx->dtype;
  size_t n = s->features * ctx->batch;
  deq_data *d;
  NDE_TRY(nde_arena_alloc_host(ctx->arena, sizeof *d, (void **)&d));
  rec->data = d;
  NDE_TRY(nde_arena_alloc_host(ctx->arena, node->n_children * sizeof *rec->children,
                               (void **)&rec->children));
  rec->n_children = node->n_children;
  const nde_layer *g = node->children[s->i_dyn];
  const void *pg = nde_child_params(node, g, dt, rec->params);

  /* injection h(x) */
  if (s->i_inj >= 0) {
    const nde_layer *c = node->children[s->i_inj];
    NDE_TRY(nde_layer_forward(c, ctx, rec->x, rec->t, nde_child_params(node, c, dt, rec->params),
                              &d->rec_inj));
    rec->children[s->i_inj] = d->rec_inj;
    d->h = d->rec_inj->y;
  } else
    d->h = (void *)rec->x;

  deq_eval e = {node, ctx, pg, d->h, n, 0, 0, 0, NULL};
  /* initial guess */
  NDE_TRY(nde_ctx_alloc(ctx, n, &d->z0));
  if (s->init == DEQ_INIT_SKIP) {
    const nde_layer *c = node->children[s->i_skip];
    NDE_TRY(nde_layer_forward(c, ctx, rec->x, rec->t, nde_child_params(node, c, dt, rec->params),
                              &d->rec_skip));
    rec->children[s->i_skip] = d->rec_skip;
    be->ops->copy(be->ctx, d->z0, d->rec_skip->y, n * nde_dtype_size(dt));
  } else if (s->init == DEQ_INIT_F0) {
    void *zero;
    NDE_TRY(nde_ctx_alloc(ctx, n, &zero));
    be->ops->fill(be->ctx, dt, n, 0.0, zero);
    NDE_TRY(nde_layer_forward(g, ctx, zero, rec->t, pg, &d->rec_g0));
    const void *terms[2] = {d->rec_g0->y, d->h};
    const double coefs[2] = {1.0, 1.0};
    be->ops->lincomb(be->ctx, dt, n, 2, coefs, terms, 0.0, d->z0);
    e.nfe++;
  } else
    be->ops->fill(be->ctx, dt, n, 0.0, d->z0);

  /* the equilibrium */
  NDE_TRY(nde_ctx_alloc(ctx, n, &d->zs));
  be->ops->copy(be->ctx, d->zs, d->z0, n * nde_dtype_size(dt));
  double iters = 0;
  int unconverged = 0;
  nde_status st = s->continuous ? solve_continuous(s, &e, d->zs, &iters, &unconverged)
                                : solve_discrete(s, &e, d->zs, &iters, &unconverged);
  if (st != NDE_OK)
    return nde_error_prefix(st, "%s (%s): forward solve", node->path, node->name);
  if (!be->ops->all_finite(be->ctx, dt, n, d->zs))
    return nde_error(NDE_ENONFINITE, "%s (%s): the equilibrium has non-finite entries",
                     node->path, node->name);

  /* the output y = f(z_s, x), kept for the backward pass */
  NDE_TRY(nde_layer_forward(g, ctx, d->zs, rec->t, pg, &d->rec_out));
  rec->children[s->i_dyn] = d->rec_out;
  e.nfe++;
  NDE_TRY(nde_ctx_alloc(ctx, n, &rec->y));
  {
    const void *terms[2] = {d->rec_out->y, d->h};
    const double coefs[2] = {1.0, 1.0};
    be->ops->lincomb(be->ctx, dt, n, 2, coefs, terms, 0.0, rec->y);
  }
  nde_layer_report(ctx, "nfe_forward", (double)e.nfe);
  nde_layer_report(ctx, "iterations_forward", iters);
  nde_layer_report(ctx, "unconverged_forward", unconverged);

  /* auxiliary losses */
  if (s->skip_coef > 0 && ctx->metrics) {
    NDE_TRY(NDE_BACKEND_NEED(be, max_abs));
    NDE_TRY(NDE_BACKEND_NEED(be, div_axpy));
    NDE_TRY(nde_ctx_alloc(ctx, n, &d->diff));
    NDE_TRY(nde_ctx_alloc(ctx, n, &d->absdiff));
    const void *terms[2] = {d->z0, rec->y};
    const double coefs[2] = {1.0, -1.0};
    be->ops->lincomb(be->ctx, dt, n, 2, coefs, terms, 0.0, d->diff);
    be->ops->fill(be->ctx, dt, n, 0.0, d->absdiff);
    be->ops->max_abs(be->ctx, dt, n, d->diff, 0.0, d->absdiff);
    double l1 = be->ops->sum(be->ctx, dt, n, d->absdiff);
    nde_layer_add_loss(ctx, "skip_loss", s->skip_coef, l1 / (double)global_n(s, ctx));
  }
  if (s->jac_coef > 0 && ctx->training && ctx->metrics) {
    NDE_TRY(nde_ctx_alloc(ctx, n, &d->eps));
    NDE_TRY(nde_ctx_alloc(ctx, n, &d->v));
    /* stream: a hash of the layer's path, so two DEQs in one model draw different probes */
    uint64_t stream = 1469598103934665603ull;
    for (const char *c = node->path; *c; ++c)
      stream = (stream ^ (unsigned char)*c) * 1099511628211ull;
    /* keyed by the global element: a sample's probe does not depend on the rank holding it */
    size_t first, total;
    NDE_TRY(nde_backend_global_offset(be, n, &first, &total));
    be->ops->random_normal(be->ctx, dt, n, ctx->seed, stream, ctx->step * (uint64_t)total + first,
                           0.0, 1.0, d->eps);
    NDE_TRY(nde_layer_vjp(g, ctx, d->rec_out, d->eps, d->v, NULL, NULL));
    double vv = be->ops->dot(be->ctx, dt, n, d->v, d->v);
    nde_layer_add_loss(ctx, "jac_loss", s->jac_coef, vv / (double)global_n(s, ctx));
  }
  return NDE_OK;
}

/* ------------------------------------------------------------------------ */
/* Backward                                                                  */

typedef struct deq_vjp_ctx {
  const nde_layer *node;
  const nde_layer_ctx *ctx;
  const nde_record *rec_out;
} deq_vjp_ctx;

/* The pullback of f(z, x) = g(z) + h at z_s; "x" of the fixed-point problem is h. */
static nde_status fp_vjp(void *user, const nde_array *z, const nde_array *w, nde_array *w_z,
                         void *w_p, nde_array *w_x) {
  (void)z;
  deq_vjp_ctx *c = user;
  const deq_state *s = c->node->state;
  const nde_layer *g = c->node->children[s->i_dyn];
  NDE_TRY(nde_layer_vjp(g, c->ctx, c->rec_out, w->data, w_z->data, w_p, NULL));
  if (w_x)
    c->ctx->backend->ops->axpy(c->ctx->backend->ctx, c->ctx->dtype, w->size, 1.0, w->data,
                               w_x->data);
  return NDE_OK;
}

/* dz += mixed second derivative of γ‖Jᵀε‖²/N (see the header comment); dparams_g += its θ part. */
static nde_status jac_backward(const nde_layer *node, const nde_layer_ctx *ctx,
                              const deq_data *d, const void *pg, void *dz, void *dparams_g) {
  const deq_state *s = node->state;
  nde_backend *be = ctx->backend;
  nde_dtype dt = ctx->dtype;
  size_t n = s->features * ctx->batch;
  const nde_layer *g = node->children[s->i_dyn];
  void *a, *zp, *dzp, *dzm, *dpp = NULL;
  NDE_TRY(nde_ctx_alloc(ctx, n, &a));
  NDE_TRY(nde_ctx_alloc(ctx, n, &zp));
  NDE_TRY(nde_ctx_alloc(ctx, n, &dzp));
  NDE_TRY(nde_ctx_alloc(ctx, n, &dzm));
  size_t np = g->param_count;
  if (dparams_g && np) {
    NDE_TRY(nde_ctx_alloc(ctx, np, &dpp));
    be->ops->fill(be->ctx, dt, np, 0.0, dpp);
  }
  be->ops->fill(be->ctx, dt, n, 0.0, a);
  be->ops->axpy(be->ctx, dt, n, 2.0 * s->jac_coef / (double)global_n(s, ctx), d->v, a);
  double amax = be->ops->norm_inf(be->ctx, dt, n, a);
  if (!(amax > 0))
    return NDE_OK;
  double zmax = be->ops->norm_inf(be->ctx, dt, n, d->zs);
  double h = cbrt(dt == NDE_FLOAT64 ? DBL_EPSILON : FLT_EPSILON) * fmax(1.0, zmax) / amax;
  for (int sign = -1; sign <= 1; sign += 2) {
    const void *terms[2] = {d->zs, a};
    const double coefs[2] = {1.0, sign * h};
    be->ops->lincomb(be->ctx, dt, n, 2, coefs, terms, 0.0, zp);
    nde_arena_mark mark = nde_arena_get_mark(ctx->arena);
    nde_record *r;
    nde_status st = nde_layer_forward(g, ctx, zp, 0.0, pg, &r);
    if (st == NDE_OK) {
      if (dpp && sign < 0)
        be->ops->scale(be->ctx, dt, np, -1.0, dpp);
      st = nde_layer_vjp(g, ctx, r, d->eps, sign > 0 ? dzp : dzm, dpp, NULL);
    }
    nde_arena_rewind(ctx->arena, mark);
    NDE_TRY(st);
    if (dpp && sign < 0)
      be->ops->scale(be->ctx, dt, np, -1.0, dpp); /* dpp = −VJP(z − h a) */
  }
  /* dz += (dzp − dzm)/2h */
  const void *terms[2] = {dzp, dzm};
  const double coefs[2] = {0.5 / h, -0.5 / h};
  be->ops->lincomb(be->ctx, dt, n, 2, coefs, terms, 1.0, dz);
  if (dpp)
    be->ops->axpy(be->ctx, dt, np, 0.5 / h, dpp, dparams_g);
  return NDE_OK;
}

/* y += c·sign(z₀ − y_out) = c·diff/|diff| (0 where diff = 0), on the backend. */
static void add_sign(nde_backend *be, nde_dtype dt, size_t n, double c, const deq_data *d,
                     void *y) {
  be->ops->div_axpy(be->ctx, dt, n, c, d->diff, 1.0, d->absdiff, 1e-30, 0, y);
}

static nde_status deq_vjp(const nde_layer *node, const nde_layer_ctx *ctx, const nde_record *rec,
                          const void *dy, void *dx, void *dparams, double *dtime) {
  (void)dtime;
  const deq_state *s = node->state;
  const deq_data *d = rec->data;
  nde_backend *be = ctx->backend;
  nde_dtype dt = ctx->dtype;
  size_t n = s->features * ctx->batch;
  const nde_layer *g = node->children[s->i_dyn];
  const void *pg = nde_child_params(node, g, dt, rec->params);
  void *dpg = nde_child_dparams(node, g, dt, dparams);

  /* cotangent of y (the skip term adds −λ·sign(z₀ − y)/N), and of h */
  void *dyt, *dh, *dz;
  NDE_TRY(nde_ctx_alloc(ctx, n, &dyt));
  NDE_TRY(nde_ctx_alloc(ctx, n, &dh));
  NDE_TRY(nde_ctx_alloc(ctx, n, &dz));
  be->ops->copy(be->ctx, dyt, dy, n * nde_dtype_size(dt));
  double skip_w = d->diff ? s->skip_coef / (double)global_n(s, ctx) : 0.0;
  if (skip_w > 0)
    add_sign(be, dt, n, -skip_w, d, dyt);
  be->ops->copy(be->ctx, dh, dyt, n * nde_dtype_size(dt));

  /* direct path through y = g(z_s) + h */
  NDE_TRY(nde_layer_vjp(g, ctx, d->rec_out, dyt, dz, dpg, NULL));
  /* the Jacobian regularizer's gradient */
  if (d->eps)
    NDE_TRY(jac_backward(node, ctx, d, pg, dz, dpg));

  /* through the equilibrium */
  size_t shape[2] = {s->features, ctx->batch};
  nde_array zs_arr = {dt, 2, {shape[0], shape[1]}, n, d->zs, be, 0};
  nde_array dz_arr = zs_arr, dh_arr = zs_arr;
  dz_arr.data = dz;
  dh_arr.data = dh;
  deq_vjp_ctx vc = {node, ctx, d->rec_out};
  nde_fp_problem fp = {fp_vjp, &vc, &zs_arr, g->param_count, ctx->batch};
  nde_sens_stats stats;
  memset(&stats, 0, sizeof stats);
  nde_status st = s->sens->fixed_point_backward(s->sens_state, &fp, &dz_arr, dpg, &dh_arr, &stats);
  nde_layer_report(ctx, "nvjp_backward", (double)stats.nvjp);
  nde_layer_report(ctx, "unconverged_backward", st == NDE_EMAXITERS);
  if (st != NDE_OK && st != NDE_EMAXITERS)
    return nde_error_prefix(st, "%s (%s): backward", node->path, node->name);

  /* the initial guess: only the skip term depends on it */
  void *dz0 = NULL;
  if (skip_w > 0 && s->init != DEQ_INIT_ZEROS) {
    NDE_TRY(nde_ctx_alloc(ctx, n, &dz0));
    be->ops->fill(be->ctx, dt, n, 0.0, dz0);
    add_sign(be, dt, n, skip_w, d, dz0);
    if (s->init == DEQ_INIT_F0) {
      /* z₀ = g(0) + h */
      NDE_TRY(nde_layer_vjp(g, ctx, d->rec_g0, dz0, NULL, dpg, NULL));
      be->ops->axpy(be->ctx, dt, n, 1.0, dz0, dh);
    }
  }

  /* injection: dh → x */
  size_t nx = nde_shape_size(&node->input) * ctx->batch;
  if (s->i_inj >= 0) {
    const nde_layer *c = node->children[s->i_inj];
    NDE_TRY(nde_layer_vjp(c, ctx, d->rec_inj, dh, dx, nde_child_dparams(node, c, dt, dparams),
                          NULL));
  } else if (dx)
    be->ops->copy(be->ctx, dx, dh, nx * nde_dtype_size(dt));
  if (s->init == DEQ_INIT_SKIP && dz0) {
    const nde_layer *c = node->children[s->i_skip];
    void *dxs = NULL;
    if (dx)
      NDE_TRY(nde_ctx_alloc(ctx, nx, &dxs));
    NDE_TRY(nde_layer_vjp(c, ctx, d->rec_skip, dz0, dxs, nde_child_dparams(node, c, dt, dparams),
                          NULL));
    if (dx)
      be->ops->axpy(be->ctx, dt, nx, 1.0, dxs, dx);
  }
  return NDE_OK;
}

/* The keys of every variant; they differ in defaults only (continuous_deq adds two). */
#define DEQ_KEYS(solver_default, solver_doc, skip_coef_default, initial_guess_default)          \
  {"dynamics", "layer", 1, NULL, "g of f(z, x) = g(z) + h(x): F features to F", NULL},         \
  {"injection", "layer", 0, NULL, "h: input features to F; absent: h(x) = x", NULL},           \
  {"skip", "layer", 0, NULL,                                                                   \
   "the network predicting the initial guess from x (needed by initial_guess \"skip\")", NULL}, \
  {"solver", "plugin", 0, solver_default, solver_doc, NULL},                                   \
  {"sensitivity", "plugin", 0, NDE_JSON_STR(DEQ_SENSITIVITY),                                  \
   "sensitivity plugin that differentiates a fixed point: steady_state or jfb", NULL},          \
  {"skip_coef", "number", 0, skip_coef_default,                                                \
   "weight of the skip term mean|z0 - y| added to the loss (>= 0)", NULL},                      \
  {"regularizer", "plugin", 0, NDE_JSON_STR("none"),                                           \
   "\"none\", \"jacobian_frobenius\" or {\"plugin\": \"jacobian_frobenius\", \"coef\": c}", NULL},  \
  {"initial_guess", "string", 0, NDE_JSON_STR(initial_guess_default),                          \
   "z0: zeros, the skip network, or f(0, x)", "[\"zeros\", \"skip\", \"f0\"]"}
#define DEQ_DISCRETE_SOLVER "{\"plugin\": " NDE_JSON_STR(DEQ_SOLVER) ", " DEQ_SOLVER_OPTIONS "}"
#define DEQ_DISCRETE_SOLVER_DOC "nonlinear_solver plugin: NAME or {\"plugin\": NAME, options...}"

static const nde_core_key deq_keys[] = {
    DEQ_KEYS(DEQ_DISCRETE_SOLVER, DEQ_DISCRETE_SOLVER_DOC, "0", "zeros")};
static const nde_core_key skip_deq_keys[] = {
    DEQ_KEYS(DEQ_DISCRETE_SOLVER, DEQ_DISCRETE_SOLVER_DOC, DEQ_STR(DEQ_SKIP_COEF), "skip")};
static const nde_core_key skip_reg_deq_keys[] = {
    DEQ_KEYS(DEQ_DISCRETE_SOLVER, DEQ_DISCRETE_SOLVER_DOC, DEQ_STR(DEQ_SKIP_COEF), "f0")};
static const nde_core_key continuous_deq_keys[] = {
    DEQ_KEYS("{\"plugin\": " NDE_JSON_STR(CDEQ_SOLVER) ", " CDEQ_SOLVER_OPTIONS "}",
             "ode_solver plugin integrating dz/dt = f(z, x) - z: NAME or {\"plugin\": NAME, "
             "options...}",
             "0", "zeros"),
    {"steady_reltol", "number", 0, DEQ_STR(DEQ_STEADY_RELTOL),
     "stop when |dz/dt| <= steady_reltol * |dz/dt + z| (Euclidean norms; > 0)", NULL},
    {"t1", "number", 0, DEQ_STR(DEQ_T1), "integrate at most to this time (> 0)", NULL},
};

/* No jvp yet (a pushforward would solve (I − J) dz = ∂f/∂θ·t with JVPs): NULL = unsupported. */
#define DEQ_TYPE(type_name, build_fn, line, table)                                             \
  {.name = type_name,                                                                          \
   .build = build_fn,                                                                          \
   .forward = deq_forward,                                                                     \
   .vjp = deq_vjp,                                                                             \
   .destroy = deq_destroy,                                                                     \
   .summary = line,                                                                            \
   NDE_CORE_KEYS(table)}
const nde_core_layer_type nde_core_layer_deq =
    DEQ_TYPE("deq", deq_build, "deep equilibrium layer: z* = f(z*, x) by a nonlinear solver",
             deq_keys);
const nde_core_layer_type nde_core_layer_skip_deq =
    DEQ_TYPE("skip_deq", skip_deq_build,
             "DEQ whose initial guess is predicted by a skip network", skip_deq_keys);
const nde_core_layer_type nde_core_layer_skip_reg_deq =
    DEQ_TYPE("skip_reg_deq", skip_reg_deq_build,
             "DEQ started from f(0, x), with the skip term as a regularizer", skip_reg_deq_keys);
const nde_core_layer_type nde_core_layer_continuous_deq =
    DEQ_TYPE("continuous_deq", continuous_deq_build,
             "DEQ as the steady state of dz/dt = f(z, x) - z by an ODE solver",
             continuous_deq_keys);
