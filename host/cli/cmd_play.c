/* cmd_play.c - `cldqn play`: play Taxi in the terminal, or drive it from a script.
 *
 * With a terminal on stdin a person plays: the map is drawn, a key or word
 * per line picks the action, reward and total are shown. Otherwise actions
 * are read one per line from stdin (scripted mode), and --jsonl prints one
 * JSON object per step for other programs. The episode stops at termination
 * or truncation. */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "cldqn/checkpoint.h"
#include "cldqn/taxi.h"
#include "cldqn/trainer.h"
#include "cli.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: cldqn play [--start N | --seed S] [--rainy] [--fickle] [--time-limit N]\n"
            "                  [--jsonl] [--color | --no-color] [--policy CKPT [--delay MS]]\n"
            "\n"
            "Play Taxi (Gymnasium's Taxi-v3/v4 rules). With a terminal on stdin you play\n"
            "interactively; otherwise actions are read from stdin, one per line, as 0-5,\n"
            "south/north/east/west/pickup/dropoff, their first letters s n e w p d, or an\n"
            "arrow key's escape sequence (q quits; # starts a comment line). Stops when the\n"
            "passenger is delivered, the time limit truncates the episode, or input ends.\n"
            "\n"
            "options:\n"
            "  --start N        start in state N (0..499) instead of a random start state\n"
            "  --seed S         seed of the start-state draw, rain and fickleness (default 0,\n"
            "                   interactive: the clock)\n"
            "  --rainy          moves slip sideways: 0.8 intended, 0.1 each side\n"
            "  --fickle         the passenger may change destination once (p = 0.3)\n"
            "  --time-limit N   truncate after N steps (default 0 = none)\n"
            "  --jsonl          print one JSON object per step: state, action, reward,\n"
            "                   next_state, terminated, truncated, action_mask (of next_state,\n"
            "                   like Gymnasium's info) instead of drawing the map\n"
            "  --color, --no-color  ANSI colours in the map (default: when stdout is a terminal)\n"
            "  --policy CKPT    watch a checkpoint's greedy policy drive instead of reading\n"
            "                   stdin (at most 200 steps without --time-limit)\n"
            "  --delay MS       pause per step with --policy (default 300 on a terminal, else 0)\n"
            "  -h, --help       show this help\n");
}

/* Parses a whole decimal integer in [lo, hi]; 0 on success. */
static int parse_long(const char *s, long long lo, long long hi, long long *out)
{
    if (!s || !*s) return -1;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

/* Strips leading and trailing blanks in place. */
static char *trim(char *s)
{
    while (isspace((unsigned char)*s)) s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1])) s[--n] = '\0';
    return s;
}

/* An action: a name or digit, the first letter of a name, or an arrow key
 * (ESC [ A-D, as a terminal sends it), the same in both modes. */
static int parse_key(const char *s)
{
    static const char keys[] = "snewpd";
    if (s[0] && !s[1]) {
        const char *k = strchr(keys, tolower((unsigned char)s[0]));
        if (k) return (int)(k - keys);
    }
    if (s[0] == 0x1b && (s[1] == '[' || s[1] == 'O') && s[2] && !s[3]) {
        static const char arrows[] = "BACD"; /* down, up, right, left: south north east west */
        const char *k = strchr(arrows, s[2]);
        if (k) return (int)(k - arrows);
    }
    return cldqn_taxi_parse_action(s);
}

static const char *plural(long n)
{
    return n == 1 ? "" : "s";
}

static void print_jsonl(int state, int action, const cldqn_taxi_step_result *r)
{
    uint8_t m = cldqn_taxi_action_mask(r->next_state);
    cJSON *o = cJSON_CreateObject(), *mask = cJSON_CreateArray();
    int ok = o && mask && cJSON_AddNumberToObject(o, "state", state) &&
             cJSON_AddNumberToObject(o, "action", action) &&
             cJSON_AddNumberToObject(o, "reward", r->reward) &&
             cJSON_AddNumberToObject(o, "next_state", r->next_state) &&
             cJSON_AddBoolToObject(o, "terminated", r->terminated) &&
             cJSON_AddBoolToObject(o, "truncated", r->truncated);
    for (int a = 0; ok && a < 6; a++) {
        cJSON *bit = cJSON_CreateNumber((m >> a) & 1);
        ok = bit && cJSON_AddItemToArray(mask, bit);
        if (!ok) cJSON_Delete(bit);
    }
    if (ok && cJSON_AddItemToObject(o, "action_mask", mask))
        mask = NULL;
    else
        ok = 0;
    /* Compact, as this line has always been (small integers print exactly). */
    char *text = ok ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(mask);
    cJSON_Delete(o);
    if (text)
        printf("%s\n", text);
    else
        fprintf(stderr, "cldqn: play: out of memory writing a line\n");
    cJSON_free(text);
}

