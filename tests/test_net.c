/* test_net.c - the flat parameter layout and the two initialisations (net.c).
 *
 * Layout: names, shapes and offsets in PyTorch state_dict order, checked
 * against numbers written out by hand; bad shapes are rejected. Init: the
 * draw order (tensor order, row-major, from the given generator), the bounds
 * PyTorch's nn.Linear / Keras' glorot_uniform use, and the moments of each
 * distribution. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cldqn/net.h"
#include "harness.h"

static void test_default_layout(void)
{
    cldqn_net_shape s = cldqn_net_default_shape();
    CU_ASSERT_EQUAL(s.n_states, 500);
    CU_ASSERT_EQUAL(s.n_actions, 6);
    CU_ASSERT_EQUAL(s.embed, 10);
    CU_ASSERT_EQUAL(s.hidden, 50);
    CU_ASSERT_EQUAL(s.layers, 2);
    cldqn_layout lay;
    CU_ASSERT_EQUAL_FATAL(cldqn_layout_init(&s, &lay), CLDQN_OK);
    /* name, offset, rows, cols: 5000 + 500+50 + 2500+50 + 300+6 = 8406 */
    static const struct {
        const char *name;
        size_t offset;
        int rows, cols;
    } want[] = {{"embedding.weight", 0, 500, 10}, {"fc1.weight", 5000, 50, 10},
                {"fc1.bias", 5500, 50, 0},        {"fc2.weight", 5550, 50, 50},
                {"fc2.bias", 8050, 50, 0},        {"out.weight", 8100, 6, 50},
                {"out.bias", 8400, 6, 0}};
    CU_ASSERT_EQUAL_FATAL(lay.n_tensors, 7);
    for (int i = 0; i < 7; i++) {
        CU_ASSERT_STRING_EQUAL(lay.t[i].name, want[i].name);
        CU_ASSERT_EQUAL(lay.t[i].offset, want[i].offset);
        CU_ASSERT_EQUAL(lay.t[i].rows, want[i].rows);
        CU_ASSERT_EQUAL(lay.t[i].cols, want[i].cols);
        CU_ASSERT_PTR_EQUAL(cldqn_layout_find(&lay, want[i].name), &lay.t[i]);
    }
    CU_ASSERT_EQUAL(lay.total, 8406u);
    CU_ASSERT_EQUAL(cldqn_tensor_numel(&lay.t[3]), 2500u);
    CU_ASSERT_EQUAL(cldqn_tensor_numel(&lay.t[4]), 50u);
    CU_ASSERT_PTR_NULL(cldqn_layout_find(&lay, "fc3.weight"));
    CU_ASSERT_PTR_NULL(cldqn_layout_find(&lay, "fc1"));
}

static void test_layout_layers(void)
{
    cldqn_layout lay;
    cldqn_net_shape s = {7, 4, 3, 5, 0};
    CU_ASSERT_EQUAL_FATAL(cldqn_layout_init(&s, &lay), CLDQN_OK);
    CU_ASSERT_EQUAL(lay.n_tensors, 3);
    const cldqn_tensor *w = cldqn_layout_find(&lay, "out.weight");
    CU_ASSERT_FATAL(w != NULL);
    CU_ASSERT_EQUAL(w->rows, 4); /* [A,E] with no hidden layer */
    CU_ASSERT_EQUAL(w->cols, 3);
    CU_ASSERT_EQUAL(w->offset, 21u);
    CU_ASSERT_EQUAL(lay.total, 21u + 12 + 4);

    for (int L = 1; L <= CLDQN_MAX_HIDDEN_LAYERS; L++) {
        s.layers = L;
        CU_ASSERT_EQUAL_FATAL(cldqn_layout_init(&s, &lay), CLDQN_OK);
        CU_ASSERT_EQUAL(lay.n_tensors, 3 + 2 * L);
        /* 21 + fc1 (15+5) + (L-1) (25+5) + out (20+4) */
        CU_ASSERT_EQUAL(lay.total, (size_t)(21 + 20 + (L - 1) * 30 + 24));
        size_t off = 0;
        for (int i = 0; i < lay.n_tensors; i++) { /* contiguous, in order */
            CU_ASSERT_EQUAL(lay.t[i].offset, off);
            off += cldqn_tensor_numel(&lay.t[i]);
        }
        CU_ASSERT_EQUAL(off, lay.total);
        char last[24];
        snprintf(last, sizeof last, "fc%d.bias", L);
        CU_ASSERT_PTR_EQUAL(cldqn_layout_find(&lay, last), &lay.t[2 * L]);
    }
}

