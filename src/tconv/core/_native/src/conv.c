/* conv.c: the implicit-GEMM packers (see conv.h).  The B packer gathers the patches of a
 * convolution straight into the packed panel: no im2col buffer, no zero-inserted copy; taps that
 * fall outside the source (padding, crop, the edges of a phase) read as zero.  The A packer reads
 * the weights of one group (and, for conv_transpose, the taps of one phase) through a table. */
#include "conv.h"

#include <string.h>

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

/* The run starting at column r (at most `rows` long): consecutive columns with the same leading
 * coordinates whose last coordinate and base offset step together by *step (consecutive
 * positions of one row of one image, or every s-th for a strided conv).  Returns its length. */
static ptrdiff_t gather_run(const tc_gather *g, ptrdiff_t r, ptrdiff_t rows, int64_t *step)
{
    const int nd = g->nd, last = nd - 1;
    const int64_t *c0 = g->colcoord + r * nd;
    *step = rows > 1 ? g->colcoord[(r + 1) * nd + last] - c0[last] : 1;
    if (*step < 1 || (rows > 1 && g->colbase[r + 1] - g->colbase[r] != *step))
        return 1;
    ptrdiff_t i = 1;
    for (; i < rows; ++i) {
        const int64_t *ci = c0 + i * nd;
        if (ci[last] != c0[last] + i * *step || g->colbase[r + i] != g->colbase[r] + i * *step)
            break;
        int same = 1;
        for (int a = 0; a < last; ++a)
            same &= ci[a] == c0[a];
        if (!same)
            break;
    }
    return i;
}

static int64_t ceil_div64(int64_t a, int64_t b) { return a >= 0 ? (a + b - 1) / b : -((-a) / b); }

/* The columns i of a run with 0 <= v + i*step < bound on the last axis and inside the source
 * buffer; [lo, hi), empty when a leading axis is out of range. */
static void run_range(const tc_gather *g, const int64_t *c0, const int64_t *qc, int64_t base, int64_t step,
                      ptrdiff_t len, int64_t *lo, int64_t *hi)
{
    const int last = g->nd - 1;
    *lo = *hi = 0;
    for (int a = 0; a < last; ++a)
        if (c0[a] + qc[a] < 0 || c0[a] + qc[a] >= g->bound[a])
            return;
    int64_t v = c0[last] + qc[last], l, h, bl, bh;
    if (step == 1) { /* consecutive positions: no division */
        l = -v, h = g->bound[last] - v, bl = -base, bh = g->src_len - base;
    } else {
        l = ceil_div64(-v, step), h = ceil_div64(g->bound[last] - v, step);
        bl = ceil_div64(-base, step), bh = ceil_div64(g->src_len - base, step);
    }
    l = l < bl ? bl : l;
    h = h > bh ? bh : h;
    *lo = l < 0 ? 0 : l > len ? len : l;
    *hi = h < *lo ? *lo : h > len ? len : h;
}

/* The depth steps from p (at most maxlen) that read consecutive source cells along the last axis
 * of one row, alike for every column: the positions of one output row in a stride-1 weight
 * gradient, whose B rows are (channel, tap) and depth (sample, position). */
static ptrdiff_t depth_run(const tc_gather *g, ptrdiff_t p, ptrdiff_t maxlen)
{
    const int nd = g->nd, last = nd - 1;
    const int64_t *q0 = g->qcoord + p * nd;
    ptrdiff_t len = 1;
    for (; len < maxlen; ++len) {
        const int64_t *q = q0 + len * nd;
        int same = g->qbase[p + len] == g->qbase[p] + len && q[last] == q0[last] + len;
        for (int a = 0; a < last; ++a)
            same &= q[a] == q0[a];
        if (!same)
            break;
    }
    return len;
}

/* Column r's cells [lo, hi) of a depth run of len from depth step p (the rest lies outside the
 * source: zero). */
