/* loop.h - the training loop over K agents (trainer.c), for population.c.
 *
 * A cldqn_trainer holds K agents, each its own settings, replay memory, RNG
 * streams, envs and counters, and one cldqn_qnets (host/cl/qnets.h) for
 * their K networks; cldqn_trainer_create/resume make K = 1. Agent i steps
 * exactly as a trainer of its own would (trainer.h's order), so its numbers
 * are bit for bit those of its solo run. Internal header. */
#ifndef CLDQN_LOOP_H
#define CLDQN_LOOP_H

#include "cldqn/trainer.h"

/* k agents from cfgs, fresh or (paths != NULL) continuing from paths[i] (as
 * cldqn_trainer_resume); in-run checkpoints go to OUT.agentI with "agent"
 * metadata, and an until-optimal agent saved on an evaluation step is
 * evaluated again, so one that had stopped at the optimum stays stopped. */
cldqn_status cldqn_loop_create(const cldqn_config *cfgs, int k, const char *const *paths,
                               cldqn_trainer **out);

int cldqn_loop_agents(const cldqn_trainer *t);
const cldqn_train_stats *cldqn_loop_stats(const cldqn_trainer *t, int i);
const cldqn_config *cldqn_loop_config(const cldqn_trainer *t, int i);
const cldqn_layout *cldqn_loop_layout(const cldqn_trainer *t);
const char *cldqn_loop_device_name(const cldqn_trainer *t);
/* Seconds in cldqn_trainer_run (over resumes: the most of any agent). */
double cldqn_loop_elapsed(const cldqn_trainer *t);
/* Update calls to the networks (launches on the population kernels). */
int64_t cldqn_loop_launches(const cldqn_trainer *t);
void cldqn_loop_set_first(cldqn_trainer *t, int first);
cldqn_status cldqn_loop_evaluate(cldqn_trainer *t, int i);
cldqn_status cldqn_loop_save(cldqn_trainer *t, int i, const char *path);
cldqn_status cldqn_loop_read_params(cldqn_trainer *t, int i, float *out);

#endif
