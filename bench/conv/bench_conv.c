/*
 * conv2d forward and backward (dx and the kernel/bias gradients) through
 * nde's layer API on the cpu backend, float32, random data; and one forward
 * pass of a conv neural ODE (dz/dt = conv(tanh(conv(z))) on (S, S, C) images,
 * dopri5 at 1e-4) with its NFE. Prints one JSON object per line: median
 * wall times (ms) over R repeats after a warm-up.
 *
 * Usage: bench_conv conv W H CIN COUT K STRIDE PAD BATCH [REPEATS=20]
 *        bench_conv node S C BATCH [REPEATS=5]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nde/layer.h>
#include <nde/nde.h>

/* Stop on an error, with libnde's message. */
static void ok(nde_status status) {
  if (status == NDE_OK)
    return;
  fprintf(stderr, "bench_conv: %s\n", nde_last_error());
  exit(1);
}
#define CHECK(expr) ok(expr)

/* Seconds on the monotonic clock. */
static double seconds(void) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return 1e-9 * (double)now.tv_nsec + (double)now.tv_sec;
}

/* Median of v[0..n) (sorts v by insertion; n is small). */
static double median(double *v, int n) {
  for (int i = 1; i < n; ++i)
    for (int j = i; j > 0 && v[j - 1] > v[j]; --j) {
      double keep = v[j];
      v[j] = v[j - 1], v[j - 1] = keep;
    }
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* A model on (w, h, c) images with random float32 parameters and inputs. */
typedef struct setup {
  nde_backend *be;
  nde_model *model;
  float *params, *grads, *x, *dx, *dy;
  size_t nin, nout;
  nde_arena *arena;
  nde_layer_ctx ctx;
  nde_layer_metrics metrics;
} setup;

static void make(setup *s, const char *json, size_t w, size_t h, size_t c, size_t batch) {
  memset(s, 0, sizeof *s);
  CHECK(nde_backend_open(NULL, "cpu", NULL, &s->be));
  nde_shape in = {3, {w, h, c, 0}};
  CHECK(nde_model_build(NULL, json, "model", &in, s->be, NDE_FLOAT32, &s->model));
  size_t np = nde_model_param_count(s->model);
  s->nin = w * h * c * batch;
  s->nout = nde_shape_size(nde_layer_output_shape(nde_model_root(s->model))) * batch;
  s->params = malloc((np + 1) * sizeof(float));
  s->grads = calloc(np + 1, sizeof(float));
  s->x = malloc(s->nin * sizeof(float));
  s->dx = malloc(s->nin * sizeof(float));
  s->dy = malloc(s->nout * sizeof(float));
  nde_rng rng = nde_rng_make(1, 0);
  CHECK(nde_model_init_params(s->model, &rng, s->params));
  for (size_t i = 0; i < s->nin; ++i)
    s->x[i] = (float)nde_rng_normal(&rng);
  for (size_t i = 0; i < s->nout; ++i)
    s->dy[i] = (float)nde_rng_normal(&rng);
  CHECK(nde_arena_create(s->be, &s->arena));
  s->ctx = (nde_layer_ctx){s->be, NDE_FLOAT32, batch, s->arena, 0, 1, 1, &s->metrics, 0, 0};
}

int main(int argc, char **argv) {
  if (argc >= 10 && !strcmp(argv[1], "conv")) {
    size_t a[8];
    for (int i = 0; i < 8; ++i)
      a[i] = (size_t)atol(argv[2 + i]);
    int reps = argc > 10 ? atoi(argv[10]) : 20;
    char json[256];
    snprintf(json, sizeof json,
             "{\"layer\": \"conv2d\", \"out\": %zu, \"kernel\": %zu, \"stride\": %zu, \"padding\": %zu}",
             a[3], a[4], a[5], a[6]);
    setup s;
    make(&s, json, a[0], a[1], a[2], a[7]);
    double *fw = malloc((size_t)reps * sizeof *fw), *bw = malloc((size_t)reps * sizeof *bw);
    for (int r = -2; r < reps; ++r) {
      nde_arena_reset(s.arena);
      nde_record *rec;
      double t0 = seconds();
      CHECK(nde_layer_forward(nde_model_root(s.model), &s.ctx, s.x, 0.0, s.params, &rec));
      double t1 = seconds();
      CHECK(nde_layer_vjp(nde_model_root(s.model), &s.ctx, rec, s.dy, s.dx, s.grads, NULL));
      double t2 = seconds();
      if (r >= 0)
        fw[r] = 1e3 * (t1 - t0), bw[r] = 1e3 * (t2 - t1);
    }
    printf("{\"impl\": \"nde\", \"op\": \"conv2d\", \"W\": %zu, \"H\": %zu, \"cin\": %zu, \"cout\": %zu, "
           "\"kernel\": %zu, \"stride\": %zu, \"padding\": %zu, \"batch\": %zu, "
           "\"forward_ms\": %.4f, \"backward_ms\": %.4f}\n",
           a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], median(fw, reps), median(bw, reps));
    return 0;
  }
  if (argc >= 5 && !strcmp(argv[1], "node")) {
    size_t S = (size_t)atol(argv[2]), C = (size_t)atol(argv[3]), B = (size_t)atol(argv[4]);
    int reps = argc > 5 ? atoi(argv[5]) : 5;
    char json[512];
    snprintf(json, sizeof json,
             "{\"layer\": \"neural_ode\", \"tspan\": [0, 1], \"dynamics\": {\"chain\": ["
             "{\"layer\": \"conv2d\", \"out\": %zu, \"padding\": 1}, \"tanh\", "
             "{\"layer\": \"conv2d\", \"out\": %zu, \"padding\": 1}]}, "
             "\"solver\": {\"plugin\": \"dopri5\", \"abstol\": 1e-4, \"reltol\": 1e-4}, "
             "\"sensitivity\": \"interpolating_adjoint\"}",
             C, C);
    setup s;
    make(&s, json, S, S, C, B);
    double *fw = malloc((size_t)reps * sizeof *fw), nfe = 0;
    for (int r = -1; r < reps; ++r) {
      nde_arena_reset(s.arena);
      nde_layer_metrics_clear(&s.metrics);
      nde_record *rec;
      double t0 = seconds();
      CHECK(nde_layer_forward(nde_model_root(s.model), &s.ctx, s.x, 0.0, s.params, &rec));
      if (r >= 0)
        fw[r] = 1e3 * (seconds() - t0);
      for (int i = 0; i < s.metrics.n; ++i)
        if (!strcmp(s.metrics.names[i], "nfe_forward"))
          nfe = s.metrics.values[i];
    }
    printf("{\"impl\": \"nde\", \"op\": \"conv_node_forward\", \"size\": %zu, \"channels\": %zu, "
           "\"batch\": %zu, \"nfe\": %.0f, \"forward_ms\": %.3f}\n",
           S, C, B, nfe, median(fw, reps));
    return 0;
  }
  fprintf(stderr, "usage: bench_conv conv W H CIN COUT K STRIDE PAD BATCH [REPEATS]\n"
                  "       bench_conv node S C BATCH [REPEATS]\n");
  return 2;
}
