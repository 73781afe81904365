# nde_core_dir.m4: configure must never touch the source folder core/.
#
# Autoconf's compile/link/run tests and its exit trap, and Automake's
# -c -o check, clean up with `rm -f core ...` (meant for core dumps). With a
# folder named core/ that rm fails ("rm: cannot remove 'core': Is a
# directory", once per test) and, in the exit trap, skips the rest of the
# cleanup. AC_PROG_CC_C_O cleans up with `rm -rf core conftest*`, which
# would delete the sources. So, when aclocal.m4 is read (before
# configure.ac): drop `core` from those cleanups, and make AC_PROG_CC_C_O an
# error at autoconf time. tests/configure_core.sh checks the generated
# configure for any rm of `core`.

# NDE_DROP_RM_CORE(MACRO): remove `core` from MACRO's `rm -f core ...` lines.
m4_define([NDE_DROP_RM_CORE],
[m4_ifdef([$1],
  [m4_define([$1], m4_bpatsubst(m4_dquote(m4_defn([$1])), [rm -f core ], [rm -f ]))])])

NDE_DROP_RM_CORE([_AC_INIT_PREPARE])
NDE_DROP_RM_CORE([_AC_COMPILE_IFELSE])
NDE_DROP_RM_CORE([_AC_LINK_IFELSE])
NDE_DROP_RM_CORE([_AC_RUN_IFELSE])
NDE_DROP_RM_CORE([_AM_PROG_CC_C_O])

m4_define([AC_PROG_CC_C_O],
[m4_fatal([AC_PROG_CC_C_O cleans up with `rm -rf core conftest*`, which deletes nde's ]dnl
[source folder core/; do not use it (Automake already checks -c -o)])])

# NDE_CORE_DIR_GUARD: call it in configure.ac so that aclocal includes this
# file (the definitions above take effect when aclocal.m4 is read).
AC_DEFUN([NDE_CORE_DIR_GUARD], [])
