"""The explicit sparse matrix ``C_K`` of ``conv`` for one sample, from a geometry.

>>> import numpy as np
>>> from tconv.core.geometry import conv_geometry
>>> C = matrix_from_geometry(np.arange(1.0, 10.0).reshape(1, 1, 3, 3), conv_geometry((1, 1, 3, 3), (4, 4)))
>>> C.shape
(4, 16)
>>> C.toarray()[0].astype(int).tolist()
[1, 2, 3, 0, 4, 5, 6, 0, 7, 8, 9, 0, 0, 0, 0, 0]
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp

from ..errors import TconvError
from .geometry import ConvGeometry
from .options import check_bytes
from .taps import flat_positions

__all__ = ["matrix_from_geometry", "FORMATS"]

FORMATS = ("csr", "csc", "coo", "bsr", "lil", "dok", "dia")


def matrix_from_geometry(
    weight: np.ndarray, geom: ConvGeometry, format: str = "csr"
) -> sp.sparray:
    """``C_K`` for an already normalised geometry (rows: ``(y_channels, *y_shape)``,
    columns: ``(x_channels, *x_shape)``, both C-order). Built without any Python
    loop over pixels: one broadcast over (channel, channel, pixel, tap)."""
    if format not in FORMATS:
        raise TconvError(f"format={format!r} is not a scipy.sparse format; use one of {FORMATS}")
    g = geom.groups
    cyg, cxg = geom.y_channels // g, geom.x_channels // g
    m, xsize, k = math.prod(geom.y_shape), math.prod(geom.x_shape), math.prod(geom.kernel)
    entries = geom.y_channels * m * cxg * k  # an upper bound of the non-zeros
    check_bytes(entries * (weight.itemsize + 8 + 8 + 1) + m * k * 9, "the sparse matrix C_K",
                f"up to {entries} entries = C_out {geom.y_channels} x outputs {m} x C_in/groups {cxg} x "
                f"kernel taps {k} (output shape {geom.y_shape} from input shape {geom.x_shape})")
    pos, valid = flat_positions(geom)  # (m, k): tap t of output j reads input pos[j, t]
    # Entries in the order (row channel cy, output j, column channel cx, tap t): within a row the
    # columns then ascend (channel blocks, and positions grow with the tap), so the CSR arrays
    # are written directly, without a sort.
    cy = np.arange(geom.y_channels, dtype=np.int64)
    block = ((cy // cyg)[:, None] * cxg + np.arange(cxg, dtype=np.int64)[None, :]) * xsize  # (Cy, cxg)
    mask = np.broadcast_to(valid[None, :, None, :], (geom.y_channels, m, cxg, k))
    cols = (block[:, None, :, None] + pos[None, :, None, :])[mask]
    wk = weight.reshape(geom.y_channels, cxg, k)
    vals = np.broadcast_to(wk[:, None, :, :], mask.shape)[mask]
    per_row = np.broadcast_to((valid.sum(axis=1) * cxg)[None, :], (geom.y_channels, m)).ravel()
    indptr = np.zeros(per_row.size + 1, dtype=np.int64)
    np.cumsum(per_row, out=indptr[1:])
    shape = (geom.y_channels * m, geom.x_channels * xsize)
    csr = sp.csr_array((vals, cols, indptr), shape=shape)
    csr.has_sorted_indices = True
    return csr if format == "csr" else csr.asformat(format)
