/*
 * Deep equilibrium models: the fixed-point sensitivity plugins (steady_state
 * against finite differences and against reverse mode through many unrolled
 * fixed-point iterations; jfb against the gradient of one application of f),
 * the DEQ layers' whole gradient against finite differences (vanilla, skip
 * auxiliary loss, skip-reg, Jacobian regularizer), the forward solves
 * reaching the fixed point (discrete and continuous agree), and a tiny DEQ
 * that trains.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include <nde/layer.h>
#include <nde/loss.h>
#include <nde/model.h>
#include <nde/nde.h>
#include <nde/registry.h>
#include <nde/sensitivity.h>

static nde_backend *backend;

static void setup(void) {
  cr_assert_eq(nde_backend_open(NULL, "cpu", NULL, &backend), NDE_OK, "%s", nde_last_error());
}
static void teardown(void) { nde_backend_destroy(&backend); }

TestSuite(deq, .init = setup, .fini = teardown);

/* ------------------------------------------------------------------------ */
/* Sensitivity plugins on f(z, x; W) = tanh(W z + x), n = 5, in host math.    */

#define N 5

typedef struct cell {
  double W[N * N]; /* column-major */
  double x[N];
} cell;

static void cell_apply(const cell *c, const double *z, double *out, double *slope) {
  for (int i = 0; i < N; ++i) {
    double a = c->x[i];
    for (int j = 0; j < N; ++j)
      a += c->W[i + j * N] * z[j];
    out[i] = tanh(a);
    if (slope)
      slope[i] = 1 - out[i] * out[i];
  }
}

static void cell_solve(const cell *c, double *z) {
  memset(z, 0, N * sizeof *z);
  double t[N];
  for (int k = 0; k < 400; ++k) {
    cell_apply(c, z, t, NULL);
    memcpy(z, t, sizeof t);
  }
}

static nde_status cell_vjp(void *ctx, const nde_array *z, const nde_array *w, nde_array *w_z,
                           void *w_p, nde_array *w_x) {
  const cell *c = ctx;
  const double *zd = z->data, *wd = w->data;
  double y[N], s[N], u[N];
  cell_apply(c, zd, y, s);
  for (int i = 0; i < N; ++i)
    u[i] = wd[i] * s[i];
  double *wz = w_z->data;
  for (int j = 0; j < N; ++j) {
    wz[j] = 0;
    for (int i = 0; i < N; ++i)
      wz[j] += c->W[i + j * N] * u[i];
  }
  if (w_p)
    for (int j = 0; j < N; ++j)
      for (int i = 0; i < N; ++i)
        ((double *)w_p)[i + j * N] += u[i] * zd[j];
  if (w_x)
    for (int i = 0; i < N; ++i)
      ((double *)w_x->data)[i] += u[i];
  return NDE_OK;
}

static void cell_make(cell *c, uint64_t seed) {
  nde_rng rng = nde_rng_make(seed, 1);
  for (int i = 0; i < N * N; ++i)
    c->W[i] = 0.25 * nde_rng_normal(&rng); /* contractive: ‖W‖ about 0.5 */
  for (int i = 0; i < N; ++i)
    c->x[i] = nde_rng_normal(&rng);
}

