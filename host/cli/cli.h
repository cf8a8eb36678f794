/* cli.h - the subcommands of the cldqn executable.
 *
 * Each takes the arguments after the command name (argv[0] is the command)
 * and returns the process exit status: 0 success, 1 runtime failure, 2 bad
 * usage, 3 (train --until-optimal) a limit came before the optimum, 128 + N
 * signal N. They print their own output; main() only dispatches. */
#ifndef CLDQN_CLI_H
#define CLDQN_CLI_H

#define CLDQN_EXIT_NOT_OPTIMAL 3

/* SIGINT and SIGTERM blocked in the calling thread (before the first
 * OpenCL call, so every thread started later inherits the mask), and later
 * given to handler and released (host/cli/signals.c). */
void cldqn_cli_hold_signals(void);
void cldqn_cli_catch_signals(void (*handler)(int));

#include <stdio.h>

#include "cldqn/config.h"
#include "cldqn/trainer.h"

int cldqn_cmd_devices(int argc, char **argv);
int cldqn_cmd_play(int argc, char **argv);
int cldqn_cmd_train(int argc, char **argv);
int cldqn_cmd_eval(int argc, char **argv);
int cldqn_cmd_bench(int argc, char **argv);

/* Runs a population once `cldqn train` has settled the settings: cfg (out
 * filled in, checked), the --population count (0 if absent) and the --sweep
 * items. Returns the exit code. cldqn-mpi (host/cli/) passes one that splits
 * the agents over MPI ranks. */
typedef int (*cldqn_cli_pop_runner)(void *ctx, const cldqn_config *cfg, int k,
                                    const char *const *sweep, int n_sweep);

/* cldqn_cmd_train, with --population/--sweep runs handed to run (NULL: the
 * one-device population of cldqn train). */
int cldqn_cmd_train_with(int argc, char **argv, cldqn_cli_pop_runner run, void *ctx);

/* The --metrics lines (host/cli/pop_report.c): one JSON line per finished
 * episode and per evaluation; agent < 0 for a solo run's (no "agent" key).
 * -1 when out of memory (nothing written). */
int cldqn_cli_episode_json(FILE *f, int agent, const cldqn_train_stats *s, int terminated);
int cldqn_cli_eval_json(FILE *f, int agent, const cldqn_train_stats *s);
/* The results table of n agents: seed, lr, gamma, counters, optimum and
 * final return, then a column per other setting that differs between them.
 * get(ctx, i) gives agent i's settings and counters. */
typedef struct {
    const cldqn_config *cfg;
    const cldqn_train_stats *stats;
} cldqn_cli_pop_agent;
typedef cldqn_cli_pop_agent (*cldqn_cli_pop_get)(const void *ctx, int i);
void cldqn_cli_pop_table(FILE *f, int n, cldqn_cli_pop_get get, const void *ctx);
/* "checkpoints: OUT.agent0... .. agentN-1", after the table. */
void cldqn_cli_pop_checkpoints(FILE *f, const char *out, int n);

/* Checks every file that a run of k agents (0: a solo run) with cfg will
 * write: checkpoints and state files, metrics, trace. Prints one line and
 * returns 1 if one names a directory, an existing file that is not a
 * regular one, a name too long for its companion files, a directory that
 * takes no new file, or if two of them name the same file; else 0. */
int cldqn_cli_check_outputs(const cldqn_config *cfg, int k);

/* Prints "cldqn: <message>" for the last library error to stderr. */
void cldqn_cli_error(const char *context);

#endif
