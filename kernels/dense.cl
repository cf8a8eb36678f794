/* dense.cl - fully connected layer forward and backward; twins of
 * ref_dense_forward and ref_dense_backward, plus the two small helpers the
 * CLBlast GEMM path needs around its matrix products (bias_act,
 * relu_mask_db). W (O,I) row-major as in PyTorch, y = x W^T + b. Trailing
 * *_off arguments are element offsets into the flat parameter/gradient
 * buffers. */

/* y = act(x W^T + b): bias after the dot product, then ReLU (NaN passes).
 * One work-item per element of y (B,O); x (B,I). */
__kernel void dense_forward(__global const float *W, __global const float *bias,
                            __global const float *x, int B, int I, int O, int relu,
                            __global float *y, uint w_off, uint b_off)
{
    uint gid = GID();
    if (gid >= (uint)(B * O)) return;
    uint r = gid / (uint)O, o = gid % (uint)O;
    __global const float *xr = x + r * (uint)I;         /* (I) */
    __global const float *wo = W + w_off + o * (uint)I; /* (I) */
    float acc = 0.0f;
    for (int i = 0; i < I; i++) acc += xr[i] * wo[i];
    acc += bias[b_off + o];
    if (relu && acc < 0.0f) acc = 0.0f;
    y[gid] = acc;
}

/* dy after the ReLU mask: zero where the layer's output y was not > 0. */
static inline float masked(__global const float *y, __global const float *dy, uint k, int relu)
{
    return (relu && !(y[k] > 0.0f)) ? 0.0f : dy[k];
}

/* Backward of dense_forward. One launch covers three ranges of work-items:
 *   [0, O*I)            dW[o,i] = sum_r dy[r,o] x[r,i]      dW (O,I)
 *   [O*I, O*I+O)        db[o]   = sum_r dy[r,o]             db (O)
 *   [O*I+O, +B*I)       dx[r,i] = sum_o dy[r,o] W[o,i]      dx (B,I), if has_dx
 * each sum in index order from 0. Unlike ref_dense_backward, dy (B,O) is not
 * masked in place (every work-item masks on the fly): writing it here would
 * race with the readers, and nothing reads the masked dy afterwards. */
__kernel void dense_backward(__global const float *W, __global const float *x,
                             __global const float *y, __global const float *dy, int B, int I, int O,
                             int relu, __global float *dW, __global float *db, __global float *dx,
                             uint w_off, uint dw_off, uint db_off, int has_dx)
{
    uint gid = GID();
    uint nw = (uint)(O * I), nb = (uint)O, nx = has_dx ? (uint)(B * I) : 0u;
    if (gid < nw) {
        uint o = gid / (uint)I, i = gid % (uint)I;
        float acc = 0.0f;
        for (int r = 0; r < B; r++)
            acc += masked(y, dy, (uint)r * (uint)O + o, relu) * x[(uint)r * (uint)I + i];
        dW[dw_off + gid] = acc;
    } else if (gid < nw + nb) {
        uint o = gid - nw;
        float acc = 0.0f;
        for (int r = 0; r < B; r++) acc += masked(y, dy, (uint)r * (uint)O + o, relu);
        db[db_off + o] = acc;
    } else if (gid < nw + nb + nx) {
        uint k = gid - nw - nb;
        uint r = k / (uint)I, i = k % (uint)I;
        float acc = 0.0f;
        for (int o = 0; o < O; o++)
            acc += masked(y, dy, r * (uint)O + (uint)o, relu) * W[w_off + (uint)o * (uint)I + i];
        dx[k] = acc;
    }
}

/* CLBlast path, after y = x W^T by GEMM: y = act(y + b).     y (B,O) */
__kernel void bias_act(__global const float *bias, __global float *y, int B, int O, int relu,
                       uint b_off)
{
    uint gid = GID();
    if (gid >= (uint)(B * O)) return;
    float acc = y[gid] + bias[b_off + gid % (uint)O];
    if (relu && acc < 0.0f) acc = 0.0f;
    y[gid] = acc;
}

/* CLBlast path, before the GEMMs of the backward pass: masks dy (B,O) in
 * place as ref_dense_backward does and writes db[o] = sum_r dy[r,o]. One
 * work-item per column o owns that column, so the in-place write is race-free. */
__kernel void relu_mask_db(__global const float *y, __global float *dy, int B, int O, int relu,
                           __global float *db, uint db_off)
{
    uint o = GID();
    if (o >= (uint)O) return;
    float acc = 0.0f;
    for (int r = 0; r < B; r++) {
        uint k = (uint)r * (uint)O + o;
        float d = masked(y, dy, k, relu);
        dy[k] = d;
        acc += d;
    }
    db[db_off + o] = acc;
}
