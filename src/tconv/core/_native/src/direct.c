/* direct.c: the direct convolutions' drivers (see direct.h for the layouts).
 *
 * conv_transpose, one output row (n, cx, p0, p1) and one phase ph of its last axis at a time
 * (the cells p2 = ph + s2*q): each term of the sum is a weight times a contiguous run of an input
 * row, y[n, cy, j0, j1, q + jb], so every multiply-add is contiguous.  The terms are the taps that
 * land on the row and phase (t0, t1 with p = j*s + t*d - lo; t2 with ph + lo2 - t2*d2 = jb*s2)
 * times the group's input channels.  Work per row is bounded by the phases present in the output,
 * min(s2, n2), never by the stride.  This is also col2im (each term a slab of the column buffer,
 * weight one) and the inverse-STFT overlap-add (one row, s2 phases, Cy*k2/s2 terms each).
 * conv, one output row (n, cy, j0, j1): each term reads x[n, cx, p0, p1, j*s2 + off]; with
 * s2 > 1 the strided run is first gathered into a contiguous slot (one per pending term).
 * The weight gradient: per tile of y-side rows a partial sum of every weight entry (dot products
 * of a y row with a strided x row), the tiles' partials added in tile order at the end.
 *
 * The output axis is cut into blocks of QB cells: the accumulator block stays in L1 while the
 * terms stream past, GROUP at a time (one pass over the block per group, tc_direct_loops.axpy).
 * Scratch: the block and the gather slots, on each thread's stack; the weight gradient's partials
 * (tiles x weight entries, float64).  Rows split into TC_DIRECT_TILES_PER_THREAD tiles per thread
 * (direct.h). */
#include "direct.h"

#include <stdlib.h>
#include <string.h>

#include "pool.h"
#include "scratch.h"

#define QB 256               /* accumulator cells per block (2 KiB of doubles) */
#define GROUP 8              /* terms per pass over the block */
#define TC_MAX_WEAVE 8       /* strides up to this accumulate a row's phases side by side */
#define TC_MAX_TILE_P 16     /* the most phases of a register tile */
#define TILE_CHUNK 128       /* terms per pass over a row's tiles (float32 sums over at most this many) */
#define TILE_GROUP 32        /* tiles of a row's phase block computed together (their float64 totals) */

/* TC_IN(ptr, bytes, lo, hi): the byte range [ptr, ptr + bytes) lies in [lo, hi) (debug builds) */
#define TC_IN(ptr, bytes, lo, hi) TC_CHECK((const char *)(ptr) >= (lo) && (const char *)(ptr) + (bytes) <= (hi))

static ptrdiff_t min_pd(ptrdiff_t a, ptrdiff_t b) { return a < b ? a : b; }
static ptrdiff_t max_pd(ptrdiff_t a, ptrdiff_t b) { return a > b ? a : b; }
static size_t dt_size(tc_dtype dt) { return dt == TC_F32 ? sizeof(float) : sizeof(double); }

/* conv_transpose on one axis: the input index j with p = j*s + t*d - lo, or -1 if none */
static ptrdiff_t tap_source(ptrdiff_t p, ptrdiff_t lo, ptrdiff_t t, ptrdiff_t d, ptrdiff_t s, ptrdiff_t m)
{
    ptrdiff_t q = p + lo - t * d;
    if (q < 0 || q % s != 0 || q / s >= m)
        return -1;
    return q / s;
}

/* conv on one axis: the first and one past the last j in [0, m) with 0 <= j*s + off < n */
static void tap_span(ptrdiff_t off, ptrdiff_t s, ptrdiff_t m, ptrdiff_t n, ptrdiff_t *a, ptrdiff_t *e)
{
    *a = off < 0 ? (-off + s - 1) / s : 0;
    *e = n - 1 - off < 0 ? 0 : min_pd(m, (n - 1 - off) / s + 1);
    if (*e < *a)
        *e = *a;
}

static double load(const char *base, ptrdiff_t i, tc_dtype dt)
{
    return dt == TC_F32 ? (double)((const float *)base)[i] : ((const double *)base)[i];
}

/* ---- one block of the accumulator and the terms pending on it ---- */

/* Long float32 sums (TC_ACC_F32_WIDE) add their terms to float32 cells, GROUP at a time, and fold
 * the cells into float64 totals every FOLD_GROUPS groups: float32 rounding over at most
 * GROUP * FOLD_GROUPS terms, float64 across them, at the float32 loops' speed. */
#define FOLD_GROUPS 16

typedef struct {
    const tc_direct_loops *k;
    tc_acc acc;                  /* the sums' kind */
    tc_acc add;                  /* the loops' kind: float32 cells for float32 data */
    tc_dtype dt;
    size_t es, acc_es;           /* data element, cell */
    char *cells;                 /* up to QB cells the terms add to */
    double *total;               /* TC_ACC_F32_WIDE: the float64 sums, else NULL */
    ptrdiff_t len;               /* cells in use */
    int groups;                  /* groups added since the last fold */
    int nt;                      /* pending terms */
    const char *p[GROUP];        /* term k's data for cell ia[k] */
    double w[GROUP];
    ptrdiff_t ia[GROUP], ie[GROUP]; /* the cells [ia, ie) term k adds to */
} block;

static void block_init(block *b, const tc_direct_loops *k, tc_acc acc, tc_dtype dt)
{
    b->k = k;
    b->acc = acc;
    b->add = acc == TC_ACC_F32_WIDE ? TC_ACC_F32 : acc;
    b->dt = dt;
    b->es = dt_size(dt);
    b->acc_es = b->add == TC_ACC_F32 ? sizeof(float) : sizeof(double);
    b->nt = 0;
}

/* Starts a block of len cells: `cells` (the loops' type) and, for long float32 sums, `total`. */
static void block_begin(block *b, char *cells, double *total, ptrdiff_t len)
{
    b->cells = cells;
    b->total = b->acc == TC_ACC_F32_WIDE ? total : NULL;
    b->len = len;
    b->groups = 0;
    memset(cells, 0, (size_t)len * b->acc_es);
    if (b->total)
        memset(b->total, 0, (size_t)len * sizeof(double));
}

static void fold(block *b)
{
    b->k->fold(b->total, (float *)b->cells, b->len);
    b->groups = 0;
}

static void axpy1(const block *b, ptrdiff_t from, ptrdiff_t to, const char *p, const double *w)
{
    if (to > from)
        b->k->axpy[b->add](b->cells + from * b->acc_es, to - from, (const void *const *)&p, w, 1);
}

/* Short runs (a few cells): the terms added one by one in place, without a call per term */
#define SHORT_RUN 16

static void add_short(block *b)
{
    for (int k = 0; k < b->nt; ++k) {
        ptrdiff_t n = b->ie[k] - b->ia[k];
        if (b->add == TC_ACC_F32) {
            float *c = (float *)b->cells + b->ia[k], w = (float)b->w[k];
            const float *x = (const float *)b->p[k];
            for (ptrdiff_t i = 0; i < n; ++i)
                c[i] += w * x[i];
        } else {
            double *c = (double *)b->cells + b->ia[k], w = b->w[k];
            const double *x = (const double *)b->p[k];
            for (ptrdiff_t i = 0; i < n; ++i)
                c[i] += w * x[i];
        }
    }
}

