/* qnets.c - K Q-networks behind one table of operations (qnets.h).
 *
 * "each": one cldqn_qnet per network (fused, layered or reference).
 * "pop": the population kernels of kernels/fused.cl and kernels/act.cl over
 * K networks stored back to back; packed input (K, FUL_IN_STRIDE ints),
 * scratch (K, fused scratch floats) and output (K, 2) likewise. */
#include "qnets.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "clprof.h"
#include "clrt.h"
#include "fused.h"
#include "fused_layout.h"

typedef struct {
    cldqn_status (*update)(cldqn_qnets *q, int n, const int32_t *nets, const cldqn_batch *b,
                           const int32_t *next, float *loss, int32_t *action);
    cldqn_status (*greedy)(cldqn_qnets *q, int n, const int32_t *nets, const int32_t *states,
                           int32_t *actions);
    cldqn_status (*sync)(cldqn_qnets *q, int n, const int32_t *nets);
    cldqn_status (*read)(cldqn_qnets *q, int i, cldqn_qnet_buffer which, float *out);
    void (*free)(cldqn_qnets *q);
} qnets_ops;

/* The population kernels' device state. */
typedef struct {
    int bp;
    size_t stride, nws;
    cldqn_cl *cl;
    cl_program prog, act_prog;
    cl_kernel kern, kern_tt, kern_table, act_kern, kern_polyak;
    size_t wg, act_wg;
    int use_table;
    cl_mem buf[5]; /* cldqn_qnet_buffer order, (K, total) each */
    cl_mem in, ws, out, list, tlist;
    cl_mem plist, ptau; /* (K) each: the networks a soft sync averages, their tau */
    int32_t *pl;
    float *pt;
    cl_mem act_in, act_out; /* (act_cap, 2) state, network; (act_cap) actions */
    size_t act_cap;
    int32_t *stage, *res, *tl, *act_sa;
    int *adam_t;
    cldqn_clprof prof; /* events of the profiled commands (empty without a trace) */
} pop_dev;

struct cldqn_qnets {
    const qnets_ops *ops;
    int k;
    cldqn_layout lay;
    cldqn_learn_config *cfgs; /* (k) */
    cldqn_qnet **nets;        /* "each": (k) */
    cldqn_cl *cl;             /* "each", OpenCL, k > 1: the device they share */
    pop_dev *pop;             /* "pop" */
    int64_t launches;
    cldqn_trace *trace; /* NULL: no profiling */
};

/* Event slot of a profiled command of the population kernels. */
#define EV(d, name, cat) cldqn_clprof_event(&(d)->prof, (name), (cat))

#define CL_TRY(call) CLDQN_CL_CHECK(call)

/* ---- one cldqn_qnet per network ------------------------------------------ */

static cldqn_status each_update(cldqn_qnets *q, int n, const int32_t *nets, const cldqn_batch *b,
                                const int32_t *next, float *loss, int32_t *action)
{
    for (int j = 0; j < n; j++) {
        cldqn_status st =
            cldqn_qnet_update_act(q->nets[nets[j]], &b[j], next[j], &loss[j], &action[j]);
        if (st == CLDQN_ERR_NUMERIC) {
            /* The caller names the network and the step. */
            cldqn_clear_error();
            for (; j < n; j++) loss[j] = NAN;
            return CLDQN_OK;
        }
        if (st) return st;
    }
    return CLDQN_OK;
}

static cldqn_status each_greedy(cldqn_qnets *q, int n, const int32_t *nets, const int32_t *states,
                                int32_t *actions)
{
    /* One call per run of pairs of the same network. */
    for (int j = 0; j < n;) {
        int e = j + 1;
        while (e < n && nets[e] == nets[j]) e++;
        cldqn_status st = cldqn_qnet_greedy(q->nets[nets[j]], states + j, e - j, actions + j);
        if (st) return st;
        j = e;
    }
    return CLDQN_OK;
}

static cldqn_status each_sync(cldqn_qnets *q, int n, const int32_t *nets)
{
    for (int j = 0; j < n; j++) {
        cldqn_status st = cldqn_qnet_sync_target(q->nets[nets[j]]);
        if (st) return st;
    }
    return CLDQN_OK;
}

