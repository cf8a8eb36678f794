/* config.c - presets, the key table, and parsing of flags, files and JSON.
 *
 * One table describes every key: its type, where it lives in cldqn_config,
 * its valid range, whether checkpoints store it and whether the agents of a
 * population may differ in it (--sweep, sweep.c). Flags, config files and
 * checkpoint JSON all go through cldqn_config_set, so a value accepted in
 * one place is accepted (and checked) the same way in the others. */
#include "cldqn/config.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "cldqn/files.h"
#include "cldqn/json.h"

typedef enum { K_INT, K_I64, K_U64, K_FLOAT, K_DOUBLE, K_BOOL, K_STR, K_ENUM } key_type;

typedef struct {
    const char *name;
    key_type type;
    size_t off;
    double lo, hi;            /* inclusive range for numbers */
    int lo_open;              /* lo itself is not allowed (lr > 0) */
    int hi_open;              /* hi itself is not allowed (beta < 1) */
    const char *const *names; /* K_ENUM: value i is names[i]; K_STR: size of the field in hi */
    int persist;              /* stored in checkpoints (2: only when not 1, see envs) */
    cldqn_sweep_rule sweep;   /* may agents of one population differ in it */
    const char *help;
} key_def;

static const char *const loss_names[] = {"mse", "huber", NULL};
static const char *const update_names[] = {"mean", "per-sample", NULL};
static const char *const adam_names[] = {"torch", "keras", NULL};
static const char *const init_names[] = {"torch", "keras", NULL};
static const char *const backend_names[] = {"opencl", "ref", NULL};
static const char *const path_names[] = {"auto", "fused", "layered", NULL};
static const char *const sample_names[] = {"without", "with", NULL};
static const char *const lr_names[] = {"constant", "linear", "cosine", NULL};

#define OFF(f)      offsetof(cldqn_config, f)
#define SW_NO       CLDQN_SWEEP_NO
#define SW_ANY      CLDQN_SWEEP_ANY
#define SW_POSITIVE CLDQN_SWEEP_POSITIVE
#define BIG         9.2e18

/* Sweepable (SW_ANY): settings that neither the kernel program nor the
 * launch depends on. The host side of each agent reads most; the Adam and
 * loss settings travel in each agent's packed input (the launch takes
 * whichever agents learn on a step). clip is SW_POSITIVE: the program is
 * built with or without clipping. */
