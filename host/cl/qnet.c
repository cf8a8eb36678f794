/* qnet.c - the Q-network object of qnet.h on its backends, each a table of
 * operations (qnet_ops): fused OpenCL, layered OpenCL, host reference.
 *
 * REF keeps the five flat buffers (params, target, grad, adam m, adam v) on
 * the host and calls ref_update / ref_q_forward / ref_argmax.
 *
 * OPENCL keeps them on the device and runs the layered kernels of kernels/
 * (one launch per operation, the twins of ref.h), enqueued back to back on one
 * in-order queue with no clFinish inside an update. A minibatch is packed into
 * one staging area and uploaded with one write; the loss is read back only when
 * asked for. Dense layers go through the hand-written kernels or CLBlast's
 * SGEMM, picked by size (see use_gemm; $CLDQN_GEMM=kernel|clblast forces one).
 *
 * Where the fused kernel serves the shape (host/cl/fused.h), an OPENCL update is
 * instead one launch of one work-group that also returns the next greedy
 * action; the layered kernels then only answer q_values and greedy.
 *
 * Profiling (cldqn_qnet_set_trace): each public call becomes a host span and,
 * on a profiling queue, every command it enqueues carries an event that
 * host/cl/clprof.c turns into a device span when the call ends (clFinish then).
 * Without a trace the events are NULL, as before. */
#include "cldqn/qnet.h"

#include <clblast_c.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cldqn/ref.h"
#include "clprof.h"
#include "clrt.h"
#include "fused.h"
#include "qnets.h"

enum { PROG_EMBED, PROG_DENSE, PROG_TD, PROG_OPTIM, PROG_ACT, N_PROGS };
static const char *const prog_names[N_PROGS] = {"embed", "dense", "td", "optim", "act"};

enum {
    K_EMBED_FWD,
    K_EMBED_BWD,
    K_DENSE_FWD,
    K_DENSE_BWD,
    K_BIAS_ACT,
    K_MASK_DB,
    K_TD_TARGET,
    K_TD_LOSS,
    K_KERAS_LOSS,
    K_ARGMAX,
    K_CLIP,
    K_ADAM,
    K_POLYAK,
    K_QACT,
    N_KERNELS
};
static const struct {
    int prog;
    const char *name;
} kernel_defs[N_KERNELS] = {
    {PROG_EMBED, "embed_forward"},  {PROG_EMBED, "embed_backward"},
    {PROG_DENSE, "dense_forward"},  {PROG_DENSE, "dense_backward"},
    {PROG_DENSE, "bias_act"},       {PROG_DENSE, "relu_mask_db"},
    {PROG_TD, "td_target"},         {PROG_TD, "td_loss"},
    {PROG_TD, "keras_sample_loss"}, {PROG_TD, "argmax"},
    {PROG_OPTIM, "clip_grad_norm"}, {PROG_OPTIM, "adam"},
    {PROG_OPTIM, "polyak"},         {PROG_ACT, "q_act"},
};

/* Regions of the packed minibatch, in upload order. */
enum { BATCH_STATE, BATCH_ACTION, BATCH_NEXT, BATCH_REWARD, BATCH_TERM, N_BATCH };

typedef enum { GEMM_AUTO, GEMM_KERNEL, GEMM_CLBLAST } gemm_choice;

typedef struct {
    cldqn_cl *cl;
    cl_program prog[N_PROGS];
    cl_kernel k[N_KERNELS];
    size_t wg[N_KERNELS];
    cl_mem buf[5];        /* indexed by cldqn_qnet_buffer; (total) each */
    cl_mem batch;         /* packed minibatch, N_BATCH regions of region bytes */
    cl_mem bsub[N_BATCH]; /* sub-buffers over the regions */
    size_t region;        /* bytes per region, a multiple of the base address alignment */
    unsigned char *staging;
    cl_event upload;                          /* last batch write, still reading staging */
    cl_mem acts[CLDQN_MAX_HIDDEN_LAYERS + 2]; /* (R, E), L x (R, H), (R, A); R = max rows */
    cl_mem qn;                                /* (max_batch, A) target Q of next states */
    cl_mem y;                                 /* (max_batch) TD targets */
    cl_mem dq;                                /* (max_batch, A) */
    cl_mem d[2];                              /* (R, w) backward ping-pong */
    cl_mem loss;                              /* (1) mean loss of the last update */
    cl_mem lbuf;                              /* (max_batch) per-sample losses */
    cl_mem norm;                              /* (1) gradient norm before clipping */
    cl_mem states;                            /* (max_states) int for q_values/greedy */
    cl_mem actions;                           /* (max_states) int greedy actions */
    gemm_choice gemm;
    cldqn_fused *fused; /* NULL: updates run on the layered kernels */
    int own_cl;         /* cl is this network's (else shared, cldqn_qnet_create_on) */
    cldqn_clprof prof;  /* events of the profiled commands (empty without a trace) */
} clnet;

/* A backend: the operations behind the public calls, which check their
 * arguments first. update_act also returns the greedy action of next. */
typedef struct {
    const char *name; /* cldqn_qnet_path_name */
    cldqn_status (*update)(cldqn_qnet *net, const cldqn_batch *b, float *loss);
    cldqn_status (*update_act)(cldqn_qnet *net, const cldqn_batch *b, int32_t next, float *loss,
                               int32_t *action);
    cldqn_status (*sync)(cldqn_qnet *net);
    cldqn_status (*q_values)(cldqn_qnet *net, const int32_t *states, int n, float *q);
    cldqn_status (*greedy)(cldqn_qnet *net, const int32_t *states, int n, int32_t *actions);
    cldqn_status (*read)(cldqn_qnet *net, cldqn_qnet_buffer which, float *out);
    cldqn_status (*write)(cldqn_qnet *net, cldqn_qnet_buffer which, const float *in);
} qnet_ops;

static const qnet_ops fused_ops, layered_ops, ref_ops; /* defined below */

struct cldqn_qnet {
    const qnet_ops *ops; /* fused, layered or reference */
    cldqn_backend backend;
    cldqn_layout lay;
    cldqn_learn_config cfg;
    cldqn_qnet_options opt;
    int adam_t;         /* Adam steps taken so far */
    float *buf[5];      /* REF backend: host buffers, each lay.total floats */
    float *q;           /* (max_states, A) host scratch for greedy (REF) */
    clnet *dev;         /* OPENCL backend */
    cldqn_trace *trace; /* NULL: no profiling */
};

/* Sets kernel kid's arguments, building it first if need be (need()). */
#define SET_ARGS(d, kid, ...)                                                                      \
    set_args((d), (kid), (cldqn_cl_arg[]){__VA_ARGS__},                                            \
             (int)(sizeof((cldqn_cl_arg[]){__VA_ARGS__}) / sizeof(cldqn_cl_arg)))
#define TRY(x)                                                                                     \
    do {                                                                                           \
        cldqn_status st_ = (x);                                                                    \
        if (st_ != CLDQN_OK) return st_;                                                           \
    } while (0)

/* Event slot of a profiled command (NULL when not profiling). */
#define EV(d, name, cat) cldqn_clprof_event(&(d)->prof, (name), (cat))

