/* harness.c - main() and helpers shared by the CUnit suites. */
#include "harness.h"

#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>

int harness_add_suite(const char *name, int (*init)(void), int (*cleanup)(void),
                      const harness_test *tests)
{
    CU_pSuite s = CU_add_suite(name, init, cleanup);
    if (!s) return -1;
    for (const harness_test *t = tests; t->name; t++)
        if (!CU_add_test(s, t->name, t->fn)) return -1;
    return 0;
}

void *harness_read_data(const char *name, size_t *size)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", CLDQN_TEST_DATA, name);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open test data %s\n", path);
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *buf = malloc(n > 0 ? (size_t)n : 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf && size) *size = (size_t)n;
    return buf;
}

double harness_excess(const float *a, const float *b, size_t n, double atol, double rtol,
                      size_t *worst)
{
    double best = -INFINITY;
    size_t wi = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]) - (atol + rtol * fabs((double)b[i]));
        if (isnan(d)) d = INFINITY;
        if (d > best) {
            best = d;
            wi = i;
        }
    }
    if (worst) *worst = wi;
    return n ? best : -1;
}

void harness_report_close(const char *what, const float *a, const float *b, size_t i, double atol,
                          double rtol, const char *file, int line)
{
    fprintf(stderr, "%s:%d: %s[%zu] = %.9g, expected %.9g (atol %g, rtol %g)\n", file, line, what,
            i, a[i], b[i], atol, rtol);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS) return 2;
    if (register_suites() != 0) {
        fprintf(stderr, "suite registration failed: %s\n", CU_get_error_msg());
        CU_cleanup_registry();
        return 2;
    }
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    unsigned suites_failed = CU_get_number_of_suites_failed();
    CU_cleanup_registry();
    return (failed || suites_failed) ? 1 : 0;
}
