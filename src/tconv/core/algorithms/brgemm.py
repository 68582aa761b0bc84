"""``brgemm``: conv and conv_transpose as batch-reduce GEMMs over a channels-last copy of the input.

The compiled core (``tconv/core/_native/src/brgemm.c``; oneDNN's brgemm convolutions and ONNX
Runtime's NCHWc kernels are the same idea). Per axis, ``conv`` is one phase of cells
``out[q] = sum_t in[q*s + t*d - lo] w[t]`` and ``conv_transpose`` with stride ``s`` is ``s`` phases
(XNNPACK's deconvolution): output cell ``r + s*q`` receives the taps with ``(r + lo - t*d) % s == 0``
from input cell ``q + (r + lo - t*d) // s``. The input is copied once, channels last and zero padded
to every cell a tap reads; then a register tile of MR output positions x NR output channels reads
its MR rows where they lie in the copy (one broadcast per position and (tap, channel), the channels
contiguous) against the weights, packed once per call as (tap, channel) x NR. ``native`` instead
copies every input cell once per tap into its B panels; here the copy is made once and the weights
are the streamed operand, which pays where the channels are many and the kernel has several taps
(the dilated and ResNet-style 3x3 layers). Each output cell is written once, by one thread; float32
sums run in float32 as the GEMMs'. The weight gradient is not implemented (``native``'s GEMM over
the positions is the same product). Zero padding is multiplied as PyTorch's convolutions do, so
non-finite weights give PyTorch's NaNs. A repeated call runs a prepared plan (the phases' tables built
once, as ``direct``'s), and a weight owner (a layer, ``ConvOperator``) keeps the packed weights.

The cost model (:data:`_COSTS`) counts the register tiles' multiply-adds (whole tiles: a channel
count that leaves a panel partly empty counts full), the tile calls, the copy and the packed
weights, fitted per ISA to single-thread times; threads as ``native``'s.
"""

from __future__ import annotations

import math

import numpy as np

from ...errors import TconvError
from .. import _native
from ..geometry import ConvGeometry
from ..machine import threads_for
from ..outputs import empty as output_empty
from ._base import Algorithm, Prepared, kept_plan, register
from ._kernels import as3, params3
from .direct import compiled_plan
from .native import core_refusal, thread_speedup

#: brgemm.c's TC_BRGEMM_MAX_PHASES: the most output phases of a conv_transpose (per axis the stride or,
#: if smaller, the output's extent: a phase past the output has no cell; multiplied)
MAX_PHASES = 1 << 20
#: brgemm.c's BR_ROW_TILES: a phase's rows of at least this many tiles keep each tile in one row
ROW_TILES = 4
#: brgemm.c's BR_COPY_BYTES: samples are copied in chunks of about this many bytes (at least one)
COPY_BYTES = 32 << 20

#: per ISA: the register tiles' float32 FLOP/s on one thread (float64 at half the rate), and seconds
#: per tile call, per loop over the channels of one tap, per element of the channels-last copy (while
#: a chunk's copy fits the caches, else ``copy_mem``), per weight element packed and per output cell
#: of a strided conv_transpose (:func:`cost_terms`), float32 (the ``_f64`` ones float64), and per call.
#: ``call``: a 1x1 single-channel call through ``BRGemm.conv_transpose`` (the prepared plan) takes 4.6 us on
#: Zen 3 (``direct`` 6.3, ``native`` 20.8); the plain path before plans took 40 us.
#: AVX2: non-negative least squares (relative error) on one-thread times of 20 layers per dtype
#: (``TCONV_NUM_THREADS=1 python benchmarks/calibrate_brgemm.py [--dtype float64]``, 20 layers then, 2-core AMD Zen 3,
#: 2026-12-03; float32 the mean of two fits): estimates within 0.74-1.20x of the times in float32,
#: 0.52-1.28x in float64 (the least: a 3-D stride-2 conv whose copy runs through memory); float64's tap
#: loop set to float32's (its fit gave 0.8 ns, and a single-channel 64^3 5x5x5 float64 conv, a tap loop per
#: channel, then ran 1.4x slower than ``direct`` where it was chosen). Generic: :data:`_GENERIC`.
#: AVX-512 is not measured yet: it has no entry, so the cost there is infinite and ``auto`` never
#: picks ``brgemm`` (``method="brgemm"`` runs it, and the tests run it on every ISA) until a session on such a
#: host fits it (``native`` reads B in place on AVX-512, where it was fitted)
_AVX2 = dict(rate=99.5e9, tile=45e-9, loop=5.5e-9, copy=0.7e-9, copy_mem=2.8e-9, wpack=1.3e-9, scatter=1.1e-9,
             tile_f64=52e-9, loop_f64=5.5e-9, copy_f64=0.2e-9, copy_mem_f64=3.2e-9, wpack_f64=2.3e-9,
             scatter_f64=3.3e-9, call=5e-6)
