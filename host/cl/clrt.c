/* clrt.c - OpenCL runtime: device choice, program build, error names (see clrt.h).
 *
 * Nothing here prints: failures go through cldqn_fail, and a failed build keeps
 * its full log in a thread-local buffer for the command to print. */
#include "clrt.h"

#include <ctype.h>
#include <stdio.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "kernel_sources.h"

#define NO_ICD_HINT                                                                                \
    "install an OpenCL driver (ICD): 'apt-get install pocl-opencl-icd' for the CPU, or your "      \
    "GPU vendor's ICD (e.g. nvidia-opencl-icd)"

static _Thread_local char *last_build_log;

const char *cldqn_cl_error_name(cl_int err)
{
    switch (err) {
#define E(x)                                                                                       \
    case x:                                                                                        \
        return #x;
        E(CL_SUCCESS)
        E(CL_DEVICE_NOT_FOUND)
        E(CL_DEVICE_NOT_AVAILABLE)
        E(CL_COMPILER_NOT_AVAILABLE)
        E(CL_MEM_OBJECT_ALLOCATION_FAILURE)
        E(CL_OUT_OF_RESOURCES)
        E(CL_OUT_OF_HOST_MEMORY)
        E(CL_PROFILING_INFO_NOT_AVAILABLE)
        E(CL_MEM_COPY_OVERLAP)
        E(CL_IMAGE_FORMAT_MISMATCH)
        E(CL_IMAGE_FORMAT_NOT_SUPPORTED)
        E(CL_BUILD_PROGRAM_FAILURE)
        E(CL_MAP_FAILURE)
        E(CL_MISALIGNED_SUB_BUFFER_OFFSET)
        E(CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST)
        E(CL_COMPILE_PROGRAM_FAILURE)
        E(CL_LINKER_NOT_AVAILABLE)
        E(CL_LINK_PROGRAM_FAILURE)
        E(CL_DEVICE_PARTITION_FAILED)
        E(CL_KERNEL_ARG_INFO_NOT_AVAILABLE)
        E(CL_INVALID_VALUE)
        E(CL_INVALID_DEVICE_TYPE)
        E(CL_INVALID_PLATFORM)
        E(CL_INVALID_DEVICE)
        E(CL_INVALID_CONTEXT)
        E(CL_INVALID_QUEUE_PROPERTIES)
        E(CL_INVALID_COMMAND_QUEUE)
        E(CL_INVALID_HOST_PTR)
        E(CL_INVALID_MEM_OBJECT)
        E(CL_INVALID_IMAGE_FORMAT_DESCRIPTOR)
        E(CL_INVALID_IMAGE_SIZE)
        E(CL_INVALID_SAMPLER)
        E(CL_INVALID_BINARY)
        E(CL_INVALID_BUILD_OPTIONS)
        E(CL_INVALID_PROGRAM)
        E(CL_INVALID_PROGRAM_EXECUTABLE)
        E(CL_INVALID_KERNEL_NAME)
        E(CL_INVALID_KERNEL_DEFINITION)
        E(CL_INVALID_KERNEL)
        E(CL_INVALID_ARG_INDEX)
        E(CL_INVALID_ARG_VALUE)
        E(CL_INVALID_ARG_SIZE)
        E(CL_INVALID_KERNEL_ARGS)
        E(CL_INVALID_WORK_DIMENSION)
        E(CL_INVALID_WORK_GROUP_SIZE)
        E(CL_INVALID_WORK_ITEM_SIZE)
        E(CL_INVALID_GLOBAL_OFFSET)
        E(CL_INVALID_EVENT_WAIT_LIST)
        E(CL_INVALID_EVENT)
        E(CL_INVALID_OPERATION)
        E(CL_INVALID_GL_OBJECT)
        E(CL_INVALID_BUFFER_SIZE)
        E(CL_INVALID_MIP_LEVEL)
        E(CL_INVALID_GLOBAL_WORK_SIZE)
        E(CL_INVALID_PROPERTY)
        E(CL_INVALID_IMAGE_DESCRIPTOR)
        E(CL_INVALID_COMPILER_OPTIONS)
        E(CL_INVALID_LINKER_OPTIONS)
        E(CL_INVALID_DEVICE_PARTITION_COUNT)
#undef E
    case -1001:
        return "CL_PLATFORM_NOT_FOUND_KHR";
    }
    return "unknown OpenCL error";
}

