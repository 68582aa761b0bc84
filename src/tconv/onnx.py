"""ONNX ``ConvTranspose`` semantics, attribute names verbatim.

Follows the operator specification (opset 11+): explicit ``pads`` are
``[x1_begin, x2_begin, ..., x1_end, x2_end]``; with ``output_shape`` or
``auto_pad="SAME_UPPER"/"SAME_LOWER"`` the pads are generated from
``total_padding = stride * (in - 1) + output_padding + (kernel - 1) * dilation + 1 - out``
(``SAME_UPPER``: ``begin = total // 2``; otherwise ``begin = total - total // 2``).
Unlike ONNX's Python reference implementation, groups with several output channels
per group and bias with groups are computed correctly (checked against PyTorch).

>>> import numpy as np
>>> X = np.ones((1, 1, 3, 3), np.float32); W = np.ones((1, 2, 3, 3), np.float32)
>>> conv_transpose(X, W, strides=[3, 2], output_shape=[10, 8]).shape
(1, 2, 10, 8)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from ._params import as_float_array, per_axis
from .errors import TconvError, TconvTypeError
from .geometry import conv_transpose_geometry
from .planner import choose

__all__ = ["conv_transpose", "onnx_geometry", "layers", "ConvTranspose"]  # noqa: F822 (ConvTranspose: module __getattr__)

_AUTO_PAD = ("NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID")


def onnx_geometry(
    weight_shape: Sequence[int],
    input_shape: Sequence[int],
    *,
    auto_pad: str = "NOTSET",
    dilations: Sequence[int] | None = None,
    group: int = 1,
    output_padding: Sequence[int] | None = None,
    output_shape: Sequence[int] | None = None,
    pads: Sequence[int] | None = None,
    strides: Sequence[int] | None = None,
):
    """The ConvTranspose geometry (output shape, generated pads) from ONNX attributes: shape
    arithmetic only, shared by :func:`conv_transpose` and ``tconv shape``.

    >>> g = onnx_geometry((1, 1, 3, 3), (3, 3), strides=[2, 2], auto_pad="SAME_UPPER")
    >>> g.x_shape, g.pad_lo, g.pad_hi
    ((6, 6), (0, 0), (1, 1))
    """
    nd = len(weight_shape) - 2
    if isinstance(auto_pad, bytes):
        auto_pad = auto_pad.decode()
    if auto_pad not in _AUTO_PAD:
        raise TconvError(f"auto_pad={auto_pad!r} must be one of {', '.join(_AUTO_PAD)}")
    strides_t = per_axis("strides", [1] * nd if strides is None else list(strides), nd, 1)
    dil_t = per_axis("dilations", [1] * nd if dilations is None else list(dilations), nd, 1)
    op = per_axis("output_padding", [0] * nd if output_padding is None else list(output_padding), nd, 0)
    # validate groups and shapes through the common builder (no padding yet)
    geom = conv_transpose_geometry(
        tuple(weight_shape), tuple(input_shape), strides_t, 0, 0, dil_t, group, check_output_padding=False
    )
    full = [f + a for f, a in zip(geom.x_shape, op)]  # uncropped output incl. output_padding
    if output_shape is not None or auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        if output_shape is not None:
            out = list(output_shape)
            if len(out) == nd + 2:
                out = out[2:]
            out = list(per_axis("output_shape", out, nd, 1))
        else:
            out = [i * s for i, s in zip(geom.y_shape, strides_t)]
        totals = [f - o for f, o in zip(full, out)]
        if auto_pad == "SAME_UPPER":
            lo = [t // 2 for t in totals]
        else:
            lo = [t - t // 2 for t in totals]
    elif auto_pad == "VALID":
        lo, out = [0] * nd, full
    else:
        p = [0] * (2 * nd) if pads is None else list(pads)
        if len(p) != 2 * nd:
            raise TconvError(f"pads={p} must have {2 * nd} entries (all begins, then all ends)")
        per_axis("pads", p, 2 * nd, 0)
        lo = p[:nd]
        out = [f - a - b for f, a, b in zip(full, p[:nd], p[nd:])]
        for ax, o in enumerate(out):
            if o < 1:
                raise TconvError(f"pads={p} leave an empty output on spatial axis {ax}")
    return replace(geom, x_shape=tuple(int(o) for o in out), pad_lo=tuple(int(v) for v in lo))


def conv_transpose(
    X: np.ndarray,
    W: np.ndarray,
    B: np.ndarray | None = None,
    *,
    auto_pad: str = "NOTSET",
    dilations: Sequence[int] | None = None,
    group: int = 1,
    kernel_shape: Sequence[int] | None = None,
    output_padding: Sequence[int] | None = None,
    output_shape: Sequence[int] | None = None,
    pads: Sequence[int] | None = None,
    strides: Sequence[int] | None = None,
    method: str = "auto",
) -> np.ndarray:
    """ONNX ``ConvTranspose``: ``X`` ``(N, C, *spatial)``, ``W`` ``(C, M/group, *kernel)``, ``B`` ``(M,)``."""
    Xa = as_float_array("X", X)
    Wa = as_float_array("W", W)
    if Wa.ndim < 3:
        raise TconvError(f"W has shape {Wa.shape}; it needs (C, M/group, *kernel_shape)")
    nd = Wa.ndim - 2
    if Xa.ndim != nd + 2:
        raise TconvError(f"X has shape {Xa.shape}; W of shape {Wa.shape} needs a {nd + 2}-D X (N, C, *spatial)")
    if kernel_shape is not None and tuple(per_axis("kernel_shape", list(kernel_shape), nd, 1)) != Wa.shape[2:]:
        raise TconvError(f"kernel_shape={list(kernel_shape)} does not match W.shape[2:]={Wa.shape[2:]}")
    geom = onnx_geometry(Wa.shape, Xa.shape[2:], auto_pad=auto_pad, dilations=dilations, group=group,
                         output_padding=output_padding, output_shape=output_shape, pads=pads, strides=strides)
    if Xa.shape[1] != geom.y_channels:
        raise TconvError(f"X has {Xa.shape[1]} channels but W.shape[0] is {geom.y_channels}")
    dtype = np.result_type(Xa, Wa) if B is None else np.result_type(Xa, Wa, as_float_array("B", B))
    Xa, Wa = Xa.astype(dtype, copy=False), Wa.astype(dtype, copy=False)
    y = choose(method, geom, Xa.shape[0], dtype).conv_transpose(Xa, Wa, geom)
    if B is not None:
        Ba = as_float_array("B", B).astype(dtype, copy=False)
        if Ba.shape != (geom.x_channels,):
            raise TconvError(f"B has shape {Ba.shape}; it must be ({geom.x_channels},), one per output channel")
        y += Ba.reshape((1, -1) + (1,) * nd)
    return y


def _reference_op():
    """The ``onnx.reference`` operator class (onnx is imported only when it is asked for)."""
    from onnx.reference.op_run import OpRun

    class ConvTranspose(OpRun):
        """ONNX ``ConvTranspose`` computed by tconv, for
        ``onnx.reference.ReferenceEvaluator(model, new_ops=[tconv.onnx.ConvTranspose])``."""

        op_domain = ""

        def _run(self, X, W, B=None, auto_pad=None, dilations=None, group=None, kernel_shape=None,
                 output_padding=None, output_shape=None, pads=None, strides=None):
            y = conv_transpose(X, W, B, auto_pad=auto_pad or "NOTSET", dilations=dilations,
                               group=1 if group is None else group, kernel_shape=kernel_shape,
                               output_padding=output_padding, output_shape=output_shape, pads=pads, strides=strides)
            return (y.astype(np.result_type(X, W), copy=False),)

    return ConvTranspose


def __getattr__(name: str):
    if name == "ConvTranspose":  # built on first use: ``import tconv`` does not import onnx
        cls = _reference_op()
        globals()["ConvTranspose"] = cls
        return cls
    raise AttributeError(f"module 'tconv.onnx' has no attribute {name!r}")


def layers(model) -> dict:
    """The model's ``ConvTranspose`` nodes as :class:`tconv.ConvTranspose` layers, by node name
    (or output name): weights and biases from the initializers, ONNX's attributes turned into
    explicit ``(lo, hi)`` padding and ``output_padding``. Where the pads depend on the input size
    (``auto_pad="SAME_*"``, ``output_shape``), the size comes from ONNX shape inference.
    """
    import onnx
    from onnx import helper, numpy_helper

    from .layers import ConvTranspose as Layer

    if not isinstance(model, onnx.ModelProto):
        raise TconvTypeError(f"model={type(model).__name__} must be an onnx.ModelProto")
    graph = onnx.shape_inference.infer_shapes(model).graph
    inits = {t.name: t for t in graph.initializer}
    shapes = {}
    for vi in [*graph.input, *graph.value_info, *graph.output]:
        dims = vi.type.tensor_type.shape.dim
        shapes[vi.name] = tuple(d.dim_value if d.HasField("dim_value") else None for d in dims)
    out = {}
    for i, node in enumerate(graph.node):
        if node.op_type != "ConvTranspose" or node.domain not in ("", "ai.onnx"):
            continue
        name = node.name or node.output[0] or f"ConvTranspose_{i}"
        if node.input[1] not in inits or (len(node.input) > 2 and node.input[2] and node.input[2] not in inits):
            raise TconvError(f"node {name!r}: its weight/bias must be initializers (constant) to make a layer")
        W = numpy_helper.to_array(inits[node.input[1]])
        B = numpy_helper.to_array(inits[node.input[2]]) if len(node.input) > 2 and node.input[2] else None
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        attrs.pop("kernel_shape", None)
        auto_pad = attrs.get("auto_pad", b"NOTSET")
        auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else auto_pad
        nd = W.ndim - 2
        x_shape = shapes.get(node.input[0])
        if x_shape is None or len(x_shape) != nd + 2 or None in x_shape[2:]:
            if auto_pad in ("SAME_UPPER", "SAME_LOWER") or "output_shape" in attrs:
                raise TconvError(f"node {name!r}: auto_pad={auto_pad!r}/output_shape make the pads depend on the "
                                 "input size, which shape inference could not find")
            x_shape = (1, W.shape[0], *(max(1, 2 * k) for k in W.shape[2:]))  # any size: explicit pads
        geom = onnx_geometry(W.shape, x_shape[2:], **{k: v for k, v in attrs.items() if k != "auto_pad"},
                             auto_pad=auto_pad)
        pairs = tuple((lo, max(hi, 0)) for lo, hi in zip(geom.pad_lo, geom.pad_hi))
        op = tuple(max(-hi, 0) for hi in geom.pad_hi)
        out[name] = Layer(W, B, geom.stride, pairs, op, geom.groups, geom.dilation)
    return out
