"""The conventions front end: every call that is not plain (channels first, PyTorch weight layout,
zeros padding, real float32/float64 data) comes here from the one hook in each public function.
Each layer removes one convention and calls the public function again, so they compose:

1. half precision / ``out_dtype`` (:mod:`tconv.halfprec`): widen to float32, round the result once;
2. complex data (:mod:`tconv.complexconv`): real products (Gauss's trick);
3. layouts (:mod:`tconv.layout`): channels-last and kernel layouts as views;
4. boundary modes (:mod:`tconv.boundary`): pad / fold around the plain call.

>>> import numpy as np, tconv
>>> x = (np.arange(6.0) + 1j).reshape(1, 3, 2).astype(np.complex64)       # (N, W, C), complex
>>> tconv.conv(x, np.ones((2, 2, 1)), padding=1, padding_mode="circular", data_format="channels_last",
...            weight_format="keras").shape
(1, 4, 1)
"""

from __future__ import annotations

import numpy as np

from .boundary import check_mode
from .halfprec import is_half

__all__ = ["conv_transpose", "conv", "conv_transpose_vjp", "conv_vjp"]


def _complex(*arrays) -> bool:
    return any(a is not None and np.iscomplexobj(a) for a in arrays)


def conv_transpose(x, weight, bias, stride, padding, output_padding, groups, dilation, output_size, padding_mode,
                   data_format, weight_format, out_dtype, method, rank):
    from . import functional

    kw = dict(stride=stride, padding=padding, output_padding=output_padding, groups=groups, dilation=dilation,
              output_size=output_size, padding_mode=padding_mode, data_format=data_format,
              weight_format=weight_format, method=method, _rank=rank)
    if out_dtype is not None or is_half(x, weight, bias):
        from . import halfprec

        return halfprec.run(functional.conv_transpose, x, weight, bias, out_dtype, **kw)
    if _complex(x, weight, bias):
        from . import complexconv

        return complexconv.bilinear(functional.conv_transpose, x, weight, bias, **kw)
    if data_format != "channels_first" or weight_format != "torch":
        from . import layout

        del kw["data_format"], kw["weight_format"], kw["groups"]
        return layout.forward(functional.conv_transpose, "conv_transpose", x, weight, bias, data_format,
                              weight_format, groups, **kw)
    from . import boundary

    return boundary.conv_transpose(x, weight, bias, stride, padding, output_padding, groups, dilation, output_size,
                                   check_mode(padding_mode), method, rank)


def conv(x, weight, bias, stride, padding, dilation, groups, padding_mode, data_format, weight_format, out_dtype,
         method, rank):
    from . import functional

    kw = dict(stride=stride, padding=padding, dilation=dilation, groups=groups, padding_mode=padding_mode,
              data_format=data_format, weight_format=weight_format, method=method, _rank=rank)
    if out_dtype is not None or is_half(x, weight, bias):
        from . import halfprec

        return halfprec.run(functional.conv, x, weight, bias, out_dtype, **kw)
    if _complex(x, weight, bias):
        from . import complexconv

        return complexconv.bilinear(functional.conv, x, weight, bias, **kw)
    if data_format != "channels_first" or weight_format != "torch":
        from . import layout

        del kw["data_format"], kw["weight_format"], kw["groups"]
        return layout.forward(functional.conv, "conv", x, weight, bias, data_format, weight_format, groups, **kw)
    from . import boundary

    return boundary.conv(x, weight, bias, stride, padding, dilation, groups, check_mode(padding_mode), method, rank)


def conv_transpose_vjp(grad_output, x, weight, bias, stride, padding, output_padding, groups, dilation, output_size,
                       padding_mode, data_format, weight_format, method):
    from . import grad

    kw = dict(stride=stride, padding=padding, output_padding=output_padding, groups=groups, dilation=dilation,
              output_size=output_size, padding_mode=padding_mode, data_format=data_format,
              weight_format=weight_format, method=method)
    if is_half(grad_output, x, weight, bias):
        from . import halfprec

        return halfprec.run_vjp(grad.conv_transpose_vjp, grad_output, x, weight, bias, **kw)
    if _complex(grad_output, x, weight, bias):
        from . import complexconv  # PyTorch's convention: grad_x = A^H g

        return complexconv.vjp(grad.conv_transpose_vjp, grad_output, x, weight, bias, **kw)
    if data_format != "channels_first" or weight_format != "torch":
        from . import layout

        del kw["data_format"], kw["weight_format"], kw["groups"]
        return layout.vjp(grad.conv_transpose_vjp, "conv_transpose", grad_output, x, weight, bias, data_format,
                          weight_format, groups, **kw)
    from . import boundary

    return boundary.conv_transpose_vjp(grad_output, x, weight, bias, stride, padding, output_padding, groups,
                                       dilation, output_size, check_mode(padding_mode), method)


def conv_vjp(grad_output, x, weight, bias, stride, padding, dilation, groups, padding_mode, data_format,
             weight_format, method):
    from . import grad

    kw = dict(stride=stride, padding=padding, dilation=dilation, groups=groups, padding_mode=padding_mode,
              data_format=data_format, weight_format=weight_format, method=method)
    if is_half(grad_output, x, weight, bias):
        from . import halfprec

        return halfprec.run_vjp(grad.conv_vjp, grad_output, x, weight, bias, **kw)
    if _complex(grad_output, x, weight, bias):
        from . import complexconv  # PyTorch's convention: grad_x = A^H g

        return complexconv.vjp(grad.conv_vjp, grad_output, x, weight, bias, **kw)
    if data_format != "channels_first" or weight_format != "torch":
        from . import layout

        del kw["data_format"], kw["weight_format"], kw["groups"]
        return layout.vjp(grad.conv_vjp, "conv", grad_output, x, weight, bias, data_format, weight_format, groups,
                          **kw)
    from . import boundary

    return boundary.conv_vjp(grad_output, x, weight, bias, stride, padding, dilation, groups,
                             check_mode(padding_mode), method)
