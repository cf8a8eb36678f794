/* pop_report.c - the JSON lines of --metrics (a solo run's and each agent's
 * of a population, written with cJSON) and a population's results table. Shared by `cldqn train
 * --population` and `cldqn-mpi train`, so the one-process and the MPI run print the same rows and
 * write the same lines (tests/cli/mpi.sh compares them). */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#include "cldqn/config.h"
#include "cldqn/json.h"
#include "cldqn/population.h"

/* Writes obj as one line and frees it; -1 when out of memory. */
static int put_line(FILE *f, cJSON *obj, int ok)
{
    char *text = ok ? cldqn_json_print(obj) : NULL;
    cJSON_Delete(obj);
    if (!text) return -1;
    fputs(text, f);
    fputc('\n', f);
    free(text);
    return 0;
}

int cldqn_cli_episode_json(FILE *f, int agent, const cldqn_train_stats *s, int terminated)
{
    cJSON *o = cJSON_CreateObject();
    int ok = o && cJSON_AddStringToObject(o, "type", "episode");
    if (agent >= 0) ok = ok && cldqn_json_add_int(o, "agent", agent);
    ok = ok && cldqn_json_add_int(o, "episode", s->episodes) &&
         cldqn_json_add_int(o, "steps", s->steps) && cldqn_json_add_int(o, "updates", s->updates) &&
         cldqn_json_add_int(o, "return", s->last_return) &&
         cldqn_json_add_int(o, "length", s->last_length) &&
         cJSON_AddBoolToObject(o, "terminated", terminated) &&
         cldqn_json_add_number(o, "epsilon", "%.9g", s->epsilon) &&
         cldqn_json_add_number(o, "loss", "%.9g", s->episode_loss) &&
         cldqn_json_add_number(o, "mean_return_100", "%.9g", s->mean_return) &&
         cldqn_json_add_number(o, "time", "%.9g", s->elapsed);
    return put_line(f, o, ok);
}

int cldqn_cli_eval_json(FILE *f, int agent, const cldqn_train_stats *s)
{
    cJSON *o = cJSON_CreateObject();
    int ok = o && cJSON_AddStringToObject(o, "type", "eval");
    if (agent >= 0) ok = ok && cldqn_json_add_int(o, "agent", agent);
    ok = ok && cldqn_json_add_int(o, "steps", s->steps) &&
         cldqn_json_add_int(o, "episodes", s->episodes) &&
         cldqn_json_add_int(o, "updates", s->updates) &&
         cldqn_json_add_number(o, "mean_return", "%.9g", s->eval.mean_return) &&
         cldqn_json_add_number(o, "optimal_return", "%.9g", s->optimal_return) &&
         cldqn_json_add_number(o, "success_rate", "%.9g", s->eval.success_rate);
    /* A solo run's line has always had mean_steps, a population's not. */
    if (agent < 0) ok = ok && cldqn_json_add_number(o, "mean_steps", "%.9g", s->eval.mean_steps);
    ok = ok && cJSON_AddBoolToObject(o, "optimal", s->reached_optimal) &&
         cldqn_json_add_number(o, "time", "%.9g", s->elapsed);
    return put_line(f, o, ok);
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
