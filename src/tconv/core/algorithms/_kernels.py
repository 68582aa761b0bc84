"""numba kernels (compiled once, cached on disk): col2im and the direct convolutions.

Inner loops are written over 0-based slices (``dst[i] += src[i]``): numba then proves the
indices non-negative and vectorises them (measured 15x over ``acc[q] += src[q + jb]``).

Every kernel works on the canonical 3-D form (1-D and 2-D problems get leading axes of
size 1) and computes the work items (output rows, planes or weight entries) ``r0 <= r < r1``
in parallel (``prange``), so no two threads write one element. The threads are numba's, on
the fork-safe and thread-safe layer :mod:`tconv.core.machine` selects (TBB; never GNU OpenMP), as
many as :func:`tconv.core.machine.threads_for` gives for the work.

Work scales with the output and the multiply-adds, never with the stride or padding values:
loops over stride phases run only over the phases present in the output.
"""

from __future__ import annotations

import threading

import numpy as np
from numba import njit, prange


@njit(cache=True, inline="always")
def _jrange(p, lo, t, d, s, m):
    """(valid, j) with p = j*s + t*d - lo, 0 <= j < m."""
    q = p + lo - t * d
    if q < 0 or q % s != 0:
        return False, 0
    j = q // s
    return j < m, j


@njit(cache=True, inline="always")
def _span(t, d, lo, s, m, n):
    """First and last j (inclusive) with 0 <= j*s + t*d - lo < n on one axis."""
    off = t * d - lo
    j0 = 0
    if off < 0:
        j0 = (-off + s - 1) // s
    j1 = m - 1
    last = (n - 1 - off)
    if last < 0:
        return 1, 0
    if last // s < j1:
        j1 = last // s
    return j0, j1


@njit(cache=True, nogil=True, parallel=True)
def col2im3(cols, out, n_first, s0, s1, s2, d0, d1, d2, lo0, lo1, lo2, r0, r1):
    """out[n_first + b, c, p] = sum_t cols[c, t0, t1, t2, b, j0, j1, j2] (p = j*s + t*d - lo).

    cols: (C, k0, k1, k2, B, m0, m1, m2); out: (N, C, n0, n1, n2), planes fully overwritten.
    One output plane (sample, channel) per work item, accumulated phase-major along the last
    axis (contiguous, vectorised adds), then interleaved into the plane once.
    """
    C, k0, k1, k2, B, m0, m1, m2 = cols.shape
    n0, n1, n2 = out.shape[2], out.shape[3], out.shape[4]
    nq = (n2 + s2 - 1) // s2
    nph = min(s2, n2)  # phases present in the output (never the stride itself)
    for pl in prange(r0, r1):
        c = pl % C
        b = pl // C
        plane = out[n_first + b, c]
        tmp = np.zeros((nph, n0, n1, nq), dtype=out.dtype)
        for t2 in range(k2):
            a2, e2 = _span(t2, d2, lo2, s2, m2, n2)
            if e2 < a2:
                continue
            off2 = t2 * d2 - lo2
            ph = off2 % s2
            q0 = a2 + (off2 - ph) // s2
            length = e2 + 1 - a2
            for t0 in range(k0):
                a0, e0 = _span(t0, d0, lo0, s0, m0, n0)
                off0 = t0 * d0 - lo0
                for t1 in range(k1):
                    a1, e1 = _span(t1, d1, lo1, s1, m1, n1)
                    off1 = t1 * d1 - lo1
                    for j0 in range(a0, e0 + 1):
                        for j1 in range(a1, e1 + 1):
                            src = cols[c, t0, t1, t2, b, j0, j1, a2:e2 + 1]
                            dst = tmp[ph, j0 * s0 + off0, j1 * s1 + off1, q0:q0 + length]
                            for i in range(length):
                                dst[i] += src[i]
        for ph in range(nph):
            cnt = (n2 - ph + s2 - 1) // s2
            plane[:, :, ph::s2] = tmp[ph, :, :, :cnt]


