/*
 * The `sealed` backend (tests only, never installed): memory the host cannot
 * read. Every allocation is its own anonymous mapping kept PROT_NONE except
 * while one of this backend's operations runs on it, so any place in libnde
 * or a plugin that dereferences backend memory directly — instead of going
 * through upload/download or an operation — faults at once, as it would on
 * a GPU. The arithmetic is the cpu backend's: create opens `cpu` through the
 * registry and every operation calls the same operation of it on the
 * unsealed pages, so results are bit-identical to cpu.
 *
 * Pointers handed to an operation must lie inside an allocation of this
 * backend (views into one are fine); anything else — host memory where
 * backend memory belongs, or backend memory as the host side of an upload —
 * stops the process with a message naming the operation.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <nde/backend.h>

typedef struct region {
  char *base;
  size_t mapped; /* bytes mapped (whole pages, at least one) */
  int open;      /* operations currently using it */
} region;

/* One table for the process: arrays may move between instances of this backend. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static region *regions; /* sorted by base */
static size_t nregions, capregions;

typedef struct sealed {
  nde_backend *cpu;
} sealed;

#define CPU(ctx) (((sealed *)(ctx))->cpu)
#define CALL(ctx, op, ...) CPU(ctx)->ops->op(CPU(ctx)->ctx, __VA_ARGS__)

/* Index of the region holding p, or (size_t)-1. Caller holds the lock. */
static size_t find_locked(const void *p) {
  const char *c = p;
  size_t lo = 0, hi = nregions;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (regions[mid].base <= c)
      lo = mid + 1;
    else
      hi = mid;
  }
  if (lo == 0)
    return (size_t)-1;
  region *r = &regions[lo - 1];
  return c < r->base + r->mapped ? lo - 1 : (size_t)-1;
}

static void die(const char *op, const void *p, const char *why) {
  fprintf(stderr, "sealed backend: %s: %p %s\n", op, p, why);
  abort();
}

/* Make the region holding p readable and writable for one operation. */
static void unseal(const char *op, const void *p) {
  if (!p)
    return;
  pthread_mutex_lock(&lock);
  size_t i = find_locked(p);
  if (i == (size_t)-1)
    die(op, p, "is not memory of this backend");
  if (regions[i].open++ == 0 &&
      mprotect(regions[i].base, regions[i].mapped, PROT_READ | PROT_WRITE) != 0)
    die(op, p, "could not be unsealed");
  pthread_mutex_unlock(&lock);
}

static void seal(const void *p) {
  if (!p)
    return;
  pthread_mutex_lock(&lock);
  size_t i = find_locked(p);
  if (i != (size_t)-1 && --regions[i].open == 0)
    mprotect(regions[i].base, regions[i].mapped, PROT_NONE);
  pthread_mutex_unlock(&lock);
}

/* The host side of an upload/download must not be backend memory. */
static void host_side(const char *op, const void *p) {
  pthread_mutex_lock(&lock);
  size_t i = find_locked(p);
  pthread_mutex_unlock(&lock);
  if (i != (size_t)-1)
    die(op, p, "is backend memory passed as host memory");
}

#define UNSEAL2(op, a, b) (unseal(op, a), unseal(op, b))
#define SEAL2(a, b) (seal(a), seal(b))

static nde_status sealed_create(const nde_options *options, void **ctx) {
  (void)options;
  sealed *s = calloc(1, sizeof *s);
  if (!s)
    return nde_error(NDE_ENOMEM, "out of memory");
  nde_status st = nde_backend_open(NULL, "cpu", NULL, &s->cpu);
  if (st != NDE_OK) {
    free(s);
    return nde_error_prefix(st, "sealed backend needs the cpu backend");
  }
  *ctx = s;
  return NDE_OK;
}

static void sealed_destroy(void *ctx) {
  sealed *s = ctx;
  if (!s)
    return;
  nde_backend_destroy(&s->cpu);
  free(s);
}

