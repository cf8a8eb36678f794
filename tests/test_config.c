/* test_config.c - presets, flag/file/JSON parsing and validation of config.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cldqn/config.h"
#include "cldqn/population.h"
#include "harness.h"
#include "sweep.h"

/* The seed preset must be the article, setting for setting. */
static void test_seed_preset(void)
{
    cldqn_config c;
    CU_ASSERT_EQUAL_FATAL(cldqn_config_preset(&c, "seed"), CLDQN_OK);
    CU_ASSERT_EQUAL(c.episodes, 100);
    CU_ASSERT_EQUAL(c.episode_steps, 1000);
    CU_ASSERT_EQUAL(c.taxi.time_limit, 0);
    CU_ASSERT_EQUAL(c.taxi.is_rainy, 0);
    CU_ASSERT_EQUAL(c.shape.embed, 10);
    CU_ASSERT_EQUAL(c.shape.hidden, 50);
    CU_ASSERT_EQUAL(c.shape.layers, 2);
    CU_ASSERT_EQUAL(c.init, CLDQN_INIT_KERAS);
    CU_ASSERT_EQUAL(c.learn.gamma, 0.6f);
    CU_ASSERT_EQUAL(c.learn.lr, 0.01f);
    CU_ASSERT_EQUAL(c.learn.eps, 1e-7f);
    CU_ASSERT_EQUAL(c.learn.adam, CLDQN_ADAM_KERAS);
    CU_ASSERT_EQUAL(c.learn.loss, CLDQN_LOSS_MSE);
    CU_ASSERT_EQUAL(c.learn.mode, CLDQN_UPDATE_PER_SAMPLE);
    CU_ASSERT_EQUAL(c.batch, 32);
    CU_ASSERT_EQUAL(c.replay, 2000);
    CU_ASSERT_EQUAL(c.sample_replacement, 0);
    CU_ASSERT_EQUAL(c.learning_starts, 32);
    CU_ASSERT_EQUAL(c.target_every, 0);
    CU_ASSERT_EQUAL(c.eps_start, 0.1f);
    CU_ASSERT_EQUAL(c.eps_end, 0.1f);
    CU_ASSERT_EQUAL(c.render_every, 10);
    CU_ASSERT_EQUAL(c.summary, 1);
    CU_ASSERT_EQUAL(cldqn_config_check(&c), CLDQN_OK);
    CU_ASSERT_EQUAL(cldqn_config_preset(&c, "default"), CLDQN_OK);
    CU_ASSERT_EQUAL(cldqn_config_check(&c), CLDQN_OK);
    CU_ASSERT_EQUAL(cldqn_config_preset(&c, "nope"), CLDQN_ERR_ARG);
}

/* Every setting as text: compares configs without reading struct padding
 * (memcmp of structs did, and valgrind reported the undefined bytes). */
static char *config_text(const cldqn_config *c)
{
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    cldqn_config_print(c, f);
    fclose(f);
    return buf;
}

static void expect_error(const char *key, const char *value, const char *message)
{
    cldqn_config c;
    cldqn_config_preset(&c, "default");
    char *before = config_text(&c);
    cldqn_status st = cldqn_config_set(&c, key, value, NULL);
    CU_ASSERT_EQUAL(st, CLDQN_ERR_ARG);
    if (strcmp(cldqn_last_error(), message))
        fprintf(stderr, "\n  got '%s'\n  want '%s'\n", cldqn_last_error(), message);
    CU_ASSERT_STRING_EQUAL(cldqn_last_error(), message);
    /* A rejected value leaves the setting alone. */
    char *after = config_text(&c);
    CU_ASSERT_STRING_EQUAL(after, before);
    free(before);
    free(after);
}

