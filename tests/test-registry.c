/*
 * The registry over a folder of deliberately broken manifests: each is
 * refused with a message naming the file and the problem, and the good
 * plugin still loads. Also lookups with suggestions, option validation,
 * and concurrent loading.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include <nde/nde.h>

#include "plugin_fixture.h"

static nde_registry *reg;

static void setup(void) {
  const char *dir = fixture_create();
  cr_assert_eq(nde_registry_create(&reg), NDE_OK);
  cr_assert_eq(nde_registry_add_dir(reg, dir), NDE_OK);
  cr_assert_eq(nde_registry_scan(reg), NDE_OK);
}

static void teardown(void) {
  nde_registry_destroy(&reg);
  cr_expect_null(reg);
  fixture_remove();
}

TestSuite(registry, .init = setup, .fini = teardown);

static const char *problem_for(const char *file) {
  for (size_t i = 0; i < nde_registry_problem_count(reg); ++i) {
    const char *path = nde_registry_problem_path(reg, i);
    const char *slash = strrchr(path, '/');
    if (!strcmp(slash ? slash + 1 : path, file))
      return nde_registry_problem_message(reg, i);
  }
  return NULL;
}

Test(registry, every_broken_manifest_is_refused_with_file_and_reason) {
  cr_expect_eq(nde_registry_problem_count(reg), fixture_n_scan_problems);
  for (size_t i = 0; i < fixture_n_scan_problems; ++i) {
    const char *message = problem_for(fixture_scan_problems[i].file);
    cr_expect_not_null(message, "%s was not refused", fixture_scan_problems[i].file);
    if (!message)
      continue;
    cr_expect(strstr(message, fixture_scan_problems[i].file) != NULL,
              "message does not name the file: %s", message);
    cr_expect(strstr(message, fixture_scan_problems[i].phrase) != NULL,
              "message for %s lacks '%s': %s", fixture_scan_problems[i].file,
              fixture_scan_problems[i].phrase, message);
  }
}

Test(registry, good_plugin_loads_despite_broken_neighbours) {
  /* cpu, missing_symbol, bad_abi (backends) and kind_liar (layer) scan fine */
  cr_expect_eq(nde_registry_count(reg), 4);
  const nde_plugin *p;
  cr_assert_eq(nde_registry_find(reg, NDE_KIND_BACKEND, "cpu", &p), NDE_OK);
  cr_expect_eq(nde_plugin_state_of(p), NDE_PLUGIN_AVAILABLE);
  const void *vtable = NULL;
  /* break the others first: the good one must not care */
  for (size_t i = 0; i < fixture_n_load_problems; ++i) {
    const nde_plugin *bad;
    cr_assert_eq(nde_registry_find_any(reg, fixture_load_problems[i].file, &bad), NDE_OK);
    const void *v;
    nde_status st = nde_plugin_load(bad, &v);
    cr_expect_neq(st, NDE_OK);
    cr_expect_eq(nde_plugin_state_of(bad), NDE_PLUGIN_BROKEN);
    cr_expect(strstr(nde_plugin_message(bad), fixture_load_problems[i].phrase) != NULL,
              "%s: %s", fixture_load_problems[i].file, nde_plugin_message(bad));
    cr_expect(strstr(nde_plugin_message(bad), ".json") != NULL, "names the manifest: %s",
              nde_plugin_message(bad));
    /* a second attempt gives the same refusal without retrying */
    cr_expect_neq(nde_plugin_load(bad, &v), NDE_OK);
  }
  cr_assert_eq(nde_plugin_load(p, &vtable), NDE_OK, "%s", nde_last_error());
  cr_expect_eq(nde_plugin_state_of(p), NDE_PLUGIN_LOADED);
  const nde_backend_ops *ops = vtable;
  cr_expect_str_eq(ops->header.name, "cpu");
  cr_expect_eq(ops->header.abi_version, NDE_ABI_VERSION);
}

Test(registry, abi_mismatch_is_its_own_status) {
  const nde_plugin *p;
  const void *v;
  cr_assert_eq(nde_registry_find(reg, NDE_KIND_BACKEND, "bad_abi", &p), NDE_OK);
  cr_expect_eq(nde_plugin_load(p, &v), NDE_EABI);
}

