#!/bin/bash
# tests/cli/profile.sh - `cldqn train --profile TRACE.json`: the trace is a
# well-formed Chrome trace (every event line checked against the exact shape
# the writer emits, durations non-negative), it names every phase and every
# kernel and transfer the run used, its counts equal what the run reports
# (update spans, qnet calls and fused kernels == updates; train steps == the
# window), device events lie inside the profile window, --profile-steps
# selects the window, a run without --profile gives a byte-identical
# checkpoint, bad paths fail in one line before training, and tools/profile
# reads the trace (only where python3 exists: it is a tools/ script).
# Usage: bash profile.sh /path/to/cldqn /path/to/source
set -u
BIN=$1
SRC=$2
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() {
    echo "FAIL: $*" >&2
    exit 1
}

# Short default-preset run: updates from step 301, an evaluation and a
# periodic save inside the run, target syncs every 250 steps.
RUN=(train --quiet --steps 1200 --learning-starts 300 --eval-every 600 --save-every 600 --seed 3)

# count NAME CAT FILE: events with exactly that name and category.
count() {
    grep -c "^{\"name\":\"$1\",\"cat\":\"$2\"," "$3"
}

# Every line of a trace: the header, two thread names, complete events in
# the writer's exact format (a "-" in dur would be a negative duration),
# the footer.
check_shape() {
    local f=$1
    [ "$(head -1 "$f")" = '{"traceEvents":[' ] || fail "$f: bad first line"
    [ "$(tail -1 "$f")" = '],"displayTimeUnit":"ns"}' ] || fail "$f: bad last line"
    local bad
    bad=$(sed '1d;$d' "$f" | grep -Ev '^\{"name":"thread_name","ph":"M","pid":1,"tid":[12],"args":\{"name":"[^"]+"\}\},$' |
        grep -Ev '^\{"name":"[^"\\]+","cat":"(phase|window|qnet|kernel|transfer)","ph":"X","ts":-?[0-9]+\.[0-9]{3},"dur":[0-9]+\.[0-9]{3},"pid":1,"tid":[12]\},?$' |
        head -3)
    [ -z "$bad" ] || fail "$f: malformed event lines: $bad"
    # Only the last event line lacks the comma that separates events.
    [ "$(sed '1d;$d' "$f" | grep -vc ',$')" -eq 1 ] || fail "$f: event separators"
}

# --- whole run (profile-steps 0), fused path ---------------------------------
out=$("$BIN" "${RUN[@]}" --out "$T/p.st" --profile "$T/whole.json" --profile-steps 0) ||
    fail "train --profile: $out"
updates=$(echo "$out" | sed -n 's/^trained [0-9,]* env steps, [0-9,]* episodes, \([0-9,]*\) updates.*/\1/p' | tr -d ,)
[ -n "$updates" ] && [ "$updates" -gt 100 ] || fail "no update count in: $out"
echo "$out" | grep -q "^profile: $T/whole.json ([0-9]* events)$" || fail "no profile line: $out"
check_shape "$T/whole.json"
W="$T/whole.json"
[ "$(count update phase "$W")" -eq "$updates" ] || fail "update spans $(count update phase "$W") != $updates"
[ "$(count "qnet update_act" qnet "$W")" -eq "$updates" ] || fail "qnet update_act spans != $updates"
# The fused update runs as fused_update or, with the max-Q table, fused_update_tt.
fused() { echo $(($(count fused_update kernel "$1") + $(count fused_update_tt kernel "$1"))); }
[ "$(fused "$W")" -eq "$updates" ] || fail "fused update events $(fused "$W") != $updates"
[ "$(count fused_update_tt kernel "$W")" -gt 0 ] || fail "no fused_update_tt events (table never used)"
[ "$(count fused_target_table kernel "$W")" -gt 0 ] || fail "no fused_target_table events"
[ "$(count write:fused_in transfer "$W")" -eq "$updates" ] || fail "write:fused_in events != $updates"
[ "$(count read:fused_out transfer "$W")" -eq "$updates" ] || fail "read:fused_out events != $updates"
[ "$(count "replay sample" phase "$W")" -eq "$updates" ] || fail "replay sample spans != $updates"
[ "$(count "train step" phase "$W")" -eq 1200 ] || fail "train step spans != 1200"
[ "$(count "target sync" phase "$W")" -eq 4 ] || fail "target sync spans != 4 (every 250 of 1200)"
[ "$(count copy:target transfer "$W")" -eq 4 ] || fail "copy:target events != 4"
[ "$(count evaluation phase "$W")" -eq 2 ] || fail "evaluation spans != 2 (steps 600, 1200)"
[ "$(count "checkpoint save" phase "$W")" -eq 2 ] || fail "checkpoint save spans != 2"
[ "$(count "evaluation (end of run)" phase "$W")" -eq 1 ] || fail "no final evaluation span"
[ "$(count "checkpoint save (end of run)" phase "$W")" -eq 1 ] || fail "no final save span"
[ "$(count "profile window" window "$W")" -eq 1 ] || fail "profile window spans != 1"
for k in q_act; do
    [ "$(count $k kernel "$W")" -gt 0 ] || fail "no $k kernel events"
