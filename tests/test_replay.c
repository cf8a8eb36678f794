/* test_replay.c - replay memory: ring order, limits, sampling, restore.
 *
 * Each pushed transition carries its push number in `state` (mod 500), so
 * every check compares against the exact sequence that was pushed. Sampling
 * checks use fixed seeds; their thresholds are chi-squared quantiles at
 * significance 0.001 (computed with torch.special.gammainc). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cldqn/replay.h"
#include "harness.h"

#define CHI2_999_DF9  27.8772
#define CHI2_999_DF12 32.9095

_Static_assert(sizeof(cldqn_transition) == 8, "transition is 8 bytes");

static cldqn_transition tr(unsigned i)
{
    cldqn_transition t = {0};
    t.state = (uint16_t)(i % 500);
    t.next_state = (uint16_t)((i + 1) % 500);
    t.action = (uint8_t)(i % 6);
    t.reward = (int8_t)((i % 3) ? -1 : 20);
    t.terminated = (uint8_t)(i % 7 == 0);
    return t;
}

static int same(const cldqn_transition *a, const cldqn_transition *b)
{
    return a && b && !memcmp(a, b, sizeof *a);
}

static void test_size(void)
{
    CU_ASSERT_EQUAL(sizeof(cldqn_transition), 8);
}

static void test_capacity_limits(void)
{
    cldqn_replay *rb = (cldqn_replay *)1;
    CU_ASSERT_EQUAL(cldqn_replay_create(0, &rb), CLDQN_ERR_ARG);
    CU_ASSERT_PTR_NULL(rb);
    CU_ASSERT(strlen(cldqn_last_error()) > 0);
    CU_ASSERT_EQUAL(cldqn_replay_create((size_t)CLDQN_REPLAY_MAX_CAPACITY + 1, &rb), CLDQN_ERR_ARG);
    CU_ASSERT_EQUAL(cldqn_replay_create((size_t)-1, &rb), CLDQN_ERR_ARG);
    CU_ASSERT_EQUAL(cldqn_replay_create(1, &rb), CLDQN_OK);
    CU_ASSERT_EQUAL(cldqn_replay_capacity(rb), 1);
    cldqn_replay_free(rb);
}

static void test_wraparound_order(void)
{
    cldqn_replay *rb;
    CU_ASSERT_FATAL(cldqn_replay_create(7, &rb) == CLDQN_OK);
    for (unsigned i = 0; i < 25; i++) {
        cldqn_transition t = tr(i);
        cldqn_replay_push(rb, &t);
        size_t expect = i + 1 < 7 ? i + 1 : 7;
        CU_ASSERT_EQUAL(cldqn_replay_size(rb), expect);
        /* The last `size` pushes, oldest first. */
        for (size_t k = 0; k < expect; k++) {
            cldqn_transition want = tr(i + 1 - (unsigned)expect + (unsigned)k);
            CU_ASSERT(same(cldqn_replay_get(rb, k), &want));
        }
        CU_ASSERT_PTR_NULL(cldqn_replay_get(rb, expect));
    }
    CU_ASSERT_EQUAL(cldqn_replay_pushed(rb), 25);
    cldqn_replay_clear(rb);
    CU_ASSERT_EQUAL(cldqn_replay_size(rb), 0);
    CU_ASSERT_EQUAL(cldqn_replay_pushed(rb), 0);
    CU_ASSERT_PTR_NULL(cldqn_replay_get(rb, 0));
    cldqn_transition t = tr(100);
    cldqn_replay_push(rb, &t);
    CU_ASSERT(same(cldqn_replay_get(rb, 0), &t));
    cldqn_replay_free(rb);
}

static void test_capacity_one(void)
{
    cldqn_replay *rb;
    CU_ASSERT_FATAL(cldqn_replay_create(1, &rb) == CLDQN_OK);
    for (unsigned i = 0; i < 5; i++) {
        cldqn_transition t = tr(i);
        cldqn_replay_push(rb, &t);
        CU_ASSERT_EQUAL(cldqn_replay_size(rb), 1);
        CU_ASSERT(same(cldqn_replay_get(rb, 0), &t));
    }
    cldqn_rng r;
    cldqn_rng_seed(&r, 1, CLDQN_STREAM_SAMPLE);
    uint32_t idx[4];
    CU_ASSERT_EQUAL(cldqn_replay_sample(rb, &r, 4, 1, idx), CLDQN_OK);
    for (int i = 0; i < 4; i++) CU_ASSERT_EQUAL(idx[i], 0);
    CU_ASSERT_EQUAL(cldqn_replay_sample(rb, &r, 1, 0, idx), CLDQN_OK);
    CU_ASSERT_EQUAL(idx[0], 0);
    CU_ASSERT_EQUAL(cldqn_replay_sample(rb, &r, 2, 0, idx), CLDQN_ERR_ARG);
    cldqn_replay_free(rb);
}

