/* tc_common.h: types, the debug bounds check and the per-ISA kernel table shared by every source. */
#ifndef TC_COMMON_H
#define TC_COMMON_H

#include <stddef.h>
#include <stdint.h>

/* TC_CHECK(cond): active only in a debug build (-DTC_DEBUG); aborts with the failed condition. */
#ifdef TC_DEBUG
void tc_check_failed(const char *cond, const char *file, int line);
#define TC_CHECK(cond) ((cond) ? (void)0 : tc_check_failed(#cond, __FILE__, __LINE__))
#else
#define TC_CHECK(cond) ((void)0)
#endif

#define TC_ALIGN 64

/* The instruction sets, as numbers so that #if can compare them (TC_ISA is set by the wrapper file). */
#define TC_ISA_GENERIC 0
#define TC_ISA_AVX2 1
#define TC_ISA_AVX512 2

typedef enum { TC_F32 = 0, TC_F64 = 1 } tc_dtype;

/* One strided matrix: element (i, j) is at base[i*rs + j*cs] (strides in elements, may be negative).
 * lo/hi bound the bytes the exporter says are ours (checked by TC_CHECK in debug builds). */
typedef struct {
    char *base;
    ptrdiff_t rs, cs;
    ptrdiff_t rows, cols;
    const char *lo, *hi;
} tc_mat;

/* A micro-kernel: C[0:m, 0:n] = alpha * Ap @ Bp + beta * C over k, where Ap is an MR x k panel
 * (column by column, MR values per k) and Bp a k x NR panel (NR values per k), both zero padded.
 * m <= MR, n <= NR; beta is 0 (C not read) or 1. */
typedef void (*tc_ukernel)(ptrdiff_t k, const void *ap, const void *bp, void *c, ptrdiff_t rs_c,
                           ptrdiff_t cs_c, ptrdiff_t m, ptrdiff_t n, double alpha, double beta);

/* B's micro-panel read in place (an implicit GEMM's rows where they lie in the image): depth step
 * q = c * ntaps + t, from c = 0 and t = t0, is the NR values at src + c*cstride + base[t*tstride]
 * (elements), lane i read only when bit i of mask[t*tstride] is set (zero otherwise). */
typedef struct {
    const void *src;
    ptrdiff_t cstride, tstride;
    const int32_t *base;
    const uint32_t *mask;
    int ntaps, t0;
} tc_taps;

/* The micro-kernel on such a B (otherwise as tc_ukernel). */
typedef void (*tc_ukernel_taps)(ptrdiff_t k, const void *ap, const tc_taps *b, void *c, ptrdiff_t rs_c,
                                ptrdiff_t cs_c, ptrdiff_t m, ptrdiff_t n, double alpha, double beta);

/* A read where it lies (brgemm.c: a convolution over a channels-last copy of its input): row i's
 * depth step q = t * depth + c is src[roff[i] + toff[t] + c] (elements; i * rs when roff is NULL),
 * for taps t < ntaps and channels c < depth; every row of the tile is read (the caller repeats a
 * valid row past the last).  C's row i is at c + coff[i] (elements), or c + i * rs_c when coff is NULL. */
typedef struct {
    const void *src;
    const ptrdiff_t *roff, *coff;
    ptrdiff_t rs, depth;
    const ptrdiff_t *toff;
    int ntaps;
} tc_rows_a;

/* The micro-kernel on such an A and a packed B (ntaps * depth steps; otherwise as tc_ukernel). */
typedef void (*tc_ukernel_rows)(const tc_rows_a *a, const void *bp, void *c, ptrdiff_t rs_c, ptrdiff_t cs_c,
                                ptrdiff_t m, ptrdiff_t n, double alpha, double beta);

/* FMA-chain probe: runs `iters` rounds of independent FMA chains, returns the flops done. */
typedef double (*tc_fma_chain)(int64_t iters);

