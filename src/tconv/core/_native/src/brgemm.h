/* brgemm.h: conv and conv_transpose as batch-reduce GEMMs over a channels-last copy of the input
 * (brgemm.c): the GEMM's rows are output positions read where they lie in the copy, so nothing is
 * packed per output but the weights (oneDNN's brgemm convolutions, ONNX Runtime's NCHWc kernels). */
#ifndef TC_BRGEMM_H
#define TC_BRGEMM_H

#include "direct.h"
#include "gemm.h"

/* the most output phases of a conv_transpose (per axis min(stride, output extent), multiplied): its
 * tables take a few words per phase */
#define TC_BRGEMM_MAX_PHASES ((ptrdiff_t)1 << 20)

/* the output phases of the problem (1 for conv) */
ptrdiff_t tc_brgemm_phases(const tc_direct_problem *p, int transpose);

/* Runs conv (transpose 0: p->xs -> p->out, the y side) or conv_transpose (transpose 1: p->y -> p->out,
 * the x side) of the canonical 3-D problem on up to `threads` threads with the ISA's register tile.
 * Returns 0, or -1 when scratch memory could not be had (nothing written). */
int tc_brgemm(const tc_isa_table *isa, const tc_direct_problem *p, int transpose, int threads);

#endif
