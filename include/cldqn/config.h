/* config.h - the trainer's settings: presets, flags, config files, JSON.
 *
 * Every setting has one key (the flag name without "--", e.g. "learning-starts";
 * "_" is accepted for "-"). The same setter serves command-line flags, `key =
 * value` config files and the JSON stored in checkpoints, so the three can
 * never disagree. Settings that only steer one run (out, metrics, backend,
 * device, quiet, profile, population, sweep) are not stored in checkpoints. */
#ifndef CLDQN_CONFIG_H
#define CLDQN_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cldqn/net.h"
#include "cldqn/status.h"
#include "cldqn/taxi.h"

#define CLDQN_CONFIG_PATH_MAX 1024

/* Learning rate over env steps (cldqn_config_lr). */
typedef enum { CLDQN_LR_CONSTANT, CLDQN_LR_LINEAR, CLDQN_LR_COSINE } cldqn_lr_schedule;

typedef struct {
    char preset[16]; /* "seed" or "default" */
    uint64_t seed;
    int64_t steps;          /* stop after this many env steps in total; 0 = no limit */
    int64_t episodes;       /* stop after this many episodes; 0 = no limit */
    int episode_steps;      /* the seed's `for t in range(1000)` cap; 0 = none */
    cldqn_taxi_config taxi; /* rainy, fickle, time limit of training episodes */
    cldqn_net_shape shape;
    cldqn_init_kind init;
    cldqn_learn_config learn;
    int batch;
    int64_t replay;          /* replay memory capacity */
    int sample_replacement;  /* 0: random.sample without replacement (the seed) */
    int64_t learning_starts; /* updates begin once the memory holds more than this */
    int train_every;         /* env steps per update */
    int grad_steps;          /* updates each time train_every env steps pass */
    int n_step;              /* n-step returns (1: one-step TD targets) */
    int envs;                /* Taxi instances stepped together (1 = the plain loop) */
    int64_t target_every;    /* env steps per target sync; 0 = when an episode terminates */
    cldqn_lr_schedule lr_schedule;
    float lr_end;           /* the schedule's floor */
    int64_t lr_decay_steps; /* env steps from lr to lr_end */
    float eps_start, eps_end;
    int64_t eps_decay_steps; /* linear from eps_start to eps_end over these env steps */
    int until_optimal;       /* stop when the greedy policy is exactly optimal */
    int64_t eval_every;      /* env steps between exact greedy evaluations; 0 = never */
    int64_t save_every;      /* env steps between checkpoints; 0 = only at the end */
    int render_every;        /* render after every N-th episode; 0 = never */
    int summary;             /* print the Keras-style model summary first */
    /* Per-run settings, never stored in checkpoints. */
    char out[CLDQN_CONFIG_PATH_MAX];
    char metrics[CLDQN_CONFIG_PATH_MAX];
    char device[256];
    cldqn_backend backend;
    cldqn_update_path path; /* OpenCL update path */
    int quiet;
    char profile[CLDQN_CONFIG_PATH_MAX]; /* Chrome trace path ("" = no profiling) */
    int64_t profile_steps;               /* env steps profiled from learning-starts; 0 = all */
    /* Population (cldqn train): K agents (0 = one agent, the plain loop), the
     * --sweep items separated by spaces, a sweep file of one item a line. */
    int population;
    char sweep[CLDQN_CONFIG_PATH_MAX];
    char sweep_file[CLDQN_CONFIG_PATH_MAX];
} cldqn_config;

/* Fills cfg with a preset ("default" or "seed"). */
cldqn_status cldqn_config_preset(cldqn_config *cfg, const char *name);

/* Sets one key from text. `origin` prefixes error messages (e.g. "--gamma" or
 * "run.cfg:3: gamma"); NULL uses "--KEY". Bool keys accept 1/0/true/false/yes/no
 * and an empty value meaning true. Fails with CLDQN_ERR_ARG. */
cldqn_status cldqn_config_set(cldqn_config *cfg, const char *key, const char *value,
                              const char *origin);

/* 1 if key names a setting, 2 if it is a bool (a flag without a value), 0 if unknown. */
int cldqn_config_key_kind(const char *key);

/* Every key, in the order of --print-config: the i-th, or NULL past the end. */
const char *cldqn_config_key_name(int i);

/* Whether the agents of one population may differ in a setting: only where
 * neither the kernel program nor the launch depends on it. */
typedef enum {
    CLDQN_SWEEP_NO,      /* equal in all agents (or unknown key) */
    CLDQN_SWEEP_ANY,     /* any values */
    CLDQN_SWEEP_POSITIVE /* all > 0 or all 0 (clip: a program clips or not) */
} cldqn_sweep_rule;
cldqn_sweep_rule cldqn_config_key_sweep(const char *key);

/* The keys with a rule other than CLDQN_SWEEP_NO, in table order
 * (NULL-terminated), and the same as one "seed, lr, ..." line. */
const char *const *cldqn_config_sweep_keys(void);
const char *cldqn_config_sweep_keys_text(void);

/* Copies setting key from src into dst, bit for bit; CLDQN_ERR_ARG for an
 * unknown key. */
cldqn_status cldqn_config_copy_key(cldqn_config *dst, const cldqn_config *src, const char *key);

/* Reads `key = value` lines ('#' starts a comment). */
cldqn_status cldqn_config_load_file(cldqn_config *cfg, const char *path);

/* Cross-field checks (batch <= replay, until-optimal needs plain Taxi, ...). */
cldqn_status cldqn_config_check(const cldqn_config *cfg);

/* Writes the persistent settings as one flat JSON object into buf (always
 * NUL-terminated). Returns the length needed, excluding the NUL. */
size_t cldqn_config_to_json(const cldqn_config *cfg, char *buf, size_t size);

/* Applies the keys of a flat JSON object written by cldqn_config_to_json. */
cldqn_status cldqn_config_from_json(cldqn_config *cfg, const char *json);

/* The "preset" of such JSON into buf ("" when it has none or is no JSON). */
void cldqn_config_json_preset(const char *json, char *buf, size_t size);

/* The value of setting `key` as --print-config writes it, into buf (always
 * NUL-terminated); CLDQN_ERR_ARG for an unknown key. */
cldqn_status cldqn_config_value(const cldqn_config *cfg, const char *key, char *buf, size_t size);

/* Prints every setting as `key = value` lines (a valid config file). */
void cldqn_config_print(const cldqn_config *cfg, FILE *f);

/* Epsilon after `step` env steps (the linear schedule). */
float cldqn_config_epsilon(const cldqn_config *cfg, int64_t step);

/* The learning rate of an update made after `step` env steps: lr, falling
 * to lr_end over lr_decay_steps (linear, or half a cosine), then lr_end. */
float cldqn_config_lr(const cldqn_config *cfg, int64_t step);

#endif
