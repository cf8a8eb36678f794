/* test_envs.c - vectorised environments (cfg.envs = N > 1) in the trainer.
 *
 * The reference below is a plain re-implementation of the vectorised loop
 * as trainer.h describes it, written on the primitives (taxi, replay, rng,
 * ref_update) directly: N envs on their own streams, epsilon-greedy per env
 * in env order from the one exploration stream, N pushes in env order, one
 * update per multiple of train_every crossed, a target sync when a multiple
 * of target_every is crossed, episode ends in env order. The trainer on the
 * REF backend must give the same weights, counters and episode sequence bit
 * for bit; on OpenCL (whose act kernel answers all N states in one launch)
 * the same again. Also: resume of an N-env run mid-episode, the counters
 * that fire on crossings (evaluation, save), and what is refused. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cldqn/checkpoint.h"
#include "cldqn/config.h"
#include "cldqn/ref.h"
#include "cldqn/replay.h"
#include "cldqn/rng.h"
#include "cldqn/taxi.h"
#include "cldqn/trainer.h"
#include "harness.h"

static char dir[64];

static int setup(void)
{
    cldqn_set_flush_denormals(); /* as the trainer: the reference must round the same way */
    snprintf(dir, sizeof dir, "/tmp/cldqn-test-envs-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

#define MAX_ENVS    8
#define MAX_EPISODE 4096

/* What the reference loop ends with; episode i's (env, return, length,
 * terminated) in the order the episodes finished. */
typedef struct {
    cldqn_layout lay;
    float *params, *target, *m, *v;
    int adam_t;
    int64_t updates, syncs, episodes;
    int ep_env[MAX_EPISODE], ep_ret[MAX_EPISODE], ep_len[MAX_EPISODE], ep_term[MAX_EPISODE];
} ref_run;

static void ref_free(ref_run *r)
{
    free(r->params);
    free(r->target);
    free(r->m);
    free(r->v);
}

static float ref_epsilon(const cldqn_config *c, int64_t step)
{
    if (c->eps_decay_steps <= 0 || step >= c->eps_decay_steps) return c->eps_end;
    double frac = (double)step / (double)c->eps_decay_steps;
    return (float)(c->eps_start + frac * (c->eps_end - c->eps_start));
}

static void ref_update_once(const cldqn_config *c, ref_run *r, cldqn_replay *rb, cldqn_rng *sample)
{
    int B = c->batch;
    uint32_t idx[64];
    int32_t st[64], ac[64], nx[64];
    float rw[64], te[64];
    cldqn_replay_sample(rb, sample, (size_t)B, c->sample_replacement, idx);
    for (int i = 0; i < B; i++) {
        const cldqn_transition *t = cldqn_replay_get(rb, idx[i]);
        st[i] = t->state;
        ac[i] = t->action;
        rw[i] = t->reward;
        nx[i] = t->next_state;
        te[i] = t->terminated;
    }
    cldqn_batch b = {B, st, ac, rw, nx, te, NULL};
    float *grad = malloc(r->lay.total * 4);
    ref_update(&r->lay, &c->learn, r->params, r->target, r->m, r->v, &r->adam_t, &b, grad);
    free(grad);
    r->updates++;
}

/* The vectorised loop, run until at least total_steps env steps. */
static void vec_reference(const cldqn_config *c, int64_t total_steps, ref_run *r)
{
    const int N = c->envs;
    memset(r, 0, sizeof *r);
    cldqn_net_shape sh = c->shape;
    sh.n_states = 500;
    sh.n_actions = 6;
    cldqn_layout_init(&sh, &r->lay);
    size_t n = r->lay.total;
    r->params = malloc(n * 4);
    r->target = malloc(n * 4);
    r->m = calloc(n, 4);
    r->v = calloc(n, 4);
    cldqn_rng init, explore, sample;
    cldqn_rng_seed(&init, c->seed, CLDQN_STREAM_INIT);
    cldqn_params_init(&r->lay, c->init, &init, r->params);
    memcpy(r->target, r->params, n * 4);
    cldqn_rng_seed(&explore, c->seed, CLDQN_STREAM_EXPLORE);
    cldqn_rng_seed(&sample, c->seed, CLDQN_STREAM_SAMPLE);
    cldqn_replay *rb;
    cldqn_replay_create((size_t)c->replay, &rb);
    cldqn_taxi env[MAX_ENVS];
    int s[MAX_ENVS], ret[MAX_ENVS] = {0}, len[MAX_ENVS] = {0};
    for (int i = 0; i < N; i++) {
        cldqn_taxi_init(&env[i], &c->taxi, c->seed);
        cldqn_rng_seed(&env[i].rng, c->seed, CLDQN_ENV_STREAM(i));
        s[i] = cldqn_taxi_reset(&env[i]);
    }
    int64_t step = 0;
    while (step < total_steps) {
        int a[MAX_ENVS];
        for (int i = 0; i < N; i++) {
            float eps = ref_epsilon(c, step + i);
            float coin = cldqn_rng_float(&explore);
            a[i] = (int)cldqn_rng_below(&explore, 6);
            if (coin < eps) continue;
            float q[6];
            int32_t s32 = s[i];
            ref_q_forward(&r->lay, r->params, &s32, 1, q);
            ref_argmax(q, 1, 6, &a[i]);
        }
        cldqn_taxi_step_result res[MAX_ENVS];
        size_t held[MAX_ENVS]; /* memory size after env i's push */
        for (int i = 0; i < N; i++) {
            cldqn_taxi_step(&env[i], a[i], &res[i]);
            cldqn_transition tr = {
                (uint16_t)s[i],        (uint16_t)res[i].next_state, (uint8_t)a[i],
                (int8_t)res[i].reward, (uint8_t)res[i].terminated,  0};
            cldqn_replay_push(rb, &tr);
            held[i] = cldqn_replay_size(rb);
            ret[i] += res[i].reward;
            len[i]++;
            s[i] = res[i].next_state;
        }
        int64_t before = step;
        step += N;
        /* The updates a one-env loop would make after env steps before+1..step:
         * after step j when j is a multiple of train_every and the memory
         * then held enough; all run after the N pushes. */
        for (int i = 0; i < N; i++)
            if ((before + i + 1) % c->train_every == 0 && (int64_t)held[i] > c->learning_starts &&
                held[i] >= (size_t)c->batch)
                ref_update_once(c, r, rb, &sample);
        if (step / c->target_every > before / c->target_every) {
            memcpy(r->target, r->params, n * 4);
            r->syncs++;
        }
        for (int i = 0; i < N; i++) {
            if (!res[i].terminated && !res[i].truncated) continue;
            if (r->episodes < MAX_EPISODE) {
                r->ep_env[r->episodes] = i;
                r->ep_ret[r->episodes] = ret[i];
                r->ep_len[r->episodes] = len[i];
                r->ep_term[r->episodes] = res[i].terminated;
            }
            r->episodes++;
            ret[i] = len[i] = 0;
            s[i] = cldqn_taxi_reset(&env[i]);
        }
    }
    cldqn_replay_free(rb);
}

/* Episodes as the on_episode hook reports them. */
typedef struct {
    int64_t n;
    int ep_env[MAX_EPISODE], ep_ret[MAX_EPISODE], ep_len[MAX_EPISODE], ep_term[MAX_EPISODE];
    float ep_loss[MAX_EPISODE];
    int64_t ticks, evals, saves;
    int64_t eval_steps[64], save_steps[64];
} seen;

static void on_episode(void *ctx, const cldqn_trainer *t, int terminated)
{
    seen *x = ctx;
    const cldqn_train_stats *s = cldqn_trainer_stats(t);
    if (x->n < MAX_EPISODE) {
        int env = -1;
        for (int i = 0; i < cldqn_trainer_envs(t); i++)
            if (cldqn_trainer_env_at(t, i) == cldqn_trainer_env(t)) env = i;
        x->ep_env[x->n] = env;
        x->ep_ret[x->n] = s->last_return;
        x->ep_len[x->n] = s->last_length;
        x->ep_term[x->n] = terminated;
        x->ep_loss[x->n] = s->episode_loss;
    }
    x->n++;
}
static void on_tick(void *ctx, const cldqn_trainer *t)
{
    (void)t;
    ((seen *)ctx)->ticks++;
}
static void on_eval(void *ctx, const cldqn_trainer *t)
{
    seen *x = ctx;
    if (x->evals < 64) x->eval_steps[x->evals] = cldqn_trainer_stats(t)->steps;
    x->evals++;
}
static void on_save(void *ctx, const cldqn_trainer *t, const char *path)
{
    (void)path;
    seen *x = ctx;
    if (x->saves < 64) x->save_steps[x->saves] = cldqn_trainer_stats(t)->steps;
    x->saves++;
}

static cldqn_train_hooks hooks_for(seen *x)
{
    memset(x, 0, sizeof *x);
    cldqn_train_hooks h = {0};
    h.ctx = x;
    h.on_episode = on_episode;
    h.on_tick = on_tick;
    h.on_eval = on_eval;
    h.on_save = on_save;
    return h;
}

static void compare_with(cldqn_trainer *t, const ref_run *r, const seen *x)
{
    size_t n = r->lay.total;
    float *buf = malloc(n * 4);
    cldqn_qnet *net = cldqn_trainer_qnet(t);
    cldqn_qnet_read(net, CLDQN_BUF_PARAMS, buf);
    CU_ASSERT(memcmp(buf, r->params, n * 4) == 0);
    cldqn_qnet_read(net, CLDQN_BUF_TARGET, buf);
    CU_ASSERT(memcmp(buf, r->target, n * 4) == 0);
    cldqn_qnet_read(net, CLDQN_BUF_ADAM_M, buf);
    CU_ASSERT(memcmp(buf, r->m, n * 4) == 0);
    cldqn_qnet_read(net, CLDQN_BUF_ADAM_V, buf);
    CU_ASSERT(memcmp(buf, r->v, n * 4) == 0);
    CU_ASSERT_EQUAL(cldqn_qnet_adam_step(net), r->adam_t);
    const cldqn_train_stats *s = cldqn_trainer_stats(t);
    CU_ASSERT_EQUAL(s->updates, r->updates);
    CU_ASSERT_EQUAL(s->target_syncs, r->syncs);
    CU_ASSERT_EQUAL(s->episodes, r->episodes);
    CU_ASSERT_EQUAL(x->n, r->episodes);
    int64_t m = r->episodes < MAX_EPISODE ? r->episodes : MAX_EPISODE, bad = 0;
    for (int64_t i = 0; i < m; i++)
        bad += x->ep_env[i] != r->ep_env[i] || x->ep_ret[i] != r->ep_ret[i] ||
               x->ep_len[i] != r->ep_len[i] || x->ep_term[i] != r->ep_term[i];
    CU_ASSERT_EQUAL(bad, 0);
    free(buf);
}

/* test_trainer's default-loop settings, small and fast on the host reference. */
static void envs_test_config(cldqn_config *c, int envs)
{
    cldqn_config_preset(c, "default");
    c->backend = CLDQN_BACKEND_REF;
    c->batch = 16;
    c->replay = 700; /* wraps around */
    c->learning_starts = 100;
    c->train_every = 2;
    c->target_every = 150; /* not a multiple of N: the sync falls inside an iteration */
    c->eps_decay_steps = 1500;
    c->eval_every = 0;
    c->taxi.time_limit = 120;
    c->seed = 11;
    c->envs = envs;
}

static void run_against_reference(cldqn_config c, int64_t steps)
{
    c.steps = steps;
    ref_run r;
    vec_reference(&c, steps, &r);
    cldqn_trainer *t;
    CU_ASSERT_EQUAL_FATAL(cldqn_trainer_create(&c, &t), CLDQN_OK);
    seen x;
    cldqn_train_hooks h = hooks_for(&x);
    CU_ASSERT_EQUAL(cldqn_trainer_run(t, &h), CLDQN_OK);
    const cldqn_train_stats *s = cldqn_trainer_stats(t);
    /* Whole iterations: the first multiple of N at or past the limit. */
    CU_ASSERT_EQUAL(s->steps, (steps + c.envs - 1) / c.envs * c.envs);
    CU_ASSERT_EQUAL(x.ticks, s->steps / c.envs);
    /* The same ratio of updates per env step as one env would do. */
    CU_ASSERT(r.updates > 0);
    CU_ASSERT(r.episodes > 10);
    compare_with(t, &r, &x);
    cldqn_trainer_free(t);
    ref_free(&r);
}

static void test_matches_reference(void)
{
    cldqn_config c;
    envs_test_config(&c, 4); /* 2 updates per iteration */
    run_against_reference(c, 2500);
    envs_test_config(&c, 3); /* train_every 2: 1, 2, 1, 2, ... updates */
    c.seed = 5;
    run_against_reference(c, 2400);
    envs_test_config(&c, 5); /* one update every 4 env steps, rainy and fickle */
    c.train_every = 4;
    c.taxi.is_rainy = 1;
    c.taxi.fickle_passenger = 1;
    c.seed = 8;
    run_against_reference(c, 2000);
}

/* N = 1 through the vectorised reference is the plain loop: the trainer's
 * default (envs 1) agrees with it too, so one env changed nothing. */
static void test_one_env_is_the_plain_loop(void)
{
    cldqn_config c;
    envs_test_config(&c, 1);
    run_against_reference(c, 2500);
}

/* The OpenCL backend, whose act kernel gives all exploiting envs' actions in
 * one launch, computes the same run as the host reference. */
static void test_opencl_equals_reference(void)
{
    cldqn_config c;
    envs_test_config(&c, 8);
    c.steps = 2000;
    cldqn_trainer *a, *b;
    CU_ASSERT_EQUAL_FATAL(cldqn_trainer_create(&c, &a), CLDQN_OK);
    CU_ASSERT_EQUAL_FATAL(cldqn_trainer_run(a, NULL), CLDQN_OK);
    c.backend = CLDQN_BACKEND_OPENCL;
    CU_ASSERT_EQUAL_FATAL(cldqn_trainer_create(&c, &b), CLDQN_OK);
    CU_ASSERT_EQUAL_FATAL(cldqn_trainer_run(b, NULL), CLDQN_OK);
    size_t n = cldqn_qnet_layout(cldqn_trainer_qnet(a))->total;
    float *x = malloc(n * 4), *y = malloc(n * 4);
    cldqn_qnet_read(cldqn_trainer_qnet(a), CLDQN_BUF_PARAMS, x);
    cldqn_qnet_read(cldqn_trainer_qnet(b), CLDQN_BUF_PARAMS, y);
    CU_ASSERT(memcmp(x, y, n * 4) == 0);
    CU_ASSERT_EQUAL(cldqn_trainer_stats(a)->episodes, cldqn_trainer_stats(b)->episodes);
    CU_ASSERT_EQUAL(cldqn_trainer_stats(a)->updates, cldqn_trainer_stats(b)->updates);
    free(x);
    free(y);
    cldqn_trainer_free(a);
    cldqn_trainer_free(b);
}

/* cfg straight to `total` steps, and to `cut` + save + resume to `total`:
 * every buffer, counter and env (state, stream, episode) bit for bit. */
static void check_resume(cldqn_config c, int64_t cut, int64_t total, const char *name)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s.safetensors", dir, name);
    c.steps = total;
    cldqn_trainer *a, *b;
    seen xa, xb;
    cldqn_train_hooks ha = hooks_for(&xa), hb = hooks_for(&xb);
    CU_ASSERT_EQUAL_FATAL(cldqn_trainer_create(&c, &a), CLDQN_OK);
    CU_ASSERT_EQUAL_FATAL(cldqn_trainer_run(a, &ha), CLDQN_OK);
    c.steps = cut;
    CU_ASSERT_EQUAL_FATAL(cldqn_trainer_create(&c, &b), CLDQN_OK);
    CU_ASSERT_EQUAL_FATAL(cldqn_trainer_run(b, &hb), CLDQN_OK);
    int mid_episode = 0;
    for (int i = 0; i < c.envs; i++) mid_episode += cldqn_trainer_env_at(b, i)->steps > 0;
    CU_ASSERT(mid_episode > 0); /* the cut falls inside episodes */
    CU_ASSERT_EQUAL_FATAL(cldqn_trainer_save(b, path), CLDQN_OK);
    int64_t saved_episodes = xb.n;
    cldqn_trainer_free(b);
    c.steps = total;
    CU_ASSERT_EQUAL_FATAL(cldqn_trainer_resume(&c, path, &b), CLDQN_OK);
    CU_ASSERT_EQUAL(cldqn_trainer_envs(b), c.envs);
    seen xr;
    cldqn_train_hooks hr = hooks_for(&xr);
    CU_ASSERT_EQUAL_FATAL(cldqn_trainer_run(b, &hr), CLDQN_OK);
    size_t n = cldqn_qnet_layout(cldqn_trainer_qnet(a))->total;
    float *x = malloc(n * 4), *y = malloc(n * 4);
    for (int which = CLDQN_BUF_PARAMS; which <= CLDQN_BUF_ADAM_V; which++) {
        if (which == CLDQN_BUF_GRAD) continue;
        cldqn_qnet_read(cldqn_trainer_qnet(a), (cldqn_qnet_buffer)which, x);
        cldqn_qnet_read(cldqn_trainer_qnet(b), (cldqn_qnet_buffer)which, y);
        if (memcmp(x, y, n * 4)) fprintf(stderr, "\n  %s: buffer %d differs\n", name, which);
        CU_ASSERT(memcmp(x, y, n * 4) == 0);
    }
    CU_ASSERT_EQUAL(cldqn_qnet_adam_step(cldqn_trainer_qnet(a)),
                    cldqn_qnet_adam_step(cldqn_trainer_qnet(b)));
    const cldqn_train_stats *sa = cldqn_trainer_stats(a), *sb = cldqn_trainer_stats(b);
    CU_ASSERT_EQUAL(sa->steps, sb->steps);
    CU_ASSERT_EQUAL(sa->episodes, sb->episodes);
    CU_ASSERT_EQUAL(sa->updates, sb->updates);
    CU_ASSERT_EQUAL(sa->target_syncs, sb->target_syncs);
    CU_ASSERT(sa->mean_return == sb->mean_return);
    for (int i = 0; i < c.envs; i++) {
        const cldqn_taxi *ea = cldqn_trainer_env_at(a, i), *eb = cldqn_trainer_env_at(b, i);
        CU_ASSERT_EQUAL(ea->state, eb->state);
        CU_ASSERT_EQUAL(ea->steps, eb->steps);
        CU_ASSERT_EQUAL(ea->fickle_step, eb->fickle_step);
        CU_ASSERT_EQUAL(ea->last_action, eb->last_action);
        CU_ASSERT(ea->rng.state == eb->rng.state && ea->rng.inc == eb->rng.inc);
    }
    /* The episodes after the cut, returns and lengths included, are the
     * uninterrupted run's: in-progress returns and lengths survived. */
    CU_ASSERT_EQUAL(saved_episodes + xr.n, xa.n);
    int bad = 0;
    for (int64_t i = 0; i < xr.n && saved_episodes + i < MAX_EPISODE; i++) {
        int64_t j = saved_episodes + i;
        /* Mean losses too (bits; NaN for an episode without updates): the
         * per-env loss sums and counts of episodes spanning the cut survived. */
        bad += xr.ep_env[i] != xa.ep_env[j] || xr.ep_ret[i] != xa.ep_ret[j] ||
               xr.ep_len[i] != xa.ep_len[j] || memcmp(&xr.ep_loss[i], &xa.ep_loss[j], 4);
    }
    CU_ASSERT_EQUAL(bad, 0);
    free(x);
    free(y);
    cldqn_trainer_free(a);
    cldqn_trainer_free(b);
}

