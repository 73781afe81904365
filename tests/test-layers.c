/*
 * Layers: every layer's vjp against central finite differences in float64
 * over random shapes (inputs, parameters and time), compositions
 * (chain/parallel/skip_connection), jvp/vjp duality, initialization
 * statistics, the parameter layout and the builder's messages.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include <nde/layer.h>
#include <nde/loss.h>
#include <nde/model.h>
#include <nde/nde.h>

static nde_backend *backend;

static void setup(void) {
  cr_assert_eq(nde_backend_open(NULL, "cpu", NULL, &backend), NDE_OK, "%s", nde_last_error());
}
static void teardown(void) { nde_backend_destroy(&backend); }

TestSuite(layers, .init = setup, .fini = teardown);

/* A model, its parameters, an input batch and an arena, all float64 on the CPU. */
typedef struct fixture {
  nde_model *model;
  const nde_layer *root;
  size_t np, nin, nout, batch;
  double *params, *x, *dy;
  nde_arena *arena;
  nde_layer_ctx ctx;
  nde_layer_metrics metrics;
} fixture;

static void fixture_make(fixture *f, const char *json, nde_shape in, size_t batch, uint64_t seed) {
  memset(f, 0, sizeof *f);
  nde_status st = nde_model_build(NULL, json, "model", &in, backend, NDE_FLOAT64, &f->model);
  cr_assert_eq(st, NDE_OK, "%s: %s", json, nde_last_error());
  f->root = nde_model_root(f->model);
  f->np = nde_model_param_count(f->model);
  f->nin = nde_shape_size(&in);
  f->nout = nde_shape_size(nde_layer_output_shape(f->root));
  f->batch = batch;
  f->params = calloc(f->np + 1, sizeof(double));
  f->x = malloc(f->nin * batch * sizeof(double));
  f->dy = malloc(f->nout * batch * sizeof(double));
  nde_rng rng = nde_rng_make(seed, 7);
  cr_assert_eq(nde_model_init_params(f->model, &rng, f->params), NDE_OK);
  /* perturb so zero-initialized biases are not special */
  for (size_t i = 0; i < f->np; ++i)
    f->params[i] += 0.3 * nde_rng_normal(&rng);
  for (size_t i = 0; i < f->nin * batch; ++i)
    f->x[i] = nde_rng_normal(&rng);
  for (size_t i = 0; i < f->nout * batch; ++i)
    f->dy[i] = nde_rng_normal(&rng);
  cr_assert_eq(nde_arena_create(backend, &f->arena), NDE_OK);
  f->ctx = (nde_layer_ctx){.backend = backend, .dtype = NDE_FLOAT64, .batch = batch,
                           .arena = f->arena, .step = 0, .training = 1, .seed = seed,
                           .metrics = &f->metrics};
}

static void fixture_free(fixture *f) {
  nde_arena_destroy(&f->arena);
  nde_model_destroy(&f->model);
  free(f->params);
  free(f->x);
  free(f->dy);
}

/* <dy, f(x, t; p)> */
static double probe(fixture *f, const double *x, double t, const double *p) {
  nde_arena_reset(f->arena);
  nde_record *rec;
  nde_status st = nde_layer_forward(f->root, &f->ctx, x, t, p, &rec);
  cr_assert_eq(st, NDE_OK, "%s", nde_last_error());
  const double *y = nde_record_output(rec);
  double s = 0;
  for (size_t i = 0; i < f->nout * f->batch; ++i)
    s += f->dy[i] * y[i];
  return s;
}

static void expect_close(const char *what, size_t i, double analytic, double numeric) {
  double tol = 1e-6 * (1 + fabs(numeric));
  cr_expect(fabs(analytic - numeric) <= tol, "%s[%zu]: vjp %.12g vs finite difference %.12g",
            what, i, analytic, numeric);
}

/* Check vjp w.r.t. x, params and t against central differences. */
static void check_vjp(const char *json, nde_shape in, size_t batch, uint64_t seed, double t) {
  fixture f;
  fixture_make(&f, json, in, batch, seed);
  nde_arena_reset(f.arena);
  nde_record *rec;
  cr_assert_eq(nde_layer_forward(f.root, &f.ctx, f.x, t, f.params, &rec), NDE_OK, "%s",
               nde_last_error());
  double *dx = malloc(f.nin * batch * sizeof(double));
  double *dp = calloc(f.np + 1, sizeof(double));
  double dt = 0;
  cr_assert_eq(nde_layer_vjp(f.root, &f.ctx, rec, f.dy, dx, dp, &dt), NDE_OK, "%s",
               nde_last_error());
  const double h = 1e-6;
  double *xp = malloc(f.nin * batch * sizeof(double));
  memcpy(xp, f.x, f.nin * batch * sizeof(double));
  for (size_t i = 0; i < f.nin * batch; ++i) {
    double keep = xp[i];
    xp[i] = keep + h;
    double up = probe(&f, xp, t, f.params);
    xp[i] = keep - h;
    double down = probe(&f, xp, t, f.params);
    xp[i] = keep;
    expect_close("dx", i, dx[i], (up - down) / (2 * h));
  }
  double *pp = malloc((f.np + 1) * sizeof(double));
  memcpy(pp, f.params, f.np * sizeof(double));
  for (size_t i = 0; i < f.np; ++i) {
    double keep = pp[i];
    pp[i] = keep + h;
    double up = probe(&f, f.x, t, pp);
    pp[i] = keep - h;
    double down = probe(&f, f.x, t, pp);
    pp[i] = keep;
    expect_close("dparams", i, dp[i], (up - down) / (2 * h));
  }
  double up = probe(&f, f.x, t + h, f.params), down = probe(&f, f.x, t - h, f.params);
  expect_close("dt", 0, dt, (up - down) / (2 * h));

  /* jvp against central differences along a random direction (x, params, t) */
  {
    size_t nx = f.nin * batch, ny = f.nout * batch;
    double *tx = malloc(nx * sizeof(double)), *tp = malloc((f.np + 1) * sizeof(double));
    double *ty = malloc(ny * sizeof(double)), *yminus = malloc(ny * sizeof(double));
    double *xs = malloc(nx * sizeof(double)), *ps = malloc((f.np + 1) * sizeof(double));
    nde_rng trng = nde_rng_make(seed, 99);
    for (size_t i = 0; i < nx; ++i)
      tx[i] = nde_rng_normal(&trng);
    for (size_t i = 0; i < f.np; ++i)
      tp[i] = nde_rng_normal(&trng);
    double tt = nde_rng_normal(&trng);
    nde_arena_reset(f.arena);
    cr_assert_eq(nde_layer_forward(f.root, &f.ctx, f.x, t, f.params, &rec), NDE_OK);
    cr_assert_eq(nde_layer_jvp(f.root, &f.ctx, rec, tx, tp, tt, ty), NDE_OK, "%s",
                 nde_last_error());
    double *yplus = malloc(ny * sizeof(double));
    for (int side = 0; side < 2; ++side) {
      double s = side ? -h : h;
      for (size_t i = 0; i < nx; ++i)
        xs[i] = f.x[i] + s * tx[i];
      for (size_t i = 0; i < f.np; ++i)
        ps[i] = f.params[i] + s * tp[i];
      nde_arena_reset(f.arena);
      cr_assert_eq(nde_layer_forward(f.root, &f.ctx, xs, t + s * tt, ps, &rec), NDE_OK);
      memcpy(side ? yminus : yplus, nde_record_output(rec), ny * sizeof(double));
    }
    for (size_t i = 0; i < ny; ++i)
      expect_close("jvp", i, ty[i], (yplus[i] - yminus[i]) / (2 * h));
    free(yplus);
    free(tx);
    free(tp);
    free(ty);
    free(yminus);
    free(xs);
    free(ps);
  }

  /* vjp accumulates into dparams and skips what is not wanted */
  nde_arena_reset(f.arena);
  cr_assert_eq(nde_layer_forward(f.root, &f.ctx, f.x, t, f.params, &rec), NDE_OK);
  double *dp2 = calloc(f.np + 1, sizeof(double));
  for (size_t i = 0; i < f.np; ++i)
    dp2[i] = 1.0;
  cr_assert_eq(nde_layer_vjp(f.root, &f.ctx, rec, f.dy, NULL, dp2, NULL), NDE_OK);
  for (size_t i = 0; i < f.np; ++i)
    cr_expect(fabs(dp2[i] - 1.0 - dp[i]) <= 1e-12 * (1 + fabs(dp[i])), "accumulate dparams[%zu]",
              i);
  free(dp2);
  free(pp);
  free(xp);
  free(dx);
  free(dp);
  fixture_free(&f);
}