/* Adds the pending terms: all of them over the cells they share, then each one's own edges. */
static void flush(block *b)
{
    if (b->nt == 0)
        return;
    if (b->len <= SHORT_RUN) {
        add_short(b);
        b->nt = 0;
        if (b->total && ++b->groups == FOLD_GROUPS)
            fold(b);
        return;
    }
    ptrdiff_t lo = b->ia[0], hi = b->ie[0];
    int same = 1; /* every term on the same cells: no edges (the common case) */
    for (int k = 1; k < b->nt; ++k) {
        same &= b->ia[k] == lo && b->ie[k] == hi;
        lo = max_pd(lo, b->ia[k]);
        hi = min_pd(hi, b->ie[k]);
    }
    if (b->nt == 1 || hi <= lo) {
        for (int k = 0; k < b->nt; ++k)
            axpy1(b, b->ia[k], b->ie[k], b->p[k], &b->w[k]);
    } else {
        const void *src[GROUP];
        for (int k = 0; k < b->nt; ++k)
            src[k] = b->p[k] + (lo - b->ia[k]) * (ptrdiff_t)b->es;
        b->k->axpy[b->add](b->cells + lo * (ptrdiff_t)b->acc_es, hi - lo, src, b->w, b->nt);
        for (int k = 0; !same && k < b->nt; ++k) {
            axpy1(b, b->ia[k], lo, b->p[k], &b->w[k]);
            axpy1(b, hi, b->ie[k], b->p[k] + (hi - b->ia[k]) * (ptrdiff_t)b->es, &b->w[k]);
        }
    }
    b->nt = 0;
    if (b->total && ++b->groups == FOLD_GROUPS)
        fold(b);
}

static void add_term(block *b, const char *p, double w, ptrdiff_t ia, ptrdiff_t ie)
{
    b->p[b->nt] = p;
    b->w[b->nt] = w;
    b->ia[b->nt] = ia;
    b->ie[b->nt] = ie;
    if (++b->nt == GROUP)
        flush(b);
}

/* The block's sums are final: the last terms added, float32 cells folded into the totals. */
static void block_end(block *b)
{
    flush(b);
    if (b->total && b->groups > 0)
        fold(b);
}

/* out[i * stride] = the sums [i], i < n, converted to the data type */
static void store(const block *b, char *out, ptrdiff_t stride, ptrdiff_t n)
{
    if (stride == 1 && !b->total) { /* same type, contiguous */
        memcpy(out, b->cells, (size_t)n * b->es);
        return;
    }
    if (b->acc == TC_ACC_F32) {
        const float *c = (const float *)b->cells;
        for (ptrdiff_t i = 0; i < n; ++i)
            ((float *)out)[i * stride] = c[i];
    } else if (b->acc == TC_ACC_F32_WIDE) {
        const double *c = b->total;
        for (ptrdiff_t i = 0; i < n; ++i)
            ((float *)out)[i * stride] = (float)c[i];
    } else {
        const double *c = (const double *)b->cells;
        for (ptrdiff_t i = 0; i < n; ++i)
            ((double *)out)[i * stride] = c[i];
    }
}

/* ---- work split: units [0, units) in `tiles` contiguous tiles ---- */

typedef struct {
    const tc_direct_loops *k;
    const tc_direct_problem *p;
    ptrdiff_t units, tiles, nph;
    ptrdiff_t n_first, nb;   /* col2im / im2col: the samples; nb == 0 for conv_transpose */
    double *partials;        /* weight gradient */
    const char *wt, *wt_hi;  /* conv_transpose: the weight as (Cx, k, Cy/groups), and its end */
    /* conv_transpose / col2im: the taps landing on each output position of axes 0 and 1 and on each
     * phase of axis 2, as (tap, input index) pairs: hits[ax][start[ax][i] .. start[ax][i + 1]) */
    ptrdiff_t *start[3];
    ptrdiff_t (*hits[3])[2];
    int all_phases;          /* 1: a unit is a whole row, its s2 phases interleaved on the way out */
    int tile_p;              /* > 0: a unit is a row and tile_p consecutive phases, register-tiled */
    ptrdiff_t tile_k;        /* the most terms one phase of a row can have (the tile's scratch) */
    ptrdiff_t tile_cells;    /* float64 totals of TILE_GROUP tiles */
    ptrdiff_t (*span2)[2];   /* conv, weight gradient: the y-side cells [a, e) tap t2 reads in range */
    ptrdiff_t cxg, cyg;      /* conv_transpose / col2im: channels per group, x and y side (no division per row) */
    ptrdiff_t mrow, kk;      /* cells of one y-side channel, taps of the kernel */
    const tc_direct_taps *taps; /* conv_transpose: the tap tables built beforehand, or NULL */
    ptrdiff_t plen[TC_MAX_WEAVE]; /* all_phases: the cells of each phase of a row */
    int pairs;                    /* col2im with stride 2 and dilation 1 on axis 2: pair_row */
} call;

/* c->span2 for every tap of axis 2 (freed by the caller); -1 when memory ran out */
static int build_spans(call *c)
{
    const tc_direct_problem *p = c->p;
    c->span2 = (ptrdiff_t (*)[2])malloc((size_t)(p->k[2] * 2 + 1) * sizeof(ptrdiff_t));
    if (!c->span2)
        return -1;
    for (ptrdiff_t t2 = 0; t2 < p->k[2]; ++t2)
        tap_span(t2 * p->d[2] - p->lo[2], p->s[2], p->m[2], p->x[2], &c->span2[t2][0], &c->span2[t2][1]);
    return 0;
}

static void tile_range(const call *c, int task, ptrdiff_t *u0, ptrdiff_t *u1)
{
    tc_direct_tile_range(c->units, c->tiles, task, u0, u1);
}

static void run_tiles(call *c, int threads, tc_task_fn fn)
{
    tc_team team;
    tc_team_begin(&team, threads);
    tc_team_run(&team, (int)c->tiles, fn, c);
    tc_team_end(&team);
}

/* ---- conv_transpose and col2im: one output row and phase ---- */

/* The (tap, input index) pairs landing on each position i of output axis ax (0 or 1):
 * hits[start[i] .. start[i + 1]); returns their number (with start == NULL: only counts). */
static ptrdiff_t axis_hits(const tc_direct_problem *p, int ax, ptrdiff_t *start, ptrdiff_t (*hits)[2])
{
    ptrdiff_t count = 0;
    for (ptrdiff_t i = 0; i < p->x[ax]; ++i) {
        if (start)
            start[i] = count;
        for (ptrdiff_t t = 0; t < p->k[ax]; ++t) {
            ptrdiff_t j = tap_source(i, p->lo[ax], t, p->d[ax], p->s[ax], p->m[ax]);
            if (j >= 0 && start) {
                hits[count][0] = t;
                hits[count][1] = j;
            }
            count += j >= 0;
        }
    }
    if (start)
        start[p->x[ax]] = count;
    return count;
}

/* The taps of each phase r < nph of axis 2 (tap t lands on phase (t*d - lo) mod s, at input index
 * jb = (r + lo - t*d) / s for the phase's cell 0), in increasing t: a counting sort, start[r + 1]
 * counting phase r, the prefix sum making start[r] its first slot, the fill advancing it, a shift
 * by one restoring it.  At most k2 hits in all. */
