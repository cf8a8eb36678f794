# tests/cli/lib.bash - sourced by CLI tests (not a test itself: ctest runs
# cli/*.sh): a temporary folder T removed at exit, fail, and one_line.
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() {
    echo "FAIL: $*" >&2
    exit 1
}
# one_line RC PATTERN CMD...: CMD exits RC and its stderr is one line
# matching PATTERN; that line is printed on stdout.
one_line() {
    local want=$1 pat=$2
    shift 2
    local err rc
    err=$("$@" 2>&1 > /dev/null)
    rc=$?
    [ $rc -eq "$want" ] || fail "$*: exit $rc, expected $want: $err"
    [ "$(echo "$err" | wc -l)" -eq 1 ] || fail "$*: more than one line: $err"
    echo "$err" | grep -q -- "$pat" || fail "$*: '$err' lacks '$pat'"
    echo "$err"
}
