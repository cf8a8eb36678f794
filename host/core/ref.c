/* ref.c - plain C reference of every device operation (see ref.h).
 *
 * This file is the specification the OpenCL kernels are tested against, so
 * its arithmetic order is part of the contract:
 *   - float32 throughout, no FMA contraction (CMake passes -ffp-contract=off);
 *   - every sum starts at 0.0f and runs in increasing index order; a dense
 *     layer adds its bias after the dot product, then applies ReLU;
 *   - max/argmax keep the lowest index on ties (strict '>');
 *   - per-step Adam scalars (bias corrections, step size) are computed in
 *     double, as PyTorch does with Python floats, then rounded to float once.
 * The network is embedding -> L x (Linear + ReLU) -> Linear, parameters laid
 * out by cldqn_layout (net.h). */
#include "cldqn/ref.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void ref_embed_forward(const float *emb, const int32_t *states, int B, int E, float *x)
{
    for (int b = 0; b < B; b++)
        memcpy(x + (size_t)b * E, emb + (size_t)states[b] * E, (size_t)E * sizeof(float));
}

void ref_dense_forward(const float *W, const float *b, const float *x, int B, int I, int O,
                       int relu, float *y)
{
    for (int r = 0; r < B; r++) {
        const float *xr = x + (size_t)r * I; /* (I) */
        for (int o = 0; o < O; o++) {
            const float *wo = W + (size_t)o * I; /* (I) */
            float acc = 0.0f;
            for (int i = 0; i < I; i++) acc += xr[i] * wo[i];
            acc += b[o];
            if (relu && acc < 0.0f) acc = 0.0f; /* NaN propagates, as in torch.relu */
            y[(size_t)r * O + o] = acc;
        }
    }
}

/* Largest entry of q (A), the first one on ties. */
static float row_max(const float *q, int A)
{
    float m = q[0];
    for (int a = 1; a < A; a++)
        if (q[a] > m) m = q[a];
    return m;
}

void ref_td_target(const float *qn, const float *r, const float *term, int B, int A, float gamma,
                   float *y)
{
    for (int b = 0; b < B; b++)
        y[b] = r[b] + gamma * (1.0f - term[b]) * row_max(qn + (size_t)b * A, A);
}

float ref_td_loss(const float *q, const int32_t *action, const float *y, int B, int A,
                  cldqn_loss_kind kind, float delta, float *dq)
{
    const float inv_b = 1.0f / (float)B;
    float sum = 0.0f;
    memset(dq, 0, (size_t)B * A * sizeof(float));
    for (int b = 0; b < B; b++) {
        float d = q[(size_t)b * A + action[b]] - y[b];
        float l, g;
        if (kind == CLDQN_LOSS_HUBER) {
            /* F.huber_loss(delta): 0.5 d^2 inside |d| < delta, else
             * delta (|d| - delta/2); equals smooth_l1_loss for delta 1. */
            float ad = fabsf(d);
            if (ad < delta) {
                l = 0.5f * d * d;
                g = d;
            } else {
                l = delta * (ad - 0.5f * delta);
                g = d > 0.0f ? delta : -delta;
            }
        } else {
            l = d * d;
            g = 2.0f * d;
        }
        sum += l;
        dq[(size_t)b * A + action[b]] = g * inv_b;
    }
    return sum / (float)B;
}

float ref_keras_sample_loss(const float *q, int action, float y, int A, float *dq)
{
    float d = q[action] - y;
    memset(dq, 0, (size_t)A * sizeof(float));
    dq[action] = 2.0f * d / (float)A;
    return d * d / (float)A;
}

