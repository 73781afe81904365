/*
 * Pipelines, up to the point where training would start: the file through
 * nde_pipeline_load() (the parser, --set overrides, field checks, plugin
 * lookup), then, for a pipeline it accepts, the checks `nde train` makes
 * before any data moves: the model built from its description (every
 * layer's options validated against its manifest), the optimizer opened
 * with its options, and the dataset's options validated against the
 * dataset's manifest. No data is read and no step is taken.
 *
 * Input: the pipeline file's bytes, optionally followed by NUL-separated
 * override assignments ("train.steps=3"), as given to --set.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "fuzz.h"

/* Features per sample given to the model: MNIST's 784 for idx, else 2 (the spirals, the corpus's CSVs). */
static size_t input_features(const json_t *root) {
  const json_t *ds = json_object_get(json_object_get(root, "data"), "dataset");
  const char *name = json_is_string(ds) ? json_string_value(ds)
                                        : json_string_value(json_object_get(ds, "plugin"));
  return name && !strcmp(name, "idx") ? 784 : 2;
}
/* A model with more parameters than this is described correctly but not allocated. */
#define MAX_PARAMS ((size_t)1 << 22)

static void check_model_and_optimizer(nde_registry *reg, const char *file, json_t *root) {
  json_t *model = json_object_get(root, "model");
  char *model_json = json_dumps(model, JSON_ENCODE_ANY | JSON_COMPACT);
  const char *dt = json_string_value(json_object_get(root, "dtype"));
  nde_dtype dtype = NDE_FLOAT32;
  if (dt && nde_dtype_parse(dt, &dtype) != NDE_OK)
    nde_fuzz_fail("%s: an accepted pipeline has an unknown dtype '%s'", file, dt);
  nde_shape in = nde_shape_vector(input_features(root));
  nde_model *m = NULL;
  nde_status st = nde_model_build(reg, model_json ? model_json : "null", "model", &in,
                                  nde_fuzz_backend(), dtype, &m);
  free(model_json);
  nde_fuzz_expect_message(st, "nde_model_build");
  size_t np = m ? nde_model_param_count(m) : 0;
  if (m) {
    /* the layout must tile the parameter vector */
    size_t total = 0;
    for (size_t i = 0; i < nde_model_block_count(m); ++i) {
      const nde_layout_entry *e = nde_model_block(m, i);
      if (!e || !e->name || e->offset + e->size > np)
        nde_fuzz_fail("%s: layout block %zu lies outside the %zu parameters", file, i, np);
      total += e->size;
    }
    if (total != np)
      nde_fuzz_fail("%s: layout blocks cover %zu of %zu parameters", file, total, np);
    nde_model_destroy(&m);
  }

  json_t *opt = json_object_get(root, "optimizer");
  const char *name = json_is_string(opt) ? json_string_value(opt)
                                         : json_string_value(json_object_get(opt, "plugin"));
  if (!name)
    nde_fuzz_fail("%s: an accepted pipeline has no optimizer name", file);
  char *opt_json = json_is_object(opt) ? json_dumps(opt, JSON_COMPACT) : NULL;
  nde_optimizer *o = NULL;
  st = nde_optimizer_open(reg, name, opt_json, nde_fuzz_backend(), dtype,
                          np && np < MAX_PARAMS ? np : 16, "optimizer", &o);
  free(opt_json);
  nde_fuzz_expect_message(st, "nde_optimizer_open");
  nde_optimizer_destroy(&o);
}

static void check_dataset_options(nde_registry *reg, json_t *root) {
  json_t *data = json_object_get(root, "data");
  json_t *ds = json_object_get(data, "dataset");
  const char *name = json_is_string(ds) ? json_string_value(ds)
                                        : json_string_value(json_object_get(ds, "plugin"));
  const nde_plugin *plugin;
  if (!name || nde_registry_find(reg, NDE_KIND_DATASET, name, &plugin) != NDE_OK)
    nde_fuzz_fail("an accepted pipeline names no known dataset");
  json_t *given = json_deep_copy(json_is_object(ds) ? ds : data);
  json_object_del(given, "dataset");
  json_object_del(given, "plugin");
  json_object_del(given, "batch_size");
  char *text = json_dumps(given, JSON_COMPACT);
  json_decref(given);
  nde_options *parsed = NULL, *filled = NULL;
  nde_status st = nde_options_parse(text ? text : "{}", &parsed);
  free(text);
  nde_fuzz_expect_message(st, "nde_options_parse");
  if (st == NDE_OK) {
    st = nde_plugin_options(plugin, parsed, "data", &filled);
    nde_fuzz_expect_message(st, "nde_plugin_options");
  }
  nde_options_destroy(&filled);
  nde_options_destroy(&parsed);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const uint8_t *nul = memchr(data, 0, size);
  size_t json_size = nul ? (size_t)(nul - data) : size;
  const char *path = nde_fuzz_write(0, "pipeline.json", data, json_size);

  /* overrides: NUL-separated, at most 8 */
  char *rest = NULL;
  const char *overrides[8];
  size_t n_overrides = 0;
  if (nul) {
    size_t n = size - json_size - 1;
    rest = malloc(n + 1);
    memcpy(rest, nul + 1, n);
    rest[n] = '\0';
    for (char *s = rest; s < rest + n && n_overrides < 8; s += strlen(s) + 1)
      overrides[n_overrides++] = s;
  }

  nde_registry *reg = nde_fuzz_registry();
  nde_pipeline *p = NULL;
  nde_status st = nde_pipeline_load(reg, path, overrides, n_overrides, &p);
  nde_fuzz_expect_message(st, "nde_pipeline_load");
  if (st == NDE_OK) {
    const char *text = nde_pipeline_json(p);
    json_error_t err;
    json_t *root = text ? json_loads(text, 0, &err) : NULL;
    if (!json_is_object(root))
      nde_fuzz_fail("an accepted pipeline does not print as a JSON object");
    check_model_and_optimizer(reg, path, root);
    check_dataset_options(reg, root);
    json_decref(root);
    nde_pipeline_destroy(&p);
  }
  /* the override parser on its own, over the same text */
  for (size_t i = 0; i < n_overrides; ++i) {
    char *out = NULL;
    char *text = malloc(json_size + 1);
    memcpy(text, data, json_size);
    text[json_size] = '\0';
    st = nde_pipeline_override(text, overrides[i], &out);
    nde_fuzz_expect_message(st, "nde_pipeline_override");
    free(out);
    free(text);
  }
  free(rest);
  return 0;
}
