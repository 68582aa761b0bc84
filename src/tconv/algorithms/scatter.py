"""``scatter``: the definition, computed literally.

``conv_transpose``: every input value times the whole kernel, added into its output
window (``np.bincount`` does the adding); ``conv``: every output is the dot product of
its gathered input window with the kernel. Index arithmetic only, no cleverness: the
reference the fast algorithms are checked against. Memory grows as
``N * C_in * C_out/g * prod(input) * prod(kernel)``, so ``auto`` never picks it.
"""

from __future__ import annotations

import math

import numpy as np

from ..geometry import ConvGeometry
from ._base import Algorithm, register
from ._taps import flat_positions


def _dims(geom: ConvGeometry):
    g = geom.groups
    return g, geom.y_channels // g, geom.x_channels // g, math.prod(geom.kernel)


@register
class Scatter(Algorithm):
    name = "scatter"
    summary = "the definition: each input value times the kernel, added into its output window"

    def supports(self, geom, dtype):
        entries = geom.macs() * 8
        if entries > 2**31:
            return f"would materialise {entries} products per sample"
        return None

    def scratch_bytes(self, geom, batch, itemsize):
        return geom.macs(batch) * (itemsize + 8)

    def cost(self, geom, batch, itemsize):
        return geom.macs(batch) * 3e-8

    def conv_transpose(self, y, w, geom):
        n = y.shape[0]
        g, cyg, cxg, k = _dims(geom)
        m, xsize = math.prod(geom.y_shape), math.prod(geom.x_shape)
        pos, valid = flat_positions(geom)  # (m, k)
        yg = y.reshape(n, g, cyg, 1, 1, m)
        wg = w.reshape(1, g, cyg, cxg, k, 1)
        products = yg * wg  # (n, g, cyg, cxg, k, m): each value times the kernel
        plane = np.arange(n * g * cxg, dtype=np.int64).reshape(n, g, 1, cxg, 1, 1) * xsize
        target = plane + pos.T.reshape(1, 1, 1, 1, k, m)
        mask = np.broadcast_to(valid.T.reshape(1, 1, 1, 1, k, m), products.shape)
        target = np.broadcast_to(target, products.shape)[mask]
        summed = np.bincount(target, weights=products[mask], minlength=n * g * cxg * xsize)
        return summed.astype(y.dtype, copy=False).reshape(n, geom.x_channels, *geom.x_shape)

    def conv(self, x, w, geom):
        n = x.shape[0]
        g, cyg, cxg, k = _dims(geom)
        pos, valid = flat_positions(geom)
        xf = x.reshape(n, g, cxg, -1)
        windows = np.where(valid, xf[..., pos], 0)  # (n, g, cxg, m, k)
        wg = w.reshape(g, cyg, cxg, k)
        y = np.einsum("gcok,ngomk->ngcm", wg, windows)
        return y.reshape(n, geom.y_channels, *geom.y_shape)
