# Sourced by the tests that bound nde's memory to 1 GiB. With $cap_nde the nde
# program, sets `cap` to the shell prefix "ulimit -v 1048576;" when nde starts
# under that address-space limit. AddressSanitizer reserves terabytes of
# address space and cannot: in a sanitizer build `cap` stays empty and the
# resident set is capped through ASAN_OPTIONS (hard_rss_limit_mb) instead.
cap=""
if sh -c "ulimit -v 1048576; \"\$0\" --version" "$cap_nde" >/dev/null 2>&1; then
  cap="ulimit -v 1048576;"
else
  echo "note: nde does not start under ulimit -v (sanitizer build?): capping RSS through ASAN_OPTIONS"
  ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}hard_rss_limit_mb=1024"
  export ASAN_OPTIONS
fi
