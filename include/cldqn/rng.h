/* rng.h - PCG32 (O'Neill, XSH-RR 64/32) with independent streams.
 *
 * Each consumer of randomness owns a generator seeded with the run seed and
 * its own stream id, so e.g. changing how often we explore never changes the
 * environment's start states. The state is two uint64s: checkpoints store it. */
#ifndef CLDQN_RNG_H
#define CLDQN_RNG_H

#include <stdint.h>

typedef struct {
    uint64_t state;
    uint64_t inc; /* odd; selects the stream */
} cldqn_rng;

/* Stream ids used by the trainer; any other value is also a valid stream. */
enum {
    CLDQN_STREAM_ENV = 1,     /* environment resets and steps (Taxi: rain, fickle passenger) */
    CLDQN_STREAM_EXPLORE = 2, /* epsilon-greedy coin and random action */
    CLDQN_STREAM_SAMPLE = 3,  /* replay minibatch indices */
    CLDQN_STREAM_INIT = 4,    /* network initialisation */
    CLDQN_STREAM_EVAL = 5,    /* Monte-Carlo evaluation episodes */
};

void cldqn_rng_seed(cldqn_rng *r, uint64_t seed, uint64_t stream);
uint32_t cldqn_rng_u32(cldqn_rng *r);
/* Uniform integer in [0, n), n >= 1, without modulo bias. */
uint32_t cldqn_rng_below(cldqn_rng *r, uint32_t n);
/* Uniform float in [0, 1) with 24 random bits. */
float cldqn_rng_float(cldqn_rng *r);
/* Uniform double in [0, 1) with 53 random bits. */
double cldqn_rng_double(cldqn_rng *r);
/* Uniform float in [lo, hi). */
float cldqn_rng_uniform(cldqn_rng *r, float lo, float hi);
/* Standard normal (Box-Muller on doubles, one value per call). */
float cldqn_rng_normal(cldqn_rng *r);

#endif
