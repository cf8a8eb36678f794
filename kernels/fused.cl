/* fused.cl - the whole DQN update of one minibatch in ONE launch of ONE work-group.
 *
 * Target forward on s' -> TD target; online forward on s; loss (MSE or Huber,
 * mean over the batch) -> dq; backward through every layer into the embedding
 * rows; optional clip by global norm; Adam over the whole flat parameter
 * array; then the greedy action of one extra state under the updated
 * parameters, so the trainer needs no second launch to act. With
 * FU_MODE == 1 the same launch runs the seed's B sequential single-sample
 * Keras-MSE updates instead (each a full forward/backward/Adam step).
 *
 * The result is bit-identical to ref_update (host/core/ref.c): every sum starts at
 * 0.0f and runs in the reference's index order, contraction is off and the
 * host builds with -cl-fp32-correctly-rounded-divide-sqrt. Speed comes from
 * explicit float16/float8 vectors laid across independent outputs (batch
 * lanes or input columns) and four accumulators per work-item, never from
 * reordering a sum. Phases are separated by work-group barriers; each phase
 * hands out "tiles" round-robin to the work-items, so any work-group size
 * works (PoCL runs the group as a loop on one thread, a GPU in parallel).
 *
 * Shapes are compile-time -D defines with defaults (CLBlast style); the host
 * builds one program per shape and learning configuration. Layout of the
 * flat parameter array: the contiguous order of cldqn_layout_init (net.h),
 * checked by the host. Activations are kept twice: transposed (width, ld)
 * for the forward and the dx products (batch in the vector lanes) and
 * row-major (ld, roundup8(width)) for the weight gradients (columns in the
 * lanes). ld is the batch rounded up to 16; padded lanes carry finite junk
 * that no stored result depends on. */
#pragma OPENCL FP_CONTRACT OFF

#ifndef FU_S
#define FU_S 500 /* states: embedding rows */
#endif
#ifndef FU_E
#define FU_E 10 /* embedding width */
#endif
#ifndef FU_H
#define FU_H 50 /* hidden width */
#endif
#ifndef FU_L
#define FU_L 2 /* hidden layers */
#endif
#ifndef FU_A
#define FU_A 6 /* actions */
#endif
#ifndef FU_BP
#define FU_BP 32 /* max batch rounded up to 16 */
#endif
#ifndef FU_MODE
#define FU_MODE 0 /* 0: CLDQN_UPDATE_MEAN, 1: CLDQN_UPDATE_PER_SAMPLE */
#endif
#ifndef FU_LOSS
#define FU_LOSS 0 /* 0: MSE, 1: Huber (mean mode only) */
#endif
#ifndef FU_ADAM
#define FU_ADAM 0 /* 0: CLDQN_ADAM_TORCH, 1: CLDQN_ADAM_KERAS */
#endif
#ifndef FU_CLIP
#define FU_CLIP 0 /* 1: clip by global norm (max_norm > 0) */
#endif

#define FU_SYNC() barrier(CLK_GLOBAL_MEM_FENCE | CLK_LOCAL_MEM_FENCE)
#define FU_R8(n)  (((n) + 7) / 8 * 8)
/* The layouts of fused_layout.h (prepended by the host) for this build. */
#define FU_NCH(n)    FUL_NCH(n)
#define FU_RS(n)     FUL_RS(n)
#define FU_R16(n)    FUL_R16(n)
#define FU_MAX(a, b) FUL_MAX(a, b)
#define FU_MAXW      FUL_MAXW(FU_E, FU_H, FU_A)

/* Parameter offsets, as cldqn_layout_init lays them out. Layer l in 0..L
 * (L = out) has input width IN(l) and output width OUT(l). */
#define FU_IN(l)  ((l) == 0 ? FU_E : FU_H)
#define FU_OUT(l) ((l) == FU_L ? FU_A : FU_H)
#define FU_OFFW(l)                                                                                 \
    (FU_S * FU_E + ((l) > 0 ? FU_H * FU_E + FU_H : 0) +                                            \
     ((l) > 1 ? ((l)-1) * (FU_H * FU_H + FU_H) : 0))
#define FU_OFFB(l) (FU_OFFW(l) + FU_OUT(l) * FU_IN(l))
#define FU_NPARAM  (FU_OFFB(FU_L) + FU_A)

/* Scratch (floats) and packed input (ints) of one network. */
#define FU_ACTT(l)   FUL_ACTT(FU_E, FU_H, FU_BP, l)
#define FU_ACTR(l)   FUL_ACTR(FU_E, FU_H, FU_L, FU_A, FU_BP, l)
#define FU_TA        FUL_TA(FU_E, FU_H, FU_L, FU_A, FU_BP)
#define FU_TB        FUL_TB(FU_E, FU_H, FU_L, FU_A, FU_BP)
#define FU_DA        FUL_DA(FU_E, FU_H, FU_L, FU_A, FU_BP)
#define FU_DB        FUL_DB(FU_E, FU_H, FU_L, FU_A, FU_BP)
#define FU_YS        FUL_YS(FU_E, FU_H, FU_L, FU_A, FU_BP)
#define FU_LOSSV     FUL_LOSSV(FU_E, FU_H, FU_L, FU_A, FU_BP)
#define FU_MISC      FUL_MISC(FU_E, FU_H, FU_L, FU_A, FU_BP)
#define FU_ROWS      FUL_ROWS(FU_E, FU_H, FU_L, FU_A, FU_BP)
#define FU_TMAX      FUL_TMAX(FU_E, FU_H, FU_L, FU_A, FU_BP)
#define FU_SCRATCH   FUL_SCRATCH(FU_S, FU_E, FU_H, FU_L, FU_A, FU_BP)
#define FU_IN_S      FUL_IN_S(FU_BP)
#define FU_IN_A      FUL_IN_A(FU_BP)
#define FU_IN_NS     FUL_IN_NS(FU_BP)
#define FU_IN_R      FUL_IN_R(FU_BP)
#define FU_IN_T      FUL_IN_T(FU_BP)
#define FU_IN_G      FUL_IN_G(FU_BP)
#define FU_IN_ADAM   FUL_IN_ADAM(FU_BP)
#define FU_IN_GAMMA  FUL_IN_GAMMA(FU_BP)
#define FU_IN_HYP    FUL_IN_HYP(FU_BP)
#define FU_IN_STRIDE FUL_IN_STRIDE(FU_BP)

