"""tconv: transposed convolution, exact, fast and visible.

The package is three layers, one folder each (a module's folder says what it may import):

* :mod:`tconv.core`: numbers in, numbers out (geometry, the algorithm registry, the planner,
  the plain dispatch); imports only ``core`` and :mod:`tconv.errors`;
* :mod:`tconv.api`: what users call (the functions, the conventions chain, the framework front
  ends, ``ConvOperator``, the layers, Dask); imports ``core``, never ``tools``;
* :mod:`tconv.tools`: programs and pictures (the command line, ``viz``, the explorer, the
  benchmark); nothing in ``core`` or ``api`` imports them.

This module only re-exports. ``tconv.onnx``, ``tconv.keras``, ``tconv.jax`` and
``tconv.testing`` are the modules of :mod:`tconv.api` under their public names (as ``os.path``
is ``posixpath``); ``tconv.dask`` and ``tconv.viz`` load on first import.

>>> import numpy as np, tconv
>>> C = tconv.conv_matrix(np.arange(1.0, 10.0).reshape(1, 1, 3, 3), (4, 4))
>>> (C @ C.T).toarray()[0, 0]
np.float64(285.0)
"""

from __future__ import annotations

import sys as _sys

from .api import testing
from .api.explain import explain
from .api.frameworks import jax, keras, onnx
from .api.functional import (
    conv,
    conv1d,
    conv2d,
    conv3d,
    conv_transpose,
    conv_transpose1d,
    conv_transpose2d,
    conv_transpose3d,
)
from .api.grad import conv_transpose_vjp, conv_vjp
from .api.layers import Conv, ConvTranspose, from_torch
from .api.matrix import conv_matrix
from .api.operator import ConvOperator
from .core.algorithms import ALGORITHMS
from .core.geometry import (
    ConvGeometry,
    conv_geometry,
    conv_transpose_geometry,
    conv_transpose_output_padding,
    conv_transpose_output_shape,
    conv_transpose_padding,
    output_shape,
)
from .core.options import get_options, set_options
from .errors import TconvError, TconvTypeError
from .tools.translate import translate

for _name, _module in (("onnx", onnx), ("keras", keras), ("jax", jax), ("testing", testing)):
    _sys.modules[f"{__name__}.{_name}"] = _module

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


def __getattr__(name: str):
    # tconv.dask and tconv.viz as attributes too, loaded on first use
    if name in ("dask", "viz"):
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
