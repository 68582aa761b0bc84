"""Pillow renderers for the drawing models: frames, GIFs, matrix and overlap pictures."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .model import Frame, GatherModel, ScatterModel

WHITE, BLACK, GREY_TEXT = (255, 255, 255), (30, 30, 30), (150, 150, 150)
INPUT, INPUT_HI = (198, 219, 239), (253, 174, 97)
KERNEL = (199, 233, 192)
WINDOW = (253, 208, 162)
TOUCHED = (255, 247, 188)
CROPPED = (217, 217, 217)
OUTPAD = (218, 204, 235)
PAD_ZERO, INSERTED_ZERO = (246, 246, 246), (250, 218, 221)
TAP_COLOURS = [
    (141, 211, 199), (255, 255, 179), (190, 186, 218), (251, 128, 114), (128, 177, 211),
    (253, 180, 98), (179, 222, 105), (252, 205, 229), (204, 235, 197), (255, 237, 111),
    (188, 128, 189), (217, 217, 217),
]


def font(size: int) -> ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def fmt(v: float) -> str:
    if np.isfinite(v) and float(v).is_integer() and abs(v) < 1e5:
        return str(int(v))
    return f"{v:.2f}" if abs(v) < 100 else f"{v:.3g}"


def _cell_size(values: Sequence[np.ndarray], f) -> int:
    widest = max((f.getbbox(fmt(v))[2] for a in values for v in np.ravel(a)), default=10)
    return max(34, widest + 12)


def draw_grid(draw: ImageDraw.ImageDraw, x0: int, y0: int, shape, cell: int, text, fill, f,
              label: str = "", label_font=None, text_fill=None, thick: set | None = None) -> tuple[int, int]:
    """A grid of ``shape`` cells; ``text(i, j)`` and ``fill(i, j)`` give each cell's contents.
    Returns the (width, height) used, label included."""
    lf = label_font or f
    top = y0
    if label:
        draw.text((x0, y0), label, fill=BLACK, font=lf)
        top += lf.getbbox("Ag")[3] + 6
    rows, cols = shape
    for i in range(rows):
        for j in range(cols):
            box = (x0 + j * cell, top + i * cell, x0 + (j + 1) * cell, top + (i + 1) * cell)
            draw.rectangle(box, fill=fill(i, j), outline=(120, 120, 120))
            t = text(i, j)
            if t:
                w = f.getbbox(t)[2]
                h = f.getbbox("0")[3]
                colour = text_fill(i, j) if text_fill else BLACK
                draw.text((box[0] + (cell - w) / 2, box[1] + (cell - h) / 2 - 1), t, fill=colour, font=f)
    for i, j in thick or ():
        box = (x0 + j * cell, top + i * cell, x0 + (j + 1) * cell, top + (i + 1) * cell)
        draw.rectangle(box, outline=(200, 60, 0), width=3)
    return cols * cell, top - y0 + rows * cell


def _legend(draw, x0, y0, items, f) -> int:
    x = x0
    for colour, text in items:
        draw.rectangle((x, y0, x + 14, y0 + 14), fill=colour, outline=(120, 120, 120))
        draw.text((x + 19, y0), text, fill=BLACK, font=f)
        x += 19 + f.getbbox(text)[2] + 16
    return x - x0


def _legend_width(items, f) -> int:
    return sum(19 + f.getbbox(text)[2] + 16 for _, text in items)


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


def _canvas_width(panels_w: int) -> int:
    return max(panels_w + 40, 560)


def _canvas(panels_w: int, panels_h: int, title_lines: int, f_title) -> tuple[Image.Image, int]:
    th = f_title.getbbox("Ag")[3] + 6
    width = _canvas_width(panels_w)
    height = 20 + th * title_lines + 16 + panels_h + 56
    return Image.new("RGB", (width, height), WHITE), 20 + th * title_lines + 16


def render_scatter_frame(model: ScatterModel, frame: Frame) -> Image.Image:
    f, fb, fs = font(15), font(17), font(13)
    x, k = model.x, model.kernel
    scale = frame.scale
    kvals = k * scale if scale is not None else k
    cell = _cell_size([x, kvals, frame.canvas, model.output], f)
    gap = 40
    klabel = f"kernel x {fmt(scale)}" if scale is not None else "kernel"
    olabel = "output" + (" (uncropped canvas)" if model.cropped.any() else "")
    widths = [max(a.shape[1] * cell, fb.getbbox(lab)[2]) for a, lab in
              ((x, "input"), (k, klabel), (frame.canvas, olabel))]
    label_h = fb.getbbox("Ag")[3] + 6
    heights = [label_h + a.shape[0] * cell for a in (x, k, frame.canvas)]
    items = [(INPUT_HI, "current input cell"), (WINDOW, "its output window"), (TOUCHED, "written so far")]
    if model.cropped.any():
        items.append((CROPPED, "cropped by padding"))
    if model.output_padding.any():
        items.append((OUTPAD, "output_padding"))
    total_w = max(sum(widths) + 2 * gap + 60, _legend_width(items, fs))
    title = _wrap(frame.title, fb, _canvas_width(total_w) - 40)
    img, top = _canvas(total_w, max(heights) + 10, len(title), fb)
    d = ImageDraw.Draw(img)
    for n, line in enumerate(title):
        d.text((20, 14 + n * (fb.getbbox("Ag")[3] + 6)), line, fill=BLACK, font=fb)
    x0 = 20
    src = frame.source
    draw_grid(d, x0, top, x.shape, cell, lambda i, j: fmt(x[i, j]),
              lambda i, j: INPUT_HI if (i, j) == src else INPUT, f, "input", fb)
    x0 += widths[0] + gap
    draw_grid(d, x0, top, k.shape, cell, lambda i, j: fmt(kvals[i, j]),
              lambda i, j: WINDOW if scale is not None else KERNEL, f, klabel, fb)
    if scale is not None:
        d.text((x0 + widths[1] + 8, top + label_h + k.shape[0] * cell / 2 - 10), "->", fill=BLACK, font=fb)
    x0 += widths[1] + gap + 20
    win = set(frame.window)
    canvas = frame.canvas
    final = frame.kind == "outro"

    def cfill(i, j):
        if (i, j) in win:
            return WINDOW
        if model.output_padding[i, j]:
            return OUTPAD
        if model.cropped[i, j]:
            return CROPPED
        return TOUCHED if frame.touched[i, j] else WHITE

    def ctext(i, j):
        if frame.touched[i, j] or (final and not model.cropped[i, j]) or model.output_padding[i, j]:
            return fmt(canvas[i, j])
        return ""

    def tfill(i, j):
        return GREY_TEXT if model.cropped[i, j] else BLACK

    draw_grid(d, x0, top, model.canvas_shape, cell, ctext, cfill, f, olabel, fb, tfill)
    # the kept region, outlined
    r, c = model.keep
    ot = top + label_h
    d.rectangle((x0 + c.start * cell, ot + r.start * cell, x0 + c.stop * cell, ot + r.stop * cell),
                outline=(0, 90, 200), width=3)
    _legend(d, 20, img.height - 44, items, fs)
    d.text((20, img.height - 22), "blue frame: the output that conv_transpose returns", fill=(0, 90, 200), font=fs)
    return img


def render_gather_frame(model: GatherModel, frame: Frame) -> Image.Image:
    f, fb, fs = font(15), font(17), font(13)
    g, kf = model.grid, model.flipped
    cell = _cell_size([g, kf, model.output], f)
    gap = 40
    labels = ("input, zero-inserted and padded", "flipped kernel", "output")
    widths = [max(a.shape[1] * cell, fb.getbbox(lab)[2]) for a, lab in zip((g, kf, model.output), labels)]
    label_h = fb.getbbox("Ag")[3] + 6
    heights = [label_h + a.shape[0] * cell for a in (g, kf, model.output)]
    items = [(INPUT, "input value"), (INSERTED_ZERO, "inserted zero"), (PAD_ZERO, "padding zero"),
             (INPUT_HI, "current output")]
    total_w = max(sum(widths) + 2 * gap, _legend_width(items, fs))
    title = _wrap(frame.title, fb, _canvas_width(total_w) - 40)
    img, top = _canvas(total_w, max(heights) + 10, len(title), fb)
    d = ImageDraw.Draw(img)
    for n, line in enumerate(title):
        d.text((20, 14 + n * (fb.getbbox("Ag")[3] + 6)), line, fill=BLACK, font=fb)
    win = set(frame.window)
    colours = {0: PAD_ZERO, 1: INSERTED_ZERO, 2: INPUT}
    x0 = 20
    draw_grid(d, x0, top, g.shape, cell, lambda i, j: fmt(g[i, j]),
              lambda i, j: colours[int(model.origin[i, j])], f, labels[0], fb,
              lambda i, j: BLACK if model.origin[i, j] == 2 else GREY_TEXT, thick=win)
    x0 += widths[0] + gap
    draw_grid(d, x0, top, kf.shape, cell, lambda i, j: fmt(kf[i, j]), lambda i, j: KERNEL, f,
              "flipped kernel", fb)
    x0 += widths[1] + gap
    src = frame.source
    out = frame.canvas
    draw_grid(d, x0, top, out.shape, cell, lambda i, j: fmt(out[i, j]) if frame.touched[i, j] else "",
              lambda i, j: INPUT_HI if (i, j) == src else (TOUCHED if frame.touched[i, j] else WHITE),
              f, "output", fb)
    _legend(d, 20, img.height - 44, items, fs)
    d.text((20, img.height - 22), "red frame: the window the flipped kernel covers", fill=(200, 60, 0), font=fs)
    return img


def side_by_side(a: Image.Image, b: Image.Image) -> Image.Image:
    out = Image.new("RGB", (a.width + b.width, max(a.height, b.height)), WHITE)
    out.paste(a, (0, 0))
    out.paste(b, (a.width, 0))
    return out


def save_gif(frames: list[Image.Image], path: str | Path, duration_ms: int = 900,
             png_dir: str | Path | None = None, progress: bool = False) -> Path:
    """Write an animated GIF (every frame padded to the largest size), optionally the PNG frames."""
    w = max(fr.width for fr in frames)
    h = max(fr.height for fr in frames)
    padded = []
    for n, fr in enumerate(frames):
        canvas = Image.new("RGB", (w, h), WHITE)
        canvas.paste(fr, (0, 0))
        padded.append(canvas.convert("P", palette=Image.Palette.ADAPTIVE, colors=64))
        if png_dir is not None:
            Path(png_dir).mkdir(parents=True, exist_ok=True)
            canvas.save(Path(png_dir) / f"frame_{n:03d}.png")
        if progress:
            _progress(n + 1, len(frames))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    durations = [duration_ms * 2] + [duration_ms] * (len(padded) - 2) + [duration_ms * 4]
    padded[0].save(path, save_all=True, append_images=padded[1:], duration=durations[: len(padded)],
                   loop=0, optimize=True)
    return path


def _progress(done: int, total: int) -> None:
    bar = "#" * int(30 * done / total)
    sys.stderr.write(f"\rrendering [{bar:<30}] {done}/{total} frames")
    if done == total:
        sys.stderr.write("\n")
    sys.stderr.flush()


def render_matrix(C: np.ndarray, tap: np.ndarray, title: str) -> Image.Image:
    """A dense matrix with every non-zero coloured by the kernel tap it comes from (``tap``: -1 for zero)."""
    f, fb = font(12), font(15)
    cell = max(24, max(f.getbbox(fmt(v))[2] for v in C.ravel()) + 8)
    rows, cols = C.shape
    img = Image.new("RGB", (max(cols * cell, fb.getbbox(title)[2]) + 60, rows * cell + 70), WHITE)
    d = ImageDraw.Draw(img)
    d.text((20, 12), title, fill=BLACK, font=fb)

    def fill(i, j):
        t = tap[i, j]
        return WHITE if t < 0 else TAP_COLOURS[t % len(TAP_COLOURS)]

    draw_grid(d, 20, 44, C.shape, cell, lambda i, j: fmt(C[i, j]) if tap[i, j] >= 0 else "", fill, f,
              text_fill=lambda i, j: BLACK)
    return img


def render_overlap(counts: np.ndarray, words: list[str]) -> Image.Image:
    f, fb = font(14), font(15)
    c2 = counts if counts.ndim == 2 else counts[None]
    cell = max(30, max(f.getbbox(fmt(v))[2] for v in c2.ravel()) + 10)
    hi = max(float(c2.max()), 1.0)
    width = max(c2.shape[1] * cell + 40, max(fb.getbbox(w)[2] for w in words) + 40)
    img = Image.new("RGB", (width, c2.shape[0] * cell + 70 + 22 * len(words)), WHITE)
    d = ImageDraw.Draw(img)
    d.text((20, 12), "overlap: how many kernel taps land on each output cell", fill=BLACK, font=fb)

    def fill(i, j):
        t = float(c2[i, j]) / hi
        return (int(255 - 150 * t), int(255 - 110 * t), 255)

    draw_grid(d, 20, 40, c2.shape, cell, lambda i, j: fmt(c2[i, j]), fill, f)
    y = 50 + c2.shape[0] * cell
    for w in words:
        d.text((20, y), w, fill=BLACK, font=fb)
        y += 22
    return img