static void expect_rejected(cldqn_net_shape s, const char *word)
{
    cldqn_layout lay;
    cldqn_clear_error();
    CU_ASSERT_EQUAL(cldqn_layout_init(&s, &lay), CLDQN_ERR_ARG);
    CU_ASSERT_PTR_NOT_NULL(strstr(cldqn_last_error(), word));
}

static void test_layout_rejects_bad_shapes(void)
{
    const cldqn_net_shape ok = cldqn_net_default_shape();
    cldqn_net_shape s;
    s = ok, s.n_states = 0, expect_rejected(s, "states");
    s = ok, s.n_actions = 0, expect_rejected(s, "actions");
    s = ok, s.embed = 0, expect_rejected(s, "embedding");
    s = ok, s.hidden = 0, expect_rejected(s, "hidden size");
    s = ok, s.hidden = -3, expect_rejected(s, "hidden size");
    s = ok, s.n_states = -1, expect_rejected(s, "states");
    s = ok, s.layers = -1, expect_rejected(s, "hidden layers");
    s = ok, s.layers = CLDQN_MAX_HIDDEN_LAYERS + 1, expect_rejected(s, "hidden layers");
    s = ok, s.n_states = 2000000000, s.embed = 2000000000, expect_rejected(s, "parameters");
    cldqn_layout lay;
    CU_ASSERT_EQUAL(cldqn_layout_init(NULL, &lay), CLDQN_ERR_ARG);
    CU_ASSERT_EQUAL(cldqn_layout_init(&ok, NULL), CLDQN_ERR_ARG);
}

/* Mean and population variance of n floats. */
static void moments(const float *x, size_t n, double *mean, double *var)
{
    double s = 0, ss = 0;
    for (size_t i = 0; i < n; i++) s += x[i];
    *mean = s / (double)n;
    for (size_t i = 0; i < n; i++) ss += (x[i] - *mean) * (x[i] - *mean);
    *var = ss / (double)n;
}

static double max_abs(const float *x, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++)
        if (fabs(x[i]) > m) m = fabs(x[i]);
    return m;
}

/* A uniform tensor of n >= 500 draws on [-b, b): every |x| <= b, the largest
 * above 0.95 b (chance all n miss that: 0.95^500 < 1e-11), mean within 5
 * standard errors of 0 and variance within 15% of b^2/3. */
static void check_uniform(const float *x, size_t n, double b)
{
    double mean, var, mx = max_abs(x, n);
    moments(x, n, &mean, &var);
    CU_ASSERT(mx <= b);
    CU_ASSERT(mx > 0.95 * b);
    CU_ASSERT(fabs(mean) < 5 * b / sqrt(3.0 * n));
    CU_ASSERT(fabs(var / (b * b / 3) - 1) < 0.15);
}

