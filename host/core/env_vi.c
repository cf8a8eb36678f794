/* env_vi.c - exact planning on any environment's model: value iteration
 * (infinite and finite horizon) and the evaluation of a fixed policy.
 *
 * The model is read once into flat arrays. Every backup sums its outcomes in
 * the order the model lists them, a terminal outcome contributing only its
 * reward, as tools/toytext_tables.py does in numpy: tests/test_toytext.c
 * compares the two. */
#include <math.h>
#include <stdlib.h>

#include "cldqn/env.h"

typedef struct {
    int S, A, K;
    int *count;         /* [S][A] */
    cldqn_outcome *out; /* [S][A][K] */
} model;

static void model_free(model *m)
{
    free(m->count);
    free(m->out);
}

static cldqn_status model_load(const cldqn_env_def *def, model *m)
{
    cldqn_status st = cldqn_env_def_check(def);
    if (st != CLDQN_OK) return st;
    if (!cldqn_env_has_model(def))
        return cldqn_fail(CLDQN_ERR_ARG, "%s has no model to plan on", def->id);
    m->S = def->n_states, m->A = def->n_actions, m->K = def->max_outcomes;
    size_t sa = (size_t)m->S * (size_t)m->A;
    m->count = malloc(sa * sizeof *m->count);
    m->out = malloc(sa * (size_t)m->K * sizeof *m->out);
    if (!m->count || !m->out) {
        model_free(m);
        return cldqn_fail(CLDQN_ERR_NOMEM, "%s: model: out of memory", def->id);
    }
    for (size_t i = 0; i < sa; i++) {
        cldqn_outcome *o = &m->out[i * (size_t)m->K];
        int n = def->outcomes(def->ctx, (int)(i / (size_t)m->A), (int)(i % (size_t)m->A), o);
        m->count[i] = n;
        double total = 0.0;
        for (int k = 0; k < n; k++) {
            if (o[k].next_state < 0 || o[k].next_state >= m->S || !(o[k].prob >= 0.0)) n = -1;
            if (n < 0) break;
            total += o[k].prob;
        }
        /* 1e-9: far above the rounding of a few terms, far below any real slip. */
        if (n < 1 || n > m->K || !(fabs(total - 1.0) <= 1e-9)) {
            model_free(m);
            return cldqn_fail(CLDQN_ERR_ARG, "%s: bad model at state %d action %d", def->id,
                              (int)(i / (size_t)m->A), (int)(i % (size_t)m->A));
        }
    }
    return CLDQN_OK;
}

/* One Jacobi backup of every state into next from V; with policy, its
 * action instead of the max. */
static void backup(const model *m, double gamma, const double *V, const int *policy, double *next)
{
    for (int s = 0; s < m->S; s++) {
        double best = -INFINITY;
        for (int a = 0; a < m->A; a++) {
            if (policy && policy[s] != a) continue;
            size_t i = (size_t)s * (size_t)m->A + (size_t)a;
            const cldqn_outcome *o = &m->out[i * (size_t)m->K];
            double q = 0.0;
            for (int k = 0; k < m->count[i]; k++) {
                double future = o[k].terminated ? 0.0 : gamma * V[o[k].next_state];
                q += o[k].prob * (o[k].reward + future);
            }
            if (q > best) best = q;
        }
        next[s] = best;
    }
}

/* gamma 1 converges where every episode can end (all built-ins); the cap
 * only stops a model where it cannot. */
#define VI_MAX_SWEEPS 1000000

cldqn_status cldqn_env_value_iteration(const cldqn_env_def *def, double gamma, double tol,
                                       double *V, int *sweeps)
{
    if (!(gamma >= 0.0 && gamma <= 1.0))
        return cldqn_fail(CLDQN_ERR_ARG, "gamma %g not in [0,1]", gamma);
    if (!(tol > 0.0)) return cldqn_fail(CLDQN_ERR_ARG, "tolerance %g must be positive", tol);
    if (!V) return cldqn_fail(CLDQN_ERR_ARG, "value iteration: V is NULL");
    model m;
    cldqn_status st = model_load(def, &m);
    if (st != CLDQN_OK) return st;
    double *next = malloc((size_t)m.S * sizeof *next);
    if (!next) {
        model_free(&m);
        return cldqn_fail(CLDQN_ERR_NOMEM, "value iteration: out of memory");
    }
    for (int s = 0; s < m.S; s++) V[s] = 0.0;
    st = CLDQN_ERR_NUMERIC;
    for (int sweep = 1; sweep <= VI_MAX_SWEEPS; sweep++) {
        backup(&m, gamma, V, NULL, next);
        double delta = 0.0;
        for (int s = 0; s < m.S; s++) {
            double d = fabs(next[s] - V[s]);
            if (!(d <= delta)) delta = d; /* also catches NaN */
            V[s] = next[s];
        }
        if (delta < tol) {
            if (sweeps) *sweeps = sweep;
            st = CLDQN_OK;
            break;
        }
        if (!isfinite(delta)) break;
    }
    free(next);
    model_free(&m);
    if (st != CLDQN_OK)
        return cldqn_fail(st, "%s: value iteration did not converge (gamma %g)", def->id, gamma);
    return CLDQN_OK;
}