static void test_resume_bit_identical(void)
{
    cldqn_config c;
    envs_test_config(&c, 4);
    check_resume(c, 1237, 2500, "envs4"); /* stops at 1240, mid-episode */
    envs_test_config(&c, 3);
    c.taxi.is_rainy = 1;
    c.taxi.fickle_passenger = 1;
    c.learn.loss = CLDQN_LOSS_HUBER;
    check_resume(c, 999, 2001, "envs3-rainy");
}

/* An N-env state file says N; resuming it with another N is refused, and a
 * single-env state file keeps the layout it had before --envs existed (no
 * "envs" key or tensor), so old state files load as N = 1. */
static void test_state_file_envs(void)
{
    cldqn_config c;
    envs_test_config(&c, 4);
    c.steps = 400;
    char p4[256], p1[256], s4[300], s1[300];
    snprintf(p4, sizeof p4, "%s/four.safetensors", dir);
    snprintf(p1, sizeof p1, "%s/one.safetensors", dir);
    snprintf(s4, sizeof s4, "%s.state", p4);
    snprintf(s1, sizeof s1, "%s.state", p1);
    cldqn_trainer *t;
    CU_ASSERT_EQUAL_FATAL(cldqn_trainer_create(&c, &t), CLDQN_OK);
    CU_ASSERT_EQUAL(cldqn_trainer_run(t, NULL), CLDQN_OK);
    CU_ASSERT_EQUAL(cldqn_trainer_save(t, p4), CLDQN_OK);
    cldqn_trainer_free(t);
    cldqn_st_file *f;
    CU_ASSERT_EQUAL_FATAL(cldqn_st_read(s4, &f), CLDQN_OK);
    CU_ASSERT_STRING_EQUAL(cldqn_st_meta(f, "envs"), "4");
    int64_t shape[2] = {4, 11};
    const void *rows;
    CU_ASSERT_EQUAL(cldqn_st_get(f, "envs", "I64", 2, shape, &rows, NULL), CLDQN_OK);
    cldqn_st_free(f);
    /* The checkpoint's settings carry envs = 4 for a CLI resume. */
    cldqn_config stored;
    cldqn_layout lay;
    float *params;
    CU_ASSERT_EQUAL_FATAL(cldqn_checkpoint_load(p4, &stored, &lay, &params), CLDQN_OK);
    CU_ASSERT_EQUAL(stored.envs, 4);
    free(params);
    c.envs = 2;
    CU_ASSERT_EQUAL(cldqn_trainer_resume(&c, p4, &t), CLDQN_ERR_FORMAT);
    CU_ASSERT_PTR_NOT_NULL(strstr(cldqn_last_error(), "saved with --envs 4"));

    c.envs = 1;
    CU_ASSERT_EQUAL_FATAL(cldqn_trainer_create(&c, &t), CLDQN_OK);
    CU_ASSERT_EQUAL(cldqn_trainer_run(t, NULL), CLDQN_OK);
    CU_ASSERT_EQUAL(cldqn_trainer_save(t, p1), CLDQN_OK);
    cldqn_trainer_free(t);
    CU_ASSERT_EQUAL_FATAL(cldqn_st_read(s1, &f), CLDQN_OK);
    CU_ASSERT_PTR_NULL(cldqn_st_meta(f, "envs"));
    CU_ASSERT_NOT_EQUAL(cldqn_st_get(f, "envs", "I64", 0, NULL, &rows, NULL), CLDQN_OK);
    cldqn_clear_error();
    cldqn_st_free(f);
    CU_ASSERT_EQUAL_FATAL(cldqn_checkpoint_load(p1, &stored, &lay, &params), CLDQN_OK);
    CU_ASSERT_EQUAL(stored.envs, 1);
    free(params);
    c.envs = 3;
    CU_ASSERT_EQUAL(cldqn_trainer_resume(&c, p1, &t), CLDQN_ERR_FORMAT);
    CU_ASSERT_PTR_NOT_NULL(strstr(cldqn_last_error(), "saved with --envs 1"));
}

