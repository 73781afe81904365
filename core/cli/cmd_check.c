/* `nde check`: the conformance suite (core/check/) over named or all plugins. */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../check/check.h"
#include "cli.h"

static int check_help(void) {
  printf("Usage: nde check [NAME...|--all] [--kind KIND] [--json]\n"
         "\n"
         "Test plugins against what their manifests claim (docs/conformance.md):\n"
         "an ode_solver's order (fixed step, linear and nonlinear problems),\n"
         "tolerance proportionality, dense-output order, FSAL evaluation counts,\n"
         "stiffness estimate and reverse step; an sde_solver's strong order on\n"
         "geometric Brownian motion and reverse step; nonlinear and linear solvers\n"
         "on small problem sets; a layer's vjp and jvp against finite differences;\n"
         "the gradient a sensitivity or a regularizer gives a neural_ode or deq\n"
         "against finite differences; an optimizer on a convex quadratic; backends\n"
         "and synthetic datasets minimally. Every plugin is first loaded and its\n"
         "vtable checked. One line per check: PASS, FAIL or SKIP (not claimed, or\n"
         "no test for it), with the measured value against the claim.\n"
         "\n"
         "  NAME...      plugins to check (every kind with that name)\n"
         "  --all        every plugin on the search path, and every refused manifest\n"
         "  --kind KIND  only plugins of this kind\n"
         "  --json       print {plugins: [{name, kind, results: [{check, verdict,\n"
         "               measured, claimed, tolerance, detail}]}], passed, failed,\n"
         "               skipped} on stdout\n"
         "\n"
         "A third party checks its own plugin with\n"
         "  nde --plugin-dir DIR check NAME\n"
         "Exit status: 0 when nothing failed, 1 when a check failed, 2 bad input.\n");
  return NDE_EXIT_OK;
}

typedef struct sink_state {
  int as_json;
  json_t *results; /* of the plugin being checked (--json) */
} sink_state;

static json_t *number_or_null(double v) { return isfinite(v) ? json_real(v) : json_null(); }

static void sink(void *user, const nde_check_result *r) {
  sink_state *s = user;
  if (s->as_json) {
    json_t *o = json_object();
    json_object_set_new(o, "check", json_string(r->check));
    json_object_set_new(o, "verdict", json_string(nde_check_verdict_name(r->verdict)));
    json_object_set_new(o, "measured", number_or_null(r->measured));
    json_object_set_new(o, "claimed", number_or_null(r->claimed));
    json_object_set_new(o, "tolerance", number_or_null(r->tolerance));
    json_object_set_new(o, "detail", json_string(r->detail));
    json_array_append_new(s->results, o);
    return;
  }
  printf("%s  %-16s %-22s %-20s %s\n", nde_check_verdict_name(r->verdict), r->kind, r->plugin,
         r->check, r->detail);
  fflush(stdout);
}