static const key_def keys[] = {
    {"seed", K_U64, OFF(seed), 0, BIG, 0, 0, NULL, 1, SW_ANY,
     "run seed (every RNG stream derives from it)"},
    {"steps", K_I64, OFF(steps), 0, BIG, 0, 0, NULL, 1, SW_NO,
     "stop after N env steps in total (0 = no limit)"},
    {"episodes", K_I64, OFF(episodes), 0, BIG, 0, 0, NULL, 1, SW_NO,
     "stop after N episodes (0 = no limit)"},
    {"episode-steps", K_INT, OFF(episode_steps), 0, 1e9, 0, 0, NULL, 1, SW_NO,
     "cap on steps per episode, as the seed's range(1000) (0 = none)"},
    {"time-limit", K_INT, OFF(taxi.time_limit), 0, 1e9, 0, 0, NULL, 1, SW_NO,
     "Taxi truncates training episodes after N steps (0 = none)"},
    {"rainy", K_BOOL, OFF(taxi.is_rainy), 0, 1, 0, 0, NULL, 1, SW_NO,
     "rainy Taxi (moves may slip sideways)"},
    {"rain-prob", K_DOUBLE, OFF(taxi.rainy_probability), 0, 1, 1, 0, NULL, 1, SW_NO,
     "probability that a rainy move goes where intended"},
    {"fickle", K_BOOL, OFF(taxi.fickle_passenger), 0, 1, 0, 0, NULL, 1, SW_NO,
     "fickle passenger (may change destination once)"},
    {"fickle-prob", K_DOUBLE, OFF(taxi.fickle_probability), 0, 1, 0, 0, NULL, 1, SW_NO,
     "probability that the passenger is fickle"},
    {"embed", K_INT, OFF(shape.embed), 1, 4096, 0, 0, NULL, 1, SW_NO, "embedding width E"},
    {"hidden", K_INT, OFF(shape.hidden), 1, 4096, 0, 0, NULL, 1, SW_NO, "hidden layer width H"},
    {"layers", K_INT, OFF(shape.layers), 0, CLDQN_MAX_HIDDEN_LAYERS, 0, 0, NULL, 1, SW_NO,
     "hidden layers"},
    {"init", K_ENUM, OFF(init), 0, 0, 0, 0, init_names, 1, SW_NO,
     "weight initialisation: torch|keras"},
    {"lr", K_FLOAT, OFF(learn.lr), 0, BIG, 1, 0, NULL, 1, SW_ANY, "Adam learning rate"},
    {"gamma", K_FLOAT, OFF(learn.gamma), 0, 1, 0, 0, NULL, 1, SW_ANY, "discount factor"},
    {"adam", K_ENUM, OFF(learn.adam), 0, 0, 0, 0, adam_names, 1, SW_NO, "Adam form: torch|keras"},
    {"beta1", K_FLOAT, OFF(learn.beta1), 0, 1, 0, 1, NULL, 1, SW_ANY, "Adam beta1"},
    {"beta2", K_FLOAT, OFF(learn.beta2), 0, 1, 0, 1, NULL, 1, SW_ANY, "Adam beta2"},
    {"adam-eps", K_FLOAT, OFF(learn.eps), 0, 1, 1, 0, NULL, 1, SW_ANY, "Adam epsilon"},
    {"loss", K_ENUM, OFF(learn.loss), 0, 0, 0, 0, loss_names, 1, SW_NO, "TD loss: mse|huber"},
    {"huber-delta", K_FLOAT, OFF(learn.huber_delta), 0, 1e9, 1, 0, NULL, 1, SW_ANY,
     "Huber delta (1 = smooth_l1_loss)"},
    {"clip", K_FLOAT, OFF(learn.max_grad_norm), 0, 1e9, 0, 0, NULL, 1, SW_POSITIVE,
     "clip gradients to this global norm (0 = off)"},
    {"update", K_ENUM, OFF(learn.mode), 0, 0, 0, 0, update_names, 1, SW_NO,
     "mean (one step per minibatch) | per-sample (the seed's fit per sample)"},
    {"batch", K_INT, OFF(batch), 1, 65536, 0, 0, NULL, 1, SW_NO, "minibatch size"},
    {"replay", K_I64, OFF(replay), 1, 1e8, 0, 0, NULL, 1, SW_NO, "replay memory capacity"},
    {"sample", K_ENUM, OFF(sample_replacement), 0, 0, 0, 0, sample_names, 1, SW_NO,
     "minibatch sampling with|without replacement"},
    {"learning-starts", K_I64, OFF(learning_starts), 0, BIG, 0, 0, NULL, 1, SW_ANY,
     "updates begin once the memory holds more than N transitions"},
    {"train-every", K_INT, OFF(train_every), 1, 1e9, 0, 0, NULL, 1, SW_ANY, "env steps per update"},
    {"grad-steps", K_INT, OFF(grad_steps), 1, 1024, 0, 0, NULL, 2, SW_ANY,
     "updates each time train-every env steps pass (the replay ratio's numerator)"},
    {"double", K_BOOL, OFF(learn.double_q), 0, 1, 0, 0, NULL, 2, SW_NO,
     "Double DQN targets: the online network picks argmax_a Q(s'), the target scores it"},
    {"n-step", K_INT, OFF(n_step), 1, 64, 0, 0, NULL, 2, SW_ANY,
     "n-step returns: rewards of up to N steps of one env, then gamma^N max Q_target"},
    /* Stored only when not 1, so that single-env checkpoints stay byte-identical
     * to those written before the key existed. */
    {"envs", K_INT, OFF(envs), 1, 4096, 0, 0, NULL, 2, SW_NO,
     "Taxi instances stepped together, one greedy launch for all (target-every 0 needs 1)"},
    {"target-every", K_I64, OFF(target_every), 0, BIG, 0, 0, NULL, 1, SW_ANY,
     "env steps per target sync (0 = when an episode terminates, as the seed)"},
    {"tau", K_FLOAT, OFF(learn.tau), 0, 1, 1, 0, NULL, 2, SW_ANY,
     "a sync sets target += tau (weights - target): 1 copies, < 1 is Polyak averaging"},
    {"lr-schedule", K_ENUM, OFF(lr_schedule), 0, 0, 0, 0, lr_names, 2, SW_ANY,
     "learning rate over env steps: constant|linear|cosine (from lr to lr-end)"},
    {"lr-end", K_FLOAT, OFF(lr_end), 0, BIG, 0, 0, NULL, 2, SW_ANY,
     "learning rate at the schedule's end (its floor)"},
    {"lr-decay-steps", K_I64, OFF(lr_decay_steps), 0, BIG, 0, 0, NULL, 2, SW_ANY,
     "env steps of the learning-rate schedule"},
    {"eps-start", K_FLOAT, OFF(eps_start), 0, 1, 0, 0, NULL, 1, SW_ANY, "initial exploration rate"},
    {"eps-end", K_FLOAT, OFF(eps_end), 0, 1, 0, 0, NULL, 1, SW_ANY, "final exploration rate"},
    {"eps-decay-steps", K_I64, OFF(eps_decay_steps), 0, BIG, 0, 0, NULL, 1, SW_ANY,
     "env steps of the linear epsilon decay"},
    {"until-optimal", K_BOOL, OFF(until_optimal), 0, 1, 0, 0, NULL, 1, SW_NO,
     "stop when the greedy policy is exactly optimal"},
    {"eval-every", K_I64, OFF(eval_every), 0, BIG, 0, 0, NULL, 1, SW_ANY,
     "env steps between exact greedy evaluations (0 = never)"},
    {"save-every", K_I64, OFF(save_every), 0, BIG, 0, 0, NULL, 1, SW_NO,
     "env steps between checkpoints (0 = only at the end)"},
    {"render-every", K_INT, OFF(render_every), 0, 1e9, 0, 0, NULL, 1, SW_NO,
     "render after every N-th episode (0 = never)"},
    {"summary", K_BOOL, OFF(summary), 0, 1, 0, 0, NULL, 1, SW_NO,
     "print a Keras-style model summary first"},
    {"out", K_STR, OFF(out), 0, CLDQN_CONFIG_PATH_MAX, 0, 0, NULL, 0, SW_NO, "checkpoint path"},
    {"metrics", K_STR, OFF(metrics), 0, CLDQN_CONFIG_PATH_MAX, 0, 0, NULL, 0, SW_NO,
     "metrics JSON-lines path"},
    {"device", K_STR, OFF(device), 0, 256, 0, 0, NULL, 0, SW_NO,
     "OpenCL device: PLATFORM:N, exact name, index or unique name part (cldqn devices)"},
    {"backend", K_ENUM, OFF(backend), 0, 0, 0, 0, backend_names, 0, SW_NO, "opencl|ref"},
    {"kernels", K_ENUM, OFF(path), 0, 0, 0, 0, path_names, 0, SW_NO,
     "auto|fused|layered: one fused launch per update, or one kernel per operation"},
    {"quiet", K_BOOL, OFF(quiet), 0, 1, 0, 0, NULL, 0, SW_NO, "print only the final summary"},
    {"profile", K_STR, OFF(profile), 0, CLDQN_CONFIG_PATH_MAX, 0, 0, NULL, 0, SW_NO,
     "write a Chrome trace of the run's phases, kernels and transfers here"},
    {"profile-steps", K_I64, OFF(profile_steps), 0, BIG, 0, 0, NULL, 0, SW_NO,
     "env steps profiled, from learning-starts (0 = the whole run)"},
    {"population", K_INT, OFF(population), 0, 4096, 0, 0, NULL, 0, SW_NO,
     "train K agents together, one launch per step (0 = one agent)"},
    {"sweep", K_STR, OFF(sweep), 0, CLDQN_CONFIG_PATH_MAX, 0, 0, NULL, 0, SW_NO,
     "agents' settings: KEY=V1,V2 items separated by spaces"},
    {"sweep-file", K_STR, OFF(sweep_file), 0, CLDQN_CONFIG_PATH_MAX, 0, 0, NULL, 0, SW_NO,
     "file of sweep items, one KEY=V1,V2 a line"},
};
#define N_KEYS (sizeof keys / sizeof keys[0])

