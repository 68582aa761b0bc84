"""``scatter``: the definition, computed literally.

``conv_transpose``: every input value times the whole kernel, added into its output
window (``np.bincount`` does the adding, in float64); ``conv``: every output is the dot
product of its gathered input window (zeros where the window is padding) with the kernel,
in float64;
``weight_grad``: every weight entry is the sum of output-gradient times gathered input over
all windows. Index arithmetic only, no cleverness: the reference the fast algorithms are
checked against. Memory grows as ``N * C_in * C_out/g * prod(input) * prod(kernel)``, so
``auto`` never picks it.
"""

from __future__ import annotations

import math

import numpy as np

from ..geometry import ConvGeometry
from ..taps import flat_positions
from ._base import Algorithm, register


def _dims(geom: ConvGeometry):
    g = geom.groups
    return g, geom.y_channels // g, geom.x_channels // g, math.prod(geom.kernel)


def _windows(x: np.ndarray, geom: ConvGeometry) -> np.ndarray:
    """``(n, g, cxg, m, k)``: the input each output reads with each tap (0 on padding)."""
    g, _, cxg, _ = _dims(geom)
    pos, valid = flat_positions(geom)
    xf = x.reshape(x.shape[0], g, cxg, -1)
    return np.where(valid, xf[..., pos], 0)


@register
class Scatter(Algorithm):
    name = "scatter"
    reference = True

    def supports(self, geom, dtype, op):
        entries = geom.macs() * 8
        if entries > 2**31:
            return f"would materialise {entries} products per sample"
        return super().supports(geom, dtype, op)

    def scratch_bytes(self, geom, batch, itemsize, op):
        return geom.macs(batch) * (itemsize + 8)

    def cost(self, geom, batch, itemsize, op):
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
        wg = w.reshape(g, cyg, cxg, k).astype(np.float64)
        y = np.einsum("gcok,ngomk->ngcm", wg, _windows(x, geom).astype(np.float64))
        return y.astype(x.dtype).reshape(n, geom.y_channels, *geom.y_shape)

    def weight_grad(self, y_side, x_side, geom):
        n = y_side.shape[0]
        g, cyg, _, _ = _dims(geom)
        yg = y_side.reshape(n, g, cyg, -1).astype(np.float64)
        gw = np.einsum("ngcm,ngomk->gcok", yg, _windows(x_side, geom).astype(np.float64))
        return gw.astype(np.result_type(y_side, x_side)).reshape(geom.weight_shape)
