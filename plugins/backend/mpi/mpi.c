/*
 * The `mpi` backend: data parallelism as SUNDIALS' parallel vectors do it.
 * Every array is this rank's columns of a batch split across the ranks of
 * MPI_COMM_WORLD. Storage and arithmetic are another backend's (option
 * "inner", `cpu` by default; any backend plugin, a GPU one included): every
 * operation is forwarded to it unchanged, except the reductions that return
 * a host scalar, which are combined over the ranks with one MPI_Allreduce
 * each. The solvers above never change: since every norm, dot product and
 * finiteness test is the whole batch's, every rank takes the same steps,
 * rejections and iterations as one process on the whole batch would.
 *
 * What stays local on purpose: GEMM and sum_columns (a layer's parameter
 * gradient is the rank's part of the sum over the batch; the training loop
 * sums the parts with one allreduce_sum a step) and every elementwise
 * operation. Random draws are keyed by the caller's counter offsets, which
 * the core computes from the global column (nde_layer_ctx.batch_offset).
 *
 * One process holds one communicator (a duplicate of MPI_COMM_WORLD, made at
 * the first create) and one kind of inner backend at a time: the vtable is
 * the plugin's, so its device, host_readable and optional operations are set
 * from the inner backend when an instance is created. MPI is initialized on
 * the first create (a process started without mpirun is a singleton of one
 * rank) and finalized at exit.
 *
 * NDE_MPI_STATS=1 in the environment: at exit every rank prints to stderr
 * how many allreduce calls it made, how many bytes they carried and the
 * seconds spent in them (bench/mpi/ reads these lines).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mpi.h>

#include <nde/backend.h>
#include <nde/options.h>

typedef struct mpi_ctx {
  nde_backend *inner;
} mpi_ctx;

static MPI_Comm comm = MPI_COMM_NULL;
static int comm_rank, comm_size;
static const nde_backend_ops *inner_ops; /* the inner kind of the live instances */
static int live;                         /* instances not yet destroyed */

/* communication counters, reported at exit under NDE_MPI_STATS */
static unsigned long long stat_calls, stat_bytes;
static double stat_seconds;

/* MPI_Allreduce in place, counted. */
static int allreduce(void *buf, int count, MPI_Datatype type, MPI_Op op) {
  int size;
  MPI_Type_size(type, &size);
  double t0 = MPI_Wtime();
  int rc = MPI_Allreduce(MPI_IN_PLACE, buf, count, type, op, comm);
  stat_seconds += MPI_Wtime() - t0;
  stat_calls++;
  stat_bytes += (unsigned long long)count * (unsigned long long)size;
  return rc;
}

#define IN(c) (((mpi_ctx *)(c))->inner)
#define IOPS(c) (IN(c)->ops)
#define ICTX(c) (IN(c)->ctx)

static void finalize(void) {
  int done = 0;
  MPI_Finalized(&done);
  if (done)
    return;
  const char *stats = getenv("NDE_MPI_STATS");
  if (stats && *stats && strcmp(stats, "0") && comm != MPI_COMM_NULL)
    fprintf(stderr, "nde mpi stats: rank %d of %d: %llu allreduce calls, %llu bytes, %.6f s\n",
            comm_rank, comm_size, stat_calls, stat_bytes, stat_seconds);
  if (comm != MPI_COMM_NULL)
    MPI_Comm_free(&comm);
  MPI_Finalize();
}

