/* fuzz_checkpoint.c - libFuzzer harness for the checkpoint readers.
 *
 * Feeds arbitrary bytes to cldqn_st_read (safetensors parsing and validation)
 * and cldqn_checkpoint_load (metadata, stored config JSON, shapes, finite
 * weights). Beyond "no crash, no leak, no UB" it checks two properties:
 * every tensor cldqn_st_get hands out lies inside the file, and a checkpoint
 * that loads survives a save + load round trip bit for bit. */
#include <string.h>

#include "cldqn/checkpoint.h"
#include "fuzz_common.h"

static int ckpt_fd = -1;

int fuzz_checkpoint_one(const uint8_t *data, size_t size)
{
    char path[64];
    fuzz_memfile(&ckpt_fd, path, sizeof path, data, size);

    cldqn_st_file *f = NULL;
    if (cldqn_st_read(path, &f) == CLDQN_OK) {
        /* Touch every byte of a few well-known tensors (ASan checks bounds). */
        static const char *names[] = {"embedding.weight", "fc1.weight", "out.bias",
                                      "replay",           "target",     "rng"};
        static const char *dts[] = {"F32", "U8", "U64", "I32"};
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
            for (size_t d = 0; d < sizeof dts / sizeof dts[0]; d++) {
                const void *p;
                size_t nb = 0;
                if (cldqn_st_get(f, names[i], dts[d], 0, NULL, &p, &nb) == CLDQN_OK) {
                    volatile unsigned char acc = 0;
                    for (size_t k = 0; k < nb; k++) acc ^= ((const unsigned char *)p)[k];
                    (void)acc;
                }
            }
        (void)cldqn_st_meta(f, "config");
        (void)cldqn_st_data_hash(f);
        cldqn_st_free(f);
    }

    cldqn_config cfg;
    cldqn_layout lay;
    float *params = NULL;
    if (cldqn_checkpoint_load(path, &cfg, &lay, &params) == CLDQN_OK) {
        /* Round trip: what loads must save and load back identically.
         * cldqn_st_write renames over its target, so this needs a real
         * directory; /dev/shm keeps its fsyncs free. */
        char tmpl[] = "/dev/shm/cldqn-fuzz-rt-XXXXXX";
        int tfd = mkstemp(tmpl);
        if (tfd < 0) abort();
        close(tfd);
        cldqn_status st = cldqn_checkpoint_save(tmpl, &cfg, &lay, params, NULL);
        FUZZ_ASSERT(st == CLDQN_OK, "a loaded checkpoint saves again");
        cldqn_config cfg2;
        cldqn_layout lay2;
        float *params2 = NULL;
        if (!st) {
            st = cldqn_checkpoint_load(tmpl, &cfg2, &lay2, &params2);
            FUZZ_ASSERT(st == CLDQN_OK, "a re-saved checkpoint loads");
        }
        if (!st)
            FUZZ_ASSERT(lay2.total == lay.total &&
                            !memcmp(params, params2, sizeof(float) * lay.total),
                        "a re-saved checkpoint has the same weights");
        free(params2);
        unlink(tmpl);
        free(params);
    }
    return 0;
}

#ifndef FUZZ_IN_TEST
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_checkpoint_one(data, size);
}
#endif
