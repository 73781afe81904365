/*
 * float32 GEMMs through oneDNN's matmul primitive, cached per shape.
 *
 * Creating a primitive costs tens of microseconds (oneDNN picks a kernel
 * and JIT-compiles it), a GEMM of the shapes that matter 0.1–1 ms: so each
 * (transposes, m, n, k, leading dimensions, alpha, beta, bias, activation)
 * gets one primitive the first time it is seen, kept with its memory
 * objects; a call then only points the memory objects at the caller's
 * arrays and executes. The cache holds CACHE_SLOTS shapes (a model has a
 * handful) and replaces the oldest when full.
 *
 * nde's matrices are column-major; oneDNN's matmul is row-major
 * dst(n×m) = src(n×k)·weights(k×m). The column-major C = op(A)·op(B) is the
 * row-major Cᵀ = op(B)ᵀ·op(A)ᵀ, so src is op(B)ᵀ, weights op(A)ᵀ and dst Cᵀ,
 * all described by strides over the caller's arrays (no copies); the bias,
 * one value per row of C, is a 1×m row broadcast over dst's rows.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <oneapi/dnnl/dnnl.h>

#include "gemm_onednn.h"

#define CACHE_SLOTS 32

typedef struct key {
  int ta, tb, bias;
  nde_activation act;
  size_t m, n, k, lda, ldb, ldc;
  float alpha, beta;
} key;

typedef struct slot {
  key key;
  int used;
  dnnl_primitive_t prim; /* NULL: oneDNN refused this shape */
  dnnl_memory_t src, wei, dst, bias;
} slot;

struct cpu_matmul_cache {
  pthread_mutex_t lock;
  dnnl_engine_t engine;
  dnnl_stream_t stream;
  slot slots[CACHE_SLOTS];
  int next; /* the slot replaced when all are used */
};

static int eltwise_of(nde_activation act, dnnl_alg_kind_t *alg, float *alpha, float *beta) {
  *alpha = 0.0f;
  *beta = 0.0f;
  switch (act) {
  case NDE_ACT_TANH:
    *alg = dnnl_eltwise_tanh;
    return 1;
  case NDE_ACT_RELU:
    *alg = dnnl_eltwise_relu;
    return 1;
  case NDE_ACT_SIGMOID:
    *alg = dnnl_eltwise_logistic;
    return 1;
  case NDE_ACT_GELU:
    *alg = dnnl_eltwise_gelu_erf;
    return 1;
  case NDE_ACT_SWISH: /* x·σ(αx) with α = 1 */
    *alg = dnnl_eltwise_swish;
    *alpha = 1.0f;
    return 1;
  default:
    return 0;
  }
}

int cpu_matmul_has_activation(nde_activation act) {
  dnnl_alg_kind_t alg;
  float a, b;
  return act == NDE_ACT_IDENTITY || eltwise_of(act, &alg, &a, &b);
}

cpu_matmul_cache *cpu_matmul_cache_create(void) {
  cpu_matmul_cache *c = calloc(1, sizeof *c);
  if (!c)
    return NULL;
  if (dnnl_engine_create(&c->engine, dnnl_cpu, 0) != dnnl_success) {
    free(c);
    return NULL;
  }
  if (dnnl_stream_create(&c->stream, c->engine, dnnl_stream_default_flags) != dnnl_success) {
    dnnl_engine_destroy(c->engine);
    free(c);
    return NULL;
  }
  pthread_mutex_init(&c->lock, NULL);
  return c;
}

static void slot_clear(slot *s) {
  if (s->prim) {
    dnnl_primitive_destroy(s->prim);
    dnnl_memory_destroy(s->src);
    dnnl_memory_destroy(s->wei);
    dnnl_memory_destroy(s->dst);
    if (s->bias)
      dnnl_memory_destroy(s->bias);
  }
  memset(s, 0, sizeof *s);
}

void cpu_matmul_cache_destroy(cpu_matmul_cache *cache) {
  if (!cache)
    return;
  for (int i = 0; i < CACHE_SLOTS; ++i)
    slot_clear(&cache->slots[i]);
  dnnl_stream_destroy(cache->stream);
  dnnl_engine_destroy(cache->engine);
  pthread_mutex_destroy(&cache->lock);
  free(cache);
}

