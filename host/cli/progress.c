/* progress.c - progress bar, plain progress lines, renders and metrics. */
#define _GNU_SOURCE
#include "progress.h"

#include "cli.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

struct cldqn_progress {
    cldqn_config cfg;
    FILE *out, *err, *metrics;
    int tty;
    int quiet;
    int drawn;        /* a bar is on screen */
    double last_draw; /* monotonic seconds */
    double t0;
    int write_failed;
};

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

cldqn_status cldqn_progress_open(const cldqn_config *cfg, int resuming, FILE *out, FILE *err,
                                 cldqn_progress **pp)
{
    *pp = NULL;
    cldqn_progress *p = calloc(1, sizeof *p);
    if (!p) return cldqn_fail(CLDQN_ERR_NOMEM, "out of memory");
    p->cfg = *cfg;
    p->out = out;
    p->err = err;
    p->quiet = cfg->quiet;
    p->tty = isatty(fileno(err));
    p->t0 = mono();
    p->last_draw = -1e9;
    if (cfg->metrics[0]) {
        p->metrics = fopen(cfg->metrics, resuming ? "a" : "w");
        if (!p->metrics) {
            free(p);
            return cldqn_fail(CLDQN_ERR_IO, "--metrics: cannot write '%s': %m", cfg->metrics);
        }
    }
    *pp = p;
    return CLDQN_OK;
}

static void fmt_count(char *buf, size_t size, int64_t v)
{
    char tmp[32];
    int n = snprintf(tmp, sizeof tmp, "%" PRId64, v < 0 ? -v : v), o = 0;
    if (v < 0 && o + 1 < (int)size) buf[o++] = '-';
    for (int i = 0; i < n && o + 2 < (int)size; i++) {
        if (i && (n - i) % 3 == 0) buf[o++] = ',';
        buf[o++] = tmp[i];
    }
    buf[o] = 0;
}

static void fmt_duration(char *buf, size_t size, double s)
{
    if (!isfinite(s) || s < 0) {
        snprintf(buf, size, "--:--");
        return;
    }
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, size, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(buf, size, "%ld:%02ld", t / 60, t % 60);
}

/* Fraction done by whichever limit is set (steps first), or -1. */
static double fraction(const cldqn_config *c, const cldqn_train_stats *s)
{
    if (c->steps > 0) return (double)s->steps / (double)c->steps;
    if (c->episodes > 0) return (double)s->episodes / (double)c->episodes;
    return -1;
}

static void status_line(const cldqn_progress *p, const cldqn_train_stats *s, char *buf, size_t size)
{
    char steps[32], eps[32], eta[48];
    fmt_count(steps, sizeof steps, s->steps);
    fmt_count(eps, sizeof eps, s->episodes);
    /* A rate over the first few milliseconds means nothing. */
    double rate = s->elapsed > 0.2 ? (double)s->steps / s->elapsed : 0;
    double f = fraction(&p->cfg, s);
    fmt_duration(eta, sizeof eta, f > 0 ? s->elapsed * (1 - f) / f : NAN);
    char ret[32], loss[32];
    /* Before the first episode / update there is nothing to show. */
    snprintf(ret, sizeof ret, isnan(s->mean_return) ? "--" : "%.2f", s->mean_return);
    snprintf(loss, sizeof loss, isnan(s->last_loss) ? "--" : "%.4g", (double)s->last_loss);
    /* With --until-optimal the limit is a cap the run seldom reaches: no ETA. */
    snprintf(buf, size, "steps %s | ep %s | ret(100) %s | loss %s | eps %.3f | %.0f/s | %s %s",
             steps, eps, ret, loss, (double)s->epsilon, rate,
             p->cfg.until_optimal ? "cap in" : "ETA", eta);
}

