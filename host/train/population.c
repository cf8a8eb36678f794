/* population.c - K agents, one fused launch per training step (population.h).
 *
 * The per-agent loop is the one of host/train/trainer.c (env_step, learn,
 * sync_target, end_episode, the eval schedule), split in three phases per
 * step so that the updates of all agents go into one launch of
 * fused_update_pop: (A) every running agent acts, steps its Taxi and stores
 * the transition, and the learners sample their minibatch into their slot of
 * the packed input; (B) two writes (learner list, packed inputs), one launch
 * of one work-group per learner, one read of the K (loss, next action)
 * pairs; (C) target syncs (a device copy of the agent's slice), episode ends
 * and evaluations. Agents never share data, so
 * interleaving them changes nothing within any one agent.
 *
 * Device buffers hold the K agents' slices back to back: params, grad, Adam
 * m and v, target (K, total); packed input (K, stride ints); scratch (K,
 * fused scratch floats); output (K, 2). The greedy actions that the last
 * launch did not provide (the step after an update, episode starts) come
 * from one launch of q_act_pop (kernels/act.cl) for all agents that need
 * one, so the weights never travel to the host to act; act.cl and fused.cl
 * are bit-equal to ref_q_forward. */
#define _GNU_SOURCE
#include "cldqn/population.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clrt.h"
#include "fused.h"
#include "fused_layout.h"
#include "sweep.h"
#include "train_state.h"

#include "cldqn/checkpoint.h"
#include "cldqn/replay.h"
#include "cldqn/rng.h"

#define EVAL_MAX_STEPS 200 /* as trainer.c */

typedef struct {
    cldqn_config cfg;
    cldqn_replay *rb;
    cldqn_taxi env;
    cldqn_rng explore, sample;
    int in_episode, ep_return, ep_len;
    int32_t act_state, act_action;
    int returns[CLDQN_RETURN_WINDOW];
    double loss_sum;
    int64_t loss_count;
    cldqn_train_stats stats;
    int adam_t;
    int done;     /* limits reached: no more steps */
    int learning; /* in this step's launch */
    int end_after, end_term;
    int action, need_greedy; /* this step's choice before the greedy lookup */
    int sync_pending;        /* target <- params at the end of this step */
    float *host;             /* (total) host copy of the online weights, in p->host */
    int host_valid;          /* host equals the device slice */
    /* Where this agent's weights were last written (or resumed from) and
     * their hash: the next state file there records it, as the trainer's. */
    char *saved_path;
    uint64_t saved_hash;
} agent;

struct cldqn_population {
    int k, bp;
    size_t stride, nws;
    cldqn_layout lay;
    cldqn_cl *cl;
    cl_program prog;
    cl_kernel kern;       /* fused_update_pop, or with use_table: */
    cl_kernel kern_tt;    /* fused_update_pop_tt: max_a Q_target(s') from each agent's table */
    cl_kernel kern_table; /* fused_target_table_pop, after targets change */
    int use_table;
    int32_t *synced; /* (K) agents whose target changed this step */
    cl_mem tlist;
    size_t wg;
    cl_program act_prog; /* q_act_pop: the greedy actions of the step */
    cl_kernel act_kern;
    size_t act_wg;
    cl_mem act_in, act_out;    /* (K, 2) state, agent; (K) actions */
    int32_t *act_sa, *act_res; /* host sides of those */
    cl_mem buf[5];             /* cldqn_qnet_buffer order: params, target, grad, m, v */
    cl_mem in, ws, out, list;
    int32_t *stage, *res, *learners; /* learners: (K) agents in this launch */
    uint32_t *idx;
    float *host; /* (K, total) host copies of the online weights */
    agent *a;
    double elapsed;
    int64_t launches;
    int first; /* global index of agent 0 (cldqn_population_set_first) */
};

#define CL_TRY(call) CLDQN_CL_CHECK(call)

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int32_t float_bits(float x)
{
    int32_t i;
    memcpy(&i, &x, sizeof i);
    return i;
}

/* Agents may differ in the sweepable settings only. The run limits
 * (steps, episodes, until-optimal) and save-every are shared too. */
static cldqn_status check_compatible(const cldqn_config *cfgs, int k)
{
    static char a[8192], b[8192];
    cldqn_config x = cfgs[0];
    cldqn_config_to_json(&x, a, sizeof a);
    for (int i = 1; i < k; i++) {
        cldqn_config y = cldqn_sweep_strip(&cfgs[i], &x);
        cldqn_config_to_json(&y, b, sizeof b);
        if (strcmp(a, b) || strcmp(y.device, x.device) || y.backend != x.backend)
            return cldqn_fail(CLDQN_ERR_ARG,
                              "population: agent %d differs from agent 0 in more than "
                              "the settings a sweep may vary (%s)",
                              i, cldqn_sweep_keys_text());
    }
    if (x.backend != CLDQN_BACKEND_OPENCL)
        return cldqn_fail(CLDQN_ERR_ARG, "population: needs the OpenCL backend");
    if (x.envs != 1)
        return cldqn_fail(CLDQN_ERR_ARG, "population: one Taxi per agent (--envs 1, not %d)",
                          x.envs);
    if (x.path == CLDQN_PATH_LAYERED)
        return cldqn_fail(CLDQN_ERR_ARG, "population: runs on the fused path only");
    return CLDQN_OK;
}

/* ---- create / free ------------------------------------------------------- */

