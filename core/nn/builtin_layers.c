/*
 * The built-in layer types as users see them: their key tables checked
 * against a layer's JSON, and listed by `nde plugins` / `nde plugin NAME`.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nde/model.h>
#include <nde/names.h>

#include "layer_impl.h"

nde_status nde_core_layer_check_keys(const nde_core_layer_type *type, const json_t *spec,
                                     const char *path) {
  if (!json_is_object(spec))
    return NDE_OK;
  const char *key;
  const json_t *value;
  json_object_foreach((json_t *)spec, key, value) {
    (void)value;
    if (!strcmp(key, "layer"))
      continue;
    size_t i = 0;
    while (i < type->n_keys && strcmp(type->keys[i].name, key))
      ++i;
    if (i < type->n_keys)
      continue;
    char list[600] = "";
    const char *names[64];
    size_t n = type->n_keys < 64 ? type->n_keys : 64;
    for (size_t j = 0; j < type->n_keys; ++j) {
      snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", *list ? ", " : "",
               type->keys[j].name);
      if (j < n)
        names[j] = type->keys[j].name;
    }
    const char *near = nde_suggest_name(key, names, n);
    char hint[200] = "";
    if (near)
      snprintf(hint, sizeof hint, "; did you mean '%s'?", near);
    return nde_error(NDE_EINVAL, "%s.%s: unknown key of a %s (it takes %s)%s", path, key,
                     type->name, list, hint);
  }
  return NDE_OK;
}

size_t nde_builtin_layer_count(void) { return nde_core_layer_count(); }

const char *nde_builtin_layer_name(size_t index) {
  const nde_core_layer_type *t = nde_core_layer_at(index);
  return t ? t->name : NULL;
}

const char *nde_builtin_layer_summary(size_t index) {
  const nde_core_layer_type *t = nde_core_layer_at(index);
  return t ? (t->summary ? t->summary : "") : NULL;
}

long nde_builtin_layer_find(const char *name) {
  for (size_t i = 0; name && i < nde_core_layer_count(); ++i)
    if (!strcmp(nde_core_layer_at(i)->name, name))
      return (long)i;
  return -1;
}

/* One key's entry; NULL when out of memory or a table text is not JSON (a bug in the table). */
static json_t *key_json(const nde_core_key *k) {
  json_t *o = json_object();
  if (!o)
    return NULL;
  int bad = json_object_set_new(o, "type", json_string(k->type)) ||
            json_object_set_new(o, "doc", json_string(k->doc));
  if (!bad && k->required)
    bad = json_object_set_new(o, "required", json_true());
  if (!bad && k->def)
    bad = json_object_set_new(o, "default", json_loads(k->def, JSON_DECODE_ANY, NULL));
  if (!bad && k->choices)
    bad = json_object_set_new(o, "choices", json_loads(k->choices, 0, NULL));
  if (bad) {
    json_decref(o);
    return NULL;
  }
  return o;
}

char *nde_builtin_layer_keys_json(size_t index) {
  const nde_core_layer_type *t = nde_core_layer_at(index);
  if (!t)
    return NULL;
  json_t *all = json_object();
  int bad = !all;
  for (size_t i = 0; !bad && i < t->n_keys; ++i) {
    json_t *k = key_json(&t->keys[i]);
    bad = !k || json_object_set_new(all, t->keys[i].name, k);
  }
  char *text = bad ? NULL : json_dumps(all, JSON_COMPACT | JSON_PRESERVE_ORDER);
  json_decref(all);
  return text;
}
