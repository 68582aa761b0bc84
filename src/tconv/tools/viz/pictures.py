"""Pictures as objects: they show inline in Jupyter and ``.save(path)`` to files.

``animate`` (scatter / gather GIF), ``matrix`` (``C_K`` and ``C_K^T``) and ``overlap`` (the
checkerboard map) take their arguments in one order: the transposed convolution's *input* first
(an array, or for ``matrix`` and ``overlap`` just its shape), then the *kernel* (an array, or for
``overlap`` just its size), then the geometry as keywords. They check the picture's size from the
geometry alone before drawing anything, and animations are drawn and written one frame at a time,
so memory does not grow with the frame count. The command line and the explorer's ``/gif`` call
these same functions. Every picture states its parameters and has a colour key; saved PNGs carry
both in their text chunks (``tconv:parameters``, ``tconv:legend``).

>>> a = animate(stride=2, padding=1, output_padding=1)
>>> a.n_frames, a.output.shape
(6, (4, 4))
>>> a
Animation(view='scatter', input 2x2, kernel 3x3, stride 2, padding 1, dilation 1, output_padding 1 -> output 4x4, 6 frames)
>>> m = matrix((2, 2), np.ones((3, 3)))
>>> m.C.shape, m.CT.shape
((4, 16), (16, 4))
>>> overlap((4,), 3, stride=2).counts.astype(int).tolist()
[1, 1, 2, 1, 2, 1, 2, 1, 1]
"""

from __future__ import annotations

import base64
import io
import math
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from ...api.functional import conv_transpose
from ...api.names import checked_names
from ...core.geometry import conv_transpose_geometry
from ...errors import TconvError
from ..seed import SEED_INPUT, SEED_KERNEL, format_matrix
from .gif import GifStream
from .model import describe_overlap, gather_model, overlap_map, params_line, scatter_model
from .render import (
    GatherPainter,
    ScatterPainter,
    fmt,
    render_matrix,
    render_overlap,
    side_by_side,
    with_header,
)

__all__ = ["Animation", "MatrixPicture", "OverlapPicture", "animate", "matrix", "overlap",
           "DEFAULT_MAX_FRAMES", "MAX_CELLS_PER_AXIS", "MAX_MATRIX_ENTRIES"]

DEFAULT_MAX_FRAMES = 400  # a few hundred: beyond that a GIF stops teaching and takes minutes to draw
MAX_CELLS_PER_AXIS = 100  # grid cells a picture draws along one axis
MAX_MATRIX_ENTRIES = 40_000  # entries of the dense C_K a matrix picture draws
MAX_MODEL_CELLS = 20_000_000  # numbers the drawing models keep (one canvas per frame): ~180 MB
VIEWS = ("scatter", "gather", "both")


def _geometry(x_shape, k_shape, stride, padding, output_padding, dilation):
    return conv_transpose_geometry((1, 1, *k_shape), x_shape, stride, padding, output_padding, dilation)


def _check_axes(what: str, shape, limit: int = MAX_CELLS_PER_AXIS) -> None:
    if any(n > limit for n in shape):
        raise TconvError(f"{what} would be {'x'.join(map(str, shape))} cells; pictures draw at most {limit} "
                         f"cells per axis (use a smaller --input, --kernel, --stride or --dilation)")


def frame_count(x_shape, k_shape, *, view: str = "scatter", stride=1, padding=0, output_padding=0,
                dilation=1) -> dict[str, int]:
    """Frames per view, from the geometry alone: scatter draws one per input cell, gather one per
    output cell, each plus an intro and an outro.

    >>> frame_count((16, 16), (3, 3), view="both")
    {'scatter': 258, 'gather': 326}
    """
    if view not in VIEWS:
        raise TconvError(f"view={view!r} must be 'scatter', 'gather' or 'both'")
    g = _geometry(tuple(x_shape), tuple(k_shape), stride, padding, output_padding, dilation)
    counts = {}
    if view in ("scatter", "both"):
        _check_axes("the scatter view's uncropped canvas", tuple(max(f, lo + n) for f, lo, n in
                                                                  zip(g.full_shape, g.pad_lo, g.x_shape)))
        counts["scatter"] = math.prod(x_shape) + 2
    if view in ("gather", "both"):
        _check_axes("the gather view's zero-inserted input",
                    tuple(n + d * (k - 1) for n, d, k in zip(g.x_shape, g.dilation, g.kernel)))
        counts["gather"] = math.prod(g.x_shape) + 2
    canvas = max(math.prod(tuple(max(f, lo + n) for f, lo, n in zip(g.full_shape, g.pad_lo, g.x_shape))),
                 math.prod(g.x_shape))
    cells = sum(counts.values()) * canvas
    if cells > MAX_MODEL_CELLS:
        raise TconvError(f"this animation would keep {cells} numbers ({sum(counts.values())} frames of up to "
                         f"{canvas} cells), more than {MAX_MODEL_CELLS}; use a smaller --input")
    return counts


