/* test_checkpoint.c - safetensors writing and reading (checkpoint.h).
 *
 * Checks the byte format against a file written by the reference safetensors
 * library (tools/make_safetensors_data.py), round trips, and that truncated,
 * corrupted and mismatched files fail with CLDQN_ERR_FORMAT, never a crash. */
#define _GNU_SOURCE
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cldqn/checkpoint.h"
#include "cldqn/config.h"
#include "cldqn/rng.h"
#include "harness.h"

static char dir[64];

static int setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/cldqn-test-ckpt-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void path_in(char *buf, size_t size, const char *name)
{
    snprintf(buf, size, "%s/%s", dir, name);
}

static unsigned char *slurp(const char *path, size_t *n)
{
    *n = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc(*n + 1);
    if (fread(b, 1, *n, f) != *n) *n = 0;
    fclose(f);
    return b;
}

static void spit(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    fwrite(data, 1, n, f);
    fclose(f);
}

/* A file written by Python's safetensors loads with the expected values. */
static void test_reads_reference_file(void)
{
    char path[512];
    snprintf(path, sizeof path, "%s/safetensors_ref.safetensors", CLDQN_TEST_DATA);
    cldqn_config cfg;
    cldqn_layout lay;
    float *p = NULL;
    CU_ASSERT_EQUAL_FATAL(cldqn_checkpoint_load(path, &cfg, &lay, &p), CLDQN_OK);
    CU_ASSERT_EQUAL(cfg.shape.embed, 3);
    CU_ASSERT_EQUAL(cfg.shape.hidden, 4);
    CU_ASSERT_EQUAL(cfg.shape.layers, 1);
    CU_ASSERT_EQUAL(cfg.seed, 7);
    CU_ASSERT_EQUAL(cfg.learn.gamma, 0.9f);
    CU_ASSERT_EQUAL(lay.n_tensors, 5);
    for (int k = 0; k < lay.n_tensors; k++) {
        const cldqn_tensor *t = &lay.t[k];
        size_t n = cldqn_tensor_numel(t), bad = 0;
        for (size_t i = 0; i < n; i++) {
            /* numpy: float32(k) + float32(i) / float32(1000), each op rounded to float */
            float want = (float)k + (float)i / 1000.0f;
            if (p[t->offset + i] != want) bad++;
        }
        CU_ASSERT_EQUAL(bad, 0);
    }
    free(p);
}

static void fill(float *p, size_t n, uint64_t seed)
{
    cldqn_rng r;
    cldqn_rng_seed(&r, seed, 77);
    for (size_t i = 0; i < n; i++) p[i] = cldqn_rng_normal(&r);
}

/* Our file: the header is what the safetensors spec says, byte for byte where it matters. */
static void test_writes_spec_format(void)
{
    cldqn_config cfg;
    cldqn_config_preset(&cfg, "default");
    cldqn_layout lay;
    cldqn_net_shape sh = cldqn_net_default_shape();
    CU_ASSERT_EQUAL_FATAL(cldqn_layout_init(&sh, &lay), CLDQN_OK);
    float *p = malloc(lay.total * sizeof(float));
    fill(p, lay.total, 1);
    char path[512];
    path_in(path, sizeof path, "spec.safetensors");
    CU_ASSERT_EQUAL_FATAL(cldqn_checkpoint_save(path, &cfg, &lay, p, NULL), CLDQN_OK);
    size_t n = 0;
    unsigned char *b = slurp(path, &n);
    uint64_t hlen = 0;
    for (int i = 0; i < 8; i++) hlen |= (uint64_t)b[i] << (8 * i);
    CU_ASSERT_EQUAL(hlen % 8, 0);                             /* data 8-byte aligned */
    CU_ASSERT_EQUAL(n, 8 + hlen + lay.total * sizeof(float)); /* 8406 floats, nothing else */
    char *h = strndup((const char *)b + 8, hlen);
    CU_ASSERT_PTR_NOT_NULL(strstr(h, "\"embedding.weight\":{\"dtype\":\"F32\",\"shape\":[500,10],"
                                     "\"data_offsets\":[0,20000]}"));
    CU_ASSERT_PTR_NOT_NULL(strstr(h, "\"fc1.bias\":{\"dtype\":\"F32\",\"shape\":[50],"));
    CU_ASSERT_PTR_NOT_NULL(strstr(h, "\"out.weight\":{\"dtype\":\"F32\",\"shape\":[6,50],"));
    CU_ASSERT_PTR_NOT_NULL(strstr(h, "\"format\":\"cldqn\""));
    CU_ASSERT_PTR_NOT_NULL(strstr(h, "\"hidden\":\"50\""));
    CU_ASSERT_PTR_NOT_NULL(strstr(h, "\"config\":\"{\\\"preset\\\": \\\"default\\\""));
    /* Data is the flat array in layout order, little-endian float32. */
    CU_ASSERT(memcmp(b + 8 + hlen, p, lay.total * sizeof(float)) == 0);
    free(h);
    free(b);
    free(p);
}

