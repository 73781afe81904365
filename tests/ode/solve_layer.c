/*
 * `nde solve` with a network as the right-hand side: a dense layer whose
 * weights (read from a safetensors file) make du/dt = W u a rotation, so the
 * exact solution is known; plus the seeded default and bad parameter files.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include <nde/safetensors.h>

static char dir[256];

static void setup(void) {
  snprintf(dir, sizeof dir, "%s/nde-solve-layer-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
  cr_assert(mkdtemp(dir));
}

static void teardown(void) {
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  cr_expect_eq(system(cmd), 0);
}

TestSuite(solve_layer, .init = setup, .fini = teardown);

/* Run `nde solve FILE --json`; returns the exit status and the parsed stdout (or NULL). */
static int solve(const char *problem_json, json_t **out) {
  const char *build = getenv("NDE_TEST_BUILDDIR") ? getenv("NDE_TEST_BUILDDIR") : NDE_TEST_BUILDDIR;
  char path[512], res[512], cmd[2048];
  snprintf(path, sizeof path, "%s/problem.json", dir);
  snprintf(res, sizeof res, "%s/out.json", dir);
  FILE *f = fopen(path, "w");
  cr_assert(f);
  fputs(problem_json, f);
  fclose(f);
  snprintf(cmd, sizeof cmd, "'%s/nde' solve '%s' --json > '%s' 2>'%s/err.txt'", build, path, res,
           dir);
  int status = system(cmd);
  *out = json_load_file(res, 0, NULL);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void write_rotation(const char *name_prefix) {
  /* dense weight (out, in) column-major: W = [[0, 1], [-1, 0]] */
  static const double w[4] = {0, -1, 1, 0}, b[2] = {0, 0};
  char wname[128], bname[128], path[512];
  snprintf(wname, sizeof wname, "%s.weight", name_prefix);
  snprintf(bname, sizeof bname, "%s.bias", name_prefix);
  nde_st_tensor t[2] = {{wname, NDE_ST_F64, 2, {2, 2}, w, 0}, {bname, NDE_ST_F64, 1, {2}, b, 0}};
  snprintf(path, sizeof path, "%s/params.safetensors", dir);
  cr_assert_eq(nde_safetensors_write(path, t, 2, NULL, 0), NDE_OK);
}

Test(solve_layer, dense_rotation_matches_the_exact_solution) {
  write_rotation("net");
  char problem[2048];
  snprintf(problem, sizeof problem,
           "{\"problem\": {\"name\": \"layer\", \"dynamics\": {\"layer\": \"dense\", \"out\": 2},"
           " \"parameters\": \"%s/params.safetensors\", \"prefix\": \"net\"},"
           " \"u0\": [1, 0], \"tspan\": [0, 2], \"saveat\": [0, 1, 2],"
           " \"solver\": {\"plugin\": \"tsit5\", \"abstol\": 1e-10, \"reltol\": 1e-10}}",
           dir);
  json_t *out;
  cr_assert_eq(solve(problem, &out), 0);
  cr_assert_not_null(out);
  json_t *u = json_object_get(out, "u");
  cr_assert_eq(json_array_size(u), 3);
  for (size_t j = 0; j < 3; ++j) {
    double t = (double)j;
    double u1 = json_real_value(json_array_get(json_array_get(u, j), 0));
    double u2 = json_real_value(json_array_get(json_array_get(u, j), 1));
    cr_expect(fabs(u1 - cos(t)) < 1e-8 && fabs(u2 + sin(t)) < 1e-8, "t=%g: (%g, %g)", t, u1, u2);
  }
  json_t *stats = json_object_get(out, "stats");
  long nfe = (long)json_integer_value(json_object_get(stats, "nfe"));
  long acc = (long)json_integer_value(json_object_get(stats, "accepted"));
  long rej = (long)json_integer_value(json_object_get(stats, "rejected"));
  cr_expect(acc > 0);
  cr_expect_eq(nfe, 2 + 6 * (acc + rej), "tsit5 (FSAL): nfe %ld, accepted %ld, rejected %ld", nfe,
               acc, rej);
  json_decref(out);
}

Test(solve_layer, seeded_parameters_and_bad_files) {
  json_t *out;
  const char *seeded =
      "{\"problem\": {\"name\": \"layer\", \"dynamics\": {\"chain\": [{\"layer\": \"dense\","
      " \"out\": 8, \"activation\": \"tanh\"}, {\"layer\": \"dense\", \"out\": 2}]}, \"seed\": 4},"
      " \"u0\": [0.5, -0.5], \"tspan\": [0, 1]}";
  cr_assert_eq(solve(seeded, &out), 0);
  json_t *again;
  cr_assert_eq(solve(seeded, &again), 0);
  cr_expect(json_equal(json_object_get(out, "u"), json_object_get(again, "u")));
  cr_expect_eq(json_integer_value(json_object_get(out, "parameters")), 8 * 2 + 8 + 2 * 8 + 2);
  json_decref(out);
  json_decref(again);

  write_rotation("wrong");
  char problem[1024];
  snprintf(problem, sizeof problem,
           "{\"problem\": {\"name\": \"layer\", \"dynamics\": {\"layer\": \"dense\", \"out\": 2},"
           " \"parameters\": \"%s/params.safetensors\", \"prefix\": \"net\"},"
           " \"u0\": [1, 0], \"tspan\": [0, 1]}",
           dir);
  cr_expect_eq(solve(problem, &out), 2);
  json_decref(out);
  cr_expect_eq(solve("{\"problem\": {\"name\": \"layer\"}, \"u0\": [1], \"tspan\": [0, 1]}", &out),
               2);
  json_decref(out);
  cr_expect_eq(solve("{\"problem\": {\"name\": \"layer\", \"dynamics\": {\"layer\": \"dense\","
                     " \"out\": 3}}, \"u0\": [1, 0], \"tspan\": [0, 1]}",
                     &out),
               2, "dynamics must map the state to its own size");
  json_decref(out);
}
