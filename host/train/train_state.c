/* train_state.c - PATH + PATH.state, the trainer's and the population's format.
 *
 * The state file holds the online weights again, target, Adam moments,
 * replay memory, RNG streams, the recent returns and (with more than one env)
 * every env's row as tensors, the counters and env 0's episode in progress as
 * metadata, a hash of its own data and of the weights in PATH (and of the
 * weights it replaces, so a crash between the two renames stays resumable). */
#define _GNU_SOURCE
#include "train_state.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cldqn/checkpoint.h"
#include "cldqn/taxi.h"
#include "cldqn/version.h"

#define N_META_NUM 20

/* Per-env row of the "envs" tensor (I64) that state files of runs with
 * envs > 1 carry; files without it hold one env in the env_* metadata. */
enum {
    EF_RNG_STATE, /* uint64 bits */
    EF_RNG_INC,
    EF_STATE,
    EF_FICKLE_STEP,
    EF_STEPS,
    EF_LAST_ACTION,
    EF_IN_EPISODE,
    EF_RETURN,
    EF_LENGTH,
    EF_LOSS_COUNT,
    EF_LOSS_SUM, /* double bits */
    EF_COUNT
};

static char *state_path(const char *path)
{
    size_t n = strlen(path);
    char *p = malloc(n + sizeof CLDQN_STATE_SUFFIX);
    if (p) {
        memcpy(p, path, n);
        memcpy(p + n, CLDQN_STATE_SUFFIX, sizeof CLDQN_STATE_SUFFIX);
    }
    return p;
}

/* CLDQN_ERR_NUMERIC naming the tensor and element of the first non-finite
 * value (what: "", "target ", "Adam m of "), as the trainer does. */
static cldqn_status check_finite(const cldqn_layout *lay, int64_t steps, const char *what,
                                 const float *x)
{
    for (size_t i = 0; i < lay->total; i++) {
        if (isfinite(x[i])) continue;
        for (int k = 0; k < lay->n_tensors; k++) {
            const cldqn_tensor *ts = &lay->t[k];
            size_t j = i - ts->offset;
            if (i < ts->offset || j >= cldqn_tensor_numel(ts)) continue;
            char at[48];
            if (ts->cols)
                snprintf(at, sizeof at, "[%zu, %zu]", j / (size_t)ts->cols, j % (size_t)ts->cols);
            else
                snprintf(at, sizeof at, "[%zu]", j);
            return cldqn_fail(CLDQN_ERR_NUMERIC,
                              "non-finite %s%s%s (%g) at step %" PRId64
                              ": not saved; the last checkpoint saved is kept",
                              what, ts->name, at, (double)x[i], steps);
        }
        return cldqn_fail(CLDQN_ERR_NUMERIC, "non-finite %sparameter %zu at step %" PRId64, what, i,
                          steps);
    }
    return CLDQN_OK;
}