static size_t pick(nde_rng *rng, size_t lo, size_t hi) { return lo + nde_rng_below(rng, hi - lo + 1); }

static const char *const activations[] = {"identity", "tanh",     "relu",  "sigmoid",
                                          "softplus", "gelu",     "swish", "cube"};

Test(layers, dense_vjp_every_activation_random_shapes) {
  nde_rng rng = nde_rng_make(11, 0);
  for (size_t a = 0; a < 8; ++a)
    for (int bias = 0; bias < 2; ++bias) {
      size_t in = pick(&rng, 1, 6), out = pick(&rng, 1, 6), batch = pick(&rng, 1, 4);
      char json[256];
      snprintf(json, sizeof json, "{\"layer\": \"dense\", \"out\": %zu, \"activation\": \"%s\", \"bias\": %s}",
               out, activations[a], bias ? "true" : "false");
      check_vjp(json, nde_shape_vector(in), batch, 100 + a, 0.3);
    }
}

Test(layers, activation_layers_vjp_random_shapes) {
  nde_rng rng = nde_rng_make(12, 0);
  for (size_t a = 0; a < 8; ++a) {
    nde_shape in = {2, {pick(&rng, 1, 4), pick(&rng, 1, 3), 0, 0}};
    char json[64];
    snprintf(json, sizeof json, "\"%s\"", activations[a]);
    check_vjp(json, in, pick(&rng, 1, 4), 200 + a, 0.0);
  }
}

Test(layers, gru_cell_vjp_random_shapes) {
  nde_rng rng = nde_rng_make(13, 0);
  for (int k = 0; k < 4; ++k) {
    size_t hidden = pick(&rng, 1, 5), obs = pick(&rng, 1, 4), batch = pick(&rng, 1, 4);
    char json[128];
    snprintf(json, sizeof json, "{\"layer\": \"gru_cell\", \"hidden\": %zu}", hidden);
    check_vjp(json, nde_shape_vector(hidden + obs), batch, 300 + (uint64_t)k, 0.0);
  }
  /* inside a chain, behind a dense layer: the cotangent of the whole input [h; x] flows back */
  check_vjp("{\"chain\": [{\"layer\": \"dense\", \"out\": 6, \"activation\": \"tanh\"},"
            " {\"layer\": \"gru_cell\", \"hidden\": 4}, {\"layer\": \"dense\", \"out\": 2}]}",
            nde_shape_vector(3), 2, 310, 0.0);
}

Test(layers, time_concat_vjp_includes_time) {
  check_vjp("{\"chain\": [\"time_concat\", {\"layer\": \"dense\", \"out\": 4, \"activation\": \"tanh\"},"
            " \"time_concat\", {\"layer\": \"dense\", \"out\": 3, \"activation\": \"tanh\"}]}",
            nde_shape_vector(5), 3, 31, 0.7);
  /* time_concat fused into the dense layers (their pullbacks give the time
     column's gradient and ∂/∂t): shapes above the fused epilogue's threshold,
     no bias with the identity, t < 0 */
  check_vjp("{\"chain\": [\"time_concat\", {\"layer\": \"dense\", \"out\": 70, \"activation\": \"tanh\"},"
            " \"time_concat\", {\"layer\": \"dense\", \"out\": 9, \"bias\": false}]}",
            nde_shape_vector(5), 64, 32, -1.3);
  /* not fused: time_concat last, or before a layer without a time-row form */
  check_vjp("{\"chain\": [{\"layer\": \"dense\", \"out\": 3}, \"time_concat\"]}",
            nde_shape_vector(4), 2, 33, 0.6);
  check_vjp("{\"chain\": [\"time_concat\", \"tanh\", {\"layer\": \"dense\", \"out\": 2}]}",
            nde_shape_vector(3), 2, 34, 0.4);
}

Test(layers, flatten_and_reshape_vjp) {
  nde_shape img = {3, {3, 2, 2, 0}};
  check_vjp("{\"chain\": [\"flatten\", {\"layer\": \"dense\", \"out\": 6}, "
            "{\"layer\": \"reshape\", \"shape\": [2, -1]}, \"swish\", \"flatten\"]}",
            img, 2, 41, 0.0);
}

