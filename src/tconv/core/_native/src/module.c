/* module.c: the Python binding, tconv.core._native._tconv.  CPython C API and the buffer
 * protocol only.  Shapes, dtypes and strides are checked again here (the Python wrapper checks
 * them first, with friendlier messages), so a bad call raises TconvError and never crashes. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "binding.h"
#include "buffer.h"
#include "conv.h"
#include "cpu.h"
#include "direct.h"
#include "direct_py.h"
#include "gemm.h"
#include "pool.h"
#include "scratch.h"

#define TC_MAX_ISAS 4

static const tc_isa_table *isa_tables[TC_MAX_ISAS];
static int n_isas;
static const tc_isa_table *isa_current;
static PyObject *err_value; /* tconv.errors.TconvError */
static PyObject *err_type;  /* tconv.errors.TconvTypeError */

#ifdef TC_DEBUG
void tc_check_failed(const char *cond, const char *file, int line)
{
    fprintf(stderr, "tconv native: TC_CHECK(%s) failed at %s:%d\n", cond, file, line);
    abort();
}
#endif

/* shared with the bindings in other files (direct_py.h) */
PyObject *tc_err_value(void) { return err_value; }
PyObject *tc_err_type(void) { return err_type; }
const char *tc_isa_name(void) { return isa_current->name; }
const tc_isa_table *tc_isa_current(void) { return isa_current; }

/* ---- buffers ---- */

/* Gets a 2-D float32/float64 strided buffer; on failure sets TconvError/TconvTypeError. */
static int get_operand(PyObject *obj, const char *name, int writable, tc_buf *o)
{
    o->held = 0;
    int flags = PyBUF_STRIDES | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, &o->view, flags) != 0) {
        PyErr_Clear();
        PyErr_Format(err_type, "%s: expected a %sbuffer of float32 or float64, got %s", name,
                     writable ? "writable " : "", Py_TYPE(obj)->tp_name);
        return -1;
    }
    o->held = 1;
    if (tc_buf_float_format(&o->view, &o->dtype) != 0) {
        PyErr_Format(err_type, "%s: format %s is not float32 ('f') or float64 ('d')", name,
                     o->view.format ? o->view.format : "?");
        tc_buf_release(o);
        return -1;
    }
    if (o->view.ndim != 2) {
        PyErr_Format(err_value, "%s: expected 2 dimensions, got %d", name, o->view.ndim);
        tc_buf_release(o);
        return -1;
    }
    for (int d = 0; d < 2; ++d) {
        if (o->view.strides[d] % o->view.itemsize != 0) {
            PyErr_Format(err_value, "%s: stride %zd of axis %d is not a multiple of the item size %zd",
                         name, o->view.strides[d], d, o->view.itemsize);
            tc_buf_release(o);
            return -1;
        }
    }
    return 0;
}

static tc_mat as_mat(const tc_buf *o, int transpose)
{
    const Py_buffer *v = &o->view;
    ptrdiff_t es = v->itemsize, lo = 0, hi = es;
    for (int d = 0; d < 2; ++d) {
        ptrdiff_t ext = (v->shape[d] - 1) * v->strides[d];
        if (v->shape[d] > 0 && ext < 0)
            lo += ext;
        else if (v->shape[d] > 0)
            hi += ext;
    }
    int r = transpose ? 1 : 0, c = 1 - r;
    tc_mat m = {(char *)v->buf, v->strides[r] / es, v->strides[c] / es, v->shape[r], v->shape[c],
                (char *)v->buf + lo, (char *)v->buf + hi};
    return m;
}

static int overlaps(const tc_mat *x, const tc_mat *y) { return x->lo < y->hi && y->lo < x->hi; }

/* ---- gemm(a, b, c, alpha, beta, threads) ---- */

