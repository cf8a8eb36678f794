/* blackjack.c - Blackjack as Gymnasium 1.4.0's blackjack.py defines it, with
 * the exact model under its infinite deck.
 *
 * Cards are drawn uniformly from deck = [1..9, 10, 10, 10, 10] (ace 1, faces
 * 10), so p(10) = 4/13 and 1/13 for each other value. The state index is
 * env.h's: (sum * 11 + dealer) * 2 + usable_ace, or 704 + dealer - 1 for a
 * dealt natural. Live states (hands a deal or hits can make, not bust):
 * hard sums 4..21, soft 12..21 and the naturals, dealer 1..10; any other
 * index (busts, impossible hands) is absorbing: every action stays with
 * reward 0, terminated, as FrozenLake's holes.
 *
 * Probabilities are exact: counts of card sequences (weights 1 or 4) over
 * 13^k, k cards drawn, kept as integers over 13^DEALER_CARDS and divided
 * once, so each double is the correctly rounded value of the fraction. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "env_impl.h"

enum {
    SUMS = 32,
    DEALERS = 11,
    OBS_STATES = SUMS * DEALERS * 2, /* 704 */
    NATURAL0 = OBS_STATES,           /* + dealer - 1 */
    STATES = OBS_STATES + 10,
    /* The dealer draws at most 11 cards after the shown one: A A A A A A
     * (soft 16), 6 (hard 12), A A A A A (17). */
    DEALER_CARDS = 11,
};

/* Dealer results: 0 bust, 17..21 the score, 22 a natural (scores 21). */
enum { D_BUST = 0, D_NATURAL = 22, D_RESULTS = 23 };

typedef struct {
    int natural, sab;
    /* dealer[d][r]: count of hidden + drawn card sequences, each weighted
     * 13^(DEALER_CARDS - cards drawn), giving result r from shown card d. */
    uint64_t dealer[DEALERS][D_RESULTS];
} blackjack;

static const int DECK[13] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 10, 10, 10};
static const char *const ACTION_NAMES[2] = {"Stick", "Hit"};

static int weight(int card)
{
    return card == 10 ? 4 : 1;
}

static uint64_t pow13(int k)
{
    uint64_t p = 1;
    while (k-- > 0) p *= 13;
    return p;
}

int cldqn_blackjack_state(int sum, int dealer, int usable_ace, int natural)
{
    if (natural) return dealer >= 1 && dealer <= 10 ? NATURAL0 + dealer - 1 : -1;
    if (sum < 0 || sum >= SUMS || dealer < 0 || dealer >= DEALERS || usable_ace < 0 ||
        usable_ace > 1)
        return -1;
    return (sum * DEALERS + dealer) * 2 + usable_ace;
}

int cldqn_blackjack_obs(int state, int *sum, int *dealer, int *usable_ace)
{
    if (state < 0 || state >= STATES) return -1;
    if (state >= NATURAL0) {
        *sum = 21, *dealer = state - NATURAL0 + 1, *usable_ace = 1;
        return 1;
    }
    *usable_ace = state % 2;
    *dealer = state / 2 % DEALERS;
    *sum = state / 2 / DEALERS;
    return 0;
}

/* Hand -> (sum, usable ace) as _hand_sum_and_usable_ace, from the raw sum
 * (aces as 1) and whether the hand holds an ace. */
static void hand_value(int raw, int ace, int *sum, int *usable)
{
    *usable = ace && raw + 10 <= 21;
    *sum = *usable ? raw + 10 : raw;
}

static int live(int state, int *sum, int *dealer, int *usable, int *natural)
{
    *natural = cldqn_blackjack_obs(state, sum, dealer, usable);
    if (*natural < 0 || *dealer < 1) return 0;
    if (*usable) return *sum >= 12 && *sum <= 21;
    return *sum >= 4 && *sum <= 21;
}

/* Dealer plays from (raw, ace) with `cards` drawn so far and count `w`. */
static void dealer_play(blackjack *B, int shown, int raw, int ace, int cards, uint64_t w)
{
    int sum, usable;
    hand_value(raw, ace, &sum, &usable);
    if (cards >= 1 && sum >= 17) {
        int r = sum > 21 ? D_BUST : sum;
        /* A natural is the first two cards, ace and ten. */
        if (cards == 1 && sum == 21) r = D_NATURAL;
        B->dealer[shown][r] += w * pow13(DEALER_CARDS - cards);
        return;
    }
    for (int c = 1; c <= 10; c++)
        dealer_play(B, shown, raw + c, ace || c == 1, cards + 1, w * (uint64_t)weight(c));
}

/* Reward of sticking with score ps (0 bust) and natural flag, against r. */
static double stick_reward(const blackjack *B, int ps, int pnat, int r)
{
    int ds = r == D_NATURAL ? 21 : r;
    double reward = (double)(ps > ds) - (double)(ps < ds);
    if (B->sab && pnat && r != D_NATURAL)
        reward = 1.0; /* Sutton and Barto: a natural wins outright */
    else if (!B->sab && B->natural && pnat && reward == 1.0)
        reward = 1.5;
    return reward;
}