static cldqn_status each_read(cldqn_qnets *q, int i, cldqn_qnet_buffer which, float *out)
{
    return cldqn_qnet_read(q->nets[i], which, out);
}

static void each_free(cldqn_qnets *q)
{
    if (q->nets)
        for (int i = 0; i < q->k; i++) cldqn_qnet_free(q->nets[i]);
    free(q->nets);
    cldqn_cl_free(q->cl);
}

static const qnets_ops each_ops = {each_update, each_greedy, each_sync, each_read, each_free};

static cldqn_status each_create(cldqn_qnets *q, const cldqn_qnet_options *opt,
                                const float *const init[4])
{
    const size_t total = q->lay.total;
    q->ops = &each_ops;
    q->nets = calloc((size_t)q->k, sizeof *q->nets);
    if (!q->nets) return cldqn_fail(CLDQN_ERR_NOMEM, "out of memory creating the networks");
    static const cldqn_qnet_buffer which[4] = {CLDQN_BUF_PARAMS, CLDQN_BUF_TARGET, CLDQN_BUF_ADAM_M,
                                               CLDQN_BUF_ADAM_V};
    for (int i = 0; i < q->k; i++) {
        cldqn_status st =
            cldqn_qnet_create(&q->lay, &q->cfgs[i], opt, init[0] + (size_t)i * total, &q->nets[i]);
        for (int j = 1; j < 4 && !st; j++)
            if (init[j]) st = cldqn_qnet_write(q->nets[i], which[j], init[j] + (size_t)i * total);
        if (st) return st;
    }
    return CLDQN_OK;
}

/* ---- the population kernels --------------------------------------------- */

static int32_t float_bits(float x)
{
    int32_t i;
    memcpy(&i, &x, sizeof i);
    return i;
}

static cldqn_status make_buffer(pop_dev *d, size_t bytes, const void *init, cl_mem *out)
{
    cl_int err;
    *out = clCreateBuffer(d->cl->ctx, CL_MEM_READ_WRITE, bytes, NULL, &err);
    if (err != CL_SUCCESS) {
        *out = NULL;
        return cldqn_cl_check(err, "clCreateBuffer", __FILE__, __LINE__);
    }
    /* A host write, not a fill: Oclgrind does not count a fill as initialising. */
    CL_TRY(clEnqueueWriteBuffer(d->cl->queue, *out, CL_TRUE, 0, bytes, init, 0, NULL, NULL));
    return CLDQN_OK;
}

static void release(cl_mem *m)
{
    if (*m) clReleaseMemObject(*m);
    *m = NULL;
}

static void pop_free(cldqn_qnets *q)
{
    pop_dev *d = q->pop;
    if (!d) return;
    if (d->cl && d->cl->queue) clFinish(d->cl->queue);
    cldqn_clprof_free(&d->prof);
    for (int j = 0; j < 5; j++) release(&d->buf[j]);
    cl_mem *mems[] = {&d->in,     &d->ws,      &d->out,   &d->list, &d->tlist,
                      &d->act_in, &d->act_out, &d->plist, &d->ptau};
    for (size_t j = 0; j < sizeof mems / sizeof mems[0]; j++) release(mems[j]);
    cl_kernel ks[] = {d->kern, d->kern_tt, d->kern_table, d->act_kern, d->kern_polyak};
    for (size_t j = 0; j < sizeof ks / sizeof ks[0]; j++)
        if (ks[j]) clReleaseKernel(ks[j]);
    if (d->prog) clReleaseProgram(d->prog);
    if (d->act_prog) clReleaseProgram(d->act_prog);
    cldqn_cl_free(d->cl);
    free(d->stage);
    free(d->res);
    free(d->tl);
    free(d->act_sa);
    free(d->adam_t);
    free(d->pl);
    free(d->pt);
    free(d);
    q->pop = NULL;
}

