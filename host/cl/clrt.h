/* clrt.h - the OpenCL runtime shared by the layered and fused device paths.
 *
 * Lists platforms and devices under one global index (the order `cldqn
 * devices` prints), picks one by a device spec (--device, $CLDQN_DEVICE: the
 * one parser, cldqn_cl_match_device), owns its context and in-order queue, and builds programs from
 * the embedded kernel sources (or $CLDQN_KERNEL_DIR/NAME.cl) with common.cl prepended and
 * -cl-std=CL1.2. Every failing OpenCL call is reported through cldqn_fail with
 * the call, the error's name, file and line (CLDQN_CL_CHECK). Internal header:
 * the public API is qnet.h. */
#ifndef CLDQN_CLRT_H
#define CLDQN_CLRT_H

#ifndef CL_TARGET_OPENCL_VERSION
#define CL_TARGET_OPENCL_VERSION 120
#endif
#include <CL/cl.h>
#include <stddef.h>

#include "cldqn/status.h"

/* One device as `cldqn devices` shows it. */
typedef struct {
    int index;          /* global index across platforms */
    int platform_index; /* index of its platform */
    cl_platform_id platform;
    cl_device_id device;
    char platform_name[128];
    char platform_version[128];
    char platform_vendor[128];
    char name[128];
    char vendor[128];
    char version[128]; /* CL_DEVICE_VERSION, e.g. "OpenCL 3.0 PoCL ..." */
    cl_device_type type;
    cl_uint compute_units;
    cl_ulong global_mem;
    cl_ulong local_mem;
    size_t max_work_group;
    cl_uint mem_base_align;   /* CL_DEVICE_MEM_BASE_ADDR_ALIGN in bytes (sub-buffer offsets) */
    cl_device_fp_config fp32; /* CL_DEVICE_SINGLE_FP_CONFIG */
    char spec[160];           /* "PLATFORM:N" that picks it, e.g. "pocl:1"; "" if none does */
} cldqn_cl_device_info;

/* The chosen device with its context and (in-order) queue. */
typedef struct {
    cldqn_cl_device_info info;
    cl_context ctx;
    cl_command_queue queue;
    int profile; /* queue created with CL_QUEUE_PROFILING_ENABLE */
} cldqn_cl;

/* Name of an OpenCL error code, e.g. "CL_INVALID_VALUE" ("CL_UNKNOWN_ERROR(-9999)"
 * style text is not returned: unknown codes give "unknown OpenCL error"). */
const char *cldqn_cl_error_name(cl_int err);

/* Records "CALL failed: NAME (FILE:LINE)" and returns CLDQN_ERR_OPENCL, or
 * CLDQN_OK if err == CL_SUCCESS. */
cldqn_status cldqn_cl_check(cl_int err, const char *call, const char *file, int line);

/* Evaluates an OpenCL call returning cl_int; on failure returns from the
 * enclosing function (which must return cldqn_status) with the message set. */
