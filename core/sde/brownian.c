/*
 * The virtual Brownian tree of nde/brownian.h: deterministic (seed, stream,
 * t) → (W(t), ∫W) by bisection with the exact (W, space-time Lévy area)
 * bridge, a cached descent path, and an exact bridge inside the leaves.
 */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <nde/brownian.h>
#include <nde/rng.h>

/* One level of the cached descent: node [a, b] (number id) and, per
 * component, W(a), Y(a) = ∫_{t0}^a W, the node's increment and area H. */
typedef struct level {
  double a, b;
  uint64_t id;
  double *wa, *ya, *dw, *hh;
} level;

/* Memo of a recent query result. */
typedef struct memo {
  int valid;
  double t;
  double *w, *y;
} memo;

struct nde_brownian {
  nde_brownian_config cfg;
  uint64_t base_stream; /* splitmix64(stream): component c uses base_stream + c */
  int cached;           /* number of valid levels (0 = none) */
  level *lv;            /* depth + 1 levels */
  memo memos[2];
  int next_memo;
  double *buf;
  /* stored mode: sorted points t[i] with W (dim) then Y (dim) in v[i] */
  size_t npts, cap;
  double *pt_t;
  double **pt_v;
  double *tmp; /* 2·dim scratch */
};

static uint64_t splitmix64(uint64_t x) {
  x += UINT64_C(0x9E3779B97F4A7C15);
  x = (x ^ (x >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
  x = (x ^ (x >> 27)) * UINT64_C(0x94D049BB133111EB);
  return x ^ (x >> 31);
}

/* The Philox stream of component @p c: its index in the whole path (see local_block). */
static uint64_t stream_of(const nde_brownian *b, size_t c) {
  size_t L = b->cfg.local_block;
  if (L)
    c = (c / L) * b->cfg.global_block + b->cfg.block_offset + c % L;
  return b->base_stream + c;
}

/*
 * Two independent N(0, 1) draws for key @p id and component c from ONE
 * Philox block (counter offset id of stream base_stream + c): Box–Muller with
 * both its cosine and sine branches. Half the generator work of drawing them
 * one block each.
 */
static void node_normals(const nde_brownian *b, uint64_t id, size_t c, double *z1, double *z2) {
  uint32_t blk[4];
  nde_philox_block(b->cfg.seed, stream_of(b, c), id, blk);
  double u1 = 1.0 - nde_u32x2_to_unit(blk[0], blk[1]); /* (0, 1]: log is finite */
  double u2 = nde_u32x2_to_unit(blk[2], blk[3]);
  double r = sqrt(-2.0 * log(u1)), th = 6.283185307179586476925286766559 * u2;
  *z1 = r * cos(th);
  *z2 = r * sin(th);
}

nde_status nde_brownian_create(const nde_brownian_config *config, nde_brownian **out) {
  *out = NULL;
  if (!(config->t1 > config->t0) || !isfinite(config->t0) || !isfinite(config->t1))
    return nde_error(NDE_EINVAL, "Brownian path: need finite t0 < t1, got [%g, %g]", config->t0,
                     config->t1);
  if (config->dim == 0)
    return nde_error(NDE_EINVAL, "Brownian path: dimension must be >= 1");
  int depth = config->depth ? config->depth : NDE_BROWNIAN_DEFAULT_DEPTH;
  if (depth < 1 || depth > 50)
    return nde_error(NDE_EINVAL, "Brownian path: depth must be in 1..50, got %d", depth);
  nde_brownian *b = calloc(1, sizeof *b);
  if (!b)
    return nde_error(NDE_ENOMEM, "out of memory");
  b->cfg = *config;
  b->cfg.depth = depth;
  b->cfg.levy_area = config->levy_area ? 1 : 0;
  b->cfg.stored = config->stored ? 1 : 0;
  b->base_stream = splitmix64(config->stream);
  size_t n = config->dim, levels = (size_t)depth + 1;
  b->lv = calloc(levels, sizeof *b->lv);
  b->buf = malloc((levels * 4 + 4) * n * sizeof(double));
  if (!b->lv || !b->buf) {
    nde_brownian_destroy(&b);
    return nde_error(NDE_ENOMEM, "Brownian path: out of memory for %zu components", n);
  }
  double *p = b->buf;
  for (size_t l = 0; l < levels; ++l) {
    b->lv[l].wa = p, p += n;
    b->lv[l].ya = p, p += n;
    b->lv[l].dw = p, p += n;
    b->lv[l].hh = p, p += n;
  }
  for (int m = 0; m < 2; ++m) {
    b->memos[m].w = p, p += n;
    b->memos[m].y = p, p += n;
  }
  /* the root: W(t0) = Y(t0) = 0, ΔW ~ N(0, T), H ~ N(0, T/12) */
  level *r = &b->lv[0];
  double T = config->t1 - config->t0;
  r->a = config->t0;
  r->b = config->t1;
  r->id = 1;
  for (size_t c = 0; c < n; ++c) {
    r->wa[c] = r->ya[c] = 0;
    double z1, z2;
    node_normals(b, 1, c, &z1, &z2);
    r->dw[c] = sqrt(T) * z1;
    r->hh[c] = b->cfg.levy_area ? sqrt(T / 12) * z2 : 0;
  }
  b->cached = 1;
  if (b->cfg.stored) {
    b->cap = 64;
    b->pt_t = malloc(b->cap * sizeof *b->pt_t);
    b->pt_v = malloc(b->cap * sizeof *b->pt_v);
    b->tmp = malloc(2 * n * sizeof *b->tmp);
    double *v0 = calloc(2 * n, sizeof *v0);
    if (!b->pt_t || !b->pt_v || !b->tmp || !v0) {
      free(v0);
      nde_brownian_destroy(&b);
      return nde_error(NDE_ENOMEM, "Brownian path: out of memory for %zu components", n);
    }
    b->pt_t[0] = config->t0;
    b->pt_v[0] = v0; /* W(t0) = Y(t0) = 0 */
    b->npts = 1;
  }
  *out = b;
  return NDE_OK;
}

void nde_brownian_destroy(nde_brownian **path) {
  if (!path || !*path)
    return;
  free((*path)->lv);
  free((*path)->buf);
  for (size_t i = 0; i < (*path)->npts; ++i)
    free((*path)->pt_v[i]);
  free((*path)->pt_t);
  free((*path)->pt_v);
  free((*path)->tmp);
  free(*path);
  *path = NULL;
}

const nde_brownian_config *nde_brownian_config_of(const nde_brownian *path) { return &path->cfg; }

/* Split level l's node at its midpoint into level l + 1 (the child containing t). */
static void descend(nde_brownian *b, int l, double t) {
  const level *p = &b->lv[l];
  level *q = &b->lv[l + 1];
  size_t n = b->cfg.dim;
  double h = p->b - p->a, m = p->a + 0.5 * h;
  int right = t > m;
  q->id = 2 * p->id + (uint64_t)right;
  q->a = right ? m : p->a;
  q->b = right ? p->b : m;
  double sh = sqrt(h), sh12 = sqrt(h / 12);
  for (size_t c = 0; c < n; ++c) {
    double wl, wr, hl = 0, hr = 0, z1, z2;
    node_normals(b, 2 * p->id, c, &z1, &z2);
    if (b->cfg.levy_area) {
      double a = 1.5 * p->hh[c] + 0.25 * sh * z1;
      double s = 2 * p->hh[c] - a;
      double d = sh12 * z2;
      wl = 0.5 * p->dw[c] + a;
      wr = 0.5 * p->dw[c] - a;
      hl = 0.5 * (s + d);
      hr = 0.5 * (s - d);
    } else {
      wl = 0.5 * p->dw[c] + 0.5 * sh * z1;
      wr = p->dw[c] - wl;
    }
    if (right) {
      q->wa[c] = p->wa[c] + wl;
      /* Y(m) = Y(a) + (h/2)·W(a) + I_L, I_L = (h/2)(W_L/2 + H_L) */
      q->ya[c] = p->ya[c] + 0.5 * h * p->wa[c] + 0.5 * h * (0.5 * wl + hl);
      q->dw[c] = wr;
      q->hh[c] = hr;
    } else {
      q->wa[c] = p->wa[c];
      q->ya[c] = p->ya[c];
      q->dw[c] = wl;
      q->hh[c] = hl;
    }
  }
}

/*
 * The exact bridge at t strictly inside an interval [a, b] (width h): with
 * h1 = t − a, h2 = b − t, the prior x = (W1, W2, J1, J2) has independent
 * components of variances (h1, h2, h1³/12, h2³/12) (J_k = h_k·H_k), and is
 * conditioned on the interval's ΔW = W1 + W2 and I = (h1/2 + h2)·W1 + (h2/2)·W2
 * + J1 + J2 by Matheron's rule: x = x0 + Σ Mᵀ (M Σ Mᵀ)⁻¹ (y − M x0), x0
 * drawn from the prior.
 */
static uint64_t time_key(double t, uint64_t salt) {
  uint64_t tbits;
  memcpy(&tbits, &t, sizeof tbits);
  /* a block of counters of its own for this (salt, t): the top bit keeps
   * it apart from the tree's offsets id < 2^52 */
  uint64_t key = splitmix64(tbits ^ splitmix64(salt));
  return (UINT64_C(1) << 63) | ((key >> 3) << 2);
}

/* The bridge at t ∈ (a, e) given W(a), Y(a) and the interval's ΔW and H (per component). */
static void bridge_at(const nde_brownian *b, double a, double e, const double *wa,
                      const double *ya, const double *dwv, const double *hhv, uint64_t off0,
                      double t, double *w, double *y) {
  size_t n = b->cfg.dim;
  double h = e - a, h1 = t - a, h2 = e - t;
  if (!b->cfg.levy_area) {
    double mean = h1 / h, sd = sqrt(h1 * h2 / h);
    for (size_t c = 0; c < n; ++c) {
      double z = nde_philox_normal(b->cfg.seed, stream_of(b, c), off0);
      w[c] = wa[c] + mean * dwv[c] + sd * z;
    }
    return;
  }
  double d[4] = {h1, h2, h1 * h1 * h1 / 12, h2 * h2 * h2 / 12};
  double m2[4] = {0.5 * h1 + h2, 0.5 * h2, 1, 1}; /* row 2 of M; row 1 is (1, 1, 0, 0) */
  double s11 = d[0] + d[1];
  double s12 = d[0] * m2[0] + d[1] * m2[1];
  double s22 = d[0] * m2[0] * m2[0] + d[1] * m2[1] * m2[1] + d[2] + d[3];
  double det = s11 * s22 - s12 * s12;
  double i11 = s22 / det, i12 = -s12 / det, i22 = s11 / det;
  /* K = Σ Mᵀ S⁻¹: rows for W1 and J1 only (what the answer needs) */
  double kw1 = d[0] * (1 * i11 + m2[0] * i12), kw2 = d[0] * (1 * i12 + m2[0] * i22);
  double kj1 = d[2] * (0 * i11 + m2[2] * i12), kj2 = d[2] * (0 * i12 + m2[2] * i22);
  for (size_t c = 0; c < n; ++c) {
    uint64_t st = stream_of(b, c);
    double x0[4];
    for (int j = 0; j < 4; ++j)
      x0[j] = sqrt(d[j]) * nde_philox_normal(b->cfg.seed, st, off0 + (uint64_t)j);
    double dw = dwv[c], I = h * (0.5 * dw + hhv[c]);
    double r1 = dw - (x0[0] + x0[1]);
    double r2 = I - (m2[0] * x0[0] + m2[1] * x0[1] + x0[2] + x0[3]);
    double w1 = x0[0] + kw1 * r1 + kw2 * r2;
    double j1 = x0[2] + kj1 * r1 + kj2 * r2;
    w[c] = wa[c] + w1;
    if (y)
      y[c] = ya[c] + h1 * wa[c] + 0.5 * h1 * w1 + j1;
  }
}

static void leaf_bridge(nde_brownian *b, const level *p, double t, double *w, double *y) {
  bridge_at(b, p->a, p->b, p->wa, p->ya, p->dw, p->hh, time_key(t, p->id), t, w, y);
}

static void copy_endpoint(const nde_brownian *b, const level *p, int at_b, double *w, double *y) {
  size_t n = b->cfg.dim;
  double h = p->b - p->a;
  for (size_t c = 0; c < n; ++c) {
    if (!at_b) {
      w[c] = p->wa[c];
      if (y)
        y[c] = p->ya[c];
    } else {
      w[c] = p->wa[c] + p->dw[c];
      if (y)
        y[c] = p->ya[c] + h * p->wa[c] + h * (0.5 * p->dw[c] + p->hh[c]);
    }
  }
}

/*
 * Every answer is computed along the unique root-to-node chain, so it does
 * not depend on the query history: a dyadic point is always resolved at the
 * level where it is a midpoint (as the right end of that node's left
 * child), and the cache is only entered at a node holding t strictly inside.
 */
static nde_status query_tree(nde_brownian *b, double t, double *w, double *y) {
  const level *root = &b->lv[0];
  if (t == root->a || t == root->b) {
    copy_endpoint(b, root, t == root->b, w, y);
    return NDE_OK;
  }
  int l = b->cached - 1;
  while (l > 0 && !(b->lv[l].a < t && t < b->lv[l].b))
    --l;
  for (;;) {
    const level *p = &b->lv[l];
    if (l == b->cfg.depth) {
      leaf_bridge(b, p, t, w, y);
      break;
    }
    double m = p->a + 0.5 * (p->b - p->a);
    descend(b, l, t);
    ++l;
    b->cached = l + 1;
    if (t == m) {
      copy_endpoint(b, &b->lv[l], 1, w, y);
      break;
    }
  }
  return NDE_OK;
}

/*
 * Stored mode: W and Y at every point drawn so far, sorted by time. A new
 * point after the last one is drawn from the exact law of the increment
 * (ΔW ~ N(0, h), H ~ N(0, h/12), independent; one Philox block per
 * component); a new point between two stored ones from the exact bridge
 * given both (bridge_at). Each draw is keyed by the new time and its left
 * neighbour, so a path is a fixed function of (seed, stream) and of the
 * order of first queries at new times.
 */
static nde_status query_stored(nde_brownian *b, double t, double *w, double *y) {
  size_t n = b->cfg.dim, lo = 0, hi = b->npts; /* last i with pt_t[i] <= t */
  while (hi - lo > 1) {
    size_t mid = lo + (hi - lo) / 2;
    if (b->pt_t[mid] <= t)
      lo = mid;
    else
      hi = mid;
  }
  const double *vl = b->pt_v[lo];
  if (b->pt_t[lo] == t) {
    memcpy(w, vl, n * sizeof *w);
    if (y)
      memcpy(y, vl + n, n * sizeof *y);
    return NDE_OK;
  }
  if (b->npts == b->cap) {
    size_t nc = 2 * b->cap;
    double *nt = realloc(b->pt_t, nc * sizeof *nt);
    if (nt)
      b->pt_t = nt;
    double **nv = realloc(b->pt_v, nc * sizeof *nv);
    if (nv)
      b->pt_v = nv;
    if (!nt || !nv)
      return nde_error(NDE_ENOMEM, "Brownian path: out of memory for stored points");
    b->cap = nc;
    vl = b->pt_v[lo];
  }
  double *v = malloc(2 * n * sizeof *v);
  if (!v)
    return nde_error(NDE_ENOMEM, "Brownian path: out of memory for stored points");
  double tl = b->pt_t[lo];
  uint64_t tlbits;
  memcpy(&tlbits, &tl, sizeof tlbits);
  uint64_t off0 = time_key(t, tlbits ^ UINT64_C(0x5851F42D4C957F2D));
  if (lo + 1 == b->npts) {
    double h = t - tl, sh = sqrt(h), sh12 = sqrt(h / 12);
    for (size_t c = 0; c < n; ++c) {
      uint32_t blk[4];
      nde_philox_block(b->cfg.seed, stream_of(b, c), off0, blk);
      double u1 = 1.0 - nde_u32x2_to_unit(blk[0], blk[1]);
      double u2 = nde_u32x2_to_unit(blk[2], blk[3]);
      double r = sqrt(-2.0 * log(u1)), th = 6.283185307179586476925286766559 * u2;
      double dw = sh * r * cos(th), hh = b->cfg.levy_area ? sh12 * r * sin(th) : 0;
      v[c] = vl[c] + dw;
      v[n + c] = vl[n + c] + h * vl[c] + h * (0.5 * dw + hh);
    }
  } else {
    const double *vr = b->pt_v[lo + 1];
    double tr = b->pt_t[lo + 1], h = tr - tl;
    double *dw = b->tmp, *hh = b->tmp + n;
    for (size_t c = 0; c < n; ++c) {
      dw[c] = vr[c] - vl[c];
      hh[c] = b->cfg.levy_area ? (vr[n + c] - vl[n + c] - h * vl[c]) / h - 0.5 * dw[c] : 0;
    }
    bridge_at(b, tl, tr, vl, vl + n, dw, hh, off0, t, v, b->cfg.levy_area ? v + n : NULL);
    if (!b->cfg.levy_area)
      for (size_t c = 0; c < n; ++c)
        v[n + c] = 0;
  }
  memmove(b->pt_t + lo + 2, b->pt_t + lo + 1, (b->npts - lo - 1) * sizeof *b->pt_t);
  memmove(b->pt_v + lo + 2, b->pt_v + lo + 1, (b->npts - lo - 1) * sizeof *b->pt_v);
  b->pt_t[lo + 1] = t;
  b->pt_v[lo + 1] = v;
  b->npts++;
  memcpy(w, v, n * sizeof *w);
  if (y)
    memcpy(y, v + n, n * sizeof *y);
  return NDE_OK;
}

nde_status nde_brownian_query(nde_brownian *b, double t, double *w, double *y) {
  double t0 = b->cfg.t0, t1 = b->cfg.t1, slack = 1e-12 * (t1 - t0);
  if (!(t >= t0 - slack && t <= t1 + slack))
    return nde_error(NDE_EINVAL, "Brownian path: time %.17g outside [%g, %g]", t, t0, t1);
  if (y && !b->cfg.levy_area)
    return nde_error(NDE_EINVAL, "Brownian path: created without Levy area, cannot give ∫W");
  t = t < t0 ? t0 : t > t1 ? t1 : t;
  size_t n = b->cfg.dim;
  for (int m = 0; m < 2; ++m) {
    memo *mm = &b->memos[m];
    if (mm->valid && mm->t == t) {
      memcpy(w, mm->w, n * sizeof *w);
      if (y)
        memcpy(y, mm->y, n * sizeof *y);
      return NDE_OK;
    }
  }
  memo *mm = &b->memos[b->next_memo];
  b->next_memo ^= 1;
  mm->valid = 0;
  if (b->cfg.stored)
    NDE_TRY(query_stored(b, t, mm->w, b->cfg.levy_area ? mm->y : NULL));
  else
    NDE_TRY(query_tree(b, t, mm->w, b->cfg.levy_area ? mm->y : NULL));
  mm->t = t;
  mm->valid = 1;
  memcpy(w, mm->w, n * sizeof *w);
  if (y)
    memcpy(y, mm->y, n * sizeof *y);
  return NDE_OK;
}

nde_status nde_brownian_increment(nde_brownian *b, double s, double t, double *dw, double *dz) {
  if (!(t > s))
    return nde_error(NDE_EINVAL, "Brownian increment: need s < t, got [%.17g, %.17g]", s, t);
  if (dz && !b->cfg.levy_area)
    return nde_error(NDE_EINVAL, "Brownian path: created without Levy area, cannot give dZ");
  size_t n = b->cfg.dim;
  double *ws = malloc(4 * n * sizeof(double));
  if (!ws)
    return nde_error(NDE_ENOMEM, "out of memory");
  double *ys = ws + n, *wt = ws + 2 * n, *yt = ws + 3 * n;
  int la = b->cfg.levy_area;
  nde_status st = nde_brownian_query(b, s, ws, la ? ys : NULL);
  if (st == NDE_OK)
    st = nde_brownian_query(b, t, wt, la ? yt : NULL);
  if (st == NDE_OK) {
    double h = t - s, r3 = sqrt(3.0);
    for (size_t c = 0; c < n; ++c) {
      dw[c] = wt[c] - ws[c];
      if (dz) {
        double i10 = yt[c] - ys[c] - h * ws[c];
        dz[c] = r3 * (2 * i10 / h - dw[c]);
      }
    }
  }
  free(ws);
  return st;
}