/* Keys marked 2 are stored in checkpoints only where they differ from these
 * values, which are also what a checkpoint without them means: the settings
 * that came after the first checkpoints, each off here. */
static void set_neutral(cldqn_config *c)
{
    c->envs = 1;
    c->grad_steps = 1;
    c->n_step = 1;
    c->learn.tau = 1.0f;
    c->lr_schedule = CLDQN_LR_CONSTANT;
    c->lr_end = 0.0f;
    c->lr_decay_steps = 0;
}

static const key_def *find_key(const char *name)
{
    char norm[64];
    size_t n = strlen(name);
    if (n >= sizeof norm) return NULL;
    for (size_t i = 0; i <= n; i++) norm[i] = name[i] == '_' ? '-' : name[i];
    for (size_t i = 0; i < N_KEYS; i++)
        if (!strcmp(keys[i].name, norm)) return &keys[i];
    return NULL;
}

int cldqn_config_key_kind(const char *key)
{
    const key_def *k = find_key(key);
    if (!k) return 0;
    return k->type == K_BOOL ? 2 : 1;
}

const char *cldqn_config_key_name(int i)
{
    return i >= 0 && (size_t)i < N_KEYS ? keys[i].name : NULL;
}

cldqn_sweep_rule cldqn_config_key_sweep(const char *key)
{
    const key_def *k = find_key(key);
    return k ? k->sweep : CLDQN_SWEEP_NO;
}

/* Derived from the table once: callers keep the pointers, threads may race. */
static const char *sweep_names[N_KEYS + 1];
static char sweep_text[N_KEYS * 24];
static pthread_once_t sweep_once = PTHREAD_ONCE_INIT;

static void sweep_init(void)
{
    size_t n = 0, len = 0;
    for (size_t i = 0; i < N_KEYS; i++) {
        if (keys[i].sweep == CLDQN_SWEEP_NO) continue;
        sweep_names[n++] = keys[i].name;
        len += (size_t)snprintf(sweep_text + len, sizeof sweep_text - len, "%s%s", len ? ", " : "",
                                keys[i].name);
    }
    sweep_names[n] = NULL;
}

const char *const *cldqn_config_sweep_keys(void)
{
    pthread_once(&sweep_once, sweep_init);
    return sweep_names;
}

const char *cldqn_config_sweep_keys_text(void)
{
    pthread_once(&sweep_once, sweep_init);
    return sweep_text;
}

