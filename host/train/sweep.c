/* sweep.c - a population's settings: which keys may differ between agents,
 * --sweep items and sweep files into K configurations (population.h). */
#define _GNU_SOURCE
#include "sweep.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cldqn/files.h"
#include "cldqn/population.h"

/* Which keys may differ, and how, is a column of config.c's key table. */
const char *const *cldqn_population_sweep_keys(void)
{
    return cldqn_config_sweep_keys();
}

const char *cldqn_sweep_keys_text(void)
{
    return cldqn_config_sweep_keys_text();
}

static int positive(const cldqn_config *c, const char *key)
{
    char v[64];
    cldqn_config_value(c, key, v, sizeof v);
    return strtod(v, NULL) > 0;
}

/* c with the sweepable settings of ref, for comparing the rest. */
cldqn_config cldqn_sweep_strip(const cldqn_config *c, const cldqn_config *ref)
{
    cldqn_config x = *c;
    for (const char *const *k = cldqn_config_sweep_keys(); *k; k++)
        if (cldqn_config_key_sweep(*k) == CLDQN_SWEEP_ANY || positive(c, *k) == positive(ref, *k))
            cldqn_config_copy_key(&x, ref, *k);
    return x;
}

enum { MAXV = 64 };

/* Splits "KEY=V1,V2,..." (key normalised to '-'); errors start with origin. */
static cldqn_status parse_item(const char *item, const char *origin, char key[32],
                               const char *vals[MAXV], size_t vlen[MAXV], int *nval)
{
    const char *eq = strchr(item, '=');
    size_t kl = eq ? (size_t)(eq - item) : 0;
    if (!eq || kl == 0 || kl >= 32 || !eq[1])
        return cldqn_fail(CLDQN_ERR_ARG, "%s: '%s' is not KEY=V1,V2,...", origin, item);
    memcpy(key, item, kl);
    key[kl] = 0;
    for (char *c = key; *c; c++)
        if (*c == '_') *c = '-';
    if (cldqn_config_key_sweep(key) == CLDQN_SWEEP_NO)
        return cldqn_fail(CLDQN_ERR_ARG, "%s: '%s' cannot differ between agents (only %s)", origin,
                          key, cldqn_config_sweep_keys_text());
    *nval = 0;
    for (const char *p = eq + 1;;) {
        size_t n = strcspn(p, ",");
        if (n == 0) return cldqn_fail(CLDQN_ERR_ARG, "%s: empty value in '%s'", origin, item);
        if (*nval == MAXV)
            return cldqn_fail(CLDQN_ERR_ARG, "%s: more than %d values for '%s'", origin, MAXV, key);
        vals[*nval] = p;
        vlen[(*nval)++] = n;
        if (!p[n]) break;
        p += n + 1;
    }
    return CLDQN_OK;
}

cldqn_status cldqn_population_configs(const cldqn_config *base, int k, const char *const *sweep,
                                      int n_sweep, cldqn_config **out, int *k_out)
{
    *out = NULL;
    *k_out = 0;
    int nval[16];
    const char *vals[16][MAXV];
    size_t vlen[16][MAXV];
    char keys[16][32];
    if (n_sweep > 16) return cldqn_fail(CLDQN_ERR_ARG, "--sweep: at most 16 settings");
    long combos = 1;
    for (int j = 0; j < n_sweep; j++) {
        cldqn_status st = parse_item(sweep[j], "--sweep", keys[j], vals[j], vlen[j], &nval[j]);
        if (st) return st;
        for (int i = 0; i < j; i++)
            if (!strcmp(keys[i], keys[j]))
                return cldqn_fail(CLDQN_ERR_ARG,
                                  "--sweep: '%s' given twice (one item per setting, "
                                  "its values separated by commas)",
                                  keys[j]);
        if (cldqn_config_key_sweep(keys[j]) == CLDQN_SWEEP_POSITIVE) {
            int zero = 0;
            for (int v = 0; v < nval[j]; v++) zero += strtod(vals[j][v], NULL) == 0;
            if (zero && zero < nval[j])
                return cldqn_fail(CLDQN_ERR_ARG,
                                  "--sweep %s: its values must be all > 0 or all 0 (one kernel "
                                  "program serves every agent)",
                                  keys[j]);
        }
        combos *= nval[j];
        if (combos > 1 << 16) return cldqn_fail(CLDQN_ERR_ARG, "--sweep: too many combinations");
    }
    if (k <= 0) k = (int)combos;
    if (k > 4096) return cldqn_fail(CLDQN_ERR_ARG, "--population %d: at most 4096 agents", k);
    cldqn_config *c = malloc((size_t)k * sizeof *c);
    if (!c) return cldqn_fail(CLDQN_ERR_NOMEM, "out of memory");
    for (int i = 0; i < k; i++) {
        c[i] = *base;
        c[i].seed = base->seed + (uint64_t)i;
        long r = i % combos;
        for (int j = n_sweep - 1; j >= 0; j--) { /* the last item varies fastest */
            int v = (int)(r % nval[j]);
            r /= nval[j];
            char text[64], origin[48];
            snprintf(text, sizeof text, "%.*s", (int)vlen[j][v], vals[j][v]);
            snprintf(origin, sizeof origin, "--sweep %s", keys[j]);
            cldqn_status st = cldqn_config_set(&c[i], keys[j], text, origin);
            if (st) {
                free(c);
                return st;
            }
        }
    }
    *out = c;
    *k_out = k;
    return CLDQN_OK;
}