static nde_status sealed_alloc(void *ctx, size_t bytes, void **ptr) {
  (void)ctx;
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  size_t mapped = bytes ? (bytes + page - 1) / page * page : page;
  if (mapped < bytes)
    return nde_error(NDE_ENOMEM, "sealed backend: cannot allocate %zu bytes", bytes);
  void *p = mmap(NULL, mapped, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED)
    return nde_error(NDE_ENOMEM, "sealed backend: cannot allocate %zu bytes", bytes);
  pthread_mutex_lock(&lock);
  if (nregions == capregions) {
    size_t cap = capregions ? 2 * capregions : 256;
    region *r = realloc(regions, cap * sizeof *r);
    if (!r) {
      pthread_mutex_unlock(&lock);
      munmap(p, mapped);
      return nde_error(NDE_ENOMEM, "out of memory");
    }
    regions = r;
    capregions = cap;
  }
  size_t at = 0;
  while (at < nregions && regions[at].base < (char *)p)
    ++at;
  memmove(regions + at + 1, regions + at, (nregions - at) * sizeof *regions);
  regions[at] = (region){.base = p, .mapped = mapped, .open = 0};
  ++nregions;
  pthread_mutex_unlock(&lock);
  *ptr = p; /* anonymous pages are zero */
  return NDE_OK;
}

static void sealed_release(void *ctx, void *ptr) {
  (void)ctx;
  if (!ptr)
    return;
  pthread_mutex_lock(&lock);
  size_t i = find_locked(ptr);
  if (i == (size_t)-1 || regions[i].base != (char *)ptr)
    die("release", ptr, "is not an allocation of this backend");
  munmap(regions[i].base, regions[i].mapped);
  memmove(regions + i, regions + i + 1, (nregions - i - 1) * sizeof *regions);
  --nregions;
  pthread_mutex_unlock(&lock);
}

static nde_status sealed_copy(void *ctx, void *dst, const void *src, size_t bytes) {
  UNSEAL2("copy", dst, src);
  nde_status st = CALL(ctx, copy, dst, src, bytes);
  SEAL2(dst, src);
  return st;
}

static nde_status sealed_upload(void *ctx, void *dst, const void *host_src, size_t bytes) {
  host_side("upload", host_src);
  unseal("upload", dst);
  nde_status st = CALL(ctx, upload, dst, host_src, bytes);
  seal(dst);
  return st;
}

static nde_status sealed_download(void *ctx, void *host_dst, const void *src, size_t bytes) {
  host_side("download", host_dst);
  unseal("download", src);
  nde_status st = CALL(ctx, download, host_dst, src, bytes);
  seal(src);
  return st;
}

static void sealed_fill(void *ctx, nde_dtype dt, size_t n, double v, void *x) {
  unseal("fill", x);
  CALL(ctx, fill, dt, n, v, x);
  seal(x);
}

static void sealed_scale(void *ctx, nde_dtype dt, size_t n, double a, void *x) {
  unseal("scale", x);
  CALL(ctx, scale, dt, n, a, x);
  seal(x);
}

static void sealed_axpy(void *ctx, nde_dtype dt, size_t n, double a, const void *x, void *y) {
  UNSEAL2("axpy", x, y);
  CALL(ctx, axpy, dt, n, a, x, y);
  SEAL2(x, y);
}

static void sealed_axpby(void *ctx, nde_dtype dt, size_t n, double a, const void *x, double b,
                         void *y) {
  UNSEAL2("axpby", x, y);
  CALL(ctx, axpby, dt, n, a, x, b, y);
  SEAL2(x, y);
}

static void sealed_lincomb(void *ctx, nde_dtype dt, size_t n, int k, const double *c,
                           const void *const *x, double beta, void *y) {
  for (int j = 0; j < k; ++j)
    if (c[j] != 0)
      unseal("lincomb", x[j]);
  unseal("lincomb", y);
  CALL(ctx, lincomb, dt, n, k, c, x, beta, y);
  seal(y);
  for (int j = 0; j < k; ++j)
    if (c[j] != 0)
      seal(x[j]);
}

static void sealed_mul(void *ctx, nde_dtype dt, size_t n, const void *x, const void *y, void *z) {
  UNSEAL2("mul", x, y);
  unseal("mul", z);
  CALL(ctx, mul, dt, n, x, y, z);
  SEAL2(x, y);
  seal(z);
}

static double sealed_dot(void *ctx, nde_dtype dt, size_t n, const void *x, const void *y) {
  UNSEAL2("dot", x, y);
  double r = CALL(ctx, dot, dt, n, x, y);
  SEAL2(x, y);
  return r;
}

