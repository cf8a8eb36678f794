#!/bin/bash
# tests/cli/train.sh - `cldqn train` from the command line: settings, errors,
# checkpoints, resume through the CLI, SIGTERM/SIGINT, and (where Python has
# torch, gymnasium and safetensors) loading the checkpoint into PyTorch.
# Usage: bash train.sh /path/to/cldqn /path/to/source
set -u
BIN=$1
SRC=$2
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() {
    echo "FAIL: $*" >&2
    exit 1
}
# Small, fast settings on the host reference backend.
FAST=(--backend ref --batch 16 --learning-starts 50 --eval-every 100 --quiet)

# --print-config: resolved settings, exit 0; flags override presets and files.
out=$("$BIN" train --preset seed --print-config) || fail "print-config exit"
echo "$out" | grep -Eq '^gamma +\= 0\.6 ' || fail "seed gamma: $out"
echo "$out" | grep -Eq '^update +\= per-sample ' || fail "seed update mode"
printf 'gamma = 0.8\nbatch = 7\n' > "$T/cfg"
out=$("$BIN" train --config "$T/cfg" --batch 9 --print-config) || fail "config file"
echo "$out" | grep -Eq '^gamma +\= 0\.8 ' || fail "config file gamma"
echo "$out" | grep -Eq '^batch +\= 9 ' || fail "flag did not override the file"
"$BIN" train --print-config > "$T/printed" || fail "print-config"
out=$("$BIN" train --config "$T/printed" --print-config) || fail "printed config does not load"
[ "$out" = "$(cat "$T/printed")" ] || fail "print-config is not a fixed point"

# Bad usage: one line, exit 2.
expect_usage_error() {
    local want=$1
    shift
    err=$("$BIN" train "$@" 2>&1 >/dev/null)
    rc=$?
    [ $rc -eq 2 ] || fail "'$*' exited $rc, want 2"
    [ "$(echo "$err" | wc -l)" -eq 1 ] || fail "'$*' printed more than one line: $err"
    [ -z "$want" ] || [ "$err" = "$want" ] || fail "'$*': got '$err', want '$want'"
}
expect_usage_error "cldqn: --gamma: 1.5 is not in [0, 1]" --gamma 1.5
expect_usage_error "cldqn: --batch: -4 is not in [1, 65536]" --batch -4
expect_usage_error "cldqn: --lr: 0 is not > 0" --lr=0
expect_usage_error "cldqn: train: unknown option '--frobnicate' (see cldqn train --help)" --frobnicate 3
expect_usage_error "cldqn: --steps: needs a value" --steps
# getopt_long reads the flags: no abbreviations ("--ste" was never --steps),
# no value for a flag that takes none (--print-config=x was ignored), the
# '_' spelling config files take, and no "--" (cldqn has no operands).
expect_usage_error "cldqn: train: unknown option '--ste' (see cldqn train --help)" --ste 100
expect_usage_error "cldqn: --print-config: takes no value" --print-config=x
expect_usage_error "cldqn: train: unknown option '--' (see cldqn train --help)" --steps 10 --
expect_usage_error "cldqn: train: unexpected argument 'foo'" --quiet foo
"$BIN" train --learning_starts 77 --print-config | grep -Eq '^learning-starts += 77 ' ||
    fail "--learning_starts is not --learning-starts"
expect_usage_error "cldqn: --preset: unknown preset 'fast' (seed, default, next)" --preset fast
expect_usage_error "cldqn: --until-optimal: needs a Markov model of Taxi (no --fickle)" --until-optimal --fickle
expect_usage_error "" --config "$T/printed" --replay 3 --batch 4
printf 'gamma = 3\n' > "$T/bad.cfg"
expect_usage_error "cldqn: $T/bad.cfg:1: gamma: 3 is not in [0, 1]" --config "$T/bad.cfg"

# Unwritable --out: one line, non-zero, before any training.
err=$("$BIN" train "${FAST[@]}" --steps 100 --out /nonexistent-dir/x.safetensors 2>&1)
rc=$?
[ $rc -ne 0 ] || fail "unwritable --out accepted"
[ "$(echo "$err" | wc -l)" -eq 1 ] || fail "unwritable --out: $err"
echo "$err" | grep -q "cannot write '/nonexistent-dir/x.safetensors'" || fail "message: $err"

