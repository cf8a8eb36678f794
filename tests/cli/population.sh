#!/bin/bash
# tests/cli/population.sh - `cldqn train --population K --sweep ...`: results
# table, per-agent checkpoints and JSON lines, each agent's weights byte-equal
# to the same agent trained alone, the same run from a config file and from a
# sweep file, --resume of a population (after a step limit and after SIGINT)
# and of one agent alone equal to the uninterrupted run, populations on the
# reference backend, with --envs, on the layered kernels and under --profile
# (each agent equal to its solo run), and one-line errors
# for bad arguments.
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
echo "$out" | grep -qE "^agent .* gap$" || fail "a gamma sweep needs no extra column: $out"
# Other swept settings get a column each, with every agent's value.
out=$("$BIN" train "${COMMON[@]}" --seed 5 --population 2 --sweep eps-end=0.05,0.2 \
    --out "$T/e.safetensors" 2> "$T/err") || fail "eps-end sweep: $(cat "$T/err")"
echo "$out" | grep -qE "^agent .* gap +eps-end$" || fail "no eps-end column: $out"
echo "$out" | grep -qE "^ +0 +5 .* 0\.05$" || fail "agent 0 row lacks eps-end 0.05: $out"
echo "$out" | grep -qE "^ +1 +6 .* 0\.2$" || fail "agent 1 row lacks eps-end 0.2: $out"
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

# Every backend and option runs a population: each agent's checkpoint equals
# its solo run with the same flags (agent i has seed 5 + i), byte for byte.
SHORT=(--steps 600 --learning-starts 200 --batch 32 --target-every 100 --eps-decay-steps 300
    --eval-every 300 --quiet --seed 5)
for flags in "--backend ref" "--envs 2" "--kernels layered" "--profile $T/t.json"; do
    read -ra F <<< "$flags"
    "$BIN" train "${SHORT[@]}" --population 4 "${F[@]}" --out "$T/v.safetensors" > "$T/v.out" \
        2> "$T/err" || fail "population with $flags: $(cat "$T/err")"
    grep -q "^population of 4:" "$T/v.out" || fail "population with $flags: $(cat "$T/v.out")"
    for i in 0 1 2 3; do
        "$BIN" train "${SHORT[@]}" --seed $((5 + i)) "${F[@]}" --out "$T/vs.safetensors" \
            > /dev/null 2> "$T/err" || fail "solo with $flags: $(cat "$T/err")"
        cmp <(tail -c 33624 "$T/vs.safetensors") <(tail -c 33624 "$T/v.agent$i.safetensors") ||
            fail "population with $flags: agent $i differs from its solo run"
    done
done
grep -q '"name": *"train step"' "$T/t.json" || fail "population profile: no train step spans"
# A population with --envs resumes bit-identically to a straight run.
"$BIN" train "${SHORT[@]}" --population 4 --envs 2 --steps 300 --out "$T/w.safetensors" \
    > /dev/null 2> "$T/err" || fail "--envs 2 to 300: $(cat "$T/err")"
"$BIN" train --resume "$T/w.safetensors" --steps 600 --quiet > /dev/null 2> "$T/err" ||
    fail "--envs 2 resume: $(cat "$T/err")"
"$BIN" train "${SHORT[@]}" --population 4 --envs 2 --out "$T/v.safetensors" > /dev/null \
    2> "$T/err" || fail "--envs 2 to 600: $(cat "$T/err")"
for i in 0 1 2 3; do
    cmp "$T/w.agent$i.safetensors" "$T/v.agent$i.safetensors" ||
        fail "--envs 2: resumed agent $i differs from the straight run"
done

