/* trace.h - a Chrome trace (chrome://tracing, Perfetto) writer.
 *
 * Collects complete events ("ph":"X") with a name, a category, a start and a
 * duration in microseconds and a thread id, and writes them as
 * {"traceEvents":[...]}. Device events (from OpenCL profiling) and host
 * phases go on different tids so they show side by side; the caller maps
 * device timestamps onto the host clock before adding them. */
#ifndef CLDQN_TRACE_H
#define CLDQN_TRACE_H

#include <stddef.h>

#include "cldqn/status.h"

typedef struct cldqn_trace cldqn_trace;

/* Thread ids used by cldqn: host phases, device events. */
#define CLDQN_TRACE_TID_HOST   1
#define CLDQN_TRACE_TID_DEVICE 2

cldqn_status cldqn_trace_create(cldqn_trace **out);
void cldqn_trace_free(cldqn_trace *t);

/* Adds one complete event. name and cat are copied (truncated to 63 chars);
 * dur_us < 0 is rejected with CLDQN_ERR_ARG. */
cldqn_status cldqn_trace_add(cldqn_trace *t, const char *name, const char *cat, double ts_us,
                             double dur_us, int tid);

/* Number of events collected so far. */
size_t cldqn_trace_count(const cldqn_trace *t);

/* Writes the trace to path (CLDQN_ERR_IO naming the path on failure). */
cldqn_status cldqn_trace_write(const cldqn_trace *t, const char *path);

#endif
