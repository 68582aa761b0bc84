/* gemm.c: the blocked GEMM driver, BLIS's five loops around the micro-kernel:
 *
 *   loop 5  jc over n in NC      B panel KC x NC (L2), packed once per (jc, pc) by all threads
 *   loop 4  pc over k in KC
 *   loop 3  ic over m in MC      A block MC x KC, packed by the thread that uses it
 *   loop 2  ir over mc in MR     A micro-panel MR x KC (L1)
 *   loop 1  jr over nc in NR     B micro-panel KC x NR, streamed from L2
 *           micro-kernel         MR x NR of C in registers
 *
 * Loops 1 and 2 are in the GotoBLAS order for a wide NR (32 floats on AVX-512): the A micro-panel
 * (14 x 256 floats) fits L1 where a 256 x 32 B micro-panel would not.
 * Threads: per (jc, pc) two parallel loops: packing the B panel (split by micro-panels), then
 * the (row chunk x column chunk) tiles of C, a few per thread, each packing its own A.  Every
 * element of C is reduced in the same order whatever the thread count: results are identical. */
#define _DEFAULT_SOURCE
#include <stdlib.h>
#include <string.h>

#include <stdatomic.h>

#include "gemm.h"
#include "pool.h"
#include "scratch.h"

#define TC_SMALL_FLOPS 2.0e6 /* below this a GEMM runs on the caller alone, */
#define TC_STEP_FLOPS 4.0e6  /* as does one whose (jc, pc) steps are this small (2 barriers each) */

/* ---- one call ---- */

typedef struct {
    ptrdiff_t j, n, st; /* columns [j, j + n) of a block, st apart in C */
} column_run;

typedef struct {
    const tc_gemm_kernel *kr;
    const tc_gemm_problem *pb;
    size_t es;
    char *bbuf;              /* the shared packed B panel */
    int taps;                /* B's micro-panels read in place where they can be (tc_ukernel_taps) */
    tc_taps *btaps;          /* taps mode: per micro-panel of the block, how it is read in place, */
    uint8_t *inplace;        /* or 0 here: packed as usual */
    ptrdiff_t jc, nc, pc, kc;
    double beta;             /* beta for this pc step */
    ptrdiff_t pack_chunk;    /* columns per B-packing task (a multiple of NR) */
    ptrdiff_t tm, mtiles;    /* row chunks of C tile tasks, each of mtiles / tm register tiles (+1) */
    ptrdiff_t nchunk;        /* columns per C tile task (a multiple of NR) */
    ptrdiff_t cpanels, ctasks; /* column-split mode: the first cpanels NR-panels in ctasks tasks, the */
    int row_parts;           /* rest in row_parts tasks of whole register tiles of rows (0: none) */
    int tn;                  /* column chunks */
    char *cbuf;              /* C's columns [jc, jc + nc) accumulated here (see buffered_c), or NULL */
    ptrdiff_t cbuf_rs;
    column_run *runs;        /* the block's column table as runs (column_runs) */
    int nruns;
    atomic_int failed;
} gemm_call;

static ptrdiff_t min_pd(ptrdiff_t a, ptrdiff_t b) { return a < b ? a : b; }
static ptrdiff_t ceil_div(ptrdiff_t a, ptrdiff_t b) { return (a + b - 1) / b; }
static ptrdiff_t round_up(ptrdiff_t a, ptrdiff_t b) { return ceil_div(a, b) * b; }

/* ---- B: packed panels, or (taps mode) read where they lie ---- */

/* Taps mode: for an implicit GEMM (a packer with taps) on an ISA whose micro-kernel reads B in
 * place, when B is read by few row tiles (TC_TAPS_TILES): packing would copy every element of B for
 * that few reads, where in place the kernel reads the source directly, its rows for the micro-panel
 * after next prefetched (ukernel.inc).  A micro-panel that needs a gather (a tap whose lanes are not
 * one run) is packed as usual.  8 tiles (112 float32 rows on AVX-512), measured on a Zen 5, two
 * threads, against packing: F2 3.6 -> 3.2 ms, R1 6.0 -> 4.9, L9 4.2 -> 3.6, a 4 x 64 -> 96 stride-1
 * conv_transpose on 32^2 2.4 -> 1.3; 19 tiles (L1: 256 rows) 15.5 -> 26, so not above 8. */
#define TC_TAPS_TILES 8

int tc_gemm_taps_tiles(const tc_gemm_kernel *kr)
{
    static atomic_int tiles = -1;
    if (atomic_load(&tiles) < 0) { /* TC_TAPS_TILES in the environment overrides it (benchmarks) */
        const char *e = getenv("TC_TAPS_TILES");
        atomic_store(&tiles, e ? atoi(e) : TC_TAPS_TILES);
    }
    return kr->taps_kernel ? atomic_load(&tiles) : 0;
}

static int taps_mode(const tc_gemm_kernel *kr, const tc_gemm_problem *pb)
{
    return pb->b.taps && ceil_div(pb->m, kr->mr) <= tc_gemm_taps_tiles(kr);
}

/* One B block buffer (nc_max x kc_max): the packed panel, then in taps mode, per micro-panel, its
 * tc_taps and its in-place flag. */
static size_t b_panel_bytes(const gemm_call *g, ptrdiff_t nc_max, ptrdiff_t kc_max)
{
    return (size_t)round_up((ptrdiff_t)((size_t)(nc_max * kc_max) * g->es), TC_ALIGN);
}

