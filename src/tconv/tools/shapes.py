"""``tconv shape``: output sizes under PyTorch, ONNX and TF/Keras conventions, and the
inverse question (which output_padding / padding gives a wanted size).

>>> print(keras_conv_transpose_length(8, 4, 2, "valid"), keras_conv_transpose_length(8, 4, 2, "same"))
18 16
"""

from __future__ import annotations

from ..api.frameworks.onnx import onnx_geometry
from ..core.geometry import (
    conv_transpose_output_shape,
    conv_transpose_padding,
)
from ..errors import TconvError

__all__ = ["keras_conv_transpose_length", "shape_report", "usual_pytorch"]


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


def _pairs(pad, nd) -> tuple[tuple[int, int], ...] | None:
    """Explicit padding as one (lo, hi) pair per axis (None for 'same'/'valid')."""
    if isinstance(pad, str):
        return None
    return tuple(p if isinstance(p, tuple) else (p, p) for p in _axes(pad, nd))


def _show(v: tuple):
    return v[0] if len(set(v)) == 1 else v


def usual_pytorch(i: int, want: int, k: int, s: int, d: int = 1) -> tuple[int, int] | None:
    """The symmetric ``(padding, output_padding)`` PyTorch users write for a wanted output size:
    padding as close as possible to ``d*(k-1)//2`` ("same"-like), the rest made up by output_padding.

    >>> usual_pytorch(7, 14, 3, 2), usual_pytorch(8, 16, 4, 2), usual_pytorch(4, 100, 3, 2)
    ((1, 1), (1, 0), None)
    """
    p0 = d * (k - 1) // 2
    for p in sorted(range(0, d * (k - 1) + 1), key=lambda p: (abs(p - p0), p)):
        a = want - ((i - 1) * s - 2 * p + d * (k - 1) + 1)
        if 0 <= a < max(s, d):
            return p, a
    return None


def _want_lines(i, want, k, s, d, op, pairs, sym, torch_call) -> list[str]:
    """The answers to "which parameters give output ``want``?", each phrased as an answer (what works,
    or why that route cannot), in the generic vocabulary (padding, output_padding)."""
    nd = len(i)
    lines = [f"to get output {want}:"]
    largest = tuple(conv_transpose_output_shape(i, k, s, 0, 0, d)[ax] + max(s[ax], d[ax]) - 1 for ax in range(nd))
    if any(a > b for a, b in zip(want, largest)):
        lines.append(f"  not reachable: the largest output of this input, kernel, stride and dilation is {largest} "
                     f"(padding 0 and the largest output_padding, max(stride, dilation) - 1); a larger stride, kernel "
                     "or dilation reaches further")
        return lines
    usual = [usual_pytorch(a, b, c, e, f) for a, b, c, e, f in zip(i, want, k, s, d)]
    if all(u is not None for u in usual):
        p_u, a_u = _show(tuple(u[0] for u in usual)), _show(tuple(u[1] for u in usual))
        call = torch_call.replace("output_padding=" + str(_show(op)), "output_padding=" + str(a_u)).replace(
            "%s", str(p_u))
        lines.append(f"  PyTorch, as usually written: {call}")
    else:
        lines.append("  PyTorch: no symmetric padding with a legal output_padding gives it (the (lo, hi) padding "
                     "below does)")
    given = tuple(lo for lo, _ in pairs) if sym else (0,) * nd
    base = conv_transpose_output_shape(i, k, s, given, 0, d)
    need = tuple(b - a for a, b in zip(base, want))
    where = f"padding={_show(given)}" + (" (as given)" if sym else "")
    if all(0 <= a < max(ss, dd) for a, ss, dd in zip(need, s, d)):
        lines.append(f"  with {where}: output_padding={_show(need)}")
    else:
        ax = next(n for n, (a, ss, dd) in enumerate(zip(need, s, d)) if not 0 <= a < max(ss, dd))
        top = max(s[ax], d[ax]) - 1
        lines.append(f"  with {where}: output_padding alone cannot (axis {ax} would need {need[ax]}; it can be "
                     f"0..{top}, giving sizes {base[ax]}..{base[ax] + top})")
    pw = conv_transpose_padding(i, want, k, s, d)
    lines.append(f"  padding={pw} (lo, hi per axis: tconv's padding, ONNX's pads) with output_padding=0")
    return lines