/* cldqn_cl_launch of kernel kid, with its event when profiling. */
static cldqn_status launch(clnet *d, int kid, size_t n, size_t wg)
{
    if (n == 0) return CLDQN_OK;
    if (wg == 0) wg = 1;
    size_t global = (n + wg - 1) / wg * wg;
    CLDQN_CL_CHECK(clEnqueueNDRangeKernel(d->cl->queue, d->k[kid], 1, NULL, &global, &wg, 0, NULL,
                                          EV(d, kernel_defs[kid].name, "kernel")));
    return CLDQN_OK;
}

/* Kernel kid, its program built on first use: a build costs tens of
 * milliseconds even from PoCL's cache (it preprocesses the source to find
 * the entry), and the fused path needs only q_act of the five programs. */
static cldqn_status need(clnet *d, int kid)
{
    if (d->k[kid]) return CLDQN_OK;
    const int p = kernel_defs[kid].prog;
    if (!d->prog[p]) TRY(cldqn_cl_build_program(d->cl, prog_names[p], NULL, &d->prog[p]));
    TRY(cldqn_cl_create_kernel(d->prog[p], kernel_defs[kid].name, &d->k[kid]));
    /* td_loss and clip_grad_norm run as one work-group; the rest as many. */
    size_t cap = (kid == K_TD_LOSS || kid == K_CLIP) ? 256 : 64;
    if (kid == K_QACT) cap = cldqn_act_wg_cap(d->cl);
    d->wg[kid] = cldqn_cl_kernel_wg(d->cl, d->k[kid], cap);
    return CLDQN_OK;
}

static cldqn_status set_args(clnet *d, int kid, const cldqn_cl_arg *a, int n)
{
    TRY(need(d, kid));
    return cldqn_cl_set_args(d->k[kid], kernel_defs[kid].name, a, n);
}

cldqn_qnet_options cldqn_qnet_default_options(void)
{
    cldqn_qnet_options o = {CLDQN_BACKEND_OPENCL, NULL, 32, 1, 0, CLDQN_PATH_AUTO};
    return o;
}

static cldqn_status check_config(const cldqn_learn_config *c)
{
    if (!(c->gamma >= 0.0f && c->gamma <= 1.0f))
        return cldqn_fail(CLDQN_ERR_ARG, "gamma %g not in [0,1]", c->gamma);
    if (!(c->lr > 0.0f) || !isfinite(c->lr))
        return cldqn_fail(CLDQN_ERR_ARG, "learning rate %g must be > 0", c->lr);
    if (!(c->beta1 >= 0.0f && c->beta1 < 1.0f) || !(c->beta2 >= 0.0f && c->beta2 < 1.0f))
        return cldqn_fail(CLDQN_ERR_ARG, "Adam betas %g, %g not in [0,1)", c->beta1, c->beta2);
    if (!(c->eps > 0.0f)) return cldqn_fail(CLDQN_ERR_ARG, "Adam eps %g must be > 0", c->eps);
    if (c->loss != CLDQN_LOSS_MSE && c->loss != CLDQN_LOSS_HUBER)
        return cldqn_fail(CLDQN_ERR_ARG, "unknown loss kind %d", (int)c->loss);
    if (c->loss == CLDQN_LOSS_HUBER && !(c->huber_delta > 0.0f))
        return cldqn_fail(CLDQN_ERR_ARG, "Huber delta %g must be > 0", c->huber_delta);
    if (!(c->max_grad_norm >= 0.0f))
        return cldqn_fail(CLDQN_ERR_ARG, "max grad norm %g must be >= 0", c->max_grad_norm);
    if (c->mode != CLDQN_UPDATE_MEAN && c->mode != CLDQN_UPDATE_PER_SAMPLE)
        return cldqn_fail(CLDQN_ERR_ARG, "unknown update mode %d", (int)c->mode);
    if (c->adam != CLDQN_ADAM_TORCH && c->adam != CLDQN_ADAM_KERAS)
        return cldqn_fail(CLDQN_ERR_ARG, "unknown Adam kind %d", (int)c->adam);
    return CLDQN_OK;
}

/* Rejects states/actions out of range before they index a buffer. */
static cldqn_status check_states(const cldqn_qnet *net, const int32_t *s, int n, const char *what)
{
    for (int i = 0; i < n; i++)
        if (s[i] < 0 || s[i] >= net->lay.shape.n_states)
            return cldqn_fail(CLDQN_ERR_ARG, "%s[%d] = %d not in [0,%d)", what, i, (int)s[i],
                              net->lay.shape.n_states);
    return CLDQN_OK;
}

static cldqn_status check_batch(const cldqn_qnet *net, const cldqn_batch *b)
{
    if (!b || !b->state || !b->action || !b->reward || !b->next_state || !b->terminated)
        return cldqn_fail(CLDQN_ERR_ARG, "batch has a NULL array");
    if (b->n < 1 || b->n > net->opt.max_batch)
        return cldqn_fail(CLDQN_ERR_ARG, "batch size %d not in [1,%d]", b->n, net->opt.max_batch);
    cldqn_status st = check_states(net, b->state, b->n, "state");
    if (st == CLDQN_OK) st = check_states(net, b->next_state, b->n, "next_state");
    if (st != CLDQN_OK) return st;
    for (int i = 0; i < b->n; i++)
        if (b->action[i] < 0 || b->action[i] >= net->lay.shape.n_actions)
            return cldqn_fail(CLDQN_ERR_ARG, "action[%d] = %d not in [0,%d)", i, (int)b->action[i],
                              net->lay.shape.n_actions);
    return CLDQN_OK;
}

/* ---- OpenCL backend --------------------------------------------------- */

static void clnet_free(clnet *d)
{
    if (!d) return;
    if (d->cl && d->cl->queue) clFinish(d->cl->queue);
    if (d->upload) clReleaseEvent(d->upload);
    cldqn_clprof_free(&d->prof);
    cldqn_fused_free(d->fused);
    cl_mem *mems[] = {&d->batch, &d->qn,   &d->y,    &d->dq,     &d->d[0],   &d->d[1],
                      &d->loss,  &d->lbuf, &d->norm, &d->states, &d->actions};
    for (int i = 0; i < N_BATCH; i++)
        if (d->bsub[i]) clReleaseMemObject(d->bsub[i]);
    for (size_t i = 0; i < sizeof mems / sizeof mems[0]; i++)
        if (*mems[i]) clReleaseMemObject(*mems[i]);
    for (int i = 0; i < 5; i++)
        if (d->buf[i]) clReleaseMemObject(d->buf[i]);
    for (int i = 0; i < CLDQN_MAX_HIDDEN_LAYERS + 2; i++)
        if (d->acts[i]) clReleaseMemObject(d->acts[i]);
    for (int i = 0; i < N_KERNELS; i++)
        if (d->k[i]) clReleaseKernel(d->k[i]);
    for (int i = 0; i < N_PROGS; i++)
        if (d->prog[i]) clReleaseProgram(d->prog[i]);
    free(d->staging);
    if (d->own_cl) cldqn_cl_free(d->cl);
    free(d);
}

