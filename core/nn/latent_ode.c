/*
 * latent_ode: the latent ODE of Rubanova et al. (2019) for irregularly
 * sampled time series, as one core layer composed of five children:
 *
 *   PATH.encoder_dynamics  layer H → H     the ODE-RNN's hidden dynamics
 *   PATH.gru               gru_cell        the update at an observation
 *   PATH.to_latent         layer H → 2L    (μ, raw σ) of the latent z0
 *   PATH.decoder           neural_ode      dz/dt = f(z), saved at the times
 *   PATH.observation       layer L → C     the mean of each observation
 *
 * Irregular times, union scheme: the batch shares one grid of T times (the
 * union of every sample's observation times; "times", or "tspan" with
 * "points" for a uniform grid) and a sample is its values and a mask on
 * that grid. The input of a sample is 2·C·T features: the values (feature
 * c of time j at c + C·j), then the mask in the same layout (1 observed,
 * 0 missing; the encoder sees values ⊙ mask, so a missing value is
 * ignored whatever it holds). The output is the C·T predicted
 * values in the values' layout; the `masked_mse` loss compares them with
 * the observed entries only.
 *
 * Encoder (ODE-RNN), backwards in time from the last grid time to the
 * first: between two grid times the hidden state h follows
 * dh/dt = encoder_dynamics(h) with "encoder_steps" explicit Euler steps
 * (the reference implementation's scheme for the short gaps of a grid);
 * at grid time j, h ← h + a_j ⊙ (gru([h; x_j; m_j]) − h), where a_j is 1
 * for the samples with at least one observation at time j and 0 for the
 * others (a sample skips the times it was not observed at).
 *
 * Latent: to_latent(h) = (μ, s), σ = softplus(s) + 1e-6, and in training
 * z0 = μ + σ ⊙ ε with ε ~ N(0, 1) drawn from Philox, keyed by the run's
 * seed, the training step and the layer path (a replayable draw); in
 * evaluation z0 = μ. The KL divergence from N(0, 1), averaged over the
 * latent features and the batch, is added to the loss ("kl") with the
 * coefficient 2σ_obs²·β_e, β_e = 1 − kl_anneal^(e+1) at epoch
 * e = ⌊step / kl_every⌋ (training passes only: evaluation reports the
 * interpolation error alone). With a fixed observation noise σ_obs
 * ("obs_std"), the Gaussian negative log-likelihood of the observed
 * entries averaged over them is masked_mse/(2σ_obs²) + const, so the
 * training loss masked_mse + 2σ_obs²·β·KL is the per-entry negative ELBO
 * times 2σ_obs²: the same minimizer, and a data term that is the
 * interpolation MSE the thesis reports.
 *
 * Decoder: a neural_ode from the first to the last grid time, saved at
 * every grid time; its JSON object ("decoder") takes every neural_ode key
 * but tspan and saveat (dynamics, solver, sensitivity, regularizer, ...),
 * so regularizers and NFE statistics are those of the neural_ode; the
 * solve ends at "decoder_end" (default: the last grid time; set it past
 * the grid for steer, whose end-time window must leave the grid whole). The
 * observation layer maps the L latent features of each (time, sample)
 * pair to C means, evaluated once on all T·B pairs.
 *
 * Per-sample spans ("time_spans": "per_sample"): the grid is in s ∈ [0, 1]
 * (first time 0, last at most 1) and each sample appends its own
 * [t0_i, t1_i] to its input (2·C·T + 2 features); sample i's grid time j is
 * t0_i + s_j·(t1_i − t0_i). The encoder's Euler steps scale by the
 * sample's duration, and the decoder is a neural_ode with per-sample spans
 * (time_spans.h) over s ∈ [0, 1], so the batch still shares one step
 * sequence. The spans get their exact gradient through both.
 *
 * The whole layer goes through backend operations except the latent
 * sample and its KL term (2·L·B numbers, computed on the host) and the
 * per-time observation flags a_j (read from the mask once per pass).
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nde/rng.h>

#include "de_common.h"
#include "time_spans.h"

#define LODE_MAX_POINTS 100000
#define LODE_SIGMA_MIN 1e-6

typedef struct lode_state {
  size_t C, T, L, H, K;
  double *times;  /* T grid times, increasing */
  double obs_std, kl_anneal;
  double decoder_end; /* the decoder's t1: the last grid time, or later (steer) */
  uint64_t kl_every, key;
  int per_sample; /* "time_spans": "per_sample" */
  size_t in;      /* input features per sample: 2·C·T (+ 2 with per-sample spans) */
} lode_state;

enum { CH_ENC, CH_GRU, CH_HEAD, CH_DEC, CH_OBS, CH_COUNT };

