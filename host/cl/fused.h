/* fused.h - the fused single-launch DQN update (kernels/fused.cl), internal API.
 *
 * One kernel launch of one work-group does a whole training update of one
 * minibatch on five device buffers laid out by one cldqn_layout (params,
 * grad, Adam m, Adam v, target): target forward, TD target, online forward,
 * loss, backward into the embedding rows, optional clipping, Adam, and the
 * greedy action of one extra state under the updated parameters. Results are
 * bit-identical to ref_update (host/core/ref.c). The object owns only its program,
 * kernel, a packed-input buffer, a scratch buffer and a 2-int output buffer;
 * the five parameter buffers belong to the caller. Not thread-safe: one
 * object per queue. */
#ifndef CLDQN_FUSED_H
#define CLDQN_FUSED_H

#include <stdint.h>

#include "clprof.h"
#include "clrt.h"

#include "cldqn/net.h"
#include "cldqn/status.h"

typedef struct cldqn_fused cldqn_fused;

/* Builds the fused kernel for this layout (contiguous cldqn_layout_init
 * order), configuration and largest batch on cl's device. wg_cap caps the
 * work-group size (0: a default by device type, 16 on a CPU, 256
 * otherwise; the size is read from the device with cldqn_cl_kernel_wg). cl
 * stays owned by the caller and must outlive the object; updates run on
 * cl->queue. A failed kernel build returns CLDQN_ERR_BUILD with the log in
 * cldqn_cl_last_build_log(). */
cldqn_status cldqn_fused_create(cldqn_cl *cl, const cldqn_layout *lay,
                                const cldqn_learn_config *cfg, int max_batch, size_t wg_cap,
                                cldqn_fused **out);
void cldqn_fused_free(cldqn_fused *f);

/* One update. The buffers each hold lay->total floats. adam_t is Adam's step
 * count BEFORE the update; the update takes steps adam_t+1 .. adam_t+k where
 * k = cldqn_fused_adam_steps(f, batch->n) (1 in mean mode, n per sample), and
 * the caller adds k to its counter. next_state in [0, S) is the state whose
 * greedy action (lowest index on ties) under the updated parameters goes to
 * *next_action. loss and next_action may be NULL; if either is given the
 * call waits for the update, otherwise it only enqueues it (in order on the
 * caller's queue). Batch entries out of range give CLDQN_ERR_ARG. The loss
 * is returned as computed: a non-finite value is for the caller to judge. */
cldqn_status cldqn_fused_update(cldqn_fused *f, cl_mem params, cl_mem grad, cl_mem m, cl_mem v,
                                cl_mem target, const cldqn_batch *batch, int adam_t, int next_state,
                                float *loss, int32_t *next_action);

/* Profiling: the write, the kernel and the read of each update take their
 * events from prof (host/cl/clprof.h; NULL or a recorder without a trace: no
 * events). prof must outlive the object or be unset first. */
void cldqn_fused_set_prof(cldqn_fused *f, cldqn_clprof *prof);

/* Every write to the target buffer (a sync, a load) must be reported here
 * before the next update: updates may take max_a Q_target(s') from a table
 * built from the target weights (kernel fused_target_table, run before the
 * first update after a change). The table is used when the target stayed
 * for enough updates last time (auto) or as set by cldqn_fused_set_table
 * (-1 auto, 0 never, 1 always); results are the same bits either way.
 * cldqn_fused_tables counts the tables built. */
void cldqn_fused_target_changed(cldqn_fused *f);
/* The learning rate of the next updates (cldqn_qnet_set_lr). */
void cldqn_fused_set_lr(cldqn_fused *f, float lr);
/* Updates of `batch` samples (0: unknown, as few as 1) a target must last
 * for its table to repay itself twice; auto mode uses it, and so does the
 * population, whose updates always take the whole batch. */
int64_t cldqn_fused_table_payoff(const cldqn_net_shape *s, int max_batch, int batch);
void cldqn_fused_set_table(cldqn_fused *f, int mode);
int64_t cldqn_fused_tables(const cldqn_fused *f);

/* Adam steps one update of n samples takes (see cldqn_fused_update). */
int cldqn_fused_adam_steps(const cldqn_fused *f, int n);

/* Work-group caps by device type, for cldqn_cl_kernel_wg: the fused
 * update's (16 on a CPU, 256 otherwise) and q_act's (8, 64). */
size_t cldqn_fused_wg_cap(const cldqn_cl *cl);
size_t cldqn_act_wg_cap(const cldqn_cl *cl);

/* Whether CLDQN_PATH_AUTO takes the fused path for this shape (widest
 * layer measured to favour it). */
int cldqn_fused_auto_width(const cldqn_net_shape *s);

/* Work-group size the kernel is launched with. */
size_t cldqn_fused_wg(const cldqn_fused *f);

/* Pieces shared with the population update (host/cl/qnets.c, kernel
 * fused_update_pop in the same program): the -D options of the program for
 * this layout, configuration and largest batch; the scratch floats one
 * network needs; the layout/configuration checks of cldqn_fused_create; and
 * Adam's per-step scalars for step t (TORCH: -lr/bc1, sqrt(bc2); KERAS:
 * lr sqrt(bc2)/bc1, 1), computed as ref_adam does. */
void cldqn_fused_build_options(const cldqn_layout *lay, const cldqn_learn_config *cfg,
                               int max_batch, char *buf, size_t size);
size_t cldqn_fused_scratch_floats(const cldqn_net_shape *s, int max_batch);
cldqn_status cldqn_fused_check(const cldqn_layout *lay, const cldqn_learn_config *cfg);
void cldqn_fused_adam_scalars(const cldqn_learn_config *c, int t, float *s0, float *s1);

#endif
