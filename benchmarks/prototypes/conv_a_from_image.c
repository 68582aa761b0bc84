/* A measurement of a design alternative for #18 (not part of the package): a stride-1 conv (F2: 3x3,
 * dilation 2, padding 2, 64 -> 64 channels, 64x64) as a GEMM whose rows are output pixels and whose A
 * operand is broadcast straight from a zero-padded copy of the image (one offset per depth step, no
 * packing of the patches), B the weights packed once (576 x 64), C^T (pixels x channels) in a buffer,
 * transposed into NCHW at the end.  Rows run flat over the padded width (4 junk columns of 68).
 *
 *   gcc -O3 -march=native -o /tmp/a_from_image benchmarks/prototypes/conv_a_from_image.c && /tmp/a_from_image
 *
 * 2026-12-02, 2-core Xeon (AVX-512), one thread, per image: pad 0.10, pack 0.06, GEMM 1.86, transpose
 * (naive) 0.30-0.35 ms: 2.36 ms in all against 2.15 for tconv's native (packed B) on the same image and
 * 1.87 (7.5 ms for 4) for PyTorch's oneDNN direct kernel.  The GEMM alone runs at 163 GFLOP/s useful
 * (173 with the junk columns), about native's micro-kernel rate; the gain would be the packing (1.35 of
 * 8.7 ms on 4 images) less a pad and a blocked transpose: about 8%, not enough alone for the 0.9 line. */
#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#define C 64
#define H 64
#define W 64
#define P 2
#define D 2
#define HP (H + 2 * P)
#define WP (W + 2 * P)
#define OC 64
#define K (C * 9)
#define MR 14
#define NR 32
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + 1e-9 * t.tv_nsec; }

static void kern(int kc, const float *img, const int *aoff, const float *bp, float *c, int ldc, int beta)
{
    __m512 acc[MR][2];
    for (int i = 0; i < MR; ++i) acc[i][0] = acc[i][1] = _mm512_setzero_ps();
    for (int p = 0; p < kc; ++p) {
        const float *a = img + aoff[p];
        __m512 b0 = _mm512_load_ps(bp), b1 = _mm512_load_ps(bp + 16);
        bp += NR;
#pragma GCC unroll 14
        for (int i = 0; i < MR; ++i) {
            __m512 av = _mm512_set1_ps(a[i]);
            acc[i][0] = _mm512_fmadd_ps(av, b0, acc[i][0]);
            acc[i][1] = _mm512_fmadd_ps(av, b1, acc[i][1]);
        }
    }
    for (int i = 0; i < MR; ++i) {
        float *ci = c + i * ldc;
        if (beta) { acc[i][0] = _mm512_add_ps(acc[i][0], _mm512_loadu_ps(ci)); acc[i][1] = _mm512_add_ps(acc[i][1], _mm512_loadu_ps(ci + 16)); }
        _mm512_storeu_ps(ci, acc[i][0]); _mm512_storeu_ps(ci + 16, acc[i][1]);
    }
}

int main(void)
{
    int M = H * WP; /* flat pixel rows over the padded width (4 junk columns per row) */
    int Mt = (M + MR - 1) / MR * MR;
    float *x = aligned_alloc(64, sizeof(float) * C * H * W);
    float *xp = aligned_alloc(64, sizeof(float) * (C * HP * WP + 64));
    float *w = aligned_alloc(64, sizeof(float) * OC * K);
    float *bp = aligned_alloc(64, sizeof(float) * K * OC);
    float *ct = aligned_alloc(64, sizeof(float) * Mt * OC);
    float *y = aligned_alloc(64, sizeof(float) * OC * H * W);
    int *aoff = malloc(sizeof(int) * K);
    for (int i = 0; i < C * H * W; ++i) x[i] = (float)rand() / RAND_MAX - 0.5f;
    for (int i = 0; i < OC * K; ++i) w[i] = (float)rand() / RAND_MAX - 0.5f;
    for (int c = 0, k = 0; c < C; ++c) for (int kh = 0; kh < 3; ++kh) for (int kw = 0; kw < 3; ++kw, ++k)
        aoff[k] = c * HP * WP + kh * D * WP + kw * D;
    int reps = 200;
    double t_pad = 0, t_pack = 0, t_gemm = 0, t_tr = 0;
    for (int r = 0; r < reps; ++r) {
        double t0 = now();
        memset(xp, 0, sizeof(float) * (C * HP * WP + 64));
        for (int c = 0; c < C; ++c) for (int h = 0; h < H; ++h)
            memcpy(xp + c * HP * WP + (h + P) * WP + P, x + (c * H + h) * W, sizeof(float) * W);
        double t1 = now();
        for (int j = 0; j < OC / NR; ++j) for (int k = 0; k < K; ++k) for (int v = 0; v < NR; ++v)
            bp[(j * K + k) * NR + v] = w[(j * NR + v) * K + k];
        double t2 = now();
        int kb = 192;
        for (int j = 0; j < OC / NR; ++j)
            for (int pc = 0; pc < K; pc += kb)
                for (int i = 0; i < M; i += MR)
                    kern(kb, xp + i, aoff + pc, bp + (j * K + pc) * NR, ct + i * OC + j * NR, OC, pc > 0);
        double t3 = now();
        for (int oc = 0; oc < OC; ++oc) for (int h = 0; h < H; ++h) for (int q = 0; q < W; ++q)
            y[(oc * H + h) * W + q] = ct[(h * WP + q) * OC + oc];
        double t4 = now();
        t_pad += t1 - t0; t_pack += t2 - t1; t_gemm += t3 - t2; t_tr += t4 - t3;
    }
    double useful = 2.0 * OC * K * H * W;
    double tot = t_pad + t_pack + t_gemm + t_tr;
    printf("per image: pad %.3f pack %.3f gemm %.3f transpose %.3f ms; total %.3f ms = %.0f GFLOP/s useful (gemm alone %.0f)\n",
           t_pad / reps * 1e3, t_pack / reps * 1e3, t_gemm / reps * 1e3, t_tr / reps * 1e3, tot / reps * 1e3,
           useful * reps / tot / 1e9, useful * reps / t_gemm / 1e9);
    /* check one output against a direct sum */
    double maxerr = 0;
    for (int t = 0; t < 50; ++t) {
        int oc = rand() % OC, h = rand() % H, q = rand() % W; double s = 0;
        for (int c = 0; c < C; ++c) for (int kh = 0; kh < 3; ++kh) for (int kw = 0; kw < 3; ++kw) {
            int ih = h + kh * D - P, iw = q + kw * D - P;
            if (ih >= 0 && ih < H && iw >= 0 && iw < W) s += (double)x[(c * H + ih) * W + iw] * w[(oc * C + c) * 9 + kh * 3 + kw];
        }
        double e = s - y[(oc * H + h) * W + q]; if (e < 0) e = -e; if (e > maxerr) maxerr = e;
    }
    printf("max abs err %.2e\n", maxerr);
    return 0;
}