/* Run a fixed-point sensitivity plugin on L = cᵀz*; dW and dx out. */
static void run_sensitivity(const char *name, const char *options, cell *c, const double *cvec,
                            double *dW, double *dx, long *nvjp) {
  const nde_plugin *plugin;
  cr_assert_eq(nde_registry_find(NULL, NDE_KIND_SENSITIVITY, name, &plugin), NDE_OK, "%s",
               nde_last_error());
  nde_options *given = NULL, *opts = NULL;
  cr_assert_eq(nde_options_parse(options, &given), NDE_OK);
  cr_assert_eq(nde_plugin_options(plugin, given, "sensitivity", &opts), NDE_OK, "%s",
               nde_last_error());
  const nde_sensitivity_ops *ops;
  cr_assert_eq(nde_plugin_load(plugin, (const void **)&ops), NDE_OK, "%s", nde_last_error());
  cr_assert(ops->capabilities & NDE_SENS_FIXED_POINT);
  void *state = NULL;
  cr_assert_eq(ops->create(opts, &state), NDE_OK, "%s", nde_last_error());
  double zs[N];
  cell_solve(c, zs);
  size_t shape[2] = {N, 1};
  nde_array z, dz, dxa;
  cr_assert_eq(nde_array_create(backend, NDE_FLOAT64, 2, shape, &z), NDE_OK);
  cr_assert_eq(nde_array_create(backend, NDE_FLOAT64, 2, shape, &dz), NDE_OK);
  cr_assert_eq(nde_array_create(backend, NDE_FLOAT64, 2, shape, &dxa), NDE_OK);
  memcpy(z.data, zs, sizeof zs);
  memcpy(dz.data, cvec, N * sizeof *cvec);
  memset(dxa.data, 0, N * sizeof(double));
  memset(dW, 0, N * N * sizeof *dW);
  nde_fp_problem p = {cell_vjp, c, &z, N * N, 1};
  nde_sens_stats stats;
  cr_assert_eq(ops->fixed_point_backward(state, &p, &dz, dW, &dxa, &stats), NDE_OK, "%s",
               nde_last_error());
  memcpy(dx, dxa.data, N * sizeof *dx);
  *nvjp = stats.nvjp;
  nde_array_destroy(&z);
  nde_array_destroy(&dz);
  nde_array_destroy(&dxa);
  ops->destroy(state);
  nde_options_destroy(&given);
  nde_options_destroy(&opts);
}

static double loss_at_equilibrium(const cell *c, const double *cvec) {
  double z[N], l = 0;
  cell_solve(c, z);
  for (int i = 0; i < N; ++i)
    l += cvec[i] * z[i];
  return l;
}

Test(deq, steady_state_matches_finite_differences_and_unrolled_iterations) {
  cell c;
  cell_make(&c, 11);
  double cvec[N] = {0.3, -1.2, 0.7, 2.0, -0.4};
  double dW[N * N], dx[N];
  long nvjp;
  run_sensitivity("steady_state", "{\"abstol\": 1e-14, \"reltol\": 1e-14, \"maxiters\": 50}", &c,
                  cvec, dW, dx, &nvjp);
  cr_assert(nvjp >= 2 && nvjp <= 51, "nvjp %ld", nvjp);
  /* finite differences of L(z*(W, x)) */
  const double h = 1e-6;
  for (int k = 0; k < N * N + N; ++k) {
    double *p = k < N * N ? &c.W[k] : &c.x[k - N * N];
    double save = *p;
    *p = save + h;
    double lp = loss_at_equilibrium(&c, cvec);
    *p = save - h;
    double lm = loss_at_equilibrium(&c, cvec);
    *p = save;
    double fd = (lp - lm) / (2 * h), got = k < N * N ? dW[k] : dx[k - N * N];
    cr_assert(fabs(fd - got) <= 1e-7 * (1 + fabs(fd)), "entry %d: FD %.12g, steady_state %.12g",
              k, fd, got);
  }
  /* reverse mode through K unrolled iterations z_{k+1} = f(z_k) from z_0 = 0 */
  enum { K = 200 };
  static double zk[K + 1][N], sk[K][N];
  memset(zk[0], 0, sizeof zk[0]);
  for (int k = 0; k < K; ++k)
    cell_apply(&c, zk[k], zk[k + 1], sk[k]);
  double lam[N], gW[N * N] = {0}, gx[N] = {0};
  memcpy(lam, cvec, sizeof lam);
  for (int k = K - 1; k >= 0; --k) {
    double u[N];
    for (int i = 0; i < N; ++i)
      u[i] = lam[i] * sk[k][i];
    for (int j = 0; j < N; ++j) {
      lam[j] = 0;
      for (int i = 0; i < N; ++i) {
        gW[i + j * N] += u[i] * zk[k][j];
        lam[j] += c.W[i + j * N] * u[i];
      }
    }
    for (int i = 0; i < N; ++i)
      gx[i] += u[i];
  }
  for (int k = 0; k < N * N; ++k)
    cr_assert(fabs(gW[k] - dW[k]) <= 1e-9 * (1 + fabs(gW[k])), "W[%d]: unrolled %.12g, ift %.12g",
              k, gW[k], dW[k]);
  for (int i = 0; i < N; ++i)
    cr_assert(fabs(gx[i] - dx[i]) <= 1e-9 * (1 + fabs(gx[i])), "x[%d]", i);
}

