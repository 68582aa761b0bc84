"""Shape arithmetic: the one source of truth for every code path.

A convolution ``conv`` maps an image ``x`` of shape ``(x_channels, *x_shape)``
to ``y`` of shape ``(y_channels, *y_shape)``; its transpose maps ``y`` back to
the shape of ``x``. Both are fully described, per spatial axis, by the rule

    x index = j * stride + t * dilation - pad_lo

linking output position ``j`` of ``conv`` and kernel tap ``t`` to an input
position (taps that land outside ``[0, x_shape)`` read or write nothing).
:class:`ConvGeometry` holds exactly that, normalised once, together with what the user
gave (the ``(lo, hi)`` padding or crop pairs and ``output_padding``); the builders
:func:`conv_geometry` and :func:`conv_transpose_geometry` turn the framework
parameter forms (padding strings, ``output_padding``, ``output_size``) into it, and every
front end (functional API, ONNX, the operator, the pictures, the CLI) goes through them.

>>> output_shape((4, 4), (3, 3))
(2, 2)
>>> conv_transpose_output_shape((2, 2), (3, 3))
(4, 4)
>>> conv_transpose_output_shape((8,), (4,), stride=2, padding=1)
(16,)
>>> conv_transpose_output_padding((8,), (16,), (3,), stride=2, padding=1)
(1,)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import TconvError, TconvTypeError
from .params import PadSpec, as_int, parse_padding, per_axis, shown

__all__ = [
    "ConvGeometry",
    "block_input_range",
    "conv_geometry",
    "conv_padding_pairs",
    "conv_transpose_geometry",
    "output_shape",
    "conv_transpose_output_shape",
    "conv_transpose_output_padding",
    "conv_transpose_padding",
    "split_smaller_first",
    "zero_insertion_geometry",
    "INDEX_LIMIT",
    "weight_rank",
    "uncropped_size",
]

def uncropped_size(i: int, k: int, s: int, d: int) -> int:
    """Length of the uncropped transposed-convolution output on one axis: ``(i - 1) * s + d * (k - 1) + 1``.

    >>> uncropped_size(4, 3, 2, 1)
    9
    """
    return (i - 1) * s + d * (k - 1) + 1


#: every size, parameter and extent must stay below this (int64 index arithmetic in the kernels)
INDEX_LIMIT = 2**62


@dataclass(frozen=True)
class ConvGeometry:
    """One convolution's geometry, canonical form (all tuples have one entry per axis).

    ``conv`` maps ``(N, x_channels, *x_shape) -> (N, y_channels, *y_shape)`` and
    ``conv_transpose`` the other way; both use one weight of shape
    ``(y_channels, x_channels // groups, *kernel)``, which is PyTorch's layout for
    ``conv`` (``(C_out, C_in/g, *k)``) and for ``conv_transpose`` (``(C_in, C_out/g, *k)``).

    ``padding`` keeps the ``(lo, hi)`` pairs the user gave, resolved (``"same"`` split):
    ``conv``'s zero padding, or ``conv_transpose``'s crop (a negative ``hi``: that many zeros
    appended instead); ``output_padding`` likewise.
    """

    x_shape: tuple[int, ...]
    y_shape: tuple[int, ...]
    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    dilation: tuple[int, ...]
    pad_lo: tuple[int, ...]
    groups: int = 1
    x_channels: int = 1
    y_channels: int = 1
    padding: tuple[tuple[int, int], ...] = ()
    output_padding: tuple[int, ...] = ()

    @property
    def nd(self) -> int:
        return len(self.kernel)

    @property
    def full_shape(self) -> tuple[int, ...]:
        """Extent of the transposed scatter before cropping: ``(y-1)*s + d*(k-1) + 1``."""
        return tuple(map(uncropped_size, self.y_shape, self.kernel, self.stride, self.dilation))

    @property
    def pad_hi(self) -> tuple[int, ...]:
        """The high-side padding actually used (negative: that many trailing inputs unread)."""
        return tuple(f - x - lo for f, x, lo in zip(self.full_shape, self.x_shape, self.pad_lo))

    @property
    def pads(self) -> tuple[tuple[int, int], ...]:
        """The user's ``(lo, hi)`` pairs (the effective ones for a geometry built by hand)."""
        return self.padding or tuple(zip(self.pad_lo, self.pad_hi))

    @property
    def weight_shape(self) -> tuple[int, ...]:
        return (self.y_channels, self.x_channels // self.groups, *self.kernel)

    def on_padded_input(self) -> ConvGeometry:
        """The same ``conv`` applied to the input already padded by :attr:`pads` (no padding left):
        what a pad-then-convolve operator (reflect, replicate, circular boundaries) runs."""
        padded = tuple(n + lo + hi for n, (lo, hi) in zip(self.x_shape, self.pads))
        return ConvGeometry(
            x_shape=padded, y_shape=self.y_shape, kernel=self.kernel, stride=self.stride,
            dilation=self.dilation, pad_lo=(0,) * self.nd, groups=self.groups,
            x_channels=self.x_channels, y_channels=self.y_channels,
            padding=((0, 0),) * self.nd, output_padding=(0,) * self.nd,
        )

    def macs(self, batch: int = 1) -> int:
        """Multiply-accumulates of the direct algorithm (all taps, in-range or not)."""
        return (
            batch
            * self.y_channels
            * (self.x_channels // self.groups)
            * math.prod(self.y_shape)
            * math.prod(self.kernel)
        )


def split_smaller_first(total: int) -> tuple[int, int]:
    """A total padding split in two, the smaller half first (TF/JAX/ONNX ``SAME_UPPER``).

    >>> split_smaller_first(3)
    (1, 2)
    """
    return total // 2, total - total // 2


def _spatial(name: str, value: object, nd: int | None = None) -> tuple[int, ...]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        if hasattr(value, "__index__") and nd is not None and not isinstance(value, bool):
            return per_axis(name, value, nd, 1)
        if hasattr(value, "shape") and getattr(value, "ndim", None) == 1:  # a 1-D array of sizes
            return per_axis(name, value, len(value) if nd is None else nd, 1)  # type: ignore[arg-type]
        raise TconvTypeError(f"{name}={shown(value)} must be a sequence of ints")
    if nd is None:
        nd = len(value)
    return per_axis(name, value, nd, 1)


def _below_limit(what: str, values) -> None:
    for v in values:
        if abs(v) >= INDEX_LIMIT:
            raise TconvError(
                f"{what}={tuple(values)!r} is beyond tconv's index range: every size, stride, dilation, "
                f"padding and output extent must be below 2**62"
            )


def weight_rank(weight_shape: Sequence[int], name: str = "weight") -> int:
    """The number of spatial axes of a weight ``(channels, channels, *kernel)``; raises if it has none
    or an empty axis.

    >>> weight_rank((4, 2, 3, 3))
    2
    """
    shape = tuple(weight_shape)
    if len(shape) < 3:
        raise TconvError(f"{name} has shape {shape}; it needs two channel axes and at least one kernel axis")
    if 0 in shape:
        raise TconvError(f"{name} has shape {shape}; every axis must be non-empty")
    return len(shape) - 2


def _common(weight_shape: Sequence[int], in_shape, stride, dilation, groups, channel_name: str):
    """What both builders validate: ranks, ints, channel/group divisibility, the index range."""
    nd = weight_rank(weight_shape)
    kernel = tuple(int(k) for k in weight_shape[2:])
    in_shape = _spatial("input_shape", in_shape)
    if len(in_shape) != nd:
        raise TconvError(
            f"input_shape={in_shape} has {len(in_shape)} spatial axes but the weight "
            f"{tuple(weight_shape)} has {nd}"
        )
    groups = as_int("groups", groups, 1)
    stride = per_axis("stride", stride, nd, 1)
    dilation = per_axis("dilation", dilation, nd, 1)
    for name, vals in (("input_shape", in_shape), ("kernel", kernel), ("stride", stride),
                       ("dilation", dilation), ("groups", (groups,))):
        _below_limit(name, vals)
    y_channels = int(weight_shape[0])
    if y_channels % groups:
        raise TconvError(f"groups={groups} must divide {channel_name}={y_channels} (weight.shape[0])")
    return nd, kernel, in_shape, stride, dilation, groups, y_channels


def conv_padding_pairs(
    padding: PadSpec, x_shape, kernel, stride, dilation
) -> tuple[tuple[int, int], ...]:
    """``padding`` of ``conv`` resolved to one ``(lo, hi)`` pair per axis (``'same'``: smaller half first)."""
    pads = parse_padding(padding, len(kernel))
    if pads == "valid":
        return ((0, 0),) * len(kernel)
    if pads == "same":
        return tuple(
            split_smaller_first(max((-(-i // s) - 1) * s + d * (k - 1) + 1 - i, 0))
            for i, k, s, d in zip(x_shape, kernel, stride, dilation)
        )
    return pads


def conv_geometry(
    weight_shape: Sequence[int],
    x_shape: Sequence[int],
    stride: int | Sequence[int] = 1,
    padding: PadSpec = 0,
    dilation: int | Sequence[int] = 1,
    groups: int = 1,
) -> ConvGeometry:
    """Geometry of ``conv`` with a weight of ``weight_shape`` on spatial input ``x_shape``.

    ``padding="same"`` gives ``ceil(x / stride)`` outputs per axis with the total
    padding split smaller-half-first (TensorFlow/JAX/ONNX SAME_UPPER; for stride 1
    this is PyTorch's ``padding="same"``).
    """
    nd, kernel, x_shape, stride, dilation, groups, y_channels = _common(
        weight_shape, x_shape, stride, dilation, groups, "out_channels")
    pads = conv_padding_pairs(padding, x_shape, kernel, stride, dilation)
    _below_limit("padding", [v for p in pads for v in p])
    y_shape = []
    for ax, (i, k, s, d, (lo, hi)) in enumerate(zip(x_shape, kernel, stride, dilation, pads)):
        span = d * (k - 1) + 1
        _below_limit("padded input extent", (i + lo + hi, span))
        o = (i + lo + hi - span) // s + 1
        if o < 1:
            raise TconvError(
                f"empty output on spatial axis {ax}: input size {i} + padding {lo}+{hi} is "
                f"smaller than the dilated kernel extent {span} (kernel {k}, dilation {d})"
            )
        y_shape.append(o)
    return ConvGeometry(
        x_shape=x_shape, y_shape=tuple(y_shape), kernel=kernel, stride=stride, dilation=dilation,
        pad_lo=tuple(lo for lo, _ in pads), groups=groups, x_channels=int(weight_shape[1]) * groups,
        y_channels=y_channels, padding=tuple(pads), output_padding=(0,) * nd,
    )


def _transpose_pairs(padding: PadSpec, kernel, stride, dilation, output_padding):
    pads = parse_padding(padding, len(kernel))
    if pads == "valid":
        return ((0, 0),) * len(kernel)
    if pads == "same":
        out = []
        for k, s, d, a in zip(kernel, stride, dilation, output_padding):
            total = d * (k - 1) + 1 - s + a
            # the dilated kernel shorter than the stride: nothing to crop, and the output
            # is extended by -total zeros at the end
            out.append(split_smaller_first(total) if total >= 0 else (0, total))
        return tuple(out)
    return pads


def conv_transpose_geometry(
    weight_shape: Sequence[int],
    y_shape: Sequence[int],
    stride: int | Sequence[int] = 1,
    padding: PadSpec = 0,
    output_padding: int | Sequence[int] = 0,
    dilation: int | Sequence[int] = 1,
    groups: int = 1,
    output_size: Sequence[int] | None = None,
    *,
    crop: Sequence[tuple[int, int]] | None = None,
) -> ConvGeometry:
    """Geometry of ``conv_transpose`` with a weight of ``weight_shape`` on spatial input ``y_shape``.

    Output size per axis: ``(y - 1) * stride - lo - hi + dilation * (k - 1) + output_padding + 1``.
    ``output_padding`` must be ``< max(stride, dilation)`` (PyTorch's rule). ``output_size``
    (one int for every axis, the spatial sizes, or the full ``(N, C, *spatial)`` shape) chooses the output size directly,
    within PyTorch's range ``[min, min + stride - 1]``. ``padding="same"`` gives ``y * stride``
    outputs, the total crop split smaller-half-first; when the dilated kernel is shorter than
    the stride the output is extended with zeros at the end instead. ``crop`` (for front ends
    such as ONNX) gives resolved ``(lo, hi)`` pairs instead of ``padding``, where ``lo >= 0`` and a
    negative ``hi`` appends ``-hi`` zeros.
    """
    nd, kernel, y_shape, stride, dilation, groups, y_channels = _common(
        weight_shape, y_shape, stride, dilation, groups, "in_channels")
    op = per_axis("output_padding", output_padding, nd, 0)
    _below_limit("output_padding", op)
    for a, s, d in zip(op, stride, dilation):
        if a >= max(s, d):
            raise TconvError(
                f"output_padding={op} must be smaller than max(stride, dilation) on every "
                f"axis (stride={stride}, dilation={dilation})"
            )
    if crop is None:
        pads = _transpose_pairs(padding, kernel, stride, dilation, op)
    else:
        pads = tuple((int(lo), int(hi)) for lo, hi in crop)
        if len(pads) != nd or any(lo < 0 for lo, _ in pads):
            raise TconvError(f"crop={pads!r} must be {nd} (lo, hi) pairs with lo >= 0")
    _below_limit("padding", [v for p in pads for v in p])
    x_min = [
        (m - 1) * s - lo - hi + d * (k - 1) + 1
        for m, s, d, k, (lo, hi) in zip(y_shape, stride, dilation, kernel, pads)
    ]
    _below_limit("output extent", [(m - 1) * s + d * (k - 1) + 1
                                   for m, s, d, k in zip(y_shape, stride, dilation, kernel)])
    if output_size is not None:
        if any(op):
            raise TconvError(
                f"output_size={shown(output_size)} and output_padding={op} were both given; "
                "output_size chooses the output padding, so give only one"
            )
        # one int: the same size on every axis (as stride takes one int for all)
        size = _spatial("output_size", output_size, nd if hasattr(output_size, "__index__") else None)
        if len(size) == nd + 2:
            size = size[2:]
        if len(size) != nd:
            raise TconvError(
                f"output_size={shown(tuple(output_size))} must have {nd} spatial entries "
                f"(or {nd + 2} with batch and channels)"
            )
        for ax, (want, lo_size, s) in enumerate(zip(size, x_min, stride)):
            if not lo_size <= want <= lo_size + s - 1:
                raise TconvError(
                    f"output_size={size} is out of range on axis {ax}: with these parameters "
                    f"it must be between {lo_size} and {lo_size + s - 1} (stride {s})"
                )
        x_shape = size
        op = tuple(want - lo_size for want, lo_size in zip(size, x_min))
    else:
        x_shape = tuple(lo_size + a for lo_size, a in zip(x_min, op))
    for ax, n in enumerate(x_shape):
        if n < 1:
            raise TconvError(
                f"empty output on spatial axis {ax}: padding {pads[ax]} crops away all "
                f"{n + pads[ax][0] + pads[ax][1]} output positions"
            )
    return ConvGeometry(
        x_shape=tuple(x_shape), y_shape=y_shape, kernel=kernel, stride=stride, dilation=dilation,
        pad_lo=tuple(lo for lo, _ in pads), groups=groups, x_channels=int(weight_shape[1]) * groups,
        y_channels=y_channels, padding=pads, output_padding=tuple(op),
    )


def zero_insertion_geometry(geom: ConvGeometry) -> tuple[ConvGeometry, tuple[int, ...]]:
    """The textbook view of ``conv_transpose``: insert ``stride - 1`` zeros between the inputs
    (shape ``up``), pad by ``dilation * (k - 1) - pad_lo`` in front, and run a stride-1 ``conv``
    with the channel-swapped, flipped kernel. Returns that inner ``conv``'s geometry and ``up``.

    >>> g = conv_transpose_geometry((1, 1, 3), (4,), stride=2, padding=1)
    >>> inner, up = zero_insertion_geometry(g)
    >>> up, inner.pad_lo, inner.y_shape == g.x_shape
    ((7,), (1,), True)
    """
    up = tuple((m - 1) * s + 1 for m, s in zip(geom.y_shape, geom.stride))
    front = tuple(d * (k - 1) - lo for d, k, lo in zip(geom.dilation, geom.kernel, geom.pad_lo))
    inner = ConvGeometry(
        x_shape=up, y_shape=geom.x_shape, kernel=geom.kernel, stride=(1,) * geom.nd,
        dilation=geom.dilation, pad_lo=front, groups=geom.groups,
        x_channels=geom.y_channels, y_channels=geom.x_channels,
    )
    return inner, up


def _kernel_weight_shape(kernel_size, input_shape) -> tuple[int, ...]:
    nd = len(_spatial("input_shape", input_shape))
    return (1, 1, *_spatial("kernel_size", kernel_size, nd))


def output_shape(
    input_shape: Sequence[int],
    kernel_size: int | Sequence[int],
    stride: int | Sequence[int] = 1,
    padding: PadSpec = 0,
    dilation: int | Sequence[int] = 1,
) -> tuple[int, ...]:
    """Spatial output shape of ``conv`` (no data needed)."""
    w = _kernel_weight_shape(kernel_size, input_shape)
    return conv_geometry(w, input_shape, stride, padding, dilation).y_shape


def conv_transpose_output_shape(
    input_shape: Sequence[int],
    kernel_size: int | Sequence[int],
    stride: int | Sequence[int] = 1,
    padding: PadSpec = 0,
    output_padding: int | Sequence[int] = 0,
    dilation: int | Sequence[int] = 1,
) -> tuple[int, ...]:
    """Spatial output shape of ``conv_transpose`` (no data needed)."""
    w = _kernel_weight_shape(kernel_size, input_shape)
    return conv_transpose_geometry(
        w, input_shape, stride, padding, output_padding, dilation
    ).x_shape


def conv_transpose_output_padding(
    input_shape: Sequence[int],
    output_size: Sequence[int],
    kernel_size: int | Sequence[int],
    stride: int | Sequence[int] = 1,
    padding: PadSpec = 0,
    dilation: int | Sequence[int] = 1,
) -> tuple[int, ...]:
    """The ``output_padding`` that makes ``conv_transpose`` produce ``output_size``.

    Raises if no legal ``output_padding`` (``0 <= a < max(stride, dilation)``) does.
    """
    w = _kernel_weight_shape(kernel_size, input_shape)
    base = conv_transpose_geometry(w, input_shape, stride, padding, 0, dilation)
    size = _spatial("output_size", output_size, base.nd)
    op = tuple(want - have for want, have in zip(size, base.x_shape))
    for ax, (a, s, d) in enumerate(zip(op, base.stride, base.dilation)):
        if not 0 <= a < max(s, d):
            raise TconvError(
                f"output_size={size} cannot be reached on axis {ax}: output_padding would be "
                f"{a}, but it must be in [0, {max(s, d) - 1}] (sizes "
                f"{base.x_shape[ax]}..{base.x_shape[ax] + max(s, d) - 1} are reachable)"
            )
    return op


def conv_transpose_padding(
    input_shape: Sequence[int],
    output_size: Sequence[int],
    kernel_size: int | Sequence[int],
    stride: int | Sequence[int] = 1,
    dilation: int | Sequence[int] = 1,
) -> tuple[tuple[int, int], ...]:
    """The ``(lo, hi)`` padding (smaller half first) giving ``output_size`` with no output_padding.

    Raises if the wanted size is larger than the uncropped output.

    >>> conv_transpose_padding((8,), (16,), 4, stride=2)
    ((1, 1),)
    """
    w = _kernel_weight_shape(kernel_size, input_shape)
    full = conv_transpose_geometry(w, input_shape, stride, 0, 0, dilation).x_shape
    size = _spatial("output_size", output_size, len(full))
    out = []
    for ax, (f, want) in enumerate(zip(full, size)):
        total = f - want
        if total < 0:
            raise TconvError(
                f"output_size={size} is larger than the uncropped output {full} on axis {ax}; "
                "use output_padding (or a larger kernel/stride) instead"
            )
        out.append(split_smaller_first(total))
    return tuple(out)


def block_input_range(geom: ConvGeometry, axis: int, start: int, stop: int, *, transpose: bool) -> tuple[int, int]:
    """The input cells ``[lo, hi)`` on spatial ``axis`` that output cells ``[start, stop)`` read.

    The chunked (Dask) path computes each output block from this input range alone (the
    block's own input plus its *halo*); the range is not clipped to the input, so cells
    outside ``[0, input size)`` are padding. With ``D = d*(k-1)`` (dilated kernel extent
    minus one), stride ``s`` and ``pad_lo`` of this axis:

    * ``transpose=True`` (``conv_transpose``: y-side input -> x-side output): output cell
      ``p`` is uncropped position ``q = p + pad_lo``, reached by the inputs ``j`` with
      ``j*s <= q <= j*s + D``, so ``[start, stop)`` reads
      ``[ceil((start + pad_lo - D) / s), floor((stop - 1 + pad_lo) / s) + 1)``.
      For a block of the *uncropped* output that follows an input block ``[b0, b1)``
      (positions ``[b0*s, b1*s)``) this is ``[b0 - floor(D / s), b1)``: the halo is
      ``floor(d*(k-1)/s)`` extra input cells on the low side only. Cropping (``pad_lo``,
      ``pad_hi``) and ``output_padding`` only move the first and last blocks' edges.
    * ``transpose=False`` (``conv``: x-side input -> y-side output): output ``j`` reads
      ``j*s - pad_lo + t*d`` for taps ``t < k``, so ``[start, stop)`` reads
      ``[start*s - pad_lo, (stop - 1)*s - pad_lo + D + 1)``: the windows of neighbouring
      blocks overlap by ``D - s + 1`` input cells (``d*(k-1)`` for stride 1).

    The range holds every input cell the block depends on; for ``dilation=1`` its first and
    last cells, where they are inside the input, are read too (the range is tight), with
    ``dilation > 1`` an end may fall between two taps.

    >>> g = conv_transpose_geometry((1, 1, 4), (8,), stride=2, padding=1)
    >>> block_input_range(g, 0, 0, 8, transpose=True)     # output [0, 8) reads inputs -1 .. 4
    (-1, 5)
    >>> block_input_range(g, 0, 2 * 2 - 1, 2 * 5 - 1, transpose=True)  # input block [2, 5), halo 1
    (1, 5)
    >>> c = conv_geometry((1, 1, 3), (10,), padding=1)
    >>> block_input_range(c, 0, 4, 7, transpose=False)
    (3, 8)
    """
    if not 0 <= axis < geom.nd:
        raise TconvError(f"axis={axis} must be in [0, {geom.nd}) (the geometry has {geom.nd} spatial axes)")
    size = geom.x_shape[axis] if transpose else geom.y_shape[axis]
    if not 0 <= start < stop <= size:
        raise TconvError(f"block [{start}, {stop}) must be a non-empty range within the output size {size}")
    s, lo = geom.stride[axis], geom.pad_lo[axis]
    span = geom.dilation[axis] * (geom.kernel[axis] - 1)
    if transpose:
        return -((span - start - lo) // s), (stop - 1 + lo) // s + 1
    return start * s - lo, (stop - 1) * s - lo + span + 1
