/*
 * The plain fuzz driver: main() for a harness when there is no libFuzzer.
 * `make check` runs one program per harness (replay-NAME); each feeds its
 * harness every file of tests/fuzz/corpus/NAME/ and tests/fuzz/crashers/NAME/
 * (sorted, so runs are identical), then NDE_FUZZ_MUTATIONS seeded mutations
 * of them (truncations, bit flips, inserted tokens, deleted or repeated
 * spans, boundary integers): a small deterministic fuzzer that works with any
 * compiler, and under the sanitizer build too.
 *
 *   replay-NAME                  the corpus, the crashers and the mutations
 *   replay-NAME FILE|DIR...      just these inputs, no mutations (to debug one)
 *
 * The summary line goes to stderr (a harness may send stdout to /dev/null).
 * When an input crashes, aborts or trips a sanitizer, the driver names it and
 * writes the bytes to fuzz-crash-NAME in the current folder: copy that file to
 * tests/fuzz/crashers/NAME/ once the bug is fixed.
 */
#include "config.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"

#ifndef NDE_FUZZ_TARGET
#error "NDE_FUZZ_TARGET (the harness's name) must be defined"
#endif
#ifndef NDE_FUZZ_MUTATIONS
#define NDE_FUZZ_MUTATIONS 200
#endif

typedef struct input {
  char *name;
  unsigned char *data;
  size_t size;
} input;

static input *inputs;
static size_t n_inputs, cap_inputs;

/* What is running now, for the crash report (async-signal-safe writes only). */
static const char *current_name = "";
static const unsigned char *current_data;
static size_t current_size;
static char current_label[256];

static void say(const char *s) {
  ssize_t r = write(STDERR_FILENO, s, strlen(s));
  (void)r;
}

/* Write the input now running to fuzz-crash-NAME. */
static void save_current(void) {
  int fd = open("fuzz-crash-" NDE_FUZZ_TARGET, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0)
    return;
  size_t off = 0;
  while (off < current_size) {
    ssize_t w = write(fd, current_data + off, current_size - off);
    if (w <= 0)
      break;
    off += (size_t)w;
  }
  close(fd);
}

static void report_crash(void) {
  say("\nreplay-" NDE_FUZZ_TARGET ": crashed on ");
  say(current_label[0] ? current_label : current_name);
  say("\n");
  if (current_data) {
    save_current();
    say("replay-" NDE_FUZZ_TARGET ": input written to fuzz-crash-" NDE_FUZZ_TARGET "\n");
  }
}

static void on_signal(int sig) {
  report_crash();
  signal(sig, SIG_DFL);
  raise(sig);
}

/* Sanitizer runtimes call this before exiting on a report (weak: absent in plain builds). */
void __sanitizer_set_death_callback(void (*callback)(void)) __attribute__((weak));

static int read_whole(const char *path, unsigned char **data, size_t *size) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return -1;
  size_t cap = 4096, n = 0;
  unsigned char *buf = malloc(cap);
  size_t got;
  while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
    n += got;
    if (n == cap) {
      unsigned char *bigger = realloc(buf, cap *= 2);
      if (!bigger) {
        free(buf);
        buf = NULL;
      }
      buf = bigger;
    }
  }
  fclose(f);
  if (!buf)
    return -1;
  *data = buf;
  *size = n;
  return 0;
}

static void add_file(const char *path) {
  unsigned char *data;
  size_t size;
  if (read_whole(path, &data, &size) != 0) {
    fprintf(stderr, "replay-%s: cannot read %s\n", NDE_FUZZ_TARGET, path);
    exit(1);
  }
  if (n_inputs == cap_inputs) {
    cap_inputs = cap_inputs ? 2 * cap_inputs : 64;
    inputs = realloc(inputs, cap_inputs * sizeof *inputs);
    if (!inputs)
      exit(1);
  }
  inputs[n_inputs].name = strdup(path);
  inputs[n_inputs].data = data;
  inputs[n_inputs].size = size;
  n_inputs++;
}