@njit(cache=True, nogil=True, parallel=True)
def im2col3(x, cols, n_first, s0, s1, s2, d0, d1, d2, lo0, lo1, lo2, r0, r1):
    """cols[c, t0, t1, t2, b, j] = x[n_first + b, c, j*s + t*d - lo] (0 out of range): the
    adjoint of :func:`col2im3`. cols: (C, k0, k1, k2, B, m0, m1, m2), fully overwritten."""
    C, k0, k1, k2, B, m0, m1, m2 = cols.shape
    n0, n1, n2 = x.shape[2], x.shape[3], x.shape[4]
    for pl in prange(r0, r1):
        c = pl % C
        b = pl // C
        plane = x[n_first + b, c]
        for t0 in range(k0):
            a0, e0 = _span(t0, d0, lo0, s0, m0, n0)
            off0 = t0 * d0 - lo0
            for t1 in range(k1):
                a1, e1 = _span(t1, d1, lo1, s1, m1, n1)
                off1 = t1 * d1 - lo1
                for t2 in range(k2):
                    a2, e2 = _span(t2, d2, lo2, s2, m2, n2)
                    off2 = t2 * d2 - lo2
                    blk = cols[c, t0, t1, t2, b]
                    blk[:] = 0
                    if e2 < a2:
                        continue
                    for j0 in range(a0, e0 + 1):
                        for j1 in range(a1, e1 + 1):
                            dst = blk[j0, j1, a2:e2 + 1]
                            src = plane[j0 * s0 + off0, j1 * s1 + off1, a2 * s2 + off2:e2 * s2 + off2 + 1:s2]
                            for i in range(e2 + 1 - a2):
                                dst[i] = src[i]