cldqn_status cldqn_cl_check(cl_int err, const char *call, const char *file, int line)
{
    if (err == CL_SUCCESS) return CLDQN_OK;
    /* Keep the message one line and short: the call text up to its '('. */
    int len = (int)strcspn(call, "(");
    return cldqn_fail(CLDQN_ERR_OPENCL, "%.*s failed: %s (%d) at %s:%d", len, call,
                      cldqn_cl_error_name(err), (int)err, file, line);
}

double cldqn_cl_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void trim(char *s)
{
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1])) s[--n] = '\0';
    size_t i = 0;
    while (s[i] && isspace((unsigned char)s[i])) i++;
    if (i) memmove(s, s + i, n - i + 1);
}

static cldqn_status device_info(cl_device_id d, cldqn_cl_device_info *o)
{
    CLDQN_CL_CHECK(clGetDeviceInfo(d, CL_DEVICE_NAME, sizeof o->name - 1, o->name, NULL));
    CLDQN_CL_CHECK(clGetDeviceInfo(d, CL_DEVICE_VENDOR, sizeof o->vendor - 1, o->vendor, NULL));
    CLDQN_CL_CHECK(clGetDeviceInfo(d, CL_DEVICE_VERSION, sizeof o->version - 1, o->version, NULL));
    CLDQN_CL_CHECK(clGetDeviceInfo(d, CL_DEVICE_TYPE, sizeof o->type, &o->type, NULL));
    CLDQN_CL_CHECK(clGetDeviceInfo(d, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof o->compute_units,
                                   &o->compute_units, NULL));
    CLDQN_CL_CHECK(
        clGetDeviceInfo(d, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof o->global_mem, &o->global_mem, NULL));
    CLDQN_CL_CHECK(
        clGetDeviceInfo(d, CL_DEVICE_LOCAL_MEM_SIZE, sizeof o->local_mem, &o->local_mem, NULL));
    CLDQN_CL_CHECK(clGetDeviceInfo(d, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof o->max_work_group,
                                   &o->max_work_group, NULL));
    cl_uint align_bits = 0;
    CLDQN_CL_CHECK(
        clGetDeviceInfo(d, CL_DEVICE_MEM_BASE_ADDR_ALIGN, sizeof align_bits, &align_bits, NULL));
    o->mem_base_align = align_bits / 8 ? align_bits / 8 : 1;
    CLDQN_CL_CHECK(clGetDeviceInfo(d, CL_DEVICE_SINGLE_FP_CONFIG, sizeof o->fp32, &o->fp32, NULL));
    trim(o->name);
    trim(o->vendor);
    trim(o->version);
    return CLDQN_OK;
}

/* PoCL's default CPU device (pthread) hands every command to a worker thread:
 * 15-20 us per launch on two cores, more than half of a training step. Its
 * basic device runs commands in the calling thread (about 1 us), and one
 * agent's update is one work-group, so basic is listed first and taken by
 * default; pthread stays for launches of many work-groups (populations, see
 * cldqn_cl_create_groups). PoCL reads POCL_DEVICES once, at the process's
 * first OpenCL call, and every OpenCL use of the library begins here; a
 * user's own POCL_DEVICES is kept, and other drivers ignore it. The one
 * place the preference is applied: the CLI, cldqn-mpi, the tests and the
 * tools all see the same device list. */
static void prefer_pocl_basic(void)
{
    if (!getenv("POCL_DEVICES")) setenv("POCL_DEVICES", "basic pthread", 0);
}

/* PoCL's CPU devices fail to initialise when their kernel cache cannot be
 * created ($POCL_CACHE_DIR, else $XDG_CACHE_HOME/pocl or $HOME/.cache/pocl):
 * 1 with the directory in buf when that is why no device showed up. */
static int pocl_cache_unwritable(char *buf, size_t size)
{
    const char *dir = getenv("POCL_CACHE_DIR"), *xdg = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME");
    if (dir && *dir)
        snprintf(buf, size, "%s", dir);
    else if (xdg && *xdg)
        snprintf(buf, size, "%s/pocl", xdg);
    else if (home && *home)
        snprintf(buf, size, "%s/.cache/pocl", home);
    else
        return 0;
    /* The first existing ancestor decides whether the rest can be made. */
    char probe[512];
    snprintf(probe, sizeof probe, "%s", buf);
    for (;;) {
        if (access(probe, F_OK) == 0) { /* access() says yes to root everywhere: try */
            size_t n = strlen(probe);
            if (n + 24 > sizeof probe) return 0;
            memcpy(probe + n, "/.cldqn-probe-XXXXXX", 21);
            if (!mkdtemp(probe)) return 1;
            rmdir(probe);
            return 0;
        }
        char *slash = strrchr(probe, '/');
        if (!slash || slash == probe) return 0;
        *slash = 0;
    }
}