static void test_round_trip(void)
{
    cldqn_config cfg, back;
    cldqn_config_preset(&cfg, "seed");
    cfg.shape.hidden = 17;
    cfg.shape.layers = 3;
    cfg.learn.lr = 0.0042f;
    cldqn_layout lay, lay2;
    cfg.shape.n_states = 500;
    cfg.shape.n_actions = 6;
    CU_ASSERT_EQUAL_FATAL(cldqn_layout_init(&cfg.shape, &lay), CLDQN_OK);
    float *p = malloc(lay.total * sizeof(float)), *q = NULL;
    fill(p, lay.total, 2);
    char path[512];
    path_in(path, sizeof path, "rt.safetensors");
    CU_ASSERT_EQUAL_FATAL(cldqn_checkpoint_save(path, &cfg, &lay, p, NULL), CLDQN_OK);
    CU_ASSERT_EQUAL_FATAL(cldqn_checkpoint_load(path, &back, &lay2, &q), CLDQN_OK);
    CU_ASSERT_EQUAL(lay2.total, lay.total);
    CU_ASSERT(memcmp(p, q, lay.total * sizeof(float)) == 0);
    CU_ASSERT_EQUAL(back.shape.hidden, 17);
    CU_ASSERT_EQUAL(back.shape.layers, 3);
    CU_ASSERT_EQUAL(back.learn.lr, 0.0042f);
    CU_ASSERT_STRING_EQUAL(back.preset, "seed");
    free(p);
    free(q);
}

static void expect_format_error(const char *path, const char *needle)
{
    cldqn_config c;
    cldqn_layout l;
    float *p = (float *)1;
    cldqn_status st = cldqn_checkpoint_load(path, &c, &l, &p);
    CU_ASSERT_EQUAL(st, CLDQN_ERR_FORMAT);
    CU_ASSERT_PTR_NULL(p);
    if (needle && !strstr(cldqn_last_error(), needle)) {
        fprintf(stderr, "\n  message '%s' lacks '%s'\n", cldqn_last_error(), needle);
        CU_FAIL("error message");
    }
    if (st == CLDQN_OK) free(p);
}

/* Every prefix of a valid file is rejected (a few hundred lengths cover
 * the length field, the header and the data). */
static void test_truncated(void)
{
    char src[512], dst[512];
    snprintf(src, sizeof src, "%s/safetensors_ref.safetensors", CLDQN_TEST_DATA);
    path_in(dst, sizeof dst, "trunc.safetensors");
    size_t n = 0;
    unsigned char *b = slurp(src, &n);
    CU_ASSERT_FATAL(b && n > 600);
    int failures = 0;
    for (size_t len = 0; len < n; len += (len < 700 ? 1 : 97)) {
        spit(dst, b, len);
        cldqn_config c;
        cldqn_layout l;
        float *p = NULL;
        if (cldqn_checkpoint_load(dst, &c, &l, &p) != CLDQN_ERR_FORMAT) failures++;
        free(p);
    }
    CU_ASSERT_EQUAL(failures, 0);
    spit(dst, b, n - 1);
    expect_format_error(dst, "truncated");
    spit(dst, b, 4);
    expect_format_error(dst, "truncated");
    /* An extra byte at the end is not silently ignored either. */
    unsigned char *c = malloc(n + 1);
    memcpy(c, b, n);
    c[n] = 0;
    spit(dst, c, n + 1);
    expect_format_error(dst, "described by no tensor");
    free(c);
    free(b);
}

