#!/bin/sh
# The frozen plugin ABI (docs/headers.md): with NDE_PLUGIN_ABI_ONLY defined,
# nde/plugin_abi.h and every header it includes compile on their own, and
# every other public header refuses to compile with a message. A header
# added to include/nde must be put on one side (plugin_abi.h, or the guard).
# One lifecycle verb pair (docs/headers.md): no public function is named
# nde_*_close or nde_*_free (release is nde_*_destroy, or nde_*_clear).
set -u
top="${NDE_TEST_SRCDIR:?}/.."
builddir="${NDE_TEST_BUILDDIR:?}"
CC="${CC:-cc}"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/nde-abi.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
fail=0
bad() { echo "FAIL: $*"; fail=1; }
inc="-I$top/include -I$builddir/include"

abi=$(sed -n 's|^#include <nde/\([a-z_]*\.h\)>$|\1|p' "$top/include/nde/plugin_abi.h")
[ -n "$abi" ] || { echo "FAIL: no headers in nde/plugin_abi.h"; exit 1; }
for h in plugin_abi.h $abi; do
  printf '#include <nde/%s>\nint nde_abi_probe;\n' "$h" > "$tmp/t.c"
  $CC -std=c11 -Wall -Wextra -Werror -DNDE_PLUGIN_ABI_ONLY $inc -c "$tmp/t.c" -o "$tmp/t.o" \
    > "$tmp/err.txt" 2>&1 || { cat "$tmp/err.txt"; bad "ABI header nde/$h does not compile on its own (an application header in it?)"; }
done
n=0
for path in "$top"/include/nde/*.h; do
  h=$(basename "$path")
  case " plugin_abi.h $(echo $abi) " in *" $h "*) continue ;; esac
  n=$((n + 1))
  printf '#include <nde/%s>\nint nde_abi_probe;\n' "$h" > "$tmp/t.c"
  if $CC -std=c11 -DNDE_PLUGIN_ABI_ONLY $inc -c "$tmp/t.c" -o "$tmp/t.o" > "$tmp/err.txt" 2>&1; then
    bad "application header nde/$h compiles with NDE_PLUGIN_ABI_ONLY (add the guard, or list it in plugin_abi.h)"
  else
    grep -q "nde/$h is application API" "$tmp/err.txt" || { cat "$tmp/err.txt"; bad "nde/$h: no guard message"; }
  fi
  # and it compiles in an application
  printf '#include <nde/%s>\nint nde_abi_probe;\n' "$h" > "$tmp/t.c"
  $CC -std=c11 -Wall -Wextra -Werror $inc -c "$tmp/t.c" -o "$tmp/t.o" > "$tmp/err.txt" 2>&1 ||
    { cat "$tmp/err.txt"; bad "nde/$h does not compile on its own"; }
done
# the lifecycle verbs: declarations span lines, so join each header first
for path in "$top"/include/nde/*.h; do
  tr '\n' ' ' < "$path" | grep -oE 'NDE_API[^;{]*\bnde_[a-z0-9_]+_(close|free)[[:space:]]*\(' |
    sed "s|^|$(basename "$path"): |" >> "$tmp/verbs.txt"
done
if [ -s "$tmp/verbs.txt" ]; then
  cat "$tmp/verbs.txt"
  bad "public functions named _close/_free (the release verb is _destroy, or _clear for a caller-owned struct)"
fi
echo "$(echo $abi | wc -w) ABI headers, $n application headers checked"
exit $fail
