"""Translate a transposed-convolution layer between PyTorch, ONNX, Keras 3, JAX and tconv, with proof.

A layer given in one convention (a constructor call such as
``"ConvTranspose2d(64, 32, 4, stride=2, padding=1, output_padding=1)"``) is parsed into one
canonical form, :class:`Layer`: PyTorch's weight layout ``(C_in, C_out/groups, *k)`` plus the
per-axis crop ``(lo, hi)`` of the uncropped output ``(i - 1) * s + d * (k - 1) + 1`` (negative:
zeros appended), validated by tconv's geometry builders. From it each target convention's call
or attributes are written (padding pairs, ``output_padding``, ``transpose_kernel``, weight
permutation/flip, data layout), with the output shape. Where a convention cannot express the
layer in one call (Keras or ``lax.conv_transpose`` with groups, asymmetric crops for PyTorch,
...) the translation says so and gives the closest exact alternative (explicit crop/zero padding
after the call, or one call per group). Every translation is checked numerically: random data go
through tconv's implementation of the source convention and of each target (as written), and
the largest difference from the canonical result is reported.

Accepted sources (``source=``):

* ``torch``: ``ConvTranspose1d/2d/3d(in, out, kernel_size, stride, padding, output_padding, groups,
  bias, dilation, padding_mode)`` (``nn.``/``torch.nn.`` prefixes allowed);
* ``onnx``: ``ConvTranspose(C, M, kernel_shape=[...], strides=, pads=, output_padding=, dilations=,
  group=, auto_pad=, output_shape=)``: ``C``, ``M`` are the input and output channel counts;
* ``keras``: ``Conv1D/2D/3DTranspose(filters, kernel_size, strides, padding, output_padding,
  data_format, dilation_rate, use_bias=)``; the input channels come from ``in_channels``;
* ``jax``: ``conv_transpose(lhs_shape=, rhs_shape=, strides=, padding=, rhs_dilation=,
  dimension_numbers=, transpose_kernel=, use_consistent_padding=)`` (shapes instead of arrays).

>>> t = translate("ConvTranspose1d(2, 3, 4, stride=2, padding=1)", input_shape=(5,))
>>> t.targets["jax"].kwargs["padding"], t.targets["jax"].kwargs["transpose_kernel"]
(((2, 2),), True)
>>> t.targets["keras"].kwargs["padding"], t.targets["keras"].output_shape
('same', (1, 10, 3))
>>> t.max_error < 1e-5
True
"""

from __future__ import annotations

import ast
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..api.frameworks import jax as tjax
from ..api.frameworks import keras as tkeras
from ..api.frameworks import onnx as tonnx
from ..api.functional import conv_transpose
from ..core.geometry import conv_transpose_geometry
from ..core.params import as_int, per_axis
from ..core.window import conv_transpose_window
from ..errors import TconvError, TconvTypeError

__all__ = ["translate", "translate_call", "Translation", "Layer", "Target", "SOURCES", "TARGETS"]

SOURCES = ("torch", "onnx", "keras", "jax")
TARGETS = ("torch", "onnx", "keras", "jax", "tconv")
_SPATIAL = {1: "H", 2: "HW", 3: "DHW"}
_WEIGHT_VAR = {"torch": "w", "onnx": "W", "keras": "kernel", "jax": "rhs", "tconv": "w"}


@dataclass(frozen=True)
class Layer:
    """One transposed convolution, canonical: PyTorch weight layout, crops of the uncropped output."""

    source: str
    call: str
    in_channels: int
    out_channels: int
    groups: int
    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    dilation: tuple[int, ...]
    crops: tuple[tuple[int, int], ...]
    input_shape: tuple[int, ...]
    bias: bool
    weight_shape: tuple[int, ...]  # in the source's layout
    to_torch: tuple[tuple[int, ...], tuple[int, ...]]  # (permutation, flipped axes) source -> PyTorch
    source_kwargs: dict = field(default_factory=dict)

    @property
    def nd(self) -> int:
        return len(self.kernel)

    @property
    def k_eff(self) -> tuple[int, ...]:
        return tuple(d * (k - 1) + 1 for k, d in zip(self.kernel, self.dilation))

    @property
    def full_shape(self) -> tuple[int, ...]:
        return tuple((i - 1) * s + e for i, s, e in zip(self.input_shape, self.stride, self.k_eff))

    @property
    def output_shape(self) -> tuple[int, ...]:
        return tuple(f - lo - hi for f, (lo, hi) in zip(self.full_shape, self.crops))


@dataclass
class Target:
    """One convention's version of the layer: ``code`` is the call (or the closest exact
    alternative when ``exact`` is False, explained in ``note``); ``kwargs`` its arguments."""

    name: str
    exact: bool
    code: str
    weight: str
    output_shape: tuple[int, ...]
    kwargs: dict
    perm: tuple[int, ...]  # source weight -> this convention's weight (before a group split)
    flips: tuple[int, ...]
    post: tuple[tuple[int, int], ...] | None = None  # crops after the call (negative: zeros), if needed
    group_split: bool = False
    late_bias: bool = False  # the bias is added after ``post`` (appended zeros get it too, as in the source)
    note: str = ""
    error: float = float("nan")


#: the Python package each target's snippet runs in (and its name in reports)
FRAMEWORKS = {"torch": ("torch", "PyTorch"), "onnx": ("onnxruntime", "ONNX Runtime"), "keras": ("keras", "Keras 3"),
              "jax": ("jax", "JAX"), "tconv": ("tconv", "tconv")}


