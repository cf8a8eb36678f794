/* test_trainer.c - the training loop against a plain re-implementation of
 * the article's loop, bit-identical resume, interrupts and evaluation.
 *
 * The reference loops below are written from the article's pseudo-code and
 * the default preset's description, on the primitives (taxi, replay, rng,
 * ref_update) directly; the trainer on the REF backend must produce the same
 * weights bit for bit, which pins down the order of act / store / update /
 * sync / episode end. */
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
    snprintf(dir, sizeof dir, "/tmp/cldqn-test-trainer-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* What the reference loop ends with. */
typedef struct {
    cldqn_layout lay;
    float *params, *target, *m, *v;
    int adam_t;
    int64_t updates, syncs, episodes, terminations;
} ref_run;

static void ref_free(ref_run *r)
{
    free(r->params);
    free(r->target);
    free(r->m);
    free(r->v);
}

typedef struct {
    const cldqn_config *c;
    ref_run *r;
    cldqn_taxi env;
    cldqn_replay *rb;
    cldqn_rng explore, sample;
} ref_ctx;

static void ref_init(ref_ctx *x, const cldqn_config *c, ref_run *r)
{
    memset(r, 0, sizeof *r);
    x->c = c;
    x->r = r;
    cldqn_net_shape sh = c->shape;
    sh.n_states = 500;
    sh.n_actions = 6;
    cldqn_layout_init(&sh, &r->lay);
    size_t n = r->lay.total;
    r->params = malloc(n * 4);
    r->target = malloc(n * 4);
    r->m = calloc(n, 4);
    r->v = calloc(n, 4);
    cldqn_rng init;
    cldqn_rng_seed(&init, c->seed, CLDQN_STREAM_INIT);
    cldqn_params_init(&r->lay, c->init, &init, r->params);
    memcpy(r->target, r->params, n * 4);
    cldqn_taxi_init(&x->env, &c->taxi, c->seed);
    cldqn_replay_create((size_t)c->replay, &x->rb);
    cldqn_rng_seed(&x->explore, c->seed, CLDQN_STREAM_EXPLORE);
    cldqn_rng_seed(&x->sample, c->seed, CLDQN_STREAM_SAMPLE);
}

/* act(s): epsilon-greedy, both random draws every step. */
static int ref_act(ref_ctx *x, int s, int64_t step)
{
    const cldqn_config *c = x->c;
    double frac = c->eps_decay_steps ? (double)step / (double)c->eps_decay_steps : 1.0;
    float eps =
        frac >= 1.0 ? c->eps_end : (float)(c->eps_start + frac * (c->eps_end - c->eps_start));
    float coin = cldqn_rng_float(&x->explore);
    int a = (int)cldqn_rng_below(&x->explore, 6);
    if (coin < eps) return a;
    float q[6];
    int32_t s32 = s, best;
    ref_q_forward(&x->r->lay, x->r->params, &s32, 1, q);
    ref_argmax(q, 1, 6, &best);
    return best;
}

static void ref_retrain(ref_ctx *x)
{
    const cldqn_config *c = x->c;
    int B = c->batch;
    uint32_t idx[256];
    int32_t st[256], ac[256], nx[256];
    float rw[256], te[256];
    cldqn_replay_sample(x->rb, &x->sample, (size_t)B, c->sample_replacement, idx);
    for (int i = 0; i < B; i++) {
        const cldqn_transition *t = cldqn_replay_get(x->rb, idx[i]);
        st[i] = t->state;
        ac[i] = t->action;
        rw[i] = t->reward;
        nx[i] = t->next_state;
        te[i] = t->terminated;
    }
    cldqn_batch b = {B, st, ac, rw, nx, te, NULL};
    float *grad = malloc(x->r->lay.total * 4);
    ref_update(&x->r->lay, &c->learn, x->r->params, x->r->target, x->r->m, x->r->v, &x->r->adam_t,
               &b, grad);
    free(grad);
    x->r->updates++;
}

static void ref_align(ref_ctx *x)
{
    memcpy(x->r->target, x->r->params, x->r->lay.total * 4);
    x->r->syncs++;
}

static cldqn_taxi_step_result ref_env_step(ref_ctx *x, int s, int a)
{
    cldqn_taxi_step_result res;
    cldqn_taxi_step(&x->env, a, &res);
    cldqn_transition tr = {(uint16_t)s,        (uint16_t)res.next_state, (uint8_t)a,
                           (int8_t)res.reward, (uint8_t)res.terminated,  0};
    cldqn_replay_push(x->rb, &tr);
    return res;
}

/* The article's loop, stopped after total_steps env steps:
 *   for e in range(episodes): s = reset()
 *     for t in range(1000): a = act(s); s2, r, done = step(a); store; s = s2
 *       if done: align_target(); break
 *       if len(memory) > batch: retrain(batch) */
static void seed_reference(const cldqn_config *c, int64_t total_steps, ref_run *r)
{
    ref_ctx x;
    ref_init(&x, c, r);
    int64_t step = 0;
    while (step < total_steps) {
        int s = cldqn_taxi_reset(&x.env);
        for (int t = 0; t < c->episode_steps && step < total_steps; t++) {
            int a = ref_act(&x, s, step);
            cldqn_taxi_step_result res = ref_env_step(&x, s, a);
            step++;
            s = res.next_state;
            if (res.terminated) {
                ref_align(&x);
                r->terminations++;
                r->episodes++;
                goto next_episode;
            }
            if ((int64_t)cldqn_replay_size(x.rb) > c->learning_starts) ref_retrain(&x);
        }
        if (step < total_steps || 1) r->episodes += (step < total_steps) ? 1 : 0;
        /* an episode cut by the cap counts; one cut by total_steps does not */
        if (step == total_steps) break;
    next_episode:;
    }
    cldqn_replay_free(x.rb);
}

/* The default preset's loop: update every train_every steps once the memory
 * holds more than learning_starts, sync every target_every steps, episodes
 * end on termination or Taxi's time limit. */
static void default_reference(const cldqn_config *c, int64_t total_steps, ref_run *r)
{
    ref_ctx x;
    ref_init(&x, c, r);
    int s = cldqn_taxi_reset(&x.env);
    for (int64_t step = 1; step <= total_steps; step++) {
        int a = ref_act(&x, s, step - 1);
        cldqn_taxi_step_result res = ref_env_step(&x, s, a);
        s = res.next_state;
        size_t n = cldqn_replay_size(x.rb);
        if ((int64_t)n > c->learning_starts && n >= (size_t)c->batch && step % c->train_every == 0)
            ref_retrain(&x);
        if (step % c->target_every == 0) ref_align(&x);
        if (res.terminated || res.truncated) {
            r->episodes++;
            r->terminations += res.terminated;
            if (step < total_steps) s = cldqn_taxi_reset(&x.env);
        }
    }
    cldqn_replay_free(x.rb);
}

static int64_t terminated_episodes;
static void count_terminated(void *ctx, const cldqn_trainer *t, int terminated)
{
    (void)ctx;
    (void)t;
    terminated_episodes += terminated;
}

static void compare_with(cldqn_trainer *t, const ref_run *r)
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
    free(buf);
}

