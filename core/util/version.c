/* Run-time version of libnde. */
#include "config.h"

#include <nde/version.h>

const char *nde_version(void) { return NDE_VERSION_STRING; }