/* Stores the 16 lanes of v down a column: p[k*ld] = v.sk. */
#define FU_STORE_COL(p, ld, v)                                                                     \
    do {                                                                                           \
        __global float *q_ = (p);                                                                  \
        q_[0 * (ld)] = (v).s0;                                                                     \
        q_[1 * (ld)] = (v).s1;                                                                     \
        q_[2 * (ld)] = (v).s2;                                                                     \
        q_[3 * (ld)] = (v).s3;                                                                     \
        q_[4 * (ld)] = (v).s4;                                                                     \
        q_[5 * (ld)] = (v).s5;                                                                     \
        q_[6 * (ld)] = (v).s6;                                                                     \
        q_[7 * (ld)] = (v).s7;                                                                     \
        q_[8 * (ld)] = (v).s8;                                                                     \
        q_[9 * (ld)] = (v).s9;                                                                     \
        q_[10 * (ld)] = (v).sa;                                                                    \
        q_[11 * (ld)] = (v).sb;                                                                    \
        q_[12 * (ld)] = (v).sc;                                                                    \
        q_[13 * (ld)] = (v).sd;                                                                    \
        q_[14 * (ld)] = (v).se;                                                                    \
        q_[15 * (ld)] = (v).sf;                                                                    \
    } while (0)

/* Stores the first n (< 8) lanes of v at p. */
void fu_store8_part(float8 v, __global float *p, int n)
{
    if (n > 0) p[0] = v.s0;
    if (n > 1) p[1] = v.s1;
    if (n > 2) p[2] = v.s2;
    if (n > 3) p[3] = v.s3;
    if (n > 4) p[4] = v.s4;
    if (n > 5) p[5] = v.s5;
    if (n > 6) p[6] = v.s6;
}

/* max(0, a) as the reference does it: only a < 0 becomes +0 (NaN stays). */
#define FU_RELU(a) select((a), (float16)(0.0f), (a) < (float16)(0.0f))

/* Dense forward tile: outputs o0..o0+3 (clamped, stored only if < O) for the
 * 16 batch lanes of chunk c. xT (I, ld), yT (O, ld), yR (ld, ldr) or 0. Each
 * lane's sum runs over i in order, then + bias, then ReLU: ref_dense_forward. */
void fu_fwd_tile(const __global float *W, const __global float *bias, int I, int O, int relu,
                 const __global float *xT, __global float *yT, __global float *yR, int ldr, int ld,
                 int o0, int c)
{
    const int o1 = min(o0 + 1, O - 1), o2 = min(o0 + 2, O - 1), o3 = min(o0 + 3, O - 1);
    const __global float *w0 = W + o0 * I, *w1 = W + o1 * I, *w2 = W + o2 * I, *w3 = W + o3 * I;
    const __global float *xp = xT + c * 16;
    float16 a0 = (float16)(0.0f), a1 = a0, a2 = a0, a3 = a0;
    for (int i = 0; i < I; i++) {
        const float16 x = vload16(0, xp + i * ld);
        a0 += x * w0[i];
        a1 += x * w1[i];
        a2 += x * w2[i];
        a3 += x * w3[i];
    }
    a0 += bias[o0];
    a1 += bias[o1];
    a2 += bias[o2];
    a3 += bias[o3];
    if (relu) {
        a0 = FU_RELU(a0);
        a1 = FU_RELU(a1);
        a2 = FU_RELU(a2);
        a3 = FU_RELU(a3);
    }
    __global float *yp = yT + c * 16;
    vstore16(a0, 0, yp + o0 * ld);
    if (o0 + 1 < O) vstore16(a1, 0, yp + o1 * ld);
    if (o0 + 2 < O) vstore16(a2, 0, yp + o2 * ld);
    if (o0 + 3 < O) vstore16(a3, 0, yp + o3 * ld);
    if (yR) {
        __global float *rp = yR + c * 16 * ldr;
        FU_STORE_COL(rp + o0, ldr, a0);
        if (o0 + 1 < O) FU_STORE_COL(rp + o1, ldr, a1);
        if (o0 + 2 < O) FU_STORE_COL(rp + o2, ldr, a2);
        if (o0 + 3 < O) FU_STORE_COL(rp + o3, ldr, a3);
    }
}

/* Weight-gradient row: gW[o, i0 .. i0 + 8*NCH) (columns < I stored) and,
 * with i0 == 0, gb[o]: sums over b < B in order, as ref_dense_backward, but
 * only over the b with dy[b,o] != 0. Skipping those terms is exact: they are
 * +-0 (the ReLU mask zeroes about half of dy, and dq is zero off the taken
 * action), and adding +-0 to a sum that starts at +0.0f never changes it.
 * The nonzero b are listed first without branches (a data-dependent branch
 * per b would mispredict half the time). d = dyT + o*ld; xR (ld, FU_RS(I)). */
