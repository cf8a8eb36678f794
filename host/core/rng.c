/* rng.c - PCG32 (XSH-RR 64/32) generator with streams, see rng.h.
 *
 * Follows O'Neill's reference pcg32_srandom_r/pcg32_random_r exactly, so the
 * outputs for (seed 42, stream 54) equal the published pcg32-demo values. */
#include "cldqn/rng.h"

#include <math.h>

#define PCG_MULT 6364136223846793005ULL

static void step(cldqn_rng *r)
{
    r->state = r->state * PCG_MULT + r->inc;
}

void cldqn_rng_seed(cldqn_rng *r, uint64_t seed, uint64_t stream)
{
    r->state = 0;
    r->inc = (stream << 1u) | 1u;
    step(r);
    r->state += seed;
    step(r);
}

uint32_t cldqn_rng_u32(cldqn_rng *r)
{
    uint64_t old = r->state;
    step(r);
    uint32_t xorshifted = (uint32_t)(((old >> 18u) ^ old) >> 27u);
    uint32_t rot = (uint32_t)(old >> 59u);
    return (xorshifted >> rot) | (xorshifted << ((-rot) & 31u));
}

uint32_t cldqn_rng_below(cldqn_rng *r, uint32_t n)
{
    if (n <= 1) return 0;
    /* Reject the lowest 2^32 mod n values so every residue is equally likely. */
    uint32_t threshold = (uint32_t)(-n) % n;
    for (;;) {
        uint32_t x = cldqn_rng_u32(r);
        if (x >= threshold) return x % n;
    }
}

float cldqn_rng_float(cldqn_rng *r)
{
    return (float)(cldqn_rng_u32(r) >> 8) * 0x1.0p-24f;
}

double cldqn_rng_double(cldqn_rng *r)
{
    uint64_t hi = cldqn_rng_u32(r) >> 5; /* 27 bits */
    uint64_t lo = cldqn_rng_u32(r) >> 6; /* 26 bits */
    return (double)((hi << 26) | lo) * 0x1.0p-53;
}

float cldqn_rng_uniform(cldqn_rng *r, float lo, float hi)
{
    float x = lo + (hi - lo) * cldqn_rng_float(r);
    /* Rounding can land exactly on hi; keep the interval half-open. */
    return x < hi ? x : nextafterf(hi, lo);
}

float cldqn_rng_normal(cldqn_rng *r)
{
    /* u1 in (0, 1] so the log is finite. */
    double u1 = 1.0 - cldqn_rng_double(r);
    double u2 = cldqn_rng_double(r);
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}
