/* qnets.h - K Q-networks of one layout on one backend, internal API.
 *
 * Network i has its own weights, gradient, Adam moments and step, and target
 * weights, and may have its own learning settings (cfgs[i]; those the
 * program is built for must agree: mode, loss, Adam kind, clip on or off).
 * Every call takes a set of networks, so the training loop drives K agents
 * as it drives one. Two implementations sit behind one table of operations:
 *
 * - one cldqn_qnet per network (qnet.c: the fused or layered OpenCL path,
 *   or the host reference). K = 1 is exactly the solo network (PoCL's basic
 *   device, one fused launch per update); K > 1 loops over the networks,
 *   all on one device and queue.
 * - the population kernels (K > 1, fused path): the K networks back to back
 *   in one device buffer per family (params, grad, Adam m and v, target) on
 *   the device with the most compute units; one launch of fused_update_pop
 *   (one work-group per listed network) per update call, one of q_act_pop
 *   per greedy call, max-Q tables by fused_target_table_pop.
 *
 * Both give every network the bits cldqn_qnet gives it alone. */
#ifndef CLDQN_QNETS_H
#define CLDQN_QNETS_H

#include <stdint.h>

#include "clrt.h"

#include "cldqn/net.h"
#include "cldqn/qnet.h"
#include "cldqn/status.h"
#include "cldqn/trace.h"

typedef struct cldqn_qnets cldqn_qnets;

/* k networks; init[0] holds their (k, lay->total) initial weights, init[1..3]
 * their target weights, Adam m and v (NULL: the weights, zeros, zeros).
 * table: the population kernels take max_a Q_target(s') from per-network
 * tables rebuilt at every sync (worth it where targets last long; the
 * single networks decide that themselves). Same bits either way. */
cldqn_status cldqn_qnets_create(const cldqn_layout *lay, int k, const cldqn_learn_config *cfgs,
                                const cldqn_qnet_options *opt, const float *const init[4],
                                int table, cldqn_qnets **out);
void cldqn_qnets_free(cldqn_qnets *q);

/* One update of each of the n networks nets[0..n) (ascending, distinct) on
 * batches[j], returning the mean loss and the greedy action of next[j]
 * under the updated weights. A non-finite loss is returned as NAN for the
 * caller to judge (and the networks after it may be left out). */
cldqn_status cldqn_qnets_update(cldqn_qnets *q, int n, const int32_t *nets,
                                const cldqn_batch *batches, const int32_t *next, float *loss,
                                int32_t *action);

/* Greedy actions (lowest on ties) of n (network, state) pairs. */
cldqn_status cldqn_qnets_greedy(cldqn_qnets *q, int n, const int32_t *nets, const int32_t *states,
                                int32_t *actions);

/* target <- params for the n networks listed (ascending). */
cldqn_status cldqn_qnets_sync(cldqn_qnets *q, int n, const int32_t *nets);

/* Network i's buffer (lay->total floats) to the host. */
cldqn_status cldqn_qnets_read(cldqn_qnets *q, int i, cldqn_qnet_buffer which, float *out);
/* Network i's learning rate from its next update on. */
void cldqn_qnets_set_lr(cldqn_qnets *q, int i, float lr);
/* Network i's Adam step count. */
int cldqn_qnets_adam_step(const cldqn_qnets *q, int i);
void cldqn_qnets_set_adam_step(cldqn_qnets *q, int i, int t);

/* Profiling (see cldqn_qnet_set_trace): every network's calls, or on the
 * population kernels each call's host span ("qnets update", ...) and its
 * commands' device spans (fused_update_pop, q_act_pop, ...). */
cldqn_status cldqn_qnets_set_trace(cldqn_qnets *q, cldqn_trace *tr);

/* cldqn_qnet_create on cl's device and queue, which the network then
 * shares (cl must outlive it; NULL: a device of its own, as
 * cldqn_qnet_create). The OpenCL backend only. */
cldqn_status cldqn_qnet_create_on(cldqn_cl *cl, const cldqn_layout *lay,
                                  const cldqn_learn_config *cfg, const cldqn_qnet_options *opt,
                                  const float *params, cldqn_qnet **out);

/* Network i's cldqn_qnet, or NULL on the population kernels. */
cldqn_qnet *cldqn_qnets_net(cldqn_qnets *q, int i);
const char *cldqn_qnets_device_name(const cldqn_qnets *q);
/* Update launches so far: one per cldqn_qnets_update on the population
 * kernels, one per network updated otherwise. */
int64_t cldqn_qnets_launches(const cldqn_qnets *q);

#endif
