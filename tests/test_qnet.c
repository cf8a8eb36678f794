/* test_qnet.c - the OpenCL qnet against the REF qnet (the C reference).
 *
 * Same initial parameters, same minibatches: after N updates all five
 * buffers (params, target, grad, Adam m and v), the losses, Q-values and
 * greedy actions must agree, for both loss kinds, both update modes, both
 * Adam forms, clipping on and off, and through the CLBlast GEMM path. Two
 * OpenCL runs must agree bit for bit. Bad input must give the right status
 * and no crash. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cldqn/net.h"
#include "cldqn/qnet.h"
#include "clrt.h"
#include "harness.h"

/* Tolerances. The kernels use the reference's arithmetic order, no FMA and
 * correctly rounded / and sqrt, so on PoCL every buffer comes out
 * bit-identical to REF (measured max |diff| 0 in every case below), and the
 * comparison is exact on any device that has correctly rounded divide/sqrt
 * and denormals: even moving one bias addition changes the results by
 * ~1e-7, which a loose tolerance would let through.
 *
 * A device without those (Intel's CPU runtime, whose vectorizer also
 * reorders sums) is compared with derived bounds instead, as test_fused
 * does: each update starts the reference from the device's state (one update
 * from identical inputs), the mean mode's loss gets the batch sum's bound
 * 2 gamma_n sum|terms| (harness_sum_bound), its buffers are exact without
 * clipping and within harness_clip_bounds with it, and the Q-values of
 * every state, from identical parameters, within the forward bound of
 * q_bound (each layer's sum, its inputs' bounds through |W|, ReLU
 * 1-Lipschitz). The worst error is printed as a share of its bound. The
 * per-sample mode (B chained updates in one launch) has no derived bound
 * yet: atol 1e-6 + rtol 1e-5 there (a few ulp per op, compounded over the
 * chained Adam steps), said so when it runs. */
static double atol_dev = 0, rtol_dev = 0;
/* CLBlast path: its GEMMs sum in their own order; measured max |diff| after
 * 5 updates 2.4e-7 on PoCL (in an Adam moment); tolerance ~8x that. */
#define CLBLAST_ATOL 2e-6
#define CLBLAST_RTOL 1e-5

static int have_device;
static int small; /* CLDQN_TEST_SMALL=1: small shapes, few updates (tools/oclgrind-check) */

static int suite_init(void)
{
    const char *sm = getenv("CLDQN_TEST_SMALL");
    small = sm && *sm && strcmp(sm, "0");
    cldqn_cl *cl;
    have_device = cldqn_cl_create(NULL, 0, &cl) == CLDQN_OK;
    if (!have_device) {
        fprintf(stderr, "no OpenCL device (%s): OpenCL tests will fail\n", cldqn_last_error());
        return 0;
    }
    const cl_device_fp_config need = CL_FP_CORRECTLY_ROUNDED_DIVIDE_SQRT | CL_FP_DENORM;
    if ((cl->info.fp32 & need) != need) {
        atol_dev = 1e-6;
        rtol_dev = 1e-5;
        printf("\n    %s lacks correctly rounded div/sqrt or denormals: atol %g, rtol %g ",
               cl->info.name, atol_dev, rtol_dev);
    }
    cldqn_cl_free(cl);
    return 0;
}

/* Deterministic test data without depending on the rng module. */
static uint32_t lcg(uint64_t *s)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)(*s >> 33); /* 31 bits */
}
static float unif(uint64_t *s, float lo, float hi)
{
    return lo + (hi - lo) * (float)(lcg(s) >> 7) * (1.0f / 16777216.0f);
}

typedef struct {
    int32_t *s, *a, *s2;
    float *r, *term;
    cldqn_batch b;
} batch_store;

