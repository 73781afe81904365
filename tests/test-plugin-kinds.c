/*
 * Kind descriptors (core/registry/plugin_kind.c): a kind's common options live once
 * in libnde and every manifest inherits them (overriding only what is its
 * own); the default tolerances the solvers use are those options' defaults;
 * capabilities a manifest claims are checked against the library's vtable
 * at load; shipped manifests claim only devices a shipped backend provides.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "copy_file.h"

#include <nde/nde.h>

static char dir[256];

static const char *builddir(void) {
  return getenv("NDE_TEST_BUILDDIR") ? getenv("NDE_TEST_BUILDDIR") : NDE_TEST_BUILDDIR;
}

static void make_dir(void) {
  snprintf(dir, sizeof dir, "%s/nde-kinds-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
  cr_assert_not_null(mkdtemp(dir));
}

static void remove_dir(void) {
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  cr_expect_eq(system(cmd), 0);
}

/* Copy a staged plugin library (a real file, not a link) into the temporary folder. */
static void copy_library(const char *file) {
  char src[512], dst[512];
  snprintf(src, sizeof src, "%s/_plugins/%s", builddir(), file);
  snprintf(dst, sizeof dst, "%s/%s", dir, file);
  cr_assert_eq(test_copy_file(src, dst), 0, "cannot copy %s", src);
}

static void write_manifest(const char *name, const char *kind, const char *caps,
                           const char *options) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s.json", dir, name);
  FILE *f = fopen(path, "w");
  cr_assert_not_null(f);
  fprintf(f,
          "{\"nde_manifest\": 1, \"name\": \"%s\", \"kind\": \"%s\", \"version\": \"0.0.1\", "
          "\"abi\": 1, \"library\": \"%s_%s.so\", \"entry\": \"nde_plugin_%s_%s\", "
          "\"summary\": \"test\", \"capabilities\": %s, \"options\": %s}\n",
          name, kind, kind, name, kind, name, caps, options);
  fclose(f);
}

static nde_registry *scan_dir(void) {
  nde_registry *r = NULL;
  cr_assert_eq(nde_registry_create(&r), NDE_OK);
  cr_assert_eq(nde_registry_add_dir(r, dir), NDE_OK);
  cr_assert_eq(nde_registry_scan(r), NDE_OK);
  return r;
}

static const char *problem(const nde_registry *r, const char *file) {
  for (size_t i = 0; i < nde_registry_problem_count(r); ++i)
    if (strstr(nde_registry_problem_path(r, i), file))
      return nde_registry_problem_message(r, i);
  return NULL;
}

static double spec_default(const nde_plugin *p, const char *option) {
  const nde_options *spec = nde_options_object(nde_plugin_option_specs(p), option);
  cr_assert_not_null(spec, "no option %s", option);
  return nde_options_number(spec, "default", -12345);
}

static size_t count_options(const nde_plugin *p) {
  return nde_options_count(nde_plugin_option_specs(p));
}

static int file_mentions(const char *path, const char *word) {
  FILE *f = fopen(path, "r");
  cr_assert_not_null(f, "%s", path);
  char buf[16384];
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = 0;
  return strstr(buf, word) != NULL;
}

Test(kinds, common_options_are_inherited_once) {
  const nde_plugin *tsit5, *dopri5, *euler;
  cr_assert_eq(nde_registry_find(NULL, NDE_KIND_ODE_SOLVER, "tsit5", &tsit5), NDE_OK, "%s",
               nde_last_error());
  cr_assert_eq(nde_registry_find(NULL, NDE_KIND_ODE_SOLVER, "dopri5", &dopri5), NDE_OK);
  cr_assert_eq(nde_registry_find(NULL, NDE_KIND_ODE_SOLVER, "euler", &euler), NDE_OK);
  /* the manifests on disk do not repeat the integrator's options ... */
  cr_expect(!file_mentions(nde_plugin_manifest_path(tsit5), "abstol"));
  cr_expect(!file_mentions(nde_plugin_manifest_path(dopri5), "reltol"));
  /* ... but each plugin has the full list, with its own overrides */
  cr_expect_geq(count_options(tsit5), 18);
  cr_expect_eq(count_options(tsit5), count_options(dopri5));
  cr_expect_float_eq(spec_default(tsit5, "abstol"), 1e-6, 1e-20);
  cr_expect_float_eq(spec_default(dopri5, "abstol"), 1e-6, 1e-20);
  cr_expect_float_eq(spec_default(dopri5, "beta1"), 0.17, 1e-15);
  cr_expect_float_eq(spec_default(tsit5, "beta1"), 0.17, 1e-15);
  /* a solver without an override keeps the kind's default (0: from the order) */
  const nde_plugin *bs3;
  cr_assert_eq(nde_registry_find(NULL, NDE_KIND_ODE_SOLVER, "bs3", &bs3), NDE_OK);
  cr_expect_float_eq(spec_default(bs3, "beta1"), 0.0, 1e-15);
  nde_options *o = NULL;
  cr_assert_eq(nde_plugin_options(euler, NULL, "solver", &o), NDE_OK);
  cr_expect_eq(nde_options_bool(o, "adaptive", 1), 0, "euler overrides adaptive's default");
  cr_expect_float_eq(nde_options_number(o, "reltol", 0), 1e-3, 1e-18);
  nde_options_destroy(&o);
  /* nde plugin NAME --json prints the merged list */
  char *json = nde_plugin_manifest_json(dopri5);
  cr_assert_not_null(json);
  cr_expect(strstr(json, "\"abstol\"") && strstr(json, "\"qoldinit\""), "%s", json);
  free(json);
}