static size_t b_bytes(const gemm_call *g, ptrdiff_t nc_max, ptrdiff_t kc_max)
{
    size_t tables = g->taps ? (size_t)ceil_div(nc_max, g->kr->nr) * (sizeof(tc_taps) + 1) : 0;
    return b_panel_bytes(g, nc_max, kc_max) + tables;
}

/* Lays g's B block out in buf (b_bytes long); returns buf (NULL: none, the caller reports it). */
static char *b_layout(gemm_call *g, char *buf, ptrdiff_t nc_max, ptrdiff_t kc_max)
{
    g->bbuf = buf;
    if (buf && g->taps) {
        g->btaps = (tc_taps *)(buf + b_panel_bytes(g, nc_max, kc_max));
        g->inplace = (uint8_t *)(g->btaps + ceil_div(nc_max, g->kr->nr));
    }
    return buf;
}

/* Columns [j0, j0 + n) of the block (j0 a multiple of NR): packed, or in taps mode each micro-panel
 * described for reading in place, or packed when it cannot be. */
static void fill_b(const gemm_call *g, ptrdiff_t j0, ptrdiff_t n)
{
    const tc_packer *b = &g->pb->b;
    int nr = g->kr->nr;
    if (!g->taps) {
        b->pack(b, g->jc + j0, n, g->pc, g->kc, nr, g->bbuf + (size_t)(j0 * g->kc) * g->es);
        return;
    }
    for (ptrdiff_t j = j0; j < j0 + n; j += nr) {
        ptrdiff_t pj = j / nr;
        g->inplace[pj] = (uint8_t)b->taps(b, (g->jc + j) / nr, g->pc, &g->btaps[pj]);
        if (!g->inplace[pj])
            b->pack(b, g->jc + j, min_pd(nr, j0 + n - j), g->pc, g->kc, nr, g->bbuf + (size_t)(j * g->kc) * g->es);
    }
}

/* The micro-kernel on B's micro-panel at column jr of the block (a tile of m rows). */
static void tile_kernel(const gemm_call *g, const char *ap, ptrdiff_t jr, void *c, ptrdiff_t rs_c, ptrdiff_t cs_c,
                        ptrdiff_t m, ptrdiff_t n, double alpha, double beta)
{
    const tc_gemm_kernel *kr = g->kr;
    ptrdiff_t pj = jr / kr->nr;
    if (g->taps && g->inplace[pj]) {
        tc_taps_kernel_for(kr, m)(g->kc, ap, &g->btaps[pj], c, rs_c, cs_c, m, n, alpha, beta);
        return;
    }
    tc_kernel_for(kr, m)(g->kc, ap, g->bbuf + (size_t)(jr * g->kc) * g->es, c, rs_c, cs_c, m, n, alpha, beta);
}

static void pack_b_task(void *ctx, int task, int thread)
{
    (void)thread;
    gemm_call *g = (gemm_call *)ctx;
    ptrdiff_t j0 = task * g->pack_chunk, n = min_pd(g->pack_chunk, g->nc - j0);
    fill_b(g, j0, n);
}

/* C row update through a column table: c[co[j]] = alpha * t[j] (+ c[co[j]] when beta is 1);
 * st > 0: the columns are st apart (co[j] = co[0] + j*st), a tighter loop. */
#define UPDATE_ROW(T, NAME)                                                                        \
    static void NAME(char *row, const int64_t *co, ptrdiff_t st, const T *t, ptrdiff_t n, double alpha, \
                     double beta)                                                                  \
    {                                                                                              \
        T *c = (T *)row, a = (T)alpha;                                                             \
        if (st == 1) { /* consecutive columns: a loop the compiler vectorises */                \
            T *restrict cs = c + co[0];                                                            \
            if (beta == 0.0)                                                                       \
                for (ptrdiff_t j = 0; j < n; ++j)                                                  \
                    cs[j] = a * t[j];                                                              \
            else                                                                                   \
                for (ptrdiff_t j = 0; j < n; ++j)                                                  \
                    cs[j] += a * t[j];                                                             \
            return;                                                                                \
        }                                                                                          \
        if (st > 0) {                                                                              \
            T *cs = c + co[0];                                                                     \
            if (beta == 0.0)                                                                       \
                for (ptrdiff_t j = 0; j < n; ++j)                                                  \
                    cs[j * st] = a * t[j];                                                         \
            else                                                                                   \
                for (ptrdiff_t j = 0; j < n; ++j)                                                  \
                    cs[j * st] += a * t[j];                                                        \
            return;                                                                                \
        }                                                                                          \
        for (ptrdiff_t j = 0; j < n; ++j)                                                          \
            c[co[j]] = beta == 0.0 ? a * t[j] : a * t[j] + c[co[j]];                               \
    }

UPDATE_ROW(float, update_row_f32)
UPDATE_ROW(double, update_row_f64)

/* One micro-tile of C at rows [i, i + m), columns [j, j + n) when C's columns come from a table:
 * contiguous columns go straight to the kernel; others through a register-tile buffer. */
