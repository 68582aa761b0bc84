/* brgemm.c: conv and conv_transpose as batch-reduce GEMMs over a channels-last copy of the input.
 *
 * Per axis both operations are one or more "phases" of a correlation: output cell o = r + so*q of
 * phase r receives, for each tap t of the phase, in[q*si + off(t)] times the tap's weight, summed
 * over the group's input channels (canonical 3-D form, direct.h):
 *   conv:           one phase, so = 1, si = s, every tap, off(t) = t*d - lo        (in = x, out = y)
 *   conv_transpose: s phases r < s, so = s, si = 1, the taps with (r + lo - t*d) % s == 0,
 *                   off(t) = (r + lo - t*d) / s (XNNPACK's deconvolution phases)  (in = y, out = x)
 * The input is first copied channels-last, zero padded to every cell a tap reads:
 *   copy[n, e0, e1, e2, c] = in[n, c, e + first]  (zero outside the input)
 * so that any MR positions of a phase (consecutive in its cells, across its rows) are MR rows of a
 * GEMM whose depth step (tap, channel) lies at a fixed offset from each row's cell in the copy,
 * channels contiguous: the register tile broadcasts them where they lie (ukernel.inc, UK_ROWS) and
 * streams the weights, packed once per call as (tap, channel) x NR output channels.  Against the
 * implicit GEMM of convplan.c, which copies every input cell once per tap into its B panels, the
 * input is copied once; the weights are the packed operand, read by every tile from L1/L2.  A tile
 * is MR positions x NR output channels, written straight into the output (each cell once, by one
 * thread); tiles run along the phase's cells, across its rows where they are short (fewer than
 * BR_ROW_TILES tiles: L1's 8 cells ran 92 -> 66 ms on one core), within each row where they are long
 * (a tile across two rows reads two neighbourhoods: L9 and R1 ran 2-5% slower that way).  Where every
 * phase has the same units (the usual case: the output's extents multiples of the strides) the phases'
 * units run interleaved, the phases of the same rows, channels and sample one after the other, so the
 * output lines they share are completed while in cache (one core: L3 67 -> 57-62 ms, L7 122-129 ->
 * 107-113, L8 30-36 -> 23-24; a phase after phase sweep wrote every line once per phase).  Units:
 * (phase, sample, group, a long row or BR_BLOCK_TILES tiles, channel panel), split into a few contiguous tiles per thread; samples in
 * chunks whose copy stays within BR_COPY_BYTES.
 * float32 sums run in float32, a tile of more than BR_LONG_TERMS terms in chunks of about
 * BR_CHUNK_TERMS summed in a tile buffer (as the GEMMs' depth blocks); the result does not depend on
 * the thread count.  Zero padding is multiplied like PyTorch's convolutions multiply theirs, so a
 * non-finite weight gives their NaNs. */
#include "brgemm.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "pool.h"
#include "scratch.h"

#define BR_COPY_BYTES ((ptrdiff_t)32 << 20) /* the input copy of a batch chunk, at least one sample */
#define TC_BR_TILE_MAX (16 * 32) /* doubles: the largest register tile's bytes (AVX-512 float32 14 x 32) */
#define TC_BR_MR_MAX 16          /* the most rows of a register tile */
#define BR_BLOCK_TILES 8 /* tiles per unit (one panel of output channels): the rows their A reads stay in L2 */
#define BR_TILES_PER_THREAD 16 /* work tiles per thread: a thread slowed by the machine hands the others more */
#define BR_ROW_TILES 4   /* a phase's rows of at least this many tiles keep each tile in one row */
#define BR_LONG_TERMS 4096 /* a tile's sum of more terms runs in depth chunks of about BR_CHUNK_TERMS, */
#define BR_CHUNK_TERMS 256 /* the chunks' sums added in a tile buffer (float32 error as the GEMMs' KC blocks) */

