/* test_guard.c - the trainer's numeric guard and crash-safe checkpoint pair.
 *
 * A non-finite weight (planted through the qnet's buffer access, as a
 * diverged update would leave it) must make cldqn_trainer_save refuse with
 * CLDQN_ERR_NUMERIC naming the tensor, element and step, leaving the previous
 * checkpoint byte-identical; the training loop must stop at the next update
 * with a message naming the step and the loss. A save interrupted between
 * its two renames (new state beside the old weights, rebuilt here from two
 * saves) must resume from the newer state; a state beside foreign weights
 * must still be refused. Host reference backend: the guard is host code. */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cldqn/trainer.h"
#include "harness.h"

static char dir[] = "/tmp/cldqn-test-guard-XXXXXX";

static int setup(void)
{
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void small_config(cldqn_config *c, uint64_t seed)
{
    CU_ASSERT_FATAL(cldqn_config_preset(c, "default") == CLDQN_OK);
    c->backend = CLDQN_BACKEND_REF;
    c->batch = 16;
    c->replay = 500;
    c->learning_starts = 50;
    c->train_every = 1; /* an update on every step from 51 on */
    c->eval_every = 0;
    c->seed = seed;
}

static unsigned char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)len + 1);
    *n = fread(b, 1, (size_t)len, f);
    fclose(f);
    return b;
}

static int same_file(const char *a, const char *b)
{
    size_t na = 0, nb = 0;
    unsigned char *x = slurp(a, &na), *y = slurp(b, &nb);
    int same = x && y && na == nb && !memcmp(x, y, na);
    free(x);
    free(y);
    return same;
}

static void copy(const char *from, const char *to)
{
    size_t n = 0;
    unsigned char *b = slurp(from, &n);
    CU_ASSERT_FATAL(b != NULL);
    FILE *f = fopen(to, "wb");
    CU_ASSERT_FATAL(f != NULL);
    CU_ASSERT(fwrite(b, 1, n, f) == n);
    fclose(f);
    free(b);
}

static void test_nonfinite_weight_is_not_saved(void)
{
    cldqn_config c;
    small_config(&c, 3);
    c.steps = 120;
    char ck[256], keep[256], keeps[300], cks[300];
    snprintf(ck, sizeof ck, "%s/w.safetensors", dir);
    snprintf(cks, sizeof cks, "%s.state", ck);
    snprintf(keep, sizeof keep, "%s/keep.safetensors", dir);
    snprintf(keeps, sizeof keeps, "%s.state", keep);
    cldqn_trainer *t;
    CU_ASSERT_FATAL(cldqn_trainer_create(&c, &t) == CLDQN_OK);
    CU_ASSERT_FATAL(cldqn_trainer_run(t, NULL) == CLDQN_OK);
    CU_ASSERT_FATAL(cldqn_trainer_save(t, ck) == CLDQN_OK);
    copy(ck, keep);
    copy(cks, keeps);

    /* fc2.weight is (H, H) = (50, 50) in the default shape: plant inf at [3, 7]. */
    cldqn_qnet *net = cldqn_trainer_qnet(t);
    const cldqn_layout *lay = cldqn_qnet_layout(net);
    const cldqn_tensor *fc2 = cldqn_layout_find(lay, "fc2.weight");
    CU_ASSERT_FATAL(fc2 != NULL && fc2->cols == 50);
    float *p = malloc(sizeof(float) * lay->total);
    CU_ASSERT_FATAL(cldqn_qnet_read(net, CLDQN_BUF_PARAMS, p) == CLDQN_OK);
    p[fc2->offset + 3 * 50 + 7] = INFINITY;
    CU_ASSERT_FATAL(cldqn_qnet_write(net, CLDQN_BUF_PARAMS, p) == CLDQN_OK);

    CU_ASSERT_EQUAL(cldqn_trainer_save(t, ck), CLDQN_ERR_NUMERIC);
    const char *msg = cldqn_last_error();
    CU_ASSERT_PTR_NOT_NULL(strstr(msg, "fc2.weight[3, 7]"));
    CU_ASSERT_PTR_NOT_NULL(strstr(msg, "step 120"));
    CU_ASSERT(same_file(ck, keep));
    CU_ASSERT(same_file(cks, keeps));

    /* The loop stops at the next update, naming the step and the loss. */
    cldqn_config *cc = (cldqn_config *)cldqn_trainer_config(t);
    cc->steps = 200;
    CU_ASSERT_EQUAL(cldqn_trainer_run(t, NULL), CLDQN_ERR_NUMERIC);
    msg = cldqn_last_error();
    CU_ASSERT_PTR_NOT_NULL(strstr(msg, "loss"));
    CU_ASSERT_PTR_NOT_NULL(strstr(msg, "step 121"));
    free(p);
    cldqn_trainer_free(t);
}

