/*
 * latent_ode: the layer's vjp (parameters and observed values, KL term
 * included) against central finite differences in float64, masking (a
 * missing value changes nothing), the evaluation mode, the masked_mse
 * loss, and the builder's messages.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include <nde/layer.h>
#include <nde/nde.h>

static nde_backend *backend;

static void setup(void) {
  cr_assert_eq(nde_backend_open(NULL, "cpu", NULL, &backend), NDE_OK, "%s", nde_last_error());
}
static void teardown(void) { nde_backend_destroy(&backend); }

TestSuite(latent_ode, .init = setup, .fini = teardown);

#define C 2
#define T 4
#define B 3

/* A small latent ODE over the grid 0, 0.5, 1, 1.5 with a fixed-step decoder. */
static const char *model_json =
    "{\"layer\": \"latent_ode\", \"channels\": 2, \"tspan\": [0, 1.5], \"points\": 4,"
    " \"latent\": 3, \"hidden\": 4, \"units\": 5, \"encoder_steps\": 2, \"obs_std\": 0.5,"
    " \"kl_anneal\": 0.5,"
    " \"decoder\": {\"solver\": {\"plugin\": \"tsit5\", \"adaptive\": false, \"dt\": 0.25}}}";

typedef struct fixture {
  nde_model *model;
  const nde_layer *root;
  size_t np, nout;
  double *p, *x, *dy;
  nde_arena *arena;
  nde_layer_ctx ctx;
  nde_layer_metrics metrics;
  size_t in; /* input features per sample: 2·C·T, + 2 with per-sample spans */
} fixture;

/* per-sample spans of the three samples (time_spans per_sample) */
static const double spans[B][2] = {{0.0, 1.5}, {0.2, 0.9}, {-1.0, 2.0}};

static void make_in(fixture *f, const char *json, int training, size_t nin) {
  memset(f, 0, sizeof *f);
  f->in = nin;
  nde_shape in = nde_shape_vector(nin);
  cr_assert_eq(nde_model_build(NULL, json, "model", &in, backend, NDE_FLOAT64, &f->model), NDE_OK,
               "%s", nde_last_error());
  f->root = nde_model_root(f->model);
  f->np = nde_model_param_count(f->model);
  f->nout = nde_shape_size(nde_layer_output_shape(f->root));
  cr_assert_eq(f->nout, C * T);
  f->p = malloc(f->np * sizeof(double));
  f->x = calloc(nin * B, sizeof(double));
  f->dy = malloc(f->nout * B * sizeof(double));
  nde_rng rng = nde_rng_make(5, 1);
  cr_assert_eq(nde_model_init_params(f->model, &rng, f->p), NDE_OK);
  for (size_t i = 0; i < f->np; ++i)
    f->p[i] += 0.2 * nde_rng_normal(&rng);
  for (size_t b = 0; b < B; ++b)
    for (size_t i = 0; i < C * T; ++i) {
      f->x[i + nin * b] = nde_rng_normal(&rng);
      /* about half observed; sample 2 has nothing at time 1 */
      int seen = nde_rng_uniform(&rng) < 0.5 || i == b;
      if (b == 2 && i / C == 1)
        seen = 0;
      f->x[C * T + i + nin * b] = seen;
    }
  for (size_t b = 0; b < B && nin > 2 * C * T; ++b) {
    f->x[2 * C * T + nin * b] = spans[b][0];
    f->x[2 * C * T + 1 + nin * b] = spans[b][1];
  }
  for (size_t i = 0; i < f->nout * B; ++i)
    f->dy[i] = nde_rng_normal(&rng);
  cr_assert_eq(nde_arena_create(backend, &f->arena), NDE_OK);
  f->ctx = (nde_layer_ctx){.backend = backend, .dtype = NDE_FLOAT64, .batch = B,
                           .arena = f->arena, .step = 3, .training = training, .seed = 9,
                           .metrics = &f->metrics};
}

static void make(fixture *f, const char *json, int training) {
  make_in(f, json, training, 2 * C * T);
}

static void release(fixture *f) {
  nde_arena_destroy(&f->arena);
  nde_model_destroy(&f->model);
  free(f->p);
  free(f->x);
  free(f->dy);
}

