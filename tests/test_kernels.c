/* test_kernels.c - every kernel of kernels/ against its ref_* twin (ref.h).
 *
 * Random inputs with a fixed seed, awkward sizes (batch 1, 7, 33; widths 1,
 * 10, 13, 50, 257), nonzero offsets into the flat buffers, and sentinels
 * around the written ranges to catch stray writes. The kernels use the
 * reference's summation order with FP_CONTRACT OFF and correctly rounded /
 * and sqrt, so on PoCL every result is bit-identical (measured error 0 for
 * every kernel, printed per test).
 *
 * A compiler may still reorder a sum (Intel's CPU runtime vectorizes the
 * work-group loop, reassociating sums in groups of 1-10 items or a partial
 * last group), so each sum is compared with the standard bound for a float
 * sum or dot product of n terms in any order (Higham, "Accuracy and Stability
 * of Numerical Algorithms", 3.1 and 3.5): |fl(s) - s| <= gamma_n sum|terms|,
 * gamma_n = n u / (1 - n u), u = 2^-24, with sum|terms| recomputed in double
 * from the reference's own inputs. Kernel and reference each meet it, so they
 * may differ by twice that. Results without a sum get no such bound (exact);
 * only a device without correctly rounded divide/sqrt or denormals adds 4 ulp
 * relative (rtol 4.8e-7) plus atol 1e-37 (a flushed denormal). Each test
 * prints its worst error and that error's share of its element's bound.
 *
 * CLDQN_TEST_SMALL=1 keeps to the small sizes (for tools/oclgrind-check). */
#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cldqn/ref.h"
#include "clrt.h"
#include "harness.h"

static double RTOL = 0, ATOL = 0; /* exact unless the device lacks the features above */
#define SENTINEL 12345.0f

static cldqn_cl *cl;
static cl_program progs[4];
static const char *const prog_names[4] = {"embed", "dense", "td", "optim"};
static int small;

static int suite_init(void)
{
    const char *s = getenv("CLDQN_TEST_SMALL");
    small = s && *s && strcmp(s, "0");
    if (cldqn_cl_create(NULL, 0, &cl) != CLDQN_OK) {
        fprintf(stderr, "test_kernels: %s\n", cldqn_last_error());
        return 1;
    }
    const cl_device_fp_config need = CL_FP_CORRECTLY_ROUNDED_DIVIDE_SQRT | CL_FP_DENORM;
    if ((cl->info.fp32 & need) != need) {
        RTOL = 4.8e-7;
        ATOL = 1e-37;
        printf("\n    %s lacks correctly rounded div/sqrt or denormals: atol %g, rtol %g ",
               cl->info.name, ATOL, RTOL);
    }
    for (int i = 0; i < 4; i++)
        if (cldqn_cl_build_program(cl, prog_names[i], NULL, &progs[i]) != CLDQN_OK) {
            fprintf(stderr, "test_kernels: %s\n%s\n", cldqn_last_error(),
                    cldqn_cl_last_build_log());
            return 1;
        }
    return 0;
}

static int suite_clean(void)
{
    for (int i = 0; i < 4; i++)
        if (progs[i]) clReleaseProgram(progs[i]);
    cldqn_cl_free(cl);
    return 0;
}

/* ---- helpers ------------------------------------------------------------ */

static uint64_t seed = 12345;
static uint32_t lcg(void)
{
    seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)(seed >> 33); /* 31 bits */
}
static float unif(float lo, float hi)
{
    return lo + (hi - lo) * (float)(lcg() >> 7) * (1.0f / 16777216.0f);
}
static float *rand_floats(size_t n, float lo, float hi)
{
    float *p = malloc((n ? n : 1) * sizeof(float));
    for (size_t i = 0; i < n; i++) p[i] = unif(lo, hi);
    return p;
}
static float *filled(size_t n, float v)
{
    float *p = malloc((n ? n : 1) * sizeof(float));
    for (size_t i = 0; i < n; i++) p[i] = v;
    return p;
}

static cl_mem dev_copy(const void *host, size_t bytes)
{
    cl_int err;
    cl_mem m = clCreateBuffer(cl->ctx, CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR, bytes ? bytes : 4,
                              (void *)host, &err);
    CU_ASSERT_EQUAL_FATAL(err, CL_SUCCESS);
    return m;
}
static void dev_read(cl_mem m, void *host, size_t bytes)
{
    CU_ASSERT_EQUAL_FATAL(clEnqueueReadBuffer(cl->queue, m, CL_TRUE, 0, bytes, host, 0, NULL, NULL),
                          CL_SUCCESS);
}

static cl_kernel kernel(int prog, const char *name)
{
    cl_kernel k = NULL;
    CU_ASSERT_EQUAL_FATAL(cldqn_cl_create_kernel(progs[prog], name, &k), CLDQN_OK);
    return k;
}

