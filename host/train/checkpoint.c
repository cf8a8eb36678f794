/* checkpoint.c - safetensors writing (atomic) and reading (validated).
 *
 * The reader loads the whole file, parses the JSON header with a small
 * strict parser (objects, arrays, strings with escapes, integers) and checks
 * that every tensor's bytes match its dtype and shape and that the tensors
 * tile the data block exactly, as the reference implementation requires. */
#define _GNU_SOURCE
#include "cldqn/checkpoint.h"

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
    size_t len, cap;
    int oom;
} dstr;

static void ds_put(dstr *d, const char *s, size_t n)
{
    if (d->oom) return;
    if (d->len + n + 1 > d->cap) {
        size_t cap = d->cap ? d->cap : 1024;
        while (cap < d->len + n + 1) cap *= 2;
        char *nb = realloc(d->buf, cap);
        if (!nb) {
            d->oom = 1;
            return;
        }
        d->buf = nb;
        d->cap = cap;
    }
    memcpy(d->buf + d->len, s, n);
    d->len += n;
    d->buf[d->len] = 0;
}

static void ds_str(dstr *d, const char *s)
{
    ds_put(d, s, strlen(s));
}

static void ds_json_string(dstr *d, const char *s)
{
    ds_put(d, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        char esc[8];
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            ds_put(d, esc, 2);
        } else if (c < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", c);
            ds_put(d, esc, 6);
        } else {
            ds_put(d, (const char *)&c, 1);
        }
    }
    ds_put(d, "\"", 1);
}

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

cldqn_status cldqn_st_write(const char *path, const cldqn_st_entry *e, int n,
                            const char *const *meta)
{
    dstr h = {0};
    char num[64];
    uint64_t off = 0;
    ds_str(&h, "{");
    if (meta && meta[0]) {
        ds_str(&h, "\"__metadata__\":{");
        for (int i = 0; meta[i] && meta[i + 1]; i += 2) {
            if (i) ds_str(&h, ",");
            ds_json_string(&h, meta[i]);
            ds_str(&h, ":");
            ds_json_string(&h, meta[i + 1]);
        }
        ds_str(&h, "}");
    }
    for (int i = 0; i < n; i++) {
        size_t es = dtype_size(e[i].dtype);
        if (!es || e[i].ndim < 0 || e[i].ndim > CLDQN_ST_MAX_DIMS) {
            free(h.buf);
            return cldqn_fail(CLDQN_ERR_ARG, "tensor '%s': bad dtype or rank", e[i].name);
        }
        uint64_t numel = 1;
        for (int k = 0; k < e[i].ndim; k++) numel *= (uint64_t)e[i].shape[k];
        if (h.len > 1) ds_str(&h, ",");
        ds_json_string(&h, e[i].name);
        ds_str(&h, ":{\"dtype\":\"");
        ds_str(&h, e[i].dtype);
        ds_str(&h, "\",\"shape\":[");
        for (int k = 0; k < e[i].ndim; k++) {
            snprintf(num, sizeof num, "%s%lld", k ? "," : "", (long long)e[i].shape[k]);
            ds_str(&h, num);
        }
        snprintf(num, sizeof num, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)off,
                 (unsigned long long)(off + numel * es));
        ds_str(&h, num);
        off += numel * es;
    }
    ds_str(&h, "}");
    /* Pad with spaces so the data starts 8-byte aligned, as safetensors does. */
    while (!h.oom && h.len % 8) ds_str(&h, " ");
    if (h.oom) {
        free(h.buf);
        return cldqn_fail(CLDQN_ERR_NOMEM, "out of memory writing '%s'", path);
    }

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

typedef struct {
    const char *p, *end;
    const char *path;
} parser;

static cldqn_status perr(const parser *ps, const char *what)
{
    return cldqn_fail(CLDQN_ERR_FORMAT, "'%s': bad safetensors header: %s", ps->path, what);
}

static void ws(parser *ps)
{
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
        ps->p++;
}

static int expect(parser *ps, char c)
{
    ws(ps);
    if (ps->p < ps->end && *ps->p == c) {
        ps->p++;
        return 1;
    }
    return 0;
}

