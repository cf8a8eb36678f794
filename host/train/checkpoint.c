/* checkpoint.c - safetensors writing (atomic) and reading (validated).
 *
 * The header is JSON, written and parsed with cJSON. The reader checks the
 * header against the file's size before reading the data, refuses duplicate
 * keys (cJSON keeps them) and checks that every tensor's bytes match its
 * dtype and shape and that the tensors tile the data block exactly, as the
 * reference implementation requires. */
#define _GNU_SOURCE
#include "cldqn/checkpoint.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cldqn/files.h"
#include "cldqn/version.h"

#define MAX_HEADER   (100u * 1024 * 1024) /* the reference implementation's limit */
#define MAX_TENSORS  64
#define MAX_META     64
#define NAME_MAX_LEN 64

uint64_t cldqn_fnv1a(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 1099511628211ull;
    }
    return h;
}

static const struct {
    const char *name;
    size_t size;
} dtypes[] = {{"F32", 4}, {"F64", 8}, {"U8", 1}, {"I32", 4}, {"I64", 8}, {"U64", 8}};

static size_t dtype_size(const char *d)
{
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
        if (!strcmp(d, dtypes[i].name)) return dtypes[i].size;
    return 0;
}

/* ---- writing ---------------------------------------------------------- */

typedef struct {
    char *buf;
    size_t len;
} dstr;

/* Removes PATH.tmp.XXXXXX files that a process killed while saving left in
 * dir (the temporary names of cldqn_st_write; only after this save's own
 * rename, so its temporary file is gone already). Best effort. */
static void remove_stale_temps(const char *dir, const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t n = strlen(base);
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        const char *x = e->d_name;
        if (strncmp(x, base, n) || strncmp(x + n, ".tmp.", 5) || strlen(x + n + 5) != 6) continue;
        char full[4096];
        if ((size_t)snprintf(full, sizeof full, "%s/%s", dir, x) < sizeof full) unlink(full);
    }
    closedir(d);
}

static cldqn_status write_all(int fd, const void *data, size_t n, const char *path)
{
    const char *p = data;
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return cldqn_fail(CLDQN_ERR_IO, "cannot write '%s': %s", path, strerror(errno));
        }
        p += w;
        n -= (size_t)w;
    }
    return CLDQN_OK;
}

/* An integer as cJSON raw text: printed exactly (cJSON prints doubles, and
 * %1.15g would turn offsets past 10^15 into exponents). */
static cJSON *raw_uint(cJSON *array, unsigned long long v)
{
    char num[32];
    snprintf(num, sizeof num, "%llu", v);
    cJSON *n = cJSON_CreateRaw(num);
    if (n && !cJSON_AddItemToArray(array, n)) {
        cJSON_Delete(n);
        return NULL;
    }
    return n;
}

/* The header as cJSON prints it unformatted: the same bytes the Python
 * safetensors library writes for the same tensors. NULL when out of memory;
 * *bad set for a bad dtype or rank. */
static char *header_json(const cldqn_st_entry *e, int n, const char *const *meta, int *bad)
{
    *bad = -1;
    cJSON *root = cJSON_CreateObject();
    int ok = root != NULL;
    if (ok && meta && meta[0]) {
        cJSON *m = cJSON_AddObjectToObject(root, "__metadata__");
        ok = m != NULL;
        for (int i = 0; ok && meta[i] && meta[i + 1]; i += 2)
            ok = cJSON_AddStringToObject(m, meta[i], meta[i + 1]) != NULL;
    }
    uint64_t off = 0;
    for (int i = 0; ok && i < n; i++) {
        size_t es = dtype_size(e[i].dtype);
        if (!es || e[i].ndim < 0 || e[i].ndim > CLDQN_ST_MAX_DIMS) {
            *bad = i;
            ok = 0;
            break;
        }
        uint64_t numel = 1;
        for (int k = 0; k < e[i].ndim; k++) numel *= (uint64_t)e[i].shape[k];
        cJSON *t = cJSON_AddObjectToObject(root, e[i].name);
        cJSON *shape = t && cJSON_AddStringToObject(t, "dtype", e[i].dtype)
                           ? cJSON_AddArrayToObject(t, "shape")
                           : NULL;
        ok = shape != NULL;
        for (int k = 0; ok && k < e[i].ndim; k++)
            ok = raw_uint(shape, (unsigned long long)e[i].shape[k]) != NULL;
        cJSON *offs = ok ? cJSON_AddArrayToObject(t, "data_offsets") : NULL;
        ok = offs && raw_uint(offs, off) && raw_uint(offs, off + numel * es);
        off += numel * es;
    }
    char *text = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    return text;
}