/* The max-Q tables of the n networks listed in d->tl. */
static cldqn_status build_tables(pop_dev *d, int n)
{
    if (n <= 0) return CLDQN_OK;
    /* Blocking: the next sync rewrites d->tl, possibly before any read waits. */
    CL_TRY(clEnqueueWriteBuffer(d->cl->queue, d->tlist, CL_TRUE, 0, (size_t)n * sizeof(int32_t),
                                d->tl, 0, NULL, NULL));
    size_t global = (size_t)n * d->wg, local = d->wg;
    CL_TRY(clEnqueueNDRangeKernel(d->cl->queue, d->kern_table, 1, NULL, &global, &local, 0, NULL,
                                  EV(d, "fused_target_table_pop", "kernel")));
    return CLDQN_OK;
}

static cldqn_status pop_update(cldqn_qnets *q, int n, const int32_t *nets, const cldqn_batch *b,
                               const int32_t *next, float *loss, int32_t *action)
{
    pop_dev *d = q->pop;
    const int bp = d->bp;
    for (int j = 0; j < n; j++) {
        const int i = nets[j];
        const cldqn_learn_config *l = &q->cfgs[i];
        int32_t *in = d->stage + (size_t)i * d->stride;
        for (int s = 0; s < b[j].n; s++) {
            in[FUL_IN_S(bp) + s] = b[j].state[s];
            in[FUL_IN_A(bp) + s] = b[j].action[s];
            in[FUL_IN_NS(bp) + s] = b[j].next_state[s];
            in[FUL_IN_R(bp) + s] = float_bits(b[j].reward[s]);
            in[FUL_IN_T(bp) + s] = float_bits(b[j].terminated[s]);
        }
        in[FUL_IN_G(bp)] = next[j];
        in[FUL_IN_GAMMA(bp)] = float_bits(l->gamma);
        float *hyp = (float *)(in + FUL_IN_HYP(bp));
        hyp[FUL_HYP_B1] = l->beta1;
        hyp[FUL_HYP_B2] = l->beta2;
        hyp[FUL_HYP_EPS] = l->eps;
        hyp[FUL_HYP_OMB1] = 1.0f - l->beta1; /* as ref_adam */
        hyp[FUL_HYP_OMB2] = 1.0f - l->beta2;
        hyp[FUL_HYP_HUBER] = l->huber_delta;
        hyp[FUL_HYP_NORM] = l->max_grad_norm;
        const int steps = l->mode == CLDQN_UPDATE_PER_SAMPLE ? b[j].n : 1;
        float *sc = (float *)(in + FUL_IN_ADAM(bp));
        for (int s = 0; s < steps; s++)
            cldqn_fused_adam_scalars(l, d->adam_t[i] + 1 + s, &sc[2 * s], &sc[2 * s + 1]);
        d->adam_t[i] += steps;
    }
    cl_command_queue cq = d->cl->queue;
    const int B = b[0].n;
    CL_TRY(clSetKernelArg(d->kern, 8, sizeof(int), &B));
    CL_TRY(clSetKernelArg(d->kern_tt, 8, sizeof(int), &B));
    CL_TRY(clEnqueueWriteBuffer(cq, d->list, CL_FALSE, 0, (size_t)n * sizeof(int32_t), nets, 0,
                                NULL, EV(d, "write:pop_list", "transfer")));
    /* The packed inputs from the first to the last network listed, in one write. */
    const size_t lo = (size_t)nets[0] * d->stride, hi = (size_t)(nets[n - 1] + 1) * d->stride;
    CL_TRY(clEnqueueWriteBuffer(cq, d->in, CL_FALSE, lo * sizeof(int32_t),
                                (hi - lo) * sizeof(int32_t), d->stage + lo, 0, NULL,
                                EV(d, "write:fused_in", "transfer")));
    size_t global = (size_t)n * d->wg, local = d->wg;
    CL_TRY(clEnqueueNDRangeKernel(
        cq, d->use_table ? d->kern_tt : d->kern, 1, NULL, &global, &local, 0, NULL,
        EV(d, d->use_table ? "fused_update_pop_tt" : "fused_update_pop", "kernel")));
    CL_TRY(clEnqueueReadBuffer(cq, d->out, CL_TRUE, 0, (size_t)q->k * 2 * sizeof(int32_t), d->res,
                               0, NULL, EV(d, "read:fused_out", "transfer")));
    for (int j = 0; j < n; j++) {
        memcpy(&loss[j], &d->res[2 * nets[j]], sizeof(float));
        action[j] = d->res[2 * nets[j] + 1];
    }
    return CLDQN_OK;
}