/* Seed settings, but random actions (epsilon 1) so episodes terminate and the
 * sync-at-termination path runs, and a small batch to keep it fast. */
static void seed_test_config(cldqn_config *c)
{
    cldqn_config_preset(c, "seed");
    c->backend = CLDQN_BACKEND_REF;
    c->eps_start = c->eps_end = 1.0f;
    c->batch = 4;
    c->learning_starts = 4;
    c->episodes = 0;
    c->episode_steps = 300; /* the cap ends episodes too */
    c->render_every = 0;
    c->seed = 3;
}

static void test_seed_loop_matches_article(void)
{
    cldqn_config c;
    seed_test_config(&c);
    c.steps = 4000;
    ref_run r;
    seed_reference(&c, c.steps, &r);
    cldqn_trainer *t;
    CU_ASSERT_EQUAL_FATAL(cldqn_trainer_create(&c, &t), CLDQN_OK);
    terminated_episodes = 0;
    cldqn_train_hooks h = {0};
    h.on_episode = count_terminated;
    CU_ASSERT_EQUAL(cldqn_trainer_run(t, &h), CLDQN_OK);
    CU_ASSERT_EQUAL(cldqn_trainer_stats(t)->steps, 4000);
    /* The run must have exercised both episode ends. */
    CU_ASSERT(r.terminations > 0);
    CU_ASSERT(r.episodes > r.terminations);
    CU_ASSERT_EQUAL(terminated_episodes, r.terminations);
    CU_ASSERT_EQUAL(r.syncs, r.terminations); /* target aligned only at terminations */
    compare_with(t, &r);
    cldqn_trainer_free(t);
    ref_free(&r);
}

static void default_test_config(cldqn_config *c)
{
    cldqn_config_preset(c, "default");
    c->backend = CLDQN_BACKEND_REF;
    c->batch = 16;
    c->replay = 700; /* wraps around */
    c->learning_starts = 100;
    c->train_every = 2;
    c->target_every = 150;
    c->eps_decay_steps = 1500;
    c->eval_every = 0;
    c->taxi.time_limit = 120;
    c->seed = 11;
}

