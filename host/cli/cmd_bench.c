/* cmd_bench.c - `cldqn bench`: how fast are updates, acting, launches and the
 * training loop on one device?
 *
 * Every row warms up first (PoCL compiles per program and per work-group
 * size on first use), then runs REPEATS timed repeats of about S/REPEATS
 * seconds each and reports the best and the median per-call time, both from
 * the host clock (CLOCK_MONOTONIC). A short extra pass on a profiling queue
 * times the empty kernel and the fused update with OpenCL events as well;
 * PoCL's event timestamps are not trustworthy (POCL-NOTES.md), so both
 * clocks are printed side by side and labelled. --profile writes every
 * timed call (host clock) and every profiled device event (mapped onto the
 * host clock through a marker) as a Chrome trace. */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clrt.h"
#include "fused.h"

#include "cldqn/config.h"
#include "cldqn/json.h"
#include "cldqn/qnet.h"
#include "cldqn/rng.h"
#include "cldqn/trace.h"
#include "cldqn/trainer.h"
#include "cli.h"

#define REPEATS         5
#define TRACE_ROW_LIMIT 2000 /* host events per row kept in a trace */
#define EVENT_CALLS     200  /* calls of the profiling pass per kernel */
#define ENV_STEPS       20000
#define ENV_WARM        200 /* steps past learning-starts before timing: first-update kernel builds */

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: cldqn bench [--json] [--device D] [--seconds S] [--profile TRACE.json]\n"
        "                   [--quick]\n\n"
        "Measures on one OpenCL device: empty-kernel launch latency, updates/s of the\n"
        "seed network (500x10, 50, 50, 6) at batch 32 (minibatch-mean MSE, loss read\n"
        "back, and the next action) through the Q-network API (its own path choice and\n"
        "forced layered; the target synced as often as the preset syncs it) and directly\n"
        "through the fused kernel (target never synced), larger batches and\n"
        "hidden sizes, the per-sample (seed) mode, greedy-action latency\n"
        "and env steps/s of the default preset's training loop (%d steps from %d past\n"
        "learning-starts, or 5*S seconds). S (default 1) is the time per row; each row\n"
        "takes the best and median of %d repeats after a warm-up. --quick: seed\n"
        "network mean-update rows only. --profile: Chrome trace of every timed call and kernel.\n"
        "--device D: PLATFORM:N, exact name, index or unique name part (cldqn devices).\n",
        ENV_STEPS, ENV_WARM, REPEATS);
}

typedef struct {
    double best_us, median_us;
    long calls;
} timing;

typedef cldqn_status (*bench_fn)(void *ctx);

typedef struct {
    cldqn_trace *trace; /* NULL: no trace */
    double t0;          /* host time origin of the trace (s) */
} tracer;

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Warm-up (at least 3 calls or a tenth of the budget), then REPEATS repeats
 * of seconds/REPEATS each (at least one call). */
static cldqn_status measure(bench_fn fn, void *ctx, double seconds, tracer *tr, const char *name,
                            timing *out)
{
    double warm_end = cldqn_cl_now() + 0.1 * seconds;
    for (int i = 0; i < 3 || cldqn_cl_now() < warm_end; i++) {
        cldqn_status st = fn(ctx);
        if (st) return st;
    }
    double per[REPEATS];
    long traced = 0, calls = 0;
    for (int r = 0; r < REPEATS; r++) {
        double start = cldqn_cl_now(), end = start + seconds / REPEATS, now = start;
        long n = 0;
        do {
            double a = now;
            cldqn_status st = fn(ctx);
            if (st) return st;
            now = cldqn_cl_now();
            n++;
            if (tr->trace && traced < TRACE_ROW_LIMIT) {
                traced++;
                st = cldqn_trace_add(tr->trace, name, "host", (a - tr->t0) * 1e6, (now - a) * 1e6,
                                     CLDQN_TRACE_TID_HOST);
                if (st) return st;
                now = cldqn_cl_now(); /* trace bookkeeping stays outside the next call */
            }
        } while (now < end);
        per[r] = (now - start) * 1e6 / (double)n;
        calls += n;
    }
    out->calls = calls;
    out->best_us = per[0];
    for (int r = 1; r < REPEATS; r++)
        if (per[r] < out->best_us) out->best_us = per[r];
    out->median_us = median(per, REPEATS);
    return CLDQN_OK;
}

/* ---- empty kernel ------------------------------------------------------- */

static const char *const EMPTY_SRC = "__kernel void empty(__global int *x) { }\n";

typedef struct {
    cldqn_cl *cl;
    cl_program prog;
    cl_kernel k;
    cl_mem buf;
} empty_ctx;

static void empty_free(empty_ctx *e)
{
    if (e->k) clReleaseKernel(e->k);
    if (e->prog) clReleaseProgram(e->prog);
    if (e->buf) clReleaseMemObject(e->buf);
    memset(e, 0, sizeof *e);
}

