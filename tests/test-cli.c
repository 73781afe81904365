/* The nde command: exit statuses, plugin listing over broken manifests, JSON output. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "plugin_fixture.h"

static const char *dir;
static char out_path[600], err_path[600];

static void setup(void) {
  dir = fixture_create();
  snprintf(out_path, sizeof out_path, "%s/stdout.txt", dir);
  snprintf(err_path, sizeof err_path, "%s/stderr.txt", dir);
}

static void teardown(void) { fixture_remove(); }

TestSuite(cli, .init = setup, .fini = teardown);

static char *slurp(const char *path) {
  FILE *f = fopen(path, "rb");
  cr_assert(f, "cannot read %s", path);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *text = calloc(1, (size_t)n + 1);
  cr_assert_eq(fread(text, 1, (size_t)n, f), (size_t)n);
  fclose(f);
  return text;
}

/* Run nde with NDE_PLUGIN_PATH = the fixture folder; returns the exit status. */
static int run(const char *args, char **out, char **err) {
  const char *build = getenv("NDE_TEST_BUILDDIR") ? getenv("NDE_TEST_BUILDDIR") : NDE_TEST_BUILDDIR;
  char cmd[4096];
  snprintf(cmd, sizeof cmd, "NDE_PLUGIN_PATH='%s' '%s/nde' %s >'%s' 2>'%s'", dir, build, args,
           out_path, err_path);
  int status = system(cmd);
  *out = slurp(out_path);
  *err = slurp(err_path);
  cr_assert(WIFEXITED(status), "nde did not exit normally");
  return WEXITSTATUS(status);
}

static size_t count_lines_with(const char *text, const char *needle) {
  size_t n = 0;
  for (const char *p = text; (p = strstr(p, needle)) != NULL; p += strlen(needle))
    n++;
  return n;
}

Test(cli, plugins_lists_good_ones_and_one_line_per_broken_manifest) {
  char *out, *err;
  cr_expect_eq(run("plugins", &out, &err), 0);
  cr_expect(strstr(out, "cpu") != NULL, "%s", out);
  cr_expect_eq(count_lines_with(err, "refused manifest: "), fixture_n_scan_problems, "%s", err);
  for (size_t i = 0; i < fixture_n_scan_problems; ++i)
    cr_expect(strstr(err, fixture_scan_problems[i].file) != NULL, "%s not reported",
              fixture_scan_problems[i].file);
  cr_expect_eq(count_lines_with(err, "broken plugin: "), fixture_n_load_problems, "%s", err);
  /* the second copy of cpu is listed once, on the winner's line, not as a refusal */
  cr_expect_eq(count_lines_with(err, "duplicate"), 0, "%s", err);
  cr_expect_eq(count_lines_with(err, "zz-duplicate-cpu.json"), 0, "%s", err);
  cr_expect_eq(count_lines_with(out, "zz-duplicate-cpu.json)"), 1, "%s", out);
  const char *line = strstr(out, "\ncpu ");
  cr_expect(line && strstr(line, "(shadows ") && strstr(line, "(shadows ") < strchr(line + 1, '\n'),
            "%s", out);
  cr_expect_eq(count_lines_with(err, "warning:"), 0, "%s", err);
  free(out);
  free(err);
}

Test(cli, plugin_warns_once_which_copy_is_used) {
  char *out, *err;
  cr_expect_eq(run("plugin cpu", &out, &err), 0);
  cr_expect_eq(count_lines_with(err, "nde: warning: 2 copies of backend 'cpu'"), 1, "%s", err);
  cr_expect(strstr(err, "/cpu.json (shadows ") && strstr(err, "zz-duplicate-cpu.json)"), "%s",
            err);
  cr_expect(strstr(out, "Shadows:") != NULL, "%s", out);
  free(out);
  free(err);
}

Test(cli, plugins_json_has_the_documented_fields) {
  char *out, *err;
  cr_expect_eq(run("plugins --json --kind backend", &out, &err), 0);
  json_error_t e;
  json_t *root = json_loads(out, 0, &e);
  cr_assert_not_null(root, "not JSON: %s (%s)", e.text, out);
  cr_assert(json_is_array(root));
  int found_cpu = 0;
  size_t i;
  json_t *o;
  json_array_foreach(root, i, o) {
    const char *fields[] = {"name", "kind", "version", "abi", "summary", "status"};
    for (size_t f = 0; f < 6; ++f)
      cr_expect_not_null(json_object_get(o, fields[f]), "missing %s", fields[f]);
    cr_expect_str_eq(json_string_value(json_object_get(o, "kind")), "backend");
    if (!strcmp(json_string_value(json_object_get(o, "name")), "cpu")) {
      found_cpu = 1;
      cr_expect_str_eq(json_string_value(json_object_get(o, "status")), "ok");
      cr_expect_eq(json_integer_value(json_object_get(o, "abi")), 1);
    }
  }
  cr_expect(found_cpu);
  json_decref(root);
  free(out);
  free(err);
}