static void test_default_loop_matches_reference(void)
{
    cldqn_config c;
    default_test_config(&c);
    c.steps = 2500;
    ref_run r;
    default_reference(&c, c.steps, &r);
    cldqn_trainer *t;
    CU_ASSERT_EQUAL_FATAL(cldqn_trainer_create(&c, &t), CLDQN_OK);
    CU_ASSERT_EQUAL(cldqn_trainer_run(t, NULL), CLDQN_OK);
    CU_ASSERT(r.updates > 1000);
    CU_ASSERT_EQUAL(r.syncs, 2500 / 150);
    compare_with(t, &r);
    cldqn_trainer_free(t);
    ref_free(&r);
}

/* Runs cfg straight to `total` steps and as `cut` + resume, and compares
 * every buffer and counter bit for bit. */
static void check_resume(cldqn_config c, int64_t cut, int64_t total, const char *name)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s.safetensors", dir, name);
    c.steps = total;
    cldqn_trainer *a, *b;
    CU_ASSERT_EQUAL_FATAL(cldqn_trainer_create(&c, &a), CLDQN_OK);
    CU_ASSERT_EQUAL_FATAL(cldqn_trainer_run(a, NULL), CLDQN_OK);
    c.steps = cut ? cut : total; /* cut 0: saved before any step */
    CU_ASSERT_EQUAL_FATAL(cldqn_trainer_create(&c, &b), CLDQN_OK);
    if (cut) CU_ASSERT_EQUAL_FATAL(cldqn_trainer_run(b, NULL), CLDQN_OK);
    CU_ASSERT_EQUAL_FATAL(cldqn_trainer_save(b, path), CLDQN_OK);
    cldqn_trainer_free(b);
    c.steps = total;
    CU_ASSERT_EQUAL_FATAL(cldqn_trainer_resume(&c, path, &b), CLDQN_OK);
    CU_ASSERT_EQUAL(cldqn_trainer_stats(b)->steps, cut);
    CU_ASSERT_EQUAL_FATAL(cldqn_trainer_run(b, NULL), CLDQN_OK);
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
    CU_ASSERT(sa->mean_return == sb->mean_return || (sa->episodes == 0));
    const cldqn_taxi *ea = cldqn_trainer_env(a), *eb = cldqn_trainer_env(b);
    CU_ASSERT_EQUAL(ea->state, eb->state);
    CU_ASSERT(ea->rng.state == eb->rng.state);
    free(x);
    free(y);
    cldqn_trainer_free(a);
    cldqn_trainer_free(b);
}

static void test_resume_bit_identical(void)
{
    cldqn_config c;
    default_test_config(&c);
    check_resume(c, 1237, 2500, "default"); /* the cut falls mid-episode */
    seed_test_config(&c);
    check_resume(c, 1501, 3000, "seed");
    default_test_config(&c);
    c.taxi.is_rainy = 1;
    c.taxi.fickle_passenger = 1;
    c.learn.loss = CLDQN_LOSS_HUBER;
    c.learn.max_grad_norm = 1.0f;
    check_resume(c, 999, 2000, "rainy");
    /* Saved before any step. */
    default_test_config(&c);
    check_resume(c, 0, 300, "empty");
}

static volatile sig_atomic_t stop_flag;
static void stop_at_777(void *ctx, const cldqn_trainer *t)
{
    (void)ctx;
    if (cldqn_trainer_stats(t)->steps == 777) stop_flag = 1;
}

static void test_interrupt(void)
{
    cldqn_config c;
    default_test_config(&c);
    c.steps = 5000;
    cldqn_trainer *t;
    CU_ASSERT_EQUAL_FATAL(cldqn_trainer_create(&c, &t), CLDQN_OK);
    stop_flag = 0;
    cldqn_train_hooks h = {0};
    h.on_tick = stop_at_777;
    h.stop = &stop_flag;
    CU_ASSERT_EQUAL(cldqn_trainer_run(t, &h), CLDQN_ERR_INTERRUPT);
    CU_ASSERT_EQUAL(cldqn_trainer_stats(t)->steps, 777);
    cldqn_trainer_free(t);
}

static void copy_file(const char *from, const char *to)
{
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", from, to);
    CU_ASSERT_EQUAL(system(cmd), 0);
}