static void test_init_torch(void)
{
    cldqn_net_shape s = cldqn_net_default_shape();
    cldqn_layout lay;
    CU_ASSERT_EQUAL_FATAL(cldqn_layout_init(&s, &lay), CLDQN_OK);
    float *p = malloc(lay.total * sizeof(float)), *q = malloc(lay.total * sizeof(float));
    CU_ASSERT_FATAL(p && q);
    cldqn_rng r;
    cldqn_rng_seed(&r, 42, CLDQN_STREAM_INIT);
    cldqn_params_init(&lay, CLDQN_INIT_TORCH, &r, p);

    /* Embedding N(0,1): 5000 draws, mean within 5 standard errors (0.07),
     * variance within 10% (its standard error is sqrt(2/5000) = 2%). */
    double mean, var;
    moments(p, 5000, &mean, &var);
    CU_ASSERT(fabs(mean) < 5 / sqrt(5000.0));
    CU_ASSERT(fabs(var - 1) < 0.1);
    /* nn.Linear: U(+-1/sqrt(fan_in)) for weight and bias. */
    const cldqn_tensor *t;
    t = cldqn_layout_find(&lay, "fc1.weight");
    check_uniform(p + t->offset, cldqn_tensor_numel(t), 1 / sqrt(10.0));
    t = cldqn_layout_find(&lay, "fc2.weight");
    check_uniform(p + t->offset, cldqn_tensor_numel(t), 1 / sqrt(50.0));
    t = cldqn_layout_find(&lay, "fc1.bias");
    CU_ASSERT(max_abs(p + t->offset, 50) <= 1 / sqrt(10.0));
    CU_ASSERT(max_abs(p + t->offset, 50) > 0.5 / sqrt(10.0)); /* not zero */
    t = cldqn_layout_find(&lay, "out.bias");
    CU_ASSERT(max_abs(p + t->offset, 6) <= 1 / sqrt(50.0));
    CU_ASSERT(max_abs(p + t->offset, 6) > 0);

    /* Draw order: tensor order, row-major, one draw per element. */
    cldqn_rng_seed(&r, 42, CLDQN_STREAM_INIT);
    size_t k = 0;
    for (; k < 5000; k++) q[k] = cldqn_rng_normal(&r);
    for (int i = 1; i < lay.n_tensors; i++) {
        int fan_in = lay.t[i].cols ? lay.t[i].cols : lay.t[i - 1].cols;
        float b = (float)(1 / sqrt((double)fan_in));
        for (size_t j = 0; j < cldqn_tensor_numel(&lay.t[i]); j++, k++)
            q[k] = cldqn_rng_uniform(&r, -b, b);
    }
    CU_ASSERT_EQUAL(k, lay.total);
    CU_ASSERT(memcmp(p, q, lay.total * sizeof(float)) == 0);
    /* Another seed gives other weights; the same seed the same ones. */
    cldqn_rng_seed(&r, 43, CLDQN_STREAM_INIT);
    cldqn_params_init(&lay, CLDQN_INIT_TORCH, &r, q);
    CU_ASSERT(memcmp(p, q, lay.total * sizeof(float)) != 0);
    free(p);
    free(q);
}

static void test_init_keras(void)
{
    cldqn_net_shape s = cldqn_net_default_shape();
    cldqn_layout lay;
    CU_ASSERT_EQUAL_FATAL(cldqn_layout_init(&s, &lay), CLDQN_OK);
    float *p = malloc(lay.total * sizeof(float));
    CU_ASSERT_FATAL(p != NULL);
    cldqn_rng r;
    cldqn_rng_seed(&r, 7, CLDQN_STREAM_INIT);
    cldqn_params_init(&lay, CLDQN_INIT_KERAS, &r, p);
    /* Embedding U(-0.05, 0.05); Dense kernels glorot U(+-sqrt(6/(in+out))). */
    check_uniform(p, 5000, 0.05);
    const cldqn_tensor *t;
    t = cldqn_layout_find(&lay, "fc1.weight");
    check_uniform(p + t->offset, cldqn_tensor_numel(t), sqrt(6.0 / 60));
    t = cldqn_layout_find(&lay, "fc2.weight");
    check_uniform(p + t->offset, cldqn_tensor_numel(t), sqrt(6.0 / 100));
    t = cldqn_layout_find(&lay, "out.weight");
    CU_ASSERT(max_abs(p + t->offset, 300) <= sqrt(6.0 / 56));
    CU_ASSERT(max_abs(p + t->offset, 300) > 0.9 * sqrt(6.0 / 56)); /* 0.9^300 ~ 2e-14 */
    /* Zero biases. */
    for (int i = 0; i < lay.n_tensors; i++)
        if (lay.t[i].cols == 0)
            CU_ASSERT_EQUAL(max_abs(p + lay.t[i].offset, cldqn_tensor_numel(&lay.t[i])), 0.0);
    free(p);
}

int register_suites(void)
{
    static const harness_test layout[] = {{"default layout", test_default_layout},
                                          {"layers 0..max", test_layout_layers},
                                          {"rejects bad shapes", test_layout_rejects_bad_shapes},
                                          {NULL, NULL}};
    static const harness_test init[] = {
        {"torch init", test_init_torch}, {"keras init", test_init_keras}, {NULL, NULL}};
    if (harness_add_suite("net layout", NULL, NULL, layout)) return -1;
    return harness_add_suite("net init", NULL, NULL, init);
}
