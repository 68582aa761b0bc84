"""``matrix``: build the sparse ``C_K`` and multiply (``C_K^T`` for the transpose)."""

from __future__ import annotations

import math

from ..matrix import matrix_from_geometry
from ._base import Algorithm, register


@register
class Matrix(Algorithm):
    name = "matrix"
    summary = "sparse C_K (CSR) product: C_K @ x for conv, C_K^T @ y for the transpose"

    def scratch_bytes(self, geom, batch, itemsize):
        return geom.macs() * (itemsize + 16)

    def cost(self, geom, batch, itemsize):
        return geom.macs() * 6e-8 + geom.macs(batch) * 2e-9

    def conv(self, x, w, geom):
        c = matrix_from_geometry(w, geom, "csr")
        n = x.shape[0]
        y = (c @ x.reshape(n, -1).T).T
        return y.reshape(n, geom.y_channels, *geom.y_shape)

    def conv_transpose(self, y, w, geom):
        ct = matrix_from_geometry(w, geom, "csc").T  # CSR of C^T
        n = y.shape[0]
        x = (ct @ y.reshape(n, math.prod(y.shape[1:])).T).T
        return x.reshape(n, geom.x_channels, *geom.x_shape)
