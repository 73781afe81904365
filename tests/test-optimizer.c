/*
 * Optimizer plugins: the first three updates of each against values
 * computed by hand from the papers' formulas (a scalar Python transcription
 * of each algorithm, printed to 17 digits), in float64 and float32; the
 * optimizer instance API (schedules, buffers, option errors).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include <nde/backend.h>
#include <nde/optimizer.h>

typedef struct {
  const char *name;
  const char *options; /* JSON, without lr (0.1 is added) */
  double expect[3][3]; /* parameters after steps 1, 2, 3 */
} opt_case;

/*
 * θ₀ = (1, −2, 0.5); gradients g₁ = (0.1, −0.2, 0.3), g₂ = (−0.05, 0.4, 0),
 * g₃ = (0.2, 0.1, −0.3); lr = 0.1. Spot checks by hand: sgd step 1 is
 * 1 − 0.1·(0.1 + 0.01·1) = 0.989; Adam's first step moves every coordinate
 * by lr·sign(g) (≈ 0.9, −1.9, 0.4); AdaBelief's by lr/0.9 (0.8889).
 */
static const opt_case cases[] = {
#include "optimizer_cases.inc"
};

static const double theta0[3] = {1.0, -2.0, 0.5};
static const double grads[3][3] = {{0.1, -0.2, 0.3}, {-0.05, 0.4, 0.0}, {0.2, 0.1, -0.3}};

static void run_case(const opt_case *c, nde_dtype dt, double tol) {
  nde_backend *be = NULL;
  cr_assert_eq(nde_backend_open(NULL, "cpu", NULL, &be), NDE_OK, "%s", nde_last_error());
  char json[256];
  snprintf(json, sizeof json, "{\"lr\": 0.1%s%s", strlen(c->options) > 2 ? ", " : "",
           strlen(c->options) > 2 ? c->options + 1 : "}");
  nde_optimizer *opt = NULL;
  cr_assert_eq(nde_optimizer_open(NULL, c->name, json, be, dt, 3, "optimizer", &opt), NDE_OK,
               "%s: %s", c->name, nde_last_error());
  size_t shape[1] = {3};
  nde_array p, g;
  cr_assert_eq(nde_array_create(be, dt, 1, shape, &p), NDE_OK);
  cr_assert_eq(nde_array_create(be, dt, 1, shape, &g), NDE_OK);
  cr_assert_eq(nde_array_from_doubles(&p, theta0, 3), NDE_OK);
  for (int t = 0; t < 3; ++t) {
    cr_assert_eq(nde_array_from_doubles(&g, grads[t], 3), NDE_OK);
    cr_assert_eq(nde_optimizer_update(opt, p.data, g.data), NDE_OK, "%s", nde_last_error());
    double got[3];
    cr_assert_eq(nde_array_to_doubles(&p, got, 3), NDE_OK);
    for (int i = 0; i < 3; ++i)
      cr_expect(fabs(got[i] - c->expect[t][i]) <= tol * fabs(c->expect[t][i]),
                "%s %s %s step %d [%d]: got %.17g, expected %.17g", c->name, c->options,
                nde_dtype_name(dt), t + 1, i, got[i], c->expect[t][i]);
  }
  cr_expect_eq(nde_optimizer_steps(opt), 3);
  nde_array_destroy(&p);
  nde_array_destroy(&g);
  nde_optimizer_destroy(&opt);
  cr_expect_null(opt);
  nde_backend_destroy(&be);
}

Test(optimizer, first_three_steps_float64) {
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; ++i)
    run_case(&cases[i], NDE_FLOAT64, 1e-13);
}

Test(optimizer, first_three_steps_float32) {
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; ++i)
    run_case(&cases[i], NDE_FLOAT32, 2e-6);
}

Test(optimizer, buffers_are_named_and_resumable) {
  nde_backend *be = NULL;
  cr_assert_eq(nde_backend_open(NULL, "cpu", NULL, &be), NDE_OK);
  nde_optimizer *a = NULL, *b = NULL;
  cr_assert_eq(nde_optimizer_open(NULL, "adam", "{\"lr\": 0.1}", be, NDE_FLOAT64, 3, NULL, &a),
               NDE_OK, "%s", nde_last_error());
  cr_assert_eq(nde_optimizer_buffer_count(a), 2);
  const char *name;
  nde_array view;
  cr_assert_eq(nde_optimizer_buffer(a, 0, &name, &view), NDE_OK);
  cr_expect_str_eq(name, "m");
  cr_assert_eq(nde_optimizer_buffer(a, 1, &name, NULL), NDE_OK);
  cr_expect_str_eq(name, "v");
  cr_expect_neq(nde_optimizer_buffer(a, 2, &name, NULL), NDE_OK);

  /* Two steps in one optimizer == one step, state copied into a fresh one, one more step. */
  double pa[3] = {1, -2, 0.5}, pb[3];
  cr_assert_eq(nde_optimizer_update(a, pa, grads[0]), NDE_OK);
  memcpy(pb, pa, sizeof pa);
  cr_assert_eq(nde_optimizer_open(NULL, "adam", "{\"lr\": 0.1}", be, NDE_FLOAT64, 3, NULL, &b),
               NDE_OK);
  for (int i = 0; i < 2; ++i) {
    nde_array va, vb;
    cr_assert_eq(nde_optimizer_buffer(a, i, NULL, &va), NDE_OK);
    cr_assert_eq(nde_optimizer_buffer(b, i, NULL, &vb), NDE_OK);
    cr_expect_eq(vb.size, 3);
    memcpy(vb.data, va.data, 3 * sizeof(double));
  }
  nde_optimizer_set_steps(b, nde_optimizer_steps(a));
  cr_assert_eq(nde_optimizer_update(a, pa, grads[1]), NDE_OK);
  cr_assert_eq(nde_optimizer_update(b, pb, grads[1]), NDE_OK);
  cr_expect(memcmp(pa, pb, sizeof pa) == 0, "resumed optimizer diverged");
  nde_optimizer_destroy(&a);
  nde_optimizer_destroy(&b);
  nde_backend_destroy(&be);
}