/* The solvers' built-in defaults are the kind's option defaults, not a second copy. */
Test(kinds, default_tolerances_are_stated_once) {
  const nde_plugin *tsit5, *sri;
  cr_assert_eq(nde_registry_find(NULL, NDE_KIND_ODE_SOLVER, "tsit5", &tsit5), NDE_OK);
  cr_assert_eq(nde_registry_find(NULL, NDE_KIND_SDE_SOLVER, "sri_w1", &sri), NDE_OK);
  nde_ode_options ode;
  nde_ode_options_default(5, &ode);
  cr_expect_eq(ode.abstol, spec_default(tsit5, "abstol"));
  cr_expect_eq(ode.reltol, spec_default(tsit5, "reltol"));
  cr_expect_eq((double)ode.maxiters, spec_default(tsit5, "maxiters"));
  nde_sde_options sde;
  nde_sde_options_default(1.5, &sde);
  cr_expect_eq(sde.abstol, spec_default(sri, "abstol"));
  cr_expect_eq(sde.reltol, spec_default(sri, "reltol"));
  cr_expect_eq(sde.delta, spec_default(sri, "delta"));
}

Test(kinds, overrides_are_checked) {
  make_dir();
  copy_library("ode_solver_heun.so");
  write_manifest("heun", "ode_solver", "{}",
                 "{\"abstol\": {\"type\": \"string\", \"default\": \"tight\"}}");
  nde_registry *r = scan_dir();
  const char *why = problem(r, "heun.json");
  cr_assert_not_null(why);
  cr_expect(strstr(why, "options.abstol.type") && strstr(why, "not its type"), "%s", why);
  nde_registry_destroy(&r);

  write_manifest("heun", "ode_solver", "{}", "{\"extra\": {\"default\": 1}}");
  r = scan_dir();
  why = problem(r, "heun.json");
  cr_assert_not_null(why);
  cr_expect(strstr(why, "options.extra: missing string field 'type'"), "%s", why);
  nde_registry_destroy(&r);

  write_manifest("heun", "ode_solver", "{}", "{\"reltol\": {\"default\": -1}}");
  r = scan_dir();
  cr_expect_null(problem(r, "heun.json"), "a default outside the range is the plugin's choice");
  nde_registry_destroy(&r);
  remove_dir();
}

/* A claim the library cannot back makes the plugin broken, naming the claim. */
static void expect_refused_claim(const char *name, const char *kind, const char *caps,
                                 const char *want) {
  char lib[128];
  snprintf(lib, sizeof lib, "%s_%s.so", kind, name);
  copy_library(lib);
  write_manifest(name, kind, caps, "{}");
  nde_registry *r = scan_dir();
  nde_plugin_kind k;
  cr_assert_eq(nde_plugin_kind_parse(kind, &k), NDE_OK);
  const void *vt;
  cr_expect_eq(nde_registry_load(r, k, name, &vt), NDE_EPLUGIN, "%s %s loaded", name, caps);
  cr_expect(strstr(nde_last_error(), want) != NULL, "want '%s' in: %s", want, nde_last_error());
  nde_registry_destroy(&r);
}