static cldqn_status pop_greedy(cldqn_qnets *q, int n, const int32_t *nets, const int32_t *states,
                               int32_t *actions)
{
    pop_dev *d = q->pop;
    if ((size_t)n > d->act_cap) { /* grows to the largest request (an evaluation's 500) */
        release(&d->act_in);
        release(&d->act_out);
        free(d->act_sa);
        d->act_cap = 0;
        d->act_sa = calloc(2 * (size_t)n, sizeof(int32_t));
        if (!d->act_sa) return cldqn_fail(CLDQN_ERR_NOMEM, "out of memory acting");
        cldqn_status st;
        if ((st = make_buffer(d, 2 * (size_t)n * sizeof(int32_t), d->act_sa, &d->act_in)) ||
            (st = make_buffer(d, (size_t)n * sizeof(int32_t), d->act_sa, &d->act_out)))
            return st;
        CL_TRY(clSetKernelArg(d->act_kern, 1, sizeof(cl_mem), &d->act_in));
        CL_TRY(clSetKernelArg(d->act_kern, 8, sizeof(cl_mem), &d->act_out));
        d->act_cap = (size_t)n;
    }
    for (int j = 0; j < n; j++) {
        d->act_sa[2 * j] = states[j];
        d->act_sa[2 * j + 1] = nets[j];
    }
    cl_command_queue cq = d->cl->queue;
    CL_TRY(clEnqueueWriteBuffer(cq, d->act_in, CL_FALSE, 0, 2 * (size_t)n * sizeof(int32_t),
                                d->act_sa, 0, NULL, EV(d, "write:states", "transfer")));
    size_t global = (size_t)n * d->act_wg;
    CL_TRY(clEnqueueNDRangeKernel(cq, d->act_kern, 1, NULL, &global, &d->act_wg, 0, NULL,
                                  EV(d, "q_act_pop", "kernel")));
    CL_TRY(clEnqueueReadBuffer(cq, d->act_out, CL_TRUE, 0, (size_t)n * sizeof(int32_t), actions, 0,
                               NULL, EV(d, "read:actions", "transfer")));
    return CLDQN_OK;
}

/* One copy per run of adjacent networks (usually all of them at once;
 * Oclgrind tracks a whole-buffer copy correctly, where it marks offset
 * copies as uninitialised), then their tables. */
static cldqn_status pop_sync(cldqn_qnets *q, int n, const int32_t *nets)
{
    pop_dev *d = q->pop;
    const size_t bytes = q->lay.total * sizeof(float);
    int np = 0;
    for (int j = 0; j < n; j++)
        if (cldqn_tau_averages(q->cfgs[nets[j]].tau)) {
            d->pl[np] = nets[j];
            d->pt[np++] = q->cfgs[nets[j]].tau;
        }
    if (np) {
        cl_command_queue cq = d->cl->queue;
        const cl_uint total = (cl_uint)q->lay.total, un = (cl_uint)np;
        /* Blocking: the next sync rewrites pl and pt. */
        CL_TRY(clEnqueueWriteBuffer(cq, d->plist, CL_TRUE, 0, (size_t)np * sizeof(int32_t), d->pl,
                                    0, NULL, EV(d, "write:list", "transfer")));
        CL_TRY(clEnqueueWriteBuffer(cq, d->ptau, CL_TRUE, 0, (size_t)np * sizeof(float), d->pt, 0,
                                    NULL, EV(d, "write:tau", "transfer")));
        CL_TRY(clSetKernelArg(d->kern_polyak, 4, sizeof(cl_uint), &total));
        CL_TRY(clSetKernelArg(d->kern_polyak, 5, sizeof(cl_uint), &un));
        const size_t items = (size_t)np * total;
        CL_TRY(clEnqueueNDRangeKernel(cq, d->kern_polyak, 1, NULL, &items, NULL, 0, NULL,
                                      EV(d, "polyak_pop", "kernel")));
    }
    for (int j = 0; j < n;) {
        if (cldqn_tau_averages(q->cfgs[nets[j]].tau)) {
            j++;
            continue;
        }
        int e = j + 1;
        while (e < n && nets[e] == nets[e - 1] + 1 && !cldqn_tau_averages(q->cfgs[nets[e]].tau))
            e++;
        CL_TRY(clEnqueueCopyBuffer(d->cl->queue, d->buf[CLDQN_BUF_PARAMS], d->buf[CLDQN_BUF_TARGET],
                                   (size_t)nets[j] * bytes, (size_t)nets[j] * bytes,
                                   (size_t)(e - j) * bytes, 0, NULL,
                                   EV(d, "copy:target", "transfer")));
        j = e;
    }
    if (!d->use_table) return CLDQN_OK;
    memcpy(d->tl, nets, (size_t)n * sizeof(int32_t));
    return build_tables(d, n);
}