/* What one forward pass keeps for the vjp (arena host memory). */
typedef struct lode_eval {
  void **hin, **u, **a;         /* per encoder step s (time j = T−1−s): state before the update,
                                   the GRU input [h; x_j; m_j], the (H, B) update flags */
  nde_record **gru;             /* per step: the GRU's record */
  nde_record **euler;           /* per step s ≥ 1: K records of the dynamics (from step s−1) */
  nde_record *head, *dec, *obs;
  void *mask, *vals, *xv;       /* (C·T, B) contiguous: the mask, the values, values ⊙ mask */
  void *z0;
  double *mu, *sigma, *eps, *s; /* host, L·B each */
  double kl_coef;
  nde_time_spans enc;           /* per-sample spans: the (H, B) duration scale, else unused */
  void *zin;                    /* per-sample spans: the decoder's input [z0; t0; t1] */
} lode_eval;

/* ---------------------------------------------------------------- building */

static void lode_destroy(nde_layer *node) {
  lode_state *s = node->state;
  if (!s)
    return;
  free(s->times);
  free(s);
  node->state = NULL;
}

/* A positive integer key (default @p def) of at most @p max. */
static nde_status get_count(const json_t *spec, const char *path, const char *key, size_t def,
                            size_t max, size_t *out) {
  const json_t *v = json_object_get(spec, key);
  if (!v) {
    *out = def;
    return NDE_OK;
  }
  if (!json_is_integer(v) || json_integer_value(v) < 1 || (size_t)json_integer_value(v) > max)
    return nde_error(NDE_EINVAL, "%s.%s: expected an integer from 1 to %zu", path, key, max);
  *out = (size_t)json_integer_value(v);
  return NDE_OK;
}

static nde_status get_number(const json_t *spec, const char *path, const char *key, double def,
                             double lo, double hi, double *out) {
  const json_t *v = json_object_get(spec, key);
  *out = def;
  if (!v)
    return NDE_OK;
  if (!json_is_number(v) || !isfinite(json_number_value(v)) || json_number_value(v) <= lo ||
      json_number_value(v) > hi)
    return nde_error(NDE_EINVAL, "%s.%s: expected a number in (%g, %g]", path, key, lo, hi);
  *out = json_number_value(v);
  return NDE_OK;
}

/* The grid: "times" (strictly increasing) or "tspan" [t0, t1] with "points" ≥ 2. */
static nde_status parse_times(const json_t *spec, const char *path, lode_state *s) {
  const json_t *times = json_object_get(spec, "times"), *span = json_object_get(spec, "tspan");
  if ((times != NULL) == (span != NULL))
    return nde_error(NDE_EINVAL, "%s: give either \"times\" (the grid) or \"tspan\" with "
                     "\"points\" (a uniform grid)", path);
  if (times) {
    if (!json_is_array(times) || json_array_size(times) < 2 ||
        json_array_size(times) > LODE_MAX_POINTS)
      return nde_error(NDE_EINVAL, "%s.times: expected an array of 2 to %d numbers", path,
                       LODE_MAX_POINTS);
    s->T = json_array_size(times);
  } else {
    if (!json_is_array(span) || json_array_size(span) != 2 ||
        !json_is_number(json_array_get(span, 0)) || !json_is_number(json_array_get(span, 1)))
      return nde_error(NDE_EINVAL, "%s.tspan: expected [t0, t1]", path);
    if (!json_object_get(spec, "points"))
      return nde_error(NDE_EINVAL, "%s.points: required with tspan (the number of grid times)",
                       path);
    NDE_TRY(get_count(spec, path, "points", 0, LODE_MAX_POINTS, &s->T));
    if (s->T < 2)
      return nde_error(NDE_EINVAL, "%s.points: at least 2", path);
  }
  s->times = malloc(s->T * sizeof *s->times);
  if (!s->times)
    return nde_error(NDE_ENOMEM, "out of memory");
  for (size_t j = 0; j < s->T; ++j) {
    if (times) {
      const json_t *v = json_array_get(times, j);
      if (!json_is_number(v))
        return nde_error(NDE_EINVAL, "%s.times[%zu]: expected a number", path, j);
      s->times[j] = json_number_value(v);
    } else {
      double t0 = json_number_value(json_array_get(span, 0));
      double t1 = json_number_value(json_array_get(span, 1));
      s->times[j] = t0 + (t1 - t0) * (double)j / (double)(s->T - 1);
    }
    if (!isfinite(s->times[j]) || (j > 0 && !(s->times[j] > s->times[j - 1])))
      return nde_error(NDE_EINVAL, "%s.%s: the grid times must be finite and strictly "
                       "increasing (time %zu is %g)", path, times ? "times" : "tspan", j,
                       s->times[j]);
  }
  return NDE_OK;
}

/* Build child @p name from the user's JSON or from @p fallback (JSON text). */
static nde_status child(nde_builder *b, nde_layer *node, const json_t *spec, const char *name,
                        const char *fallback, nde_shape in, size_t want_out,
                        nde_layer **out) {
  char path[1100];
  snprintf(path, sizeof path, "%s.%s", node->path, name);
  const json_t *given = json_object_get(spec, name);
  json_t *made = NULL;
  if (!given) {
    json_error_t err;
    made = json_loads(fallback, 0, &err);
    if (!made)
      return nde_error(NDE_EINTERNAL, "%s: default layer: %s", path, err.text);
  }
  nde_status st = nde_builder_child(b, node, given ? given : made, path, &in, out);
  json_decref(made);
  NDE_TRY(st);
  if (nde_shape_size(&(*out)->output) != want_out)
    return nde_error(NDE_EINVAL, "%s: outputs %zu features; the latent_ode needs %zu here",
                     path, nde_shape_size(&(*out)->output), want_out);
  return NDE_OK;
}

