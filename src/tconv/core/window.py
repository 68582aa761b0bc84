"""A transposed convolution cropped by any per-axis amount, negative meaning "extend with zeros".

Framework conventions (Keras, ``jax.lax.conv_transpose``) describe the output of a
transposed convolution as a window ``[c_lo, F - c_hi)`` of the uncropped output, whose
length per axis is ``F = (i - 1) * s + d * (k - 1) + 1``. A positive ``c`` crops (PyTorch's
``padding``); a negative one asks for positions outside the uncropped output, which no
kernel tap reaches: they are zeros. This module maps such a window onto ONE validated
plain ``conv_transpose`` call (:func:`tconv.core.dispatch.forward`, or the ``run`` given) (the part of the window inside ``[0, F)``, as explicit
``(lo, hi)`` padding) and adds the zeros explicitly with ``np.pad`` (a copy only when a
side is extended).

>>> import numpy as np
>>> conv_transpose_window(np.ones((1, 1, 2)), np.ones((1, 1, 2)), (1,), (1,), ((-1, 1),))[0, 0].tolist()
[0.0, 1.0, 2.0]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import TconvError
from .dispatch import Call, forward
from .geometry import uncropped_size

__all__ = ["conv_transpose_window", "uncropped_size"]


def conv_transpose_window(
    x: np.ndarray,
    weight: np.ndarray,
    stride: Sequence[int],
    dilation: Sequence[int],
    crops: Sequence[tuple[int, int]],
    bias: np.ndarray | None = None,
    *,
    groups: int = 1,
    method: str = "auto",
    run=None,
    cache: dict | None = None,
) -> np.ndarray:
    """``conv_transpose`` (channels first, PyTorch weight) whose output is the window
    ``[c_lo, F - c_hi)`` of the uncropped output on each axis; ``crops`` may be negative.

    The bias is added to every output position (extended ones included), as the frameworks do.
    ``run(call, x, weight, bias)`` computes the plain transposed convolution (default: the core
    dispatch; the Dask front end passes its own); ``cache``: the weight owner's transform cache
    (:class:`~tconv.core.dispatch.Call`).
    """
    nd = len(crops)
    kernel = weight.shape[2:]
    sizes = x.shape[-nd:]
    inner, extend, lengths = [], [], []
    for ax, (i, k, s, d, (c_lo, c_hi)) in enumerate(zip(sizes, kernel, stride, dilation, crops)):
        full = uncropped_size(i, k, s, d)
        length = full - c_lo - c_hi
        if length < 1:
            raise TconvError(
                f"the padding gives an empty output on spatial axis {ax}: {length} positions "
                f"(uncropped size {full}, cropped by {c_lo} before and {c_hi} after)"
            )
        a, b = min(max(c_lo, 0), full), max(min(full - c_hi, full), 0)
        inner.append((a, b))
        lengths.append(length)
        extend.append((a - c_lo, c_lo + length - b))
    if all(a < b for a, b in inner):
        pads = [(a, uncropped_size(i, k, s, d) - b)
                for (a, b), i, k, s, d in zip(inner, sizes, kernel, stride, dilation)]
        call = Call("conv_transpose", tuple(stride), pads, 0, groups, tuple(dilation), method=method, cache=cache)
        y = (run or forward)(call, x, weight, None)
        if any(e for pair in extend for e in pair):
            y = np.pad(y, [(0, 0)] * (y.ndim - nd) + [tuple(e) for e in extend])
    else:  # the window misses the uncropped output entirely on some axis: all zeros
        lead = x.shape[:-nd - 1] + (weight.shape[1] * groups,)
        shape = lead + tuple(lengths)
        y = np.zeros(shape, dtype=np.result_type(x, weight, np.float32))
    if bias is not None:
        y = y + np.asarray(bias, dtype=y.dtype).reshape((-1,) + (1,) * nd)
    return y
