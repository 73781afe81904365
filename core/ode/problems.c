/*
 * The ODE problem library (nde/ode_problem.h): names, parameters, the
 * right-hand side over backend arrays, exact solutions. The right-hand
 * sides themselves are in problems_rhs.c.
 */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <nde/backend.h>
#include <nde/names.h>
#include <nde/ode_problem.h>

#include "../util/internal.h"
#include "problems_impl.h"

static const nde_problem_def *const defs[] = {
    &nde_problem_linear,  &nde_problem_exponential, &nde_problem_lotka_volterra,
    &nde_problem_lorenz,  &nde_problem_van_der_pol, &nde_problem_pleiades,
    &nde_problem_arenstorf, &nde_problem_rigid_body,
};
#define NDEFS (sizeof defs / sizeof defs[0])

size_t nde_ode_problem_count(void) { return NDEFS; }

const char *nde_ode_problem_name_at(size_t i) { return i < NDEFS ? defs[i]->name : NULL; }

/* The linear problem's matrix: {"A": [[row], ...]} (square). */
static nde_status parse_matrix(const json_t *a, nde_ode_problem *p) {
  if (!json_is_array(a) || json_array_size(a) == 0)
    return nde_error(NDE_EINVAL, "A: expected a non-empty array of rows");
  size_t n = json_array_size(a);
  p->A = calloc(n * n, sizeof *p->A);
  if (!p->A)
    return nde_error(NDE_ENOMEM, "out of memory");
  for (size_t i = 0; i < n; ++i) {
    const json_t *row = json_array_get(a, i);
    if (!json_is_array(row) || json_array_size(row) != n)
      return nde_error(NDE_EINVAL, "A[%zu]: expected a row of %zu numbers (A must be square)", i,
                       n);
    for (size_t j = 0; j < n; ++j) {
      const json_t *x = json_array_get(row, j);
      if (!json_is_number(x) || !isfinite(json_number_value(x)))
        return nde_error(NDE_EINVAL, "A[%zu][%zu]: expected a finite number", i, j);
      p->A[i * n + j] = json_number_value(x);
    }
  }
  p->dim = n;
  return NDE_OK;
}

nde_status nde_ode_problem_create(const char *name, const nde_options *params,
                                  nde_ode_problem **out) {
  *out = NULL;
  const char *names[NDEFS];
  for (size_t i = 0; i < NDEFS; ++i)
    names[i] = defs[i]->name;
  int idx;
  nde_status st = nde_lookup_name("ODE problem", names, NDEFS, name, &idx);
  if (st != NDE_OK)
    return nde_error_prefix(NDE_ENOTFOUND, "problem");
  const nde_problem_def *d = defs[idx];
  nde_ode_problem *p = calloc(1, sizeof *p);
  if (!p)
    return nde_error(NDE_ENOMEM, "out of memory");
  p->def = d;
  p->dim = d->dim;
  for (int i = 0; i < d->nparams; ++i)
    p->param[i] = d->param_default[i];
  const json_t *obj = nde_options_json(params);
  const char *key;
  const json_t *val;
  if (obj && json_is_object(obj)) {
    json_object_foreach((json_t *)obj, key, val) {
      if (!strcmp(key, "name"))
        continue;
      if (d->has_matrix && !strcmp(key, "A")) {
        st = parse_matrix(val, p);
        if (st != NDE_OK)
          goto fail;
        continue;
      }
      int k;
      st = nde_lookup_name("parameter", d->param_names, (size_t)d->nparams, key, &k);
      if (st != NDE_OK)
        goto fail;
      if (!json_is_number(val) || !isfinite(json_number_value(val))) {
        st = nde_error(NDE_EINVAL, "%s: expected a finite number", key);
        goto fail;
      }
      p->param[k] = json_number_value(val);
    }
  }
  if (d->has_matrix && !p->A) {
    static const double A0[4] = {-0.5, 2.0, -2.0, -0.5};
    p->A = malloc(sizeof A0);
    if (!p->A) {
      st = nde_error(NDE_ENOMEM, "out of memory");
      goto fail;
    }
    memcpy(p->A, A0, sizeof A0);
    p->dim = 2;
  }
  p->host_u = calloc(p->dim, sizeof(double));
  p->host_du = calloc(p->dim, sizeof(double));
  if (!p->host_u || !p->host_du) {
    st = nde_error(NDE_ENOMEM, "out of memory");
    goto fail;
  }
  *out = p;
  return NDE_OK;
fail:
  nde_ode_problem_destroy(&p);
  return nde_error_prefix(st, "problem '%s'", d->name);
}

