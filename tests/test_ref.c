/* test_ref.c - the C reference of the update (host/core/ref.c) against independent
 * references: hand-computed values for each op, central finite differences
 * of a double-precision forward for the gradients, and PyTorch 1.13 for whole
 * updates (tests/data/torch_ref.bin, written by tools/torch_ref.py; its header
 * documents the format, repeated in read_case below). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cldqn/net.h"
#include "cldqn/ref.h"
#include "harness.h"

/* ---- test-local data generator (independent of cldqn_rng) ------------- */

static uint64_t sm_state;
static uint64_t splitmix(void)
{
    uint64_t z = (sm_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static double unif(double lo, double hi)
{
    return lo + (hi - lo) * (double)(splitmix() >> 11) * 0x1.0p-53;
}
static int below(int n)
{
    return (int)(splitmix() % (uint64_t)n);
}

/* ---- op-level checks against values worked out by hand ---------------- */

static void test_argmax_ties(void)
{
    const float q[] = {1, 3, 3, 2, /**/ -1, -1, -1, -1, /**/ 0, 0, 5, 5};
    int32_t a[3];
    ref_argmax(q, 3, 4, a);
    CU_ASSERT_EQUAL(a[0], 1);
    CU_ASSERT_EQUAL(a[1], 0);
    CU_ASSERT_EQUAL(a[2], 2);
}

static void test_td_target(void)
{
    const float qn[] = {1, 4, 2, /**/ -3, -2, -5};
    const float r[] = {-1, 20}, term[] = {0, 1};
    float y[2];
    ref_td_target(qn, r, term, 2, 3, 0.5f, y);
    CU_ASSERT_EQUAL(y[0], -1.0f + 0.5f * 4.0f);
    CU_ASSERT_EQUAL(y[1], 20.0f); /* terminal: no bootstrap */
}

static void test_td_loss_values(void)
{
    const float q[] = {0, 2, 0, /**/ 5, 0, 0};
    const int32_t act[] = {1, 0};
    const float y[] = {1.5f, 1.0f}; /* d = 0.5 and 4 */
    float dq[6];
    float l = ref_td_loss(q, act, y, 2, 3, CLDQN_LOSS_MSE, 1.0f, dq);
    CU_ASSERT_DOUBLE_EQUAL(l, (0.25 + 16.0) / 2, 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(dq[1], 2 * 0.5 / 2, 1e-7);
    CU_ASSERT_DOUBLE_EQUAL(dq[3], 2 * 4.0 / 2, 1e-7);
    CU_ASSERT_EQUAL(dq[0], 0.0f);
    CU_ASSERT_EQUAL(dq[4], 0.0f);
    /* Huber delta 2 (F.huber_loss): 0.5 d^2 inside, delta(|d| - delta/2) outside. */
    l = ref_td_loss(q, act, y, 2, 3, CLDQN_LOSS_HUBER, 2.0f, dq);
    CU_ASSERT_DOUBLE_EQUAL(l, (0.5 * 0.25 + 2.0 * (4.0 - 1.0)) / 2, 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(dq[1], 0.5 / 2, 1e-7);
    CU_ASSERT_DOUBLE_EQUAL(dq[3], 2.0 / 2, 1e-7);
    /* Negative side of the Huber clamp. */
    const float y2[] = {1.5f, 9.0f}; /* d = 0.5, -4 */
    ref_td_loss(q, act, y2, 2, 3, CLDQN_LOSS_HUBER, 2.0f, dq);
    CU_ASSERT_DOUBLE_EQUAL(dq[3], -2.0 / 2, 1e-7);

    float dk[4];
    const float qk[] = {1, 2, 3, 4};
    float lk = ref_keras_sample_loss(qk, 2, 5.0f, 4, dk);
    CU_ASSERT_DOUBLE_EQUAL(lk, 4.0 / 4, 1e-7);
    CU_ASSERT_DOUBLE_EQUAL(dk[2], 2 * -2.0 / 4, 1e-7);
    CU_ASSERT_EQUAL(dk[0], 0.0f);
    CU_ASSERT_EQUAL(dk[3], 0.0f);
}

static void test_clip_grad_norm(void)
{
    float g[] = {3, 4, 0};
    float n = ref_clip_grad_norm(g, 3, 10.0f); /* below the limit: untouched */
    CU_ASSERT_DOUBLE_EQUAL(n, 5.0, 1e-6);
    CU_ASSERT_EQUAL(g[0], 3.0f);
    n = ref_clip_grad_norm(g, 3, 1.0f);
    CU_ASSERT_DOUBLE_EQUAL(n, 5.0, 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(g[0], 3.0 / (5.0 + 1e-6), 1e-7);
    CU_ASSERT_DOUBLE_EQUAL(g[1], 4.0 / (5.0 + 1e-6), 1e-7);
    float h[] = {3, 4};
    ref_clip_grad_norm(h, 2, 0.0f); /* 0 = off */
    CU_ASSERT_EQUAL(h[1], 4.0f);
}

static void test_embed_backward_accumulates(void)
{
    const int32_t s[] = {2, 0, 2};
    const float dx[] = {1, 2, /**/ 10, 20, /**/ 100, 200};
    float demb[8] = {9, 9, 9, 9, 9, 9, 9, 9};
    ref_embed_backward(s, dx, 3, 2, 4, demb);
    const float want[] = {10, 20, 0, 0, 101, 202, 0, 0};
    ASSERT_CLOSE(demb, want, 8, 0.0, 0.0);
}

/* Adam against its textbook formulas evaluated in double, over three steps;
 * rows with zero gradient still move once their moments are non-zero. */
static void test_adam_formulas(void)
{
    for (int kind = 0; kind < 2; kind++) {
        float p[3] = {0.5f, -1.0f, 2.0f}, m[3] = {0}, v[3] = {0};
        double pd[3] = {0.5, -1.0, 2.0}, md[3] = {0}, vd[3] = {0};
        const float g_steps[3][3] = {{0.1f, -2.0f, 0.0f}, {0.3f, 0.0f, 1e-3f}, {-1.0f, 0.0f, 0.0f}};
        const double lr = 0.01, b1 = 0.9f, b2 = 0.999f, eps = kind ? 1e-7f : 1e-8f;
        for (int t = 1; t <= 3; t++) {
            ref_adam(p, g_steps[t - 1], m, v, 3, (float)lr, (float)b1, (float)b2, (float)eps, t,
                     kind ? CLDQN_ADAM_KERAS : CLDQN_ADAM_TORCH);
            for (int i = 0; i < 3; i++) {
                double g = g_steps[t - 1][i];
                md[i] = b1 * md[i] + (1 - b1) * g;
                vd[i] = b2 * vd[i] + (1 - b2) * g * g;
                double bc1 = 1 - pow(b1, t), bc2 = 1 - pow(b2, t);
                if (kind == 0)
                    pd[i] -= lr * (md[i] / bc1) / (sqrt(vd[i] / bc2) + eps);
                else
                    pd[i] -= lr * sqrt(bc2) / bc1 * md[i] / (sqrt(vd[i]) + eps);
            }
        }
        /* Float vs double over three steps, measured max error: p 3.5e-8,
         * m 4.6e-9, v 7.6e-11. Bounds ~10x that (p: 2 ulps of 2.0); a wrong
         * formula moves p by ~lr = 1e-2 and m, v by ~1e-1 of their size. */
        for (int i = 0; i < 3; i++) {
            CU_ASSERT_DOUBLE_EQUAL(p[i], pd[i], 5e-7);
            CU_ASSERT_DOUBLE_EQUAL(m[i], md[i], 5e-8);
            CU_ASSERT_DOUBLE_EQUAL(v[i], vd[i], 1e-9);
        }
    }
}

/* ---- a double-precision network for finite differences ---------------- */

/* Loss of the online params pd (double, lay->total) on a batch with fixed
 * TD targets y (B). mode PER_SAMPLE uses Keras' (q_a-y)^2/A and needs B = 1.
 * *margin receives the smallest |pre-activation| of any ReLU and, for Huber,
 * the smallest ||d| - delta|: the distance to the nearest kink. */
static double loss_double(const cldqn_layout *lay, const double *pd, const cldqn_batch *bt,
                          const double *y, cldqn_loss_kind kind, double delta,
                          cldqn_update_mode mode, double *margin)
{
    const cldqn_net_shape *s = &lay->shape;
    double a_buf[2][64]; /* (max width): the shapes tested here are <= 64 wide */
    double sum = 0, mg = INFINITY;
    for (int b = 0; b < bt->n; b++) {
        double *x = a_buf[0], *z = a_buf[1];
        for (int e = 0; e < s->embed; e++)
            x[e] = pd[lay->t[0].offset + (size_t)bt->state[b] * s->embed + e];
        for (int l = 0; l <= s->layers; l++) {
            const cldqn_tensor *tw = &lay->t[1 + 2 * l], *tb = &lay->t[2 + 2 * l];
            for (int o = 0; o < tw->rows; o++) {
                double acc = pd[tb->offset + o];
                for (int i = 0; i < tw->cols; i++)
                    acc += pd[tw->offset + (size_t)o * tw->cols + i] * x[i];
                if (l < s->layers) {
                    if (fabs(acc) < mg) mg = fabs(acc);
                    if (acc < 0) acc = 0;
                }
                z[o] = acc;
            }
            double *tmp = x;
            x = z;
            z = tmp;
        }
        double d = x[bt->action[b]] - y[b];
        if (mode == CLDQN_UPDATE_PER_SAMPLE)
            sum += d * d / s->n_actions;
        else if (kind == CLDQN_LOSS_HUBER) {
            double ad = fabs(d);
            if (fabs(ad - delta) < mg) mg = fabs(ad - delta);
            sum += ad < delta ? 0.5 * d * d : delta * (ad - 0.5 * delta);
        } else
            sum += d * d;
    }
    *margin = mg;
    return mode == CLDQN_UPDATE_PER_SAMPLE ? sum : sum / bt->n;
}

/* Owned storage for a random batch. */
typedef struct {
    int32_t s[64], a[64], s2[64];
    float r[64], term[64];
    cldqn_batch b;
} batch_store;

static void random_batch(batch_store *st, int B, int S, int A)
{
    for (int i = 0; i < B; i++) {
        st->s[i] = below(S);
        st->a[i] = below(A);
        st->s2[i] = below(S);
        st->r[i] = (float)unif(-2.0, 2.0);
        st->term[i] = below(4) == 0 ? 1.0f : 0.0f;
    }
    if (B >= 3) st->s[B - 1] = st->s[0]; /* a repeated state */
    st->b = (cldqn_batch){B, st->s, st->a, st->r, st->s2, st->term};
}

static void random_params(const cldqn_layout *lay, float *p)
{
    for (size_t k = 0; k < lay->total; k++) p[k] = (float)unif(-1.0, 1.0);
}

static double fd_worst; /* largest normwise error seen by any gradient check */

/* Analytic gradient from ref_update (which also takes an Adam step, on a
 * copy) vs central differences of loss_double. Checks every parameter when
 * there are at most max_check, else an evenly spaced subset. Returns the
 * normwise error max_k |g_k - fd_k| / max_k |fd_k|, or -1 if the random
 * point sits too close to a kink (caller draws another). */
static double grad_check(const cldqn_net_shape *shape, int B, cldqn_loss_kind kind,
                         cldqn_update_mode mode, size_t max_check)
{
    cldqn_layout lay;
    CU_ASSERT_EQUAL_FATAL(cldqn_layout_init(shape, &lay), CLDQN_OK);
    const size_t P = lay.total;
    float *p = malloc(P * sizeof(float)), *tg = malloc(P * sizeof(float));
    float *work = malloc(P * sizeof(float)), *m = calloc(P, sizeof(float));
    float *v = calloc(P, sizeof(float)), *g = malloc(P * sizeof(float));
    double *pd = malloc(P * sizeof(double)), *fd = malloc(P * sizeof(double));
    float *qn = malloc((size_t)B * shape->n_actions * sizeof(float));
    CU_ASSERT_FATAL(p && tg && work && m && v && g && pd && fd && qn);
    random_params(&lay, p);
    random_params(&lay, tg);
    batch_store bs;
    random_batch(&bs, B, shape->n_states, shape->n_actions);

    /* TD targets exactly as ref_update forms them (float), held fixed. */
    float yf[64];
    double y[64];
    ref_q_forward(&lay, tg, bs.b.next_state, B, qn);
    ref_td_target(qn, bs.r, bs.term, B, shape->n_actions, 0.9f, yf);
    for (int i = 0; i < B; i++) y[i] = yf[i];
    for (size_t k = 0; k < P; k++) pd[k] = p[k];

    /* Huber delta between the 2nd and 3rd smallest |d|, so both branches run. */
    double margin, delta = 1.0;
    if (kind == CLDQN_LOSS_HUBER && mode == CLDQN_UPDATE_MEAN) {
        float qo[64 * 8];
        double ad[64];
        ref_q_forward(&lay, p, bs.s, B, qo);
        for (int i = 0; i < B; i++) ad[i] = fabs(qo[i * shape->n_actions + bs.a[i]] - y[i]);
        for (int i = 0; i < B; i++) /* insertion sort */
            for (int j = i; j > 0 && ad[j] < ad[j - 1]; j--) {
                double tmp = ad[j];
                ad[j] = ad[j - 1];
                ad[j - 1] = tmp;
            }
        delta = B >= 3 ? 0.5 * (ad[1] + ad[2]) : ad[0] * 2.0;
        delta = (float)delta;
    }

    cldqn_learn_config cfg = {.gamma = 0.9f,
                              .lr = 1e-3f,
                              .beta1 = 0.9f,
                              .beta2 = 0.999f,
                              .eps = 1e-8f,
                              .adam = CLDQN_ADAM_TORCH,
                              .loss = kind,
                              .huber_delta = (float)delta,
                              .max_grad_norm = 0.0f,
                              .mode = mode};
    memcpy(work, p, P * sizeof(float));
    int t = 0;
    float lf = ref_update(&lay, &cfg, work, tg, m, v, &t, &bs.b, g);
    double l0 = loss_double(&lay, pd, &bs.b, y, kind, delta, mode, &margin);
    CU_ASSERT_EQUAL(t, mode == CLDQN_UPDATE_MEAN ? 1 : B);
    /* The float loss vs the double one: a few float roundings of values ~10. */
    CU_ASSERT(fabs(lf - l0) <= 1e-5 * (1 + fabs(l0)));

    double err = -1;
    /* Perturbations of h = 1e-6 move a pre-activation by < 1e-5; stay clear. */
    const double h = 1e-6;
    if (margin > 1e-4) {
        size_t stride = P > max_check ? (P + max_check - 1) / max_check : 1;
        double worst = 0, scale = 0;
        for (size_t k = 0; k < P; k++) {
            if (k % stride && k + 1 != P) continue;
            double mg, save = pd[k];
            pd[k] = save + h;
            double lp = loss_double(&lay, pd, &bs.b, y, kind, delta, mode, &mg);
            pd[k] = save - h;
            double lm = loss_double(&lay, pd, &bs.b, y, kind, delta, mode, &mg);
            pd[k] = save;
            fd[k] = (lp - lm) / (2 * h);
            if (fabs(fd[k]) > scale) scale = fabs(fd[k]);
            if (fabs(g[k] - fd[k]) > worst) worst = fabs(g[k] - fd[k]);
        }
        err = scale > 0 ? worst / scale : worst;
        if (err > fd_worst) fd_worst = err;
    }
    free(p);
    free(tg);
    free(work);
    free(m);
    free(v);
    free(g);
    free(pd);
    free(fd);
    free(qn);
    return err;
}

/* Normwise bound for the gradient checks. Measured worst over every shape
 * below: 9.6e-7 (float32 sums of up to 50 products against a double forward
 * whose central differences carry ~1e-9 error); 1e-5 is ~10x that, while a
 * wrong term (missing ReLU mask, an unaccumulated repeated state, a
 * transposed weight) gives errors of order 1. */
#define FD_TOL 1e-5

static void check_shape(int S, int E, int H, int L, int A, int B, cldqn_loss_kind kind,
                        cldqn_update_mode mode, size_t max_check)
{
    cldqn_net_shape sh = {S, A, E, H, L};
    double err = -1;
    for (int attempt = 0; attempt < 10 && err < 0; attempt++)
        err = grad_check(&sh, B, kind, mode, max_check);
    if (err < 0 || err > FD_TOL)
        fprintf(stderr, "\n  grad check S%d E%d H%d L%d A%d B%d %s %s: err %.3g\n", S, E, H, L, A,
                B, kind == CLDQN_LOSS_HUBER ? "huber" : "mse",
                mode == CLDQN_UPDATE_MEAN ? "mean" : "per-sample", err);
    CU_ASSERT(err >= 0);
    CU_ASSERT(err <= FD_TOL);
}

static void test_fd_tiny_all_params(void)
{
    sm_state = 1;
    /* S=7 E=3 H=5 L=2 A=4, batch 5 with a repeated state; every parameter. */
    check_shape(7, 3, 5, 2, 4, 5, CLDQN_LOSS_MSE, CLDQN_UPDATE_MEAN, (size_t)-1);
    check_shape(7, 3, 5, 2, 4, 5, CLDQN_LOSS_HUBER, CLDQN_UPDATE_MEAN, (size_t)-1);
    check_shape(7, 3, 5, 2, 4, 1, CLDQN_LOSS_MSE, CLDQN_UPDATE_PER_SAMPLE, (size_t)-1);
}

static void test_fd_odd_sizes(void)
{
    static const int batches[] = {1, 7, 33}, hiddens[] = {1, 13, 50};
    sm_state = 2;
    for (int L = 0; L <= 3; L++)
        for (int hi = 0; hi < 3; hi++) {
            for (int bi = 0; bi < 3; bi++) {
                check_shape(11, 3, hiddens[hi], L, 6, batches[bi], CLDQN_LOSS_MSE,
                            CLDQN_UPDATE_MEAN, 400);
                check_shape(11, 3, hiddens[hi], L, 6, batches[bi], CLDQN_LOSS_HUBER,
                            CLDQN_UPDATE_MEAN, 400);
            }
            check_shape(11, 3, hiddens[hi], L, 6, 1, CLDQN_LOSS_MSE, CLDQN_UPDATE_PER_SAMPLE, 400);
        }
    printf("\n  finite differences: worst normwise gradient error %.3g (bound %g)\n", fd_worst,
           FD_TOL);
}

/* ---- determinism ------------------------------------------------------- */

/* Per-sample mode over B samples equals B calls with one sample each, bit
 * for bit, and repeating an update repeats every bit. */
static void test_per_sample_is_sequential(void)
{
    cldqn_net_shape sh = {13, 6, 4, 9, 2};
    cldqn_layout lay;
    CU_ASSERT_EQUAL_FATAL(cldqn_layout_init(&sh, &lay), CLDQN_OK);
    const size_t P = lay.total;
    float *buf = calloc(10 * P, sizeof(float));
    CU_ASSERT_FATAL(buf != NULL);
    float *p1 = buf, *m1 = buf + P, *v1 = buf + 2 * P, *g1 = buf + 3 * P, *tg = buf + 4 * P;
    float *p2 = buf + 5 * P, *m2 = buf + 6 * P, *v2 = buf + 7 * P, *g2 = buf + 8 * P;
    sm_state = 3;
    random_params(&lay, p1);
    random_params(&lay, tg);
    memcpy(p2, p1, P * sizeof(float));
    batch_store bs;
    random_batch(&bs, 9, sh.n_states, sh.n_actions);
    cldqn_learn_config cfg = {0.6f,
                              0.01f,
                              0.9f,
                              0.999f,
                              1e-7f,
                              CLDQN_ADAM_KERAS,
                              CLDQN_LOSS_MSE,
                              1.0f,
                              0.0f,
                              CLDQN_UPDATE_PER_SAMPLE,
                              1.0f};
    int t1 = 0, t2 = 0;
    float l1 = ref_update(&lay, &cfg, p1, tg, m1, v1, &t1, &bs.b, g1);
    float sum = 0;
    for (int i = 0; i < bs.b.n; i++) {
        cldqn_batch one = {1, bs.s + i, bs.a + i, bs.r + i, bs.s2 + i, bs.term + i};
        sum += ref_update(&lay, &cfg, p2, tg, m2, v2, &t2, &one, g2);
    }
    CU_ASSERT_EQUAL(t1, 9);
    CU_ASSERT_EQUAL(t2, 9);
    CU_ASSERT_EQUAL(l1, sum / 9.0f);
    CU_ASSERT(memcmp(p1, p2, P * sizeof(float)) == 0);
    CU_ASSERT(memcmp(m1, m2, P * sizeof(float)) == 0);
    CU_ASSERT(memcmp(v1, v2, P * sizeof(float)) == 0);
    CU_ASSERT(memcmp(g1, g2, P * sizeof(float)) == 0);
    free(buf);
}

/* ---- PyTorch ----------------------------------------------------------- */

typedef struct {
    const unsigned char *p, *end;
    int bad;
} cursor;

static const void *take(cursor *c, size_t n)
{
    if (c->bad || (size_t)(c->end - c->p) < n) {
        c->bad = 1;
        return NULL;
    }
    const void *r = c->p;
    c->p += n;
    return r;
}
static int32_t take_i32(cursor *c)
{
    int32_t x = 0;
    const void *q = take(c, 4);
    if (q) memcpy(&x, q, 4);
    return x;
}
static float take_f32(cursor *c)
{
    float x = 0;
    const void *q = take(c, 4);
    if (q) memcpy(&x, q, 4);
    return x;
}
/* Copies n floats/ints (the file is little-endian, as is every host we run on). */
static void take_arr(cursor *c, void *dst, size_t n)
{
    const void *q = take(c, 4 * n);
    if (q) memcpy(dst, q, 4 * n);
}

/* Largest |a-b| over n floats; *scale receives max |b|. */
static double max_abs_err(const float *a, const float *b, size_t n, double *scale)
{
    double e = 0, s = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (isnan(d)) d = INFINITY;
        if (d > e) e = d;
        if (fabs((double)b[i]) > s) s = fabs((double)b[i]);
    }
    *scale = s;
    return e;
}

enum { Q_Q, Q_LOSS, Q_GRAD, Q_M, Q_V, Q_P, NQ };
static const char *const q_names[NQ] = {"q", "loss", "grad", "adam m", "adam v", "params"};

/* Tolerances vs PyTorch. PyTorch differs from us by summation order (blocked
 * BLAS, vectorised reductions) and FMA use, so we cannot ask for bits.
 * q, loss, grad, m, v: |c - torch| <= TOL_REL * max|torch over the tensor|.
 * Measured worst relative to the tensor's scale, over all cases and steps:
 * q 1.2e-7, loss 2.1e-7, grad 2.1e-7, m 2.5e-7, v 4.9e-7; the bounds are
 * ~10x that. A semantic slip (wrong loss, mask, clip, bias correction) gives
 * errors of 1e-2..1 of the scale.
 * params: Adam turns a tiny gradient's relative rounding error into an
 * absolute step error of up to lr per step (m/sqrt(v) is O(1) whatever the
 * gradient's size), so the bound is PARAM_TOL_LR * lr * t (t = Adam steps so
 * far) plus PARAM_RTOL (~8 ulps) for rounding at large |p|. Measured worst
 * 9.3e-6 lr*t (the seed case, 64 steps at lr 0.01: 5.9e-6 absolute). */
static const double TOL_REL[NQ] = {1e-6, 2e-6, 2e-6, 2.5e-6, 5e-6, 0};
#define PARAM_TOL_LR 1e-4
#define PARAM_RTOL   1e-6

static double torch_worst[NQ]; /* worst |err| / scale per quantity */

/* scale: max|torch| for all but params, lr*t for params. */
static void compare(int q, const char *case_name, int step, const float *c, const float *t,
                    size_t n, double lr_t)
{
    double scale, e = max_abs_err(c, t, n, &scale);
    if (q == Q_P) scale = lr_t;
    double rel = scale > 0 ? e / scale : e;
    if (rel > torch_worst[q]) torch_worst[q] = rel;
    double atol = q == Q_P ? PARAM_TOL_LR * lr_t : TOL_REL[q] * scale;
    double rtol = q == Q_P ? PARAM_RTOL : 0.0;
    if (harness_excess(c, t, n, atol, rtol, NULL) > 0)
        fprintf(stderr, "\n  %s step %d %s: max abs err %.3g (scale %.3g) over tolerance\n",
                case_name, step, q_names[q], e, scale);
    ASSERT_CLOSE(c, t, n, atol, rtol);
}

static void run_torch_case(cursor *c, int ci)
{
    int32_t hd[11];
    take_arr(c, hd, 11);
    float hp[7];
    take_arr(c, hp, 7);
    CU_ASSERT_FATAL(!c->bad);
    cldqn_net_shape sh = {hd[0], hd[1], hd[2], hd[3], hd[4]};
    const int B = hd[5], steps = hd[6];
    cldqn_layout lay;
    CU_ASSERT_EQUAL_FATAL(cldqn_layout_init(&sh, &lay), CLDQN_OK);
    CU_ASSERT_EQUAL_FATAL(lay.total, (size_t)hd[10]);
    CU_ASSERT_FATAL(B >= 1 && B <= 64 && steps >= 1);
    cldqn_learn_config cfg = {.gamma = hp[0],
                              .lr = hp[1],
                              .beta1 = hp[2],
                              .beta2 = hp[3],
                              .eps = hp[4],
                              .adam = hd[9] ? CLDQN_ADAM_KERAS : CLDQN_ADAM_TORCH,
                              .loss = hd[8] ? CLDQN_LOSS_HUBER : CLDQN_LOSS_MSE,
                              .huber_delta = hp[5],
                              .max_grad_norm = hp[6],
                              .mode = hd[7] ? CLDQN_UPDATE_PER_SAMPLE : CLDQN_UPDATE_MEAN};
    char name[64];
    snprintf(name, sizeof name, "case %d (%s%s%s)", ci, hd[7] ? "per-sample " : "",
             hd[8] ? "huber" : "mse", hp[6] > 0 ? " clip" : "");
    const size_t P = lay.total;
    float *mem = calloc(9 * P + (size_t)2 * B * sh.n_actions, sizeof(float));
    CU_ASSERT_FATAL(mem != NULL);
    float *p = mem, *tg = mem + P, *m = mem + 2 * P, *v = mem + 3 * P, *g = mem + 4 * P;
    float *want = mem + 5 * P; /* 4P: grad, m, v, params from the file */
    float *q = mem + 9 * P, *qw = q + (size_t)B * sh.n_actions; /* (B, A) each */
    take_arr(c, p, P);
    memcpy(tg, p, P * sizeof(float));
    int t = 0;
    for (int step = 0; step < steps && !c->bad; step++) {
        int32_t s[64], a[64], s2[64];
        float r[64], term[64];
        take_arr(c, s, B);
        take_arr(c, a, B);
        take_arr(c, s2, B);
        take_arr(c, r, B);
        take_arr(c, term, B);
        take_arr(c, qw, (size_t)B * sh.n_actions);
        float loss_w = take_f32(c);
        take_arr(c, want, 4 * P);
        CU_ASSERT_FATAL(!c->bad);
        float loss;
        if (cfg.mode == CLDQN_UPDATE_MEAN) {
            cldqn_batch b = {B, s, a, r, s2, term};
            ref_q_forward(&lay, p, s, B, q);
            loss = ref_update(&lay, &cfg, p, tg, m, v, &t, &b, g);
        } else { /* one sample at a time, to see each sample's Q row */
            float sum = 0;
            for (int i = 0; i < B; i++) {
                cldqn_batch b = {1, s + i, a + i, r + i, s2 + i, term + i};
                ref_q_forward(&lay, p, s + i, 1, q + (size_t)i * sh.n_actions);
                sum += ref_update(&lay, &cfg, p, tg, m, v, &t, &b, g);
            }
            loss = sum / (float)B;
        }
        const double lr_t = (double)cfg.lr * t;
        compare(Q_Q, name, step, q, qw, (size_t)B * sh.n_actions, lr_t);
        compare(Q_LOSS, name, step, &loss, &loss_w, 1, lr_t);
        compare(Q_GRAD, name, step, g, want, P, lr_t);
        compare(Q_M, name, step, m, want + P, P, lr_t);
        compare(Q_V, name, step, v, want + 2 * P, P, lr_t);
        compare(Q_P, name, step, p, want + 3 * P, P, lr_t);
    }
    free(mem);
}

static void test_torch_reference(void)
{
    size_t size = 0;
    unsigned char *data = harness_read_data("torch_ref.bin", &size);
    CU_ASSERT_FATAL(data != NULL);
    cursor c = {data, data + size, 0};
    const void *magic = take(&c, 8);
    CU_ASSERT_FATAL(magic && memcmp(magic, "CLDQNTRF", 8) == 0);
    uint32_t version = (uint32_t)take_i32(&c), n_cases = (uint32_t)take_i32(&c);
    CU_ASSERT_EQUAL_FATAL(version, 1u);
    CU_ASSERT_FATAL(n_cases >= 1 && n_cases < 100);
    for (uint32_t i = 0; i < n_cases; i++) run_torch_case(&c, (int)i);
    CU_ASSERT(!c.bad);
    CU_ASSERT(c.p == c.end); /* every byte accounted for */
    printf("\n  vs PyTorch, worst max|err| / max|torch| (params: / (lr t)):");
    for (int q = 0; q < NQ; q++) printf(" %s %.3g;", q_names[q], torch_worst[q]);
    printf("\n");
    free(data);
}

int register_suites(void)
{
    static const harness_test ops[] = {
        {"argmax ties", test_argmax_ties},
        {"td target", test_td_target},
        {"td loss values", test_td_loss_values},
        {"clip grad norm", test_clip_grad_norm},
        {"embed backward accumulates", test_embed_backward_accumulates},
        {"adam formulas", test_adam_formulas},
        {NULL, NULL}};
    static const harness_test fd[] = {{"tiny net, every parameter", test_fd_tiny_all_params},
                                      {"odd sizes", test_fd_odd_sizes},
                                      {NULL, NULL}};
    static const harness_test det[] = {{"per-sample is sequential", test_per_sample_is_sequential},
                                       {NULL, NULL}};
    static const harness_test torch[] = {{"torch_ref.bin", test_torch_reference}, {NULL, NULL}};
    if (harness_add_suite("ref ops", NULL, NULL, ops)) return -1;
    if (harness_add_suite("ref finite differences", NULL, NULL, fd)) return -1;
    if (harness_add_suite("ref determinism", NULL, NULL, det)) return -1;
    return harness_add_suite("ref vs pytorch", NULL, NULL, torch);
}