static void table_tile(const gemm_call *g, const char *ap, ptrdiff_t jr, ptrdiff_t i, ptrdiff_t j,
                       ptrdiff_t m, ptrdiff_t n)
{
    const tc_gemm_kernel *kr = g->kr;
    const tc_gemm_problem *pb = g->pb;
    const int64_t *co = pb->c_coloff + j;
    ptrdiff_t es = (ptrdiff_t)g->es;
    if (co[n - 1] - co[0] == n - 1) {
        char *c = pb->c + (i * pb->rs_c + co[0]) * es;
        TC_CHECK(c >= pb->c_lo && c < pb->c_hi);
        tile_kernel(g, ap, jr, c, pb->rs_c, 1, m, n, pb->alpha, g->beta);
        return;
    }
    _Alignas(TC_ALIGN) double tile[16 * 64];
    tile_kernel(g, ap, jr, tile, kr->nr, 1, m, n, 1.0, 0.0);
    ptrdiff_t st = n > 1 ? co[1] - co[0] : 1;
    int uniform = st > 0 && co[n - 1] - co[0] == (n - 1) * st; /* a constant stride (a phase row) */
    for (ptrdiff_t ii = 0; ii < m; ++ii) {
        char *row = pb->c + (i + ii) * pb->rs_c * es;
        TC_CHECK(row + co[0] * es >= pb->c_lo && row + co[n - 1] * es < pb->c_hi);
        if (g->es == sizeof(float))
            update_row_f32(row, co, uniform ? st : 0, (const float *)tile + ii * kr->nr, n, pb->alpha, g->beta);
        else
            update_row_f64(row, co, uniform ? st : 0, tile + ii * kr->nr, n, pb->alpha, g->beta);
    }
}

/* One micro-tile: rows [ir, ir + mr) of the A block, columns jr of the B block. */
static void micro_tile(const gemm_call *g, const char *abuf, ptrdiff_t i0, ptrdiff_t ir, ptrdiff_t mr, ptrdiff_t jr,
                       ptrdiff_t nr)
{
    const tc_gemm_problem *pb = g->pb;
    const char *ap = abuf + (size_t)(ir * g->kc) * g->es;
    ptrdiff_t i = i0 + ir, j = g->jc + jr;
    if (g->cbuf) { /* contiguous accumulation; scattered once after the last depth block */
        char *c = g->cbuf + (i * g->cbuf_rs + jr) * (ptrdiff_t)g->es;
        tile_kernel(g, ap, jr, c, g->cbuf_rs, 1, mr, nr, 1.0, g->pc == 0 ? 0.0 : 1.0);
        return;
    }
    if (pb->c_coloff) {
        table_tile(g, ap, jr, i, j, mr, nr);
        return;
    }
    char *c = pb->c + (i * pb->rs_c + j * pb->cs_c) * (ptrdiff_t)g->es;
    TC_CHECK(c >= pb->c_lo && c < pb->c_hi);
    tile_kernel(g, ap, jr, c, pb->rs_c, pb->cs_c, mr, nr, pb->alpha, g->beta);
}

/* loops 2 and 1 over one packed A block (mc rows from i0) and columns [j0, j0 + n) of the B panel.
 * Packed B: the A micro-panel (MR x KC) stays in L1 while the B micro-panels of the panel (L2)
 * stream past.  B read in place (taps mode): the other order (BLIS's), so that a B micro-panel's
 * rows, pulled from the image into L1 by the first row tile, serve the block's other row tiles. */
static void macro_kernel(const gemm_call *g, const char *abuf, ptrdiff_t i0, ptrdiff_t mc, ptrdiff_t j0,
                         ptrdiff_t n)
{
    const tc_gemm_kernel *kr = g->kr;
    if (g->taps) {
        for (ptrdiff_t jr = j0; jr < j0 + n; jr += kr->nr)            /* loop 1 */
            for (ptrdiff_t ir = 0; ir < mc; ir += kr->mr)             /* loop 2 */
                micro_tile(g, abuf, i0, ir, min_pd(kr->mr, mc - ir), jr, min_pd(kr->nr, j0 + n - jr));
        return;
    }
    for (ptrdiff_t ir = 0; ir < mc; ir += kr->mr)                     /* loop 2 */
        for (ptrdiff_t jr = j0; jr < j0 + n; jr += kr->nr)            /* loop 1 */
            micro_tile(g, abuf, i0, ir, min_pd(kr->mr, mc - ir), jr, min_pd(kr->nr, j0 + n - jr));
}

/* The packed A block of rows [ic, ic + mc) at depth block pc (tc_gemm_pack_a's layout). */
static const char *packed_a(const gemm_call *g, ptrdiff_t ic)
{
    ptrdiff_t mpad = round_up(g->pb->m, g->kr->mr);
    return g->pb->a_packed + (size_t)(g->pc * mpad + ic * g->kc) * g->es;
}

static void tile_task(void *ctx, int task, int thread)
{
    (void)thread;
    gemm_call *g = (gemm_call *)ctx;
    const tc_gemm_kernel *kr = g->kr;
    ptrdiff_t ti = task / g->tn, tj = task % g->tn;
    ptrdiff_t i0 = ti * g->mtiles / g->tm * kr->mr, i_end = min_pd((ti + 1) * g->mtiles / g->tm * kr->mr, g->pb->m);
    ptrdiff_t j0 = tj * g->nchunk, n = min_pd(g->nchunk, g->nc - j0);
    if (n <= 0)
        return;
    char *abuf = g->pb->a_packed ? NULL
                                 : (char *)tc_thread_scratch(TC_SCRATCH_A, (size_t)(round_up(kr->mc, kr->mr) * g->kc) * g->es);
    if (!abuf && !g->pb->a_packed) {
        atomic_store(&g->failed, 1);
        return;
    }
    for (ptrdiff_t ic = i0; ic < i_end; ic += kr->mc) {   /* loop 3 */
        ptrdiff_t mc = min_pd(kr->mc, i_end - ic);
        if (abuf)
            g->pb->a.pack(&g->pb->a, ic, mc, g->pc, g->kc, kr->mr, abuf);
        macro_kernel(g, abuf ? abuf : packed_a(g, ic), ic, mc, j0, n);
    }
}