Test(layers, compositions_vjp) {
  check_vjp("{\"chain\": [{\"layer\": \"dense\", \"out\": 5, \"activation\": \"gelu\"},"
            " {\"skip_connection\": {\"chain\": [{\"layer\": \"dense\", \"out\": 5, \"activation\": \"tanh\"},"
            "   {\"layer\": \"dense\", \"out\": 5}]}},"
            " {\"parallel\": [{\"layer\": \"dense\", \"out\": 2}, \"softplus\", {\"chain\": []}]},"
            " {\"parallel\": [{\"layer\": \"dense\", \"out\": 3}, {\"layer\": \"dense\", \"out\": 3, \"activation\": \"sigmoid\"}],"
            "  \"combine\": \"add\"}]}",
            nde_shape_vector(4), 3, 51, 0.0);
  check_vjp("{\"skip_connection\": {\"chain\": [\"time_concat\", {\"layer\": \"dense\", \"out\": 3}]}}",
            nde_shape_vector(3), 2, 52, -0.4);
}

/* <dy, J·v> == <Jᵀ·dy, v> for the jvp of leaf layers, through the vtable. */
Test(layers, jvp_is_adjoint_of_vjp) {
  const char *names[] = {"dense", "tanh", "gelu", "time_concat", "reshape", "gru_cell"};
  for (size_t k = 0; k < 6; ++k) {
    const void *vt;
    cr_assert_eq(nde_registry_load(NULL, NDE_KIND_LAYER, names[k], &vt), NDE_OK, "%s",
                 nde_last_error());
    const nde_layer_ops *ops = vt;
    cr_assert(NDE_VTABLE_HAS(ops, nde_layer_ops, jvp));
    nde_options *opt;
    const char *js = k == 0 ? "{\"out\": 3, \"activation\": \"softplus\"}"
                     : k == 4 ? "{\"shape\": [-1]}" : k == 5 ? "{\"hidden\": 3}" : "{}";
    cr_assert_eq(nde_options_parse(js, &opt), NDE_OK);
    nde_layer_spec spec;
    memset(&spec, 0, sizeof spec);
    void *self;
    nde_shape in = nde_shape_vector(4);
    cr_assert_eq(ops->create(opt, &in, &spec, &self), NDE_OK, "%s", nde_last_error());
    nde_options_destroy(&opt);
    size_t B = 2, nin = 4 * B, nout = nde_shape_size(&spec.output) * B, np = 0;
    for (int i = 0; i < spec.n_blocks; ++i) {
      size_t s = 1;
      for (int d = 0; d < spec.blocks[i].ndim; ++d)
        s *= spec.blocks[i].shape[d];
      np += s;
    }
    double x[8], tx[8], dx[8], y[64], saved[64], scratch[64], dy[64], jv[64], p[64], tp[64],
        dp[64] = {0};
    nde_rng rng = nde_rng_make(k, 3);
    for (size_t i = 0; i < 64; ++i) {
      p[i] = nde_rng_normal(&rng);
      tp[i] = nde_rng_normal(&rng);
      dy[i] = nde_rng_normal(&rng);
      if (i < 8) {
        x[i] = nde_rng_normal(&rng);
        tx[i] = nde_rng_normal(&rng);
      }
    }
    nde_layer_ctx ctx = {backend, NDE_FLOAT64, B, NULL, 0, 1, 0, NULL, 0, 0, 0.0, NULL};
    double t = 0.25, tt = 0.5, dt = 0;
    cr_assert_eq(ops->forward(self, &ctx, x, t, p, y, saved), NDE_OK);
    cr_assert_eq(ops->jvp(self, &ctx, x, t, p, y, saved, tx, np ? tp : NULL, tt, jv, scratch),
                 NDE_OK);
    cr_assert_eq(ops->vjp(self, &ctx, x, t, p, y, saved, dy, dx, dp, spec.uses_time ? &dt : NULL,
                          scratch),
                 NDE_OK);
    double lhs = 0, rhs = spec.uses_time ? dt * tt : 0;
    for (size_t i = 0; i < nout; ++i)
      lhs += dy[i] * jv[i];
    for (size_t i = 0; i < nin; ++i)
      rhs += dx[i] * tx[i];
    for (size_t i = 0; i < np; ++i)
      rhs += dp[i] * tp[i];
    cr_expect(fabs(lhs - rhs) < 1e-10 * (1 + fabs(lhs)), "%s: <dy, Jv> = %g, <J'dy, v> = %g",
              names[k], lhs, rhs);
    ops->destroy(self);
  }
}

Test(layers, layout_names_offsets_and_shapes) {
  nde_model *m;
  nde_shape in = nde_shape_vector(784);
  cr_assert_eq(nde_model_build(NULL,
                               "{\"chain\": [{\"layer\": \"dense\", \"out\": 100, \"activation\": \"tanh\"},"
                               " {\"skip_connection\": {\"layer\": \"dense\", \"out\": 100}},"
                               " {\"layer\": \"dense\", \"out\": 10, \"bias\": false}]}",
                               "model", &in, backend, NDE_FLOAT32, &m),
               NDE_OK, "%s", nde_last_error());
  cr_expect_eq(nde_model_param_count(m), 784 * 100 + 100 + 100 * 100 + 100 + 100 * 10);
  cr_assert_eq(nde_model_block_count(m), 5);
  const char *names[] = {"model.chain[0].weight", "model.chain[0].bias",
                         "model.chain[1].skip_connection.weight",
                         "model.chain[1].skip_connection.bias", "model.chain[2].weight"};
  size_t offset = 0;
  for (size_t i = 0; i < 5; ++i) {
    const nde_layout_entry *e = nde_model_block(m, i);
    cr_expect_str_eq(e->name, names[i]);
    cr_expect_eq(e->offset, offset);
    offset += e->size;
    cr_expect_eq(nde_model_find_block(m, names[i]), e);
  }
  const nde_layout_entry *w = nde_model_find_block(m, "model.chain[0].weight");
  cr_expect(w->ndim == 2 && w->shape[0] == 100 && w->shape[1] == 784);
  const nde_layer *root = nde_model_root(m);
  cr_expect_str_eq(nde_layer_name(root), "chain");
  cr_expect_eq(nde_shape_size(nde_layer_output_shape(root)), 10);
  nde_model_destroy(&m);
}

