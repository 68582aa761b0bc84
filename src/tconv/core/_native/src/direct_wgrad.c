/* direct_wgrad.c: the weight gradient of a direct convolution as register tiles of the weight.
 *
 *   dW[cy, cl, t0, t1, t2] = sum_{n, j0, j1, j2} y[n, cy, j0, j1, j2] x[n, g*cxg + cl, j0*s0 + t0*d0 - lo0,
 *                                                                      j1*s1 + t1 - lo1, j2*s2 + t2 - lo2]
 * With no dilation on axes 1 and 2, a tile of R taps t1 x NQ taps t2 of one (cy, cl, t0) is the rows
 * kernel of direct_rows.inc with the roles turned: its K terms are the y cells of one y row, from
 * column c0 (a[k] = y[.., j1, c0 + k], contiguous); term k's input is x at the fixed offset k*s2 from
 * the tile's first tap in that row of a zero-padded copy of the x plane (P1 x P2 cells: every cell a
 * tap reads, and the lanes of a tile wider than the kernel), so each term is one broadcast and
 * R x NQ/lanes multiply-adds whatever the stride, where the row drivers' strided dot products gather
 * every x load.  Units: splits of WG_SPLIT_ROWS (n, j0, j1) rows, each a stretch of WG_COLS columns
 * at a time through every tile in turn, into a float64 partial per tile; the partials of a tile are
 * added in split order, the splits fixed by the shape, so the result is the same on any thread
 * count.  float32 terms are summed in float32 over at most WG_CHUNK terms, then in float64.  A
 * non-finite y leaves the problem to the row drivers (a padded zero times it would be NaN where they
 * form no product); so does a dilation on axis 1 or 2, a copy over WG_COPY_MAX bytes, a weight whose
 * partials pass WG_PARTS_MAX / 8, an ISA without them (wgrad_rows). */
#include "direct_wgrad.h"

#include <stdlib.h>
#include <string.h>

#include "gemm.h"
#include "pool.h"
#include "scratch.h"

#define WG_CHUNK 128                  /* float32 terms summed in float32 before the float64 total */
#define WG_COPY_MAX ((ptrdiff_t)256 << 20) /* bytes of the padded x copy */
#define WG_MAX_CELLS 256              /* the most cells of a tile (R * NQ) */
#define WG_SPLIT_ROWS 8                /* y rows (n, j0, j1) per split */
#define WG_COLS 256                   /* y columns per stretch: a split's x and y cells of a stretch stay in L2 */
#define WG_PARTS_MAX ((ptrdiff_t)1 << 21) /* float64 partials in all (16 MiB) */

static ptrdiff_t min_pd(ptrdiff_t a, ptrdiff_t b) { return a < b ? a : b; }
static ptrdiff_t max_pd(ptrdiff_t a, ptrdiff_t b) { return a > b ? a : b; }

typedef struct {
    const tc_direct_loops *k;
    const tc_direct_problem *p;
    ptrdiff_t R, NQ, es, cxg, cyg;
    ptrdiff_t P1, P2;            /* a padded x plane */
    ptrdiff_t g1, g2;            /* tiles along t1 and t2 */
    ptrdiff_t tiles, splits, rows; /* dW tiles; splits of the (n, j0, j1) rows, which each runs through every tile */
    ptrdiff_t *offs;             /* per y cell k of a row's stretch: k*s2 */
    char *xp;                    /* the padded x planes (N, Cx, n0, P1, P2) */
    double *part;                /* per (tile, split): R * NQ float64 partial sums */
} wg_call;

/* the padded copy of x plane (n, c, i0): row i, cell j hold x[.., i - lo1, j - lo2] (zero outside) */
static void copy_plane(const wg_call *c, ptrdiff_t plane)
{
    const tc_direct_problem *p = c->p;
    const ptrdiff_t es = c->es, P1 = c->P1, P2 = c->P2, n1 = p->x[1], n2 = p->x[2];
    const ptrdiff_t ja = min_pd(P2, max_pd(0, p->lo[2])), je = max_pd(ja, min_pd(P2, p->lo[2] + n2));
    char *dst = c->xp + plane * P1 * P2 * es;
    const char *src = p->xs + plane * n1 * n2 * es;
    for (ptrdiff_t i = 0; i < P1; ++i, dst += P2 * es) {
        ptrdiff_t row = i - p->lo[1];
        if (row < 0 || row >= n1 || je <= ja) {
            memset(dst, 0, (size_t)(P2 * es));
            continue;
        }
        const char *s = src + (row * n2 + ja - p->lo[2]) * es;
        TC_CHECK(s >= p->lo_x && s + (je - ja) * es <= p->hi_x);
        memset(dst, 0, (size_t)(ja * es));
        memcpy(dst + ja * es, s, (size_t)((je - ja) * es));
        memset(dst + je * es, 0, (size_t)((P2 - je) * es));
    }
}

