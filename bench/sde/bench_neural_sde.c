/*
 * nde side of the neural spiral SDE benchmark (bench/sde/run_neural.sh; peers:
 * torchsde_neural_spiral.py, diffrax_neural_spiral.py).
 *
 * The thesis's Table 5.3 model: drift f(u) = W2·tanh(W1·u³ + b1) + b2 (u³
 * elementwise, W1 50×2, W2 2×50), diffusion g(u) = W3·u + b3 (2×2), diagonal Itô
 * noise; parameters from the files of neural_spiral_data.py (the peers read the
 * same). 100 trajectories from u0 = (2, 0) as ONE (2, 100) system with shared
 * adaptive steps, t ∈ [0, 1]. Drift and diffusion are nde models built from
 * pipeline JSON with the layer API (what a user's pipeline runs).
 *
 * Prints JSON lines:
 *  check    f and g at the states (2, 0) and (0.5, −1) (compared with the peers')
 *  floor    one drift + one diffusion evaluation on the (2, 100) state, and one
 *           VJP of both (evaluation with records + pullback), fastest of 5×2000
 *  forward  "via": "solve": nde_sde_solve() on callbacks that evaluate the two
 *           models (the integrator a neural_sde layer drives), for SOSRI/SOSRI2 ×
 *           stored/tree Brownian path × a tolerance sweep: median time of a
 *           solve with a freshly created path (creation and all Brownian queries
 *           timed), the error at t = 1 = mean over trajectories of the max-norm
 *           difference from SOSRI2 with 2^−13 fixed steps on the SAME path (queried
 *           after the timed solve), drift/diffusion evaluations, steps.
 *           "via": "layer": the same solve as one forward pass of a `neural_sde`
 *           layer (output: mean at t1; the layer creates its own path), median
 *           time and the layer's nfe_forward.
 *  train    one training step: 30 save points, loss mean((mean − m*)²) +
 *           mean((var − v*)²) (unbiased variance over the trajectories), discrete
 *           reverse mode along the same noise; median time (path creation
 *           included), NFE. "via": "layer": a `neural_sde` layer (output mean_var,
 *           sensitivity direct) forward + nde_loss_eval + nde_layer_vjp;
 *           "via": "sensitivity": the `direct` sensitivity plugin's
 *           sde_forward/sde_backward on the callbacks above, loss on the host.
 *           floor = nfe·t(f+g) + (pullbacks/2)·t(VJP of f and g).
 * The rows needing the `neural_sde` layer print {"kind": "layer_unavailable"}
 * when libnde has no such layer.
 *
 * Times are medians of the process's CPU time (BENCH_CLOCK=wall: wall-clock time).
 *
 * Usage: bench_neural_sde DATADIR [float32|float64] [SEED] [QUICK]
 *        bench_neural_sde DATADIR DTYPE SEED QUICK stored|tree [N]   (profile mode: N
 *        neural_sde training steps at tol 0.01, or forward passes with MODE=forward;
 *        for perf record; prints nothing)
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nde/layer.h>
#include <nde/loss.h>
#include <nde/model.h>
#include <nde/nde.h>

#define K 100
#define NSAVE 30
#define FINE_DT 1.220703125e-04 /* 2^-13 */

#define CHECK(expr)                                                                      \
  do {                                                                                   \
    if ((expr) != NDE_OK) {                                                              \
      fprintf(stderr, "bench_neural_sde:%d: %s\n", __LINE__, nde_last_error());          \
      exit(1);                                                                           \
    }                                                                                    \
  } while (0)

static const char *DRIFT_JSON =
    "{\"chain\": [\"cube\", {\"layer\": \"dense\", \"out\": 50, \"activation\": \"tanh\"},"
    " {\"layer\": \"dense\", \"out\": 2}]}";
static const char *DIFFUSION_JSON = "{\"layer\": \"dense\", \"out\": 2}";

/* The clock of every timing: the process's CPU time (default: the VM is shared, and a
   one-thread process's CPU time does not count the time other processes take), or
   wall-clock time with BENCH_CLOCK=wall. The peers' scripts read the same variable. */
static clockid_t bench_clock(void) {
  static int init;
  static clockid_t id;
  if (!init) {
    const char *c = getenv("BENCH_CLOCK");
    id = c && !strcmp(c, "wall") ? CLOCK_MONOTONIC : CLOCK_PROCESS_CPUTIME_ID;
    init = 1;
  }
  return id;
}

