/* frozenlake.c - FrozenLake as Gymnasium 1.4.0's frozen_lake.py defines it.
 *
 * State row * ncol + col; actions 0 left, 1 down, 2 right, 3 up. From S or F
 * the move lands where inc() puts it (walls clamp); a slippery move tries
 * (a-1)%4, a, (a+1)%4 with fail_rate, success_rate, fail_rate, in that order,
 * each listed even at probability 0 as env.P lists it. Landing on G or H ends
 * the episode; rewards are reward_schedule[goal, hole, frozen] by the landing
 * cell (S counts as frozen). G and H themselves loop with reward 0. Starts:
 * uniform over the S cells. Unlike Gymnasium, maps must be rectangular, use
 * only S F H G, and reach a G from every S. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "env_impl.h"

#define LAKE_MAX_CELLS 4096

typedef struct {
    int nrow, ncol;
    int is_slippery;
    double success_rate, fail_rate;
    double reward[3]; /* goal, hole, frozen */
    int n_starts;
    char cell[LAKE_MAX_CELLS];
} lake;

static const char *const MAPS[2][8] = {
    {"SFFF", "FHFH", "FFFH", "HFFG"},
    {"SFFFFFFF", "FFFFFFFF", "FFFHFFFF", "FFFFFHFF", "FFFHFFFF", "FHHFFFHF", "FHFFHFHF",
     "FFFHFFFG"},
};
static const char *const ACTION_NAMES[4] = {"Left", "Down", "Right", "Up"};

static int is_end(char c)
{
    return c == 'G' || c == 'H';
}

/* Gymnasium's update_probability_matrix for one direction b. */
static cldqn_outcome move(const lake *L, int row, int col, int b, double prob)
{
    if (b == 0) col = col > 0 ? col - 1 : 0;
    if (b == 1) row = row + 1 < L->nrow ? row + 1 : L->nrow - 1;
    if (b == 2) col = col + 1 < L->ncol ? col + 1 : L->ncol - 1;
    if (b == 3) row = row > 0 ? row - 1 : 0;
    char c = L->cell[row * L->ncol + col];
    double r = c == 'G' ? L->reward[0] : c == 'H' ? L->reward[1] : L->reward[2];
    return (cldqn_outcome){prob, row * L->ncol + col, r, is_end(c)};
}

static int lake_outcomes(const void *ctx, int s, int a, cldqn_outcome *out)
{
    const lake *L = ctx;
    if (is_end(L->cell[s])) {
        out[0] = (cldqn_outcome){1.0, s, 0.0, 1};
        return 1;
    }
    int row = s / L->ncol, col = s % L->ncol;
    if (!L->is_slippery) {
        out[0] = move(L, row, col, a, 1.0);
        return 1;
    }
    out[0] = move(L, row, col, (a + 3) % 4, L->fail_rate);
    out[1] = move(L, row, col, a, L->success_rate);
    out[2] = move(L, row, col, (a + 1) % 4, L->fail_rate);
    return 3;
}

static void lake_start(const void *ctx, double *start)
{
    const lake *L = ctx;
    for (int s = 0; s < L->nrow * L->ncol; s++)
        start[s] = L->cell[s] == 'S' ? 1.0 / L->n_starts : 0.0;
}

static int lake_reset(const void *ctx, cldqn_rng *rng, int64_t *hidden)
{
    const lake *L = ctx;
    (void)hidden;
    /* categorical_sample over initial_state_distrib; with one S it is 1.0
     * and Gymnasium still draws, so one draw per reset here too. */
    double u = cldqn_rng_double(rng), cum = 0.0, p = 1.0 / L->n_starts;
    int first = -1;
    for (int s = 0; s < L->nrow * L->ncol; s++) {
        if (L->cell[s] != 'S') continue;
        if (first < 0) first = s;
        cum += p;
        if (cum > u) return s;
    }
    return first;
}

