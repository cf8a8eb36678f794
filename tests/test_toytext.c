/* test_toytext.c - the env interface and the toy-text environments against
 * Gymnasium 1.4.0; value iteration and policy evaluation against numpy.
 *
 * Reference data: tests/data/toytext_{model,render}.bin, written by
 * tools/toytext_tables.py (its docstring has the format) with gymnasium.make
 * itself: every grid's env.P, Blackjack's exact infinite-deck outcomes,
 * start distributions, value iteration and a policy's exact return.
 *
 * Tolerances. Transitions, start distributions and renders are compared
 * exactly. Planned values: C and numpy do the same Jacobi sweeps with the
 * same order of operations; each backup of a value V with outcomes k rounds
 * by at most (K + 2) u sum_k p_k (|r_k| + |V|) (K terms, u = 2^-53), and
 * backups do not expand errors (probabilities sum to 1, gamma <= 1, max is
 * 1-Lipschitz), so after n sweeps each side is within n (K + 2) u (R + V)
 * of exact arithmetic: the two differ by at most twice that, with R and V
 * the largest |reward| and |value|. Start means add a sum over the states:
 * n_states eps max|V| more. Sampling checks use fixed seeds and 5 binomial
 * standard deviations (+1 for the discreteness): deterministic, and a false
 * alarm would have probability below 1e-6 per count. */
#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cldqn/env.h"
#include "cldqn/taxi.h"
#include "harness.h"

#define TT_MAGIC 0x54545143u
#define MAX_K    10

/* ---- reading the reference files ---------------------------------------- */

typedef struct {
    const unsigned char *p, *end;
    int bad;
} reader;

static void take(reader *r, void *dst, size_t n)
{
    if (r->bad || (size_t)(r->end - r->p) < n) {
        r->bad = 1;
        memset(dst, 0, n);
        return;
    }
    memcpy(dst, r->p, n); /* the host is little-endian like the files */
    r->p += n;
}
static uint32_t u32(reader *r)
{
    uint32_t v;
    take(r, &v, 4);
    return v;
}
static int32_t i32(reader *r)
{
    int32_t v;
    take(r, &v, 4);
    return v;
}
static double f64(reader *r)
{
    double v;
    take(r, &v, 8);
    return v;
}
static void str(reader *r, char *dst, size_t cap)
{
    uint32_t n = u32(r);
    if (n >= cap) {
        r->bad = 1;
        dst[0] = '\0';
        return;
    }
    take(r, dst, n);
    dst[n] = '\0';
}

typedef struct {
    int n;
    cldqn_outcome o[MAX_K];
} entry;

typedef struct {
    char spec[160];
    int S, A, limit;
    double *start;
    char *listed; /* [S]: outcomes given for this state */
    entry *P;     /* [S * A] */
    double *v1, *v09, *vh;
    int sw1, sw09, H;
    int *policy;
    double policy_return, policy_ended;
} variant;

static variant *g_var;
static int g_nvar;
static unsigned char *g_render;
static size_t g_render_size;

static double *doubles(reader *r, int n)
{
    double *v = malloc(sizeof(double) * (size_t)n);
    if (v)
        for (int i = 0; i < n; i++) v[i] = f64(r);
    return v;
}

static int read_variant(reader *r, variant *v)
{
    str(r, v->spec, sizeof v->spec);
    v->S = i32(r), v->A = i32(r), v->limit = i32(r);
    if (r->bad || v->S < 1 || v->S > 100000 || v->A < 1 || v->A > 16) return -1;
    v->start = doubles(r, v->S);
    v->listed = calloc((size_t)v->S, 1);
    v->P = calloc((size_t)v->S * (size_t)v->A, sizeof *v->P);
    if (!v->start || !v->listed || !v->P) return -1;
    uint32_t n_listed = u32(r);
    for (uint32_t i = 0; i < n_listed && !r->bad; i++) {
        int s = i32(r);
        if (s < 0 || s >= v->S) return -1;
        v->listed[s] = 1;
        for (int a = 0; a < v->A; a++) {
            entry *e = &v->P[s * v->A + a];
            uint8_t n;
            take(r, &n, 1);
            if (n < 1 || n > MAX_K) return -1;
            e->n = n;
            for (int k = 0; k < n; k++) {
                uint8_t t;
                e->o[k].prob = f64(r);
                e->o[k].next_state = i32(r);
                e->o[k].reward = f64(r);
                take(r, &t, 1);
                e->o[k].terminated = t;
            }
        }
    }
    v->v1 = doubles(r, v->S);
    v->sw1 = i32(r);
    v->v09 = doubles(r, v->S);
    v->sw09 = i32(r);
    v->H = i32(r);
    v->vh = doubles(r, v->S);
    v->policy = malloc(sizeof(int) * (size_t)v->S);
    if (!v->v1 || !v->v09 || !v->vh || !v->policy) return -1;
    for (int s = 0; s < v->S; s++) v->policy[s] = i32(r);
    v->policy_return = f64(r);
    v->policy_ended = f64(r);
    return r->bad ? -1 : 0;
}