void cldqn_population_free(cldqn_population *p)
{
    if (!p) return;
    if (p->a)
        for (int i = 0; i < p->k; i++) {
            cldqn_replay_free(p->a[i].rb);
            free(p->a[i].saved_path);
        }
    free(p->host);
    free(p->a);
    for (int j = 0; j < 5; j++)
        if (p->buf[j]) clReleaseMemObject(p->buf[j]);
    if (p->in) clReleaseMemObject(p->in);
    if (p->ws) clReleaseMemObject(p->ws);
    if (p->out) clReleaseMemObject(p->out);
    if (p->list) clReleaseMemObject(p->list);
    if (p->kern) clReleaseKernel(p->kern);
    if (p->kern_tt) clReleaseKernel(p->kern_tt);
    if (p->kern_table) clReleaseKernel(p->kern_table);
    if (p->tlist) clReleaseMemObject(p->tlist);
    free(p->synced);
    if (p->prog) clReleaseProgram(p->prog);
    if (p->act_in) clReleaseMemObject(p->act_in);
    if (p->act_out) clReleaseMemObject(p->act_out);
    if (p->act_kern) clReleaseKernel(p->act_kern);
    if (p->act_prog) clReleaseProgram(p->act_prog);
    free(p->act_sa);
    free(p->act_res);
    cldqn_cl_free(p->cl);
    free(p->stage);
    free(p->res);
    free(p->learners);
    free(p->idx);
    free(p);
}

static cldqn_status make_buffer(cldqn_population *p, size_t bytes, const void *init, cl_mem *out)
{
    cl_int err;
    *out = clCreateBuffer(p->cl->ctx, CL_MEM_READ_WRITE, bytes, NULL, &err);
    if (err != CL_SUCCESS) return cldqn_cl_check(err, "clCreateBuffer", __FILE__, __LINE__);
    /* A host write, not a fill: Oclgrind does not count a fill as initialising. */
    CL_TRY(clEnqueueWriteBuffer(p->cl->queue, *out, CL_TRUE, 0, bytes, init, 0, NULL, NULL));
    return CLDQN_OK;
}

static cldqn_status build_tables(cldqn_population *p, int n);

/* The max-Q tables (fused_target_table_pop): used when every agent keeps
 * its target for cldqn_fused_table_payoff updates or more (the seed's sync
 * at episode ends counts as rare), the rule fused.c applies to one network.
 * Built here for the targets the agents start from. */
static cldqn_status create_table(cldqn_population *p)
{
    const size_t K = (size_t)p->k;
    const int64_t payoff =
        cldqn_fused_table_payoff(&p->lay.shape, p->a[0].cfg.batch, p->a[0].cfg.batch);
    p->use_table = 1;
    for (int i = 0; i < p->k; i++) {
        const cldqn_config *c = &p->a[i].cfg;
        if (c->target_every > 0 && c->target_every / c->train_every < payoff) p->use_table = 0;
    }
    p->synced = calloc(K, sizeof(int32_t));
    if (!p->synced) return cldqn_fail(CLDQN_ERR_NOMEM, "population: out of memory");
    for (size_t i = 0; i < K; i++) p->synced[i] = (int32_t)i;
    cldqn_status st = make_buffer(p, K * sizeof(int32_t), p->synced, &p->tlist);
    if (st) return st;
    CL_TRY(clSetKernelArg(p->kern_table, 0, sizeof(cl_mem), &p->buf[CLDQN_BUF_TARGET]));
    CL_TRY(clSetKernelArg(p->kern_table, 1, sizeof(cl_mem), &p->ws));
    CL_TRY(clSetKernelArg(p->kern_table, 2, sizeof(cl_mem), &p->tlist));
    return p->use_table ? build_tables(p, p->k) : CLDQN_OK;
}

/* q_act_pop and its buffers: (K, 2) ints in, (K) actions out. */
static cldqn_status create_act(cldqn_population *p)
{
    const size_t K = (size_t)p->k;
    cldqn_status st = cldqn_cl_build_program(p->cl, "act", NULL, &p->act_prog);
    if (!st) st = cldqn_cl_create_kernel(p->act_prog, "q_act_pop", &p->act_kern);
    if (st) return st;
    p->act_wg = cldqn_cl_kernel_wg(p->cl, p->act_kern, cldqn_act_wg_cap(p->cl));
    if (p->act_wg < 1)
        return cldqn_fail(CLDQN_ERR_OPENCL, "population: device allows no work-group");
    p->act_sa = calloc(2 * K, sizeof(int32_t));
    p->act_res = calloc(K, sizeof(int32_t));
    if (!p->act_sa || !p->act_res) return cldqn_fail(CLDQN_ERR_NOMEM, "population: out of memory");
    if ((st = make_buffer(p, 2 * K * sizeof(int32_t), p->act_sa, &p->act_in)) ||
        (st = make_buffer(p, K * sizeof(int32_t), p->act_res, &p->act_out)))
        return st;
    const cldqn_net_shape *sh = &p->lay.shape;
    const cl_uint stride = (cl_uint)p->lay.total, w_off0 = (cl_uint)p->lay.t[1].offset;
    const int E = sh->embed, H = sh->hidden, L = sh->layers, A = sh->n_actions;
    int width = E > H ? E : H;
    if (A > width) width = A;
    CL_TRY(clSetKernelArg(p->act_kern, 0, sizeof(cl_mem), &p->buf[CLDQN_BUF_PARAMS]));
    CL_TRY(clSetKernelArg(p->act_kern, 1, sizeof(cl_mem), &p->act_in));
    CL_TRY(clSetKernelArg(p->act_kern, 2, sizeof(cl_uint), &stride));
    CL_TRY(clSetKernelArg(p->act_kern, 3, sizeof(int), &E));
    CL_TRY(clSetKernelArg(p->act_kern, 4, sizeof(int), &H));
    CL_TRY(clSetKernelArg(p->act_kern, 5, sizeof(int), &L));
    CL_TRY(clSetKernelArg(p->act_kern, 6, sizeof(int), &A));
    CL_TRY(clSetKernelArg(p->act_kern, 7, sizeof(cl_uint), &w_off0));
    CL_TRY(clSetKernelArg(p->act_kern, 8, sizeof(cl_mem), &p->act_out));
    CL_TRY(clSetKernelArg(p->act_kern, 9, (size_t)width * sizeof(float), NULL));
    CL_TRY(clSetKernelArg(p->act_kern, 10, (size_t)width * sizeof(float), NULL));
    return CLDQN_OK;
}