#define RUN(k, name, n, wg, ...)                                                                   \
    do {                                                                                           \
        cldqn_cl_arg a_[] = {__VA_ARGS__};                                                         \
        CU_ASSERT_EQUAL_FATAL(cldqn_cl_set_args(k, name, a_, (int)(sizeof a_ / sizeof a_[0])),     \
                              CLDQN_OK);                                                           \
        CU_ASSERT_EQUAL_FATAL(cldqn_cl_launch(cl, k, n, wg), CLDQN_OK);                            \
    } while (0)

static double worst, worst_share; /* largest |kernel - ref| and error/bound of the test */

/* 2 gamma_n: how far two float evaluations of an n-term sum (or dot
 * product) may differ, per unit of sum|terms|. */
static double sum_bound(size_t n)
{
    const double nu = (double)n * 0x1p-24;
    return 2.0 * nu / (1.0 - nu);
}

/* got == want within bound[i] (NULL: 0) plus the device fallback. */
static void check_bound(const float *got, const float *want, size_t n, const double *bound)
{
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - (double)want[i]);
        double lim = (bound ? bound[i] : 0.0) + ATOL + RTOL * fabs((double)want[i]);
        if (!(d <= worst)) worst = d;
        if (d > 0 && !(d / lim <= worst_share)) worst_share = d / lim; /* inf or NaN: fails */
        if (!(d <= lim) && bad++ < 3)
            fprintf(stderr, "got[%zu] = %.9g, expected %.9g, bound %.3g\n", i, got[i], want[i],
                    lim);
    }
    CU_ASSERT_EQUAL(bad, 0);
}

static void check(const float *got, const float *want, size_t n)
{
    check_bound(got, want, n, NULL);
}

/* Every element outside [lo, hi) still holds SENTINEL. */
static void check_sentinel(const float *p, size_t n, size_t lo, size_t hi)
{
    size_t bad = 0;
    for (size_t i = 0; i < n; i++)
        if ((i < lo || i >= hi) && p[i] != SENTINEL) bad++;
    CU_ASSERT_EQUAL(bad, 0);
}

static void report(const char *what)
{
    printf("\n    %s: worst error %.3g = %.3g of its bound ", what, worst, worst_share);
    worst = worst_share = 0;
}

static const int batches_full[] = {1, 7, 33}, batches_small[] = {1, 7};
static const int dims_full[][2] = {{10, 1}, {10, 13}, {13, 50}, {50, 257}, {257, 6}, {1, 1}};
static const int dims_small[][2] = {{10, 1}, {10, 13}, {13, 6}};
#define FOR_BATCH(B)                                                                               \
    for (int bi_ = 0, B;                                                                           \
         bi_ < (small ? 2 : 3) && (B = (small ? batches_small : batches_full)[bi_], 1); bi_++)
#define N_DIMS    (small ? 3 : 6)
#define DIM(j, c) (small ? dims_small[j][c] : dims_full[j][c])

/* ---- tests --------------------------------------------------------------- */

static void test_embed_forward(void)
{
    cl_kernel k = kernel(0, "embed_forward");
    size_t wg = cldqn_cl_kernel_wg(cl, k, 64);
    const int S = 23, off = 5, soff = 3;
    int Es[] = {1, 10, 13};
    FOR_BATCH(B)
    for (int ei = 0; ei < 3; ei++) {
        int E = Es[ei];
        float *emb = rand_floats(off + (size_t)S * E, -1, 1);
        int32_t *st = malloc((soff + B) * sizeof(int32_t));
        for (int i = 0; i < soff + B; i++) st[i] = (int32_t)(lcg() % S);
        st[soff + B - 1] = S - 1; /* the last row */
        float *want = malloc((size_t)B * E * sizeof(float)),
              *got = filled((size_t)B * E + 1, SENTINEL);
        ref_embed_forward(emb + off, st + soff, B, E, want);
        cl_mem de = dev_copy(emb, (off + (size_t)S * E) * 4), ds = dev_copy(st, (soff + B) * 4),
               dx = dev_copy(got, ((size_t)B * E + 1) * 4);
        RUN(k, "embed_forward", (size_t)B * E, wg, A_MEM(de), A_MEM(ds), A_INT(B), A_INT(E),
            A_MEM(dx), A_UINT(off), A_UINT(soff));
        dev_read(dx, got, ((size_t)B * E + 1) * 4);
        check(got, want, (size_t)B * E);
        CU_ASSERT_EQUAL(got[(size_t)B * E], SENTINEL);
        clReleaseMemObject(de);
        clReleaseMemObject(ds);
        clReleaseMemObject(dx);
        free(emb);
        free(st);
        free(want);
        free(got);
    }
    clReleaseKernel(k);
    report("embed_forward");
}

