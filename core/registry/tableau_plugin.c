/*
 * Data-only ode_solver plugins: an explicit Runge–Kutta method registered
 * as a Butcher tableau in its manifest, with no library. The manifest's
 * "tableau" object is checked when the manifest is read (shape, row sums,
 * weights, FSAL and the order conditions up to order 4), each problem named
 * by its JSON path; at load libnde builds an nde_ode_solver_ops around it
 * and the generic stepper (nde_rk_step) runs it like any tableau plugin.
 * docs/manifest.md describes the format.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nde/ode.h>

#include "registry_impl.h"
#include "tableau_plugin.h"

#define TOL 1e-12

static const char *const tableau_keys[] = {"c", "a", "b", "bhat", "order", "embedded_order",
                                           "fsal", "source"};
#define N_TABLEAU_KEYS (sizeof tableau_keys / sizeof tableau_keys[0])

#define refuse nde_manifest_refuse

/* A coefficient: a JSON number, or a string holding a decimal or a fraction "p/q". */
static int coefficient(const json_t *v, double *out) {
  if (json_is_number(v)) {
    *out = json_number_value(v);
    return isfinite(*out);
  }
  if (!json_is_string(v))
    return 0;
  const char *s = json_string_value(v);
  char *end;
  errno = 0;
  double p = strtod(s, &end);
  if (end == s || errno)
    return 0;
  if (*end == '/') {
    const char *q_text = end + 1;
    double q = strtod(q_text, &end);
    if (end == q_text || q == 0)
      return 0;
    p /= q;
  }
  *out = p;
  return *end == '\0' && isfinite(p);
}

/* The parsed tableau; arrays sized for NDE_TABLEAU_MAX_STAGES. */
typedef struct parsed {
  int s, order, embedded_order, fsal;
  double c[NDE_TABLEAU_MAX_STAGES], b[NDE_TABLEAU_MAX_STAGES], bhat[NDE_TABLEAU_MAX_STAGES];
  double a[NDE_TABLEAU_MAX_STAGES * NDE_TABLEAU_MAX_STAGES];
  int has_bhat;
} parsed;

static nde_status read_vector(const char *path, const json_t *tb, const char *key, int s,
                              double *out) {
  const json_t *v = json_object_get(tb, key);
  if (!json_is_array(v))
    return refuse(path, "tableau.%s must be an array of %d coefficients", key, s);
  if ((int)json_array_size(v) != s)
    return refuse(path, "tableau.%s has %zu entries, but c has %d stages", key,
                  json_array_size(v), s);
  for (int i = 0; i < s; ++i)
    if (!coefficient(json_array_get(v, (size_t)i), &out[i]))
      return refuse(path, "tableau.%s[%d] must be a finite number or a fraction string \"p/q\"",
                    key, i);
  return NDE_OK;
}

static nde_status read_int(const char *path, const json_t *tb, const char *key, int lo, int hi,
                           int *out) {
  const json_t *v = json_object_get(tb, key);
  if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
    return refuse(path, "tableau.%s must be an integer in [%d, %d]", key, lo, hi);
  *out = (int)json_integer_value(v);
  return NDE_OK;
}

/* Σ w_i g_i */
static double dot(const double *w, const double *g, int s) {
  double r = 0;
  for (int i = 0; i < s; ++i)
    r += w[i] * g[i];
  return r;
}

/* The conditions for order 1..4 of weights w (Butcher's trees up to four nodes). */
static nde_status order_conditions(const char *path, const parsed *t, const double *w,
                                   const char *wname, int order) {
  int s = t->s;
  double c2[NDE_TABLEAU_MAX_STAGES], c3[NDE_TABLEAU_MAX_STAGES], ac[NDE_TABLEAU_MAX_STAGES];
  double ac2[NDE_TABLEAU_MAX_STAGES], aac[NDE_TABLEAU_MAX_STAGES], cac[NDE_TABLEAU_MAX_STAGES];
  for (int i = 0; i < s; ++i) {
    c2[i] = t->c[i] * t->c[i];
    c3[i] = c2[i] * t->c[i];
    ac[i] = ac2[i] = 0;
    for (int j = 0; j < i; ++j) {
      ac[i] += t->a[i * s + j] * t->c[j];
      ac2[i] += t->a[i * s + j] * c2[j];
    }
    cac[i] = t->c[i] * ac[i];
  }
  for (int i = 0; i < s; ++i) {
    aac[i] = 0;
    for (int j = 0; j < i; ++j)
      aac[i] += t->a[i * s + j] * ac[j];
  }
  double ones[NDE_TABLEAU_MAX_STAGES];
  for (int i = 0; i < s; ++i)
    ones[i] = 1;
  static const struct {
    int order;
    const char *text;
    double want;
  } conds[] = {{1, "sum_i %s_i = 1", 1.0},
               {2, "sum_i %s_i c_i = 1/2", 1.0 / 2},
               {3, "sum_i %s_i c_i^2 = 1/3", 1.0 / 3},
               {3, "sum_ij %s_i a_ij c_j = 1/6", 1.0 / 6},
               {4, "sum_i %s_i c_i^3 = 1/4", 1.0 / 4},
               {4, "sum_ij %s_i c_i a_ij c_j = 1/8", 1.0 / 8},
               {4, "sum_ij %s_i a_ij c_j^2 = 1/12", 1.0 / 12},
               {4, "sum_ijk %s_i a_ij a_jk c_k = 1/24", 1.0 / 24}};
  const double *g[] = {ones, t->c, c2, ac, c3, cac, ac2, aac};
  for (size_t k = 0; k < sizeof conds / sizeof conds[0]; ++k) {
    if (conds[k].order > order)
      break;
    double got = dot(w, g[k], s);
    if (fabs(got - conds[k].want) > 1e-10) {
      char cond[64];
      snprintf(cond, sizeof cond, conds[k].text, wname);
      return refuse(path,
                    "tableau.%s: claims order %d, but the order condition %s fails (got %.17g)",
                    wname, order, cond, got);
    }
  }
  return NDE_OK;
}

