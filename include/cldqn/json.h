/* json.h - JSON text as cldqn writes it, through cJSON.
 *
 * cldqn's JSON (the stored configuration, metrics lines, results) has always
 * had a space after each ':' and ',' and numbers in the shortest or a fixed
 * printf form; cJSON prints neither (no spaces unformatted, %1.17g doubles).
 * These keep the text unchanged, so nothing that reads it (tools/plot, grep,
 * checkpoints already written) sees a difference. */
#ifndef CLDQN_JSON_H
#define CLDQN_JSON_H

#include <cjson/cJSON.h>

/* item's unformatted text with a space after each ':' and ',' outside
 * strings; malloc'd (free()), NULL when out of memory. */
char *cldqn_json_print(const cJSON *item);

/* Adds key: v as printf's fmt ("%.9g", "%.6f") writes it, or null when v is
 * not finite. 0 when out of memory. */
int cldqn_json_add_number(cJSON *obj, const char *key, const char *fmt, double v);

/* Adds key: v, exactly (cJSON's doubles hold integers only to 2^53). */
int cldqn_json_add_int(cJSON *obj, const char *key, long long v);

#endif