cldqn_status cldqn_st_write(const char *path, const cldqn_st_entry *e, int n,
                            const char *const *meta)
{
    int bad;
    char *json = header_json(e, n, meta, &bad);
    if (bad >= 0) return cldqn_fail(CLDQN_ERR_ARG, "tensor '%s': bad dtype or rank", e[bad].name);
    /* Padded with spaces so the data starts 8-byte aligned, as safetensors does. */
    size_t jlen = json ? strlen(json) : 0;
    dstr h = {json ? malloc(jlen + 8) : NULL, (jlen + 7) / 8 * 8};
    if (h.buf) {
        memcpy(h.buf, json, jlen);
        memset(h.buf + jlen, ' ', h.len - jlen);
    }
    cJSON_free(json);
    if (!h.buf) return cldqn_fail(CLDQN_ERR_NOMEM, "out of memory writing '%s'", path);

    /* rename() would replace a device, FIFO or directory at path. */
    cldqn_status ok = cldqn_output_check("save", path, 11 /* .tmp.XXXXXX */, 0);
    if (ok != CLDQN_OK) {
        free(h.buf);
        return ok;
    }
    /* Temporary file in the target's directory so rename() is atomic. */
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 16), *dircopy = strdup(path);
    if (!tmp || !dircopy) {
        free(tmp);
        free(dircopy);
        free(h.buf);
        return cldqn_fail(CLDQN_ERR_NOMEM, "out of memory writing '%s'", path);
    }
    snprintf(tmp, plen + 16, "%s.tmp.XXXXXX", path);
    cldqn_status st = CLDQN_OK;
    int fd = mkstemp(tmp);
    if (fd < 0) {
        st = cldqn_fail(CLDQN_ERR_IO, "cannot write '%s': %s", path, strerror(errno));
        goto out;
    }
    unsigned char len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)h.len >> (8 * i));
    st = write_all(fd, len8, 8, path);
    if (!st) st = write_all(fd, h.buf, h.len, path);
    for (int i = 0; !st && i < n; i++) {
        uint64_t numel = 1;
        for (int k = 0; k < e[i].ndim; k++) numel *= (uint64_t)e[i].shape[k];
        st = write_all(fd, e[i].data, numel * dtype_size(e[i].dtype), path);
    }
    if (!st && fchmod(fd, 0644) != 0) { /* mkstemp makes 0600 */
    }
    if (!st && fsync(fd) != 0)
        st = cldqn_fail(CLDQN_ERR_IO, "cannot write '%s': %s", path, strerror(errno));
    if (close(fd) != 0 && !st)
        st = cldqn_fail(CLDQN_ERR_IO, "cannot write '%s': %s", path, strerror(errno));
    if (!st && rename(tmp, path) != 0)
        st = cldqn_fail(CLDQN_ERR_IO, "cannot write '%s': %s", path, strerror(errno));
    if (st) {
        unlink(tmp);
        goto out;
    }
    const char *dir = dirname(dircopy);
    int dfd = open(dir, O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) {
        fsync(dfd); /* best effort: some filesystems refuse fsync on directories */
        close(dfd);
    }
    remove_stale_temps(dir, path);
out:
    free(tmp);
    free(dircopy);
    free(h.buf);
    return st;
}

/* ---- reading ---------------------------------------------------------- */

typedef struct {
    char name[NAME_MAX_LEN];
    char dtype[8];
    int ndim;
    int64_t shape[CLDQN_ST_MAX_DIMS];
    uint64_t begin, end;
} st_tensor;

