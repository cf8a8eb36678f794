/* cmd_train.c - `cldqn train`: settings from preset, config file and flags,
 * then the trainer with a progress display, checkpoints and signal handling.
 *
 * SIGINT/SIGTERM only set a flag: the current step finishes, a checkpoint
 * is written to --out and the process exits 130/143 saying where it is. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cldqn/checkpoint.h"
#include "cldqn/config.h"
#include "cldqn/trainer.h"
#include "cli.h"
#include "progress.h"

static volatile sig_atomic_t stop_signal = 0;

static void on_signal(int sig)
{
    stop_signal = sig;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: cldqn train [--preset seed|default] [--seed S] [--out FILE] [--until-optimal]\n"
            "                   [--steps N] [--episodes N] [--device D] [--backend opencl|ref]\n"
            "                   [--quiet] [--print-config] [--config FILE] [--resume FILE]\n"
            "                   [--metrics FILE.jsonl] [--render-every N] [--eval-every K]\n"
            "                   [--save-every N] [--rainy] [--fickle] [--time-limit N]\n"
            "                   [--KEY VALUE for any setting below]\n\n"
            "Trains a DQN agent on Taxi and writes a safetensors checkpoint (and FILE.state\n"
            "for --resume). Settings (with the default preset's values):\n\n");
    cldqn_config c;
    cldqn_config_preset(&c, "default");
    cldqn_config_print(&c, f);
}

/* Can a file be created next to path? Catches a bad --out before training. */
static cldqn_status check_writable(const char *path)
{
    char *copy = strdup(path);
    if (!copy) return cldqn_fail(CLDQN_ERR_NOMEM, "out of memory");
    char *dir = dirname(copy);
    size_t n = strlen(dir) + 32;
    char *probe = malloc(n);
    cldqn_status st = CLDQN_OK;
    if (!probe) {
        free(copy);
        return cldqn_fail(CLDQN_ERR_NOMEM, "out of memory");
    }
    snprintf(probe, n, "%s/.cldqn-probe-XXXXXX", dir);
    int fd = mkstemp(probe);
    if (fd < 0)
        st = cldqn_fail(CLDQN_ERR_IO, "--out: cannot write '%s': %s", path, strerror(errno));
    else {
        close(fd);
        unlink(probe);
    }
    free(probe);
    free(copy);
    return st;
}

static const char *value_of(const char *arg, int *i, int argc, char **argv, int *missing)
{
    const char *eq = strchr(arg, '=');
    *missing = 0;
    if (eq) return eq + 1;
    if (*i + 1 >= argc) {
        *missing = 1;
        return NULL;
    }
    return argv[++*i];
}

static void fmt_count(char *buf, size_t size, int64_t v)
{
    char tmp[32];
    int n = snprintf(tmp, sizeof tmp, "%" PRId64, v), o = 0;
    for (int i = 0; i < n && o + 2 < (int)size; i++) {
        if (i && (n - i) % 3 == 0 && tmp[i - 1] != '-') buf[o++] = ',';
        buf[o++] = tmp[i];
    }
    buf[o] = 0;
}