Test(deq, steady_state_dense_lu_agrees_with_gmres) {
  cell c;
  cell_make(&c, 5);
  double cvec[N] = {1, 2, 3, 4, 5};
  double a[N * N], ax[N], b[N * N], bx[N];
  long n1, n2;
  run_sensitivity("steady_state", "{\"abstol\": 1e-14, \"reltol\": 1e-14, \"maxiters\": 50}", &c,
                  cvec, a, ax, &n1);
  run_sensitivity("steady_state", "{\"linear_solver\": \"dense_lu\"}", &c, cvec, b, bx, &n2);
  for (int k = 0; k < N * N; ++k)
    cr_assert(fabs(a[k] - b[k]) <= 1e-10 * (1 + fabs(a[k])), "W[%d]: %g vs %g", k, a[k], b[k]);
}

Test(deq, jfb_is_the_gradient_of_one_application) {
  cell c;
  cell_make(&c, 23);
  double cvec[N] = {0.5, 0.1, -0.9, 1.5, -2.0};
  double dW[N * N], dx[N];
  long nvjp;
  run_sensitivity("jfb", "{}", &c, cvec, dW, dx, &nvjp);
  cr_assert_eq(nvjp, 1);
  double zs[N];
  cell_solve(&c, zs); /* held fixed: JFB differentiates f(z*, x; W) only */
  const double h = 1e-6;
  for (int k = 0; k < N * N + N; ++k) {
    double *p = k < N * N ? &c.W[k] : &c.x[k - N * N];
    double save = *p, y[N], lp = 0, lm = 0;
    *p = save + h;
    cell_apply(&c, zs, y, NULL);
    for (int i = 0; i < N; ++i)
      lp += cvec[i] * y[i];
    *p = save - h;
    cell_apply(&c, zs, y, NULL);
    for (int i = 0; i < N; ++i)
      lm += cvec[i] * y[i];
    *p = save;
    double fd = (lp - lm) / (2 * h), got = k < N * N ? dW[k] : dx[k - N * N];
    cr_assert(fabs(fd - got) <= 1e-8 * (1 + fabs(fd)), "entry %d: FD %.12g, jfb %.12g", k, fd,
              got);
  }
}

Test(deq, steady_state_rejects_unknown_linear_solver) {
  const nde_plugin *plugin;
  cr_assert_eq(nde_registry_find(NULL, NDE_KIND_SENSITIVITY, "steady_state", &plugin), NDE_OK);
  nde_options *given = NULL, *opts = NULL;
  cr_assert_eq(nde_options_parse("{\"linear_solver\": \"gmress\"}", &given), NDE_OK);
  cr_assert_eq(nde_plugin_options(plugin, given, "s", &opts), NDE_OK);
  const nde_sensitivity_ops *ops;
  cr_assert_eq(nde_plugin_load(plugin, (const void **)&ops), NDE_OK);
  void *state = NULL;
  nde_status st = ops->create(opts, &state);
  cr_assert_eq(st, NDE_ENOTFOUND);
  cr_assert(strstr(nde_last_error(), "gmres"), "%s", nde_last_error());
  nde_options_destroy(&given);
  nde_options_destroy(&opts);
}

/* ------------------------------------------------------------------------ */
/* Layers                                                                    */

typedef struct fixture {
  nde_model *model;
  const nde_layer *root;
  size_t np, nin, nout, batch;
  double *params, *x, *dy;
  nde_arena *arena;
  nde_layer_ctx ctx;
  nde_layer_metrics metrics;
} fixture;

