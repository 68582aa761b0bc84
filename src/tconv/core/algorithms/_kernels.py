"""The canonical 3-D form the compiled kernels work on, the accumulator rule, the reusable
workspace, and im2col/col2im (the compiled core's, or NumPy's tap by tap).

Every kernel works on the canonical 3-D form (1-D and 2-D problems get leading axes of size 1:
:func:`as3`, :func:`params3`). Work scales with the output and the multiply-adds, never with the
stride or padding values: the loops over stride phases run only over the phases present in the
output (the C kernels in ``tconv/core/_native/src/direct.c``).
"""

from __future__ import annotations

import threading

import numpy as np

from .. import _native
from ..machine import threads_for
from ..taps import tap_windows


def as3(a: np.ndarray, nd: int) -> np.ndarray:
    """View a (N, C, *spatial) array with nd spatial axes as (N, C, 1.., s0, s1, s2)."""
    return a.reshape(a.shape[:2] + (1,) * (3 - nd) + a.shape[2:])


def pad3(t: tuple, fill: int) -> tuple:
    return (fill,) * (3 - len(t)) + tuple(t)


def params3(geom) -> tuple[int, ...]:
    """The kernels' geometry: stride, dilation and pad_lo, each padded to 3 axes."""
    return (*pad3(geom.stride, 1), *pad3(geom.dilation, 1), *pad3(geom.pad_lo, 0))


_WORKSPACE = threading.local()


def workspace(shape: tuple, dtype) -> np.ndarray:
    """A scratch array from a per-thread buffer that is kept and reused between calls
    (fresh multi-megabyte allocations cost page faults on every call). Its contents are
    undefined; only one workspace is live per thread at a time."""
    dtype = np.dtype(dtype)
    need = int(np.prod(shape)) * dtype.itemsize
    buf = getattr(_WORKSPACE, "buf", None)
    if buf is None or buf.nbytes < need:
        buf = np.empty(max(need, 1), dtype=np.uint8)
        _WORKSPACE.buf = buf
    return buf[:need].view(dtype).reshape(shape)


def release_workspace() -> None:
    """Free this thread's cached scratch buffer."""
    _WORKSPACE.buf = None


#: float32 sums of at least this many terms accumulate in float64 in the direct kernels
#: (naive float32 sums lose ~10x PyTorch's accuracy on long reductions of offset data)
LONG_SUM = 128


def accumulator(dtype, terms: int) -> np.ndarray:
    """An empty array whose dtype is the direct kernels' accumulator for ``terms``-term sums."""
    wide = np.dtype(dtype) == np.float32 and terms >= LONG_SUM
    return np.empty(0, np.float64 if wide else dtype)


ALL = slice(None)


def _windows3(geom):
    """:func:`~tconv.core.taps.tap_windows` padded to the 3-D form (taps 0, full slices in front)."""
    lead = 3 - geom.nd
    return [((0,) * lead + tap, (ALL,) * lead + ysl, (ALL,) * lead + xsl) for tap, ysl, xsl in tap_windows(geom)]


def _native_runs(a: np.ndarray, geom) -> bool:
    return _native.available() and geom.nd <= 3 and a.dtype in (np.float32, np.float64)


#: im2col/col2im's thread count counts each element of ``cols`` as this many multiply-adds (a load,
#: an add or a copy, a store: memory-bound where a multiply-add is not): L2's col2im (786K elements,
#: 196K outputs) took 0.40 ms on one thread and 0.21 ms on two, and ran on one at 1x
COPY_WORK = 2


def im2col_into(x3: np.ndarray, cols: np.ndarray, n_first: int, geom) -> np.ndarray:
    """``cols[c, t, b, j] = x3[n_first + b, c, j*s + t*d - lo]`` (zeros out of range), fully
    overwritten: ``x3`` ``(N, C, n0, n1, n2)``, ``cols`` ``(C, k0, k1, k2, B, m0, m1, m2)``."""
    if _native_runs(cols, geom):
        return _native.im2col(x3, cols, n_first, (1, *params3(geom)), threads=threads_for(COPY_WORK * cols.size))
    src = x3[n_first:n_first + cols.shape[4]]
    cols.fill(0)
    for tap, ysl, xsl in _windows3(geom):
        cols[(ALL, *tap, ALL, *ysl)] = src[(ALL, ALL, *xsl)].swapaxes(0, 1)
    return cols


def col2im_into(cols: np.ndarray, out3: np.ndarray, n_first: int, geom) -> np.ndarray:
    """The adjoint of :func:`im2col_into`: the planes ``n_first .. n_first + B`` of ``out3``
    become the sums of ``cols`` over the taps landing on each cell (the other planes untouched)."""
    if _native_runs(cols, geom):
        return _native.col2im(cols, out3, n_first, (1, *params3(geom)), threads=threads_for(COPY_WORK * cols.size))
    dst = out3[n_first:n_first + cols.shape[4]]
    dst.fill(0)
    for tap, ysl, xsl in _windows3(geom):
        dst[(ALL, ALL, *xsl)] += cols[(ALL, *tap, ALL, *ysl)].swapaxes(0, 1)
    return out3