/* ---- buffered C: a column table whose columns are not consecutive (the cells of an output
 * phase, every s-th of a row) would make every depth block a scattered read-modify-write of C.
 * Instead the tiles accumulate in a contiguous buffer (m x NC) and each column block is scattered
 * into C once, by rows, in parallel. ---- */

/* Buffered when C's rows come from a table, when its columns break into short runs (runs of
 * one: the cells of a strided phase), or when the depth takes several blocks and the buffer
 * (rows x NC) stays in L2: the partial sums of every depth block then stay there, and C is written
 * once.  Otherwise the micro-kernel writes C itself (through a tile buffer at a run's break). */
static int buffered_c(const tc_gemm_problem *pb, const tc_gemm_kernel *kr, size_t es)
{
    if (!pb->c_coloff)
        return 0;
    if (pb->c_rowoff)
        return 1;
    ptrdiff_t breaks = 0;
    for (ptrdiff_t j = 1; j < pb->n; ++j)
        breaks += pb->c_coloff[j] != pb->c_coloff[j - 1] + 1;
    if (breaks * 4 * kr->nr > pb->n) /* runs shorter than 4 register tiles on average */
        return 1;
    return pb->k > kr->kc && (size_t)(pb->m * kr->nc) * es <= ((size_t)1 << 20);
}

#define SCATTER_ROWS 16 /* rows per scatter task: a multiple of 2, 4, 8, 16, so that phase groups stay in one */

/* Splits the block's column table into runs of a constant positive step (the cells of one row of
 * an output phase), so that the scatter of each row is a tight strided loop per run. */
static void column_runs(gemm_call *g)
{
    const int64_t *co = g->pb->c_coloff + g->jc;
    g->nruns = 0;
    for (ptrdiff_t j = 0; j < g->nc;) {
        ptrdiff_t st = j + 1 < g->nc ? co[j + 1] - co[j] : 1, e = j + 1;
        if (st > 0)
            while (e < g->nc && co[e] - co[e - 1] == st)
                ++e;
        g->runs[g->nruns++] = (column_run){j, e - j, st > 0 ? st : 1};
        j = e;
    }
}

/* Rows whose cells interleave: q rows with consecutive row offsets (the phases r, r + 1, ... of the
 * last axis in one GEMM, rows (channel, phase)), written together column by column: the q cells of a
 * column are neighbours in C, so each line of C is written in one pass instead of q strided ones
 * (stride 2: two contiguous rows; L7's stride 8: four phases per GEMM, half of each line). */
#define SCATTER_GROUP 16

#define GROUP_WRITE(T, NAME)                                                                       \
    static void NAME(T *restrict c, ptrdiff_t st, const T *restrict t, ptrdiff_t ld, ptrdiff_t n, int q, \
                     T alpha)                                                                      \
    {                                                                                              \
        if (q == 2 && st == 2) { /* two phases of stride 2: one contiguous run */                 \
            for (ptrdiff_t j = 0; j < n; ++j) {                                                    \
                c[2 * j] = alpha * t[j];                                                           \
                c[2 * j + 1] = alpha * t[ld + j];                                                  \
            }                                                                                      \
            return;                                                                                \
        }                                                                                          \
        for (ptrdiff_t j = 0; j < n; ++j, c += st)                                                 \
            for (int r = 0; r < q; ++r)                                                            \
                c[r] = alpha * t[r * ld + j];                                                      \
    }

GROUP_WRITE(float, group_write_f32)
GROUP_WRITE(double, group_write_f64)

/* The rows from i (before i1) written together: beta 0, consecutive row offsets, every run of
 * columns at least q apart (the cells of one column never reach the next's).  1: row i alone. */
static int scatter_group(const gemm_call *g, ptrdiff_t i, ptrdiff_t i1)
{
    const tc_gemm_problem *pb = g->pb;
    if (!pb->c_rowoff || pb->beta != 0.0)
        return 1;
    int q = 1;
    while (q < SCATTER_GROUP && i + q < i1 && pb->c_rowoff[i + q] == pb->c_rowoff[i] + q)
        ++q;
    for (int r = 0; q > 1 && r < g->nruns; ++r)
        if (g->runs[r].n > 1 && g->runs[r].st < q)
            return 1;
    return q;
}

