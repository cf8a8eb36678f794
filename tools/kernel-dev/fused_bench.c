/* fused_bench.c - development harness for the fused update kernel (kernels/fused.cl).
 *
 * Runs ref_update (the C specification) and the fused kernel side by side on
 * the same random network and minibatches, reports the largest difference of
 * params, grad, Adam m and v and the loss (0 = bit-identical) and whether the
 * greedy next action agrees, then times warm updates with the host wall clock
 * (upload + launch + 8-byte read-back of loss and next action), best-of and
 * median. Device as clrt picks it (a spec as `cldqn devices --help` lists:
 * PLATFORM:N, exact name, index, unique name part; or $CLDQN_DEVICE).
 *
 *   fused_bench [--device SPEC] [--hidden H] [--layers L] [--batch B] [--embed E]
 *               [--mode mean|sample] [--loss mse|huber] [--adam torch|keras]
 *               [--clip X] [--steps N] [--reps R] [--wg W] [--sweep]
 *               [--beta1 B1] [--beta2 B2] [--touch N] [--table 0|1]
 * --sweep times hidden sizes 16..512 at the other settings. --touch N draws
 * states from [0, N) only, so the other embedding rows' Adam moments decay
 * (with a small --beta1, into denormal numbers: a flush-to-zero check).
 * --table 1 takes max_a Q_target(s') from the table of fused_target_table
 * (built once: the target never changes here) instead of a target forward. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cldqn/net.h"
#include "cldqn/ref.h"
#include "cldqn/rng.h"
#include "fused.h"

typedef struct {
    const char *device;
    int hidden, layers, batch, embed, steps, reps, sweep, touch, table;
    size_t wg;
    cldqn_learn_config cfg;
} options;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double max_abs_diff(const float *a, const float *b, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (isnan(d)) d = INFINITY;
        if (d > m) m = d;
    }
    return m;
}

/* Random minibatch with Taxi-like rewards; duplicates occur naturally. */
static void make_batch(cldqn_rng *r, int n, int S, int A, int32_t *s, int32_t *a, float *rw,
                       int32_t *ns, float *t)
{
    static const float rewards[3] = {-1.0f, -10.0f, 20.0f};
    for (int i = 0; i < n; i++) {
        s[i] = (int32_t)cldqn_rng_below(r, (uint32_t)S);
        a[i] = (int32_t)cldqn_rng_below(r, (uint32_t)A);
        rw[i] = rewards[cldqn_rng_below(r, 3)];
        ns[i] = (int32_t)cldqn_rng_below(r, (uint32_t)S);
        t[i] = cldqn_rng_below(r, 10) == 0 ? 1.0f : 0.0f;
    }
}

/* Checks opt's configuration against ref_update and times it; returns the
 * number of mismatches (0 = bit-identical and same actions). */
