/* json.c - cJSON text in cldqn's spacing, exact numbers (json.h). */
#include "cldqn/json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

char *cldqn_json_print(const cJSON *item)
{
    char *t = cJSON_PrintUnformatted(item);
    if (!t) return NULL;
    size_t n = 0, extra = 0;
    for (int in = 0; t[n]; n++) {
        if (in && t[n] == '\\')
            n++; /* an escaped character: never the string's end */
        else if (t[n] == '"')
            in = !in;
        else if (!in && (t[n] == ':' || t[n] == ','))
            extra++;
    }
    char *out = malloc(n + extra + 1), *o = out;
    for (int in = 0, i = 0; out && t[i]; i++) {
        *o++ = t[i];
        if (in && t[i] == '\\')
            *o++ = t[++i];
        else if (t[i] == '"')
            in = !in;
        else if (!in && (t[i] == ':' || t[i] == ','))
            *o++ = ' ';
    }
    if (out) *o = 0;
    cJSON_free(t);
    return out;
}

static int add_raw(cJSON *obj, const char *key, const char *text)
{
    cJSON *v = cJSON_CreateRaw(text);
    if (v && cJSON_AddItemToObject(obj, key, v)) return 1;
    cJSON_Delete(v);
    return 0;
}

int cldqn_json_add_number(cJSON *obj, const char *key, const char *fmt, double v)
{
    char text[64];
    if (!isfinite(v)) return cJSON_AddNullToObject(obj, key) != NULL;
    snprintf(text, sizeof text, fmt, v);
    return add_raw(obj, key, text);
}

int cldqn_json_add_int(cJSON *obj, const char *key, long long v)
{
    char text[32];
    snprintf(text, sizeof text, "%lld", v);
    return add_raw(obj, key, text);
}