/* <dy, y> + the auxiliary loss; the output into @p y when not NULL. */
static double probe(fixture *f, const double *x, const double *p, double *y) {
  nde_arena_reset(f->arena);
  nde_layer_metrics_clear(&f->metrics);
  nde_record *rec;
  cr_assert_eq(nde_layer_forward(f->root, &f->ctx, x, 0.0, p, &rec), NDE_OK, "%s",
               nde_last_error());
  const double *out = nde_record_output(rec);
  double s = f->metrics.aux_loss;
  for (size_t i = 0; i < f->nout * B; ++i)
    s += f->dy[i] * out[i];
  if (y)
    memcpy(y, out, f->nout * B * sizeof(double));
  return s;
}

/* The central difference of the probe along *v (an element of f->p or f->x) against @p analytic. */
static void expect_derivative(fixture *f, double *v, double analytic, const char *what,
                              size_t i) {
  const double h = 1e-6, keep = *v;
  *v = keep + h;
  double up = probe(f, f->x, f->p, NULL);
  *v = keep - h;
  double down = probe(f, f->x, f->p, NULL);
  *v = keep;
  double fd = (up - down) / (2 * h);
  cr_expect(fabs(analytic - fd) <= 1e-6 * (1 + fabs(fd)), "%s[%zu]: vjp %.10g vs fd %.10g", what,
            i, analytic, fd);
}

Test(latent_ode, vjp_matches_finite_differences_with_kl) {
  fixture f;
  make(&f, model_json, 1);
  nde_arena_reset(f.arena);
  nde_layer_metrics_clear(&f.metrics);
  nde_record *rec;
  cr_assert_eq(nde_layer_forward(f.root, &f.ctx, f.x, 0.0, f.p, &rec), NDE_OK, "%s",
               nde_last_error());
  cr_expect(f.metrics.aux_loss > 0, "the KL term is in the loss (%g)", f.metrics.aux_loss);
  double *dp = calloc(f.np, sizeof(double)), *dx = malloc(2 * C * T * B * sizeof(double));
  cr_assert_eq(nde_layer_vjp(f.root, &f.ctx, rec, f.dy, dx, dp, NULL), NDE_OK, "%s",
               nde_last_error());
  for (size_t i = 0; i < f.np; ++i)
    expect_derivative(&f, &f.p[i], dp[i], "dparams", i);
  for (size_t b = 0; b < B; ++b)
    for (size_t i = 0; i < C * T; ++i) {
      size_t k = i + 2 * C * T * b;
      expect_derivative(&f, &f.x[k], dx[k], "dx", k);
      if (f.x[C * T + i + 2 * C * T * b] == 0 && (i / C == 1 && b == 2))
        cr_expect_eq(dx[k], 0.0, "a time with no observation contributes nothing");
    }
  free(dp);
  free(dx);
  release(&f);
}

Test(latent_ode, missing_values_are_ignored_and_eval_is_deterministic) {
  fixture f;
  make(&f, model_json, 0);
  double *y0 = malloc(C * T * B * sizeof(double)), *y1 = malloc(C * T * B * sizeof(double));
  probe(&f, f.x, f.p, y0);
  cr_expect_eq(f.metrics.aux_loss, 0.0, "no KL term in evaluation");
  /* change every missing value: the output stays the same */
  for (size_t b = 0; b < B; ++b)
    for (size_t i = 0; i < C * T; ++i)
      if (f.x[C * T + i + 2 * C * T * b] == 0)
        f.x[i + 2 * C * T * b] += 100.0;
  probe(&f, f.x, f.p, y1);
  for (size_t i = 0; i < C * T * B; ++i)
    cr_expect_eq(y0[i], y1[i], "output %zu moved with a missing value", i);
  /* and an observed one changes it */
  for (size_t i = 0; i < C * T; ++i)
    if (f.x[C * T + i] != 0) {
      f.x[i] += 1.0;
      break;
    }
  probe(&f, f.x, f.p, y1);
  double diff = 0;
  for (size_t i = 0; i < C * T; ++i)
    diff += fabs(y0[i] - y1[i]);
  cr_expect(diff > 1e-9, "an observed value moves the output");
  /* training draws z0 (replayable from seed and step) */
  f.ctx.training = 1;
  probe(&f, f.x, f.p, y0);
  probe(&f, f.x, f.p, y1);
  for (size_t i = 0; i < C * T * B; ++i)
    cr_expect_eq(y0[i], y1[i]);
  f.ctx.step = 4;
  probe(&f, f.x, f.p, y1);
  diff = 0;
  for (size_t i = 0; i < C * T * B; ++i)
    diff += fabs(y0[i] - y1[i]);
  cr_expect(diff > 1e-9, "another step draws another z0");
  free(y0);
  free(y1);
  release(&f);
}