static void test_sample_errors(void)
{
    cldqn_replay *rb;
    CU_ASSERT_FATAL(cldqn_replay_create(10, &rb) == CLDQN_OK);
    cldqn_rng r;
    cldqn_rng_seed(&r, 2, CLDQN_STREAM_SAMPLE);
    uint32_t idx[16];
    CU_ASSERT_EQUAL(cldqn_replay_sample(rb, &r, 1, 1, idx), CLDQN_ERR_ARG); /* empty */
    CU_ASSERT_EQUAL(cldqn_replay_sample(rb, &r, 1, 0, idx), CLDQN_ERR_ARG);
    for (unsigned i = 0; i < 3; i++) {
        cldqn_transition t = tr(i);
        cldqn_replay_push(rb, &t);
    }
    CU_ASSERT_EQUAL(cldqn_replay_sample(rb, &r, 4, 0, idx), CLDQN_ERR_ARG); /* n > size */
    CU_ASSERT_EQUAL(cldqn_replay_sample(rb, &r, 3, 0, idx), CLDQN_OK);
    CU_ASSERT_EQUAL(cldqn_replay_sample(rb, &r, 16, 1, idx), CLDQN_OK); /* with: any n */
    cldqn_replay_free(rb);
}

/* Partly filled: sampling must stay inside the written prefix. */
static void test_sample_partial_fill(void)
{
    cldqn_replay *rb;
    CU_ASSERT_FATAL(cldqn_replay_create(100, &rb) == CLDQN_OK);
    for (unsigned i = 0; i < 13; i++) {
        cldqn_transition t = tr(i);
        cldqn_replay_push(rb, &t);
    }
    cldqn_rng r;
    cldqn_rng_seed(&r, 3, CLDQN_STREAM_SAMPLE);
    uint32_t idx[13];
    long seen[13] = {0};
    for (int rep = 0; rep < 2000; rep++) {
        int repl = rep & 1;
        size_t n = repl ? 13 : 1 + (size_t)(rep % 13);
        CU_ASSERT_FATAL(cldqn_replay_sample(rb, &r, n, repl, idx) == CLDQN_OK);
        for (size_t k = 0; k < n; k++) {
            CU_ASSERT_FATAL(idx[k] < 13);
            cldqn_transition want = tr(idx[k]);
            CU_ASSERT(same(cldqn_replay_get(rb, idx[k]), &want));
            seen[idx[k]]++;
        }
    }
    for (int k = 0; k < 13; k++) CU_ASSERT(seen[k] > 0);
    cldqn_replay_free(rb);
}

static double chi2_uniform(const long *counts, int k, long total)
{
    double expect = (double)total / k, x = 0.0;
    for (int i = 0; i < k; i++) x += (counts[i] - expect) * (counts[i] - expect) / expect;
    return x;
}

static void test_sample_uniform_with_replacement(void)
{
    cldqn_replay *rb;
    CU_ASSERT_FATAL(cldqn_replay_create(10, &rb) == CLDQN_OK);
    for (unsigned i = 0; i < 37; i++) { /* wrapped: head is mid-ring */
        cldqn_transition t = tr(i);
        cldqn_replay_push(rb, &t);
    }
    cldqn_rng r;
    cldqn_rng_seed(&r, 4, CLDQN_STREAM_SAMPLE);
    long counts[10] = {0};
    uint32_t idx[32];
    const long N = 200000;
    for (long rep = 0; rep < N / 32; rep++) {
        CU_ASSERT_FATAL(cldqn_replay_sample(rb, &r, 32, 1, idx) == CLDQN_OK);
        for (int k = 0; k < 32; k++) counts[idx[k]]++;
    }
    double x2 = chi2_uniform(counts, 10, N / 32 * 32);
    printf("\n  with replacement: chi2 %.2f (df 9, critical %.2f at 0.001)\n", x2, CHI2_999_DF9);
    CU_ASSERT(x2 < CHI2_999_DF9);
    cldqn_replay_free(rb);
}