# A short run writes the checkpoint, its state and metrics.
"$BIN" train "${FAST[@]}" --steps 600 --out "$T/a.st" --metrics "$T/a.jsonl" > "$T/a.out" ||
    fail "training run"
[ -s "$T/a.st" ] && [ -s "$T/a.st.state" ] || fail "checkpoint files missing"
grep -q "checkpoint: $T/a.st" "$T/a.out" || fail "final message: $(cat "$T/a.out")"
grep -q '"type": "episode"' "$T/a.jsonl" || fail "no episode metrics"
[ "$(grep -c '"type": "eval"' "$T/a.jsonl")" -eq 6 ] || fail "expected 6 eval lines"
ls "$T" | grep -q tmp && fail "temporary files left behind"

# Resume through the CLI gives the same checkpoint as an uninterrupted run.
"$BIN" train "${FAST[@]}" --steps 300 --out "$T/b.st" > /dev/null || fail "first half"
"$BIN" train --resume "$T/b.st" --steps 600 --quiet --backend ref > /dev/null || fail "resume"
cmp -s "$T/a.st" "$T/b.st" || fail "resumed checkpoint differs from the straight run"
# (The .state files differ only in wall-clock time; test_trainer compares the rest.)
err=$("$BIN" train --resume "$T/nothere.st" 2>&1)
[ $? -ne 0 ] && [ "$(echo "$err" | wc -l)" -eq 1 ] || fail "resume of a missing file: $err"
head -c 300 "$T/a.st" > "$T/trunc.st"
err=$("$BIN" train --resume "$T/trunc.st" 2>&1)
[ $? -ne 0 ] && echo "$err" | grep -q truncated || fail "resume of a truncated file: $err"

# SIGTERM and SIGINT: the step finishes, a checkpoint is saved, the exit says where.
for sig in TERM INT; do
    "$BIN" train --backend ref --steps 100000000 --batch 8 --out "$T/sig.st" \
        > "$T/sig.out" 2> "$T/sig.err" &
    pid=$!
    for _ in $(seq 50); do
        grep -q "steps" "$T/sig.err" 2>/dev/null && break
        sleep 0.2
    done
    sleep 1
    kill -$sig $pid
    wait $pid
    rc=$?
    want=$([ $sig = TERM ] && echo 143 || echo 130)
    [ $rc -eq $want ] || fail "SIG$sig: exit $rc, want $want"
    grep -q "interrupted by SIG$sig after .* steps; checkpoint saved to $T/sig.st" "$T/sig.err" ||
        fail "SIG$sig message: $(tail -2 "$T/sig.err")"
    "$BIN" eval "$T/sig.st" > /dev/null || fail "checkpoint saved on SIG$sig does not load"
    rm -f "$T/sig.st" "$T/sig.st.state"
done

# The checkpoint in PyTorch and Gymnasium, where Python has the packages.
PY=""
for p in python3 /usr/bin/python3; do
    if "$p" -c "import torch, gymnasium, safetensors" 2>/dev/null; then
        PY=$p
        break
    fi
done
if [ -z "$PY" ]; then
    echo "skip: no python3 with torch, gymnasium and safetensors"
else
    c=$("$BIN" eval "$T/a.st" --json) || fail "eval"
    p=$("$PY" "$SRC/tools/load_checkpoint.py" "$T/a.st" --json 2>/dev/null) || fail "load_checkpoint.py"
    "$PY" - "$c" "$p" <<'PYEOF' || fail "PyTorch/Gymnasium disagree with cldqn eval: $c vs $p"
import json, sys
c, p = json.loads(sys.argv[1]), json.loads(sys.argv[2])
# Returns are integers summed over 300 episodes: the means agree exactly
# unless a float32 tie-break differs between PyTorch and the C forward pass.
assert abs(c["mean_return"] - p["mean_return"]) < 1e-9, (c, p)
assert abs(c["success_rate"] - p["success_rate"]) < 1e-9, (c, p)
PYEOF
fi
echo "ok"