class Animation:
    """A scatter and/or gather animation, drawn frame by frame when saved or shown."""

    def __init__(self, x, kernel, *, view="scatter", stride=1, padding=0, output_padding=0, dilation=1,
                 duration_ms: int = 900, scale: float = 1.0, max_frames: int = DEFAULT_MAX_FRAMES):
        x = np.asarray(x, dtype=np.float64)
        kernel = np.asarray(kernel, dtype=np.float64)
        if not 10 <= int(duration_ms) <= 60_000:
            raise TconvError(f"duration={duration_ms} ms must be between 10 and 60000 (one frame's time)")
        if not 0.25 <= float(scale) <= 8:
            raise TconvError(f"scale={scale} must be between 0.25 and 8")
        geom = dict(stride=stride, padding=padding, output_padding=output_padding, dilation=dilation)
        if x.ndim != kernel.ndim or x.ndim not in (1, 2):
            raise TconvError(f"pictures need a 1-D or 2-D input and a kernel of the same rank; got input "
                             f"{x.shape} and kernel {kernel.shape}")
        counts = frame_count(x.shape, kernel.shape, view=view, **geom)
        total = sum(counts.values())
        if total > max_frames:
            parts = " + ".join(f"{v} {k}" for k, v in counts.items())
            raise TconvError(f"this animation would have {total} frames ({parts}), more than max_frames="
                             f"{max_frames}; pass --max-frames {total} to draw it anyway, or use a smaller --input")
        self.view, self.duration_ms, self.scale = view, int(duration_ms), float(scale)
        self.models = []
        if view in ("scatter", "both"):
            self.models.append(scatter_model(x, kernel, **geom))
        if view in ("gather", "both"):
            self.models.append(gather_model(x, kernel, **geom))
        self.painters = [ScatterPainter(m, scale) if i == 0 and view != "gather" else GatherPainter(m, scale)
                         for i, m in enumerate(self.models)]
        self.size = (max(p.width for p in self.painters), max(p.height for p in self.painters))
        self.n_frames = sum(len(m.frames) for m in self.models)

    def __repr__(self) -> str:
        return f"Animation(view={self.view!r}, {params_line(self.model.params)}, {self.n_frames} frames)"

    @property
    def model(self):
        """The last view's drawing model (its ``output`` is ``conv_transpose``'s)."""
        return self.models[-1]

    @property
    def output(self) -> np.ndarray:
        return self.model.output

    def frames(self) -> Iterator[Image.Image]:
        """Every frame, drawn on demand at the animation's common size."""
        for model, painter in zip(self.models, self.painters):
            for fr in model.frames:
                img = painter.draw(fr)
                if img.size != self.size:
                    canvas = Image.new("RGB", self.size, (255, 255, 255))
                    canvas.paste(img, (0, 0))
                    img = canvas
                yield img

    def durations(self) -> list[int]:
        d = [self.duration_ms] * self.n_frames
        d[0], d[-1] = self.duration_ms * 2, self.duration_ms * 4
        return d

    def write(self, fp, frames_dir=None, progress: bool = False) -> None:
        """Write the GIF into the open binary file ``fp`` (optionally every frame as PNG too)."""
        if frames_dir is not None:
            Path(frames_dir).mkdir(parents=True, exist_ok=True)
        with GifStream(fp, self.size, self.durations()) as gif:
            for n, img in enumerate(self.frames()):
                gif.add(img)
                if frames_dir is not None:
                    img.save(Path(frames_dir) / f"frame_{n:03d}.png")
                if progress:
                    _progress(n + 1, self.n_frames)

    def save(self, path, frames_dir=None, progress: bool | None = None) -> Path:
        """Write the animation to ``path``: ``.gif`` a GIF, ``.png`` an animated PNG (every frame; viewers
        without APNG show the first); any other suffix is refused (:data:`ANIMATION_FORMATS`). ``frames_dir``:
        every frame as its own PNG too. A progress bar on stderr for long ones; returns the path."""
        path = Path(path)
        fmt = animation_format(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        show = self.n_frames > 40 if progress is None else progress
        if fmt == "gif":
            with open(path, "wb") as fp:
                self.write(fp, frames_dir, show)
            return path
        frames = []
        if frames_dir is not None:
            Path(frames_dir).mkdir(parents=True, exist_ok=True)
        for n, img in enumerate(self.frames()):
            frames.append(img)
            if frames_dir is not None:
                img.save(Path(frames_dir) / f"frame_{n:03d}.png")
            if show:
                _progress(n + 1, self.n_frames)
        frames[0].save(path, format="PNG", save_all=True, append_images=frames[1:], duration=self.durations(),
                       loop=0, pnginfo=_pnginfo(params_line(self.model.params), self.legend()))
        return path

    def legend(self) -> list[str]:
        """The colour key of every view, as words."""
        return [text for p in self.painters for _, text in p.legend_items]

    def gif_bytes(self) -> bytes:
        buf = io.BytesIO()
        self.write(buf)
        return buf.getvalue()

    def _repr_html_(self) -> str:
        data = base64.b64encode(self.gif_bytes()).decode("ascii")
        return f'<img src="data:image/gif;base64,{data}" alt="tconv {self.view} animation"/>'

    def _repr_png_(self) -> bytes:  # the last frame: the result
        *_, last = self.frames()
        return _png(last)


#: what :meth:`Animation.save` and ``tconv animate -o`` write, by file suffix
ANIMATION_FORMATS = {".gif": "gif", ".png": "png"}


def animation_format(path) -> str:
    """``"gif"`` or ``"png"`` from ``path``'s suffix; any other suffix is refused, naming the formats.

    >>> animation_format("out.GIF"), animation_format("frames.png")
    ('gif', 'png')
    """
    suffix = Path(path).suffix.lower()
    if suffix not in ANIMATION_FORMATS:
        raise TconvError(f"output={str(path)!r}: an animation is written as .gif (a GIF) or .png (an animated PNG, "
                         f"every frame); {suffix or 'no suffix'!r} is neither (frames_dir / --frames DIR writes one PNG "
                         "per frame)")
    return ANIMATION_FORMATS[suffix]


def _pnginfo(params: str, legend) -> PngInfo:
    """The PNG text chunks every saved picture carries: its parameters and its colour key."""
    info = PngInfo()
    info.add_text("tconv:parameters", params)
    info.add_text("tconv:legend", "; ".join(legend))
    return info


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


class _Still:
    image: Image.Image
    text: str
    params: str
    legend: list[str]

    def save(self, path) -> Path:
        """Write the picture (PNG for ``.png``, with its parameters and colour key in text chunks)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix.lower() == ".png":
            self.image.save(path, pnginfo=_pnginfo(self.params, self.legend))
        else:
            self.image.save(path)
        return path

    def _repr_png_(self) -> bytes:
        return _png(self.image)

    def _repr_html_(self) -> str:
        return f'<img src="data:image/png;base64,{base64.b64encode(self._repr_png_()).decode("ascii")}"/>'


class MatrixPicture(_Still):
    """``C_K`` and ``C_K^T`` side by side, every non-zero coloured by its kernel tap, under the parameter
    line; the key (the kernel drawn in its taps' colours) beside them."""

    def __init__(self, C: np.ndarray, tap: np.ndarray, params: str, scale: float = 1.0, kernel=None):
        self.C, self.CT, self.tap, self.params = C, C.T, tap, params
        self.kernel = None if kernel is None else np.asarray(kernel)
        a = render_matrix(C, tap, f"({C.shape[0]}x{C.shape[1]}): the convolution as a matrix", scale=scale,
                          row_label="the input cells of the transposed convolution (row-major index)",
                          col_label="its output cells (row-major index)")
        b = render_matrix(self.CT, tap.T, f"({C.shape[1]}x{C.shape[0]}): the transposed convolution",
                          transposed=True, scale=scale, row_label="the output cells (row-major index)",
                          col_label="the input cells x of the transposed convolution")
        k = self.kernel if self.kernel is not None else np.arange(1.0, tap.max() + 2)
        self.legend = [f"tap {i} (kernel[{','.join(map(str, idx))}] = {fmt(v)})"
                       for i, (idx, v) in enumerate(np.ndenumerate(k))] + ["white: zero (no tap)"]
        self.image = with_header(side_by_side(a, b), params, k, scale)
        self.text = (params + "\n\n" + format_matrix(C, "C_K") + "\n\n" + format_matrix(self.CT, "C_K^T")
                     + "\n\n(colours in the picture: each non-zero is the kernel tap it comes from: "
                     + "; ".join(self.legend) + ")")


class OverlapPicture(_Still):
    """How many kernel taps land on each output cell, with the words for its pattern. The counts and
    words exist for any size; only the picture is capped (:data:`MAX_CELLS_PER_AXIS` cells per axis),
    drawn when first asked for."""

    def __init__(self, counts: np.ndarray, words: list[str], params: str, scale: float = 1.0):
        self.counts, self.words, self.params, self.scale = counts, words, params, scale
        self.legend = ["darker blue: more kernel taps land on the cell"]
        self._image = None
        self.text = (self.summary() + "\n" + "\n".join(words))

    def summary(self) -> str:
        """The counts: the whole grid when small, else how many cells get each count."""
        c = np.atleast_2d(self.counts).astype(int)
        if c.size <= 400:
            return format_matrix(c, "taps landing on each output cell")
        values, n = np.unique(c, return_counts=True)
        parts = ", ".join(f"{v} taps: {k} cells" for v, k in zip(values.tolist(), n.tolist()))
        return (f"taps landing on each output cell ({'x'.join(map(str, self.counts.shape))} cells, too many to "
                f"list): {parts}")

    @property
    def image(self) -> Image.Image:
        if self._image is None:
            _check_axes("the overlap map", self.counts.shape)
            self._image = render_overlap(self.counts, self.words, self.params, self.scale)
        return self._image


def _params_text(x_shape, k_shape, **geom) -> str:
    g = _geometry(x_shape, k_shape, **geom)
    op = geom.get("output_padding", 0)
    op = (op,) * g.nd if isinstance(op, (int, np.integer)) else tuple(op)
    pad = geom.get("padding", 0)
    return params_line(dict(stride=g.stride, dilation=g.dilation, output_padding=op, pad_lo=g.pad_lo,
                            pad_hi=tuple(h + a for h, a in zip(g.pad_hi, op)),
                            padding_word=pad if isinstance(pad, str) else None,
                            input=g.y_shape, kernel=g.kernel, output=g.x_shape))


@checked_names
def animate(x=None, kernel=None, *, view: str = "scatter", stride=1, padding=0, output_padding=0, dilation=1,
            duration_ms: int = 900, scale: float = 1.0, max_frames: int = DEFAULT_MAX_FRAMES) -> Animation:
    """The transposed convolution of ``x`` (the seed's 2x2 input by default) with ``kernel`` (the seed's
    3x3), animated: ``view="scatter"`` (the definition), ``"gather"`` (zero insertion + flipped kernel)
    or ``"both"``. Shows inline in Jupyter; ``.save("out.gif")``."""
    x = SEED_INPUT if x is None else x
    kernel = SEED_KERNEL if kernel is None else kernel
    return Animation(x, kernel, view=view, stride=stride, padding=padding, output_padding=output_padding,
                     dilation=dilation, duration_ms=duration_ms, scale=scale, max_frames=max_frames)


def _input_shape(fn: str, value) -> tuple[int, ...]:
    """The transposed convolution's input, given as its shape (an int or ints) or as an array (its shape)."""
    if isinstance(value, (int, np.integer)):
        return (int(value),)
    arr = np.asarray(value)
    if isinstance(value, np.ndarray) or arr.dtype.kind not in "iu" or arr.ndim != 1:
        if arr.ndim not in (1, 2):
            raise TconvError(f"{fn}(input, kernel): input must be the transposed convolution's input (a 1-D or 2-D "
                             f"array) or its shape; got an array of shape {arr.shape}")
        return tuple(arr.shape)
    return tuple(int(v) for v in arr)


@checked_names
def matrix(input=(2, 2), kernel=None, *, stride=1, padding=0, output_padding=0, dilation=1,
           scale: float = 1.0) -> MatrixPicture:
    """``C_K`` and ``C_K^T`` for the transposed convolution of ``input`` (the transposed convolution's
    input: its shape, or an array whose shape is used) with ``kernel`` (the seed's by default); the
    arguments in the order of :func:`animate` and :func:`overlap`.

    >>> matrix((4,), np.ones(3), stride=2).C.shape
    (4, 9)
    """
    k = np.asarray(SEED_KERNEL if kernel is None else kernel, dtype=np.float64)
    x_shape = _input_shape("matrix", input)
    if len(x_shape) != k.ndim:
        old = " (matrix takes the input first, then the kernel, as animate and overlap do)" if (
            np.ndim(input) > 1 or (kernel is not None and np.ndim(kernel) == 1 and np.asarray(kernel).dtype.kind in "iu")
        ) else ""
        raise TconvError(f"matrix(input, kernel): the input has {len(x_shape)} axes ({x_shape}) but the kernel "
                         f"{k.shape} has {k.ndim}{old}")
    g = _geometry(x_shape, k.shape, stride, padding, output_padding, dilation)
    rows, cols = math.prod(g.y_shape), math.prod(g.x_shape)
    if rows * cols > MAX_MATRIX_ENTRIES:
        raise TconvError(f"C_K would be {rows}x{cols} = {rows * cols} entries ({rows * cols * 8 / 2**20:.1f} MiB "
                         f"dense); matrix pictures draw at most {MAX_MATRIX_ENTRIES} entries (use a smaller --input)")
    # column c of C_K^T is the transposed convolution of the one-hot input c: all of them in one batch
    eye = np.eye(rows).reshape(rows, 1, *x_shape)
    geom = dict(stride=stride, padding=padding, output_padding=output_padding, dilation=dilation)
    C = conv_transpose(eye, k[None, None], **geom).reshape(rows, cols)
    taps = np.arange(1.0, k.size + 1).reshape(k.shape)[None, None]
    tap = np.rint(conv_transpose(eye, taps, **geom).reshape(rows, cols)).astype(int) - 1
    return MatrixPicture(C, tap, _params_text(x_shape, k.shape, stride=stride, padding=padding,
                                              output_padding=output_padding, dilation=dilation), scale, kernel=k)


@checked_names
def overlap(input=(2, 2), kernel=3, *, stride=1, padding=0, output_padding=0, dilation=1,
            scale: float = 1.0) -> OverlapPicture:
    """How many kernel taps land on each output cell of the transposed convolution of ``input`` (its
    shape, or an array) with ``kernel`` (its size: one int or one per axis, or an array)."""
    x_shape = _input_shape("overlap", input)
    if isinstance(kernel, np.ndarray) and kernel.dtype.kind not in "iu" or np.ndim(kernel) > 1:
        k_shape = tuple(np.shape(kernel))
    elif isinstance(kernel, (tuple, list, np.ndarray)):
        k_shape = tuple(int(v) for v in kernel)
    else:
        k_shape = (int(kernel),) * len(x_shape)
    geom = dict(stride=stride, padding=padding, output_padding=output_padding, dilation=dilation)
    g = _geometry(x_shape, k_shape, **geom)
    if math.prod(g.x_shape) > MAX_MODEL_CELLS:
        raise TconvError(f"the overlap map would have {math.prod(g.x_shape)} cells, more than {MAX_MODEL_CELLS}")
    counts = overlap_map(x_shape, k_shape, **geom)
    words = describe_overlap(k_shape, g.stride, g.dilation, nd=g.nd, input_shape=x_shape)
    if counts.ndim > 1:
        words = [f"axis {a}: {w}" for a, w in enumerate(words)]
    return OverlapPicture(counts, words, _params_text(x_shape, k_shape, **geom), scale)


def _progress(done: int, total: int) -> None:
    if os.environ.get("TCONV_NO_PROGRESS"):
        return
    bar = "#" * int(30 * done / total)
    sys.stderr.write(f"\rrendering [{bar:<30}] {done}/{total} frames")
    if done == total:
        sys.stderr.write("\n")
    sys.stderr.flush()