static PyObject *py_gemm(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *ao, *bo, *co;
    double alpha, beta;
    int threads;
    if (!PyArg_ParseTuple(args, "OOOddi", &ao, &bo, &co, &alpha, &beta, &threads))
        return NULL;
    if (beta != 0.0 && beta != 1.0)
        return PyErr_Format(err_value, "beta=%g: only 0 and 1 are supported", beta);
    tc_buf a, b, c;
    if (get_operand(ao, "a", 0, &a) != 0)
        return NULL;
    if (get_operand(bo, "b", 0, &b) != 0) {
        tc_buf_release(&a);
        return NULL;
    }
    if (get_operand(co, "c", 1, &c) != 0) {
        tc_buf_release(&a);
        tc_buf_release(&b);
        return NULL;
    }
    PyObject *result = NULL;
    tc_mat am = as_mat(&a, 0), bt = as_mat(&b, 1), cm = as_mat(&c, 0);
    if (a.dtype != b.dtype || a.dtype != c.dtype) {
        PyErr_SetString(err_type, "a, b, c: dtypes differ; all must be float32 or all float64");
    } else if (am.cols != bt.cols || am.rows != cm.rows || bt.rows != cm.cols) {
        PyErr_Format(err_value, "shapes (%zd, %zd) @ (%zd, %zd) -> (%zd, %zd) do not chain", am.rows, am.cols,
                     bt.cols, bt.rows, cm.rows, cm.cols);
    } else if (cm.rows > 0 && cm.cols > 0 && ((am.rows * am.cols > 0 && overlaps(&cm, &am)) ||
                                              (bt.rows * bt.cols > 0 && overlaps(&cm, &bt)))) {
        PyErr_SetString(err_value, "c: the output must not share memory with a or b");
    } else if ((cm.rows > 1 && cm.rs == 0) || (cm.cols > 1 && cm.cs == 0)) {
        PyErr_SetString(err_value, "c: the output must not have a zero stride (a broadcast view)");
    } else {
        tc_pack_rm rm = isa_current->gemm[a.dtype].pack_rm; /* float32's transposing pack (float64: none) */
        tc_strided sa = {am, a.dtype, rm}, sb = {bt, a.dtype, rm};
        tc_gemm_problem pb = {.dtype = a.dtype, .m = cm.rows, .n = cm.cols, .k = am.cols,
                              .alpha = alpha, .beta = beta,
                              .a = {tc_pack_strided, &sa}, .b = {tc_pack_strided, &sb},
                              .c = cm.base, .rs_c = cm.rs, .cs_c = cm.cs, .c_lo = cm.lo, .c_hi = cm.hi};
        int rc;
        Py_BEGIN_ALLOW_THREADS
        rc = tc_gemm(isa_current, &pb, threads < 1 ? tc_pool_threads() : threads);
        Py_END_ALLOW_THREADS
        result = tc_none_or_nomem(rc);
    }
    tc_buf_release(&a);
    tc_buf_release(&b);
    tc_buf_release(&c);
    return result;
}

/* ---- conv_gemm: one implicit GEMM of a convolution (see conv.h) ---- */

/* A contiguous buffer: float32/float64 data (want_dtype < 0) or int64 tables. */
int tc_get_flat(PyObject *obj, const char *name, int writable, int table, tc_buf *o, Py_ssize_t *len)
{
    o->held = 0;
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, &o->view, flags) != 0) {
        PyErr_Clear();
        PyErr_Format(err_type, "%s: expected a C-contiguous %sbuffer", name, writable ? "writable " : "");
        return -1;
    }
    o->held = 1;
    const char *f = o->view.format ? o->view.format : "B";
    if (*f == '@' || *f == '=' || *f == '<')
        ++f;
    int ok = table ? (o->view.itemsize == 8 && (strcmp(f, "q") == 0 || strcmp(f, "l") == 0))
                   : tc_buf_float_format(&o->view, &o->dtype) == 0;
    if (!ok) {
        PyErr_Format(err_type, "%s: format %s; expected %s", name, f, table ? "int64" : "float32 or float64");
        tc_buf_release(o);
        return -1;
    }
    *len = o->view.len / o->view.itemsize;
    return 0;
}

static void minmax(const int64_t *v, Py_ssize_t n, int64_t *lo, int64_t *hi)
{
    *lo = INT64_MAX;
    *hi = INT64_MIN;
    for (Py_ssize_t i = 0; i < n; ++i) {
        *lo = v[i] < *lo ? v[i] : *lo;
        *hi = v[i] > *hi ? v[i] : *hi;
    }
}

/* Do rows [0, m) of base + r * rs + table[] all land in [0, len)?  In 128-bit arithmetic: no sum or
 * product of the caller's int64 values can wrap past the check. */
int tc_rows_in_range(int64_t base, int64_t m, int64_t rs, const int64_t *table, Py_ssize_t n, Py_ssize_t len)
{
    if (m <= 0 || n <= 0)
        return 1;
    int64_t lo, hi;
    __int128 r0 = 0, r1 = (__int128)(m - 1) * rs;
    minmax(table, n, &lo, &hi);
    __int128 a = (__int128)base + lo + (r0 < r1 ? r0 : r1), b = (__int128)base + hi + (r0 < r1 ? r1 : r0);
    return a >= 0 && b < len;
}