static int bj_outcomes(const void *ctx, int s, int a, cldqn_outcome *out)
{
    const blackjack *B = ctx;
    int sum, dealer, usable, natural;
    if (!live(s, &sum, &dealer, &usable, &natural)) {
        out[0] = (cldqn_outcome){1.0, s, 0.0, 1};
        return 1;
    }
    if (a == 1) {
        /* One outcome per card value: each gives another sum. */
        int raw = usable ? sum - 10 : sum;
        for (int c = 1; c <= 10; c++) {
            int ns, nu;
            hand_value(raw + c, usable || c == 1, &ns, &nu);
            int bust = ns > 21;
            out[c - 1] = (cldqn_outcome){weight(c) / 13.0, cldqn_blackjack_state(ns, dealer, nu, 0),
                                         bust ? -1.0 : 0.0, bust};
        }
        return 10;
    }
    /* Stick: the hand stays, the dealer plays; one outcome per reward, in
     * increasing order. */
    const double rewards[4] = {-1.0, 0.0, 1.0, 1.5};
    uint64_t count[4] = {0};
    for (int r = 0; r < D_RESULTS; r++) {
        if (!B->dealer[dealer][r]) continue;
        double rew = stick_reward(B, sum, natural, r);
        for (int i = 0; i < 4; i++)
            if (rew == rewards[i]) count[i] += B->dealer[dealer][r];
    }
    int n = 0;
    for (int i = 0; i < 4; i++)
        if (count[i])
            out[n++] =
                (cldqn_outcome){(double)count[i] / (double)pow13(DEALER_CARDS), s, rewards[i], 1};
    return n;
}

static void bj_start(const void *ctx, double *start)
{
    (void)ctx;
    uint64_t count[STATES] = {0};
    for (int d = 1; d <= 10; d++)
        for (int p1 = 1; p1 <= 10; p1++)
            for (int p2 = 1; p2 <= 10; p2++) {
                int sum, usable;
                hand_value(p1 + p2, p1 == 1 || p2 == 1, &sum, &usable);
                int nat = p1 + p2 == 11 && (p1 == 1 || p2 == 1);
                count[cldqn_blackjack_state(sum, d, usable, nat)] +=
                    (uint64_t)(weight(d) * weight(p1) * weight(p2));
            }
    for (int s = 0; s < STATES; s++) start[s] = (double)count[s] / 2197.0; /* 13^3 */
}

static int draw(cldqn_rng *rng)
{
    return DECK[cldqn_rng_below(rng, 13)];
}

/* The dealer's hidden card is drawn when the player sticks: it is
 * independent of everything before under the infinite deck. */
static int bj_reset(const void *ctx, cldqn_rng *rng, int64_t *hidden)
{
    (void)ctx, (void)hidden;
    int d = draw(rng), p1 = draw(rng), p2 = draw(rng);
    int sum, usable;
    hand_value(p1 + p2, p1 == 1 || p2 == 1, &sum, &usable);
    return cldqn_blackjack_state(sum, d, usable, p1 + p2 == 11 && (p1 == 1 || p2 == 1));
}

static void bj_step(const void *ctx, int state, int action, cldqn_rng *rng, int64_t *hidden,
                    cldqn_env_step_result *res)
{
    const blackjack *B = ctx;
    (void)hidden;
    int sum, dealer, usable, natural;
    res->next_state = state;
    res->reward = 0.0;
    res->terminated = 1;
    if (!live(state, &sum, &dealer, &usable, &natural)) return;
    if (action == 1) {
        int c = draw(rng), ns, nu;
        hand_value((usable ? sum - 10 : sum) + c, usable || c == 1, &ns, &nu);
        res->next_state = cldqn_blackjack_state(ns, dealer, nu, 0);
        res->terminated = ns > 21;
        res->reward = ns > 21 ? -1.0 : 0.0;
        return;
    }
    int raw = dealer, ace = dealer == 1, cards = 0, ds, du;
    for (;;) {
        hand_value(raw, ace, &ds, &du);
        if (cards >= 1 && ds >= 17) break;
        int c = draw(rng);
        raw += c;
        ace |= c == 1;
        cards++;
    }
    int r = ds > 21 ? D_BUST : (cards == 1 && ds == 21) ? D_NATURAL : ds;
    res->reward = stick_reward(B, sum, natural, r);
}

static size_t bj_render(const void *ctx, int state, int last_action, int color, char *buf,
                        size_t bufsize)
{
    (void)ctx, (void)color;
    int sum = 0, dealer = 0, usable = 0;
    int natural = cldqn_blackjack_obs(state, &sum, &dealer, &usable);
    char shown[4];
    snprintf(shown, sizeof shown, "%d", dealer);
    int n = snprintf(buf, bufsize, "%s%s%s\nplayer %d%s%s, dealer shows %s\n",
                     last_action >= 0 ? "  (" : "",
                     last_action == 0   ? "Stick"
                     : last_action == 1 ? "Hit"
                                        : "",
                     last_action >= 0 ? ")" : "", sum, usable ? " with a usable ace" : "",
                     natural == 1 ? " (natural)" : "", dealer == 1 ? "A" : shown);
    return n > 0 ? (size_t)n : 0;
}

static const char *bj_action_name(const void *ctx, int action)
{
    (void)ctx;
    return action == 0 || action == 1 ? ACTION_NAMES[action] : NULL;
}

cldqn_status cldqn_blackjack_create(env_options *opts, cldqn_env_def *def)
{
    blackjack *B = calloc(1, sizeof *B);
    if (!B) return cldqn_fail(CLDQN_ERR_NOMEM, "%s: out of memory", def->id);
    def->ctx = B;
    def->destroy = free;
    B->sab = 1; /* as registered; natural is then ignored, as in Gymnasium */
    cldqn_status st;
    if ((st = cldqn_env_opt_bool(opts, "natural", &B->natural)) ||
        (st = cldqn_env_opt_bool(opts, "sab", &B->sab)))
        return st;
    for (int d = 1; d <= 10; d++) dealer_play(B, d, d, d == 1, 0, 1);
    def->n_states = STATES;
    def->n_actions = 2;
    def->max_outcomes = 10;
    def->reset = bj_reset;
    def->step = bj_step;
    def->render = bj_render;
    def->action_name = bj_action_name;
    def->outcomes = bj_outcomes;
    def->start_distribution = bj_start;
    return CLDQN_OK;
}
