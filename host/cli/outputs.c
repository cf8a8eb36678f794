/* outputs.c - every file a `cldqn train` run will write, checked before its
 * first step (cli.h): a bad name fails in one line with nothing trained and
 * nothing touched, instead of after training or by replacing a device. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cldqn/files.h"
#include "cldqn/population.h"
#include "cli.h"

enum { STATE_LEN = sizeof CLDQN_STATE_SUFFIX - 1, TMP_LEN = 11 /* ".tmp.XXXXXX" */ };

typedef struct {
    const char *what;
    char path[CLDQN_CONFIG_PATH_MAX + 48];
} output;

int cldqn_cli_check_outputs(const cldqn_config *cfg, int k)
{
    const int n_ckpt = k > 0 ? k : 1;
    /* Checkpoints and their state files, then metrics and the trace. */
    output *o = calloc((size_t)(2 * n_ckpt + 2), sizeof *o);
    if (!o) {
        fprintf(stderr, "cldqn: out of memory\n");
        return 1;
    }
    int n = 0;
    for (int i = 0; i < n_ckpt; i++) {
        char ckpt[sizeof o->path];
        if (k > 0)
            cldqn_population_agent_path(cfg->out, i, ckpt, sizeof ckpt);
        else
            snprintf(ckpt, sizeof ckpt, "%s", cfg->out);
        o[n].what = o[n + 1].what = "--out";
        memcpy(o[n].path, ckpt, sizeof ckpt);
        if (snprintf(o[n + 1].path, sizeof o[n + 1].path, "%s%s", ckpt, CLDQN_STATE_SUFFIX) >=
            (int)sizeof o[n + 1].path) {
            fprintf(stderr, "cldqn: --out: path '%s' too long\n", ckpt);
            free(o);
            return 1;
        }
        n += 2;
    }
    const int first_extra = n;
    if (cfg->metrics[0]) {
        o[n].what = "--metrics";
        snprintf(o[n].path, sizeof o[n].path, "%s", cfg->metrics);
        n++;
    }
    if (cfg->profile[0]) {
        o[n].what = "--profile";
        snprintf(o[n].path, sizeof o[n].path, "%s", cfg->profile);
        n++;
    }
    int rc = 0;
    for (int i = 0; i < n && !rc; i++) {
        /* The longest name decides; the directory is probed once per option. */
        const int is_ckpt = i < first_extra, last_ckpt = i == first_extra - 2;
        const int suffix = is_ckpt ? (i % 2 ? TMP_LEN : STATE_LEN + TMP_LEN)
                           : !strcmp(o[i].what, "--profile") ? TMP_LEN
                                                             : 0;
        if (cldqn_output_check(o[i].what, o[i].path, suffix, !is_ckpt || last_ckpt) != CLDQN_OK) {
            cldqn_cli_error(NULL);
            rc = 1;
        }
    }
    /* Two outputs naming one file: one would silently replace the other. */
    for (int j = first_extra; j < n && !rc; j++)
        for (int i = 0; i < j && !rc; i++)
            if (cldqn_output_same(o[i].path, o[j].path)) {
                fprintf(stderr, "cldqn: %s and %s both name '%s'\n", o[i].what, o[j].what,
                        o[j].path);
                rc = 1;
            }
    free(o);
    return rc;
}