static void test_embed_backward(void)
{
    cl_kernel k = kernel(0, "embed_backward");
    size_t wg = cldqn_cl_kernel_wg(cl, k, 64);
    const int soff = 2, doff = 7;
    int Ss[] = {1, 5, 37};
    FOR_BATCH(B)
    for (int si = 0; si < 3; si++) {
        int S = Ss[si], E = 10;
        size_t n = (size_t)S * E, total = doff + n + 3;
        int32_t *st = malloc((soff + B) * sizeof(int32_t));
        /* Few distinct states: rows repeat and must accumulate in order. */
        for (int i = 0; i < soff + B; i++) st[i] = (int32_t)(lcg() % (uint32_t)(S < 3 ? S : 3));
        float *dxv = rand_floats((size_t)B * E, -1, 1);
        float *want = malloc(n * sizeof(float)), *got = filled(total, SENTINEL);
        ref_embed_backward(st + soff, dxv, B, E, S, want);
        /* demb[s][e] sums dx[b][e] over the b with state s. */
        double *abs_sum = calloc(n, sizeof(double)), *bound = malloc(n * sizeof(double));
        int *cnt = calloc((size_t)S, sizeof(int));
        for (int b = 0; b < B; b++) {
            cnt[st[soff + b]]++;
            for (int e = 0; e < E; e++)
                abs_sum[(size_t)st[soff + b] * E + e] += fabs(dxv[(size_t)b * E + e]);
        }
        for (size_t i = 0; i < n; i++) bound[i] = sum_bound((size_t)cnt[i / E]) * abs_sum[i];
        cl_mem ds = dev_copy(st, (soff + B) * 4), dx = dev_copy(dxv, (size_t)B * E * 4),
               dd = dev_copy(got, total * 4);
        RUN(k, "embed_backward", n, wg, A_MEM(ds), A_MEM(dx), A_INT(B), A_INT(E), A_INT(S),
            A_MEM(dd), A_UINT(soff), A_UINT(doff));
        dev_read(dd, got, total * 4);
        check_bound(got + doff, want, n, bound);
        check_sentinel(got, total, doff, doff + n);
        free(abs_sum);
        free(bound);
        free(cnt);
        clReleaseMemObject(ds);
        clReleaseMemObject(dx);
        clReleaseMemObject(dd);
        free(st);
        free(dxv);
        free(want);
        free(got);
    }
    clReleaseKernel(k);
    report("embed_backward");
}

static void test_dense_forward(void)
{
    cl_kernel k = kernel(1, "dense_forward");
    size_t wg = cldqn_cl_kernel_wg(cl, k, 64);
    FOR_BATCH(B)
    for (int j = 0; j < N_DIMS; j++)
        for (int relu = 0; relu < 2; relu++) {
            int I = DIM(j, 0), O = DIM(j, 1);
            size_t woff = 3, boff = woff + (size_t)O * I + 2, np = boff + O + 1;
            float *p = rand_floats(np, -1, 1), *x = rand_floats((size_t)B * I, -1, 1);
            float *want = malloc((size_t)B * O * 4), *got = filled((size_t)B * O + 1, SENTINEL);
            ref_dense_forward(p + woff, p + boff, x, B, I, O, relu, want);
            /* y[r][o] = sum_i x[r][i] W[o][i] + b[o]: I + 1 terms (relu only
             * shrinks a difference). */
            double *bound = malloc((size_t)B * O * sizeof(double));
            for (int r = 0; r < B; r++)
                for (int o = 0; o < O; o++) {
                    double a = fabs(p[boff + o]);
                    for (int i = 0; i < I; i++)
                        a += fabs((double)x[(size_t)r * I + i] * p[woff + (size_t)o * I + i]);
                    bound[(size_t)r * O + o] = sum_bound((size_t)I + 1) * a;
                }
            cl_mem dp = dev_copy(p, np * 4), dx = dev_copy(x, (size_t)B * I * 4),
                   dy = dev_copy(got, ((size_t)B * O + 1) * 4);
            RUN(k, "dense_forward", (size_t)B * O, wg, A_MEM(dp), A_MEM(dp), A_MEM(dx), A_INT(B),
                A_INT(I), A_INT(O), A_INT(relu), A_MEM(dy), A_UINT(woff), A_UINT(boff));
            dev_read(dy, got, ((size_t)B * O + 1) * 4);
            check_bound(got, want, (size_t)B * O, bound);
            CU_ASSERT_EQUAL(got[(size_t)B * O], SENTINEL);
            free(bound);
            clReleaseMemObject(dp);
            clReleaseMemObject(dx);
            clReleaseMemObject(dy);
            free(p);
            free(x);
            free(want);
            free(got);
        }
    clReleaseKernel(k);
    report("dense_forward");
}

