/* bench-gemm.c - hand-written dense kernels vs CLBlast SGEMM, per layer size.
 *
 * Times one dense layer forward (dense_forward vs CLBlastSgemm + bias_act) and
 * backward (dense_backward vs relu_mask_db + two CLBlastSgemm) on the default
 * device: host wall clock, warm (CLBlast has compiled the size), the best of
 * many single calls each ending in clFinish. Its numbers pick the
 * size threshold in host/cl/qnet.c (use_gemm). Not part of the build:
 *
 *   cc -O2 -Iinclude -Ihost/core -Ihost/cl -Ihost/train tools/bench-gemm.c build/libcldqn.a
 * -lOpenCL -lclblast -lcjson -lm \ -o /tmp/bench-gemm && /tmp/bench-gemm
 */
#include <clblast_c.h>
#include <stdio.h>
#include <stdlib.h>

#include "clrt.h"

#define REPS 7

static cldqn_cl *cl;
static cl_kernel kf, kb, kbias, kmask;

static cl_mem buf(size_t n)
{
    float *h = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) h[i] = (float)((i * 2654435761u) % 2001) / 1000.0f - 1.0f;
    cl_int err;
    cl_mem m = clCreateBuffer(cl->ctx, CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR, n * sizeof(float),
                              h, &err);
    free(h);
    if (err != CL_SUCCESS) {
        fprintf(stderr, "clCreateBuffer: %s\n", cldqn_cl_error_name(err));
        exit(1);
    }
    return m;
}

static void args(cl_kernel k, int n, const cldqn_cl_arg *a)
{
    if (cldqn_cl_set_args(k, "bench", a, n) != CLDQN_OK) {
        fprintf(stderr, "%s\n", cldqn_last_error());
        exit(1);
    }
}

typedef struct {
    int B, I, O;
    cl_mem W, b, x, y, dy, dW, db, dx;
} layer;

static void hand_fwd(layer *L)
{
    cl_int relu = 1, B = L->B, I = L->I, O = L->O;
    cl_uint z = 0;
    cldqn_cl_arg a[] = {{sizeof(cl_mem), &L->W},
                        {sizeof(cl_mem), &L->b},
                        {sizeof(cl_mem), &L->x},
                        {4, &B},
                        {4, &I},
                        {4, &O},
                        {4, &relu},
                        {sizeof(cl_mem), &L->y},
                        {4, &z},
                        {4, &z}};
    args(kf, 10, a);
    cldqn_cl_launch(cl, kf, (size_t)B * O, cldqn_cl_kernel_wg(cl, kf, 64));
}

static void blast_fwd(layer *L)
{
    CLBlastSgemm(CLBlastLayoutRowMajor, CLBlastTransposeNo, CLBlastTransposeYes, L->B, L->O, L->I,
                 1.0f, L->x, 0, L->I, L->W, 0, L->I, 0.0f, L->y, 0, L->O, &cl->queue, NULL);
    cl_int relu = 1, B = L->B, O = L->O;
    cl_uint z = 0;
    cldqn_cl_arg a[] = {
        {sizeof(cl_mem), &L->b}, {sizeof(cl_mem), &L->y}, {4, &B}, {4, &O}, {4, &relu}, {4, &z}};
    args(kbias, 6, a);
    cldqn_cl_launch(cl, kbias, (size_t)B * O, cldqn_cl_kernel_wg(cl, kbias, 64));
}

static void hand_bwd(layer *L)
{
    cl_int relu = 1, B = L->B, I = L->I, O = L->O, one = 1;
    cl_uint z = 0;
    cldqn_cl_arg a[] = {{sizeof(cl_mem), &L->W},
                        {sizeof(cl_mem), &L->x},
                        {sizeof(cl_mem), &L->y},
                        {sizeof(cl_mem), &L->dy},
                        {4, &B},
                        {4, &I},
                        {4, &O},
                        {4, &relu},
                        {sizeof(cl_mem), &L->dW},
                        {sizeof(cl_mem), &L->db},
                        {sizeof(cl_mem), &L->dx},
                        {4, &z},
                        {4, &z},
                        {4, &z},
                        {4, &one}};
    args(kb, 15, a);
    cldqn_cl_launch(cl, kb, (size_t)O * I + O + (size_t)B * I, cldqn_cl_kernel_wg(cl, kb, 64));
}

