"""Boundary modes (``padding_mode``): the padding operator ``P``, its adjoint (the fold), and the
convolutions built on them.

``conv(x, padding=p, padding_mode=m)`` is PyTorch's ``conv(F.pad(x, p, mode=m), padding=0)``:
``A = C_valid P``. Its transpose is ``A^T = P^T C_valid^T``: the transposed convolution onto the
padded extent, then each padded margin folded (added) back onto the pixel it copies. That is
what ``conv_transpose(..., padding_mode=m)`` computes (PyTorch refuses anything but zeros for
transposed convolutions), and the VJPs follow from the same two factors. ``ConvOperator`` uses the
same :class:`Boundary`.

>>> import numpy as np
>>> b = Boundary("reflect", ((2, 1),), (4,))
>>> b.pad(np.array([1.0, 2.0, 3.0, 4.0])).tolist()
[3.0, 2.0, 1.0, 2.0, 3.0, 4.0, 3.0]
>>> b.fold(np.ones(7)).tolist()          # P^T 1: how many padded cells copy each pixel
[1.0, 2.0, 3.0, 1.0]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from .errors import TconvError, TconvTypeError

__all__ = ["BOUNDARIES", "Boundary", "check_mode", "source_index"]

BOUNDARIES = ("zeros", "reflect", "replicate", "circular")


def check_mode(value: object, name: str = "padding_mode") -> str:
    """``value`` if it is a known boundary mode, else a TconvError naming the choices."""
    if not isinstance(value, str):
        raise TconvTypeError(f"{name}={value!r} must be a string, one of {', '.join(BOUNDARIES)}")
    if value not in BOUNDARIES:
        raise TconvError(f"{name}={value!r} must be one of {', '.join(BOUNDARIES)}")
    return value


def source_index(j: np.ndarray, n: int, mode: str) -> np.ndarray:
    """Which input index padded position ``j`` (``-lo <= j < n + hi``) copies."""
    if mode == "reflect":
        j = np.abs(j)
        return np.where(j >= n, 2 * (n - 1) - j, j)
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

    def pad(self, x: np.ndarray) -> np.ndarray:
        """``P x`` on the trailing axes (a new array)."""
        nd = len(self.shape)
        if self.mode == "zeros":
            return np.pad(x, [(0, 0)] * (x.ndim - nd) + list(self.pads))
        for ax, src in enumerate(self.src):
            x = np.take(x, src, axis=x.ndim - nd + ax)
        return x

    def fold(self, v: np.ndarray) -> np.ndarray:
        """``P^T v``: each padded cell added onto the pixel it copies (``"zeros"``: the interior)."""
        nd = len(self.shape)
        for ax, (src, (lo, _), n) in enumerate(zip(self.src, self.pads, self.shape)):
            axis = v.ndim - nd + ax
            if self.mode == "zeros":
                v = np.take(v, np.arange(lo, lo + n), axis=axis)
                continue
            moved = np.moveaxis(v, axis, 0)
            out = np.zeros((n, *moved.shape[1:]), dtype=v.dtype)
            np.add.at(out, src, moved)
            v = np.moveaxis(out, 0, axis)
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


def conv(x, weight, bias, stride, padding, dilation, groups, mode: str, method: str, rank=None):
    """``conv`` with a boundary mode: the input padded by :class:`Boundary`, then a valid convolution."""
    from .functional import conv as plain_conv
    from .functional import setup_conv
    from .geometry import conv_padding_pairs

    xa, w, b, batched, base = setup_conv(x, weight, bias, stride, padding, dilation, groups, rank)
    pads = conv_padding_pairs(padding, base.x_shape, base.kernel, base.stride, base.dilation)
    xp = Boundary(mode, pads, base.x_shape).pad(xa)
    y = plain_conv(xp, w, b, stride, 0, dilation, groups, method=method)
    return y if batched else y[0]


def _transpose_plan(y_shape, weight_shape, stride, padding, output_padding, groups, dilation, output_size, mode):
    """The geometry of the transposed call, its boundary and the crops onto the padded extent."""
    from .geometry import conv_transpose_geometry

    g = conv_transpose_geometry(tuple(weight_shape), tuple(y_shape), stride, padding, output_padding, dilation,
                                groups, output_size)
    pads = tuple((lo, max(hi, 0)) for lo, hi in zip(g.pad_lo, g.pad_hi))  # margins beyond F are never read
    bnd = Boundary(mode, pads, g.x_shape)
    # the transposed convolution onto the padded extent: uncropped, with zeros appended to reach it
    crops = tuple((0, f - p) for f, p in zip(g.full_shape, bnd.padded_shape))
    return g, bnd, crops


def conv_transpose(y, weight, bias, stride, padding, output_padding, groups, dilation, output_size, mode, method,
                   rank=None):
    """``conv_transpose`` with a boundary mode: the exact adjoint of :func:`conv` with that mode."""
    from .crop import conv_transpose_window
    from .functional import setup_conv_transpose

    ya, w, b, batched, _ = setup_conv_transpose(y, weight, bias, stride, padding, output_padding, groups, dilation,
                                                output_size, rank)
    g, bnd, crops = _transpose_plan(ya.shape[2:], w.shape, stride, padding, output_padding, groups, dilation,
                                    output_size, mode)
    out = bnd.fold(conv_transpose_window(ya, w, g.stride, g.dilation, crops, groups=g.groups, method=method))
    if b is not None:
        out += b.reshape((-1,) + (1,) * g.nd)
    return out if batched else out[0]


def conv_vjp(grad_output, x, weight, bias, stride, padding, dilation, groups, mode, method):
    """VJP of :func:`conv` with a boundary mode: the valid convolution's VJP, its input gradient folded."""
    from .functional import setup_conv
    from .geometry import conv_padding_pairs
    from .grad import conv_vjp as plain_vjp

    xa, w, b, batched, base = setup_conv(x, weight, bias, stride, padding, dilation, groups)
    bnd = Boundary(mode, conv_padding_pairs(padding, base.x_shape, base.kernel, base.stride, base.dilation),
                   base.x_shape)
    go = np.asarray(grad_output)
    gxp, gw, gb = plain_vjp(go if batched else go[None], bnd.pad(xa), w, b, stride, 0, dilation, groups,
                            method=method)
    gx = bnd.fold(gxp)
    return (gx if batched else gx[0]), gw, gb