void ref_dense_backward(const float *W, const float *x, const float *y, float *dy, int B, int I,
                        int O, int relu, float *dW, float *db, float *dx)
{
    if (relu)
        for (size_t k = 0; k < (size_t)B * O; k++)
            if (!(y[k] > 0.0f)) dy[k] = 0.0f;
    for (int o = 0; o < O; o++) {
        for (int i = 0; i < I; i++) {
            float acc = 0.0f;
            for (int r = 0; r < B; r++) acc += dy[(size_t)r * O + o] * x[(size_t)r * I + i];
            dW[(size_t)o * I + i] = acc;
        }
        float acc = 0.0f;
        for (int r = 0; r < B; r++) acc += dy[(size_t)r * O + o];
        db[o] = acc;
    }
    if (!dx) return;
    for (int r = 0; r < B; r++)
        for (int i = 0; i < I; i++) {
            float acc = 0.0f;
            for (int o = 0; o < O; o++) acc += dy[(size_t)r * O + o] * W[(size_t)o * I + i];
            dx[(size_t)r * I + i] = acc;
        }
}

void ref_embed_backward(const int32_t *states, const float *dx, int B, int E, int S, float *demb)
{
    memset(demb, 0, (size_t)S * E * sizeof(float));
    for (int b = 0; b < B; b++) {
        float *row = demb + (size_t)states[b] * E;
        for (int e = 0; e < E; e++) row[e] += dx[(size_t)b * E + e];
    }
}

float ref_clip_grad_norm(float *g, size_t n, float max_norm)
{
    float ss = 0.0f;
    for (size_t i = 0; i < n; i++) ss += g[i] * g[i];
    float norm = sqrtf(ss);
    if (max_norm > 0.0f) {
        float coef = max_norm / (norm + 1e-6f);
        if (coef < 1.0f)
            for (size_t i = 0; i < n; i++) g[i] *= coef;
    }
    return norm;
}

void ref_polyak(float *target, const float *p, size_t n, float tau)
{
    const float omt = 1.0f - tau;
    for (size_t i = 0; i < n; i++) {
        const float a = tau * p[i], b = omt * target[i];
        target[i] = a + b;
    }
}

void ref_adam(float *p, const float *g, float *m, float *v, size_t n, float lr, float b1, float b2,
              float eps, int t, cldqn_adam_kind kind)
{
    /* 1 - b is exact in float for b in [0.5, 1] (Sterbenz). */
    const float omb1 = 1.0f - b1, omb2 = 1.0f - b2;
    const double bc1 = 1.0 - pow((double)b1, (double)t);
    const double bc2 = 1.0 - pow((double)b2, (double)t);
    if (kind == CLDQN_ADAM_TORCH) {
        /* torch/optim/adam.py _single_tensor_adam:
         * denom = sqrt(v) / sqrt(bc2) + eps; p += (-lr/bc1) * m / denom */
        const float neg_step = (float)(-(double)lr / bc1);
        const float bc2_sqrt = (float)sqrt(bc2);
        for (size_t i = 0; i < n; i++) {
            m[i] = m[i] * b1 + omb1 * g[i];
            v[i] = v[i] * b2 + omb2 * g[i] * g[i];
            float denom = sqrtf(v[i]) / bc2_sqrt + eps;
            p[i] = p[i] + neg_step * m[i] / denom;
        }
    } else {
        /* Keras 2.x / TF2 Adam: lr_t = lr sqrt(1-b2^t)/(1-b1^t);
         * p -= lr_t m / (sqrt(v) + eps), eps outside the bias correction. */
        const float lr_t = (float)((double)lr * sqrt(bc2) / bc1);
        for (size_t i = 0; i < n; i++) {
            m[i] = m[i] * b1 + omb1 * g[i];
            v[i] = v[i] * b2 + omb2 * g[i] * g[i];
            p[i] = p[i] - lr_t * m[i] / (sqrtf(v[i]) + eps);
        }
    }
}

void ref_argmax(const float *q, int B, int A, int32_t *out)
{
    for (int b = 0; b < B; b++) {
        const float *row = q + (size_t)b * A;
        int best = 0;
        for (int a = 1; a < A; a++)
            if (row[a] > row[best]) best = a;
        out[b] = best;
    }
}

/* ---- whole network ---------------------------------------------------- */

