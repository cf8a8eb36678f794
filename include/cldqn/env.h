/* env.h - environments with discrete states and actions, and their models.
 *
 * An environment is two parts:
 *   cldqn_env_def  what it is: sizes, time limit and callbacks over a
 *                  constant context (a map, a configuration). One def may
 *                  serve any number of running envs.
 *   cldqn_env      one running episode: the state index, the steps taken,
 *                  the last action, a 64-bit `hidden` word and the RNG.
 * All dynamic state lives in cldqn_env, so the library can copy, save and
 * resume any environment, a user's own included, without knowing it. A state
 * index that is not the whole story (Taxi's fickle passenger) keeps the rest
 * in `hidden`.
 *
 * Built in (cldqn_env_def_create, IDs and options as Gymnasium 1.4.0 registers
 * them; each transition as gymnasium/envs/toy_text defines it):
 *   Taxi-v4 (alias Taxi-v3)   500 states, 6 actions, limit 200
 *                             options is_rainy, fickle_passenger,
 *                             rainy_probability, fickle_probability
 *   FrozenLake-v1             4x4 map, 4 actions (0 left 1 down 2 right 3 up),
 *                             limit 100; FrozenLake8x8-v1: 8x8, limit 200.
 *                             options map_name (4x4|8x8), desc (rows joined by
 *                             '/', e.g. desc=SFF/FHF/FFG; overrides map_name),
 *                             is_slippery, success_rate, reward_schedule
 *                             (goal/hole/frozen, e.g. 1/0/0)
 *   CliffWalking-v1           4x12, 4 actions (0 up 1 right 2 down 3 left), no
 *                             limit; CliffWalkingSlippery-v1: is_slippery=true
 *   Blackjack-v1              sab=true, natural=false; 2 actions (0 stick, 1 hit)
 * Every ID also takes max_episode_steps (0 = no limit), as gym.make does.
 *
 * Blackjack's state index: Gymnasium observes (player sum 0..31, dealer card
 * 1..10, usable ace 0/1); cldqn numbers it (sum * 11 + dealer) * 2 + ace, the
 * row-major index over the observation space's (32, 11, 2), and adds states
 * 704 + dealer - 1 for a dealt natural (ace + ten), which Gymnasium observes
 * as (21, dealer, 1) but pays differently when the player sticks: without it
 * the observation would not be Markov. The dealer's hidden card is drawn when
 * the player sticks; under Gymnasium's infinite deck that is the same law.
 * 714 states; 290 are live (a deal or hits make them, not bust), every
 * other one is absorbing in the model (each action stays, reward 0, ended). */
#ifndef CLDQN_ENV_H
#define CLDQN_ENV_H

#include <stddef.h>
#include <stdint.h>

#include "cldqn/rng.h"
#include "cldqn/status.h"

/* One possible outcome of (state, action), as an entry of Gymnasium's env.P. */
typedef struct {
    double prob;
    int next_state;
    double reward;
    int terminated;
} cldqn_outcome;

typedef struct {
    int next_state;
    double reward;
    int terminated;
    int truncated; /* the time limit was reached (set by cldqn_env_step) */
} cldqn_env_step_result;

typedef struct cldqn_env_def cldqn_env_def;

struct cldqn_env_def {
    char id[64];      /* e.g. "FrozenLake-v1", for messages and checkpoints */
    int n_states;     /* states are 0 .. n_states-1 */
    int n_actions;    /* actions are 0 .. n_actions-1 */
    int time_limit;   /* truncate after this many steps; 0 = none */
    int max_outcomes; /* most outcomes any (state, action) has; 0 without a model */
    void *ctx;        /* the implementation's constant data, given to every callback */

    /* Required. Draws a start state from rng and may set *hidden (0 before). */
    int (*reset)(const void *ctx, cldqn_rng *rng, int64_t *hidden);
    /* Required. Steps from state with action (both in range), drawing from
     * rng; fills next_state, reward and terminated (not truncated). */
    void (*step)(const void *ctx, int state, int action, cldqn_rng *rng, int64_t *hidden,
                 cldqn_env_step_result *res);

    /* Optional (NULL: *hidden = 0). Starts an episode in a given state. */
    void (*reset_to)(const void *ctx, int state, cldqn_rng *rng, int64_t *hidden);
    /* Optional (NULL: every action allowed). mask[a] = 1 if a is useful in state. */
    void (*action_mask)(const void *ctx, int state, uint8_t *mask);
    /* Optional. Text of the state (last_action -1 after a reset), with ANSI
     * colours if color; snprintf-like: returns the full length, writes what
     * fits plus a NUL. */
    size_t (*render)(const void *ctx, int state, int last_action, int color, char *buf,
                     size_t bufsize);
    /* Optional. Name of an action, or NULL. */
    const char *(*action_name)(const void *ctx, int action);

