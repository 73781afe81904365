/* The plugin registry: search path, scanning, lookup, lazy loading. */
#include "config.h"

#include <dirent.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "nde_paths.h"
#include "plugin_kind.h"
#include "registry_impl.h"
#include "tableau_plugin.h"

const char *nde_registry_installed_dir(void) { return NDE_PLUGIN_DIR; }

void nde_plugin_destroy(nde_plugin *p) {
  if (!p)
    return;
  if (p->handle)
    dlclose(p->handle);
  free(p->vtable);
  for (size_t i = 0; i < p->n_shadows; ++i)
    free(p->shadows[i]);
  free(p->shadows);
  json_decref(p->capabilities);
  json_decref(p->options);
  json_decref(p->manifest);
  free(p->name);
  free(p->version);
  free(p->summary);
  free(p->entry);
  free(p->manifest_path);
  free(p->library_path);
  free(p->message);
  free(p);
}

nde_status nde_registry_create(nde_registry **out) {
  nde_registry *r = calloc(1, sizeof *r);
  if (!r)
    return nde_error(NDE_ENOMEM, "out of memory");
  pthread_mutex_init(&r->lock, NULL);
  *out = r;
  return NDE_OK;
}

static void clear_scan(nde_registry *r) {
  for (size_t i = 0; i < r->n_plugins; ++i)
    nde_plugin_destroy(r->plugins[i]);
  free(r->plugins);
  r->plugins = NULL;
  r->n_plugins = 0;
  for (size_t i = 0; i < r->n_problems; ++i) {
    free(r->problems[i].path);
    free(r->problems[i].message);
  }
  free(r->problems);
  r->problems = NULL;
  r->n_problems = 0;
}

void nde_registry_destroy(nde_registry **registry) {
  if (!registry || !*registry)
    return;
  nde_registry *r = *registry;
  clear_scan(r);
  for (size_t i = 0; i < r->n_dirs; ++i)
    free(r->dirs[i]);
  free(r->dirs);
  pthread_mutex_destroy(&r->lock);
  free(r);
  *registry = NULL;
}

nde_status nde_registry_add_dir(nde_registry *r, const char *dir) {
  if (!dir || !*dir)
    return nde_error(NDE_EINVAL, "empty plugin directory");
  char **dirs = realloc(r->dirs, (r->n_dirs + 1) * sizeof *dirs);
  if (!dirs)
    return nde_error(NDE_ENOMEM, "out of memory");
  r->dirs = dirs;
  if (!(r->dirs[r->n_dirs] = strdup(dir)))
    return nde_error(NDE_ENOMEM, "out of memory");
  r->n_dirs++;
  return NDE_OK;
}

nde_status nde_registry_add_default_dirs(nde_registry *r) {
  const char *env = getenv("NDE_PLUGIN_PATH");
  if (env && *env) {
    char *copy = strdup(env);
    if (!copy)
      return nde_error(NDE_ENOMEM, "out of memory");
    char *save = NULL;
    for (char *tok = strtok_r(copy, ":", &save); tok; tok = strtok_r(NULL, ":", &save)) {
      nde_status st = nde_registry_add_dir(r, tok);
      if (st != NDE_OK) {
        free(copy);
        return st;
      }
    }
    free(copy);
  }
  return nde_registry_add_dir(r, NDE_PLUGIN_DIR);
}

static nde_status add_problem(nde_registry *r, const char *path, const char *message) {
  for (size_t i = 0; i < r->n_problems; ++i)
    if (!strcmp(r->problems[i].path, path))
      return NDE_OK; /* the same file reached twice (a folder listed twice) */
  nde_registry_problem *pr = realloc(r->problems, (r->n_problems + 1) * sizeof *pr);
  if (!pr)
    return nde_error(NDE_ENOMEM, "out of memory");
  r->problems = pr;
  pr[r->n_problems].path = strdup(path);
  pr[r->n_problems].message = strdup(message);
  if (!pr[r->n_problems].path || !pr[r->n_problems].message)
    return nde_error(NDE_ENOMEM, "out of memory");
  r->n_problems++;
  return NDE_OK;
}

static nde_plugin *find_exact(const nde_registry *r, nde_plugin_kind kind, const char *name) {
  for (size_t i = 0; i < r->n_plugins; ++i)
    if (r->plugins[i]->kind == kind && !strcmp(r->plugins[i]->name, name))
      return r->plugins[i];
  return NULL;
}

