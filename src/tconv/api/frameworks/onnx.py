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

import numpy as np

from ...core.dispatch import check_channels, finish, prepare, run
from ...core.geometry import ConvGeometry, conv_transpose_geometry, split_smaller_first
from ...core.params import per_axis, shown
from ...errors import TconvError, TconvTypeError
from ..names import checked_names

__all__ = ["conv_transpose", "onnx_geometry", "layers", "ConvTranspose"]  # noqa: F822 (ConvTranspose: module __getattr__)

_AUTO_PAD = ("NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID")


def _ints(name: str, value, n: int, default: int, minimum: int) -> tuple[int, ...]:
    """An ONNX INTS attribute: a list of ``n`` ints (a single int is accepted for every entry)."""
    if value is None:
        return (default,) * n
    if isinstance(value, (str, bytes)):
        raise TconvTypeError(f"{name}={shown(value)} must be a list of {n} ints")
    return per_axis(name, value if hasattr(value, "__index__") else list(value), n, minimum)


@checked_names
def onnx_geometry(
    weight_shape: Sequence[int],
    input_shape: Sequence[int],
    *,
    auto_pad: str = "NOTSET",
    dilations: Sequence[int] | int | None = None,
    group: int = 1,
    output_padding: Sequence[int] | int | None = None,
    output_shape: Sequence[int] | int | None = None,
    pads: Sequence[int] | int | None = None,
    strides: Sequence[int] | int | None = None,
) -> ConvGeometry:
    """The ConvTranspose geometry (output shape, generated pads) from ONNX attributes: shape
    arithmetic only, shared by :func:`conv_transpose` and ``tconv shape``.

    ``output_shape`` may be at most ``stride - 1`` larger than the natural size (the output
    is then extended with zeros at the end), as ONNX Runtime allows; larger is an error.

    >>> g = onnx_geometry((1, 1, 3, 3), (3, 3), strides=[2, 2], auto_pad="SAME_UPPER")
    >>> g.x_shape, g.pad_lo, g.pad_hi
    ((6, 6), (0, 0), (1, 1))
    """
    nd = len(weight_shape) - 2
    if isinstance(auto_pad, bytes):
        auto_pad = auto_pad.decode()
    if auto_pad not in _AUTO_PAD:
        raise TconvError(f"auto_pad={shown(auto_pad)} must be one of {', '.join(_AUTO_PAD)}")
    strides_t = _ints("strides", strides, nd, 1, 1)
    dil_t = _ints("dilations", dilations, nd, 1, 1)
    op = _ints("output_padding", output_padding, nd, 0, 0)
    # the natural size with output_padding, before any crop: validates groups, ranks, ranges
    natural = conv_transpose_geometry(tuple(weight_shape), tuple(input_shape), strides_t, 0, op, dil_t, group)
    full = natural.x_shape
    if output_shape is not None or auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        if output_shape is not None:
            out = list(output_shape) if not hasattr(output_shape, "__index__") else [output_shape]
            if len(out) == nd + 2:
                out = out[2:]
            out = list(per_axis("output_shape", out, nd, 1))
        else:
            out = [i * s for i, s in zip(natural.y_shape, strides_t)]
        crop = []
        for ax, (f, o, s) in enumerate(zip(full, out, strides_t)):
            total = f - o
            if total >= 0:
                lo, hi = split_smaller_first(total)
                crop.append((lo, hi) if auto_pad == "SAME_UPPER" else (hi, lo))
            elif -total < s:  # ONNX Runtime: zeros appended at the end, nothing cropped
                crop.append((0, total))
            else:
                raise TconvError(
                    f"output_shape={out} is inconsistent with the input on axis {ax}: the natural output "
                    f"size is {f}, and output_shape may exceed it by at most stride - 1 = {s - 1} "
                    "(ONNX Runtime's rule)"
                )
    elif auto_pad == "VALID":
        crop = [(0, 0)] * nd
    else:
        if pads is not None and not hasattr(pads, "__index__") and len(list(pads)) != 2 * nd:
            raise TconvError(f"pads={list(pads)} must have {2 * nd} entries (all begins, then all ends)")
        p = _ints("pads", pads, 2 * nd, 0, 0)
        crop = list(zip(p[:nd], p[nd:]))
        for ax, (f, (lo, hi)) in enumerate(zip(full, crop)):
            if f - lo - hi < 1:
                raise TconvError(f"pads={list(p)} leave an empty output on spatial axis {ax}")
    return conv_transpose_geometry(tuple(weight_shape), tuple(input_shape), strides_t, 0, op, dil_t, group,
                                   crop=crop)