/* Evaluations and saves fire when the step counter crosses a multiple of
 * their period, once each, even when N does not divide the period. */
static void test_crossings(void)
{
    cldqn_config c;
    envs_test_config(&c, 3);
    c.steps = 1000;
    c.eval_every = 100;
    c.save_every = 250;
    snprintf(c.out, sizeof c.out, "%s/cross.safetensors", dir);
    cldqn_trainer *t;
    CU_ASSERT_EQUAL_FATAL(cldqn_trainer_create(&c, &t), CLDQN_OK);
    seen x;
    cldqn_train_hooks h = hooks_for(&x);
    CU_ASSERT_EQUAL(cldqn_trainer_run(t, &h), CLDQN_OK);
    CU_ASSERT_EQUAL(cldqn_trainer_stats(t)->steps, 1002);
    /* The iteration that reaches k*100 (k*250) ends at the next multiple of 3. */
    static const int64_t evals[] = {102, 201, 300, 402, 501, 600, 702, 801, 900, 1002};
    static const int64_t saves[] = {252, 501, 750, 1002};
    CU_ASSERT_EQUAL_FATAL(x.evals, 10);
    for (int i = 0; i < 10; i++) CU_ASSERT_EQUAL(x.eval_steps[i], evals[i]);
    CU_ASSERT_EQUAL_FATAL(x.saves, 4);
    for (int i = 0; i < 4; i++) CU_ASSERT_EQUAL(x.save_steps[i], saves[i]);
    /* Target syncs: crossings of 150 up to 1002. */
    CU_ASSERT_EQUAL(cldqn_trainer_stats(t)->target_syncs, 1002 / 150);
    cldqn_trainer_free(t);
}

