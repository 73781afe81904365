/*
 * Pipelines: reading the JSON file, applying --set overrides, and checking
 * every field before anything runs. Messages read "FILE: PATH: problem".
 */
#include "config.h"

#include <stdarg.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline_impl.h"

static char *dup_string(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d)
    memcpy(d, s, n);
  return d;
}

/* ---------------------------------------------------------------- overrides */

/* Split the next path segment: "name" or "name[3]"; returns the rest after '.' or NULL. */
static nde_status next_segment(const char *path, char *name, size_t cap, long *index,
                               const char **rest) {
  const char *dot = strchr(path, '.');
  size_t len = dot ? (size_t)(dot - path) : strlen(path);
  *index = -1;
  const char *br = memchr(path, '[', len);
  size_t name_len = br ? (size_t)(br - path) : len;
  if (name_len == 0 || name_len >= cap)
    return nde_error(NDE_EINVAL, "bad path segment in '%s'", path);
  memcpy(name, path, name_len);
  name[name_len] = 0;
  if (br) {
    char *end;
    *index = strtol(br + 1, &end, 10);
    if (end == br + 1 || *end != ']' || *index < 0 || end + 1 != path + len)
      return nde_error(NDE_EINVAL, "bad index in path segment '%.*s'", (int)len, path);
  }
  *rest = dot ? dot + 1 : NULL;
  return NDE_OK;
}

static nde_status set_path(json_t *node, const char *path, json_t *value, const char *full) {
  char name[256];
  long index;
  const char *rest = NULL;
  NDE_TRY(next_segment(path, name, sizeof name, &index, &rest));
  if (!json_is_object(node))
    return nde_error(NDE_EINVAL, "--set %s: '%s' is inside a %s, not an object", full, name,
                     nde_json_type_name(node));
  json_t *child = json_object_get(node, name);
  if (index >= 0) {
    if (!json_is_array(child) || (size_t)index >= json_array_size(child))
      return nde_error(NDE_EINVAL, "--set %s: '%s' has no element [%ld]", full, name, index);
    if (!rest)
      return json_array_set(child, (size_t)index, value) ? nde_error(NDE_ENOMEM, "out of memory")
                                                         : NDE_OK;
    return set_path(json_array_get(child, (size_t)index), rest, value, full);
  }
  if (!rest)
    return json_object_set(node, name, value) ? nde_error(NDE_ENOMEM, "out of memory") : NDE_OK;
  if (!child) {
    child = json_object();
    if (!child || json_object_set_new(node, name, child))
      return nde_error(NDE_ENOMEM, "out of memory");
  }
  return set_path(child, rest, value, full);
}

static nde_status apply_override(json_t *root, const char *assignment) {
  const char *eq = strchr(assignment, '=');
  if (!eq || eq == assignment)
    return nde_error(NDE_EINVAL, "--set %s: expected PATH=VALUE (e.g. train.steps=100)",
                     assignment);
  size_t plen = (size_t)(eq - assignment);
  char *path = malloc(plen + 1);
  if (!path)
    return nde_error(NDE_ENOMEM, "out of memory");
  memcpy(path, assignment, plen);
  path[plen] = 0;
  json_t *value = json_loads(eq + 1, JSON_DECODE_ANY, NULL);
  if (!value)
    value = json_string(eq + 1);
  nde_status st = value ? set_path(root, path, value, assignment)
                        : nde_error(NDE_EINVAL, "--set %s: value is not valid UTF-8", assignment);
  json_decref(value);
  free(path);
  return st;
}

nde_status nde_pipeline_override(const char *json_text, const char *assignment, char **out) {
  json_error_t jerr;
  json_t *root = json_loads(json_text, 0, &jerr);
  if (!root)
    return nde_json_error("pipeline", &jerr);
  nde_status st = apply_override(root, assignment);
  if (st == NDE_OK) {
    *out = json_dumps(root, JSON_PRESERVE_ORDER | JSON_COMPACT | JSON_REAL_PRECISION(17));
    if (!*out)
      st = nde_error(NDE_ENOMEM, "out of memory");
  }
  json_decref(root);
  return st;
}