/* The decoder: the user's neural_ode keys plus tspan and saveat from the grid. */
static nde_status decoder(nde_builder *b, nde_layer *node, const json_t *spec, size_t units,
                          nde_layer **out) {
  lode_state *s = node->state;
  char path[1100];
  snprintf(path, sizeof path, "%s.decoder", node->path);
  const json_t *given = json_object_get(spec, "decoder");
  if (given && !json_is_object(given))
    return nde_error(NDE_EINVAL, "%s: expected an object of neural_ode keys (dynamics, solver, "
                     "sensitivity, regularizer, ...)", path);
  static const char *const own[] = {"layer", "tspan", "saveat", "time_spans"};
  for (size_t i = 0; given && i < 4; ++i)
    if (json_object_get(given, own[i]))
      return nde_error(NDE_EINVAL, "%s.%s: set by the latent_ode (the decoder is a neural_ode "
                       "over the grid times)", path, own[i]);
  json_t *d = given ? json_deep_copy(given) : json_object();
  json_t *span = json_pack("[f, f]", s->times[0], s->decoder_end);
  json_t *save = json_array();
  nde_status st = d && span && save ? NDE_OK : nde_error(NDE_ENOMEM, "out of memory");
  for (size_t j = 0; st == NDE_OK && j < s->T; ++j)
    if (json_array_append_new(save, json_real(s->times[j])))
      st = nde_error(NDE_ENOMEM, "out of memory");
  if (st == NDE_OK && !json_object_get(d, "dynamics")) {
    char text[512];
    snprintf(text, sizeof text,
             "{\"chain\": [{\"layer\": \"dense\", \"out\": %zu, \"activation\": \"tanh\"}, "
             "{\"layer\": \"dense\", \"out\": %zu, \"activation\": \"tanh\"}, "
             "{\"layer\": \"dense\", \"out\": %zu, \"activation\": \"tanh\"}, "
             "{\"layer\": \"dense\", \"out\": %zu}]}", units, units, units, s->L);
    json_t *dyn = json_loads(text, 0, NULL);
    if (!dyn || json_object_set_new(d, "dynamics", dyn))
      st = nde_error(NDE_ENOMEM, "out of memory");
  }
  if (st == NDE_OK && (json_object_set_new(d, "layer", json_string("neural_ode")) ||
                       json_object_set(d, "tspan", span) || json_object_set(d, "saveat", save)))
    st = nde_error(NDE_ENOMEM, "out of memory");
  if (st == NDE_OK && s->per_sample &&
      json_object_set_new(d, "time_spans", json_string("per_sample")))
    st = nde_error(NDE_ENOMEM, "out of memory");
  nde_shape in = nde_shape_vector(s->L + (s->per_sample ? 2 : 0));
  if (st == NDE_OK)
    st = nde_builder_child(b, node, d, path, &in, out);
  json_decref(d);
  json_decref(span);
  json_decref(save);
  return st;
}

