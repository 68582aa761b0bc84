"""Small layer objects: a weight, a bias and the parameters, callable on NumPy arrays.

:class:`ConvTranspose` and :class:`Conv` hold what PyTorch's ``nn.ConvTranspose*d`` / ``nn.Conv*d``
hold (PyTorch's weight layouts and parameter meanings, ``padding_mode`` included) and call
:func:`tconv.conv_transpose` / :func:`tconv.conv`; :func:`from_torch` builds one from a PyTorch
module (torch is imported only if you pass it a module). ``vjp`` gives the gradients,
``explain`` the planner's report for an input shape.

A layer owns its weight, so it keeps the weight's transforms between calls when ``fft`` runs (the
kernel spectra, as :class:`~tconv.ConvOperator` does): every call passes the layer's cache down
the chain to the core (:class:`~tconv.core.dispatch.Call`). ``weight`` stays a public, writable
attribute: the layer keeps a copy of the weight the cached transforms were computed from and, before
a call that would use them, compares it with ``weight`` (``np.array_equal``: one pass over the
weight, less work than one of its transforms); a new or modified weight empties the cache. A layer
whose calls never ran ``fft`` holds no copy and checks nothing.

>>> import numpy as np
>>> layer = ConvTranspose(np.ones((2, 3, 4, 4)), np.zeros(3), stride=2, padding=1)
>>> layer
ConvTranspose(2, 3, kernel_size=(4, 4), stride=(2, 2), padding=1, bias=True)
>>> layer(np.ones((1, 2, 5, 5))).shape
(1, 3, 10, 10)
>>> layer(np.ones((1, 2, 5, 5)), output_size=(11, 11)).shape
(1, 3, 11, 11)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from ..core.dispatch import Call
from ..core.geometry import conv_geometry, conv_transpose_geometry
from ..core.padding import check_mode
from ..core.params import PadSpec, as_float_array, as_int, parse_padding, per_axis
from ..core.planner import Plan, plan
from ..errors import TconvError, TconvTypeError
from . import conventions
from .conventions import layout
from .names import checked_names

__all__ = ["ConvTranspose", "Conv", "from_torch"]


def _weight(value, what: str) -> np.ndarray:
    w = as_float_array("weight", value)
    if w.ndim < 3 or 0 in w.shape:
        raise TconvError(f"weight has shape {w.shape}; {what} needs a non-empty {what} weight with at least one "
                         "kernel axis")
    return w


def _pad_repr(padding) -> str:
    return repr(padding) if isinstance(padding, (str, int)) else repr(tuple(padding))


class _Layer:
    """What both layers share: parameters, normalised and checked once."""

    kind = ""

    def __init__(self, weight, bias, stride, padding, dilation, groups, padding_mode, method,
                 data_format="channels_first", weight_format="torch") -> None:
        op = "conv_transpose" if self.kind == "ConvTranspose" else "conv"
        self.weight_format = weight_format
        self.weight = _weight(layout.to_torch_weight(_weight(weight, self.kind), weight_format, op), self.kind)
        self.data_format = layout.check_data_format(data_format)
        nd = self.weight.ndim - 2
        self.bias = None if bias is None else as_float_array("bias", bias)
        self.stride = per_axis("stride", stride, nd, 1)
        self.dilation = per_axis("dilation", dilation, nd, 1)
        self.groups = as_int("groups", groups, 1)
        parse_padding(padding, nd)  # raises on a malformed padding
        self.padding = padding
        self.padding_mode = check_mode(padding_mode)
        self.method = method
        if self.bias is not None and self.bias.shape != (self.out_channels,):
            raise TconvError(f"bias has shape {self.bias.shape}; it must be ({self.out_channels},), "
                             "one per output channel")
        self._spectra: dict = {}  # the weight's transforms (fft), kept between calls
        self._spectra_of: np.ndarray | None = None  # a copy of the weight they were computed from

    def _cache(self, w) -> dict:
        """The transform cache for a call on the weight ``w`` (``self.weight`` read once by the caller):
        emptied if ``w`` is not (in shape and every value) the weight the cached transforms were computed from."""
        if self._spectra:
            seen = self._spectra_of
            if seen is None or np.shape(w) != seen.shape or not np.array_equal(w, seen):
                self._spectra.clear()
                self._spectra_of = None
        return self._spectra

    def _kept(self, result, w):
        """After a call on ``w``: remember which weight the new cached transforms belong to (``w``, not
        ``self.weight``, which another thread may have replaced meanwhile); ``result`` unchanged."""
        if self._spectra and self._spectra_of is None:
            self._spectra_of = np.array(w, copy=True)
        return result

    def _forward(self, call: Call, x):
        w = self.weight
        call = replace(call, cache=self._cache(w))
        return self._kept(conventions.forward(call, x, w, self.bias, self.padding_mode, self.data_format), w)

    def _vjp(self, call: Call, grad_output, x, op: str):
        w = self.weight
        call = replace(call, cache=self._cache(w))
        grads = conventions.vjp(call, grad_output, x, w, self.bias, self.padding_mode, self.data_format)
        return self._kept(self._grads(grads, op), w)

    @property
    def kernel_size(self) -> tuple[int, ...]:
        return tuple(self.weight.shape[2:])

    def _params_repr(self, extra: dict) -> str:
        parts = [str(self.in_channels), str(self.out_channels), f"kernel_size={self.kernel_size}"]
        nd = len(self.kernel_size)
        if self.stride != (1,) * nd:
            parts.append(f"stride={self.stride}")
        if self.padding not in (0, (0,) * nd):
            parts.append(f"padding={_pad_repr(self.padding)}")
        for k, v in extra.items():
            parts.append(f"{k}={v}")
        if self.dilation != (1,) * nd:
            parts.append(f"dilation={self.dilation}")
        if self.groups != 1:
            parts.append(f"groups={self.groups}")
        parts.append(f"bias={self.bias is not None}")
        if self.padding_mode != "zeros":
            parts.append(f"padding_mode={self.padding_mode!r}")
        if self.data_format != "channels_first":
            parts.append(f"data_format={self.data_format!r}")
        return f"{type(self).__name__}({', '.join(parts)})"

    def _batch_shape(self, input_shape: Sequence[int], channels: int, nd: int) -> tuple[int, ...]:
        shape = tuple(int(v) for v in input_shape)
        last = self.data_format == "channels_last"
        if len(shape) == nd:
            return (1, channels, *shape)
        if len(shape) == nd + 1:
            return (1, shape[-1], *shape[:-1]) if last else (1, *shape)
        if len(shape) == nd + 2:
            return (shape[0], shape[-1], *shape[1:-1]) if last else shape
        raise TconvError(f"input_shape={shape} must be {nd} spatial sizes, (C, *spatial) or (N, C, *spatial) "
                         "((*spatial, C) or (N, *spatial, C) with data_format='channels_last')")

    def _grads(self, grads, op: str):
        """``(grad_x, grad_weight, grad_bias)`` with ``grad_weight`` in the layer's ``weight_format``."""
        gx, gw, gb = grads
        return gx, layout.from_torch_weight(gw, self.weight_format, op), gb


