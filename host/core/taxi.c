/* taxi.c - the Taxi environment, transition for transition as Gymnasium 1.4.0's.
 *
 * Mirrors gymnasium/envs/toy_text/taxi.py: the map, _build_dry_transitions,
 * _build_rainy_transitions/_calc_new_position (outcomes intended, left,
 * right), action_mask, the fickle passenger rule of step(), the start-state
 * distribution and _render_text. tests/test_taxi.c checks all of it against
 * tables that tools/taxi_tables.py writes with Gymnasium itself. */
#include "cldqn/taxi.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* Gymnasium's MAP; desc[1 + row][2 * col + 1] is the cell, the characters
 * beside it are ':' (open) or '|' (wall). */
static const char *const MAP[7] = {
    "+---------+", "|R: | : :G|", "| : | : : |", "| : : : : |",
    "| | : | : |", "|Y| : |B: |", "+---------+",
};
static const int LOCS[4][2] = {{0, 0}, {0, 4}, {4, 0}, {4, 3}};
static const char *const ACTION_NAMES[CLDQN_TAXI_ACTIONS] = {"South", "North",  "East",
                                                             "West",  "Pickup", "Dropoff"};
enum { MAX_ROW = 4, MAX_COL = 4 };

cldqn_taxi_config cldqn_taxi_default_config(void)
{
    cldqn_taxi_config c = {0};
    c.is_rainy = 0;
    c.fickle_passenger = 0;
    c.rainy_probability = 0.8;
    c.fickle_probability = 0.3;
    c.time_limit = 0;
    return c;
}

cldqn_status cldqn_taxi_config_check(const cldqn_taxi_config *cfg)
{
    if (!cfg) return cldqn_fail(CLDQN_ERR_ARG, "taxi config is NULL");
    if (!(cfg->rainy_probability >= 0.0 && cfg->rainy_probability <= 1.0))
        return cldqn_fail(CLDQN_ERR_ARG, "rainy_probability %g not in [0,1]",
                          cfg->rainy_probability);
    if (!(cfg->fickle_probability >= 0.0 && cfg->fickle_probability <= 1.0))
        return cldqn_fail(CLDQN_ERR_ARG, "fickle_probability %g not in [0,1]",
                          cfg->fickle_probability);
    if (cfg->time_limit < 0)
        return cldqn_fail(CLDQN_ERR_ARG, "time_limit %d is negative", cfg->time_limit);
    return CLDQN_OK;
}

int cldqn_taxi_encode(int row, int col, int passenger, int destination)
{
    return ((row * 5 + col) * 5 + passenger) * 4 + destination;
}

void cldqn_taxi_decode(int state, int *row, int *col, int *passenger, int *destination)
{
    int d = state % 4;
    state /= 4;
    int p = state % 5;
    state /= 5;
    int c = state % 5;
    int r = state / 5;
    if (row) *row = r;
    if (col) *col = c;
    if (passenger) *passenger = p;
    if (destination) *destination = d;
}

int cldqn_taxi_is_start(int state)
{
    if (state < 0 || state >= CLDQN_TAXI_STATES) return 0;
    int p, d;
    cldqn_taxi_decode(state, NULL, NULL, &p, &d);
    return p < 4 && p != d;
}

int cldqn_taxi_start_state(int i)
{
    if (i < 0 || i >= CLDQN_TAXI_STARTS) return -1;
    /* Each taxi cell owns 20 consecutive states, 12 of them starts: for each
     * passenger pad, the three destinations other than it. */
    int cell = i / 12, j = i % 12;
    int p = j / 3, k = j % 3;
    int d = k < p ? k : k + 1;
    return cell * 20 + p * 4 + d;
}

static int loc_index(int row, int col)
{
    for (int i = 0; i < 4; i++)
        if (LOCS[i][0] == row && LOCS[i][1] == col) return i;
    return -1;
}

/* Gymnasium's _pickup: *pass becomes 4 or *reward becomes -10. */
static void pickup(int row, int col, int *pass, int *reward)
{
    if (*pass < 4 && LOCS[*pass][0] == row && LOCS[*pass][1] == col)
        *pass = 4;
    else
        *reward = -10;
}

/* Gymnasium's _dropoff: at the destination ends the episode; at another pad
 * leaves the passenger there; anywhere else (or with no passenger) -10. */
static void dropoff(int row, int col, int dest, int *pass, int *reward, int *terminated)
{
    int at = loc_index(row, col);
    if (*pass == 4 && at == dest) {
        *pass = dest;
        *terminated = 1;
        *reward = 20;
    } else if (*pass == 4 && at >= 0) {
        *pass = at;
    } else {
        *reward = -10;
    }
}