static cldqn_status pop_read(cldqn_qnets *q, int i, cldqn_qnet_buffer which, float *out)
{
    const size_t bytes = q->lay.total * sizeof(float);
    static const char *const names[5] = {"read:params", "read:target", "read:grad", "read:adam_m",
                                         "read:adam_v"};
    CL_TRY(clEnqueueReadBuffer(q->pop->cl->queue, q->pop->buf[which], CL_TRUE, (size_t)i * bytes,
                               bytes, out, 0, NULL, EV(q->pop, names[which], "transfer")));
    return CLDQN_OK;
}

static const qnets_ops pop_ops = {pop_update, pop_greedy, pop_sync, pop_read, pop_free};

static cldqn_status pop_kernels(cldqn_qnets *q, const cldqn_qnet_options *opt)
{
    pop_dev *d = q->pop;
    char opts[512];
    cldqn_fused_build_options(&q->lay, &q->cfgs[0], opt->max_batch, opts, sizeof opts);
    cldqn_status st;
    if ((st = cldqn_cl_build_program(d->cl, "fused", opts, &d->prog)) ||
        (st = cldqn_cl_create_kernel(d->prog, "fused_update_pop", &d->kern)) ||
        (st = cldqn_cl_create_kernel(d->prog, "fused_update_pop_tt", &d->kern_tt)) ||
        (st = cldqn_cl_create_kernel(d->prog, "fused_target_table_pop", &d->kern_table)) ||
        (st = cldqn_cl_create_kernel(d->prog, "polyak_pop", &d->kern_polyak)) ||
        (st = cldqn_cl_build_program(d->cl, "act", NULL, &d->act_prog)) ||
        (st = cldqn_cl_create_kernel(d->act_prog, "q_act_pop", &d->act_kern)))
        return st;
    d->wg = cldqn_cl_kernel_wg(d->cl, d->kern, cldqn_fused_wg_cap(d->cl));
    d->act_wg = cldqn_cl_kernel_wg(d->cl, d->act_kern, cldqn_act_wg_cap(d->cl));
    if (d->wg < 1 || d->act_wg < 1)
        return cldqn_fail(CLDQN_ERR_OPENCL, "population: device allows no work-group");
    return CLDQN_OK;
}

