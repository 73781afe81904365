/**
 * @file nde/plugin_abi.h
 * @brief The frozen plugin ABI: everything a plugin (a shared object named
 *        by a manifest) compiles against, and nothing else.
 *
 * Within one major ::NDE_ABI_VERSION these headers only grow: types keep
 * their layout, vtables gain slots only at their end (nde/plugin.h states
 * the rule), functions keep their signatures. They are:
 *
 * | header              | what a plugin uses from it                              |
 * |---------------------|---------------------------------------------------------|
 * | nde/plugin.h        | the vtable header, kinds, the entry symbol              |
 * | nde/status.h        | statuses and the per-thread message                     |
 * | nde/options.h       | reading its validated options                           |
 * | nde/names.h         | name checks and did-you-mean                            |
 * | nde/array.h         | dtypes and arrays                                       |
 * | nde/rng.h           | the counter-based generator                             |
 * | nde/backend.h       | backend vtable and the vector operations on arrays      |
 * | nde/arena.h         | scratch space from a layer's arena (alloc, mark, rewind) |
 * | nde/conv.h          | im2col/col2im for image layers                          |
 * | nde/integrator.h, nde/controller.h, nde/brownian.h | step records, controllers, Brownian paths the solvers share |
 * | nde/ode.h, nde/sde.h, nde/nonlinear.h, nde/linear.h, nde/layer.h, nde/sensitivity.h, nde/regularizer.h, nde/optimizer.h, nde/dataset.h | each kind's vtable and the helpers its plugins call |
 *
 * Application headers (nde/nde.h, nde/registry.h, nde/model.h,
 * nde/loss.h, nde/train.h, nde/safetensors.h, nde/adjoint.h, nde/sde_adjoint.h and the
 * test-problem libraries nde/ode_problem.h, nde/sde_problem.h,
 * nde/nonlinear_problem.h) are for programs that use nde; they may change
 * between minor versions. Define NDE_PLUGIN_ABI_ONLY before including
 * anything (the sample plugin's Makefile does, with -D) and each of them
 * refuses to compile, so a plugin's build proves it uses the ABI only.
 * docs/headers.md has the whole rule.
 */
#ifndef NDE_PLUGIN_ABI_H
#define NDE_PLUGIN_ABI_H

#include <nde/plugin.h>
#include <nde/status.h>
#include <nde/options.h>
#include <nde/names.h>
#include <nde/array.h>
#include <nde/rng.h>
#include <nde/backend.h>
#include <nde/integrator.h>
#include <nde/controller.h>
#include <nde/brownian.h>
#include <nde/ode.h>
#include <nde/sde.h>
#include <nde/nonlinear.h>
#include <nde/linear.h>
#include <nde/layer.h>
#include <nde/arena.h>
#include <nde/conv.h>
#include <nde/sensitivity.h>
#include <nde/regularizer.h>
#include <nde/optimizer.h>
#include <nde/dataset.h>
#include <nde/version.h>

#endif /* NDE_PLUGIN_ABI_H */