/* Bounds of dW[o][i] = sum_r dy[r][o] x[r][i] and db[o] = sum_r dy[r][o]. */
static double *sum_terms_dw(const float *dy, const float *x, int B, int I, int O)
{
    double *bound = malloc((size_t)O * I * sizeof(double));
    for (int o = 0; o < O; o++)
        for (int i = 0; i < I; i++) {
            double a = 0;
            for (int r = 0; r < B; r++)
                a += fabs((double)dy[(size_t)r * O + o] * x[(size_t)r * I + i]);
            bound[(size_t)o * I + i] = sum_bound((size_t)B) * a;
        }
    return bound;
}
static double *sum_terms_db(const float *dy, int B, int O)
{
    double *bound = malloc((size_t)O * sizeof(double));
    for (int o = 0; o < O; o++) {
        double a = 0;
        for (int r = 0; r < B; r++) a += fabs(dy[(size_t)r * O + o]);
        bound[o] = sum_bound((size_t)B) * a;
    }
    return bound;
}

/* A layer output with exact zeros (as ReLU leaves them) and negatives. */
static float *layer_output(size_t n)
{
    float *y = rand_floats(n, -1, 1);
    for (size_t i = 0; i < n; i += 3) y[i] = 0.0f;
    return y;
}

static void test_dense_backward(void)
{
    cl_kernel k = kernel(1, "dense_backward");
    size_t wg = cldqn_cl_kernel_wg(cl, k, 64);
    FOR_BATCH(B)
    for (int j = 0; j < N_DIMS; j++)
        for (int relu = 0; relu < 2; relu++) {
            int I = DIM(j, 0), O = DIM(j, 1);
            size_t woff = 4, np = woff + (size_t)O * I + 1;
            size_t dwoff = 2, dboff = dwoff + (size_t)O * I + 3, ng = dboff + O + 2;
            float *p = rand_floats(np, -1, 1), *x = rand_floats((size_t)B * I, -1, 1);
            float *y = layer_output((size_t)B * O), *dy = rand_floats((size_t)B * O, -1, 1);
            float *dW = malloc((size_t)O * I * 4), *db = malloc(O * 4),
                  *dxw = malloc((size_t)B * I * 4);
            float *dy_ref = malloc((size_t)B * O * 4);
            memcpy(dy_ref, dy, (size_t)B * O * 4);
            ref_dense_backward(p + woff, x, y, dy_ref, B, I, O, relu, dW, db, dxw);
            /* dW[o][i] and db[o] sum B terms, dx[r][i] sums O (dy_ref: masked). */
            double *bW = sum_terms_dw(dy_ref, x, B, I, O), *bb = sum_terms_db(dy_ref, B, O);
            double *bx = malloc((size_t)B * I * sizeof(double));
            for (int r = 0; r < B; r++)
                for (int i = 0; i < I; i++) {
                    double a = 0;
                    for (int o = 0; o < O; o++)
                        a += fabs((double)dy_ref[(size_t)r * O + o] * p[woff + (size_t)o * I + i]);
                    bx[(size_t)r * I + i] = sum_bound((size_t)O) * a;
                }
            float *g = filled(ng, SENTINEL), *dxg = filled((size_t)B * I + 1, SENTINEL);
            cl_mem dp = dev_copy(p, np * 4), dX = dev_copy(x, (size_t)B * I * 4),
                   dY = dev_copy(y, (size_t)B * O * 4), dDY = dev_copy(dy, (size_t)B * O * 4),
                   dG = dev_copy(g, ng * 4), dDX = dev_copy(dxg, ((size_t)B * I + 1) * 4);
            size_t n = (size_t)O * I + O + (size_t)B * I;
            RUN(k, "dense_backward", n, wg, A_MEM(dp), A_MEM(dX), A_MEM(dY), A_MEM(dDY), A_INT(B),
                A_INT(I), A_INT(O), A_INT(relu), A_MEM(dG), A_MEM(dG), A_MEM(dDX), A_UINT(woff),
                A_UINT(dwoff), A_UINT(dboff), A_INT(1));
            dev_read(dG, g, ng * 4);
            dev_read(dDX, dxg, ((size_t)B * I + 1) * 4);
            check_bound(g + dwoff, dW, (size_t)O * I, bW);
            check_bound(g + dboff, db, O, bb);
            check_bound(dxg, dxw, (size_t)B * I, bx);
            free(bW);
            free(bb);
            free(bx);
            CU_ASSERT_EQUAL(dxg[(size_t)B * I], SENTINEL);
            size_t bad = 0;
            for (size_t i = 0; i < ng; i++) {
                int in_w = i >= dwoff && i < dwoff + (size_t)O * I;
                int in_b = i >= dboff && i < dboff + (size_t)O;
                if (!in_w && !in_b && g[i] != SENTINEL) bad++;
            }
            CU_ASSERT_EQUAL(bad, 0);
            /* has_dx = 0 leaves dx alone. */
            float *dx2 = filled((size_t)B * I, SENTINEL);
            cl_mem dDX2 = dev_copy(dx2, (size_t)B * I * 4);
            RUN(k, "dense_backward", n, wg, A_MEM(dp), A_MEM(dX), A_MEM(dY), A_MEM(dDY), A_INT(B),
                A_INT(I), A_INT(O), A_INT(relu), A_MEM(dG), A_MEM(dG), A_MEM(dDX2), A_UINT(woff),
                A_UINT(dwoff), A_UINT(dboff), A_INT(0));
            dev_read(dDX2, dx2, (size_t)B * I * 4);
            check_sentinel(dx2, (size_t)B * I, 0, 0);
            cl_mem mems[] = {dp, dX, dY, dDY, dG, dDX, dDX2};
            for (int i = 0; i < 7; i++) clReleaseMemObject(mems[i]);
            float *bufs[] = {p, x, y, dy, dW, db, dxw, dy_ref, g, dxg, dx2};
            for (int i = 0; i < 11; i++) free(bufs[i]);
        }
    clReleaseKernel(k);
    report("dense_backward");
}

