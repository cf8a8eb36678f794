/* trainer.h - the DQN training loop on Taxi, backend-agnostic.
 *
 * The host steps Taxi, chooses epsilon-greedy actions with the online
 * network, keeps the replay memory, samples minibatches and asks the qnet to
 * learn; the target network is synced every N steps (or, as in the seed
 * article, when an episode terminates). The loop is deterministic for a given
 * config and seed: every random draw comes from its own PCG32 stream, and
 * cldqn_trainer_save + cldqn_trainer_resume continue bit-identically.
 *
 * Seed loop order (target_every == 0): step, store, and if the episode
 * terminated sync the target and end it without an update; otherwise update
 * (when the memory holds more than learning_starts transitions) and end the
 * episode at the episode_steps cap. Other modes update on every train_every-th
 * step, then sync every target_every steps, then end finished episodes.
 *
 * Vectorised environments (cfg->envs = N > 1, not in the seed loop): one
 * iteration resets the envs whose episode ended, draws the exploration coin
 * and random action of each env in env order (env i acts with the epsilon of
 * env step steps + i), gets the greedy actions of all exploiting envs from
 * one cldqn_qnet_greedy launch (an env in the state whose action the last
 * update returned takes that; no launch when no env is left), steps the N envs and pushes their N
 * transitions in env order (steps += N), runs the updates a one-env loop would have made after
 * those N steps (one per step that is a multiple of train_every and after which the memory held
 * enough: N = 3, train_every 2 gives 1, 2, 1, 2,
 * ... updates, so the count after S steps does not depend on N), then syncs
 * the target once if the step counter crossed a multiple of
 * target_every, then ends the finished episodes in env order. Evaluation,
 * saving and the on_eval/on_save hooks likewise run when the counter crosses
 * a multiple of eval_every/save_every; step and episode limits are checked
 * between iterations, so a run may end up to N-1 steps past --steps. N = 1 is
 * exactly the single-env loop. Env 0 uses the stream CLDQN_STREAM_ENV, as a
 * single-env run; env i its own stream CLDQN_ENV_STREAM(i). */
#ifndef CLDQN_TRAINER_H
#define CLDQN_TRAINER_H

#include <signal.h>
#include <stdint.h>

#include "cldqn/config.h"
#include "cldqn/qnet.h"
#include "cldqn/rng.h"
#include "cldqn/status.h"
#include "cldqn/taxi.h"

#define CLDQN_RETURN_WINDOW 100

/* On rainy Taxi a greedy policy whose exact expected return is within this
 * fraction of the optimum counts as optimal (--until-optimal). Every
 * optimal policy scores the optimum exactly; 1 % is about a tenth of one
 * wasted step per episode (the optimum is 3.95 over 17 steps). */
#define CLDQN_RAINY_TOL 0.01

/* RNG stream of vectorised env i (resets, rain, fickleness) under the run seed. */
#define CLDQN_ENV_STREAM(i)                                                                        \
    ((i) == 0 ? (uint64_t)CLDQN_STREAM_ENV : (uint64_t)CLDQN_STREAM_ENV + ((uint64_t)(i) << 16))

typedef struct {
    int64_t steps;                /* env steps so far */
    int64_t episodes;             /* finished episodes */
    int64_t updates;              /* qnet updates (minibatches) */
    int64_t target_syncs;         /* target <- online copies */
    double elapsed;               /* seconds spent in cldqn_trainer_run, over all resumes */
    float epsilon;                /* exploration rate of the last step */
    float last_loss;              /* mean loss of the last update (NAN before the first) */
    double mean_return;           /* over the last min(episodes, 100) episodes */
    int last_return, last_length; /* of the last finished episode */
    float episode_loss;           /* mean loss over its updates (NAN if none) */
    int have_eval;                /* an exact evaluation has run */
    cldqn_taxi_eval eval;         /* the latest one */
    double optimal_return;        /* value iteration's optimum (plain Taxi) */
    int reached_optimal;          /* the latest evaluation equals the optimum */
    int64_t optimal_steps, optimal_updates; /* counters when it first did */
    double optimal_elapsed;
    /* The best evaluation so far (ties: the latest), whose weights the
     * checkpoints hold; have_best 0 before the first evaluation. */
    int have_best;
    int64_t best_steps;
    double best_return;
} cldqn_train_stats;

/* A trainer runs K agents through one loop: cldqn_trainer_create and
 * cldqn_trainer_resume make K = 1, a population (population.h) K >= 1. */
typedef struct cldqn_trainer cldqn_trainer;

