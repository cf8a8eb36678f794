/* fuzz_common.h - helpers shared by the libFuzzer harnesses in tools/fuzz/.
 *
 * The readers under test take file paths, so each input is written into an
 * anonymous memory file (memfd) and handed over as /proc/self/fd/N: no disk
 * I/O and no temporary files left behind by a crashing run. memfd_create
 * needs _GNU_SOURCE, which tools/fuzz/build defines for every harness. */
#ifndef CLDQN_FUZZ_COMMON_H
#define CLDQN_FUZZ_COMMON_H

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

/* A property the harness checks. Under libFuzzer a failure aborts (and
 * becomes a crash input); compiled into tests/test_fuzz.c (FUZZ_IN_TEST) it
 * is reported to CUnit by fuzz_report and the run goes on. */
#ifdef FUZZ_IN_TEST
void fuzz_report(const char *what, const char *file, int line);
#define FUZZ_ASSERT(cond, what)                                                                    \
    do {                                                                                           \
        if (!(cond)) fuzz_report(what, __FILE__, __LINE__);                                        \
    } while (0)
#else
#define FUZZ_ASSERT(cond, what)                                                                    \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: property failed: %s\n", __FILE__, __LINE__, what);             \
            abort();                                                                               \
        }                                                                                          \
    } while (0)
#endif

/* Replaces the memfd's contents with data; returns its /proc path or aborts
 * (an abort here is a harness fault, not a finding). */
static inline const char *fuzz_memfile(int *fd, char *path, size_t size, const uint8_t *data,
                                       size_t n)
{
    if (*fd < 0) {
        *fd = memfd_create("cldqn-fuzz", 0);
        if (*fd < 0) abort();
    }
    if (ftruncate(*fd, 0) != 0 || (n && pwrite(*fd, data, n, 0) != (ssize_t)n)) abort();
    snprintf(path, size, "/proc/self/fd/%d", *fd);
    return path;
}

#endif