static void make_batch(batch_store *bs, int n, const cldqn_net_shape *sh, uint64_t *seed)
{
    bs->s = malloc(n * sizeof(int32_t));
    bs->a = malloc(n * sizeof(int32_t));
    bs->s2 = malloc(n * sizeof(int32_t));
    bs->r = malloc(n * sizeof(float));
    bs->term = malloc(n * sizeof(float));
    for (int i = 0; i < n; i++) {
        /* A few states repeat so the embedding gradient accumulates. */
        bs->s[i] = (int32_t)(lcg(seed) % (uint32_t)(i % 3 == 0 ? 4 : sh->n_states));
        bs->a[i] = (int32_t)(lcg(seed) % (uint32_t)sh->n_actions);
        bs->s2[i] = (int32_t)(lcg(seed) % (uint32_t)sh->n_states);
        bs->r[i] = (lcg(seed) % 4 == 0) ? 20.0f : unif(seed, -10.0f, 1.0f);
        bs->term[i] = (lcg(seed) % 5 == 0) ? 1.0f : 0.0f;
    }
    cldqn_batch b = {n, bs->s, bs->a, bs->r, bs->s2, bs->term, NULL};
    bs->b = b;
}

static void free_batch(batch_store *bs)
{
    free(bs->s);
    free(bs->a);
    free(bs->s2);
    free(bs->r);
    free(bs->term);
}

static cldqn_learn_config base_config(void)
{
    cldqn_learn_config c = {.gamma = 0.95f,
                            .lr = 1e-3f,
                            .beta1 = 0.9f,
                            .beta2 = 0.999f,
                            .eps = 1e-7f,
                            .adam = CLDQN_ADAM_TORCH,
                            .loss = CLDQN_LOSS_MSE,
                            .huber_delta = 1.0f,
                            .max_grad_norm = 0.0f,
                            .mode = CLDQN_UPDATE_MEAN};
    return c;
}

static float *init_params(const cldqn_layout *lay, uint64_t seed)
{
    float *p = malloc(lay->total * sizeof(float));
    for (size_t i = 0; i < lay->total; i++) p[i] = unif(&seed, -0.5f, 0.5f);
    return p;
}

static double max_abs_diff(const float *a, const float *b, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (!(d <= m)) m = d;
    }
    return m;
}

/* Bounds of |Q_device - Q_ref| (S x A) from identical parameters p: per
 * layer, output j's sum of I products and the bias in any order differs by
 * at most harness_sum_bound(I + 2) * (sum_k |W_jk| a_k + |b_j|) (the products'
 * roundings counted as terms), plus (1 + 2u) sum_k |W_jk| e_k from inputs
 * already apart by e_k; a_k bounds |h_k| on both sides; ReLU is
 * 1-Lipschitz; the embedding lookup is exact. */
static void q_bound(const cldqn_layout *lay, const float *p, double *qb)
{
    const cldqn_net_shape *sh = &lay->shape;
    const int L = sh->layers;
    int w = sh->embed > sh->hidden ? sh->embed : sh->hidden;
    if (sh->n_actions > w) w = sh->n_actions;
    double *h = malloc(6 * (size_t)w * sizeof(double)), *a = h + w, *e = a + w, *hn = e + w,
           *an = hn + w, *en = an + w;
    const double u = 0x1p-24;
    for (int s = 0; s < sh->n_states; s++) {
        int I = sh->embed;
        for (int k = 0; k < I; k++) {
            h[k] = p[lay->t[0].offset + (size_t)s * I + k];
            a[k] = fabs(h[k]);
            e[k] = 0;
        }
        for (int l = 0; l <= L; l++) {
            const cldqn_tensor *tw = &lay->t[1 + 2 * l], *tb = &lay->t[2 + 2 * l];
            const int O = tw->rows;
            const float *W = p + tw->offset, *b = p + tb->offset;
            for (int j = 0; j < O; j++) {
                double v = b[j], sa = fabs(b[j]), se = 0;
                for (int k = 0; k < I; k++) {
                    v += (double)W[(size_t)j * I + k] * h[k];
                    sa += fabs(W[(size_t)j * I + k]) * a[k];
                    se += fabs(W[(size_t)j * I + k]) * e[k];
                }
                const double d = (1 + 2 * u) * se + harness_sum_bound((size_t)I + 2) * sa;
                hn[j] = l < L && v < 0 ? 0 : v;
                en[j] = d;
                an[j] = fabs(hn[j]) + d + harness_sum_bound((size_t)I + 2) * sa;
            }
            for (int j = 0; j < O; j++) {
                h[j] = hn[j];
                a[j] = an[j];
                e[j] = en[j];
            }
            I = O;
        }
        for (int j = 0; j < sh->n_actions; j++) qb[(size_t)s * sh->n_actions + j] = e[j];
    }
    free(h);
}

