#!/usr/bin/env bash
# devfault.sh - device faults while continuing a run: no OpenCL driver (the
# device has gone), a device that does not exist, kernels that fail to build.
# (Out of device memory is not here: PoCL's device memory is host memory and
# POCL_MEMORY_LIMIT did not make a 52 M-parameter network fail.) Each must stop `cldqn train` with
# a clear "cldqn: ..." error and a non-zero exit before anything is written,
# leaving the checkpoint it was resuming byte-identical and still resumable.
# Usage: bash devfault.sh /path/to/cldqn /path/to/source
set -u
bin=$1
src=$2
fail() { echo "devfault.sh: FAIL: $*" >&2; exit 1; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
ck=$dir/run.safetensors
"$bin" train --backend ref --seed 6 --steps 200 --replay 3000 --learning-starts 64 --batch 32 \
  --eval-every 0 --out "$ck" --quiet >/dev/null || fail "could not train the checkpoint"
cp "$ck" "$dir/keep" && cp "$ck.state" "$dir/keep.state"

faults=0
# expect NAME PATTERN CMD...: exit 1, a stderr line "cldqn: ..." matching
# PATTERN (PoCL's compiler may print its own diagnostics before it),
# checkpoint unchanged, no temporary files.
expect() {
  local name=$1 pat=$2 rc
  shift 2
  "$@" >/dev/null 2>"$dir/err"
  rc=$?
  faults=$((faults + 1))
  [ $rc -eq 1 ] || fail "$name: exit $rc, expected 1: $(cat "$dir/err")"
  grep '^cldqn: ' "$dir/err" | grep -Eqi "$pat" ||
    fail "$name: no 'cldqn:' line saying /$pat/: $(cat "$dir/err")"
  cmp -s "$ck" "$dir/keep" && cmp -s "$ck.state" "$dir/keep.state" || fail "$name: checkpoint changed"
  ls "$dir"/*.tmp.* >/dev/null 2>&1 && fail "$name: temporary files left"
  echo "devfault.sh: $name: $(grep -m1 '^cldqn: ' "$dir/err")"
}

resume=(train --resume "$ck" --steps 300 --save-every 10 --backend opencl --quiet)
mkdir "$dir/novendors"
expect "no OpenCL driver" 'opencl|platform|device' env OCL_ICD_VENDORS="$dir/novendors" "$bin" "${resume[@]}"
expect "no such device" 'device' "$bin" "${resume[@]}" --device no-such-device-xyz
mkdir "$dir/kernels"
cp "$src"/kernels/*.cl "$dir/kernels/"
for f in "$dir"/kernels/*.cl; do echo 'this is not OpenCL C;' >>"$f"; done
expect "kernels fail to build" 'build|compil' env CLDQN_KERNEL_DIR="$dir/kernels" "$bin" "${resume[@]}"
# Still resumable afterwards, on the host.
"$bin" train --resume "$ck" --steps 210 --backend ref --quiet >/dev/null 2>"$dir/err" ||
  fail "checkpoint does not resume after the faults: $(cat "$dir/err")"
echo "devfault.sh: $faults device faults injected, checkpoint intact and resumable"
