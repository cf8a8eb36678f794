/* env_impl.h - private to host/core: the options of an env spec and the
 * constructors of the built-in environments (env.c dispatches on the ID). */
#ifndef CLDQN_ENV_IMPL_H
#define CLDQN_ENV_IMPL_H

#include "cldqn/env.h"

#define ENV_MAX_OPTIONS 16

/* "key=value" pairs of a spec; a constructor marks the keys it takes, env.c
 * refuses any left unmarked. Values point into the spec's copy. */
typedef struct {
    int n;
    const char *id;
    struct {
        const char *key, *value;
        int used;
    } o[ENV_MAX_OPTIONS];
} env_options;

/* The value of key (marking it used), or NULL if absent. */
const char *cldqn_env_opt(env_options *opts, const char *key);
/* Parse key's value if present; leave *out alone if absent. */
cldqn_status cldqn_env_opt_bool(env_options *opts, const char *key, int *out);
cldqn_status cldqn_env_opt_double(env_options *opts, const char *key, double *out);
cldqn_status cldqn_env_opt_int(env_options *opts, const char *key, int lo, int hi, int *out);

/* The implementation's draw: categorical_sample, Gymnasium's rule (first
 * index whose running sum exceeds u; index 0 if none does). */
int cldqn_env_categorical(const cldqn_outcome *out, int n, cldqn_rng *rng);

/* Each fills *def (id and time limit already set) from the options: sizes,
 * callbacks and a malloc'd ctx with destroy = free. */
cldqn_status cldqn_taxi_env_create(env_options *opts, cldqn_env_def *def);
cldqn_status cldqn_frozenlake_create(env_options *opts, const char *map_name, cldqn_env_def *def);
cldqn_status cldqn_cliffwalking_create(env_options *opts, int is_slippery, cldqn_env_def *def);
cldqn_status cldqn_blackjack_create(env_options *opts, cldqn_env_def *def);

#endif