/* The CLBlast path's helpers: bias_act after the GEMM, relu_mask_db before. */
static void test_gemm_helpers(void)
{
    cl_kernel kb = kernel(1, "bias_act"), km = kernel(1, "relu_mask_db");
    size_t wgb = cldqn_cl_kernel_wg(cl, kb, 64), wgm = cldqn_cl_kernel_wg(cl, km, 64);
    FOR_BATCH(B)
    for (int j = 0; j < N_DIMS; j++)
        for (int relu = 0; relu < 2; relu++) {
            int I = DIM(j, 0), O = DIM(j, 1);
            /* bias_act(x W^T computed by the reference with zero bias) == dense_forward. */
            float *W = rand_floats((size_t)O * I, -1, 1), *bias = rand_floats(O + 1, -1, 1);
            float *x = rand_floats((size_t)B * I, -1, 1), *zero = filled(O, 0.0f);
            float *xw = malloc((size_t)B * O * 4), *want = malloc((size_t)B * O * 4);
            ref_dense_forward(W, zero, x, B, I, O, 0, xw);
            ref_dense_forward(W, bias + 1, x, B, I, O, relu, want);
            cl_mem db = dev_copy(bias, (O + 1) * 4), dy = dev_copy(xw, (size_t)B * O * 4);
            RUN(kb, "bias_act", (size_t)B * O, wgb, A_MEM(db), A_MEM(dy), A_INT(B), A_INT(O),
                A_INT(relu), A_UINT(1));
            dev_read(dy, xw, (size_t)B * O * 4);
            check(xw, want, (size_t)B * O);
            /* relu_mask_db: masked dy in place and db, as ref_dense_backward. */
            float *y = layer_output((size_t)B * O), *g = rand_floats((size_t)B * O, -1, 1);
            float *dW = malloc((size_t)O * I * 4), *dbw = malloc(O * 4),
                  *gref = malloc((size_t)B * O * 4);
            memcpy(gref, g, (size_t)B * O * 4);
            ref_dense_backward(W, x, y, gref, B, I, O, relu, dW, dbw, NULL);
            float *dbg = filled(O + 2, SENTINEL);
            cl_mem dY = dev_copy(y, (size_t)B * O * 4), dG = dev_copy(g, (size_t)B * O * 4),
                   dDB = dev_copy(dbg, (O + 2) * 4);
            RUN(km, "relu_mask_db", (size_t)O, wgm, A_MEM(dY), A_MEM(dG), A_INT(B), A_INT(O),
                A_INT(relu), A_MEM(dDB), A_UINT(1));
            dev_read(dG, g, (size_t)B * O * 4);
            dev_read(dDB, dbg, (O + 2) * 4);
            check(g, gref, (size_t)B * O);
            double *bb = sum_terms_db(gref, B, O);
            check_bound(dbg + 1, dbw, O, bb);
            free(bb);
            check_sentinel(dbg, O + 2, 1, O + 1);
            cl_mem mems[] = {db, dy, dY, dG, dDB};
            for (int i = 0; i < 5; i++) clReleaseMemObject(mems[i]);
            float *bufs[] = {W, bias, x, zero, xw, want, y, g, dW, dbw, gref, dbg};
            for (int i = 0; i < 12; i++) free(bufs[i]);
        }
    clReleaseKernel(kb);
    clReleaseKernel(km);
    report("bias_act + relu_mask_db");
}

