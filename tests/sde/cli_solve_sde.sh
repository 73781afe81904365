#!/bin/sh
# `nde solve` for SDEs end to end: on gbm with fixed steps SOSRI/SOSRI2 strong
# errors fall at order >= 1.3 and Euler-Maruyama near 0.5 (one path per seed,
# 200 trajectories); adaptive solves get more accurate as the tolerance
# shrinks; the spiral SDE prints mean/variance; general noise (gbm_general)
# converges at order 0.5 with Euler-Maruyama; bad files exit 2.
set -u
NDE="${NDE_TEST_BUILDDIR:-.}/nde"
command -v python3 >/dev/null 2>&1 || { echo "python3 needed to read JSON"; exit 77; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/nde-solve-sde.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
fail=0
bad() { echo "FAIL: $*"; fail=1; }
get() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$@"; }

fit_order() { # fit_order "E1 E2 ..." for dt = 2^-4, 2^-5, ...: the least-squares slope of log E
  echo "$1" | awk '{ n = NF; sx = sy = sxx = sxy = 0;
    for (i = 1; i <= n; i++) { x = -log(2) * (i + 3); y = log($i); sx += x; sy += y; sxx += x * x; sxy += x * y }
    printf "%.3f", (n * sxy - sx * sy) / (n * sxx - sx * sx) }'
}

gbm() { # gbm SOLVER-OPTIONS
  cat > "$tmp/p.json" <<JSON
{"problem": {"name": "gbm", "a": 1.01, "b": 0.87}, "u0": [0.5], "tspan": [0, 1],
 "trajectories": 200, "seed": 7, "solver": {$1}}
JSON
}

# 1. fixed steps: fitted strong order over dt = 1/16 .. 1/128
for s in euler_maruyama sosri sosri2 sri_w1; do
  errs=""
  for dt in 0.0625 0.03125 0.015625 0.0078125; do
    gbm "\"plugin\": \"$s\", \"adaptive\": false, \"dt\": $dt"
    "$NDE" solve "$tmp/p.json" --json > "$tmp/out.json" || bad "$s dt=$dt exited $?"
    errs="$errs $(get "$tmp/out.json" "d['error']")"
  done
  order=$(fit_order "$errs")
  echo "$s: errors$errs, fitted strong order $order"
  case $s in
  euler_maruyama) awk -v o="$order" 'BEGIN { exit !(o > 0.3 && o < 0.75) }' || bad "$s order $order" ;;
  *) awk -v o="$order" 'BEGIN { exit !(o >= 1.3 && o < 1.8) }' || bad "$s order $order" ;;
  esac
done

# 2. adaptive: error shrinks with the tolerance; nf counts 4 per attempted step plus
#    2 for the automatic initial step, ng 4 per attempted step
prev=""
for tol in 1e-1 1e-2 1e-3; do
  gbm "\"plugin\": \"sosri\", \"abstol\": $tol, \"reltol\": $tol"
  "$NDE" solve "$tmp/p.json" --json > "$tmp/out.json" || bad "adaptive tol=$tol exited $?"
  e=$(get "$tmp/out.json" "d['error']")
  nf=$(get "$tmp/out.json" "d['stats']['nf']")
  steps=$(get "$tmp/out.json" "d['stats']['accepted'] + d['stats']['rejected']")
  echo "sosri tol $tol: error $e, nf $nf, steps $steps"
  ng=$(get "$tmp/out.json" "d['stats']['ng']")
  [ "$nf" -eq $((4 * steps + 2)) ] || bad "nf $nf != 4 x $steps steps + 2"
  [ "$ng" -eq $((4 * steps)) ] || bad "ng $ng != 4 x $steps steps"
  if [ -n "$prev" ]; then
    awk -v a="$prev" -v b="$e" 'BEGIN { exit !(b < a) }' || bad "error $e at tol $tol not below $prev"
  fi
  prev=$e
done

# 2b. a stored-increments path works the same way
gbm "\"plugin\": \"sosri2\", \"abstol\": 1e-3, \"reltol\": 1e-3"
sed 's/"seed": 7,/"seed": 7, "brownian": "stored",/' "$tmp/p.json" > "$tmp/q.json"
"$NDE" solve "$tmp/q.json" --json > "$tmp/out.json" || bad "stored path exited $?"
awk -v e="$(get "$tmp/out.json" "d['error']")" 'BEGIN { exit !(e < 1e-4) }' || bad "stored path error"
echo '{"problem": "gbm", "brownian": "stord"}' > "$tmp/b0.json"
"$NDE" solve "$tmp/b0.json" > /dev/null 2> "$tmp/err.txt"
[ $? -eq 2 ] || bad "bad brownian mode should exit 2"
grep -q "stored" "$tmp/err.txt" || bad "message should suggest stored: $(cat "$tmp/err.txt")"

