/* cmd_train.c - `cldqn train`: settings from preset, config file and flags,
 * then the trainer with a progress display, checkpoints and signal handling.
 *
 * SIGINT/SIGTERM only set a flag: the current step finishes, a checkpoint
 * is written to --out and the process exits 130/143 saying where it is. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cldqn/checkpoint.h"
#include "cldqn/config.h"
#include "cldqn/population.h"
#include "cldqn/trace.h"
#include "cldqn/trainer.h"
#include "cli.h"
#include "progress.h"

static volatile sig_atomic_t stop_signal = 0;

static void on_signal(int sig)
{
    stop_signal = sig;
}

/* SIGINT and SIGTERM are held from the start of `train` until cldqn's own
 * handler is in place: an OpenCL runtime may install handlers of its own
 * while it sets up (Intel's CPU runtime swallows the signal, PoCL's compiler
 * can die mid-write of its cache), and the runtime's threads, started
 * meanwhile, inherit the mask. A signal that comes during start-up is
 * delivered to cldqn's handler once it is released. */
/* cldqn's handler, then the held signals released: 1 (after saying so) if
 * one came during start-up, when nothing has been trained or written. */
static int catch_signals(void)
{
    cldqn_cli_catch_signals(on_signal);
    if (!stop_signal) return 0;
    fprintf(stderr, "cldqn: interrupted by %s during start-up; nothing was trained or written\n",
            stop_signal == SIGTERM ? "SIGTERM" : "SIGINT");
    return 1;
}

/* The sweepable keys from the key table, indented and wrapped, then the
 * rule of each that may differ only among positive values. */
static void print_sweep_keys(FILE *f)
{
    int col = 0;
    for (const char *const *k = cldqn_config_sweep_keys(); *k; k++) {
        int n = (int)strlen(*k) + (k[1] != NULL);
        if (col && col + 1 + n > 80) {
            fputc('\n', f);
            col = 0;
        }
        col += fprintf(f, "%s%s%s", col ? " " : "  ", *k, k[1] ? "," : "");
    }
    fputc('\n', f);
    for (const char *const *k = cldqn_config_sweep_keys(); *k; k++)
        if (cldqn_config_key_sweep(*k) == CLDQN_SWEEP_POSITIVE)
            fprintf(f, "%s: all > 0 or all 0.\n", *k);
}

static void usage(FILE *f)
{
    fprintf(f, "usage: cldqn train [--preset seed|default|next] [--seed S] [--out FILE] "
               "[--until-optimal]\n"
               "                   [--steps N] [--episodes N] [--device D] [--backend opencl|ref]\n"
               "                   [--quiet] [--print-config] [--config FILE] [--resume FILE]\n"
               "                   [--metrics FILE.jsonl] [--render-every N] [--eval-every K]\n"
               "                   [--save-every N] [--rainy] [--fickle] [--time-limit N]\n"
               "                   [--population K] [--sweep KEY=V1,V2,... ...] [--sweep-file F]\n"
               "                   [--profile TRACE.json] [--profile-steps N]\n"
               "                   [--KEY VALUE for any setting below]\n\n"
               "--profile writes a Chrome trace (chrome://tracing, ui.perfetto.dev; tools/profile\n"
               "prints a per-kernel table): the loop's phases, the Q-network's calls and every\n"
               "kernel and transfer from OpenCL profiling events, for the N env steps from\n"
               "learning-starts (--profile-steps, default 2000; 0 = the whole run). Results are\n"
               "unchanged; the profiled steps run slower (one wait per network call).\n\n"
               "--envs N steps N Taxi instances together (default 1): one launch gives the greedy\n"
               "actions of all exploiting envs; train-every, target-every, eval-every, save-every\n"
               "and the limits count env steps over all envs (a run may end up to N-1 steps past\n"
               "--steps). The seed preset (target-every 0) needs --envs 1.\n\n"
               "--population K trains K independent agents (seeds S, S+1, ...) together, one\n"
               "kernel launch per step; --sweep gives them the cartesian product of values of\n"
               "the settings agents may differ in:\n");
    print_sweep_keys(f);
    fprintf(f, "Agent i takes combination i mod the count (without --population, one agent\n"
               "per combination). --sweep-file FILE reads the items one a line (# comments).\n"
               "All three are settings of config files too (sweep = ITEM ITEM ...).\n"
               "Checkpoints go to OUT with .agentI before the extension (+ .state, as a solo\n"
               "run's: --resume OUT continues the population, --resume OUT.agentI one agent\n"
               "alone, both bit-identically); a results table ends the run.\n\n"
               "Trains a DQN agent on Taxi and writes a safetensors checkpoint (and FILE.state\n"
               "for --resume). Settings (with the default preset's values):\n\n");
    cldqn_config c;
    cldqn_config_preset(&c, "default");
    cldqn_config_print(&c, f);
}