static nde_status lode_build_inner(nde_builder *b, nde_layer *node, const json_t *spec,
                                   lode_state *s) {
  const char *p = node->path;
  if (!json_object_get(spec, "channels"))
    return nde_error(NDE_EINVAL, "%s.channels: required (observed features per time)", p);
  size_t units;
  NDE_TRY(get_count(spec, p, "channels", 0, 1000000, &s->C));
  NDE_TRY(get_count(spec, p, "latent", 20, 100000, &s->L));
  NDE_TRY(get_count(spec, p, "hidden", 40, 100000, &s->H));
  NDE_TRY(get_count(spec, p, "units", 50, 100000, &units));
  NDE_TRY(get_count(spec, p, "encoder_steps", 1, 1000, &s->K));
  size_t every;
  NDE_TRY(get_count(spec, p, "kl_every", 1, (size_t)1 << 40, &every));
  s->kl_every = every;
  NDE_TRY(get_number(spec, p, "obs_std", 0.01, 0.0, 1e6, &s->obs_std));
  NDE_TRY(get_number(spec, p, "kl_anneal", 0.99, -1e-300, 1.0, &s->kl_anneal));
  NDE_TRY(parse_times(spec, p, s));
  const json_t *tsp0 = json_object_get(spec, "time_spans");
  int ps = json_is_string(tsp0) && !strcmp(json_string_value(tsp0), "per_sample");
  NDE_TRY(get_number(spec, p, "decoder_end", ps ? 1.0 : s->times[s->T - 1], -INFINITY, INFINITY,
                     &s->decoder_end));
  const json_t *tsp = json_object_get(spec, "time_spans");
  if (tsp && !(json_is_string(tsp) && (!strcmp(json_string_value(tsp), "grid") ||
                                       !strcmp(json_string_value(tsp), "per_sample"))))
    return nde_error(NDE_EINVAL, "%s.time_spans: expected \"grid\" or \"per_sample\"", p);
  s->per_sample = tsp && !strcmp(json_string_value(tsp), "per_sample");
  if (s->per_sample && (s->times[0] != 0.0 || s->times[s->T - 1] > 1.0 || s->decoder_end != 1.0))
    return nde_error(NDE_EINVAL, "%s: with time_spans \"per_sample\" the grid is in s in [0, 1] "
                     "(each sample's [t0, t1] rescaled): it starts at 0 and ends at most at 1, "
                     "and decoder_end is 1; got [%g, %g], decoder_end %g", p, s->times[0],
                     s->times[s->T - 1], s->decoder_end);
  if (s->decoder_end < s->times[s->T - 1])
    return nde_error(NDE_EINVAL, "%s.decoder_end: %g is before the last grid time %g", p,
                     s->decoder_end, s->times[s->T - 1]);
  size_t want = 2 * s->C * s->T + (s->per_sample ? 2 : 0);
  s->in = want;
  if (node->input.ndim != 1 || nde_shape_size(&node->input) != want)
    return nde_error(NDE_EINVAL, "%s: takes %zu input features per sample (values and mask of "
                     "%zu channels at %zu times%s), got %zu", p, want, s->C, s->T,
                     s->per_sample ? ", then t0 and t1" : "", nde_shape_size(&node->input));
  s->key = nde_de_layer_key(p);
  char text[512];
  nde_layer *c;
  snprintf(text, sizeof text,
           "{\"chain\": [{\"layer\": \"dense\", \"out\": %zu, \"activation\": \"tanh\"}, "
           "{\"layer\": \"dense\", \"out\": %zu}]}", units, s->H);
  NDE_TRY(child(b, node, spec, "encoder_dynamics", text, nde_shape_vector(s->H), s->H, &c));
  snprintf(text, sizeof text, "{\"layer\": \"gru_cell\", \"hidden\": %zu}", s->H);
  NDE_TRY(child(b, node, spec, "gru", text, nde_shape_vector(s->H + 2 * s->C), s->H, &c));
  snprintf(text, sizeof text,
           "{\"chain\": [{\"layer\": \"dense\", \"out\": %zu, \"activation\": \"tanh\"}, "
           "{\"layer\": \"dense\", \"out\": %zu}]}", units, 2 * s->L);
  NDE_TRY(child(b, node, spec, "to_latent", text, nde_shape_vector(s->H), 2 * s->L, &c));
  NDE_TRY(decoder(b, node, spec, units, &c));
  snprintf(text, sizeof text, "{\"layer\": \"dense\", \"out\": %zu}", s->C);
  NDE_TRY(child(b, node, spec, "observation", text, nde_shape_vector(s->L), s->C, &c));
  node->output = nde_shape_vector(s->C * s->T);
  return NDE_OK;
}

static nde_status lode_build(nde_builder *b, nde_layer *node, const json_t *spec) {
  lode_state *s; /* freed by lode_destroy, also after a failure */
  NDE_TRY(nde_core_state_new(node, spec, "channels and times", sizeof *s, (void **)&s));
  return lode_build_inner(b, node, spec, s);
}

/* ---------------------------------------------------------------- evaluation */

/* An (elements) host/backend view as an nde_array, for the conversions of nde/array.h. */
static nde_array view(const nde_layer_ctx *ctx, void *data, size_t elements) {
  return (nde_array){.dtype = ctx->dtype, .ndim = 1, .shape = {elements}, .size = elements,
                     .data = data, .backend = ctx->backend, .owned = 0};
}

static nde_status host_doubles(const nde_layer_ctx *ctx, size_t n, double **out) {
  return nde_arena_alloc_host(ctx->arena, (n ? n : 1) * sizeof(double), (void **)out);
}