# 3. the spiral SDE: 30 saved points with mean and variance, no exact solution
cat > "$tmp/s.json" <<JSON
{"problem": "spiral_sde", "trajectories": 100, "seed": 1,
 "saveat": [0, 0.25, 0.5, 0.75, 1], "solver": {"plugin": "sosri", "abstol": 0.3, "reltol": 0.3}}
JSON
"$NDE" solve "$tmp/s.json" --json > "$tmp/out.json" || bad "spiral exited $?"
[ "$(get "$tmp/out.json" "len(d['mean_at'])")" = 5 ] || bad "spiral: 5 saved means expected"
[ "$(get "$tmp/out.json" "d['mean_at'][0]")" = "[2.0, 0.0]" ] || bad "spiral: mean at t0 is u0"
[ "$(get "$tmp/out.json" "d['error']")" = None ] || bad "spiral has no exact solution"
"$NDE" solve "$tmp/s.json" > "$tmp/out.txt" || bad "spiral text output exited $?"
grep -q "nf .* ng .* accepted" "$tmp/out.txt" || bad "spiral text output lacks statistics"

# 3b. general (matrix) noise: examples/sde/gbm-general-noise.json (two Wiener
#     processes per trajectory) with Euler-Maruyama converges at order near 0.5
#     against the exact solution on the same path; SRI solvers refuse it
ex="${NDE_TEST_SRCDIR:-tests}/../examples/sde/gbm-general-noise.json"
errs=""
for dt in 0.0625 0.03125 0.015625 0.0078125; do
  sed "s/\"dt\": 0.0078125/\"dt\": $dt/" "$ex" > "$tmp/g.json"
  "$NDE" solve "$tmp/g.json" --json > "$tmp/out.json" || bad "general noise dt=$dt exited $?"
  errs="$errs $(get "$tmp/out.json" "d['error']")"
done
order=$(fit_order "$errs")
echo "euler_maruyama, general noise: errors$errs, fitted strong order $order"
awk -v o="$order" 'BEGIN { exit !(o > 0.3 && o < 0.75) }' || bad "general noise order $order"
sed 's/"euler_maruyama", "adaptive": false,/"sosri",/' "$ex" > "$tmp/g.json"
"$NDE" solve "$tmp/g.json" > /dev/null 2> "$tmp/err.txt"
[ $? -eq 2 ] || bad "sosri with general noise should exit 2"
grep -q "general" "$tmp/err.txt" || bad "message should name general noise: $(cat "$tmp/err.txt")"

# 4. bad files exit 2 and name the file and the path
echo '{"problem": "gbm", "trajectories": 0}' > "$tmp/b1.json"
"$NDE" solve "$tmp/b1.json" > /dev/null 2> "$tmp/err.txt"
[ $? -eq 2 ] || bad "trajectories 0 should exit 2"
grep -q "trajectories" "$tmp/err.txt" || bad "message should name trajectories: $(cat "$tmp/err.txt")"
echo '{"problem": "gbm", "solver": "sossri"}' > "$tmp/b2.json"
"$NDE" solve "$tmp/b2.json" > /dev/null 2> "$tmp/err.txt"
[ $? -eq 2 ] || bad "unknown solver should exit 2"
grep -q "sosri" "$tmp/err.txt" || bad "message should suggest sosri: $(cat "$tmp/err.txt")"
echo '{"problem": {"name": "gbm", "c": 1}}' > "$tmp/b3.json"
"$NDE" solve "$tmp/b3.json" > /dev/null 2> "$tmp/err.txt"
[ $? -eq 2 ] || bad "unknown parameter should exit 2"
echo '{"problem": "gbm", "solver": {"plugin": "euler_maruyama"}}' > "$tmp/b4.json"
"$NDE" solve "$tmp/b4.json" > /dev/null 2> "$tmp/err.txt"
[ $? -eq 2 ] || bad "fixed step without dt should exit 2"
echo '{"problem": "gbm", "trajectoriez": 3}' > "$tmp/b5.json"
"$NDE" solve "$tmp/b5.json" > /dev/null 2> "$tmp/err.txt"
[ $? -eq 2 ] || bad "unknown key should exit 2"
# a solve that fails (maxiters) exits 1 and still prints JSON with the status
echo '{"problem": "gbm", "solver": {"plugin": "sosri", "maxiters": 2, "abstol": 1e-6, "reltol": 1e-6}}' > "$tmp/b6.json"
"$NDE" solve "$tmp/b6.json" --json > "$tmp/out.json" 2> /dev/null
[ $? -eq 1 ] || bad "maxiters should exit 1"
[ "$(get "$tmp/out.json" "d['status']")" = NDE_EMAXITERS ] || bad "status NDE_EMAXITERS expected"
exit $fail
