/* test_fuzz.c - replays the fuzzing corpus through the fuzz harnesses.
 *
 * The libFuzzer harnesses in tools/fuzz/ are compiled in here (FUZZ_IN_TEST)
 * and every input of the committed seed corpus (tools/fuzz/corpus/NAME/) and
 * of the inputs fuzzing found to fail (tests/data/fuzz/NAME/) runs through
 * them with the same properties: no crash or sanitizer report (under
 * tools/sanitize), every checkpoint that loads re-saves identically, every
 * accepted config round-trips through its JSON, `train` exits 0, 1 or 2,
 * every training state that resumes trains on and saves.
 * So each crash fuzzing finds stays a test without libFuzzer or clang. */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

#define FUZZ_IN_TEST 1
#include "../tools/fuzz/fuzz_checkpoint.c"
#include "../tools/fuzz/fuzz_cli.c"
#include "../tools/fuzz/fuzz_config.c"
#include "../tools/fuzz/fuzz_state.c"

static int failures;
static const char *current;

void fuzz_report(const char *what, const char *file, int line)
{
    fprintf(stderr, "\n%s:%d: %s: property failed: %s\n", file, line, current, what);
    failures++;
}

/* Runs fn on every file in dir; returns the number of files (0 if no dir). */
static int replay_dir(const char *dir, int (*fn)(const uint8_t *, size_t))
{
    DIR *d = opendir(dir);
    if (!d) return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        FILE *f = fopen(path, "rb");
        CU_ASSERT_FATAL(f != NULL);
        fseek(f, 0, SEEK_END);
        long size = ftell(f);
        fseek(f, 0, SEEK_SET);
        uint8_t *buf = malloc(size > 0 ? (size_t)size : 1);
        CU_ASSERT_FATAL(buf != NULL);
        CU_ASSERT_FATAL(fread(buf, 1, (size_t)size, f) == (size_t)size);
        fclose(f);
        current = path;
        fn(buf, (size_t)size);
        free(buf);
        n++;
    }
    closedir(d);
    return n;
}

static void replay(const char *name, int (*fn)(const uint8_t *, size_t), int min_seeds)
{
    char dir[1024];
    failures = 0;
    snprintf(dir, sizeof dir, "%s/tools/fuzz/corpus/%s", CLDQN_SOURCE_DIR, name);
    int seeds = replay_dir(dir, fn);
    snprintf(dir, sizeof dir, "%s/fuzz/%s", CLDQN_TEST_DATA, name);
    int found = replay_dir(dir, fn);
    CU_ASSERT(seeds >= min_seeds); /* the committed corpus is really there */
    CU_ASSERT_EQUAL(failures, 0);
    (void)found;
}

static void test_checkpoint_corpus(void)
{
    replay("checkpoint", fuzz_checkpoint_one, 3);
}
static void test_config_corpus(void)
{
    replay("config", fuzz_config_one, 2);
}
static void test_state_corpus(void)
{
    replay("state", fuzz_state_one, 1);
}

static void test_cli_corpus(void)
{
    /* As under libFuzzer: an empty working directory, stdout silenced. */
    char cwd[1024], dir[] = "/tmp/cldqn-test-fuzz-XXXXXX";
    CU_ASSERT_FATAL(getcwd(cwd, sizeof cwd) != NULL);
    CU_ASSERT_FATAL(mkdtemp(dir) != NULL);
    CU_ASSERT_FATAL(chdir(dir) == 0);
    fflush(stdout);
    int saved = dup(1), null = open("/dev/null", O_WRONLY);
    CU_ASSERT_FATAL(saved >= 0 && null >= 0);
    dup2(null, 1);
    replay("cli", fuzz_cli_one, 4);
    fflush(stdout);
    dup2(saved, 1);
    close(saved);
    close(null);
    CU_ASSERT(chdir(cwd) == 0);
    CU_ASSERT(rmdir(dir) == 0); /* nothing was written there */
}

/* The first input fuzzing found: an unquoted preset value ending in a quote
 * was accepted from checkpoint JSON, and the config written back from it was
 * no longer valid JSON, so a checkpoint saved after loading such a file
 * could not be loaded again. */
static void test_preset_from_json_is_validated(void)
{
    cldqn_config c;
    CU_ASSERT_FATAL(cldqn_config_preset(&c, "default") == CLDQN_OK);
    CU_ASSERT_EQUAL(cldqn_config_from_json(&c, "{\"preset\":x\", \"seed\": 1}"), CLDQN_ERR_FORMAT);
    CU_ASSERT_EQUAL(cldqn_config_from_json(&c, "{\"preset\": \"nosuch\"}"), CLDQN_ERR_FORMAT);
    CU_ASSERT_EQUAL(cldqn_config_from_json(&c, "{\"preset\": \"seed\"}"), CLDQN_OK);
    CU_ASSERT_STRING_EQUAL(c.preset, "seed");
}

int register_suites(void)
{
    static const harness_test tests[] = {
        {"checkpoint reader over the corpus", test_checkpoint_corpus},
        {"config readers over the corpus", test_config_corpus},
        {"train command line over the corpus", test_cli_corpus},
        {"training-state reader over the corpus", test_state_corpus},
        {"preset from checkpoint JSON is validated", test_preset_from_json_is_validated},
        {NULL, NULL}};
    return harness_add_suite("fuzz", NULL, NULL, tests);
}