/* ---------------------------------------------------------------- checks */

#define FAIL(path, ...) field_error(p, path, __VA_ARGS__)

static nde_status field_error(const nde_pipeline *p, const char *path, const char *fmt, ...)
    NDE_PRINTF(3, 4);
static nde_status field_error(const nde_pipeline *p, const char *path, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  nde_verror(NDE_EINVAL, fmt, ap);
  va_end(ap);
  return nde_error_prefix(NDE_EINVAL, "%s: %s", p->file, path);
}

static nde_status check_keys(const nde_pipeline *p, const json_t *obj, const char *where,
                             const char *const *keys, size_t n) {
  const char *key;
  const json_t *value;
  json_object_foreach((json_t *)obj, key, value) {
    (void)value;
    int found = 0;
    for (size_t i = 0; i < n && !found; ++i)
      found = !strcmp(keys[i], key);
    if (!found) {
      const char *guess = nde_suggest_name(key, keys, n);
      char path[512];
      snprintf(path, sizeof path, "%s%s%s", where, *where ? "." : "", key);
      return guess ? FAIL(path, "unknown field; did you mean '%s'?", guess)
                   : FAIL(path, "unknown field");
    }
  }
  return NDE_OK;
}

static nde_status get_uint(const nde_pipeline *p, const json_t *obj, const char *key,
                           const char *path, uint64_t lo, uint64_t fallback, int required,
                           uint64_t *out) {
  const json_t *v = json_object_get(obj, key);
  if (!v) {
    if (required)
      return FAIL(path, "required field is missing");
    *out = fallback;
    return NDE_OK;
  }
  if (!json_is_integer(v) || json_integer_value(v) < 0) {
    /* say the value: "got -5", "got 2.5", "got \"ten\"" */
    char *text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    nde_status st = FAIL(path, "expected a non-negative integer, got %.80s%s",
                         text ? text : nde_json_type_name(v),
                         text && strlen(text) > 80 ? "..." : "");
    free(text);
    return st;
  }
  if ((uint64_t)json_integer_value(v) < lo)
    return FAIL(path, "must be >= %llu, got %lld", (unsigned long long)lo,
                (long long)json_integer_value(v));
  *out = (uint64_t)json_integer_value(v);
  return NDE_OK;
}

/* An optional number > 0 (0 when absent: off). */
static nde_status get_positive(const nde_pipeline *p, const json_t *obj, const char *key,
                               const char *path, double *out) {
  const json_t *v = json_object_get(obj, key);
  *out = 0;
  if (!v)
    return NDE_OK;
  if (!json_is_number(v) || !(json_number_value(v) > 0) || !isfinite(json_number_value(v))) {
    char *text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    nde_status st = FAIL(path, "expected a finite number > 0, got %.80s", text ? text : "?");
    free(text);
    return st;
  }
  *out = json_number_value(v);
  return NDE_OK;
}

/* A plugin given as "name" or {"plugin": "name", ...options}. */
static nde_status plugin_ref(nde_pipeline *p, const json_t *v, const char *path, const char *key,
                             nde_plugin_kind kind, const char **name, char **options) {
  *options = NULL;
  if (json_is_string(v)) {
    *name = json_string_value(v);
  } else if (json_is_object(v)) {
    const json_t *n = json_object_get(v, key);
    if (!json_is_string(n)) {
      char sub[256];
      snprintf(sub, sizeof sub, "%s.%s", path, key);
      return FAIL(sub, "expected the %s plugin's name", nde_plugin_kind_name(kind));
    }
    *name = json_string_value(n);
    *options = json_dumps(v, JSON_PRESERVE_ORDER | JSON_COMPACT | JSON_REAL_PRECISION(17));
  } else {
    return FAIL(path, "expected a plugin name or an object with \"%s\"", key);
  }
  const nde_plugin *plugin;
  nde_status st = nde_registry_find(p->registry, kind, *name, &plugin);
  if (st != NDE_OK)
    return nde_error_prefix(st, "%s: %s", p->file, path);
  return NDE_OK;
}

