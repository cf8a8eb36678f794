/* test_population.c - population training against solo training.
 *
 * The reference for every agent is cldqn_trainer run alone with that agent's
 * configuration on the fused OpenCL path (itself tested bit-identical to
 * ref_update in test_fused/test_qnet and to a plain re-implementation of the
 * loop in test_trainer). A population of K agents must end with each agent's
 * online weights, target weights and Adam moments equal BIT FOR BIT to its
 * solo run, and with the same counters: no tolerance, since every agent's
 * arithmetic is the same sequence of float operations in both. Covered: the
 * default loop (mean update, target every N steps) with a sweep over lr and
 * gamma, the seed's loop (per-sample updates, target sync on termination,
 * agents skipping launches), until-optimal bookkeeping, configuration
 * parsing, checkpoint names and refused configurations. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cldqn/checkpoint.h"
#include "cldqn/config.h"
#include "cldqn/population.h"
#include "cldqn/trainer.h"
#include "harness.h"

static char dir[64];

static int setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/cldqn-test-pop-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Short runs where the greedy policy acts most of the time (epsilon decays
 * over 1500 steps) so the actions taken depend on the learned weights. */
static void small_default(cldqn_config *c)
{
    cldqn_config_preset(c, "default");
    c->seed = 7;
    c->steps = 3000;
    c->learning_starts = 200;
    c->batch = 32;
    c->target_every = 100;
    c->eps_decay_steps = 1500;
    c->eval_every = 1000;
    c->backend = CLDQN_BACKEND_OPENCL;
    c->path = CLDQN_PATH_FUSED;
    c->quiet = 1;
}

/* Runs cfgs as a population and each alone; compares everything. */
static void compare_with_solo(const cldqn_config *cfgs, int k)
{
    cldqn_population *p = NULL;
    CU_ASSERT_EQUAL_FATAL(cldqn_population_create(cfgs, k, &p), CLDQN_OK);
    CU_ASSERT_EQUAL_FATAL(cldqn_population_run(p, NULL), CLDQN_OK);
    const cldqn_layout *lay = cldqn_population_layout(p);
    size_t n = lay->total;
    float *a = malloc(n * sizeof(float)), *b = malloc(n * sizeof(float));
    CU_ASSERT_FATAL(a && b);
    for (int i = 0; i < k; i++) {
        cldqn_trainer *t = NULL;
        CU_ASSERT_EQUAL_FATAL(cldqn_trainer_create(&cfgs[i], &t), CLDQN_OK);
        CU_ASSERT_EQUAL_FATAL(cldqn_trainer_run(t, NULL), CLDQN_OK);
        CU_ASSERT_STRING_EQUAL(cldqn_qnet_path_name(cldqn_trainer_qnet(t)), "fused");
        const cldqn_train_stats *ss = cldqn_trainer_stats(t), *ps = cldqn_population_stats(p, i);
        CU_ASSERT_EQUAL(ps->steps, ss->steps);
        CU_ASSERT_EQUAL(ps->episodes, ss->episodes);
        CU_ASSERT_EQUAL(ps->updates, ss->updates);
        CU_ASSERT_EQUAL(ps->target_syncs, ss->target_syncs);
        CU_ASSERT_EQUAL(ps->last_return, ss->last_return);

        CU_ASSERT(memcmp(&ps->last_loss, &ss->last_loss, sizeof(float)) == 0);
        CU_ASSERT_EQUAL(ps->have_eval, ss->have_eval);
        if (ps->have_eval) CU_ASSERT_EQUAL(ps->eval.mean_return, ss->eval.mean_return);
        CU_ASSERT(ss->updates > 0);
        CU_ASSERT_EQUAL_FATAL(cldqn_population_read_params(p, i, a), CLDQN_OK);
        CU_ASSERT_EQUAL_FATAL(cldqn_qnet_read(cldqn_trainer_qnet(t), CLDQN_BUF_PARAMS, b),
                              CLDQN_OK);
        size_t diff = 0;
        for (size_t j = 0; j < n; j++) diff += memcmp(&a[j], &b[j], sizeof(float)) != 0;
        if (diff) fprintf(stderr, "\nagent %d: %zu of %zu weights differ\n", i, diff, n);
        CU_ASSERT_EQUAL(diff, 0);
        cldqn_trainer_free(t);
    }
    /* Agents with different settings must really have learned differently. */
    if (k > 1) {
        CU_ASSERT_EQUAL(cldqn_population_read_params(p, 0, a), CLDQN_OK);
        CU_ASSERT_EQUAL(cldqn_population_read_params(p, 1, b), CLDQN_OK);
        CU_ASSERT(memcmp(a, b, n * sizeof(float)) != 0);
    }
    free(a);
    free(b);
    cldqn_population_free(p);
}