static nde_status start_mpi(void) {
  if (comm != MPI_COMM_NULL)
    return NDE_OK;
  int init = 0, done = 0;
  MPI_Finalized(&done);
  if (done)
    return nde_error(NDE_EINVAL, "MPI was finalized already: the mpi backend cannot start again");
  MPI_Initialized(&init);
  if (!init) {
    int provided;
    if (MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
      return nde_error(NDE_EINVAL, "MPI_Init_thread failed");
    atexit(finalize);
  }
  if (MPI_Comm_dup(MPI_COMM_WORLD, &comm) != MPI_SUCCESS)
    return nde_error(NDE_EINVAL, "MPI_Comm_dup failed");
  MPI_Comm_rank(comm, &comm_rank);
  MPI_Comm_size(comm, &comm_size);
  return NDE_OK;
}

static nde_backend_ops mpi_ops;            /* what the core holds: set at load and at create */
static const nde_backend_ops mpi_template; /* every operation this wrapper has */

/* The optional operations this wrapper forwards; cleared when the inner backend lacks one. */
#define OPTIONAL_OPS(X)                                                          \
  X(sq_axpby) X(max_abs) X(div_axpy) X(copy_matrix) X(fill_matrix)             \
      X(softmax_cross_entropy) X(wrms_norm_vjp)

static nde_status mpi_create(const nde_options *options, void **ctx) {
  *ctx = NULL;
  const char *name = nde_options_string(options, "inner", "cpu");
  if (!strcmp(name, "mpi"))
    return nde_error(NDE_EINVAL, "option inner: the mpi backend cannot wrap itself");
  NDE_TRY(start_mpi());
  mpi_ctx *c = calloc(1, sizeof *c);
  if (!c)
    return nde_error(NDE_ENOMEM, "out of memory");
  char *json = nde_options_to_json(nde_options_object(options, "inner_options"));
  nde_status st = nde_backend_open(NULL, name, json, &c->inner);
  free(json);
  if (st != NDE_OK) {
    free(c);
    return nde_error_prefix(st, "option inner");
  }
  const nde_backend_ops *in = c->inner->ops;
  if (live && in != inner_ops) {
    nde_backend_destroy(&c->inner);
    free(c);
    return nde_error(NDE_EINVAL, "option inner: '%s' while another mpi instance wraps '%s' (one "
                     "inner backend per process)", name, inner_ops->header.name);
  }
  inner_ops = in;
  live++;
  mpi_ops.device = in->device;
  mpi_ops.host_readable = nde_backend_host_readable(c->inner);
#define FORWARD_IF_PRESENT(f)                                                    \
  mpi_ops.f = NDE_VTABLE_HAS(in, nde_backend_ops, f) ? mpi_template.f : NULL;
  OPTIONAL_OPS(FORWARD_IF_PRESENT)
#undef FORWARD_IF_PRESENT
  *ctx = c;
  return NDE_OK;
}

static void mpi_destroy(void *ctx) {
  if (!ctx)
    return;
  nde_backend_destroy(&IN(ctx));
  free(ctx);
  live--;
}

/* ---- forwarded unchanged ---- */

static nde_status mpi_alloc(void *c, size_t bytes, void **ptr) {
  return IOPS(c)->alloc(ICTX(c), bytes, ptr);
}
static void mpi_release(void *c, void *ptr) { IOPS(c)->release(ICTX(c), ptr); }
static nde_status mpi_copy(void *c, void *dst, const void *src, size_t bytes) {
  return IOPS(c)->copy(ICTX(c), dst, src, bytes);
}
static nde_status mpi_upload(void *c, void *dst, const void *src, size_t bytes) {
  return IOPS(c)->upload(ICTX(c), dst, src, bytes);
}
static nde_status mpi_download(void *c, void *dst, const void *src, size_t bytes) {
  return IOPS(c)->download(ICTX(c), dst, src, bytes);
}
static void mpi_fill(void *c, nde_dtype dt, size_t n, double v, void *x) {
  IOPS(c)->fill(ICTX(c), dt, n, v, x);
}
static void mpi_scale(void *c, nde_dtype dt, size_t n, double a, void *x) {
  IOPS(c)->scale(ICTX(c), dt, n, a, x);
}
static void mpi_axpy(void *c, nde_dtype dt, size_t n, double a, const void *x, void *y) {
  IOPS(c)->axpy(ICTX(c), dt, n, a, x, y);
}
static void mpi_axpby(void *c, nde_dtype dt, size_t n, double a, const void *x, double b,
                      void *y) {
  IOPS(c)->axpby(ICTX(c), dt, n, a, x, b, y);
}
static void mpi_lincomb(void *c, nde_dtype dt, size_t n, int k, const double *cf,
                        const void *const *x, double beta, void *y) {
  IOPS(c)->lincomb(ICTX(c), dt, n, k, cf, x, beta, y);
}
static void mpi_mul(void *c, nde_dtype dt, size_t n, const void *x, const void *y, void *z) {
  IOPS(c)->mul(ICTX(c), dt, n, x, y, z);
}
static void mpi_gemm(void *c, nde_dtype dt, nde_transpose ta, nde_transpose tb, size_t m,
                     size_t n, size_t k, double alpha, const void *a, size_t lda, const void *b,
                     size_t ldb, double beta, void *cc, size_t ldc) {
  IOPS(c)->gemm(ICTX(c), dt, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, cc, ldc);
}
static void mpi_add_column(void *c, nde_dtype dt, size_t rows, size_t cols, const void *b,
                           void *y) {
  IOPS(c)->add_column(ICTX(c), dt, rows, cols, b, y);
}
static void mpi_sum_columns(void *c, nde_dtype dt, size_t rows, size_t cols, const void *x,
                            double beta, void *out) {
  IOPS(c)->sum_columns(ICTX(c), dt, rows, cols, x, beta, out);
}
static void mpi_activation(void *c, nde_dtype dt, nde_activation act, size_t n, const void *x,
                           void *y) {
  IOPS(c)->activation(ICTX(c), dt, act, n, x, y);
}
static void mpi_activation_vjp(void *c, nde_dtype dt, nde_activation act, size_t n,
                               const void *x, const void *y, const void *dy, void *dx) {
  IOPS(c)->activation_vjp(ICTX(c), dt, act, n, x, y, dy, dx);
}
static void mpi_random_normal(void *c, nde_dtype dt, size_t n, uint64_t seed, uint64_t stream,
                              uint64_t offset, double mean, double sd, void *x) {
  IOPS(c)->random_normal(ICTX(c), dt, n, seed, stream, offset, mean, sd, x);
}
static void mpi_random_uniform(void *c, nde_dtype dt, size_t n, uint64_t seed, uint64_t stream,
                               uint64_t offset, double lo, double hi, void *x) {
  IOPS(c)->random_uniform(ICTX(c), dt, n, seed, stream, offset, lo, hi, x);
}
static void mpi_convert(void *c, nde_dtype ds, const void *src, nde_dtype dd, void *dst,
                        size_t n) {
  IOPS(c)->convert(ICTX(c), ds, src, dd, dst, n);
}
static void mpi_sq_axpby(void *c, nde_dtype dt, size_t n, double a, const void *x, const void *w,
                         double b, double cc, void *y) {
  IOPS(c)->sq_axpby(ICTX(c), dt, n, a, x, w, b, cc, y);
}
static void mpi_max_abs(void *c, nde_dtype dt, size_t n, const void *x, double b, void *y) {
  IOPS(c)->max_abs(ICTX(c), dt, n, x, b, y);
}
static void mpi_div_axpy(void *c, nde_dtype dt, size_t n, double a, const void *x, double cc,
                         const void *y, double eps, int root, void *z) {
  IOPS(c)->div_axpy(ICTX(c), dt, n, a, x, cc, y, eps, root, z);
}
static void mpi_copy_matrix(void *c, nde_dtype dt, size_t rows, size_t cols, const void *src,
                            size_t lds, void *dst, size_t ldd) {
  IOPS(c)->copy_matrix(ICTX(c), dt, rows, cols, src, lds, dst, ldd);
}
static void mpi_fill_matrix(void *c, nde_dtype dt, size_t rows, size_t cols, double v, void *dst,
                            size_t ldd) {
  IOPS(c)->fill_matrix(ICTX(c), dt, rows, cols, v, dst, ldd);
}

/* ---- global reductions ---- */

/* Sum @p n doubles over the ranks in place. MPI errors abort the job (the default handler). */
static void sum_doubles(double *v, int n) {
  if (comm_size > 1)
    allreduce(v, n, MPI_DOUBLE, MPI_SUM);
}

static double mpi_dot(void *c, nde_dtype dt, size_t n, const void *x, const void *y) {
  double v = IOPS(c)->dot(ICTX(c), dt, n, x, y);
  sum_doubles(&v, 1);
  return v;
}
static double mpi_sum(void *c, nde_dtype dt, size_t n, const void *x) {
  double v = IOPS(c)->sum(ICTX(c), dt, n, x);
  sum_doubles(&v, 1);
  return v;
}
static double mpi_norm2(void *c, nde_dtype dt, size_t n, const void *x) {
  double v = IOPS(c)->norm2(ICTX(c), dt, n, x);
  v *= v;
  sum_doubles(&v, 1);
  return sqrt(v);
}
static double mpi_norm_inf(void *c, nde_dtype dt, size_t n, const void *x) {
  double v = IOPS(c)->norm_inf(ICTX(c), dt, n, x);
  if (comm_size == 1)
    return v;
  /* MPI_MAX may drop a NaN: carry "some rank saw NaN" beside the maximum */
  double m[2] = {isnan(v) ? 0.0 : v, isnan(v) ? 1.0 : 0.0};
  allreduce(m, 2, MPI_DOUBLE, MPI_MAX);
  return m[1] > 0 ? NAN : m[0];
}
static double mpi_wrms_norm(void *c, nde_dtype dt, size_t n, const void *e, const void *u0,
                       const void *u1, double abstol, double reltol) {
  double w = IOPS(c)->wrms_norm(ICTX(c), dt, n, e, u0, u1, abstol, reltol);
  if (comm_size == 1)
    return w;
  double v[2] = {w * w * (double)n, (double)n}; /* Σ (e/s)², element count */
  sum_doubles(v, 2);
  return v[1] > 0 ? sqrt(v[0] / v[1]) : 0.0;
}
static int mpi_all_finite(void *c, nde_dtype dt, size_t n, const void *x) {
  int ok = IOPS(c)->all_finite(ICTX(c), dt, n, x);
  if (comm_size > 1)
    allreduce(&ok, 1, MPI_INT, MPI_MIN);
  return ok;
}
static double mpi_softmax_cross_entropy(void *c, nde_dtype dt, size_t classes, size_t batch,
                                        const void *logits, const void *labels, double scale,
                                        void *grad, size_t *correct) {
  size_t right = 0;
  double v[2];
  v[0] = IOPS(c)->softmax_cross_entropy(ICTX(c), dt, classes, batch, logits, labels, scale, grad,
                                        &right);
  v[1] = (double)right;
  sum_doubles(v, 2);
  if (correct)
    *correct = (size_t)v[1];
  return v[0];
}
static void mpi_wrms_norm_vjp(void *c, nde_dtype dt, size_t n, const void *e, const void *u0,
                         const void *u1, double abstol, double reltol, double norm, double w,
                         void *de, void *du0, void *du1) {
  /* the inner pullback divides by the local count n; the norm is over all ranks' elements */
  double total = (double)n;
  sum_doubles(&total, 1);
  double scaled = total > 0 ? w * (double)n / total : 0.0;
  IOPS(c)->wrms_norm_vjp(ICTX(c), dt, n, e, u0, u1, abstol, reltol, norm, scaled, de, du0, du1);
}

/* ---- communication ---- */

static void mpi_comm_info(void *c, int *rank, int *size) {
  (void)c;
  *rank = comm_rank;
  *size = comm_size;
}

static nde_status mpi_allreduce_host(void *c, int op, size_t n, double *values) {
  (void)c;
  if (comm_size == 1 || n == 0)
    return NDE_OK;
  if (n > (size_t)INT32_MAX)
    return nde_error(NDE_EINVAL, "allreduce of %zu values: more than MPI counts allow", n);
  MPI_Op mop = op == NDE_REDUCE_MAX ? MPI_MAX : op == NDE_REDUCE_MIN ? MPI_MIN : MPI_SUM;
  if (allreduce(values, (int)n, MPI_DOUBLE, mop) != MPI_SUCCESS)
    return nde_error(NDE_EINVAL, "MPI_Allreduce of %zu values failed", n);
  return NDE_OK;
}

static const nde_backend *mpi_local_backend(void *c) { return IN(c); }

static nde_status mpi_allreduce_sum(void *c, nde_dtype dt, size_t n, void *x) {
  if (comm_size == 1 || n == 0)
    return NDE_OK;
  if (n > (size_t)INT32_MAX)
    return nde_error(NDE_EINVAL, "allreduce of %zu values: more than MPI counts allow", n);
  MPI_Datatype type = dt == NDE_FLOAT32 ? MPI_FLOAT : MPI_DOUBLE;
  size_t bytes = n * nde_dtype_size(dt);
  void *buf = x, *host = NULL;
  if (!nde_backend_host_readable(IN(c))) { /* through the host; see docs/scaling.md for GPUs */
    host = malloc(bytes);
    if (!host)
      return nde_error(NDE_ENOMEM, "out of memory");
    NDE_TRY(IOPS(c)->download(ICTX(c), host, x, bytes));
    buf = host;
  }
  nde_status st = NDE_OK;
  if (allreduce(buf, (int)n, type, MPI_SUM) != MPI_SUCCESS)
    st = nde_error(NDE_EINVAL, "MPI_Allreduce of %zu gradient values failed", n);
  if (host) {
    if (st == NDE_OK)
      st = IOPS(c)->upload(ICTX(c), x, host, bytes);
    free(host);
  }
  return st;
}

/* Every operation of the wrapper: mpi_NAME implements field NAME. */
#define WRAPPER_OPS(X)                                                           \
  X(create) X(destroy) X(alloc) X(release) X(copy) X(upload) X(download) X(fill) X(scale)    \
      X(axpy) X(axpby) X(lincomb) X(mul) X(dot) X(norm2) X(norm_inf) X(sum) X(wrms_norm)   \
          X(gemm) X(add_column) X(sum_columns) X(activation) X(activation_vjp)           \
              X(random_normal) X(random_uniform) X(all_finite) X(convert) OPTIONAL_OPS(X) \
                  X(comm_info) X(allreduce_host) X(allreduce_sum) X(local_backend)

static const nde_backend_ops mpi_template = {
    .header = NDE_PLUGIN_HEADER(NDE_KIND_BACKEND, "mpi", nde_backend_ops),
    .device = NDE_DEVICE_CPU,
    .host_readable = 1,
#define INIT_OP(f) .f = mpi_##f,
    WRAPPER_OPS(INIT_OP)
#undef INIT_OP
};

NDE_PLUGIN_EXPORT const void *nde_plugin_backend_mpi(void);
NDE_PLUGIN_EXPORT const void *nde_plugin_backend_mpi(void) {
  if (!mpi_ops.create)
    mpi_ops = mpi_template;
  return &mpi_ops;
}
