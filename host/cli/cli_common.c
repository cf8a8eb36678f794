/* cli_common.c - helpers shared by the subcommands. */
#include <stdio.h>

#include "cldqn/status.h"
#include "cli.h"

void cldqn_cli_error(const char *context)
{
    const char *msg = cldqn_last_error();
    if (context && *context)
        fprintf(stderr, "cldqn: %s: %s\n", context, *msg ? msg : "failed");
    else
        fprintf(stderr, "cldqn: %s\n", *msg ? msg : "failed");
}
