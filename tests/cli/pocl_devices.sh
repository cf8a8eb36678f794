#!/bin/bash
# tests/cli/pocl_devices.sh - cldqn's choice between PoCL's two CPU devices:
# one agent trains on the single-threaded basic device by default, a
# population on the pthread device, a user's $POCL_DEVICES is kept, and the
# two devices give the same run byte for byte (weights and training state,
# the wall-clock "elapsed" aside). Needs PoCL (skipped, exit 77, without it).
# Usage: bash pocl_devices.sh /path/to/cldqn /path/to/source
set -u
BIN=$1
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() {
    echo "FAIL: $*" >&2
    exit 1
}
unset CLDQN_DEVICE POCL_DEVICES
if ! "$BIN" devices 2> /dev/null | grep -q 'Portable Computing Language'; then
    echo "pocl_devices.sh: no PoCL platform here; nothing to compare (skipped)"
    exit 77
fi
"$BIN" devices | grep -qE '^  device [0-9]+: basic-' || fail "basic device not listed"
"$BIN" devices | grep -qE '^  device [0-9]+: pthread-' || fail "pthread device not listed"

# Training state without its wall-clock field: the safetensors JSON header
# (its length, the first 8 bytes, and its padding change with that field)
# without "elapsed", then the tensor data.
state() {
    local n
    n=$(od -An -t u8 -N 8 "$1" | tr -d ' ')
    head -c $((8 + n)) "$1" | tail -c "$n" | sed 's/"elapsed":"[^"]*"//; s/ *$//'
    tail -c +$((9 + n)) "$1"
}
same_run() { # a b: weights and state equal
    cmp "$T/$1.safetensors" "$T/$2.safetensors" || fail "$1 and $2: weights differ"
    cmp <(state "$T/$1.safetensors.state") <(state "$T/$2.safetensors.state") ||
        fail "$1 and $2: training state differs"
}
train() { # name, args...: runs cldqn train, keeps its summary in $T/name.out
    local name=$1
    shift
    "$BIN" train --quiet --out "$T/$name.safetensors" "$@" > "$T/$name.out" 2> "$T/err" ||
        fail "cldqn train $*: $(cat "$T/err")"
}

# The default preset (minibatch-mean updates, fused kernel).
train dflt --steps 2500 --seed 3
grep -q 'on basic-' "$T/dflt.out" || fail "one agent did not default to basic: $(cat "$T/dflt.out")"
train pthr --steps 2500 --seed 3 --device pthread
grep -q 'on pthread-' "$T/pthr.out" || fail "--device pthread not taken: $(cat "$T/pthr.out")"
same_run dflt pthr
# The user's POCL_DEVICES wins: pthread alone is device 0 then.
POCL_DEVICES=pthread train user --steps 2500 --seed 3
grep -q 'on pthread-' "$T/user.out" || fail "POCL_DEVICES=pthread ignored: $(cat "$T/user.out")"
same_run dflt user

# The seed preset (32 single-sample Keras steps per launch).
train sb --preset seed --episodes 1 --episode-steps 300 --seed 2 --device basic
train sp --preset seed --episodes 1 --episode-steps 300 --seed 2 --device pthread
same_run sb sp

# A population takes the device with the most compute units (pthread).
pop=(--steps 1200 --learning-starts 200 --eval-every 600 --population 3 --sweep lr=0.001,0.003,0.01)
"$BIN" train --quiet "${pop[@]}" --out "$T/pd.safetensors" > "$T/pd.out" 2> "$T/err" ||
    fail "population: $(cat "$T/err")"
grep -q 'on pthread-' "$T/pd.out" || fail "population did not default to pthread: $(cat "$T/pd.out")"
"$BIN" train --quiet "${pop[@]}" --device basic --out "$T/pb.safetensors" > "$T/pb.out" \
    2> "$T/err" || fail "population on basic: $(cat "$T/err")"
for i in 0 1 2; do
    cmp "$T/pd.agent$i.safetensors" "$T/pb.agent$i.safetensors" ||
        fail "population agent $i differs between pthread and basic"
done
echo "pocl_devices.sh: ok"