static void blast_bwd(layer *L)
{
    cl_int relu = 1, B = L->B, O = L->O;
    cl_uint z = 0;
    cldqn_cl_arg a[] = {{sizeof(cl_mem), &L->y},
                        {sizeof(cl_mem), &L->dy},
                        {4, &B},
                        {4, &O},
                        {4, &relu},
                        {sizeof(cl_mem), &L->db},
                        {4, &z}};
    args(kmask, 7, a);
    cldqn_cl_launch(cl, kmask, (size_t)O, cldqn_cl_kernel_wg(cl, kmask, 64));
    CLBlastSgemm(CLBlastLayoutRowMajor, CLBlastTransposeYes, CLBlastTransposeNo, L->O, L->I, L->B,
                 1.0f, L->dy, 0, L->O, L->x, 0, L->I, 0.0f, L->dW, 0, L->I, &cl->queue, NULL);
    CLBlastSgemm(CLBlastLayoutRowMajor, CLBlastTransposeNo, CLBlastTransposeNo, L->B, L->I, L->O,
                 1.0f, L->dy, 0, L->O, L->W, 0, L->I, 0.0f, L->dx, 0, L->I, &cl->queue, NULL);
}

/* Best (smallest) microseconds of one call of f + clFinish over n * REPS
 * calls: on a shared 2-core machine the minimum is what survives other
 * processes' preemption. */
static double time_us(void (*f)(layer *), layer *L, int n)
{
    f(L); /* warm: compiles the work-group size / CLBlast routine */
    clFinish(cl->queue);
    double best = 1e30;
    for (int i = 0; i < n * REPS; i++) {
        double t0 = cldqn_cl_now();
        f(L);
        clFinish(cl->queue);
        double dt = (cldqn_cl_now() - t0) * 1e6;
        if (dt < best) best = dt;
    }
    return best;
}

int main(void)
{
    if (cldqn_cl_create(NULL, 0, &cl) != CLDQN_OK) {
        fprintf(stderr, "%s\n", cldqn_last_error());
        return 1;
    }
    cl_program p;
    if (cldqn_cl_build_program(cl, "dense", NULL, &p) != CLDQN_OK) {
        fprintf(stderr, "%s\n%s\n", cldqn_last_error(), cldqn_cl_last_build_log());
        return 1;
    }
    cldqn_cl_create_kernel(p, "dense_forward", &kf);
    cldqn_cl_create_kernel(p, "dense_backward", &kb);
    cldqn_cl_create_kernel(p, "bias_act", &kbias);
    cldqn_cl_create_kernel(p, "relu_mask_db", &kmask);
    static const int sizes[][3] = {{32, 10, 50},   {32, 50, 50},    {32, 50, 6},
                                   {256, 50, 50},  {64, 128, 128},  {128, 256, 256},
                                   {32, 512, 512}, {256, 512, 512}, {256, 1024, 1024}};
    printf("device: %s\n%5s %5s %5s %10s | %12s %12s | %12s %12s\n", cl->info.name, "B", "I", "O",
           "B*I*O", "fwd kernel", "fwd CLBlast", "bwd kernel", "bwd CLBlast");
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        layer L = {.B = sizes[s][0], .I = sizes[s][1], .O = sizes[s][2]};
        L.W = buf((size_t)L.O * L.I);
        L.b = buf(L.O);
        L.x = buf((size_t)L.B * L.I);
        L.y = buf((size_t)L.B * L.O);
        L.dy = buf((size_t)L.B * L.O);
        L.dW = buf((size_t)L.O * L.I);
        L.db = buf(L.O);
        L.dx = buf((size_t)L.B * L.I);
        double work = (double)L.B * L.I * L.O;
        int n = work < 1e6 ? 30 : work < 1e7 ? 3 : 1;
        double hf = time_us(hand_fwd, &L, n), bf = time_us(blast_fwd, &L, n);
        double hb = time_us(hand_bwd, &L, n), bb = time_us(blast_bwd, &L, n);
        printf("%5d %5d %5d %10.0f | %10.1fus %10.1fus | %10.1fus %10.1fus\n", L.B, L.I, L.O, work,
               hf, bf, hb, bb);
        fflush(stdout);
        cl_mem m[] = {L.W, L.b, L.x, L.y, L.dy, L.dW, L.db, L.dx};
        for (int i = 0; i < 8; i++) clReleaseMemObject(m[i]);
    }
    clReleaseKernel(kf);
    clReleaseKernel(kb);
    clReleaseKernel(kbias);
    clReleaseKernel(kmask);
    clReleaseProgram(p);
    cldqn_cl_free(cl);
    return 0;
}