static nde_status consider_manifest(nde_registry *r, const char *path) {
  nde_plugin *p = NULL;
  nde_status st = nde_manifest_read(path, &p);
  if (st == NDE_ENOMEM)
    return st;
  if (st != NDE_OK)
    return add_problem(r, path, nde_last_error());
  nde_plugin *earlier = find_exact(r, p->kind, p->name);
  if (earlier && !strcmp(earlier->manifest_path, p->manifest_path)) {
    nde_plugin_destroy(p); /* the same file reached twice (a folder listed twice): not a copy */
    return NDE_OK;
  }
  for (size_t i = 0; earlier && i < earlier->n_shadows; ++i)
    if (!strcmp(earlier->shadows[i], p->manifest_path)) {
      nde_plugin_destroy(p);
      return NDE_OK;
    }
  if (earlier) {
    /* the first on the search path wins; a later copy is shadowed, not refused */
    char **grown = realloc(earlier->shadows, (earlier->n_shadows + 1) * sizeof *grown);
    if (grown)
      earlier->shadows = grown;
    char *shadow = grown ? p->manifest_path : NULL;
    if (shadow) {
      p->manifest_path = NULL;
      grown[earlier->n_shadows++] = shadow;
    }
    nde_plugin_destroy(p);
    return shadow ? NDE_OK : nde_error(NDE_ENOMEM, "out of memory");
  }
  nde_plugin **plugins = realloc(r->plugins, (r->n_plugins + 1) * sizeof *plugins);
  if (!plugins) {
    nde_plugin_destroy(p);
    return nde_error(NDE_ENOMEM, "out of memory");
  }
  r->plugins = plugins;
  p->registry = r;
  r->plugins[r->n_plugins++] = p;
  return NDE_OK;
}

static int compare_strings(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static int has_json_suffix(const char *name) {
  size_t n = strlen(name);
  return n > 5 && !strcmp(name + n - 5, ".json");
}

/* Manifests directly in @dir and, when @depth > 0, in its subdirectories; sorted by name. */
static nde_status scan_dir(nde_registry *r, const char *dir, int depth) {
  DIR *d = opendir(dir);
  if (!d)
    return NDE_OK; /* a missing directory on the search path is not an error */
  char **names = NULL;
  size_t n = 0;
  nde_status st = NDE_OK;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.')
      continue;
    char **grown = realloc(names, (n + 1) * sizeof *names);
    if (!grown) {
      st = nde_error(NDE_ENOMEM, "out of memory");
      break;
    }
    names = grown;
    if (!(names[n] = strdup(e->d_name))) {
      st = nde_error(NDE_ENOMEM, "out of memory");
      break;
    }
    n++;
  }
  closedir(d);
  if (st == NDE_OK && n > 1)
    qsort(names, n, sizeof *names, compare_strings);
  for (size_t i = 0; i < n && st == NDE_OK; ++i) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, names[i]);
    struct stat sb;
    if (stat(path, &sb) != 0)
      continue;
    if (S_ISDIR(sb.st_mode) && depth > 0)
      st = scan_dir(r, path, depth - 1);
    else if (S_ISREG(sb.st_mode) && has_json_suffix(names[i]))
      st = consider_manifest(r, path);
  }
  for (size_t i = 0; i < n; ++i)
    free(names[i]);
  free(names);
  return st;
}

static int compare_plugins(const void *a, const void *b) {
  const nde_plugin *pa = *(nde_plugin *const *)a, *pb = *(nde_plugin *const *)b;
  if (pa->kind != pb->kind)
    return pa->kind < pb->kind ? -1 : 1;
  return strcmp(pa->name, pb->name);
}

nde_status nde_registry_scan(nde_registry *r) {
  pthread_mutex_lock(&r->lock);
  clear_scan(r);
  nde_status st = NDE_OK;
  for (size_t i = 0; i < r->n_dirs && st == NDE_OK; ++i)
    st = scan_dir(r, r->dirs[i], 1);
  if (r->n_plugins > 1)
    qsort(r->plugins, r->n_plugins, sizeof *r->plugins, compare_plugins);
  pthread_mutex_unlock(&r->lock);
  return st;
}

size_t nde_registry_count(const nde_registry *r) { return r ? r->n_plugins : 0; }

const nde_plugin *nde_registry_at(const nde_registry *r, size_t i) {
  return (r && i < r->n_plugins) ? r->plugins[i] : NULL;
}

size_t nde_registry_problem_count(const nde_registry *r) { return r ? r->n_problems : 0; }