static double now(void) {
  struct timespec ts;
  clock_gettime(bench_clock(), &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double median(double *t, int n) {
  qsort(t, (size_t)n, sizeof *t, cmp);
  return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}

/* ---- the shared parameters (neural_spiral_data.py) ---- */

typedef struct host_params {
  double W1[100], b1[50], W2[100], b2[2], W3[4], b3[2], target[4 * NSAVE];
} host_params;

static void read_f64(const char *dir, const char *name, double *dst, size_t n) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s.f64", dir, name);
  FILE *f = fopen(path, "rb");
  if (!f || fread(dst, sizeof *dst, n, f) != n) {
    fprintf(stderr, "bench_neural_sde: cannot read %zu doubles from %s\n", n, path);
    exit(1);
  }
  fclose(f);
}

/* Copy the shared parameters into a model's flat array by the names of its layout:
   "...drift.chain[1].weight" = W1 and so on, "...diffusion.weight" = W3. Every block
   must be found and have the expected size. */
static void load_params(const nde_model *m, const host_params *hp, void *params) {
  nde_backend *be = nde_model_backend(m);
  nde_dtype dt = nde_model_dtype(m);
  size_t es = dt == NDE_FLOAT32 ? 4 : 8;
  for (size_t b = 0; b < nde_model_block_count(m); ++b) {
    const nde_layout_entry *e = nde_model_block(m, b);
    const double *src = NULL;
    size_t n = 0;
    if (strstr(e->name, "drift")) {
      if (strstr(e->name, "[1].weight"))
        src = hp->W1, n = 100;
      else if (strstr(e->name, "[1].bias"))
        src = hp->b1, n = 50;
      else if (strstr(e->name, "[2].weight"))
        src = hp->W2, n = 100;
      else if (strstr(e->name, "[2].bias"))
        src = hp->b2, n = 2;
    } else if (strstr(e->name, "diffusion")) {
      if (strstr(e->name, "weight"))
        src = hp->W3, n = 4;
      else if (strstr(e->name, "bias"))
        src = hp->b3, n = 2;
    }
    if (!src || n != e->size) {
      fprintf(stderr, "bench_neural_sde: unexpected parameter block %s (%zu elements)\n", e->name,
              e->size);
      exit(1);
    }
    be->ops->convert(be->ctx, NDE_FLOAT64, src, dt, (char *)params + e->offset * es, n);
  }
}

/* ---- drift and diffusion as nde models behind nde_sde_rhs callbacks ---- */

typedef struct nets {
  nde_backend *be;
  nde_dtype dt;
  nde_model *drift, *diffusion;
  nde_array pf, pg; /* their parameters */
  nde_arena *arena;
} nets;

static nde_status eval_model(nets *n, const nde_model *m, const void *p, double t,
                             const nde_array *u, nde_array *out) {
  nde_arena_mark mark = nde_arena_get_mark(n->arena);
  nde_layer_ctx ctx = {n->be, n->dt, u->shape[1], n->arena, 0, 0, 0, NULL, 0, 0};
  nde_record *rec;
  nde_status st = nde_layer_forward(nde_model_root(m), &ctx, u->data, t, p, &rec);
  if (st == NDE_OK)
    st = n->be->ops->copy(n->be->ctx, out->data, nde_record_output(rec), nde_array_bytes(out));
  nde_arena_rewind(n->arena, mark);
  return st;
}

static nde_status drift_cb(void *ctx, double t, const nde_array *u, nde_array *out) {
  nets *n = ctx;
  return eval_model(n, n->drift, n->pf.data, t, u, out);
}

static nde_status diffusion_cb(void *ctx, double t, const nde_array *u, nde_array *out) {
  nets *n = ctx;
  return eval_model(n, n->diffusion, n->pg.data, t, u, out);
}

/* w_u = wᵀ∂m/∂u at (t, u), w_p += wᵀ∂m/∂p (the model's slice of the combined gradient:
   drift parameters first, then diffusion's). */
static nde_status vjp_model(nets *n, const nde_model *m, const void *p, void *w_p_slice, double t,
                            const nde_array *u, const nde_array *w, nde_array *w_u) {
  nde_arena_mark mark = nde_arena_get_mark(n->arena);
  nde_layer_ctx ctx = {n->be, n->dt, u->shape[1], n->arena, 0, 1, 0, NULL, 0, 0};
  nde_record *rec;
  nde_status st = nde_layer_forward(nde_model_root(m), &ctx, u->data, t, p, &rec);
  if (st == NDE_OK)
    st = nde_layer_vjp(nde_model_root(m), &ctx, rec, w->data, w_u->data, w_p_slice, NULL);
  nde_arena_rewind(n->arena, mark);
  return st;
}

static nde_status drift_vjp_cb(void *ctx, double t, const nde_array *u, const nde_array *w,
                               nde_array *w_u, void *w_p) {
  nets *n = ctx;
  return vjp_model(n, n->drift, n->pf.data, w_p, t, u, w, w_u);
}

static nde_status diffusion_vjp_cb(void *ctx, double t, const nde_array *u, const nde_array *w,
                                   nde_array *w_u, void *w_p) {
  nets *n = ctx;
  size_t es = n->dt == NDE_FLOAT32 ? 4 : 8;
  return vjp_model(n, n->diffusion, n->pg.data, w_p ? (char *)w_p + n->pf.size * es : NULL, t, u,
                   w, w_u);
}

/* One VJP of drift and diffusion (evaluation with records + pullback), for the floor. */
static void vjp_both(nets *n, const nde_array *u, const nde_array *w, nde_array *du,
                     nde_array *gf, nde_array *gg) {
  nde_arena_reset(n->arena);
  nde_layer_ctx ctx = {n->be, n->dt, u->shape[1], n->arena, 0, 1, 0, NULL, 0, 0};
  nde_record *rf, *rg;
  CHECK(nde_layer_forward(nde_model_root(n->drift), &ctx, u->data, 0.0, n->pf.data, &rf));
  CHECK(nde_layer_vjp(nde_model_root(n->drift), &ctx, rf, w->data, du->data, gf->data, NULL));
  CHECK(nde_layer_forward(nde_model_root(n->diffusion), &ctx, u->data, 0.0, n->pg.data, &rg));
  CHECK(nde_layer_vjp(nde_model_root(n->diffusion), &ctx, rg, w->data, du->data, gg->data,
                      NULL));
}

static nde_sde_solver *open_solver(const char *name, const char *json) {
  nde_options *o = NULL;
  CHECK(nde_options_parse(json, &o));
  nde_sde_solver *s = NULL;
  CHECK(nde_sde_solver_open(NULL, name, o, "solver", &s));
  nde_options_destroy(&o);
  return s;
}

static double metric(const nde_layer_metrics *m, const char *name) {
  for (int i = 0; i < m->n; ++i)
    if (!strcmp(m->names[i], name))
      return m->values[i];
  return NAN;
}

/* ---- the neural_sde layer (forward pass and training step) ---- */

typedef struct layer_run {
  nde_backend *be;
  nde_dtype dt;
  nde_model *model;
  nde_array params, grads, x, dy, target;
  nde_arena *arena;
  nde_layer_metrics metrics;
  uint64_t seed;
  size_t n_out;
  double loss;
  int train;
} layer_run;

/* Build a neural_sde model; 0 when libnde has no such layer. */
static int build_layer(layer_run *r, const char *solver, double tol, int train,
                       const char *brownian, const double *target) {
  char json[8192], saveat[2048] = "";
  if (train) {
    size_t k = (size_t)snprintf(saveat, sizeof saveat, ", \"saveat\": [");
    for (int i = 0; i < NSAVE; ++i)
      k += (size_t)snprintf(saveat + k, sizeof saveat - k, "%s%.17g", i ? ", " : "",
                            (double)i / (NSAVE - 1));
    snprintf(saveat + k, sizeof saveat - k, "]");
  }
  snprintf(json, sizeof json,
           "{\"layer\": \"neural_sde\", \"drift\": %s, \"diffusion\": %s, \"tspan\": [0, 1]%s,"
           " \"trajectories\": %d, \"output\": \"%s\", \"brownian\": \"%s\","
           " \"solver\": {\"plugin\": \"%s\", \"abstol\": %.17g, \"reltol\": %.17g}}",
           DRIFT_JSON, DIFFUSION_JSON, saveat, K, train ? "mean_var" : "mean", brownian, solver,
           tol, tol);
  nde_shape in = nde_shape_vector(2);
  if (nde_model_build(NULL, json, "model", &in, r->be, r->dt, &r->model) != NDE_OK) {
    printf("{\"lib\": \"nde\", \"kind\": \"layer_unavailable\", \"why\": \"");
    for (const char *c = nde_last_error(); *c; ++c)
      if (*c != '"' && *c != '\\' && *c != '\n')
        putchar(*c);
    printf("\"}\n");
    return 0;
  }
  size_t np = nde_model_param_count(r->model);
  r->n_out = nde_shape_size(nde_layer_output_shape(nde_model_root(r->model)));
  size_t xs[2] = {2, 1}, ys[2] = {r->n_out, 1};
  CHECK(nde_array_create(r->be, r->dt, 1, &np, &r->params));
  CHECK(nde_array_create(r->be, r->dt, 1, &np, &r->grads));
  CHECK(nde_array_create(r->be, r->dt, 2, xs, &r->x));
  CHECK(nde_array_create(r->be, r->dt, 2, ys, &r->dy));
  double u0[2] = {2.0, 0.0};
  CHECK(nde_array_from_doubles(&r->x, u0, 2));
  if (train) {
    if (r->n_out != 4 * NSAVE) {
      fprintf(stderr, "bench_neural_sde: the mean_var output has %zu values, not %d\n", r->n_out,
              4 * NSAVE);
      exit(1);
    }
    CHECK(nde_array_create(r->be, r->dt, 2, ys, &r->target));
    CHECK(nde_array_from_doubles(&r->target, target, 4 * NSAVE));
  }
  CHECK(nde_arena_create(r->be, &r->arena));
  r->train = train;
  return 1;
}

static void free_layer(layer_run *r) {
  nde_arena_destroy(&r->arena);
  nde_array_destroy(&r->target);
  nde_array_destroy(&r->dy);
  nde_array_destroy(&r->x);
  nde_array_destroy(&r->grads);
  nde_array_destroy(&r->params);
  nde_model_destroy(&r->model);
}

static void layer_pass(layer_run *r) {
  nde_arena_reset(r->arena);
  nde_layer_metrics_clear(&r->metrics);
  nde_layer_ctx ctx = {r->be, r->dt, 1, r->arena, 0, r->train, r->seed, &r->metrics, 0, 0};
  nde_record *rec;
  CHECK(nde_layer_forward(nde_model_root(r->model), &ctx, r->x.data, 0.0, r->params.data, &rec));
  if (!r->train)
    return;
  /* the loss mean((mean − m*)²) + mean((var − v*)²) over 30 points × 2 features each is
     twice the mse over the 120 outputs (both halves have 60 elements) */
  double mse;
  CHECK(nde_loss_eval(r->be, r->dt, NDE_LOSS_MSE, r->n_out, 1, nde_record_output(rec),
                      r->target.data, 2.0,
                      &mse, r->dy.data, NULL));
  r->loss = 2.0 * mse;
  r->be->ops->fill(r->be->ctx, r->dt, r->grads.size, 0.0, r->grads.data);
  CHECK(nde_layer_vjp(nde_model_root(r->model), &ctx, rec, r->dy.data, NULL, r->grads.data,
                      NULL));
}

static double layer_time(layer_run *r, int reps) {
  double t[64];
  layer_pass(r); /* warm-up: the arena grows to its working size */
  for (int i = 0; i < reps; ++i) {
    double t0 = now();
    layer_pass(r);
    t[i] = now() - t0;
  }
  return median(t, reps);
}

/* ---- (b) without the layer: one training step through the `direct` sensitivity ---- */

/* The loss mean((mean − m*)²) + mean((var − v*)²) over the save points of states u
   (2·K rows × NSAVE columns, column j = the (2, K) state at save point j) and its
   cotangent du (same layout). */
static double mean_var_loss(const double *u, const double *target, double *du) {
  double loss = 0;
  const double c = 1.0 / (2.0 * NSAVE); /* each half averages 2·NSAVE terms */
  for (int j = 0; j < NSAVE; ++j)
    for (int i = 0; i < 2; ++i) {
      const double *col = u + (size_t)j * 2 * K;
      double m = 0, v = 0;
      for (int k = 0; k < K; ++k)
        m += col[i + 2 * k];
      m /= K;
      for (int k = 0; k < K; ++k)
        v += (col[i + 2 * k] - m) * (col[i + 2 * k] - m);
      v /= K - 1;
      double em = m - target[4 * j + i], ev = v - target[4 * j + 2 + i];
      loss += c * (em * em + ev * ev);
      for (int k = 0; k < K; ++k)
        du[(size_t)j * 2 * K + i + 2 * k] =
            c * (2.0 * em / K + 2.0 * ev * 2.0 * (col[i + 2 * k] - m) / (K - 1));
    }
  return loss;
}

static void train_via_sensitivity(nets *n, const nde_sde_rhs *rhs, const nde_array *u0,
                                  const host_params *hp, const char *solver_name, double tol,
                                  int stored, uint64_t seed, int reps, double feval, double fvjp,
                                  const char *dname) {
  char json[128];
  snprintf(json, sizeof json, "{\"abstol\": %.17g, \"reltol\": %.17g}", tol, tol);
  nde_sde_solver *solver = open_solver(solver_name, json);
  const void *vt = NULL;
  nde_options *so = NULL;
  CHECK(nde_registry_open_plugin(NULL, NDE_KIND_SENSITIVITY, "direct", NULL, "sensitivity", &vt,
                                 &so));
  const nde_sensitivity_ops *sens = vt;
  if (!NDE_VTABLE_HAS(sens, nde_sensitivity_ops, sde_forward) ||
      !NDE_VTABLE_HAS(sens, nde_sensitivity_ops, sde_backward)) {
    printf("{\"lib\": \"nde\", \"kind\": \"sensitivity_unavailable\"}\n");
    nde_options_destroy(&so);
    nde_sde_solver_destroy(&solver);
    return;
  }
  void *state = NULL;
  CHECK(sens->create(so, &state));
  size_t np = n->pf.size + n->pg.size, ds[2] = {2 * K, NSAVE};
  nde_array grads = {0}, du_save = {0};
  CHECK(nde_array_create(n->be, n->dt, 1, &np, &grads));
  CHECK(nde_array_create(n->be, n->dt, 2, ds, &du_save));
  double saveat[NSAVE];
  for (int j = 0; j < NSAVE; ++j)
    saveat[j] = (double)j / (NSAVE - 1);
  static double u[2 * K * NSAVE], du[2 * K * NSAVE];
  double times[16], loss = 0;
  nde_sde_stats fs = {0};
  nde_sens_stats bs = {0};
  for (int r = -1; r < reps; ++r) { /* r = −1: warm-up */
    double t0 = now();
    nde_brownian_config bc = {.seed = seed, .t0 = 0, .t1 = 1, .dim = 2 * K, .levy_area = 1,
                              .stored = stored};
    nde_brownian *path = NULL;
    CHECK(nde_brownian_create(&bc, &path));
    nde_sde_sens_problem prob = {rhs, solver, path, 0.0, 1.0, saveat, NSAVE, u0, np};
    nde_sde_solution sol;
    CHECK(sens->sde_forward(state, &prob, &sol));
    CHECK(nde_array_to_doubles(&sol.u, u, 2 * K * NSAVE));
    loss = mean_var_loss(u, hp->target, du);
    CHECK(nde_array_from_doubles(&du_save, du, 2 * K * NSAVE));
    n->be->ops->fill(n->be->ctx, n->dt, np, 0.0, grads.data);
    memset(&bs, 0, sizeof bs);
    CHECK(sens->sde_backward(state, &prob, &du_save, NULL, NULL, NULL, grads.data, &bs));
    double t = now() - t0;
    fs = sol.stats;
    fs.steps = NULL;
    nde_sde_solution_clear(&sol);
    nde_brownian_destroy(&path);
    if (r >= 0)
      times[r] = t;
  }
  double gn = 0;
  {
    double *h = malloc(np * sizeof *h);
    n->be->ops->convert(n->be->ctx, n->dt, grads.data, NDE_FLOAT64, h, np);
    for (size_t i = 0; i < np; ++i)
      gn += h[i] * h[i];
    free(h);
  }
  double med = median(times, reps);
  double floor_s = (double)fs.nf * feval + 0.5 * (double)bs.nvjp * fvjp;
  printf("{\"lib\": \"nde\", \"kind\": \"train\", \"via\": \"sensitivity\", \"dtype\": \"%s\","
         " \"method\": \"%s\", \"brownian\": \"%s\", \"tol\": %g, \"seconds\": %.6e,"
         " \"nf\": %ld, \"ng\": %ld, \"accepted\": %ld, \"rejected\": %ld,"
         " \"nfe_backward\": %ld, \"nvjp_backward\": %ld, \"loss\": %.9g, \"grad_norm\": %.6g,"
         " \"floor_ratio\": %.3f}\n",
         dname, solver_name, stored ? "stored" : "tree", tol, med, fs.nf, fs.ng, fs.accepted,
         fs.rejected, bs.nfe, bs.nvjp, loss, sqrt(gn), med / floor_s);
  fflush(stdout);
  nde_array_destroy(&du_save);
  nde_array_destroy(&grads);
  sens->destroy(state);
  nde_options_destroy(&so);
  nde_sde_solver_destroy(&solver);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: bench_neural_sde DATADIR [float32|float64] [SEED] [QUICK]\n");
    return 2;
  }
  const char *dir = argv[1];
  const char *dname = argc > 2 ? argv[2] : "float32";
  uint64_t seed = argc > 3 ? strtoull(argv[3], NULL, 10) : 2026;
  int quick = argc > 4 && !strcmp(argv[4], "1");
  static host_params hp;
  read_f64(dir, "W1", hp.W1, 100);
  read_f64(dir, "b1", hp.b1, 50);
  read_f64(dir, "W2", hp.W2, 100);
  read_f64(dir, "b2", hp.b2, 2);
  read_f64(dir, "W3", hp.W3, 4);
  read_f64(dir, "b3", hp.b3, 2);
  read_f64(dir, "target", hp.target, 4 * NSAVE);

  nets n;
  memset(&n, 0, sizeof n);
  n.dt = !strcmp(dname, "float64") ? NDE_FLOAT64 : NDE_FLOAT32;
  CHECK(nde_backend_open(NULL, "cpu", NULL, &n.be));
  nde_shape in = nde_shape_vector(2);
  CHECK(nde_model_build(NULL, DRIFT_JSON, "model.drift", &in, n.be, n.dt, &n.drift));
  CHECK(nde_model_build(NULL, DIFFUSION_JSON, "model.diffusion", &in, n.be, n.dt, &n.diffusion));
  size_t npf = nde_model_param_count(n.drift), npg = nde_model_param_count(n.diffusion);
  CHECK(nde_array_create(n.be, n.dt, 1, &npf, &n.pf));
  CHECK(nde_array_create(n.be, n.dt, 1, &npg, &n.pg));
  load_params(n.drift, &hp, n.pf.data);
  load_params(n.diffusion, &hp, n.pg.data);
  CHECK(nde_arena_create(n.be, &n.arena));
  nde_sde_rhs rhs = {drift_cb, diffusion_cb, drift_vjp_cb, diffusion_vjp_cb, NDE_NOISE_DIAGONAL,
                     &n};
  if (argc > 5) { /* profile mode: PATH = stored | tree; N layer training steps at tol 0.01
                     (forward only with MODE=forward) for `perf record`, nothing printed */
    const char *mode = getenv("MODE");
    int train = !(mode && !strcmp(mode, "forward"));
    layer_run r;
    memset(&r, 0, sizeof r);
    r.be = n.be;
    r.dt = n.dt;
    r.seed = seed;
    if (!build_layer(&r, "sosri", 0.01, train, argv[5], hp.target))
      return 1;
    load_params(r.model, &hp, r.params.data);
    for (int i = 0, reps = argc > 6 ? atoi(argv[6]) : 100; i < reps; ++i)
      layer_pass(&r);
    free_layer(&r);
    return 0;
  }

  /* check: f and g at two states */
  {
    size_t s2[2] = {2, 2};
    nde_array u = {0}, o = {0};
    CHECK(nde_array_create(n.be, n.dt, 2, s2, &u));
    CHECK(nde_array_create(n.be, n.dt, 2, s2, &o));
    double h[4] = {2.0, 0.0, 0.5, -1.0}, f[4], g[4];
    CHECK(nde_array_from_doubles(&u, h, 4));
    CHECK(drift_cb(&n, 0.0, &u, &o));
    CHECK(nde_array_to_doubles(&o, f, 4));
    CHECK(diffusion_cb(&n, 0.0, &u, &o));
    CHECK(nde_array_to_doubles(&o, g, 4));
    printf("{\"lib\": \"nde\", \"kind\": \"check\", \"f\": [%.9g, %.9g, %.9g, %.9g],"
           " \"g\": [%.9g, %.9g, %.9g, %.9g]}\n",
           f[0], f[1], f[2], f[3], g[0], g[1], g[2], g[3]);
    nde_array_destroy(&u);
    nde_array_destroy(&o);
  }

  size_t shape[2] = {2, K};
  nde_array u0 = {0}, out = {0}, w = {0}, du = {0}, gf = {0}, gg = {0};
  CHECK(nde_array_create(n.be, n.dt, 2, shape, &u0));
  CHECK(nde_array_create(n.be, n.dt, 2, shape, &out));
  CHECK(nde_array_create(n.be, n.dt, 2, shape, &w));
  CHECK(nde_array_create(n.be, n.dt, 2, shape, &du));
  CHECK(nde_array_create(n.be, n.dt, 1, &npf, &gf));
  CHECK(nde_array_create(n.be, n.dt, 1, &npg, &gg));
  double init[2 * K], rnd[2 * K];
  for (int k = 0; k < K; ++k) {
    init[2 * k] = 2.0, init[2 * k + 1] = 0.0;
    rnd[2 * k] = sin(1.0 + k), rnd[2 * k + 1] = cos(2.0 * k);
  }
  CHECK(nde_array_from_doubles(&u0, init, 2 * K));
  CHECK(nde_array_from_doubles(&w, init, 2 * K));

  /* floor: one drift + one diffusion evaluation, and one VJP of both, on (2, 100) */
  double feval = INFINITY, fvjp = INFINITY;
  {
    nde_array y = {0};
    CHECK(nde_array_create(n.be, n.dt, 2, shape, &y));
    CHECK(nde_array_from_doubles(&y, rnd, 2 * K));
    for (int r = 0; r < 5; ++r) {
      double t0 = now();
      for (int i = 0; i < 2000; ++i) {
        CHECK(drift_cb(&n, 0.0, &y, &out));
        CHECK(diffusion_cb(&n, 0.0, &y, &out));
      }
      feval = fmin(feval, (now() - t0) / 2000);
      t0 = now();
      for (int i = 0; i < 2000; ++i)
        vjp_both(&n, &y, &w, &du, &gf, &gg);
      fvjp = fmin(fvjp, (now() - t0) / 2000);
    }
    nde_arena_reset(n.arena);
    nde_array_destroy(&y);
  }
  printf("{\"lib\": \"nde\", \"kind\": \"floor\", \"dtype\": \"%s\", \"f_plus_g_seconds\": %.6e,"
         " \"f_plus_g_vjp_seconds\": %.6e}\n",
         dname, feval, fvjp);
  fflush(stdout);

  /* (a) forward solves through nde_sde_solve on the model callbacks */
  nde_sde_solver *fine = NULL;
  {
    char fj[128];
    snprintf(fj, sizeof fj, "{\"adaptive\": false, \"dt\": %.17g}", FINE_DT);
    fine = open_solver("sosri2", fj);
  }
  const char *solvers[] = {"sosri", "sosri2"};
  const char *modes[] = {"stored", "tree"};
  double tols_full[] = {1.0, 0.3, 0.1, 3e-2, 1e-2, 3e-3}, tols_quick[] = {1.0, 0.3, 0.1};
  double *tols = quick ? tols_quick : tols_full;
  int ntol = quick ? 3 : 6;
  double ref[2 * K], fin[2 * K];
  for (int mi = 0; mi < 2; ++mi)
    for (int si = 0; si < 2; ++si)
      for (int ti = 0; ti < ntol; ++ti) {
        char json[128];
        snprintf(json, sizeof json, "{\"abstol\": %.17g, \"reltol\": %.17g}", tols[ti], tols[ti]);
        nde_sde_solver *s = open_solver(solvers[si], json);
        nde_brownian_config bc = {.seed = seed, .t0 = 0, .t1 = 1, .dim = 2 * K, .levy_area = 1,
                                  .stored = mi == 0};
        nde_brownian *path = NULL;
        nde_sde_solution sol;
        nde_sde_stats st = {0};
        double times[16];
        int reps = quick ? 5 : 9;
        for (int r = -1; r < reps; ++r) { /* r = −1: warm-up */
          nde_brownian_destroy(&path);
          double t0 = now();
          CHECK(nde_brownian_create(&bc, &path));
          CHECK(nde_sde_solve(s, &rhs, NULL, 0, 1, &u0, path, NULL, 0, &sol));
          double t = now() - t0;
          if (r >= 0)
            times[r] = t;
          CHECK(nde_array_to_doubles(&sol.u_final, fin, 2 * K));
          st = sol.stats;
          st.steps = NULL;
          nde_sde_solution_clear(&sol);
        }
        double med = median(times, reps), best = times[0];
        CHECK(nde_sde_solve(fine, &rhs, NULL, 0, 1, &u0, path, NULL, 0, &sol));
        CHECK(nde_array_to_doubles(&sol.u_final, ref, 2 * K));
        nde_sde_solution_clear(&sol);
        double err = 0;
        for (int k = 0; k < K; ++k)
          err += fmax(fabs(fin[2 * k] - ref[2 * k]), fabs(fin[2 * k + 1] - ref[2 * k + 1]));
        err /= K;
        printf("{\"lib\": \"nde\", \"kind\": \"forward\", \"via\": \"solve\", \"dtype\": \"%s\","
               " \"method\": \"%s\", \"brownian\": \"%s\", \"tol\": %g, \"seconds\": %.6e,"
               " \"best_seconds\": %.6e, \"error\": %.6e, \"nf\": %ld, \"ng\": %ld,"
               " \"accepted\": %ld, \"rejected\": %ld, \"floor_ratio\": %.3f}\n",
               dname, solvers[si], modes[mi], tols[ti], med, best, err, st.nf, st.ng,
               st.accepted, st.rejected, med / ((double)st.nf * feval));
        fflush(stdout);
        nde_brownian_destroy(&path);
        nde_sde_solver_destroy(&s);
      }
  /* fixed steps too (SOSRI2, stored path): the convergence order on this model */
  for (int k = 4; k <= (quick ? 6 : 8); ++k) {
    char json[128];
    snprintf(json, sizeof json, "{\"adaptive\": false, \"dt\": %.17g}", ldexp(1.0, -k));
    nde_sde_solver *s = open_solver("sosri2", json);
    nde_brownian_config bc = {.seed = seed, .t0 = 0, .t1 = 1, .dim = 2 * K, .levy_area = 1,
                              .stored = 1};
    nde_brownian *path = NULL;
    nde_sde_solution sol;
    nde_sde_stats st = {0};
    double times[16];
    int reps = quick ? 5 : 9;
    for (int r = -1; r < reps; ++r) {
      nde_brownian_destroy(&path);
      double t0 = now();
      CHECK(nde_brownian_create(&bc, &path));
      CHECK(nde_sde_solve(s, &rhs, NULL, 0, 1, &u0, path, NULL, 0, &sol));
      double t = now() - t0;
      if (r >= 0)
        times[r] = t;
      CHECK(nde_array_to_doubles(&sol.u_final, fin, 2 * K));
      st = sol.stats;
      st.steps = NULL;
      nde_sde_solution_clear(&sol);
    }
    double med = median(times, reps);
    CHECK(nde_sde_solve(fine, &rhs, NULL, 0, 1, &u0, path, NULL, 0, &sol));
    CHECK(nde_array_to_doubles(&sol.u_final, ref, 2 * K));
    nde_sde_solution_clear(&sol);
    double err = 0;
    for (int q = 0; q < K; ++q)
      err += fmax(fabs(fin[2 * q] - ref[2 * q]), fabs(fin[2 * q + 1] - ref[2 * q + 1]));
    err /= K;
    printf("{\"lib\": \"nde\", \"kind\": \"forward\", \"via\": \"solve\", \"dtype\": \"%s\","
           " \"method\": \"sosri2-fixed\", \"brownian\": \"stored\", \"tol\": %g, \"dt\": %g,"
           " \"seconds\": %.6e, \"best_seconds\": %.6e, \"error\": %.6e, \"nf\": %ld,"
           " \"ng\": %ld, \"accepted\": %ld, \"rejected\": %ld, \"floor_ratio\": %.3f}\n",
           dname, ldexp(1.0, -k), ldexp(1.0, -k), med, times[0], err, st.nf, st.ng, st.accepted,
           st.rejected, med / ((double)st.nf * feval));
    fflush(stdout);
    nde_brownian_destroy(&path);
    nde_sde_solver_destroy(&s);
  }
  nde_sde_solver_destroy(&fine);

  /* (b) without the layer: the training step through the `direct` sensitivity on the
     same callbacks (what the neural_sde layer drives) */
  for (int mi = 0; mi < 2; ++mi)
    for (int ti = 0; ti < (quick ? 3 : 5); ++ti)
      train_via_sensitivity(&n, &rhs, &u0, &hp, "sosri", tols[ti], mi == 0, seed, quick ? 5 : 9,
                            feval, fvjp, dname);

  /* (a') the same forward solve as a neural_sde layer; (b) one training step */
  for (int train = 0; train <= 1; ++train)
    for (int mi = 0; mi < 2; ++mi)
      for (int si = 0; si < 2; ++si)
        for (int ti = 0; ti < ntol; ++ti) {
          if (train && (ti > 4 || si == 1))
            continue; /* training: SOSRI, tolerances down to 0.01 */
          layer_run r;
          memset(&r, 0, sizeof r);
          r.be = n.be;
          r.dt = n.dt;
          r.seed = seed;
          if (!build_layer(&r, solvers[si], tols[ti], train, modes[mi], hp.target)) {
            train = 2, mi = 2, si = 2, ti = ntol; /* no layer: nothing more to do */
            break;
          }
          load_params(r.model, &hp, r.params.data);
          double t = layer_time(&r, quick ? 5 : 9);
          double nf = metric(&r.metrics, "nfe_forward"), nb = metric(&r.metrics, "nfe_backward");
          /* nfe_backward counts drift and diffusion pullbacks separately; fvjp is one
             VJP of both (with the evaluation the reverse step recomputes) */
          double floor_s = nf * feval + (train && nb == nb ? 0.5 * nb * fvjp : 0.0);
          printf("{\"lib\": \"nde\", \"kind\": \"%s\", \"via\": \"layer\", \"dtype\": \"%s\","
                 " \"method\": \"%s\", \"brownian\": \"%s\", \"tol\": %g, \"seconds\": %.6e,"
                 " \"nf\": %.0f, \"ng\": %.0f, \"accepted\": %.0f, \"rejected\": %.0f,"
                 " \"nfe_backward\": %.0f, \"loss\": %.9g, \"floor_ratio\": %.3f}\n",
                 train ? "train" : "forward", dname, solvers[si], modes[mi], tols[ti], t, nf,
                 metric(&r.metrics, "nfe_diffusion"), metric(&r.metrics, "steps_accepted"),
                 metric(&r.metrics, "steps_rejected"), nb == nb ? nb : 0.0,
                 train ? r.loss : 0.0, t / floor_s);
          fflush(stdout);
          free_layer(&r);
        }

  nde_array_destroy(&gg);
  nde_array_destroy(&gf);
  nde_array_destroy(&du);
  nde_array_destroy(&w);
  nde_array_destroy(&out);
  nde_array_destroy(&u0);
  nde_arena_destroy(&n.arena);
  nde_array_destroy(&n.pg);
  nde_array_destroy(&n.pf);
  nde_model_destroy(&n.diffusion);
  nde_model_destroy(&n.drift);
  nde_backend_destroy(&n.be);
  return 0;
}
