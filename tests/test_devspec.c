/* test_devspec.c - device specs (--device, $CLDQN_DEVICE) on synthetic device
 * lists: cldqn_cl_match_device and cldqn_cl_device_spec are pure functions of
 * {platform, platform name, vendor, device name}, so machines this one is not
 * (an Intel GPU beside PoCL on an Intel CPU, two equal NVIDIA cards, ROCm's
 * names with ':') are checked without their drivers. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "clrt.h"
#include "harness.h"

/* PoCL on an Intel CPU, an Intel GPU, two equal NVIDIA cards and a ROCm GPU. */
static const cldqn_cl_dev_ref mixed[] = {
    {0, "Portable Computing Language", "The pocl project", "basic-skylake-Intel(R) Core(TM) i7"},
    {0, "Portable Computing Language", "The pocl project", "pthread-skylake-Intel(R) Core(TM) i7"},
    {1, "Intel(R) OpenCL HD Graphics", "Intel(R) Corporation", "Intel(R) UHD Graphics 630"},
    {2, "NVIDIA CUDA", "NVIDIA Corporation", "NVIDIA GeForce RTX 3090"},
    {2, "NVIDIA CUDA", "NVIDIA Corporation", "NVIDIA GeForce RTX 3090"},
    {3, "AMD Accelerated Parallel Processing", "Advanced Micro Devices, Inc.",
     "gfx90a:sramecc+:xnack-"},
};
#define N_MIXED ((int)(sizeof mixed / sizeof *mixed))

static int pick(const cldqn_cl_dev_ref *d, int n, const char *spec)
{
    cldqn_clear_error();
    return cldqn_cl_match_device(d, n, spec, "device");
}

/* The last error is one line and contains each of the NULL-terminated words. */
static int error_has(const char *first, ...)
{
    const char *e = cldqn_last_error();
    if (strchr(e, '\n')) return 0;
    va_list ap;
    va_start(ap, first);
    int ok = 1;
    for (const char *w = first; w; w = va_arg(ap, const char *))
        if (!strstr(e, w)) {
            fprintf(stderr, "\n  error lacks '%s': %s\n", w, e);
            ok = 0;
        }
    va_end(ap);
    return ok;
}

static void test_specs(void)
{
    const char *want[N_MIXED] = {"pocl:0", "pocl:1", "intel:0", "cuda:0", "cuda:1", "amd:0"};
    for (int i = 0; i < N_MIXED; i++) {
        char spec[160];
        cldqn_cl_device_spec(mixed, N_MIXED, i, spec, sizeof spec);
        CU_ASSERT_STRING_EQUAL(spec, want[i]);
        /* Each spec picks its device back. */
        CU_ASSERT_EQUAL(pick(mixed, N_MIXED, spec), i);
    }
    char small[4] = "x";
    cldqn_cl_device_spec(mixed, N_MIXED, 0, small, sizeof small); /* does not fit: "" */
    CU_ASSERT_STRING_EQUAL(small, "");
}

