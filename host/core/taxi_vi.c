/* taxi_vi.c - exact planning on the Taxi model: value iteration and the
 * evaluation of a fixed policy.
 *
 * Value iteration gives the optimal values the DQN is measured against
 * (cldqn_taxi_optimal_mean_return is the best possible mean return over the
 * 300 start states); eval_policy scores a greedy policy on the same starts.
 * test_taxi.c checks the values against a numpy value iteration over
 * Gymnasium's env.P. */
#include <math.h>
#include <stdlib.h>

#include "cldqn/taxi.h"

/* Gamma 1 is a stochastic shortest-path problem: every state can deliver and
 * every non-delivering step costs, so the sweeps converge (19 for plain Taxi,
 * about 100 for rainy); the cap only catches a model where they cannot. */
#define VI_MAX_SWEEPS 1000000

cldqn_status cldqn_taxi_value_iteration(const cldqn_taxi_config *cfg, double gamma, double tol,
                                        double V[CLDQN_TAXI_STATES])
{
    cldqn_status st = cldqn_taxi_config_check(cfg);
    if (st != CLDQN_OK) return st;
    if (cfg->fickle_passenger)
        return cldqn_fail(CLDQN_ERR_ARG,
                          "value iteration needs a Markov model; the fickle passenger is not one");
    if (!(gamma >= 0.0 && gamma <= 1.0))
        return cldqn_fail(CLDQN_ERR_ARG, "gamma %g not in [0,1]", gamma);
    if (!(tol > 0.0)) return cldqn_fail(CLDQN_ERR_ARG, "tolerance %g must be positive", tol);
    if (!V) return cldqn_fail(CLDQN_ERR_ARG, "V is NULL");

    /* The model is built once: (500, 6, 3) outcomes, 216 KB, so on the heap. */
    enum { S = CLDQN_TAXI_STATES, A = CLDQN_TAXI_ACTIONS, K = CLDQN_TAXI_MAX_OUTCOMES };
    cldqn_taxi_outcome(*model)[A][K] = malloc(sizeof(cldqn_taxi_outcome[S][A][K]));
    if (!model) return cldqn_fail(CLDQN_ERR_NOMEM, "value iteration: out of memory");
    int count[S][A];
    for (int s = 0; s < S; s++)
        for (int a = 0; a < A; a++) count[s][a] = cldqn_taxi_outcomes(cfg, s, a, model[s][a]);

    double next[CLDQN_TAXI_STATES];
    for (int s = 0; s < S; s++) V[s] = 0.0;
    for (int sweep = 0; sweep < VI_MAX_SWEEPS; sweep++) {
        double delta = 0.0;
        /* Jacobi sweep: every backup reads the previous sweep's V. */
        for (int s = 0; s < S; s++) {
            double best = -INFINITY;
            for (int a = 0; a < A; a++) {
                double q = 0.0;
                for (int k = 0; k < count[s][a]; k++) {
                    const cldqn_taxi_outcome *o = &model[s][a][k];
                    /* A terminal transition contributes only its reward. */
                    double future = o->terminated ? 0.0 : gamma * V[o->next_state];
                    q += o->prob * ((double)o->reward + future);
                }
                if (q > best) best = q;
            }
            next[s] = best;
        }
        for (int s = 0; s < S; s++) {
            double d = fabs(next[s] - V[s]);
            if (!(d <= delta)) delta = d; /* also catches NaN */
            V[s] = next[s];
        }
        if (delta < tol) {
            free(model);
            return CLDQN_OK;
        }
        if (!isfinite(delta)) break;
    }
    free(model);
    return cldqn_fail(CLDQN_ERR_NUMERIC, "value iteration did not converge (gamma %g)", gamma);
}

double cldqn_taxi_optimal_mean_return(const cldqn_taxi_config *cfg)
{
    double V[CLDQN_TAXI_STATES];
    /* Returns on the deterministic model are integers, reached exactly; the
     * rainy values converge geometrically, 1e-12 is far below any use. */
    if (cldqn_taxi_value_iteration(cfg, 1.0, 1e-12, V) != CLDQN_OK) return NAN;
    double sum = 0.0;
    for (int i = 0; i < CLDQN_TAXI_STARTS; i++) sum += V[cldqn_taxi_start_state(i)];
    return sum / CLDQN_TAXI_STARTS;
}

cldqn_status cldqn_taxi_eval_policy(const uint8_t policy[CLDQN_TAXI_STATES], int max_steps,
                                    cldqn_taxi_eval *out)
{
    if (!policy || !out) return cldqn_fail(CLDQN_ERR_ARG, "eval_policy: NULL argument");
    if (max_steps < 1) return cldqn_fail(CLDQN_ERR_ARG, "max_steps %d must be >= 1", max_steps);
    for (int s = 0; s < CLDQN_TAXI_STATES; s++)
        if (policy[s] >= CLDQN_TAXI_ACTIONS)
            return cldqn_fail(CLDQN_ERR_ARG, "policy[%d] = %d is not an action", s, policy[s]);
    cldqn_taxi_config cfg = cldqn_taxi_default_config();
    /* Returns and step counts are integers: summed exactly in doubles, so the
     * mean of an optimal policy equals optimal_mean_return bit for bit. */
    double total_return = 0.0, total_steps = 0.0;
    int delivered = 0;
    for (int i = 0; i < CLDQN_TAXI_STARTS; i++) {
        int s = cldqn_taxi_start_state(i);
        double ret = 0.0;
        for (int t = 0; t < max_steps; t++) {
            cldqn_taxi_outcome o[CLDQN_TAXI_MAX_OUTCOMES];
            cldqn_taxi_outcomes(&cfg, s, policy[s], o);
            ret += o[0].reward;
            total_steps += 1.0;
            if (o[0].terminated) {
                delivered++;
                break;
            }
            s = o[0].next_state;
        }
        total_return += ret;
    }
    out->episodes = CLDQN_TAXI_STARTS;
    out->mean_return = total_return / CLDQN_TAXI_STARTS;
    out->success_rate = (double)delivered / CLDQN_TAXI_STARTS;
    out->mean_steps = total_steps / CLDQN_TAXI_STARTS;
    return CLDQN_OK;
}