cldqn_status cldqn_train_state_save(const char *path, const cldqn_config *cfg,
                                    const cldqn_layout *lay, const cldqn_train_state *s,
                                    const uint64_t *prev_hash, const char *const *extra,
                                    uint64_t *hash_out)
{
    if (s->n_envs < 1 || !s->envs)
        return cldqn_fail(CLDQN_ERR_ARG, "train_state_save: no env state for '%s'", path);
    const size_t total = lay->total;
    const int n_envs = s->n_envs;
    cldqn_status st;
    if ((st = check_finite(lay, s->steps, "", s->params)) ||
        (st = check_finite(lay, s->steps, "target ", s->target)) ||
        (st = check_finite(lay, s->steps, "Adam m of ", s->adam_m)) ||
        (st = check_finite(lay, s->steps, "Adam v of ", s->adam_v)) ||
        (s->best && (st = check_finite(lay, s->steps, "best ", s->best))))
        return st;
    /* PATH gets the best weights; the state keeps the online ones, and the
     * best ones too where they differ (for a save cut between renames). */
    const float *weights = s->best ? s->best : s->params;
    const int own_best = s->best && memcmp(s->best, s->params, total * sizeof(float));
    char *spath = state_path(path);
    int64_t *env_rows = malloc((size_t)n_envs * EF_COUNT * sizeof(int64_t)); /* (N, EF_COUNT) */
    if (!spath || !env_rows) {
        free(spath);
        free(env_rows);
        return cldqn_fail(CLDQN_ERR_NOMEM, "out of memory saving '%s'", path);
    }
    for (int i = 0; i < n_envs; i++) {
        const cldqn_train_env *ev = &s->envs[i];
        int64_t *row = env_rows + (size_t)i * EF_COUNT;
        memcpy(&row[EF_RNG_STATE], &ev->rng.state, 8);
        memcpy(&row[EF_RNG_INC], &ev->rng.inc, 8);
        row[EF_STATE] = ev->state;
        row[EF_FICKLE_STEP] = ev->fickle_step;
        row[EF_STEPS] = ev->steps;
        row[EF_LAST_ACTION] = ev->last_action;
        row[EF_IN_EPISODE] = ev->in_episode;
        row[EF_RETURN] = ev->ep_return;
        row[EF_LENGTH] = ev->ep_len;
        row[EF_LOSS_COUNT] = ev->loss_count;
        memcpy(&row[EF_LOSS_SUM], &ev->loss_sum, 8);
    }
    const cldqn_train_env *e0 = &s->envs[0];
    uint64_t rngs[3][2] = {{e0->rng.state, e0->rng.inc},
                           {s->explore.state, s->explore.inc},
                           {s->sample.state, s->sample.inc}};
    /* A zero-length replay tensor still needs a valid pointer. */
    static const cldqn_transition none;
    cldqn_st_entry e[] = {
        /* The online weights again: the state file alone is a complete
         * checkpoint, for when a crash lands between its rename and the
         * weights file's (see cldqn_train_state_load). */
        {"params", "F32", 1, {(int64_t)total}, s->params},
        {"target", "F32", 1, {(int64_t)total}, s->target},
        {"adam_m", "F32", 1, {(int64_t)total}, s->adam_m},
        {"adam_v", "F32", 1, {(int64_t)total}, s->adam_v},
        {"replay",
         "U8",
         2,
         {(int64_t)s->n_replay, (int64_t)sizeof(cldqn_transition)},
         s->n_replay ? (const void *)s->replay : (const void *)&none},
        {"rng", "U64", 2, {3, 2}, rngs},
        {"returns", "I32", 1, {CLDQN_RETURN_WINDOW}, s->returns},
        /* Every env (env 0 again), only with more than one: a one-env
         * state file keeps the layout it had before vectorised envs. */
        {"envs", "I64", 2, {n_envs, EF_COUNT}, env_rows},
        {"best", "F32", 1, {(int64_t)total}, s->best},
    };
    size_t bytes[] = {total * 4,
                      total * 4,
                      total * 4,
                      total * 4,
                      s->n_replay * sizeof(cldqn_transition),
                      sizeof rngs,
                      CLDQN_RETURN_WINDOW * 4,
                      (size_t)n_envs * EF_COUNT * 8,
                      total * 4};
    int ne = (int)(sizeof e / sizeof e[0]) - 2;
    if (n_envs > 1) ne++;
    if (own_best) {
        e[ne] = e[8];
        bytes[ne] = bytes[8];
        ne++;
    }
    uint64_t dh = CLDQN_FNV_OFFSET;
    for (int i = 0; i < ne; i++) dh = cldqn_fnv1a(dh, e[i].data, bytes[i]);
    char prev_hex[20] = "";
    if (prev_hash) snprintf(prev_hex, sizeof prev_hex, "%016" PRIx64, *prev_hash);
    const uint64_t ph = cldqn_fnv1a(CLDQN_FNV_OFFSET, weights, total * sizeof(float));
    char num[N_META_NUM][40], envs_txt[16];
    snprintf(envs_txt, sizeof envs_txt, "%d", n_envs);
    int k = 0;
#define NUM(fmt, val) (snprintf(num[k], sizeof num[k], fmt, val), num[k++])
    const char *meta[] = {"format",
                          "cldqn-state",
                          "version",
                          CLDQN_VERSION,
                          "params_hash",
                          NUM("%016" PRIx64, ph),
                          "data_hash",
                          NUM("%016" PRIx64, dh),
                          "adam_step",
                          NUM("%d", s->adam_step),
                          "steps",
                          NUM("%" PRId64, s->steps),
                          "episodes",
                          NUM("%" PRId64, s->episodes),
                          "updates",
                          NUM("%" PRId64, s->updates),
                          "target_syncs",
                          NUM("%" PRId64, s->target_syncs),
                          "elapsed",
                          NUM("%.17g", s->elapsed),
                          "in_episode",
                          NUM("%d", e0->in_episode),
                          "ep_return",
                          NUM("%d", e0->ep_return),
                          "ep_len",
                          NUM("%d", e0->ep_len),
                          "env_state",
                          NUM("%d", e0->state),
                          "env_fickle_step",
                          NUM("%d", e0->fickle_step),
                          "env_steps",
                          NUM("%d", e0->steps),
                          "env_last_action",
                          NUM("%d", e0->last_action),
                          "replay_pushed",
                          NUM("%" PRIu64, s->replay_pushed),
                          "loss_sum",
                          NUM("%.17g", e0->loss_sum),
                          "loss_count",
                          NUM("%" PRId64, e0->loss_count),
                          "prev_params_hash",
                          prev_hex,
                          NULL, /* the optional pairs below */
                          NULL,
                          NULL,
                          NULL,
                          NULL,
                          NULL,
                          NULL};
    char best_steps[32], best_return[40];
    snprintf(best_steps, sizeof best_steps, "%" PRId64, s->best_steps);
    snprintf(best_return, sizeof best_return, "%.17g", s->best_return);
    int m = (int)(sizeof meta / sizeof meta[0]) - 7;
    if (n_envs > 1) {
        meta[m++] = "envs";
        meta[m++] = envs_txt;
    }
    if (s->best) {
        meta[m++] = "best_steps";
        meta[m++] = best_steps;
        meta[m++] = "best_return";
        meta[m++] = best_return;
    }
#undef NUM
    /* State first: a crash between the two renames leaves the new state
     * (which holds the new weights too) beside the old weights file; load
     * detects the pair by params_hash and takes the state's own weights. */
    st = cldqn_st_write(spath, e, ne, meta);
    free(spath);
    free(env_rows);
    if (st) return st;
    char steps_txt[32];
    snprintf(steps_txt, sizeof steps_txt, "%" PRId64, s->steps);
    const char *ex[16] = {"steps", steps_txt};
    int n = 2;
    if (s->best) {
        ex[n++] = "best_steps";
        ex[n++] = best_steps;
        ex[n++] = "best_return";
        ex[n++] = best_return;
    }
    for (int i = 0; extra && extra[i] && extra[i + 1] && n + 2 < 16; i += 2) {
        ex[n++] = extra[i];
        ex[n++] = extra[i + 1];
    }
    ex[n] = NULL;
    st = cldqn_checkpoint_save(path, cfg, lay, weights, ex);
    if (!st && hash_out) *hash_out = ph;
    return st;
}

