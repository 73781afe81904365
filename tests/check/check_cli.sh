#!/bin/sh
# `nde check` on single plugins: a deliberately wrong tableau (tests/plugins/
# bad_rk3.c, claims order 3, is second order) FAILS with the measured order
# near 2 and exit status 1; a correct solver passes with exit 0; --json is
# machine-readable; unknown names and bad arguments exit 2.
set -u
NDE="${NDE_TEST_BUILDDIR:-.}/nde"
builddir="${NDE_TEST_BUILDDIR:-.}"
srcdir="${NDE_TEST_SRCDIR:?}"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/nde-check.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
fail=0
bad() { echo "FAIL: $*"; fail=1; }

# the wrong tableau in a plugin folder of its own, as a third party would have it
mkdir "$tmp/plugins"
lib="$builddir/tests/plugins/.libs/ode_solver_bad_rk3.so"
[ -f "$lib" ] || { echo "FAIL: $lib not built"; exit 1; }
cp "$lib" "$tmp/plugins/ode_solver_bad_rk3.so"  # copied: a symlink leaving the folder is refused
cp "$srcdir/plugins/bad_rk3.json" "$tmp/plugins/"

# 1. the wrong tableau fails, on both order checks, with the slope it really has
"$NDE" --plugin-dir "$tmp/plugins" check bad_rk3 > "$tmp/bad.txt" 2>&1
code=$?
cat "$tmp/bad.txt"
[ "$code" -eq 1 ] || bad "nde check bad_rk3 exited $code, want 1"
for what in "order (linear)" "order (nonlinear)"; do
  line=$(grep "^FAIL  ode_solver  *bad_rk3  *$what " "$tmp/bad.txt")
  [ -n "$line" ] || { bad "no FAIL line for '$what'"; continue; }
  slope=$(echo "$line" | sed -n 's/.*slope \([0-9.]*\) vs claimed 3.*/\1/p')
  awk -v s="$slope" 'BEGIN { exit !(s > 1.7 && s < 2.3) }' ||
    bad "$what: measured order '$slope', want about 2"
done
grep -q '^PASS  ode_solver  *bad_rk3  *load ' "$tmp/bad.txt" || bad "bad_rk3 did not load"
grep -q '1 plugin checked: .* [1-9][0-9]* failed' "$tmp/bad.txt" || bad "summary line"

# 2. --json says the same, machine-readably
"$NDE" --plugin-dir "$tmp/plugins" check bad_rk3 --json > "$tmp/bad.json"
[ $? -eq 1 ] || bad "--json: exit status"
grep -q '"verdict": "FAIL"' "$tmp/bad.json" || bad "--json: no FAIL verdict"
grep -q '"claimed": 3' "$tmp/bad.json" || bad "--json: no claimed order 3"
grep -q '"failed": 0' "$tmp/bad.json" && bad "--json: claims nothing failed"

# 2b. claims checked against the vtable, and the reverse step of a tableau:
#     the same library under a manifest that also claims FSAL (its tableau is
#     not: the registry refuses it at load, and nde check reports that as a
#     FAIL), then under one that claims only a reverse step (any tableau has
#     one through the core)
mkdir "$tmp/claims" "$tmp/reverse"
cp "$lib" "$tmp/claims/ode_solver_bad_rk3.so"
cp "$lib" "$tmp/reverse/ode_solver_bad_rk3.so"
sed -e 's/"fsal": false/"fsal": true/' "$srcdir/plugins/bad_rk3.json" > "$tmp/claims/bad_rk3.json"
sed -e 's/"reverse_step": false/"reverse_step": true/' \
  "$srcdir/plugins/bad_rk3.json" > "$tmp/reverse/bad_rk3.json"
grep -q '"fsal": true' "$tmp/claims/bad_rk3.json" &&
  grep -q '"reverse_step": true' "$tmp/reverse/bad_rk3.json" || bad "could not edit the manifests"
"$NDE" --plugin-dir "$tmp/claims" check bad_rk3 > "$tmp/claims.txt" 2>&1
[ $? -eq 1 ] || bad "a false FSAL claim: exit status"
cat "$tmp/claims.txt"
grep -q '^FAIL  ode_solver  *bad_rk3  *load .*capabilities.fsal' "$tmp/claims.txt" ||
  bad "an FSAL claim the tableau does not make was not caught"
"$NDE" --plugin-dir "$tmp/reverse" check bad_rk3 > "$tmp/reverse.txt" 2>&1
cat "$tmp/reverse.txt"
grep -q '^PASS  ode_solver  *bad_rk3  *reverse step .*relative error' "$tmp/reverse.txt" ||
  bad "reverse step of a tableau not checked"

# 3. a correct solver of the same order passes
"$NDE" check bs3 > "$tmp/good.txt" 2>&1 || bad "nde check bs3 exited $?"
grep -q '^PASS  ode_solver  *bs3  *order (linear) ' "$tmp/good.txt" || bad "bs3 order line"
# bs3 is a tableau in its manifest: its load line says so (no library path, no "(null)")
grep -q '^PASS  ode_solver  *bs3  *load  *tableau read from the manifest.*(no library)$' "$tmp/good.txt" ||
  bad "bs3 load line does not say it has no library"
grep -q '(null)' "$tmp/good.txt" && bad "a data-only plugin's load line prints (null)"
grep -q '^FAIL' "$tmp/good.txt" && bad "bs3 failed a check"
"$NDE" check bs3 --json > "$tmp/good.json" || bad "nde check bs3 --json exited $?"
grep -q '"failed": 0' "$tmp/good.json" || bad "bs3 --json: failures"

# 4. bad input exits 2 with a message
"$NDE" check tsit6 > "$tmp/err.txt" 2>&1
[ $? -eq 2 ] || bad "unknown name: exit status"
grep -q "did you mean 'tsit5'" "$tmp/err.txt" || { cat "$tmp/err.txt"; bad "no did-you-mean"; }
"$NDE" check > /dev/null 2>&1
[ $? -eq 2 ] || bad "no arguments: exit status"
"$NDE" check --all tsit5 > /dev/null 2>&1
[ $? -eq 2 ] || bad "--all with names: exit status"
"$NDE" check --frobnicate > /dev/null 2>&1
[ $? -eq 2 ] || bad "unknown option: exit status"
exit $fail