Test(kinds, capabilities_are_checked_against_the_vtable) {
  make_dir();
  expect_refused_claim("tsit5", "ode_solver", "{\"order\": 4}",
                       "'tsit5': manifest capabilities.order: is 4, but the library's is 5");
  expect_refused_claim("heun", "ode_solver", "{\"dense_output\": \"order 3\"}",
                       "capabilities.dense_output");
  { /* euler is a tableau without embedded weights: claiming adaptive is refused the same way */
  char path[512];
  snprintf(path, sizeof path, "%s/euler.json", dir);
  FILE *f = fopen(path, "w");
  cr_assert_not_null(f);
  fputs("{\"nde_manifest\": 1, \"name\": \"euler\", \"kind\": \"ode_solver\", \"version\": "
        "\"0.0.1\", \"abi\": 1, \"summary\": \"test\", \"tableau\": {\"c\": [0], \"a\": [[]], "
        "\"b\": [1], \"order\": 1}, \"capabilities\": {\"adaptive\": true}, \"options\": {}}\n",
        f);
  fclose(f);
  nde_registry *r = scan_dir();
  const void *vt;
  cr_expect_eq(nde_registry_load(r, NDE_KIND_ODE_SOLVER, "euler", &vt), NDE_EPLUGIN,
               "a tableau without bhat claiming adaptive loaded");
  cr_expect(strstr(nde_last_error(), "capabilities.adaptive: is true") != NULL, "%s",
            nde_last_error());
  nde_registry_destroy(&r);
  }
  expect_refused_claim("heun", "ode_solver", "{\"stiffness_estimate\": true}",
                       "capabilities.stiffness_estimate");
  expect_refused_claim("euler_maruyama", "sde_solver", "{\"strong_order\": 1.5}",
                       "capabilities.strong_order: is 1.5, but the library's is 0.5");
  expect_refused_claim("quadrature_adjoint", "sensitivity", "{\"problems\": [\"ode\", \"sde\"]}",
                       "lists \"sde\", but the library does not");
  expect_refused_claim("interpolating_adjoint", "sensitivity", "{\"step_estimates\": true}",
                       "capabilities.step_estimates");
  /* honest claims load */
  copy_library("ode_solver_tsit5.so");
  write_manifest("tsit5", "ode_solver",
                 "{\"order\": 5, \"embedded_order\": 4, \"fsal\": true, \"stages\": 7, "
                 "\"dense_output\": \"order 4\", \"stiffness_estimate\": true, "
                 "\"reverse_step\": true}",
                 "{}");
  nde_registry *r = scan_dir();
  const void *vt;
  cr_expect_eq(nde_registry_load(r, NDE_KIND_ODE_SOLVER, "tsit5", &vt), NDE_OK, "%s",
               nde_last_error());
  nde_registry_destroy(&r);
  remove_dir();
}

/* The devices a plugin's manifest claims, as a JSON array (new reference; NULL if none). */
static json_t *claimed_devices(const nde_plugin *p) {
  char *text = nde_options_to_json(nde_plugin_capabilities(p));
  json_t *caps = text ? json_loads(text, 0, NULL) : NULL;
  free(text);
  json_t *devices = json_incref(json_object_get(caps, "devices"));
  json_decref(caps);
  return devices;
}

/* Every device a shipped plugin claims is provided by a shipped backend (no "cuda" without one). */
Test(kinds, shipped_plugins_claim_only_provided_devices) {
  nde_registry *r = nde_registry_default();
  cr_assert_not_null(r);
  cr_assert_gt(nde_registry_count(r), 0, "no plugins on NDE_PLUGIN_PATH");
  json_t *provided = json_array();
  for (size_t i = 0; i < nde_registry_count(r); ++i) {
    const nde_plugin *p = nde_registry_at(r, i);
    json_t *devices = claimed_devices(p);
    if (nde_plugin_kind_of(p) == NDE_KIND_BACKEND && devices)
      json_array_extend(provided, devices);
    json_decref(devices);
  }
  cr_expect_gt(json_array_size(provided), 0);
  size_t checked = 0;
  for (size_t i = 0; i < nde_registry_count(r); ++i) {
    const nde_plugin *p = nde_registry_at(r, i);
    json_t *devices = claimed_devices(p);
    size_t k;
    json_t *d;
    json_array_foreach(devices, k, d) {
      int found = 0;
      size_t m;
      json_t *e;
      json_array_foreach(provided, m, e) { found |= json_equal(d, e); }
      cr_expect(found, "%s claims device %s, which no backend plugin provides",
                nde_plugin_manifest_path(p), json_string_value(d));
      checked++;
    }
    json_decref(devices);
  }
  cr_expect_gt(checked, 10);
  json_decref(provided);
}