static void test_bad_values(void)
{
    expect_error("gamma", "1.5", "--gamma: 1.5 is not in [0, 1]");
    expect_error("gamma", "-0.1", "--gamma: -0.1 is not in [0, 1]");
    expect_error("lr", "0", "--lr: 0 is not > 0");
    expect_error("lr", "-1e-3", "--lr: -1e-3 is not > 0");
    expect_error("lr", "1e30", "--lr: 1e30 is too large (at most 9.2e+18)");
    expect_error("adam-eps", "1e-87", "--adam-eps: 1e-87 is out of float range");
    expect_error("lr", "nan", "--lr: 'nan' is not a number");
    expect_error("lr", "0.01x", "--lr: '0.01x' is not a number");
    expect_error("batch", "-3", "--batch: -3 is not in [1, 65536]");
    expect_error("batch", "0", "--batch: 0 is not in [1, 65536]");
    expect_error("batch", "12.5", "--batch: '12.5' is not an integer");
    expect_error("replay", "0", "--replay: 0 is not in [1, 1e+08]");
    expect_error("steps", "-5", "--steps: -5 is not >= 0");
    expect_error("seed", "-1", "--seed: -1 is not >= 0");
    expect_error("hidden", "", "--hidden: '' is not an integer");
    expect_error("layers", "9", "--layers: 9 is not in [0, 8]");
    expect_error("beta2", "1", "--beta2: 1 is not in [0, 1)");
    expect_error("loss", "l1", "--loss: 'l1' is not one of mse|huber");
    expect_error("backend", "cuda", "--backend: 'cuda' is not one of opencl|ref");
    expect_error("rainy", "maybe", "--rainy: 'maybe' is not a bool (true/false)");
    expect_error("bogus", "1", "--bogus: unknown setting");
}

static void test_good_values(void)
{
    cldqn_config c;
    cldqn_config_preset(&c, "default");
    CU_ASSERT_EQUAL(cldqn_config_set(&c, "gamma", "1", NULL), CLDQN_OK);
    CU_ASSERT_EQUAL(c.learn.gamma, 1.0f);
    CU_ASSERT_EQUAL(cldqn_config_set(&c, "learning_starts", "77", NULL), CLDQN_OK);
    CU_ASSERT_EQUAL(c.learning_starts, 77);
    CU_ASSERT_EQUAL(cldqn_config_set(&c, "update", "Per-Sample", NULL), CLDQN_OK);
    CU_ASSERT_EQUAL(c.learn.mode, CLDQN_UPDATE_PER_SAMPLE);
    CU_ASSERT_EQUAL(cldqn_config_set(&c, "rainy", "", NULL), CLDQN_OK);
    CU_ASSERT_EQUAL(c.taxi.is_rainy, 1);
    CU_ASSERT_EQUAL(cldqn_config_set(&c, "rainy", "no", NULL), CLDQN_OK);
    CU_ASSERT_EQUAL(c.taxi.is_rainy, 0);
    CU_ASSERT_EQUAL(cldqn_config_set(&c, "seed", "18446744073709551615", NULL), CLDQN_OK);
    CU_ASSERT(c.seed == UINT64_MAX);
    CU_ASSERT_EQUAL(cldqn_config_key_kind("quiet"), 2);
    CU_ASSERT_EQUAL(cldqn_config_key_kind("lr"), 1);
    CU_ASSERT_EQUAL(cldqn_config_key_kind("resume"), 0);
}