#define CLDQN_CL_CHECK(call)                                                                       \
    do {                                                                                           \
        cl_int e_ = (call);                                                                        \
        if (e_ != CL_SUCCESS) return cldqn_cl_check(e_, #call, __FILE__, __LINE__);                \
    } while (0)

/* All devices of all platforms, in global-index order; *out is malloc'd (free
 * it). No ICD/platform/device -> CLDQN_ERR_NODEVICE naming the package to
 * install. */
cldqn_status cldqn_cl_list_devices(cldqn_cl_device_info **out, int *n);

/* What device specs are matched against: pure data, so the matching can be
 * tested without devices. A platform's devices are adjacent, in order. */
typedef struct {
    int platform;                /* platform index */
    const char *platform_name;   /* CL_PLATFORM_NAME */
    const char *platform_vendor; /* CL_PLATFORM_VENDOR (NULL: none), e.g. "The pocl project" */
    const char *name;            /* CL_DEVICE_NAME */
} cldqn_cl_dev_ref;

/* The index into devs[n] that spec names, or -1 with CLDQN_ERR_NODEVICE set
 * (what: the spec's source for messages, e.g. "$CLDQN_DEVICE"). In order:
 * all digits: the global index; the exact (case-sensitive) device name;
 * PLATFORM:N: device N of the one platform whose name or vendor contains
 * PLATFORM (case-insensitive; an exact platform name wins); else a
 * case-insensitive substring of one device name. Several matches are
 * refused listing them, none listing the specs there are. */
int cldqn_cl_match_device(const cldqn_cl_dev_ref *devs, int n, const char *spec, const char *what);

/* devs[i]'s "PLATFORM:N" with the shortest word of its platform's name or
 * vendor that no other platform has ("" if no word or name is unique). */
void cldqn_cl_device_spec(const cldqn_cl_dev_ref *devs, int n, int i, char *buf, size_t size);

/* Opens a device: spec as cldqn_cl_match_device takes it; NULL or "" ->
 * $CLDQN_DEVICE, else the first GPU, else the first device. Unknown or
 * ambiguous -> CLDQN_ERR_NODEVICE. */
cldqn_status cldqn_cl_create(const char *spec, int profile, cldqn_cl **out);

/* cldqn_cl_create for launches of `groups` work-groups: without a device
 * named and without a GPU, groups > 1 takes the device with the most compute
 * units (PoCL's pthread device, which runs work-groups on every core, over
 * its single-threaded basic device; the first such on ties). */
cldqn_status cldqn_cl_create_groups(const char *spec, int profile, int groups, cldqn_cl **out);
void cldqn_cl_free(cldqn_cl *cl);

/* Builds program NAME (kernels/NAME.cl, embedded, or $CLDQN_KERNEL_DIR/NAME.cl)
 * with common.cl prepended and options "-cl-std=CL1.2 <options>", plus
 * -cl-fp32-correctly-rounded-divide-sqrt where the device offers it (so / and
 * sqrt round like the C reference). A failed
 * build returns CLDQN_ERR_BUILD; its full log is then in
 * cldqn_cl_last_build_log(). */
cldqn_status cldqn_cl_build_program(cldqn_cl *cl, const char *name, const char *options,
                                    cl_program *out);

/* Full log of the last failed build on this thread ("" if none). */
const char *cldqn_cl_last_build_log(void);

/* Source text of kernels/NAME.cl as the runtime would use it (without
 * common.cl); malloc'd, NULL with CLDQN_ERR_IO/ARG set if absent. */
cldqn_status cldqn_cl_load_source(const char *name, char **out);

cldqn_status cldqn_cl_create_kernel(cl_program prog, const char *name, cl_kernel *out);

/* Work-group size to launch k with: CL_KERNEL_WORK_GROUP_SIZE capped by the
 * device's maximum and by cap (0: no cap), rounded down to a power of two. */
size_t cldqn_cl_kernel_wg(const cldqn_cl *cl, cl_kernel k, size_t cap);

/* Sets kernel arguments from a list of (size, pointer) pairs. */
typedef struct {
    size_t size;
    const void *value;
} cldqn_cl_arg;
cldqn_status cldqn_cl_set_args(cl_kernel k, const char *kname, const cldqn_cl_arg *args, int n);
/* Entries of such a list, one {size, pointer} pair each, e.g.
 * `(cldqn_cl_arg[]){A_MEM(buf), A_INT(n), A_FLT(gamma)}`; {bytes, NULL} is a
 * __local buffer. */
#define A_MEM(m)                                                                                   \
    {                                                                                              \
        sizeof(cl_mem), &(m)                                                                       \
    }
#define A_INT(x)                                                                                   \
    {                                                                                              \
        sizeof(cl_int), &(cl_int)                                                                  \
        {                                                                                          \
            (cl_int)(x)                                                                            \
        }                                                                                          \
    }
#define A_UINT(x)                                                                                  \
    {                                                                                              \
        sizeof(cl_uint), &(cl_uint)                                                                \
        {                                                                                          \
            (cl_uint)(x)                                                                           \
        }                                                                                          \
    }
#define A_FLT(x)                                                                                   \
    {                                                                                              \
        sizeof(cl_float), &(cl_float)                                                              \
        {                                                                                          \
            (cl_float)(x)                                                                          \
        }                                                                                          \
    }

/* Enqueues k over n work-items (1-D), rounded up to a multiple of wg; the
 * kernel must ignore ids >= n. */
cldqn_status cldqn_cl_launch(cldqn_cl *cl, cl_kernel k, size_t n, size_t wg);

/* Host wall clock in seconds (CLOCK_MONOTONIC), for benchmarks. */
double cldqn_cl_now(void);

#endif
