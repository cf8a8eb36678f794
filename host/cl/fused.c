/* fused.c - host side of the fused single-launch update (see fused.h).
 *
 * Builds kernels/fused.cl once per shape and configuration with the sizes as
 * -D defines, packs each minibatch and its per-step Adam scalars into one
 * buffer (one write), launches one work-group and reads back loss and greedy
 * action in one 8-byte read. The program is built through clrt (embedded
 * source or $CLDQN_KERNEL_DIR/fused.cl, common.cl prepended, correctly
 * rounded divide/sqrt where the device has it). */
#include "fused.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clrt.h"
#include "fused_layout.h"

/* Work-group caps. PoCL runs a work-group as a loop on one thread, so idle
 * work-items only cost loop overhead: for the fused update 8-32 measured
 * best here (64 about 1 us slower, 128 about 6 us; docs/benchmarks.md), and
 * q_act's 8 items answer a greedy action in 23 us instead of 53 us with 64.
 * A GPU wants width. */
#define FUSED_WG_CPU 16
#define FUSED_WG_GPU 256
#define ACT_WG_CPU   8
#define ACT_WG_GPU   64

size_t cldqn_fused_wg_cap(const cldqn_cl *cl)
{
    return (cl->info.type & CL_DEVICE_TYPE_CPU) ? FUSED_WG_CPU : FUSED_WG_GPU;
}

size_t cldqn_act_wg_cap(const cldqn_cl *cl)
{
    return (cl->info.type & CL_DEVICE_TYPE_CPU) ? ACT_WG_CPU : ACT_WG_GPU;
}

/* One work-group does the whole update, so a wide enough network must go to
 * the layered kernels (CLBlast GEMM, many work-groups). Measured on PoCL
 * (cldqn bench): fused still 8x ahead of layered at width 512; beyond the
 * measured range AUTO takes the layered path. */
#define FUSED_MAX_WIDTH 512

int cldqn_fused_auto_width(const cldqn_net_shape *s)
{
    int w = s->embed;
    if (s->layers > 0 && s->hidden > w) w = s->hidden;
    if (s->n_actions > w) w = s->n_actions;
    return w <= FUSED_MAX_WIDTH;
}

struct cldqn_fused {
    cldqn_cl *cl;
    cl_command_queue queue;
    cl_program prog;
    cl_kernel kern;       /* fused_update: target forward over the batch */
    cl_kernel kern_tt;    /* fused_update_tt: max_a Q_target(s') from the table */
    cl_kernel kern_table; /* fused_target_table */
    cl_mem in;            /* packed batch (ints), see fused_layout.h */
    cl_mem ws;            /* scratch */
    cl_mem out;           /* [0] loss bits, [1] greedy action */
    cl_mem bound[5];
    int bound_b;
    /* The table of max_a Q_target(s) in the scratch: valid for table_target
     * until the caller reports a change; used while the target stays put for
     * long enough to repay building it (see cldqn_fused_update). */
    int table_mode; /* -1 auto, 0 never, 1 always */
    int use_table, table_ok;
    cl_mem table_target;
    int64_t since_change, tables;
    cldqn_layout lay;
    cldqn_learn_config cfg;
    int max_batch, bp;
    size_t wg;
    int32_t *stage; /* host copy of the packed input; stays valid while enqueued */
    size_t stage_ints;
    cldqn_clprof *prof; /* events of profiled updates, or NULL */
};

#define CL_TRY(call) CLDQN_CL_CHECK(call)

static int round_up(int n, int k)
{
    return (n + k - 1) / k * k;
}

/* Scratch floats the kernel uses (fused_layout.h). */
static size_t scratch_floats(const cldqn_net_shape *s, int bp)
{
    const size_t S = (size_t)s->n_states, E = (size_t)s->embed, H = (size_t)s->hidden,
                 L = (size_t)s->layers, A = (size_t)s->n_actions, B = (size_t)bp;
    return FUL_SCRATCH(S, E, H, L, A, B);
}

/* The kernel computes offsets with cldqn_layout_init's contiguous formula. */
static cldqn_status check_layout(const cldqn_layout *lay)
{
    cldqn_layout want;
    cldqn_status st = cldqn_layout_init(&lay->shape, &want);
    if (st != CLDQN_OK) return st;
    if (want.n_tensors != lay->n_tensors || want.total != lay->total)
        return cldqn_fail(CLDQN_ERR_ARG, "fused: layout is not the standard contiguous one");
    for (int i = 0; i < want.n_tensors; i++)
        if (want.t[i].offset != lay->t[i].offset || want.t[i].rows != lay->t[i].rows ||
            want.t[i].cols != lay->t[i].cols)
            return cldqn_fail(CLDQN_ERR_ARG, "fused: tensor %s is not where the kernel expects it",
                              lay->t[i].name);
    return CLDQN_OK;
}

