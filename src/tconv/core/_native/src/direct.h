/* direct.h: the direct convolutions (conv_transpose, conv, the weight gradient) and im2col/col2im,
 * on the canonical 3-D form (1-D and 2-D problems get leading axes of size 1), C-contiguous arrays:
 *
 *   y  (N, Cy, m0, m1, m2)      the y side (conv's output, conv_transpose's input)
 *   x  (N, Cx, n0, n1, n2)      the x side
 *   w  (Cy, Cx/groups, k0, k1, k2)
 *   x-side position p = j*s + t*d - lo  (j a y-side index, t a tap), per axis.
 *
 * Only the innermost loops depend on the instruction set (tc_direct_loops, compiled once per ISA
 * from direct_kernel.inc); the drivers in direct.c enumerate the terms, split the work into tiles
 * and run them on the pool. */
#ifndef TC_DIRECT_H
#define TC_DIRECT_H

#include "tc_common.h"

/* Accumulation variants: float32 sums in float32; float32 data summed in float64 (long sums);
 * float64. */
typedef enum { TC_ACC_F32 = 0, TC_ACC_F32_WIDE = 1, TC_ACC_F64 = 2 } tc_acc;

/* The ISA-specific loops.
 * axpy: acc[i] += sum_{k < nt} w[k] * src[k][i] for 0 <= i < n (nt >= 1, any count);
 *       acc is float for TC_ACC_F32 and double otherwise; src is float or double like the data.
 * weave: out[q*s + ph] = cells[ph*ld + q] for q < n, ph < s: the s phases of a row, accumulated
 *       side by side (cells as the accumulator type), interleaved into the row (the data type).
 * dot:  sum_i a[i] * b[i] in double (float or double data). */
typedef struct {
    const char *name;
    void (*axpy[3])(void *acc, ptrdiff_t n, const void *const *src, const double *w, int nt);
    void (*weave[3])(void *out, const void *cells, ptrdiff_t ld, int s, ptrdiff_t n);
    double (*dot[2])(const void *a, const void *b, ptrdiff_t n); /* indexed by tc_dtype */
    void (*fold)(double *total, float *cells, ptrdiff_t n);      /* total[i] += cells[i]; cells[i] = 0 */
    void (*gather[2])(void *dst, const void *src, ptrdiff_t s, ptrdiff_t n); /* dst[i] = src[i*s] */
    /* tile: a tile_p x tile_nq register tile of a long-stride float32 conv_transpose (NULL: none),
     * tot[i*tile_nq + q] += sum_{k < K} a[k*tile_p + i] * y[offs[k] + q0 + q] (direct_kernel.inc) */
    void (*tile)(ptrdiff_t K, const float *a, const float *y, const ptrdiff_t *offs, ptrdiff_t q0, double *tot);
    /* edge: one cell q of the tile's phases, the terms k with lim[2k] <= q < lim[2k+1] only */
    void (*edge)(ptrdiff_t K, const float *a, const float *y, const ptrdiff_t *offs, const ptrdiff_t *lim,
                 ptrdiff_t q, double *acc);
    int tile_p, tile_nq;
    /* rows: the register tile of a stride-1 interior (direct_rows.c), float or double by tc_dtype:
     * out[r*nq + q] = sum_{k < K} a[k] * src[offs[k] + r*rs + q] for r < rows_r, q < rows_nq[dtype] */
    void (*rows[2])(ptrdiff_t K, const void *a, const ptrdiff_t *offs, const void *src, ptrdiff_t rs, void *out);
    int rows_r, rows_nq[2];
    int wgrad_rows; /* 1: the weight gradient runs on the row tiles too (direct_wgrad.c) */
    /* pair: o[2i] += a[i], o[2i + 1] += b[i] for i < n (float or double, by tc_dtype): two taps of a
     * stride-2 axis landing side by side, added into an output row (col2im) */
    void (*pair[2])(void *o, const void *a, const void *b, ptrdiff_t n);
} tc_direct_loops;

extern const tc_direct_loops tc_direct_avx512, tc_direct_avx2, tc_direct_generic;

