/**
 * @file nde/brownian.h
 * @brief Re-queryable Brownian paths: a virtual Brownian tree over Philox.
 *
 * A path is n independent Wiener processes W on [t0, t1] (W(t0) = 0), fixed
 * by (seed, stream). It can be queried at any time, in any order, any
 * number of times, and always gives the same answer: nothing is sampled
 * "as you go", every value is a deterministic function of (seed, stream, t).
 * That is what adaptive SDE steps (rejected steps re-query a bridge point),
 * `saveat`, and backward passes need.
 *
 * Construction (a virtual Brownian tree; cf. Gaines & Lyons 1997 and the
 * "virtual Brownian tree" of Li et al. 2020 / Kidger et al. 2021):
 *  - The root node is [t0, t1]. A node [a, b] of width h holds, per
 *    component, its increment ΔW = W(b) − W(a) and, when space-time Lévy
 *    area is enabled, H = I/h − ΔW/2 with I = ∫_a^b (W(s) − W(a)) ds
 *    (H ~ N(0, h/12), independent of ΔW). The root draws both from Philox.
 *  - A node is split at its midpoint by sampling the children's values
 *    from their exact law given the parent's (the Brownian bridge; with H,
 *    the bridge of the joint Gaussian (W, ∫W)). With a = W_L − ΔW/2 and
 *    S = H_L + H_R, D = H_L − H_R:
 *        a = (3/2)·H + (√h/4)·ξ₁,  S = 2H − a,  D = √(h/12)·ξ₂,
 *        W_L = ΔW/2 + a,  W_R = ΔW/2 − a,  H_L = (S + D)/2,  H_R = (S − D)/2.
 *    Without H it is the plain bridge W_L = ΔW/2 + (√h/2)·ξ₁.
 *    ξ₁, ξ₂ for the split of node number k (root 1, children 2k, 2k+1) and
 *    component c are the two Box–Muller normals (cosine and sine branches)
 *    of the Philox block at counter offset 2k of stream splitmix64(stream) + c
 *    (the root's own draws use offset 1).
 *  - A query at t descends from the root to the node containing t; a time
 *    that is a node boundary (every dyadic point of [t0, t1] up to the
 *    depth) is exact. Below the depth limit the point is bridged inside its
 *    leaf with the exact conditional law given the leaf's values (Matheron's
 *    rule on the Gaussian vector (W₁, W₂, J₁, J₂) of the two sub-intervals),
 *    with Philox draws keyed by the leaf and the bits of t. Any set of query
 *    points with at most one inside each leaf (width |t1 − t0|·2^−depth) is
 *    therefore sampled from the exact joint law of Brownian motion.
 *  - The descent path of the last query is cached, so consecutive nearby
 *    queries (the steps of a solve) only redo the levels below their common
 *    ancestor. Memory: (depth + 1)·4·n doubles.
 *
 * Stored mode (config.stored = 1): the cheap alternative for forward solves.
 * The path keeps every point queried so far (sorted); a time after the last
 * point is drawn from the exact law of the increment (ΔW, H) given the last
 * point (O(dim) work, one Philox block per component), a time between two
 * stored points from the exact bridge given both (the same Matheron rule as
 * in the leaves). This is rejection sampling with memory in its RSwM3 form
 * (Rackauckas & Nie 2017): a rejected step's endpoint stays on the path and
 * the retried, shorter step is bridged inside it. Values are re-queryable
 * and have the exact joint law of Brownian motion; unlike the tree they
 * depend on the order in which NEW times are first queried (a solve with
 * other steps sees another, equally valid, path). Memory grows by 2·dim
 * doubles per point.
 *
 * Increments over [s, t] for SDE steps come from two queries:
 * ΔW = W(t) − W(s) and I₁₀ = Y(t) − Y(s) − (t − s)·W(s) with Y(t) = ∫_{t0}^t W;
 * the auxiliary ΔZ = √3·(2·I₁₀/h − ΔW) ~ N(0, h) is independent of ΔW, so
 * that I₁₀/h = (ΔW + ΔZ/√3)/2 as in Rößler's SRI schemes.
 *
 * All values are host doubles (the tree runs on the host; integrators upload
 * the increments to the backend).
 */
#ifndef NDE_BROWNIAN_H
#define NDE_BROWNIAN_H

#include <stddef.h>
#include <stdint.h>

#include <nde/status.h>

#ifdef __cplusplus
extern "C" {
#endif

/** An opaque Brownian path (not thread-safe: queries update its cache). */
typedef struct nde_brownian nde_brownian;

/**
 * Default depth of the tree: leaves of width |t1 − t0|·2^−24 (6e-8 of the
 * span), so steps down to that size see the exact joint law. Each query
 * costs about (depth − log2(span/step)) levels × dim Philox blocks.
 */
#define NDE_BROWNIAN_DEFAULT_DEPTH 24

/**
 * What a path is.
 *
 * @var seed, stream  Philox key and stream: equal pairs give equal paths
 * @var t0, t1        the interval (t0 < t1)
 * @var dim           number of independent Wiener processes (≥ 1)
 * @var levy_area     1: also carry the space-time Lévy area (∫W), needed for ΔZ
 *                    (order-1.5 methods); 0: W only (half the work)
 * @var depth         tree depth 1..50 (0 = ::NDE_BROWNIAN_DEFAULT_DEPTH); unused when stored
 * @var stored        0: virtual Brownian tree (order-independent); 1: stored mode
 * @var local_block, global_block, block_offset
 *                    a part of a larger path (data parallelism: one rank's columns
 *                    of a batch): component c is component
 *                    (c / local_block)·global_block + block_offset + c % local_block
 *                    of the path with the same seed and stream, so its numbers do not
 *                    depend on how the batch is split. local_block 0: the whole path.
 */
typedef struct nde_brownian_config {
  uint64_t seed;
  uint64_t stream;
  double t0, t1;
  size_t dim;
  int levy_area;
  int depth;
  int stored;
  /* appended */
  size_t local_block, global_block, block_offset;
} nde_brownian_config;

/** Create a path. NDE_EINVAL for an empty interval, dim 0 or a depth out of range. */
NDE_API nde_status nde_brownian_create(const nde_brownian_config *config, nde_brownian **out);

/** Free a path and NULL the pointer (safe on NULL). */
NDE_API void nde_brownian_destroy(nde_brownian **path);

/** The configuration the path was created with. */
NDE_API const nde_brownian_config *nde_brownian_config_of(const nde_brownian *path);

/**
 * W(t) into @p w[dim] and, when @p y is not NULL, Y(t) = ∫_{t0}^t W(s) ds
 * into @p y[dim] (requires levy_area). NDE_EINVAL for t outside [t0, t1]
 * (a relative slack of 1e-12 is clamped).
 */
NDE_API nde_status nde_brownian_query(nde_brownian *path, double t, double *w, double *y);

/**
 * Increments over [s, t] (s < t): @p dw[i] = W(t) − W(s) and, when @p dz is
 * not NULL (requires levy_area), the auxiliary @p dz[i] = √3·(2·I₁₀/h − ΔW),
 * an N(0, t − s) draw independent of dw.
 */
NDE_API nde_status nde_brownian_increment(nde_brownian *path, double s, double t, double *dw,
                                          double *dz);

#ifdef __cplusplus
}
#endif
#endif /* NDE_BROWNIAN_H */
