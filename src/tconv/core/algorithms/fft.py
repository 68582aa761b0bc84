"""``fft``: the three operations as products of real FFTs (``scipy.fft.rfftn``), tile by tile.

Per axis, with ``D = d*(k-1) + 1`` the dilated kernel's extent (the kernel with ``d - 1`` zeros
inserted between its taps) and ``xp`` the input padded by ``pad_lo`` zeros in front (cropped or
zero-extended at the end):

* ``conv``: ``y[j] = z[j*s]`` with ``z[u] = sum_t wd[t] xp[u + t]`` the full correlation, computed
  as ``irfft(conj(W) X)``: the strided ``conv`` is the full correlation sampled every ``s``
  (the cost model counts the ``s``-fold waste), or, where the model finds it cheaper, the
  polyphase split (:class:`Polyphase`: the ``prod(s)`` phases of input and kernel as channels of a
  stride-1 problem, summed in the frequency domain, whose transforms are ``s`` times shorter);
* ``conv_transpose``: ``y`` with ``s - 1`` zeros inserted, convolved with ``wd`` (``irfft(W Y)``),
  cropped by ``pad_lo`` (the positions past the uncropped extent are zeros);
* ``weight_grad``: ``dW[t] = c[t*d]`` with ``c[v] = sum_u y_up[u] xp[u + v]``, summed over the batch
  and the tiles in the frequency domain (``conj(Y) X``), one inverse FFT per weight entry.

A transform length ``N >= (B - 1)*s + D`` per axis leaves the kept outputs of the circular
products free of wrap-around (overlap-save for ``conv`` and ``weight_grad``, overlap-add for
``conv_transpose``), where ``B`` is the tile's count of y-side cells. The image is cut into
tiles of ``B`` cells per axis when that is cheaper than one transform of the whole image (the
``oaconvolve`` idea: a large image against a small kernel); a tile's kernel transform is
computed once per call, or once per operator (:func:`kernel_spectrum` with a ``cache``).

With two or more tiles and enough work, the tiles run on a small thread pool of the process (one task
per tile, each transform on one worker: SciPy's own ``workers=`` split costs more than it gains below
about 2M points here); the caller adds the results in tile order, so the sums are the same on any
number of threads, and a forked child makes its own pool.

Channels are mixed in the frequency domain: per frequency one small matrix product
(``(C_out, C_in)`` by ``(C_in, batch)`` per group), as loops of vector multiply-adds for few
channels and as one frequency-major ``matmul`` otherwise. float32 stays float32
(``complex64`` spectra), float64 is float64. Non-finite data: one FFT would spread a NaN or
Inf over the whole output, unlike ``direct`` or PyTorch, so a call whose input or weight
holds one runs ``direct`` (``gemm`` beyond 3 axes) instead, checked with one pass over each
array (:func:`all_finite`).

>>> import numpy as np
>>> from tconv.core.geometry import conv_geometry
>>> g = conv_geometry((1, 1, 3), (6,), padding=1)
>>> x = np.arange(6.0).reshape(1, 1, 6)
>>> np.round(Fft().conv(x, np.ones((1, 1, 3)), g), 12).tolist()
[[[1.0, 3.0, 6.0, 9.0, 12.0, 9.0]]]
"""

from __future__ import annotations

import collections
import itertools
import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import scipy.fft

from ..geometry import ConvGeometry
from ..machine import cpu_count, threads_for
from ._base import ALGORITHMS, SCRATCH_FACTOR, SMALL_SCRATCH_BYTES, Algorithm, register

__all__ = ["Fft", "FftPlan", "fft_plan", "kernel_spectrum", "all_finite", "fft_cost"]

