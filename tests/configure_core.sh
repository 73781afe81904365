#!/bin/sh
# configure must never remove (or try to remove) the source folder core/:
# no `rm ... core` in the generated configure (m4/nde_core_dir.m4 strips
# Autoconf's and Automake's, and makes AC_PROG_CC_C_O a hard error).
set -u
configure=${NDE_TEST_SRCDIR:-tests}/../configure
fail() { echo "FAIL: $*"; exit 1; }
[ -f "$configure" ] || fail "no configure at $configure"
# an rm (or libtool's $RM) whose arguments include the bare word core
hits=$(grep -nE '(^|[^[:alnum:]_])(rm|\$RM)[[:space:]].*(^|[[:space:]])core([[:space:];&|)]|$)' \
       "$configure")
[ -z "$hits" ] || fail "configure removes 'core':
$hits"
grep -q 'NO_MINUS_C_MINUS_O' "$configure" && fail "configure runs AC_PROG_CC_C_O"
exit 0
