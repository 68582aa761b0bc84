"""Shared building blocks: the in-range windows of each kernel tap, and group views."""

from __future__ import annotations

import itertools
import math
from functools import lru_cache

import numpy as np

from .geometry import ConvGeometry


def _axis_windows(m: int, x: int, k: int, s: int, d: int, lo: int):
    """For each tap ``t`` on one axis: (t, y-slice, x-slice) of positions with
    ``0 <= j*s + t*d - lo < x``, or None when the tap never lands."""
    out = []
    for t in range(k):
        off = t * d - lo
        j0 = max(0, -(off // s))
        j1 = min(m - 1, (x - 1 - off) // s)
        if j1 < j0:
            out.append(None)
        else:
            out.append((t, slice(j0, j1 + 1), slice(j0 * s + off, j1 * s + off + 1, s)))
    return out


@lru_cache(maxsize=256)
def tap_windows(geom: ConvGeometry) -> tuple[tuple[tuple[int, ...], tuple[slice, ...], tuple[slice, ...]], ...]:
    """Every kernel tap that lands somewhere: ``(tap, y_slices, x_slices)``.

    ``x[..., *x_slices]`` is the strided window of the image that tap ``tap`` reads
    (``conv``) or writes (``conv_transpose``) for the outputs ``y[..., *y_slices]``.
    """
    per_axis = [
        _axis_windows(m, x, k, s, d, lo)
        for m, x, k, s, d, lo in zip(
            geom.y_shape, geom.x_shape, geom.kernel, geom.stride, geom.dilation, geom.pad_lo
        )
    ]
    wins = []
    for combo in itertools.product(*per_axis):
        if any(c is None for c in combo):
            continue
        wins.append(
            (tuple(c[0] for c in combo), tuple(c[1] for c in combo), tuple(c[2] for c in combo))
        )
    return tuple(wins)


def group_weight(w: np.ndarray, geom: ConvGeometry) -> np.ndarray:
    """``(y_channels, x_channels/g, *k) -> (g, y_channels/g, x_channels/g, *k)``."""
    g = geom.groups
    return w.reshape(g, geom.y_channels // g, geom.x_channels // g, *geom.kernel)


def swap_weight(w: np.ndarray, geom: ConvGeometry) -> np.ndarray:
    """The weight of the channel-swapped convolution (x-side channels become outputs),
    spatially flipped: ``(x_channels, y_channels/g, *k)``."""
    g = geom.groups
    wg = group_weight(w, geom)  # (g, Cyg, Cxg, *k)
    ws = np.swapaxes(wg, 1, 2).reshape(geom.x_channels, geom.y_channels // g, *geom.kernel)
    flip = (slice(None), slice(None)) + (slice(None, None, -1),) * geom.nd
    return np.ascontiguousarray(ws[flip])


@lru_cache(maxsize=64)
def flat_positions(geom: ConvGeometry) -> tuple[np.ndarray, np.ndarray]:
    """Index arithmetic of the whole geometry, vectorised over every axis.

    Returns ``(pos, valid)``, both of shape ``(prod(y_shape), prod(kernel))``:
    ``pos[j, t]`` is the flat index into ``x_shape`` that output ``j`` reads with
    tap ``t`` (0 where out of range) and ``valid[j, t]`` says whether it is in range.
    """
    nd = geom.nd
    pos = np.zeros((1,) * (2 * nd), dtype=np.int64)
    valid = np.ones((1,) * (2 * nd), dtype=bool)
    for ax in range(nd):
        m, x, k = geom.y_shape[ax], geom.x_shape[ax], geom.kernel[ax]
        shape_j = [1] * (2 * nd)
        shape_j[ax] = m
        shape_t = [1] * (2 * nd)
        shape_t[nd + ax] = k
        j = np.arange(m, dtype=np.int64).reshape(shape_j)
        t = np.arange(k, dtype=np.int64).reshape(shape_t)
        p = j * geom.stride[ax] + t * geom.dilation[ax] - geom.pad_lo[ax]
        valid = valid & (p >= 0) & (p < x)
        pos = pos * x + np.clip(p, 0, x - 1)
    full = (*geom.y_shape, *geom.kernel)
    pos = np.broadcast_to(pos, full).reshape(math.prod(geom.y_shape), math.prod(geom.kernel))
    valid = np.broadcast_to(valid, full).reshape(pos.shape)
    pos = np.where(valid, pos, 0)
    pos.flags.writeable = False
    valid = np.ascontiguousarray(valid)
    valid.flags.writeable = False
    return pos, valid


def poison_padded_products(out: np.ndarray, w: np.ndarray, geom: ConvGeometry) -> np.ndarray:
    """``conv`` algorithms that skip the zero padding call this: where a non-finite weight tap
    falls on padding, PyTorch multiplies it by the padded zero (``0 * inf = 0 * nan = nan``),
    so those outputs become NaN here too. ``out``: ``(N, y_channels, *y_shape)``, changed in place."""
    bad = ~np.isfinite(w)
    if not bad.any():
        return out
    landing = {tap: ysl for tap, ysl, _ in tap_windows(geom)}
    for cy, tap in {(int(i[0]), tuple(int(v) for v in i[2:])) for i in np.argwhere(bad)}:
        mask = np.ones(geom.y_shape, dtype=bool)
        if tap in landing:
            mask[landing[tap]] = False
        out[:, cy][:, mask] = np.nan
    return out


def unswap_weight(ws: np.ndarray, geom: ConvGeometry) -> np.ndarray:
    """The inverse of :func:`swap_weight`: ``(x_channels, y_channels/g, *k)`` flipped back to
    ``geom.weight_shape``."""
    g = geom.groups
    flip = (slice(None), slice(None)) + (slice(None, None, -1),) * geom.nd
    wg = ws[flip].reshape(g, geom.x_channels // g, geom.y_channels // g, *geom.kernel)
    return np.ascontiguousarray(np.swapaxes(wg, 1, 2).reshape(geom.weight_shape))
