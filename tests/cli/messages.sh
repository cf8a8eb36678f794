#!/bin/bash
# tests/cli/messages.sh - messages say what failed (issue 16, item 12):
#  - a tensor missing from a checkpoint's header is not "N unexpected bytes";
#  - shape metadata that disagrees with the tensors is refused (other
#    readers build their model from it);
#  - replay counts that disagree in a state file are named, and no
#    "--backend ref" is suggested for a damaged file;
#  - PoCL without a writable kernel cache is named as such, not "install an
#    OpenCL driver";
#  - tools/plot on an empty or foreign file: one line, no PNG (where
#    matplotlib is installed).
# Usage: bash messages.sh /path/to/cldqn /path/to/source
set -u
BIN=$1
SRC=$2
. "$(dirname "$0")/lib.bash"
"$BIN" train --steps 1200 --learning-starts 200 --quiet --out "$T/a.st" > /dev/null ||
    fail "training a.st"

# A tensor's entry blanked out of the header (same length, still JSON).
perl -0777 -pe 's/(,"out\.bias":\{[^}]*\})/" " x length($1)/e' "$T/a.st" > "$T/missing.st"
cmp -s "$T/a.st" "$T/missing.st" && fail "perl did not blank out.bias"
one_line 1 "described by no tensor in the header (a tensor missing from it" \
    "$BIN" eval "$T/missing.st" > /dev/null

# Shape metadata that disagrees with the tensors.
sed 's/"hidden":"50"/"hidden":"64"/' "$T/a.st" > "$T/meta.st"
cmp -s "$T/a.st" "$T/meta.st" && fail "sed did not change the hidden metadata"
one_line 1 "metadata hidden = '64' disagrees" "$BIN" eval "$T/meta.st" > /dev/null

# Replay counts that disagree: named, and no --backend ref for a bad file.
cp "$T/a.st" "$T/b.st"
sed 's/"replay_pushed":"1200"/"replay_pushed":"9999"/' "$T/a.st.state" > "$T/b.st.state"
cmp -s "$T/a.st.state" "$T/b.st.state" && fail "sed did not change replay_pushed"
err=$(one_line 1 "9999 transitions pushed but 1200 stored" "$BIN" train --resume "$T/b.st" --steps 2000)
echo "$err" | grep -q "backend ref" && fail "a damaged state file suggests --backend ref: $err"

# PoCL with no writable cache: say so.
if "$BIN" devices 2> /dev/null | grep -qi "portable computing language"; then
    one_line 1 "kernel cache '/proc/.cache/pocl' cannot be written (set POCL_CACHE_DIR" \
        env -u POCL_CACHE_DIR -u XDG_CACHE_HOME HOME=/proc "$BIN" train --steps 10 --quiet \
        --out "$T/c.st" > /dev/null
fi

# tools/plot: one line and no picture for files it cannot plot.
if python3 -c "import matplotlib" 2> /dev/null; then
    : > "$T/empty.jsonl"
    one_line 1 "no episodes or evaluations to plot" \
        python3 "$SRC/tools/plot" "$T/empty.jsonl" -o "$T/e.png" > /dev/null
    [ ! -e "$T/e.png" ] || fail "plot wrote a PNG of an empty file"
    echo '[1, 2]' > "$T/arr.jsonl"
    one_line 1 "not a JSON object" python3 "$SRC/tools/plot" "$T/arr.jsonl" -o "$T/e.png" > /dev/null
    one_line 1 "No such file" python3 "$SRC/tools/plot" "$T/nothere.jsonl" -o "$T/e.png" > /dev/null
else
    echo "messages: no matplotlib: tools/plot not checked"
fi
echo "ok"
