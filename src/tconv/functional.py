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

from ._params import PadSpec, as_float_array
from .backends import backend_for, conventions, refuse_conventions
from .errors import TconvError
from .frontend_check import special
from .geometry import ConvGeometry, conv_geometry, conv_transpose_geometry, weight_rank
from .planner import choose

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


def _prepare(x, weight, bias, op: str, rank: int | None, names=("input", "weight", "bias")):
    """Arrays in a common float dtype, a batched view of ``x``, and whether ``x`` was batched.

    ``names`` are the parameter names used in messages (ONNX calls them ``X``, ``W``, ``B``).
    """
    xname, wname, bname = names
    w = as_float_array(wname, weight)
    xa = as_float_array(xname, x)
    if rank is not None and w.ndim != rank + 2:
        raise TconvError(
            f"{op}{rank}d needs a {rank + 2}-D {wname} (channels, channels, "
            f"{rank} kernel sizes), got {wname} of shape {w.shape}"
        )
    nd = weight_rank(w.shape, wname)
    if xa.ndim not in (nd + 1, nd + 2):
        raise TconvError(
            f"{xname} has shape {xa.shape}; a {wname} of shape {w.shape} needs a {nd + 2}-D "
            f"batched (N, C, *{nd} spatial) or {nd + 1}-D unbatched (C, *{nd} spatial) {xname}"
        )
    batched = xa.ndim == nd + 2
    if not batched:
        xa = xa[None]
    if 0 in xa.shape[2:]:
        raise TconvError(f"{xname} has shape {xa.shape}; spatial axes must be non-empty")
    b = None
    arrays = [xa, w]
    if bias is not None:
        b = as_float_array(bname, bias)
        arrays.append(b)
    dtype = np.result_type(*arrays)
    return xa.astype(dtype, copy=False), w.astype(dtype, copy=False), (
        None if b is None else b.astype(dtype, copy=False)
    ), batched


def _check_channels(xa, b, in_ch: int, out_ch: int, what_in: str, batched: bool,
                    names=("input", "weight", "bias")):
    if xa.shape[1] != in_ch:
        shape = xa.shape if batched else xa.shape[1:]
        read = "" if batched else (f" (the {xa.ndim - 1}-D {names[0]} was read as unbatched (C, *spatial); "
                                   f"give a {xa.ndim}-D (N, C, *spatial) array for a batch)")
        raise TconvError(f"{names[0]} of shape {shape} has {xa.shape[1]} channels but {what_in}{read}")
    if b is not None and b.shape != (out_ch,):
        raise TconvError(f"{names[2]} has shape {b.shape}; it must be ({out_ch},), one per output channel")


def run(method: str, op: str, a: np.ndarray, b: np.ndarray, geom: ConvGeometry) -> np.ndarray:
    """Plan and run ``op`` (``conv``, ``conv_transpose`` or ``weight_grad``) on batched arrays: the
    one dispatch every front end uses. An empty batch gives the empty (or zero) result."""
    algo = choose(method, geom, a.shape[0], a.dtype, op)
    if a.shape[0] == 0:
        if op == "weight_grad":
            return np.zeros(geom.weight_shape, dtype=np.result_type(a, b))
        spatial, ch = (geom.x_shape, geom.x_channels) if op == "conv_transpose" else (geom.y_shape, geom.y_channels)
        return np.empty((0, ch, *spatial), dtype=a.dtype)
    return algo.run(op, a, b, geom)


def _finish(out, b, batched):
    if b is not None:
        out += b.reshape((1, -1) + (1,) * (out.ndim - 2))
    return out if batched else out[0]


_NO_KEY = object()


def _frozen(v):
    """``v`` as a hashable key (lists and arrays of ints as tuples), or ``_NO_KEY``."""
    if isinstance(v, (bool, float, complex, bytes)) or (isinstance(v, np.ndarray) and v.dtype.kind not in "iu"):
        return _NO_KEY  # left to the builders, which say what is wrong with it
    if isinstance(v, np.ndarray) and v.ndim == 0:
        v = int(v)
    if isinstance(v, (int, str, np.integer)) or v is None:
        return (type(v).__name__, v if not isinstance(v, np.integer) else int(v))
    if isinstance(v, (list, tuple, np.ndarray)):
        items = [_frozen(i) for i in (v.tolist() if isinstance(v, np.ndarray) else v)]
        return _NO_KEY if any(i is _NO_KEY for i in items) else ("seq", tuple(items))
    return _NO_KEY