Test(optimizer, lr_schedule_drives_updates) {
  nde_backend *be = NULL;
  cr_assert_eq(nde_backend_open(NULL, "cpu", NULL, &be), NDE_OK);
  nde_optimizer *o = NULL;
  cr_assert_eq(nde_optimizer_open(NULL, "sgd", "{\"plugin\": \"sgd\", \"lr\": {\"step\": [1, 0.5, 2]}}",
                                  be, NDE_FLOAT64, 1, "optimizer", &o),
               NDE_OK, "%s", nde_last_error());
  double p = 0, g = 1;
  const double lrs[5] = {1, 1, 0.5, 0.5, 0.25};
  double expect = 0;
  for (int t = 0; t < 5; ++t) {
    cr_expect_float_eq(nde_optimizer_next_lr(o), lrs[t], 1e-15);
    cr_assert_eq(nde_optimizer_update(o, &p, &g), NDE_OK);
    expect -= lrs[t];
    cr_expect_float_eq(p, expect, 1e-15);
  }
  nde_optimizer_destroy(&o);

  /* Without lr, the manifest's default applies: adamax's 2e-3 (Kingma & Ba). */
  cr_assert_eq(nde_optimizer_open(NULL, "adamax", NULL, be, NDE_FLOAT64, 1, NULL, &o), NDE_OK);
  cr_expect_float_eq(nde_optimizer_next_lr(o), 2e-3, 1e-18);
  nde_optimizer_destroy(&o);
  nde_backend_destroy(&be);
}

Test(optimizer, bad_options_name_the_path) {
  nde_backend *be = NULL;
  cr_assert_eq(nde_backend_open(NULL, "cpu", NULL, &be), NDE_OK);
  nde_optimizer *o = NULL;
  cr_expect_eq(nde_optimizer_open(NULL, "adam", "{\"beta1\": 0.9}", be, NDE_FLOAT64, 4,
                                  "optimizer", &o),
               NDE_EINVAL);
  cr_expect(strstr(nde_last_error(), "optimizer.beta1") != NULL, "%s", nde_last_error());
  cr_expect_eq(nde_optimizer_open(NULL, "adam", "{\"b2\": 1.5}", be, NDE_FLOAT64, 4, "opt", &o),
               NDE_EINVAL);
  cr_expect(strstr(nde_last_error(), "opt.b2") != NULL, "%s", nde_last_error());
  cr_expect_eq(nde_optimizer_open(NULL, "adam", "{\"lr\": {\"cosine\": [1, 0]}}", be,
                                  NDE_FLOAT64, 4, "optimizer", &o),
               NDE_EINVAL);
  cr_expect(strstr(nde_last_error(), "optimizer.lr.cosine") != NULL, "%s", nde_last_error());
  cr_expect_eq(nde_optimizer_open(NULL, "adam", "{\"lr\": -0.1}", be, NDE_FLOAT64, 4,
                                  "optimizer", &o),
               NDE_EINVAL);
  cr_expect(strstr(nde_last_error(), "optimizer.lr") != NULL, "%s", nde_last_error());
  cr_expect_eq(nde_optimizer_open(NULL, "adam", "{\"lr\": {\"cosine\": [0.1, -1, 10]}}", be,
                                  NDE_FLOAT64, 4, "optimizer", &o),
               NDE_EINVAL);
  cr_expect(strstr(nde_last_error(), "optimizer.lr: a learning rate must be >= 0") != NULL, "%s",
            nde_last_error());
  /* a piecewise schedule: every knot, not only the first and last */
  cr_expect_eq(nde_optimizer_open(NULL, "adam", "{\"lr\": {\"piecewise\": [[0, 0.1], [5, -1], "
                                  "[10, 0.1]]}}", be, NDE_FLOAT64, 4, "optimizer", &o),
               NDE_EINVAL);
  cr_expect(strstr(nde_last_error(), "optimizer.lr: a learning rate must be >= 0") != NULL, "%s",
            nde_last_error());
  /* a learning rate cannot follow the loss (only regularization coefficients read it) */
  cr_expect_eq(nde_optimizer_open(NULL, "adam", "{\"lr\": {\"follow_loss\": [0.1, 1e-3]}}", be,
                                  NDE_FLOAT64, 4, "optimizer", &o),
               NDE_EINVAL);
  cr_expect(strstr(nde_last_error(), "optimizer.lr: follow_loss is for regularization") != NULL,
            "%s", nde_last_error());
  cr_expect_eq(nde_optimizer_open(NULL, "adam", "{\"lr\": {\"target_nfe\": [0.1, 200, 0.1]}}",
                                  be, NDE_FLOAT64, 4, "optimizer", &o),
               NDE_EINVAL);
  cr_expect(strstr(nde_last_error(), "optimizer.lr: target_nfe is for regularization") != NULL,
            "%s", nde_last_error());
  cr_expect_eq(nde_optimizer_open(NULL, "adma", NULL, be, NDE_FLOAT64, 4, "optimizer", &o),
               NDE_ENOTFOUND);
  cr_expect(strstr(nde_last_error(), "adam") != NULL, "%s", nde_last_error());
  cr_expect_null(o);
  nde_backend_destroy(&be);
}