static cldqn_cl_dev_ref *refs_of(const cldqn_cl_device_info *list, int n);

cldqn_status cldqn_cl_list_devices(cldqn_cl_device_info **out, int *n)
{
    prefer_pocl_basic();
    *out = NULL;
    *n = 0;
    cl_uint np = 0;
    cl_int err = clGetPlatformIDs(0, NULL, &np);
    if (err == -1001 /* CL_PLATFORM_NOT_FOUND_KHR */ || (err == CL_SUCCESS && np == 0))
        return cldqn_fail(CLDQN_ERR_NODEVICE, "no OpenCL platform found; " NO_ICD_HINT);
    if (err != CL_SUCCESS)
        return cldqn_fail(CLDQN_ERR_NODEVICE, "clGetPlatformIDs failed: %s (%d); " NO_ICD_HINT,
                          cldqn_cl_error_name(err), (int)err);
    cl_platform_id *plats = calloc(np, sizeof *plats);
    if (!plats) return cldqn_fail(CLDQN_ERR_NOMEM, "out of memory listing OpenCL platforms");
    cldqn_status st =
        cldqn_cl_check(clGetPlatformIDs(np, plats, NULL), "clGetPlatformIDs", __FILE__, __LINE__);
    cldqn_cl_device_info *list = NULL;
    int count = 0;
    for (cl_uint p = 0; st == CLDQN_OK && p < np; p++) {
        cl_uint nd = 0;
        err = clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, 0, NULL, &nd);
        if (err == CL_DEVICE_NOT_FOUND || nd == 0) continue; /* a platform without devices */
        if ((st = cldqn_cl_check(err, "clGetDeviceIDs", __FILE__, __LINE__)) != CLDQN_OK) break;
        cl_device_id *devs = calloc(nd, sizeof *devs);
        cldqn_cl_device_info *grown = realloc(list, (size_t)(count + (int)nd) * sizeof *list);
        if (!devs || !grown) {
            free(devs);
            if (grown) list = grown;
            st = cldqn_fail(CLDQN_ERR_NOMEM, "out of memory listing OpenCL devices");
            break;
        }
        list = grown;
        st = cldqn_cl_check(clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, nd, devs, NULL),
                            "clGetDeviceIDs", __FILE__, __LINE__);
        char pname[128] = "", pver[128] = "", pvendor[128] = "";
        if (st == CLDQN_OK)
            st = cldqn_cl_check(
                clGetPlatformInfo(plats[p], CL_PLATFORM_NAME, sizeof pname - 1, pname, NULL),
                "clGetPlatformInfo", __FILE__, __LINE__);
        if (st == CLDQN_OK)
            st = cldqn_cl_check(
                clGetPlatformInfo(plats[p], CL_PLATFORM_VERSION, sizeof pver - 1, pver, NULL),
                "clGetPlatformInfo", __FILE__, __LINE__);
        if (st == CLDQN_OK)
            st = cldqn_cl_check(
                clGetPlatformInfo(plats[p], CL_PLATFORM_VENDOR, sizeof pvendor - 1, pvendor, NULL),
                "clGetPlatformInfo", __FILE__, __LINE__);
        trim(pname);
        trim(pver);
        trim(pvendor);
        for (cl_uint d = 0; st == CLDQN_OK && d < nd; d++) {
            cldqn_cl_device_info *o = &list[count];
            memset(o, 0, sizeof *o);
            o->index = count;
            o->platform_index = (int)p;
            o->platform = plats[p];
            o->device = devs[d];
            snprintf(o->platform_name, sizeof o->platform_name, "%s", pname);
            snprintf(o->platform_version, sizeof o->platform_version, "%s", pver);
            snprintf(o->platform_vendor, sizeof o->platform_vendor, "%s", pvendor);
            st = device_info(devs[d], o);
            if (st == CLDQN_OK) count++;
        }
        free(devs);
    }
    free(plats);
    if (st != CLDQN_OK) {
        free(list);
        return st;
    }
    if (count == 0) {
        free(list);
        char cache[512];
        if (pocl_cache_unwritable(cache, sizeof cache))
            return cldqn_fail(CLDQN_ERR_NODEVICE,
                              "PoCL offers no device: its kernel cache '%s' cannot be written "
                              "(set POCL_CACHE_DIR to a writable directory)",
                              cache);
        return cldqn_fail(CLDQN_ERR_NODEVICE,
                          "%u OpenCL platform(s) but no device found; " NO_ICD_HINT, np);
    }
    cldqn_cl_dev_ref *refs = refs_of(list, count);
    if (!refs) {
        free(list);
        return CLDQN_ERR_NOMEM;
    }
    for (int i = 0; i < count; i++)
        cldqn_cl_device_spec(refs, count, i, list[i].spec, sizeof list[i].spec);
    free(refs);
    *out = list;
    *n = count;
    return CLDQN_OK;
}