static int dry_outcome(int state, int action, cldqn_taxi_outcome *out)
{
    int row, col, pass, dest;
    cldqn_taxi_decode(state, &row, &col, &pass, &dest);
    int nr = row, nc = col, np = pass, reward = -1, term = 0;
    if (action == 0) nr = row + 1 < MAX_ROW ? row + 1 : MAX_ROW;
    if (action == 1) nr = row - 1 > 0 ? row - 1 : 0;
    if (action == 2 && MAP[1 + row][2 * col + 2] == ':')
        nc = col + 1 < MAX_COL ? col + 1 : MAX_COL;
    else if (action == 3 && MAP[1 + row][2 * col] == ':')
        nc = col - 1 > 0 ? col - 1 : 0;
    else if (action == 4)
        pickup(row, col, &np, &reward);
    else if (action == 5)
        dropoff(row, col, dest, &np, &reward, &term);
    out[0].prob = 1.0;
    out[0].next_state = cldqn_taxi_encode(nr, nc, np, dest);
    out[0].reward = reward;
    out[0].terminated = term;
    return 1;
}

static int clampi(int x, int lo, int hi)
{
    return x < lo ? lo : x > hi ? hi : x;
}

/* Gymnasium's _calc_new_position for a lateral slip. */
static void calc_new_position(int row, int col, int dr, int dc, int *orow, int *ocol)
{
    int nr = clampi(row + dr, 0, MAX_ROW);
    int nc = clampi(col + dc, 0, MAX_COL);
    if ((dc == 1 && MAP[1 + nr][2 * nc] != ':') || (dc == -1 && MAP[1 + nr][2 * nc + 2] != ':')) {
        *orow = row;
        *ocol = col;
        return;
    }
    *orow = nr;
    *ocol = nc;
}

/* (forward, left, right) per heading, as Gymnasium's `moves` table. */
static const int RAIN_MOVES[4][3][2] = {
    {{1, 0}, {0, 1}, {0, -1}},  /* south: left east, right west */
    {{-1, 0}, {0, -1}, {0, 1}}, /* north: left west, right east */
    {{0, 1}, {-1, 0}, {1, 0}},  /* east: left north, right south */
    {{0, -1}, {1, 0}, {-1, 0}}, /* west: left south, right north */
};

static int rainy_outcomes(const cldqn_taxi_config *cfg, int state, int action,
                          cldqn_taxi_outcome *out)
{
    int row, col, pass, dest;
    cldqn_taxi_decode(state, &row, &col, &pass, &dest);
    int nr = row, nc = col, np = pass, reward = -1, term = 0;
    int lr = row, lc = col, rr = row, rc = col;
    /* A blocked primary move (wall or edge) drifts nowhere either. */
    if ((action == 0 && row < MAX_ROW) || (action == 1 && row > 0) ||
        (action == 2 && MAP[1 + row][2 * col + 2] == ':') ||
        (action == 3 && MAP[1 + row][2 * col] == ':')) {
        nr = clampi(row + RAIN_MOVES[action][0][0], 0, MAX_ROW);
        nc = clampi(col + RAIN_MOVES[action][0][1], 0, MAX_COL);
        calc_new_position(row, col, RAIN_MOVES[action][1][0], RAIN_MOVES[action][1][1], &lr, &lc);
        calc_new_position(row, col, RAIN_MOVES[action][2][0], RAIN_MOVES[action][2][1], &rr, &rc);
    } else if (action == 4) {
        pickup(row, col, &np, &reward);
    } else if (action == 5) {
        dropoff(row, col, dest, &np, &reward, &term);
    }
    if (action <= 3) {
        double lateral = (1.0 - cfg->rainy_probability) / 2.0;
        /* Gymnasium gives all three move outcomes reward -1. */
        out[0] = (cldqn_taxi_outcome){cfg->rainy_probability, cldqn_taxi_encode(nr, nc, np, dest),
                                      -1, term};
        out[1] = (cldqn_taxi_outcome){lateral, cldqn_taxi_encode(lr, lc, np, dest), -1, term};
        out[2] = (cldqn_taxi_outcome){lateral, cldqn_taxi_encode(rr, rc, np, dest), -1, term};
        return 3;
    }
    out[0] = (cldqn_taxi_outcome){1.0, cldqn_taxi_encode(nr, nc, np, dest), reward, term};
    return 1;
}

