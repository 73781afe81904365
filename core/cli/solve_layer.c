/*
 * `nde solve` with a neural network as the right-hand side: the problem
 * {"name": "layer", "dynamics": LAYER SPEC, "parameters": FILE.safetensors,
 *  "prefix": NAME PREFIX, "seed": S} solves du/dt = dynamics(t, u) from u0
 * over tspan with any ode_solver. The network is evaluated through the core
 * `neural_ode` layer (the same code that trains it); its parameters come
 * from a safetensors file — e.g. a training checkpoint, whose dynamics
 * blocks are named "<prefix>.<block>" with prefix such as
 * "model.chain[0].dynamics" — or, without a file, from the seeded
 * initializers.
 *
 * The neural_ode model checks the spec and lays out the parameters; the
 * solve itself runs nde_ode_solve() on the dynamics alone (built as a
 * second model over the same parameter array: a neural_ode's parameters
 * are its dynamics'), so a failed solve (a blow-up stopping at dtmin) still
 * reports the points saved so far, t_final and the statistics.
 */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <nde/layer.h>
#include <nde/model.h>
#include <nde/ode.h>
#include <nde/safetensors.h>

#include "solve.h"

int nde_cli_is_layer_problem(const char *name) { return name && !strcmp(name, "layer"); }

static const char *const layer_keys[] = {"problem", "u0",    "tspan",  "saveat",
                                         "solver",  "dtype", "backend"};
static const char *const problem_keys[] = {"name", "dynamics", "parameters", "prefix", "seed"};

/* Everything one run owns. */
typedef struct layer_run {
  nde_backend *backend;
  nde_model *model;     /* one neural_ode: validation and the parameter layout */
  nde_model *dynamics;  /* the dynamics alone: the right-hand side */
  nde_ode_solver *solver;
  const char *solver_name;
  nde_arena *arena;
  nde_safetensors *file;
  nde_array params, u0;
  double *saveat;
  size_t nsave, dim;
  double tspan[2];
} layer_run;

static void run_free(layer_run *r) {
  nde_array_destroy(&r->params);
  nde_array_destroy(&r->u0);
  nde_safetensors_destroy(&r->file);
  nde_arena_destroy(&r->arena);
  nde_ode_solver_destroy(&r->solver);
  nde_model_destroy(&r->dynamics);
  nde_model_destroy(&r->model);
  nde_backend_destroy(&r->backend);
  free(r->saveat);
}

/* Fill the parameters: from the file's "<prefix><suffix>" tensors, or seeded defaults. */
static nde_status load_parameters(layer_run *r, const char *path, const char *prefix,
                                  uint64_t seed) {
  nde_rng rng = nde_rng_make(seed, 0);
  NDE_TRY(nde_model_init_params(r->model, &rng, r->params.data));
  if (!path)
    return NDE_OK;
  NDE_TRY(nde_safetensors_read(path, &r->file));
  /* every block of the neural_ode's dynamics is "model.dynamics<suffix>" */
  const char *own = "model.dynamics";
  size_t own_len = strlen(own);
  for (size_t i = 0; i < nde_model_block_count(r->model); ++i) {
    const nde_layout_entry *e = nde_model_block(r->model, i);
    if (strncmp(e->name, own, own_len))
      continue;
    char name[1024];
    snprintf(name, sizeof name, "%s%s", prefix, e->name + own_len);
    const nde_st_tensor *t;
    nde_status st = nde_safetensors_find(r->file, name, &t);
    if (st == NDE_OK && t->dtype != NDE_ST_F64 && t->dtype != NDE_ST_F32)
      st = nde_error(NDE_EINVAL, "%s: tensor '%s' is %s, not F32 or F64", path, name,
                     nde_st_dtype_name(t->dtype));
    size_t count = t && st == NDE_OK ? t->nbytes / nde_st_dtype_size(t->dtype) : 0;
    if (st == NDE_OK && count != e->size)
      st = nde_error(NDE_EINVAL, "%s: tensor '%s' has %zu elements, the layer's block %zu", path,
                     name, count, e->size);
    if (st != NDE_OK)
      return nde_error_prefix(st, "problem.parameters");
    double *host = malloc(e->size * sizeof *host + 1);
    if (!host)
      return nde_error(NDE_ENOMEM, "out of memory");
    for (size_t k = 0; k < e->size; ++k) {
      if (t->dtype == NDE_ST_F64) {
        memcpy(&host[k], (const char *)t->data + 8 * k, 8);
      } else {
        float f;
        memcpy(&f, (const char *)t->data + 4 * k, 4);
        host[k] = f;
      }
    }
    nde_array block;
    size_t shape[1] = {e->size};
    st = nde_array_view(&r->params, e->offset, 1, shape, &block);
    if (st == NDE_OK)
      st = nde_array_from_doubles(&block, host, e->size);
    free(host);
    NDE_TRY(st);
  }
  return NDE_OK;
}