cldqn_status cldqn_taxi_policy_value(const cldqn_taxi_config *cfg,
                                     const uint8_t policy[CLDQN_TAXI_STATES], int horizon,
                                     cldqn_taxi_eval *out)
{
    if (!cfg || !policy || !out) return cldqn_fail(CLDQN_ERR_ARG, "policy_value: NULL argument");
    cldqn_status st = cldqn_taxi_config_check(cfg);
    if (st != CLDQN_OK) return st;
    if (cfg->fickle_passenger)
        return cldqn_fail(CLDQN_ERR_ARG,
                          "exact evaluation needs a Markov model; the fickle passenger is not one");
    if (horizon < 0) return cldqn_fail(CLDQN_ERR_ARG, "horizon %d must be >= 0", horizon);
    enum { S = CLDQN_TAXI_STATES, K = CLDQN_TAXI_MAX_OUTCOMES };
    for (int s = 0; s < S; s++)
        if (policy[s] >= CLDQN_TAXI_ACTIONS)
            return cldqn_fail(CLDQN_ERR_ARG, "policy[%d] = %d is not an action", s, policy[s]);
    /* The policy's model: (500, 3) outcomes. */
    cldqn_taxi_outcome(*model)[K] = malloc(sizeof(cldqn_taxi_outcome[S][K]));
    double *v = malloc(6 * S * sizeof(double));
    if (!model || !v) {
        free(model);
        free(v);
        return cldqn_fail(CLDQN_ERR_NOMEM, "policy_value: out of memory");
    }
    int count[S];
    for (int s = 0; s < S; s++) count[s] = cldqn_taxi_outcomes(cfg, s, policy[s], model[s]);
    /* Return, delivery probability and length, each (S), now and next. */
    double *ret = v, *dlv = v + S, *len = v + 2 * S, *nret = v + 3 * S, *ndlv = v + 4 * S,
           *nlen = v + 5 * S;
    for (int s = 0; s < 3 * S; s++) v[s] = 0.0;
    /* Without a horizon, the states from which the policy can never deliver
     * are fixed at a cut episode's score (-1 a step for the cap), so that the
     * others form a chain that leaves them for good: the sweeps converge
     * geometrically instead of running to the cap. */
    int stuck[S];
    for (int s = 0; s < S; s++) stuck[s] = !horizon;
    for (int changed = !horizon; changed;) {
        changed = 0;
        for (int s = 0; s < S; s++) {
            if (!stuck[s]) continue;
            for (int k = 0; k < count[s]; k++)
                if (model[s][k].prob > 0.0 &&
                    (model[s][k].terminated || !stuck[model[s][k].next_state])) {
                    stuck[s] = 0;
                    changed = 1;
                    break;
                }
        }
    }
    for (int s = 0; s < S; s++)
        if (stuck[s]) {
            ret[s] = nret[s] = -(double)CLDQN_TAXI_EVAL_SWEEPS;
            len[s] = nlen[s] = CLDQN_TAXI_EVAL_SWEEPS;
            dlv[s] = ndlv[s] = 0.0;
        }
    const int sweeps = horizon ? horizon : CLDQN_TAXI_EVAL_SWEEPS;
    for (int h = 0; h < sweeps; h++) {
        double delta = 0.0;
        for (int s = 0; s < S; s++) {
            if (stuck[s]) continue;
            double r = 0.0, d = 0.0, l = 0.0;
            for (int k = 0; k < count[s]; k++) {
                const cldqn_taxi_outcome *o = &model[s][k];
                const int n = o->next_state;
                r += o->prob * ((double)o->reward + (o->terminated ? 0.0 : ret[n]));
                d += o->prob * (o->terminated ? 1.0 : dlv[n]);
                l += o->prob * (1.0 + (o->terminated ? 0.0 : len[n]));
            }
            nret[s] = r;
            ndlv[s] = d;
            nlen[s] = l;
            if (fabs(r - ret[s]) > delta) delta = fabs(r - ret[s]);
        }
        double *t;
        t = ret, ret = nret, nret = t;
        t = dlv, dlv = ndlv, ndlv = t;
        t = len, len = nlen, nlen = t;
        if (!horizon && delta < 1e-12) break;
    }
    double sr = 0.0, sd = 0.0, sl = 0.0;
    for (int i = 0; i < CLDQN_TAXI_STARTS; i++) {
        const int s = cldqn_taxi_start_state(i);
        sr += ret[s];
        sd += dlv[s];
        sl += len[s];
    }
    out->episodes = 0;
    out->mean_return = sr / CLDQN_TAXI_STARTS;
    out->success_rate = sd / CLDQN_TAXI_STARTS;
    out->mean_steps = sl / CLDQN_TAXI_STARTS;
    free(model);
    free(v);
    return CLDQN_OK;
}