/* ---- device specs ------------------------------------------------------------ */

static int contains_nocase(const char *hay, const char *needle)
{
    if (!hay) return 0;
    size_t n = strlen(needle);
    for (; *hay; hay++)
        if (strncasecmp(hay, needle, n) == 0) return 1;
    return n == 0;
}

/* Devices before i on its platform: its N in PLATFORM:N. */
static int local_index(const cldqn_cl_dev_ref *d, int i)
{
    int k = 0;
    for (int j = 0; j < i; j++) k += d[j].platform == d[i].platform;
    return k;
}

static int first_of_platform(const cldqn_cl_dev_ref *d, int i)
{
    return i == 0 || d[i].platform != d[i - 1].platform;
}

/* Platforms word picks, as the index of each one's first device in firsts
 * (up to cap); the count. A platform named exactly word (case-insensitive)
 * is the one match, so a platform whose every word another shares can still
 * be named. */
static int match_platforms(const cldqn_cl_dev_ref *d, int n, const char *word, int *firsts, int cap)
{
    for (int i = 0; i < n; i++)
        if (first_of_platform(d, i) && d[i].platform_name &&
            strcasecmp(d[i].platform_name, word) == 0) {
            int exact = 0;
            for (int j = i; j < n; j++)
                exact += first_of_platform(d, j) && d[j].platform_name &&
                         strcasecmp(d[j].platform_name, word) == 0;
            if (exact == 1) {
                if (cap > 0) firsts[0] = i;
                return 1;
            }
            break;
        }
    int k = 0;
    for (int i = 0; i < n; i++)
        if (first_of_platform(d, i) && (contains_nocase(d[i].platform_name, word) ||
                                        contains_nocase(d[i].platform_vendor, word))) {
            if (k < cap) firsts[k] = i;
            k++;
        }
    return k;
}

/* Generic words no user would name a platform by. */
static int stop_word(const char *w)
{
    static const char *const stop[] = {"the",    "inc",      "ltd",         "corp",
                                       "opencl", "platform", "corporation", "project"};
    for (size_t i = 0; i < sizeof stop / sizeof *stop; i++)
        if (!strcmp(w, stop[i])) return 1;
    return 0;
}

/* Shortest word (letters and digits, at least 3, one a letter) of text that
 * picks the platform of device f alone, into best (kept if not shorter). */
static void shortest_word(const cldqn_cl_dev_ref *d, int n, int f, const char *text, char *best,
                          size_t size)
{
    while (text && *text) {
        while (*text && !isalnum((unsigned char)*text)) text++;
        char w[128];
        size_t len = 0;
        int letter = 0;
        for (; isalnum((unsigned char)*text); text++) {
            letter |= isalpha((unsigned char)*text) != 0;
            if (len + 1 < sizeof w) w[len++] = (char)tolower((unsigned char)*text);
        }
        w[len] = '\0';
        if (len < 3 || !letter || stop_word(w) || (best[0] && len >= strlen(best)) || len >= size)
            continue;
        int first;
        if (match_platforms(d, n, w, &first, 1) == 1 && first == f) memcpy(best, w, len + 1);
    }
}

void cldqn_cl_device_spec(const cldqn_cl_dev_ref *d, int n, int i, char *buf, size_t size)
{
    if (!size) return;
    buf[0] = '\0';
    if (i < 0 || i >= n) return;
    int f = i;
    while (!first_of_platform(d, f)) f--;
    char word[128] = "";
    shortest_word(d, n, f, d[f].platform_name, word, sizeof word);
    shortest_word(d, n, f, d[f].platform_vendor, word, sizeof word);
    const char *plat = word;
    int first = -1;
    if (!word[0]) { /* the full name, if no other platform has it */
        plat = d[f].platform_name ? d[f].platform_name : "";
        if (!*plat || match_platforms(d, n, plat, &first, 1) != 1 || first != f) return;
    }
    if (snprintf(buf, size, "%s:%d", plat, local_index(d, i)) >= (int)size) buf[0] = '\0';
}

