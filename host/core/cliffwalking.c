/* cliffwalking.c - CliffWalking as Gymnasium 1.4.0's cliffwalking.py defines it.
 *
 * 4 x 12 grid, state row * 12 + col, start (3, 0), goal (3, 11), cliff
 * (3, 1..10); actions 0 up, 1 right, 2 down, 3 left. A move is clamped to
 * the grid; onto the cliff it goes back to the start with reward -100 and
 * does not end the episode; otherwise -1, ending on the goal. Slippery: the
 * directions (a-1)%4, a, (a+1)%4 with 1/3 each, in that order. Gymnasium
 * computes every state's moves the same way, the goal's and the cliff's
 * included (never used in an episode), and so does this file. */
#include <stdio.h>
#include <stdlib.h>

#include "env_impl.h"

enum { ROWS = 4, COLS = 12, START = 36, GOAL = 47 };

static const int DELTA[4][2] = {{-1, 0}, {0, 1}, {1, 0}, {0, -1}};
static const char *const ACTION_NAMES[4] = {"Up", "Right", "Down", "Left"};

static int clampi(int x, int lo, int hi)
{
    return x < lo ? lo : x > hi ? hi : x;
}

static int is_cliff(int row, int col)
{
    return row == 3 && col >= 1 && col <= 10;
}

static cldqn_outcome move(int s, int b, double prob)
{
    int row = clampi(s / COLS + DELTA[b][0], 0, ROWS - 1);
    int col = clampi(s % COLS + DELTA[b][1], 0, COLS - 1);
    if (is_cliff(row, col)) return (cldqn_outcome){prob, START, -100.0, 0};
    int ns = row * COLS + col;
    return (cldqn_outcome){prob, ns, -1.0, ns == GOAL};
}

static int cliff_outcomes(const void *ctx, int s, int a, cldqn_outcome *out)
{
    if (!*(const int *)ctx) {
        out[0] = move(s, a, 1.0);
        return 1;
    }
    /* Gymnasium's 1 / len(deltas) */
    for (int k = 0; k < 3; k++) out[k] = move(s, (a + 3 + k) % 4, 1.0 / 3.0);
    return 3;
}

static void cliff_start(const void *ctx, double *start)
{
    (void)ctx;
    for (int s = 0; s < ROWS * COLS; s++) start[s] = s == START ? 1.0 : 0.0;
}

static int cliff_reset(const void *ctx, cldqn_rng *rng, int64_t *hidden)
{
    (void)ctx, (void)hidden;
    cldqn_rng_double(rng); /* Gymnasium's categorical_sample draws even for one start */
    return START;
}

static void cliff_step(const void *ctx, int state, int action, cldqn_rng *rng, int64_t *hidden,
                       cldqn_env_step_result *res)
{
    (void)hidden;
    cldqn_outcome o[3];
    int n = cliff_outcomes(ctx, state, action, o);
    int k = cldqn_env_categorical(o, n, rng);
    res->next_state = o[k].next_state;
    res->reward = o[k].reward;
    res->terminated = o[k].terminated;
}

/* Gymnasium's _render_text: " x " agent, " T " goal, " C " cliff, " o "
 * else; the first column left-stripped, the last right-stripped; a blank
 * line after the grid. No colours. */
static size_t cliff_render(const void *ctx, int state, int last_action, int color, char *buf,
                           size_t bufsize)
{
    (void)ctx, (void)last_action, (void)color;
    char text[ROWS * (COLS * 3 + 1) + 2];
    size_t len = 0;
    for (int s = 0; s < ROWS * COLS; s++) {
        int row = s / COLS, col = s % COLS;
        char c = s == state ? 'x' : s == GOAL ? 'T' : is_cliff(row, col) ? 'C' : 'o';
        if (col > 0) text[len++] = ' ';
        text[len++] = c;
        if (col < COLS - 1) text[len++] = ' ';
        if (col == COLS - 1) text[len++] = '\n';
    }
    text[len++] = '\n';
    text[len] = '\0';
    if (buf && bufsize > 0) snprintf(buf, bufsize, "%s", text);
    return len;
}

static const char *cliff_action_name(const void *ctx, int action)
{
    (void)ctx;
    return action >= 0 && action < 4 ? ACTION_NAMES[action] : NULL;
}

cldqn_status cldqn_cliffwalking_create(env_options *opts, int is_slippery, cldqn_env_def *def)
{
    int *ctx = malloc(sizeof *ctx);
    if (!ctx) return cldqn_fail(CLDQN_ERR_NOMEM, "%s: out of memory", def->id);
    def->ctx = ctx;
    def->destroy = free;
    *ctx = is_slippery;
    cldqn_status st = cldqn_env_opt_bool(opts, "is_slippery", ctx);
    if (st != CLDQN_OK) return st;
    def->n_states = ROWS * COLS;
    def->n_actions = 4;
    def->max_outcomes = 3;
    def->reset = cliff_reset;
    def->step = cliff_step;
    def->render = cliff_render;
    def->action_name = cliff_action_name;
    def->outcomes = cliff_outcomes;
    def->start_distribution = cliff_start;
    return CLDQN_OK;
}
