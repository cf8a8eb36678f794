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

/* One of the vectorised envs and its episode in progress. */
typedef struct {
    cldqn_taxi env;
    int in_episode; /* env holds an unfinished episode */
    int ep_return, ep_len;
    double loss_sum; /* of the updates since this env's episode began */
    int64_t loss_count;
} env_slot;

struct cldqn_trainer {
    cldqn_config cfg;
    cldqn_layout lay;
    cldqn_qnet *net;
    cldqn_replay *rb;
    int n_envs;
    env_slot *envs; /* (n_envs) */
    int report_env; /* env whose episode on_episode reports */
    cldqn_rng explore, sample;
    /* Greedy action of act_state under the current online weights, returned
     * by the last update; act_state -1 when the weights changed since. */
    int32_t act_state, act_action;
    int returns[CLDQN_RETURN_WINDOW]; /* ring of recent episode returns */
    cldqn_train_stats stats;
    /* Per-iteration scratch, (n_envs) each: actions, step results, and the
     * states (with their env) that need a greedy action from the network. */
    int *act;
    cldqn_taxi_step_result *res;
    int32_t *g_state, *g_action;
    int *g_env;
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
    /* Profiling (cldqn_trainer_set_trace): phases are recorded while the
     * iteration starts at a step in [trace_from, trace_to). */
    cldqn_trace *trace;
    int64_t trace_from, trace_to;
    int tracing; /* the window is open */
    double window_start;
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
    free(t->envs);
    free(t->act);
    free(t->res);
    free(t->g_state);
    free(t->g_action);
    free(t->g_env);
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
    size_t N = (size_t)cfg->envs;
    t->n_envs = cfg->envs;
    t->envs = calloc(N, sizeof *t->envs);
    t->act = malloc(N * sizeof *t->act);
    t->res = malloc(N * sizeof *t->res);
    t->g_state = malloc(N * sizeof(int32_t));
    t->g_action = malloc(N * sizeof(int32_t));
    t->g_env = malloc(N * sizeof(int));
    if (!t->idx || !t->b_state || !t->b_action || !t->b_next || !t->b_reward || !t->b_term ||
        !t->scratch || !t->envs || !t->act || !t->res || !t->g_state || !t->g_action || !t->g_env) {
        st = cldqn_fail(CLDQN_ERR_NOMEM, "out of memory creating the trainer");
        goto fail;
    }
    st = cldqn_replay_create((size_t)cfg->replay, &t->rb);
    if (st) goto fail;
    for (int i = 0; i < t->n_envs; i++) {
        st = cldqn_taxi_init(&t->envs[i].env, &cfg->taxi, cfg->seed);
        if (st) goto fail;
        cldqn_rng_seed(&t->envs[i].env.rng, cfg->seed, CLDQN_ENV_STREAM(i));
    }
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
    /* Evaluation asks for all 500 states, acting for one per env. */
    o.max_states = t->cfg.envs > CLDQN_TAXI_STATES ? t->cfg.envs : CLDQN_TAXI_STATES;
    o.path = t->cfg.path;
    o.profile = t->cfg.profile[0] != 0; /* profiling events only when asked for */
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
    return &t->envs[t->report_env].env;
}
int cldqn_trainer_envs(const cldqn_trainer *t)
{
    return t->n_envs;
}
const cldqn_taxi *cldqn_trainer_env_at(const cldqn_trainer *t, int i)
{
    return i >= 0 && i < t->n_envs ? &t->envs[i].env : NULL;
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

/* ---- profiling: spans of the loop's phases while the window is open ----- */

static double phase_begin(const cldqn_trainer *t)
{
    return t->tracing ? cldqn_trace_now() : 0.0;
}

static void phase_end(const cldqn_trainer *t, const char *name, double t0)
{
    if (t->tracing)
        cldqn_trace_span(t->trace, name, "phase", t0, cldqn_trace_now(), CLDQN_TRACE_TID_HOST);
}

/* Opens or closes the window (and the qnet's own recording) for the
 * iteration about to start; closing records the window's span. */
static void trace_window(cldqn_trainer *t, int open)
{
    if (open == t->tracing) return;
    double now = cldqn_trace_now();
    if (open)
        t->window_start = now;
    else
        cldqn_trace_span(t->trace, "profile window", "window", t->window_start, now,
                         CLDQN_TRACE_TID_HOST);
    t->tracing = open;
    cldqn_trace_set_failed(t->trace, cldqn_qnet_set_trace(t->net, open ? t->trace : NULL));
}

cldqn_status cldqn_trainer_set_trace(cldqn_trainer *t, cldqn_trace *tr, int64_t from_step,
                                     int64_t n_steps)
{
    if (!t || from_step < 0 || n_steps < 0)
        return cldqn_fail(CLDQN_ERR_ARG, "trainer_set_trace: bad argument");
    if (t->tracing) trace_window(t, 0);
    t->trace = tr;
    t->trace_from = from_step;
    t->trace_to = n_steps && from_step <= INT64_MAX - n_steps ? from_step + n_steps : INT64_MAX;
    return CLDQN_OK;
}

/* One update on a sampled minibatch; it also returns the greedy action for
 * next_state, the state the agent acts in next unless the episode ends. */
static cldqn_status learn(cldqn_trainer *t, int next_state)
{
    const cldqn_config *c = &t->cfg;
    double p0 = phase_begin(t);
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
    phase_end(t, "replay sample", p0);
    cldqn_batch b = {c->batch, t->b_state, t->b_action, t->b_reward, t->b_next, t->b_term};
    float loss = NAN;
    t->act_state = -1;
    p0 = phase_begin(t);
    st = cldqn_qnet_update_act(t->net, &b, next_state, &loss, &t->act_action);
    phase_end(t, "update", p0);
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
    /* The update falls into every env's current episode. */
    for (int i = 0; i < t->n_envs; i++) {
        t->envs[i].loss_sum += loss;
        t->envs[i].loss_count++;
    }
    return CLDQN_OK;
}

static cldqn_status sync_target(cldqn_trainer *t)
{
    t->stats.target_syncs++;
    double p0 = phase_begin(t);
    cldqn_status st = cldqn_qnet_sync_target(t->net);
    phase_end(t, "target sync", p0);
    return st;
}

static void end_episode(cldqn_trainer *t, const cldqn_train_hooks *h, int i, int terminated)
{
    env_slot *e = &t->envs[i];
    t->returns[t->stats.episodes % CLDQN_RETURN_WINDOW] = e->ep_return;
    t->stats.episodes++;
    t->stats.last_return = e->ep_return;
    t->stats.last_length = e->ep_len;
    t->stats.episode_loss = e->loss_count ? (float)(e->loss_sum / (double)e->loss_count) : NAN;
    update_mean_return(t);
    e->in_episode = 0;
    t->report_env = i;
    if (h && h->on_episode) h->on_episode(h->ctx, t, terminated);
    t->report_env = 0;
    e->loss_sum = 0;
    e->loss_count = 0;
}

/* Did a counter going from `before` to `after` pass a multiple of k? With one
 * step at a time this is `after % k == 0`. */
static int crossed(int64_t before, int64_t after, int64_t k)
{
    return after / k > before / k;
}

/* Updates earned by the env steps before+1 .. after: one per step j that is
 * a multiple of train_every and after which the memory held more than
 * learning_starts and at least batch transitions, as a one-env loop would
 * update after step j. Called after the iteration's pushes. */
static int64_t updates_due(const cldqn_trainer *t, int64_t before, int64_t after)
{
    const cldqn_config *c = &t->cfg;
    const int64_t cap = (int64_t)cldqn_replay_capacity(t->rb);
    int64_t need = c->learning_starts + 1 > c->batch ? c->learning_starts + 1 : c->batch;
    /* The memory holds min(pushed, capacity) after a step. */
    const int64_t pushed = (int64_t)cldqn_replay_pushed(t->rb);
    if (need > cap || pushed < need) return 0;
    /* Step j pushed pushed - (after - j) transitions in all: the first
     * step with enough, minus one, bounds the steps that count. */
    int64_t lo = after - (pushed - need) - 1;
    if (lo < before) lo = before;
    return after / c->train_every - lo / c->train_every;
}

/* One iteration: one env step in each env, then its updates, target sync and
 * episode ends (the order of trainer.h). */
static cldqn_status iteration(cldqn_trainer *t, const cldqn_train_hooks *h)
{
    const cldqn_config *c = &t->cfg;
    const int N = t->n_envs;
    const int64_t before = t->stats.steps;
    cldqn_status st;
    for (int i = 0; i < N; i++) {
        env_slot *e = &t->envs[i];
        if (e->in_episode) continue;
        cldqn_taxi_reset(&e->env);
        e->in_episode = 1;
        e->ep_return = 0;
        e->ep_len = 0;
    }
    /* Epsilon-greedy in env order; the greedy actions come afterwards from
     * one launch for all exploiting envs whose state the act cache misses. */
    int n_greedy = 0;
    for (int i = 0; i < N; i++) {
        int s = t->envs[i].env.state;
        float eps = cldqn_config_epsilon(c, before + i);
        t->stats.epsilon = eps;
        /* Both draws happen every step so the stream never depends on epsilon. */
        float coin = cldqn_rng_float(&t->explore);
        t->act[i] = (int)cldqn_rng_below(&t->explore, CLDQN_TAXI_ACTIONS);
        if (coin < eps) continue;
        if (t->act_state == s) {
            t->act[i] = t->act_action;
            continue;
        }
        t->g_state[n_greedy] = s;
        t->g_env[n_greedy++] = i;
    }
    if (n_greedy) {
        st = cldqn_qnet_greedy(t->net, t->g_state, n_greedy, t->g_action);
        if (st) return st;
        for (int k = 0; k < n_greedy; k++) t->act[t->g_env[k]] = t->g_action[k];
        t->act_state = t->g_state[n_greedy - 1];
        t->act_action = t->g_action[n_greedy - 1];
    }
    for (int i = 0; i < N; i++) {
        env_slot *e = &t->envs[i];
        int s = e->env.state, a = t->act[i];
        cldqn_taxi_step_result *r = &t->res[i];
        st = cldqn_taxi_step(&e->env, a, r);
        if (st) return st;
        cldqn_transition tr = {(uint16_t)s,       (uint16_t)r->next_state,       (uint8_t)a,
                               (int8_t)r->reward, (uint8_t)(r->terminated != 0), 0};
        cldqn_replay_push(t->rb, &tr);
        t->stats.steps++;
        e->ep_return += r->reward;
        e->ep_len++;
    }
    const int64_t after = t->stats.steps;
    int can_learn = (int64_t)cldqn_replay_size(t->rb) > c->learning_starts &&
                    cldqn_replay_size(t->rb) >= (size_t)c->batch;

    if (c->target_every == 0) {
        /* The seed (one env, cldqn_config_check): `if done: align target;
         * break` comes before retrain. */
        const cldqn_taxi_step_result *r = &t->res[0];
        int capped = c->episode_steps > 0 && t->envs[0].ep_len >= c->episode_steps;
        if (r->terminated) {
            st = sync_target(t);
            if (st) return st;
            end_episode(t, h, 0, 1);
            return CLDQN_OK;
        }
        if (can_learn && crossed(before, after, c->train_every)) {
            st = learn(t, r->next_state);
            if (st) return st;
        }
        if (r->truncated || capped) end_episode(t, h, 0, 0);
        return CLDQN_OK;
    }
    int64_t n_updates = can_learn ? updates_due(t, before, after) : 0;
    if (n_updates > 0) {
        /* The update also returns the greedy action for one state: that of
         * the first env whose episode goes on (env 0's if none does). */
        int next = t->res[0].next_state;
        for (int i = 0; i < N; i++) {
            const cldqn_taxi_step_result *r = &t->res[i];
            int capped = c->episode_steps > 0 && t->envs[i].ep_len >= c->episode_steps;
            if (!(r->terminated || r->truncated || capped)) {
                next = r->next_state;
                break;
            }
        }
        for (int64_t k = 0; k < n_updates; k++) {
            st = learn(t, next);
            if (st) return st;
        }
    }
    if (crossed(before, after, c->target_every)) {
        st = sync_target(t);
        if (st) return st;
    }
    for (int i = 0; i < N; i++) {
        const cldqn_taxi_step_result *r = &t->res[i];
        int capped = c->episode_steps > 0 && t->envs[i].ep_len >= c->episode_steps;
        if (r->terminated || r->truncated || capped) end_episode(t, h, i, r->terminated);
    }
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
        const int64_t before = t->stats.steps;
        if (t->trace)
            trace_window(t, t->stats.steps >= t->trace_from && t->stats.steps < t->trace_to);
        double p0 = phase_begin(t);
        st = iteration(t, h);
        phase_end(t, "train step", p0);
        t->stats.elapsed = base + (now_s() - start);
        if (st) break;
        const int64_t after = t->stats.steps;
        if (c->eval_every > 0 && crossed(before, after, c->eval_every) && !c->taxi.is_rainy &&
            !c->taxi.fickle_passenger) {
            p0 = phase_begin(t);
            st = cldqn_trainer_evaluate(t);
            phase_end(t, "evaluation", p0);
            if (st) break;
            t->stats.elapsed = base + (now_s() - start);
            if (t->stats.reached_optimal && !t->stats.optimal_steps) {
                t->stats.optimal_steps = t->stats.steps;
                t->stats.optimal_updates = t->stats.updates;
                t->stats.optimal_elapsed = t->stats.elapsed;
            }
            if (h && h->on_eval) h->on_eval(h->ctx, t);
        }
        if (c->save_every > 0 && c->out[0] && crossed(before, after, c->save_every)) {
            p0 = phase_begin(t);
            st = cldqn_trainer_save(t, c->out);
            phase_end(t, "checkpoint save", p0);
            if (st) break;
            if (h && h->on_save) h->on_save(h->ctx, t, c->out);
        }
        if (h && h->on_tick) h->on_tick(h->ctx, t);
    }
    if (t->trace) trace_window(t, 0);
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

/* Per-env row of the "envs" tensor (I64) that state files of runs with
 * envs > 1 carry; files without it hold one env in the env_* metadata. */
enum {
    EF_RNG_STATE, /* uint64 bits */
    EF_RNG_INC,
    EF_STATE,
    EF_FICKLE_STEP,
    EF_STEPS,
    EF_LAST_ACTION,
    EF_IN_EPISODE,
    EF_RETURN,
    EF_LENGTH,
    EF_LOSS_COUNT,
    EF_LOSS_SUM, /* double bits */
    EF_COUNT
};

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
    int64_t *env_rows = malloc((size_t)t->n_envs * EF_COUNT * sizeof(int64_t));
    if (!spath || !target || !m || !v || !items || !env_rows) {
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
    for (int i = 0; i < t->n_envs; i++) {
        const env_slot *es = &t->envs[i];
        int64_t *row = env_rows + (size_t)i * EF_COUNT;
        memcpy(&row[EF_RNG_STATE], &es->env.rng.state, 8);
        memcpy(&row[EF_RNG_INC], &es->env.rng.inc, 8);
        row[EF_STATE] = es->env.state;
        row[EF_FICKLE_STEP] = es->env.fickle_step;
        row[EF_STEPS] = es->env.steps;
        row[EF_LAST_ACTION] = es->env.last_action;
        row[EF_IN_EPISODE] = es->in_episode;
        row[EF_RETURN] = es->ep_return;
        row[EF_LENGTH] = es->ep_len;
        row[EF_LOSS_COUNT] = es->loss_count;
        memcpy(&row[EF_LOSS_SUM], &es->loss_sum, 8);
    }
    const env_slot *e0 = &t->envs[0];
    uint64_t rngs[3][2] = {{e0->env.rng.state, e0->env.rng.inc},
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
        /* Every env (env 0 again), only with more than one: a single-env
         * state file keeps the layout it had before vectorised envs. */
        {"envs", "I64", 2, {t->n_envs, EF_COUNT}, env_rows},
    };
    int ne = (int)(sizeof e / sizeof e[0]) - (t->n_envs == 1);
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
    char num[N_META_NUM][40], envs_txt[16];
    snprintf(envs_txt, sizeof envs_txt, "%d", t->n_envs);
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
                          NUM("%d", e0->in_episode),
                          "ep_return",
                          NUM("%d", e0->ep_return),
                          "ep_len",
                          NUM("%d", e0->ep_len),
                          "env_state",
                          NUM("%d", e0->env.state),
                          "env_fickle_step",
                          NUM("%d", e0->env.fickle_step),
                          "env_steps",
                          NUM("%d", e0->env.steps),
                          "env_last_action",
                          NUM("%d", e0->env.last_action),
                          "replay_pushed",
                          NUM("%" PRIu64, cldqn_replay_pushed(t->rb)),
                          "loss_sum",
                          NUM("%.17g", e0->loss_sum),
                          "loss_count",
                          NUM("%" PRId64, e0->loss_count),
                          "prev_params_hash",
                          prev_hex,
                          t->n_envs > 1 ? "envs" : NULL, /* ends the list with one env */
                          envs_txt,
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
    free(env_rows);
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

/* Every env's row of the "envs" tensor, checked as the env_* metadata are. */
static cldqn_status restore_envs(cldqn_trainer *t, const cldqn_st_file *f, const char *spath)
{
    const void *data;
    int64_t shape[2] = {t->n_envs, EF_COUNT};
    cldqn_status st = cldqn_st_get(f, "envs", "I64", 2, shape, &data, NULL);
    if (st) return st;
    for (int i = 0; i < t->n_envs; i++) {
        int64_t row[EF_COUNT];
        memcpy(row, (const char *)data + (size_t)i * sizeof row, sizeof row);
        env_slot *e = &t->envs[i];
        double loss_sum;
        memcpy(&loss_sum, &row[EF_LOSS_SUM], 8);
        if (row[EF_STATE] < -1 || row[EF_STATE] >= CLDQN_TAXI_STATES ||
            row[EF_FICKLE_STEP] < INT32_MIN || row[EF_FICKLE_STEP] > INT32_MAX ||
            row[EF_STEPS] < 0 || row[EF_STEPS] > INT32_MAX || row[EF_LAST_ACTION] < -1 ||
            row[EF_LAST_ACTION] >= CLDQN_TAXI_ACTIONS || row[EF_IN_EPISODE] < 0 ||
            row[EF_IN_EPISODE] > 1 || row[EF_RETURN] < INT32_MIN || row[EF_RETURN] > INT32_MAX ||
            row[EF_LENGTH] < 0 || row[EF_LENGTH] > INT32_MAX || row[EF_LOSS_COUNT] < 0 ||
            !isfinite(loss_sum) || (row[EF_IN_EPISODE] && row[EF_STATE] < 0))
            return cldqn_fail(CLDQN_ERR_FORMAT, "'%s': bad state of env %d", spath, i);
        memcpy(&e->env.rng.state, &row[EF_RNG_STATE], 8);
        memcpy(&e->env.rng.inc, &row[EF_RNG_INC], 8);
        e->env.state = (int)row[EF_STATE];
        e->env.fickle_step = (int)row[EF_FICKLE_STEP];
        e->env.steps = (int)row[EF_STEPS];
        e->env.last_action = (int)row[EF_LAST_ACTION];
        e->in_episode = (int)row[EF_IN_EPISODE];
        e->ep_return = (int)row[EF_RETURN];
        e->ep_len = (int)row[EF_LENGTH];
        e->loss_count = row[EF_LOSS_COUNT];
        e->loss_sum = loss_sum;
    }
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
    int64_t n_envs = 1;
    if (cldqn_st_meta(f, "envs") && (st = meta_i64(f, spath, "envs", 2, 4096, &n_envs))) goto fail;
    if (n_envs != cfg->envs) {
        st = cldqn_fail(CLDQN_ERR_FORMAT,
                        "'%s': saved with --envs %d, cannot continue with --envs %d", spath,
                        (int)n_envs, cfg->envs);
        goto fail;
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
    double loss_sum;
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
        (st = meta_f64(f, spath, "loss_sum", &loss_sum)) ||
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
    env_slot *e0 = &t->envs[0];
    e0->env.rng.state = r[0];
    e0->env.rng.inc = r[1];
    t->explore.state = r[2];
    t->explore.inc = r[3];
    t->sample.state = r[4];
    t->sample.inc = r[5];
    e0->env.state = (int)es;
    e0->env.fickle_step = (int)efs;
    e0->env.steps = (int)esteps;
    e0->env.last_action = (int)ela;
    e0->in_episode = (int)in_ep;
    e0->ep_return = (int)ep_ret;
    e0->ep_len = (int)ep_len;
    e0->loss_count = lcount;
    e0->loss_sum = loss_sum;
    if (n_envs > 1 && (st = restore_envs(t, f, spath))) goto fail;
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