static void fixture_make(fixture *f, const char *json, size_t nin, size_t batch, uint64_t seed) {
  memset(f, 0, sizeof *f);
  nde_shape in = nde_shape_vector(nin);
  nde_status st = nde_model_build(NULL, json, "model", &in, backend, NDE_FLOAT64, &f->model);
  cr_assert_eq(st, NDE_OK, "%s: %s", json, nde_last_error());
  f->root = nde_model_root(f->model);
  f->np = nde_model_param_count(f->model);
  f->nin = nin;
  f->nout = nde_shape_size(nde_layer_output_shape(f->root));
  f->batch = batch;
  f->params = calloc(f->np + 1, sizeof(double));
  f->x = malloc(f->nin * batch * sizeof(double));
  f->dy = malloc(f->nout * batch * sizeof(double));
  nde_rng rng = nde_rng_make(seed, 7);
  cr_assert_eq(nde_model_init_params(f->model, &rng, f->params), NDE_OK);
  for (size_t i = 0; i < f->np; ++i)
    f->params[i] += 0.2 * nde_rng_normal(&rng);
  /* keep g contractive so the equilibrium exists and is unique */
  const nde_layout_entry *w = nde_model_find_block(f->model, "model.dynamics.weight");
  for (size_t i = 0; w && i < w->size; ++i)
    f->params[w->offset + i] *= 0.4;
  for (size_t i = 0; i < f->nin * batch; ++i)
    f->x[i] = nde_rng_normal(&rng);
  for (size_t i = 0; i < f->nout * batch; ++i)
    f->dy[i] = nde_rng_normal(&rng);
  cr_assert_eq(nde_arena_create(backend, &f->arena), NDE_OK);
  f->ctx = (nde_layer_ctx){.backend = backend, .dtype = NDE_FLOAT64, .batch = batch,
                           .arena = f->arena, .step = 3, .training = 1, .seed = seed,
                           .metrics = &f->metrics};
}

static void fixture_free(fixture *f) {
  nde_arena_destroy(&f->arena);
  nde_model_destroy(&f->model);
  free(f->params);
  free(f->x);
  free(f->dy);
}

/* <dy, y> + auxiliary losses */
static double total_loss(fixture *f, const double *p, const double **y_out) {
  nde_arena_reset(f->arena);
  nde_layer_metrics_clear(&f->metrics);
  nde_record *rec;
  nde_status st = nde_layer_forward(f->root, &f->ctx, f->x, 0.0, p, &rec);
  cr_assert_eq(st, NDE_OK, "%s", nde_last_error());
  const double *y = nde_record_output(rec);
  double s = f->metrics.aux_loss;
  for (size_t i = 0; i < f->nout * f->batch; ++i)
    s += f->dy[i] * y[i];
  if (y_out)
    *y_out = y;
  return s;
}

static double metric(const fixture *f, const char *name) {
  for (int i = 0; i < f->metrics.n; ++i)
    if (!strcmp(f->metrics.names[i], name))
      return f->metrics.values[i];
  return NAN;
}

#define TIGHT_SOLVER                                                                            \
  "\"solver\": {\"plugin\": \"lbroyden\", \"abstol\": 1e-13, \"reltol\": 0, \"maxiters\": 300, " \
  "\"termination\": \"abs\"}, "                                                                  \
  "\"sensitivity\": {\"plugin\": \"steady_state\", \"abstol\": 1e-14, \"reltol\": 1e-14, "      \
  "\"maxiters\": 100}"

static void check_layer_gradient(const char *json, const char *aux_name) {
  fixture f;
  fixture_make(&f, json, 3, 4, 42);
  double l0 = total_loss(&f, f.params, NULL);
  cr_assert(isfinite(l0));
  cr_assert_eq(metric(&f, "unconverged_forward"), 0.0, "forward did not converge");
  if (aux_name)
    cr_assert(metric(&f, aux_name) > 0, "%s not reported", aux_name);
  /* analytic gradient (vjp of the model with dy; aux terms add their own gradients) */
  nde_arena_reset(f.arena);
  nde_layer_metrics_clear(&f.metrics);
  nde_record *rec;
  cr_assert_eq(nde_layer_forward(f.root, &f.ctx, f.x, 0.0, f.params, &rec), NDE_OK, "%s",
               nde_last_error());
  double *g = calloc(f.np, sizeof *g), *dx = calloc(f.nin * f.batch, sizeof *dx);
  cr_assert_eq(nde_layer_vjp(f.root, &f.ctx, rec, f.dy, dx, g, NULL), NDE_OK, "%s",
               nde_last_error());
  cr_assert_eq(metric(&f, "unconverged_backward"), 0.0, "backward did not converge");
  const double h = 1e-6;
  double *p = malloc(f.np * sizeof *p);
  memcpy(p, f.params, f.np * sizeof *p);
  for (size_t k = 0; k < f.np; ++k) {
    double save = p[k];
    p[k] = save + h;
    double lp = total_loss(&f, p, NULL);
    p[k] = save - h;
    double lm = total_loss(&f, p, NULL);
    p[k] = save;
    double fd = (lp - lm) / (2 * h);
    cr_assert(fabs(fd - g[k]) <= 2e-6 * (1 + fabs(fd)), "%s: param %zu: FD %.10g, vjp %.10g",
              json, k, fd, g[k]);
  }
  for (size_t k = 0; k < f.nin * f.batch; ++k) {
    double save = f.x[k];
    f.x[k] = save + h;
    double lp = total_loss(&f, f.params, NULL);
    f.x[k] = save - h;
    double lm = total_loss(&f, f.params, NULL);
    f.x[k] = save;
    double fd = (lp - lm) / (2 * h);
    cr_assert(fabs(fd - dx[k]) <= 2e-6 * (1 + fabs(fd)), "%s: x %zu: FD %.10g, vjp %.10g", json,
              k, fd, dx[k]);
  }
  free(p);
  free(g);
  free(dx);
  fixture_free(&f);
}

