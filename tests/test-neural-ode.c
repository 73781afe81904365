/*
 * The neural_ode layer with the direct sensitivity: gradients against
 * central finite differences (float64, frozen step sequences) for several
 * explicit RK tableaus, fixed and adaptive steps, dense output (continuous
 * extensions and Hermite); the gradient of every regularizer term; invalid
 * combinations refused at build time with the JSON path; and a short spiral
 * training run where error_global lowers the prediction NFE.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "copy_file.h"
#include <jansson.h>

#include <nde/arena.h>
#include <nde/backend.h>
#include <nde/layer.h>
#include <nde/model.h>
#include <nde/registry.h>
#include <nde/train.h>

static char vanilla[4096];

static void setup(void) {
  const char *s = getenv("NDE_TEST_SRCDIR");
  snprintf(vanilla, sizeof vanilla, "%s/../examples/paper/fig-5.2-vanilla.json",
           s ? s : NDE_TEST_SRCDIR);
}

TestSuite(neural_ode, .init = setup, .timeout = 120);

/* gradcheck of the spiral pipeline with overrides (NULL-terminated). */
static nde_gradcheck_result check(const char *const *sets, size_t n_check, double eps) {
  size_t n = 0;
  while (sets[n])
    ++n;
  nde_pipeline *p = NULL;
  cr_assert_eq(nde_pipeline_load(NULL, vanilla, sets, n, &p), NDE_OK, "%s", nde_last_error());
  nde_gradcheck_options o = {.n_check = n_check, .eps = eps, .seed = 3};
  nde_gradcheck_result r;
  cr_assert_eq(nde_gradcheck(p, &o, &r), NDE_OK, "%s", nde_last_error());
  nde_pipeline_destroy(&p);
  cr_assert_eq(r.checked, n_check);
  cr_assert(isfinite(r.loss) && r.loss > 0);
  return r;
}

#define SOLVER(json) "model.chain[0].solver=" json

static void expect_gradient(const char *solver, double max_rel) {
  const char *sets[] = {solver, NULL};
  nde_gradcheck_result r = check(sets, 30, 1e-3);
  cr_expect(r.max_rel_error < max_rel, "%s: max_rel_error %g (max_abs_error %g)", solver,
            r.max_rel_error, r.max_abs_error);
  cr_expect(r.max_abs_error < 1e-8, "%s: max_abs_error %g", solver, r.max_abs_error);
}

Test(neural_ode, direct_tsit5_adaptive_matches_finite_differences) {
  expect_gradient(SOLVER("{\"plugin\": \"tsit5\", \"abstol\": 1e-6, \"reltol\": 1e-6}"), 1e-5);
}

Test(neural_ode, direct_dopri5_adaptive_matches_finite_differences) {
  expect_gradient(SOLVER("{\"plugin\": \"dopri5\"}"), 1e-5);
}

Test(neural_ode, direct_tsit5_fixed_step_matches_finite_differences) {
  expect_gradient(SOLVER("{\"plugin\": \"tsit5\", \"adaptive\": false, \"dt\": 0.1}"), 1e-5);
}

Test(neural_ode, direct_hermite_dense_output_fsal_and_not) {
  /* bs3: FSAL with cubic Hermite dense output; heun: not FSAL (f(t1, u1) pulled back) */
  expect_gradient(SOLVER("{\"plugin\": \"bs3\", \"reltol\": 1e-4}"), 1e-5);
  expect_gradient(SOLVER("{\"plugin\": \"heun\", \"adaptive\": false, \"dt\": 0.05}"), 1e-5);
}

Test(neural_ode, direct_vcab3_multistep_matches_finite_differences) {
  /* two Bogacki-Shampine starting steps, then Adams-Bashforth steps with variable weights */
  expect_gradient(SOLVER("{\"plugin\": \"vcab3\", \"abstol\": 1e-5, \"reltol\": 1e-5}"), 1e-5);
  expect_gradient(SOLVER("{\"plugin\": \"vcab3\", \"adaptive\": false, \"dt\": 0.02}"), 1e-5);
  const char *sets[] = {SOLVER("{\"plugin\": \"vcab3\", \"abstol\": 1e-3, \"reltol\": 1e-3}"),
                        "model.chain[0].regularizer={\"plugin\": \"error_global\", "
                        "\"coef\": 1}", NULL};
  nde_gradcheck_result r = check(sets, 30, 1e-5);
  cr_expect(r.max_rel_error < 2e-3, "vcab3 + error_global: max_rel_error %g", r.max_rel_error);
}

