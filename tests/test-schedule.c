/* Schedules: every kind against its formula, and malformed JSON rejected with its path. */
#include <math.h>
#include <string.h>

#include <criterion/criterion.h>

#include <nde/optimizer.h>

static nde_schedule parse_ok(const char *json) {
  nde_schedule s;
  cr_assert_eq(nde_schedule_parse(json, "train.lr", &s), NDE_OK, "%s: %s", json, nde_last_error());
  return s;
}

Test(schedule, constant) {
  nde_schedule a = parse_ok("0.01"), b = parse_ok("{\"constant\": 3}");
  for (uint64_t t = 0; t < 1000; t += 97) {
    cr_expect_eq(nde_schedule_value(&a, t), 0.01);
    cr_expect_eq(nde_schedule_value(&b, t), 3);
  }
}

Test(schedule, inverse_decay) {
  nde_schedule s = parse_ok("{\"inverse_decay\": [0.01, 1e-5]}");
  for (uint64_t t = 0; t < 100000; t += 1237)
    cr_expect_float_eq(nde_schedule_value(&s, t), 0.01 / (1 + 1e-5 * (double)t), 1e-17);
  cr_expect_float_eq(nde_schedule_value(&s, 100000), 0.005, 1e-17);
}

Test(schedule, cosine) {
  nde_schedule s = parse_ok("{\"cosine\": [1.0, 0.1, 100]}");
  cr_expect_float_eq(nde_schedule_value(&s, 0), 1.0, 1e-15);
  cr_expect_float_eq(nde_schedule_value(&s, 50), 0.55, 1e-15);
  cr_expect_float_eq(nde_schedule_value(&s, 100), 0.1, 1e-15);
  cr_expect_float_eq(nde_schedule_value(&s, 5000), 0.1, 1e-15); /* holds after the end */
  for (uint64_t t = 0; t <= 100; ++t)
    cr_expect_float_eq(nde_schedule_value(&s, t),
                       0.1 + 0.9 * 0.5 * (1 + cos(M_PI * (double)t / 100)), 1e-15);
}

Test(schedule, step) {
  nde_schedule s = parse_ok("{\"step\": [0.1, 0.5, 10]}");
  cr_expect_eq(nde_schedule_value(&s, 0), 0.1);
  cr_expect_eq(nde_schedule_value(&s, 9), 0.1);
  cr_expect_eq(nde_schedule_value(&s, 10), 0.05);
  cr_expect_eq(nde_schedule_value(&s, 29), 0.025);
  cr_expect_float_eq(nde_schedule_value(&s, 30), 0.0125, 1e-18);
}

Test(schedule, exp_decay) {
  nde_schedule s = parse_ok("{\"exp_decay\": [2.5, 1.0]}"); /* thesis form: rate 0.99 */
  cr_expect_eq(nde_schedule_value(&s, 0), 2.5);
  for (uint64_t t = 0; t < 2000; t += 53)
    cr_expect_float_eq(nde_schedule_value(&s, t), 1.0 + 1.5 * pow(0.99, (double)t), 1e-14);
  nde_schedule r = parse_ok("{\"exp_decay\": [1, 0, 0.5]}");
  cr_expect_eq(nde_schedule_value(&r, 3), 0.125);
}