#define INJ "\"injection\": {\"layer\": \"dense\", \"out\": 4, \"activation\": \"tanh\"}, "
#define DYN "\"dynamics\": {\"layer\": \"dense\", \"out\": 4, \"activation\": \"tanh\"}, "

Test(deq, deq_gradient_matches_finite_differences) {
  check_layer_gradient("{\"layer\": \"deq\", " INJ DYN TIGHT_SOLVER "}", NULL);
}

Test(deq, skip_deq_auxiliary_loss_gradient) {
  check_layer_gradient("{\"layer\": \"skip_deq\", " INJ DYN
                       "\"skip\": {\"layer\": \"dense\", \"out\": 4, \"activation\": \"tanh\"}, "
                       "\"skip_coef\": 0.7, " TIGHT_SOLVER "}",
                       "skip_loss");
}

Test(deq, skip_reg_deq_auxiliary_loss_gradient) {
  check_layer_gradient("{\"layer\": \"skip_reg_deq\", " INJ DYN "\"skip_coef\": 0.9, "
                       TIGHT_SOLVER "}", "skip_loss");
}

Test(deq, jacobian_frobenius_gradient) {
  check_layer_gradient("{\"layer\": \"deq\", " INJ DYN
                       "\"regularizer\": {\"plugin\": \"jacobian_frobenius\", \"coef\": 1.5}, "
                       TIGHT_SOLVER "}", "jac_loss");
}

Test(deq, vanilla_skip_term_without_injection) {
  /* no injection: f(z, x) = g(z) + x; z₀ = 0 and λ·mean|y| as in the thesis's code */
  check_layer_gradient("{\"layer\": \"deq\", \"dynamics\": {\"layer\": \"dense\", \"out\": 3, "
                       "\"activation\": \"tanh\"}, \"skip_coef\": 0.5, " TIGHT_SOLVER "}",
                       "skip_loss");
}

Test(deq, discrete_and_continuous_reach_the_same_fixed_point) {
  fixture a, b;
  fixture_make(&a, "{\"layer\": \"deq\", " INJ DYN TIGHT_SOLVER "}", 3, 4, 9);
  fixture_make(&b, "{\"layer\": \"continuous_deq\", " INJ DYN
                   "\"solver\": {\"plugin\": \"tsit5\", \"abstol\": 1e-10, \"reltol\": 1e-10}, "
                   "\"steady_reltol\": 1e-10}", 3, 4, 9);
  cr_assert_eq(a.np, b.np);
  const double *ya, *yb;
  total_loss(&a, a.params, &ya);
  total_loss(&b, a.params, &yb);
  cr_assert_eq(metric(&b, "unconverged_forward"), 0.0, "continuous DEQ never reached steady state");
  cr_assert(metric(&b, "nfe_forward") > 6);
  for (size_t i = 0; i < a.nout * a.batch; ++i)
    cr_assert(fabs(ya[i] - yb[i]) <= 1e-8, "y[%zu]: %.12g vs %.12g", i, ya[i], yb[i]);
  fixture_free(&a);
  fixture_free(&b);
}

Test(deq, skip_reg_needs_fewer_iterations_near_the_fixed_point) {
  /* with g small, f(0, x) is already close to z*: fewer evaluations than from z = 0 */
  fixture a, b;
  fixture_make(&a, "{\"layer\": \"deq\", " INJ DYN TIGHT_SOLVER "}", 3, 4, 9);
  fixture_make(&b, "{\"layer\": \"skip_reg_deq\", " INJ DYN TIGHT_SOLVER "}", 3, 4, 9);
  total_loss(&a, a.params, NULL);
  total_loss(&b, a.params, NULL);
  cr_assert(metric(&b, "iterations_forward") <= metric(&a, "iterations_forward"),
            "skip-reg %g vs vanilla %g iterations", metric(&b, "iterations_forward"),
            metric(&a, "iterations_forward"));
  fixture_free(&a);
  fixture_free(&b);
}

