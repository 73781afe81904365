/*
 * neural_ode "time_spans": "per_sample": a batch whose samples bring their
 * own [t0, t1] solved on the common s ∈ [0, 1] matches each sample solved
 * alone on its own span (exactly with matching fixed steps, to tolerance
 * with adaptive ones), shares one step sequence (NFE per batch), has an
 * exact vjp (parameters, states and both span ends) against central
 * differences in float64, and refuses a span with t1 <= t0 naming the
 * sample.
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

TestSuite(time_spans, .init = setup, .fini = teardown);

#define F 2
#define B 3

/* spans of the three samples: different lengths and starts */
static const double span[B][2] = {{0.0, 1.0}, {0.5, 3.0}, {-1.0, -0.6}};

static const char *dynamics =
    "\"dynamics\": {\"chain\": [{\"layer\": \"dense\", \"out\": 5, \"activation\": \"tanh\"},"
    " {\"layer\": \"dense\", \"out\": 2}]}";

typedef struct run {
  nde_model *model;
  const nde_layer *root;
  nde_arena *arena;
  nde_layer_ctx ctx;
  nde_layer_metrics metrics;
  size_t nin, nout, batch;
} run;

static void open_run(run *r, const char *json, size_t nin, size_t batch) {
  memset(r, 0, sizeof *r);
  nde_shape in = nde_shape_vector(nin);
  cr_assert_eq(nde_model_build(NULL, json, "model", &in, backend, NDE_FLOAT64, &r->model), NDE_OK,
               "%s: %s", json, nde_last_error());
  r->root = nde_model_root(r->model);
  r->nin = nin;
  r->batch = batch;
  r->nout = nde_shape_size(nde_layer_output_shape(r->root));
  cr_assert_eq(nde_arena_create(backend, &r->arena), NDE_OK);
  r->ctx = (nde_layer_ctx){.backend = backend, .dtype = NDE_FLOAT64, .batch = batch,
                           .arena = r->arena, .metrics = &r->metrics};
}

static void close_run(run *r) {
  nde_arena_destroy(&r->arena);
  nde_model_destroy(&r->model);
}

static double metric(const run *r, const char *name) {
  for (int i = 0; i < r->metrics.n; ++i)
    if (!strcmp(r->metrics.names[i], name))
      return r->metrics.values[i];
  return NAN;
}

/* forward into y (nout × batch); returns the status */
static nde_status forward(run *r, const double *x, const double *p, double *y, nde_record **rec) {
  nde_arena_reset(r->arena);
  nde_layer_metrics_clear(&r->metrics);
  nde_record *rr;
  nde_status st = nde_layer_forward(r->root, &r->ctx, x, 0.0, p, &rr);
  if (st == NDE_OK && y)
    memcpy(y, nde_record_output(rr), r->nout * r->batch * sizeof(double));
  if (rec)
    *rec = rr;
  return st;
}

static double *params(const run *r) {
  size_t np = nde_model_param_count(r->model);
  double *p = malloc(np * sizeof *p);
  nde_rng rng = nde_rng_make(11, 2);
  cr_assert_eq(nde_model_init_params(r->model, &rng, p), NDE_OK);
  for (size_t i = 0; i < np; ++i)
    p[i] += 0.3 * nde_rng_normal(&rng);
  return p;
}

/* the batch input: state (0.3 + 0.2 i, −0.4 + 0.1 i), then the span */
static void batch_input(double *x) {
  for (size_t i = 0; i < B; ++i) {
    x[0 + (F + 2) * i] = 0.3 + 0.2 * (double)i;
    x[1 + (F + 2) * i] = -0.4 + 0.1 * (double)i;
    x[F + (F + 2) * i] = span[i][0];
    x[F + 1 + (F + 2) * i] = span[i][1];
  }
}

/*
 * The batch solved with per-sample spans against each sample alone on its
 * own span (the same parameters: both models hold the dynamics only).
 * @p solver_s / @p solver_t: the solver JSON of the batch and, with "%g"
 * for the step where fixed, of the single solve.
 */
static void expect_matches_alone(const char *solver_s, const char *solver_t, int fixed_n,
                                 double tol) {
  char json[2048];
  snprintf(json, sizeof json,
           "{\"layer\": \"neural_ode\", \"time_spans\": \"per_sample\", \"tspan\": [0, 1],"
           " \"saveat\": [0.25, 0.5, 1], \"solver\": %s, %s}",
           solver_s, dynamics);
  run rb;
  open_run(&rb, json, F + 2, B);
  cr_assert_eq(rb.nout, F * 3);
  double *p = params(&rb), x[(F + 2) * B], y[F * 3 * B];
  batch_input(x);
  cr_assert_eq(forward(&rb, x, p, y, NULL), NDE_OK, "%s", nde_last_error());
  for (size_t i = 0; i < B; ++i) {
    double t0 = span[i][0], d = span[i][1] - span[i][0];
    char sj[512];
    if (fixed_n)
      snprintf(sj, sizeof sj, solver_t, d / fixed_n);
    else
      snprintf(sj, sizeof sj, "%s", solver_t);
    snprintf(json, sizeof json,
             "{\"layer\": \"neural_ode\", \"tspan\": [%.17g, %.17g],"
             " \"saveat\": [%.17g, %.17g, %.17g], \"solver\": %s, %s}",
             t0, span[i][1], t0 + 0.25 * d, t0 + 0.5 * d, span[i][1], sj, dynamics);
    run r1;
    open_run(&r1, json, F, 1);
    cr_assert_eq(nde_model_param_count(r1.model), nde_model_param_count(rb.model));
    double y1[F * 3];
    cr_assert_eq(forward(&r1, x + (F + 2) * i, p, y1, NULL), NDE_OK, "%s", nde_last_error());
    for (size_t k = 0; k < F * 3; ++k)
      cr_expect(fabs(y1[k] - y[k + F * 3 * i]) <= tol * (1 + fabs(y1[k])),
                "sample %zu output %zu: batch %.17g alone %.17g", i, k, y[k + F * 3 * i], y1[k]);
    close_run(&r1);
  }
  free(p);
  close_run(&rb);
}

