/* A temporary plugin folder with one good plugin and every kind of broken manifest. */
#ifndef NDE_TEST_PLUGIN_FIXTURE_H
#define NDE_TEST_PLUGIN_FIXTURE_H

#include <stddef.h>

/* One broken manifest: its file name and a phrase its refusal message must contain. */
typedef struct fixture_problem {
  const char *file;
  const char *phrase;
} fixture_problem;

/* Manifests refused at scan time (never become plugins). */
extern const fixture_problem fixture_scan_problems[];
extern const size_t fixture_n_scan_problems;

/* Manifests that scan fine but whose library fails to load: plugin name and phrase. */
extern const fixture_problem fixture_load_problems[];
extern const size_t fixture_n_load_problems;

/* Create the folder (under $TMPDIR) and return its path (static storage). */
const char *fixture_create(void);

/* Remove the folder. */
void fixture_remove(void);

#endif
