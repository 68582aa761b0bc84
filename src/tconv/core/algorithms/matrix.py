"""``matrix``: build the sparse ``C_K`` and multiply (``C_K^T`` for the transpose).

A reference algorithm. float32 products are summed in float64 (SciPy's sparse products
sum naively in the array's dtype). The weight gradient differentiates ``C_K``'s entries:
every entry of ``C_K`` is one weight, so ``dW`` sums ``Y[row] * X[col]`` over the entries
of each weight.
"""

from __future__ import annotations

import math

import numpy as np

from ..sparse import matrix_from_geometry
from ..taps import poison_padded_products
from ._base import Algorithm, register


def _wide(a: np.ndarray) -> np.ndarray:
    return a.astype(np.float64, copy=False) if a.dtype == np.float32 else a


@register
class Matrix(Algorithm):
    name = "matrix"
    reference = True

    def scratch_bytes(self, geom, batch, itemsize, op):
        return geom.macs() * (itemsize + 16) + geom.macs(batch) * 8 * (op == "weight_grad")

    def cost(self, geom, batch, itemsize, op):
        return geom.macs() * 6e-8 + geom.macs(batch) * 2e-9

    def conv(self, x, w, geom):
        c = matrix_from_geometry(_wide(w), geom, "csr")
        n = x.shape[0]
        y = (c @ _wide(x).reshape(n, -1).T).T.astype(x.dtype, copy=False)
        return poison_padded_products(y.reshape(n, geom.y_channels, *geom.y_shape), w, geom)

    def conv_transpose(self, y, w, geom):
        ct = matrix_from_geometry(_wide(w), geom, "csc").T  # CSR of C^T
        n = y.shape[0]
        x = (ct @ _wide(y).reshape(n, math.prod(y.shape[1:])).T).T.astype(y.dtype, copy=False)
        return x.reshape(n, geom.x_channels, *geom.x_shape)

    def weight_grad(self, y_side, x_side, geom):
        ids = np.arange(math.prod(geom.weight_shape), dtype=np.float64).reshape(geom.weight_shape)
        c = matrix_from_geometry(ids, geom, "coo")  # entry value = which weight it holds
        n = y_side.shape[0]
        ys = _wide(y_side).reshape(n, -1)[:, c.row]
        xs = _wide(x_side).reshape(n, -1)[:, c.col]
        per_entry = np.einsum("ne,ne->e", ys, xs)
        gw = np.bincount(c.data.astype(np.int64), weights=per_entry, minlength=ids.size)
        return gw.astype(np.result_type(y_side, x_side)).reshape(geom.weight_shape)