Test(time_spans, fixed_steps_match_each_sample_alone) {
  /* 16 steps of 1/16 in s are 16 steps of d/16 on the sample's own span */
  expect_matches_alone("{\"plugin\": \"tsit5\", \"adaptive\": false, \"dt\": 0.0625}",
                       "{\"plugin\": \"tsit5\", \"adaptive\": false, \"dt\": %.17g}", 16, 1e-12);
}

Test(time_spans, adaptive_steps_match_each_sample_alone_to_tolerance) {
  expect_matches_alone("{\"plugin\": \"tsit5\", \"abstol\": 1e-10, \"reltol\": 1e-10}",
                       "{\"plugin\": \"tsit5\", \"abstol\": 1e-10, \"reltol\": 1e-10}", 0, 1e-7);
}

Test(time_spans, one_step_sequence_and_nfe_per_batch) {
  const char *json =
      "{\"layer\": \"neural_ode\", \"time_spans\": \"per_sample\", \"tspan\": [0, 1],"
      " \"solver\": {\"plugin\": \"tsit5\", \"abstol\": 1e-6, \"reltol\": 1e-6}, %s}";
  char j[1024];
  snprintf(j, sizeof j, json, dynamics);
  /* one sample alone, then the batch of three copies of it: the same steps, the same NFE */
  run r1, r3;
  open_run(&r1, j, F + 2, 1);
  open_run(&r3, j, F + 2, B);
  double *p = params(&r1), x[(F + 2) * B], y1[F], y3[F * B];
  batch_input(x);
  for (size_t i = 1; i < B; ++i)
    memcpy(x + (F + 2) * i, x + (F + 2), (F + 2) * sizeof(double));
  memcpy(x, x + (F + 2), (F + 2) * sizeof(double));
  cr_assert_eq(forward(&r1, x, p, y1, NULL), NDE_OK, "%s", nde_last_error());
  double nfe1 = metric(&r1, "nfe_forward"), acc1 = metric(&r1, "steps_accepted");
  cr_assert_eq(forward(&r3, x, p, y3, NULL), NDE_OK, "%s", nde_last_error());
  double nfe3 = metric(&r3, "nfe_forward"), acc3 = metric(&r3, "steps_accepted");
  cr_expect(nfe1 > 6 && nfe1 == nfe3 && acc1 == acc3,
            "alone %g NFE / %g steps, batch of 3 copies %g / %g", nfe1, acc1, nfe3, acc3);
  /* the batch of three different spans: one solve, one NFE count, well under three solves */
  run ra;
  open_run(&ra, j, F + 2, 1);
  double sum = 0, most = 0;
  batch_input(x);
  for (size_t i = 0; i < B; ++i) {
    cr_assert_eq(forward(&ra, x + (F + 2) * i, p, NULL, NULL), NDE_OK, "%s", nde_last_error());
    sum += metric(&ra, "nfe_forward");
    most = fmax(most, metric(&ra, "nfe_forward"));
  }
  cr_assert_eq(forward(&r3, x, p, y3, NULL), NDE_OK, "%s", nde_last_error());
  double nfe = metric(&r3, "nfe_forward");
  cr_expect(nfe >= most && nfe < sum, "batch NFE %g: each alone at most %g, together %g", nfe,
            most, sum);
  free(p);
  close_run(&ra);
  close_run(&r1);
  close_run(&r3);
}

/* <dy, y> for the vjp check */
static double probe(run *r, const double *x, const double *p, const double *dy) {
  double y[64];
  cr_assert_eq(forward(r, x, p, y, NULL), NDE_OK, "%s", nde_last_error());
  double s = 0;
  for (size_t i = 0; i < r->nout * r->batch; ++i)
    s += dy[i] * y[i];
  return s;
}

