/* direct_module.c: the Python binding of the direct convolutions and im2col/col2im
 * (direct.h).  The arrays come through the buffer protocol, C-contiguous; shapes, dtypes and
 * parameters are checked again here (the Python wrapper checks them first, with friendlier
 * messages), so a bad call raises TconvError and never reads out of bounds.  direct_plan/direct_run
 * are the per-call path (tconv.core.callcache): the geometry parsed and checked once into a plan,
 * a call then only acquires its buffers, checks their dtype and sizes against the plan, and runs. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <string.h>

#include "brgemm.h"
#include "buffer.h"
#include "direct.h"
#include "direct_py.h"
#include "direct_rows.h"
#include "direct_wgrad.h"
#include "pool.h"

#define TC_INDEX_LIMIT ((ptrdiff_t)1 << 61) /* every extent, stride and product below it: no overflow */

static int get_nd(PyObject *obj, const char *name, int ndim, int writable, tc_buf *b)
{
    b->held = 0;
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, &b->view, flags) != 0) {
        PyErr_Clear();
        return (PyErr_Format(tc_err_type(), "%s: expected a C-contiguous %sbuffer of float32 or float64, got %s",
                             name, writable ? "writable " : "", Py_TYPE(obj)->tp_name), -1);
    }
    b->held = 1;
    if (tc_buf_float_format(&b->view, &b->dtype) != 0) {
        PyErr_Format(tc_err_type(), "%s: format %s is not float32 ('f') or float64 ('d')", name,
                     b->view.format ? b->view.format : "?");
        tc_buf_release(b);
        return -1;
    }
    if (b->view.ndim != ndim) {
        PyErr_Format(tc_err_value(), "%s: expected %d dimensions, got %d", name, ndim, b->view.ndim);
        tc_buf_release(b);
        return -1;
    }
    return 0;
}

static const char *lo_of(const tc_buf *b) { return (const char *)b->view.buf; }
static const char *hi_of(const tc_buf *b) { return (const char *)b->view.buf + b->view.len; }

static int overlap(const tc_buf *a, const tc_buf *b)
{
    return a->view.len > 0 && b->view.len > 0 && lo_of(a) < hi_of(b) && lo_of(b) < hi_of(a);
}

/* params = (groups, s0, s1, s2, d0, d1, d2, lo0, lo1, lo2) */
static int parse_params(PyObject *params, tc_direct_problem *p)
{
    if (!PyArg_ParseTuple(params, "nnnnnnnnnn;params: (groups, 3 strides, 3 dilations, 3 pads)", &p->groups,
                          &p->s[0], &p->s[1], &p->s[2], &p->d[0], &p->d[1], &p->d[2], &p->lo[0], &p->lo[1],
                          &p->lo[2]))
        return -1;
    if (p->groups < 1)
        return (PyErr_Format(tc_err_value(), "groups=%zd: need groups >= 1", p->groups), -1);
    for (int i = 0; i < 3; ++i) {
        if (p->s[i] < 1 || p->s[i] >= TC_INDEX_LIMIT || p->d[i] < 1 || p->d[i] >= TC_INDEX_LIMIT ||
            p->lo[i] <= -TC_INDEX_LIMIT || p->lo[i] >= TC_INDEX_LIMIT)
            return (PyErr_Format(tc_err_value(), "axis %d: stride %zd, dilation %zd, pad %zd: need 1 <= stride, "
                                 "dilation < 2**61 and |pad| < 2**61", i, p->s[i], p->d[i], p->lo[i]), -1);
    }
    return 0;
}

/* every product of an extent and a stride or dilation the kernels form stays below 2**61 */
static int check_ranges(const tc_direct_problem *p)
{
    for (int i = 0; i < 3; ++i) {
        ptrdiff_t a, b;
        if (__builtin_mul_overflow(p->k[i], p->d[i], &a) || __builtin_mul_overflow(p->m[i], p->s[i], &b) ||
            a >= TC_INDEX_LIMIT || b >= TC_INDEX_LIMIT)
            return (PyErr_Format(tc_err_value(), "axis %d: kernel %zd x dilation %zd or size %zd x stride %zd "
                                 "reaches 2**61", i, p->k[i], p->d[i], p->m[i], p->s[i]), -1);
    }
    return 0;
}

static void set_dims(ptrdiff_t *dst, const Py_ssize_t *shape)
{
    for (int i = 0; i < 3; ++i)
        dst[i] = shape[i];
}

