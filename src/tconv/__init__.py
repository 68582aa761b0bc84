"""tconv: transposed convolution, exact, fast and visible.

>>> import numpy as np, tconv
>>> C = tconv.conv_matrix(np.arange(1.0, 10.0).reshape(1, 1, 3, 3), (4, 4))
>>> (C @ C.T).toarray()[0, 0]
np.float64(285.0)
"""

from __future__ import annotations

from . import (
    jax,
    keras,
    onnx,
    testing,  # noqa: E402
)
from .algorithms import ALGORITHMS
from .backends import register_backend, register_conventions
from .dask._detect import is_dask_array
from .errors import TconvError, TconvTypeError
from .functional import (
    conv,
    conv1d,
    conv2d,
    conv3d,
    conv_transpose,
    conv_transpose1d,
    conv_transpose2d,
    conv_transpose3d,
)
from .geometry import (
    ConvGeometry,
    conv_geometry,
    conv_transpose_geometry,
    conv_transpose_output_padding,
    conv_transpose_output_shape,
    conv_transpose_padding,
    output_shape,
)
from .grad import conv_transpose_vjp, conv_vjp
from .layers import Conv, ConvTranspose, from_torch
from .matrix import conv_matrix
from .operator import ConvOperator
from .options import get_options, set_options
from .reports import explain
from .translate import translate


def _load_dask_backend():
    from . import dask

    return dask


def _load_conventions():
    from . import frontend

    return frontend


register_backend("dask", is_dask_array, _load_dask_backend)
register_conventions(_load_conventions)

__version__ = "0.1.0"

__all__ = [
    "ALGORITHMS",
    "Conv",
    "ConvTranspose",
    "ConvGeometry",
    "ConvOperator",
    "TconvError",
    "TconvTypeError",
    "conv",
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_geometry",
    "conv_matrix",
    "conv_transpose",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
    "conv_transpose_geometry",
    "conv_transpose_output_padding",
    "conv_transpose_output_shape",
    "conv_transpose_padding",
    "conv_transpose_vjp",
    "conv_vjp",
    "explain",
    "explain",
    "from_torch",
    "get_options",
    "jax",
    "keras",
    "onnx",
    "output_shape",
    "set_options",
    "testing",
    "translate",
]