/* The metric @p name of the last pass, NaN when absent. */
static double metric(const fixture *f, const char *name) {
  for (int i = 0; i < f->metrics.n; ++i)
    if (!strcmp(f->metrics.names[i], name))
      return f->metrics.values[i];
  return NAN;
}

Test(latent_ode, kl_annealing_and_decoder_nfe) {
  fixture f;
  make(&f, model_json, 1);
  /* coefficient 2σ²·(1 − 0.5^(epoch+1)) with σ = 0.5 and one step per epoch */
  const double want[2] = {0.5 * 0.5, 0.5 * (1 - pow(0.5, 6))};
  double nfe[2];
  for (int k = 0; k < 2; ++k) {
    f.ctx.step = (uint64_t)k * 5;
    probe(&f, f.x, f.p, NULL);
    double kl = metric(&f, "kl");
    cr_assert(kl > 0, "the KL value is recorded (%g)", kl);
    cr_expect(fabs(f.metrics.aux_loss / kl - want[k]) < 1e-12, "step %d: coefficient %g, want %g",
              k * 5, f.metrics.aux_loss / kl, want[k]);
    nfe[k] = metric(&f, "nfe_forward");
  }
  /* the decoder's 6 fixed steps from 0 to 1.5 */
  cr_expect(nfe[0] >= 6 * 6 && nfe[0] <= 6 * 7 + 1 && nfe[0] == nfe[1], "decoder NFE %g, %g",
            nfe[0], nfe[1]);
  release(&f);
}

Test(latent_ode, masked_mse_loss) {
  double y[4] = {1, 2, 3, 4}, t[8] = {0, 5, 3, 0, /* mask */ 1, 0, 1, 0}, dy[4], v;
  cr_assert_eq(nde_loss_parse("masked_mse", &(nde_loss){0}), NDE_OK);
  cr_assert_eq(nde_loss_target_rows(NDE_LOSS_MASKED_MSE, 4), 8);
  cr_assert_eq(nde_loss_eval(backend, NDE_FLOAT64, NDE_LOSS_MASKED_MSE, 4, 1, y, t, 1.0, &v, dy,
                             NULL),
               NDE_OK, "%s", nde_last_error());
  cr_expect(fabs(v - 0.5) < 1e-15, "(1² + 0²)/2 = 0.5, got %g", v);
  double want[4] = {1, 0, 0, 0};
  for (int i = 0; i < 4; ++i)
    cr_expect(fabs(dy[i] - want[i]) < 1e-15, "dy[%d] = %g", i, dy[i]);
  /* nothing observed: 0, no gradient */
  double none[8] = {0};
  cr_assert_eq(nde_loss_eval(backend, NDE_FLOAT64, NDE_LOSS_MASKED_MSE, 4, 1, y, none, 1.0, &v,
                             dy, NULL),
               NDE_OK);
  cr_expect_eq(v, 0.0);
}

static void expect_refused(const char *json, size_t features, const char *needle) {
  nde_shape in = nde_shape_vector(features);
  nde_model *m = NULL;
  cr_expect_neq(nde_model_build(NULL, json, "model", &in, backend, NDE_FLOAT64, &m), NDE_OK,
                "%s was accepted", json);
  cr_expect(strstr(nde_last_error(), needle), "message '%s' lacks '%s'", nde_last_error(),
            needle);
  nde_model_destroy(&m);
}

