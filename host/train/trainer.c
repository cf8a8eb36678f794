/* trainer.c - the DQN loop of trainer.h and its resumable state.
 *
 * The training state (target weights, Adam moments and step, replay memory,
 * RNG streams, every env mid-episode, counters) goes to PATH.state beside the
 * weights in PATH; train_state.c defines that format (hashes that make a
 * resume with a mismatched or damaged pair fail instead of continuing from
 * the wrong place, crash safety between the two renames) for this loop and
 * the population's alike. */
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

#include "cldqn/ref.h"
#include "cldqn/replay.h"
#include "cldqn/rng.h"
#include "train_state.h"

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

/* ---- save and resume (the format: train_state.c) ------------------------- */

cldqn_status cldqn_trainer_save(cldqn_trainer *t, const char *path)
{
    const size_t total = t->lay.total, n_rb = cldqn_replay_size(t->rb);
    float *buf = malloc(3 * total * sizeof(float)); /* target, Adam m, Adam v: (total) each */
    cldqn_transition *items = malloc((n_rb ? n_rb : 1) * sizeof *items);
    cldqn_train_env *envs = malloc((size_t)t->n_envs * sizeof *envs);
    cldqn_status st = CLDQN_OK;
    if (!buf || !items || !envs) {
        st = cldqn_fail(CLDQN_ERR_NOMEM, "out of memory saving '%s'", path);
        goto out;
    }
    if ((st = cldqn_qnet_read(t->net, CLDQN_BUF_PARAMS, t->scratch)) ||
        (st = cldqn_qnet_read(t->net, CLDQN_BUF_TARGET, buf)) ||
        (st = cldqn_qnet_read(t->net, CLDQN_BUF_ADAM_M, buf + total)) ||
        (st = cldqn_qnet_read(t->net, CLDQN_BUF_ADAM_V, buf + 2 * total)))
        goto out;
    for (size_t i = 0; i < n_rb; i++) items[i] = *cldqn_replay_get(t->rb, i);
    for (int i = 0; i < t->n_envs; i++) {
        const env_slot *e = &t->envs[i];
        envs[i] = (cldqn_train_env){
            .rng = e->env.rng,
            .state = e->env.state,
            .fickle_step = e->env.fickle_step,
            .steps = e->env.steps,
            .last_action = e->env.last_action,
            .in_episode = e->in_episode,
            .ep_return = e->ep_return,
            .ep_len = e->ep_len,
            .loss_sum = e->loss_sum,
            .loss_count = e->loss_count,
        };
    }
    cldqn_train_state s = {
        .params = t->scratch,
        .target = buf,
        .adam_m = buf + total,
        .adam_v = buf + 2 * total,
        .replay = items,
        .n_replay = n_rb,
        .replay_pushed = cldqn_replay_pushed(t->rb),
        .explore = t->explore,
        .sample = t->sample,
        .adam_step = cldqn_qnet_adam_step(t->net),
        .steps = t->stats.steps,
        .episodes = t->stats.episodes,
        .updates = t->stats.updates,
        .target_syncs = t->stats.target_syncs,
        .elapsed = t->stats.elapsed,
        .n_envs = t->n_envs,
        .envs = envs,
    };
    for (int r = 0; r < CLDQN_RETURN_WINDOW; r++) s.returns[r] = t->returns[r];
    const int same = t->saved_path && !strcmp(t->saved_path, path);
    uint64_t h;
    st = cldqn_train_state_save(path, &t->cfg, &t->lay, &s, same ? &t->saved_hash : NULL, NULL, &h);
    if (!st) {
        if (!same) {
            free(t->saved_path);
            t->saved_path = strdup(path); /* NULL only loses the crash recovery */
        }
        t->saved_hash = h;
    }
out:
    free(buf);
    free(items);
    free(envs);
    return st;
}

cldqn_status cldqn_trainer_resume(const cldqn_config *cfg, const char *path, cldqn_trainer **out)
{
    cldqn_set_flush_denormals();
    *out = NULL;
    cldqn_config stored;
    cldqn_layout lay;
    cldqn_train_state s;
    uint64_t file_hash;
    cldqn_trainer *t = NULL;
    cldqn_status st = cldqn_train_state_load(path, cfg, &stored, &lay, &s, &file_hash);
    if (st) return st;
    if ((st = trainer_alloc(cfg, &t)) ||
        (st = cldqn_replay_restore(t->rb, s.replay, s.n_replay, s.replay_pushed)) ||
        (st = make_qnet(t, s.params)) ||
        (st = cldqn_qnet_write(t->net, CLDQN_BUF_TARGET, s.target)) ||
        (st = cldqn_qnet_write(t->net, CLDQN_BUF_ADAM_M, s.adam_m)) ||
        (st = cldqn_qnet_write(t->net, CLDQN_BUF_ADAM_V, s.adam_v)))
        goto fail;
    cldqn_qnet_set_adam_step(t->net, s.adam_step);
    t->explore = s.explore;
    t->sample = s.sample;
    /* load checked s.n_envs == cfg->envs == t->n_envs. */
    for (int i = 0; i < t->n_envs; i++) {
        const cldqn_train_env *ev = &s.envs[i];
        env_slot *e = &t->envs[i];
        e->env.rng = ev->rng;
        e->env.state = ev->state;
        e->env.fickle_step = ev->fickle_step;
        e->env.steps = ev->steps;
        e->env.last_action = ev->last_action;
        e->in_episode = ev->in_episode;
        e->ep_return = ev->ep_return;
        e->ep_len = ev->ep_len;
        e->loss_sum = ev->loss_sum;
        e->loss_count = ev->loss_count;
    }
    t->stats.steps = s.steps;
    t->stats.episodes = s.episodes;
    t->stats.updates = s.updates;
    t->stats.target_syncs = s.target_syncs;
    t->stats.elapsed = s.elapsed;
    for (int r = 0; r < CLDQN_RETURN_WINDOW; r++) t->returns[r] = s.returns[r];
    update_mean_return(t);
    t->stats.epsilon = cldqn_config_epsilon(cfg, t->stats.steps);
    t->saved_path = strdup(path); /* NULL only loses the crash recovery */
    t->saved_hash = file_hash;
    cldqn_train_state_free(&s);
    *out = t;
    return CLDQN_OK;
fail:
    cldqn_trainer_free(t);
    cldqn_train_state_free(&s);
    return st;
}