PyObject *tc_none_or_nomem(int rc) { return rc != 0 ? PyErr_NoMemory() : Py_NewRef(Py_None); }

int tc_ranges_overlap(const Py_buffer *x, const Py_buffer *y)
{
    const char *a = (const char *)x->buf, *b = (const char *)y->buf;
    return x->len > 0 && y->len > 0 && a < b + y->len && b < a + x->len;
}

enum { CG_W, CG_SRC, CG_DST, CG_AQ, CG_QB, CG_QC, CG_CB, CG_CC, CG_BD, CG_CO, CG_N };

static PyObject *py_conv_gemm(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *obj[CG_N];
    long long m, a_rs, w_base, c_rs, c_base;
    double beta;
    int threads;
    if (!PyArg_ParseTuple(args, "OOOLOLLOOOOOOLLdi", &obj[CG_W], &obj[CG_SRC], &obj[CG_DST], &m, &obj[CG_AQ],
                          &a_rs, &w_base, &obj[CG_QB], &obj[CG_QC], &obj[CG_CB], &obj[CG_CC], &obj[CG_BD],
                          &obj[CG_CO], &c_rs, &c_base, &beta, &threads))
        return NULL;
    static const char *names[CG_N] = {"w", "src", "dst", "a_qoff", "qbase", "qcoord", "colbase", "colcoord",
                                      "bounds", "c_coloff"};
    tc_buf op[CG_N];
    Py_ssize_t len[CG_N];
    PyObject *result = NULL;
    int got = 0;
    for (; got < CG_N; ++got)
        if (tc_get_flat(obj[got], names[got], got == CG_DST, got >= CG_AQ, &op[got], &len[got]) != 0)
            break;
    if (got < CG_N)
        goto done;
    Py_ssize_t k = len[CG_AQ], n = len[CG_CB], nd = len[CG_BD];
    const int64_t *t[CG_N];
    for (int i = CG_AQ; i < CG_N; ++i)
        t[i] = (const int64_t *)op[i].view.buf;
    if (op[CG_W].dtype != op[CG_SRC].dtype || op[CG_W].dtype != op[CG_DST].dtype) {
        PyErr_SetString(err_type, "w, src, dst: dtypes differ");
    } else if (nd < 1 || nd > TC_MAX_ND || len[CG_QB] != k || len[CG_QC] != k * nd || len[CG_CC] != n * nd ||
               len[CG_CO] != n || m < 0 || m > TC_GEMM_ROWS_MAX) {
        PyErr_Format(err_value, "tables do not agree: k=%zd, n=%zd, nd=%zd, qbase %zd, qcoord %zd, colcoord %zd, "
                     "c_coloff %zd, m=%lld", k, n, nd, len[CG_QB], len[CG_QC], len[CG_CC], len[CG_CO], m);
    } else if (beta != 0.0 && beta != 1.0) {
        PyErr_Format(err_value, "beta=%g: only 0 and 1 are supported", beta);
    } else if (!tc_rows_in_range(w_base, m, a_rs, t[CG_AQ], k, len[CG_W])) {
        PyErr_SetString(err_value, "w: the weight table reaches outside the weight buffer");
    } else if (!tc_rows_in_range(c_base, m, c_rs, t[CG_CO], n, len[CG_DST])) {
        PyErr_SetString(err_value, "dst: the output table reaches outside the output buffer");
    } else if (tc_ranges_overlap(&op[CG_DST].view, &op[CG_W].view) || tc_ranges_overlap(&op[CG_DST].view, &op[CG_SRC].view)) {
        PyErr_SetString(err_value, "dst: the output must not share memory with w or src");
    } else {
        tc_dtype dt = op[CG_W].dtype;
        size_t es = tc_dtype_size(dt);
        tc_pack_rm rm = isa_current->gemm[dt].pack_rm; /* float32's transposing pack (float64: none) */
        tc_wtable wt = {dt, (const char *)op[CG_W].view.buf + w_base * (long long)es, t[CG_AQ], a_rs, NULL, rm};
        tc_gather ga = {dt, (const char *)op[CG_SRC].view.buf, len[CG_SRC], t[CG_CB], t[CG_CC], t[CG_QB], t[CG_QC],
                        {0}, (int)nd, rm};
        for (int a = 0; a < nd; ++a)
            ga.bound[a] = t[CG_BD][a];
        char *dst = (char *)op[CG_DST].view.buf;
        tc_gemm_problem pb = {.dtype = dt, .m = m, .n = n, .k = k, .alpha = 1.0, .beta = beta,
                              .a = {tc_pack_wtable, &wt}, .b = {tc_pack_gather, &ga},
                              .c = dst + c_base * (long long)es, .rs_c = c_rs, .cs_c = 1, .c_coloff = t[CG_CO],
                              .c_lo = dst, .c_hi = dst + op[CG_DST].view.len};
        const tc_isa_table *isa = isa_current;
        int rc;
        Py_BEGIN_ALLOW_THREADS
        rc = tc_gemm(isa, &pb, threads < 1 ? tc_pool_threads() : threads);
        Py_END_ALLOW_THREADS
        result = tc_none_or_nomem(rc);
    }
done:
    for (int i = 0; i < got; ++i)
        tc_buf_release(&op[i]);
    return result;
}