#define SEL_MAX 64 /* matches listed in a message */

/* Writes "SPEC (index I, NAME)" for each device sel[k] (or all with sel
 * NULL) to buf, ", "-separated, as many as fit; of total, the first m are in
 * sel. plats: sel holds platforms' first devices; "NAME (SPEC..SPEC)" each. */
static void list_text(const cldqn_cl_dev_ref *d, int n, const int *sel, int m, int total, int plats,
                      char *buf, size_t size)
{
    size_t len = 0;
    buf[0] = '\0';
    for (int k = 0; k < total; k++) {
        char spec[160], item[400];
        int w = -1;
        if (k < m) {
            int i = sel ? sel[k] : k;
            cldqn_cl_device_spec(d, n, i, spec, sizeof spec);
            if (plats) { /* the platform: its name and its devices' specs */
                int last = i;
                while (last + 1 < n && d[last + 1].platform == d[i].platform) last++;
                char hi[160];
                cldqn_cl_device_spec(d, n, last, hi, sizeof hi);
                w = snprintf(item, sizeof item, "%s%.200s (%s..%s)", k ? ", " : "",
                             d[i].platform_name ? d[i].platform_name : "?", spec, hi);
            } else {
                w = snprintf(item, sizeof item, "%s%s%s(index %d, %.200s)", k ? ", " : "", spec,
                             spec[0] ? " " : "", i, d[i].name ? d[i].name : "");
            }
        }
        if (w < 0 || (size_t)w >= sizeof item || len + (size_t)w + 24 >= size) {
            snprintf(buf + len, size - len, "%s... %d more", k ? ", " : "", total - k);
            return;
        }
        memcpy(buf + len, item, (size_t)w + 1);
        len += (size_t)w;
    }
}

int cldqn_cl_match_device(const cldqn_cl_dev_ref *d, int n, const char *spec, const char *what)
{
    char list[640];
    if (n <= 0) {
        cldqn_fail(CLDQN_ERR_NODEVICE, "%s '%s': no OpenCL device", what, spec);
        return -1;
    }
    char *end;
    long idx = strtol(spec, &end, 10);
    if (end != spec && *end == '\0') {
        if (idx >= 0 && idx < n) return (int)idx;
        cldqn_fail(CLDQN_ERR_NODEVICE,
                   "%s index %ld out of range: %d OpenCL device(s), indices 0..%d "
                   "(see 'cldqn devices')",
                   what, idx, n, n - 1);
        return -1;
    }
    int sel[SEL_MAX], m = 0, found = -1;
    /* The exact name first: a name may contain ':' (e.g. "gfx90a:sramecc+:xnack-"). */
    for (int i = 0; i < n; i++)
        if (d[i].name && !strcmp(d[i].name, spec) && m++ < SEL_MAX) sel[m - 1] = i;
    if (m == 1) {
        found = sel[0];
    } else if (m > 1) {
        list_text(d, n, sel, SEL_MAX, m, 0, list, sizeof list);
        cldqn_fail(CLDQN_ERR_NODEVICE,
                   "%s '%s' names %d devices: %s; pick one by PLATFORM:N or index", what, spec, m,
                   list);
    } else {
        const char *colon = strrchr(spec, ':');
        size_t digits = colon ? strspn(colon + 1, "0123456789") : 0;
        if (colon && digits > 0 && colon[1 + digits] == '\0') {
            /* PLATFORM:N decides alone: never read as a device name part. */
            char plat[256];
            size_t plen = (size_t)(colon - spec);
            int nth = digits > 6 ? -1 : atoi(colon + 1);
            if (plen == 0 || plen >= sizeof plat) {
                cldqn_fail(CLDQN_ERR_NODEVICE, "%s '%s': PLATFORM:N needs a platform word", what,
                           spec);
            } else {
                memcpy(plat, spec, plen);
                plat[plen] = '\0';
                int np = match_platforms(d, n, plat, sel, SEL_MAX);
                if (np == 0) {
                    list_text(d, n, NULL, n, n, 0, list, sizeof list);
                    cldqn_fail(CLDQN_ERR_NODEVICE,
                               "%s '%s': no OpenCL platform's name or vendor contains '%s'; "
                               "devices: %s",
                               what, spec, plat, list);
                } else if (np > 1) {
                    list_text(d, n, sel, SEL_MAX, np, 1, list, sizeof list);
                    cldqn_fail(CLDQN_ERR_NODEVICE,
                               "%s '%s': platform '%s' is ambiguous, %d platforms' names or "
                               "vendors contain it: %s",
                               what, spec, plat, np, list);
                } else {
                    int f = sel[0], count = 0;
                    for (int i = f; i < n && d[i].platform == d[f].platform; i++) count++;
                    if (nth >= 0 && nth < count) {
                        found = f + nth;
                    } else {
                        char lo[160], hi[160];
                        cldqn_cl_device_spec(d, n, f, lo, sizeof lo);
                        cldqn_cl_device_spec(d, n, f + count - 1, hi, sizeof hi);
                        cldqn_fail(CLDQN_ERR_NODEVICE,
                                   "%s '%s' out of range: platform %s has %d device(s), "
                                   "%s..%s",
                                   what, spec, d[f].platform_name ? d[f].platform_name : "?", count,
                                   lo, hi);
                    }
                }
            }
        } else {
            for (int i = 0; i < n; i++)
                if (contains_nocase(d[i].name, spec) && m++ < SEL_MAX) sel[m - 1] = i;
            if (m == 1) {
                found = sel[0];
            } else if (m > 1) {
                list_text(d, n, sel, SEL_MAX, m, 0, list, sizeof list);
                cldqn_fail(CLDQN_ERR_NODEVICE,
                           "%s '%s' is ambiguous, it is in %d device names: %s; pick one by "
                           "PLATFORM:N, exact name or index",
                           what, spec, m, list);
            } else {
                list_text(d, n, NULL, n, n, 0, list, sizeof list);
                cldqn_fail(CLDQN_ERR_NODEVICE,
                           "%s '%s' matches no OpenCL device (PLATFORM:N, exact name, index or "
                           "name substring); devices: %s",
                           what, spec, list);
            }
        }
    }
    return found;
}

