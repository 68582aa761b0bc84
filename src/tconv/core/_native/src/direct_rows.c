/* direct_rows.c: a stride-1 direct conv or conv_transpose (2-D, 3-D) as register tiles of rows.
 *
 * With stride 1 on every axis both operations are one correlation over the group's channels,
 *   out[n, co, o] = sum_{ci, t} W[co, ci, t] * in[n, ci, o + off(t)]        (per axis)
 * conv: out = y, in = x, W = w, off(t) = t*d - lo;
 * conv_transpose: out = x, in = y, W[cx, cy] = w[cy, cx], off(t) = lo - t*d.
 * A tile is R rows x NQ cells of one output plane (n, co, o0).  Where every tap of the tile lands
 * in range (the interior), a term's input is one fixed offset away from every cell of the tile, so
 * the tile is K terms (channels x taps) of one broadcast and R*NQ/lanes multiply-adds each, no index
 * arithmetic and no bounds (tc_direct_loops.rows, direct_rows.inc).  A tile near the boundary first
 * copies the input it reads into a zero-padded patch (the group's channels x k0 planes x
 * (R + reach) rows x (NQ + reach) cells) and runs the same loop on it: the boundary costs a copy of
 * a few thousand cells per tile, not a slower loop.
 *
 * Units: (n, co, o0, group of R rows of axis 1), split into tiles as the row drivers split theirs.  The last row
 * group of a plane and the last tile of a row are moved back to end at the output's edge: their cells
 * shared with the previous group or tile are computed again and not stored (every cell written
 * once, by one thread).  float32 sums run over at most ROWS_CHUNK terms, float64 across chunks,
 * when p->acc asks for long sums (TC_ACC_F32_WIDE), as the row drivers do.  A non-finite weight
 * leaves the problem to the row drivers (a patch's zeros would turn it into NaN).  Scratch: the weights
 * re-laid (conv_transpose with several input channels per group), the offset tables, one patch per
 * thread (at most ROWS_PATCH_MAX bytes, else the row drivers run the problem). */
#include "direct_rows.h"

#include <stdlib.h>
#include <string.h>

#include "gemm.h"
#include "pool.h"
#include "scratch.h"

#define ROWS_CHUNK 128      /* float32 terms summed in float32 before the float64 total */
#define ROWS_MAX_CELLS 256  /* the most cells of one tile (R * NQ), for the stack buffers */
#define ROWS_PATCH_MAX (4 << 20) /* bytes of one thread's patch */

static ptrdiff_t min_pd(ptrdiff_t a, ptrdiff_t b) { return a < b ? a : b; }
static ptrdiff_t max_pd(ptrdiff_t a, ptrdiff_t b) { return a > b ? a : b; }

/* offset of tap t on axis ax of the input from the output position */
static ptrdiff_t tap_off(const tc_direct_problem *p, int transpose, int ax, ptrdiff_t t)
{
    return transpose ? p->lo[ax] - t * p->d[ax] : t * p->d[ax] - p->lo[ax];
}

/* extents of the output and the input side */
static const ptrdiff_t *out_ext(const tc_direct_problem *p, int transpose) { return transpose ? p->x : p->m; }
static const ptrdiff_t *in_ext(const tc_direct_problem *p, int transpose) { return transpose ? p->m : p->x; }
/* the input side's data */
static const char *in_data(const tc_direct_problem *p, int transpose) { return transpose ? p->y : p->xs; }

typedef struct {
    const tc_direct_loops *k;
    const tc_direct_problem *p;
    int transpose;
    ptrdiff_t R, NQ, es;
    ptrdiff_t K, cig, cog, cout; /* terms per output channel; channels per group; output channels */
    const char *a;               /* the weights as (Cout, K): w itself or a re-laid copy */
    const ptrdiff_t *offs;       /* the K terms' input offsets (interior tiles), in elements */
    const ptrdiff_t *poffs;      /* the same in a patch (boundary tiles) */
    ptrdiff_t off_lo, off_hi;    /* the least and greatest of offs */
    ptrdiff_t lo[3], hi[3];      /* per axis the least and greatest tap offset */
    ptrdiff_t pext[3], pcells;   /* a patch's extents (k0 planes, rows, cells) and its cells in all */
    char *patches;               /* one patch per thread */
    ptrdiff_t groups1;           /* row groups per output plane */
    ptrdiff_t units, tiles;
} rows_call;