static void copy_task(void *ctx, int task, int thread)
{
    (void)thread;
    const wg_call *c = (const wg_call *)ctx;
    const ptrdiff_t planes = c->p->n * c->p->cx * c->p->x[0], tiles = tc_direct_tiles(planes, 64);
    ptrdiff_t a, b;
    tc_direct_tile_range(planes, tiles, task, &a, &b);
    for (ptrdiff_t pl = a; pl < b; ++pl)
        copy_plane(c, pl);
}

/* tile `tile` over the y rows [r0, r1) of (n, j0, j1), columns [c0, c1), into its partial of `split` */
static void wg_tile(const wg_call *c, ptrdiff_t tile, ptrdiff_t split, ptrdiff_t r0, ptrdiff_t r1, ptrdiff_t c0,
                    ptrdiff_t c1)
{
    const tc_direct_problem *p = c->p;
    const ptrdiff_t R = c->R, NQ = c->NQ, es = c->es;
    const ptrdiff_t q0 = min_pd(tile % c->g2 * NQ, max_pd(0, p->k[2] - NQ));
    const ptrdiff_t t1 = min_pd(tile / c->g2 % c->g1 * R, max_pd(0, p->k[1] - R));
    const ptrdiff_t r = tile / c->g2 / c->g1, t0 = r % p->k[0], cl = r / p->k[0] % c->cxg, cy = r / p->k[0] / c->cxg;
    const ptrdiff_t gi = cy / c->cyg, cx = gi * c->cxg + cl, m1 = p->m[1], m2 = p->m[2];
    double *tot = c->part + (tile * c->splits + split) * R * NQ;
    _Alignas(64) double cells[WG_MAX_CELLS];
    for (ptrdiff_t row = r0; row < r1; ++row) { /* row = (n, j0, j1) */
        const ptrdiff_t j1 = row % m1, j0 = row / m1 % p->m[0], n = row / m1 / p->m[0];
        const ptrdiff_t i0 = j0 * p->s[0] + t0 * p->d[0] - p->lo[0];
        if (i0 < 0 || i0 >= p->x[0])
            continue;
        const char *a = p->y + ((((n * p->cy + cy) * p->m[0] + j0) * m1 + j1) * m2 + c0) * es;
        const char *src = c->xp + ((((n * p->cx + cx) * p->x[0] + i0) * c->P1 + t1 + j1 * p->s[1]) * c->P2 + q0 +
                                   c0 * p->s[2]) * es;
        for (ptrdiff_t k0 = 0; k0 < c1 - c0; k0 += WG_CHUNK) { /* term k: y cell c0 + k, x at offs[k] = k*s2 */
            const ptrdiff_t kn = min_pd(WG_CHUNK, c1 - c0 - k0);
            c->k->rows[p->dtype](kn, a + k0 * es, c->offs, src + k0 * p->s[2] * es, c->P2, cells);
            if (p->dtype == TC_F32)
                for (ptrdiff_t i = 0; i < R * NQ; ++i)
                    tot[i] += (double)((const float *)cells)[i];
            else
                for (ptrdiff_t i = 0; i < R * NQ; ++i)
                    tot[i] += cells[i];
        }
    }
}

/* task = one split: its rows, a stretch of WG_COLS columns at a time through every tile in turn, so
 * the x and y cells they read serve every tile from L2 (tile by tile over whole rows, a 2048-wide
 * float64 plane's 15 + 8 rows of x passed L2: 2048^2 15x15 ran 1.8x the FFT's time) */
static void wg_task(void *ctx, int task, int thread)
{
    (void)thread;
    const wg_call *c = (const wg_call *)ctx;
    ptrdiff_t r0, r1;
    tc_direct_tile_range(c->rows, c->splits, task, &r0, &r1);
    for (ptrdiff_t tile = 0; tile < c->tiles; ++tile)
        memset(c->part + (tile * c->splits + task) * c->R * c->NQ, 0, (size_t)(c->R * c->NQ) * sizeof(double));
    for (ptrdiff_t c0 = 0; c0 < c->p->m[2]; c0 += WG_COLS)
        for (ptrdiff_t tile = 0; tile < c->tiles; ++tile)
            wg_tile(c, tile, task, r0, r1, c0, min_pd(c->p->m[2], c0 + WG_COLS));
}

/* dW's cells of each tile from its partials, added in split order; a shifted-back tile stores only
 * the cells the previous one left */
