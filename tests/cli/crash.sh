#!/usr/bin/env bash
# crash.sh - crash safety of `cldqn train` checkpoints under SIGKILL.
#
# Trains (host reference backend: the save path does not depend on the
# backend, and it starts in milliseconds) and kills the process with SIGKILL
# at random moments, continuing each time with --resume from what is on disk.
# Half the rounds save after every step, so most of those kills land inside
# cldqn_trainer_save (writing, fsync or rename of PATH.state or PATH); the
# other half save every 37 steps, so kills land mostly between saves. After
# every kill the newest checkpoint on disk must load, be complete (its
# training state belongs to its weights) and resume: a copy is resumed for
# 3 more steps and must end exactly 3 steps further on. A kill between the
# rename of PATH.state and that of PATH leaves a newer state beside older
# weights; resume must then continue from the state (which carries its own
# copy of the weights): this test first found that such a pair was refused.
# Usage: bash crash.sh /path/to/cldqn /path/to/source [ROUNDS]
set -u
bin=$1
rounds=${3:-${CLDQN_CRASH_ROUNDS:-30}}
fail() { echo "crash.sh: FAIL: $*" >&2; exit 1; }

dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
ck=$dir/run.safetensors
common=(--backend ref --replay 3000 --learning-starts 64 --batch 32 --eval-every 0 --quiet)
RANDOM=${CLDQN_CRASH_SEED:-7}

# The "steps" metadata of a weights or state file ('"steps":"123"' in its JSON header).
steps_of() { grep -a -o '"steps":"[0-9]*"' "$1" | head -1 | tr -dc 0-9; }

kills=0 in_save=0 resumed=0 checked=0 between=0
for ((r = 0; r < rounds; r++)); do
  save_every=$(( r % 2 ? 37 : 1 ))
  if [ -f "$ck" ]; then
    args=(--resume "$ck" --steps 100000000 --save-every "$save_every")
    resumed=$((resumed + 1))
  else
    args=(--seed 3 --steps 100000000 --save-every "$save_every" --out "$ck" "${common[@]}")
  fi
  # --resume keeps the stored settings; per-run ones come again.
  [ -f "$ck" ] && args+=(--backend ref --eval-every 0 --quiet)
  "$bin" train "${args[@]}" >"$dir/log" 2>&1 &
  pid=$!
  # 20..400 ms: past start-up, and at varying points of a save.
  sleep "0.$(printf '%03d' $(( 20 + RANDOM % 380 )))"
  if ! kill -0 "$pid" 2>/dev/null; then
    cat "$dir/log" >&2
    fail "round $r: the trainer exited before the kill"
  fi
  # A temporary file next to the target means the kill lands inside a save.
  ls "$dir"/*.tmp.* >/dev/null 2>&1 && in_save=$((in_save + 1))
  kill -KILL "$pid"
  wait "$pid" 2>/dev/null
  kills=$((kills + 1))
  [ -f "$ck" ] || continue # killed before the first save: nothing to check

  # The newest checkpoint: weights + state, resumed on a copy for 3 steps.
  [ -f "$ck.state" ] || fail "round $r: $ck has no $ck.state"
  w=$(steps_of "$ck") s=$(steps_of "$ck.state")
  [ -n "$w" ] && [ -n "$s" ] || fail "round $r: no steps metadata in $ck or its state"
  [ "$w" = "$s" ] || between=$((between + 1)) # killed between the two renames
  rm -rf "$dir/v" && mkdir "$dir/v"
  cp "$ck" "$ck.state" "$dir/v/"
  v=$dir/v/run.safetensors
  if ! out=$("$bin" train --resume "$v" --steps $((s + 3)) --backend ref --quiet 2>&1); then
    fail "round $r (save-every $save_every): checkpoint (weights step $w, state step $s) does not resume: $out"
  fi
  [ "$(steps_of "$v")" = $((s + 3)) ] || fail "round $r: resumed from step $s, ended at $(steps_of "$v")"
  checked=$((checked + 1))
done
left=$(ls "$dir"/*.tmp.* 2>/dev/null | wc -l)
echo "crash.sh: $kills SIGKILLs ($in_save while a save was in progress, $between between the" \
     "state and weights renames), $checked checkpoints resumed and verified, $resumed runs" \
     "continued with --resume, $left temporary files left"
[ "$checked" -ge $((rounds / 2)) ] || fail "only $checked of $rounds rounds had a checkpoint to check"
# Each save removes what killed saves left; only the last kill or two may
# have left theirs (a round saving every 37 steps may end before a save).
# Before that cleanup, 100 kills left 51 temporary files behind.
[ "$left" -le 2 ] || fail "$left temporary files left: $(ls "$dir")"
exit 0
