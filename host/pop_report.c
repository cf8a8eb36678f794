/* pop_report.c - what a population run reports: the per-agent JSON lines of
 * --metrics and the results table. Shared by `cldqn train --population` and
 * `cldqn-mpi train`, so the one-process and the MPI run print the same rows
 * and write the same lines (tests/cli/mpi.sh compares them). */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>

#include "cli.h"

static void json_num(FILE *f, const char *key, double v)
{
    if (isfinite(v))
        fprintf(f, ", \"%s\": %.9g", key, v);
    else
        fprintf(f, ", \"%s\": null", key);
}

void cldqn_cli_pop_episode_json(FILE *f, int agent, const cldqn_train_stats *s, int terminated)
{
    fprintf(f,
            "{\"type\": \"episode\", \"agent\": %d, \"episode\": %" PRId64 ", \"steps\": %" PRId64
            ", \"updates\": %" PRId64 ", \"return\": %d, \"length\": %d, \"terminated\": %s",
            agent, s->episodes, s->steps, s->updates, s->last_return, s->last_length,
            terminated ? "true" : "false");
    json_num(f, "epsilon", s->epsilon);
    json_num(f, "loss", s->episode_loss);
    json_num(f, "mean_return_100", s->mean_return);
    json_num(f, "time", s->elapsed);
    fprintf(f, "}\n");
}

void cldqn_cli_pop_eval_json(FILE *f, int agent, const cldqn_train_stats *s)
{
    fprintf(f,
            "{\"type\": \"eval\", \"agent\": %d, \"steps\": %" PRId64 ", \"episodes\": %" PRId64
            ", \"updates\": %" PRId64,
            agent, s->steps, s->episodes, s->updates);
    json_num(f, "mean_return", s->eval.mean_return);
    json_num(f, "optimal_return", s->optimal_return);
    json_num(f, "success_rate", s->eval.success_rate);
    fprintf(f, ", \"optimal\": %s", s->reached_optimal ? "true" : "false");
    json_num(f, "time", s->elapsed);
    fprintf(f, "}\n");
}

void cldqn_cli_pop_table_header(FILE *f)
{
    fprintf(f, "%5s %8s %9s %7s %9s %8s %9s %12s %12s %8s\n", "agent", "seed", "lr", "gamma",
            "steps", "episodes", "updates", "optimum@", "final return", "gap");
}

void cldqn_cli_pop_table_row(FILE *f, int agent, const cldqn_config *c, const cldqn_train_stats *s)
{
    char opt[32] = "-";
    if (s->optimal_steps) snprintf(opt, sizeof opt, "%" PRId64, s->optimal_steps);
    fprintf(f, "%5d %8" PRIu64 " %9.3g %7.4g %9" PRId64 " %8" PRId64 " %9" PRId64 " %12s", agent,
            c->seed, (double)c->learn.lr, (double)c->learn.gamma, s->steps, s->episodes, s->updates,
            opt);
    if (s->have_eval)
        fprintf(f, " %12.3f %8.3f\n", s->eval.mean_return, s->optimal_return - s->eval.mean_return);
    else
        fprintf(f, " %12s %8s\n", "-", "-");
}
