#!/bin/bash
# tests/cli/state_envs.sh - a state file of an N-env run (N > 1) is refused,
# in one line, by a loop of one env that would otherwise continue from env 0
# alone: the population (one Taxi per agent, even when --envs 1 overrides the
# stored setting) and the solo trainer told --envs 1. Both read the file
# through host/train/train_state.c, which checks the file's "envs" key.
# Usage: bash state_envs.sh /path/to/cldqn /path/to/source
set -u
BIN=$1
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() {
    echo "FAIL: $*" >&2
    exit 1
}

"$BIN" train --envs 4 --steps 300 --seed 4 --batch 16 --learning-starts 50 --eval-every 0 \
    --quiet --out "$T/e4.safetensors" > /dev/null 2> "$T/err" || fail "train --envs 4: $(cat "$T/err")"
for i in 0 1; do
    cp "$T/e4.safetensors" "$T/pop.agent$i.safetensors"
    cp "$T/e4.safetensors.state" "$T/pop.agent$i.safetensors.state"
done
cp "$T/e4.safetensors" "$T/solo.safetensors"
cp "$T/e4.safetensors.state" "$T/solo.safetensors.state"

expect_refusal() { # NAME ARGS...: exit 1, one line naming both env counts
    local name=$1
    shift
    err=$("$BIN" train --quiet "$@" 2>&1 >/dev/null)
    rc=$?
    [ $rc -eq 1 ] || fail "$name: exited $rc, want 1: $err"
    [ "$(echo "$err" | wc -l)" -eq 1 ] || fail "$name: more than one line: $err"
    echo "$err" | grep -q "saved with --envs 4, cannot continue with --envs 1" ||
        fail "$name: got '$err'"
}
expect_refusal population --resume "$T/pop.safetensors" --envs 1 --steps 400
expect_refusal solo --resume "$T/solo.safetensors" --envs 1 --steps 400
# Nothing was written over the refused files.
cmp -s "$T/e4.safetensors.state" "$T/pop.agent0.safetensors.state" || fail "agent 0's state changed"
cmp -s "$T/e4.safetensors.state" "$T/solo.safetensors.state" || fail "solo state changed"
# The same files continue with --envs 4 (the control: the refusal is about N).
"$BIN" train --quiet --resume "$T/solo.safetensors" --steps 400 > /dev/null 2> "$T/err" ||
    fail "resume with --envs 4: $(cat "$T/err")"
exit 0