/* The (H, B) update flags of every grid time from the mask part of the input. */
static nde_status update_flags(const lode_state *s, const nde_layer_ctx *ctx, const void *x,
                               lode_eval *ev) {
  nde_backend *be = ctx->backend;
  size_t B = ctx->batch, CT = s->C * s->T, es = nde_dtype_size(ctx->dtype);
  double *host, *flags;
  NDE_TRY(nde_ctx_alloc(ctx, CT * B, &ev->mask));
  NDE_TRY(nde_ctx_alloc(ctx, CT * B, &ev->vals));
  NDE_TRY(nde_ctx_alloc(ctx, CT * B, &ev->xv));
  void *mask = ev->mask;
  be->ops->copy_matrix(be->ctx, ctx->dtype, CT, B, (const char *)x + CT * es, s->in, mask, CT);
  be->ops->copy_matrix(be->ctx, ctx->dtype, CT, B, x, s->in, ev->vals, CT);
  be->ops->mul(be->ctx, ctx->dtype, CT * B, ev->vals, mask, ev->xv); /* missing values count as 0 */
  NDE_TRY(host_doubles(ctx, CT * B, &host));
  NDE_TRY(host_doubles(ctx, s->H * B, &flags));
  nde_array m = view(ctx, mask, CT * B);
  NDE_TRY(nde_array_to_doubles(&m, host, CT * B));
  for (size_t step = 0; step < s->T; ++step) {
    size_t j = s->T - 1 - step;
    for (size_t b = 0; b < B; ++b) {
      double any = 0;
      for (size_t c = 0; c < s->C; ++c)
        any = host[c + s->C * j + CT * b] != 0 ? 1 : any;
      for (size_t h = 0; h < s->H; ++h)
        flags[h + s->H * b] = any;
    }
    NDE_TRY(nde_ctx_alloc(ctx, s->H * B, &ev->a[step]));
    nde_array a = view(ctx, ev->a[step], s->H * B);
    NDE_TRY(nde_array_from_doubles(&a, flags, s->H * B));
  }
  return NDE_OK;
}

/* KL coefficient at this step: 2σ_obs²·(1 − kl_anneal^(epoch+1)). */
static double kl_coefficient(const lode_state *s, uint64_t step) {
  double epoch = (double)(step / s->kl_every);
  return 2.0 * s->obs_std * s->obs_std * (1.0 - pow(s->kl_anneal, epoch + 1.0));
}

static double softplus(double x) { return x > 30 ? x : log1p(exp(x)); }
static double sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }

/* z0 from (μ, s) on the host, and the KL term. */
static nde_status latent_sample(const nde_layer *node, const nde_layer_ctx *ctx, lode_eval *ev) {
  const lode_state *s = node->state;
  size_t L = s->L, B = ctx->batch, n = L * B;
  double *head, *z;
  NDE_TRY(host_doubles(ctx, 2 * n, &head));
  NDE_TRY(host_doubles(ctx, n, &z));
  NDE_TRY(host_doubles(ctx, n, &ev->mu));
  NDE_TRY(host_doubles(ctx, n, &ev->sigma));
  NDE_TRY(host_doubles(ctx, n, &ev->eps));
  NDE_TRY(host_doubles(ctx, n, &ev->s));
  nde_array h = view(ctx, ev->head->y, 2 * n);
  NDE_TRY(nde_array_to_doubles(&h, head, 2 * n));
  nde_rng base = nde_rng_make(ctx->seed, s->key);
  nde_rng at = nde_rng_split(&base, ctx->step);
  double kl = 0;
  for (size_t b = 0; b < B; ++b)
    for (size_t l = 0; l < L; ++l) {
      size_t i = l + L * b;
      double mu = head[l + 2 * L * b], raw = head[L + l + 2 * L * b];
      double sg = softplus(raw) + LODE_SIGMA_MIN;
      double e = ctx->training ? nde_rng_normal(&at) : 0.0;
      ev->mu[i] = mu;
      ev->s[i] = raw;
      ev->sigma[i] = sg;
      ev->eps[i] = e;
      z[i] = mu + sg * e;
      kl += 0.5 * (sg * sg + mu * mu - 1.0) - log(sg);
    }
  if (!isfinite(kl))
    return nde_error(NDE_ENONFINITE, "%s (latent_ode): the latent mean or spread is not finite",
                     node->path);
  NDE_TRY(nde_ctx_alloc(ctx, n, &ev->z0));
  nde_array zz = view(ctx, ev->z0, n);
  NDE_TRY(nde_array_from_doubles(&zz, z, n));
  /* evaluation reports the interpolation error alone */
  ev->kl_coef = ctx->training ? kl_coefficient(s, ctx->step) : 0.0;
  if (ctx->training)
    nde_layer_add_loss(ctx, "kl", ev->kl_coef, kl / (double)n);
  return NDE_OK;
}

