"""The plain dispatch: every call that reaches the core comes through here.

Plain means channels first, PyTorch's weight layout, zero padding and real float data: the
conventions (``tconv.api.conventions``) have been removed above. :func:`prepare` reads the
arrays (one common float dtype, a batched view), :func:`cached_geometry` builds the
:class:`~tconv.core.geometry.ConvGeometry` once per distinct shapes and parameters,
:func:`run` plans and runs one operation, :func:`finish` adds the bias. :class:`Call` is a
call's parameters as the user gave them; :func:`forward` and :func:`vjp` are the whole plain
path of ``conv`` / ``conv_transpose`` and of their vector-Jacobian products.

The VJPs follow from linearity: the input gradient of ``conv_transpose`` is ``conv`` of the
output gradient and vice versa (same weight, same geometry), and the weight gradient is the
registry's third operation, ``weight_grad``:
``dW[cy, cx, t] = sum_{n, j} Y[n, cy, j] * X[n, cx, j*s + t*d - pad_lo]`` (``Y`` the y-side
array: ``conv``'s output gradient or ``conv_transpose``'s input; ``X`` the x-side array).

>>> import numpy as np
>>> call = Call("conv_transpose")
>>> forward(call, np.array([[[1.0, 2.0]]]), np.ones((1, 1, 2)), None).tolist()
[[[1.0, 3.0, 2.0]]]
>>> gx, gw, gb = vjp(call, np.ones((1, 1, 4)), np.ones((1, 1, 3)), np.ones((1, 1, 2)), np.zeros(1))
>>> gx.tolist(), gw.tolist(), gb.tolist()
([[[2.0, 2.0, 2.0]]], [[[3.0, 3.0]]], [4.0])
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import TconvError
from .algorithms import get_algorithm
from .geometry import ConvGeometry, conv_geometry, conv_transpose_geometry, weight_rank
from .params import as_float_array
from .planner import choose

__all__ = ["Call", "prepare", "check_channels", "channel_hint", "cached_geometry", "setup", "setup_conv", "setup_conv_transpose",
           "run", "finish", "forward", "vjp", "weight_gradient"]


@dataclass(frozen=True)
class Call:
    """One call's operation and geometry parameters, as the user gave them (validated later, by
    the geometry builders). ``op`` is ``"conv"`` or ``"conv_transpose"``; ``output_padding`` and
    ``output_size`` are ``conv_transpose``'s only. ``cache``: a dict kept by the owner of the weight
    (a layer, ``ConvOperator``), passed to :func:`run` for the weight's transforms; a stage that
    calls the core with other weights (the complex parts) drops it."""

    op: str
    stride: object = 1
    padding: object = 0
    output_padding: object = 0
    groups: object = 1
    dilation: object = 1
    output_size: object = None
    method: str = "auto"
    cache: dict | None = field(default=None, compare=False, repr=False)


def prepare(x, weight, bias, names=("input", "weight", "bias")):
    """Arrays in a common float dtype, a batched view of ``x``, and whether ``x`` was batched.

    ``names`` are the parameter names used in messages (ONNX calls them ``X``, ``W``, ``B``).
    """
    xname, wname, bname = names
    w = as_float_array(wname, weight)
    xa = as_float_array(xname, x)
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


def channel_hint(x_shape, w_shape, op: str, groups: int, data_format: str = "channels_first",
                 weight_format: str = "torch") -> str:
    """What would make the channel counts of an ``x`` of ``x_shape`` and a weight of ``w_shape`` agree,
    as a sentence (``""`` if nothing simple does): another ``data_format``, another named
    ``weight_format``, or the other operation's weight layout.

    >>> channel_hint((1, 16, 16, 8), (8, 4, 3, 3), "conv_transpose", 1)
    ' (did you mean data_format="channels_last"?)'
    >>> channel_hint((1, 64, 16, 16), (4, 4, 32, 64), "conv_transpose", 1)
    ' (did you mean weight_format="keras"?)'
    >>> channel_hint((1, 3, 16, 16), (8, 3, 4, 4), "conv_transpose", 1)
    ' (this looks like a conv weight (C_out, C_in/groups, *k) = (8, 3, ...); conv_transpose takes (C_in, C_out/groups, *k): np.swapaxes(weight, 0, 1) for groups=1)'
    """
    nd = len(w_shape) - 2
    if nd < 1 or len(x_shape) not in (nd + 1, nd + 2) or not groups or groups < 1:
        return ""
    have = {"channels_first": x_shape[-nd - 1], "channels_last": x_shape[-1]}
    if op == "conv_transpose":
        want = {"torch": w_shape[0], "keras": w_shape[-1], "jax": w_shape[-2]}
    else:
        want = {"torch": w_shape[1] * groups, "keras": w_shape[-2] * groups, "jax": w_shape[-2] * groups}
    current = (data_format, weight_format)
    found = []
    for df in (data_format, *(d for d in have if d != data_format)):
        for wf in (weight_format, *(w for w in want if w != weight_format)):
            if (df, wf) != current and wf in want and have[df] == want[wf]:
                parts = ([f'data_format="{df}"'] if df != data_format else []) + (
                    [f'weight_format="{wf}"'] if wf != weight_format else [])
                if parts not in found and not any(set(f) < set(parts) for f in found):
                    found.append(parts)
    hints = []
    if weight_format == "torch" and data_format in have:
        c, sample = have[data_format], f"({w_shape[0]}, {w_shape[1]}, ...)"
        if op == "conv_transpose" and c == w_shape[1] * groups:
            hints.append(f"this looks like a conv weight (C_out, C_in/groups, *k) = {sample}; conv_transpose takes "
                         "(C_in, C_out/groups, *k): np.swapaxes(weight, 0, 1) for groups=1")
        if op == "conv" and c == w_shape[0]:
            hints.append(f"this looks like a conv_transpose weight (C_in, C_out/groups, *k) = {sample}; conv takes "
                         "(C_out, C_in/groups, *k): np.swapaxes(weight, 0, 1) for groups=1")
    if found:
        hints.append("did you mean " + " or ".join(", ".join(f) for f in found[:2]) + "?")
    return f" ({'; or '.join(hints)})" if hints else ""


def check_channels(xa, b, in_ch: int, out_ch: int, what_in: str, batched: bool,
                   names=("input", "weight", "bias"), hint: str = ""):
    """Raise if ``xa`` (batched view) does not have ``in_ch`` channels or ``b`` is not ``(out_ch,)``;
    ``hint`` (from :func:`channel_hint`) ends the channel message."""
    if xa.shape[1] != in_ch:
        shape = xa.shape if batched else xa.shape[1:]
        read = "" if batched else (f" (the {xa.ndim - 1}-D {names[0]} was read as unbatched (C, *spatial); "
                                   f"give a {xa.ndim}-D (N, C, *spatial) array for a batch)")
        raise TconvError(f"{names[0]} of shape {shape} has {xa.shape[1]} channels but {what_in}{read}{hint}")
    if b is not None and b.shape != (out_ch,):
        raise TconvError(f"{names[2]} has shape {b.shape}; it must be ({out_ch},), one per output channel")


def _hint(xa, w, op, groups, batched) -> str:
    if xa.shape[1] == (w.shape[0] if op == "conv_transpose" else w.shape[1] * groups):
        return ""
    return channel_hint(xa.shape if batched else xa.shape[1:], w.shape, op, groups)


def run(method: str, op: str, a: np.ndarray, b: np.ndarray, geom: ConvGeometry, cache: dict | None = None) -> np.ndarray:
    """Plan and run ``op`` (``conv``, ``conv_transpose`` or ``weight_grad``) on batched arrays: the
    one dispatch every front end uses. An empty batch gives the empty (or zero) result. ``cache``:
    a dict kept by the owner of the weight ``b`` (``ConvOperator``, the layers), where an algorithm that
    transforms its weight (``fft``) keeps the transforms between calls."""
    algo = choose(method, geom, a.shape[0], a.dtype, op)
    if a.shape[0] == 0:
        if op == "weight_grad":
            return np.zeros(geom.weight_shape, dtype=np.result_type(a, b))
        spatial, ch = (geom.x_shape, geom.x_channels) if op == "conv_transpose" else (geom.y_shape, geom.y_channels)
        return np.empty((0, ch, *spatial), dtype=a.dtype)
    if cache is not None and getattr(algo, "weight_cache", False):
        return algo.run(op, a, b, geom, cache=cache)
    return algo.run(op, a, b, geom)


def finish(out, b, batched):
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


def cached_geometry(builder, *args):
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
                         output_size=None):
    """Validated arrays (batched view), ``batched`` flag and geometry of a ``conv_transpose`` call."""
    xa, w, b, batched = prepare(x, weight, bias)
    geom = cached_geometry(conv_transpose_geometry,
                            w.shape, xa.shape[2:], stride, padding, output_padding, dilation, groups, output_size)
    check_channels(xa, b, geom.y_channels, geom.x_channels,
                   f"weight.shape[0] (in_channels) is {geom.y_channels}", batched,
                   hint=_hint(xa, w, "conv_transpose", geom.groups, batched))
    return xa, w, b, batched, geom


def setup_conv(x, weight, bias, stride, padding, dilation, groups):
    """Validated arrays (batched view), ``batched`` flag and geometry of a ``conv`` call."""
    xa, w, b, batched = prepare(x, weight, bias)
    geom = cached_geometry(conv_geometry, w.shape, xa.shape[2:], stride, padding, dilation, groups)
    check_channels(
        xa, b, geom.x_channels, geom.y_channels,
        f"weight.shape[1] * groups = {w.shape[1]} * {geom.groups} = {geom.x_channels} "
        "(in_channels) are expected", batched, hint=_hint(xa, w, "conv", geom.groups, batched),
    )
    return xa, w, b, batched, geom


def setup(call: Call, x, weight, bias):
    """Validated arrays (batched view), ``batched`` flag and geometry of a plain call."""
    if call.op == "conv_transpose":
        return setup_conv_transpose(x, weight, bias, call.stride, call.padding, call.output_padding, call.groups,
                                    call.dilation, call.output_size)
    return setup_conv(x, weight, bias, call.stride, call.padding, call.dilation, call.groups)


def forward(call: Call, x, weight, bias) -> np.ndarray:
    """``conv`` or ``conv_transpose`` (``call.op``), plain."""
    xa, w, b, batched, geom = setup(call, x, weight, bias)
    return finish(run(call.method, call.op, xa, w, geom, cache=call.cache), b, batched)


def weight_gradient(y_side: np.ndarray, x_side: np.ndarray, geom: ConvGeometry, method: str = "auto") -> np.ndarray:
    """``dW`` of shape ``geom.weight_shape`` from the batched y-side and x-side arrays. A ``method`` that
    does not implement the weight gradient (``brgemm``: conv and conv_transpose only) leaves it to
    ``auto``, so that a VJP asked of it runs (its input gradient on ``method``)."""
    if method != "auto" and "weight_grad" not in get_algorithm(method).operations:
        method = "auto"
    dtype = np.result_type(y_side, x_side)
    return run(method, "weight_grad", y_side.astype(dtype, copy=False), x_side.astype(dtype, copy=False), geom)


def check_grad(grad_output, expected: tuple[int, ...], batched: bool, dtype) -> np.ndarray:
    """``grad_output`` read like an input, of the forward output's shape, batched."""
    go = as_float_array("grad_output", grad_output)
    want = expected if batched else expected[1:]
    if go.shape != want:
        raise TconvError(f"grad_output has shape {go.shape} but the forward output has shape {want}")
    go = go.astype(np.result_type(go, dtype), copy=False)
    return go if batched else go[None]


def vjp(call: Call, grad_output, x, weight, bias):
    """``(grad_x, grad_weight, grad_bias)`` of the plain ``call`` at ``(x, weight, bias)``."""
    xa, w, b, batched, geom = setup(call, x, weight, bias)
    transpose = call.op == "conv_transpose"
    n = xa.shape[0]
    expected = (n, geom.x_channels, *geom.x_shape) if transpose else (n, geom.y_channels, *geom.y_shape)
    go = check_grad(grad_output, expected, batched, xa.dtype)
    dtype = np.result_type(go, xa, w)
    go, xa, w = (a.astype(dtype, copy=False) for a in (go, xa, w))
    if transpose:
        gx, gw = run(call.method, "conv", go, w, geom, cache=call.cache), weight_gradient(xa, go, geom, call.method)
    else:
        gx = run(call.method, "conv_transpose", go, w, geom, cache=call.cache)
        gw = weight_gradient(go, xa, geom, call.method)
    gb = None if b is None else go.sum(axis=(0, *range(2, go.ndim))).astype(dtype)
    return (gx if batched else gx[0]), gw, gb
