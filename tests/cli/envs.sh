#!/bin/bash
# tests/cli/envs.sh - `cldqn train --envs N` from the command line: the
# setting, its refusals, the checkpoint that records it, and resume through
# the CLI giving the uninterrupted run's checkpoint byte for byte.
# Usage: bash envs.sh /path/to/cldqn /path/to/source
set -u
BIN=$1
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() {
    echo "FAIL: $*" >&2
    exit 1
}
FAST=(--backend ref --batch 16 --learning-starts 50 --eval-every 100 --quiet)

out=$("$BIN" train --envs 3 --print-config) || fail "print-config"
echo "$out" | grep -Eq '^envs +\= 3 ' || fail "envs in print-config: $out"
"$BIN" train --help | grep -q -- "--envs N steps N Taxi instances together" || fail "--help"

# Bad usage: one line, exit 2.
expect_usage_error() {
    local want=$1
    shift
    err=$("$BIN" train "$@" 2>&1 >/dev/null)
    rc=$?
    [ $rc -eq 2 ] || fail "'$*' exited $rc, want 2"
    [ "$(echo "$err" | wc -l)" -eq 1 ] || fail "'$*' printed more than one line: $err"
    [ "$err" = "$want" ] || fail "'$*': got '$err', want '$want'"
}
expect_usage_error "cldqn: --envs: 2 needs --target-every > 0 (the seed loop steps one env)" \
    --preset seed --envs 2
expect_usage_error "cldqn: --envs: 0 is not in [1, 4096]" --envs 0

# (The config JSON sits escaped inside the safetensors header: \"envs\".)
# A 4-env run straight to 600 steps, and 300 + resume (the checkpoint holds
# envs = 4, so --resume needs no --envs): the same checkpoint, byte for byte.
"$BIN" train "${FAST[@]}" --envs 4 --steps 600 --out "$T/a.st" > "$T/a.out" || fail "straight run"
grep -q "trained 600 env steps" "$T/a.out" || fail "summary: $(cat "$T/a.out")"
grep -aqF '\"envs\": 4' "$T/a.st" || fail "checkpoint config lacks envs 4"
"$BIN" train "${FAST[@]}" --envs 4 --steps 300 --out "$T/b.st" > /dev/null || fail "first half"
"$BIN" train --resume "$T/b.st" --steps 600 --quiet --backend ref > /dev/null || fail "resume"
cmp -s "$T/a.st" "$T/b.st" || fail "resumed 4-env checkpoint differs from the straight run"
"$BIN" eval "$T/a.st" > /dev/null || fail "4-env checkpoint does not evaluate"

# Resuming with another N is refused in one line.
err=$("$BIN" train --resume "$T/b.st" --envs 2 --steps 900 --quiet --backend ref 2>&1)
[ $? -ne 0 ] || fail "resume with --envs 2 accepted"
[ "$(echo "$err" | wc -l)" -eq 1 ] && echo "$err" | grep -q "saved with --envs 4" ||
    fail "resume with --envs 2: $err"

# One env (the default) records no envs key: its checkpoint is the one
# written before the setting existed, and an explicit --envs 1 is the same run.
"$BIN" train "${FAST[@]}" --steps 300 --out "$T/c.st" > /dev/null || fail "one-env run"
grep -aqF '\"envs\"' "$T/c.st" && fail "one-env checkpoint records envs"
"$BIN" train "${FAST[@]}" --envs 1 --steps 300 --out "$T/d.st" > /dev/null || fail "--envs 1"
cmp -s "$T/c.st" "$T/d.st" || fail "--envs 1 differs from the default"
echo "ok"
