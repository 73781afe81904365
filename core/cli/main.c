/* nde: the command-line entry point and subcommand dispatch. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

typedef struct command {
  const char *name;
  nde_cli_command_fn fn;
  const char *summary;
} command;

static const command commands[] = {
#define NDE_COMMAND(name, fn, summary) {name, fn, summary},
#include "commands.def"
#undef NDE_COMMAND
};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

static void print_help(FILE *out) {
  fprintf(out,
          "Usage: nde [--plugin-dir DIR]... COMMAND [ARGS]\n"
          "\n"
          "nde trains and runs neural differential equations (neural ODEs, neural SDEs,\n"
          "deep equilibrium models). Solvers, sensitivity algorithms, regularizers,\n"
          "layers, optimizers, datasets and compute backends are plugins, composed\n"
          "by name in JSON pipelines.\n"
          "\n"
          "Commands:\n");
  for (size_t i = 0; i < N_COMMANDS; ++i)
    fprintf(out, "  %-12s %s\n", commands[i].name, commands[i].summary);
  fprintf(out,
          "\n"
          "Options:\n"
          "  --plugin-dir DIR  search DIR for plugin manifests first (repeatable)\n"
          "  -h, --help        show this help ('nde COMMAND --help' for a command)\n"
          "  -V, --version     show the version\n"
          "\n"
          "Plugins are searched in --plugin-dir folders, then NDE_PLUGIN_PATH\n"
          "(colon-separated), then %s.\n"
          "Exit status: 0 success, 1 the run failed (a solve diverged, a limit was hit),\n"
          "2 bad input, 3 an output could not be written (disk full, permissions),\n"
          "130 interrupted (SIGINT/SIGTERM). See docs/reliability.md.\n",
          nde_registry_installed_dir());
}

static const command *find_command(const char *name) {
  const char *names[N_COMMANDS];
  for (size_t i = 0; i < N_COMMANDS; ++i)
    names[i] = commands[i].name;
  int index = 0;
  if (nde_lookup_name("command", names, N_COMMANDS, name, &index) != NDE_OK)
    return NULL;
  return &commands[index];
}

int main(int argc, char **argv) {
  nde_cli_default_thread_env(argv);
  nde_cli cli = {argv[0], NULL};
  if (nde_cli_rank() > 0 && !freopen("/dev/null", "w", stdout)) /* rank 0 owns stdout */
    return NDE_EXIT_INTERNAL;
  nde_status st = nde_registry_create(&cli.registry);
  if (st != NDE_OK)
    return nde_cli_fail(st);

  /* --plugin-dir may appear anywhere; everything else is the command line proper. */
  char **rest = calloc((size_t)argc + 1, sizeof *rest);
  if (!rest)
    return NDE_EXIT_INTERNAL;
  int n_rest = 0, code = NDE_EXIT_OK;
  for (int i = 1; i < argc; ++i) {
    if (!strcmp(argv[i], "--plugin-dir") || !strncmp(argv[i], "--plugin-dir=", 13)) {
      const char *dir = argv[i][12] == '=' ? argv[i] + 13 : (i + 1 < argc ? argv[++i] : NULL);
      if (!dir || !*dir) {
        code = nde_cli_usage_error("--plugin-dir needs a directory");
        goto done;
      }
      nde_registry_add_dir(cli.registry, dir);
      /* plugins that open others by name (the mpi backend's inner backend) use the default */
      nde_registry_default_add_dir(dir);
    } else {
      rest[n_rest++] = argv[i];
    }
  }
  if (n_rest == 0) {
    print_help(stderr);
    code = NDE_EXIT_INPUT;
  } else if (!strcmp(rest[0], "-h") || !strcmp(rest[0], "--help") || !strcmp(rest[0], "help")) {
    print_help(stdout);
  } else if (!strcmp(rest[0], "-V") || !strcmp(rest[0], "--version")) {
    printf("nde %s (plugin ABI %d, manifest format %d)\n", nde_version(), NDE_ABI_VERSION,
           NDE_MANIFEST_FORMAT);
    nde_cli_print_thread_env(stdout);
  } else {
    const command *cmd = find_command(rest[0]);
    if (!cmd) {
      code = nde_cli_fail(NDE_EINVAL);
      fprintf(stderr, "Run 'nde --help' for the list of commands.\n");
    } else {
      st = nde_registry_add_default_dirs(cli.registry);
      if (st == NDE_OK)
        st = nde_registry_scan(cli.registry);
      code = st == NDE_OK ? cmd->fn(&cli, n_rest, rest) : nde_cli_fail(st);
      for (int i = 1; code != NDE_EXIT_OK && i < n_rest; ++i)
        if (!strcmp(rest[i], "--json")) { /* a script always gets one JSON object */
          nde_cli_json_failure_if_silent(code);
          break;
        }
    }
  }
done:
  /* a result that never reached stdout (a full disk, a closed pipe) is a failure too */
  if (fflush(stdout) != 0 || ferror(stdout)) {
    fprintf(stderr, "nde: cannot write the output to stdout: %s\n",
            errno ? strerror(errno) : "write error");
    if (code == NDE_EXIT_OK)
      code = NDE_EXIT_WRITE;
  }
  free(rest);
  nde_registry_destroy(&cli.registry);
  return code;
}
