/* clprof.h - OpenCL profiling events of one queue into a Chrome trace.
 *
 * While a trace is attached, code that enqueues a command asks for an event
 * slot (cldqn_clprof_event) and passes it as the command's event; the
 * recorder keeps the event with the command's name. cldqn_clprof_drain waits
 * for the queue and turns every kept event into a device span (tid
 * CLDQN_TRACE_TID_DEVICE, category "kernel" or "transfer") on the host clock.
 *
 * Clock mapping: the device clock of CL_PROFILING_COMMAND_START/END is not
 * the host's, and PoCL's is not trustworthy (../shared/POCL-NOTES.md), so
 * each drain anchors its own batch: the latest END among the drained events
 * is put at the host time when clFinish returned (the command that ended
 * last is the one clFinish waited for), and the others keep their device
 * clock distances from it. Good to the few microseconds between the end of
 * that command and clFinish's return; a device clock that runs wrong shows
 * up as wrong durations, not as drift across the run. A command whose END
 * precedes its START gets duration 0.
 *
 * With no trace attached, or a queue without CL_QUEUE_PROFILING_ENABLE,
 * cldqn_clprof_event returns NULL and nothing is kept: the commands run as
 * they would without the recorder. Internal header. */
#ifndef CLDQN_CLPROF_H
#define CLDQN_CLPROF_H

#include <stddef.h>

#include "clrt.h"

#include "cldqn/trace.h"

typedef struct {
    cldqn_trace *trace; /* NULL: not recording */
    int profiling;      /* the queue has CL_QUEUE_PROFILING_ENABLE */
    cl_event *ev;
    const char **name; /* static strings: kernel names, "write:batch", ... */
    const char **cat;
    size_t n, cap;
} cldqn_clprof;

/* Attaches (or with NULL detaches) a trace; the queue's profiling flag is
 * given by the caller. Pending events are dropped on detach. */
void cldqn_clprof_attach(cldqn_clprof *r, cldqn_trace *tr, int profiling);

/* Event slot for the next command, named name (a string that outlives the
 * recorder) in category cat; NULL when not recording (r may be NULL). A slot
 * whose command failed to enqueue stays NULL and is skipped. */
cl_event *cldqn_clprof_event(cldqn_clprof *r, const char *name, const char *cat);

/* Keeps an event the caller also uses (retained here, released by drain). */
void cldqn_clprof_keep(cldqn_clprof *r, cl_event ev, const char *name, const char *cat);

/* Waits for q (clFinish) and moves every kept event into the trace, as
 * described above. Returns the host time (cldqn_trace_now) at which
 * clFinish returned, the anchor, or 0 when nothing was kept. Errors go to
 * the trace (cldqn_trace_set_failed). */
double cldqn_clprof_drain(cldqn_clprof *r, cl_command_queue q);

/* Releases kept events and the recorder's arrays. */
void cldqn_clprof_free(cldqn_clprof *r);

#endif