const char *nde_registry_problem_path(const nde_registry *r, size_t i) {
  return (r && i < r->n_problems) ? r->problems[i].path : NULL;
}

const char *nde_registry_problem_message(const nde_registry *r, size_t i) {
  return (r && i < r->n_problems) ? r->problems[i].message : NULL;
}

/* ---------------------------------------------------------------- default */

static pthread_once_t default_once = PTHREAD_ONCE_INIT;
static nde_registry *default_registry;
static char **default_extra_dirs;
static size_t default_n_extra;

nde_status nde_registry_default_add_dir(const char *dir) {
  char **grown = realloc(default_extra_dirs, (default_n_extra + 1) * sizeof *grown);
  if (!grown)
    return nde_error(NDE_ENOMEM, "out of memory");
  default_extra_dirs = grown;
  if (!(grown[default_n_extra] = strdup(dir)))
    return nde_error(NDE_ENOMEM, "out of memory");
  default_n_extra++;
  return NDE_OK;
}

static void make_default(void) {
  nde_registry *r;
  if (nde_registry_create(&r) != NDE_OK)
    return;
  for (size_t i = 0; i < default_n_extra; ++i)
    nde_registry_add_dir(r, default_extra_dirs[i]);
  nde_registry_add_default_dirs(r);
  nde_registry_scan(r);
  default_registry = r;
}

nde_registry *nde_registry_default(void) {
  pthread_once(&default_once, make_default);
  return default_registry;
}

/* ---------------------------------------------------------------- lookup */

static nde_status not_found(const nde_registry *r, int kind, const char *name) {
  const char **names = malloc((r->n_plugins + 1) * sizeof *names);
  size_t n = 0;
  char list[2048] = "";
  size_t used = 0;
  for (size_t i = 0; names && i < r->n_plugins; ++i) {
    if (kind >= 0 && r->plugins[i]->kind != (nde_plugin_kind)kind)
      continue;
    names[n++] = r->plugins[i]->name;
    if (used < sizeof list - 80)
      used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", n > 1 ? ", " : "",
                               r->plugins[i]->name);
  }
  const char *guess = names ? nde_suggest_name(name, names, n) : NULL;
  const char *what = kind >= 0 ? nde_plugin_kind_name((nde_plugin_kind)kind) : "plugin";
  nde_status st;
  if (guess)
    st = nde_error(NDE_ENOTFOUND, "no %s named '%s'; did you mean '%s'?", what, name, guess);
  else if (n > 0)
    st = nde_error(NDE_ENOTFOUND, "no %s named '%s' (available: %s)", what, name, list);
  else
    st = nde_error(NDE_ENOTFOUND,
                   "no %s named '%s' (no %s plugins found; is NDE_PLUGIN_PATH or --plugin-dir "
                   "set?)",
                   what, name, what);
  free(names);
  return st;
}

nde_status nde_registry_find(nde_registry *r, nde_plugin_kind kind, const char *name,
                             const nde_plugin **out) {
  if (!r)
    r = nde_registry_default();
  if (!r)
    return nde_error(NDE_EINTERNAL, "plugin registry unavailable");
  if (!name)
    return nde_error(NDE_EINVAL, "no %s name given", nde_plugin_kind_name(kind));
  const nde_plugin *p = find_exact(r, kind, name);
  if (!p)
    return not_found(r, (int)kind, name);
  *out = p;
  return NDE_OK;
}

nde_status nde_registry_find_any(nde_registry *r, const char *name, const nde_plugin **out) {
  if (!r)
    r = nde_registry_default();
  if (!r)
    return nde_error(NDE_EINTERNAL, "plugin registry unavailable");
  if (!name)
    return nde_error(NDE_EINVAL, "no plugin name given");
  const nde_plugin *found = NULL;
  for (size_t i = 0; i < r->n_plugins; ++i) {
    if (strcmp(r->plugins[i]->name, name))
      continue;
    if (found)
      return nde_error(NDE_EINVAL, "'%s' names a %s and a %s plugin; say which kind with --kind",
                       name, nde_plugin_kind_name(found->kind),
                       nde_plugin_kind_name(r->plugins[i]->kind));
    found = r->plugins[i];
  }
  if (!found)
    return not_found(r, -1, name);
  *out = found;
  return NDE_OK;
}

