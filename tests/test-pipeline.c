/* Pipeline overrides (--set PATH=VALUE) on JSON text. */
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include <nde/train.h>

static void expect_override(const char *in, const char *set, const char *out) {
  char *got = NULL;
  nde_status st = nde_pipeline_override(in, set, &got);
  cr_assert_eq(st, NDE_OK, "%s: %s", set, nde_last_error());
  cr_expect_str_eq(got, out, "--set %s", set);
  free(got);
}

static void expect_failure(const char *in, const char *set, const char *needle) {
  char *got = NULL;
  cr_expect_neq(nde_pipeline_override(in, set, &got), NDE_OK, "--set %s should fail", set);
  cr_expect(strstr(nde_last_error(), needle) != NULL, "'%s' lacks '%s'", nde_last_error(), needle);
  free(got);
}

Test(pipeline, overrides_numbers_strings_objects_and_indices) {
  const char *p = "{\"train\": {\"steps\": 10}, \"model\": {\"chain\": [{\"layer\": \"dense\", \"out\": 3}]}}";
  expect_override(p, "train.steps=100",
                  "{\"train\":{\"steps\":100},\"model\":{\"chain\":[{\"layer\":\"dense\",\"out\":3}]}}");
  expect_override(p, "model.chain[0].activation=tanh",
                  "{\"train\":{\"steps\":10},\"model\":{\"chain\":[{\"layer\":\"dense\",\"out\":3,"
                  "\"activation\":\"tanh\"}]}}");
  expect_override(p, "optimizer.lr={\"cosine\": [0.5, 0.0, 100]}",
                  "{\"train\":{\"steps\":10},\"model\":{\"chain\":[{\"layer\":\"dense\",\"out\":3}]},"
                  "\"optimizer\":{\"lr\":{\"cosine\":[0.5,0.0,100]}}}");
  expect_override(p, "train.checkpoint=", "{\"train\":{\"steps\":10,\"checkpoint\":\"\"},\"model\":"
                  "{\"chain\":[{\"layer\":\"dense\",\"out\":3}]}}");
  expect_override(p, "model.chain[0]=\"tanh\"",
                  "{\"train\":{\"steps\":10},\"model\":{\"chain\":[\"tanh\"]}}");
}

Test(pipeline, bad_overrides_are_reported) {
  const char *p = "{\"train\": {\"steps\": 10}, \"model\": {\"chain\": [\"tanh\"]}}";
  expect_failure(p, "train.steps", "PATH=VALUE");
  expect_failure(p, "=3", "PATH=VALUE");
  expect_failure(p, "model.chain[4].out=3", "no element [4]");
  expect_failure(p, "train.steps.x=3", "not an object");
  expect_failure(p, "model.chain[x].out=3", "bad index");
}
