/* clprof.c - OpenCL profiling events into a Chrome trace (see clprof.h). */
#include "clprof.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void release_all(cldqn_clprof *r)
{
    for (size_t i = 0; i < r->n; i++)
        if (r->ev[i]) clReleaseEvent(r->ev[i]);
    r->n = 0;
}

void cldqn_clprof_attach(cldqn_clprof *r, cldqn_trace *tr, int profiling)
{
    if (!tr) release_all(r);
    r->trace = tr;
    r->profiling = profiling;
}

static int grow(cldqn_clprof *r)
{
    if (r->n < r->cap) return 1;
    size_t cap = r->cap ? 2 * r->cap : 64;
    cl_event *ev = realloc(r->ev, cap * sizeof *ev);
    if (ev) r->ev = ev;
    const char **name = realloc(r->name, cap * sizeof *name);
    if (name) r->name = name;
    const char **cat = realloc(r->cat, cap * sizeof *cat);
    if (cat) r->cat = cat;
    if (!ev || !name || !cat) {
        cldqn_trace_set_failed(r->trace, cldqn_fail(CLDQN_ERR_NOMEM, "out of memory (profile)"));
        return 0;
    }
    r->cap = cap;
    return 1;
}

cl_event *cldqn_clprof_event(cldqn_clprof *r, const char *name, const char *cat)
{
    if (!r || !r->trace || !r->profiling || !grow(r)) return NULL;
    r->ev[r->n] = NULL;
    r->name[r->n] = name;
    r->cat[r->n] = cat;
    return &r->ev[r->n++];
}

void cldqn_clprof_keep(cldqn_clprof *r, cl_event ev, const char *name, const char *cat)
{
    cl_event *slot = cldqn_clprof_event(r, name, cat);
    if (!slot || !ev) return;
    if (clRetainEvent(ev) == CL_SUCCESS) *slot = ev;
}

static cl_int times(cl_event ev, cl_ulong *start, cl_ulong *end)
{
    cl_int e = clGetEventProfilingInfo(ev, CL_PROFILING_COMMAND_START, sizeof *start, start, NULL);
    if (e == CL_SUCCESS)
        e = clGetEventProfilingInfo(ev, CL_PROFILING_COMMAND_END, sizeof *end, end, NULL);
    return e;
}

double cldqn_clprof_drain(cldqn_clprof *r, cl_command_queue q)
{
    if (!r || !r->trace || !r->n) return 0.0;
    cl_int err = clFinish(q);
    double host = cldqn_trace_now();
    if (err != CL_SUCCESS) {
        cldqn_trace_set_failed(r->trace, cldqn_cl_check(err, "clFinish", __FILE__, __LINE__));
        release_all(r);
        return host;
    }
    cl_ulong last = 0;
    for (size_t i = 0; i < r->n; i++) {
        cl_ulong s, e;
        if (!r->ev[i]) continue;
        err = times(r->ev[i], &s, &e);
        if (err != CL_SUCCESS) {
            cldqn_trace_set_failed(
                r->trace, cldqn_cl_check(err, "clGetEventProfilingInfo", __FILE__, __LINE__));
            release_all(r);
            return host;
        }
        if (e > last) last = e;
    }
    for (size_t i = 0; i < r->n; i++) {
        cl_ulong s, e;
        if (!r->ev[i] || times(r->ev[i], &s, &e) != CL_SUCCESS) continue;
        if (e < s) e = s;
        /* Differences in integer nanoseconds first: the clock's absolute
         * values can exceed a double's exact range. */
        double start = host - (double)(int64_t)(last - s) * 1e-9,
               end = host - (double)(int64_t)(last - e) * 1e-9;
        cldqn_trace_span(r->trace, r->name[i], r->cat[i], start, end, CLDQN_TRACE_TID_DEVICE);
    }
    release_all(r);
    return host;
}

void cldqn_clprof_free(cldqn_clprof *r)
{
    if (!r) return;
    release_all(r);
    free(r->ev);
    free(r->name);
    free(r->cat);
    memset(r, 0, sizeof *r);
}
