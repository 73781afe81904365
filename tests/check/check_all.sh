#!/bin/sh
# `nde check --all` over every plugin in the build tree's plugin folder: it
# exits 0 (no check fails, no manifest refused), checks as many plugins as
# `nde plugins` lists, and runs the behavioural checks of every kind that has
# them (a kind without its lines would mean the dispatch lost it).
set -u
NDE="${NDE_TEST_BUILDDIR:-.}/nde"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/nde-check.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
fail=0
bad() { echo "FAIL: $*"; fail=1; }

"$NDE" check --all > "$tmp/out.txt" 2>&1
code=$?
cat "$tmp/out.txt"
[ "$code" -eq 0 ] || bad "nde check --all exited $code"
grep -q '^FAIL' "$tmp/out.txt" && bad "a check failed"

# plugins with a manifest (the built-in layers of core are listed too, marked "builtin": true)
"$NDE" plugins --no-load --json > "$tmp/plugins.json"
listed=$(( $(grep -c '"name":' "$tmp/plugins.json") - $(grep -c '"builtin": true' "$tmp/plugins.json") ))
checked=$(sed -n 's/^\([0-9][0-9]*\) plugins\{0,1\} checked:.*/\1/p' "$tmp/out.txt")
[ -n "$listed" ] && [ "$listed" -gt 0 ] || bad "nde plugins listed no plugins"
[ "$checked" = "$listed" ] || bad "checked $checked plugins, nde plugins lists $listed"
loads=$(grep -c '^PASS  [a-z_]* *[a-z0-9_]* *load ' "$tmp/out.txt")
[ "$loads" = "$listed" ] || bad "$loads load lines for $listed plugins"

# kind: a check line every plugin of that kind must have
for pair in "ode_solver:order (linear)" "ode_solver:order (nonlinear)" \
            "sde_solver:strong order" "nonlinear_solver:converges (deq_tanh, float64)" \
            "linear_solver:solves (6x6, float64)" "layer:vjp" "optimizer:quadratic" \
            "backend:arrays (float64)" "regularizer:gradient (neural_ode)"; do
  kind=${pair%%:*}
  check=${pair#*:}
  # a backend that cannot run on this machine (SKIP ... open: cuda without a GPU) has no further lines
  n_kind=$(( $(grep -c "^PASS  $kind  *[a-z0-9_]*  *load " "$tmp/out.txt") -
             $(grep -c "^SKIP  $kind  *[a-z0-9_]*  *open " "$tmp/out.txt") ))
  n_check=$(grep -c "^PASS  $kind  *[a-z0-9_]*  *$check " "$tmp/out.txt")
  [ "$n_kind" -gt 0 ] || bad "no $kind plugin was checked"
  [ "$n_check" = "$n_kind" ] || bad "$kind: '$check' passed for $n_check of $n_kind plugins"
done
exit $fail
