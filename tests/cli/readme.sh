#!/bin/bash
# tests/cli/readme.sh - the README's two set-up commands, run as a new user
# would: in a fresh clone of the committed tree, as written in the README
# (issue 16). The clone's own suite skips this test (CLDQN_README_NESTED), so
# it does not recurse. It runs once, beside the build of the source tree on
# its default OpenCL: from a sanitizer build, or with another OpenCL chosen
# (OCL_ICD_VENDORS), it says so and is skipped (exit 77).
# Usage: bash readme.sh /path/to/cldqn /path/to/source
set -u
BIN=$(realpath "$1")
SRC=$(realpath "$2")
. "$(dirname "$0")/lib.bash"
if [ -n "${CLDQN_README_NESTED:-}" ]; then
    echo "readme: inside the clone's own suite: skipped"
    exit 77
fi
if [ "$BIN" != "$SRC/build/cldqn" ] || [ -n "${OCL_ICD_VENDORS:-}" ]; then
    echo "readme: runs only for build/ on the default OpenCL (here $BIN): skipped"
    exit 77
fi
git -C "$SRC" rev-parse --git-dir > /dev/null 2>&1 || {
    echo "readme: $SRC is not a git checkout: skipped"
    exit 77
}
# The README's commands: the indented lines that start with tools/setup.
mapfile -t cmds < <(grep -E '^    tools/setup && ' "$SRC/README.md" | sed 's/^    //')
[ ${#cmds[@]} -eq 2 ] || fail "expected two set-up commands in README.md, found ${#cmds[@]}"
case ${cmds[0]} in *"cldqn train"*) ;; *) fail "first command does not train: ${cmds[0]}" ;; esac
case ${cmds[1]} in *"ctest --test-dir build"*) ;; *) fail "second command is not ctest: ${cmds[1]}" ;; esac
grep -q -F -- "${cmds[1]#tools/setup && }" "$SRC/.ci/run" || fail ".ci/run does not run '${cmds[1]}'"

git clone -q "$SRC" "$T/clone" || fail "git clone"
cd "$T/clone" || fail "cd"
bash -c "${cmds[0]}" > "$T/train.out" 2> "$T/train.err" || fail "'${cmds[0]}': $(tail -5 "$T/train.err")"
grep -q "reached the exact optimum after" "$T/train.out" || fail "no optimum: $(cat "$T/train.out")"
ckpt=$(sed -n 's/^checkpoint: //p' "$T/train.out")
[ -f "$ckpt" ] && [ -f "$ckpt.state" ] || fail "no checkpoint '$ckpt' in the clone"
CLDQN_README_NESTED=1 bash -c "${cmds[1]}" > "$T/test.out" 2>&1 ||
    fail "'${cmds[1]}' in the clone: $(grep -E 'tests passed|Failed|\*\*\*' "$T/test.out" | tail -5)"
echo "readme: in a fresh clone, '${cmds[0]}': $(grep 'reached the exact optimum' "$T/train.out")"
echo "readme: '${cmds[1]}': $(grep 'tests passed' "$T/test.out")"
