/* common.cl - prepended to every kernel program (see host/cl/clrt.c).
 *
 * No contraction of a*b+c into FMA: the kernels must round exactly like the
 * C reference in host/core/ref.c, which is built with -ffp-contract=off. Sums run
 * in increasing index order from 0.0f, as in ref.c; no float atomics. */
#pragma OPENCL FP_CONTRACT OFF

/* Clang (PoCL) warns at every float16 builtin call that such vectors are
 * passed differently without AVX-512 ("22 warnings generated." on stderr);
 * nothing crosses a compiled-code boundary here, so the ABI note is noise. */
#ifdef __clang__
#pragma clang diagnostic ignored "-Wpsabi"
#endif

/* Flat 1-D id; kernels launch n work-items rounded up to the work-group size
 * and return early for ids >= n (never before a barrier). */
#define GID() ((uint)get_global_id(0))

/* A target weight after a soft sync, as ref_polyak (omt = 1 - tau in float). */
inline float polyak1(float p, float t, float tau, float omt)
{
    const float a = tau * p, b = omt * t;
    return a + b;
}
