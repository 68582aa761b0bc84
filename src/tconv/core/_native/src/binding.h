/* binding.h: what module.c shares with the bindings in other files (direct_module.c, convplan.c). */
#ifndef TC_BINDING_H
#define TC_BINDING_H

#include <Python.h>

#include "buffer.h"
#include "tc_common.h"

PyObject *tc_err_value(void);             /* tconv.errors.TconvError */
PyObject *tc_err_type(void);              /* tconv.errors.TconvTypeError */
const char *tc_isa_name(void);            /* the instruction set in use */
const tc_isa_table *tc_isa_current(void); /* its function table */

/* A C-contiguous buffer: float32/float64 data (table 0) or int64 tables (table 1); *len elements. */
int tc_get_flat(PyObject *obj, const char *name, int writable, int table, tc_buf *o, Py_ssize_t *len);
/* Do rows [0, m) of base + r * rs + table[0:n] all land in [0, len)? */
int tc_rows_in_range(int64_t base, int64_t m, int64_t rs, const int64_t *table, Py_ssize_t n, Py_ssize_t len);
/* Do two buffers share bytes? */
int tc_ranges_overlap(const Py_buffer *x, const Py_buffer *y);
/* A kernel call's result: None for rc 0, else NULL with a MemoryError (its scratch could not be had). */
PyObject *tc_none_or_nomem(int rc);

#endif
