"""Vector-Jacobian products of ``conv_transpose`` and ``conv``: the public functions.

Both operations are linear in the input and in the weight, so the input gradient of
``conv_transpose`` is ``conv`` of the output gradient (and vice versa), and the weight gradient
is one correlation shared by both, the registry's ``weight_grad`` operation (see
:mod:`tconv.core.dispatch`). ``method=`` governs every gradient the algorithm implements (``brgemm``
has no weight gradient of its own: ``auto`` plans that one), and ``auto`` plans each of the two with
its own cost model. Every convention of the forward call applies (the chain of
:mod:`tconv.api.conventions`).

>>> import numpy as np
>>> x = np.ones((1, 1, 3)); w = np.ones((1, 1, 2))
>>> gx, gw, gb = conv_transpose_vjp(np.ones((1, 1, 4)), x, w, bias=np.zeros(1))
>>> gx.tolist(), gw.tolist(), gb.tolist()
([[[2.0, 2.0, 2.0]]], [[[3.0, 3.0]]], [4.0])
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..core.dispatch import Call
from . import conventions
from .names import checked_names

__all__ = ["conv_transpose_vjp", "conv_vjp"]


@checked_names
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
    call = Call("conv_transpose", stride, padding, output_padding, groups, dilation, output_size, method)
    return conventions.vjp(call, grad_output, x, weight, bias, padding_mode, data_format, weight_format)


@checked_names
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
    call = Call("conv", stride, padding, 0, groups, dilation, None, method)
    return conventions.vjp(call, grad_output, x, weight, bias, padding_mode, data_format, weight_format)
