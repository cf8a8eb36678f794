#!/bin/bash
# tests/cli/resume_limits.sh - settings that a resumed or reloaded run must
# not take silently (issue 16, items 3, 4 and 8):
#  - --print-config pins no default checkpoint name, so a printed config
#    trained with another --seed writes that seed's checkpoint;
#  - --resume with another seed (flag or config file) is refused: the random
#    streams come from the state file;
#  - --resume with a step or episode limit already behind the checkpoint is
#    refused in one line instead of "training" nothing and reporting on it;
#  - --resume --until-optimal of an exactly optimal checkpoint says so and
#    exits 0 without training (the checkpoint left as it was).
# Usage: bash resume_limits.sh /path/to/cldqn /path/to/source
set -u
BIN=$(realpath "$1")
. "$(dirname "$0")/lib.bash"
# refused RC PATTERN ARGS...: train ARGS exits RC with one line matching PATTERN.
refused() { one_line "$1" "$2" "$BIN" train "${@:3}" > /dev/null; }
cd "$T" || fail "cd"

# 3. A printed config names no checkpoint; --seed 9 then writes seed 9's.
"$BIN" train --steps 300 --learning-starts 100 --print-config > cfg || fail "print-config"
grep -Eq '^out += +#' cfg || fail "printed config pins a checkpoint name: $(grep '^out' cfg)"
"$BIN" train --config cfg --seed 9 --quiet > /dev/null 2> err || fail "config run: $(cat err)"
[ -f cldqn-default-seed9.safetensors ] || fail "no cldqn-default-seed9.safetensors: $(ls)"
[ ! -e cldqn-default-seed1.safetensors ] || fail "seed 1's name used for a seed 9 run"


# 4. The seed of a resumed run.
"$BIN" train --steps 600 --learning-starts 100 --quiet --out a.st > /dev/null || fail "a.st"
cp a.st a0.st && cp a.st.state a0.st.state
refused 2 "keeps its seed 1" --resume a.st --seed 9
printf 'seed = 9\n' > seed9.cfg
refused 2 "keeps its seed 1" --resume a.st --config seed9.cfg
cmp -s a.st a0.st && cmp -s a.st.state a0.st.state || fail "a refused resume changed the files"

# 8. Limits already behind the checkpoint.
refused 2 "at 600 env steps already" --resume a.st --steps 100
refused 2 "at 600 env steps already" --resume a.st --steps 600
"$BIN" train --resume a.st --steps 700 --quiet > /dev/null 2> err || fail "resume to 700: $(cat err)"

# An exactly optimal checkpoint resumed with --until-optimal trains no more.
"$BIN" train --until-optimal --seed 3 --quiet --out opt.st > out 2> err ||
    fail "until-optimal: $(cat err)"
grep -q "reached the exact optimum" out || fail "seed 3 did not reach the optimum: $(cat out)"
cp opt.st opt0.st
out=$("$BIN" train --resume opt.st --until-optimal 2> err) || fail "resume of an optimal run: $(cat err)"
echo "$out" | grep -q "already exactly optimal" || fail "no 'already exactly optimal': $out"
cmp -s opt.st opt0.st || fail "an optimal checkpoint was trained on"
echo "ok"