static void scatter_rows(const gemm_call *g, ptrdiff_t i0, ptrdiff_t i1)
{
    const tc_gemm_problem *pb = g->pb;
    const int64_t *co = pb->c_coloff + g->jc;
    ptrdiff_t es = (ptrdiff_t)g->es;
    for (ptrdiff_t i = i0; i < i1;) {
        char *row = pb->c + (pb->c_rowoff ? pb->c_rowoff[i] : i * pb->rs_c) * es;
        const char *t = g->cbuf + i * g->cbuf_rs * es;
        int q = scatter_group(g, i, i1);
        for (int r = 0; r < g->nruns; ++r) {
            const column_run *u = &g->runs[r];
            TC_CHECK(row + co[u->j] * es >= pb->c_lo && row + (co[u->j] + (u->n - 1) * u->st + q - 1) * es < pb->c_hi);
            if (q > 1 && es == (ptrdiff_t)sizeof(float))
                group_write_f32((float *)row + co[u->j], u->st, (const float *)t + u->j, g->cbuf_rs, u->n, q,
                                (float)pb->alpha);
            else if (q > 1)
                group_write_f64((double *)row + co[u->j], u->st, (const double *)t + u->j, g->cbuf_rs, u->n, q,
                                pb->alpha);
            else if (es == (ptrdiff_t)sizeof(float))
                update_row_f32(row, co + u->j, u->st, (const float *)t + u->j, u->n, pb->alpha, pb->beta);
            else
                update_row_f64(row, co + u->j, u->st, (const double *)t + u->j, u->n, pb->alpha, pb->beta);
        }
        i += q;
    }
}

static void scatter_task(void *ctx, int task, int thread)
{
    (void)thread;
    const gemm_call *g = (const gemm_call *)ctx;
    ptrdiff_t i0 = task * SCATTER_ROWS;
    scatter_rows(g, i0, min_pd(i0 + SCATTER_ROWS, g->pb->m));
}

/* Loops 4 and 3 on one thread for the column block [jc, jc + nc) of lg, over depth [k0, k1): B
 * packed into lg's own panel, A from abuf (packed here) or the packed A; the first block with beta0. */
static void serial_depth(gemm_call *lg, ptrdiff_t k0, ptrdiff_t k1, double beta0, char *abuf, ptrdiff_t r0,
                         ptrdiff_t r1)
{
    const tc_gemm_kernel *kr = lg->kr;
    const tc_gemm_problem *pb = lg->pb;
    ptrdiff_t kb = tc_gemm_depth_block(kr, pb->k);
    TC_CHECK(r0 % kr->mr == 0 && r0 <= r1 && r1 <= pb->m);
    for (lg->pc = k0; lg->pc < k1; lg->pc += kb) {                     /* loop 4 */
        lg->kc = min_pd(kb, k1 - lg->pc);
        lg->beta = lg->pc == k0 ? beta0 : 1.0;
        fill_b(lg, 0, lg->nc);
        for (ptrdiff_t ic = r0; ic < r1; ic += kr->mc) {                /* loop 3, rows [r0, r1) */
            ptrdiff_t mc = min_pd(kr->mc, r1 - ic);
            if (abuf)
                pb->a.pack(&pb->a, ic, mc, lg->pc, lg->kc, kr->mr, abuf);
            macro_kernel(lg, abuf ? abuf : packed_a(lg, ic), ic, mc, 0, lg->nc);
        }
    }
}

/* Column-split mode: each task owns a range of columns and runs all five loops on it with its own
 * B panel, so a call is one parallel loop without barriers.  column_tasks: tasks per thread, or 0 for
 * the shared-B loops.  A short A (few rows) is packed again by each task, 3 tasks per thread.  An A
 * packed once and shared (a_packed) over several depth blocks: 2 per thread, each task reading all
 * of A, which costs less than the shared loops' two barriers per depth block and their B panels,
 * each packed by one core, read by both and rewritten every block (two threads: L1 18.1 -> 16.3 ms,
 * L7 35.8 -> 33.1, F2 4.72 -> 4.60; one depth block, as L3, stays shared: 17.5 against 18.4).
 * Panels that do not divide among the threads leave one thread a panel more (L10: 15 panels of 16
 * columns, 8 and 7 on two threads): the last panels % threads of them are then split by rows, one
 * task per thread after the column tasks (each packs their B again: a panel or two of B against
 * the imbalance of a whole panel of the compute). */
static int column_tasks(const tc_gemm_problem *pb, const tc_gemm_kernel *kr, int want)
{
    if (want <= 1)
        return 0;
    if (pb->m * 3 * want * 4 <= pb->n)
        return 3;
    if (pb->a_packed && pb->k > kr->kc && ceil_div(pb->n, kr->nr) >= 2 * want)
        return 2;
    return 0;
}