static int run(const options *o, cldqn_cl *cl, int verbose)
{
    cldqn_net_shape shape = cldqn_net_default_shape();
    shape.hidden = o->hidden;
    shape.layers = o->layers;
    shape.embed = o->embed;
    cldqn_layout lay;
    if (cldqn_layout_init(&shape, &lay) != CLDQN_OK) {
        fprintf(stderr, "layout: %s\n", cldqn_last_error());
        return 1;
    }
    const size_t N = lay.total;
    const int B = o->batch, S = shape.n_states, A = shape.n_actions;
    float *host[10];
    for (int k = 0; k < 10; k++) host[k] = calloc(N, sizeof(float));
    float *p = host[0], *tg = host[1], *m = host[2], *v = host[3], *g = host[4];
    float *dp = host[5], *dg = host[6], *dm = host[7], *dv = host[8], *qv = host[9];
    cldqn_rng r;
    cldqn_rng_seed(&r, 42, CLDQN_STREAM_INIT);
    cldqn_params_init(&lay, CLDQN_INIT_TORCH, &r, p);
    cldqn_params_init(&lay, CLDQN_INIT_TORCH, &r, tg); /* target differs from online */

    cl_int err;
    cl_mem buf[5];
    const float *init[5] = {p, g, m, v, tg};
    for (int k = 0; k < 5; k++) {
        buf[k] = clCreateBuffer(cl->ctx, CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR,
                                N * sizeof(float), (void *)init[k], &err);
        if (err != CL_SUCCESS) return 1;
    }
    cldqn_fused *f;
    double t0 = now();
    if (cldqn_fused_create(cl, &lay, &o->cfg, B, o->wg, &f) != CLDQN_OK) {
        fprintf(stderr, "fused_create: %s\n%s\n", cldqn_last_error(), cldqn_cl_last_build_log());
        return 1;
    }
    double t_build = now() - t0;
    cldqn_fused_set_table(f, o->table);

    int32_t *s = malloc((size_t)B * 4), *a = malloc((size_t)B * 4), *ns = malloc((size_t)B * 4);
    float *rw = malloc((size_t)B * 4), *tm = malloc((size_t)B * 4);
    cldqn_batch batch = {B, s, a, rw, ns, tm, NULL};
    cldqn_rng br;
    cldqn_rng_seed(&br, 7, CLDQN_STREAM_SAMPLE);
    int t_ref = 0, t_dev = 0, bad = 0;
    double worst[5] = {0, 0, 0, 0, 0};
    for (int step = 0; step < o->steps; step++) {
        make_batch(&br, B, o->touch && step >= 5 ? o->touch : S, A, s, a, rw, ns, tm);
        int32_t next = (int32_t)cldqn_rng_below(&br, (uint32_t)S), dev_act = -1, ref_act;
        float ref_loss = ref_update(&lay, &o->cfg, p, tg, m, v, &t_ref, &batch, g);
        ref_q_forward(&lay, p, &next, 1, qv);
        ref_argmax(qv, 1, A, &ref_act);
        float dev_loss = NAN;
        if (cldqn_fused_update(f, buf[0], buf[1], buf[2], buf[3], buf[4], &batch, t_dev, next,
                               &dev_loss, &dev_act) != CLDQN_OK) {
            fprintf(stderr, "fused_update: %s\n", cldqn_last_error());
            return 1;
        }
        t_dev += cldqn_fused_adam_steps(f, B);
        float *dst[4] = {dp, dg, dm, dv};
        for (int k = 0; k < 4; k++)
            clEnqueueReadBuffer(cl->queue, buf[k], CL_TRUE, 0, N * sizeof(float), dst[k], 0, NULL,
                                NULL);
        double d[5] = {max_abs_diff(dp, p, N), max_abs_diff(dg, g, N), max_abs_diff(dm, m, N),
                       max_abs_diff(dv, v, N), fabs((double)dev_loss - (double)ref_loss)};
        for (int k = 0; k < 5; k++)
            if (d[k] > worst[k] || isnan(d[k])) worst[k] = d[k];
        if (d[0] || d[1] || d[2] || d[3] || d[4] || dev_act != ref_act) bad++;
        if (verbose > 1)
            printf("step %d loss %.9g/%.9g act %d/%d\n", step, dev_loss, ref_loss, dev_act,
                   ref_act);
    }
    /* Timing: warm (the first launch at this work-group size compiles). */
    double *ts = malloc((size_t)o->reps * sizeof(double));
    float loss;
    int32_t act;
    for (int i = 0; i < 3; i++)
        cldqn_fused_update(f, buf[0], buf[1], buf[2], buf[3], buf[4], &batch, t_dev++, 0, &loss,
                           &act);
    for (int i = 0; i < o->reps; i++) {
        double a0 = now();
        cldqn_fused_update(f, buf[0], buf[1], buf[2], buf[3], buf[4], &batch, t_dev, i % S, &loss,
                           &act);
        ts[i] = now() - a0;
        t_dev += cldqn_fused_adam_steps(f, B);
    }
    qsort(ts, (size_t)o->reps, sizeof(double), cmp_double);
    printf("H=%-4d L=%d E=%d B=%-3d %s %s %s clip=%g wg=%zu table=%d: build %.2fs; %d steps: "
           "max|diff| "
           "params %.3g grad %.3g m %.3g v %.3g loss %.3g, %d mismatching steps; update best "
           "%.1f us median %.1f us\n",
           o->hidden, o->layers, o->embed, B,
           o->cfg.mode == CLDQN_UPDATE_MEAN ? "mean" : "per-sample",
           o->cfg.loss == CLDQN_LOSS_MSE ? "mse" : "huber",
           o->cfg.adam == CLDQN_ADAM_TORCH ? "torch" : "keras", o->cfg.max_grad_norm,
           cldqn_fused_wg(f), o->table, t_build, o->steps, worst[0], worst[1], worst[2], worst[3],
           worst[4], bad, ts[0] * 1e6, ts[o->reps / 2] * 1e6);
    free(ts);
    cldqn_fused_free(f);
    for (int k = 0; k < 5; k++) clReleaseMemObject(buf[k]);
    for (int k = 0; k < 10; k++) free(host[k]);
    free(s);
    free(a);
    free(ns);
    free(rw);
    free(tm);
    return bad;
}

