/*
 * Schedules: a value as a function of the step number, for learning rates
 * and regularization coefficients. Parsed from the pipeline's JSON forms
 * (a number, or a one-key object naming the schedule) with messages that
 * name the JSON path.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include <nde/names.h>
#include <nde/optimizer.h>

#include "../util/internal.h"

static const char *const schedule_names[] = {"constant", "inverse_decay", "cosine", "step",
                                             "exp_decay", "piecewise", "follow_loss",
                                             "target_nfe"};
#define N_SCHEDULES (sizeof schedule_names / sizeof schedule_names[0])
/* The last two names are modifiers (follow_loss, target_nfe), not nde_schedule_kinds. */
#define FOLLOW_LOSS ((int)N_SCHEDULES - 2)
#define TARGET_NFE ((int)N_SCHEDULES - 1)

/* Element i of the argument array as a finite number. */
static nde_status number_at(const json_t *args, size_t i, const char *where, const char *key,
                            const char *what, double *out) {
  const json_t *v = json_array_get(args, i);
  if (!json_is_number(v))
    return nde_error(NDE_EINVAL, "%s.%s[%zu]: %s must be a number, got %s", where, key, i, what,
                     nde_json_type_name(v));
  *out = json_number_value(v);
  if (!isfinite(*out))
    return nde_error(NDE_EINVAL, "%s.%s[%zu]: %s must be finite", where, key, i, what);
  return NDE_OK;
}

/* Element i as an integer >= 1 (reals with no fraction are accepted). */
static nde_status count_at(const json_t *args, size_t i, const char *where, const char *key,
                           const char *what, uint64_t *out) {
  double x;
  NDE_TRY(number_at(args, i, where, key, what, &x));
  if (x < 1 || floor(x) != x || x > 9e15)
    return nde_error(NDE_EINVAL, "%s.%s[%zu]: %s must be a positive integer, got %g", where, key,
                     i, what, x);
  *out = (uint64_t)x;
  return NDE_OK;
}

static nde_status arity(const json_t *args, const char *where, const char *key, size_t lo,
                        size_t hi, const char *form) {
  if (!json_is_array(args))
    return nde_error(NDE_EINVAL, "%s.%s: expected %s, got %s", where, key, form,
                     nde_json_type_name(args));
  size_t n = json_array_size(args);
  if (n < lo || n > hi)
    return nde_error(NDE_EINVAL, "%s.%s: expected %s, got an array of %zu element%s", where, key,
                     form, n, n == 1 ? "" : "s");
  return NDE_OK;
}


/* args[0] is the initial value, args[1] a non-negative rate named @p rate (s->decay). */
static nde_status value_and_rate(const json_t *args, const char *where, const char *key,
                                 const char *rate, nde_schedule *s) {
  NDE_TRY(number_at(args, 0, where, key, "value", &s->value));
  NDE_TRY(number_at(args, 1, where, key, rate, &s->decay));
  if (s->decay < 0)
    return nde_error(NDE_EINVAL, "%s.%s[1]: %s must be >= 0, got %g", where, key, rate, s->decay);
  return NDE_OK;
}
/* {"piecewise": [[step, value], ...]}: knots at increasing steps >= 0. */
static nde_status knots(const json_t *args, const char *where, const char *key, nde_schedule *s) {
  NDE_TRY(arity(args, where, key, 1, NDE_SCHEDULE_MAX_KNOTS, "[[step, value], ...]"));
  for (size_t i = 0; i < json_array_size(args); ++i) {
    const json_t *knot = json_array_get(args, i);
    if (!json_is_array(knot) || json_array_size(knot) != 2)
      return nde_error(NDE_EINVAL, "%s.%s[%zu]: expected [step, value], got %s", where, key, i,
                       json_is_array(knot) ? "an array of another length"
                                           : nde_json_type_name(knot));
    char at[64];
    snprintf(at, sizeof at, "%s[%zu]", key, i);
    double x;
    NDE_TRY(number_at(knot, 0, where, at, "step", &x));
    if (x < 0 || floor(x) != x || x > 9e15)
      return nde_error(NDE_EINVAL, "%s.%s[0]: step must be a non-negative integer, got %g", where,
                       at, x);
    s->knot_step[i] = (uint64_t)x;
    if (i && s->knot_step[i] <= s->knot_step[i - 1])
      return nde_error(NDE_EINVAL, "%s.%s[0]: knot steps must increase, got %g after %llu", where,
                       at, x, (unsigned long long)s->knot_step[i - 1]);
    NDE_TRY(number_at(knot, 1, where, at, "value", &s->knot_value[i]));
    s->n_knots = i + 1;
  }
  s->value = s->knot_value[0];
  s->final = s->knot_value[s->n_knots - 1];
  return NDE_OK;
}

