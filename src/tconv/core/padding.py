"""The padding operator ``P`` of a boundary mode and its adjoint ``P^T`` (the fold).

``P`` extends an image by its margins (zeros, or copies of interior pixels: ``reflect``,
``symmetric``, ``replicate``, ``circular``); ``P^T`` adds each margin cell back onto the pixel it copies. Both
work on the margins only, with slices (``np.pad`` for ``P``; one slice-add per margin run for
``P^T``), on NumPy arrays and on Dask arrays alike. The ``padding_mode`` convention
(:mod:`tconv.api.conventions.padding_mode`) and ``ConvOperator`` are built on them.

>>> import numpy as np
>>> b = Boundary("reflect", ((2, 1),), (4,))
>>> b.pad(np.array([1.0, 2.0, 3.0, 4.0])).tolist()
[3.0, 2.0, 1.0, 2.0, 3.0, 4.0, 3.0]
>>> b.fold(np.ones(7)).tolist()          # P^T 1: how many padded cells copy each pixel
[1.0, 2.0, 3.0, 1.0]
>>> Boundary("symmetric", ((2, 1),), (4,)).pad(np.array([1.0, 2.0, 3.0, 4.0])).tolist()
[2.0, 1.0, 1.0, 2.0, 3.0, 4.0, 4.0]

``reflect`` mirrors about the edge pixel, which is not repeated (PyTorch ``reflect``, NumPy
``reflect``, SciPy ndimage ``mirror``); ``symmetric`` mirrors about the edge itself, so the edge
pixel is repeated (half-sample symmetric: NumPy ``symmetric``, SciPy ndimage ``reflect``,
MATLAB ``symmetric``), the usual choice in deblurring.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ..errors import TconvError, TconvTypeError
from .params import shown

__all__ = ["BOUNDARIES", "Boundary", "check_mode", "source_index", "NUMPY_PAD_MODES"]

BOUNDARIES = ("zeros", "reflect", "replicate", "circular", "symmetric")
#: each mode's name in ``np.pad`` (and ``dask.array.pad``)
NUMPY_PAD_MODES = {"zeros": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap",
                   "symmetric": "symmetric"}


def check_mode(value: object, name: str = "padding_mode") -> str:
    """``value`` if it is a known boundary mode, else a TconvError naming the choices."""
    if not isinstance(value, str):
        raise TconvTypeError(f"{name}={shown(value)} must be a string, one of {', '.join(BOUNDARIES)}")
    if value not in BOUNDARIES:
        raise TconvError(f"{name}={shown(value)} must be one of {', '.join(BOUNDARIES)}")
    return value


def source_index(j: np.ndarray, n: int, mode: str) -> np.ndarray:
    """Which input index padded position ``j`` (``-lo <= j < n + hi``) copies."""
    if mode == "reflect":
        j = np.abs(j)
        return np.where(j >= n, 2 * (n - 1) - j, j)
    if mode == "symmetric":  # index -1 copies 0, index n copies n - 1
        j = np.where(j < 0, -j - 1, j)
        return np.where(j >= n, 2 * n - 1 - j, j)
    if mode == "replicate":
        return np.clip(j, 0, n - 1)
    return np.mod(j, n)  # circular


@dataclass(frozen=True)
class Boundary:
    """The padding operator ``P`` of one boundary mode on the trailing ``len(shape)`` axes.

    ``pads``: one non-negative ``(lo, hi)`` per axis; ``shape``: the unpadded spatial shape.
    ``"zeros"`` pads with zeros (its fold crops).
    """

    mode: str
    pads: tuple[tuple[int, int], ...]
    shape: tuple[int, ...]

    def __post_init__(self) -> None:
        check_mode(self.mode)
        object.__setattr__(self, "pads", tuple((int(lo), int(hi)) for lo, hi in self.pads))
        object.__setattr__(self, "shape", tuple(int(n) for n in self.shape))
        for ax, ((lo, hi), n) in enumerate(zip(self.pads, self.shape)):
            if lo < 0 or hi < 0:
                raise TconvError(f"padding {(lo, hi)} on axis {ax} must be >= 0 with padding_mode={self.mode!r}")
            if self.mode == "reflect" and max(lo, hi) >= n:
                raise TconvError(
                    f"padding {(lo, hi)} on axis {ax} must be smaller than the input size {n} "
                    "for padding_mode='reflect'"
                )
            if self.mode == "symmetric" and max(lo, hi) > n:
                raise TconvError(
                    f"padding {(lo, hi)} on axis {ax} must be at most the input size {n} "
                    "for padding_mode='symmetric'"
                )

    @property
    def src(self) -> list[np.ndarray]:
        """Per axis, the unpadded index each padded position copies (-1: a zero, for ``"zeros"``)."""
        out = []
        for (lo, hi), n in zip(self.pads, self.shape):
            j = np.arange(-lo, n + hi)
            out.append(np.where((j >= 0) & (j < n), j, -1) if self.mode == "zeros" else source_index(j, n, self.mode))
        return out

    @property
    def padded_shape(self) -> tuple[int, ...]:
        return tuple(n + lo + hi for n, (lo, hi) in zip(self.shape, self.pads))

    def pad(self, x, out: np.ndarray | None = None):
        """``P x`` on the trailing axes (a new array; NumPy or Dask). ``out``: a NumPy array of the
        padded shape to write into instead (the interior copied, then each margin run from its
        source cells, axis by axis: slices only), which spares a caller that pads every call the
        fresh pages of a new array.

        >>> b = Boundary("symmetric", ((1, 2),), (3,))
        >>> b.pad(np.array([1.0, 2.0, 3.0]), out=np.empty(6)).tolist()
        [1.0, 1.0, 2.0, 3.0, 3.0, 2.0]
        """
        if out is None and not isinstance(x, np.ndarray) and hasattr(x, "dask"):  # Dask: from slices
            nd = len(self.shape)
            for ax, ((lo, hi), n) in enumerate(zip(self.pads, self.shape)):
                x = _pad_axis_lazy(x, x.ndim - nd + ax, lo, hi, n, self.mode)
            return x
        if out is None:
            lead = [(0, 0)] * (x.ndim - len(self.shape))
            return np.pad(x, lead + list(self.pads), mode=NUMPY_PAD_MODES[self.mode])
        nd, lead = len(self.shape), out.ndim - len(self.shape)
        if out.shape[lead:] != self.padded_shape or out.shape[:lead] != x.shape[:lead]:
            raise TconvError(f"out has shape {out.shape}; the padded shape is {(*x.shape[:lead], *self.padded_shape)}")
        inner = [slice(lo, lo + n) for (lo, _), n in zip(self.pads, self.shape)]
        out[(Ellipsis, *inner)] = x
        for ax, ((lo, hi), n) in enumerate(zip(self.pads, self.shape)):
            # axes before ax: already padded (their whole extent); after ax: the interior only
            pre = (slice(None),) * lead + (slice(None),) * ax
            post = tuple(inner[ax + 1:nd])
            if self.mode == "zeros":
                out[(*pre, slice(0, lo), *post)] = 0
                out[(*pre, slice(lo + n, lo + n + hi), *post)] = 0
                continue
            for start, stop, target, flip in _margin_runs(lo, hi, n, self.mode):
                src = slice(lo + target, lo + target + 1) if flip is None else slice(lo + target, lo + target + stop - start)
                piece = out[(*pre, src, *post)]
                if flip:
                    piece = np.flip(piece, axis=lead + ax)
                out[(*pre, slice(start, stop), *post)] = piece
        return out

    def fold(self, v, overwrite: bool = False):
        """``P^T v``: each padded cell added onto the pixel it copies (``"zeros"``: the interior).
        Slices only: the interior once, then one add per run of margin cells (NumPy or Dask).
        ``overwrite=True`` (a NumPy ``v`` the caller no longer needs): the margins are added onto
        the interior of ``v`` in place, axis by axis, and the interior is packed within ``v``'s own
        memory (:func:`tconv.core.compact.compact_interior`; no second array)."""
        nd = len(self.shape)
        if overwrite and isinstance(v, np.ndarray) and v.flags.writeable:
            from .compact import compact_interior

            whole = v
            for ax, ((lo, hi), n) in enumerate(zip(self.pads, self.shape)):
                v = _fold_axis_inplace(v, v.ndim - nd + ax, lo, hi, n, self.mode)
            return compact_interior(whole, self.pads)
        for ax, ((lo, hi), n) in enumerate(zip(self.pads, self.shape)):
            v = _fold_axis(v, v.ndim - nd + ax, lo, hi, n, self.mode)
        return v

    def matrix(self, channels: int = 1, dtype=np.float64) -> sp.csr_array:
        """The sparse ``P`` for ``channels`` channels, C-order ``(channels, *shape)`` vectors."""
        mats = [sp.identity(channels, format="csr", dtype=dtype)]
        for n, src in zip(self.shape, self.src):
            keep = src >= 0
            rows = np.arange(len(src))[keep]
            mats.append(sp.csr_array((np.ones(rows.size, dtype), (rows, src[keep])), shape=(len(src), n)))
        out = mats[0]
        for m in mats[1:]:
            out = sp.kron(out, m, format="csr")
        return sp.csr_array(out)


def _margin_runs(lo: int, hi: int, n: int, mode: str):
    """``(start, stop, target, flip)`` runs: padded cells ``[start, stop)`` (0-based in the padded
    axis) add onto the interior cells ``[target, target + stop - start)``, reversed if ``flip``;
    ``replicate``'s runs add their sum onto one cell (``flip`` None)."""
    if mode == "zeros":
        return []
    if mode == "replicate":
        return [r for r in ((0, lo, 0, None), (lo + n, lo + n + hi, n - 1, None)) if r[1] > r[0]]
    if mode == "reflect":  # index -j copies j, index n - 1 + j copies n - 1 - j
        return [r for r in ((0, lo, 1, True), (lo + n, lo + n + hi, n - 1 - hi, True)) if r[1] > r[0]]
    if mode == "symmetric":  # index -j copies j - 1, index n - 1 + j copies n - j
        return [r for r in ((0, lo, 0, True), (lo + n, lo + n + hi, n - hi, True)) if r[1] > r[0]]
    runs = []  # circular: index i copies i mod n, one run per period the margins cross
    for a, b in ((-lo, 0), (n, n + hi)):
        i = a
        while i < b:
            stop = min(b, (i // n + 1) * n)
            runs.append((i + lo, stop + lo, i % n, False))
            i = stop
    return runs


def _pad_axis_lazy(x, axis: int, lo: int, hi: int, n: int, mode: str):
    """One axis of ``P x`` for a Dask array, from the margin runs' slices of ``x`` (``da.pad``'s
    ``wrap`` reaches only one period: a circular margin wider than the axis came out short)."""
    import dask.array as da

    def take(a: int, b: int, flip: bool = False):
        s = slice(b - 1, a - 1 if a else None, -1) if flip else slice(a, b)
        return x[(slice(None),) * axis + (s,)]

    if mode == "zeros":
        widths = [(0, 0)] * x.ndim
        widths[axis] = (lo, hi)
        return da.pad(x, widths)

    def piece(start: int, stop: int, target: int, flip):
        if flip is None:  # replicate: one cell, repeated
            return da.repeat(take(target, target + 1), stop - start, axis=axis)
        return take(target, target + stop - start, flip)

    runs = _margin_runs(lo, hi, n, mode)
    parts = [piece(*r) for r in runs if r[0] < lo] + [x] + [piece(*r) for r in runs if r[0] >= lo + n]
    return da.concatenate(parts, axis=axis) if len(parts) > 1 else x


def _fold_axis_inplace(v: np.ndarray, axis: int, lo: int, hi: int, n: int, mode: str) -> np.ndarray:
    """One axis of the fold, adding the margin runs onto the interior of ``v`` itself (a run's
    cells are margin cells and its targets interior ones, so they never overlap); returns the
    interior view."""
    def sl(a: int, b: int, step: int = 1):
        s = slice(a, b) if step == 1 else slice(b - 1, a - 1 if a else None, -1)
        return (slice(None),) * axis + (s,)

    for start, stop, target, flip in _margin_runs(lo, hi, n, mode):
        if flip is None:
            piece = v[sl(start, stop)].sum(axis=axis, keepdims=True)
        else:
            piece = v[sl(start, stop, -1 if flip else 1)]
        width = piece.shape[axis]
        v[sl(lo + target, lo + target + width)] += piece
    return v[sl(lo, lo + n)]


def _fold_axis(v, axis: int, lo: int, hi: int, n: int, mode: str):
    def take(a: int, b: int, step: int = 1):
        sl = slice(a, b) if step == 1 else slice(b - 1, a - 1 if a else None, -1)
        return v[(slice(None),) * axis + (sl,)]

    interior = take(lo, lo + n)
    runs = _margin_runs(lo, hi, n, mode)
    if not runs:
        return interior
    dense = isinstance(v, np.ndarray)
    out = interior.copy() if dense else interior
    for start, stop, target, flip in runs:
        piece = take(start, stop).sum(axis=axis, keepdims=True) if flip is None else take(start, stop, -1 if flip else 1)
        width = piece.shape[axis]
        if dense:
            out[(slice(None),) * axis + (slice(target, target + width),)] += piece
        else:  # Dask: no in-place add; pad the piece to the interior and keep the interior's chunks
            pad = [(0, 0)] * v.ndim
            pad[axis] = (target, n - target - width)
            out = out + np.pad(piece, pad).rechunk(interior.chunks)
    return out