expect_error() { # code, pattern, args...
    local code=$1 pat=$2
    shift 2
    "$BIN" train "$@" --out "$T/x.safetensors" > /dev/null 2> "$T/err"
    local rc=$?
    [ $rc -eq "$code" ] || fail "$* exited $rc, wanted $code"
    [ "$(wc -l < "$T/err")" -eq 1 ] || fail "$*: not one line: $(cat "$T/err")"
    grep -q "$pat" "$T/err" || fail "$*: message: $(cat "$T/err")"
}
expect_error 2 "cannot differ between agents (only seed, lr, gamma, beta1, beta2, adam-eps, huber-delta, clip, learning-starts, train-every, grad-steps, target-every, tau, lr-schedule, lr-end, lr-decay-steps, eps-start, eps-end, eps-decay-steps, eval-every)" --population 2 --sweep batch=16,32
expect_error 2 "needs KEY=V1" --population 2 --sweep
expect_error 2 "needs a count" --population 0
expect_error 2 "gamma" --population 2 --sweep gamma=0.9,x
expect_error 2 "cannot be combined with --resume" --resume "$T/p.safetensors" --sweep lr=1e-3,2e-3
expect_error 1 "cannot open" --population 3 --resume "$T/p.safetensors"
# Issue 16, item 10: a setting given twice, too many values, fewer agents
# than combinations, clip mixing off and on: each refused and named.
expect_error 2 "'lr' given twice" --sweep lr=1e-3 lr=2e-3
expect_error 2 "more than 64 values for 'lr'" --sweep "lr=$(printf '1e-3,%.0s' $(seq 1 64))1e-3"
expect_error 2 "population 1: fewer agents than the 2 combinations" --population 1 --sweep lr=1e-3,2e-3
expect_error 2 "clip: its values must be all > 0 or all 0" --sweep clip=0,1

# Settings from a config file give the same run as the flags (checkpoints
# byte for byte), and --print-config writes the population settings back.
cat > "$T/pop.cfg" << EOF
steps = 1200
learning-starts = 200
batch = 32
target-every = 100
eps-decay-steps = 600
eval-every = 600
quiet = true
seed = 5
population = 2
sweep = gamma=0.9,0.99
EOF
"$BIN" train --config "$T/pop.cfg" --out "$T/cf.safetensors" > /dev/null 2> "$T/err" ||
    fail "config-file population: $(cat "$T/err")"
for i in 0 1; do
    cmp "$T/cf.agent$i.safetensors" "$T/p.agent$i.safetensors" || fail "config file: agent $i differs"
done
"$BIN" train --config "$T/pop.cfg" --print-config > "$T/printed.cfg" || fail "print-config"
grep -qE "^population += 2 " "$T/printed.cfg" || fail "print-config: population"
grep -qE "^sweep += gamma=0.9,0.99 " "$T/printed.cfg" || fail "print-config: sweep"
"$BIN" train --population 2 --sweep lr=1e-3,2e-3 gamma=0.9 --print-config |
    grep -qE "^sweep += lr=1e-3,2e-3 gamma=0.9 " || fail "print-config: --sweep items"
# A sweep file: comments, blanks around '=' and ','.
printf '# gamma sweep\n\n  gamma = 0.9, 0.99   # two agents\n' > "$T/sweep.txt"
"$BIN" train "${COMMON[@]}" --seed 5 --sweep-file "$T/sweep.txt" --out "$T/sf.safetensors" \
    > /dev/null 2> "$T/err" || fail "sweep file: $(cat "$T/err")"
for i in 0 1; do
    cmp "$T/sf.agent$i.safetensors" "$T/p.agent$i.safetensors" || fail "sweep file: agent $i differs"
done
printf 'lr=1e-3,2e-3\n# fine so far\nbatch=16,32\n' > "$T/bad.txt"
expect_error 2 "bad.txt:3: 'batch' cannot differ between agents (only seed" --sweep-file "$T/bad.txt"
printf 'gamma=0.9,,0.99\n' > "$T/bad.txt"
expect_error 2 "bad.txt:1: empty value in 'gamma=0.9,,0.99'" --sweep-file "$T/bad.txt"
printf 'eps-end=0.1,7\n' > "$T/bad.txt"
expect_error 2 "bad.txt:1: eps-end: 7 is not in" --sweep-file "$T/bad.txt"
expect_error 2 "cannot open" --sweep-file "$T/none.txt"

# Resume: a population stopped at step 700 and resumed to 1200 ends with the
# same checkpoints as the run above (weights byte for byte; the state files'
# data hash covers target, Adam moments, replay, RNG streams and returns);
# agent 1 resumed alone by the solo trainer too.
state_hash() { head -c 4096 "$1" | grep -ao '"data_hash":"[0-9a-f]*"'; }
[ -n "$(state_hash "$T/p.agent0.safetensors.state")" ] || fail "no data_hash in the state file"
"$BIN" train "${COMMON[@]}" --steps 700 --seed 5 --population 2 --sweep gamma=0.9,0.99 \
    --out "$T/c.safetensors" --metrics "$T/c.jsonl" > /dev/null 2> "$T/err" ||
    fail "run to 700: $(cat "$T/err")"
cp "$T/c.agent1.safetensors" "$T/s.safetensors"
cp "$T/c.agent1.safetensors.state" "$T/s.safetensors.state"
"$BIN" train --resume "$T/c.safetensors" --steps 1200 --metrics "$T/c.jsonl" > "$T/out" \
    2> "$T/err" || fail "population resume: $(cat "$T/err")"
