"""``gemm``: one matrix product plus col2im (transpose) / im2col plus one product (conv).

``conv_transpose``: ``cols = W^T y`` with ``W`` laid out as ``(C_out*prod(k), C_in)`` per
group, then each tap's slab of ``cols`` is added into its strided output window
(col2im). ``conv``: the windows are gathered into ``cols`` (im2col) and multiplied.
Scratch: ``N * C_out * prod(k) * prod(input)`` elements for ``cols``.
"""

from __future__ import annotations

import math

import numpy as np

from ._base import Algorithm, register
from ._taps import tap_windows

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


def gemm_conv_transpose(y: np.ndarray, w: np.ndarray, geom) -> np.ndarray:
    """W^T y (one GEMM per sample and group), then col2im."""
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
    n, g = x.shape[0], geom.groups
    cyg, cxg = geom.y_channels // g, geom.x_channels // g
    k, m = math.prod(geom.kernel), math.prod(geom.y_shape)
    cols = im2col(x, geom).reshape(n, g, cxg * k, m)
    y = np.matmul(w.reshape(g, cyg, cxg * k), cols)
    return y.reshape(n, geom.y_channels, *geom.y_shape)


@register
class Gemm(Algorithm):
    name = "gemm"
    summary = "one GEMM (W^T y) then col2im; im2col then one GEMM for conv"

    def scratch_bytes(self, geom, batch, itemsize):
        return batch * geom.x_channels * math.prod(geom.kernel) * math.prod(geom.y_shape) * itemsize

    def cost(self, geom, batch, itemsize):
        flops = 2 * geom.macs(batch)
        moved = self.scratch_bytes(geom, batch, itemsize) * 2
        return flops / 40e9 + moved / 4e9

    def conv_transpose(self, y, w, geom):
        return gemm_conv_transpose(y, w, geom)

    def conv(self, x, w, geom):
        return gemm_conv(x, w, geom)