static nde_status lode_forward(const nde_layer *node, const nde_layer_ctx *ctx, nde_record *rec) {
  const lode_state *s = node->state;
  nde_backend *be = ctx->backend;
  NDE_TRY(NDE_BACKEND_NEED(be, copy_matrix));
  const nde_layer *const *ch = (const nde_layer *const *)node->children;
  size_t B = ctx->batch, H = s->H, C = s->C, T = s->T, CT = C * T, es = nde_dtype_size(ctx->dtype);
  size_t nh = H * B, nu = (H + 2 * C) * B;
  nde_dtype dt = ctx->dtype;
  lode_eval *ev;
  NDE_TRY(nde_arena_alloc_host(ctx->arena, sizeof *ev, (void **)&ev));
  rec->data = ev;
  NDE_TRY(nde_arena_alloc_host(ctx->arena, T * sizeof(void *), (void **)&ev->hin));
  NDE_TRY(nde_arena_alloc_host(ctx->arena, T * sizeof(void *), (void **)&ev->u));
  NDE_TRY(nde_arena_alloc_host(ctx->arena, T * sizeof(void *), (void **)&ev->a));
  NDE_TRY(nde_arena_alloc_host(ctx->arena, T * sizeof(nde_record *), (void **)&ev->gru));
  NDE_TRY(nde_arena_alloc_host(ctx->arena, T * s->K * sizeof(nde_record *),
                               (void **)&ev->euler));
  NDE_TRY(update_flags(s, ctx, rec->x, ev));
  if (s->per_sample) {
    double *d;
    NDE_TRY(nde_time_spans_read(ctx, rec->x, s->in, 2 * CT, node->path, "latent_ode", &d));
    ev->enc = (nde_time_spans){.F = H, .B = B};
    NDE_TRY(nde_time_spans_scale(ctx, d, &ev->enc));
  }
  const void *p_enc = nde_child_params(node, ch[CH_ENC], dt, rec->params);
  const void *p_gru = nde_child_params(node, ch[CH_GRU], dt, rec->params);
  void *h = NULL;
  for (size_t step = 0; step < T; ++step) {
    size_t j = T - 1 - step;
    if (step == 0) {
      NDE_TRY(nde_ctx_alloc(ctx, nh, &h));
      be->ops->fill(be->ctx, dt, nh, 0.0, h);
    } else { /* Euler steps from time j + 1 back to time j */
      double dtau = (s->times[j] - s->times[j + 1]) / (double)s->K;
      for (size_t k = 0; k < s->K; ++k) {
        nde_record *r;
        NDE_TRY(nde_layer_forward(ch[CH_ENC], ctx, h, s->times[j + 1] + dtau * (double)k, p_enc,
                                  &r));
        ev->euler[step * s->K + k] = r;
        void *next;
        NDE_TRY(nde_ctx_alloc(ctx, nh, &next));
        NDE_TRY(be->ops->copy(be->ctx, next, h, nh * es));
        const void *f = r->y;
        if (s->per_sample) { /* each sample's step is dτ·(t1_i − t0_i) */
          void *fs;
          NDE_TRY(nde_ctx_alloc(ctx, nh, &fs));
          be->ops->mul(be->ctx, dt, nh, r->y, ev->enc.scale, fs);
          f = fs;
        }
        be->ops->axpy(be->ctx, dt, nh, dtau, f, next);
        h = next;
      }
    }
    ev->hin[step] = h;
    /* u = [h; x_j; m_j] */
    NDE_TRY(nde_ctx_alloc(ctx, nu, &ev->u[step]));
    char *u = ev->u[step];
    be->ops->copy_matrix(be->ctx, dt, H, B, h, H, u, H + 2 * C);
    be->ops->copy_matrix(be->ctx, dt, C, B, (const char *)ev->xv + C * j * es, CT, u + H * es,
                         H + 2 * C);
    be->ops->copy_matrix(be->ctx, dt, C, B, (const char *)ev->mask + C * j * es, CT,
                         u + (H + C) * es, H + 2 * C);
    NDE_TRY(nde_layer_forward(ch[CH_GRU], ctx, u, s->times[j], p_gru, &ev->gru[step]));
    /* h ← h + a ⊙ (g − h) */
    void *next;
    NDE_TRY(nde_ctx_alloc(ctx, nh, &next));
    NDE_TRY(be->ops->copy(be->ctx, next, ev->gru[step]->y, nh * es));
    be->ops->axpy(be->ctx, dt, nh, -1.0, h, next);
    be->ops->mul(be->ctx, dt, nh, ev->a[step], next, next);
    be->ops->axpy(be->ctx, dt, nh, 1.0, h, next);
    h = next;
  }
  NDE_TRY(nde_layer_forward(ch[CH_HEAD], ctx, h, s->times[0],
                            nde_child_params(node, ch[CH_HEAD], dt, rec->params), &ev->head));
  NDE_TRY(latent_sample(node, ctx, ev));
  const void *zin = ev->z0;
  if (s->per_sample) { /* the decoder's input: [z0; t0; t1] */
    size_t L = s->L;
    NDE_TRY(nde_ctx_alloc(ctx, (L + 2) * B, &ev->zin));
    be->ops->copy_matrix(be->ctx, dt, L, B, ev->z0, L, ev->zin, L + 2);
    be->ops->copy_matrix(be->ctx, dt, 2, B, (const char *)rec->x + 2 * CT * es, s->in,
                         (char *)ev->zin + L * es, L + 2);
    zin = ev->zin;
  }
  NDE_TRY(nde_layer_forward(ch[CH_DEC], ctx, zin, s->times[0],
                            nde_child_params(node, ch[CH_DEC], dt, rec->params), &ev->dec));
  nde_layer_ctx wide = *ctx;
  wide.batch = T * B;
  NDE_TRY(nde_layer_forward(ch[CH_OBS], &wide, ev->dec->y, s->times[0],
                            nde_child_params(node, ch[CH_OBS], dt, rec->params), &ev->obs));
  rec->y = ev->obs->y;
  return NDE_OK;
}

