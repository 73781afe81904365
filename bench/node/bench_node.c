/*
 * Neural-ODE solve and gradient timings, and nde's distance from its own
 * floor, for bench/node/run.sh (peers: torchdiffeq, diffrax).
 *
 * Cases (the same models as the peers' scripts):
 *   mnist   the thesis's MNIST neural ODE block (§5.3.1.1 / §6.3.1.1, after
 *           Kelly et al. 2020): du/dt = tanh(W2 [tanh(W1 [u; t] + B1); t] + B2),
 *           u ∈ R^784, hidden 100, t ∈ [0, 1]; inputs uniform in [0, 1].
 *   spiral  the fig-5.2 model at batch 1: u ↦ u³ → dense(2→50, tanh) →
 *           dense(50→2), u0 = (2, 0), states at 30 points of [0, 1.5].
 * Modes:
 *   forward   one solve (no records for a backward pass)
 *   backward  one solve + the pullback of a fixed cotangent through the
 *             sensitivity (mnist), or one training step (spiral: forward,
 *             mse against the true spiral, gradient, SGD update)
 *
 * Floor: one evaluation of the dynamics f and one VJP of f (the evaluation
 * with its records plus the pullback, as jax.vjp / torch.autograd count
 * it) at the same batch are timed in isolation, once with each GEMM
 * library the cpu backend has ("gemm": "openblas", and "onednn" when
 * built with it), and the faster of each is kept: the best GEMM available
 * plus the evaluation's unavoidable elementwise work (bias, activation,
 * time column). The floor of a run is nfe_forward·t_f + nfe_backward·t_vjp;
 * the ratio measured ÷ floor is what nde adds around the evaluations
 * (solver arithmetic, controller, records, the sensitivity's bookkeeping)
 * and any GEMM-library choice that is not the best.
 * Also reported: the thread count (OMP_NUM_THREADS), the 1-minute load
 * average when the run ended, and the process's peak resident memory
 * (one process per sensitivity, so it is that sensitivity's peak).
 *
 * Backend: cpu, or the one NDE_BENCH_BACKEND names (cuda: bench/gpu/run.sh).
 * Every timed batch ends with a scalar reduction, which waits for a device
 * backend's queued work (a no-op wait on cpu), so a GPU time is complete.
 *
 * Usage: bench_node CASE DTYPE SOLVER TOL MODE SENSITIVITY [REPEATS=5] [WARMUP=1] [DUMP]
 * NDE_BENCH_SENS_OPTIONS, when set, holds JSON members added to the
 * sensitivity's object (e.g. '"norm": "full"'); the output repeats them
 * as "sens_options". NDE_BENCH_SOLVER_OPTIONS likewise adds members to the
 * solver's object (e.g. '"controller": "i"', diffrax's default controller);
 * the output names the step-size controller ("controller": the solver's
 * default PI controller unless these options change it) and repeats them as
 * "solver_options".
 * Prints one JSON object. With DUMP (a folder), also writes the initial
 * parameters, the input and the cotangent as raw float64 (params.f64, x.f64,
 * dy.f64; column-major) and the parameter layout (layout.txt: name offset
 * rows cols per line), so the peers solve exactly the same problem.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sys/resource.h>

#include <nde/layer.h>
#include <nde/loss.h>
#include <nde/model.h>
#include <nde/nde.h>

#define CHECK(expr)                                                              \
  do {                                                                           \
    if ((expr) != NDE_OK) {                                                      \
      fprintf(stderr, "bench_node: %s\n", nde_last_error());                     \
      exit(1);                                                                   \
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

static const char *MNIST_DYN =
    "{\"chain\": [\"time_concat\", {\"layer\": \"dense\", \"out\": 100, \"activation\": \"tanh\"},"
    " \"time_concat\", {\"layer\": \"dense\", \"out\": 784, \"activation\": \"tanh\"}]}";
static const char *SPIRAL_DYN =
    "{\"chain\": [\"cube\", {\"layer\": \"dense\", \"out\": 50, \"activation\": \"tanh\"},"
    " {\"layer\": \"dense\", \"out\": 2}]}";

/* Wait for the work queued on the benchmark's backend (a scalar result does). */
static nde_backend *sync_backend;
static void *sync_buffer;
static void wait_backend(void) {
  if (sync_backend && sync_buffer)
    (void)sync_backend->ops->sum(sync_backend->ctx, NDE_FLOAT64, 1, sync_buffer);
}

/* Seconds of one call of @p fn: the fastest of @p reps timed batches of @p inner calls
   (the machine is shared: the minimum is the least disturbed estimate). */
