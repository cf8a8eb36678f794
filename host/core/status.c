/* status.c - thread-local last-error message (see status.h). */
#include "cldqn/status.h"

#include <stdarg.h>
#include <stdio.h>

static _Thread_local char last_error[1024];

const char *cldqn_status_name(cldqn_status st)
{
    switch (st) {
    case CLDQN_OK:
        return "CLDQN_OK";
    case CLDQN_ERR_ARG:
        return "CLDQN_ERR_ARG";
    case CLDQN_ERR_NOMEM:
        return "CLDQN_ERR_NOMEM";
    case CLDQN_ERR_IO:
        return "CLDQN_ERR_IO";
    case CLDQN_ERR_FORMAT:
        return "CLDQN_ERR_FORMAT";
    case CLDQN_ERR_OPENCL:
        return "CLDQN_ERR_OPENCL";
    case CLDQN_ERR_NODEVICE:
        return "CLDQN_ERR_NODEVICE";
    case CLDQN_ERR_BUILD:
        return "CLDQN_ERR_BUILD";
    case CLDQN_ERR_NUMERIC:
        return "CLDQN_ERR_NUMERIC";
    case CLDQN_ERR_INTERRUPT:
        return "CLDQN_ERR_INTERRUPT";
    }
    return "CLDQN_ERR_UNKNOWN";
}

cldqn_status cldqn_fail(cldqn_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return st;
}

const char *cldqn_last_error(void)
{
    return last_error;
}

void cldqn_clear_error(void)
{
    last_error[0] = '\0';
}