static ptrdiff_t phase_hits(const tc_direct_problem *p, ptrdiff_t nph, ptrdiff_t *start, ptrdiff_t (*hits)[2])
{
    const ptrdiff_t s = p->s[2];
    memset(start, 0, (size_t)(nph + 1) * sizeof(ptrdiff_t));
    for (ptrdiff_t t = 0; t < p->k[2]; ++t) {
        ptrdiff_t r = ((t * p->d[2] - p->lo[2]) % s + s) % s;
        if (r < nph)
            ++start[r + 1];
    }
    for (ptrdiff_t i = 0; i < nph; ++i)
        start[i + 1] += start[i];
    for (ptrdiff_t t = 0; t < p->k[2]; ++t) {
        ptrdiff_t r = ((t * p->d[2] - p->lo[2]) % s + s) % s;
        if (r < nph) {
            ptrdiff_t h = start[r]++;
            hits[h][0] = t;
            hits[h][1] = (r + p->lo[2] - t * p->d[2]) / s;
        }
    }
    for (ptrdiff_t i = nph; i > 0; --i)
        start[i] = start[i - 1];
    start[0] = 0;
    return start[nph];
}

/* Builds the three tables in one allocation (*mem, freed by the caller); -1 when memory ran out. */
static int build_hits(call *c, void **mem)
{
    const tc_direct_problem *p = c->p;
    ptrdiff_t n0 = axis_hits(p, 0, NULL, NULL), n1 = axis_hits(p, 1, NULL, NULL);
    ptrdiff_t nstart = p->x[0] + p->x[1] + c->nph + 3, nhits = n0 + n1 + p->k[2];
    char *m = (char *)malloc((size_t)(nstart + 2 * nhits) * sizeof(ptrdiff_t));
    if (!m)
        return -1;
    *mem = m;
    ptrdiff_t *st = (ptrdiff_t *)m;
    ptrdiff_t (*h)[2] = (ptrdiff_t (*)[2])(st + nstart);
    c->start[0] = st, c->hits[0] = h;
    c->start[1] = st + p->x[0] + 1, c->hits[1] = h + n0;
    c->start[2] = c->start[1] + p->x[1] + 1, c->hits[2] = h + n0 + n1;
    axis_hits(p, 0, c->start[0], c->hits[0]);
    axis_hits(p, 1, c->start[1], c->hits[1]);
    phase_hits(p, c->nph, c->start[2], c->hits[2]);
    return 0;
}

/* The terms of block [b0, b0 + len) of phase ph of output row at = (n, cx, p0, p1, group of cx).
 * conv_transpose: y[n, cy, j0, j1, q + jb] times w[cy, cl, t], for the group's cy.  col2im
 * (c->nb > 0): the slab cols[cx, t, n, j0, j1, q + jb], weight one. */
static void transpose_terms(const call *c, block *b, const ptrdiff_t at[5], ptrdiff_t ph, ptrdiff_t b0, ptrdiff_t len)
{
    const tc_direct_problem *p = c->p;
    const ptrdiff_t n = at[0], cx = at[1], p0 = at[2], p1 = at[3], gi = at[4];
    const ptrdiff_t es = (ptrdiff_t)b->es, cyg = c->cyg, mrow = c->mrow, kk = c->kk;
    for (ptrdiff_t h0 = c->start[0][p0]; h0 < c->start[0][p0 + 1]; ++h0) {     /* taps on axis 0 */
        ptrdiff_t t0 = c->hits[0][h0][0], j0 = c->hits[0][h0][1];
        for (ptrdiff_t h1 = c->start[1][p1]; h1 < c->start[1][p1 + 1]; ++h1) { /* axis 1 */
            ptrdiff_t t1 = c->hits[1][h1][0], j1 = c->hits[1][h1][1];
            for (ptrdiff_t h2 = c->start[2][ph]; h2 < c->start[2][ph + 1]; ++h2) { /* this phase's taps */
                ptrdiff_t t2 = c->hits[2][h2][0], jb = c->hits[2][h2][1];
                ptrdiff_t qa = max_pd(b0, -jb), qe = min_pd(b0 + len, p->m[2] - jb);
                if (qe <= qa)
                    continue;
                ptrdiff_t tap = (t0 * p->k[1] + t1) * p->k[2] + t2, at = (j0 * p->m[1] + j1) * p->m[2] + qa + jb;
                if (c->nb > 0) { /* col2im, cols (C, k, nb, m): the slab of tap `tap`, sample n */
                    const char *src = p->y + (((cx * kk + tap) * c->nb + n) * mrow + at) * es;
                    TC_IN(src, (qe - qa) * es, p->lo_y, p->hi_y);
                    add_term(b, src, 1.0, qa - b0, qe - b0);
                    continue;
                }
                const char *wrow = c->wt + ((cx * kk + tap) * cyg) * es; /* the group's cy, contiguous */
                const char *src = p->y + ((n * p->cy + gi * cyg) * mrow + at) * es;
                for (ptrdiff_t cyl = 0; cyl < cyg; ++cyl, src += mrow * es) {
                    TC_IN(src, (qe - qa) * es, p->lo_y, p->hi_y);
                    TC_IN(wrow + cyl * es, es, c->wt, c->wt_hi);
                    add_term(b, src, load(wrow, cyl, p->dtype), qa - b0, qe - b0);
                }
            }
        }
    }
}

/* Cells [qa, qe) of phase ph of an output row, block by block: the terms, then the stores with
 * stride s2 (orow: the row's first cell). */
static void phase_range(const call *c, block *b, char *cells, double *totals, const ptrdiff_t at[5], char *orow,
                        ptrdiff_t ph, ptrdiff_t qa, ptrdiff_t qe)
{
    const tc_direct_problem *p = c->p;
    const ptrdiff_t es = (ptrdiff_t)b->es, s2 = p->s[2];
    for (ptrdiff_t b0 = qa; b0 < qe; b0 += QB) {
        ptrdiff_t len = min_pd(QB, qe - b0);
        block_begin(b, cells, totals, len);
        transpose_terms(c, b, at, ph, b0, len);
        block_end(b);
        char *o = orow + (b0 * s2 + ph) * es;
        TC_IN(o, ((len - 1) * s2 + 1) * es, p->lo_o, p->hi_o);
        store(b, o, s2, len);
    }
}

/* A row's phases side by side (c->all_phases): block by block, every phase's terms, then the
 * phases interleaved into the row. */
static void interleaved_row(const call *c, block *b, char *cells, double *totals, const ptrdiff_t at[5],
                            char *orow)
{
    const tc_direct_problem *p = c->p;
    const ptrdiff_t es = (ptrdiff_t)b->es, n2 = p->x[2], s2 = p->s[2], ae = (ptrdiff_t)b->acc_es;
    ptrdiff_t lens[TC_MAX_WEAVE];
    for (ptrdiff_t b0 = 0; b0 * s2 < n2; b0 += QB) {
        ptrdiff_t full = QB;
        for (ptrdiff_t k = 0; k < s2; ++k) { /* phase k: cells [b0, b0 + len) of it */
            ptrdiff_t len = min_pd(QB, c->plen[k] - b0);
            lens[k] = len > 0 ? len : 0;
            full = min_pd(full, lens[k]);
            if (len <= 0)
                continue;
            block_begin(b, cells + k * QB * ae, totals + k * QB, len);
            transpose_terms(c, b, at, k, b0, len);
            block_end(b);
        }
        char *o = orow + b0 * s2 * es;
        TC_IN(o, full * s2 * es, p->lo_o, p->hi_o);
        c->k->weave[b->acc](o, b->total ? (const char *)totals : cells, QB, (int)s2, full);
        for (ptrdiff_t k = 0; k < s2; ++k) { /* the last block: phases one cell longer than others */
            b->cells = cells + (k * QB + full) * ae;
            b->total = b->total ? totals + k * QB + full : NULL;
            TC_IN(o + (full * s2 + k) * es, ((lens[k] - full - 1) * s2 + 1) * es, p->lo_o, p->hi_o);
            store(b, o + (full * s2 + k) * es, s2, lens[k] - full);
        }
    }
}