/* ---------------------------------------------------------------- data-only tableau plugins */

static void write_tableau(const char *file, const char *name, const char *tableau,
                          const char *extra) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", dir, file);
  FILE *f = fopen(path, "w");
  cr_assert_not_null(f);
  fprintf(f,
          "{\"nde_manifest\": 1, \"name\": \"%s\", \"kind\": \"ode_solver\", \"version\": \"1\", "
          "\"abi\": 1, \"summary\": \"test tableau\", \"tableau\": %s%s}\n",
          name, tableau, extra ? extra : "");
  fclose(f);
}

/* Heun's method 2(1), as data: the same coefficients as plugins/ode_solver/heun/heun.c */
#define HEUN_TABLEAU                                                                        \
  "{\"c\": [0, 1], \"a\": [[], [1]], \"b\": [\"1/2\", \"1/2\"], \"bhat\": [1, 0], "         \
  "\"order\": 2, \"embedded_order\": 1}"

static double solve_decay(nde_registry *r, const char *name, const char *opts, long *nfe) {
  nde_backend *be = NULL;
  cr_assert_eq(nde_backend_open(r, "cpu", NULL, &be), NDE_OK, "%s", nde_last_error());
  nde_options *given = NULL;
  cr_assert_eq(nde_options_parse(opts, &given), NDE_OK);
  nde_ode_solver *s = NULL;
  cr_assert_eq(nde_ode_solver_open(r, name, given, "solver", &s), NDE_OK, "%s",
               nde_last_error());
  nde_options_destroy(&given);
  nde_array u0 = {0};
  size_t shape[1] = {2};
  double x0[2] = {1.0, 0.5};
  cr_assert_eq(nde_array_create(be, NDE_FLOAT64, 1, shape, &u0), NDE_OK);
  cr_assert_eq(nde_array_from_doubles(&u0, x0, 2), NDE_OK);
  nde_ode_problem *p = NULL;
  cr_assert_eq(nde_ode_problem_create("lotka_volterra", NULL, &p), NDE_OK, "%s",
               nde_last_error());
  nde_ode_rhs f = nde_ode_problem_rhs(p);
  nde_ode_solution sol;
  cr_assert_eq(nde_ode_solve(s, &f, NULL, 0, 2, &u0, NULL, 0, &sol), NDE_OK, "%s",
               nde_last_error());
  double u1[2];
  cr_assert_eq(nde_array_to_doubles(&sol.u_final, u1, 2), NDE_OK);
  *nfe = sol.stats.nfe;
  nde_ode_solution_clear(&sol);
  nde_ode_problem_destroy(&p);
  nde_array_destroy(&u0);
  nde_ode_solver_destroy(&s);
  nde_backend_destroy(&be);
  return u1[0] + 1e3 * u1[1];
}

/* A tableau in a manifest, no library: the generic RK stepper runs it exactly like heun.so. */
Test(kinds, a_tableau_manifest_is_a_plugin) {
  make_dir();
  write_tableau("heun_data.json", "heun_data", HEUN_TABLEAU, NULL);
  copy_library("ode_solver_heun.so");
  write_manifest("heun", "ode_solver", "{}", "{}");
  copy_library("backend_cpu.so");
  write_manifest("cpu", "backend", "{}", "{}");
  nde_registry *r = scan_dir();
  cr_expect_eq(nde_registry_problem_count(r), 0, "%s", nde_registry_problem_message(r, 0));
  const nde_plugin *p;
  cr_assert_eq(nde_registry_find(r, NDE_KIND_ODE_SOLVER, "heun_data", &p), NDE_OK);
  cr_expect_null(nde_plugin_library_path(p));
  /* capabilities come from the tableau */
  cr_expect_eq(nde_options_int(nde_plugin_capabilities(p), "order", 0), 2);
  cr_expect_eq(nde_options_int(nde_plugin_capabilities(p), "embedded_order", 0), 1);
  cr_expect_eq(nde_options_bool(nde_plugin_capabilities(p), "adaptive", 0), 1);
  /* and the kind's common options */
  cr_expect_float_eq(spec_default(p, "abstol"), 1e-6, 1e-20);
  const void *vt;
  cr_assert_eq(nde_plugin_load(p, &vt), NDE_OK, "%s", nde_last_error());
  const nde_ode_solver_ops *ops = vt;
  cr_expect_eq(ops->order, 2);
  cr_expect_eq(ops->error_order, 1);
  cr_assert_not_null(ops->tableau);
  cr_expect_float_eq(ops->tableau->btilde[0], -0.5, 1e-16);
  /* same steps and the same answer as the compiled plugin, fixed step and adaptive */
  for (int adaptive = 0; adaptive < 2; ++adaptive) {
    const char *opts = adaptive ? "{\"abstol\": 1e-8, \"reltol\": 1e-8}"
                                : "{\"adaptive\": false, \"dt\": 0.01}";
    long nfe_data = 0, nfe_so = 0;
    double data = solve_decay(r, "heun_data", opts, &nfe_data);
    double so = solve_decay(r, "heun", opts, &nfe_so);
    cr_expect_eq(data, so, "%s: data-only %.17g vs compiled %.17g", opts, data, so);
    cr_expect_eq(nfe_data, nfe_so);
    cr_expect_gt(nfe_data, 100);
  }
  nde_registry_destroy(&r);
  remove_dir();
}

