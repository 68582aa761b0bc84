"""What the image examples share: the photograph shipped with matplotlib, a Gaussian blur, PSNR.

>>> load_photo(32).shape, round(float(gaussian(7, 1.2).sum()), 12)
((32, 32), 1.0)
"""

from __future__ import annotations

import matplotlib.cbook as cbook
import numpy as np
from PIL import Image


def load_photo(size: int) -> np.ndarray:
    """Grace Hopper, grey, centre-cropped to a square and resized to ``size`` x ``size``, in [0, 1]."""
    path = cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    im = Image.open(path).convert("L")
    w, h = im.size
    s = min(w, h)
    im = im.crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s))
    im = im.resize((size, size), Image.Resampling.LANCZOS)
    return np.asarray(im, dtype=np.float64) / 255.0


def gaussian(k: int, sigma: float) -> np.ndarray:
    """A normalised ``k`` x ``k`` Gaussian kernel."""
    t = np.arange(k) - (k - 1) / 2
    g = np.exp(-(t**2) / (2 * sigma**2))
    ker = np.outer(g, g)
    return ker / ker.sum()


def psnr(x: np.ndarray, ref: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB of ``x`` (clipped to [0, 1]) against ``ref``."""
    return float(10 * np.log10(1.0 / np.mean((np.clip(x, 0, 1) - ref) ** 2)))
