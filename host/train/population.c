/* population.c - K agents (population.h): a thin layer over the training
 * loop of trainer.c (loop.h), which steps, updates, syncs, evaluates and
 * saves every agent; this file checks that the agents can share it and
 * names their checkpoints. */
#define _GNU_SOURCE
#include "cldqn/population.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loop.h"
#include "sweep.h"

struct cldqn_population {
    cldqn_trainer *t;
};

/* Agents may differ in the sweepable settings only (one program, one
 * device, one schedule of limits and saves). */
static cldqn_status check_compatible(const cldqn_config *cfgs, int k)
{
    static char a[8192], b[8192];
    cldqn_config x = cfgs[0];
    cldqn_config_to_json(&x, a, sizeof a);
    for (int i = 1; i < k; i++) {
        cldqn_config y = cldqn_sweep_strip(&cfgs[i], &x);
        cldqn_config_to_json(&y, b, sizeof b);
        if (strcmp(a, b) || strcmp(y.device, x.device) || y.backend != x.backend)
            return cldqn_fail(CLDQN_ERR_ARG,
                              "population: agent %d differs from agent 0 in more than "
                              "the settings a sweep may vary (%s)",
                              i, cldqn_sweep_keys_text());
    }
    return CLDQN_OK;
}

static cldqn_status create(const cldqn_config *cfgs, int k, const char *const *paths,
                           cldqn_population **out)
{
    if (!out) return cldqn_fail(CLDQN_ERR_ARG, "population_create: NULL output pointer");
    *out = NULL;
    if (!cfgs || k < 1) return cldqn_fail(CLDQN_ERR_ARG, "population_create: no agents");
    for (int i = 0; i < k; i++) {
        cldqn_status st = cldqn_config_check(&cfgs[i]);
        if (st) return st;
    }
    cldqn_status st = check_compatible(cfgs, k);
    if (st) return st;
    cldqn_population *p = calloc(1, sizeof *p);
    if (!p) return cldqn_fail(CLDQN_ERR_NOMEM, "population: out of memory");
    st = cldqn_loop_create(cfgs, k, paths, &p->t);
    if (st) {
        free(p);
        return st;
    }
    *out = p;
    return CLDQN_OK;
}

cldqn_status cldqn_population_create(const cldqn_config *cfgs, int k, cldqn_population **out)
{
    return create(cfgs, k, NULL, out);
}

cldqn_status cldqn_population_resume(const cldqn_config *cfgs, int k, const char *const *paths,
                                     cldqn_population **out)
{
    if (!paths) return cldqn_fail(CLDQN_ERR_ARG, "population_resume: no checkpoint paths");
    return create(cfgs, k, paths, out);
}

void cldqn_population_free(cldqn_population *p)
{
    if (!p) return;
    cldqn_trainer_free(p->t);
    free(p);
}

cldqn_status cldqn_population_run(cldqn_population *p, const cldqn_train_hooks *hooks)
{
    return cldqn_trainer_run(p->t, hooks);
}

cldqn_status cldqn_population_evaluate(cldqn_population *p, int i)
{
    return cldqn_loop_evaluate(p->t, i);
}

cldqn_status cldqn_population_read_params(cldqn_population *p, int i, float *out)
{
    if (!p) return cldqn_fail(CLDQN_ERR_ARG, "population_read_params: bad argument");
    return cldqn_loop_read_params(p->t, i, out);
}

cldqn_status cldqn_population_save(cldqn_population *p, int i, const char *path)
{
    if (!p) return cldqn_fail(CLDQN_ERR_ARG, "population_save: bad argument");
    return cldqn_loop_save(p->t, i, path);
}

void cldqn_population_agent_path(const char *path, int i, char *buf, size_t size)
{
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    const char *dot = strrchr(base, '.');
    if (!dot || dot == base) dot = path + strlen(path);
    snprintf(buf, size, "%.*s.agent%d%s", (int)(dot - path), path, i, dot);
}

void cldqn_population_set_first(cldqn_population *p, int first)
{
    cldqn_loop_set_first(p->t, first);
}

cldqn_trainer *cldqn_population_trainer(cldqn_population *p)
{
    return p->t;
}

int cldqn_population_size(const cldqn_population *p)
{
    return cldqn_loop_agents(p->t);
}
const cldqn_train_stats *cldqn_population_stats(const cldqn_population *p, int i)
{
    return cldqn_loop_stats(p->t, i);
}
const cldqn_config *cldqn_population_config(const cldqn_population *p, int i)
{
    return cldqn_loop_config(p->t, i);
}
const cldqn_layout *cldqn_population_layout(const cldqn_population *p)
{
    return cldqn_loop_layout(p->t);
}
const char *cldqn_population_device_name(const cldqn_population *p)
{
    return cldqn_loop_device_name(p->t);
}
double cldqn_population_elapsed(const cldqn_population *p)
{
    return cldqn_loop_elapsed(p->t);
}
int64_t cldqn_population_launches(const cldqn_population *p)
{
    return cldqn_loop_launches(p->t);
}
