#!/bin/sh
# The third-party sample plugins end to end: install nde into a staging
# folder; build sample-plugins/ralston3_c against it with its own Makefile
# (pkg-config + installed headers only) and drop sample-plugins/ralston3 (a
# data-only plugin: a tableau in its manifest, no library) beside it; point
# NDE_PLUGIN_PATH there; run the conformance suite on both (`nde check`) and
# check that `nde solve` converges at order 3 with both, to the same numbers.
set -u
top_srcdir="${NDE_TEST_SRCDIR:?}/.."
builddir="${NDE_TEST_BUILDDIR:?}"
MAKE="${MAKE:-make}"
command -v pkg-config > /dev/null 2>&1 || { echo "SKIP: no pkg-config"; exit 77; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/nde-sample.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
bad() { echo "FAIL: $*"; exit 1; }

# 1. install nde into a staging folder (DESTDIR keeps the configured prefix)
stage="$tmp/stage"
"$MAKE" -C "$builddir" install DESTDIR="$stage" > "$tmp/install.log" 2>&1 ||
  { tail -n 30 "$tmp/install.log"; bad "make install DESTDIR=$stage failed"; }
prefix=$(sed -n 's/^prefix=//p' "$builddir/nde.pc")
PKG="pkg-config --define-variable=prefix=$stage$prefix"
PKG_CONFIG_PATH="$stage$prefix/lib/pkgconfig:$stage$prefix/lib64/pkgconfig"
export PKG_CONFIG_PATH
$PKG --exists nde || bad "pkg-config cannot find the staged nde.pc"
libdir=$($PKG --variable=libdir nde)
plugindir=$($PKG --variable=plugindir nde)
bindir="$stage$prefix/bin"
[ -x "$bindir/nde" ] || bad "no installed nde in $bindir"
[ -f "$($PKG --variable=includedir nde)/nde/ode.h" ] || bad "nde/ode.h not installed"

# 2. build the C sample out of tree with its own Makefile (against the frozen
#    plugin ABI only: a copy that includes an application header fails),
#    install it into its own folder; the data-only sample is just its
#    manifest, copied there
cp -R "$top_srcdir/sample-plugins/ralston3_c" "$tmp/ralston3_c"
chmod -R u+w "$tmp/ralston3_c"
"$MAKE" -C "$tmp/ralston3_c" PKG_CONFIG="$PKG" PLUGINDIR="$tmp/myplugins" install \
  > "$tmp/build.log" 2>&1 || { cat "$tmp/build.log"; bad "building the sample failed"; }
grep -q -- "-I$stage" "$tmp/build.log" || bad "the sample was not built against the staged headers"
grep -q -- "-DNDE_PLUGIN_ABI_ONLY" "$tmp/build.log" || bad "the sample was not built against the plugin ABI only"
# the same plugin reaching for an application header does not build
cp -R "$tmp/ralston3_c" "$tmp/stray"
{ echo '#include <nde/registry.h>'; cat "$tmp/ralston3_c/ralston3_c.c"; } > "$tmp/stray/ralston3_c.c"
"$MAKE" -C "$tmp/stray" PKG_CONFIG="$PKG" > "$tmp/stray.log" 2>&1 &&
  bad "a plugin including nde/registry.h built with NDE_PLUGIN_ABI_ONLY"
grep -q "application API, not plugin ABI" "$tmp/stray.log" || { cat "$tmp/stray.log"; bad "no ABI message"; }
cp "$top_srcdir/sample-plugins/ralston3/ralston3.json" "$tmp/myplugins/"
[ "$(wc -l < "$top_srcdir/sample-plugins/ralston3/ralston3.json")" -lt 30 ] ||
  bad "the data-only manifest should stay under 30 lines"

# 3. the installed nde finds it by name
LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
NDE_PLUGIN_PATH="$tmp/myplugins:$plugindir"
export LD_LIBRARY_PATH NDE_PLUGIN_PATH
"$bindir/nde" plugins --kind ode_solver > "$tmp/plugins.txt" 2>&1
for name in ralston3 ralston3_c; do
  grep -q "^$name .* ok " "$tmp/plugins.txt" || { cat "$tmp/plugins.txt"; bad "$name not listed as ok"; }
done
"$bindir/nde" plugin ralston3 > "$tmp/plugin.txt" 2>&1 || { cat "$tmp/plugin.txt"; bad "nde plugin ralston3"; }
grep -q "none: a Runge-Kutta tableau" "$tmp/plugin.txt" || bad "ralston3 should have no library"
grep -q "abstol" "$tmp/plugin.txt" || bad "ralston3 should inherit the integrator's options"


# the conformance suite, as a third party runs it on its plugin: every claim
# of the manifest holds (order 3 on both problems, tolerance proportionality,
# Hermite dense output)
for name in ralston3 ralston3_c; do
  "$bindir/nde" check $name > "$tmp/check-$name.txt" 2>&1
  code=$?
  cat "$tmp/check-$name.txt"
  [ "$code" -eq 0 ] || bad "nde check $name exited $code"
  for what in "load" "claims" "order (linear)" "order (nonlinear)" "tolerance" "dense output"; do
    grep -q "^PASS  ode_solver  *$name  *$what " "$tmp/check-$name.txt" ||
      bad "nde check $name: no PASS for $what"
  done
done

# 4. convergence at order 3 (fixed step) and a working adaptive solve, for both
for name in ralston3 ralston3_c; do
  prev=""
  for dt in 0.04 0.02 0.01; do
    cat > "$tmp/p.json" <<JSON
{"problem": {"name": "linear", "A": [[-0.5, 2], [-2, -0.5]]}, "tspan": [0, 2],
 "solver": {"plugin": "$name", "adaptive": false, "dt": $dt}}
JSON
    "$bindir/nde" solve "$tmp/p.json" --json > "$tmp/out.json" || bad "nde solve $name failed (dt $dt)"
    e=$(sed -n 's/^ *"error": \([-0-9.eE+]*\),*$/\1/p' "$tmp/out.json")
    echo "$e" >> "$tmp/errors-$name.txt"
    if [ -n "$prev" ]; then
      order=$(awk -v a="$prev" -v b="$e" 'BEGIN { printf "%.3f", log(a / b) / log(2) }')
      echo "$name dt $dt: error $e, observed order $order"
      awk -v o="$order" 'BEGIN { exit !(o > 2.7 && o < 3.3) }' || bad "$name: order $order, want 3 +- 0.3"
    fi
    prev=$e
  done
  cat > "$tmp/a.json" <<JSON
{"problem": "lorenz", "solver": {"plugin": "$name", "abstol": 1e-8, "reltol": 1e-8}}
JSON
  "$bindir/nde" solve "$tmp/a.json" --json > "$tmp/out-$name.json" || bad "adaptive $name solve failed"
  grep -q '"status": "NDE_OK"' "$tmp/out-$name.json" || bad "adaptive $name solve status"
  grep -v '"wall_time' "$tmp/out-$name.json" | grep -v '"solver"' > "$tmp/cmp-$name.json"
done
# the data-only tableau and the compiled one are the same method: the same numbers
cmp -s "$tmp/errors-ralston3.txt" "$tmp/errors-ralston3_c.txt" ||
  bad "fixed-step errors differ: $(cat "$tmp/errors-ralston3.txt") vs $(cat "$tmp/errors-ralston3_c.txt")"
cmp -s "$tmp/cmp-ralston3.json" "$tmp/cmp-ralston3_c.json" ||
  { diff "$tmp/cmp-ralston3.json" "$tmp/cmp-ralston3_c.json" | head; bad "adaptive solves differ"; }
exit 0
