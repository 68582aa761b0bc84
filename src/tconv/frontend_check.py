"""Does a call need the conventions front end (:mod:`tconv.frontend`)? Cheap, no heavy imports."""

from __future__ import annotations

import numpy as np

__all__ = ["special"]

_HALF = ("float16", "bfloat16")


def special(*arrays, padding_mode="zeros", data_format="channels_first", weight_format="torch", out_dtype=None) -> bool:
    """True unless the call is plain: zeros padding, channels first, PyTorch weight layout, real float/int data."""
    if padding_mode != "zeros" or data_format != "channels_first" or weight_format != "torch" or out_dtype is not None:
        return True
    for a in arrays:
        if a is None:
            continue
        try:
            dt = a.dtype if isinstance(a, np.ndarray) else np.asarray(a).dtype
        except (RuntimeError, TypeError, ValueError):  # not readable: the plain path says why, clearly
            return False
        if dt.kind == "c" or dt.name in _HALF:
            return True
    return False
