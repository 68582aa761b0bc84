/* convplan.c: a convolution as a list of implicit GEMMs, planned once and run many times.
 *
 * A plan is everything about a call that depends only on shapes and parameters: per "part" (a
 * stride phase of conv_transpose, or the whole of conv) the indirection tables of B and the column
 * table of C; per GEMM (a part for one group) the offsets into the weight, source and output.
 * conv_plan builds and checks it once (every index it will touch lies inside buffers of the given
 * lengths) and hands it to Python as a capsule: Python cannot change it afterwards, so conv_run
 * only checks that the buffers are the lengths the plan was made for.
 *
 *   GEMM  C[i, j] = sum_q A[i, q] B[q, j],  q = c * ntaps + t
 *   A[i, q] = w[w_base + i * a_rs + a_qoff[q]]                 (packed once per call, or kept)
 *   B[q, j] = src[src_base + c * cstride + ind[t][j]]          (ind < 0: zero; tc_indirect)
 *   C[i, j] = dst[c_base + i * c_rs + c_coloff[j]]
 * A GEMM may replace i * a_rs and i * c_rs by row tables: the stride phases that read the same
 * input cells (kernel == stride, say) are one GEMM whose rows are (output channel, phase).
 *
 * The indirection table ind[t][j] is colbase[j] + tapoff[t] where every axis of
 * colcoord[j] + tapcoord[t] is inside `bounds`, else -1; each panel of NR columns gets a kind per
 * tap (a plain copy, a masked copy, a gather or zeros; tc_common.h), and only the gather panels
 * keep their offsets: a run (the common case) is its first offset and a mask of 32 bits. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdlib.h>
#include <string.h>

#include "binding.h"
#include "conv.h"
#include "gemm.h"
#include "pool.h"
#include "scratch.h"

#define PLAN_CAPSULE "tconv.conv_plan"

typedef struct {
    tc_indirect ind;
    int32_t *gather_buf, *base_buf; /* gather_buf: the offsets of the gather panels, width each */
    ptrdiff_t ngather;
    uint8_t *kind_buf;
    uint32_t *mask_buf;
    int64_t *c_coloff, *a_qoff;
    ptrdiff_t n, k, channels;
    int64_t vmax;          /* the largest valid ind (-1: none) */
} plan_part;

typedef struct {
    int part;
    ptrdiff_t m, a_rs, w_base, src_base, cstride, c_rs, c_base;
    int64_t *a_rowoff, *c_rowoff; /* m each, or NULL: rows i * a_rs, i * c_rs */
    ptrdiff_t a_off;       /* this GEMM's A in the packed buffer (elements) */
} plan_gemm;

typedef struct {
    tc_dtype dtype;
    const tc_isa_table *isa; /* the ISA whose register tile (NR) and blocks (MR, KC) the plan fits */
    int mr, nr, kc;
    int nparts, ngemms;
    plan_part *parts;
    plan_gemm *gemms;
    ptrdiff_t w_len, src_len, dst_len, a_len;
} conv_plan;

static void plan_free(conv_plan *p)
{
    if (!p)
        return;
    for (int i = 0; p->parts && i < p->nparts; ++i) {
        free(p->parts[i].gather_buf);
        free(p->parts[i].base_buf);
        free(p->parts[i].kind_buf);
        free(p->parts[i].mask_buf);
        free(p->parts[i].c_coloff);
        free(p->parts[i].a_qoff);
    }
    free(p->parts);
    for (int i = 0; p->gemms && i < p->ngemms; ++i) {
        free(p->gemms[i].a_rowoff);
        free(p->gemms[i].c_rowoff);
    }
    free(p->gemms);
    free(p);
}

static void capsule_free(PyObject *cap) { plan_free((conv_plan *)PyCapsule_GetPointer(cap, PLAN_CAPSULE)); }

/* ---- the indirection tables ---- */

/* The kind of one panel's lanes (tc_common.h), the offset its copies start from and its valid
 * lanes as bits. */
