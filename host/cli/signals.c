/* signals.c - SIGINT and SIGTERM held through start-up, for cldqn train and
 * cldqn-mpi: blocked before the first OpenCL call (so the runtime's threads
 * inherit the mask and no handler it installs can swallow a Ctrl-C), then
 * handed to the command's own handler once training can save. */
#include <pthread.h>
#include <signal.h>
#include <string.h>

#include "cli.h"

static sigset_t held;

void cldqn_cli_hold_signals(void)
{
    sigemptyset(&held);
    sigaddset(&held, SIGINT);
    sigaddset(&held, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &held, NULL);
}

void cldqn_cli_catch_signals(void (*handler)(int))
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    pthread_sigmask(SIG_UNBLOCK, &held, NULL);
}