static int open_file(const char *name, uint32_t kind, unsigned char **buf, size_t *size, reader *r,
                     uint32_t *count)
{
    *buf = harness_read_data(name, size);
    if (!*buf) return -1;
    r->p = *buf;
    r->end = *buf + *size;
    r->bad = 0;
    uint32_t magic = u32(r), version = u32(r), k = u32(r);
    *count = u32(r);
    if (r->bad || magic != TT_MAGIC || version != 1 || k != kind) {
        fprintf(stderr, "%s: bad header\n", name);
        return -1;
    }
    return 0;
}

static int suite_init(void)
{
    unsigned char *buf;
    size_t size;
    reader r;
    uint32_t count;
    if (open_file("toytext_model.bin", 1, &buf, &size, &r, &count) || count < 1 || count > 64)
        return -1;
    g_nvar = (int)count;
    g_var = calloc(count, sizeof *g_var);
    if (!g_var) return -1;
    for (int v = 0; v < g_nvar; v++)
        if (read_variant(&r, &g_var[v])) return -1;
    int bad = r.bad || r.p != r.end;
    free(buf);
    if (bad) return -1;
    return open_file("toytext_render.bin", 2, &g_render, &g_render_size, &r, &count);
}

static int suite_cleanup(void)
{
    for (int v = 0; v < g_nvar; v++) {
        variant *x = &g_var[v];
        free(x->start), free(x->listed), free(x->P), free(x->v1), free(x->v09), free(x->vh);
        free(x->policy);
    }
    free(g_var);
    free(g_render);
    return 0;
}

static cldqn_env_def *make(const char *spec)
{
    cldqn_env_def *def = NULL;
    cldqn_status st = cldqn_env_def_create(spec, &def);
    if (st != CLDQN_OK) printf("\n  %s: %s\n", spec, cldqn_last_error());
    return def;
}

/* ---- the model, transition for transition ------------------------------- */

static void test_transitions(void)
{
    for (int v = 0; v < g_nvar; v++) {
        const variant *x = &g_var[v];
        cldqn_env_def *def = make(x->spec);
        CU_ASSERT_FATAL(def != NULL);
        CU_ASSERT_EQUAL(def->n_states, x->S);
        CU_ASSERT_EQUAL(def->n_actions, x->A);
        CU_ASSERT_EQUAL(def->time_limit, x->limit);
        CU_ASSERT_FATAL(cldqn_env_has_model(def) && def->max_outcomes <= MAX_K);
        double *start = malloc(sizeof(double) * (size_t)x->S);
        char *seen = calloc((size_t)x->S, 1);
        int *queue = malloc(sizeof(int) * (size_t)x->S);
        CU_ASSERT_FATAL(start && seen && queue);
        def->start_distribution(def->ctx, start);
        int bad_start = 0, bad = 0, listed = 0, head = 0, tail = 0;
        for (int s = 0; s < x->S; s++) {
            bad_start += start[s] != x->start[s];
            if (start[s] > 0) seen[s] = 1, queue[tail++] = s;
        }
        for (int s = 0; s < x->S; s++) {
            listed += x->listed[s];
            for (int a = 0; a < x->A; a++) {
                cldqn_outcome o[MAX_K];
                int n = def->outcomes(def->ctx, s, a, o);
                if (!x->listed[s]) {
                    /* Blackjack's other states are absorbing (blackjack.c). */
                    bad += n != 1 || o[0].prob != 1.0 || o[0].next_state != s ||
                           o[0].reward != 0.0 || !o[0].terminated;
                    continue;
                }
                const entry *e = &x->P[s * x->A + a];
                int ok = n == e->n;
                for (int k = 0; ok && k < n; k++)
                    ok = o[k].prob == e->o[k].prob && o[k].next_state == e->o[k].next_state &&
                         o[k].reward == e->o[k].reward && !o[k].terminated == !e->o[k].terminated;
                if (!ok && bad < 5)
                    printf("\n  %s: state %d action %d differs from gymnasium", x->spec, s, a);
                bad += !ok;
            }
        }
        /* The listed states are those an episode reaches before it ends
         * (all of them on the grids): the same closure from cldqn's model. */
        while (head < tail) {
            int s = queue[head++];
            for (int a = 0; a < x->A; a++) {
                cldqn_outcome o[MAX_K];
                int n = def->outcomes(def->ctx, s, a, o);
                for (int k = 0; k < n; k++)
                    if (o[k].prob > 0 && !o[k].terminated && !seen[o[k].next_state])
                        seen[o[k].next_state] = 1, queue[tail++] = o[k].next_state;
            }
        }
        int closure_differs = 0;
        if (listed < x->S)
            for (int s = 0; s < x->S; s++) closure_differs += !seen[s] != !x->listed[s];
        printf("\n  %-72s %4d states listed, %d differ", x->spec, listed, bad);
        CU_ASSERT_EQUAL(bad_start, 0);
        CU_ASSERT_EQUAL(bad, 0);
        CU_ASSERT_EQUAL(closure_differs, 0);
        free(start), free(seen), free(queue);
        cldqn_env_def_free(def);
    }
    printf("\n");
}

