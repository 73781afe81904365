/* The nde command: exit statuses, plugin listing over broken manifests, JSON output. */
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