/* The tables of the n agents listed in p->synced (already in p->tlist
 * when n == K at creation; written here otherwise). */
static cldqn_status build_tables(cldqn_population *p, int n)
{
    if (n <= 0) return CLDQN_OK;
    CL_TRY(clEnqueueWriteBuffer(p->cl->queue, p->tlist, CL_FALSE, 0, (size_t)n * sizeof(int32_t),
                                p->synced, 0, NULL, NULL));
    size_t global = (size_t)n * p->wg, local = p->wg;
    CL_TRY(clEnqueueNDRangeKernel(p->cl->queue, p->kern_table, 1, NULL, &global, &local, 0, NULL,
                                  NULL));
    return CLDQN_OK;
}

/* init: the K agents' (K, total) params, target, Adam m and v; NULL target
 * means the params, NULL m or v zeros. */
static cldqn_status create_device(cldqn_population *p, float *const init[4])
{
    const cldqn_config *c = &p->a[0].cfg;
    cldqn_status st = cldqn_fused_check(&p->lay, &c->learn);
    if (st) return st;
    st = cldqn_cl_create_groups(c->device[0] ? c->device : NULL, 0, p->k, &p->cl);
    if (st) return st;
    char opts[512];
    cldqn_fused_build_options(&p->lay, &c->learn, c->batch, opts, sizeof opts);
    st = cldqn_cl_build_program(p->cl, "fused", opts, &p->prog);
    if (st) return st;
    st = cldqn_cl_create_kernel(p->prog, "fused_update_pop", &p->kern);
    if (!st) st = cldqn_cl_create_kernel(p->prog, "fused_update_pop_tt", &p->kern_tt);
    if (!st) st = cldqn_cl_create_kernel(p->prog, "fused_target_table_pop", &p->kern_table);
    if (st) return st;
    p->wg = cldqn_cl_kernel_wg(p->cl, p->kern, cldqn_fused_wg_cap(p->cl));
    if (p->wg < 1) return cldqn_fail(CLDQN_ERR_OPENCL, "population: device allows no work-group");

    const size_t K = (size_t)p->k, total = p->lay.total;
    float *zeros = calloc(K * (total > p->nws ? total : p->nws), sizeof(float));
    if (!zeros) return cldqn_fail(CLDQN_ERR_NOMEM, "population: out of memory");
    const size_t pb = K * total * sizeof(float);
    /* Whole-buffer writes: Oclgrind takes a write at an offset for
     * uninitialised memory, as it does offset copies. */
    if ((st = make_buffer(p, pb, init[0], &p->buf[CLDQN_BUF_PARAMS])) ||
        (st = make_buffer(p, pb, init[1] ? init[1] : init[0], &p->buf[CLDQN_BUF_TARGET])) ||
        (st = make_buffer(p, pb, zeros, &p->buf[CLDQN_BUF_GRAD])) ||
        (st = make_buffer(p, pb, init[2] ? init[2] : zeros, &p->buf[CLDQN_BUF_ADAM_M])) ||
        (st = make_buffer(p, pb, init[3] ? init[3] : zeros, &p->buf[CLDQN_BUF_ADAM_V])) ||
        /* zero scratch: padding columns are read into unused lanes */
        (st = make_buffer(p, K * p->nws * sizeof(float), zeros, &p->ws)) ||
        (st = make_buffer(p, K * p->stride * sizeof(int32_t), p->stage, &p->in)) ||
        (st = make_buffer(p, K * 2 * sizeof(int32_t), p->res, &p->out)) ||
        (st = make_buffer(p, K * sizeof(int32_t), p->res, &p->list))) {
        free(zeros);
        return st;
    }
    free(zeros);
    const int B = c->batch;
    cl_mem order[5] = {p->buf[CLDQN_BUF_PARAMS], p->buf[CLDQN_BUF_GRAD], p->buf[CLDQN_BUF_ADAM_M],
                       p->buf[CLDQN_BUF_ADAM_V], p->buf[CLDQN_BUF_TARGET]};
    cl_kernel ks[2] = {p->kern, p->kern_tt};
    for (int k = 0; k < 2; k++) {
        for (cl_uint j = 0; j < 5; j++) CL_TRY(clSetKernelArg(ks[k], j, sizeof(cl_mem), &order[j]));
        CL_TRY(clSetKernelArg(ks[k], 5, sizeof(cl_mem), &p->in));
        CL_TRY(clSetKernelArg(ks[k], 6, sizeof(cl_mem), &p->ws));
        CL_TRY(clSetKernelArg(ks[k], 7, sizeof(cl_mem), &p->out));
        CL_TRY(clSetKernelArg(ks[k], 8, sizeof(int), &B));
        CL_TRY(clSetKernelArg(ks[k], 9, sizeof(cl_mem), &p->list));
    }
    st = create_table(p);
    return st ? st : create_act(p);
}

static cldqn_status restore_agent(cldqn_population *p, int i, const char *path,
                                  float *const slices[4]);
static void resume_eval(cldqn_population *p, int i, cldqn_status *st);

