"""What the picture commands produce (files and text), shared by the CLI and ``tconv demo``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import TconvError
from ..matrix import conv_matrix
from ..seed import SEED_KERNEL, format_matrix
from .model import describe_overlap, gather_model, overlap_map, scatter_model
from .render import (
    render_gather_frame,
    render_matrix,
    render_overlap,
    render_scatter_frame,
    save_gif,
    side_by_side,
)

VALUE_KINDS = ("seed", "ones", "arange", "random")


def make_values(kind: str, shape: tuple[int, ...], *, for_kernel: bool, seed: int = 0) -> np.ndarray:
    """Cell values for pictures: ``seed`` (1, 2, 3, ...: the article's kernel for 3x3), ``ones``,
    ``arange`` (0, 1, 2, ...), ``random`` (small integers, reproducible) or a ``.npy`` file."""
    size = int(np.prod(shape))
    if kind == "seed":
        if for_kernel and shape == (3, 3):
            return SEED_KERNEL.copy()
        return np.arange(1.0, size + 1).reshape(shape)
    if kind == "ones":
        return np.ones(shape)
    if kind == "arange":
        return np.arange(float(size)).reshape(shape)
    if kind == "random":
        return np.random.default_rng(seed + int(for_kernel)).integers(-3, 6, size=shape).astype(float)
    path = Path(kind)
    if path.suffix == ".npy":
        if not path.exists():
            raise TconvError(f"values file {kind!r} does not exist")
        arr = np.load(path)
        if arr.shape != shape:
            raise TconvError(f"values file {kind!r} has shape {arr.shape}, expected {shape}")
        return arr.astype(float)
    raise TconvError(f"values={kind!r} must be one of {', '.join(VALUE_KINDS)} or a .npy file")


def animation(x, kernel, *, view: str = "scatter", stride=1, padding=0, output_padding=0, dilation=1):
    """``(model, frames)`` for the scatter view, the gather view, or both in sequence."""
    if view == "scatter":
        model = scatter_model(x, kernel, stride, padding, output_padding, dilation)
        return model, [render_scatter_frame(model, f) for f in model.frames]
    if view == "gather":
        model = gather_model(x, kernel, stride, padding, output_padding, dilation)
        return model, [render_gather_frame(model, f) for f in model.frames]
    if view == "both":  # the definition, then the same result by zero insertion, in sequence
        first, a = animation(x, kernel, view="scatter", stride=stride, padding=padding,
                             output_padding=output_padding, dilation=dilation)
        second, b = animation(x, kernel, view="gather", stride=stride, padding=padding,
                              output_padding=output_padding, dilation=dilation)
        second.frames[:0] = first.frames
        return second, a + b
    raise TconvError(f"view={view!r} must be 'scatter', 'gather' or 'both'")


def write_animation(path, x, kernel, *, view="scatter", frames_dir=None, duration_ms=900,
                    progress=False, **geom) -> tuple[Path, object]:
    model, frames = animation(x, kernel, view=view, **geom)
    return save_gif(frames, path, duration_ms, frames_dir, progress=progress or len(frames) > 40), model


def matrix_pictures(kernel: np.ndarray, input_shape, stride=1, padding=0, dilation=1):
    """``(C, CT, tap)``: dense ``C_K``, its transpose, and the kernel tap of every non-zero
    (found by building ``C_K`` of a kernel holding the tap numbers 1..K)."""
    k = np.asarray(kernel, dtype=float)
    w = k[None, None]
    C = conv_matrix(w, input_shape, stride, padding, dilation).toarray()
    taps = np.arange(1.0, k.size + 1).reshape(k.shape)[None, None]
    tap = conv_matrix(taps, input_shape, stride, padding, dilation).toarray().astype(int) - 1
    return C, C.T, tap


def write_matrix(path, kernel, input_shape, **geom) -> tuple[Path, str]:
    C, CT, tap = matrix_pictures(kernel, input_shape, **geom)
    a = render_matrix(C, tap, f"C_K: convolution as a matrix ({C.shape[0]}x{C.shape[1]})")
    b = render_matrix(CT, tap.T, f"C_K^T: the transposed convolution ({CT.shape[0]}x{CT.shape[1]})")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    side_by_side(a, b).save(path)
    text = format_matrix(C, "C_K") + "\n\n" + format_matrix(CT, "C_K^T")
    text += "\n\n(colours in the picture: each non-zero is the kernel tap it comes from)"
    return path, text


def overlap_report(input_shape, kernel_size, stride=1, padding=0, output_padding=0, dilation=1):
    counts = overlap_map(input_shape, kernel_size, stride, padding, output_padding, dilation)
    words = describe_overlap(kernel_size, stride, dilation, nd=counts.ndim)
    if counts.ndim > 1:
        words = [f"axis {a}: {w}" for a, w in enumerate(words)]
    return counts, words


def write_overlap(path, input_shape, kernel_size, **geom) -> tuple[Path, str]:
    counts, words = overlap_report(input_shape, kernel_size, **geom)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    render_overlap(counts, words).save(path)
    text = format_matrix(np.atleast_2d(counts), "taps landing on each output cell") + "\n" + "\n".join(words)
    return path, text
