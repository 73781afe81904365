/* `nde gradcheck PIPELINE.json`: the loss gradient against central finite differences. */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <nde/train.h>

#include "cli.h"

/* Default --tol: finite differences of error-estimate terms at tight solver tolerances are
   noisy to about 1e-3 (docs/neural-ode.md); a wrong gradient is off by far more. */
#define GRADCHECK_DEFAULT_TOL 1e-2

static int gradcheck_help(void) {
  printf("Usage: nde gradcheck PIPELINE.json [--set PATH=VALUE]... [--params N] [--eps E]\n"
         "                     [--seed S] [--tol T] [--json]\n"
         "\n"
         "On one batch (the first data.batch_size training samples), compare the\n"
         "pipeline's loss gradient (through its sensitivity plugins, regularizers\n"
         "included) with central finite differences, in float64, on a seeded random\n"
         "subset of parameters. Solver step sequences are frozen: the gradient pass\n"
         "records them and every finite-difference evaluation replays them.\n"
         "\n"
         "  --params N   parameters to check (default 20)\n"
         "  --eps E      relative finite-difference step (default 1e-3)\n"
         "  --seed S     seed of the parameter subset (default 0)\n"
         "  --tol T      the check passes when max_rel_error <= T (default %g)\n"
         "  --json       print {\"sensitivity\", \"checked\", \"max_rel_error\",\n"
         "               \"max_abs_error\", \"loss\", \"tol\", \"ok\"}\n"
         "\n"
         "Prints PASS or FAIL; exit status 0 when the gradient passes, 1 when it\n"
         "fails (or the error is not a number), 2 on bad input.\n",
         GRADCHECK_DEFAULT_TOL);
  return NDE_EXIT_OK;
}

/* The sensitivity of the first neural_ode or neural_sde in the model (NULL without one). */
static const char *find_sensitivity(const json_t *v) {
  if (json_is_object(v)) {
    const json_t *layer = json_object_get(v, "layer");
    if (json_is_string(layer) && (!strcmp(json_string_value(layer), "neural_ode") ||
                                  !strcmp(json_string_value(layer), "neural_sde"))) {
      const json_t *s = json_object_get(v, "sensitivity");
      if (json_is_string(s))
        return json_string_value(s);
      if (json_is_object(s) && json_is_string(json_object_get(s, "plugin")))
        return json_string_value(json_object_get(s, "plugin"));
      return "direct";
    }
    const char *key;
    json_t *child;
    json_object_foreach((json_t *)v, key, child) {
      const char *r = find_sensitivity(child);
      if (r)
        return r;
    }
  } else if (json_is_array(v)) {
    for (size_t i = 0; i < json_array_size(v); ++i) {
      const char *r = find_sensitivity(json_array_get(v, i));
      if (r)
        return r;
    }
  }
  return NULL;
}

int nde_cmd_gradcheck(nde_cli *cli, int argc, char **argv) {
  const char *file = NULL;
  const char **sets = calloc((size_t)argc, sizeof *sets);
  size_t n_sets = 0;
  int json = 0;
  double tol = GRADCHECK_DEFAULT_TOL;
  nde_gradcheck_options o = {0};
  if (!sets)
    return NDE_EXIT_INTERNAL;
  int code = NDE_EXIT_OK;
  for (int i = 1; i < argc && code == NDE_EXIT_OK; ++i) {
    const char *s = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(s, "-h") || !strcmp(s, "--help")) {
      free(sets);
      return gradcheck_help();
    } else if (!strcmp(s, "--json"))
      json = 1;
    else if (!strcmp(s, "--set") && v) {
      sets[n_sets++] = v;
      ++i;
    } else if (!strncmp(s, "--set=", 6))
      sets[n_sets++] = s + 6;
    else if (!strcmp(s, "--params") && v) {
      char *end;
      long n = strtol(v, &end, 10);
      if (*end || n < 1)
        code = nde_cli_usage_error("--params: expected a positive integer, got '%s'", v);
      o.n_check = (size_t)n;
      ++i;
    } else if (!strcmp(s, "--eps") && v) {
      char *end;
      o.eps = strtod(v, &end);
      if (*end || !(o.eps > 0))
        code = nde_cli_usage_error("--eps: expected a positive number, got '%s'", v);
      ++i;
    } else if (!strcmp(s, "--tol") && v) {
      char *end;
      tol = strtod(v, &end);
      if (*end || !(tol > 0) || !isfinite(tol))
        code = nde_cli_usage_error("--tol: expected a positive number, got '%s'", v);
      ++i;
    } else if (!strcmp(s, "--seed") && v) {
      char *end;
      errno = 0;
      o.seed = strtoull(v, &end, 10);
      if (*v < '0' || *v > '9' || *end || errno)
        code = nde_cli_usage_error("--seed: expected a non-negative integer, got '%s'", v);
      ++i;
    } else if (s[0] == '-' && s[1])
      code = nde_cli_usage_error("gradcheck: unknown or incomplete option '%s' (see 'nde "
                                 "gradcheck --help')", s);
    else if (!file)
      file = s;
    else
      code = nde_cli_usage_error("gradcheck: one pipeline file only ('%s' is extra)", s);
  }
  if (code == NDE_EXIT_OK && !file)
    code = nde_cli_usage_error("gradcheck: needs a PIPELINE.json (see 'nde gradcheck --help')");
  if (code != NDE_EXIT_OK) {
    free(sets);
    return code;
  }
  nde_pipeline *p;
  nde_status st = nde_pipeline_load(cli->registry, file, sets, n_sets, &p);
  free(sets);
  if (st != NDE_OK)
    return nde_cli_fail(st);
  nde_gradcheck_result r;
  st = nde_gradcheck(p, &o, &r);
  int ok = 0;
  if (st == NDE_OK) {
    ok = r.max_rel_error <= tol; /* NaN fails */
    json_t *root = json_loads(nde_pipeline_json(p), 0, NULL);
    const char *sens = root ? find_sensitivity(json_object_get(root, "model")) : NULL;
    if (json) {
      json_t *out = json_object();
      json_object_set_new(out, "sensitivity", sens ? json_string(sens) : json_null());
      json_object_set_new(out, "checked", json_integer((json_int_t)r.checked));
      json_object_set_new(out, "max_rel_error",
                          isfinite(r.max_rel_error) ? json_real(r.max_rel_error) : json_null());
      json_object_set_new(out, "max_abs_error",
                          isfinite(r.max_abs_error) ? json_real(r.max_abs_error) : json_null());
      json_object_set_new(out, "loss", isfinite(r.loss) ? json_real(r.loss) : json_null());
      json_object_set_new(out, "tol", json_real(tol));
      json_object_set_new(out, "ok", json_boolean(ok));
      nde_cli_print_json(out);
    } else
      printf("sensitivity %s  checked %zu  max_rel_error %.3g  max_abs_error %.3g  loss %.6g\n"
             "%s: max_rel_error %.3g %s tolerance %g\n",
             sens ? sens : "none", r.checked, r.max_rel_error, r.max_abs_error, r.loss,
             ok ? "PASS" : "FAIL", r.max_rel_error, ok ? "<=" : "exceeds", tol);
    json_decref(root);
  }
  nde_pipeline_destroy(&p);
  if (st != NDE_OK)
    return nde_cli_fail(st);
  return ok ? NDE_EXIT_OK : NDE_EXIT_INTERNAL;
}
