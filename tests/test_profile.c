/* test_profile.c - profiling of the Q-network (cldqn_qnet_set_trace,
 * host/cl/clprof.c) and the trace's own failure handling and atomic writes.
 *
 * A profiled qnet must compute exactly what an unprofiled one does (all five
 * buffers, losses and actions bit-identical), and its trace must hold one
 * host span per call and one device span per command it enqueued, named as
 * documented: on the fused path write:fused_in, fused_update (or fused_update_tt), read:fused_out
 * per update_act; on the layered path each kernel launch by name. Without a
 * profiling queue only host spans appear; on REF, host spans only. Device
 * spans of one call must lie within the host span of that call, up to the
 * clock mapping's error (see host/cl/clprof.h). */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cldqn/net.h"
#include "cldqn/qnet.h"
#include "cldqn/rng.h"
#include "cldqn/trace.h"
#include "harness.h"

#define UPDATES 6
#define BATCH   16

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) {
        free(s);
        s = NULL;
    }
    if (s) s[n] = 0;
    fclose(f);
    return s;
}

/* Events named exactly name in category cat. */
static int count(const char *text, const char *name, const char *cat)
{
    char key[160];
    snprintf(key, sizeof key, "{\"name\":\"%s\",\"cat\":\"%s\",", name, cat);
    int n = 0;
    for (const char *p = strstr(text, key); p; p = strstr(p + 1, key)) n++;
    return n;
}

/* Writes the trace to a temporary file and returns its text. */
static char *trace_text(cldqn_trace *t)
{
    char path[] = "/tmp/cldqn-prof-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) return NULL;
    close(fd);
    char *s = cldqn_trace_write(t, path) == CLDQN_OK ? slurp(path) : NULL;
    unlink(path);
    return s;
}

typedef struct {
    int32_t s[UPDATES][BATCH], a[UPDATES][BATCH], s2[UPDATES][BATCH];
    float r[UPDATES][BATCH], d[UPDATES][BATCH];
} batches;

static void make_batches(batches *b, const cldqn_net_shape *sh)
{
    cldqn_rng rng;
    cldqn_rng_seed(&rng, 11, 3);
    for (int u = 0; u < UPDATES; u++)
        for (int i = 0; i < BATCH; i++) {
            b->s[u][i] = (int32_t)cldqn_rng_below(&rng, (uint32_t)sh->n_states);
            b->a[u][i] = (int32_t)cldqn_rng_below(&rng, (uint32_t)sh->n_actions);
            b->s2[u][i] = (int32_t)cldqn_rng_below(&rng, (uint32_t)sh->n_states);
            b->r[u][i] = cldqn_rng_below(&rng, 10) ? -1.0f : 20.0f;
            b->d[u][i] = b->r[u][i] > 0 ? 1.0f : 0.0f;
        }
}

typedef struct {
    float *buf[5];
    float loss[UPDATES];
    int32_t act[UPDATES], greedy[4];
} outcome;

static void outcome_free(outcome *o)
{
    for (int i = 0; i < 5; i++) free(o->buf[i]);
}

/* The same calls on a fresh network, with or without a trace: UPDATES
 * update_acts with a target sync after the third, a greedy query of 4
 * states, then all five buffers read back. */
static cldqn_status run(cldqn_backend backend, cldqn_update_path path, int profile, cldqn_trace *tr,
                        outcome *o)
{
    cldqn_net_shape sh = cldqn_net_default_shape();
    cldqn_layout lay;
    cldqn_status st = cldqn_layout_init(&sh, &lay);
    if (st) return st;
    float *params = malloc(lay.total * sizeof(float));
    cldqn_rng rng;
    cldqn_rng_seed(&rng, 5, 0);
    cldqn_params_init(&lay, CLDQN_INIT_TORCH, &rng, params);
    cldqn_learn_config lc = {0};
    lc.lr = 3e-3f;
    lc.gamma = 0.95f;
    lc.beta1 = 0.9f;
    lc.beta2 = 0.999f;
    lc.eps = 1e-8f;
    lc.huber_delta = 1.0f;
    cldqn_qnet_options opt = cldqn_qnet_default_options();
    opt.backend = backend;
    opt.path = path;
    opt.profile = profile;
    opt.max_batch = BATCH;
    opt.max_states = 4;
    cldqn_qnet *net = NULL;
    st = cldqn_qnet_create(&lay, &lc, &opt, params, &net);
    free(params);
    if (st) return st;
    if (tr) st = cldqn_qnet_set_trace(net, tr);
    batches *b = malloc(sizeof *b);
    make_batches(b, &sh);
    for (int u = 0; !st && u < UPDATES; u++) {
        cldqn_batch mb = {BATCH, b->s[u], b->a[u], b->r[u], b->s2[u], b->d[u], NULL};
        st = cldqn_qnet_update_act(net, &mb, b->s2[u][0], &o->loss[u], &o->act[u]);
        if (!st && u == 2) st = cldqn_qnet_sync_target(net);
    }
    int32_t q[4] = {0, 17, 250, 499};
    if (!st) st = cldqn_qnet_greedy(net, q, 4, o->greedy);
    for (int i = 0; i < 5; i++) {
        o->buf[i] = malloc(lay.total * sizeof(float));
        if (!st) st = cldqn_qnet_read(net, (cldqn_qnet_buffer)i, o->buf[i]);
    }
    free(b);
    cldqn_qnet_free(net);
    return st;
}