static double worst_share; /* derived mode: over a case, largest error / bound */

/* The reference takes the device's params, target, Adam moments and step. */
static void ref_from_dev(cldqn_qnet *dev, cldqn_qnet *ref, float *tmp)
{
    static const cldqn_qnet_buffer bufs[4] = {CLDQN_BUF_PARAMS, CLDQN_BUF_TARGET, CLDQN_BUF_ADAM_M,
                                              CLDQN_BUF_ADAM_V};
    for (int k = 0; k < 4; k++) {
        CU_ASSERT_EQUAL(cldqn_qnet_read(dev, bufs[k], tmp), CLDQN_OK);
        CU_ASSERT_EQUAL(cldqn_qnet_write(ref, bufs[k], tmp), CLDQN_OK);
    }
    cldqn_qnet_set_adam_step(ref, cldqn_qnet_adam_step(dev));
}

/* Runs N updates (syncing the target midway) on OpenCL and REF and compares
 * every buffer, the losses, Q-values and greedy actions. Returns the largest
 * |diff| seen, or -1 if the OpenCL net could not be made. */
static cldqn_update_path cur_path = CLDQN_PATH_AUTO;

static double compare_backends(const cldqn_net_shape *sh, cldqn_learn_config cfg, int B, int N,
                               double atol, double rtol, int derive)
{
    cldqn_layout lay;
    CU_ASSERT_EQUAL_FATAL(cldqn_layout_init(sh, &lay), CLDQN_OK);
    float *p0 = init_params(&lay, 42);
    cldqn_qnet_options o = cldqn_qnet_default_options();
    o.max_batch = B;
    o.max_states = sh->n_states;
    o.path = cur_path;
    cldqn_qnet *dev = NULL, *ref = NULL;
    cldqn_status st = cldqn_qnet_create(&lay, &cfg, &o, p0, &dev);
    if (st != CLDQN_OK) fprintf(stderr, "OpenCL qnet: %s\n", cldqn_last_error());
    CU_ASSERT_EQUAL(st, CLDQN_OK);
    o.backend = CLDQN_BACKEND_REF;
    CU_ASSERT_EQUAL(cldqn_qnet_create(&lay, &cfg, &o, p0, &ref), CLDQN_OK);
    free(p0);
    if (!dev || !ref) {
        cldqn_qnet_free(dev);
        cldqn_qnet_free(ref);
        return -1;
    }
    double worst = 0;
    uint64_t seed = 7;
    const size_t T = lay.total;
    float *da[4], *ra[4];
    double *bounds[4];
    for (int k = 0; k < 4; k++) {
        da[k] = malloc(T * sizeof(float));
        ra[k] = malloc(T * sizeof(float));
        bounds[k] = calloc(T, sizeof(double));
    }
    /* Derived bounds for the mean mode; per-sample keeps atol/rtol. */
    const int mean_derived = derive && cfg.mode == CLDQN_UPDATE_MEAN;
    for (int it = 0; it < N; it++) {
        batch_store bs;
        make_batch(&bs, B, sh, &seed);
        if (derive) ref_from_dev(dev, ref, da[0]);
        float ld = NAN, lr = NAN;
        if (it % 2) {
            /* The update that also returns the next greedy action. */
            int32_t next = (int32_t)(it % sh->n_states), ad = -1, ar = -2;
            CU_ASSERT_EQUAL(cldqn_qnet_update_act(dev, &bs.b, next, &ld, &ad), CLDQN_OK);
            CU_ASSERT_EQUAL(cldqn_qnet_update_act(ref, &bs.b, next, &lr, &ar), CLDQN_OK);
            if (atol == 0) CU_ASSERT_EQUAL(ad, ar);
        } else {
            CU_ASSERT_EQUAL(cldqn_qnet_update(dev, &bs.b, &ld), CLDQN_OK);
            CU_ASSERT_EQUAL(cldqn_qnet_update(ref, &bs.b, &lr), CLDQN_OK);
        }
        if (mean_derived) {
            /* The mean of B losses >= 0: sum|terms| is B times the mean, the
             * divide one rounding more (test_fused.c). */
            const double g = harness_sum_bound((size_t)B + 1);
            const double lb = g * fabs(lr) / (1 - g / 2), dl = fabs((double)ld - (double)lr);
            if (dl > 0 && !(dl / lb <= worst_share)) worst_share = dl / lb;
            if (!(dl <= lb))
                fprintf(stderr, "update %d: loss %.9g, reference %.9g, bound %.3g\n", it, ld, lr,
                        lb);
            CU_ASSERT(dl <= lb);
        } else {
            ASSERT_CLOSE(&ld, &lr, 1, atol, rtol);
        }
        if (fabsf(ld - lr) > worst) worst = fabsf(ld - lr);
        if (mean_derived) {
            static const cldqn_qnet_buffer bufs[4] = {CLDQN_BUF_PARAMS, CLDQN_BUF_GRAD,
                                                      CLDQN_BUF_ADAM_M, CLDQN_BUF_ADAM_V};
            for (int k = 0; k < 4; k++) {
                CU_ASSERT_EQUAL(cldqn_qnet_read(dev, bufs[k], da[k]), CLDQN_OK);
                CU_ASSERT_EQUAL(cldqn_qnet_read(ref, bufs[k], ra[k]), CLDQN_OK);
                memset(bounds[k], 0, T * sizeof(double));
            }
            /* Clipping: the norm from T squares, sqrt, + 1e-6 and a divide. */
            if (cfg.max_grad_norm > 0)
                harness_clip_bounds(&cfg, T, ra, cldqn_qnet_adam_step(ref),
                                    harness_sum_bound(T + 4), bounds);
            static const char *const names[4] = {"params", "grad", "adam m", "adam v"};
            for (int k = 0; k < 4; k++) {
                const double sh_k = harness_max_share(da[k], ra[k], bounds[k], T);
                const double d = max_abs_diff(da[k], ra[k], T);
                if (d > worst) worst = d;
                if (!(sh_k <= worst_share)) worst_share = sh_k;
                if (!(sh_k <= 1))
                    fprintf(stderr, "update %d: %s differ by %g, %g of the bound\n", it, names[k],
                            d, sh_k);
                CU_ASSERT(sh_k <= 1);
            }
        }
        if (it == N / 2) {
            CU_ASSERT_EQUAL(cldqn_qnet_sync_target(dev), CLDQN_OK);
            CU_ASSERT_EQUAL(cldqn_qnet_sync_target(ref), CLDQN_OK);
        }
        free_batch(&bs);
    }
    CU_ASSERT_EQUAL(cldqn_qnet_adam_step(dev), cldqn_qnet_adam_step(ref));
    float *a = malloc(lay.total * sizeof(float)), *b = malloc(lay.total * sizeof(float));
    for (int w = CLDQN_BUF_PARAMS; w <= CLDQN_BUF_ADAM_V && !mean_derived; w++) {
        CU_ASSERT_EQUAL(cldqn_qnet_read(dev, (cldqn_qnet_buffer)w, a), CLDQN_OK);
        CU_ASSERT_EQUAL(cldqn_qnet_read(ref, (cldqn_qnet_buffer)w, b), CLDQN_OK);
        ASSERT_CLOSE(a, b, lay.total, atol, rtol);
        double d = max_abs_diff(a, b, lay.total);
        if (d > worst) worst = d;
    }
    /* Derived: the Q-values from identical parameters (the device's). */
    double *qbound = NULL;
    if (derive) {
        ref_from_dev(dev, ref, a);
        qbound = malloc((size_t)sh->n_states * sh->n_actions * sizeof(double));
        CU_ASSERT_EQUAL(cldqn_qnet_read(dev, CLDQN_BUF_PARAMS, a), CLDQN_OK);
        q_bound(&lay, a, qbound);
    }
    /* Q-values and greedy actions of every state. */
    int S = sh->n_states, A = sh->n_actions;
    int32_t *states = malloc(S * sizeof(int32_t)), *ga = malloc(S * sizeof(int32_t)),
            *gb = malloc(S * sizeof(int32_t));
    float *qa = malloc((size_t)S * A * sizeof(float)), *qb = malloc((size_t)S * A * sizeof(float));
    for (int s = 0; s < S; s++) states[s] = s;
    CU_ASSERT_EQUAL(cldqn_qnet_q_values(dev, states, S, qa), CLDQN_OK);
    CU_ASSERT_EQUAL(cldqn_qnet_q_values(ref, states, S, qb), CLDQN_OK);
    if (derive) {
        const double sq = harness_max_share(qa, qb, qbound, (size_t)S * A);
        if (!(sq <= worst_share)) worst_share = sq;
        if (!(sq <= 1)) fprintf(stderr, "Q-values: %g of the bound\n", sq);
        CU_ASSERT(sq <= 1);
        free(qbound);
    } else {
        ASSERT_CLOSE(qa, qb, (size_t)S * A, atol, rtol);
    }
    double dq = max_abs_diff(qa, qb, (size_t)S * A);
    if (dq > worst) worst = dq;
    CU_ASSERT_EQUAL(cldqn_qnet_greedy(dev, states, S, ga), CLDQN_OK);
    CU_ASSERT_EQUAL(cldqn_qnet_greedy(ref, states, S, gb), CLDQN_OK);
    if (dq == 0) CU_ASSERT_EQUAL(memcmp(ga, gb, S * sizeof(int32_t)), 0);
    free(states);
    free(ga);
    free(gb);
    free(qa);
    free(qb);
    free(a);
    free(b);
    for (int k = 0; k < 4; k++) {
        free(da[k]);
        free(ra[k]);
        free(bounds[k]);
    }
    cldqn_qnet_free(dev);
    cldqn_qnet_free(ref);
    return worst;
}

