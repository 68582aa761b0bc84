"""``tconv.explain``: the planner's report, or with ``chunks=`` the chunked (Dask) plan.

A front end over :func:`tconv.core.planner.explain` (one operation on one array) and
:func:`tconv.dask.explain_chunks` (the same operation on a chunked input), so the planner
stays below the front ends that use it.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..core.planner import Plan
from ..core.planner import explain as _plan_explain
from ..errors import TconvError, TconvTypeError
from .names import checked_names

__all__ = ["explain"]


@checked_names
def explain(
    x_shape,
    weight_shape,
    stride=1,
    padding=0,
    output_padding=0,
    groups=1,
    dilation=1,
    *,
    dtype: str | None = None,
    op: str = "conv_transpose",
    measure: bool = False,
    chunks=None,
):
    """The planner's report for ``op`` on an input of shape ``x_shape`` with a weight of
    ``weight_shape`` (see :func:`tconv.core.planner.explain`); ``print()`` it. Either may be an
    array instead of a shape: its shape is used, and without ``dtype`` the input array's dtype
    (else float32).

    With ``chunks`` (a :mod:`tconv.dask` chunks spec for the input) it returns the chunked
    plan of ``conv_transpose`` instead (:class:`tconv.dask.ChunkPlan`): halo per axis, output
    chunks, the algorithm of a typical block, memory per task and the number of tasks.

    >>> explain((16, 512, 8, 8), (512, 256, 4, 4), stride=2, padding=1).choice  # 'gemm' without the compiled core
    'native'
    >>> explain(np.zeros((1, 4, 8, 8)), np.zeros((4, 2, 3, 3))).dtype  # arrays: their shapes and dtype
    'float64'
    """
    if dtype is None:
        dtype = x_shape.dtype if isinstance(getattr(x_shape, "dtype", None), np.dtype) else "float32"
    x_shape, weight_shape = (getattr(s, "shape", s) for s in (x_shape, weight_shape))
    for name, shape in (("x_shape", x_shape), ("weight_shape", weight_shape)):
        if not isinstance(shape, (tuple, list)) or not all(
                isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in shape):
            raise TconvTypeError(f"{name}={shape!r} must be a shape (a tuple of ints) or an array")
    dt = np.dtype(dtype)
    real = {"complex64": "float32", "complex128": "float64"}.get(dt.name, dt.name)
    p: Plan = _plan_explain(x_shape, weight_shape, stride, padding, output_padding, groups, dilation,
                            dtype=real, op=op, measure=measure and chunks is None)
    if dt.kind == "c":  # complex: the real products run on the real dtype (tconv.api.conventions.complexdata)
        from .conventions.complexdata import REAL_PRODUCTS

        p = replace(p, dtype=dt.name, note=f"{dt.name} is computed with real arithmetic in {real}: {REAL_PRODUCTS}")
    if chunks is None:
        return p
    if op != "conv_transpose":
        raise TconvError(f"chunks={chunks!r}: the chunked plan is explained for op='conv_transpose' only, not {op!r}")
    from .dask import explain_chunks

    return explain_chunks(p.geometry, x_shape, chunks, dtype)