static int parse_and_build(nde_cli *cli, json_t *root, const char *file, layer_run *r) {
  int rc = nde_cli_check_keys(root, layer_keys, sizeof layer_keys / sizeof *layer_keys, file, "");
  json_t *p = json_object_get(root, "problem");
  if (!rc && !json_is_object(p))
    return nde_cli_usage_error("%s: problem: the layer problem needs an object with "
                               "\"dynamics\"", file);
  if (!rc)
    rc = nde_cli_check_keys(p, problem_keys, sizeof problem_keys / sizeof *problem_keys, file,
                    "problem");
  if (rc)
    return rc;
  json_t *dynamics = json_object_get(p, "dynamics");
  if (!dynamics)
    return nde_cli_usage_error("%s: problem.dynamics: missing (a layer spec)", file);
  json_t *pf = json_object_get(p, "parameters"), *px = json_object_get(p, "prefix");
  json_t *ps = json_object_get(p, "seed");
  if (pf && !json_is_string(pf))
    return nde_cli_usage_error("%s: problem.parameters: expected a safetensors file name", file);
  if (px && !json_is_string(px))
    return nde_cli_usage_error("%s: problem.prefix: expected a string", file);
  if (ps && !json_is_integer(ps))
    return nde_cli_usage_error("%s: problem.seed: expected an integer", file);
  double *u0 = NULL, *ts = NULL;
  size_t nts = 0;
  json_t *v = json_object_get(root, "u0");
  if (!v)
    return nde_cli_usage_error("%s: u0: missing (the layer problem has no default state)", file);
  if ((rc = nde_cli_read_numbers(v, file, "u0", 0, &u0, &r->dim)))
    return free(u0), rc;
  v = json_object_get(root, "tspan");
  if (!v) {
    free(u0);
    return nde_cli_usage_error("%s: tspan: missing", file);
  }
  if ((rc = nde_cli_read_numbers(v, file, "tspan", 0, &ts, &nts)) || nts != 2) {
    free(u0);
    free(ts);
    return rc ? rc : nde_cli_usage_error("%s: tspan: expected [t0, t1]", file);
  }
  r->tspan[0] = ts[0];
  r->tspan[1] = ts[1];
  free(ts);
  v = json_object_get(root, "saveat");
  if (v && (rc = nde_cli_read_numbers(v, file, "saveat", 0, &r->saveat, &r->nsave))) {
    free(u0);
    return rc;
  }
  if ((rc = nde_cli_open_backend(cli, root, file, &r->backend))) {
    free(u0);
    return rc;
  }
  /* the model: one neural_ode layer with these dynamics, solver, span and save points */
  json_t *layer = json_object();
  json_object_set_new(layer, "layer", json_string("neural_ode"));
  json_object_set(layer, "dynamics", dynamics);
  json_object_set(layer, "tspan", json_object_get(root, "tspan"));
  if (json_object_get(root, "saveat"))
    json_object_set(layer, "saveat", json_object_get(root, "saveat"));
  if (json_object_get(root, "solver"))
    json_object_set(layer, "solver", json_object_get(root, "solver"));
  char *text = json_dumps(layer, JSON_COMPACT);
  json_decref(layer);
  nde_shape input = nde_shape_vector(r->dim);
  nde_status st = nde_model_build(cli->registry, text, "model", &input, r->backend,
                                  NDE_FLOAT64, &r->model);
  free(text);
  size_t np = st == NDE_OK ? nde_model_param_count(r->model) : 0, one = 1;
  size_t pshape[1] = {np ? np : 1}, ushape[2] = {r->dim, one};
  if (st == NDE_OK)
    st = nde_array_create(r->backend, NDE_FLOAT64, 1, pshape, &r->params);
  if (st == NDE_OK)
    st = nde_array_create(r->backend, NDE_FLOAT64, 2, ushape, &r->u0);
  if (st == NDE_OK)
    st = nde_array_from_doubles(&r->u0, u0, r->dim);
  free(u0);
  if (st == NDE_OK)
    st = load_parameters(r, pf ? json_string_value(pf) : NULL,
                         px ? json_string_value(px) : "model.dynamics",
                         ps ? (uint64_t)json_integer_value(ps) : 0);
  if (st == NDE_OK)
    st = nde_arena_create(r->backend, &r->arena);
  /* the dynamics alone, over the same parameters */
  text = st == NDE_OK ? json_dumps(dynamics, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
  if (st == NDE_OK && !text)
    st = nde_error(NDE_ENOMEM, "out of memory");
  if (st == NDE_OK)
    st = nde_model_build(cli->registry, text, "model.dynamics", &input, r->backend, NDE_FLOAT64,
                         &r->dynamics);
  free(text);
  if (st == NDE_OK && nde_model_param_count(r->dynamics) != np)
    st = nde_error(NDE_EINTERNAL, "the dynamics have %zu parameters, the neural_ode %zu",
                   nde_model_param_count(r->dynamics), np);
  if (st != NDE_OK)
    return nde_cli_fail(nde_error_prefix(st, "%s", file));
  return nde_cli_open_solver(cli, root, file, "tsit5", &r->solver_name, &r->solver, NULL);
}

/* The right-hand side: the dynamics layer evaluated in the arena. */
typedef struct dyn_rhs {
  const nde_layer *root;
  nde_layer_ctx ctx;
  const void *params;
} dyn_rhs;

static nde_status dyn_eval(void *c, double t, const nde_array *u, nde_array *du) {
  dyn_rhs *d = c;
  nde_arena_mark mark = nde_arena_get_mark(d->ctx.arena);
  nde_record *rec;
  nde_status st = nde_layer_forward_into(d->root, &d->ctx, u->data, t, d->params,
                                         du->data != u->data ? du->data : NULL, &rec);
  if (st == NDE_OK && nde_record_output(rec) != du->data)
    st = d->ctx.backend->ops->copy(d->ctx.backend->ctx, du->data, nde_record_output(rec),
                                   nde_array_bytes(du));
  nde_arena_rewind(d->ctx.arena, mark);
  return st;
}

int nde_cli_solve_layer(nde_cli *cli, json_t *root, const char *file, int as_json) {
  layer_run r = {0};
  int rc = parse_and_build(cli, root, file, &r);
  if (rc) {
    run_free(&r);
    return rc;
  }
  dyn_rhs d = {nde_model_root(r.dynamics),
               {r.backend, NDE_FLOAT64, 1, r.arena, 0, 0, 0, NULL, 0, 1, 0.0, NULL},
               r.params.data};
  nde_ode_rhs f = {dyn_eval, NULL, &d};
  nde_ode_solution sol;
  nde_status st = nde_ode_solve(r.solver, &f, NULL, r.tspan[0], r.tspan[1], &r.u0,
                                r.nsave ? r.saveat : &r.tspan[1], r.nsave ? r.nsave : 1, &sol);
  if (st != NDE_OK)
    st = nde_error_prefix(st, "%s", file);
  if (nde_status_is_input_error(st)) { /* e.g. saveat outside tspan: nothing was solved */
    nde_ode_solution_clear(&sol);
    run_free(&r);
    return nde_cli_fail(st);
  }
  char message[2048];
  snprintf(message, sizeof message, "%s", nde_last_error());
  size_t npoints = sol.nsave;
  double *u = malloc((npoints * r.dim + 1) * sizeof *u);
  if (u && npoints)
    nde_array_to_doubles(&sol.u, u, npoints * r.dim);
  if (as_json) {
    json_t *o = json_object();
    json_t *stats = json_object();
    json_object_set_new(stats, "nfe", json_integer(sol.stats.nfe));
    json_object_set_new(stats, "accepted", json_integer(sol.stats.accepted));
    json_object_set_new(stats, "rejected", json_integer(sol.stats.rejected));
    json_object_set_new(stats, "t_final", json_real(sol.t_final));
    json_object_set_new(o, "problem", json_string("layer"));
    json_object_set_new(o, "solver", json_string(r.solver_name));
    json_object_set_new(o, "parameters", json_integer((json_int_t)nde_model_param_count(r.model)));
    nde_cli_set_points(o, sol.t, u, u ? npoints : 0, r.dim);
    json_object_set_new(o, "stats", stats);
    nde_cli_print_result(o, json_null(), st, message);
  } else {
    printf("# problem layer (%zu parameters), solver %s\n%-24s u\n",
           nde_model_param_count(r.model), r.solver_name, "t");
    for (size_t j = 0; u && j < npoints; ++j) {
      printf("%-24.17g", sol.t[j]);
      for (size_t i = 0; i < r.dim; ++i)
        printf(" %.17g", u[j * r.dim + i]);
      printf("\n");
    }
    printf("# nfe %ld  accepted %ld  rejected %ld\n", sol.stats.nfe, sol.stats.accepted,
           sol.stats.rejected);
    if (st != NDE_OK)
      printf("# stopped at t = %.17g: %s\n", sol.t_final, message);
  }
  free(u);
  nde_ode_solution_clear(&sol);
  run_free(&r);
  return nde_cli_solve_exit(st, message);
}