static uint8_t panel_kind(const int32_t *ind, int width, int32_t *base, uint32_t *mask)
{
    int valid = 0, affine = 1;
    int64_t b = 0;
    *mask = 0;
    for (int i = 0; i < width; ++i) {
        if (ind[i] < 0)
            continue;
        *mask |= 1u << i;
        if (!valid++)
            b = (int64_t)ind[i] - i;
        affine &= (int64_t)ind[i] - i == b;
    }
    *base = 0;
    if (!valid)
        return TC_IND_ZERO;
    if (!affine || b < INT32_MIN || b > INT32_MAX)
        return TC_IND_GATHER;
    *base = (int32_t)b;
    return valid == width ? TC_IND_DENSE : TC_IND_MASKED;
}

/* Tap q's offsets of every column into row[0:npad] (-1 outside the source, and past the last
 * column); -1 on an offset past INT32_MAX or a negative one. */
static int tap_row(plan_part *part, const int64_t *colbase, const int64_t *colcoord, int64_t tapoff,
                   const int64_t *tc, const int64_t *bounds, int nd, int32_t *row)
{
    for (ptrdiff_t j = 0; j < part->ind.npad; ++j) {
        row[j] = -1;
        if (j >= part->n)
            continue;
        const int64_t *cc = colcoord + j * nd;
        int inside = 1;
        for (int a = 0; a < nd; ++a) {
            int64_t v = cc[a] + tc[a];
            inside &= v >= 0 && v < bounds[a];
        }
        if (!inside)
            continue;
        int64_t v = colbase[j] + tapoff;
        if (v < 0 || v > INT32_MAX)
            return -1;
        row[j] = (int32_t)v;
        part->vmax = v > part->vmax ? v : part->vmax;
    }
    return 0;
}

/* Appends one gather panel's offsets to part->gather_buf (grown by doubling); its index, or -1. */
static int64_t keep_gather(plan_part *part, const int32_t *lanes, int width, ptrdiff_t *cap)
{
    if (part->ngather == *cap) {
        ptrdiff_t grown = *cap ? 2 * *cap : 64;
        int32_t *g = (int32_t *)realloc(part->gather_buf, sizeof(int32_t) * (size_t)(grown * width));
        if (!g)
            return -1;
        part->gather_buf = g;
        *cap = grown;
    }
    memcpy(part->gather_buf + part->ngather * width, lanes, sizeof(int32_t) * (size_t)width);
    return part->ngather++;
}

/* Builds part->ind from the coordinate tables: per (tap, panel) its kind, base and valid lanes;
 * only gather panels keep their offsets (a panel of a run needs its first offset alone).  0, -1
 * on an offset past INT32_MAX or a negative one, -2 when memory ran out. */
static int build_indirect(plan_part *part, const int64_t *colbase, const int64_t *colcoord, const int64_t *tapoff,
                          const int64_t *tapcoord, const int64_t *bounds, int nd, int ntaps, int width)
{
    tc_indirect *t = &part->ind;
    t->ntaps = ntaps;
    t->width = width;
    t->npanels = (part->n + width - 1) / width;
    t->npad = t->npanels * width;
    if (width > 32 || (ntaps > 0 && t->npanels > (INT32_MAX / 2) / ntaps)) /* panel indices stay int32 */
        return -2;
    size_t cells = (size_t)(ntaps * t->npanels + 1);
    int32_t *row = (int32_t *)malloc(sizeof(int32_t) * (size_t)(t->npad + 1));
    part->base_buf = (int32_t *)malloc(sizeof(int32_t) * cells);
    part->kind_buf = (uint8_t *)malloc(cells);
    part->mask_buf = (uint32_t *)malloc(sizeof(uint32_t) * cells);
    int rc = row && part->base_buf && part->kind_buf && part->mask_buf ? 0 : -2;
    ptrdiff_t cap = 0;
    part->vmax = -1;
    for (int q = 0; q < ntaps && rc == 0; ++q) {
        rc = tap_row(part, colbase, colcoord, tapoff[q], tapcoord + q * nd, bounds, nd, row);
        for (ptrdiff_t pj = 0; pj < t->npanels && rc == 0; ++pj) {
            ptrdiff_t at = pj * ntaps + q; /* panel-major: a panel's taps side by side */
            part->kind_buf[at] = panel_kind(row + pj * width, width, part->base_buf + at, part->mask_buf + at);
            if (part->kind_buf[at] == TC_IND_GATHER) {
                int64_t g = keep_gather(part, row + pj * width, width, &cap);
                rc = g < 0 ? -2 : 0;
                part->base_buf[at] = (int32_t)g;
            }
        }
    }
    free(row);
    t->gather = part->gather_buf;
    t->base = part->base_buf;
    t->kind = part->kind_buf;
    t->mask = part->mask_buf;
    return rc;
}

