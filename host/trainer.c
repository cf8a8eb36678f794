/* trainer.c - the DQN loop of trainer.h and its resumable state.
 *
 * The training state (target weights, Adam moments and step, replay memory,
 * RNG streams, the environment mid-episode, counters) goes to PATH.state, a
 * safetensors file whose metadata also holds a hash of the weights in PATH
 * and of its own data, so a resume with a mismatched or damaged pair fails
 * instead of continuing from the wrong place. */
#define _GNU_SOURCE
#include "cldqn/trainer.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#if defined(__x86_64__) || defined(__i386__) || defined(__SSE__)
#include <pmmintrin.h>
#include <xmmintrin.h>
#define HAVE_MXCSR 1
#endif

#include "cldqn/checkpoint.h"
#include "cldqn/ref.h"
#include "cldqn/replay.h"
#include "cldqn/rng.h"
#include "cldqn/version.h"

struct cldqn_trainer {
    cldqn_config cfg;
    cldqn_layout lay;
    cldqn_qnet *net;
    cldqn_replay *rb;
    cldqn_taxi env;
    cldqn_rng explore, sample;
    int in_episode; /* env holds an unfinished episode */
    /* Greedy action of act_state under the current online weights, returned
     * by the last update; act_state -1 when the weights changed since. */
    int32_t act_state, act_action;
    int ep_return, ep_len;
    int returns[CLDQN_RETURN_WINDOW]; /* ring of recent episode returns */
    double loss_sum;                  /* since the last finished episode */
    int64_t loss_count;
    cldqn_train_stats stats;
    /* Minibatch scratch, (batch) each. */
    uint32_t *idx;
    int32_t *b_state, *b_action, *b_next;
    float *b_reward, *b_term;
    float *scratch; /* lay.total floats for save/resume */
    /* Hash of the weights file last written to (or resumed from) saved_path;
     * the next state file records it, so resume can tell a save interrupted
     * between its two renames from a state paired with foreign weights. */
    char *saved_path;
    uint64_t saved_hash;
};

