/*
 * Instruction-count driver for the MNIST neural-ODE block: runs one piece
 * of work inside measured_region(), so that
 *   valgrind --tool=callgrind --toggle-collect=measured_region bench/node/count_node WHAT
 * counts exactly that piece, after a warm-up call outside the region (the
 * arena grown, OpenBLAS's buffers allocated). Instruction counts do not
 * depend on what else runs on the machine, unlike wall time.
 *
 * Usage: count_node WHAT [DTYPE] [GEMM] [SENSITIVITY] [REPEATS]; DTYPE
 * float32 (default) or float64, GEMM the cpu backend's "gemm" option
 * (default auto), SENSITIVITY the grad piece's (default
 * backsolve_adjoint), REPEATS how many times the measured region runs the
 * piece (default 1; more show what repeated calls allocate, e.g. under
 * `perf stat -e page-faults`).
 * WHAT:
 *   eval    one evaluation of the MNIST dynamics (batch 512, no records)
 *   vjp     one VJP of the dynamics: the evaluation with records + pullback
 *   solve   one dopri5 forward solve of the MNIST block over t ∈ [0, 0.05]
 *           (a few steps at tolerance 1e-5)
 *   spiral  one tsit5 forward solve of the fig-5.2 spiral model at batch 1
 *           (30 saved points on [0, 1.5], tolerance 1e-6)
 *   grad    a gradient as bench_node's MNIST backward cells take it: the
 *           dopri5 solve over t ∈ [0, 1] (tolerance 1e-5) with records for
 *           SENSITIVITY, then the pullback of a fixed cotangent through it
 * Prints what it ran, the number of evaluations and the solver's steps.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nde/layer.h>
#include <nde/nde.h>

#define CHECK(expr)                                                              \
  do {                                                                           \
    if ((expr) != NDE_OK) {                                                      \
      fprintf(stderr, "count_node: %s\n", nde_last_error());                     \
      exit(1);                                                                   \
    }                                                                            \
  } while (0)

typedef struct piece {
  const nde_layer *root;
  nde_layer_ctx ctx;
  const void *x, *params, *dy;
  void *dx, *grads;
  int pullback, zero_grads;
  size_t np;
} piece;

static int repeats = 1;

static void run_piece(piece *p) {
  nde_record *rec = NULL;
  nde_arena_reset(p->ctx.arena);
  CHECK(nde_layer_forward(p->root, &p->ctx, p->x, 0.5, p->params, &rec));
  if (p->zero_grads) /* each gradient on its own, not summed over the repeats */
    p->ctx.backend->ops->fill(p->ctx.backend->ctx, p->ctx.dtype, p->np, 0.0, p->grads);
  if (p->pullback)
    CHECK(nde_layer_vjp(p->root, &p->ctx, rec, p->dy, p->dx, p->grads, NULL));
}

/* The measured work: callgrind's --toggle-collect names this function. */
__attribute__((noinline)) void measured_region(piece *p);
__attribute__((noinline)) void measured_region(piece *p) {
  for (int i = 0; i < repeats; ++i)
    run_piece(p);
}

