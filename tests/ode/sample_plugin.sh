#!/bin/sh
# The third-party sample plugin (sample-plugins/ralston3) end to end: install
# nde into a staging folder, build the sample against it with its own
# Makefile (pkg-config + installed headers only), point NDE_PLUGIN_PATH at it,
# run the conformance suite on it (`nde check ralston3`) and solve with it.
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

# 2. build the sample out of tree with its own Makefile, install it into its own folder
cp -R "$top_srcdir/sample-plugins/ralston3" "$tmp/ralston3"
chmod -R u+w "$tmp/ralston3"
"$MAKE" -C "$tmp/ralston3" PKG_CONFIG="$PKG" PLUGINDIR="$tmp/myplugins" install \
  > "$tmp/build.log" 2>&1 || { cat "$tmp/build.log"; bad "building the sample failed"; }
grep -q -- "-I$stage" "$tmp/build.log" || bad "the sample was not built against the staged headers"

# 3. the installed nde finds it by name
LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
NDE_PLUGIN_PATH="$tmp/myplugins:$plugindir"
export LD_LIBRARY_PATH NDE_PLUGIN_PATH
"$bindir/nde" plugins --kind ode_solver > "$tmp/plugins.txt" 2>&1
grep -q '^ralston3 .* ok ' "$tmp/plugins.txt" || { cat "$tmp/plugins.txt"; bad "ralston3 not listed as ok"; }

# 4. the conformance suite, as a third party runs it on its plugin: every
#    claim of the manifest holds (order 3 on both problems, tolerance
#    proportionality, Hermite dense output)
"$bindir/nde" check ralston3 > "$tmp/check.txt" 2>&1
code=$?
cat "$tmp/check.txt"
[ "$code" -eq 0 ] || bad "nde check ralston3 exited $code"
for what in "load" "claims" "order (linear)" "order (nonlinear)" "tolerance" "dense output"; do
  grep -q "^PASS  ode_solver  *ralston3  *$what " "$tmp/check.txt" || bad "nde check: no PASS for $what"
done
# and a working adaptive solve through `nde solve`
cat > "$tmp/a.json" <<JSON
{"problem": "lorenz", "solver": {"plugin": "ralston3", "abstol": 1e-8, "reltol": 1e-8}}
JSON
"$bindir/nde" solve "$tmp/a.json" --json > "$tmp/out.json" || bad "adaptive ralston3 solve failed"
grep -q '"status": "NDE_OK"' "$tmp/out.json" || bad "adaptive solve status"
exit 0