struct cldqn_st_file {
    char *path;
    unsigned char *bytes;
    size_t size;
    const unsigned char *data; /* after the header */
    size_t data_size;
    int n_tensors, n_meta;
    st_tensor t[MAX_TENSORS];
    char *meta_key[MAX_META], *meta_val[MAX_META];
};

static cldqn_status perr(const char *path, const char *what)
{
    return cldqn_fail(CLDQN_ERR_FORMAT, "'%s': bad safetensors header: %s", path, what);
}

/* cJSON takes any byte up to ' ' for white space and raw control bytes in
 * strings, and builds a node per value: control bytes outside \t \n \r are
 * refused here, and the number of values is bounded before cJSON allocates
 * (a 100 MB header of "[0,0,..." would take gigabytes). */
#define MAX_VALUES (MAX_TENSORS * (4 + CLDQN_ST_MAX_DIMS + 2) + 2 * MAX_META + 16)

static const char *prescan(const char *p, size_t n)
{
    size_t values = 0;
    int in_string = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c < 0x20 && (in_string || (c != ' ' && c != '\t' && c != '\n' && c != '\r')))
            return "control character";
        if (in_string) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_string = 0;
        } else if (c == '"') {
            in_string = 1;
        } else if ((c == ',' || c == '[' || c == '{' || c == ':') && ++values > MAX_VALUES) {
            return "too many values";
        }
    }
    return NULL;
}

/* A JSON integer in [0, max]: cJSON holds numbers as doubles, so max is at
 * most 2^53 - 1, past which 2^53 + 1 would read as 2^53. */
static int json_uint(const cJSON *v, double max, uint64_t *out)
{
    if (!cJSON_IsNumber(v)) return 0;
    double d = v->valuedouble;
    if (!(d >= 0 && d <= max) || d != floor(d)) return 0;
    *out = (uint64_t)d;
    return 1;
}

#define MAX_EXACT 9007199254740991.0

/* [n, n, ...] into vals (at most maxn). Returns the count or -1. */
static int uint_array(const cJSON *a, uint64_t *vals, int maxn, double max)
{
    if (!cJSON_IsArray(a)) return -1;
    int n = 0;
    for (const cJSON *v = a->child; v; v = v->next)
        if (n >= maxn || !json_uint(v, max, &vals[n++])) return -1;
    return n;
}

/* Whether an earlier member of the same object has key's name. */
static int duplicate(const cJSON *key)
{
    for (const cJSON *o = key->prev; o && o->next; o = o->prev)
        if (!strcmp(o->string, key->string)) return 1;
    return 0;
}

static cldqn_status parse_tensor(const char *path, cldqn_st_file *f, const cJSON *e)
{
    if (f->n_tensors >= MAX_TENSORS) return perr(path, "too many tensors");
    if (strlen(e->string) >= NAME_MAX_LEN) return perr(path, "tensor name too long");
    st_tensor *t = &f->t[f->n_tensors];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", e->string);
    if (!cJSON_IsObject(e)) return perr(path, "tensor entry is not an object");
    int have = 0;
    for (const cJSON *k = e->child; k; k = k->next) {
        if (duplicate(k)) return perr(path, "duplicate key in tensor entry");
        if (!strcmp(k->string, "dtype")) {
            const char *d = cJSON_GetStringValue(k);
            if (!d || !dtype_size(d) || strlen(d) >= sizeof t->dtype)
                return perr(path, "unknown dtype");
            strcpy(t->dtype, d);
            have |= 1;
        } else if (!strcmp(k->string, "shape")) {
            uint64_t v[CLDQN_ST_MAX_DIMS];
            int n = uint_array(k, v, CLDQN_ST_MAX_DIMS, MAX_EXACT);
            if (n < 0) return perr(path, "bad shape");
            t->ndim = n;
            for (int i = 0; i < n; i++) {
                if (v[i] > (1ull << 40)) return perr(path, "shape too large");
                t->shape[i] = (int64_t)v[i];
            }
            have |= 2;
        } else if (!strcmp(k->string, "data_offsets")) {
            uint64_t v[2];
            if (uint_array(k, v, 2, MAX_EXACT) != 2) return perr(path, "bad data_offsets");
            t->begin = v[0];
            t->end = v[1];
            have |= 4;
        } else {
            return perr(path, "unknown key in tensor entry");
        }
    }
    if (have != 7) return perr(path, "tensor entry lacks dtype, shape or data_offsets");
    f->n_tensors++;
    return CLDQN_OK;
}