#define FU_DW_ROW_BODY(NCH)                                                                        \
    int lst[FU_BP];                                                                                \
    int n = 0;                                                                                     \
    for (int b = 0; b < B; b++) {                                                                  \
        lst[n] = b;                                                                                \
        n += d[b] != 0.0f;                                                                         \
    }                                                                                              \
    float8 a0 = (float8)(0.0f), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;     \
    float sb = 0.0f;                                                                               \
    for (int j = 0; j < n; j++) {                                                                  \
        const int b = lst[j];                                                                      \
        const float e = d[b];                                                                      \
        const __global float *xp = xR + b * ldx + i0;                                              \
        a0 += e * vload8(0, xp);                                                                   \
        if (NCH > 1) a1 += e * vload8(1, xp);                                                      \
        if (NCH > 2) a2 += e * vload8(2, xp);                                                      \
        if (NCH > 3) a3 += e * vload8(3, xp);                                                      \
        if (NCH > 4) a4 += e * vload8(4, xp);                                                      \
        if (NCH > 5) a5 += e * vload8(5, xp);                                                      \
        if (NCH > 6) a6 += e * vload8(6, xp);                                                      \
        if (NCH > 7) a7 += e * vload8(7, xp);                                                      \
        sb += e;                                                                                   \
    }                                                                                              \
    fu_store8(a0, gw + i0, I - i0);                                                                \
    if (NCH > 1) fu_store8(a1, gw + i0 + 8, I - i0 - 8);                                           \
    if (NCH > 2) fu_store8(a2, gw + i0 + 16, I - i0 - 16);                                         \
    if (NCH > 3) fu_store8(a3, gw + i0 + 24, I - i0 - 24);                                         \
    if (NCH > 4) fu_store8(a4, gw + i0 + 32, I - i0 - 32);                                         \
    if (NCH > 5) fu_store8(a5, gw + i0 + 40, I - i0 - 40);                                         \
    if (NCH > 6) fu_store8(a6, gw + i0 + 48, I - i0 - 48);                                         \
    if (NCH > 7) fu_store8(a7, gw + i0 + 56, I - i0 - 56);                                         \
    if (i0 == 0) *gbo = sb;

/* Stores the first n lanes of v at p (all 8 if n >= 8, none if n <= 0). */
void fu_store8(float8 v, __global float *p, int n)
{
    if (n >= 8)
        vstore8(v, 0, p);
    else if (n > 0)
        fu_store8_part(v, p, n);
}

/* The row for layer inputs of width E and of width H (NCH fixed per width). */
void fu_dw_row_e(const __global float *d, const __global float *xR, int ldx, int B, int I,
                 __global float *gw, __global float *gbo, int i0)
{
    FU_DW_ROW_BODY(FU_NCH(FU_E))
}
void fu_dw_row_h(const __global float *d, const __global float *xR, int ldx, int B, int I,
                 __global float *gw, __global float *gbo, int i0)
{
    FU_DW_ROW_BODY(FU_NCH(FU_H))
}

/* Input-gradient tile: dxT rows i0..i0+3 (clamped to I), lanes of chunk c:
 * sum over o in order of dy[b,o] W[o,i], then zeroed where !(h > 0) if hT is
 * given (the ReLU mask ref_dense_backward applies to the layer below). */
void fu_dx_tile(const __global float *W, int I, int O, const __global float *dyT, int ld,
                const __global float *hT, __global float *dxT, int i0, int c)
{
    const int i1 = min(i0 + 1, I - 1), i2 = min(i0 + 2, I - 1), i3 = min(i0 + 3, I - 1);
    const __global float *dp = dyT + c * 16;
    float16 a0 = (float16)(0.0f), a1 = a0, a2 = a0, a3 = a0;
    for (int o = 0; o < O; o++) {
        const float16 d = vload16(0, dp + o * ld);
        const __global float *wr = W + o * I;
        a0 += d * wr[i0];
        a1 += d * wr[i1];
        a2 += d * wr[i2];
        a3 += d * wr[i3];
    }
    if (hT) {
        const __global float *hp = hT + c * 16;
        const float16 z = (float16)(0.0f);
        a0 = select(z, a0, vload16(0, hp + i0 * ld) > z);
        a1 = select(z, a1, vload16(0, hp + i1 * ld) > z);
        a2 = select(z, a2, vload16(0, hp + i2 * ld) > z);
        a3 = select(z, a3, vload16(0, hp + i3 * ld) > z);
    }
    __global float *xp = dxT + c * 16;
    vstore16(a0, 0, xp + i0 * ld);
    if (i0 + 1 < I) vstore16(a1, 0, xp + i1 * ld);
    if (i0 + 2 < I) vstore16(a2, 0, xp + i2 * ld);
    if (i0 + 3 < I) vstore16(a3, 0, xp + i3 * ld);
}

/* Gathers embedding rows of states[0..B) into xT (E, ld) and, if xR != 0,
 * xR (ld, roundup8(E)); lanes b >= B get zeros. One work-item per lane (no
 * integer division: it costs more than the copy on a CPU). */
void fu_gather(const __global float *emb, const __global int *states, int B, int ld,
               __global float *xT, __global float *xR, int lid, int wg)
{
    for (int b = lid; b < ld; b += wg) {
        const __global float *row = emb + (b < B ? states[b] : 0) * FU_E;
        for (int e = 0; e < FU_E; e++) {
            const float x = b < B ? row[e] : 0.0f;
            xT[e * ld + b] = x;
            if (xR) xR[b * FU_RS(FU_E) + e] = x;
        }
    }
}

/* One forward layer l of up to two networks at once. Chunks of 16 lanes are
 * the outer loop so that tiles need no integer division. */