/* ---- the FMA probe: fma_chain(dtype, iters, threads) -> flops ---- */

typedef struct {
    tc_fma_chain fn;
    int64_t iters;
    double flops[256];
} chain_job;

static void chain_task(void *ctx, int task, int thread)
{
    (void)thread;
    chain_job *j = (chain_job *)ctx;
    j->flops[task] = j->fn(j->iters);
}

static PyObject *py_fma_chain(PyObject *self, PyObject *args)
{
    (void)self;
    const char *dt;
    long long iters;
    int threads;
    if (!PyArg_ParseTuple(args, "sLi", &dt, &iters, &threads))
        return NULL;
    tc_dtype d;
    if (tc_parse_float_format(dt, &d) != 0)
        return PyErr_Format(err_type, "dtype=%s: use 'f' (float32) or 'd' (float64)", dt);
    if (iters < 0 || threads < 1 || threads > 256)
        return PyErr_Format(err_value, "iters=%lld, threads=%d: need iters >= 0 and 1 <= threads <= 256",
                            iters, threads);
    chain_job job = {isa_current->gemm[d].fma_chain, iters, {0}};
    tc_team team;
    int used;
    Py_BEGIN_ALLOW_THREADS
    tc_team_begin(&team, threads);
    used = team.threads;
    tc_team_run(&team, used, chain_task, &job);
    tc_team_end(&team);
    Py_END_ALLOW_THREADS
    double total = 0;
    for (int t = 0; t < used; ++t)
        total += job.flops[t];
    return Py_BuildValue("di", total, used);
}

/* ---- ISA and threads ---- */

static PyObject *py_isas(PyObject *self, PyObject *noargs)
{
    (void)self;
    (void)noargs;
    PyObject *list = PyList_New(n_isas);
    for (int i = 0; list && i < n_isas; ++i)
        PyList_SET_ITEM(list, i, PyUnicode_FromString(isa_tables[i]->name));
    return list;
}

static PyObject *py_get_isa(PyObject *self, PyObject *noargs)
{
    (void)self;
    (void)noargs;
    return PyUnicode_FromString(isa_current->name);
}

static PyObject *py_set_isa(PyObject *self, PyObject *arg)
{
    (void)self;
    const char *name = PyUnicode_AsUTF8(arg);
    if (!name)
        return NULL;
    for (int i = 0; i < n_isas; ++i) {
        if (strcmp(isa_tables[i]->name, name) == 0) {
            isa_current = isa_tables[i];
            Py_RETURN_NONE;
        }
    }
    return PyErr_Format(err_value, "isa=%s is not supported by this CPU", name);
}

static PyObject *py_kernel_info(PyObject *self, PyObject *arg)
{
    (void)self;
    const char *dt = PyUnicode_AsUTF8(arg);
    tc_dtype d;
    if (!dt)
        return NULL;
    if (tc_parse_float_format(dt, &d) != 0)
        return PyErr_Format(err_type, "dtype=%s: use 'f' or 'd'", dt);
    const tc_gemm_kernel *k = &isa_current->gemm[d];
    const tc_direct_loops *dk = tc_direct_for(isa_current->name); /* the direct row tiles (direct_rows.c) */
    return Py_BuildValue("{s:i,s:i,s:i,s:i,s:i,s:(ii),s:i,s:(ii),s:O}", "mr", k->mr, "nr", k->nr, "mc", k->mc,
                         "kc", k->kc, "nc", k->nc, "short", k->short_mr[0], k->short_mr[1], "taps_tiles",
                         tc_gemm_taps_tiles(k), "direct_rows", dk->rows_r, dk->rows_nq[d], "direct_wgrad_rows",
                         dk->wgrad_rows ? Py_True : Py_False);
}

/* _set_blocks(dtype, mc, kc, nc): retune the current ISA's cache blocks (benchmarks only; not
 * thread-safe against a running call). */
