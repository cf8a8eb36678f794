#!/bin/bash
# tests/cli/library.sh - the library is not the program: libcldqn.a defines
# no command-line symbol (cldqn_cmd_*, cldqn_cli_*, progress, main) and its
# objects refer to neither stdout nor stderr, nor to printing to them, nor to
# exit or getopt. Writing a FILE the caller opened (metrics, traces, a
# config) stays allowed. Every exported name carries the library's prefix.
# Usage: bash library.sh /path/to/cldqn /path/to/source
set -u
LIB=$(dirname "$1")/libcldqn.a
CLI=$(dirname "$1")/libcldqn-cli.a
fail() {
    echo "FAIL: $*" >&2
    exit 1
}
[ -f "$LIB" ] || fail "no $LIB"
[ -f "$CLI" ] || fail "no $CLI"
defined=$(nm -g --defined-only "$LIB" 2> /dev/null | awk 'NF == 3 { print $3 }')
[ -n "$defined" ] || fail "nm found no symbols in $LIB"
bad=$(echo "$defined" | grep -E '^(main|cldqn_cmd_|cldqn_cli_|cldqn_progress_|cldqn_print_)')
[ -z "$bad" ] || fail "command-line symbols in libcldqn: $(echo $bad)"
# Names starting with __ are the compiler's (ASan's __odr_asan.*, ...).
bad=$(echo "$defined" | grep -vE '^(cldqn_|ref_|__)')
[ -z "$bad" ] || fail "exported names without the cldqn_/ref_ prefix: $(echo $bad)"
# Undefined references, with the object that makes each.
refs=$(nm -A -u "$LIB" 2> /dev/null)
bad=$(echo "$refs" | grep -E ' U (stdout|stderr|printf|__printf_chk|vprintf|__vprintf_chk|puts|putchar|perror|exit|_exit|quick_exit|getopt|getopt_long)$')
[ -z "$bad" ] || fail "libcldqn prints to the terminal or exits:
$bad"
# The command line does use them: the check itself can see a reference.
nm -u "$CLI" 2> /dev/null | grep -qE ' U (stdout|stderr)$' ||
    fail "nm -u sees no stdout/stderr in libcldqn-cli: the check would miss them"
echo "library: $(echo "$defined" | wc -l) exported symbols, no CLI symbol, no terminal output or exit"