static size_t type_size(const key_def *k)
{
    switch (k->type) {
    case K_INT:
    case K_BOOL:
    case K_ENUM:
        return sizeof(int);
    case K_I64:
        return sizeof(int64_t);
    case K_U64:
        return sizeof(uint64_t);
    case K_FLOAT:
        return sizeof(float);
    case K_DOUBLE:
        return sizeof(double);
    case K_STR:
        return (size_t)k->hi;
    }
    return 0;
}

cldqn_status cldqn_config_copy_key(cldqn_config *dst, const cldqn_config *src, const char *key)
{
    const key_def *k = find_key(key);
    if (!k) return cldqn_fail(CLDQN_ERR_ARG, "unknown setting '%s'", key);
    memcpy((char *)dst + k->off, (const char *)src + k->off, type_size(k));
    return CLDQN_OK;
}

cldqn_status cldqn_config_preset(cldqn_config *cfg, const char *name)
{
    cldqn_config c;
    memset(&c, 0, sizeof c);
    c.seed = 1;
    c.taxi = cldqn_taxi_default_config();
    c.shape = cldqn_net_default_shape();
    c.learn.beta1 = 0.9f;
    c.learn.beta2 = 0.999f;
    c.learn.huber_delta = 1.0f;
    c.backend = CLDQN_BACKEND_OPENCL;
    c.profile_steps = 2000;
    set_neutral(&c);
    c.train_every = 1;
    if (!strcmp(name, "seed")) {
        /* The article, setting for setting (see the task's seed description). */
        c.episodes = 100;
        c.episode_steps = 1000;
        c.init = CLDQN_INIT_KERAS;
        c.learn.gamma = 0.6f;
        c.learn.lr = 0.01f;
        c.learn.eps = 1e-7f;
        c.learn.adam = CLDQN_ADAM_KERAS;
        c.learn.loss = CLDQN_LOSS_MSE;
        c.learn.mode = CLDQN_UPDATE_PER_SAMPLE;
        c.batch = 32;
        c.replay = 2000;
        c.sample_replacement = 0;
        c.learning_starts = 32; /* retrain once len(memory) > batch_size */
        c.target_every = 0;     /* align only when an episode terminates */
        c.eps_start = c.eps_end = 0.1f;
        c.render_every = 10;
        c.summary = 1;
        c.eval_every = 0;
    } else if (!strcmp(name, "default") || !strcmp(name, "next")) {
        /* Modern DQN settings, measured over seeds 1-5 (docs/training.md):
         * lr 3e-3 and gamma 0.95 (rather than 1e-3 and 0.99) learned in half
         * the steps or less; a target sync every 250 steps (not 500) and an
         * update every 2 steps (not 4) stopped seeds 2 and 3 from sticking
         * at a greedy return of -44 for 100k+ steps. */
        c.steps = 300000;
        c.taxi.time_limit = 200;
        c.init = CLDQN_INIT_TORCH;
        c.learn.gamma = 0.95f;
        c.learn.lr = 3e-3f;
        c.learn.eps = 1e-8f;
        c.learn.adam = CLDQN_ADAM_TORCH;
        c.learn.loss = CLDQN_LOSS_MSE;
        c.learn.mode = CLDQN_UPDATE_MEAN;
        c.batch = 64;
        c.replay = 100000;
        c.sample_replacement = 1;
        c.learning_starts = 1000;
        c.train_every = 2;
        c.target_every = 250;
        c.eps_start = 1.0f;
        c.eps_end = 0.05f;
        c.eps_decay_steps = 50000;
        c.eval_every = 2000;
        if (!strcmp(name, "next")) {
            /* The candidate default (docs/training.md, "DQN's improvements"):
             * four updates per two env steps and epsilon down in 30,000
             * steps; over seeds 1-100 see the table there. */
            c.grad_steps = 4;
            c.eps_decay_steps = 30000;
        }
    } else {
        return cldqn_fail(CLDQN_ERR_ARG, "--preset: unknown preset '%s' (seed, default, next)",
                          name);
    }
    snprintf(c.preset, sizeof c.preset, "%s", name);
    *cfg = c;
    return CLDQN_OK;
}

static int parse_bool(const char *v, int *out)
{
    static const char *const t[] = {"", "1", "true", "yes", "on"};
    static const char *const f[] = {"0", "false", "no", "off"};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (!strcasecmp(v, t[i])) return *out = 1, 1;
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        if (!strcasecmp(v, f[i])) return *out = 0, 1;
    return 0;
}

static cldqn_status range_error(const char *origin, const char *value, const key_def *k)
{
    if (k->hi >= BIG) {
        if (strtod(value, NULL) > k->hi)
            return cldqn_fail(CLDQN_ERR_ARG, "%s: %s is too large (at most %g)", origin, value,
                              k->hi);
        return cldqn_fail(CLDQN_ERR_ARG, "%s: %s is not %s %g", origin, value,
                          k->lo_open ? ">" : ">=", k->lo);
    }
    return cldqn_fail(CLDQN_ERR_ARG, "%s: %s is not in %c%g, %g%c", origin, value,
                      k->lo_open ? '(' : '[', k->lo, k->hi, k->hi_open ? ')' : ']');
}