static cldqn_status new_buffer(clnet *d, size_t bytes, cl_mem *out)
{
    cl_int err;
    *out = clCreateBuffer(d->cl->ctx, CL_MEM_READ_WRITE, bytes ? bytes : 4, NULL, &err);
    if (err != CL_SUCCESS) {
        *out = NULL;
        return cldqn_cl_check(err, "clCreateBuffer", __FILE__, __LINE__);
    }
    return CLDQN_OK;
}

static int max_width(const cldqn_net_shape *s)
{
    int w = s->embed;
    if (s->layers > 0 && s->hidden > w) w = s->hidden;
    if (s->n_actions > w) w = s->n_actions;
    return w;
}

static cldqn_status fused_create(cldqn_qnet *net)
{
    clnet *d = net->dev;
    const cldqn_net_shape *s = &net->lay.shape;
    cldqn_update_path path = net->opt.path;
    if (path == CLDQN_PATH_LAYERED) return CLDQN_OK;
    if (path == CLDQN_PATH_AUTO && !cldqn_fused_auto_width(s)) return CLDQN_OK;
    cldqn_status st =
        cldqn_fused_create(d->cl, &net->lay, &net->cfg, net->opt.max_batch, 0, &d->fused);
    if ((st == CLDQN_ERR_BUILD || st == CLDQN_ERR_ARG) && path == CLDQN_PATH_AUTO) {
        /* AUTO falls back to the layered kernels, which serve every shape, where
         * the fused kernel does not build or fit; a failing device is an error. */
        d->fused = NULL;
        cldqn_clear_error();
        return CLDQN_OK;
    }
    if (st == CLDQN_OK) cldqn_fused_set_prof(d->fused, &d->prof);
    return st;
}

static cldqn_status clnet_create(cldqn_qnet *net, const float *params, cldqn_cl *shared)
{
    clnet *d = calloc(1, sizeof *d);
    if (!d) return cldqn_fail(CLDQN_ERR_NOMEM, "qnet_create: out of memory");
    net->dev = d;
    const char *g = getenv("CLDQN_GEMM");
    d->gemm = !g || !*g || !strcmp(g, "auto") ? GEMM_AUTO
              : !strcmp(g, "kernel")          ? GEMM_KERNEL
              : !strcmp(g, "clblast")         ? GEMM_CLBLAST
                                              : (gemm_choice)-1;
    if ((int)d->gemm < 0)
        return cldqn_fail(CLDQN_ERR_ARG, "$CLDQN_GEMM '%s' is not auto, kernel or clblast", g);
    if (shared)
        d->cl = shared;
    else
        TRY(cldqn_cl_create(net->opt.device, net->opt.profile, &d->cl));
    d->own_cl = !shared;
    TRY(need(d, K_QACT)); /* acting, on either path */

    const cldqn_net_shape *s = &net->lay.shape;
    const size_t F = sizeof(float), total = net->lay.total;
    const size_t MB = (size_t)net->opt.max_batch;
    const size_t R = MB > (size_t)net->opt.max_states ? MB : (size_t)net->opt.max_states;
    for (int i = 0; i < 5; i++) TRY(new_buffer(d, total * F, &d->buf[i]));
    CLDQN_CL_CHECK(clEnqueueWriteBuffer(d->cl->queue, d->buf[CLDQN_BUF_PARAMS], CL_TRUE, 0,
                                        total * F, params, 0, NULL, NULL));
    CLDQN_CL_CHECK(clEnqueueWriteBuffer(d->cl->queue, d->buf[CLDQN_BUF_TARGET], CL_TRUE, 0,
                                        total * F, params, 0, NULL, NULL));
    /* Zeros written from the host rather than clEnqueueFillBuffer: Oclgrind's
     * uninitialised-value checker does not count a fill as initialisation. */
    float *zeros = calloc(total, F);
    if (!zeros) return cldqn_fail(CLDQN_ERR_NOMEM, "qnet_create: out of memory");
    cl_int err = CL_SUCCESS;
    for (int i = CLDQN_BUF_GRAD; i <= CLDQN_BUF_ADAM_V && err == CL_SUCCESS; i++)
        err = clEnqueueWriteBuffer(d->cl->queue, d->buf[i], CL_TRUE, 0, total * F, zeros, 0, NULL,
                                   NULL);
    free(zeros);
    if (err != CL_SUCCESS) return cldqn_cl_check(err, "clEnqueueWriteBuffer", __FILE__, __LINE__);

    /* Packed minibatch: five regions at offsets aligned for sub-buffers. */
    size_t align = d->cl->info.mem_base_align;
    d->region = (MB * 4 + align - 1) / align * align;
    d->staging = calloc(N_BATCH, d->region);
    if (!d->staging) return cldqn_fail(CLDQN_ERR_NOMEM, "qnet_create: out of memory");
    TRY(new_buffer(d, N_BATCH * d->region, &d->batch));
    for (int i = 0; i < N_BATCH; i++) {
        cl_buffer_region r = {(size_t)i * d->region, d->region};
        cl_int err;
        d->bsub[i] =
            clCreateSubBuffer(d->batch, CL_MEM_READ_WRITE, CL_BUFFER_CREATE_TYPE_REGION, &r, &err);
        if (err != CL_SUCCESS) {
            d->bsub[i] = NULL;
            return cldqn_cl_check(err, "clCreateSubBuffer", __FILE__, __LINE__);
        }
    }

    const int L = s->layers;
    TRY(new_buffer(d, R * (size_t)s->embed * F, &d->acts[0]));
    for (int l = 1; l <= L; l++) TRY(new_buffer(d, R * (size_t)s->hidden * F, &d->acts[l]));
    TRY(new_buffer(d, R * (size_t)s->n_actions * F, &d->acts[L + 1]));
    TRY(new_buffer(d, MB * (size_t)s->n_actions * F, &d->qn));
    TRY(new_buffer(d, MB * F, &d->y));
    TRY(new_buffer(d, MB * (size_t)s->n_actions * F, &d->dq));
    for (int i = 0; i < 2; i++) TRY(new_buffer(d, MB * (size_t)max_width(s) * F, &d->d[i]));
    TRY(new_buffer(d, F, &d->loss));
    TRY(new_buffer(d, MB * F, &d->lbuf));
    TRY(new_buffer(d, F, &d->norm));
    TRY(new_buffer(d, (size_t)net->opt.max_states * 4, &d->states));
    TRY(new_buffer(d, (size_t)net->opt.max_states * 4, &d->actions));
    CLDQN_CL_CHECK(clFinish(d->cl->queue));
    TRY(fused_create(net));
    /* The layered path needs every kernel: build them now, so that a
     * broken one fails here rather than mid-training. */
    if (!d->fused)
        for (int k = 0; k < N_KERNELS; k++) TRY(need(d, k));
    return CLDQN_OK;
}