static cldqn_net_shape seed_shape(void)
{
    cldqn_net_shape small_shape = {
        .n_states = 20, .n_actions = 6, .embed = 10, .hidden = 13, .layers = 2};
    return small ? small_shape : cldqn_net_default_shape();
}

static void run_case(const char *label, cldqn_net_shape sh, cldqn_learn_config c, int B, int N)
{
    if (small) {
        B = B < 3 ? B : 3;
        N = 1;
    }
    static const cldqn_update_path paths[] = {CLDQN_PATH_LAYERED, CLDQN_PATH_FUSED};
    static const char *const names[] = {"layered", "fused"};
    const int derive = atol_dev > 0;
    for (int p = 0; p < 2; p++) {
        cur_path = paths[p];
        worst_share = 0;
        double w = compare_backends(&sh, c, B, N, atol_dev, rtol_dev, derive);
        printf("\n    %s, %s: max |OpenCL - REF| over all buffers = %.3g", label, names[p], w);
        if (derive && c.mode == CLDQN_UPDATE_MEAN)
            printf(", worst error %.3g of its bound ", worst_share);
        else if (derive)
            printf(" (per-sample: buffers and loss within atol %g + rtol %g, not derived; "
                   "Q-values %.3g of their bound) ",
                   atol_dev, rtol_dev, worst_share);
        else
            printf(" ");
    }
    cur_path = CLDQN_PATH_AUTO;
}