void cldqn_fused_build_options(const cldqn_layout *lay, const cldqn_learn_config *cfg,
                               int max_batch, char *buf, size_t size)
{
    const cldqn_net_shape *s = &lay->shape;
    snprintf(buf, size,
             "-DFU_S=%d -DFU_E=%d -DFU_H=%d -DFU_L=%d -DFU_A=%d -DFU_BP=%d -DFU_MODE=%d "
             "-DFU_LOSS=%d -DFU_ADAM=%d -DFU_CLIP=%d",
             s->n_states, s->embed, s->hidden, s->layers, s->n_actions, round_up(max_batch, 16),
             cfg->mode == CLDQN_UPDATE_PER_SAMPLE, cfg->loss == CLDQN_LOSS_HUBER,
             cfg->adam == CLDQN_ADAM_KERAS, cfg->max_grad_norm > 0.0f);
}

size_t cldqn_fused_scratch_floats(const cldqn_net_shape *s, int max_batch)
{
    return scratch_floats(s, round_up(max_batch, 16));
}

static cldqn_status build(cldqn_fused *f)
{
    char opts[512];
    cldqn_fused_build_options(&f->lay, &f->cfg, f->max_batch, opts, sizeof opts);
    cldqn_status st = cldqn_cl_build_program(f->cl, "fused", opts, &f->prog);
    if (st == CLDQN_OK) st = cldqn_cl_create_kernel(f->prog, "fused_update", &f->kern);
    if (st == CLDQN_OK) st = cldqn_cl_create_kernel(f->prog, "fused_update_tt", &f->kern_tt);
    if (st == CLDQN_OK) st = cldqn_cl_create_kernel(f->prog, "fused_target_table", &f->kern_table);
    return st;
}

static cldqn_status check_config(const cldqn_learn_config *c)
{
    if (c->mode != CLDQN_UPDATE_MEAN && c->mode != CLDQN_UPDATE_PER_SAMPLE)
        return cldqn_fail(CLDQN_ERR_ARG, "fused: unknown update mode %d", (int)c->mode);
    if (c->loss != CLDQN_LOSS_MSE && c->loss != CLDQN_LOSS_HUBER)
        return cldqn_fail(CLDQN_ERR_ARG, "fused: unknown loss kind %d", (int)c->loss);
    if (c->adam != CLDQN_ADAM_TORCH && c->adam != CLDQN_ADAM_KERAS)
        return cldqn_fail(CLDQN_ERR_ARG, "fused: unknown Adam kind %d", (int)c->adam);
    if (!(c->max_grad_norm >= 0.0f))
        return cldqn_fail(CLDQN_ERR_ARG, "fused: max grad norm %g must be >= 0", c->max_grad_norm);
    return CLDQN_OK;
}

cldqn_status cldqn_fused_check(const cldqn_layout *lay, const cldqn_learn_config *cfg)
{
    cldqn_status st = check_layout(lay);
    return st == CLDQN_OK ? check_config(cfg) : st;
}