/* The floor is measured on a program of its own (not through the kernels/
 * sources) so nothing but the launch is timed. */
static cldqn_status empty_init(cldqn_cl *cl, empty_ctx *e)
{
    cl_int err;
    memset(e, 0, sizeof *e);
    e->cl = cl;
    const char *src = EMPTY_SRC;
    e->prog = clCreateProgramWithSource(cl->ctx, 1, &src, NULL, &err);
    if (err) return cldqn_cl_check(err, "clCreateProgramWithSource", __FILE__, __LINE__);
    CLDQN_CL_CHECK(clBuildProgram(e->prog, 1, &cl->info.device, "-cl-std=CL1.2", NULL, NULL));
    e->buf = clCreateBuffer(cl->ctx, CL_MEM_READ_WRITE, sizeof(cl_int), NULL, &err);
    if (err) return cldqn_cl_check(err, "clCreateBuffer", __FILE__, __LINE__);
    cldqn_status st = cldqn_cl_create_kernel(e->prog, "empty", &e->k);
    if (st) return st;
    CLDQN_CL_CHECK(clSetKernelArg(e->k, 0, sizeof e->buf, &e->buf));
    return CLDQN_OK;
}

static cldqn_status empty_launch_ev(empty_ctx *e, cl_event *ev)
{
    size_t one = 1;
    CLDQN_CL_CHECK(clEnqueueNDRangeKernel(e->cl->queue, e->k, 1, NULL, &one, &one, 0, NULL, ev));
    CLDQN_CL_CHECK(clFinish(e->cl->queue));
    return CLDQN_OK;
}

static cldqn_status empty_call(void *ctx)
{
    return empty_launch_ev(ctx, NULL);
}

/* ---- random minibatches ------------------------------------------------- */

#define N_BATCHES 16 /* cycled, so no call sees the batch of the previous one */

typedef struct {
    int n;
    int32_t *s, *a, *s2;
    float *r, *d;
    cldqn_batch b[N_BATCHES];
} batches;

static void batches_free(batches *bs)
{
    free(bs->s);
    free(bs->a);
    free(bs->s2);
    free(bs->r);
    free(bs->d);
    memset(bs, 0, sizeof *bs);
}

static cldqn_status batches_init(batches *bs, int n, const cldqn_net_shape *sh)
{
    size_t m = (size_t)n * N_BATCHES;
    memset(bs, 0, sizeof *bs);
    bs->n = n;
    bs->s = malloc(m * sizeof *bs->s);
    bs->a = malloc(m * sizeof *bs->a);
    bs->s2 = malloc(m * sizeof *bs->s2);
    bs->r = malloc(m * sizeof *bs->r);
    bs->d = malloc(m * sizeof *bs->d);
    if (!bs->s || !bs->a || !bs->s2 || !bs->r || !bs->d) {
        batches_free(bs);
        return cldqn_fail(CLDQN_ERR_NOMEM, "out of memory (bench batches)");
    }
    cldqn_rng rng;
    cldqn_rng_seed(&rng, 7, 1);
    for (size_t i = 0; i < m; i++) {
        bs->s[i] = (int32_t)cldqn_rng_below(&rng, (uint32_t)sh->n_states);
        bs->a[i] = (int32_t)cldqn_rng_below(&rng, (uint32_t)sh->n_actions);
        bs->s2[i] = (int32_t)cldqn_rng_below(&rng, (uint32_t)sh->n_states);
        bs->r[i] = cldqn_rng_below(&rng, 20) == 0 ? 20.0f : -1.0f; /* Taxi's rewards */
        bs->d[i] = bs->r[i] > 0 ? 1.0f : 0.0f;
    }
    for (int k = 0; k < N_BATCHES; k++) {
        size_t o = (size_t)k * (size_t)n;
        cldqn_batch b = {n, bs->s + o, bs->a + o, bs->r + o, bs->s2 + o, bs->d + o, NULL};
        bs->b[k] = b;
    }
    return CLDQN_OK;
}

/* ---- update rows --------------------------------------------------------- */

typedef struct {
    const char *path; /* "qnet" (its own choice), "layered" (qnet forced) or "fused" (direct) */
    cldqn_update_mode mode;
    int batch, hidden;
    int ok;
    timing t;
    char error[200];
} row;

typedef struct {
    cldqn_qnet *net;
    batches bs;
    int next;
    float loss;
    int32_t action;
    int64_t calls, sync_every; /* target synced every sync_every updates */
} qnet_ctx;

/* The trainer's call: update, loss and the next greedy action (one launch
 * and one read-back on the fused path), with the target synced as often as
 * the preset syncs it (every target-every / train-every updates), so a cost
 * the update pays per target (the fused path's max-Q table) is counted. */
