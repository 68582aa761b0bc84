"""Transposed convolution on Dask arrays: chunked, larger than memory, on threads or a cluster.

``tconv.conv_transpose``, ``tconv.conv``, both VJPs and ``ConvOperator`` come here when they are
given a ``dask.array.Array``, after the conventions chain (:mod:`tconv.api.conventions`: half
precision, layouts, complex data and ``padding_mode`` work on Dask arrays too, lazily):
:func:`forward` and :func:`vjp` are the chain's bottom for Dask. The functions below are the
plain operations, and also accept a NumPy input together with ``chunks=`` (it is then wrapped
with ``dask.array.from_array``).
Every output block is the NumPy path (``method="auto"`` on the block's own shape) applied to
the input block plus the halo of :func:`tconv.core.geometry.block_input_range`; the weight enters
the task graph once. Dask is an optional dependency (``pip install tconv[dask]``): importing
this package does not import it.

>>> import numpy as np, dask.array as da, tconv
>>> x = da.from_array(np.arange(12.0).reshape(1, 1, 12), chunks=(1, 1, 5))
>>> w = np.ones((1, 1, 4))
>>> y = tconv.conv_transpose(x, w, stride=2, padding=1)       # lazy
>>> y.chunks[2]
(9, 10, 5)
>>> np.allclose(y.compute(), tconv.conv_transpose(x.compute(), w, stride=2, padding=1))
True
"""

from __future__ import annotations

from ._detect import is_dask_array

__all__ = [
    "ChunkPlan",
    "conv",
    "conv_transpose",
    "conv_transpose_vjp",
    "conv_vjp",
    "explain_chunks",
    "forward",
    "is_dask_array",
    "operator_apply",
    "vjp",
]

_LAZY = {
    "conv": "ops",
    "conv_transpose": "ops",
    "conv_transpose_vjp": "ops",
    "conv_vjp": "ops",
    "forward": "ops",
    "vjp": "ops",
    "ChunkPlan": "report",
    "explain_chunks": "report",
    "operator_apply": "linop",
}


def __getattr__(name: str):
    # the functions live in modules that import Dask's helpers: load them on first use
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
