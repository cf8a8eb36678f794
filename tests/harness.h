/* harness.h - shared helpers for the CUnit suites.
 *
 * Each test_*.c defines `int register_suites(void)` (CUnit registry already
 * initialised) and links harness.c, whose main() runs them with the basic
 * interface and exits non-zero on any failure. */
#ifndef CLDQN_HARNESS_H
#define CLDQN_HARNESS_H

#include <CUnit/CUnit.h>
#include <math.h>
#include <stddef.h>

#include "cldqn/net.h"

int register_suites(void);

/* Adds a suite with the given tests (NULL-terminated {name, fn} pairs). */
typedef struct {
    const char *name;
    void (*fn)(void);
} harness_test;
int harness_add_suite(const char *name, int (*init)(void), int (*cleanup)(void),
                      const harness_test *tests);

/* Reads a whole file under tests/data; returns malloc'd bytes or NULL. */
void *harness_read_data(const char *name, size_t *size);

/* Largest |a-b| - (atol + rtol*|b|) over n floats; <= 0 means all within
 * tolerance. *worst receives the index of the worst element (may be NULL). */
double harness_excess(const float *a, const float *b, size_t n, double atol, double rtol,
                      size_t *worst);

/* Asserts that a and b agree within atol + rtol*|b| elementwise, printing the
 * worst element on failure. */
#define ASSERT_CLOSE(a, b, n, atol, rtol)                                                          \
    do {                                                                                           \
        size_t w_;                                                                                 \
        double e_ = harness_excess((a), (b), (n), (atol), (rtol), &w_);                            \
        if (e_ > 0) harness_report_close(#a, (a), (b), w_, (atol), (rtol), __FILE__, __LINE__);    \
        CU_ASSERT(e_ <= 0);                                                                        \
    } while (0)
void harness_report_close(const char *what, const float *a, const float *b, size_t i, double atol,
                          double rtol, const char *file, int line);

/* 2 gamma_n (test_kernels.c): two float evaluations of an n-term sum may
 * differ by this per unit of sum|terms|. */
double harness_sum_bound(size_t n);

/* Largest |a - b| / bound over n floats: 0 where they are equal, inf where
 * they differ under a bound of 0 or either is NaN. */
double harness_max_share(const float *a, const float *b, const double *bound, size_t n);

/* Bounds of |device - reference| after one clipped update from identical
 * inputs whose gradient norm's relative difference is at most rho: grad g
 * (clipped), m, v, params (bounds[0..3], N each). ref: the reference's
 * params, grad, m, v after the update, t its Adam step after the update
 * (the derivation: harness.c). */
void harness_clip_bounds(const cldqn_learn_config *cfg, size_t N, float *const ref[4], int t,
                         double rho, double *bounds[4]);

#endif