void cldqn_set_flush_denormals(void)
{
#ifdef HAVE_MXCSR
    _MM_SET_FLUSH_ZERO_MODE(_MM_FLUSH_ZERO_ON);
    _MM_SET_DENORMALS_ZERO_MODE(_MM_DENORMALS_ZERO_ON);
#endif
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void update_mean_return(cldqn_trainer *t)
{
    int64_t n = t->stats.episodes < CLDQN_RETURN_WINDOW ? t->stats.episodes : CLDQN_RETURN_WINDOW;
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += t->returns[i];
    t->stats.mean_return = n ? s / (double)n : NAN;
}

void cldqn_trainer_free(cldqn_trainer *t)
{
    if (!t) return;
    cldqn_qnet_free(t->net);
    cldqn_replay_free(t->rb);
    free(t->idx);
    free(t->b_state);
    free(t->b_action);
    free(t->b_next);
    free(t->b_reward);
    free(t->b_term);
    free(t->scratch);
    free(t->saved_path);
    free(t);
}

/* Everything but the network weights, which the caller supplies. */
static cldqn_status trainer_alloc(const cldqn_config *cfg, cldqn_trainer **out)
{
    *out = NULL;
    cldqn_status st = cldqn_config_check(cfg);
    if (st) return st;
    cldqn_trainer *t = calloc(1, sizeof *t);
    if (!t) return cldqn_fail(CLDQN_ERR_NOMEM, "out of memory creating the trainer");
    t->cfg = *cfg;
    t->cfg.shape.n_states = CLDQN_TAXI_STATES;
    t->cfg.shape.n_actions = CLDQN_TAXI_ACTIONS;
    st = cldqn_layout_init(&t->cfg.shape, &t->lay);
    if (st) goto fail;
    size_t B = (size_t)cfg->batch;
    t->idx = malloc(B * sizeof *t->idx);
    t->b_state = malloc(B * sizeof(int32_t));
    t->b_action = malloc(B * sizeof(int32_t));
    t->b_next = malloc(B * sizeof(int32_t));
    t->b_reward = malloc(B * sizeof(float));
    t->b_term = malloc(B * sizeof(float));
    t->scratch = malloc(t->lay.total * sizeof(float));
    if (!t->idx || !t->b_state || !t->b_action || !t->b_next || !t->b_reward || !t->b_term ||
        !t->scratch) {
        st = cldqn_fail(CLDQN_ERR_NOMEM, "out of memory creating the trainer");
        goto fail;
    }
    st = cldqn_replay_create((size_t)cfg->replay, &t->rb);
    if (st) goto fail;
    st = cldqn_taxi_init(&t->env, &cfg->taxi, cfg->seed);
    if (st) goto fail;
    cldqn_rng_seed(&t->explore, cfg->seed, CLDQN_STREAM_EXPLORE);
    cldqn_rng_seed(&t->sample, cfg->seed, CLDQN_STREAM_SAMPLE);
    t->stats.last_loss = NAN;
    t->stats.mean_return = NAN;
    t->stats.epsilon = cldqn_config_epsilon(cfg, 0);
    cldqn_taxi_config plain = cldqn_taxi_default_config();
    t->stats.optimal_return = cldqn_taxi_optimal_mean_return(&plain);
    *out = t;
    return CLDQN_OK;
fail:
    cldqn_trainer_free(t);
    return st;
}

static cldqn_status make_qnet(cldqn_trainer *t, const float *params)
{
    cldqn_qnet_options o = cldqn_qnet_default_options();
    o.backend = t->cfg.backend;
    o.device = t->cfg.device[0] ? t->cfg.device : NULL;
    o.max_batch = t->cfg.batch;
    o.max_states = CLDQN_TAXI_STATES;
    o.path = t->cfg.path;
    t->act_state = -1;
    return cldqn_qnet_create(&t->lay, &t->cfg.learn, &o, params, &t->net);
}

cldqn_status cldqn_trainer_create(const cldqn_config *cfg, cldqn_trainer **out)
{
    cldqn_set_flush_denormals();
    cldqn_trainer *t;
    cldqn_status st = trainer_alloc(cfg, &t);
    if (st) return st;
    cldqn_rng init;
    cldqn_rng_seed(&init, cfg->seed, CLDQN_STREAM_INIT);
    cldqn_params_init(&t->lay, cfg->init, &init, t->scratch);
    st = make_qnet(t, t->scratch);
    if (st) {
        cldqn_trainer_free(t);
        return st;
    }
    *out = t;
    return CLDQN_OK;
}

const cldqn_train_stats *cldqn_trainer_stats(const cldqn_trainer *t)
{
    return &t->stats;
}
const cldqn_config *cldqn_trainer_config(const cldqn_trainer *t)
{
    return &t->cfg;
}
const cldqn_taxi *cldqn_trainer_env(const cldqn_trainer *t)
{
    return &t->env;
}
cldqn_qnet *cldqn_trainer_qnet(cldqn_trainer *t)
{
    return t->net;
}

cldqn_status cldqn_policy_from_params(const cldqn_layout *lay, const float *params,
                                      uint8_t policy[CLDQN_TAXI_STATES])
{
    int32_t states[CLDQN_TAXI_STATES], act[CLDQN_TAXI_STATES];
    float *q = malloc(sizeof(float) * CLDQN_TAXI_STATES * (size_t)lay->shape.n_actions);
    if (!q) return cldqn_fail(CLDQN_ERR_NOMEM, "out of memory evaluating a policy");
    for (int s = 0; s < CLDQN_TAXI_STATES; s++) states[s] = s;
    ref_q_forward(lay, params, states, CLDQN_TAXI_STATES, q);
    ref_argmax(q, CLDQN_TAXI_STATES, lay->shape.n_actions, act);
    free(q);
    for (int s = 0; s < CLDQN_TAXI_STATES; s++) policy[s] = (uint8_t)act[s];
    return CLDQN_OK;
}

/* Greedy episodes never need more than a few dozen steps; a looping policy
 * is cut off here and counts as not delivering. */
#define EVAL_MAX_STEPS 200

cldqn_status cldqn_trainer_evaluate(cldqn_trainer *t)
{
    int32_t states[CLDQN_TAXI_STATES], act[CLDQN_TAXI_STATES];
    uint8_t policy[CLDQN_TAXI_STATES];
    for (int s = 0; s < CLDQN_TAXI_STATES; s++) states[s] = s;
    cldqn_status st = cldqn_qnet_greedy(t->net, states, CLDQN_TAXI_STATES, act);
    if (st) return st;
    for (int s = 0; s < CLDQN_TAXI_STATES; s++) policy[s] = (uint8_t)act[s];
    st = cldqn_taxi_eval_policy(policy, EVAL_MAX_STEPS, &t->stats.eval);
    if (st) return st;
    t->stats.have_eval = 1;
    /* Returns are integers, so the mean over 300 starts is a multiple of 1/300. */
    t->stats.reached_optimal = fabs(t->stats.eval.mean_return - t->stats.optimal_return) < 1e-6;
    return CLDQN_OK;
}

/* One update on a sampled minibatch; it also returns the greedy action for
 * next_state, the state the agent acts in next unless the episode ends. */
static cldqn_status learn(cldqn_trainer *t, int next_state)
{
    const cldqn_config *c = &t->cfg;
    cldqn_status st =
        cldqn_replay_sample(t->rb, &t->sample, (size_t)c->batch, c->sample_replacement, t->idx);
    if (st) return st;
    for (int i = 0; i < c->batch; i++) {
        const cldqn_transition *tr = cldqn_replay_get(t->rb, t->idx[i]);
        t->b_state[i] = tr->state;
        t->b_action[i] = tr->action;
        t->b_reward[i] = (float)tr->reward;
        t->b_next[i] = tr->next_state;
        t->b_term[i] = tr->terminated ? 1.0f : 0.0f;
    }
    cldqn_batch b = {c->batch, t->b_state, t->b_action, t->b_reward, t->b_next, t->b_term};
    float loss = NAN;
    t->act_state = -1;
    st = cldqn_qnet_update_act(t->net, &b, next_state, &loss, &t->act_action);
    /* Numeric guard: the backends report a non-finite loss themselves; say
     * where it happened. Nothing is saved after this, so the last checkpoint
     * on disk stays the last good one. */
    if (st == CLDQN_ERR_NUMERIC || (!st && !isfinite(loss)))
        return cldqn_fail(CLDQN_ERR_NUMERIC,
                          "non-finite loss (%g) at step %" PRId64 ", update %" PRId64
                          ": training stopped; the last checkpoint saved is kept",
                          (double)loss, t->stats.steps, t->stats.updates + 1);
    if (st) return st;
    t->act_state = next_state;
    t->stats.updates++;
    t->stats.last_loss = loss;
    t->loss_sum += loss;
    t->loss_count++;
    return CLDQN_OK;
}

static cldqn_status sync_target(cldqn_trainer *t)
{
    t->stats.target_syncs++;
    return cldqn_qnet_sync_target(t->net);
}

static void end_episode(cldqn_trainer *t, const cldqn_train_hooks *h, int terminated)
{
    t->returns[t->stats.episodes % CLDQN_RETURN_WINDOW] = t->ep_return;
    t->stats.episodes++;
    t->stats.last_return = t->ep_return;
    t->stats.last_length = t->ep_len;
    t->stats.episode_loss = t->loss_count ? (float)(t->loss_sum / (double)t->loss_count) : NAN;
    update_mean_return(t);
    t->in_episode = 0;
    if (h && h->on_episode) h->on_episode(h->ctx, t, terminated);
    t->loss_sum = 0;
    t->loss_count = 0;
}

/* One env step, with its update, target sync and episode end. */
static cldqn_status env_step(cldqn_trainer *t, const cldqn_train_hooks *h)
{
    const cldqn_config *c = &t->cfg;
    cldqn_status st;
    if (!t->in_episode) {
        cldqn_taxi_reset(&t->env);
        t->in_episode = 1;
        t->ep_return = 0;
        t->ep_len = 0;
    }
    int s = t->env.state;
    float eps = cldqn_config_epsilon(c, t->stats.steps);
    t->stats.epsilon = eps;
    /* Both draws happen every step so the stream never depends on epsilon. */
    float coin = cldqn_rng_float(&t->explore);
    int a = (int)cldqn_rng_below(&t->explore, CLDQN_TAXI_ACTIONS);
    if (!(coin < eps)) {
        if (t->act_state != s) {
            int32_t s32 = s;
            st = cldqn_qnet_greedy(t->net, &s32, 1, &t->act_action);
            if (st) return st;
            t->act_state = s;
        }
        a = t->act_action;
    }
    cldqn_taxi_step_result r;
    st = cldqn_taxi_step(&t->env, a, &r);
    if (st) return st;
    cldqn_transition tr = {(uint16_t)s,      (uint16_t)r.next_state,       (uint8_t)a,
                           (int8_t)r.reward, (uint8_t)(r.terminated != 0), 0};
    cldqn_replay_push(t->rb, &tr);
    t->stats.steps++;
    t->ep_return += r.reward;
    t->ep_len++;
    int capped = c->episode_steps > 0 && t->ep_len >= c->episode_steps;
    int can_learn = (int64_t)cldqn_replay_size(t->rb) > c->learning_starts &&
                    cldqn_replay_size(t->rb) >= (size_t)c->batch;

    if (c->target_every == 0) {
        /* The seed: `if done: align target; break` comes before retrain. */
        if (r.terminated) {
            st = sync_target(t);
            if (st) return st;
            end_episode(t, h, 1);
            return CLDQN_OK;
        }
        if (can_learn && t->stats.steps % c->train_every == 0) {
            st = learn(t, r.next_state);
            if (st) return st;
        }
        if (r.truncated || capped) end_episode(t, h, 0);
        return CLDQN_OK;
    }
    if (can_learn && t->stats.steps % c->train_every == 0) {
        st = learn(t, r.next_state);
        if (st) return st;
    }
    if (t->stats.steps % c->target_every == 0) {
        st = sync_target(t);
        if (st) return st;
    }
    if (r.terminated || r.truncated || capped) end_episode(t, h, r.terminated);
    return CLDQN_OK;
}

static int limits_reached(const cldqn_trainer *t)
{
    const cldqn_config *c = &t->cfg;
    if (c->steps > 0 && t->stats.steps >= c->steps) return 1;
    if (c->episodes > 0 && t->stats.episodes >= c->episodes) return 1;
    if (c->until_optimal && t->stats.reached_optimal) return 1;
    return 0;
}

cldqn_status cldqn_trainer_run(cldqn_trainer *t, const cldqn_train_hooks *h)
{
    cldqn_set_flush_denormals();
    const cldqn_config *c = &t->cfg;
    double start = now_s(), base = t->stats.elapsed;
    cldqn_status st = CLDQN_OK;
    while (!limits_reached(t)) {
        if (h && h->stop && *h->stop) {
            st = cldqn_fail(CLDQN_ERR_INTERRUPT, "interrupted after %" PRId64 " steps",
                            t->stats.steps);
            break;
        }
        st = env_step(t, h);
        t->stats.elapsed = base + (now_s() - start);
        if (st) break;
        if (c->eval_every > 0 && t->stats.steps % c->eval_every == 0 && !c->taxi.is_rainy &&
            !c->taxi.fickle_passenger) {
            st = cldqn_trainer_evaluate(t);
            if (st) break;
            t->stats.elapsed = base + (now_s() - start);
            if (t->stats.reached_optimal && !t->stats.optimal_steps) {
                t->stats.optimal_steps = t->stats.steps;
                t->stats.optimal_updates = t->stats.updates;
                t->stats.optimal_elapsed = t->stats.elapsed;
            }
            if (h && h->on_eval) h->on_eval(h->ctx, t);
        }
        if (c->save_every > 0 && c->out[0] && t->stats.steps % c->save_every == 0) {
            st = cldqn_trainer_save(t, c->out);
            if (st) break;
            if (h && h->on_save) h->on_save(h->ctx, t, c->out);
        }
        if (h && h->on_tick) h->on_tick(h->ctx, t);
    }
    t->stats.elapsed = base + (now_s() - start);
    return st;
}

/* ---- save and resume ----------------------------------------------------- */

static char *state_path(const char *path)
{
    size_t n = strlen(path);
    char *p = malloc(n + sizeof CLDQN_STATE_SUFFIX);
    if (p) {
        memcpy(p, path, n);
        memcpy(p + n, CLDQN_STATE_SUFFIX, sizeof CLDQN_STATE_SUFFIX);
    }
    return p;
}

#define N_META_NUM 20

/* CLDQN_ERR_NUMERIC naming the tensor and element of the first non-finite
 * value in a flat parameter-shaped array (what: "", "target ", "Adam m of "). */
static cldqn_status check_finite(const cldqn_trainer *t, const char *what, const float *x)
{
    for (size_t i = 0; i < t->lay.total; i++) {
        if (isfinite(x[i])) continue;
        for (int k = 0; k < t->lay.n_tensors; k++) {
            const cldqn_tensor *ts = &t->lay.t[k];
            size_t j = i - ts->offset;
            if (i < ts->offset || j >= cldqn_tensor_numel(ts)) continue;
            char at[48];
            if (ts->cols)
                snprintf(at, sizeof at, "[%zu, %zu]", j / (size_t)ts->cols, j % (size_t)ts->cols);
            else
                snprintf(at, sizeof at, "[%zu]", j);
            return cldqn_fail(CLDQN_ERR_NUMERIC,
                              "non-finite %s%s%s (%g) at step %" PRId64
                              ": not saved; the last checkpoint saved is kept",
                              what, ts->name, at, (double)x[i], t->stats.steps);
        }
        return cldqn_fail(CLDQN_ERR_NUMERIC, "non-finite %sparameter %zu at step %" PRId64, what, i,
                          t->stats.steps);
    }
    return CLDQN_OK;
}

cldqn_status cldqn_trainer_save(cldqn_trainer *t, const char *path)
{
    size_t total = t->lay.total, n_rb = cldqn_replay_size(t->rb);
    float *target = NULL, *m = NULL, *v = NULL;
    cldqn_transition *items = NULL;
    char *spath = state_path(path);
    cldqn_status st = CLDQN_OK;
    target = malloc(total * sizeof(float));
    m = malloc(total * sizeof(float));
    v = malloc(total * sizeof(float));
    items = malloc((n_rb ? n_rb : 1) * sizeof *items);
    if (!spath || !target || !m || !v || !items) {
        st = cldqn_fail(CLDQN_ERR_NOMEM, "out of memory saving '%s'", path);
        goto out;
    }
    if ((st = cldqn_qnet_read(t->net, CLDQN_BUF_PARAMS, t->scratch)) ||
        (st = cldqn_qnet_read(t->net, CLDQN_BUF_TARGET, target)) ||
        (st = cldqn_qnet_read(t->net, CLDQN_BUF_ADAM_M, m)) ||
        (st = cldqn_qnet_read(t->net, CLDQN_BUF_ADAM_V, v)))
        goto out;
    /* Numeric guard: never replace a good checkpoint with non-finite numbers. */
    if ((st = check_finite(t, "", t->scratch)) || (st = check_finite(t, "target ", target)) ||
        (st = check_finite(t, "Adam m of ", m)) || (st = check_finite(t, "Adam v of ", v)))
        goto out;
    for (size_t i = 0; i < n_rb; i++) items[i] = *cldqn_replay_get(t->rb, i);
    uint64_t rngs[3][2] = {{t->env.rng.state, t->env.rng.inc},
                           {t->explore.state, t->explore.inc},
                           {t->sample.state, t->sample.inc}};
    int32_t returns[CLDQN_RETURN_WINDOW];
    int64_t n_ret =
        t->stats.episodes < CLDQN_RETURN_WINDOW ? t->stats.episodes : CLDQN_RETURN_WINDOW;
    memcpy(returns, t->returns, sizeof returns);
    cldqn_st_entry e[] = {
        /* The online weights again: the state file alone is a complete
         * checkpoint, for when a crash lands between its rename and the
         * weights file's (see cldqn_trainer_resume). */
        {"params", "F32", 1, {(int64_t)total}, t->scratch},
        {"target", "F32", 1, {(int64_t)total}, target},
        {"adam_m", "F32", 1, {(int64_t)total}, m},
        {"adam_v", "F32", 1, {(int64_t)total}, v},
        {"replay", "U8", 2, {(int64_t)n_rb, (int64_t)sizeof(cldqn_transition)}, items},
        {"rng", "U64", 2, {3, 2}, rngs},
        {"returns", "I32", 1, {CLDQN_RETURN_WINDOW}, returns},
    };
    int ne = (int)(sizeof e / sizeof e[0]);
    (void)n_ret;
    uint64_t dh = CLDQN_FNV_OFFSET;
    for (int i = 0; i < ne; i++) {
        size_t bytes = (size_t)e[i].shape[0] * (e[i].ndim > 1 ? (size_t)e[i].shape[1] : 1) *
                       (e[i].dtype[0] == 'U' && e[i].dtype[1] == '8' ? 1
                        : e[i].dtype[1] == '6'                       ? 8
                                                                     : 4);
        dh = cldqn_fnv1a(dh, e[i].data, bytes);
    }
    char prev_hex[20] = "";
    if (t->saved_path && !strcmp(t->saved_path, path))
        snprintf(prev_hex, sizeof prev_hex, "%016" PRIx64, t->saved_hash);
    uint64_t ph = cldqn_fnv1a(CLDQN_FNV_OFFSET, t->scratch, total * sizeof(float));
    char num[N_META_NUM][40];
    int k = 0;
#define NUM(fmt, val) (snprintf(num[k], sizeof num[k], fmt, val), num[k++])
    const char *meta[] = {"format",
                          "cldqn-state",
                          "version",
                          CLDQN_VERSION,
                          "params_hash",
                          NUM("%016" PRIx64, ph),
                          "data_hash",
                          NUM("%016" PRIx64, dh),
                          "adam_step",
                          NUM("%d", cldqn_qnet_adam_step(t->net)),
                          "steps",
                          NUM("%" PRId64, t->stats.steps),
                          "episodes",
                          NUM("%" PRId64, t->stats.episodes),
                          "updates",
                          NUM("%" PRId64, t->stats.updates),
                          "target_syncs",
                          NUM("%" PRId64, t->stats.target_syncs),
                          "elapsed",
                          NUM("%.17g", t->stats.elapsed),
                          "in_episode",
                          NUM("%d", t->in_episode),
                          "ep_return",
                          NUM("%d", t->ep_return),
                          "ep_len",
                          NUM("%d", t->ep_len),
                          "env_state",
                          NUM("%d", t->env.state),
                          "env_fickle_step",
                          NUM("%d", t->env.fickle_step),
                          "env_steps",
                          NUM("%d", t->env.steps),
                          "env_last_action",
                          NUM("%d", t->env.last_action),
                          "replay_pushed",
                          NUM("%" PRIu64, cldqn_replay_pushed(t->rb)),
                          "loss_sum",
                          NUM("%.17g", t->loss_sum),
                          "loss_count",
                          NUM("%" PRId64, t->loss_count),
                          "prev_params_hash",
                          prev_hex,
                          NULL};
#undef NUM
    /* State first: a crash between the two renames leaves the new state
     * (which holds the new weights too) beside the old weights file; resume
     * detects the pair by params_hash and takes the state's own weights. */
    st = cldqn_st_write(spath, e, ne, meta);
    if (st) goto out;
    char steps_txt[32];
    snprintf(steps_txt, sizeof steps_txt, "%" PRId64, t->stats.steps);
    const char *extra[] = {"steps", steps_txt, NULL};
    st = cldqn_checkpoint_save(path, &t->cfg, &t->lay, t->scratch, extra);
    if (!st && (!t->saved_path || strcmp(t->saved_path, path))) {
        free(t->saved_path);
        t->saved_path = strdup(path); /* NULL only loses the crash recovery */
    }
    t->saved_hash = ph;
out:
    free(spath);
    free(target);
    free(m);
    free(v);
    free(items);
    return st;
}

static cldqn_status meta_i64(const cldqn_st_file *f, const char *path, const char *key, int64_t lo,
                             int64_t hi, int64_t *out)
{
    const char *s = cldqn_st_meta(f, key);
    char *end;
    if (!s || !*s) return cldqn_fail(CLDQN_ERR_FORMAT, "'%s': missing '%s'", path, key);
    long long v = strtoll(s, &end, 10);
    if (*end || v < lo || v > hi)
        return cldqn_fail(CLDQN_ERR_FORMAT, "'%s': bad '%s' = '%s'", path, key, s);
    *out = v;
    return CLDQN_OK;
}

static cldqn_status meta_f64(const cldqn_st_file *f, const char *path, const char *key, double *out)
{
    const char *s = cldqn_st_meta(f, key);
    char *end;
    if (!s || !*s) return cldqn_fail(CLDQN_ERR_FORMAT, "'%s': missing '%s'", path, key);
    *out = strtod(s, &end);
    if (*end || !isfinite(*out))
        return cldqn_fail(CLDQN_ERR_FORMAT, "'%s': bad '%s' = '%s'", path, key, s);
    return CLDQN_OK;
}

cldqn_status cldqn_trainer_resume(const cldqn_config *cfg, const char *path, cldqn_trainer **out)
{
    cldqn_set_flush_denormals();
    *out = NULL;
    cldqn_config stored;
    cldqn_layout lay;
    float *params = NULL;
    cldqn_st_file *f = NULL;
    cldqn_trainer *t = NULL;
    char *spath = state_path(path);
    if (!spath) return cldqn_fail(CLDQN_ERR_NOMEM, "out of memory");
    cldqn_status st = cldqn_checkpoint_load(path, &stored, &lay, &params);
    if (st) goto fail;
    if (stored.shape.embed != cfg->shape.embed || stored.shape.hidden != cfg->shape.hidden ||
        stored.shape.layers != cfg->shape.layers) {
        st = cldqn_fail(CLDQN_ERR_FORMAT,
                        "'%s': network shape embed %d hidden %d layers %d does not match the "
                        "configuration (%d, %d, %d)",
                        path, stored.shape.embed, stored.shape.hidden, stored.shape.layers,
                        cfg->shape.embed, cfg->shape.hidden, cfg->shape.layers);
        goto fail;
    }
    st = cldqn_st_read(spath, &f);
    if (st) goto fail;
    const char *fmt = cldqn_st_meta(f, "format"), *dh = cldqn_st_meta(f, "data_hash"),
               *ph = cldqn_st_meta(f, "params_hash");
    char hex[20];
    if (!fmt || strcmp(fmt, "cldqn-state") || !dh || !ph) {
        st = cldqn_fail(CLDQN_ERR_FORMAT, "'%s': not a cldqn training state", spath);
        goto fail;
    }
    snprintf(hex, sizeof hex, "%016" PRIx64, cldqn_st_data_hash(f));
    if (strcmp(hex, dh)) {
        st = cldqn_fail(CLDQN_ERR_FORMAT, "'%s': checksum mismatch (corrupt state)", spath);
        goto fail;
    }
    snprintf(hex, sizeof hex, "%016" PRIx64,
             cldqn_fnv1a(CLDQN_FNV_OFFSET, params, lay.total * sizeof(float)));
    uint64_t file_hash = cldqn_fnv1a(CLDQN_FNV_OFFSET, params, lay.total * sizeof(float));
    if (strcmp(hex, ph)) {
        /* A save interrupted between the two renames leaves the new state
         * beside the weights it was replacing (prev_params_hash); the state
         * carries its own copy of the new weights. Anything else is a state
         * paired with foreign weights. */
        const char *prev = cldqn_st_meta(f, "prev_params_hash");
        const void *own;
        int64_t pshape[1] = {(int64_t)lay.total};
        char own_hex[20] = "";
        if (cldqn_st_get(f, "params", "F32", 1, pshape, &own, NULL) == CLDQN_OK)
            snprintf(own_hex, sizeof own_hex, "%016" PRIx64,
                     cldqn_fnv1a(CLDQN_FNV_OFFSET, own, lay.total * sizeof(float)));
        cldqn_clear_error();
        if (!prev || strcmp(prev, hex) || strcmp(own_hex, ph)) {
            st = cldqn_fail(CLDQN_ERR_FORMAT, "'%s' does not belong to the weights in '%s'", spath,
                            path);
            goto fail;
        }
        memcpy(params, own, lay.total * sizeof(float));
    }
    st = trainer_alloc(cfg, &t);
    if (st) goto fail;
    int64_t total = (int64_t)lay.total;
    const void *target, *m, *v, *rng, *items, *returns;
    size_t rb_bytes;
    int64_t shp[2] = {total, 0}, rshape[2] = {3, 2}, wshape[1] = {CLDQN_RETURN_WINDOW};
    if ((st = cldqn_st_get(f, "target", "F32", 1, shp, &target, NULL)) ||
        (st = cldqn_st_get(f, "adam_m", "F32", 1, shp, &m, NULL)) ||
        (st = cldqn_st_get(f, "adam_v", "F32", 1, shp, &v, NULL)) ||
        (st = cldqn_st_get(f, "rng", "U64", 2, rshape, &rng, NULL)) ||
        (st = cldqn_st_get(f, "returns", "I32", 1, wshape, &returns, NULL)) ||
        (st = cldqn_st_get(f, "replay", "U8", 0, NULL, &items, &rb_bytes)))
        goto fail;
    if (rb_bytes % sizeof(cldqn_transition) ||
        rb_bytes / sizeof(cldqn_transition) > (size_t)cfg->replay) {
        st = cldqn_fail(CLDQN_ERR_FORMAT, "'%s': replay memory does not fit --replay %lld", spath,
                        (long long)cfg->replay);
        goto fail;
    }
    int64_t adam_step, pushed, in_ep, ep_ret, ep_len, es, efs, esteps, ela, lcount;
    const int64_t BIGI = INT64_MAX / 2;
    if ((st = meta_i64(f, spath, "adam_step", 0, INT32_MAX, &adam_step)) ||
        (st = meta_i64(f, spath, "steps", 0, BIGI, &t->stats.steps)) ||
        (st = meta_i64(f, spath, "episodes", 0, BIGI, &t->stats.episodes)) ||
        (st = meta_i64(f, spath, "updates", 0, BIGI, &t->stats.updates)) ||
        (st = meta_i64(f, spath, "target_syncs", 0, BIGI, &t->stats.target_syncs)) ||
        (st = meta_i64(f, spath, "in_episode", 0, 1, &in_ep)) ||
        (st = meta_i64(f, spath, "ep_return", INT32_MIN, INT32_MAX, &ep_ret)) ||
        (st = meta_i64(f, spath, "ep_len", 0, INT32_MAX, &ep_len)) ||
        (st = meta_i64(f, spath, "env_state", -1, CLDQN_TAXI_STATES - 1, &es)) ||
        (st = meta_i64(f, spath, "env_fickle_step", INT32_MIN, INT32_MAX, &efs)) ||
        (st = meta_i64(f, spath, "env_steps", 0, INT32_MAX, &esteps)) ||
        (st = meta_i64(f, spath, "env_last_action", -1, CLDQN_TAXI_ACTIONS - 1, &ela)) ||
        (st = meta_i64(f, spath, "replay_pushed", 0, BIGI, &pushed)) ||
        (st = meta_i64(f, spath, "loss_count", 0, BIGI, &lcount)) ||
        (st = meta_f64(f, spath, "loss_sum", &t->loss_sum)) ||
        (st = meta_f64(f, spath, "elapsed", &t->stats.elapsed)))
        goto fail;
    st = cldqn_replay_restore(t->rb, items, rb_bytes / sizeof(cldqn_transition), (uint64_t)pushed);
    if (st) goto fail;
    st = make_qnet(t, params);
    if (st) goto fail;
    if ((st = cldqn_qnet_write(t->net, CLDQN_BUF_TARGET, target)) ||
        (st = cldqn_qnet_write(t->net, CLDQN_BUF_ADAM_M, m)) ||
        (st = cldqn_qnet_write(t->net, CLDQN_BUF_ADAM_V, v)))
        goto fail;
    cldqn_qnet_set_adam_step(t->net, (int)adam_step);
    const uint64_t *r = rng;
    t->env.rng.state = r[0];
    t->env.rng.inc = r[1];
    t->explore.state = r[2];
    t->explore.inc = r[3];
    t->sample.state = r[4];
    t->sample.inc = r[5];
    t->env.state = (int)es;
    t->env.fickle_step = (int)efs;
    t->env.steps = (int)esteps;
    t->env.last_action = (int)ela;
    t->in_episode = (int)in_ep;
    t->ep_return = (int)ep_ret;
    t->ep_len = (int)ep_len;
    t->loss_count = lcount;
    memcpy(t->returns, returns, sizeof t->returns);
    update_mean_return(t);
    t->stats.epsilon = cldqn_config_epsilon(cfg, t->stats.steps);
    t->saved_path = strdup(path); /* NULL only loses the crash recovery */
    t->saved_hash = file_hash;
    cldqn_st_free(f);
    free(params);
    free(spath);
    *out = t;
    return CLDQN_OK;
fail:
    cldqn_trainer_free(t);
    cldqn_st_free(f);
    free(params);
    free(spath);
    return st;
}