static void assert_same(const outcome *a, const outcome *b)
{
    size_t total = 0;
    cldqn_net_shape sh = cldqn_net_default_shape();
    cldqn_layout lay;
    cldqn_layout_init(&sh, &lay);
    total = lay.total;
    for (int i = 0; i < 5; i++) CU_ASSERT(memcmp(a->buf[i], b->buf[i], total * sizeof(float)) == 0);
    CU_ASSERT(memcmp(a->loss, b->loss, sizeof a->loss) == 0);
    CU_ASSERT(memcmp(a->act, b->act, sizeof a->act) == 0);
    CU_ASSERT(memcmp(a->greedy, b->greedy, sizeof a->greedy) == 0);
}

/* Each device event must lie inside the host span of the qnet call that
 * enqueued it. The span ends where the mapping anchors the last END (when
 * clFinish returned), so a device END past it is off by rounding only
 * (END_US); a START before the call began would mean the device clock
 * stretched the durations. Measured over whole training runs on PoCL (basic
 * and pthread devices): no START before its call; START_US allows 50 us. */
#define END_US   0.01
#define START_US 50.0
static void assert_device_within_calls(const char *text)
{
    double hs[64], he[64];
    int nh = 0, nd = 0, outside = 0;
    for (const char *p = strstr(text, "\"cat\":\"qnet\""); p && nh < 64;
         p = strstr(p + 1, "\"cat\":\"qnet\"")) {
        double ts, dur;
        if (sscanf(strstr(p, "\"ts\":"), "\"ts\":%lf,\"dur\":%lf", &ts, &dur) == 2) {
            hs[nh] = ts;
            he[nh++] = ts + dur;
        }
    }
    for (const char *p = strstr(text, "\"tid\":2}"); p; p = strstr(p + 1, "\"tid\":2}")) {
        const char *line = p;
        while (line > text && line[-1] != '\n') line--;
        double ts, dur;
        if (sscanf(strstr(line, "\"ts\":"), "\"ts\":%lf,\"dur\":%lf", &ts, &dur) != 2) continue;
        nd++;
        CU_ASSERT(dur >= 0);
        int in = 0;
        for (int i = 0; i < nh; i++)
            if (ts >= hs[i] - START_US && ts + dur <= he[i] + END_US) in = 1;
        if (!in) printf("\n    device event at %.3f + %.3f us outside every qnet call ", ts, dur);
        outside += !in;
    }
    CU_ASSERT(nd > 0);
    CU_ASSERT_EQUAL(outside, 0);
}

static void test_fused_profiled(void)
{
    outcome plain = {0}, prof = {0};
    cldqn_trace *tr;
    CU_ASSERT_EQUAL_FATAL(cldqn_trace_create(&tr), CLDQN_OK);
    CU_ASSERT_EQUAL_FATAL(run(CLDQN_BACKEND_OPENCL, CLDQN_PATH_FUSED, 0, NULL, &plain), CLDQN_OK);
    CU_ASSERT_EQUAL_FATAL(run(CLDQN_BACKEND_OPENCL, CLDQN_PATH_FUSED, 1, tr, &prof), CLDQN_OK);
    assert_same(&plain, &prof);
    char *s = trace_text(tr);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    CU_ASSERT_EQUAL(count(s, "qnet update_act", "qnet"), UPDATES);
    CU_ASSERT_EQUAL(count(s, "qnet sync_target", "qnet"), 1);
    CU_ASSERT_EQUAL(count(s, "qnet greedy", "qnet"), 1);
    CU_ASSERT_EQUAL(count(s, "qnet read", "qnet"), 5);
    CU_ASSERT_EQUAL(count(s, "write:fused_in", "transfer"), UPDATES);
    /* fused_update, or fused_update_tt where fused.c uses its max-Q table */
    CU_ASSERT_EQUAL(count(s, "fused_update", "kernel") + count(s, "fused_update_tt", "kernel"),
                    UPDATES);
    CU_ASSERT_EQUAL(count(s, "read:fused_out", "transfer"), UPDATES);
    CU_ASSERT_EQUAL(count(s, "copy:target", "transfer"), 1);
    CU_ASSERT_EQUAL(count(s, "write:states", "transfer"), 1);
    CU_ASSERT_EQUAL(count(s, "q_act", "kernel"), 1);
    CU_ASSERT_EQUAL(count(s, "read:actions", "transfer"), 1);
    const char *rd[5] = {"read:params", "read:target", "read:grad", "read:adam_m", "read:adam_v"};
    for (int i = 0; i < 5; i++) CU_ASSERT_EQUAL(count(s, rd[i], "transfer"), 1);
    assert_device_within_calls(s);
    free(s);
    cldqn_trace_free(tr);
    outcome_free(&plain);
    outcome_free(&prof);
}

