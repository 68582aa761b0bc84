"""``native``: the compiled core's implicit GEMMs (``tconv.core._native``, ``convplan.c``).

``conv``: per group one GEMM ``y[cy, (n, j)] = sum_{cx, t} W[cy, cx, t] x[n, cx, j*s + t*d - lo]``,
the patches of ``x`` read while packing B (no im2col buffer).

``conv_transpose`` with stride ``s``: ``prod(s)`` phase sub-convolutions (XNNPACK's
deconvolution). Output cell ``o = r + s*m`` (phase ``r``, per axis) receives exactly the taps
with ``(r + lo - t*d) % s == 0``, from input cell ``j = m + (r + lo - t*d) // s``; so phase
``r`` is one GEMM ``x[cx, (n, m)] = sum_{cy, taps of r} W[cy, cx, t] y[n, cy, j(m, t)]`` with the
``y`` gather in the B packer (cells outside ``y`` read as zero) and C the phase's cells of the
output. Phases that read the same input cells (the same tap shifts and cell counts: all of them
when ``kernel == stride``) are one GEMM whose rows are ``(output channel, phase)``, through row
tables: ``y`` is packed once for all of them. No zero insertion, no col2im: every output element
is written once (a phase without taps is written with zeros). Groups are separate GEMMs.

The plan of a (geometry, batch, dtype, ISA) is built once (:func:`_compiled_plan`, cached): NumPy
computes the coordinate tables here, C turns them into int32 indirection tables (per tap and
column: the source offset, or -1 outside) with a kind per tap and panel of NR columns (a plain
copy, a masked copy at an edge, a gather, zeros), checks every index against the buffer lengths,
and keeps them in a capsule Python cannot change; a call then runs every GEMM of the plan in one
C call. Per call the weights are packed once for every GEMM and shared by the threads (kept by
a weight owner: ``cache=``, :func:`_packed`). C with non-consecutive columns (a strided phase)
accumulates in an L2-sized buffer and is scattered once per column block.

``weight_grad``: ``dW[cy, (cx, t)] = sum_{(n, j)} Y[n, cy, j] X[n, cx, j*s + t*d - lo]``, through
conv.c's coordinate-table packers with the roles swapped (the reduction runs over samples and
positions, the gathered patches are B's depth); a long reduction over few tiles of ``dW`` is
split into depth chunks by the GEMM driver (from the shape alone), so the result does not
depend on the thread count.

The cost model (:data:`_COSTS`, ``benchmarks/calibrate_native.py``) is fitted per ISA to measured
single-thread times; a second thread counts :data:`_THREAD_EFFICIENCY`.
"""

from __future__ import annotations

import math
import threading
from functools import lru_cache

import numpy as np

from .. import _native
from ..geometry import ConvGeometry
from ..options import thread_cap
from ..outputs import RECYCLE_MIN
from ..outputs import empty as output_empty
from ._base import Algorithm, Prepared, register

#: a second thread's share (the pool's split and the shared L3)
_THREAD_EFFICIENCY = 0.85
#: ``native``'s cost constants per ISA (float32; float64 at half the rate, twice the bytes), fitted
#: to single-thread times of the suite's layers and variations of them (``benchmarks/calibrate_native.py``):
#: the FLOP/s of the register tiles, seconds per element packed into B through the tables, per
#: element of A packed, per element of C scattered and written, per register tile and depth block (the
#: micro-kernel's call), per GEMM and per call (2026-12-01,
#: 2-core Xeon with AVX-512, each ISA forced)
_COSTS = {
    "avx512": dict(rate=179e9, pack_b=0.14e-9, pack_a=0.26e-9, scatter=1.0e-9, out=0.14e-9, tile=120e-9, gemm=1.6e-6,
                   call=20e-6),
    "avx2": dict(rate=103e9, pack_b=0.2e-9, pack_a=0.05e-9, scatter=0.87e-9, out=0.05e-9, tile=57e-9, gemm=2e-6,
                 call=30e-6),
    "generic": dict(rate=29.7e9, pack_b=0.82e-9, pack_a=1.9e-9, scatter=0.8e-9, out=0.15e-9, tile=19e-9, gemm=2.6e-6,
                    call=27e-6),
}


#: seconds per element of the weight gradient's B (the transposed patches through conv.c's
#: coordinate tables): with stride 1 each row's depth runs along an image row (copied, then
#: transposed with the ISA's transposing pack), 0.5 ns (R1, one thread, AVX-512); a strided one is
#: gathered element by element, 1.3-2.9 ns on the suite's layers (median 1.9)
WGRAD_PACK_B = 0.5e-9
WGRAD_PACK_B_STRIDED = 1.9e-9
#: ... plus, per depth run (one y row), the cost of about this many elements: 32^3 k3 single-channel
#: (rows of 32 cells) took 1.5-2.2 ms on two Zen 3 cores where the per-element cost alone gave 0.44
WGRAD_RUN_CELLS = 64