/* The error estimate is a difference of stages (cancellation): loose tolerances keep the
   finite differences clean. */
#define LOOSE SOLVER("{\"plugin\": \"tsit5\", \"abstol\": 1e-3, \"reltol\": 1e-3}")

Test(neural_ode, error_global_gradient_matches_finite_differences) {
  const char *sets[] = {LOOSE, "model.chain[0].regularizer={\"plugin\": \"error_global\", "
                               "\"coef\": 1}", NULL};
  nde_gradcheck_result r = check(sets, 30, 1e-5);
  cr_expect(r.max_rel_error < 2e-3, "max_rel_error %g", r.max_rel_error);
  /* the term is really there: the loss is larger than without it */
  const char *plain[] = {LOOSE, NULL};
  nde_gradcheck_result r0 = check(plain, 1, 1e-5);
  cr_expect(r.loss > r0.loss + 1e-3, "%g vs %g", r.loss, r0.loss);
}

Test(neural_ode, stiffness_global_gradient_matches_finite_differences) {
  const char *sets[] = {LOOSE, "model.chain[0].regularizer={\"plugin\": \"stiffness_global\", "
                               "\"coef\": 0.01}", NULL};
  nde_gradcheck_result r = check(sets, 30, 1e-5);
  cr_expect(r.max_rel_error < 2e-3, "max_rel_error %g", r.max_rel_error);
}

Test(neural_ode, combined_regularizers_with_schedules) {
  const char *sets[] = {LOOSE,
                        "model.chain[0].regularizer=[{\"plugin\": \"error_global\", \"coef\": "
                        "{\"exp_decay\": [0.5, 0.01]}}, {\"plugin\": \"stiffness_global\", "
                        "\"coef\": 0.001}]",
                        NULL};
  nde_gradcheck_result r = check(sets, 30, 1e-5);
  cr_expect(r.max_rel_error < 2e-3, "max_rel_error %g", r.max_rel_error);
}

static void expect_local(const char *reg, const char *seed) {
  const char *sets[] = {LOOSE, reg, seed, NULL};
  nde_gradcheck_result r = check(sets, 30, 1e-5);
  cr_expect(r.max_rel_error < 2e-3, "%s %s: max_rel_error %g", reg, seed, r.max_rel_error);
  const char *plain[] = {LOOSE, seed, NULL};
  nde_gradcheck_result r0 = check(plain, 1, 1e-5);
  cr_expect(r.loss > r0.loss, "%s %s: the term adds nothing (%g vs %g)", reg, seed, r.loss,
            r0.loss);
}

Test(neural_ode, local_regularizer_gradients_match_finite_differences) {
  /* the extra step at t_reg (frozen draw) is differentiated on its own and enters at t_reg */
  expect_local("model.chain[0].regularizer={\"plugin\": \"error_local_unbiased\", "
               "\"coef\": 10}", "seed=1");
  expect_local("model.chain[0].regularizer={\"plugin\": \"error_local_unbiased\", "
               "\"coef\": 10}", "seed=2");
  expect_local("model.chain[0].regularizer={\"plugin\": \"error_local_biased\", "
               "\"coef\": 10}", "seed=1");
  /* the extra step sized by the first-step heuristic (frozen with the step sequence) */
  expect_local("model.chain[0].regularizer={\"plugin\": \"error_local_unbiased\", "
               "\"coef\": 10, \"step\": \"initial\"}", "seed=1");
  expect_local("model.chain[0].regularizer={\"plugin\": \"error_local_biased\", "
               "\"coef\": 10, \"step\": \"initial\"}", "seed=2");
}