static cldqn_status meta_i64(const cldqn_st_file *f, const char *path, const char *key, int64_t lo,
                             int64_t hi, int64_t *out)
{
    const char *s = cldqn_st_meta(f, key);
    char *end;
    if (!s || !*s) return cldqn_fail(CLDQN_ERR_FORMAT, "'%s': missing '%s'", path, key);
    long long v = strtoll(s, &end, 10);
    if (*end || v < lo || v > hi)
        return cldqn_fail(CLDQN_ERR_FORMAT, "'%s': bad '%s' = '%s'", path, key, s);
    *out = v;
    return CLDQN_OK;
}

static cldqn_status meta_f64(const cldqn_st_file *f, const char *path, const char *key, double *out)
{
    const char *s = cldqn_st_meta(f, key);
    char *end;
    if (!s || !*s) return cldqn_fail(CLDQN_ERR_FORMAT, "'%s': missing '%s'", path, key);
    *out = strtod(s, &end);
    if (*end || !isfinite(*out))
        return cldqn_fail(CLDQN_ERR_FORMAT, "'%s': bad '%s' = '%s'", path, key, s);
    return CLDQN_OK;
}

void cldqn_train_state_free(cldqn_train_state *s)
{
    if (!s) return;
    cldqn_st_free(s->own_file);
    free(s->own_params);
    free(s->own_envs);
    s->own_file = NULL;
    s->own_params = NULL;
    s->own_envs = NULL;
}