int main(int argc, char **argv) {
  const char *what = argc > 1 ? argv[1] : "eval";
  nde_dtype dt = argc > 2 && !strcmp(argv[2], "float64") ? NDE_FLOAT64 : NDE_FLOAT32;
  int spiral = !strcmp(what, "spiral"), grad = !strcmp(what, "grad");
  int solve = spiral || grad || !strcmp(what, "solve");
  const char *sens = argc > 4 ? argv[4] : "backsolve_adjoint";
  repeats = argc > 5 && atoi(argv[5]) > 0 ? atoi(argv[5]) : 1;
  const char *mnist_dyn =
      "{\"chain\": [\"time_concat\", {\"layer\": \"dense\", \"out\": 100, \"activation\": "
      "\"tanh\"}, \"time_concat\", {\"layer\": \"dense\", \"out\": 784, \"activation\": "
      "\"tanh\"}]}";
  char json[4096];
  if (spiral) {
    int k = snprintf(json, sizeof json,
                     "{\"layer\": \"neural_ode\", \"tspan\": [0, 1.5], \"saveat\": [");
    for (int i = 0; i < 30; ++i)
      k += snprintf(json + k, sizeof json - (size_t)k, "%s%.17g", i ? ", " : "", 1.5 * i / 29.0);
    snprintf(json + k, sizeof json - (size_t)k,
             "], \"dynamics\": {\"chain\": [\"cube\", {\"layer\": \"dense\", \"out\": 50, "
             "\"activation\": \"tanh\"}, {\"layer\": \"dense\", \"out\": 2}]}, \"solver\": "
             "{\"plugin\": \"tsit5\", \"abstol\": 1e-6, \"reltol\": 1e-6}}");
  } else if (solve)
    snprintf(json, sizeof json,
             "{\"layer\": \"neural_ode\", \"tspan\": [0, %s], \"dynamics\": %s, \"solver\": "
             "{\"plugin\": \"dopri5\", \"abstol\": 1e-5, \"reltol\": 1e-5}, "
             "\"sensitivity\": {\"plugin\": \"%s\"}}",
             grad ? "1" : "0.05", mnist_dyn, grad ? sens : "direct");
  else
    snprintf(json, sizeof json, "%s", mnist_dyn);
  nde_backend *be;
  char be_json[128];
  snprintf(be_json, sizeof be_json, "{\"gemm\": \"%s\"}", argc > 3 ? argv[3] : "auto");
  CHECK(nde_backend_open(NULL, "cpu", be_json, &be));
  size_t n = spiral ? 2 : 784, batch = spiral ? 1 : 512;
  nde_shape in = nde_shape_vector(n);
  nde_model *model;
  CHECK(nde_model_build(NULL, json, "model", &in, be, dt, &model));
  size_t np = nde_model_param_count(model), xs[2] = {n, batch};
  /* params, grads (np each), then x, dx, dy (n × batch each) */
  nde_array arr[5];
  for (int i = 0; i < 5; ++i)
    CHECK(i < 2 ? nde_array_create(be, dt, 1, &np, &arr[i])
                : nde_array_create(be, dt, 2, xs, &arr[i]));
  nde_array params = arr[0], grads = arr[1], x = arr[2], dx = arr[3], dy = arr[4];
  nde_rng rng = nde_rng_make(0, 1);
  CHECK(nde_model_init_params(model, &rng, params.data));
  be->ops->random_uniform(be->ctx, dt, x.size, 0, 9, 0, 0.0, 1.0, x.data);
  be->ops->random_normal(be->ctx, dt, dy.size, 0, 10, 0, 0.0, 1.0, dy.data);
  if (spiral) {
    double u0[2] = {2.0, 0.0};
    be->ops->convert(be->ctx, NDE_FLOAT64, u0, dt, x.data, 2);
  }
  nde_arena *arena;
  CHECK(nde_arena_create(be, &arena));
  nde_layer_metrics metrics;
  memset(&metrics, 0, sizeof metrics);
  int pullback = !strcmp(what, "vjp") || grad;
  piece p = {.root = nde_model_root(model),
             .ctx = {.backend = be, .dtype = dt, .batch = batch, .arena = arena,
                     .training = pullback, .metrics = &metrics, .no_pullback = !pullback},
             .x = x.data, .params = params.data, .dy = dy.data, .dx = dx.data,
             .grads = grads.data, .pullback = pullback, .zero_grads = grad, .np = np};
  run_piece(&p); /* warm-up, not counted */
  nde_layer_metrics_clear(&metrics);
  measured_region(&p);
  double nfe = 0, nfe_b = 0;
  for (int i = 0; i < metrics.n; ++i)
    if (!strcmp(metrics.names[i], "nfe_forward"))
      nfe = metrics.values[i];
    else if (!strcmp(metrics.names[i], "nfe_backward"))
      nfe_b = metrics.values[i];
  if (grad) { /* a checksum of the last gradient: two builds' results compare */
    double *g = malloc(np * sizeof *g), sum = 0, wsum = 0;
    CHECK(nde_array_to_doubles(&grads, g, np));
    for (size_t i = 0; i < np; ++i) {
      sum += g[i];
      wsum += g[i] * (double)(i % 97 + 1);
    }
    printf("count_node grad %s %s: nfe %.0f/%.0f, gradient sums %.17g %.17g\n", sens,
           dt == NDE_FLOAT32 ? "float32" : "float64", nfe / repeats, nfe_b / repeats, sum, wsum);
    free(g);
  } else
    printf("count_node %s %s: nfe %.0f\n", what, dt == NDE_FLOAT32 ? "float32" : "float64",
           solve ? nfe / repeats : 1.0);
  nde_arena_destroy(&arena);
  for (int i = 0; i < 5; ++i)
    nde_array_destroy(&arr[i]);
  nde_model_destroy(&model);
  nde_backend_destroy(&be);
  return 0;
}