/* Pointers to one dense layer's tensors: layer l in 0..L, L = out. */
typedef struct {
    const float *W, *b;
    int I, O, relu;
} dense_view;

static dense_view layer_view(const cldqn_layout *lay, const float *params, int l)
{
    const cldqn_tensor *w = &lay->t[1 + 2 * l], *b = &lay->t[2 + 2 * l];
    dense_view d = {params + w->offset, params + b->offset, w->cols, w->rows,
                    l < lay->shape.layers};
    return d;
}

static int max_width(const cldqn_net_shape *s)
{
    int w = s->embed;
    if (s->layers > 0 && s->hidden > w) w = s->hidden;
    if (s->n_actions > w) w = s->n_actions;
    return w;
}

/* Forward of B states keeping every activation: acts[0] = embedding (B,E),
 * acts[l] = output of layer l-1 (B,H), acts[L+1] = Q (B,A). */
static void forward_keep(const cldqn_layout *lay, const float *params, const int32_t *states, int B,
                         float **acts)
{
    const int L = lay->shape.layers;
    ref_embed_forward(params + lay->t[0].offset, states, B, lay->shape.embed, acts[0]);
    for (int l = 0; l <= L; l++) {
        dense_view d = layer_view(lay, params, l);
        ref_dense_forward(d.W, d.b, acts[l], B, d.I, d.O, d.relu, acts[l + 1]);
    }
}

/* Forward through two ping-pong buffers of (B, max_width) floats each. */
static void forward_pingpong(const cldqn_layout *lay, const float *params, const int32_t *states,
                             int B, float *buf0, float *buf1, float *q)
{
    const int L = lay->shape.layers;
    float *in = buf0, *out = buf1;
    ref_embed_forward(params + lay->t[0].offset, states, B, lay->shape.embed, in);
    for (int l = 0; l <= L; l++) {
        dense_view d = layer_view(lay, params, l);
        float *dst = l == L ? q : out;
        ref_dense_forward(d.W, d.b, in, B, d.I, d.O, d.relu, dst);
        float *tmp = in;
        in = out;
        out = tmp;
    }
}

void ref_q_forward(const cldqn_layout *lay, const float *params, const int32_t *states, int B,
                   float *q)
{
    if (B <= 0) return;
    /* Rows are independent, so chunking bounds the scratch without changing
     * a single bit of the result. */
    const int chunk = B < 256 ? B : 256;
    const size_t w = (size_t)max_width(&lay->shape);
    float *buf = malloc(2 * (size_t)chunk * w * sizeof(float));
    if (!buf) {
        for (size_t k = 0; k < (size_t)B * lay->shape.n_actions; k++) q[k] = NAN;
        return;
    }
    for (int b0 = 0; b0 < B; b0 += chunk) {
        int n = B - b0 < chunk ? B - b0 : chunk;
        forward_pingpong(lay, params, states + b0, n, buf, buf + (size_t)chunk * w,
                         q + (size_t)b0 * lay->shape.n_actions);
    }
    free(buf);
}

/* Backward from dq (B,A) through all layers into grad (total); dq and the
 * scratch d0/d1 (B, max_width) are overwritten. */
static void backward(const cldqn_layout *lay, const float *params, const int32_t *states, int B,
                     float **acts, float *dq, float *d0, float *d1, float *grad)
{
    const int L = lay->shape.layers;
    float *dy = dq, *dx = d0, *other = d1; /* dx and other alternate */
    for (int l = L; l >= 0; l--) {
        dense_view d = layer_view(lay, params, l);
        const cldqn_tensor *tw = &lay->t[1 + 2 * l], *tb = &lay->t[2 + 2 * l];
        ref_dense_backward(d.W, acts[l], acts[l + 1], dy, B, d.I, d.O, d.relu, grad + tw->offset,
                           grad + tb->offset, dx);
        dy = dx; /* (B, I): the next layer's output gradient */
        dx = other;
        other = dy;
    }
    ref_embed_backward(states, dy, B, lay->shape.embed, lay->shape.n_states,
                       grad + lay->t[0].offset);
}