/* horizon sweeps from 0 of the optimal (policy NULL) or the policy's
 * backup, with terminated probability and step count when asked. */
static cldqn_status horizon_sweeps(const cldqn_env_def *def, const int *policy, int horizon,
                                   double *V, double *T, double *L)
{
    if (horizon < 1) return cldqn_fail(CLDQN_ERR_ARG, "horizon %d must be >= 1", horizon);
    model m;
    cldqn_status st = model_load(def, &m);
    if (st != CLDQN_OK) return st;
    double *next = malloc(3 * (size_t)m.S * sizeof *next);
    if (!next) {
        model_free(&m);
        return cldqn_fail(CLDQN_ERR_NOMEM, "finite horizon: out of memory");
    }
    for (int s = 0; s < m.S; s++) V[s] = 0.0;
    if (T)
        for (int s = 0; s < m.S; s++) T[s] = L[s] = 0.0;
    for (int h = 0; h < horizon; h++) {
        backup(&m, 1.0, V, policy, next);
        if (T) {
            /* T: probability of ending within h + 1 steps; L: expected steps. */
            for (int s = 0; s < m.S; s++) {
                size_t i = (size_t)s * (size_t)m.A + (size_t)policy[s];
                const cldqn_outcome *o = &m.out[i * (size_t)m.K];
                double t = 0.0, l = 1.0;
                for (int k = 0; k < m.count[i]; k++) {
                    t += o[k].prob * (o[k].terminated ? 1.0 : T[o[k].next_state]);
                    if (!o[k].terminated) l += o[k].prob * L[o[k].next_state];
                }
                next[m.S + s] = t;
                next[2 * m.S + s] = l;
            }
            for (int s = 0; s < m.S; s++) T[s] = next[m.S + s], L[s] = next[2 * m.S + s];
        }
        for (int s = 0; s < m.S; s++) V[s] = next[s];
    }
    free(next);
    model_free(&m);
    return CLDQN_OK;
}

cldqn_status cldqn_env_finite_horizon(const cldqn_env_def *def, int horizon, double *V)
{
    if (!V) return cldqn_fail(CLDQN_ERR_ARG, "finite horizon: V is NULL");
    return horizon_sweeps(def, NULL, horizon, V, NULL, NULL);
}

double cldqn_env_start_mean(const cldqn_env_def *def, const double *V)
{
    if (!cldqn_env_has_model(def) || !V) return NAN;
    double *start = malloc((size_t)def->n_states * sizeof *start);
    if (!start) return NAN;
    def->start_distribution(def->ctx, start);
    double sum = 0.0;
    for (int s = 0; s < def->n_states; s++)
        if (start[s] > 0.0) sum += start[s] * V[s];
    free(start);
    return sum;
}

cldqn_status cldqn_env_eval_policy(const cldqn_env_def *def, const int *policy, int horizon,
                                   cldqn_env_eval *out)
{
    if (!policy || !out) return cldqn_fail(CLDQN_ERR_ARG, "eval_policy: NULL argument");
    cldqn_status st = cldqn_env_def_check(def);
    if (st != CLDQN_OK) return st;
    if (horizon == 0) horizon = def->time_limit;
    if (horizon < 1)
        return cldqn_fail(CLDQN_ERR_ARG, "%s has no time limit: give the evaluation a horizon",
                          def->id);
    for (int s = 0; s < def->n_states; s++)
        if (policy[s] < 0 || policy[s] >= def->n_actions)
            return cldqn_fail(CLDQN_ERR_ARG, "policy[%d] = %d is not an action", s, policy[s]);
    size_t n = (size_t)def->n_states;
    double *buf = malloc(3 * n * sizeof *buf);
    if (!buf) return cldqn_fail(CLDQN_ERR_NOMEM, "eval_policy: out of memory");
    st = horizon_sweeps(def, policy, horizon, buf, buf + n, buf + 2 * n);
    if (st == CLDQN_OK) {
        out->mean_return = cldqn_env_start_mean(def, buf);
        out->terminated_prob = cldqn_env_start_mean(def, buf + n);
        out->mean_steps = cldqn_env_start_mean(def, buf + 2 * n);
    }
    free(buf);
    return st;
}