/* --profile: a trace recording the window of cfg->profile_steps env steps
 * from learning-starts (or from where a resumed run stands, if later), or
 * the whole run with profile-steps 0. */
static cldqn_status start_profile(const cldqn_config *cfg, cldqn_trainer *t, cldqn_trace **out)
{
    cldqn_status st = cldqn_trace_create(out);
    if (st) return st;
    int64_t from = 0;
    if (cfg->profile_steps) {
        int64_t now = cldqn_trainer_stats(t)->steps;
        from = cfg->learning_starts > now ? cfg->learning_starts : now;
    }
    st = cldqn_trainer_set_trace(t, *out, from, cfg->profile_steps);
    if (st) {
        cldqn_trace_free(*out);
        *out = NULL;
    }
    return st;
}

/* Writes and frees the trace (NULL: nothing to do); 1 if writing failed. */
static int end_profile(const cldqn_config *cfg, cldqn_trace *trace)
{
    if (!trace) return 0;
    int bad = cldqn_trace_write(trace, cfg->profile) != CLDQN_OK;
    if (bad)
        cldqn_cli_error("--profile");
    else
        printf("profile: %s (%zu events)\n", cfg->profile, cldqn_trace_count(trace));
    cldqn_trace_free(trace);
    return bad;
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

/* ---- --population / --sweep ------------------------------------------------ */

typedef struct {
    FILE *metrics;
    int write_failed;
} pop_ctx;

static void pop_on_episode(void *ctx, const cldqn_trainer *t, int terminated)
{
    pop_ctx *c = ctx;
    if (!c->metrics) return;
    if (cldqn_cli_episode_json(c->metrics, cldqn_trainer_agent(t), cldqn_trainer_stats(t),
                               terminated) ||
        ferror(c->metrics))
        c->write_failed = 1;
}

static void pop_on_eval(void *ctx, const cldqn_trainer *t)
{
    pop_ctx *c = ctx;
    if (!c->metrics) return;
    if (cldqn_cli_eval_json(c->metrics, cldqn_trainer_agent(t), cldqn_trainer_stats(t)))
        c->write_failed = 1;
    fflush(c->metrics);
    if (ferror(c->metrics)) c->write_failed = 1;
}

/* Trains the n agents of cfgs (fresh, or from resume[i] when resume is not
 * NULL), saves one checkpoint per agent and prints the results table.
 * Frees cfgs. Returns the exit code. */
static cldqn_cli_pop_agent pop_agent(const void *ctx, int i)
{
    const cldqn_population *p = ctx;
    return (cldqn_cli_pop_agent){cldqn_population_config(p, i), cldqn_population_stats(p, i)};
}

static int train_population(const cldqn_config *cfg, cldqn_config *cfgs, int n,
                            const char *const *resume)
{
    int rc = 0;
    cldqn_population *p = NULL;
    if (cldqn_cli_check_outputs(cfg, n)) {
        free(cfgs);
        return 1;
    }
    if ((resume ? cldqn_population_resume(cfgs, n, resume, &p)
                : cldqn_population_create(cfgs, n, &p)) != CLDQN_OK) {
        cldqn_cli_error(resume ? "--resume" : "--population");
        free(cfgs);
        return 1;
    }
    if (catch_signals()) {
        cldqn_population_free(p);
        free(cfgs);
        return 128 + stop_signal;
    }
    pop_ctx ctx = {0};
    /* A resumed run appends to its metrics, as the solo trainer's does. */
    if (cfg->metrics[0] && !(ctx.metrics = fopen(cfg->metrics, resume ? "a" : "w"))) {
        fprintf(stderr, "cldqn: --metrics: cannot write '%s': %s\n", cfg->metrics, strerror(errno));
        cldqn_population_free(p);
        free(cfgs);
        return 1;
    }
    if (!cfg->quiet)
        fprintf(stderr,
                "training a population of %d agents (preset '%s', seeds %" PRIu64 "..), on %s%s\n",
                n, cfg->preset, cfg->seed, cldqn_population_device_name(p),
                resume ? " (resumed)" : "");
    cldqn_trace *trace = NULL;
    if (cfg->profile[0] && start_profile(cfg, cldqn_population_trainer(p), &trace) != CLDQN_OK) {
        cldqn_cli_error("--profile");
        if (ctx.metrics) fclose(ctx.metrics);
        cldqn_population_free(p);
        free(cfgs);
        return 1;
    }
    cldqn_train_hooks hooks = {0};
    hooks.ctx = &ctx;
    hooks.on_episode = pop_on_episode;
    hooks.on_eval = pop_on_eval;
    hooks.stop = &stop_signal;
    cldqn_status st = cldqn_population_run(p, &hooks);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    if (st && st != CLDQN_ERR_INTERRUPT) {
        cldqn_cli_error(NULL);
        rc = 1;
    } else if (st == CLDQN_ERR_INTERRUPT) {
        rc = 128 + stop_signal;
    }
    int64_t total_steps = 0;
    for (int i = 0; i < n; i++) {
        total_steps += cldqn_population_stats(p, i)->steps;
        if (rc != 1 && !cfg->taxi.fickle_passenger && cldqn_population_evaluate(p, i) != CLDQN_OK) {
            cldqn_cli_error(NULL);
            rc = 1;
        }
        char path[CLDQN_CONFIG_PATH_MAX + 32];
        cldqn_population_agent_path(cfg->out, i, path, sizeof path);
        if (rc != 1 && cldqn_population_save(p, i, path) != CLDQN_OK) {
            cldqn_cli_error(NULL);
            rc = 1;
        }
    }
    if (ctx.metrics && (fclose(ctx.metrics) != 0 || ctx.write_failed)) {
        fprintf(stderr, "cldqn: --metrics: writing '%s' failed\n", cfg->metrics);
        rc = rc ? rc : 1;
    }
    const double el = cldqn_population_elapsed(p);
    printf("population of %d: %" PRId64 " env steps in %.1f s (%.0f env steps/s), %" PRId64
           " launches, on %s\n",
           n, total_steps, el, el > 0 ? (double)total_steps / el : 0.0,
           cldqn_population_launches(p), cldqn_population_device_name(p));
    cldqn_cli_pop_table(stdout, n, pop_agent, p);
    if (rc != 1) cldqn_cli_pop_checkpoints(stdout, cfg->out, n);
    if (rc > 128)
        fprintf(stderr,
                "cldqn: interrupted by %s; checkpoints saved (continue with --resume %s "
                "--population %d)\n",
                rc == 128 + SIGTERM ? "SIGTERM" : "SIGINT", cfg->out, n);
    if (rc == 0 && cfg->until_optimal) {
        int missed = 0;
        for (int i = 0; i < n; i++) missed += !cldqn_population_stats(p, i)->optimal_steps;
        if (missed) {
            fprintf(stderr,
                    "cldqn: --until-optimal: %d of %d agents reached a limit before the optimum "
                    "(their checkpoints hold their best evaluation)\n",
                    missed, n);
            rc = CLDQN_EXIT_NOT_OPTIMAL;
        }
    }
    if (end_profile(cfg, trace) && !rc) rc = 1;
    cldqn_population_free(p);
    free(cfgs);
    return rc;
}

/* --population K and --sweep ITEMS... become the settings "population" and
 * "sweep" (one "--sweep=ITEM ITEM" for all --sweep flags, at the first one's
 * place), so that they go through the same parsing as config files. Returns
 * 0, or 2 on a bad value; *k receives the count given (0 if none). */
static int take_population_args(int *argc, char **argv, int *k)
{
    static char pop_arg[32], sweep_arg[CLDQN_CONFIG_PATH_MAX + 16];
    int o = 1, sweep_at = -1;
    size_t len = 0;
    for (int i = 1; i < *argc; i++) {
        const char *a = argv[i];
        if (!strncmp(a, "--population", 12) && (a[12] == 0 || a[12] == '=')) {
            const char *v = a[12] == '=' ? a + 13 : (i + 1 < *argc ? argv[++i] : NULL);
            char *end;
            long x = v ? strtol(v, &end, 10) : 0;
            if (!v || !*v || *end || x < 1 || x > 4096) {
                fprintf(stderr, "cldqn: --population: needs a count in [1, 4096]\n");
                return 2;
            }
            *k = (int)x;
            snprintf(pop_arg, sizeof pop_arg, "--population=%ld", x);
            argv[o++] = pop_arg;
        } else if (!strcmp(a, "--sweep")) {
            int got = 0;
            if (sweep_at < 0) {
                sweep_at = o;
                argv[o++] = sweep_arg;
                len = (size_t)snprintf(sweep_arg, sizeof sweep_arg, "--sweep=");
            }
            while (i + 1 < *argc && strncmp(argv[i + 1], "--", 2)) {
                const char *item = argv[++i];
                if (len + strlen(item) + 2 >= sizeof sweep_arg) {
                    fprintf(stderr, "cldqn: --sweep: items longer than %d characters in all\n",
                            CLDQN_CONFIG_PATH_MAX - 1);
                    return 2;
                }
                len += (size_t)snprintf(sweep_arg + len, sizeof sweep_arg - len, "%s%s",
                                        sweep_arg[len - 1] == '=' ? "" : " ", item);
                got++;
            }
            if (!got) {
                fprintf(stderr, "cldqn: --sweep: needs KEY=V1,V2,... items\n");
                return 2;
            }
        } else {
            argv[o++] = argv[i];
        }
    }
    *argc = o;
    return 0;
}

/* The sweep items of cfg: its "sweep" setting split at blanks, then the
 * lines of its sweep file. Item texts live in *owned (free it). */
static int sweep_items(const cldqn_config *cfg, char **owned, const char **items, int *n)
{
    static char copy[CLDQN_CONFIG_PATH_MAX];
    *n = 0;
    *owned = NULL;
    snprintf(copy, sizeof copy, "%s", cfg->sweep);
    for (char *tok = strtok(copy, " \t"); tok; tok = strtok(NULL, " \t")) {
        if (*n == 16) {
            fprintf(stderr, "cldqn: --sweep: at most 16 settings\n");
            return 2;
        }
        items[(*n)++] = tok;
    }
    if (cfg->sweep_file[0]) {
        int m = 0;
        if (cldqn_population_sweep_file(cfg, cfg->sweep_file, owned, items + *n, 16 - *n, &m) !=
            CLDQN_OK) {
            cldqn_cli_error(NULL);
            return 2;
        }
        *n += m;
    }
    return 0;
}

/* The number of value combinations of checked sweep items (KEY=V1,V2,...). */
static long sweep_combinations(const char *const *items, int n)
{
    long combos = 1;
    for (int j = 0; j < n; j++) {
        long values = 1;
        for (const char *c = items[j]; *c; c++) values += *c == ',';
        combos *= values;
    }
    return combos;
}

/* The command line, read by getopt_long: train's own options, and the
 * settings given as flags, in order (applied after the config file). */
typedef struct {
    const char *preset, *config_file, *resume;
    int print_config, help;
    int n;
    const char **key, **value;
} train_args;

static void train_args_free(train_args *a)
{
    free(a->key);
    free(a->value);
}

/* Option codes besides 'h': train's own, then key table row i as KEY_BASE + i. */
enum { OPT_PRESET = 1, OPT_CONFIG, OPT_RESUME, OPT_PRINT_CONFIG, KEY_BASE = 1000 };

/* getopt_long's table, made once from the key table (cldqn_config_key_name):
 * every key a long option, also spelt with '_' as config files may; a bool
 * takes a value only as --key=VALUE (optional_argument). NULL when out of
 * memory. Kept for the process (fuzz_cli runs train many times). */
static const struct option *option_table(void)
{
    static struct option *table;
    if (table) return table;
    int n = 0;
    while (cldqn_config_key_name(n)) n++;
    struct option *t = calloc((size_t)(2 * n + 6), sizeof *t);
    if (!t) return NULL;
    int m = 0;
    t[m++] = (struct option){"preset", required_argument, NULL, OPT_PRESET};
    t[m++] = (struct option){"config", required_argument, NULL, OPT_CONFIG};
    t[m++] = (struct option){"resume", required_argument, NULL, OPT_RESUME};
    t[m++] = (struct option){"print-config", no_argument, NULL, OPT_PRINT_CONFIG};
    t[m++] = (struct option){"help", no_argument, NULL, 'h'};
    for (int i = 0; i < n; i++) {
        const char *name = cldqn_config_key_name(i);
        const int has = cldqn_config_key_kind(name) == 2 ? optional_argument : required_argument;
        t[m++] = (struct option){name, has, NULL, KEY_BASE + i};
        if (!strchr(name, '-')) continue;
        char *alias = strdup(name);
        if (!alias) return free(t), NULL; /* the aliases made so far stay: once, on OOM */
        for (char *c = alias; *c; c++)
            if (*c == '-') *c = '_';
        t[m++] = (struct option){alias, has, NULL, KEY_BASE + i};
    }
    return table = t;
}

/* Whether arg ("--NAME" or "--NAME=...") spells one of opts' names in full:
 * getopt_long takes unique prefixes, which cldqn never did ("--ste"). */
static int spelt_out(const struct option *opts, const char *arg)
{
    const size_t n = strcspn(arg + 2, "=");
    for (const struct option *o = opts; o->name; o++)
        if (strlen(o->name) == n && !strncmp(o->name, arg + 2, n)) return 1;
    return 0;
}

/* argv into *a; 0, or the exit code after one line on stderr. */
static int parse_args(int argc, char **argv, train_args *a)
{
    memset(a, 0, sizeof *a);
    const struct option *opts = option_table();
    a->key = calloc((size_t)argc, sizeof *a->key);
    a->value = calloc((size_t)argc, sizeof *a->value);
    if (!opts || !a->key || !a->value) {
        fprintf(stderr, "cldqn: out of memory\n");
        return 1;
    }
    optind = 0; /* glibc: start afresh (cldqn-mpi and fuzz_cli parse again) */
    opterr = 0; /* its messages are not one line in cldqn's form */
    for (;;) {
        const int at = optind ? optind : 1;
        /* '+': stop at the first argument that is no option; ':': a missing
         * value is ':', not '?'. */
        const int c = getopt_long(argc, argv, "+:h", opts, NULL);
        const char *arg = argv[at];
        if (c == -1 && optind == at + 1 && !strcmp(arg, "--")) {
            /* getopt's end of options: cldqn has no operands to protect */
            fprintf(stderr, "cldqn: train: unknown option '--' (see cldqn train --help)\n");
            return 2;
        }
        if (c == -1) break;
        const int len = (int)strcspn(arg + 2, "=");
        if (strncmp(arg, "--", 2) && c != 'h') { /* -h is the one short option */
            fprintf(stderr, "cldqn: train: unexpected argument '%s'\n", arg);
            return 2;
        }
        if (arg[1] == '-' && !spelt_out(opts, arg)) {
            fprintf(stderr, "cldqn: train: unknown option '--%.*s' (see cldqn train --help)\n", len,
                    arg + 2);
            return 2;
        }
        switch (c) {
        case ':':
            fprintf(stderr, "cldqn: --%.*s: needs a value\n", len, arg + 2);
            return 2;
        case '?': /* a value given to an option that takes none */
            fprintf(stderr, "cldqn: --%.*s: takes no value\n", len, arg + 2);
            return 2;
        case 'h':
            a->help = 1;
            return 0;
        case OPT_PRESET:
            a->preset = optarg;
            break;
        case OPT_CONFIG:
            a->config_file = optarg;
            break;
        case OPT_RESUME:
            a->resume = optarg;
            break;
        case OPT_PRINT_CONFIG:
            a->print_config = 1;
            break;
        default:
            a->key[a->n] = cldqn_config_key_name(c - KEY_BASE);
            a->value[a->n++] = optarg ? optarg : ""; /* a bool flag alone */
        }
    }
    if (optind < argc) {
        fprintf(stderr, "cldqn: train: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    return 0;
}

/* Config file, then the flags in order, onto cfg. */
static int apply_settings(cldqn_config *cfg, const char *config_file, const train_args *a)
{
    if (config_file && cldqn_config_load_file(cfg, config_file) != CLDQN_OK) {
        cldqn_cli_error(NULL);
        return 2;
    }
    for (int i = 0; i < a->n; i++)
        if (cldqn_config_set(cfg, a->key[i], a->value[i], NULL) != CLDQN_OK) {
            cldqn_cli_error(NULL);
            return 2;
        }
    return 0;
}

static int file_exists(const char *path)
{
    return access(path, F_OK) == 0;
}

/* cldqn train --resume BASE for a population: agent i continues from
 * BASE.agentI with its own stored settings, the config file and the flags
 * applied on top (as a solo resume does). k: the agents (0 = as many
 * consecutive BASE.agentI files as exist). */
static int resume_population(const cldqn_config *cfg, const char *base, int k,
                             const char *config_file, const train_args *args)
{
    if (k <= 0) {
        char path[CLDQN_CONFIG_PATH_MAX + 32];
        do cldqn_population_agent_path(base, k, path, sizeof path);
        while (file_exists(path) && ++k < 4096);
    }
    cldqn_config *cfgs = calloc((size_t)k, sizeof *cfgs);
    char(*paths)[CLDQN_CONFIG_PATH_MAX + 32] = calloc((size_t)k, sizeof *paths);
    const char **ptrs = calloc((size_t)k, sizeof *ptrs);
    int rc = 0;
    if (!cfgs || !paths || !ptrs) {
        fprintf(stderr, "cldqn: out of memory\n");
        rc = 1;
    }
    for (int i = 0; i < k && !rc; i++) {
        cldqn_population_agent_path(base, i, paths[i], sizeof paths[i]);
        ptrs[i] = paths[i];
        cldqn_layout lay;
        float *params;
        if (cldqn_checkpoint_load(paths[i], &cfgs[i], &lay, &params) != CLDQN_OK) {
            cldqn_cli_error("--resume");
            rc = 1;
            break;
        }
        free(params);
        if ((rc = apply_settings(&cfgs[i], config_file, args))) break;
        snprintf(cfgs[i].out, sizeof cfgs[i].out, "%s", cfg->out);
        if (cldqn_config_check(&cfgs[i]) != CLDQN_OK) {
            cldqn_cli_error(paths[i]);
            rc = 2;
        }
    }
    if (rc) {
        free(cfgs);
    } else {
        rc = train_population(cfg, cfgs, k, ptrs);
    }
    free(paths);
    free(ptrs);
    return rc;
}

/* A resumed run with nothing left to do says so instead of training: its
 * step or episode limit is behind it (1), or with --until-optimal its
 * weights are already exactly optimal (1, stats say so; plain Taxi only,
 * where the evaluation is exact). */
static int resumed_done(const cldqn_config *cfg, cldqn_trainer *t)
{
    const cldqn_train_stats *s = cldqn_trainer_stats(t);
    if (cfg->steps > 0 && s->steps >= cfg->steps) {
        fprintf(stderr,
                "cldqn: --steps %" PRId64 ": the checkpoint is at %" PRId64
                " env steps already (raise --steps to train on)\n",
                cfg->steps, s->steps);
        return 1;
    }
    if (cfg->episodes > 0 && s->episodes >= cfg->episodes) {
        fprintf(stderr,
                "cldqn: --episodes %" PRId64 ": the checkpoint is at %" PRId64
                " episodes already (raise --episodes to train on)\n",
                cfg->episodes, s->episodes);
        return 1;
    }
    if (cfg->until_optimal && !cfg->taxi.fickle_passenger &&
        cldqn_trainer_evaluate(t) == CLDQN_OK && s->reached_optimal) {
        printf("%s is already exactly optimal (mean return %.3f from all 300 starts) after "
               "%" PRId64 " env steps: nothing to train\n",
               cfg->out, s->eval.mean_return, s->steps);
        return 1;
    }
    return 0;
}

static int train_with_args(const train_args *args, int pop_k, cldqn_cli_pop_runner run,
                           void *run_ctx);

int cldqn_cmd_train(int argc, char **argv)
{
    return cldqn_cmd_train_with(argc, argv, NULL, NULL);
}

int cldqn_cmd_train_with(int argc, char **argv, cldqn_cli_pop_runner run, void *run_ctx)
{
    cldqn_cli_hold_signals();
    int pop_k = 0;
    if (take_population_args(&argc, argv, &pop_k)) return 2;
    train_args args;
    int rc0 = parse_args(argc, argv, &args);
    if (!rc0 && args.help) usage(stdout);
    if (rc0 || args.help) {
        train_args_free(&args);
        return rc0;
    }
    rc0 = train_with_args(&args, pop_k, run, run_ctx);
    train_args_free(&args);
    return rc0;
}

/* cldqn train after its command line is read. */
static int train_with_args(const train_args *args, int pop_k, cldqn_cli_pop_runner run,
                           void *run_ctx)
{
    const char *preset = args->preset, *config_file = args->config_file, *resume = args->resume;
    const int print_config = args->print_config;
    cldqn_config cfg;
    uint64_t resumed_seed = 0;
    char resumed_preset[sizeof cfg.preset] = "";
    if (resume && preset) {
        fprintf(stderr, "cldqn: --preset: cannot be combined with --resume (the checkpoint "
                        "holds its settings)\n");
        return 2;
    }
    /* A population's checkpoints are BASE.agentI: --resume BASE with
     * --population, or where BASE itself does not exist. */
    char agent0[CLDQN_CONFIG_PATH_MAX + 32] = "";
    const int pop_resume = resume && (cldqn_population_agent_path(resume, 0, agent0, sizeof agent0),
                                      pop_k > 0 || (!file_exists(resume) && file_exists(agent0)));
    if (resume) {
        cldqn_layout lay;
        float *params;
        if (cldqn_checkpoint_load(pop_resume ? agent0 : resume, &cfg, &lay, &params) != CLDQN_OK) {
            cldqn_cli_error("--resume");
            return 1;
        }
        free(params);
        resumed_seed = cfg.seed;
        snprintf(resumed_preset, sizeof resumed_preset, "%s", cfg.preset);
    } else if (cldqn_config_preset(&cfg, preset ? preset : "default") != CLDQN_OK) {
        cldqn_cli_error(NULL);
        return 2;
    }
    /* Pass 2: the config file, then flags override everything else, in order. */
    int rc0 = apply_settings(&cfg, config_file, args);
    if (rc0) return rc0;
    if (cldqn_config_check(&cfg) != CLDQN_OK) {
        cldqn_cli_error(NULL);
        return 2;
    }
    if (resume ? strcmp(cfg.preset, resumed_preset) : preset && strcmp(cfg.preset, preset)) {
        fprintf(stderr, "cldqn: --config: the file starts from preset '%s', the run from '%s'\n",
                cfg.preset, resume ? resumed_preset : preset);
        return 2;
    }
    if (resume && cfg.seed != resumed_seed) {
        fprintf(stderr,
                "cldqn: --seed: a resumed run keeps its seed %" PRIu64
                " (its random streams continue from the state file)\n",
                resumed_seed);
        return 2;
    }
    /* Printed before the default name is chosen: a config file pins --out
     * only where the user gave one, so another seed never overwrites it. */
    if (print_config) {
        cldqn_config_print(&cfg, stdout);
        return 0;
    }
    if (!cfg.out[0]) {
        if (resume)
            snprintf(cfg.out, sizeof cfg.out, "%s", resume);
        else
            snprintf(cfg.out, sizeof cfg.out, "cldqn-%s-seed%" PRIu64 ".safetensors", cfg.preset,
                     cfg.seed);
    }
    /* An explicit --population (even 1) runs the population loop. */
    const int population = pop_resume || cfg.population > 0 || cfg.sweep[0] || cfg.sweep_file[0];
    /* A population's files are checked once its size is known. */
    if (!population && cldqn_cli_check_outputs(&cfg, 0)) return 1;
    if (population) {
        char *owned = NULL;
        const char *sweep[16];
        int n_sweep = 0;
        if (resume && (cfg.sweep[0] || cfg.sweep_file[0])) {
            fprintf(stderr, "cldqn: --sweep: cannot be combined with --resume (each agent's "
                            "checkpoint holds its settings)\n");
            return 2;
        }
        if (resume && run) {
            fprintf(stderr, "cldqn: --resume: not available for a population split over ranks\n");
            return 2;
        }
        if (resume) return resume_population(&cfg, resume, pop_k, config_file, args);
        if (sweep_items(&cfg, &owned, sweep, &n_sweep)) return 2;
        /* The agents' settings, computed once (the MPI ranks compute their own). */
        cldqn_config *cfgs = NULL;
        int n = 0;
        if (cldqn_population_configs(&cfg, cfg.population, sweep, n_sweep, &cfgs, &n) != CLDQN_OK) {
            cldqn_cli_error(NULL);
            free(owned);
            return 2;
        }
        /* Agent i takes combination i mod their count: with fewer agents some
         * values would never run. */
        const long combos = sweep_combinations(sweep, n_sweep);
        if (cfg.population > 0 && cfg.population < combos) {
            fprintf(stderr,
                    "cldqn: --population %d: fewer agents than the %ld combinations of the sweep "
                    "(some values would never run)\n",
                    cfg.population, combos);
            free(cfgs);
            free(owned);
            return 2;
        }
        int rc;
        if (run) {
            free(cfgs);
            /* Still held: cldqn-mpi's runner puts its handler in place and
             * releases them once its devices are set up (mpi_main.c). */
            rc = run(run_ctx, &cfg, cfg.population, sweep, n_sweep);
        } else {
            rc = train_population(&cfg, cfgs, n, NULL);
        }
        free(owned);
        return rc;
    }
    if (run) { /* cldqn-mpi splits populations; one agent has nothing to split */
        fprintf(stderr, "cldqn-mpi: train needs --population K, --sweep or --sweep-file (one "
                        "agent: use cldqn train)\n");
        return 2;
    }

    cldqn_trainer *t = NULL;
    cldqn_status st =
        resume ? cldqn_trainer_resume(&cfg, resume, &t) : cldqn_trainer_create(&cfg, &t);
    if (st) {
        /* The reference backend is an answer to a device that fails, not to a
         * damaged state file or a bad setting. */
        if (cfg.backend == CLDQN_BACKEND_OPENCL &&
            (st == CLDQN_ERR_NODEVICE || st == CLDQN_ERR_OPENCL || st == CLDQN_ERR_BUILD)) {
            fprintf(stderr, "cldqn: backend opencl: %s (try --backend ref)\n", cldqn_last_error());
        } else {
            cldqn_cli_error(resume ? "--resume" : NULL);
        }
        return 1;
    }
    if (resume && resumed_done(&cfg, t)) {
        int rc = cldqn_trainer_stats(t)->reached_optimal ? 0 : 2;
        cldqn_trainer_free(t);
        return rc;
    }
    if (catch_signals()) {
        cldqn_trainer_free(t);
        return 128 + stop_signal;
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
    if (!cfg.quiet) {
        char envs[32] = "";
        if (cfg.envs > 1) snprintf(envs, sizeof envs, ", %d envs", cfg.envs);
        fprintf(stderr, "training preset '%s', seed %" PRIu64 "%s, on %s%s\n", cfg.preset, cfg.seed,
                envs, cldqn_qnet_device_name(cldqn_trainer_qnet(t)), resume ? " (resumed)" : "");
    }
    cldqn_trace *trace = NULL;
    if (cfg.profile[0] && start_profile(&cfg, t, &trace) != CLDQN_OK) {
        cldqn_cli_error("--profile");
        cldqn_progress_close(prog);
        cldqn_trainer_free(t);
        return 1;
    }
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
        if (end_profile(&cfg, trace) && !rc) rc = 1;
        cldqn_trainer_free(t);
        return rc;
    }
    if (st) {
        cldqn_cli_error(NULL);
        cldqn_progress_close(prog);
        end_profile(&cfg, trace); /* what led up to the failure */
        cldqn_trainer_free(t);
        return 1;
    }
    /* A whole-run profile (profile-steps 0) covers the final evaluation and
     * save too; a window ended with the loop. */
    cldqn_trace *whole = cfg.profile_steps == 0 ? trace : NULL;
    double p0 = cldqn_trace_now();
    if (!cfg.taxi.fickle_passenger && cldqn_trainer_evaluate(t) != CLDQN_OK) {
        cldqn_cli_error(NULL);
        rc = 1;
    }
    double p1 = cldqn_trace_now();
    cldqn_trace_span(whole, "evaluation (end of run)", "phase", p0, p1, CLDQN_TRACE_TID_HOST);
    if (cldqn_trainer_save(t, cfg.out) != CLDQN_OK) {
        cldqn_cli_error(NULL);
        rc = 1;
    }
    cldqn_trace_span(whole, "checkpoint save (end of run)", "phase", p1, cldqn_trace_now(),
                     CLDQN_TRACE_TID_HOST);
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
    if (s->have_eval && cfg.taxi.is_rainy)
        printf("greedy policy on rainy Taxi, exact expectation from a uniform start: mean return "
               "%.4f (optimal %.4f, gap %.2f%%), delivers %.1f%%, mean steps %.2f\n",
               s->eval.mean_return, s->optimal_return,
               100 * (s->optimal_return - s->eval.mean_return) / fabs(s->optimal_return),
               100 * s->eval.success_rate, s->eval.mean_steps);
    else if (s->have_eval)
        printf("greedy policy from all 300 starts: mean return %.3f (optimal %.3f, gap %.3f), "
               "success %.1f%%, mean steps %.2f\n",
               s->eval.mean_return, s->optimal_return, s->optimal_return - s->eval.mean_return,
               100 * s->eval.success_rate, s->eval.mean_steps);
    if (s->optimal_steps) {
        fmt_count(steps, sizeof steps, s->optimal_steps);
        fmt_count(ups, sizeof ups, s->optimal_updates);
        printf("reached %s after %s env steps, %s updates, %.1f s\n",
               cfg.taxi.is_rainy ? "within 1 % of the optimum" : "the exact optimum", steps, ups,
               s->optimal_elapsed);
    }
    if (s->have_best && s->best_steps != s->steps) {
        fmt_count(steps, sizeof steps, s->best_steps);
        printf("the checkpoint holds the best evaluation's weights: mean return %.3f at %s env "
               "steps\n",
               s->best_return, steps);
    }
    if (rc == 0) printf("checkpoint: %s\n", cfg.out);
    if (rc == 0 && cfg.until_optimal && !s->optimal_steps) {
        fmt_count(steps, sizeof steps, s->steps);
        fprintf(stderr,
                "cldqn: --until-optimal: a limit came first (%s env steps); the best greedy mean "
                "return was %.3f of %.3f\n",
                steps, s->have_best ? s->best_return : NAN, s->optimal_return);
        rc = CLDQN_EXIT_NOT_OPTIMAL;
    }
    if (end_profile(&cfg, trace)) rc = 1;
    cldqn_trainer_free(t);
    return rc;
}
