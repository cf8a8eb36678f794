#!/bin/bash
# tests/cli/config_files.sh - config files as a user writes and reads them
# (issue 16, items 3, 5, 6):
#  - a printed seed-preset config, read back, is the seed preset (preset is
#    a setting: the file's first), and printing it again gives the same file;
#  - --preset and a file starting from another preset, or a resumed run and
#    such a file, are refused in one line;
#  - a directory or FIFO given as --config is refused at once (a directory
#    was read as an empty config and training ran on defaults), and so is
#    one given as --sweep-file (a FIFO blocked it);
#  - a line over 2,046 bytes is refused, not split into two lines (the tail
#    of '# <2047 characters>lr = 0.5' set lr).
# Usage: bash config_files.sh /path/to/cldqn /path/to/source
set -u
BIN=$1
. "$(dirname "$0")/lib.bash"
# refused RC PATTERN ARGS...: train ARGS exits RC with one line matching PATTERN.
refused() { one_line "$1" "$2" timeout 10 "$BIN" train "${@:3}" > /dev/null; }

"$BIN" train --preset seed --print-config > "$T/seed.cfg" || fail "print-config"
grep -Eq '^preset += seed ' "$T/seed.cfg" || fail "no 'preset = seed' line: $(head -2 "$T/seed.cfg")"
"$BIN" train --config "$T/seed.cfg" --print-config > "$T/again.cfg" || fail "reading it back"
cmp -s "$T/seed.cfg" "$T/again.cfg" || fail "not a fixed point: $(diff "$T/seed.cfg" "$T/again.cfg")"
"$BIN" train --preset seed --config "$T/seed.cfg" --print-config > /dev/null || fail "same preset"
refused 2 "starts from preset 'seed', the run from 'default'" --preset default --config "$T/seed.cfg"
printf 'gamma = 0.5\npreset = seed\n' > "$T/late.cfg"
refused 2 "must be the file's first setting" --config "$T/late.cfg"
"$BIN" train --steps 300 --learning-starts 100 --quiet --out "$T/a.st" > /dev/null || fail "a.st"
refused 2 "starts from preset 'seed', the run from 'default'" --resume "$T/a.st" --config "$T/seed.cfg"

mkdir "$T/dir"
refused 2 "'$T/dir' is not a regular file" --config "$T/dir" --steps 300 --quiet --out "$T/d.st"
[ ! -e "$T/d.st" ] || fail "training ran on a directory config"
mkfifo "$T/fifo"
refused 2 "is not a regular file" --config "$T/fifo"
# --sweep-file alike (a FIFO blocked, a directory failed as a read error).
refused 2 "^cldqn: --sweep-file: '$T/dir' is not a regular file" --sweep-file "$T/dir" --steps 300
refused 2 "^cldqn: --sweep-file: '$T/fifo' is not a regular file" --sweep-file "$T/fifo" --steps 300

{
    printf '# '
    printf 'x%.0s' $(seq 1 2047)
    printf 'lr = 0.5\n'
} > "$T/long.cfg"
refused 2 "long.cfg:1: line longer than 2046 bytes" --config "$T/long.cfg" --print-config
echo "ok"