static cldqn_status pop_create(cldqn_qnets *q, const cldqn_qnet_options *opt,
                               const float *const init[4], int table)
{
    q->ops = &pop_ops;
    pop_dev *d = q->pop = calloc(1, sizeof *q->pop);
    if (!d) return cldqn_fail(CLDQN_ERR_NOMEM, "population: out of memory");
    const size_t K = (size_t)q->k, total = q->lay.total;
    d->bp = FUL_R16(opt->max_batch);
    d->stride = FUL_IN_STRIDE((size_t)d->bp);
    d->nws = cldqn_fused_scratch_floats(&q->lay.shape, opt->max_batch);
    d->use_table = table;
    d->stage = calloc(K * d->stride, sizeof(int32_t));
    d->res = calloc(2 * K, sizeof(int32_t));
    d->tl = calloc(K, sizeof(int32_t));
    d->adam_t = calloc(K, sizeof(int));
    d->pl = calloc(K, sizeof(int32_t));
    d->pt = calloc(K, sizeof(float));
    if (!d->stage || !d->res || !d->tl || !d->adam_t || !d->pl || !d->pt)
        return cldqn_fail(CLDQN_ERR_NOMEM, "population: out of memory");
    cldqn_status st = cldqn_cl_create_groups(opt->device, opt->profile, q->k, &d->cl);
    if (!st) st = pop_kernels(q, opt);
    if (st) return st;
    float *zeros = calloc(K * (total > d->nws ? total : d->nws), sizeof(float));
    if (!zeros) return cldqn_fail(CLDQN_ERR_NOMEM, "population: out of memory");
    const size_t pb = K * total * sizeof(float);
    for (size_t i = 0; i < K; i++) d->tl[i] = (int32_t)i;
    /* Whole-buffer writes: Oclgrind takes a write at an offset for
     * uninitialised memory, as it does offset copies. */
    if ((st = make_buffer(d, pb, init[0], &d->buf[CLDQN_BUF_PARAMS])) ||
        (st = make_buffer(d, pb, init[1] ? init[1] : init[0], &d->buf[CLDQN_BUF_TARGET])) ||
        (st = make_buffer(d, pb, zeros, &d->buf[CLDQN_BUF_GRAD])) ||
        (st = make_buffer(d, pb, init[2] ? init[2] : zeros, &d->buf[CLDQN_BUF_ADAM_M])) ||
        (st = make_buffer(d, pb, init[3] ? init[3] : zeros, &d->buf[CLDQN_BUF_ADAM_V])) ||
        /* zero scratch: padding columns are read into unused lanes */
        (st = make_buffer(d, K * d->nws * sizeof(float), zeros, &d->ws)) ||
        (st = make_buffer(d, K * d->stride * sizeof(int32_t), d->stage, &d->in)) ||
        (st = make_buffer(d, K * 2 * sizeof(int32_t), d->res, &d->out)) ||
        (st = make_buffer(d, K * sizeof(int32_t), d->tl, &d->list)) ||
        (st = make_buffer(d, K * sizeof(int32_t), d->tl, &d->tlist)) ||
        (st = make_buffer(d, K * sizeof(int32_t), d->tl, &d->plist)) ||
        (st = make_buffer(d, K * sizeof(float), zeros, &d->ptau))) {
        free(zeros);
        return st;
    }
    free(zeros);
    cl_mem order[5] = {d->buf[CLDQN_BUF_PARAMS], d->buf[CLDQN_BUF_GRAD], d->buf[CLDQN_BUF_ADAM_M],
                       d->buf[CLDQN_BUF_ADAM_V], d->buf[CLDQN_BUF_TARGET]};
    cl_kernel ks[2] = {d->kern, d->kern_tt};
    for (int k = 0; k < 2; k++) {
        for (cl_uint j = 0; j < 5; j++) CL_TRY(clSetKernelArg(ks[k], j, sizeof(cl_mem), &order[j]));
        CL_TRY(clSetKernelArg(ks[k], 5, sizeof(cl_mem), &d->in));
        CL_TRY(clSetKernelArg(ks[k], 6, sizeof(cl_mem), &d->ws));
        CL_TRY(clSetKernelArg(ks[k], 7, sizeof(cl_mem), &d->out));
        CL_TRY(clSetKernelArg(ks[k], 9, sizeof(cl_mem), &d->list));
    }
    CL_TRY(clSetKernelArg(d->kern_table, 0, sizeof(cl_mem), &d->buf[CLDQN_BUF_TARGET]));
    CL_TRY(clSetKernelArg(d->kern_table, 1, sizeof(cl_mem), &d->ws));
    CL_TRY(clSetKernelArg(d->kern_table, 2, sizeof(cl_mem), &d->tlist));
    CL_TRY(clSetKernelArg(d->kern_polyak, 0, sizeof(cl_mem), &d->buf[CLDQN_BUF_PARAMS]));
    CL_TRY(clSetKernelArg(d->kern_polyak, 1, sizeof(cl_mem), &d->buf[CLDQN_BUF_TARGET]));
    CL_TRY(clSetKernelArg(d->kern_polyak, 2, sizeof(cl_mem), &d->plist));
    CL_TRY(clSetKernelArg(d->kern_polyak, 3, sizeof(cl_mem), &d->ptau));
    const cldqn_net_shape *sh = &q->lay.shape;
    const cl_uint stride = (cl_uint)total, w_off0 = (cl_uint)q->lay.t[1].offset;
    const int E = sh->embed, H = sh->hidden, L = sh->layers, A = sh->n_actions;
    const size_t width = (size_t)FUL_MAX(FUL_MAX(E, H), A);
    CL_TRY(clSetKernelArg(d->act_kern, 0, sizeof(cl_mem), &d->buf[CLDQN_BUF_PARAMS]));
    CL_TRY(clSetKernelArg(d->act_kern, 2, sizeof(cl_uint), &stride));
    CL_TRY(clSetKernelArg(d->act_kern, 3, sizeof(int), &E));
    CL_TRY(clSetKernelArg(d->act_kern, 4, sizeof(int), &H));
    CL_TRY(clSetKernelArg(d->act_kern, 5, sizeof(int), &L));
    CL_TRY(clSetKernelArg(d->act_kern, 6, sizeof(int), &A));
    CL_TRY(clSetKernelArg(d->act_kern, 7, sizeof(cl_uint), &w_off0));
    CL_TRY(clSetKernelArg(d->act_kern, 9, width * sizeof(float), NULL));
    CL_TRY(clSetKernelArg(d->act_kern, 10, width * sizeof(float), NULL));
    return d->use_table ? build_tables(d, q->k) : CLDQN_OK;
}