static void draw(cldqn_progress *p, const cldqn_train_stats *s)
{
    char line[256];
    status_line(p, s, line, sizeof line);
    if (p->tty) {
        /* Until the optimum, the share of the cap is no measure of progress. */
        double f = p->cfg.until_optimal ? -1 : fraction(&p->cfg, s);
        char bar[24];
        int w = 20, filled = f > 0 ? (int)(f * w) : 0;
        if (filled > w) filled = w;
        for (int i = 0; i < w; i++) bar[i] = i < filled ? '#' : '.';
        bar[w] = 0;
        /* A line wider than the terminal wraps, and "\r" then only returns
         * to its last row: every redraw would add rows. Cut it to fit. */
        struct winsize ws;
        int cols = ioctl(fileno(p->err), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 ? ws.ws_col : 80;
        int room = cols - 1 - (w + 3); /* "[bar] " */
        if (room < 0) room = 0;
        fprintf(p->err, "\r[%s] %.*s\033[K", f >= 0 ? bar : "....................", room, line);
        p->drawn = 1;
    } else {
        fprintf(p->err, "%s\n", line);
    }
    fflush(p->err);
}

void cldqn_progress_end(cldqn_progress *p)
{
    if (p && p->drawn) {
        fprintf(p->err, "\r\033[K");
        fflush(p->err);
        p->drawn = 0;
    }
}

static void on_tick(void *ctx, const cldqn_trainer *t)
{
    cldqn_progress *p = ctx;
    if (p->quiet) return;
    /* Checking the clock only when the step counter crosses a multiple of
     * 64 keeps the hook cheap; an iteration steps every env once, so with
     * N envs it began at steps - N (N = 1: steps % 64 == 0, as always). */
    const cldqn_train_stats *s = cldqn_trainer_stats(t);
    const int64_t before = s->steps - cldqn_trainer_envs(t);
    if (s->steps / 64 == before / 64) return;
    double now = mono(), period = p->tty ? 0.1 : 5.0;
    if (now - p->last_draw < period) return;
    p->last_draw = now;
    draw(p, s);
}

static void on_episode(void *ctx, const cldqn_trainer *t, int terminated)
{
    cldqn_progress *p = ctx;
    const cldqn_train_stats *s = cldqn_trainer_stats(t);
    if (p->metrics) {
        if (cldqn_cli_episode_json(p->metrics, -1, s, terminated)) p->write_failed = 1;
        fflush(p->metrics); /* so tools/plot can follow a running job */
        if (ferror(p->metrics)) p->write_failed = 1;
    }
    int every = p->cfg.render_every;
    if (!p->quiet && every > 0 && s->episodes % every == 0) {
        char buf[2048];
        cldqn_progress_end(p);
        cldqn_taxi_render(cldqn_trainer_env(t), 0, buf, sizeof buf);
        fprintf(p->out, "Episode: %" PRId64 "\n%s", s->episodes, buf);
        if (buf[0] && buf[strlen(buf) - 1] != '\n') fputc('\n', p->out);
        fflush(p->out);
    }
}

static void on_eval(void *ctx, const cldqn_trainer *t)
{
    cldqn_progress *p = ctx;
    const cldqn_train_stats *s = cldqn_trainer_stats(t);
    if (p->metrics) {
        if (cldqn_cli_eval_json(p->metrics, -1, s)) p->write_failed = 1;
        fflush(p->metrics);
        if (ferror(p->metrics)) p->write_failed = 1;
    }
    if (!p->quiet && !p->tty) {
        char steps[32];
        fmt_count(steps, sizeof steps, s->steps);
        fprintf(p->err,
                "eval at %s steps: greedy mean return %.3f (optimal %.3f), success %.1f%%\n", steps,
                s->eval.mean_return, s->optimal_return, 100 * s->eval.success_rate);
        fflush(p->err);
    }
}

static void on_save(void *ctx, const cldqn_trainer *t, const char *path)
{
    (void)ctx;
    (void)t;
    (void)path;
}

void cldqn_progress_hooks(cldqn_progress *p, cldqn_train_hooks *h)
{
    h->ctx = p;
    h->on_tick = on_tick;
    h->on_episode = on_episode;
    h->on_eval = on_eval;
    h->on_save = on_save;
}

cldqn_status cldqn_progress_close(cldqn_progress *p)
{
    if (!p) return CLDQN_OK;
    cldqn_status st = CLDQN_OK;
    if (p->metrics) {
        if (fclose(p->metrics) != 0 || p->write_failed)
            st = cldqn_fail(CLDQN_ERR_IO, "--metrics: writing '%s' failed", p->cfg.metrics);
    }
    free(p);
    return st;
}

void cldqn_print_model_summary(const cldqn_layout *lay, FILE *f)
{
    const char *rule = "_________________________________________________________________";
    const char *dbl = "=================================================================";
    char name[64], shape[32], count[32];
    long total = 0;
    fprintf(f, "Model: \"sequential\"\n%s\n", rule);
    fprintf(f, " %-27s %-25s %-10s\n%s\n", "Layer (type)", "Output Shape", "Param #", dbl);
    int E = lay->shape.embed, H = lay->shape.hidden, A = lay->shape.n_actions;
    long n = (long)lay->shape.n_states * E;
    total += n;
    snprintf(shape, sizeof shape, "(None, 1, %d)", E);
    fprintf(f, " %-27s %-25s %-10ld\n%65s\n", "embedding (Embedding)", shape, n, "");
    snprintf(shape, sizeof shape, "(None, %d)", E);
    fprintf(f, " %-27s %-25s %-10d\n%65s\n", "reshape (Reshape)", shape, 0, "");
    int in = E;
    for (int l = 0; l <= lay->shape.layers; l++) {
        int o = l < lay->shape.layers ? H : A;
        n = (long)in * o + o;
        total += n;
        if (l)
            snprintf(name, sizeof name, "dense_%d (Dense)", l);
        else
            snprintf(name, sizeof name, "dense (Dense)");
        snprintf(shape, sizeof shape, "(None, %d)", o);
        fprintf(f, " %-27s %-25s %-10ld\n%65s\n", name, shape, n, "");
        in = o;
    }
    fmt_count(count, sizeof count, total);
    fprintf(f, "%s\nTotal params: %s\nTrainable params: %s\nNon-trainable params: 0\n%s\n", dbl,
            count, count, rule);
}
