"""``direct``: fused numba loops for few channels and depthwise layers.

Each output row is computed by one thread: gather over the outer axes, a strided
multiply-add along the last axis. No scratch memory at all. Best when
``C_in * C_out / groups`` is small (single-channel images, depthwise layers), where a
GEMM would have a degenerate shape. Up to 3 spatial axes.
"""

from __future__ import annotations

import numpy as np

from ._base import Algorithm, register
from ._kernels import as3, direct_c3, direct_t3, pad3

# reference-machine rates (multiply-accumulates per second, 2 threads), fitted on the
# benchmark layers: the loop is scalar-ish for stride > 1 along the last axis
_MACS_PER_S_UNIT = 3.0e9
_MACS_PER_S_STRIDED = 1.5e9


def _args(geom):
    nd = geom.nd
    return (*pad3(geom.stride, 1), *pad3(geom.dilation, 1), *pad3(geom.pad_lo, 0)), nd


@register
class Direct(Algorithm):
    name = "direct"
    summary = "fused numba loops (gather rows, multiply-add along the last axis); no scratch"

    def supports(self, geom, dtype):
        if geom.nd > 3:
            return "numba kernels cover 1 to 3 spatial axes"
        return None

    def cost(self, geom, batch, itemsize):
        rate = _MACS_PER_S_UNIT if geom.stride[-1] == 1 else _MACS_PER_S_STRIDED
        return geom.macs(batch) / rate + 2e-5

    def conv_transpose(self, y, w, geom):
        params, nd = _args(geom)
        out = np.empty((y.shape[0], geom.x_channels, *geom.x_shape), dtype=y.dtype)
        w3 = w.reshape(w.shape[:2] + (1,) * (3 - nd) + w.shape[2:])
        direct_t3(as3(np.ascontiguousarray(y), nd), np.ascontiguousarray(w3), as3(out, nd),
                  geom.groups, *params)
        return out

    def conv(self, x, w, geom):
        params, nd = _args(geom)
        out = np.empty((x.shape[0], geom.y_channels, *geom.y_shape), dtype=x.dtype)
        w3 = w.reshape(w.shape[:2] + (1,) * (3 - nd) + w.shape[2:])
        direct_c3(as3(np.ascontiguousarray(x), nd), np.ascontiguousarray(w3), as3(out, nd),
                  geom.groups, *params)
        return out