const char *nde_registry_capable_names(nde_registry *r, int kind, const char *key,
                                       const char *value, char *buf, size_t size) {
  if (!r)
    r = nde_registry_default();
  const nde_plugin *found[64];
  size_t n = 0;
  for (size_t i = 0; r && i < r->n_plugins && n < 64; ++i) {
    const nde_plugin *p = r->plugins[i];
    const json_t *cap = json_object_get(p->capabilities, key);
    int match = 0;
    if (p->kind != (nde_plugin_kind)kind || !cap)
      continue;
    if (!value)
      match = json_is_true(cap);
    else if (json_is_array(cap)) {
      size_t k;
      const json_t *v;
      json_array_foreach(cap, k, v) { match |= json_is_string(v) && !strcmp(json_string_value(v), value); }
    }
    if (match)
      found[n++] = p;
  }
  size_t used = 0;
  buf[0] = '\0';
  for (size_t i = 0; i < n && used < size; ++i)
    used += (size_t)snprintf(buf + used, size - used, "%s%s", i == 0 ? "" : i + 1 == n ? " or " : ", ",
                             found[i]->name);
  if (n == 0)
    snprintf(buf, size, "none on the plugin path");
  return buf;
}

/* ---------------------------------------------------------------- loading */

static nde_status mark_broken(nde_plugin *p, nde_status st, const char *fmt, ...)
    NDE_PRINTF(3, 4);
static nde_status mark_broken(nde_plugin *p, nde_status st, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  nde_verror(st, fmt, ap);
  va_end(ap);
  nde_error_prefix(st, "%s", p->manifest_path);
  free(p->message);
  p->message = strdup(nde_last_error());
  p->state = NDE_PLUGIN_BROKEN;
  if (p->handle) {
    dlclose(p->handle);
    p->handle = NULL;
  }
  return st;
}

/* A data-only plugin: build its vtable from the manifest's tableau; nothing is dlopen'ed. */
static nde_status load_tableau(nde_plugin *p, const void **vtable) {
  void *built = NULL;
  nde_status st = nde_tableau_plugin_build(p->manifest_path, p->name, p->tableau, &built);
  if (st == NDE_OK)
    st = nde_vtable_validate(p->kind, built);
  if (st == NDE_OK)
    st = nde_kind_check_capabilities(p->kind, built, p->capabilities);
  if (st != NDE_OK) {
    free(built);
    return st == NDE_ENOMEM ? st : mark_broken(p, st, "%s", nde_last_error());
  }
  p->vtable = built;
  p->state = NDE_PLUGIN_LOADED;
  *vtable = built;
  return NDE_OK;
}

