/* conv.c: the implicit-GEMM packers (see conv.h).  The B packer gathers the patches of a
 * convolution straight into the packed panel: no im2col buffer, no zero-inserted copy; taps that
 * fall outside the source (padding, crop, the edges of a phase) read as zero.  The A packer reads
 * the weights of one group (and, for conv_transpose, the taps of one phase) through a table. */
#include "conv.h"

/* Is column j's patch element q inside the source?  (Every axis in range, and the index itself,
 * as a last guard against a wrong table: never read outside the buffer.) */
static int gather_valid(const tc_gather *g, ptrdiff_t j, ptrdiff_t q, int64_t idx)
{
    const int64_t *cc = g->colcoord + j * g->nd, *qc = g->qcoord + q * g->nd;
    for (int a = 0; a < g->nd; ++a) {
        int64_t v = cc[a] + qc[a];
        if (v < 0 || v >= g->bound[a])
            return 0;
    }
    TC_CHECK(idx >= 0 && idx < g->src_len);
    return idx >= 0 && idx < g->src_len;
}

/* Are the panel's columns [r0, r0 + rows) one run along the last axis: the same leading
 * coordinates, the last one and the base offset stepping by the same *step?  (The common case:
 * consecutive positions of one row of one image.)  Then each depth step is one strided copy. */
static int gather_run(const tc_gather *g, ptrdiff_t r0, ptrdiff_t rows, int64_t *step)
{
    const int nd = g->nd, last = nd - 1;
    const int64_t *c0 = g->colcoord + r0 * nd;
    *step = rows > 1 ? g->colcoord[(r0 + 1) * nd + last] - c0[last] : 1;
    if (*step < 1)
        return 0;
    for (ptrdiff_t i = 1; i < rows; ++i) {
        const int64_t *ci = c0 + i * nd;
        if (ci[last] != c0[last] + i * *step || g->colbase[r0 + i] != g->colbase[r0] + i * *step)
            return 0;
        for (int a = 0; a < last; ++a)
            if (ci[a] != c0[a])
                return 0;
    }
    return 1;
}

static int64_t ceil_div64(int64_t a, int64_t b) { return a >= 0 ? (a + b - 1) / b : -((-a) / b); }

#define PACK_GATHER(T)                                                                           \
    static void pack_run_##T(const tc_gather *g, ptrdiff_t r0, ptrdiff_t rows, ptrdiff_t p0,     \
                             ptrdiff_t depth, int width, int64_t step, T *dst)                  \
    {                                                                                            \
        const T *src = (const T *)g->src;                                                        \
        const int nd = g->nd, last = nd - 1;                                                     \
        const int64_t *c0 = g->colcoord + r0 * nd;                                               \
        for (ptrdiff_t p = 0; p < depth; ++p) {                                                  \
            const int64_t *qc = g->qcoord + (p0 + p) * nd;                                       \
            T *d = dst + p * width;                                                              \
            int inside = 1;                                                                      \
            for (int a = 0; a < last; ++a)                                                       \
                inside &= c0[a] + qc[a] >= 0 && c0[a] + qc[a] < g->bound[a];                     \
            int64_t v = c0[last] + qc[last], lo = 0, hi = 0;                                     \
            if (inside) { /* columns i with 0 <= v + i*step < bound, and inside the buffer */    \
                int64_t base = g->colbase[r0] + g->qbase[p0 + p];                                \
                lo = ceil_div64(-v, step);                                                       \
                hi = ceil_div64(g->bound[last] - v, step);                                       \
                int64_t blo = ceil_div64(-base, step), bhi = ceil_div64(g->src_len - base, step); \
                lo = lo < blo ? blo : lo;                                                        \
                hi = hi > bhi ? bhi : hi;                                                        \
                lo = lo < 0 ? 0 : lo > rows ? rows : lo;                                         \
                hi = hi < lo ? lo : hi > rows ? rows : hi;                                       \
                const T *s = src + base;                                                         \
                for (int64_t i = lo; i < hi; ++i)                                                \
                    d[i] = s[i * step];                                                          \
            }                                                                                    \
            for (int64_t i = 0; i < lo; ++i)                                                     \
                d[i] = 0;                                                                        \
            for (int64_t i = hi; i < width; ++i)                                                 \
                d[i] = 0;                                                                        \
        }                                                                                        \
    }                                                                                            \
                                                                                                 \
    static void pack_gather_##T(const tc_gather *g, ptrdiff_t r0, ptrdiff_t rows, ptrdiff_t p0,  \
                                ptrdiff_t depth, int width, T *dst)                             \
    {                                                                                            \
        int64_t step;                                                                            \
        if (gather_run(g, r0, rows, &step)) {                                                    \
            pack_run_##T(g, r0, rows, p0, depth, width, step, dst);                              \
            return;                                                                              \
        }                                                                                        \
        const T *src = (const T *)g->src;                                                        \
        for (ptrdiff_t p = 0; p < depth; ++p) {                                                  \
            int64_t qb = g->qbase[p0 + p];                                                       \
            T *d = dst + p * width;                                                              \
            for (ptrdiff_t i = 0; i < rows; ++i) {                                               \
                int64_t idx = g->colbase[r0 + i] + qb;                                           \
                d[i] = gather_valid(g, r0 + i, p0 + p, idx) ? src[idx] : (T)0;                   \
            }                                                                                    \
            for (ptrdiff_t i = rows; i < width; ++i)                                             \
                d[i] = 0;                                                                        \
        }                                                                                        \
    }

