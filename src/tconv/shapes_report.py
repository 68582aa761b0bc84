"""``tconv shape``: output sizes under PyTorch, ONNX and TF/Keras conventions, and the
inverse question (which output_padding / padding gives a wanted size).

>>> print(keras_conv_transpose_length(8, 4, 2, "valid"), keras_conv_transpose_length(8, 4, 2, "same"))
18 16
"""

from __future__ import annotations

from .errors import TconvError
from .geometry import (
    conv_transpose_output_padding,
    conv_transpose_output_shape,
    conv_transpose_padding,
)
from .onnx import onnx_geometry

__all__ = ["keras_conv_transpose_length", "shape_report"]


def keras_conv_transpose_length(i: int, k: int, s: int, padding: str, dilation: int = 1) -> int:
    """TF/Keras ``Conv*DTranspose`` output length without ``output_padding``."""
    k_eff = k + (k - 1) * (dilation - 1)
    if padding == "valid":
        return i * s + max(k_eff - s, 0)
    if padding == "same":
        return i * s
    raise TconvError(f"padding={padding!r} must be 'valid' or 'same' for the Keras convention")


def _axes(v, nd):
    v = tuple(v) if isinstance(v, (tuple, list)) else (v,)
    return v * nd if len(v) == 1 else v


def shape_report(args) -> str:
    i = tuple(args.input)
    nd = len(i)
    k, s, d = (_axes(v, nd) for v in (args.kernel, args.stride, args.dilation))
    op = _axes(args.output_padding, nd)
    pad = args.padding
    lines = [f"transposed convolution of input {i}, kernel {k}, stride {s}, dilation {d}, "
             f"padding {pad!r}, output_padding {op}", ""]
    torch_pad = pad if not isinstance(pad, str) else None
    if torch_pad is not None:
        out = conv_transpose_output_shape(i, k, s, torch_pad, op, d)
        lines.append(f"  PyTorch  ConvTranspose{nd}d(padding={pad}, output_padding={op}) -> {out}")
    else:
        lines.append(f"  PyTorch  has no padding={pad!r} for transposed convolutions")
    tc = conv_transpose_output_shape(i, k, s, pad, op, d)
    lines.append(f"  tconv    conv_transpose(padding={pad!r}) -> {tc}")
    p_int = [0] * nd if isinstance(pad, str) else list(_axes(pad, nd))
    attrs = dict(dilations=list(d), output_padding=list(op), strides=list(s))
    w = (1, 1, *k)
    for mode in ("NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"):
        extra = f", pads={p_int + p_int}" if mode == "NOTSET" else ""
        g = onnx_geometry(w, i, auto_pad=mode, pads=p_int + p_int, **attrs)
        lines.append(f"  ONNX     auto_pad={mode}{extra} -> {g.x_shape}")
    if args.want is not None:
        g = onnx_geometry(w, i, output_shape=list(_axes(args.want, nd)), **attrs)
        begins, ends = list(g.pad_lo), [h + a for h, a in zip(g.pad_hi, op)]  # pad_hi excludes output_padding
        lines.append(f"  ONNX     output_shape={list(g.x_shape)} -> generated pads={begins + ends}")
    else:
        lines.append("  ONNX     output_shape=[...] -> exactly that shape (pads generated; add --want to see them)")
    for mode in ("valid", "same"):
        kl = tuple(keras_conv_transpose_length(a, b, c, mode, e) for a, b, c, e in zip(i, k, s, d))
        lines.append(f"  TF/Keras Conv{nd}DTranspose(padding='{mode}') -> {kl}")
    if args.want is not None:
        want = _axes(args.want, nd)
        lines.append("")
        lines.append(f"to get output {want}:")
        try:
            opw = conv_transpose_output_padding(i, want, k, s, torch_pad or 0, d)
            lines.append(f"  output_padding={opw} with padding={torch_pad or 0}")
        except TconvError as exc:
            lines.append(f"  no output_padding with padding={torch_pad or 0} works: {exc}")
        try:
            pw = conv_transpose_padding(i, want, k, s, d)
            lines.append(f"  padding={pw} (lo, hi per axis) with output_padding=0")
        except TconvError as exc:
            lines.append(f"  no padding works: {exc}")
    return "\n".join(lines)