/* the per-axis reach of the taps and the patch's extents; 0 when the problem is not for the row tiles */
static int rows_shape(rows_call *c)
{
    const tc_direct_problem *p = c->p;
    const ptrdiff_t *O = out_ext(p, c->transpose);
    if (!c->k->rows[p->dtype] || c->R * c->NQ > ROWS_MAX_CELLS || p->n <= 0 || O[1] < c->R || O[2] < c->NQ)
        return 0;
    for (int ax = 0; ax < 3; ++ax) {
        if (p->s[ax] != 1 || p->k[ax] <= 0)
            return 0;
        ptrdiff_t a = tap_off(p, c->transpose, ax, 0), b = tap_off(p, c->transpose, ax, p->k[ax] - 1);
        c->lo[ax] = min_pd(a, b);
        c->hi[ax] = max_pd(a, b);
    }
    c->pext[0] = p->k[0];
    c->pext[1] = c->R + c->hi[1] - c->lo[1];
    c->pext[2] = c->NQ + c->hi[2] - c->lo[2];
    c->pcells = c->cig; /* the products checked: a dilation near 2**60 makes the reach huge */
    for (int ax = 0; ax < 3; ++ax)
        if (__builtin_mul_overflow(c->pcells, c->pext[ax], &c->pcells) || c->pcells > ROWS_PATCH_MAX)
            return 0;
    return c->pcells * c->es <= ROWS_PATCH_MAX;
}

/* the stored cells [from, R) x [qfrom, NQ) of a tile (float32 chunks' float64 totals or the sums) */
static void store_tile(const rows_call *c, char *orow, ptrdiff_t ostride, const void *cells, const double *tot,
                       ptrdiff_t from, ptrdiff_t qfrom)
{
    const ptrdiff_t NQ = c->NQ, es = c->es;
    for (ptrdiff_t r = from; r < c->R; ++r) {
        char *o = orow + (r * ostride + qfrom) * es;
        TC_CHECK(o >= c->p->lo_o && o + (NQ - qfrom) * es <= c->p->hi_o);
        if (tot) {
            for (ptrdiff_t q = qfrom; q < NQ; ++q)
                ((float *)o)[q - qfrom] = (float)tot[r * NQ + q];
        } else {
            memcpy(o, (const char *)cells + (r * NQ + qfrom) * es, (size_t)((NQ - qfrom) * es));
        }
    }
}

/* The input a boundary tile at (o0, o1, q0) reads, zero outside the input, into `patch`:
 * patch[ci, t0, i, j] = in[ci, o0 + off0(t0), o1 + lo1 + i, q0 + lo2 + j] (`in` at the group's first channel) */
static void fill_patch(const rows_call *c, char *patch, const char *in, ptrdiff_t o0, ptrdiff_t o1, ptrdiff_t q0)
{
    const tc_direct_problem *p = c->p;
    const ptrdiff_t *I = in_ext(p, c->transpose), es = c->es, P1 = c->pext[1], P2 = c->pext[2];
    const ptrdiff_t c0 = q0 + c->lo[2], ja = max_pd(0, -c0), je = min_pd(P2, I[2] - c0);
    for (ptrdiff_t ci = 0; ci < c->cig; ++ci)
        for (ptrdiff_t t0 = 0; t0 < p->k[0]; ++t0) {
            ptrdiff_t plane = o0 + tap_off(p, c->transpose, 0, t0);
            for (ptrdiff_t i = 0; i < P1; ++i) {
                char *dst = patch + (((ci * p->k[0] + t0) * P1 + i) * P2) * es;
                ptrdiff_t row = o1 + c->lo[1] + i;
                if (plane < 0 || plane >= I[0] || row < 0 || row >= I[1] || je <= ja) {
                    memset(dst, 0, (size_t)(P2 * es));
                    continue;
                }
                const char *src = in + (((ci * I[0] + plane) * I[1] + row) * I[2] + c0) * es;
                TC_CHECK(src + ja * es >= (c->transpose ? p->lo_y : p->lo_x) &&
                         src + je * es <= (c->transpose ? p->hi_y : p->hi_x));
                memset(dst, 0, (size_t)(ja * es));
                memcpy(dst + ja * es, src + ja * es, (size_t)((je - ja) * es));
                memset(dst + je * es, 0, (size_t)((P2 - je) * es));
            }
        }
}