static int in_range(const key_def *k, double x)
{
    if (k->lo_open ? !(x > k->lo) : !(x >= k->lo)) return 0;
    if (k->hi_open ? !(x < k->hi) : !(x <= k->hi)) return 0;
    return 1;
}

cldqn_status cldqn_config_set(cldqn_config *cfg, const char *key, const char *value,
                              const char *origin)
{
    char org[128];
    const key_def *k = find_key(key);
    if (!origin) {
        snprintf(org, sizeof org, "--%s", k ? k->name : key);
        origin = org;
    }
    if (!k) return cldqn_fail(CLDQN_ERR_ARG, "%s: unknown setting", origin);
    if (!value) value = "";
    char *p = (char *)cfg + k->off;
    char *end = NULL;
    switch (k->type) {
    case K_BOOL: {
        int b;
        if (!parse_bool(value, &b))
            return cldqn_fail(CLDQN_ERR_ARG, "%s: '%s' is not a bool (true/false)", origin, value);
        *(int *)p = b;
        return CLDQN_OK;
    }
    case K_STR: {
        size_t cap = (size_t)k->hi;
        if (strlen(value) >= cap)
            return cldqn_fail(CLDQN_ERR_ARG, "%s: value longer than %zu characters", origin,
                              cap - 1);
        memcpy(p, value, strlen(value) + 1);
        return CLDQN_OK;
    }
    case K_ENUM:
        for (int i = 0; k->names[i]; i++)
            if (!strcasecmp(value, k->names[i])) {
                *(int *)p = i;
                return CLDQN_OK;
            }
        {
            char opts[128] = "";
            for (int i = 0; k->names[i]; i++) {
                if (i) strncat(opts, "|", sizeof opts - strlen(opts) - 1);
                strncat(opts, k->names[i], sizeof opts - strlen(opts) - 1);
            }
            return cldqn_fail(CLDQN_ERR_ARG, "%s: '%s' is not one of %s", origin, value, opts);
        }
    case K_INT:
    case K_I64:
    case K_U64: {
        errno = 0;
        if (!*value || isspace((unsigned char)*value))
            return cldqn_fail(CLDQN_ERR_ARG, "%s: '%s' is not an integer", origin, value);
        if (k->type == K_U64) {
            if (*value == '-') return range_error(origin, value, k);
            unsigned long long u = strtoull(value, &end, 10);
            if (*end || errno)
                return cldqn_fail(CLDQN_ERR_ARG, "%s: '%s' is not an integer", origin, value);
            *(uint64_t *)p = u;
            return CLDQN_OK;
        }
        long long v = strtoll(value, &end, 10);
        if (*end || errno)
            return cldqn_fail(CLDQN_ERR_ARG, "%s: '%s' is not an integer", origin, value);
        if (!in_range(k, (double)v)) return range_error(origin, value, k);
        if (k->type == K_INT)
            *(int *)p = (int)v;
        else
            *(int64_t *)p = v;
        return CLDQN_OK;
    }
    case K_FLOAT:
    case K_DOUBLE: {
        errno = 0;
        if (!*value || isspace((unsigned char)*value))
            return cldqn_fail(CLDQN_ERR_ARG, "%s: '%s' is not a number", origin, value);
        double v = strtod(value, &end);
        if (*end || errno || !isfinite(v))
            return cldqn_fail(CLDQN_ERR_ARG, "%s: '%s' is not a number", origin, value);
        if (!in_range(k, v)) return range_error(origin, value, k);
        /* What is stored is a float: 1e-87 would become 0 and fail the range
         * when the checkpoint's config is read back. */
        if (k->type == K_FLOAT && (!isfinite((float)v) || !in_range(k, (double)(float)v)))
            return cldqn_fail(CLDQN_ERR_ARG, "%s: %s is out of float range", origin, value);
        if (k->type == K_FLOAT)
            *(float *)p = (float)v;
        else
            *(double *)p = v;
        return CLDQN_OK;
    }
    }
    return cldqn_fail(CLDQN_ERR_ARG, "%s: bad key type", origin);
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s)) s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1])) s[--n] = 0;
    return s;
}