/* cfg NULL means plain Taxi; an out-of-range state or action gives 0 outcomes. */
int cldqn_taxi_outcomes(const cldqn_taxi_config *cfg, int state, int action,
                        cldqn_taxi_outcome out[CLDQN_TAXI_MAX_OUTCOMES])
{
    if (state < 0 || state >= CLDQN_TAXI_STATES || action < 0 || action >= CLDQN_TAXI_ACTIONS)
        return 0;
    if (cfg && cfg->is_rainy) return rainy_outcomes(cfg, state, action, out);
    return dry_outcome(state, action, out);
}

uint8_t cldqn_taxi_action_mask(int state)
{
    if (state < 0 || state >= CLDQN_TAXI_STATES) return 0;
    int row, col, pass, dest;
    cldqn_taxi_decode(state, &row, &col, &pass, &dest);
    uint8_t m = 0;
    if (row < 4) m |= 1u << 0;
    if (row > 0) m |= 1u << 1;
    if (col < 4 && MAP[row + 1][2 * col + 2] == ':') m |= 1u << 2;
    if (col > 0 && MAP[row + 1][2 * col] == ':') m |= 1u << 3;
    if (pass < 4 && LOCS[pass][0] == row && LOCS[pass][1] == col) m |= 1u << 4;
    /* Gymnasium: at the destination or at any pad (the first implies the second). */
    if (pass == 4 && loc_index(row, col) >= 0) m |= 1u << 5;
    return m;
}

cldqn_status cldqn_taxi_init(cldqn_taxi *env, const cldqn_taxi_config *cfg, uint64_t seed)
{
    if (!env) return cldqn_fail(CLDQN_ERR_ARG, "taxi env is NULL");
    cldqn_status st = cldqn_taxi_config_check(cfg);
    if (st != CLDQN_OK) return st;
    memset(env, 0, sizeof *env);
    env->cfg = *cfg;
    cldqn_rng_seed(&env->rng, seed, CLDQN_STREAM_ENV);
    env->state = -1; /* not reset yet: step() refuses */
    env->last_action = -1;
    return CLDQN_OK;
}

/* Gymnasium draws the fickle coin only for a fickle env; so do we, so that
 * plain runs keep the same stream of start states. */
static void begin_episode(cldqn_taxi *env, int state)
{
    env->state = state;
    env->steps = 0;
    env->last_action = -1;
    env->fickle_step =
        env->cfg.fickle_passenger && cldqn_rng_double(&env->rng) < env->cfg.fickle_probability;
}

int cldqn_taxi_reset(cldqn_taxi *env)
{
    begin_episode(env, cldqn_taxi_start_state((int)cldqn_rng_below(&env->rng, CLDQN_TAXI_STARTS)));
    return env->state;
}

cldqn_status cldqn_taxi_reset_to(cldqn_taxi *env, int state)
{
    if (state < 0 || state >= CLDQN_TAXI_STATES)
        return cldqn_fail(CLDQN_ERR_ARG, "taxi state %d not in [0,499]", state);
    begin_episode(env, state);
    return CLDQN_OK;
}

/* Like Gymnasium, stepping on after termination or truncation is allowed
 * (the model is defined everywhere); callers reset. res may be NULL. */
cldqn_status cldqn_taxi_step(cldqn_taxi *env, int action, cldqn_taxi_step_result *res)
{
    if (action < 0 || action >= CLDQN_TAXI_ACTIONS)
        return cldqn_fail(CLDQN_ERR_ARG, "taxi action %d not in [0,5]", action);
    if (env->state < 0 || env->state >= CLDQN_TAXI_STATES)
        return cldqn_fail(CLDQN_ERR_ARG, "taxi step before reset");
    cldqn_taxi_outcome out[CLDQN_TAXI_MAX_OUTCOMES];
    int n = cldqn_taxi_outcomes(&env->cfg, env->state, action, out);
    int k = 0;
    if (n > 1) {
        /* categorical_sample: first index whose cumulative sum exceeds u
         * (argmax of an all-false vector is 0). */
        double u = cldqn_rng_double(&env->rng), cum = 0.0;
        k = -1;
        for (int i = 0; i < n && k < 0; i++) {
            cum += out[i].prob;
            if (cum > u) k = i;
        }
        if (k < 0) k = 0;
    }
    int ns = out[k].next_state;
    int srow, scol, spass, sdest, row, col, pass;
    cldqn_taxi_decode(env->state, &srow, &scol, &spass, &sdest);
    cldqn_taxi_decode(ns, &row, &col, &pass, NULL);
    /* The passenger, aboard since at least the previous step, changes their
     * mind on the first step that moves the taxi. */
    if (env->cfg.fickle_passenger && env->fickle_step && spass == 4 &&
        (row != srow || col != scol)) {
        env->fickle_step = 0;
        int j = (int)cldqn_rng_below(&env->rng, 3);
        int dest = j < sdest ? j : j + 1;
        ns = cldqn_taxi_encode(row, col, pass, dest);
    }
    env->state = ns;
    env->last_action = action;
    env->steps++;
    if (res) {
        res->next_state = ns;
        res->reward = out[k].reward;
        res->terminated = out[k].terminated;
        res->truncated = env->cfg.time_limit > 0 && env->steps >= env->cfg.time_limit;
    }
    return CLDQN_OK;
}

