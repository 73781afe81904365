/*
 * `nde solve` for SDE problems of the library (nde/sde_problem.h):
 * K trajectories solved as one (dim, K) system along one Brownian path
 * (seed), reporting the final states' mean and variance, the statistics,
 * and — for problems with an exact path-wise solution — the strong error.
 */
#include "config.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "solve.h"

int nde_cli_is_sde_problem(const char *name) {
  for (size_t i = 0; i < nde_sde_problem_count(); ++i)
    if (!strcmp(nde_sde_problem_name_at(i), name))
      return 1;
  return 0;
}

static const char *const top_keys[] = {"problem", "u0",     "tspan", "trajectories",
                                       "seed",    "solver", "dtype", "saveat", "brownian",
                                       "backend"};

typedef struct sde_run {
  nde_sde_problem *problem;
  nde_backend *backend;
  nde_sde_solver *solver;
  nde_brownian *path;
  double *u0, tspan[2], *saveat;
  size_t dim, K, nsave;
  uint64_t seed;
  int stored;
  nde_dtype dtype;
  const char *solver_name;
  nde_array state;
} sde_run;

static void run_free(sde_run *r) {
  nde_array_destroy(&r->state);
  nde_brownian_destroy(&r->path);
  nde_sde_solver_destroy(&r->solver);
  nde_sde_problem_destroy(&r->problem); /* holds arrays of the backend */
  nde_backend_destroy(&r->backend);
  free(r->u0);
  free(r->saveat);
}

static int read_count(json_t *root, const char *key, const char *file, double lo, double hi,
                      double *out) {
  json_t *v = json_object_get(root, key);
  if (!v)
    return NDE_EXIT_OK;
  if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
    return nde_cli_usage_error("%s: %s: expected an integer in [%.0f, %.0f]", file, key, lo, hi);
  *out = (double)json_integer_value(v);
  return NDE_EXIT_OK;
}

static int parse_file(nde_cli *cli, json_t *root, const char *file, sde_run *r) {
  int rc = nde_cli_check_keys(root, top_keys, sizeof top_keys / sizeof *top_keys, file, NULL);
  if (rc)
    return rc;
  const char *name;
  nde_options *params = NULL;
  nde_status st = nde_cli_problem_spec(root, &name, &params);
  if (st == NDE_OK)
    st = nde_sde_problem_create(name, params, &r->problem);
  nde_options_destroy(&params);
  if (st != NDE_OK)
    return nde_cli_fail(nde_error_prefix(st, "%s: problem", file));
  size_t d = nde_sde_problem_dim(r->problem);
  r->dim = d ? d : 1;
  r->u0 = calloc(r->dim, sizeof *r->u0);
  if (!r->u0)
    return nde_cli_fail(nde_error(NDE_ENOMEM, "out of memory"));
  nde_sde_problem_defaults(r->problem, r->u0, r->tspan);
  size_t n0 = d; /* 0: any length (gbm) */
  if ((rc = nde_cli_read_numbers_at(root, "u0", file, 0, &r->u0, &n0)))
    return rc;
  if (n0)
    r->dim = n0;
  if ((rc = nde_cli_read_tspan(root, file, 0, r->tspan)))
    return rc;
  if (json_object_get(root, "tspan") && !(r->tspan[1] > r->tspan[0]))
    return nde_cli_usage_error("%s: tspan: SDEs are solved forward, need t0 < t1", file);
  if ((rc = nde_cli_read_numbers_at(root, "saveat", file, 0, &r->saveat, &r->nsave)))
    return rc;
  json_t *v;
  double K = 1, seed = 0;
  if ((rc = read_count(root, "trajectories", file, 1, 1e7, &K)) ||
      (rc = read_count(root, "seed", file, 0, 9007199254740992.0, &seed)))
    return rc;
  r->K = (size_t)K;
  r->seed = (uint64_t)seed;
  /* "brownian": "tree" (order-independent, default) or "stored" (cheaper, see nde/brownian.h) */
  if ((v = json_object_get(root, "brownian"))) {
    const char *modes[] = {"tree", "stored"};
    int idx = -1;
    st = json_is_string(v) ? nde_lookup_name("brownian", modes, 2, json_string_value(v), &idx)
                           : nde_error(NDE_EINVAL, "brownian: expected \"tree\" or \"stored\"");
    if (st != NDE_OK)
      return nde_cli_fail(nde_error_prefix(st, "%s", file));
    r->stored = idx == 1;
  }
  if ((rc = nde_cli_read_dtype(root, file, &r->dtype)))
    return rc;
  if ((rc = nde_cli_open_solver(cli, root, file, "sosri", &r->solver_name, NULL, &r->solver)))
    return rc;
  if ((rc = nde_cli_open_backend(cli, root, file, &r->backend)))
    return rc;
  /* the state: K columns of u0 */
  size_t n = r->dim * r->K;
  double *u = malloc(n * sizeof *u);
  if (!u)
    return nde_cli_fail(nde_error(NDE_ENOMEM, "out of memory"));
  for (size_t k = 0; k < r->K; ++k)
    memcpy(u + k * r->dim, r->u0, r->dim * sizeof *u);
  size_t shape[2] = {r->dim, r->K};
  st = nde_array_create(r->backend, r->dtype, 2, shape, &r->state);
  if (st == NDE_OK)
    st = nde_array_from_doubles(&r->state, u, n);
  free(u);
  /* one Wiener process per component, per column, or m per column (general noise) */
  nde_sde_rhs rhs = nde_sde_problem_rhs(r->problem);
  if (st == NDE_OK)
    n = nde_sde_rhs_noise_dim(&rhs, &r->state);
  nde_brownian_config bc = {.seed = r->seed, .stream = 0, .t0 = r->tspan[0], .t1 = r->tspan[1],
                            .dim = n, .levy_area = r->solver->ops->needs_dz,
                            .stored = r->stored};
  if (st == NDE_OK)
    st = nde_brownian_create(&bc, &r->path);
  if (st != NDE_OK)
    return nde_cli_fail(nde_error_prefix(st, "%s", file));
  return NDE_EXIT_OK;
}