static void test_td_target(void)
{
    cl_kernel k = kernel(2, "td_target");
    size_t wg = cldqn_cl_kernel_wg(cl, k, 64);
    int As[] = {1, 6, 13};
    FOR_BATCH(B)
    for (int ai = 0; ai < 3; ai++) {
        int A = As[ai];
        float *qn = rand_floats((size_t)B * A, -20, 20), *r = rand_floats(B, -10, 20);
        float *term = malloc(B * 4);
        for (int b = 0; b < B; b++) term[b] = (lcg() % 3 == 0) ? 1.0f : 0.0f;
        if (A > 1) qn[1] = qn[0]; /* a tie */
        float *want = malloc(B * 4), *got = filled(B + 1, SENTINEL);
        ref_td_target(qn, r, term, B, A, 0.95f, want);
        cl_mem dq = dev_copy(qn, (size_t)B * A * 4), dr = dev_copy(r, B * 4),
               dt = dev_copy(term, B * 4), dy = dev_copy(got, (B + 1) * 4);
        RUN(k, "td_target", (size_t)B, wg, A_MEM(dq), A_MEM(dr), A_MEM(dt), A_INT(B), A_INT(A),
            A_FLT(0.95f), A_MEM(dy));
        dev_read(dy, got, (B + 1) * 4);
        check(got, want, B);
        CU_ASSERT_EQUAL(got[B], SENTINEL);
        cl_mem mems[] = {dq, dr, dt, dy};
        for (int i = 0; i < 4; i++) clReleaseMemObject(mems[i]);
        free(qn);
        free(r);
        free(term);
        free(want);
        free(got);
    }
    clReleaseKernel(k);
    report("td_target");
}

static void test_td_loss(void)
{
    cl_kernel k = kernel(2, "td_loss");
    size_t wg = cldqn_cl_kernel_wg(cl, k, 256);
    const int A = 6;
    FOR_BATCH(B)
    for (int kind = 0; kind < 2; kind++)
        for (int di = 0; di < 2; di++) {
            float delta = di ? 0.5f : 1.0f;
            float *q = rand_floats((size_t)B * A, -2, 2), *y = rand_floats(B, -2, 2);
            int32_t *act = malloc(B * 4);
            for (int b = 0; b < B; b++) act[b] = (int32_t)(lcg() % A);
            float *want = malloc((size_t)B * A * 4), *got = filled((size_t)B * A, SENTINEL);
            float lw = ref_td_loss(q, act, y, B, A, (cldqn_loss_kind)kind, delta, want), lg = NAN;
            cl_mem dq = dev_copy(q, (size_t)B * A * 4), da = dev_copy(act, B * 4),
                   dy = dev_copy(y, B * 4), dd = dev_copy(got, (size_t)B * A * 4),
                   dl = dev_copy(&lg, 4), db = dev_copy(want, B * 4);
            /* One work-group; also with a group smaller than the batch. */
            size_t g = kind ? wg : (wg > 4 ? 4 : wg);
            RUN(k, "td_loss", g, g, A_MEM(dq), A_MEM(da), A_MEM(dy), A_INT(B), A_INT(A),
                A_INT(kind), A_FLT(delta), A_MEM(dd), A_MEM(dl), A_MEM(db));
            dev_read(dd, got, (size_t)B * A * 4);
            dev_read(dl, &lg, 4);
            check(got, want, (size_t)B * A);
            /* The mean of B losses >= 0: sum|terms| = B * mean, the division
             * one rounding more (B + 1 terms' worth). */
            double lb = sum_bound((size_t)B + 1) * fabs(lw) / (1 - sum_bound((size_t)B + 1) / 2);
            check_bound(&lg, &lw, 1, &lb);
            cl_mem mems[] = {dq, da, dy, dd, dl, db};
            for (int i = 0; i < 6; i++) clReleaseMemObject(mems[i]);
            free(q);
            free(y);
            free(act);
            free(want);
            free(got);
        }
    clReleaseKernel(k);
    report("td_loss (MSE, Huber 1 and 0.5)");
}

static void test_keras_sample_loss(void)
{
    cl_kernel k = kernel(2, "keras_sample_loss");
    int As[] = {1, 6, 13};
    for (int ai = 0; ai < 3; ai++) {
        int A = As[ai], B = 7;
        for (int b = 0; b < B; b += 3) {
            float *q = rand_floats(A, -2, 2), *y = rand_floats(B, -2, 2);
            int32_t *act = malloc(B * 4);
            for (int i = 0; i < B; i++) act[i] = (int32_t)(lcg() % A);
            float want[13], got[14], lbuf[7];
            for (int i = 0; i < 14; i++) got[i] = SENTINEL;
            for (int i = 0; i < 7; i++) lbuf[i] = SENTINEL;
            float lw = ref_keras_sample_loss(q, act[b], y[b], A, want);
            cl_mem dq = dev_copy(q, A * 4), da = dev_copy(act, B * 4), dy = dev_copy(y, B * 4),
                   dd = dev_copy(got, (A + 1) * 4), dl = dev_copy(lbuf, B * 4);
            RUN(k, "keras_sample_loss", 1, 1, A_MEM(dq), A_MEM(da), A_MEM(dy), A_INT(A), A_MEM(dd),
                A_INT(b), A_MEM(dl));
            dev_read(dd, got, (A + 1) * 4);
            dev_read(dl, lbuf, B * 4);
            check(got, want, A);
            CU_ASSERT_EQUAL(got[A], SENTINEL);
            check(&lbuf[b], &lw, 1);
            check_sentinel(lbuf, B, b, b + 1);
            cl_mem mems[] = {dq, da, dy, dd, dl};
            for (int i = 0; i < 5; i++) clReleaseMemObject(mems[i]);
            free(q);
            free(y);
            free(act);
        }
    }
    clReleaseKernel(k);
    report("keras_sample_loss");
}

