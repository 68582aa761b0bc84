/* conv.h: convolutions as implicit GEMMs, through the driver's pluggable packers.
 *
 * One GEMM C[i, j] (+)= sum_q A[i, q] B[q, j] where
 *   A[i, q] = w[w_base + i * a_rs + a_qoff[q]]                 (the weights of one group / phase;
 *                                                               a row table may replace i * a_rs)
 *   B[q, j] = src[b_colbase[j] + b_qbase[q]] if 0 <= b_colcoord[j, a] + b_qcoord[q, a] < bound[a]
 *             for every axis a, else 0                          (patches gathered while packing)
 *   C[i, j] = dst[c_base + i * c_rs + c_coloff[j]]             (written in place, any layout)
 * conv: i = output channel, q = (input channel, tap), j = (sample, output position).
 * conv_transpose, one output phase: i = output channel, q = (input channel, tap of the phase),
 * j = (sample, position of the phase); the phase's cells of the output are C's columns. */
#ifndef TC_CONV_H
#define TC_CONV_H

#include "gemm.h"

#define TC_MAX_ND 8

typedef struct {
    tc_dtype dtype;
    const char *src;           /* B's source array (y for conv_transpose, x for conv) */
    ptrdiff_t src_len;         /* its length in elements */
    const int64_t *colbase;    /* n: per column j */
    const int64_t *colcoord;   /* n x nd */
    const int64_t *qbase;      /* k: per depth index q */
    const int64_t *qcoord;     /* k x nd */
    int64_t bound[TC_MAX_ND];
    int nd;
    tc_pack_rm pack_rm;        /* float32: the ISA's transposing pack (NULL: the portable loop) */
} tc_gather;

typedef struct {
    tc_dtype dtype;
    const char *w;             /* weights, already offset to the group */
    const int64_t *qoff;       /* k */
    ptrdiff_t rs;              /* between rows i, or, when rowoff is set, */
    const int64_t *rowoff;     /* row i at rowoff[i] (the rows of several phases in one GEMM) */
    tc_pack_rm pack_rm;        /* float32: the ISA's transposing pack (NULL: the portable loop) */
} tc_wtable;

void tc_pack_gather(const tc_packer *self, ptrdiff_t r0, ptrdiff_t rows, ptrdiff_t p0, ptrdiff_t depth,
                    int width, void *dst);
void tc_pack_wtable(const tc_packer *self, ptrdiff_t r0, ptrdiff_t rows, ptrdiff_t p0, ptrdiff_t depth,
                    int width, void *dst);

#endif
