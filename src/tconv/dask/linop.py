"""``ConvOperator.matvec`` / ``rmatvec`` on Dask vectors (every boundary mode), lazily.

``matvec`` pads (``reflect`` / ``replicate`` / ``circular`` map onto ``dask.array.pad``'s
``reflect`` / ``edge`` / ``wrap``) and runs the chunked ``conv``; ``rmatvec`` runs the chunked
``conv_transpose`` and folds each padded margin back onto the cells it copied (the adjoint
of the padding, as the NumPy operator does).
"""

from __future__ import annotations

import numpy as np

from ..errors import TconvError
from ._graph import apply

__all__ = ["operator_apply"]

_PAD_MODES = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def _check(op, v, n: int, what: str):
    from .ops import _float_dtype

    _float_dtype(what, v)
    if v.ndim == 0 or v.ndim > 2 or v.shape[0] != n:
        raise TconvError(f"{what} has shape {v.shape}; this operator of shape {op.shape} needs ({n},) or ({n}, k)")


def _fold(v, axis: int, lo: int, hi: int, src: np.ndarray):
    """Adjoint of padding along ``axis``: the interior plus every margin cell added onto its source."""
    import dask.array as da

    n = v.shape[axis] - lo - hi
    take = lambda a, b: v[(slice(None),) * axis + (slice(a, b),)]  # noqa: E731
    out = interior = take(lo, lo + n)
    targets: dict[int, list[int]] = {}
    for j in [*range(lo), *range(lo + n, lo + n + hi)]:
        targets.setdefault(int(src[j]), []).append(j)
    run: list[int] = []
    for t in sorted(targets) + [None]:
        if run and (t is None or t != run[-1] + 1):  # one contiguous run of targets
            slab = da.concatenate([sum(take(j, j + 1) for j in targets[r]) for r in run], axis=axis)
            pad = [(0, 0)] * v.ndim
            pad[axis] = (run[0], n - 1 - run[-1])
            # keep the interior's chunks (the slab's thin pieces would otherwise split every block)
            out = out + da.pad(slab, pad).rechunk(interior.chunks)
            run = []
        if t is not None:
            run.append(t)
    return out


def operator_apply(op, v, *, adjoint: bool):
    """``A v`` (``adjoint=False``) or ``A^T v`` of the :class:`~tconv.ConvOperator` ``op``, for a Dask
    vector ``(n,)`` or block of vectors ``(n, k)``."""
    import dask.array as da

    g = op.geometry
    n_in, n_out = op.shape[1], op.shape[0]
    n, what = (n_out, "y") if adjoint else (n_in, "x")
    _check(op, v, n, what)
    cols = 1 if v.ndim == 1 else v.shape[1]
    v = v.astype(op.dtype)
    spatial = g.y_shape if adjoint else op.input_shape
    chans = g.y_channels if adjoint else g.x_channels
    batch = (v.reshape(n, 1) if v.ndim == 1 else v).T.reshape(cols, chans, *spatial)
    # a flat vector's chunks reshape into slivers (a few rows each): regroup them into blocks of
    # Dask's configured size (array.chunk-size) before the convolution plans its halo per block
    batch = batch.rechunk((1, -1) + ("auto",) * g.nd)
    if not adjoint:
        if op.boundary != "zeros":
            batch = da.pad(batch, ((0, 0), (0, 0), *op.pads), mode=_PAD_MODES[op.boundary])
        out = apply(batch, op.weight, None, g, transpose=False, method=op.method)
    else:
        out = apply(batch, op.weight, None, g, transpose=True, method=op.method)
        if op.boundary != "zeros":
            src = op._boundary.src
            for ax, (lo, hi) in enumerate(op.pads):
                out = _fold(out, ax + 2, lo, hi, src[ax])
    return out.reshape(-1) if v.ndim == 1 else out.reshape(cols, -1).T
