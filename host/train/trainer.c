/* trainer.c - the DQN loop of trainer.h over K agents, and its resumable
 * state. A solo run is K = 1; a population (population.c) is a thin layer
 * over the same loop. Each iteration every running agent acts, steps its
 * envs and samples in the order of trainer.h, while the agents' greedy
 * lookups, updates and target syncs each go to their networks
 * (host/cl/qnets.h) in one call, so agent i's numbers are those of its
 * solo run.
 *
 * The training state (target weights, Adam moments and step, replay memory,
 * RNG streams, every env mid-episode, counters) goes to PATH.state beside the
 * weights in PATH; train_state.c defines that format (hashes that make a
 * resume with a mismatched or damaged pair fail instead of continuing from
 * the wrong place, crash safety between the two renames). */
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

#include "cldqn/population.h"
#include "cldqn/ref.h"
#include "cldqn/replay.h"
#include "cldqn/rng.h"
#include "fused.h"
#include "loop.h"
#include "qnets.h"
#include "train_state.h"

/* One of the vectorised envs and its episode in progress. */
typedef struct {
    cldqn_taxi env;
    int in_episode; /* env holds an unfinished episode */
    int ep_return, ep_len;
    double loss_sum; /* of the updates since this env's episode began */
    int64_t loss_count;
} env_slot;

/* One agent: its settings, replay memory, RNG streams, envs and counters;
 * its network is number i of the trainer's cldqn_qnets. */
typedef struct {
    cldqn_config cfg;
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
    /* This iteration: limits reached before it (no step), steps before it,
     * updates still due, the state their greedy action is for, a target
     * sync due, and the actions and step results of the envs. */
    int done;
    int64_t before, n_updates;
    int32_t next;
    int syncing;
    int *act;
    cldqn_taxi_step_result *res;
    /* Minibatch, (batch) each. */
    int32_t *b_state, *b_action, *b_next;
    float *b_reward, *b_term;
    /* Hash of the weights file last written to (or resumed from) saved_path;
     * the next state file records it, so resume can tell a save interrupted
     * between its two renames from a state paired with foreign weights. */
    char *saved_path;
    uint64_t saved_hash;
    float *best; /* (total) weights of the best evaluation (stats.have_best) */
} agent;

