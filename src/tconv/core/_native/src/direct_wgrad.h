/* direct_wgrad.h: the weight gradient of a direct convolution as register tiles of the weight
 * (direct_wgrad.c), tried first by direct_module.c; direct.c's row drivers run the rest. */
#ifndef TC_DIRECT_WGRAD_H
#define TC_DIRECT_WGRAD_H

#include "direct.h"

/* Runs the weight gradient on the tiles when they take it (by shape, and y finite): 1, p->out
 * written; 0 when they do not; -1 when scratch memory could not be had (nothing written). */
int tc_wgrad_rows_try(const tc_direct_loops *k, const tc_direct_problem *p, int threads);

#endif