cldqn_status cldqn_population_sweep_file(const cldqn_config *base, const char *path, char **text,
                                         const char **items, int max, int *n)
{
    *text = NULL;
    *n = 0;
    /* A FIFO is refused, not waited on; a directory is no sweep file. */
    FILE *f;
    cldqn_status ost = cldqn_open_regular("--sweep-file: ", path, &f, NULL);
    if (ost != CLDQN_OK) return ost;
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap), line[4096];
    cldqn_status st = buf ? CLDQN_OK : cldqn_fail(CLDQN_ERR_NOMEM, "out of memory");
    size_t offs[16];
    for (int lineno = 1; !st && fgets(line, sizeof line, f); lineno++) {
        char origin[CLDQN_CONFIG_PATH_MAX + 32];
        snprintf(origin, sizeof origin, "%s:%d", path, lineno);
        if (!strchr(line, '\n') && !feof(f)) {
            st = cldqn_fail(CLDQN_ERR_ARG, "%s: line too long", origin);
            break;
        }
        /* Comments and all blanks go: "lr = 1e-3, 3e-3" reads as lr=1e-3,3e-3. */
        char *hash = strchr(line, '#');
        if (hash) *hash = 0;
        size_t m = 0;
        for (char *c = line; *c; c++)
            if (!isspace((unsigned char)*c)) line[m++] = *c;
        line[m] = 0;
        if (!m) continue;
        if (*n == max || *n == 16) {
            st = cldqn_fail(CLDQN_ERR_ARG, "%s: at most %d sweep settings in all", origin, max);
            break;
        }
        char key[32];
        const char *vals[MAXV];
        size_t vlen[MAXV];
        int nval;
        st = parse_item(line, origin, key, vals, vlen, &nval);
        /* Every value must be a valid setting here, not only when agents are made. */
        for (int v = 0; !st && v < nval; v++) {
            cldqn_config trial = *base;
            char val[64], org[CLDQN_CONFIG_PATH_MAX + 80];
            snprintf(val, sizeof val, "%.*s", (int)vlen[v], vals[v]);
            snprintf(org, sizeof org, "%s: %s", origin, key);
            st = cldqn_config_set(&trial, key, val, org);
        }
        if (st) break;
        if (len + m + 1 > cap) {
            char *nb = realloc(buf, cap = 2 * (len + m + 1));
            if (!nb) {
                st = cldqn_fail(CLDQN_ERR_NOMEM, "out of memory");
                break;
            }
            buf = nb;
        }
        memcpy(buf + len, line, m + 1);
        offs[(*n)++] = len;
        len += m + 1;
    }
    if (!st && ferror(f)) st = cldqn_fail(CLDQN_ERR_IO, "--sweep-file: reading '%s' failed", path);
    fclose(f);
    if (st) {
        free(buf);
        *n = 0;
        return st;
    }
    for (int i = 0; i < *n; i++) items[i] = buf + offs[i];
    *text = buf;
    return CLDQN_OK;
}