static cldqn_status parse_meta(const char *path, cldqn_st_file *f, const cJSON *m)
{
    if (!cJSON_IsObject(m)) return perr(path, "__metadata__ is not an object");
    for (const cJSON *e = m->child; e; e = e->next) {
        if (f->n_meta >= MAX_META) return perr(path, "too many metadata entries");
        if (duplicate(e)) return perr(path, "duplicate metadata key");
        const char *v = cJSON_GetStringValue(e);
        if (!v) return perr(path, "metadata values must be strings");
        f->meta_key[f->n_meta] = strdup(e->string);
        f->meta_val[f->n_meta] = strdup(v);
        if (!f->meta_key[f->n_meta] || !f->meta_val[f->n_meta++])
            return cldqn_fail(CLDQN_ERR_NOMEM, "out of memory reading '%s'", path);
    }
    return CLDQN_OK;
}

/* The header's JSON (n bytes at p) into f. */
static cldqn_status parse_header(const char *path, cldqn_st_file *f, const char *p, size_t n)
{
    const char *bad = prescan(p, n);
    if (bad) return perr(path, bad);
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(p, n, &end, 0);
    if (!root) {
        char what[64];
        snprintf(what, sizeof what, "not valid JSON (at byte %zu)",
                 end && end >= p ? (size_t)(end - p) : (size_t)0);
        return perr(path, what);
    }
    cldqn_status st = CLDQN_OK;
    if (!cJSON_IsObject(root)) st = perr(path, "not a JSON object");
    for (const char *q = end; !st && q < p + n; q++)
        if (*q != ' ' && *q != '\t' && *q != '\n' && *q != '\r')
            st = perr(path, "trailing bytes after the JSON object");
    for (const cJSON *e = root->child; !st && e; e = e->next) {
        if (duplicate(e))
            st = perr(path, strcmp(e->string, "__metadata__") ? "duplicate tensor name"
                                                              : "duplicate __metadata__");
        else if (!strcmp(e->string, "__metadata__"))
            st = parse_meta(path, f, e);
        else
            st = parse_tensor(path, f, e);
    }
    cJSON_Delete(root);
    return st;
}

static int cmp_begin(const void *a, const void *b)
{
    const st_tensor *x = *(const st_tensor *const *)a, *y = *(const st_tensor *const *)b;
    return x->begin < y->begin ? -1 : x->begin > y->begin;
}

static cldqn_status validate(cldqn_st_file *f, const char *path)
{
    const st_tensor *order[MAX_TENSORS];
    for (int i = 0; i < f->n_tensors; i++) {
        const st_tensor *t = &f->t[i];
        uint64_t numel = 1;
        for (int k = 0; k < t->ndim; k++) numel *= (uint64_t)t->shape[k];
        if (t->end < t->begin || t->end - t->begin != numel * dtype_size(t->dtype))
            return cldqn_fail(CLDQN_ERR_FORMAT,
                              "'%s': tensor '%s': data_offsets do not match dtype and shape", path,
                              t->name);
        order[i] = t;
    }
    qsort(order, (size_t)f->n_tensors, sizeof order[0], cmp_begin);
    uint64_t at = 0;
    for (int i = 0; i < f->n_tensors; i++) {
        if (order[i]->begin != at)
            return cldqn_fail(CLDQN_ERR_FORMAT,
                              "'%s': tensor '%s': data_offsets overlap or leave a gap", path,
                              order[i]->name);
        at = order[i]->end;
    }
    if (at > f->data_size)
        return cldqn_fail(CLDQN_ERR_FORMAT,
                          "'%s': truncated: tensors need %llu data bytes, file has %zu", path,
                          (unsigned long long)at, f->data_size);
    if (at < f->data_size)
        return cldqn_fail(CLDQN_ERR_FORMAT,
                          "'%s': %zu bytes after the last tensor are described by no tensor in "
                          "the header (a tensor missing from it, or a damaged file)",
                          path, f->data_size - (size_t)at);
    return CLDQN_OK;
}

