/* Builds the plugin folder used by the registry and CLI tests. */
#include "plugin_fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "copy_file.h"

static char dir[512];

const fixture_problem fixture_scan_problems[] = {
    {"invalid-json.json", "invalid JSON"},
    {"not-an-object.json", "must be a JSON object"},
    {"missing-entry.json", "missing required field 'entry'"},
    {"missing-format.json", "missing required field 'nde_manifest'"},
    {"future-format.json", "manifest format 2 is not supported"},
    {"unknown-kind.json", "did you mean 'ode_solver'"},
    {"wrong-abi.json", "built for ABI 2, but this nde has ABI 1"},
    {"absolute-library.json", "must be a path relative to the manifest's folder"},
    {"dotdot-library.json", "must be a path relative to the manifest's folder"},
    {"missing-library.json", "not found"},
    {"typo-field.json", "did you mean 'entry'"},
    {"bad-option.json", "options.abstol: missing one-line string field 'doc'"},
    {"outside-link.json", "outside the manifest's folder"},
    {"linked-folder.json", "outside the manifest's folder"},
};
const size_t fixture_n_scan_problems = sizeof fixture_scan_problems / sizeof *fixture_scan_problems;

const fixture_problem fixture_load_problems[] = {
    {"missing_symbol", "entry symbol 'nde_plugin_nothing_here'"},
    {"bad_abi", "built for ABI 99, but this nde has ABI 1"},
    {"kind_liar", "implements a backend, but the manifest says layer"},
};
const size_t fixture_n_load_problems = sizeof fixture_load_problems / sizeof *fixture_load_problems;

static void write_file(const char *name, const char *text) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "w");
  cr_assert(f, "cannot write %s", path);
  fputs(text, f);
  fclose(f);
}

/* A manifest with the given fields substituted into a valid template. */
static void manifest(const char *file, const char *name, const char *kind, const char *library,
                     const char *entry, const char *extra) {
  char text[2048];
  snprintf(text, sizeof text,
           "{\"nde_manifest\": 1, \"name\": \"%s\", \"kind\": \"%s\", \"version\": \"1.0\", "
           "\"abi\": 1, \"library\": \"%s\", \"entry\": \"%s\", \"summary\": \"test plugin\"%s}",
           name, kind, library, entry, extra ? extra : "");
  write_file(file, text);
}

