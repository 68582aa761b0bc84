"""``conv_matrix``: the explicit sparse matrix ``C_K`` of ``conv`` for one sample.

>>> import numpy as np
>>> C = conv_matrix(np.arange(1, 10).reshape(1, 1, 3, 3), (4, 4))
>>> C.shape
(4, 16)
>>> C.toarray()[0].astype(int).tolist()
[1, 2, 3, 0, 4, 5, 6, 0, 7, 8, 9, 0, 0, 0, 0, 0]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from ..core.geometry import conv_geometry, conv_transpose_geometry
from ..core.params import PadSpec, as_float_array, shown
from ..core.sparse import matrix_from_geometry
from ..errors import TconvError
from .conventions import layout
from .names import checked_names

__all__ = ["conv_matrix"]


@checked_names
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
    ``input_shape`` is the spatial shape of *conv's* input, which is the transposed convolution's
    *output* (``C_K^T`` maps the transposed convolution's input ``y`` back to this shape); pictures
    and ``tconv matrix --input`` take the transposed convolution's input instead (``tconv.viz.matrix``
    builds this matrix from it). The result has shape
    ``(C_out * prod(out_spatial), C_in * prod(input_shape))`` so that
    ``conv(x, weight, ...) == (C @ x.ravel()).reshape(...)`` and
    ``conv_transpose(y, weight, ...) == (C.T @ y.ravel()).reshape(...)``.
    Entries that come from zero weights are kept as explicit (structural) entries.
    ``data_format="channels_last"`` orders rows and columns as ``(*spatial, C)`` vectors;
    ``weight_format`` names the kernel layout (see :mod:`tconv.api.conventions.layout`).
    """
    if np.iscomplexobj(weight):  # one sparsity pattern: the real and imaginary parts' matrices add
        kw = dict(format="csr", data_format=data_format, weight_format=weight_format)
        re = conv_matrix(np.real(weight), input_shape, stride, padding, dilation, groups, **kw)
        im = conv_matrix(np.imag(weight), input_shape, stride, padding, dilation, groups, **kw)
        return sp.csr_array((re.data + 1j * im.data, re.indices, re.indptr), shape=re.shape).asformat(format)
    if not (isinstance(data_format, str) and data_format == "channels_first"
            and isinstance(weight_format, str) and weight_format == "torch"):
        return layout.matrix(conv_matrix, weight, input_shape, stride, padding, dilation, groups, format,
                             data_format, weight_format)
    w = as_float_array("weight", weight)
    try:
        geom = conv_geometry(w.shape, input_shape, stride, padding, dilation, groups)
    except TconvError as exc:
        raise TconvError(f"{exc} [conv_matrix's input_shape={shown(input_shape)} is conv's input, the transposed "
                         f"convolution's output{_other(w.shape, input_shape, stride, padding, dilation, groups)}]") from None
    return matrix_from_geometry(w, geom, format)


def _other(w_shape, input_shape, stride, padding, dilation, groups) -> str:
    """``": for a transposed convolution's input of that shape, pass ..."`` where that can be computed."""
    try:
        g = conv_transpose_geometry(w_shape, input_shape, stride, padding, 0, dilation, groups)
    except (TconvError, TypeError):
        return ""
    return (f"; if {tuple(input_shape)} is the transposed convolution's input, pass its output shape "
            f"{g.x_shape} instead")
