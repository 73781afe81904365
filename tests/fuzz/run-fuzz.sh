#!/bin/sh
# `make fuzz` (tests/fuzz/Makemodule.am): the instrumented libFuzzer build and run.
#   run-fuzz.sh BUILDDIR FUZZSRC
# BUILDDIR/dist holds a fresh `make distdir`; FUZZSRC is the source tree's
# tests/fuzz (seed corpora and crashers). Environment: FUZZ_CC (clang),
# FUZZ_SECONDS (per target), FUZZ_TARGETS (names), MAKE.
# Exit status: 0 when no target found anything, 1 otherwise.
set -eu
build=$1
fuzzsrc=$2
: "${FUZZ_CC:=clang}" "${FUZZ_SECONDS:=30}" "${MAKE:=make}"
: "${FUZZ_TARGETS:=manifest pipeline solve safetensors idx csv checkpoint}"

# Sync dist/ into src/ copying only changed files, so the build there is incremental.
mkdir -p "$build/src"
(cd "$build/dist" && find . -type f) | while read -r f; do
  if ! cmp -s "$build/dist/$f" "$build/src/$f"; then
    mkdir -p "$(dirname "$build/src/$f")"
    cp -p "$build/dist/$f" "$build/src/$f"
  fi
done
rm -rf "$build/dist"

cd "$build/src"
cc="$FUZZ_CC"
if command -v ccache >/dev/null 2>&1; then cc="ccache $FUZZ_CC"; fi
log=$(pwd)/../build.log
echo "fuzz: building the instrumented tree in $build/src (log: $build/build.log)"
if [ ! -f config.status ] || [ configure -nt config.status ]; then
  if ! ./configure CC="$cc" CFLAGS="-g -O1 -fno-omit-frame-pointer -Wno-unknown-warning-option" \
         --enable-sanitizers --enable-libfuzzer --without-cuda --without-mpi >"$log" 2>&1; then
    tail -n 20 "$log"
    exit 1
  fi
fi
if ! "$MAKE" -j2 >>"$log" 2>&1; then
  grep -E 'error|Error' "$log" | tail -n 20
  exit 1
fi
cd ../..

plugins="$(pwd)/$build/src/_plugins"
status=0
for t in $FUZZ_TARGETS; do
  mkdir -p "$build/corpus/$t" "$build/artifacts/$t"
  seeds="$fuzzsrc/corpus/$t"
  crashers=
  [ -d "$fuzzsrc/crashers/$t" ] && crashers="$fuzzsrc/crashers/$t"
  echo "fuzz-$t: ${FUZZ_SECONDS}s (log: $build/fuzz-$t.log)"
  # leaks are reported by the sanitizer build of `make check`; here they would stop the run
  if NDE_PLUGIN_PATH="$plugins" ASAN_OPTIONS="detect_leaks=0:allocator_may_return_null=1" \
     "$build/src/tests/fuzz/fuzz-$t" -max_total_time="$FUZZ_SECONDS" -timeout=25 \
       -rss_limit_mb=3072 -malloc_limit_mb=2048 -print_final_stats=1 \
       -artifact_prefix="$build/artifacts/$t/" \
       "$build/corpus/$t" "$seeds" $crashers >"$build/fuzz-$t.log" 2>&1; then
    grep -E '^stat::(number_of_executed_units|new_units_added)' "$build/fuzz-$t.log" | tr '\n' ' '
    echo
  else
    status=1
    echo "fuzz-$t: FOUND A PROBLEM; see $build/fuzz-$t.log and $build/artifacts/$t/"
    grep -E '^(==[0-9]+==ERROR|SUMMARY|fuzz invariant|artifact_prefix|Test unit written)' \
      "$build/fuzz-$t.log" | head -n 8 || true
  fi
done
exit $status