/* Hand-written kernel or CLBlast for a (rows x I) * (I x O) product.
 * Measured with tools/bench-gemm.c on PoCL (2-core EPYC shared with other
 * jobs, load ~3.5), best single call incl. clFinish, microseconds,
 * forward / backward, hand kernel vs CLBlast:
 *   32x10x50       25 / 70     vs   39 / 78     (seed layer 1: kernel wins)
 *   32x50x6        35 / 57     vs   54 / 70     (seed out layer: kernel wins)
 *   32x50x50       80 / 201    vs   86 / 130    (seed layer 2: kernel / CLBlast)
 *   256x50x50     433 / 946    vs  354 / 398
 *   64x128x128    425 / 1671   vs  250 / 428    (CLBlast 1.7-4x)
 *   256x512x512  98k / 420k    vs  36k / 96k    (CLBlast 2.7-4.4x)
 * CLBlast is used from 2^20 multiply-adds on layers at least 64 wide. Narrow
 * layers (the seed's 10/50/6) stay on the hand kernels even where CLBlast's
 * backward is faster: they round exactly like ref.c, so the seed network is
 * bit-identical to the REF backend for updates and Q-values alike, and the
 * fused single-launch path is the fast one at that size anyway. */
static int use_gemm(const clnet *d, int rows, int I, int O)
{
    if (d->gemm != GEMM_AUTO) return d->gemm == GEMM_CLBLAST;
    return (I < O ? I : O) >= 64 && (double)rows * I * O >= 1048576.0;
}

static cldqn_status clblast_check(CLBlastStatusCode c, const char *what)
{
    if (c == CLBlastSuccess) return CLDQN_OK;
    return cldqn_fail(CLDQN_ERR_OPENCL, "CLBlastSgemm (%s) failed with status %d", what, (int)c);
}

/* y (rows,O) = act(x (rows,I) W^T + b), W and b at offsets into params. */
static cldqn_status dense_fwd(clnet *d, cl_mem params, size_t w_off, size_t b_off, cl_mem x,
                              int rows, int I, int O, int relu, cl_mem y)
{
    if (use_gemm(d, rows, I, O)) {
        TRY(clblast_check(CLBlastSgemm(CLBlastLayoutRowMajor, CLBlastTransposeNo,
                                       CLBlastTransposeYes, (size_t)rows, (size_t)O, (size_t)I,
                                       1.0f, x, 0, (size_t)I, params, w_off, (size_t)I, 0.0f, y, 0,
                                       (size_t)O, &d->cl->queue, EV(d, "clblast_sgemm", "kernel")),
                          "dense forward"));
        TRY(SET_ARGS(d, K_BIAS_ACT, A_MEM(params), A_MEM(y), A_INT(rows), A_INT(O), A_INT(relu),
                     A_UINT(b_off)));
        return launch(d, K_BIAS_ACT, (size_t)rows * O, d->wg[K_BIAS_ACT]);
    }
    TRY(SET_ARGS(d, K_DENSE_FWD, A_MEM(params), A_MEM(params), A_MEM(x), A_INT(rows), A_INT(I),
                 A_INT(O), A_INT(relu), A_MEM(y), A_UINT(w_off), A_UINT(b_off)));
    return launch(d, K_DENSE_FWD, (size_t)rows * O, d->wg[K_DENSE_FWD]);
}

/* Backward of dense_fwd: dW, db into grad at offsets; dx (rows,I). dy
 * (rows,O) may be masked in place (CLBlast path). */
static cldqn_status dense_bwd(clnet *d, cl_mem params, size_t w_off, cl_mem x, cl_mem y, cl_mem dy,
                              int rows, int I, int O, int relu, cl_mem grad, size_t dw_off,
                              size_t db_off, cl_mem dx)
{
    if (use_gemm(d, rows, I, O)) {
        TRY(SET_ARGS(d, K_MASK_DB, A_MEM(y), A_MEM(dy), A_INT(rows), A_INT(O), A_INT(relu),
                     A_MEM(grad), A_UINT(db_off)));
        TRY(launch(d, K_MASK_DB, (size_t)O, d->wg[K_MASK_DB]));
        /* dW (O,I) = dy^T (O,rows) x (rows,I) */
        TRY(clblast_check(CLBlastSgemm(CLBlastLayoutRowMajor, CLBlastTransposeYes,
                                       CLBlastTransposeNo, (size_t)O, (size_t)I, (size_t)rows, 1.0f,
                                       dy, 0, (size_t)O, x, 0, (size_t)I, 0.0f, grad, dw_off,
                                       (size_t)I, &d->cl->queue, EV(d, "clblast_sgemm", "kernel")),
                          "dW"));
        /* dx (rows,I) = dy (rows,O) W (O,I) */
        return clblast_check(CLBlastSgemm(CLBlastLayoutRowMajor, CLBlastTransposeNo,
                                          CLBlastTransposeNo, (size_t)rows, (size_t)I, (size_t)O,
                                          1.0f, dy, 0, (size_t)O, params, w_off, (size_t)I, 0.0f,
                                          dx, 0, (size_t)I, &d->cl->queue,
                                          EV(d, "clblast_sgemm", "kernel")),
                             "dx");
    }
    TRY(SET_ARGS(d, K_DENSE_BWD, A_MEM(params), A_MEM(x), A_MEM(y), A_MEM(dy), A_INT(rows),
                 A_INT(I), A_INT(O), A_INT(relu), A_MEM(grad), A_MEM(grad), A_MEM(dx),
                 A_UINT(w_off), A_UINT(dw_off), A_UINT(db_off), A_INT(1)));
    size_t n = (size_t)O * I + (size_t)O + (size_t)rows * I;
    return launch(d, K_DENSE_BWD, n, d->wg[K_DENSE_BWD]);
}

/* Forward of rows states (states[s_off..]) under params, keeping every
 * activation in acts; the Q-values (rows,A) go to q. */
static cldqn_status forward(cldqn_qnet *net, cl_mem params, cl_mem states, int s_off, int rows,
                            cl_mem q)
{
    clnet *d = net->dev;
    const cldqn_layout *lay = &net->lay;
    const int L = lay->shape.layers, E = lay->shape.embed;
    TRY(SET_ARGS(d, K_EMBED_FWD, A_MEM(params), A_MEM(states), A_INT(rows), A_INT(E),
                 A_MEM(d->acts[0]), A_UINT(lay->t[0].offset), A_UINT(s_off)));
    TRY(launch(d, K_EMBED_FWD, (size_t)rows * E, d->wg[K_EMBED_FWD]));
    for (int l = 0; l <= L; l++) {
        const cldqn_tensor *w = &lay->t[1 + 2 * l], *b = &lay->t[2 + 2 * l];
        TRY(dense_fwd(d, params, w->offset, b->offset, d->acts[l], rows, w->cols, w->rows, l < L,
                      l == L ? q : d->acts[l + 1]));
    }
    return CLDQN_OK;
}