static void wg_store(const wg_call *c)
{
    const tc_direct_problem *p = c->p;
    const ptrdiff_t R = c->R, NQ = c->NQ, k1 = p->k[1], k2 = p->k[2];
    for (ptrdiff_t tile = 0; tile < c->tiles; ++tile) {
        const ptrdiff_t a2 = tile % c->g2 * NQ, a1 = tile / c->g2 % c->g1 * R, r = tile / c->g2 / c->g1;
        const ptrdiff_t q0 = min_pd(a2, max_pd(0, k2 - NQ)), t1 = min_pd(a1, max_pd(0, k1 - R));
        for (ptrdiff_t i = a1 - t1; i < R && t1 + i < k1; ++i)
            for (ptrdiff_t q = a2 - q0; q < NQ && q0 + q < k2; ++q) {
                double s = 0.0;
                for (ptrdiff_t sp = 0; sp < c->splits; ++sp)
                    s += c->part[(tile * c->splits + sp) * R * NQ + i * NQ + q];
                ptrdiff_t at = (r * k1 + t1 + i) * k2 + q0 + q; /* r = (cy, cl, t0) */
                TC_CHECK(p->out + (at + 1) * c->es <= p->hi_o);
                if (p->dtype == TC_F32)
                    ((float *)p->out)[at] = (float)s;
                else
                    ((double *)p->out)[at] = s;
            }
    }
}

/* Whether the tiles take the problem by its shape (the ISA has them, no dilation on axes 1 and 2, the
 * padded x copy within its cap, room for 8 splits' partials: a channel-heavy weight is the GEMMs'),
 * with c's copy plane (every x row and cell a tap reads, shifted by lo; a tile wider or higher than
 * the kernel reads zeros past it) and tiles filled in. */
static int wg_shape(wg_call *c)
{
    const tc_direct_problem *p = c->p;
    const ptrdiff_t R = c->R, NQ = c->NQ;
    if (!c->k->wgrad_rows || !c->k->rows[p->dtype] || p->d[1] != 1 || p->d[2] != 1 || p->n <= 0 || p->m[1] <= 0 ||
        p->m[2] <= 0)
        return 0;
    c->P1 = (p->m[1] - 1) * p->s[1] + max_pd(p->k[1], R);
    c->P2 = (p->m[2] - 1) * p->s[2] + max_pd(p->k[2], NQ);
    c->cxg = p->cx / p->groups, c->cyg = p->cy / p->groups;
    c->g1 = (p->k[1] + R - 1) / R, c->g2 = (p->k[2] + NQ - 1) / NQ;
    c->tiles = p->cy * c->cxg * p->k[0] * c->g1 * c->g2;
    ptrdiff_t copy = c->es; /* bytes of the padded copy, its products checked (a stride near 2**60 makes P1, P2 huge) */
    const ptrdiff_t f[5] = {p->n, p->cx, p->x[0], c->P1, c->P2};
    for (int i = 0; i < 5; ++i)
        if (__builtin_mul_overflow(copy, f[i], &copy) || copy > WG_COPY_MAX)
            return 0;
    return c->tiles > 0 && R * NQ <= WG_MAX_CELLS && c->tiles <= WG_PARTS_MAX && c->tiles * R * NQ * 8 <= WG_PARTS_MAX;
}

int tc_wgrad_rows_try(const tc_direct_loops *k, const tc_direct_problem *p, int threads)
{
    wg_call c = {.k = k, .p = p, .R = k->rows_r, .NQ = k->rows_nq[p->dtype], .es = (ptrdiff_t)tc_dtype_size(p->dtype)};
    if (!wg_shape(&c) || !tc_all_finite(p->y, p->n * p->cy * p->m[0] * p->m[1] * p->m[2], p->dtype))
        return 0;
    c.rows = p->n * p->m[0] * p->m[1];
    /* splits of WG_SPLIT_ROWS rows (more if the partials would pass WG_PARTS_MAX doubles): by the
     * shape alone, so the result is the same on any thread count */
    c.splits = max_pd(1, min_pd((c.rows + WG_SPLIT_ROWS - 1) / WG_SPLIT_ROWS, WG_PARTS_MAX / (c.tiles * c.R * c.NQ)));
    c.offs = (ptrdiff_t *)malloc((size_t)WG_COLS * sizeof(ptrdiff_t) + 1);
    c.xp = (char *)tc_call_buffer(TC_SCRATCH_COPY, (size_t)(p->n * p->cx * p->x[0] * c.P1 * c.P2 * c.es));
    c.part = (double *)malloc((size_t)(c.tiles * c.splits * c.R * c.NQ) * sizeof(double) + 1);
    int ok = c.offs && c.xp && c.part;
    if (ok) {
        for (ptrdiff_t k = 0; k < WG_COLS; ++k)
            c.offs[k] = k * p->s[2];
        tc_team team;
        tc_team_begin(&team, threads);
        tc_team_run(&team, (int)tc_direct_tiles(p->n * p->cx * p->x[0], 64), copy_task, &c);
        tc_team_run(&team, (int)c.splits, wg_task, &c);
        tc_team_end(&team);
        wg_store(&c);
    }
    free(c.part);
    tc_call_release(TC_SCRATCH_COPY, c.xp);
    free(c.offs);
    return ok ? 1 : -1;
}