static void lake_step(const void *ctx, int state, int action, cldqn_rng *rng, int64_t *hidden,
                      cldqn_env_step_result *res)
{
    (void)hidden;
    cldqn_outcome o[3];
    int n = lake_outcomes(ctx, state, action, o);
    int k = cldqn_env_categorical(o, n, rng);
    res->next_state = o[k].next_state;
    res->reward = o[k].reward;
    res->terminated = o[k].terminated;
}

/* Gymnasium's _render_text: the last action's line (or an empty one), then
 * the map with the agent's cell in utils.colorize(..., "red", highlight). */
static size_t lake_render(const void *ctx, int state, int last_action, int color, char *buf,
                          size_t bufsize)
{
    const lake *L = ctx;
    size_t len = 0;
#define PUT(...)                                                                                   \
    do {                                                                                           \
        int n_ = snprintf(len < bufsize ? buf + len : NULL, len < bufsize ? bufsize - len : 0,     \
                          __VA_ARGS__);                                                            \
        if (n_ > 0) len += (size_t)n_;                                                             \
    } while (0)
    if (last_action >= 0 && last_action < 4)
        PUT("  (%s)\n", ACTION_NAMES[last_action]);
    else
        PUT("\n");
    for (int r = 0; r < L->nrow; r++) {
        for (int c = 0; c < L->ncol; c++) {
            int s = r * L->ncol + c;
            if (s == state && color)
                PUT("\x1b[41m%c\x1b[0m", L->cell[s]);
            else
                PUT("%c", L->cell[s]);
        }
        PUT("\n");
    }
#undef PUT
    return len;
}

static const char *lake_action_name(const void *ctx, int action)
{
    (void)ctx;
    return action >= 0 && action < 4 ? ACTION_NAMES[action] : NULL;
}

/* Reads "a/b/c" into three doubles. */
static cldqn_status parse_schedule(const char *id, const char *v, double out[3])
{
    const char *p = v;
    for (int i = 0; i < 3; i++) {
        char *end;
        out[i] = strtod(p, &end);
        if (end == p || (i < 2 && *end != '/') || (i == 2 && *end) || !isfinite(out[i]))
            return cldqn_fail(CLDQN_ERR_ARG,
                              "%s: reward_schedule=%s is not three numbers goal/hole/frozen", id,
                              v);
        p = end + 1;
    }
    return CLDQN_OK;
}

/* Rows of a map joined by '/' into L; checks shape, letters, S and G. */
static cldqn_status parse_map(const char *id, const char *desc, lake *L)
{
    int row = 0, col = 0, ncol = -1, n = 0;
    for (const char *p = desc;; p++) {
        if (*p == '/' || !*p) {
            if (col == 0) return cldqn_fail(CLDQN_ERR_ARG, "%s: desc row %d is empty", id, row + 1);
            if (ncol >= 0 && col != ncol)
                return cldqn_fail(CLDQN_ERR_ARG,
                                  "%s: desc is not rectangular (row %d has %d cells, row 1 has %d)",
                                  id, row + 1, col, ncol);
            ncol = col;
            row++;
            col = 0;
            if (!*p) break;
            continue;
        }
        if (!strchr("SFHG", *p))
            return cldqn_fail(CLDQN_ERR_ARG, "%s: desc has '%c'; cells are S, F, H or G", id, *p);
        if (n == LAKE_MAX_CELLS)
            return cldqn_fail(CLDQN_ERR_ARG, "%s: desc has more than %d cells", id, LAKE_MAX_CELLS);
        L->cell[n++] = *p;
        col++;
    }
    L->nrow = row;
    L->ncol = ncol;
    int has_g = 0;
    L->n_starts = 0;
    for (int s = 0; s < n; s++) {
        L->n_starts += L->cell[s] == 'S';
        has_g |= L->cell[s] == 'G';
    }
    if (!L->n_starts) return cldqn_fail(CLDQN_ERR_ARG, "%s: desc has no start S", id);
    if (!has_g) return cldqn_fail(CLDQN_ERR_ARG, "%s: desc has no goal G", id);
    return CLDQN_OK;
}

/* Every S must reach a G through S and F cells (any move can happen on some
 * action, slippery or not): flood backwards from the goals. */
