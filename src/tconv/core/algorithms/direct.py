"""``direct``: fused numba loops for few channels and depthwise layers.

Each output row is computed by one thread: gather over the outer axes, then along the last
axis one phase (``p mod stride``) at a time, so every multiply-add runs over contiguous
memory. No scratch memory beyond one row. Threads: tconv's pool, as many as
:func:`tconv.core.machine.threads_for` gives for the multiply-adds. Best when
``C_in * C_out / groups`` is small (single-channel images, depthwise layers), where a
GEMM would have a degenerate shape. Up to 3 spatial axes; float32 sums of many terms
accumulate in float64 (:func:`~tconv.core.algorithms._kernels.accumulator`).
"""

from __future__ import annotations

import math

import numpy as np

from ..machine import parallel_rows, threads_for
from ..taps import poison_padded_products
from ._base import Algorithm, register
from ._kernels import accumulator, as3, direct_c3, direct_t3, direct_wgrad3, params3

# cost model constants, fitted on the benchmark suite (2 threads, float32): vectorised
# multiply-adds, a fixed cost per inner loop, a cost per (strided) output write, and the
# memory bandwidth that bounds layers whose multi-channel input does not fit in L2
_MACS_PER_S = 4.0e10
_LOOP_S = 1.7e-9
_OUT_S = 2.8e-10
_MEM_BYTES_PER_S = 3.0e10
_L2_BYTES = 1 << 20
_CALL_S = 2e-5
#: measured floors (2 cores, benchmarks/planner-accuracy.md L5/L6 and benchmarks/planner_fft.py): the
#: gather-style conv and weight_grad loops (float64 accumulators for long float32 sums, strided
#: loads) and strided or long-kernel conv_transpose never run faster than these multiply-adds/s
_FLOOR_MACS_PER_S = {"conv": 3e9, "conv_transpose": 1e10, "weight_grad": 2.5e9}
_FLOOR_STRIDED_T_MACS_PER_S = 5e9


def direct_cost(geom, batch: int, itemsize: int, op: str = "conv_transpose") -> float:
    """Estimated seconds of one direct operation (see the constants above)."""
    macs = geom.macs(batch)
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
    if reread * itemsize > _L2_BYTES and geom.y_channels * geom.x_channels // geom.groups > 1:
        t += macs * itemsize / _MEM_BYTES_PER_S  # re-reads from memory once they leave L2
    floor = _FLOOR_STRIDED_T_MACS_PER_S if op == "conv_transpose" and max(geom.stride) > 1 else _FLOOR_MACS_PER_S[op]
    return max(t, macs / floor) + _CALL_S


@register
class Direct(Algorithm):
    name = "direct"

    def supports(self, geom, dtype, op):
        if geom.nd > 3:
            return "numba kernels cover 1 to 3 spatial axes"
        return super().supports(geom, dtype, op)

    def cost(self, geom, batch, itemsize, op):
        return direct_cost(geom, batch, itemsize, op)

    def conv_transpose(self, y, w, geom):
        nd = geom.nd
        out = np.empty((y.shape[0], geom.x_channels, *geom.x_shape), dtype=y.dtype)
        rows = out.shape[0] * geom.x_channels * math.prod(geom.x_shape[:-1])
        acc = accumulator(y.dtype, geom.y_channels // geom.groups * math.prod(geom.kernel))
        parallel_rows(direct_t3, rows, threads_for(geom.macs(y.shape[0])),
                      as3(np.ascontiguousarray(y), nd), as3(np.ascontiguousarray(w), nd), as3(out, nd), acc,
                      geom.groups, *params3(geom))
        return out

    def conv(self, x, w, geom):
        nd = geom.nd
        out = np.empty((x.shape[0], geom.y_channels, *geom.y_shape), dtype=x.dtype)
        rows = out.shape[0] * geom.y_channels * math.prod(geom.y_shape[:-1])
        acc = accumulator(x.dtype, geom.x_channels // geom.groups * math.prod(geom.kernel))
        parallel_rows(direct_c3, rows, threads_for(geom.macs(x.shape[0])),
                      as3(np.ascontiguousarray(x), nd), as3(np.ascontiguousarray(w), nd), as3(out, nd), acc,
                      geom.groups, *params3(geom))
        return poison_padded_products(out, w, geom)

    def weight_grad(self, y_side, x_side, geom):
        """One (channel, channel, tap) weight entry per work item, a sum of contiguous dot
        products (float64 accumulators); no scratch."""
        nd = geom.nd
        gw = np.empty(geom.weight_shape, dtype=y_side.dtype)
        parallel_rows(direct_wgrad3, math.prod(geom.weight_shape), threads_for(geom.macs(y_side.shape[0])),
                      as3(np.ascontiguousarray(y_side), nd), as3(np.ascontiguousarray(x_side), nd), as3(gw, nd),
                      geom.groups, *params3(geom))
        return gw
