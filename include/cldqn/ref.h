/* ref.h - plain C reference of every device operation, one function per kernel.
 *
 * Each function has the same name stem and argument order as its OpenCL
 * kernel in kernels/ (e.g. ref_dense_forward <-> dense_forward). They are the
 * specification the kernels are tested against and are themselves tested
 * against PyTorch and finite differences. Row-major throughout; W is [O,I]
 * as in PyTorch, y = x W^T + b. Sums run in index order so results repeat. */
#ifndef CLDQN_REF_H
#define CLDQN_REF_H

#include <stddef.h>
#include <stdint.h>

#include "cldqn/net.h"

/* x[b,:] = emb[states[b],:]                      emb (S,E), x (B,E) */
void ref_embed_forward(const float *emb, const int32_t *states, int B, int E, float *x);

/* y = act(x W^T + b); relu != 0 applies max(0,.)  W (O,I), b (O), x (B,I), y (B,O) */
void ref_dense_forward(const float *W, const float *b, const float *x, int B, int I, int O,
                       int relu, float *y);

/* y[b] = r[b] + gamma * (1 - term[b]) * max_a qn[b,a]               qn (B,A) */
void ref_td_target(const float *qn, const float *r, const float *term, int B, int A, float gamma,
                   float *y);

/* Loss over the taken actions, mean over the batch, and dq = dLoss/dq (B,A)
 * (zero except at the taken action). MSE: (q-y)^2; Huber: PyTorch's
 * F.huber_loss(delta): 0.5 d^2 if |d| < delta else delta (|d| - delta/2), which
 * is smooth_l1_loss only for delta = 1.
 * Returns the loss. */
float ref_td_loss(const float *q, const int32_t *action, const float *y, int B, int A,
                  cldqn_loss_kind kind, float delta, float *dq);

/* Keras' per-sample loss: MSE over all A outputs of one sample whose target
 * equals q except at the taken action: loss = (q_a-y)^2/A, dq_a = 2(q_a-y)/A. */
float ref_keras_sample_loss(const float *q, int action, float y, int A, float *dq);

/* Backward of dense_forward. y is the layer's output (for the ReLU mask),
 * dy (B,O) its gradient; writes dW (O,I), db (O) (overwritten, summed over b
 * in order) and dx (B,I) if dx != NULL. dy is modified in place by the mask. */
void ref_dense_backward(const float *W, const float *x, const float *y, float *dy, int B, int I,
                        int O, int relu, float *dW, float *db, float *dx);

/* demb (S,E) is zeroed, then demb[states[b],:] += dx[b,:] for b in order. */
void ref_embed_backward(const int32_t *states, const float *dx, int B, int E, int S, float *demb);

/* Scales g (n) so its L2 norm is at most max_norm (PyTorch's clip_grad_norm_
 * with eps 1e-6). Returns the norm before clipping. */
float ref_clip_grad_norm(float *g, size_t n, float max_norm);

/* Polyak averaging of n target weights: t = tau p + (1 - tau) t, each
 * product rounded to float and then the sum (CleanRL's soft update). */
void ref_polyak(float *target, const float *p, size_t n, float tau);

/* One Adam step at step number t (1-based) over n parameters. */
void ref_adam(float *p, const float *g, float *m, float *v, size_t n, float lr, float b1, float b2,
              float eps, int t, cldqn_adam_kind kind);

/* out[b] = argmax_a q[b,a], lowest index on ties. */
void ref_argmax(const float *q, int B, int A, int32_t *out);

/* Whole-network helpers built from the ops above. */

/* Q-values (B,A) of states under params laid out by lay. */
void ref_q_forward(const cldqn_layout *lay, const float *params, const int32_t *states, int B,
                   float *q);

/* One training update exactly as the device does it: target forward on s',
 * TD target, online forward, loss, backward, optional clipping, Adam (step
 * *t is incremented per Adam step; per-sample mode makes B steps). grad (total)
 * receives the last gradient. Returns the (mean) loss; scratch is allocated
 * internally. Returns NAN on allocation failure. */
float ref_update(const cldqn_layout *lay, const cldqn_learn_config *cfg, float *params,
                 const float *target, float *m, float *v, int *t, const cldqn_batch *batch,
                 float *grad);

#endif