class ConvTranspose(_Layer):
    """``nn.ConvTranspose*d`` as a NumPy layer: ``weight`` ``(C_in, C_out // groups, *kernel)``.

    ``weight_format`` reads another kernel layout at construction (``"keras"``, ``"jax"`` or a spec; the
    layer then holds PyTorch's layout, and ``vjp`` gives ``grad_weight`` back in ``weight_format``);
    ``data_format="channels_last"`` makes the layer take and return ``(N, *spatial, C)`` arrays.
    ``padding_mode`` other than ``"zeros"`` makes it the exact adjoint of the padded convolution
    (see :mod:`tconv.api.conventions.padding_mode`); ``output_size`` may be given at call time, as in PyTorch.
    """

    kind = "ConvTranspose"

    @checked_names
    def __init__(
        self,
        weight: np.ndarray,
        bias: np.ndarray | None = None,
        stride: int | Sequence[int] = 1,
        padding: PadSpec = 0,
        output_padding: int | Sequence[int] = 0,
        groups: int = 1,
        dilation: int | Sequence[int] = 1,
        *,
        padding_mode: str = "zeros",
        method: str = "auto",
        data_format: str = "channels_first",
        weight_format: str = "torch",
    ) -> None:
        w = _weight(weight, self.kind)
        self.output_padding = per_axis("output_padding", output_padding, w.ndim - 2, 0)
        super().__init__(w, bias, stride, padding, dilation, groups, padding_mode, method, data_format, weight_format)
        if self.weight.shape[0] % self.groups:
            raise TconvError(f"groups={self.groups} must divide in_channels={self.weight.shape[0]} (weight.shape[0])")

    @property
    def in_channels(self) -> int:
        return int(self.weight.shape[0])

    @property
    def out_channels(self) -> int:
        return int(self.weight.shape[1]) * self.groups

    def _call(self, output_size) -> Call:
        op = (0,) * len(self.output_padding) if output_size is not None else self.output_padding
        return Call("conv_transpose", self.stride, self.padding, op, self.groups, self.dilation, output_size,
                    self.method)

    def __call__(self, x: np.ndarray, output_size: Sequence[int] | None = None) -> np.ndarray:
        """The layer's output (``output_size``: PyTorch's call-time choice of the exact size)."""
        return self._forward(self._call(output_size), x)

    def vjp(self, grad_output: np.ndarray, x: np.ndarray, output_size: Sequence[int] | None = None):
        """``(grad_x, grad_weight, grad_bias)`` at input ``x``."""
        return self._vjp(self._call(output_size), grad_output, x, "conv_transpose")

    def output_shape(self, input_shape: Sequence[int]) -> tuple[int, ...]:
        """Spatial output shape for spatial ``input_shape``."""
        return self._geometry(input_shape)[0].x_shape

    def _geometry(self, input_shape):
        shape = self._batch_shape(input_shape, self.in_channels, len(self.kernel_size))
        return conv_transpose_geometry(self.weight.shape, shape[2:], self.stride, self.padding, self.output_padding,
                                       self.dilation, self.groups), shape

    def explain(self, input_shape: Sequence[int], dtype: str = "float32") -> Plan:
        """The planner's report for an input of ``input_shape`` (spatial, ``(C, *sp)`` or ``(N, C, *sp)``)."""
        geom, shape = self._geometry(input_shape)
        return plan(geom, shape[0], np.dtype(dtype).name)

    def __repr__(self) -> str:
        nd = len(self.kernel_size)
        extra = {} if self.output_padding == (0,) * nd else {"output_padding": self.output_padding}
        return self._params_repr(extra)