/* Fresh agents, or (paths != NULL) agents continuing from their checkpoints. */
static cldqn_status create(const cldqn_config *cfgs, int k, const char *const *paths,
                           cldqn_population **out)
{
    if (!out) return cldqn_fail(CLDQN_ERR_ARG, "population_create: NULL output pointer");
    *out = NULL;
    if (!cfgs || k < 1) return cldqn_fail(CLDQN_ERR_ARG, "population_create: no agents");
    cldqn_set_flush_denormals();
    for (int i = 0; i < k; i++) {
        cldqn_status st = cldqn_config_check(&cfgs[i]);
        if (st) return st;
    }
    cldqn_status st = check_compatible(cfgs, k);
    if (st) return st;
    cldqn_population *p = calloc(1, sizeof *p);
    if (!p) return cldqn_fail(CLDQN_ERR_NOMEM, "population: out of memory");
    p->k = k;
    float *init[4] = {NULL, NULL, NULL, NULL};
    cldqn_net_shape shape = cfgs[0].shape;
    shape.n_states = CLDQN_TAXI_STATES;
    shape.n_actions = CLDQN_TAXI_ACTIONS;
    st = cldqn_layout_init(&shape, &p->lay);
    if (st) goto fail;
    const int batch = cfgs[0].batch;
    p->bp = (batch + 15) / 16 * 16;
    p->stride = FUL_IN_STRIDE(p->bp);
    p->nws = cldqn_fused_scratch_floats(&p->lay.shape, batch);
    p->a = calloc((size_t)k, sizeof *p->a);
    p->stage = calloc((size_t)k * p->stride, sizeof(int32_t));
    p->res = calloc((size_t)k * 2, sizeof(int32_t));
    p->learners = calloc((size_t)k, sizeof(int32_t));
    p->idx = malloc((size_t)batch * sizeof *p->idx);
    p->host = malloc((size_t)k * p->lay.total * sizeof(float));
    const size_t kt = (size_t)k * p->lay.total;
    for (int j = 0; j < (paths ? 4 : 1); j++) init[j] = malloc(kt * sizeof(float));
    if (!p->a || !p->stage || !p->res || !p->learners || !p->idx || !p->host || !init[0] ||
        (paths && (!init[1] || !init[2] || !init[3]))) {
        st = cldqn_fail(CLDQN_ERR_NOMEM, "population: out of memory");
        goto fail;
    }
    cldqn_taxi_config plain = cldqn_taxi_default_config();
    const double optimum = cldqn_taxi_optimal_mean_return(&plain);
    for (int i = 0; i < k; i++) {
        agent *g = &p->a[i];
        g->cfg = cfgs[i];
        g->cfg.shape = shape;
        g->act_state = -1;
        g->host = p->host + (size_t)i * p->lay.total;
        if ((st = cldqn_replay_create((size_t)g->cfg.replay, &g->rb)) ||
            (st = cldqn_taxi_init(&g->env, &g->cfg.taxi, g->cfg.seed)))
            goto fail;
        cldqn_rng_seed(&g->explore, g->cfg.seed, CLDQN_STREAM_EXPLORE);
        cldqn_rng_seed(&g->sample, g->cfg.seed, CLDQN_STREAM_SAMPLE);
        cldqn_rng rinit;
        cldqn_rng_seed(&rinit, g->cfg.seed, CLDQN_STREAM_INIT);
        const size_t off = (size_t)i * p->lay.total;
        cldqn_params_init(&p->lay, g->cfg.init, &rinit, init[0] + off);
        memcpy(g->host, init[0] + off, p->lay.total * sizeof(float));
        g->host_valid = 1;
        g->stats.last_loss = NAN;
        g->stats.mean_return = NAN;
        g->stats.episode_loss = NAN;
        g->stats.epsilon = cldqn_config_epsilon(&g->cfg, 0);
        g->stats.optimal_return = optimum;
        if (paths) {
            float *const slices[4] = {init[0] + off, init[1] + off, init[2] + off, init[3] + off};
            st = restore_agent(p, i, paths[i], slices);
            if (st) goto fail;
            if (g->stats.elapsed > p->elapsed) p->elapsed = g->stats.elapsed;
        }
    }
    st = create_device(p, init);
    for (int i = 0; paths && i < k && !st; i++) resume_eval(p, i, &st);
    if (st) goto fail;
    for (int j = 0; j < 4; j++) free(init[j]);
    *out = p;
    return CLDQN_OK;
fail:
    for (int j = 0; j < 4; j++) free(init[j]);
    cldqn_population_free(p);
    return st;
}

cldqn_status cldqn_population_create(const cldqn_config *cfgs, int k, cldqn_population **out)
{
    return create(cfgs, k, NULL, out);
}

cldqn_status cldqn_population_resume(const cldqn_config *cfgs, int k, const char *const *paths,
                                     cldqn_population **out)
{
    if (!paths) return cldqn_fail(CLDQN_ERR_ARG, "population_resume: no checkpoint paths");
    return create(cfgs, k, paths, out);
}

/* ---- the loop ------------------------------------------------------------ */

static cldqn_status refresh_host(cldqn_population *p, agent *g)
{
    if (g->host_valid) return CLDQN_OK;
    const size_t bytes = p->lay.total * sizeof(float);
    CL_TRY(clEnqueueReadBuffer(p->cl->queue, p->buf[CLDQN_BUF_PARAMS], CL_TRUE,
                               (size_t)(g - p->a) * bytes, bytes, g->host, 0, NULL, NULL));
    g->host_valid = 1;
    return CLDQN_OK;
}

/* The greedy actions of every agent that chose to exploit in a state the
 * last launch gave no action for: one write, one launch of q_act_pop (a
 * work-group per such agent), one read. */