static double sealed_norm2(void *ctx, nde_dtype dt, size_t n, const void *x) {
  unseal("norm2", x);
  double r = CALL(ctx, norm2, dt, n, x);
  seal(x);
  return r;
}

static double sealed_norm_inf(void *ctx, nde_dtype dt, size_t n, const void *x) {
  unseal("norm_inf", x);
  double r = CALL(ctx, norm_inf, dt, n, x);
  seal(x);
  return r;
}

static double sealed_sum(void *ctx, nde_dtype dt, size_t n, const void *x) {
  unseal("sum", x);
  double r = CALL(ctx, sum, dt, n, x);
  seal(x);
  return r;
}

static double sealed_wrms(void *ctx, nde_dtype dt, size_t n, const void *e, const void *u0,
                          const void *u1, double atol, double rtol) {
  UNSEAL2("wrms_norm", e, u0);
  unseal("wrms_norm", u1);
  double r = CALL(ctx, wrms_norm, dt, n, e, u0, u1, atol, rtol);
  SEAL2(e, u0);
  seal(u1);
  return r;
}

static void sealed_gemm(void *ctx, nde_dtype dt, nde_transpose ta, nde_transpose tb, size_t m,
                        size_t n, size_t k, double alpha, const void *a, size_t lda,
                        const void *b, size_t ldb, double beta, void *c, size_t ldc) {
  UNSEAL2("gemm", a, b);
  unseal("gemm", c);
  CALL(ctx, gemm, dt, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  SEAL2(a, b);
  seal(c);
}

static void sealed_add_column(void *ctx, nde_dtype dt, size_t rows, size_t cols, const void *b,
                              void *y) {
  UNSEAL2("add_column", b, y);
  CALL(ctx, add_column, dt, rows, cols, b, y);
  SEAL2(b, y);
}

static void sealed_sum_columns(void *ctx, nde_dtype dt, size_t rows, size_t cols, const void *x,
                               double beta, void *out) {
  UNSEAL2("sum_columns", x, out);
  CALL(ctx, sum_columns, dt, rows, cols, x, beta, out);
  SEAL2(x, out);
}

static void sealed_activation(void *ctx, nde_dtype dt, nde_activation act, size_t n,
                              const void *x, void *y) {
  UNSEAL2("activation", x, y);
  CALL(ctx, activation, dt, act, n, x, y);
  SEAL2(x, y);
}

static void sealed_activation_vjp(void *ctx, nde_dtype dt, nde_activation act, size_t n,
                                  const void *x, const void *y, const void *dy, void *dx) {
  UNSEAL2("activation_vjp", x, y);
  UNSEAL2("activation_vjp", dy, dx);
  CALL(ctx, activation_vjp, dt, act, n, x, y, dy, dx);
  SEAL2(x, y);
  SEAL2(dy, dx);
}

static void sealed_random_normal(void *ctx, nde_dtype dt, size_t n, uint64_t seed,
                                 uint64_t stream, uint64_t offset, double mean, double stddev,
                                 void *x) {
  unseal("random_normal", x);
  CALL(ctx, random_normal, dt, n, seed, stream, offset, mean, stddev, x);
  seal(x);
}

static void sealed_random_uniform(void *ctx, nde_dtype dt, size_t n, uint64_t seed,
                                  uint64_t stream, uint64_t offset, double lo, double hi,
                                  void *x) {
  unseal("random_uniform", x);
  CALL(ctx, random_uniform, dt, n, seed, stream, offset, lo, hi, x);
  seal(x);
}

static int sealed_all_finite(void *ctx, nde_dtype dt, size_t n, const void *x) {
  unseal("all_finite", x);
  int r = CALL(ctx, all_finite, dt, n, x);
  seal(x);
  return r;
}

static void sealed_convert(void *ctx, nde_dtype ds, const void *src, nde_dtype dd, void *dst,
                           size_t n) {
  UNSEAL2("convert", src, dst);
  CALL(ctx, convert, ds, src, dd, dst, n);
  SEAL2(src, dst);
}

static void sealed_sq_axpby(void *ctx, nde_dtype dt, size_t n, double a, const void *x,
                            const void *w, double b, double c, void *y) {
  UNSEAL2("sq_axpby", x, w);
  unseal("sq_axpby", y);
  CALL(ctx, sq_axpby, dt, n, a, x, w, b, c, y);
  SEAL2(x, w);
  seal(y);
}

static void sealed_max_abs(void *ctx, nde_dtype dt, size_t n, const void *x, double b, void *y) {
  UNSEAL2("max_abs", x, y);
  CALL(ctx, max_abs, dt, n, x, b, y);
  SEAL2(x, y);
}

static void sealed_div_axpy(void *ctx, nde_dtype dt, size_t n, double a, const void *x, double c,
                            const void *y, double eps, int root, void *z) {
  UNSEAL2("div_axpy", x, y);
  unseal("div_axpy", z);
  CALL(ctx, div_axpy, dt, n, a, x, c, y, eps, root, z);
  SEAL2(x, y);
  seal(z);
}

static void sealed_copy_matrix(void *ctx, nde_dtype dt, size_t rows, size_t cols, const void *src,
                               size_t lds, void *dst, size_t ldd) {
  UNSEAL2("copy_matrix", src, dst);
  CALL(ctx, copy_matrix, dt, rows, cols, src, lds, dst, ldd);
  SEAL2(src, dst);
}

static void sealed_fill_matrix(void *ctx, nde_dtype dt, size_t rows, size_t cols, double value,
                               void *dst, size_t ldd) {
  unseal("fill_matrix", dst);
  CALL(ctx, fill_matrix, dt, rows, cols, value, dst, ldd);
  seal(dst);
}

static double sealed_softmax_cross_entropy(void *ctx, nde_dtype dt, size_t classes, size_t batch,
                                           const void *logits, const void *labels, double scale,
                                           void *grad, size_t *correct) {
  UNSEAL2("softmax_cross_entropy", logits, labels);
  unseal("softmax_cross_entropy", grad);
  double r =
      CALL(ctx, softmax_cross_entropy, dt, classes, batch, logits, labels, scale, grad, correct);
  SEAL2(logits, labels);
  seal(grad);
  return r;
}

static void sealed_wrms_vjp(void *ctx, nde_dtype dt, size_t n, const void *e, const void *u0,
                            const void *u1, double atol, double rtol, double norm, double w,
                            void *de, void *du0, void *du1) {
  UNSEAL2("wrms_norm_vjp", e, u0);
  UNSEAL2("wrms_norm_vjp", u1, de);
  UNSEAL2("wrms_norm_vjp", du0, du1);
  CALL(ctx, wrms_norm_vjp, dt, n, e, u0, u1, atol, rtol, norm, w, de, du0, du1);
  SEAL2(e, u0);
  SEAL2(u1, de);
  SEAL2(du0, du1);
}

NDE_PLUGIN_DEFINE(backend, sealed,
                  .device = NDE_DEVICE_CPU,
                  .create = sealed_create,
                  .destroy = sealed_destroy,
                  .alloc = sealed_alloc,
                  .release = sealed_release,
                  .copy = sealed_copy,
                  .upload = sealed_upload,
                  .download = sealed_download,
                  .fill = sealed_fill,
                  .scale = sealed_scale,
                  .axpy = sealed_axpy,
                  .axpby = sealed_axpby,
                  .lincomb = sealed_lincomb,
                  .mul = sealed_mul,
                  .dot = sealed_dot,
                  .norm2 = sealed_norm2,
                  .norm_inf = sealed_norm_inf,
                  .sum = sealed_sum,
                  .wrms_norm = sealed_wrms,
                  .gemm = sealed_gemm,
                  .add_column = sealed_add_column,
                  .sum_columns = sealed_sum_columns,
                  .activation = sealed_activation,
                  .activation_vjp = sealed_activation_vjp,
                  .random_normal = sealed_random_normal,
                  .random_uniform = sealed_random_uniform,
                  .all_finite = sealed_all_finite,
                  .convert = sealed_convert,
                  .sq_axpby = sealed_sq_axpby,
                  .max_abs = sealed_max_abs,
                  .div_axpy = sealed_div_axpy,
                  .copy_matrix = sealed_copy_matrix,
                  .fill_matrix = sealed_fill_matrix,
                  .softmax_cross_entropy = sealed_softmax_cross_entropy,
                  .wrms_norm_vjp = sealed_wrms_vjp,
                  .host_readable = 0);
