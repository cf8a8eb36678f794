#!/bin/bash
# play.sh - shell test of `cldqn play` in scripted mode.
# Usage: bash play.sh /path/to/cldqn /path/to/source
# The expected states and masks of the scripted episode were produced by
# Gymnasium 1.4.0's TaxiEnv stepping the same actions from state 328.
set -u
CLDQN=$1
fail=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

check() { # description, then a command whose status decides
    local what=$1
    shift
    if "$@"; then
        echo "ok   $what"
    else
        echo "FAIL $what"
        fail=1
    fi
}

# Optimal episode from state 328: taxi (3,1), passenger at Y, destination R.
# Names, digits and mixed case; the trailing line after delivery is ignored.
printf 'north\nwest\n0\nsouth\npickup\n1\nNorth\nnorth\nnorth\ndropoff\nsouth\n' |
    "$CLDQN" play --start 328 --jsonl >"$tmp/ep.jsonl" 2>"$tmp/ep.err"
check "optimal episode exits 0" test $? -eq 0
check "no stderr output" test ! -s "$tmp/ep.err"
check "10 JSON lines (stops at termination)" test "$(wc -l <"$tmp/ep.jsonl")" -eq 10
next=$(sed -n 's/.*"next_state":\([0-9]*\).*/\1/p' "$tmp/ep.jsonl" | tr '\n' ' ')
check "next states equal Gymnasium's" test "$next" = "228 208 308 408 416 316 216 116 16 0 "
states=$(sed -n 's/^{"state":\([0-9]*\),.*/\1/p' "$tmp/ep.jsonl" | tr '\n' ' ')
check "each state is the previous next_state" test "$states" = "328 228 208 308 408 416 316 216 116 16 "
sum=$(sed -n 's/.*"reward":\(-\{0,1\}[0-9]*\),.*/\1/p' "$tmp/ep.jsonl" | awk '{s += $1} END {print s}')
check "return is the optimum 11" test "$sum" = 11
last=$(tail -n 1 "$tmp/ep.jsonl")
check "last line terminated" grep -q '"terminated":true,"truncated":false' <<<"$last"
check "last line mask equals Gymnasium's" grep -q '"action_mask":\[1,0,1,0,1,0\]}$' <<<"$last"
check "first line exact" test "$(head -n 1 "$tmp/ep.jsonl")" = \
    '{"state":328,"action":1,"reward":-1,"next_state":228,"terminated":false,"truncated":false,"action_mask":[1,1,1,1,0,0]}'
check "only the last line terminated" test "$(grep -c '"terminated":true' "$tmp/ep.jsonl")" -eq 1

# Human-readable scripted mode announces the delivery.
printf 'north\nwest\n0\nsouth\npickup\n1\nNorth\nnorth\nnorth\ndropoff\n' |
    "$CLDQN" play --start 328 --no-color >"$tmp/ep.txt" 2>&1
check "text mode exits 0" test $? -eq 0
check "text mode reports delivery" grep -q "^Delivered after 10 steps, total reward 11$" "$tmp/ep.txt"
check "text mode shows the last action" grep -q "^  (Dropoff)$" "$tmp/ep.txt"

# A bad action names its line and exits 2.
printf 'north\n\nfly\nsouth\n' | "$CLDQN" play --start 328 --jsonl >"$tmp/bad.out" 2>"$tmp/bad.err"
check "bad action exits 2" test $? -eq 2
check "bad action message names line 3" test "$(cat "$tmp/bad.err")" = "cldqn: line 3: bad action 'fly'"
check "steps before the bad line were played" test "$(wc -l <"$tmp/bad.out")" -eq 1
printf '7\n' | "$CLDQN" play --start 328 --jsonl >/dev/null 2>"$tmp/bad.err"
check "action 7 exits 2" test $? -eq 2
check "action 7 message" test "$(cat "$tmp/bad.err")" = "cldqn: line 1: bad action '7'"