Test(schedule, piecewise) {
  /* off, on at 0.03 from step 600, down to 0.003 at 1600, off again from 2000 */
  nde_schedule s = parse_ok("{\"piecewise\": [[0, 0], [500, 0], [600, 0.03], [1600, 0.003], "
                            "[2000, 0]]}");
  cr_expect_eq(s.n_knots, 5);
  cr_expect_eq(nde_schedule_value(&s, 0), 0);
  cr_expect_eq(nde_schedule_value(&s, 499), 0);
  cr_expect_float_eq(nde_schedule_value(&s, 550), 0.015, 1e-17);
  cr_expect_eq(nde_schedule_value(&s, 600), 0.03);
  cr_expect_float_eq(nde_schedule_value(&s, 1100), 0.0165, 1e-16);
  cr_expect_float_eq(nde_schedule_value(&s, 1800), 0.0015, 1e-17);
  cr_expect_eq(nde_schedule_value(&s, 2000), 0);
  cr_expect_eq(nde_schedule_value(&s, 100000), 0); /* the last value holds after the end */
  for (uint64_t t = 600; t <= 1600; t += 37)
    cr_expect_float_eq(nde_schedule_value(&s, t), 0.03 - 0.027 * (double)(t - 600) / 1000, 1e-16);
  /* before the first knot: its value; one knot: a constant */
  nde_schedule late = parse_ok("{\"piecewise\": [[10, 2], [20, 4]]}");
  cr_expect_eq(nde_schedule_value(&late, 3), 2);
  cr_expect_eq(nde_schedule_value(&late, 15), 3);
  nde_schedule one = parse_ok("{\"piecewise\": [[0, 0.5]]}");
  cr_expect_eq(nde_schedule_value(&one, 0), 0.5);
  cr_expect_eq(nde_schedule_value(&one, 1000), 0.5);
}

Test(schedule, follow_loss) {
  /* the inner schedule's value times min(1, (L / reference)^power) */
  nde_schedule s = parse_ok("{\"follow_loss\": [{\"piecewise\": [[0, 0], [10, 0.5]]}, 1e-3]}");
  cr_expect_eq(s.kind, NDE_SCHEDULE_PIECEWISE);
  cr_expect_eq(s.loss_reference, 1e-3);
  cr_expect_eq(s.loss_power, 1);
  cr_expect_eq(nde_schedule_value(&s, 5), 0.25);          /* the inner value: no loss known */
  cr_expect_eq(nde_schedule_value_at(&s, 5, 0.0), 0.25);  /* 0: none known */
  cr_expect_eq(nde_schedule_value_at(&s, 5, NAN), 0.25);
  cr_expect_eq(nde_schedule_value_at(&s, 10, 2e-3), 0.5); /* above the reference: capped at 1 */
  cr_expect_float_eq(nde_schedule_value_at(&s, 10, 2.5e-4), 0.125, 1e-16);
  cr_expect_eq(nde_schedule_value_at(&s, 0, 1e-4), 0);
  /* a negative power weakens the coefficient while the loss is above the reference */
  nde_schedule gate = parse_ok("{\"follow_loss\": [0.03, 4e-5, -2]}");
  cr_expect_eq(gate.kind, NDE_SCHEDULE_CONSTANT);
  cr_expect_eq(nde_schedule_value_at(&gate, 7, 2e-5), 0.03);
  cr_expect_float_eq(nde_schedule_value_at(&gate, 7, 8e-5), 0.0075, 1e-17);
  cr_expect_float_eq(nde_schedule_value_at(&gate, 7, 4e-4), 3e-4, 1e-18);
  /* the other forms ignore the loss */
  nde_schedule plain = parse_ok("0.5");
  cr_expect_eq(nde_schedule_value_at(&plain, 3, 1e-9), 0.5);
}

