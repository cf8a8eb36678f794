/* trace.h - a Chrome trace (chrome://tracing, Perfetto) writer.
 *
 * Collects complete events ("ph":"X") with a name, a category, a start and a
 * duration in microseconds and a thread id, and writes them as
 * {"traceEvents":[...]}. Device events (from OpenCL profiling) and host
 * phases go on different tids so they show side by side; the caller maps
 * device timestamps onto the host clock before adding them.
 *
 * Host spans can also be given in seconds of the host clock (CLOCK_MONOTONIC,
 * cldqn_trace_now) through cldqn_trace_span: the trace's origin is the moment
 * it was created. cldqn_trace_span never fails on the spot; the first error
 * it meets (out of memory, a negative duration) is kept and reported by
 * cldqn_trace_write, so the code being profiled needs no error paths. */
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

/* The host clock (CLOCK_MONOTONIC) in seconds: the clock of cldqn_trace_span. */
double cldqn_trace_now(void);

/* Adds one complete event from start_s to end_s on the host clock (seconds
 * of cldqn_trace_now). A failure is kept for cldqn_trace_write (see above);
 * t NULL does nothing. */
void cldqn_trace_span(cldqn_trace *t, const char *name, const char *cat, double start_s,
                      double end_s, int tid);

/* Keeps the current cldqn_last_error() as the trace's failure (if it has
 * none yet), for errors met while gathering events (e.g. an OpenCL
 * profiling query); cldqn_trace_write then reports it. */
void cldqn_trace_set_failed(cldqn_trace *t, cldqn_status st);

/* Number of events collected so far. */
size_t cldqn_trace_count(const cldqn_trace *t);

/* Writes the trace to path atomically (a temporary file in the same
 * directory, then rename): CLDQN_ERR_IO naming the path on failure, or the
 * failure kept by cldqn_trace_span / cldqn_trace_set_failed (nothing is
 * written then). */
cldqn_status cldqn_trace_write(const cldqn_trace *t, const char *path);

#endif