/* Bytes the part's tables hold */
static ptrdiff_t part_bytes(const plan_part *pt)
{
    ptrdiff_t cells = pt->ind.ntaps * pt->ind.npanels;
    return cells * 9 + pt->ngather * pt->ind.width * 4 + 8 * (pt->n + pt->k);
}

/* ---- conv_plan(dtype, bounds, parts, gemms, w_len, src_len, dst_len) ---- */

static int64_t *copy_table(const tc_buf *b, Py_ssize_t len)
{
    int64_t *out = (int64_t *)malloc(sizeof(int64_t) * (size_t)(len + 1));
    if (out && len > 0)
        memcpy(out, b->view.buf, sizeof(int64_t) * (size_t)len);
    return out;
}

enum { PT_COLBASE, PT_COLCOORD, PT_TAPOFF, PT_TAPCOORD, PT_COLOFF, PT_AQOFF, PT_N };

/* One part from its tuple (colbase, colcoord, tapoff, tapcoord, c_coloff, a_qoff, channels). */
static int parse_part(PyObject *tup, plan_part *part, const int64_t *bounds, int nd, int width)
{
    static const char *names[PT_N] = {"colbase", "colcoord", "tapoff", "tapcoord", "c_coloff", "a_qoff"};
    PyObject *obj[PT_N];
    long long channels;
    if (!PyArg_ParseTuple(tup, "OOOOOOL", &obj[0], &obj[1], &obj[2], &obj[3], &obj[4], &obj[5], &channels))
        return -1;
    tc_buf b[PT_N];
    Py_ssize_t len[PT_N];
    int got = 0, rc = -1;
    for (; got < PT_N; ++got)
        if (tc_get_flat(obj[got], names[got], 0, 1, &b[got], &len[got]) != 0)
            break;
    if (got < PT_N)
        goto done;
    Py_ssize_t n = len[PT_COLBASE], ntaps = len[PT_TAPOFF];
    if (channels < 0 || len[PT_COLCOORD] != n * nd || len[PT_TAPCOORD] != ntaps * nd || len[PT_COLOFF] != n ||
        len[PT_AQOFF] != channels * ntaps || ntaps > INT32_MAX) {
        PyErr_Format(tc_err_value(), "conv_plan: a part's tables do not agree (n=%zd, taps=%zd, channels=%lld)", n,
                     ntaps, channels);
        goto done;
    }
    part->n = n;
    part->channels = (ptrdiff_t)channels;
    part->k = (ptrdiff_t)(channels * ntaps);
    part->c_coloff = copy_table(&b[PT_COLOFF], n);
    part->a_qoff = copy_table(&b[PT_AQOFF], len[PT_AQOFF]);
    int built = part->c_coloff && part->a_qoff
                    ? build_indirect(part, (const int64_t *)b[PT_COLBASE].view.buf, (const int64_t *)b[PT_COLCOORD].view.buf,
                                     (const int64_t *)b[PT_TAPOFF].view.buf, (const int64_t *)b[PT_TAPCOORD].view.buf,
                                     bounds, nd, (int)ntaps, width)
                    : -2;
    if (built == -2)
        PyErr_NoMemory();
    else if (built == -1)
        PyErr_SetString(tc_err_value(), "conv_plan: a source index is negative or past 2**31 - 1");
    else
        rc = 0;
done:
    for (int i = 0; i < got; ++i)
        tc_buf_release(&b[i]);
    return rc;
}

/* [lo, hi] of rows [0, m): the table's values, or i * rs (the range checks run in 128 bits: no sum or
 * product of the caller's int64 values can wrap past them) */
static void row_span(const int64_t *rowoff, ptrdiff_t m, ptrdiff_t rs, __int128 *lo, __int128 *hi)
{
    *lo = 0;
    *hi = 0;
    if (!rowoff) {
        __int128 last = (__int128)(m - 1) * rs;
        *lo = last < 0 ? last : 0;
        *hi = last > 0 ? last : 0;
        return;
    }
    for (ptrdiff_t i = 0; i < m; ++i) {
        *lo = i == 0 || rowoff[i] < *lo ? rowoff[i] : *lo;
        *hi = i == 0 || rowoff[i] > *hi ? rowoff[i] : *hi;
    }
}