const char *fixture_create(void) {
  const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
  snprintf(dir, sizeof dir, "%s/nde-plugin-fixture-XXXXXX", tmp);
  cr_assert(mkdtemp(dir), "mkdtemp failed");
  const char *build = getenv("NDE_TEST_BUILDDIR") ? getenv("NDE_TEST_BUILDDIR") : NDE_TEST_BUILDDIR;
  char target[1024], link[1024];
  snprintf(target, sizeof target, "%s/plugins/backend/cpu/.libs/backend_cpu.so", build);
  snprintf(link, sizeof link, "%s/backend_cpu.so", dir);
  cr_assert_eq(test_copy_file(target, link), 0, "copy %s", target);
  snprintf(target, sizeof target, "%s/tests/plugins/.libs/test_bad_abi.so", build);
  snprintf(link, sizeof link, "%s/test_bad_abi.so", dir);
  cr_assert_eq(test_copy_file(target, link), 0, "copy %s", target);
  /* symbolic links that leave the folder: to a library, and to a folder of libraries */
  snprintf(target, sizeof target, "%s/plugins/backend/cpu/.libs/backend_cpu.so", build);
  snprintf(link, sizeof link, "%s/outside.so", dir);
  cr_assert_eq(symlink(target, link), 0, "symlink %s", target);
  snprintf(target, sizeof target, "%s/plugins/backend/cpu/.libs", build);
  snprintf(link, sizeof link, "%s/linked", dir);
  cr_assert_eq(symlink(target, link), 0, "symlink %s", target);

  /* the good one */
  manifest("cpu.json", "cpu", "backend", "backend_cpu.so", "nde_plugin_backend_cpu",
           ", \"capabilities\": {\"devices\": [\"cpu\"]}, \"options\": {"
           "\"abstol\": {\"type\": \"number\", \"default\": 1e-6, \"range\": [0, null], "
           "\"exclusive_min\": true, \"doc\": \"absolute tolerance\"},"
           "\"method\": {\"type\": \"string\", \"default\": \"fast\", \"choices\": [\"fast\", "
           "\"robust\"], \"doc\": \"which method\"},"
           "\"memory\": {\"type\": \"integer\", \"default\": 5, \"range\": [1, 100], \"doc\": "
           "\"history length\"},"
           "\"verbose\": {\"type\": \"boolean\", \"default\": false, \"doc\": \"print more\"}}");

  /* refused at scan */
  write_file("invalid-json.json", "{\"nde_manifest\": 1, \"name\": \"x\",");
  write_file("not-an-object.json", "[1, 2, 3]");
  write_file("missing-entry.json",
             "{\"nde_manifest\": 1, \"name\": \"noentry\", \"kind\": \"backend\", \"version\": "
             "\"1\", \"abi\": 1, \"library\": \"backend_cpu.so\", \"summary\": \"s\"}");
  write_file("missing-format.json",
             "{\"name\": \"noformat\", \"kind\": \"backend\", \"version\": \"1\", \"abi\": 1, "
             "\"library\": \"backend_cpu.so\", \"entry\": \"e\", \"summary\": \"s\"}");
  write_file("future-format.json",
             "{\"nde_manifest\": 2, \"name\": \"future\", \"kind\": \"backend\", \"version\": "
             "\"1\", \"abi\": 1, \"library\": \"backend_cpu.so\", \"entry\": \"e\", \"summary\": "
             "\"s\"}");
  manifest("unknown-kind.json", "tsit6", "ode_solverx", "backend_cpu.so", "e", NULL);
  write_file("wrong-abi.json",
             "{\"nde_manifest\": 1, \"name\": \"oldabi\", \"kind\": \"backend\", \"version\": "
             "\"1\", \"abi\": 2, \"library\": \"backend_cpu.so\", \"entry\": \"e\", \"summary\": "
             "\"s\"}");
  manifest("absolute-library.json", "absolute", "backend", "/usr/lib/libc.so.6", "e", NULL);
  manifest("dotdot-library.json", "dotdot", "backend", "sub/../../backend_cpu.so", "e", NULL);
  manifest("missing-library.json", "nolib", "backend", "does_not_exist.so", "e", NULL);
  manifest("typo-field.json", "typo", "backend", "backend_cpu.so", "e", ", \"entyr\": \"x\"");
  manifest("bad-option.json", "badopt", "backend", "backend_cpu.so", "e",
           ", \"options\": {\"abstol\": {\"type\": \"number\", \"default\": 1}}");
  manifest("outside-link.json", "outside", "backend", "outside.so", "nde_plugin_backend_cpu",
           NULL);
  manifest("linked-folder.json", "linked", "backend", "linked/backend_cpu.so",
           "nde_plugin_backend_cpu", NULL);

  /* a second copy of cpu, later on the path: shadowed, not refused */
  manifest("zz-duplicate-cpu.json", "cpu", "backend", "backend_cpu.so", "nde_plugin_backend_cpu",
           NULL);

  /* scan fine, fail to load */
  manifest("missing-symbol.json", "missing_symbol", "backend", "backend_cpu.so",
           "nde_plugin_nothing_here", NULL);
  manifest("bad-abi.json", "bad_abi", "backend", "test_bad_abi.so", "nde_plugin_backend_bad_abi",
           NULL);
  manifest("kind-liar.json", "kind_liar", "layer", "backend_cpu.so", "nde_plugin_backend_cpu",
           NULL);
  return dir;
}

void fixture_remove(void) {
  if (!dir[0])
    return;
  char cmd[1100];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0)
    fprintf(stderr, "could not remove %s\n", dir);
  dir[0] = '\0';
}