static void expect_vjp(const char *sens, double tol) {
  char json[1024];
  snprintf(json, sizeof json,
           "{\"layer\": \"neural_ode\", \"time_spans\": \"per_sample\", \"tspan\": [0, 1],"
           " \"saveat\": [0.5, 1], \"sensitivity\": \"%s\","
           " \"solver\": {\"plugin\": \"tsit5\", \"adaptive\": false, \"dt\": 0.125}, %s}",
           sens, dynamics);
  run r;
  open_run(&r, json, F + 2, B);
  size_t np = nde_model_param_count(r.model);
  double *p = params(&r), x[(F + 2) * B], dy[F * 2 * B], dx[(F + 2) * B];
  double *dp = calloc(np, sizeof *dp);
  batch_input(x);
  nde_rng rng = nde_rng_make(3, 4);
  for (size_t i = 0; i < F * 2 * B; ++i)
    dy[i] = nde_rng_normal(&rng);
  nde_record *rec;
  cr_assert_eq(forward(&r, x, p, NULL, &rec), NDE_OK, "%s", nde_last_error());
  cr_assert_eq(nde_layer_vjp(r.root, &r.ctx, rec, dy, dx, dp, NULL), NDE_OK, "%s",
               nde_last_error());
  const double h = 1e-6;
  for (size_t k = 0; k < (F + 2) * B + np; ++k) {
    double *v = k < (F + 2) * B ? &x[k] : &p[k - (F + 2) * B];
    double keep = *v, an = k < (F + 2) * B ? dx[k] : dp[k - (F + 2) * B];
    *v = keep + h;
    double up = probe(&r, x, p, dy);
    *v = keep - h;
    double down = probe(&r, x, p, dy);
    *v = keep;
    double fd = (up - down) / (2 * h);
    cr_expect(fabs(an - fd) <= tol * (1 + fabs(fd)), "%s: %s[%zu]: vjp %.10g fd %.10g", sens,
              k < (F + 2) * B ? "dx" : "dparams", k < (F + 2) * B ? k : k - (F + 2) * B, an, fd);
  }
  /* the span ends get opposite gradients (autonomous dynamics), and they are not zero */
  for (size_t i = 0; i < B; ++i) {
    cr_expect(fabs(dx[F + (F + 2) * i] + dx[F + 1 + (F + 2) * i]) <= 1e-12);
    cr_expect(fabs(dx[F + 1 + (F + 2) * i]) > 1e-6, "sample %zu: span gradient %g", i,
              dx[F + 1 + (F + 2) * i]);
  }
  free(dp);
  free(p);
  close_run(&r);
}

Test(time_spans, vjp_matches_finite_differences_direct) { expect_vjp("direct", 1e-7); }

/* the continuous adjoints accumulate the span gradient like a parameter gradient
   (backsolve through the layer's fused evaluation and pullback, eval_vjp) */
Test(time_spans, vjp_matches_finite_differences_adjoints) {
  expect_vjp("interpolating_adjoint", 1e-4);
  expect_vjp("quadrature_adjoint", 1e-4);
  expect_vjp("backsolve_adjoint", 1e-4);
}

/* A neural_ode with @p keys and the test dynamics is refused with @p needle in the message. */
static void expect_refused(const char *keys, const char *needle) {
  char j[1024];
  snprintf(j, sizeof j, "{\"layer\": \"neural_ode\", %s, %s}", keys, dynamics);
  nde_shape in = nde_shape_vector(F + 2);
  nde_model *m = NULL;
  cr_expect_neq(nde_model_build(NULL, j, "model", &in, backend, NDE_FLOAT64, &m), NDE_OK, "%s", j);
  cr_expect(strstr(nde_last_error(), needle), "%s", nde_last_error());
  nde_model_destroy(&m);
}

Test(time_spans, bad_spans_name_the_sample) {
  const char *json =
      "{\"layer\": \"neural_ode\", \"time_spans\": \"per_sample\", \"tspan\": [0, 1], %s}";
  char j[1024];
  snprintf(j, sizeof j, json, dynamics);
  run r;
  open_run(&r, j, F + 2, B);
  double *p = params(&r), x[(F + 2) * B];
  batch_input(x);
  x[F + 1 + (F + 2) * 1] = x[F + (F + 2) * 1]; /* sample 1: t1 == t0 */
  cr_expect_eq(forward(&r, x, p, NULL, NULL), NDE_EINVAL);
  cr_expect(strstr(nde_last_error(), "batch sample 1") && strstr(nde_last_error(), "t0 < t1"),
            "%s", nde_last_error());
  batch_input(x);
  x[F + 1 + (F + 2) * 2] = -5; /* sample 2: ends before it starts */
  cr_expect_eq(forward(&r, x, p, NULL, NULL), NDE_EINVAL);
  cr_expect(strstr(nde_last_error(), "batch sample 2"), "%s", nde_last_error());
  batch_input(x);
  x[F] = NAN;
  cr_expect_eq(forward(&r, x, p, NULL, NULL), NDE_EINVAL);
  cr_expect(strstr(nde_last_error(), "batch sample 0"), "%s", nde_last_error());
  free(p);
  close_run(&r);
  /* the builder: the common interval is [0, 1], the option is one of two words */
  expect_refused("\"time_spans\": \"per_sample\", \"tspan\": [0, 2]", "model.tspan");
  expect_refused("\"time_spans\": \"each\", \"tspan\": [0, 1]", "model.time_spans");
}
