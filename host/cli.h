/* cli.h - the subcommands of the cldqn executable.
 *
 * Each takes the arguments after the command name (argv[0] is the command)
 * and returns the process exit status: 0 success, 1 runtime failure, 2 bad
 * usage. They print their own output; main() only dispatches. */
#ifndef CLDQN_CLI_H
#define CLDQN_CLI_H

int cldqn_cmd_devices(int argc, char **argv);
int cldqn_cmd_play(int argc, char **argv);
int cldqn_cmd_train(int argc, char **argv);
int cldqn_cmd_eval(int argc, char **argv);
int cldqn_cmd_bench(int argc, char **argv);

/* Prints "cldqn: <message>" for the last library error to stderr. */
void cldqn_cli_error(const char *context);

#endif
