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

/* 2 gamma_n (test_kernels.c): two float evaluations of an n-term sum may
 * differ by this per unit of sum|terms|. */
double harness_sum_bound(size_t n)
{
    const double nu = (double)n * 0x1p-24;
    return 2.0 * nu / (1.0 - nu);
}

/* Bounds of |device - reference| after one clipped update from identical
 * inputs whose gradient norm's relative difference is at most rho: grad g
 * (clipped), m, v, params (bounds[0..3], N each). ref: the reference's
 * results, t its Adam step after the update. */
void harness_clip_bounds(const cldqn_learn_config *cfg, size_t N, float *const ref[4], int t,
                         double rho, double *bounds[4])
{
    const double u = 0x1p-24, omb1 = 1.0 - cfg->beta1, omb2 = 1.0 - cfg->beta2;
    const double bc1 = 1.0 - pow(cfg->beta1, t), bc2 = 1.0 - pow(cfg->beta2, t);
    const int torch = cfg->adam == CLDQN_ADAM_TORCH;
    const double step = torch ? cfg->lr / bc1 : cfg->lr * sqrt(bc2) / bc1;
    const double s1 = torch ? sqrt(bc2) : 1.0;
    for (size_t i = 0; i < N; i++) {
        const double g = fabs(ref[1][i]), m = fabs(ref[2][i]), v = ref[3][i];
        /* g * coef: coef's difference and one rounding each. */
        const double dg = (rho + 2 * u) * g;
        /* m = b1 m0 + omb1 g, v = b2 v0 + omb2 g g: 2 and 3 roundings each. */
        const double dm = omb1 * dg + 4 * u * (omb1 * g + m);
        const double dv = omb2 * (2 * g + dg) * dg + 6 * u * (omb2 * g * g + v);
        /* p -= step m / (sqrt(v) / s1 + eps): |sqrt a - sqrt b| = |a - b| /
         * (sqrt a + sqrt b); the smallest denominator over v +- dv. */
        const double vlo = v - dv > 0 ? v - dv : 0;
        const double den = sqrt(v) / s1 + cfg->eps, den_lo = sqrt(vlo) / s1 + cfg->eps;
        const double dden = dv / (sqrt(v) + sqrt(vlo) > 0 ? sqrt(v) + sqrt(vlo) : 1) / s1;
        const double upd = step * m / den;
        const double dupd = step * (dm / den_lo + (m + dm) * dden / (den * den_lo));
        /* sqrt, / s1, + eps, /, *, +: 6 roundings each of values that differ. */
        const double dp = dupd + 12 * u * (upd + fabs(ref[0][i]));
        bounds[0][i] = dp;
        bounds[1][i] = dg;
        bounds[2][i] = dm;
        bounds[3][i] = dv;
    }
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

double harness_max_share(const float *a, const float *b, const double *bound, size_t n)
{
    double m = 0.0;
    for (size_t i = 0; i < n; i++) {
        const double d = fabs((double)a[i] - (double)b[i]);
        if (d == 0) continue;
        const double r = isnan(d) ? INFINITY : d / bound[i];
        if (!(r <= m)) m = isnan(r) ? INFINITY : r;
    }
    return m;
}
