#!/bin/bash
# tests/cli/bench.sh - `cldqn bench`: a very short --json run has the four
# required keys (updates_per_s, env_steps_per_s, launch_latency_us, device)
# with positive values, --profile writes a Chrome trace that tools/profile
# reads (kernel events included), and bad input gives one line and a
# non-zero exit. Timings themselves are not judged (shared, loaded machine).
# Usage: bash bench.sh /path/to/cldqn /path/to/source
set -u
BIN=$1
SRC=$2
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() {
    echo "FAIL: $*" >&2
    exit 1
}

json=$("$BIN" bench --json --quick --seconds 0.05 --profile "$T/trace.json") || fail "bench --json"
[ "$(echo "$json" | wc -l)" -eq 1 ] || fail "--json printed more than one line: $json"
for key in updates_per_s env_steps_per_s launch_latency_us act_latency_us; do
    v=$(echo "$json" | grep -o "\"$key\": [-0-9.e+]*" | head -1 | sed 's/.*: //')
    [ -n "$v" ] || fail "no numeric $key in $json"
    awk -v x="$v" 'BEGIN { exit !(x > 0) }' || fail "$key is not positive: $v"
done
echo "$json" | grep -Eq '"device": "[^"]+"' || fail "no device name in $json"
if command -v python3 > /dev/null; then
    python3 -c 'import json,sys; json.loads(sys.argv[1])' "$json" || fail "--json is not JSON"
fi

[ -s "$T/trace.json" ] || fail "--profile wrote no trace"
grep -q '"traceEvents"' "$T/trace.json" || fail "trace has no traceEvents"
grep -q '"ph":"X"' "$T/trace.json" || fail "trace has no complete events"
if command -v python3 > /dev/null; then
    table=$(python3 "$SRC/tools/profile" "$T/trace.json") || fail "tools/profile failed"
    echo "$table" | head -1 | grep -q "calls" || fail "profile table header: $table"
    kern=$(python3 "$SRC/tools/profile" "$T/trace.json" --cat kernel) || fail "profile --cat kernel"
    echo "$kern" | grep -q "^empty " || fail "no empty-kernel events in the trace: $kern"
    echo "$kern" | grep -q "^fused_update" || fail "no fused-update events in the trace: $kern"
    python3 "$SRC/tools/profile" "$T/missing.json" 2> /dev/null && fail "profile of a missing file"
else
    echo "python3 not found: tools/profile not checked"
fi

one_line_error() {
    err=$("$BIN" bench "$@" 2>&1 > /dev/null)
    rc=$?
    [ $rc -ne 0 ] || fail "bench $* succeeded"
    [ "$(echo "$err" | wc -l)" -eq 1 ] || fail "bench $*: more than one line: $err"
    echo "$err"
}
one_line_error --frobnicate | grep -q "unknown option" || fail "unknown flag"
one_line_error --seconds 0 | grep -q -- "--seconds" || fail "--seconds 0"
one_line_error --seconds abc | grep -q -- "--seconds" || fail "--seconds abc"
one_line_error --seconds | grep -q "needs a value" || fail "--seconds without a value"
one_line_error --profile "$T/no/such/dir/t.json" | grep -q "cannot write" || fail "bad --profile"
one_line_error --device no-such-device-xyz --seconds 0.01 | grep -qi "device" || fail "bad device"
echo "ok"