Test(schedule, target_nfe) {
  /* the inner schedule's value times the multiplier of its (target, rate) pair */
  nde_schedule e = parse_ok("{\"target_nfe\": [{\"piecewise\": [[0, 0], [10, 0.5]]}, 200, 0.1]}");
  cr_expect_eq(e.kind, NDE_SCHEDULE_PIECEWISE);
  cr_expect_eq(e.nfe_target, 200);
  cr_expect_eq(e.nfe_rate, 0.1);
  cr_expect_eq(nde_schedule_value(&e, 5), 0.25); /* the inner value: a multiplier of 1 */
  double v = -1;
  cr_expect_eq(nde_schedule_coef(&e, 5, 0.0, NULL, &v), NDE_OK); /* no trainer: 1 */
  cr_expect_eq(v, 0.25);
  nde_nfe_duals d = {0};
  cr_expect_eq(nde_schedule_coef(&e, 0, 0.0, &d, &v), NDE_OK); /* created at 1; value 0 */
  cr_expect_eq(v, 0);
  cr_expect_eq(d.n, 1);
  cr_expect_eq(d.multiplier[0], 1);
  cr_expect_eq(d.active[0], 0);
  nde_nfe_duals_update(&d, 400); /* a zero coefficient: the multiplier does not move */
  cr_expect_eq(d.multiplier[0], 1);
  cr_expect_eq(nde_schedule_coef(&e, 10, 0.0, &d, &v), NDE_OK);
  cr_expect_eq(d.active[0], 1);
  nde_nfe_duals_update(&d, 400); /* NFE twice the target: λ·e^(0.1·1) */
  cr_expect_float_eq(d.multiplier[0], exp(0.1), 1e-15);
  cr_expect_eq(d.active[0], 0);
  cr_expect_eq(nde_schedule_coef(&e, 10, 0.0, &d, &v), NDE_OK);
  cr_expect_float_eq(v, 0.5 * exp(0.1), 1e-15);
  nde_nfe_duals_update(&d, 100); /* half the target: λ·e^(−0.05) */
  cr_expect_float_eq(d.multiplier[0], exp(0.05), 1e-15);
  /* a second coefficient with the same pair shares the multiplier; a follow_loss inside
     applies first */
  nde_schedule s = parse_ok("{\"target_nfe\": [{\"follow_loss\": [0.01, 1e-4, -1]}, 200, 0.1]}");
  cr_expect_eq(s.loss_reference, 1e-4);
  cr_expect_eq(nde_schedule_coef(&s, 3, 4e-4, &d, &v), NDE_OK);
  cr_expect_eq(d.n, 1);
  cr_expect_float_eq(v, 0.01 * 0.25 * exp(0.05), 1e-17);
  /* another pair gets its own; a NaN NFE only clears the marks */
  nde_schedule other = parse_ok("{\"target_nfe\": [1, 300, 0.1]}");
  cr_expect_eq(nde_schedule_coef(&other, 3, 0.0, &d, &v), NDE_OK);
  cr_expect_eq(d.n, 2);
  cr_expect_eq(v, 1);
  nde_nfe_duals_update(&d, NAN);
  cr_expect_float_eq(d.multiplier[0], exp(0.05), 1e-15);
  cr_expect_eq(d.multiplier[1], 1);
  cr_expect_eq(d.active[0] + d.active[1], 0);
  /* clamped to [NDE_NFE_MULTIPLIER_MIN, NDE_NFE_MULTIPLIER_MAX] */
  nde_schedule fast = parse_ok("{\"target_nfe\": [1, 1, 100]}");
  nde_nfe_duals f = {0};
  for (int i = 0; i < 3; ++i) {
    cr_expect_eq(nde_schedule_coef(&fast, 0, 0.0, &f, &v), NDE_OK);
    nde_nfe_duals_update(&f, 1000);
  }
  cr_expect_eq(f.multiplier[0], NDE_NFE_MULTIPLIER_MAX);
  for (int i = 0; i < 3; ++i) {
    cr_expect_eq(nde_schedule_coef(&fast, 0, 0.0, &f, &v), NDE_OK);
    nde_nfe_duals_update(&f, 0);
  }
  cr_expect_eq(f.multiplier[0], NDE_NFE_MULTIPLIER_MIN);
  /* a full table is an error, not a silent multiplier of 1 */
  nde_nfe_duals full = {0};
  for (int i = 0; i <= NDE_NFE_DUALS_MAX; ++i) {
    nde_schedule k = fast;
    k.nfe_target = 10 + i;
    nde_status st = nde_schedule_coef(&k, 0, 0.0, &full, &v);
    cr_expect_eq(st, i < NDE_NFE_DUALS_MAX ? NDE_OK : NDE_ELIMIT, "pair %d", i);
  }
  cr_expect(strstr(nde_last_error(), "distinct (target, rate) pairs") != NULL, "%s",
            nde_last_error());
}