# Bad flags and values: one line on stderr, exit 2.
for args in "--start 500" "--start -1" "--start abc" "--start" "--seed x" "--time-limit -3" \
    "--bogus"; do
    # shellcheck disable=SC2086
    "$CLDQN" play $args </dev/null >/dev/null 2>"$tmp/flag.err"
    rc=$?
    check "'$args' exits 2" test $rc -eq 2
    check "'$args' gives one error line" test "$(wc -l <"$tmp/flag.err")" -eq 1
done
"$CLDQN" play --help >"$tmp/help.out" 2>&1
check "--help exits 0" test $? -eq 0
check "--help prints usage" grep -q "^usage: cldqn play" "$tmp/help.out"

# Time limit: truncated on exactly the 3rd step.
printf 'north\nnorth\nnorth\nnorth\nnorth\n' | "$CLDQN" play --start 328 --time-limit 3 --jsonl \
    >"$tmp/tl.jsonl"
check "time limit: 3 lines" test "$(wc -l <"$tmp/tl.jsonl")" -eq 3
check "time limit: truncated only on the last" test \
    "$(grep -c '"truncated":true' "$tmp/tl.jsonl")$(tail -n 1 "$tmp/tl.jsonl" | grep -c '"truncated":true')" = 11

# The same seed gives the same start and the same rain.
yes south | head -n 20 | "$CLDQN" play --seed 9 --rainy --jsonl >"$tmp/s1.jsonl"
yes south | head -n 20 | "$CLDQN" play --seed 9 --rainy --jsonl >"$tmp/s2.jsonl"
check "seeded rainy runs repeat" cmp -s "$tmp/s1.jsonl" "$tmp/s2.jsonl"
check "seeded run played 20 steps" test "$(wc -l <"$tmp/s1.jsonl")" -eq 20

# Issue 16, item 11. Scripts take what a person may type: first letters and
# arrow keys (ESC [ B = down = south) play as the names do.
printf 'south\nnorth\neast\nwest\n' | "$CLDQN" play --start 328 --jsonl >"$tmp/names.jsonl"
printf 's\nn\ne\nw\n' | "$CLDQN" play --start 328 --jsonl >"$tmp/letters.jsonl"
printf '\033[B\n\033[A\n\033[C\n\033[D\n' | "$CLDQN" play --start 328 --jsonl >"$tmp/arrows.jsonl"
check "letters play as names" cmp -s "$tmp/names.jsonl" "$tmp/letters.jsonl"
check "arrows play as names" cmp -s "$tmp/names.jsonl" "$tmp/arrows.jsonl"
# A NUL byte is named as such, not as a long line.
printf 'south\nno\000rth\n' | "$CLDQN" play --start 328 >/dev/null 2>"$tmp/nul.err"
check "NUL byte exits 2" test $? -eq 2
check "NUL byte message" test "$(cat "$tmp/nul.err")" = "cldqn: line 2: contains a NUL byte"
# The end of a script's input ends the game with a summary; one step is a step.
printf 'south\n' | "$CLDQN" play --start 328 --no-color >"$tmp/eof.out"
check "summary at end of input" grep -q "^End of input after 1 step, total reward -1$" "$tmp/eof.out"
# --delay paces --policy only.
"$CLDQN" play --delay 10 </dev/null >/dev/null 2>"$tmp/delay.err"
check "--delay without --policy exits 2" test $? -eq 2
check "--delay message" grep -q "paces --policy only" "$tmp/delay.err"
# Interactive (a terminal through script(1)): a 300-character line is
# answered and the game goes on, instead of ending with exit 2.
if command -v script >/dev/null; then
    (printf '%0300d\nsouth\nq\n' 0; sleep 1) |
        script -qec "$CLDQN play --start 328 --no-color" /dev/null >"$tmp/tty.out" 2>&1
    check "interactive long line answered" grep -q "line too long: not an action" "$tmp/tty.out"
    check "interactive game goes on" grep -q "Quit after 1 step, total reward -1" "$tmp/tty.out"
fi

exit $fail