/* Every env's row of the "envs" tensor into envs (n), checked as the env_*
 * metadata are. */
static cldqn_status read_envs(const cldqn_st_file *f, const char *spath, int n,
                              cldqn_train_env *envs)
{
    const void *data;
    int64_t shape[2] = {n, EF_COUNT};
    cldqn_status st = cldqn_st_get(f, "envs", "I64", 2, shape, &data, NULL);
    if (st) return st;
    for (int i = 0; i < n; i++) {
        int64_t row[EF_COUNT];
        memcpy(row, (const char *)data + (size_t)i * sizeof row, sizeof row);
        cldqn_train_env *e = &envs[i];
        double loss_sum;
        memcpy(&loss_sum, &row[EF_LOSS_SUM], 8);
        if (row[EF_STATE] < -1 || row[EF_STATE] >= CLDQN_TAXI_STATES ||
            row[EF_FICKLE_STEP] < INT32_MIN || row[EF_FICKLE_STEP] > INT32_MAX ||
            row[EF_STEPS] < 0 || row[EF_STEPS] > INT32_MAX || row[EF_LAST_ACTION] < -1 ||
            row[EF_LAST_ACTION] >= CLDQN_TAXI_ACTIONS || row[EF_IN_EPISODE] < 0 ||
            row[EF_IN_EPISODE] > 1 || row[EF_RETURN] < INT32_MIN || row[EF_RETURN] > INT32_MAX ||
            row[EF_LENGTH] < 0 || row[EF_LENGTH] > INT32_MAX || row[EF_LOSS_COUNT] < 0 ||
            !isfinite(loss_sum) || (row[EF_IN_EPISODE] && row[EF_STATE] < 0))
            return cldqn_fail(CLDQN_ERR_FORMAT, "'%s': bad state of env %d", spath, i);
        memcpy(&e->rng.state, &row[EF_RNG_STATE], 8);
        memcpy(&e->rng.inc, &row[EF_RNG_INC], 8);
        e->state = (int)row[EF_STATE];
        e->fickle_step = (int)row[EF_FICKLE_STEP];
        e->steps = (int)row[EF_STEPS];
        e->last_action = (int)row[EF_LAST_ACTION];
        e->in_episode = (int)row[EF_IN_EPISODE];
        e->ep_return = (int)row[EF_RETURN];
        e->ep_len = (int)row[EF_LENGTH];
        e->loss_count = row[EF_LOSS_COUNT];
        e->loss_sum = loss_sum;
    }
    return CLDQN_OK;
}

