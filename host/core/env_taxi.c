/* env_taxi.c - Taxi (host/core/taxi.c) behind the env interface.
 *
 * Each callback runs taxi.c's own code on a cldqn_taxi that it fills from the
 * running env (state, the fickle flag in `hidden`, the env's RNG) and copies
 * back, so the draws and results are cldqn_taxi's bit for bit: recorded runs
 * (tests/cli/golden.sh) cannot tell the two apart. */
#include <stdio.h>
#include <stdlib.h>

#include "cldqn/taxi.h"
#include "env_impl.h"

static cldqn_taxi load(const void *ctx, int state, const cldqn_rng *rng, const int64_t *hidden)
{
    cldqn_taxi t = {0};
    t.cfg = *(const cldqn_taxi_config *)ctx;
    t.cfg.time_limit = 0; /* cldqn_env_step truncates */
    t.rng = *rng;
    t.state = state;
    t.fickle_step = (int)*hidden;
    t.last_action = -1;
    return t;
}

static int taxi_reset(const void *ctx, cldqn_rng *rng, int64_t *hidden)
{
    cldqn_taxi t = load(ctx, 0, rng, hidden);
    int s = cldqn_taxi_reset(&t);
    *rng = t.rng;
    *hidden = t.fickle_step;
    return s;
}

static void taxi_reset_to(const void *ctx, int state, cldqn_rng *rng, int64_t *hidden)
{
    cldqn_taxi t = load(ctx, 0, rng, hidden);
    cldqn_taxi_reset_to(&t, state); /* state checked by cldqn_env_reset_to */
    *rng = t.rng;
    *hidden = t.fickle_step;
}

static void taxi_step(const void *ctx, int state, int action, cldqn_rng *rng, int64_t *hidden,
                      cldqn_env_step_result *res)
{
    cldqn_taxi t = load(ctx, state, rng, hidden);
    cldqn_taxi_step_result r;
    cldqn_taxi_step(&t, action, &r); /* state and action checked by cldqn_env_step */
    *rng = t.rng;
    *hidden = t.fickle_step;
    res->next_state = r.next_state;
    res->reward = r.reward;
    res->terminated = r.terminated;
}

static void taxi_mask(const void *ctx, int state, uint8_t *mask)
{
    (void)ctx;
    uint8_t m = cldqn_taxi_action_mask(state);
    for (int a = 0; a < CLDQN_TAXI_ACTIONS; a++) mask[a] = (m >> a) & 1u;
}

static size_t taxi_render(const void *ctx, int state, int last_action, int color, char *buf,
                          size_t bufsize)
{
    int64_t h = 0;
    cldqn_rng rng = {0, 1};
    cldqn_taxi t = load(ctx, state, &rng, &h);
    t.last_action = last_action;
    return cldqn_taxi_render(&t, color, buf, bufsize);
}

static const char *taxi_action_name(const void *ctx, int action)
{
    (void)ctx;
    return cldqn_taxi_action_name(action);
}

static int taxi_outcomes(const void *ctx, int state, int action, cldqn_outcome *out)
{
    cldqn_taxi_outcome o[CLDQN_TAXI_MAX_OUTCOMES];
    int n = cldqn_taxi_outcomes(ctx, state, action, o);
    for (int k = 0; k < n; k++)
        out[k] = (cldqn_outcome){o[k].prob, o[k].next_state, o[k].reward, o[k].terminated};
    return n;
}

static void taxi_start(const void *ctx, double *start)
{
    (void)ctx;
    for (int s = 0; s < CLDQN_TAXI_STATES; s++)
        start[s] = cldqn_taxi_is_start(s) ? 1.0 / CLDQN_TAXI_STARTS : 0.0;
}

cldqn_status cldqn_taxi_env_create(env_options *opts, cldqn_env_def *def)
{
    cldqn_taxi_config c = cldqn_taxi_default_config();
    cldqn_status st;
    if ((st = cldqn_env_opt_bool(opts, "is_rainy", &c.is_rainy)) ||
        (st = cldqn_env_opt_bool(opts, "fickle_passenger", &c.fickle_passenger)) ||
        (st = cldqn_env_opt_double(opts, "rainy_probability", &c.rainy_probability)) ||
        (st = cldqn_env_opt_double(opts, "fickle_probability", &c.fickle_probability)))
        return st;
    c.time_limit = def->time_limit;
    if ((st = cldqn_taxi_config_check(&c)) != CLDQN_OK) {
        char why[256]; /* cldqn_fail must not read the buffer it writes */
        snprintf(why, sizeof why, "%s", cldqn_last_error());
        return cldqn_fail(st, "%s: %s", def->id, why);
    }
    cldqn_taxi_config *ctx = malloc(sizeof *ctx);
    if (!ctx) return cldqn_fail(CLDQN_ERR_NOMEM, "%s: out of memory", def->id);
    *ctx = c;
    def->ctx = ctx;
    def->destroy = free;
    def->n_states = CLDQN_TAXI_STATES;
    def->n_actions = CLDQN_TAXI_ACTIONS;
    def->reset = taxi_reset;
    def->reset_to = taxi_reset_to;
    def->step = taxi_step;
    def->action_mask = taxi_mask;
    def->render = taxi_render;
    def->action_name = taxi_action_name;
    /* The fickle passenger's change of mind hangs on a per-episode coin the
     * state index does not hold: no Markov model over the 500 states. */
    if (!c.fickle_passenger) {
        def->max_outcomes = CLDQN_TAXI_MAX_OUTCOMES;
        def->outcomes = taxi_outcomes;
        def->start_distribution = taxi_start;
    }
    return CLDQN_OK;
}