static cldqn_status greedy_all(cldqn_population *p)
{
    size_t n = 0;
    for (int i = 0; i < p->k; i++)
        if (!p->a[i].done && p->a[i].need_greedy) {
            p->act_sa[2 * n] = p->a[i].env.state;
            p->act_sa[2 * n + 1] = i;
            n++;
        }
    if (!n) return CLDQN_OK;
    CL_TRY(clEnqueueWriteBuffer(p->cl->queue, p->act_in, CL_FALSE, 0, 2 * n * sizeof(int32_t),
                                p->act_sa, 0, NULL, NULL));
    size_t global = n * p->act_wg;
    CL_TRY(clEnqueueNDRangeKernel(p->cl->queue, p->act_kern, 1, NULL, &global, &p->act_wg, 0, NULL,
                                  NULL));
    CL_TRY(clEnqueueReadBuffer(p->cl->queue, p->act_out, CL_TRUE, 0, n * sizeof(int32_t),
                               p->act_res, 0, NULL, NULL));
    for (size_t j = 0; j < n; j++) {
        agent *g = &p->a[p->act_sa[2 * j + 1]];
        g->act_state = g->env.state;
        g->act_action = p->act_res[j];
        g->action = g->act_action;
        g->need_greedy = 0;
    }
    return CLDQN_OK;
}

static void update_mean_return(agent *g)
{
    int64_t n = g->stats.episodes < CLDQN_RETURN_WINDOW ? g->stats.episodes : CLDQN_RETURN_WINDOW;
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += g->returns[i];
    g->stats.mean_return = n ? s / (double)n : NAN;
}

static void end_episode(cldqn_population *p, int i, const cldqn_pop_hooks *h, int terminated)
{
    agent *g = &p->a[i];
    g->returns[g->stats.episodes % CLDQN_RETURN_WINDOW] = g->ep_return;
    g->stats.episodes++;
    g->stats.last_return = g->ep_return;
    g->stats.last_length = g->ep_len;
    g->stats.episode_loss = g->loss_count ? (float)(g->loss_sum / (double)g->loss_count) : NAN;
    update_mean_return(g);
    g->in_episode = 0;
    if (h && h->on_episode) h->on_episode(h->ctx, p, i, terminated);
    g->loss_sum = 0;
    g->loss_count = 0;
}

/* target <- params for agent i, deferred to flush_syncs at the end of the
 * step: the agent's weights do not change between the two points (an agent
 * syncing in phase A does not learn on that step). */
static void sync_target(cldqn_population *p, int i)
{
    p->a[i].stats.target_syncs++;
    p->a[i].sync_pending = 1;
}

/* One copy per run of adjacent agents that sync (usually all of them at
 * once; Oclgrind also tracks a whole-buffer copy correctly, where it marks
 * offset copies as uninitialised). */
static cldqn_status flush_syncs(cldqn_population *p)
{
    const size_t bytes = p->lay.total * sizeof(float);
    int n = 0;
    for (int i = 0; i < p->k;) {
        if (!p->a[i].sync_pending) {
            i++;
            continue;
        }
        int j = i;
        while (j < p->k && p->a[j].sync_pending) {
            p->synced[n++] = j;
            p->a[j++].sync_pending = 0;
        }
        CL_TRY(clEnqueueCopyBuffer(p->cl->queue, p->buf[CLDQN_BUF_PARAMS], p->buf[CLDQN_BUF_TARGET],
                                   (size_t)i * bytes, (size_t)i * bytes, (size_t)(j - i) * bytes, 0,
                                   NULL, NULL));
        i = j;
    }
    return p->use_table ? build_tables(p, n) : CLDQN_OK;
}

/* Samples agent i's minibatch into its slot of the packed input (fused.c's
 * packing) with next_state as the state to act in afterwards. */
static cldqn_status pack(cldqn_population *p, int i, int next_state)
{
    agent *g = &p->a[i];
    const cldqn_config *c = &g->cfg;
    const int bp = p->bp;
    cldqn_status st =
        cldqn_replay_sample(g->rb, &g->sample, (size_t)c->batch, c->sample_replacement, p->idx);
    if (st) return st;
    int32_t *in = p->stage + (size_t)i * p->stride;
    for (int b = 0; b < c->batch; b++) {
        const cldqn_transition *tr = cldqn_replay_get(g->rb, p->idx[b]);
        in[FUL_IN_S(bp) + b] = tr->state;
        in[FUL_IN_A(bp) + b] = tr->action;
        in[FUL_IN_NS(bp) + b] = tr->next_state;
        in[FUL_IN_R(bp) + b] = float_bits((float)tr->reward);
        in[FUL_IN_T(bp) + b] = float_bits(tr->terminated ? 1.0f : 0.0f);
    }
    in[FUL_IN_G(bp)] = next_state;
    in[FUL_IN_GAMMA(bp)] = float_bits(c->learn.gamma);
    const cldqn_learn_config *l = &c->learn;
    float *hyp = (float *)(in + FUL_IN_HYP(bp));
    hyp[FUL_HYP_B1] = l->beta1;
    hyp[FUL_HYP_B2] = l->beta2;
    hyp[FUL_HYP_EPS] = l->eps;
    hyp[FUL_HYP_OMB1] = 1.0f - l->beta1; /* as ref_adam */
    hyp[FUL_HYP_OMB2] = 1.0f - l->beta2;
    hyp[FUL_HYP_HUBER] = l->huber_delta;
    hyp[FUL_HYP_NORM] = l->max_grad_norm;
    const int steps = c->learn.mode == CLDQN_UPDATE_PER_SAMPLE ? c->batch : 1;
    float sc[2];
    for (int k = 0; k < steps; k++) {
        cldqn_fused_adam_scalars(&c->learn, g->adam_t + 1 + k, &sc[0], &sc[1]);
        in[FUL_IN_ADAM(bp) + 2 * k] = float_bits(sc[0]);
        in[FUL_IN_ADAM(bp) + 2 * k + 1] = float_bits(sc[1]);
    }
    g->adam_t += steps;
    g->learning = 1;
    g->act_state = next_state;
    g->host_valid = 0;
    return CLDQN_OK;
}

/* Phase A1 of one agent: trainer.c's env_step up to the choice between
 * exploring and acting greedily. */