static PyObject *py_set_blocks(PyObject *self, PyObject *args)
{
    (void)self;
    const char *dt;
    int mc, kc, nc;
    tc_dtype d;
    if (!PyArg_ParseTuple(args, "siii", &dt, &mc, &kc, &nc))
        return NULL;
    if (tc_parse_float_format(dt, &d) != 0)
        return PyErr_Format(err_type, "dtype=%s: use 'f' or 'd'", dt);
    tc_gemm_kernel *k = &((tc_isa_table *)isa_current)->gemm[d];
    if (mc < k->mr || mc % k->mr || kc < 1 || nc < k->nr || nc % k->nr)
        return PyErr_Format(err_value, "mc=%d, kc=%d, nc=%d: need mc a multiple of %d, nc of %d, kc >= 1", mc,
                            kc, nc, k->mr, k->nr);
    k->mc = mc;
    k->kc = kc;
    k->nc = nc;
    Py_RETURN_NONE;
}

static PyObject *py_set_num_threads(PyObject *self, PyObject *arg)
{
    (void)self;
    long n = PyLong_AsLong(arg);
    if (n == -1 && PyErr_Occurred())
        return NULL;
    if (n < 1 || n > 256)
        return PyErr_Format(err_value, "threads=%ld: need 1 <= threads <= 256", n);
    tc_pool_set_threads((int)n);
    Py_RETURN_NONE;
}

static PyObject *py_pool_hold(PyObject *self, PyObject *arg)
{
    (void)self;
    long d = PyLong_AsLong(arg);
    if (d == -1 && PyErr_Occurred())
        return NULL;
    if (d != 1 && d != -1)
        return PyErr_Format(err_value, "pool_hold(%ld): use 1 or -1", d);
    tc_pool_hold((int)d);
    Py_RETURN_NONE;
}

static PyObject *py_get_num_threads(PyObject *self, PyObject *noargs)
{
    (void)self;
    (void)noargs;
    return PyLong_FromLong(tc_pool_threads());
}

/* release_scratch(): this thread's kept call buffers freed; the bytes freed */
static PyObject *py_release_scratch(PyObject *self, PyObject *noargs)
{
    (void)self;
    (void)noargs;
    return PyLong_FromSize_t(tc_call_slots_free());
}

static PyMethodDef methods[] = {
    {"gemm", py_gemm, METH_VARARGS, "gemm(a, b, c, alpha, beta, threads): c = alpha*a@b + beta*c"},
    {"conv_gemm", py_conv_gemm, METH_VARARGS, "one implicit GEMM of a convolution (tables from Python)"},
    {"fma_chain", py_fma_chain, METH_VARARGS, "fma_chain(dtype, iters, threads) -> (flops, threads used)"},
    {"isas", py_isas, METH_NOARGS, "the instruction sets this CPU runs, best first"},
    {"get_isa", py_get_isa, METH_NOARGS, "the instruction set in use"},
    {"set_isa", py_set_isa, METH_O, "use this instruction set"},
    {"kernel_info", py_kernel_info, METH_O, "register tile and cache blocks of the current ISA"},
    {"_set_blocks", py_set_blocks, METH_VARARGS, "retune the cache blocks of the current ISA (benchmarks)"},
    {"set_num_threads", py_set_num_threads, METH_O, "the pool's size from the next call on"},
    {"get_num_threads", py_get_num_threads, METH_NOARGS, "the pool's size"},
    {"release_scratch", py_release_scratch, METH_NOARGS, "free this thread's kept call buffers; the bytes freed"},
    {"pool_hold", py_pool_hold, METH_O, "pool_hold(1 | -1): keep idle workers spinning during one call"},
    TC_DIRECT_METHODS
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_tconv", "tconv's compiled core", -1, methods,
                                    NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__tconv(void)
{
    PyObject *errors = PyImport_ImportModule("tconv.errors");
    if (!errors)
        return NULL;
    err_value = PyObject_GetAttrString(errors, "TconvError");
    err_type = PyObject_GetAttrString(errors, "TconvTypeError");
    Py_DECREF(errors);
    if (!err_value || !err_type)
        return NULL;
    n_isas = tc_cpu_tables(isa_tables, TC_MAX_ISAS);
    isa_current = isa_tables[0];
    tc_pool_init();
    PyObject *m = PyModule_Create(&module);
    if (!m)
        return NULL;
#ifdef TC_DEBUG
    PyModule_AddIntConstant(m, "debug_build", 1);
#else
    PyModule_AddIntConstant(m, "debug_build", 0);
#endif
    return m;
}