/* The matcher's view of list (NULL with the error set). */
static cldqn_cl_dev_ref *refs_of(const cldqn_cl_device_info *list, int n)
{
    cldqn_cl_dev_ref *r = calloc(n > 0 ? (size_t)n : 1, sizeof *r);
    if (!r) {
        cldqn_fail(CLDQN_ERR_NOMEM, "out of memory listing OpenCL devices");
        return NULL;
    }
    for (int i = 0; i < n; i++)
        r[i] = (cldqn_cl_dev_ref){list[i].platform_index, list[i].platform_name,
                                  list[i].platform_vendor, list[i].name};
    return r;
}

/* Index into list for spec (see cldqn_cl_create), or -1 (no such device) or
 * -2 (out of memory) with the error set. */
static int choose(const cldqn_cl_device_info *list, int n, const char *spec, int groups)
{
    const char *from = "device";
    if (!spec || !*spec) {
        spec = getenv("CLDQN_DEVICE");
        from = "$CLDQN_DEVICE";
    }
    if (!spec || !*spec) {
        for (int i = 0; i < n; i++)
            if (list[i].type & CL_DEVICE_TYPE_GPU) return i;
        int best = 0;
        if (groups > 1)
            for (int i = 1; i < n; i++)
                if (list[i].compute_units > list[best].compute_units) best = i;
        return best;
    }
    cldqn_cl_dev_ref *refs = refs_of(list, n);
    if (!refs) return -2;
    int i = cldqn_cl_match_device(refs, n, spec, from);
    free(refs);
    return i;
}

cldqn_status cldqn_cl_create(const char *spec, int profile, cldqn_cl **out)
{
    return cldqn_cl_create_groups(spec, profile, 1, out);
}

