/* main.c - the cldqn executable: dispatches to a subcommand (see cli.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cldqn/version.h"
#include "cli.h"

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    {"train", cldqn_cmd_train, "train a DQN agent on Taxi"},
    {"eval", cldqn_cmd_eval, "evaluate a checkpoint's greedy policy"},
    {"play", cldqn_cmd_play, "play Taxi in the terminal, or watch a checkpoint drive"},
    {"devices", cldqn_cmd_devices, "list OpenCL platforms and devices"},
    {"bench", cldqn_cmd_bench, "measure update and training throughput"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: cldqn [--version] [--help] COMMAND [ARGS]\n\n"
               "Deep Q-Learning on Taxi with the Q-network in OpenCL kernels.\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n'cldqn COMMAND --help' describes a command.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
        printf("cldqn %s\n", CLDQN_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "cldqn: unknown command '%s' (try 'cldqn --help')\n", argv[1]);
    return 2;
}