/* the primitive of k (s->prim stays NULL when oneDNN has none) */
static void slot_build(cpu_matmul_cache *c, slot *s, const key *k) {
  memset(s, 0, sizeof *s);
  s->key = *k;
  s->used = 1;
  dnnl_memory_desc_t src, wei, dst, bias;
  dnnl_dims_t sd = {(dnnl_dim_t)k->n, (dnnl_dim_t)k->k}, wd = {(dnnl_dim_t)k->k, (dnnl_dim_t)k->m},
              dd = {(dnnl_dim_t)k->n, (dnnl_dim_t)k->m}, bd = {1, (dnnl_dim_t)k->m};
  /* src = op(B)ᵀ: B(p, j) at b[p + j·ldb] (or Bᵀ's at b[j + p·ldb]); likewise A */
  dnnl_dims_t ss = {k->tb ? 1 : (dnnl_dim_t)k->ldb, k->tb ? (dnnl_dim_t)k->ldb : 1},
              ws = {k->ta ? 1 : (dnnl_dim_t)k->lda, k->ta ? (dnnl_dim_t)k->lda : 1},
              ds = {(dnnl_dim_t)k->ldc, 1};
  if (dnnl_memory_desc_init_by_strides(&src, 2, sd, dnnl_f32, ss) != dnnl_success ||
      dnnl_memory_desc_init_by_strides(&wei, 2, wd, dnnl_f32, ws) != dnnl_success ||
      dnnl_memory_desc_init_by_strides(&dst, 2, dd, dnnl_f32, ds) != dnnl_success ||
      dnnl_memory_desc_init_by_tag(&bias, 2, bd, dnnl_f32, dnnl_ab) != dnnl_success)
    return;
  dnnl_matmul_desc_t desc;
  if (dnnl_matmul_desc_init(&desc, &src, &wei, k->bias ? &bias : NULL, &dst) != dnnl_success)
    return;
  dnnl_primitive_attr_t attr;
  if (dnnl_primitive_attr_create(&attr) != dnnl_success)
    return;
  dnnl_post_ops_t po = NULL;
  dnnl_alg_kind_t alg;
  float ea, eb;
  int ok = dnnl_post_ops_create(&po) == dnnl_success;
  if (ok && k->alpha != 1.0f)
    ok = dnnl_primitive_attr_set_output_scales(attr, 1, 0, &k->alpha) == dnnl_success;
  if (ok && k->beta != 0.0f) /* dst = beta·dst + result */
    ok = dnnl_post_ops_append_sum(po, k->beta) == dnnl_success;
  if (ok && k->act != NDE_ACT_IDENTITY)
    ok = eltwise_of(k->act, &alg, &ea, &eb) &&
         dnnl_post_ops_append_eltwise(po, 1.0f, alg, ea, eb) == dnnl_success;
  if (ok)
    ok = dnnl_primitive_attr_set_post_ops(attr, po) == dnnl_success;
  if (po)
    dnnl_post_ops_destroy(po);
  dnnl_primitive_desc_t pd = NULL;
  if (ok)
    ok = dnnl_primitive_desc_create(&pd, &desc, attr, c->engine, NULL) == dnnl_success;
  dnnl_primitive_attr_destroy(attr);
  if (!ok)
    return;
  dnnl_primitive_t prim = NULL;
  ok = dnnl_primitive_create(&prim, pd) == dnnl_success;
  dnnl_primitive_desc_destroy(pd);
  if (!ok)
    return;
  /* memory objects without data yet: every call sets the caller's arrays */
  if (dnnl_memory_create(&s->src, &src, c->engine, DNNL_MEMORY_NONE) != dnnl_success ||
      dnnl_memory_create(&s->wei, &wei, c->engine, DNNL_MEMORY_NONE) != dnnl_success ||
      dnnl_memory_create(&s->dst, &dst, c->engine, DNNL_MEMORY_NONE) != dnnl_success ||
      (k->bias && dnnl_memory_create(&s->bias, &bias, c->engine, DNNL_MEMORY_NONE) != dnnl_success)) {
    s->prim = prim; /* slot_clear destroys what was made */
    slot_clear(s);
    s->key = *k;
    s->used = 1;
    return;
  }
  s->prim = prim;
}

static slot *lookup(cpu_matmul_cache *c, const key *k) {
  for (int i = 0; i < CACHE_SLOTS; ++i)
    if (c->slots[i].used && !memcmp(&c->slots[i].key, k, sizeof *k))
      return &c->slots[i];
  slot *s = &c->slots[c->next];
  c->next = (c->next + 1) % CACHE_SLOTS;
  slot_clear(s);
  slot_build(c, s, k);
  return s;
}

int cpu_matmul_f32(cpu_matmul_cache *cache, int ta, int tb, size_t m, size_t n, size_t k,
                   float alpha, const float *a, size_t lda, const float *b, size_t ldb, float beta,
                   float *c, size_t ldc, const float *bias, nde_activation act) {
  key kk;
  memset(&kk, 0, sizeof kk); /* compared with memcmp: no stray padding bytes */
  kk.ta = ta != 0;
  kk.tb = tb != 0;
  kk.bias = bias != NULL;
  kk.act = act;
  kk.m = m;
  kk.n = n;
  kk.k = k;
  kk.lda = lda;
  kk.ldb = ldb;
  kk.ldc = ldc;
  kk.alpha = alpha;
  kk.beta = beta;
  pthread_mutex_lock(&cache->lock);
  slot *s = lookup(cache, &kk);
  int rc = -1;
  if (s->prim) {
    dnnl_exec_arg_t args[4] = {{DNNL_ARG_SRC, s->src},
                               {DNNL_ARG_WEIGHTS, s->wei},
                               {DNNL_ARG_DST, s->dst},
                               {DNNL_ARG_BIAS, s->bias}};
    if (dnnl_memory_set_data_handle_v2(s->src, (void *)b, cache->stream) == dnnl_success &&
        dnnl_memory_set_data_handle_v2(s->wei, (void *)a, cache->stream) == dnnl_success &&
        dnnl_memory_set_data_handle_v2(s->dst, c, cache->stream) == dnnl_success &&
        (!bias ||
         dnnl_memory_set_data_handle_v2(s->bias, (void *)bias, cache->stream) == dnnl_success) &&
        dnnl_primitive_execute(s->prim, cache->stream, bias ? 4 : 3, args) == dnnl_success &&
        dnnl_stream_wait(cache->stream) == dnnl_success)
      rc = 0;
  }
  pthread_mutex_unlock(&cache->lock);
  return rc;
}
