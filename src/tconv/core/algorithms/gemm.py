"""``gemm``: one matrix product plus col2im (transpose) / im2col plus one product (conv).

``conv_transpose``: ``cols = W^T y`` with ``W`` laid out as ``(C_out*prod(k), C_in)`` per
group, then each tap's slab of ``cols`` is added into its strided output window
(col2im). On the compiled core the product is one implicit GEMM per group and batch chunk
(:func:`~tconv.core.algorithms.native.cols_product`: ``y``'s samples read in place, no copy of them
into one matrix); without it, BLAS per sample (or per chunk of small images).
``conv``: the windows are gathered into ``cols`` (im2col) and multiplied.
The weight gradient: im2col of the x-side array, then GEMMs accumulating over the batch.
Scratch: ``C_out * prod(k) * prod(input)`` elements per sample of a batch chunk for ``cols``,
chunked to :data:`~tconv.core.algorithms._base.SCRATCH_FACTOR` times the output's bytes.
im2col/col2im are the compiled core's (or NumPy's, tap by tap, without it), on the pool like the GEMMs
(:func:`~tconv.core.machine.threads_for`); the call holds the pool (``_native.hold()``) so that its workers
stay awake between the GEMMs and these passes.
"""

from __future__ import annotations

import math

import numpy as np

from .. import _native
from ..blas import gemm_cm
from ..machine import blas_rates
from ..outputs import empty as output_empty
from ..taps import tap_windows
from ._base import SCRATCH_FACTOR, Algorithm, register
from ._kernels import as3, col2im_into, im2col_into, pad3, workspace
from .native import cols_product, cols_weight

# cost model: the BLAS rate comes from tconv.core.machine.blas_rates (deterministic per machine);
# the compiled col2im moves about this many bytes per second, single-threaded; NumPy's, tap by
# tap, about a quarter of it (plus a call per tap)
COL2IM_BYTES_PER_S = 1.2e10
NUMPY_COL2IM_BYTES_PER_S = 3e9
GEMM_CALL_S = 1e-5
#: the fixed cost of one call (workspace, kernel dispatch, BLAS set-up): 40-50 us measured for tiny
#: single-channel layers (benchmarks/planner_fft.py, 2048 taps k3), where direct takes 20-30 us
GEMM_FIXED_S = 3e-5


ALL = slice(None)


def col2im(cols: np.ndarray, geom, out: np.ndarray) -> np.ndarray:
    """Add ``cols`` of shape ``(N, C, *kernel, *y_shape)`` into ``out`` ``(N, C, *x_shape)``."""
    for tap, ysl, xsl in tap_windows(geom):
        out[(ALL, ALL, *xsl)] += cols[(ALL, ALL, *tap, *ysl)]
    return out


def im2col(x: np.ndarray, geom) -> np.ndarray:
    """Gather ``x`` ``(N, C, *x_shape)`` into ``(N, C, *kernel, *y_shape)`` (zeros out of range)."""
    cols = np.zeros((x.shape[0], x.shape[1], *geom.kernel, *geom.y_shape), dtype=x.dtype)
    for tap, ysl, xsl in tap_windows(geom):
        cols[(ALL, ALL, *tap, *ysl)] = x[(ALL, ALL, *xsl)]
    return cols


