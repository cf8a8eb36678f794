/* env.c - the running environment over a cldqn_env_def, and the spec parser
 * "ID[:key=value,...]" for the built-in environments (see env.h). */
#include "env_impl.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

cldqn_status cldqn_env_def_check(const cldqn_env_def *def)
{
    if (!def) return cldqn_fail(CLDQN_ERR_ARG, "env definition is NULL");
    const char *id = def->id[0] ? def->id : "env";
    if (def->n_states < 1)
        return cldqn_fail(CLDQN_ERR_ARG, "%s: n_states %d must be >= 1", id, def->n_states);
    if (def->n_actions < 1)
        return cldqn_fail(CLDQN_ERR_ARG, "%s: n_actions %d must be >= 1", id, def->n_actions);
    if (def->time_limit < 0)
        return cldqn_fail(CLDQN_ERR_ARG, "%s: time_limit %d is negative", id, def->time_limit);
    if (!def->reset || !def->step)
        return cldqn_fail(CLDQN_ERR_ARG, "%s: reset and step callbacks are required", id);
    if (!def->outcomes != !def->start_distribution)
        return cldqn_fail(CLDQN_ERR_ARG, "%s: a model needs both outcomes and start_distribution",
                          id);
    if (def->outcomes && def->max_outcomes < 1)
        return cldqn_fail(CLDQN_ERR_ARG, "%s: a model needs max_outcomes >= 1", id);
    return CLDQN_OK;
}

int cldqn_env_has_model(const cldqn_env_def *def)
{
    return def && def->outcomes && def->start_distribution && def->max_outcomes > 0;
}

cldqn_status cldqn_env_init(cldqn_env *env, const cldqn_env_def *def, uint64_t seed)
{
    if (!env) return cldqn_fail(CLDQN_ERR_ARG, "env is NULL");
    cldqn_status st = cldqn_env_def_check(def);
    if (st != CLDQN_OK) return st;
    memset(env, 0, sizeof *env);
    env->def = def;
    cldqn_rng_seed(&env->rng, seed, CLDQN_STREAM_ENV);
    env->state = -1; /* step() refuses until a reset */
    env->last_action = -1;
    return CLDQN_OK;
}

int cldqn_env_reset(cldqn_env *env)
{
    env->hidden = 0;
    env->state = env->def->reset(env->def->ctx, &env->rng, &env->hidden);
    env->steps = 0;
    env->last_action = -1;
    return env->state;
}

cldqn_status cldqn_env_reset_to(cldqn_env *env, int state)
{
    const cldqn_env_def *d = env->def;
    if (state < 0 || state >= d->n_states)
        return cldqn_fail(CLDQN_ERR_ARG, "%s: state %d not in [0,%d]", d->id, state,
                          d->n_states - 1);
    env->hidden = 0;
    if (d->reset_to) d->reset_to(d->ctx, state, &env->rng, &env->hidden);
    env->state = state;
    env->steps = 0;
    env->last_action = -1;
    return CLDQN_OK;
}

cldqn_status cldqn_env_step(cldqn_env *env, int action, cldqn_env_step_result *res)
{
    const cldqn_env_def *d = env->def;
    if (action < 0 || action >= d->n_actions)
        return cldqn_fail(CLDQN_ERR_ARG, "%s: action %d not in [0,%d]", d->id, action,
                          d->n_actions - 1);
    if (env->state < 0 || env->state >= d->n_states)
        return cldqn_fail(CLDQN_ERR_ARG, "%s: step before reset", d->id);
    cldqn_env_step_result r = {0};
    d->step(d->ctx, env->state, action, &env->rng, &env->hidden, &r);
    if (r.next_state < 0 || r.next_state >= d->n_states)
        return cldqn_fail(CLDQN_ERR_ARG, "%s: step returned state %d, not in [0,%d]", d->id,
                          r.next_state, d->n_states - 1);
    env->state = r.next_state;
    env->last_action = action;
    env->steps++;
    r.truncated = d->time_limit > 0 && env->steps >= d->time_limit;
    if (res) *res = r;
    return CLDQN_OK;
}

void cldqn_env_action_mask(const cldqn_env *env, uint8_t *mask)
{
    const cldqn_env_def *d = env->def;
    if (d->action_mask && env->state >= 0 && env->state < d->n_states)
        d->action_mask(d->ctx, env->state, mask);
    else
        memset(mask, 1, (size_t)d->n_actions);
}