/* Cell q of phases [ph0, ph0 + P) of a tiled block: the tile's terms that are in range */
static void edge_cell(const call *c, ptrdiff_t K, const float *apack, const ptrdiff_t *offs, char *orow,
                      ptrdiff_t ph0, ptrdiff_t q)
{
    const tc_direct_problem *p = c->p;
    const ptrdiff_t P = c->tile_p, s2 = p->s[2], n2 = p->x[2];
    double acc[TC_MAX_TILE_P];
    c->k->edge(K, apack, (const float *)p->y, offs, offs + c->tile_k, q, acc);
    for (ptrdiff_t i = 0; i < P && ph0 + i + s2 * q < n2; ++i) {
        TC_IN(orow + (ph0 + i + s2 * q) * 4, 4, p->lo_o, p->hi_o);
        ((float *)orow)[ph0 + i + s2 * q] = (float)acc[i];
    }
}

/* Phases [ph0, ph0 + P) of a row with a long stride and dilation 1 share their terms' inputs:
 * phase ph0 + i takes tap t + i wherever phase ph0 takes tap t, at the same input offset.  When
 * that holds for the whole block, the cells every term covers are computed as a P x NQ register
 * tile per NQ cells (weights broadcast, inputs loaded once for the P phases: tc_direct_loops.tile),
 * the other cells with the same terms one cell at a time (edge_cell); blocks where it does not
 * hold go phase by phase.  Scratch: the packed weights and
 * the terms' input offsets. */
static void tiled_phases(const call *c, block *b, char *cells, double *totals, const ptrdiff_t at[5], char *orow,
                         ptrdiff_t ph0, float *apack, ptrdiff_t *offs, double *tot)
{
    const tc_direct_problem *p = c->p;
    const ptrdiff_t P = c->tile_p, NQ = c->k->tile_nq, s2 = p->s[2], n2 = p->x[2];
    const ptrdiff_t *st = c->start[2];
    ptrdiff_t np = min_pd(P, c->nph - ph0), nt = st[ph0 + 1] - st[ph0];
    int same = np == P && nt > 0;
    for (ptrdiff_t i = 1; same && i < P; ++i) {
        same = st[ph0 + i + 1] - st[ph0 + i] == nt;
        for (ptrdiff_t h = 0; same && h < nt; ++h)
            same = c->hits[2][st[ph0 + i] + h][0] == c->hits[2][st[ph0] + h][0] + i &&
                   c->hits[2][st[ph0 + i] + h][1] == c->hits[2][st[ph0] + h][1];
    }
    ptrdiff_t qi0 = 0, qi1 = (n2 - (ph0 + np - 1) + s2 - 1) / s2, K = 0; /* cells of the shortest phase */
    if (same) {
        const ptrdiff_t cxg = p->cx / p->groups, cyg = p->cy / p->groups, mrow = p->m[0] * p->m[1] * p->m[2];
        const ptrdiff_t kk = p->k[0] * p->k[1] * p->k[2], gi = at[1] / cxg, cl = at[1] % cxg;
        for (ptrdiff_t h0 = c->start[0][at[2]]; h0 < c->start[0][at[2] + 1]; ++h0)
            for (ptrdiff_t h1 = c->start[1][at[3]]; h1 < c->start[1][at[3] + 1]; ++h1)
                for (ptrdiff_t h2 = st[ph0]; h2 < st[ph0 + 1]; ++h2) {
                    ptrdiff_t t0 = c->hits[0][h0][0], j0 = c->hits[0][h0][1], t1 = c->hits[1][h1][0];
                    ptrdiff_t j1 = c->hits[1][h1][1], t2 = c->hits[2][h2][0], jb = c->hits[2][h2][1];
                    qi0 = max_pd(qi0, -jb);
                    qi1 = min_pd(qi1, p->m[2] - jb);
                    ptrdiff_t tap = (t0 * p->k[1] + t1) * p->k[2] + t2;
                    for (ptrdiff_t cy = gi * cyg; cy < (gi + 1) * cyg; ++cy, ++K) {
                        TC_CHECK(K < c->tile_k);
                        memcpy(apack + K * P, (const float *)p->w + (cy * cxg + cl) * kk + tap, (size_t)P * sizeof(float));
                        offs[K] = ((at[0] * p->cy + cy) * mrow + (j0 * p->m[1] + j1) * p->m[2]) + jb;
                        offs[c->tile_k + 2 * K] = -jb;              /* the cells q it covers: [-jb, m2 - jb) */
                        offs[c->tile_k + 2 * K + 1] = p->m[2] - jb;
                    }
                }
    }
    /* tiles over [qi0, qi1), the last one moved back to end at qi1 (overlapping cells computed twice,
     * identically): no tile-sized edge */
    ptrdiff_t tiles = same && qi1 - qi0 >= NQ ? (qi1 - qi0 + NQ - 1) / NQ : 0, qt = tiles ? qi1 : qi0;
    for (ptrdiff_t g0 = 0; g0 < tiles; g0 += TILE_GROUP) { /* up to TILE_GROUP tiles at a time */
        ptrdiff_t ng = min_pd(TILE_GROUP, tiles - g0);
        /* K in chunks (their packed weights stay in L1 across the tiles), float64 totals per tile */
        memset(tot, 0, (size_t)(ng * P * NQ) * sizeof(double));
        for (ptrdiff_t k0 = 0; k0 < K; k0 += TILE_CHUNK)
            for (ptrdiff_t t = 0; t < ng; ++t)
                c->k->tile(min_pd(TILE_CHUNK, K - k0), apack + k0 * P, (const float *)p->y, offs + k0,
                           min_pd(qi0 + (g0 + t) * NQ, qi1 - NQ), tot + t * P * NQ);
        for (ptrdiff_t t = 0; t < ng; ++t) {
            ptrdiff_t q0 = min_pd(qi0 + (g0 + t) * NQ, qi1 - NQ);
            float *o = (float *)orow + ph0 + q0 * s2;
            TC_IN(o, ((NQ - 1) * s2 + P) * 4, p->lo_o, p->hi_o);
            for (ptrdiff_t i = 0; i < P; ++i)
                for (ptrdiff_t q = 0; q < NQ; ++q)
                    o[i + s2 * q] = (float)tot[(t * P + i) * NQ + q];
        }
    }
    if (!same) { /* phase by phase */
        for (ptrdiff_t i = 0; i < np; ++i)
            phase_range(c, b, cells, totals, at, orow, ph0 + i, 0, (n2 - ph0 - i + s2 - 1) / s2);
        return;
    }
    ptrdiff_t nq0 = (n2 - ph0 + s2 - 1) / s2; /* the longest phase's cells */
    for (ptrdiff_t q = 0; q < nq0; ++q) /* the cells outside the tiles: P phases at a time, edge terms skipped */
        if (q < qi0 || q >= qt)
            edge_cell(c, K, apack, offs, orow, ph0, q);
}

/* unit u: output row r = ((n * C + cx) * x0 + p0) * x1 + p1 with all its phases (all_phases), or
 * with tile_p phases (u = r * blocks + block), or with one phase ph (u = r * nph + ph).  Its place:
 * part (the block or phase; 0 for all_phases) and the row's at = (n, cx, p0, p1, group of cx). */
typedef struct {
    ptrdiff_t part, at[5];
} unit_pos;

static ptrdiff_t unit_parts(const call *c)
{
    return c->all_phases ? 1 : c->tile_p ? (c->nph + c->tile_p - 1) / c->tile_p : c->nph;
}