static void column_task(void *ctx, int task, int thread)
{
    (void)thread;
    const gemm_call *g = (const gemm_call *)ctx;
    const tc_gemm_kernel *kr = g->kr;
    const tc_gemm_problem *pb = g->pb;
    gemm_call lg = *g;
    ptrdiff_t c0, c1, r0 = 0, r1 = pb->m;
    if (task < g->ctasks) { /* columns: the first cpanels % ctasks tasks a panel longer */
        const ptrdiff_t base = g->cpanels / g->ctasks, extra = g->cpanels % g->ctasks;
        const ptrdiff_t p0 = task * base + min_pd(task, extra), np = base + (task < extra);
        c0 = p0 * kr->nr, c1 = min_pd((p0 + np) * kr->nr, pb->n);
    } else { /* the last panels, rows part by part in whole register tiles */
        const ptrdiff_t part = task - g->ctasks, tiles = ceil_div(pb->m, kr->mr);
        c0 = g->cpanels * kr->nr, c1 = pb->n;
        r0 = part * tiles / g->row_parts * kr->mr;
        r1 = min_pd((part + 1) * tiles / g->row_parts * kr->mr, pb->m);
    }
    ptrdiff_t kc_max = tc_gemm_depth_block(kr, pb->k), nc_max = round_up(min_pd(kr->nc, c1 - c0), kr->nr);
    b_layout(&lg, (char *)tc_thread_scratch(TC_SCRATCH_B, b_bytes(&lg, nc_max, kc_max)), nc_max, kc_max);
    char *abuf = pb->a_packed ? NULL
                              : (char *)tc_thread_scratch(TC_SCRATCH_A, (size_t)(round_up(kr->mc, kr->mr) * kc_max) * g->es);
    if (g->cbuf) { /* buffered C: this task's own buffer */
        lg.cbuf_rs = nc_max;
        lg.cbuf = (char *)tc_thread_scratch(TC_SCRATCH_C, (size_t)(pb->m * nc_max) * g->es);
        lg.runs = (column_run *)tc_thread_scratch(TC_SCRATCH_RUNS, sizeof(column_run) * (size_t)nc_max);
    }
    if (!lg.bbuf || (!abuf && !pb->a_packed) || (g->cbuf && (!lg.cbuf || !lg.runs))) {
        atomic_store(&((gemm_call *)ctx)->failed, 1);
        return;
    }
    for (lg.jc = c0; lg.jc < c1; lg.jc += kr->nc) {                   /* loop 5 */
        lg.nc = min_pd(kr->nc, c1 - lg.jc);
        serial_depth(&lg, 0, pb->k, pb->beta, abuf, r0, r1);
        if (lg.cbuf) {
            column_runs(&lg);
            scatter_rows(&lg, r0, r1);
        }
    }
}

/* ---- depth blocks ---- */

/* The depth block of a GEMM of depth k: the fewest blocks of at most KC, of equal size (a multiple
 * of 8, the last shorter), so that no block is a short tail (1026 = 5 x 208 - 14, not 4 x 256 + 2:
 * a tail of 2 would read and write all of C for 2 multiply-adds per element).  Every pass over A's
 * packed blocks (packing, the driver's loop 4, the depth split) uses this one size. */
ptrdiff_t tc_gemm_depth_block(const tc_gemm_kernel *kr, ptrdiff_t k)
{
    if (k <= kr->kc)
        return k > 0 ? k : 1;
    ptrdiff_t blocks = ceil_div(k, kr->kc);
    return min_pd(kr->kc, round_up(ceil_div(k, blocks), 8));
}

/* ---- A packed once for all threads ---- */

ptrdiff_t tc_gemm_a_len(const tc_isa_table *isa, tc_dtype dt, ptrdiff_t m, ptrdiff_t k)
{
    return round_up(m, isa->gemm[dt].mr) * k;
}

typedef struct {
    const tc_gemm_kernel *kr;
    const tc_gemm_problem *pb;
    char *dst;
    size_t es;
    ptrdiff_t row_blocks;
} pack_a_call;

/* task = (depth block, row block of MC) */
static void pack_a_task(void *ctx, int task, int thread)
{
    (void)thread;
    const pack_a_call *c = (const pack_a_call *)ctx;
    const tc_gemm_kernel *kr = c->kr;
    ptrdiff_t kb = tc_gemm_depth_block(kr, c->pb->k);
    ptrdiff_t pc = (task / c->row_blocks) * kb, ic = (task % c->row_blocks) * kr->mc;
    ptrdiff_t kc = min_pd(kb, c->pb->k - pc), mc = min_pd(kr->mc, c->pb->m - ic);
    ptrdiff_t mpad = round_up(c->pb->m, kr->mr);
    c->pb->a.pack(&c->pb->a, ic, mc, pc, kc, kr->mr, c->dst + (size_t)(pc * mpad + ic * kc) * c->es);
}

void tc_gemm_pack_a(const tc_isa_table *isa, const tc_gemm_problem *pb, char *dst, int threads)
{
    const tc_gemm_kernel *kr = &isa->gemm[pb->dtype];
    if (pb->m <= 0 || pb->k <= 0)
        return;
    pack_a_call c = {kr, pb, dst, tc_dtype_size(pb->dtype), ceil_div(pb->m, kr->mc)};
    int tasks = (int)(ceil_div(pb->k, tc_gemm_depth_block(kr, pb->k)) * c.row_blocks);
    tc_team team;
    tc_team_begin(&team, (double)pb->m * (double)pb->k < 1e5 ? 1 : threads);
    tc_team_run(&team, tasks, pack_a_task, &c);
    tc_team_end(&team);
}

/* C = beta * C for k == 0 (beta 0 writes zeros, never reading C) */
static void scale_c(const tc_gemm_problem *pb, size_t es)
{
    if (pb->beta != 0.0)
        return;
    for (ptrdiff_t i = 0; i < pb->m; ++i)
        for (ptrdiff_t j = 0; j < pb->n; ++j)
            memset(pb->c + ((pb->c_rowoff ? pb->c_rowoff[i] : i * pb->rs_c) +
                            (pb->c_coloff ? pb->c_coloff[j] : j * pb->cs_c)) * (ptrdiff_t)es, 0, es);
}

/* Splits the tiles of one (jc, pc) step: rows first (each row chunk packs A once), then columns
 * when there are too few row chunks for a few tasks per thread.  Row chunks differ by at most one
 * register tile (1024 rows: 74 tiles as 13, 12, 12, 13, 12, 12, not 5 x 13 + 9), so that each
 * thread's share is as even as the tiles allow. */