def conv_transpose_vjp(grad_output, y, weight, bias, stride, padding, output_padding, groups, dilation, output_size,
                       mode, method):
    """VJP of :func:`conv_transpose` with a boundary mode (``x = P^T C^T y``): the gradient padded by
    ``P``, cropped to the uncropped extent, through the plain VJP; the bias gradient sums the gradient."""
    from .functional import setup_conv_transpose
    from .grad import conv_transpose_vjp as plain_vjp

    ya, w, b, batched, _ = setup_conv_transpose(y, weight, bias, stride, padding, output_padding, groups, dilation,
                                                output_size)
    g, bnd, crops = _transpose_plan(ya.shape[2:], w.shape, stride, padding, output_padding, groups, dilation,
                                    output_size, mode)
    go = np.asarray(grad_output)
    want = (ya.shape[0], g.x_channels, *g.x_shape)
    if go.shape != (want if batched else want[1:]):
        raise TconvError(f"grad_output has shape {go.shape} but the forward output has shape "
                         f"{want if batched else want[1:]}")
    gp = bnd.pad(go if batched else go[None])
    gp = gp[(Ellipsis, *(slice(0, f) for f in g.full_shape))]  # beyond F: never written by the forward
    gy, gw, _ = plain_vjp(gp, ya, w, None, g.stride, 0, 0, g.groups, g.dilation, method=method)
    gob = go if batched else go[None]
    gb = None if b is None else gob.sum(axis=(0, *range(2, gob.ndim))).astype(gw.dtype)
    return (gy if batched else gy[0]), gw, gb
