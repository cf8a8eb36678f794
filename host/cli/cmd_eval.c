/* cmd_eval.c - `cldqn eval CKPT`: how good is a checkpoint's greedy policy?
 *
 * Deterministic Taxi: the greedy policy from each of the 300 start states,
 * exactly (no sampling), against value iteration's optimum. Rainy or fickle
 * Taxi: Monte-Carlo episodes from random starts with a seed. The policy is
 * computed on the host (ref_q_forward), so eval needs no OpenCL device. */
#define _GNU_SOURCE
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cldqn/checkpoint.h"
#include "cldqn/config.h"
#include "cldqn/json.h"
#include "cldqn/rng.h"
#include "cldqn/taxi.h"
#include "cldqn/trainer.h"
#include "cli.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: cldqn eval CKPT [--json] [--rainy] [--fickle] [--episodes N] [--seed S]\n"
               "                       [--max-steps N]\n\n"
               "Greedy policy of a checkpoint on the Taxi it was trained on (--rainy and\n"
               "--fickle add rain or a fickle passenger): from all 300 start states of\n"
               "deterministic Taxi, exactly (mean return, success rate, mean steps, gap to the\n"
               "optimum); on rainy Taxi the exact expectation over the model from a uniform\n"
               "start, without time limit (the policy's Bellman equation iterated to a change\n"
               "below 1e-12); N Monte-Carlo episodes (default 1000) with seed S of fickle\n"
               "Taxi, or of rainy Taxi when --episodes or --seed is given. --max-steps: the\n"
               "episode cap of runs (default 200, Taxi-v3's time limit).\n");
}

static int parse_int(const char *flag, const char *v, long long lo, long long hi, long long *out)
{
    char *end;
    if (!v) {
        fprintf(stderr, "cldqn: %s: needs a value\n", flag);
        return 0;
    }
    long long x = strtoll(v, &end, 10);
    if (!*v || *end || x < lo || x > hi) {
        fprintf(stderr, "cldqn: %s: '%s' is not an integer in [%lld, %lld]\n", flag, v, lo, hi);
        return 0;
    }
    *out = x;
    return 1;
}

