"""``direct``: loops over the output for few channels and depthwise layers.

The compiled core (:func:`tconv.core._native.direct`, C kernels per instruction set): one output
row at a time, and along the last axis one phase (``p mod stride``) at a time, so every
multiply-add runs over contiguous memory; work bounded by the output and the multiply-adds, never
by the stride. With stride 1 on 2 or 3 axes (conv and conv_transpose) the output is cut into register
tiles of a few rows by a few vectors instead (``direct_rows.c``: each term one broadcast and one
multiply-add per vector, the sums in registers over every tap; the tiles at the boundary read a
zero-padded copy of their input), which runs large few-channel kernels (PSFs) 2-5x faster than the
row loops. The weight gradient runs on the same register tiles where the last two axes have no
dilation (``direct_wgrad.c``; AVX2 and the portable path): a tile of the weight's taps, each term one
y cell broadcast against a zero-padded copy of x whatever the stride (the row loops gather every x
load of a strided one: a 1024^2 15x15 stride-2 float64 gradient 15 -> 4 ms on two Zen 3 cores). Rows split into a few tiles per thread on tconv's pool, as many threads as
:func:`tconv.core.machine.threads_for` gives; tiny calls run on the caller alone. No scratch beyond
a few rows (the weight gradient: one float64 partial per tile and weight entry; conv_transpose with
several input channels per group: the weight re-laid out tap-major, once per call). Best when
``C_in * C_out / groups`` is small (single-channel images, depthwise layers, the inverse-STFT
overlap-add), where a GEMM would have a degenerate shape. Up to 3 spatial axes; float32 sums of
many terms accumulate in float64 (:func:`~tconv.core.algorithms._kernels.accumulator`).

Without the compiled core (``TCONV_NATIVE=0``, or no compiler at install) the same operations run
in NumPy, tap by tap: one strided-slice multiply-add (an ``einsum`` over the group's channels) per
kernel tap, with the same accumulator rule; exact, slower, and ``explain`` says so.
"""

from __future__ import annotations

import math

import numpy as np

from .. import _native
from ..machine import MIN_WORK_PER_THREAD, last_level_cache_bytes, threads_for
from ..outputs import RECYCLE_MIN
from ..outputs import empty as output_empty
from ..taps import poison_padded_products, tap_windows
from ._base import Algorithm, Prepared, kept_plan, register
from ._kernels import accumulator, as3, pad3, params3