struct cldqn_trainer {
    int k;
    agent *a; /* (k) */
    cldqn_layout lay;
    cldqn_qnets *net; /* network i is agent i's */
    int population;   /* checkpoints per agent (PATH.agentI, "agent" metadata) */
    int first;        /* global index of agent 0 in those */
    int report;       /* agent whose episode or evaluation a hook reports */
    double elapsed;   /* seconds in cldqn_trainer_run, over all resumes */
    /* Per-iteration scratch: the (network, state) pairs that need a greedy
     * action, with their agent's env ((sum of envs) each), and one update
     * call's lists ((k) each). */
    int32_t *g_net, *g_state, *g_action;
    int *g_env;
    int32_t *u_net, *u_next, *u_action, *s_net;
    float *u_loss;
    cldqn_batch *u_batch;
    uint32_t *idx;  /* (batch) sampled indices */
    float *scratch; /* lay.total floats for save */
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

static void update_mean_return(agent *g)
{
    int64_t n = g->stats.episodes < CLDQN_RETURN_WINDOW ? g->stats.episodes : CLDQN_RETURN_WINDOW;
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += g->returns[i];
    g->stats.mean_return = n ? s / (double)n : NAN;
}

static void agent_free(agent *g)
{
    cldqn_replay_free(g->rb);
    free(g->envs);
    free(g->act);
    free(g->res);
    free(g->b_state);
    free(g->b_action);
    free(g->b_next);
    free(g->b_reward);
    free(g->b_term);
    free(g->saved_path);
    free(g->best);
}

void cldqn_trainer_free(cldqn_trainer *t)
{
    if (!t) return;
    cldqn_qnets_free(t->net);
    for (int i = 0; t->a && i < t->k; i++) agent_free(&t->a[i]);
    free(t->a);
    free(t->g_net);
    free(t->g_state);
    free(t->g_action);
    free(t->g_env);
    free(t->u_net);
    free(t->u_next);
    free(t->u_action);
    free(t->s_net);
    free(t->u_loss);
    free(t->u_batch);
    free(t->idx);
    free(t->scratch);
    free(t);
}

/* Agent g from cfg: everything but the network. */
static cldqn_status agent_init(agent *g, const cldqn_config *cfg, double optimal_return)
{
    cldqn_status st = cldqn_config_check(cfg);
    if (st) return st;
    g->cfg = *cfg;
    g->cfg.shape.n_states = CLDQN_TAXI_STATES;
    g->cfg.shape.n_actions = CLDQN_TAXI_ACTIONS;
    size_t B = (size_t)cfg->batch, N = (size_t)cfg->envs;
    g->b_state = malloc(B * sizeof(int32_t));
    g->b_action = malloc(B * sizeof(int32_t));
    g->b_next = malloc(B * sizeof(int32_t));
    g->b_reward = malloc(B * sizeof(float));
    g->b_term = malloc(B * sizeof(float));
    g->n_envs = cfg->envs;
    g->envs = calloc(N, sizeof *g->envs);
    g->act = malloc(N * sizeof *g->act);
    g->res = malloc(N * sizeof *g->res);
    if (!g->b_state || !g->b_action || !g->b_next || !g->b_reward || !g->b_term || !g->envs ||
        !g->act || !g->res)
        return cldqn_fail(CLDQN_ERR_NOMEM, "out of memory creating the trainer");
    st = cldqn_replay_create((size_t)cfg->replay, &g->rb);
    if (st) return st;
    for (int i = 0; i < g->n_envs; i++) {
        st = cldqn_taxi_init(&g->envs[i].env, &cfg->taxi, cfg->seed);
        if (st) return st;
        cldqn_rng_seed(&g->envs[i].env.rng, cfg->seed, CLDQN_ENV_STREAM(i));
    }
    cldqn_rng_seed(&g->explore, cfg->seed, CLDQN_STREAM_EXPLORE);
    cldqn_rng_seed(&g->sample, cfg->seed, CLDQN_STREAM_SAMPLE);
    g->act_state = -1;
    g->stats.last_loss = NAN;
    g->stats.mean_return = NAN;
    g->stats.episode_loss = NAN;
    g->stats.epsilon = cldqn_config_epsilon(cfg, 0);
    g->stats.optimal_return = optimal_return;
    return CLDQN_OK;
}

/* k agents, everything but the networks, which the caller makes. */
static cldqn_status trainer_alloc(const cldqn_config *cfgs, int k, cldqn_trainer **out)
{
    *out = NULL;
    cldqn_trainer *t = calloc(1, sizeof *t);
    if (!t) return cldqn_fail(CLDQN_ERR_NOMEM, "out of memory creating the trainer");
    t->k = k;
    t->a = calloc((size_t)k, sizeof *t->a);
    cldqn_status st = CLDQN_OK;
    if (!t->a) {
        st = cldqn_fail(CLDQN_ERR_NOMEM, "out of memory creating the trainer");
        goto fail;
    }
    cldqn_taxi_config plain = cldqn_taxi_default_config(), rainy = plain;
    rainy.is_rainy = 1;
    const double optimum = cldqn_taxi_optimal_mean_return(&plain);
    double rainy_optimum = NAN; /* value iteration over the rainy model: only if needed */
    size_t n_envs = 0;
    for (int i = 0; i < k; i++) {
        const cldqn_taxi_config *tc = &cfgs[i].taxi;
        if (tc->is_rainy && !tc->fickle_passenger && isnan(rainy_optimum)) {
            rainy.rainy_probability = tc->rainy_probability;
            rainy_optimum = cldqn_taxi_optimal_mean_return(&rainy);
        }
        /* Runs of another rain probability get theirs. */
        double opt = optimum;
        if (tc->is_rainy && !tc->fickle_passenger)
            opt = tc->rainy_probability == rainy.rainy_probability
                      ? rainy_optimum
                      : cldqn_taxi_optimal_mean_return(tc);
        st = agent_init(&t->a[i], &cfgs[i], opt);
        if (st) goto fail;
        n_envs += (size_t)cfgs[i].envs;
    }
    st = cldqn_layout_init(&t->a[0].cfg.shape, &t->lay);
    if (st) goto fail;
    /* Greedy requests: one per env, or an evaluation's 500 states. */
    size_t G = n_envs > CLDQN_TAXI_STATES ? n_envs : CLDQN_TAXI_STATES, K = (size_t)k;
    t->g_net = malloc(G * sizeof(int32_t));
    t->g_state = malloc(G * sizeof(int32_t));
    t->g_action = malloc(G * sizeof(int32_t));
    t->g_env = malloc(G * sizeof(int));
    t->u_net = malloc(K * sizeof(int32_t));
    t->u_next = malloc(K * sizeof(int32_t));
    t->u_action = malloc(K * sizeof(int32_t));
    t->s_net = malloc(K * sizeof(int32_t));
    t->u_loss = malloc(K * sizeof(float));
    t->u_batch = malloc(K * sizeof *t->u_batch);
    t->idx = malloc((size_t)cfgs[0].batch * sizeof *t->idx);
    t->scratch = malloc(t->lay.total * sizeof(float));
    if (!t->g_net || !t->g_state || !t->g_action || !t->g_env || !t->u_net || !t->u_next ||
        !t->u_action || !t->s_net || !t->u_loss || !t->u_batch || !t->idx || !t->scratch) {
        st = cldqn_fail(CLDQN_ERR_NOMEM, "out of memory creating the trainer");
        goto fail;
    }
    *out = t;
    return CLDQN_OK;
fail:
    cldqn_trainer_free(t);
    return st;
}

/* The k networks from init (see cldqn_qnets_create). The population
 * kernels use max-Q tables where every agent keeps its target for
 * cldqn_fused_table_payoff updates or more (the seed's sync at episode
 * ends counts as rare), the rule fused.c applies to one network. */
static cldqn_status make_qnets(cldqn_trainer *t, const float *const init[4])
{
    const cldqn_config *c = &t->a[0].cfg;
    cldqn_qnet_options o = cldqn_qnet_default_options();
    o.backend = c->backend;
    o.device = c->device[0] ? c->device : NULL;
    o.max_batch = c->batch;
    /* Evaluation asks for all 500 states, acting for one per env. */
    o.max_states = c->envs > CLDQN_TAXI_STATES ? c->envs : CLDQN_TAXI_STATES;
    o.path = c->path;
    o.profile = c->profile[0] != 0; /* profiling events only when asked for */
    cldqn_learn_config *learn = malloc((size_t)t->k * sizeof *learn);
    if (!learn) return cldqn_fail(CLDQN_ERR_NOMEM, "out of memory creating the networks");
    const int64_t payoff = cldqn_fused_table_payoff(&t->lay.shape, c->batch, c->batch);
    int table = 1;
    for (int i = 0; i < t->k; i++) {
        const cldqn_config *ci = &t->a[i].cfg;
        learn[i] = ci->learn;
        if (ci->target_every > 0 && ci->target_every / ci->train_every < payoff) table = 0;
    }
    cldqn_status st = cldqn_qnets_create(&t->lay, t->k, learn, &o, init, table, &t->net);
    free(learn);
    return st;
}

static void agent_restore(agent *g, const cldqn_train_state *s)
{
    g->explore = s->explore;
    g->sample = s->sample;
    /* load checked s->n_envs == cfg->envs == g->n_envs. */
    for (int i = 0; i < g->n_envs; i++) {
        const cldqn_train_env *ev = &s->envs[i];
        env_slot *e = &g->envs[i];
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
    g->stats.steps = s->steps;
    g->stats.episodes = s->episodes;
    g->stats.updates = s->updates;
    g->stats.target_syncs = s->target_syncs;
    g->stats.elapsed = s->elapsed;
    for (int r = 0; r < CLDQN_RETURN_WINDOW; r++) g->returns[r] = s->returns[r];
    update_mean_return(g);
    g->stats.epsilon = cldqn_config_epsilon(&g->cfg, g->stats.steps);
}

/* The best evaluation's weights from a loaded state (after agent_restore). */
static cldqn_status agent_restore_best(agent *g, const cldqn_train_state *s, size_t total)
{
    if (!s->best) return CLDQN_OK;
    if (!(g->best = malloc(total * sizeof(float))))
        return cldqn_fail(CLDQN_ERR_NOMEM, "out of memory keeping the best weights");
    memcpy(g->best, s->best, total * sizeof(float));
    g->stats.have_best = 1;
    g->stats.best_steps = s->best_steps;
    g->stats.best_return = s->best_return;
    return CLDQN_OK;
}

static cldqn_status resume_eval(cldqn_trainer *t, int i);

/* k agents from cfgs, fresh or (paths) continuing from paths[i] (PATH and
 * PATH.state). */
static cldqn_status loop_create(const cldqn_config *cfgs, int k, const char *const *paths,
                                int population, cldqn_trainer **out)
{
    cldqn_set_flush_denormals();
    *out = NULL;
    cldqn_trainer *t;
    cldqn_status st = trainer_alloc(cfgs, k, &t);
    if (st) return st;
    t->population = population;
    const size_t total = t->lay.total, kt = (size_t)k * total;
    float *init[4] = {NULL, NULL, NULL, NULL};
    int *adam = calloc((size_t)k, sizeof *adam);
    for (int j = 0; j < (paths ? 4 : 1); j++)
        if (!adam || !(init[j] = malloc(kt * sizeof(float)))) {
            st = cldqn_fail(CLDQN_ERR_NOMEM, "out of memory creating the trainer");
            goto fail;
        }
    for (int i = 0; i < k; i++) {
        agent *g = &t->a[i];
        if (!paths) {
            cldqn_rng rinit;
            cldqn_rng_seed(&rinit, g->cfg.seed, CLDQN_STREAM_INIT);
            cldqn_params_init(&t->lay, g->cfg.init, &rinit, init[0] + (size_t)i * total);
            continue;
        }
        cldqn_config stored;
        cldqn_layout lay;
        cldqn_train_state s;
        if ((st = cldqn_train_state_load(paths[i], &cfgs[i], &stored, &lay, &s, &g->saved_hash)))
            goto fail;
        st = cldqn_replay_restore(g->rb, s.replay, s.n_replay, s.replay_pushed);
        if (!st) {
            const float *from[4] = {s.params, s.target, s.adam_m, s.adam_v};
            for (int j = 0; j < 4; j++)
                memcpy(init[j] + (size_t)i * total, from[j], total * sizeof(float));
            adam[i] = s.adam_step;
            agent_restore(g, &s);
            st = agent_restore_best(g, &s, total);
            if (g->stats.elapsed > t->elapsed) t->elapsed = g->stats.elapsed;
            g->saved_path = strdup(paths[i]); /* NULL only loses the crash recovery */
        }
        cldqn_train_state_free(&s);
        if (st) goto fail;
    }
    st = make_qnets(t, (const float *const *)init);
    if (st) goto fail;
    for (int i = 0; paths && i < k; i++) cldqn_qnets_set_adam_step(t->net, i, adam[i]);
    for (int i = 0; paths && population && i < k && !st; i++) st = resume_eval(t, i);
    if (st) goto fail;
    for (int j = 0; j < 4; j++) free(init[j]);
    free(adam);
    *out = t;
    return CLDQN_OK;
fail:
    for (int j = 0; j < 4; j++) free(init[j]);
    free(adam);
    cldqn_trainer_free(t);
    return st;
}

cldqn_status cldqn_trainer_create(const cldqn_config *cfg, cldqn_trainer **out)
{
    return loop_create(cfg, 1, NULL, 0, out);
}

cldqn_status cldqn_loop_create(const cldqn_config *cfgs, int k, const char *const *paths,
                               cldqn_trainer **out)
{
    return loop_create(cfgs, k, paths, 1, out);
}

const cldqn_train_stats *cldqn_trainer_stats(const cldqn_trainer *t)
{
    return &t->a[t->report].stats;
}
const cldqn_config *cldqn_trainer_config(const cldqn_trainer *t)
{
    return &t->a[t->report].cfg;
}
int cldqn_trainer_agent(const cldqn_trainer *t)
{
    return t->report;
}
const cldqn_taxi *cldqn_trainer_env(const cldqn_trainer *t)
{
    const agent *g = &t->a[t->report];
    return &g->envs[g->report_env].env;
}
int cldqn_trainer_envs(const cldqn_trainer *t)
{
    return t->a[t->report].n_envs;
}
const cldqn_taxi *cldqn_trainer_env_at(const cldqn_trainer *t, int i)
{
    const agent *g = &t->a[t->report];
    return i >= 0 && i < g->n_envs ? &g->envs[i].env : NULL;
}
cldqn_qnet *cldqn_trainer_qnet(cldqn_trainer *t)
{
    return cldqn_qnets_net(t->net, t->report);
}
int cldqn_loop_agents(const cldqn_trainer *t)
{
    return t->k;
}
const cldqn_train_stats *cldqn_loop_stats(const cldqn_trainer *t, int i)
{
    return &t->a[i].stats;
}
const cldqn_config *cldqn_loop_config(const cldqn_trainer *t, int i)
{
    return &t->a[i].cfg;
}
const cldqn_layout *cldqn_loop_layout(const cldqn_trainer *t)
{
    return &t->lay;
}
const char *cldqn_loop_device_name(const cldqn_trainer *t)
{
    return cldqn_qnets_device_name(t->net);
}
double cldqn_loop_elapsed(const cldqn_trainer *t)
{
    return t->elapsed;
}
int64_t cldqn_loop_launches(const cldqn_trainer *t)
{
    return cldqn_qnets_launches(t->net);
}
void cldqn_loop_set_first(cldqn_trainer *t, int first)
{
    t->first = first;
}
cldqn_status cldqn_loop_read_params(cldqn_trainer *t, int i, float *out)
{
    if (!t || !out || i < 0 || i >= t->k)
        return cldqn_fail(CLDQN_ERR_ARG, "population_read_params: bad argument");
    return cldqn_qnets_read(t->net, i, CLDQN_BUF_PARAMS, out);
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

/* Did a counter going from `before` to `after` pass a multiple of k? With one
 * step at a time this is `after % k == 0`. */
static int crossed(int64_t before, int64_t after, int64_t k)
{
    return after / k > before / k;
}

/* The schedule of evaluations: agent g's iteration from env step before to
 * after evaluates (exact evaluation needs plain Taxi). */
static int eval_due(const agent *g, int64_t before, int64_t after)
{
    const cldqn_config *c = &g->cfg;
    return c->eval_every > 0 && crossed(before, after, c->eval_every) && !c->taxi.fickle_passenger;
}

/* Exact greedy evaluation of agent i (stats' eval fields). */
static cldqn_status evaluate(cldqn_trainer *t, int i)
{
    agent *g = &t->a[i];
    int32_t act[CLDQN_TAXI_STATES];
    uint8_t policy[CLDQN_TAXI_STATES];
    for (int s = 0; s < CLDQN_TAXI_STATES; s++) {
        t->g_net[s] = i;
        t->g_state[s] = s;
    }
    cldqn_status st = cldqn_qnets_greedy(t->net, CLDQN_TAXI_STATES, t->g_net, t->g_state, act);
    if (st) return st;
    for (int s = 0; s < CLDQN_TAXI_STATES; s++) policy[s] = (uint8_t)act[s];
    const int rainy = g->cfg.taxi.is_rainy;
    st = rainy ? cldqn_taxi_policy_value(&g->cfg.taxi, policy, 0, &g->stats.eval)
               : cldqn_taxi_eval_policy(policy, EVAL_MAX_STEPS, &g->stats.eval);
    if (st) return st;
    g->stats.have_eval = 1;
    /* Returns are integers, so the mean over 300 starts is a multiple of 1/300;
     * rainy expectations count within CLDQN_RAINY_TOL of the optimum. */
    const double opt = g->stats.optimal_return, got = g->stats.eval.mean_return;
    g->stats.reached_optimal =
        rainy ? got >= opt - CLDQN_RAINY_TOL * fabs(opt) : fabs(got - opt) < 1e-6;
    /* Keep the best weights (ties: the latest): a run that stops while its
     * greedy policy oscillates still leaves its best policy behind. */
    if (g->stats.have_best && g->stats.eval.mean_return < g->stats.best_return) return CLDQN_OK;
    if (!g->best && !(g->best = malloc(t->lay.total * sizeof(float))))
        return cldqn_fail(CLDQN_ERR_NOMEM, "out of memory keeping the best weights");
    st = cldqn_qnets_read(t->net, i, CLDQN_BUF_PARAMS, g->best);
    if (st) return st;
    g->stats.have_best = 1;
    g->stats.best_steps = g->stats.steps;
    g->stats.best_return = g->stats.eval.mean_return;
    return CLDQN_OK;
}

cldqn_status cldqn_trainer_evaluate(cldqn_trainer *t)
{
    return evaluate(t, t->report);
}

cldqn_status cldqn_loop_evaluate(cldqn_trainer *t, int i)
{
    if (i < 0 || i >= t->k) return cldqn_fail(CLDQN_ERR_ARG, "population: no agent %d", i);
    return evaluate(t, i);
}

static void note_optimal(agent *g)
{
    if (g->stats.reached_optimal && !g->stats.optimal_steps) {
        g->stats.optimal_steps = g->stats.steps;
        g->stats.optimal_updates = g->stats.updates;
        g->stats.optimal_elapsed = g->stats.elapsed;
    }
}

/* A population agent saved right after an evaluation step was evaluated on
 * exactly these weights; repeating it restores until-optimal's stop, so an
 * agent that had reached the optimum stays stopped after a resume. */
static cldqn_status resume_eval(cldqn_trainer *t, int i)
{
    agent *g = &t->a[i];
    const cldqn_config *c = &g->cfg;
    /* Checkpoints are written at the end of an iteration of n_envs steps. */
    if (!c->until_optimal || g->stats.steps < g->n_envs ||
        !eval_due(g, g->stats.steps - g->n_envs, g->stats.steps))
        return CLDQN_OK;
    cldqn_status st = evaluate(t, i);
    if (!st) note_optimal(g);
    return st;
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

/* Opens or closes the window (and the networks' own recording) for the
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
    cldqn_trace_set_failed(t->trace, cldqn_qnets_set_trace(t->net, open ? t->trace : NULL));
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

/* ---- the loop ------------------------------------------------------------- */

/* Agent g's minibatch, sampled from its memory into its batch arrays. */
static cldqn_status sample(cldqn_trainer *t, agent *g, cldqn_batch *b)
{
    const cldqn_config *c = &g->cfg;
    double p0 = phase_begin(t);
    cldqn_status st =
        cldqn_replay_sample(g->rb, &g->sample, (size_t)c->batch, c->sample_replacement, t->idx);
    if (st) return st;
    for (int i = 0; i < c->batch; i++) {
        const cldqn_transition *tr = cldqn_replay_get(g->rb, t->idx[i]);
        g->b_state[i] = tr->state;
        g->b_action[i] = tr->action;
        g->b_reward[i] = (float)tr->reward;
        g->b_next[i] = tr->next_state;
        g->b_term[i] = tr->terminated ? 1.0f : 0.0f;
    }
    phase_end(t, "replay sample", p0);
    *b = (cldqn_batch){c->batch, g->b_state, g->b_action, g->b_reward, g->b_next, g->b_term};
    return CLDQN_OK;
}

/* The updates due this iteration: round r updates every agent with more
 * than r due, all in one call; each also returns the greedy action for the
 * state the agent acts in next unless its episode ends. */
static cldqn_status learn(cldqn_trainer *t)
{
    for (int64_t r = 0;; r++) {
        int n = 0;
        for (int i = 0; i < t->k; i++) {
            agent *g = &t->a[i];
            if (g->done || g->n_updates <= r) continue;
            cldqn_status st = sample(t, g, &t->u_batch[n]);
            if (st) return st;
            if (g->cfg.lr_schedule != CLDQN_LR_CONSTANT)
                cldqn_qnets_set_lr(t->net, i, cldqn_config_lr(&g->cfg, g->stats.steps));
            g->act_state = -1;
            t->u_net[n] = i;
            t->u_next[n++] = g->next;
        }
        if (!n) return CLDQN_OK;
        double p0 = phase_begin(t);
        cldqn_status st =
            cldqn_qnets_update(t->net, n, t->u_net, t->u_batch, t->u_next, t->u_loss, t->u_action);
        phase_end(t, "update", p0);
        if (st) return st;
        for (int j = 0; j < n; j++) {
            agent *g = &t->a[t->u_net[j]];
            const float loss = t->u_loss[j];
            /* Numeric guard: say where it happened. Nothing is saved after
             * this, so the last checkpoint on disk stays the last good one. */
            if (!isfinite(loss)) {
                char who[32] = "";
                if (t->population) snprintf(who, sizeof who, "agent %d: ", t->u_net[j]);
                return cldqn_fail(CLDQN_ERR_NUMERIC,
                                  "%snon-finite loss (%g) at step %" PRId64 ", update %" PRId64
                                  ": training stopped; the last checkpoint saved is kept",
                                  who, (double)loss, g->stats.steps, g->stats.updates + 1);
            }
            g->act_state = g->next;
            g->act_action = t->u_action[j];
            g->stats.updates++;
            g->stats.last_loss = loss;
            /* The update falls into every env's current episode. */
            for (int e = 0; e < g->n_envs; e++) {
                g->envs[e].loss_sum += loss;
                g->envs[e].loss_count++;
            }
        }
    }
}

static void end_episode(cldqn_trainer *t, const cldqn_train_hooks *h, int i, int e, int terminated)
{
    agent *g = &t->a[i];
    env_slot *s = &g->envs[e];
    g->returns[g->stats.episodes % CLDQN_RETURN_WINDOW] = s->ep_return;
    g->stats.episodes++;
    g->stats.last_return = s->ep_return;
    g->stats.last_length = s->ep_len;
    g->stats.episode_loss = s->loss_count ? (float)(s->loss_sum / (double)s->loss_count) : NAN;
    update_mean_return(g);
    s->in_episode = 0;
    t->report = i;
    g->report_env = e;
    if (h && h->on_episode) h->on_episode(h->ctx, t, terminated);
    g->report_env = 0;
    t->report = 0;
    s->loss_sum = 0;
    s->loss_count = 0;
}

/* Updates earned by the env steps before+1 .. after: one per step j that is
 * a multiple of train_every and after which the memory held more than
 * learning_starts and at least batch transitions, as a one-env loop would
 * update after step j. Called after the iteration's pushes. */
static int64_t updates_due(const agent *g, int64_t before, int64_t after)
{
    const cldqn_config *c = &g->cfg;
    const int64_t cap = (int64_t)cldqn_replay_capacity(g->rb);
    int64_t need = c->learning_starts + 1 > c->batch ? c->learning_starts + 1 : c->batch;
    /* The memory holds min(pushed, capacity) after a step. */
    const int64_t pushed = (int64_t)cldqn_replay_pushed(g->rb);
    if (need > cap || pushed < need) return 0;
    /* Step j pushed pushed - (after - j) transitions in all: the first
     * step with enough, minus one, bounds the steps that count. */
    int64_t lo = after - (pushed - need) - 1;
    if (lo < before) lo = before;
    return (after / c->train_every - lo / c->train_every) * c->grad_steps;
}

static int ends_episode(const agent *g, int e)
{
    const cldqn_taxi_step_result *r = &g->res[e];
    const int capped = g->cfg.episode_steps > 0 && g->envs[e].ep_len >= g->cfg.episode_steps;
    return r->terminated || r->truncated || capped;
}

/* Agent i's resets and epsilon-greedy choices in env order; the envs that
 * exploit in a state the act cache misses join the greedy requests. */
static void choose(cldqn_trainer *t, int i, int *n_greedy)
{
    agent *g = &t->a[i];
    for (int e = 0; e < g->n_envs; e++) {
        env_slot *s = &g->envs[e];
        if (s->in_episode) continue;
        cldqn_taxi_reset(&s->env);
        s->in_episode = 1;
        s->ep_return = 0;
        s->ep_len = 0;
    }
    for (int e = 0; e < g->n_envs; e++) {
        int st = g->envs[e].env.state;
        float eps = cldqn_config_epsilon(&g->cfg, g->before + e);
        g->stats.epsilon = eps;
        /* Both draws happen every step so the stream never depends on epsilon. */
        float coin = cldqn_rng_float(&g->explore);
        g->act[e] = (int)cldqn_rng_below(&g->explore, CLDQN_TAXI_ACTIONS);
        if (coin < eps) continue;
        if (g->act_state == st) {
            g->act[e] = g->act_action;
            continue;
        }
        t->g_net[*n_greedy] = i;
        t->g_state[*n_greedy] = st;
        t->g_env[(*n_greedy)++] = e;
    }
}

/* Agent i's env steps and pushes, then what follows from them: the updates
 * due, a target sync, and in the seed loop a terminated episode's end. */
static cldqn_status step_envs(cldqn_trainer *t, const cldqn_train_hooks *h, int i)
{
    agent *g = &t->a[i];
    const cldqn_config *c = &g->cfg;
    for (int e = 0; e < g->n_envs; e++) {
        env_slot *s = &g->envs[e];
        int st0 = s->env.state, a = g->act[e];
        cldqn_taxi_step_result *r = &g->res[e];
        cldqn_status st = cldqn_taxi_step(&s->env, a, r);
        if (st) return st;
        cldqn_transition tr = {(uint16_t)st0,     (uint16_t)r->next_state,       (uint8_t)a,
                               (int8_t)r->reward, (uint8_t)(r->terminated != 0), 0};
        cldqn_replay_push(g->rb, &tr);
        g->stats.steps++;
        s->ep_return += r->reward;
        s->ep_len++;
    }
    const int64_t before = g->before, after = g->stats.steps;
    int can_learn = (int64_t)cldqn_replay_size(g->rb) > c->learning_starts &&
                    cldqn_replay_size(g->rb) >= (size_t)c->batch;
    g->n_updates = 0;
    g->syncing = 0;
    if (c->target_every == 0) {
        /* The seed (one env, cldqn_config_check): `if done: align target;
         * break` comes before retrain. */
        if (g->res[0].terminated) {
            g->syncing = 1;
            end_episode(t, h, i, 0, 1);
            return CLDQN_OK;
        }
        if (can_learn && crossed(before, after, c->train_every)) g->n_updates = c->grad_steps;
        g->next = g->res[0].next_state;
        return CLDQN_OK;
    }
    g->n_updates = can_learn ? updates_due(g, before, after) : 0;
    /* The state of the first env whose episode goes on (env 0's if none does). */
    g->next = g->res[0].next_state;
    for (int e = 0; e < g->n_envs; e++)
        if (!ends_episode(g, e)) {
            g->next = g->res[e].next_state;
            break;
        }
    g->syncing = crossed(before, after, c->target_every);
    return CLDQN_OK;
}

/* One iteration: in every running agent one env step per env, then its
 * updates and target sync (the order of trainer.h); the agents' greedy
 * lookups, updates and syncs each go to the device together. Episode ends
 * other than the seed loop's terminations follow in cldqn_trainer_run. */
static cldqn_status iteration(cldqn_trainer *t, const cldqn_train_hooks *h)
{
    int n_greedy = 0;
    for (int i = 0; i < t->k; i++) {
        agent *g = &t->a[i];
        if (g->done) continue;
        g->before = g->stats.steps;
        choose(t, i, &n_greedy);
    }
    if (n_greedy) {
        cldqn_status st = cldqn_qnets_greedy(t->net, n_greedy, t->g_net, t->g_state, t->g_action);
        if (st) return st;
        for (int j = 0; j < n_greedy; j++) {
            agent *g = &t->a[t->g_net[j]];
            g->act[t->g_env[j]] = t->g_action[j];
            g->act_state = t->g_state[j]; /* the agent's last request stays */
            g->act_action = t->g_action[j];
        }
    }
    for (int i = 0; i < t->k; i++) {
        if (t->a[i].done) continue;
        cldqn_status st = step_envs(t, h, i);
        if (st) return st;
    }
    cldqn_status st = learn(t);
    if (st) return st;
    int n_sync = 0;
    for (int i = 0; i < t->k; i++) {
        agent *g = &t->a[i];
        if (g->done || !g->syncing) continue;
        g->stats.target_syncs++;
        t->s_net[n_sync++] = i;
    }
    if (n_sync) {
        double p0 = phase_begin(t);
        st = cldqn_qnets_sync(t->net, n_sync, t->s_net);
        phase_end(t, "target sync", p0);
    }
    return st;
}

static int limits_reached(const agent *g)
{
    const cldqn_config *c = &g->cfg;
    if (c->steps > 0 && g->stats.steps >= c->steps) return 1;
    if (c->episodes > 0 && g->stats.episodes >= c->episodes) return 1;
    if (c->until_optimal && g->stats.reached_optimal) return 1;
    return 0;
}

static cldqn_status save_agent(cldqn_trainer *t, int i, const char *path);

/* Where agent i's in-run checkpoints go: OUT, or OUT.agentI in a population. */
static void out_path(const cldqn_trainer *t, int i, char *buf, size_t size)
{
    const char *out = t->a[i].cfg.out;
    if (t->population)
        cldqn_population_agent_path(out, t->first + i, buf, size);
    else
        snprintf(buf, size, "%s", out);
}

cldqn_status cldqn_trainer_run(cldqn_trainer *t, const cldqn_train_hooks *h)
{
    cldqn_set_flush_denormals();
    double start = now_s(), base = t->elapsed;
    cldqn_status st = CLDQN_OK;
    for (;;) {
        int running = 0;
        for (int i = 0; i < t->k; i++) running += !(t->a[i].done = limits_reached(&t->a[i]));
        if (!running) break;
        if (h && h->stop && *h->stop) {
            st = cldqn_fail(CLDQN_ERR_INTERRUPT, "interrupted after %" PRId64 " steps",
                            t->a[0].stats.steps);
            break;
        }
        if (t->trace)
            trace_window(t,
                         t->a[0].stats.steps >= t->trace_from && t->a[0].stats.steps < t->trace_to);
        double p0 = phase_begin(t);
        st = iteration(t, h);
        phase_end(t, "train step", p0);
        t->elapsed = base + (now_s() - start);
        for (int i = 0; i < t->k; i++)
            if (!t->a[i].done) t->a[i].stats.elapsed = t->elapsed;
        if (st) break;
        /* Per agent in order: its episode ends, then its evaluation. */
        for (int i = 0; i < t->k && !st; i++) {
            agent *g = &t->a[i];
            if (g->done) continue;
            const cldqn_config *c = &g->cfg;
            const int seed_term = c->target_every == 0 && g->res[0].terminated;
            for (int e = 0; e < g->n_envs && !seed_term; e++)
                if (ends_episode(g, e))
                    end_episode(t, h, i, e, c->target_every == 0 ? 0 : g->res[e].terminated);
            if (eval_due(g, g->before, g->stats.steps)) {
                p0 = phase_begin(t);
                st = evaluate(t, i);
                phase_end(t, "evaluation", p0);
                if (st) break;
                t->elapsed = base + (now_s() - start);
                g->stats.elapsed = t->elapsed;
                note_optimal(g);
                t->report = i;
                if (h && h->on_eval) h->on_eval(h->ctx, t);
                t->report = 0;
            }
        }
        /* Then each agent's checkpoint, atomically. */
        for (int i = 0; i < t->k && !st; i++) {
            agent *g = &t->a[i];
            const cldqn_config *c = &g->cfg;
            if (g->done || c->save_every <= 0 || !c->out[0] ||
                !crossed(g->before, g->stats.steps, c->save_every))
                continue;
            char path[CLDQN_CONFIG_PATH_MAX + 32];
            out_path(t, i, path, sizeof path);
            p0 = phase_begin(t);
            st = save_agent(t, i, path);
            phase_end(t, "checkpoint save", p0);
            if (st) break;
            t->report = i;
            if (h && h->on_save) h->on_save(h->ctx, t, path);
            t->report = 0;
        }
        if (st) break;
        if (h && h->on_tick) h->on_tick(h->ctx, t);
    }
    if (t->trace) trace_window(t, 0);
    t->elapsed = base + (now_s() - start);
    for (int i = 0; i < t->k; i++)
        if (!t->a[i].done) t->a[i].stats.elapsed = t->elapsed;
    return st;
}

/* ---- save and resume (the format: train_state.c) ------------------------- */

/* Agent i's PATH and PATH.state; a population's carry "agent" metadata. */
static cldqn_status save_agent(cldqn_trainer *t, int i, const char *path)
{
    agent *g = &t->a[i];
    const size_t total = t->lay.total, n_rb = cldqn_replay_size(g->rb);
    float *buf = malloc(3 * total * sizeof(float)); /* target, Adam m, Adam v: (total) each */
    cldqn_transition *items = malloc((n_rb ? n_rb : 1) * sizeof *items);
    cldqn_train_env *envs = malloc((size_t)g->n_envs * sizeof *envs);
    cldqn_status st = CLDQN_OK;
    if (!buf || !items || !envs) {
        st = cldqn_fail(CLDQN_ERR_NOMEM, "out of memory saving '%s'", path);
        goto out;
    }
    if ((st = cldqn_qnets_read(t->net, i, CLDQN_BUF_PARAMS, t->scratch)) ||
        (st = cldqn_qnets_read(t->net, i, CLDQN_BUF_TARGET, buf)) ||
        (st = cldqn_qnets_read(t->net, i, CLDQN_BUF_ADAM_M, buf + total)) ||
        (st = cldqn_qnets_read(t->net, i, CLDQN_BUF_ADAM_V, buf + 2 * total)))
        goto out;
    for (size_t j = 0; j < n_rb; j++) items[j] = *cldqn_replay_get(g->rb, j);
    for (int e = 0; e < g->n_envs; e++) {
        const env_slot *s = &g->envs[e];
        envs[e] = (cldqn_train_env){
            .rng = s->env.rng,
            .state = s->env.state,
            .fickle_step = s->env.fickle_step,
            .steps = s->env.steps,
            .last_action = s->env.last_action,
            .in_episode = s->in_episode,
            .ep_return = s->ep_return,
            .ep_len = s->ep_len,
            .loss_sum = s->loss_sum,
            .loss_count = s->loss_count,
        };
    }
    cldqn_train_state s = {
        .params = t->scratch,
        .target = buf,
        .adam_m = buf + total,
        .adam_v = buf + 2 * total,
        .replay = items,
        .n_replay = n_rb,
        .replay_pushed = cldqn_replay_pushed(g->rb),
        .explore = g->explore,
        .sample = g->sample,
        .adam_step = cldqn_qnets_adam_step(t->net, i),
        .steps = g->stats.steps,
        .episodes = g->stats.episodes,
        .updates = g->stats.updates,
        .target_syncs = g->stats.target_syncs,
        .elapsed = g->stats.elapsed,
        .n_envs = g->n_envs,
        .envs = envs,
        .best = g->stats.have_best ? g->best : NULL,
        .best_steps = g->stats.best_steps,
        .best_return = g->stats.best_return,
    };
    for (int r = 0; r < CLDQN_RETURN_WINDOW; r++) s.returns[r] = g->returns[r];
    char idx[16];
    snprintf(idx, sizeof idx, "%d", t->first + i);
    const char *extra[] = {"agent", idx, NULL};
    const int same = g->saved_path && !strcmp(g->saved_path, path);
    uint64_t hash;
    st = cldqn_train_state_save(path, &g->cfg, &t->lay, &s, same ? &g->saved_hash : NULL,
                                t->population ? extra : NULL, &hash);
    if (!st) {
        if (!same) {
            free(g->saved_path);
            g->saved_path = strdup(path); /* NULL only loses the crash recovery */
        }
        g->saved_hash = hash;
    }
    if (st == CLDQN_ERR_NUMERIC && t->population) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", cldqn_last_error());
        st = cldqn_fail(st, "agent %d: %s", i, msg);
    }
out:
    free(buf);
    free(items);
    free(envs);
    return st;
}

cldqn_status cldqn_trainer_save(cldqn_trainer *t, const char *path)
{
    return save_agent(t, t->report, path);
}

cldqn_status cldqn_loop_save(cldqn_trainer *t, int i, const char *path)
{
    if (!t || !path || i < 0 || i >= t->k)
        return cldqn_fail(CLDQN_ERR_ARG, "population_save: bad argument");
    return save_agent(t, i, path);
}

cldqn_status cldqn_trainer_resume(const cldqn_config *cfg, const char *path, cldqn_trainer **out)
{
    const char *paths[1] = {path};
    return loop_create(cfg, 1, paths, 0, out);
}
