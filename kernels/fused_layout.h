/* fused_layout.h - where kernels/fused.cl keeps things: the packed input of
 * one update (ints; floats as their bits) and the scratch (floats) of one
 * network. Defined once for both sides: clrt prepends this file to fused.cl
 * (after common.cl), and host/cl/fused.c and host/cl/qnets.c include it.
 * Plain preprocessor arithmetic, valid C and OpenCL C. bp is the largest
 * batch rounded up to 16 (FU_BP in the kernel). */
#ifndef CLDQN_FUSED_LAYOUT_H
#define CLDQN_FUSED_LAYOUT_H

#define FUL_R16(n) (((n) + 15) / 16 * 16)
/* Row-major activations of width n: chunks of 8 columns, handled NCH at a
 * time by the weight-gradient rows, with the stride padded to whole groups. */
#define FUL_NCH(n)    ((n) > 56 ? 8 : ((n) + 7) / 8)
#define FUL_RS(n)     (((n) + 8 * FUL_NCH(n) - 1) / (8 * FUL_NCH(n)) * (8 * FUL_NCH(n)))
#define FUL_MAX(a, b) ((a) > (b) ? (a) : (b))

/* Packed input of one network's update. */
#define FUL_IN_S(bp)      0               /* (B) states */
#define FUL_IN_A(bp)      (bp)            /* (B) actions */
#define FUL_IN_NS(bp)     (2 * (bp))      /* (B) next states */
#define FUL_IN_R(bp)      (3 * (bp))      /* (B) rewards */
#define FUL_IN_T(bp)      (4 * (bp))      /* (B) terminated */
#define FUL_IN_D(bp)      (5 * (bp))      /* (B) discount of each bootstrap */
#define FUL_IN_G(bp)      (6 * (bp))      /* state to act greedily in afterwards */
#define FUL_IN_ADAM(bp)   (6 * (bp) + 4)  /* (steps <= bp, 2) per-step Adam scalars */
#define FUL_IN_HYP(bp)    (8 * (bp) + 4)  /* fused_update_pop: the 7 of FUL_HYP_* */
#define FUL_IN_STRIDE(bp) (8 * (bp) + 12) /* one network's input in a population's */
/* Order of the settings at FUL_IN_HYP. */
enum {
    FUL_HYP_B1,
    FUL_HYP_B2,
    FUL_HYP_EPS,
    FUL_HYP_OMB1,
    FUL_HYP_OMB2,
    FUL_HYP_HUBER,
    FUL_HYP_NORM
};

/* Scratch of one network (S states, E embed, H hidden, L layers, A actions). */
#define FUL_MAXW(E, H, A) FUL_MAX(FUL_MAX(E, H), A)
/* (W_l, bp) transposed activation of layer input l */
#define FUL_ACTT(E, H, bp, l)     ((l) == 0 ? 0 : (E) * (bp) + ((l)-1) * (H) * (bp))
#define FUL_ACTR0(E, H, L, A, bp) ((E) * (bp) + (L) * (H) * (bp) + (A) * (bp))
/* (bp, FUL_RS(W_l)) row-major activation of layer input l */
#define FUL_ACTR(E, H, L, A, bp, l)                                                                \
    (FUL_ACTR0(E, H, L, A, bp) + ((l) == 0 ? 0 : FUL_RS(E) * (bp) + ((l)-1) * FUL_RS(H) * (bp)))
/* Target and gradient ping-pong (maxw, bp) each. */
#define FUL_TA(E, H, L, A, bp) (FUL_ACTR0(E, H, L, A, bp) + FUL_RS(E) * (bp) + (L)*FUL_RS(H) * (bp))
#define FUL_TB(E, H, L, A, bp) (FUL_TA(E, H, L, A, bp) + FUL_MAXW(E, H, A) * (bp))
#define FUL_DA(E, H, L, A, bp) (FUL_TB(E, H, L, A, bp) + FUL_MAXW(E, H, A) * (bp))
#define FUL_DB(E, H, L, A, bp) (FUL_DA(E, H, L, A, bp) + FUL_MAXW(E, H, A) * (bp))
/* TD targets (bp), per-sample losses (bp), misc (clip coef, applies), rows
 * ((bp+1) ints), the max-Q table (S). */
#define FUL_YS(E, H, L, A, bp)         (FUL_DB(E, H, L, A, bp) + FUL_MAXW(E, H, A) * (bp))
#define FUL_LOSSV(E, H, L, A, bp)      (FUL_YS(E, H, L, A, bp) + (bp))
#define FUL_MISC(E, H, L, A, bp)       (FUL_LOSSV(E, H, L, A, bp) + (bp))
#define FUL_ROWS(E, H, L, A, bp)       (FUL_MISC(E, H, L, A, bp) + 16)
#define FUL_TMAX(E, H, L, A, bp)       (FUL_ROWS(E, H, L, A, bp) + (bp) + 1)
#define FUL_SCRATCH(S, E, H, L, A, bp) (FUL_TMAX(E, H, L, A, bp) + (S))

#endif
