/* net.h - the Q-network's shape, flat parameter layout, learning settings, backend.
 *
 * All parameters live in one flat float array; a layout names each tensor by
 * its PyTorch state_dict name and gives its offset, so Adam is one loop over
 * the array and "copy online to target" is one copy. Shapes follow PyTorch:
 *   embedding.weight [S,E]
 *   fc1.weight [H,E], fc1.bias [H], fc2.weight [H,H], fc2.bias [H], ...
 *   out.weight [A,H], out.bias [A]
 * With 0 hidden layers the network is embedding -> out. */
#ifndef CLDQN_NET_H
#define CLDQN_NET_H

#include <stddef.h>
#include <stdint.h>

#include "cldqn/rng.h"
#include "cldqn/status.h"

#define CLDQN_MAX_HIDDEN_LAYERS 8
#define CLDQN_MAX_TENSORS       (1 + 2 * (CLDQN_MAX_HIDDEN_LAYERS + 1))

typedef struct {
    int n_states;  /* S: embedding rows (500 for Taxi) */
    int n_actions; /* A: outputs (6) */
    int embed;     /* E (10) */
    int hidden;    /* H (50) */
    int layers;    /* hidden layers (2) */
} cldqn_net_shape;

typedef struct {
    char name[24]; /* e.g. "fc1.weight" */
    size_t offset; /* in floats, into the flat array */
    int rows;      /* PyTorch shape [rows, cols]; biases have cols == 0 */
    int cols;
} cldqn_tensor;

typedef struct {
    cldqn_net_shape shape;
    int n_tensors;
    cldqn_tensor t[CLDQN_MAX_TENSORS];
    size_t total; /* floats in the flat array */
} cldqn_layout;

cldqn_net_shape cldqn_net_default_shape(void); /* 500, 6, 10, 50, 2 */
cldqn_status cldqn_layout_init(const cldqn_net_shape *shape, cldqn_layout *lay);
/* Tensor by name, or NULL. */
const cldqn_tensor *cldqn_layout_find(const cldqn_layout *lay, const char *name);
/* Number of elements of a tensor. */
size_t cldqn_tensor_numel(const cldqn_tensor *t);

typedef enum {
    CLDQN_INIT_TORCH, /* embedding N(0,1); linear W and b U(+-1/sqrt(fan_in)) */
    CLDQN_INIT_KERAS, /* embedding U(+-0.05); glorot-uniform W; zero b */
} cldqn_init_kind;

void cldqn_params_init(const cldqn_layout *lay, cldqn_init_kind kind, cldqn_rng *rng,
                       float *params);

typedef enum { CLDQN_LOSS_MSE, CLDQN_LOSS_HUBER } cldqn_loss_kind;

typedef enum {
    CLDQN_UPDATE_MEAN,      /* one Adam step on the mean loss over the minibatch */
    CLDQN_UPDATE_PER_SAMPLE /* the seed: one Adam step per sample, Keras' MSE over A outputs */
} cldqn_update_mode;

typedef enum {
    CLDQN_ADAM_TORCH, /* p -= lr * mhat / (sqrt(vhat) + eps) */
    CLDQN_ADAM_KERAS, /* p -= lr*sqrt(1-b2^t)/(1-b1^t) * m / (sqrt(v) + eps) */
} cldqn_adam_kind;

/* Where the network runs. Here rather than in qnet.h so that the settings
 * (config.h) name it without depending on the device code. */
typedef enum { CLDQN_BACKEND_OPENCL, CLDQN_BACKEND_REF } cldqn_backend;

/* How the OpenCL backend runs an update: the whole update in one launch of
 * one work-group (kernels/fused.cl), or a chain of per-operation kernels
 * (kernels/{embed,dense,td,optim}.cl, CLBlast GEMM for wide layers). AUTO
 * takes the fused path for the sizes where it was measured to be faster. */
typedef enum { CLDQN_PATH_AUTO, CLDQN_PATH_FUSED, CLDQN_PATH_LAYERED } cldqn_update_path;

typedef struct {
    float gamma;
    float lr;
    float beta1, beta2, eps;
    cldqn_adam_kind adam;
    cldqn_loss_kind loss;
    float huber_delta;   /* 1.0 = PyTorch's smooth_l1_loss */
    float max_grad_norm; /* clip by global norm; 0 = off */
    cldqn_update_mode mode;
    float tau; /* a target sync: target = tau params + (1 - tau) target; 0 or 1 copies */
} cldqn_learn_config;

/* Whether a target sync with tau averages (Polyak) rather than copies. */
static inline int cldqn_tau_averages(float tau)
{
    return tau > 0.0f && tau < 1.0f;
}

/* Minibatch of transitions as uploaded to the device. */
typedef struct {
    int n;
    const int32_t *state;      /* (n) */
    const int32_t *action;     /* (n) */
    const float *reward;       /* (n) */
    const int32_t *next_state; /* (n) */
    const float *terminated;   /* (n) 1.0 or 0.0 */
} cldqn_batch;

#endif