static void test_interrupted_save_resumes_from_state(void)
{
    cldqn_config c;
    small_config(&c, 4);
    c.steps = 100;
    char ck[256], cks[300], old[256];
    snprintf(ck, sizeof ck, "%s/i.safetensors", dir);
    snprintf(cks, sizeof cks, "%s.state", ck);
    snprintf(old, sizeof old, "%s/old.safetensors", dir);
    cldqn_trainer *t;
    CU_ASSERT_FATAL(cldqn_trainer_create(&c, &t) == CLDQN_OK);
    CU_ASSERT_FATAL(cldqn_trainer_run(t, NULL) == CLDQN_OK);
    CU_ASSERT_FATAL(cldqn_trainer_save(t, ck) == CLDQN_OK);
    copy(ck, old); /* the weights at step 100 */
    cldqn_config *cc = (cldqn_config *)cldqn_trainer_config(t);
    cc->steps = 150;
    CU_ASSERT_FATAL(cldqn_trainer_run(t, NULL) == CLDQN_OK);
    CU_ASSERT_FATAL(cldqn_trainer_save(t, ck) == CLDQN_OK);
    float *want = malloc(sizeof(float) * cldqn_qnet_layout(cldqn_trainer_qnet(t))->total);
    CU_ASSERT_FATAL(cldqn_qnet_read(cldqn_trainer_qnet(t), CLDQN_BUF_PARAMS, want) == CLDQN_OK);
    cldqn_trainer_free(t);

    /* As a kill after the state's rename leaves it: step-150 state, step-100 weights. */
    copy(old, ck);
    c.steps = 150;
    CU_ASSERT_EQUAL_FATAL(cldqn_trainer_resume(&c, ck, &t), CLDQN_OK);
    CU_ASSERT_EQUAL(cldqn_trainer_stats(t)->steps, 150);
    const cldqn_layout *lay = cldqn_qnet_layout(cldqn_trainer_qnet(t));
    float *got = malloc(sizeof(float) * lay->total);
    CU_ASSERT_FATAL(cldqn_qnet_read(cldqn_trainer_qnet(t), CLDQN_BUF_PARAMS, got) == CLDQN_OK);
    CU_ASSERT(memcmp(got, want, sizeof(float) * lay->total) == 0);
    /* Saving again completes the pair. */
    CU_ASSERT_FATAL(cldqn_trainer_save(t, ck) == CLDQN_OK);
    cldqn_trainer_free(t);
    CU_ASSERT_EQUAL_FATAL(cldqn_trainer_resume(&c, ck, &t), CLDQN_OK);
    cldqn_trainer_free(t);

    /* A state beside weights it never replaced (another run's) is refused. */
    cldqn_config o;
    small_config(&o, 9);
    o.steps = 100;
    CU_ASSERT_FATAL(cldqn_trainer_create(&o, &t) == CLDQN_OK);
    CU_ASSERT_FATAL(cldqn_trainer_run(t, NULL) == CLDQN_OK);
    CU_ASSERT_FATAL(cldqn_trainer_save(t, old) == CLDQN_OK);
    cldqn_trainer_free(t);
    copy(old, ck);
    CU_ASSERT_EQUAL(cldqn_trainer_resume(&c, ck, &t), CLDQN_ERR_FORMAT);
    CU_ASSERT_PTR_NOT_NULL(strstr(cldqn_last_error(), "does not belong"));
    free(want);
    free(got);
}

int register_suites(void)
{
    static const harness_test tests[] = {
        {"non-finite weight: save refused, previous checkpoint kept, loop stops",
         test_nonfinite_weight_is_not_saved},
        {"save interrupted between renames resumes from the state",
         test_interrupted_save_resumes_from_state},
        {NULL, NULL}};
    return harness_add_suite("guard", setup, teardown, tests);
}