static void test_cross_checks(void)
{
    cldqn_config c;
    cldqn_config_preset(&c, "default");
    c.batch = 64;
    c.replay = 32;
    CU_ASSERT_EQUAL(cldqn_config_check(&c), CLDQN_ERR_ARG);
    cldqn_config_preset(&c, "default");
    c.until_optimal = 1;
    c.taxi.is_rainy = 1; /* exact on the model: fine */
    CU_ASSERT_EQUAL(cldqn_config_check(&c), CLDQN_OK);
    c.taxi.fickle_passenger = 1; /* no Markov model */
    CU_ASSERT_EQUAL(cldqn_config_check(&c), CLDQN_ERR_ARG);
    const char *const refused[][2] = {{"n-step", "3"}, {"double", "true"}, {"tau", "0.5"}};
    for (int i = 0; i < 3; i++) {
        cldqn_config_preset(&c, "seed"); /* target-every 0, per-sample updates */
        CU_ASSERT_EQUAL(cldqn_config_set(&c, refused[i][0], refused[i][1], NULL), CLDQN_OK);
        CU_ASSERT_EQUAL(cldqn_config_check(&c), CLDQN_ERR_ARG);
    }
    cldqn_config_preset(&c, "default");
    c.eps_end = 0.5f;
    c.eps_start = 0.2f;
    CU_ASSERT_EQUAL(cldqn_config_check(&c), CLDQN_ERR_ARG);
    cldqn_config_preset(&c, "default");
    c.steps = 0;
    c.episodes = 0;
    CU_ASSERT_EQUAL(cldqn_config_check(&c), CLDQN_ERR_ARG);
}