Test(layers, glorot_uniform_and_zero_bias_statistics) {
  nde_model *m;
  nde_shape in = nde_shape_vector(300);
  cr_assert_eq(nde_model_build(NULL, "{\"layer\": \"dense\", \"out\": 200}", "model", &in, backend,
                               NDE_FLOAT64, &m),
               NDE_OK);
  size_t n = nde_model_param_count(m);
  double *p = malloc(n * sizeof *p), *q = malloc(n * sizeof *q);
  nde_rng rng = nde_rng_make(5, 0);
  cr_assert_eq(nde_model_init_params(m, &rng, p), NDE_OK);
  double a = sqrt(6.0 / 500.0), mean = 0, var = 0;
  size_t nw = 200 * 300;
  for (size_t i = 0; i < nw; ++i) {
    cr_assert(fabs(p[i]) <= a);
    mean += p[i];
    var += p[i] * p[i];
  }
  mean /= (double)nw;
  var = var / (double)nw - mean * mean;
  double expected = a * a / 3; /* = 2 / (fan_in + fan_out) */
  cr_expect(fabs(mean) < 4 * sqrt(expected / (double)nw), "mean %g", mean);
  cr_expect(fabs(var / expected - 1) < 0.03, "variance %g, expected %g", var, expected);
  for (size_t i = nw; i < n; ++i)
    cr_expect_eq(p[i], 0.0);
  /* reproducible from the seed, different for another seed */
  cr_assert_eq(nde_model_init_params(m, &rng, q), NDE_OK);
  cr_expect_eq(memcmp(p, q, n * sizeof *p), 0);
  nde_rng other = nde_rng_make(6, 0);
  cr_assert_eq(nde_model_init_params(m, &other, q), NDE_OK);
  cr_expect_neq(memcmp(p, q, nw * sizeof *p), 0);
  free(p);
  free(q);
  nde_model_destroy(&m);
}

Test(layers, selectable_initializers) {
  nde_model *m;
  nde_shape in = nde_shape_vector(400);
  cr_assert_eq(nde_model_build(NULL,
                               "{\"layer\": \"dense\", \"out\": 100, \"weight_init\": \"kaiming_normal\","
                               " \"init_gain\": 2.0, \"bias_init\": \"ones\"}",
                               "model", &in, backend, NDE_FLOAT64, &m),
               NDE_OK, "%s", nde_last_error());
  size_t n = nde_model_param_count(m), nw = 40000;
  double *p = malloc(n * sizeof *p), var = 0;
  nde_rng rng = nde_rng_make(9, 0);
  cr_assert_eq(nde_model_init_params(m, &rng, p), NDE_OK);
  for (size_t i = 0; i < nw; ++i)
    var += p[i] * p[i];
  var /= (double)nw;
  cr_expect(fabs(var / (4.0 / 400.0) - 1) < 0.03, "variance %g", var);
  for (size_t i = nw; i < n; ++i)
    cr_expect_eq(p[i], 1.0);
  free(p);
  nde_model_destroy(&m);
}

Test(layers, float32_forward_matches_float64) {
  const char *json = "{\"chain\": [{\"layer\": \"dense\", \"out\": 7, \"activation\": \"tanh\"},"
                     " {\"layer\": \"dense\", \"out\": 3}]}";
  nde_shape in = nde_shape_vector(5);
  nde_model *m32, *m64;
  cr_assert_eq(nde_model_build(NULL, json, "model", &in, backend, NDE_FLOAT32, &m32), NDE_OK);
  cr_assert_eq(nde_model_build(NULL, json, "model", &in, backend, NDE_FLOAT64, &m64), NDE_OK);
  size_t n = nde_model_param_count(m64);
  double p64[128], x64[10], *y64;
  float p32[128], x32[10], *y32;
  cr_assert(n <= 128);
  nde_rng rng = nde_rng_make(1, 1);
  cr_assert_eq(nde_model_init_params(m64, &rng, p64), NDE_OK);
  for (size_t i = 0; i < n; ++i)
    p32[i] = (float)p64[i];
  for (size_t i = 0; i < 10; ++i)
    x32[i] = (float)(x64[i] = nde_rng_normal(&rng));
  nde_arena *arena;
  cr_assert_eq(nde_arena_create(backend, &arena), NDE_OK);
  nde_layer_ctx c64 = {.backend = backend, .dtype = NDE_FLOAT64, .batch = 2, .arena = arena},
                c32 = c64;
  c32.dtype = NDE_FLOAT32;
  nde_record *r64, *r32;
  cr_assert_eq(nde_layer_forward(nde_model_root(m64), &c64, x64, 0, p64, &r64), NDE_OK);
  cr_assert_eq(nde_layer_forward(nde_model_root(m32), &c32, x32, 0, p32, &r32), NDE_OK);
  y64 = nde_record_output(r64);
  y32 = nde_record_output(r32);
  for (size_t i = 0; i < 6; ++i)
    cr_expect(fabs(y64[i] - y32[i]) < 1e-5, "y[%zu]: %g vs %g", i, y64[i], (double)y32[i]);
  nde_arena_destroy(&arena);
  nde_model_destroy(&m32);
  nde_model_destroy(&m64);
}

/* Many evaluations, then vjps in any order: the arena stops growing after the first pass. */
Test(layers, records_many_evaluations_and_arena_reuse) {
  fixture f;
  fixture_make(&f, "{\"chain\": [\"time_concat\", {\"layer\": \"dense\", \"out\": 4, \"activation\": \"tanh\"}]}",
               nde_shape_vector(4), 3, 61);
  size_t capacity = 0;
  for (int pass = 0; pass < 3; ++pass) {
    nde_arena_reset(f.arena);
    nde_record *recs[20];
    for (int k = 0; k < 20; ++k)
      cr_assert_eq(nde_layer_forward(f.root, &f.ctx, f.x, 0.1 * k, f.params, &recs[k]), NDE_OK);
    double dt_a = 0, dt_b = 0;
    double dx[12];
    cr_assert_eq(nde_layer_vjp(f.root, &f.ctx, recs[7], f.dy, dx, NULL, &dt_a), NDE_OK);
    cr_assert_eq(nde_layer_vjp(f.root, &f.ctx, recs[2], f.dy, dx, NULL, &dt_b), NDE_OK);
    cr_expect_neq(dt_a, dt_b); /* different time points give different pullbacks */
    double again = 0;
    cr_assert_eq(nde_layer_vjp(f.root, &f.ctx, recs[7], f.dy, NULL, NULL, &again), NDE_OK);
    cr_expect_eq(again, dt_a);
    if (pass == 0)
      capacity = nde_arena_capacity(f.arena);
    else
      cr_expect_eq(nde_arena_capacity(f.arena), capacity);
  }
  fixture_free(&f);
}

static void expect_build_error(const char *json, nde_shape in, const char *needle) {
  nde_model *m = NULL;
  nde_status st = nde_model_build(NULL, json, "model", &in, backend, NDE_FLOAT32, &m);
  cr_expect_neq(st, NDE_OK, "%s should fail", json);
  cr_expect(strstr(nde_last_error(), needle) != NULL, "message '%s' lacks '%s'", nde_last_error(),
            needle);
  cr_expect_null(m);
}

