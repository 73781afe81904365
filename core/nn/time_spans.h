/*
 * Per-sample time spans of a batched solve (neural_ode "time_spans":
 * "per_sample"). Each sample of the batch brings its own interval
 * [t0_i, t1_i] after its F state features (input column: u0_i, t0_i, t1_i),
 * and the solve runs on the common interval s ∈ [0, 1] with
 * t = t0_i + s·d_i, d_i = t1_i − t0_i, so du/ds = d_i·f(u): the right-hand
 * side scales column i of the dynamics' output by d_i (a broadcast
 * F×B matrix multiplied elementwise through the backend). The whole batch
 * shares one adaptive step sequence. Core-private.
 *
 * The durations are extra parameters of the right-hand side (after the
 * dynamics' own), so any sensitivity accumulates dL/dd_i = ∫ wᵢ·f_i ds with
 * the parameter gradient; the input cotangent is then dL/dt1_i = dL/dd_i,
 * dL/dt0_i = −dL/dd_i.
 */
#ifndef NDE_CORE_NN_TIME_SPANS_H
#define NDE_CORE_NN_TIME_SPANS_H

#include <stddef.h>

#include "layer_impl.h"

/* One forward pass's split input (arena memory of that pass). */
typedef struct nde_time_spans {
  size_t F, B;
  void *u0;    /* F×B initial states (NULL where the caller keeps its own) */
  void *scale; /* F×B: column i filled with d_i */
} nde_time_spans;

/*
 * Reads the spans of a batch: rows @p row and @p row + 1 of the (ld)×B
 * input @p x hold t0_i and t1_i. *d: the B durations (arena host memory).
 * NDE_EINVAL naming the batch sample and @p path (a layer path; @p layer its
 * type) when t1_i <= t0_i or a bound is not finite.
 */
NDE_INTERNAL nde_status nde_time_spans_read(const nde_layer_ctx *ctx, const void *x, size_t ld,
                                            size_t row, const char *path, const char *layer,
                                            double **d);

/* ts->scale = the F×B matrix whose column i is d_i (ts->F, ts->B set by the caller). */
NDE_INTERNAL nde_status nde_time_spans_scale(const nde_layer_ctx *ctx, const double *d,
                                             nde_time_spans *ts);

/* Splits the (F + 2)×B input @p x of a neural_ode into states and spans. */
NDE_INTERNAL nde_status nde_time_spans_split(const nde_layer_ctx *ctx, const void *x, size_t F,
                                             const char *path, nde_time_spans *out);

/* du ⊙= scale (du: F×B), the rescaled right-hand side. */
NDE_INTERNAL void nde_time_spans_apply(const nde_layer_ctx *ctx, const nde_time_spans *ts,
                                       void *du);

/*
 * The span part of the right-hand side's pullback: g[i] += Σ_f w[f, i]·f[f, i]
 * (@p f the unscaled dynamics output, @p g the B span slots of the
 * parameter gradient, or NULL) and w ⊙ scale in *@p w_scaled (F×B, arena).
 */
NDE_INTERNAL nde_status nde_time_spans_pullback(const nde_layer_ctx *ctx,
                                                const nde_time_spans *ts, const void *w,
                                                const void *f, void *g, void **w_scaled);

/*
 * The spans' cotangent from g = dL/dd (B): row @p row of the (ld)×B @p dx
 * gets −g (t0), row @p row + 1 gets g (t1). Overwrites @p g.
 */
NDE_INTERNAL void nde_time_spans_cotangent(const nde_layer_ctx *ctx, size_t B, void *g, void *dx,
                                           size_t ld, size_t row);

#endif
