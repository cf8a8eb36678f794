/* files.c - checks on output paths before a run (files.h). */
#define _GNU_SOURCE
#include "cldqn/files.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* dirname and basename of path, in malloc'd copies. */
static int split(const char *path, char **dir, char **base)
{
    char *a = strdup(path), *b = strdup(path);
    *dir = a ? strdup(dirname(a)) : NULL;
    *base = b ? strdup(basename(b)) : NULL;
    free(a);
    free(b);
    if (*dir && *base) return 0;
    free(*dir);
    free(*base);
    return -1;
}

cldqn_status cldqn_output_check(const char *what, const char *path, int suffix, int probe)
{
    size_t len = strlen(path);
    if (!len) return cldqn_fail(CLDQN_ERR_ARG, "%s: empty file name", what);
    if (path[len - 1] == '/')
        return cldqn_fail(CLDQN_ERR_IO, "%s: '%s' names a directory, not a file", what, path);
    struct stat sb;
    if (stat(path, &sb) == 0) {
        if (S_ISDIR(sb.st_mode))
            return cldqn_fail(CLDQN_ERR_IO, "%s: '%s' is a directory, not a file", what, path);
        if (!S_ISREG(sb.st_mode))
            return cldqn_fail(CLDQN_ERR_IO,
                              "%s: '%s' exists and is not a regular file (a device, FIFO or "
                              "socket is never replaced)",
                              what, path);
    }
    char *dir, *base;
    if (split(path, &dir, &base)) return cldqn_fail(CLDQN_ERR_NOMEM, "out of memory");
    cldqn_status st = CLDQN_OK;
    long name_max = pathconf(dir, _PC_NAME_MAX);
    if (name_max <= 0) name_max = NAME_MAX;
    if (strlen(base) + (size_t)suffix > (size_t)name_max)
        st = cldqn_fail(CLDQN_ERR_IO,
                        "%s: file name of %zu characters too long for '%s' (at most %ld, "
                        "with room for the %d-character suffix of its companion files)",
                        what, strlen(base), path, name_max - suffix, suffix);
    else if (len + (size_t)suffix >= PATH_MAX)
        st = cldqn_fail(CLDQN_ERR_IO, "%s: path '%s' too long", what, path);
    else if (probe) {
        struct stat ds;
        if (stat(dir, &ds) != 0 || !S_ISDIR(ds.st_mode))
            st = cldqn_fail(CLDQN_ERR_IO, "%s: cannot write '%s': directory '%s' does not exist",
                            what, path, dir);
        else {
            size_t n = strlen(dir) + 32;
            char *tmp = malloc(n);
            if (!tmp)
                st = cldqn_fail(CLDQN_ERR_NOMEM, "out of memory");
            else {
                snprintf(tmp, n, "%s/.cldqn-probe-XXXXXX", dir);
                int fd = mkstemp(tmp);
                if (fd < 0)
                    st = cldqn_fail(CLDQN_ERR_IO, "%s: cannot write '%s': %s", what, path,
                                    strerror(errno));
                else {
                    close(fd);
                    unlink(tmp);
                }
                free(tmp);
            }
        }
    }
    free(dir);
    free(base);
    return st;
}

int cldqn_output_same(const char *a, const char *b)
{
    char *da, *ba, *db, *bb;
    if (split(a, &da, &ba)) return !strcmp(a, b);
    if (split(b, &db, &bb)) {
        free(da);
        free(ba);
        return !strcmp(a, b);
    }
    int same = !strcmp(ba, bb);
    if (same) {
        char *ra = realpath(da, NULL), *rb = realpath(db, NULL);
        same = ra && rb ? !strcmp(ra, rb) : !strcmp(da, db);
        free(ra);
        free(rb);
    }
    free(da);
    free(ba);
    free(db);
    free(bb);
    return same;
}

cldqn_status cldqn_open_regular(const char *prefix, const char *path, FILE **out, size_t *size)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return cldqn_fail(CLDQN_ERR_IO, "%scannot open '%s': %s", prefix, path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return cldqn_fail(CLDQN_ERR_IO, "%s'%s' is not a regular file", prefix, path);
    }
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        int e = errno;
        close(fd);
        return cldqn_fail(CLDQN_ERR_IO, "%scannot open '%s': %s", prefix, path, strerror(e));
    }
    if (size) *size = (size_t)sb.st_size;
    *out = f;
    return CLDQN_OK;
}
