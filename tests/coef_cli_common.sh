# Sourced by the coefficient tests (follow_loss_cli.sh, target_nfe_cli.sh): the nde
# binary, the fig-5.2 regularized pipeline, fail(), a work folder $work removed on
# exit (tests/NAME.PID, NAME in $coef_test), and
#   train_coef DIR STEPS COEF [ARGS...]  nde train with error_global alone at
#                                        coefficient COEF, checkpoints in $work/DIR
#   training_lines METRICS               its training lines without wall_time
set -u
nde=${NDE_TEST_BUILDDIR:-.}/nde
pipe=${srcdir:-.}/examples/paper/fig-5.2-regularized.json
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
fail() { echo "FAIL: $*"; exit 1; }
work=${NDE_TEST_BUILDDIR:-.}/tests/$coef_test.$$
trap 'rm -rf "$work"' EXIT INT TERM
mkdir -p "$work" || fail "cannot create $work"

train_coef() {
  dir=$1 steps=$2 coef=$3
  shift 3
  "$nde" train "$pipe" --set train.steps="$steps" --set train.checkpoint="\"$work/$dir\"" \
    --set "model.chain[0].regularizer=[{\"plugin\": \"error_global\", \"coef\": $coef}]" \
    "$@" >"$work/$dir.out" 2>&1 || fail "$dir: exit status $?: $(cat "$work/$dir.out")"
}

training_lines() { grep '"data_loss"' "$1" | sed 's/,"wall_time":[^,}]*//'; }
