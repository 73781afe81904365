/**
 * @file nde/backend.h
 * @brief The compute-backend vtable: every vector operation solvers and layers need.
 *
 * Solvers, layers and optimizers never loop over array elements themselves;
 * they call these operations, so a method written once runs on the CPU
 * (`cpu`, OpenBLAS + OpenMP) and on a GPU (`cuda`). Operations are
 * dtype-generic: pointers are `void *` into backend memory and the dtype
 * argument says how to read them. Scalar results (norms, dots) come back to
 * the host as double.
 *
 * All element counts are size_t; matrices are column-major with explicit
 * leading dimensions, as in BLAS.
 *
 * Required operations are every field up to and including `all_finite`;
 * the core refuses a backend plugin with any of them NULL. Fields appended
 * later are optional and tested with NDE_VTABLE_HAS().
 */
#ifndef NDE_BACKEND_H
#define NDE_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include <nde/array.h>
#include <nde/options.h>
#include <nde/plugin.h>
#include <nde/status.h>

#ifdef __cplusplus
extern "C" {
#endif

/** X-macro of elementwise activation functions: X(enum symbol, name). */
#define NDE_ACTIVATION_LIST(X)                                                   \
  X(NDE_ACT_IDENTITY, "identity")                                                \
  X(NDE_ACT_TANH, "tanh")                                                        \
  X(NDE_ACT_RELU, "relu")                                                        \
  X(NDE_ACT_SIGMOID, "sigmoid")                                                  \
  X(NDE_ACT_SOFTPLUS, "softplus")                                                \
  X(NDE_ACT_GELU, "gelu")                                                        \
  X(NDE_ACT_SWISH, "swish")                                                      \
  X(NDE_ACT_CUBE, "cube")

/**
 * Elementwise activation. gelu is the exact form x·Φ(x); swish is x·σ(x);
 * softplus is log(1 + eˣ) computed without overflow; cube is x³.
 */
typedef enum nde_activation {
#define NDE_ACT_ENUM_(sym, str) sym,
  NDE_ACTIVATION_LIST(NDE_ACT_ENUM_)
#undef NDE_ACT_ENUM_
      NDE_ACT_COUNT /**< number of activations; not an activation */
} nde_activation;

/** Name of an activation ("tanh"), NULL for an invalid value. */
NDE_API const char *nde_activation_name(nde_activation act);

/** Parse an activation name; NDE_EINVAL listing the valid names otherwise. */
NDE_API nde_status nde_activation_parse(const char *name, nde_activation *out);

/**
 * 1 when an activation's pullback needs its input x, 0 when act'(x) is a
 * function of the output y = act(x) alone (identity, tanh, sigmoid): then
 * activation_vjp() and activation_vjp_bias() do not use x's values (x must
 * still point to readable memory), and a dense layer need not keep its
 * pre-activation, which lets nde_backend_dense_forward() fuse the
 * activation into the GEMM.
 */
NDE_API int nde_activation_pullback_needs_input(nde_activation act);

/** BLAS transpose flag. */
typedef enum nde_transpose { NDE_NO_TRANS = 0, NDE_TRANS = 1 } nde_transpose;

/**
 * Backend vtable (kind "backend"). `ctx` is the instance state created by
 * `create`. Unless stated otherwise an output may alias an input
 * element-for-element (y[i] computed from x[i] only).
 */
typedef struct nde_backend_ops {
  nde_plugin_header header;

  /** Where this backend's memory lives. */
  nde_device_kind device;

  /** Create an instance from validated options (see the manifest); *ctx may be NULL for stateless backends. */
  nde_status (*create)(const nde_options *options, void **ctx);
  /** Destroy an instance. */
  void (*destroy)(void *ctx);

  /** Allocate @p bytes of zeroed backend memory (bytes may be 0: returns a unique non-NULL pointer or NULL). */
  nde_status (*alloc)(void *ctx, size_t bytes, void **ptr);
  /** Release memory from alloc; NULL is ignored. */
  void (*release)(void *ctx, void *ptr);
  /** dst[0..bytes) = src[0..bytes), both in backend memory (may not overlap). */
  nde_status (*copy)(void *ctx, void *dst, const void *src, size_t bytes);
  /** Host → backend copy. */
  nde_status (*upload)(void *ctx, void *dst, const void *host_src, size_t bytes);
  /** Backend → host copy. */
  nde_status (*download)(void *ctx, void *host_dst, const void *src, size_t bytes);

  /** x[i] = value. */
  void (*fill)(void *ctx, nde_dtype dt, size_t n, double value, void *x);
  /** x[i] *= a. */
  void (*scale)(void *ctx, nde_dtype dt, size_t n, double a, void *x);
  /** y[i] += a·x[i]. */
  void (*axpy)(void *ctx, nde_dtype dt, size_t n, double a, const void *x, void *y);
  /** y[i] = a·x[i] + b·y[i]. */
  void (*axpby)(void *ctx, nde_dtype dt, size_t n, double a, const void *x, double b, void *y);
  /**
   * Linear combination of k vectors: y[i] = beta·y[i] + Σ_j c[j]·x[j][i].
   * Terms with c[j] == 0 are skipped (x[j] may then be NULL). With beta == 0
   * y is overwritten (not read). y may alias any x[j].
   */
  void (*lincomb)(void *ctx, nde_dtype dt, size_t n, int k, const double *c,
                  const void *const *x, double beta, void *y);
  /** z[i] = x[i]·y[i]. */
  void (*mul)(void *ctx, nde_dtype dt, size_t n, const void *x, const void *y, void *z);
  /** Σ x[i]·y[i]. */
  double (*dot)(void *ctx, nde_dtype dt, size_t n, const void *x, const void *y);
  /** Euclidean norm. */
  double (*norm2)(void *ctx, nde_dtype dt, size_t n, const void *x);
  /** max |x[i]| (0 for n == 0; NaN if any element is NaN). */
  double (*norm_inf)(void *ctx, nde_dtype dt, size_t n, const void *x);
  /** Σ x[i]. */
  double (*sum)(void *ctx, nde_dtype dt, size_t n, const void *x);
  /**
   * Weighted RMS norm of an error estimate, the controller's measure:
   * sqrt( (1/n) Σ ( e[i] / (abstol + reltol·max(|u0[i]|, |u1[i]|)) )² ).
   * @p u1 may be NULL (then only |u0[i]| scales). Returns 0 for n == 0.
   */
  double (*wrms_norm)(void *ctx, nde_dtype dt, size_t n, const void *e, const void *u0,
                      const void *u1, double abstol, double reltol);
  /**
   * C(m×n) = alpha·op(A)·op(B) + beta·C, column-major, op(A) is m×k and
   * op(B) is k×n; exactly BLAS GEMM semantics (C is not read when beta == 0).
   */
  void (*gemm)(void *ctx, nde_dtype dt, nde_transpose ta, nde_transpose tb, size_t m, size_t n,
               size_t k, double alpha, const void *a, size_t lda, const void *b, size_t ldb,
               double beta, void *c, size_t ldc);
  /** y[r + c·rows] += b[r] for a rows×cols matrix y: adds a column vector to every column (bias). */
  void (*add_column)(void *ctx, nde_dtype dt, size_t rows, size_t cols, const void *b, void *y);
  /**
   * out[r] = beta·out[r] + Σ_c x[r + c·rows]: sums the columns of a rows×cols
   * matrix (bias gradient); out may not overlap x.
   */
  void (*sum_columns)(void *ctx, nde_dtype dt, size_t rows, size_t cols, const void *x,
                      double beta, void *out);
  /** y[i] = act(x[i]). */
  void (*activation)(void *ctx, nde_dtype dt, nde_activation act, size_t n, const void *x,
                     void *y);
  /**
   * Pullback of an activation: dx[i] = dy[i]·act'(x[i]), given x and the
   * forward output y = act(x) (backends may use either, except that where
   * nde_activation_pullback_needs_input() is 0 only y's values may be used).
   * dx may alias dy.
   */
  void (*activation_vjp)(void *ctx, nde_dtype dt, nde_activation act, size_t n, const void *x,
                         const void *y, const void *dy, void *dx);
  /**
   * Fill x with N(mean, stddev²) draws from the Philox stream (seed, stream)
   * starting at counter @p offset: element i is nde_philox_normal(seed,
   * stream, offset + i) of nde/rng.h, so every backend produces the same numbers.
   */
  void (*random_normal)(void *ctx, nde_dtype dt, size_t n, uint64_t seed, uint64_t stream,
                        uint64_t offset, double mean, double stddev, void *x);
  /** Fill x with U[lo, hi) draws; element i is nde_philox_uniform(seed, stream, offset + i). */
  void (*random_uniform)(void *ctx, nde_dtype dt, size_t n, uint64_t seed, uint64_t stream,
                         uint64_t offset, double lo, double hi, void *x);
  /** 1 if every element is finite, else 0. */
  int (*all_finite)(void *ctx, nde_dtype dt, size_t n, const void *x);
  /** dst (dtype dt_dst) = src (dtype dt_src) converted elementwise. */
  void (*convert)(void *ctx, nde_dtype dt_src, const void *src, nde_dtype dt_dst, void *dst,
                  size_t n);

  /* ---- Optional, appended for optimizers (test with NDE_VTABLE_HAS). ---- */

  /**
   * Squared-difference moving average: y[i] = a·(x[i] − w[i])² + b·y[i] + c.
   * @p w may be NULL (then w[i] = 0): Adam's second moment is
   * sq_axpby(n, 1−β₂, g, NULL, β₂, 0, v); AdaBelief's is
   * sq_axpby(n, 1−β₂, g, m, β₂, ε, s).
   */
  void (*sq_axpby)(void *ctx, nde_dtype dt, size_t n, double a, const void *x, const void *w,
                   double b, double c, void *y);
  /** Infinity-norm moving maximum (AdaMax): y[i] = max(b·y[i], |x[i]|). */
  void (*max_abs)(void *ctx, nde_dtype dt, size_t n, const void *x, double b, void *y);
  /**
   * Preconditioned update: z[i] += a·x[i] / (r(c·y[i]) + eps), where r is the
   * square root when @p root is nonzero and the identity otherwise. With
   * a = −lr/(1−β₁ᵗ), c = 1/(1−β₂ᵗ), root = 1 this is Adam's bias-corrected
   * step applied to the parameters z. y[i] must be ≥ 0.
   */
  void (*div_axpy)(void *ctx, nde_dtype dt, size_t n, double a, const void *x, double c,
                   const void *y, double eps, int root, void *z);

  /* ---- Optional, appended for layers and losses (test with NDE_VTABLE_HAS). ---- */

  /**
   * Copy a rows×cols block between column-major matrices with leading
   * dimensions @p lds and @p ldd: dst[r + c·ldd] = src[r + c·lds] (feature
   * concatenation, time_concat). The blocks may not overlap.
   */
  void (*copy_matrix)(void *ctx, nde_dtype dt, size_t rows, size_t cols, const void *src,
                      size_t lds, void *dst, size_t ldd);
  /** dst[r + c·ldd] = value for a rows×cols block (fills one feature row of a batch). */
  void (*fill_matrix)(void *ctx, nde_dtype dt, size_t rows, size_t cols, double value, void *dst,
                      size_t ldd);
  /**
   * Softmax cross-entropy of a (classes × batch) matrix of logits against
   * class indices @p labels (batch values of dtype dt). Returns
   * Σ_columns (logsumexp(z) − z[label]) computed with the column maximum
   * subtracted (no overflow). If @p grad is not NULL it receives
   * scale·(softmax(z) − onehot(label)) (may not alias logits). *correct
   * (may be NULL) receives the number of columns whose first maximal logit
   * is at the label. Labels out of range count as wrong and contribute
   * nothing to the gradient.
   */
  double (*softmax_cross_entropy)(void *ctx, nde_dtype dt, size_t classes, size_t batch,
                                  const void *logits, const void *labels, double scale,
                                  void *grad, size_t *correct);
  /* ---- Optional, appended for discrete sensitivities (test with NDE_VTABLE_HAS). ---- */
  /**
   * Pullback of wrms_norm() at (e, u0, u1) whose value was @p norm: with
   * s[i] = abstol + reltol·max(|u0[i]|, |u1[i]|) and r[i] = e[i]/s[i],
   *   de[i]  += w·r[i] / (n·norm·s[i])
   *   du0[i] += −w·r[i]²/(n·norm·s[i]) · reltol·sign(u0[i])   where |u0[i]| ≥ |u1[i]|
   *   du1[i] += the same with u1                               where |u1[i]| >  |u0[i]|
   * (ties go to u0, as in the forward max). @p u1 / @p du1 may be NULL (then
   * only |u0| scales); @p du0 may be NULL (not wanted). Nothing is added
   * when norm == 0 (the norm is not differentiable there).
   */
  void (*wrms_norm_vjp)(void *ctx, nde_dtype dt, size_t n, const void *e, const void *u0,
                        const void *u1, double abstol, double reltol, double norm, double w,
                        void *de, void *du0, void *du1);
  /* ---- Appended for backends whose memory the host cannot read. ---- */
  /**
   * Nonzero when the host may read and write this backend's memory through
   * its pointers (the `cpu` backend). The core then reads array elements in
   * place; otherwise every host read or write goes through upload/download.
   * Leave it 0 unless that is true: a GPU's memory, or memory that faults
   * outside the backend's own operations, is not host-readable. A vtable
   * built before this field existed counts as host-readable exactly when
   * its device is NDE_DEVICE_CPU (see nde_backend_host_readable()).
   */
  int host_readable;
  /* ---- Optional, appended for distributed backends (docs/distributed.md). ---- */
  /**
   * This process's rank and the number of ranks (processes) whose arrays
   * together form one batch. A backend without this field is one process:
   * rank 0 of 1. A distributed backend (`mpi`) treats every array as the
   * local columns of a batch split across the ranks: each reduction above
   * that returns a host scalar (dot, norm2, norm_inf, sum, wrms_norm,
   * all_finite, the loss total and count of softmax_cross_entropy) is the
   * reduction over the whole distributed array, the same on every rank.
   */
  void (*comm_info)(void *ctx, int *rank, int *size);
  /**
   * Combine @p n host doubles over all ranks in place (op: an nde_reduce_op),
   * so that every rank ends with the same values. Collective: every rank calls it.
   */
  nde_status (*allreduce_host)(void *ctx, int op, size_t n, double *values);
  /**
   * Sum @p n elements of backend memory over all ranks in place (the
   * parameter gradients: one call a step). Collective.
   */
  nde_status (*allreduce_sum)(void *ctx, nde_dtype dt, size_t n, void *x);
  /**
   * The backend whose operations act on this rank's elements only (the
   * wrapped one: same memory, reductions not combined over the ranks), for
   * reductions over a part of an array that lies on one rank (one column
   * of a batch). See nde_backend_local().
   */
  const struct nde_backend *(*local_backend)(void *ctx);
  /* ---- Optional, appended for fused solver arithmetic (call it through
          nde_backend_lincomb_wrms(), which composes lincomb and wrms_norm
          for a backend that leaves it NULL). ---- */
  /**
   * Two linear combinations of the same k vectors and a weighted RMS norm in
   * one pass over memory (the last stage of an embedded Runge–Kutta step):
   *   y[i] = Σ_j cy[j]·x[j][i]   when @p cy is not NULL (y is written, not read);
   *   e[i] = Σ_j ce[j]·x[j][i]   stored only when @p e is not NULL;
   * and returns wrms_norm(e; u0, y) as wrms_norm() defines it, where y is the
   * array just computed, or when @p cy is NULL the array @p y as given
   * (read; may be NULL: then only |u0| scales). With reltol == 0 neither u0
   * nor y is read and u0 may be NULL. A term with cy[j] == 0 (or cy NULL)
   * and ce[j] == 0 is skipped (x[j] may then be NULL). y and e may alias an
   * x[j] element for element. Sums are accumulated in the order of j as
   * lincomb() does, so the results equal lincomb() followed by wrms_norm().
   * At most 32 vectors (k ≤ 32).
   */
  double (*lincomb_wrms)(void *ctx, nde_dtype dt, size_t n, int k, const void *const *x,
                         const double *cy, void *y, const double *ce, void *e, const void *u0,
                         double abstol, double reltol);
  /* ---- Optional, appended for dense layers (call them through
          nde_backend_bias_activation() and nde_backend_activation_vjp_bias(),
          which compose the older operations for a backend without them). ---- */
  /**
   * A dense layer's epilogue in one pass: z[r + c·rows] += b[r] (no bias
   * when @p b is NULL), then y = act(z) for the rows×cols matrix z. y may
   * alias z (with act identity only the bias is added).
   */
  void (*bias_activation)(void *ctx, nde_dtype dt, nde_activation act, size_t rows, size_t cols,
                          const void *b, void *z, void *y);
  /**
   * A dense layer's pullback epilogue in one pass: dx = dy·act'(x) as
   * activation_vjp() computes it (given x and y = act(x)), and when @p db is
   * not NULL db[r] += Σ_c dx[r + c·rows] summed in column order, as
   * sum_columns() with beta 1. dx may alias dy; db may not overlap the others.
   */
  void (*activation_vjp_bias)(void *ctx, nde_dtype dt, nde_activation act, size_t rows,
                              size_t cols, const void *x, const void *y, const void *dy, void *dx,
                              void *db);
  /* ---- Optional, appended for fused dense layers (call it through
          nde_backend_dense_forward(), which composes gemm() and
          bias_activation() for a backend without it). ---- */
  /**
   * A dense layer's forward: Z = W·X + b (column-major; W is m×k with
   * leading dimension ldw, X is k×n with ldx, b has m elements or is NULL:
   * no bias), y = act(Z) (m×n, leading dimension m). When @p z is not NULL
   * it receives Z (the pre-activation; y may alias z); when it is NULL the
   * backend may apply the bias and the activation inside the GEMM, Z never
   * stored. The result agrees with gemm() then bias_activation() to
   * rounding (the fused activation may be the GEMM library's).
   */
  void (*dense_forward)(void *ctx, nde_dtype dt, nde_activation act, size_t m, size_t n, size_t k,
                        const void *w, size_t ldw, const void *x, size_t ldx, const void *b,
                        void *z, void *y);
} nde_backend_ops;

/** How nde_backend_ops.allreduce_host combines the ranks' values. */
typedef enum nde_reduce_op { NDE_REDUCE_SUM = 0, NDE_REDUCE_MAX = 1, NDE_REDUCE_MIN = 2 } nde_reduce_op;

/**
 * A backend instance: the plugin's vtable and its state. Obtain one with
 * nde_backend_open() (or nde_backend_open_ops() for a vtable in hand) and
 * release it with nde_backend_destroy().
 */
typedef struct nde_backend {
  const nde_backend_ops *ops;
  void *ctx;
} nde_backend;

struct nde_registry;

/**
 * Open a backend plugin by name ("cpu") from @p registry (NULL: the default
 * registry), with options as a JSON object text (NULL: defaults).
 * NDE_ENOTFOUND (with a did-you-mean) for an unknown name.
 */
NDE_API nde_status nde_backend_open(struct nde_registry *registry, const char *name,
                                    const char *options_json, nde_backend **out);

/** Wrap a vtable directly (tests, embedding); validates its required operations. */
NDE_API nde_status nde_backend_open_ops(const nde_backend_ops *ops, const nde_options *options,
                                        nde_backend **out);

/** Destroy a backend instance and NULL the pointer. */
NDE_API void nde_backend_destroy(nde_backend **backend);

/**
 * 1 when the host may dereference @p backend's memory directly (its
 * `host_readable` field; for a vtable without that field, whether its
 * device is NDE_DEVICE_CPU), else 0. Code that reads or writes array
 * elements on the host takes the in-place path only when this is 1 and
 * goes through upload/download (nde_array_to_doubles() and friends)
 * otherwise.
 */
NDE_API int nde_backend_host_readable(const nde_backend *backend);

/**
 * The rank of this process and the number of ranks of @p backend (0 and 1
 * for a backend without comm_info: every backend but a distributed one).
 */
NDE_API void nde_backend_comm(const nde_backend *backend, int *rank, int *size);

/**
 * Combine @p n host doubles over the ranks of @p backend in place (a no-op
 * on one process). Collective: on a distributed backend every rank must
 * call it, with the same @p n and @p op.
 */
NDE_API nde_status nde_backend_allreduce_host(const nde_backend *backend, nde_reduce_op op,
                                              size_t n, double *values);

/** Sum @p n elements of backend memory over the ranks in place (no-op on one process). Collective. */
NDE_API nde_status nde_backend_allreduce_sum(const nde_backend *backend, nde_dtype dtype, size_t n,
                                             void *x);

/**
 * The number of elements of the distributed array whose local part has
 * @p n elements: the sum of every rank's @p n (just @p n on one process).
 * Code that normalizes a reduction by a count (a mean, an RMS norm) divides
 * by this, so that the value is the whole batch's on every rank. Collective.
 */
NDE_API size_t nde_backend_global_count(const nde_backend *backend, size_t n);

/**
 * Where this rank's @p n elements sit in the distributed array: *offset
 * receives the number of elements on lower ranks and *total the sum over
 * all ranks (0 and @p n on one process). Random draws per element are keyed
 * by offset + i, so an element's numbers do not depend on which rank holds
 * it. Collective.
 */
NDE_API nde_status nde_backend_global_offset(const nde_backend *backend, size_t n, size_t *offset,
                                             size_t *total);

/**
 * The backend to take reductions over a part of an array that lies on this
 * rank alone — one column of a batch, as solvers that keep one system per
 * sample do — with the same memory and pointers: the wrapped backend of a
 * distributed one, @p backend itself otherwise. Not collective.
 */
NDE_API const nde_backend *nde_backend_local(const nde_backend *backend);

/**
 * The backend's lincomb_wrms() (see ::nde_backend_ops), or, for a backend
 * without it, the same result from lincomb() and wrms_norm(): then @p e, or
 * @p scratch (n elements) when e is NULL, receives the error vector, and y
 * may not alias an x[j] with ce[j] != 0. Returns the norm.
 */
NDE_API double nde_backend_lincomb_wrms(const nde_backend *backend, nde_dtype dt, size_t n, int k,
                                        const void *const *x, const double *cy, void *y,
                                        const double *ce, void *e, const void *u0, double abstol,
                                        double reltol, void *scratch);

/** Partial sums of nde_wrms_sum() (see there). */
#define NDE_WRMS_LANES 16
/** Elements per block of the cpu backend's norm kernels (see nde_wrms_sum()). */
#define NDE_WRMS_BLOCK 512

/**
 * Σ q[0..len) in the fixed order of the cpu backend's weighted RMS norms
 * (wrms_norm, lincomb_wrms), fast and the same bits at every SIMD width:
 * NDE_WRMS_LANES independent partial sums, q[i] going to lane i mod
 * NDE_WRMS_LANES, each summed in element order from +0, then folded in
 * halves (lane l += lane l + 8, then + 4, + 2, + 1) into lane 0. The cpu
 * backend sums the squares of a vector block by block (NDE_WRMS_BLOCK
 * elements, the last one shorter) with this function and adds the blocks'
 * sums in block order whatever the number of threads; a host loop that
 * wants its bits (core/ode/rk_host.c) does the same.
 */
static inline double nde_wrms_sum(const double *q, size_t len) {
  double acc[NDE_WRMS_LANES] = {0};
  size_t i = 0;
  for (; i + NDE_WRMS_LANES <= len; i += NDE_WRMS_LANES)
    for (int l = 0; l < NDE_WRMS_LANES; ++l)
      acc[l] += q[i + l];
  for (int l = 0; i + (size_t)l < len; ++l)
    acc[l] += q[i + (size_t)l];
  for (int w = NDE_WRMS_LANES / 2; w > 0; w /= 2)
    for (int l = 0; l < w; ++l)
      acc[l] += acc[l + w];
  return acc[0];
}

/**
 * The backend's bias_activation() (see ::nde_backend_ops), or add_column()
 * then activation() for a backend without it: the same numbers either way.
 */
NDE_API void nde_backend_bias_activation(const nde_backend *backend, nde_dtype dt,
                                         nde_activation act, size_t rows, size_t cols,
                                         const void *b, void *z, void *y);

/**
 * The backend's activation_vjp_bias(), or activation_vjp() then
 * sum_columns() (beta 1) for a backend without it.
 */
NDE_API void nde_backend_activation_vjp_bias(const nde_backend *backend, nde_dtype dt,
                                             nde_activation act, size_t rows, size_t cols,
                                             const void *x, const void *y, const void *dy,
                                             void *dx, void *db);

/**
 * The backend's dense_forward() (see ::nde_backend_ops), or gemm() into @p z
 * (into @p y when z is NULL) then nde_backend_bias_activation() for a
 * backend without it.
 */
NDE_API void nde_backend_dense_forward(const nde_backend *backend, nde_dtype dt,
                                       nde_activation act, size_t m, size_t n, size_t k,
                                       const void *w, size_t ldw, const void *x, size_t ldx,
                                       const void *b, void *z, void *y);

#ifdef __cplusplus
}
#endif
#endif /* NDE_BACKEND_H */