/* Checks the channels of one operation: y-side channels cy, x-side cx, weight (cy, cx/groups). */
static int check_channels(const tc_direct_problem *p, ptrdiff_t w_cy, ptrdiff_t w_cxg)
{
    if (w_cy != p->cy || p->cy % p->groups != 0 || w_cxg * p->groups != p->cx)
        return (PyErr_Format(tc_err_value(), "channels: y side %zd, x side %zd, weight (%zd, %zd), groups %zd: "
                             "need the weight (y side, x side / groups) and groups dividing both", p->cy, p->cx,
                             w_cy, w_cxg, p->groups), -1);
    return 0;
}

/* ---- direct(op, a, b, out, params, acc, threads) ---- */

/* op 't': a = y, b = w, out = x side; 'c': a = x, b = w, out = y side; 'w': a = y, b = x, out = w.
 * The extents of one operation from the 5-D shapes of a, b and out. */
static int describe_dims(char op, const Py_ssize_t *a, const Py_ssize_t *b, const Py_ssize_t *o, tc_direct_problem *p)
{
    const Py_ssize_t *y = op == 'c' ? o : a, *x = op == 't' ? o : op == 'c' ? a : b, *w = op == 'w' ? o : b;
    p->n = y[0];
    p->cy = y[1];
    p->cx = x[1];
    set_dims(p->m, y + 2);
    set_dims(p->x, x + 2);
    set_dims(p->k, w + 2);
    if (x[0] != p->n)
        return (PyErr_Format(tc_err_value(), "batch: y side %zd, x side %zd differ", p->n, x[0]), -1);
    return check_channels(p, w[0], w[1]);
}

/* The data pointers (and debug bounds) of one operation's buffers. */
static void set_pointers(char op, const tc_buf *a, const tc_buf *b, const tc_buf *o, tc_direct_problem *p)
{
    const tc_buf *y = op == 'c' ? o : a, *x = op == 't' ? o : op == 'c' ? a : b, *w = op == 'w' ? o : b;
    p->y = lo_of(y);
    p->xs = lo_of(x);
    p->w = lo_of(w);
    p->out = (char *)o->view.buf;
    p->lo_y = lo_of(y), p->hi_y = hi_of(y), p->lo_x = lo_of(x), p->hi_x = hi_of(x);
    p->lo_w = lo_of(w), p->hi_w = hi_of(w), p->lo_o = lo_of(o), p->hi_o = hi_of(o);
}

static int describe(char op, const tc_buf *a, const tc_buf *b, const tc_buf *o, tc_direct_problem *p)
{
    set_pointers(op, a, b, o, p);
    return describe_dims(op, a->view.shape, b->view.shape, o->view.shape, p);
}

/* One direct operation: conv and conv_transpose with stride 1 on the register tiles (direct_rows.c)
 * and the weight gradient on its tiles (direct_wgrad.c) when they take the problem, else direct.c's
 * row drivers. */
static int run_direct(const tc_direct_loops *k, const tc_direct_problem *p, char op, int threads,
                      const tc_direct_taps *taps)
{
    if ((op == 't' || op == 'c') && tc_rows_try(k, p, op == 't', threads) > 0)
        return 0;
    if (op == 'w' && tc_wgrad_rows_try(k, p, threads) > 0)
        return 0;
    if (op == 't')
        return tc_direct_conv_transpose_taps(k, p, threads, taps);
    return op == 'c' ? tc_direct_conv(k, p, threads) : tc_direct_weight_grad(k, p, threads);
}

/* tconv's brgemm (brgemm.c) or direct (run_direct) call on the pool */
static int run_call(const tc_direct_problem *p, char op, int threads, int brgemm)
{
    int rc;
    Py_BEGIN_ALLOW_THREADS
    if (brgemm)
        rc = tc_brgemm(tc_isa_current(), p, op == 't', threads);
    else
        rc = run_direct(tc_direct_for(tc_isa_name()), p, op, threads, NULL);
    Py_END_ALLOW_THREADS
    return rc;
}