Test(registry, unknown_names_get_a_suggestion) {
  const nde_plugin *p;
  cr_expect_eq(nde_registry_find(reg, NDE_KIND_BACKEND, "cpux", &p), NDE_ENOTFOUND);
  cr_expect(strstr(nde_last_error(), "no backend named 'cpux'; did you mean 'cpu'?") != NULL,
            "%s", nde_last_error());
  cr_expect_eq(nde_registry_find(reg, NDE_KIND_ODE_SOLVER, "tsit6", &p), NDE_ENOTFOUND);
  cr_expect(strstr(nde_last_error(), "no ode_solver named 'tsit6'") != NULL, "%s",
            nde_last_error());
  cr_expect_eq(nde_registry_find(reg, NDE_KIND_BACKEND, "zzzzzzzz", &p), NDE_ENOTFOUND);
  cr_expect(strstr(nde_last_error(), "available: ") != NULL, "%s", nde_last_error());
}

Test(registry, manifest_accessors) {
  const nde_plugin *p;
  cr_assert_eq(nde_registry_find(reg, NDE_KIND_BACKEND, "cpu", &p), NDE_OK);
  cr_expect_str_eq(nde_plugin_version(p), "1.0");
  cr_expect_eq(nde_plugin_abi(p), 1);
  cr_expect_str_eq(nde_plugin_summary(p), "test plugin");
  cr_expect_eq(nde_options_array_size(nde_plugin_capabilities(p), "devices"), 1);
  cr_expect(nde_options_has(nde_plugin_option_specs(p), "abstol"));
  char *json = nde_plugin_manifest_json(p);
  cr_expect(strstr(json, "\"nde_manifest\": 1") != NULL, "%s", json);
  free(json);
}

static nde_status options_from(const char *text, nde_options **out) {
  const nde_plugin *p;
  cr_assert_eq(nde_registry_find(reg, NDE_KIND_BACKEND, "cpu", &p), NDE_OK);
  nde_options *given = NULL;
  cr_assert_eq(nde_options_parse(text, &given), NDE_OK);
  nde_status st = nde_plugin_options(p, given, "model.solver", out);
  nde_options_destroy(&given);
  return st;
}

