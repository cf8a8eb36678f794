/* status.h - status codes and the thread-local "last error" message.
 *
 * Every public function returns a cldqn_status. On failure it also leaves a
 * one-line human-readable message (no trailing newline) that main() prints.
 * The library never prints errors itself and never calls exit(). */
#ifndef CLDQN_STATUS_H
#define CLDQN_STATUS_H

typedef enum {
    CLDQN_OK = 0,
    CLDQN_ERR_ARG = 1,       /* invalid argument or configuration value */
    CLDQN_ERR_NOMEM = 2,     /* host allocation failed */
    CLDQN_ERR_IO = 3,        /* file could not be read or written */
    CLDQN_ERR_FORMAT = 4,    /* file is truncated, corrupt or of another shape */
    CLDQN_ERR_OPENCL = 5,    /* an OpenCL call failed */
    CLDQN_ERR_NODEVICE = 6,  /* no OpenCL platform/device, or none matches */
    CLDQN_ERR_BUILD = 7,     /* an OpenCL program failed to build */
    CLDQN_ERR_NUMERIC = 8,   /* a non-finite loss or weight */
    CLDQN_ERR_INTERRUPT = 9, /* stopped by a signal; state was saved */
} cldqn_status;

/* Short constant name of a status, e.g. "CLDQN_ERR_IO". */
const char *cldqn_status_name(cldqn_status st);

/* Records the message for the current thread and returns st, so that a
 * failing path reads `return cldqn_fail(CLDQN_ERR_ARG, "gamma %g not in [0,1]", g);` */
cldqn_status cldqn_fail(cldqn_status st, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The message of the last failure on this thread ("" if none). */
const char *cldqn_last_error(void);

/* Clears the last error message. */
void cldqn_clear_error(void);

#endif