#: the micro-kernel reading B in place (masked loads of the image's rows, the micro-panel after next
#: prefetched) against packed panels, fitted with the other constants by benchmarks/calibrate_native.py
#: over its 24 layers, one thread (Zen 5, AVX-512; 0.67 before the prefetch)
TAPS_RATE = 0.84
#: the same for a GEMM of fewer rows than a register tile (a short tile: few FMAs per B row loaded)
TAPS_RATE_SHORT = 0.67


def core_refusal(dtype: np.dtype) -> str | None:
    """Why the compiled core's algorithms (``native``, ``brgemm``) cannot run ``dtype`` here, or None."""
    if not _native.available():
        return f"the compiled core is unavailable ({_native.info()['reason']})"
    if np.dtype(dtype) not in (np.float32, np.float64):
        return "float32 and float64 only"
    return None


def gathers(op: str, geom: ConvGeometry) -> bool:
    """Whether ``op``'s B panels are gathers: a strided conv's columns skip cells of the input."""
    return op == "conv" and max(geom.stride) > 1


def reads_b_in_place(op: str, geom: ConvGeometry, m: int, kern: dict) -> bool:
    """Whether a GEMM of ``m`` rows of ``op`` reads B where it lies (gemm.c's taps mode): not the weight
    gradient, not a strided conv (:func:`gathers`), and at most ``taps_tiles`` row tiles."""
    return (op != "weight_grad" and not gathers(op, geom)
            and math.ceil(m / kern["mr"]) <= kern.get("taps_tiles", 0))


def row_slots(m: int, kern: dict) -> int:
    """Rows the register tiles compute for ``m`` rows: whole tiles of MR, the rest on the shortest
    short tile that covers it (gemm_kernel.inc's SHORT), else one more whole tile."""
    mr, rest = kern["mr"], m % kern["mr"]
    fits = [t for t in kern.get("short", ()) if t >= rest > 0]
    return m - rest + (min(fits) if fits else mr * (rest > 0))


def _threads() -> int:
    return thread_cap() or _native.get_num_threads()


def gemm_shapes(geom: ConvGeometry, batch: int, op: str) -> list[tuple[int, int, int, bool]]:
    """``(rows, columns, depth, C buffered)`` of each GEMM ``native`` runs for ``op`` (the plans'
    shapes, without building their tables)."""
    g, K = geom.groups, math.prod(geom.kernel)
    cxg, cyg = geom.x_channels // g, geom.y_channels // g
    if op == "conv":
        return [(cyg, batch * math.prod(geom.y_shape), cxg * K, False)] * g
    if op == "weight_grad":
        return [(cyg, cxg * K, batch * math.prod(geom.y_shape), False)] * g
    return [(cxg * p, batch * math.prod(counts), cyg * taps, strided) for p, counts, taps, strided in
            _phase_sets(geom) for _ in range(g)]


@lru_cache(maxsize=1024)
def _phase_sets(geom: ConvGeometry) -> list[tuple[int, tuple[int, ...], int, bool]]:
    """conv_transpose's GEMMs per group: ``(phases, cell counts, taps, C buffered)`` per part of
    :func:`_phase_parts` (phases that read the same input cells, or all the phases of one cell count
    over the union of their taps)."""
    strided = math.prod(geom.stride) > 1
    return [(len(phases), counts, len(offs), strided or len(phases) > 1)
            for counts, offs, phases in _phase_parts(geom)]


#: few output channels per group (a generator's last layer: 1 or 3) and a stride: the phases of one
#: cell count are one GEMM over the union of their taps (the weights of a phase's missing taps zero),
#: whose rows are (output channel, phase), instead of one GEMM of a few rows per phase
UNION_CHANNELS = 4
#: ... when the union does at most this many times the useful multiply-adds
UNION_WASTE = 3.0


@lru_cache(maxsize=1024)
def _phase_parts(geom: ConvGeometry) -> list[tuple[tuple[int, ...], np.ndarray, list]]:
    """conv_transpose's parts: ``(cell counts, tap shifts (taps, nd), phases)`` with each phase
    ``(r, flat taps, their indices into the part's shifts)``. A part is the phases that read the same
    input cells (every phase when ``kernel == stride``) or, for few output channels
    (:data:`UNION_CHANNELS`), every phase of one cell count over the union of their shifts."""
    sets: dict = {}
    for r in np.ndindex(*_phases(geom)):
        tflat, off, counts = _phase_offsets(geom, r)
        sets.setdefault((off.tobytes(), counts), []).append((r, tflat, off))
    parts = [(counts, phases[0][2], [(r, t, np.arange(len(t))) for r, t, _ in phases])
             for (_, counts), phases in sets.items()]
    if geom.x_channels // geom.groups > UNION_CHANNELS or len(parts) < 2:
        return parts
    by_counts: dict = {}
    for counts, off, phases in parts:
        by_counts.setdefault(counts, []).append((off, phases))
    merged = []
    for counts, group in by_counts.items():
        if len(group) == 1:  # one set of this cell count: as it is
            merged.append((counts, group[0][0], group[0][1]))
            continue
        union = np.unique(np.concatenate([off for off, _ in group]).reshape(-1, geom.nd), axis=0)
        phases = [(r, t, np.array([np.flatnonzero((union == o).all(axis=1))[0] for o in off], np.int64))
                  for off, ph in group for r, t, _ in ph]
        useful = sum(len(t) for _, t, _ in phases)
        if len(phases) * len(union) > UNION_WASTE * useful:
            return parts
        merged.append((counts, union, phases))
    return merged