static nde_status check_pipeline(nde_pipeline *p) {
  const json_t *root = p->root;
  if (!json_is_object(root))
    return FAIL("(top level)", "a pipeline is a JSON object");
  static const char *const top[] = {"seed", "backend", "dtype", "data", "model",
                                    "loss", "optimizer", "train", "description"};
  NDE_TRY(check_keys(p, root, "", top, sizeof top / sizeof *top));
  NDE_TRY(get_uint(p, root, "seed", "seed", 0, 0, 0, &p->seed));

  const json_t *be = json_object_get(root, "backend");
  p->backend_name = "cpu";
  if (be)
    NDE_TRY(plugin_ref(p, be, "backend", "plugin", NDE_KIND_BACKEND, &p->backend_name,
                       &p->backend_options));
  if (p->backend_options) { /* the backend's own options, without "plugin" */
    json_t *o = json_loads(p->backend_options, 0, NULL);
    json_object_del(o, "plugin");
    free(p->backend_options);
    p->backend_options = json_dumps(o, JSON_COMPACT);
    json_decref(o);
  }

  const json_t *dt = json_object_get(root, "dtype");
  p->dtype = NDE_FLOAT32;
  if (dt) {
    if (!json_is_string(dt))
      return FAIL("dtype", "expected \"float32\" or \"float64\"");
    nde_status st = nde_dtype_parse(json_string_value(dt), &p->dtype);
    if (st != NDE_OK)
      return nde_error_prefix(st, "%s: dtype", p->file);
  }

  const json_t *data = json_object_get(root, "data");
  if (!json_is_object(data))
    return FAIL("data", data ? "expected an object" : "required field is missing");
  const json_t *ds = json_object_get(data, "dataset");
  if (!ds)
    return FAIL("data.dataset", "required field is missing (a dataset plugin name)");
  char *ds_options = NULL; /* not kept: the dataset reads "data" whole */
  nde_status ds_st = plugin_ref(p, ds, "data.dataset", "plugin", NDE_KIND_DATASET,
                                &p->dataset_name, &ds_options);
  free(ds_options);
  NDE_TRY(ds_st);
  uint64_t bs, ebs;
  NDE_TRY(get_uint(p, data, "batch_size", "data.batch_size", 1, 32, 0, &bs));
  p->batch_size = (size_t)bs;
  p->data_json = json_dumps(data, JSON_PRESERVE_ORDER | JSON_COMPACT | JSON_REAL_PRECISION(17));

  const json_t *model = json_object_get(root, "model");
  if (!model)
    return FAIL("model", "required field is missing");
  p->model_json = json_dumps(model, JSON_PRESERVE_ORDER | JSON_COMPACT | JSON_ENCODE_ANY |
                                        JSON_REAL_PRECISION(17));

  const json_t *loss = json_object_get(root, "loss");
  p->loss = NDE_LOSS_CROSS_ENTROPY;
  if (loss) {
    if (!json_is_string(loss))
      return FAIL("loss", "expected \"cross_entropy\", \"mse\" or \"masked_mse\"");
    nde_status st = nde_loss_parse(json_string_value(loss), &p->loss);
    if (st != NDE_OK)
      return nde_error_prefix(st, "%s: loss", p->file);
  }

  const json_t *opt = json_object_get(root, "optimizer");
  if (!opt)
    return FAIL("optimizer", "required field is missing (e.g. {\"plugin\": \"adam\", \"lr\": 1e-3})");
  NDE_TRY(plugin_ref(p, opt, "optimizer", "plugin", NDE_KIND_OPTIMIZER, &p->optimizer_name,
                     &p->optimizer_json));

  const json_t *train = json_object_get(root, "train");
  if (!json_is_object(train))
    return FAIL("train", train ? "expected an object" : "required field is missing");
  static const char *const tkeys[] = {"steps", "eval_every", "eval_batch_size", "checkpoint",
                                      "checkpoint_every", "metrics", "log_every",
                                      "clip_grad_norm"};
  NDE_TRY(check_keys(p, train, "train", tkeys, sizeof tkeys / sizeof *tkeys));
  NDE_TRY(get_uint(p, train, "steps", "train.steps", 1, 0, 1, &p->steps));
  NDE_TRY(get_uint(p, train, "eval_every", "train.eval_every", 0, 0, 0, &p->eval_every));
  NDE_TRY(get_uint(p, train, "eval_batch_size", "train.eval_batch_size", 1, p->batch_size, 0,
                   &ebs));
  p->eval_batch_size = (size_t)ebs;
  NDE_TRY(get_uint(p, train, "checkpoint_every", "train.checkpoint_every", 1,
                   p->eval_every ? p->eval_every : p->steps, 0, &p->checkpoint_every));
  NDE_TRY(get_uint(p, train, "log_every", "train.log_every", 1, 1, 0, &p->log_every));
  NDE_TRY(get_positive(p, train, "clip_grad_norm", "train.clip_grad_norm", &p->clip_grad_norm));
  const json_t *ck = json_object_get(train, "checkpoint");
  if (ck && !json_is_string(ck))
    return FAIL("train.checkpoint", "expected a directory name");
  p->checkpoint_dir = ck && json_string_length(ck) ? json_string_value(ck) : NULL;
  const json_t *metrics = json_object_get(train, "metrics");
  if (metrics && !json_is_string(metrics))
    return FAIL("train.metrics", "expected a file name");
  if (metrics && json_string_length(metrics)) {
    p->metrics_path = dup_string(json_string_value(metrics));
  } else if (p->checkpoint_dir) {
    size_t n = strlen(p->checkpoint_dir) + 16;
    p->metrics_path = malloc(n);
    if (p->metrics_path)
      snprintf(p->metrics_path, n, "%s/metrics.jsonl", p->checkpoint_dir);
  }
  return NDE_OK;
}

