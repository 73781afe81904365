/**
 * @file nde/nde.h
 * @brief Application umbrella: every public header, for programs that use
 *        nde. A plugin includes nde/plugin_abi.h (the frozen ABI) instead.
 *
 * Lifecycle verbs, the same in every header (docs/headers.md): an object
 * behind a handle is made by nde_X_create() (nde_X_open() where a plugin or
 * a file is opened by name) and released by nde_X_destroy(X **), which frees
 * it, NULLs the handle and is safe on NULL; a caller-owned struct a call
 * filled (a solution, predictions) is emptied by nde_X_clear(X *);
 * nde_X_reset() forgets contents and keeps the memory.
 */
#ifndef NDE_NDE_H
#define NDE_NDE_H

#ifdef NDE_PLUGIN_ABI_ONLY
#error "nde/nde.h is application API, not plugin ABI (docs/headers.md)"
#endif

#include <nde/adjoint.h>
#include <nde/arena.h>
#include <nde/array.h>
#include <nde/backend.h>
#include <nde/brownian.h>
#include <nde/controller.h>
#include <nde/dataset.h>
#include <nde/conv.h>
#include <nde/integrator.h>
#include <nde/layer.h>
#include <nde/linear.h>
#include <nde/loss.h>
#include <nde/model.h>
#include <nde/names.h>
#include <nde/nonlinear.h>
#include <nde/nonlinear_problem.h>
#include <nde/ode.h>
#include <nde/ode_problem.h>
#include <nde/optimizer.h>
#include <nde/options.h>
#include <nde/plugin.h>
#include <nde/plugin_abi.h>
#include <nde/registry.h>
#include <nde/regularizer.h>
#include <nde/rng.h>
#include <nde/safetensors.h>
#include <nde/sde.h>
#include <nde/sde_adjoint.h>
#include <nde/sde_problem.h>
#include <nde/sensitivity.h>
#include <nde/status.h>
#include <nde/train.h>
#include <nde/version.h>

#endif /* NDE_NDE_H */