void fu_fwd_phase(int l, const __global float *p0, const __global float *x0, __global float *y0,
                  __global float *r0, const __global float *p1, const __global float *x1,
                  __global float *y1, int nnet, int ld, int lid, int wg)
{
    const int I = FU_IN(l), O = FU_OUT(l), relu = l < FU_L;
    const int nq = (O + 3) / 4;
    for (int c = 0; c < ld / 16; c++)
        for (int t = lid; t < nnet * nq; t += wg) {
            const int net = t >= nq, oq = t - net * nq;
            const __global float *p = net ? p1 : p0;
            fu_fwd_tile(p + FU_OFFW(l), p + FU_OFFB(l), I, O, relu, net ? x1 : x0, net ? y1 : y0,
                        net ? 0 : r0, FU_RS(O), ld, 4 * oq, c);
        }
}

/* Backward of layer l from dyT (OUT(l), ld): writes the weight and bias
 * gradients into grad and dxT (IN(l), ld) masked by the layer below's output
 * (l > 0) or unmasked (l == 0: the embedding gradient per sample). */
void fu_bwd_phase(int l, const __global float *params, __global float *grad,
                  const __global float *ws_c, const __global float *dyT, __global float *dxT, int B,
                  int ld, int lid, int wg)
{
    const int I = FU_IN(l), O = FU_OUT(l);
    const int niq = (I + 3) / 4;
    const __global float *xR = ws_c + FU_ACTR(l);
    const __global float *hT = l > 0 ? ws_c + FU_ACTT(l) : 0;
    /* Weight gradients: column groups outer, one output row per task. */
    const int gw = 8 * (l == 0 ? FU_NCH(FU_E) : FU_NCH(FU_H));
    for (int i0 = 0; i0 < I; i0 += gw)
        for (int o = lid; o < O; o += wg) {
            __global float *grow = grad + FU_OFFW(l) + o * I;
            if (l == 0)
                fu_dw_row_e(dyT + o * ld, xR, FU_RS(I), B, I, grow, grad + FU_OFFB(l) + o, i0);
            else
                fu_dw_row_h(dyT + o * ld, xR, FU_RS(I), B, I, grow, grad + FU_OFFB(l) + o, i0);
        }
    for (int c = 0; c < ld / 16; c++)
        for (int iq = lid; iq < niq; iq += wg)
            fu_dx_tile(params + FU_OFFW(l), I, O, dyT, ld, hT, dxT, 4 * iq, c);
}

/* Dense forward of ONE sample: y[o0..o0+3] (those < O) = act(sum_i x[i]
 * W[o,i] + b[o]) with four scalar chains (a 16-lane tile would waste 15 of
 * its lanes). x (I) contiguous; y goes to yT[o*16] (lane 0 of a transposed
 * (O, 16) buffer) and, if yR != 0, yR[o] (row 0 of a row-major one). */
void fu_fwd1_tile(const __global float *W, const __global float *bias, int I, int O, int relu,
                  const __global float *x, __global float *yT, __global float *yR, int o0)
{
    const int o1 = min(o0 + 1, O - 1), o2 = min(o0 + 2, O - 1), o3 = min(o0 + 3, O - 1);
    const __global float *w0 = W + o0 * I, *w1 = W + o1 * I, *w2 = W + o2 * I, *w3 = W + o3 * I;
    float a0 = 0.0f, a1 = 0.0f, a2 = 0.0f, a3 = 0.0f;
    for (int i = 0; i < I; i++) {
        const float xi = x[i];
        a0 += xi * w0[i];
        a1 += xi * w1[i];
        a2 += xi * w2[i];
        a3 += xi * w3[i];
    }
    a0 += bias[o0];
    a1 += bias[o1];
    a2 += bias[o2];
    a3 += bias[o3];
    if (relu) {
        if (a0 < 0.0f) a0 = 0.0f;
        if (a1 < 0.0f) a1 = 0.0f;
        if (a2 < 0.0f) a2 = 0.0f;
        if (a3 < 0.0f) a3 = 0.0f;
    }
    yT[o0 * 16] = a0;
    if (o0 + 1 < O) yT[o1 * 16] = a1;
    if (o0 + 2 < O) yT[o2 * 16] = a2;
    if (o0 + 3 < O) yT[o3 * 16] = a3;
    if (yR) {
        yR[o0] = a0;
        if (o0 + 1 < O) yR[o1] = a1;
        if (o0 + 2 < O) yR[o2] = a2;
        if (o0 + 3 < O) yR[o3] = a3;
    }
}

/* Online forward of the one state s through all layers, a barrier after
 * each: layer 0 reads the embedding row, layer l > 0 row 0 of FU_ACTR(l)
 * (always written here, also for the greedy pass). Q lands in FU_ACTT(L+1)
 * lane 0. */
void fu_fwd1(const __global float *params, int s, __global float *ws, int lid, int wg)
{
    for (int l = 0; l <= FU_L; l++) {
        const int I = FU_IN(l), O = FU_OUT(l);
        const __global float *x = l == 0 ? params + s * FU_E : ws + FU_ACTR(l);
        for (int oq = lid; 4 * oq < O; oq += wg)
            fu_fwd1_tile(params + FU_OFFW(l), params + FU_OFFB(l), I, O, l < FU_L, x,
                         ws + FU_ACTT(l + 1), l < FU_L ? ws + FU_ACTR(l + 1) : 0, 4 * oq);
        FU_SYNC();
    }
}

/* Loads 8 floats, or only the first n (< 8) and zeros, so that the last
 * row of the last tensor is never read past the buffer's end. */
float8 fu_load8(const __global float *p, int n)
{
    if (n >= 8) return vload8(0, p);
    float8 v = (float8)(0.0f);
    if (n > 0) v.s0 = p[0];
    if (n > 1) v.s1 = p[1];
    if (n > 2) v.s2 = p[2];
    if (n > 3) v.s3 = p[3];
    if (n > 4) v.s4 = p[4];
    if (n > 5) v.s5 = p[5];
    if (n > 6) v.s6 = p[6];
    return v;
}