/* Mean over trajectories of the max-norm error at the final time on the same path. */
static json_t *strong_error(const sde_run *r, const double *ufinal) {
  if (!nde_sde_problem_has_exact(r->problem))
    return json_null();
  size_t n = nde_brownian_config_of(r->path)->dim, per = n / r->K; /* W's per trajectory */
  double *w = malloc(n * sizeof *w), *ex = malloc(r->dim * sizeof *ex);
  json_t *out = json_null();
  if (w && ex && nde_brownian_query(r->path, r->tspan[1], w, NULL) == NDE_OK) {
    double sum = 0;
    for (size_t k = 0; k < r->K; ++k) {
      nde_sde_problem_exact(r->problem, r->tspan[0], r->u0, r->tspan[1], w + k * per, r->dim,
                            ex);
      double m = 0;
      for (size_t i = 0; i < r->dim; ++i)
        m = fmax(m, fabs(ufinal[k * r->dim + i] - ex[i]));
      sum += m;
    }
    json_decref(out);
    out = json_real(sum / (double)r->K);
  }
  free(w);
  free(ex);
  return out;
}

static json_t *numbers(const double *x, size_t n) {
  json_t *a = json_array();
  for (size_t i = 0; i < n; ++i)
    json_array_append_new(a, isfinite(x[i]) ? json_real(x[i]) : json_null());
  return a;
}

static json_t *stats_json(const nde_sde_solution *sol, int with_steps) {
  const nde_sde_stats *s = &sol->stats;
  json_t *o = json_object();
  json_object_set_new(o, "nf", json_integer(s->nf));
  json_object_set_new(o, "ng", json_integer(s->ng));
  json_object_set_new(o, "accepted", json_integer(s->accepted));
  json_object_set_new(o, "rejected", json_integer(s->rejected));
  json_object_set_new(o, "t_final", isfinite(sol->t_final) ? json_real(sol->t_final) : json_null());
  if (with_steps)
    json_object_set_new(o, "steps", nde_cli_steps_json(s->steps, s->nsteps));
  return o;
}

/* Per-component mean and variance (n − 1 denominator) over the K columns of x. */
static void moments(const double *x, size_t d, size_t K, double *mean, double *var) {
  for (size_t i = 0; i < d; ++i) {
    double m = 0, v = 0;
    for (size_t k = 0; k < K; ++k)
      m += x[k * d + i];
    m /= (double)K;
    for (size_t k = 0; k < K; ++k)
      v += (x[k * d + i] - m) * (x[k * d + i] - m);
    mean[i] = m;
    var[i] = K > 1 ? v / (double)(K - 1) : 0.0;
  }
}