done
# Device events (tid 2) end inside the window; the device's busy time in an
# in-order queue cannot exceed the window's wall time.
awk '
    function num(key) { match($0, "\"" key "\":-?[0-9.]+"); return substr($0, RSTART + length(key) + 3, RLENGTH - length(key) - 3) + 0 }
    /"tid":2}/ { ts = num("ts"); dur = num("dur"); n++; busy += dur; if (ts + dur > e) e = ts + dur }
    /"name":"profile window"/ { ws = num("ts"); we = ws + num("dur") }
    END {
        if (!n) { print "no device events"; exit 1 }
        if (e > we + 0.01) { printf "device event ends at %f after the window %f\n", e, we; exit 1 }
        if (busy > we - ws) { printf "device busy %f > window %f\n", busy, we - ws; exit 1 }
        printf "device events %d, busy %.0f us of a %.0f us window\n", n, busy, we - ws
    }' "$W" || fail "device events vs window"

# The same run without --profile: the same weights, byte for byte.
"$BIN" "${RUN[@]}" --out "$T/n.st" > /dev/null || fail "train without --profile"
cmp -s "$T/p.st" "$T/n.st" || fail "checkpoint with --profile differs from one without"

# --- window: profile-steps 300 from learning-starts 300 -------------------------
# Iterations starting at steps 300..599 are profiled; updates come on the
# even steps 302..600 (train-every 2): 150.
"$BIN" "${RUN[@]}" --out "$T/w.st" --profile "$T/win.json" --profile-steps 300 > /dev/null ||
    fail "train --profile-steps 300"
check_shape "$T/win.json"
[ "$(count "train step" phase "$T/win.json")" -eq 300 ] || fail "window: train steps != 300"
[ "$(count update phase "$T/win.json")" -eq 150 ] || fail "window: updates != 150"
[ "$(fused "$T/win.json")" -eq 150 ] || fail "window: fused updates != 150"
[ "$(count "evaluation (end of run)" phase "$T/win.json")" -eq 0 ] || fail "window: final evaluation"
cmp -s "$T/w.st" "$T/n.st" || fail "windowed profile changed the checkpoint"

# --- layered path: one event per kernel launch ----------------------------------
out=$("$BIN" train --quiet --steps 500 --learning-starts 400 --kernels layered --out "$T/l.st" \
    --profile "$T/lay.json" --profile-steps 0) || fail "layered --profile: $out"
check_shape "$T/lay.json"
lu=$(echo "$out" | sed -n 's/^trained [0-9,]* env steps, [0-9,]* episodes, \([0-9,]*\) updates.*/\1/p')
[ "$lu" -eq 50 ] || fail "layered: $lu updates, expected 50"
for k in embed_forward dense_forward dense_backward embed_backward td_target td_loss adam; do
    [ "$(count $k kernel "$T/lay.json")" -gt 0 ] || fail "layered: no $k kernel events"
done
for x in write:batch read:loss; do
    [ "$(count $x transfer "$T/lay.json")" -eq 50 ] || fail "layered: $x events != 50"
done
# 2 hidden layers: 3 dense forwards for the target and 3 for the online net per update.
[ "$(count dense_forward kernel "$T/lay.json")" -eq 300 ] || fail "layered: dense_forward != 6 per update"
"$BIN" train --quiet --steps 500 --learning-starts 400 --kernels layered --out "$T/l2.st" > /dev/null ||
    fail "layered without --profile"
cmp -s "$T/l.st" "$T/l2.st" || fail "layered: --profile changed the checkpoint"

# --- a run that stops: SIGINT, and the numeric guard --------------------------
# Both still write the trace of what ran.
# Interrupted once training runs (its progress line): Intel's CPU runtime
# swallows a SIGINT that comes while it builds the kernels, before cldqn's
# handler is installed, and its start-up can take over 2 s on a busy machine.
"$BIN" train --steps 300000 --out "$T/i.st" --profile "$T/int.json" --profile-steps 0 \
    > "$T/int.out" 2> "$T/int.err" &
pid=$!
for _ in $(seq 150); do
    grep -q "steps" "$T/int.err" 2> /dev/null && break
    sleep 0.2
done
kill -INT $pid
wait $pid
rc=$?
[ $rc -eq 130 ] || fail "SIGINT: exit $rc, expected 130: $(cat "$T/int.err")"
grep -q "^profile: $T/int.json ([0-9]* events)$" "$T/int.out" || fail "SIGINT: no profile line"
check_shape "$T/int.json"
[ "$(count "profile window" window "$T/int.json")" -eq 1 ] || fail "SIGINT: no profile window"
[ "$(count "train step" phase "$T/int.json")" -gt 0 ] || fail "SIGINT: no train steps"
# lr 1e12 overflows within a few updates (tests/cli/numeric.sh); the failing
# update is in the trace too.
"$BIN" train --quiet --seed 2 --steps 100000 --lr 1e12 --replay 3000 --learning-starts 64 \
    --batch 32 --eval-every 0 --out "$T/nan.st" --profile "$T/nan.json" --profile-steps 0 \
    > /dev/null 2> "$T/nan.err" && fail "lr 1e12 did not fail"