static void depth_range(const tc_gather *g, ptrdiff_t r, ptrdiff_t p, ptrdiff_t len, ptrdiff_t *lo, ptrdiff_t *hi)
{
    const int last = g->nd - 1;
    const int64_t *c = g->colcoord + r * g->nd, *q = g->qcoord + p * g->nd;
    int64_t base = g->colbase[r] + g->qbase[p], v = c[last] + q[last];
    *lo = *hi = 0;
    for (int a = 0; a < last; ++a)
        if (c[a] + q[a] < 0 || c[a] + q[a] >= g->bound[a])
            return;
    int64_t l = -v > -base ? -v : -base, h = g->bound[last] - v < g->src_len - base ? g->bound[last] - v
                                                                                      : g->src_len - base;
    *lo = l < 0 ? 0 : l > len ? len : (ptrdiff_t)l;
    *hi = h < *lo ? *lo : h > len ? len : (ptrdiff_t)h;
}

#define DEPTH_CHUNK 128 /* depth steps per transpose (the staging rows: 32 x 128 elements) */
#define STAGE_ROWS 32

/* The length of the run of consecutive offsets from v[0] (at most n). */
static ptrdiff_t consecutive(const int64_t *v, ptrdiff_t n)
{
    ptrdiff_t len = 1;
    while (len < n && v[len] == v[0] + len)
        ++len;
    return len;
}

#define PACK_DEPTH_RUNS(T)                                                                       \
    /* B's rows read along their depth runs (depth_run): each row's run copied into a staging   \
     * row (zeros where it leaves the source), the rows then transposed into the panel (the      \
     * ISA's transposing pack for float32): no per-element check, no per-element gather. */      \
    static void pack_depth_runs_##T(const tc_gather *g, ptrdiff_t r0, ptrdiff_t rows, ptrdiff_t p0, \
                                    ptrdiff_t depth, int width, T *dst, tc_pack_rm fast)         \
    {                                                                                            \
        T stage[STAGE_ROWS * DEPTH_CHUNK];                                                       \
        const T *src = (const T *)g->src;                                                        \
        for (ptrdiff_t p = 0; p < depth;) {                                                      \
            ptrdiff_t len = depth_run(g, p0 + p, depth - p < DEPTH_CHUNK ? depth - p : DEPTH_CHUNK); \
            for (ptrdiff_t i = 0; i < rows; ++i) {                                               \
                ptrdiff_t lo, hi;                                                                \
                T *t = stage + i * len;                                                          \
                depth_range(g, r0 + i, p0 + p, len, &lo, &hi);                                   \
                const T *s = src + g->colbase[r0 + i] + g->qbase[p0 + p];                        \
                TC_CHECK(hi <= lo || (s + lo >= src && s + hi <= src + g->src_len));             \
                memset(t, 0, sizeof(T) * (size_t)lo);                                            \
                if (hi > lo)                                                                     \
                    memcpy(t + lo, s + lo, sizeof(T) * (size_t)(hi - lo));                       \
                memset(t + hi, 0, sizeof(T) * (size_t)(len - hi));                               \
            }                                                                                    \
            T *d = dst + p * width;                                                              \
            if (fast)                                                                            \
                for (ptrdiff_t h = 0; h < rows; h += 16)                                         \
                    fast(stage + h * len, len, len, (int)(rows - h < 16 ? rows - h : 16), d + h, width); \
            else                                                                                 \
                for (ptrdiff_t k = 0; k < len; ++k)                                              \
                    for (ptrdiff_t i = 0; i < rows; ++i)                                         \
                        d[k * width + i] = stage[i * len + k];                                   \
            p += len;                                                                            \
        }                                                                                        \
    }