static void test_platform_n(void)
{
    CU_ASSERT_EQUAL(pick(mixed, N_MIXED, "intel:0"), 2); /* not PoCL's "...Intel(R) Core" */
    CU_ASSERT_EQUAL(pick(mixed, N_MIXED, "portable:1"), 1);
    CU_ASSERT_EQUAL(pick(mixed, N_MIXED, "POCL:1"), 1);           /* case-insensitive */
    CU_ASSERT_EQUAL(pick(mixed, N_MIXED, "Nvidia:1"), 4);         /* in name and vendor */
    CU_ASSERT_EQUAL(pick(mixed, N_MIXED, "advanced micro:0"), 5); /* vendor */
    CU_ASSERT_EQUAL(pick(mixed, N_MIXED, "cuda:007"), -1);
    CU_ASSERT(error_has("'cuda:007' out of range", "NVIDIA CUDA has 2 device(s)", "cuda:0..cuda:1",
                        NULL));
    CU_ASSERT_EQUAL(pick(mixed, N_MIXED, "cuda:99999999999999999999"), -1);
    CU_ASSERT(error_has("out of range", NULL));
    /* A vendor word two platforms share. */
    CU_ASSERT_EQUAL(pick(mixed, N_MIXED, "corporation:0"), -1);
    CU_ASSERT(error_has("platform 'corporation' is ambiguous", "Intel(R) OpenCL HD Graphics",
                        "intel:0..intel:0", "NVIDIA CUDA (cuda:0..cuda:1)", NULL));
    CU_ASSERT_EQUAL(pick(mixed, N_MIXED, "rusticl:0"), -1);
    CU_ASSERT(error_has("no OpenCL platform", "'rusticl'", "pocl:0 (index 0, basic-skylake",
                        "amd:0 (index 5, gfx90a", NULL));
    CU_ASSERT_EQUAL(pick(mixed, N_MIXED, ":0"), -1);
    CU_ASSERT(error_has("needs a platform", NULL));
    /* PLATFORM:N is never read as a device name substring. */
    CU_ASSERT_EQUAL(pick(mixed, N_MIXED, "gfx90a:0"), -1);
    CU_ASSERT(error_has("no OpenCL platform", "'gfx90a'", NULL));
}

static void test_exact_and_substring(void)
{
    /* Exact names, ':' and all; case-sensitive. */
    CU_ASSERT_EQUAL(pick(mixed, N_MIXED, "gfx90a:sramecc+:xnack-"), 5);
    CU_ASSERT_EQUAL(pick(mixed, N_MIXED, "Intel(R) UHD Graphics 630"), 2);
    CU_ASSERT_EQUAL(pick(mixed, N_MIXED, "intel(r) uhd graphics 630"), 2); /* unique substring */
    /* Unique substrings, any case. */
    CU_ASSERT_EQUAL(pick(mixed, N_MIXED, "PThread"), 1);
    CU_ASSERT_EQUAL(pick(mixed, N_MIXED, "uhd"), 2);
    /* The case: Intel is in the GPU's name and in PoCL's CPU device's. */
    CU_ASSERT_EQUAL(pick(mixed, N_MIXED, "Intel"), -1);
    CU_ASSERT(error_has("'Intel' is ambiguous", "in 3 device names",
                        "pocl:0 (index 0, basic-skylake-Intel(R) Core(TM) i7)",
                        "pocl:1 (index 1, pthread-", "intel:0 (index 2, Intel(R) UHD", NULL));
    CU_ASSERT_PTR_NULL(strstr(cldqn_last_error(), "RTX"));
    /* Two cards of one name: the exact name is ambiguous too. */
    CU_ASSERT_EQUAL(pick(mixed, N_MIXED, "NVIDIA GeForce RTX 3090"), -1);
    CU_ASSERT(error_has("names 2 devices", "cuda:0 (index 3,", "cuda:1 (index 4,", NULL));
    CU_ASSERT_EQUAL(pick(mixed, N_MIXED, "rtx"), -1);
    CU_ASSERT(error_has("ambiguous", "cuda:0", "cuda:1", NULL));
    /* Digits are always a global index, even where a name has them. */
    CU_ASSERT_EQUAL(pick(mixed, N_MIXED, "630"), -1);
    CU_ASSERT(error_has("index 630 out of range", NULL));
    CU_ASSERT_EQUAL(pick(mixed, N_MIXED, "no-such"), -1);
    CU_ASSERT(error_has("'no-such' matches no OpenCL device", "pocl:0 (index 0,",
                        "cuda:1 (index 4, NVIDIA GeForce RTX 3090)", NULL));
    CU_ASSERT_EQUAL(cldqn_cl_match_device(mixed, N_MIXED, "no-such", "$CLDQN_DEVICE"), -1);
    CU_ASSERT(error_has("$CLDQN_DEVICE 'no-such'", NULL));
}

