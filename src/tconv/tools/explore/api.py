"""The explorer's answers: query parameters in, JSON-ready dicts out (every number from the library).

Errors are answers too: ``{"error": message, "param": name}`` names the control that caused them,
whether the message is ours (a cap, a value that does not parse) or the library's own.

>>> import tconv
>>> r = model_json({"input": "2,2", "kernel": "3"})
>>> want = tconv.conv_transpose(np.array(r["x"])[None, None], np.array(r["kernel"])[None, None])[0, 0]
>>> bool(np.array_equal(r["output"], want)), len(r["scatter"]["steps"])
(True, 4)
>>> model_json({"input": "2,2", "stride": "0"})["param"]
'stride'
"""

from __future__ import annotations

import math
import re
import shlex

import numpy as np

from ...core.geometry import conv_transpose_geometry
from ...errors import TconvError
from ..viz.commands import VALUE_KINDS, make_values
from ..viz.model import describe_overlap, gather_model, overlap_map, params_line, scatter_model
from ..viz.pictures import DEFAULT_MAX_FRAMES, animate

__all__ = ["MAX_INPUT", "MAX_KERNEL", "MAX_STRIDE", "MAX_DILATION", "ParamError", "parse", "model_json",
           "gif_bytes", "error_json"]

MAX_INPUT, MAX_KERNEL, MAX_STRIDE, MAX_DILATION = 16, 7, 8, 8
MAX_MATRIX = 20_000  # entries of C_K the page shows
PARAMS = ("input", "kernel", "values", "kernel_values", "stride", "padding", "dilation", "output_padding", "view")
DEFAULTS = dict(input="2,2", kernel="3", values="seed", kernel_values="seed", stride="1", padding="0",
                dilation="1", output_padding="0", view="scatter")


class ParamError(TconvError):
    """A query parameter the explorer cannot use; ``param`` names it."""

    def __init__(self, param: str, message: str):
        super().__init__(message)
        self.param = param


def _ints(param: str, text: str, nd: int | None, lo: int, hi: int | None, what: str) -> tuple[int, ...]:
    parts = [p for p in re.split(r"[,x\s]+", text.strip()) if p]
    try:
        vals = tuple(int(p) for p in parts)
    except ValueError:
        raise ParamError(param, f"{what} {text!r} is not a list of integers like 2 or 2,3") from None
    if not vals:
        raise ParamError(param, f"{what} is empty: give an integer like 2 or one per axis like 2,3")
    if nd is not None:
        if len(vals) == 1:
            vals = vals * nd
        if len(vals) != nd:
            raise ParamError(param, f"{what} {text!r} has {len(vals)} values but the input has {nd} axis(es)")
    for v in vals:
        if v < lo or (hi is not None and v > hi):
            rule = f"between {lo} and {hi}" if hi is not None else f">= {lo}"
            raise ParamError(param, f"{what} {text!r}: every value must be {rule}"
                             + (" (the explorer's cap)" if hi is not None else ""))
    return vals


def _padding(text: str, nd: int):
    t = text.strip().lower()
    if t in ("same", "valid"):
        return t
    pairs = []
    for part in [p for p in t.split(",") if p.strip()] or ["?"]:
        try:
            vals = [int(b) for b in part.split(":")]
        except ValueError:
            vals = []
        if len(vals) not in (1, 2) or any(v < 0 or v > 64 for v in vals):
            raise ParamError("padding", f"padding {text!r} is not a padding: write p, p,q (per axis), lo:hi "
                             "(e.g. 0:1), lo:hi,lo:hi, same or valid (values 0..64)")
        pairs.append((vals[0], vals[-1]))
    if len(pairs) == 1:
        pairs *= nd
    if len(pairs) != nd:
        raise ParamError("padding", f"padding {text!r} has {len(pairs)} entries but the input has {nd} axis(es)")
    if all(lo == hi for lo, hi in pairs):
        return pairs[0][0] if len(set(pairs)) == 1 else tuple(lo for lo, _ in pairs)
    return tuple(pairs)


def _values(param: str, text: str, shape: tuple[int, ...], for_kernel: bool) -> tuple[np.ndarray, str]:
    """A value kind (seed, ones, arange, random) or typed numbers: rows separated by ';'."""
    t = text.strip()
    if t in VALUE_KINDS:
        return make_values(t, shape, for_kernel=for_kernel), t
    try:
        rows = [[float(v) for v in re.split(r"[,\s]+", r.strip()) if v] for r in t.split(";") if r.strip()]
    except ValueError:
        rows = []
    what = "kernel values" if for_kernel else "input values"
    if not rows:
        raise ParamError(param, f"{what} {text!r} must be one of {', '.join(VALUE_KINDS)} or numbers "
                         "(rows separated by ';')")
    arr = np.array([v for r in rows for v in r])
    if arr.size != math.prod(shape):
        raise ParamError(param, f"{what}: {arr.size} numbers typed, but the {'kernel' if for_kernel else 'input'} "
                         f"is {'x'.join(map(str, shape))} = {math.prod(shape)} cells")
    if not np.all(np.isfinite(arr)) or np.any(np.abs(arr) > 1e6):
        raise ParamError(param, f"{what}: every number must be finite and at most 1e6 in size")
    return arr.reshape(shape), "typed"


