#!/bin/bash
# tests/cli/outputs.sh - every file `cldqn train` will write is checked
# before the first step (issue 16, items 1, 2 and 9): a device node or FIFO
# is never replaced, a directory or a name too long for the .state and
# temporary suffixes is refused, and two outputs naming one file are
# refused; each in one line, exit 1, in well under a second (nothing
# trained), with the existing files untouched. Population agents' files too.
# Usage: bash outputs.sh /path/to/cldqn /path/to/source
set -u
BIN=$1
. "$(dirname "$0")/lib.bash"
FAST=(--steps 3000 --learning-starts 100 --quiet)

refused() { # PATTERN ARGS...: one line matching PATTERN, exit 1, no training
    local pat=$1
    shift
    local t0 err rc
    t0=$(date +%s%N)
    err=$("$BIN" train "${FAST[@]}" "$@" 2>&1)
    rc=$?
    [ $rc -eq 1 ] || fail "train $*: exit $rc, expected 1: $err"
    [ "$(echo "$err" | wc -l)" -eq 1 ] || fail "train $*: more than one line: $err"
    echo "$err" | grep -q -- "$pat" || fail "train $*: '$err' lacks '$pat'"
    [ $((($(date +%s%N) - t0) / 1000000)) -lt 2000 ] || fail "train $*: refused only after training"
}

# 1. A FIFO (and, as root, a device node) keeps its kind.
mkfifo "$T/fifo"
refused "exists and is not a regular file" --out "$T/fifo"
[ -p "$T/fifo" ] || fail "--out replaced the FIFO"
refused "exists and is not a regular file" --profile "$T/fifo" --out "$T/a.safetensors"
refused "exists and is not a regular file" --metrics "$T/fifo" --out "$T/a.safetensors"
if [ "$(id -u)" -eq 0 ]; then
    mknod "$T/null" c 1 3
    refused "exists and is not a regular file" --out "$T/null"
    [ -c "$T/null" ] || fail "--out replaced the device node"
fi
# The state file's name is checked too.
mkfifo "$T/b.safetensors.state"
refused "exists and is not a regular file" --out "$T/b.safetensors"
[ -p "$T/b.safetensors.state" ] || fail "--out replaced the FIFO at .state"
# So is every agent's, in a population.
mkfifo "$T/p.agent1.safetensors"
refused "exists and is not a regular file" --population 2 --out "$T/p.safetensors"

# 2. Directories and names too long, before training; nothing left behind.
mkdir "$T/runs"
refused "names a directory" --out "$T/runs/"
refused "is a directory" --out "$T/runs"
[ -z "$(ls -A "$T/runs")" ] || fail "files left in runs/: $(ls -A "$T/runs")"
[ ! -e "$T/runs.state" ] || fail "runs.state written beside the directory"
refused "does not exist" --out "$T/nothere/x.safetensors"
long=$(printf 'x%.0s' $(seq 1 245))
refused "too long" --out "$T/$long"
[ -z "$(ls "$T" | grep '^xxxx')" ] || fail "a file was written for the long name"
# A 238-character name leaves room for .state.tmp.XXXXXX: it trains.
ok=$(printf 'y%.0s' $(seq 1 238))
"$BIN" train --steps 300 --learning-starts 100 --quiet --out "$T/$ok" > /dev/null 2> "$T/err" ||
    fail "238-character name refused: $(cat "$T/err")"
[ -f "$T/$ok.state" ] || fail "no state file for the 238-character name"

# 9. Two outputs naming one file, however spelled.
refused "both name" --out "$T/c.safetensors" --metrics "$T/c.safetensors"
refused "both name" --out "$T/c.safetensors" --metrics "$T/./c.safetensors.state"
refused "both name" --out "$T/c.safetensors" --profile "$T/runs/../c.safetensors"
refused "both name" --out "$T/c.safetensors" --metrics "$T/m.json" --profile "$T/m.json"
refused "both name" --population 3 --out "$T/q.safetensors" --metrics "$T/q.agent2.safetensors"
[ ! -e "$T/c.safetensors" ] || fail "a refused run wrote its checkpoint"
echo "ok"