static cldqn_status qnet_call(void *p)
{
    qnet_ctx *q = p;
    if (q->sync_every > 0 && q->calls++ % q->sync_every == 0) {
        cldqn_status st = cldqn_qnet_sync_target(q->net);
        if (st) return st;
    }
    const cldqn_batch *b = &q->bs.b[q->next];
    cldqn_status st = cldqn_qnet_update_act(q->net, b, b->next_state[0], &q->loss, &q->action);
    q->next = (q->next + 1) % N_BATCHES;
    return st;
}

static cldqn_status greedy_call(void *p)
{
    qnet_ctx *q = p;
    int32_t s = q->bs.s[q->next], a;
    q->next = (q->next + 1) % N_BATCHES;
    return cldqn_qnet_greedy(q->net, &s, 1, &a);
}

typedef struct {
    cldqn_fused *f;
    cl_mem buf[5]; /* params, grad, m, v, target */
    batches bs;
    int next, adam_t;
    float loss;
    int32_t action;
    int wait; /* read back loss and next action */
} fused_ctx;

static cldqn_status fused_call(void *p)
{
    fused_ctx *c = p;
    const cldqn_batch *b = &c->bs.b[c->next];
    cldqn_status st = cldqn_fused_update(c->f, c->buf[0], c->buf[1], c->buf[2], c->buf[3],
                                         c->buf[4], b, c->adam_t, b->next_state[0],
                                         c->wait ? &c->loss : NULL, c->wait ? &c->action : NULL);
    c->adam_t += cldqn_fused_adam_steps(c->f, b->n);
    c->next = (c->next + 1) % N_BATCHES;
    return st;
}

static void fused_ctx_free(fused_ctx *c)
{
    cldqn_fused_free(c->f);
    for (int i = 0; i < 5; i++)
        if (c->buf[i]) clReleaseMemObject(c->buf[i]);
    batches_free(&c->bs);
    memset(c, 0, sizeof *c);
}

static cldqn_status learn_config(cldqn_update_mode mode, cldqn_learn_config *out)
{
    cldqn_config cfg;
    cldqn_status st = cldqn_config_preset(&cfg, mode == CLDQN_UPDATE_MEAN ? "default" : "seed");
    *out = cfg.learn;
    return st;
}

/* Updates between target syncs in the preset of this mode (0: the seed's
 * sync at episode ends, about one per thousand updates). */
static int64_t preset_sync_every(cldqn_update_mode mode)
{
    cldqn_config cfg;
    if (cldqn_config_preset(&cfg, mode == CLDQN_UPDATE_MEAN ? "default" : "seed")) return 0;
    return cfg.target_every > 0 ? cfg.target_every / cfg.train_every : 1000;
}

static cldqn_status make_params(const cldqn_net_shape *sh, cldqn_layout *lay, float **params)
{
    cldqn_status st = cldqn_layout_init(sh, lay);
    if (st) return st;
    *params = malloc(lay->total * sizeof **params);
    if (!*params) return cldqn_fail(CLDQN_ERR_NOMEM, "out of memory (bench parameters)");
    cldqn_rng rng;
    cldqn_rng_seed(&rng, 1, 0);
    cldqn_params_init(lay, CLDQN_INIT_TORCH, &rng, *params);
    return CLDQN_OK;
}

static cldqn_status fused_ctx_init(cldqn_cl *cl, const cldqn_net_shape *sh, cldqn_update_mode mode,
                                   int batch, fused_ctx *c)
{
    memset(c, 0, sizeof *c);
    c->wait = 1;
    cldqn_learn_config lc;
    cldqn_layout lay;
    float *params = NULL;
    cldqn_status st = learn_config(mode, &lc);
    if (!st) st = make_params(sh, &lay, &params);
    if (!st) st = batches_init(&c->bs, batch, sh);
    if (!st) st = cldqn_fused_create(cl, &lay, &lc, batch, 0, &c->f);
    for (int i = 0; !st && i < 5; i++) {
        cl_int err;
        /* grad, m and v start at zero, params and target at the same weights */
        if (i >= 1 && i <= 3) memset(params, 0, lay.total * sizeof *params);
        if (i == 4) {
            cldqn_rng rng;
            cldqn_rng_seed(&rng, 1, 0);
            cldqn_params_init(&lay, CLDQN_INIT_TORCH, &rng, params);
        }
        c->buf[i] = clCreateBuffer(cl->ctx, CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR,
                                   lay.total * sizeof(float), params, &err);
        if (err) st = cldqn_cl_check(err, "clCreateBuffer", __FILE__, __LINE__);
    }
    free(params);
    if (st) fused_ctx_free(c);
    return st;
}

static cldqn_status qnet_ctx_init(const char *device, cldqn_update_path path,
                                  const cldqn_net_shape *sh, cldqn_update_mode mode, int batch,
                                  qnet_ctx *q)
{
    memset(q, 0, sizeof *q);
    cldqn_learn_config lc;
    cldqn_layout lay;
    float *params = NULL;
    cldqn_status st = learn_config(mode, &lc);
    if (!st) st = make_params(sh, &lay, &params);
    if (!st) st = batches_init(&q->bs, batch, sh);
    if (!st) {
        cldqn_qnet_options o = cldqn_qnet_default_options();
        o.device = device;
        o.max_batch = batch;
        o.max_states = 1;
        o.path = path;
        st = cldqn_qnet_create(&lay, &lc, &o, params, &q->net);
    }
    free(params);
    if (st) batches_free(&q->bs);
    q->sync_every = preset_sync_every(mode);
    return st;
}