static void test_clip_grad_norm(void)
{
    cl_kernel k = kernel(3, "clip_grad_norm");
    size_t wg = cldqn_cl_kernel_wg(cl, k, 256);
    const unsigned ns_full[] = {1, 7, 33, 8406}, ns_small[] = {1, 7, 33};
    float norms[] = {0.0f, 0.5f, 1e6f}; /* off, clipping, no clipping */
    for (int ni = 0; ni < (small ? 3 : 4); ni++)
        for (int mi = 0; mi < 3; mi++) {
            size_t n = small ? ns_small[ni] : ns_full[ni];
            float *g = rand_floats(n + 1, -1, 1), *want = malloc(n * 4);
            g[n] = SENTINEL;
            memcpy(want, g, n * 4);
            float nw = ref_clip_grad_norm(want, n, norms[mi]), ng = NAN;
            cl_mem dg = dev_copy(g, (n + 1) * 4), dn = dev_copy(&ng, 4);
            RUN(k, "clip_grad_norm", wg, wg, A_MEM(dg), A_UINT(n), A_FLT(norms[mi]), A_MEM(dn),
                {sizeof(cl_float), NULL});
            dev_read(dg, g, (n + 1) * 4);
            dev_read(dn, &ng, 4);
            /* The norm: a sum of n squares (relative error gamma_n) under
             * sqrt (halves it, adds u); the clipped g: that norm, + 1e-6, a
             * divide and a multiply, 3 roundings more. Both relative. */
            double bn = sum_bound(n + 1) * fabs(nw);
            double *bg = malloc(n * sizeof(double));
            for (size_t i = 0; i < n; i++) bg[i] = sum_bound(n + 4) * fabs(want[i]);
            check_bound(g, want, n, bg);
            check_bound(&ng, &nw, 1, &bn);
            free(bg);
            CU_ASSERT_EQUAL(g[n], SENTINEL);
            clReleaseMemObject(dg);
            clReleaseMemObject(dn);
            free(g);
            free(want);
        }
    clReleaseKernel(k);
    report("clip_grad_norm");
}

static void test_adam(void)
{
    cl_kernel k = kernel(3, "adam");
    size_t wg = cldqn_cl_kernel_wg(cl, k, 64);
    const unsigned ns[] = {1, 7, 33, 8406};
    int ts[] = {1, 7, 1000};
    for (int ni = 0; ni < (small ? 3 : 4); ni++)
        for (int ti = 0; ti < 3; ti++)
            for (int kind = 0; kind < 2; kind++) {
                size_t n = ns[ni];
                int t = ts[ti];
                float lr = 1e-3f, b1 = 0.9f, b2 = 0.999f, eps = 1e-7f;
                float *p = rand_floats(n + 1, -1, 1), *g = rand_floats(n, -1, 1);
                float *m = rand_floats(n + 1, -0.1f, 0.1f), *v = rand_floats(n + 1, 0, 0.01f);
                g[0] = 0.0f; /* a parameter the batch did not touch */
                p[n] = m[n] = v[n] = SENTINEL;
                float *pw = malloc(n * 4), *mw = malloc(n * 4), *vw = malloc(n * 4);
                memcpy(pw, p, n * 4);
                memcpy(mw, m, n * 4);
                memcpy(vw, v, n * 4);
                ref_adam(pw, g, mw, vw, n, lr, b1, b2, eps, t, (cldqn_adam_kind)kind);
                /* Host-side per-step scalars, as qnet.c computes them. */
                double bc1 = 1.0 - pow(b1, t), bc2 = 1.0 - pow(b2, t);
                float step = kind == CLDQN_ADAM_TORCH ? (float)(-(double)lr / bc1)
                                                      : (float)((double)lr * sqrt(bc2) / bc1);
                cl_mem dp = dev_copy(p, (n + 1) * 4), dg = dev_copy(g, n * 4),
                       dm = dev_copy(m, (n + 1) * 4), dv = dev_copy(v, (n + 1) * 4);
                RUN(k, "adam", n, wg, A_MEM(dp), A_MEM(dg), A_MEM(dm), A_MEM(dv), A_UINT(n),
                    A_FLT(lr), A_FLT(b1), A_FLT(b2), A_FLT(eps), A_INT(t), A_INT(kind), A_FLT(step),
                    A_FLT((float)sqrt(bc2)));
                dev_read(dp, p, (n + 1) * 4);
                dev_read(dm, m, (n + 1) * 4);
                dev_read(dv, v, (n + 1) * 4);
                check(p, pw, n);
                check(m, mw, n);
                check(v, vw, n);
                CU_ASSERT(p[n] == SENTINEL && m[n] == SENTINEL && v[n] == SENTINEL);
                cl_mem mems[] = {dp, dg, dm, dv};
                for (int i = 0; i < 4; i++) clReleaseMemObject(mems[i]);
                float *bufs[] = {p, g, m, v, pw, mw, vw};
                for (int i = 0; i < 7; i++) free(bufs[i]);
            }
    clReleaseKernel(k);
    report("adam (torch and keras)");
}

