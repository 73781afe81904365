/*
 * TEMPORARY: `nde reproduce-node NAME [--steps N] [--json]` runs the
 * neural-ODE reproductions of reproduce_node.c until `nde reproduce`
 * (core/cli/cmd_reproduce.c) dispatches to them; then this file and its
 * line in commands.def go.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "reproduce.h"

static int reproduce_node_help(void) {
  printf("Usage: nde reproduce-node NAME [--steps N] [--json]\n"
         "\n"
         "Run every row of a thesis table with the pipelines of examples/paper/ and print\n"
         "it next to the thesis's numbers. NAME: fig-5.2, table-6.2.\n"
         "\n"
         "  --steps N  training steps per row (fig-5.2: 1000, table-6.2: 4)\n"
         "  --json     print {\"name\", \"scaled\", \"rows\": [...]}\n");
  return NDE_EXIT_OK;
}

int nde_cmd_reproduce_node(nde_cli *cli, int argc, char **argv) {
  const char *name = NULL;
  long steps = 0;
  int as_json = 0;
  for (int i = 1; i < argc; ++i) {
    const char *s = argv[i];
    if (!strcmp(s, "-h") || !strcmp(s, "--help"))
      return reproduce_node_help();
    if (!strcmp(s, "--json")) {
      as_json = 1;
    } else if (!strcmp(s, "--steps") || !strncmp(s, "--steps=", 8)) {
      const char *v = s[7] == '=' ? s + 8 : (i + 1 < argc ? argv[++i] : NULL);
      char *end;
      steps = v ? strtol(v, &end, 10) : 0;
      if (!v || *end || steps <= 0)
        return nde_cli_usage_error("--steps needs a positive integer");
    } else if (s[0] == '-' && s[1]) {
      return nde_cli_usage_error("reproduce-node: unknown option '%s'", s);
    } else if (!name) {
      name = s;
    } else {
      return nde_cli_usage_error("reproduce-node: one NAME only ('%s' is extra)", s);
    }
  }
  if (!name)
    return nde_cli_usage_error("reproduce-node: needs NAME (fig-5.2 or table-6.2)");
  if (!strcmp(name, "fig-5.2"))
    return nde_reproduce_fig_5_2(cli, steps, as_json);
  if (!strcmp(name, "table-6.2") || !strcmp(name, "table-5.1"))
    return nde_reproduce_table_6_2(cli, steps, as_json);
  return nde_cli_usage_error("reproduce-node: unknown NAME '%s' (fig-5.2, table-6.2)", name);
}
