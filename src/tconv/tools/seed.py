"""The seed article's example, computed by the library: 3x3 kernel, 4x4 image.

>>> ex = seed_example()
>>> ex.C.shape, ex.CT.shape, int(ex.AB[0, 0])
((4, 16), (16, 4), 285)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..api.functional import conv_transpose
from ..api.matrix import conv_matrix
from ..core.algorithms import ALGORITHMS
from ..core.geometry import conv_transpose_geometry

__all__ = ["SeedExample", "seed_example", "format_matrix"]

SEED_KERNEL = np.arange(1.0, 10.0).reshape(3, 3)
SEED_IMAGE_SHAPE = (4, 4)
SEED_INPUT = np.array([[1.0, 2.0], [3.0, 4.0]])


@dataclass(frozen=True)
class SeedExample:
    kernel: np.ndarray  # (3, 3)
    C: np.ndarray  # (4, 16): the convolution as a matrix (A in the article)
    CT: np.ndarray  # (16, 4): the transposed convolution (B = A^T)
    AB: np.ndarray  # (4, 4) = C C^T
    BA: np.ndarray  # (16, 16) = C^T C
    x: np.ndarray  # (2, 2) input of the transposed convolution
    reference: np.ndarray  # (4, 4) = C^T x reshaped
    by_algorithm: dict[str, np.ndarray]


def seed_example(kernel: np.ndarray = SEED_KERNEL, x: np.ndarray = SEED_INPUT) -> SeedExample:
    """Compute every matrix of the article and the transposed convolution of ``x``
    by each registered algorithm."""
    w = np.asarray(kernel, dtype=np.float64)[None, None]
    C = conv_matrix(w, SEED_IMAGE_SHAPE).toarray()
    CT = C.T
    ref = (CT @ x.ravel()).reshape(SEED_IMAGE_SHAPE)
    geom = conv_transpose_geometry(w.shape, x.shape)
    results = {  # every algorithm that runs here (native needs the compiled core)
        name: conv_transpose(x[None, None], w, method=name)[0, 0] for name in sorted(ALGORITHMS)
        if ALGORITHMS[name].supports(geom, np.dtype(np.float64), "conv_transpose") is None
    }
    return SeedExample(np.asarray(kernel), C, CT, C @ CT, CT @ C, x, ref, results)


def format_matrix(a: np.ndarray, name: str = "") -> str:
    """Right-aligned columns; integers shown without decimals."""
    a = np.asarray(a)
    as_int = np.all(np.isfinite(a)) and np.all(a == np.round(a))
    cells = [[(f"{int(v)}" if as_int else f"{v:.4g}") for v in row] for row in np.atleast_2d(a)]
    width = max(len(c) for row in cells for c in row)
    lines = [f"{name} ({a.shape[0]}x{a.shape[1] if a.ndim > 1 else 1})"] if name else []
    for row in cells:
        lines.append("  [" + " ".join(c.rjust(width) for c in row) + "]")
    return "\n".join(lines)
