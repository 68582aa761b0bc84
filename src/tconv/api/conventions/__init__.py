"""The conventions, as a chain of stages above the core (or the Dask front end):

``half precision -> layout -> complex -> padding_mode -> core``

Each stage removes one convention and calls the next stage (never the public function):

1. :mod:`~tconv.api.conventions.half`: float16/bfloat16 widened to float32, ``out_dtype``;
2. :mod:`~tconv.api.conventions.layout`: channels-last data and kernel layouts as views;
3. :mod:`~tconv.api.conventions.complexdata`: complex data as real products (Gauss's trick);
4. :mod:`~tconv.api.conventions.padding_mode`: non-zero boundaries, pad / fold around a valid call;
5. the bottom: :func:`tconv.core.dispatch.forward` / :func:`~tconv.core.dispatch.vjp`, or for Dask
   arrays :func:`tconv.api.dask.forward` / :func:`~tconv.api.dask.vjp` (whose blocks call the core
   dispatch).

A plain call (channels first, PyTorch weights, zeros, real float data, NumPy arrays) goes to the
core directly. Dask is recognised without importing it (a Dask array cannot exist before
``dask.array`` is imported).

>>> import numpy as np, tconv
>>> x = (np.arange(6.0) + 1j).reshape(1, 3, 2).astype(np.complex64)       # (N, W, C), complex
>>> tconv.conv(x, np.ones((2, 2, 1)), padding=1, padding_mode="circular", data_format="channels_last",
...            weight_format="keras").shape
(1, 4, 1)
"""

from __future__ import annotations

from functools import partial

import numpy as np

from ...core import dispatch
from ...core.dispatch import Call
from ...core.padding import check_mode
from ..dask._detect import is_dask_array
from . import complexdata, half, layout
from . import padding_mode as padding_stage

__all__ = ["Call", "forward", "vjp", "is_dask"]


def is_dask(*arrays) -> bool:
    """Is any of ``arrays`` a ``dask.array.Array``? Never imports Dask."""
    return any(is_dask_array(a) for a in arrays)


def _kinds(arrays) -> tuple[bool, bool]:
    """``(any half, any complex)`` from the dtypes alone (nothing is read or converted but lists).
    Half means a 2-byte float (float16, or ``ml_dtypes.bfloat16``, whose kind is ``"V"``)."""
    anyhalf = anycomplex = False
    for a in arrays:
        if a is None:
            continue
        dt = getattr(a, "dtype", None)
        if not isinstance(dt, np.dtype):
            try:
                dt = np.asarray(a).dtype
            except (RuntimeError, TypeError, ValueError):  # not readable: the core says why, clearly
                continue
        kind = dt.kind
        if kind == "c":
            anycomplex = True
        elif dt.itemsize == 2 and (kind == "f" or (kind == "V" and dt.name in half.HALF)):
            anyhalf = True
    return anyhalf, anycomplex


def _bottom(arrays, what: str):
    if is_dask(*arrays):
        from .. import dask

        return getattr(dask, what)
    return getattr(dispatch, what)


def _chain(what: str, arrays, padding_mode, data_format, weight_format, out_dtype):
    stage = _bottom(arrays, what)
    anyhalf, anycomplex = _kinds(arrays)
    mode = check_mode(padding_mode)
    if mode != "zeros":
        stage = partial(getattr(padding_stage, what), next=stage, mode=mode)
    if anycomplex:
        stage = partial(getattr(complexdata, what), next=stage)
    if not (isinstance(data_format, str) and data_format == "channels_first"
            and isinstance(weight_format, str) and weight_format == "torch"):
        stage = partial(getattr(layout, what), next=stage, data_format=data_format, weight_format=weight_format)
    if anyhalf or out_dtype is not None:
        kw = {"out_dtype": out_dtype} if what == "forward" else {}
        stage = partial(getattr(half, what), next=stage, **kw)
    return stage



def forward(call: Call, x, weight, bias, padding_mode="zeros", data_format="channels_first",
            weight_format="torch", out_dtype=None):
    """``conv`` or ``conv_transpose`` (``call.op``) through every convention the call uses."""
    return _chain("forward", (x, weight, bias), padding_mode, data_format, weight_format, out_dtype)(
        call, x, weight, bias)


def vjp(call: Call, grad_output, x, weight, bias, padding_mode="zeros", data_format="channels_first",
        weight_format="torch"):
    """The VJP of ``call`` through every convention the call uses."""
    return _chain("vjp", (grad_output, x, weight, bias), padding_mode, data_format, weight_format, None)(
        call, grad_output, x, weight, bias)