cldqn_status cldqn_train_state_load(const char *path, const cldqn_config *cfg, cldqn_config *stored,
                                    cldqn_layout *lay, cldqn_train_state *s, uint64_t *file_hash)
{
    memset(s, 0, sizeof *s);
    float *params = NULL;
    cldqn_st_file *f = NULL;
    cldqn_train_env *envs = NULL;
    char *spath = state_path(path);
    if (!spath) return cldqn_fail(CLDQN_ERR_NOMEM, "out of memory");
    cldqn_status st = cldqn_checkpoint_load(path, stored, lay, &params);
    if (st) goto fail;
    if (stored->shape.embed != cfg->shape.embed || stored->shape.hidden != cfg->shape.hidden ||
        stored->shape.layers != cfg->shape.layers) {
        st = cldqn_fail(CLDQN_ERR_FORMAT,
                        "'%s': network shape embed %d hidden %d layers %d does not match the "
                        "configuration (%d, %d, %d)",
                        path, stored->shape.embed, stored->shape.hidden, stored->shape.layers,
                        cfg->shape.embed, cfg->shape.hidden, cfg->shape.layers);
        goto fail;
    }
    st = cldqn_st_read(spath, &f);
    if (st) goto fail;
    const char *fmt = cldqn_st_meta(f, "format"), *dh = cldqn_st_meta(f, "data_hash"),
               *ph = cldqn_st_meta(f, "params_hash");
    char hex[20];
    if (!fmt || strcmp(fmt, "cldqn-state") || !dh || !ph) {
        st = cldqn_fail(CLDQN_ERR_FORMAT, "'%s': not a cldqn training state", spath);
        goto fail;
    }
    snprintf(hex, sizeof hex, "%016" PRIx64, cldqn_st_data_hash(f));
    if (strcmp(hex, dh)) {
        st = cldqn_fail(CLDQN_ERR_FORMAT, "'%s': checksum mismatch (corrupt state)", spath);
        goto fail;
    }
    /* The online weights are the state's; PATH holds the best ones (the
     * same, unless the state has "best_steps" and a "best" tensor). */
    const void *online, *best = NULL;
    int64_t pshape[1] = {(int64_t)lay->total};
    if ((st = cldqn_st_get(f, "params", "F32", 1, pshape, &online, NULL))) goto fail;
    if (cldqn_st_get(f, "best", "F32", 1, pshape, &best, NULL) != CLDQN_OK) best = NULL;
    cldqn_clear_error();
    const uint64_t fh = cldqn_fnv1a(CLDQN_FNV_OFFSET, params, lay->total * sizeof(float));
    snprintf(hex, sizeof hex, "%016" PRIx64, fh);
    if (strcmp(hex, ph)) {
        /* A save interrupted between the two renames (see the trainer): the
         * state holds what PATH should. */
        const char *prev = cldqn_st_meta(f, "prev_params_hash");
        const void *own = best ? best : online;
        char own_hex[20];
        snprintf(own_hex, sizeof own_hex, "%016" PRIx64,
                 cldqn_fnv1a(CLDQN_FNV_OFFSET, own, lay->total * sizeof(float)));
        if (!prev || strcmp(prev, hex) || strcmp(own_hex, ph)) {
            st = cldqn_fail(CLDQN_ERR_FORMAT, "'%s' does not belong to the weights in '%s'", spath,
                            path);
            goto fail;
        }
        memcpy(params, own, lay->total * sizeof(float));
    }
    if (cldqn_st_meta(f, "best_steps")) {
        if ((st = meta_i64(f, spath, "best_steps", 0, INT64_MAX / 2, &s->best_steps)) ||
            (st = meta_f64(f, spath, "best_return", &s->best_return)))
            goto fail;
        s->best = params;
    }
    int64_t n_envs = 1;
    if (cldqn_st_meta(f, "envs") && (st = meta_i64(f, spath, "envs", 2, 4096, &n_envs))) goto fail;
    if (n_envs != cfg->envs) {
        st = cldqn_fail(CLDQN_ERR_FORMAT,
                        "'%s': saved with --envs %d, cannot continue with --envs %d", spath,
                        (int)n_envs, cfg->envs);
        goto fail;
    }
    const int64_t total = (int64_t)lay->total;
    const void *target, *m, *v, *rng, *items, *returns;
    size_t rb_bytes;
    int64_t shp[1] = {total}, rshape[2] = {3, 2}, wshape[1] = {CLDQN_RETURN_WINDOW};
    if ((st = cldqn_st_get(f, "target", "F32", 1, shp, &target, NULL)) ||
        (st = cldqn_st_get(f, "adam_m", "F32", 1, shp, &m, NULL)) ||
        (st = cldqn_st_get(f, "adam_v", "F32", 1, shp, &v, NULL)) ||
        (st = cldqn_st_get(f, "rng", "U64", 2, rshape, &rng, NULL)) ||
        (st = cldqn_st_get(f, "returns", "I32", 1, wshape, &returns, NULL)) ||
        (st = cldqn_st_get(f, "replay", "U8", 0, NULL, &items, &rb_bytes)))
        goto fail;
    if (rb_bytes % sizeof(cldqn_transition) ||
        rb_bytes / sizeof(cldqn_transition) > (size_t)cfg->replay) {
        st = cldqn_fail(CLDQN_ERR_FORMAT, "'%s': replay memory does not fit --replay %lld", spath,
                        (long long)cfg->replay);
        goto fail;
    }
    int64_t adam_step, pushed, in_ep, ep_ret, ep_len, es, efs, esteps, ela, lcount;
    double loss_sum;
    const int64_t BIGI = INT64_MAX / 2;
    if ((st = meta_i64(f, spath, "adam_step", 0, INT32_MAX, &adam_step)) ||
        (st = meta_i64(f, spath, "steps", 0, BIGI, &s->steps)) ||
        (st = meta_i64(f, spath, "episodes", 0, BIGI, &s->episodes)) ||
        (st = meta_i64(f, spath, "updates", 0, BIGI, &s->updates)) ||
        (st = meta_i64(f, spath, "target_syncs", 0, BIGI, &s->target_syncs)) ||
        (st = meta_i64(f, spath, "in_episode", 0, 1, &in_ep)) ||
        (st = meta_i64(f, spath, "ep_return", INT32_MIN, INT32_MAX, &ep_ret)) ||
        (st = meta_i64(f, spath, "ep_len", 0, INT32_MAX, &ep_len)) ||
        (st = meta_i64(f, spath, "env_state", -1, CLDQN_TAXI_STATES - 1, &es)) ||
        (st = meta_i64(f, spath, "env_fickle_step", INT32_MIN, INT32_MAX, &efs)) ||
        (st = meta_i64(f, spath, "env_steps", 0, INT32_MAX, &esteps)) ||
        (st = meta_i64(f, spath, "env_last_action", -1, CLDQN_TAXI_ACTIONS - 1, &ela)) ||
        (st = meta_i64(f, spath, "replay_pushed", 0, BIGI, &pushed)) ||
        (st = meta_i64(f, spath, "loss_count", 0, BIGI, &lcount)) ||
        (st = meta_f64(f, spath, "loss_sum", &loss_sum)) ||
        (st = meta_f64(f, spath, "elapsed", &s->elapsed)))
        goto fail;
    if (!(envs = calloc((size_t)n_envs, sizeof *envs))) {
        st = cldqn_fail(CLDQN_ERR_NOMEM, "out of memory");
        goto fail;
    }
    const uint64_t *r = rng;
    envs[0] = (cldqn_train_env){
        .rng = {r[0], r[1]},
        .state = (int)es,
        .fickle_step = (int)efs,
        .steps = (int)esteps,
        .last_action = (int)ela,
        .in_episode = (int)in_ep,
        .ep_return = (int)ep_ret,
        .ep_len = (int)ep_len,
        .loss_sum = loss_sum,
        .loss_count = lcount,
    };
    /* With more than one env the tensor holds them all, env 0 included. */
    if (n_envs > 1 && (st = read_envs(f, spath, (int)n_envs, envs))) goto fail;
    s->params = online;
    s->target = target;
    s->adam_m = m;
    s->adam_v = v;
    s->replay = items;
    s->n_replay = rb_bytes / sizeof(cldqn_transition);
    s->replay_pushed = (uint64_t)pushed;
    s->explore.state = r[2];
    s->explore.inc = r[3];
    s->sample.state = r[4];
    s->sample.inc = r[5];
    memcpy(s->returns, returns, sizeof s->returns);
    s->adam_step = (int)adam_step;
    s->n_envs = (int)n_envs;
    s->envs = envs;
    s->own_file = f;
    s->own_params = params;
    s->own_envs = envs;
    if (file_hash) *file_hash = fh;
    free(spath);
    return CLDQN_OK;
fail:
    cldqn_st_free(f);
    free(params);
    free(envs);
    free(spath);
    memset(s, 0, sizeof *s);
    return st;
}
