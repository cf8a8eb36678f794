/* trace.c - Chrome trace writer (see include/cldqn/trace.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cldqn/trace.h"

#include "cldqn/files.h"
#include "cldqn/json.h"

typedef struct {
    char name[64];
    char cat[32];
    double ts, dur; /* microseconds */
    int tid;
} trace_event;

struct cldqn_trace {
    trace_event *ev;
    size_t n, cap;
    double t0;          /* host clock (s) at creation: ts 0 of cldqn_trace_span */
    cldqn_status error; /* first failure of cldqn_trace_span / set_failed */
    char message[256];
};

double cldqn_trace_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

cldqn_status cldqn_trace_create(cldqn_trace **out)
{
    *out = calloc(1, sizeof **out);
    if (!*out) return cldqn_fail(CLDQN_ERR_NOMEM, "out of memory (trace)");
    (*out)->t0 = cldqn_trace_now();
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

void cldqn_trace_set_failed(cldqn_trace *t, cldqn_status st)
{
    if (!t || t->error || !st) return;
    t->error = st;
    snprintf(t->message, sizeof t->message, "%s", cldqn_last_error());
}

void cldqn_trace_span(cldqn_trace *t, const char *name, const char *cat, double start_s,
                      double end_s, int tid)
{
    if (!t || t->error) return;
    cldqn_status st =
        cldqn_trace_add(t, name, cat, (start_s - t->t0) * 1e6, (end_s - start_s) * 1e6, tid);
    cldqn_trace_set_failed(t, st);
}

size_t cldqn_trace_count(const cldqn_trace *t)
{
    return t->n;
}

/* One event a line, each written by cJSON (it escapes whatever names a
 * caller passes). 0, or -1 when out of memory. */
static int put_events(const cldqn_trace *t, FILE *f)
{
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
        cJSON *o = cJSON_CreateObject();
        int ok = o && cJSON_AddStringToObject(o, "name", e->name) &&
                 cJSON_AddStringToObject(o, "cat", e->cat) &&
                 cJSON_AddStringToObject(o, "ph", "X") &&
                 cldqn_json_add_number(o, "ts", "%.3f", e->ts) &&
                 cldqn_json_add_number(o, "dur", "%.3f", e->dur) &&
                 cldqn_json_add_int(o, "pid", 1) && cldqn_json_add_int(o, "tid", e->tid);
        char *text = ok ? cJSON_PrintUnformatted(o) : NULL; /* compact, as Chrome writes */
        cJSON_Delete(o);
        if (!text) return -1;
        fprintf(f, ",\n%s", text);
        cJSON_free(text);
    }
    fprintf(f, "\n],\"displayTimeUnit\":\"ns\"}\n");
    return 0;
}

cldqn_status cldqn_trace_write(const cldqn_trace *t, const char *path)
{
    if (t->error) return cldqn_fail(t->error, "trace for '%s' not written: %s", path, t->message);
    /* rename() would replace a device, FIFO or directory at path. */
    cldqn_status ok = cldqn_output_check("trace", path, 11 /* .tmp.XXXXXX */, 0);
    if (ok != CLDQN_OK) return ok;
    /* A temporary file beside the target, so a reader never sees half a trace. */
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 16);
    if (!tmp) return cldqn_fail(CLDQN_ERR_NOMEM, "out of memory writing '%s'", path);
    snprintf(tmp, plen + 16, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        cldqn_status st = cldqn_fail(CLDQN_ERR_IO, "cannot write '%s': %s", path, strerror(errno));
        free(tmp);
        return st;
    }
    (void)fchmod(fd, 0644); /* mkstemp makes 0600; best effort */
    FILE *f = fdopen(fd, "w");
    if (!f) {
        cldqn_status st = cldqn_fail(CLDQN_ERR_IO, "cannot write '%s': %s", path, strerror(errno));
        close(fd);
        unlink(tmp);
        free(tmp);
        return st;
    }
    int bad = put_events(t, f) != 0;
    if (bad) errno = ENOMEM;
    if (ferror(f)) bad = 1;
    if (fflush(f) != 0) bad = 1;
    int err = errno;
    if (fclose(f) != 0 && !bad) {
        bad = 1;
        err = errno;
    }
    if (!bad && rename(tmp, path) != 0) {
        bad = 1;
        err = errno;
    }
    if (bad) {
        unlink(tmp);
        free(tmp);
        return cldqn_fail(CLDQN_ERR_IO, "cannot write '%s': %s", path, strerror(err ? err : EIO));
    }
    free(tmp);
    return CLDQN_OK;
}
