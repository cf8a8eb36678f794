/* train_state.h - the resumable training state of one agent (PATH + PATH.state).
 *
 * The one writer and reader of the trainer's checkpoint format: cldqn_trainer
 * (trainer.c) saves and resumes through them, and so does the population for
 * every agent, so a population agent's checkpoint resumes as a solo run and a
 * population resumes from solo checkpoints. tests/test_population.c checks
 * both ways and that the files match tensor for tensor and key for key. */
#ifndef CLDQN_TRAIN_STATE_H
#define CLDQN_TRAIN_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "cldqn/config.h"
#include "cldqn/net.h"
#include "cldqn/replay.h"
#include "cldqn/rng.h"
#include "cldqn/status.h"
#include "cldqn/trainer.h"

/* One Taxi instance and its episode in progress. */
typedef struct {
    cldqn_rng rng;                              /* the env's stream */
    int state, fickle_step, steps, last_action; /* as in cldqn_taxi */
    int in_episode, ep_return, ep_len;          /* in_episode: an unfinished episode */
    double loss_sum;                            /* of the updates since the episode began */
    int64_t loss_count;
} cldqn_train_env;

/* Everything a resumed loop needs besides its configuration. The float
 * arrays are (total) each; on load they and envs point into memory the state
 * owns. A file of a one-env run holds env 0 in metadata (env_state, ...);
 * one of an N-env run (N > 1) also has the key "envs" = N and an (N, 11)
 * I64 tensor "envs" of every env, which is what is read back then. */
typedef struct {
    const float *params, *target, *adam_m, *adam_v;
    const cldqn_transition *replay; /* (n_replay) oldest first, as cldqn_replay_get */
    size_t n_replay;
    uint64_t replay_pushed;
    cldqn_rng explore, sample;
    int32_t returns[CLDQN_RETURN_WINDOW]; /* ring of recent episode returns */
    int adam_step;
    int64_t steps, episodes, updates, target_syncs;
    double elapsed;
    int n_envs;                  /* >= 1 */
    const cldqn_train_env *envs; /* (n_envs) */
    /* The best evaluation's weights (NULL: none yet), which PATH holds while
     * the state holds the online ones; its env step and mean return. */
    const float *best;
    int64_t best_steps;
    double best_return;
    /* Owned by a loaded state (cldqn_train_state_free). */
    void *own_file;
    float *own_params;
    cldqn_train_env *own_envs;
} cldqn_train_state;

/* Writes PATH.state, then PATH (the best weights, else the online ones;
 * cfg's JSON, metadata "steps", "best_steps" and "best_return" with best
 * weights, and the extra key/value pairs), each atomically. prev_hash: the hash of the
 * weights this writer last put at PATH (NULL if none), recorded so a crash
 * between the two renames stays resumable. Refuses non-finite numbers
 * (CLDQN_ERR_NUMERIC, naming the tensor). *hash_out: the new weights' hash. */
cldqn_status cldqn_train_state_save(const char *path, const cldqn_config *cfg,
                                    const cldqn_layout *lay, const cldqn_train_state *s,
                                    const uint64_t *prev_hash, const char *const *extra,
                                    uint64_t *hash_out);

/* Reads PATH and PATH.state into *s, checking the pair (hashes), the
 * network shape against cfg's, the replay memory against cfg->replay and
 * the number of envs against cfg->envs (a loop of one env, as the
 * population's, thus refuses an N-env state in one line). stored/lay
 * receive the checkpoint's configuration and layout; *file_hash the hash
 * of the weights file at PATH. CLDQN_ERR_FORMAT on any mismatch. */
cldqn_status cldqn_train_state_load(const char *path, const cldqn_config *cfg, cldqn_config *stored,
                                    cldqn_layout *lay, cldqn_train_state *s, uint64_t *file_hash);
void cldqn_train_state_free(cldqn_train_state *s);

#endif