def _union(geom: ConvGeometry) -> bool:
    """Whether some part of conv_transpose's plan is a union of taps (its weights then re-laid out)."""
    return any(len(u) != len(off) or (u != np.arange(len(off))).any()
               for _, off, phases in _phase_parts(geom) for _, _, u in phases)


@lru_cache(maxsize=256)
def _weight_map(geom: ConvGeometry) -> np.ndarray | None:
    """For a plan with unions of taps: the GEMMs' weight buffer as indices into the flat weight (-1:
    zero, a phase's missing tap), parts after parts and groups after groups as the plan lays them
    out (:func:`_transpose_plan`); None when the plan reads the weight as it is."""
    if not _union(geom):
        return None
    g, K = geom.groups, math.prod(geom.kernel)
    cxg, cyg = geom.x_channels // g, geom.y_channels // g
    maps = []
    for _, off, phases in _phase_parts(geom):
        U, P = len(off), len(phases)
        for gi in range(g):
            wm = np.full((cxg, P, cyg, U), -1, np.int64)   # rows (output channel, phase), depth (channel, tap)
            for pi, (_, tflat, uidx) in enumerate(phases):
                for t, u in zip(tflat, uidx):
                    wm[:, pi, :, u] = (gi * cyg * cxg * K + np.arange(cyg)[None, :] * cxg * K
                                       + np.arange(cxg)[:, None] * K + t)
            maps.append(wm.ravel())
    return np.concatenate(maps)


def _op_weight_map(geom: ConvGeometry, op: str) -> np.ndarray | None:
    """:func:`_weight_map` for ``op`` (only conv_transpose's plans have unions of taps)."""
    return _weight_map(geom) if op == "conv_transpose" else None


def _plan_weight(w: np.ndarray, wmap: np.ndarray | None) -> np.ndarray:
    """The weight buffer the plan reads: ``w`` itself, or for unions of taps its re-laid copy."""
    if wmap is None:
        return w
    flat = np.concatenate([w.ravel(), np.zeros(1, w.dtype)])
    return flat[wmap]   # -1: the appended zero


def native_tile_seconds() -> float:
    """Seconds per micro-kernel call beyond its flops (:data:`_COSTS`), for the ISA in use."""
    return _COSTS.get(_native.get_isa(), _COSTS["generic"])["tile"]


#: a call whose parallel part is shorter than this (seconds, on one thread) gains less from more
#: threads (waking the pool, splitting few tiles): measured 1.0x on two threads for 0.3-0.6 ms
#: single-channel 3-D calls, 1.7-2.0x for the suite's 5-30 ms layers
SCALING_S = 2e-3


def thread_speedup(threads: int | None = None, seconds: float = float("inf")) -> float:
    """How much faster a parallel part of ``seconds`` (on one thread) runs on ``threads`` threads."""
    threads = _threads() if threads is None else threads
    return 1 + _THREAD_EFFICIENCY * (max(threads, 1) - 1) * min(1.0, seconds / SCALING_S)


def _strides(shape: tuple[int, ...]) -> np.ndarray:
    """Row-major element strides of ``shape``."""
    out = np.ones(len(shape), np.int64)
    for a in range(len(shape) - 2, -1, -1):
        out[a] = out[a + 1] * shape[a + 1]
    return out


def _grid(shape: tuple[int, ...]) -> np.ndarray:
    """All multi-indices of ``shape`` in row-major order, as an ``(prod(shape), nd)`` int64 array."""
    if math.prod(shape) == 0:
        return np.zeros((0, len(shape)), np.int64)
    return np.indices(shape, dtype=np.int64).reshape(len(shape), -1).T.copy()


def _columns(n: int, grid: np.ndarray, batch_stride: int, strides: np.ndarray, scale: np.ndarray,
             shift: np.ndarray) -> np.ndarray:
    """Per column ``(sample, position)``: ``sample * batch_stride + sum_a (shift_a + scale_a * p_a) * strides_a``."""
    per = ((shift + scale * grid) * strides).sum(axis=1) if len(grid) else np.zeros(0, np.int64)
    return (np.arange(n, dtype=np.int64)[:, None] * batch_stride + per[None, :]).ravel()


#: the index tables of recent calls are kept (layers call with one geometry again and again), up to
#: this many bytes in all; larger tables are rebuilt per call
PLAN_CACHE_BYTES = 64 << 20
_PLANS: dict[tuple, list] = {}
_PLANS_LOCK = threading.Lock()


def _table_bytes(calls: list) -> int:
    return sum(a.nbytes for grp, cols in calls for a in (*grp.values(), *cols.values()) if isinstance(a, np.ndarray))


