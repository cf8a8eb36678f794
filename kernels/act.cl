/* act.cl - Q-values and greedy actions of n states in one launch.
 *
 * Acting needs the forward pass of a single state after nearly every env
 * step; the layered kernels take a launch per layer. Here one work-group
 * runs one state's whole forward pass in local memory. The parameters are
 * the contiguous cldqn_layout (embedding (S,E), then per layer W (out,in) and
 * b (out)); sums run as in ref_dense_forward, so the Q-values are bit-equal
 * to ref_q_forward and ties go to the lowest action, as ref_argmax. */

/* One state's forward pass by the calling work-group: params the network,
 * s the state; the Q-values to q (A floats) unless q is 0, the greedy action
 * to *action. x0, x1: (max width) local floats each. */
void qa_forward(__global const float *params, int s, int E, int H, int L, int A, uint w_off0,
                __global float *q, __global int *action, __local float *x0, __local float *x1)
{
    const int lid = (int)get_local_id(0), nl = (int)get_local_size(0);
    for (int i = lid; i < E; i += nl) x0[i] = params[(size_t)s * E + i];
    barrier(CLK_LOCAL_MEM_FENCE);
    __local float *xin = x0, *xout = x1;
    size_t off = w_off0;
    int in = E;
    for (int l = 0; l <= L; l++) {
        const int out = l == L ? A : H;
        __global const float *W = params + off;         /* (out, in) */
        __global const float *b = W + (size_t)out * in; /* (out) */
        for (int o = lid; o < out; o += nl) {
            __global const float *wo = W + (size_t)o * in;
            float acc = 0.0f;
            for (int i = 0; i < in; i++) acc += xin[i] * wo[i];
            acc += b[o];
            if (l < L && acc < 0.0f) acc = 0.0f;
            xout[o] = acc;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        off += (size_t)out * in + out;
        in = out;
        __local float *t = xin;
        xin = xout;
        xout = t;
    }
    if (q)
        for (int a = lid; a < A; a += nl) q[a] = xin[a];
    if (lid == 0) {
        int best = 0;
        for (int a = 1; a < A; a++)
            if (xin[a] > xin[best]) best = a;
        *action = best;
    }
}

__kernel void q_act(__global const float *params, /* (total) */
                    __global const int *states,   /* (n) */
                    int E, int H, int L, int A,
                    uint w_off0,           /* offset of the first dense weight, S*E */
                    __global float *q,     /* (n, A) */
                    __global int *actions, /* (n) */
                    __local float *x0, __local float *x1) /* (max width) each */
{
    const int g = (int)get_group_id(0);
    qa_forward(params, states[g], E, H, L, A, w_off0, q + (size_t)g * A, actions + g, x0, x1);
}

/* A population's acting (host/train/population.c): work-group g gives the greedy
 * action of agent sa[2g+1] in state sa[2g]; the agents' parameter sets lie
 * back to back, stride floats apart. */
__kernel void q_act_pop(__global const float *params, /* (K, stride) */
                        __global const int *sa,       /* (n, 2): state, agent */
                        uint stride, int E, int H, int L, int A, uint w_off0,
                        __global int *actions, /* (n) */
                        __local float *x0, __local float *x1)
{
    const int g = (int)get_group_id(0);
    qa_forward(params + (size_t)sa[2 * g + 1] * stride, sa[2 * g], E, H, L, A, w_off0, 0,
               actions + g, x0, x1);
}