def parse(query: dict) -> dict:
    """Query parameters (strings; missing ones take the defaults) to the arrays and geometry keywords."""
    q = {k: str(v) for k, v in DEFAULTS.items()}
    for k, v in query.items():
        if k in PARAMS:
            q[k] = str(v[0] if isinstance(v, list) else v)
    x_shape = _ints("input", q["input"], None, 1, MAX_INPUT, "input size")
    if len(x_shape) > 2:
        raise ParamError("input", f"input size {q['input']!r}: the explorer draws 1-D and 2-D inputs")
    nd = len(x_shape)
    k_shape = _ints("kernel", q["kernel"], nd, 1, MAX_KERNEL, "kernel size")
    geom = dict(stride=_ints("stride", q["stride"], nd, 1, MAX_STRIDE, "stride"),
                padding=_padding(q["padding"], nd),
                output_padding=_ints("output_padding", q["output_padding"], nd, 0, None, "output_padding"),
                dilation=_ints("dilation", q["dilation"], nd, 1, MAX_DILATION, "dilation"))
    x, x_kind = _values("values", q["values"], x_shape, False)
    k, k_kind = _values("kernel_values", q["kernel_values"], k_shape, True)
    if q["view"] not in ("scatter", "gather", "both"):
        raise ParamError("view", f"view {q['view']!r} must be scatter, gather or both")
    try:
        g = conv_transpose_geometry((1, 1, *k_shape), x_shape, **geom)
    except TconvError as exc:
        raise ParamError(_param_of(str(exc)), str(exc)) from None
    out_cells = max(f + lo for f, lo in zip(g.full_shape, g.pad_lo))
    if max(g.x_shape) > 64 or out_cells > 96:
        raise ParamError("stride", f"the output would be {'x'.join(map(str, g.x_shape))} (uncropped "
                         f"{'x'.join(map(str, g.full_shape))}); the explorer draws up to 64 cells per axis: "
                         "use a smaller stride, dilation or input")
    return dict(x=x, kernel=k, geom=geom, geometry=g, query=q, kinds=(x_kind, k_kind))


def _param_of(message: str) -> str:
    """The control a library message is about (messages name their parameter)."""
    hits = [(message.find(name), name) for name in ("output_padding", "padding", "stride", "dilation",
                                                      "kernel", "input") if name in message]
    return min(hits)[1] if hits else "input"


def error_json(exc: Exception) -> dict:
    if isinstance(exc, ParamError):
        return {"error": str(exc), "param": exc.param}
    if isinstance(exc, (TconvError, ValueError, TypeError)):
        return {"error": str(exc), "param": _param_of(str(exc))}
    return {"error": f"{type(exc).__name__}: {exc}", "param": "input"}


def _lists(a: np.ndarray) -> list:
    return np.atleast_2d(a).tolist()


def _show(v: tuple):
    return v[0] if len(set(v)) == 1 else tuple(v)


def _calls(p: dict, nd: int, pairs, q: dict, kinds) -> dict:
    """The same call in other frameworks: :func:`tconv.tools.translate.translate_call`'s snippets (checked
    numerically there; executed verbatim in the frameworks by tconv's tests), and the command line."""
    from ..translate import translate_call

    k, s, d, op = p["kernel"], p["stride"], p["dilation"], p["output_padding"]
    tr = translate_call((1, 1, *k), p["input"], s, tuple(pairs), op, 1, d)
    calls = {name: ("" if t.exact else f"# cannot be one call: {t.note}; the closest exact alternative:\n") + t.code
             for name, t in tr.targets.items()}
    calls["pytorch"] = calls.pop("torch")
    one = lambda v: ",".join(map(str, v)) if len(set(v)) > 1 else str(v[0])  # noqa: E731
    cli = ["tconv", "animate", "--input", ",".join(map(str, p["input"])), "--kernel", one(k), "--stride", one(s),
           "--padding", q["padding"].strip().lower() or "0", "--output-padding", one(op), "--dilation", one(d)]
    for flag, kind in zip(("--values", "--kernel-values"), kinds):
        cli += [flag, kind if kind != "typed" else "FILE.npy"]
    calls["cli"] = " ".join(shlex.quote(c) for c in cli)
    calls["given"] = (f"each snippet runs as printed given NumPy arrays x = input[None, None] (1, 1, "
                      f"{', '.join(map(str, p['input']))}) and w = kernel[None, None] (1, 1, {', '.join(map(str, k))}); "
                      f"checked: tconv's emulation of each framework agrees to {tr.max_error:.1g} here, and tconv's "
                      "tests run such snippets in PyTorch, ONNX Runtime, Keras 3 and JAX (`tconv translate --run` "
                      "does it on your machine)")
    return calls


