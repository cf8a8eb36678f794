/* embed.cl - embedding lookup and its gradient; twins of ref_embed_forward and
 * ref_embed_backward. Trailing *_off arguments are element offsets into the
 * flat buffers (parameters/gradients live in one buffer each; the per-sample
 * update walks the batch with s_off). */

/* x[b,:] = emb[states[b],:]                      emb (S,E), x (B,E)
 * one work-item per element of x. */
__kernel void embed_forward(__global const float *emb, __global const int *states, int B, int E,
                            __global float *x, uint emb_off, uint s_off)
{
    uint gid = GID();
    if (gid >= (uint)(B * E)) return;
    uint b = gid / (uint)E, e = gid % (uint)E;
    x[gid] = emb[emb_off + (uint)states[s_off + b] * (uint)E + e];
}

/* demb[s,:] = sum over b with states[b] == s of dx[b,:], in batch order,
 * zero for rows no sample hit: the same additions as ref's "zero, then +=",
 * with no atomics. One work-item per element of demb (S,E); dx (B,E). */
__kernel void embed_backward(__global const int *states, __global const float *dx, int B, int E,
                             int S, __global float *demb, uint s_off, uint demb_off)
{
    uint gid = GID();
    if (gid >= (uint)(S * E)) return;
    int s = (int)(gid / (uint)E);
    uint e = gid % (uint)E;
    float acc = 0.0f;
    for (int b = 0; b < B; b++)
        if (states[s_off + (uint)b] == s) acc += dx[(uint)b * (uint)E + e];
    demb[demb_off + gid] = acc;
}