static cldqn_status create(cldqn_fused *f, size_t wg_cap)
{
    cldqn_status st = build(f);
    if (st != CLDQN_OK) return st;
    /* CL_KERNEL_WORK_GROUP_SIZE capped by the device, rounded to a power of 2. */
    const size_t cap = wg_cap ? wg_cap : cldqn_fused_wg_cap(f->cl);
    f->wg = cldqn_cl_kernel_wg(f->cl, f->kern, cap);
    if (f->wg < 1) return cldqn_fail(CLDQN_ERR_OPENCL, "fused: device allows no work-group");

    /* states, actions, next states, rewards, terminated, greedy state, Adam */
    f->stage_ints = FUL_IN_HYP((size_t)f->bp);
    f->stage = calloc(f->stage_ints, sizeof(int32_t));
    if (!f->stage) return cldqn_fail(CLDQN_ERR_NOMEM, "fused: out of memory");
    cl_int err;
    f->in =
        clCreateBuffer(f->cl->ctx, CL_MEM_READ_ONLY, f->stage_ints * sizeof(int32_t), NULL, &err);
    if (err != CL_SUCCESS) return cldqn_cl_check(err, "clCreateBuffer", __FILE__, __LINE__);
    size_t nws = scratch_floats(&f->lay.shape, f->bp);
    f->ws = clCreateBuffer(f->cl->ctx, CL_MEM_READ_WRITE, nws * sizeof(float), NULL, &err);
    if (err != CL_SUCCESS) return cldqn_cl_check(err, "clCreateBuffer", __FILE__, __LINE__);
    f->out = clCreateBuffer(f->cl->ctx, CL_MEM_WRITE_ONLY, 2 * sizeof(int32_t), NULL, &err);
    if (err != CL_SUCCESS) return cldqn_cl_check(err, "clCreateBuffer", __FILE__, __LINE__);
    /* Zero scratch: the padding columns of the row-major activations are
     * read (into lanes no result uses) and never written. */
    float *zeros = calloc(nws, sizeof(float));
    if (!zeros) return cldqn_fail(CLDQN_ERR_NOMEM, "fused: out of memory");
    cl_int werr = clEnqueueWriteBuffer(f->queue, f->ws, CL_TRUE, 0, nws * sizeof(float), zeros, 0,
                                       NULL, NULL);
    free(zeros);
    if (werr != CL_SUCCESS) return cldqn_cl_check(werr, "clEnqueueWriteBuffer", __FILE__, __LINE__);
    CL_TRY(clEnqueueWriteBuffer(f->queue, f->in, CL_TRUE, 0, f->stage_ints * sizeof(int32_t),
                                f->stage, 0, NULL, NULL));

    const cldqn_learn_config *c = &f->cfg;
    const float omb1 = 1.0f - c->beta1, omb2 = 1.0f - c->beta2; /* as ref_adam */
    cl_kernel ks[2] = {f->kern, f->kern_tt};
    for (int i = 0; i < 2; i++) {
        CL_TRY(clSetKernelArg(ks[i], 5, sizeof(cl_mem), &f->in));
        CL_TRY(clSetKernelArg(ks[i], 6, sizeof(cl_mem), &f->ws));
        CL_TRY(clSetKernelArg(ks[i], 7, sizeof(cl_mem), &f->out));
        CL_TRY(clSetKernelArg(ks[i], 9, sizeof(float), &c->gamma));
        CL_TRY(clSetKernelArg(ks[i], 10, sizeof(float), &c->beta1));
        CL_TRY(clSetKernelArg(ks[i], 11, sizeof(float), &c->beta2));
        CL_TRY(clSetKernelArg(ks[i], 12, sizeof(float), &c->eps));
        CL_TRY(clSetKernelArg(ks[i], 13, sizeof(float), &omb1));
        CL_TRY(clSetKernelArg(ks[i], 14, sizeof(float), &omb2));
        CL_TRY(clSetKernelArg(ks[i], 15, sizeof(float), &c->huber_delta));
        CL_TRY(clSetKernelArg(ks[i], 16, sizeof(float), &c->max_grad_norm));
    }
    CL_TRY(clSetKernelArg(f->kern_table, 1, sizeof(cl_mem), &f->ws));
    return CLDQN_OK;
}

cldqn_status cldqn_fused_create(cldqn_cl *cl, const cldqn_layout *lay,
                                const cldqn_learn_config *cfg, int max_batch, size_t wg_cap,
                                cldqn_fused **out)
{
    if (!out) return cldqn_fail(CLDQN_ERR_ARG, "fused_create: NULL output pointer");
    *out = NULL;
    if (!cl || !lay || !cfg) return cldqn_fail(CLDQN_ERR_ARG, "fused_create: NULL argument");
    if (max_batch < 1 || max_batch > (1 << 20))
        return cldqn_fail(CLDQN_ERR_ARG, "fused_create: max batch %d not in [1, 2^20]", max_batch);
    cldqn_status st = check_layout(lay);
    if (st == CLDQN_OK) st = check_config(cfg);
    if (st != CLDQN_OK) return st;
    cldqn_fused *f = calloc(1, sizeof *f);
    if (!f) return cldqn_fail(CLDQN_ERR_NOMEM, "fused_create: out of memory");
    f->cl = cl;
    f->queue = cl->queue;
    f->lay = *lay;
    f->cfg = *cfg;
    f->max_batch = max_batch;
    f->bp = round_up(max_batch, 16);
    f->bound_b = -1;
    f->table_mode = -1;
    st = create(f, wg_cap);
    if (st != CLDQN_OK) {
        cldqn_fused_free(f);
        return st;
    }
    *out = f;
    return CLDQN_OK;
}