static void choose(agent *g)
{
    const cldqn_config *c = &g->cfg;
    g->learning = 0;
    g->end_after = 0;
    if (!g->in_episode) {
        cldqn_taxi_reset(&g->env);
        g->in_episode = 1;
        g->ep_return = 0;
        g->ep_len = 0;
    }
    int s = g->env.state;
    float eps = cldqn_config_epsilon(c, g->stats.steps);
    g->stats.epsilon = eps;
    float coin = cldqn_rng_float(&g->explore);
    g->action = (int)cldqn_rng_below(&g->explore, CLDQN_TAXI_ACTIONS);
    g->need_greedy = !(coin < eps) && g->act_state != s;
    if (!(coin < eps) && g->act_state == s) g->action = g->act_action;
}

/* Phase A2: the greedy lookup if needed, then the rest of env_step up to
 * its update. */
static cldqn_status act_and_store(cldqn_population *p, int i, const cldqn_pop_hooks *h)
{
    agent *g = &p->a[i];
    const cldqn_config *c = &g->cfg;
    cldqn_status st;
    const int s = g->env.state;
    const int a = g->action; /* the greedy one, if chosen, from greedy_all */
    cldqn_taxi_step_result r;
    st = cldqn_taxi_step(&g->env, a, &r);
    if (st) return st;
    cldqn_transition tr = {(uint16_t)s,      (uint16_t)r.next_state,       (uint8_t)a,
                           (int8_t)r.reward, (uint8_t)(r.terminated != 0), 0};
    cldqn_replay_push(g->rb, &tr);
    g->stats.steps++;
    g->ep_return += r.reward;
    g->ep_len++;
    int capped = c->episode_steps > 0 && g->ep_len >= c->episode_steps;
    int can_learn = (int64_t)cldqn_replay_size(g->rb) > c->learning_starts &&
                    cldqn_replay_size(g->rb) >= (size_t)c->batch;
    if (c->target_every == 0 && r.terminated) {
        /* The seed: sync and end without an update. */
        sync_target(p, i);
        end_episode(p, i, h, 1);
        return CLDQN_OK;
    }
    if (can_learn && g->stats.steps % c->train_every == 0) {
        g->act_state = -1;
        st = pack(p, i, r.next_state);
        if (st) return st;
    }
    if (c->target_every == 0) {
        g->end_after = r.truncated || capped;
        g->end_term = 0;
    } else {
        g->end_after = r.terminated || r.truncated || capped;
        g->end_term = r.terminated;
    }
    return CLDQN_OK;
}

static int limits_reached(const agent *g)
{
    const cldqn_config *c = &g->cfg;
    if (c->steps > 0 && g->stats.steps >= c->steps) return 1;
    if (c->episodes > 0 && g->stats.episodes >= c->episodes) return 1;
    if (c->until_optimal && g->stats.reached_optimal) return 1;
    return 0;
}

/* Phase B: one launch of one work-group per agent that learns on this step. */
static cldqn_status launch(cldqn_population *p)
{
    int n = 0;
    for (int i = 0; i < p->k; i++)
        if (p->a[i].learning) p->learners[n++] = i;
    if (!n) return CLDQN_OK;
    cl_command_queue q = p->cl->queue;
    CL_TRY(clEnqueueWriteBuffer(q, p->list, CL_FALSE, 0, (size_t)n * sizeof(int32_t), p->learners,
                                0, NULL, NULL));
    /* The packed inputs from the first to the last learner, in one write. */
    const size_t lo = (size_t)p->learners[0] * p->stride,
                 hi = (size_t)(p->learners[n - 1] + 1) * p->stride;
    CL_TRY(clEnqueueWriteBuffer(q, p->in, CL_FALSE, lo * sizeof(int32_t),
                                (hi - lo) * sizeof(int32_t), p->stage + lo, 0, NULL, NULL));
    size_t global = (size_t)n * p->wg, local = p->wg;
    CL_TRY(clEnqueueNDRangeKernel(q, p->use_table ? p->kern_tt : p->kern, 1, NULL, &global, &local,
                                  0, NULL, NULL));
    CL_TRY(clEnqueueReadBuffer(q, p->out, CL_TRUE, 0, (size_t)p->k * 2 * sizeof(int32_t), p->res, 0,
                               NULL, NULL));
    p->launches++;
    for (int j = 0; j < n; j++) {
        const int i = p->learners[j];
        agent *g = &p->a[i];
        float loss;
        memcpy(&loss, &p->res[2 * i], sizeof loss);
        if (!isfinite(loss))
            return cldqn_fail(CLDQN_ERR_NUMERIC,
                              "agent %d: non-finite loss (%g) at step %" PRId64 ", update %" PRId64
                              ": training stopped",
                              i, (double)loss, g->stats.steps, g->stats.updates + 1);
        g->act_action = p->res[2 * i + 1];
        g->stats.updates++;
        g->stats.last_loss = loss;
        g->loss_sum += loss;
        g->loss_count++;
    }
    return CLDQN_OK;
}

cldqn_status cldqn_population_evaluate(cldqn_population *p, int i)
{
    if (i < 0 || i >= p->k) return cldqn_fail(CLDQN_ERR_ARG, "population: no agent %d", i);
    agent *g = &p->a[i];
    cldqn_status st = refresh_host(p, g);
    if (st) return st;
    uint8_t policy[CLDQN_TAXI_STATES];
    st = cldqn_policy_from_params(&p->lay, g->host, policy);
    if (st) return st;
    st = cldqn_taxi_eval_policy(policy, EVAL_MAX_STEPS, &g->stats.eval);
    if (st) return st;
    g->stats.have_eval = 1;
    g->stats.reached_optimal = fabs(g->stats.eval.mean_return - g->stats.optimal_return) < 1e-6;
    return CLDQN_OK;
}