/* Stores the 8 lanes of v (those with i0 + k < I) down lane 0 of a
 * transposed (I, 16) buffer: p[(i0+k)*16]. */
void fu_store8_col(float8 v, __global float *p, int i0, int I)
{
    __global float *q = p + i0 * 16;
    if (i0 + 0 < I) q[0] = v.s0;
    if (i0 + 1 < I) q[16] = v.s1;
    if (i0 + 2 < I) q[32] = v.s2;
    if (i0 + 3 < I) q[48] = v.s3;
    if (i0 + 4 < I) q[64] = v.s4;
    if (i0 + 5 < I) q[80] = v.s5;
    if (i0 + 6 < I) q[96] = v.s6;
    if (i0 + 7 < I) q[112] = v.s7;
}

/* Input gradient of ONE sample (per-sample mode): dx[i0 .. i0+8) = sum over o
 * in order of dy[o] W[o, i0 .. i0+8), lanes over columns (a 16-lane batch
 * tile would waste 15 lanes), then masked by h (row 0 of the layer below's
 * row-major activations) if given. dy and dx are lane 0 of (., 16) buffers. guard: W
 * is the last tensor, whose last row must not be over-read. */
void fu_dx1_chunk(const __global float *W, int I, int O, const __global float *dyT,
                  const __global float *h, __global float *dxT, int i0, int guard)
{
    float8 a0 = (float8)(0.0f);
    const int n = I - i0, safe = !guard || n >= 8;
    for (int o = 0; o < O; o++) {
        const __global float *wp = W + o * I + i0;
        a0 += dyT[o * 16] * (safe ? vload8(0, wp) : fu_load8(wp, n));
    }
    if (h) a0 = select((float8)(0.0f), a0, fu_load8(h + i0, n) > (float8)(0.0f));
    fu_store8_col(a0, dxT, i0, I);
}

/* Backward of layer l for one sample: weight rows as in fu_bwd_phase, input
 * gradient by column chunks. */
void fu_bwd1_phase(int l, const __global float *params, __global float *grad,
                   const __global float *ws_c, const __global float *dyT, __global float *dxT,
                   int lid, int wg)
{
    const int I = FU_IN(l), O = FU_OUT(l);
    const __global float *xR = ws_c + FU_ACTR(l);
    const int gw = 8 * (l == 0 ? FU_NCH(FU_E) : FU_NCH(FU_H));
    for (int i0 = 0; i0 < I; i0 += gw)
        for (int o = lid; o < O; o += wg) {
            __global float *grow = grad + FU_OFFW(l) + o * I;
            if (l == 0)
                fu_dw_row_e(dyT + o * 16, xR, FU_RS(I), 1, I, grow, grad + FU_OFFB(l) + o, i0);
            else
                fu_dw_row_h(dyT + o * 16, xR, FU_RS(I), 1, I, grow, grad + FU_OFFB(l) + o, i0);
        }
    const __global float *h = l > 0 ? ws_c + FU_ACTR(l) : 0;
    for (int ic = lid; 8 * ic < I; ic += wg)
        fu_dx1_chunk(params + FU_OFFW(l), I, O, dyT, h, dxT, 8 * ic, l == FU_L);
}

/* Greedy action of the online network for one state: forward, then argmax
 * (lowest index on ties) by work-item 0. */
void fu_greedy(const __global float *params, const __global int *state, __global float *ws,
               __global int *out, int lid, int wg)
{
    fu_fwd1(params, state[0], ws, lid, wg);
    if (lid == 0) {
        const __global float *q = ws + FU_ACTT(FU_L + 1); /* (A, 16), lane 0 */
        int best = 0;
        for (int a = 1; a < FU_A; a++)
            if (q[a * 16] > q[best * 16]) best = a;
        out[1] = best;
    }
}

/* Sum of squares of the gradient in index order (ref_clip_grad_norm) and the
 * clipping coefficient, by one work-item. The embedding gradient is zero
 * except in the rows listed (sorted, unique), and adding +0 is exact, so
 * only those rows are visited. */
void fu_clip_coef(const __global float *grad, const __global int *rows, int nrows, float max_norm,
                  __global float *misc)
{
    float ss = 0.0f;
    for (int k = 0; k < nrows; k++) {
        const __global float *g = grad + rows[k] * FU_E;
        for (int e = 0; e < FU_E; e++) ss += g[e] * g[e];
    }
    for (int j = FU_S * FU_E; j < FU_NPARAM; j++) ss += grad[j] * grad[j];
    const float norm = sqrt(ss);
    const float coef = max_norm / (norm + 1e-6f);
    misc[0] = coef;
    misc[1] = coef < 1.0f ? 1.0f : 0.0f;
}

/* Adam over all parameters (ref_adam) with this step's scalars: TORCH
 * s0 = -lr/bc1, s1 = sqrt(bc2); KERAS s0 = lr*sqrt(bc2)/bc1. The clipped
 * gradient is written back, as ref_clip_grad_norm scales it in place. */