/* ---- value iteration and policy evaluation ------------------------------ */

static double max_abs(const double *v, int n)
{
    double m = 0;
    for (int i = 0; i < n; i++) m = fabs(v[i]) > m ? fabs(v[i]) : m;
    return m;
}

static double max_diff(const double *a, const double *b, int n)
{
    double m = 0;
    for (int i = 0; i < n; i++) m = fabs(a[i] - b[i]) > m ? fabs(a[i] - b[i]) : m;
    return m;
}

static double max_reward(const variant *x)
{
    double m = 0;
    for (int i = 0; i < x->S * x->A; i++)
        for (int k = 0; k < x->P[i].n; k++)
            m = fabs(x->P[i].o[k].reward) > m ? fabs(x->P[i].o[k].reward) : m;
    return m;
}

/* Twice n sweeps of (K + 2) u (R + V): see the header. */
static double bound(int sweeps, int K, double R, double V)
{
    return (double)sweeps * (K + 2) * DBL_EPSILON * (R + V);
}

static void test_value_iteration(void)
{
    for (int v = 0; v < g_nvar; v++) {
        const variant *x = &g_var[v];
        cldqn_env_def *def = make(x->spec);
        CU_ASSERT_FATAL(def != NULL);
        double *V = malloc(sizeof(double) * (size_t)x->S);
        CU_ASSERT_FATAL(V != NULL);
        double R = max_reward(x);
        int K = def->max_outcomes, sw;

        CU_ASSERT_FATAL(cldqn_env_value_iteration(def, 1.0, 1e-13, V, &sw) == CLDQN_OK);
        double e1 = max_diff(V, x->v1, x->S), b1 = bound(sw, K, R, max_abs(x->v1, x->S));
        CU_ASSERT_EQUAL(sw, x->sw1);
        CU_ASSERT(e1 <= b1);
        double opt = cldqn_env_start_mean(def, V);

        CU_ASSERT_FATAL(cldqn_env_value_iteration(def, 0.9, 1e-13, V, &sw) == CLDQN_OK);
        double e9 = max_diff(V, x->v09, x->S), b9 = bound(sw, K, R, max_abs(x->v09, x->S));
        CU_ASSERT_EQUAL(sw, x->sw09);
        CU_ASSERT(e9 <= b9);

        CU_ASSERT_FATAL(cldqn_env_finite_horizon(def, x->H, V) == CLDQN_OK);
        double vmax = max_abs(x->vh, x->S);
        double eh = max_diff(V, x->vh, x->S), bh = bound(x->H, K, R, vmax);
        CU_ASSERT(eh <= bh);
        double opt_h = cldqn_env_start_mean(def, V);

        cldqn_env_eval ev;
        CU_ASSERT_FATAL(cldqn_env_eval_policy(def, x->policy, x->H, &ev) == CLDQN_OK);
        /* The policy's values are bounded by the largest |value| it can
         * collect, H R; the start mean adds one sum over the states. */
        double bp = bound(x->H, K, R, x->H * R) + x->S * DBL_EPSILON * x->H * R;
        double bt = bound(x->H, K, 1.0, 1.0) + x->S * DBL_EPSILON;
        CU_ASSERT(fabs(ev.mean_return - x->policy_return) <= bp);
        CU_ASSERT(fabs(ev.terminated_prob - x->policy_ended) <= bt);
        /* No policy beats the optimum within the same horizon. */
        CU_ASSERT(ev.mean_return <= opt_h + bh);
        CU_ASSERT(ev.mean_steps >= 1.0 && ev.mean_steps <= x->H);
        printf(
            "\n  %-60s optimum %.6f (%.6f in %d steps), gamma-0.9 greedy %.6f; |dV| %.1e/%.1e/%.1e "
            "(bounds %.1e/%.1e/%.1e)",
            x->spec, opt, opt_h, x->H, ev.mean_return, e1, e9, eh, b1, b9, bh);
        free(V);
        cldqn_env_def_free(def);
    }
    printf("\n");
}