/* the error of a failed brgemm call or plan (rc: -1 or a TC_BRGEMM_ refusal code) */
static PyObject *brgemm_failed(int rc, const tc_direct_problem *p)
{
    if (rc == TC_BRGEMM_TOO_MANY_PHASES)
        return PyErr_Format(tc_err_value(), "strides (%zd, %zd, %zd), output (%zd, %zd, %zd): brgemm runs at most %zd "
                            "output phases (per axis the stride or, if smaller, the output's extent, multiplied)",
                            p->s[0], p->s[1], p->s[2], p->x[0], p->x[1], p->x[2], TC_BRGEMM_MAX_PHASES);
    if (rc == TC_BRGEMM_TOO_LARGE)
        return PyErr_Format(tc_err_value(), "channels y side %zd, x side %zd, groups %zd, kernel (%zd, %zd, %zd): brgemm's "
                            "channels-last copy of one sample or its packed weights pass 2**61 bytes, or its weight "
                            "blocks 2**31", p->cy, p->cx, p->groups, p->k[0], p->k[1], p->k[2]);
    return PyErr_NoMemory();
}

/* direct(...) and brgemm(...): the same arguments, checked the same way */
static PyObject *direct_or_brgemm(PyObject *args, int brgemm)
{
    const char *op;
    PyObject *ao, *bo, *oo, *params;
    int acc, threads;
    if (!PyArg_ParseTuple(args, "sOOOO!ii", &op, &ao, &bo, &oo, &PyTuple_Type, &params, &acc, &threads))
        return NULL;
    if (strlen(op) != 1 || !strchr(brgemm ? "tc" : "tcw", op[0]))
        return PyErr_Format(tc_err_value(), "op=%s: use 't' (conv_transpose), 'c' (conv)%s", op,
                            brgemm ? "" : " or 'w' (weight gradient)");
    if (threads < 0 || threads > 256)
        return PyErr_Format(tc_err_value(), "threads=%d: need 0 (the pool's size) to 256", threads);
    tc_direct_problem p = {0};
    if (parse_params(params, &p) != 0)
        return NULL;
    tc_buf a, b, o;
    if (get_nd(ao, "a", 5, 0, &a) != 0)
        return NULL;
    if (get_nd(bo, "b", 5, 0, &b) != 0) {
        tc_buf_release(&a);
        return NULL;
    }
    if (get_nd(oo, "out", 5, 1, &o) != 0) {
        tc_buf_release(&a);
        tc_buf_release(&b);
        return NULL;
    }
    PyObject *result = NULL;
    p.dtype = a.dtype;
    p.acc = (tc_acc)acc;
    if (a.dtype != b.dtype || a.dtype != o.dtype) {
        PyErr_SetString(tc_err_type(), "a, b, out: dtypes differ; all must be float32 or all float64");
    } else if (acc < 0 || acc > 2 || (a.dtype == TC_F64) != (acc == TC_ACC_F64)) {
        PyErr_Format(tc_err_value(), "acc=%d: use 0 or 1 (float32 sums, float64 sums) for float32, 2 for float64", acc);
    } else if (overlap(&o, &a) || overlap(&o, &b)) {
        PyErr_SetString(tc_err_value(), "out: must not share memory with the inputs");
    } else if (describe(op[0], &a, &b, &o, &p) == 0 && check_ranges(&p) == 0) {
        int rc = run_call(&p, op[0], threads < 1 ? tc_pool_threads() : threads, brgemm);
        result = rc == 0 ? Py_NewRef(Py_None) : brgemm ? brgemm_failed(rc, &p) : PyErr_NoMemory();
    }
    tc_buf_release(&a);
    tc_buf_release(&b);
    tc_buf_release(&o);
    return result;
}

PyObject *tc_py_direct(PyObject *self, PyObject *args)
{
    (void)self;
    return direct_or_brgemm(args, 0);
}

PyObject *tc_py_brgemm(PyObject *self, PyObject *args)
{
    (void)self;
    return direct_or_brgemm(args, 1);
}

/* ---- the per-call path: direct_plan(...) once per geometry, direct_run(plan, ...) per call ---- */

#define TC_PLAN_NAME "tconv.direct_plan"

/* One operation's geometry and extents, checked once (tconv.core.algorithms.direct's prepared calls):
 * a call only acquires the buffers, checks their dtype and sizes against it, and runs. */
typedef struct {
    char op;                  /* 't' (conv_transpose) or 'c' (conv) */
    int check_weights;        /* conv with padding: report a non-finite weight (the caller poisons) */
    tc_direct_problem p;      /* extents, parameters, dtype and accumulator; no pointers */
    Py_ssize_t bytes[3];      /* of a, b and out */
    Py_ssize_t channels;      /* of out: a bias has this many entries */
    Py_ssize_t plane;         /* elements of one output channel plane */
    tc_direct_taps taps;      /* conv_transpose: the tap tables (built once) */
    tc_brgemm_plan *br;       /* a brgemm plan's tables (NULL: direct's kernels) */
} tc_direct_plan;