Test(deq, builder_messages_name_the_path) {
  nde_shape in = nde_shape_vector(3);
  nde_model *m = NULL;
  cr_assert_eq(nde_model_build(NULL, "{\"layer\": \"skip_deq\", \"dynamics\": {\"layer\": "
                               "\"dense\", \"out\": 3}, \"solver\": \"lbroyden\"}",
                               "model", &in, backend, NDE_FLOAT64, &m), NDE_EINVAL);
  cr_assert(strstr(nde_last_error(), "model.skip"), "%s", nde_last_error());
  cr_assert_eq(nde_model_build(NULL, "{\"layer\": \"deq\", \"dynamics\": {\"layer\": \"dense\", "
                               "\"out\": 3}, \"solver\": \"lbroydn\"}",
                               "model", &in, backend, NDE_FLOAT64, &m), NDE_ENOTFOUND);
  cr_assert(strstr(nde_last_error(), "lbroyden"), "%s", nde_last_error());
  cr_assert_eq(nde_model_build(NULL, "{\"layer\": \"deq\", \"dynamics\": {\"layer\": \"dense\", "
                               "\"out\": 3}, \"regularizer\": \"jacobian_frobenious\"}",
                               "model", &in, backend, NDE_FLOAT64, &m), NDE_EINVAL);
  cr_assert(strstr(nde_last_error(), "model.regularizer"), "%s", nde_last_error());
  cr_assert_eq(nde_model_build(NULL, "{\"layer\": \"deq\", \"dynamics\": {\"layer\": \"dense\", "
                               "\"out\": 3}, \"sensitivity\": \"steady_stat\"}",
                               "model", &in, backend, NDE_FLOAT64, &m), NDE_ENOTFOUND);
  cr_assert(strstr(nde_last_error(), "model.sensitivity"), "%s", nde_last_error());
}

Test(deq, a_tiny_deq_trains) {
  /* regression of sin(x₁ + x₂ − x₃) with plain gradient descent through the implicit gradient */
  fixture f;
  fixture_make(&f, "{\"chain\": [{\"layer\": \"deq\", " INJ DYN
                   "\"solver\": {\"plugin\": \"lbroyden\", \"abstol\": 1e-8, \"reltol\": 1e-8, "
                   "\"maxiters\": 100, \"termination\": \"abs\"}}, "
                   "{\"layer\": \"dense\", \"out\": 1}]}",
                   3, 32, 5);
  /* inside a chain the block is named after the chain's path */
  const nde_layout_entry *w = nde_model_find_block(f.model, "model.chain[0].dynamics.weight");
  cr_assert_not_null(w);
  for (size_t i = 0; i < w->size; ++i)
    f.params[w->offset + i] *= 0.4;
  double target[32], dy[32];
  for (int i = 0; i < 32; ++i)
    target[i] = sin(f.x[3 * i] + f.x[3 * i + 1] - f.x[3 * i + 2]);
  double *g = malloc(f.np * sizeof *g), first = 0, last = 0;
  for (int step = 0; step < 60; ++step) {
    nde_arena_reset(f.arena);
    nde_layer_metrics_clear(&f.metrics);
    nde_record *rec;
    cr_assert_eq(nde_layer_forward(f.root, &f.ctx, f.x, 0.0, f.params, &rec), NDE_OK, "%s",
                 nde_last_error());
    double l;
    cr_assert_eq(nde_loss_eval(backend, NDE_FLOAT64, NDE_LOSS_MSE, 1, 32, nde_record_output(rec),
                               target, 1.0, &l, dy, NULL), NDE_OK);
    if (step == 0)
      first = l;
    last = l;
    memset(g, 0, f.np * sizeof *g);
    cr_assert_eq(nde_layer_vjp(f.root, &f.ctx, rec, dy, NULL, g, NULL), NDE_OK, "%s",
                 nde_last_error());
    for (size_t i = 0; i < f.np; ++i)
      f.params[i] -= 0.1 * g[i];
  }
  cr_assert(last < 0.5 * first, "loss %g -> %g", first, last);
  free(g);
  fixture_free(&f);
}
