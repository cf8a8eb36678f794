/* kernel_sources.h - OpenCL sources embedded at build time from the .cl files in kernels/. */
#ifndef CLDQN_KERNEL_SOURCES_H
#define CLDQN_KERNEL_SOURCES_H

typedef struct {
    const char *name;   /* file stem, e.g. "dense" for kernels/dense.cl */
    const char *source; /* whole file */
} cldqn_kernel_source;

extern const cldqn_kernel_source cldqn_kernel_sources[];
extern const int cldqn_kernel_source_count;

#endif