void cldqn_fused_free(cldqn_fused *f)
{
    if (!f) return;
    if (f->kern) clReleaseKernel(f->kern);
    if (f->kern_tt) clReleaseKernel(f->kern_tt);
    if (f->kern_table) clReleaseKernel(f->kern_table);
    if (f->prog) clReleaseProgram(f->prog);
    if (f->in) clReleaseMemObject(f->in);
    if (f->ws) clReleaseMemObject(f->ws);
    if (f->out) clReleaseMemObject(f->out);
    free(f->stage);
    free(f);
}

void cldqn_fused_set_prof(cldqn_fused *f, cldqn_clprof *prof)
{
    if (f) f->prof = prof;
}

/* The table is a target forward over all S states in 16-lane chunks; an
 * update saves the chunks of its batch (at least one when unknown). */
int64_t cldqn_fused_table_payoff(const cldqn_net_shape *s, int max_batch, int batch)
{
    const int64_t bp = round_up(max_batch, 16), saved = batch > 0 ? (batch + 15) / 16 : 1;
    const int64_t table = ((int64_t)s->n_states + bp - 1) / bp * (bp / 16);
    return (2 * table + saved - 1) / saved;
}

void cldqn_fused_set_lr(cldqn_fused *f, float lr)
{
    if (f) f->cfg.lr = lr;
}

void cldqn_fused_target_changed(cldqn_fused *f)
{
    if (!f) return;
    f->table_ok = 0;
    f->use_table = f->table_mode == 1 ||
                   (f->table_mode < 0 &&
                    f->since_change >= cldqn_fused_table_payoff(&f->lay.shape, f->max_batch, 0));
    f->since_change = 0;
}

void cldqn_fused_set_table(cldqn_fused *f, int mode)
{
    if (!f) return;
    f->table_mode = mode < 0 ? -1 : mode > 0;
    f->use_table = mode > 0;
    f->table_ok = 0;
}

int64_t cldqn_fused_tables(const cldqn_fused *f)
{
    return f->tables;
}

int cldqn_fused_adam_steps(const cldqn_fused *f, int n)
{
    return f->cfg.mode == CLDQN_UPDATE_PER_SAMPLE ? n : 1;
}

size_t cldqn_fused_wg(const cldqn_fused *f)
{
    return f->wg;
}

static int32_t float_bits(float x)
{
    int32_t i;
    memcpy(&i, &x, sizeof i);
    return i;
}

/* Adam's per-step scalars for step t, computed exactly as ref_adam does
 * (double, rounded to float once): TORCH (-lr/bc1, sqrt(bc2)); KERAS
 * (lr sqrt(bc2)/bc1, unused). */
void cldqn_fused_adam_scalars(const cldqn_learn_config *c, int t, float *s0, float *s1)
{
    const double bc1 = 1.0 - pow((double)c->beta1, (double)t);
    const double bc2 = 1.0 - pow((double)c->beta2, (double)t);
    if (c->adam == CLDQN_ADAM_TORCH) {
        *s0 = (float)(-(double)c->lr / bc1);
        *s1 = (float)sqrt(bc2);
    } else {
        *s0 = (float)((double)c->lr * sqrt(bc2) / bc1);
        *s1 = 1.0f;
    }
}