static void plan_free(PyObject *capsule)
{
    tc_direct_plan *plan = (tc_direct_plan *)PyCapsule_GetPointer(capsule, TC_PLAN_NAME);
    if (plan) {
        tc_direct_taps_free(&plan->taps);
        tc_brgemm_plan_free(plan->br);
    }
    PyMem_Free(plan);
}

static int get_shape5(PyObject *obj, const char *name, Py_ssize_t *shape)
{
    if (!PyTuple_Check(obj) || PyTuple_GET_SIZE(obj) != 5)
        return (PyErr_Format(tc_err_value(), "%s: need a tuple of 5 extents", name), -1);
    for (int i = 0; i < 5; ++i) {
        shape[i] = PyLong_AsSsize_t(PyTuple_GET_ITEM(obj, i));
        if (shape[i] == -1 && PyErr_Occurred())
            return -1;
        if (shape[i] < 0 || shape[i] >= TC_INDEX_LIMIT)
            return (PyErr_Format(tc_err_value(), "%s: extent %zd is out of range", name, shape[i]), -1);
    }
    return 0;
}

/* bytes of a C-contiguous array of `shape`, or -1 (with the error set) beyond the index range */
static Py_ssize_t shape_bytes(const Py_ssize_t *shape, size_t itemsize)
{
    ptrdiff_t n = (ptrdiff_t)itemsize;
    for (int i = 0; i < 5; ++i)
        if (__builtin_mul_overflow(n, shape[i], &n) || n >= TC_INDEX_LIMIT)
            return (PyErr_SetString(tc_err_value(), "the arrays are beyond the index range"), -1);
    return n;
}

/* direct_plan(op, a_shape, b_shape, out_shape, params, acc, check_weights[, brgemm]): op 't' or 'c',
 * the 5-D shapes of the canonical form, params and acc as for direct(); brgemm true: the plan runs
 * brgemm.c (its tables built here, with the current ISA's tile; acc 0 or 2) instead of direct's
 * kernels.  Returns the plan (a capsule). */
PyObject *tc_py_direct_plan(PyObject *self, PyObject *args)
{
    (void)self;
    const char *op;
    PyObject *ao, *bo, *oo, *params;
    int acc, check_weights, brgemm = 0;
    if (!PyArg_ParseTuple(args, "sO!O!O!O!ip|p", &op, &PyTuple_Type, &ao, &PyTuple_Type, &bo, &PyTuple_Type, &oo,
                          &PyTuple_Type, &params, &acc, &check_weights, &brgemm))
        return NULL;
    if (strlen(op) != 1 || !strchr("tc", op[0]))
        return PyErr_Format(tc_err_value(), "op=%s: use 't' (conv_transpose) or 'c' (conv)", op);
    if (acc < 0 || acc > 2 || (brgemm && acc == TC_ACC_F32_WIDE))
        return PyErr_Format(tc_err_value(), "acc=%d: use 0, 1 (float32 data; brgemm: 0) or 2 (float64)", acc);
    Py_ssize_t shapes[3][5];
    tc_direct_plan plan = {0};
    plan.op = op[0];
    plan.check_weights = check_weights && op[0] == 'c';
    if (parse_params(params, &plan.p) != 0 || get_shape5(ao, "a", shapes[0]) != 0 ||
        get_shape5(bo, "b", shapes[1]) != 0 || get_shape5(oo, "out", shapes[2]) != 0 ||
        describe_dims(op[0], shapes[0], shapes[1], shapes[2], &plan.p) != 0 || check_ranges(&plan.p) != 0)
        return NULL;
    plan.p.acc = (tc_acc)acc;
    plan.p.dtype = acc == TC_ACC_F64 ? TC_F64 : TC_F32;
    for (int i = 0; i < 3; ++i)
        if ((plan.bytes[i] = shape_bytes(shapes[i], acc == TC_ACC_F64 ? 8 : 4)) < 0)
            return NULL;
    plan.channels = shapes[2][1];
    plan.plane = shapes[2][2] * shapes[2][3] * shapes[2][4];
    tc_direct_plan *mem = (tc_direct_plan *)PyMem_Malloc(sizeof plan);
    if (!mem)
        return PyErr_NoMemory();
    int rc = -1;
    int bad = brgemm ? !(plan.br = tc_brgemm_plan_new(tc_isa_current(), &plan.p, plan.op == 't', &rc))
                     : plan.op == 't' && plan.bytes[2] > 0 && tc_direct_taps_build(&plan.p, &plan.taps) != 0;
    *mem = plan;
    PyObject *capsule = bad ? NULL : PyCapsule_New(mem, TC_PLAN_NAME, plan_free);
    if (!capsule) {
        tc_direct_taps_free(&mem->taps);
        tc_brgemm_plan_free(mem->br);
        PyMem_Free(mem);
    }
    return bad ? brgemm_failed(rc, &plan.p) : capsule;
}