def shape_report(args) -> str:
    """The report of ``tconv shape`` for parsed arguments (``input``, ``kernel``, ``stride``, ``padding``,
    ``output_padding``, ``dilation``, ``want``)."""
    i = tuple(args.input)
    nd = len(i)
    k, s, d = (_axes(v, nd) for v in (args.kernel, args.stride, args.dilation))
    op = _axes(args.output_padding, nd)
    pad = args.padding
    pairs = _pairs(pad, nd)
    sym = pairs is not None and all(lo == hi for lo, hi in pairs)
    pad_text = repr(pad) if isinstance(pad, str) else (
        str(_show(tuple(lo for lo, _ in pairs))) if sym else ",".join(f"{lo}:{hi}" for lo, hi in pairs))
    lines = [f"transposed convolution of input {i}, kernel {k}, stride {s}, dilation {d}, "
             f"padding {pad_text}, output_padding {op}", ""]
    tc = conv_transpose_output_shape(i, k, s, pad, op, d)
    torch_call = (f"ConvTranspose{nd}d(kernel_size={_show(k)}, stride={_show(s)}, padding=%s, "
                  f"output_padding={_show(op)}" + (f", dilation={_show(d)}" if any(v > 1 for v in d) else "") + ")")
    if sym:
        lines.append(f"  PyTorch  {torch_call.replace('%s', str(_show(tuple(lo for lo, _ in pairs))))} -> {tc}")
    elif pairs is not None:
        crop = ", ".join(f"{lo}:{'-' + str(hi) if hi else ''}" for lo, hi in pairs)
        full = conv_transpose_output_shape(i, k, s, 0, op, d)
        lines.append(f"  PyTorch  has no asymmetric padding: {torch_call.replace('%s', '0')} -> {full}, then crop "
                     f"y[..., {crop}] -> {tc}")
    else:
        lines.append(f"  PyTorch  has no padding={pad!r} for transposed convolutions")
    lines.append(f"  tconv    conv_transpose(padding={pad!r}) -> {tc}")
    p_lo, p_hi = ([lo for lo, _ in pairs], [hi for _, hi in pairs]) if pairs else ([0] * nd, [0] * nd)
    attrs = dict(dilations=list(d), output_padding=list(op), strides=list(s))
    w = (1, 1, *k)
    for mode in ("NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"):
        extra = f", pads={p_lo + p_hi}" if mode == "NOTSET" else ""
        g = onnx_geometry(w, i, auto_pad=mode, pads=p_lo + p_hi, **attrs)
        lines.append(f"  ONNX     auto_pad={mode}{extra} -> {g.x_shape}")
    want = None
    if args.want is not None:
        want = _axes(args.want, nd)
        if len(want) != nd:
            raise TconvError(f"--want {','.join(map(str, want))} has {len(want)} values for a {nd}-axis input")
        try:
            g = onnx_geometry(w, i, output_shape=list(want), **attrs)
        except TconvError:
            natural = onnx_geometry(w, i, **attrs).x_shape
            lines.append(f"  ONNX     output_shape={list(want)}: not accepted (at most stride - 1 beyond the natural "
                         f"{natural}, ONNX Runtime's rule)")
        else:
            begins, ends = list(g.pad_lo), [h + a for h, a in zip(g.pad_hi, op)]  # pad_hi excludes output_padding
            lines.append(f"  ONNX     output_shape={list(g.x_shape)} -> generated pads={begins + ends}")
    else:
        lines.append("  ONNX     output_shape=[...] -> exactly that shape (pads generated; add --want to see them)")
    for mode in ("valid", "same"):
        kl = tuple(keras_conv_transpose_length(a, b, c, mode, e) for a, b, c, e in zip(i, k, s, d))
        lines.append(f"  TF/Keras Conv{nd}DTranspose(padding='{mode}') -> {kl}")
    if want is not None:
        lines += [""] + _want_lines(i, want, k, s, d, op, pairs, sym, torch_call)
    return "\n".join(lines)