@dataclass
class Translation:
    """A parsed layer and its versions in each target convention; ``print()`` it.

    Every target's ``code`` is a snippet that runs as printed, given NumPy arrays ``x`` (the input,
    ``(N, C_in, *spatial)``, channels first), the source's weight variable and ``b`` (the bias); it
    leaves its result in ``y`` (NumPy, in the target's layout). ``error`` of a target is tconv's own
    check (tconv's implementation of that convention with the arguments as written);
    :meth:`execute` runs a snippet itself in its framework, and ``translate(..., run=True)``
    does so for every target whose framework is installed (``framework_error``)."""

    layer: Layer
    targets: dict[str, Target]
    source_error: float
    batch: int = 2
    framework_errors: dict[str, object] = field(default_factory=dict)

    @property
    def max_error(self) -> float:
        return max([self.source_error, *(t.error for t in self.targets.values())])

    def execute(self, target: str, x: np.ndarray, weight: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
        """Run ``target``'s snippet verbatim (``exec``) in its framework on ``x``, the source-layout
        ``weight`` and ``b``; the result channels first, as a NumPy array.

        >>> t = translate("ConvTranspose1d(1, 1, 2, stride=2, bias=False)", input_shape=(2,))
        >>> t.execute("tconv", np.array([[[1.0, 2.0]]]), np.array([[[1.0, 10.0]]])).tolist()
        [[[1.0, 10.0, 2.0, 20.0]]]
        """
        t = self.targets[target]
        scope = {"x": x, _WEIGHT_VAR[self.layer.source]: weight, "b": b}
        exec(compile(t.code, f"<tconv translate: {target}>", "exec"), scope)
        y = np.asarray(scope["y"])
        return np.moveaxis(y, -1, 1) if target == "keras" else y

    def __str__(self) -> str:
        L = self.layer
        wvar = _WEIGHT_VAR[L.source]
        lines = [
            f"{L.source}: {L.call}  on input (N, {L.in_channels}, {', '.join(map(str, L.input_shape))})"
            if L.source in ("torch", "onnx") else f"{L.source}: {L.call}",
            f"canonical: in_channels {L.in_channels}, out_channels {L.out_channels}, groups {L.groups}, "
            f"kernel {L.kernel}, stride {L.stride}, dilation {L.dilation}; uncropped output {L.full_shape} "
            f"cropped by {L.crops} (negative: zeros appended) -> {L.output_shape}",
            f"each snippet runs as printed, given NumPy arrays x (N, {L.in_channels}, "
            f"{', '.join(map(str, L.input_shape))}) channels first, {wvar} of shape {L.weight_shape} (the source's "
            f"weight){' and b (' + str(L.out_channels) + ',)' if L.bias else ''}; it leaves its result in y",
            "",
        ]
        for t in self.targets.values():
            head = f"{t.name}:"
            if not t.exact:
                lines.append(f"{head} cannot express this layer in one call: {t.note}")
                lines.append("  closest exact alternative:")
            else:
                lines.append(head)
            lines += ["    " + c for c in t.code.splitlines()]
            lines.append(f"    output shape: {t.output_shape}")
        errs = ", ".join([f"{L.source} (source) {self.source_error:.2g}"]
                         + [f"{n} {t.error:.2g}" for n, t in self.targets.items()])
        lines += ["", f"checked numerically on random data (N={self.batch}) with tconv's own implementation of each "
                  f"convention, with the arguments written above: max error {self.max_error:.2g} relative to the "
                  f"largest output ({errs})"]
        if self.framework_errors:
            ran = [f"{FRAMEWORKS[n][1]} {e:.2g}" for n, e in self.framework_errors.items() if isinstance(e, float)]
            missing = [f"{FRAMEWORKS[n][1]} ({e})" for n, e in self.framework_errors.items() if not isinstance(e, float)]
            if ran:
                lines.append("the snippets executed verbatim in the frameworks themselves (float32), error relative "
                             f"to the largest output: {', '.join(ran)}")
            if missing:
                lines.append(f"not executed: {', '.join(missing)}")
        else:
            lines.append("the frameworks themselves did not run here: `tconv translate --run` executes each snippet "
                         "in the installed PyTorch, ONNX Runtime, Keras 3 and JAX (tconv's tests do, for a grid of "
                         "layers: tests/test_translate.py)")
        return "\n".join(lines)


# -- parsing the source ------------------------------------------------------------------------------

def _parse_call(text: str) -> tuple[str, list, dict]:
    if not isinstance(text, str):
        raise TconvTypeError(f"layer={text!r} must be a string such as 'ConvTranspose2d(64, 32, 4, stride=2)'")
    try:
        node = ast.parse(text.strip(), mode="eval").body
    except SyntaxError as exc:
        raise TconvError(f"layer={text!r} is not a call such as 'ConvTranspose2d(64, 32, 4)': {exc.msg}") from None
    if not isinstance(node, ast.Call):
        raise TconvError(f"layer={text!r} must be a call such as 'ConvTranspose2d(64, 32, 4)'")
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    try:
        args = [ast.literal_eval(a) for a in node.args]
        kwargs = {k.arg: ast.literal_eval(k.value) for k in node.keywords}
    except ValueError:
        raise TconvError(f"layer={text!r}: every argument must be a literal (numbers, strings, tuples)") from None
    if None in kwargs:
        raise TconvError(f"layer={text!r}: **kwargs are not accepted")
    return name, args, kwargs


def _bind(what: str, names: Sequence[str], args: list, kwargs: dict, required: Sequence[str]) -> dict:
    if len(args) > len(names):
        raise TconvError(f"{what} takes at most {len(names)} positional arguments ({', '.join(names)}), got {len(args)}")
    params = dict(zip(names, args))
    for k, v in kwargs.items():
        if k not in names:
            raise TconvError(f"{what}: unknown argument {k}={v!r}; known: {', '.join(names)}")
        if k in params:
            raise TconvError(f"{what}: {k} given both by position and by name")
        params[k] = v
    for r in required:
        if r not in params:
            raise TconvError(f"{what}: {r} is required")
    return params


def _spatial_input(input_shape, nd: int) -> tuple[int, ...]:
    if input_shape is None:
        raise TconvError(f"input_shape is required for this source: the {nd} spatial input sizes, e.g. --input 16,16")
    return per_axis("input_shape", input_shape, nd, 1)


def _identity(ndim: int):
    return tuple(range(ndim)), ()


def _from_torch(name, args, kwargs, input_shape, in_channels, call) -> Layer:
    m = re.fullmatch(r"ConvTranspose([123])d", name)
    if not m:
        raise TconvError(f"layer name {name!r}: from torch, give ConvTranspose1d, ConvTranspose2d or ConvTranspose3d")
    nd = int(m.group(1))
    names = ["in_channels", "out_channels", "kernel_size", "stride", "padding", "output_padding", "groups", "bias",
             "dilation", "padding_mode", "device", "dtype"]
    p = _bind(name, names, args, kwargs, names[:3])
    if p.get("padding_mode", "zeros") != "zeros":
        raise TconvError(f"padding_mode={p['padding_mode']!r}: PyTorch's {name} supports only 'zeros' "
                         "(use tconv.ConvOperator for other boundaries)")
    if isinstance(p.get("padding", 0), str):
        raise TconvError(f"padding={p['padding']!r}: PyTorch's {name} takes only ints (use output_size for a size)")
    cin, cout = as_int("in_channels", p["in_channels"], 1), as_int("out_channels", p["out_channels"], 1)
    g = as_int("groups", p.get("groups", 1), 1)
    if cout % g:
        raise TconvError(f"groups={g} must divide out_channels={cout}")
    k = per_axis("kernel_size", p["kernel_size"], nd, 1)
    pad = per_axis("padding", p.get("padding", 0), nd, 0)
    op = per_axis("output_padding", p.get("output_padding", 0), nd, 0)
    geom = conv_transpose_geometry((cin, cout // g, *k), _spatial_input(input_shape, nd), p.get("stride", 1), pad, op,
                                   p.get("dilation", 1), g)
    return Layer("torch", call, cin, cout, g, k, geom.stride, geom.dilation, tuple(zip(geom.pad_lo, geom.pad_hi)),
                 geom.y_shape, bool(p.get("bias", True)), (cin, cout // g, *k), _identity(nd + 2),
                 dict(stride=geom.stride, padding=pad, output_padding=op, groups=g, dilation=geom.dilation))


def _from_onnx(name, args, kwargs, input_shape, in_channels, call) -> Layer:
    if name != "ConvTranspose":
        raise TconvError(f"layer name {name!r}: from onnx, give ConvTranspose(C, M, kernel_shape=[...], ...)")
    names = ["C", "M", "kernel_shape", "strides", "pads", "output_padding", "dilations", "group", "auto_pad",
             "output_shape"]
    p = _bind(name, names, args, kwargs, ["C", "M", "kernel_shape"])
    cin, cout = as_int("C", p["C"], 1), as_int("M", p["M"], 1)
    k = tuple(p["kernel_shape"]) if isinstance(p["kernel_shape"], (list, tuple)) else (p["kernel_shape"],)
    nd = len(k)
    k = per_axis("kernel_shape", k, nd, 1)
    g = as_int("group", p.get("group", 1), 1)
    if cout % g:
        raise TconvError(f"group={g} must divide M={cout}")
    attrs = {a: p[a] for a in ("strides", "pads", "output_padding", "dilations", "auto_pad", "output_shape") if a in p}
    geom = tonnx.onnx_geometry((cin, cout // g, *k), _spatial_input(input_shape, nd), group=g, **attrs)
    return Layer("onnx", call, cin, cout, g, k, geom.stride, geom.dilation, tuple(zip(geom.pad_lo, geom.pad_hi)),
                 geom.y_shape, True, (cin, cout // g, *k), _identity(nd + 2),
                 dict(attrs, group=g, kernel_shape=list(k)))


def _from_keras(name, args, kwargs, input_shape, in_channels, call) -> Layer:
    m = re.fullmatch(r"Conv([123])DTranspose", name)
    if not m:
        raise TconvError(f"layer name {name!r}: from keras, give Conv1DTranspose, Conv2DTranspose or Conv3DTranspose")
    nd = int(m.group(1))
    names = ["filters", "kernel_size", "strides", "padding", "output_padding", "data_format", "dilation_rate",
             "activation", "use_bias", "in_channels", "groups"]
    p = _bind(name, names, args, kwargs, ["filters", "kernel_size"])
    if p.get("groups", 1) != 1:
        raise TconvError(f"groups={p['groups']!r}: Keras's {name} has no groups")
    if max(per_axis("strides", p.get("strides", 1), nd, 1)) > 1 and max(
            per_axis("dilation_rate", p.get("dilation_rate", 1), nd, 1)) > 1:
        raise TconvError(f"{name}: strides > 1 together with dilation_rate > 1 is refused by Keras's layer")
    if p.get("activation") not in (None, "linear"):
        raise TconvError(f"activation={p['activation']!r}: only the linear layer is translated")
    cin = p.get("in_channels", in_channels)
    if cin is None:
        raise TconvError(f"in_channels is required from keras: {name} infers it from its input (e.g. --in-channels 64)")
    cin, cout = as_int("in_channels", cin, 1), as_int("filters", p["filters"], 1)
    k = per_axis("kernel_size", p["kernel_size"], nd, 1)
    s = per_axis("strides", p.get("strides", 1), nd, 1)
    d = per_axis("dilation_rate", p.get("dilation_rate", 1), nd, 1)
    pad = tkeras._padding(p.get("padding", "valid"))
    df = tkeras._data_format(p.get("data_format"))
    op = p.get("output_padding")
    if op is not None:
        op = per_axis("output_padding", op, nd, 0)
        for a, ss in zip(op, s):
            if a >= ss:
                raise TconvError(f"output_padding={op} must be smaller than strides={s} on every axis (Keras's rule)")
    crops = []
    for ax in range(nd):
        crops.append(tkeras.keras_crop(k[ax], s[ax], d[ax], pad, None if op is None else op[ax]))
    layer = Layer("keras", call, cin, cout, 1, k, s, d, tuple(crops), _spatial_input(input_shape, nd),
                  bool(p.get("use_bias", True)), (*k, cout, cin), ((nd + 1, nd, *range(nd)), ()),
                  dict(strides=s, padding=pad, output_padding=op, data_format=df, dilation_rate=d))
    _check_not_empty(layer)
    return layer


def _from_jax(name, args, kwargs, input_shape, in_channels, call) -> Layer:
    if name != "conv_transpose":
        raise TconvError(f"layer name {name!r}: from jax, give conv_transpose(lhs_shape=..., rhs_shape=..., ...)")
    names = ["lhs_shape", "rhs_shape", "strides", "padding", "rhs_dilation", "dimension_numbers", "transpose_kernel",
             "use_consistent_padding"]
    p = _bind(name, names, args, kwargs, ["lhs_shape", "rhs_shape", "strides", "padding"])
    lhs, rhs = tuple(p["lhs_shape"]), tuple(p["rhs_shape"])
    if len(lhs) != len(rhs) or len(lhs) < 3:
        raise TconvError(f"lhs_shape={lhs} and rhs_shape={rhs} need the same rank, with at least one spatial axis")
    nd = len(lhs) - 2
    lp, rp, _ = tjax.dimension_permutations(p.get("dimension_numbers"), len(lhs))
    spatial = tuple(lhs[a] for a in lp[2:])
    if input_shape is not None and tuple(input_shape) != spatial:
        raise TconvError(f"input_shape={tuple(input_shape)} does not match lhs_shape={lhs} (spatial {spatial})")
    tk = bool(p.get("transpose_kernel", False))
    perm, flips = (rp, ()) if tk else ((rp[1], rp[0], *rp[2:]), tuple(range(2, nd + 2)))
    w_shape = tuple(rhs[a] for a in perm)
    cin = lhs[lp[1]]
    if w_shape[0] != cin:
        raise TconvError(f"lhs_shape={lhs} has {cin} feature channels but rhs_shape={rhs} has {w_shape[0]} "
                         f"on its {'O' if tk else 'I'} axis (transpose_kernel={tk})")
    k = w_shape[2:]
    s = per_axis("strides", p["strides"], nd, 1)
    d = per_axis("rhs_dilation", p.get("rhs_dilation") or (1,) * nd, nd, 1)
    k_eff = [dd * (kk - 1) + 1 for kk, dd in zip(k, d)]
    dilated = [(i - 1) * ss + 1 for i, ss in zip(spatial, s)]
    crops = tjax._crops(p["padding"], k_eff, s, dilated, bool(p.get("use_consistent_padding", False)))
    layer = Layer("jax", call, cin, w_shape[1], 1, tuple(k), s, d, tuple(crops), spatial, False, rhs, (perm, flips),
                  {a: p[a] for a in names[2:] if a in p})
    _check_not_empty(layer)
    return layer


def _check_not_empty(layer: Layer) -> None:
    for ax, n in enumerate(layer.output_shape):
        if n < 1:
            raise TconvError(f"{layer.call}: empty output on spatial axis {ax} ({n} positions)")


_PARSERS = {"torch": _from_torch, "onnx": _from_onnx, "keras": _from_keras, "jax": _from_jax}


# -- weight transforms --------------------------------------------------------------------------------

def _compose(first, second):
    """``second`` after ``first``; each (perm, flips) means ``np.flip(np.transpose(a, perm), flips)``."""
    (p1, f1), (p2, f2) = first, second
    perm = tuple(p1[j] for j in p2)
    moved = {j for j, src in enumerate(p2) if src in set(f1)}
    return perm, tuple(sorted(moved ^ set(f2)))


def _apply(a: np.ndarray, transform) -> np.ndarray:
    perm, flips = transform
    a = np.transpose(a, perm)
    return np.flip(a, flips) if flips else a


def _weight_expr(src: str, transform) -> str:
    """The expression turning the source's weight variable into a target's layout."""
    perm, flips = transform
    expr = _WEIGHT_VAR[src]
    if perm != tuple(range(len(perm))):
        expr = f"{expr}.transpose{perm}"
    if flips:
        expr = f"np.flip({expr}, axis={flips})"
    return expr


def _weight_text(src: str, dst_var: str, transform, extra: str = "") -> str:
    return f"{dst_var} = {_weight_expr(src, transform)}{extra}"


def _crop_post(y: np.ndarray, crops, first_axis: int) -> np.ndarray:
    """Crop (positive) or zero-extend (negative) the spatial axes starting at ``first_axis``."""
    for ax, (lo, hi) in enumerate(crops):
        axis = first_axis + ax
        n = y.shape[axis]
        a, b = max(lo, 0), n - max(hi, 0)
        y = y.take(np.arange(a, b), axis=axis)
        if lo < 0 or hi < 0:
            width = [(0, 0)] * y.ndim
            width[axis] = (max(-lo, 0), max(-hi, 0))
            y = np.pad(y, width)
    return y


def _late_bias(L: Layer, post) -> bool:
    """Zeros appended after the call must still receive the bias: add it last."""
    return L.bias and post is not None and any(v < 0 for pair in post for v in pair)


def _fmt(v) -> str:
    return repr(tuple(v)) if isinstance(v, (list, tuple)) else repr(v)


# -- targets ----------------------------------------------------------------------------------------------

def _none_index(nd: int) -> str:
    return ", ".join(["None"] * nd)


def _torch_target(L: Layer) -> Target:
    nd = L.nd
    exact = all(lo >= 0 and 0 <= lo - hi < max(s, d) for (lo, hi), s, d in zip(L.crops, L.stride, L.dilation))
    pad = tuple(lo for lo, _ in L.crops) if exact else (0,) * nd
    op = tuple(lo - hi for lo, hi in L.crops) if exact else (0,) * nd
    post = None if exact else L.crops
    late = _late_bias(L, post)
    kw = dict(in_channels=L.in_channels, out_channels=L.out_channels, kernel_size=L.kernel, stride=L.stride,
              padding=pad, output_padding=op, groups=L.groups, bias=L.bias and not late, dilation=L.dilation)
    t = _compose(L.to_torch, _identity(nd + 2))
    lines = ["import numpy as np", "import torch", "from torch import nn"]
    if not exact:
        lines.append("import torch.nn.functional as F")
    lines += [f"module = nn.ConvTranspose{nd}d(" + ", ".join(f"{k}={_fmt(v)}" for k, v in kw.items()) + ")",
              "with torch.no_grad():",
              f"    module.weight.copy_(torch.from_numpy(np.ascontiguousarray({_weight_expr(L.source, t)})))"
              "  # (C_in, C_out/groups, *k)"]
    if L.bias and not late:
        lines.append("    module.bias.copy_(torch.from_numpy(np.asarray(b)))")
    lines.append("    y = module(torch.as_tensor(x, dtype=torch.float32))")
    note = ""
    if not exact:
        flat = [v for lo, hi in reversed(L.crops) for v in (-lo, -hi)]
        lines.append(f"    y = F.pad(y, {flat})  # negative entries crop, positive ones append zeros")
        note = (f"the crops {L.crops} are not (padding, padding - output_padding) with padding >= 0 and "
                "0 <= output_padding < max(stride, dilation)")
    if late:
        lines.append(f"    y = y + torch.as_tensor(b)[:, {_none_index(nd)}]  # bias last: the appended positions get it too")
    lines.append("y = y.numpy()  # (N, C_out, *spatial)")
    bias_text = "; b: the bias" if late else "; module.bias.data = b" if L.bias else ""
    return Target("torch", exact, "\n".join(lines),
                  _weight_text(L.source, "module.weight.data", t, "  # (C_in, C_out/groups, *k)" + bias_text),
                  (1, L.out_channels, *L.output_shape), kw, *t, post=post, late_bias=late, note=note)


#: the opset and IR version the ONNX snippets write (ONNX Runtime 1.15 and later run them)
ONNX_OPSET, ONNX_IR = 18, 8


def _onnx_target(L: Layer) -> Target:
    nd = L.nd
    # ONNX Runtime wants output_padding < stride (not max(stride, dilation) as PyTorch)
    exact = all(lo >= 0 and (hi >= 0 or -hi < s) for (lo, hi), s in zip(L.crops, L.stride))
    if exact:
        pads = [lo for lo, _ in L.crops] + [max(hi, 0) for _, hi in L.crops]
        op = [max(-hi, 0) for _, hi in L.crops]
    else:
        pads, op = [0] * (2 * nd), [0] * nd
    post = None if exact else L.crops
    late = _late_bias(L, post)
    attrs = dict(kernel_shape=list(L.kernel), strides=list(L.stride), pads=pads, output_padding=op,
                 dilations=list(L.dilation), group=L.groups)
    t = _compose(L.to_torch, _identity(nd + 2))
    inputs = '["X", "W", "B"]' if L.bias and not late else '["X", "W"]'
    lines = ["import numpy as np", "import onnxruntime as ort", "from onnx import TensorProto, helper, numpy_helper",
             f"inits = [numpy_helper.from_array(np.ascontiguousarray({_weight_expr(L.source, t)}, np.float32), \"W\")]"
             "  # (C, M/group, *kernel_shape)"]
    if L.bias and not late:
        lines.append('inits.append(numpy_helper.from_array(np.asarray(b, np.float32), "B"))')
    lines.append(f'nodes = [helper.make_node("ConvTranspose", {inputs}, ["{"Y" if exact else "Y0"}"], '
                 + ", ".join(f"{k}={v!r}" for k, v in attrs.items()) + ")]")
    note = ""
    if not exact:
        pad_values = [0, 0, *(-lo for lo, _ in L.crops), 0, 0, *(-hi for _, hi in L.crops)]
        lines += [f'nodes.append(helper.make_node("Pad", ["Y0", "pads"], ["{"Y1" if late else "Y"}"], mode="constant"))',
                  f'inits.append(numpy_helper.from_array(np.array({pad_values}, np.int64), "pads"))'
                  "  # negative entries crop"]
        note = f"the crops {L.crops} need a negative pad, or an output_padding >= stride (ONNX Runtime refuses it)"
    if late:
        lines += ['nodes.append(helper.make_node("Add", ["Y1", "Bc"], ["Y"]))  # bias last: appended positions get it too',
                  f'inits.append(numpy_helper.from_array(np.asarray(b, np.float32).reshape(-1, {", ".join(["1"] * nd)}), "Bc"))']
    lines += ['graph = helper.make_graph(nodes, "layer", [helper.make_tensor_value_info("X", TensorProto.FLOAT, '
              'list(np.shape(x)))],',
              '                          [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)], inits)',
              f'model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", {ONNX_OPSET})], '
              f'ir_version={ONNX_IR})',
              'session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])',
              'y = session.run(None, {"X": np.asarray(x, np.float32)})[0]  # (N, M, *spatial)']
    return Target("onnx", exact, "\n".join(lines),
                  _weight_text(L.source, "W", t, "  # (C, M/group, *kernel_shape); B = b"),
                  (1, L.out_channels, *L.output_shape), attrs, *t, post=post, late_bias=late, note=note)


def _keras_choice(L: Layer):
    """(padding, output_padding) whose Keras crops are the layer's, or None."""
    def crops(pad, op):
        out = []
        for ax in range(L.nd):
            out.append(tkeras.keras_crop(L.kernel[ax], L.stride[ax], L.dilation[ax], pad,
                                         None if op is None else op[ax]))
        return tuple(out)

    for pad in ("same", "valid"):
        if crops(pad, None) == L.crops:
            return pad, None
    for pad in ("same", "valid"):
        op = []
        for ax in range(L.nd):
            found = [a for a in range(L.stride[ax])
                     if tkeras.keras_crop(L.kernel[ax], L.stride[ax], L.dilation[ax], pad, a) == L.crops[ax]]
            if not found:
                break
            op.append(found[0])
        else:
            return pad, tuple(op)
    return None


def _keras_target(L: Layer) -> Target:
    nd = L.nd
    choice = _keras_choice(L)
    notes = []
    if choice is None:
        pad, op = "valid", None
        base = [(0, e - max(e, s)) for e, s in zip(L.k_eff, L.stride)]
        post = tuple((lo - blo, hi - bhi) for (lo, hi), (blo, bhi) in zip(L.crops, base))
        notes.append(f"no padding='valid'/'same' with output_padding < strides gives the crops {L.crops}")
    else:
        (pad, op), post = choice, None
    late = _late_bias(L, post)
    g, cout_g, cin_g = L.groups, L.out_channels // L.groups, L.in_channels // L.groups
    kw = dict(filters=cout_g, kernel_size=L.kernel, strides=L.stride, padding=pad, output_padding=op,
              dilation_rate=L.dilation, use_bias=L.bias and not late, data_format="channels_last")
    t = _compose(L.to_torch, ((*range(2, nd + 2), 1, 0), ()))
    lines = ["import numpy as np", "import keras  # Keras 3, any backend (KERAS_BACKEND)",
             f"kernel_t = np.asarray({_weight_expr(L.source, t)}, np.float32)  # (*kernel_size, C_out/groups, C_in)",
             "xl = np.moveaxis(np.asarray(x, np.float32), 1, -1)  # channels_last: (N, *spatial, C_in)"]
    j_x = f"xl[..., j * {cin_g}:(j + 1) * {cin_g}]" if g > 1 else "xl"
    j_k = f"kernel_t[..., j * {cin_g}:(j + 1) * {cin_g}]" if g > 1 else "kernel_t"
    j_b = f"np.asarray(b, np.float32)[j * {cout_g}:(j + 1) * {cout_g}]" if g > 1 else "np.asarray(b, np.float32)"
    body = []
    if any(s > 1 for s in L.stride) and any(d > 1 for d in L.dilation):
        notes.append(f"Keras's Conv{nd}DTranspose refuses strides > 1 with dilation_rate > 1 (keras.ops does not)")
        ops_kw = {k: v for k, v in kw.items() if k not in ("filters", "kernel_size", "use_bias")}
        body.append(f"part = keras.ops.conv_transpose({j_x}, {j_k}, "
                    + ", ".join(f"{k}={_fmt(v)}" for k, v in ops_kw.items()) + ")")
        late = L.bias
    else:
        body += [f"layer = keras.layers.Conv{nd}DTranspose(" + ", ".join(f"{k}={_fmt(v)}" for k, v in kw.items()) + ")",
                 f"layer.build((None, *{j_x}.shape[1:]))",
                 f"layer.set_weights([{j_k}" + (f", {j_b}])" if kw["use_bias"] else "])"),
                 f"part = layer({j_x})"]
    if g > 1:
        notes.append(f"Keras's Conv{nd}DTranspose has no groups")
        lines.append(f"parts = []\nfor j in range({g}):  # one call per group: Keras has no groups")
        lines += ["    " + ln for ln in body] + ["    parts.append(part)", "y = keras.ops.concatenate(parts, axis=-1)"]
    else:
        lines += body + ["y = part"]
    if post is not None:
        zero = tuple((max(-lo, 0), max(-hi, 0)) for lo, hi in post)
        crop = tuple((max(lo, 0), max(hi, 0)) for lo, hi in post)
        if any(v for pr in zero for v in pr):
            lines.append(f"y = keras.layers.ZeroPadding{nd}D({zero if nd > 1 else zero[0]})(y)")
        if any(v for pr in crop for v in pr):
            lines.append(f"y = keras.layers.Cropping{nd}D({crop if nd > 1 else crop[0]})(y)")
    if late:
        lines.append("y = y + np.asarray(b, np.float32)  # bias last"
                     + (": the appended zeros get it too" if post is not None else ""))
    lines.append("y = np.asarray(y)  # (N, *spatial, C_out): channels_last")
    return Target("keras", not notes, "\n".join(lines),
                  _weight_text(L.source, "kernel", t, "  # (*kernel_size, C_out/groups, C_in); bias = b"),
                  (1, *L.output_shape, L.out_channels), kw, *t, post=post, group_split=g > 1,
                  late_bias=late, note="; ".join(notes))


def _jax_target(L: Layer) -> Target:
    nd = L.nd
    pads = tuple((e - 1 - lo, e - 1 - hi) for e, (lo, hi) in zip(L.k_eff, L.crops))
    sp = _SPATIAL[nd]
    dn = ("NC" + sp, "OI" + sp, "NC" + sp)
    kw = dict(strides=L.stride, padding=pads, rhs_dilation=L.dilation, dimension_numbers=dn, transpose_kernel=True)
    t = _compose(L.to_torch, _identity(nd + 2))
    args = ", ".join(f"{k}={_fmt(v)}" for k, v in kw.items())
    lines = ["import numpy as np", "import jax",
             f"rhs_t = np.asarray({_weight_expr(L.source, t)}, np.float32)"
             f"  # {dn[1]}: O = C_in, I = C_out/groups (transpose_kernel=True)",
             "lhs = np.asarray(x, np.float32)"]
    note = ""
    if L.groups > 1:
        cin_g = L.in_channels // L.groups
        note = "lax.conv_transpose has no groups"
        lines += [f"parts = [jax.lax.conv_transpose(lhs[:, j * {cin_g}:(j + 1) * {cin_g}], "
                  f"rhs_t[j * {cin_g}:(j + 1) * {cin_g}], {args})",
                  f"         for j in range({L.groups})]  # one call per group: lax.conv_transpose has no groups",
                  "y = np.concatenate([np.asarray(part) for part in parts], axis=1)"]
    else:
        lines += [f"y = np.asarray(jax.lax.conv_transpose(lhs, rhs_t, {args}))"]
    if L.bias:
        lines.append(f"y = y + np.asarray(b, np.float32)[:, {_none_index(nd)}]")
    lines[-1] += "  # (N, C_out, *spatial)"
    return Target("jax", L.groups == 1, "\n".join(lines),
                  _weight_text(L.source, "rhs", t, f"  # {dn[1]}: O = C_in, I = C_out/groups (transpose_kernel=True)"),
                  (1, L.out_channels, *L.output_shape), kw, *t, group_split=L.groups > 1, note=note)


def _tconv_target(L: Layer) -> Target:
    nd = L.nd
    exact = all(lo >= 0 and (hi >= 0 or -hi < max(s, d)) for (lo, hi), s, d in zip(L.crops, L.stride, L.dilation))
    pad = tuple((max(lo, 0), max(hi, 0)) for lo, hi in L.crops)
    op = tuple(max(-hi, 0) for _, hi in L.crops) if exact else (0,) * nd
    post = None if exact else tuple((min(lo, 0), min(hi, 0)) for lo, hi in L.crops)
    late = _late_bias(L, post)
    kw = dict(stride=L.stride, padding=pad, output_padding=op, groups=L.groups, dilation=L.dilation)
    t = _compose(L.to_torch, _identity(nd + 2))
    lines = ["import numpy as np", "import tconv",
             f"y = tconv.conv_transpose(x, {_weight_expr(L.source, t)}, {'b' if L.bias and not late else 'None'}, "
             + ", ".join(f"{k}={_fmt(v)}" for k, v in kw.items()) + ")"]
    note = ""
    if not exact:
        lines.append(f"y = np.pad(y, [(0, 0), (0, 0), *{tuple((-lo, -hi) for lo, hi in post)}])  # zeros appended")
        note = f"the crops {L.crops} extend the output by more than output_padding allows"
    if late:
        lines.append(f"y = y + b[:, {_none_index(nd)}]  # bias last: the appended zeros get it too")
    lines[-1] += "  # (N, C_out, *spatial)"
    return Target("tconv", exact, "\n".join(lines), _weight_text(L.source, "w", t, "  # (C_in, C_out/groups, *k)"),
                  (1, L.out_channels, *L.output_shape), kw, *t, post=post, late_bias=late, note=note)


_BUILDERS = {"torch": _torch_target, "onnx": _onnx_target, "keras": _keras_target, "jax": _jax_target,
             "tconv": _tconv_target}


# -- the numerical check ------------------------------------------------------------------------------

def _run_target(L: Layer, t: Target, x: np.ndarray, w_src: np.ndarray, b: np.ndarray | None) -> np.ndarray:
    """Channels-first result of the target as written, computed with tconv's implementation of it."""
    nd, g = L.nd, L.groups
    w = _apply(w_src, (t.perm, t.flips))
    bias = b if L.bias and not t.late_bias else None
    kw = t.kwargs
    if t.name in ("torch", "tconv"):
        y = conv_transpose(x, w, bias, kw["stride"], kw["padding"], kw["output_padding"], g, kw["dilation"])
    elif t.name == "onnx":
        y = tonnx.conv_transpose(x, w, bias, **kw)
    else:
        cin_g, cout_g = L.in_channels // g, L.out_channels // g
        parts = []
        for j in range(g):
            bj = None if bias is None else bias[j * cout_g:(j + 1) * cout_g]
            if t.name == "keras":
                xl = np.moveaxis(x[:, j * cin_g:(j + 1) * cin_g], 1, -1)
                kwj = {k: v for k, v in kw.items() if k not in ("filters", "kernel_size", "use_bias")}
                yj = tkeras.conv_transpose(xl, w[..., j * cin_g:(j + 1) * cin_g], bias=bj, **kwj)
                parts.append(np.moveaxis(yj, -1, 1))
            else:
                yj = tjax.conv_transpose(x[:, j * cin_g:(j + 1) * cin_g], w[j * cin_g:(j + 1) * cin_g], **kw)
                parts.append(yj if bj is None else yj + bj.reshape((-1,) + (1,) * nd))
        y = np.concatenate(parts, axis=1)
    if t.post is not None:
        y = _crop_post(y, t.post, 2)
    if t.late_bias:
        y = y + b.reshape((-1,) + (1,) * nd)
    return y


def _run_source(L: Layer, x: np.ndarray, w_src: np.ndarray, b: np.ndarray | None) -> np.ndarray:
    kw = L.source_kwargs
    if L.source == "torch":
        return conv_transpose(x, w_src, b if L.bias else None, **kw)
    if L.source == "onnx":
        return tonnx.conv_transpose(x, w_src, b, **kw)
    if L.source == "keras":
        xs = np.moveaxis(x, 1, -1) if kw["data_format"] == "channels_last" else x
        y = tkeras.conv_transpose(xs, w_src, bias=b if L.bias else None, **kw)
        return np.moveaxis(y, -1, 1) if kw["data_format"] == "channels_last" else y
    lp, _, op = tjax.dimension_permutations(kw.get("dimension_numbers"), L.nd + 2)
    y = tjax.conv_transpose(np.transpose(x, np.argsort(lp)), w_src, **kw)
    return np.transpose(y, op)


def translate(
    layer: str,
    source: str = "torch",
    to: Sequence[str] | str = TARGETS,
    *,
    input_shape: Sequence[int] | None = None,
    in_channels: int | None = None,
    check: bool = True,
    run: bool = False,
    seed: int = 0,
) -> Translation:
    """Parse ``layer`` in the ``source`` convention and write it in each of ``to``; ``print()`` the result.

    ``input_shape``: the spatial input sizes (from jax they come from ``lhs_shape``).
    ``in_channels``: the input channels, needed from keras (a Keras layer infers them).
    ``check``: run random data through tconv's implementation of every convention and record the
    largest difference from the canonical result (``Translation.max_error``).
    ``run``: also execute every target's snippet verbatim in its framework (those installed), on
    float32 data, and record the error relative to the largest output (``Translation.framework_errors``;
    for a framework that cannot be imported, the reason).
    """
    if source not in SOURCES:
        raise TconvError(f"source={source!r} must be one of {', '.join(SOURCES)}")
    targets = [to] if isinstance(to, str) else list(to)
    for t in targets:
        if t not in TARGETS:
            raise TconvError(f"to={t!r} must be one of {', '.join(TARGETS)}")
    name, args, kwargs = _parse_call(layer)
    L = _PARSERS[source](name, args, kwargs, input_shape, in_channels, layer.strip())
    out = {t: _BUILDERS[t](L) for t in targets}
    tr = Translation(L, out, float("nan"))
    if check:
        _check(tr, seed)
    if run:
        _run_frameworks(tr, seed)
    return tr


def _check(tr: Translation, seed: int) -> None:
    """tconv's implementation of the source and of every target, as written, against the canonical layer."""
    L, out = tr.layer, tr.targets
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((tr.batch, L.in_channels, *L.input_shape))
    w_src = rng.standard_normal(L.weight_shape)
    b = rng.standard_normal(L.out_channels) if L.bias else None
    w = _apply(w_src, L.to_torch)
    ref = conv_transpose_window(x, w, L.stride, L.dilation, L.crops, b, groups=L.groups)
    scale = max(1.0, float(np.abs(ref).max()))
    tr.source_error = float(np.abs(_run_source(L, x, w_src, b) - ref).max()) / scale
    for t in out.values():
        got = _run_target(L, t, x, w_src, b)
        if got.shape != ref.shape:
            raise RuntimeError(f"tconv bug: the {t.name} translation gives {got.shape}, canonical {ref.shape}")
        t.error = float(np.abs(got - ref).max()) / scale


def translate_call(
    weight_shape: Sequence[int],
    input_shape: Sequence[int],
    stride=1,
    padding=0,
    output_padding=0,
    groups: int = 1,
    dilation=1,
    *,
    bias: bool = False,
    to: Sequence[str] | str = TARGETS,
    check: bool = True,
) -> Translation:
    """The translation of one ``tconv.conv_transpose`` call (PyTorch's weight layout ``weight_shape``,
    spatial ``input_shape``, any tconv padding form, asymmetric pairs included): what the explorer
    shows as "the same call elsewhere", checked as :func:`translate` checks.

    >>> t = translate_call((1, 1, 3, 3), (3, 3), stride=2, padding=((1, 0), (1, 1)), output_padding=1)
    >>> t.targets["onnx"].kwargs["pads"], t.targets["torch"].exact, t.max_error < 1e-12
    ([1, 1, 0, 0], False, True)
    """
    geom = conv_transpose_geometry(tuple(weight_shape), tuple(input_shape), stride, padding, output_padding,
                                   dilation, groups)
    nd = geom.nd
    kw = dict(stride=geom.stride, padding=geom.padding, output_padding=geom.output_padding, groups=geom.groups,
              dilation=geom.dilation)
    call = "tconv.conv_transpose(x, w, " + ", ".join(f"{k}={_fmt(v)}" for k, v in kw.items()) + ")"
    L = Layer("torch", call, geom.y_channels, geom.x_channels, geom.groups, geom.kernel, geom.stride, geom.dilation,
              tuple(zip(geom.pad_lo, geom.pad_hi)), geom.y_shape, bool(bias), tuple(weight_shape),
              _identity(nd + 2), kw)
    targets = [to] if isinstance(to, str) else list(to)
    tr = Translation(L, {t: _BUILDERS[t](L) for t in targets}, float("nan"))
    if check:
        _check(tr, 0)
    return tr


def _run_frameworks(tr: Translation, seed: int) -> None:
    """Execute every target's snippet in its framework (float32 data); errors in ``tr.framework_errors``."""
    import importlib

    L = tr.layer
    rng = np.random.default_rng(seed + 1)
    x = rng.standard_normal((tr.batch, L.in_channels, *L.input_shape)).astype(np.float32)
    w_src = rng.standard_normal(L.weight_shape).astype(np.float32)
    b = rng.standard_normal(L.out_channels).astype(np.float32) if L.bias else None
    ref = conv_transpose_window(x.astype(np.float64), _apply(w_src, L.to_torch).astype(np.float64), L.stride,
                                L.dilation, L.crops, None if b is None else b.astype(np.float64), groups=L.groups)
    scale = max(1.0, float(np.abs(ref).max()))
    for name in tr.targets:
        try:
            importlib.import_module(FRAMEWORKS[name][0])
        except Exception as exc:  # not installed, or no backend (Keras without one): said, not hidden
            tr.framework_errors[name] = f"{FRAMEWORKS[name][0]} could not be imported: {type(exc).__name__}"
            continue
        got = tr.execute(name, x, w_src, b)
        if got.shape != ref.shape:
            tr.framework_errors[name] = f"gave shape {got.shape}, not {ref.shape}"
        else:
            tr.framework_errors[name] = float(np.abs(got - ref).max()) / scale