/* The cotangent of (μ, s) from that of z0 and the KL term (host). */
static nde_status latent_vjp(const lode_state *s, const nde_layer_ctx *ctx, const lode_eval *ev,
                             const void *dz0, void *dhead) {
  size_t L = s->L, B = ctx->batch, n = L * B;
  double *dz, *dh;
  NDE_TRY(host_doubles(ctx, n, &dz));
  NDE_TRY(host_doubles(ctx, 2 * n, &dh));
  nde_array zv = view(ctx, (void *)dz0, n);
  NDE_TRY(nde_array_to_doubles(&zv, dz, n));
  double w = ev->kl_coef / (double)n;
  for (size_t b = 0; b < B; ++b)
    for (size_t l = 0; l < L; ++l) {
      size_t i = l + L * b;
      double sg = ev->sigma[i];
      dh[l + 2 * L * b] = dz[i] + w * ev->mu[i];
      dh[L + l + 2 * L * b] = (dz[i] * ev->eps[i] + w * (sg - 1.0 / sg)) * sigmoid(ev->s[i]);
    }
  nde_array hv = view(ctx, dhead, 2 * n);
  return nde_array_from_doubles(&hv, dh, 2 * n);
}

static nde_status lode_vjp(const nde_layer *node, const nde_layer_ctx *ctx, const nde_record *rec,
                           const void *dy, void *dx, void *dparams, double *dt_out) {
  (void)dt_out; /* the output does not depend on the layer's input time */
  const lode_state *s = node->state;
  const lode_eval *ev = rec->data;
  nde_backend *be = ctx->backend;
  const nde_layer *const *ch = (const nde_layer *const *)node->children;
  size_t B = ctx->batch, H = s->H, C = s->C, T = s->T, L = s->L, CT = C * T;
  size_t es = nde_dtype_size(ctx->dtype), nh = H * B, nu = (H + 2 * C) * B;
  nde_dtype dt = ctx->dtype;
#define DP(i) nde_child_dparams(node, ch[i], dt, dparams)
  void *ddec, *dz0, *dhead, *dh, *dg, *du, *tmp;
  NDE_TRY(nde_ctx_alloc(ctx, L * T * B, &ddec));
  NDE_TRY(nde_ctx_alloc(ctx, L * B, &dz0));
  NDE_TRY(nde_ctx_alloc(ctx, 2 * L * B, &dhead));
  NDE_TRY(nde_ctx_alloc(ctx, nh, &dh));
  NDE_TRY(nde_ctx_alloc(ctx, nh, &dg));
  NDE_TRY(nde_ctx_alloc(ctx, nu, &du));
  NDE_TRY(nde_ctx_alloc(ctx, nh, &tmp));
  NDE_TRY(nde_layer_vjp(ch[CH_OBS], ctx, ev->obs, dy, ddec, DP(CH_OBS), NULL));
  void *dspan = NULL; /* per-sample spans: dL/d(t1_i − t0_i), (1, B) */
  if (s->per_sample) {
    void *dzin;
    NDE_TRY(nde_ctx_alloc(ctx, (L + 2) * B, &dzin));
    NDE_TRY(nde_ctx_alloc(ctx, B, &dspan));
    NDE_TRY(nde_layer_vjp(ch[CH_DEC], ctx, ev->dec, ddec, dzin, DP(CH_DEC), NULL));
    be->ops->copy_matrix(be->ctx, dt, L, B, dzin, L + 2, dz0, L);
    be->ops->copy_matrix(be->ctx, dt, 1, B, (char *)dzin + (L + 1) * es, L + 2, dspan, 1);
  } else
    NDE_TRY(nde_layer_vjp(ch[CH_DEC], ctx, ev->dec, ddec, dz0, DP(CH_DEC), NULL));
  NDE_TRY(latent_vjp(s, ctx, ev, dz0, dhead));
  NDE_TRY(nde_layer_vjp(ch[CH_HEAD], ctx, ev->head, dhead, dh, DP(CH_HEAD), NULL));
  void *dxv = NULL, *dxm = NULL; /* cotangents of values ⊙ mask and of the mask, (C·T, B) */
  if (dx) {
    NDE_TRY(nde_ctx_alloc(ctx, CT * B, &dxv));
    NDE_TRY(nde_ctx_alloc(ctx, CT * B, &dxm));
  }
  for (size_t step = T; step-- > 0;) {
    size_t j = T - 1 - step;
    /* h_out = h_in + a ⊙ (g − h_in): dg = a ⊙ dh, dh_in = dh − dg (+ the GRU's h part) */
    be->ops->mul(be->ctx, dt, nh, ev->a[step], dh, dg);
    be->ops->axpy(be->ctx, dt, nh, -1.0, dg, dh);
    NDE_TRY(nde_layer_vjp(ch[CH_GRU], ctx, ev->gru[step], dg, du, DP(CH_GRU), NULL));
    be->ops->copy_matrix(be->ctx, dt, H, B, du, H + 2 * C, tmp, H);
    be->ops->axpy(be->ctx, dt, nh, 1.0, tmp, dh);
    if (dx) {
      be->ops->copy_matrix(be->ctx, dt, C, B, (const char *)du + H * es, H + 2 * C,
                           (char *)dxv + C * j * es, CT);
      be->ops->copy_matrix(be->ctx, dt, C, B, (const char *)du + (H + C) * es, H + 2 * C,
                           (char *)dxm + C * j * es, CT);
    }
    if (step == 0)
      break;
    /* back through the Euler steps h_{k+1} = h_k + dτ·f(h_k) */
    double dtau = (s->times[j] - s->times[j + 1]) / (double)s->K;
    for (size_t k = s->K; k-- > 0;) {
      NDE_TRY(be->ops->copy(be->ctx, dg, dh, nh * es));
      be->ops->scale(be->ctx, dt, nh, dtau, dg);
      const nde_record *r = ev->euler[step * s->K + k];
      void *w = dg;
      if (s->per_sample) /* dspan += Σ_h dτ·dh·f; the dynamics get dτ·d_i·dh */
        NDE_TRY(nde_time_spans_pullback(ctx, &ev->enc, dg, r->y, dspan, &w));
      NDE_TRY(nde_layer_vjp(ch[CH_ENC], ctx, r, w, tmp, DP(CH_ENC), NULL));
      be->ops->axpy(be->ctx, dt, nh, 1.0, tmp, dh);
    }
  }
#undef DP
  if (dx) { /* values: dxv ⊙ m; mask: dxm + dxv ⊙ v */
    void *prod;
    NDE_TRY(nde_ctx_alloc(ctx, CT * B, &prod));
    be->ops->mul(be->ctx, dt, CT * B, dxv, ev->vals, prod);
    be->ops->axpy(be->ctx, dt, CT * B, 1.0, prod, dxm);
    be->ops->mul(be->ctx, dt, CT * B, dxv, ev->mask, prod);
    be->ops->copy_matrix(be->ctx, dt, CT, B, prod, CT, dx, s->in);
    be->ops->copy_matrix(be->ctx, dt, CT, B, dxm, CT, (char *)dx + CT * es, s->in);
    if (s->per_sample)
      nde_time_spans_cotangent(ctx, B, dspan, dx, s->in, 2 * CT);
  }
  return NDE_OK;
}