static nde_status parse(const char *path, const json_t *tb, parsed *t) {
  if (!json_is_object(tb))
    return refuse(path, "tableau must be an object {c, a, b, order[, bhat, embedded_order, fsal]}");
  const char *key;
  json_t *value;
  json_object_foreach((json_t *)tb, key, value) {
    int known = 0;
    for (size_t i = 0; i < N_TABLEAU_KEYS; ++i)
      known |= !strcmp(key, tableau_keys[i]);
    if (!known)
      return refuse(path, "tableau.%s: unknown key (known: c, a, b, bhat, order, "
                    "embedded_order, fsal, source)", key);
  }
  const json_t *c = json_object_get(tb, "c");
  if (!json_is_array(c) || json_array_size(c) < 1 || json_array_size(c) > NDE_TABLEAU_MAX_STAGES)
    return refuse(path, "tableau.c must be an array of 1 to %d nodes", NDE_TABLEAU_MAX_STAGES);
  memset(t, 0, sizeof *t);
  t->s = (int)json_array_size(c);
  int s = t->s;
  NDE_TRY(read_vector(path, tb, "c", s, t->c));
  NDE_TRY(read_vector(path, tb, "b", s, t->b));
  const json_t *a = json_object_get(tb, "a");
  if (!json_is_array(a) || (int)json_array_size(a) != s)
    return refuse(path, "tableau.a must be an array of %d rows (one per stage)", s);
  for (int i = 0; i < s; ++i) {
    const json_t *row = json_array_get(a, (size_t)i);
    /* row i lists a_i0 .. a_i,i-1; trailing zeros (up to a full row) are allowed */
    if (!json_is_array(row) || (int)json_array_size(row) < i || (int)json_array_size(row) > s)
      return refuse(path, "tableau.a[%d] must be an array of %d (up to %d) coefficients", i, i,
                    s);
    for (int j = 0; j < (int)json_array_size(row); ++j) {
      double x;
      if (!coefficient(json_array_get(row, (size_t)j), &x))
        return refuse(path, "tableau.a[%d][%d] must be a finite number or a fraction \"p/q\"",
                      i, j);
      if (j >= i && x != 0)
        return refuse(path, "tableau.a[%d][%d] is %g: an explicit method has a_ij = 0 for j >= i",
                      i, j, x);
      t->a[i * s + j] = x;
    }
  }
  NDE_TRY(read_int(path, tb, "order", 1, 20, &t->order));
  t->has_bhat = json_object_get(tb, "bhat") != NULL;
  if (t->has_bhat) {
    NDE_TRY(read_vector(path, tb, "bhat", s, t->bhat));
    NDE_TRY(read_int(path, tb, "embedded_order", 1, t->order, &t->embedded_order));
  } else if (json_object_get(tb, "embedded_order"))
    return refuse(path, "tableau.embedded_order given without the embedded weights tableau.bhat");
  const json_t *fsal = json_object_get(tb, "fsal");
  if (fsal && !json_is_boolean(fsal))
    return refuse(path, "tableau.fsal must be true or false");
  t->fsal = json_is_true(fsal);
  const json_t *source = json_object_get(tb, "source");
  if (source && !json_is_string(source))
    return refuse(path, "tableau.source must be a string (where the coefficients come from)");

  /* consistency: c_1 = 0, row sums of a equal c, weights sum to 1, FSAL, order conditions */
  if (t->c[0] != 0)
    return refuse(path, "tableau.c[0] is %g; an explicit method starts at c_1 = 0", t->c[0]);
  for (int i = 0; i < s; ++i) {
    double row = 0;
    for (int j = 0; j < i; ++j)
      row += t->a[i * s + j];
    if (fabs(row - t->c[i]) > TOL)
      return refuse(path, "tableau.a[%d]: the row sums to %.17g, but tableau.c[%d] is %.17g", i,
                    row, i, t->c[i]);
  }
  double sb = 0, sh = 0;
  for (int i = 0; i < s; ++i) {
    sb += t->b[i];
    sh += t->bhat[i];
  }
  if (fabs(sb - 1) > TOL)
    return refuse(path, "tableau.b: the weights sum to %.17g, not 1", sb);
  if (t->has_bhat && fabs(sh - 1) > TOL)
    return refuse(path, "tableau.bhat: the embedded weights sum to %.17g, not 1", sh);
  if (t->fsal) {
    if (s < 2 || t->c[s - 1] != 1)
      return refuse(path, "tableau.fsal: FSAL needs the last node c[%d] = 1", s - 1);
    for (int j = 0; j < s; ++j)
      if (fabs(t->a[(s - 1) * s + j] - t->b[j]) > TOL)
        return refuse(path, "tableau.fsal: FSAL needs the last row a[%d] to equal b", s - 1);
  }
  NDE_TRY(order_conditions(path, t, t->b, "b", t->order < 4 ? t->order : 4));
  if (t->has_bhat)
    NDE_TRY(order_conditions(path, t, t->bhat, "bhat",
                             t->embedded_order < 4 ? t->embedded_order : 4));
  return NDE_OK;
}