#define PACK_GATHER(T)                                                                           \
    /* one run of `len` columns from r, into d[p * width + i] for i < len */                    \
    static void pack_run_##T(const tc_gather *g, ptrdiff_t r, ptrdiff_t len, int64_t step,       \
                             ptrdiff_t p0, ptrdiff_t depth, int width, T *d)                    \
    {                                                                                            \
        const T *src = (const T *)g->src;                                                        \
        const int64_t *c0 = g->colcoord + r * g->nd;                                             \
        for (ptrdiff_t p = 0; p < depth; ++p, d += width) {                                      \
            int64_t base = g->colbase[r] + g->qbase[p0 + p], lo, hi;                             \
            run_range(g, c0, g->qcoord + (p0 + p) * g->nd, base, step, len, &lo, &hi);           \
            for (int64_t i = 0; i < lo; ++i)                                                     \
                d[i] = 0;                                                                        \
            const T *s = src + base;                                                             \
            if (step == 1)                                                                       \
                for (int64_t i = lo; i < hi; ++i)                                                \
                    d[i] = s[i];                                                                 \
            else                                                                                 \
                for (int64_t i = lo; i < hi; ++i)                                                \
                    d[i] = s[i * step];                                                          \
            for (int64_t i = hi; i < len; ++i)                                                   \
                d[i] = 0;                                                                        \
        }                                                                                        \
    }                                                                                            \
                                                                                                 \
    /* one column, every check per element */                                                    \
    static void pack_one_##T(const tc_gather *g, ptrdiff_t r, ptrdiff_t p0, ptrdiff_t depth,     \
                             int width, T *d)                                                   \
    {                                                                                            \
        const T *src = (const T *)g->src;                                                        \
        for (ptrdiff_t p = 0; p < depth; ++p, d += width) {                                      \
            int64_t idx = g->colbase[r] + g->qbase[p0 + p];                                      \
            *d = gather_valid(g, r, p0 + p, idx) ? src[idx] : (T)0;                              \
        }                                                                                        \
    }                                                                                            \
                                                                                                 \
    static void pack_gather_##T(const tc_gather *g, ptrdiff_t r0, ptrdiff_t rows, ptrdiff_t p0,  \
                                ptrdiff_t depth, int width, T *dst, tc_pack_rm fast)            \
    {                                                                                            \
        if (rows <= STAGE_ROWS && depth_run(g, p0, depth < 8 ? depth : 8) == 8) {                \
            pack_depth_runs_##T(g, r0, rows, p0, depth, width, dst, fast); /* long depth runs */ \
        } else                                                                                   \
        for (ptrdiff_t i = 0; i < rows;) { /* the panel as runs along the last axis */           \
            int64_t step;                                                                        \
            ptrdiff_t len = gather_run(g, r0 + i, rows - i, &step);                              \
            if (len >= 4)                                                                        \
                pack_run_##T(g, r0 + i, len, step, p0, depth, width, dst + i);                   \
            else                                                                                 \
                for (ptrdiff_t j = 0; j < len; ++j)                                              \
                    pack_one_##T(g, r0 + i + j, p0, depth, width, dst + i + j);                  \
            i += len;                                                                            \
        }                                                                                        \
        for (ptrdiff_t p = 0; p < depth; ++p)                                                    \
            for (ptrdiff_t i = rows; i < width; ++i)                                             \
                dst[p * width + i] = 0;                                                          \
    }

PACK_DEPTH_RUNS(float)
PACK_DEPTH_RUNS(double)
PACK_GATHER(float)
PACK_GATHER(double)

void tc_pack_gather(const tc_packer *self, ptrdiff_t r0, ptrdiff_t rows, ptrdiff_t p0, ptrdiff_t depth,
                    int width, void *dst)
{
    const tc_gather *g = (const tc_gather *)self->ctx;
    for (ptrdiff_t r = 0; r < rows; r += width) {
        ptrdiff_t h = rows - r < width ? rows - r : width;
        if (g->dtype == TC_F32)
            pack_gather_float(g, r0 + r, h, p0, depth, width, (float *)dst + r * depth, g->pack_rm);
        else
            pack_gather_double(g, r0 + r, h, p0, depth, width, (double *)dst + r * depth, NULL);
    }
}

#define WTABLE_AHEAD 16

/* n elements st apart (st 1: consecutive), the copy unrolled for the register tiles' heights */
#define COPY_STRIDED(T)                                                                          \
    static inline void copy_strided_##T(T *restrict d, const T *restrict s, ptrdiff_t st, ptrdiff_t n) \
    {                                                                                            \
        switch (n) {                                                                             \
        case 4: for (int i = 0; i < 4; ++i) d[i] = s[i * st]; return;                           \
        case 6: for (int i = 0; i < 6; ++i) d[i] = s[i * st]; return;                           \
        case 8: for (int i = 0; i < 8; ++i) d[i] = s[i * st]; return;                           \
        case 12: for (int i = 0; i < 12; ++i) d[i] = s[i * st]; return;                         \
        case 14: for (int i = 0; i < 14; ++i) d[i] = s[i * st]; return;                         \
        case 16: for (int i = 0; i < 16; ++i) d[i] = s[i * st]; return;                         \
        default: for (ptrdiff_t i = 0; i < n; ++i) d[i] = s[i * st];                             \
        }                                                                                        \
    }