static void test_mean_mse(void)
{
    run_case("mean/MSE/torch", seed_shape(), base_config(), 32, 6);
}

static void test_mean_huber_clip(void)
{
    cldqn_learn_config c = base_config();
    c.loss = CLDQN_LOSS_HUBER;
    c.max_grad_norm = 0.5f; /* small enough that it clips */
    run_case("mean/Huber/clip 0.5", seed_shape(), c, 32, 6);
}

static void test_mean_odd_shape(void)
{
    /* Odd sizes: batch 7, hidden 13, 3 hidden layers, E 10, 5 actions. */
    cldqn_net_shape sh = {.n_states = 37, .n_actions = 5, .embed = 10, .hidden = 13, .layers = 3};
    cldqn_learn_config c = base_config();
    c.loss = CLDQN_LOSS_HUBER;
    c.huber_delta = 0.5f;
    c.adam = CLDQN_ADAM_KERAS;
    run_case("mean/Huber 0.5/keras/odd shape", sh, c, 7, 5);
    if (small) return;
    cldqn_net_shape sh0 = {.n_states = 11, .n_actions = 3, .embed = 4, .hidden = 1, .layers = 0};
    run_case("no hidden layer, batch 1", sh0, base_config(), 1, 4);
}

static void test_per_sample(void)
{
    cldqn_learn_config c = base_config();
    c.mode = CLDQN_UPDATE_PER_SAMPLE;
    c.adam = CLDQN_ADAM_KERAS;
    run_case("per-sample/keras", seed_shape(), c, 32, 2);
    if (small) return;
    c.max_grad_norm = 0.05f;
    c.loss = CLDQN_LOSS_HUBER; /* per-sample mode ignores the loss kind: Keras MSE */
    run_case("per-sample/clip 0.05", seed_shape(), c, 7, 2);
}

