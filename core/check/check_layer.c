/*
 * layer conformance, in float64 on the CPU: the layer built alone on a
 * 4-feature input (or the per-sample shape of the manifest's capability
 * "check_input", e.g. [5, 4, 2] for images) with a batch of 3 (required
 * options without a default get a small value: integers 3, arrays [2, 2]),
 * random parameters and inputs, then
 *   vjp: dx and dparams of <c, f(x, t; p)> against central differences
 *        (step 1e-6·(1 + |v|), relative error ≤ 1e-6);
 *   jvp (where the manifest claims it): the pushforward of random tangents
 *        of x and p against the central difference of f along them.
 * The same gradient check serves the sensitivity and regularizer kinds
 * (nde_check_model_gradient(): a model that uses the plugin, solver steps
 * frozen for the differences).
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nde/layer.h>
#include <nde/model.h>

#include "check.h"

#define FEATURES 4
#define BATCH 3
#define FD_TOL 1e-6

typedef struct fx {
  nde_model *model;
  const nde_layer *root;
  size_t np, nin, nout;
  double *p, *x, *c, *y;
  nde_arena *arena;
  nde_layer_ctx ctx;
  nde_layer_metrics metrics;
  int with_aux; /* add metrics.aux_loss to the probe (regularizers) */
} fx;

static void fx_free(fx *f) {
  nde_arena_destroy(&f->arena);
  nde_model_destroy(&f->model);
  free(f->p);
  free(f->x);
  free(f->c);
  free(f->y);
}

/* {"layer": name, required options...}; NULL (and *why) when a value cannot be chosen. */
static char *model_json(const nde_plugin *plugin, char *why, size_t nwhy) {
  const nde_options *specs = nde_plugin_option_specs(plugin);
  size_t cap = 256, len = 0;
  char *s = malloc(cap);
  if (!s)
    return NULL;
  len = (size_t)snprintf(s, cap, "{\"layer\": \"%s\"", nde_plugin_name(plugin));
  for (size_t i = 0; i < nde_options_count(specs); ++i) {
    const char *key = nde_options_key_at(specs, i);
    const nde_options *spec = nde_options_object(specs, key);
    if (!nde_options_bool(spec, "required", 0) || nde_options_has(spec, "default"))
      continue;
    const char *type = nde_options_string(spec, "type", "");
    const char *value = !strcmp(type, "integer") ? "3" : !strcmp(type, "array") ? "[2, 2]" : NULL;
    if (!value) {
      snprintf(why, nwhy, "required option '%s' of type '%s': nde check cannot choose a value",
               key, type);
      free(s);
      return NULL;
    }
    if (len + strlen(key) + 32 > cap) {
      char *t = realloc(s, cap *= 2);
      if (!t) {
        free(s);
        return NULL;
      }
      s = t;
    }
    len += (size_t)snprintf(s + len, cap - len, ", \"%s\": %s", key, value);
  }
  snprintf(s + len, cap - len, "}");
  return s;
}

/* The input shape: the plugin's capability "check_input" (1..NDE_MAX_DIMS extents), else 4 features. */
static nde_status check_input(nde_check_run *run, nde_shape *in) {
  *in = nde_shape_vector(FEATURES);
  const nde_options *caps = run->plugin ? nde_check_caps(run) : NULL;
  size_t n = caps && nde_options_has(caps, "check_input")
                 ? nde_options_array_size(caps, "check_input") : 0;
  if (n == 0)
    return NDE_OK;
  if (n > NDE_MAX_DIMS)
    return nde_error(NDE_EPLUGIN, "capabilities.check_input: at most %d extents, got %zu",
                     NDE_MAX_DIMS, n);
  in->ndim = (int)n;
  for (size_t i = 0; i < n; ++i) {
    double v = nde_options_array_number(caps, "check_input", i, 0);
    if (!(v >= 1 && v <= 64))
      return nde_error(NDE_EPLUGIN, "capabilities.check_input[%zu]: want 1..64, got %g", i, v);
    in->dims[i] = (size_t)v;
  }
  return NDE_OK;
}

