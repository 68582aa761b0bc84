"""Vector-Jacobian products of ``conv_transpose`` and ``conv``.

Both operations are linear in the input and in the weight, so:

* the input gradient of ``conv_transpose`` is ``conv`` of the output gradient, and the
  input gradient of ``conv`` is ``conv_transpose`` of it (same weight, same geometry);
* the weight gradient is one correlation, shared by both:
  ``dW[cy, cx, t] = sum_{n, j} Y[n, cy, j] * X[n, cx, j*s + t*d - pad_lo]``, where ``Y`` is the
  y-side array (``conv``'s output gradient, or ``conv_transpose``'s input) and ``X`` the
  x-side array. For many channels it is the ``gemm`` algorithm's building blocks run
  backwards: the numba im2col of the x-side array into the (batch-chunked) workspace, then
  BLAS GEMMs that accumulate over the batch; for few channels (single-channel, depthwise)
  a numba kernel computes each weight entry as a sum of contiguous dot products. The
  planner's cost models choose between the two; no loop over pixels in Python (a NumPy
  tap-by-tap fallback serves more than 3 spatial axes).

>>> import numpy as np
>>> x = np.ones((1, 1, 3)); w = np.ones((1, 1, 2))
>>> gx, gw, gb = conv_transpose_vjp(np.ones((1, 1, 4)), x, w, bias=np.zeros(1))
>>> gx.tolist(), gw.tolist(), gb.tolist()
([[[2.0, 2.0, 2.0]]], [[[3.0, 3.0]]], [4.0])
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .algorithms._taps import tap_windows
from .algorithms.gemm import fast_weight_gradient
from .errors import TconvError
from .frontend_check import special
from .functional import setup_conv, setup_conv_transpose
from .geometry import ConvGeometry
from .planner import choose

__all__ = ["conv_transpose_vjp", "conv_vjp", "weight_gradient"]

ALL = slice(None)


def weight_gradient(y_side: np.ndarray, x_side: np.ndarray, geom: ConvGeometry) -> np.ndarray:
    """``dW`` of shape ``geom.weight_shape`` from the batched y-side and x-side arrays."""
    dtype = np.result_type(y_side, x_side)
    if geom.nd <= 3 and dtype in (np.float32, np.float64):
        if _direct_wins(geom, y_side.shape[0], dtype.itemsize):
            return direct_weight_gradient(y_side.astype(dtype, copy=False), x_side.astype(dtype, copy=False), geom)
        return fast_weight_gradient(y_side, x_side, geom)
    n, g = y_side.shape[0], geom.groups
    cyg, cxg = geom.y_channels // g, geom.x_channels // g
    dtype = np.result_type(y_side, x_side)
    gw = np.zeros((g, cyg, cxg, *geom.kernel), dtype=dtype)
    for tap, ysl, xsl in tap_windows(geom):
        a = y_side[(ALL, ALL, *ysl)].reshape(n, g, cyg, -1)  # (n, g, cyg, S)
        b = x_side[(ALL, ALL, *xsl)].reshape(n, g, cxg, -1)  # (n, g, cxg, S)
        a = a.transpose(1, 2, 0, 3).reshape(g, cyg, -1)
        b = b.transpose(1, 0, 3, 2).reshape(g, -1, cxg)
        gw[(ALL, ALL, ALL, *tap)] = np.matmul(a, b)
    return gw.reshape(geom.weight_shape)


def _direct_wins(geom: ConvGeometry, batch: int, itemsize: int) -> bool:
    """The planner's two cost models, applied to the weight gradient (same multiply-adds)."""
    from .algorithms import ALGORITHMS

    return ALGORITHMS["direct"].cost(geom, batch, itemsize) < ALGORITHMS["gemm"].cost(geom, batch, itemsize)


def direct_weight_gradient(y_side: np.ndarray, x_side: np.ndarray, geom: ConvGeometry) -> np.ndarray:
    """The numba kernel: one (channel, channel, tap) weight entry per work item, no scratch."""
    from .algorithms._kernels import as3, direct_wgrad3, free_threads, numba_threads, params3

    nd = geom.nd
    gw = np.empty(geom.weight_shape, dtype=y_side.dtype)
    if y_side.shape[0] == 0:
        gw[...] = 0
        return gw
    with numba_threads(free_threads()):
        direct_wgrad3(as3(np.ascontiguousarray(y_side), nd), as3(np.ascontiguousarray(x_side), nd), as3(gw, nd),
                      geom.groups, *params3(geom))
    return gw