/* A C-contiguous buffer of the plan's dtype and exactly `bytes` bytes (any number of dimensions). */
static int get_sized(PyObject *obj, const char *name, int writable, tc_dtype dtype, Py_ssize_t bytes, tc_buf *b)
{
    b->held = 0;
    if (PyObject_GetBuffer(obj, &b->view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0)) != 0) {
        PyErr_Clear();
        return (PyErr_Format(tc_err_type(), "%s: expected a C-contiguous %sbuffer of float32 or float64, got %s",
                             name, writable ? "writable " : "", Py_TYPE(obj)->tp_name), -1);
    }
    b->held = 1;
    if (tc_buf_float_format(&b->view, &b->dtype) != 0 || b->dtype != dtype || b->view.len != bytes) {
        PyErr_Format(tc_err_value(), "%s: %zd bytes of format %s, the plan needs %zd bytes of %s", name,
                     b->view.len, b->view.format ? b->view.format : "?", bytes, dtype == TC_F32 ? "float32" : "float64");
        tc_buf_release(b);
        return -1;
    }
    return 0;
}

/* bytes of a brgemm plan's packed weights */
static Py_ssize_t packed_bytes(const tc_direct_plan *plan)
{
    return tc_brgemm_packed_elems(plan->br) * (Py_ssize_t)tc_dtype_size(plan->p.dtype);
}

/* the plan in `capsule`, which must be a brgemm plan (else NULL with the error set) */
static const tc_direct_plan *brgemm_plan_of(PyObject *capsule)
{
    const tc_direct_plan *plan = (const tc_direct_plan *)PyCapsule_GetPointer(capsule, TC_PLAN_NAME);
    if (plan && !plan->br)
        return (PyErr_SetString(tc_err_value(), "plan: not a brgemm plan (direct_plan(..., brgemm=True))"), NULL);
    return plan;
}

/* out[n, c, ...] += bias[c] (the same float additions as NumPy's out += bias[:, None, ...]) */
static void add_bias(const tc_direct_plan *plan, char *out, const char *bias)
{
    const ptrdiff_t n = plan->p.n, c = plan->channels, plane = plan->plane;
    for (ptrdiff_t i = 0; i < n * c; ++i) {
        if (plan->p.dtype == TC_F32) {
            float *o = (float *)out + i * plane, v = ((const float *)bias)[i % c];
            for (ptrdiff_t j = 0; j < plane; ++j)
                o[j] = o[j] + v;
        } else {
            double *o = (double *)out + i * plane, v = ((const double *)bias)[i % c];
            for (ptrdiff_t j = 0; j < plane; ++j)
                o[j] = o[j] + v;
        }
    }
}

/* direct_run(plan, a, b, out, bias, threads[, packed]): the plan's operation on a, b into out (fully
 * overwritten), bias (None or one entry per output channel) added; threads 0: the pool's size;
 * packed (brgemm plans): None, or the weights b packed by brgemm_pack for this plan.  Returns whether
 * the weight has a non-finite entry (conv plans with check_weights; else False). */