static void test_default_sweep_bit_identical(void)
{
    cldqn_config base, *cfgs = NULL;
    small_default(&base);
    const char *sweep[] = {"lr=1e-3,3e-3", "gamma=0.9,0.99"};
    int k = 0;
    CU_ASSERT_EQUAL_FATAL(cldqn_population_configs(&base, 3, sweep, 2, &cfgs, &k), CLDQN_OK);
    CU_ASSERT_EQUAL_FATAL(k, 3);
    /* Earlier items vary slowest; seeds count up from the base seed. */
    CU_ASSERT_EQUAL(cfgs[0].seed, 7);
    CU_ASSERT_EQUAL(cfgs[2].seed, 9);
    CU_ASSERT_EQUAL(cfgs[0].learn.lr, 1e-3f);
    CU_ASSERT_EQUAL(cfgs[0].learn.gamma, 0.9f);
    CU_ASSERT_EQUAL(cfgs[1].learn.lr, 1e-3f);
    CU_ASSERT_EQUAL(cfgs[1].learn.gamma, 0.99f);
    CU_ASSERT_EQUAL(cfgs[2].learn.lr, 3e-3f);
    CU_ASSERT_EQUAL(cfgs[2].learn.gamma, 0.9f);
    compare_with_solo(cfgs, k);
    free(cfgs);
}

/* The seed's loop: per-sample updates, target sync and no update when an
 * episode terminates, so agents leave the launch on different steps. */
static void test_seed_mode_bit_identical(void)
{
    cldqn_config base, *cfgs = NULL;
    cldqn_config_preset(&base, "seed");
    base.seed = 3;
    base.steps = 600;
    base.batch = 8;
    base.backend = CLDQN_BACKEND_OPENCL;
    base.path = CLDQN_PATH_FUSED;
    base.eps_start = base.eps_end = 0.3f; /* a few terminations in 600 steps */
    int k = 0;
    CU_ASSERT_EQUAL_FATAL(cldqn_population_configs(&base, 3, NULL, 0, &cfgs, &k), CLDQN_OK);
    compare_with_solo(cfgs, k);
    free(cfgs);
}

/* until-optimal: an agent that reaches the optimum stops stepping; the
 * others go on. Checked on the evaluation bookkeeping alone: steps stop at
 * the evaluation that found the optimum. */
static void test_until_optimal_stops_agent(void)
{
    cldqn_config base, *cfgs = NULL;
    small_default(&base);
    base.steps = 4000;
    base.until_optimal = 1;
    base.eval_every = 500;
    int k = 0;
    CU_ASSERT_EQUAL_FATAL(cldqn_population_configs(&base, 2, NULL, 0, &cfgs, &k), CLDQN_OK);
    cldqn_population *p = NULL;
    CU_ASSERT_EQUAL_FATAL(cldqn_population_create(cfgs, k, &p), CLDQN_OK);
    CU_ASSERT_EQUAL_FATAL(cldqn_population_run(p, NULL), CLDQN_OK);
    for (int i = 0; i < k; i++) {
        const cldqn_train_stats *s = cldqn_population_stats(p, i);
        CU_ASSERT(s->have_eval);
        if (s->reached_optimal) {
            CU_ASSERT_EQUAL(s->steps, s->optimal_steps);
        } else {
            CU_ASSERT_EQUAL(s->steps, 4000);
        }
        CU_ASSERT_EQUAL(s->steps % 500, 0);
    }
    cldqn_population_free(p);
    free(cfgs);
}

