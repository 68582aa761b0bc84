/* direct_py.h: the direct convolutions' entries in the module's method table (direct_module.c),
 * and what module.c shares with the bindings in other files. */
#ifndef TC_DIRECT_PY_H
#define TC_DIRECT_PY_H

#include "binding.h"

PyObject *tc_py_direct(PyObject *self, PyObject *args);
PyObject *tc_py_brgemm(PyObject *self, PyObject *args); /* brgemm.c's call */
PyObject *tc_py_direct_plan(PyObject *self, PyObject *args);
PyObject *tc_py_direct_run(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *tc_py_brgemm_pack(PyObject *self, PyObject *args);
PyObject *tc_py_brgemm_packed_len(PyObject *self, PyObject *capsule);
PyObject *tc_py_im2col(PyObject *self, PyObject *args);
PyObject *tc_py_col2im(PyObject *self, PyObject *args);
PyObject *tc_py_compact(PyObject *self, PyObject *args); /* compact.c */

PyObject *tc_py_conv_plan(PyObject *self, PyObject *args); /* convplan.c */
PyObject *tc_py_conv_run(PyObject *self, PyObject *args);
PyObject *tc_py_conv_pack(PyObject *self, PyObject *args);
PyObject *tc_py_conv_plan_info(PyObject *self, PyObject *arg);

#define TC_DIRECT_METHODS                                                                              \
    {"direct", tc_py_direct, METH_VARARGS,                                                             \
     "direct(op, a, b, out, params, acc, threads): op 't' conv_transpose, 'c' conv, 'w' weight gradient"}, \
    {"brgemm", tc_py_brgemm, METH_VARARGS,                                                             \
     "brgemm(op, a, b, out, params, acc, threads): op 't' conv_transpose, 'c' conv over a channels-last copy"}, \
    {"direct_plan", tc_py_direct_plan, METH_VARARGS,                                                   \
     "direct_plan(op, a_shape, b_shape, out_shape, params, acc, check_weights[, brgemm]): a call's plan"}, \
    {"direct_run", (PyCFunction)(void (*)(void))tc_py_direct_run, METH_FASTCALL,                        \
     "direct_run(plan, a, b, out, bias, threads[, packed]): one call of a plan from direct_plan"},       \
    {"brgemm_pack", tc_py_brgemm_pack, METH_VARARGS, "brgemm_pack(plan, w, packed, threads)"},         \
    {"brgemm_packed_len", tc_py_brgemm_packed_len, METH_O, "brgemm_packed_len(plan) -> elements"},      \
    {"im2col", tc_py_im2col, METH_VARARGS, "im2col(x, cols, n_first, params, threads)"},              \
    {"col2im", tc_py_col2im, METH_VARARGS, "col2im(cols, out, n_first, params, threads)"},              \
    {"conv_plan", tc_py_conv_plan, METH_VARARGS, "conv_plan(dtype, bounds, parts, gemms, w_len, src_len, dst_len)"}, \
    {"conv_run", tc_py_conv_run, METH_VARARGS, "conv_run(plan, w, src, dst, threads, packed)"},                \
    {"conv_pack", tc_py_conv_pack, METH_VARARGS, "conv_pack(plan, w, packed, threads)"},                       \
    {"conv_plan_info", tc_py_conv_plan_info, METH_O, "conv_plan_info(plan) -> dict"},                          \
    {"compact", tc_py_compact, METH_VARARGS, "compact(buffer, lead, p0, p1, p2, lo0, lo1, lo2, n0, n1, n2, itemsize)"},

#endif