/* Mean mode: one Adam step on the batch's mean loss. Per-sample mode (the
 * seed's Keras loop): B Adam steps, one per sample in order. The TD target
 * r + gamma (1-term) max Q_target(s') equals r for terminal samples (0 times a
 * finite max). Clipping, when on, applies to each gradient Adam sees, and
 * grad keeps the last one after clipping (PyTorch's p.grad after
 * clip_grad_norm_). */
float ref_update(const cldqn_layout *lay, const cldqn_learn_config *cfg, float *params,
                 const float *target, float *m, float *v, int *t, const cldqn_batch *batch,
                 float *grad)
{
    const cldqn_net_shape *s = &lay->shape;
    const int B = batch->n, A = s->n_actions, L = s->layers;
    if (B <= 0) return NAN;
    const size_t w = (size_t)max_width(s);
    /* Online activations for B rows (per-sample mode uses only row 0). */
    size_t n_floats = (size_t)B * s->embed + (size_t)L * B * s->hidden + (size_t)B * A /* acts */
                      + (size_t)B * A                                                  /* qn */
                      + (size_t)B                                                      /* y */
                      + (size_t)B * A                                                  /* dq */
                      + 2 * (size_t)B * w; /* ping-pong / backward scratch */
    float *mem = malloc(n_floats * sizeof(float));
    float **acts = malloc((size_t)(L + 2) * sizeof(float *));
    if (!mem || !acts) {
        free(mem);
        free(acts);
        return NAN;
    }
    float *p = mem;
    acts[0] = p; /* (B, E) */
    p += (size_t)B * s->embed;
    for (int l = 1; l <= L; l++) {
        acts[l] = p; /* (B, H) */
        p += (size_t)B * s->hidden;
    }
    acts[L + 1] = p; /* (B, A) */
    p += (size_t)B * A;
    float *qn = p; /* (B, A) */
    p += (size_t)B * A;
    float *y = p; /* (B) */
    p += B;
    float *dq = p; /* (B, A) */
    p += (size_t)B * A;
    float *s0 = p, *s1 = p + (size_t)B * w; /* (B, w) each */

    /* Target Q of the next states and TD targets, for the whole batch up
     * front: the target network does not change during the update. */
    forward_pingpong(lay, target, batch->next_state, B, s0, s1, qn);
    ref_td_target(qn, batch->reward, batch->terminated, B, A, cfg->gamma, y);

    float loss;
    if (cfg->mode == CLDQN_UPDATE_MEAN) {
        forward_keep(lay, params, batch->state, B, acts);
        loss = ref_td_loss(acts[L + 1], batch->action, y, B, A, cfg->loss, cfg->huber_delta, dq);
        backward(lay, params, batch->state, B, acts, dq, s0, s1, grad);
        ref_clip_grad_norm(grad, lay->total, cfg->max_grad_norm);
        *t += 1;
        ref_adam(params, grad, m, v, lay->total, cfg->lr, cfg->beta1, cfg->beta2, cfg->eps, *t,
                 cfg->adam);
    } else {
        /* The seed: model.fit on one sample at a time, each seeing the
         * parameters the previous sample's Adam step left behind. */
        float sum = 0.0f;
        for (int i = 0; i < B; i++) {
            forward_keep(lay, params, batch->state + i, 1, acts);
            sum += ref_keras_sample_loss(acts[L + 1], batch->action[i], y[i], A, dq);
            backward(lay, params, batch->state + i, 1, acts, dq, s0, s1, grad);
            ref_clip_grad_norm(grad, lay->total, cfg->max_grad_norm);
            *t += 1;
            ref_adam(params, grad, m, v, lay->total, cfg->lr, cfg->beta1, cfg->beta2, cfg->eps, *t,
                     cfg->adam);
        }
        loss = sum / (float)B;
    }
    free(acts);
    free(mem);
    return loss;
}