static void test_sample_without_replacement(void)
{
    cldqn_replay *rb;
    CU_ASSERT_FATAL(cldqn_replay_create(13, &rb) == CLDQN_OK);
    for (unsigned i = 0; i < 20; i++) {
        cldqn_transition t = tr(i);
        cldqn_replay_push(rb, &t);
    }
    cldqn_rng r;
    cldqn_rng_seed(&r, 5, CLDQN_STREAM_SAMPLE);
    /* Inclusion of each index (5 of 13) and the first position both uniform. */
    long incl[13] = {0}, first[13] = {0};
    uint32_t idx[13];
    const long reps = 40000;
    for (long rep = 0; rep < reps; rep++) {
        CU_ASSERT_FATAL(cldqn_replay_sample(rb, &r, 5, 0, idx) == CLDQN_OK);
        for (int a = 0; a < 5; a++) {
            CU_ASSERT_FATAL(idx[a] < 13);
            for (int b = 0; b < a; b++) CU_ASSERT_FATAL(idx[a] != idx[b]);
            incl[idx[a]]++;
        }
        first[idx[0]]++;
    }
    double xi = chi2_uniform(incl, 13, reps * 5), xf = chi2_uniform(first, 13, reps);
    printf("  without replacement: inclusion chi2 %.2f, first position chi2 %.2f (df 12, "
           "critical %.2f)\n",
           xi, xf, CHI2_999_DF12);
    /* Inclusion counts of a fixed-size sample are negatively correlated, which
     * only lowers this statistic; the quantile stays a valid upper bound. */
    CU_ASSERT(xi < CHI2_999_DF12);
    CU_ASSERT(xf < CHI2_999_DF12);
    /* n == size: a permutation. */
    CU_ASSERT_FATAL(cldqn_replay_sample(rb, &r, 13, 0, idx) == CLDQN_OK);
    int hit[13] = {0};
    for (int a = 0; a < 13; a++) hit[idx[a]]++;
    for (int a = 0; a < 13; a++) CU_ASSERT_EQUAL(hit[a], 1);
    cldqn_replay_free(rb);

    /* A large draw (heap-allocated set): 3000 distinct of 5000. */
    CU_ASSERT_FATAL(cldqn_replay_create(5000, &rb) == CLDQN_OK);
    for (unsigned i = 0; i < 5000; i++) {
        cldqn_transition t = tr(i);
        cldqn_replay_push(rb, &t);
    }
    uint32_t *big = malloc(3000 * sizeof *big);
    char *mark = calloc(5000, 1);
    CU_ASSERT_FATAL(big && mark);
    CU_ASSERT_FATAL(cldqn_replay_sample(rb, &r, 3000, 0, big) == CLDQN_OK);
    int dup = 0;
    for (int a = 0; a < 3000; a++) {
        CU_ASSERT_FATAL(big[a] < 5000);
        dup += mark[big[a]];
        mark[big[a]] = 1;
    }
    CU_ASSERT_EQUAL(dup, 0);
    free(big);
    free(mark);
    cldqn_replay_free(rb);
}

/* n-step returns against each env's own history: 3 envs pushing in turn
 * into a ring that wraps, episodes ending by termination or truncation at
 * random; every stored transition's return walks that env's log. */
static void test_nstep(void)
{
    enum { E = 3, STEPS = 400, CAP = 50 };
    cldqn_replay *rb = NULL;
    CU_ASSERT_EQUAL_FATAL(cldqn_replay_create(CAP, &rb), CLDQN_OK);
    static cldqn_transition log[E][STEPS];
    cldqn_rng r;
    cldqn_rng_seed(&r, 7, 0);
    static const int8_t rewards[3] = {-1, -10, 20};
    for (int t = 0; t < STEPS; t++)
        for (int e = 0; e < E; e++) {
            const uint32_t u = cldqn_rng_below(&r, 20);
            cldqn_transition tr = {(uint16_t)cldqn_rng_below(&r, 500),
                                   (uint16_t)cldqn_rng_below(&r, 500),
                                   (uint8_t)cldqn_rng_below(&r, 6),
                                   rewards[cldqn_rng_below(&r, 3)],
                                   u == 0,
                                   u == 1 ? CLDQN_TRANSITION_TRUNCATED : 0};
            log[e][t] = tr;
            cldqn_replay_push(rb, &tr);
        }
    const float gamma = 0.9f;
    for (int n = 1; n <= 6; n++)
        for (size_t i = 0; i < CAP; i++) {
            /* Stored i is push STEPS*E - CAP + i: env and step from that. */
            const size_t push = (size_t)STEPS * E - CAP + i;
            const int e = (int)(push % E), t0 = (int)(push / E);
            float want = 0.0f, wd = 1.0f;
            int tl = t0; /* the last step summed */
            for (int k = 0; k < n; k++) {
                tl = t0 + k;
                want += wd * (float)log[e][tl].reward;
                wd *= gamma;
                if (log[e][tl].terminated || log[e][tl].flags || tl + 1 >= STEPS) break;
            }
            float ret, disc;
            const cldqn_transition *last;
            cldqn_replay_nstep(rb, i, n, E, gamma, &ret, &disc, &last);
            CU_ASSERT_EQUAL(ret, want);
            CU_ASSERT_EQUAL(disc, wd);
            CU_ASSERT_EQUAL(memcmp(last, &log[e][tl], sizeof *last), 0);
        }
    cldqn_replay_free(rb);
}

