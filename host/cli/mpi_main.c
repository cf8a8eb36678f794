/* mpi_main.c - cldqn-mpi: `cldqn train --population K --sweep ...` split over
 * MPI ranks, one OpenCL device per rank, results gathered on rank 0.
 *
 * Rank 0 parses the command line with cldqn train's own parser
 * (cldqn_cmd_train_with), computes the K agent configurations and broadcasts
 * them; every rank trains a contiguous block of agents as one population on
 * its device and writes their checkpoints under their global agent index (the
 * file names of the one-process run). Rank 0 gathers the per-agent stats and
 * JSON lines, prints cldqn train's results table and writes --metrics with
 * the lines in the one-process order. Agent i's numbers do not depend on how
 * the agents are split (tests/cli/mpi.sh compares checkpoints byte for byte).
 *
 * Errors: the failing rank's one-line message is printed once by rank 0 and
 * every rank exits with the same non-zero code. The library never aborts;
 * MPI's default error handler ends the job if MPI itself fails.
 *
 * Assumes ranks of one architecture (structs travel as bytes). */
#define _GNU_SOURCE
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <limits.h>
#include <mpi.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cldqn/population.h"
#include "cldqn/version.h"
#include "cli.h"
#include "clrt.h"

static volatile sig_atomic_t stop_signal = 0;

static void on_signal(int sig)
{
    stop_signal = sig;
}

/* SIGINT and SIGTERM are held from before MPI_Init (so MPI's threads and the
 * OpenCL runtime's inherit the mask) until this rank's devices are set up:
 * an OpenCL runtime may install handlers of its own meanwhile (Intel's CPU
 * runtime swallows the signal). Then cldqn's handler goes in and the held
 * signals are released to it, as `cldqn train` does (signals.c). */

/* Rank 0 -> all after parsing: train (go = 1, n agents) or exit with rc. */
typedef struct {
    int32_t go, rc, n;
} start_msg;

/* Each rank -> rank 0 at the end. */
typedef struct {
    int32_t rc; /* 0, 1 (error, see error[]) or 128 + signal */
    int32_t lo, m;
    double elapsed;
    int64_t launches;
    int64_t metrics_bytes;
    char device[128];
    char host[64];
    char error[512];
} rank_report;

typedef struct {
    int rank, size, local_rank;
    int ran; /* rank 0: the runner was called (the others were told to train) */
} mpi_ctx;

static void usage(FILE *f)
{
    fprintf(
        f, "usage: mpirun -np R cldqn-mpi train --population K [--sweep KEY=V1,V2,... ...]\n"
           "                                    [--sweep-file FILE] [other cldqn train options]\n\n"
           "Splits the population of `cldqn train --population` over R MPI ranks: every rank\n"
           "trains a contiguous block of the K agents (rank r: agents r*K/R .. (r+1)*K/R - 1)\n"
           "as one population on its own OpenCL device; rank 0 prints the results table in\n"
           "agent order, the aggregate env steps/s and the ranks and devices used, and writes\n"
           "--metrics. Checkpoints get the names of the one-process run (OUT with .agentI,\n"
           "I the global agent index), written by the rank that trained the agent. Agent\n"
           "i's weights are the same bytes as in `cldqn train --population K` on the same\n"
           "kind of device.\n\n"
           "Device per rank: --device D (or $CLDQN_DEVICE) for every rank, D in any form\n"
           "cldqn devices --help lists (PLATFORM:N, exact name, index, unique name part);\n"
           "otherwise, if there are GPUs, GPU number (local rank mod GPU count), the local\n"
           "rank being the rank among those on the same node; without GPUs, the device cldqn\n"
           "train would take for the rank's block (PoCL: pthread, or basic for one agent).\n\n"
           "No --resume: Ctrl-C (or SIGTERM to mpirun) saves every agent, and one process\n"
           "continues the whole population with cldqn train --resume OUT.\n\n"
           "'cldqn-mpi train --help' also lists cldqn train's options.\n");
}

/* ---- device ---------------------------------------------------------------- */