static void test_index(void)
{
    CU_ASSERT_EQUAL(pick(mixed, N_MIXED, "0"), 0);
    CU_ASSERT_EQUAL(pick(mixed, N_MIXED, "5"), 5);
    CU_ASSERT_EQUAL(pick(mixed, N_MIXED, "6"), -1);
    CU_ASSERT(error_has("index 6 out of range", "6 OpenCL device(s), indices 0..5", NULL));
    CU_ASSERT_EQUAL(pick(mixed, N_MIXED, "-1"), -1);
    CU_ASSERT(error_has("index -1 out of range", NULL));
    CU_ASSERT_EQUAL(pick(mixed, 0, "0"), -1);
}

/* Platforms no word tells apart: the full name (an exact name wins over
 * substrings), and no PLATFORM:N where names are equal. */
static void test_no_unique_word(void)
{
    static const cldqn_cl_dev_ref d[] = {
        {0, "Intel(R) OpenCL", "Intel(R) Corporation", "cpu"},
        {1, "Intel(R) OpenCL HD Graphics", "Intel(R) Corporation", "gpu"},
        {2, "Clover", "Mesa", "radeon a"},
        {3, "Clover", "Mesa", "radeon b"},
    };
    char spec[160];
    cldqn_cl_device_spec(d, 4, 0, spec, sizeof spec);
    CU_ASSERT_STRING_EQUAL(spec, "Intel(R) OpenCL:0");
    CU_ASSERT_EQUAL(pick(d, 4, "intel(r) opencl:0"), 0);
    cldqn_cl_device_spec(d, 4, 1, spec, sizeof spec);
    CU_ASSERT_STRING_EQUAL(spec, "graphics:0");
    cldqn_cl_device_spec(d, 4, 3, spec, sizeof spec);
    CU_ASSERT_STRING_EQUAL(spec, "");
    CU_ASSERT_EQUAL(pick(d, 4, "clover:0"), -1);
    CU_ASSERT(error_has("platform 'clover' is ambiguous", "Clover (", NULL));
    CU_ASSERT_EQUAL(pick(d, 4, "intel:0"), -1);
    CU_ASSERT(error_has("platform 'intel' is ambiguous", NULL));
    /* Devices without a spec are listed by index. */
    CU_ASSERT_EQUAL(pick(d, 4, "radeon"), -1);
    CU_ASSERT(error_has("(index 2, radeon a), (index 3, radeon b)", NULL));
    CU_ASSERT_EQUAL(pick(d, 4, "3"), 3);
}

/* Many matches: the message stays within the error buffer and says how many
 * it left out. */
static void test_long_lists(void)
{
    static cldqn_cl_dev_ref d[100];
    for (int i = 0; i < 100; i++)
        d[i] = (cldqn_cl_dev_ref){0, "Portable Computing Language", "The pocl project",
                                  "pthread-a-rather-long-device-name-for-a-cpu"};
    CU_ASSERT_EQUAL(pick(d, 100, "pthread"), -1);
    CU_ASSERT(error_has("in 100 device names", "pocl:0 (index 0,", "more", NULL));
    CU_ASSERT(strlen(cldqn_last_error()) < 1000);
    CU_ASSERT_EQUAL(pick(d, 100, "x"), -1);
    CU_ASSERT(error_has("more", NULL));
    CU_ASSERT_EQUAL(pick(d, 100, "pocl:99"), 99);
}

int register_suites(void)
{
    static const harness_test tests[] = {{"specs", test_specs},
                                         {"platform_n", test_platform_n},
                                         {"exact_and_substring", test_exact_and_substring},
                                         {"index", test_index},
                                         {"no_unique_word", test_no_unique_word},
                                         {"long_lists", test_long_lists},
                                         {NULL, NULL}};
    return harness_add_suite("devspec", NULL, NULL, tests);
}