class Conv(_Layer):
    """``nn.Conv*d`` as a NumPy layer: ``weight`` ``(C_out, C_in // groups, *kernel)``, ``padding_mode``
    ``"zeros"``/``"reflect"``/``"replicate"``/``"circular"`` as PyTorch; ``data_format`` and ``weight_format``
    as in :class:`ConvTranspose`.

    >>> layer = Conv(np.ones((3, 3, 2, 4)), weight_format="keras", data_format="channels_last", padding=1)
    >>> layer, layer(np.ones((1, 5, 5, 2))).shape
    (Conv(2, 4, kernel_size=(3, 3), padding=1, bias=False, data_format='channels_last'), (1, 5, 5, 4))
    """

    kind = "Conv"

    @checked_names
    def __init__(
        self,
        weight: np.ndarray,
        bias: np.ndarray | None = None,
        stride: int | Sequence[int] = 1,
        padding: PadSpec = 0,
        dilation: int | Sequence[int] = 1,
        groups: int = 1,
        *,
        padding_mode: str = "zeros",
        method: str = "auto",
        data_format: str = "channels_first",
        weight_format: str = "torch",
    ) -> None:
        super().__init__(weight, bias, stride, padding, dilation, groups, padding_mode, method, data_format,
                         weight_format)
        if self.weight.shape[0] % self.groups:
            raise TconvError(f"groups={self.groups} must divide out_channels={self.weight.shape[0]} (weight.shape[0])")

    @property
    def in_channels(self) -> int:
        return int(self.weight.shape[1]) * self.groups

    @property
    def out_channels(self) -> int:
        return int(self.weight.shape[0])

    def _call(self) -> Call:
        return Call("conv", self.stride, self.padding, 0, self.groups, self.dilation, None, self.method)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """The layer's output."""
        return self._forward(self._call(), x)

    def vjp(self, grad_output: np.ndarray, x: np.ndarray):
        """``(grad_x, grad_weight, grad_bias)`` at input ``x``."""
        return self._vjp(self._call(), grad_output, x, "conv")

    def output_shape(self, input_shape: Sequence[int]) -> tuple[int, ...]:
        shape = self._batch_shape(input_shape, self.in_channels, len(self.kernel_size))
        return conv_geometry(self.weight.shape, shape[2:], self.stride, self.padding, self.dilation, self.groups).y_shape

    def explain(self, input_shape: Sequence[int], dtype: str = "float32") -> Plan:
        """The planner's report for an input of ``input_shape`` (spatial, ``(C, *sp)`` or ``(N, C, *sp)``)."""
        shape = self._batch_shape(input_shape, self.in_channels, len(self.kernel_size))
        geom = conv_geometry(self.weight.shape, shape[2:], self.stride, self.padding, self.dilation, self.groups)
        return plan(geom, shape[0], np.dtype(dtype).name)

    def __repr__(self) -> str:
        return self._params_repr({})


def from_torch(module, *, method: str = "auto") -> ConvTranspose | Conv:
    """A :class:`ConvTranspose` or :class:`Conv` with the weights (copied to NumPy) and parameters of a
    PyTorch ``nn.ConvTranspose1d/2d/3d`` or ``nn.Conv1d/2d/3d`` (``padding_mode`` included).

    >>> import torch
    >>> m = torch.nn.Conv2d(3, 4, 3, padding=1, padding_mode="reflect")
    >>> from_torch(m)
    Conv(3, 4, kernel_size=(3, 3), padding=(1, 1), bias=True, padding_mode='reflect')
    """
    import torch

    def arr(t):
        return None if t is None else t.detach().cpu().numpy().copy()

    nn = torch.nn
    if isinstance(module, (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)):
        return ConvTranspose(arr(module.weight), arr(module.bias), module.stride, tuple(module.padding),
                             module.output_padding, module.groups, module.dilation,
                             padding_mode=module.padding_mode, method=method)
    if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
        padding = module.padding if isinstance(module.padding, str) else tuple(module.padding)
        return Conv(arr(module.weight), arr(module.bias), module.stride, padding, module.dilation, module.groups,
                    padding_mode=module.padding_mode, method=method)
    raise TconvTypeError(
        f"module={type(module).__name__} must be nn.ConvTranspose1d/2d/3d or nn.Conv1d/2d/3d"
    )