static void unit_at(const call *c, ptrdiff_t u, unit_pos *q)
{
    const tc_direct_problem *p = c->p;
    ptrdiff_t per = unit_parts(c), r = u / per;
    q->part = u % per;
    q->at[3] = r % p->x[1];
    r /= p->x[1];
    q->at[2] = r % p->x[0];
    r /= p->x[0];
    q->at[1] = r % p->cx;
    q->at[0] = r / p->cx;
    q->at[4] = c->cxg == p->cx ? 0 : q->at[1] / c->cxg;
}

/* the place of the unit after q's (`per` = unit_parts(c)): counters, no division per unit */
static void unit_next(const call *c, ptrdiff_t per, unit_pos *q)
{
    const tc_direct_problem *p = c->p;
    if (++q->part < per)
        return;
    q->part = 0;
    if (++q->at[3] < p->x[1])
        return;
    q->at[3] = 0;
    if (++q->at[2] < p->x[0])
        return;
    q->at[2] = 0;
    if (++q->at[1] < p->cx) {
        q->at[4] = c->cxg == p->cx ? 0 : q->at[1] / c->cxg;
        return;
    }
    q->at[1] = q->at[4] = 0;
    ++q->at[0];
}

/* o[0] += a[0] in the data type */
static void add_cell(char *o, const char *a, tc_dtype dt)
{
    if (dt == TC_F32)
        *(float *)o += *(const float *)a;
    else
        *(double *)o += *(const double *)a;
}

/* Input cells [j0, j1) of a pair_term one by one (the row's ends): a[j] onto o = 2j + off and,
 * with b, b[j] onto o + 1, where those land inside the row. */
static void pair_cells(const call *c, char *orow, const char *a, const char *b, ptrdiff_t off, ptrdiff_t j0,
                       ptrdiff_t j1)
{
    const tc_direct_problem *p = c->p;
    const ptrdiff_t es = (ptrdiff_t)dt_size(p->dtype), n2 = p->x[2];
    for (ptrdiff_t j = j0; j < j1; ++j) {
        ptrdiff_t o = 2 * j + off;
        if (o >= 0 && o < n2) {
            TC_IN(orow + o * es, es, p->lo_o, p->hi_o);
            add_cell(orow + o * es, a + j * es, p->dtype);
        }
        if (b && o + 1 >= 0 && o + 1 < n2) {
            TC_IN(orow + (o + 1) * es, es, p->lo_o, p->hi_o);
            add_cell(orow + (o + 1) * es, b + j * es, p->dtype);
        }
    }
}

/* The slab a of tap t2 of one (axis-0, axis-1) term of a col2im row: input cell j lands on
 * o = 2j + off, off = t2 - lo (stride 2, dilation 1 on axis 2).  With its neighbour tap t2 + 1
 * (b, or NULL for none) the two interleave: 2j + off and 2j + off + 1.  The cells [ja, je) whose
 * targets all lie inside the row run through the ISA's pair loop, the others one by one. */
static void pair_term(const call *c, char *orow, const char *a, const char *b, ptrdiff_t off)
{
    const tc_direct_problem *p = c->p;
    const ptrdiff_t es = (ptrdiff_t)dt_size(p->dtype), n2 = p->x[2], m2 = p->m[2];
    /* j with 0 <= 2j + off and 2j + off + (b != 0) < n2 and j < m2 */
    ptrdiff_t ja = off >= 0 ? 0 : (-off + 1) / 2, je = min_pd(m2, (n2 - off - (b ? 1 : 0) + 1) / 2);
    if (je <= ja) {
        pair_cells(c, orow, a, b, off, 0, m2);
        return;
    }
    pair_cells(c, orow, a, b, off, 0, ja);
    pair_cells(c, orow, a, b, off, je, m2);
    TC_IN(orow + (2 * ja + off) * es, (2 * (je - ja) - (b ? 0 : 1)) * es, p->lo_o, p->hi_o);
    TC_IN(a + ja * es, (je - ja) * es, p->lo_y, p->hi_y);
    if (b) {
        TC_IN(b + ja * es, (je - ja) * es, p->lo_y, p->hi_y);
        c->k->pair[p->dtype](orow + (2 * ja + off) * es, a + ja * es, b + ja * es, je - ja);
    } else if (p->dtype == TC_F32) {
        for (ptrdiff_t j = ja; j < je; ++j)
            ((float *)orow)[2 * j + off] += ((const float *)a)[j];
    } else {
        for (ptrdiff_t j = ja; j < je; ++j)
            ((double *)orow)[2 * j + off] += ((const double *)a)[j];
    }
}

/* col2im's row at[] when axis 2 has stride 2 and dilation 1 (c->pairs): the row zeroed, then for
 * each term of axes 0 and 1 the axis-2 taps two by two, each pair interleaved into the row (the
 * general path accumulates each phase apart in a block and weaves them, a function call per term,
 * for the few terms a stride-2 row has). */
static void pair_row(const call *c, const ptrdiff_t at[5], char *orow)
{
    const tc_direct_problem *p = c->p;
    const ptrdiff_t es = (ptrdiff_t)dt_size(p->dtype), n = at[0], cx = at[1], p0 = at[2], p1 = at[3];
    TC_IN(orow, p->x[2] * es, p->lo_o, p->hi_o);
    memset(orow, 0, (size_t)(p->x[2] * es));
    for (ptrdiff_t h0 = c->start[0][p0]; h0 < c->start[0][p0 + 1]; ++h0) {
        ptrdiff_t t0 = c->hits[0][h0][0], j0 = c->hits[0][h0][1];
        for (ptrdiff_t h1 = c->start[1][p1]; h1 < c->start[1][p1 + 1]; ++h1) {
            ptrdiff_t t1 = c->hits[1][h1][0], j1 = c->hits[1][h1][1];
            ptrdiff_t tap0 = (t0 * p->k[1] + t1) * p->k[2], at0 = (j0 * p->m[1] + j1) * p->m[2];
            const char *slab = p->y + (((cx * c->kk + tap0) * c->nb + n) * c->mrow + at0) * es;
            const ptrdiff_t tstep = c->nb * c->mrow * es; /* the next axis-2 tap's slab */
            for (ptrdiff_t t2 = 0; t2 < p->k[2]; t2 += 2) {
                const char *a = slab + t2 * tstep, *b = t2 + 1 < p->k[2] ? a + tstep : NULL;
                pair_term(c, orow, a, b, t2 - p->lo[2]);
            }
        }
    }
}

static void transpose_unit(const call *c, block *b, char *cells, double *totals, const unit_pos *q, float *apack,
                           ptrdiff_t *offs, double *tot)
{
    const tc_direct_problem *p = c->p;
    const ptrdiff_t es = (ptrdiff_t)b->es, *at = q->at, part = q->part;
    ptrdiff_t nout = at[0] + c->n_first; /* col2im writes planes from n_first */
    char *orow = p->out + (((nout * p->cx + at[1]) * p->x[0] + at[2]) * p->x[1] + at[3]) * p->x[2] * es;
    if (c->pairs)
        pair_row(c, at, orow);
    else if (c->all_phases)
        interleaved_row(c, b, cells, totals, at, orow);
    else if (c->tile_p)
        tiled_phases(c, b, cells, totals, at, orow, part * c->tile_p, apack, offs, tot);
    else
        phase_range(c, b, cells, totals, at, orow, part, 0, (p->x[2] - part + p->s[2] - 1) / p->s[2]);
}

