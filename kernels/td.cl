/* td.cl - TD targets, the two losses and greedy actions; twins of
 * ref_td_target, ref_td_loss, ref_keras_sample_loss and ref_argmax. */

/* Loss kinds, as cldqn_loss_kind in net.h. */
#define LOSS_MSE   0
#define LOSS_HUBER 1

/* Largest entry of a row (A), the first on ties. */
static inline float row_max(__global const float *q, int A)
{
    float m = q[0];
    for (int a = 1; a < A; a++)
        if (q[a] > m) m = q[a];
    return m;
}

/* y[b] = r[b] + disc[b] * (1 - term[b]) * max_a qn[b,a]     qn (B,A), y (B) */
__kernel void td_target(__global const float *qn, __global const float *r,
                        __global const float *term, __global const float *disc, int B, int A,
                        __global float *y)
{
    uint b = GID();
    if (b >= (uint)B) return;
    y[b] = r[b] + disc[b] * (1.0f - term[b]) * row_max(qn + b * (uint)A, A);
}

/* Double DQN: y[b] = r[b] + disc[b] (1 - term[b]) qn[b, argmax_a qo[b,a]],
 * qo (B,A) the online network's Q(s'), the first maximum on ties. */
__kernel void td_target_double(__global const float *qn, __global const float *qo,
                               __global const float *r, __global const float *term,
                               __global const float *disc, int B, int A, __global float *y)
{
    uint b = GID();
    if (b >= (uint)B) return;
    __global const float *o = qo + b * (uint)A;
    int best = 0;
    for (int a = 1; a < A; a++)
        if (o[a] > o[best]) best = a;
    y[b] = r[b] + disc[b] * (1.0f - term[b]) * qn[b * (uint)A + (uint)best];
}

/* Mean loss over the taken actions and dq (B,A) = dLoss/dq, zero except at
 * the taken action. Must run as ONE work-group: per-sample losses go to
 * lbuf (B), then work-item 0 sums them in batch order into loss_out[0]. */
__kernel void td_loss(__global const float *q, __global const int *action, __global const float *y,
                      int B, int A, int kind, float delta, __global float *dq,
                      __global float *loss_out, __global float *lbuf)
{
    const float inv_b = 1.0f / (float)B;
    for (uint b = get_local_id(0); b < (uint)B; b += get_local_size(0)) {
        int act = action[b];
        float d = q[b * (uint)A + (uint)act] - y[b];
        float l, g;
        if (kind == LOSS_HUBER) {
            float ad = fabs(d);
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
        for (int a = 0; a < A; a++) dq[b * (uint)A + (uint)a] = a == act ? g * inv_b : 0.0f;
        lbuf[b] = l;
    }
    barrier(CLK_GLOBAL_MEM_FENCE);
    if (get_local_id(0) == 0) {
        float sum = 0.0f;
        for (int b = 0; b < B; b++) sum += lbuf[b];
        loss_out[0] = sum / (float)B;
    }
}

/* Keras' per-sample loss for sample b of the batch: MSE over the A outputs
 * of q (the single row just computed), target equal to q except at
 * action[b], where it is y[b]. Writes dq (A) and loss_out[b]. One work-item. */
__kernel void keras_sample_loss(__global const float *q, __global const int *action,
                                __global const float *y, int A, __global float *dq, int b,
                                __global float *loss_out)
{
    if (GID() != 0) return;
    int act = action[b];
    float d = q[act] - y[b];
    for (int a = 0; a < A; a++) dq[a] = a == act ? 2.0f * d / (float)A : 0.0f;
    loss_out[b] = d * d / (float)A;
}

/* out[b] = argmax_a q[b,a], the lowest index on ties.        q (B,A) */
__kernel void argmax(__global const float *q, int B, int A, __global int *out)
{
    uint b = GID();
    if (b >= (uint)B) return;
    __global const float *row = q + b * (uint)A;
    int best = 0;
    for (int a = 1; a < A; a++)
        if (row[a] > row[best]) best = a;
    out[b] = best;
}