int cldqn_cmd_train(int argc, char **argv)
{
    const char *preset = NULL, *config_file = NULL, *resume = NULL;
    int print_config = 0;
    /* Pass 1: what decides the base settings. */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int missing;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        }
        if (strncmp(a, "--", 2)) {
            fprintf(stderr, "cldqn: train: unexpected argument '%s'\n", a);
            return 2;
        }
        char key[64];
        snprintf(key, sizeof key, "%.*s", (int)strcspn(a + 2, "="), a + 2);
        if (!strcmp(key, "preset") || !strcmp(key, "config") || !strcmp(key, "resume")) {
            const char *v = value_of(a, &i, argc, argv, &missing);
            if (missing) {
                fprintf(stderr, "cldqn: --%s: needs a value\n", key);
                return 2;
            }
            if (key[0] == 'p')
                preset = v;
            else if (key[0] == 'c')
                config_file = v;
            else
                resume = v;
        } else if (!strcmp(key, "print-config")) {
            print_config = 1;
        } else {
            int kind = cldqn_config_key_kind(key);
            if (!kind) {
                fprintf(stderr, "cldqn: train: unknown option '--%s' (see cldqn train --help)\n",
                        key);
                return 2;
            }
            /* Bool flags take a value only as --flag=VALUE. */
            if (kind == 1 && !strchr(a, '=')) i++;
        }
    }
    cldqn_config cfg;
    if (resume && preset) {
        fprintf(stderr, "cldqn: --preset: cannot be combined with --resume (the checkpoint "
                        "holds its settings)\n");
        return 2;
    }
    if (resume) {
        cldqn_layout lay;
        float *params;
        if (cldqn_checkpoint_load(resume, &cfg, &lay, &params) != CLDQN_OK) {
            cldqn_cli_error("--resume");
            return 1;
        }
        free(params);
    } else if (cldqn_config_preset(&cfg, preset ? preset : "default") != CLDQN_OK) {
        cldqn_cli_error(NULL);
        return 2;
    }
    if (config_file && cldqn_config_load_file(&cfg, config_file) != CLDQN_OK) {
        cldqn_cli_error(NULL);
        return 2;
    }
    /* Pass 2: flags override everything else, in order. */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        char key[64];
        int missing;
        snprintf(key, sizeof key, "%.*s", (int)strcspn(a + 2, "="), a + 2);
        if (!strcmp(key, "preset") || !strcmp(key, "config") || !strcmp(key, "resume")) {
            if (!strchr(a, '=')) i++;
            continue;
        }
        if (!strcmp(key, "print-config")) continue;
        const char *v;
        if (cldqn_config_key_kind(key) == 2)
            v = strchr(a, '=') ? strchr(a, '=') + 1 : "";
        else {
            v = value_of(a, &i, argc, argv, &missing);
            if (missing) {
                fprintf(stderr, "cldqn: --%s: needs a value\n", key);
                return 2;
            }
        }
        if (cldqn_config_set(&cfg, key, v, NULL) != CLDQN_OK) {
            cldqn_cli_error(NULL);
            return 2;
        }
    }
    if (cldqn_config_check(&cfg) != CLDQN_OK) {
        cldqn_cli_error(NULL);
        return 2;
    }
    if (!cfg.out[0]) {
        if (resume)
            snprintf(cfg.out, sizeof cfg.out, "%s", resume);
        else
            snprintf(cfg.out, sizeof cfg.out, "cldqn-%s-seed%" PRIu64 ".safetensors", cfg.preset,
                     cfg.seed);
    }
    if (print_config) {
        cldqn_config_print(&cfg, stdout);
        return 0;
    }
    if (check_writable(cfg.out) != CLDQN_OK) {
        cldqn_cli_error(NULL);
        return 1;
    }

    cldqn_trainer *t = NULL;
    cldqn_status st =
        resume ? cldqn_trainer_resume(&cfg, resume, &t) : cldqn_trainer_create(&cfg, &t);
    if (st) {
        if (cfg.backend == CLDQN_BACKEND_OPENCL &&
            (st == CLDQN_ERR_NODEVICE || st == CLDQN_ERR_OPENCL || st == CLDQN_ERR_BUILD ||
             st == CLDQN_ERR_ARG)) {
            fprintf(stderr, "cldqn: backend opencl: %s (try --backend ref)\n", cldqn_last_error());
        } else {
            cldqn_cli_error(resume ? "--resume" : NULL);
        }
        return 1;
    }
    if (cfg.summary && !cfg.quiet) {
        cldqn_layout lay = *cldqn_qnet_layout(cldqn_trainer_qnet(t));
        cldqn_print_model_summary(&lay, stdout);
        fflush(stdout);
    }
    cldqn_progress *prog;
    if (cldqn_progress_open(&cfg, resume != NULL, stdout, stderr, &prog) != CLDQN_OK) {
        cldqn_cli_error(NULL);
        cldqn_trainer_free(t);
        return 1;
    }
    if (!cfg.quiet)
        fprintf(stderr, "training preset '%s', seed %" PRIu64 ", on %s%s\n", cfg.preset, cfg.seed,
                cldqn_qnet_device_name(cldqn_trainer_qnet(t)), resume ? " (resumed)" : "");
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    cldqn_train_hooks hooks = {0};
    cldqn_progress_hooks(prog, &hooks);
    hooks.stop = &stop_signal;
    st = cldqn_trainer_run(t, &hooks);
    cldqn_progress_end(prog);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    int rc = 0;
    const cldqn_train_stats *s = cldqn_trainer_stats(t);
    if (st == CLDQN_ERR_INTERRUPT) {
        int sig = stop_signal;
        if (cldqn_trainer_save(t, cfg.out) != CLDQN_OK) {
            cldqn_cli_error("saving after the interrupt");
            rc = 1;
        } else {
            fprintf(stderr,
                    "cldqn: interrupted by %s after %" PRId64 " steps; checkpoint saved to %s "
                    "(continue with --resume %s)\n",
                    sig == SIGTERM ? "SIGTERM" : "SIGINT", s->steps, cfg.out, cfg.out);
            rc = 128 + sig;
        }
        cldqn_progress_close(prog);
        cldqn_trainer_free(t);
        return rc;
    }
    if (st) {
        cldqn_cli_error(NULL);
        cldqn_progress_close(prog);
        cldqn_trainer_free(t);
        return 1;
    }
    if (!cfg.taxi.is_rainy && !cfg.taxi.fickle_passenger && cldqn_trainer_evaluate(t) != CLDQN_OK) {
        cldqn_cli_error(NULL);
        rc = 1;
    }
    if (cldqn_trainer_save(t, cfg.out) != CLDQN_OK) {
        cldqn_cli_error(NULL);
        rc = 1;
    }
    if (cldqn_progress_close(prog) != CLDQN_OK) {
        cldqn_cli_error(NULL);
        rc = 1;
    }
    char steps[32], eps[32], ups[32];
    fmt_count(steps, sizeof steps, s->steps);
    fmt_count(eps, sizeof eps, s->episodes);
    fmt_count(ups, sizeof ups, s->updates);
    printf("trained %s env steps, %s episodes, %s updates in %.1f s (%.0f steps/s) on %s\n", steps,
           eps, ups, s->elapsed, s->elapsed > 0 ? (double)s->steps / s->elapsed : 0.0,
           cldqn_qnet_device_name(cldqn_trainer_qnet(t)));
    if (s->episodes)
        printf("mean return of the last %" PRId64 " episodes: %.2f\n",
               s->episodes < 100 ? s->episodes : 100, s->mean_return);
    if (s->have_eval)
        printf("greedy policy from all 300 starts: mean return %.3f (optimal %.3f, gap %.3f), "
               "success %.1f%%, mean steps %.2f\n",
               s->eval.mean_return, s->optimal_return, s->optimal_return - s->eval.mean_return,
               100 * s->eval.success_rate, s->eval.mean_steps);
    if (s->optimal_steps) {
        fmt_count(steps, sizeof steps, s->optimal_steps);
        fmt_count(ups, sizeof ups, s->optimal_updates);
        printf("reached the exact optimum after %s env steps, %s updates, %.1f s\n", steps, ups,
               s->optimal_elapsed);
    } else if (cfg.until_optimal) {
        printf("did not reach the optimum within the limits\n");
    }
    if (rc == 0) printf("checkpoint: %s\n", cfg.out);
    cldqn_trainer_free(t);
    return rc;
}