static nde_status load_locked(nde_plugin *p, const void **vtable) {
  if (p->state == NDE_PLUGIN_LOADED) {
    *vtable = p->vtable;
    return NDE_OK;
  }
  if (p->state == NDE_PLUGIN_BROKEN)
    return nde_error(NDE_EPLUGIN, "%s", p->message);
  if (p->tableau)
    return load_tableau(p, vtable);
  dlerror();
  /*
   * RTLD_NODELETE: a plugin (and what it pulled in, such as the OpenMP
   * runtime whose worker threads outlive any one call) stays mapped until
   * the process exits, so closing a registry can never unmap code that a
   * thread is still running.
   */
  p->handle = dlopen(p->library_path, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
  if (!p->handle) {
    const char *why = dlerror();
    return mark_broken(p, NDE_EPLUGIN, "cannot load the library of %s '%s': %s",
                       nde_plugin_kind_name(p->kind), p->name, why ? why : "unknown error");
  }
  dlerror();
  void *sym = dlsym(p->handle, p->entry);
  if (!sym)
    return mark_broken(p, NDE_EPLUGIN, "entry symbol '%s' of %s '%s' not found in %s", p->entry,
                       nde_plugin_kind_name(p->kind), p->name, p->library_path);
  nde_plugin_entry_fn entry;
  memcpy(&entry, &sym, sizeof entry);
  const nde_plugin_header *h = entry();
  if (!h)
    return mark_broken(p, NDE_EPLUGIN, "entry '%s' of '%s' returned no vtable", p->entry,
                       p->name);
  if (h->abi_version != NDE_ABI_VERSION)
    return mark_broken(p, NDE_EABI,
                       "the library of '%s' was built for ABI %u, but this nde has ABI %d",
                       p->name, h->abi_version, NDE_ABI_VERSION);
  if (h->kind != p->kind)
    return mark_broken(p, NDE_EPLUGIN,
                       "the library of '%s' implements a %s, but the manifest says %s", p->name,
                       nde_plugin_kind_name(h->kind) ? nde_plugin_kind_name(h->kind) : "?",
                       nde_plugin_kind_name(p->kind));
  if (!h->name || strcmp(h->name, p->name))
    return mark_broken(p, NDE_EPLUGIN, "the library calls itself '%s', but the manifest says '%s'",
                       h->name ? h->name : "(null)", p->name);
  if (h->size < sizeof(nde_plugin_header))
    return mark_broken(p, NDE_EPLUGIN, "the vtable of '%s' reports an impossible size %u",
                       p->name, h->size);
  nde_status st = nde_vtable_validate(p->kind, h);
  if (st != NDE_OK)
    return mark_broken(p, st, "%s", nde_last_error());
  /* the core reads libnde's copy: slots past the plugin's size are NULL there */
  if (!(p->vtable = nde_kind_vtable_copy(p->kind, h)))
    return nde_error(NDE_ENOMEM, "out of memory");
  st = nde_kind_check_capabilities(p->kind, p->vtable, p->capabilities);
  if (st != NDE_OK) {
    free(p->vtable);
    p->vtable = NULL;
    return mark_broken(p, st, "%s", nde_last_error());
  }
  p->state = NDE_PLUGIN_LOADED;
  *vtable = p->vtable;
  return NDE_OK;
}

nde_status nde_plugin_load(const nde_plugin *plugin, const void **vtable) {
  nde_plugin *p = (nde_plugin *)plugin;
  pthread_mutex_lock(&p->registry->lock);
  nde_status st = load_locked(p, vtable);
  pthread_mutex_unlock(&p->registry->lock);
  return st;
}

nde_status nde_registry_load(nde_registry *r, nde_plugin_kind kind, const char *name,
                             const void **vtable) {
  const nde_plugin *p;
  NDE_TRY(nde_registry_find(r, kind, name, &p));
  return nde_plugin_load(p, vtable);
}

/* ---------------------------------------------------------------- accessors */

const char *nde_plugin_name(const nde_plugin *p) { return p->name; }
nde_plugin_kind nde_plugin_kind_of(const nde_plugin *p) { return p->kind; }
const char *nde_plugin_version(const nde_plugin *p) { return p->version; }
int nde_plugin_abi(const nde_plugin *p) { return p->abi; }
const char *nde_plugin_summary(const nde_plugin *p) { return p->summary; }
const char *nde_plugin_manifest_path(const nde_plugin *p) { return p->manifest_path; }
const char *nde_plugin_library_path(const nde_plugin *p) { return p->library_path; }

nde_plugin_state nde_plugin_state_of(const nde_plugin *p) {
  pthread_mutex_lock(&p->registry->lock);
  nde_plugin_state s = p->state;
  pthread_mutex_unlock(&p->registry->lock);
  return s;
}

const char *nde_plugin_message(const nde_plugin *p) { return p->message ? p->message : ""; }

size_t nde_plugin_shadow_count(const nde_plugin *p) { return p->n_shadows; }

const char *nde_plugin_shadow_path(const nde_plugin *p, size_t i) {
  return i < p->n_shadows ? p->shadows[i] : NULL;
}

int nde_plugin_warn_shadowed(const nde_plugin *plugin) {
  nde_plugin *p = (nde_plugin *)plugin;
  if (p->n_shadows == 0)
    return 0;
  pthread_mutex_lock(&p->registry->lock);
  int first = !p->warned;
  p->warned = 1;
  pthread_mutex_unlock(&p->registry->lock);
  if (!first)
    return 0;
  fprintf(stderr, "nde: warning: %zu copies of %s '%s' on the plugin path; using %s", p->n_shadows + 1,
          nde_plugin_kind_name(p->kind), p->name, p->manifest_path);
  for (size_t i = 0; i < p->n_shadows; ++i)
    fprintf(stderr, "%s%s", i ? ", " : " (shadows ", p->shadows[i]);
  fprintf(stderr, ")\n");
  return 1;
}

const nde_options *nde_plugin_capabilities(const nde_plugin *p) {
  return nde_options_wrap(p->capabilities);
}

const nde_options *nde_plugin_option_specs(const nde_plugin *p) {
  return nde_options_wrap(p->options);
}

char *nde_plugin_manifest_json(const nde_plugin *p) {
  /* the manifest as written, but with the full option list (the kind's common options merged) */
  json_t *m = json_copy(p->manifest);
  if (!m || json_object_set(m, "options", p->options)) {
    json_decref(m);
    return NULL;
  }
  char *text = json_dumps(m, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
  json_decref(m);
  return text;
}