_GEOMETRIES: dict = {}


def _cached_geometry(builder, *args):
    """The geometry builders are pure functions of shapes and parameters: cache their result
    (per-call overhead of tiny calls); anything unhashable or invalid goes to the builder."""
    key = (builder, *(a if type(a) in (int, str, type(None)) or (type(a) is tuple and all(type(i) is int for i in a))
                      else _frozen(a) for a in args))
    if any(k is _NO_KEY for k in key[1:]):
        return builder(*args)
    geom = _GEOMETRIES.get(key)
    if geom is None:
        geom = builder(*args)
        if len(_GEOMETRIES) > 4096:
            _GEOMETRIES.clear()
        _GEOMETRIES[key] = geom
    return geom


def setup_conv_transpose(x, weight, bias, stride, padding, output_padding, groups, dilation,
                         output_size=None, rank=None):
    """Validated arrays (batched view), ``batched`` flag and geometry of a ``conv_transpose`` call."""
    xa, w, b, batched = _prepare(x, weight, bias, "conv_transpose", rank)
    geom = _cached_geometry(conv_transpose_geometry,
                            w.shape, xa.shape[2:], stride, padding, output_padding, dilation, groups, output_size)
    _check_channels(xa, b, geom.y_channels, geom.x_channels,
                    f"weight.shape[0] (in_channels) is {geom.y_channels}", batched)
    return xa, w, b, batched, geom