static int by_name(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every regular file in @p dir, sorted by name; returns how many (-1: no such folder). */
static long add_dir(const char *dir) {
  DIR *d = opendir(dir);
  if (!d)
    return -1;
  char **names = NULL;
  size_t n = 0, cap = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.')
      continue;
    if (n == cap) {
      cap = cap ? 2 * cap : 64;
      names = realloc(names, cap * sizeof *names);
      if (!names)
        exit(1);
    }
    names[n++] = strdup(e->d_name);
  }
  closedir(d);
  qsort(names, n, sizeof *names, by_name);
  long count = 0;
  for (size_t i = 0; i < n; ++i) {
    char path[2048];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, names[i]);
    if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
      add_file(path);
      count++;
    }
    free(names[i]);
  }
  free(names);
  return count;
}

static void run_one(const char *name, const unsigned char *data, size_t size) {
  current_name = name;
  current_data = data;
  current_size = size;
  /* the harness gets a private copy, as under libFuzzer: reads past the end are caught */
  unsigned char *copy = malloc(size ? size : 1);
  if (!copy)
    exit(1);
  memcpy(copy, data, size);
  LLVMFuzzerTestOneInput(copy, size);
  free(copy);
}

/* Tokens worth splicing into any of the formats (JSON, IDX, safetensors, CSV). */
static const char *const tokens[] = {
    "{", "}", "[", "]", ",", ":", "\"", "null", "true", "1e999", "-1", "-0", "1e-300",
    "18446744073709551615", "9223372036854775808", "\\u0000", "..", "/", "\n", ";", "nan",
    "\"dtype\"", "\"shape\"", "\"data_offsets\"", "\"__metadata__\"", "\"plugin\"",
    "\"options\"", "\"tspan\"", "\"saveat\"", "\"u0\"", "\"model\"", "\"chain\""};

static const uint32_t boundaries[] = {0u, 1u, 0x7fu, 0x80u, 0xffu, 0x7fffu, 0xffffu,
                                      0x7fffffffu, 0x80000000u, 0xffffffffu};

/* One seeded mutation of @p in into @p out (capacity @p cap); returns the new size. */
static size_t mutate(nde_rng *rng, const unsigned char *in, size_t n, unsigned char *out,
                     size_t cap) {
  memcpy(out, in, n);
  int rounds = 1 + (int)nde_rng_below(rng, 4);
  for (int r = 0; r < rounds; ++r) {
    switch (nde_rng_below(rng, 6)) {
    case 0: /* truncate */
      n = (size_t)nde_rng_below(rng, n + 1);
      break;
    case 1: /* flip a bit */
      if (n)
        out[nde_rng_below(rng, n)] ^= (unsigned char)(1u << nde_rng_below(rng, 8));
      break;
    case 2: { /* insert a token */
      const char *t = tokens[nde_rng_below(rng, sizeof tokens / sizeof *tokens)];
      size_t at = (size_t)nde_rng_below(rng, n + 1), tl = strlen(t);
      if (n + tl <= cap) {
        memmove(out + at + tl, out + at, n - at);
        memcpy(out + at, t, tl);
        n += tl;
      }
      break;
    }
    case 3: /* delete a span */
      if (n > 2) {
        size_t at = (size_t)nde_rng_below(rng, n - 1);
        size_t k = 1 + (size_t)nde_rng_below(rng, n - at - 1);
        memmove(out + at, out + at + k, n - at - k);
        n -= k;
      }
      break;
    case 4: /* repeat a span */
      if (n > 1) {
        size_t at = (size_t)nde_rng_below(rng, n);
        size_t k = 1 + (size_t)nde_rng_below(rng, n - at < 64 ? n - at : 64);
        if (n + k <= cap) {
          memmove(out + at + k, out + at, n - at);
          n += k;
        }
      }
      break;
    default: /* overwrite 4 bytes with a boundary integer (either byte order) */
      if (n >= 4) {
        uint32_t v = boundaries[nde_rng_below(rng, sizeof boundaries / sizeof *boundaries)];
        size_t at = (size_t)nde_rng_below(rng, n - 3);
        int big = (int)nde_rng_below(rng, 2);
        for (int b = 0; b < 4; ++b)
          out[at + (size_t)b] = (unsigned char)(v >> (8 * (big ? 3 - b : b)));
      }
    }
  }
  return n;
}