static void test_resume_rejects_bad_state(void)
{
    cldqn_config c;
    default_test_config(&c);
    c.steps = 400;
    char a[256], b[256], as[300], bs[300];
    snprintf(a, sizeof a, "%s/a.safetensors", dir);
    snprintf(b, sizeof b, "%s/b.safetensors", dir);
    snprintf(as, sizeof as, "%s.state", a);
    snprintf(bs, sizeof bs, "%s.state", b);
    cldqn_trainer *t;
    CU_ASSERT_EQUAL_FATAL(cldqn_trainer_create(&c, &t), CLDQN_OK);
    cldqn_trainer_run(t, NULL);
    CU_ASSERT_EQUAL(cldqn_trainer_save(t, a), CLDQN_OK);
    c.steps = 500;
    cldqn_trainer_run(t, NULL);
    cldqn_config c2 = c;
    c2.steps = 500;
    cldqn_trainer_free(t);
    CU_ASSERT_EQUAL_FATAL(cldqn_trainer_create(&c2, &t), CLDQN_OK);
    cldqn_trainer_run(t, NULL);
    CU_ASSERT_EQUAL(cldqn_trainer_save(t, b), CLDQN_OK);
    cldqn_trainer_free(t);
    /* b's state with a's weights. */
    char keep[320];
    snprintf(keep, sizeof keep, "%s.keep", as);
    copy_file(as, keep);
    copy_file(bs, as);
    CU_ASSERT_EQUAL(cldqn_trainer_resume(&c, a, &t), CLDQN_ERR_FORMAT);
    CU_ASSERT_PTR_NOT_NULL(strstr(cldqn_last_error(), "does not belong"));
    /* A flipped byte in the state's data. */
    copy_file(keep, as);
    FILE *f = fopen(as, "r+b");
    fseek(f, -20, SEEK_END);
    int ch = fgetc(f);
    fseek(f, -20, SEEK_END);
    fputc(ch ^ 0x40, f);
    fclose(f);
    CU_ASSERT_EQUAL(cldqn_trainer_resume(&c, a, &t), CLDQN_ERR_FORMAT);
    CU_ASSERT_PTR_NOT_NULL(strstr(cldqn_last_error(), "checksum"));
    /* No state at all. */
    unlink(as);
    CU_ASSERT_EQUAL(cldqn_trainer_resume(&c, a, &t), CLDQN_ERR_IO);
    /* A different network shape. */
    copy_file(keep, as);
    c.shape.hidden = 20;
    CU_ASSERT_EQUAL(cldqn_trainer_resume(&c, a, &t), CLDQN_ERR_FORMAT);
    c.shape.hidden = 50;
    CU_ASSERT_EQUAL(cldqn_trainer_resume(&c, a, &t), CLDQN_OK);
    cldqn_trainer_free(t);
}

/* cldqn_trainer_evaluate against rolling the greedy policy out by hand. */
static void test_evaluate(void)
{
    cldqn_config c;
    default_test_config(&c);
    c.steps = 3000;
    cldqn_trainer *t;
    CU_ASSERT_EQUAL_FATAL(cldqn_trainer_create(&c, &t), CLDQN_OK);
    cldqn_trainer_run(t, NULL);
    CU_ASSERT_EQUAL_FATAL(cldqn_trainer_evaluate(t), CLDQN_OK);
    const cldqn_train_stats *s = cldqn_trainer_stats(t);
    const cldqn_layout *lay = cldqn_qnet_layout(cldqn_trainer_qnet(t));
    float *p = malloc(lay->total * 4);
    cldqn_qnet_read(cldqn_trainer_qnet(t), CLDQN_BUF_PARAMS, p);
    cldqn_taxi env;
    cldqn_taxi_config tc = cldqn_taxi_default_config();
    cldqn_taxi_init(&env, &tc, 1);
    long total = 0, wins = 0, steps = 0;
    for (int i = 0; i < CLDQN_TAXI_STARTS; i++) {
        int st = cldqn_taxi_start_state(i);
        cldqn_taxi_reset_to(&env, st);
        for (int k = 0; k < 200; k++) {
            float q[6];
            int32_t s32 = st, a;
            ref_q_forward(lay, p, &s32, 1, q);
            ref_argmax(q, 1, 6, &a);
            cldqn_taxi_step_result r;
            cldqn_taxi_step(&env, a, &r);
            total += r.reward;
            steps++;
            st = r.next_state;
            if (r.terminated) {
                wins++;
                break;
            }
        }
    }
    CU_ASSERT_DOUBLE_EQUAL(s->eval.mean_return, total / 300.0, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(s->eval.success_rate, wins / 300.0, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(s->eval.mean_steps, steps / 300.0, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(s->optimal_return, 7.93, 1e-9);
    CU_ASSERT_EQUAL(s->reached_optimal, fabs(total / 300.0 - 7.93) < 1e-9);
    free(p);
    cldqn_trainer_free(t);
}

int register_suites(void)
{
    static const harness_test tests[] = {
        {"seed loop matches the article's", test_seed_loop_matches_article},
        {"default loop matches its description", test_default_loop_matches_reference},
        {"resume is bit-identical", test_resume_bit_identical},
        {"interrupt stops after the current step", test_interrupt},
        {"resume rejects a bad state", test_resume_rejects_bad_state},
        {"evaluation matches a hand rollout", test_evaluate},
        {NULL, NULL}};
    return harness_add_suite("trainer", setup, teardown, tests);
}
