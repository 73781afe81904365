/*
 * Kind-specific vtable checks (core/vtable_check.c) for optimizers and
 * datasets: a plugin missing a required operation or with a vtable too
 * small for the ABI is refused at load with a message naming it, and the
 * other plugins stay usable.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include <nde/registry.h>

static char dir[256];

static void write_manifest(const char *kind, const char *name) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s.json", dir, name);
  FILE *f = fopen(path, "w");
  cr_assert_not_null(f);
  fprintf(f,
          "{\"nde_manifest\": 1, \"name\": \"%s\", \"kind\": \"%s\", \"version\": \"0.0.1\", "
          "\"abi\": 1, \"library\": \"broken.so\", \"entry\": \"nde_plugin_%s_%s\", "
          "\"summary\": \"deliberately broken\", \"capabilities\": {}, \"options\": {}}\n",
          name, kind, kind, name);
  fclose(f);
}

Test(vtable, broken_optimizer_and_dataset_are_refused) {
  snprintf(dir, sizeof dir, "%s/nde-vtable-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
  cr_assert_not_null(mkdtemp(dir));
  char lib[512], link[512];
  snprintf(lib, sizeof lib, "%s/tests/plugins/.libs/broken.so",
           getenv("NDE_TEST_BUILDDIR") ? getenv("NDE_TEST_BUILDDIR") : NDE_TEST_BUILDDIR);
  snprintf(link, sizeof link, "%s/broken.so", dir);
  cr_assert_eq(symlink(lib, link), 0);
  write_manifest("optimizer", "stepless");
  write_manifest("dataset", "truncated");

  nde_registry *r = NULL;
  cr_assert_eq(nde_registry_create(&r), NDE_OK);
  cr_assert_eq(nde_registry_add_dir(r, dir), NDE_OK);
  const char *plugins = getenv("NDE_PLUGIN_PATH");
  if (plugins)
    cr_assert_eq(nde_registry_add_dir(r, plugins), NDE_OK);
  cr_assert_eq(nde_registry_scan(r), NDE_OK);

  const void *vt = NULL;
  cr_expect_eq(nde_registry_load(r, NDE_KIND_OPTIMIZER, "stepless", &vt), NDE_EPLUGIN);
  cr_expect(strstr(nde_last_error(), "lacks required operation 'step'") != NULL, "%s",
            nde_last_error());
  cr_expect_eq(nde_registry_load(r, NDE_KIND_DATASET, "truncated", &vt), NDE_EPLUGIN);
  cr_expect(strstr(nde_last_error(), "smaller than ABI") != NULL, "%s", nde_last_error());
  if (plugins) { /* the real ones still load */
    cr_expect_eq(nde_registry_load(r, NDE_KIND_OPTIMIZER, "adam", &vt), NDE_OK, "%s",
                 nde_last_error());
    cr_expect_eq(nde_registry_load(r, NDE_KIND_DATASET, "csv", &vt), NDE_OK, "%s",
                 nde_last_error());
  }
  nde_registry_destroy(&r);
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  cr_expect_eq(system(cmd), 0);
}