/* Taxi's generic planning against host/core/taxi_vi.c. */
static void test_taxi_planning(void)
{
    const char *specs[2] = {"Taxi-v4", "Taxi-v4:is_rainy=true"};
    for (int i = 0; i < 2; i++) {
        cldqn_env_def *def = make(specs[i]);
        CU_ASSERT_FATAL(def != NULL);
        CU_ASSERT_EQUAL(def->time_limit, 200);
        cldqn_taxi_config cfg = cldqn_taxi_default_config();
        cfg.is_rainy = i;
        double V[CLDQN_TAXI_STATES], W[CLDQN_TAXI_STATES];
        CU_ASSERT_FATAL(cldqn_env_value_iteration(def, 1.0, 1e-12, V, NULL) == CLDQN_OK);
        CU_ASSERT_FATAL(cldqn_taxi_value_iteration(&cfg, 1.0, 1e-12, W) == CLDQN_OK);
        /* The same sweeps in the same order of operations: equal bit for bit. */
        CU_ASSERT_EQUAL(max_diff(V, W, CLDQN_TAXI_STATES), 0.0);
        double mean = cldqn_env_start_mean(def, V), ref = cldqn_taxi_optimal_mean_return(&cfg);
        /* 300 terms summed two ways (p V in order, or sum V / 300). */
        double b = 2 * 300 * DBL_EPSILON * max_abs(V, CLDQN_TAXI_STATES);
        CU_ASSERT(fabs(mean - ref) <= b);
        if (i == 0) {
            /* Greedy at gamma 1 is optimal on integer values (a wasted step
             * costs 1); its exact return equals taxi_vi's roll-outs. */
            int policy[CLDQN_TAXI_STATES];
            uint8_t policy8[CLDQN_TAXI_STATES];
            for (int s = 0; s < CLDQN_TAXI_STATES; s++) {
                double best = -INFINITY;
                for (int a = 0; a < CLDQN_TAXI_ACTIONS; a++) {
                    cldqn_outcome o[3];
                    def->outcomes(def->ctx, s, a, o);
                    double q = o[0].reward + (o[0].terminated ? 0.0 : V[o[0].next_state]);
                    if (q > best) best = q, policy[s] = a;
                }
                policy8[s] = (uint8_t)policy[s];
            }
            cldqn_env_eval ev;
            cldqn_taxi_eval tev;
            CU_ASSERT_FATAL(cldqn_env_eval_policy(def, policy, 0, &ev) == CLDQN_OK);
            CU_ASSERT_FATAL(cldqn_taxi_eval_policy(policy8, 200, &tev) == CLDQN_OK);
            CU_ASSERT(fabs(ev.mean_return - tev.mean_return) <= b);
            CU_ASSERT(fabs(ev.mean_return - ref) <= b);
            CU_ASSERT(fabs(ev.mean_steps - tev.mean_steps) <= b);
            CU_ASSERT(fabs(ev.terminated_prob - 1.0) <= 2 * 300 * DBL_EPSILON);
            printf("\n  Taxi-v4: optimum %.6f, greedy policy %.6f (taxi_vi %.6f)", ref,
                   ev.mean_return, tev.mean_return);
        }
        cldqn_env_def_free(def);
    }
    printf("\n");
    /* No model, no planning: the fickle passenger. */
    cldqn_env_def *def = make("Taxi-v3:fickle_passenger=true");
    CU_ASSERT_FATAL(def != NULL);
    double V[CLDQN_TAXI_STATES];
    CU_ASSERT(!cldqn_env_has_model(def));
    CU_ASSERT_EQUAL(cldqn_env_value_iteration(def, 1.0, 1e-9, V, NULL), CLDQN_ERR_ARG);
    cldqn_env_def_free(def);
}

/* ---- stepping through the interface ------------------------------------- */

static int within(long count, long n, double p)
{
    return fabs((double)count - n * p) <= 5.0 * sqrt(n * p * (1.0 - p)) + 1.0;
}

static int same(const cldqn_outcome *o, int next, double reward, int terminated)
{
    return o->next_state == next && o->reward == reward && !o->terminated == !terminated;
}

/* Outcomes may repeat (two slips into one wall, or a slip of probability 0):
 * a step counts for the first outcome of positive probability like it, and
 * the law of that index is the sum over its repeats. -1: no such outcome. */
static int first_positive(const entry *e, int next, double reward, int terminated)
{
    for (int k = 0; k < e->n; k++)
        if (e->o[k].prob > 0 && same(&e->o[k], next, reward, terminated)) return k;
    return -1;
}

/* Resets and steps from every listed state agree with the model in law;
 * every step is one of its outcomes; truncation comes at the time limit. */