    /* The model, optional (both or neither). outcomes fills out[] (room for
     * max_outcomes) with the outcomes of (state, action) and returns how many
     * (>= 1; probabilities summing to 1). Its law must be the one step
     * samples, and it must not depend on `hidden`. */
    int (*outcomes)(const void *ctx, int state, int action, cldqn_outcome *out);
    /* start[s] = probability that reset returns s (n_states entries). */
    void (*start_distribution)(const void *ctx, double *start);

    /* Optional. Frees ctx (cldqn_env_def_free calls it). */
    void (*destroy)(void *ctx);
};

/* Checks a def's sizes and required callbacks. */
cldqn_status cldqn_env_def_check(const cldqn_env_def *def);
/* 1 if def has a model (outcomes and start distribution). */
int cldqn_env_has_model(const cldqn_env_def *def);

/* Creates a built-in environment from "ID[:key=value,...]", e.g.
 * "FrozenLake-v1:map_name=8x8,is_slippery=false". Booleans are true/false
 * (also True/False, 1/0). On failure *out is NULL and the message names the
 * bad part. Free with cldqn_env_def_free. */
cldqn_status cldqn_env_def_create(const char *spec, cldqn_env_def **out);
void cldqn_env_def_free(cldqn_env_def *def);

typedef struct {
    const cldqn_env_def *def; /* not owned */
    cldqn_rng rng;            /* resets and steps, stream CLDQN_STREAM_ENV */
    int state;                /* -1 before the first reset */
    int steps;                /* steps since reset, for the time limit */
    int last_action;          /* -1 after reset */
    int64_t hidden;           /* the implementation's episode state beyond `state` */
} cldqn_env;

/* Binds env to def with the stream (seed, CLDQN_STREAM_ENV); does not reset.
 * For Taxi the draws are those of cldqn_taxi_init/reset/step, bit for bit. */
cldqn_status cldqn_env_init(cldqn_env *env, const cldqn_env_def *def, uint64_t seed);
/* Starts an episode; returns the start state. */
int cldqn_env_reset(cldqn_env *env);
/* Starts an episode in a given state. */
cldqn_status cldqn_env_reset_to(cldqn_env *env, int state);
/* One step; res may be NULL. Like Gymnasium, stepping on after an episode
 * ended is allowed; callers reset. */
cldqn_status cldqn_env_step(cldqn_env *env, int action, cldqn_env_step_result *res);
/* mask[a] for the current state (all 1 without an action_mask callback). */
void cldqn_env_action_mask(const cldqn_env *env, uint8_t *mask);
/* The current state's text (see render above); without a render callback,
 * "state N\n". */
size_t cldqn_env_render(const cldqn_env *env, int color, char *buf, size_t bufsize);

/* Blackjack's state index of an observation (natural: a dealt ace + ten,
 * sum and usable_ace then ignored), or -1 if out of range. */
int cldqn_blackjack_state(int sum, int dealer, int usable_ace, int natural);
/* The observation of a Blackjack state; returns 1 for a natural, 0 for
 * another state, -1 if state is out of range. */
int cldqn_blackjack_obs(int state, int *sum, int *dealer, int *usable_ace);

/* ---- exact planning on the model (env_vi.c) ----------------------------
 * All return CLDQN_ERR_ARG for a def without a model. Backups are Jacobi
 * sweeps: V'(s) = max_a sum_o p (r + gamma (1 - terminated) V(s')). */

/* Infinite horizon, from V = 0 until the largest change of a sweep is below
 * tol (CLDQN_ERR_NUMERIC if that never happens). gamma 1 needs every
 * episode to be able to end, as in all built-ins. *sweeps may be NULL. */
cldqn_status cldqn_env_value_iteration(const cldqn_env_def *def, double gamma, double tol,
                                       double *V, int *sweeps);
/* Optimal expected return within `horizon` steps (gamma 1): exactly
 * `horizon` sweeps from V = 0. */
cldqn_status cldqn_env_finite_horizon(const cldqn_env_def *def, int horizon, double *V);
/* sum_s start[s] V[s]: the mean return from the start distribution. */
double cldqn_env_start_mean(const cldqn_env_def *def, const double *V);

typedef struct {
    double mean_return;     /* expected return of the first `horizon` steps */
    double terminated_prob; /* probability the episode ends within them */
    double mean_steps;      /* expected steps taken (at most horizon) */
} cldqn_env_eval;

/* Exact evaluation of a deterministic policy (policy[s] an action) from the
 * start distribution over the first `horizon` steps: backward induction,
 * horizon sweeps. Finite because that is what an episode under the time
 * limit returns in expectation (FrozenLake-v1's optimal success within 100
 * steps is 0.74, not the 0.82 of the endless lake), and because a policy that
 * never ends (CliffWalking walking into a wall) has no infinite-horizon value
 * but a finite-horizon one. horizon 0 uses def->time_limit, which must be set;
 * without one the caller chooses the cap, as Taxi's max_steps. */
cldqn_status cldqn_env_eval_policy(const cldqn_env_def *def, const int *policy, int horizon,
                                   cldqn_env_eval *out);

#endif