/* Every inconsistency is refused when the manifest is read, naming the file and the JSON path. */
Test(kinds, a_wrong_tableau_is_refused_with_its_json_path) {
  static const struct {
    const char *tableau, *extra, *want;
  } cases[] = {
      {"{\"c\": [0, 0.9], \"a\": [[], [1]], \"b\": [0.5, 0.5], \"order\": 2}", NULL,
       "tableau.a[1]: the row sums to 1, but tableau.c[1] is 0.9"},
      {"{\"c\": [0, 1], \"a\": [[], [1]], \"b\": [0.5, 0.6], \"order\": 2}", NULL,
       "tableau.b: the weights sum to 1.1"},
      {"{\"c\": [0, 1], \"a\": [[], [1]], \"b\": [0.5, 0.5], \"bhat\": [0.9, 0], \"order\": 2, "
       "\"embedded_order\": 1}",
       NULL, "tableau.bhat: the embedded weights sum to 0.9"},
      {"{\"c\": [0, 1], \"a\": [[], [1]], \"b\": [0.5, 0.5], \"order\": 3}", NULL,
       "tableau.b: claims order 3, but the order condition sum_i b_i c_i^2 = 1/3 fails"},
      {"{\"c\": [0, 1], \"a\": [[], [1, 2]], \"b\": [0.5, 0.5], \"order\": 2}", NULL,
       "tableau.a[1][1] is 2: an explicit method has a_ij = 0 for j >= i"},
      {"{\"c\": [0, 1], \"a\": [[], [1]], \"b\": [\"1/x\", 0.5], \"order\": 2}", NULL,
       "tableau.b[0] must be a finite number"},
      {"{\"c\": [0, 1], \"a\": [[], [1]], \"b\": [0.5, 0.5], \"order\": 2, \"fsal\": true}", NULL,
       "tableau.fsal: FSAL needs the last row a[1] to equal b"},
      {"{\"c\": [0, 1], \"a\": [[], [1]], \"b\": [0.5, 0.5], \"order\": 2, \"ordr\": 2}", NULL,
       "tableau.ordr: unknown key"},
      {HEUN_TABLEAU, ", \"library\": \"x.so\", \"entry\": \"e\"",
       "a tableau plugin has no 'library' or 'entry'"},
  };
  make_dir();
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; ++i) {
    char file[64];
    snprintf(file, sizeof file, "bad%zu.json", i);
    write_tableau(file, "bad", cases[i].tableau, cases[i].extra);
    nde_registry *r = scan_dir();
    const char *why = problem(r, file);
    cr_expect_not_null(why, "case %zu was accepted", i);
    if (why) {
      cr_expect(strstr(why, file) != NULL, "message does not name the manifest: %s", why);
      cr_expect(strstr(why, cases[i].want) != NULL, "case %zu: want '%s' in: %s", i,
                cases[i].want, why);
    }
    nde_registry_destroy(&r);
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    unlink(path);
  }
  /* a claim the tableau does not back is a broken plugin, like for a library */
  write_tableau("claims.json", "claims", HEUN_TABLEAU, ", \"capabilities\": {\"order\": 3}");
  nde_registry *r = scan_dir();
  const void *vt;
  cr_expect_eq(nde_registry_load(r, NDE_KIND_ODE_SOLVER, "claims", &vt), NDE_EPLUGIN);
  cr_expect(strstr(nde_last_error(), "capabilities.order: is 3, but the library's is 2"), "%s",
            nde_last_error());
  nde_registry_destroy(&r);
  remove_dir();
}