static void qnet_ctx_free(qnet_ctx *q)
{
    cldqn_qnet_free(q->net);
    batches_free(&q->bs);
    memset(q, 0, sizeof *q);
}

static void run_row(row *r, cldqn_cl *cl, const char *device, double seconds, tracer *tr)
{
    cldqn_net_shape sh = cldqn_net_default_shape();
    sh.hidden = r->hidden;
    char name[96];
    snprintf(name, sizeof name, "%s update %s b%d h%d", r->path,
             r->mode == CLDQN_UPDATE_MEAN ? "mean" : "per-sample", r->batch, r->hidden);
    cldqn_status st;
    if (!strcmp(r->path, "fused")) {
        fused_ctx c;
        st = fused_ctx_init(cl, &sh, r->mode, r->batch, &c);
        if (!st) {
            st = measure(fused_call, &c, seconds, tr, name, &r->t);
            fused_ctx_free(&c);
        }
    } else {
        qnet_ctx q;
        st =
            qnet_ctx_init(device, strcmp(r->path, "layered") ? CLDQN_PATH_AUTO : CLDQN_PATH_LAYERED,
                          &sh, r->mode, r->batch, &q);
        if (!st) {
            st = measure(qnet_call, &q, seconds, tr, name, &r->t);
            qnet_ctx_free(&q);
        }
    }
    r->ok = st == CLDQN_OK;
    if (!r->ok) snprintf(r->error, sizeof r->error, "%s", cldqn_last_error());
}

/* ---- profiling pass: OpenCL events beside host clocks -------------------- */

typedef struct {
    const char *name;
    int ok;
    double event_us, host_us; /* medians over EVENT_CALLS calls */
    char error[200];
} event_row;

/* Device clock (ns) to trace time (us): a marker's END against the host clock
 * right after clFinish returned; good to the few microseconds of that gap. */
typedef struct {
    double offset_us;
} clock_map;

static cldqn_status event_ns(cl_event ev, cl_profiling_info which, cl_ulong *ns)
{
    CLDQN_CL_CHECK(clGetEventProfilingInfo(ev, which, sizeof *ns, ns, NULL));
    return CLDQN_OK;
}

static cldqn_status map_clock(cldqn_cl *cl, const tracer *tr, clock_map *m)
{
    cl_event ev;
    cl_ulong end;
    CLDQN_CL_CHECK(clEnqueueMarkerWithWaitList(cl->queue, 0, NULL, &ev));
    cl_int err = clFinish(cl->queue);
    double host = cldqn_cl_now();
    cldqn_status st = err ? cldqn_cl_check(err, "clFinish", __FILE__, __LINE__)
                          : event_ns(ev, CL_PROFILING_COMMAND_END, &end);
    clReleaseEvent(ev);
    if (!st) m->offset_us = (host - tr->t0) * 1e6 - (double)end / 1e3;
    return st;
}

static cldqn_status events_empty(cldqn_cl *pcl, tracer *tr, const clock_map *m, event_row *r)
{
    empty_ctx e;
    double ev_us[EVENT_CALLS], host_us[EVENT_CALLS];
    cldqn_status st = empty_init(pcl, &e);
    for (int i = 0; !st && i < EVENT_CALLS + 10; i++) {
        cl_event ev;
        double a = cldqn_cl_now();
        st = empty_launch_ev(&e, &ev);
        double b = cldqn_cl_now();
        if (st) break;
        cl_ulong s, f;
        st = event_ns(ev, CL_PROFILING_COMMAND_START, &s);
        if (!st) st = event_ns(ev, CL_PROFILING_COMMAND_END, &f);
        clReleaseEvent(ev);
        if (st || i < 10) continue; /* the first calls are warm-up */
        ev_us[i - 10] = (double)(f - s) / 1e3;
        host_us[i - 10] = (b - a) * 1e6;
        if (tr->trace) {
            st = cldqn_trace_add(tr->trace, "empty", "kernel", (double)s / 1e3 + m->offset_us,
                                 (double)(f - s) / 1e3, CLDQN_TRACE_TID_DEVICE);
            if (!st)
                st = cldqn_trace_add(tr->trace, "empty launch+finish", "host", (a - tr->t0) * 1e6,
                                     (b - a) * 1e6, CLDQN_TRACE_TID_HOST);
        }
    }
    empty_free(&e);
    if (!st) {
        r->event_us = median(ev_us, EVENT_CALLS);
        r->host_us = median(host_us, EVENT_CALLS);
    }
    return st;
}