cldqn_status cldqn_config_load_file(cldqn_config *cfg, const char *path)
{
    /* A FIFO is refused, not waited on; a directory is no config. */
    FILE *f;
    cldqn_status ost = cldqn_open_regular("--config: ", path, &f, NULL);
    if (ost != CLDQN_OK) return ost;
    char line[2048];
    int lineno = 0, settings = 0;
    cldqn_status st = CLDQN_OK;
    while (st == CLDQN_OK && fgets(line, sizeof line, f)) {
        lineno++;
        /* A longer line would be split and its tail read as a line of its own. */
        if (!strchr(line, '\n') && !feof(f)) {
            st = cldqn_fail(CLDQN_ERR_ARG, "%s:%d: line longer than %zu bytes", path, lineno,
                            sizeof line - 2);
            break;
        }
        char *hash = strchr(line, '#');
        if (hash) *hash = 0;
        char *s = trim(line);
        if (!*s) continue;
        char *eq = strchr(s, '=');
        if (!eq) {
            st = cldqn_fail(CLDQN_ERR_ARG, "%s:%d: expected 'key = value'", path, lineno);
            break;
        }
        *eq = 0;
        char *key = trim(s), *val = trim(eq + 1);
        char org[CLDQN_CONFIG_PATH_MAX + 80];
        snprintf(org, sizeof org, "%s:%d: %s", path, lineno, key);
        /* preset: the settings the file's other lines change, so it comes first. */
        if (!strcmp(key, "preset")) {
            if (settings++) {
                st = cldqn_fail(CLDQN_ERR_ARG, "%s: must be the file's first setting", org);
                break;
            }
            if (strcmp(val, cfg->preset)) {
                cldqn_config base;
                st = cldqn_config_preset(&base, val);
                if (st == CLDQN_OK) {
                    snprintf(base.out, sizeof base.out, "%s", cfg->out);
                    *cfg = base;
                } else {
                    st = cldqn_fail(CLDQN_ERR_ARG,
                                    "%s: unknown preset '%s' (default, next or seed)", org, val);
                }
            }
            continue;
        }
        settings++;
        st = cldqn_config_set(cfg, key, val, org);
    }
    if (!st && ferror(f)) st = cldqn_fail(CLDQN_ERR_IO, "--config: reading '%s' failed", path);
    fclose(f);
    return st;
}

cldqn_status cldqn_config_check(const cldqn_config *c)
{
    if ((int64_t)c->batch > c->replay)
        return cldqn_fail(CLDQN_ERR_ARG, "--batch: %d is larger than --replay %lld", c->batch,
                          (long long)c->replay);
    if (c->eps_end > c->eps_start)
        return cldqn_fail(CLDQN_ERR_ARG, "--eps-end: %g is larger than --eps-start %g",
                          (double)c->eps_end, (double)c->eps_start);
    if (c->until_optimal && c->taxi.fickle_passenger)
        return cldqn_fail(CLDQN_ERR_ARG,
                          "--until-optimal: needs a Markov model of Taxi (no --fickle)");
    if (c->until_optimal && c->eval_every <= 0)
        return cldqn_fail(CLDQN_ERR_ARG, "--until-optimal: needs --eval-every > 0");
    if (c->envs > 1 && c->target_every == 0)
        return cldqn_fail(CLDQN_ERR_ARG,
                          "--envs: %d needs --target-every > 0 (the seed loop steps one env)",
                          c->envs);
    if (!c->steps && !c->episodes && !c->until_optimal)
        return cldqn_fail(CLDQN_ERR_ARG, "--steps: 0 with --episodes 0 would never stop");
    if (c->lr_schedule != CLDQN_LR_CONSTANT && c->lr_decay_steps <= 0)
        return cldqn_fail(CLDQN_ERR_ARG, "--lr-schedule: %s needs --lr-decay-steps > 0",
                          lr_names[c->lr_schedule]);
    if (c->lr_schedule != CLDQN_LR_CONSTANT && !(c->lr_end <= c->learn.lr))
        return cldqn_fail(CLDQN_ERR_ARG, "--lr-end: %g is larger than --lr %g", (double)c->lr_end,
                          (double)c->learn.lr);
    if (c->n_step > 1 && c->target_every == 0)
        return cldqn_fail(CLDQN_ERR_ARG, "--n-step: %d needs --target-every > 0 (the seed loop)",
                          c->n_step);
    if (c->learn.double_q && c->learn.mode == CLDQN_UPDATE_PER_SAMPLE)
        return cldqn_fail(CLDQN_ERR_ARG, "--double: needs --update mean");
    if (c->n_step > 1 && c->learn.mode == CLDQN_UPDATE_PER_SAMPLE)
        return cldqn_fail(CLDQN_ERR_ARG, "--n-step: %d needs --update mean", c->n_step);
    if (c->learn.tau < 1.0f && c->target_every == 0)
        return cldqn_fail(CLDQN_ERR_ARG,
                          "--tau: %g needs --target-every > 0 (the seed loop copies)",
                          (double)c->learn.tau);
    return cldqn_taxi_config_check(&c->taxi);
}