static void plan_tiles(gemm_call *g, int threads)
{
    const tc_gemm_kernel *kr = g->kr;
    ptrdiff_t want = threads == 1 ? 1 : 3 * threads;
    g->mtiles = ceil_div(g->pb->m, kr->mr);
    ptrdiff_t tm = g->tm = min_pd(want, g->mtiles);
    ptrdiff_t tn = min_pd(ceil_div(want, tm), ceil_div(g->nc, kr->nr));
    g->nchunk = round_up(ceil_div(g->nc, tn), kr->nr);
    g->tn = (int)ceil_div(g->nc, g->nchunk);
    g->pack_chunk = round_up(ceil_div(g->nc, threads), kr->nr);
}

/* ---- depth split: a long depth over few tiles of C (the weight gradient's reduction over every
 * position of a batch) has too few tiles to share among threads, and a barrier every KC steps.
 * Then the depth is cut into a few chunks (their number from the shape alone, never from the
 * thread count: results stay identical for any thread count), each a whole serial GEMM into a
 * partial C of its own; the partials are added in chunk order at the end. ---- */

#define SPLIT_MAX 8
#define SPLIT_TILES 128 /* at most this many register tiles of C (partials: 8 x 128 tiles, under 2 MiB) */

static int depth_splits(const tc_gemm_kernel *kr, const tc_gemm_problem *pb)
{
    ptrdiff_t tiles = ceil_div(pb->m, kr->mr) * ceil_div(pb->n, kr->nr);
    if (tiles > SPLIT_TILES || pb->k < 8 * (ptrdiff_t)kr->kc)
        return 1;
    return (int)min_pd(SPLIT_MAX, pb->k / (4 * kr->kc));
}

typedef struct {
    const tc_gemm_kernel *kr;
    const tc_gemm_problem *pb;
    size_t es;
    char *parts;       /* splits partial Cs, m x n each, contiguous */
    ptrdiff_t chunk;   /* depth per split (a multiple of KC) */
    int splits;
    atomic_int failed;
} split_call;

static void split_task(void *ctx, int task, int thread)
{
    (void)thread;
    split_call *s = (split_call *)ctx;
    const tc_gemm_kernel *kr = s->kr;
    const tc_gemm_problem *pb = s->pb;
    ptrdiff_t k0 = task * s->chunk, k1 = min_pd(k0 + s->chunk, pb->k);
    tc_gemm_problem part = *pb;
    part.c = s->parts + (size_t)(task * pb->m * pb->n) * s->es;
    part.rs_c = pb->n;
    part.cs_c = 1;
    part.c_coloff = part.c_rowoff = NULL;
    part.alpha = 1.0;
    part.c_lo = part.c;
    part.c_hi = part.c + (size_t)(pb->m * pb->n) * s->es;
    gemm_call lg = {.kr = kr, .pb = &part, .es = s->es, .taps = taps_mode(kr, pb)};
    ptrdiff_t nc_max = round_up(min_pd(kr->nc, pb->n), kr->nr), kc_max = min_pd(tc_gemm_depth_block(kr, pb->k), k1 - k0);
    b_layout(&lg, (char *)tc_thread_scratch(TC_SCRATCH_B, b_bytes(&lg, nc_max, kc_max)), nc_max, kc_max);
    char *abuf = pb->a_packed ? NULL
                              : (char *)tc_thread_scratch(TC_SCRATCH_A, (size_t)(round_up(kr->mc, kr->mr) * kc_max) * s->es);
    if (!lg.bbuf || (!abuf && !pb->a_packed)) {
        atomic_store(&s->failed, 1);
        return;
    }
    for (lg.jc = 0; lg.jc < pb->n; lg.jc += kr->nc) {                 /* loop 5 */
        lg.nc = min_pd(kr->nc, pb->n - lg.jc);
        serial_depth(&lg, k0, k1, 0.0, abuf, 0, pb->m);                /* this chunk's depth */
    }
}

/* C = alpha * (sum of the partials, in chunk order) + beta * C, row by row */
#define REDUCE_ROW(T, NAME)                                                                        \
    static void NAME(const split_call *s, ptrdiff_t i)                                             \
    {                                                                                              \
        const tc_gemm_problem *pb = s->pb;                                                         \
        const T *p0 = (const T *)s->parts + i * pb->n;                                             \
        ptrdiff_t stride = pb->m * pb->n;                                                          \
        T *row = (T *)pb->c + (pb->c_rowoff ? pb->c_rowoff[i] : i * pb->rs_c);                     \
        for (ptrdiff_t j = 0; j < pb->n; ++j) {                                                    \
            T sum = p0[j];                                                                         \
            for (int q = 1; q < s->splits; ++q)                                                    \
                sum += p0[q * stride + j];                                                         \
            T *c = row + (pb->c_coloff ? pb->c_coloff[j] : j * pb->cs_c);                          \
            TC_CHECK((const char *)c >= pb->c_lo && (const char *)c < pb->c_hi);                   \
            *c = pb->beta == 0.0 ? (T)pb->alpha * sum : (T)pb->alpha * sum + *c;                   \
        }                                                                                          \
    }

REDUCE_ROW(float, reduce_row_f32)
REDUCE_ROW(double, reduce_row_f64)

