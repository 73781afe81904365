#!/bin/sh
# An installed nde: (1) every pipeline under examples/ is installed
# (examples/Makemodule.am), (2) the paths compiled into nde and libnde are
# the current configuration's (a reconfigure or `make prefix=...` rebuilds
# what uses them: nde_paths.h), (3) the program never reads the source tree:
# a copy of it outside the build tree searches only the installed examples,
# and no source or build path is in the program's or library's data.
set -u
fail() { echo "FAIL: $*"; exit 1; }
build=$(cd "${NDE_TEST_BUILDDIR:-.}" && pwd)
src=$(cd "${NDE_TEST_SRCDIR:-tests}/.." && pwd)
: "${NDE_TEST_PLUGINDIR:?}" "${NDE_TEST_EXAMPLESDIR:?}" "${NDE_TEST_INSTALLED_EXAMPLES:?}"

# (1) every .json under examples/ is in the installed lists
missing=
for f in $(cd "$src" && find examples -name '*.json' | sort); do
  case " $NDE_TEST_INSTALLED_EXAMPLES " in
  *" $f "*) ;;
  *) missing="$missing $f" ;;
  esac
done
[ -z "$missing" ] || fail "not installed (add to examples/Makemodule.am):$missing"

# (2) the build's nde uses the configured folders
"$build/nde" --help | tr '\n' ' ' | grep -qF "then $NDE_TEST_PLUGINDIR." ||
  fail "nde --help does not name the configured plugin folder $NDE_TEST_PLUGINDIR"
"$build/nde" reproduce --help | grep -qxF "  $NDE_TEST_EXAMPLESDIR" ||
  fail "nde reproduce does not search the configured examples folder $NDE_TEST_EXAMPLESDIR"
# ... and from the build tree, its staged examples
"$build/nde" reproduce --help | grep -qxF "  $build/_examples" ||
  fail "the build tree's nde does not search $build/_examples"

# (3) the program as installed (a copy outside the build tree)
prog=$build/.libs/nde
[ -f "$prog" ] || prog=$build/.libs/lt-nde
[ -f "$prog" ] || { echo "SKIP: no uninstalled program in $build/.libs"; exit 77; }
tmp=$(mktemp -d) || fail "mktemp"
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/bin" && cp "$prog" "$tmp/bin/nde" || fail "copy"
search=$(LD_LIBRARY_PATH="$build/core/.libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
         NDE_EXAMPLES= "$tmp/bin/nde" reproduce --help | sed -n '/^Pipelines are searched/,/^$/p')
echo "$search" | grep -qxF "  $NDE_TEST_EXAMPLESDIR" || fail "installed copy: $search"
# (the installation prefix may itself lie inside the tree, as in make distcheck: drop the
# configured folders before looking for source and build paths)
without_installed() {
  awk -v a="$NDE_TEST_EXAMPLESDIR" -v b="$NDE_TEST_PLUGINDIR" '{
    for (;;) { i = index($0, a); if (!i) break; $0 = substr($0, 1, i - 1) substr($0, i + length(a)) }
    for (;;) { i = index($0, b); if (!i) break; $0 = substr($0, 1, i - 1) substr($0, i + length(b)) }
    print }'
}
echo "$search" | without_installed | grep -qF "$src/" &&
  fail "an installed nde searches the source tree: $search"
echo "$search" | without_installed | grep -qF "$build/" &&
  fail "an installed nde searches the build tree: $search"
# (a sanitizer build embeds every source file's path for its reports: not a search path)
if [ "${NDE_TEST_SANITIZERS:-no}" = yes ]; then
  echo "note: sanitizer build: the data sections hold source paths by design; not checked"
elif command -v readelf >/dev/null 2>&1; then
  for f in "$prog" "$build/core/.libs/libnde.so"; do
    for section in .rodata .data; do
      readelf -p "$section" "$f" 2>/dev/null | without_installed | grep -F "$src/" &&
        fail "$f ($section) holds a source-tree path"
    done
  done
fi
exit 0