Test(layers, builder_messages_name_the_json_path) {
  nde_shape v = nde_shape_vector(4);
  expect_build_error("{\"chain\": [\"tanh\", {\"layer\": \"dens\", \"out\": 3}]}", v, "model.chain[1]");
  expect_build_error("{\"chain\": [\"tanh\", {\"layer\": \"dens\", \"out\": 3}]}", v, "dense");
  expect_build_error("{\"chain\": [{\"layer\": \"dense\", \"out\": 0}]}", v, "model.chain[0].out");
  expect_build_error("{\"chain\": [{\"layer\": \"dense\", \"outt\": 3}]}", v, "model.chain[0]");
  expect_build_error("{\"chain\": [{\"layer\": \"dense\"}]}", v, "out");
  expect_build_error("{\"chain\": [{\"layer\": \"dense\", \"out\": 2, \"activation\": \"tanhh\"}]}",
                     v, "model.chain[0].activation");
  nde_shape img = {2, {2, 2, 0, 0}};
  expect_build_error("{\"layer\": \"dense\", \"out\": 2}", img, "flatten");
  expect_build_error("{\"skip_connection\": {\"layer\": \"dense\", \"out\": 3}}", v,
                     "model.skip_connection");
  expect_build_error("{\"parallel\": [\"tanh\"], \"combine\": \"sum\"}", v, "model.combine");
  expect_build_error("{\"chain\": 3}", v, "model.chain");
  expect_build_error("{\"chain\": [], \"extra\": 1}", v, "model.extra");
  expect_build_error("[1]", v, "model");
  expect_build_error("{\"layer\": \"reshape\", \"shape\": [3, -1]}", v, "shape");
}

Test(layers, losses_gradients_and_values) {
  /* mse */
  double y[6] = {0.5, -1, 2, 0.25, 3, -2}, t[6] = {1, -1, 0, 0, 2, 2}, g[6];
  double v;
  size_t correct;
  cr_assert_eq(nde_loss_eval(backend, NDE_FLOAT64, NDE_LOSS_MSE, 3, 2, y, t, 1.0, &v, g, &correct),
               NDE_OK);
  double expect = (0.25 + 0 + 4 + 0.0625 + 1 + 16) / 6;
  cr_expect(fabs(v - expect) < 1e-14);
  const double h = 1e-6;
  for (int i = 0; i < 6; ++i) {
    double keep = y[i], up, down, gg[6];
    y[i] = keep + h;
    nde_loss_eval(backend, NDE_FLOAT64, NDE_LOSS_MSE, 3, 2, y, t, 1.0, &up, gg, NULL);
    y[i] = keep - h;
    nde_loss_eval(backend, NDE_FLOAT64, NDE_LOSS_MSE, 3, 2, y, t, 1.0, &down, NULL, NULL);
    y[i] = keep;
    cr_expect(fabs(g[i] - (up - down) / (2 * h)) < 1e-7);
  }
  /* cross entropy: values, gradients, accuracy */
  double z[12], labels[3] = {2, 0, 3}, gz[12];
  nde_rng rng = nde_rng_make(3, 3);
  for (int i = 0; i < 12; ++i)
    z[i] = 2 * nde_rng_normal(&rng);
  cr_assert_eq(nde_loss_eval(backend, NDE_FLOAT64, NDE_LOSS_CROSS_ENTROPY, 4, 3, z, labels, 1.0,
                             &v, gz, &correct),
               NDE_OK);
  double ref = 0;
  size_t right = 0;
  for (int c = 0; c < 3; ++c) {
    double s = 0;
    int best = 0;
    for (int r = 0; r < 4; ++r) {
      s += exp(z[r + 4 * c]);
      if (z[r + 4 * c] > z[best + 4 * c])
        best = r;
    }
    ref += log(s) - z[(int)labels[c] + 4 * c];
    right += best == (int)labels[c];
  }
  cr_expect(fabs(v - ref / 3) < 1e-12, "%g vs %g", v, ref / 3);
  cr_expect_eq(correct, right);
  for (int i = 0; i < 12; ++i) {
    double keep = z[i], up, down;
    z[i] = keep + h;
    nde_loss_eval(backend, NDE_FLOAT64, NDE_LOSS_CROSS_ENTROPY, 4, 3, z, labels, 1.0, &up, NULL, NULL);
    z[i] = keep - h;
    nde_loss_eval(backend, NDE_FLOAT64, NDE_LOSS_CROSS_ENTROPY, 4, 3, z, labels, 1.0, &down, NULL, NULL);
    z[i] = keep;
    cr_expect(fabs(gz[i] - (up - down) / (2 * h)) < 1e-7, "dz[%d]", i);
  }
  /* huge logits stay finite (log-sum-exp with the max subtracted), in float32 too */
  float big[4] = {1e4f, -1e4f, 3e4f, 0}, lab[2] = {0, 1}, gb[4];
  cr_assert_eq(nde_loss_eval(backend, NDE_FLOAT32, NDE_LOSS_CROSS_ENTROPY, 2, 2, big, lab, 1.0, &v,
                             gb, &correct),
               NDE_OK);
  cr_expect(isfinite(v) && fabs(v - 3e4 / 2) < 1, "%g", v);
  cr_expect_eq(correct, 1);
  nde_loss loss;
  cr_expect_eq(nde_loss_parse("cross_entropy", &loss), NDE_OK);
  cr_expect_eq(loss, NDE_LOSS_CROSS_ENTROPY);
  cr_expect_neq(nde_loss_parse("crossentropy", &loss), NDE_OK);
  cr_expect(strstr(nde_last_error(), "cross_entropy") != NULL);
}

