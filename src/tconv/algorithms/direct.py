"""``direct``: fused numba loops for few channels and depthwise layers.

Each output row is computed by one thread: gather over the outer axes, then along the last
axis one phase (``p mod stride``) at a time, so every multiply-add runs over contiguous
memory. No scratch memory beyond one row. Threads: numba's pool, except right after one
of tconv's GEMMs (see :func:`tconv.algorithms._kernels.free_threads`). Best when
``C_in * C_out / groups`` is small (single-channel images, depthwise layers), where a
GEMM would have a degenerate shape. Up to 3 spatial axes.
"""

from __future__ import annotations

import math

import numpy as np

from ._base import Algorithm, register
from ._kernels import as3, direct_c3, direct_t3, free_threads, numba_threads, params3

# cost model constants, fitted on the benchmark suite (2 threads, float32): vectorised
# multiply-adds, a fixed cost per inner loop, a cost per (strided) output write, and the
# memory bandwidth that bounds layers whose multi-channel input does not fit in L2
_MACS_PER_S = 4.0e10
_LOOP_S = 1.7e-9
_OUT_S = 2.8e-10
_MEM_BYTES_PER_S = 3.0e10
_L2_BYTES = 1 << 20


def direct_cost(geom, batch: int, itemsize: int) -> float:
    """Estimated seconds of the direct transposed convolution (see the constants above)."""
    macs = geom.macs(batch)
    inner = max(1, min(geom.y_shape[-1], -(-geom.x_shape[-1] // geom.stride[-1])))
    outputs = batch * geom.x_channels * math.prod(geom.x_shape)
    t = macs / _MACS_PER_S + (macs / inner) * _LOOP_S + outputs * _OUT_S
    cyg = geom.y_channels // geom.groups
    if cyg > 1 and cyg * math.prod(geom.y_shape) * itemsize > _L2_BYTES:
        # every output channel re-reads the sample's input: from memory once it leaves L2
        t += macs * itemsize / _MEM_BYTES_PER_S
    return t + 2e-5


@register
class Direct(Algorithm):
    name = "direct"
    summary = "fused numba loops (gather rows, multiply-add along the last axis); no scratch"

    def supports(self, geom, dtype):
        if geom.nd > 3:
            return "numba kernels cover 1 to 3 spatial axes"
        return None

    def cost(self, geom, batch, itemsize):
        return direct_cost(geom, batch, itemsize)

    def conv_transpose(self, y, w, geom):
        nd = geom.nd
        out = np.empty((y.shape[0], geom.x_channels, *geom.x_shape), dtype=y.dtype)
        with numba_threads(free_threads()):
            direct_t3(as3(np.ascontiguousarray(y), nd), as3(np.ascontiguousarray(w), nd), as3(out, nd),
                      geom.groups, *params3(geom))
        return out

    def conv(self, x, w, geom):
        nd = geom.nd
        out = np.empty((x.shape[0], geom.y_channels, *geom.y_shape), dtype=x.dtype)
        with numba_threads(free_threads()):
            direct_c3(as3(np.ascontiguousarray(x), nd), as3(np.ascontiguousarray(w), nd), as3(out, nd),
                      geom.groups, *params3(geom))
        return out
