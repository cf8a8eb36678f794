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
 * agents skipping launches), sweeps of every sweepable key, the same loop
 * on the reference backend, on the layered kernels, with three envs per
 * agent and under profiling, until-optimal bookkeeping, configuration
 * parsing, checkpoint names and refused configurations.
 *
 * Resume: a population interrupted and resumed, one resumed from its
 * save-every checkpoints, and one agent resumed alone by cldqn_trainer must
 * end with state files equal to the uninterrupted population's in every
 * tensor (weights, target, Adam moments, replay, RNG streams, returns) and
 * every counter: again bit for bit. The same comparison between a state
 * written by cldqn_trainer_save and one by cldqn_population_save shows that
 * the two writers produce one format. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cldqn/checkpoint.h"
#include "cldqn/config.h"
#include "cldqn/replay.h"
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

/* Runs cfgs as a population and each alone (on the update path named
 * path); compares everything. */
static void compare_on_path(const cldqn_config *cfgs, int k, const char *path)
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
        CU_ASSERT_STRING_EQUAL(cldqn_qnet_path_name(cldqn_trainer_qnet(t)), path);
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

static void compare_with_solo(const cldqn_config *cfgs, int k)
{
    compare_on_path(cfgs, k, "fused");
}

/* The same loop on the other backends, with vectorised envs and under
 * profiling: each agent still equals its solo run with the same settings. */
static void test_backends_envs_profile(void)
{
    cldqn_config base, *cfgs = NULL;
    small_default(&base);
    base.steps = 1200;
    const char *sweep[] = {"lr=1e-3,3e-3", "gamma=0.9,0.99"};
    int k = 0;
    CU_ASSERT_EQUAL_FATAL(cldqn_population_configs(&base, 3, sweep, 2, &cfgs, &k), CLDQN_OK);
    for (int i = 0; i < k; i++) cfgs[i].backend = CLDQN_BACKEND_REF;
    compare_on_path(cfgs, k, "reference");
    for (int i = 0; i < k; i++) {
        cfgs[i].backend = CLDQN_BACKEND_OPENCL;
        cfgs[i].path = CLDQN_PATH_LAYERED;
    }
    compare_on_path(cfgs, k, "layered");
    for (int i = 0; i < k; i++) {
        cfgs[i].path = CLDQN_PATH_FUSED;
        cfgs[i].envs = 3;
        cfgs[i].train_every = 2;
    }
    compare_on_path(cfgs, k, "fused");
    for (int i = 0; i < k; i++) snprintf(cfgs[i].profile, sizeof cfgs[i].profile, "t.json");
    compare_on_path(cfgs, k, "fused");
    free(cfgs);
}

/* Polyak syncs (a launch of polyak_pop for the averaging agents among the
 * syncing ones, copies for the rest), grad-steps and learning-rate
 * schedules, on the population kernels and on every single-network path. */