def chunk_size(geom, batch: int, itemsize: int) -> int:
    """Samples per chunk so that ``cols`` stays within SCRATCH_FACTOR times the output's bytes
    (the larger of the two sides; at least one sample)."""
    per_sample = geom.x_channels * math.prod(geom.kernel) * math.prod(geom.y_shape) * itemsize
    side = max(geom.x_channels * math.prod(geom.x_shape), geom.y_channels * math.prod(geom.y_shape))
    budget = SCRATCH_FACTOR * batch * side * itemsize
    return int(max(1, min(batch, budget // max(per_sample, 1))))


def _chunks(geom, n: int, itemsize: int):
    nb = chunk_size(geom, n, itemsize)
    for b0 in range(0, n, nb):
        yield b0, min(n, b0 + nb), nb


def _cols(geom, cb: int, M: int, dtype) -> tuple[np.ndarray, np.ndarray]:
    """The workspace for ``cb`` samples: as the ``(Cx*K, cb*M)`` GEMM matrix and as the kernels'
    8-D view ``(Cx, k0, k1, k2, cb, m0, m1, m2)`` of the same memory."""
    flat = workspace((geom.x_channels * math.prod(geom.kernel), cb * M), dtype)
    return flat, flat.reshape(geom.x_channels, *pad3(geom.kernel, 1), cb, *pad3(geom.y_shape, 1))


def _im2col_chunks(x: np.ndarray, geom):
    """Per batch chunk: ``(b0, b1, cols)`` with ``cols`` the ``(Cx*K, (b1-b0)*M)`` im2col of ``x[b0:b1]``."""
    M = math.prod(geom.y_shape)
    for b0, b1, _ in _chunks(geom, x.shape[0], x.itemsize):
        flat, view = _cols(geom, b1 - b0, M, x.dtype)
        im2col_into(as3(x, geom.nd), view, b0, geom)
        yield b0, b1, flat


def _one_gemm_per_chunk(cb: int, M: int) -> bool:
    """A chunk of ``cb`` samples of ``M`` cells runs as one GEMM (small images, after one copy) rather
    than one GEMM per sample: the rule the cost model (:func:`core_gemm_work`) counts calls by."""
    return cb > 1 and M < 1024


def _y_side(y, b0: int, b1: int, M: int):
    """``y[b0:b1]`` as one ``(C, cb*M)`` matrix when images are small (one copy, then one GEMM),
    else None (the caller runs one GEMM per sample on ``y`` itself)."""
    cb = b1 - b0
    if _one_gemm_per_chunk(cb, M):
        return np.ascontiguousarray(y[b0:b1].reshape(cb, y.shape[1], M).transpose(1, 0, 2))
    return None


#: the overlap-add col2im (:func:`_overlap_add`) serves 1-D layers whose hop is at least this long
OLA_MIN_STRIDE = 16
#: its seconds per column-buffer element (NumPy adds of whole hops: 47 us for L10's 230K, against
#: 180 us through the general col2im, which writes each phase's cells a hop apart)
OLA_COLS_S = 0.2e-9


#: a strided im2col's element (gathered every s-th cell) against a stride-1 one: 64^3 k5 s2 single
#: channel, 3.6 ms on two threads for 4.1M elements and a 0.2 ms GEMM, 1.7 ns against 0.55
IM2COL_STRIDED = 3.0


def overlap_add(geom) -> bool:
    """1-D, dilation 1, a kernel at least one hop long and a long hop (the inverse STFT: 1024 taps,
    hop 256): the columns are computed transposed (a row of taps per input position) and each row is
    added into the output as ``ceil(k / s)`` contiguous hops."""
    return (geom.nd == 1 and geom.dilation[0] == 1 and geom.stride[0] >= OLA_MIN_STRIDE
            and geom.kernel[0] >= geom.stride[0])


def _overlap_add(y: np.ndarray, w: np.ndarray, geom, out: np.ndarray) -> np.ndarray:
    """``conv_transpose`` as ``cols^T = y^T W`` per sample and group (a row of ``C_x * k`` per input
    position), then the rows added into the output hop by hop: for the taps ``[m s, (m + 1) s)``,
    the ``T`` rows land on hops ``m .. m + T - 1``, one NumPy add over all of them per ``m``."""
    n, g, s, K, T = y.shape[0], geom.groups, geom.stride[0], geom.kernel[0], geom.y_shape[0]
    cyg, cxg, cx = geom.y_channels // g, geom.x_channels // g, geom.x_channels
    q, lo, X = -(-K // s), geom.pad_lo[0], geom.x_shape[0]
    for b0, b1, _ in _chunks(geom, n, y.itemsize):
        cb = b1 - b0
        cols = workspace((cb, T, cx, K), y.dtype)
        for b in range(b0, b1):
            for gi in range(g):
                gemm_cm(False, True, cxg * K, T, cyg, w, gi * cyg * cxg * K, cxg * K,
                        y, (b * geom.y_channels + gi * cyg) * T, T, cols, ((b - b0) * T * cx + gi * cxg) * K, cx * K)
        hops = np.empty((cb, cx, T + q - 1, s), y.dtype)
        hops[:, :, T:] = 0
        hops[:, :, :T] = cols[..., :s].transpose(0, 2, 1, 3)
        for m in range(1, q):
            wm = min(s, K - m * s)
            hops[:, :, m:m + T, :wm] += cols[..., m * s:m * s + wm].transpose(0, 2, 1, 3)
        full = hops.reshape(cb, cx, -1)  # the uncropped output (and up to s - 1 zeros past it)
        a, e = max(0, -lo), min(X, full.shape[2] - lo)  # output cells that the full extent covers
        dst = out[b0:b1]
        dst[..., :a] = 0
        dst[..., max(a, e):] = 0
        if e > a:
            dst[..., a:e] = full[..., a + lo:e + lo]
    return out


def _cols_weight(w: np.ndarray, geom):
    """The weight as :func:`~tconv.core.algorithms.native.cols_product` reads it, where the compiled
    core computes ``cols`` (its implicit GEMM reads each sample's ``y`` in place: no copy of ``y``
    into one matrix), else None."""
    if not (_native.available() and w.dtype in (np.float32, np.float64) and geom.nd <= 8):
        return None
    return cols_weight(w, geom)


def fast_conv_transpose(y: np.ndarray, w: np.ndarray, geom) -> np.ndarray:
    """``cols = W^T y``, then the fused col2im, chunked over the batch to bound the scratch memory:
    on the compiled core :func:`~tconv.core.algorithms.native.cols_product` (the weight re-laid out
    once per call, O(weights)); without it BLAS, the weight read transposed in place."""
    n, g, nd = y.shape[0], geom.groups, geom.nd
    cyg, cxg = geom.y_channels // g, geom.x_channels // g
    K, M = math.prod(geom.kernel), math.prod(geom.y_shape)
    y, w = np.ascontiguousarray(y), np.ascontiguousarray(w)
    out = output_empty((n, geom.x_channels, *geom.x_shape), y.dtype)
    if n == 0:
        return out
    if overlap_add(geom):
        return _overlap_add(y, w, geom, out)
    w_cols = _cols_weight(w, geom)
    for b0, b1, _ in _chunks(geom, n, y.itemsize):
        ld = (b1 - b0) * M
        cols, view = _cols(geom, b1 - b0, M, y.dtype)
        if w_cols is not None:  # the compiled core: one implicit GEMM per group, y read in place
            cols_product(y[b0:b1], w_cols, geom, cols)
            col2im_into(view, as3(out, nd), b0, geom)
            continue
        yt = _y_side(y, b0, b1, M)
        for gi in range(g):
            if yt is not None:
                gemm_cm(False, True, ld, cxg * K, cyg, yt, gi * cyg * ld, ld, w, gi * cyg * cxg * K, cxg * K,
                        cols, gi * cxg * K * ld, ld)
            else:
                for b in range(b0, b1):
                    gemm_cm(False, True, M, cxg * K, cyg, y, (b * geom.y_channels + gi * cyg) * M, M,
                            w, gi * cyg * cxg * K, cxg * K, cols, gi * cxg * K * ld + (b - b0) * M, ld)
        col2im_into(view, as3(out, nd), b0, geom)
    return out


def fast_conv(x: np.ndarray, w: np.ndarray, geom) -> np.ndarray:
    """The im2col into the workspace, then one BLAS GEMM per sample and group writing
    straight into the output (no transpose afterwards)."""
    n, g = x.shape[0], geom.groups
    cyg, cxg = geom.y_channels // g, geom.x_channels // g
    K, M = math.prod(geom.kernel), math.prod(geom.y_shape)
    x, w = np.ascontiguousarray(x), np.ascontiguousarray(w)
    out = output_empty((n, geom.y_channels, *geom.y_shape), x.dtype)
    if n == 0:
        return out
    for b0, b1, flat in _im2col_chunks(x, geom):
        ld = (b1 - b0) * M
        for b in range(b0, b1):
            for gi in range(g):
                gemm_cm(False, False, M, cyg, cxg * K, flat, gi * cxg * K * ld + (b - b0) * M, ld,
                        w, gi * cyg * cxg * K, cxg * K, out, (b * geom.y_channels + gi * cyg) * M, M)
    return out


def fast_weight_gradient(y_side: np.ndarray, x_side: np.ndarray, geom) -> np.ndarray:
    """``dW[cy, cx, t] = sum_{n,j} Y[n, cy, j] X[n, cx, j*s + t*d - lo]``: im2col of the
    x-side array, then GEMMs accumulating over the batch (``beta = 1``)."""
    n, g = y_side.shape[0], geom.groups
    cyg, cxg = geom.y_channels // g, geom.x_channels // g
    K, M = math.prod(geom.kernel), math.prod(geom.y_shape)
    dtype = np.result_type(y_side, x_side)
    y, x = np.ascontiguousarray(y_side, dtype=dtype), np.ascontiguousarray(x_side, dtype=dtype)
    gw = np.zeros(geom.weight_shape, dtype=dtype)
    if n == 0:
        return gw
    for b0, b1, flat in _im2col_chunks(x, geom):
        ld = (b1 - b0) * M
        yt = _y_side(y, b0, b1, M)
        for gi in range(g):
            if yt is not None:
                gemm_cm(True, False, cxg * K, cyg, ld, flat, gi * cxg * K * ld, ld, yt, gi * cyg * ld, ld,
                        gw, gi * cyg * cxg * K, cxg * K, beta=1.0)
            else:
                for b in range(b0, b1):
                    gemm_cm(True, False, cxg * K, cyg, M, flat, gi * cxg * K * ld + (b - b0) * M, ld,
                            y, (b * geom.y_channels + gi * cyg) * M, M, gw, gi * cyg * cxg * K, cxg * K, beta=1.0)
    return gw


def _fast(geom, dtype) -> bool:
    return geom.nd <= 3 and np.dtype(dtype) in (np.float32, np.float64)


def gemm_conv_transpose(y: np.ndarray, w: np.ndarray, geom) -> np.ndarray:
    """W^T y (one GEMM per sample and group), then col2im."""
    if _fast(geom, y.dtype):
        return fast_conv_transpose(y, w, geom)
    n, g = y.shape[0], geom.groups
    cyg, cxg = geom.y_channels // g, geom.x_channels // g
    k, m = math.prod(geom.kernel), math.prod(geom.y_shape)
    wt = np.swapaxes(w.reshape(g, cyg, cxg * k), 1, 2)  # (g, cxg*k, cyg)
    cols = np.matmul(wt, y.reshape(n, g, cyg, m))  # (n, g, cxg*k, m)
    cols = cols.reshape(n, geom.x_channels, *geom.kernel, *geom.y_shape)
    out = np.zeros((n, geom.x_channels, *geom.x_shape), dtype=cols.dtype)
    return col2im(cols, geom, out)

def gemm_conv(x: np.ndarray, w: np.ndarray, geom) -> np.ndarray:
    """im2col, then W cols (one GEMM per sample and group)."""
    if _fast(geom, x.dtype):
        return fast_conv(x, w, geom)
    n, g = x.shape[0], geom.groups
    cyg, cxg = geom.y_channels // g, geom.x_channels // g
    k, m = math.prod(geom.kernel), math.prod(geom.y_shape)
    cols = im2col(x, geom).reshape(n, g, cxg * k, m)
    y = np.matmul(w.reshape(g, cyg, cxg * k), cols)
    return y.reshape(n, geom.y_channels, *geom.y_shape)


def numpy_weight_gradient(y_side: np.ndarray, x_side: np.ndarray, geom) -> np.ndarray:
    """Any number of axes and any float dtype: one GEMM per kernel tap over its window."""
    n, g = y_side.shape[0], geom.groups
    cyg, cxg = geom.y_channels // g, geom.x_channels // g
    gw = np.zeros((g, cyg, cxg, *geom.kernel), dtype=np.result_type(y_side, x_side))
    for tap, ysl, xsl in tap_windows(geom):
        a = y_side[(ALL, ALL, *ysl)].reshape(n, g, cyg, -1).transpose(1, 2, 0, 3).reshape(g, cyg, -1)
        b = x_side[(ALL, ALL, *xsl)].reshape(n, g, cxg, -1).transpose(1, 0, 3, 2).reshape(g, -1, cxg)
        gw[(ALL, ALL, ALL, *tap)] = np.matmul(a, b)
    return gw.reshape(geom.weight_shape)


#: the cost constants on the compiled core (its GEMM, its im2col/col2im) per ISA and operation
#: (col2im and im2col are different passes), float32, fitted to single-thread times like ``native``'s
#: (``benchmarks/calibrate_native.py --method gemm``, 2026-12-01, 2-core Xeon with AVX-512, each ISA
#: forced): the GEMM's FLOP/s (the rate the fit assumed), seconds per column-buffer element, per output
#: element, per GEMM call and per call
CORE_COSTS = {
    ("avx512", "conv_transpose"): dict(rate=1.53e11, cols=0.14e-9, side=2.2e-9, gemm=36e-6, call=20e-6),
    ("avx512", "conv"): dict(rate=1.53e11, cols=0.55e-9, side=0.16e-9, gemm=16e-6, call=48e-6),
    ("avx2", "conv_transpose"): dict(rate=9.3e10, cols=0.0, side=1.9e-9, gemm=44e-6, call=11e-6),
    ("avx2", "conv"): dict(rate=9.3e10, cols=0.49e-9, side=0.0, gemm=15e-6, call=48e-6),
    ("generic", "conv_transpose"): dict(rate=2.85e10, cols=0.05e-9, side=2.2e-9, gemm=36e-6, call=20e-6),
    ("generic", "conv"): dict(rate=2.85e10, cols=0.76e-9, side=0.0, gemm=15e-6, call=40e-6),
}


def core_gemm_work(geom, batch: int, op: str) -> tuple[float, int, int, int, int]:
    """``(register-tile flops, column-buffer elements, output elements, GEMM calls, micro-kernel
    calls)`` of ``gemm`` on
    the compiled core: its products are ``(C_out/g * prod(k)) x positions x C_in/g`` (transpose)
    or ``C_out/g x positions x (C_in/g * prod(k))`` (conv), per group and batch chunk."""
    g, K, M = geom.groups, math.prod(geom.kernel), math.prod(geom.y_shape)
    cxg, cyg = geom.x_channels // g, geom.y_channels // g
    kern = _native.info()["kernels"]["float32"]
    mr, nr = kern["mr"], kern["nr"]
    nb = chunk_size(geom, batch, 4)
    chunks = -(-batch // nb)
    # conv_transpose's product is one implicit GEMM per group and chunk (cols_product); conv's
    # one GEMM per sample, or per chunk after one copy of small images (_one_gemm_per_chunk)
    per_sample = op != "conv_transpose" and not _one_gemm_per_chunk(nb, M)
    calls = g * (batch if per_sample else chunks)
    cols = (1 if per_sample else nb) * M
    if op == "conv_transpose":
        rows, depth, side = cxg * K, cyg, batch * geom.x_channels * math.prod(geom.x_shape)
    elif op == "conv":
        rows, depth, side = cyg, cxg * K, batch * geom.y_channels * M
    else:
        rows, depth, side = cxg * K, batch * M, geom.y_channels * cxg * K
        cols, calls = cyg, g
    per = -(-rows // mr) * -(-cols // nr) * (calls if op != "weight_grad" else g)
    tiles = 2.0 * per * mr * nr * depth
    return tiles, batch * geom.x_channels * K * M, side, calls, per * -(-depth // kern["kc"])


def gemm_cost(geom, batch: int, itemsize: int, op: str) -> float:
    """GEMM time at the machine's rate (thin GEMMs far below it) + the im2col/col2im pass + call overhead."""
    if _native.available() and geom.nd <= 3:
        from .native import native_tile_seconds, thread_speedup

        isa = _native.get_isa() if (_native.get_isa(), "conv") in CORE_COSTS else "generic"
        c = CORE_COSTS[(isa, "conv_transpose" if op == "conv_transpose" else "conv")]  # weight_grad: an im2col
        tiles, cols, side, calls, calls_tiles = core_gemm_work(geom, batch, op)
        if op == "conv_transpose" and overlap_add(geom):
            passes = cols * OLA_COLS_S
        else:  # a strided im2col gathers every s-th cell
            strided = IM2COL_STRIDED if op != "conv_transpose" and max(geom.stride) > 1 else 1.0
            passes = cols * c["cols"] * strided + side * c["side"]
        par = tiles / (c["rate"] * 4 / itemsize) + passes * itemsize / 4
        par += calls_tiles * native_tile_seconds()  # the micro-kernel's calls (thin GEMMs: a depth of 1)
        return par / thread_speedup(seconds=par) + calls * c["gemm"] + c["call"]
    flops = 2 * geom.macs(batch)
    cols = batch * geom.x_channels * math.prod(geom.kernel) * math.prod(geom.y_shape) * itemsize
    side = batch * (geom.x_channels * math.prod(geom.x_shape) if op == "conv_transpose"
                    else geom.y_channels * math.prod(geom.y_shape)) * itemsize
    cxk = geom.x_channels // geom.groups * math.prod(geom.kernel)
    small = min(cxk, geom.y_channels // geom.groups)
    efficiency = min(1.0, max(0.05, small / 64))
    calls = batch * geom.groups
    rate = COL2IM_BYTES_PER_S if _native.available() and geom.nd <= 3 else NUMPY_COL2IM_BYTES_PER_S
    return flops / (blas_rates()[itemsize] * efficiency) + (cols + side) / rate + calls * GEMM_CALL_S + GEMM_FIXED_S


@register
class Gemm(Algorithm):
    name = "gemm"

    def scratch_bytes(self, geom, batch, itemsize, op):
        nb = chunk_size(geom, batch, itemsize)
        cols = nb * geom.x_channels * math.prod(geom.kernel) * math.prod(geom.y_shape) * itemsize
        if op == "conv_transpose" and overlap_add(geom):  # the hops, about one output chunk
            s = geom.stride[0]
            cols += nb * geom.x_channels * (geom.y_shape[0] + -(-geom.kernel[0] // s) - 1) * s * itemsize
        return cols

    def cost(self, geom, batch, itemsize, op):
        return gemm_cost(geom, batch, itemsize, op)

    # each call is several GEMMs with serial im2col/col2im between them: the pool is held for the call
    def conv_transpose(self, y, w, geom):
        with _native.hold():
            return gemm_conv_transpose(y, w, geom)

    def conv(self, x, w, geom):
        with _native.hold():
            return gemm_conv(x, w, geom)

    def weight_grad(self, y_side, x_side, geom):
        with _native.hold():
            if _fast(geom, y_side.dtype):
                return fast_weight_gradient(y_side, x_side, geom)
            return numpy_weight_gradient(y_side, x_side, geom)
