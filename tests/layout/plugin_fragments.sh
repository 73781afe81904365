#!/bin/sh
# Each plugin folder owns its build fragment: every plugins/<kind>/<name>/
# with a manifest has a Makemodule.am that installs the manifest and builds
# its library (when it names one: a plugin may be data only), no kind-wide
# fragment is left,
# and plugins/Makemodule.am is exactly what plugins/fragments.sh makes from
# the folders (the Makefile regenerates it; a hand edit would be lost).
set -u
top="${NDE_TEST_SRCDIR:?}/.."
fail=0
bad() { echo "FAIL: $*"; fail=1; }

sh "$top/plugins/fragments.sh" "$top" | cmp -s - "$top/plugins/Makemodule.am" ||
  bad "plugins/Makemodule.am differs from the output of plugins/fragments.sh"
for f in "$top"/plugins/*/Makemodule.am; do
  [ -e "$f" ] && bad "kind-wide fragment ${f#"$top"/} (plugins own their fragments)"
done
n=0
for m in "$top"/plugins/*/*/*.json; do
  dir=$(dirname "$m")
  rel=${dir#"$top"/}
  frag="$dir/Makemodule.am"
  n=$((n + 1))
  [ -f "$frag" ] || { bad "$rel has a manifest but no Makemodule.am"; continue; }
  grep -q "^dist_plugin_DATA += $rel/$(basename "$m")\$" "$frag" ||
    bad "$rel/Makemodule.am does not install $(basename "$m")"
  lib=$(sed -n 's/^ *"library": *"\([^"]*\)\.so".*/\1/p' "$m")
  [ -z "$lib" ] || grep -q "^plugin_LTLIBRARIES += $rel/$lib.la\$" "$frag" ||
    bad "$rel/Makemodule.am does not build $lib.la (the manifest's library)"
  grep -q "^include $rel/Makemodule.am\$" "$top/plugins/Makemodule.am" ||
    bad "plugins/Makemodule.am does not include $rel/Makemodule.am"
done
[ "$n" -gt 0 ] || bad "no plugin manifests under $top/plugins"
echo "$n plugin folders checked"
exit $fail