/* Do base + row + table[j] land in [0, len) for every row of the span and every j? */
static int span_in_range(int64_t base, __int128 lo, __int128 hi, const int64_t *table, ptrdiff_t n, int64_t len)
{
    if (n <= 0)
        return 1;
    int64_t tlo = table[0], thi = table[0];
    for (ptrdiff_t j = 1; j < n; ++j) {
        tlo = table[j] < tlo ? table[j] : tlo;
        thi = table[j] > thi ? table[j] : thi;
    }
    return (__int128)base + lo + tlo >= 0 && (__int128)base + hi + thi < len;
}

/* Every index of GEMM g inside its buffers? */
static int gemm_in_range(const conv_plan *p, const plan_gemm *g)
{
    const plan_part *pt = &p->parts[g->part];
    __int128 lo, hi;
    if (g->m < 0 || g->m > TC_GEMM_ROWS_MAX || g->cstride < 0 || g->src_base < 0)
        return 0;
    if (g->m == 0)
        return 1;
    row_span(g->a_rowoff, g->m, g->a_rs, &lo, &hi);
    if (!span_in_range(g->w_base, lo, hi, pt->a_qoff, pt->k, p->w_len))
        return 0;
    row_span(g->c_rowoff, g->m, g->c_rs, &lo, &hi);
    if (!span_in_range(g->c_base, lo, hi, pt->c_coloff, pt->n, p->dst_len))
        return 0;
    if (pt->vmax < 0 || pt->channels == 0)
        return 1;
    __int128 last = (__int128)g->src_base + (__int128)(pt->channels - 1) * g->cstride + pt->vmax;
    return last < p->src_len;
}

/* A row table of m entries (None: no table). */
static int parse_rows(PyObject *obj, const char *name, ptrdiff_t m, int64_t **out)
{
    *out = NULL;
    if (obj == Py_None)
        return 0;
    tc_buf b;
    Py_ssize_t len;
    if (tc_get_flat(obj, name, 0, 1, &b, &len) != 0)
        return -1;
    int rc = -1;
    if (len != m)
        PyErr_Format(tc_err_value(), "conv_plan: %s has %zd entries for %zd rows", name, len, m);
    else if (!(*out = copy_table(&b, len)))
        PyErr_NoMemory();
    else
        rc = 0;
    tc_buf_release(&b);
    return rc;
}

static int parse_gemms(PyObject *list, conv_plan *p)
{
    p->ngemms = (int)PyList_GET_SIZE(list);
    p->gemms = (plan_gemm *)calloc((size_t)p->ngemms + 1, sizeof(plan_gemm));
    if (!p->gemms) {
        PyErr_NoMemory();
        return -1;
    }
    ptrdiff_t off = 0;
    for (int i = 0; i < p->ngemms; ++i) {
        plan_gemm *g = &p->gemms[i];
        long long v[8];
        PyObject *ar, *cr;
        if (!PyArg_ParseTuple(PyList_GET_ITEM(list, i), "LLLLLLLLOO", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6],
                              &v[7], &ar, &cr))
            return -1;
        if (v[0] < 0 || v[0] >= p->nparts) {
            PyErr_Format(tc_err_value(), "conv_plan: gemm %d names part %lld of %d", i, v[0], p->nparts);
            return -1;
        }
        *g = (plan_gemm){.part = (int)v[0], .m = v[1], .a_rs = v[2], .w_base = v[3], .src_base = v[4],
                         .cstride = v[5], .c_rs = v[6], .c_base = v[7], .a_off = off};
        if (parse_rows(ar, "a_rowoff", g->m, &g->a_rowoff) != 0 || parse_rows(cr, "c_rowoff", g->m, &g->c_rowoff) != 0)
            return -1;
        if (!gemm_in_range(p, g)) {
            PyErr_Format(tc_err_value(), "conv_plan: gemm %d reaches outside its buffers", i);
            return -1;
        }
        if (__builtin_add_overflow(off, tc_gemm_a_len(p->isa, p->dtype, g->m, p->parts[g->part].k), &off) ||
            off > ((ptrdiff_t)1 << 57)) { /* m < 2**31 and k a table's length: each term fits, the sum is checked */
            PyErr_Format(tc_err_value(), "conv_plan: the packed weights of gemms 0..%d pass 2**57 elements", i);
            return -1;
        }
    }
    p->a_len = off;
    return 0;
}