static nde_status parse_value(const json_t *root, const char *where, nde_schedule *s);

/*
 * A modifier's arguments (follow_loss, target_nfe): the arity, then element 0,
 * the inner schedule, parsed into *s; a modifier may not hold its own kind
 * (@p own: 1 follow_loss, 2 target_nfe) nor a target_nfe inside a follow_loss.
 */
static nde_status modifier_inner(const json_t *args, const char *where, const char *key,
                                 size_t lo, size_t hi, const char *form, int own,
                                 nde_schedule *s) {
  NDE_TRY(arity(args, where, key, lo, hi, form));
  char inner[512];
  snprintf(inner, sizeof inner, "%s.%s[0]", where, key);
  NDE_TRY(parse_value(json_array_get(args, 0), inner, s));
  if ((own == 1 && s->loss_reference > 0) || (own == 2 && s->nfe_target > 0))
    return nde_error(NDE_EINVAL, "%s: a %s schedule cannot hold another", inner, key);
  if (own == 1 && s->nfe_target > 0)
    return nde_error(NDE_EINVAL,
                     "%s: a follow_loss schedule cannot hold a target_nfe one (put target_nfe "
                     "outside: {\"target_nfe\": [{\"follow_loss\": [...]}, target, rate]})",
                     inner);
  return NDE_OK;
}

/* {"follow_loss": [SCHEDULE, reference]} or [SCHEDULE, reference, power]. */
static nde_status follow_loss(const json_t *args, const char *where, const char *key,
                              nde_schedule *s) {
  NDE_TRY(modifier_inner(args, where, key, 2, 3,
                         "[schedule, reference] or [schedule, reference, power]", 1, s));
  double ref, power = 1;
  NDE_TRY(number_at(args, 1, where, key, "reference", &ref));
  if (!(ref > 0))
    return nde_error(NDE_EINVAL, "%s.%s[1]: reference must be > 0, got %g", where, key, ref);
  if (json_array_size(args) == 3) {
    NDE_TRY(number_at(args, 2, where, key, "power", &power));
    if (power == 0)
      return nde_error(NDE_EINVAL, "%s.%s[2]: power must not be 0", where, key);
  }
  s->loss_reference = ref;
  s->loss_power = power;
  return NDE_OK;
}

/* {"target_nfe": [SCHEDULE, target, rate]}. */
static nde_status target_nfe(const json_t *args, const char *where, const char *key,
                             nde_schedule *s) {
  NDE_TRY(modifier_inner(args, where, key, 3, 3, "[schedule, target, rate]", 2, s));
  double target, rate;
  NDE_TRY(number_at(args, 1, where, key, "target", &target));
  if (!(target > 0))
    return nde_error(NDE_EINVAL, "%s.%s[1]: target must be > 0, got %g", where, key, target);
  NDE_TRY(number_at(args, 2, where, key, "rate", &rate));
  if (!(rate > 0))
    return nde_error(NDE_EINVAL, "%s.%s[2]: rate must be > 0, got %g", where, key, rate);
  s->nfe_target = target;
  s->nfe_rate = rate;
  return NDE_OK;
}