PyObject *tc_py_direct_run(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs != 6 && nargs != 7)
        return PyErr_Format(PyExc_TypeError, "direct_run takes 6 or 7 arguments (%zd given)", nargs);
    const tc_direct_plan *plan = (const tc_direct_plan *)PyCapsule_GetPointer(args[0], TC_PLAN_NAME);
    if (!plan)
        return NULL;
    long threads = PyLong_AsLong(args[5]);
    if (threads == -1 && PyErr_Occurred())
        return NULL;
    if (threads < 0 || threads > 256)
        return PyErr_Format(tc_err_value(), "threads=%ld: need 0 (the pool's size) to 256", threads);
    const tc_dtype dt = plan->p.dtype;
    const Py_ssize_t es = dt == TC_F32 ? 4 : 8;
    tc_buf a, b, o, bias = {.held = 0};
    if (get_sized(args[1], "a", 0, dt, plan->bytes[0], &a) != 0)
        return NULL;
    if (get_sized(args[2], "b", 0, dt, plan->bytes[1], &b) != 0) {
        tc_buf_release(&a);
        return NULL;
    }
    if (get_sized(args[3], "out", 1, dt, plan->bytes[2], &o) != 0) {
        tc_buf_release(&a);
        tc_buf_release(&b);
        return NULL;
    }
    PyObject *result = NULL, *po = nargs == 7 ? args[6] : Py_None;
    tc_buf pk = {.held = 0};
    if (args[4] != Py_None && get_sized(args[4], "bias", 0, dt, plan->channels * es, &bias) != 0) {
        /* the error is set */
    } else if (po != Py_None && (!plan->br || get_sized(po, "packed", 0, dt, packed_bytes(plan), &pk) != 0)) {
        if (!plan->br)
            PyErr_SetString(tc_err_value(), "packed: only a brgemm plan takes packed weights");
    } else if (overlap(&o, &a) || overlap(&o, &b) || (bias.held && overlap(&o, &bias)) || (pk.held && overlap(&o, &pk))) {
        PyErr_SetString(tc_err_value(), "out: must not share memory with the inputs");
    } else {
        tc_direct_problem p = plan->p;
        set_pointers(plan->op, &a, &b, &o, &p);
        const tc_direct_loops *k = tc_direct_for(tc_isa_name());
        const char *wpk = pk.held ? (const char *)pk.view.buf : NULL;
        int n = threads < 1 ? tc_pool_threads() : (int)threads, rc, bad = 0;
        Py_BEGIN_ALLOW_THREADS
        rc = plan->br ? tc_brgemm_run(plan->br, &p, wpk, n) : run_direct(k, &p, plan->op, n, &plan->taps);
        if (rc == 0 && bias.held)
            add_bias(plan, p.out, (const char *)bias.view.buf);
        if (rc == 0 && plan->check_weights)
            bad = !tc_all_finite(p.w, plan->bytes[1] / (Py_ssize_t)tc_dtype_size(dt), dt);
        Py_END_ALLOW_THREADS
        if (rc != 0)
            PyErr_NoMemory();
        else
            result = Py_NewRef(bad ? Py_True : Py_False);
    }
    tc_buf_release(&a);
    tc_buf_release(&b);
    tc_buf_release(&o);
    tc_buf_release(&bias);
    tc_buf_release(&pk);
    return result;
}

/* brgemm_pack(plan, w, packed, threads): the weight w (the plan's b) packed into `packed` (exactly
 * brgemm_packed_len(plan) elements of the plan's dtype) for direct_run's packed argument */
PyObject *tc_py_brgemm_pack(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *capsule, *wo, *po;
    int threads;
    if (!PyArg_ParseTuple(args, "OOOi", &capsule, &wo, &po, &threads))
        return NULL;
    const tc_direct_plan *plan = brgemm_plan_of(capsule);
    if (!plan)
        return NULL;
    if (threads < 0 || threads > 256)
        return PyErr_Format(tc_err_value(), "threads=%d: need 0 (the pool's size) to 256", threads);
    tc_buf w, pk;
    if (get_sized(wo, "w", 0, plan->p.dtype, plan->bytes[1], &w) != 0)
        return NULL;
    if (get_sized(po, "packed", 1, plan->p.dtype, packed_bytes(plan), &pk) != 0) {
        tc_buf_release(&w);
        return NULL;
    }
    PyObject *result = NULL;
    if (overlap(&w, &pk)) {
        PyErr_SetString(tc_err_value(), "packed: must not share memory with w");
    } else {
        tc_direct_problem p = plan->p;
        p.w = lo_of(&w), p.lo_w = lo_of(&w), p.hi_w = hi_of(&w);
        int n = threads < 1 ? tc_pool_threads() : threads;
        Py_BEGIN_ALLOW_THREADS
        tc_brgemm_pack(plan->br, &p, (char *)pk.view.buf, n);
        Py_END_ALLOW_THREADS
        result = Py_NewRef(Py_None);
    }
    tc_buf_release(&w);
    tc_buf_release(&pk);
    return result;
}