Test(latent_ode, builder_messages) {
  expect_refused("{\"layer\": \"latent_ode\", \"channels\": 2, \"tspan\": [0, 1], \"points\": 4}",
                 10, "takes 16 input features");
  expect_refused("{\"layer\": \"latent_ode\", \"channels\": 2, \"times\": [0, 1, 1, 2]}", 16,
                 "strictly increasing");
  expect_refused("{\"layer\": \"latent_ode\", \"channels\": 2, \"tspan\": [0, 1]}", 16,
                 "model.points");
  expect_refused("{\"layer\": \"latent_ode\", \"tspan\": [0, 1], \"points\": 4}", 16,
                 "model.channels");
  expect_refused("{\"layer\": \"latent_ode\", \"channels\": 2, \"tspan\": [0, 1], \"points\": 4,"
                 " \"decoder\": {\"tspan\": [0, 2]}}",
                 16, "model.decoder.tspan");
  expect_refused("{\"layer\": \"latent_ode\", \"channels\": 2, \"tspan\": [0, 1], \"points\": 4,"
                 " \"latnet\": 3}",
                 16, "latent");
}

/* steer moves the decoder's end past the grid; a window reaching into the grid is refused */
Test(latent_ode, steer_moves_only_the_end_past_the_grid) {
  const char *ok = "{\"layer\": \"latent_ode\", \"channels\": 2, \"tspan\": [0, 1.5], \"points\": 4,"
                   " \"latent\": 3, \"hidden\": 4, \"units\": 5, \"decoder_end\": 1.7,"
                   " \"decoder\": {\"regularizer\": {\"plugin\": \"steer\", \"b\": 0.2}}}";
  fixture f;
  make(&f, ok, 1);
  for (uint64_t step = 0; step < 10; ++step) {
    f.ctx.step = step;
    probe(&f, f.x, f.p, NULL);
  }
  release(&f);
  const char *cut = "{\"layer\": \"latent_ode\", \"channels\": 2, \"tspan\": [0, 1.5], \"points\": 4,"
                    " \"latent\": 3, \"hidden\": 4, \"units\": 5, \"decoder_end\": 1.6,"
                    " \"decoder\": {\"regularizer\": {\"plugin\": \"steer\", \"b\": 0.5}}}";
  make(&f, cut, 1);
  int refused = 0;
  for (uint64_t step = 0; step < 20 && !refused; ++step) {
    f.ctx.step = step;
    nde_arena_reset(f.arena);
    nde_record *rec;
    if (nde_layer_forward(f.root, &f.ctx, f.x, 0.0, f.p, &rec) != NDE_OK) {
      refused = 1;
      cr_expect(strstr(nde_last_error(), "no longer holds the save points up to 1.5"), "%s",
                nde_last_error());
    }
  }
  cr_expect(refused, "an end time before the last grid time is refused");
  release(&f);
  expect_refused("{\"layer\": \"latent_ode\", \"channels\": 2, \"tspan\": [0, 1], \"points\": 4,"
                 " \"decoder_end\": 0.5}", 16, "model.decoder_end");
}

/* The same model with per-sample spans: the grid 0, 1/3, 2/3, 1 in s, the decoder in s. */
static const char *spans_json =
    "{\"layer\": \"latent_ode\", \"channels\": 2, \"tspan\": [0, 1], \"points\": 4,"
    " \"time_spans\": \"per_sample\","
    " \"latent\": 3, \"hidden\": 4, \"units\": 5, \"encoder_steps\": 2, \"obs_std\": 0.5,"
    " \"kl_anneal\": 0.5,"
    " \"decoder\": {\"solver\": {\"plugin\": \"tsit5\", \"adaptive\": false, \"dt\": 0.125}}}";

Test(latent_ode, per_sample_spans_vjp_matches_finite_differences) {
  fixture f;
  make_in(&f, spans_json, 1, 2 * C * T + 2);
  nde_arena_reset(f.arena);
  nde_layer_metrics_clear(&f.metrics);
  nde_record *rec;
  cr_assert_eq(nde_layer_forward(f.root, &f.ctx, f.x, 0.0, f.p, &rec), NDE_OK, "%s",
               nde_last_error());
  double *dp = calloc(f.np, sizeof(double)), *dx = malloc(f.in * B * sizeof(double));
  cr_assert_eq(nde_layer_vjp(f.root, &f.ctx, rec, f.dy, dx, dp, NULL), NDE_OK, "%s",
               nde_last_error());
  for (size_t i = 0; i < f.np; ++i)
    expect_derivative(&f, &f.p[i], dp[i], "dparams", i);
  /* the values and the spans (a mask entry is a switch, not a smooth input) */
  for (size_t k = 0; k < f.in * B; ++k)
    if (k % f.in < C * T || k % f.in >= 2 * C * T)
      expect_derivative(&f, &f.x[k], dx[k], "dx", k);
  for (size_t b = 0; b < B; ++b)
    cr_expect(fabs(dx[2 * C * T + 1 + f.in * b]) > 1e-8, "sample %zu: the span moves the loss",
              b);
  free(dp);
  free(dx);
  release(&f);
}