/* One cell of the rendering, grown by wrapping it in escapes like
 * gymnasium.utils.colorize(string, color, bold, highlight). */
typedef struct {
    char s[96];
} cell_text;

static void colorize(cell_text *c, int color, int num, int bold, int highlight)
{
    if (!color) return;
    /* At most three wraps of 13 bytes around one character: always fits. */
    char tmp[sizeof c->s + 16];
    int n = snprintf(tmp, sizeof tmp, "\x1b[%d%sm%s\x1b[0m", num + (highlight ? 10 : 0),
                     bold ? ";1" : "", c->s);
    if (n > 0 && (size_t)n < sizeof c->s) memcpy(c->s, tmp, (size_t)n + 1);
}

enum { COLOR_GREEN = 32, COLOR_YELLOW = 33, COLOR_BLUE = 34, COLOR_MAGENTA = 35 };

/* snprintf-like: always returns the full text length; buf (if bufsize > 0)
 * gets as much as fits plus a NUL, so a complete render needs length + 1. */
size_t cldqn_taxi_render(const cldqn_taxi *env, int color, char *buf, size_t bufsize)
{
    cell_text out[7][11];
    for (int i = 0; i < 7; i++)
        for (int j = 0; j < 11; j++) {
            out[i][j].s[0] = MAP[i][j];
            out[i][j].s[1] = '\0';
        }
    int row, col, pass, dest;
    int state = env->state >= 0 && env->state < CLDQN_TAXI_STATES ? env->state : 0;
    cldqn_taxi_decode(state, &row, &col, &pass, &dest);
    cell_text *taxi = &out[1 + row][2 * col + 1];
    if (pass < 4) {
        colorize(taxi, color, COLOR_YELLOW, 0, 1);
        colorize(&out[1 + LOCS[pass][0]][2 * LOCS[pass][1] + 1], color, COLOR_BLUE, 1, 0);
    } else {
        /* Passenger aboard: an empty cell shows as "_" (also without colour). */
        if (!strcmp(taxi->s, " ")) taxi->s[0] = '_';
        colorize(taxi, color, COLOR_GREEN, 0, 1);
    }
    colorize(&out[1 + LOCS[dest][0]][2 * LOCS[dest][1] + 1], color, COLOR_MAGENTA, 0, 0);

    char text[2048];
    size_t len = 0;
    for (int i = 0; i < 7; i++) {
        for (int j = 0; j < 11; j++) {
            size_t l = strlen(out[i][j].s);
            memcpy(text + len, out[i][j].s, l);
            len += l;
        }
        text[len++] = '\n';
    }
    if (env->last_action >= 0 && env->last_action < CLDQN_TAXI_ACTIONS)
        len += (size_t)snprintf(text + len, sizeof text - len, "  (%s)\n",
                                ACTION_NAMES[env->last_action]);
    else
        text[len++] = '\n';
    text[len] = '\0';
    if (buf && bufsize > 0) {
        size_t n = len < bufsize ? len : bufsize - 1;
        memcpy(buf, text, n);
        buf[n] = '\0';
    }
    return len;
}

const char *cldqn_taxi_action_name(int action)
{
    if (action < 0 || action >= CLDQN_TAXI_ACTIONS) return NULL;
    return ACTION_NAMES[action];
}

int cldqn_taxi_parse_action(const char *text)
{
    if (!text) return -1;
    if (text[0] >= '0' && text[0] <= '5' && text[1] == '\0') return text[0] - '0';
    for (int a = 0; a < CLDQN_TAXI_ACTIONS; a++) {
        const char *n = ACTION_NAMES[a];
        size_t i = 0;
        while (n[i] && text[i] && tolower((unsigned char)n[i]) == tolower((unsigned char)text[i]))
            i++;
        if (!n[i] && !text[i]) return a;
    }
    return -1;
}