static void test_sweep_schedule_keys(void)
{
    static const char *const set[4][8] = {
        {"tau", "0.2", "target-every", "20", NULL},
        {"grad-steps", "2", "lr-schedule", "linear", "lr-decay-steps", "800", "lr-end", "1e-4"},
        {"lr-schedule", "cosine", "lr-decay-steps", "600", "tau", "0.5", "target-every", "10"},
        {NULL},
    };
    cldqn_config cfgs[4];
    for (int i = 0; i < 4; i++) {
        small_default(&cfgs[i]);
        cfgs[i].steps = 1000;
        cfgs[i].seed = 21 + (uint64_t)i;
        for (int j = 0; j < 8 && set[i][j]; j += 2)
            CU_ASSERT_EQUAL_FATAL(cldqn_config_set(&cfgs[i], set[i][j], set[i][j + 1], NULL),
                                  CLDQN_OK);
    }
    compare_on_path(cfgs, 4, "fused");
    for (int i = 0; i < 4; i++) cfgs[i].backend = CLDQN_BACKEND_REF;
    compare_on_path(cfgs, 4, "reference");
    for (int i = 0; i < 4; i++) {
        cfgs[i].backend = CLDQN_BACKEND_OPENCL;
        cfgs[i].path = CLDQN_PATH_LAYERED;
    }
    compare_on_path(cfgs, 4, "layered");
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

/* Every sweepable key that the first test does not vary, on agents
 * compared bit for bit with their solo runs. train-every and
 * learning-starts make agents learn on different steps: the launch takes a
 * different subset of agents from step to step. */
static void test_sweep_more_keys(void)
{
    static const char *const set[4][8] = {
        {NULL},
        {"eps-start", "0.6", "eps-end", "0.2", "eps-decay-steps", "800", NULL},
        {"target-every", "70", "train-every", "3", "learning-starts", "100", NULL},
        {"train-every", "1", "learning-starts", "300", "eval-every", "400", "seed", "11"},
    };
    cldqn_config cfgs[4];
    for (int i = 0; i < 4; i++) {
        small_default(&cfgs[i]);
        cfgs[i].steps = 1000;
        for (int j = 0; j < 8 && set[i][j]; j += 2)
            CU_ASSERT_EQUAL_FATAL(cldqn_config_set(&cfgs[i], set[i][j], set[i][j + 1], NULL),
                                  CLDQN_OK);
    }
    compare_with_solo(cfgs, 4);
    /* The same through the sweep parser, for all keys it accepts. */
    const char *sweep[] = {"eps-start=1,0.6",
                           "eps-end=0.05,0.2",
                           "eps-decay-steps=800",
                           "target-every=100,70",
                           "train-every=1,3",
                           "learning-starts=100",
                           "eval-every=400,500",
                           "seed=3,4",
                           "lr=1e-3",
                           "gamma=0.9"};
    cldqn_config *c = NULL;
    int k = 0;
    CU_ASSERT_EQUAL_FATAL(cldqn_population_configs(&cfgs[0], 0, sweep, 10, &c, &k), CLDQN_OK);
    CU_ASSERT_EQUAL(k, 64);
    CU_ASSERT_EQUAL(c[63].eps_start, 0.6f);
    CU_ASSERT_EQUAL(c[63].eps_end, 0.2f);
    CU_ASSERT_EQUAL(c[63].eps_decay_steps, 800);
    CU_ASSERT_EQUAL(c[63].target_every, 70);
    CU_ASSERT_EQUAL(c[63].train_every, 3);
    CU_ASSERT_EQUAL(c[63].learning_starts, 100);
    CU_ASSERT_EQUAL(c[63].eval_every, 500);
    CU_ASSERT_EQUAL(c[63].seed, 4);
    CU_ASSERT_EQUAL(c[0].eps_start, 1.0f);
    CU_ASSERT_EQUAL(c[0].target_every, 100);
    CU_ASSERT_EQUAL(c[0].seed, 3);
    free(c);
}

/* The Adam and loss settings travel in each agent's packed input: agents
 * differing in beta1, beta2, adam-eps, huber-delta and clip (Huber loss,
 * clipping on) equal their solo runs bit for bit; clip on for some agents
 * and off for others is refused (the program clips or not). */
static void test_sweep_adam_loss_keys(void)
{
    static const char *const set[4][6] = {
        {NULL},
        {"beta1", "0.8", "adam-eps", "1e-5", NULL},
        {"beta2", "0.99", "huber-delta", "0.5", NULL},
        {"clip", "2", "huber-delta", "3", "beta1", "0.95"},
    };
    cldqn_config cfgs[4];
    for (int i = 0; i < 4; i++) {
        small_default(&cfgs[i]);
        cfgs[i].steps = 1000;
        cfgs[i].learn.loss = CLDQN_LOSS_HUBER;
        cfgs[i].learn.max_grad_norm = 10.0f;
        for (int j = 0; j < 6 && set[i][j]; j += 2)
            CU_ASSERT_EQUAL_FATAL(cldqn_config_set(&cfgs[i], set[i][j], set[i][j + 1], NULL),
                                  CLDQN_OK);
    }
    compare_with_solo(cfgs, 4);
    cfgs[1].learn.max_grad_norm = 0.0f;
    cldqn_population *p = NULL;
    CU_ASSERT_EQUAL(cldqn_population_create(cfgs, 2, &p), CLDQN_ERR_ARG);
    CU_ASSERT_PTR_NULL(p);
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
    CU_ASSERT_PTR_NOT_NULL(strstr(cldqn_last_error(), "'batch' cannot differ"));
    CU_ASSERT_PTR_NOT_NULL(strstr(cldqn_last_error(),
                                  "(only seed, lr, gamma, beta1, beta2, adam-eps, huber-delta, "
                                  "clip, learning-starts, train-every, grad-steps, target-every, "
                                  "tau, lr-schedule, lr-end, lr-decay-steps, eps-start, eps-end, "
                                  "eps-decay-steps, eval-every)"));
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
    two[1].backend = CLDQN_BACKEND_REF;
    CU_ASSERT_EQUAL(cldqn_population_create(two, 2, &p), CLDQN_ERR_ARG);
    CU_ASSERT_PTR_NULL(p);

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

/* ---- resume ------------------------------------------------------------- */

static void path_in(char *buf, size_t size, const char *name)
{
    snprintf(buf, size, "%s/%s", dir, name);
}

/* Saves every agent of p to dir/NAME.agentI.safetensors. */
static void save_all(cldqn_population *p, const char *name)
{
    char base[128], ap[160];
    snprintf(base, sizeof base, "%s/%s.safetensors", dir, name);
    for (int i = 0; i < cldqn_population_size(p); i++) {
        cldqn_population_agent_path(base, i, ap, sizeof ap);
        CU_ASSERT_EQUAL_FATAL(cldqn_population_save(p, i, ap), CLDQN_OK);
    }
}

/* The JSON header of a safetensors file (malloc'd, NUL-terminated). */
static char *read_header(const char *path)
{
    FILE *f = fopen(path, "rb");
    unsigned char n8[8];
    char *h = NULL;
    if (f && fread(n8, 1, 8, f) == 8) {
        uint64_t n = 0;
        for (int i = 7; i >= 0; i--) n = n << 8 | n8[i];
        if (n < (1u << 24) && (h = malloc(n + 1)) && fread(h, 1, n, f) == n) {
            h[n] = 0;
            while (n && h[n - 1] == ' ') h[--n] = 0; /* padding to 8 bytes */
        } else {
            free(h);
            h = NULL;
        }
    }
    if (f) fclose(f);
    return h;
}

/* Removes the value of metadata key from a header ("key":"v" -> "key":""). */
static void blank_value(char *h, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":\"", key);
    char *p = strstr(h, pat);
    if (!p) return;
    p += strlen(pat);
    char *q = strchr(p, '"');
    if (q) memmove(p, q, strlen(q) + 1);
}

/* Two state files hold the same training state: every tensor byte for
 * byte, every metadata key but the wall-clock time and the history-
 * dependent crash-recovery hash. */
static void assert_same_state(const char *a, const char *b)
{
    char sa[200], sb[200];
    snprintf(sa, sizeof sa, "%s.state", a);
    snprintf(sb, sizeof sb, "%s.state", b);
    cldqn_st_file *fa = NULL, *fb = NULL;
    CU_ASSERT_EQUAL_FATAL(cldqn_st_read(sa, &fa), CLDQN_OK);
    CU_ASSERT_EQUAL_FATAL(cldqn_st_read(sb, &fb), CLDQN_OK);
    static const char *const tensors[][2] = {
        {"params", "F32"}, {"target", "F32"}, {"adam_m", "F32"}, {"adam_v", "F32"},
        {"replay", "U8"},  {"rng", "U64"},    {"returns", "I32"}};
    for (size_t t = 0; t < sizeof tensors / sizeof tensors[0]; t++) {
        const void *da, *db;
        size_t na = 0, nb = 0;
        CU_ASSERT_EQUAL_FATAL(cldqn_st_get(fa, tensors[t][0], tensors[t][1], 0, NULL, &da, &na),
                              CLDQN_OK);
        CU_ASSERT_EQUAL_FATAL(cldqn_st_get(fb, tensors[t][0], tensors[t][1], 0, NULL, &db, &nb),
                              CLDQN_OK);
        int same = na == nb && memcmp(da, db, na) == 0;
        if (!same) fprintf(stderr, "\n%s vs %s: tensor %s differs\n", sa, sb, tensors[t][0]);
        CU_ASSERT(same);
    }
    static const char *const keys[] = {
        "format",          "version",       "params_hash", "data_hash",       "adam_step",
        "steps",           "episodes",      "updates",     "target_syncs",    "in_episode",
        "ep_return",       "ep_len",        "env_state",   "env_fickle_step", "env_steps",
        "env_last_action", "replay_pushed", "loss_sum",    "loss_count",      NULL};
    for (int i = 0; keys[i]; i++) {
        const char *va = cldqn_st_meta(fa, keys[i]), *vb = cldqn_st_meta(fb, keys[i]);
        CU_ASSERT_FATAL(va && vb);
        if (strcmp(va, vb)) fprintf(stderr, "\n%s: %s vs %s\n", keys[i], va, vb);
        CU_ASSERT_STRING_EQUAL(va, vb);
    }
    cldqn_st_free(fa);
    cldqn_st_free(fb);
    /* No key beyond those: the whole headers (tensor table and metadata)
     * are equal once the two excluded values are blanked. */
    char *ha = read_header(sa), *hb = read_header(sb);
    CU_ASSERT_FATAL(ha && hb);
    blank_value(ha, "elapsed");
    blank_value(hb, "elapsed");
    blank_value(ha, "prev_params_hash");
    blank_value(hb, "prev_params_hash");
    if (strcmp(ha, hb)) fprintf(stderr, "\nheaders differ:\n%s\n%s\n", ha, hb);
    CU_ASSERT_STRING_EQUAL(ha, hb);
    free(ha);
    free(hb);
}

static void agent_file(char *buf, size_t size, const char *name, int i)
{
    char base[128];
    snprintf(base, sizeof base, "%s/%s.safetensors", dir, name);
    cldqn_population_agent_path(base, i, buf, size);
}

/* Interrupt at step `cut`, resume, run on; also from the save-every files,
 * and agent `solo` alone by the trainer; all equal to the whole run. */
static void resume_case(const cldqn_config *cfgs0, int k, int64_t steps, int64_t cut,
                        int64_t save_every, int solo)
{
    cldqn_config *cfgs = malloc((size_t)k * sizeof *cfgs);
    CU_ASSERT_FATAL(cfgs != NULL);
    const char *paths[8];
    char pbuf[8][160];
    /* The whole run, with save-every checkpoints in dir/se.agentI. */
    for (int i = 0; i < k; i++) {
        cfgs[i] = cfgs0[i];
        cfgs[i].steps = steps;
        cfgs[i].save_every = save_every;
        path_in(cfgs[i].out, sizeof cfgs[i].out, "se.safetensors");
    }
    cldqn_population *p = NULL;
    CU_ASSERT_EQUAL_FATAL(cldqn_population_create(cfgs, k, &p), CLDQN_OK);
    CU_ASSERT_EQUAL_FATAL(cldqn_population_run(p, NULL), CLDQN_OK);
    save_all(p, "full");
    cldqn_population_free(p);
    /* Interrupted at `cut` (a step limit stops where SIGINT would). */
    for (int i = 0; i < k; i++) {
        cfgs[i].steps = cut;
        cfgs[i].save_every = 0;
    }
    CU_ASSERT_EQUAL_FATAL(cldqn_population_create(cfgs, k, &p), CLDQN_OK);
    CU_ASSERT_EQUAL_FATAL(cldqn_population_run(p, NULL), CLDQN_OK);
    CU_ASSERT_EQUAL(cldqn_population_stats(p, 0)->steps, cut);
    save_all(p, "cut");
    cldqn_population_free(p);
    /* The cut must land inside an episode for at least one agent. */
    int mid = 0;
    for (int i = 0; i < k; i++) {
        char a[160], sa[170];
        agent_file(a, sizeof a, "cut", i);
        snprintf(sa, sizeof sa, "%s.state", a);
        cldqn_st_file *f = NULL;
        CU_ASSERT_EQUAL_FATAL(cldqn_st_read(sa, &f), CLDQN_OK);
        mid +=
            !strcmp(cldqn_st_meta(f, "in_episode"), "1") && strcmp(cldqn_st_meta(f, "ep_len"), "0");
        cldqn_st_free(f);
    }
    CU_ASSERT(mid > 0);
    /* Resumed from the interruption and from the last save-every files. */
    for (int i = 0; i < k; i++) cfgs[i].steps = steps;
    const char *from[2] = {"cut", "se"}, *to[2] = {"resumed", "resumed-se"};
    for (int r = 0; r < 2; r++) {
        for (int i = 0; i < k; i++) {
            agent_file(pbuf[i], sizeof pbuf[i], from[r], i);
            paths[i] = pbuf[i];
        }
        CU_ASSERT_EQUAL_FATAL(cldqn_population_resume(cfgs, k, paths, &p), CLDQN_OK);
        const int64_t at = cldqn_population_stats(p, 0)->steps;
        CU_ASSERT_EQUAL(at, r == 0 ? cut : steps - steps % save_every);
        CU_ASSERT_EQUAL_FATAL(cldqn_population_run(p, NULL), CLDQN_OK);
        save_all(p, to[r]);
        cldqn_population_free(p);
        for (int i = 0; i < k; i++) {
            char a[160], b[160];
            agent_file(a, sizeof a, to[r], i);
            agent_file(b, sizeof b, "full", i);
            assert_same_state(a, b);
        }
    }
    /* Agent `solo` alone, by the trainer, from the population's file. */
    char a[160], b[160], s[160];
    agent_file(a, sizeof a, "cut", solo);
    agent_file(b, sizeof b, "full", solo);
    path_in(s, sizeof s, "solo.safetensors");
    cldqn_config c = cfgs[solo];
    c.out[0] = 0;
    cldqn_trainer *t = NULL;
    CU_ASSERT_EQUAL_FATAL(cldqn_trainer_resume(&c, a, &t), CLDQN_OK);
    CU_ASSERT_EQUAL_FATAL(cldqn_trainer_run(t, NULL), CLDQN_OK);
    CU_ASSERT_STRING_EQUAL(cldqn_qnet_path_name(cldqn_trainer_qnet(t)), "fused");
    CU_ASSERT_EQUAL_FATAL(cldqn_trainer_save(t, s), CLDQN_OK);
    cldqn_trainer_free(t);
    assert_same_state(s, b);
    /* And the other way: a population agent resumed from the trainer's
     * file (the solo run saved at `cut`). */
    c.steps = cut;
    CU_ASSERT_EQUAL_FATAL(cldqn_trainer_create(&c, &t), CLDQN_OK);
    CU_ASSERT_EQUAL_FATAL(cldqn_trainer_run(t, NULL), CLDQN_OK);
    CU_ASSERT_EQUAL_FATAL(cldqn_trainer_save(t, s), CLDQN_OK);
    cldqn_trainer_free(t);
    assert_same_state(s, a); /* the trainer's writer and the population's */
    for (int i = 0; i < k; i++) {
        agent_file(pbuf[i], sizeof pbuf[i], "cut", i);
        paths[i] = i == solo ? s : pbuf[i];
    }
    CU_ASSERT_EQUAL_FATAL(cldqn_population_resume(cfgs, k, paths, &p), CLDQN_OK);
    CU_ASSERT_EQUAL_FATAL(cldqn_population_run(p, NULL), CLDQN_OK);
    save_all(p, "mixed");
    cldqn_population_free(p);
    agent_file(a, sizeof a, "mixed", solo);
    assert_same_state(a, b);
    free(cfgs);
}

static void test_resume_default(void)
{
    cldqn_config base, *cfgs = NULL;
    small_default(&base);
    const char *sweep[] = {"lr=1e-3,3e-3"};
    int k = 0;
    CU_ASSERT_EQUAL_FATAL(cldqn_population_configs(&base, 2, sweep, 1, &cfgs, &k), CLDQN_OK);
    /* 1301: mid-episode, between target syncs, evaluations and saves. */
    resume_case(cfgs, k, 1600, 1301, 700, 1);
    free(cfgs);
}

static void test_resume_seed_mode(void)
{
    cldqn_config base, *cfgs = NULL;
    cldqn_config_preset(&base, "seed");
    base.seed = 3;
    base.batch = 8;
    base.episodes = 0;
    base.backend = CLDQN_BACKEND_OPENCL;
    base.path = CLDQN_PATH_FUSED;
    base.eps_start = base.eps_end = 0.3f;
    int k = 0;
    CU_ASSERT_EQUAL_FATAL(cldqn_population_configs(&base, 2, NULL, 0, &cfgs, &k), CLDQN_OK);
    resume_case(cfgs, k, 400, 157, 150, 0);
    free(cfgs);
}

/* until-optimal: an agent saved on an evaluation step is evaluated again
 * on resume (so one that had stopped at the optimum stays stopped:
 * tests/cli/population.sh runs that to the optimum); one saved between
 * evaluations is not. */
static void test_resume_evaluates_at_eval_steps(void)
{
    cldqn_config base, *cfgs = NULL;
    small_default(&base);
    base.steps = 500;
    base.until_optimal = 1;
    base.eval_every = 250;
    int k = 0;
    CU_ASSERT_EQUAL_FATAL(cldqn_population_configs(&base, 1, NULL, 0, &cfgs, &k), CLDQN_OK);
    const char *name[2] = {"ev500", "ev400"};
    for (int r = 0; r < 2; r++) {
        cfgs[0].steps = r == 0 ? 500 : 400;
        cldqn_population *p = NULL;
        CU_ASSERT_EQUAL_FATAL(cldqn_population_create(cfgs, k, &p), CLDQN_OK);
        CU_ASSERT_EQUAL_FATAL(cldqn_population_run(p, NULL), CLDQN_OK);
        const double ret = cldqn_population_stats(p, 0)->eval.mean_return;
        save_all(p, name[r]);
        cldqn_population_free(p);
        char a[160];
        const char *paths[1] = {a};
        agent_file(a, sizeof a, name[r], 0);
        CU_ASSERT_EQUAL_FATAL(cldqn_population_resume(cfgs, k, paths, &p), CLDQN_OK);
        const cldqn_train_stats *s = cldqn_population_stats(p, 0);
        CU_ASSERT_EQUAL(s->have_eval, r == 0);
        if (r == 0) CU_ASSERT_EQUAL(s->eval.mean_return, ret); /* the step-500 evaluation */
        cldqn_population_free(p);
    }
    free(cfgs);
}

/* A state that belongs to other weights, or none, is refused. */
static void test_resume_refusals(void)
{
    cldqn_config base, *cfgs = NULL;
    small_default(&base);
    base.steps = 300;
    int k = 0;
    CU_ASSERT_EQUAL_FATAL(cldqn_population_configs(&base, 2, NULL, 0, &cfgs, &k), CLDQN_OK);
    cldqn_population *p = NULL;
    CU_ASSERT_EQUAL_FATAL(cldqn_population_create(cfgs, k, &p), CLDQN_OK);
    CU_ASSERT_EQUAL_FATAL(cldqn_population_run(p, NULL), CLDQN_OK);
    save_all(p, "ref");
    cldqn_population_free(p);
    char a0[160], a1[160], cmd[512];
    agent_file(a0, sizeof a0, "ref", 0);
    agent_file(a1, sizeof a1, "ref", 1);
    /* agent 1's state beside agent 0's weights */
    snprintf(cmd, sizeof cmd, "cp '%s.state' '%s.state'", a1, a0);
    CU_ASSERT_EQUAL_FATAL(system(cmd), 0);
    const char *paths[2] = {a0, a1};
    CU_ASSERT_EQUAL(cldqn_population_resume(cfgs, k, paths, &p), CLDQN_ERR_FORMAT);
    CU_ASSERT_PTR_NULL(p);
    CU_ASSERT_PTR_NOT_NULL(strstr(cldqn_last_error(), "does not belong"));
    snprintf(cmd, sizeof cmd, "rm '%s.state'", a1);
    CU_ASSERT_EQUAL_FATAL(system(cmd), 0);
    paths[0] = a1;
    CU_ASSERT_NOT_EQUAL(cldqn_population_resume(cfgs, 1, paths, &p), CLDQN_OK);
    CU_ASSERT_PTR_NULL(p);
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
        {"reference, layered, 3 envs, profiling, K=3: bit-identical to solo",
         test_backends_envs_profile},
        {"sweep parsing, agent paths, refused configurations", test_configs_and_refusals},
        {"one checkpoint per agent with its settings", test_save_per_agent},
        {"agents differing in every other sweepable key, K=4: bit-identical to solo",
         test_sweep_more_keys},
        {"agents differing in Adam betas, eps, Huber delta, clip, K=4: bit-identical",
         test_sweep_adam_loss_keys},
        {"agents differing in tau, grad-steps, learning-rate schedule, K=4, three paths: "
         "bit-identical to solo",
         test_sweep_schedule_keys},
        {"resume (default loop, K=2): interrupted, save-every, solo agent, mixed files",
         test_resume_default},
        {"resume (seed loop, K=2): the same four ways", test_resume_seed_mode},
        {"resume evaluates an until-optimal agent saved on an evaluation step",
         test_resume_evaluates_at_eval_steps},
        {"resume refuses a state of other weights or a missing state", test_resume_refusals},
        {NULL, NULL}};
    return harness_add_suite("population", setup, teardown, tests);
}