static nde_status parse_value(const json_t *root, const char *where, nde_schedule *s) {
  memset(s, 0, sizeof *s);
  if (json_is_number(root)) {
    s->kind = NDE_SCHEDULE_CONSTANT;
    s->value = json_number_value(root);
    if (!isfinite(s->value))
      return nde_error(NDE_EINVAL, "%s: must be finite", where);
    return NDE_OK;
  }
  if (!json_is_object(root))
    return nde_error(NDE_EINVAL,
                     "%s: expected a number or a schedule object such as {\"cosine\": [1e-3, 0, "
                     "1000]}, got %s",
                     where, nde_json_type_name(root));
  if (json_object_size(root) != 1)
    return nde_error(NDE_EINVAL,
                     "%s: a schedule object has exactly one key (constant, inverse_decay, cosine, "
                     "step, exp_decay, piecewise, follow_loss, target_nfe), got %zu",
                     where, json_object_size(root));
  const char *key = json_object_iter_key(json_object_iter((json_t *)root));
  const json_t *args = json_object_get(root, key);
  int kind;
  nde_status st = nde_lookup_name("schedule", schedule_names, N_SCHEDULES, key, &kind);
  if (st != NDE_OK)
    return nde_error_prefix(st, "%s", where);
  if (kind == FOLLOW_LOSS)
    return follow_loss(args, where, key, s);
  if (kind == TARGET_NFE)
    return target_nfe(args, where, key, s);
  s->kind = (nde_schedule_kind)kind;
  switch (s->kind) {
  case NDE_SCHEDULE_CONSTANT:
    if (json_is_array(args)) {
      NDE_TRY(arity(args, where, key, 1, 1, "[value]"));
      return number_at(args, 0, where, key, "value", &s->value);
    }
    if (!json_is_number(args))
      return nde_error(NDE_EINVAL, "%s.%s: expected a number, got %s", where, key,
                       nde_json_type_name(args));
    s->value = json_number_value(args);
    return NDE_OK;
  case NDE_SCHEDULE_INVERSE_DECAY:
    NDE_TRY(arity(args, where, key, 2, 2, "[value, decay]"));
    return value_and_rate(args, where, key, "decay", s);
  case NDE_SCHEDULE_COSINE:
    NDE_TRY(arity(args, where, key, 3, 3, "[value, final, steps]"));
    NDE_TRY(number_at(args, 0, where, key, "value", &s->value));
    NDE_TRY(number_at(args, 1, where, key, "final", &s->final));
    return count_at(args, 2, where, key, "steps", &s->steps);
  case NDE_SCHEDULE_STEP:
    NDE_TRY(arity(args, where, key, 3, 3, "[value, factor, every]"));
    NDE_TRY(value_and_rate(args, where, key, "factor", s));
    return count_at(args, 2, where, key, "every", &s->steps);
  case NDE_SCHEDULE_EXP_DECAY:
    NDE_TRY(arity(args, where, key, 2, 3, "[value, final] or [value, final, rate]"));
    NDE_TRY(number_at(args, 0, where, key, "value", &s->value));
    NDE_TRY(number_at(args, 1, where, key, "final", &s->final));
    s->decay = 0.99;
    if (json_array_size(args) == 3) {
      NDE_TRY(number_at(args, 2, where, key, "rate", &s->decay));
      if (!(s->decay > 0 && s->decay <= 1))
        return nde_error(NDE_EINVAL, "%s.%s[2]: rate must be in (0, 1], got %g", where, key,
                         s->decay);
    }
    return NDE_OK;
  case NDE_SCHEDULE_PIECEWISE:
    return knots(args, where, key, s);
  }
  return nde_error(NDE_EINTERNAL, "%s: unhandled schedule kind", where);
}

nde_status nde_schedule_parse(const char *json_text, const char *where, nde_schedule *out) {
  if (!where)
    where = "schedule";
  if (!json_text)
    return nde_error(NDE_EINVAL, "%s: no schedule given", where);
  json_error_t error;
  json_t *root = json_loads(json_text, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &error);
  if (!root)
    return nde_json_error(where, &error);
  nde_status st = parse_value(root, where, out);
  json_decref(root);
  return st;
}