/* Backward from dq (rows,A) into the grad buffer, then clipping and Adam. */
static cldqn_status backward_step(cldqn_qnet *net, int s_off, int rows)
{
    clnet *d = net->dev;
    const cldqn_layout *lay = &net->lay;
    const int L = lay->shape.layers;
    cl_mem params = d->buf[CLDQN_BUF_PARAMS], grad = d->buf[CLDQN_BUF_GRAD];
    cl_mem dy = d->dq;
    int next = 0;
    for (int l = L; l >= 0; l--) {
        const cldqn_tensor *w = &lay->t[1 + 2 * l], *b = &lay->t[2 + 2 * l];
        cl_mem dx = d->d[next];
        TRY(dense_bwd(d, params, w->offset, d->acts[l], d->acts[l + 1], dy, rows, w->cols, w->rows,
                      l < L, grad, w->offset, b->offset, dx));
        dy = dx;
        next ^= 1;
    }
    const int E = lay->shape.embed, S = lay->shape.n_states;
    TRY(SET_ARGS(d, K_EMBED_BWD, A_MEM(d->bsub[BATCH_STATE]), A_MEM(dy), A_INT(rows), A_INT(E),
                 A_INT(S), A_MEM(grad), A_UINT(s_off), A_UINT(lay->t[0].offset)));
    TRY(launch(d, K_EMBED_BWD, (size_t)S * E, d->wg[K_EMBED_BWD]));

    const cldqn_learn_config *c = &net->cfg;
    if (c->max_grad_norm > 0.0f) {
        TRY(SET_ARGS(d, K_CLIP, A_MEM(grad), A_UINT(lay->total), A_FLT(c->max_grad_norm),
                     A_MEM(d->norm), {sizeof(cl_float), NULL}));
        TRY(launch(d, K_CLIP, d->wg[K_CLIP], d->wg[K_CLIP]));
    }

    /* Per-step scalars in double, exactly as ref_adam computes them. */
    int t = ++net->adam_t;
    double bc1 = 1.0 - pow((double)c->beta1, (double)t);
    double bc2 = 1.0 - pow((double)c->beta2, (double)t);
    float step = c->adam == CLDQN_ADAM_TORCH ? (float)(-(double)c->lr / bc1)
                                             : (float)((double)c->lr * sqrt(bc2) / bc1);
    float bc2_sqrt = (float)sqrt(bc2);
    TRY(SET_ARGS(d, K_ADAM, A_MEM(params), A_MEM(grad), A_MEM(d->buf[CLDQN_BUF_ADAM_M]),
                 A_MEM(d->buf[CLDQN_BUF_ADAM_V]), A_UINT(lay->total), A_FLT(c->lr), A_FLT(c->beta1),
                 A_FLT(c->beta2), A_FLT(c->eps), A_INT(t), A_INT(c->adam), A_FLT(step),
                 A_FLT(bc2_sqrt)));
    return launch(d, K_ADAM, lay->total, d->wg[K_ADAM]);
}

static cldqn_status upload_batch(clnet *d, const cldqn_batch *b)
{
    /* The previous write may still be reading the staging area. */
    if (d->upload) {
        CLDQN_CL_CHECK(clWaitForEvents(1, &d->upload));
        clReleaseEvent(d->upload);
        d->upload = NULL;
    }
    const void *src[N_BATCH] = {b->state, b->action, b->next_state, b->reward, b->terminated};
    for (int i = 0; i < N_BATCH; i++)
        memcpy(d->staging + (size_t)i * d->region, src[i], (size_t)b->n * 4);
    size_t bytes = (N_BATCH - 1) * d->region + (size_t)b->n * 4;
    CLDQN_CL_CHECK(clEnqueueWriteBuffer(d->cl->queue, d->batch, CL_FALSE, 0, bytes, d->staging, 0,
                                        NULL, &d->upload));
    cldqn_clprof_keep(&d->prof, d->upload, "write:batch", "transfer");
    return CLDQN_OK;
}

static cldqn_status fused_update(cldqn_qnet *net, const cldqn_batch *batch, int32_t next_state,
                                 float *loss, int32_t *next_action)
{
    clnet *d = net->dev;
    float l;
    TRY(cldqn_fused_update(d->fused, d->buf[CLDQN_BUF_PARAMS], d->buf[CLDQN_BUF_GRAD],
                           d->buf[CLDQN_BUF_ADAM_M], d->buf[CLDQN_BUF_ADAM_V],
                           d->buf[CLDQN_BUF_TARGET], batch, net->adam_t, next_state,
                           loss ? &l : NULL, next_action));
    net->adam_t += cldqn_fused_adam_steps(d->fused, batch->n);
    if (!loss) return CLDQN_OK;
    if (!isfinite(l))
        return cldqn_fail(CLDQN_ERR_NUMERIC, "qnet_update: loss is %g (diverged?)", l);
    *loss = l;
    return CLDQN_OK;
}

static cldqn_status fused_update_only(cldqn_qnet *net, const cldqn_batch *batch, float *loss)
{
    return fused_update(net, batch, 0, loss, NULL);
}

static cldqn_status layered_update(cldqn_qnet *net, const cldqn_batch *batch, float *loss)
{
    clnet *d = net->dev;
    const int B = batch->n, A = net->lay.shape.n_actions;
    const cldqn_learn_config *c = &net->cfg;
    TRY(upload_batch(d, batch));

    /* Target Q of the next states and TD targets for the whole batch: the
     * target network does not change during the update. */
    TRY(forward(net, d->buf[CLDQN_BUF_TARGET], d->bsub[BATCH_NEXT], 0, B, d->qn));
    TRY(SET_ARGS(d, K_TD_TARGET, A_MEM(d->qn), A_MEM(d->bsub[BATCH_REWARD]),
                 A_MEM(d->bsub[BATCH_TERM]), A_INT(B), A_INT(A), A_FLT(c->gamma), A_MEM(d->y)));
    TRY(launch(d, K_TD_TARGET, (size_t)B, d->wg[K_TD_TARGET]));

    const int L = net->lay.shape.layers;
    cl_mem params = d->buf[CLDQN_BUF_PARAMS];
    if (c->mode == CLDQN_UPDATE_MEAN) {
        TRY(forward(net, params, d->bsub[BATCH_STATE], 0, B, d->acts[L + 1]));
        TRY(SET_ARGS(d, K_TD_LOSS, A_MEM(d->acts[L + 1]), A_MEM(d->bsub[BATCH_ACTION]), A_MEM(d->y),
                     A_INT(B), A_INT(A), A_INT(c->loss), A_FLT(c->huber_delta), A_MEM(d->dq),
                     A_MEM(d->loss), A_MEM(d->lbuf)));
        TRY(launch(d, K_TD_LOSS, d->wg[K_TD_LOSS], d->wg[K_TD_LOSS]));
        TRY(backward_step(net, 0, B));
    } else {
        /* The seed: one sample at a time, each seeing the parameters the
         * previous sample's Adam step left behind. */
        for (int i = 0; i < B; i++) {
            TRY(forward(net, params, d->bsub[BATCH_STATE], i, 1, d->acts[L + 1]));
            TRY(SET_ARGS(d, K_KERAS_LOSS, A_MEM(d->acts[L + 1]), A_MEM(d->bsub[BATCH_ACTION]),
                         A_MEM(d->y), A_INT(A), A_MEM(d->dq), A_INT(i), A_MEM(d->lbuf)));
            TRY(launch(d, K_KERAS_LOSS, 1, 1));
            TRY(backward_step(net, i, 1));
        }
    }
    if (!loss) {
        CLDQN_CL_CHECK(clFlush(d->cl->queue));
        return CLDQN_OK;
    }
    float l;
    if (c->mode == CLDQN_UPDATE_MEAN) {
        CLDQN_CL_CHECK(clEnqueueReadBuffer(d->cl->queue, d->loss, CL_TRUE, 0, sizeof l, &l, 0, NULL,
                                           EV(d, "read:loss", "transfer")));
    } else {
        float *per = malloc((size_t)B * sizeof(float));
        if (!per) return cldqn_fail(CLDQN_ERR_NOMEM, "qnet_update: out of memory");
        cl_int err =
            clEnqueueReadBuffer(d->cl->queue, d->lbuf, CL_TRUE, 0, (size_t)B * sizeof(float), per,
                                0, NULL, EV(d, "read:losses", "transfer"));
        float sum = 0.0f; /* in batch order, as ref_update */
        for (int i = 0; i < B; i++) sum += per[i];
        free(per);
        if (err != CL_SUCCESS)
            return cldqn_cl_check(err, "clEnqueueReadBuffer", __FILE__, __LINE__);
        l = sum / (float)B;
    }
    if (!isfinite(l))
        return cldqn_fail(CLDQN_ERR_NUMERIC, "qnet_update: loss is %g (diverged?)", l);
    *loss = l;
    return CLDQN_OK;
}