/* The updates depend on the step count alone, as with one env: after S
 * steps, one per multiple of train_every from the first step after which
 * the memory held more than learning_starts (here 100), whatever N. */
static void test_update_count(void)
{
    static const int ns[] = {1, 3, 7, 64};
    for (int k = 0; k < 4; k++) {
        cldqn_config c;
        envs_test_config(&c, ns[k]);
        c.steps = 1024;
        cldqn_trainer *t;
        CU_ASSERT_EQUAL_FATAL(cldqn_trainer_create(&c, &t), CLDQN_OK);
        CU_ASSERT_EQUAL(cldqn_trainer_run(t, NULL), CLDQN_OK);
        int64_t s = cldqn_trainer_stats(t)->steps, want = 0;
        for (int64_t j = 101; j <= s; j++) want += j % 2 == 0;
        CU_ASSERT_EQUAL(cldqn_trainer_stats(t)->updates, want);
        cldqn_trainer_free(t);
    }
}

/* The seed loop (sync at termination) runs one env; other settings refused. */
static void test_refusals(void)
{
    cldqn_config c;
    cldqn_config_preset(&c, "seed");
    CU_ASSERT_EQUAL(cldqn_config_set(&c, "envs", "2", NULL), CLDQN_OK);
    CU_ASSERT_EQUAL(cldqn_config_check(&c), CLDQN_ERR_ARG);
    CU_ASSERT_PTR_NOT_NULL(strstr(cldqn_last_error(), "--envs"));
    cldqn_trainer *t;
    CU_ASSERT_EQUAL(cldqn_trainer_create(&c, &t), CLDQN_ERR_ARG);
    cldqn_config_preset(&c, "default");
    CU_ASSERT_EQUAL(c.envs, 1);
    CU_ASSERT_EQUAL(cldqn_config_set(&c, "envs", "0", NULL), CLDQN_ERR_ARG);
    CU_ASSERT_EQUAL(cldqn_config_set(&c, "envs", "4097", NULL), CLDQN_ERR_ARG);
    /* Stored in checkpoint JSON only when not 1. */
    char json[4096];
    cldqn_config_to_json(&c, json, sizeof json);
    CU_ASSERT_PTR_NULL(strstr(json, "\"envs\""));
    c.envs = 6;
    cldqn_config_to_json(&c, json, sizeof json);
    CU_ASSERT_PTR_NOT_NULL(strstr(json, "\"envs\": 6"));
    cldqn_config back;
    cldqn_config_preset(&back, "default");
    CU_ASSERT_EQUAL(cldqn_config_from_json(&back, json), CLDQN_OK);
    CU_ASSERT_EQUAL(back.envs, 6);
}

int register_suites(void)
{
    static const harness_test tests[] = {
        {"N envs match a plain vectorised loop", test_matches_reference},
        {"one env is the plain loop", test_one_env_is_the_plain_loop},
        {"OpenCL (batched act) equals the reference", test_opencl_equals_reference},
        {"resume of an N-env run is bit-identical", test_resume_bit_identical},
        {"state files: N recorded, old layout for N = 1", test_state_file_envs},
        {"evaluations, saves and syncs on crossings", test_crossings},
        {"updates as one env would make them", test_update_count},
        {"refusals and checkpoint JSON", test_refusals},
        {NULL, NULL}};
    return harness_add_suite("envs", setup, teardown, tests);
}