static void reduce_task(void *ctx, int task, int thread)
{
    (void)thread;
    const split_call *s = (const split_call *)ctx;
    if (s->es == sizeof(float))
        reduce_row_f32(s, task);
    else
        reduce_row_f64(s, task);
}

static int split_depth(const tc_isa_table *isa, const tc_gemm_problem *pb, int splits, int threads)
{
    size_t es = tc_dtype_size(pb->dtype);
    split_call s = {.kr = &isa->gemm[pb->dtype], .pb = pb, .es = es, .splits = splits};
    s.chunk = round_up(ceil_div(pb->k, splits), tc_gemm_depth_block(s.kr, pb->k)); /* whole depth blocks */
    s.splits = (int)ceil_div(pb->k, s.chunk);
    s.parts = (char *)malloc((size_t)(s.splits * pb->m * pb->n) * es);
    if (!s.parts)
        return -1;
    atomic_init(&s.failed, 0);
    tc_team team;
    tc_team_begin(&team, threads);
    tc_team_run(&team, s.splits, split_task, &s);
    if (!atomic_load(&s.failed))
        tc_team_run(&team, (int)pb->m, reduce_task, &s);
    tc_team_end(&team);
    free(s.parts);
    return atomic_load(&s.failed) ? -1 : 0;
}

int tc_gemm(const tc_isa_table *isa, const tc_gemm_problem *pb_in, int threads)
{
    tc_gemm_problem pb = *pb_in;
    if (pb.m <= 0 || pb.n <= 0)
        return 0;
    if (!pb.c_coloff && !pb.a_packed && pb.cs_c != 1 && pb.rs_c == 1) { /* C column-major: compute C^T = B^T A^T instead */
        tc_packer t = pb.a;
        pb.a = pb.b;
        pb.b = t;
        ptrdiff_t s = pb.m;
        pb.m = pb.n;
        pb.n = s;
        pb.rs_c = pb_in->cs_c;
        pb.cs_c = 1;
    }
    size_t es = tc_dtype_size(pb.dtype);
    if (pb.k <= 0) {
        scale_c(&pb, es);
        return 0;
    }
    int splits = depth_splits(&isa->gemm[pb.dtype], &pb); /* from the shape alone (see split_depth) */
    if (splits > 1 && !buffered_c(&pb, &isa->gemm[pb.dtype], es))
        return split_depth(isa, &pb, splits, threads);
    gemm_call g = {.kr = &isa->gemm[pb.dtype], .pb = &pb, .es = es, .taps = taps_mode(&isa->gemm[pb.dtype], &pb)};
    atomic_init(&g.failed, 0);
    const tc_gemm_kernel *kr = g.kr;
    ptrdiff_t kb = tc_gemm_depth_block(kr, pb.k), nc_max = round_up(min_pd(kr->nc, pb.n), kr->nr);
    if (!b_layout(&g, (char *)tc_thread_scratch(TC_SCRATCH_B, b_bytes(&g, nc_max, kb)), nc_max, kb))
        return -1;
    if (buffered_c(&pb, kr, es)) {
        g.cbuf_rs = nc_max;
        g.cbuf = (char *)tc_thread_scratch(TC_SCRATCH_C, (size_t)(pb.m * nc_max) * es);
        g.runs = (column_run *)tc_thread_scratch(TC_SCRATCH_RUNS, sizeof(column_run) * (size_t)nc_max);
        if (!g.cbuf || !g.runs)
            return -1;
    }
    double flops = 2.0 * (double)pb.m * (double)pb.n * (double)pb.k;
    tc_team team;
    double step = 2.0 * (double)pb.m * (double)min_pd(pb.n, kr->nc) * (double)kb;
    int want = flops < TC_SMALL_FLOPS ? 1 : threads;
    int columns = column_tasks(&pb, kr, want);
    tc_team_begin(&team, columns || step >= TC_STEP_FLOPS ? want : 1);
    if (columns && team.threads > 1) {
        const ptrdiff_t panels = ceil_div(pb.n, kr->nr), rem = panels % team.threads;
        const int split = rem && panels > team.threads && ceil_div(pb.m, kr->mr) >= 4 * team.threads;
        g.row_parts = split ? team.threads : 0;
        g.cpanels = panels - (split ? rem : 0);
        g.ctasks = min_pd(columns * team.threads, g.cpanels);
        tc_team_run(&team, (int)(g.ctasks + g.row_parts), column_task, &g);
        tc_team_end(&team);
        return atomic_load(&g.failed) ? -1 : 0;
    }
    for (g.jc = 0; g.jc < pb.n; g.jc += kr->nc) {                     /* loop 5 */
        g.nc = min_pd(kr->nc, pb.n - g.jc);
        plan_tiles(&g, team.threads);
        for (g.pc = 0; g.pc < pb.k; g.pc += kb) {                     /* loop 4 */
            g.kc = min_pd(kb, pb.k - g.pc);
            g.beta = g.pc == 0 ? pb.beta : 1.0;
            tc_team_run(&team, (int)ceil_div(g.nc, g.pack_chunk), pack_b_task, &g);
            tc_team_run(&team, (int)(g.tm * g.tn), tile_task, &g);
        }
        if (g.cbuf) {
            column_runs(&g);
            tc_team_run(&team, (int)ceil_div(pb.m, SCATTER_ROWS), scatter_task, &g);
        }
    }
    tc_team_end(&team);
    return atomic_load(&g.failed) ? -1 : 0;
}