@njit(cache=True, nogil=True, parallel=True)
def direct_t3(y, w, out, acc_like, groups, s0, s1, s2, d0, d1, d2, lo0, lo1, lo2, r0, r1):
    """Transposed convolution, direct: out (N, Cx, n0, n1, n2) from y (N, Cy, m0, m1, m2),
    w (Cy, Cx/groups, k0, k1, k2), output rows r0 <= r < r1 of the N*Cx*n0*n1 rows. Gather over
    axes 0-1; along the last axis one phase (p2 mod s2) at a time, so the multiply-adds run
    over contiguous memory. Sums accumulate in ``acc_like.dtype`` (float64 for long float32
    reductions)."""
    N, Cy, m0, m1, m2 = y.shape
    Cx, n0, n1, n2 = out.shape[1], out.shape[2], out.shape[3], out.shape[4]
    cxg = w.shape[1]
    k0, k1, k2 = w.shape[2], w.shape[3], w.shape[4]
    cyg = Cy // groups
    nph = min(s2, n2)
    for r in prange(r0, r1):
        acc = np.empty((n2 + s2 - 1) // s2, dtype=acc_like.dtype)
        p1 = r % n1
        p0 = (r // n1) % n0
        cx = (r // (n1 * n0)) % Cx
        n = r // (n1 * n0 * Cx)
        g = cx // cxg
        cl = cx % cxg
        row = out[n, cx, p0, p1]
        for ph in range(nph):
            nq = (n2 - ph + s2 - 1) // s2
            acc[:nq] = 0
            for t0 in range(k0):
                ok0, j0 = _jrange(p0, lo0, t0, d0, s0, m0)
                if not ok0:
                    continue
                for t1 in range(k1):
                    ok1, j1 = _jrange(p1, lo1, t1, d1, s1, m1)
                    if not ok1:
                        continue
                    for t2 in range(k2):
                        base = ph + lo2 - t2 * d2
                        if base % s2 != 0:
                            continue
                        jb = base // s2
                        qa = max(0, -jb)
                        qe = min(nq, m2 - jb)
                        if qe <= qa:
                            continue
                        dst = acc[qa:qe]
                        for cyl in range(cyg):
                            cy = g * cyg + cyl
                            wv = w[cy, cl, t0, t1, t2]
                            src = y[n, cy, j0, j1, qa + jb:qe + jb]
                            for i in range(qe - qa):  # 0-based: numba vectorises it
                                dst[i] += wv * src[i]
            if s2 == 1:
                for i in range(nq):
                    row[i] = acc[i]
            else:
                row[ph::s2] = acc[:nq]


@njit(cache=True, nogil=True, parallel=True)
def direct_c3(x, w, out, acc_like, groups, s0, s1, s2, d0, d1, d2, lo0, lo1, lo2, r0, r1):
    """Convolution, direct: out (N, Cy, m0, m1, m2) from x (N, Cx, n0, n1, n2),
    w (Cy, Cx/groups, k0, k1, k2), output rows r0 <= r < r1 of the N*Cy*m0*m1 rows, reading
    strided input rows; sums accumulate in ``acc_like.dtype``."""
    N, Cx, n0, n1, n2 = x.shape
    Cy, m0, m1, m2 = out.shape[1], out.shape[2], out.shape[3], out.shape[4]
    cxg = w.shape[1]
    k0, k1, k2 = w.shape[2], w.shape[3], w.shape[4]
    cyg = Cy // groups
    for r in prange(r0, r1):
        acc = np.empty(m2, dtype=acc_like.dtype)
        j1 = r % m1
        j0 = (r // m1) % m0
        cy = (r // (m1 * m0)) % Cy
        n = r // (m1 * m0 * Cy)
        g = cy // cyg
        row = out[n, cy, j0, j1]
        acc[:] = 0
        for t0 in range(k0):
            p0 = j0 * s0 + t0 * d0 - lo0
            if p0 < 0 or p0 >= n0:
                continue
            for t1 in range(k1):
                p1 = j1 * s1 + t1 * d1 - lo1
                if p1 < 0 or p1 >= n1:
                    continue
                for cl in range(cxg):
                    for t2 in range(k2):
                        a, e = _span(t2, d2, lo2, s2, m2, n2)
                        if e < a:
                            continue
                        off = t2 * d2 - lo2
                        wv = w[cy, cl, t0, t1, t2]
                        dst = acc[a:e + 1]
                        src = x[n, g * cxg + cl, p0, p1, a * s2 + off:e * s2 + off + 1:s2]
                        for i in range(e + 1 - a):  # 0-based: numba vectorises it
                            dst[i] += wv * src[i]
        for i in range(m2):
            row[i] = acc[i]


@njit(cache=True, nogil=True, parallel=True, fastmath={"reassoc", "contract"})
def direct_wgrad3(y, x, gw, groups, s0, s1, s2, d0, d1, d2, lo0, lo1, lo2, r0, r1):
    """gw[cy, cl, t] = sum_{n, j} y[n, cy, j] * x[n, g*cxg + cl, j*s + t*d - lo] (in range).

    y: (N, Cy, m0, m1, m2) (the y side), x: (N, Cx, n0, n1, n2) (the x side),
    gw: (Cy, Cx/groups, k0, k1, k2), fully overwritten. One (cy, cl, tap) per work item:
    a sum of dot products along the last axis (0-based slices; ``reassoc`` lets LLVM
    vectorise the reduction, NaN/Inf semantics are kept).
    """
    N, Cy, m0, m1, m2 = y.shape
    n0, n1, n2 = x.shape[2], x.shape[3], x.shape[4]
    cxg, k0, k1, k2 = gw.shape[1], gw.shape[2], gw.shape[3], gw.shape[4]
    cyg = Cy // groups
    for it in prange(r0, r1):
        t2 = it % k2
        t1 = (it // k2) % k1
        t0 = (it // (k2 * k1)) % k0
        cl = (it // (k2 * k1 * k0)) % cxg
        cy = it // (k2 * k1 * k0 * cxg)
        cx = (cy // cyg) * cxg + cl
        a0, e0 = _span(t0, d0, lo0, s0, m0, n0)
        a1, e1 = _span(t1, d1, lo1, s1, m1, n1)
        a2, e2 = _span(t2, d2, lo2, s2, m2, n2)
        off0 = t0 * d0 - lo0
        off1 = t1 * d1 - lo1
        off2 = t2 * d2 - lo2
        acc = 0.0
        for n in range(N):
            for j0 in range(a0, e0 + 1):
                for j1 in range(a1, e1 + 1):
                    yr = y[n, cy, j0, j1, a2:e2 + 1]
                    xr = x[n, cx, j0 * s0 + off0, j1 * s1 + off1, a2 * s2 + off2:e2 * s2 + off2 + 1:s2]
                    part = 0.0
                    for i in range(e2 + 1 - a2):
                        part += yr[i] * xr[i]
                    acc += part
        gw[cy, cl, t0, t1, t2] = acc


def as3(a: np.ndarray, nd: int) -> np.ndarray:
    """View a (N, C, *spatial) array with nd spatial axes as (N, C, 1.., s0, s1, s2)."""
    return a.reshape(a.shape[:2] + (1,) * (3 - nd) + a.shape[2:])


def pad3(t: tuple, fill: int) -> tuple:
    return (fill,) * (3 - len(t)) + tuple(t)


def params3(geom) -> tuple[int, ...]:
    """The kernels' trailing arguments: stride, dilation and pad_lo, each padded to 3 axes."""
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