nde_status nde_tableau_manifest_check(const char *path, const json_t *tableau) {
  parsed t;
  return parse(path, tableau, &t);
}

/* The capabilities a tableau implies (what a manifest would otherwise have to repeat). */
nde_status nde_tableau_capabilities(const json_t *tableau, json_t *caps) {
  parsed t;
  NDE_TRY(parse("tableau", tableau, &t));
  json_t *implied = json_pack("{s:i, s:i, s:b, s:b, s:b, s:i, s:s, s:b, s:b, s:[s]}", "order",
                              t.order, "embedded_order", t.embedded_order, "adaptive",
                              t.has_bhat, "error_estimate", t.has_bhat, "fsal", t.fsal, "stages",
                              t.s, "dense_output", "hermite", "stiffness_estimate", 0,
                              "reverse_step", 1, "devices", "cpu");
  if (!implied)
    return nde_error(NDE_ENOMEM, "out of memory");
  /* claims the manifest makes itself stay (and are checked at load) */
  int rc = json_object_update_missing(caps, implied);
  json_decref(implied);
  return rc ? nde_error(NDE_ENOMEM, "out of memory") : NDE_OK;
}

/* The vtable, the tableau and its arrays in one allocation (freed with free()). */
typedef struct tableau_plugin {
  nde_ode_solver_ops ops;
  nde_rk_tableau tableau;
  double c[NDE_TABLEAU_MAX_STAGES], b[NDE_TABLEAU_MAX_STAGES], btilde[NDE_TABLEAU_MAX_STAGES];
  double a[NDE_TABLEAU_MAX_STAGES * NDE_TABLEAU_MAX_STAGES];
} tableau_plugin;

nde_status nde_tableau_plugin_build(const char *manifest_path, const char *name,
                                    const json_t *tableau, void **vtable) {
  *vtable = NULL;
  parsed t;
  NDE_TRY(parse(manifest_path, tableau, &t));
  tableau_plugin *tp = calloc(1, sizeof *tp);
  if (!tp)
    return nde_error(NDE_ENOMEM, "out of memory");
  int s = t.s;
  for (int i = 0; i < s; ++i) {
    tp->c[i] = t.c[i];
    tp->b[i] = t.b[i];
    tp->btilde[i] = t.b[i] - t.bhat[i];
    for (int j = 0; j < s; ++j)
      tp->a[i * s + j] = t.a[i * s + j];
  }
  tp->tableau = (nde_rk_tableau){.stages = s,
                                 .order = t.order,
                                 .embedded_order = t.embedded_order,
                                 .fsal = t.fsal,
                                 .c = tp->c,
                                 .a = tp->a,
                                 .b = tp->b,
                                 .btilde = t.has_bhat ? tp->btilde : NULL};
  tp->ops = (nde_ode_solver_ops){
      .header = {NDE_ABI_VERSION, (uint32_t)sizeof(nde_ode_solver_ops), NDE_KIND_ODE_SOLVER, name},
      .tableau = &tp->tableau,
      .order = t.order,
      .error_order = t.embedded_order,
      .stages = s};
  *vtable = tp; /* ops is the first member */
  return NDE_OK;
}
