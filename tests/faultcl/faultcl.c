/* faultcl.c - an LD_PRELOAD shim that makes one chosen OpenCL call fail, so
 * tests can see what cldqn does when a device fails mid-run (PoCL never
 * fails an allocation or a launch by itself).
 *
 * CLDQN_FAULT=NAME:N:ERR  the N-th call (from 1) of entry point NAME returns
 *                          ERR (a negative cl_int) without reaching the
 *                          driver; every other call is forwarded.
 * CLDQN_FAULT_COUNT=FILE   at exit, "NAME COUNT" per entry point to FILE.
 * CLDQN_FAULT_TRACE=1      a backtrace on stderr when the fault fires.
 *
 * Entry points: clCreateBuffer, clBuildProgram, clEnqueueNDRangeKernel,
 * clEnqueueReadBuffer, clEnqueueWriteBuffer, clEnqueueCopyBuffer, clFinish. */
#define _GNU_SOURCE
#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>
#include <dlfcn.h>
#include <execinfo.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { F_CREATE_BUFFER, F_BUILD, F_NDRANGE, F_READ, F_WRITE, F_COPY, F_FINISH, N_FUNCS };
static const char *const names[N_FUNCS] = {"clCreateBuffer",
                                           "clBuildProgram",
                                           "clEnqueueNDRangeKernel",
                                           "clEnqueueReadBuffer",
                                           "clEnqueueWriteBuffer",
                                           "clEnqueueCopyBuffer",
                                           "clFinish"};
static long counts[N_FUNCS];
static int fault_func = -1;
static long fault_n;
static cl_int fault_err;

static void report(void)
{
    const char *path = getenv("CLDQN_FAULT_COUNT");
    FILE *f = path ? fopen(path, "w") : NULL;
    if (!f) return;
    for (int i = 0; i < N_FUNCS; i++) fprintf(f, "%s %ld\n", names[i], counts[i]);
    fclose(f);
}

__attribute__((constructor)) static void init(void)
{
    const char *spec = getenv("CLDQN_FAULT");
    if (spec) {
        char name[64];
        long n, err;
        if (sscanf(spec, "%63[^:]:%ld:%ld", name, &n, &err) == 3)
            for (int i = 0; i < N_FUNCS; i++)
                if (!strcmp(name, names[i])) fault_func = i, fault_n = n, fault_err = (cl_int)err;
        if (fault_func < 0) fprintf(stderr, "faultcl: bad CLDQN_FAULT '%s'\n", spec);
    }
    atexit(report);
}

/* 1 when this call of f is the one to fail. */
static int hit(int f)
{
    if (++counts[f] != fault_n || f != fault_func) return 0;
    if (getenv("CLDQN_FAULT_TRACE")) {
        void *frames[16];
        backtrace_symbols_fd(frames, backtrace(frames, 16), 2);
    }
    return 1;
}

static void *real(const char *name)
{
    void *p = dlsym(RTLD_NEXT, name);
    if (!p) {
        fprintf(stderr, "faultcl: no %s after the shim\n", name);
        abort();
    }
    return p;
}

/* The driver's entry point behind this one (same type as ours). */
#define REAL(name)                                                                                 \
    static __typeof__(&name) fn_##name;                                                            \
    if (!fn_##name) fn_##name = (__typeof__(&name))real(#name)

cl_mem clCreateBuffer(cl_context c, cl_mem_flags fl, size_t size, void *host, cl_int *err)
{
    REAL(clCreateBuffer);
    if (hit(F_CREATE_BUFFER)) {
        if (err) *err = fault_err;
        return NULL;
    }
    return fn_clCreateBuffer(c, fl, size, host, err);
}

cl_int clBuildProgram(cl_program p, cl_uint n, const cl_device_id *d, const char *opt,
                      void(CL_CALLBACK *cb)(cl_program, void *), void *ud)
{
    REAL(clBuildProgram);
    if (hit(F_BUILD)) return fault_err;
    return fn_clBuildProgram(p, n, d, opt, cb, ud);
}

cl_int clEnqueueNDRangeKernel(cl_command_queue q, cl_kernel k, cl_uint dim, const size_t *off,
                              const size_t *g, const size_t *l, cl_uint nw, const cl_event *w,
                              cl_event *e)
{
    REAL(clEnqueueNDRangeKernel);
    if (hit(F_NDRANGE)) return fault_err;
    return fn_clEnqueueNDRangeKernel(q, k, dim, off, g, l, nw, w, e);
}

cl_int clEnqueueReadBuffer(cl_command_queue q, cl_mem b, cl_bool blk, size_t off, size_t n, void *p,
                           cl_uint nw, const cl_event *w, cl_event *e)
{
    REAL(clEnqueueReadBuffer);
    if (hit(F_READ)) return fault_err;
    return fn_clEnqueueReadBuffer(q, b, blk, off, n, p, nw, w, e);
}

cl_int clEnqueueWriteBuffer(cl_command_queue q, cl_mem b, cl_bool blk, size_t off, size_t n,
                            const void *p, cl_uint nw, const cl_event *w, cl_event *e)
{
    REAL(clEnqueueWriteBuffer);
    if (hit(F_WRITE)) return fault_err;
    return fn_clEnqueueWriteBuffer(q, b, blk, off, n, p, nw, w, e);
}

cl_int clEnqueueCopyBuffer(cl_command_queue q, cl_mem s, cl_mem d, size_t so, size_t dof, size_t n,
                           cl_uint nw, const cl_event *w, cl_event *e)
{
    REAL(clEnqueueCopyBuffer);
    if (hit(F_COPY)) return fault_err;
    return fn_clEnqueueCopyBuffer(q, s, d, so, dof, n, nw, w, e);
}

cl_int clFinish(cl_command_queue q)
{
    REAL(clFinish);
    if (hit(F_FINISH)) return fault_err;
    return fn_clFinish(q);
}
