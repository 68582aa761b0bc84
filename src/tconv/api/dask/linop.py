"""``ConvOperator.matvec`` / ``rmatvec`` on Dask vectors (every boundary mode), lazily.

``matvec`` pads (the operator's :class:`~tconv.core.padding.Boundary`, which maps onto
``dask.array.pad``) and runs the chunked ``conv``; ``rmatvec`` runs the chunked ``conv_transpose``
and folds each padded margin back onto the cells it copied (the same ``Boundary.fold`` as the
NumPy operator's).
"""

from __future__ import annotations

from ...errors import TconvError
from ._graph import apply

__all__ = ["operator_apply"]

def _check(op, v, n: int, what: str):
    from .ops import _float_dtype

    _float_dtype(what, v)
    if v.ndim == 0 or v.ndim > 2 or v.shape[0] != n:
        raise TconvError(f"{what} has shape {v.shape}; this operator of shape {op.shape} needs ({n},) or ({n}, k)")


def operator_apply(op, v, *, adjoint: bool):
    """``A v`` (``adjoint=False``) or ``A^T v`` of the :class:`~tconv.ConvOperator` ``op``, for a Dask
    vector ``(n,)`` or block of vectors ``(n, k)``."""

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
            batch = op._boundary.pad(batch)  # P: dask.array.pad through np.pad
        out = apply(batch, op.weight, None, g, transpose=False, method=op.method)
    else:
        out = apply(batch, op.weight, None, g, transpose=True, method=op.method)
        if op.boundary != "zeros":
            out = op._boundary.fold(out)  # P^T: slices of the margins, the interior's chunks kept
    return out.reshape(-1) if v.ndim == 1 else out.reshape(cols, -1).T
