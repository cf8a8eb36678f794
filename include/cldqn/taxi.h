/* taxi.h - the Taxi environment, transition for transition as Gymnasium's.
 *
 * Dynamics follow gymnasium/envs/toy_text/taxi.py (Taxi-v3 deterministic,
 * Taxi-v4 rainy and fickle fixes of Gymnasium 1.3+). States are encoded as
 * ((row*5+col)*5+passenger)*4+destination; passenger 4 means "in the taxi".
 * Actions: 0 south, 1 north, 2 east, 3 west, 4 pickup, 5 dropoff. */
#ifndef CLDQN_TAXI_H
#define CLDQN_TAXI_H

#include <stddef.h>
#include <stdint.h>

#include "cldqn/rng.h"
#include "cldqn/status.h"

#define CLDQN_TAXI_STATES       500
#define CLDQN_TAXI_ACTIONS      6
#define CLDQN_TAXI_STARTS       300 /* passenger waiting, destination elsewhere */
#define CLDQN_TAXI_MAX_OUTCOMES 3

typedef struct {
    int is_rainy;             /* moves slip sideways, see rainy_probability */
    int fickle_passenger;     /* passenger may change destination once */
    double rainy_probability; /* intended direction; each side gets (1-p)/2 */
    double fickle_probability;
    int time_limit; /* truncate after this many steps; 0 = none (the seed's .env) */
} cldqn_taxi_config;

/* Plain Taxi-v3: deterministic, no time limit. */
cldqn_taxi_config cldqn_taxi_default_config(void);
cldqn_status cldqn_taxi_config_check(const cldqn_taxi_config *cfg);

/* One possible outcome of (state, action), as in Gymnasium's env.P. */
typedef struct {
    double prob;
    int next_state;
    int reward;
    int terminated;
} cldqn_taxi_outcome;

int cldqn_taxi_encode(int row, int col, int passenger, int destination);
void cldqn_taxi_decode(int state, int *row, int *col, int *passenger, int *destination);
/* 1 if state is one of the 300 start states. */
int cldqn_taxi_is_start(int state);
/* The i-th start state (0 <= i < 300) in increasing state order. */
int cldqn_taxi_start_state(int i);

/* Fills out[] with the outcomes of (state, action) in Gymnasium's order and
 * returns how many (1, or 3 for a rainy move). Fickleness is not part of the
 * model: it depends on hidden per-episode state. */
int cldqn_taxi_outcomes(const cldqn_taxi_config *cfg, int state, int action,
                        cldqn_taxi_outcome out[CLDQN_TAXI_MAX_OUTCOMES]);

/* Bit a set if action a changes the state (Gymnasium's info["action_mask"]). */
uint8_t cldqn_taxi_action_mask(int state);

typedef struct {
    cldqn_taxi_config cfg;
    cldqn_rng rng; /* resets, rain, fickleness */
    int state;
    int fickle_step; /* passenger will still change their mind */
    int steps;       /* steps since reset, for the time limit */
    int last_action; /* -1 after reset */
} cldqn_taxi;

/* Initialises env with cfg and its own stream of `seed`; does not reset. */
cldqn_status cldqn_taxi_init(cldqn_taxi *env, const cldqn_taxi_config *cfg, uint64_t seed);
/* Draws a uniform start state (and the fickle coin); returns the state. */
int cldqn_taxi_reset(cldqn_taxi *env);
/* Resets to a given state (any of the 500), drawing only the fickle coin. */
cldqn_status cldqn_taxi_reset_to(cldqn_taxi *env, int state);

typedef struct {
    int next_state;
    int reward;
    int terminated;
    int truncated; /* time limit reached */
} cldqn_taxi_step_result;

cldqn_status cldqn_taxi_step(cldqn_taxi *env, int action, cldqn_taxi_step_result *res);

/* Writes Gymnasium's "ansi" rendering of env (map, then "  (South)" line
 * after a move) into buf; with color, ANSI escapes as Gymnasium prints them.
 * Returns the length written, or the length needed if bufsize is too small. */
size_t cldqn_taxi_render(const cldqn_taxi *env, int color, char *buf, size_t bufsize);

/* Name of an action ("South", ...), or NULL. Parses "0".."5" or a name
 * (south/north/east/west/pickup/dropoff, case-insensitive); returns -1 if bad. */
const char *cldqn_taxi_action_name(int action);
int cldqn_taxi_parse_action(const char *text);

/* Exact value iteration over the model (deterministic or rainy), undiscounted
 * when gamma == 1. V has 500 entries; the mean over the 300 start states is
 * the optimal mean return. Fails with CLDQN_ERR_ARG for fickle configs. */
cldqn_status cldqn_taxi_value_iteration(const cldqn_taxi_config *cfg, double gamma, double tol,
                                        double V[CLDQN_TAXI_STATES]);
double cldqn_taxi_optimal_mean_return(const cldqn_taxi_config *cfg);

/* Result of running a fixed policy from every start state. */
typedef struct {
    double mean_return;
    double success_rate; /* fraction of episodes that delivered */
    double mean_steps;
    int episodes;
} cldqn_taxi_eval;

/* Deterministic Taxi: runs policy[s] from each of the 300 starts, at most
 * max_steps steps each (a loop never delivers). */
cldqn_status cldqn_taxi_eval_policy(const uint8_t policy[CLDQN_TAXI_STATES], int max_steps,
                                    cldqn_taxi_eval *out);

/* The exact expectation of policy's undiscounted return, delivery and
 * length from a uniform start, on cfg's model (deterministic or rainy; not
 * fickle): the policy's Bellman equation iterated from zero for `horizon`
 * sweeps (an episode cut after that many steps), or with horizon 0 until no
 * value moves by 1e-12 (no time limit; a state from which the policy can
 * never deliver scores an episode cut at CLDQN_TAXI_EVAL_SWEEPS steps of -1
 * each, and so does, in part, every state that may get there). episodes is
 * 0: no episode is sampled. On deterministic Taxi it equals
 * cldqn_taxi_eval_policy with max_steps = horizon. */
#define CLDQN_TAXI_EVAL_SWEEPS 10000
cldqn_status cldqn_taxi_policy_value(const cldqn_taxi_config *cfg,
                                     const uint8_t policy[CLDQN_TAXI_STATES], int horizon,
                                     cldqn_taxi_eval *out);

#endif