/* Soft target sync: elementwise, so exact on every implementation; the
 * reference itself against the formula in double (two products and a sum,
 * each rounded once: within 3 units of the last place of the terms). */
static void test_polyak(void)
{
    cl_kernel k = kernel(3, "polyak");
    size_t wg = cldqn_cl_kernel_wg(cl, k, 64);
    const unsigned ns[] = {1, 7, 33, 8406};
    const float taus[] = {0.005f, 0.5f, 0.9f};
    for (int ni = 0; ni < (small ? 3 : 4); ni++)
        for (int ti = 0; ti < 3; ti++) {
            size_t n = ns[ni];
            float tau = taus[ti];
            float *p = rand_floats(n, -1, 1), *t = rand_floats(n + 1, -1, 1);
            t[n] = SENTINEL;
            float *want = malloc(n * 4);
            memcpy(want, t, n * 4);
            ref_polyak(want, p, n, tau);
            for (size_t i = 0; i < n; i++) {
                const double exact = (double)tau * p[i] + (1.0 - (double)tau) * t[i];
                const double bound =
                    3 * 0x1p-24 * ((double)tau * fabs(p[i]) + (1.0 - (double)tau) * fabs(t[i]));
                CU_ASSERT(fabs(want[i] - exact) <= bound);
            }
            cl_mem dp = dev_copy(p, n * 4), dt = dev_copy(t, (n + 1) * 4);
            RUN(k, "polyak", n, wg, A_MEM(dp), A_MEM(dt), A_UINT(n), A_FLT(tau), A_FLT(1.0f - tau));
            dev_read(dt, t, (n + 1) * 4);
            check(t, want, n);
            CU_ASSERT(t[n] == SENTINEL);
            clReleaseMemObject(dp);
            clReleaseMemObject(dt);
            free(p);
            free(t);
            free(want);
        }
    clReleaseKernel(k);
    report("polyak");
}

static void test_argmax(void)
{
    cl_kernel k = kernel(2, "argmax");
    size_t wg = cldqn_cl_kernel_wg(cl, k, 64);
    int As[] = {1, 6, 13};
    FOR_BATCH(B)
    for (int ai = 0; ai < 3; ai++) {
        int A = As[ai];
        float *q = rand_floats((size_t)B * A, -1, 1);
        /* Ties: the whole first row equal, and a repeated max in the last. */
        for (int a = 0; a < A; a++) q[a] = 0.25f;
        if (A > 2 && B > 1) q[(size_t)(B - 1) * A + 1] = q[(size_t)(B - 1) * A + 2] = 5.0f;
        int32_t *want = malloc(B * 4), *got = malloc((B + 1) * 4);
        for (int b = 0; b <= B; b++) got[b] = -7;
        ref_argmax(q, B, A, want);
        cl_mem dq = dev_copy(q, (size_t)B * A * 4), dout = dev_copy(got, (B + 1) * 4);
        RUN(k, "argmax", (size_t)B, wg, A_MEM(dq), A_INT(B), A_INT(A), A_MEM(dout));
        dev_read(dout, got, (B + 1) * 4);
        CU_ASSERT_EQUAL(memcmp(got, want, B * 4), 0);
        CU_ASSERT_EQUAL(got[0], 0);
        CU_ASSERT_EQUAL(got[B], -7);
        clReleaseMemObject(dq);
        clReleaseMemObject(dout);
        free(q);
        free(want);
        free(got);
    }
    clReleaseKernel(k);
    report("argmax (exact)");
}

int register_suites(void)
{
    static const harness_test tests[] = {
        {"embed_forward", test_embed_forward},
        {"embed_backward (repeated states)", test_embed_backward},
        {"dense_forward", test_dense_forward},
        {"dense_backward", test_dense_backward},
        {"bias_act, relu_mask_db (CLBlast path)", test_gemm_helpers},
        {"td_target", test_td_target},
        {"td_loss", test_td_loss},
        {"keras_sample_loss", test_keras_sample_loss},
        {"clip_grad_norm", test_clip_grad_norm},
        {"adam", test_adam},
        {"polyak", test_polyak},
        {"argmax", test_argmax},
        {NULL, NULL},
    };
    return harness_add_suite("kernels", suite_init, suite_clean, tests);
}