/* Packs `width` (<= 16) rows of a row-major matrix (row stride rs elements, depth contiguous) into
 * dst[p * ld + i]: the transposing pack, vectorised where an ISA provides one (float32). */
typedef void (*tc_pack_rm)(const void *src, ptrdiff_t rs, ptrdiff_t depth, int width, void *dst, ptrdiff_t ld);

/* The indirect B packer's tables (convplan.c): B[q, j] = src[c * cstride + ind[t][j]] for depth
 * index q = c * ntaps + t; ind < 0 reads zero.  Each panel of `width` columns has a kind per tap: */
enum { TC_IND_DENSE = 0, /* every lane valid, lane i at base + i: one plain copy */
       TC_IND_MASKED = 1, /* the valid lanes (ind >= 0) at base + i: a masked copy */
       TC_IND_GATHER = 2, /* anything else: a (masked) gather through ind */
       TC_IND_ZERO = 3 };  /* no valid lane */
typedef struct {
    const int32_t *gather; /* the offsets of the gather panels, width each (lanes past the last column -1) */
    /* per (tap, panel), at panel * ntaps + tap (a panel's taps side by side, read together by the packer): */
    const int32_t *base; /* a run's first offset, or a gather panel's index in `gather` */
    const uint8_t *kind;
    const uint32_t *mask; /* bit i set when lane i is valid (width <= 32) */
    ptrdiff_t npad, npanels;
    int ntaps, width;
} tc_indirect;

/* Packs `count` panels (column panels panel .. panel + count - 1, depth [p0, p0 + depth)) of an
 * indirect B, panel j into dst[(j * depth + p) * width + i]. */
typedef void (*tc_pack_ind)(const tc_indirect *t, const void *src, ptrdiff_t cstride, ptrdiff_t panel,
                            ptrdiff_t count, ptrdiff_t p0, ptrdiff_t depth, void *dst);
typedef struct {
    int mr, nr;          /* register tile */
    int mc, kc, nc;      /* cache blocks (see gemm_kernel.inc) */
    tc_ukernel kernel;
    tc_fma_chain fma_chain;
    tc_pack_rm pack_rm;  /* NULL: the portable loop */
    tc_pack_ind pack_ind; /* the indirect B packer, width nr */
    int short_mr[2];     /* the short tiles' rows, descending (0: none), on the same MR-high A panels */
    tc_ukernel short_kernel[2];
    tc_ukernel_taps taps_kernel;        /* NULL: B is always packed (masked loads cost too much) */
    tc_ukernel_taps short_taps[2];
    tc_ukernel_rows rows_kernel;        /* the MR x NR tile on A read in place (tc_rows_a) */
    tc_ukernel_rows rows_short;         /* the same, short_mr[0] x NR: the last cells of a long row */
} tc_gemm_kernel;

/* The tile for m <= MR rows: the shortest that covers them (0: the full tile, 1 or 2: short_mr[0/1]). */
static inline int tc_tile_for(const tc_gemm_kernel *kr, ptrdiff_t m)
{
    return kr->short_mr[1] && m <= kr->short_mr[1] ? 2 : m <= kr->short_mr[0] ? 1 : 0;
}

static inline tc_ukernel tc_kernel_for(const tc_gemm_kernel *kr, ptrdiff_t m)
{
    int t = tc_tile_for(kr, m);
    return t ? kr->short_kernel[t - 1] : kr->kernel;
}

static inline tc_ukernel_taps tc_taps_kernel_for(const tc_gemm_kernel *kr, ptrdiff_t m)
{
    int t = tc_tile_for(kr, m);
    return t ? kr->short_taps[t - 1] : kr->taps_kernel;
}

/* The function table of one instruction set. */
typedef struct {
    const char *name;
    tc_gemm_kernel gemm[2]; /* indexed by tc_dtype */
} tc_isa_table;

extern tc_isa_table tc_isa_avx512;
extern tc_isa_table tc_isa_avx2;
extern tc_isa_table tc_isa_generic;

#endif