/* Q-values of n states into acts[L+1] on the device. Where the activations
 * of one state fit in local memory, one q_act launch (one work-group per
 * state) does it and also leaves the greedy actions in d->actions
 * (*have_actions = 1); otherwise the layered forward kernels run. */
static cldqn_status clnet_q(cldqn_qnet *net, const int32_t *states, int n, int *have_actions)
{
    clnet *d = net->dev;
    const cldqn_net_shape *s = &net->lay.shape;
    cl_mem q = d->acts[s->layers + 1];
    /* Not blocking: every caller ends with a blocking read on this in-order
     * queue before `states` can go away. */
    CLDQN_CL_CHECK(clEnqueueWriteBuffer(d->cl->queue, d->states, CL_FALSE, 0, (size_t)n * 4, states,
                                        0, NULL, EV(d, "write:states", "transfer")));
    size_t local = (size_t)max_width(s) * sizeof(float);
    *have_actions = 2 * local <= d->cl->info.local_mem;
    if (!*have_actions) return forward(net, d->buf[CLDQN_BUF_PARAMS], d->states, 0, n, q);
    TRY(SET_ARGS(d, K_QACT, A_MEM(d->buf[CLDQN_BUF_PARAMS]), A_MEM(d->states), A_INT(s->embed),
                 A_INT(s->hidden), A_INT(s->layers), A_INT(s->n_actions),
                 A_UINT(net->lay.t[1].offset), A_MEM(q), A_MEM(d->actions), {local, NULL},
                 {local, NULL}));
    return launch(d, K_QACT, (size_t)n * d->wg[K_QACT], d->wg[K_QACT]);
}

/* ---- public API --------------------------------------------------------- */

cldqn_status cldqn_qnet_create(const cldqn_layout *lay, const cldqn_learn_config *cfg,
                               const cldqn_qnet_options *opt, const float *params, cldqn_qnet **out)
{
    return cldqn_qnet_create_on(NULL, lay, cfg, opt, params, out);
}

cldqn_status cldqn_qnet_create_on(cldqn_cl *cl, const cldqn_layout *lay,
                                  const cldqn_learn_config *cfg, const cldqn_qnet_options *opt,
                                  const float *params, cldqn_qnet **out)
{
    if (!out) return cldqn_fail(CLDQN_ERR_ARG, "qnet_create: NULL output pointer");
    *out = NULL;
    if (!lay || !cfg || !params) return cldqn_fail(CLDQN_ERR_ARG, "qnet_create: NULL argument");
    cldqn_qnet_options o = opt ? *opt : cldqn_qnet_default_options();
    if (lay->total == 0 || lay->shape.n_states < 1 || lay->shape.n_actions < 1 ||
        lay->shape.embed < 1 || lay->shape.layers < 0 ||
        lay->shape.layers > CLDQN_MAX_HIDDEN_LAYERS ||
        (lay->shape.layers > 0 && lay->shape.hidden < 1) ||
        lay->n_tensors != 3 + 2 * lay->shape.layers)
        return cldqn_fail(CLDQN_ERR_ARG, "qnet_create: empty or inconsistent network layout");
    if (o.max_batch < 1 || o.max_states < 1)
        return cldqn_fail(CLDQN_ERR_ARG, "qnet_create: max_batch %d and max_states %d must be >= 1",
                          o.max_batch, o.max_states);
    cldqn_status st = check_config(cfg);
    if (st != CLDQN_OK) return st;
    if (o.backend != CLDQN_BACKEND_REF && o.backend != CLDQN_BACKEND_OPENCL)
        return cldqn_fail(CLDQN_ERR_ARG, "qnet_create: unknown backend %d", (int)o.backend);

    cldqn_qnet *net = calloc(1, sizeof *net);
    if (!net) return cldqn_fail(CLDQN_ERR_NOMEM, "qnet_create: out of memory");
    net->backend = o.backend;
    net->lay = *lay;
    net->cfg = *cfg;
    net->opt = o;
    if (o.backend == CLDQN_BACKEND_OPENCL) {
        st = clnet_create(net, params, cl);
        if (st != CLDQN_OK) {
            cldqn_qnet_free(net);
            return st;
        }
        net->ops = net->dev->fused ? &fused_ops : &layered_ops;
        *out = net;
        return CLDQN_OK;
    }
    net->ops = &ref_ops;
    for (int i = 0; i < 5; i++) {
        net->buf[i] = calloc(lay->total, sizeof(float));
        if (!net->buf[i]) {
            cldqn_qnet_free(net);
            return cldqn_fail(CLDQN_ERR_NOMEM, "qnet_create: out of memory for %zu floats",
                              lay->total);
        }
    }
    net->q = malloc((size_t)o.max_states * (size_t)lay->shape.n_actions * sizeof(float));
    if (!net->q) {
        cldqn_qnet_free(net);
        return cldqn_fail(CLDQN_ERR_NOMEM, "qnet_create: out of memory");
    }
    memcpy(net->buf[CLDQN_BUF_PARAMS], params, lay->total * sizeof(float));
    memcpy(net->buf[CLDQN_BUF_TARGET], params, lay->total * sizeof(float));
    *out = net;
    return CLDQN_OK;
}

void cldqn_qnet_free(cldqn_qnet *net)
{
    if (!net) return;
    for (int i = 0; i < 5; i++) free(net->buf[i]);
    free(net->q);
    clnet_free(net->dev);
    free(net);
}

/* ---- the OpenCL backends' shared operations ------------------------------ */

