"""The GEMM of the ``gemm`` algorithm on raw buffers: the compiled core's (our own micro-kernels
and thread pool), or, without it, SciPy's BLAS ``sgemm``/``dgemm`` (``scipy.linalg.cython_blas``).

NumPy's ``matmul`` needs contiguous operands and cannot accumulate (``beta=1``); a GEMM with
explicit leading dimensions lets the algorithms multiply strided windows of a padded buffer in
place and accumulate tap after tap, without copies. With the compiled core, no tconv call runs
OpenBLAS: its workers would keep spinning after the call, against the caller's next NumPy
product, and against our pool.
"""

from __future__ import annotations

import ctypes
from functools import cache

import numpy as np
import scipy.linalg.cython_blas as _cb
from numpy.lib.stride_tricks import as_strided

from ..errors import TconvError
from . import _native
from .options import thread_cap

__all__ = ["gemm_cm", "blas_info", "blas_core"]

_P = ctypes.c_void_p
_I = ctypes.POINTER(ctypes.c_int)
_PROTO = ctypes.CFUNCTYPE(None, ctypes.c_char_p, ctypes.c_char_p, _I, _I, _I, _P, _P, _I, _P, _I, _P, _P, _I)


def _load(name: str):
    cap = _cb.__pyx_capi__[name]
    get_name = ctypes.pythonapi.PyCapsule_GetName
    get_name.restype, get_name.argtypes = ctypes.c_char_p, [ctypes.py_object]
    get_ptr = ctypes.pythonapi.PyCapsule_GetPointer
    get_ptr.restype, get_ptr.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
    return _PROTO(get_ptr(cap, get_name(cap)))


_GEMM = {np.dtype(np.float32): (_load("sgemm"), ctypes.c_float),
         np.dtype(np.float64): (_load("dgemm"), ctypes.c_double)}


def gemm_cm(transa: bool, transb: bool, m: int, n: int, k: int,
            a: np.ndarray, a_off: int, lda: int,
            b: np.ndarray, b_off: int, ldb: int,
            c: np.ndarray, c_off: int, ldc: int, beta: float = 0.0) -> None:
    """Column-major ``C[m, n] = op(A)[m, k] @ op(B)[k, n] + beta * C`` on raw buffers.

    ``a``, ``b``, ``c`` are C-contiguous arrays of one dtype; offsets and leading
    dimensions are in elements. The caller guarantees every index stays in bounds.
    """
    if m == 0 or n == 0:
        return
    if _native.available():
        _core_gemm(transa, transb, m, n, k, a, a_off, lda, b, b_off, ldb, c, c_off, ldc, beta)
        return
    if c.dtype == np.float32 and k > BLAS_LONG_DEPTH:
        _blas_long_f32(transa, transb, m, n, k, a, a_off, lda, b, b_off, ldb, c, c_off, ldc, beta)
        return
    _blas(transa, transb, m, n, k, a, a_off, lda, b, b_off, ldb, c, c_off, ldc, beta)


def _blas(transa, transb, m, n, k, a, a_off, lda, b, b_off, ldb, c, c_off, ldc, beta) -> None:
    fn, ct = _GEMM[c.dtype]
    size = c.itemsize
    ci = ctypes.c_int
    fn(b"T" if transa else b"N", b"T" if transb else b"N",
       ctypes.byref(ci(m)), ctypes.byref(ci(n)), ctypes.byref(ci(k)), ctypes.byref(ct(1.0)),
       a.ctypes.data + a_off * size, ctypes.byref(ci(lda)),
       b.ctypes.data + b_off * size, ctypes.byref(ci(ldb)), ctypes.byref(ct(beta)),
       c.ctypes.data + c_off * size, ctypes.byref(ci(ldc)))