# cost model (measured on this project's 2-core VM with ``scipy.fft.rfftn`` alone, sizes 4096, 256^2,
# 1024^2, 2048^2, 64^3, 128^3, best of 5; see benchmarks/planner_fft.py): one real FFT of n points
# costs FFT_S_PER_POINT_LOG * n * log2(n) seconds on one thread (0.17-0.28 ns float64, 0.10-0.19 ns
# float32), a second worker adds about PARALLEL_GAIN of a thread; one complex multiply-add of the
# channel mixing costs MIX_S per element (out of cache); the real buffers (zero-fill, copy in,
# inverse output, copy out) BUFFER_S_PER_BYTE
FFT_S_PER_POINT_LOG = {8: 2.25e-10, 4: 1.35e-10}
PARALLEL_GAIN = 0.3
MIX_S = {8: 2.5e-9, 4: 1.2e-9}
BUFFER_S_PER_BYTE = 1.2e-10
#: a transform whose real and complex buffers exceed CACHE_BYTES runs from memory: OUT_OF_CACHE times
#: slower per point (measured: one 540^2 transform against 5x5 tiles of 128^2, 1.7-2.5x)
CACHE_BYTES = 2 << 20
OUT_OF_CACHE = 1.8
#: a scipy.fft call over fewer points than this runs on one thread: measured (interleaved, 2-core VM, load
#: about 1) a second worker made 128^2 .. 512^2 and 128x1024 transforms 0.3-0.9x as fast, 1024^2 and
#: 64^3 0.98-1.07x, and paid off from 144^3 (1.56x) and 2048^2 (1.07-1.41x); the adjoint row of
#: benchmarks/inverse.py (11 tiles of 128x1024) took 27 [20-30] ms on two workers and 17 [16-18] ms on one
PARALLEL_POINTS = 1 << 21
#: tiles run in parallel, one tile per task on a small thread pool (each transform on one worker), when
#: a call has at least two tiles and this many transform points in all; a second thread gives the tiles
#: TILE_PARALLEL_GAIN of a thread more: measured on the fft rows of benchmarks/inverse.py (interleaved
#: with the tiles run one after the other, the shared 2-core VM at a load of about 1) 1.3-1.5x in one run,
#: 0.9-1.35x in another; CPU time +5-10%, so at a load of 4-5 the tile threads cost 5-10%
TILE_PARALLEL_POINTS = 1 << 18
TILE_PARALLEL_GAIN = 0.4
#: the fixed cost of a call (the finiteness passes, the plan lookup, buffers, the kernel transform's
#: call): measured small calls (0.1-0.3 ms) ran 1.1-2.2x over the estimate with 30 us
CALL_S = 6e-5
TILE_CALL_S = 2e-5
#: the polyphase split's strided transposes (zero-fill, the phase split, the merge) cost about this per
#: element (measured: 1024^2 float32 15x15 stride 2, 2-3 ms more than the plain copies); it is used
#: only when estimated below POLYPHASE_MARGIN of the full correlation (measured gains 10-60%, losses
#: up to 1.5x near the break-even point on a loaded 2-core machine)
PHASE_SPLIT_S = 2e-9
POLYPHASE_MARGIN = 0.8
#: candidate tile transform lengths per axis (besides one transform of the whole axis)
TILE_SIZES = (64, 128, 256, 512, 1024, 2048)


def fast_len(n: int) -> int:
    """The next length ``>= n`` that SciPy's real FFT computes fast (``next_fast_len(n, real=True)``)."""
    return scipy.fft.next_fast_len(int(n), real=True)


@dataclass(frozen=True)
class FftPlan:
    """Per axis: the transform length ``sizes``, the y-side cells per tile ``blocks`` and the
    number of tiles ``tiles`` (one tile: the whole axis in one transform)."""

    sizes: tuple[int, ...]
    blocks: tuple[int, ...]
    tiles: tuple[int, ...]

    def __str__(self) -> str:
        n = "x".join(map(str, self.sizes))
        t = math.prod(self.tiles)
        return f"FFT {n}" + (f", {'x'.join(map(str, self.tiles))} tiles of {'x'.join(map(str, self.blocks))}"
                             if t > 1 else "")


def _extent(geom: ConvGeometry) -> tuple[int, ...]:
    return tuple(d * (k - 1) + 1 for k, d in zip(geom.kernel, geom.dilation))


