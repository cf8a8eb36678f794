/* cmd_devices.c - placeholder until the command lands; exits non-zero. */
#include <stdio.h>

#include "cli.h"

int cldqn_cmd_devices(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "cldqn: 'devices' is not implemented yet\n");
    return 1;
}