static void test_stepping(void)
{
    for (int v = 0; v < g_nvar; v++) {
        const variant *x = &g_var[v];
        cldqn_env_def *def = make(x->spec);
        CU_ASSERT_FATAL(def != NULL);
        cldqn_env env;
        CU_ASSERT_FATAL(cldqn_env_init(&env, def, 7 + (uint64_t)v) == CLDQN_OK);
        long *count = calloc((size_t)x->S, sizeof *count);
        CU_ASSERT_FATAL(count != NULL);
        const long N = 100000, M = 1000;
        for (long i = 0; i < N; i++) count[cldqn_env_reset(&env)]++;
        int bad_start = 0;
        for (int s = 0; s < x->S; s++) bad_start += !within(count[s], N, x->start[s]);
        int bad_step = 0, foreign = 0, checks = 0;
        for (int s = 0; s < x->S; s++) {
            if (!x->listed[s]) continue;
            for (int a = 0; a < x->A; a++) {
                const entry *e = &x->P[s * x->A + a];
                long hits[MAX_K] = {0};
                for (long i = 0; i < M; i++) {
                    cldqn_env_step_result r;
                    CU_ASSERT_FATAL(cldqn_env_reset_to(&env, s) == CLDQN_OK);
                    CU_ASSERT_FATAL(cldqn_env_step(&env, a, &r) == CLDQN_OK);
                    int k = first_positive(e, r.next_state, r.reward, r.terminated);
                    if (k < 0)
                        foreign++;
                    else
                        hits[k]++;
                }
                for (int k = 0; k < e->n; k++) {
                    const cldqn_outcome *o = &e->o[k];
                    if (first_positive(e, o->next_state, o->reward, o->terminated) != k) continue;
                    double p = 0;
                    for (int j = 0; j < e->n; j++)
                        if (same(&e->o[j], o->next_state, o->reward, o->terminated))
                            p += e->o[j].prob;
                    int ok = within(hits[k], M, p);
                    if (!ok)
                        printf("\n  %s: state %d action %d outcome %d: %ld of %ld, p %g", x->spec,
                               s, a, k, hits[k], M, p);
                    bad_step += !ok;
                    checks++;
                }
            }
        }
        /* A whole episode: truncated exactly at the limit, not before. */
        int bad_trunc = 0;
        cldqn_rng pick;
        cldqn_rng_seed(&pick, 99, 0);
        for (int ep = 0; ep < 50; ep++) {
            cldqn_env_reset(&env);
            for (int t = 1; t <= 1000; t++) {
                cldqn_env_step_result r;
                cldqn_env_step(&env, (int)cldqn_rng_below(&pick, (uint32_t)x->A), &r);
                bad_trunc += r.truncated != (x->limit > 0 && t >= x->limit);
                if (r.terminated || r.truncated) break;
            }
        }
        printf("\n  %-60s %ld resets, %d outcome frequencies within 5 sigma", x->spec, N, checks);
        CU_ASSERT_EQUAL(bad_start, 0);
        CU_ASSERT_EQUAL(bad_step, 0);
        if (foreign) printf("\n  %s: %d steps outside the model", x->spec, foreign);
        CU_ASSERT_EQUAL(foreign, 0);
        CU_ASSERT_EQUAL(bad_trunc, 0);
        free(count);
        cldqn_env_def_free(def);
    }
    printf("\n");
}

/* The Taxi behind the interface is cldqn_taxi bit for bit: same seeds, same
 * actions, same states, rewards, ends and generator. */
static void test_taxi_same_bits(void)
{
    const char *specs[3] = {"Taxi-v4", "Taxi-v4:is_rainy=true,fickle_passenger=true",
                            "Taxi-v3:fickle_passenger=true,fickle_probability=1"};
    for (int i = 0; i < 3; i++) {
        cldqn_env_def *def = make(specs[i]);
        CU_ASSERT_FATAL(def != NULL);
        cldqn_taxi_config cfg = *(const cldqn_taxi_config *)def->ctx;
        cldqn_taxi taxi;
        cldqn_env env;
        CU_ASSERT_FATAL(cldqn_taxi_init(&taxi, &cfg, 42) == CLDQN_OK);
        CU_ASSERT_FATAL(cldqn_env_init(&env, def, 42) == CLDQN_OK);
        cldqn_rng pick;
        cldqn_rng_seed(&pick, 5, 0);
        int differ = 0;
        for (int step = 0; step < 50000; step++) {
            if (step % 300 == 0) differ += cldqn_taxi_reset(&taxi) != cldqn_env_reset(&env);
            int a = (int)cldqn_rng_below(&pick, CLDQN_TAXI_ACTIONS);
            cldqn_taxi_step_result tr;
            cldqn_env_step_result er;
            cldqn_taxi_step(&taxi, a, &tr);
            cldqn_env_step(&env, a, &er);
            differ += tr.next_state != er.next_state || tr.reward != er.reward ||
                      tr.terminated != er.terminated || tr.truncated != er.truncated ||
                      taxi.fickle_step != env.hidden;
            if (tr.terminated || tr.truncated) {
                differ += cldqn_taxi_reset(&taxi) != cldqn_env_reset(&env);
            }
        }
        differ += taxi.rng.state != env.rng.state;
        uint8_t mask[CLDQN_TAXI_ACTIONS];
        cldqn_env_action_mask(&env, mask);
        uint8_t m = cldqn_taxi_action_mask(env.state);
        for (int a = 0; a < CLDQN_TAXI_ACTIONS; a++) differ += mask[a] != ((m >> a) & 1u);
        char b1[1024], b2[1024];
        cldqn_taxi_render(&taxi, 1, b1, sizeof b1);
        cldqn_env_render(&env, 1, b2, sizeof b2);
        differ += strcmp(b1, b2) != 0;
        CU_ASSERT_EQUAL(differ, 0);
        cldqn_env_def_free(def);
    }
}