def _axis_options(m: int, s: int, ext: int, allow_tiles: bool):
    """``(N, B, tiles)`` choices on one axis of ``m`` y-side cells: the whole axis in one transform, and
    even tilings near each length of TILE_SIZES. A length ``n`` holds ``b = (n - ext) // s + 1`` cells,
    so at least ``t = ceil(m / b)`` tiles. Offered: every tile count in ``[t, 2t]`` that divides ``m``
    (``m / count`` cells each, at the shorter fast length that needs), so that the tiles divide the
    axis exactly (a Dask block is such an axis: its tiles divide the block, and every block of one
    size gets the same tiles); only when none does, ``t`` tiles evened out (``ceil(m / t)`` cells)."""
    whole = fast_len((m - 1) * s + ext)
    out = {(whole, m, 1)}
    if allow_tiles:
        for n in TILE_SIZES:
            b = (n - ext) // s + 1
            if n >= whole or b < 1 or n < 2 * ext:
                continue
            t0 = -(-m // b)
            for t in [t for t in range(t0, 2 * t0 + 1) if m % t == 0] or [t0]:
                bt = -(-m // t)
                nt = fast_len((bt - 1) * s + ext)
                if nt < whole:
                    out.add((nt, bt, -(-m // bt)))
    return sorted(out)


def _transforms(geom: ConvGeometry, batch: int, op: str) -> tuple[int, int]:
    """Forward and inverse data transforms per tile (kernel transforms counted apart)."""
    cx, cy = geom.x_channels, geom.y_channels
    if op == "conv":
        return batch * cx, batch * cy
    if op == "conv_transpose":
        return batch * cy, batch * cx
    return batch * (cx + cy), 0


def _plan_cost(geom, batch, itemsize, op, sizes, tiles) -> float:
    """Seconds of ``op`` with transforms of ``sizes`` over ``tiles`` (see the constants above)."""
    npts, nt = math.prod(sizes), math.prod(tiles)
    half = npts // sizes[-1] * (sizes[-1] // 2 + 1)  # complex points of one real transform
    fwd, inv = _transforms(geom, batch, op)
    tile_threads = _tile_threads(nt, npts * (fwd + inv))
    threads = 1 if tile_threads > 1 else _workers(npts * (fwd + inv))
    rate = FFT_S_PER_POINT_LOG[itemsize] / (1 + PARALLEL_GAIN * (threads - 1))
    one = npts * math.log2(max(npts, 2)) * rate  # one transform
    if 2 * npts * itemsize > CACHE_BYTES:
        one *= OUT_OF_CACHE
    cxg, cyg = geom.x_channels // geom.groups, geom.y_channels // geom.groups
    macs = half * geom.groups * cxg * cyg * batch
    per_tile = ((fwd + inv) * (one + 4 * npts * itemsize * BUFFER_S_PER_BYTE) + macs * MIX_S[itemsize]
                + TILE_CALL_S)
    kernel = geom.y_channels * cxg * one  # the kernel's transforms (weight_grad: the inverse ones)
    return nt * per_tile / (1 + TILE_PARALLEL_GAIN * (tile_threads - 1)) + kernel + CALL_S


def fft_plan(geom: ConvGeometry, batch: int, itemsize: int, op: str) -> FftPlan:
    """The cheapest tiling (by :func:`fft_cost`'s model) of ``op`` on ``geom`` among those whose
    scratch (:func:`plan_scratch`) fits the planner's budget (``SCRATCH_FACTOR`` times the output,
    or ``SMALL_SCRATCH_BYTES``); the cheapest of all when none fits.  Cached per thread budget too
    (the tiles' threads are part of the cost)."""
    return _fft_plan(geom, batch, itemsize, op, threads_for(math.inf))


@lru_cache(maxsize=512)
def _fft_plan(geom: ConvGeometry, batch: int, itemsize: int, op: str, threads: int) -> FftPlan:
    ext = _extent(geom)
    opts = [_axis_options(m, s, e, geom.nd <= 3) for m, s, e in zip(geom.y_shape, geom.stride, ext)]
    budget = max(SCRATCH_FACTOR * _out_bytes(geom, batch, itemsize, op), SMALL_SCRATCH_BYTES)
    best = None
    for combo in itertools.product(*opts):
        sizes = tuple(c[0] for c in combo)
        tiles = tuple(c[2] for c in combo)
        t = _plan_cost(geom, batch, itemsize, op, sizes, tiles)
        key = (plan_scratch(geom, batch, itemsize, op, sizes, tiles) > budget, t)
        if best is None or key < best[0]:
            best = (key, FftPlan(sizes, tuple(c[1] for c in combo), tiles))
    return best[1]


def plan_scratch(geom: ConvGeometry, batch: int, itemsize: int, op: str, sizes, tiles) -> int:
    """Bytes of scratch with transforms of ``sizes`` over ``tiles``: the buffers of one batch chunk per
    tile in flight (:func:`in_flight`: an upper bound, the tile threads overlap more or less) and the
    kernel's spectrum."""
    nb = _chunk(geom, batch, itemsize, op, sizes)
    npts = math.prod(sizes)
    kern = geom.y_channels * (geom.x_channels // geom.groups) * npts // sizes[-1] * (sizes[-1] // 2 + 1) * 2 * itemsize
    fwd, inv = _transforms(geom, nb, op)
    per_tile = nb * _scratch_per_sample(geom, itemsize, op, sizes)
    return in_flight(_tile_threads(math.prod(tiles), npts * (fwd + inv))) * per_tile + kern


def fft_cost(geom: ConvGeometry, batch: int, itemsize: int, op: str) -> float:
    """Estimated seconds of ``op`` with the tiling :func:`fft_plan` chooses."""
    p = fft_plan(geom, batch, itemsize, op)
    return _plan_cost(geom, batch, itemsize, op, p.sizes, p.tiles)


def _workers(points: int) -> int:
    """``workers=`` for one ``scipy.fft`` call over ``points`` real points (all its transforms):
    one thread below :data:`PARALLEL_POINTS`, else the thread rule's count."""
    return threads_for(points * 8) if points >= PARALLEL_POINTS else 1


def _tile_threads(tiles: int, points_per_tile: int) -> int:
    """Threads running the tiles of one call (1: in the caller, one after the other)."""
    if tiles < 2 or tiles * points_per_tile < TILE_PARALLEL_POINTS:
        return 1
    return max(1, min(tiles, threads_for(tiles * points_per_tile * 8)))


_POOL: list = [None, None]  # (pid, executor): a forked child makes its own
_POOL_LOCK = threading.Lock()


def _executor() -> ThreadPoolExecutor:
    with _POOL_LOCK:
        if _POOL[0] != os.getpid():
            _POOL[0], _POOL[1] = os.getpid(), ThreadPoolExecutor(max_workers=cpu_count(),
                                                                 thread_name_prefix="tconv-fft")
        return _POOL[1]


def tile_map(fn, items, threads: int):
    """``fn(item)`` for each of ``items``, yielded in order; with ``threads > 1`` computed on a thread
    pool (scipy.fft and NumPy release the GIL), at most :func:`in_flight` at a time, so a busy core
    only slows the tiles it holds (the others go to the free one) and memory stays a few tiles' worth."""
    items = list(items)
    if threads <= 1 or len(items) < 2:
        for item in items:
            yield fn(item)
        return
    ex = _executor()
    todo = iter(items)
    pending = collections.deque(ex.submit(fn, item) for item in itertools.islice(todo, in_flight(threads)))
    while pending:
        result = pending.popleft().result()
        item = next(todo, _END)
        if item is not _END:
            pending.append(ex.submit(fn, item))
        yield result


_END = object()


def in_flight(threads: int) -> int:
    """Tiles whose buffers exist at once with ``threads`` tile threads (one each, and one done, waiting)."""
    return 1 if threads <= 1 else threads + 1


def all_finite(a: np.ndarray) -> bool:
    """Whether every entry of ``a`` is finite: one sum (a NaN or an Inf makes it non-finite; an
    overflow of a finite array reads as non-finite too, which only sends the call to ``direct``).

    >>> all_finite(np.array([1.0, np.inf])), all_finite(np.ones(3))
    (False, True)
    """
    with np.errstate(all="ignore"):
        return bool(np.isfinite(np.add.reduce(a, axis=None, dtype=a.dtype)))


def kernel_spectrum(w: np.ndarray, geom: ConvGeometry, sizes: tuple[int, ...], cache: dict | None = None,
                    conj: bool = False):
    """``rfftn`` of the dilated weight at ``sizes`` (``conj``: its complex conjugate, the correlation's),
    as ``(groups, cy/g, cx/g, F)`` (``F`` the flat frequency count); kept in ``cache`` (a dict owned by
    whoever owns ``w``) under the sizes, dtype and ``conj`` when given.

    >>> from tconv.core.geometry import conv_geometry
    >>> kernel_spectrum(np.ones((1, 1, 2)), conv_geometry((1, 1, 2), (3,)), (4,)).round(12).tolist()
    [[[[(2+0j), (1-1j), 0j]]]]
    """
    key = (sizes, w.shape, w.dtype.str, conj, geom.dilation, geom.groups)
    hit = None if cache is None else cache.get(key)  # one lookup: another thread may empty the cache
    if hit is not None:
        return hit
    if conj:
        spec = np.conj(kernel_spectrum(w, geom, sizes, cache))
        if cache is not None:
            cache[key] = spec
        return spec
    nd, g = geom.nd, geom.groups
    if any(d > 1 for d in geom.dilation):
        wd = np.zeros((*w.shape[:2], *_extent(geom)), dtype=w.dtype)
        wd[(slice(None), slice(None), *(slice(None, None, d) for d in geom.dilation))] = w
    else:
        wd = w
    axes = tuple(range(2, 2 + nd))
    spec = scipy.fft.rfftn(wd, s=sizes, axes=axes, workers=_workers(math.prod(sizes) * w.shape[0] * w.shape[1]))
    spec = spec.reshape(g, w.shape[0] // g, w.shape[1], -1)
    if cache is not None:
        cache[key] = spec
    return spec


def _contract(kern: np.ndarray, data: np.ndarray) -> np.ndarray:
    """``out[n, g, o, f] = sum_c K[g, o, c, f] * data[n, g, c, f]``."""
    g, o, c, f = kern.shape
    n = data.shape[0]
    if o * c <= 16:
        out = np.empty((n, g, o, f), dtype=np.result_type(kern, data))
        tmp = np.empty((n, g, f), dtype=out.dtype) if c > 1 else None
        for oi in range(o):
            for ci in range(c):
                k = kern[:, oi, ci]
                if ci == 0:
                    np.multiply(k, data[:, :, 0], out=out[:, :, oi])
                else:
                    np.multiply(k, data[:, :, ci], out=tmp)
                    out[:, :, oi] += tmp
        return out
    k = kern
    # frequency-major: (g, f, o, c) @ (g, f, c, n) -> (g, f, o, n)
    prod = np.matmul(np.ascontiguousarray(k.transpose(0, 3, 1, 2)), np.ascontiguousarray(data.transpose(1, 3, 2, 0)))
    return prod.transpose(3, 0, 2, 1)


def _gram(ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """``G[g, o, c, f] = sum_n conj(ys[n, g, o, f]) * xs[n, g, c, f]``."""
    n, g, o, f = ys.shape
    c = xs.shape[2]
    if o * c <= 16 or n == 1:  # one outer product per sample, written in place (a sum over n of
        out = np.empty((g, o, c, f), dtype=np.result_type(ys, xs))  # temporaries ran 512^2 3x3 channels 2.8x slower)
        yc = np.conj(ys)
        np.multiply(yc[0, :, :, None, :], xs[0, :, None, :, :], out=out)
        tmp = np.empty_like(out) if n > 1 else None
        for i in range(1, n):
            np.multiply(yc[i, :, :, None, :], xs[i, :, None, :, :], out=tmp)
            out += tmp
        return out
    prod = np.matmul(np.ascontiguousarray(np.conj(ys).transpose(1, 3, 2, 0)), np.ascontiguousarray(xs.transpose(1, 3, 0, 2)))
    return prod.transpose(0, 2, 3, 1)


def _tile_ranges(p: FftPlan, y_shape):
    """Per tile: the y-side start and stop on every axis."""
    axes = [[(b0, min(m, b0 + b)) for b0 in range(0, m, b)] for m, b in zip(y_shape, p.blocks)]
    return itertools.product(*axes)


def _x_window(geom: ConvGeometry, tile, sizes):
    """For one tile: the x-side slices to read or write and where they sit in the tile's buffer.

    The tile's buffer position ``q`` holds x index ``j0*s - pad_lo + q`` (``0 <= q < N``);
    returns ``(x_slices, buf_slices)`` (None when the tile covers no x cell)."""
    xs, bs = [], []
    for (j0, j1), s, lo, n, e, size in zip(tile, geom.stride, geom.pad_lo, geom.x_shape, _extent(geom), sizes):
        start = j0 * s - lo
        stop = start + min(size, (j1 - 1 - j0) * s + e)
        a, b = max(start, 0), min(stop, n)
        if b <= a:
            return None
        xs.append(slice(a, b))
        bs.append(slice(a - start, b - start))
    return tuple(xs), tuple(bs)


ALL = slice(None)


def _chunk(geom, batch: int, itemsize: int, op: str, sizes) -> int:
    """Samples per batch chunk: the buffers and spectra of one chunk within the scratch budget."""
    per = _scratch_per_sample(geom, itemsize, op, sizes)
    out = _out_bytes(geom, batch, itemsize, op)
    budget = max(SCRATCH_FACTOR * out, SMALL_SCRATCH_BYTES)
    return int(max(1, min(batch, budget // max(per, 1))))


def _scratch_per_sample(geom, itemsize, op, sizes) -> int:
    npts = math.prod(sizes)
    cplx = npts // sizes[-1] * (sizes[-1] // 2 + 1) * 2 * itemsize
    cin, cout = (geom.x_channels, geom.y_channels) if op != "conv_transpose" else (geom.y_channels, geom.x_channels)
    # the frequency-major copies of the matmul path (more than 16 channel pairs per group)
    major = (geom.x_channels + geom.y_channels) * cplx if (geom.x_channels // geom.groups) * (
        geom.y_channels // geom.groups) > 16 else 0
    if op == "weight_grad":
        return (geom.x_channels + geom.y_channels) * (npts * itemsize + cplx) + major
    return cin * (npts * itemsize + cplx) + cout * (cplx + npts * itemsize) + major


def _out_bytes(geom, batch, itemsize, op) -> int:
    if op == "conv":
        return batch * geom.y_channels * math.prod(geom.y_shape) * itemsize
    if op == "conv_transpose":
        return batch * geom.x_channels * math.prod(geom.x_shape) * itemsize
    return math.prod(geom.weight_shape) * itemsize


def fft_conv(x: np.ndarray, w: np.ndarray, geom: ConvGeometry, cache: dict | None = None) -> np.ndarray:
    """``conv`` by overlap-save tiles (see the module docstring); tiles write disjoint outputs."""
    n, nd, g = x.shape[0], geom.nd, geom.groups
    p = fft_plan(geom, n, x.itemsize, "conv")
    sizes, axes = p.sizes, tuple(range(2, 2 + nd))
    kern = kernel_spectrum(w, geom, sizes, cache, conj=True)
    out = np.empty((n, geom.y_channels, *geom.y_shape), dtype=x.dtype)
    nb = _chunk(geom, n, x.itemsize, "conv", sizes)
    fwd, inv = _transforms(geom, nb, "conv")
    tt = _tile_threads(math.prod(p.tiles), math.prod(sizes) * (fwd + inv))
    wk = 1 if tt > 1 else _workers(math.prod(sizes) * nb * geom.x_channels)
    fshape = (*sizes[:-1], sizes[-1] // 2 + 1)

    def one(tile):
        win = _x_window(geom, tile, sizes)
        ysl = tuple(slice(0, j1 - j0) for j0, j1 in tile)
        osl = tuple(slice(j0, j1) for j0, j1 in tile)
        keep = tuple(slice(0, (j1 - j0 - 1) * s + 1, s) for (j0, j1), s in zip(tile, geom.stride))
        for b0 in range(0, n, nb):
            b1 = min(n, b0 + nb)
            if win is None:
                out[(slice(b0, b1), ALL, *osl)] = 0
                continue
            buf = np.zeros((b1 - b0, geom.x_channels, *sizes), dtype=x.dtype)
            buf[(ALL, ALL, *win[1])] = x[(slice(b0, b1), ALL, *win[0])]
            spec = scipy.fft.rfftn(buf, axes=axes, workers=wk).reshape(b1 - b0, g, geom.x_channels // g, -1)
            del buf
            mixed = _contract(kern, spec)
            del spec
            mixed = mixed.reshape(b1 - b0, geom.y_channels, *fshape)
            full = scipy.fft.irfftn(mixed, s=sizes, axes=axes, workers=wk, overwrite_x=True)
            out[(slice(b0, b1), ALL, *osl)] = full[(ALL, ALL, *keep)][(ALL, ALL, *ysl)]

    for _ in tile_map(one, _tile_ranges(p, geom.y_shape), tt):
        pass
    return out


def fft_conv_transpose(y: np.ndarray, w: np.ndarray, geom: ConvGeometry, cache: dict | None = None) -> np.ndarray:
    """``conv_transpose`` by overlap-add tiles (see the module docstring); the tiles' outputs are added
    in the caller, in tile order (the same sums whatever the threads)."""
    n, nd, g = y.shape[0], geom.nd, geom.groups
    p = fft_plan(geom, n, y.itemsize, "conv_transpose")
    sizes, axes = p.sizes, tuple(range(2, 2 + nd))
    kern = kernel_spectrum(w, geom, sizes, cache)
    kt = kern.transpose(0, 2, 1, 3)  # (g, cx/g, cy/g, F)
    out = np.zeros((n, geom.x_channels, *geom.x_shape), dtype=y.dtype)
    nb = _chunk(geom, n, y.itemsize, "conv_transpose", sizes)
    fwd, inv = _transforms(geom, nb, "conv_transpose")
    tt = _tile_threads(math.prod(p.tiles), math.prod(sizes) * (fwd + inv))
    wk = 1 if tt > 1 else _workers(math.prod(sizes) * nb * geom.y_channels)
    fshape = (*sizes[:-1], sizes[-1] // 2 + 1)
    single = math.prod(p.tiles) == 1
    work = [(tile, win, b0) for tile in _tile_ranges(p, geom.y_shape)
            if (win := _x_window(geom, tile, sizes)) is not None for b0 in range(0, n, nb)]

    def one(item):
        tile, win, b0 = item
        b1 = min(n, b0 + nb)
        ins = tuple(slice(0, (j1 - j0 - 1) * s + 1, s) for (j0, j1), s in zip(tile, geom.stride))
        buf = np.zeros((b1 - b0, geom.y_channels, *sizes), dtype=y.dtype)
        buf[(ALL, ALL, *ins)] = y[(slice(b0, b1), ALL, *(slice(j0, j1) for j0, j1 in tile))]
        spec = scipy.fft.rfftn(buf, axes=axes, workers=wk).reshape(b1 - b0, g, geom.y_channels // g, -1)
        del buf
        mixed = _contract(kt, spec).reshape(b1 - b0, geom.x_channels, *fshape)
        del spec
        full = scipy.fft.irfftn(mixed, s=sizes, axes=axes, workers=wk, overwrite_x=True)
        return (slice(b0, b1), ALL, *win[0]), full[(ALL, ALL, *win[1])]

    for target, part in tile_map(one, work, tt):
        if single:
            out[target] = part
        else:
            out[target] += part
    return out


def fft_weight_grad(y_side: np.ndarray, x_side: np.ndarray, geom: ConvGeometry) -> np.ndarray:
    """``weight_grad``: ``conj(Y_up) X`` summed over the batch and the tiles (in tile order, in the
    caller), one inverse FFT."""
    n, nd, g = y_side.shape[0], geom.nd, geom.groups
    dtype = np.result_type(y_side, x_side)
    p = fft_plan(geom, n, dtype.itemsize, "weight_grad")
    sizes, axes = p.sizes, tuple(range(2, 2 + nd))
    cxg, cyg = geom.x_channels // g, geom.y_channels // g
    nb = _chunk(geom, n, dtype.itemsize, "weight_grad", sizes)
    fwd, inv = _transforms(geom, nb, "weight_grad")
    tt = _tile_threads(math.prod(p.tiles), math.prod(sizes) * (fwd + inv))
    wk = 1 if tt > 1 else _workers(math.prod(sizes) * nb * (geom.x_channels + geom.y_channels))
    work = [(tile, win, b0) for tile in _tile_ranges(p, geom.y_shape)
            if (win := _x_window(geom, tile, sizes)) is not None for b0 in range(0, n, nb)]

    def one(item):
        tile, win, b0 = item
        b1 = min(n, b0 + nb)
        ins = tuple(slice(0, (j1 - j0 - 1) * s + 1, s) for (j0, j1), s in zip(tile, geom.stride))
        bx = np.zeros((b1 - b0, geom.x_channels, *sizes), dtype=dtype)
        bx[(ALL, ALL, *win[1])] = x_side[(slice(b0, b1), ALL, *win[0])]
        xs = scipy.fft.rfftn(bx, axes=axes, workers=wk).reshape(b1 - b0, g, cxg, -1)
        del bx
        by = np.zeros((b1 - b0, geom.y_channels, *sizes), dtype=dtype)
        by[(ALL, ALL, *ins)] = y_side[(slice(b0, b1), ALL, *(slice(j0, j1) for j0, j1 in tile))]
        ys = scipy.fft.rfftn(by, axes=axes, workers=wk).reshape(b1 - b0, g, cyg, -1)
        del by
        return _gram(ys, xs)

    acc = None
    for part in tile_map(one, work, tt):
        acc = part if acc is None else acc + part
    if acc is None:
        return np.zeros(geom.weight_shape, dtype=dtype)
    fshape = (*sizes[:-1], sizes[-1] // 2 + 1)
    full = scipy.fft.irfftn(acc.reshape(geom.y_channels, cxg, *fshape), s=sizes, axes=axes,
                            workers=_workers(math.prod(sizes) * geom.y_channels * cxg))
    taps = tuple(slice(0, (k - 1) * d + 1, d) for k, d in zip(geom.kernel, geom.dilation))
    return np.ascontiguousarray(full[(ALL, ALL, *taps)], dtype=dtype)


@dataclass(frozen=True)
class Polyphase:
    """A strided geometry as a stride-1 one on its phases: per axis ``x_r[u] = xp[u*s + r]`` and
    ``w_r[a] = wd[a*s + r]`` (``s`` phases), so that ``y = sum_r corr(w_r, x_r)``: ``prod(s)`` times the
    input channels, each phase a transform ``s`` times shorter, and one inverse transform per output
    channel at the short length (the full correlation's would be ``s`` times longer per axis)."""

    inner: ConvGeometry  #: the stride-1 conv on the phase channels (channel ``c * prod(s) + phase``)
    lq: tuple[int, ...]  #: phase-grid length per axis (``ceil(full / s)``)
    dq: tuple[int, ...]  #: phase kernel length per axis (``ceil(D / s)``)


@lru_cache(maxsize=256)
def polyphase(geom: ConvGeometry) -> Polyphase | None:
    """The polyphase form of ``geom`` (None for stride 1 everywhere)."""
    if all(s == 1 for s in geom.stride):
        return None
    from ..geometry import conv_geometry

    ext = _extent(geom)
    lq = tuple(-(-f // s) for f, s in zip(geom.full_shape, geom.stride))
    dq = tuple(-(-e // s) for e, s in zip(ext, geom.stride))
    phases = math.prod(geom.stride)
    inner = conv_geometry((geom.y_channels, geom.x_channels // geom.groups * phases, *dq), lq, 1, 0, 1,
                          geom.groups)
    return Polyphase(inner, lq, dq)


def _phase_split(a: np.ndarray, stride, lq) -> np.ndarray:
    """``(n, c, *(lq*s))`` -> ``(n, c*prod(s), *lq)``: the phases as channels."""
    nd = len(stride)
    a = a.reshape(*a.shape[:2], *(v for q, s in zip(lq, stride) for v in (q, s)))
    order = (0, 1, *(3 + 2 * i for i in range(nd)), *(2 + 2 * i for i in range(nd)))
    return a.transpose(order).reshape(a.shape[0], a.shape[1] * math.prod(stride), *lq)


def _phase_merge(a: np.ndarray, c: int, stride, lq) -> np.ndarray:
    """The inverse of :func:`_phase_split`: ``(n, c*prod(s), *lq)`` -> ``(n, c, *(lq*s))``."""
    nd = len(stride)
    a = a.reshape(a.shape[0], c, *stride, *lq)
    order = (0, 1, *(v for i in range(nd) for v in (2 + nd + i, 2 + i)))
    return a.transpose(order).reshape(a.shape[0], c, *(q * s for q, s in zip(lq, stride)))


def _phase_weight(w: np.ndarray, geom: ConvGeometry, pp: Polyphase) -> np.ndarray:
    """The dilated weight zero-padded to ``dq*s`` per axis, split into phase channels."""
    wd = np.zeros((*w.shape[:2], *(q * s for q, s in zip(pp.dq, geom.stride))), dtype=w.dtype)
    wd[(ALL, ALL, *(slice(0, (k - 1) * d + 1, d) for k, d in zip(geom.kernel, geom.dilation)))] = w
    return np.ascontiguousarray(_phase_split(wd, geom.stride, pp.dq))


def _x_slices(geom: ConvGeometry, length):
    """x cells ``i`` with ``0 <= i + pad_lo < length`` and their padded positions ``i + pad_lo``."""
    xs, us = [], []
    for n, lo, ln in zip(geom.x_shape, geom.pad_lo, length):
        a, b = max(0, -lo), min(n, ln - lo)
        if b <= a:
            return None
        xs.append(slice(a, b))
        us.append(slice(a + lo, b + lo))
    return tuple(xs), tuple(us)


def polyphase_conv(x, w, geom, cache=None):
    pp = polyphase(geom)
    length = tuple(q * s for q, s in zip(pp.lq, geom.stride))
    xp = np.zeros((x.shape[0], geom.x_channels, *length), dtype=x.dtype)
    sl = _x_slices(geom, length)
    if sl is not None:
        xp[(ALL, ALL, *sl[1])] = x[(ALL, ALL, *sl[0])]
    inner = fft_conv(np.ascontiguousarray(_phase_split(xp, geom.stride, pp.lq)), _phase_weight(w, geom, pp),
                     pp.inner, cache)
    return np.ascontiguousarray(inner[(ALL, ALL, *(slice(0, m) for m in geom.y_shape))])


def _y_padded(y, geom, pp):
    yp = np.zeros((y.shape[0], geom.y_channels, *pp.inner.y_shape), dtype=y.dtype)
    yp[(ALL, ALL, *(slice(0, m) for m in geom.y_shape))] = y
    return yp


def polyphase_conv_transpose(y, w, geom, cache=None):
    pp = polyphase(geom)
    inner = fft_conv_transpose(_y_padded(y, geom, pp), _phase_weight(w, geom, pp), pp.inner, cache)
    xp = _phase_merge(inner, geom.x_channels, geom.stride, pp.lq)
    out = np.zeros((y.shape[0], geom.x_channels, *geom.x_shape), dtype=y.dtype)
    sl = _x_slices(geom, xp.shape[2:])
    if sl is not None:
        out[(ALL, ALL, *sl[0])] = xp[(ALL, ALL, *sl[1])]
    return out


def polyphase_weight_grad(y_side, x_side, geom):
    pp = polyphase(geom)
    dtype = np.result_type(y_side, x_side)
    length = tuple(q * s for q, s in zip(pp.lq, geom.stride))
    xp = np.zeros((x_side.shape[0], geom.x_channels, *length), dtype=dtype)
    sl = _x_slices(geom, length)
    if sl is not None:
        xp[(ALL, ALL, *sl[1])] = x_side[(ALL, ALL, *sl[0])]
    gw = fft_weight_grad(_y_padded(y_side.astype(dtype, copy=False), geom, pp),
                         np.ascontiguousarray(_phase_split(xp, geom.stride, pp.lq)), pp.inner)
    full = _phase_merge(gw, geom.x_channels // geom.groups, geom.stride, pp.dq)
    taps = tuple(slice(0, (k - 1) * d + 1, d) for k, d in zip(geom.kernel, geom.dilation))
    return np.ascontiguousarray(full[(ALL, ALL, *taps)])


def _polyphase_cost(geom, batch, itemsize, op) -> float | None:
    pp = polyphase(geom)
    if pp is None:
        return None
    grid = math.prod(q * s for q, s in zip(pp.lq, geom.stride))
    elements = batch * (2 * geom.x_channels * grid + geom.y_channels * math.prod(pp.inner.y_shape))
    return fft_cost(pp.inner, batch, itemsize, op) + elements * PHASE_SPLIT_S


def use_polyphase(geom: ConvGeometry, batch: int, itemsize: int, op: str) -> bool:
    """Whether the polyphase form is estimated cheaper than the full correlation for ``op``."""
    return _use_polyphase(geom, batch, itemsize, op, threads_for(math.inf))


@lru_cache(maxsize=512)
def _use_polyphase(geom: ConvGeometry, batch: int, itemsize: int, op: str, threads: int) -> bool:
    t = _polyphase_cost(geom, batch, itemsize, op)
    return t is not None and t < POLYPHASE_MARGIN * fft_cost(geom, batch, itemsize, op)


def _fallback(geom: ConvGeometry, dtype, op: str) -> Algorithm:
    direct = ALGORITHMS["direct"]
    return direct if direct.supports(geom, np.dtype(dtype), op) is None else ALGORITHMS["gemm"]


@register
class Fft(Algorithm):
    name = "fft"
    weight_cache = True  # run() takes cache= (a weight owner's dict of kernel transforms)

    def supports(self, geom, dtype, op):
        if np.dtype(dtype) not in (np.float32, np.float64):
            return "real float32 or float64 data only"
        return super().supports(geom, dtype, op)

    def cost(self, geom, batch, itemsize, op):
        if use_polyphase(geom, batch, itemsize, op):
            return _polyphase_cost(geom, batch, itemsize, op)
        return fft_cost(geom, batch, itemsize, op)

    def scratch_bytes(self, geom, batch, itemsize, op):
        if use_polyphase(geom, batch, itemsize, op):
            pp = polyphase(geom)
            grid = math.prod(q * s for q, s in zip(pp.lq, geom.stride))
            copies = batch * (2 * geom.x_channels * grid + geom.y_channels * math.prod(pp.inner.y_shape)) * itemsize
            return self.scratch_bytes(pp.inner, batch, itemsize, op) + copies
        p = fft_plan(geom, batch, itemsize, op)
        return plan_scratch(geom, batch, itemsize, op, p.sizes, p.tiles)

    def describe(self, geom, batch, itemsize, op) -> str:
        """The transform sizes and tiles, for ``explain``."""
        if use_polyphase(geom, batch, itemsize, op):
            pp = polyphase(geom)
            return f"polyphase, {math.prod(geom.stride)} phases: {self.describe(pp.inner, batch, itemsize, op)}"
        p = fft_plan(geom, batch, itemsize, op)
        nb = _chunk(geom, batch, itemsize, op, p.sizes)
        tt = _tile_threads(math.prod(p.tiles), math.prod(p.sizes) * sum(_transforms(geom, nb, op)))
        return str(p) + (f" on {tt} threads" if tt > 1 else "")

    def run(self, op, a, b, geom, cache: dict | None = None):
        """``op`` on ``(a, b)``; non-finite data runs ``direct`` instead (see the module docstring).
        ``cache``: a dict kept by the owner of the weight ``b`` for its transforms (``ConvOperator``)."""
        if not (all_finite(a) and all_finite(b)):
            return _fallback(geom, a.dtype, op).run(op, a, b, geom)
        a, b = np.asarray(a), np.asarray(b)
        if use_polyphase(geom, a.shape[0], np.result_type(a, b).itemsize, op):
            if op == "conv":
                return polyphase_conv(a, b, geom, cache)
            if op == "conv_transpose":
                return polyphase_conv_transpose(a, b, geom, cache)
            return polyphase_weight_grad(a, b, geom)
        if op == "conv":
            return fft_conv(a, b, geom, cache)
        if op == "conv_transpose":
            return fft_conv_transpose(a, b, geom, cache)
        return fft_weight_grad(a, b, geom)

    def conv(self, x, w, geom):
        return self.run("conv", x, w, geom)

    def conv_transpose(self, y, w, geom):
        return self.run("conv_transpose", y, w, geom)

    def weight_grad(self, y_side, x_side, geom):
        return self.run("weight_grad", y_side, x_side, geom)