/* whether every tap of the tile at (o0, o1, q0) lands in range */
static int interior(const rows_call *c, ptrdiff_t o0, ptrdiff_t o1, ptrdiff_t q0)
{
    const ptrdiff_t *I = in_ext(c->p, c->transpose);
    return o0 + c->lo[0] >= 0 && o0 + c->hi[0] < I[0] && o1 + c->lo[1] >= 0 && o1 + c->R - 1 + c->hi[1] < I[1] &&
           q0 + c->lo[2] >= 0 && q0 + c->NQ - 1 + c->hi[2] < I[2];
}

/* One unit's tiles along axis 2: each the K terms (in chunks for long float32 sums), then stored. */
static void rows_unit(const rows_call *c, char *patch, ptrdiff_t n, ptrdiff_t co, ptrdiff_t o0, ptrdiff_t g)
{
    const tc_direct_problem *p = c->p;
    const ptrdiff_t *O = out_ext(p, c->transpose), *I = in_ext(p, c->transpose);
    const ptrdiff_t R = c->R, NQ = c->NQ, es = c->es;
    const ptrdiff_t a1 = g * R, o1 = min_pd(a1, O[1] - R), gi = co / c->cog;
    const int wide = p->acc == TC_ACC_F32_WIDE;
    const ptrdiff_t chunk = wide ? ROWS_CHUNK : c->K;
    char *out = p->out + ((((n * c->cout + co) * O[0] + o0) * O[1] + o1) * O[2]) * es;
    const char *in = in_data(p, c->transpose) + ((n * (c->cig * p->groups) + gi * c->cig) * I[0] * I[1] * I[2]) * es;
    const char *src = in + ((o0 * I[1] + o1) * I[2]) * es;
    const char *a = c->a + co * c->K * es;
    _Alignas(64) double cells[ROWS_MAX_CELLS], tot[ROWS_MAX_CELLS];
    for (ptrdiff_t j0 = 0; j0 < O[2]; j0 += NQ) {
        ptrdiff_t q0 = min_pd(j0, O[2] - NQ), rs = I[2];
        const ptrdiff_t *offs = c->offs;
        const char *s = src + q0 * es;
        if (interior(c, o0, o1, q0)) { /* every term in range: read the input in place */
            TC_CHECK(s + c->off_lo * es >= (c->transpose ? p->lo_y : p->lo_x) &&
                     s + (c->off_hi + (R - 1) * rs + NQ) * es <= (c->transpose ? p->hi_y : p->hi_x));
        } else {
            fill_patch(c, patch, in, o0, o1, q0);
            s = patch, rs = c->pext[2], offs = c->poffs;
        }
        if (wide)
            memset(tot, 0, (size_t)(R * NQ) * sizeof(double));
        for (ptrdiff_t k0 = 0; k0 < c->K; k0 += chunk) {
            c->k->rows[p->dtype](min_pd(chunk, c->K - k0), a + k0 * es, offs + k0, s, rs, cells);
            if (wide)
                for (ptrdiff_t i = 0; i < R * NQ; ++i)
                    tot[i] += (double)((const float *)cells)[i];
        }
        store_tile(c, out + q0 * es, O[2], cells, wide ? tot : NULL, a1 - o1, j0 - q0);
    }
}

static void rows_task(void *ctx, int task, int thread)
{
    const rows_call *c = (const rows_call *)ctx;
    const ptrdiff_t *O = out_ext(c->p, c->transpose);
    ptrdiff_t u0, u1;
    tc_direct_tile_range(c->units, c->tiles, task, &u0, &u1);
    char *patch = c->patches + (ptrdiff_t)thread * c->pcells * c->es;
    for (ptrdiff_t u = u0; u < u1; ++u) { /* u = ((n * Cout + co) * O0 + o0) * groups1 + g */
        ptrdiff_t g = u % c->groups1, r = u / c->groups1;
        rows_unit(c, patch, r / O[0] / c->cout, (r / O[0]) % c->cout, r % O[0], g);
    }
}