/* fused.c keeps its kernel and transfer events to itself, so the update is
 * bracketed by two markers on the in-order queue: the span between their
 * ENDs covers the input upload and the kernel (enqueue-only call). */
static cldqn_status events_fused(cldqn_cl *pcl, tracer *tr, const clock_map *m, event_row *r)
{
    fused_ctx c;
    double ev_us[EVENT_CALLS], host_us[EVENT_CALLS];
    cldqn_net_shape sh = cldqn_net_default_shape();
    cldqn_status st = fused_ctx_init(pcl, &sh, CLDQN_UPDATE_MEAN, 32, &c);
    if (st) return st;
    c.wait = 0;
    for (int i = 0; !st && i < EVENT_CALLS + 10; i++) {
        cl_event m1, m2;
        cl_ulong e1, e2;
        double a = cldqn_cl_now();
        cl_int err = clEnqueueMarkerWithWaitList(pcl->queue, 0, NULL, &m1);
        if (err) {
            st = cldqn_cl_check(err, "clEnqueueMarkerWithWaitList", __FILE__, __LINE__);
            break;
        }
        st = fused_call(&c);
        err = clEnqueueMarkerWithWaitList(pcl->queue, 0, NULL, &m2);
        if (!err) err = clFinish(pcl->queue);
        double b = cldqn_cl_now();
        if (!st && err) st = cldqn_cl_check(err, "clEnqueueMarker/clFinish", __FILE__, __LINE__);
        if (!st) st = event_ns(m1, CL_PROFILING_COMMAND_END, &e1);
        if (!st) st = event_ns(m2, CL_PROFILING_COMMAND_END, &e2);
        clReleaseEvent(m1);
        if (!err) clReleaseEvent(m2);
        if (st || i < 10) continue;
        ev_us[i - 10] = e2 > e1 ? (double)(e2 - e1) / 1e3 : 0.0;
        host_us[i - 10] = (b - a) * 1e6;
        if (tr->trace) {
            st = cldqn_trace_add(tr->trace, "fused_update (upload+kernel)", "kernel",
                                 (double)e1 / 1e3 + m->offset_us, ev_us[i - 10],
                                 CLDQN_TRACE_TID_DEVICE);
            if (!st)
                st = cldqn_trace_add(tr->trace, "fused update enqueue+finish", "host",
                                     (a - tr->t0) * 1e6, (b - a) * 1e6, CLDQN_TRACE_TID_HOST);
        }
    }
    fused_ctx_free(&c);
    if (!st) {
        r->event_us = median(ev_us, EVENT_CALLS);
        r->host_us = median(host_us, EVENT_CALLS);
    }
    return st;
}

/* ---- training loop -------------------------------------------------------- */

typedef struct {
    int64_t starts, limit; /* learning-starts, steps to time past it */
    double max_s;
    double t_start, t_end, last_episode;
    int64_t measured;
    volatile sig_atomic_t stop;
    tracer *tr;
    cldqn_status trace_st;
} loop_ctx;

static void loop_tick(void *p, const cldqn_trainer *t)
{
    loop_ctx *c = p;
    int64_t steps = cldqn_trainer_stats(t)->steps;
    if (steps == c->starts) {
        c->t_start = cldqn_cl_now();
        return;
    }
    if (steps <= c->starts) return;
    double now = cldqn_cl_now();
    if (steps - c->starts >= c->limit || now - c->t_start >= c->max_s) {
        c->stop = 1;
        c->t_end = now;
        c->measured = steps - c->starts;
    }
}

static void loop_episode(void *p, const cldqn_trainer *t, int terminated)
{
    loop_ctx *c = p;
    (void)t;
    double now = cldqn_cl_now();
    if (c->tr->trace && !c->trace_st)
        c->trace_st = cldqn_trace_add(c->tr->trace, terminated ? "episode" : "episode (truncated)",
                                      "host", (c->last_episode - c->tr->t0) * 1e6,
                                      (now - c->last_episode) * 1e6, CLDQN_TRACE_TID_HOST);
    c->last_episode = now;
}

static cldqn_status bench_loop(const char *device, double seconds, tracer *tr, double *rate,
                               int64_t *measured)
{
    cldqn_config cfg;
    cldqn_status st = cldqn_config_preset(&cfg, "default");
    if (st) return st;
    loop_ctx c = {0};
    c.starts = cfg.learning_starts + ENV_WARM;
    c.limit = ENV_STEPS;
    c.max_s = 5 * seconds;
    c.tr = tr;
    cfg.quiet = 1;
    cfg.out[0] = 0;
    cfg.steps = c.starts + ENV_STEPS + 1;
    if (device) snprintf(cfg.device, sizeof cfg.device, "%s", device);
    cldqn_trainer *t;
    st = cldqn_trainer_create(&cfg, &t);
    if (st) return st;
    cldqn_train_hooks h = {&c, loop_tick, loop_episode, NULL, NULL, &c.stop};
    c.last_episode = cldqn_cl_now();
    st = cldqn_trainer_run(t, &h);
    if (st == CLDQN_ERR_INTERRUPT && c.stop) st = CLDQN_OK; /* our own stop */
    cldqn_trainer_free(t);
    if (!st) st = c.trace_st;
    if (!st && !(c.measured > 0 && c.t_end > c.t_start))
        st = cldqn_fail(CLDQN_ERR_ARG, "training loop: no steps past learning-starts timed");
    if (!st) {
        *rate = (double)c.measured / (c.t_end - c.t_start);
        *measured = c.measured;
        if (tr->trace)
            st = cldqn_trace_add(tr->trace, "training loop (timed part)", "host",
                                 (c.t_start - tr->t0) * 1e6, (c.t_end - c.t_start) * 1e6,
                                 CLDQN_TRACE_TID_HOST);
    }
    return st;
}

