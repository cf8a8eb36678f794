/* fuzz_cli.c - libFuzzer harness for `cldqn train`'s command-line parser.
 *
 * The input is split at newlines into arguments after "train --print-config":
 * --print-config makes the command stop once settings are parsed, merged and
 * checked (it never trains). It comes first so that no fuzzed flag can take
 * it as its value (a trailing one did: "--out" swallowed it and trained). tools/fuzz/run passes
 * -close_fd_mask=3 to silence the command's output (sanitizer reports still get through). The
 * working directory is an empty temporary one, so relative --config/--resume/--out
 * paths touch nothing real. Exit codes must stay 0, 1 or 2. */
#include <string.h>

#include "cli.h"
#include "fuzz_common.h"

#define MAX_ARGS 64

#ifndef FUZZ_IN_TEST
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    char dir[] = "/tmp/cldqn-fuzz-cli-XXXXXX";
    if (!mkdtemp(dir) || chdir(dir) != 0) abort();
    return 0;
}
#endif

int fuzz_cli_one(const uint8_t *data, size_t size)
{
    char *buf = malloc(size + 1);
    if (!buf) abort();
    memcpy(buf, data, size);
    buf[size] = 0;
    char *argv[MAX_ARGS + 3];
    int argc = 0;
    argv[argc++] = "train";
    argv[argc++] = "--print-config";
    char *save = NULL;
    for (char *tok = strtok_r(buf, "\n", &save); tok && argc < MAX_ARGS + 2;
         tok = strtok_r(NULL, "\n", &save))
        argv[argc++] = tok;
    argv[argc] = NULL;
    int rc = cldqn_cmd_train(argc, argv);
    FUZZ_ASSERT(rc >= 0 && rc <= 2, "train exits 0, 1 or 2");
    free(buf);
    return 0;
}

#ifndef FUZZ_IN_TEST
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_cli_one(data, size);
}
#endif