cldqn_status cldqn_cl_create_groups(const char *spec, int profile, int groups, cldqn_cl **out)
{
    *out = NULL;
    cldqn_cl_device_info *list;
    int n;
    cldqn_status st = cldqn_cl_list_devices(&list, &n);
    if (st != CLDQN_OK) return st;
    int i = choose(list, n, spec, groups);
    if (i < 0) {
        free(list);
        return i == -2 ? CLDQN_ERR_NOMEM : CLDQN_ERR_NODEVICE;
    }
    cldqn_cl *cl = calloc(1, sizeof *cl);
    if (!cl) {
        free(list);
        return cldqn_fail(CLDQN_ERR_NOMEM, "out of memory opening an OpenCL device");
    }
    cl->info = list[i];
    cl->profile = profile;
    free(list);
    cl_int err;
    cl_context_properties props[] = {CL_CONTEXT_PLATFORM, (cl_context_properties)cl->info.platform,
                                     0};
    cl->ctx = clCreateContext(props, 1, &cl->info.device, NULL, NULL, &err);
    if (err != CL_SUCCESS) {
        cldqn_cl_free(cl);
        return cldqn_cl_check(err, "clCreateContext", __FILE__, __LINE__);
    }
    /* clCreateCommandQueue is deprecated in 2.0 but is the 1.2 call; the
     * target version macro keeps it declared without warnings. */
    cl->queue = clCreateCommandQueue(cl->ctx, cl->info.device,
                                     profile ? CL_QUEUE_PROFILING_ENABLE : 0, &err);
    if (err != CL_SUCCESS) {
        cldqn_cl_free(cl);
        return cldqn_cl_check(err, "clCreateCommandQueue", __FILE__, __LINE__);
    }
    *out = cl;
    return CLDQN_OK;
}

void cldqn_cl_free(cldqn_cl *cl)
{
    if (!cl) return;
    if (cl->queue) {
        clFinish(cl->queue);
        clReleaseCommandQueue(cl->queue);
    }
    if (cl->ctx) clReleaseContext(cl->ctx);
    free(cl);
}

static cldqn_status read_file(const char *path, char **out)
{
    FILE *f = fopen(path, "rb");
    if (!f) return cldqn_fail(CLDQN_ERR_IO, "cannot open kernel source %s", path);
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (cap - len < 4096) {
            char *g = realloc(buf, cap + 65536);
            if (!g) {
                free(buf);
                fclose(f);
                return cldqn_fail(CLDQN_ERR_NOMEM, "out of memory reading %s", path);
            }
            buf = g;
            cap += 65536;
        }
        size_t r = fread(buf + len, 1, cap - len - 1, f);
        len += r;
        if (r == 0) break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return cldqn_fail(CLDQN_ERR_IO, "error reading kernel source %s", path);
    }
    buf[len] = '\0';
    *out = buf;
    return CLDQN_OK;
}

cldqn_status cldqn_cl_load_source(const char *name, char **out)
{
    *out = NULL;
    const char *dir = getenv("CLDQN_KERNEL_DIR");
    if (dir && *dir) {
        char path[4096];
        /* NAME.cl, or a header named with its extension (fused_layout.h). */
        snprintf(path, sizeof path, "%s/%s%s", dir, name, strchr(name, '.') ? "" : ".cl");
        return read_file(path, out);
    }
    for (int i = 0; i < cldqn_kernel_source_count; i++)
        if (!strcmp(cldqn_kernel_sources[i].name, name)) {
            *out = strdup(cldqn_kernel_sources[i].source);
            if (!*out) return cldqn_fail(CLDQN_ERR_NOMEM, "out of memory copying kernel %s", name);
            return CLDQN_OK;
        }
    return cldqn_fail(CLDQN_ERR_ARG, "no embedded kernel source named '%s'", name);
}

const char *cldqn_cl_last_build_log(void)
{
    return last_build_log ? last_build_log : "";
}

static void keep_log(cl_program prog, cl_device_id dev)
{
    free(last_build_log);
    last_build_log = NULL;
    size_t n = 0;
    if (clGetProgramBuildInfo(prog, dev, CL_PROGRAM_BUILD_LOG, 0, NULL, &n) != CL_SUCCESS) return;
    last_build_log = malloc(n + 1);
    if (!last_build_log) return;
    if (clGetProgramBuildInfo(prog, dev, CL_PROGRAM_BUILD_LOG, n, last_build_log, NULL) !=
        CL_SUCCESS)
        n = 0;
    last_build_log[n] = '\0';
}