#: without the compiled core, a float32 GEMM deeper than this runs in depth chunks of
#: :data:`BLAS_DEPTH_CHUNK` terms, each an SGEMM, their sums added in float64: OpenBLAS accumulates the
#: whole depth in float32 C, and on an AMD Zen 5 (scipy-openblas) a 18432-term reduction (2048 channels
#: x 3x3) came out at 2.02x PyTorch's own float32 error, over the bound the tests hold every algorithm to
BLAS_LONG_DEPTH = 1024
BLAS_DEPTH_CHUNK = 256
#: ... and in blocks of at most this many elements of C (the float64 sums and one chunk's product)
BLAS_BLOCK_ELEMENTS = 1 << 20


def _blas_long_f32(transa, transb, m, n, k, a, a_off, lda, b, b_off, ldb, c, c_off, ldc, beta) -> None:
    """:func:`gemm_cm` in float32 over a long depth: chunks of :data:`BLAS_DEPTH_CHUNK` terms
    summed in float64, over column blocks of C (bounded scratch)."""
    es = c.itemsize
    cview = as_strided(c.reshape(-1)[c_off:], (n, m), (ldc * es, es))  # row j = column j of C
    nb = max(1, min(n, BLAS_BLOCK_ELEMENTS // max(m, 1)))
    part = np.empty((nb, m), np.float32)
    for j0 in range(0, n, nb):
        j1 = min(n, j0 + nb)
        acc = cview[j0:j1].astype(np.float64) if beta else np.zeros((j1 - j0, m), np.float64)
        tmp = part[:j1 - j0]
        # column j0 of op(B): B[q, j] at q + j*ldb (N), or at j + q*ldb (T)
        b_col = b_off + (j0 if transb else j0 * ldb)
        for q0 in range(0, k, BLAS_DEPTH_CHUNK):
            kq = min(BLAS_DEPTH_CHUNK, k - q0)
            # depth q0 of op(A): A[i, q] at i + q*lda (N), or at q + i*lda (T); of op(B) likewise
            _blas(transa, transb, m, j1 - j0, kq, a, a_off + (q0 if transa else q0 * lda), lda,
                  b, b_col + (q0 * ldb if transb else q0), ldb, tmp, 0, m, 0.0)
            acc += tmp
        cview[j0:j1] = acc


def _core_gemm(transa, transb, m, n, k, a, a_off, lda, b, b_off, ldb, c, c_off, ldc, beta) -> None:
    """:func:`gemm_cm` on the compiled core: the column-major ``C = op(A) op(B)`` is the row-major
    ``C^T = op(B)^T op(A)^T``, each operand a strided view of its flat buffer."""
    es = c.itemsize
    if not (a.flags.c_contiguous and b.flags.c_contiguous and c.flags.c_contiguous):
        raise TconvError("gemm_cm: the operands must be C-contiguous buffers (an internal error)")
    cf, af, bf = c.reshape(-1), a.reshape(-1), b.reshape(-1)
    ct = as_strided(cf[c_off:], (n, m), (ldc * es, es))
    bt = as_strided(bf[b_off:], (n, k), (es, ldb * es) if transb else (ldb * es, es))
    at = as_strided(af[a_off:], (k, m), (es, lda * es) if transa else (lda * es, es))
    _native._ext.gemm(bt, at, ct, 1.0, beta, thread_cap() or _native.get_num_threads())


@cache
def blas_core() -> str:
    """The OpenBLAS kernel family in use (``"Haswell"``, ``"SkylakeX"``, ...), or ``"unknown"``."""
    import glob
    import os

    import scipy

    core = "unknown"
    libs = glob.glob(os.path.join(os.path.dirname(scipy.__file__), os.pardir, "scipy.libs", "*openblas*"))
    for path in libs:
        try:
            lib = ctypes.CDLL(path)
            for name in ("scipy_openblas_get_corename", "openblas_get_corename"):
                fn = getattr(lib, name, None)
                if fn is not None:
                    fn.restype = ctypes.c_char_p
                    core = fn().decode()
                    break
        except OSError:
            continue
    return core


def blas_info() -> str:
    """Which BLAS tconv's GEMMs run on, and the OpenBLAS kernel family it picked."""
    import scipy

    return f"SciPy {scipy.__version__} OpenBLAS (cython_blas), core {blas_core()}"