static ptrdiff_t min_pd(ptrdiff_t a, ptrdiff_t b) { return a < b ? a : b; }
static ptrdiff_t max_pd(ptrdiff_t a, ptrdiff_t b) { return a > b ? a : b; }
static ptrdiff_t floor_div(ptrdiff_t a, ptrdiff_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

/* one axis: its phases, each phase's cells and taps (tap indices and input offsets, phase by phase) */
typedef struct {
    ptrdiff_t nph, si, so;       /* phases; input step and output step between a phase's cells */
    ptrdiff_t *count;            /* per phase: output cells */
    ptrdiff_t *start;            /* per phase: its first tap in tap/off (nph + 1 entries) */
    ptrdiff_t *tap, *off;        /* k entries */
    ptrdiff_t first, ext;        /* the copy: input cells [first, first + ext) */
} br_axis;

typedef struct {
    const tc_gemm_kernel *kr;
    const tc_direct_problem *p;
    int transpose;
    ptrdiff_t es, mr, nr;
    ptrdiff_t cin, cout, cig, cog, npanels;
    const ptrdiff_t *I, *O;      /* input and output extents */
    const char *in;              /* the input array */
    br_axis ax[3];
    ptrdiff_t nph;               /* phases in all (their product) */
    ptrdiff_t *ph_taps;          /* per phase: its taps in all (product of the axes') */
    ptrdiff_t *ph_toff;          /* per phase: its first entry in toff */
    ptrdiff_t *ph_woff;          /* per phase: its first element in the packed weights */
    ptrdiff_t *ph_units;         /* per phase: units before it (nph + 1 entries) */
    ptrdiff_t *ph_cb;            /* per phase: channels per depth chunk (cig: one chunk) */
    ptrdiff_t *toff;             /* per phase tap: its offset in the copy (elements) */
    void *mem;                   /* the tables in one block */
    int too_large;               /* an axis of the copy past the index range */
    /* the call's: */
    const char *wpk;             /* the packed weights */
    char *wdst;                  /* where pack_block writes them */
    char *copy;                  /* the copy of a batch chunk */
    ptrdiff_t n0, nb;            /* the chunk: samples [n0, n0 + nb) */
    ptrdiff_t copy_rows, units, tiles, pack_blocks;
    int even;                    /* every phase has the same units: they run interleaved */
} br_call;

/* a plan: the call's tables for one problem's extents and parameters (no array pointers) */
struct tc_brgemm_plan {
    br_call c;
    tc_direct_problem p;
};

/* ---- the phases of each axis ---- */

/* Fills ax (arrays from *mem) for axis a; returns the number of ptrdiff_t taken from mem. */
static ptrdiff_t axis_phases(br_call *c, int a, ptrdiff_t *mem)
{
    const tc_direct_problem *p = c->p;
    br_axis *x = &c->ax[a];
    const ptrdiff_t k = p->k[a], s = p->s[a], d = p->d[a], lo = p->lo[a], O = c->O[a];
    x->nph = c->transpose ? min_pd(s, max_pd(O, 1)) : 1; /* a phase r >= O has no cell */
    x->si = c->transpose ? 1 : s;
    x->so = c->transpose ? s : 1;
    x->count = mem, x->start = mem + x->nph, x->tap = x->start + x->nph + 1, x->off = x->tap + k;
    ptrdiff_t n = 0, lo_in = 0, hi_in = -1;
    for (ptrdiff_t r = 0; r < x->nph; ++r) {
        x->count[r] = c->transpose ? (O > r ? (O - r + s - 1) / s : 0) : O;
        x->start[r] = n;
        for (ptrdiff_t u = 0; u < k; ++u) { /* taps in the order of their offsets (rising in the copy) */
            const ptrdiff_t t = c->transpose ? k - 1 - u : u;
            ptrdiff_t v = c->transpose ? r + lo - t * d : t * d - lo;
            if (c->transpose && (v % s + s) % s != 0)
                continue;
            x->tap[n] = t;
            x->off[n] = c->transpose ? floor_div(v, s) : v;
            if (x->count[r] > 0) { /* the input cells this tap reads for the phase */
                ptrdiff_t a0 = x->off[n], a1 = (x->count[r] - 1) * x->si + x->off[n];
                lo_in = hi_in < lo_in ? a0 : min_pd(lo_in, a0);
                hi_in = max_pd(hi_in, a1);
            }
            ++n;
        }
    }
    x->start[x->nph] = n;
    x->first = hi_in < lo_in ? 0 : lo_in;
    x->ext = hi_in < lo_in ? 1 : hi_in - lo_in + 1;
    ptrdiff_t tail; /* a long row's last tile reads MR rows a step apart: they lie in the copy */
    if (a == 2 && (__builtin_mul_overflow(c->mr - 1, x->si, &tail) || __builtin_add_overflow(x->ext, tail, &x->ext)))
        c->too_large = 1; /* a conv stride near 2**61 (sizes_fit refuses the call) */
    return 2 * x->nph + 1 + 2 * k;
}

/* elements of one sample's copy */
static ptrdiff_t copy_elems(const br_call *c) { return c->ax[0].ext * c->ax[1].ext * c->ax[2].ext * c->cin; }

/* whether a phase's rows of q2 cells are long: each tile in one row, a unit one row */
static int in_rows(const br_call *c, ptrdiff_t q2) { return q2 >= BR_ROW_TILES * c->mr; }

/* the units of a phase of Q[0] x Q[1] x Q[2] cells (per sample, group and panel): its rows, or
 * blocks of BR_BLOCK_TILES tiles of MR consecutive cells */
static ptrdiff_t blocks_of(const br_call *c, const ptrdiff_t *Q)
{
    const ptrdiff_t per = BR_BLOCK_TILES * c->mr;
    return in_rows(c, Q[2]) ? Q[0] * Q[1] : (Q[0] * Q[1] * Q[2] + per - 1) / per;
}

/* The phases' products: taps, their offsets in the copy, where their weights go, units before each
 * (per sample: a chunk of nb samples has nb times as many). */
static void phase_tables(br_call *c)
{
    const br_axis *A = c->ax;
    ptrdiff_t t_all = 0, w_all = 0, u_all = 0, ph = 0;
    for (ptrdiff_t r0 = 0; r0 < A[0].nph; ++r0)
        for (ptrdiff_t r1 = 0; r1 < A[1].nph; ++r1)
            for (ptrdiff_t r2 = 0; r2 < A[2].nph; ++r2, ++ph) {
                const ptrdiff_t r[3] = {r0, r1, r2};
                ptrdiff_t nt[3];
                for (int a = 0; a < 3; ++a)
                    nt[a] = A[a].start[r[a] + 1] - A[a].start[r[a]];
                c->ph_taps[ph] = nt[0] * nt[1] * nt[2];
                c->ph_cb[ph] = c->ph_taps[ph] * c->cig <= BR_LONG_TERMS ? c->cig
                                                                       : max_pd(1, BR_CHUNK_TERMS / c->ph_taps[ph]);
                c->ph_toff[ph] = t_all;
                c->ph_woff[ph] = w_all;
                c->ph_units[ph] = u_all;
                for (ptrdiff_t i0 = 0; i0 < nt[0]; ++i0)
                    for (ptrdiff_t i1 = 0; i1 < nt[1]; ++i1)
                        for (ptrdiff_t i2 = 0; i2 < nt[2]; ++i2) {
                            ptrdiff_t o0 = A[0].off[A[0].start[r0] + i0] - A[0].first;
                            ptrdiff_t o1 = A[1].off[A[1].start[r1] + i1] - A[1].first;
                            ptrdiff_t o2 = A[2].off[A[2].start[r2] + i2] - A[2].first;
                            c->toff[t_all++] = ((o0 * A[1].ext + o1) * A[2].ext + o2) * c->cin;
                        }
                w_all += c->p->groups * c->npanels * c->ph_taps[ph] * c->cig * c->nr;
                const ptrdiff_t Q[3] = {A[0].count[r0], A[1].count[r1], A[2].count[r2]};
                u_all += c->p->groups * blocks_of(c, Q) * c->npanels;
            }
    c->ph_units[ph] = u_all;
    c->even = 1;
    for (ptrdiff_t i = 1; i < c->nph; ++i)
        c->even &= c->ph_units[i + 1] - c->ph_units[i] == c->ph_units[1];
}

/* ---- the weights, packed per (phase, group, channel panel) as (tap, channel) x NR ---- */

/* weight element (output channel co, input channel ci of the group, tap index kt) */
static ptrdiff_t weight_at(const br_call *c, ptrdiff_t g, ptrdiff_t co, ptrdiff_t ci, ptrdiff_t kt)
{
    const ptrdiff_t kk = c->p->k[0] * c->p->k[1] * c->p->k[2];
    if (c->transpose) /* w (Cy, Cx/g, k): the input channel is cy, the output channel cx */
        return ((g * c->cig + ci) * c->cog + co) * kk + kt;
    return ((g * c->cog + co) * c->cig + ci) * kk + kt; /* w (Cy, Cx/g, k): output cy, input cx */
}

/* block b = (phase, group, panel) of the packed weights */
static void pack_block(const br_call *c, ptrdiff_t b)
{
    const br_axis *A = c->ax;
    const ptrdiff_t per_ph = c->p->groups * c->npanels, ph = b / per_ph, g = b % per_ph / c->npanels;
    const ptrdiff_t pj = b % c->npanels, nt = c->ph_taps[ph], nr = c->nr, es = c->es;
    const ptrdiff_t r2 = ph % A[2].nph, r1 = ph / A[2].nph % A[1].nph, r0 = ph / A[2].nph / A[1].nph;
    const ptrdiff_t nt1 = A[1].start[r1 + 1] - A[1].start[r1], nt2 = A[2].start[r2 + 1] - A[2].start[r2];
    const ptrdiff_t ncol = min_pd(nr, c->cog - pj * nr);
    char *dst = c->wdst + (c->ph_woff[ph] + (g * c->npanels + pj) * nt * c->cig * nr) * es;
    for (ptrdiff_t c0 = 0; c0 < c->cig; c0 += c->ph_cb[ph]) /* depth chunk by chunk: (tap, channel) each */
        for (ptrdiff_t t = 0; t < nt; ++t) {
            ptrdiff_t k0 = A[0].tap[A[0].start[r0] + t / (nt1 * nt2)], k1 = A[1].tap[A[1].start[r1] + t / nt2 % nt1];
            ptrdiff_t kt = (k0 * c->p->k[1] + k1) * c->p->k[2] + A[2].tap[A[2].start[r2] + t % nt2];
            for (ptrdiff_t ci = c0; ci < min_pd(c->cig, c0 + c->ph_cb[ph]); ++ci, dst += nr * es) {
                const ptrdiff_t w0 = weight_at(c, g, pj * nr, ci, kt), step = weight_at(c, g, pj * nr + 1, ci, kt) - w0;
                TC_CHECK(c->p->w + w0 * es >= c->p->lo_w && c->p->w + (w0 + (ncol - 1) * step + 1) * es <= c->p->hi_w);
                if (es == 4) /* the panel's output channels a fixed step apart in the weight */
                    for (ptrdiff_t j = 0; j < ncol; ++j)
                        ((float *)dst)[j] = ((const float *)c->p->w)[w0 + j * step];
                else
                    for (ptrdiff_t j = 0; j < ncol; ++j)
                        ((double *)dst)[j] = ((const double *)c->p->w)[w0 + j * step];
                memset(dst + ncol * es, 0, (size_t)((nr - ncol) * es));
            }
        }
}

/* ---- the channels-last copy ---- */

/* cells [ja, je) of a copy row, 8 channels at a time (their 8 source rows stay in L1) */
#define BR_COPY_CELLS(T)                                                                           \
    for (ptrdiff_t c0 = 0; c0 < cin; c0 += 8) {                                                    \
        const ptrdiff_t cn = min_pd(8, cin - c0);                                                  \
        for (ptrdiff_t j = ja; j < je; ++j)                                                        \
            for (ptrdiff_t q = 0; q < cn; ++q)                                                     \
                ((T *)dst)[j * cin + c0 + q] = ((const T *)src)[(c0 + q) * plane + f2 + j];        \
    }

/* copy row (sample nl of the chunk, e0, e1): E2 cells of cin channels, zero outside the input */
static void copy_row(const br_call *c, ptrdiff_t row)
{
    const br_axis *A = c->ax;
    const ptrdiff_t e1 = row % A[1].ext, e0 = row / A[1].ext % A[0].ext, nl = row / A[1].ext / A[0].ext;
    const ptrdiff_t es = c->es, cin = c->cin, E2 = A[2].ext;
    const ptrdiff_t i0 = e0 + A[0].first, i1 = e1 + A[1].first, f2 = A[2].first;
    char *dst = c->copy + (row * E2) * cin * es;
    if (i0 < 0 || i0 >= c->I[0] || i1 < 0 || i1 >= c->I[1]) {
        memset(dst, 0, (size_t)(E2 * cin * es));
        return;
    }
    const ptrdiff_t ja = min_pd(E2, max_pd(0, -f2)), je = max_pd(ja, min_pd(E2, c->I[2] - f2));
    memset(dst, 0, (size_t)(ja * cin * es));
    memset(dst + je * cin * es, 0, (size_t)((E2 - je) * cin * es));
    const ptrdiff_t plane = c->I[0] * c->I[1] * c->I[2];
    const char *src = c->in + ((((c->n0 + nl) * cin) * c->I[0] + i0) * c->I[1] + i1) * c->I[2] * es;
    TC_CHECK(je <= ja || (src + (ja + f2) * es >= (c->transpose ? c->p->lo_y : c->p->lo_x) &&
                          src + ((cin - 1) * plane + je + f2) * es <= (c->transpose ? c->p->hi_y : c->p->hi_x)));
    tc_pack_rm fast = c->kr->pack_rm;
    if (es == 4 && fast) { /* the ISA's transposing pack, 16 channels at a time */
        for (ptrdiff_t c0 = 0; c0 < cin; c0 += 16)
            fast((const float *)src + c0 * plane + f2 + ja, plane, je - ja, (int)min_pd(16, cin - c0),
                 (float *)dst + ja * cin + c0, cin);
    } else if (es == 4) {
        BR_COPY_CELLS(float);
    } else {
        BR_COPY_CELLS(double);
    }
}

/* tasks: the copy's rows in tiles, then (first chunk only) the weight blocks one by one */
static void prep_task(void *ctx, int task, int thread)
{
    (void)thread;
    const br_call *c = (const br_call *)ctx;
    const ptrdiff_t ctiles = tc_direct_tiles(c->copy_rows, 64);
    if (task < ctiles) {
        ptrdiff_t r0, r1;
        tc_direct_tile_range(c->copy_rows, ctiles, task, &r0, &r1);
        for (ptrdiff_t r = r0; r < r1; ++r)
            copy_row(c, r);
        return;
    }
    pack_block(c, task - ctiles);
}

/* ---- the tiles ---- */

/* A tile of a long sum: its depth chunks (ph_cb channels over every tap each) summed in a tile buffer
 * (the kernel's full tile, C contiguous), then the buffer's m x ncol cells stored at o + coff[i]
 * (o + i * so without a table). */
static void long_tile(const br_call *c, tc_rows_a *ra, tc_ukernel_rows kern, ptrdiff_t kmr, ptrdiff_t ph,
                      const char *bp, char *o, ptrdiff_t m, ptrdiff_t ncol, ptrdiff_t so)
{
    const ptrdiff_t es = c->es, nr = c->nr, cb = c->ph_cb[ph], plane = c->O[0] * c->O[1] * c->O[2];
    const ptrdiff_t *coff = ra->coff;
    const char *src = (const char *)ra->src;
    _Alignas(TC_ALIGN) double buf[TC_BR_TILE_MAX];
    TC_CHECK(kmr <= c->mr && c->mr * nr * es <= (ptrdiff_t)sizeof(buf));
    ra->coff = NULL;
    for (ptrdiff_t c0 = 0; c0 < c->cig; c0 += cb) {
        ra->src = src + c0 * es;
        ra->depth = min_pd(cb, c->cig - c0);
        kern(ra, bp + c0 * c->ph_taps[ph] * nr * es, buf, nr, 1, kmr, nr, 1.0, c0 ? 1.0 : 0.0);
    }
    ra->src = src, ra->depth = c->cig, ra->coff = coff;
    for (ptrdiff_t j = 0; j < ncol; ++j)
        for (ptrdiff_t i = 0; i < m; ++i)
            memcpy(o + (j * plane + (coff ? coff[i] : i * so)) * es, (const char *)buf + (i * nr + j) * es, (size_t)es);
}

/* A long row of `cells` cells as full tiles (MR) then short ones (MS = short_mr[0], 0: none):
 * the number of full tiles, chosen so that the tiles compute the fewest rows (then are the fewest).
 * R1's rows of 56 cells on AVX2 (6 x 16, short 4 x 16) are 8 x 6 + 2 x 4 rather than 10 x 6, the
 * last of which computed 4 rows for nothing.  brgemm.py's tile_shape counts the same split. */
static ptrdiff_t full_tiles(ptrdiff_t cells, ptrdiff_t mr, ptrdiff_t ms)
{
    ptrdiff_t best = (cells + mr - 1) / mr, rows = best * mr, tiles = best;
    for (ptrdiff_t ns = 1; ms > 0 && ns * ms % mr != 0; ++ns) { /* past lcm(MR, MS) rows full tiles do as well */
        const ptrdiff_t nf = cells > ns * ms ? (cells - ns * ms + mr - 1) / mr : 0;
        const ptrdiff_t nsh = (max_pd(0, cells - nf * mr) + ms - 1) / ms;
        if (nf * mr + nsh * ms < rows || (nf * mr + nsh * ms == rows && nf + nsh < tiles))
            best = nf, rows = nf * mr + nsh * ms, tiles = nf + nsh;
    }
    return best;
}

/* the tile's rows: positions p0 .. p0 + MR - 1 of the phase (the last valid one repeated past `cells`),
 * (q0, q1, q2) stepped from q[], their offsets in the copy (roff) and in the output (coff) */
static void tile_rows(const br_call *c, const ptrdiff_t *r, const ptrdiff_t *Q, ptrdiff_t *q, ptrdiff_t m,
                      ptrdiff_t *roff, ptrdiff_t *coff)
{
    const br_axis *A = c->ax;
    for (ptrdiff_t i = 0; i < c->mr; ++i) {
        if (i < m) {
            roff[i] = ((q[0] * A[0].si * A[1].ext + q[1] * A[1].si) * A[2].ext + q[2] * A[2].si) * c->cin;
            coff[i] = ((r[0] + q[0] * A[0].so) * c->O[1] + r[1] + q[1] * A[1].so) * c->O[2] + r[2] + q[2] * A[2].so;
            if (++q[2] == Q[2] && (q[2] = 0, ++q[1] == Q[1]))
                q[1] = 0, ++q[0];
        } else {
            roff[i] = roff[m - 1], coff[i] = coff[m - 1];
        }
    }
}

/* unit u of phase ph: (sample, group, row or block of tiles, panel); a tile is MR consecutive
 * positions of the phase, within a long row, across short ones */
static void run_unit(const br_call *c, ptrdiff_t ph, ptrdiff_t u)
{
    const br_axis *A = c->ax;
    const tc_direct_problem *p = c->p;
    const ptrdiff_t r[3] = {ph / A[2].nph / A[1].nph, ph / A[2].nph % A[1].nph, ph % A[2].nph};
    const ptrdiff_t Q[3] = {A[0].count[r[0]], A[1].count[r[1]], A[2].count[r[2]]}, cells = Q[0] * Q[1] * Q[2];
    const ptrdiff_t nblk = blocks_of(c, Q), pj = u % c->npanels, tb = u / c->npanels % nblk;
    const int rows = in_rows(c, Q[2]);
    const ptrdiff_t g = u / c->npanels / nblk % p->groups, nl = u / c->npanels / nblk / p->groups;
    const ptrdiff_t es = c->es, mr = c->mr, nr = c->nr, nt = c->ph_taps[ph];
    const ptrdiff_t plane = c->O[0] * c->O[1] * c->O[2], ncol = min_pd(nr, c->cog - pj * nr);
    const char *abase = c->copy + ((nl * A[0].ext * A[1].ext * A[2].ext) * c->cin + g * c->cig) * es;
    char *obase = p->out + (((c->n0 + nl) * c->cout + g * c->cog + pj * nr) * plane) * es;
    const char *bp = c->wpk + (c->ph_woff[ph] + (g * c->npanels + pj) * nt * c->cig * nr) * es;
    ptrdiff_t roff[TC_BR_MR_MAX], coff[TC_BR_MR_MAX], p0 = rows ? tb * Q[2] : tb * BR_BLOCK_TILES * mr;
    ptrdiff_t q[3] = {p0 / (Q[1] * Q[2]), p0 / Q[2] % Q[1], p0 % Q[2]};
    tc_rows_a ra = {.src = nt ? abase : c->copy, .roff = roff, .coff = coff, .depth = c->cig,
                    .toff = c->toff + c->ph_toff[ph], .ntaps = (int)nt};
    char *o = obase;
    TC_CHECK(mr <= TC_BR_MR_MAX);
    const char *arow = abase;
    if (rows) { /* a long row: its tiles' rows a fixed step apart in the copy and in the output */
        ra.roff = ra.coff = NULL, ra.rs = A[2].si * c->cin;
        tile_rows(c, r, Q, (ptrdiff_t[3]){q[0], q[1], 0}, 1, roff, coff); /* the row's first cell */
        arow = abase + roff[0] * es, o = obase + coff[0] * es;
    }
    const ptrdiff_t p1 = rows ? p0 + Q[2] : min_pd(cells, p0 + BR_BLOCK_TILES * mr);
    /* a long row ends in short tiles; a block across short rows stays in full ones (only a phase's last
     * block is partial there: L1's blocks gained nothing measurable) */
    const ptrdiff_t ms = rows && c->kr->rows_short ? c->kr->short_mr[0] : 0, nfull = full_tiles(p1 - p0, mr, ms);
    for (ptrdiff_t m, t = 0; p0 < p1; p0 += m, ++t) {
        const tc_ukernel_rows kern = t < nfull ? c->kr->rows_kernel : c->kr->rows_short;
        const ptrdiff_t kmr = t < nfull ? mr : ms;
        m = min_pd(kmr, p1 - p0);
        if (rows) { /* the tile at cell q2 of the row: the kernel steps from its first cell */
            ra.src = nt ? arow + (p0 - tb * Q[2]) * ra.rs * es : c->copy;
#ifdef TC_DEBUG
            tile_rows(c, r, Q, q, m, roff, coff); /* for the checks below */
#endif
        } else {
            tile_rows(c, r, Q, q, m, roff, coff);
        }
#ifdef TC_DEBUG
        const char *copy_end = c->copy + c->nb * copy_elems(c) * es;
        for (ptrdiff_t i = 0; i < m; ++i) {
            TC_CHECK(obase + coff[i] * es >= p->lo_o && obase + (coff[i] + (ncol - 1) * plane + 1) * es <= p->hi_o);
            for (int t = 0; t < ra.ntaps; ++t) /* every row's reads of every tap inside the copy */
                TC_CHECK(abase + (roff[i] + ra.toff[t]) * es >= c->copy &&
                         abase + (roff[i] + ra.toff[t] + c->cig) * es <= copy_end);
        }
        for (ptrdiff_t i = m; rows && i < mr; ++i) { /* the rows past a long row's end, read and dropped */
            for (int t = 0; t < ra.ntaps; ++t)
                TC_CHECK(abase + (roff[0] + i * ra.rs + ra.toff[t] + c->cig) * es <= copy_end);
        }
#endif
        char *ot = rows ? o + (p0 - tb * Q[2]) * A[2].so * es : obase;
        if (c->ph_cb[ph] >= c->cig) /* one chunk: straight into the output */
            kern(&ra, bp, ot, A[2].so, plane, m, ncol, 1.0, 0.0);
        else
            long_tile(c, &ra, kern, kmr, ph, bp, ot, m, ncol, rows ? A[2].so : 0);
    }
}

static void run_task(void *ctx, int task, int thread)
{
    (void)thread;
    const br_call *c = (const br_call *)ctx;
    ptrdiff_t u0, u1, ph = 0;
    tc_direct_tile_range(c->units, c->tiles, task, &u0, &u1);
    for (ptrdiff_t u = u0; u < u1; ++u) {
        if (c->even) { /* phases of the same rows, channels and sample one after the other */
            run_unit(c, u % c->nph, u / c->nph);
            continue;
        }
        while (u >= c->nb * c->ph_units[ph + 1])
            ++ph;
        run_unit(c, ph, u - c->nb * c->ph_units[ph]);
    }
}

/* ---- the call ---- */

/* the output phases of the problem (1 for conv) */
static ptrdiff_t output_phases(const tc_direct_problem *p, int transpose)
{
    if (!transpose)
        return 1;
    ptrdiff_t n = 1;
    for (int a = 0; a < 3; ++a) /* each factor at most the output's extent, the product at most its cells */
        n *= min_pd(p->s[a], max_pd(p->x[a], 1));
    return n;
}

/* the weight blocks, (phase, group, channel panel): one pool task each when they are packed */
static ptrdiff_t weight_blocks(const br_call *c) { return c->nph * c->p->groups * c->npanels; }

/* whether the call's sizes stay in range: one sample's copy and the packed weights below 2**61 bytes,
 * weight_blocks below 2**31 (its product overflow-checked here) */
static int sizes_fit(const br_call *c)
{
    const ptrdiff_t limit = (ptrdiff_t)1 << 61;
    ptrdiff_t n = c->es, w = c->p->groups * c->es, blocks; /* n: the copy's cells (channels apart), times es */
    if (c->too_large)
        return 0;
    for (int a = 0; a < 3; ++a)
        if (__builtin_mul_overflow(n, c->ax[a].ext, &n) || __builtin_mul_overflow(w, c->p->k[a], &w) || n >= limit)
            return 0;
    if (__builtin_mul_overflow(n, c->cin, &n) || n >= limit)
        return 0;
    if (__builtin_mul_overflow(w, c->npanels * c->cig * c->nr, &w) || w >= limit)
        return 0;
    return !__builtin_mul_overflow(c->nph * c->p->groups, c->npanels, &blocks) && blocks < INT_MAX;
}

/* the shape of the call (no memory but c->mem, the tables); TC_BRGEMM_TOO_MANY_PHASES, TC_BRGEMM_TOO_LARGE
 * (sizes_fit), or -1 out of memory */
static int br_shape(br_call *c, const tc_isa_table *isa, const tc_direct_problem *p, int transpose)
{
    *c = (br_call){.kr = &isa->gemm[p->dtype], .p = p, .transpose = transpose};
    c->es = (ptrdiff_t)tc_dtype_size(p->dtype), c->mr = c->kr->mr, c->nr = c->kr->nr;
    c->cin = transpose ? p->cy : p->cx, c->cout = transpose ? p->cx : p->cy;
    c->cig = c->cin / p->groups, c->cog = c->cout / p->groups;
    c->npanels = (c->cog + c->nr - 1) / c->nr;
    c->I = transpose ? p->m : p->x, c->O = transpose ? p->x : p->m;
    c->in = transpose ? p->y : p->xs;
    c->nph = output_phases(p, transpose);
    if (c->nph > TC_BRGEMM_MAX_PHASES)
        return TC_BRGEMM_TOO_MANY_PHASES;
    ptrdiff_t axes = 0, taps = 1;
    for (int a = 0; a < 3; ++a) {
        axes += 2 * (transpose ? min_pd(p->s[a], max_pd(c->O[a], 1)) : 1) + 1 + 2 * p->k[a];
        taps *= p->k[a];
    }
    c->mem = malloc((size_t)(axes + 5 * c->nph + 1 + taps) * sizeof(ptrdiff_t) + 1);
    if (!c->mem)
        return -1;
    ptrdiff_t *m = (ptrdiff_t *)c->mem;
    for (int a = 0; a < 3; ++a)
        m += axis_phases(c, a, m);
    c->ph_taps = m, c->ph_toff = m + c->nph, c->ph_woff = m + 2 * c->nph, c->ph_units = m + 3 * c->nph;
    c->ph_cb = m + 4 * c->nph + 1;
    c->toff = m + 5 * c->nph + 1;
    return sizes_fit(c) ? 0 : TC_BRGEMM_TOO_LARGE;
}

/* samples per chunk: the copy of one chunk within BR_COPY_BYTES (at least one sample) */
static ptrdiff_t chunk_samples(const br_call *c)
{
    return max_pd(1, min_pd(c->p->n, BR_COPY_BYTES / max_pd(copy_elems(c) * c->es, 1)));
}

static ptrdiff_t weight_elems(const br_call *c)
{
    const ptrdiff_t taps = c->p->k[0] * c->p->k[1] * c->p->k[2]; /* every tap in one phase each */
    return c->p->groups * c->npanels * taps * c->cig * c->nr;
}

tc_brgemm_plan *tc_brgemm_plan_new(const tc_isa_table *isa, const tc_direct_problem *p, int transpose, int *rc)
{
    tc_brgemm_plan *plan = (tc_brgemm_plan *)malloc(sizeof *plan);
    *rc = -1;
    if (!plan)
        return NULL;
    plan->p = *p;
    if ((*rc = br_shape(&plan->c, isa, &plan->p, transpose)) != 0) {
        free(plan->c.mem);
        free(plan);
        return NULL;
    }
    phase_tables(&plan->c);
    return plan;
}

void tc_brgemm_plan_free(tc_brgemm_plan *plan)
{
    if (plan)
        free(plan->c.mem);
    free(plan);
}

ptrdiff_t tc_brgemm_packed_elems(const tc_brgemm_plan *plan) { return weight_elems(&plan->c); }

/* the plan's call on p's arrays (p: the plan's problem with its pointers set) */
static br_call bind(const tc_brgemm_plan *plan, const tc_direct_problem *p)
{
    br_call c = plan->c;
    c.p = p;
    c.I = c.transpose ? p->m : p->x, c.O = c.transpose ? p->x : p->m;
    c.in = c.transpose ? p->y : p->xs;
    return c;
}

static void pack_task(void *ctx, int task, int thread)
{
    (void)thread;
    pack_block((const br_call *)ctx, task);
}

void tc_brgemm_pack(const tc_brgemm_plan *plan, const tc_direct_problem *p, char *wpk, int threads)
{
    br_call c = bind(plan, p);
    c.wdst = wpk;
    tc_team team;
    tc_team_begin(&team, threads);
    tc_team_run(&team, (int)weight_blocks(&c), pack_task, &c);
    tc_team_end(&team);
}

int tc_brgemm_run(const tc_brgemm_plan *plan, const tc_direct_problem *p, const char *wpk, int threads)
{
    br_call c = bind(plan, p);
    const ptrdiff_t nb = chunk_samples(&c), per = copy_elems(&c);
    const ptrdiff_t outs = p->n * c.cout * c.O[0] * c.O[1] * c.O[2];
    if (c.cig == 0) { /* no input channel: every sum is empty */
        memset(p->out, 0, (size_t)(outs * c.es));
        return 0;
    }
    char *own = wpk ? NULL : (char *)tc_call_buffer(TC_SCRATCH_WEIGHTS, (size_t)(weight_elems(&c) * c.es));
    c.wpk = wpk ? wpk : own, c.wdst = own;
    c.copy = (char *)tc_call_buffer(TC_SCRATCH_COPY, (size_t)(nb * per * c.es));
    int ok = c.wpk && c.copy;
    if (ok && outs > 0) {
        tc_team team;
        tc_team_begin(&team, threads);
        for (c.n0 = 0; c.n0 < p->n; c.n0 += c.nb) {
            c.nb = min_pd(nb, p->n - c.n0);
            c.copy_rows = c.nb * c.ax[0].ext * c.ax[1].ext;
            c.pack_blocks = c.n0 == 0 && own ? weight_blocks(&c) : 0;
            c.units = c.nb * c.ph_units[c.nph];
            c.tiles = min_pd(c.units, team.threads <= 1 ? 1 : (ptrdiff_t)team.threads * BR_TILES_PER_THREAD);
            tc_team_run(&team, (int)(tc_direct_tiles(c.copy_rows, 64) + c.pack_blocks), prep_task, &c);
            if (c.tiles > 0)
                tc_team_run(&team, (int)c.tiles, run_task, &c);
        }
        tc_team_end(&team);
    }
    tc_call_release(TC_SCRATCH_COPY, c.copy);
    tc_call_release(TC_SCRATCH_WEIGHTS, own);
    return ok ? 0 : -1;
}

int tc_brgemm(const tc_isa_table *isa, const tc_direct_problem *p, int transpose, int threads)
{
    int rc;
    tc_brgemm_plan *plan = tc_brgemm_plan_new(isa, p, transpose, &rc);
    if (!plan)
        return rc;
    rc = tc_brgemm_run(plan, p, NULL, threads);
    tc_brgemm_plan_free(plan);
    return rc;
}