int nde_cmd_check(nde_cli *cli, int argc, char **argv) {
  int as_json = 0, all = 0, kind_filter = -1, nnames = 0;
  char **names = calloc((size_t)argc + 1, sizeof *names);
  if (!names)
    return NDE_EXIT_INTERNAL;
  int code = NDE_EXIT_OK;
  for (int i = 1; i < argc; ++i) {
    if (!strcmp(argv[i], "--json"))
      as_json = 1;
    else if (!strcmp(argv[i], "--all"))
      all = 1;
    else if (!strcmp(argv[i], "--kind") && i + 1 < argc) {
      nde_plugin_kind k;
      nde_status st = nde_plugin_kind_parse(argv[++i], &k);
      if (st != NDE_OK) {
        free(names);
        return nde_cli_fail(st);
      }
      kind_filter = (int)k;
    } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      free(names);
      return check_help();
    } else if (argv[i][0] == '-') {
      free(names);
      return nde_cli_usage_error("check: unknown option '%s' (see 'nde check --help')", argv[i]);
    } else {
      names[nnames++] = argv[i];
    }
  }
  if (!all && nnames == 0 && kind_filter < 0) {
    free(names);
    return nde_cli_usage_error("check: name plugins, or give --all or --kind (see 'nde check "
                               "--help')");
  }
  if (all && nnames) {
    free(names);
    return nde_cli_usage_error("check: --all and plugin names exclude each other");
  }
  nde_registry *reg = cli->registry;
  /* every named plugin must exist (with a did-you-mean otherwise) */
  for (int n = 0; n < nnames; ++n) {
    int found = 0;
    for (size_t i = 0; i < nde_registry_count(reg); ++i)
      found |= !strcmp(nde_plugin_name(nde_registry_at(reg, i)), names[n]);
    if (!found) {
      const nde_plugin *p;
      nde_status st = nde_registry_find_any(reg, names[n], &p);
      free(names);
      return nde_cli_fail(st == NDE_OK ? NDE_ENOTFOUND : st);
    }
  }
  json_t *plugins = as_json ? json_array() : NULL;
  sink_state s = {as_json, NULL};
  int pass = 0, fail = 0, skip = 0, checked = 0;
  for (size_t i = 0; i < nde_registry_count(reg) && code == NDE_EXIT_OK; ++i) {
    const nde_plugin *p = nde_registry_at(reg, i);
    if (kind_filter >= 0 && (int)nde_plugin_kind_of(p) != kind_filter)
      continue;
    int wanted = all || nnames == 0;
    for (int n = 0; n < nnames; ++n)
      wanted |= !strcmp(nde_plugin_name(p), names[n]);
    if (!wanted)
      continue;
    s.results = as_json ? json_array() : NULL;
    nde_check_run run = {.registry = reg, .plugin = p, .sink = sink, .user = &s};
    nde_status st = nde_check_plugin(&run);
    if (st != NDE_OK)
      code = nde_cli_fail(st);
    pass += run.npass, fail += run.nfail, skip += run.nskip, ++checked;
    if (as_json) {
      json_t *o = json_object();
      json_object_set_new(o, "name", json_string(nde_plugin_name(p)));
      json_object_set_new(o, "kind", json_string(nde_plugin_kind_name(nde_plugin_kind_of(p))));
      json_object_set_new(o, "manifest", json_string(nde_plugin_manifest_path(p)));
      json_object_set_new(o, "results", s.results);
      json_object_set_new(o, "passed", json_integer(run.npass));
      json_object_set_new(o, "failed", json_integer(run.nfail));
      json_object_set_new(o, "skipped", json_integer(run.nskip));
      json_array_append_new(plugins, o);
    }
  }
  /* a refused manifest is a plugin that cannot even be listed: a failure of --all */
  json_t *refused = as_json ? json_array() : NULL;
  for (size_t i = 0; all && kind_filter < 0 && i < nde_registry_problem_count(reg); ++i) {
    ++fail;
    if (as_json)
      json_array_append_new(refused, json_string(nde_registry_problem_message(reg, i)));
    else
      printf("FAIL  %-16s %-22s %-20s %s\n", "-", nde_registry_problem_path(reg, i), "manifest",
             nde_registry_problem_message(reg, i));
  }
  if (as_json) {
    json_t *root = json_object();
    json_object_set_new(root, "plugins", plugins);
    json_object_set_new(root, "refused", refused);
    json_object_set_new(root, "passed", json_integer(pass));
    json_object_set_new(root, "failed", json_integer(fail));
    json_object_set_new(root, "skipped", json_integer(skip));
    nde_cli_print_json(root);
  } else {
    printf("\n%d plugin%s checked: %d passed, %d failed, %d skipped\n", checked,
           checked == 1 ? "" : "s", pass, fail, skip);
  }
  free(names);
  if (code != NDE_EXIT_OK)
    return code;
  return fail ? NDE_EXIT_INTERNAL : NDE_EXIT_OK;
}
