/* cmd_eval.c - placeholder until the command lands; exits non-zero. */
#include <stdio.h>

#include "cli.h"

int cldqn_cmd_eval(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "cldqn: 'eval' is not implemented yet\n");
    return 1;
}