/* ---- renders ------------------------------------------------------------ */

static void test_render(void)
{
    reader r = {g_render + 16, g_render + g_render_size, 0};
    uint32_t count;
    memcpy(&count, g_render + 12, 4);
    char spec[160], text[4096], got[4096];
    cldqn_env_def *def = NULL;
    int bad = 0;
    for (uint32_t i = 0; i < count && !r.bad; i++) {
        str(&r, spec, sizeof spec);
        int s = i32(&r), last = i32(&r);
        str(&r, text, sizeof text);
        if (!def || strcmp(def->id, spec) || i == 0) {
            cldqn_env_def_free(def);
            def = make(spec);
            CU_ASSERT_FATAL(def != NULL);
        }
        cldqn_env env;
        CU_ASSERT_FATAL(cldqn_env_init(&env, def, 1) == CLDQN_OK);
        CU_ASSERT_FATAL(cldqn_env_reset_to(&env, s) == CLDQN_OK);
        env.last_action = last;
        size_t n = cldqn_env_render(&env, 1, got, sizeof got);
        if ((n != strlen(text) || strcmp(got, text)) && bad++ < 3)
            printf("\n  %s state %d: render differs:\n%s---\n%s", spec, s, got, text);
        /* snprintf-like: a short buffer gets a prefix and the full length. */
        char tiny[5];
        bad += cldqn_env_render(&env, 1, tiny, sizeof tiny) != n || strncmp(tiny, text, 4);
    }
    CU_ASSERT_FALSE(r.bad);
    CU_ASSERT_EQUAL(bad, 0);
    cldqn_env_def_free(def);
}

/* ---- specs -------------------------------------------------------------- */

