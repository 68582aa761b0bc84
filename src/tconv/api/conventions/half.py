"""Half precision (float16, and bfloat16 from ``ml_dtypes``, the package JAX uses) and ``out_dtype``.

Half-precision inputs are computed in float32 (every algorithm runs on float32) and the result is
rounded once to the output dtype: by default the inputs' common half dtype (float16 with float16,
bfloat16 with bfloat16; mixed with anything wider, NumPy's promotion, bfloat16 with float16 giving
float32), or ``out_dtype`` when given (any float or complex dtype). PyTorch's CPU half kernels also
accumulate in float32, so the results agree within the half dtype's rounding.

>>> import numpy as np, tconv
>>> y = tconv.conv_transpose(np.ones((1, 1, 3), np.float16), np.ones((1, 1, 2), np.float16), stride=2)
>>> y.dtype, y.tolist()
(dtype('float16'), [[[1.0, 1.0, 1.0, 1.0, 1.0, 1.0]]])
>>> tconv.conv(np.ones((1, 1, 3), np.float16), np.ones((1, 1, 2)), out_dtype=np.float32).dtype
dtype('float32')
"""

from __future__ import annotations

import numpy as np

from ...core.params import shown
from ...errors import TconvError, TconvTypeError

__all__ = ["HALF", "is_half", "result_dtype", "out_dtype_of", "forward", "vjp"]

HALF = ("float16", "bfloat16")


def _dtype(a) -> np.dtype | None:
    """``a``'s dtype without reading its data (NumPy or Dask arrays; other inputs converted)."""
    if a is None:
        return None
    dt = getattr(a, "dtype", None)
    return dt if isinstance(dt, np.dtype) else np.asarray(a).dtype


def is_half(*arrays) -> bool:
    """Any of ``arrays`` in float16 or bfloat16."""
    return any(dt is not None and dt.name in HALF for dt in map(_dtype, arrays))


def _widen(dt: np.dtype) -> np.dtype:
    return np.dtype(np.float32) if dt.name in HALF else dt


def result_dtype(*arrays) -> np.dtype:
    """The default output dtype: the common half dtype, or NumPy's promotion (half counted as itself)."""
    dts = [dt for dt in map(_dtype, arrays) if dt is not None]
    names = {dt.name for dt in dts}
    if names <= {"bfloat16"} and names:
        return dts[0]
    if "bfloat16" in names:  # bfloat16 with anything else: promote as float32 would be
        return np.result_type(*[_widen(dt) for dt in dts])
    return np.result_type(*dts)


def out_dtype_of(value, default: np.dtype) -> np.dtype:
    if value is None:
        return default
    try:
        dt = np.dtype(value)
    except TypeError:
        raise TconvTypeError(f"out_dtype={shown(value)} is not a NumPy dtype") from None
    if dt.kind not in "fc" and dt.name not in HALF:
        raise TconvError(f"out_dtype={shown(value)} must be a floating or complex dtype (float16, bfloat16, float32, ...)")
    return dt


def _to32(a):
    if a is None:
        return None
    if _dtype(a).name not in HALF:
        return a
    return a.astype(np.float32) if hasattr(a, "astype") else np.asarray(a).astype(np.float32)


def forward(call, x, weight, bias, *, next, out_dtype=None):
    """The next stage on half inputs widened to float32; the result cast once to the output dtype."""
    dt = out_dtype_of(out_dtype, result_dtype(x, weight, bias))
    return next(call, _to32(x), _to32(weight), _to32(bias)).astype(dt, copy=False)


def vjp(call, grad_output, x, weight, bias, *, next):
    """The next stage's VJP on widened inputs; each gradient in its primal's dtype."""
    gx, gw, gb = next(call, _to32(grad_output), _to32(x), _to32(weight), _to32(bias))
    return (gx.astype(result_dtype(x, grad_output), copy=False), gw.astype(result_dtype(weight), copy=False),
            None if gb is None else gb.astype(result_dtype(bias), copy=False))