# The metrics go on in the same file: evaluations at 600 (before) and 1200.
[ "$(grep -c '"type": "eval", "agent": 1' "$T/c.jsonl")" -eq 2 ] ||
    fail "resume: metrics not appended: $(grep eval "$T/c.jsonl")"
grep -q "^population of 2: 2400 env steps" "$T/out" || fail "resume summary: $(cat "$T/out")"
for i in 0 1; do
    cmp "$T/c.agent$i.safetensors" "$T/p.agent$i.safetensors" || fail "resumed agent $i differs"
    [ "$(state_hash "$T/c.agent$i.safetensors.state")" = \
        "$(state_hash "$T/p.agent$i.safetensors.state")" ] ||
        fail "resumed agent $i: training state differs"
done
"$BIN" train --resume "$T/s.safetensors" --steps 1200 > /dev/null 2> "$T/err" ||
    fail "solo resume of agent 1: $(cat "$T/err")"
cmp <(tail -c 33624 "$T/s.safetensors") <(tail -c 33624 "$T/p.agent1.safetensors") ||
    fail "agent 1 resumed alone differs from the population"
[ "$(state_hash "$T/s.safetensors.state")" = "$(state_hash "$T/p.agent1.safetensors.state")" ] ||
    fail "agent 1 resumed alone: training state differs"
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
grep -q "interrupted by SIGINT.*--resume $T/i.safetensors" "$T/i.err" ||
    fail "SIGINT: no message: $(cat "$T/i.err")"
grep -q "^population of 2:" "$T/i.out" || fail "SIGINT: no table"
# ... and resumes to the same checkpoints as a run never interrupted.
steps=$(head -c 4096 "$T/i.agent0.safetensors.state" | grep -ao '"steps":"[0-9]*"' | tr -dc 0-9)
[ -n "$steps" ] || fail "SIGINT: no steps in the state file"
"$BIN" train --resume "$T/i.safetensors" --steps $((steps + 300)) --quiet > /dev/null 2> "$T/err" ||
    fail "resume after SIGINT: $(cat "$T/err")"
"$BIN" train --population 2 --steps $((steps + 300)) --quiet --out "$T/u.safetensors" \
    > /dev/null 2> "$T/err" || fail "uninterrupted run: $(cat "$T/err")"
for i in 0 1; do
    cmp "$T/i.agent$i.safetensors" "$T/u.agent$i.safetensors" ||
        fail "SIGINT at $steps + resume: agent $i differs from the uninterrupted run"
done
# until-optimal: an agent that stopped at the exact optimum stays stopped
# after --resume (seed 1 reaches it at 50,000 env steps).
"$BIN" train --population 1 --seed 1 --until-optimal --quiet --out "$T/o.safetensors" \
    > "$T/o1" 2> "$T/err" || fail "until-optimal run: $(cat "$T/err")"
grep -qE "^ +0 +1 .* 50000 +7.930 +0.000$" "$T/o1" || fail "until-optimal row: $(cat "$T/o1")"
"$BIN" train --resume "$T/o.safetensors" --steps 400000 --quiet > "$T/o2" 2> "$T/err" ||
    fail "until-optimal resume: $(cat "$T/err")"
grep -q ", 0 launches" "$T/o2" || fail "until-optimal resume trained on: $(cat "$T/o2")"
grep -qE "^ +0 +1 .* 50000 +7.930 +0.000$" "$T/o2" || fail "until-optimal resume row: $(cat "$T/o2")"
# ... also with envs, whose evaluation steps need not be multiples of
# eval-every (3 envs, eval-every 700: the optimum at 74202).
"$BIN" train --population 1 --seed 1 --envs 3 --eval-every 700 --until-optimal --quiet \
    --out "$T/o3.safetensors" > "$T/o1" 2> "$T/err" || fail "until-optimal, 3 envs: $(cat "$T/err")"
grep -qE "^ +0 +1 .* 74202 +7.930 +0.000$" "$T/o1" || fail "until-optimal, 3 envs: $(cat "$T/o1")"
"$BIN" train --resume "$T/o3.safetensors" --steps 400000 --quiet > "$T/o2" 2> "$T/err" ||
    fail "until-optimal resume, 3 envs: $(cat "$T/err")"
grep -q ", 0 launches" "$T/o2" || fail "until-optimal resume, 3 envs, trained on: $(cat "$T/o2")"
echo "population.sh: ok"
