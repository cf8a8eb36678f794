/* test_trace.c - the Chrome trace writer: exact file text for known events
 * (the format chrome://tracing and tools/profile read), escaping, growth past
 * the first allocation, and errors for a negative duration and an unwritable
 * path. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cldqn/trace.h"
#include "harness.h"

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) {
        free(s);
        s = NULL;
    }
    if (s) s[n] = 0;
    fclose(f);
    return s;
}

static void test_exact_text(void)
{
    char path[] = "/tmp/cldqn-trace-XXXXXX";
    int fd = mkstemp(path);
    CU_ASSERT_FATAL(fd >= 0);
    close(fd);
    cldqn_trace *t;
    CU_ASSERT_EQUAL_FATAL(cldqn_trace_create(&t), CLDQN_OK);
    CU_ASSERT_EQUAL(cldqn_trace_add(t, "empty", "kernel", 12.5, 0.25, CLDQN_TRACE_TID_DEVICE),
                    CLDQN_OK);
    CU_ASSERT_EQUAL(cldqn_trace_add(t, "a \"q\"\\b\n", "host", 0, 3, CLDQN_TRACE_TID_HOST),
                    CLDQN_OK);
    CU_ASSERT_EQUAL(cldqn_trace_count(t), 2);
    CU_ASSERT_EQUAL(cldqn_trace_write(t, path), CLDQN_OK);
    cldqn_trace_free(t);
    char *s = slurp(path);
    unlink(path);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    const char *want =
        "{\"traceEvents\":[\n"
        "{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":1,\"tid\":1,\"args\":{\"name\":\"host\"}},"
        "\n"
        "{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":1,\"tid\":2,"
        "\"args\":{\"name\":\"device (OpenCL events)\"}},\n"
        "{\"name\":\"empty\",\"cat\":\"kernel\",\"ph\":\"X\",\"ts\":12.500,\"dur\":0.250,"
        "\"pid\":1,\"tid\":2},\n"
        "{\"name\":\"a \\\"q\\\"\\\\b\\n\",\"cat\":\"host\",\"ph\":\"X\",\"ts\":0.000,"
        "\"dur\":3.000,\"pid\":1,\"tid\":1}\n"
        "],\"displayTimeUnit\":\"ns\"}\n";
    CU_ASSERT_STRING_EQUAL(s, want);
    free(s);
}

static void test_growth_and_errors(void)
{
    cldqn_trace *t;
    CU_ASSERT_EQUAL_FATAL(cldqn_trace_create(&t), CLDQN_OK);
    for (int i = 0; i < 5000; i++)
        CU_ASSERT_EQUAL_FATAL(cldqn_trace_add(t, "k", "kernel", i, 1, 2), CLDQN_OK);
    CU_ASSERT_EQUAL(cldqn_trace_count(t), 5000);
    CU_ASSERT_EQUAL(cldqn_trace_add(t, "neg", "host", 0, -1, 1), CLDQN_ERR_ARG);
    CU_ASSERT_PTR_NOT_NULL(strstr(cldqn_last_error(), "negative duration"));
    CU_ASSERT_EQUAL(cldqn_trace_count(t), 5000);
    CU_ASSERT_EQUAL(cldqn_trace_write(t, "/nonexistent-dir/x/trace.json"), CLDQN_ERR_IO);
    CU_ASSERT_PTR_NOT_NULL(strstr(cldqn_last_error(), "cannot write '/nonexistent-dir"));
    cldqn_trace_free(t);
}

int register_suites(void)
{
    static const harness_test tests[] = {{"exact text", test_exact_text},
                                         {"growth and errors", test_growth_and_errors},
                                         {NULL, NULL}};
    return harness_add_suite("trace", NULL, NULL, tests);
}
