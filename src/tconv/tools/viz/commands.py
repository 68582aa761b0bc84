"""What the picture commands produce (files and text), shared by the CLI and ``tconv demo``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...errors import TconvError
from ..seed import SEED_KERNEL
from .pictures import (
    DEFAULT_MAX_FRAMES,
    MAX_CELLS_PER_AXIS,
    Animation,
    animate,
    animation_format,
    matrix,
    overlap,
)

VALUE_KINDS = ("seed", "ones", "arange", "random")


def make_values(kind: str, shape: tuple[int, ...], *, for_kernel: bool, seed: int = 0) -> np.ndarray:
    """Cell values for pictures: ``seed`` (1, 2, 3, ...: the article's kernel for 3x3), ``ones``,
    ``arange`` (0, 1, 2, ...), ``random`` (small integers, reproducible) or a ``.npy`` file of real numbers.

    >>> make_values("arange", (2, 3), for_kernel=False).tolist()
    [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]
    """
    what = "kernel" if for_kernel else "input"
    shape = tuple(int(v) for v in shape)
    if any(n < 1 for n in shape):
        raise TconvError(f"{what} size {shape} must be positive on every axis")
    if any(n > MAX_CELLS_PER_AXIS for n in shape):
        raise TconvError(f"{what} size {'x'.join(map(str, shape))} is too large for a picture: at most "
                         f"{MAX_CELLS_PER_AXIS} cells per axis")
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
        return _load_npy(path, shape, what)
    raise TconvError(f"values={kind!r} must be one of {', '.join(VALUE_KINDS)} or a .npy file")


def _load_npy(path: Path, shape: tuple[int, ...], what: str) -> np.ndarray:
    """A ``.npy`` file's header is checked (shape, real numeric dtype) before any data is read."""
    if not path.is_file():
        raise TconvError(f"{what} values file {str(path)!r} does not exist")
    with open(path, "rb") as fp:
        try:
            version = np.lib.format.read_magic(fp)
            read = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                    else np.lib.format.read_array_header_2_0)
            file_shape, _, dtype = read(fp)
        except (ValueError, OSError, SyntaxError) as exc:
            raise TconvError(f"{what} values file {str(path)!r} is not a valid .npy file ({exc})") from None
    if tuple(file_shape) != shape:
        raise TconvError(f"{what} values file {str(path)!r} has shape {tuple(file_shape)}, expected {shape}")
    if dtype.kind not in "biuf":
        raise TconvError(f"{what} values file {str(path)!r} holds {dtype} values; pictures need real numbers")
    arr = np.load(path, allow_pickle=False)
    return arr.astype(float)


def animation(x, kernel, *, view: str = "scatter", stride=1, padding=0, output_padding=0, dilation=1,
              scale: float = 1.0, max_frames: int = DEFAULT_MAX_FRAMES):
    """``(model, frames)``: the last view's drawing model and an iterator over the frames, drawn on demand."""
    a = animate(x, kernel, view=view, stride=stride, padding=padding, output_padding=output_padding,
                dilation=dilation, scale=scale, max_frames=max_frames)
    return a.model, a.frames()


def write_animation(path, x, kernel, *, view="scatter", frames_dir=None, duration_ms=900, progress=None,
                    scale: float = 1.0, max_frames: int = DEFAULT_MAX_FRAMES, **geom) -> tuple[Path, Animation]:
    animation_format(path)  # an unknown suffix is refused before anything is drawn
    a = animate(x, kernel, view=view, duration_ms=duration_ms, scale=scale, max_frames=max_frames, **geom)
    return a.save(path, frames_dir, progress), a


def matrix_pictures(input_shape, kernel: np.ndarray, stride=1, padding=0, output_padding=0, dilation=1):
    """``(C, CT, tap)``: dense ``C_K``, its transpose, and the kernel tap of every non-zero, for a
    transposed convolution of an input of ``input_shape``."""
    m = matrix(input_shape, kernel, stride=stride, padding=padding, output_padding=output_padding,
               dilation=dilation)
    return m.C, m.CT, m.tap


def write_matrix(path, input_shape, kernel, scale: float = 1.0, **geom) -> tuple[Path, str]:
    m = matrix(input_shape, kernel, scale=scale, **geom)
    return m.save(path), m.text


def overlap_report(input_shape, kernel_size, stride=1, padding=0, output_padding=0, dilation=1):
    o = overlap(input_shape, kernel_size, stride=stride, padding=padding, output_padding=output_padding,
                dilation=dilation)
    return o.counts, o.words


def write_overlap(path, input_shape, kernel_size, scale: float = 1.0, **geom) -> tuple[Path, str]:
    o = overlap(input_shape, kernel_size, scale=scale, **geom)
    return o.save(path), o.text
