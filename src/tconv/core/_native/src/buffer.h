/* buffer.h: a Python buffer of float32/float64 data held by the bindings (module.c, direct_module.c):
 * the one holder type, its release, and the format check both bindings apply. */
#ifndef TC_BUFFER_H
#define TC_BUFFER_H

#include <Python.h>
#include <string.h>

#include "tc_common.h"

typedef struct {
    Py_buffer view;
    int held;       /* the view is held and must be released */
    tc_dtype dtype;
} tc_buf;

static inline void tc_buf_release(tc_buf *b)
{
    if (b->held)
        PyBuffer_Release(&b->view);
    b->held = 0;
}

/* 0 and *dt set for a native float32 ("f") or float64 ("d") format string (a buffer's or a dtype
 * argument's), else -1. */
static inline int tc_parse_float_format(const char *fmt, tc_dtype *dt)
{
    if (!fmt)
        return -1;
    if (*fmt == '@' || *fmt == '=' || *fmt == '<')
        ++fmt;
    if (strcmp(fmt, "f") == 0)
        *dt = TC_F32;
    else if (strcmp(fmt, "d") == 0)
        *dt = TC_F64;
    else
        return -1;
    return 0;
}

/* 0 and *dt set when the view holds float32 (4-byte items) or float64 (8-byte items), else -1. */
static inline int tc_buf_float_format(const Py_buffer *v, tc_dtype *dt)
{
    if (tc_parse_float_format(v->format, dt) != 0)
        return -1;
    return v->itemsize == (*dt == TC_F32 ? 4 : 8) ? 0 : -1;
}

#endif