/* The model's full gradient = loss gradient pulled back, checked end to end. */
Test(layers, loss_through_model_gradient) {
  fixture f;
  fixture_make(&f, "{\"chain\": [{\"layer\": \"dense\", \"out\": 5, \"activation\": \"relu\"}, {\"layer\": \"dense\", \"out\": 3}]}",
               nde_shape_vector(4), 4, 71);
  double labels[4] = {0, 2, 1, 2};
  nde_arena_reset(f.arena);
  nde_record *rec;
  cr_assert_eq(nde_layer_forward(f.root, &f.ctx, f.x, 0, f.params, &rec), NDE_OK);
  double gy[12], v, *dp = calloc(f.np, sizeof *dp);
  cr_assert_eq(nde_loss_eval(backend, NDE_FLOAT64, NDE_LOSS_CROSS_ENTROPY, 3, 4,
                             nde_record_output(rec), labels, 1.0, &v, gy, NULL),
               NDE_OK);
  cr_assert_eq(nde_layer_vjp(f.root, &f.ctx, rec, gy, NULL, dp, NULL), NDE_OK);
  const double h = 1e-6;
  for (size_t i = 0; i < f.np; ++i) {
    double keep = f.params[i], up, down;
    f.params[i] = keep + h;
    nde_arena_reset(f.arena);
    nde_layer_forward(f.root, &f.ctx, f.x, 0, f.params, &rec);
    nde_loss_eval(backend, NDE_FLOAT64, NDE_LOSS_CROSS_ENTROPY, 3, 4, nde_record_output(rec), labels,
                  1.0, &up, NULL, NULL);
    f.params[i] = keep - h;
    nde_arena_reset(f.arena);
    nde_layer_forward(f.root, &f.ctx, f.x, 0, f.params, &rec);
    nde_loss_eval(backend, NDE_FLOAT64, NDE_LOSS_CROSS_ENTROPY, 3, 4, nde_record_output(rec), labels,
                  1.0, &down, NULL, NULL);
    f.params[i] = keep;
    expect_close("dloss/dparams", i, dp[i], (up - down) / (2 * h));
  }
  free(dp);
  fixture_free(&f);
}

Test(layers, auxiliary_losses_and_statistics) {
  nde_layer_metrics m;
  nde_layer_metrics_clear(&m);
  nde_layer_ctx ctx = {backend, NDE_FLOAT64, 1, NULL, 0, 1, 0, &m, 0, 0, 0.0, NULL};
  nde_layer_add_loss(&ctx, "reg", 0.5, 4.0);
  nde_layer_add_loss(&ctx, "reg", 0.5, 2.0);
  nde_layer_report(&ctx, "nfe", 6);
  nde_layer_report(&ctx, "nfe", 8);
  cr_expect_eq(m.aux_loss, 3.0);
  cr_expect_eq(m.n, 2);
  cr_expect_str_eq(m.names[0], "reg");
  cr_expect_eq(m.values[0], 6.0);
  cr_expect_eq(m.values[1], 14.0);
  ctx.metrics = NULL;
  nde_layer_report(&ctx, "nfe", 1); /* no sink: ignored */
}

/* The CPU backend's float32 tanh (a vectorized polynomial form) against libm in double. */
Test(layers, float32_tanh_accuracy) {
  enum { N = 400001 };
  float *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y);
  for (size_t i = 0; i < N; ++i)
    x[i] = (float)(-20.0 + 40.0 * (double)i / (N - 1));
  backend->ops->activation(backend->ctx, NDE_FLOAT32, NDE_ACT_TANH, N, x, y);
  double worst = 0;
  for (size_t i = 0; i < N; ++i) {
    double ref = tanh((double)x[i]);
    float r = (float)fabs(ref);
    double ulp = (double)(nextafterf(r, 2.0f) - r);
    double err = fabs((double)y[i] - ref) / ulp;
    if (err > worst)
      worst = err;
  }
  cr_expect(worst <= 4.0, "worst error %.2f ulp", worst);
  float special[5] = {0.0f, -0.0f, INFINITY, -INFINITY, NAN}, out[5];
  backend->ops->activation(backend->ctx, NDE_FLOAT32, NDE_ACT_TANH, 5, special, out);
  cr_expect(out[0] == 0 && !signbit(out[0]) && out[1] == 0 && signbit(out[1]));
  cr_expect(out[2] == 1.0f && out[3] == -1.0f && isnan(out[4]));
  free(x);
  free(y);
}

/*
 * Every built-in layer: the keys it lists (nde plugin NAME) are the keys
 * its builder accepts. An unknown key is refused with exactly that list,
 * and each listed key gets past the key check (whatever else is wrong).
 */
Test(layers, builtin_layer_keys_are_the_keys_the_builder_accepts) {
  size_t n = nde_builtin_layer_count();
  cr_assert_geq(n, 9);
  cr_expect_eq(nde_builtin_layer_find("neural_ode") >= 0, 1);
  cr_expect_eq(nde_builtin_layer_find("no_such_layer"), -1);
  cr_expect_null(nde_builtin_layer_name(n));
  for (size_t i = 0; i < n; ++i) {
    const char *name = nde_builtin_layer_name(i);
    cr_assert_not_null(name);
    cr_expect_gt(strlen(nde_builtin_layer_summary(i)), 10, "%s: no summary", name);
    char *text = nde_builtin_layer_keys_json(i);
    cr_assert_not_null(text, "%s: keys are not JSON (a bad default or choices text)", name);
    json_t *keys = json_loads(text, 0, NULL);
    free(text);
    cr_assert(json_is_object(keys) && json_object_size(keys) > 0, "%s", name);
    char expected[800] = "", spec[300];
    const char *key;
    json_t *k;
    json_object_foreach(keys, key, k) {
      snprintf(expected + strlen(expected), sizeof expected - strlen(expected), "%s%s",
               *expected ? ", " : "", key);
      cr_expect(json_is_string(json_object_get(k, "doc")), "%s.%s: no doc", name, key);
      /* a listed key is not refused as unknown */
      nde_model *m = NULL;
      nde_shape in = nde_shape_vector(2);
      snprintf(spec, sizeof spec, "{\"layer\": \"%s\", \"%s\": 12345}", name, key);
      if (nde_model_build(NULL, spec, "model", &in, backend, NDE_FLOAT64, &m) != NDE_OK)
        cr_expect(strstr(nde_last_error(), "unknown key") == NULL, "%s: %s", spec,
                  nde_last_error());
      nde_model_destroy(&m);
    }
    nde_model *m = NULL;
    nde_shape in = nde_shape_vector(2);
    snprintf(spec, sizeof spec, "{\"layer\": \"%s\", \"bogus_key\": 1}", name);
    cr_expect_neq(nde_model_build(NULL, spec, "model", &in, backend, NDE_FLOAT64, &m), NDE_OK);
    char want[1000];
    snprintf(want, sizeof want, "model.bogus_key: unknown key of a %s (it takes %s)", name,
             expected);
    cr_expect(strstr(nde_last_error(), want) != NULL, "%s\n  got: %s", want, nde_last_error());
    json_decref(keys);
  }
  /* a near miss gets a suggestion */
  nde_model *m = NULL;
  nde_shape in = nde_shape_vector(2);
  cr_expect_neq(nde_model_build(NULL, "{\"layer\": \"neural_ode\", \"tspam\": [0, 1]}", "model",
                                &in, backend, NDE_FLOAT64, &m),
                NDE_OK);
  cr_expect(strstr(nde_last_error(), "did you mean 'tspan'?") != NULL, "%s", nde_last_error());
}