static size_t value_text(const cldqn_config *cfg, const key_def *k, char *buf, size_t size)
{
    const char *p = (const char *)cfg + k->off;
    switch (k->type) {
    case K_INT:
        return (size_t)snprintf(buf, size, "%d", *(const int *)p);
    case K_I64:
        return (size_t)snprintf(buf, size, "%lld", (long long)*(const int64_t *)p);
    case K_U64:
        return (size_t)snprintf(buf, size, "%llu", (unsigned long long)*(const uint64_t *)p);
    case K_FLOAT: {
        /* Shortest text that reads back to the same float. */
        float f = *(const float *)p;
        for (int prec = 6; prec < 9; prec++) {
            snprintf(buf, size, "%.*g", prec, (double)f);
            if (strtof(buf, NULL) == f) break;
        }
        return strlen(buf);
    }
    case K_DOUBLE: {
        double d = *(const double *)p;
        for (int prec = 15; prec < 17; prec++) {
            snprintf(buf, size, "%.*g", prec, d);
            if (strtod(buf, NULL) == d) break;
        }
        return strlen(buf);
    }
    case K_BOOL:
        return (size_t)snprintf(buf, size, "%s", *(const int *)p ? "true" : "false");
    case K_STR:
        return (size_t)snprintf(buf, size, "%s", p);
    case K_ENUM:
        return (size_t)snprintf(buf, size, "%s", k->names[*(const int *)p]);
    }
    return 0;
}

/* JSON numbers beyond this are inexact as doubles (what cJSON reads them
 * as): larger integers are written as strings, which read back exactly. */
#define MAX_EXACT 9007199254740991.0

/* The persisted settings as JSON text (malloc'd), NULL when out of memory. */
static char *config_json(const cldqn_config *cfg)
{
    cldqn_config neutral = *cfg;
    set_neutral(&neutral);
    cJSON *root = cJSON_CreateObject();
    int ok = root && cJSON_AddStringToObject(root, "preset", cfg->preset);
    char v[512];
    for (size_t i = 0; ok && i < N_KEYS; i++) {
        const key_def *k = &keys[i];
        if (!k->persist) continue;
        if (k->persist == 2 &&
            !memcmp((const char *)cfg + k->off, (const char *)&neutral + k->off, type_size(k)))
            continue;
        value_text(cfg, k, v, sizeof v);
        cJSON *item;
        const int integer = k->type == K_INT || k->type == K_I64 || k->type == K_U64;
        if (k->type == K_ENUM || k->type == K_STR || (integer && fabs(strtod(v, NULL)) > MAX_EXACT))
            item = cJSON_CreateString(v);
        else if (k->type == K_BOOL)
            item = cJSON_CreateBool(*(const int *)((const char *)cfg + k->off));
        else /* the shortest text that reads back, not cJSON's %1.17g of a double */
            item = cJSON_CreateRaw(v);
        ok = item && cJSON_AddItemToObject(root, k->name, item);
        if (item && !ok) cJSON_Delete(item);
    }
    /* cldqn's spacing, which checkpoints hold and users grep ("gamma": 0.9). */
    char *text = ok ? cldqn_json_print(root) : NULL;
    cJSON_Delete(root);
    return text;
}

size_t cldqn_config_to_json(const cldqn_config *cfg, char *buf, size_t size)
{
    char *json = config_json(cfg);
    size_t n = json ? strlen(json) : 0;
    if (size) snprintf(buf, size, "%s", json ? json : "");
    free(json);
    return n;
}

/* The digits of key's number in the flat object's text (keys are unique
 * there), into buf: NULL if they are not an integer's. */
static const char *raw_integer(const char *json, const char *key, char *buf, size_t size)
{
    const size_t n = strlen(key);
    for (const char *p = strchr(json, '"'); p; p = strchr(p + 1, '"')) {
        if (strncmp(p + 1, key, n) || p[n + 1] != '"') continue;
        const char *q = p + n + 2;
        while (isspace((unsigned char)*q)) q++;
        if (*q++ != ':') continue;
        while (isspace((unsigned char)*q)) q++;
        size_t len = *q == '-';
        while (isdigit((unsigned char)q[len])) len++;
        if (len == 0 || len >= size || strchr(".eE", q[len])) return NULL;
        memcpy(buf, q, len);
        buf[len] = 0;
        return buf;
    }
    return NULL;
}

/* A JSON value as the text cldqn_config_set reads; NULL (and an error) for
 * what no setting takes. json: the whole text, for integers past 2^53. */
static const char *json_value_text(const cJSON *v, const key_def *k, const char *json, char *buf,
                                   size_t size)
{
    if (cJSON_IsString(v)) return v->valuestring;
    if (cJSON_IsBool(v)) return cJSON_IsTrue(v) ? "true" : "false";
    if (!cJSON_IsNumber(v)) {
        cldqn_fail(CLDQN_ERR_FORMAT, "config JSON: %s: not a string, number or bool", v->string);
        return NULL;
    }
    const double d = v->valuedouble;
    const int integer = k && (k->type == K_INT || k->type == K_I64 || k->type == K_U64);
    if (integer && isfinite(d) && d == floor(d) && fabs(d) > MAX_EXACT) {
        /* Written as a number before settings went through cJSON: the
         * digits themselves are exact. */
        if (raw_integer(json, v->string, buf, size)) return buf;
        cldqn_fail(CLDQN_ERR_FORMAT,
                   "config JSON: %s: %.17g is past 2^53, where JSON numbers are inexact (write "
                   "it as a string)",
                   v->string, d);
        return NULL;
    }
    if (d == floor(d) && fabs(d) <= MAX_EXACT) {
        snprintf(buf, size, "%.0f", d);
        return buf;
    }
    /* The shortest text that reads back to d: what the message shows. */
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, size, "%.*g", prec, d);
        if (strtod(buf, NULL) == d) break;
    }
    return buf;
}

