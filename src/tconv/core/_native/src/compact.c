/* compact.c: the interior of a padded array moved to the front of its own buffer, row by row:
 * the last step of the padding operator's fold (tconv.core.padding.Boundary.fold), which so
 * needs no second array.  Rows are visited in C order; each lands at an offset no larger than
 * its source, so memmove row by row is safe (reference: the NumPy copy v[..., lo:lo+n]). */
#include <Python.h>
#include <string.h>

#include "direct_py.h"

static int fits(Py_ssize_t len, Py_ssize_t lead, Py_ssize_t p0, Py_ssize_t p1, Py_ssize_t p2,
                Py_ssize_t item)
{
    Py_ssize_t n;
    return !__builtin_mul_overflow(lead, p0, &n) && !__builtin_mul_overflow(n, p1, &n) &&
           !__builtin_mul_overflow(n, p2, &n) && !__builtin_mul_overflow(n, item, &n) && n <= len;
}

PyObject *tc_py_compact(PyObject *self, PyObject *args)
{
    Py_buffer buf;
    Py_ssize_t lead, p[3], lo[3], n[3], item;
    (void)self;
    if (!PyArg_ParseTuple(args, "w*nnnnnnnnnnn", &buf, &lead, &p[0], &p[1], &p[2], &lo[0], &lo[1], &lo[2],
                          &n[0], &n[1], &n[2], &item))
        return NULL;
    int ok = lead >= 0 && item > 0 && fits(buf.len, lead, p[0], p[1], p[2], item);
    for (int a = 0; a < 3; ++a)
        ok = ok && lo[a] >= 0 && n[a] >= 0 && lo[a] <= p[a] && n[a] <= p[a] - lo[a]; /* no sum that can wrap */
    if (!ok) {
        PyBuffer_Release(&buf);
        PyErr_SetString(tc_err_value(), "compact: the interior does not fit in the buffer");
        return NULL;
    }
    char *base = buf.buf;
    size_t row = (size_t)(n[2] * item);
    Py_BEGIN_ALLOW_THREADS
    Py_ssize_t dst = 0;
    for (Py_ssize_t b = 0; b < lead; ++b)
        for (Py_ssize_t i = 0; i < n[0]; ++i)
            for (Py_ssize_t j = 0; j < n[1]; ++j) {
                Py_ssize_t src = ((b * p[0] + i + lo[0]) * p[1] + j + lo[1]) * p[2] + lo[2];
                memmove(base + dst * item, base + src * item, row);
                dst += n[2];
            }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&buf);
    Py_RETURN_NONE;
}