void nde_ode_problem_destroy(nde_ode_problem **pp) {
  if (!pp || !*pp)
    return;
  nde_ode_problem *p = *pp;
  free(p->A);
  free(p->host_u);
  free(p->host_du);
  free(p->conv);
  free(p);
  *pp = NULL;
}

const char *nde_ode_problem_name(const nde_ode_problem *p) { return p->def->name; }

size_t nde_ode_problem_dim(const nde_ode_problem *p) { return p->dim; }

void nde_ode_problem_defaults(const nde_ode_problem *p, double *u0, double tspan[2]) {
  if (u0) {
    if (p->def->has_matrix)
      for (size_t i = 0; i < p->dim; ++i)
        u0[i] = 1.0;
    else
      memcpy(u0, p->def->u0, p->dim * sizeof *u0);
  }
  if (tspan) {
    tspan[0] = p->def->tspan[0];
    tspan[1] = p->def->tspan[1];
  }
}

void nde_ode_problem_eval(const nde_ode_problem *p, double t, const double *u, double *du) {
  p->def->eval(p, t, u, du);
}

/* f over backend arrays: each group of dim elements is one system. */
static nde_status problem_rhs_eval(void *ctx, double t, const nde_array *u, nde_array *du) {
  nde_ode_problem *p = ctx;
  size_t dim = p->dim, n = u->size;
  /* one system in host doubles (the small benchmarks' case): no further checks per call */
  if (n == dim && u->dtype == NDE_FLOAT64 && (const void *)u->backend->ops == p->host_ops) {
    p->def->eval(p, t, u->data, du->data);
    return NDE_OK;
  }
  if (n % dim)
    return nde_error(NDE_EINVAL, "problem '%s': state has %zu elements, not a multiple of %zu",
                     p->def->name, n, dim);
  if (u->dtype == NDE_FLOAT64 && nde_backend_host_readable(u->backend)) {
    p->host_ops = u->backend->ops;
    const double *x = u->data;
    double *y = du->data;
    for (size_t c = 0; c < n; c += dim)
      p->def->eval(p, t, x + c, y + c);
    return NDE_OK;
  }
  if (p->nconv < n) {
    double *b = realloc(p->conv, 2 * n * sizeof *b);
    if (!b)
      return nde_error(NDE_ENOMEM, "out of memory");
    p->conv = b;
    p->nconv = n;
  }
  NDE_TRY(nde_array_to_doubles(u, p->conv, n));
  for (size_t c = 0; c < n; c += dim)
    p->def->eval(p, t, p->conv + c, p->conv + n + c);
  return nde_array_from_doubles(du, p->conv + n, n);
}

nde_ode_rhs nde_ode_problem_rhs(nde_ode_problem *p) {
  nde_ode_rhs f = {.eval = problem_rhs_eval, .vjp = NULL, .ctx = p};
  return f;
}

int nde_ode_problem_has_exact(const nde_ode_problem *p) { return p->def->exact != NULL; }

nde_status nde_ode_problem_exact(const nde_ode_problem *p, double t0, const double *u0, double t,
                                 double *u) {
  if (!p->def->exact)
    return nde_error(NDE_EUNSUPPORTED, "problem '%s' has no exact solution", p->def->name);
  return p->def->exact(p, t0, u0, t, u);
}