/* Replaces the first occurrence of `from` in the header by `to` (same length). */
static void corrupt(const char *src, const char *dst, const char *from, const char *to)
{
    size_t n = 0;
    unsigned char *b = slurp(src, &n);
    unsigned char *at = memmem(b, n, from, strlen(from));
    CU_ASSERT_PTR_NOT_NULL_FATAL(at);
    CU_ASSERT_EQUAL_FATAL(strlen(from), strlen(to));
    memcpy(at, to, strlen(to));
    spit(dst, b, n);
    free(b);
}

static void test_corrupted(void)
{
    char src[512], dst[512];
    snprintf(src, sizeof src, "%s/safetensors_ref.safetensors", CLDQN_TEST_DATA);
    path_in(dst, sizeof dst, "bad.safetensors");
    corrupt(src, dst, "\"F32\"", "\"F16\"");
    expect_format_error(dst, "dtype");
    corrupt(src, dst, "[500,3]", "[501,3]");
    expect_format_error(dst, "data_offsets");
    corrupt(src, dst, "[500,3]", "[3,500]");
    expect_format_error(dst, "shape [3, 500], expected [500, 3]");
    corrupt(src, dst, "{\"dtype\"", "[\"dtype\"");
    expect_format_error(dst, "header");
    corrupt(src, dst, "\"format\":\"cldqn\"", "\"format\":\"xxxxx\"");
    expect_format_error(dst, "not a cldqn checkpoint");
    corrupt(src, dst, "\\\"hidden\\\": 4", "\\\"hidden\\\": 5");
    expect_format_error(dst, "shape");
    /* The shape keys other readers trust must agree with the tensors. */
    corrupt(src, dst, "\"hidden\":\"4\"", "\"hidden\":\"9\"");
    expect_format_error(dst, "metadata hidden = '9' disagrees");
    corrupt(src, dst, "\\\"gamma\\\": 0.9", "\\\"gamma\\\": 9.9");
    expect_format_error(dst, "gamma");
    /* Header length far beyond the file, and beyond any sane size. */
    size_t n = 0;
    unsigned char *b = slurp(src, &n);
    b[0] = 0xff;
    b[1] = 0xff;
    spit(dst, b, n);
    expect_format_error(dst, "truncated");
    b[6] = 0x7f;
    spit(dst, b, n);
    expect_format_error(dst, "not a safetensors file");
    free(b);
    /* A non-finite weight is corruption too. */
    b = slurp(src, &n);
    memset(b + n - 4, 0xff, 4);
    spit(dst, b, n);
    expect_format_error(dst, "non-finite");
    free(b);
}

/* A file of one U8 tensor of n bytes under header json (padded to 8). */
static void write_raw(const char *path, const char *json, size_t n)
{
    size_t hl = (strlen(json) + 7) / 8 * 8;
    unsigned char *b = calloc(1, 8 + hl + n);
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)hl >> (8 * i));
    memset(b + 8, ' ', hl);
    memcpy(b + 8, json, strlen(json));
    spit(path, b, 8 + hl + n);
    free(b);
}

static void expect_read_error(const char *path, const char *needle)
{
    cldqn_st_file *f = NULL;
    CU_ASSERT_EQUAL(cldqn_st_read(path, &f), CLDQN_ERR_FORMAT);
    CU_ASSERT_PTR_NULL(f);
    if (!strstr(cldqn_last_error(), needle)) {
        fprintf(stderr, "\n  message '%s' lacks '%s'\n", cldqn_last_error(), needle);
        CU_FAIL("error message");
    }
}

/* What a JSON parser alone would let through: duplicate keys (cJSON keeps
 * both), numbers that are no byte offsets, control bytes, a header of
 * millions of values. */