PyObject *tc_py_conv_plan(PyObject *self, PyObject *args)
{
    (void)self;
    const char *dt;
    PyObject *bounds_obj, *parts, *gemms;
    long long w_len, src_len, dst_len;
    if (!PyArg_ParseTuple(args, "sOO!O!LLL", &dt, &bounds_obj, &PyList_Type, &parts, &PyList_Type, &gemms, &w_len,
                          &src_len, &dst_len))
        return NULL;
    tc_dtype dtype;
    if (tc_parse_float_format(dt, &dtype) != 0)
        return PyErr_Format(tc_err_type(), "conv_plan: dtype=%s; use 'f' or 'd'", dt);
    tc_buf bb;
    Py_ssize_t nd;
    if (tc_get_flat(bounds_obj, "bounds", 0, 1, &bb, &nd) != 0)
        return NULL;
    int64_t bounds[TC_MAX_ND];
    int ok_nd = nd >= 1 && nd <= TC_MAX_ND;
    for (Py_ssize_t a = 0; ok_nd && a < nd; ++a)
        bounds[a] = ((const int64_t *)bb.view.buf)[a];
    tc_buf_release(&bb);
    if (!ok_nd || w_len < 0 || src_len < 0 || dst_len < 0)
        return PyErr_Format(tc_err_value(), "conv_plan: %zd axes (1 to %d) or a negative buffer length", nd, TC_MAX_ND);
    conv_plan *p = (conv_plan *)calloc(1, sizeof(conv_plan));
    if (!p)
        return PyErr_NoMemory();
    const tc_isa_table *isa = tc_isa_current();
    *p = (conv_plan){.dtype = dtype, .isa = isa, .mr = isa->gemm[dtype].mr, .nr = isa->gemm[dtype].nr,
                     .kc = isa->gemm[dtype].kc, .w_len = w_len, .src_len = src_len, .dst_len = dst_len};
    p->nparts = (int)PyList_GET_SIZE(parts);
    p->parts = (plan_part *)calloc((size_t)p->nparts + 1, sizeof(plan_part));
    if (!p->parts) {
        plan_free(p);
        return PyErr_NoMemory();
    }
    for (int i = 0; i < p->nparts; ++i) {
        if (parse_part(PyList_GET_ITEM(parts, i), &p->parts[i], bounds, (int)nd, p->nr) != 0) {
            plan_free(p);
            return NULL;
        }
    }
    if (parse_gemms(gemms, p) != 0) {
        plan_free(p);
        return NULL;
    }
    PyObject *cap = PyCapsule_New(p, PLAN_CAPSULE, capsule_free);
    if (!cap)
        plan_free(p);
    return cap;
}

static conv_plan *get_plan(PyObject *obj)
{
    conv_plan *p = (conv_plan *)PyCapsule_GetPointer(obj, PLAN_CAPSULE);
    if (!p) {
        PyErr_Clear();
        PyErr_SetString(tc_err_type(), "plan: expected a conv_plan capsule");
        return NULL;
    }
    const tc_gemm_kernel *k = &tc_isa_current()->gemm[p->dtype];
    if (p->isa != tc_isa_current() || p->mr != k->mr || p->kc != k->kc) {
        PyErr_Format(tc_err_value(), "plan: made for the %s kernels; the %s kernels (or their blocks) run now",
                     p->isa->name, tc_isa_name());
        return NULL;
    }
    return p;
}