/* ---- the table's users ---------------------------------------------------- */

static int use_pop(const cldqn_qnets *q, const cldqn_qnet_options *o)
{
    if (q->k < 2 || o->backend != CLDQN_BACKEND_OPENCL || o->path == CLDQN_PATH_LAYERED) return 0;
    /* AUTO as qnet.c decides it for one network. */
    if (o->path == CLDQN_PATH_AUTO && (!cldqn_fused_auto_width(&q->lay.shape) ||
                                       cldqn_fused_check(&q->lay, &q->cfgs[0]) != CLDQN_OK)) {
        cldqn_clear_error();
        return 0;
    }
    return 1;
}

cldqn_status cldqn_qnets_create(const cldqn_layout *lay, int k, const cldqn_learn_config *cfgs,
                                const cldqn_qnet_options *opt, const float *const init[4],
                                int table, cldqn_qnets **out)
{
    *out = NULL;
    if (!lay || k < 1 || !cfgs || !opt || !init || !init[0])
        return cldqn_fail(CLDQN_ERR_ARG, "qnets_create: bad argument");
    cldqn_qnets *q = calloc(1, sizeof *q);
    if (!q) return cldqn_fail(CLDQN_ERR_NOMEM, "out of memory creating the networks");
    q->k = k;
    q->lay = *lay;
    q->cfgs = malloc((size_t)k * sizeof *q->cfgs);
    if (!q->cfgs) {
        free(q);
        return cldqn_fail(CLDQN_ERR_NOMEM, "out of memory creating the networks");
    }
    memcpy(q->cfgs, cfgs, (size_t)k * sizeof *q->cfgs);
    cldqn_status st;
    if (use_pop(q, opt)) {
        st = cldqn_fused_check(lay, &cfgs[0]);
        if (!st) st = pop_create(q, opt, init, table);
    } else {
        st = each_create(q, opt, init);
    }
    if (st) {
        cldqn_qnets_free(q);
        return st;
    }
    *out = q;
    return CLDQN_OK;
}