static void test_header_refusals(void)
{
    char src[512], dst[512];
    snprintf(src, sizeof src, "%s/safetensors_ref.safetensors", CLDQN_TEST_DATA);
    path_in(dst, sizeof dst, "hdr.safetensors");
    corrupt(src, dst, "\"format\":\"cldqn\"", "\"hidden\":\"4\"    ");
    expect_format_error(dst, "duplicate metadata key");
    corrupt(src, dst, "{\"dtype\":\"F32\",\"shape\":[4]", "{\"shape\":[4],  \"shape\":[4]");
    expect_format_error(dst, "duplicate key in tensor entry");
    corrupt(src, dst, "\"fc1.bias\"", "\"out.bias\"");
    expect_format_error(dst, "duplicate tensor name");
    corrupt(src, dst, "\"format\":\"cldqn\"", "\"format\":\"cl\tqn\"");
    expect_format_error(dst, "control character");
    /* cJSON reads numbers as doubles: 6e03 is 6000, and past 2^53 - 1 no
     * integer is exact, so none is taken. */
    corrupt(src, dst, "[0,6000]", "[0,6e03]");
    cldqn_st_file *f = NULL;
    CU_ASSERT_EQUAL(cldqn_st_read(dst, &f), CLDQN_OK);
    cldqn_st_free(f);
    corrupt(src, dst, "[0,6000]", "[0,60.5]");
    expect_format_error(dst, "bad data_offsets");
    corrupt(src, dst, "[6000,6016]", "[-0,1e9999]");
    expect_format_error(dst, "bad data_offsets");
    corrupt(src, dst, "[4],", "[-4]");
    expect_format_error(dst, "not valid JSON");
    corrupt(src, dst, "\"shape\":[4]", "\"shape\":\"4\"");
    expect_format_error(dst, "bad shape");
    write_raw(dst, "{\"x\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]}} {}", 2);
    expect_read_error(dst, "trailing bytes after the JSON object");
    write_raw(dst, "{\"x\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]},}", 2);
    expect_read_error(dst, "not valid JSON (at byte");
    write_raw(dst, "{\"x\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,9007199254740993]}}",
              2);
    expect_read_error(dst, "bad data_offsets");
    write_raw(dst, "[1]", 0);
    expect_read_error(dst, "not a JSON object");
    /* 100,000 values: refused before cJSON builds them. */
    size_t n = 100000;
    char *big = malloc(2 * n + 16);
    strcpy(big, "{\"x\":[0");
    for (size_t i = 1; i < n; i++) strcat(big + 2 * i, ",0");
    strcat(big + 2 * n, "]}");
    write_raw(dst, big, 0);
    expect_read_error(dst, "too many values");
    free(big);
    write_raw(dst, "\t{\"x\" :{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]}}\r\n", 2);
    CU_ASSERT_EQUAL(cldqn_st_read(dst, &f), CLDQN_OK);
    cldqn_st_free(f);
}

/* Tensors from a bigger network than the config claims: shape mismatch. */
static void test_shape_mismatch(void)
{
    cldqn_config big;
    cldqn_config_preset(&big, "default");
    big.shape.hidden = 64;
    big.shape.n_states = 500;
    big.shape.n_actions = 6;
    cldqn_layout lay;
    CU_ASSERT_EQUAL_FATAL(cldqn_layout_init(&big.shape, &lay), CLDQN_OK);
    float *p = calloc(lay.total, sizeof(float));
    char path[512];
    path_in(path, sizeof path, "mismatch.safetensors");
    cldqn_config small = big;
    small.shape.hidden = 50; /* metadata says 50, tensors are 64 wide */
    size_t need = cldqn_config_to_json(&small, NULL, 0);
    char *json = malloc(need + 1);
    cldqn_config_to_json(&small, json, need + 1);
    cldqn_st_entry e[CLDQN_MAX_TENSORS];
    for (int i = 0; i < lay.n_tensors; i++) {
        e[i].name = lay.t[i].name;
        e[i].dtype = "F32";
        e[i].ndim = lay.t[i].cols ? 2 : 1;
        e[i].shape[0] = lay.t[i].rows;
        e[i].shape[1] = lay.t[i].cols;
        e[i].data = p + lay.t[i].offset;
    }
    const char *meta[] = {"format", "cldqn", "config", json, NULL};
    CU_ASSERT_EQUAL_FATAL(cldqn_st_write(path, e, lay.n_tensors, meta), CLDQN_OK);
    expect_format_error(path, "fc1.weight' has shape [64, 10], expected [50, 10]");
    free(json);
    free(p);
}

static int count_entries(const char *d)
{
    DIR *dp = opendir(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(dp)))
        if (de->d_name[0] != '.') n++;
    closedir(dp);
    return n;
}

