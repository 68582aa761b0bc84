/* direct_rows.h: the interior of a stride-1 direct conv (transpose 0) or conv_transpose
 * (transpose 1) as register tiles (direct_rows.c), tried first by direct_module.c; direct.c runs the rest. */
#ifndef TC_DIRECT_ROWS_H
#define TC_DIRECT_ROWS_H

#include "direct.h"

/* Runs the problem on the row tiles when they take it (stride 1, the ISA has them, an output plane
 * at least one tile wide and high, a patch within its cap): 1, p->out written; 0 when they do not
 * take it (nothing to compute among them); -1 when scratch memory could not be had (nothing written: the
 * row drivers can run it). */
int tc_rows_try(const tc_direct_loops *k, const tc_direct_problem *p, int transpose, int threads);

#endif
