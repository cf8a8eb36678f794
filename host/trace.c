/* trace.c - Chrome trace writer (see include/cldqn/trace.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cldqn/trace.h"

typedef struct {
    char name[64];
    char cat[32];
    double ts, dur; /* microseconds */
    int tid;
} trace_event;

struct cldqn_trace {
    trace_event *ev;
    size_t n, cap;
};

cldqn_status cldqn_trace_create(cldqn_trace **out)
{
    *out = calloc(1, sizeof **out);
    if (!*out) return cldqn_fail(CLDQN_ERR_NOMEM, "out of memory (trace)");
    return CLDQN_OK;
}

void cldqn_trace_free(cldqn_trace *t)
{
    if (!t) return;
    free(t->ev);
    free(t);
}

cldqn_status cldqn_trace_add(cldqn_trace *t, const char *name, const char *cat, double ts_us,
                             double dur_us, int tid)
{
    if (!(dur_us >= 0))
        return cldqn_fail(CLDQN_ERR_ARG, "trace event '%s': negative duration %g", name, dur_us);
    if (t->n == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 1024;
        trace_event *ev = realloc(t->ev, cap * sizeof *ev);
        if (!ev) return cldqn_fail(CLDQN_ERR_NOMEM, "out of memory (trace)");
        t->ev = ev;
        t->cap = cap;
    }
    trace_event *e = &t->ev[t->n++];
    snprintf(e->name, sizeof e->name, "%s", name);
    snprintf(e->cat, sizeof e->cat, "%s", cat ? cat : "");
    e->ts = ts_us;
    e->dur = dur_us;
    e->tid = tid;
    return CLDQN_OK;
}

size_t cldqn_trace_count(const cldqn_trace *t)
{
    return t->n;
}

/* Names are ours (kernel and phase names), but escape anyway so the file
 * stays valid JSON whatever a caller passes. */
static void put_json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

cldqn_status cldqn_trace_write(const cldqn_trace *t, const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f) return cldqn_fail(CLDQN_ERR_IO, "cannot write '%s': %s", path, strerror(errno));
    fprintf(f, "{\"traceEvents\":[\n");
    fprintf(f,
            "{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":1,\"tid\":%d,"
            "\"args\":{\"name\":\"host\"}},\n",
            CLDQN_TRACE_TID_HOST);
    fprintf(f,
            "{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":1,\"tid\":%d,"
            "\"args\":{\"name\":\"device (OpenCL events)\"}}",
            CLDQN_TRACE_TID_DEVICE);
    for (size_t i = 0; i < t->n; i++) {
        const trace_event *e = &t->ev[i];
        fprintf(f, ",\n{\"name\":");
        put_json_string(f, e->name);
        fprintf(f, ",\"cat\":");
        put_json_string(f, e->cat);
        fprintf(f, ",\"ph\":\"X\",\"ts\":%.3f,\"dur\":%.3f,\"pid\":1,\"tid\":%d}", e->ts, e->dur,
                e->tid);
    }
    fprintf(f, "\n],\"displayTimeUnit\":\"ns\"}\n");
    int bad = ferror(f);
    if (fclose(f) != 0 || bad)
        return cldqn_fail(CLDQN_ERR_IO, "cannot write '%s': %s", path, strerror(errno));
    return CLDQN_OK;
}