/* ---- output ------------------------------------------------------------- */

static const char *mode_name(cldqn_update_mode m)
{
    return m == CLDQN_UPDATE_MEAN ? "mean" : "per-sample";
}

/* The --json line: one object, written with cJSON. 0, or -1 when out of memory. */
static int print_json(const cldqn_cl *cl, double load_start, double load_end, double seconds,
                      const timing *launch, const timing *act, const row *rows, int n_rows,
                      const event_row *evr, double env_rate, int64_t env_measured)
{
    cJSON *o = cJSON_CreateObject();
    int ok = o && cJSON_AddStringToObject(o, "device", cl->info.name) &&
             cJSON_AddStringToObject(o, "platform", cl->info.platform_name) &&
             cldqn_json_add_number(o, "load_avg_start", "%.2f", load_start) &&
             cldqn_json_add_number(o, "load_avg_end", "%.2f", load_end) &&
             cldqn_json_add_number(o, "seconds_per_row", "%g", seconds) &&
             cldqn_json_add_number(o, "launch_latency_us", "%.3f", launch->best_us) &&
             cldqn_json_add_number(o, "launch_latency_median_us", "%.3f", launch->median_us) &&
             cldqn_json_add_number(o, "updates_per_s", "%.1f", 1e6 / rows[0].t.best_us) &&
             cldqn_json_add_number(o, "updates_per_s_median", "%.1f", 1e6 / rows[0].t.median_us) &&
             cldqn_json_add_number(o, "fused_updates_per_s", "%.1f",
                                   rows[1].ok ? 1e6 / rows[1].t.best_us : NAN) &&
             cldqn_json_add_number(o, "act_latency_us", "%.3f", act->best_us) &&
             cldqn_json_add_number(o, "act_latency_median_us", "%.3f", act->median_us) &&
             cldqn_json_add_number(o, "env_steps_per_s", "%.1f", env_rate) &&
             cldqn_json_add_int(o, "env_steps_timed", env_measured);
    cJSON *list = ok ? cJSON_AddArrayToObject(o, "rows") : NULL;
    for (int i = 0; list && i < n_rows; i++) {
        const row *r = &rows[i];
        cJSON *x = cJSON_CreateObject();
        ok = x && cJSON_AddItemToArray(list, x);
        if (!ok) {
            cJSON_Delete(x);
            break;
        }
        ok = cJSON_AddStringToObject(x, "path", r->path) &&
             cJSON_AddStringToObject(x, "mode", mode_name(r->mode)) &&
             cldqn_json_add_int(x, "batch", r->batch) && cldqn_json_add_int(x, "hidden", r->hidden);
        if (ok && r->ok)
            ok = cldqn_json_add_number(x, "us_best", "%.3f", r->t.best_us) &&
                 cldqn_json_add_number(x, "us_median", "%.3f", r->t.median_us) &&
                 cldqn_json_add_number(x, "per_s", "%.1f", 1e6 / r->t.best_us) &&
                 cldqn_json_add_int(x, "calls", r->t.calls);
        else if (ok)
            ok = cJSON_AddStringToObject(x, "error", r->error) != NULL;
        if (!ok) break;
    }
    list = ok && list ? cJSON_AddArrayToObject(o, "events") : NULL;
    for (int i = 0; list && i < 2; i++) {
        cJSON *x = cJSON_CreateObject();
        ok = x && cJSON_AddItemToArray(list, x);
        if (!ok) {
            cJSON_Delete(x);
            break;
        }
        ok = cJSON_AddStringToObject(x, "name", evr[i].name) != NULL;
        if (ok && evr[i].ok)
            ok = cldqn_json_add_number(x, "event_us_median", "%.3f", evr[i].event_us) &&
                 cldqn_json_add_number(x, "host_us_median", "%.3f", evr[i].host_us);
        else if (ok)
            ok = cJSON_AddStringToObject(x, "error", evr[i].error) != NULL;
        if (!ok) break;
    }
    char *text = ok && list ? cldqn_json_print(o) : NULL;
    cJSON_Delete(o);
    if (!text) return -1;
    printf("%s\n", text);
    free(text);
    return 0;
}