COPY_STRIDED(float)
COPY_STRIDED(double)

/* Four ways to pack A through its table (the table's fields read into locals first: the build has
 * no strict aliasing, so every store into the panel would otherwise reload them):
 *   the panel's rows consecutive in every depth step (a depth-major weight matrix, or a row table of
 *     consecutive offsets: the phases of one output channel when every phase reads the same cells):
 *     one short copy per step;
 *   rows a stride apart over consecutive depth runs (a weight gradient's A): the ISA's transpose;
 *   rows a stride apart otherwise: a strided copy per step, each row's line fetched WTABLE_AHEAD
 *     steps ahead, once per line (the taps of one channel share their rows' lines);
 *   any other row table: element by element. */
#define PACK_WTABLE(T)                                                                           \
    static void pack_wtable_##T(const tc_wtable *t, ptrdiff_t r0, ptrdiff_t rows, ptrdiff_t p0,  \
                                ptrdiff_t depth, int width, T *dst, tc_pack_rm fast)            \
    {                                                                                            \
        const T *const w = (const T *)t->w;                                                      \
        const int64_t *const qoff = t->qoff + p0, *const rowoff = t->rowoff ? t->rowoff + r0 : NULL; \
        const ptrdiff_t rs = t->rs, line = 64 / (ptrdiff_t)sizeof(T);                            \
        if (rowoff ? consecutive(rowoff, rows) == rows : rs == 1) {                              \
            const T *wr = w + (rowoff ? rowoff[0] : r0);                                         \
            for (ptrdiff_t p = 0; p < depth; ++p) {                                              \
                T *d = dst + p * width;                                                          \
                copy_strided_##T(d, wr + qoff[p], 1, rows);                                      \
                for (ptrdiff_t i = rows; i < width; ++i)                                         \
                    d[i] = 0;                                                                    \
            }                                                                                    \
        } else if (fast && !rowoff && rs > 1 && rows <= 16 && depth >= 16 && consecutive(qoff, 16) == 16) { \
            for (ptrdiff_t p = 0; p < depth;) {                                                  \
                ptrdiff_t len = consecutive(qoff + p, depth - p);                                \
                fast(w + qoff[p] + r0 * rs, rs, len, (int)rows, dst + p * width, width);         \
                for (ptrdiff_t q = p; q < p + len; ++q)                                          \
                    for (ptrdiff_t i = rows; i < width; ++i)                                     \
                        dst[q * width + i] = 0;                                                  \
                p += len;                                                                        \
            }                                                                                    \
        } else if (!rowoff) {                                                                    \
            const T *wr = w + r0 * rs;                                                           \
            ptrdiff_t fetched = 0; /* the depth offset last prefetched (p > 0) */                 \
            for (ptrdiff_t p = 0; p < depth; ++p) {                                              \
                T *d = dst + p * width;                                                          \
                ptrdiff_t qa = qoff[p + WTABLE_AHEAD < depth ? p + WTABLE_AHEAD : p];            \
                if (p == 0 || qa < fetched || qa - fetched >= line) {                            \
                    for (ptrdiff_t i = 0; i < rows; ++i)                                         \
                        __builtin_prefetch(wr + qa + i * rs, 0, 3);                              \
                    fetched = qa;                                                                \
                }                                                                                \
                copy_strided_##T(d, wr + qoff[p], rs, rows);                                     \
                for (ptrdiff_t i = rows; i < width; ++i)                                         \
                    d[i] = 0;                                                                    \
            }                                                                                    \
        } else {                                                                                 \
            for (ptrdiff_t p = 0; p < depth; ++p) {                                              \
                const T *wq = w + qoff[p];                                                       \
                T *d = dst + p * width;                                                          \
                for (ptrdiff_t i = 0; i < rows; ++i)                                             \
                    d[i] = wq[rowoff[i]];                                                        \
                for (ptrdiff_t i = rows; i < width; ++i)                                         \
                    d[i] = 0;                                                                    \
            }                                                                                    \
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
            pack_wtable_float(t, r0 + r, h, p0, depth, width, (float *)dst + r * depth, t->pack_rm);
        else
            pack_wtable_double(t, r0 + r, h, p0, depth, width, (double *)dst + r * depth, NULL);
    }
}