def model_json(query: dict) -> dict:
    """Everything the page draws, for one set of query parameters (or ``{"error", "param"}``)."""
    try:
        return _model_json(parse(query))
    except Exception as exc:  # an answer, never a crash: the page shows it next to its control
        return error_json(exc)


def _model_json(parsed: dict) -> dict:
    x, k, geom, g, q = parsed["x"], parsed["kernel"], parsed["geom"], parsed["geometry"], parsed["query"]
    nd = x.ndim
    sm = scatter_model(x, k, **geom)
    gm = gather_model(x, k, **geom)
    p = dict(sm.params)
    p["padding"] = geom["padding"]
    pairs = list(zip(p["pad_lo"], p["pad_hi"]))
    steps = []
    for fr in sm.frames[1:-1]:
        steps.append(dict(title=fr.title, source=list(fr.source), scale=fr.scale,
                          products=(k * fr.scale).ravel().tolist(),
                          window=[list(w) for w in fr.window],
                          values=[float(fr.canvas[w]) for w in fr.window]))
    r, c = sm.keep
    scatter = dict(canvas_shape=list(sm.canvas_shape), keep=[r.start, r.stop, c.start, c.stop],
                   cropped=_lists(sm.cropped), outpad=_lists(sm.output_padding),
                   outpad_zeros=_lists(sm.outpad_zeros), steps=steps,
                   intro=sm.frames[0].title, outro=sm.frames[-1].title)
    kf = gm.flipped
    gsteps = []
    for fr in gm.frames[1:-1]:
        gsteps.append(dict(title=fr.title, source=list(fr.source), value=fr.value,
                           window=[list(w) for w in fr.window],
                           weights=[float(kf[n // kf.shape[1], n % kf.shape[1]]) for n in range(len(fr.window))]))
    gather = dict(grid=_lists(gm.grid), origin=_lists(gm.origin), flipped=_lists(kf),
                  dilation=list(gm.geometry.dilation), steps=gsteps, intro=gm.frames[0].title,
                  outro=gm.frames[-1].title)
    rows, cols = x.size, sm.output.size
    if rows * cols <= MAX_MATRIX:
        from ..viz.pictures import matrix  # the same C_K the matrix picture draws

        m = matrix(x.shape, k, **geom)
        CT = m.CT
        matrix_json = dict(CT=CT.tolist(), tap=m.tap.T.tolist(), x=x.ravel().tolist(),
                           y=(CT @ x.ravel()).tolist(), shape=[cols, rows])
    else:
        matrix_json = dict(too_big=f"C_K^T would be {cols}x{rows} = {rows * cols} entries; the explorer shows "
                           f"matrices up to {MAX_MATRIX} entries (make the input or output smaller)")
    counts = overlap_map(x.shape, k.shape, **geom)
    words = describe_overlap(k.shape, g.stride, g.dilation, nd=nd, input_shape=x.shape)
    if nd > 1:
        words = [f"axis {a}: {w}" for a, w in enumerate(words)]
    formula = []
    for i, kk, s, d, (lo, hi), a, o in zip(p["input"], p["kernel"], p["stride"], p["dilation"], pairs,
                                           p["output_padding"], p["output"]):
        formula.append(f"({i} - 1)*{s} - ({lo} + {hi}) + {d}*({kk} - 1) + {a} + 1 = {o}")
    try:
        frames = {"scatter": len(sm.frames), "gather": len(gm.frames)}
    except TconvError:  # pragma: no cover - sizes were checked in parse
        frames = {}
    return dict(
        nd=nd, params=dict(input=list(p["input"]), kernel=list(p["kernel"]), stride=list(p["stride"]),
                           dilation=list(p["dilation"]), output_padding=list(p["output_padding"]),
                           pad_lo=list(p["pad_lo"]), pad_hi=list(p["pad_hi"]), output=list(p["output"]),
                           line=params_line(sm.params)),
        query=q, x=_lists(x), kernel=_lists(k), output=_lists(sm.output), scatter=scatter, gather=gather,
        matrix=matrix_json, overlap=dict(counts=_lists(counts), words=words),
        shape=dict(formula=formula, rule="output = (input - 1)*stride - (pad_lo + pad_hi) + dilation*(kernel - 1) "
                   "+ output_padding + 1"),
        calls=_calls(p, nd, pairs, q, parsed["kinds"]), frames=frames, max_frames=DEFAULT_MAX_FRAMES,
    )


def gif_bytes(query: dict) -> bytes:
    """Exactly the bytes ``tconv animate`` writes for these parameters (the same function draws them)."""
    parsed = parse(query)
    try:
        a = animate(parsed["x"], parsed["kernel"], view=parsed["query"]["view"], **parsed["geom"])
    except TconvError as exc:
        raise ParamError("view", str(exc)) from None
    return a.gif_bytes()