grep -q "non-finite" "$T/nan.err" || fail "lr 1e12: $(cat "$T/nan.err")"
check_shape "$T/nan.json"
nu=$(count update phase "$T/nan.json")
[ "$nu" -ge 1 ] && [ "$(count "qnet update_act" qnet "$T/nan.json")" -eq "$nu" ] ||
    fail "lr 1e12: $nu update spans"

# Written atomically: no temporary files left beside the traces.
ls "$T" | grep -q '\.tmp\.' && fail "temporary files left: $(ls "$T")"

# --- errors: one line, before training -----------------------------------------
err=$("$BIN" train --quiet --steps 200 --out "$T/e.st" --profile "$T/no/such/dir/t.json" 2>&1 > /dev/null)
rc=$?
[ $rc -ne 0 ] || fail "bad --profile path accepted"
[ "$(echo "$err" | wc -l)" -eq 1 ] || fail "bad --profile: more than one line: $err"
echo "$err" | grep -q -- "--profile: cannot write '$T/no/such/dir/t.json'" || fail "bad --profile message: $err"
[ ! -e "$T/e.st" ] || fail "bad --profile: trained anyway"
err=$("$BIN" train --quiet --steps 200 --out "$T/e.st" --profile "$T/t.json" --profile-steps -5 2>&1 > /dev/null) &&
    fail "negative --profile-steps accepted"
[ "$(echo "$err" | wc -l)" -eq 1 ] || fail "--profile-steps -5: $err"
# A population profiles too: the loop's phases and its population kernels.
"$BIN" train --quiet --steps 400 --learning-starts 100 --population 2 --out "$T/e.st" \
    --profile "$T/tp.json" > "$T/tp.out" 2> "$T/err" || fail "--profile --population: $(cat "$T/err")"
grep -q "^profile: $T/tp.json" "$T/tp.out" || fail "--profile --population: $(cat "$T/tp.out")"
for name in "train step" "update" "qnets update" fused_update_pop_tt; do
    grep -q "\"name\": *\"$name\"" "$T/tp.json" || fail "--profile --population: no '$name' span"
done

# --- tools/profile ---------------------------------------------------------------
if command -v python3 > /dev/null; then
    table=$(python3 "$SRC/tools/profile" "$W") || fail "tools/profile failed"
    echo "$table" | head -1 | grep -q "calls" || fail "profile table header: $table"
    n_tt=$(count fused_update_tt kernel "$W")
    echo "$table" | grep -Eq "^fused_update_tt +kernel +device +$n_tt " || fail "fused_update_tt row: $table"
    echo "$table" | grep -Eq "^update +phase +host +$updates " || fail "update row: $table"
    echo "$table" | grep -q "^profile window .* device busy" || fail "no window line: $table"
    kern=$(python3 "$SRC/tools/profile" "$T/lay.json" --cat kernel) || fail "profile --cat kernel"
    echo "$kern" | grep -Eq "^dense_forward +kernel +device +300 " || fail "layered table: $kern"
    # Self time and shares on a hand-made trace: A (10 us) holds B (3) and B (2),
    # the second B holds C (1): self A 5, B 3 + 1 = 4, C 1 of 10 host-us; the
    # device's k (2 and 4 us) has median 3 and all of the device's time.
    cat > "$T/hand.json" << 'EOF'
{"traceEvents":[
{"name":"A","cat":"phase","ph":"X","ts":0.000,"dur":10.000,"pid":1,"tid":1},
{"name":"B","cat":"phase","ph":"X","ts":1.000,"dur":3.000,"pid":1,"tid":1},
{"name":"B","cat":"phase","ph":"X","ts":5.000,"dur":2.000,"pid":1,"tid":1},
{"name":"C","cat":"qnet","ph":"X","ts":5.500,"dur":1.000,"pid":1,"tid":1},
{"name":"k","cat":"kernel","ph":"X","ts":1.000,"dur":2.000,"pid":1,"tid":2},
{"name":"k","cat":"kernel","ph":"X","ts":6.000,"dur":4.000,"pid":1,"tid":2}
]}
EOF
    hand=$(python3 "$SRC/tools/profile" "$T/hand.json") || fail "profile of the hand-made trace"
    want="name  cat      thread    calls    total ms    mean us  median us    self ms   share
A     phase    host          1       0.010     10.000     10.000      0.005   50.0%
B     phase    host          2       0.005      2.500      2.500      0.004   40.0%
C     qnet     host          1       0.001      1.000      1.000      0.001   10.0%
k     kernel   device        2       0.006      3.000      3.000      0.006  100.0%"
    [ "$hand" = "$want" ] || fail "hand-made trace: got
$hand
want
$want"
else
    echo "python3 not found: tools/profile not checked"
fi
echo "ok"
