"""``conv`` and ``conv_transpose`` with PyTorch's semantics, and their rank-checked aliases.

>>> import numpy as np
>>> x = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])          # (N=1, C_in=1, 2, 2)
>>> w = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)        # (C_in, C_out, 3, 3)
>>> conv_transpose(x, w)[0, 0].astype(int)
array([[ 1,  4,  7,  6],
       [ 7, 23, 33, 24],
       [19, 53, 63, 42],
       [21, 52, 59, 36]])
>>> conv(conv_transpose(x, w), w).shape
(1, 1, 2, 2)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..core import callcache
from ..core.dispatch import Call
from ..core.params import PadSpec
from ..errors import TconvError
from . import conventions
from .names import checked_names

__all__ = [
    "conv",
    "conv_transpose",
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
]

IntOrSeq = int | Sequence[int]

# The defaults of the convention parameters. A call whose values are these very objects (the defaults,
# or the same literals, which Python interns) and whose out_dtype is None is plain: it may use the
# per-call cache (tconv.core.callcache). Any other value, equal or not, takes the conventions chain,
# which gives the same result.
_ZEROS, _FIRST, _TORCH = "zeros", "channels_first", "torch"
_lookup, _key, _remember = callcache.lookup, callcache.key, callcache.remember


@checked_names
def conv_transpose(
    x: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray | None = None,
    stride: IntOrSeq = 1,
    padding: PadSpec = 0,
    output_padding: IntOrSeq = 0,
    groups: int = 1,
    dilation: IntOrSeq = 1,
    *,
    output_size: IntOrSeq | None = None,
    padding_mode: str = _ZEROS,
    data_format: str = _FIRST,
    weight_format: str = _TORCH,
    out_dtype=None,
    method: str = "auto",
) -> np.ndarray:
    """Transposed convolution ``y = C_K^T x`` with ``torch.nn.functional.conv_transpose*d`` semantics.

    Parameters
    ----------
    x : ``(N, C_in, *spatial)`` or unbatched ``(C_in, *spatial)``; 1, 2, 3 or more spatial axes.
    weight : ``(C_in, C_out // groups, *kernel)`` (PyTorch layout).
    bias : ``(C_out,)`` or None.
    stride, dilation, output_padding : int or one int per axis.
    padding : int, one int per axis, one ``(lo, hi)`` pair per axis, ``"valid"`` or ``"same"``
        (output = input * stride; see :func:`tconv.conv_transpose_geometry`).
    output_size : exact spatial output size (PyTorch's range), instead of ``output_padding``: one int for every
        axis or one per axis (or the full ``(N, C, *spatial)`` shape).
    padding_mode : ``"zeros"`` (PyTorch) or ``"reflect"``/``"replicate"``/``"circular"``/``"symmetric"``: the exact adjoint
        of :func:`conv` with that ``padding_mode`` (the margins folded back; see :mod:`tconv.api.conventions.padding_mode`).
    data_format, weight_format : ``"channels_first"``/``"channels_last"`` and the kernel layout
        (``"torch"``, ``"keras"``, ``"jax"`` or a spec such as ``"HWIO"``; see :mod:`tconv.api.conventions.layout`).
    out_dtype : the result's dtype (default: the inputs', see below).
    method : ``"auto"`` or a registered algorithm name (``tconv.ALGORITHMS``).

    float16 and bfloat16 (``ml_dtypes``) compute in float32 and return the input dtype
    (:mod:`tconv.api.conventions.half`). float32 and float64 are preserved (mixed inputs use NumPy's promotion); integer
    inputs are computed in float64. complex64/complex128 are computed with real arithmetic
    (3 real products, Gauss's trick; 2 when only one operand is complex: :mod:`tconv.api.conventions.complexdata`).
    Inputs are never modified.
    A ``dask.array.Array`` ``x`` gives a lazy, chunked Dask result (see :mod:`tconv.dask`).

    >>> import numpy as np
    >>> conv_transpose(np.ones((1, 3)), np.ones((1, 1, 2)), stride=2).tolist()
    [[1.0, 1.0, 1.0, 1.0, 1.0, 1.0]]
    """
    k = None
    if padding_mode is _ZEROS and data_format is _FIRST and weight_format is _TORCH and out_dtype is None:
        k = _key("conv_transpose", x, weight, bias, stride, padding, output_padding, groups, dilation, output_size,
                 method)
        if k is not None:
            plan = _lookup(k)
            if plan is not None:
                return plan(x, weight, bias)
    call = Call("conv_transpose", stride, padding, output_padding, groups, dilation, output_size, method)
    out = conventions.forward(call, x, weight, bias, padding_mode, data_format, weight_format, out_dtype)
    if k is not None:
        _remember(k, x, weight, bias, call)
    return out


@checked_names
def conv(
    x: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray | None = None,
    stride: IntOrSeq = 1,
    padding: PadSpec = 0,
    dilation: IntOrSeq = 1,
    groups: int = 1,
    *,
    padding_mode: str = _ZEROS,
    data_format: str = _FIRST,
    weight_format: str = _TORCH,
    out_dtype=None,
    method: str = "auto",
) -> np.ndarray:
    """Convolution (cross-correlation, as in PyTorch's ``conv*d``): ``y = C_K x``.

    ``weight`` has shape ``(C_out, C_in // groups, *kernel)``; the other parameters
    take the same forms as in :func:`conv_transpose`. ``padding="same"`` gives
    ``ceil(input / stride)`` outputs (TensorFlow's rule; PyTorch's for stride 1). ``padding_mode``:
    ``"zeros"``, ``"reflect"``, ``"replicate"`` or ``"circular"`` as PyTorch's ``Conv*d``, or ``"symmetric"``. ``data_format``,
    ``weight_format``, ``out_dtype`` and half/complex data as in :func:`conv_transpose` (conv's
    ``"keras"``/``"jax"`` kernel: ``(*k, C_in/g, C_out)``).

    >>> import numpy as np
    >>> conv(np.arange(5.0)[None], np.ones((1, 1, 2))).tolist()
    [[1.0, 3.0, 5.0, 7.0]]
    """
    k = None
    if padding_mode is _ZEROS and data_format is _FIRST and weight_format is _TORCH and out_dtype is None:
        k = _key("conv", x, weight, bias, stride, padding, 0, groups, dilation, None, method)
        if k is not None:
            plan = _lookup(k)
            if plan is not None:
                return plan(x, weight, bias)
    call = Call("conv", stride, padding, 0, groups, dilation, None, method)
    out = conventions.forward(call, x, weight, bias, padding_mode, data_format, weight_format, out_dtype)
    if k is not None:
        _remember(k, x, weight, bias, call)
    return out


def _ranked(fn, rank: int):
    """``fn`` for exactly ``rank`` spatial axes: the weight's rank is checked, then ``fn`` runs."""
    import functools

    @functools.wraps(fn)
    def wrapper(x, weight, *args, **kwargs):
        if weight is not None and np.ndim(weight) != rank + 2:
            raise TconvError(f"{wrapper.__name__} needs a {rank + 2}-D weight (channels, channels, {rank} kernel "
                             f"sizes), got weight of shape {np.shape(weight)}")
        return fn(x, weight, *args, **kwargs)

    wrapper.__name__ = wrapper.__qualname__ = f"{fn.__name__}{rank}d"
    wrapper.__doc__ = (f"{fn.__name__} for exactly {rank} spatial axes (the weight must be {rank + 2}-D); "
                       f"parameters as :func:`{fn.__name__}`.")
    del wrapper.__wrapped__  # doctest: the aliases have no examples of their own
    return wrapper


conv1d = _ranked(conv, 1)
conv2d = _ranked(conv, 2)
conv3d = _ranked(conv, 3)
conv_transpose1d = _ranked(conv_transpose, 1)
conv_transpose2d = _ranked(conv_transpose, 2)
conv_transpose3d = _ranked(conv_transpose, 3)
