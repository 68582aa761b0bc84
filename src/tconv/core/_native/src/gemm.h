/* gemm.h: the blocked GEMM driver with pluggable packers.
 *
 * C[0:m, 0:n] = alpha * A @ B + beta * C, where A (m x k) and B (k x n) are never read directly:
 * the driver asks a packer for cache-sized panels.  A packer packs rows [r0, r0 + rows) and depth
 * [p0, p0 + depth) of an operand seen as "rows x depth" (A as m x k, B as its transpose n x k) into
 * micro-panels of `width` rows each: dst[panel * width * depth + p * width + i], zero padded to a
 * whole panel.  The plain strided-matrix packer is the first implementation; the implicit-GEMM
 * convolution packers (patches gathered while packing B) plug in here. */
#ifndef TC_GEMM_H
#define TC_GEMM_H

#include "tc_common.h"

typedef struct tc_packer tc_packer;
struct tc_packer {
    void (*pack)(const tc_packer *self, ptrdiff_t r0, ptrdiff_t rows, ptrdiff_t p0, ptrdiff_t depth,
                 int width, void *dst);
    const void *ctx;
    /* optional, B only: micro-panel `panel` (columns [panel*NR, +NR)) from depth p0 as read in
     * place (tc_taps), for an ISA with a tc_ukernel_taps; returns 0 when the panel must be packed */
    int (*taps)(const tc_packer *self, ptrdiff_t panel, ptrdiff_t p0, tc_taps *out);
};

typedef struct {
    tc_dtype dtype;
    ptrdiff_t m, n, k;
    double alpha, beta;  /* beta 0 (C not read) or 1 */
    tc_packer a;         /* m x k */
    tc_packer b;         /* n x k: B seen transposed */
    char *c;             /* C(i, j) at c + (i*rs_c + j*cs_c) elements, or, when c_coloff is set, */
    ptrdiff_t rs_c, cs_c; /* at c + (i*rs_c + c_coloff[j]) (an output phase, a batch of images) */
    const int64_t *c_coloff;
    const int64_t *c_rowoff; /* with c_coloff: row i at c + c_rowoff[i] instead of c + i*rs_c */
    const char *c_lo, *c_hi; /* debug bounds of C */
    const char *a_packed;    /* A already packed (tc_gemm_pack_a), shared by the threads; NULL: each
                                tile packs the rows it uses */
} tc_gemm_problem;

/* The packer for plain strided matrices: ctx points to a tc_strided (the operand as rows x depth). */
typedef struct {
    tc_mat mat;
    tc_dtype dtype;
    tc_pack_rm pack_rm; /* the ISA's transposing pack for float32 (NULL: the portable loop) */
} tc_strided;
void tc_pack_strided(const tc_packer *self, ptrdiff_t r0, ptrdiff_t rows, ptrdiff_t p0, ptrdiff_t depth,
                     int width, void *dst);

/* Runs the problem on up to `threads` threads (the caller included).  Returns 0, or -1 when
 * scratch memory could not be had. */
int tc_gemm(const tc_isa_table *isa, const tc_gemm_problem *pb, int threads);

/* the most rows of one GEMM the bindings accept (conv_gemm, conv_plan): with a zero row step any count
 * passes the range checks, and the packed A (rows rounded to panels, times the depth) and the pool's task
 * counts are sized from it */
#define TC_GEMM_ROWS_MAX ((int64_t)1 << 31)

/* A packed whole for the ISA's register tile and depth blocks: round_up(m, MR) * k elements, the
 * depth blocks (tc_gemm_depth_block) one after the other, each as its MR-row micro-panels.  tc_gemm_pack_a fills
 * dst (of tc_gemm_a_len elements) with pb's A on up to `threads` threads; then pb->a_packed = dst. */
ptrdiff_t tc_gemm_a_len(const tc_isa_table *isa, tc_dtype dt, ptrdiff_t m, ptrdiff_t k);
void tc_gemm_pack_a(const tc_isa_table *isa, const tc_gemm_problem *pb, char *dst, int threads);

size_t tc_dtype_size(tc_dtype dt);

/* The depth block (loop 4's step) of a GEMM of depth k: at most KC, blocks of equal size. */
ptrdiff_t tc_gemm_depth_block(const tc_gemm_kernel *kr, ptrdiff_t k);

/* The most row tiles (ceil(m / MR)) for which an implicit GEMM reads B in place (0: never, the ISA
 * has no tc_ukernel_taps). */
int tc_gemm_taps_tiles(const tc_gemm_kernel *kr);

#endif