static void print_map(const cldqn_taxi *env, int color)
{
    char buf[1024];
    size_t n = cldqn_taxi_render(env, color, buf, sizeof buf);
    fwrite(buf, 1, n < sizeof buf ? n : sizeof buf - 1, stdout);
    /* Without colours the map alone does not show where anything is. */
    static const char *const pads[5] = {"R", "G", "Y", "B", "in the taxi"};
    int row, col, pass, dest;
    cldqn_taxi_decode(env->state, &row, &col, &pass, &dest);
    printf("state %d: taxi at row %d col %d, passenger %s%s, destination %s\n", env->state, row,
           col, pass < 4 ? "at " : "", pads[pass], pads[dest]);
}

int cldqn_cmd_play(int argc, char **argv)
{
    cldqn_taxi_config cfg = cldqn_taxi_default_config();
    long long start = -1, seed = 0, v;
    int have_seed = 0, jsonl = 0, color = -1;
    const char *policy_path = NULL;
    long long delay_ms = -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--start")) {
            if (!val) goto missing;
            if (parse_long(val, 0, CLDQN_TAXI_STATES - 1, &start)) {
                fprintf(stderr, "cldqn: play: --start '%s' is not a state in 0..499\n", val);
                return 2;
            }
            i++;
        } else if (!strcmp(a, "--seed")) {
            if (!val) goto missing;
            if (parse_long(val, 0, (long long)(~0ULL >> 1), &seed)) {
                fprintf(stderr, "cldqn: play: --seed '%s' is not a non-negative integer\n", val);
                return 2;
            }
            have_seed = 1;
            i++;
        } else if (!strcmp(a, "--time-limit")) {
            if (!val) goto missing;
            if (parse_long(val, 0, 1000000000, &v)) {
                fprintf(stderr, "cldqn: play: --time-limit '%s' is not an integer >= 0\n", val);
                return 2;
            }
            cfg.time_limit = (int)v;
            i++;
        } else if (!strcmp(a, "--rainy")) {
            cfg.is_rainy = 1;
        } else if (!strcmp(a, "--fickle")) {
            cfg.fickle_passenger = 1;
        } else if (!strcmp(a, "--jsonl")) {
            jsonl = 1;
        } else if (!strcmp(a, "--color")) {
            color = 1;
        } else if (!strcmp(a, "--no-color")) {
            color = 0;
        }
        /* `--policy CKPT`: the checkpoint's greedy policy drives. */
        else if (!strcmp(a, "--policy")) {
            if (!val) goto missing;
            policy_path = val;
            i++;
        } else if (!strcmp(a, "--delay")) {
            if (!val) goto missing;
            if (parse_long(val, 0, 60000, &delay_ms)) {
                fprintf(stderr, "cldqn: play: --delay '%s' is not milliseconds in 0..60000\n", val);
                return 2;
            }
            i++;
        } else {
            fprintf(stderr, "cldqn: play: unknown option '%s' (try 'cldqn play --help')\n", a);
            return 2;
        }
        continue;
    missing:
        fprintf(stderr, "cldqn: play: %s needs a value\n", a);
        return 2;
    }

    if (delay_ms >= 0 && !policy_path) {
        fprintf(stderr, "cldqn: play: --delay paces --policy only (a person or a script sets "
                        "their own pace)\n");
        return 2;
    }
    uint8_t policy[CLDQN_TAXI_STATES];
    if (policy_path) {
        cldqn_config ck;
        cldqn_layout lay;
        float *params;
        if (cldqn_checkpoint_load(policy_path, &ck, &lay, &params) != CLDQN_OK) {
            cldqn_cli_error("play --policy");
            return 1;
        }
        cldqn_status pst = cldqn_policy_from_params(&lay, params, policy);
        free(params);
        if (pst != CLDQN_OK) {
            cldqn_cli_error("play --policy");
            return 1;
        }
        /* A looping policy never delivers: bound the episode. */
        if (cfg.time_limit == 0) cfg.time_limit = 200;
        if (delay_ms < 0) delay_ms = isatty(STDOUT_FILENO) ? 300 : 0;
    }
    int interactive = isatty(STDIN_FILENO) && !jsonl && !policy_path;
    if (color < 0) color = !jsonl && isatty(STDOUT_FILENO) && !getenv("NO_COLOR");
    if (interactive && !have_seed) seed = (long long)time(NULL);

    cldqn_taxi env;
    if (cldqn_taxi_init(&env, &cfg, (uint64_t)seed) != CLDQN_OK) {
        cldqn_cli_error("play");
        return 2;
    }
    if (start >= 0) {
        if (cldqn_taxi_reset_to(&env, (int)start) != CLDQN_OK) {
            cldqn_cli_error("play");
            return 2;
        }
    } else {
        cldqn_taxi_reset(&env);
    }

    if (interactive)
        printf("Taxi: pick up the passenger (blue letter) and drop them at the destination\n"
               "(magenta). The taxi is yellow, green with the passenger aboard.\n"
               "Actions: s(outh) n(orth) e(ast) w(est) p(ickup) d(ropoff), or 0-5; q quits.\n\n");
    if (!jsonl) print_map(&env, color);

    enum { LINE_MAX_LEN = 255 };
    char *line = NULL;
    size_t cap = 0;
    long lineno = 0, total = 0, steps = 0;
    int done = 0, last_terminated = 0, eof = 0, rc = 0;
    while (!done) {
        /* ---- action source: stdin (interactive or scripted). `--policy CKPT`
         * will plug in here as a second source. */
        int action;
        if (policy_path) {
            action = policy[env.state];
            if (delay_ms > 0 && steps > 0) {
                struct timespec ts = {delay_ms / 1000, (delay_ms % 1000) * 1000000L};
                nanosleep(&ts, NULL);
            }
            goto act;
        }
        if (interactive) {
            printf("action> ");
            fflush(stdout);
        }
        ssize_t len = getline(&line, &cap, stdin);
        if (len < 0) {
            eof = 1;
            break;
        }
        lineno++;
        const char *bad = memchr(line, '\0', (size_t)len) ? "contains a NUL byte"
                          : len > LINE_MAX_LEN + 1        ? "line too long"
                                                          : NULL;
        if (bad) {
            if (interactive) {
                printf("%s: not an action (s n e w p d, 0-5, q)\n", bad);
                continue;
            }
            fprintf(stderr, "cldqn: line %ld: %s\n", lineno, bad);
            rc = 2;
            break;
        }
        char *t = trim(line);
        if (!*t || *t == '#') continue;
        if (!strcmp(t, "q") || !strcmp(t, "quit")) break;
        action = parse_key(t);
        if (action < 0) {
            if (interactive) {
                printf("'%s' is not an action (s n e w p d, 0-5, arrows, q)\n", t);
                continue;
            }
            fprintf(stderr, "cldqn: line %ld: bad action '%s'\n", lineno, t);
            rc = 2;
            break;
        }
    act:;
        int state = env.state;
        cldqn_taxi_step_result r;
        if (cldqn_taxi_step(&env, action, &r) != CLDQN_OK) {
            cldqn_cli_error("play");
            rc = 1;
            break;
        }
        total += r.reward;
        steps++;
        done = r.terminated || r.truncated;
        last_terminated = r.terminated;
        if (jsonl) {
            print_jsonl(state, action, &r);
        } else {
            print_map(&env, color);
            printf("step %ld: %s, reward %d, total %ld\n", steps, cldqn_taxi_action_name(action),
                   r.reward, total);
        }
    }
    free(line);
    if (rc) return rc;
    if (!jsonl && done)
        printf("%s after %ld step%s, total reward %ld\n",
               last_terminated ? "Delivered" : "Time limit reached", steps, plural(steps), total);
    else if (interactive)
        printf("\nQuit after %ld step%s, total reward %ld\n", steps, plural(steps), total);
    else if (!jsonl)
        printf("%s after %ld step%s, total reward %ld\n", eof ? "End of input" : "Quit", steps,
               plural(steps), total);
    fflush(stdout);
    return ferror(stdout) ? 1 : 0;
}