static void expect_rejected(const char *json, const char *needle) {
  nde_schedule s;
  nde_status st = nde_schedule_parse(json, "model.reg.coef", &s);
  cr_expect_neq(st, NDE_OK, "%s was accepted", json);
  cr_expect(strstr(nde_last_error(), "model.reg.coef") != NULL, "%s: message lacks the path: %s",
            json, nde_last_error());
  cr_expect(strstr(nde_last_error(), needle) != NULL, "%s: message lacks '%s': %s", json, needle,
            nde_last_error());
}

Test(schedule, bad_json_is_rejected_with_its_path) {
  expect_rejected("{\"cosine\": [1, 0]}", "model.reg.coef.cosine");
  expect_rejected("{\"cosine\": [1, 0, 0]}", "positive integer");
  expect_rejected("{\"cosine\": [1, 0, 2.5]}", "cosine[2]");
  expect_rejected("{\"cosin\": [1, 0, 10]}", "did you mean 'cosine'");
  expect_rejected("{\"step\": [1, -0.5, 10]}", "factor");
  expect_rejected("{\"inverse_decay\": [1, \"x\"]}", "inverse_decay[1]");
  expect_rejected("{\"exp_decay\": [1, 0, 1.5]}", "rate");
  expect_rejected("{\"exp_decay\": 3}", "expected [value, final]");
  expect_rejected("{\"constant\": 1, \"cosine\": [1, 0, 1]}", "exactly one key");
  expect_rejected("\"fast\"", "expected a number or a schedule");
  expect_rejected("[1, 2]", "got array");
  expect_rejected("{\"cosine\": [1, 0, 10]", "invalid JSON");
  expect_rejected("{}", "exactly one key");
  expect_rejected("{\"piecewise\": []}", "expected [[step, value], ...]");
  expect_rejected("{\"piecewise\": [[0, 1], [0, 2]]}", "knot steps must increase");
  expect_rejected("{\"piecewise\": [[10, 1], [5, 2]]}", "piecewise[1][0]");
  expect_rejected("{\"piecewise\": [[-1, 1]]}", "non-negative integer");
  expect_rejected("{\"piecewise\": [[2.5, 1]]}", "non-negative integer");
  expect_rejected("{\"piecewise\": [[0, \"x\"]]}", "piecewise[0][1]");
  expect_rejected("{\"piecewise\": [[0, 1, 2]]}", "expected [step, value]");
  expect_rejected("{\"piecewise\": [3]}", "expected [step, value], got integer");
  expect_rejected("{\"piecewise\": [[0,0],[1,0],[2,0],[3,0],[4,0],[5,0],[6,0],[7,0],[8,0]]}",
                  "array of 9 elements");
  expect_rejected("{\"follow_loss\": [0.1]}", "[schedule, reference]");
  expect_rejected("{\"follow_loss\": [0.1, 0]}", "follow_loss[1]: reference must be > 0");
  expect_rejected("{\"follow_loss\": [0.1, 1e-3, 0]}", "follow_loss[2]: power must not be 0");
  expect_rejected("{\"follow_loss\": [{\"cosine\": [1, 0]}, 1e-3]}",
                  "model.reg.coef.follow_loss[0].cosine");
  expect_rejected("{\"follow_loss\": [{\"follow_loss\": [1, 1]}, 1]}", "cannot hold another");
  expect_rejected("{\"target_nfe\": [0.1, 200]}", "[schedule, target, rate]");
  expect_rejected("{\"target_nfe\": [0.1, 0, 0.1]}", "target_nfe[1]: target must be > 0");
  expect_rejected("{\"target_nfe\": [0.1, 200, 0]}", "target_nfe[2]: rate must be > 0");
  expect_rejected("{\"target_nfe\": [{\"target_nfe\": [1, 1, 1]}, 1, 1]}",
                  "target_nfe[0]: a target_nfe schedule cannot hold another");
  expect_rejected("{\"follow_loss\": [{\"target_nfe\": [1, 1, 1]}, 1]}",
                  "cannot hold a target_nfe one");
}