def setup_conv(x, weight, bias, stride, padding, dilation, groups, rank=None):
    """Validated arrays (batched view), ``batched`` flag and geometry of a ``conv`` call."""
    xa, w, b, batched = _prepare(x, weight, bias, "conv", rank)
    geom = _cached_geometry(conv_geometry, w.shape, xa.shape[2:], stride, padding, dilation, groups)
    _check_channels(
        xa, b, geom.x_channels, geom.y_channels,
        f"weight.shape[1] * groups = {w.shape[1]} * {geom.groups} = {geom.x_channels} "
        "(in_channels) are expected", batched,
    )
    return xa, w, b, batched, geom


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
    output_size: Sequence[int] | None = None,
    padding_mode: str = "zeros",
    data_format: str = "channels_first",
    weight_format: str = "torch",
    out_dtype=None,
    method: str = "auto",
    _rank: int | None = None,
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
    output_size : exact spatial output size (PyTorch's range), instead of ``output_padding``.
    padding_mode : ``"zeros"`` (PyTorch) or ``"reflect"``/``"replicate"``/``"circular"``: the exact adjoint
        of :func:`conv` with that ``padding_mode`` (the margins folded back; see :mod:`tconv.boundary`).
    data_format, weight_format : ``"channels_first"``/``"channels_last"`` and the kernel layout
        (``"torch"``, ``"keras"``, ``"jax"`` or a spec such as ``"HWIO"``; see :mod:`tconv.layout`).
    out_dtype : the result's dtype (default: the inputs', see below).
    method : ``"auto"`` or a registered algorithm name (``tconv.ALGORITHMS``).

    float16 and bfloat16 (``ml_dtypes``) compute in float32 and return the input dtype
    (:mod:`tconv.halfprec`). float32 and float64 are preserved (mixed inputs use NumPy's promotion); integer
    inputs are computed in float64. complex64/complex128 are computed with real arithmetic
    (3 real products, Gauss's trick; 2 when only one operand is complex: :mod:`tconv.complexconv`).
    Inputs are never modified.
    A ``dask.array.Array`` ``x`` gives a lazy, chunked Dask result (see :mod:`tconv.dask`).

    >>> import numpy as np
    >>> conv_transpose(np.ones((1, 3)), np.ones((1, 1, 2)), stride=2).tolist()
    [[1.0, 1.0, 1.0, 1.0, 1.0, 1.0]]
    """
    if (backend := backend_for(x, weight, bias)) is not None:  # e.g. Dask arrays: tconv.dask
        refuse_conventions(backend, padding_mode=padding_mode, data_format=data_format,
                           weight_format=weight_format, out_dtype=out_dtype)
        return backend.conv_transpose(x, weight, bias, stride, padding, output_padding, groups, dilation,
                                      output_size=output_size, method=method, _rank=_rank)
    if special(x, weight, bias, padding_mode=padding_mode, data_format=data_format, weight_format=weight_format,
               out_dtype=out_dtype):  # every other convention: tconv.frontend, then back here
        return conventions().conv_transpose(x, weight, bias, stride, padding, output_padding, groups, dilation,
                                            output_size, padding_mode, data_format, weight_format, out_dtype,
                                            method, _rank)
    xa, w, b, batched, geom = setup_conv_transpose(
        x, weight, bias, stride, padding, output_padding, groups, dilation, output_size, _rank
    )
    return _finish(run(method, "conv_transpose", xa, w, geom), b, batched)


def conv(
    x: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray | None = None,
    stride: IntOrSeq = 1,
    padding: PadSpec = 0,
    dilation: IntOrSeq = 1,
    groups: int = 1,
    *,
    padding_mode: str = "zeros",
    data_format: str = "channels_first",
    weight_format: str = "torch",
    out_dtype=None,
    method: str = "auto",
    _rank: int | None = None,
) -> np.ndarray:
    """Convolution (cross-correlation, as in PyTorch's ``conv*d``): ``y = C_K x``.

    ``weight`` has shape ``(C_out, C_in // groups, *kernel)``; the other parameters
    take the same forms as in :func:`conv_transpose`. ``padding="same"`` gives
    ``ceil(input / stride)`` outputs (TensorFlow's rule; PyTorch's for stride 1). ``padding_mode``:
    ``"zeros"``, ``"reflect"``, ``"replicate"`` or ``"circular"``, as PyTorch's ``Conv*d``. ``data_format``,
    ``weight_format``, ``out_dtype`` and half/complex data as in :func:`conv_transpose` (conv's
    ``"keras"``/``"jax"`` kernel: ``(*k, C_in/g, C_out)``).

    >>> import numpy as np
    >>> conv(np.arange(5.0)[None], np.ones((1, 1, 2))).tolist()
    [[1.0, 3.0, 5.0, 7.0]]
    """
    if (backend := backend_for(x, weight, bias)) is not None:  # e.g. Dask arrays: tconv.dask
        refuse_conventions(backend, padding_mode=padding_mode, data_format=data_format,
                           weight_format=weight_format, out_dtype=out_dtype)
        return backend.conv(x, weight, bias, stride, padding, dilation, groups, method=method, _rank=_rank)
    if special(x, weight, bias, padding_mode=padding_mode, data_format=data_format, weight_format=weight_format,
               out_dtype=out_dtype):  # every other convention: tconv.frontend, then back here
        return conventions().conv(x, weight, bias, stride, padding, dilation, groups, padding_mode, data_format,
                                  weight_format, out_dtype, method, _rank)
    xa, w, b, batched, geom = setup_conv(x, weight, bias, stride, padding, dilation, groups, _rank)
    return _finish(run(method, "conv", xa, w, geom), b, batched)


def _ranked(fn, rank: int):
    import inspect

    def wrapper(*args, **kwargs):
        return fn(*args, _rank=rank, **kwargs)

    sig = inspect.signature(fn)
    wrapper.__signature__ = sig.replace(parameters=[p for p in sig.parameters.values() if p.name != "_rank"])
    wrapper.__name__ = f"{fn.__name__}{rank}d"
    wrapper.__qualname__ = wrapper.__name__
    wrapper.__module__ = fn.__module__
    wrapper.__annotations__ = {k: v for k, v in fn.__annotations__.items() if k != "_rank"}
    wrapper.__doc__ = (f"{fn.__name__} for exactly {rank} spatial axes (the weight must be {rank + 2}-D); "
                       f"parameters as :func:`{fn.__name__}`.")
    return wrapper


conv1d = _ranked(conv, 1)
conv2d = _ranked(conv, 2)
conv3d = _ranked(conv, 3)
conv_transpose1d = _ranked(conv_transpose, 1)
conv_transpose2d = _ranked(conv_transpose, 2)
conv_transpose3d = _ranked(conv_transpose, 3)
