#!/bin/sh
# circles.sh ROOT [BUILDDIR]: fail when the core has a circle.
#
# Nodes are the files under ROOT/core and ROOT/include/nde (.c, .h, .def)
# and their folders: core/ (its loose files, if any), each core/<sub>/, and
# include/nde/.
#
# 1. File includes. `#include "p"` resolves to the including file's folder
#    + p, else to include/p (the -I root); `#include <p>` to include/p; an
#    include that names no file of the tree (system headers, config.h) is no
#    edge. The file graph must have no cycle (a header that ends up
#    including itself).
# 2. Folder includes. Folder A -> folder B when a file of A includes a file
#    of B (A != B). This graph must have no cycle either: a subfolder may use
#    core/'s utilities or another subfolder, never both ways.
# 3. Folder calls (with BUILDDIR, once libnde is built). Folder A -> folder B
#    when an object of libnde compiled from a file of A has an undefined
#    symbol that an object compiled from a file of B defines (nm). Edges
#    named in KNOWN below are left out; what remains must have no cycle.
#
# A circle is printed as "a -> b -> ... -> a" with, per edge, one file or
# symbol that makes it (at least one circle of every tangle is printed). Exit 1 on a circle, 0 otherwise, 99 on a
# usage error.
set -u
root=${1:?usage: circles.sh ROOT [BUILDDIR]}
build=${2:-}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/nde-circles.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT

# Known call circles, "source-file target-folder  reason", one per line, left
# out of the call graph. None today: the kind descriptors check a solver's
# tableau with core/registry/tableau_check.c, not with the steppers' code in
# core/ode and core/sde, so the edges run subjects -> registry -> util.
# NDE_CIRCLES_KNOWN replaces the list (the planted tests use it).
KNOWN=${NDE_CIRCLES_KNOWN-}

# cycles: read "from to label" edges on stdin, print every cycle the DFS
# closes (one per back edge) with the labels of its edges.
cycles() {
  sort -u | awk '
    { if (!(($1, $2) in label)) { adj[$1, ++n[$1]] = $2; label[$1, $2] = $3 }
      node[$1] = 1; node[$2] = 1 }
    function dfs(u,   i, v, j, s, k) {
      color[u] = 1; stack[++sp] = u
      for (i = 1; i <= n[u]; i++) {
        v = adj[u, i]
        if (color[v] == 1) {
          for (j = sp; j >= 1 && stack[j] != v; j--) ;
          s = ""
          for (k = j; k <= sp; k++)
            s = s stack[k] " -> "
          print "circle: " s v
          for (k = j; k <= sp; k++)
            print "    " stack[k] " -> " (k < sp ? stack[k + 1] : v) ": " \
                  label[stack[k], (k < sp ? stack[k + 1] : v)]
          found++
        } else if (!color[v])
          dfs(v)
      }
      color[u] = 2; sp--
    }
    END {
      for (u in node) names[++m] = u
      # deterministic order: insertion sort of the node names
      for (i = 2; i <= m; i++) { x = names[i]; for (j = i - 1; j >= 1 && names[j] > x; j--) names[j + 1] = names[j]; names[j + 1] = x }
      for (i = 1; i <= m; i++) if (!color[names[i]]) dfs(names[i])
      exit found > 0
    }'
}

cd "$root" || exit 99
{ find core include/nde -type f \( -name '*.c' -o -name '*.h' -o -name '*.def' \) 2>/dev/null; } |
  LC_ALL=C sort > "$tmp/files"
[ -s "$tmp/files" ] || { echo "circles.sh: no sources under $root/core"; exit 99; }

# file -> file include edges
# shellcheck disable=SC2046
awk -v list="$tmp/files" '
  function norm(p,   n, a, out, i, k) {
    n = split(p, a, "/"); k = 0
    for (i = 1; i <= n; i++) {
      if (a[i] == "." || a[i] == "") continue
      if (a[i] == ".." && k > 0 && out[k] != "..") { k--; continue }
      out[++k] = a[i]
    }
    p = ""
    for (i = 1; i <= k; i++) p = p (i > 1 ? "/" : "") out[i]
    return p
  }
  BEGIN { while ((getline f < list) > 0) have[f] = 1 }
  /^[ \t]*#[ \t]*include[ \t]*["<]/ {
    line = $0
    sub(/^[ \t]*#[ \t]*include[ \t]*/, "", line)
    q = substr(line, 1, 1); p = substr(line, 2); sub(/[">].*/, "", p)
    dir = FILENAME; sub(/\/[^\/]*$/, "", dir)
    t = ""
    if (q == "\"" && (norm(dir "/" p) in have)) t = norm(dir "/" p)
    else if (norm("include/" p) in have) t = norm("include/" p)
    if (t != "") print FILENAME, t
  }' $(cat "$tmp/files") > "$tmp/file_edges"

status=0
echo "== file includes ($(wc -l < "$tmp/files") files, $(wc -l < "$tmp/file_edges") includes)"
awk '{ print $1, $2, "#include" }' "$tmp/file_edges" | cycles || status=1

echo "== folder includes"
awk '{ a = $1; b = $2; sub(/\/[^\/]*$/, "", a); sub(/\/[^\/]*$/, "", b)
       if (a != b) print a, b, $1 "->" $2 }' "$tmp/file_edges" |
  sort -k1,2 -u | cycles || status=1

if [ -n "$build" ] && [ -f "$build/core/libnde.la" ]; then
  echo "== folder calls (libnde objects)"
  : > "$tmp/syms"
  for lo in $(cd "$build" && find core -name 'libnde_la-*.lo' | LC_ALL=C sort); do
    dir=$(dirname "$lo")
    obj=$(sed -n "s/^pic_object='\(.*\)'/\1/p" "$build/$lo")
    [ -n "$obj" ] && [ "$obj" != none ] ||
      obj=$(sed -n "s/^non_pic_object='\(.*\)'/\1/p" "$build/$lo")
    [ -f "$build/$dir/$obj" ] || continue
    src="$dir/$(basename "$lo" .lo | sed 's/^libnde_la-//').c"
    nm "$build/$dir/$obj" | awk -v dir="$dir" -v src="$src" '
      NF == 3 && $2 ~ /^[TDBRGS]$/ { print "D", dir, $3, src }
      NF == 2 && $1 == "U" { print "U", dir, $2, src }' >> "$tmp/syms"
  done
  echo "$KNOWN" > "$tmp/known"
  awk -v known="$tmp/known" '
    BEGIN { while ((getline k < known) > 0) { if (split(k, f, " ") < 2) continue; skip[f[1], f[2]] = 1; used[f[1]] = 0 } }
    $1 == "D" { def[$3] = $2; next }
    { use[++n] = $2 " " $3 " " $4 }
    END {
      for (i = 1; i <= n; i++) {
        split(use[i], u, " ")
        if (!(u[2] in def) || def[u[2]] == u[1]) continue
        if ((u[3], def[u[2]]) in skip) { used[u[3]] = 1; continue }
        print u[1], def[u[2]], u[3] ":" u[2]
      }
      for (s in used) if (!used[s]) print "note: known exception for " s " no longer applies" > "/dev/stderr"
    }' "$tmp/syms" | sort -k1,2 -u | cycles || status=1
  [ -z "$KNOWN" ] ||
    echo "(left out as known: $(echo "$KNOWN" | awk '{ printf "%s%s -> %s", (NR > 1 ? ", " : ""), $1, $2 }'))"
fi
[ $status -eq 0 ] && echo "no circles"
exit $status
