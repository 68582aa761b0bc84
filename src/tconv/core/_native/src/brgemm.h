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

/* why a problem is refused (tc_brgemm_plan_new's *rc, tc_brgemm's result); -1 is out of memory */
#define TC_BRGEMM_TOO_MANY_PHASES (-2) /* past TC_BRGEMM_MAX_PHASES */
#define TC_BRGEMM_TOO_LARGE (-3) /* one sample's copy or the packed weights past 2**61 bytes, 2**31 weight blocks */

/* The prepared call (direct_module.c's plans): the phases' tables for p's extents, parameters and
 * dtype (its array pointers unused), with the ISA's register tile; NULL with *rc one of the codes above. */
typedef struct tc_brgemm_plan tc_brgemm_plan;
tc_brgemm_plan *tc_brgemm_plan_new(const tc_isa_table *isa, const tc_direct_problem *p, int transpose, int *rc);
void tc_brgemm_plan_free(tc_brgemm_plan *plan);

/* elements of the packed weights (tc_brgemm_pack fills them from p->w, on up to `threads` threads) */
ptrdiff_t tc_brgemm_packed_elems(const tc_brgemm_plan *plan);
void tc_brgemm_pack(const tc_brgemm_plan *plan, const tc_direct_problem *p, char *wpk, int threads);

/* The plan's operation on p's arrays (p: the plan's problem, its pointers set); wpk: the weights packed
 * by tc_brgemm_pack for this plan's problem, or NULL (packed in the call).  0, or -1 out of memory. */
int tc_brgemm_run(const tc_brgemm_plan *plan, const tc_direct_problem *p, const char *wpk, int threads);

/* Runs conv (transpose 0: p->xs -> p->out, the y side) or conv_transpose (transpose 1: p->y -> p->out,
 * the x side) of the canonical 3-D problem on up to `threads` threads with the ISA's register tile.
 * Returns 0, -1 when scratch memory could not be had, or a refusal code above (nothing written). */
int tc_brgemm(const tc_isa_table *isa, const tc_direct_problem *p, int transpose, int threads);  /* plan, run, free */

#endif
