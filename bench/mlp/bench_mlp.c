/*
 * Training-step throughput of the thesis's MNIST-sized MLP (the neural ODE
 * dynamics of §5.3.1.1, after Kelly et al. 2020, applied once, then the
 * linear classifier):
 *     z = tanh(W1 [x; t] + B1)   W1: 100×785
 *     f = tanh(W2 [z; t] + B2)   W2: 784×101
 *     y = W3 f + B3              W3: 10×784
 * at batch 512 in float32, one step = forward + softmax cross-entropy +
 * full backward + a plain SGD update (params −= lr·grad through the
 * backend's axpy). Synthetic inputs (the step's cost does not depend on the
 * data). Prints one JSON object: median and all step times over R repeats
 * of N steps after W warm-up steps.
 *
 * Usage: bench_mlp [STEPS=50] [REPEATS=7] [WARMUP=10]
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <nde/layer.h>
#include <nde/loss.h>
#include <nde/model.h>
#include <nde/nde.h>

#define CHECK(expr)                                                              \
  do {                                                                           \
    if ((expr) != NDE_OK) {                                                      \
      fprintf(stderr, "bench_mlp: %s\n", nde_last_error());                      \
      return 1;                                                                  \
    }                                                                            \
  } while (0)

static double clock_s(clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
static double now(void) { return clock_s(CLOCK_MONOTONIC); }
/* CPU time of the process (all threads): less sensitive than wall time to other jobs' load */
static double cpu_now(void) { return clock_s(CLOCK_PROCESS_CPUTIME_ID); }

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int main(int argc, char **argv) {
  int steps = argc > 1 ? atoi(argv[1]) : 50, repeats = argc > 2 ? atoi(argv[2]) : 7,
      warmup = argc > 3 ? atoi(argv[3]) : 10;
  const size_t B = 512, IN = 784, K = 10;
  const char *model_json =
      "{\"chain\": [\"time_concat\", {\"layer\": \"dense\", \"out\": 100, \"activation\": \"tanh\"},"
      " \"time_concat\", {\"layer\": \"dense\", \"out\": 784, \"activation\": \"tanh\"},"
      " {\"layer\": \"dense\", \"out\": 10}]}";
  nde_backend *be;
  CHECK(nde_backend_open(NULL, "cpu", NULL, &be));
  nde_model *model;
  nde_shape in = nde_shape_vector(IN);
  CHECK(nde_model_build(NULL, model_json, "model", &in, be, NDE_FLOAT32, &model));
  size_t np = nde_model_param_count(model);
  nde_array params, grads, x, labels, dy;
  size_t xs[2] = {IN, B}, ls[2] = {1, B}, ds[2] = {K, B};
  CHECK(nde_array_create(be, NDE_FLOAT32, 1, &np, &params));
  CHECK(nde_array_create(be, NDE_FLOAT32, 1, &np, &grads));
  CHECK(nde_array_create(be, NDE_FLOAT32, 2, xs, &x));
  CHECK(nde_array_create(be, NDE_FLOAT32, 2, ls, &labels));
  CHECK(nde_array_create(be, NDE_FLOAT32, 2, ds, &dy));
  nde_rng rng = nde_rng_make(0, 1);
  CHECK(nde_model_init_params(model, &rng, params.data));
  be->ops->random_uniform(be->ctx, NDE_FLOAT32, x.size, 0, 9, 0, 0.0, 1.0, x.data);
  float *lab = labels.data; /* CPU backend: host memory */
  for (size_t i = 0; i < B; ++i)
    lab[i] = (float)(i % K);
  nde_arena *arena;
  CHECK(nde_arena_create(be, &arena));
  nde_layer_ctx ctx = {be, NDE_FLOAT32, B, arena, 0, 1, 0, NULL};
  const nde_layer *root = nde_model_root(model);
  double loss = 0;
  int total = warmup + steps * repeats;
  double *times = malloc((size_t)repeats * sizeof *times);
  double *cpu = malloc((size_t)repeats * sizeof *cpu);
  double t0 = 0, c0 = 0;
  for (int s = 0; s < total; ++s) {
    if (s >= warmup && (s - warmup) % steps == 0) {
      t0 = now();
      c0 = cpu_now();
    }
    nde_arena_reset(arena);
    nde_record *rec;
    CHECK(nde_layer_forward(root, &ctx, x.data, 0.0, params.data, &rec));
    CHECK(nde_loss_eval(be, NDE_FLOAT32, NDE_LOSS_CROSS_ENTROPY, K, B, nde_record_output(rec),
                        labels.data, 1.0, &loss, dy.data, NULL));
    be->ops->fill(be->ctx, NDE_FLOAT32, np, 0.0, grads.data);
    CHECK(nde_layer_vjp(root, &ctx, rec, dy.data, NULL, grads.data, NULL));
    be->ops->axpy(be->ctx, NDE_FLOAT32, np, -0.01, grads.data, params.data);
    if (s >= warmup && (s - warmup) % steps == steps - 1) {
      times[(s - warmup) / steps] = (now() - t0) / steps;
      cpu[(s - warmup) / steps] = (cpu_now() - c0) / steps;
    }
  }
  qsort(times, (size_t)repeats, sizeof *times, cmp);
  qsort(cpu, (size_t)repeats, sizeof *cpu, cmp);
  printf("{\"impl\": \"nde\", \"batch\": %zu, \"params\": %zu, \"median_step_s\": %.6g, "
         "\"min_step_s\": %.6g, \"max_step_s\": %.6g, \"median_cpu_step_s\": %.6g, "
         "\"final_loss\": %.6g}\n",
         B, np, times[repeats / 2], times[0], times[repeats - 1], cpu[repeats / 2], loss);
  free(cpu);
  free(times);
  nde_arena_destroy(&arena);
  nde_array_destroy(&dy);
  nde_array_destroy(&labels);
  nde_array_destroy(&x);
  nde_array_destroy(&grads);
  nde_array_destroy(&params);
  nde_model_destroy(&model);
  nde_backend_destroy(&be);
  return 0;
}