static const nde_core_key lode_keys[] = {
    {"channels", "integer", 1, NULL, "observed features C per time", NULL},
    {"times", "array", 0, NULL, "the grid: strictly increasing times (or tspan with points)",
     NULL},
    {"tspan", "array", 0, NULL, "[t0, t1] of a uniform grid of `points` times", NULL},
    {"points", "integer", 0, NULL, "number of times of the uniform grid (with tspan)", NULL},
    {"latent", "integer", 0, "20", "latent size L of z0", NULL},
    {"hidden", "integer", 0, "40", "hidden size H of the ODE-RNN encoder", NULL},
    {"units", "integer", 0, "50", "width of the default encoder, latent-head and decoder MLPs",
     NULL},
    {"encoder_dynamics", "layer", 0, NULL,
     "H → H dynamics of the encoder's hidden state (default dense(units, tanh), dense(H))", NULL},
    {"encoder_steps", "integer", 0, "1", "explicit Euler steps between two grid times", NULL},
    {"gru", "layer", 0, NULL, "the update at an observation, [h; x; m] → h (default gru_cell)",
     NULL},
    {"to_latent", "layer", 0, NULL, "H → 2L map to (μ, raw σ) (default dense(units, tanh), "
     "dense(2L))", NULL},
    {"decoder", "object", 0, "{}", "neural_ode keys but tspan/saveat (default dynamics: 4 dense "
     "layers of `units` with tanh)", NULL},
    {"observation", "layer", 0, NULL, "L → C observation means (default dense(C))", NULL},
    {"decoder_end", "number", 0, NULL, "end time of the decoder's solve (default the last grid "
     "time; later, for steer, which then moves only the end past the grid)", NULL},
    {"obs_std", "number", 0, "0.01", "observation noise σ_obs of the Gaussian likelihood", NULL},
    {"kl_anneal", "number", 0, "0.99", "KL weight 1 − kl_anneal^(epoch+1)", NULL},
    {"kl_every", "integer", 0, "1", "training steps per KL-annealing epoch", NULL},
    {"time_spans", "string", 0, "\"grid\"",
     "grid: every sample on the grid's times; per_sample: the grid is in s in [0, 1] and each "
     "sample appends its own [t0, t1] (time t0 + s (t1 - t0))", "[\"grid\", \"per_sample\"]"},
};

NDE_CORE_LAYER_DEFINE(latent_ode,
                      "latent ODE for irregular series: ODE-RNN encoder, sampled z0, "
                      "neural_ode decoder, observation layer",
                      lode_keys,
                      .build = lode_build, .forward = lode_forward, .vjp = lode_vjp,
                      .destroy = lode_destroy);