PyObject *tc_py_conv_plan_info(PyObject *self, PyObject *arg)
{
    (void)self;
    conv_plan *p = (conv_plan *)PyCapsule_GetPointer(arg, PLAN_CAPSULE);
    if (!p)
        return NULL;
    ptrdiff_t bytes = (ptrdiff_t)sizeof(conv_plan) + p->ngemms * (ptrdiff_t)sizeof(plan_gemm);
    for (int i = 0; i < p->nparts; ++i)
        bytes += part_bytes(&p->parts[i]);
    for (int i = 0; i < p->ngemms; ++i)
        bytes += 8 * p->gemms[i].m * ((p->gemms[i].a_rowoff != NULL) + (p->gemms[i].c_rowoff != NULL));
    return Py_BuildValue("{s:n,s:s,s:i,s:i,s:i,s:i,s:n,s:n,s:n,s:n}", "a_len", p->a_len, "isa", p->isa->name, "mr",
                         p->mr, "kc", p->kc, "gemms", p->ngemms, "parts", p->nparts, "w_len", p->w_len, "src_len",
                         p->src_len, "dst_len", p->dst_len, "bytes", bytes);
}

/* ---- running ---- */

typedef struct {
    const tc_indirect *t;
    const char *src;
    ptrdiff_t cstride;
    tc_pack_ind fn;
    size_t es;
} ind_ctx;

/* the driver's packer interface over the ISA's indirect panel packer */
static void pack_indirect(const tc_packer *self, ptrdiff_t r0, ptrdiff_t rows, ptrdiff_t p0, ptrdiff_t depth,
                          int width, void *dst)
{
    const ind_ctx *c = (const ind_ctx *)self->ctx;
    TC_CHECK(width == c->t->width && r0 % width == 0 && r0 + rows <= c->t->npad);
    c->fn(c->t, c->src, c->cstride, r0 / width, (rows + width - 1) / width, p0, depth, dst);
}

/* the driver's taps interface (B read in place): a micro-panel without gather taps */
static int taps_indirect(const tc_packer *self, ptrdiff_t panel, ptrdiff_t p0, tc_taps *out)
{
    const ind_ctx *c = (const ind_ctx *)self->ctx;
    const tc_indirect *t = c->t;
    TC_CHECK(panel >= 0 && panel < t->npanels);
    for (int tap = 0; tap < t->ntaps; ++tap)
        if (t->kind[panel * t->ntaps + tap] == TC_IND_GATHER)
            return 0;
    *out = (tc_taps){.src = c->src + (size_t)((p0 / t->ntaps) * c->cstride) * c->es, .cstride = c->cstride,
                     .tstride = 1, .base = t->base + panel * t->ntaps, .mask = t->mask + panel * t->ntaps, .ntaps = t->ntaps,
                     .t0 = (int)(p0 % t->ntaps)};
    return 1;
}

/* the GEMM problem of g over the given buffers (the packer contexts are the caller's) */
static tc_gemm_problem gemm_problem(const conv_plan *p, const plan_gemm *g, const char *w, const char *src, char *dst,
                                    size_t dst_bytes, tc_wtable *wt, ind_ctx *ic)
{
    const plan_part *pt = &p->parts[g->part];
    size_t es = tc_dtype_size(p->dtype);
    const tc_gemm_kernel *kr = &p->isa->gemm[p->dtype];
    *wt = (tc_wtable){p->dtype, w + (size_t)g->w_base * es, pt->a_qoff, g->a_rs, g->a_rowoff, kr->pack_rm};
    *ic = (ind_ctx){&pt->ind, src ? src + (size_t)g->src_base * es : NULL, g->cstride, kr->pack_ind, es};
    return (tc_gemm_problem){.dtype = p->dtype, .m = g->m, .n = pt->n, .k = pt->k, .alpha = 1.0, .beta = 0.0,
                             .a = {tc_pack_wtable, wt},
                             .b = {pack_indirect, ic, kr->taps_kernel ? taps_indirect : NULL},
                             .c = dst ? dst + (size_t)g->c_base * es : NULL, .rs_c = g->c_rs, .cs_c = 1, .c_coloff = pt->c_coloff,
                             .c_rowoff = g->c_rowoff, .c_lo = dst, .c_hi = dst + dst_bytes};
}

/* Packing A for every GEMM: tasks (depth block, row block), each packing that block of every
 * GEMM in turn, PACK_ROWS row panels at a time, so that the GEMMs of the stride phases, which read
 * the same weights (other taps of the same channels), read them while they are in cache: the weights
 * are read from memory about once instead of once per phase.  (A whole block per GEMM was 1 MiB of
 * weight lines for L1, past L2: each phase read them from L3 again, the packing 11% of the call.) */