void cldqn_qnets_free(cldqn_qnets *q)
{
    if (!q) return;
    if (q->ops) q->ops->free(q);
    free(q->cfgs);
    free(q);
}

/* Profiling of the population kernels, as qnet.c's of one network: a host
 * span per call, lasting until the device finished its commands, and the
 * commands' device spans. */
static double prof_begin(const cldqn_qnets *q)
{
    return q->pop && q->trace ? cldqn_trace_now() : 0.0;
}

static cldqn_status prof_end(cldqn_qnets *q, const char *name, double t0, cldqn_status st)
{
    if (!q->pop || !q->trace) return st;
    double t1 = cldqn_trace_now(), anchor = cldqn_clprof_drain(&q->pop->prof, q->pop->cl->queue);
    cldqn_trace_span(q->trace, name, "qnet", t0, anchor > t1 ? anchor : t1, CLDQN_TRACE_TID_HOST);
    return st;
}

cldqn_status cldqn_qnets_update(cldqn_qnets *q, int n, const int32_t *nets,
                                const cldqn_batch *batches, const int32_t *next, float *loss,
                                int32_t *action)
{
    if (n <= 0) return CLDQN_OK;
    q->launches += q->pop ? 1 : n;
    double t0 = prof_begin(q);
    return prof_end(q, "qnets update", t0, q->ops->update(q, n, nets, batches, next, loss, action));
}

cldqn_status cldqn_qnets_greedy(cldqn_qnets *q, int n, const int32_t *nets, const int32_t *states,
                                int32_t *actions)
{
    if (n <= 0) return CLDQN_OK;
    double t0 = prof_begin(q);
    return prof_end(q, "qnets greedy", t0, q->ops->greedy(q, n, nets, states, actions));
}

cldqn_status cldqn_qnets_sync(cldqn_qnets *q, int n, const int32_t *nets)
{
    if (n <= 0) return CLDQN_OK;
    double t0 = prof_begin(q);
    return prof_end(q, "qnets sync", t0, q->ops->sync(q, n, nets));
}

cldqn_status cldqn_qnets_read(cldqn_qnets *q, int i, cldqn_qnet_buffer which, float *out)
{
    if (i < 0 || i >= q->k || (int)which < 0 || (int)which > CLDQN_BUF_ADAM_V || !out)
        return cldqn_fail(CLDQN_ERR_ARG, "qnets_read: bad argument");
    double t0 = prof_begin(q);
    return prof_end(q, "qnets read", t0, q->ops->read(q, i, which, out));
}

void cldqn_qnets_set_lr(cldqn_qnets *q, int i, float lr)
{
    q->cfgs[i].lr = lr;
    if (!q->pop) cldqn_qnet_set_lr(q->nets[i], lr);
}

int cldqn_qnets_adam_step(const cldqn_qnets *q, int i)
{
    return q->pop ? q->pop->adam_t[i] : cldqn_qnet_adam_step(q->nets[i]);
}

void cldqn_qnets_set_adam_step(cldqn_qnets *q, int i, int t)
{
    if (q->pop)
        q->pop->adam_t[i] = t;
    else
        cldqn_qnet_set_adam_step(q->nets[i], t);
}

cldqn_status cldqn_qnets_set_trace(cldqn_qnets *q, cldqn_trace *tr)
{
    q->trace = tr;
    if (q->pop) cldqn_clprof_attach(&q->pop->prof, tr, q->pop->cl->profile);
    for (int i = 0; q->nets && i < q->k; i++) {
        cldqn_status st = cldqn_qnet_set_trace(q->nets[i], tr);
        if (st) return st;
    }
    return CLDQN_OK;
}

cldqn_qnet *cldqn_qnets_net(cldqn_qnets *q, int i)
{
    return q->nets ? q->nets[i] : NULL;
}

const char *cldqn_qnets_device_name(const cldqn_qnets *q)
{
    return q->pop ? q->pop->cl->info.name : cldqn_qnet_device_name(q->nets[0]);
}

int64_t cldqn_qnets_launches(const cldqn_qnets *q)
{
    return q->launches;
}