@checked_names
def conv_transpose(
    X: np.ndarray,
    W: np.ndarray,
    B: np.ndarray | None = None,
    *,
    auto_pad: str = "NOTSET",
    dilations: Sequence[int] | int | None = None,
    group: int = 1,
    kernel_shape: Sequence[int] | int | None = None,
    output_padding: Sequence[int] | int | None = None,
    output_shape: Sequence[int] | int | None = None,
    pads: Sequence[int] | int | None = None,
    strides: Sequence[int] | int | None = None,
    method: str = "auto",
) -> np.ndarray:
    """ONNX ``ConvTranspose``: ``X`` ``(N, C, *spatial)``, ``W`` ``(C, M/group, *kernel)``, ``B`` ``(M,)``.

    List attributes also accept a single int (used for every axis).
    """
    names = ("X", "W", "B")
    Xa, Wa, Ba, batched = prepare(X, W, B, names)
    nd = Wa.ndim - 2
    if not batched:
        raise TconvError(f"X has shape {Xa.shape[1:]}; W of shape {Wa.shape} needs a {nd + 2}-D X (N, C, *spatial)")
    if kernel_shape is not None and _ints("kernel_shape", kernel_shape, nd, 1, 1) != Wa.shape[2:]:
        raise TconvError(f"kernel_shape={shown(kernel_shape)} does not match W.shape[2:]={Wa.shape[2:]}")
    geom = onnx_geometry(Wa.shape, Xa.shape[2:], auto_pad=auto_pad, dilations=dilations, group=group,
                         output_padding=output_padding, output_shape=output_shape, pads=pads, strides=strides)
    check_channels(Xa, Ba, geom.y_channels, geom.x_channels, f"W.shape[0] is {geom.y_channels}", True, names)
    return finish(run(method, "conv_transpose", Xa, Wa, geom), Ba, True)


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
    explicit ``(lo, hi)`` padding and ``output_padding`` (ONNX's ``output_padding`` kept as it is, so the
    layer takes ``output_size`` as PyTorch's does). Where the pads depend on the input size
    (``auto_pad="SAME_*"``, ``output_shape``), the size comes from ONNX shape inference.
    """
    import onnx
    from onnx import helper, numpy_helper

    from ..layers import ConvTranspose as Layer

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
                raise TconvError(f"node {name!r}: auto_pad={shown(auto_pad)}/output_shape make the pads depend on the "
                                 "input size, which shape inference could not find")
            x_shape = (1, W.shape[0], *(max(1, 2 * k) for k in W.shape[2:]))  # any size: explicit pads
        geom = onnx_geometry(W.shape, x_shape[2:], **{k: v for k, v in attrs.items() if k != "auto_pad"},
                             auto_pad=auto_pad)
        # ONNX's output_padding stays output_padding (as PyTorch's layer and from_torch have it); only
        # zeros that output_shape appends beyond it (a negative crop) become more output_padding
        pairs = tuple((lo, max(hi, 0)) for lo, hi in geom.padding)
        op = tuple(a + max(-hi, 0) for a, (_, hi) in zip(geom.output_padding, geom.padding))
        if all(lo == hi for lo, hi in pairs):  # symmetric: one int per axis, as PyTorch's modules have it
            pairs = tuple(lo for lo, _ in pairs)
        out[name] = Layer(W, B, geom.stride, pairs, op, geom.groups, geom.dilation)
    return out