#define PACK_ROWS 4
typedef struct {
    const conv_plan *p;
    const char *w;
    char *packed;
    ptrdiff_t blocks, row_blocks;
} pack_job;

static void pack_task(void *ctx, int task, int thread)
{
    (void)thread;
    const pack_job *j = (const pack_job *)ctx;
    const conv_plan *p = j->p;
    const tc_gemm_kernel *kr = &p->isa->gemm[p->dtype];
    size_t es = tc_dtype_size(p->dtype);
    ptrdiff_t block = task / j->row_blocks, ic = (task % j->row_blocks) * kr->mc, step = PACK_ROWS * kr->mr;
    for (ptrdiff_t r = ic; r < ic + kr->mc; r += step) /* a few row panels of every GEMM at a time */
        for (int i = 0; i < p->ngemms; ++i) {
            const plan_gemm *g = &p->gemms[i];
            ptrdiff_t k = p->parts[g->part].k, kb = tc_gemm_depth_block(kr, k), pc = block * kb;
            ptrdiff_t end = ic + kr->mc < g->m ? ic + kr->mc : g->m;
            if (pc >= k || r >= end)
                continue;
            tc_wtable wt;
            ind_ctx c;
            tc_gemm_problem pb = gemm_problem(p, g, j->w, NULL, NULL, 0, &wt, &c);
            ptrdiff_t kc = k - pc < kb ? k - pc : kb, rows = end - r < step ? end - r : step;
            ptrdiff_t mpad = (g->m + kr->mr - 1) / kr->mr * kr->mr;
            pb.a.pack(&pb.a, r, rows, pc, kc, kr->mr, j->packed + (size_t)(g->a_off + pc * mpad + r * kc) * es);
        }
}

static void pack_all(const conv_plan *p, const char *w, char *packed, int threads)
{
    const tc_gemm_kernel *kr = &p->isa->gemm[p->dtype];
    pack_job j = {p, w, packed, 0, 0};
    for (int i = 0; i < p->ngemms; ++i) {
        const plan_gemm *g = &p->gemms[i];
        ptrdiff_t k = p->parts[g->part].k, kb = tc_gemm_depth_block(kr, k), b = (k + kb - 1) / kb;
        ptrdiff_t r = (g->m + kr->mc - 1) / kr->mc;
        j.blocks = b > j.blocks ? b : j.blocks;
        j.row_blocks = r > j.row_blocks ? r : j.row_blocks;
    }
    tc_team team;
    tc_team_begin(&team, (double)p->a_len < 1e5 ? 1 : threads);
    tc_team_run(&team, (int)(j.blocks * j.row_blocks), pack_task, &j);
    tc_team_end(&team);
}

/* w, src, dst (and a packed A, when given) as the plan expects them; -1 with an error set. */
static int get_buffers(const conv_plan *p, PyObject *const *obj, tc_buf *b, int *got)
{
    static const char *names[3] = {"w", "src", "dst"};
    const ptrdiff_t want[3] = {p->w_len, p->src_len, p->dst_len};
    Py_ssize_t len;
    for (*got = 0; *got < 3; ++*got) {
        if (tc_get_flat(obj[*got], names[*got], *got == 2, 0, &b[*got], &len) != 0)
            return -1;
        if (b[*got].dtype != p->dtype || len != want[*got]) {
            ++*got;
            PyErr_Format(tc_err_value(), "%s: %zd elements of %s; the plan was made for %zd of %s", names[*got - 1],
                         len, b[*got - 1].dtype == TC_F32 ? "float32" : "float64", want[*got - 1],
                         p->dtype == TC_F32 ? "float32" : "float64");
            return -1;
        }
    }
    if (tc_ranges_overlap(&b[2].view, &b[0].view) || tc_ranges_overlap(&b[2].view, &b[1].view)) {
        PyErr_SetString(tc_err_value(), "dst: the output must not share memory with w or src");
        return -1;
    }
    return 0;
}