/* Fills spec (a device index) for this rank when nothing was named. */
static cldqn_status pick_device(const cldqn_config *cfg, int local_rank, char *spec, size_t size)
{
    spec[0] = 0;
    if (cfg->device[0]) {
        snprintf(spec, size, "%s", cfg->device);
        return CLDQN_OK;
    }
    const char *env = getenv("CLDQN_DEVICE");
    if (env && *env) return CLDQN_OK; /* the library reads it */
    cldqn_cl_device_info *list;
    int n;
    cldqn_status st = cldqn_cl_list_devices(&list, &n);
    if (st) return st;
    int gpus = 0;
    for (int i = 0; i < n; i++) gpus += (list[i].type & CL_DEVICE_TYPE_GPU) != 0;
    if (gpus) {
        int want = local_rank % gpus;
        for (int i = 0; i < n; i++)
            if ((list[i].type & CL_DEVICE_TYPE_GPU) && want-- == 0) {
                snprintf(spec, size, "%d", i);
                break;
            }
    }
    free(list);
    return CLDQN_OK;
}

/* ---- metrics: each rank's lines, merged on rank 0 ---------------------------- */

typedef struct {
    FILE *f; /* open_memstream */
    char *buf;
    size_t len;
    int write_failed;
} metrics_buf;

typedef struct {
    metrics_buf *m;
    int lo; /* global index of local agent 0 */
} hook_ctx;

static void on_episode(void *ctx, const cldqn_trainer *t, int terminated)
{
    hook_ctx *c = ctx;
    if (!c->m) return;
    if (cldqn_cli_episode_json(c->m->f, c->lo + cldqn_trainer_agent(t), cldqn_trainer_stats(t),
                               terminated) ||
        ferror(c->m->f))
        c->m->write_failed = 1;
}

static void on_eval(void *ctx, const cldqn_trainer *t)
{
    hook_ctx *c = ctx;
    if (!c->m) return;
    if (cldqn_cli_eval_json(c->m->f, c->lo + cldqn_trainer_agent(t), cldqn_trainer_stats(t)) ||
        ferror(c->m->f))
        c->m->write_failed = 1;
}

/* Where a line stands in the one-process order: cldqn_population_run emits,
 * per env step (every agent's "steps" is the step number while it runs),
 * first the seed loop's terminated episodes (phase 0) in agent order, then
 * per agent its other episode end and evaluation (phase 1). */
typedef struct {
    int64_t steps;
    int phase, agent;
} line_key;

static long long field(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsNumber(v) ? (long long)v->valuedouble : -1;
}

static line_key key_of(const char *line, const cldqn_config *cfgs, int n)
{
    cJSON *o = cJSON_Parse(line); /* NULL (out of memory): keys -1, kept in order */
    line_key k;
    k.steps = field(o, "steps");
    k.agent = (int)field(o, "agent");
    const int seed_loop = k.agent >= 0 && k.agent < n && cfgs[k.agent].target_every == 0;
    const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "type"));
    k.phase = !(seed_loop && type && !strcmp(type, "episode") &&
                cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "terminated")));
    cJSON_Delete(o);
    return k;
}

static int key_less(line_key a, line_key b)
{
    if (a.steps != b.steps) return a.steps < b.steps;
    if (a.phase != b.phase) return a.phase < b.phase;
    return a.agent < b.agent;
}

/* Writes the ranks' line blocks (each in its own order) merged into f. The
 * blocks lie in all at off[r], len[r] bytes each, every line ending in '\n';
 * those become NULs here, so each line is a string. */
static void merge_lines(FILE *f, char *all, const int64_t *off, const int64_t *len, int ranks,
                        const cldqn_config *cfgs, int n)
{
    int64_t *pos = calloc((size_t)ranks, sizeof *pos);
    if (!pos) return;
    for (int r = 0; r < ranks; r++)
        for (int64_t j = 0; j < len[r]; j++)
            if (all[off[r] + j] == '\n') all[off[r] + j] = 0;
    for (;;) {
        int best = -1;
        line_key bk = {0, 0, 0};
        for (int r = 0; r < ranks; r++) {
            if (pos[r] >= len[r]) continue;
            line_key k = key_of(all + off[r] + pos[r], cfgs, n);
            if (best < 0 || key_less(k, bk)) best = r, bk = k;
        }
        if (best < 0) break;
        const char *s = all + off[best] + pos[best];
        fprintf(f, "%s\n", s);
        pos[best] += (int64_t)strlen(s) + 1;
    }
    free(pos);
}

