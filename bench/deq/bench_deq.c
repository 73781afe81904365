/*
 * Forward + backward time of the Table 4.1 DEQ (784 → dense 128 relu → DEQ
 * cell f(z, x) = relu(W₁z) + relu(W₂x) → dense 10, float32) on the cpu
 * backend: L-Broyden forward (memory 27, B₀ = −I, rel. tol 5e-3, 50
 * iterations), backward `steady_state` (GMRES, 5e-3, 15 iterations) or
 * `jfb`, cross-entropy loss, full gradient; no optimizer step. Synthetic
 * inputs U[0, 1) and labels i mod 10.
 *
 * Writes the parameters and inputs to DUMP (if given) so that the torchdeq
 * peer (torchdeq_bench.py) runs on the very same weights and data:
 * float32 little-endian: the flat parameter array, then x (784 × B,
 * column-major). Prints one JSON object.
 *
 * Usage: bench_deq BATCH steady_state|jfb [REPEATS=20] [DUMP] [SOLVER_JSON]
 * (SOLVER_JSON replaces the layer's default "solver", e.g. to compare options).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nde/layer.h>
#include <nde/loss.h>
#include <nde/model.h>
#include <nde/nde.h>

#define CHECK(expr)                                                              \
  do {                                                                           \
    if ((expr) != NDE_OK) {                                                      \
      fprintf(stderr, "bench_deq: %s\n", nde_last_error());                      \
      return 1;                                                                  \
    }                                                                            \
  } while (0)

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double metric(const nde_layer_metrics *m, const char *name) {
  for (int i = 0; i < m->n; ++i)
    if (!strcmp(m->names[i], name))
      return m->values[i];
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: bench_deq BATCH steady_state|jfb [REPEATS] [DUMP]\n");
    return 2;
  }
  size_t B = (size_t)atol(argv[1]);
  const char *sens = argv[2];
  int repeats = argc > 3 ? atoi(argv[3]) : 20;
  const char *dump = argc > 4 && *argv[4] ? argv[4] : NULL;
  const char *solver = argc > 5 ? argv[5] : NULL;
  const size_t IN = 784, K = 10;
  char model_json[2048];
  snprintf(model_json, sizeof model_json,
           "{\"chain\": [{\"layer\": \"dense\", \"out\": 128, \"activation\": \"relu\"},"
           " {\"layer\": \"deq\","
           "  \"injection\": {\"layer\": \"dense\", \"out\": 128, \"activation\": \"relu\", \"bias\": false},"
           "  \"dynamics\": {\"layer\": \"dense\", \"out\": 128, \"activation\": \"relu\", \"bias\": false},"
           "  %s%s%s"
           "  \"sensitivity\": {\"plugin\": \"%s\"%s}},"
           " {\"layer\": \"dense\", \"out\": 10}]}",
           solver ? "\"solver\": " : "", solver ? solver : "", solver ? ", " : "", sens,
           strcmp(sens, "steady_state") ? ""
                                         : ", \"abstol\": 5e-3, \"reltol\": 5e-3, \"maxiters\": 15");
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
  float *lab = labels.data; /* cpu backend: host memory */
  for (size_t i = 0; i < B; ++i)
    lab[i] = (float)(i % K);
  if (dump) {
    FILE *f = fopen(dump, "wb");
    if (!f || fwrite(params.data, sizeof(float), np, f) != np ||
        fwrite(x.data, sizeof(float), x.size, f) != x.size) {
      fprintf(stderr, "bench_deq: cannot write %s\n", dump);
      return 1;
    }
    fclose(f);
  }
  nde_arena *arena;
  CHECK(nde_arena_create(be, &arena));
  nde_layer_metrics metrics;
  nde_layer_ctx ctx = {be, NDE_FLOAT32, B, arena, 0, 1, 0, &metrics};
  const nde_layer *root = nde_model_root(model);
  double *times = malloc((size_t)repeats * sizeof *times), loss = 0, nfe = 0, nvjp = 0;
  for (int r = -3; r < repeats; ++r) { /* 3 warm-up passes */
    double t0 = now();
    nde_arena_reset(arena);
    nde_layer_metrics_clear(&metrics);
    nde_record *rec;
    CHECK(nde_layer_forward(root, &ctx, x.data, 0.0, params.data, &rec));
    CHECK(nde_loss_eval(be, NDE_FLOAT32, NDE_LOSS_CROSS_ENTROPY, K, B, nde_record_output(rec),
                        labels.data, 1.0, &loss, dy.data, NULL));
    be->ops->fill(be->ctx, NDE_FLOAT32, np, 0.0, grads.data);
    CHECK(nde_layer_vjp(root, &ctx, rec, dy.data, NULL, grads.data, NULL));
    if (r >= 0)
      times[r] = now() - t0;
    nfe = metric(&metrics, "nfe_forward");
    nvjp = metric(&metrics, "nvjp_backward");
  }
  qsort(times, (size_t)repeats, sizeof *times, cmp);
  printf("{\"impl\": \"nde\", \"batch\": %zu, \"backward\": \"%s\", \"median_ms\": %.3f, "
         "\"min_ms\": %.3f, \"nfe_forward\": %g, \"nvjp_backward\": %g, \"loss\": %.6f}\n",
         B, sens, 1e3 * times[repeats / 2], 1e3 * times[0], nfe, nvjp, loss);
  free(times);
  nde_arena_destroy(&arena);
  nde_array_destroy(&params);
  nde_array_destroy(&grads);
  nde_array_destroy(&x);
  nde_array_destroy(&labels);
  nde_array_destroy(&dy);
  nde_model_destroy(&model);
  nde_backend_destroy(&be);
  return 0;
}