cldqn_status cldqn_fused_update(cldqn_fused *f, cl_mem params, cl_mem grad, cl_mem m, cl_mem v,
                                cl_mem target, const cldqn_batch *batch, int adam_t, int next_state,
                                float *loss, int32_t *next_action)
{
    if (!f || !batch) return cldqn_fail(CLDQN_ERR_ARG, "fused_update: NULL argument");
    if (!params || !grad || !m || !v || !target)
        return cldqn_fail(CLDQN_ERR_ARG, "fused_update: NULL buffer");
    const cldqn_batch *b = batch;
    const int n = b->n, S = f->lay.shape.n_states, A = f->lay.shape.n_actions, bp = f->bp;
    if (n < 1 || n > f->max_batch)
        return cldqn_fail(CLDQN_ERR_ARG, "fused_update: batch size %d not in [1,%d]", n,
                          f->max_batch);
    if (!b->state || !b->action || !b->reward || !b->next_state || !b->terminated)
        return cldqn_fail(CLDQN_ERR_ARG, "fused_update: batch has a NULL array");
    if (next_state < 0 || next_state >= S)
        return cldqn_fail(CLDQN_ERR_ARG, "fused_update: next state %d not in [0,%d)", next_state,
                          S);
    if (adam_t < 0) return cldqn_fail(CLDQN_ERR_ARG, "fused_update: Adam step %d < 0", adam_t);
    int32_t *in = f->stage;
    for (int i = 0; i < n; i++) {
        if (b->state[i] < 0 || b->state[i] >= S || b->next_state[i] < 0 || b->next_state[i] >= S)
            return cldqn_fail(CLDQN_ERR_ARG,
                              "fused_update: sample %d: state %d or next %d not "
                              "in [0,%d)",
                              i, (int)b->state[i], (int)b->next_state[i], S);
        if (b->action[i] < 0 || b->action[i] >= A)
            return cldqn_fail(CLDQN_ERR_ARG, "fused_update: sample %d: action %d not in [0,%d)", i,
                              (int)b->action[i], A);
        in[FUL_IN_S(bp) + i] = b->state[i];
        in[FUL_IN_A(bp) + i] = b->action[i];
        in[FUL_IN_NS(bp) + i] = b->next_state[i];
        in[FUL_IN_R(bp) + i] = float_bits(b->reward[i]);
        in[FUL_IN_T(bp) + i] = float_bits(b->terminated[i]);
    }
    in[FUL_IN_G(bp)] = next_state;
    const int steps = cldqn_fused_adam_steps(f, n);
    float *sc = (float *)(in + FUL_IN_ADAM(bp));
    for (int k = 0; k < steps; k++)
        cldqn_fused_adam_scalars(&f->cfg, adam_t + 1 + k, &sc[2 * k], &sc[2 * k + 1]);

    cl_mem bufs[5] = {params, grad, m, v, target};
    for (int k = 0; k < 5; k++)
        if (bufs[k] != f->bound[k]) {
            CL_TRY(clSetKernelArg(f->kern, (cl_uint)k, sizeof(cl_mem), &bufs[k]));
            CL_TRY(clSetKernelArg(f->kern_tt, (cl_uint)k, sizeof(cl_mem), &bufs[k]));
            f->bound[k] = bufs[k];
        }
    if (n != f->bound_b) {
        CL_TRY(clSetKernelArg(f->kern, 8, sizeof(int), &n));
        CL_TRY(clSetKernelArg(f->kern_tt, 8, sizeof(int), &n));
        f->bound_b = n;
    }
    if (target != f->table_target) { /* another target buffer: a change too */
        cldqn_fused_target_changed(f);
        f->table_target = target;
    }
    f->since_change++;
    if (f->use_table && !f->table_ok) {
        CL_TRY(clSetKernelArg(f->kern_table, 0, sizeof(cl_mem), &target));
        size_t twg = f->wg;
        CL_TRY(clEnqueueNDRangeKernel(f->queue, f->kern_table, 1, NULL, &twg, &twg, 0, NULL,
                                      cldqn_clprof_event(f->prof, "fused_target_table", "kernel")));
        f->table_ok = 1;
        f->tables++;
    }
    const int wait = loss || next_action;
    /* The stage is rewritten by the next call, so without a read that
     * waits the write must be blocking. */
    size_t bytes = (size_t)(FUL_IN_ADAM(bp) + 2 * steps) * sizeof(int32_t);
    CL_TRY(clEnqueueWriteBuffer(f->queue, f->in, wait ? CL_FALSE : CL_TRUE, 0, bytes, in, 0, NULL,
                                cldqn_clprof_event(f->prof, "write:fused_in", "transfer")));
    size_t wg = f->wg;
    CL_TRY(clEnqueueNDRangeKernel(
        f->queue, f->use_table ? f->kern_tt : f->kern, 1, NULL, &wg, &wg, 0, NULL,
        cldqn_clprof_event(f->prof, f->use_table ? "fused_update_tt" : "fused_update", "kernel")));
    if (!wait) {
        CL_TRY(clFlush(f->queue)); /* start it; the caller syncs later */
        return CLDQN_OK;
    }
    int32_t res[2];
    CL_TRY(clEnqueueReadBuffer(f->queue, f->out, CL_TRUE, 0, sizeof res, res, 0, NULL,
                               cldqn_clprof_event(f->prof, "read:fused_out", "transfer")));
    if (loss) memcpy(loss, &res[0], sizeof *loss);
    if (next_action) *next_action = res[1];
    return CLDQN_OK;
}
