"""``zero_insertion``: the textbook equivalence.

``conv_transpose`` = insert ``stride - 1`` zeros between input values, pad by
``dilation * (k - 1) - pad_lo`` in front (negative: crop), then an ordinary stride-1
convolution with the spatially flipped, channel-swapped kernel. ``conv`` is its adjoint:
a stride-1 convolution, then keep every ``stride``-th output. It multiplies by the
inserted zeros, ``prod(stride)`` times the work of the direct method: a teaching
algorithm; the planner's cost model and scratch guard keep it out everywhere on the
benchmark suite.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from ._base import Algorithm, register
from ._taps import swap_weight
from .gemm import gemm_conv


def _inner_transpose_geometry(geom):
    """The stride-1 conv that maps the zero-inserted ``y`` to the transpose's output."""
    up = tuple((m - 1) * s + 1 for m, s in zip(geom.y_shape, geom.stride))
    front = tuple(d * (k - 1) - lo for d, k, lo in zip(geom.dilation, geom.kernel, geom.pad_lo))
    return replace(
        geom,
        x_shape=up,
        y_shape=geom.x_shape,
        stride=(1,) * geom.nd,
        pad_lo=front,
        x_channels=geom.y_channels,
        y_channels=geom.x_channels,
    ), up


@register
class ZeroInsertion(Algorithm):
    name = "zero_insertion"
    summary = "insert stride-1 zeros, pad, then a stride-1 conv with the flipped kernel"

    def scratch_bytes(self, geom, batch, itemsize):
        inner, up = _inner_transpose_geometry(geom)
        upsampled = geom.y_channels * math.prod(up)
        cols = geom.y_channels * math.prod(geom.kernel) * math.prod(geom.x_shape)
        return batch * (upsampled + cols) * itemsize

    def cost(self, geom, batch, itemsize):
        inner, _ = _inner_transpose_geometry(geom)
        return 2 * inner.macs(batch) / 30e9 + self.scratch_bytes(geom, batch, itemsize) / 2e9

    def conv_transpose(self, y, w, geom):
        inner, up = _inner_transpose_geometry(geom)
        n = y.shape[0]
        u = np.zeros((n, geom.y_channels, *up), dtype=y.dtype)
        u[(slice(None), slice(None), *(slice(None, None, s) for s in geom.stride))] = y
        return gemm_conv(u, swap_weight(w, geom), inner)

    def conv(self, x, w, geom):
        full = tuple((m - 1) * s + 1 for m, s in zip(geom.y_shape, geom.stride))
        inner = replace(geom, y_shape=full, stride=(1,) * geom.nd)
        dense = gemm_conv(x, w, inner)
        return dense[(slice(None), slice(None), *(slice(None, None, s) for s in geom.stride))]
