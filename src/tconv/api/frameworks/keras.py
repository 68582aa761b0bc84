"""Keras 3 ``conv_transpose`` semantics (``keras.ops.conv_transpose`` / ``Conv*DTranspose``), in NumPy.

Keras differs from PyTorch and ONNX in three ways that give right-shaped wrong answers when
a layer is ported by hand:

* layout: ``data_format="channels_last"`` by default (``(N, *spatial, C)``) and the kernel is
  ``(*kernel, C_out, C_in)`` (PyTorch: ``(C_in, C_out, *kernel)``), no flip;
* ``padding="same"``: output ``input * stride``; with ``output_padding`` given, the output is
  ``(input - 1) * stride + k_eff % 2 + output_padding`` instead (``k_eff = d * (k - 1) + 1``),
  and the crop is the larger half first, at most ``k_eff - 1`` on the low side;
* ``padding="valid"``: output ``(input - 1) * stride + max(k_eff, stride)`` when
  ``output_padding`` is None: when the stride exceeds the dilated kernel the output is
  extended by ``stride - k_eff`` zeros at the end (PyTorch gives ``(input - 1) * stride + k_eff``).

Each call is mapped onto one :func:`tconv.conv_transpose` (explicit ``(lo, hi)`` crops, the
kernel moved to PyTorch's layout) plus explicit zeros where Keras extends the output.

>>> import numpy as np
>>> x = np.ones((1, 3, 1), np.float32)            # (N, W, C) channels_last
>>> k = np.ones((2, 1, 1), np.float32)            # (kW, C_out, C_in)
>>> conv_transpose(x, k, strides=3).shape         # valid: (3 - 1) * 3 + max(2, 3)
(1, 9, 1)
>>> conv_transpose(x, k, strides=3)[0, :, 0].tolist()
[1.0, 1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0, 0.0]
>>> conv_transpose(x, k, strides=2, padding="same", output_padding=1).shape   # (3 - 1) * 2 + 2 % 2 + 1
(1, 5, 1)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ...core.params import as_float_array, per_axis, shown
from ...core.window import conv_transpose_window
from ...errors import TconvError, TconvTypeError
from ..conventions.layout import to_torch_weight
from ..names import checked_names

__all__ = ["conv_transpose", "keras_padding", "keras_crop", "output_length", "DATA_FORMATS"]

DATA_FORMATS = ("channels_last", "channels_first")


def keras_padding(k: int, s: int, d: int, padding: str, output_padding: int | None) -> tuple[int, int]:
    """Keras's ``(lo, hi)`` padding of the stride-dilated input (``jax.lax`` convention) on one axis.

    >>> keras_padding(3, 2, 1, "same", None), keras_padding(3, 2, 1, "same", 1)
    ((2, 1), (2, 1))
    """
    k_eff = d * (k - 1) + 1
    if padding == "valid":
        op = max(k_eff, s) - k_eff if output_padding is None else output_padding
        return k_eff - 1, k_eff - 1 + op
    pad_len = s + k_eff - 2 if output_padding is None else k_eff + k_eff % 2 - 2 + output_padding
    lo = min(pad_len // 2 + pad_len % 2, k_eff - 1)
    return lo, pad_len - lo


def keras_crop(k: int, s: int, d: int, padding: str, output_padding: int | None) -> tuple[int, int]:
    """The ``(lo, hi)`` crop of the uncropped transposed convolution that Keras's padding means on one axis
    (``d * (k - 1) - pad``: a negative value extends with zeros).

    >>> keras_crop(3, 2, 1, "same", None), keras_crop(2, 3, 1, "valid", None)
    ((0, 1), (0, -1))
    """
    lo, hi = keras_padding(k, s, d, padding, output_padding)
    return d * (k - 1) - lo, d * (k - 1) - hi


def output_length(i: int, k: int, s: int, d: int, padding: str, output_padding: int | None) -> int:
    """Keras's output size on one axis (``compute_conv_transpose_output_shape``).

    >>> output_length(4, 2, 3, 1, "valid", None), output_length(4, 3, 2, 1, "same", 1)
    (12, 8)
    """
    lo, hi = keras_padding(k, s, d, padding, output_padding)
    return (i - 1) * s + 1 + lo + hi - (d * (k - 1) + 1) + 1


def _padding(padding: object) -> str:
    if not isinstance(padding, str):
        raise TconvTypeError(f"padding={shown(padding)} must be the string 'valid' or 'same' (Keras)")
    p = padding.lower()
    if p not in ("valid", "same"):
        raise TconvError(f"padding={shown(padding)} must be 'valid' or 'same' (Keras has no explicit padding)")
    return p


def _data_format(data_format: object) -> str:
    df = "channels_last" if data_format is None else data_format
    if not isinstance(df, str) or df not in DATA_FORMATS:
        raise TconvError(f"data_format={shown(data_format)} must be one of {', '.join(DATA_FORMATS)}")
    return df  # type: ignore[return-value]


def torch_weight(kernel: np.ndarray) -> np.ndarray:
    """Keras ``(*kernel, C_out, C_in)`` -> PyTorch transposed ``(C_in, C_out, *kernel)`` (a view; the
    ``weight_format="keras"`` layout of :mod:`tconv.api.conventions.layout`)."""
    return to_torch_weight(kernel, "keras", "conv_transpose")


@checked_names
def conv_transpose(
    inputs: np.ndarray,
    kernel: np.ndarray,
    strides: int | Sequence[int] = 1,
    padding: str = "valid",
    output_padding: int | Sequence[int] | None = None,
    data_format: str | None = None,
    dilation_rate: int | Sequence[int] = 1,
    *,
    bias: np.ndarray | None = None,
    method: str = "auto",
) -> np.ndarray:
    """``keras.ops.conv_transpose`` (Keras 3) semantics; ``bias`` (``(C_out,)``) as ``Conv*DTranspose`` adds it.

    Parameters
    ----------
    inputs : ``(N, *spatial, C_in)`` (``channels_last``, the default) or ``(N, C_in, *spatial)``.
    kernel : ``(*kernel, C_out, C_in)``, whatever ``data_format`` is.
    strides, dilation_rate : int or one int per axis.
    padding : ``"valid"`` or ``"same"`` (any case).
    output_padding : None, an int or one int per axis (>= 0).
    data_format : ``"channels_last"`` (also when None, Keras's default) or ``"channels_first"``.

    >>> import numpy as np
    >>> conv_transpose(np.ones((1, 2, 2, 1)), np.ones((3, 3, 1, 1)), 2, "same")[0, :, :, 0].tolist()
    [[1.0, 1.0, 2.0, 1.0], [1.0, 1.0, 2.0, 1.0], [2.0, 2.0, 4.0, 2.0], [1.0, 1.0, 2.0, 1.0]]
    """
    x = as_float_array("inputs", inputs)
    k = as_float_array("kernel", kernel)
    pad = _padding(padding)
    df = _data_format(data_format)
    if k.ndim < 3:
        raise TconvError(f"kernel has shape {k.shape}; Keras needs (*kernel_size, C_out, C_in)")
    nd = k.ndim - 2
    if x.ndim != nd + 2:
        raise TconvError(
            f"inputs has shape {x.shape}; a kernel of shape {k.shape} needs a {nd + 2}-D batched input "
            f"({'(N, *spatial, C)' if df == 'channels_last' else '(N, C, *spatial)'})"
        )
    x_cf = np.moveaxis(x, -1, 1) if df == "channels_last" else x
    if x_cf.shape[1] != k.shape[-1]:
        raise TconvError(
            f"inputs has {x_cf.shape[1]} channels ({df}) but the kernel {k.shape} is "
            f"(*kernel_size, C_out, C_in) with C_in={k.shape[-1]}"
        )
    s = per_axis("strides", strides, nd, 1)
    d = per_axis("dilation_rate", dilation_rate, nd, 1)
    op = None if output_padding is None else per_axis("output_padding", output_padding, nd, 0)
    crops = []
    for ax in range(nd):
        crops.append(keras_crop(k.shape[ax], s[ax], d[ax], pad, None if op is None else op[ax]))
    b = None if bias is None else as_float_array("bias", bias)
    if b is not None and b.shape != (k.shape[-2],):
        raise TconvError(f"bias has shape {b.shape}; it must be ({k.shape[-2]},), one per output channel")
    y = conv_transpose_window(x_cf, torch_weight(k), s, d, crops, b, method=method)
    return np.moveaxis(y, 1, -1) if df == "channels_last" else y
