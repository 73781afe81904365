/*
 * End-to-end training through the `nde` command: pipeline field errors with
 * their JSON path, Fashion-MNIST accuracy in a short run, checkpoints that
 * `nde eval` scores, and resume-after-kill giving the same metrics as an
 * uninterrupted run. Skipped when the Fashion-MNIST files are absent.
 */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include <nde/safetensors.h>

#define FASHION "/usr/share/datasets/fashion-mnist"

static int have_fashion(void) {
  return access(FASHION "/train-images-idx3-ubyte.gz", R_OK) == 0 &&
         access(FASHION "/t10k-labels-idx1-ubyte.gz", R_OK) == 0;
}

static char nde_bin[4096], example[4096], workdir[4096];

static void setup(void) {
  const char *b = getenv("NDE_TEST_BUILDDIR"), *s = getenv("NDE_TEST_SRCDIR");
  snprintf(nde_bin, sizeof nde_bin, "%s/nde", b ? b : NDE_TEST_BUILDDIR);
  snprintf(example, sizeof example, "%s/../examples/mlp-fashion-mnist.json",
           s ? s : NDE_TEST_SRCDIR);
  snprintf(workdir, sizeof workdir, "%s/tests/train-runs.%d", b ? b : NDE_TEST_BUILDDIR,
           (int)getpid());
  mkdir(workdir, 0777);
}

static void teardown(void) {
  char cmd[8192];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", workdir);
  if (system(cmd) != 0)
    cr_log_warn("could not remove %s", workdir);
}

TestSuite(train, .init = setup, .fini = teardown, .timeout = 300);