int cldqn_cmd_bench(int argc, char **argv)
{
    int json = 0, quick = 0;
    const char *device = NULL, *profile = NULL;
    double seconds = 1.0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--json")) {
            json = 1;
        } else if (!strcmp(a, "--quick")) {
            quick = 1;
        } else if (!strcmp(a, "--device") || !strcmp(a, "--profile") || !strcmp(a, "--seconds")) {
            if (!next) {
                fprintf(stderr, "cldqn: %s: needs a value\n", a);
                return 2;
            }
            i++;
            if (a[2] == 'd')
                device = next;
            else if (a[2] == 'p')
                profile = next;
            else {
                char *end;
                errno = 0;
                seconds = strtod(next, &end);
                if (!*next || *end || errno || !(seconds > 0 && seconds <= 3600)) {
                    fprintf(stderr, "cldqn: --seconds: '%s' is not a number in (0, 3600]\n", next);
                    return 2;
                }
            }
        } else {
            fprintf(stderr, "cldqn: bench: unknown option '%s' (see cldqn bench --help)\n", a);
            return 2;
        }
    }
    /* A bad --profile path fails now, not after the whole benchmark. */
    if (profile) {
        FILE *f = fopen(profile, "w");
        if (!f) {
            fprintf(stderr, "cldqn: --profile: cannot write '%s': %s\n", profile, strerror(errno));
            return 2;
        }
        fclose(f);
    }
    double load[3] = {-1, -1, -1};
    if (getloadavg(load, 3) < 1) load[0] = -1;

    tracer tr = {NULL, cldqn_cl_now()};
    cldqn_cl *cl = NULL, *pcl = NULL;
    if (profile && cldqn_trace_create(&tr.trace)) {
        cldqn_cli_error("bench");
        return 1;
    }
    cldqn_status st = cldqn_cl_create(device, 0, &cl);
    if (st) {
        cldqn_cli_error("bench");
        cldqn_trace_free(tr.trace);
        return 1;
    }
    if (!json)
        printf("device: %s (%s), load average %.2f at start; S = %g s per row\n", cl->info.name,
               cl->info.platform_name, load[0], seconds);

    timing launch = {0}, act = {0};
    empty_ctx e;
    st = empty_init(cl, &e);
    if (!st) st = measure(empty_call, &e, seconds, &tr, "empty launch+finish", &launch);
    empty_free(&e);
    if (!st) {
        qnet_ctx q;
        cldqn_net_shape sh = cldqn_net_default_shape();
        st = qnet_ctx_init(device, CLDQN_PATH_AUTO, &sh, CLDQN_UPDATE_MEAN, 1, &q);
        if (!st) {
            st = measure(greedy_call, &q, seconds, &tr, "qnet greedy 1 state", &act);
            qnet_ctx_free(&q);
        }
    }
    if (st) {
        cldqn_cli_error("bench");
        cldqn_cl_free(cl);
        cldqn_trace_free(tr.trace);
        return 1;
    }

    row rows[] = {
        {.path = "qnet", .mode = CLDQN_UPDATE_MEAN, .batch = 32, .hidden = 50},
        {.path = "fused", .mode = CLDQN_UPDATE_MEAN, .batch = 32, .hidden = 50},
        {.path = "layered", .mode = CLDQN_UPDATE_MEAN, .batch = 32, .hidden = 50},
        {.path = "qnet", .mode = CLDQN_UPDATE_PER_SAMPLE, .batch = 32, .hidden = 50},
        {.path = "fused", .mode = CLDQN_UPDATE_PER_SAMPLE, .batch = 32, .hidden = 50},
        {.path = "layered", .mode = CLDQN_UPDATE_PER_SAMPLE, .batch = 32, .hidden = 50},
        {.path = "qnet", .mode = CLDQN_UPDATE_MEAN, .batch = 128, .hidden = 50},
        {.path = "fused", .mode = CLDQN_UPDATE_MEAN, .batch = 128, .hidden = 50},
        {.path = "layered", .mode = CLDQN_UPDATE_MEAN, .batch = 128, .hidden = 50},
        {.path = "qnet", .mode = CLDQN_UPDATE_MEAN, .batch = 512, .hidden = 50},
        {.path = "fused", .mode = CLDQN_UPDATE_MEAN, .batch = 512, .hidden = 50},
        {.path = "layered", .mode = CLDQN_UPDATE_MEAN, .batch = 512, .hidden = 50},
        {.path = "qnet", .mode = CLDQN_UPDATE_MEAN, .batch = 32, .hidden = 128},
        {.path = "fused", .mode = CLDQN_UPDATE_MEAN, .batch = 32, .hidden = 128},
        {.path = "layered", .mode = CLDQN_UPDATE_MEAN, .batch = 32, .hidden = 128},
        {.path = "qnet", .mode = CLDQN_UPDATE_MEAN, .batch = 32, .hidden = 256},
        {.path = "fused", .mode = CLDQN_UPDATE_MEAN, .batch = 32, .hidden = 256},
        {.path = "layered", .mode = CLDQN_UPDATE_MEAN, .batch = 32, .hidden = 256},
        {.path = "qnet", .mode = CLDQN_UPDATE_MEAN, .batch = 32, .hidden = 512},
        {.path = "fused", .mode = CLDQN_UPDATE_MEAN, .batch = 32, .hidden = 512},
        {.path = "layered", .mode = CLDQN_UPDATE_MEAN, .batch = 32, .hidden = 512},
    };
    int n_rows = quick ? 3 : (int)(sizeof rows / sizeof rows[0]);
    for (int i = 0; i < n_rows; i++) run_row(&rows[i], cl, device, seconds, &tr);
    if (!rows[0].ok) {
        fprintf(stderr, "cldqn: bench: seed network update: %s\n", rows[0].error);
        cldqn_cl_free(cl);
        cldqn_trace_free(tr.trace);
        return 1;
    }

    event_row evr[2] = {{.name = "empty kernel"}, {.name = "fused update (upload+kernel)"}};
    clock_map cm = {0};
    st = cldqn_cl_create(device, 1, &pcl);
    if (!st) st = map_clock(pcl, &tr, &cm);
    if (!st) {
        evr[0].ok = events_empty(pcl, &tr, &cm, &evr[0]) == CLDQN_OK;
        if (!evr[0].ok) snprintf(evr[0].error, sizeof evr[0].error, "%s", cldqn_last_error());
        evr[1].ok = events_fused(pcl, &tr, &cm, &evr[1]) == CLDQN_OK;
        if (!evr[1].ok) snprintf(evr[1].error, sizeof evr[1].error, "%s", cldqn_last_error());
    } else {
        for (int i = 0; i < 2; i++)
            snprintf(evr[i].error, sizeof evr[i].error, "%s", cldqn_last_error());
    }
    cldqn_cl_free(pcl);

    double env_rate = 0;
    int64_t env_measured = 0;
    st = bench_loop(device, seconds, &tr, &env_rate, &env_measured);
    if (st) {
        cldqn_cli_error("bench: training loop");
        cldqn_cl_free(cl);
        cldqn_trace_free(tr.trace);
        return 1;
    }
    double load_end[3] = {-1, -1, -1};
    if (getloadavg(load_end, 3) < 1) load_end[0] = -1;

    if (json) {
        if (print_json(cl, load[0], load_end[0], seconds, &launch, &act, rows, n_rows, evr,
                       env_rate, env_measured)) {
            fprintf(stderr, "cldqn: bench: out of memory\n");
            cldqn_cl_free(cl);
            cldqn_trace_free(tr.trace);
            return 1;
        }
    } else {
        printf("\n%-34s %12s %12s %12s\n", "measure", "best", "median", "per second");
        printf("%-34s %10.2f us %10.2f us %12.0f\n", "empty kernel launch+finish", launch.best_us,
               launch.median_us, 1e6 / launch.best_us);
        printf("%-34s %10.2f us %10.2f us %12.0f\n", "greedy action, 1 state (qnet)", act.best_us,
               act.median_us, 1e6 / act.best_us);
        for (int i = 0; i < n_rows; i++) {
            const row *r = &rows[i];
            char label[64];
            snprintf(label, sizeof label, "%s update %s b%d h%d", r->path, mode_name(r->mode),
                     r->batch, r->hidden);
            if (r->ok)
                printf("%-34s %10.2f us %10.2f us %12.0f\n", label, r->t.best_us, r->t.median_us,
                       1e6 / r->t.best_us);
            else
                printf("%-34s %s\n", label, r->error);
        }
        printf("%-34s %12s %12s %12.0f  (%lld steps past learning-starts)\n",
               "training loop, default preset", "", "", env_rate, (long long)env_measured);
        printf("\nprofiling queue, medians of %d calls (OpenCL event clock vs host clock;\n"
               "PoCL's event timestamps are not trustworthy, the host clock is):\n",
               EVENT_CALLS);
        for (int i = 0; i < 2; i++) {
            if (evr[i].ok)
                printf("  %-32s event %9.2f us   host %9.2f us\n", evr[i].name, evr[i].event_us,
                       evr[i].host_us);
            else
                printf("  %-32s %s\n", evr[i].name, evr[i].error);
        }
        printf("load average %.2f at start, %.2f at end (machine shared with other jobs)\n",
               load[0], load_end[0]);
    }
    cldqn_cl_free(cl);
    int rc = 0;
    if (tr.trace) {
        if (cldqn_trace_write(tr.trace, profile)) {
            cldqn_cli_error("--profile");
            rc = 1;
        } else if (!json)
            printf("trace: %s (%zu events)\n", profile, cldqn_trace_count(tr.trace));
        cldqn_trace_free(tr.trace);
    }
    return rc;
}
