"""Pillow renderers for the drawing models: frames, matrix and overlap pictures.

A painter fixes a picture's layout once from the whole model (cell size from every value any
frame shows, a title block tall enough for the longest title), so every frame has the same size
and the diagram never moves while a GIF plays. ``scale`` enlarges everything (for slides).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .model import Frame, GatherModel, ScatterModel, params_line

WHITE, BLACK, GREY_TEXT = (255, 255, 255), (30, 30, 30), (150, 150, 150)
PARAMS_TEXT = (40, 70, 140)
INPUT, INPUT_HI = (198, 219, 239), (253, 174, 97)
KERNEL = (199, 233, 192)
WINDOW = (253, 208, 162)
TOUCHED = (255, 247, 188)
CROPPED = (217, 217, 217)
OUTPAD = (196, 170, 228)  # zeros appended (added) by output_padding
OUTPAD_KEPT = (226, 214, 240)  # sums kept by output_padding from the crop
PAD_ZERO, INSERTED_ZERO = (246, 246, 246), (250, 218, 221)
GAP = (255, 255, 254)  # drawn hatched
RED, BLUE = (200, 60, 0), (0, 90, 200)
TAP_COLOURS = [
    (141, 211, 199), (255, 255, 179), (190, 186, 218), (251, 128, 114), (128, 177, 211),
    (253, 180, 98), (179, 222, 105), (252, 205, 229), (204, 235, 197), (255, 237, 111),
    (188, 128, 189), (217, 217, 217),
]


def font(size: float) -> ImageFont.ImageFont:
    return ImageFont.load_default(size=max(6, round(size)))


def fmt(v: float) -> str:
    if np.isfinite(v) and float(v).is_integer() and abs(v) < 1e5:
        return str(int(v))
    return f"{v:.2f}" if abs(v) < 100 else f"{v:.3g}"


def _widest(values: Sequence[np.ndarray], f) -> int:
    texts = {fmt(v) for a in values for v in np.ravel(a)}
    return max((f.getbbox(t)[2] for t in texts), default=10)


def _line_h(f) -> int:
    return f.getbbox("Ag")[3] + 6


class _Style:
    """Fonts and lengths of one picture, all multiplied by ``scale``."""

    def __init__(self, scale: float = 1.0):
        self.scale = float(scale)
        self.f, self.fb, self.fs, self.ft = font(15 * scale), font(17 * scale), font(13 * scale), font(10 * scale)

    def px(self, n: float) -> int:
        return round(n * self.scale)


def draw_grid(draw: ImageDraw.ImageDraw, x0: int, y0: int, shape, cell: int, text, fill, f,
              label: str = "", label_font=None, text_fill=None, thick: set | None = None,
              corner=None, corner_font=None, thick_colour=RED, line: int = 1) -> tuple[int, int]:
    """A grid of ``shape`` cells; ``text(i, j)`` and ``fill(i, j)`` give each cell's contents,
    ``corner(i, j)`` an optional small note in the cell's top-left corner. Returns the (width, height)
    used, label included."""
    lf = label_font or f
    top = y0
    if label:
        draw.text((x0, y0), label, fill=BLACK, font=lf)
        top += _line_h(lf)
    rows, cols = shape
    h = f.getbbox("0")[3]
    for i in range(rows):
        for j in range(cols):
            box = (x0 + j * cell, top + i * cell, x0 + (j + 1) * cell, top + (i + 1) * cell)
            draw.rectangle(box, fill=fill(i, j), outline=(120, 120, 120), width=line)
            t = text(i, j)
            note = corner(i, j) if corner else ""
            dy = cell * 0.12 if note else 0
            if t:
                w = f.getbbox(t)[2]
                colour = text_fill(i, j) if text_fill else BLACK
                draw.text((box[0] + (cell - w) / 2, box[1] + (cell - h) / 2 - 1 + dy), t, fill=colour, font=f)
            if note:
                draw.text((box[0] + 3 * line, box[1] + 2 * line), note, fill=(20, 110, 40), font=corner_font or f)
    for i, j in thick or ():
        box = (x0 + j * cell, top + i * cell, x0 + (j + 1) * cell, top + (i + 1) * cell)
        draw.rectangle(box, outline=thick_colour, width=3 * line)
    return cols * cell, top - y0 + rows * cell


def hatch(draw: ImageDraw.ImageDraw, box, step: int) -> None:
    """Diagonal lines across ``box``: a gap between dilated kernel taps."""
    x0, y0, x1, y1 = box
    for t in range(-(y1 - y0), x1 - x0, step):
        a = (x0 + max(t, 0), y1 - max(-t, 0))
        b = (x0 + min(t + (y1 - y0), x1 - x0), y0 + max(0, t + (y1 - y0) - (x1 - x0)))
        draw.line((a, b), fill=(190, 190, 190), width=1)


def _legend(draw, x0, y0, items, st: _Style) -> int:
    x = x0
    b = st.px(14)
    for colour, text in items:
        draw.rectangle((x, y0, x + b, y0 + b), fill=colour, outline=(120, 120, 120))
        if colour == GAP:
            hatch(draw, (x, y0, x + b, y0 + b), st.px(5))
        draw.text((x + b + st.px(5), y0), text, fill=BLACK, font=st.fs)
        x += b + st.px(5) + st.fs.getbbox(text)[2] + st.px(16)
    return x - x0


def _legend_width(items, st: _Style) -> int:
    return sum(st.px(19) + st.fs.getbbox(text)[2] + st.px(16) for _, text in items)


def _wrap(text: str, f, width: int) -> list[str]:
    words, lines, cur = text.split(), [], ""
    for w in words:
        trial = f"{cur} {w}".strip()
        if f.getbbox(trial)[2] > width and cur:
            lines.append(cur)
            cur = w
        else:
            cur = trial
    return lines + [cur]


class _Painter:
    """Shared frame layout: a fixed title block (parameter line + the longest title's lines),
    the panels, and two legend lines at the bottom."""

    def __init__(self, model, panels_w: int, panels_h: int, legend_items, st: _Style):
        self.model, self.st = model, st
        self.params = params_line(model.params)
        self.legend_items = legend_items
        self.width = max(panels_w + st.px(40), _legend_width(legend_items, st) + st.px(40),
                         st.fs.getbbox(self.params)[2] + st.px(40), st.px(560))
        wrap_w = self.width - st.px(40)
        self.title_lines = max(len(_wrap(fr.title, st.fb, wrap_w)) for fr in model.frames)
        self.top = st.px(12) + _line_h(st.fs) + _line_h(st.fb) * self.title_lines + st.px(14)
        self.height = self.top + panels_h + st.px(10) + st.px(56)

    @property
    def size(self) -> tuple[int, int]:
        return self.width, self.height

    def _base(self, frame: Frame) -> tuple[Image.Image, ImageDraw.ImageDraw]:
        st = self.st
        img = Image.new("RGB", self.size, WHITE)
        d = ImageDraw.Draw(img)
        d.text((st.px(20), st.px(12)), self.params, fill=PARAMS_TEXT, font=st.fs)
        y = st.px(12) + _line_h(st.fs)
        for n, line in enumerate(_wrap(frame.title, st.fb, self.width - st.px(40))):
            d.text((st.px(20), y + n * _line_h(st.fb)), line, fill=BLACK, font=st.fb)
        _legend(d, st.px(20), self.height - st.px(44), self.legend_items, st)
        return img, d


class ScatterPainter(_Painter):
    """The scatter view: input, kernel (times the current input value), the uncropped output canvas."""

    def __init__(self, model: ScatterModel, scale: float = 1.0):
        st = _Style(scale)
        x, k = model.x, model.kernel
        scaled = [k * fr.scale for fr in model.frames if fr.scale is not None]
        canvases = [fr.canvas for fr in model.frames]
        self.cell = max(st.px(34), _widest([x, k, model.output, *scaled, *canvases], st.f) + st.px(12))
        self.gap = st.px(40)
        self.olabel = "output" + (" (uncropped canvas)" if model.cropped.any() else "")
        labels = ("input", "kernel x 9999", self.olabel)
        shapes = (x.shape, k.shape, model.canvas_shape)
        self.widths = [max(s[1] * self.cell, st.fb.getbbox(lab)[2]) for s, lab in zip(shapes, labels)]
        self.label_h = _line_h(st.fb)
        heights = [self.label_h + s[0] * self.cell for s in shapes]
        items = [(INPUT_HI, "current input cell"), (WINDOW, "its output window"), (TOUCHED, "written so far")]
        if model.cropped.any():
            items.append((CROPPED, "cropped by padding"))
        if model.outpad_kept.any():
            items.append((OUTPAD_KEPT, "kept by output_padding (padding would crop it)"))
        if model.outpad_zeros.any():
            items.append((OUTPAD, "zero appended by output_padding"))
        super().__init__(model, sum(self.widths) + 2 * self.gap + st.px(20), max(heights), items, st)

    def draw(self, frame: Frame) -> Image.Image:
        model, st, cell = self.model, self.st, self.cell
        f, fb = st.f, st.fb
        x, k = model.x, model.kernel
        scale = frame.scale
        kvals = k * scale if scale is not None else k
        img, d = self._base(frame)
        top = self.top
        x0 = st.px(20)
        src = frame.source
        draw_grid(d, x0, top, x.shape, cell, lambda i, j: fmt(x[i, j]),
                  lambda i, j: INPUT_HI if (i, j) == src else INPUT, f, "input", fb)
        x0 += self.widths[0] + self.gap
        klabel = f"kernel x {fmt(scale)}" if scale is not None else "kernel"
        draw_grid(d, x0, top, k.shape, cell, lambda i, j: fmt(kvals[i, j]),
                  lambda i, j: WINDOW if scale is not None else KERNEL, f, klabel, fb)
        if scale is not None:
            d.text((x0 + k.shape[1] * cell + st.px(8), top + self.label_h + k.shape[0] * cell / 2 - st.px(10)),
                   "->", fill=BLACK, font=fb)
        x0 += self.widths[1] + self.gap + st.px(20)
        win = set(frame.window)
        canvas = frame.canvas
        final = frame.kind == "outro"

        def cfill(i, j):
            if (i, j) in win:
                return WINDOW
            if model.outpad_zeros[i, j]:
                return OUTPAD
            if model.output_padding[i, j]:
                return OUTPAD_KEPT
            if model.cropped[i, j]:
                return CROPPED
            return TOUCHED if frame.touched[i, j] else WHITE

        def ctext(i, j):
            if frame.touched[i, j] or (final and not model.cropped[i, j]):
                return fmt(canvas[i, j])
            return ""

        draw_grid(d, x0, top, model.canvas_shape, cell, ctext, cfill, f, self.olabel, fb,
                  lambda i, j: GREY_TEXT if model.cropped[i, j] else BLACK)
        r, c = model.keep  # the kept region, outlined
        ot = top + self.label_h
        d.rectangle((x0 + c.start * cell, ot + r.start * cell, x0 + c.stop * cell, ot + r.stop * cell),
                    outline=BLUE, width=st.px(3))
        d.text((st.px(20), self.height - st.px(22)), "blue frame: the output that conv_transpose returns",
               fill=BLUE, font=st.fs)
        return img


class GatherPainter(_Painter):
    """The gather view: zero-inserted, padded input with the kernel weights over the current window;
    the flipped kernel drawn dilated (with its gaps); the output."""

    def __init__(self, model: GatherModel, scale: float = 1.0):
        st = _Style(scale)
        g, kf = model.grid, model.flipped
        d = model.geometry.dilation
        self.dil_shape = tuple((n - 1) * di + 1 for n, di in zip(kf.shape, d))
        self.cell = max(st.px(38), _widest([g, kf, model.output], st.f) + st.px(14))
        self.gap = st.px(40)
        dilated = any(di > 1 for di in d)
        self.labels = ("input, zero-inserted and padded", "flipped kernel" + (" (dilated)" if dilated else ""),
                       "output")
        shapes = (g.shape, self.dil_shape, model.output.shape)
        self.widths = [max(s[1] * self.cell, st.fb.getbbox(lab)[2]) for s, lab in zip(shapes, self.labels)]
        heights = [_line_h(st.fb) + s[0] * self.cell for s in shapes]
        items = [(INPUT, "input value"), (INSERTED_ZERO, "inserted zero"), (PAD_ZERO, "padding zero")]
        if (model.origin == 3).any():
            items.append((OUTPAD, "zero added by output_padding"))
        items.append((INPUT_HI, "current output"))
        if dilated:
            items.append((GAP, "gap between dilated taps"))
        super().__init__(model, sum(self.widths) + 2 * self.gap, max(heights), items, st)

    def draw(self, frame: Frame) -> Image.Image:
        model, st, cell = self.model, self.st, self.cell
        f, fb = st.f, st.fb
        g, kf = model.grid, model.flipped
        dil = model.geometry.dilation
        img, d = self._base(frame)
        top = self.top
        win = list(frame.window)
        weight = {rc: kf[n // kf.shape[1], n % kf.shape[1]] for n, rc in enumerate(win)}
        colours = {0: PAD_ZERO, 1: INSERTED_ZERO, 2: INPUT, 3: OUTPAD}
        x0 = st.px(20)
        draw_grid(d, x0, top, g.shape, cell, lambda i, j: fmt(g[i, j]),
                  lambda i, j: colours[int(model.origin[i, j])], f, self.labels[0], fb,
                  lambda i, j: BLACK if model.origin[i, j] in (2, 3) else GREY_TEXT, thick=set(win),
                  corner=lambda i, j: f"x{fmt(weight[(i, j)])}" if (i, j) in weight else "", corner_font=st.ft)
        x0 += self.widths[0] + self.gap

        def ktap(i, j):
            return (i % dil[0] == 0 and j % dil[1] == 0), (i // dil[0], j // dil[1])

        def ktext(i, j):
            on, (a, b) = ktap(i, j)
            return fmt(kf[a, b]) if on else ""

        draw_grid(d, x0, top, self.dil_shape, cell, ktext, lambda i, j: KERNEL if ktap(i, j)[0] else GAP, f,
                  self.labels[1], fb)
        ktop = top + _line_h(fb)
        for i, j in np.ndindex(*self.dil_shape):
            if not ktap(i, j)[0]:
                hatch(d, (x0 + j * cell + 1, ktop + i * cell + 1, x0 + (j + 1) * cell - 1, ktop + (i + 1) * cell - 1),
                      st.px(7))
        x0 += self.widths[1] + self.gap
        src = frame.source
        out = frame.canvas
        draw_grid(d, x0, top, out.shape, cell, lambda i, j: fmt(out[i, j]) if frame.touched[i, j] else "",
                  lambda i, j: INPUT_HI if (i, j) == src else (TOUCHED if frame.touched[i, j] else WHITE),
                  f, "output", fb)
        d.text((st.px(20), self.height - st.px(22)),
               "red frame: the window the flipped kernel covers; green: the kernel weight on each cell",
               fill=RED, font=st.fs)
        return img


def painter(model, scale: float = 1.0):
    return ScatterPainter(model, scale) if isinstance(model, ScatterModel) else GatherPainter(model, scale)


def with_header(img: Image.Image, params: str, kernel: np.ndarray, scale: float = 1.0) -> Image.Image:
    """``img`` under a header: the parameter line, and the colour key (the kernel drawn with each tap in
    its colour, as the matrices colour their entries).

    >>> out = with_header(Image.new("RGB", (500, 40), WHITE), "input 2, kernel 2", np.array([1.0, 2.0]))
    >>> out.width, out.height > 40, out.getpixel((25, out.height - 60)) == TAP_COLOURS[0]
    (500, True, True)
    """
    st = _Style(scale)
    k2 = kernel if kernel.ndim == 2 else kernel.reshape(1, -1)
    cell = max(st.px(26), max(st.f.getbbox(fmt(v))[2] for v in k2.ravel()) + st.px(10))
    key_label = "key: each non-zero of C_K is the kernel tap it comes from"
    head_h = st.px(12) + _line_h(st.fs) + st.px(6) + _line_h(st.fs) + k2.shape[0] * cell + st.px(12)
    width = max(img.width, st.px(40) + max(st.fs.getbbox(params)[2], st.fs.getbbox(key_label)[2],
                                            k2.shape[1] * cell))
    out = Image.new("RGB", (width, head_h + img.height), WHITE)
    d = ImageDraw.Draw(out)
    d.text((st.px(20), st.px(12)), params, fill=PARAMS_TEXT, font=st.fs)
    y = st.px(12) + _line_h(st.fs) + st.px(6)
    d.text((st.px(20), y), key_label, fill=BLACK, font=st.fs)
    draw_grid(d, st.px(20), y + _line_h(st.fs), k2.shape, cell, lambda i, j: fmt(k2[i, j]),
              lambda i, j: TAP_COLOURS[(i * k2.shape[1] + j) % len(TAP_COLOURS)], st.f)
    out.paste(img, (0, head_h))
    return out


def side_by_side(a: Image.Image, b: Image.Image) -> Image.Image:
    out = Image.new("RGB", (a.width + b.width, max(a.height, b.height)), WHITE)
    out.paste(a, (0, 0))
    out.paste(b, (a.width, 0))
    return out


def draw_symbol(d: ImageDraw.ImageDraw, xy, base: str, sub: str, sup: str, f, fsmall) -> int:
    """``base`` with a subscript and a superscript stacked after it (``C_K^T`` as typeset). Returns the width."""
    x, y = xy
    d.text((x, y), base, fill=BLACK, font=f)
    x += f.getbbox(base)[2] + 1
    h = f.getbbox("C")[3]
    if sub:
        d.text((x, y + h * 0.55), sub, fill=BLACK, font=fsmall)
    if sup:
        d.text((x, y - h * 0.25), sup, fill=BLACK, font=fsmall)
    return x - xy[0] + max(fsmall.getbbox(sub or " ")[2], fsmall.getbbox(sup or " ")[2]) + 2


def render_matrix(C: np.ndarray, tap: np.ndarray, title: str, *, transposed: bool = False,
                  row_label: str = "", col_label: str = "", scale: float = 1.0) -> Image.Image:
    """A dense matrix with every non-zero coloured by the kernel tap it comes from (``tap``: -1 for zero),
    titled ``C_K`` or ``C_K^T`` (typeset) + ``title``, with row and column numbers."""
    st = _Style(scale)
    f, fb, fl = font(12 * scale), font(15 * scale), font(10 * scale)
    fbig, fsmall = font(20 * scale), font(12 * scale)
    cell = max(st.px(24), max(f.getbbox(fmt(v))[2] for v in C.ravel()) + st.px(8))
    rows, cols = C.shape
    lab_w = fl.getbbox(str(rows - 1))[2] + st.px(8)
    left, top = st.px(20) + lab_w + st.px(16), st.px(44) + 2 * _line_h(fl) + st.px(18)
    width = max(left + cols * cell, st.px(20) + fb.getbbox(title)[2] + st.px(80),
                st.px(20) + fl.getbbox(f"columns: {col_label}")[2], st.px(20) + fl.getbbox(f"rows: {row_label}")[2]
                ) + st.px(30)
    img = Image.new("RGB", (width, top + rows * cell + st.px(20)), WHITE)
    d = ImageDraw.Draw(img)
    w = draw_symbol(d, (st.px(20), st.px(12)), "C", "K", "T" if transposed else "", fbig, fsmall)
    d.text((st.px(20) + w + st.px(8), st.px(16)), title, fill=BLACK, font=fb)
    d.text((st.px(20), st.px(44)), f"rows: {row_label}", fill=GREY_TEXT, font=fl)
    d.text((st.px(20), st.px(44) + _line_h(fl)), f"columns: {col_label}", fill=GREY_TEXT, font=fl)
    for j in range(cols):
        t = str(j)
        d.text((left + j * cell + (cell - fl.getbbox(t)[2]) / 2, top - _line_h(fl)), t, fill=GREY_TEXT, font=fl)
    for i in range(rows):
        t = str(i)
        d.text((left - st.px(6) - fl.getbbox(t)[2], top + i * cell + (cell - fl.getbbox("0")[3]) / 2), t,
               fill=GREY_TEXT, font=fl)
    def fill(i, j):
        t = tap[i, j]
        return WHITE if t < 0 else TAP_COLOURS[t % len(TAP_COLOURS)]

    draw_grid(d, left, top, C.shape, cell, lambda i, j: fmt(C[i, j]) if tap[i, j] >= 0 else "", fill, f,
              text_fill=lambda i, j: BLACK)
    return img


def render_overlap(counts: np.ndarray, words: list[str], params: str = "", scale: float = 1.0) -> Image.Image:
    st = _Style(scale)
    f, fb = font(14 * scale), font(15 * scale)
    c2 = counts if counts.ndim == 2 else counts[None]
    cell = max(st.px(30), max(f.getbbox(fmt(v))[2] for v in c2.ravel()) + st.px(10))
    hi = max(float(c2.max()), 1.0)
    texts = [params, "overlap: how many kernel taps land on each output cell", *words]
    width = max(c2.shape[1] * cell + st.px(40), max(fb.getbbox(w)[2] for w in texts) + st.px(40))
    img = Image.new("RGB", (width, c2.shape[0] * cell + st.px(90) + st.px(22) * len(words)), WHITE)
    d = ImageDraw.Draw(img)
    d.text((st.px(20), st.px(10)), params, fill=PARAMS_TEXT, font=st.fs)
    d.text((st.px(20), st.px(32)), texts[1], fill=BLACK, font=fb)

    def fill(i, j):
        t = float(c2[i, j]) / hi
        return (int(255 - 150 * t), int(255 - 110 * t), 255)

    draw_grid(d, st.px(20), st.px(60), c2.shape, cell, lambda i, j: fmt(c2[i, j]), fill, f)
    y = st.px(70) + c2.shape[0] * cell
    for w in words:
        d.text((st.px(20), y), w, fill=BLACK, font=fb)
        y += st.px(22)
    return img