/* A failed write leaves no temporary file and never touches the old one. */
static void test_atomic_write(void)
{
    char sub[512], path[600], blocker[600];
    path_in(sub, sizeof sub, "atomic");
    mkdir(sub, 0755);
    snprintf(path, sizeof path, "%s/ck.safetensors", sub);
    float v[4] = {1, 2, 3, 4};
    cldqn_st_entry e = {"x", "F32", 1, {4}, v};
    CU_ASSERT_EQUAL_FATAL(cldqn_st_write(path, &e, 1, NULL), CLDQN_OK);
    size_t n0 = 0, n1 = 0;
    unsigned char *before = slurp(path, &n0);
    /* Overwriting works and replaces the content. */
    float w[4] = {5, 6, 7, 8};
    cldqn_st_entry e2 = {"x", "F32", 1, {4}, w};
    CU_ASSERT_EQUAL(cldqn_st_write(path, &e2, 1, NULL), CLDQN_OK);
    cldqn_st_file *f;
    CU_ASSERT_EQUAL_FATAL(cldqn_st_read(path, &f), CLDQN_OK);
    const void *d;
    CU_ASSERT_EQUAL(cldqn_st_get(f, "x", "F32", 1, (int64_t[]){4}, &d, NULL), CLDQN_OK);
    CU_ASSERT(memcmp(d, w, sizeof w) == 0);
    cldqn_st_free(f);
    CU_ASSERT_EQUAL(cldqn_st_write(path, &e, 1, NULL), CLDQN_OK);
    /* The rename fails when the target is a non-empty directory. */
    snprintf(blocker, sizeof blocker, "%s/dir.safetensors", sub);
    mkdir(blocker, 0755);
    char inner[700];
    snprintf(inner, sizeof inner, "%s/keep", blocker);
    spit(inner, "x", 1);
    CU_ASSERT_EQUAL(cldqn_st_write(blocker, &e, 1, NULL), CLDQN_ERR_IO);
    CU_ASSERT_EQUAL(count_entries(sub), 2); /* ck.safetensors and the directory: no temp files */
    /* A directory that does not exist. */
    snprintf(blocker, sizeof blocker, "%s/missing/ck.safetensors", sub);
    CU_ASSERT_EQUAL(cldqn_st_write(blocker, &e, 1, NULL), CLDQN_ERR_IO);
    unsigned char *after = slurp(path, &n1);
    CU_ASSERT_EQUAL(n0, n1);
    CU_ASSERT(memcmp(before, after, n0) == 0);
    free(before);
    free(after);
    /* A missing file is an I/O error, not a format error. */
    cldqn_config c;
    cldqn_layout l;
    float *p;
    CU_ASSERT_EQUAL(cldqn_checkpoint_load(blocker, &c, &l, &p), CLDQN_ERR_IO);
}

/* Metadata strings survive escaping: quotes, backslashes, control characters. */
static void test_metadata_escapes(void)
{
    char path[512];
    path_in(path, sizeof path, "meta.safetensors");
    uint8_t one = 7;
    cldqn_st_entry e = {"b", "U8", 1, {1}, &one};
    const char *meta[] = {"k\"ey", "va\\l\n\"ue\"\t", "empty", "", NULL};
    CU_ASSERT_EQUAL_FATAL(cldqn_st_write(path, &e, 1, meta), CLDQN_OK);
    cldqn_st_file *f;
    CU_ASSERT_EQUAL_FATAL(cldqn_st_read(path, &f), CLDQN_OK);
    CU_ASSERT_STRING_EQUAL(cldqn_st_meta(f, "k\"ey"), "va\\l\n\"ue\"\t");
    CU_ASSERT_STRING_EQUAL(cldqn_st_meta(f, "empty"), "");
    CU_ASSERT_PTR_NULL(cldqn_st_meta(f, "nope"));
    const void *d;
    CU_ASSERT_EQUAL(cldqn_st_get(f, "b", "F32", 0, NULL, &d, NULL), CLDQN_ERR_FORMAT);
    CU_ASSERT_EQUAL(cldqn_st_get(f, "zz", "U8", 0, NULL, &d, NULL), CLDQN_ERR_FORMAT);
    cldqn_st_free(f);
}

int register_suites(void)
{
    static const harness_test tests[] = {
        {"reads a file written by Python safetensors", test_reads_reference_file},
        {"writes the safetensors format", test_writes_spec_format},
        {"round trip", test_round_trip},
        {"truncated files rejected", test_truncated},
        {"corrupted files rejected", test_corrupted},
        {"shape mismatch rejected", test_shape_mismatch},
        {"header refusals", test_header_refusals},
        {"atomic writes", test_atomic_write},
        {"metadata escapes", test_metadata_escapes},
        {NULL, NULL}};
    return harness_add_suite("checkpoint", setup, teardown, tests);
}