cldqn_status cldqn_population_run(cldqn_population *p, const cldqn_pop_hooks *h)
{
    cldqn_set_flush_denormals();
    double start = now_s(), base = p->elapsed;
    cldqn_status st = CLDQN_OK;
    for (;;) {
        int running = 0;
        for (int i = 0; i < p->k; i++) {
            p->a[i].done = limits_reached(&p->a[i]);
            running += !p->a[i].done;
        }
        if (!running) break;
        if (h && h->stop && *h->stop) {
            st = cldqn_fail(CLDQN_ERR_INTERRUPT, "interrupted");
            break;
        }
        for (int i = 0; i < p->k; i++) {
            p->a[i].learning = 0;
            p->a[i].need_greedy = 0;
            if (!p->a[i].done) choose(&p->a[i]);
        }
        st = greedy_all(p);
        for (int i = 0; i < p->k && !st; i++)
            if (!p->a[i].done) st = act_and_store(p, i, h);
        if (!st) st = launch(p);
        for (int i = 0; i < p->k && !st; i++) {
            agent *g = &p->a[i];
            if (g->done) continue;
            const cldqn_config *c = &g->cfg;
            if (c->target_every > 0 && g->stats.steps % c->target_every == 0) sync_target(p, i);
            if (g->end_after) end_episode(p, i, h, g->end_term);
            g->end_after = 0;
            if (c->eval_every > 0 && g->stats.steps % c->eval_every == 0 && !c->taxi.is_rainy &&
                !c->taxi.fickle_passenger) {
                st = cldqn_population_evaluate(p, i);
                if (st) break;
                g->stats.elapsed = base + (now_s() - start);
                if (g->stats.reached_optimal && !g->stats.optimal_steps) {
                    g->stats.optimal_steps = g->stats.steps;
                    g->stats.optimal_updates = g->stats.updates;
                    g->stats.optimal_elapsed = g->stats.elapsed;
                }
                if (h && h->on_eval) h->on_eval(h->ctx, p, i);
            }
        }
        if (!st) st = flush_syncs(p);
        p->elapsed = base + (now_s() - start);
        for (int i = 0; i < p->k; i++)
            if (!p->a[i].done) p->a[i].stats.elapsed = p->elapsed;
        /* As the trainer: after the step's evaluation, each agent to its own
         * PATH.agentI (+ .state), atomically. */
        for (int i = 0; i < p->k && !st; i++) {
            agent *g = &p->a[i];
            const cldqn_config *c = &g->cfg;
            if (g->done || c->save_every <= 0 || !c->out[0] || g->stats.steps % c->save_every)
                continue;
            char path[CLDQN_CONFIG_PATH_MAX + 32];
            cldqn_population_agent_path(c->out, p->first + i, path, sizeof path);
            st = cldqn_population_save(p, i, path);
        }
        if (st) break;
    }
    cl_int err = clFinish(p->cl->queue);
    if (!st && err != CL_SUCCESS) st = cldqn_cl_check(err, "clFinish", __FILE__, __LINE__);
    p->elapsed = base + (now_s() - start);
    return st;
}

/* ---- save and resume ----------------------------------------------------- */

/* Agent i's slice of device buffer j into host memory. */
static cldqn_status read_slice(cldqn_population *p, int j, int i, float *host)
{
    const size_t bytes = p->lay.total * sizeof(float);
    CL_TRY(clEnqueueReadBuffer(p->cl->queue, p->buf[j], CL_TRUE, (size_t)i * bytes, bytes, host, 0,
                               NULL, NULL));
    return CLDQN_OK;
}

/* Agent i continues from path (a solo or a population checkpoint): what
 * cldqn_trainer_resume restores, into the agent's fields and its slices of
 * the initial params, target, Adam m and v (slices[0..3], total each). */
static cldqn_status restore_agent(cldqn_population *p, int i, const char *path,
                                  float *const slices[4])
{
    agent *g = &p->a[i];
    cldqn_train_state s;
    cldqn_config stored;
    cldqn_layout lay;
    uint64_t fh;
    cldqn_status st = cldqn_train_state_load(path, &g->cfg, &stored, &lay, &s, &fh);
    if (st) return st;
    st = cldqn_replay_restore(g->rb, s.replay, s.n_replay, s.replay_pushed);
    if (st) {
        cldqn_train_state_free(&s);
        return st;
    }
    const size_t bytes = p->lay.total * sizeof(float);
    memcpy(slices[0], s.params, bytes);
    memcpy(slices[1], s.target, bytes);
    memcpy(slices[2], s.adam_m, bytes);
    memcpy(slices[3], s.adam_v, bytes);
    memcpy(g->host, s.params, bytes);
    g->host_valid = 1;
    const cldqn_train_env *ev = &s.envs[0]; /* the only one: load checked cfg.envs == 1 */
    g->env.rng = ev->rng;
    g->env.state = ev->state;
    g->env.fickle_step = ev->fickle_step;
    g->env.steps = ev->steps;
    g->env.last_action = ev->last_action;
    g->explore = s.explore;
    g->sample = s.sample;
    g->in_episode = ev->in_episode;
    g->ep_return = ev->ep_return;
    g->ep_len = ev->ep_len;
    g->loss_sum = ev->loss_sum;
    g->loss_count = ev->loss_count;
    for (int r = 0; r < CLDQN_RETURN_WINDOW; r++) g->returns[r] = s.returns[r];
    g->adam_t = s.adam_step;
    g->stats.steps = s.steps;
    g->stats.episodes = s.episodes;
    g->stats.updates = s.updates;
    g->stats.target_syncs = s.target_syncs;
    g->stats.elapsed = s.elapsed;
    g->stats.epsilon = cldqn_config_epsilon(&g->cfg, s.steps);
    update_mean_return(g);
    g->act_state = -1;
    cldqn_train_state_free(&s);
    free(g->saved_path);
    g->saved_path = strdup(path); /* NULL only loses the crash recovery */
    g->saved_hash = fh;
    return CLDQN_OK;
}