typedef void (*bench_fn)(void *);
static double best_time(bench_fn fn, void *arg, int reps, int inner) {
  double t[64];
  if (reps > 64)
    reps = 64;
  for (int r = 0; r < reps; ++r) {
    wait_backend();
    double t0 = now();
    for (int i = 0; i < inner; ++i)
      fn(arg);
    wait_backend();
    t[r] = (now() - t0) / inner;
  }
  qsort(t, (size_t)reps, sizeof *t, cmp);
  return t[0];
}

typedef struct run {
  nde_backend *be;
  nde_dtype dt;
  size_t batch, n_out, np;
  const nde_layer *root;
  nde_arena *arena;
  nde_layer_metrics metrics;
  void *params, *grads, *x, *dy, *target;
  int training, spiral_step;
  nde_record *rec;
} run;

static void forward_only(void *a) {
  run *r = a;
  nde_arena_reset(r->arena);
  nde_layer_metrics_clear(&r->metrics);
  nde_layer_ctx ctx = {r->be, r->dt, r->batch, r->arena, 0, r->training, 0, &r->metrics, 0,
                       !r->training};
  CHECK(nde_layer_forward(r->root, &ctx, r->x, 0.0, r->params, &r->rec));
}

static void forward_backward(void *a) {
  run *r = a;
  forward_only(a);
  nde_layer_ctx ctx = {r->be, r->dt, r->batch, r->arena, 0, 1, 0, &r->metrics, 0, 0};
  const void *dy = r->dy;
  if (r->spiral_step) {
    double loss;
    CHECK(nde_loss_eval(r->be, r->dt, NDE_LOSS_MSE, r->n_out, r->batch, nde_record_output(r->rec),
                        r->target, 1.0, &loss, r->dy, NULL));
  }
  r->be->ops->fill(r->be->ctx, r->dt, r->np, 0.0, r->grads);
  CHECK(nde_layer_vjp(r->root, &ctx, r->rec, dy, NULL, r->grads, NULL));
  if (r->spiral_step)
    r->be->ops->axpy(r->be->ctx, r->dt, r->np, 0.0, r->grads, r->params); /* lr 0: same problem every step */
}

/* One evaluation of f and one VJP of f alone, on the dynamics model with the same parameters. */
typedef struct dyn_run {
  run *r;
  nde_backend *be; /* the backend whose GEMM library is timed */
  const nde_layer *root;
  void *dx;
  nde_record *rec;
} dyn_run;

static void dyn_forward(void *a) {
  dyn_run *d = a;
  run *r = d->r;
  nde_arena_reset(r->arena);
  nde_layer_ctx ctx = {d->be, r->dt, r->batch, r->arena, 0, 0, 0, NULL, 0, 1};
  CHECK(nde_layer_forward(d->root, &ctx, r->x, 0.5, r->params, &d->rec));
}

/* A VJP as JAX and PyTorch count it: the evaluation (with records) and its pullback. */
static void dyn_vjp(void *a) {
  dyn_run *d = a;
  run *r = d->r;
  nde_arena_reset(r->arena);
  nde_layer_ctx ctx = {d->be, r->dt, r->batch, r->arena, 0, 1, 0, NULL, 0, 0};
  CHECK(nde_layer_forward(d->root, &ctx, r->x, 0.5, r->params, &d->rec));
  CHECK(nde_layer_vjp(d->root, &ctx, d->rec, r->x, d->dx, r->grads, NULL));
}

static void dump_f64(const char *dir, const char *name, const nde_array *a) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  size_t n = a->size;
  double *h = malloc(n * sizeof *h);
  CHECK(nde_array_to_doubles(a, h, n)); /* through download: backend memory may be a GPU's */
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(h, sizeof *h, n, f) != n) {
    fprintf(stderr, "bench_node: cannot write %s\n", path);
    exit(1);
  }
  fclose(f);
  free(h);
}

/* ", "KEY": "OPTS"" with OPTS as a JSON string (quotes and backslashes escaped); nothing if empty. */
static void print_options(const char *key, const char *opts) {
  if (!*opts)
    return;
  printf(", \"%s\": \"", key);
  for (const char *c = opts; *c; ++c)
    printf("%s%c", *c == '"' || *c == '\\' ? "\\" : "", *c);
  printf("\"");
}

/* The step-size controller the solver's options select: "pi" (the default) or "i". */
static const char *controller_of(const char *solver_opts, char *buf, size_t cap) {
  char json[4096];
  snprintf(json, sizeof json, "{%s}", solver_opts);
  nde_options *o = NULL;
  snprintf(buf, cap, "pi");
  if (nde_options_parse(json, &o) == NDE_OK) {
    snprintf(buf, cap, "%s", nde_options_string(o, "controller", "pi"));
    nde_options_destroy(&o);
  }
  return buf;
}