/* ---- convolution and pooling ------------------------------------------------------------- */

Test(layers, conv2d_vjp_jvp_stride_padding_dilation) {
  nde_rng rng = nde_rng_make(61, 0);
  for (int c = 0; c < 6; ++c) {
    size_t w = pick(&rng, 4, 7), h = pick(&rng, 4, 6), cin = pick(&rng, 1, 3);
    size_t k = pick(&rng, 1, 3), s = pick(&rng, 1, 2), p = pick(&rng, 0, 1), d = pick(&rng, 1, 2);
    char json[320];
    snprintf(json, sizeof json,
             "{\"chain\": [{\"layer\": \"conv2d\", \"out\": %zu, \"kernel\": %zu, \"stride\": %zu,"
             " \"padding\": %zu, \"dilation\": %zu, \"bias\": %s}, \"tanh\"]}",
             pick(&rng, 1, 3), k, s, p, d, c % 2 ? "true" : "false");
    check_vjp(json, (nde_shape){3, {w, h, cin, 0}}, pick(&rng, 1, 3), 600 + c, 0.0);
  }
}

Test(layers, pooling_vjp_jvp) {
  nde_shape img = {3, {5, 6, 2, 0}};
  check_vjp("{\"layer\": \"avg_pool\", \"kernel\": 2}", img, 2, 71, 0.0);
  check_vjp("{\"layer\": \"avg_pool\", \"kernel\": 3, \"stride\": 2, \"padding\": 1}", img, 2, 72, 0.0);
  check_vjp("{\"layer\": \"max_pool\", \"kernel\": 2}", img, 2, 73, 0.0);
  check_vjp("{\"layer\": \"max_pool\", \"kernel\": 3, \"stride\": 1, \"padding\": 1}", img, 3, 74, 0.0);
  check_vjp("{\"chain\": [{\"layer\": \"conv2d\", \"out\": 3, \"padding\": 1}, \"relu\","
            " {\"layer\": \"max_pool\", \"kernel\": 2}, \"flatten\", {\"layer\": \"dense\", \"out\": 2}]}",
            img, 2, 75, 0.0);
}

/* y of one layer on img for x, params from a fixture */
static const double *forward_once(fixture *f) {
  nde_arena_reset(f->arena);
  nde_record *rec;
  cr_assert_eq(nde_layer_forward(f->root, &f->ctx, f->x, 0.0, f->params, &rec), NDE_OK, "%s",
               nde_last_error());
  return nde_record_output(rec);
}

/* conv2d and pooling against direct loops over the definition (NCHW, PyTorch conventions). */
Test(layers, conv2d_and_pooling_match_direct_loops) {
  const size_t W = 7, H = 5, C = 2, B = 2, O = 3, K = 3, S = 2, P = 1, D = 2;
  nde_shape img = {3, {W, H, C, 0}};
  fixture f;
  char json[200];
  snprintf(json, sizeof json,
           "{\"layer\": \"conv2d\", \"out\": %zu, \"kernel\": %zu, \"stride\": %zu, \"padding\": %zu,"
           " \"dilation\": %zu}", O, K, S, P, D);
  fixture_make(&f, json, img, B, 81);
  const nde_shape *os = nde_layer_output_shape(f.root);
  size_t OW = (W + 2 * P - D * (K - 1) - 1) / S + 1, OH = (H + 2 * P - D * (K - 1) - 1) / S + 1;
  cr_assert_eq(os->dims[0], OW);
  cr_assert_eq(os->dims[1], OH);
  cr_assert_eq(os->dims[2], O);
  const double *y = forward_once(&f), *wt = f.params, *bias = f.params + K * K * C * O;
  for (size_t b = 0; b < B; ++b)
    for (size_t o = 0; o < O; ++o)
      for (size_t oh = 0; oh < OH; ++oh)
        for (size_t ow = 0; ow < OW; ++ow) {
          double s = bias[o];
          for (size_t c = 0; c < C; ++c)
            for (size_t ky = 0; ky < K; ++ky)
              for (size_t kx = 0; kx < K; ++kx) {
                long ix = (long)(ow * S + kx * D) - (long)P, iy = (long)(oh * S + ky * D) - (long)P;
                if (ix >= 0 && iy >= 0 && ix < (long)W && iy < (long)H)
                  s += wt[kx + K * (ky + K * (c + C * o))] *
                       f.x[(size_t)ix + W * ((size_t)iy + H * (c + C * b))];
              }
          double got = y[ow + OW * (oh + OH * (o + O * b))];
          cr_expect(fabs(got - s) < 1e-12 * (1 + fabs(s)), "conv y[%zu,%zu,%zu,%zu] %g vs %g", ow,
                    oh, o, b, got, s);
        }
  fixture_free(&f);
  for (int mx = 0; mx < 2; ++mx) {
    snprintf(json, sizeof json, "{\"layer\": \"%s\", \"kernel\": 3, \"stride\": 2, \"padding\": 1}",
             mx ? "max_pool" : "avg_pool");
    fixture_make(&f, json, img, B, 82 + mx);
    y = forward_once(&f);
    size_t PW = (W + 2 - 3) / 2 + 1, PH = (H + 2 - 3) / 2 + 1;
    for (size_t n = 0; n < C * B; ++n)
      for (size_t oh = 0; oh < PH; ++oh)
        for (size_t ow = 0; ow < PW; ++ow) {
          double s = mx ? -INFINITY : 0;
          for (size_t ky = 0; ky < 3; ++ky)
            for (size_t kx = 0; kx < 3; ++kx) {
              long ix = (long)(ow * 2 + kx) - 1, iy = (long)(oh * 2 + ky) - 1;
              if (ix < 0 || iy < 0 || ix >= (long)W || iy >= (long)H)
                continue;
              double v = f.x[(size_t)ix + W * ((size_t)iy + H * n)];
              s = mx ? fmax(s, v) : s + v / 9;
            }
          double got = y[ow + PW * (oh + PH * n)];
          cr_expect(mx ? got == s : fabs(got - s) < 1e-12, "%s y[%zu,%zu,%zu] %g vs %g",
                    mx ? "max" : "avg", ow, oh, n, got, s);
        }
    fixture_free(&f);
  }
}