Test(cli, plugin_shows_manifest_and_fails_for_unusable_ones) {
  char *out, *err;
  cr_expect_eq(run("plugin cpu --json", &out, &err), 0, "%s", err);
  json_t *root = json_loads(out, 0, NULL);
  cr_assert_not_null(root, "%s", out);
  cr_expect_str_eq(json_string_value(json_object_get(root, "name")), "cpu");
  cr_expect_not_null(json_object_get(json_object_get(root, "options"), "abstol"));
  cr_expect_str_eq(json_string_value(json_object_get(root, "status")), "ok");
  json_decref(root);
  free(out);
  free(err);

  cr_expect_eq(run("plugin cpu", &out, &err), 0);
  cr_expect(strstr(out, "absolute tolerance") != NULL, "%s", out);
  free(out);
  free(err);

  cr_expect_eq(run("plugin missing_symbol", &out, &err), 2);
  cr_expect(strstr(err, "entry symbol") != NULL, "%s", err);
  free(out);
  free(err);

  cr_expect_eq(run("plugin cpux", &out, &err), 2);
  cr_expect(strstr(err, "did you mean 'cpu'?") != NULL, "%s", err);
  free(out);
  free(err);
}

Test(cli, usage_errors_exit_2_and_help_exits_0) {
  char *out, *err;
  cr_expect_eq(run("--help", &out, &err), 0);
  cr_expect(strstr(out, "Usage: nde") != NULL);
  free(out);
  free(err);
  cr_expect_eq(run("--version", &out, &err), 0);
  cr_expect(strstr(out, "plugin ABI 1") != NULL, "%s", out);
  free(out);
  free(err);
  cr_expect_eq(run("plugns", &out, &err), 2);
  cr_expect(strstr(err, "did you mean 'plugins'?") != NULL, "%s", err);
  free(out);
  free(err);
  cr_expect_eq(run("", &out, &err), 2);
  free(out);
  free(err);
  cr_expect_eq(run("plugins --bogus", &out, &err), 2);
  free(out);
  free(err);
  cr_expect_eq(run("plugins --kind nonsense", &out, &err), 2);
  free(out);
  free(err);
}

/* When configure chose OpenBLAS's OpenMP build (--with-openblas-openmp,
   the default where Debian's libopenblas0-openmp is installed), the run
   path must win over the system's pthreads build: OpenBLAS itself reports
   its threads in `nde --version`. */
Test(cli, version_names_the_openblas_build_configure_chose) {
  char *out, *err;
  cr_expect_eq(run("--version", &out, &err), 0);
  cr_expect(strstr(out, "OpenBLAS: ") != NULL && strstr(out, "; threads: ") != NULL, "%s", out);
#ifdef NDE_OPENBLAS_OPENMP_DIR
  cr_expect(strstr(out, "threads: OpenMP (libgomp's threads)") != NULL,
            "configure chose OpenBLAS's OpenMP build from %s, but: %s", NDE_OPENBLAS_OPENMP_DIR,
            out);
#endif
  free(out);
  free(err);
}

/* `nde --version` names the wait policy in force, and libgomp, loaded by a
   solve (the cpu backend), reports it in its verbose environment dump. */
static void expect_wait_policy(const char *solve, const char *version_line, const char *libgomp) {
  char *out, *err;
  cr_expect_eq(run("--version", &out, &err), 0);
  cr_expect(strstr(out, version_line) != NULL, "%s", out);
  free(out);
  free(err);
  cr_expect_eq(run(solve, &out, &err), 0);
  cr_expect(strstr(err, libgomp) != NULL, "libgomp did not see it: %s", err);
  free(out);
  free(err);
}

/* Without OMP_WAIT_POLICY the command re-executes itself with it set to
   passive, before libgomp loads: libgomp itself must then report a spin
   count of 0 (unset, it reports 'PASSIVE' too but spins 300000 times). A
   policy the user set is kept. */
Test(cli, openmp_threads_wait_passively_unless_the_user_says_otherwise) {
  char problem[4200];
  snprintf(problem, sizeof problem, "%s.problem.json", out_path);
  FILE *f = fopen(problem, "w");
  cr_assert(f);
  fputs("{\"problem\": \"exponential\", \"saveat\": [1]}\n", f);
  fclose(f);
  const char *build = getenv("NDE_TEST_BUILDDIR") ? getenv("NDE_TEST_BUILDDIR") : NDE_TEST_BUILDDIR;
  char solve[5000];
  snprintf(solve, sizeof solve, "--plugin-dir '%s/_plugins' solve '%s'", build, problem);
  unsetenv("NDE_SET_OMP_WAIT_POLICY");
  char *saved = getenv("OMP_WAIT_POLICY") ? strdup(getenv("OMP_WAIT_POLICY")) : NULL;
  unsetenv("OMP_WAIT_POLICY");
  setenv("OMP_DISPLAY_ENV", "verbose", 1);
  expect_wait_policy(solve, "OpenMP wait policy: passive (nde's default)", "GOMP_SPINCOUNT = '0'");
  setenv("OMP_WAIT_POLICY", "active", 1);
  expect_wait_policy(solve, "OpenMP wait policy: active (from OMP_WAIT_POLICY)",
                     "OMP_WAIT_POLICY = 'ACTIVE'");
  unsetenv("OMP_DISPLAY_ENV");
  if (saved) {
    setenv("OMP_WAIT_POLICY", saved, 1);
    free(saved);
  } else
    unsetenv("OMP_WAIT_POLICY");
  remove(problem);
}