/* Each sample of a per-sample batch equals that sample alone on its own grid t0 + s·(t1 − t0). */
Test(latent_ode, per_sample_spans_match_each_sample_on_its_own_grid) {
  fixture f;
  make_in(&f, spans_json, 0, 2 * C * T + 2);
  double y[C * T * B];
  probe(&f, f.x, f.p, y);
  for (size_t b = 0; b < B; ++b) {
    double t0 = spans[b][0], d = spans[b][1] - spans[b][0];
    char json[1024];
    snprintf(json, sizeof json,
             "{\"layer\": \"latent_ode\", \"channels\": 2,"
             " \"times\": [%.17g, %.17g, %.17g, %.17g],"
             " \"latent\": 3, \"hidden\": 4, \"units\": 5, \"encoder_steps\": 2,"
             " \"obs_std\": 0.5, \"kl_anneal\": 0.5,"
             " \"decoder\": {\"solver\": {\"plugin\": \"tsit5\", \"adaptive\": false,"
             " \"dt\": %.17g}}}",
             t0, t0 + d / 3, t0 + 2 * d / 3, t0 + d, 0.125 * d);
    nde_shape in = nde_shape_vector(2 * C * T);
    nde_model *m;
    cr_assert_eq(nde_model_build(NULL, json, "model", &in, backend, NDE_FLOAT64, &m), NDE_OK,
                 "%s", nde_last_error());
    cr_assert_eq(nde_model_param_count(m), f.np);
    nde_layer_ctx one = f.ctx;
    one.batch = 1;
    nde_arena_reset(f.arena);
    nde_record *rec;
    cr_assert_eq(nde_layer_forward(nde_model_root(m), &one, f.x + f.in * b, 0.0, f.p, &rec),
                 NDE_OK, "%s", nde_last_error());
    const double *y1 = nde_record_output(rec);
    for (size_t i = 0; i < C * T; ++i)
      cr_expect(fabs(y1[i] - y[i + C * T * b]) <= 1e-10 * (1 + fabs(y1[i])),
                "sample %zu output %zu: batch %.15g alone %.15g", b, i, y[i + C * T * b], y1[i]);
    nde_model_destroy(&m);
  }
  release(&f);
}

Test(latent_ode, per_sample_spans_bad_input) {
  fixture f;
  make_in(&f, spans_json, 0, 2 * C * T + 2);
  f.x[2 * C * T + 1 + f.in * 1] = f.x[2 * C * T + f.in * 1] - 0.5; /* sample 1 ends first */
  nde_arena_reset(f.arena);
  nde_record *rec;
  cr_expect_eq(nde_layer_forward(f.root, &f.ctx, f.x, 0.0, f.p, &rec), NDE_EINVAL);
  cr_expect(strstr(nde_last_error(), "batch sample 1") && strstr(nde_last_error(), "latent_ode"),
            "%s", nde_last_error());
  release(&f);
  expect_refused("{\"layer\": \"latent_ode\", \"channels\": 2, \"tspan\": [0, 2], \"points\": 4,"
                 " \"time_spans\": \"per_sample\"}",
                 18, "s in [0, 1]");
  expect_refused("{\"layer\": \"latent_ode\", \"channels\": 2, \"tspan\": [0, 1], \"points\": 4,"
                 " \"time_spans\": \"per_sample\"}",
                 16, "then t0 and t1");
  expect_refused("{\"layer\": \"latent_ode\", \"channels\": 2, \"tspan\": [0, 1], \"points\": 4,"
                 " \"decoder\": {\"time_spans\": \"per_sample\"}}",
                 16, "model.decoder.time_spans");
}