static long env_long(const char *name, long fallback) {
  const char *v = getenv(name);
  return v && *v ? strtol(v, NULL, 10) : fallback;
}

int main(int argc, char **argv) {
  signal(SIGABRT, on_signal);
  signal(SIGSEGV, on_signal);
  signal(SIGBUS, on_signal);
  signal(SIGFPE, on_signal);
  signal(SIGILL, on_signal);
  if (__sanitizer_set_death_callback)
    __sanitizer_set_death_callback(report_crash);

  if (argc > 1) { /* just the named inputs */
    for (int i = 1; i < argc; ++i)
      if (add_dir(argv[i]) < 0)
        add_file(argv[i]);
    for (size_t i = 0; i < n_inputs; ++i)
      run_one(inputs[i].name, inputs[i].data, inputs[i].size);
    current_name = "one of the inputs (a leak found at exit)";
    current_data = NULL;
    current_size = 0;
    fprintf(stderr, "replay-%s: %zu inputs: ok\n", NDE_FUZZ_TARGET, n_inputs);
    return 0;
  }

  const char *src = getenv("NDE_TEST_SRCDIR");
  if (!src || !*src)
    src = NDE_TEST_SRCDIR;
  char dir[2048];
  snprintf(dir, sizeof dir, "%s/fuzz/corpus/%s", src, NDE_FUZZ_TARGET);
  long corpus = add_dir(dir);
  if (corpus <= 0) {
    fprintf(stderr, "replay-%s: no seed corpus in %s\n", NDE_FUZZ_TARGET, dir);
    return 1;
  }
  snprintf(dir, sizeof dir, "%s/fuzz/crashers/%s", src, NDE_FUZZ_TARGET);
  long crashers = add_dir(dir);
  /* NDE_FUZZ_ONLY=K: run mutation K alone and keep it in fuzz-crash-NAME (to chase a leak,
   * which is reported only at exit: bisect NDE_FUZZ_MUTATIONS, then look at that one) */
  long only = env_long("NDE_FUZZ_ONLY", -1);
  for (size_t i = 0; i < n_inputs && only < 0; ++i)
    run_one(inputs[i].name, inputs[i].data, inputs[i].size);

  long mutations = env_long("NDE_FUZZ_MUTATIONS", NDE_FUZZ_MUTATIONS);
  nde_rng rng = nde_rng_make((uint64_t)env_long("NDE_FUZZ_SEED", 2026), 19);
  size_t biggest = 0;
  for (size_t i = 0; i < n_inputs; ++i)
    biggest = inputs[i].size > biggest ? inputs[i].size : biggest;
  size_t cap = 2 * biggest + 256;
  unsigned char *buf = malloc(cap);
  if (!buf)
    return 1;
  for (long m = 0; m < mutations; ++m) {
    const input *in = &inputs[(size_t)m % n_inputs];
    size_t n = mutate(&rng, in->data, in->size, buf, cap);
    if (only >= 0 && m != only)
      continue;
    if (only >= 0) {
      current_data = buf;
      current_size = n;
      save_current();
      fprintf(stderr, "replay-%s: mutation %ld of %s written to fuzz-crash-%s\n",
              NDE_FUZZ_TARGET, m, in->name, NDE_FUZZ_TARGET);
    }
    snprintf(current_label, sizeof current_label, "mutation %ld of %s (NDE_FUZZ_SEED=%ld)", m,
             in->name, env_long("NDE_FUZZ_SEED", 2026));
    run_one(in->name, buf, n);
  }
  /* what a sanitizer reports from here on (leaks, at exit) belongs to no single input */
  snprintf(current_label, sizeof current_label,
           "one of the inputs (a leak found at exit: bisect with NDE_FUZZ_MUTATIONS, "
           "then NDE_FUZZ_ONLY)");
  current_data = NULL;
  current_size = 0;
  fprintf(stderr, "replay-%s: %ld corpus inputs, %ld crashers, %ld mutations: ok\n", NDE_FUZZ_TARGET,
         corpus, crashers < 0 ? 0 : crashers, mutations);
  free(buf);
  return 0;
}