static nde_status fx_make(nde_check_run *run, const char *json, fx *f, int plugin_input) {
  memset(f, 0, sizeof *f);
  nde_backend *be = nde_check_cpu_backend(run->registry);
  if (!be)
    return NDE_EPLUGIN;
  nde_shape in = nde_shape_vector(FEATURES);
  if (plugin_input)
    NDE_TRY(check_input(run, &in));
  nde_status st = nde_model_build(run->registry, json, "check", &in, be, NDE_FLOAT64, &f->model);
  if (st != NDE_OK)
    return st;
  f->root = nde_model_root(f->model);
  f->np = nde_model_param_count(f->model);
  f->nin = nde_shape_size(&in) * BATCH;
  f->nout = nde_shape_size(nde_layer_output_shape(f->root)) * BATCH;
  f->p = calloc(f->np + 1, sizeof *f->p);
  f->x = malloc(f->nin * sizeof *f->x);
  f->c = malloc(f->nout * sizeof *f->c);
  f->y = malloc(f->nout * sizeof *f->y);
  if (!f->p || !f->x || !f->c || !f->y)
    return nde_error(NDE_ENOMEM, "out of memory");
  nde_rng rng = nde_rng_make(2024, 7);
  st = nde_model_init_params(f->model, &rng, f->p);
  for (size_t i = 0; i < f->np; ++i)
    f->p[i] += 0.3 * nde_rng_normal(&rng); /* zero-initialized biases are not special */
  for (size_t i = 0; i < f->nin; ++i)
    f->x[i] = nde_rng_normal(&rng);
  for (size_t i = 0; i < f->nout; ++i)
    f->c[i] = nde_rng_normal(&rng);
  if (st == NDE_OK)
    st = nde_arena_create(be, &f->arena);
  f->ctx = (nde_layer_ctx){be, NDE_FLOAT64, BATCH, f->arena, 0, 1, 2024, &f->metrics, 0, 0, 0.0,
                           NULL};
  return st;
}

/* y = f(x, t; p) into f->y (metrics cleared first: aux terms are per evaluation) */
static nde_status fx_eval(fx *f, const double *x, const double *p) {
  nde_arena_reset(f->arena);
  nde_layer_metrics_clear(&f->metrics);
  nde_record *rec;
  nde_status st = nde_layer_forward(f->root, &f->ctx, x, 0.4, p, &rec);
  if (st == NDE_OK)
    memcpy(f->y, nde_record_output(rec), f->nout * sizeof *f->y);
  return st;
}

/* L = <c, f(x, t; p)> (+ the auxiliary loss the layers added, with_aux) */
static nde_status fx_probe(fx *f, const double *x, const double *p, double *L) {
  nde_status st = fx_eval(f, x, p);
  double s = f->with_aux ? f->metrics.aux_loss : 0;
  for (size_t i = 0; i < f->nout; ++i)
    s += f->c[i] * f->y[i];
  *L = s;
  return st;
}

/* Central difference of <c, f> in coordinate i of v (x or p); relative error against g. */
static nde_status fd_compare(fx *f, double *v, size_t n, const double *g, int is_x, double *worst) {
  for (size_t i = 0; i < n; ++i) {
    double keep = v[i], e = 1e-6 * (1 + fabs(keep)), Lp, Lm;
    v[i] = keep + e;
    nde_status st = fx_probe(f, is_x ? v : f->x, is_x ? f->p : v, &Lp);
    v[i] = keep - e;
    if (st == NDE_OK)
      st = fx_probe(f, is_x ? v : f->x, is_x ? f->p : v, &Lm);
    v[i] = keep;
    if (st != NDE_OK)
      return st;
    double fd = (Lp - Lm) / (2 * e);
    *worst = fmax(*worst, fabs(g[i] - fd) / (1 + fabs(fd)));
  }
  return NDE_OK;
}

/*
 * dx and dparams of the probe from the vjp against central differences.
 * With freeze, the forward pass of the vjp records the solvers' accepted
 * steps and every difference replays them (adaptive solvers inside the
 * model then give a smooth function of x and p).
 */
static void check_vjp(nde_check_run *run, fx *f, const char *what, double tol, int freeze) {
  double *dx = malloc(f->nin * sizeof *dx), *dp = calloc(f->np + 1, sizeof *dp), worst = 0;
  nde_status st = dx && dp ? NDE_OK : nde_error(NDE_ENOMEM, "out of memory");
  nde_arena_reset(f->arena);
  nde_layer_metrics_clear(&f->metrics);
  nde_record *rec = NULL;
  f->ctx.freeze_steps = freeze ? 1 : 0;
  if (st == NDE_OK)
    st = nde_layer_forward(f->root, &f->ctx, f->x, 0.4, f->p, &rec);
  double aux = f->metrics.aux_loss;
  if (st == NDE_OK)
    st = nde_layer_vjp(f->root, &f->ctx, rec, f->c, dx, dp, NULL);
  f->ctx.freeze_steps = freeze ? 2 : 0;
  if (st == NDE_OK)
    st = fd_compare(f, f->x, f->nin, dx, 1, &worst);
  if (st == NDE_OK)
    st = fd_compare(f, f->p, f->np, dp, 0, &worst);
  f->ctx.freeze_steps = 0;
  if (st != NDE_OK)
    nde_check_record(run, what, NDE_CHECK_FAIL, NAN, 0, tol, "%s", nde_last_error());
  else {
    char with[64] = "";
    if (f->with_aux)
      snprintf(with, sizeof with, ", loss + regularization term %.3g", aux);
    nde_check_record(run, what, worst <= tol ? NDE_CHECK_PASS : NDE_CHECK_FAIL, worst, 0, tol,
                     "dx (%zu) and dparams (%zu) vs central differences, float64%s: "
                     "relative error %.2g (want <= %g)",
                     f->nin, f->np, with, worst, tol);
  }
  free(dx);
  free(dp);
}

