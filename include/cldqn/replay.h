/* replay.h - replay memory: a ring buffer of compact Taxi transitions.
 *
 * 8 bytes per transition; the oldest is overwritten once full. Sampling is
 * uniform over what has been written, never over unwritten slots. */
#ifndef CLDQN_REPLAY_H
#define CLDQN_REPLAY_H

#include <stddef.h>
#include <stdint.h>

#include "cldqn/rng.h"
#include "cldqn/status.h"

#define CLDQN_REPLAY_MIN_CAPACITY 1
#define CLDQN_REPLAY_MAX_CAPACITY 100000000u

typedef struct {
    uint16_t state;
    uint16_t next_state;
    uint8_t action;
    int8_t reward;
    uint8_t terminated;
    uint8_t flags; /* CLDQN_TRANSITION_* */
} cldqn_transition;

/* The episode ended after this step without terminating (time limit or
 * episode cap): an n-step return stops here and bootstraps. Recorded by runs
 * with n-step > 1 only, so one-step runs' memories keep their bytes. */
#define CLDQN_TRANSITION_TRUNCATED 1u

typedef struct cldqn_replay cldqn_replay;

cldqn_status cldqn_replay_create(size_t capacity, cldqn_replay **out);
void cldqn_replay_free(cldqn_replay *rb);
void cldqn_replay_clear(cldqn_replay *rb);

size_t cldqn_replay_capacity(const cldqn_replay *rb);
size_t cldqn_replay_size(const cldqn_replay *rb);
/* Total pushes ever (size saturates at capacity, this does not). */
uint64_t cldqn_replay_pushed(const cldqn_replay *rb);

void cldqn_replay_push(cldqn_replay *rb, const cldqn_transition *t);
/* i-th stored transition, 0 = oldest. */
const cldqn_transition *cldqn_replay_get(const cldqn_replay *rb, size_t i);

/* Draws n indices (0 = oldest) uniformly; without replacement needs n <= size
 * (the seed's random.sample). Fails with CLDQN_ERR_ARG if the memory is empty
 * or too small. */
cldqn_status cldqn_replay_sample(const cldqn_replay *rb, cldqn_rng *rng, size_t n,
                                 int with_replacement, uint32_t *idx);

/* The n-step return of stored transition i (0 = oldest) in a memory that
 * n_envs envs fill one push each per step, in env order (so the env's next
 * step is n_envs further): ret = sum_k gamma^k r_(i + k n_envs) over up to
 * n rewards, stopping after a terminated or truncated step or at the newest
 * step stored (as SB3's n-step buffer); *disc = gamma^m after m rewards,
 * and *last the transition whose next state and termination the target
 * bootstraps from. Sums in float, in order. */
void cldqn_replay_nstep(const cldqn_replay *rb, size_t i, int n, size_t n_envs, float gamma,
                        float *ret, float *disc, const cldqn_transition **last);

/* Raw ring contents for checkpoints: writes/reads size transitions, oldest first.
 * snapshot writes cldqn_replay_size(rb) transitions into items. restore needs
 * n <= capacity and pushed >= n; fails with CLDQN_ERR_FORMAT on a transition
 * that is not Taxi's (state or next_state >= 500, action >= 6). */
cldqn_status cldqn_replay_snapshot(const cldqn_replay *rb, cldqn_transition *items);
cldqn_status cldqn_replay_restore(cldqn_replay *rb, const cldqn_transition *items, size_t n,
                                  uint64_t pushed);

#endif
