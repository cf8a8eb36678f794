/* fuzz_state.c - libFuzzer harness for the training-state reader.
 *
 * cldqn_trainer_resume reads PATH (weights) and PATH.state (target, Adam
 * moments, replay memory, RNG streams, environment, counters). The weights
 * are fixed (tools/fuzz/state-weights/small.safetensors, a tiny network
 * E=2, H=4, one layer, so that the state seed stays small) and the input is
 * the state file. The data block is checksummed, so most mutations of it
 * are refused early (as they should be); the metadata (counters, env state,
 * hashes) is what gets explored. Whatever resumes must also run a few steps
 * and save again. */
#include <string.h>
#include <sys/stat.h>

#include "cldqn/checkpoint.h"
#include "cldqn/trainer.h"
#include "fuzz_common.h"

#ifndef CLDQN_SOURCE_DIR
#error "tools/fuzz/build defines CLDQN_SOURCE_DIR"
#endif

static char state_dir[64];

static int state_setup(void)
{
    if (state_dir[0]) return 0;
    snprintf(state_dir, sizeof state_dir, "/dev/shm/cldqn-fuzz-state-XXXXXX");
    if (!mkdtemp(state_dir)) return -1;
    /* The fixed weights file, copied next to where each state goes. */
    FILE *in = fopen(CLDQN_SOURCE_DIR "/tools/fuzz/state-weights/small.safetensors", "rb");
    char path[128];
    snprintf(path, sizeof path, "%s/w.safetensors", state_dir);
    FILE *out = fopen(path, "wb");
    if (!in || !out) abort();
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        if (fwrite(buf, 1, n, out) != n) abort();
    fclose(in);
    fclose(out);
    return 0;
}

int fuzz_state_one(const uint8_t *data, size_t size)
{
    if (state_setup()) abort();
    char w[128], s[160];
    snprintf(w, sizeof w, "%s/w.safetensors", state_dir);
    snprintf(s, sizeof s, "%s.state", w);
    FILE *f = fopen(s, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size)) abort();
    fclose(f);

    cldqn_config cfg;
    cldqn_layout lay;
    float *params = NULL;
    if (cldqn_checkpoint_load(w, &cfg, &lay, &params) != CLDQN_OK) abort();
    free(params);
    cfg.backend = CLDQN_BACKEND_REF;
    cfg.out[0] = 0;
    cfg.metrics[0] = 0;
    cldqn_trainer *t = NULL;
    if (cldqn_trainer_resume(&cfg, w, &t) == CLDQN_OK) {
        /* A state that resumes must also train on and save. */
        cldqn_config *c = (cldqn_config *)cldqn_trainer_config(t);
        c->steps = cldqn_trainer_stats(t)->steps + 3;
        c->episodes = 0;
        c->until_optimal = 0;
        cldqn_status st = cldqn_trainer_run(t, NULL);
        FUZZ_ASSERT(st == CLDQN_OK || st == CLDQN_ERR_NUMERIC, "a resumed state trains on");
        char o[160];
        snprintf(o, sizeof o, "%s/o.safetensors", state_dir);
        if (st == CLDQN_OK)
            FUZZ_ASSERT(cldqn_trainer_save(t, o) == CLDQN_OK, "a resumed state saves again");
        cldqn_trainer_free(t);
    }
    return 0;
}

#ifndef FUZZ_IN_TEST
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_state_one(data, size);
}
#endif