static void test_config_file(void)
{
    char path[] = "/tmp/cldqn-test-config-XXXXXX";
    int fd = mkstemp(path);
    CU_ASSERT_FATAL(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fprintf(f, "# a comment\n\n  gamma = 0.9   # trailing comment\nbatch=48\nloss = huber\n"
               "learning_starts = 500\nrainy = true\n");
    fclose(f);
    cldqn_config c;
    cldqn_config_preset(&c, "default");
    CU_ASSERT_EQUAL(cldqn_config_load_file(&c, path), CLDQN_OK);
    CU_ASSERT_EQUAL(c.learn.gamma, 0.9f);
    CU_ASSERT_EQUAL(c.batch, 48);
    CU_ASSERT_EQUAL(c.learn.loss, CLDQN_LOSS_HUBER);
    CU_ASSERT_EQUAL(c.learning_starts, 500);
    CU_ASSERT_EQUAL(c.taxi.is_rainy, 1);

    f = fopen(path, "w");
    fprintf(f, "batch = 8\n\ngamma = 2\n");
    fclose(f);
    CU_ASSERT_EQUAL(cldqn_config_load_file(&c, path), CLDQN_ERR_ARG);
    char want[256];
    snprintf(want, sizeof want, "%s:3: gamma: 2 is not in [0, 1]", path);
    CU_ASSERT_STRING_EQUAL(cldqn_last_error(), want);
    f = fopen(path, "w");
    fprintf(f, "just words\n");
    fclose(f);
    CU_ASSERT_EQUAL(cldqn_config_load_file(&c, path), CLDQN_ERR_ARG);
    unlink(path);
    CU_ASSERT_EQUAL(cldqn_config_load_file(&c, path), CLDQN_ERR_IO);
}

/* --print-config output is itself a valid config file that reproduces the settings. */
static void test_print_round_trip(void)
{
    cldqn_config a, b;
    cldqn_config_preset(&a, "seed");
    a.learn.lr = 0.0123f;
    a.taxi.rainy_probability = 0.7;
    a.seed = 99;
    snprintf(a.out, sizeof a.out, "/tmp/x y.safetensors");
    char path[] = "/tmp/cldqn-test-print-XXXXXX";
    int fd = mkstemp(path);
    FILE *f = fdopen(fd, "w");
    cldqn_config_print(&a, f);
    fclose(f);
    cldqn_config_preset(&b, "seed");
    CU_ASSERT_EQUAL(cldqn_config_load_file(&b, path), CLDQN_OK);
    char ja[4096], jb[4096];
    cldqn_config_to_json(&a, ja, sizeof ja);
    cldqn_config_to_json(&b, jb, sizeof jb);
    CU_ASSERT_STRING_EQUAL(ja, jb);
    CU_ASSERT_STRING_EQUAL(a.out, b.out);
    CU_ASSERT_EQUAL(a.learn.lr, b.learn.lr);
    CU_ASSERT_EQUAL(a.taxi.rainy_probability, b.taxi.rainy_probability);
    unlink(path);
}

static void test_json_round_trip(void)
{
    cldqn_config a, b;
    cldqn_config_preset(&a, "default");
    a.learn.lr = 3.3e-4f;
    a.learn.gamma = 0.97f;
    a.learn.loss = CLDQN_LOSS_HUBER;
    a.shape.hidden = 64;
    a.eps_decay_steps = 12345;
    a.seed = 1234567890123ull;
    a.taxi.fickle_passenger = 1;
    a.until_optimal = 0;
    char json[4096];
    size_t n = cldqn_config_to_json(&a, json, sizeof json);
    CU_ASSERT(n < sizeof json);
    CU_ASSERT_EQUAL(n, strlen(json));
    CU_ASSERT_PTR_NOT_NULL(strstr(json, "\"gamma\": 0.97"));
    CU_ASSERT_PTR_NOT_NULL(strstr(json, "\"loss\": \"huber\""));
    CU_ASSERT_PTR_NULL(strstr(json, "\"out\"")); /* per-run settings are not stored */
    cldqn_config_preset(&b, "seed");
    CU_ASSERT_EQUAL(cldqn_config_from_json(&b, json), CLDQN_OK);
    char json2[4096];
    cldqn_config_to_json(&b, json2, sizeof json2);
    CU_ASSERT_STRING_EQUAL(json, json2);
    CU_ASSERT_EQUAL(b.learn.lr, a.learn.lr);
    CU_ASSERT(b.seed == a.seed);
    CU_ASSERT_STRING_EQUAL(b.preset, "default");
    /* Truncated output is still NUL-terminated and reports the full length. */
    char small[16];
    CU_ASSERT_EQUAL(cldqn_config_to_json(&a, small, sizeof small), n);
    CU_ASSERT_EQUAL(strlen(small), sizeof small - 1);
    CU_ASSERT_EQUAL(cldqn_config_from_json(&b, "{\"gamma\": 0.5"), CLDQN_ERR_FORMAT);
    CU_ASSERT_EQUAL(cldqn_config_from_json(&b, "{\"nope\": 1}"), CLDQN_ERR_FORMAT);
    CU_ASSERT_EQUAL(cldqn_config_from_json(&b, "{\"gamma\": 7}"), CLDQN_ERR_FORMAT);
    CU_ASSERT_EQUAL(cldqn_config_from_json(&b, "{\"out\": \"x\"}"), CLDQN_ERR_FORMAT);
    /* cJSON reads the text: each key once, flat values, exact integers. */
    static const struct {
        const char *json, *msg;
    } bad[] = {
        {"{\"gamma\": 0.5, \"gamma\": 0.6}", "config JSON: 'gamma' given twice"},
        {"{\"gamma\": [0.5]}", "config JSON: gamma: not a string, number or bool"},
        {"{\"gamma\": null}", "config JSON: gamma: not a string, number or bool"},
        {"{\"seed\": 18446744073709551616}",
         "config JSON: seed: '18446744073709551616' is not an integer"},
        {"{\"gamma\": 0.5} x", "config JSON: not valid JSON (at byte 15)"},
        {"[1]", "config JSON: not an object"},
        {"{\"gamma\": 9.9}", "config JSON: gamma: 9.9 is not in [0, 1]"},
        {"{\"steps\": 1.5}", "config JSON: steps: '1.5' is not an integer"},
        {"{\"lr\": 1e999}", "config JSON: lr: 'inf' is not a number"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CU_ASSERT_EQUAL(cldqn_config_from_json(&b, bad[i].json), CLDQN_ERR_FORMAT);
        if (strncmp(cldqn_last_error(), bad[i].msg, strlen(bad[i].msg))) {
            fprintf(stderr, "\n  %s: '%s', expected '%s...'\n", bad[i].json, cldqn_last_error(),
                    bad[i].msg);
            CU_FAIL("config JSON message");
        }
    }
    /* Checkpoints written before cJSON hold such a seed as a number: its
     * digits read back exactly too (the double would be 2^64). */
    CU_ASSERT_EQUAL(cldqn_config_from_json(&b, "{\"seed\": 18446744073709551615}"), CLDQN_OK);
    CU_ASSERT(b.seed == UINT64_MAX);
    CU_ASSERT_EQUAL(cldqn_config_from_json(&b, "{\"seed\":9007199254740993}"), CLDQN_OK);
    CU_ASSERT(b.seed == 9007199254740993ull);
    /* Past 2^53 an integer is written as a string, which reads back exactly. */
    a.seed = UINT64_MAX;
    cldqn_config_to_json(&a, json, sizeof json);
    CU_ASSERT_PTR_NOT_NULL(strstr(json, "\"seed\": \"18446744073709551615\""));
    CU_ASSERT_EQUAL(cldqn_config_from_json(&b, json), CLDQN_OK);
    CU_ASSERT(b.seed == UINT64_MAX);
    /* Only integers: a float past 2^53 is a number as ever. */
    a.learn.lr = 1e20f;
    cldqn_config_to_json(&a, json, sizeof json);
    CU_ASSERT_PTR_NOT_NULL(strstr(json, "\"lr\": 1e+20,"));
    char preset[16];
    cldqn_config_json_preset("{\"lr\": 0.5, \"preset\": \"seed\"}", preset, sizeof preset);
    CU_ASSERT_STRING_EQUAL(preset, "seed");
    cldqn_config_json_preset("{\"preset\": 1}", preset, sizeof preset);
    CU_ASSERT_STRING_EQUAL(preset, "");
}

static void test_epsilon_schedule(void)
{
    cldqn_config c;
    cldqn_config_preset(&c, "default");
    c.eps_start = 1.0f;
    c.eps_end = 0.1f;
    c.eps_decay_steps = 1000;
    CU_ASSERT_EQUAL(cldqn_config_epsilon(&c, 0), 1.0f);
    /* 1 + 0.5 * (0.1 - 1) = 0.55, computed in double then rounded once. */
    CU_ASSERT_DOUBLE_EQUAL(cldqn_config_epsilon(&c, 500), 0.55, 1e-7);
    CU_ASSERT_EQUAL(cldqn_config_epsilon(&c, 1000), 0.1f);
    CU_ASSERT_EQUAL(cldqn_config_epsilon(&c, 99999), 0.1f);
    cldqn_config_preset(&c, "seed");
    CU_ASSERT_EQUAL(cldqn_config_epsilon(&c, 0), 0.1f);
    CU_ASSERT_EQUAL(cldqn_config_epsilon(&c, 12345), 0.1f);
}

/* PyTorch's LinearLR / CosineAnnealingLR closed forms over env steps. */
static void test_lr_schedule(void)
{
    cldqn_config c;
    cldqn_config_preset(&c, "default");
    c.learn.lr = 3e-3f;
    c.lr_end = 1e-4f;
    c.lr_decay_steps = 1000;
    CU_ASSERT_EQUAL(cldqn_config_lr(&c, 0), 3e-3f); /* constant */
    CU_ASSERT_EQUAL(cldqn_config_lr(&c, 5000), 3e-3f);
    const double lr = 3e-3f, end = 1e-4f, pi = 3.14159265358979323846;
    for (int kind = CLDQN_LR_LINEAR; kind <= CLDQN_LR_COSINE; kind++) {
        c.lr_schedule = (cldqn_lr_schedule)kind;
        CU_ASSERT_EQUAL(cldqn_config_lr(&c, 0), 3e-3f);
        for (int64_t s = 0; s < 1000; s += 37) {
            const double x = s / 1000.0;
            const double f = kind == CLDQN_LR_LINEAR ? 1 - x : (1 + cos(pi * x)) / 2;
            /* one rounding to float: half an ulp of the value */
            CU_ASSERT_DOUBLE_EQUAL(cldqn_config_lr(&c, s), end + f * (lr - end), 3e-3 * 0x1p-24);
        }
        CU_ASSERT_EQUAL(cldqn_config_lr(&c, 1000), 1e-4f);
        CU_ASSERT_EQUAL(cldqn_config_lr(&c, 99999), 1e-4f);
    }
    /* Both halves of the decay meet at the midpoint. */
    CU_ASSERT_DOUBLE_EQUAL(cldqn_config_lr(&c, 500), (lr + end) / 2, 1e-10);
    c.lr_decay_steps = 0;
    CU_ASSERT_EQUAL(cldqn_config_check(&c), CLDQN_ERR_ARG);
    c.lr_decay_steps = 10;
    c.lr_end = 1.0f;
    CU_ASSERT_EQUAL(cldqn_config_check(&c), CLDQN_ERR_ARG);
    c.lr_end = 0.0f;
    CU_ASSERT_EQUAL(cldqn_config_check(&c), CLDQN_OK);
}

/* Settings added after the first checkpoints are stored only when on, and a
 * checkpoint without them reads as off, whatever its preset sets now. */
static void test_json_neutral_keys(void)
{
    cldqn_config a, b;
    cldqn_config_preset(&a, "default");
    a.learn.tau = 1.0f;
    a.grad_steps = 1;
    a.lr_schedule = CLDQN_LR_CONSTANT;
    a.lr_end = 0.0f;
    a.lr_decay_steps = 0;
    char json[4096];
    cldqn_config_to_json(&a, json, sizeof json);
    const char *later[] = {"\"tau\"",    "\"grad-steps\"",     "\"lr-schedule\"",
                           "\"lr-end\"", "\"lr-decay-steps\"", "\"envs\""};
    for (size_t i = 0; i < sizeof later / sizeof later[0]; i++)
        CU_ASSERT_PTR_NULL(strstr(json, later[i]));
    cldqn_config_preset(&b, "default");
    b.learn.tau = 0.5f;
    b.grad_steps = 4;
    b.lr_schedule = CLDQN_LR_COSINE;
    CU_ASSERT_EQUAL(cldqn_config_from_json(&b, json), CLDQN_OK);
    CU_ASSERT_EQUAL(b.learn.tau, 1.0f);
    CU_ASSERT_EQUAL(b.grad_steps, 1);
    CU_ASSERT_EQUAL(b.lr_schedule, CLDQN_LR_CONSTANT);
    a.learn.tau = 0.25f;
    a.grad_steps = 3;
    a.lr_schedule = CLDQN_LR_LINEAR;
    a.lr_end = 1e-4f;
    a.lr_decay_steps = 777;
    cldqn_config_to_json(&a, json, sizeof json);
    CU_ASSERT_PTR_NOT_NULL(strstr(json, "\"tau\": 0.25"));
    CU_ASSERT_PTR_NOT_NULL(strstr(json, "\"lr-schedule\": \"linear\""));
    CU_ASSERT_EQUAL(cldqn_config_from_json(&b, json), CLDQN_OK);
    CU_ASSERT_EQUAL(b.learn.tau, 0.25f);
    CU_ASSERT_EQUAL(b.grad_steps, 3);
    CU_ASSERT_EQUAL(b.lr_schedule, CLDQN_LR_LINEAR);
    CU_ASSERT_EQUAL(b.lr_end, 1e-4f);
    CU_ASSERT_EQUAL(b.lr_decay_steps, 777);
}

static int in_list(const char *const *list, const char *key)
{
    for (; *list; list++)
        if (!strcmp(*list, key)) return 1;
    return 0;
}

/* c with key set to a valid value other than its own, or 0 if none found. */
static int change_key(cldqn_config *c, const char *key)
{
    static const char *const cand[] = {"3",     "2",     "1",      "0",          "0.5",   "0.25",
                                       "true",  "false", "with",   "without",    "keras", "torch",
                                       "huber", "mse",   "mean",   "per-sample", "fused", "layered",
                                       "ref",   "x",     "linear", "cosine",     NULL};
    char was[1100], now[1100];
    cldqn_config_value(c, key, was, sizeof was);
    for (int i = 0; cand[i]; i++) {
        cldqn_config t = *c;
        if (cldqn_config_set(&t, key, cand[i], NULL) != CLDQN_OK) continue;
        cldqn_config_value(&t, key, now, sizeof now);
        if (strcmp(now, was)) {
            *c = t;
            return 1;
        }
    }
    return 0;
}

/* Whether key's value in a equals that in b, as text. */
static int same_value(const cldqn_config *a, const cldqn_config *b, const char *key)
{
    char va[1100], vb[1100];
    cldqn_config_value(a, key, va, sizeof va);
    cldqn_config_value(b, key, vb, sizeof vb);
    return !strcmp(va, vb);
}

/* The key table's sweep column is the only list of sweepable keys: the list,
 * its text, the population's strip (what agents may differ in) and the
 * error for an unsweepable key all follow it. */
static void test_sweep_column(void)
{
    const char *const *list = cldqn_config_sweep_keys();
    CU_ASSERT_PTR_EQUAL(cldqn_population_sweep_keys(), list);
    char text[1024] = "";
    for (int j = 0; list[j]; j++) {
        if (j) strcat(text, ", ");
        strcat(text, list[j]);
    }
    CU_ASSERT_STRING_EQUAL(cldqn_config_sweep_keys_text(), text);
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "seed, lr, gamma"));

    cldqn_config ref;
    CU_ASSERT_EQUAL_FATAL(cldqn_config_preset(&ref, "default"), CLDQN_OK);
    CU_ASSERT_EQUAL_FATAL(cldqn_config_set(&ref, "clip", "1", NULL), CLDQN_OK);
    int n_keys = 0, n_sweep = 0;
    for (const char *key; (key = cldqn_config_key_name(n_keys)); n_keys++) {
        const cldqn_sweep_rule rule = cldqn_config_key_sweep(key);
        CU_ASSERT_EQUAL(in_list(list, key), rule != CLDQN_SWEEP_NO);
        n_sweep += rule != CLDQN_SWEEP_NO;
        cldqn_config c = ref;
        CU_ASSERT_FATAL(change_key(&c, key));
        /* Strip copies exactly the sweepable key from ref, nothing else. */
        cldqn_config x = cldqn_sweep_strip(&c, &ref);
        for (int j = 0; cldqn_config_key_name(j); j++) {
            const char *other = cldqn_config_key_name(j);
            const int copied = j == n_keys && rule != CLDQN_SWEEP_NO;
            if (!same_value(&x, copied ? &ref : &c, other)) {
                fprintf(stderr, "strip: change of %s, %s wrong\n", key, other);
                CU_FAIL("strip disagrees with the sweep column");
            }
        }
        /* Sweeping it: accepted iff the column says so, else named with the list. */
        char item[64];
        snprintf(item, sizeof item, "%s=%s,%s", key, "1", "2");
        const char *items[] = {item};
        cldqn_config *cfgs = NULL;
        int k = 0;
        cldqn_status st = cldqn_population_configs(&ref, 2, items, 1, &cfgs, &k);
        free(cfgs);
        if (rule == CLDQN_SWEEP_NO) {
            char want[1200];
            snprintf(want, sizeof want, "'%s' cannot differ between agents (only %s)", key, text);
            CU_ASSERT_EQUAL(st, CLDQN_ERR_ARG);
            CU_ASSERT_PTR_NOT_NULL(strstr(cldqn_last_error(), want));
        } else {
            CU_ASSERT(st == CLDQN_OK || !strstr(cldqn_last_error(), "cannot differ"));
        }
    }
    int n_list = 0;
    while (list[n_list]) n_list++;
    CU_ASSERT_EQUAL(n_list, n_sweep);

    /* clip may differ only among values > 0: off against on is not stripped. */
    cldqn_config off = ref, on = ref;
    CU_ASSERT_EQUAL(cldqn_config_key_sweep("clip"), CLDQN_SWEEP_POSITIVE);
    cldqn_config_set(&off, "clip", "0", NULL);
    cldqn_config_set(&on, "clip", "2", NULL);
    cldqn_config x = cldqn_sweep_strip(&off, &on);
    CU_ASSERT(!same_value(&x, &on, "clip"));
    x = cldqn_sweep_strip(&on, &ref);
    CU_ASSERT(same_value(&x, &ref, "clip"));
}

