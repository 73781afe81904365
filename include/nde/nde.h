/**
 * @file nde/nde.h
 * @brief Umbrella header: everything a program or plugin using nde needs.
 */
#ifndef NDE_NDE_H
#define NDE_NDE_H

#include <nde/array.h>
#include <nde/backend.h>
#include <nde/dataset.h>
#include <nde/brownian.h>
#include <nde/names.h>
#include <nde/optimizer.h>
#include <nde/ode.h>
#include <nde/controller.h>
#include <nde/integrator.h>
#include <nde/ode_problem.h>
#include <nde/options.h>
#include <nde/plugin.h>
#include <nde/registry.h>
#include <nde/regularizer.h>
#include <nde/rng.h>
#include <nde/safetensors.h>
#include <nde/sde.h>
#include <nde/sde_adjoint.h>
#include <nde/sde_problem.h>
#include <nde/sensitivity.h>
#include <nde/status.h>
#include <nde/version.h>
#include <nde/adjoint.h>

#endif /* NDE_NDE_H */
