#!/usr/bin/env bash
# numeric.sh - the numeric guard of `cldqn train`: a learning rate so large
# that the network overflows within a few dozen updates must stop training
# with one line naming the step and the tensor that went non-finite, exit 1,
# and leave the last good checkpoint (saved before the divergence) intact,
# finite and resumable.
# Usage: bash numeric.sh /path/to/cldqn /path/to/source
set -u
bin=$1
fail() { echo "numeric.sh: FAIL: $*" >&2; exit 1; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
steps_of() { grep -a -o '"steps":"[0-9]*"' "$1" | head -1 | tr -dc 0-9; }
ck=$dir/run.safetensors

# lr 1e12: weights reach ~1e12 after one Adam step, Q-values overflow float
# soon after. Updates start after 64 stored transitions; saves every 20 steps.
"$bin" train --backend ref --seed 2 --steps 100000 --lr 1e12 --replay 3000 --learning-starts 64 \
  --batch 32 --eval-every 0 --save-every 20 --out "$ck" --quiet >/dev/null 2>"$dir/err"
rc=$?
msg=$(cat "$dir/err")
[ $rc -eq 1 ] || fail "expected exit 1, got $rc: $msg"
[ "$(wc -l <"$dir/err")" -eq 1 ] || fail "expected one line on stderr, got: $msg"
# The line names the env step ("step N") and a tensor: the loss or a weight tensor.
echo "$msg" | grep -Eq 'step [0-9]+' || fail "message does not name the step: $msg"
echo "$msg" | grep -Eq 'loss|embedding|fc[0-9]|out\.|target|adam' || fail "message names no tensor: $msg"
echo "$msg" | grep -Eqi 'nan|inf|non-finite' || fail "message does not say non-finite: $msg"
bad=$(echo "$msg" | grep -Eo 'step [0-9]+' | head -1 | tr -dc 0-9)

# The kept checkpoint is from before the divergence, finite (load checks
# that) and resumes; resume with a sane rate so that it then trains on.
[ -f "$ck" ] && [ -f "$ck.state" ] || fail "no checkpoint kept ($msg)"
s=$(steps_of "$ck")
[ -n "$s" ] && [ "$s" -lt "$bad" ] || fail "kept checkpoint at step $s is not before the failing step $bad"
[ "$bad" -gt 64 ] || fail "failure at step $bad, before updates started (64 transitions)"
ls "$dir"/*.tmp.* >/dev/null 2>&1 && fail "temporary files left: $(ls "$dir")"
"$bin" train --resume "$ck" --lr 1e-3 --steps $((s + 10)) --backend ref --quiet >/dev/null 2>"$dir/err2" ||
  fail "the kept checkpoint (step $s) does not resume: $(cat "$dir/err2")"
[ "$(steps_of "$ck")" = $((s + 10)) ] || fail "resume did not continue from step $s"
echo "numeric.sh: diverged at step $bad, checkpoint of step $s kept and resumed: $msg"