Test(neural_ode, steer_gradient_with_frozen_end_time) {
  /* final state only (steer cannot change the end time under saveat): a model without saveat */
  nde_pipeline *p = NULL;
  const char *sets2[] = {"data.points=2", "data.window=1",
                         "model={\"chain\": [{\"layer\": \"neural_ode\", \"tspan\": [0, 1.5], "
                         "\"dynamics\": {\"chain\": [\"cube\", {\"layer\": \"dense\", \"out\": 50, "
                         "\"activation\": \"tanh\"}, {\"layer\": \"dense\", \"out\": 2}]}, "
                         "\"regularizer\": {\"plugin\": \"steer\", \"b\": 0.5}}]}",
                         NULL};
  cr_assert_eq(nde_pipeline_load(NULL, vanilla, sets2, 3, &p), NDE_OK, "%s", nde_last_error());
  nde_gradcheck_options o = {.n_check = 30, .eps = 1e-5, .seed = 1};
  nde_gradcheck_result r;
  cr_assert_eq(nde_gradcheck(p, &o, &r), NDE_OK, "%s", nde_last_error());
  nde_pipeline_destroy(&p);
  cr_expect(r.max_rel_error < 2e-4, "max_rel_error %g", r.max_rel_error);
}

Test(neural_ode, batch_time_dependent_dynamics_and_backward_span) {
  /* 8 samples, time_concat dynamics (∂f/∂t through the stage times), saveat, two terms */
  const char *fwd[] = {"data.points=100", "data.window=4", "data.batch_size=8",
                       "model={\"chain\": [{\"layer\": \"neural_ode\", \"tspan\": [0, 0.5], "
                       "\"saveat\": [0, 0.1, 0.3, 0.5], \"dynamics\": {\"chain\": "
                       "[\"time_concat\", {\"layer\": \"dense\", \"out\": 8, \"activation\": "
                       "\"tanh\"}, {\"layer\": \"dense\", \"out\": 2}]}, \"regularizer\": "
                       "[{\"plugin\": \"stiffness_global\", \"coef\": 0.01}, {\"plugin\": "
                       "\"error_local_unbiased\", \"coef\": 1}], \"solver\": {\"plugin\": "
                       "\"tsit5\", \"abstol\": 1e-3, \"reltol\": 1e-3}}]}",
                       NULL};
  nde_gradcheck_result r = check(fwd, 40, 1e-3);
  cr_expect(r.max_rel_error < 1e-5, "forward span: max_rel_error %g", r.max_rel_error);
  /* integrating backward in time (t1 < t0), final state only */
  const char *bwd[] = {"data.points=2", "data.window=1",
                       "model={\"chain\": [{\"layer\": \"neural_ode\", \"tspan\": [1, 0], "
                       "\"dynamics\": {\"chain\": [\"cube\", {\"layer\": \"dense\", \"out\": 8, "
                       "\"activation\": \"tanh\"}, {\"layer\": \"dense\", \"out\": 2}]}, "
                       "\"regularizer\": [{\"plugin\": \"error_global\", \"coef\": 0.5}, "
                       "{\"plugin\": \"error_local_biased\", \"coef\": 1}], \"solver\": "
                       "{\"plugin\": \"dopri5\", \"abstol\": 1e-3, \"reltol\": 1e-3}}]}",
                       NULL};
  r = check(bwd, 30, 1e-3);
  cr_expect(r.max_rel_error < 1e-5, "backward span: max_rel_error %g", r.max_rel_error);
}

/* ---------------------------------------------------------------- refusals */

static nde_status build(nde_registry *reg, const char *model, nde_model **out) {
  nde_backend *be = NULL;
  cr_assert_eq(nde_backend_open(NULL, "cpu", NULL, &be), NDE_OK, "%s", nde_last_error());
  nde_shape in = nde_shape_vector(2);
  nde_status st = nde_model_build(reg, model, "model", &in, be, NDE_FLOAT64, out);
  if (st == NDE_OK)
    nde_model_destroy(out);
  nde_backend_destroy(&be);
  return st;
}

#define NODE(extra)                                                                          \
  "{\"chain\": [{\"layer\": \"neural_ode\", \"tspan\": [0, 1], \"dynamics\": {\"layer\": "  \
  "\"dense\", \"out\": 2, \"activation\": \"tanh\"}" extra "}]}"

