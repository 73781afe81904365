/*
 * Fuzzing the manifest reader: thousands of truncations, byte flips and
 * splices of a valid manifest must each end as either a valid plugin or one
 * refused manifest with a message naming the file — never a crash, a hang
 * or a half-registered plugin. Seeded, so failures reproduce.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "copy_file.h"

#include <nde/nde.h>

static const char *valid =
    "{\"nde_manifest\": 1, \"name\": \"fuzzed\", \"kind\": \"backend\", \"version\": \"1.0\", "
    "\"abi\": 1, \"library\": \"backend_cpu.so\", \"entry\": \"nde_plugin_backend_cpu\", "
    "\"summary\": \"fuzz target\", \"capabilities\": {\"order\": 5, \"devices\": [\"cpu\"]}, "
    "\"options\": {\"abstol\": {\"type\": \"number\", \"default\": 1e-6, \"range\": [0, null], "
    "\"doc\": \"tolerance\"}, \"method\": {\"type\": \"string\", \"default\": \"a\", "
    "\"choices\": [\"a\", \"b\"], \"doc\": \"m\"}}}";

static const char *const tokens[] = {"{",    "}",      "[",     "]",    ",",     ":",
                                     "\"",   "null",   "true",  "1e999", "-0",   "\\u0000",
                                     "..",   "/",      "\"abi\"", "999", "\"kind\"", "\n"};

Test(manifest_fuzz, mutations_never_crash_and_always_classify) {
  const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
  char dir[512];
  snprintf(dir, sizeof dir, "%s/nde-fuzz-XXXXXX", tmp);
  cr_assert(mkdtemp(dir));
  const char *build = getenv("NDE_TEST_BUILDDIR") ? getenv("NDE_TEST_BUILDDIR") : NDE_TEST_BUILDDIR;
  char target[1024], link[1024], path[1024];
  snprintf(target, sizeof target, "%s/plugins/backend/cpu/.libs/backend_cpu.so", build);
  snprintf(link, sizeof link, "%s/backend_cpu.so", dir);
  cr_assert_eq(test_copy_file(target, link), 0);
  snprintf(path, sizeof path, "%s/m.json", dir);

  nde_rng rng = nde_rng_make(2026, 11);
  size_t len = strlen(valid);
  char *buf = malloc(4 * len + 64);
  int accepted = 0, refused = 0;
  for (int iter = 0; iter < 3000; ++iter) {
    size_t n = len;
    memcpy(buf, valid, len);
    int mutations = 1 + (int)nde_rng_below(&rng, 4);
    for (int m = 0; m < mutations; ++m) {
      switch (nde_rng_below(&rng, 4)) {
      case 0: /* truncate */
        n = (size_t)nde_rng_below(&rng, n + 1);
        break;
      case 1: /* flip a byte */
        if (n)
          buf[nde_rng_below(&rng, n)] ^= (char)(1u << nde_rng_below(&rng, 8));
        break;
      case 2: { /* insert a JSON-ish token */
        const char *t = tokens[nde_rng_below(&rng, sizeof tokens / sizeof *tokens)];
        size_t at = (size_t)nde_rng_below(&rng, n + 1), tl = strlen(t);
        if (n + tl < 4 * len) {
          memmove(buf + at + tl, buf + at, n - at);
          memcpy(buf + at, t, tl);
          n += tl;
        }
        break;
      }
      default: /* delete a span */
        if (n > 2) {
          size_t at = (size_t)nde_rng_below(&rng, n - 1);
          size_t k = 1 + (size_t)nde_rng_below(&rng, n - at - 1);
          memmove(buf + at, buf + at + k, n - at - k);
          n -= k;
        }
      }
    }
    FILE *f = fopen(path, "wb");
    fwrite(buf, 1, n, f);
    fclose(f);
    nde_registry *reg;
    cr_assert_eq(nde_registry_create(&reg), NDE_OK);
    nde_registry_add_dir(reg, dir);
    cr_assert_eq(nde_registry_scan(reg), NDE_OK);
    size_t plugins = nde_registry_count(reg), problems = nde_registry_problem_count(reg);
    cr_assert_eq(plugins + problems, 1, "iteration %d: %zu plugins, %zu problems", iter, plugins,
                 problems);
    if (problems) {
      refused++;
      cr_assert(strstr(nde_registry_problem_message(reg, 0), "m.json") != NULL,
                "iteration %d: message does not name the file: %s", iter,
                nde_registry_problem_message(reg, 0));
    } else {
      accepted++;
      const nde_plugin *p = nde_registry_at(reg, 0);
      cr_assert(nde_plugin_name(p) && nde_plugin_summary(p) && nde_plugin_version(p));
    }
    nde_registry_destroy(&reg);
  }
  cr_expect(refused > 1000, "only %d mutations refused", refused);
  unlink(path);
  unlink(link);
  rmdir(dir);
  free(buf);
  cr_log_info("%d accepted, %d refused", accepted, refused);
}