static void test_spec_errors(void)
{
    static const struct {
        const char *spec, *message;
    } bad[] = {
        {"", "empty environment spec"},
        {"Nope-v0", "unknown environment 'Nope-v0' (known: Taxi-v4, Taxi-v3, FrozenLake-v1"},
        {"frozenlake-v1", "unknown environment 'frozenlake-v1'"},
        {"FrozenLake-v1:", "FrozenLake-v1: no options after ':'"},
        {"FrozenLake-v1:is_slippery", "FrozenLake-v1: option 'is_slippery' is not key=value"},
        {"FrozenLake-v1:=1", "FrozenLake-v1: option '=1' is not key=value"},
        {"FrozenLake-v1:is_slippery=true,", "FrozenLake-v1: empty option after ','"},
        {"FrozenLake-v1:is_slippery=true,is_slippery=false",
         "FrozenLake-v1: option 'is_slippery' given twice"},
        {"FrozenLake-v1:slippery=true",
         "FrozenLake-v1: unknown option 'slippery' (known: map_name, desc, is_slippery, "
         "success_rate, reward_schedule, max_episode_steps)"},
        {"FrozenLake-v1:is_slippery=maybe",
         "FrozenLake-v1: is_slippery=maybe is not a boolean (true or false)"},
        {"FrozenLake-v1:success_rate=abc",
         "FrozenLake-v1: success_rate=abc is not a finite number"},
        {"FrozenLake-v1:success_rate=1.5", "FrozenLake-v1: success_rate=1.5 not in [0,1]"},
        {"FrozenLake-v1:map_name=5x5", "FrozenLake-v1: map_name=5x5; known maps are 4x4 and 8x8"},
        {"FrozenLake-v1:reward_schedule=1/0",
         "FrozenLake-v1: reward_schedule=1/0 is not three numbers goal/hole/frozen"},
        {"FrozenLake-v1:reward_schedule=1/0/inf",
         "FrozenLake-v1: reward_schedule=1/0/inf is not three numbers goal/hole/frozen"},
        {"FrozenLake-v1:desc=SFF/FG",
         "FrozenLake-v1: desc is not rectangular (row 2 has 2 cells, row 1 has 3)"},
        {"FrozenLake-v1:desc=SF//FG", "FrozenLake-v1: desc row 2 is empty"},
        {"FrozenLake-v1:desc=FFF/FFG", "FrozenLake-v1: desc has no start S"},
        {"FrozenLake-v1:desc=SFF/FFF", "FrozenLake-v1: desc has no goal G"},
        {"FrozenLake-v1:desc=SXG", "FrozenLake-v1: desc has 'X'; cells are S, F, H or G"},
        {"FrozenLake-v1:desc=SH/HG",
         "FrozenLake-v1: no G can be reached from the S at row 1 col 1"},
        {"FrozenLake8x8-v1:desc=SFH/FFH/HHF/FSG",
         "FrozenLake8x8-v1: no G can be reached from the S at row 1 col 1"},
        {"FrozenLake-v1:max_episode_steps=-1",
         "FrozenLake-v1: max_episode_steps=-1 is not an integer in [0,1000000000]"},
        {"CliffWalking-v1:is_slippery=yes",
         "CliffWalking-v1: is_slippery=yes is not a boolean (true or false)"},
        {"Blackjack-v1:natural=2", "Blackjack-v1: natural=2 is not a boolean (true or false)"},
        {"Blackjack-v1:sb=false", "Blackjack-v1: unknown option 'sb' (known: natural, sab, "
                                  "max_episode_steps)"},
        {"Taxi-v4:rainy_probability=2", "Taxi-v4: rainy_probability 2 not in [0,1]"},
        {"Taxi-v3:is_slippery=true", "Taxi-v3: unknown option 'is_slippery'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cldqn_env_def *def = (cldqn_env_def *)&def; /* must come back NULL */
        cldqn_clear_error();
        cldqn_status st = cldqn_env_def_create(bad[i].spec, &def);
        const char *msg = cldqn_last_error();
        int ok = st == CLDQN_ERR_ARG && def == NULL &&
                 !strncmp(msg, bad[i].message, strlen(bad[i].message)) && !strchr(msg, '\n');
        if (!ok) printf("\n  '%s': status %d, message '%s'", bad[i].spec, st, msg);
        CU_ASSERT(ok);
    }
    /* IDs, options and limits that work (the model tests cover the rest). */
    static const struct {
        const char *spec;
        int states, actions, limit;
    } good[] = {
        {"Taxi-v3", 500, 6, 200},
        {"Taxi-v4:max_episode_steps=0", 500, 6, 0},
        {"CliffWalking-v1:is_slippery=True", 48, 4, 0},
        {"FrozenLake8x8-v1:map_name=4x4", 16, 4, 200},
        {"FrozenLake-v1:desc=SG", 2, 4, 100},
        {"Blackjack-v1:sab=0,natural=1", 714, 2, 0},
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        cldqn_env_def *def = make(good[i].spec);
        CU_ASSERT_FATAL(def != NULL);
        CU_ASSERT_EQUAL(def->n_states, good[i].states);
        CU_ASSERT_EQUAL(def->n_actions, good[i].actions);
        CU_ASSERT_EQUAL(def->time_limit, good[i].limit);
        CU_ASSERT(cldqn_env_has_model(def));
        cldqn_env_def_free(def);
    }
    CU_ASSERT_EQUAL(cldqn_env_def_create("Taxi-v4", NULL), CLDQN_ERR_ARG);
}

/* A user's own environment: a two-state chain written on the header alone. */
static int chain_reset(const void *ctx, cldqn_rng *rng, int64_t *hidden)
{
    (void)ctx, (void)rng, (void)hidden;
    return 0;
}
static int chain_outcomes(const void *ctx, int s, int a, cldqn_outcome *out)
{
    (void)ctx;
    if (a == 0) {
        out[0] = (cldqn_outcome){1.0, s, -1.0, 0}; /* wait */
        return 1;
    }
    out[0] = (cldqn_outcome){0.5, 1, s == 1 ? 10.0 : 0.0, s == 1};
    out[1] = (cldqn_outcome){0.5, 0, -1.0, 0};
    return 2;
}
static void chain_step(const void *ctx, int s, int a, cldqn_rng *rng, int64_t *hidden,
                       cldqn_env_step_result *res)
{
    (void)hidden;
    cldqn_outcome o[2];
    int n = chain_outcomes(ctx, s, a, o);
    int k = n > 1 && cldqn_rng_double(rng) >= 0.5;
    res->next_state = o[k].next_state, res->reward = o[k].reward;
    res->terminated = o[k].terminated;
}
static void chain_start(const void *ctx, double *start)
{
    (void)ctx;
    start[0] = 1.0, start[1] = 0.0;
}

static void test_user_env(void)
{
    cldqn_env_def def = {.id = "Chain", .n_states = 2, .n_actions = 2, .time_limit = 3};
    cldqn_env env;
    CU_ASSERT_EQUAL(cldqn_env_init(&env, &def, 1), CLDQN_ERR_ARG); /* no callbacks */
    def.reset = chain_reset;
    def.step = chain_step;
    CU_ASSERT_FATAL(cldqn_env_init(&env, &def, 1) == CLDQN_OK);
    CU_ASSERT(!cldqn_env_has_model(&def));
    cldqn_env_step_result r;
    CU_ASSERT_EQUAL(cldqn_env_step(&env, 0, &r), CLDQN_ERR_ARG); /* before reset */
    CU_ASSERT_EQUAL(cldqn_env_reset(&env), 0);
    CU_ASSERT_EQUAL(cldqn_env_step(&env, 2, &r), CLDQN_ERR_ARG);
    for (int t = 1; t <= 3; t++) {
        CU_ASSERT_FATAL(cldqn_env_step(&env, 0, &r) == CLDQN_OK);
        CU_ASSERT_EQUAL(r.truncated, t == 3);
    }
    char buf[32];
    CU_ASSERT_EQUAL(cldqn_env_render(&env, 0, buf, sizeof buf), strlen("state 0\n"));
    CU_ASSERT_STRING_EQUAL(buf, "state 0\n");
    uint8_t mask[2] = {0, 0};
    cldqn_env_action_mask(&env, mask);
    CU_ASSERT(mask[0] == 1 && mask[1] == 1);
    CU_ASSERT_EQUAL(cldqn_env_reset_to(&env, 2), CLDQN_ERR_ARG);

    def.outcomes = chain_outcomes;
    CU_ASSERT_EQUAL(cldqn_env_def_check(&def), CLDQN_ERR_ARG); /* half a model */
    def.start_distribution = chain_start;
    def.max_outcomes = 2;
    CU_ASSERT_FATAL(cldqn_env_def_check(&def) == CLDQN_OK);
    /* Go: V(1) = 0.5 (10) + 0.5 (-1 + V(0)), V(0) = 0.5 V(1) + 0.5 (-1 + V(0))
     * give V(0) = 7, V(1) = 8 (waiting only costs). The last sweep changed V
     * by < 1e-13 and going's matrix [[1/2, 1/2], [1/2, 0]] shrinks errors by
     * its spectral radius 0.81 a sweep: the error is below 1e-13 0.81 / 0.19
     * < 5e-13. */
    double V[2];
    CU_ASSERT_FATAL(cldqn_env_value_iteration(&def, 1.0, 1e-13, V, NULL) == CLDQN_OK);
    CU_ASSERT_DOUBLE_EQUAL(V[0], 7.0, 5e-13);
    CU_ASSERT_DOUBLE_EQUAL(V[1], 8.0, 5e-13);
    int go[2] = {1, 1};
    cldqn_env_eval ev;
    /* Three steps from 0, by hand (dyadic, so exact): V1 = (-1/2, 9/2),
     * V2 = (3/2, 17/4), V3(0) = V2(1)/2 + (V2(0) - 1)/2 = 19/8; ending
     * within 1, 2, 3 steps from 0: 0, 1/4, 3/8; steps: 1 + L2(1)/2 + L2(0)/2
     * = 1 + 3/4 + 1. */
    CU_ASSERT_FATAL(cldqn_env_eval_policy(&def, go, 0, &ev) == CLDQN_OK);
    CU_ASSERT_EQUAL(ev.mean_return, 19.0 / 8);
    CU_ASSERT_EQUAL(ev.terminated_prob, 3.0 / 8);
    CU_ASSERT_EQUAL(ev.mean_steps, 2.75);
    int stay[2] = {0, 0};
    CU_ASSERT_FATAL(cldqn_env_eval_policy(&def, stay, 5, &ev) == CLDQN_OK);
    CU_ASSERT_EQUAL(ev.mean_return, -5.0);
    CU_ASSERT_EQUAL(ev.terminated_prob, 0.0);
    CU_ASSERT_EQUAL(ev.mean_steps, 5.0);
    cldqn_env_def nomodel = def;
    nomodel.time_limit = 0;
    CU_ASSERT_EQUAL(cldqn_env_eval_policy(&nomodel, stay, 0, &ev), CLDQN_ERR_ARG);
    int badpol[2] = {0, 2};
    CU_ASSERT_EQUAL(cldqn_env_eval_policy(&def, badpol, 3, &ev), CLDQN_ERR_ARG);
}

int register_suites(void)
{
    static const harness_test tests[] = {
        {"transitions equal gymnasium's", test_transitions},
        {"value iteration and evaluation equal numpy's", test_value_iteration},
        {"taxi planning equals taxi_vi", test_taxi_planning},
        {"stepping follows the model", test_stepping},
        {"taxi behind the interface, bit for bit", test_taxi_same_bits},
        {"renders equal gymnasium's", test_render},
        {"spec errors", test_spec_errors},
        {"a user's environment", test_user_env},
        {NULL, NULL},
    };
    return harness_add_suite("toytext", suite_init, suite_cleanup, tests);
}
