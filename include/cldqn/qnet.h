/* qnet.h - the Q-network, its target network and Adam state on a backend.
 *
 * A qnet owns five flat buffers laid out by one cldqn_layout: parameters,
 * gradients, Adam's first and second moments, and target parameters. The
 * OpenCL backend keeps them on the device; the reference backend runs
 * ref_update on the host (the specification the device is tested against).
 * Both backends produce the same numbers up to float rounding. */
#ifndef CLDQN_QNET_H
#define CLDQN_QNET_H

#include <stdint.h>

#include "cldqn/net.h"
#include "cldqn/status.h"
#include "cldqn/trace.h"

/* cldqn_backend and cldqn_update_path are in net.h, below the settings. */

typedef struct {
    cldqn_backend backend;
    /* A device spec (PLATFORM:N, exact name, index or unique name part; see
     * `cldqn devices --help`); NULL: $CLDQN_DEVICE, else first GPU, else first. */
    const char *device;
    int max_batch;  /* largest minibatch update will see (>= 1) */
    int max_states; /* largest number of states q_values/greedy will see (>= 1) */
    int profile;    /* queue with OpenCL profiling events (see cldqn_qnet_set_trace) */
    cldqn_update_path path;
} cldqn_qnet_options;

cldqn_qnet_options cldqn_qnet_default_options(void);

typedef struct cldqn_qnet cldqn_qnet;

/* Creates a network with params (lay->total floats) as both online and target
 * weights, zero Adam moments and step 0. */
cldqn_status cldqn_qnet_create(const cldqn_layout *lay, const cldqn_learn_config *cfg,
                               const cldqn_qnet_options *opt, const float *params,
                               cldqn_qnet **out);
void cldqn_qnet_free(cldqn_qnet *net);

/* One training update on a minibatch (see cldqn_update_mode). *loss receives
 * the mean loss (may be NULL). */
cldqn_status cldqn_qnet_update(cldqn_qnet *net, const cldqn_batch *batch, float *loss);

/* cldqn_qnet_update, then the greedy action of the updated online network for
 * next_state (0 <= next_state < S) into *next_action. On the fused path both
 * come from one launch and one small read-back. */
cldqn_status cldqn_qnet_update_act(cldqn_qnet *net, const cldqn_batch *batch, int32_t next_state,
                                   float *loss, int32_t *next_action);

/* target <- params. */
cldqn_status cldqn_qnet_sync_target(cldqn_qnet *net);

/* Q-values (n,A) of the online network. */
cldqn_status cldqn_qnet_q_values(cldqn_qnet *net, const int32_t *states, int n, float *q);

/* Greedy actions (lowest index on ties) of the online network. */
cldqn_status cldqn_qnet_greedy(cldqn_qnet *net, const int32_t *states, int n, int32_t *actions);

typedef enum {
    CLDQN_BUF_PARAMS,
    CLDQN_BUF_TARGET,
    CLDQN_BUF_GRAD,
    CLDQN_BUF_ADAM_M,
    CLDQN_BUF_ADAM_V,
} cldqn_qnet_buffer;

/* Copies a whole buffer (lay->total floats) to or from the host. */
cldqn_status cldqn_qnet_read(cldqn_qnet *net, cldqn_qnet_buffer which, float *out);
cldqn_status cldqn_qnet_write(cldqn_qnet *net, cldqn_qnet_buffer which, const float *in);

/* Adam's step counter t (number of steps taken so far). */
int cldqn_qnet_adam_step(const cldqn_qnet *net);
void cldqn_qnet_set_adam_step(cldqn_qnet *net, int t);

/* The learning rate of the updates from now on (a schedule's value; >= 0). */
void cldqn_qnet_set_lr(cldqn_qnet *net, float lr);

/* Profiling: while tr is set, every update, update_act, sync_target,
 * q_values, greedy, read and write call adds a host span (category "qnet",
 * named "qnet update_act" etc., tid CLDQN_TRACE_TID_HOST) and, on the OpenCL
 * backend created with opt.profile, each kernel and transfer it enqueued a
 * device span from its OpenCL profiling event (category "kernel" or
 * "transfer", named after the kernel or "write:batch", "read:loss", ...,
 * tid CLDQN_TRACE_TID_DEVICE), mapped onto the host clock per call
 * (host/cl/clprof.h). Each call then waits for the device before returning,
 * and its host span lasts until the device had finished its commands.
 * Results are unchanged. NULL turns it off; tr must outlive its use. */
cldqn_status cldqn_qnet_set_trace(cldqn_qnet *net, cldqn_trace *tr);

const cldqn_layout *cldqn_qnet_layout(const cldqn_qnet *net);
/* Human-readable device ("host reference" for the reference backend). */
const char *cldqn_qnet_device_name(const cldqn_qnet *net);
/* "fused", "layered" or "reference": what runs an update. */
const char *cldqn_qnet_path_name(const cldqn_qnet *net);

#endif