/* The JSON is a flat object of string, number and bool values, each key
 * once; anything else is a format error. */
cldqn_status cldqn_config_from_json(cldqn_config *cfg, const char *json)
{
    set_neutral(cfg); /* what the keys written only when not neutral mean when absent */
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithOpts(json, &end, 1);
    if (!root)
        return cldqn_fail(CLDQN_ERR_FORMAT, "config JSON: not valid JSON (at byte %zu)",
                          end && end >= json ? (size_t)(end - json) : (size_t)0);
    cldqn_status st = CLDQN_OK;
    if (!cJSON_IsObject(root)) st = cldqn_fail(CLDQN_ERR_FORMAT, "config JSON: not an object");
    for (const cJSON *e = root->child; !st && e; e = e->next) {
        const char *key = e->string;
        for (const cJSON *o = root->child; o != e; o = o->next)
            if (!strcmp(o->string, key)) {
                st = cldqn_fail(CLDQN_ERR_FORMAT, "config JSON: '%.64s' given twice", key);
                break;
            }
        if (st) break;
        const key_def *k = strcmp(key, "preset") ? find_key(key) : NULL;
        if (strcmp(key, "preset") && (!k || !k->persist)) {
            st = cldqn_fail(CLDQN_ERR_FORMAT, "config JSON: unknown setting '%.64s'", key);
            break;
        }
        char num[32];
        const char *val = json_value_text(e, k, json, num, sizeof num);
        if (!val) {
            st = CLDQN_ERR_FORMAT;
            break;
        }
        if (!k) {
            /* Only a known preset: its name is written back into checkpoints. */
            cldqn_config known;
            if (strlen(val) >= sizeof cfg->preset || cldqn_config_preset(&known, val) != CLDQN_OK)
                st = cldqn_fail(CLDQN_ERR_FORMAT, "config JSON: unknown preset '%.16s'", val);
            else
                memcpy(cfg->preset, val, strlen(val) + 1);
            continue;
        }
        char org[96];
        snprintf(org, sizeof org, "config JSON: %.64s", key);
        if (cldqn_config_set(cfg, key, val, org) != CLDQN_OK) {
            /* Copy first: the message buffer is also the output. */
            char msg[512];
            snprintf(msg, sizeof msg, "%s", cldqn_last_error());
            st = cldqn_fail(CLDQN_ERR_FORMAT, "%s", msg);
        }
    }
    cJSON_Delete(root);
    return st;
}

/* The "preset" of a config JSON into buf ("" when it has none). */
void cldqn_config_json_preset(const char *json, char *buf, size_t size)
{
    cJSON *root = cJSON_Parse(json);
    const char *p = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(root, "preset"));
    snprintf(buf, size, "%s", p ? p : "");
    cJSON_Delete(root);
}

cldqn_status cldqn_config_value(const cldqn_config *cfg, const char *key, char *buf, size_t size)
{
    const key_def *k = find_key(key);
    if (size) buf[0] = '\0';
    if (!k) return cldqn_fail(CLDQN_ERR_ARG, "unknown setting '%s'", key);
    value_text(cfg, k, buf, size);
    return CLDQN_OK;
}

void cldqn_config_print(const cldqn_config *cfg, FILE *f)
{
    char v[CLDQN_CONFIG_PATH_MAX + 8];
    fprintf(f, "%-16s = %-12s # %s\n", "preset", cfg->preset,
            "the settings below start from (default, next, seed)");
    for (size_t i = 0; i < N_KEYS; i++) {
        value_text(cfg, &keys[i], v, sizeof v);
        fprintf(f, "%-16s = %-12s # %s\n", keys[i].name, v, keys[i].help);
    }
}

float cldqn_config_lr(const cldqn_config *cfg, int64_t step)
{
    const float lr = cfg->learn.lr;
    if (cfg->lr_schedule == CLDQN_LR_CONSTANT) return lr;
    if (cfg->lr_decay_steps <= 0 || step >= cfg->lr_decay_steps) return cfg->lr_end;
    const double x = (double)step / (double)cfg->lr_decay_steps;
    const double f = cfg->lr_schedule == CLDQN_LR_LINEAR
                         ? 1.0 - x
                         : 0.5 * (1.0 + cos(3.14159265358979323846 * x));
    return (float)((double)cfg->lr_end + f * ((double)lr - (double)cfg->lr_end));
}

float cldqn_config_epsilon(const cldqn_config *cfg, int64_t step)
{
    if (cfg->eps_decay_steps <= 0 || step >= cfg->eps_decay_steps) return cfg->eps_end;
    double frac = (double)step / (double)cfg->eps_decay_steps;
    return (float)(cfg->eps_start + frac * (cfg->eps_end - cfg->eps_start));
}