static cldqn_status check_reachable(const char *id, const lake *L)
{
    int n = L->nrow * L->ncol;
    char *reach = calloc((size_t)n, 1);
    int *queue = malloc(sizeof(int) * (size_t)n);
    if (!reach || !queue) {
        free(reach);
        free(queue);
        return cldqn_fail(CLDQN_ERR_NOMEM, "%s: out of memory", id);
    }
    int head = 0, tail = 0;
    for (int s = 0; s < n; s++)
        if (L->cell[s] == 'G') reach[s] = 1, queue[tail++] = s;
    while (head < tail) {
        int s = queue[head++], r = s / L->ncol, c = s % L->ncol;
        const int nb[4][2] = {{r - 1, c}, {r + 1, c}, {r, c - 1}, {r, c + 1}};
        for (int i = 0; i < 4; i++) {
            if (nb[i][0] < 0 || nb[i][0] >= L->nrow || nb[i][1] < 0 || nb[i][1] >= L->ncol)
                continue;
            int t = nb[i][0] * L->ncol + nb[i][1];
            if (reach[t] || is_end(L->cell[t])) continue;
            reach[t] = 1;
            queue[tail++] = t;
        }
    }
    int bad = -1;
    for (int s = 0; s < n && bad < 0; s++)
        if (L->cell[s] == 'S' && !reach[s]) bad = s;
    free(reach);
    free(queue);
    if (bad >= 0)
        return cldqn_fail(CLDQN_ERR_ARG, "%s: no G can be reached from the S at row %d col %d", id,
                          bad / L->ncol + 1, bad % L->ncol + 1);
    return CLDQN_OK;
}

cldqn_status cldqn_frozenlake_create(env_options *opts, const char *map_name, cldqn_env_def *def)
{
    lake *L = calloc(1, sizeof *L);
    if (!L) return cldqn_fail(CLDQN_ERR_NOMEM, "%s: out of memory", def->id);
    def->ctx = L;
    def->destroy = free;
    L->is_slippery = 1;
    L->success_rate = 1.0 / 3.0;
    L->reward[0] = 1.0;
    cldqn_status st;
    const char *name = cldqn_env_opt(opts, "map_name");
    const char *desc = cldqn_env_opt(opts, "desc");
    const char *sched = cldqn_env_opt(opts, "reward_schedule");
    if ((st = cldqn_env_opt_bool(opts, "is_slippery", &L->is_slippery)) ||
        (st = cldqn_env_opt_double(opts, "success_rate", &L->success_rate)) ||
        (sched && (st = parse_schedule(def->id, sched, L->reward))))
        return st;
    if (!(L->success_rate >= 0.0 && L->success_rate <= 1.0))
        return cldqn_fail(CLDQN_ERR_ARG, "%s: success_rate=%g not in [0,1]", def->id,
                          L->success_rate);
    L->fail_rate = (1.0 - L->success_rate) / 2.0;
    if (name && strcmp(name, "4x4") && strcmp(name, "8x8"))
        return cldqn_fail(CLDQN_ERR_ARG, "%s: map_name=%s; known maps are 4x4 and 8x8", def->id,
                          name);
    if (!desc) {
        /* As Gymnasium: desc wins over map_name, map_name over the ID's map. */
        int big = !strcmp(name ? name : map_name, "8x8");
        char joined[80] = "";
        for (int r = 0; r < (big ? 8 : 4); r++) {
            if (r) strcat(joined, "/");
            strcat(joined, MAPS[big][r]);
        }
        st = parse_map(def->id, joined, L);
    } else {
        st = parse_map(def->id, desc, L);
    }
    if (st != CLDQN_OK || (st = check_reachable(def->id, L)) != CLDQN_OK) return st;
    def->n_states = L->nrow * L->ncol;
    def->n_actions = 4;
    def->max_outcomes = 3;
    def->reset = lake_reset;
    def->step = lake_step;
    def->render = lake_render;
    def->action_name = lake_action_name;
    def->outcomes = lake_outcomes;
    def->start_distribution = lake_start;
    return CLDQN_OK;
}
