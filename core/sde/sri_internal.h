/* Core-private helpers shared by the SRI stepper and its reverse (not installed). */
#ifndef NDE_CORE_SDE_SRI_INTERNAL_H
#define NDE_CORE_SDE_SRI_INTERNAL_H

#include <nde/sde.h>

#include "../registry/tableau_plugin.h"

/** Largest number of stages an SRI tableau may have (the one tableau limit). */
#define NDE_SRI_MAX_STAGES NDE_TABLEAU_MAX_STAGES

/**
 * Which stages' drift (@p uf) and diffusion (@p ug) values a step uses, so
 * unused ones are never evaluated; @p with_err counts the error estimate's
 * E₁ stages as used.
 */
void nde_sri_used_stages(const nde_sri_tableau *tableau, int with_err, int *uf, int *ug);

#endif
