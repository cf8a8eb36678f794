/* fuzz_config.c - libFuzzer harness for the config readers.
 *
 * The input is tried both as a `key = value` config file
 * (cldqn_config_load_file) and as checkpoint config JSON
 * (cldqn_config_from_json). Whatever is accepted and passes
 * cldqn_config_check must survive to_json -> from_json unchanged: the JSON
 * the writer produces is always readable by the reader. */
#include <string.h>

#include "cldqn/config.h"
#include "fuzz_common.h"

static int config_fd = -1;

static void config_round_trip(const cldqn_config *c)
{
    if (cldqn_config_check(c) != CLDQN_OK) return;
    size_t need = cldqn_config_to_json(c, NULL, 0);
    char *json = malloc(need + 1);
    if (!json) abort();
    FUZZ_ASSERT(cldqn_config_to_json(c, json, need + 1) == need, "to_json length is stable");
    cldqn_config back;
    if (cldqn_config_preset(&back, c->preset) != CLDQN_OK) {
        FUZZ_ASSERT(0, "an accepted config names a known preset");
        free(json);
        return;
    }
    if (cldqn_config_from_json(&back, json) != CLDQN_OK) {
        fprintf(stderr, "config JSON not read back: %s\n%s\n", cldqn_last_error(), json);
        FUZZ_ASSERT(0, "the JSON of an accepted config reads back");
        free(json);
        return;
    }
    size_t need2 = cldqn_config_to_json(&back, NULL, 0);
    char *json2 = malloc(need2 + 1);
    if (!json2) abort();
    cldqn_config_to_json(&back, json2, need2 + 1);
    if (strcmp(json, json2)) fprintf(stderr, "config JSON changed:\n%s\n%s\n", json, json2);
    FUZZ_ASSERT(!strcmp(json, json2), "config JSON is unchanged by a round trip");
    free(json);
    free(json2);
}

int fuzz_config_one(const uint8_t *data, size_t size)
{
    char path[64];
    cldqn_config c;

    fuzz_memfile(&config_fd, path, sizeof path, data, size);
    if (cldqn_config_preset(&c, size && (data[0] & 1) ? "seed" : "default") != CLDQN_OK) abort();
    if (cldqn_config_load_file(&c, path) == CLDQN_OK) config_round_trip(&c);

    char *json = malloc(size + 1);
    if (!json) abort();
    memcpy(json, data, size);
    json[size] = 0;
    if (cldqn_config_preset(&c, "default") != CLDQN_OK) abort();
    if (cldqn_config_from_json(&c, json) == CLDQN_OK) config_round_trip(&c);
    free(json);
    return 0;
}

#ifndef FUZZ_IN_TEST
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_config_one(data, size);
}
#endif