static void transpose_task(void *ctx, int task, int thread)
{
    (void)thread;
    const call *c = (const call *)ctx;
    _Alignas(64) double cells[TC_MAX_WEAVE * QB];
    _Alignas(64) double totals[TC_MAX_WEAVE * QB];
    block b;
    block_init(&b, c->k, c->nb > 0 ? (c->p->dtype == TC_F32 ? TC_ACC_F32 : TC_ACC_F64) : c->p->acc, c->p->dtype);
    float *apack = NULL;
    ptrdiff_t *offs = NULL;
    double *tot = NULL;
    if (c->tile_p) { /* the tiles' scratch: without it, this task's units go phase by phase */
        apack = (float *)malloc((size_t)(c->tile_k * c->tile_p) * sizeof(float) + 1);
        offs = (ptrdiff_t *)malloc((size_t)c->tile_k * 3 * sizeof(ptrdiff_t) + 1); /* offsets, cell ranges */
        tot = (double *)malloc((size_t)c->tile_cells * sizeof(double) + 1);
    }
    call one = *c;
    if (c->tile_p && (!apack || !offs || !tot))
        one.tile_p = 0; /* no memory for the tiles: this task's units phase by phase */
    ptrdiff_t u0, u1;
    tile_range(c, task, &u0, &u1);
    unit_pos q;
    if (c->tile_p && !one.tile_p) { /* the same rows and phases without tiles */
        ptrdiff_t per = (c->nph + c->tile_p - 1) / c->tile_p;
        for (ptrdiff_t u = u0; u < u1; ++u)
            for (ptrdiff_t ph = (u % per) * c->tile_p; ph < min_pd(c->nph, (u % per + 1) * c->tile_p); ++ph) {
                unit_at(&one, (u / per) * c->nph + ph, &q);
                transpose_unit(&one, &b, (char *)cells, totals, &q, NULL, NULL, NULL);
            }
    } else if (u0 < u1) {
        ptrdiff_t per = unit_parts(c);
        unit_at(c, u0, &q);
        for (ptrdiff_t u = u0; u < u1; ++u, unit_next(c, per, &q))
            transpose_unit(c, &b, (char *)cells, totals, &q, apack, offs, tot);
    }
    free(apack);
    free(offs);
    free(tot);
}

int tc_direct_taps_build(const tc_direct_problem *p, tc_direct_taps *t)
{
    call c = {.p = p};
    c.nph = min_pd(p->s[2], p->x[2]);
    t->mem = NULL;
    if (p->x[2] <= 0)
        return 0; /* no output cells: no tables (run_transpose returns before it reads them) */
    if (build_hits(&c, &t->mem) != 0)
        return -1;
    for (int ax = 0; ax < 3; ++ax) {
        t->start[ax] = c.start[ax];
        t->hits[ax] = c.hits[ax];
    }
    return 0;
}

void tc_direct_taps_free(tc_direct_taps *t)
{
    free(t->mem);
    t->mem = NULL;
}

/* conv_transpose and col2im: the tap tables, the units (rows with their phases interleaved when
 * the stride is small, else one unit per row and phase), the tiles on the pool. */
static int run_transpose(call *c, int threads)
{
    const tc_direct_problem *p = c->p;
    ptrdiff_t rows = (c->nb > 0 ? c->nb : p->n) * p->cx * p->x[0] * p->x[1];
    c->nph = min_pd(p->s[2], p->x[2]);
    c->cxg = p->cx / p->groups;
    c->cyg = p->cy / p->groups;
    c->mrow = p->m[0] * p->m[1] * p->m[2];
    c->kk = p->k[0] * p->k[1] * p->k[2];
    c->all_phases = p->s[2] > 1 && p->s[2] <= TC_MAX_WEAVE && c->nph == p->s[2];
    /* col2im with stride 2 and dilation 1 on axis 2: pair_row, one unit per row (all_phases holds) */
    c->pairs = c->nb > 0 && c->all_phases && p->s[2] == 2 && p->d[2] == 1;
    for (ptrdiff_t k = 0; c->all_phases && k < p->s[2]; ++k)
        c->plen[k] = (p->x[2] - k + p->s[2] - 1) / p->s[2];
    /* register tiles over phases: conv_transpose in float32 with a long stride, dilation 1 */
    c->tile_p = c->k->tile && c->k->tile_p <= TC_MAX_TILE_P && c->nb == 0 && p->dtype == TC_F32 && p->d[2] == 1 && p->s[2] > TC_MAX_WEAVE &&
                c->nph >= c->k->tile_p ? c->k->tile_p : 0;
    ptrdiff_t per = c->tile_p ? (c->nph + c->tile_p - 1) / c->tile_p : c->nph;
    c->units = p->x[2] <= 0 ? 0 : c->all_phases ? rows : rows * per;
    c->tiles = tc_direct_tiles(c->units, threads);
    if (c->units == 0)
        return 0;
    void *mem = NULL;
    if (c->taps && c->taps->mem) {
        for (int ax = 0; ax < 3; ++ax) {
            c->start[ax] = c->taps->start[ax];
            c->hits[ax] = c->taps->hits[ax];
        }
    } else if (build_hits(c, &mem) != 0) {
        return -1;
    }
    if (c->tile_p) { /* the most terms of one phase: taps on axes 0, 1 and 2 times the group's channels */
        ptrdiff_t most[3] = {0, 0, 0}, len[3] = {p->x[0], p->x[1], c->nph};
        for (int ax = 0; ax < 3; ++ax)
            for (ptrdiff_t i = 0; i < len[ax]; ++i)
                most[ax] = max_pd(most[ax], c->start[ax][i + 1] - c->start[ax][i]);
        c->tile_k = most[0] * most[1] * most[2] * (p->cy / p->groups);
        c->tile_cells = TILE_GROUP * c->k->tile_nq * c->tile_p;
    }
    run_tiles(c, threads, transpose_task);
    free(mem);
    return 0;
}

/* The weight (Cy, Cx/g, k) as (Cx, k, Cy/g): a term's weights over the group's input channels
 * side by side (the weight is read once per call, O(weights), instead of once per term with a
 * stride of Cx/g * prod(k)). */
static char *weight_by_tap(const tc_direct_problem *p)
{
    const ptrdiff_t es = (ptrdiff_t)dt_size(p->dtype), cxg = p->cx / p->groups, cyg = p->cy / p->groups;
    const ptrdiff_t kk = p->k[0] * p->k[1] * p->k[2];
    char *wt = (char *)tc_call_buffer(TC_SCRATCH_WEIGHTS, (size_t)(p->cy * cxg * kk * es));
    if (!wt)
        return NULL;
    for (ptrdiff_t cy = 0; cy < p->cy; ++cy) {
        ptrdiff_t gi = cy / cyg, cyl = cy % cyg;
        for (ptrdiff_t cl = 0; cl < cxg; ++cl) {
            ptrdiff_t from = (cy * cxg + cl) * kk, to = ((gi * cxg + cl) * kk) * cyg + cyl;
            if (p->dtype == TC_F32) {
                for (ptrdiff_t t = 0; t < kk; ++t)
                    ((float *)wt)[to + t * cyg] = ((const float *)p->w)[from + t];
            } else {
                for (ptrdiff_t t = 0; t < kk; ++t)
                    ((double *)wt)[to + t * cyg] = ((const double *)p->w)[from + t];
            }
        }
    }
    return wt;
}

