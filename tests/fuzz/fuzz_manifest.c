/*
 * Plugin manifests: the bytes are a manifest file in a folder of its own,
 * scanned as the registry scans a plugin folder (nothing is loaded). Every
 * input must end as exactly one available plugin or exactly one refused
 * manifest whose message names the file; an accepted plugin must answer
 * every accessor and fill its options' defaults.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static char folder[1024];
  if (!folder[0]) {
    snprintf(folder, sizeof folder, "%s/manifests", nde_fuzz_dir());
    if (mkdir(folder, 0700) != 0)
      nde_fuzz_fail("cannot create %s", folder);
    nde_fuzz_write(1, "manifests/lib.so", "", 0); /* the library the seeds name: never loaded */
  }
  nde_fuzz_write(0, "manifests/m.json", data, size);

  nde_registry *reg;
  if (nde_registry_create(&reg) != NDE_OK || nde_registry_add_dir(reg, folder) != NDE_OK)
    nde_fuzz_fail("registry: %s", nde_last_error());
  if (nde_registry_scan(reg) != NDE_OK)
    nde_fuzz_fail("scan failed on a folder with one manifest: %s", nde_last_error());
  size_t plugins = nde_registry_count(reg), problems = nde_registry_problem_count(reg);
  if (plugins + problems != 1)
    nde_fuzz_fail("%zu plugins and %zu problems from one manifest", plugins, problems);
  if (problems) {
    const char *msg = nde_registry_problem_message(reg, 0);
    if (!msg || !strstr(msg, "m.json"))
      nde_fuzz_fail("the refusal does not name the file: %s", msg ? msg : "(null)");
  } else {
    const nde_plugin *p = nde_registry_at(reg, 0);
    if (!nde_plugin_name(p) || !nde_plugin_summary(p) || !nde_plugin_version(p) ||
        !nde_plugin_manifest_path(p) || !nde_plugin_capabilities(p) || !nde_plugin_option_specs(p))
      nde_fuzz_fail("an accepted manifest lacks an accessor's value");
    if (!nde_plugin_kind_name(nde_plugin_kind_of(p)))
      nde_fuzz_fail("an accepted manifest has no kind name");
    char *text = nde_plugin_manifest_json(p);
    if (!text)
      nde_fuzz_fail("an accepted manifest does not print");
    free(text);
    /* every declared default must pass the manifest's own checks */
    nde_options *filled = NULL;
    nde_status st = nde_plugin_options(p, NULL, "fuzz", &filled);
    nde_fuzz_expect_message(st, "nde_plugin_options");
    if (st == NDE_OK) {
      char *json = nde_options_to_json(filled);
      free(json);
    }
    nde_options_destroy(&filled);
  }
  nde_registry_destroy(&reg);
  return 0;
}
