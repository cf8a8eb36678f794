/* files.h - checks on the files a run will write, made before it starts.
 *
 * Checkpoints, state files and traces are written atomically: a temporary
 * PATH.tmp.XXXXXX beside PATH, then rename() over it. A rename replaces
 * whatever PATH was, so a device node, FIFO or socket there would be lost;
 * a directory, a missing directory or a name too long for the temporary
 * suffix would fail only after training. These functions say so first. */
#ifndef CLDQN_FILES_H
#define CLDQN_FILES_H

#include <stdio.h>

#include "cldqn/status.h"

/* Longest suffix the writers append to a path: ".state" + ".tmp.XXXXXX". */
#define CLDQN_OUTPUT_SUFFIX_MAX 17

/* PATH can be written, with up to `suffix` more characters on its name: it
 * names no directory (nor ends in '/'), it does not exist or is a regular
 * file, its name is not too long, and (probe != 0) its directory exists and
 * takes a new file. CLDQN_ERR_IO (CLDQN_ERR_ARG for an empty name) naming
 * what (e.g. "--out") and PATH. */
cldqn_status cldqn_output_check(const char *what, const char *path, int suffix, int probe);

/* Whether a and b name the same file: the same directory (resolved) and the
 * same last component. Missing directories compare by their text. */
int cldqn_output_same(const char *a, const char *b);

/* Opens PATH for reading if it is a regular file: a FIFO or device is
 * refused without waiting on it (opened O_NONBLOCK, which a regular file
 * ignores), a directory refused too. *size gets the file's size when not
 * NULL. Errors are CLDQN_ERR_IO, "PREFIX'PATH' is not a regular file" or
 * "PREFIXcannot open 'PATH': REASON" (prefix "" or e.g. "--config: "). */
cldqn_status cldqn_open_regular(const char *prefix, const char *path, FILE **out, size_t *size);

#endif