int tc_direct_conv_transpose_taps(const tc_direct_loops *k, const tc_direct_problem *p, int threads,
                                  const tc_direct_taps *taps)
{
    call c = {.k = k, .p = p, .taps = taps};
    if (p->n * p->cx * p->x[0] * p->x[1] * p->x[2] == 0)
        return 0;
    char *wt = p->cy == p->groups ? NULL : weight_by_tap(p); /* one input channel per group: w is that already */
    if (!wt && p->cy != p->groups)
        return -1;
    c.wt = wt ? wt : p->w;
    c.wt_hi = c.wt + p->cy * (p->cx / p->groups) * p->k[0] * p->k[1] * p->k[2] * (ptrdiff_t)dt_size(p->dtype);
    int rc = run_transpose(&c, threads);
    tc_call_release(TC_SCRATCH_WEIGHTS, wt);
    return rc;
}

int tc_col2im(const tc_direct_loops *k, const tc_direct_problem *p, ptrdiff_t n_first, ptrdiff_t nb, int threads)
{
    call c = {.k = k, .p = p, .n_first = n_first, .nb = nb};
    if (nb == 0)
        return 0;
    return run_transpose(&c, threads);
}

/* ---- conv: one output row ---- */

/* The terms of block [b0, b0 + len) of output row (n, cy, j0, j1): x[n, cx, p0, p1, j*s2 + off]
 * times w[cy, cl, t]; with s2 > 1 each strided run is gathered into the slot of its term. */
static void conv_terms(const call *c, block *b, char *slots, ptrdiff_t n, ptrdiff_t cy, ptrdiff_t j0,
                       ptrdiff_t j1, ptrdiff_t b0, ptrdiff_t len)
{
    const tc_direct_problem *p = c->p;
    const ptrdiff_t es = (ptrdiff_t)b->es, cxg = p->cx / p->groups, cyg = p->cy / p->groups;
    const ptrdiff_t s2 = p->s[2], kk = p->k[0] * p->k[1] * p->k[2], gi = cy / cyg;
    for (ptrdiff_t t0 = 0; t0 < p->k[0]; ++t0) {
        ptrdiff_t q0 = j0 * p->s[0] + t0 * p->d[0] - p->lo[0];
        if (q0 < 0 || q0 >= p->x[0])
            continue;
        for (ptrdiff_t t1 = 0; t1 < p->k[1]; ++t1) {
            ptrdiff_t q1 = j1 * p->s[1] + t1 * p->d[1] - p->lo[1];
            if (q1 < 0 || q1 >= p->x[1])
                continue;
            for (ptrdiff_t cl = 0; cl < cxg; ++cl) {
                const char *xrow = p->xs + (((n * p->cx + gi * cxg + cl) * p->x[0] + q0) * p->x[1] + q1) * p->x[2] * es;
                for (ptrdiff_t t2 = 0; t2 < p->k[2]; ++t2) {
                    ptrdiff_t off = t2 * p->d[2] - p->lo[2];
                    ptrdiff_t qa = max_pd(c->span2[t2][0], b0), qe = min_pd(c->span2[t2][1], b0 + len);
                    if (qe <= qa)
                        continue;
                    const char *src = xrow + (qa * s2 + off) * es;
                    TC_IN(src, ((qe - qa - 1) * s2 + 1) * es, p->lo_x, p->hi_x);
                    if (s2 != 1) {
                        char *slot = slots + (ptrdiff_t)b->nt * QB * es;
                        c->k->gather[p->dtype](slot, src, s2, qe - qa);
                        src = slot;
                    }
                    ptrdiff_t wi = (cy * cxg + cl) * kk + (t0 * p->k[1] + t1) * p->k[2] + t2;
                    TC_IN(p->w + wi * es, es, p->lo_w, p->hi_w);
                    add_term(b, src, load(p->w, wi, p->dtype), qa - b0, qe - b0);
                }
            }
        }
    }
}

static void conv_task(void *ctx, int task, int thread)
{
    (void)thread;
    const call *c = (const call *)ctx;
    const tc_direct_problem *p = c->p;
    _Alignas(64) double cells[QB], totals[QB];
    _Alignas(64) double slots[GROUP * QB];
    block b;
    block_init(&b, c->k, p->acc, p->dtype);
    const ptrdiff_t es = (ptrdiff_t)b.es, m2 = p->m[2];
    ptrdiff_t u0, u1;
    tile_range(c, task, &u0, &u1);
    for (ptrdiff_t r = u0; r < u1; ++r) { /* r = ((n * Cy + cy) * m0 + j0) * m1 + j1 */
        ptrdiff_t j1 = r % p->m[1], j0 = (r / p->m[1]) % p->m[0], rest = r / (p->m[1] * p->m[0]);
        ptrdiff_t cy = rest % p->cy, n = rest / p->cy;
        char *orow = p->out + r * m2 * es;
        for (ptrdiff_t b0 = 0; b0 < m2; b0 += QB) {
            ptrdiff_t len = min_pd(QB, m2 - b0);
            block_begin(&b, (char *)cells, totals, len);
            conv_terms(c, &b, (char *)slots, n, cy, j0, j1, b0, len);
            block_end(&b);
            TC_IN(orow + b0 * es, len * es, p->lo_o, p->hi_o);
            store(&b, orow + b0 * es, 1, len);
        }
    }
}

int tc_direct_conv(const tc_direct_loops *k, const tc_direct_problem *p, int threads)
{
    call c = {.k = k, .p = p};
    c.units = p->m[2] > 0 ? p->n * p->cy * p->m[0] * p->m[1] : 0;
    c.tiles = tc_direct_tiles(c.units, threads);
    if (c.units == 0)
        return 0;
    if (build_spans(&c) != 0)
        return -1;
    run_tiles(&c, threads, conv_task);
    free(c.span2);
    return 0;
}

/* ---- the weight gradient: per-tile partials of every weight entry ---- */

/* sum_j y[j] * x[j*s2 + off] over j in [a, e) of one y row and one x row, in double */
static double row_dot(const call *c, const char *yrow, const char *xrow, ptrdiff_t a, ptrdiff_t e,
                      ptrdiff_t off, char *tmp)
{
    const tc_direct_problem *p = c->p;
    const ptrdiff_t es = (ptrdiff_t)dt_size(p->dtype), s2 = p->s[2];
    if (s2 == 1)
        return c->k->dot[p->dtype](yrow + a * es, xrow + (a + off) * es, e - a);
    double v = 0.0;
    for (ptrdiff_t j = a; j < e; j += QB) {
        ptrdiff_t len = min_pd(QB, e - j);
        c->k->gather[p->dtype](tmp, xrow + (j * s2 + off) * es, s2, len);
        v += c->k->dot[p->dtype](yrow + j * es, tmp, len);
    }
    return v;
}

