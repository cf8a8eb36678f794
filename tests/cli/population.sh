#!/bin/bash
# tests/cli/population.sh - `cldqn train --population K --sweep ...`: results
# table, per-agent checkpoints and JSON lines, each agent's weights byte-equal
# to the same agent trained alone, and one-line errors for bad arguments.
# Usage: bash population.sh /path/to/cldqn /path/to/source
set -u
BIN=$1
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() {
    echo "FAIL: $*" >&2
    exit 1
}
COMMON=(--steps 1200 --learning-starts 200 --batch 32 --target-every 100 --eps-decay-steps 600
    --eval-every 600 --quiet)
out=$("$BIN" train "${COMMON[@]}" --seed 5 --population 2 --sweep gamma=0.9,0.99 \
    --out "$T/p.safetensors" --metrics "$T/m.jsonl" 2> "$T/err") || fail "population run: $(cat "$T/err")"
echo "$out" | grep -q "^population of 2: 2400 env steps" || fail "summary line: $out"
echo "$out" | grep -qE "^ +1 +6 +0.003 +0.99 +1200 " || fail "agent 1 row (seed 6, gamma 0.99): $out"
for i in 0 1; do
    [ -s "$T/p.agent$i.safetensors" ] || fail "no checkpoint for agent $i"
    grep -q "\"agent\": $i," "$T/m.jsonl" || fail "no JSON lines for agent $i"
done
grep -q '"type": "eval", "agent": 1, "steps": 1200' "$T/m.jsonl" || fail "no eval line at step 1200"

# Agent 1 (seed 6, gamma 0.99) alone: the weights are the same bytes. The
# tensor data is the tail of the file (8406 floats for the default shape).
"$BIN" train "${COMMON[@]}" --seed 6 --gamma 0.99 --kernels fused --out "$T/solo.safetensors" \
    > /dev/null 2> "$T/err" || fail "solo run: $(cat "$T/err")"
cmp <(tail -c 33624 "$T/solo.safetensors") <(tail -c 33624 "$T/p.agent1.safetensors") ||
    fail "agent 1 differs from its solo run"
cmp -s <(tail -c 33624 "$T/p.agent0.safetensors") <(tail -c 33624 "$T/p.agent1.safetensors") &&
    fail "agents 0 and 1 ended with the same weights"
# The checkpoint carries the agent's own settings.
"$BIN" eval "$T/p.agent1.safetensors" --json > /dev/null || fail "eval of an agent checkpoint"

expect_error() { # code, pattern, args...
    local code=$1 pat=$2
    shift 2
    "$BIN" train "$@" --out "$T/x.safetensors" > /dev/null 2> "$T/err"
    local rc=$?
    [ $rc -eq "$code" ] || fail "$* exited $rc, wanted $code"
    [ "$(wc -l < "$T/err")" -eq 1 ] || fail "$*: not one line: $(cat "$T/err")"
    grep -q "$pat" "$T/err" || fail "$*: message: $(cat "$T/err")"
}
expect_error 2 "cannot differ between agents (only seed, lr, gamma, eps-start" --population 2 --sweep batch=16,32
expect_error 2 "needs KEY=V1" --population 2 --sweep
expect_error 2 "needs a count" --population 0
expect_error 2 "gamma" --population 2 --sweep gamma=0.9,x
expect_error 1 "OpenCL backend" --population 2 --backend ref --steps 10
"$BIN" train --steps 400 --quiet --out "$T/r.safetensors" > /dev/null 2>&1 || fail "plain run"
expect_error 2 "resume" --population 2 --resume "$T/r.safetensors"
# SIGINT: the step finishes, every agent's checkpoint is written, exit 130.
"$BIN" train --population 2 --steps 100000000 --quiet --out "$T/i.safetensors" \
    --metrics "$T/i.jsonl" > "$T/i.out" 2> "$T/i.err" &
pid=$!
for _ in $(seq 200); do
    [ -s "$T/i.jsonl" ] && break
    sleep 0.1
done
kill -INT $pid
wait $pid
rc=$?
[ $rc -eq 130 ] || fail "SIGINT: exit $rc, wanted 130: $(cat "$T/i.err")"
[ -s "$T/i.agent0.safetensors" ] && [ -s "$T/i.agent1.safetensors" ] ||
    fail "SIGINT: checkpoints missing"
grep -q "interrupted" "$T/i.err" || fail "SIGINT: no message: $(cat "$T/i.err")"
grep -q "^population of 2:" "$T/i.out" || fail "SIGINT: no table"
echo "population.sh: ok"
