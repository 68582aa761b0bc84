"""Drawing models: every number a picture shows, computed by tconv itself.

1-D cases are treated as 2-D with a single row. The scatter model follows the definition
(each input cell scales the kernel, added into its output window on the uncropped canvas);
the gather model is the equivalent convolution over the zero-inserted, padded input with the
flipped kernel. Both end on ``tconv.conv_transpose``'s result, which the tests check.

>>> m = scatter_model(np.array([[1.0, 2.0], [3.0, 4.0]]), np.arange(1.0, 10.0).reshape(3, 3))
>>> len(m.frames), m.output.shape
(6, (4, 4))
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ...api.functional import conv_transpose
from ...core.geometry import ConvGeometry, conv_transpose_geometry, zero_insertion_geometry
from ...core.params import per_axis
from ...errors import TconvError

__all__ = ["Frame", "ScatterModel", "GatherModel", "scatter_model", "gather_model", "overlap_map",
           "describe_overlap", "params_line", "padding_text"]


@dataclass(frozen=True)
class Frame:
    kind: str  # "intro" | "step" | "outro"
    title: str
    canvas: np.ndarray  # output canvas values so far
    touched: np.ndarray  # bool, canvas cells written so far
    source: tuple[int, int] | None = None  # highlighted input cell (scatter) / output cell (gather)
    window: tuple[tuple[int, int], ...] = ()  # canvas (scatter) or padded-input (gather) cells used now
    scale: float | None = None  # the input value scaling the kernel (scatter)
    value: float | None = None  # the output value just computed (gather)


@dataclass
class ScatterModel:
    """Input ``x`` (2-D), kernel (2-D), the uncropped output canvas and its regions."""

    x: np.ndarray
    kernel: np.ndarray
    geometry: ConvGeometry
    canvas_shape: tuple[int, int]
    keep: tuple[slice, slice]  # the region of the canvas that is the output
    cropped: np.ndarray  # bool canvas: removed by padding
    output_padding: np.ndarray  # bool canvas: the last output_padding rows/columns of the output
    output: np.ndarray  # == tconv.conv_transpose(x, kernel, ...)
    frames: list[Frame] = field(default_factory=list)
    one_d: bool = False
    params: dict = field(default_factory=dict)  # stride, padding (lo, hi), dilation, output_padding per axis
    #: bool canvas: output_padding cells beyond the scatter's reach (zeros appended); the other
    #: output_padding cells hold real sums that padding would have cropped and output_padding keeps
    outpad_zeros: np.ndarray | None = None

    @property
    def outpad_kept(self) -> np.ndarray:
        """output_padding cells inside the uncropped canvas: real values kept from the crop."""
        return self.output_padding & ~self.outpad_zeros


def _lift(v, neutral):
    """A 1-D parameter as the 2-D one of a single-row picture."""
    if isinstance(v, str):
        return v
    if isinstance(v, (int, np.integer)):
        return (neutral, v)
    v = tuple(v)
    return (neutral, v[0]) if len(v) == 1 else v


def _as_2d(x, kernel, stride, padding, output_padding, dilation):
    x = np.asarray(x, dtype=np.float64)
    kernel = np.asarray(kernel, dtype=np.float64)
    if x.ndim != kernel.ndim or x.ndim not in (1, 2):
        raise TconvError(
            f"pictures need a 1-D or 2-D input and a kernel of the same rank; got input "
            f"{x.shape} and kernel {kernel.shape}"
        )
    if x.ndim == 2:
        return x, kernel, stride, padding, output_padding, dilation, False
    if isinstance(padding, (int, np.integer)):
        padding = ((0, 0), (int(padding), int(padding)))
    elif not isinstance(padding, str):
        padding = _lift(padding, (0, 0))
    return (x[None], kernel[None], _lift(stride, 1), padding,
            _lift(output_padding, 0), _lift(dilation, 1), True)


def scatter_model(x, kernel, stride=1, padding=0, output_padding=0, dilation=1) -> ScatterModel:
    """The scatter view: one frame per input cell, plus an intro and an outro."""
    x, kernel, stride, padding, output_padding, dilation, one_d = _as_2d(
        x, kernel, stride, padding, output_padding, dilation)
    w = kernel[None, None]
    geom = conv_transpose_geometry(w.shape, x.shape, stride, padding, output_padding, dilation)
    lo, n, full = geom.pad_lo, geom.x_shape, geom.full_shape
    canvas_shape = tuple(max(f, a + b) for f, a, b in zip(full, lo, n))
    keep = tuple(slice(a, a + b) for a, b in zip(lo, n))
    cropped = np.ones(canvas_shape, bool)
    cropped[keep] = False
    # output_padding: the last rows/columns of the output, which are either restored from the
    # cropped margin or zeros beyond the scatter's reach
    outpad = np.zeros(canvas_shape, bool)
    base = conv_transpose_geometry(w.shape, x.shape, stride, padding, 0, dilation).x_shape
    for ax, a in enumerate(ni - bi for ni, bi in zip(n, base)):
        if a > 0:
            idx = [keep[0], keep[1]]
            idx[ax] = slice(lo[ax] + n[ax] - a, lo[ax] + n[ax])
            outpad[tuple(idx)] = True
    canvas = np.zeros(canvas_shape)
    touched = np.zeros(canvas_shape, bool)
    s, d = geom.stride, geom.dilation
    frames = [Frame("intro", "transposed convolution: each input cell scales the kernel and is added into the output",
                    canvas.copy(), touched.copy())]
    total = x.size
    for step, (i, j) in enumerate(np.ndindex(*x.shape), start=1):
        rows = i * s[0] + d[0] * np.arange(kernel.shape[0])
        cols = j * s[1] + d[1] * np.arange(kernel.shape[1])
        canvas[np.ix_(rows, cols)] += x[i, j] * kernel
        touched[np.ix_(rows, cols)] = True
        where = f"input[{j}]" if one_d else f"input[{i},{j}]"
        frames.append(Frame(
            "step", f"step {step}/{total}: {where} = {_fmt(x[i, j])} times the kernel, added into the output",
            canvas.copy(), touched.copy(), (i, j),
            tuple((int(r), int(c)) for r in rows for c in cols), float(x[i, j])))
    output = conv_transpose(x[None, None], w, stride=stride, padding=padding,
                            output_padding=output_padding, dilation=dilation)[0, 0]
    beyond = np.zeros(canvas_shape, bool)  # canvas cells the scatter never reaches
    for ax, f in enumerate(full):
        idx = [slice(None), slice(None)]
        idx[ax] = slice(f, None)
        beyond[tuple(idx)] = True
    zeros = outpad & beyond
    note = []
    if cropped.any():
        note.append("grey cells are cropped by padding")
    if (outpad & ~zeros).any():
        note.append("light purple cells are sums that padding would crop, kept by output_padding")
    if zeros.any():
        note.append("dark purple cells are zeros appended by output_padding, beyond the scatter's reach")
    frames.append(Frame("outro", "result: the output of conv_transpose, framed in blue" +
                        ("; " + "; ".join(note) if note else ""),
                        canvas.copy(), touched.copy()))
    return ScatterModel(x, kernel, geom, canvas_shape, keep, cropped, outpad, output, frames, one_d,
                        _params(geom, output_padding, padding, one_d), zeros)


@dataclass
class GatherModel:
    """The zero-insertion view: padded, zero-inserted input; flipped kernel; output."""

    x: np.ndarray
    kernel: np.ndarray  # the original kernel
    flipped: np.ndarray
    geometry: ConvGeometry
    grid: np.ndarray  # the padded, zero-inserted input the flipped kernel slides over
    origin: np.ndarray  # int grid: 0 padding, 1 inserted zero, 2 an input value, 3 a zero added by output_padding
    output: np.ndarray
    frames: list[Frame] = field(default_factory=list)
    one_d: bool = False
    params: dict = field(default_factory=dict)


def gather_model(x, kernel, stride=1, padding=0, output_padding=0, dilation=1) -> GatherModel:
    """The gather view: one frame per output cell, plus an intro and an outro."""
    x, kernel, stride, padding, output_padding, dilation, one_d = _as_2d(
        x, kernel, stride, padding, output_padding, dilation)
    w = kernel[None, None]
    geom = conv_transpose_geometry(w.shape, x.shape, stride, padding, output_padding, dilation)
    s, d, n, k = geom.stride, geom.dilation, geom.x_shape, geom.kernel
    inner, up = zero_insertion_geometry(geom)  # the same view the zero_insertion algorithm computes
    front = inner.pad_lo
    size = tuple(ni + di * (ki - 1) for ni, di, ki in zip(n, d, k))
    grid = np.zeros(size)
    origin = np.zeros(size, int)
    u = np.zeros(up)
    u[:: s[0], :: s[1]] = x
    kind = np.ones(up, int)
    kind[:: s[0], :: s[1]] = 2
    # place u at offset `front` (negative: its first rows/cols fall outside and are cropped)
    src = tuple(slice(max(0, -f), min(u_, sz - f)) for f, u_, sz in zip(front, up, size))
    dst = tuple(slice(max(0, f), max(0, f) + (sl.stop - sl.start)) for f, sl in zip(front, src))
    grid[dst] = u[src]
    origin[dst] = kind[src]
    # the last output_padding rows/columns of the grid exist only for the output_padding cells
    base = conv_transpose_geometry(w.shape, x.shape, stride, padding, 0, dilation).x_shape
    for ax, a in enumerate(ni - bi for ni, bi in zip(n, base)):
        if a > 0:
            idx = [slice(None), slice(None)]
            idx[ax] = slice(size[ax] - a, None)
            sub = origin[tuple(idx)]
            sub[sub == 0] = 3
    flipped = kernel[::-1, ::-1]
    out = np.zeros(n)
    touched = np.zeros(n, bool)
    op = tuple(ni - bi for ni, bi in zip(n, base))
    before = tuple(di * (ki - 1) - lo for di, ki, lo in zip(d, k, geom.pad_lo))
    after = tuple(si - f - u_ for si, f, u_ in zip(size, front, up))
    pick = (lambda v: v[1]) if one_d else (lambda v: v)  # noqa: E731
    zeros = pick(tuple(si - 1 for si in s))
    pad = (f"pad d(k-1) - lo = {pick(before)} before and d(k-1) - hi + output_padding = {pick(after)} after"
           + (f" (output_padding {pick(op)} of it)" if any(op) else "") + ("; negative: that many cropped"
                                                                            if min(before + after) < 0 else ""))
    frames = [Frame("intro", f"the same result as a convolution: insert {zeros} zero(s) between inputs, {pad}, "
                    "and slide the flipped kernel", out.copy(), touched.copy())]
    total = out.size
    for step, (p, q) in enumerate(np.ndindex(*n), start=1):
        rows = p + d[0] * np.arange(k[0])
        cols = q + d[1] * np.arange(k[1])
        window = grid[np.ix_(rows, cols)]
        val = float(np.sum(window * flipped))
        out[p, q] = val
        touched[p, q] = True
        where = f"output[{q}]" if one_d else f"output[{p},{q}]"
        frames.append(Frame("step", f"step {step}/{total}: {where} = {_terms(window, flipped)} = {_fmt(val)}",
                            out.copy(), touched.copy(), (p, q),
                            tuple((int(r), int(c)) for r in rows for c in cols), value=val))
    output = conv_transpose(x[None, None], w, stride=stride, padding=padding,
                            output_padding=output_padding, dilation=dilation)[0, 0]
    frames.append(Frame("outro", "result: the output of conv_transpose, each cell the sum of one window of the "
                        "zero-inserted, padded input times the flipped kernel (the scatter view adds up the same "
                        "products)", out.copy(), touched.copy()))
    return GatherModel(x, kernel, flipped, geom, grid, origin, output, frames, one_d,
                       _params(geom, output_padding, padding, one_d))


def _params(geom: ConvGeometry, output_padding, padding, one_d: bool) -> dict:
    """The parameters a picture states, per picture axis (the dummy row axis of 1-D pictures dropped)."""
    op = per_axis("output_padding", output_padding, geom.nd, 0)
    hi = tuple(h + a for h, a in zip(geom.pad_hi, op))  # pad_hi excludes output_padding
    axes = slice(1, None) if one_d else slice(None)
    return dict(stride=geom.stride[axes], dilation=geom.dilation[axes], output_padding=op[axes],
                pad_lo=geom.pad_lo[axes], pad_hi=hi[axes],
                padding_word=padding if isinstance(padding, str) else None,
                input=geom.y_shape[axes], kernel=geom.kernel[axes], output=geom.x_shape[axes])


def _one(v: tuple) -> str:
    return str(v[0]) if len(set(v)) == 1 else ",".join(map(str, v))


def padding_text(lo: tuple, hi: tuple) -> str:
    """Padding as the command line writes it: ``1``, ``1,2`` or ``0:1`` per axis.

    >>> padding_text((1, 1), (1, 1)), padding_text((0, 2), (0, 2)), padding_text((0,), (1,))
    ('1', '0,2', '0:1')
    """
    if lo == hi:
        return _one(lo)
    return ",".join(f"{a}:{b}" for a, b in zip(lo, hi))


def params_line(params: dict) -> str:
    """One line stating a picture's parameters.

    >>> params_line(scatter_model(np.ones(3), np.ones(3), stride=2, padding=1, output_padding=1).params)
    'input 3, kernel 3, stride 2, padding 1, dilation 1, output_padding 1 -> output 6'
    """
    size = lambda v: "x".join(map(str, v))  # noqa: E731
    pad = padding_text(params["pad_lo"], params["pad_hi"])
    if params.get("padding_word"):
        pad = f"'{params['padding_word']}' (= {pad})"
    return (f"input {size(params['input'])}, kernel {size(params['kernel'])}, stride {_one(params['stride'])}, "
            f"padding {pad}, dilation {_one(params['dilation'])}, output_padding {_one(params['output_padding'])} "
            f"-> output {size(params['output'])}")


def overlap_map(input_shape, kernel_size, stride=1, padding=0, output_padding=0, dilation=1) -> np.ndarray:
    """How many kernel taps land on each output cell: ``conv_transpose`` of ones with ones.

    >>> overlap_map((4,), 3, stride=2).astype(int).tolist()
    [1, 1, 2, 1, 2, 1, 2, 1, 1]
    """
    shape = tuple(input_shape) if not isinstance(input_shape, (int, np.integer)) else (input_shape,)
    k = tuple(kernel_size) if not isinstance(kernel_size, (int, np.integer)) else (kernel_size,) * len(shape)
    ones = np.ones((1, 1, *shape))
    return conv_transpose(ones, np.ones((1, 1, *k)), stride=stride, padding=padding,
                          output_padding=output_padding, dilation=dilation)[0, 0]


def describe_overlap(kernel_size, stride, dilation=1, nd: int | None = None, input_shape=None) -> list[str]:
    """Per axis, in words: the interior overlap pattern and whether it is even.

    With ``input_shape`` (the transposed convolution's input) the words follow the actual counts:
    an input too short to reach the steady interior says so instead of naming a pattern it never shows.

    >>> describe_overlap(3, 2)
    ['kernel 3 with stride 2: overlap alternates 1, 2: uneven (checkerboard artifacts)']
    >>> describe_overlap(4, 2)
    ['kernel 4 with stride 2: overlap is 2 everywhere in the interior: even']
    >>> describe_overlap(3, 1, input_shape=2)
    ['kernel 3 with stride 1: input 2 is too short for an interior (counts rise 1, 2 and fall again; 3 needs an input of 3 or more)']
    """
    if nd is None:
        nd = next((len(v) for v in (kernel_size, stride, dilation, input_shape) if isinstance(v, (tuple, list))), 1)
    ks, ss, ds = (per_axis(name, v, nd, 1) for name, v in
                  (("kernel_size", kernel_size), ("stride", stride), ("dilation", dilation)))
    ins = per_axis("input_shape", input_shape, nd, 1) if input_shape is not None else (None,) * nd
    lines = []
    for k, s, d, n in zip(ks, ss, ds, ins):
        counts = [sum(1 for t in range(k) if (t * d) % s == r) for r in range(s)]
        kd = f"kernel {k}" + (f" (dilation {d})" if d > 1 else "")
        if n is not None:
            # the uncropped counts along this axis; the interior is where every tap can land
            line = overlap_map((n,), (k,), stride=s, dilation=d).astype(int)
            interior = line[d * (k - 1): (n - 1) * s + 1]
            if interior.size < s:  # not one full period of the pattern
                need = -(-(d * (k - 1) + s - 1) // s) + 1
                seen = ", ".join(map(str, sorted(set(line.tolist()))))
                lines.append(f"{kd} with stride {s}: input {n} is too short for an interior (counts rise "
                             f"{seen} and fall again; {max(counts)} needs an input of {need} or more)")
                continue
        if len(set(counts)) == 1:
            lines.append(f"{kd} with stride {s}: overlap is {counts[0]} everywhere in the interior: even")
        else:
            pattern = ", ".join(map(str, sorted(counts)))
            lines.append(f"{kd} with stride {s}: overlap alternates {pattern}: uneven (checkerboard artifacts)")
    return lines


#: kernels with at most this many taps have the terms of each gather sum written out
MAX_TERMS = 9


def _terms(window: np.ndarray, flipped: np.ndarray) -> str:
    """The gather sum as its terms (cell value * kernel weight, zero cells left out) for small kernels.

    >>> _terms(np.array([[0.0, 2.0], [3.0, 0.0]]), np.array([[4.0, 3.0], [2.0, 1.0]]))
    '2*3 + 3*2 (zero cells left out)'
    >>> _terms(np.zeros((1, 2)), np.ones((1, 2)))
    '0 (only zeros under the kernel)'
    """
    if flipped.size > MAX_TERMS:
        return "sum(window * flipped kernel)"
    terms = [f"{_fmt(a)}*{_fmt(b)}" for a, b in zip(window.ravel(), flipped.ravel()) if a != 0]
    if not terms:
        return "0 (only zeros under the kernel)"
    return " + ".join(terms) + (" (zero cells left out)" if len(terms) < window.size else "")


def _fmt(v: float) -> str:
    return str(int(v)) if float(v).is_integer() and abs(v) < 1e6 else f"{v:.2f}"