/* Parses a JSON string into a malloc'd UTF-8 C string (no embedded NULs). */
static char *parse_string(parser *ps)
{
    ws(ps);
    if (ps->p >= ps->end || *ps->p != '"') return NULL;
    ps->p++;
    size_t cap = 32, len = 0;
    char *s = malloc(cap);
    if (!s) return NULL;
    while (ps->p < ps->end && *ps->p != '"') {
        unsigned c = (unsigned char)*ps->p++;
        if (c < 0x20) goto bad;
        if (c == '\\') {
            if (ps->p >= ps->end) goto bad;
            char e = *ps->p++;
            switch (e) {
            case '"':
                c = '"';
                break;
            case '\\':
                c = '\\';
                break;
            case '/':
                c = '/';
                break;
            case 'b':
                c = '\b';
                break;
            case 'f':
                c = '\f';
                break;
            case 'n':
                c = '\n';
                break;
            case 'r':
                c = '\r';
                break;
            case 't':
                c = '\t';
                break;
            case 'u': {
                if (ps->end - ps->p < 4) goto bad;
                unsigned u = 0;
                for (int i = 0; i < 4; i++) {
                    char h = *ps->p++;
                    u <<= 4;
                    if (h >= '0' && h <= '9')
                        u |= (unsigned)(h - '0');
                    else if (h >= 'a' && h <= 'f')
                        u |= (unsigned)(h - 'a' + 10);
                    else if (h >= 'A' && h <= 'F')
                        u |= (unsigned)(h - 'A' + 10);
                    else
                        goto bad;
                }
                if (u == 0 || u >= 0x80) goto bad; /* our files only escape control chars */
                c = u;
                break;
            }
            default:
                goto bad;
            }
        }
        if (len + 2 > cap) {
            char *ns = realloc(s, cap *= 2);
            if (!ns) goto bad;
            s = ns;
        }
        s[len++] = (char)c;
    }
    if (ps->p >= ps->end) goto bad;
    ps->p++;
    s[len] = 0;
    return s;
bad:
    free(s);
    return NULL;
}

static int parse_uint(parser *ps, uint64_t *out)
{
    ws(ps);
    if (ps->p >= ps->end || *ps->p < '0' || *ps->p > '9') return 0;
    uint64_t v = 0;
    while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9') {
        if (v > (UINT64_MAX - 9) / 10) return 0;
        v = v * 10 + (uint64_t)(*ps->p++ - '0');
    }
    *out = v;
    return 1;
}

/* [n, n, ...] into vals (at most maxn). Returns count or -1. */
static int parse_uint_array(parser *ps, uint64_t *vals, int maxn)
{
    if (!expect(ps, '[')) return -1;
    int n = 0;
    if (expect(ps, ']')) return 0;
    for (;;) {
        if (n >= maxn || !parse_uint(ps, &vals[n])) return -1;
        n++;
        if (expect(ps, ']')) return n;
        if (!expect(ps, ',')) return -1;
    }
}

static cldqn_status parse_tensor(parser *ps, cldqn_st_file *f, char *name)
{
    if (f->n_tensors >= MAX_TENSORS) return free(name), perr(ps, "too many tensors");
    if (strlen(name) >= NAME_MAX_LEN) return free(name), perr(ps, "tensor name too long");
    for (int i = 0; i < f->n_tensors; i++)
        if (!strcmp(f->t[i].name, name)) return free(name), perr(ps, "duplicate tensor name");
    st_tensor *t = &f->t[f->n_tensors];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    free(name);
    int have = 0;
    if (!expect(ps, '{')) return perr(ps, "tensor entry is not an object");
    if (!expect(ps, '}')) {
        for (;;) {
            char *k = parse_string(ps);
            if (!k) return perr(ps, "bad key in tensor entry");
            if (!expect(ps, ':')) return free(k), perr(ps, "expected ':'");
            if (!strcmp(k, "dtype")) {
                char *d = parse_string(ps);
                if (!d || !dtype_size(d) || strlen(d) >= sizeof t->dtype) {
                    free(d);
                    free(k);
                    return perr(ps, "unknown dtype");
                }
                strcpy(t->dtype, d);
                free(d);
                have |= 1;
            } else if (!strcmp(k, "shape")) {
                uint64_t v[CLDQN_ST_MAX_DIMS];
                int n = parse_uint_array(ps, v, CLDQN_ST_MAX_DIMS);
                if (n < 0) return free(k), perr(ps, "bad shape");
                t->ndim = n;
                for (int i = 0; i < n; i++) {
                    if (v[i] > (1ull << 40)) return free(k), perr(ps, "shape too large");
                    t->shape[i] = (int64_t)v[i];
                }
                have |= 2;
            } else if (!strcmp(k, "data_offsets")) {
                uint64_t v[2];
                if (parse_uint_array(ps, v, 2) != 2) return free(k), perr(ps, "bad data_offsets");
                t->begin = v[0];
                t->end = v[1];
                have |= 4;
            } else {
                free(k);
                return perr(ps, "unknown key in tensor entry");
            }
            free(k);
            if (expect(ps, '}')) break;
            if (!expect(ps, ',')) return perr(ps, "expected ',' or '}'");
        }
    }
    if (have != 7) return perr(ps, "tensor entry lacks dtype, shape or data_offsets");
    f->n_tensors++;
    return CLDQN_OK;
}