cldqn_status cldqn_cl_build_program(cldqn_cl *cl, const char *name, const char *options,
                                    cl_program *out)
{
    *out = NULL;
    /* The layout fused.cl shares with the host goes in front of it. */
    const char *header = !strcmp(name, "fused") ? "fused_layout.h" : NULL;
    char *common = NULL, *head = NULL, *src = NULL;
    cldqn_status st = cldqn_cl_load_source("common", &common);
    if (st == CLDQN_OK && header) st = cldqn_cl_load_source(header, &head);
    if (st == CLDQN_OK) st = cldqn_cl_load_source(name, &src);
    if (st != CLDQN_OK) {
        free(common);
        free(head);
        return st;
    }
    /* common.cl first; the #line resets error positions to NAME.cl's own lines. */
    const char *parts[4] = {common, head ? head : "", "\n#line 1\n", src};
    cl_int err;
    cl_program prog = clCreateProgramWithSource(cl->ctx, 4, parts, NULL, &err);
    free(common);
    free(head);
    free(src);
    if (err != CL_SUCCESS)
        return cldqn_cl_check(err, "clCreateProgramWithSource", __FILE__, __LINE__);
    char opts[1024];
    int len = snprintf(opts, sizeof opts, "-cl-std=CL1.2%s%s%s",
                       (cl->info.fp32 & CL_FP_CORRECTLY_ROUNDED_DIVIDE_SQRT)
                           ? " -cl-fp32-correctly-rounded-divide-sqrt"
                           : "",
                       options && *options ? " " : "", options ? options : "");
    if (len < 0 || (size_t)len >= sizeof opts) {
        clReleaseProgram(prog);
        return cldqn_fail(CLDQN_ERR_ARG, "build options for %s too long", name);
    }
    err = clBuildProgram(prog, 1, &cl->info.device, opts, NULL, NULL);
    if (err != CL_SUCCESS) {
        keep_log(prog, cl->info.device);
        clReleaseProgram(prog);
        if (err == CL_BUILD_PROGRAM_FAILURE || err == CL_INVALID_BUILD_OPTIONS) {
            /* The message stays one line: the log's first error line only;
             * the whole log is in cldqn_cl_last_build_log(). */
            const char *log = cldqn_cl_last_build_log(), *e = strstr(log, "error");
            while (e && e > log && e[-1] != '\n') e--;
            int elen = e ? (int)strcspn(e, "\n") : 0;
            return cldqn_fail(
                CLDQN_ERR_BUILD, "building kernels/%s.cl failed: %s (options '%s')%s%.*s", name,
                cldqn_cl_error_name(err), opts, e ? ": " : "", elen > 300 ? 300 : elen, e ? e : "");
        }
        return cldqn_cl_check(err, "clBuildProgram", __FILE__, __LINE__);
    }
    *out = prog;
    return CLDQN_OK;
}

cldqn_status cldqn_cl_create_kernel(cl_program prog, const char *name, cl_kernel *out)
{
    cl_int err;
    *out = clCreateKernel(prog, name, &err);
    if (err != CL_SUCCESS) {
        *out = NULL;
        cldqn_cl_check(err, "clCreateKernel", __FILE__, __LINE__);
        return cldqn_fail(CLDQN_ERR_OPENCL, "clCreateKernel(%s) failed: %s", name,
                          cldqn_cl_error_name(err));
    }
    return CLDQN_OK;
}

size_t cldqn_cl_kernel_wg(const cldqn_cl *cl, cl_kernel k, size_t cap)
{
    size_t kwg = 0;
    if (clGetKernelWorkGroupInfo(k, cl->info.device, CL_KERNEL_WORK_GROUP_SIZE, sizeof kwg, &kwg,
                                 NULL) != CL_SUCCESS ||
        kwg == 0)
        kwg = 1;
    size_t wg = kwg < cl->info.max_work_group ? kwg : cl->info.max_work_group;
    if (cap && wg > cap) wg = cap;
    size_t p = 1;
    while (p * 2 <= wg) p *= 2;
    return p;
}

cldqn_status cldqn_cl_set_args(cl_kernel k, const char *kname, const cldqn_cl_arg *args, int n)
{
    for (int i = 0; i < n; i++) {
        cl_int err = clSetKernelArg(k, (cl_uint)i, args[i].size, args[i].value);
        if (err != CL_SUCCESS)
            return cldqn_fail(CLDQN_ERR_OPENCL, "clSetKernelArg(%s, %d) failed: %s at %s:%d", kname,
                              i, cldqn_cl_error_name(err), __FILE__, __LINE__);
    }
    return CLDQN_OK;
}

cldqn_status cldqn_cl_launch(cldqn_cl *cl, cl_kernel k, size_t n, size_t wg)
{
    if (n == 0) return CLDQN_OK;
    if (wg == 0) wg = 1;
    size_t global = (n + wg - 1) / wg * wg;
    CLDQN_CL_CHECK(clEnqueueNDRangeKernel(cl->queue, k, 1, NULL, &global, &wg, 0, NULL, NULL));
    return CLDQN_OK;
}