/* brgemm_packed_len(plan): elements of the plan's packed weights */
PyObject *tc_py_brgemm_packed_len(PyObject *self, PyObject *capsule)
{
    (void)self;
    const tc_direct_plan *plan = brgemm_plan_of(capsule);
    return plan ? PyLong_FromSsize_t(tc_brgemm_packed_elems(plan->br)) : NULL;
}

/* ---- im2col(x, cols, n_first, params, threads) and col2im(cols, out, n_first, params, threads) ---- */

/* x (N, C, x0, x1, x2) and cols (C, k0, k1, k2, nb, m0, m1, m2) */
static int describe_cols(const tc_buf *x, const tc_buf *cols, ptrdiff_t n_first, tc_direct_problem *p,
                         ptrdiff_t *nb)
{
    const Py_ssize_t *cs = cols->view.shape;
    p->dtype = x->dtype;
    p->n = x->view.shape[0];
    p->cx = x->view.shape[1];
    p->cy = p->cx; /* unused: the column buffer has no y channels */
    set_dims(p->x, x->view.shape + 2);
    set_dims(p->k, cs + 1);
    set_dims(p->m, cs + 5);
    *nb = cs[4];
    if (x->dtype != cols->dtype)
        return (PyErr_SetString(tc_err_type(), "x, cols: dtypes differ"), -1);
    if (cs[0] != p->cx)
        return (PyErr_Format(tc_err_value(), "cols: %zd channels, the image has %zd", cs[0], p->cx), -1);
    if (n_first < 0 || n_first > p->n || *nb > p->n - n_first)
        return (PyErr_Format(tc_err_value(), "n_first=%zd with %zd samples: beyond the batch of %zd", n_first, *nb,
                             p->n), -1);
    if (overlap(x, cols))
        return (PyErr_SetString(tc_err_value(), "x, cols: must not share memory"), -1);
    return check_ranges(p);
}

static PyObject *cols_call(PyObject *args, int to_cols)
{
    PyObject *xo, *co, *params;
    Py_ssize_t n_first;
    int threads;
    if (!PyArg_ParseTuple(args, "OOnO!i", to_cols ? &xo : &co, to_cols ? &co : &xo, &n_first, &PyTuple_Type,
                          &params, &threads))
        return NULL;
    if (threads < 0 || threads > 256)
        return PyErr_Format(tc_err_value(), "threads=%d: need 0 (the pool's size) to 256", threads);
    tc_direct_problem p = {0};
    if (parse_params(params, &p) != 0)
        return NULL;
    p.groups = 1;
    tc_buf x, cols;
    if (get_nd(xo, to_cols ? "x" : "out", 5, !to_cols, &x) != 0)
        return NULL;
    if (get_nd(co, "cols", 8, to_cols, &cols) != 0) {
        tc_buf_release(&x);
        return NULL;
    }
    PyObject *result = NULL;
    ptrdiff_t nb;
    if (describe_cols(&x, &cols, n_first, &p, &nb) == 0) {
        p.xs = lo_of(&x);
        p.lo_x = lo_of(&x), p.hi_x = hi_of(&x);
        p.y = lo_of(&cols);
        p.lo_y = lo_of(&cols), p.hi_y = hi_of(&cols);
        p.out = (char *)(to_cols ? cols.view.buf : x.view.buf);
        p.lo_o = to_cols ? lo_of(&cols) : lo_of(&x), p.hi_o = to_cols ? hi_of(&cols) : hi_of(&x);
        const tc_direct_loops *k = tc_direct_for(tc_isa_name());
        int n = threads < 1 ? tc_pool_threads() : threads, rc;
        Py_BEGIN_ALLOW_THREADS
        rc = to_cols ? tc_im2col(k, &p, n_first, nb, n) : tc_col2im(k, &p, n_first, nb, n);
        Py_END_ALLOW_THREADS
        result = tc_none_or_nomem(rc);
    }
    tc_buf_release(&x);
    tc_buf_release(&cols);
    return result;
}

PyObject *tc_py_im2col(PyObject *self, PyObject *args)
{
    (void)self;
    return cols_call(args, 1);
}

PyObject *tc_py_col2im(PyObject *self, PyObject *args)
{
    (void)self;
    return cols_call(args, 0);
}