Test(registry, options_are_validated_and_defaults_filled) {
  nde_options *o = NULL;
  cr_assert_eq(options_from("{\"plugin\": \"cpu\", \"memory\": 7.0}", &o), NDE_OK, "%s",
               nde_last_error());
  cr_expect_eq(nde_options_number(o, "abstol", 0), 1e-6);
  cr_expect_eq(nde_options_int(o, "memory", 0), 7);
  cr_expect_str_eq(nde_options_string(o, "method", NULL), "fast");
  cr_expect_eq(nde_options_bool(o, "verbose", 1), 0);
  cr_expect(!nde_options_has(o, "plugin"));
  nde_options_destroy(&o);
  cr_expect_null(o);

  struct {
    const char *text, *phrase;
  } bad[] = {
      {"{\"abstl\": 1}", "model.solver.abstl: option of backend 'cpu': unknown option; did you "
                         "mean 'abstol'?"},
      {"{\"abstol\": 0}", "model.solver.abstol: option of backend 'cpu': 0 is out of range: must "
                          "be > 0"},
      {"{\"memory\": 1000}", "out of range: must be <= 100"},
      {"{\"memory\": 2.5}", "expected integer, got number"},
      {"{\"verbose\": \"yes\"}", "expected boolean, got string"},
      {"{\"method\": \"robst\"}", "did you mean 'robust'?"},
      {"{\"method\": \"xyzzyxyzzy\"}", "is not one of: fast, robust"},
      {"{\"bogus\": 1}", "unknown option (`nde plugin cpu` lists the options)"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; ++i) {
    cr_expect_eq(options_from(bad[i].text, &o), NDE_EINVAL, "%s accepted", bad[i].text);
    cr_expect(strstr(nde_last_error(), bad[i].phrase) != NULL, "%s: %s", bad[i].text,
              nde_last_error());
    cr_expect_null(o);
  }
}

static void *load_in_thread(void *arg) {
  const nde_plugin *p = arg;
  const void *v = NULL;
  for (int i = 0; i < 200; ++i)
    if (nde_plugin_load(p, &v) != NDE_OK || !v)
      return (void *)1;
  return NULL;
}

Test(registry, concurrent_loads_are_safe) {
  const nde_plugin *p;
  cr_assert_eq(nde_registry_find(reg, NDE_KIND_BACKEND, "cpu", &p), NDE_OK);
  pthread_t threads[8];
  for (int i = 0; i < 8; ++i)
    pthread_create(&threads[i], NULL, load_in_thread, (void *)p);
  for (int i = 0; i < 8; ++i) {
    void *result;
    pthread_join(threads[i], &result);
    cr_expect_null(result);
  }
}

Test(registry, search_path_order_and_rescan) {
  /* the same folder twice: the same files again, neither shadows nor new refusals */
  const char *dir = nde_plugin_manifest_path(nde_registry_at(reg, 0));
  char folder[1024];
  snprintf(folder, sizeof folder, "%s", dir);
  *strrchr(folder, '/') = '\0';
  cr_assert_eq(nde_registry_add_dir(reg, folder), NDE_OK);
  cr_assert_eq(nde_registry_scan(reg), NDE_OK);
  cr_expect_eq(nde_registry_count(reg), 4);
  cr_expect_eq(nde_registry_problem_count(reg), fixture_n_scan_problems);
  /* a missing folder on the path is not an error */
  cr_assert_eq(nde_registry_add_dir(reg, "/nonexistent/nde/plugins"), NDE_OK);
  cr_expect_eq(nde_registry_scan(reg), NDE_OK);
}

/* The first copy on the search path wins; the later one is shadowed (not refused), warned once. */
Test(registry, a_duplicate_is_shadowed_not_refused) {
  const nde_plugin *cpu;
  cr_assert_eq(nde_registry_find(reg, NDE_KIND_BACKEND, "cpu", &cpu), NDE_OK);
  cr_expect(strstr(nde_plugin_manifest_path(cpu), "/cpu.json") != NULL);
  cr_assert_eq(nde_plugin_shadow_count(cpu), 1);
  cr_expect(strstr(nde_plugin_shadow_path(cpu, 0), "zz-duplicate-cpu.json") != NULL);
  cr_expect_null(nde_plugin_shadow_path(cpu, 1));
  cr_expect_null(problem_for("zz-duplicate-cpu.json"), "a shadowed copy was reported refused");
  cr_expect_eq(nde_plugin_warn_shadowed(cpu), 1);
  cr_expect_eq(nde_plugin_warn_shadowed(cpu), 0, "the warning is printed once");
  /* the open path (nde train, solve, eval) warns on first use */
  nde_registry *r2 = NULL;
  cr_assert_eq(nde_registry_create(&r2), NDE_OK);
  const char *m = nde_plugin_manifest_path(cpu);
  char d[1024];
  snprintf(d, sizeof d, "%.*s", (int)(strrchr(m, '/') - m), m);
  cr_assert_eq(nde_registry_add_dir(r2, d), NDE_OK);
  cr_assert_eq(nde_registry_scan(r2), NDE_OK);
  const nde_plugin *cpu2;
  cr_assert_eq(nde_registry_find(r2, NDE_KIND_BACKEND, "cpu", &cpu2), NDE_OK);
  const void *vt;
  nde_options *opts = NULL;
  cr_assert_eq(nde_plugin_open(cpu2, NULL, "backend", &vt, &opts), NDE_OK, "%s",
               nde_last_error());
  nde_options_destroy(&opts);
  cr_expect_eq(nde_plugin_warn_shadowed(cpu2), 0, "nde_plugin_open did not warn");
  nde_registry_destroy(&r2);
  /* the same folder twice on the path is one copy, not a shadow */
  const char *manifest = nde_plugin_manifest_path(cpu);
  char folder[1024];
  snprintf(folder, sizeof folder, "%.*s", (int)(strrchr(manifest, '/') - manifest), manifest);
  cr_assert_eq(nde_registry_add_dir(reg, folder), NDE_OK);
  cr_assert_eq(nde_registry_scan(reg), NDE_OK);
  cr_assert_eq(nde_registry_find(reg, NDE_KIND_BACKEND, "cpu", &cpu), NDE_OK);
  cr_expect_eq(nde_plugin_shadow_count(cpu), 1);
}

/* A symbolic link that stays inside the manifest's folder is fine; the library path is resolved. */
Test(registry, a_symlink_inside_the_folder_is_accepted) {
  const nde_plugin *cpu;
  cr_assert_eq(nde_registry_find(reg, NDE_KIND_BACKEND, "cpu", &cpu), NDE_OK);
  const char *manifest = nde_plugin_manifest_path(cpu);
  char folder[1024], link[1200], path[1200];
  snprintf(folder, sizeof folder, "%.*s", (int)(strrchr(manifest, '/') - manifest), manifest);
  snprintf(link, sizeof link, "%s/alias.so", folder);
  cr_assert_eq(symlink("backend_cpu.so", link), 0);
  snprintf(path, sizeof path, "%s/alias.json", folder);
  FILE *f = fopen(path, "w");
  cr_assert_not_null(f);
  fputs("{\"nde_manifest\": 1, \"name\": \"alias\", \"kind\": \"backend\", \"version\": \"1\", "
        "\"abi\": 1, \"library\": \"alias.so\", \"entry\": \"e\", \"summary\": \"s\"}",
        f);
  fclose(f);
  cr_assert_eq(nde_registry_scan(reg), NDE_OK);
  cr_expect_null(problem_for("alias.json"), "%s", problem_for("alias.json"));
  const nde_plugin *alias;
  cr_assert_eq(nde_registry_find(reg, NDE_KIND_BACKEND, "alias", &alias), NDE_OK);
  const char *lib = nde_plugin_library_path(alias);
  cr_expect(strlen(lib) > 15 && !strcmp(lib + strlen(lib) - 15, "/backend_cpu.so"), "%s", lib);
}

Test(names, kinds_dtypes_and_activations_round_trip) {
  for (int k = 0; k < NDE_KIND_COUNT; ++k) {
    nde_plugin_kind back;
    cr_expect_eq(nde_plugin_kind_parse(nde_plugin_kind_name((nde_plugin_kind)k), &back), NDE_OK);
    cr_expect_eq((int)back, k);
  }
  for (int a = 0; a < NDE_ACT_COUNT; ++a) {
    nde_activation back;
    cr_expect_eq(nde_activation_parse(nde_activation_name((nde_activation)a), &back), NDE_OK);
    cr_expect_eq((int)back, a);
  }
  nde_activation act;
  cr_expect_eq(nde_activation_parse("tahn", &act), NDE_EINVAL);
  cr_expect(strstr(nde_last_error(), "did you mean 'tanh'?") != NULL, "%s", nde_last_error());
  nde_dtype dt;
  cr_expect_eq(nde_dtype_parse("f32", &dt), NDE_OK);
  cr_expect_eq(dt, NDE_FLOAT32);
  cr_expect_eq(nde_dtype_parse("float16", &dt), NDE_EINVAL);
}

Test(status, messages_compose_outermost_first) {
  nde_clear_error();
  cr_expect_str_eq(nde_last_error(), "");
  nde_status st = nde_error(NDE_EINVAL, "must be > 0, got %d", -1);
  st = nde_error_prefix(st, "%s", "abstol");
  st = nde_error_prefix(st, "%s", "pipeline.json");
  cr_expect_eq(st, NDE_EINVAL);
  cr_expect_str_eq(nde_last_error(), "pipeline.json: abstol: must be > 0, got -1");
  cr_expect(nde_status_is_input_error(NDE_EPARSE));
  cr_expect(!nde_status_is_input_error(NDE_ENONFINITE));
  cr_expect_str_eq(nde_status_name(NDE_EDTMIN), "NDE_EDTMIN");
}