int cldqn_cmd_eval(int argc, char **argv)
{
    const char *path = NULL;
    int json = 0;
    long long episodes = 1000, seed = 1, max_steps = 200;
    int rainy = 0, fickle = 0;
    const char *mc_flag = NULL; /* --episodes or --seed, for Monte-Carlo runs only */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--json")) {
            json = 1;
        } else if (!strcmp(a, "--rainy")) {
            rainy = 1;
        } else if (!strcmp(a, "--fickle")) {
            fickle = 1;
        } else if (!strcmp(a, "--episodes")) {
            if (!parse_int(a, next, 1, 100000000, &episodes)) return 2;
            mc_flag = a;
            i++;
        } else if (!strcmp(a, "--seed")) {
            if (!parse_int(a, next, 0, INT64_MAX, &seed)) return 2;
            mc_flag = a;
            i++;
        } else if (!strcmp(a, "--max-steps")) {
            if (!parse_int(a, next, 1, 1000000, &max_steps)) return 2;
            i++;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "cldqn: eval: unknown option '%s' (see cldqn eval --help)\n", a);
            return 2;
        } else if (!path) {
            path = a;
        } else {
            fprintf(stderr, "cldqn: eval: unexpected argument '%s'\n", a);
            return 2;
        }
    }
    if (!path) {
        usage(stderr);
        return 2;
    }
    cldqn_config cfg;
    cldqn_layout lay;
    float *params;
    if (cldqn_checkpoint_load(path, &cfg, &lay, &params) != CLDQN_OK) {
        cldqn_cli_error(NULL);
        return 1;
    }
    /* The checkpoint's own Taxi unless told to add rain or fickleness. */
    cldqn_taxi_config tc = cfg.taxi;
    tc.is_rainy |= rainy;
    tc.fickle_passenger |= fickle;
    int stochastic = tc.is_rainy || tc.fickle_passenger;
    if (mc_flag && !stochastic) {
        free(params);
        fprintf(stderr,
                "cldqn: eval: %s applies to rainy or fickle Taxi only (deterministic Taxi is "
                "evaluated exactly, from all 300 starts)\n",
                mc_flag);
        return 2;
    }
    uint8_t policy[CLDQN_TAXI_STATES];
    cldqn_status st = cldqn_policy_from_params(&lay, params, policy);
    free(params);
    if (st) {
        cldqn_cli_error(NULL);
        return 1;
    }
    cldqn_taxi_eval ev;
    double optimal = NAN;
    /* Rain alone is a Markov model: its expectation is computed exactly
     * unless Monte-Carlo settings ask for sampled episodes. */
    const int exact_rainy = tc.is_rainy && !tc.fickle_passenger && !mc_flag;
    if (!stochastic) {
        st = cldqn_taxi_eval_policy(policy, (int)max_steps, &ev);
        optimal = cldqn_taxi_optimal_mean_return(&tc);
    } else if (exact_rainy) {
        st = cldqn_taxi_policy_value(&tc, policy, 0, &ev);
        optimal = cldqn_taxi_optimal_mean_return(&tc);
    } else {
        cldqn_taxi env;
        st = cldqn_taxi_init(&env, &tc, (uint64_t)seed);
        double ret = 0, steps = 0, wins = 0;
        for (long long e = 0; !st && e < episodes; e++) {
            int s = cldqn_taxi_reset(&env), r_sum = 0, n = 0;
            cldqn_taxi_step_result r = {0};
            while (!st && n < max_steps) {
                st = cldqn_taxi_step(&env, policy[s], &r);
                r_sum += r.reward;
                n++;
                s = r.next_state;
                if (r.terminated) break;
            }
            ret += r_sum;
            steps += n;
            wins += r.terminated;
        }
        ev.mean_return = ret / (double)episodes;
        ev.mean_steps = steps / (double)episodes;
        ev.success_rate = wins / (double)episodes;
        ev.episodes = (int)episodes;
        /* Value iteration models rain but not fickleness. */
        if (!tc.fickle_passenger) optimal = cldqn_taxi_optimal_mean_return(&tc);
    }
    if (st) {
        cldqn_cli_error(NULL);
        return 1;
    }
    const char *envname = tc.is_rainy ? (tc.fickle_passenger ? "rainy+fickle" : "rainy")
                                      : (tc.fickle_passenger ? "fickle" : "deterministic");
    if (json) {
        /* One line; cJSON escapes the path (control characters were dropped). */
        cJSON *o = cJSON_CreateObject();
        int ok = o && cJSON_AddStringToObject(o, "checkpoint", path) &&
                 cJSON_AddStringToObject(o, "env", envname) &&
                 cldqn_json_add_int(o, "episodes", ev.episodes) &&
                 cldqn_json_add_number(o, "mean_return", "%.6f", ev.mean_return) &&
                 cldqn_json_add_number(o, "optimal_return", "%.6f", optimal) &&
                 cldqn_json_add_number(o, "gap", "%.6f", optimal - ev.mean_return) &&
                 cldqn_json_add_number(o, "success_rate", "%.6f", ev.success_rate) &&
                 cldqn_json_add_number(o, "mean_steps", "%.6f", ev.mean_steps) &&
                 cJSON_AddStringToObject(o, "method",
                                         stochastic && !exact_rainy ? "monte-carlo" : "exact") &&
                 (!stochastic || exact_rainy || cldqn_json_add_int(o, "seed", seed));
        char *text = ok ? cldqn_json_print(o) : NULL;
        cJSON_Delete(o);
        if (!text) {
            fprintf(stderr, "cldqn: out of memory\n");
            return 1;
        }
        printf("%s\n", text);
        free(text);
    } else {
        if (exact_rainy)
            printf("%s Taxi, exact expectation from the 300 start states (no time limit; a loop "
                   "scores "
                   "-10,000): mean "
                   "return %.4f",
                   envname, ev.mean_return);
        else
            printf("%s Taxi, %d %s: mean return %.3f", envname, ev.episodes,
                   stochastic ? "Monte-Carlo episodes" : "start states", ev.mean_return);
        if (isfinite(optimal))
            printf(" (optimal %.3f, gap %.3f)", optimal, optimal - ev.mean_return);
        printf(", success %.1f%%, mean steps %.2f\n", 100 * ev.success_rate, ev.mean_steps);
    }
    return 0;
}