static void test_clblast_path(void)
{
    if (small) return; /* CLBlast's own kernels are not what oclgrind-check is for */
    /* Small sizes: CLBlast compiles per size on the first call. */
    setenv("CLDQN_GEMM", "clblast", 1);
    cur_path = CLDQN_PATH_LAYERED; /* the fused path never calls CLBlast */
    cldqn_net_shape sh = {.n_states = 20, .n_actions = 6, .embed = 10, .hidden = 16, .layers = 1};
    double w = compare_backends(&sh, base_config(), 8, 5, CLBLAST_ATOL, CLBLAST_RTOL, 0);
    cur_path = CLDQN_PATH_AUTO;
    printf("\n    CLBlast GEMM path: max |OpenCL - REF| = %.3g ", w);
    unsetenv("CLDQN_GEMM");
}

static void test_deterministic(void)
{
    if (small) return; /* two identical runs: too slow under the simulator */
    cldqn_layout lay;
    cldqn_net_shape sh = seed_shape();
    CU_ASSERT_EQUAL_FATAL(cldqn_layout_init(&sh, &lay), CLDQN_OK);
    cldqn_learn_config c = base_config();
    c.max_grad_norm = 1.0f;
    float *p0 = init_params(&lay, 3);
    float *out[2];
    for (int run = 0; run < 2; run++) {
        cldqn_qnet *net = NULL;
        cldqn_qnet_options o = cldqn_qnet_default_options();
        CU_ASSERT_EQUAL_FATAL(cldqn_qnet_create(&lay, &c, &o, p0, &net), CLDQN_OK);
        uint64_t seed = 99;
        for (int it = 0; it < (small ? 2 : 10); it++) {
            batch_store bs;
            make_batch(&bs, small ? 5 : 32, &sh, &seed);
            CU_ASSERT_EQUAL(cldqn_qnet_update(net, &bs.b, it % 3 ? NULL : &(float){0}), CLDQN_OK);
            free_batch(&bs);
        }
        out[run] = malloc(lay.total * sizeof(float));
        CU_ASSERT_EQUAL(cldqn_qnet_read(net, CLDQN_BUF_PARAMS, out[run]), CLDQN_OK);
        cldqn_qnet_free(net);
    }
    CU_ASSERT_EQUAL(memcmp(out[0], out[1], lay.total * sizeof(float)), 0);
    free(out[0]);
    free(out[1]);
    free(p0);
}