/* conv_transpose's weight (Cy, Cx/g, k) as (Cx, Cy/g, k): an output channel's terms contiguous */
static char *weight_by_output(const tc_direct_problem *p)
{
    const ptrdiff_t es = (ptrdiff_t)tc_dtype_size(p->dtype), cxg = p->cx / p->groups, cyg = p->cy / p->groups;
    const ptrdiff_t kk = p->k[0] * p->k[1] * p->k[2];
    char *a = (char *)tc_call_buffer(TC_SCRATCH_WEIGHTS, (size_t)(p->cx * cyg * kk * es));
    if (!a)
        return NULL;
    for (ptrdiff_t cx = 0; cx < p->cx; ++cx)
        for (ptrdiff_t cyl = 0; cyl < cyg; ++cyl) {
            ptrdiff_t cy = cx / cxg * cyg + cyl;
            memcpy(a + (cx * cyg + cyl) * kk * es, p->w + (cy * cxg + cx % cxg) * kk * es, (size_t)(kk * es));
        }
    return a;
}

/* the K = cig * taps offsets, channel-major then the taps in the weight's order: into the input
 * (offs) and into a patch (poffs) */
static void build_offsets(rows_call *c, ptrdiff_t *offs, ptrdiff_t *poffs)
{
    const tc_direct_problem *p = c->p;
    const ptrdiff_t *I = in_ext(p, c->transpose), P1 = c->pext[1], P2 = c->pext[2];
    ptrdiff_t k = 0;
    for (ptrdiff_t ci = 0; ci < c->cig; ++ci)
        for (ptrdiff_t t0 = 0; t0 < p->k[0]; ++t0)
            for (ptrdiff_t t1 = 0; t1 < p->k[1]; ++t1)
                for (ptrdiff_t t2 = 0; t2 < p->k[2]; ++t2, ++k) {
                    ptrdiff_t f0 = tap_off(p, c->transpose, 0, t0), f1 = tap_off(p, c->transpose, 1, t1);
                    ptrdiff_t f2 = tap_off(p, c->transpose, 2, t2);
                    offs[k] = ((ci * I[0] + f0) * I[1] + f1) * I[2] + f2;
                    poffs[k] = ((ci * p->k[0] + t0) * P1 + f1 - c->lo[1]) * P2 + f2 - c->lo[2];
                    c->off_lo = k == 0 ? offs[k] : min_pd(c->off_lo, offs[k]);
                    c->off_hi = k == 0 ? offs[k] : max_pd(c->off_hi, offs[k]);
                }
}

/* whether every weight is finite: a patch's zeros times a non-finite weight would be NaN where the
 * row drivers (and PyTorch's conv_transpose) form no product at all */
static int weights_finite(const tc_direct_problem *p)
{
    return tc_all_finite(p->w, p->cy * (p->cx / p->groups) * p->k[0] * p->k[1] * p->k[2], p->dtype);
}

int tc_rows_try(const tc_direct_loops *k, const tc_direct_problem *p, int transpose, int threads)
{
    rows_call c = {.k = k, .p = p, .transpose = transpose, .es = (ptrdiff_t)tc_dtype_size(p->dtype)};
    c.R = k->rows_r, c.NQ = k->rows_nq[p->dtype];
    c.cig = (transpose ? p->cy : p->cx) / p->groups;
    c.cog = (transpose ? p->cx : p->cy) / p->groups;
    c.cout = c.cog * p->groups;
    c.K = c.cig * p->k[0] * p->k[1] * p->k[2];
    if (!rows_shape(&c) || !weights_finite(p))
        return 0;
    const ptrdiff_t *O = out_ext(p, transpose);
    c.groups1 = (O[1] + c.R - 1) / c.R;
    c.units = p->n * c.cout * O[0] * c.groups1;
    if (c.units == 0) /* no output cell: the row drivers return at once */
        return 0;
    c.tiles = tc_direct_tiles(c.units, threads);
    tc_team team;
    tc_team_begin(&team, threads);
    char *wt = transpose && c.cig > 1 ? weight_by_output(p) : NULL; /* one input channel: w is (Cout, k) already */
    ptrdiff_t *offs = (ptrdiff_t *)malloc((size_t)(2 * c.K) * sizeof(ptrdiff_t) + 1);
    c.patches = (char *)malloc((size_t)(team.threads * c.pcells * c.es) + 1);
    int ok = offs && c.patches && (wt || !(transpose && c.cig > 1));
    if (ok) {
        c.a = wt ? wt : p->w;
        c.offs = offs, c.poffs = offs + c.K;
        build_offsets(&c, offs, offs + c.K);
        tc_team_run(&team, (int)c.tiles, rows_task, &c);
    }
    tc_team_end(&team);
    free(c.patches);
    free(offs);
    tc_call_release(TC_SCRATCH_WEIGHTS, wt);
    return ok ? 1 : -1;
}