static cldqn_status cl_sync(cldqn_qnet *net)
{
    clnet *d = net->dev;
    const float tau = net->cfg.tau;
    if (cldqn_tau_averages(tau)) {
        TRY(SET_ARGS(d, K_POLYAK, A_MEM(d->buf[CLDQN_BUF_PARAMS]), A_MEM(d->buf[CLDQN_BUF_TARGET]),
                     A_UINT(net->lay.total), A_FLT(tau), A_FLT(1.0f - tau)));
        TRY(launch(d, K_POLYAK, net->lay.total, d->wg[K_POLYAK]));
        cldqn_fused_target_changed(d->fused);
        return CLDQN_OK;
    }
    CLDQN_CL_CHECK(clEnqueueCopyBuffer(
        d->cl->queue, d->buf[CLDQN_BUF_PARAMS], d->buf[CLDQN_BUF_TARGET], 0, 0,
        net->lay.total * sizeof(float), 0, NULL, EV(d, "copy:target", "transfer")));
    cldqn_fused_target_changed(d->fused);
    return CLDQN_OK;
}

static cldqn_status cl_q_values(cldqn_qnet *net, const int32_t *states, int n, float *q)
{
    clnet *d = net->dev;
    int have_actions;
    TRY(clnet_q(net, states, n, &have_actions));
    CLDQN_CL_CHECK(clEnqueueReadBuffer(d->cl->queue, d->acts[net->lay.shape.layers + 1], CL_TRUE, 0,
                                       (size_t)n * net->lay.shape.n_actions * sizeof(float), q, 0,
                                       NULL, EV(d, "read:q", "transfer")));
    return CLDQN_OK;
}

static cldqn_status cl_greedy(cldqn_qnet *net, const int32_t *states, int n, int32_t *actions)
{
    clnet *d = net->dev;
    int have_actions;
    TRY(clnet_q(net, states, n, &have_actions));
    if (!have_actions) {
        TRY(SET_ARGS(d, K_ARGMAX, A_MEM(d->acts[net->lay.shape.layers + 1]), A_INT(n),
                     A_INT(net->lay.shape.n_actions), A_MEM(d->actions)));
        TRY(launch(d, K_ARGMAX, (size_t)n, d->wg[K_ARGMAX]));
    }
    CLDQN_CL_CHECK(clEnqueueReadBuffer(d->cl->queue, d->actions, CL_TRUE, 0, (size_t)n * 4, actions,
                                       0, NULL, EV(d, "read:actions", "transfer")));
    return CLDQN_OK;
}

/* Transfer names of the five buffers, by cldqn_qnet_buffer. */
static const char *const read_names[5] = {"read:params", "read:target", "read:grad", "read:adam_m",
                                          "read:adam_v"};
static const char *const write_names[5] = {"write:params", "write:target", "write:grad",
                                           "write:adam_m", "write:adam_v"};

static cldqn_status cl_read(cldqn_qnet *net, cldqn_qnet_buffer which, float *out)
{
    CLDQN_CL_CHECK(clEnqueueReadBuffer(net->dev->cl->queue, net->dev->buf[which], CL_TRUE, 0,
                                       net->lay.total * sizeof(float), out, 0, NULL,
                                       EV(net->dev, read_names[which], "transfer")));
    return CLDQN_OK;
}

static cldqn_status cl_write(cldqn_qnet *net, cldqn_qnet_buffer which, const float *in)
{
    CLDQN_CL_CHECK(clEnqueueWriteBuffer(net->dev->cl->queue, net->dev->buf[which], CL_TRUE, 0,
                                        net->lay.total * sizeof(float), in, 0, NULL,
                                        EV(net->dev, write_names[which], "transfer")));
    if (which == CLDQN_BUF_TARGET) cldqn_fused_target_changed(net->dev->fused);
    return CLDQN_OK;
}

/* The layered path acts with a q_act launch after the update. */
static cldqn_status layered_update_act(cldqn_qnet *net, const cldqn_batch *b, int32_t next,
                                       float *loss, int32_t *action)
{
    TRY(layered_update(net, b, loss));
    return cl_greedy(net, &next, 1, action);
}

static const qnet_ops fused_ops = {"fused",     fused_update_only, fused_update, cl_sync,
                                   cl_q_values, cl_greedy,         cl_read,      cl_write};
static const qnet_ops layered_ops = {"layered", layered_update, layered_update_act,
                                     cl_sync,   cl_q_values,    cl_greedy,
                                     cl_read,   cl_write};

/* ---- the host reference backend ------------------------------------------- */

static cldqn_status ref_b_update(cldqn_qnet *net, const cldqn_batch *batch, float *loss)
{
    float l = ref_update(&net->lay, &net->cfg, net->buf[CLDQN_BUF_PARAMS],
                         net->buf[CLDQN_BUF_TARGET], net->buf[CLDQN_BUF_ADAM_M],
                         net->buf[CLDQN_BUF_ADAM_V], &net->adam_t, batch, net->buf[CLDQN_BUF_GRAD]);
    if (loss) {
        if (!isfinite(l))
            return cldqn_fail(CLDQN_ERR_NUMERIC, "qnet_update: loss is %g (diverged?)", l);
        *loss = l;
    }
    return CLDQN_OK;
}

static cldqn_status ref_b_q_values(cldqn_qnet *net, const int32_t *states, int n, float *q)
{
    ref_q_forward(&net->lay, net->buf[CLDQN_BUF_PARAMS], states, n, q);
    return CLDQN_OK;
}

static cldqn_status ref_b_greedy(cldqn_qnet *net, const int32_t *states, int n, int32_t *actions)
{
    ref_q_forward(&net->lay, net->buf[CLDQN_BUF_PARAMS], states, n, net->q);
    ref_argmax(net->q, n, net->lay.shape.n_actions, actions);
    return CLDQN_OK;
}

static cldqn_status ref_b_update_act(cldqn_qnet *net, const cldqn_batch *b, int32_t next,
                                     float *loss, int32_t *action)
{
    TRY(ref_b_update(net, b, loss));
    return ref_b_greedy(net, &next, 1, action);
}

static cldqn_status ref_b_sync(cldqn_qnet *net)
{
    if (cldqn_tau_averages(net->cfg.tau)) {
        ref_polyak(net->buf[CLDQN_BUF_TARGET], net->buf[CLDQN_BUF_PARAMS], net->lay.total,
                   net->cfg.tau);
        return CLDQN_OK;
    }
    memcpy(net->buf[CLDQN_BUF_TARGET], net->buf[CLDQN_BUF_PARAMS], net->lay.total * sizeof(float));
    return CLDQN_OK;
}

static cldqn_status ref_b_read(cldqn_qnet *net, cldqn_qnet_buffer which, float *out)
{
    memcpy(out, net->buf[which], net->lay.total * sizeof(float));
    return CLDQN_OK;
}

static cldqn_status ref_b_write(cldqn_qnet *net, cldqn_qnet_buffer which, const float *in)
{
    memcpy(net->buf[which], in, net->lay.total * sizeof(float));
    return CLDQN_OK;
}

static const qnet_ops ref_ops = {"reference",    ref_b_update, ref_b_update_act, ref_b_sync,
                                 ref_b_q_values, ref_b_greedy, ref_b_read,       ref_b_write};