static void wgrad_task(void *ctx, int task, int thread)
{
    (void)thread;
    const call *c = (const call *)ctx;
    const tc_direct_problem *p = c->p;
    const ptrdiff_t es = (ptrdiff_t)dt_size(p->dtype), cxg = p->cx / p->groups, cyg = p->cy / p->groups;
    const ptrdiff_t kk = p->k[0] * p->k[1] * p->k[2], nw = p->cy * cxg * kk, m2 = p->m[2];
    _Alignas(64) double tmp[QB];
    double *part = c->partials + task * nw;
    memset(part, 0, (size_t)nw * sizeof(double));
    ptrdiff_t u0, u1;
    tile_range(c, task, &u0, &u1);
    for (ptrdiff_t r = u0; r < u1; ++r) { /* r = (n * m0 + j0) * m1 + j1 */
        ptrdiff_t j1 = r % p->m[1], j0 = (r / p->m[1]) % p->m[0], n = r / (p->m[1] * p->m[0]);
        for (ptrdiff_t cy = 0; cy < p->cy; ++cy) {
            const char *yrow = p->y + (((n * p->cy + cy) * p->m[0] + j0) * p->m[1] + j1) * m2 * es;
            TC_IN(yrow, m2 * es, p->lo_y, p->hi_y);
            for (ptrdiff_t t0 = 0; t0 < p->k[0]; ++t0) {
                ptrdiff_t q0 = j0 * p->s[0] + t0 * p->d[0] - p->lo[0];
                if (q0 < 0 || q0 >= p->x[0])
                    continue;
                for (ptrdiff_t t1 = 0; t1 < p->k[1]; ++t1) {
                    ptrdiff_t q1 = j1 * p->s[1] + t1 * p->d[1] - p->lo[1];
                    if (q1 < 0 || q1 >= p->x[1])
                        continue;
                    for (ptrdiff_t cl = 0; cl < cxg; ++cl) {
                        ptrdiff_t cx = cy / cyg * cxg + cl;
                        const char *xrow = p->xs + (((n * p->cx + cx) * p->x[0] + q0) * p->x[1] + q1) * p->x[2] * es;
                        double *gw = part + (cy * cxg + cl) * kk + (t0 * p->k[1] + t1) * p->k[2];
                        for (ptrdiff_t t2 = 0; t2 < p->k[2]; ++t2) {
                            ptrdiff_t off = t2 * p->d[2] - p->lo[2], a = c->span2[t2][0], e = c->span2[t2][1];
                            if (e <= a)
                                continue;
                            TC_IN(xrow + (a * p->s[2] + off) * es, ((e - a - 1) * p->s[2] + 1) * es, p->lo_x, p->hi_x);
                            gw[t2] += row_dot(c, yrow, xrow, a, e, off, (char *)tmp);
                        }
                    }
                }
            }
        }
    }
}

int tc_direct_weight_grad(const tc_direct_loops *k, const tc_direct_problem *p, int threads)
{
    const ptrdiff_t nw = p->cy * (p->cx / p->groups) * p->k[0] * p->k[1] * p->k[2];
    call c = {.k = k, .p = p};
    c.units = p->m[2] > 0 ? p->n * p->m[0] * p->m[1] : 0;
    c.tiles = tc_direct_tiles(c.units, threads);
    if (c.tiles > 0 && nw > 0) {
        c.partials = (double *)malloc((size_t)(c.tiles * nw) * sizeof(double));
        if (!c.partials || build_spans(&c) != 0) {
            free(c.partials);
            return -1;
        }
        run_tiles(&c, threads, wgrad_task);
        free(c.span2);
    } else {
        c.tiles = 0;
    }
    for (ptrdiff_t i = 0; i < nw; ++i) { /* tile order: the same sums for the same thread count */
        double v = 0.0;
        for (ptrdiff_t t = 0; t < c.tiles; ++t)
            v += c.partials[t * nw + i];
        TC_IN(p->out + i * (ptrdiff_t)dt_size(p->dtype), dt_size(p->dtype), p->lo_o, p->hi_o);
        if (p->dtype == TC_F32)
            ((float *)p->out)[i] = (float)v;
        else
            ((double *)p->out)[i] = v;
    }
    free(c.partials);
    return 0;
}

/* ---- im2col: one (channel, sample) plane of the column buffer per unit ---- */

static void im2col_task(void *ctx, int task, int thread)
{
    (void)thread;
    const call *c = (const call *)ctx;
    const tc_direct_problem *p = c->p;
    const ptrdiff_t es = (ptrdiff_t)dt_size(p->dtype), mrow = p->m[0] * p->m[1] * p->m[2], m2 = p->m[2];
    const ptrdiff_t kk = p->k[0] * p->k[1] * p->k[2];
    ptrdiff_t u0, u1;
    tile_range(c, task, &u0, &u1);
    for (ptrdiff_t u = u0; u < u1; ++u) { /* u = cx * nb + b */
        ptrdiff_t cx = u / c->nb, b = u % c->nb;
        const char *plane = p->xs + ((c->n_first + b) * p->cx + cx) * p->x[0] * p->x[1] * p->x[2] * es;
        for (ptrdiff_t t = 0; t < kk; ++t) {
            ptrdiff_t t2 = t % p->k[2], t1 = (t / p->k[2]) % p->k[1], t0 = t / (p->k[2] * p->k[1]);
            ptrdiff_t off0 = t0 * p->d[0] - p->lo[0], off1 = t1 * p->d[1] - p->lo[1], off2 = t2 * p->d[2] - p->lo[2];
            ptrdiff_t a0, e0, a1, e1, a2, e2;
            tap_span(off0, p->s[0], p->m[0], p->x[0], &a0, &e0);
            tap_span(off1, p->s[1], p->m[1], p->x[1], &a1, &e1);
            tap_span(off2, p->s[2], m2, p->x[2], &a2, &e2);
            char *blk = p->out + ((cx * kk + t) * c->nb + b) * mrow * es;
            TC_IN(blk, mrow * es, p->lo_o, p->hi_o);
            for (ptrdiff_t j0 = 0; j0 < p->m[0]; ++j0) {
                for (ptrdiff_t j1 = 0; j1 < p->m[1]; ++j1) {
                    char *dst = blk + (j0 * p->m[1] + j1) * m2 * es;
                    if (j0 < a0 || j0 >= e0 || j1 < a1 || j1 >= e1 || e2 <= a2) {
                        memset(dst, 0, (size_t)(m2 * es));
                        continue;
                    }
                    const char *src = plane + (((j0 * p->s[0] + off0) * p->x[1] + j1 * p->s[1] + off1) * p->x[2]
                                               + a2 * p->s[2] + off2) * es;
                    TC_IN(src, ((e2 - a2 - 1) * p->s[2] + 1) * es, p->lo_x, p->hi_x);
                    memset(dst, 0, (size_t)(a2 * es));
                    c->k->gather[p->dtype](dst + a2 * es, src, p->s[2], e2 - a2);
                    memset(dst + e2 * es, 0, (size_t)((m2 - e2) * es));
                }
            }
        }
    }
}

int tc_im2col(const tc_direct_loops *k, const tc_direct_problem *p, ptrdiff_t n_first, ptrdiff_t nb, int threads)
{
    call c = {.k = k, .p = p, .n_first = n_first, .nb = nb};
    c.units = p->cx * nb;
    c.tiles = tc_direct_tiles(c.units, threads);
    run_tiles(&c, threads, im2col_task);
    return 0;
}

int tc_all_finite(const void *a, ptrdiff_t n, tc_dtype dt)
{
    int ok = 1; /* x - x is 0 for a finite x, NaN otherwise: no branch, so the loop vectorises */
    if (dt == TC_F32)
        for (ptrdiff_t i = 0; i < n; ++i)
            ok &= ((const float *)a)[i] - ((const float *)a)[i] == 0.0f;
    else
        for (ptrdiff_t i = 0; i < n; ++i)
            ok &= ((const double *)a)[i] - ((const double *)a)[i] == 0.0;
    return ok;
}

const tc_direct_loops *tc_direct_for(const char *isa)
{
#if defined(__x86_64__) /* the AVX builds exist only there (setup.py) */
    if (strcmp(isa, "avx512") == 0)
        return &tc_direct_avx512;
    if (strcmp(isa, "avx2") == 0)
        return &tc_direct_avx2;
#endif
    (void)isa;
    return &tc_direct_generic;
}
