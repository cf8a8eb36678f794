#!/usr/bin/env bash
# devices.sh - `cldqn devices`: lists the PoCL device; with no OpenCL driver
# visible it fails with one line naming the package to install.
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

"$bin" devices --help | grep -q '^usage: cldqn devices' || fail "--help has no usage line"
"$bin" devices --bogus >/dev/null 2>&1
[ $? -eq 2 ] || fail "an unknown argument must exit 2"

# No ICD: point the loader at an empty vendors dir.
empty=$(mktemp -d)
trap 'rm -rf "$empty"' EXIT
err=$(OCL_ICD_VENDORS=$empty "$bin" devices 2>&1 >/dev/null)
rc=$?
[ $rc -ne 0 ] || fail "no-ICD run exited 0"
[ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ] || fail "expected one line on stderr, got: $err"
echo "$err" | grep -q 'pocl-opencl-icd' || fail "message does not name the package: $err"
echo "devices.sh: ok"