void cldqn_st_free(cldqn_st_file *f)
{
    if (!f) return;
    for (int i = 0; i < f->n_meta; i++) {
        free(f->meta_key[i]);
        free(f->meta_val[i]);
    }
    free(f->bytes);
    free(f->path);
    free(f);
}

/* Reads n bytes at the current position of fp into buf. */
static int read_all(FILE *fp, void *buf, size_t n)
{
    return fread(buf, 1, n, fp) == n && !ferror(fp);
}

/* The header is read and checked against the file's size before the tensor
 * data is: a damaged or foreign file fails after a few bytes, however large
 * it is, and a FIFO or device is refused without blocking on it. */
cldqn_status cldqn_st_read(const char *path, cldqn_st_file **out)
{
    *out = NULL;
    FILE *fp;
    size_t fsize;
    cldqn_status ost = cldqn_open_regular("", path, &fp, &fsize);
    if (ost != CLDQN_OK) return ost;
    cldqn_st_file *f = calloc(1, sizeof *f);
    if (f) f->path = strdup(path);
    if (!f || !f->path) {
        fclose(fp);
        cldqn_st_free(f);
        return cldqn_fail(CLDQN_ERR_NOMEM, "out of memory reading '%s'", path);
    }
    f->size = fsize;
    cldqn_status st = CLDQN_OK;
    unsigned char prefix[8];
    if (f->size < 8) {
        st = cldqn_fail(CLDQN_ERR_FORMAT, "'%s': truncated: %zu bytes, no safetensors header", path,
                        f->size);
        goto fail;
    }
    if (!read_all(fp, prefix, 8)) {
        st = cldqn_fail(CLDQN_ERR_IO, "cannot read '%s'", path);
        goto fail;
    }
    uint64_t hlen = 0;
    for (int i = 0; i < 8; i++) hlen |= (uint64_t)prefix[i] << (8 * i);
    if (hlen < 2 || hlen > MAX_HEADER) {
        st = cldqn_fail(CLDQN_ERR_FORMAT, "'%s': not a safetensors file (header length %llu)", path,
                        (unsigned long long)hlen);
        goto fail;
    }
    if (hlen > f->size - 8) {
        st = cldqn_fail(CLDQN_ERR_FORMAT, "'%s': truncated: header of %llu bytes, file has %zu",
                        path, (unsigned long long)hlen, f->size);
        goto fail;
    }
    f->bytes = malloc(8 + (size_t)hlen);
    if (!f->bytes) {
        st = cldqn_fail(CLDQN_ERR_NOMEM, "out of memory reading '%s'", path);
        goto fail;
    }
    memcpy(f->bytes, prefix, 8);
    if (!read_all(fp, f->bytes + 8, (size_t)hlen)) {
        st = cldqn_fail(CLDQN_ERR_IO, "cannot read '%s'", path);
        goto fail;
    }
    f->data_size = f->size - 8 - (size_t)hlen;
    st = parse_header(path, f, (const char *)f->bytes + 8, (size_t)hlen);
    if (st) goto fail;
    st = validate(f, path);
    if (st) goto fail;
    /* The header agrees with the file's size: now the tensor data. */
    unsigned char *all = realloc(f->bytes, f->size);
    if (!all) {
        st = cldqn_fail(CLDQN_ERR_NOMEM, "out of memory reading '%s'", path);
        goto fail;
    }
    f->bytes = all;
    if (!read_all(fp, f->bytes + 8 + hlen, f->data_size)) {
        st = cldqn_fail(CLDQN_ERR_IO, "cannot read '%s'", path);
        goto fail;
    }
    f->data = f->bytes + 8 + hlen;
    fclose(fp);
    *out = f;
    return CLDQN_OK;
fail:
    fclose(fp);
    cldqn_st_free(f);
    return st;
}

int cldqn_st_count(const cldqn_st_file *f)
{
    return f->n_tensors;
}

const char *cldqn_st_name(const cldqn_st_file *f, int i)
{
    return i >= 0 && i < f->n_tensors ? f->t[i].name : NULL;
}