size_t cldqn_env_render(const cldqn_env *env, int color, char *buf, size_t bufsize)
{
    const cldqn_env_def *d = env->def;
    if (d->render && env->state >= 0 && env->state < d->n_states)
        return d->render(d->ctx, env->state, env->last_action, color, buf, bufsize);
    int n = snprintf(buf, bufsize, "state %d\n", env->state);
    return n > 0 ? (size_t)n : 0;
}

int cldqn_env_categorical(const cldqn_outcome *out, int n, cldqn_rng *rng)
{
    if (n <= 1) return 0;
    double u = cldqn_rng_double(rng), cum = 0.0;
    for (int i = 0; i < n; i++) {
        cum += out[i].prob;
        if (cum > u) return i;
    }
    return 0; /* argmax of an all-false vector */
}

/* ---- options ------------------------------------------------------------- */

const char *cldqn_env_opt(env_options *opts, const char *key)
{
    for (int i = 0; i < opts->n; i++)
        if (!strcmp(opts->o[i].key, key)) {
            opts->o[i].used = 1;
            return opts->o[i].value;
        }
    return NULL;
}

cldqn_status cldqn_env_opt_bool(env_options *opts, const char *key, int *out)
{
    const char *v = cldqn_env_opt(opts, key);
    if (!v) return CLDQN_OK;
    if (!strcmp(v, "true") || !strcmp(v, "True") || !strcmp(v, "1")) {
        *out = 1;
        return CLDQN_OK;
    }
    if (!strcmp(v, "false") || !strcmp(v, "False") || !strcmp(v, "0")) {
        *out = 0;
        return CLDQN_OK;
    }
    return cldqn_fail(CLDQN_ERR_ARG, "%s: %s=%s is not a boolean (true or false)", opts->id, key,
                      v);
}

cldqn_status cldqn_env_opt_double(env_options *opts, const char *key, double *out)
{
    const char *v = cldqn_env_opt(opts, key);
    if (!v) return CLDQN_OK;
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (!*v || *end || errno || !isfinite(x))
        return cldqn_fail(CLDQN_ERR_ARG, "%s: %s=%s is not a finite number", opts->id, key, v);
    *out = x;
    return CLDQN_OK;
}

cldqn_status cldqn_env_opt_int(env_options *opts, const char *key, int lo, int hi, int *out)
{
    const char *v = cldqn_env_opt(opts, key);
    if (!v) return CLDQN_OK;
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (!*v || *end || errno || x < lo || x > hi)
        return cldqn_fail(CLDQN_ERR_ARG, "%s: %s=%s is not an integer in [%d,%d]", opts->id, key, v,
                          lo, hi);
    *out = (int)x;
    return CLDQN_OK;
}

/* ---- the registry -------------------------------------------------------- */

enum { E_TAXI, E_FROZEN4, E_FROZEN8, E_CLIFF, E_CLIFF_SLIPPERY, E_BLACKJACK };

/* Gymnasium 1.4.0's registrations (gymnasium/envs/__init__.py). */
static const struct {
    const char *id;
    int kind;
    int time_limit;
    const char *options; /* for the message on an unknown one */
} REGISTRY[] = {
#define TAXI_OPTS "is_rainy, fickle_passenger, rainy_probability, fickle_probability"
#define LAKE_OPTS "map_name, desc, is_slippery, success_rate, reward_schedule"
    {"Taxi-v4", E_TAXI, 200, TAXI_OPTS},
    /* Gymnasium 1.4 refuses v3 as deprecated; its dynamics are v4's defaults. */
    {"Taxi-v3", E_TAXI, 200, TAXI_OPTS},
    {"FrozenLake-v1", E_FROZEN4, 100, LAKE_OPTS},
    {"FrozenLake8x8-v1", E_FROZEN8, 200, LAKE_OPTS},
    {"CliffWalking-v1", E_CLIFF, 0, "is_slippery"},
    {"CliffWalkingSlippery-v1", E_CLIFF_SLIPPERY, 0, "is_slippery"},
    {"Blackjack-v1", E_BLACKJACK, 0, "natural, sab"},
#undef TAXI_OPTS
#undef LAKE_OPTS
};
#define N_REGISTRY ((int)(sizeof REGISTRY / sizeof REGISTRY[0]))

void cldqn_env_def_free(cldqn_env_def *def)
{
    if (!def) return;
    if (def->destroy) def->destroy(def->ctx);
    free(def);
}