static double metric(const nde_layer_metrics *m, const char *name) {
  for (int i = 0; i < m->n; ++i)
    if (!strcmp(m->names[i], name))
      return m->values[i];
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 7) {
    fprintf(stderr, "usage: bench_node CASE DTYPE SOLVER TOL MODE SENSITIVITY [REPEATS] [WARMUP]\n");
    return 2;
  }
  const char *which = argv[1], *dtype = argv[2], *solver = argv[3], *mode = argv[5],
             *sens = argv[6];
  double tol = atof(argv[4]);
  int reps = argc > 7 ? atoi(argv[7]) : 5, warmup = argc > 8 ? atoi(argv[8]) : 1;
  int mnist = !strcmp(which, "mnist"), backward = !strcmp(mode, "backward");
  run r;
  memset(&r, 0, sizeof r);
  r.dt = !strcmp(dtype, "float32") ? NDE_FLOAT32 : NDE_FLOAT64;
  const char *backend = getenv("NDE_BENCH_BACKEND");
  if (!backend || !*backend)
    backend = "cpu";
  CHECK(nde_backend_open(NULL, backend, NULL, &r.be));
  size_t n = mnist ? 784 : 2;
  r.batch = mnist ? 512 : 1;
  char model_json[4096], saveat[1024] = "";
  if (!mnist) {
    size_t k = 0;
    k += (size_t)snprintf(saveat + k, sizeof saveat - k, ", \"saveat\": [");
    for (int i = 0; i < 30; ++i)
      k += (size_t)snprintf(saveat + k, sizeof saveat - k, "%s%.17g", i ? ", " : "",
                            1.5 * i / 29.0);
    snprintf(saveat + k, sizeof saveat - k, "]");
  }
  const char *solver_opts = getenv("NDE_BENCH_SOLVER_OPTIONS");
  if (!solver_opts)
    solver_opts = "";
  char controller_buf[32];
  const char *controller = controller_of(solver_opts, controller_buf, sizeof controller_buf);
  const char *sens_opts = getenv("NDE_BENCH_SENS_OPTIONS");
  if (!backward || !sens_opts)
    sens_opts = "";
  snprintf(model_json, sizeof model_json,
           "{\"layer\": \"neural_ode\", \"tspan\": [0, %s]%s, \"dynamics\": %s,"
           " \"solver\": {\"plugin\": \"%s\", \"abstol\": %.17g, \"reltol\": %.17g%s%s},"
           " \"sensitivity\": {\"plugin\": \"%s\"%s%s}}",
           mnist ? "1" : "1.5", saveat, mnist ? MNIST_DYN : SPIRAL_DYN, solver, tol, tol,
           *solver_opts ? ", " : "", solver_opts,
           backward ? sens : "direct", *sens_opts ? ", " : "", sens_opts);
  nde_shape in = nde_shape_vector(n);
  nde_model *model, *dyn;
  CHECK(nde_model_build(NULL, model_json, "model", &in, r.be, r.dt, &model));
  CHECK(nde_model_build(NULL, mnist ? MNIST_DYN : SPIRAL_DYN, "model.dynamics", &in, r.be, r.dt,
                        &dyn));
  r.root = nde_model_root(model);
  r.np = nde_model_param_count(model);
  r.n_out = mnist ? n : 2 * 30;
  CHECK(nde_arena_create(r.be, &r.arena));
  nde_array params, grads, x, dy, target, dx;
  size_t xs[2] = {n, r.batch}, ys[2] = {r.n_out, r.batch};
  CHECK(nde_array_create(r.be, r.dt, 1, &r.np, &params));
  CHECK(nde_array_create(r.be, r.dt, 1, &r.np, &grads));
  CHECK(nde_array_create(r.be, r.dt, 2, xs, &x));
  CHECK(nde_array_create(r.be, r.dt, 2, xs, &dx));
  CHECK(nde_array_create(r.be, r.dt, 2, ys, &dy));
  CHECK(nde_array_create(r.be, r.dt, 2, ys, &target));
  nde_rng rng = nde_rng_make(0, 1);
  CHECK(nde_model_init_params(model, &rng, params.data));
  if (mnist) {
    r.be->ops->random_uniform(r.be->ctx, r.dt, x.size, 0, 9, 0, 0.0, 1.0, x.data);
    r.be->ops->random_normal(r.be->ctx, r.dt, dy.size, 0, 10, 0, 0.0, 1.0, dy.data);
  } else {
    double u0[2] = {2.0, 0.0}, targets[2 * 30];
    CHECK(nde_array_from_doubles(&x, u0, 2));
    /* the true spiral at the 30 points is not needed for timing: the target is u0 repeated */
    for (size_t i = 0; i < 30; ++i)
      memcpy(targets + 2 * i, u0, sizeof u0);
    CHECK(nde_array_from_doubles(&target, targets, 2 * 30));
    r.spiral_step = 1;
  }
  sync_backend = r.be;
  sync_buffer = r.dt == NDE_FLOAT64 ? x.data : NULL;
  if (!sync_buffer) { /* float32 arrays: one float64 element of its own */
    CHECK(r.be->ops->alloc(r.be->ctx, sizeof(double), &sync_buffer));
  }
  if (argc > 9) {
    const char *dir = argv[9];
    dump_f64(dir, "params.f64", &params);
    dump_f64(dir, "x.f64", &x);
    dump_f64(dir, "dy.f64", &dy);
    char path[4096];
    snprintf(path, sizeof path, "%s/layout.txt", dir);
    FILE *f = fopen(path, "w");
    for (size_t b = 0; f && b < nde_model_block_count(model); ++b) {
      const nde_layout_entry *e = nde_model_block(model, b);
      fprintf(f, "%s %zu %zu %zu\n", e->name, e->offset, e->shape[0],
              e->ndim > 1 ? e->shape[1] : (size_t)1);
    }
    if (f)
      fclose(f);
  }
  r.params = params.data;
  r.grads = grads.data;
  r.x = x.data;
  r.dy = dy.data;
  r.target = target.data;
  r.training = backward;
  bench_fn fn = backward ? forward_backward : forward_only;
  wait_backend();
  double t0 = now();
  fn(&r); /* time to first result: nde compiles nothing */
  wait_backend();
  double first = now() - t0;
  for (int i = 0; i < warmup; ++i)
    fn(&r);
  int inner = mnist ? 1 : 20;
  double t = best_time(fn, &r, reps, inner);
  double nfe_f = metric(&r.metrics, "nfe_forward"), nfe_b = metric(&r.metrics, "nfe_backward");
  int dinner = mnist ? 20 : 2000;
  double tf = 0, tv = 0;
  static const char *libs[] = {"{\"gemm\": \"openblas\"}", "{\"gemm\": \"onednn\"}"};
  int on_cpu = !strcmp(backend, "cpu"); /* another backend's floor is its own GEMM's */
  for (int l = 0; l < (on_cpu ? 2 : 1); ++l) {
    nde_backend *lb = r.be;
    if (on_cpu && nde_backend_open(NULL, "cpu", libs[l], &lb) != NDE_OK)
      continue; /* built without oneDNN */
    dyn_run d = {&r, lb, nde_model_root(dyn), dx.data, NULL};
    double f = best_time(dyn_forward, &d, 5, dinner), v = best_time(dyn_vjp, &d, 5, dinner);
    tf = tf == 0 || f < tf ? f : tf;
    tv = tv == 0 || v < tv ? v : tv;
    if (lb != r.be)
      nde_backend_destroy(&lb);
  }
  double floor_s = nfe_f * tf + nfe_b * tv;
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  double load = 0;
  FILE *la = fopen("/proc/loadavg", "r");
  if (la) {
    if (fscanf(la, "%lf", &load) != 1)
      load = 0;
    fclose(la);
  }
  const char *threads = getenv("OMP_NUM_THREADS");
  printf("{\"impl\": \"nde\", \"backend\": \"%s\", \"case\": \"%s\", \"dtype\": \"%s\", \"solver\": \"%s\", \"tol\": %g,"
         " \"mode\": \"%s\", \"sensitivity\": \"%s\", \"batch\": %zu, \"time_s\": %.6g,"
         " \"first_s\": %.6g, \"nfe_forward\": %.0f, \"nfe_backward\": %.0f, \"f_s\": %.6g,"
         " \"vjp_s\": %.6g, \"floor_s\": %.6g, \"floor_ratio\": %.3f, \"threads\": %d,"
         " \"load\": %.2f, \"peak_rss_mb\": %.1f",
         backend, which, dtype, solver, tol, mode, backward ? sens : "-", r.batch, t, first, nfe_f, nfe_b,
         tf, tv, floor_s, floor_s > 0 ? t / floor_s : 0.0, threads ? atoi(threads) : 0, load,
         (double)ru.ru_maxrss / 1024.0);
  printf(", \"controller\": \"%s\"", controller);
  print_options("sens_options", sens_opts);
  print_options("solver_options", solver_opts);
  printf("}\n");
  if (sync_buffer != x.data)
    r.be->ops->release(r.be->ctx, sync_buffer);
  nde_arena_destroy(&r.arena);
  nde_array_destroy(&dx);
  nde_array_destroy(&target);
  nde_array_destroy(&dy);
  nde_array_destroy(&x);
  nde_array_destroy(&grads);
  nde_array_destroy(&params);
  nde_model_destroy(&dyn);
  nde_model_destroy(&model);
  nde_backend_destroy(&r.be);
  return 0;
}