/* The layers built into libnde: listed, shown with their keys, found by `nde plugin`. */
Test(cli, builtin_layers_are_listed_and_shown_with_their_keys) {
  static const char *const builtins[] = {"chain",      "parallel", "skip_connection",
                                         "neural_ode", "neural_sde", "deq",
                                         "skip_deq",   "skip_reg_deq", "continuous_deq",
                                         "latent_ode"};
  char *out, *err;
  cr_expect_eq(run("plugins", &out, &err), 0);
  for (size_t i = 0; i < sizeof builtins / sizeof *builtins; ++i) {
    char row[64];
    snprintf(row, sizeof row, "\n%-24s %-16s", builtins[i], "layer");
    cr_expect(strstr(out, row) != NULL, "%s not listed: %s", builtins[i], out);
  }
  cr_expect(strstr(out, "10 built-in layers") != NULL, "%s", out);
  free(out);
  free(err);

  cr_expect_eq(run("plugins --json --kind layer", &out, &err), 0);
  json_t *root = json_loads(out, 0, NULL);
  cr_assert(json_is_array(root), "%s", out);
  size_t i, n_builtin = 0;
  json_t *o;
  json_array_foreach(root, i, o) {
    if (!json_is_true(json_object_get(o, "builtin")))
      continue;
    n_builtin++;
    cr_expect_str_eq(json_string_value(json_object_get(o, "status")), "built-in");
    cr_expect_str_eq(json_string_value(json_object_get(o, "kind")), "layer");
    cr_expect(json_is_null(json_object_get(o, "manifest")));
  }
  cr_expect_eq(n_builtin, sizeof builtins / sizeof *builtins);
  json_decref(root);
  free(out);
  free(err);
  /* another kind: no built-in layers */
  cr_expect_eq(run("plugins --kind backend", &out, &err), 0);
  cr_expect(strstr(out, "built-in ") == NULL, "%s", out);
  free(out);
  free(err);

  cr_expect_eq(run("plugin neural_ode", &out, &err), 0, "%s", err);
  cr_expect(strstr(out, "built-in layer") != NULL, "%s", out);
  cr_expect(strstr(out, "tspan") != NULL && strstr(out, "dynamics") != NULL, "%s", out);
  cr_expect(strstr(out, "default \"tsit5\"") != NULL, "%s", out);
  free(out);
  free(err);

  cr_expect_eq(run("plugin continuous_deq --json", &out, &err), 0, "%s", err);
  root = json_loads(out, 0, NULL);
  cr_assert_not_null(root, "%s", out);
  json_t *opts = json_object_get(root, "options");
  cr_expect_eq(json_number_value(json_object_get(json_object_get(opts, "t1"), "default")), 1000.0);
  cr_expect_str_eq(json_string_value(json_object_get(
                       json_object_get(json_object_get(opts, "solver"), "default"), "plugin")),
                   "tsit5");
  cr_expect(json_is_true(json_object_get(json_object_get(opts, "dynamics"), "required")));
  json_decref(root);
  free(out);
  free(err);

  /* a typo of a built-in name is suggested */
  cr_expect_eq(run("plugin neural_od", &out, &err), 2);
  cr_expect(strstr(err, "did you mean the built-in layer 'neural_ode'?") != NULL, "%s", err);
  free(out);
  free(err);

  /* --kind other than layer: not the built-in */
  cr_expect_eq(run("plugin neural_ode --kind ode_solver", &out, &err), 2);
  free(out);
  free(err);
}

/* `nde plugins` with nothing on the search path says how to point it at plugins. */
Test(cli, plugins_hints_at_the_search_path_when_it_finds_none) {
  const char *build = getenv("NDE_TEST_BUILDDIR") ? getenv("NDE_TEST_BUILDDIR") : NDE_TEST_BUILDDIR;
  char cmd[4096];
  snprintf(cmd, sizeof cmd, "NDE_PLUGIN_PATH='%s/empty-nowhere' '%s/nde' plugins >'%s' 2>'%s'",
           dir, build, out_path, err_path);
  int status = system(cmd);
  cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  char *out = slurp(out_path), *err = slurp(err_path);
  /* (an installed nde on this machine would make the count non-zero: then no hint is due) */
  if (strstr(out, "\n0 plugins "))
    cr_expect(strstr(err, "NDE_PLUGIN_PATH") != NULL && strstr(err, "--plugin-dir") != NULL,
              "no hint: %s", err);
  else
    cr_expect(strstr(err, "no plugin manifests found") == NULL, "%s", err);
  free(out);
  free(err);
}
