/* optim.cl - gradient clipping and Adam over the flat buffers; twins of
 * ref_clip_grad_norm and ref_adam. */

/* Adam kinds, as cldqn_adam_kind in net.h. */
#define ADAM_TORCH 0
#define ADAM_KERAS 1

/* Scales g (n) so its L2 norm is at most max_norm (eps 1e-6, as PyTorch) and
 * writes the norm before clipping to norm_out[0]. Must run as ONE work-group.
 * The sum of squares is sequential (work-item 0, index order) so that it
 * rounds exactly like ref_clip_grad_norm; the scaling is spread over the
 * group. */
__kernel void clip_grad_norm(__global float *g, uint n, float max_norm, __global float *norm_out,
                             __local float *shared)
{
    if (get_local_id(0) == 0) {
        float ss = 0.0f;
        for (uint i = 0; i < n; i++) ss += g[i] * g[i];
        shared[0] = sqrt(ss);
        norm_out[0] = shared[0];
    }
    /* Global fence too: work-item 0 read g before, the group writes it after. */
    barrier(CLK_LOCAL_MEM_FENCE | CLK_GLOBAL_MEM_FENCE);
    float norm = shared[0];
    if (max_norm > 0.0f) {
        float coef = max_norm / (norm + 1e-6f);
        if (coef < 1.0f)
            for (uint i = get_local_id(0); i < n; i += get_local_size(0)) g[i] *= coef;
    }
}

/* One Adam step at step t over n parameters. The per-step scalars depend
 * only on t and are computed on the host in double exactly as ref_adam does
 * (no fp64 needed on the device): step = -lr/bc1 (TORCH) or
 * lr*sqrt(bc2)/bc1 (KERAS), bc2_sqrt = sqrt(1-b2^t) (TORCH only). lr and t are
 * kept in the argument list to mirror ref_adam. One work-item per element. */
__kernel void adam(__global float *p, __global const float *g, __global float *m, __global float *v,
                   uint n, float lr, float b1, float b2, float eps, int t, int kind, float step,
                   float bc2_sqrt)
{
    (void)lr;
    (void)t;
    uint i = GID();
    if (i >= n) return;
    const float omb1 = 1.0f - b1, omb2 = 1.0f - b2;
    float gi = g[i];
    float mi = m[i] * b1 + omb1 * gi;
    float vi = v[i] * b2 + omb2 * gi * gi;
    m[i] = mi;
    v[i] = vi;
    if (kind == ADAM_TORCH) {
        float denom = sqrt(vi) / bc2_sqrt + eps;
        p[i] = p[i] + step * mi / denom;
    } else {
        p[i] = p[i] - step * mi / (sqrt(vi) + eps);
    }
}

/* Soft target sync over n weights (ref_polyak). One work-item per element. */
__kernel void polyak(__global const float *p, __global float *target, uint n, float tau, float omt)
{
    uint i = GID();
    if (i < n) target[i] = polyak1(p[i], target[i], tau, omt);
}