void fu_adam(__global float *params, __global float *grad, __global float *m, __global float *v,
             float b1, float b2, float eps, float omb1, float omb2, float s0, float s1,
             const __global float *misc, int lid, int wg)
{
#if FU_CLIP
    const int clip = misc[1] != 0.0f;
    const float coef = misc[0];
#endif
    const int nv = FU_NPARAM / 8;
    for (int k = lid; k < nv; k += wg) {
        float8 g = vload8(k, grad);
#if FU_CLIP
        if (clip) {
            g = g * coef;
            vstore8(g, k, grad);
        }
#endif
        const float8 mm = vload8(k, m) * b1 + omb1 * g;
        const float8 vv = vload8(k, v) * b2 + omb2 * g * g;
        float8 p = vload8(k, params);
#if FU_ADAM == 0
        const float8 den = sqrt(vv) / s1 + eps;
        p = p + s0 * mm / den;
#else
        p = p - s0 * mm / (sqrt(vv) + eps);
#endif
        vstore8(mm, k, m);
        vstore8(vv, k, v);
        vstore8(p, k, params);
    }
    if (lid == 0)
        for (int j = nv * 8; j < FU_NPARAM; j++) {
            float g = grad[j];
#if FU_CLIP
            if (clip) {
                g = g * coef;
                grad[j] = g;
            }
#endif
            const float mm = m[j] * b1 + omb1 * g;
            const float vv = v[j] * b2 + omb2 * g * g;
#if FU_ADAM == 0
            const float den = sqrt(vv) / s1 + eps;
            params[j] = params[j] + s0 * mm / den;
#else
            params[j] = params[j] - s0 * mm / (sqrt(vv) + eps);
#endif
            m[j] = mm;
            v[j] = vv;
        }
}

/* max_a of lane b of the target Q-values qnT (A, ld), as ref_td_target. */
float fu_qmax(const __global float *qnT, int ld, int b)
{
    float mx = qnT[b];
    for (int a = 1; a < FU_A; a++) {
        const float q = qnT[a * ld + b];
        if (q > mx) mx = q;
    }
    return mx;
}

/* TD target of sample b: y = r + gamma (1 - term) max_a Q_target(s'), the
 * max from the target Q-values qnT (A, ld) or, with tt, from the table. */
float fu_td_target(const __global float *qnT, int ld, int b, float r, float term, float gamma,
                   int tt, const __global float *ws, int ns)
{
    const float mx = tt ? ws[FU_TMAX + ns] : fu_qmax(qnT, ld, b);
    return r + gamma * (1.0f - term) * mx;
}

/* The whole update of one network by the calling work-group.
 * params/grad/m/v/target: flat arrays (FU_NPARAM); in: packed batch (see
 * FU_IN_*); ws: scratch (FU_SCRATCH floats); out[0]: loss (float bits),
 * out[1]: greedy action for in[FU_IN_G]. B in [1, FU_BP]. tt (a constant at
 * each call, so no barrier sits under a branch after inlining): take
 * max_a Q_target(s') from the table fused_target_table left in ws instead
 * of a target forward over the batch; the values are the same bits, as each
 * lane of a forward is computed alone. */