static void test_configs_and_refusals(void)
{
    cldqn_config base, *cfgs = NULL;
    small_default(&base);
    int k = 0;
    const char *sweep[] = {"gamma=0.9,0.95,0.99"};
    CU_ASSERT_EQUAL(cldqn_population_configs(&base, 0, sweep, 1, &cfgs, &k), CLDQN_OK);
    CU_ASSERT_EQUAL(k, 3); /* k = 0: one agent per combination */
    CU_ASSERT_EQUAL(cfgs[2].learn.gamma, 0.99f);
    free(cfgs);
    const char *bad_key[] = {"batch=16,32"};
    CU_ASSERT_EQUAL(cldqn_population_configs(&base, 2, bad_key, 1, &cfgs, &k), CLDQN_ERR_ARG);
    const char *bad_val[] = {"gamma=0.9,abc"};
    CU_ASSERT_EQUAL(cldqn_population_configs(&base, 2, bad_val, 1, &cfgs, &k), CLDQN_ERR_ARG);
    const char *bad_form[] = {"lr"};
    CU_ASSERT_EQUAL(cldqn_population_configs(&base, 2, bad_form, 1, &cfgs, &k), CLDQN_ERR_ARG);
    /* Agents that differ in a setting the launch shares are refused. */
    cldqn_config two[2] = {base, base};
    two[1].batch = 16;
    cldqn_population *p = NULL;
    CU_ASSERT_EQUAL(cldqn_population_create(two, 2, &p), CLDQN_ERR_ARG);
    CU_ASSERT_PTR_NULL(p);
    two[1] = base;
    two[0].backend = two[1].backend = CLDQN_BACKEND_REF;
    CU_ASSERT_EQUAL(cldqn_population_create(two, 2, &p), CLDQN_ERR_ARG);

    char buf[256];
    cldqn_population_agent_path("run.safetensors", 2, buf, sizeof buf);
    CU_ASSERT_STRING_EQUAL(buf, "run.agent2.safetensors");
    cldqn_population_agent_path("a.b/run", 0, buf, sizeof buf);
    CU_ASSERT_STRING_EQUAL(buf, "a.b/run.agent0");
    cldqn_population_agent_path("x/.hidden", 1, buf, sizeof buf);
    CU_ASSERT_STRING_EQUAL(buf, "x/.hidden.agent1");
}

/* A saved agent loads back with its own settings and weights. */
static void test_save_per_agent(void)
{
    cldqn_config base, *cfgs = NULL;
    small_default(&base);
    base.steps = 400;
    const char *sweep[] = {"lr=1e-3,2e-3"};
    int k = 0;
    CU_ASSERT_EQUAL_FATAL(cldqn_population_configs(&base, 2, sweep, 1, &cfgs, &k), CLDQN_OK);
    cldqn_population *p = NULL;
    CU_ASSERT_EQUAL_FATAL(cldqn_population_create(cfgs, k, &p), CLDQN_OK);
    CU_ASSERT_EQUAL_FATAL(cldqn_population_run(p, NULL), CLDQN_OK);
    size_t n = cldqn_population_layout(p)->total;
    float *a = malloc(n * sizeof(float));
    for (int i = 0; i < k; i++) {
        char path[128], ap[160];
        snprintf(path, sizeof path, "%s/pop.safetensors", dir);
        cldqn_population_agent_path(path, i, ap, sizeof ap);
        CU_ASSERT_EQUAL_FATAL(cldqn_population_save(p, i, ap), CLDQN_OK);
        cldqn_config got;
        cldqn_layout lay;
        float *w = NULL;
        CU_ASSERT_EQUAL_FATAL(cldqn_checkpoint_load(ap, &got, &lay, &w), CLDQN_OK);
        CU_ASSERT_EQUAL(got.seed, cfgs[i].seed);
        CU_ASSERT_EQUAL(got.learn.lr, cfgs[i].learn.lr);
        CU_ASSERT_EQUAL(cldqn_population_read_params(p, i, a), CLDQN_OK);
        CU_ASSERT(memcmp(a, w, n * sizeof(float)) == 0);
        free(w);
    }
    free(a);
    cldqn_population_free(p);
    free(cfgs);
}

int register_suites(void)
{
    static const harness_test tests[] = {
        {"default loop, lr x gamma sweep, K=3: bit-identical to solo",
         test_default_sweep_bit_identical},
        {"seed loop (per-sample, sync on termination), K=3: bit-identical",
         test_seed_mode_bit_identical},
        {"until-optimal stops an agent at its evaluation", test_until_optimal_stops_agent},
        {"sweep parsing, agent paths, refused configurations", test_configs_and_refusals},
        {"one checkpoint per agent with its settings", test_save_per_agent},
        {NULL, NULL}};
    return harness_add_suite("population", setup, teardown, tests);
}