/* Callbacks of cldqn_trainer_run (and cldqn_population_run); any may be
 * NULL. on_tick runs after every iteration (one env step per env and
 * agent; keep it cheap). on_episode runs once per finished episode, with
 * the stats' last_* fields and cldqn_trainer_env describing that episode;
 * on_eval after each evaluation, on_save after each in-run checkpoint. In
 * them cldqn_trainer_agent is the agent reported, and cldqn_trainer_stats,
 * _config and _env are that agent's. The loop stops after the current
 * iteration when *stop becomes non-zero. */
typedef struct {
    void *ctx;
    void (*on_tick)(void *ctx, const cldqn_trainer *t);
    void (*on_episode)(void *ctx, const cldqn_trainer *t, int terminated);
    void (*on_eval)(void *ctx, const cldqn_trainer *t);
    void (*on_save)(void *ctx, const cldqn_trainer *t, const char *path);
    volatile sig_atomic_t *stop;
} cldqn_train_hooks;

/* Fresh trainer: initialises the network from the INIT stream of cfg->seed. */
cldqn_status cldqn_trainer_create(const cldqn_config *cfg, cldqn_trainer **out);

/* Trainer continuing from a checkpoint written by cldqn_trainer_save (PATH and
 * PATH.state). cfg is the configuration to continue with (normally the one
 * stored in the checkpoint, with run limits changed); its network shape must
 * match. Fails with CLDQN_ERR_FORMAT if the state file is missing, corrupt
 * or belongs to other weights. */
cldqn_status cldqn_trainer_resume(const cldqn_config *cfg, const char *path, cldqn_trainer **out);

void cldqn_trainer_free(cldqn_trainer *t);

/* Runs until cfg's step/episode limit, the optimum (with until_optimal), or
 * *hooks->stop. Saves to cfg->out every save_every steps (if out is set).
 * Returns CLDQN_ERR_INTERRUPT when stopped by the flag, CLDQN_ERR_NUMERIC on
 * a non-finite loss. */
cldqn_status cldqn_trainer_run(cldqn_trainer *t, const cldqn_train_hooks *hooks);

/* Exact greedy evaluation from all 300 starts (deterministic Taxi); updates
 * the stats' eval fields. */
cldqn_status cldqn_trainer_evaluate(cldqn_trainer *t);

/* Writes PATH (weights, safetensors) and PATH.state (the training state). */
cldqn_status cldqn_trainer_save(cldqn_trainer *t, const char *path);

/* The agent a hook reports (0 outside the hooks); the accessors below and
 * cldqn_trainer_evaluate/_save/_qnet act on it. */
int cldqn_trainer_agent(const cldqn_trainer *t);
const cldqn_train_stats *cldqn_trainer_stats(const cldqn_trainer *t);
const cldqn_config *cldqn_trainer_config(const cldqn_trainer *t);
/* The env of the episode on_episode reports (env 0 outside that hook). */
const cldqn_taxi *cldqn_trainer_env(const cldqn_trainer *t);
/* Number of vectorised envs, and env i of them (0 <= i < that number). */
int cldqn_trainer_envs(const cldqn_trainer *t);
const cldqn_taxi *cldqn_trainer_env_at(const cldqn_trainer *t, int i);
/* The agent's network; NULL where the population kernels run K > 1. */
cldqn_qnet *cldqn_trainer_qnet(cldqn_trainer *t);

/* Profiling (cldqn train --profile): cldqn_trainer_run records the
 * iterations that start at a step count (agent 0's) in [from_step,
 * from_step + n_steps) (n_steps 0: no end) into tr as spans of category
 * "phase" on CLDQN_TRACE_TID_HOST: "train step" (one iteration; the phases
 * below nest in it, its own time is acting, the env steps and replay
 * pushes), "replay sample", "update" (one per update call, for every agent
 * that learns), "target sync", "evaluation", "checkpoint save", plus one
 * "profile window" span (category "window") around them and the networks'
 * calls, kernels and transfers (cldqn_qnet_set_trace; with K > 1 on the
 * population kernels "qnets update" etc. and fused_update_pop etc.; device
 * events need cfg->profile set when the trainer was made, which creates a
 * profiling queue). tr NULL stops it. The run's results are unchanged. */
cldqn_status cldqn_trainer_set_trace(cldqn_trainer *t, cldqn_trace *tr, int64_t from_step,
                                     int64_t n_steps);

/* Greedy policy (lowest action on ties) of params by the host reference. */
cldqn_status cldqn_policy_from_params(const cldqn_layout *lay, const float *params,
                                      uint8_t policy[CLDQN_TAXI_STATES]);

/* Sets flush-to-zero and denormals-are-zero for the calling thread (x86):
 * Adam's moments sink into denormals and make host code several times slower. */
void cldqn_set_flush_denormals(void);

/* State-file path for a checkpoint path: PATH ".state". */
#define CLDQN_STATE_SUFFIX ".state"

#endif