const char *cldqn_st_dtype(const cldqn_st_file *f, int i)
{
    return i >= 0 && i < f->n_tensors ? f->t[i].dtype : NULL;
}

const char *cldqn_st_meta(const cldqn_st_file *f, const char *key)
{
    for (int i = 0; i < f->n_meta; i++)
        if (!strcmp(f->meta_key[i], key)) return f->meta_val[i];
    return NULL;
}

static void shape_text(int ndim, const int64_t *shape, char *buf, size_t size)
{
    size_t n = (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < ndim && n < size; i++)
        n += (size_t)snprintf(buf + n, size - n, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (n < size) snprintf(buf + n, size - n, "]");
}

cldqn_status cldqn_st_get(const cldqn_st_file *f, const char *name, const char *dtype, int ndim,
                          const int64_t *shape, const void **data, size_t *nbytes)
{
    for (int i = 0; i < f->n_tensors; i++) {
        const st_tensor *t = &f->t[i];
        if (strcmp(t->name, name)) continue;
        if (strcmp(t->dtype, dtype))
            return cldqn_fail(CLDQN_ERR_FORMAT, "'%s': tensor '%s' is %s, expected %s", f->path,
                              name, t->dtype, dtype);
        if (shape && (t->ndim != ndim || memcmp(t->shape, shape, sizeof(int64_t) * (size_t)ndim))) {
            char got[96], want[96];
            shape_text(t->ndim, t->shape, got, sizeof got);
            shape_text(ndim, shape, want, sizeof want);
            return cldqn_fail(CLDQN_ERR_FORMAT, "'%s': tensor '%s' has shape %s, expected %s",
                              f->path, name, got, want);
        }
        *data = f->data + t->begin;
        if (nbytes) *nbytes = (size_t)(t->end - t->begin);
        return CLDQN_OK;
    }
    return cldqn_fail(CLDQN_ERR_FORMAT, "'%s': no tensor '%s'", f->path, name);
}

uint64_t cldqn_st_data_hash(const cldqn_st_file *f)
{
    return cldqn_fnv1a(CLDQN_FNV_OFFSET, f->data, f->data_size);
}

/* ---- weights checkpoints ------------------------------------------------ */

cldqn_status cldqn_checkpoint_save(const char *path, const cldqn_config *cfg,
                                   const cldqn_layout *lay, const float *params,
                                   const char *const *extra_meta)
{
    cldqn_st_entry e[CLDQN_MAX_TENSORS];
    for (int i = 0; i < lay->n_tensors; i++) {
        const cldqn_tensor *t = &lay->t[i];
        e[i].name = t->name;
        e[i].dtype = "F32";
        e[i].ndim = t->cols ? 2 : 1;
        e[i].shape[0] = t->rows;
        e[i].shape[1] = t->cols;
        e[i].data = params + t->offset;
    }
    size_t need = cldqn_config_to_json(cfg, NULL, 0);
    char *json = need ? malloc(need + 1) : NULL; /* 0: out of memory */
    if (!json) return cldqn_fail(CLDQN_ERR_NOMEM, "out of memory saving '%s'", path);
    cldqn_config_to_json(cfg, json, need + 1);
    char sh[5][16];
    snprintf(sh[0], 16, "%d", lay->shape.n_states);
    snprintf(sh[1], 16, "%d", lay->shape.n_actions);
    snprintf(sh[2], 16, "%d", lay->shape.embed);
    snprintf(sh[3], 16, "%d", lay->shape.hidden);
    snprintf(sh[4], 16, "%d", lay->shape.layers);
    const char *meta[2 * MAX_META + 1];
    int m = 0;
    const char *base[] = {"format",   "cldqn", "version",   CLDQN_VERSION, "config", json,
                          "n_states", sh[0],   "n_actions", sh[1],         "embed",  sh[2],
                          "hidden",   sh[3],   "layers",    sh[4]};
    for (size_t i = 0; i < sizeof base / sizeof base[0]; i++) meta[m++] = base[i];
    for (int i = 0; extra_meta && extra_meta[i] && extra_meta[i + 1] && m + 2 < 2 * MAX_META;
         i += 2) {
        meta[m++] = extra_meta[i];
        meta[m++] = extra_meta[i + 1];
    }
    meta[m] = NULL;
    cldqn_status st = cldqn_st_write(path, e, lay->n_tensors, meta);
    free(json);
    return st;
}

cldqn_status cldqn_checkpoint_load(const char *path, cldqn_config *cfg, cldqn_layout *lay,
                                   float **params)
{
    *params = NULL;
    cldqn_st_file *f;
    cldqn_status st = cldqn_st_read(path, &f);
    if (st) return st;
    const char *fmt = cldqn_st_meta(f, "format"), *json = cldqn_st_meta(f, "config");
    if (!fmt || strcmp(fmt, "cldqn") || !json) {
        cldqn_st_free(f);
        return cldqn_fail(CLDQN_ERR_FORMAT, "'%s': not a cldqn checkpoint (no cldqn metadata)",
                          path);
    }
    /* The stored JSON names its preset; its keys override the preset's. */
    char preset[16];
    cldqn_config_json_preset(json, preset, sizeof preset);
    cldqn_config c;
    if (cldqn_config_preset(&c, preset) != CLDQN_OK) cldqn_config_preset(&c, "default");
    st = cldqn_config_from_json(&c, json);
    char msg[512];
    snprintf(msg, sizeof msg, "%s", cldqn_last_error()); /* the buffer is reused below */
    if (st) {
        cldqn_st_free(f);
        return cldqn_fail(CLDQN_ERR_FORMAT, "'%s': %s", path, msg);
    }
    cldqn_layout L;
    c.shape.n_states = CLDQN_TAXI_STATES;
    c.shape.n_actions = CLDQN_TAXI_ACTIONS;
    st = cldqn_layout_init(&c.shape, &L);
    if (st) {
        snprintf(msg, sizeof msg, "%s", cldqn_last_error());
        cldqn_st_free(f);
        return cldqn_fail(CLDQN_ERR_FORMAT, "'%s': stored shape: %s", path, msg);
    }
    float *p = malloc(sizeof(float) * L.total);
    if (!p) {
        cldqn_st_free(f);
        return cldqn_fail(CLDQN_ERR_NOMEM, "out of memory loading '%s'", path);
    }
    for (int i = 0; i < L.n_tensors; i++) {
        const cldqn_tensor *t = &L.t[i];
        int64_t shape[2] = {t->rows, t->cols};
        const void *d;
        st = cldqn_st_get(f, t->name, "F32", t->cols ? 2 : 1, shape, &d, NULL);
        if (st) break;
        memcpy(p + t->offset, d, sizeof(float) * cldqn_tensor_numel(t));
    }
    /* A file with extra tensors is someone else's network. */
    if (!st && f->n_tensors != L.n_tensors)
        st = cldqn_fail(CLDQN_ERR_FORMAT, "'%s': %d tensors, expected %d for this shape", path,
                        f->n_tensors, L.n_tensors);
    /* The shape keys beside the config are what other readers
     * (tools/load_checkpoint.py) build their model from: they must agree. */
    const struct {
        const char *key;
        int want;
    } keys[] = {{"n_states", c.shape.n_states},
                {"n_actions", c.shape.n_actions},
                {"embed", c.shape.embed},
                {"hidden", c.shape.hidden},
                {"layers", c.shape.layers}};
    for (size_t i = 0; !st && i < sizeof keys / sizeof keys[0]; i++) {
        const char *v = cldqn_st_meta(f, keys[i].key);
        char *end;
        long got = v ? strtol(v, &end, 10) : 0;
        if (v && (!*v || *end || got != keys[i].want))
            st = cldqn_fail(CLDQN_ERR_FORMAT,
                            "'%s': metadata %s = '%.32s' disagrees with the tensors' shapes (%d)",
                            path, keys[i].key, v, keys[i].want);
    }
    for (size_t i = 0; !st && i < L.total; i++)
        if (!isfinite(p[i]))
            st = cldqn_fail(CLDQN_ERR_FORMAT, "'%s': non-finite weight at index %zu", path, i);
    cldqn_st_free(f);
    if (st) {
        free(p);
        return st;
    }
    *cfg = c;
    *lay = L;
    *params = p;
    return CLDQN_OK;
}