# cost model constants, fitted on the benchmark suite (2 threads, float32): vectorised
# multiply-adds, a fixed cost per inner loop, a cost per (strided) output write, and the
# memory bandwidth that bounds layers whose multi-channel input does not fit in L2
_MACS_PER_S = 4.0e10
_LOOP_S = 1.7e-9
_OUT_S = 2.8e-10
_MEM_BYTES_PER_S = 3.0e10
_L2_BYTES = 1 << 20
_CALL_S = 2e-5
#: measured floors of the compiled kernels, per (operation, itemsize, strided): seconds on one thread =
#: multiply-adds / rate + inner loops (one kernel tap over one output row, ``macs / inner``) * loop +
#: output cells (weight_grad: y-side and x-side cells read) * cell, divided by the threads the call
#: gets (:func:`~tconv.core.machine.threads_for`: small calls run on one); fitted (non-negative least
#: squares on relative error; the strided rows share the unstrided rate and cell cost) to the best of four runs of
#: ``python benchmarks/planner_fft.py --repeat 3`` on its single- and few-channel cases (2-core Xeon,
#: AVX-512, load 1-4, 2026-12-01): per thread 22-24 GMAC/s in float32 and 12-13 in float64 (7-9 for
#: weight_grad), 4-13 ns per tap and row, 16-32 ns strided (gathered loads). A strided conv's own rate
#: and loop cost refitted 2026-12-02 (two runs, 2-core Xeon, AVX-512) on 1024^2 k15 s2 and 64^3 k5 s2
#: (checked on 256^2 k31 s2 and 512^2 k15 s3, within 0.8-1.25x): 9 GMAC/s (float64 5.5) and 16 ns per tap
#: and row; the shared unstrided rate made short rows (64^3: 32 cells) 1.7x dear and long ones 1.4x cheap
_FLOOR = {
    ("conv", 4, False): (2.4e10, 1.2e-8, 9e-10), ("conv", 4, True): (9e9, 1.6e-8, 9e-10),
    ("conv", 8, False): (1.3e10, 1e-8, 2.3e-9), ("conv", 8, True): (5.5e9, 1.5e-8, 2.3e-9),
    ("conv_transpose", 4, False): (2.2e10, 1.3e-8, 7.2e-10), ("conv_transpose", 4, True): (2.2e10, 1.7e-8, 7.2e-10),
    ("conv_transpose", 8, False): (1.2e10, 1.1e-8, 9e-10), ("conv_transpose", 8, True): (1.2e10, 1.6e-8, 9e-10),
    ("weight_grad", 4, False): (7.3e9, 1e-8, 0.0), ("weight_grad", 4, True): (7.3e9, 3.2e-8, 0.0),
    ("weight_grad", 8, False): (8.6e9, 3.8e-9, 1.4e-10), ("weight_grad", 8, True): (8.6e9, 2.1e-8, 1.4e-10),
}
#: the row tiles of a stride-1 conv / conv_transpose (``direct_rows.c``), per (instruction set, itemsize):
#: seconds on one thread = multiply-adds / rate + output cells * cell + patch cells copied * copy
#: (:func:`row_tiles`), divided by the threads; the mean of two fits of ``python benchmarks/calibrate_rows.py
#: --rounds 5`` (2-core AMD Zen 5, AVX-512, all three paths; 2026-12-03).  float32 runs at about half the FMA
#: peak on both vector paths: most loads of a shifted input row cross a cache line
_ROWS = {
    ("avx512", 4): (4.0e10, 5e-10, 2e-10), ("avx512", 8): (2.45e10, 1.05e-9, 2.6e-10),
    ("avx2", 4): (3.3e10, 4.2e-10, 2.2e-10), ("avx2", 8): (1.9e10, 1.0e-9, 5.5e-10),
    ("generic", 4): (1.3e10, 1.6e-9, 9.5e-10), ("generic", 8): (4.8e9, 2.7e-9, 9e-10),
}
#: the row drivers' time on another instruction set than the one ``_FLOOR`` was fitted on (AVX-512),
#: relative to the FFT's (whose model is the same everywhere): the float64 weight gradient's dot
#: products on AVX2, half as wide, took 1.45x the AVX-512 model's share (the geometric mean of
#: measured / estimated on the 66 weight-gradient cases of three runs of ``benchmarks/planner_fft.py``
#: on a 2-core Zen 3: direct 2.29-2.70, fft 1.64-1.72; float32 and the other operations matched fft's
#: within 10%, so they keep the fitted constants)
_ISA_FACTOR = {("avx2", "weight_grad", 8): 1.45}
_ROWS_PATCH_MAX = 4 << 20  # bytes of one patch (direct_rows.c's ROWS_PATCH_MAX)
_WGRAD_COPY_MAX = 256 << 20  # bytes of the weight gradient's padded x copy (direct_wgrad.c's WG_COPY_MAX)
_WGRAD_PARTS_MAX = 1 << 21  # its float64 partials in all (WG_PARTS_MAX)
#: the weight gradient's tiles run ``_ROWS``'s register tiles (its rate and copy cost) at this share of
#: the rate (the geometric mean of estimate / time over 16 single- and 4-channel cases, 1-3 axes, strides
#: 1-2, kernels 5-31, both dtypes, two threads, 2-core Zen 3 AVX2, 2026-12-03: 0.61; the float32 chunks'
#: float64 totals and each term's offset load)
_WGRAD_RATE = 0.6
#: the main model's memory term (re-reads once the multi-channel input leaves L2) applies above this many
#: channel pairs per group: the compiled kernels ran 512^2 9x9 with 3 -> 3 channels at 7-12 ms, where
#: the term alone gave 26-51 ms
_MEM_PAIRS = 16
# the NumPy fallback: one einsum per tap (a Python-level call each), at einsum's rate: fast while the
# channels are few (an elementwise product, or a small one), slower on many (its contraction loop; no
# BLAS); fitted to 14 fallback calls (1-3 axes, 1-64 channels, kernels 3-15, both operations; AMD Zen 5,
# 2026-12-02: every estimate within 0.70-1.62x of the time, against 1.1-17.7x with the earlier 1e9 MAC/s
# and 2e9 B/s)
_NUMPY_TAP_S = 3e-6
_NUMPY_MACS_PER_S = 4.0e9       # at most _NUMPY_FEW_PAIRS (input, output) channel pairs per group
_NUMPY_MACS_PER_S_MANY = 1.4e9  # more
_NUMPY_FEW_PAIRS = 64
_NUMPY_BYTES_PER_S = 4.0e10

