"""Vector-Jacobian products of ``conv_transpose`` and ``conv``.

Both operations are linear in the input and in the weight, so:

* the input gradient of ``conv_transpose`` is ``conv`` of the output gradient, and the
  input gradient of ``conv`` is ``conv_transpose`` of it (same weight, same geometry);
* the weight gradient is one correlation, shared by both:
  ``dW[cy, cx, t] = sum_{n, j} Y[n, cy, j] * X[n, cx, j*s + t*d - pad_lo]``, where ``Y`` is the
  y-side array (``conv``'s output gradient, or ``conv_transpose``'s input) and ``X`` the
  x-side array. It is the registry's third operation (``weight_grad``): ``method=`` governs
  every gradient, and ``auto`` plans each of the two with its own cost model (``gemm``: im2col
  + GEMMs accumulating over the batch; ``direct``: a numba dot product per weight entry, for
  few-channel and depthwise layers).

>>> import numpy as np
>>> x = np.ones((1, 1, 3)); w = np.ones((1, 1, 2))
>>> gx, gw, gb = conv_transpose_vjp(np.ones((1, 1, 4)), x, w, bias=np.zeros(1))
>>> gx.tolist(), gw.tolist(), gb.tolist()
([[[2.0, 2.0, 2.0]]], [[[3.0, 3.0]]], [4.0])
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ._params import as_float_array
from .backends import backend_for, conventions, refuse_conventions
from .errors import TconvError
from .frontend_check import special
from .functional import run, setup_conv, setup_conv_transpose
from .geometry import ConvGeometry

__all__ = ["conv_transpose_vjp", "conv_vjp", "weight_gradient"]


def weight_gradient(y_side: np.ndarray, x_side: np.ndarray, geom: ConvGeometry, method: str = "auto") -> np.ndarray:
    """``dW`` of shape ``geom.weight_shape`` from the batched y-side and x-side arrays."""
    dtype = np.result_type(y_side, x_side)
    return run(method, "weight_grad", y_side.astype(dtype, copy=False), x_side.astype(dtype, copy=False), geom)


def _check_grad(grad_output, expected: tuple[int, ...], batched: bool, dtype) -> np.ndarray:
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
    if forward_is_transpose:
        gx, gw = run(method, "conv", go, w, geom), weight_gradient(xa, go, geom, method)
    else:
        gx, gw = run(method, "conv_transpose", go, w, geom), weight_gradient(go, xa, geom, method)
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
    ``grad_x`` are in ``data_format``, ``grad_weight`` in ``weight_format``. With Dask ``grad_output``
    and ``x``, ``grad_x`` is lazy and chunked like ``x`` (see :mod:`tconv.dask`).
    """
    if (backend := backend_for(grad_output, x, weight, bias)) is not None:  # e.g. Dask arrays
        refuse_conventions(backend, padding_mode=padding_mode, data_format=data_format, weight_format=weight_format)
        return backend.conv_transpose_vjp(grad_output, x, weight, bias, stride, padding, output_padding, groups,
                                          dilation, output_size=output_size, method=method)
    if special(x, weight, bias, grad_output, padding_mode=padding_mode, data_format=data_format,
               weight_format=weight_format):  # every other convention: tconv.frontend, then back here
        return conventions().conv_transpose_vjp(grad_output, x, weight, bias, stride, padding, output_padding,
                                                groups, dilation, output_size, padding_mode, data_format,
                                                weight_format, method)
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
    if (backend := backend_for(grad_output, x, weight, bias)) is not None:  # e.g. Dask arrays
        refuse_conventions(backend, padding_mode=padding_mode, data_format=data_format, weight_format=weight_format)
        return backend.conv_vjp(grad_output, x, weight, bias, stride, padding, dilation, groups, method=method)
    if special(x, weight, bias, grad_output, padding_mode=padding_mode, data_format=data_format,
               weight_format=weight_format):  # every other convention: tconv.frontend, then back here
        return conventions().conv_vjp(grad_output, x, weight, bias, stride, padding, dilation, groups, padding_mode,
                                      data_format, weight_format, method)
    xa, w, b, batched, geom = setup_conv(x, weight, bias, stride, padding, dilation, groups)
    return _vjp(grad_output, xa, w, b, batched, geom, method, forward_is_transpose=False)