#: Generic (2026-12-04, the same Zen 3, ``TCONV_ISA=generic``, the 23 layers with three small calls): the scalar
#: tile runs float64 at float32's rate (``rate_f64``); estimates within 0.68-1.13x of the times in float32,
#: 0.82-1.16x in float64; the call 4.8 us (float32's fit) and 7.0 (float64's), set to 6.
_GENERIC = dict(rate=6.15e9, rate_f64=6.13e9, tile=0.0, loop=9.0e-9, copy=5.05e-9, copy_mem=4.7e-9, wpack=22.7e-9,
                scatter=3.2e-9, tile_f64=17.4e-9, loop_f64=0.5e-9, copy_f64=0.0, copy_mem_f64=4.74e-9,
                wpack_f64=0.07e-9, scatter_f64=0.0, call=6e-6)
_COSTS = {"avx2": _AVX2, "generic": _GENERIC}


def phases(geom: ConvGeometry) -> int:
    """conv_transpose's output phases (``brgemm.c``'s ``output_phases``)."""
    return math.prod(min(s, max(n, 1)) for s, n in zip(geom.stride, geom.x_shape))


def _axis_phases(geom: ConvGeometry, op: str, ax: int) -> list[tuple[int, int]]:
    """``(cells, taps)`` of each phase of axis ``ax`` (``conv``: one phase of every tap)."""
    k, s, d, lo = geom.kernel[ax], geom.stride[ax], geom.dilation[ax], geom.pad_lo[ax]
    if op == "conv":
        return [(geom.y_shape[ax], k)]
    out = geom.x_shape[ax]
    return [(-(-(out - r) // s), sum((r + lo - t * d) % s == 0 for t in range(k))) for r in range(min(s, out))]


def split_tiles(cells: int, mr: int, ms: int) -> tuple[int, int]:
    """``(tiles, rows computed)`` of a run of ``cells`` consecutive cells as full tiles of ``mr`` rows then
    short ones of ``ms`` (0: none), split so that the tiles compute the fewest rows, then are the fewest
    (``brgemm.c``'s ``full_tiles``: R1's rows of 56 cells on AVX2 as 8 x 6 + 2 x 4 rather than 10 x 6)."""
    best = (-(-cells // mr) * mr, -(-cells // mr))
    ns = 1
    while ms and ns * ms % mr:  # past lcm(mr, ms) rows full tiles do as well
        nf = -(-(cells - ns * ms) // mr) if cells > ns * ms else 0
        nsh = -(-max(0, cells - nf * mr) // ms)
        best = min(best, (nf * mr + nsh * ms, nf + nsh))
        ns += 1
    return best[1], best[0]


def tile_shape(geom: ConvGeometry, batch: int, op: str, mr: int, nr: int, ms: int = 0) -> tuple[int, int, int]:
    """``(tile calls, multiply-add slots, tap loops)`` of the call: per phase, tiles of MR consecutive
    cells of the phase (within a long row, its last cells in short tiles of ``ms`` rows where that
    computes fewer rows: :func:`split_tiles`; across short rows), one per panel of NR output channels, each
    ``rows * NR * taps * channels`` slots in one loop over the channels per tap."""
    g = geom.groups
    cin = (geom.y_channels if op == "conv_transpose" else geom.x_channels) // g
    cout = (geom.x_channels if op == "conv_transpose" else geom.y_channels) // g
    lead = [(1, 1)]
    for ax in range(geom.nd - 1):
        lead = [(a * c, b * t) for a, b in lead for c, t in _axis_phases(geom, op, ax)]
    phases = [(rows, q2, taps * t) for rows, taps in lead for q2, t in _axis_phases(geom, op, geom.nd - 1)]
    tiles = slots = loops = 0
    for rows, q2, taps in phases:  # a long row's tiles stay in it (brgemm.c's BR_ROW_TILES)
        if q2 >= ROW_TILES * mr:
            n, m = split_tiles(q2, mr, ms)
            n, m = rows * n, rows * m
        else:  # tiles across the rows, full ones only
            n = -(-(rows * q2) // mr)
            m = n * mr
        tiles += n
        loops += n * taps
        slots += m * nr * taps * cin
    per = batch * g * -(-cout // nr)
    return tiles * per, slots * per, loops * per


def copy_cells(geom: ConvGeometry, op: str) -> int:
    """Cells of one sample's channels-last copy (the input cells the taps read, per axis)."""
    cells = 1
    for ax in range(geom.nd):
        k, d = geom.kernel[ax], geom.dilation[ax]
        if op == "conv":
            cells *= max(1, (geom.y_shape[ax] - 1) * geom.stride[ax] + (k - 1) * d + 1)
        else:  # a phase's cells and the reach of its taps, in input cells
            s = geom.stride[ax]
            cells *= max(1, -(-geom.x_shape[ax] // s) + -(-(k - 1) * d // s))
    return cells


def chunk_copy(geom: ConvGeometry, batch: int, itemsize: int, op: str) -> tuple[int, int]:
    """``(elements, samples)``: one sample's copy and the samples copied at a time (brgemm.c's chunks)."""
    per = copy_cells(geom, op) * (geom.y_channels if op == "conv_transpose" else geom.x_channels)
    return per, max(1, min(max(batch, 1), COPY_BYTES // max(per * itemsize, 1)))


#: a chunk's copy larger than this is written to and read back from memory (the ``copy_mem`` rate)
COPY_CACHED = 8 << 20


def cost_terms(geom: ConvGeometry, batch: int, itemsize: int, op: str) -> dict:
    """What :meth:`BRGemm.cost` charges for: the register tiles' multiply-add slots (``slots``), tile calls
    (``tile``), loops over the channels per tap (``loop``), elements copied (``copy`` while a chunk's copy
    stays within :data:`COPY_CACHED`, else ``copy_mem``), weight elements packed (``wpack``) and a
    strided conv_transpose's output cells (``scatter``: its phases' cells lie a stride apart, so each
    phase writes into every line of the output)."""
    kern = _native.info()["kernels"]["float32" if itemsize == 4 else "float64"]
    batch = max(batch, 1)
    tiles, slots, loops = tile_shape(geom, batch, op, kern["mr"], kern["nr"], kern["short"][0])
    per, chunk = chunk_copy(geom, batch, itemsize, op)
    cached = chunk * per * itemsize <= COPY_CACHED
    scatter = op == "conv_transpose" and math.prod(geom.stride) > 1
    return {"slots": slots, "tile": tiles, "loop": loops, "copy": batch * per * cached,
            "copy_mem": batch * per * (not cached), "wpack": math.prod(geom.weight_shape),
            "scatter": batch * geom.x_channels * math.prod(geom.x_shape) * scatter}


def _out_channels(geom: ConvGeometry, op: str) -> int:
    """Output channels per group of ``op``."""
    return (geom.x_channels if op == "conv_transpose" else geom.y_channels) // geom.groups


def pack_key(op: str, geom: ConvGeometry, isa: str | None, dtype: np.dtype) -> tuple:
    """What fixes the packed weights' layout (``brgemm.c``'s ``pack_block``): the op, the weight's shape,
    groups, strides, dilations and low pads (each phase's taps), conv_transpose's phases per axis (the
    stride, or the output's extent where smaller), the ISA (its register tile) and the dtype; not the
    input's extents, so a layer fed images of several sizes keeps one packed copy."""
    ph = tuple(min(s, max(n, 1)) for s, n in zip(geom.stride, geom.x_shape)) if op == "conv_transpose" else ()
    return ("brgemm", op, geom.weight_shape, geom.groups, geom.stride, geom.dilation, geom.pad_lo, ph, isa,
            np.dtype(dtype).char)


#: weights of fewer elements are packed on the caller alone
PACK_ALONE = 1 << 16


def packed_weights(plan, w: np.ndarray, key: tuple, cache: dict) -> np.ndarray:
    """The weight ``w`` packed for ``plan``'s tiles (``brgemm_pack``), kept in the weight owner's ``cache``
    under ``key`` (the op, geometry, ISA and dtype fix the layout; the batch does not)."""
    packed = cache.get(key)
    if packed is None:
        packed = np.empty(_native._ext.brgemm_packed_len(plan), w.dtype)
        _native._ext.brgemm_pack(plan, w, packed, 1 if w.size < PACK_ALONE else 0)
        cache[key] = packed
    return packed


@register
class BRGemm(Algorithm):
    """conv and conv_transpose on the compiled core's channels-last batch-reduce GEMMs."""

    name = "brgemm"
    operations = ("conv", "conv_transpose")

    def supports(self, geom: ConvGeometry, dtype: np.dtype, op: str) -> str | None:
        why = super().supports(geom, dtype, op) or core_refusal(dtype)
        if why:
            return why
        if geom.nd > 3:
            return "1 to 3 spatial axes"
        if op == "conv_transpose" and phases(geom) > MAX_PHASES:
            return (f"stride {geom.stride}, output {geom.x_shape}: at most {MAX_PHASES} output phases (per axis "
                    f"the stride or, if smaller, the output's extent, multiplied)")
        per, _ = chunk_copy(geom, 1, 8, op)
        blocks = (phases(geom) if op == "conv_transpose" else 1) * geom.groups * -(-_out_channels(geom, op) // 8)
        if per * 8 >= 2**60 or math.prod(geom.weight_shape) * 32 * 8 >= 2**60 or blocks >= 2**31:
            return (f"kernel {geom.kernel}, dilation {geom.dilation}, channels {geom.x_channels}/{geom.y_channels}: "
                    "its channels-last copy of a sample or its packed weights pass 2**60 bytes, or its weight "
                    "blocks 2**31 (brgemm.c's limits)")
        return None

    weight_cache = True  # run() takes cache= (a weight owner's dict): the packed weights are kept there

    def __init__(self) -> None:
        self._plans: dict = {}

    def run(self, op: str, a: np.ndarray, b: np.ndarray, geom: ConvGeometry, cache: dict | None = None) -> np.ndarray:
        """``op`` on ``(a, b)``; ``cache``: a dict kept by the owner of the weight ``b`` (a layer,
        ``ConvOperator``), where the weights packed for the tiles are kept between calls (per ISA and dtype)."""
        if cache is None or op not in self.operations:
            return super().run(op, a, b, geom)
        return self._call(op, a, b, geom, cache)

    def _call(self, op: str, a: np.ndarray, w: np.ndarray, geom: ConvGeometry, cache: dict | None = None) -> np.ndarray:
        a = np.ascontiguousarray(a)
        w = np.ascontiguousarray(w, dtype=a.dtype)
        prepared = kept_plan(self._plans, self.prepare, op, a, w, geom)
        if prepared is not None:
            return prepared(a, w, None, cache)
        shape = (geom.x_channels, *geom.x_shape) if op == "conv_transpose" else (geom.y_channels, *geom.y_shape)
        out = output_empty((a.shape[0], *shape), a.dtype)
        if out.size:
            _native.brgemm(op, as3(a, geom.nd), as3(w, geom.nd), as3(out, geom.nd), (geom.groups, *params3(geom)),
                           threads=threads_for(geom.macs(a.shape[0])))  # small calls on the caller alone
        return out

    def conv(self, x: np.ndarray, w: np.ndarray, geom: ConvGeometry) -> np.ndarray:
        return self._call("conv", x, w, geom)

    def conv_transpose(self, y: np.ndarray, w: np.ndarray, geom: ConvGeometry) -> np.ndarray:
        return self._call("conv_transpose", y, w, geom)

    def prepare(self, op: str, geom: ConvGeometry, batch: int, dtype: np.dtype) -> Prepared:
        """The compiled call with its tables built once (``direct_plan(..., brgemm=True)``: the phases, their
        taps' offsets in the copy, the work units): a call allocates the output and makes one C call
        (``direct_run``), which adds the bias; with a weight owner's ``cache`` (4th argument) the packed
        weights are taken from it (packed on first use, :func:`packed_weights`). Threads as :meth:`run`."""
        dt = np.dtype(dtype)
        if op not in self.operations or batch == 0:
            return super().prepare(op, geom, batch, dtype)
        why = self.supports(geom, dt, op)
        if why:
            raise TconvError(f"method='brgemm' cannot run {op} here: {why}")
        plan, out_shape, empty, threads = compiled_plan(op, geom, batch, dt, 2 if dt == np.float64 else 0, brgemm=True)
        run, key = _native._ext.direct_run, pack_key(op, geom, _native.get_isa(), dt)

        def prepared(a: np.ndarray, b: np.ndarray, bias: np.ndarray | None, cache: dict | None = None) -> np.ndarray:
            out = empty(out_shape, dt)
            packed = None if cache is None else packed_weights(plan, b, key, cache)
            run(plan, a, b, out, bias, threads(), packed)
            return out

        return prepared

    def cost(self, geom: ConvGeometry, batch: int, itemsize: int, op: str) -> float:
        """Seconds: :func:`cost_terms` times the ISA's constants (:data:`_COSTS`), scaled by the threads as
        ``native``'s (two threads ran the copies through memory and the scattered phases of L7, L8 and
        L3's adjoint 1.9-2x faster than one)."""
        c = _COSTS.get(_native.get_isa())
        if c is None:  # not measured on this ISA: auto leaves it
            return math.inf
        terms = cost_terms(geom, batch, itemsize, op)
        suffix = "" if itemsize == 4 else "_f64"
        rate = c["rate"] if itemsize == 4 else c.get("rate_f64", c["rate"] / 2)
        par = 2.0 * terms["slots"] / rate + sum(
            terms[k] * c[k + suffix] for k in ("tile", "loop", "copy", "copy_mem", "wpack", "scatter"))
        return par / thread_speedup(seconds=par) + c["call"]

    def scratch_bytes(self, geom: ConvGeometry, batch: int, itemsize: int, op: str) -> int:
        """The copy of one chunk of samples (about :data:`COPY_BYTES`, at least one sample) and the
        packed weights (the weight, its output channels rounded up to whole panels)."""
        nr = _native.info()["kernels"]["float32" if itemsize == 4 else "float64"]["nr"] if _native.available() else 32
        per, chunk = chunk_copy(geom, batch, itemsize, op)
        cout = _out_channels(geom, op)
        wpk = math.prod(geom.weight_shape) // max(cout, 1) * (-(-cout // nr) * nr)
        return int((chunk * per + wpk) * itemsize)

    def describe(self, geom: ConvGeometry, batch: int, itemsize: int, op: str) -> str:
        kern = _native.info()["kernels"]["float32" if itemsize == 4 else "float64"]
        n = phases(geom) if op == "conv_transpose" else 1
        note = "" if _native.get_isa() in _COSTS else " (its costs are not measured on this ISA: auto leaves it)"
        return (f"{n} phase{'s' * (n > 1)}, tiles {kern['mr']} positions x {kern['nr']} channels "
                f"on a channels-last copy, {_native.get_isa()}{note}")


__all__ = ["BRGemm", "tile_shape", "copy_cells", "chunk_copy", "cost_terms", "phases", "packed_weights", "pack_key"]
