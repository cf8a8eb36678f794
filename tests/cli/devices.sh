#!/usr/bin/env bash
# devices.sh - `cldqn devices`: lists the PoCL device with its spec; on PoCL,
# --device (and $CLDQN_DEVICE) take PLATFORM:N, an exact name, an index or a
# unique name substring and refuse an ambiguous one in one line; with no
# OpenCL driver visible it fails with one line naming the package to install.
# Usage: bash devices.sh /path/to/cldqn /path/to/source
set -u
bin=$1
fail() { echo "devices.sh: FAIL: $*" >&2; exit 1; }

out=$("$bin" devices) || fail "cldqn devices exited $?"
echo "$out" | grep -q '^platform 0: ' || fail "no 'platform 0:' line in: $out"
echo "$out" | grep -q '^  device 0: ' || fail "no 'device 0:' line in: $out"
for field in vendor type 'compute units' 'global memory' 'local memory' version 'max work-group'; do
  echo "$out" | grep -q "^    $field " || fail "field '$field' missing in: $out"
done
# This machine's CPU driver is PoCL; on others it must at least list something.
if command -v clinfo >/dev/null && clinfo -l 2>/dev/null | grep -qi 'portable computing language'; then
  echo "$out" | grep -qi 'Portable Computing Language' || fail "PoCL platform not listed"
fi

# Every device shows its spec; PoCL's are pocl:N here.
echo "$out" | grep -qE '^    spec +[^ ]+:[0-9]+ or [0-9]+$' || fail "no 'spec' line in: $out"

# Device specs on PoCL's two CPU devices (cldqn lists basic, then pthread).
if echo "$out" | grep -q '^platform [0-9]*: Portable Computing Language'; then
  unset CLDQN_DEVICE POCL_DEVICES
  spec_of() { # device-name prefix -> its spec as `cldqn devices` prints it
    echo "$out" | awk -v p="$1" '/^  device [0-9]+: /{d=$0} /^    spec /{if (index(d, ": " p)) print $2}'
  }
  [ "$(spec_of basic-)" = pocl:0 ] || fail "basic's spec is not pocl:0: $out"
  [ "$(spec_of pthread-)" = pocl:1 ] || fail "pthread's spec is not pocl:1: $out"
  on() { # spec -> the device name `cldqn bench` opens, or the error
    "$bin" bench --quick --seconds 0.001 --device "$1" 2>&1 | sed -n 's/^device: \(.*\) (.*/\1/p; s/^cldqn: //p' | head -1
  }
  T=$(mktemp -d)
  trap 'rm -rf "$T"' EXIT
  for spec in portable:0 pocl:1 PoCL:0 "the pocl project:1" pthread PTHREAD 0 1; do
    on "$spec" > "$T/$spec"
  done
  base=$(echo "$out" | sed -n 's/^  device [0-9]*: \(basic-.*\)/\1/p')
  pthr=$(echo "$out" | sed -n 's/^  device [0-9]*: \(pthread-.*\)/\1/p')
  for s in portable:0 PoCL:0 0; do
    [ "$(cat "$T/$s")" = "$base" ] || fail "--device $s: got '$(cat "$T/$s")', not $base"
  done
  for s in pocl:1 "the pocl project:1" pthread PTHREAD 1; do
    [ "$(cat "$T/$s")" = "$pthr" ] || fail "--device $s: got '$(cat "$T/$s")', not $pthr"
  done
  # The exact name of one, and the same spec through $CLDQN_DEVICE and train.
  r=$("$bin" train --steps 30 --learning-starts 10 --quiet --out "$T/x.safetensors" --device "$pthr" 2>&1)
  echo "$r" | grep -q "on $pthr" || fail "--device '$pthr' (exact name): $r"
  r=$(CLDQN_DEVICE=pocl:1 "$bin" train --steps 30 --learning-starts 10 --quiet --out "$T/x.safetensors" 2>&1)
  echo "$r" | grep -q "on $pthr" || fail "CLDQN_DEVICE=pocl:1: $r"
  # Refusals: one line each, naming what matched or what there is.
  # A word in both names: PoCL's CPU name after basic-/pthread- (e.g. haswell).
  word=${base#basic-}
  word=${word%%-*}
  case $pthr in *"$word"*) ;; *) fail "'$word' of $base is not in $pthr" ;; esac
  refused() { # spec, pattern...: train refuses spec with one line holding each pattern
    local spec=$1 err
    shift
    err=$("$bin" train --steps 10 --quiet --out "$T/r.safetensors" --device "$spec" 2>&1 >/dev/null) &&
      fail "--device $spec was taken"
    [ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ] || fail "--device $spec: not one line: $err"
    for p in "$@"; do
      echo "$err" | grep -qF -- "$p" || fail "--device $spec: '$p' missing in: $err"
    done
  }
  refused "$word" "'$word' is ambiguous" "pocl:0 (index 0, $base)" "pocl:1 (index 1, $pthr)"
  refused pocl:2 "out of range" "pocl:0..pocl:1"
  refused nvidia:0 "no OpenCL platform" "pocl:0 (index 0," "pocl:1 (index 1,"
  refused no-such-device "matches no OpenCL device" "pocl:0 (index 0," "pocl:1 (index 1,"
  refused 7 "index 7 out of range"
  err=$(CLDQN_DEVICE=$word "$bin" train --steps 10 --quiet --out "$T/r.safetensors" 2>&1 >/dev/null) &&
    fail "CLDQN_DEVICE=$word was taken"
  echo "$err" | grep -qF "\$CLDQN_DEVICE '$word' is ambiguous" || fail "CLDQN_DEVICE=$word: $err"
fi

"$bin" devices --help | grep -q '^usage: cldqn devices' || fail "--help has no usage line"
"$bin" devices --help | grep -q 'PLATFORM:N' || fail "--help does not say PLATFORM:N"
"$bin" devices --bogus >/dev/null 2>&1
[ $? -eq 2 ] || fail "an unknown argument must exit 2"

# No ICD: point the loader at an empty vendors dir.
empty=$(mktemp -d)
trap 'rm -rf "$empty" ${T:+"$T"}' EXIT
err=$(OCL_ICD_VENDORS=$empty "$bin" devices 2>&1 >/dev/null)
rc=$?
[ $rc -ne 0 ] || fail "no-ICD run exited 0"
[ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ] || fail "expected one line on stderr, got: $err"
echo "$err" | grep -q 'pocl-opencl-icd' || fail "message does not name the package: $err"
echo "devices.sh: ok"
