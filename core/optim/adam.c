/*
 * The Adam family's update (adam, adamw, adabelief share it; nde/optimizer.h):
 * moment updates and the bias-corrected step, each one backend operation.
 */
#include "config.h"

#include <math.h>

#include <nde/optimizer.h>

nde_adam_settings nde_adam_settings_read(const nde_options *options, double eps_default,
                                         int belief) {
  nde_adam_settings s;
  s.b1 = nde_options_number(options, "b1", 0.9);
  s.b2 = nde_options_number(options, "b2", 0.999);
  s.eps = nde_options_number(options, "eps", eps_default);
  s.belief = belief;
  return s;
}

void nde_adam_update(nde_backend *be, nde_dtype dt, size_t n, double lr, uint64_t step,
                     const nde_adam_settings *s, const void *grads, void *m, void *v,
                     void *params) {
  double t = (double)step;
  be->ops->axpby(be->ctx, dt, n, 1 - s->b1, grads, s->b1, m);
  be->ops->sq_axpby(be->ctx, dt, n, 1 - s->b2, grads, s->belief ? m : NULL, s->b2,
                    s->belief ? s->eps : 0, v);
  be->ops->div_axpy(be->ctx, dt, n, -lr / (1 - pow(s->b1, t)), m, 1 / (1 - pow(s->b2, t)), v,
                    s->eps, 1, params);
}
