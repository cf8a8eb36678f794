#!/bin/bash
# tests/cli/best.sh - the best weights are kept (issue 13): a checkpoint holds
# the weights of its best exact evaluation (ties: the latest), records its
# step and return, and `cldqn eval` of it gives that return; the state file
# keeps the online weights, so resume continues the run as if uninterrupted.
# --until-optimal exits 3 with one line when a limit comes first, solo and
# in a population.
# Usage: bash best.sh /path/to/cldqn /path/to/source
set -u
BIN=$(realpath "$1")
DUMP=$(cd "$(dirname "$BIN")" && pwd)/tests/st_dump
. "$(dirname "$0")/lib.bash"
cd "$T" || fail "cd"
meta() { # FILE KEY: a metadata value of a safetensors file
    python3 - "$1" "$2" << 'PY'
import json, struct, sys
b = open(sys.argv[1], "rb").read(8)
n = struct.unpack("<Q", b)[0]
h = json.loads(open(sys.argv[1], "rb").read(8 + n)[8:])
print(h["__metadata__"].get(sys.argv[2], ""))
PY
}

# Seed 2 with 4 envs: the evaluation at 18,000 steps beats the last, at 20,000.
"$BIN" train --envs 4 --seed 2 --steps 20000 --quiet --out b.st > out 2> err || fail "train: $(cat err)"
last=$(sed -n 's/^greedy policy from all 300 starts: mean return \([-0-9.]*\).*/\1/p' out)
best_steps=$(meta b.st best_steps)
best_return=$(meta b.st best_return)
[ -n "$last" ] && [ -n "$best_steps" ] && [ -n "$best_return" ] || fail "no evaluation: $(cat out)"
[ "$best_steps" -lt 20000 ] || fail "best at $best_steps: this run's last evaluation was not its best"
awk -v b="$best_return" -v l="$last" 'BEGIN { exit !(b > l) }' || fail "best $best_return <= last $last"
grep -q "holds the best evaluation's weights: mean return $(printf '%.3f' "$best_return")" out ||
    fail "the summary does not say so: $(cat out)"
got=$("$BIN" eval b.st | sed -n 's/.*mean return \([-0-9.]*\) .*/\1/p')
[ "$got" = "$(printf '%.3f' "$best_return")" ] || fail "eval of the checkpoint: $got, best $best_return"
# The state's online weights are the last ones, not the checkpoint's.
"$DUMP" b.st.state params > online
"$DUMP" b.st.state best > best || fail "no 'best' tensor in the state"
for name in embedding.weight fc1.weight fc1.bias fc2.weight fc2.bias out.weight out.bias; do
    "$DUMP" b.st "$name"
done > weights
cmp -s online best && fail "online and best weights are the same"
cmp -s weights best || fail "the checkpoint's weights are not the state's 'best'"

# Resumed from the half, the same files as the whole run.
"$BIN" train --envs 4 --seed 2 --steps 10000 --quiet --out h.st > /dev/null 2> err || fail "half: $(cat err)"
"$BIN" train --resume h.st --steps 20000 --quiet > /dev/null 2> err || fail "resume: $(cat err)"
for f in st st.state; do
    "$DUMP" "h.$f" > list || fail "dump h.$f"
    while read -r name _; do
        cmp -s <("$DUMP" "b.$f" "$name") <("$DUMP" "h.$f" "$name") || fail "$f: $name differs after resume"
    done < list
done
[ "$(meta h.st best_steps)" = "$best_steps" ] || fail "resumed best_steps $(meta h.st best_steps)"

# --until-optimal: exit 3 when a limit comes first, the checkpoint still written.
one_line 3 "until-optimal: a limit came first (2,000 env steps); the best greedy mean return was" \
    "$BIN" train --until-optimal --steps 2000 --learning-starts 200 --quiet --out u.st > /dev/null
[ -f u.st ] && [ -f u.st.state ] || fail "no checkpoint after exit 3"
one_line 3 "until-optimal: 2 of 2 agents reached a limit before the optimum" \
    "$BIN" train --until-optimal --population 2 --steps 2000 --learning-starts 200 --quiet --out p.st > /dev/null
[ -f p.agent1.st ] || fail "no agent checkpoints after exit 3: $(ls)"
echo "best: checkpoint at step $best_steps ($best_return) beats the last evaluation ($last); resume identical; exit 3"
