/* train_state.h - the resumable training state of one agent (PATH + PATH.state).
 *
 * A writer and a reader of cldqn_trainer_save's format (trainer.c) for
 * loops other than cldqn_trainer: the population saves every agent with
 * them, so that a population agent's checkpoint resumes as a solo run and
 * a population resumes from solo checkpoints. tests/test_population.c
 * checks both ways and that the files match the trainer's tensor for
 * tensor and key for key. (trainer.c keeps its own copy of the format for
 * now: it is being changed for --envs; it can call these once that lands.) */
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

/* Everything a resumed loop needs besides its configuration. The float
 * arrays are (total) each; on load they point into memory the state owns. */
typedef struct {
    const float *params, *target, *adam_m, *adam_v;
    const cldqn_transition *replay; /* (n_replay) oldest first, as cldqn_replay_get */
    size_t n_replay;
    uint64_t replay_pushed;
    cldqn_rng env_rng, explore, sample;
    int32_t returns[CLDQN_RETURN_WINDOW]; /* ring of recent episode returns */
    int adam_step;
    int64_t steps, episodes, updates, target_syncs, loss_count;
    double elapsed, loss_sum;
    int in_episode, ep_return, ep_len;
    int env_state, env_fickle_step, env_steps, env_last_action;
    /* Owned by a loaded state (cldqn_train_state_free). */
    void *own_file;
    float *own_params;
} cldqn_train_state;

/* Writes PATH.state, then PATH (weights, cfg's JSON, metadata "steps" and
 * the extra key/value pairs), each atomically. prev_hash: the hash of the
 * weights this writer last put at PATH (NULL if none), recorded so a crash
 * between the two renames stays resumable. Refuses non-finite numbers
 * (CLDQN_ERR_NUMERIC, naming the tensor). *hash_out: the new weights' hash. */
cldqn_status cldqn_train_state_save(const char *path, const cldqn_config *cfg,
                                    const cldqn_layout *lay, const cldqn_train_state *s,
                                    const uint64_t *prev_hash, const char *const *extra,
                                    uint64_t *hash_out);

/* Reads PATH and PATH.state into *s, checking the pair (hashes), the
 * network shape against cfg's and the replay memory against cfg->replay.
 * stored/lay receive the checkpoint's configuration and layout; *file_hash
 * the hash of the weights file at PATH. CLDQN_ERR_FORMAT on any mismatch. */
cldqn_status cldqn_train_state_load(const char *path, const cldqn_config *cfg, cldqn_config *stored,
                                    cldqn_layout *lay, cldqn_train_state *s, uint64_t *file_hash);
void cldqn_train_state_free(cldqn_train_state *s);

#endif
