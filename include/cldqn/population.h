/* population.h - K independent DQN agents trained together.
 *
 * Each agent owns its weights, Adam state, target network, replay memory, RNG
 * streams and Taxi instances, exactly as a cldqn_trainer does: a population
 * is the trainer's loop (trainer.h) over K agents, a solo run K = 1. On the
 * fused OpenCL path with K > 1 every training step is ONE kernel launch
 * (kernels/fused.cl, fused_update_pop: one work-group per agent) for all
 * agents that learn on it, and greedy actions come from one launch of
 * q_act_pop; on the layered path or the host reference each agent's
 * network runs as a solo one (all on one device). Agent i's numbers are
 * bit for bit those of a cldqn_trainer run alone with agent i's
 * configuration (tests/test_population.c, tests/cli/population.sh).
 *
 * Agents may differ only in the settings that neither the kernel program nor
 * the launch depends on: the sweepable keys of config.h's key table
 * (cldqn_config_sweep_keys; clip all > 0 or all 0). Everything else must be
 * equal.
 *
 * Checkpoints: agent i's PATH.agentI + PATH.agentI.state are exactly what
 * cldqn_trainer_save writes (host/train/train_state.c) plus the agent's
 * index in the metadata, so the population resumes bit-identically to an
 * uninterrupted run (cldqn_population_resume) and agent i alone continues
 * with cldqn_trainer_resume bit-identically to the population. save-every
 * writes every agent's pair (each file atomic); render-every and summary
 * are not honoured. */
#ifndef CLDQN_POPULATION_H
#define CLDQN_POPULATION_H

#include <signal.h>
#include <stddef.h>

#include "cldqn/config.h"
#include "cldqn/status.h"
#include "cldqn/trainer.h"

typedef struct cldqn_population cldqn_population;

/* Agent configurations for a population of k from base: agent i gets seed
 * base->seed + i, then the sweep combination i % G applied, where the G
 * combinations are the cartesian product of the sweep items ("lr=1e-3,3e-3",
 * "gamma=0.9,0.99", "seed=5,9"; earlier items vary slowest). k <= 0 means
 * k = G. out receives *k_out configurations (malloc'd; free it). Fails with
 * CLDQN_ERR_ARG on an unknown or unsupported key (the message names the
 * supported ones) or a bad value. */
cldqn_status cldqn_population_configs(const cldqn_config *base, int k, const char *const *sweep,
                                      int n_sweep, cldqn_config **out, int *k_out);

/* Reads a sweep file: one KEY=V1,V2,... item a line ('#' starts a comment;
 * blanks are ignored), each checked as cldqn_population_configs would check
 * it, values against base. Errors are one line, "FILE:LINE: ...". items
 * receives at most max (<= 16) pointers into *text (malloc'd; free it). */
cldqn_status cldqn_population_sweep_file(const cldqn_config *base, const char *path, char **text,
                                         const char **items, int max, int *n);

/* The settings a sweep may vary: cldqn_config_sweep_keys(). */
const char *const *cldqn_population_sweep_keys(void);

/* Creates k agents from cfgs (see the limits above); initial weights from
 * each agent's own INIT stream, as cldqn_trainer_create. */
cldqn_status cldqn_population_create(const cldqn_config *cfgs, int k, cldqn_population **out);

/* k agents continuing from checkpoints: agent i from paths[i] (PATH and
 * PATH.state, by cldqn_population_save or cldqn_trainer_save) with cfgs[i]
 * as the configuration to continue with (normally the one stored there,
 * run limits changed). An agent saved on an evaluation step of an
 * until-optimal run is evaluated again, so one that had stopped at the
 * optimum stays stopped. CLDQN_ERR_FORMAT as cldqn_trainer_resume. */
cldqn_status cldqn_population_resume(const cldqn_config *cfgs, int k, const char *const *paths,
                                     cldqn_population **out);
void cldqn_population_free(cldqn_population *p);

/* Runs until every agent hit its step/episode limit or (with until_optimal)
 * reached the exact optimum at an evaluation (it then stops learning and
 * stepping), or *hooks->stop (CLDQN_ERR_INTERRUPT). CLDQN_ERR_NUMERIC on a
 * non-finite loss of any agent. The hooks are the trainer's: in them
 * cldqn_trainer_agent gives the agent reported, cldqn_trainer_stats its
 * counters. Per env step they come in agent order: the seed loop's
 * terminated episodes first, then per agent its other episode ends and its
 * evaluation, then the checkpoints. */
cldqn_status cldqn_population_run(cldqn_population *p, const cldqn_train_hooks *hooks);

/* Exact greedy evaluation of agent i from all 300 starts (plain Taxi). */
cldqn_status cldqn_population_evaluate(cldqn_population *p, int i);

/* Agent i's online weights (lay->total floats) into out. */
cldqn_status cldqn_population_read_params(cldqn_population *p, int i, float *out);

/* Writes agent i's checkpoint: path (weights, its configuration, metadata
 * "steps" and "agent") and path.state, as cldqn_trainer_save. Call between
 * runs or from a hook; CLDQN_ERR_NUMERIC (nothing written) on non-finite
 * numbers. */
cldqn_status cldqn_population_save(cldqn_population *p, int i, const char *path);

/* path with ".agentI" inserted before the extension of its last component
 * ("run.safetensors" -> "run.agent2.safetensors", "run" -> "run.agent2"). */
void cldqn_population_agent_path(const char *path, int i, char *buf, size_t size);

/* Makes the agents number first, first+1, ... (default 0) in what p writes:
 * the checkpoints' "agent" metadata and the paths of in-run checkpoints.
 * For a block of a larger population (cldqn-mpi: one block per rank), so
 * that its files equal the one-process run's. */
void cldqn_population_set_first(cldqn_population *p, int first);

/* The loop itself, for cldqn_trainer_set_trace. */
cldqn_trainer *cldqn_population_trainer(cldqn_population *p);

int cldqn_population_size(const cldqn_population *p);
const cldqn_train_stats *cldqn_population_stats(const cldqn_population *p, int i);
const cldqn_config *cldqn_population_config(const cldqn_population *p, int i);
const cldqn_layout *cldqn_population_layout(const cldqn_population *p);
const char *cldqn_population_device_name(const cldqn_population *p);
/* Seconds spent in cldqn_population_run; update launches so far (one per
 * training step on the population kernels, one per agent's update else). */
double cldqn_population_elapsed(const cldqn_population *p);
int64_t cldqn_population_launches(const cldqn_population *p);

#endif
