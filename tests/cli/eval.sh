#!/bin/bash
# tests/cli/eval.sh - `cldqn eval`: text and JSON output, determinism, Monte-Carlo
# for rainy Taxi, and one-line errors for missing, truncated, corrupt files.
# Usage: bash eval.sh /path/to/cldqn /path/to/source
set -u
BIN=$1
SRC=$2
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() {
    echo "FAIL: $*" >&2
    exit 1
}
"$BIN" train --backend ref --batch 16 --learning-starts 50 --steps 400 --quiet --out "$T/a.st" \
    > /dev/null || fail "training"

json=$("$BIN" eval "$T/a.st" --json) || fail "eval --json"
for key in mean_return optimal_return success_rate mean_steps; do
    echo "$json" | grep -q "\"$key\": " || fail "no $key in $json"
done
echo "$json" | grep -q '"optimal_return": 7.930000' || fail "optimum is not 7.93: $json"
[ "$("$BIN" eval "$T/a.st" --json)" = "$json" ] || fail "eval is not deterministic"
# The path is escaped as JSON (cJSON): a tab in it was dropped from the line.
cp "$T/a.st" "$T/tab"$'\t'"\"q.st"
name=$("$BIN" eval "$T/tab"$'\t'"\"q.st" --json |
    python3 -c 'import json, sys; print(json.loads(sys.stdin.read())["checkpoint"])') ||
    fail "eval --json of a path with a tab and a quote is no JSON"
[ "$name" = "$T/tab"$'\t'"\"q.st" ] || fail "path read back as '$name'"
text=$("$BIN" eval "$T/a.st") || fail "eval"
echo "$text" | grep -q "^deterministic Taxi, 300 start states: mean return" || fail "text: $text"

r1=$("$BIN" eval "$T/a.st" --rainy --episodes 50 --seed 4 --json) || fail "rainy eval"
r2=$("$BIN" eval "$T/a.st" --rainy --episodes 50 --seed 4 --json) || fail "rainy eval"
[ "$r1" = "$r2" ] || fail "Monte-Carlo eval with a seed is not repeatable"
echo "$r1" | grep -q '"env": "rainy", "episodes": 50' || fail "rainy: $r1"
"$BIN" eval "$T/a.st" --fickle --episodes 20 --json | grep -q '"optimal_return": null' ||
    fail "fickle Taxi has no computed optimum"

# play --policy: the checkpoint drives; a looping policy is cut at 200 steps.
"$BIN" play --policy "$T/a.st" --start 17 --jsonl > "$T/play.jsonl" || fail "play --policy"
n=$(wc -l < "$T/play.jsonl")
[ "$n" -ge 1 ] && [ "$n" -le 200 ] || fail "play --policy played $n steps"
tail -1 "$T/play.jsonl" | grep -Eq '"terminated":true|"truncated":true' || fail "play --policy end"
"$BIN" play --policy "$T/missing.st" 2> /dev/null && fail "play --policy of a missing file"

one_line_error() {
    err=$("$BIN" eval "$@" 2>&1)
    rc=$?
    [ $rc -ne 0 ] || fail "eval $* succeeded"
    [ "$(echo "$err" | wc -l)" -eq 1 ] || fail "eval $*: more than one line: $err"
    echo "$err"
}
one_line_error "$T/missing.st" | grep -q "cannot open" || fail "missing file"
head -c 1000 "$T/a.st" > "$T/t.st"
one_line_error "$T/t.st" | grep -q "truncated" || fail "truncated file"
printf 'not a checkpoint at all' > "$T/c.st"
one_line_error "$T/c.st" | grep -q "not a safetensors file" || fail "garbage file"
sed 's/"fc1.weight":{"dtype":"F32","shape":\[50,10\]/"fc1.weight":{"dtype":"F32","shape":[10,50]/' \
    "$T/a.st" > "$T/s.st"
cmp -s "$T/a.st" "$T/s.st" && fail "sed did not change the shape"
one_line_error "$T/s.st" | grep -q "has shape \[10, 50\], expected \[50, 10\]" || fail "shape mismatch"
# Readers check the header before the data and never wait on a FIFO: a FIFO
# with no writer, and a 20 GB sparse file of zeros, are refused at once
# (timeout 10 s: before the fix the FIFO blocked forever, the sparse file
# was read whole).
mkfifo "$T/fifo"
err=$(timeout 10 "$BIN" eval "$T/fifo" 2>&1)
rc=$?
[ $rc -eq 1 ] && echo "$err" | grep -q "is not a regular file" || fail "FIFO (exit $rc): $err"
truncate -s 20G "$T/sparse.st"
err=$(timeout 10 "$BIN" eval "$T/sparse.st" 2>&1)
rc=$?
[ $rc -eq 1 ] && echo "$err" | grep -q "header length 0" || fail "20 GB sparse file (exit $rc): $err"
rm -f "$T/sparse.st"
# A rainy checkpoint is evaluated on rainy Taxi without being told (issue
# 16, item 14); --episodes and --seed, which only Monte-Carlo runs use, are
# refused on deterministic Taxi instead of being ignored (item 13).
"$BIN" train --rainy --steps 300 --learning-starts 100 --quiet --out "$T/r.st" > /dev/null ||
    fail "rainy checkpoint"
"$BIN" eval "$T/r.st" --episodes 20 --json | grep -q '"env": "rainy", "episodes": 20' ||
    fail "rainy checkpoint not evaluated on rainy Taxi: $("$BIN" eval "$T/r.st" --episodes 20 --json)"
# Without Monte-Carlo settings rainy Taxi is evaluated exactly, and the
# training run's own exact evaluation of the same weights agrees.
"$BIN" train --rainy --steps 2500 --learning-starts 100 --eval-every 2500 --quiet --out "$T/x.st" \
    > "$T/x.out" || fail "rainy run with an evaluation"
j=$("$BIN" eval "$T/x.st" --json) || fail "rainy exact eval"
echo "$j" | grep -q '"episodes": 0, .*"method": "exact"' || fail "rainy exact eval: $j"
want=$(sed -n 's/^greedy policy on rainy Taxi, exact expectation .*: mean return \([-0-9.]*\) .*/\1/p' "$T/x.out")
got=$(echo "$j" | sed -n 's/.*"mean_return": \([-0-9.]*\),.*/\1/p')
[ -n "$want" ] && [ "$(printf '%.4f' "$got")" = "$want" ] || fail "eval $got, training said $want"
one_line_error "$T/a.st" --seed 3 | grep -q "rainy or fickle Taxi only" || fail "--seed on deterministic Taxi"
one_line_error "$T/a.st" --episodes 5 | grep -q "rainy or fickle Taxi only" ||
    fail "--episodes on deterministic Taxi"
one_line_error --frobnicate "$T/a.st" > /dev/null
one_line_error "$T/a.st" --episodes 0 > /dev/null
echo "ok"