/* One call: the arrays, the geometry and the work split. */
typedef struct {
    tc_dtype dtype;
    tc_acc acc;                /* for conv and conv_transpose */
    ptrdiff_t n, cy, cx, groups;
    ptrdiff_t m[3], x[3], k[3]; /* y-side, x-side and kernel extents */
    ptrdiff_t s[3], d[3], lo[3];
    const char *y, *xs, *w;    /* inputs that the operation reads (NULL where not used) */
    char *out;                 /* the result (fully overwritten) */
    const char *lo_y, *hi_y, *lo_x, *hi_x, *lo_w, *hi_w, *lo_o, *hi_o; /* debug bounds */
} tc_direct_problem;

/* The tap tables of a conv_transpose geometry (which taps land on each output position of axes 0
 * and 1 and on each phase of axis 2): they depend on the extents and parameters only, so a prepared
 * call (direct_module.c's plans) builds them once.  tc_direct_taps_build returns 0, or -1 when
 * memory ran out; tc_direct_taps_free releases them (a zeroed struct holds nothing). */
typedef struct {
    void *mem;                  /* one block holding every table */
    ptrdiff_t *start[3];
    ptrdiff_t (*hits[3])[2];
} tc_direct_taps;

int tc_direct_taps_build(const tc_direct_problem *p, tc_direct_taps *t);
void tc_direct_taps_free(tc_direct_taps *t);

/* Each returns 0, or -1 when scratch memory could not be had.  `threads`: the most threads the
 * call may use (1: the caller alone); the weight gradient's result depends on it only. */
/* conv_transpose, with the tap tables built by tc_direct_taps_build for this problem's extents (NULL:
 * built here) */
int tc_direct_conv_transpose_taps(const tc_direct_loops *k, const tc_direct_problem *p, int threads,
                                  const tc_direct_taps *taps);
int tc_direct_conv(const tc_direct_loops *k, const tc_direct_problem *p, int threads);
int tc_direct_weight_grad(const tc_direct_loops *k, const tc_direct_problem *p, int threads);

/* im2col / col2im of the gemm algorithm, for `nb` samples from `n_first` of the x-side array
 * (problem.n is its batch size):
 *   cols (Cx, k0, k1, k2, nb, m0, m1, m2), cols[c, t, b, j] = x[n_first + b, c, j*s + t*d - lo]
 * im2col fills cols (zeros out of range) from p->xs; col2im overwrites the planes
 * [n_first, n_first + nb) of p->out with the sums of cols (p->y holds cols). */
int tc_im2col(const tc_direct_loops *k, const tc_direct_problem *p, ptrdiff_t n_first, ptrdiff_t nb, int threads);
int tc_col2im(const tc_direct_loops *k, const tc_direct_problem *p, ptrdiff_t n_first, ptrdiff_t nb,
              int threads);

/* The work split of every direct driver (direct.c, direct_rows.c): `units` in
 * tc_direct_tiles(units, threads) contiguous tiles (TC_DIRECT_TILES_PER_THREAD per thread, one on a
 * single thread); tile `task` is units [*u0, *u1), the first units % tiles tiles one unit longer. */
#define TC_DIRECT_TILES_PER_THREAD 4

static inline ptrdiff_t tc_direct_tiles(ptrdiff_t units, int threads)
{
    ptrdiff_t most = threads <= 1 ? 1 : (ptrdiff_t)threads * TC_DIRECT_TILES_PER_THREAD;
    return units < most ? units : most;
}

static inline void tc_direct_tile_range(ptrdiff_t units, ptrdiff_t tiles, int task, ptrdiff_t *u0, ptrdiff_t *u1)
{
    ptrdiff_t per = units / tiles, extra = units % tiles;
    *u0 = task * per + (task < extra ? task : extra);
    *u1 = *u0 + per + (task < extra);
}

/* Whether the n float32/float64 values at a are all finite (no NaN, no infinity). */
int tc_all_finite(const void *a, ptrdiff_t n, tc_dtype dt);

/* The loops of the instruction set named `isa` ("avx512", "avx2", "generic"). */
const tc_direct_loops *tc_direct_for(const char *isa);

#endif