static void test_layered_profiled(void)
{
    outcome plain = {0}, prof = {0};
    cldqn_trace *tr;
    CU_ASSERT_EQUAL_FATAL(cldqn_trace_create(&tr), CLDQN_OK);
    CU_ASSERT_EQUAL_FATAL(run(CLDQN_BACKEND_OPENCL, CLDQN_PATH_LAYERED, 0, NULL, &plain), CLDQN_OK);
    CU_ASSERT_EQUAL_FATAL(run(CLDQN_BACKEND_OPENCL, CLDQN_PATH_LAYERED, 1, tr, &prof), CLDQN_OK);
    assert_same(&plain, &prof);
    char *s = trace_text(tr);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    /* Per update (2 hidden layers, mean mode): target and online forward
     * (embed_forward + 3 dense_forward each), td_target, td_loss, 3
     * dense_backward, embed_backward, adam; then the greedy action of the
     * next state (write:states, q_act, read:actions); the batch upload and
     * the loss read. */
    CU_ASSERT_EQUAL(count(s, "embed_forward", "kernel"), 2 * UPDATES);
    CU_ASSERT_EQUAL(count(s, "dense_forward", "kernel"), 6 * UPDATES);
    CU_ASSERT_EQUAL(count(s, "td_target", "kernel"), UPDATES);
    CU_ASSERT_EQUAL(count(s, "td_loss", "kernel"), UPDATES);
    CU_ASSERT_EQUAL(count(s, "dense_backward", "kernel"), 3 * UPDATES);
    CU_ASSERT_EQUAL(count(s, "embed_backward", "kernel"), UPDATES);
    CU_ASSERT_EQUAL(count(s, "adam", "kernel"), UPDATES);
    CU_ASSERT_EQUAL(count(s, "q_act", "kernel"), UPDATES + 1);
    CU_ASSERT_EQUAL(count(s, "write:batch", "transfer"), UPDATES);
    CU_ASSERT_EQUAL(count(s, "read:loss", "transfer"), UPDATES);
    CU_ASSERT_EQUAL(count(s, "qnet update_act", "qnet"), UPDATES);
    CU_ASSERT_EQUAL(count(s, "fused_update", "kernel"), 0);
    assert_device_within_calls(s);
    free(s);
    cldqn_trace_free(tr);
    outcome_free(&plain);
    outcome_free(&prof);
}

/* A trace on a queue without profiling, and on REF: host spans only. */
static void test_host_spans_only(void)
{
    cldqn_backend backends[2] = {CLDQN_BACKEND_OPENCL, CLDQN_BACKEND_REF};
    for (int k = 0; k < 2; k++) {
        outcome o = {0};
        cldqn_trace *tr;
        CU_ASSERT_EQUAL_FATAL(cldqn_trace_create(&tr), CLDQN_OK);
        CU_ASSERT_EQUAL_FATAL(run(backends[k], CLDQN_PATH_AUTO, 0, tr, &o), CLDQN_OK);
        char *s = trace_text(tr);
        CU_ASSERT_PTR_NOT_NULL_FATAL(s);
        CU_ASSERT_EQUAL(count(s, "qnet update_act", "qnet"), UPDATES);
        CU_ASSERT_PTR_NULL(strstr(s, "\"tid\":2}"));
        /* 6 update_act + sync + greedy + 5 reads */
        CU_ASSERT_EQUAL(cldqn_trace_count(tr), UPDATES + 7);
        free(s);
        cldqn_trace_free(tr);
        outcome_free(&o);
    }
    CU_ASSERT_EQUAL(cldqn_qnet_set_trace(NULL, NULL), CLDQN_ERR_ARG);
}