/* ---- the run ----------------------------------------------------------------- */

/* Records the library's last error as this rank's message. */
static void set_error(rank_report *rep, const char *context)
{
    rep->rc = 1;
    if (context)
        snprintf(rep->error, sizeof rep->error, "%s: %s", context, cldqn_last_error());
    else
        snprintf(rep->error, sizeof rep->error, "%s", cldqn_last_error());
}

/* Every rank: trains its block of cfgs[0..n), gathers on rank 0, which
 * prints. Returns the exit code, the same on every rank. metrics: rank 0's
 * open --metrics file or NULL. */
/* The K agents' settings and gathered counters, for the results table. */
typedef struct {
    const cldqn_config *cfgs;
    const cldqn_train_stats *stats;
} gathered;

static cldqn_cli_pop_agent gathered_agent(const void *ctx, int i)
{
    const gathered *g = ctx;
    return (cldqn_cli_pop_agent){&g->cfgs[i], &g->stats[i]};
}

static int run_share(const mpi_ctx *mc, const cldqn_config *cfgs, int n, FILE *metrics)
{
    const int lo = (int)((int64_t)mc->rank * n / mc->size),
              hi = (int)((int64_t)(mc->rank + 1) * n / mc->size), m = hi - lo;
    const cldqn_config *base = &cfgs[0];
    rank_report rep;
    memset(&rep, 0, sizeof rep);
    rep.lo = lo;
    rep.m = m;
    gethostname(rep.host, sizeof rep.host - 1);
    snprintf(rep.device, sizeof rep.device, "-");

    /* Create first, and stop everyone early if any rank cannot. */
    cldqn_config *mine = NULL;
    cldqn_population *p = NULL;
    char spec[256];
    if (m > 0) {
        if (!(mine = malloc((size_t)m * sizeof *mine))) {
            cldqn_fail(CLDQN_ERR_NOMEM, "out of memory");
            set_error(&rep, NULL);
        } else if (pick_device(base, mc->local_rank, spec, sizeof spec) != CLDQN_OK) {
            set_error(&rep, NULL);
        } else {
            memcpy(mine, cfgs + lo, (size_t)m * sizeof *mine);
            for (int i = 0; i < m; i++) snprintf(mine[i].device, sizeof mine[i].device, "%s", spec);
            if (cldqn_population_create(mine, m, &p) != CLDQN_OK) {
                set_error(&rep, "--population");
            } else {
                cldqn_population_set_first(p, lo);
                snprintf(rep.device, sizeof rep.device, "%s", cldqn_population_device_name(p));
            }
        }
    }
    cldqn_cli_catch_signals(on_signal);
    int any_failed = 0;
    MPI_Allreduce(&rep.rc, &any_failed, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    /* A signal during any rank's start-up stops every rank before training:
     * nothing trained, nothing written (the --metrics file rank 0 opened is
     * removed), the same exit code everywhere. */
    int held = stop_signal, startup_sig = 0;
    MPI_Allreduce(&held, &startup_sig, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    if (!any_failed && startup_sig) {
        if (mc->rank == 0) {
            if (metrics) {
                fclose(metrics);
                remove(base->metrics);
            }
            fprintf(stderr,
                    "cldqn-mpi: interrupted by %s during start-up; nothing was trained or "
                    "written\n",
                    startup_sig == SIGTERM ? "SIGTERM" : "SIGINT");
        }
        cldqn_population_free(p);
        free(mine);
        return 128 + startup_sig;
    }
    if (!any_failed && mc->rank == 0 && !base->quiet)
        fprintf(stderr,
                "training a population of %d agents across %d MPI ranks (preset '%s', seeds "
                "%" PRIu64 "..)\n",
                n, mc->size, base->preset, base->seed);

    metrics_buf mb = {0};
    if (!any_failed && base->metrics[0] && !(mb.f = open_memstream(&mb.buf, &mb.len))) {
        cldqn_fail(CLDQN_ERR_NOMEM, "--metrics: out of memory");
        set_error(&rep, NULL);
    }
    if (!any_failed && p && rep.rc == 0) {
        hook_ctx hc = {mb.f ? &mb : NULL, lo};
        cldqn_train_hooks hooks = {0};
        hooks.ctx = &hc;
        hooks.on_episode = on_episode;
        hooks.on_eval = on_eval;
        hooks.stop = &stop_signal;
        cldqn_status st = cldqn_population_run(p, &hooks);
        if (st == CLDQN_ERR_INTERRUPT)
            rep.rc = 128 + stop_signal;
        else if (st)
            set_error(&rep, NULL);
        for (int i = 0; i < m && rep.rc != 1; i++) {
            if (!base->taxi.fickle_passenger && cldqn_population_evaluate(p, i) != CLDQN_OK) {
                set_error(&rep, NULL);
                break;
            }
            char path[CLDQN_CONFIG_PATH_MAX + 32];
            cldqn_population_agent_path(base->out, lo + i, path, sizeof path);
            if (cldqn_population_save(p, i, path) != CLDQN_OK) set_error(&rep, NULL);
        }
        rep.elapsed = cldqn_population_elapsed(p);
        rep.launches = cldqn_population_launches(p);
    }
    if (mb.f) {
        if (fclose(mb.f) != 0 || mb.write_failed) {
            cldqn_fail(CLDQN_ERR_NOMEM, "--metrics: out of memory");
            set_error(&rep, NULL);
        }
        if (mb.len > INT_MAX) {
            cldqn_fail(CLDQN_ERR_ARG, "--metrics: over 2 GiB of lines on one rank");
            set_error(&rep, NULL);
            mb.len = 0;
        }
        rep.metrics_bytes = (int64_t)mb.len;
    }

    /* Gather the reports, then the stats and lines of every agent. */
    const int root = mc->rank == 0, R = mc->size;
    rank_report *reps = root ? calloc((size_t)R, sizeof *reps) : NULL;
    int *counts = root ? calloc((size_t)R, sizeof *counts) : NULL;
    int *displs = root ? calloc((size_t)R, sizeof *displs) : NULL;
    cldqn_train_stats *stats = root ? calloc((size_t)n, sizeof *stats) : NULL;
    if (root && (!reps || !counts || !displs || !stats))
        MPI_Abort(MPI_COMM_WORLD, 1); /* cannot go on with the collectives */
    MPI_Gather(&rep, sizeof rep, MPI_BYTE, reps, sizeof rep, MPI_BYTE, 0, MPI_COMM_WORLD);

    cldqn_train_stats *my_stats = calloc(m > 0 ? (size_t)m : 1, sizeof *my_stats);
    if (!my_stats) MPI_Abort(MPI_COMM_WORLD, 1);
    for (int i = 0; i < m && p; i++) my_stats[i] = *cldqn_population_stats(p, i);
    if (root)
        for (int r = 0; r < R; r++) {
            counts[r] = reps[r].m * (int)sizeof(cldqn_train_stats);
            displs[r] = reps[r].lo * (int)sizeof(cldqn_train_stats);
        }
    MPI_Gatherv(my_stats, m * (int)sizeof(cldqn_train_stats), MPI_BYTE, stats, counts, displs,
                MPI_BYTE, 0, MPI_COMM_WORLD);
    free(my_stats);

    char *lines = NULL;
    int64_t *off = NULL, *len = NULL;
    if (base->metrics[0] && !any_failed) {
        int64_t total = 0;
        if (root) {
            off = calloc((size_t)R, sizeof *off);
            len = calloc((size_t)R, sizeof *len);
            if (!off || !len) MPI_Abort(MPI_COMM_WORLD, 1);
            for (int r = 0; r < R; r++) {
                off[r] = total;
                len[r] = reps[r].metrics_bytes;
                total += len[r];
            }
            for (int r = 0; r < R && total <= INT_MAX; r++) {
                counts[r] = (int)len[r];
                displs[r] = (int)off[r];
            }
            lines = malloc((size_t)total + 1);
            if (!lines) MPI_Abort(MPI_COMM_WORLD, 1);
        }
        /* Gatherv counts are ints: past 2 GiB in all, one message per rank. */
        int64_t all = total;
        MPI_Bcast(&all, 1, MPI_INT64_T, 0, MPI_COMM_WORLD);
        if (all <= INT_MAX) {
            MPI_Gatherv(mb.buf, (int)rep.metrics_bytes, MPI_CHAR, lines, counts, displs, MPI_CHAR,
                        0, MPI_COMM_WORLD);
        } else if (root) {
            memcpy(lines, mb.buf, (size_t)len[0]);
            for (int r = 1; r < R; r++)
                MPI_Recv(lines + off[r], (int)len[r], MPI_CHAR, r, 7, MPI_COMM_WORLD,
                         MPI_STATUS_IGNORE);
        } else {
            MPI_Send(mb.buf, (int)rep.metrics_bytes, MPI_CHAR, 0, 7, MPI_COMM_WORLD);
        }
    }
    free(mb.buf);
    cldqn_population_free(p);
    free(mine);

    int rc = 0;
    if (root) {
        /* Exit code: an error wins over an interrupt. */
        int first_err = -1, n_err = 0;
        for (int r = 0; r < R; r++) {
            if (reps[r].rc == 1) {
                if (first_err < 0) first_err = r;
                n_err++;
            } else if (reps[r].rc > rc && rc != 1) {
                rc = reps[r].rc;
            }
        }
        if (first_err >= 0) {
            rc = 1;
            if (n_err > 1)
                fprintf(stderr, "cldqn-mpi: rank %d (%s): %s (and %d other rank%s)\n", first_err,
                        reps[first_err].host, reps[first_err].error, n_err - 1,
                        n_err > 2 ? "s" : "");
            else
                fprintf(stderr, "cldqn-mpi: rank %d (%s): %s\n", first_err, reps[first_err].host,
                        reps[first_err].error);
        }
        if (metrics) {
            if (lines) {
                lines[off[R - 1] + len[R - 1]] = 0; /* the last line ends as a string */
                merge_lines(metrics, lines, off, len, R, cfgs, n);
            }
            if (fclose(metrics) != 0) {
                fprintf(stderr, "cldqn-mpi: --metrics: writing '%s' failed\n", base->metrics);
                rc = rc ? rc : 1;
            }
        }
        if (!any_failed) {
            int64_t total_steps = 0, launches = 0;
            double el = 0;
            for (int i = 0; i < n; i++) total_steps += stats[i].steps;
            for (int r = 0; r < R; r++) {
                launches += reps[r].launches;
                if (reps[r].elapsed > el) el = reps[r].elapsed;
            }
            /* The ranks run side by side: the slowest one's time is the run's. */
            printf("population of %d across %d MPI ranks: %" PRId64
                   " env steps in %.1f s (%.0f env steps/s), %" PRId64 " launches\n",
                   n, R, total_steps, el, el > 0 ? (double)total_steps / el : 0.0, launches);
            for (int r = 0; r < R; r++) {
                if (reps[r].m > 0)
                    printf("rank %d on %s: agents %d..%d on %s, %.1f s\n", r, reps[r].host,
                           reps[r].lo, reps[r].lo + reps[r].m - 1, reps[r].device, reps[r].elapsed);
                else
                    printf("rank %d on %s: no agents\n", r, reps[r].host);
            }
            const gathered g = {cfgs, stats};
            cldqn_cli_pop_table(stdout, n, gathered_agent, &g);
            if (rc != 1) cldqn_cli_pop_checkpoints(stdout, base->out, n);
            if (rc > 128)
                fprintf(stderr,
                        "cldqn-mpi: interrupted; checkpoints saved (continue on one device "
                        "with cldqn train --resume %s)\n",
                        base->out);
        }
        fflush(stdout);
    }
    free(reps);
    free(counts);
    free(displs);
    free(stats);
    free(lines);
    free(off);
    free(len);
    MPI_Bcast(&rc, 1, MPI_INT, 0, MPI_COMM_WORLD);
    return rc;
}

/* Rank 0's population runner (see cldqn_cli_pop_runner). */
static int runner(void *ctx, const cldqn_config *cfg, int k, const char *const *sweep, int n_sweep)
{
    mpi_ctx *mc = ctx;
    mc->ran = 1;
    start_msg msg = {0, 0, 0};
    cldqn_config *cfgs = NULL;
    FILE *metrics = NULL;
    if (cldqn_population_configs(cfg, k, sweep, n_sweep, &cfgs, &msg.n) != CLDQN_OK) {
        cldqn_cli_error(NULL);
        msg.rc = 2;
    } else if (cfg->metrics[0] && !(metrics = fopen(cfg->metrics, "w"))) {
        fprintf(stderr, "cldqn-mpi: --metrics: cannot write '%s'\n", cfg->metrics);
        msg.rc = 1;
    } else {
        msg.go = 1;
    }
    MPI_Bcast(&msg, sizeof msg, MPI_BYTE, 0, MPI_COMM_WORLD);
    if (!msg.go) {
        free(cfgs);
        return msg.rc;
    }
    MPI_Bcast(cfgs, msg.n * (int)sizeof *cfgs, MPI_BYTE, 0, MPI_COMM_WORLD);
    int rc = run_share(mc, cfgs, msg.n, metrics);
    free(cfgs);
    return rc;
}

static int has_arg(int argc, char **argv, const char *name)
{
    size_t n = strlen(name);
    for (int i = 1; i < argc; i++)
        if (!strncmp(argv[i], name, n) && (argv[i][n] == 0 || argv[i][n] == '=')) return 1;
    return 0;
}

/* The rest of cldqn-mpi; argv as main's. */
static int dispatch(mpi_ctx *mc, int argc, char **argv)
{
    const int root = mc->rank == 0;
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
        !strcmp(argv[1], "help")) {
        if (root) usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version")) {
        if (root) printf("cldqn-mpi %s\n", CLDQN_VERSION);
        return 0;
    }
    if (strcmp(argv[1], "train")) {
        if (root)
            fprintf(stderr, "cldqn-mpi: unknown command '%s' (only 'train'; try --help)\n",
                    argv[1]);
        return 2;
    }
    if (has_arg(argc - 1, argv + 1, "--help") || has_arg(argc - 1, argv + 1, "-h")) {
        if (!root) return 0;
        usage(stdout);
        printf("\n");
        char *help[] = {"train", "--help", NULL};
        return cldqn_cmd_train(2, help);
    }
    /* A run that is no population is refused by cldqn_cmd_train_with (the
     * population may come from a config file). Signals stay held until
     * run_share has set up this rank's devices. */
    if (root) {
        int rc = cldqn_cmd_train_with(argc - 1, argv + 1, runner, mc);
        if (!mc->ran) { /* parse error, --print-config ...: the others just exit */
            start_msg msg = {0, rc, 0};
            MPI_Bcast(&msg, sizeof msg, MPI_BYTE, 0, MPI_COMM_WORLD);
        }
        return rc;
    }
    start_msg msg;
    MPI_Bcast(&msg, sizeof msg, MPI_BYTE, 0, MPI_COMM_WORLD);
    if (!msg.go) return msg.rc;
    cldqn_config *cfgs = malloc((size_t)msg.n * sizeof *cfgs);
    if (!cfgs) MPI_Abort(MPI_COMM_WORLD, 1);
    MPI_Bcast(cfgs, msg.n * (int)sizeof *cfgs, MPI_BYTE, 0, MPI_COMM_WORLD);
    int rc = run_share(mc, cfgs, msg.n, NULL);
    free(cfgs);
    return rc;
}

int main(int argc, char **argv)
{
    cldqn_cli_hold_signals();
    MPI_Init(&argc, &argv);
    mpi_ctx mc = {0, 1, 0, 0};
    MPI_Comm_rank(MPI_COMM_WORLD, &mc.rank);
    MPI_Comm_size(MPI_COMM_WORLD, &mc.size);
    MPI_Comm node;
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, mc.rank, MPI_INFO_NULL, &node);
    MPI_Comm_rank(node, &mc.local_rank);
    MPI_Comm_free(&node);
    int rc = dispatch(&mc, argc, argv);
    MPI_Finalize();
    return rc;
}