/* Run a shell command; capture stdout and stderr; return the exit status. */
static int run(const char *cmd, char *out, size_t cap) {
  char full[16384];
  snprintf(full, sizeof full, "OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 %s 2>&1", cmd);
  FILE *f = popen(full, "r");
  cr_assert_not_null(f);
  size_t n = fread(out, 1, cap - 1, f);
  out[n] = 0;
  int status = pclose(f);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void expect_field_error(const char *sets, const char *needle) {
  char cmd[8192], out[8192];
  snprintf(cmd, sizeof cmd, "%s train %s %s", nde_bin, example, sets);
  int code = run(cmd, out, sizeof out);
  cr_expect_eq(code, 2, "%s: exit %d: %s", sets, code, out);
  cr_expect(strstr(out, needle) != NULL, "%s: message '%s' lacks '%s'", sets, out, needle);
  cr_expect(strstr(out, "mlp-fashion-mnist.json") != NULL, "message names the file: %s", out);
}

Test(train, bad_fields_name_their_json_path) {
  expect_field_error("--set train.stepz=5", "train.stepz: unknown field; did you mean 'steps'?");
  expect_field_error("--set train.steps=0", "train.steps: must be >= 1");
  expect_field_error("--set data.batch_size=-3", "data.batch_size");
  expect_field_error("--set optimizer.plugin=adamm", "did you mean 'adam'");
  expect_field_error("--set loss=crossentropy", "loss");
  expect_field_error("--set dtype=float16", "dtype");
  expect_field_error("--set seeed=1", "seeed: unknown field; did you mean 'seed'?");
  if (have_fashion()) { /* these need the data to know the input size */
    expect_field_error("--set model.chain[0].out=0", "model.chain[0].out");
    expect_field_error("--set model.chain[1].layer=dens", "model.chain[1]");
    expect_field_error("--set model.chain[1].out=7", "10 classes");
    expect_field_error("--set optimizer.b1=2", "optimizer.b1");
  }
}

static json_t *parse_json(const char *text) {
  const char *brace = strchr(text, '{');
  cr_assert_not_null(brace, "no JSON in: %s", text);
  json_error_t e;
  json_t *j = json_loads(brace, JSON_DISABLE_EOF_CHECK, &e);
  cr_assert_not_null(j, "bad JSON (%s) in: %s", e.text, text);
  return j;
}

Test(train, mlp_reaches_84_percent_on_fashion_mnist_and_eval_agrees) {
  if (!have_fashion())
    cr_skip_test("Fashion-MNIST not installed at " FASHION);
  char cmd[8192], out[16384];
  snprintf(cmd, sizeof cmd,
           "%s train %s --set train.steps=1000 --set train.eval_every=0 "
           "--set train.checkpoint=%s/fashion --json",
           nde_bin, example, workdir);
  int code = run(cmd, out, sizeof out);
  cr_assert_eq(code, 0, "%s", out);
  json_t *j = parse_json(out);
  double acc = json_number_value(json_object_get(j, "test_accuracy"));
  cr_expect_eq(json_integer_value(json_object_get(j, "steps")), 1000);
  cr_expect(json_is_number(json_object_get(j, "loss")));
  cr_expect(json_is_number(json_object_get(j, "test_loss")));
  cr_expect(json_is_number(json_object_get(j, "wall_time")));
  cr_expect(acc >= 0.84, "test accuracy %g < 0.84", acc);
  /* the checkpoint scores the same with nde eval */
  snprintf(cmd, sizeof cmd, "%s eval %s --checkpoint %s/fashion/checkpoint.safetensors --json",
           nde_bin, example, workdir);
  code = run(cmd, out, sizeof out);
  cr_assert_eq(code, 0, "%s", out);
  json_t *e = parse_json(out);
  cr_expect_eq(json_integer_value(json_object_get(e, "steps")), 1000);
  cr_expect(fabs(json_number_value(json_object_get(e, "test_accuracy")) - acc) < 1e-12);
  json_decref(e);
  json_decref(j);
  /* the checkpoint: blocks by layout name (row-major shapes), optimizer state, run state */
  char ckpath[8192];
  snprintf(ckpath, sizeof ckpath, "%s/fashion/checkpoint.safetensors", workdir);
  nde_safetensors *st;
  cr_assert_eq(nde_safetensors_read(ckpath, &st), NDE_OK, "%s", nde_last_error());
  const nde_st_tensor *w, *mom;
  cr_assert_eq(nde_safetensors_find(st, "model.chain[0].weight", &w), NDE_OK);
  cr_expect(w->dtype == NDE_ST_F32 && w->ndim == 2 && w->shape[0] == 784 && w->shape[1] == 256);
  cr_assert_eq(nde_safetensors_find(st, "model.chain[1].bias", &w), NDE_OK);
  cr_expect(w->ndim == 1 && w->shape[0] == 10);
  cr_assert_eq(nde_safetensors_find(st, "optimizer.v", &mom), NDE_OK);
  cr_expect_eq(mom->shape[0], 784 * 256 + 256 + 256 * 10 + 10);
  cr_expect_str_eq(nde_safetensors_metadata(st, "step"), "1000");
  cr_expect_str_eq(nde_safetensors_metadata(st, "optimizer"), "adam");
  cr_expect_not_null(nde_safetensors_metadata(st, "rng_counter"));
  nde_safetensors_destroy(&st);
  /* metrics: one JSON object per line with step, loss, accuracy, wall_time */
  char path[8192];
  snprintf(path, sizeof path, "%s/fashion/metrics.jsonl", workdir);
  FILE *f = fopen(path, "r");
  cr_assert_not_null(f);
  char line[4096];
  int lines = 0;
  while (fgets(line, sizeof line, f)) {
    json_t *m = json_loads(line, 0, NULL);
    cr_assert_not_null(m, "bad metrics line %s", line);
    cr_expect(json_is_integer(json_object_get(m, "step")));
    cr_expect(json_is_number(json_object_get(m, "wall_time")));
    if (!json_object_get(m, "test_loss"))
      cr_expect(json_is_number(json_object_get(m, "loss")) &&
                json_is_number(json_object_get(m, "accuracy")));
    json_decref(m);
    ++lines;
  }
  fclose(f);
  cr_expect_eq(lines, 1001); /* 1000 steps + the final evaluation */
}

/* The metrics file without wall times, for comparing runs. */
static char *metrics_without_wall_time(const char *dir) {
  char path[8192];
  snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
  FILE *f = fopen(path, "r");
  cr_assert_not_null(f, "%s", path);
  size_t cap = 1 << 20, used = 0;
  char *all = malloc(cap), line[4096];
  all[0] = 0;
  while (fgets(line, sizeof line, f)) {
    json_t *m = json_loads(line, 0, NULL);
    cr_assert_not_null(m);
    json_object_del(m, "wall_time");
    char *s = json_dumps(m, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
    size_t n = strlen(s);
    if (used + n + 2 > cap)
      all = realloc(all, cap *= 2);
    memcpy(all + used, s, n);
    used += n;
    all[used++] = '\n';
    all[used] = 0;
    free(s);
    json_decref(m);
  }
  fclose(f);
  return all;
}

#define SMALL "--set data.limit=3000 --set train.steps=120 --set train.eval_every=40 " \
              "--set train.checkpoint_every=10 --set data.batch_size=64"

Test(train, resume_after_kill_matches_uninterrupted_run) {
  if (!have_fashion())
    cr_skip_test("Fashion-MNIST not installed at " FASHION);
  char cmd[8192], out[16384], a[4096], b[4096], c[4096];
  snprintf(a, sizeof a, "%s/whole", workdir);
  snprintf(b, sizeof b, "%s/stopped", workdir);
  snprintf(c, sizeof c, "%s/killed", workdir);
  snprintf(cmd, sizeof cmd, "%s train %s " SMALL " --set train.checkpoint=%s", nde_bin, example, a);
  cr_assert_eq(run(cmd, out, sizeof out), 0, "%s", out);
  char *whole = metrics_without_wall_time(a);

  /* stopped after 47 steps: metrics of steps 41..47 were written after the last checkpoint */
  snprintf(cmd, sizeof cmd, "%s train %s " SMALL " --set train.checkpoint=%s --stop-after=47",
           nde_bin, example, b);
  cr_assert_eq(run(cmd, out, sizeof out), 0, "%s", out);
  snprintf(cmd, sizeof cmd, "%s train %s " SMALL " --set train.checkpoint=%s --resume", nde_bin,
           example, b);
  cr_assert_eq(run(cmd, out, sizeof out), 0, "%s", out);
  char *resumed = metrics_without_wall_time(b);
  cr_expect_str_eq(resumed, whole);
  free(resumed);

  /* a real SIGKILL once the first checkpoint exists */
  pid_t pid = fork();
  cr_assert_neq(pid, -1);
  if (pid == 0) {
    char dir[4200];
    snprintf(dir, sizeof dir, "train.checkpoint=%s", c);
    setenv("OMP_NUM_THREADS", "1", 1);
    setenv("OPENBLAS_NUM_THREADS", "1", 1);
    freopen("/dev/null", "w", stdout);
    execl(nde_bin, nde_bin, "train", example, "--set", "data.limit=3000", "--set",
          "train.steps=120", "--set", "train.eval_every=40", "--set", "train.checkpoint_every=10",
          "--set", "data.batch_size=64", "--set", dir, (char *)NULL);
    _exit(127);
  }
  char ck[8192];
  snprintf(ck, sizeof ck, "%s/checkpoint.safetensors", c);
  for (int i = 0; i < 20000 && access(ck, R_OK) != 0; ++i)
    usleep(1000);
  kill(pid, SIGKILL);
  int status;
  waitpid(pid, &status, 0);
  snprintf(cmd, sizeof cmd, "%s train %s " SMALL " --set train.checkpoint=%s --resume", nde_bin,
           example, c);
  cr_assert_eq(run(cmd, out, sizeof out), 0, "%s", out);
  resumed = metrics_without_wall_time(c);
  cr_expect_str_eq(resumed, whole);
  free(resumed);
  free(whole);
}