ALL = slice(None)


def native_runs(geom, dtype) -> bool:
    """Whether the compiled kernels run this geometry and dtype (else the NumPy fallback)."""
    return _native.available() and geom.nd <= 3 and np.dtype(dtype) in (np.float32, np.float64)


def row_tiles(geom, itemsize: int, op: str) -> dict | None:
    """What the compiled row tiles (``direct_rows.c``) do with a stride-1 ``conv`` or ``conv_transpose``:
    ``{"tiles", "patched", "patch_cells"}`` (tiles of R rows x NQ cells in all, those near the boundary
    that copy their input into a zero-padded patch first, and one patch's cells), or None where the
    row drivers run it (a stride, one row, a row shorter than a tile, a patch over its cap, weight_grad).
    The same rule as ``tc_rows_try``, from the current instruction set's tile (``kernel_info``)."""
    if op == "weight_grad" or max(geom.stride) > 1 or not _native.available():
        return None
    r, nq = _native.info()["kernels"]["float32" if itemsize == 4 else "float64"]["direct_rows"]
    tr = op == "conv_transpose"
    out3 = pad3(geom.x_shape if tr else geom.y_shape, 1)
    in3 = pad3(geom.y_shape if tr else geom.x_shape, 1)
    k3, d3, lo3 = pad3(geom.kernel, 1), pad3(geom.dilation, 1), pad3(geom.pad_lo, 0)
    if out3[1] < r or out3[2] < nq:
        return None
    reach = []
    for k, d, lo in zip(k3, d3, lo3):
        ends = (lo, lo - (k - 1) * d) if tr else (-lo, (k - 1) * d - lo)
        reach.append((min(ends), max(ends)))
    cin = (geom.y_channels if tr else geom.x_channels) // geom.groups
    patch = cin * k3[0] * (r + reach[1][1] - reach[1][0]) * (nq + reach[2][1] - reach[2][0])
    if patch * itemsize > _ROWS_PATCH_MAX:
        return None

    def inside(n_out, n_in, width, ax):  # (units along the axis, those whose taps all land in range)
        starts = [min(u * width, n_out - width) for u in range(-(-n_out // width))]
        lo, hi = reach[ax]
        return len(starts), sum(o + lo >= 0 and o + width - 1 + hi < n_in for o in starts)

    counts = [inside(out3[0], in3[0], 1, 0), inside(out3[1], in3[1], r, 1), inside(out3[2], in3[2], nq, 2)]
    planes = (geom.x_channels if tr else geom.y_channels)
    total = math.prod(c[0] for c in counts) * planes
    return {"tiles": total, "patched": total - math.prod(c[1] for c in counts) * planes, "patch_cells": patch}


def wgrad_tiles(geom, batch: int, itemsize: int) -> dict | None:
    """What the weight gradient's register tiles (``direct_wgrad.c``) do: ``{"slots", "copy_cells",
    "tiles"}`` (the multiply-add slots of every tile over every y cell, the zero-padded copy of x's planes,
    the tiles of the weight), or None where the row drivers run it (a dilation on the last two axes, a
    copy over its cap). The same rule as ``direct_wgrad.c``'s ``wg_shape``, from the instruction set's tile."""
    if not _native.available():
        return None
    kern = _native.info()["kernels"]["float32" if itemsize == 4 else "float64"]
    if not kern.get("direct_wgrad_rows"):  # not on this instruction set (AVX-512: not measured yet)
        return None
    r, nq = kern["direct_rows"]
    k3, s3, d3, lo3 = pad3(geom.kernel, 1), pad3(geom.stride, 1), pad3(geom.dilation, 1), pad3(geom.pad_lo, 0)
    m3, x3 = pad3(geom.y_shape, 1), pad3(geom.x_shape, 1)
    if d3[1] != 1 or d3[2] != 1 or min(m3) <= 0:
        return None
    p1, p2 = (m3[1] - 1) * s3[1] + max(k3[1], r), (m3[2] - 1) * s3[2] + max(k3[2], nq)
    copy_cells = batch * geom.x_channels * x3[0] * p1 * p2
    if copy_cells * itemsize > _WGRAD_COPY_MAX:
        return None
    tiles = geom.y_channels * (geom.x_channels // geom.groups) * k3[0] * -(-k3[1] // r) * -(-k3[2] // nq)
    if tiles * r * nq * 8 > _WGRAD_PARTS_MAX:
        return None
    planes = sum(0 <= j0 * s3[0] + t0 * d3[0] - lo3[0] < x3[0] for t0 in range(k3[0]) for j0 in range(m3[0]))
    return {"slots": tiles // k3[0] * batch * planes * m3[1] * m3[2] * r * nq, "copy_cells": copy_cells, "tiles": tiles}


#: seconds per byte of the weight gradient's tiles once their padded x copy is larger than the last-level
#: cache (x read, the copy written and read back, y read: each split's rows then come from memory): one
#: and two threads, 2048^2 float64 5x5 and 15x15, 2-core Zen 3 with 32 MiB of L3, 2026-12-04: 0.25-0.29 ns
#: (71 / 58 ms against estimates of 38 / 19 without it; 1448^2, a 16.8 MiB copy, within 1.1x of the
#: estimate); the passes do not go faster on two threads, so the term is not divided by them
_WGRAD_MEM_S_PER_BYTE = 0.25e-9


def wgrad_memory(geom, batch: int, itemsize: int, tiles: dict) -> float:
    """Seconds the weight gradient's tiles spend on memory when their x copy leaves the last-level cache."""
    copy_bytes = tiles["copy_cells"] * itemsize
    if copy_bytes <= last_level_cache_bytes():
        return 0.0
    sides = batch * (geom.x_channels * math.prod(geom.x_shape) + geom.y_channels * math.prod(geom.y_shape))
    return (2 * copy_bytes + sides * itemsize) * _WGRAD_MEM_S_PER_BYTE


def direct_cost(geom, batch: int, itemsize: int, op: str = "conv_transpose") -> float:
    """Estimated seconds of one direct operation with the compiled kernels (see the constants)."""
    macs = geom.macs(batch)
    if op == "weight_grad" and (tiles := wgrad_tiles(geom, batch, itemsize)) is not None:
        rate, _, copy = _ROWS[_native.get_isa(), itemsize]
        work = tiles["slots"] / (rate * _WGRAD_RATE) + tiles["copy_cells"] * copy
        return work / threads_for(macs) + wgrad_memory(geom, batch, itemsize, tiles) + _CALL_S
    rows = row_tiles(geom, itemsize, op)
    if rows is not None:  # the row tiles: their multiply-adds, the output cells, the patches' copies
        rate, cell, copy = _ROWS[_native.get_isa(), itemsize]
        outputs = batch * (geom.x_channels * math.prod(geom.x_shape) if op == "conv_transpose"
                           else geom.y_channels * math.prod(geom.y_shape))
        work = macs / rate + outputs * cell + batch * rows["patched"] * rows["patch_cells"] * copy
        return work / threads_for(macs) + _CALL_S
    if op == "conv_transpose":
        inner = max(1, min(geom.y_shape[-1], -(-geom.x_shape[-1] // geom.stride[-1])))
        outputs = batch * geom.x_channels * math.prod(geom.x_shape)
        reread = geom.y_channels // geom.groups * math.prod(geom.y_shape)
    elif op == "conv":
        inner = geom.y_shape[-1]
        outputs = batch * geom.y_channels * math.prod(geom.y_shape)
        reread = geom.x_channels // geom.groups * math.prod(geom.x_shape)
    else:  # weight_grad: one dot product per (weight entry, sample, row)
        inner = geom.y_shape[-1]
        outputs = math.prod(geom.weight_shape)
        reread = batch * (geom.x_channels + geom.y_channels) * math.prod(geom.y_shape)
    t = macs / _MACS_PER_S + (macs / inner) * _LOOP_S + outputs * _OUT_S
    if reread * itemsize > _L2_BYTES and geom.y_channels * geom.x_channels // geom.groups ** 2 > _MEM_PAIRS:
        t += macs * itemsize / _MEM_BYTES_PER_S  # re-reads from memory once they leave L2
    rate, loop, cell = _FLOOR[op, 8 if itemsize == 8 else 4, max(geom.stride) > 1]
    cells = reread if op == "weight_grad" else outputs
    floor = (macs / rate + (macs / inner) * loop + cells * cell) / threads_for(macs)
    return max(t, floor) * _ISA_FACTOR.get((_native.get_isa(), op, itemsize), 1.0) + _CALL_S


def fallback_cost(geom, batch: int, itemsize: int, op: str = "conv_transpose") -> float:
    """Estimated seconds of the NumPy fallback: a call per tap, einsum's rate, the bytes moved."""
    side = batch * (geom.x_channels * math.prod(geom.x_shape) + geom.y_channels * math.prod(geom.y_shape))
    taps = len(tap_windows(geom))
    pairs = (geom.x_channels // geom.groups) * (geom.y_channels // geom.groups)
    rate = _NUMPY_MACS_PER_S if pairs <= _NUMPY_FEW_PAIRS else _NUMPY_MACS_PER_S_MANY
    return (taps * _NUMPY_TAP_S + geom.macs(batch) / rate
            + taps * side * itemsize / _NUMPY_BYTES_PER_S + _CALL_S)


# ---- the NumPy fallback: tap by tap ----

def numpy_conv_transpose(y: np.ndarray, w: np.ndarray, geom) -> np.ndarray:
    """``out[:, g, :, xsl] += einsum(y[:, g, :, ysl], w[g, :, :, tap])`` for every tap landing."""
    n, g = y.shape[0], geom.groups
    cyg, cxg = geom.y_channels // g, geom.x_channels // g
    acc = accumulator(y.dtype, cyg * math.prod(geom.kernel)).dtype
    out = np.zeros((n, g, cxg, *geom.x_shape), dtype=acc)
    yg = y.reshape(n, g, cyg, *geom.y_shape)
    wg = w.reshape(g, cyg, cxg, *geom.kernel)
    for tap, ysl, xsl in tap_windows(geom):
        out[(ALL, ALL, ALL, *xsl)] += np.einsum("ngc...,gcd->ngd...", yg[(ALL, ALL, ALL, *ysl)],
                                                wg[(ALL, ALL, ALL, *tap)], dtype=acc)
    return out.reshape(n, geom.x_channels, *geom.x_shape).astype(y.dtype, copy=False)


def numpy_conv(x: np.ndarray, w: np.ndarray, geom) -> np.ndarray:
    """``out[:, g, :, ysl] += einsum(x[:, g, :, xsl], w[g, :, :, tap])`` for every tap landing."""
    n, g = x.shape[0], geom.groups
    cyg, cxg = geom.y_channels // g, geom.x_channels // g
    acc = accumulator(x.dtype, cxg * math.prod(geom.kernel)).dtype
    out = np.zeros((n, g, cyg, *geom.y_shape), dtype=acc)
    xg = x.reshape(n, g, cxg, *geom.x_shape)
    wg = w.reshape(g, cyg, cxg, *geom.kernel)
    for tap, ysl, xsl in tap_windows(geom):
        out[(ALL, ALL, ALL, *ysl)] += np.einsum("ngc...,gdc->ngd...", xg[(ALL, ALL, ALL, *xsl)],
                                                wg[(ALL, ALL, ALL, *tap)], dtype=acc)
    return out.reshape(n, geom.y_channels, *geom.y_shape).astype(x.dtype, copy=False)


def numpy_weight_grad(y_side: np.ndarray, x_side: np.ndarray, geom) -> np.ndarray:
    """One einsum per tap over its window, summed in float64 (as the compiled kernel)."""
    n, g = y_side.shape[0], geom.groups
    cyg, cxg = geom.y_channels // g, geom.x_channels // g
    yg = y_side.reshape(n, g, cyg, *geom.y_shape)
    xg = x_side.reshape(n, g, cxg, *geom.x_shape)
    gw = np.zeros((g, cyg, cxg, *geom.kernel), dtype=np.float64)
    for tap, ysl, xsl in tap_windows(geom):
        a = yg[(ALL, ALL, ALL, *ysl)].reshape(n, g, cyg, -1)
        b = xg[(ALL, ALL, ALL, *xsl)].reshape(n, g, cxg, -1)
        gw[(ALL, ALL, ALL, *tap)] = np.einsum("ngcj,ngdj->gcd", a, b, dtype=np.float64)
    return gw.reshape(geom.weight_shape).astype(np.result_type(y_side, x_side), copy=False)


def compiled_plan(op: str, geom, batch: int, dtype: np.dtype, acc: int, check_weights: bool = False,
                  brgemm: bool = False):
    """The compiled core's prepared call for ``op`` (``conv`` or ``conv_transpose``) on ``geom`` and a batch of
    ``batch`` (``_native._ext.direct_plan`` on the canonical 5-D shapes; ``brgemm``: brgemm.c's tables), with
    what a prepared call needs around it: ``(plan, output shape, its allocator (recycled from RECYCLE_MIN
    bytes), threads)``, ``threads()`` 1 below one thread's work, else :func:`threads_for` per call."""
    transpose = op == "conv_transpose"
    cin = geom.y_channels if transpose else geom.x_channels
    in_shape = (batch, cin, *pad3(geom.y_shape if transpose else geom.x_shape, 1))
    out_shape = (batch, geom.x_channels, *geom.x_shape) if transpose else (batch, geom.y_channels, *geom.y_shape)
    w_shape = (*geom.weight_shape[:2], *pad3(geom.kernel, 1))
    plan = _native._ext.direct_plan("t" if transpose else "c", in_shape, w_shape, (*out_shape[:2], *pad3(out_shape[2:], 1)),
                                    (geom.groups, *params3(geom)), acc, check_weights, brgemm)
    empty = output_empty if math.prod(out_shape) * np.dtype(dtype).itemsize >= RECYCLE_MIN else np.empty
    macs = geom.macs(batch)
    threads = (lambda: 1) if macs < MIN_WORK_PER_THREAD else (lambda: threads_for(macs))  # 1 whatever the cap
    return plan, out_shape, empty, threads


@register
class Direct(Algorithm):
    name = "direct"

    def __init__(self) -> None:
        self._plans: dict = {}

    def supports(self, geom, dtype, op):
        if geom.nd > 3:
            return "the direct kernels cover 1 to 3 spatial axes"
        return super().supports(geom, dtype, op)

    def cost(self, geom, batch, itemsize, op):
        if native_runs(geom, np.float32 if itemsize == 4 else np.float64):
            return direct_cost(geom, batch, itemsize, op)
        return fallback_cost(geom, batch, itemsize, op)

    def scratch_bytes(self, geom, batch, itemsize, op):
        if not native_runs(geom, np.float32 if itemsize == 4 else np.float64):
            # NumPy: a float64 (or the data's) accumulator and one einsum result, each up to the output
            out = {"conv_transpose": batch * geom.x_channels * math.prod(geom.x_shape),
                   "conv": batch * geom.y_channels * math.prod(geom.y_shape)}.get(op, math.prod(geom.weight_shape))
            return 2 * out * 8
        if op == "weight_grad":
            tiles = wgrad_tiles(geom, batch, itemsize)
            if tiles is not None:  # the padded x copy and float64 partials, a few per thread and tile
                r, nq = _native.info()["kernels"]["float32" if itemsize == 4 else "float64"]["direct_rows"]
                splits = min(-(-batch * math.prod(pad3(geom.y_shape, 1)[:2]) // 8), _WGRAD_PARTS_MAX // (tiles["tiles"] * r * nq))
                return tiles["copy_cells"] * itemsize + 8 * tiles["tiles"] * r * nq * max(1, splits)
            # float64 partials: a few tiles per thread, each the weight's size
            return 4 * threads_for(geom.macs(batch)) * math.prod(geom.weight_shape) * 8
        rows = row_tiles(geom, itemsize, op)
        if rows is not None:  # one patch per thread, the offset tables, the weight re-laid out per output
            return (_native.get_num_threads() * rows["patch_cells"] * itemsize + 16 * math.prod(geom.weight_shape)
                    + math.prod(geom.weight_shape) * itemsize)
        if op == "conv_transpose" and geom.y_channels > geom.groups:  # the weight re-laid out tap-major
            return math.prod(geom.weight_shape) * itemsize
        return 0

    def _planned(self, op, a, b, geom):
        """The kept prepared call (:func:`kept_plan`; 64x64 k3 conv: 24 -> 12 us), or None."""
        return kept_plan(self._plans, self.prepare, op, a, b, geom)

    def conv_transpose(self, y, w, geom):
        if not native_runs(geom, y.dtype):
            return numpy_conv_transpose(y, w, geom)
        prepared = self._planned("conv_transpose", y, w, geom)
        if prepared is not None:
            return prepared(y, w, None)
        out = output_empty((y.shape[0], geom.x_channels, *geom.x_shape), y.dtype)
        wide = accumulator(y.dtype, geom.y_channels // geom.groups * math.prod(geom.kernel)).dtype != y.dtype
        _native.direct("conv_transpose", as3(np.ascontiguousarray(y), geom.nd),
                       as3(np.ascontiguousarray(w, dtype=y.dtype), geom.nd), as3(out, geom.nd),
                       (geom.groups, *params3(geom)), wide=wide, threads=threads_for(geom.macs(y.shape[0])))
        return out

    def prepare(self, op, geom, batch, dtype) -> Prepared:
        """The compiled kernels' call with the geometry checked once (``_native._ext.direct_plan``):
        a call allocates the output and makes one C call (``direct_run``), which adds the bias and,
        for ``conv`` with padding, says whether the weight has a non-finite entry (then the padded
        products are poisoned as :meth:`conv` does). The thread count is fixed when the work is
        below one thread's share, else worked out per call (:func:`threads_for`, as :meth:`run`)."""
        dt = np.dtype(dtype)
        if op == "weight_grad" or not native_runs(geom, dt) or batch == 0:
            return super().prepare(op, geom, batch, dtype)
        cin = geom.y_channels if op == "conv_transpose" else geom.x_channels
        wide = accumulator(dt, cin // geom.groups * math.prod(geom.kernel)).dtype != dt
        padded = op == "conv" and any(lo or hi for lo, hi in geom.pads)
        plan, out_shape, empty, threads = compiled_plan(op, geom, batch, dt, 2 if dt == np.float64 else int(wide), padded)
        run = _native._ext.direct_run

        def prepared(a, b, bias):
            out = empty(out_shape, dt)
            if run(plan, a, b, out, bias, threads()):
                poison_padded_products(out, b, geom)
            return out

        return prepared

    def conv(self, x, w, geom):
        if not native_runs(geom, x.dtype):
            return poison_padded_products(numpy_conv(x, w, geom), w, geom)
        prepared = self._planned("conv", x, w, geom)
        if prepared is not None:
            return prepared(x, w, None)
        out = output_empty((x.shape[0], geom.y_channels, *geom.y_shape), x.dtype)
        wide = accumulator(x.dtype, geom.x_channels // geom.groups * math.prod(geom.kernel)).dtype != x.dtype
        _native.direct("conv", as3(np.ascontiguousarray(x), geom.nd),
                       as3(np.ascontiguousarray(w, dtype=x.dtype), geom.nd), as3(out, geom.nd),
                       (geom.groups, *params3(geom)), wide=wide, threads=threads_for(geom.macs(x.shape[0])))
        return poison_padded_products(out, w, geom)

    def weight_grad(self, y_side, x_side, geom):
        """Per tile of y-side rows a float64 partial of every weight entry (dot products along the
        last axis), added in tile order: the same result for the same thread count."""
        dtype = np.result_type(y_side, x_side)
        if not native_runs(geom, dtype):
            return numpy_weight_grad(y_side, x_side, geom)
        gw = np.empty(geom.weight_shape, dtype=dtype)
        _native.direct("weight_grad", as3(np.ascontiguousarray(y_side, dtype=dtype), geom.nd),
                       as3(np.ascontiguousarray(x_side, dtype=dtype), geom.nd), as3(gw, geom.nd),
                       (geom.groups, *params3(geom)), threads=threads_for(geom.macs(y_side.shape[0])))
        return gw
