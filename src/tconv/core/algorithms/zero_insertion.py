"""``zero_insertion``: the textbook equivalence.

``conv_transpose`` = insert ``stride - 1`` zeros between input values, pad by
``dilation * (k - 1) - pad_lo`` in front (negative: crop), then an ordinary stride-1
convolution with the spatially flipped, channel-swapped kernel
(:func:`tconv.core.geometry.zero_insertion_geometry`). ``conv`` is its adjoint: a stride-1
convolution, then keep every ``stride``-th output. The weight gradient is the inner
convolution's, mapped back to the original weight. It multiplies by the inserted zeros,
``prod(stride)`` times the work of the direct method: a teaching algorithm, a reference
that ``auto`` never picks.

Non-finite weights: the inserted zeros would turn ``0 * inf`` into NaN where PyTorch has no
product at all, so those weights are computed apart and their real products added back.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from ..geometry import zero_insertion_geometry
from ..taps import swap_weight, tap_windows, unswap_weight
from ._base import Algorithm, register
from .gemm import gemm_conv, gemm_cost, numpy_weight_gradient

ALL = slice(None)


def _upsample(y: np.ndarray, geom, up) -> np.ndarray:
    u = np.zeros((y.shape[0], geom.y_channels, *up), dtype=y.dtype)
    u[(ALL, ALL, *(slice(None, None, s) for s in geom.stride))] = y
    return u


@register
class ZeroInsertion(Algorithm):
    name = "zero_insertion"
    reference = True

    def scratch_bytes(self, geom, batch, itemsize, op):
        inner, up = zero_insertion_geometry(geom)
        upsampled = geom.y_channels * math.prod(up)
        cols = geom.y_channels * math.prod(geom.kernel) * math.prod(geom.x_shape)
        return batch * (upsampled + cols) * itemsize

    def cost(self, geom, batch, itemsize, op):
        inner, _ = zero_insertion_geometry(geom)
        return gemm_cost(inner, batch, itemsize, "conv") + self.scratch_bytes(geom, batch, itemsize, op) / 2e9

    def conv_transpose(self, y, w, geom):
        inner, up = zero_insertion_geometry(geom)
        finite = np.isfinite(w)
        out = gemm_conv(_upsample(y, geom, up), swap_weight(np.where(finite, w, 0), geom), inner)
        if not finite.all():  # add the non-finite weights' real products (no inserted zeros)
            g = geom.groups
            cyg, cxg = geom.y_channels // g, geom.x_channels // g
            windows = {t: (ysl, xsl) for t, ysl, xsl in tap_windows(geom)}
            for cy, cl, *tap in np.argwhere(~finite):
                if tuple(tap) in windows:  # a tap that lands nowhere has no products
                    ysl, xsl = windows[tuple(tap)]
                    out[(ALL, cy // cyg * cxg + cl, *xsl)] += w[(cy, cl, *tap)] * y[(ALL, cy, *ysl)]
        return out

    def conv(self, x, w, geom):
        full = tuple((m - 1) * s + 1 for m, s in zip(geom.y_shape, geom.stride))
        inner = replace(geom, y_shape=full, stride=(1,) * geom.nd)
        dense = gemm_conv(x, w, inner)
        return np.ascontiguousarray(dense[(ALL, ALL, *(slice(None, None, s) for s in geom.stride))])

    def weight_grad(self, y_side, x_side, geom):
        inner, up = zero_insertion_geometry(geom)
        return unswap_weight(numpy_weight_gradient(x_side, _upsample(y_side, geom, up), inner), geom)