/* cldqn_trace_span keeps its first failure; cldqn_trace_write reports it and
 * writes nothing. */
static void test_span_failure(void)
{
    cldqn_trace *t;
    CU_ASSERT_EQUAL_FATAL(cldqn_trace_create(&t), CLDQN_OK);
    double now = cldqn_trace_now();
    cldqn_trace_span(t, "ok", "phase", now, now + 1e-6, CLDQN_TRACE_TID_HOST);
    CU_ASSERT_EQUAL(cldqn_trace_count(t), 1);
    cldqn_trace_span(t, "backwards", "phase", now, now - 1e-3, CLDQN_TRACE_TID_HOST);
    cldqn_trace_span(t, "later", "phase", now, now + 1e-6, CLDQN_TRACE_TID_HOST);
    CU_ASSERT_EQUAL(cldqn_trace_count(t), 1); /* nothing recorded after a failure */
    char path[] = "/tmp/cldqn-prof-XXXXXX";
    int fd = mkstemp(path);
    CU_ASSERT_FATAL(fd >= 0);
    CU_ASSERT_EQUAL(write(fd, "old", 3), 3);
    close(fd);
    CU_ASSERT_EQUAL(cldqn_trace_write(t, path), CLDQN_ERR_ARG);
    CU_ASSERT_PTR_NOT_NULL(strstr(cldqn_last_error(), "negative duration"));
    CU_ASSERT_PTR_NOT_NULL(strstr(cldqn_last_error(), path));
    char *s = slurp(path);
    CU_ASSERT_STRING_EQUAL(s ? s : "", "old");
    free(s);
    unlink(path);
    cldqn_trace_span(NULL, "x", "phase", now, now, 1); /* no trace: nothing */
    cldqn_trace_free(t);
}

/* The write replaces the file through a rename: no temporary file remains,
 * and a failed write keeps the previous file (here: the directory is made
 * read-only, so the temporary file cannot be created). */
static void test_atomic_write(void)
{
    char dir[] = "/tmp/cldqn-profdir-XXXXXX";
    CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
    char path[64];
    snprintf(path, sizeof path, "%s/t.json", dir);
    cldqn_trace *t;
    CU_ASSERT_EQUAL_FATAL(cldqn_trace_create(&t), CLDQN_OK);
    CU_ASSERT_EQUAL(cldqn_trace_add(t, "a", "kernel", 0, 1, CLDQN_TRACE_TID_DEVICE), CLDQN_OK);
    CU_ASSERT_EQUAL(cldqn_trace_write(t, path), CLDQN_OK);
    CU_ASSERT_EQUAL(cldqn_trace_add(t, "b", "kernel", 1, 1, CLDQN_TRACE_TID_DEVICE), CLDQN_OK);
    CU_ASSERT_EQUAL(cldqn_trace_write(t, path), CLDQN_OK);
    char *s = slurp(path);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    CU_ASSERT_PTR_NOT_NULL(strstr(s, "{\"name\":\"b\""));
    free(s);
    int entries = 0;
    DIR *d = opendir(dir);
    for (struct dirent *e; d && (e = readdir(d));) entries += e->d_name[0] != '.';
    if (d) closedir(d);
    CU_ASSERT_EQUAL(entries, 1);
    struct stat sb;
    CU_ASSERT(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0644);
    if (geteuid() != 0) { /* root ignores directory permissions */
        chmod(dir, 0555);
        CU_ASSERT_EQUAL(cldqn_trace_add(t, "c", "kernel", 2, 1, 2), CLDQN_OK);
        CU_ASSERT_EQUAL(cldqn_trace_write(t, path), CLDQN_ERR_IO);
        s = slurp(path);
        CU_ASSERT(s && strstr(s, "\"b\"") && !strstr(s, "\"c\""));
        free(s);
        chmod(dir, 0755);
    }
    cldqn_trace_free(t);
    unlink(path);
    rmdir(dir);
}

int register_suites(void)
{
    static const harness_test tests[] = {{"fused path profiled", test_fused_profiled},
                                         {"layered path profiled", test_layered_profiled},
                                         {"host spans only", test_host_spans_only},
                                         {"span failure kept", test_span_failure},
                                         {"atomic write", test_atomic_write},
                                         {NULL, NULL}};
    return harness_add_suite("profile", NULL, NULL, tests);
}