nde_status nde_pipeline_load(nde_registry *registry, const char *path,
                             const char *const *overrides, size_t n_overrides,
                             nde_pipeline **out) {
  *out = NULL;
  json_t *root;
  NDE_TRY(nde_json_load_file(path, &root));
  for (size_t i = 0; i < n_overrides; ++i) {
    nde_status st = apply_override(root, overrides[i]);
    if (st != NDE_OK) {
      json_decref(root);
      return nde_error_prefix(st, "%s", path);
    }
  }
  nde_pipeline *p = calloc(1, sizeof *p);
  if (!p) {
    json_decref(root);
    return nde_error(NDE_ENOMEM, "out of memory");
  }
  p->root = root;
  p->file = dup_string(path);
  p->registry = registry ? registry : nde_registry_default();
  p->text = json_dumps(root, JSON_PRESERVE_ORDER | JSON_INDENT(2) | JSON_REAL_PRECISION(17));
  nde_status st = check_pipeline(p);
  return NDE_HAND_OVER(st, p, out, nde_pipeline_destroy);
}

void nde_pipeline_destroy(nde_pipeline **pipeline) {
  if (!pipeline || !*pipeline)
    return;
  nde_pipeline *p = *pipeline;
  json_decref(p->root);
  free(p->file);
  free(p->text);
  free(p->backend_options);
  free(p->data_json);
  free(p->model_json);
  free(p->optimizer_json);
  free(p->metrics_path);
  free(p);
  *pipeline = NULL;
}

const char *nde_pipeline_json(const nde_pipeline *pipeline) { return pipeline->text; }
