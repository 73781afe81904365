/* Core-private helpers of the adjoint machinery (not installed). */
#ifndef NDE_CORE_ADJOINT_IMPL_H
#define NDE_CORE_ADJOINT_IMPL_H

#include <nde/adjoint.h>

/** Point a trajectory at the right-hand side of the current problem (Hermite end slopes). */
void nde_ode_trajectory_set_rhs(nde_ode_trajectory *traj, const nde_ode_rhs *f);

/** 1 if the trajectory was made for this solver and state layout. */
int nde_ode_trajectory_fits(const nde_ode_trajectory *traj, const nde_ode_solver *solver,
                            const nde_array *u_like);

#endif