static void test_restore_round_trip(void)
{
    cldqn_replay *a, *b;
    CU_ASSERT_FATAL(cldqn_replay_create(9, &a) == CLDQN_OK);
    CU_ASSERT_FATAL(cldqn_replay_create(9, &b) == CLDQN_OK);
    for (unsigned i = 0; i < 20; i++) {
        cldqn_transition t = tr(i);
        cldqn_replay_push(a, &t);
    }
    cldqn_transition items[9];
    CU_ASSERT_FATAL(cldqn_replay_snapshot(a, items) == CLDQN_OK);
    for (unsigned k = 0; k < 9; k++) {
        cldqn_transition want = tr(11 + k);
        CU_ASSERT(same(&items[k], &want));
    }
    CU_ASSERT_EQUAL(cldqn_replay_restore(b, items, 9, cldqn_replay_pushed(a)), CLDQN_OK);
    CU_ASSERT_EQUAL(cldqn_replay_size(b), 9);
    CU_ASSERT_EQUAL(cldqn_replay_pushed(b), 20);
    /* Both continue identically: the next push drops the same oldest item. */
    cldqn_transition t = tr(20);
    cldqn_replay_push(a, &t);
    cldqn_replay_push(b, &t);
    for (size_t k = 0; k < 9; k++) CU_ASSERT(same(cldqn_replay_get(a, k), cldqn_replay_get(b, k)));
    cldqn_transition want = tr(12);
    CU_ASSERT(same(cldqn_replay_get(b, 0), &want));
    /* A partial memory restores too. */
    CU_ASSERT_EQUAL(cldqn_replay_restore(b, items, 4, 4), CLDQN_OK);
    CU_ASSERT_EQUAL(cldqn_replay_size(b), 4);
    CU_ASSERT(same(cldqn_replay_get(b, 3), &items[3]));
    CU_ASSERT_PTR_NULL(cldqn_replay_get(b, 4));
    /* Rejected: more than capacity, counts that disagree, a transition not Taxi's. */
    cldqn_transition ten[10];
    for (unsigned k = 0; k < 10; k++) ten[k] = tr(k);
    CU_ASSERT_EQUAL(cldqn_replay_restore(b, ten, 10, 10), CLDQN_ERR_ARG);
    CU_ASSERT_EQUAL(cldqn_replay_restore(b, ten, 5, 4), CLDQN_ERR_FORMAT);
    /* Until the memory is full every push is stored: 5 stored, 6 pushed. */
    CU_ASSERT_EQUAL(cldqn_replay_restore(b, ten, 5, 6), CLDQN_ERR_FORMAT);
    ten[2].state = 500;
    CU_ASSERT_EQUAL(cldqn_replay_restore(b, ten, 5, 5), CLDQN_ERR_FORMAT);
    ten[2] = tr(2);
    ten[3].action = 6;
    CU_ASSERT_EQUAL(cldqn_replay_restore(b, ten, 5, 5), CLDQN_ERR_FORMAT);
    cldqn_replay_free(a);
    cldqn_replay_free(b);
}

int register_suites(void)
{
    static const harness_test tests[] = {
        {"transition is 8 bytes", test_size},
        {"capacity limits", test_capacity_limits},
        {"wrap-around keeps the last capacity in order", test_wraparound_order},
        {"capacity 1", test_capacity_one},
        {"sample errors", test_sample_errors},
        {"sampling stays in the written prefix", test_sample_partial_fill},
        {"with replacement is uniform", test_sample_uniform_with_replacement},
        {"without replacement: distinct, uniform", test_sample_without_replacement},
        {"snapshot/restore round trip", test_restore_round_trip},
        {"n-step returns against each env's history", test_nstep},
        {NULL, NULL},
    };
    return harness_add_suite("replay", NULL, NULL, tests);
}