double nde_schedule_value(const nde_schedule *s, uint64_t step) {
  double t = (double)step;
  switch (s->kind) {
  case NDE_SCHEDULE_CONSTANT:
    return s->value;
  case NDE_SCHEDULE_INVERSE_DECAY:
    return s->value / (1 + s->decay * t);
  case NDE_SCHEDULE_COSINE: {
    if (s->steps == 0) /* only from a hand-made struct; parse refuses it */
      return s->final;
    double frac = (step < s->steps ? t : (double)s->steps) / (double)s->steps;
    return s->final + (s->value - s->final) * 0.5 * (1 + cos(M_PI * frac));
  }
  case NDE_SCHEDULE_STEP:
    if (s->steps == 0)
      return s->value;
    return s->value * pow(s->decay, (double)(step / s->steps));
  case NDE_SCHEDULE_EXP_DECAY:
    return s->final + (s->value - s->final) * pow(s->decay, t);
  case NDE_SCHEDULE_PIECEWISE: {
    size_t n = s->n_knots < NDE_SCHEDULE_MAX_KNOTS ? s->n_knots : NDE_SCHEDULE_MAX_KNOTS;
    if (n == 0) /* only from a hand-made struct; parse refuses it */
      return s->value;
    if (step <= s->knot_step[0])
      return s->knot_value[0];
    for (size_t i = 1; i < n; ++i)
      if (step < s->knot_step[i]) {
        double a = (double)s->knot_step[i - 1], b = (double)s->knot_step[i];
        double va = s->knot_value[i - 1], vb = s->knot_value[i];
        return va + (vb - va) * (t - a) / (b - a);
      }
    return s->knot_value[n - 1];
  }
  }
  return NAN;
}

double nde_schedule_value_at(const nde_schedule *s, uint64_t step, double data_loss) {
  double v = nde_schedule_value(s, step);
  if (!(s->loss_reference > 0) || !(data_loss > 0) || !isfinite(data_loss))
    return v;
  double factor = pow(data_loss / s->loss_reference, s->loss_power); /* power != 0 (parsed) */
  return factor < 1 ? v * factor : v;
}

nde_status nde_schedule_coef(const nde_schedule *s, uint64_t step, double data_loss,
                             nde_nfe_duals *duals, double *value) {
  *value = nde_schedule_value_at(s, step, data_loss);
  if (!(s->nfe_target > 0) || !duals)
    return NDE_OK;
  int i = 0;
  while (i < duals->n && !(duals->target[i] == s->nfe_target && duals->rate[i] == s->nfe_rate))
    ++i;
  if (i == duals->n) {
    if (duals->n >= NDE_NFE_DUALS_MAX)
      return nde_error(NDE_ELIMIT,
                       "target_nfe: more than %d distinct (target, rate) pairs in one model",
                       NDE_NFE_DUALS_MAX);
    duals->target[i] = s->nfe_target;
    duals->rate[i] = s->nfe_rate;
    duals->multiplier[i] = 1;
    duals->active[i] = 0;
    duals->n++;
  }
  if (*value != 0)
    duals->active[i] = 1;
  *value *= duals->multiplier[i];
  return NDE_OK;
}

void nde_nfe_duals_update(nde_nfe_duals *duals, double nfe) {
  for (int i = 0; i < duals->n; ++i) {
    if (duals->active[i] && isfinite(nfe) && nfe >= 0) {
      double m = duals->multiplier[i] * exp(duals->rate[i] * (nfe / duals->target[i] - 1));
      m = m < NDE_NFE_MULTIPLIER_MIN ? NDE_NFE_MULTIPLIER_MIN : m;
      duals->multiplier[i] = m > NDE_NFE_MULTIPLIER_MAX ? NDE_NFE_MULTIPLIER_MAX : m;
    }
    duals->active[i] = 0;
  }
}