def _check_grad(grad_output, expected: tuple[int, ...], batched: bool, dtype) -> np.ndarray:
    from ._params import as_float_array

    go = as_float_array("grad_output", grad_output)
    want = expected if batched else expected[1:]
    if go.shape != want:
        raise TconvError(
            f"grad_output has shape {go.shape} but the forward output has shape {want}"
        )
    go = go.astype(np.result_type(go, dtype), copy=False)
    return go if batched else go[None]


def _vjp(grad_output, xa, w, b, batched: bool, geom: ConvGeometry, method: str, *, forward_is_transpose: bool):
    """Both VJPs: the input gradient is the other direction of the same geometry, the weight
    gradient the shared correlation (x-side: conv_transpose's output / conv's input)."""
    if forward_is_transpose:
        expected = (xa.shape[0], geom.x_channels, *geom.x_shape)
    else:
        expected = (xa.shape[0], geom.y_channels, *geom.y_shape)
    go = _check_grad(grad_output, expected, batched, xa.dtype)
    dtype = np.result_type(go, xa, w)
    go, xa, w = (a.astype(dtype, copy=False) for a in (go, xa, w))
    algo = choose(method, geom, go.shape[0], dtype)
    if forward_is_transpose:
        gx, gw = algo.conv(go, w, geom), weight_gradient(xa, go, geom)
    else:
        gx, gw = algo.conv_transpose(go, w, geom), weight_gradient(go, xa, geom)
    gb = None if b is None else go.sum(axis=(0, *range(2, go.ndim))).astype(dtype)
    return (gx if batched else gx[0]), gw, gb


def conv_transpose_vjp(
    grad_output: np.ndarray,
    x: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray | None = None,
    stride: int | Sequence[int] = 1,
    padding=0,
    output_padding: int | Sequence[int] = 0,
    groups: int = 1,
    dilation: int | Sequence[int] = 1,
    *,
    output_size: Sequence[int] | None = None,
    padding_mode: str = "zeros",
    data_format: str = "channels_first",
    weight_format: str = "torch",
    method: str = "auto",
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """``(grad_x, grad_weight, grad_bias)`` of ``conv_transpose(x, weight, bias, ...)``.

    Parameters are those of :func:`tconv.conv_transpose`; ``grad_bias`` is ``None`` when
    ``bias`` is ``None``. Dtypes are preserved (float32 stays float32; float16/bfloat16 compute in
    float32 and each gradient comes back in its primal's dtype). ``grad_output`` and
    ``grad_x`` are in ``data_format``, ``grad_weight`` in ``weight_format``.
    """
    if special(x, weight, bias, grad_output, padding_mode=padding_mode, data_format=data_format,
               weight_format=weight_format):  # every other convention: tconv.frontend, then back here
        from . import frontend

        return frontend.conv_transpose_vjp(grad_output, x, weight, bias, stride, padding, output_padding, groups,
                                           dilation, output_size, padding_mode, data_format, weight_format, method)
    xa, w, b, batched, geom = setup_conv_transpose(
        x, weight, bias, stride, padding, output_padding, groups, dilation, output_size
    )
    return _vjp(grad_output, xa, w, b, batched, geom, method, forward_is_transpose=True)


def conv_vjp(
    grad_output: np.ndarray,
    x: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray | None = None,
    stride: int | Sequence[int] = 1,
    padding=0,
    dilation: int | Sequence[int] = 1,
    groups: int = 1,
    *,
    padding_mode: str = "zeros",
    data_format: str = "channels_first",
    weight_format: str = "torch",
    method: str = "auto",
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """``(grad_x, grad_weight, grad_bias)`` of ``conv(x, weight, bias, ...)``.

    ``grad_x`` has exactly ``x``'s shape (inputs that no window reads get zero gradient).
    """
    if special(x, weight, bias, grad_output, padding_mode=padding_mode, data_format=data_format,
               weight_format=weight_format):  # every other convention: tconv.frontend, then back here
        from . import frontend

        return frontend.conv_vjp(grad_output, x, weight, bias, stride, padding, dilation, groups, padding_mode,
                                 data_format, weight_format, method)
    xa, w, b, batched, geom = setup_conv(x, weight, bias, stride, padding, dilation, groups)
    return _vjp(grad_output, xa, w, b, batched, geom, method, forward_is_transpose=False)