void fu_update(__global float *params, __global float *grad, __global float *m, __global float *v,
               const __global float *target, const __global int *in, __global float *ws,
               __global int *out, int B, float gamma, float b1, float b2, float eps, float omb1,
               float omb2, float huber_delta, float max_norm, int tt)
{
    const int lid = get_local_id(0), wg = get_local_size(0);
    const int ld = (B + 15) / 16 * 16;
    const __global int *st = in + FU_IN_S, *act = in + FU_IN_A, *nst = in + FU_IN_NS;
    const __global float *rew = (const __global float *)(in + FU_IN_R);
    const __global float *term = (const __global float *)(in + FU_IN_T);
    const __global float *adam = (const __global float *)(in + FU_IN_ADAM);
    __global int *rows = (__global int *)(ws + FU_ROWS);
    (void)huber_delta;
    (void)max_norm;
    (void)rows;

    /* Target network on s' (both modes, unless tt), the embedding gradient zeroed. */
    if (!tt) fu_gather(target, nst, B, ld, ws + FU_TA, 0, lid, wg);
    for (int k = lid; k < FU_S * FU_E / 8; k += wg) vstore8((float8)(0.0f), k, grad);
    if (lid == 0)
        for (int j = FU_S * FU_E / 8 * 8; j < FU_S * FU_E; j++) grad[j] = 0.0f;
#if FU_MODE == 0
    fu_gather(params, st, B, ld, ws + FU_ACTT(0), ws + FU_ACTR(0), lid, wg);
#if FU_CLIP
    if (lid == 0) { /* sorted unique states: the embedding rows with a gradient */
        int n = 0;
        for (int b = 0; b < B; b++) {
            const int s = st[b];
            int k = n; /* rows[1..n] sorted; find the last <= s */
            while (k > 0 && rows[k] > s) k--;
            if (k > 0 && rows[k] == s) continue;
            for (int j = n; j > k; j--) rows[j + 1] = rows[j];
            rows[k + 1] = s;
            n++;
        }
        rows[0] = n;
    }
#endif
    FU_SYNC();
    for (int l = 0; l <= FU_L; l++) {
        const int tin = (l & 1) ? FU_TB : FU_TA, tout = (l & 1) ? FU_TA : FU_TB;
        fu_fwd_phase(l, params, ws + FU_ACTT(l), ws + FU_ACTT(l + 1),
                     l < FU_L ? ws + FU_ACTR(l + 1) : 0, target, ws + tin, ws + tout, tt ? 1 : 2,
                     ld, lid, wg);
        FU_SYNC();
    }
    {
        /* TD target, loss and dq (A, ld) per sample (ref_td_target, ref_td_loss). */
        const __global float *qT = ws + FU_ACTT(FU_L + 1);
        const __global float *qnT = ws + ((FU_L & 1) ? FU_TA : FU_TB);
        __global float *dq = ws + FU_DA;
        const float inv_b = 1.0f / (float)B;
        for (int b = lid; b < ld; b += wg) {
            if (b >= B) {
                for (int a = 0; a < FU_A; a++) dq[a * ld + b] = 0.0f;
                continue;
            }
            const float y = fu_td_target(qnT, ld, b, rew[b], term[b], gamma, tt, ws, nst[b]);
            const int ab = act[b];
            const float d = qT[ab * ld + b] - y;
            float lo, g;
#if FU_LOSS == 1
            const float ad = fabs(d);
            if (ad < huber_delta) {
                lo = 0.5f * d * d;
                g = d;
            } else {
                lo = huber_delta * (ad - 0.5f * huber_delta);
                g = d > 0.0f ? huber_delta : -huber_delta;
            }
#else
            lo = d * d;
            g = 2.0f * d;
#endif
            for (int a = 0; a < FU_A; a++) dq[a * ld + b] = a == ab ? g * inv_b : 0.0f;
            ws[FU_LOSSV + b] = lo;
        }
    }
    FU_SYNC();
    if (lid == 0) {
        float sum = 0.0f;
        for (int b = 0; b < B; b++) sum += ws[FU_LOSSV + b];
        out[0] = as_int(sum / (float)B);
    }
    for (int l = FU_L; l >= 0; l--) {
        const int dy = ((FU_L - l) & 1) ? FU_DB : FU_DA, dx = ((FU_L - l) & 1) ? FU_DA : FU_DB;
        fu_bwd_phase(l, params, grad, ws, ws + dy, ws + dx, B, ld, lid, wg);
        FU_SYNC();
    }
    {
        /* Embedding rows accumulate in batch order (ref_embed_backward). */
        const __global float *dx0 = ws + ((FU_L & 1) ? FU_DA : FU_DB); /* (E, ld) */
        for (int e = lid; e < FU_E; e += wg)
            for (int b = 0; b < B; b++) grad[st[b] * FU_E + e] += dx0[e * ld + b];
    }
    FU_SYNC();
#if FU_CLIP
    if (lid == 0) fu_clip_coef(grad, rows + 1, rows[0], max_norm, ws + FU_MISC);
    FU_SYNC();
#endif
    fu_adam(params, grad, m, v, b1, b2, eps, omb1, omb2, adam[0], adam[1], ws + FU_MISC, lid, wg);
    FU_SYNC();
#else /* FU_MODE == 1: the seed's B single-sample updates */
    FU_SYNC();
    if (!tt)
        for (int l = 0; l <= FU_L; l++) {
            const int tin = (l & 1) ? FU_TB : FU_TA, tout = (l & 1) ? FU_TA : FU_TB;
            fu_fwd_phase(l, target, ws + tin, ws + tout, 0, 0, 0, 0, 1, ld, lid, wg);
            FU_SYNC();
        }
    {
        const __global float *qnT = ws + ((FU_L & 1) ? FU_TA : FU_TB);
        for (int b = lid; b < B; b += wg)
            ws[FU_YS + b] = fu_td_target(qnT, ld, b, rew[b], term[b], gamma, tt, ws, nst[b]);
    }
    FU_SYNC();
    for (int i = 0; i < B; i++) {
        fu_gather(params, st + i, 1, 16, ws + FU_ACTT(0), ws + FU_ACTR(0), lid, wg);
        if (i > 0) /* the previous sample's embedding row leaves the gradient */
            for (int e = lid; e < FU_E; e += wg) grad[st[i - 1] * FU_E + e] = 0.0f;
        FU_SYNC();
        fu_fwd1(params, st[i], ws, lid, wg);
        {
            /* Keras' per-sample MSE over A outputs (ref_keras_sample_loss). */
            const __global float *qT = ws + FU_ACTT(FU_L + 1); /* (A, 16), lane 0 */
            __global float *dq = ws + FU_DA;
            const int ai = act[i];
            const float d = qT[ai * 16] - ws[FU_YS + i];
            for (int k = lid; k < FU_A * 16; k += wg)
                dq[k] = k == ai * 16 ? 2.0f * d / (float)FU_A : 0.0f;
            if (lid == 0) ws[FU_LOSSV + i] = d * d / (float)FU_A;
        }
        FU_SYNC();
        for (int l = FU_L; l >= 0; l--) {
            const int dy = ((FU_L - l) & 1) ? FU_DB : FU_DA, dx = ((FU_L - l) & 1) ? FU_DA : FU_DB;
            fu_bwd1_phase(l, params, grad, ws, ws + dy, ws + dx, lid, wg);
            FU_SYNC();
        }
        {
            const __global float *dx0 = ws + ((FU_L & 1) ? FU_DA : FU_DB); /* (E, 16) */
            for (int e = lid; e < FU_E; e += wg) grad[st[i] * FU_E + e] = 0.0f + dx0[e * 16];
        }
        FU_SYNC();
#if FU_CLIP
        if (lid == 0) fu_clip_coef(grad, st + i, 1, max_norm, ws + FU_MISC);
        FU_SYNC();
#endif
        fu_adam(params, grad, m, v, b1, b2, eps, omb1, omb2, adam[2 * i], adam[2 * i + 1],
                ws + FU_MISC, lid, wg);
        FU_SYNC();
    }
    if (lid == 0) {
        float sum = 0.0f;
        for (int b = 0; b < B; b++) sum += ws[FU_LOSSV + b];
        out[0] = as_int(sum / (float)B);
    }
#endif
    fu_greedy(params, in + FU_IN_G, ws, out, lid, wg);
}

/* One network: the launch is one work-group. */
__kernel void fused_update(__global float *params, __global float *grad, __global float *m,
                           __global float *v, const __global float *target, const __global int *in,
                           __global float *ws, __global int *out, int B, float gamma, float b1,
                           float b2, float eps, float omb1, float omb2, float huber_delta,
                           float max_norm)
{
    fu_update(params, grad, m, v, target, in, ws, out, B, gamma, b1, b2, eps, omb1, omb2,
              huber_delta, max_norm, 0);
}