Test(layers, conv_bad_input_names_layer_and_path) {
  nde_shape img = {3, {4, 4, 2, 0}};
  expect_build_error("{\"chain\": [\"tanh\", {\"layer\": \"conv2d\", \"out\": 2, \"kernel\": 7}]}",
                     img, "model.chain[1]");
  expect_build_error("{\"chain\": [\"tanh\", {\"layer\": \"conv2d\", \"out\": 2, \"kernel\": 7}]}",
                     img, "larger than the padded input");
  expect_build_error("{\"layer\": \"conv2d\", \"out\": 2, \"kernel\": 3, \"dilation\": 3}", img,
                     "dilated extent 7");
  expect_build_error("{\"layer\": \"conv2d\", \"out\": 2}", nde_shape_vector(16), "reshape");
  expect_build_error("{\"layer\": \"conv2d\", \"out\": 2}", (nde_shape){3, {4, 4, 0, 0}},
                     "0 channels");
  expect_build_error("{\"layer\": \"conv2d\", \"out\": 0}", img, "model.out");
  expect_build_error("{\"chain\": [{\"layer\": \"max_pool\", \"kernel\": 5}]}", img, "model.chain[0]");
  expect_build_error("{\"layer\": \"avg_pool\", \"kernel\": 2, \"padding\": 2}", img, "padding");
  expect_build_error("{\"layer\": \"avg_pool\"}", (nde_shape){3, {4, 4, 0, 0}}, "0 channels");
  expect_build_error("{\"layer\": \"max_pool\"}", nde_shape_vector(16), "model");
}

Test(layers, group_norm_vjp_jvp_and_statistics) {
  check_vjp("{\"layer\": \"group_norm\", \"groups\": 2}", (nde_shape){3, {3, 2, 4, 0}}, 3, 91, 0.0);
  check_vjp("{\"layer\": \"group_norm\", \"groups\": 3, \"affine\": false}", nde_shape_vector(6), 2,
            92, 0.0);
  check_vjp("{\"chain\": [{\"layer\": \"conv2d\", \"out\": 4, \"padding\": 1},"
            " {\"layer\": \"group_norm\", \"groups\": 2}, \"relu\"]}",
            (nde_shape){3, {4, 3, 2, 0}}, 2, 93, 0.0);
  /* without the affine part every (sample, group) has mean 0 and variance var/(var + eps) */
  fixture f;
  const size_t S = 6, C = 4, G = 2, B = 3, L = C / G * S;
  fixture_make(&f, "{\"layer\": \"group_norm\", \"groups\": 2, \"affine\": false, \"eps\": 1e-3}",
               (nde_shape){3, {3, 2, C, 0}}, B, 94);
  for (size_t i = 0; i < S * C * B; ++i)
    f.x[i] = 3.0 + 2.0 * f.x[i];
  const double *y = forward_once(&f);
  for (size_t m = 0; m < G * B; ++m) {
    double mx = 0, vx = 0, my = 0, vy = 0;
    for (size_t i = 0; i < L; ++i)
      mx += f.x[m * L + i] / L, my += y[m * L + i] / L;
    for (size_t i = 0; i < L; ++i)
      vx += pow(f.x[m * L + i] - mx, 2) / L, vy += pow(y[m * L + i] - my, 2) / L;
    cr_expect(fabs(my) < 1e-12, "group %zu mean %g", m, my);
    cr_expect(fabs(vy - vx / (vx + 1e-3)) < 1e-12, "group %zu variance %g vs %g", m, vy,
              vx / (vx + 1e-3));
  }
  fixture_free(&f);
  nde_shape img = {3, {4, 4, 6, 0}};
  expect_build_error("{\"chain\": [{\"layer\": \"group_norm\", \"groups\": 4}]}", img,
                     "model.chain[0]");
  expect_build_error("{\"chain\": [{\"layer\": \"group_norm\", \"groups\": 4}]}", img,
                     "groups: 4 does not divide the 6 channels");
  expect_build_error("{\"layer\": \"group_norm\", \"groups\": 2}", (nde_shape){3, {4, 4, 0, 0}},
                     "0 channels");
}

/*
 * Forward-only evaluations (no_pullback): a chain skips materialising
 * time_concat's output before a dense layer (forward_time_row folds t into
 * the bias) and writes its last layer's output into the caller's buffer
 * (nde_layer_forward_into). Both give the ordinary forward's values.
 */
static void check_forward_only(const char *json, size_t nin, size_t batch, double t) {
  fixture f;
  fixture_make(&f, json, nde_shape_vector(nin), batch, 83);
  nde_arena_reset(f.arena);
  nde_record *rec;
  cr_assert_eq(nde_layer_forward(f.root, &f.ctx, f.x, t, f.params, &rec), NDE_OK, "%s",
               nde_last_error());
  const double *ref = nde_record_output(rec);
  double *into = malloc(f.nout * batch * sizeof(double));
  for (int fused = 0; fused < 2; ++fused) {
    nde_layer_ctx c = f.ctx;
    c.no_pullback = fused;
    nde_record *r2;
    cr_assert_eq(nde_layer_forward_into(f.root, &c, f.x, t, f.params, into, &r2), NDE_OK, "%s",
                 nde_last_error());
    cr_expect_eq(nde_record_output(r2), into, "%s: output not written into the caller's buffer",
                 json);
    for (size_t i = 0; i < f.nout * batch; ++i)
      cr_expect(fabs(into[i] - ref[i]) <= 1e-13 * (1 + fabs(ref[i])),
                "%s (no_pullback %d): y[%zu] = %.17g, ordinary forward %.17g", json, fused, i,
                into[i], ref[i]);
  }
  free(into);
  fixture_free(&f);
}

Test(layers, forward_only_time_row_and_output_into) {
  check_forward_only("{\"chain\": [\"time_concat\", {\"layer\": \"dense\", \"out\": 5, \"activation\": "
                     "\"tanh\"}, \"time_concat\", {\"layer\": \"dense\", \"out\": 4, \"activation\": "
                     "\"tanh\"}]}", 4, 3, 0.7);
  /* no bias, identity activation, batch large enough for the fused epilogue */
  check_forward_only("{\"chain\": [\"time_concat\", {\"layer\": \"dense\", \"out\": 70, \"bias\": "
                     "false}]}", 6, 80, -1.3);
  /* time_concat last (nothing to fuse with) and a non-dense layer after it */
  check_forward_only("{\"chain\": [{\"layer\": \"dense\", \"out\": 3}, \"time_concat\"]}", 2, 4, 2.5);
  check_forward_only("{\"chain\": [\"time_concat\", \"tanh\", {\"layer\": \"dense\", \"out\": 2}]}", 3,
                     2, 0.4);
  /* a core layer as the last child: its output copied into the buffer */
  check_forward_only("{\"chain\": [\"time_concat\", {\"skip_connection\": {\"layer\": \"dense\", "
                     "\"out\": 4}}]}", 3, 2, 0.9);
}
