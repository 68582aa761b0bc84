"""The ``padding_mode`` convention: convolutions with a non-zero boundary, built on the padding
operator ``P`` of :mod:`tconv.core.padding`.

``conv(x, padding=p, padding_mode=m)`` is PyTorch's ``conv(F.pad(x, p, mode=m), padding=0)``:
``A = C_valid P``. Its transpose is ``A^T = P^T C_valid^T``: the transposed convolution onto the
padded extent, then each padded margin folded (added) back onto the pixel it copies. That is
what ``conv_transpose(..., padding_mode=m)`` computes (PyTorch refuses anything but zeros for
transposed convolutions), and the VJPs follow from the same two factors. Each function calls the
next stage of the chain (the core dispatch, or the Dask front end) with zero padding; shapes are
validated on stand-ins, so a Dask input is never read here.

>>> import numpy as np, tconv
>>> tconv.conv(np.arange(4.0)[None], np.ones((1, 1, 3)), padding=1, padding_mode="circular").tolist()
[[4.0, 3.0, 6.0, 5.0]]
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ...core.dispatch import Call, setup
from ...core.geometry import conv_padding_pairs, conv_transpose_geometry
from ...core.padding import Boundary
from ...core.params import shape_standin
from ...core.window import conv_transpose_window
from ...errors import TconvError
from ..dask._detect import is_dask_array

__all__ = ["forward", "vjp"]


def _setup(call: Call, x, weight, bias):
    """The validated geometry and ``batched`` flag, and ``x`` batched: the core's validated array, or for
    a Dask array the array itself (its shapes checked on a stand-in, its data never read here)."""
    if is_dask_array(x):
        _, _, _, batched, geom = setup(call, shape_standin(x.shape, x.dtype), weight, bias)
        return geom, batched, (x if batched else x[None])
    xa, _, _, batched, geom = setup(call, x, weight, bias)
    return geom, batched, xa


def _transpose_plan(call: Call, y_shape, weight_shape, mode: str):
    """The geometry of the transposed call, its boundary and the crops onto the padded extent."""
    g = conv_transpose_geometry(tuple(weight_shape), tuple(y_shape), call.stride, call.padding,
                                call.output_padding, call.dilation, call.groups, call.output_size)
    pads = tuple((lo, max(hi, 0)) for lo, hi in zip(g.pad_lo, g.pad_hi))  # margins beyond F are never read
    bnd = Boundary(mode, pads, g.x_shape)
    # the transposed convolution onto the padded extent: uncropped, with zeros appended to reach it
    crops = tuple((0, f - p) for f, p in zip(g.full_shape, bnd.padded_shape))
    return g, bnd, crops


def forward(call: Call, x, weight, bias, *, next, mode: str):
    """``conv`` (pad, then a valid convolution) or ``conv_transpose`` (its exact adjoint) with ``mode``."""
    geom, batched, xb = _setup(call, x, weight, bias)
    w = np.asarray(weight)
    if call.op == "conv":
        pads = conv_padding_pairs(call.padding, geom.x_shape, geom.kernel, geom.stride, geom.dilation)
        out = next(replace(call, padding=0), Boundary(mode, pads, geom.x_shape).pad(xb), w, bias)
        return out if batched else out[0]
    g, bnd, crops = _transpose_plan(call, xb.shape[2:], w.shape, mode)
    out = bnd.fold(conv_transpose_window(xb, w, g.stride, g.dilation, crops, groups=g.groups, method=call.method,
                                         run=next, cache=call.cache))
    if bias is not None:
        out = out + np.asarray(bias, dtype=out.dtype).reshape((-1,) + (1,) * g.nd)
    return out if batched else out[0]


def vjp(call: Call, grad_output, x, weight, bias, *, next, mode: str):
    """The VJP of :func:`forward`: through the plain VJP of the padded (or uncropped) call."""
    geom, batched, xb = _setup(call, x, weight, bias)
    w = np.asarray(weight)
    go = grad_output if hasattr(grad_output, "ndim") else np.asarray(grad_output)
    if call.op == "conv":
        bnd = Boundary(mode, conv_padding_pairs(call.padding, geom.x_shape, geom.kernel, geom.stride,
                                                geom.dilation), geom.x_shape)
        gxp, gw, gb = next(replace(call, padding=0), go if batched else go[None], bnd.pad(xb), w, bias)
        gx = bnd.fold(gxp)
        return (gx if batched else gx[0]), gw, gb
    g, bnd, crops = _transpose_plan(call, xb.shape[2:], w.shape, mode)
    want = (xb.shape[0], g.x_channels, *g.x_shape)
    if tuple(go.shape) != (want if batched else want[1:]):
        raise TconvError(f"grad_output has shape {tuple(go.shape)} but the forward output has shape "
                         f"{want if batched else want[1:]}")
    gob = go if batched else go[None]
    gp = bnd.pad(gob)[(Ellipsis, *(slice(0, f) for f in g.full_shape))]  # beyond F: never written by the forward
    plain = Call("conv_transpose", g.stride, 0, 0, g.groups, g.dilation, method=call.method, cache=call.cache)
    gy, gw, _ = next(plain, gp, xb, w, None)
    gb = None if bias is None else gob.sum(axis=(0, *range(2, gob.ndim))).astype(gw.dtype)
    return (gy if batched else gy[0]), gw, gb