PACK_GATHER(float)
PACK_GATHER(double)

void tc_pack_gather(const tc_packer *self, ptrdiff_t r0, ptrdiff_t rows, ptrdiff_t p0, ptrdiff_t depth,
                    int width, void *dst)
{
    const tc_gather *g = (const tc_gather *)self->ctx;
    for (ptrdiff_t r = 0; r < rows; r += width) {
        ptrdiff_t h = rows - r < width ? rows - r : width;
        if (g->dtype == TC_F32)
            pack_gather_float(g, r0 + r, h, p0, depth, width, (float *)dst + r * depth);
        else
            pack_gather_double(g, r0 + r, h, p0, depth, width, (double *)dst + r * depth);
    }
}

#define PACK_WTABLE(T)                                                                           \
    static void pack_wtable_##T(const tc_wtable *t, ptrdiff_t r0, ptrdiff_t rows, ptrdiff_t p0,  \
                                ptrdiff_t depth, int width, T *dst)                             \
    {                                                                                            \
        const T *w = (const T *)t->w;                                                            \
        for (ptrdiff_t p = 0; p < depth; ++p) {                                                  \
            const T *wq = w + t->qoff[p0 + p] + r0 * t->rs;                                      \
            T *d = dst + p * width;                                                              \
            for (ptrdiff_t i = 0; i < rows; ++i)                                                 \
                d[i] = wq[i * t->rs];                                                            \
            for (ptrdiff_t i = rows; i < width; ++i)                                             \
                d[i] = 0;                                                                        \
        }                                                                                        \
    }

PACK_WTABLE(float)
PACK_WTABLE(double)

void tc_pack_wtable(const tc_packer *self, ptrdiff_t r0, ptrdiff_t rows, ptrdiff_t p0, ptrdiff_t depth,
                    int width, void *dst)
{
    const tc_wtable *t = (const tc_wtable *)self->ctx;
    for (ptrdiff_t r = 0; r < rows; r += width) {
        ptrdiff_t h = rows - r < width ? rows - r : width;
        if (t->dtype == TC_F32)
            pack_wtable_float(t, r0 + r, h, p0, depth, width, (float *)dst + r * depth);
        else
            pack_wtable_double(t, r0 + r, h, p0, depth, width, (double *)dst + r * depth);
    }
}