int nde_cli_solve_sde(nde_cli *cli, json_t *root, const char *file, int as_json) {
  sde_run r = {0};
  int rc = parse_file(cli, root, file, &r);
  if (rc) {
    run_free(&r);
    return rc;
  }
  nde_sde_rhs rhs = nde_sde_problem_rhs(r.problem);
  nde_sde_solution sol;
  /* the step records show the stiffness estimate: only then is it computed */
  r.solver->solve.stiffness_estimate = (as_json & NDE_SOLVE_STEP_RECORDS) != 0;
  nde_status st = nde_sde_solve(r.solver, &rhs, NULL, r.tspan[0], r.tspan[1], &r.state, r.path,
                                r.saveat, r.nsave, &sol);
  if (st != NDE_OK)
    st = nde_error_prefix(st, "%s", file);
  char message[2048];
  snprintf(message, sizeof message, "%s", nde_last_error());
  if (nde_status_is_input_error(st)) {
    nde_sde_solution_clear(&sol);
    run_free(&r);
    return nde_cli_fail(st);
  }
  size_t n = r.dim * r.K;
  double *uf = calloc(n, sizeof *uf), *mean = calloc(r.dim, sizeof *mean),
         *var = calloc(r.dim, sizeof *var);
  json_t *err = json_null();
  if (uf && mean && var && st == NDE_OK) {
    nde_array_to_doubles(&sol.u_final, uf, n);
    moments(uf, r.dim, r.K, mean, var);
    json_decref(err);
    err = strong_error(&r, uf);
  }
  if (as_json) {
    json_t *o = json_object();
    json_object_set_new(o, "problem", json_string(nde_sde_problem_name(r.problem)));
    json_object_set_new(o, "solver", json_string(r.solver_name));
    json_object_set_new(o, "trajectories", json_integer((json_int_t)r.K));
    json_object_set_new(o, "seed", json_integer((json_int_t)r.seed));
    json_object_set_new(o, "mean", st == NDE_OK ? numbers(mean, r.dim) : json_null());
    json_object_set_new(o, "variance", st == NDE_OK ? numbers(var, r.dim) : json_null());
    if (r.nsave && st == NDE_OK) {
      /* mean and variance at every saveat point */
      size_t ns = sol.nsave;
      double *all = malloc(ns * n * sizeof *all), *m = malloc(r.dim * sizeof *m),
             *v = malloc(r.dim * sizeof *v);
      json_t *ms = json_array(), *vs = json_array();
      if (all && m && v && nde_array_to_doubles(&sol.u, all, ns * n) == NDE_OK)
        for (size_t j = 0; j < ns; ++j) {
          moments(all + j * n, r.dim, r.K, m, v);
          json_array_append_new(ms, numbers(m, r.dim));
          json_array_append_new(vs, numbers(v, r.dim));
        }
      json_object_set_new(o, "t", numbers(sol.t, ns));
      json_object_set_new(o, "mean_at", ms);
      json_object_set_new(o, "variance_at", vs);
      free(all), free(m), free(v);
    }
    json_object_set_new(o, "stats", stats_json(&sol, as_json & NDE_SOLVE_STEP_RECORDS));
    nde_cli_print_result(o, err, st, message);
  } else {
    printf("# %s, %zu trajectories, %s, seed %llu\n", nde_sde_problem_name(r.problem), r.K, r.solver_name,
           (unsigned long long)r.seed);
    if (st == NDE_OK) {
      printf("# t = %.17g\n# component  mean  variance\n", sol.t_final);
      for (size_t i = 0; i < r.dim; ++i)
        printf("%zu %.10g %.10g\n", i, mean[i], var[i]);
    }
    printf("# nf %ld ng %ld accepted %ld rejected %ld\n", sol.stats.nf, sol.stats.ng,
           sol.stats.accepted, sol.stats.rejected);
    if (json_is_number(err))
      printf("# error %.6g (mean over trajectories of the max-norm error at t1 on the same "
             "Brownian path)\n", json_number_value(err));
    if (st != NDE_OK)
      printf("# stopped: %s\n", message);
  }
  json_decref(err);
  free(uf), free(mean), free(var);
  nde_sde_solution_clear(&sol);
  run_free(&r);
  return nde_cli_solve_exit(st, message);
}