int main(int argc, char **argv)
{
    options o = {.hidden = 50, .layers = 2, .batch = 32, .embed = 10, .steps = 20, .reps = 2000};
    o.cfg = (cldqn_learn_config){.gamma = 0.99f,
                                 .lr = 1e-3f,
                                 .beta1 = 0.9f,
                                 .beta2 = 0.999f,
                                 .eps = 1e-8f,
                                 .adam = CLDQN_ADAM_TORCH,
                                 .loss = CLDQN_LOSS_MSE,
                                 .huber_delta = 1.0f,
                                 .max_grad_norm = 0.0f,
                                 .mode = CLDQN_UPDATE_MEAN};
    for (int i = 1; i < argc; i++) {
        const char *k = argv[i], *val = i + 1 < argc ? argv[i + 1] : "";
        if (!strcmp(k, "--sweep")) {
            o.sweep = 1;
            continue;
        }
        i++;
        if (!strcmp(k, "--device"))
            o.device = val;
        else if (!strcmp(k, "--hidden"))
            o.hidden = atoi(val);
        else if (!strcmp(k, "--layers"))
            o.layers = atoi(val);
        else if (!strcmp(k, "--batch"))
            o.batch = atoi(val);
        else if (!strcmp(k, "--embed"))
            o.embed = atoi(val);
        else if (!strcmp(k, "--steps"))
            o.steps = atoi(val);
        else if (!strcmp(k, "--reps"))
            o.reps = atoi(val);
        else if (!strcmp(k, "--wg"))
            o.wg = (size_t)atoi(val);
        else if (!strcmp(k, "--table"))
            o.table = atoi(val);
        else if (!strcmp(k, "--touch"))
            o.touch = atoi(val);
        else if (!strcmp(k, "--beta1"))
            o.cfg.beta1 = (float)atof(val);
        else if (!strcmp(k, "--beta2"))
            o.cfg.beta2 = (float)atof(val);
        else if (!strcmp(k, "--clip"))
            o.cfg.max_grad_norm = (float)atof(val);
        else if (!strcmp(k, "--mode"))
            o.cfg.mode = !strcmp(val, "sample") ? CLDQN_UPDATE_PER_SAMPLE : CLDQN_UPDATE_MEAN;
        else if (!strcmp(k, "--loss"))
            o.cfg.loss = !strcmp(val, "huber") ? CLDQN_LOSS_HUBER : CLDQN_LOSS_MSE;
        else if (!strcmp(k, "--adam")) {
            o.cfg.adam = !strcmp(val, "keras") ? CLDQN_ADAM_KERAS : CLDQN_ADAM_TORCH;
            if (o.cfg.adam == CLDQN_ADAM_KERAS) o.cfg.eps = 1e-7f;
        } else {
            fprintf(stderr, "fused_bench: unknown option %s (see the header of fused_bench.c)\n",
                    k);
            return 2;
        }
    }
    if (o.reps < 1) o.reps = 1;
    cldqn_cl *cl;
    if (cldqn_cl_create(o.device, 0, &cl) != CLDQN_OK) {
        fprintf(stderr, "fused_bench: %s\n", cldqn_last_error());
        return 1;
    }
    printf("device: %s\n", cl->info.name);
    int bad = 0;
    if (o.sweep) {
        static const int hs[] = {16, 32, 50, 64, 100, 128, 200, 256, 384, 512};
        for (size_t i = 0; i < sizeof hs / sizeof hs[0]; i++) {
            o.hidden = hs[i];
            bad += run(&o, cl, 1);
        }
    } else {
        bad = run(&o, cl, 1);
    }
    cldqn_cl_free(cl);
    return bad ? 1 : 0;
}