/* Splits "key=value,key=value" (in place) into opts. */
static cldqn_status split_options(char *s, env_options *opts)
{
    while (*s) {
        char *comma = strchr(s, ',');
        if (comma) *comma = '\0';
        char *eq = strchr(s, '=');
        if (!eq || eq == s)
            return cldqn_fail(CLDQN_ERR_ARG, "%s: option '%s' is not key=value", opts->id, s);
        *eq = '\0';
        for (int i = 0; i < opts->n; i++)
            if (!strcmp(opts->o[i].key, s))
                return cldqn_fail(CLDQN_ERR_ARG, "%s: option '%s' given twice", opts->id, s);
        if (opts->n == ENV_MAX_OPTIONS)
            return cldqn_fail(CLDQN_ERR_ARG, "%s: more than %d options", opts->id, ENV_MAX_OPTIONS);
        opts->o[opts->n].key = s;
        opts->o[opts->n].value = eq + 1;
        opts->o[opts->n].used = 0;
        opts->n++;
        if (!comma) break;
        s = comma + 1;
        if (!*s) return cldqn_fail(CLDQN_ERR_ARG, "%s: empty option after ','", opts->id);
    }
    return CLDQN_OK;
}

static cldqn_status create(char *copy, cldqn_env_def *def)
{
    env_options opts = {0};
    char *colon = strchr(copy, ':');
    if (colon) *colon = '\0';
    int r = 0;
    while (r < N_REGISTRY && strcmp(REGISTRY[r].id, copy)) r++;
    if (r == N_REGISTRY) {
        char known[256] = "";
        for (int i = 0; i < N_REGISTRY; i++) {
            strcat(known, i ? ", " : "");
            strcat(known, REGISTRY[i].id);
        }
        return cldqn_fail(CLDQN_ERR_ARG, "unknown environment '%s' (known: %s)", copy, known);
    }
    opts.id = REGISTRY[r].id;
    if (colon) {
        if (!colon[1]) return cldqn_fail(CLDQN_ERR_ARG, "%s: no options after ':'", opts.id);
        cldqn_status st = split_options(colon + 1, &opts);
        if (st != CLDQN_OK) return st;
    }
    snprintf(def->id, sizeof def->id, "%s", REGISTRY[r].id);
    def->time_limit = REGISTRY[r].time_limit;
    cldqn_status st =
        cldqn_env_opt_int(&opts, "max_episode_steps", 0, 1000000000, &def->time_limit);
    if (st != CLDQN_OK) return st;
    switch (REGISTRY[r].kind) {
    case E_TAXI:
        st = cldqn_taxi_env_create(&opts, def);
        break;
    case E_FROZEN4:
        st = cldqn_frozenlake_create(&opts, "4x4", def);
        break;
    case E_FROZEN8:
        st = cldqn_frozenlake_create(&opts, "8x8", def);
        break;
    case E_CLIFF:
    case E_CLIFF_SLIPPERY:
        st = cldqn_cliffwalking_create(&opts, REGISTRY[r].kind == E_CLIFF_SLIPPERY, def);
        break;
    default:
        st = cldqn_blackjack_create(&opts, def);
        break;
    }
    if (st != CLDQN_OK) return st;
    for (int i = 0; i < opts.n; i++)
        if (!opts.o[i].used)
            return cldqn_fail(CLDQN_ERR_ARG,
                              "%s: unknown option '%s' (known: %s, max_episode_steps)", opts.id,
                              opts.o[i].key, REGISTRY[r].options);
    return cldqn_env_def_check(def);
}

cldqn_status cldqn_env_def_create(const char *spec, cldqn_env_def **out)
{
    if (!out) return cldqn_fail(CLDQN_ERR_ARG, "env spec: out is NULL");
    *out = NULL;
    if (!spec || !*spec) return cldqn_fail(CLDQN_ERR_ARG, "empty environment spec");
    char *copy = strdup(spec);
    cldqn_env_def *def = calloc(1, sizeof *def);
    if (!copy || !def) {
        free(copy);
        free(def);
        return cldqn_fail(CLDQN_ERR_NOMEM, "env spec: out of memory");
    }
    cldqn_status st = create(copy, def);
    free(copy);
    if (st != CLDQN_OK) {
        cldqn_env_def_free(def);
        return st;
    }
    *out = def;
    return CLDQN_OK;
}