static void expect_refused(nde_registry *reg, const char *model, const char *phrase) {
  nde_model *m = NULL;
  cr_expect_neq(build(reg, model, &m), NDE_OK, "accepted: %s", model);
  cr_expect(strstr(nde_last_error(), phrase) != NULL, "message '%s' lacks '%s'",
            nde_last_error(), phrase);
}

Test(neural_ode, invalid_combinations_are_refused_with_the_json_path) {
  char dir[512], lib[1024], link[1024], path[1024];
  snprintf(dir, sizeof dir, "%s/nde-node-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
  cr_assert_not_null(mkdtemp(dir));
  snprintf(lib, sizeof lib, "%s/tests/plugins/.libs/sens_plain.so",
           getenv("NDE_TEST_BUILDDIR") ? getenv("NDE_TEST_BUILDDIR") : NDE_TEST_BUILDDIR);
  snprintf(link, sizeof link, "%s/sens_plain.so", dir);
  cr_assert_eq(test_copy_file(lib, link), 0);
  snprintf(path, sizeof path, "%s/plain.json", dir);
  FILE *f = fopen(path, "w");
  cr_assert_not_null(f);
  fprintf(f, "{\"nde_manifest\": 1, \"name\": \"plain\", \"kind\": \"sensitivity\", "
             "\"version\": \"0.0.1\", \"abi\": 1, \"library\": \"sens_plain.so\", "
             "\"entry\": \"nde_plugin_sensitivity_plain\", \"summary\": \"test\", "
             "\"capabilities\": {}, \"options\": {}}\n");
  fclose(f);
  nde_registry *reg = NULL;
  cr_assert_eq(nde_registry_create(&reg), NDE_OK);
  cr_assert_eq(nde_registry_add_dir(reg, dir), NDE_OK);
  const char *plugins = getenv("NDE_PLUGIN_PATH");
  cr_assert_not_null(plugins);
  cr_assert_eq(nde_registry_add_dir(reg, plugins), NDE_OK);
  cr_assert_eq(nde_registry_scan(reg), NDE_OK);

  nde_model *m = NULL;
  cr_expect_eq(build(reg, NODE(", \"sensitivity\": \"plain\""), &m), NDE_OK, "%s",
               nde_last_error());
  expect_refused(reg, NODE(", \"sensitivity\": \"plain\", \"regularizer\": [\"steer\", "
                           "{\"plugin\": \"error_global\", \"coef\": 0.1}]"),
                 "model.chain[0].regularizer[1]: regularizer 'error_global'");
  /* local regularization works with any sensitivity */
  cr_expect_eq(build(reg, NODE(", \"sensitivity\": \"plain\", \"regularizer\": "
                               "\"error_local_unbiased\""), &m), NDE_OK, "%s", nde_last_error());
  expect_refused(reg, NODE(", \"solver\": \"bs3\", \"regularizer\": \"stiffness_global\""),
                 "regularizer 'stiffness_global' reads stiffness estimates, which solver 'bs3' "
                 "does not make (solvers that do: dopri5 or tsit5)");
  expect_refused(reg, NODE(", \"regularizer\": [\"error_local_unbiased\", "
                           "\"error_local_biased\"]"),
                 "only one local regularizer");
  expect_refused(reg, NODE(", \"solver\": \"vcab3\", \"regularizer\": \"error_local_biased\""),
                 "needs an explicit Runge-Kutta method");
  expect_refused(reg, NODE(", \"sensitivity\": \"plain\", \"regularizer\": \"stiffness_global\""),
                 "use \"sensitivity\": \"direct\"");
  expect_refused(reg, NODE(", \"solver\": {\"plugin\": \"euler\", \"dt\": 0.1}, "
                           "\"regularizer\": \"error_global\""),
                 "needs a solver with an error estimate");
  expect_refused(reg, NODE(", \"saveat\": [0, 0.5, 1], \"regularizer\": \"steer\""),
                 "with saveat the last save point must lie before t1");
  /* saves before t1: steer moves only the end past them */
  nde_model *steer_saved = NULL;
  cr_expect_eq(build(reg, NODE(", \"saveat\": [0, 0.5], \"regularizer\": {\"plugin\": "
                               "\"steer\", \"b\": 0.25}"), &steer_saved), NDE_OK, "%s",
               nde_last_error());
  nde_model_destroy(&steer_saved);
  expect_refused(reg, NODE(", \"tspam\": [0, 1]"), "model.chain[0].tspam: unknown key");
  expect_refused(reg, NODE(", \"saveat\": [0, 2]"), "model.chain[0].saveat[1]");
  expect_refused(reg, NODE(", \"sensitivity\": \"drect\""), "model.chain[0].sensitivity");
  expect_refused(reg, NODE(", \"regularizer\": {\"plugin\": \"error_global\", \"coef\": "
                           "{\"nope\": 1}}"),
                 "model.chain[0].regularizer.coef");
  nde_registry_destroy(&reg);
  unlink(link);
  unlink(path);
  rmdir(dir);
}

/* ---------------------------------------------------------------- training */

static nde_train_summary train(const char *regularizer) {
  char reg[512];
  snprintf(reg, sizeof reg, "model.chain[0].regularizer=%s", regularizer);
  const char *sets[] = {"train.steps=300", reg};
  nde_pipeline *p = NULL;
  cr_assert_eq(nde_pipeline_load(NULL, vanilla, sets, 2, &p), NDE_OK, "%s", nde_last_error());
  nde_train_summary s;
  cr_assert_eq(nde_train(p, NULL, &s), NDE_OK, "%s", nde_last_error());
  nde_pipeline_destroy(&p);
  return s;
}

Test(neural_ode, error_global_lowers_prediction_nfe_on_the_spiral) {
  nde_train_summary v = train("[]");
  nde_train_summary e = train("{\"plugin\": \"error_global\", \"coef\": 0.03}");
  cr_log_info("vanilla: NFE %g loss %g; error_global: NFE %g loss %g", v.test_nfe, v.test_loss,
              e.test_nfe, e.test_loss);
  cr_assert(isfinite(v.test_nfe) && isfinite(e.test_nfe));
  cr_expect(e.test_nfe < 0.9 * v.test_nfe, "NFE %g (error_global) vs %g (vanilla)", e.test_nfe,
            v.test_nfe);
  cr_expect(v.test_loss < 0.05 && e.test_loss < 0.05, "losses %g, %g", v.test_loss, e.test_loss);
}

/* ---------------------------------------------------------------- the command */

Test(neural_ode, gradcheck_command_prints_json) {
  const char *b = getenv("NDE_TEST_BUILDDIR");
  char cmd[8192];
  snprintf(cmd, sizeof cmd,
           "%s/nde gradcheck '%s' --params 5 --json --set 'model.chain[0].solver={\"plugin\": "
           "\"tsit5\", \"abstol\": 1e-3, \"reltol\": 1e-3}' "
           "--set 'model.chain[0].regularizer={\"plugin\": \"error_local_unbiased\", \"coef\": 1}'"
           " 2>&1",
           b ? b : NDE_TEST_BUILDDIR, vanilla);
  FILE *f = popen(cmd, "r");
  cr_assert_not_null(f);
  char out[8192];
  size_t n = fread(out, 1, sizeof out - 1, f);
  out[n] = 0;
  cr_assert_eq(pclose(f), 0, "%s", out);
  json_error_t e;
  json_t *o = json_loads(out, 0, &e);
  cr_assert_not_null(o, "not JSON: %s", out);
  cr_expect_str_eq(json_string_value(json_object_get(o, "sensitivity")), "direct");
  cr_expect_eq(json_integer_value(json_object_get(o, "checked")), 5);
  double rel = json_number_value(json_object_get(o, "max_rel_error"));
  cr_expect(rel >= 0 && rel < 1e-3, "max_rel_error %g", rel);
  json_decref(o);
}

/* ------------------------------------------------------- forward-only solves */

static double metric(const nde_layer_metrics *m, const char *name) {
  for (int i = 0; i < m->n; ++i)
    if (!strcmp(m->names[i], name))
      return m->values[i];
  return NAN;
}

/* A forward-only evaluation (no_pullback: a plain solve, no sensitivity tape; the
   dynamics' time_concat fused into the dense layers) gives the ordinary forward's
   output, NFE, steps and regularization loss. */
Test(neural_ode, forward_only_matches_the_ordinary_forward) {
  const char *sens[] = {"direct", "backsolve_adjoint", "interpolating_adjoint"};
  for (int k = 0; k < 3; ++k) {
    char json[1024];
    snprintf(json, sizeof json,
             "{\"layer\": \"neural_ode\", \"tspan\": [0, 1], \"saveat\": [0.5, 1], "
             "\"sensitivity\": \"%s\", %s\"solver\": {\"plugin\": \"dopri5\", \"abstol\": 1e-7, "
             "\"reltol\": 1e-7}, \"dynamics\": {\"chain\": [\"time_concat\", {\"layer\": "
             "\"dense\", \"out\": 16, \"activation\": \"tanh\"}, \"time_concat\", {\"layer\": "
             "\"dense\", \"out\": 3, \"activation\": \"tanh\"}]}}",
             sens[k],
             k == 0 ? "\"regularizer\": {\"plugin\": \"error_global\", \"coef\": 0.1}, " : "");
    nde_backend *be = NULL;
    cr_assert_eq(nde_backend_open(NULL, "cpu", NULL, &be), NDE_OK, "%s", nde_last_error());
    nde_shape in = nde_shape_vector(3);
    nde_model *m = NULL;
    cr_assert_eq(nde_model_build(NULL, json, "model", &in, be, NDE_FLOAT64, &m), NDE_OK, "%s",
                 nde_last_error());
    size_t np = nde_model_param_count(m), B = 5;
    double *p = malloc(np * sizeof *p), x[15], y0[30];
    nde_rng rng = nde_rng_make(3, 1);
    cr_assert_eq(nde_model_init_params(m, &rng, p), NDE_OK);
    for (size_t i = 0; i < 15; ++i)
      x[i] = nde_rng_normal(&rng);
    nde_arena *arena;
    cr_assert_eq(nde_arena_create(be, &arena), NDE_OK);
    double nfe[2], steps[2], loss[2];
    for (int fwd_only = 0; fwd_only < 2; ++fwd_only) {
      nde_layer_metrics met;
      memset(&met, 0, sizeof met);
      nde_layer_ctx ctx = {.backend = be, .dtype = NDE_FLOAT64, .batch = B, .arena = arena,
                           .training = 1, .metrics = &met, .no_pullback = fwd_only};
      nde_arena_reset(arena);
      nde_record *rec;
      cr_assert_eq(nde_layer_forward(nde_model_root(m), &ctx, x, 0, p, &rec), NDE_OK, "%s",
                   nde_last_error());
      const double *y = nde_record_output(rec);
      for (size_t i = 0; i < 30; ++i) {
        if (!fwd_only)
          y0[i] = y[i];
        else
          cr_expect(fabs(y[i] - y0[i]) <= 1e-12 * (1 + fabs(y0[i])), "%s: y[%zu] %.17g vs %.17g",
                    sens[k], i, y[i], y0[i]);
      }
      nfe[fwd_only] = metric(&met, "nfe_forward");
      steps[fwd_only] = metric(&met, "steps_accepted");
      loss[fwd_only] = met.aux_loss;
    }
    cr_expect(nfe[0] > 0 && nfe[1] == nfe[0], "%s: nfe %g vs %g", sens[k], nfe[1], nfe[0]);
    cr_expect_eq(steps[1], steps[0], "%s: steps", sens[k]);
    cr_expect((k > 0 || loss[0] > 0) && fabs(loss[1] - loss[0]) <= 1e-12 * loss[0],
              "%s: loss %g vs %g", sens[k], loss[1], loss[0]);
    free(p);
    nde_arena_destroy(&arena);
    nde_model_destroy(&m);
    nde_backend_destroy(&be);
  }
}

/* ------------------------------------------- memory kept between training steps */

/* Input cotangent and parameter gradient of one forward + vjp at batch B (x, dy fixed). */
static void node_gradient(nde_model *m, nde_backend *be, nde_arena *arena, const double *p,
                          size_t B, double *dx, double *grad) {
  double x[3 * 8], dy[3 * 2 * 8];
  for (size_t i = 0; i < 3 * B; ++i)
    x[i] = sin(0.9 * (double)i + 0.2);
  for (size_t i = 0; i < 3 * 2 * B; ++i)
    dy[i] = cos(0.7 * (double)i + 0.3);
  nde_layer_ctx ctx = {.backend = be, .dtype = NDE_FLOAT64, .batch = B, .arena = arena,
                       .training = 1};
  nde_arena_reset(arena);
  nde_record *rec;
  cr_assert_eq(nde_layer_forward(nde_model_root(m), &ctx, x, 0, p, &rec), NDE_OK, "%s",
               nde_last_error());
  memset(grad, 0, nde_model_param_count(m) * sizeof *grad);
  cr_assert_eq(nde_layer_vjp(nde_model_root(m), &ctx, rec, dy, dx, grad, NULL), NDE_OK, "%s",
               nde_last_error());
}

/* The sensitivities keep their solves' memory between calls (workspaces, the adjoints'
   augmented state and scratch): a layer's second, third, ... gradient, also after the
   batch size changed and changed back, is bit for bit the one a fresh layer computes. */
Test(neural_ode, repeated_gradients_match_a_fresh_layer_bit_for_bit) {
  const char *sens[] = {"\"direct\"", "\"backsolve_adjoint\"",
                        "{\"plugin\": \"backsolve_adjoint\", \"reset\": false}",
                        "\"interpolating_adjoint\"",
                        "{\"plugin\": \"interpolating_adjoint\", \"checkpoints\": 3}",
                        "\"quadrature_adjoint\""};
  size_t batches[] = {5, 5, 3, 8, 5};
  nde_backend *be = NULL;
  cr_assert_eq(nde_backend_open(NULL, "cpu", NULL, &be), NDE_OK, "%s", nde_last_error());
  nde_arena *arena;
  cr_assert_eq(nde_arena_create(be, &arena), NDE_OK);
  nde_shape in = nde_shape_vector(3);
  for (size_t k = 0; k < sizeof sens / sizeof *sens; ++k) {
    char json[1024];
    snprintf(json, sizeof json,
             "{\"layer\": \"neural_ode\", \"tspan\": [0, 1], \"saveat\": [0.5, 1], "
             "\"sensitivity\": %s, \"solver\": {\"plugin\": \"dopri5\", \"abstol\": 1e-7, "
             "\"reltol\": 1e-7}, \"dynamics\": {\"chain\": [\"time_concat\", {\"layer\": "
             "\"dense\", \"out\": 16, \"activation\": \"tanh\"}, \"time_concat\", {\"layer\": "
             "\"dense\", \"out\": 3, \"activation\": \"tanh\"}]}}",
             sens[k]);
    nde_model *kept = NULL;
    cr_assert_eq(nde_model_build(NULL, json, "model", &in, be, NDE_FLOAT64, &kept), NDE_OK, "%s",
                 nde_last_error());
    size_t np = nde_model_param_count(kept);
    double *p = malloc(np * sizeof *p), *g = malloc(np * sizeof *g), *g0 = malloc(np * sizeof *g0);
    nde_rng rng = nde_rng_make(3, 1);
    cr_assert_eq(nde_model_init_params(kept, &rng, p), NDE_OK);
    for (size_t c = 0; c < sizeof batches / sizeof *batches; ++c) {
      size_t B = batches[c];
      double dx[3 * 8], dx0[3 * 8];
      node_gradient(kept, be, arena, p, B, dx, g);
      nde_model *fresh = NULL;
      cr_assert_eq(nde_model_build(NULL, json, "model", &in, be, NDE_FLOAT64, &fresh), NDE_OK);
      node_gradient(fresh, be, arena, p, B, dx0, g0);
      nde_model_destroy(&fresh);
      cr_expect(!memcmp(dx, dx0, 3 * B * sizeof *dx), "%s, call %zu (batch %zu): dL/dx differs",
                sens[k], c, B);
      cr_expect(!memcmp(g, g0, np * sizeof *g), "%s, call %zu (batch %zu): dL/dp differs",
                sens[k], c, B);
      cr_expect(isfinite(g[0]) && g[0] != 0, "%s: a gradient", sens[k]);
    }
    free(p);
    free(g);
    free(g0);
    nde_model_destroy(&kept);
  }
  nde_arena_destroy(&arena);
  nde_backend_destroy(&be);
}