/* The same update with max_a Q_target(s') from the table in ws (the host
 * runs fused_target_table after every change of the target weights). */
__kernel void fused_update_tt(__global float *params, __global float *grad, __global float *m,
                              __global float *v, const __global float *target,
                              const __global int *in, __global float *ws, __global int *out, int B,
                              float gamma, float b1, float b2, float eps, float omb1, float omb2,
                              float huber_delta, float max_norm)
{
    fu_update(params, grad, m, v, target, in, ws, out, B, gamma, b1, b2, eps, omb1, omb2,
              huber_delta, max_norm, 1);
}

/* ws[FU_TMAX + s] = max_a Q_target(s) for every state, FU_BP states per
 * pass through the target forward of fu_update (lanes past S get row 0). A
 * target changes every few hundred updates, so this replaces a target
 * forward over the batch in each of them. */
void fu_target_table(const __global float *target, __global float *ws)
{
    const int lid = get_local_id(0), wg = get_local_size(0);
    __global int *st = (__global int *)(ws + FU_ROWS); /* (BP) this pass's states */
    for (int s0 = 0; s0 < FU_S; s0 += FU_BP) {
        for (int b = lid; b < FU_BP; b += wg) st[b] = s0 + b < FU_S ? s0 + b : 0;
        FU_SYNC();
        fu_gather(target, st, FU_BP, FU_BP, ws + FU_TA, 0, lid, wg);
        FU_SYNC();
        for (int l = 0; l <= FU_L; l++) {
            const int tin = (l & 1) ? FU_TB : FU_TA, tout = (l & 1) ? FU_TA : FU_TB;
            fu_fwd_phase(l, target, ws + tin, ws + tout, 0, 0, 0, 0, 1, FU_BP, lid, wg);
            FU_SYNC();
        }
        const __global float *qnT = ws + ((FU_L & 1) ? FU_TA : FU_TB);
        for (int b = lid; b < FU_BP && s0 + b < FU_S; b += wg)
            ws[FU_TMAX + s0 + b] = fu_qmax(qnT, FU_BP, b);
        FU_SYNC();
    }
}

__kernel void fused_target_table(const __global float *target, __global float *ws)
{
    fu_target_table(target, ws);
}

/* A population (host/train/population.c): work-group g updates network
 * n = agents[g] (only the networks that learn on this step are listed), whose
 * five arrays start at n * FU_NPARAM, packed input at n * FU_IN_STRIDE,
 * scratch at n * FU_SCRATCH and output at 2n. Per network the input also
 * carries gamma (float bits, FU_IN_GAMMA) and the settings fused_update
 * takes as arguments (FU_IN_HYP: beta1, beta2, eps, 1 - beta1, 1 - beta2,
 * Huber delta, max norm), so networks may differ in them; the learning
 * rate travels inside the per-step Adam scalars already. Each group
 * computes exactly what fused_update computes for that network alone. Idle networks are left out
 * of the launch rather than skipped by a branch: PoCL 3 lost the loss store
 * of fu_update when the call sat under a (uniform) condition. */
/* Work-group g's network of the population, with or without the table. */
void fu_update_pop(__global float *params, __global float *grad, __global float *m,
                   __global float *v, const __global float *target, const __global int *in,
                   __global float *ws, __global int *out, int B, const __global int *agents, int tt)
{
    const size_t n = (size_t)agents[get_group_id(0)];
    const __global int *gin = in + n * FU_IN_STRIDE;
    const __global float *h = (const __global float *)(gin + FU_IN_HYP);
    const size_t po = n * FU_NPARAM;
    fu_update(params + po, grad + po, m + po, v + po, target + po, gin, ws + n * FU_SCRATCH,
              out + 2 * n, B, as_float(gin[FU_IN_GAMMA]), h[FUL_HYP_B1], h[FUL_HYP_B2],
              h[FUL_HYP_EPS], h[FUL_HYP_OMB1], h[FUL_HYP_OMB2], h[FUL_HYP_HUBER], h[FUL_HYP_NORM],
              tt);
}

__kernel void fused_update_pop(__global float *params, __global float *grad, __global float *m,
                               __global float *v, const __global float *target,
                               const __global int *in, __global float *ws, __global int *out, int B,
                               const __global int *agents)
{
    fu_update_pop(params, grad, m, v, target, in, ws, out, B, agents, 0);
}

/* fused_update_pop with max_a Q_target(s') from each network's table. */
__kernel void fused_update_pop_tt(__global float *params, __global float *grad, __global float *m,
                                  __global float *v, const __global float *target,
                                  const __global int *in, __global float *ws, __global int *out,
                                  int B, const __global int *agents)
{
    fu_update_pop(params, grad, m, v, target, in, ws, out, B, agents, 1);
}

/* The tables of the networks listed (work-group g: network agents[g]),
 * after their targets changed. */
__kernel void fused_target_table_pop(const __global float *target, __global float *ws,
                                     const __global int *agents)
{
    const size_t n = (size_t)agents[get_group_id(0)];
    fu_target_table(target + n * FU_NPARAM, ws + n * FU_SCRATCH);
}

/* Soft target sync of the listed networks (ref_polyak): item i of network
 * list[i / total]; taus (n) their tau. */
__kernel void polyak_pop(__global const float *params, __global float *target,
                         const __global int *list, const __global float *taus, uint total, uint n)
{
    const uint i = GID();
    if (i >= total * n) return;
    const uint j = i / total;
    const size_t k = (size_t)list[j] * total + (i - j * total);
    const float tau = taus[j];
    target[k] = polyak1(params[k], target[k], tau, 1.0f - tau);
}
