/* pop_report.c - what a population run reports: the per-agent JSON lines of
 * --metrics and the results table. Shared by `cldqn train --population` and
 * `cldqn-mpi train`, so the one-process and the MPI run print the same rows
 * and write the same lines (tests/cli/mpi.sh compares them). */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

#include "cldqn/config.h"
#include "cldqn/population.h"

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

#define MAX_EXTRA 16

/* Sweepable settings besides seed, lr and gamma whose text differs between
 * the agents: a column each, so every swept value shows in the table. */
static int extra_keys(int n, cldqn_cli_pop_get get, const void *ctx, const char **out)
{
    const char *const *keys = cldqn_config_sweep_keys();
    int m = 0;
    for (int k = 0; keys[k] && m < MAX_EXTRA; k++) {
        if (!strcmp(keys[k], "seed") || !strcmp(keys[k], "lr") || !strcmp(keys[k], "gamma"))
            continue;
        char v0[64], v[64];
        if (n < 1 || cldqn_config_value(get(ctx, 0).cfg, keys[k], v0, sizeof v0)) continue;
        for (int i = 1; i < n; i++)
            if (!cldqn_config_value(get(ctx, i).cfg, keys[k], v, sizeof v) && strcmp(v, v0)) {
                out[m++] = keys[k];
                break;
            }
    }
    return m;
}

static void table_header(FILE *f, const char *const *extra, int n_extra)
{
    fprintf(f, "%5s %8s %9s %7s %9s %8s %9s %12s %12s %8s", "agent", "seed", "lr", "gamma", "steps",
            "episodes", "updates", "optimum@", "final return", "gap");
    for (int j = 0; j < n_extra; j++) fprintf(f, " %15s", extra[j]);
    fputc('\n', f);
}

static void table_row(FILE *f, int agent, const cldqn_config *c, const cldqn_train_stats *s,
                      const char *const *extra, int n_extra)
{
    char opt[32] = "-";
    if (s->optimal_steps) snprintf(opt, sizeof opt, "%" PRId64, s->optimal_steps);
    fprintf(f, "%5d %8" PRIu64 " %9.3g %7.4g %9" PRId64 " %8" PRId64 " %9" PRId64 " %12s", agent,
            c->seed, (double)c->learn.lr, (double)c->learn.gamma, s->steps, s->episodes, s->updates,
            opt);
    if (s->have_eval)
        fprintf(f, " %12.3f %8.3f", s->eval.mean_return, s->optimal_return - s->eval.mean_return);
    else
        fprintf(f, " %12s %8s", "-", "-");
    for (int j = 0; j < n_extra; j++) {
        char v[64];
        cldqn_config_value(c, extra[j], v, sizeof v);
        fprintf(f, " %15s", v);
    }
    fputc('\n', f);
}

void cldqn_cli_pop_checkpoints(FILE *f, const char *out, int n)
{
    char first[CLDQN_CONFIG_PATH_MAX + 32];
    cldqn_population_agent_path(out, 0, first, sizeof first);
    fprintf(f, "checkpoints: %s .. agent%d\n", first, n - 1);
}

void cldqn_cli_pop_table(FILE *f, int n, cldqn_cli_pop_get get, const void *ctx)
{
    const char *extra[MAX_EXTRA];
    const int m = extra_keys(n, get, ctx, extra);
    table_header(f, extra, m);
    for (int i = 0; i < n; i++) {
        const cldqn_cli_pop_agent a = get(ctx, i);
        table_row(f, i, a.cfg, a.stats, extra, m);
    }
}