static void check_jvp(nde_check_run *run, fx *f) {
  if (!nde_options_bool(nde_check_caps(run), "jvp", 0)) {
    nde_check_record(run, "jvp", NDE_CHECK_SKIP, NAN, NAN, NAN, "not claimed");
    return;
  }
  size_t nin = f->nin, np = f->np, nout = f->nout;
  double *tx = malloc(nin * sizeof *tx), *tp = calloc(np + 1, sizeof *tp);
  double *ty = malloc(nout * sizeof *ty), *yp = malloc(nout * sizeof *yp);
  double *xs = malloc(nin * sizeof *xs), *ps = calloc(np + 1, sizeof *ps), worst = 0;
  nde_status st = tx && tp && ty && yp && xs && ps ? NDE_OK : nde_error(NDE_ENOMEM, "out of memory");
  nde_rng rng = nde_rng_make(77, 3);
  for (size_t i = 0; st == NDE_OK && i < nin; ++i)
    tx[i] = nde_rng_normal(&rng);
  for (size_t i = 0; st == NDE_OK && i < np; ++i)
    tp[i] = nde_rng_normal(&rng);
  nde_record *rec = NULL;
  if (st == NDE_OK) {
    nde_arena_reset(f->arena);
    st = nde_layer_forward(f->root, &f->ctx, f->x, 0.4, f->p, &rec);
  }
  if (st == NDE_OK)
    st = nde_layer_jvp(f->root, &f->ctx, rec, tx, np ? tp : NULL, 0.0, ty);
  double e = 1e-6;
  for (int sgn = 1; st == NDE_OK && sgn >= -1; sgn -= 2) {
    for (size_t i = 0; i < nin; ++i)
      xs[i] = f->x[i] + sgn * e * tx[i];
    for (size_t i = 0; i < np; ++i)
      ps[i] = f->p[i] + sgn * e * tp[i];
    st = fx_eval(f, xs, ps);
    if (st == NDE_OK && sgn == 1)
      memcpy(yp, f->y, nout * sizeof *yp);
  }
  for (size_t i = 0; st == NDE_OK && i < nout; ++i) {
    double fd = (yp[i] - f->y[i]) / (2 * e);
    worst = fmax(worst, fabs(ty[i] - fd) / (1 + fabs(fd)));
  }
  if (st != NDE_OK)
    nde_check_record(run, "jvp", NDE_CHECK_FAIL, NAN, 0, FD_TOL, "%s", nde_last_error());
  else
    nde_check_record(run, "jvp", worst <= FD_TOL ? NDE_CHECK_PASS : NDE_CHECK_FAIL, worst, 0,
                     FD_TOL,
                     "pushforward of random tangents of x and params vs central differences, "
                     "float64: relative error %.2g (want <= %g)",
                     worst, FD_TOL);
  free(tx), free(tp), free(ty), free(yp), free(xs), free(ps);
}

nde_status nde_check_layer(nde_check_run *run, const void *vtable) {
  (void)vtable;
  char why[200] = "";
  char *json = model_json(run->plugin, why, sizeof why);
  if (!json) {
    if (!*why)
      return nde_error(NDE_ENOMEM, "out of memory");
    nde_check_record(run, "vjp", NDE_CHECK_SKIP, NAN, NAN, NAN, "%s", why);
    return NDE_OK;
  }
  fx f;
  nde_status st = fx_make(run, json, &f, 1);
  if (st != NDE_OK) {
    nde_check_record(run, "build", NDE_CHECK_FAIL, NAN, NAN, NAN, "%s: %s", json,
                     nde_last_error());
  } else {
    check_vjp(run, &f, "vjp", FD_TOL, 0);
    check_jvp(run, &f);
  }
  fx_free(&f);
  free(json);
  return NDE_OK;
}

void nde_check_model_gradient(nde_check_run *run, const char *what, const char *model_json,
                              double tol, int with_aux) {
  fx f;
  nde_status st = fx_make(run, model_json, &f, 0);
  if (st != NDE_OK) {
    nde_check_record(run, what, NDE_CHECK_FAIL, NAN, 0, tol, "building %s: %s", model_json,
                     nde_last_error());
  } else {
    f.with_aux = with_aux;
    check_vjp(run, &f, what, tol, 1);
  }
  fx_free(&f);
}
