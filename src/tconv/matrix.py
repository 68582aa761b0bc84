"""The explicit sparse matrix ``C_K`` of ``conv`` for one sample.

>>> import numpy as np
>>> C = conv_matrix(np.arange(1, 10).reshape(1, 1, 3, 3), (4, 4))
>>> C.shape
(4, 16)
>>> C.toarray()[0].astype(int).tolist()
[1, 2, 3, 0, 4, 5, 6, 0, 7, 8, 9, 0, 0, 0, 0, 0]
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from ._params import PadSpec, as_float_array
from .errors import TconvError
from .geometry import ConvGeometry, conv_geometry
from .options import check_bytes
from .taps import flat_positions

__all__ = ["conv_matrix", "matrix_from_geometry"]

_FORMATS = ("csr", "csc", "coo", "bsr", "lil", "dok", "dia")


def matrix_from_geometry(
    weight: np.ndarray, geom: ConvGeometry, format: str = "csr"
) -> sp.sparray:
    """``C_K`` for an already normalised geometry (rows: ``(y_channels, *y_shape)``,
    columns: ``(x_channels, *x_shape)``, both C-order). Built without any Python
    loop over pixels: one broadcast over (channel, channel, pixel, tap)."""
    if format not in _FORMATS:
        raise TconvError(f"format={format!r} is not a scipy.sparse format; use one of {_FORMATS}")
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


def conv_matrix(
    weight: np.ndarray,
    input_shape: Sequence[int],
    stride: int | Sequence[int] = 1,
    padding: PadSpec = 0,
    dilation: int | Sequence[int] = 1,
    groups: int = 1,
    *,
    format: str = "csr",
    data_format: str = "channels_first",
    weight_format: str = "torch",
) -> sp.sparray:
    """The sparse matrix ``C_K`` of :func:`tconv.conv` for one sample.

    ``weight`` has PyTorch's conv layout ``(C_out, C_in // groups, *kernel)`` and
    ``input_shape`` is the spatial shape of conv's input. The result has shape
    ``(C_out * prod(out_spatial), C_in * prod(input_shape))`` so that
    ``conv(x, weight, ...) == (C @ x.ravel()).reshape(...)`` and
    ``conv_transpose(y, weight, ...) == (C.T @ y.ravel()).reshape(...)``.
    Entries that come from zero weights are kept as explicit (structural) entries.
    ``data_format="channels_last"`` orders rows and columns as ``(*spatial, C)`` vectors;
    ``weight_format`` names the kernel layout (see :mod:`tconv.layout`).
    """
    if np.iscomplexobj(weight):  # one sparsity pattern: the real and imaginary parts' matrices add
        kw = dict(format="csr", data_format=data_format, weight_format=weight_format)
        re = conv_matrix(np.real(weight), input_shape, stride, padding, dilation, groups, **kw)
        im = conv_matrix(np.imag(weight), input_shape, stride, padding, dilation, groups, **kw)
        return sp.csr_array((re.data + 1j * im.data, re.indices, re.indptr), shape=re.shape).asformat(format)
    if data_format != "channels_first" or weight_format != "torch":
        from . import layout

        return layout.matrix(conv_matrix, weight, input_shape, stride, padding, dilation, groups, format,
                             data_format, weight_format)
    w = as_float_array("weight", weight)
    geom = conv_geometry(w.shape, input_shape, stride, padding, dilation, groups)
    return matrix_from_geometry(w, geom, format)