/* The packed A given to conv_run / filled by conv_pack: a C-contiguous float buffer of a_len. */
static int get_packed(const conv_plan *p, PyObject *obj, int writable, tc_buf *b)
{
    Py_ssize_t len;
    if (tc_get_flat(obj, "packed", writable, 0, b, &len) != 0)
        return -1;
    if (b->dtype != p->dtype || len != p->a_len) {
        PyErr_Format(tc_err_value(), "packed: %zd elements; the plan's packed weights are %zd of its dtype", len,
                     p->a_len);
        tc_buf_release(b);
        return -1;
    }
    return 0;
}

/* conv_run(plan, w, src, dst, threads, packed): every GEMM of the plan (dst is written whole). */
PyObject *tc_py_conv_run(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *cap, *obj[3], *packed_obj;
    int threads;
    if (!PyArg_ParseTuple(args, "OOOOiO", &cap, &obj[0], &obj[1], &obj[2], &threads, &packed_obj))
        return NULL;
    conv_plan *p = get_plan(cap);
    if (!p)
        return NULL;
    tc_buf b[3], pk = {.held = 0};
    int got = 0, rc = 0;
    PyObject *result = NULL;
    if (get_buffers(p, obj, b, &got) != 0 || (packed_obj != Py_None && get_packed(p, packed_obj, 0, &pk) != 0))
        goto done;
    threads = threads < 1 ? tc_pool_threads() : threads;
    size_t es = tc_dtype_size(p->dtype);
    const char *packed = pk.held ? (const char *)pk.view.buf : NULL;
    char *own = NULL;
    if (!packed && p->a_len > 0) {
        own = (char *)tc_call_buffer(TC_SCRATCH_WEIGHTS, (size_t)p->a_len * es);
        if (!own) {
            PyErr_NoMemory();
            goto done;
        }
    }
    const char *w = (const char *)b[0].view.buf, *src = (const char *)b[1].view.buf;
    char *dst = (char *)b[2].view.buf;
    Py_BEGIN_ALLOW_THREADS
    tc_pool_hold(1); /* the packing and the GEMMs' loops back to back: workers stay awake between */
    if (own) {
        pack_all(p, w, own, threads);
        packed = own;
    }
    for (int i = 0; i < p->ngemms && rc == 0; ++i) {
        const plan_gemm *g = &p->gemms[i];
        tc_wtable wt;
        ind_ctx ic;
        tc_gemm_problem pb = gemm_problem(p, g, w, src, dst, (size_t)b[2].view.len, &wt, &ic);
        pb.a_packed = packed ? packed + (size_t)g->a_off * es : NULL;
        rc = tc_gemm(p->isa, &pb, threads);
    }
    tc_pool_hold(-1);
    Py_END_ALLOW_THREADS
    tc_call_release(TC_SCRATCH_WEIGHTS, own);
    result = tc_none_or_nomem(rc);
done:
    for (int i = 0; i < got; ++i)
        tc_buf_release(&b[i]);
    tc_buf_release(&pk);
    return result;
}

/* conv_pack(plan, w, packed, threads): the weights packed for the plan's GEMMs, to keep. */
PyObject *tc_py_conv_pack(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *cap, *wo, *po;
    int threads;
    if (!PyArg_ParseTuple(args, "OOOi", &cap, &wo, &po, &threads))
        return NULL;
    conv_plan *p = get_plan(cap);
    if (!p)
        return NULL;
    tc_buf w, pk = {.held = 0};
    Py_ssize_t len;
    if (tc_get_flat(wo, "w", 0, 0, &w, &len) != 0)
        return NULL;
    PyObject *result = NULL;
    if (w.dtype != p->dtype || len != p->w_len)
        PyErr_Format(tc_err_value(), "w: %zd elements; the plan was made for %zd of its dtype", len, p->w_len);
    else if (get_packed(p, po, 1, &pk) == 0 && !tc_ranges_overlap(&pk.view, &w.view)) {
        threads = threads < 1 ? tc_pool_threads() : threads;
        Py_BEGIN_ALLOW_THREADS
        pack_all(p, (const char *)w.view.buf, (char *)pk.view.buf, threads);
        Py_END_ALLOW_THREADS
        result = Py_NewRef(Py_None);
    } else if (pk.held) {
        PyErr_SetString(tc_err_value(), "packed: must not share memory with w");
    }
    tc_buf_release(&w);
    tc_buf_release(&pk);
    return result;
}