/* An agent saved right after an evaluation step was evaluated on exactly
 * these weights; repeating it restores until-optimal's stop, so an agent
 * that had reached the optimum stays stopped after a resume. */
static void resume_eval(cldqn_population *p, int i, cldqn_status *st)
{
    agent *g = &p->a[i];
    const cldqn_config *c = &g->cfg;
    if (!c->until_optimal || c->eval_every <= 0 || g->stats.steps == 0 ||
        g->stats.steps % c->eval_every || c->taxi.is_rainy || c->taxi.fickle_passenger)
        return;
    *st = cldqn_population_evaluate(p, i);
    if (!*st && g->stats.reached_optimal) {
        g->stats.optimal_steps = g->stats.steps;
        g->stats.optimal_updates = g->stats.updates;
        g->stats.optimal_elapsed = g->stats.elapsed;
    }
}

/* ---- access -------------------------------------------------------------- */

cldqn_status cldqn_population_read_params(cldqn_population *p, int i, float *out)
{
    if (!p || !out || i < 0 || i >= p->k)
        return cldqn_fail(CLDQN_ERR_ARG, "population_read_params: bad argument");
    cldqn_status st = refresh_host(p, &p->a[i]);
    if (st) return st;
    memcpy(out, p->a[i].host, p->lay.total * sizeof(float));
    return CLDQN_OK;
}

cldqn_status cldqn_population_save(cldqn_population *p, int i, const char *path)
{
    if (!p || !path || i < 0 || i >= p->k)
        return cldqn_fail(CLDQN_ERR_ARG, "population_save: bad argument");
    agent *g = &p->a[i];
    const size_t total = p->lay.total, n_rb = cldqn_replay_size(g->rb);
    cldqn_status st = flush_syncs(p); /* a no-op between steps */
    if (st) return st;
    float *buf = malloc(3 * total * sizeof(float));
    cldqn_transition *items = malloc((n_rb ? n_rb : 1) * sizeof *items);
    if (!buf || !items) {
        free(buf);
        free(items);
        return cldqn_fail(CLDQN_ERR_NOMEM, "out of memory saving '%s'", path);
    }
    if ((st = refresh_host(p, g)) || (st = read_slice(p, CLDQN_BUF_TARGET, i, buf)) ||
        (st = read_slice(p, CLDQN_BUF_ADAM_M, i, buf + total)) ||
        (st = read_slice(p, CLDQN_BUF_ADAM_V, i, buf + 2 * total)))
        goto out;
    for (size_t j = 0; j < n_rb; j++) items[j] = *cldqn_replay_get(g->rb, j);
    const cldqn_train_env env = {
        .rng = g->env.rng,
        .state = g->env.state,
        .fickle_step = g->env.fickle_step,
        .steps = g->env.steps,
        .last_action = g->env.last_action,
        .in_episode = g->in_episode,
        .ep_return = g->ep_return,
        .ep_len = g->ep_len,
        .loss_sum = g->loss_sum,
        .loss_count = g->loss_count,
    };
    cldqn_train_state s = {
        .params = g->host,
        .target = buf,
        .adam_m = buf + total,
        .adam_v = buf + 2 * total,
        .replay = items,
        .n_replay = n_rb,
        .replay_pushed = cldqn_replay_pushed(g->rb),
        .explore = g->explore,
        .sample = g->sample,
        .adam_step = g->adam_t,
        .steps = g->stats.steps,
        .episodes = g->stats.episodes,
        .updates = g->stats.updates,
        .target_syncs = g->stats.target_syncs,
        .elapsed = g->stats.elapsed,
        .n_envs = 1,
        .envs = &env,
    };
    for (int r = 0; r < CLDQN_RETURN_WINDOW; r++) s.returns[r] = g->returns[r];
    char idx[16];
    snprintf(idx, sizeof idx, "%d", p->first + i);
    const char *extra[] = {"agent", idx, NULL};
    const int same = g->saved_path && !strcmp(g->saved_path, path);
    uint64_t h;
    st =
        cldqn_train_state_save(path, &g->cfg, &p->lay, &s, same ? &g->saved_hash : NULL, extra, &h);
    if (!st) {
        if (!same) {
            free(g->saved_path);
            g->saved_path = strdup(path); /* NULL only loses the crash recovery */
        }
        g->saved_hash = h;
    }
    if (st == CLDQN_ERR_NUMERIC) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", cldqn_last_error());
        st = cldqn_fail(st, "agent %d: %s", i, msg);
    }
out:
    free(buf);
    free(items);
    return st;
}

void cldqn_population_agent_path(const char *path, int i, char *buf, size_t size)
{
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    const char *dot = strrchr(base, '.');
    if (!dot || dot == base) dot = path + strlen(path);
    snprintf(buf, size, "%.*s.agent%d%s", (int)(dot - path), path, i, dot);
}

void cldqn_population_set_first(cldqn_population *p, int first)
{
    p->first = first;
}

int cldqn_population_size(const cldqn_population *p)
{
    return p->k;
}
const cldqn_train_stats *cldqn_population_stats(const cldqn_population *p, int i)
{
    return &p->a[i].stats;
}
const cldqn_config *cldqn_population_config(const cldqn_population *p, int i)
{
    return &p->a[i].cfg;
}
const cldqn_layout *cldqn_population_layout(const cldqn_population *p)
{
    return &p->lay;
}
const char *cldqn_population_device_name(const cldqn_population *p)
{
    return p->cl->info.name;
}
double cldqn_population_elapsed(const cldqn_population *p)
{
    return p->elapsed;
}
int64_t cldqn_population_launches(const cldqn_population *p)
{
    return p->launches;
}