/* Creates an OpenCL net of the seed shape with the given options. */
static cldqn_status try_create(cldqn_qnet_options o, cldqn_qnet **net)
{
    cldqn_layout lay;
    cldqn_net_shape sh = seed_shape();
    cldqn_layout_init(&sh, &lay);
    cldqn_learn_config c = base_config();
    float *p0 = init_params(&lay, 1);
    cldqn_status st = cldqn_qnet_create(&lay, &c, &o, p0, net);
    free(p0);
    return st;
}

static void test_bad_device(void)
{
    if (small) return; /* host-side checks: not what oclgrind-check is for */
    cldqn_qnet *net = NULL;
    cldqn_qnet_options o = cldqn_qnet_default_options();
    o.device = "999";
    CU_ASSERT_EQUAL(try_create(o, &net), CLDQN_ERR_NODEVICE);
    CU_ASSERT_PTR_NULL(net);
    CU_ASSERT_PTR_NOT_NULL(strstr(cldqn_last_error(), "device(s)"));
    o.device = "no-such-device-name";
    CU_ASSERT_EQUAL(try_create(o, &net), CLDQN_ERR_NODEVICE);
    CU_ASSERT_PTR_NULL(net);
    /* $CLDQN_DEVICE is used when no device is named. */
    o.device = NULL;
    setenv("CLDQN_DEVICE", "no-such-device-name", 1);
    CU_ASSERT_EQUAL(try_create(o, &net), CLDQN_ERR_NODEVICE);
    CU_ASSERT_PTR_NOT_NULL(strstr(cldqn_last_error(), "CLDQN_DEVICE"));
    unsetenv("CLDQN_DEVICE");
    /* By index 0 and by a case-changed name substring. */
    o.device = "0";
    CU_ASSERT_EQUAL(try_create(o, &net), CLDQN_OK);
    char name[64] = "";
    if (net) snprintf(name, sizeof name, "%.4s", cldqn_qnet_device_name(net));
    cldqn_qnet_free(net);
    net = NULL;
    for (char *c = name; *c; c++) *c = (char)toupper((unsigned char)*c);
    o.device = name;
    CU_ASSERT_EQUAL(try_create(o, &net), CLDQN_OK);
    cldqn_qnet_free(net);
}

