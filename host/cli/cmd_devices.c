/* cmd_devices.c - `cldqn devices`: lists OpenCL platforms and devices.
 *
 * Each device's spec (PLATFORM:N) and global index printed here are what
 * --device and $CLDQN_DEVICE take (clrt.c's cldqn_cl_match_device). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "clrt.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: cldqn devices [--help]\n\n"
               "Lists every OpenCL platform and device with its global index, spec, name,\n"
               "vendor, type, compute units, global/local memory, OpenCL version and maximum\n"
               "work-group size. Choose a device for other commands (--device D, or\n"
               "$CLDQN_DEVICE) by\n"
               "  PLATFORM:N   device N of the platform whose name or vendor contains PLATFORM\n"
               "               (case-insensitive), e.g. pocl:1, intel:0; the spec shown here\n"
               "  NAME         the device's exact name (case-sensitive)\n"
               "  I            its global index\n"
               "  SUBSTRING    a case-insensitive part of one device's name (refused if it\n"
               "               is in several)\n"
               "The default is the first GPU, else the first device (for a population, the\n"
               "CPU device with the most compute units). cldqn lists PoCL's single-threaded\n"
               "basic device before its pthread device unless $POCL_DEVICES is set.\n");
}

static const char *type_name(cl_device_type t)
{
    if (t & CL_DEVICE_TYPE_GPU) return "GPU";
    if (t & CL_DEVICE_TYPE_ACCELERATOR) return "accelerator";
    if (t & CL_DEVICE_TYPE_CPU) return "CPU";
    return "other";
}

static void print_bytes(const char *label, cl_ulong b)
{
    if (b >= (cl_ulong)1 << 30)
        printf("    %-18s %.1f GiB\n", label, (double)b / (double)((cl_ulong)1 << 30));
    else if (b >= (cl_ulong)1 << 20)
        printf("    %-18s %.1f MiB\n", label, (double)b / (double)((cl_ulong)1 << 20));
    else
        printf("    %-18s %.1f KiB\n", label, (double)b / 1024.0);
}

int cldqn_cmd_devices(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        }
        fprintf(stderr, "cldqn devices: unknown argument '%s'\n", argv[i]);
        usage(stderr);
        return 2;
    }
    cldqn_cl_device_info *list;
    int n;
    if (cldqn_cl_list_devices(&list, &n) != CLDQN_OK) {
        cldqn_cli_error("devices");
        return 1;
    }
    int last_platform = -1;
    for (int i = 0; i < n; i++) {
        const cldqn_cl_device_info *d = &list[i];
        if (d->platform_index != last_platform) {
            printf("platform %d: %s (%s)\n", d->platform_index, d->platform_name,
                   d->platform_version);
            last_platform = d->platform_index;
        }
        printf("  device %d: %s\n", d->index, d->name);
        printf("    %-18s %s%s%d\n", "spec", d->spec, d->spec[0] ? " or " : "", d->index);
        printf("    %-18s %s\n", "vendor", d->vendor);
        printf("    %-18s %s\n", "type", type_name(d->type));
        printf("    %-18s %u\n", "compute units", d->compute_units);
        print_bytes("global memory", d->global_mem);
        print_bytes("local memory", d->local_mem);
        printf("    %-18s %s\n", "version", d->version);
        printf("    %-18s %zu\n", "max work-group", d->max_work_group);
    }
    free(list);
    return 0;
}
