#!/bin/bash
# tests/cli/signals.sh - a Ctrl-C or SIGTERM at any moment of start-up or
# training ends `cldqn train` with 130 or 143, whatever handlers the OpenCL
# runtime installs while it sets up (Intel's CPU runtime swallowed SIGINT:
# the run then trained to the end and exited 0; PoCL's compiler could die
# mid-write of its cache). Moments: a sweep of delays from 0 to past the
# start of training, each outcome checked (no delay has to land in a given
# phase): during start-up nothing is written, once training has begun the
# checkpoint saved resumes. Solo runs and a population. The delays count
# from cldqn's exec or from its "training ..." line, found by polling.
# Usage: bash signals.sh /path/to/cldqn /path/to/source
set -u
BIN=$1
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() {
    echo "FAIL: $*" >&2
    exit 1
}
# A background job of a script starts with SIGINT ignored: restore the
# default, as a terminal's Ctrl-C finds it.
command -v env > /dev/null && env --default-signal=INT true 2> /dev/null ||
    fail "env --default-signal is needed (coreutils >= 8.31)"

starts=0 trained=0
# Waits (polling, up to 60 s) until pid runs cldqn itself, or until its
# stderr says training has begun: synchronisation, not a guess at timing.
wait_for() { # PID exec|train
    local i
    for ((i = 0; i < 6000; i++)); do
        if [ "$2" = exec ]; then
            [[ "$(readlink "/proc/$1/exe" 2> /dev/null)" == */cldqn* ]] && return 0
        else
            grep -q "^training " "$T/err" 2> /dev/null && return 0
        fi
        kill -0 "$1" 2> /dev/null || return 1
        sleep 0.01
    done
    return 1
}
one() { # SIGNAL exec|train DELAY ARGS...: the signal DELAY s after that point
    local sig=$1 at=$2 delay=$3 pid rc want
    shift 3
    rm -f "$T"/s.st* "$T/err"
    env --default-signal=INT,TERM "$BIN" train --steps 300000 --out "$T/s.st" "$@" \
        > "$T/out" 2> "$T/err" &
    pid=$!
    wait_for "$pid" "$at" || fail "cldqn (pid $pid) never reached '$at': $(cat "$T/err")"
    sleep "$delay"
    kill "-$sig" "$pid"
    wait "$pid"
    rc=$?
    want=$([ "$sig" = INT ] && echo 130 || echo 143)
    [ $rc -eq "$want" ] ||
        fail "SIG$sig ${delay}s after $at ($*): exit $rc, expected $want: $(tail -3 "$T/err")"
    if grep -q "during start-up" "$T/err"; then
        [ -z "$(ls "$T" | grep '^s\.st')" ] || fail "SIG$sig ${delay}s after $at: files written during start-up"
        starts=$((starts + 1))
    elif grep -q "checkpoints\? saved" "$T/err"; then
        "$BIN" train --resume "$T/s.st" --steps 300000 --quiet "$@" > /dev/null 2> "$T/err2" &
        pid=$!
        sleep 0.3
        kill -INT "$pid"
        wait "$pid"
        rc=$?
        [ $rc -eq 130 ] || fail "SIG$sig ${delay}s after $at: the saved checkpoint did not resume (exit $rc): $(cat "$T/err2")"
        trained=$((trained + 1))
    elif [ -s "$T/err" ] || [ -n "$(ls "$T" | grep '^s\.st')" ]; then
        fail "SIG$sig ${delay}s after $at: exit $rc without saying why: $(tail -3 "$T/err")"
    fi # else killed by the default action before cldqn's first line: nothing written
}
for d in 0 0.01 0.03 0.1 0.3; do one INT exec "$d"; done
for d in 0 0.2; do one INT train "$d"; done
one TERM exec 0.02
one TERM train 0.1
one INT exec 0.02 --population 2
one INT train 0.2 --population 2
[ $trained -gt 0 ] || fail "no signal landed after training began"
echo "signals: $starts in start-up, $trained in training, every exit 130/143"