static void test_build_failure(void)
{
    if (small) return; /* host-side checks: not what oclgrind-check is for */
    /* A kernel dir whose dense.cl does not compile; the others are copies. */
    char dir[] = "/tmp/cldqn-kernels-XXXXXX";
    CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
    const char *names[] = {"common", "embed", "td", "optim", "act"};
    char path[512], cmd[1200];
    for (int i = 0; i < 5; i++) {
        snprintf(cmd, sizeof cmd, "cp '%s/kernels/%s.cl' '%s/'", CLDQN_SOURCE_DIR, names[i], dir);
        CU_ASSERT_EQUAL(system(cmd), 0);
    }
    snprintf(path, sizeof path, "%s/dense.cl", dir);
    FILE *f = fopen(path, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fputs("__kernel void dense_forward(__global float *y) { y[0] = undeclared_name; }\n", f);
    fclose(f);
    setenv("CLDQN_KERNEL_DIR", dir, 1);
    cldqn_qnet *net = NULL;
    /* The layered path builds dense at creation (the fused path never needs it). */
    cldqn_qnet_options o = cldqn_qnet_default_options();
    o.path = CLDQN_PATH_LAYERED;
    cldqn_status st = try_create(o, &net);
    unsetenv("CLDQN_KERNEL_DIR");
    CU_ASSERT_EQUAL(st, CLDQN_ERR_BUILD);
    CU_ASSERT_PTR_NULL(net);
    CU_ASSERT_PTR_NOT_NULL(strstr(cldqn_last_error(), "dense"));
    /* One line, with the first error of the log; the whole log on request. */
    CU_ASSERT_PTR_NOT_NULL(strstr(cldqn_last_error(), "undeclared_name"));
    CU_ASSERT_PTR_NULL(strchr(cldqn_last_error(), '\n'));
    CU_ASSERT_PTR_NOT_NULL(strstr(cldqn_cl_last_build_log(), "undeclared_name"));
    /* A missing file is an I/O error, not a crash. */
    remove(path);
    setenv("CLDQN_KERNEL_DIR", dir, 1);
    CU_ASSERT_EQUAL(try_create(o, &net), CLDQN_ERR_IO);
    unsetenv("CLDQN_KERNEL_DIR");
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CU_ASSERT_EQUAL(system(cmd), 0);
}

static void test_bad_sizes(void)
{
    if (small) return; /* host-side checks: not what oclgrind-check is for */
    cldqn_qnet *net = NULL;
    cldqn_qnet_options o = cldqn_qnet_default_options();
    o.max_batch = 0;
    CU_ASSERT_EQUAL(try_create(o, &net), CLDQN_ERR_ARG);
    o.max_batch = 4;
    o.max_states = 0;
    CU_ASSERT_EQUAL(try_create(o, &net), CLDQN_ERR_ARG);
    o.max_states = 3;
    CU_ASSERT_EQUAL_FATAL(try_create(o, &net), CLDQN_OK);
    cldqn_net_shape sh = seed_shape();
    uint64_t seed = 5;
    batch_store bs;
    make_batch(&bs, 5, &sh, &seed);
    bs.b.n = 0;
    CU_ASSERT_EQUAL(cldqn_qnet_update(net, &bs.b, NULL), CLDQN_ERR_ARG);
    bs.b.n = 5; /* above max_batch */
    CU_ASSERT_EQUAL(cldqn_qnet_update(net, &bs.b, NULL), CLDQN_ERR_ARG);
    bs.b.n = 4;
    bs.s[2] = 500; /* state out of range */
    CU_ASSERT_EQUAL(cldqn_qnet_update(net, &bs.b, NULL), CLDQN_ERR_ARG);
    bs.s[2] = 1;
    bs.a[3] = 6; /* action out of range */
    CU_ASSERT_EQUAL(cldqn_qnet_update(net, &bs.b, NULL), CLDQN_ERR_ARG);
    bs.a[3] = 0;
    CU_ASSERT_EQUAL(cldqn_qnet_update(net, &bs.b, NULL), CLDQN_OK);
    int32_t st[4] = {0, 1, 2, 3};
    float q[4 * 6];
    int32_t act[4];
    CU_ASSERT_EQUAL(cldqn_qnet_q_values(net, st, 0, q), CLDQN_ERR_ARG);
    CU_ASSERT_EQUAL(cldqn_qnet_q_values(net, st, 4, q), CLDQN_ERR_ARG); /* > max_states */
    CU_ASSERT_EQUAL(cldqn_qnet_greedy(net, st, 3, act), CLDQN_OK);
    CU_ASSERT_EQUAL(cldqn_qnet_greedy(net, st, 3, NULL), CLDQN_ERR_ARG);
    free_batch(&bs);
    cldqn_qnet_free(net);
    /* Zero-sized network shape. */
    cldqn_layout lay;
    memset(&lay, 0, sizeof lay);
    cldqn_learn_config c = base_config();
    float p = 0;
    CU_ASSERT_EQUAL(cldqn_qnet_create(&lay, &c, NULL, &p, &net), CLDQN_ERR_ARG);
    CU_ASSERT_PTR_NULL(net);
}

int register_suites(void)
{
    static const harness_test tests[] = {
        {"OpenCL vs REF: mean, MSE, torch Adam", test_mean_mse},
        {"OpenCL vs REF: mean, Huber, clipping", test_mean_huber_clip},
        {"OpenCL vs REF: odd shapes, keras Adam", test_mean_odd_shape},
        {"OpenCL vs REF: per-sample (seed) mode", test_per_sample},
        {"OpenCL vs REF: CLBlast GEMM path", test_clblast_path},
        {"two OpenCL runs are bit-identical", test_deterministic},
        {"unknown device -> NODEVICE", test_bad_device},
        {"broken kernel -> BUILD with log", test_build_failure},
        {"zero and out-of-range sizes -> ARG", test_bad_sizes},
        {NULL, NULL},
    };
    return harness_add_suite("qnet", suite_init, NULL, tests);
}