def _cached(key: tuple, build) -> object:
    """The value ``build()`` returns with its size in bytes, from the cache when there (the cache
    holds at most PLAN_CACHE_BYTES; larger values are not kept)."""
    with _PLANS_LOCK:
        hit = _PLANS.get(key)
    if hit is not None:
        return hit[0]
    value, size = build()
    if size <= PLAN_CACHE_BYTES // 2:
        with _PLANS_LOCK:  # concurrent callers: one at a time evicts (oldest first) and inserts
            while _PLANS and sum(b for _, b in _PLANS.values()) + size > PLAN_CACHE_BYTES:
                _PLANS.pop(next(iter(_PLANS)))
            _PLANS[key] = (value, size)
    return value


def _table_bytes_estimate(geom: ConvGeometry, shapes: list, op: str, nr: int) -> int:
    """The plan's bytes for these GEMMs (:func:`gemm_shapes`): per set of phases 9 bytes per tap and
    panel of ``nr`` columns, the int32 offsets of gather panels (a strided conv), int64 column and
    weight tables."""
    tables = 0
    offsets = gathers(op, geom)  # strided columns: the panels keep their offsets
    for _, n, k, _ in shapes[::geom.groups]:  # the groups of a part share its tables
        taps = k // max(1, (geom.y_channels if op == "conv_transpose" else geom.x_channels) // geom.groups)
        tables += taps * -(-n // nr) * (9 + 4 * nr * offsets) + 8 * (n + k)
    return tables


#: a gathered B element against one copied in a run (a strided conv's panels): 0.4-0.5 ns against 0.14
GATHER_PACK = 6.0

#: seconds per (tap, column) to build a plan's tables (NumPy's coordinates, then C's): paid per call
#: by a plan too large for the cache
BUILD_S = 6e-9


def _compiled_plan(kind: str, build, geom: ConvGeometry, n: int, dtype: np.dtype):
    """The compiled core's plan (a capsule: its tables built and checked once in C) of ``kind``
    for this geometry, batch and dtype and the ISA in use, from the cache when there."""
    def make():
        tables = build(geom, n)
        plan = _native._ext.conv_plan(dtype.char, np.array(tables[0], np.int64), *tables[1:])
        return plan, _native._ext.conv_plan_info(plan)["bytes"]
    return _cached((kind, geom, n, _native.get_isa(), dtype.char), make)


def _wgrad_tables(geom: ConvGeometry, n: int):
    calls = _wgrad_plan(geom, n)
    return calls, _table_bytes(calls)


def _conv_plan(geom: ConvGeometry, n: int):
    """``conv`` for a batch of ``n`` as the compiled core's plan: one part (the columns are
    ``(sample, output position)``, the taps ``(input channel, tap)``), one GEMM per group."""
    nd, g = geom.nd, geom.groups
    cxg, cyg, K = geom.x_channels // g, geom.y_channels // g, math.prod(geom.kernel)
    xprod, yprod = math.prod(geom.x_shape), math.prod(geom.y_shape)
    xs = _strides(geom.x_shape)
    s, d, lo = (np.array(v, np.int64) for v in (geom.stride, geom.dilation, geom.pad_lo))
    shift = _grid(geom.kernel) * d - lo                         # x offset of each tap, per axis
    ygrid = _grid(geom.y_shape)
    part = (_columns(n, ygrid, geom.x_channels * xprod, xs, s, np.zeros(nd, np.int64)),
            np.tile(ygrid * s, (n, 1)), (shift * xs).sum(axis=1), shift,
            _columns(n, ygrid, geom.y_channels * yprod, _strides(geom.y_shape), np.ones(nd, np.int64),
                     np.zeros(nd, np.int64)),
            np.arange(cxg * K, dtype=np.int64), cxg)
    gemms = [(0, cyg, cxg * K, gi * cyg * cxg * K, gi * cxg * xprod, xprod, yprod, gi * cyg * yprod, None, None)
             for gi in range(g)]
    return geom.x_shape, [part], gemms, math.prod(geom.weight_shape), n * geom.x_channels * xprod, n * geom.y_channels * yprod


def _wgrad_plan(geom: ConvGeometry, n: int):
    """Tables of ``weight_grad`` for a batch of ``n``: one GEMM per group."""
    nd, g = geom.nd, geom.groups
    cxg, cyg, K = geom.x_channels // g, geom.y_channels // g, math.prod(geom.kernel)
    xprod, yprod = math.prod(geom.x_shape), math.prod(geom.y_shape)
    xs = _strides(geom.x_shape)
    s, d, lo = (np.array(v, np.int64) for v in (geom.stride, geom.dilation, geom.pad_lo))
    shift = _grid(geom.kernel) * d - lo                         # per tap, per axis
    ygrid = _grid(geom.y_shape)
    # depth q = (n, j): A reads Y[n, cy, j], B's rows read X[n, cx, j*s + shift]
    a_qoff = (np.arange(n, dtype=np.int64)[:, None] * geom.y_channels * yprod
              + np.arange(yprod, dtype=np.int64)[None, :]).ravel()
    qbase = _columns(n, ygrid, geom.x_channels * xprod, xs, s, np.zeros(nd, np.int64))
    qcoord = np.tile(ygrid * s, (n, 1))
    colcoord = np.tile(shift, (cxg, 1))                         # column = (cx, t), cx outer
    calls = []
    for gi in range(g):
        colbase = (np.repeat(np.arange(cxg, dtype=np.int64), K) + gi * cxg) * xprod + np.tile((shift * xs).sum(axis=1), cxg)
        calls.append((dict(m=cyg, a_qoff=a_qoff, a_rs=yprod, w_base=gi * cyg * yprod, qbase=qbase, qcoord=qcoord,
                           c_base=gi * cyg * cxg * K, c_rs=cxg * K),
                      dict(colbase=colbase, colcoord=colcoord, bounds=np.array(geom.x_shape, np.int64),
                           c_coloff=np.arange(cxg * K, dtype=np.int64))))
    return calls


def _phases(geom: ConvGeometry) -> tuple[int, ...]:
    """Phases per axis that have output cells: ``min(stride, x_shape)`` (a stride beyond the output
    leaves the other phases empty)."""
    return tuple(min(s, x) for s, x in zip(geom.stride, geom.x_shape))


def _phase_taps(k: int, s: int, d: int, lo: int, r: int) -> tuple[np.ndarray, np.ndarray]:
    """Taps ``t`` of phase ``r`` on one axis and their input shifts ``(r + lo - t*d) // s``."""
    t = np.arange(k, dtype=np.int64)
    keep = (r + lo - t * d) % s == 0
    return t[keep], (r + lo - t[keep] * d) // s


def _phase_offsets(geom: ConvGeometry, r: tuple[int, ...]):
    """Phase ``r``'s taps (flat kernel index) and their input shifts (``(taps, nd)``), and its cell counts."""
    nd = geom.nd
    per_axis = [_phase_taps(k, s, d, lo, ra) for k, s, d, lo, ra in
                zip(geom.kernel, geom.stride, geom.dilation, geom.pad_lo, r)]
    tg = _grid(tuple(len(t) for t, _ in per_axis))               # the phase's taps as indices per axis
    tap = np.stack([per_axis[a][0][tg[:, a]] for a in range(nd)], axis=1).reshape(-1, nd)
    off = np.stack([per_axis[a][1][tg[:, a]] for a in range(nd)], axis=1).reshape(-1, nd)
    counts = tuple(-(-(x - ra) // s) for x, ra, s in zip(geom.x_shape, r, geom.stride))
    return (tap * _strides(geom.kernel)).sum(axis=1), off, counts


def _transpose_plan(geom: ConvGeometry, n: int):
    """``conv_transpose`` for a batch of ``n`` as the compiled core's plan: one part per
    :func:`_phase_parts` part, its columns ``(sample, cell of the phase)``, its depth ``(input
    channel, tap)``; one GEMM per (part, group), whose rows are ``(output channel, phase)`` through
    row tables when the part has several phases; C is the phases' cells of the output. A part whose
    phases read the same taps reads the weight in place; a union of taps reads its re-laid copy
    (:func:`_weight_map`, rows after rows, dense)."""
    nd, g = geom.nd, geom.groups
    cxg, cyg, K = geom.x_channels // g, geom.y_channels // g, math.prod(geom.kernel)
    xprod, yprod = math.prod(geom.x_shape), math.prod(geom.y_shape)
    xs, ys = _strides(geom.x_shape), _strides(geom.y_shape)
    stride = np.array(geom.stride, np.int64)
    union = _union(geom)
    parts, gemms, w_at = [], [], 0
    for counts, off, phases in _phase_parts(geom):
        mgrid = _grid(counts)
        one, U, P = len(phases) == 1, len(off), len(phases)
        r0, tflat0, _ = phases[0]
        if union:    # the re-laid weight: (group, output channel, phase, channel, tap), dense
            a_qoff = np.arange(cyg * U, dtype=np.int64)
        else:
            a_qoff = (np.arange(cyg, dtype=np.int64)[:, None] * cxg * K + (tflat0 - (0 if one else tflat0[:1]))[None, :]).ravel()
        parts.append((_columns(n, mgrid, geom.y_channels * yprod, ys, np.ones(nd, np.int64), np.zeros(nd, np.int64)),
                      np.tile(mgrid, (n, 1)), (off * ys).sum(axis=1), off,
                      _columns(n, mgrid, geom.x_channels * xprod, xs, stride,
                               np.array(r0 if one and not union else (0,) * nd, np.int64)), a_qoff, cyg))
        ch = np.arange(cxg, dtype=np.int64)[:, None]
        cell = np.array([int((np.array(r, np.int64) * xs).sum()) for r, _, _ in phases], np.int64)
        if union:    # rows i = (output channel, phase), phase inner, each a dense row of the copy
            rows = (cxg * P, cyg * U, None, 0, (ch * xprod + cell).ravel())
            w_base = [w_at + gi * cxg * P * cyg * U for gi in range(g)]
            w_at += g * cxg * P * cyg * U
        elif one:    # rows i = output channel: plain strides
            rows, w_base = (cxg, K, None, xprod, None), [gi * cyg * cxg * K for gi in range(g)]
        else:        # rows i = (output channel, phase), phase inner
            first = np.array([t[0] if len(t) else 0 for _, t, _ in phases], np.int64)
            rows = (cxg * P, 0, (ch * K + first).ravel(), 0, (ch * xprod + cell).ravel())
            w_base = [gi * cyg * cxg * K for gi in range(g)]
        m, a_rs, a_rowoff, c_rs, c_rowoff = rows
        gemms += [(len(parts) - 1, m, a_rs, w_base[gi], gi * cyg * yprod, yprod, c_rs, gi * cxg * xprod,
                   a_rowoff, c_rowoff) for gi in range(g)]
    w_len = w_at if union else math.prod(geom.weight_shape)
    return geom.y_shape, parts, gemms, w_len, n * geom.y_channels * yprod, n * geom.x_channels * xprod


#: the plan builder of each operation native runs through the compiled plans
_BUILDERS = {"conv": _conv_plan, "conv_transpose": _transpose_plan}


def _cols_plan(geom: ConvGeometry, n: int):
    """``gemm``'s product ``cols[(cx, t), (b, m)] = sum_cy W[cy, cx, t] y[b, cy, m]`` for a batch of
    ``n`` as one implicit GEMM per group: ``geom`` is the 1x1 conv of :func:`cols_geometry` (input
    ``y``, output channels ``(cx, t)``), its C laid out as the col2im's ``(Cx*K, n*M)`` matrix (rows
    ``n*M`` apart, column ``(b, m)`` at ``b*M + m``) instead of a batch of images."""
    shape, parts, gemms, w_len, src_len, out_len = _conv_plan(geom, n)
    yprod = math.prod(geom.y_shape)
    nd = geom.nd
    colbase, colcoord, tapoff, tapcoord, _, aqoff, channels = parts[0]
    c_cols = _columns(n, _grid(geom.y_shape), yprod, _strides(geom.y_shape), np.ones(nd, np.int64),
                      np.zeros(nd, np.int64))
    rows = geom.y_channels // geom.groups
    gemms = [(pi, m, k, a_off, s_off, cs, n * yprod, gi * rows * n * yprod, e1, e2)
             for gi, (pi, m, k, a_off, s_off, cs, _, _, e1, e2) in enumerate(gemms)]
    return shape, [(colbase, colcoord, tapoff, tapcoord, c_cols, aqoff, channels)], gemms, w_len, src_len, out_len


@lru_cache(maxsize=256)
def cols_geometry(geom: ConvGeometry) -> ConvGeometry:
    """The 1x1 conv whose output channels are conv_transpose ``geom``'s ``(output channel, tap)``
    rows of ``cols`` and whose input is ``geom``'s input (``y``)."""
    from ..geometry import conv_geometry

    k = math.prod(geom.kernel)
    return conv_geometry((geom.x_channels * k, geom.y_channels // geom.groups, *(1,) * geom.nd), geom.y_shape,
                         1, 0, 1, geom.groups)


def cols_weight(w: np.ndarray, geom: ConvGeometry) -> np.ndarray:
    """conv_transpose weight ``(Cy, Cx/g, *k)`` as :func:`cols_geometry`'s ``(Cx*K, Cy/g, 1...)``:
    per group the ``(Cy/g, Cx/g*K)`` block transposed."""
    g, cy = geom.groups, geom.y_channels
    rows = (geom.x_channels // g) * math.prod(geom.kernel)
    wt = w.reshape(g, cy // g, rows).transpose(0, 2, 1)
    return np.ascontiguousarray(wt).reshape(g * rows, cy // g, *(1,) * geom.nd)


def cols_product(y: np.ndarray, w_cols: np.ndarray, geom: ConvGeometry, cols: np.ndarray) -> None:
    """``cols`` (the C-contiguous ``(Cx*K, n*M)`` matrix) = the product of :func:`_cols_plan` for the
    ``n`` samples of ``y`` (C-contiguous), on the compiled core."""
    g1 = cols_geometry(geom)
    plan = _compiled_plan("cols", _cols_plan, g1, y.shape[0], y.dtype)
    _native._ext.conv_run(plan, w_cols, y, cols, _threads(), None)

#: the indirection tables hold int32 offsets: a call's source stays below this many elements
_INDEX_LIMIT = 2**31


def _source_elements(geom: ConvGeometry, op: str) -> int:
    """Elements of one sample of B's source: the input of ``op`` (``y`` for conv_transpose, ``x`` for conv)."""
    if op == "conv_transpose":
        return geom.y_channels * math.prod(geom.y_shape)
    return geom.x_channels * math.prod(geom.x_shape)


def _output_shape(geom: ConvGeometry, op: str, batch: int) -> tuple[int, ...]:
    if op == "conv_transpose":
        return (batch, geom.x_channels, *geom.x_shape)
    return (batch, geom.y_channels, *geom.y_shape)


def _packed(plan, w: np.ndarray, op: str, geom: ConvGeometry, cache: dict | None) -> np.ndarray | None:
    """The weights packed for ``plan``'s GEMMs, kept in the weight owner's ``cache`` (computed on
    first use for this ISA and dtype); without a cache, None: the call packs them itself."""
    if cache is None:
        return None
    info = _native._ext.conv_plan_info(plan)
    key = ("native", op, geom, info["isa"], w.dtype.char, info["mr"], info["kc"])  # the packed layout's own
    packed = cache.get(key)
    if packed is None:
        packed = np.empty(info["a_len"], w.dtype)
        _native._ext.conv_pack(plan, w, packed, _threads())
        cache[key] = packed
    return packed


def _run(w: np.ndarray, src: np.ndarray, out: np.ndarray, grp: dict, cols: dict) -> None:
    """One implicit GEMM: A from ``w`` through ``grp``'s table, B gathered from ``src``, C into ``out``."""
    _native._ext.conv_gemm(w, src, out, grp["m"], grp["a_qoff"], grp["a_rs"], grp["w_base"], grp["qbase"],
                           grp["qcoord"], cols["colbase"], cols["colcoord"], cols["bounds"], cols["c_coloff"],
                           grp["c_rs"], grp["c_base"], 0.0, _threads())


@register
class Native(Algorithm):
    """Implicit GEMMs on the compiled core: conv, and conv_transpose phase by phase."""

    name = "native"

    def supports(self, geom: ConvGeometry, dtype: np.dtype, op: str) -> str | None:
        why = super().supports(geom, dtype, op) or core_refusal(dtype)
        if why:
            return why
        if geom.nd > 8:
            return "at most 8 spatial axes"
        per_sample = _source_elements(geom, op)
        if op != "weight_grad" and per_sample >= _INDEX_LIMIT:
            return f"one sample's input has {per_sample} elements; the indirection tables hold offsets below 2**31"
        return None

    weight_cache = True  # run() takes cache= (a weight owner's dict): the packed weights are kept there

    def run(self, op: str, a: np.ndarray, b: np.ndarray, geom: ConvGeometry, cache: dict | None = None) -> np.ndarray:
        """``op`` on ``(a, b)``; ``cache``: a dict kept by the owner of the weight ``b`` (a layer,
        ``ConvOperator``), where the weights packed for the GEMMs are kept between calls."""
        if op == "weight_grad":
            return self.weight_grad(a, b, geom)
        return self._gemms(op, a, b, geom, cache)

    def prepare(self, op: str, geom: ConvGeometry, batch: int, dtype: np.dtype) -> Prepared:
        """A repeated plain call (:mod:`tconv.core.callcache`): the plan looked up once, then one C call
        per call (``conv_run``, the weights packed in it) and the bias added."""
        dt = np.dtype(dtype)
        if op == "weight_grad" or batch == 0 or batch * _source_elements(geom, op) >= _INDEX_LIMIT:
            return super().prepare(op, geom, batch, dtype)
        plan = _compiled_plan(op, _BUILDERS[op], geom, batch, dt)
        out_shape, bias_shape = _output_shape(geom, op, batch), (1, -1) + (1,) * geom.nd
        run = _native._ext.conv_run
        empty = output_empty if math.prod(out_shape) * dt.itemsize >= RECYCLE_MIN else np.empty

        wmap = _op_weight_map(geom, op)

        def prepared(a: np.ndarray, b: np.ndarray, bias: np.ndarray | None) -> np.ndarray:
            out = empty(out_shape, dt)
            run(plan, b if wmap is None else _plan_weight(b, wmap), a, out, _threads(), None)
            if bias is not None:
                out += bias.reshape(bias_shape)
            return out

        return prepared

    def conv(self, x: np.ndarray, w: np.ndarray, geom: ConvGeometry) -> np.ndarray:
        return self._gemms("conv", x, w, geom, None)

    def conv_transpose(self, y: np.ndarray, w: np.ndarray, geom: ConvGeometry) -> np.ndarray:
        return self._gemms("conv_transpose", y, w, geom, None)

    def _gemms(self, op: str, src: np.ndarray, w: np.ndarray, geom: ConvGeometry, cache: dict | None) -> np.ndarray:
        """The op's plan run on the compiled core, the batch in chunks whose source stays below 2**31
        elements (the indirection tables are int32)."""
        src = np.ascontiguousarray(src)
        w = np.ascontiguousarray(w, dtype=src.dtype)
        out = output_empty(_output_shape(geom, op, src.shape[0]), src.dtype)
        if out.size == 0:
            return out
        build = _BUILDERS[op]
        w = _plan_weight(w, _op_weight_map(geom, op))
        chunk = max(1, (_INDEX_LIMIT - 1) // max(1, _source_elements(geom, op)))
        for n0 in range(0, src.shape[0], chunk):
            part_src, part_out = src[n0:n0 + chunk], out[n0:n0 + chunk]
            plan = _compiled_plan(op, build, geom, part_src.shape[0], src.dtype)
            _native._ext.conv_run(plan, w, part_src, part_out, _threads(), _packed(plan, w, op, geom, cache))
        return out

    def weight_grad(self, y_side: np.ndarray, x_side: np.ndarray, geom: ConvGeometry) -> np.ndarray:
        dtype = np.result_type(y_side, x_side)
        y = np.ascontiguousarray(y_side, dtype=dtype)
        x = np.ascontiguousarray(x_side, dtype=dtype)
        gw = np.empty(geom.weight_shape, dtype)
        if y.shape[0] == 0 or math.prod(geom.y_shape) == 0:
            gw[...] = 0
            return gw
        for grp, cols in _cached(("weight_grad", geom, y.shape[0]), lambda: _wgrad_tables(geom, y.shape[0])):
            _run(y, x, gw, grp, cols)
        return gw

    def cost(self, geom: ConvGeometry, batch: int, itemsize: int, op: str) -> float:
        """Seconds, from the op's GEMMs (:func:`gemm_shapes`): the register tiles' flops (a tile the
        channel counts leave partly empty counts whole) at the measured rate, the B panels packed
        through the tables, A packed once, C scattered once where the columns are not consecutive,
        and a cost per GEMM and per call; the parallel parts scaled by the threads (:data:`_COSTS`)."""
        kern = _native.info()["kernels"]["float32" if itemsize == 4 else "float64"]
        isa, threads = _native.get_isa(), _threads()
        c = _COSTS.get(isa, _COSTS["generic"])
        mr, nr = kern["mr"], kern["nr"]
        par = 0.0
        shapes = gemm_shapes(geom, max(batch, 1), op)
        # B's elements: a strided conv's panels are gathers (measured ~3x a run's copy, float64 included)
        if op == "weight_grad":  # a depth run per y row: short rows pay its set-up (WGRAD_RUN_CELLS) per row
            pack_b = WGRAD_PACK_B if max(geom.stride) == 1 else WGRAD_PACK_B_STRIDED
            pack_b *= 1 + WGRAD_RUN_CELLS / max(1, geom.y_shape[-1])
        else:
            pack_b = c["pack_b"] * (GATHER_PACK if gathers(op, geom) else 1)
        for m, n, k, buffered in shapes:
            col_tiles = math.ceil(n / nr)
            tiles = math.ceil(m / mr) * col_tiles
            rate = c["rate"] * 4 / itemsize
            in_place = reads_b_in_place(op, geom, m, kern)
            if in_place:  # B read where it lies (gemm.c's taps mode): no packing, a slower kernel
                rate *= TAPS_RATE if m >= mr else TAPS_RATE_SHORT
            par += 2.0 * row_slots(m, kern) * col_tiles * nr * k / rate + tiles * -(-k // kern["kc"]) * c["tile"]
            par += (k * n * pack_b * (not in_place) + m * k * c["pack_a"]
                    + m * n * (c["scatter"] * buffered + c["out"])) * itemsize / 4
        cost = par / thread_speedup(threads, par) + c["gemm"] * len(shapes) + c["call"]
        if op != "weight_grad" and _table_bytes_estimate(geom, shapes, op, nr) > PLAN_CACHE_BYTES // 2:
            channels = max(1, (geom.y_channels if op == "conv_transpose" else geom.x_channels) // geom.groups)
            cost += BUILD_S * sum(n * (k // channels) for _, n, k, _ in shapes[::geom.groups])  # rebuilt per call
        return cost

    def describe(self, geom: ConvGeometry, batch: int, itemsize: int, op: str) -> str:
        """The GEMMs (rows x columns x depth; several of one shape counted once) and the ISA."""
        shapes = gemm_shapes(geom, max(batch, 1), op)
        counts: dict = {}
        for m, n, k, _ in shapes:
            counts[(m, n, k)] = counts.get((m, n, k), 0) + 1
        text = ", ".join(f"{c}x " * (c > 1) + f"{m}x{n}x{k}" for (m, n, k), c in counts.items())
        return f"GEMM {text} on {_native.get_isa()}"

    def scratch_bytes(self, geom: ConvGeometry, batch: int, itemsize: int, op: str) -> int:
        """Bytes beyond the output: the plan's tables (conv, conv_transpose: per set of phases 9 bytes
        per tap and panel of columns, the int32 offsets of gather panels (a strided conv), the int64
        column and weight tables; weight_grad: int64 tables of 2 + nd entries per column and depth index),
        the weights packed once (about their size), C's buffer (rows x NC) and B's panel (KC x NC)."""
        kern = _native.info()["kernels"]["float32" if itemsize == 4 else "float64"] if _native.available() else \
            {"mr": 16, "nr": 32, "mc": 512, "kc": 256, "nc": 1024}
        shapes = gemm_shapes(geom, max(batch, 1), op)
        panel = kern["kc"] * kern["nc"] * itemsize
        if op == "weight_grad":
            m, n, k, _ = shapes[0]
            return int(8 * (2 + geom.nd) * (n + k) + panel + _threads() * kern["mc"] * kern["kc"] * itemsize)
        tables = _table_bytes_estimate(geom, shapes, op, kern["nr"])
        packed = sum(-(-m // kern["mr"]) * kern["mr"] * k for m, _, k, _ in shapes) * itemsize
        cbuf = max((m * min(n, kern["nc"]) for m, n, _, buffered in shapes if buffered), default=0) * itemsize
        return int(tables + packed + cbuf + panel)