static cldqn_status parse_meta(parser *ps, cldqn_st_file *f)
{
    if (!expect(ps, '{')) return perr(ps, "__metadata__ is not an object");
    if (expect(ps, '}')) return CLDQN_OK;
    for (;;) {
        if (f->n_meta >= MAX_META) return perr(ps, "too many metadata entries");
        char *k = parse_string(ps);
        if (!k) return perr(ps, "bad metadata key");
        if (!expect(ps, ':')) return free(k), perr(ps, "expected ':'");
        char *v = parse_string(ps);
        if (!v) return free(k), perr(ps, "metadata values must be strings");
        f->meta_key[f->n_meta] = k;
        f->meta_val[f->n_meta++] = v;
        if (expect(ps, '}')) return CLDQN_OK;
        if (!expect(ps, ',')) return perr(ps, "expected ',' or '}'");
    }
}

static int cmp_begin(const void *a, const void *b)
{
    const st_tensor *x = *(const st_tensor *const *)a, *y = *(const st_tensor *const *)b;
    return x->begin < y->begin ? -1 : x->begin > y->begin;
}

static cldqn_status validate(cldqn_st_file *f, parser *ps)
{
    const st_tensor *order[MAX_TENSORS];
    for (int i = 0; i < f->n_tensors; i++) {
        const st_tensor *t = &f->t[i];
        uint64_t numel = 1;
        for (int k = 0; k < t->ndim; k++) numel *= (uint64_t)t->shape[k];
        if (t->end < t->begin || t->end - t->begin != numel * dtype_size(t->dtype))
            return cldqn_fail(CLDQN_ERR_FORMAT,
                              "'%s': tensor '%s': data_offsets do not match dtype and shape",
                              ps->path, t->name);
        order[i] = t;
    }
    qsort(order, (size_t)f->n_tensors, sizeof order[0], cmp_begin);
    uint64_t at = 0;
    for (int i = 0; i < f->n_tensors; i++) {
        if (order[i]->begin != at)
            return cldqn_fail(CLDQN_ERR_FORMAT,
                              "'%s': tensor '%s': data_offsets overlap or leave a gap", ps->path,
                              order[i]->name);
        at = order[i]->end;
    }
    if (at > f->data_size)
        return cldqn_fail(CLDQN_ERR_FORMAT,
                          "'%s': truncated: tensors need %llu data bytes, file has %zu", ps->path,
                          (unsigned long long)at, f->data_size);
    if (at < f->data_size)
        return cldqn_fail(CLDQN_ERR_FORMAT,
                          "'%s': %zu bytes after the last tensor are described by no tensor in "
                          "the header (a tensor missing from it, or a damaged file)",
                          ps->path, f->data_size - (size_t)at);
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
    parser ps = {0, 0, path};
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
    ps.p = (const char *)f->bytes + 8;
    ps.end = ps.p + hlen;
    f->data_size = f->size - 8 - (size_t)hlen;
    if (!expect(&ps, '{')) {
        st = perr(&ps, "not a JSON object");
        goto fail;
    }
    if (!expect(&ps, '}')) {
        for (;;) {
            char *k = parse_string(&ps);
            if (!k) {
                st = perr(&ps, "bad key");
                goto fail;
            }
            if (!expect(&ps, ':')) {
                free(k);
                st = perr(&ps, "expected ':'");
                goto fail;
            }
            if (!strcmp(k, "__metadata__")) {
                free(k);
                st = parse_meta(&ps, f);
            } else {
                st = parse_tensor(&ps, f, k);
            }
            if (st) goto fail;
            if (expect(&ps, '}')) break;
            if (!expect(&ps, ',')) {
                st = perr(&ps, "expected ',' or '}'");
                goto fail;
            }
        }
    }
    ws(&ps);
    if (ps.p != ps.end) {
        st = perr(&ps, "trailing bytes after the JSON object");
        goto fail;
    }
    st = validate(f, &ps);
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
    char *json = malloc(need + 1);
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
    const char *pp = strstr(json, "\"preset\": \"");
    char preset[16] = "default";
    if (pp) sscanf(pp + 11, "%15[a-z]", preset);
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