/* `cldqn train --help` and README.md list exactly the table's sweepable keys. */
static void test_sweep_docs(void)
{
    const char *const *list = cldqn_config_sweep_keys();
    FILE *p = popen(CLDQN_BINARY " train --help", "r");
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    static char help[65536];
    size_t n = fread(help, 1, sizeof help - 1, p);
    help[n] = 0;
    CU_ASSERT_EQUAL(pclose(p), 0);
    const char *intro = "the settings agents may differ in:\n";
    char *s = strstr(help, intro);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    s += strlen(intro);
    /* The indented lines that follow: the keys, ", " between them; then
     * the rule of each that may differ only among positive values. */
    int j = 0;
    while (!strncmp(s, "  ", 2)) {
        char *eol = strchr(s, '\n');
        CU_ASSERT_PTR_NOT_NULL_FATAL(eol);
        *eol = 0;
        for (char *tok = strtok(s, ", "); tok; tok = strtok(NULL, ", ")) {
            CU_ASSERT_PTR_NOT_NULL_FATAL(list[j]);
            CU_ASSERT_STRING_EQUAL(tok, list[j]);
            j++;
        }
        s = eol + 1;
    }
    CU_ASSERT_PTR_NULL(list[j]);
    for (j = 0; list[j]; j++) {
        char rule[64];
        snprintf(rule, sizeof rule, "%s: all > 0 or all 0.\n", list[j]);
        CU_ASSERT_EQUAL(strstr(s, rule) != NULL,
                        cldqn_config_key_sweep(list[j]) == CLDQN_SWEEP_POSITIVE);
    }

    FILE *f = fopen(CLDQN_SOURCE_DIR "/README.md", "r");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    static char readme[1 << 20];
    n = fread(readme, 1, sizeof readme - 1, f);
    readme[n] = 0;
    fclose(f);
    char want[1200];
    snprintf(want, sizeof want, "Sweepable (`cldqn train --help`): %s (",
             cldqn_config_sweep_keys_text());
    CU_ASSERT_PTR_NOT_NULL(strstr(readme, want));
}

int register_suites(void)
{
    static const harness_test tests[] = {{"seed preset is the article", test_seed_preset},
                                         {"bad values rejected", test_bad_values},
                                         {"good values accepted", test_good_values},
                                         {"cross-field checks", test_cross_checks},
                                         {"config file", test_config_file},
                                         {"print-config round trip", test_print_round_trip},
                                         {"JSON round trip", test_json_round_trip},
                                         {"epsilon schedule", test_epsilon_schedule},
                                         {"learning-rate schedules", test_lr_schedule},
                                         {"JSON: later keys only when on", test_json_neutral_keys},
                                         {"sweep column: list, strip, errors", test_sweep_column},
                                         {"sweep column: usage text, README", test_sweep_docs},
                                         {NULL, NULL}};
    return harness_add_suite("config", NULL, NULL, tests);
}