/* ---- the public calls: argument checks, then the backend ------------------ */

static cldqn_status qnet_update(cldqn_qnet *net, const cldqn_batch *batch, float *loss)
{
    if (!net) return cldqn_fail(CLDQN_ERR_ARG, "qnet_update: NULL network");
    cldqn_status st = check_batch(net, batch);
    if (st != CLDQN_OK) return st;
    return net->ops->update(net, batch, loss);
}

static cldqn_status qnet_update_act(cldqn_qnet *net, const cldqn_batch *batch, int32_t next_state,
                                    float *loss, int32_t *next_action)
{
    if (!net || !next_action) return cldqn_fail(CLDQN_ERR_ARG, "qnet_update_act: NULL argument");
    cldqn_status st = check_states(net, &next_state, 1, "qnet_update_act");
    if (st == CLDQN_OK) st = check_batch(net, batch);
    if (st != CLDQN_OK) return st;
    return net->ops->update_act(net, batch, next_state, loss, next_action);
}

static cldqn_status qnet_sync_target(cldqn_qnet *net)
{
    if (!net) return cldqn_fail(CLDQN_ERR_ARG, "qnet_sync_target: NULL network");
    return net->ops->sync(net);
}

static cldqn_status check_query(cldqn_qnet *net, const int32_t *states, int n, const void *out,
                                const char *what)
{
    if (!net || !states || !out) return cldqn_fail(CLDQN_ERR_ARG, "%s: NULL argument", what);
    if (n < 1 || n > net->opt.max_states)
        return cldqn_fail(CLDQN_ERR_ARG, "%s: %d states not in [1,%d]", what, n,
                          net->opt.max_states);
    return check_states(net, states, n, "states");
}

static cldqn_status qnet_q_values(cldqn_qnet *net, const int32_t *states, int n, float *q)
{
    TRY(check_query(net, states, n, q, "qnet_q_values"));
    return net->ops->q_values(net, states, n, q);
}

static cldqn_status qnet_greedy(cldqn_qnet *net, const int32_t *states, int n, int32_t *actions)
{
    TRY(check_query(net, states, n, actions, "qnet_greedy"));
    return net->ops->greedy(net, states, n, actions);
}

static cldqn_status check_buffer(const cldqn_qnet *net, cldqn_qnet_buffer which, const void *p)
{
    if (!net || !p) return cldqn_fail(CLDQN_ERR_ARG, "qnet buffer copy: NULL argument");
    if ((int)which < 0 || (int)which > CLDQN_BUF_ADAM_V)
        return cldqn_fail(CLDQN_ERR_ARG, "qnet buffer copy: unknown buffer %d", (int)which);
    return CLDQN_OK;
}

static cldqn_status qnet_read(cldqn_qnet *net, cldqn_qnet_buffer which, float *out)
{
    TRY(check_buffer(net, which, out));
    return net->ops->read(net, which, out);
}

static cldqn_status qnet_write(cldqn_qnet *net, cldqn_qnet_buffer which, const float *in)
{
    TRY(check_buffer(net, which, in));
    return net->ops->write(net, which, in);
}

int cldqn_qnet_adam_step(const cldqn_qnet *net)
{
    return net ? net->adam_t : 0;
}

void cldqn_qnet_set_adam_step(cldqn_qnet *net, int t)
{
    if (net) net->adam_t = t;
}

void cldqn_qnet_set_lr(cldqn_qnet *net, float lr)
{
    if (!net) return;
    net->cfg.lr = lr;
    if (net->dev) cldqn_fused_set_lr(net->dev->fused, lr);
}

const cldqn_layout *cldqn_qnet_layout(const cldqn_qnet *net)
{
    return net ? &net->lay : NULL;
}

const char *cldqn_qnet_device_name(const cldqn_qnet *net)
{
    if (net && net->dev) return net->dev->cl->info.name;
    return "host reference";
}

const char *cldqn_qnet_path_name(const cldqn_qnet *net)
{
    return net ? net->ops->name : "reference";
}

/* ---- profiling ------------------------------------------------------------ */

cldqn_status cldqn_qnet_set_trace(cldqn_qnet *net, cldqn_trace *tr)
{
    if (!net) return cldqn_fail(CLDQN_ERR_ARG, "qnet_set_trace: NULL network");
    net->trace = tr;
    if (net->dev) cldqn_clprof_attach(&net->dev->prof, tr, net->dev->cl->profile);
    return CLDQN_OK;
}

static double prof_begin(const cldqn_qnet *net)
{
    return net && net->trace ? cldqn_trace_now() : 0.0;
}

/* The device spans of what the call enqueued, and the call's host span up
 * to the moment the device had finished them (the drain's anchor, so the
 * device spans end within it; the profiling bookkeeping stays outside). */
static cldqn_status prof_end(cldqn_qnet *net, const char *name, double t0, cldqn_status st)
{
    if (!net || !net->trace) return st;
    double t1 = cldqn_trace_now();
    if (net->dev) {
        double anchor = cldqn_clprof_drain(&net->dev->prof, net->dev->cl->queue);
        if (anchor > t1) t1 = anchor;
    }
    cldqn_trace_span(net->trace, name, "qnet", t0, t1, CLDQN_TRACE_TID_HOST);
    return st;
}

cldqn_status cldqn_qnet_update(cldqn_qnet *net, const cldqn_batch *batch, float *loss)
{
    double t0 = prof_begin(net);
    return prof_end(net, "qnet update", t0, qnet_update(net, batch, loss));
}

cldqn_status cldqn_qnet_update_act(cldqn_qnet *net, const cldqn_batch *batch, int32_t next_state,
                                   float *loss, int32_t *next_action)
{
    double t0 = prof_begin(net);
    return prof_end(net, "qnet update_act", t0,
                    qnet_update_act(net, batch, next_state, loss, next_action));
}

cldqn_status cldqn_qnet_sync_target(cldqn_qnet *net)
{
    double t0 = prof_begin(net);
    return prof_end(net, "qnet sync_target", t0, qnet_sync_target(net));
}

cldqn_status cldqn_qnet_q_values(cldqn_qnet *net, const int32_t *states, int n, float *q)
{
    double t0 = prof_begin(net);
    return prof_end(net, "qnet q_values", t0, qnet_q_values(net, states, n, q));
}

cldqn_status cldqn_qnet_greedy(cldqn_qnet *net, const int32_t *states, int n, int32_t *actions)
{
    double t0 = prof_begin(net);
    return prof_end(net, "qnet greedy", t0, qnet_greedy(net, states, n, actions));
}

cldqn_status cldqn_qnet_read(cldqn_qnet *net, cldqn_qnet_buffer which, float *out)
{
    double t0 = prof_begin(net);
    return prof_end(net, "qnet read", t0, qnet_read(net, which, out));
}

cldqn_status cldqn_qnet_write(cldqn_qnet *net, cldqn_qnet_buffer which, const float *in)
{
    double t0 = prof_begin(net);
    return prof_end(net, "qnet write", t0, qnet_write(net, which, in));
}
