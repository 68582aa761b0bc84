"""Complex data (complex64/complex128) through real arithmetic, at the front end.

Convolution is bilinear in (input, weight), so with ``x = a + ib`` and ``w = c + id`` the complex
result takes three real convolutions (Gauss's trick): ``k1 = B(a + b, c)``, ``k2 = B(a, d - c)``,
``k3 = B(b, c + d)``, ``Re = k1 - k3``, ``Im = k1 + k2``; two when only one operand is complex
(``B(a, w)``, ``B(b, w)``). Each real convolution is the usual call (every algorithm, layout and
``padding_mode``); complex64 computes in float32, complex128 in float64. The VJPs follow PyTorch's
convention for complex tensors (the gradient is ``A^H g``: ``grad_x`` uses ``conj(w)``,
``grad_w`` uses ``conj(x)``), three real VJP calls by the same trick.

>>> import numpy as np, tconv
>>> x = np.array([[[1 + 2j, 3 - 1j]]]); w = np.array([[[1j, 2.0]]])
>>> tconv.conv_transpose(x, w).tolist()
[[[(-2+1j), (3+7j), (6-2j)]]]
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ...errors import TconvTypeError
from ..dask._detect import is_dask_array

__all__ = ["real_dtype", "forward", "vjp", "REAL_PRODUCTS"]

# what explain-like reports say about complex inputs
REAL_PRODUCTS = "complex x complex: 3 real products (Gauss's trick); complex x real: 2"


def real_dtype(*arrays) -> np.dtype:
    """The real dtype the parts are computed in: float32 for complex64 (and float32/16), else float64."""
    dt = np.result_type(*[a.dtype if hasattr(a, "dtype") else np.asarray(a).dtype for a in arrays if a is not None])
    if dt.kind not in "cfiu":
        raise TconvTypeError(f"dtype {dt} cannot be convolved; give real or complex numeric arrays")
    return np.dtype(np.float32) if dt in (np.complex64, np.float32, np.float16) else np.dtype(np.float64)


def _parts(a, rdt):
    """Real and imaginary parts (contiguous NumPy arrays: the one copy of the input; or lazy Dask ones)."""
    if a is None:
        return None, None
    if not is_dask_array(a):
        a = np.asarray(a)
        if np.iscomplexobj(a):
            return np.ascontiguousarray(a.real, dtype=rdt), np.ascontiguousarray(a.imag, dtype=rdt)
        return a.astype(rdt, copy=False), None
    if np.iscomplexobj(a):  # a Dask array: lazily
        return a.real.astype(rdt), a.imag.astype(rdt)
    return a.astype(rdt), None


def _join(re, im, rdt):
    cdt = np.complex64 if rdt == np.float32 else np.complex128
    if is_dask_array(re):
        return (re + 1j * im).astype(cdt)
    out = np.empty(re.shape, dtype=cdt)
    out.real, out.imag = re, im
    return out


def forward(call, x, w, bias, *, next):
    """The next stage (a real bilinear convolution plus bias) on the real parts of complex operands.
    The weight owner's transform cache goes down only with a complex input and a real weight (every
    product then uses the weight itself); otherwise the products use other weights, and it is dropped."""
    rdt = real_dtype(x, w, bias)
    a, b = _parts(x, rdt)
    c, d = _parts(w, rdt)
    if call is not None and (d is not None or b is None):
        call = replace(call, cache=None)

    def fn(a, v, b):
        return next(call, a, v, b)

    br, bi = _parts(bias, rdt)
    if bi is None and bias is not None:
        bi = np.zeros_like(br)
    if b is not None and d is not None:  # Gauss: three real products
        k1 = fn(a + b, c, None)
        k2 = fn(a, d - c, bi)
        k3 = fn(b, c + d, None if br is None else -br)
        return _join(k1 - k3, k1 + k2, rdt)
    if b is not None:  # complex input, real weight
        return _join(fn(a, c, br), fn(b, c, bi), rdt)
    if d is not None:  # real input, complex weight
        return _join(fn(a, c, br), fn(a, d, bi), rdt)
    re = fn(a, c, br)  # only the bias is complex
    return _join(re, fn(a, np.zeros_like(c), bi), rdt)


def vjp(call, grad_output, x, w, bias, *, next):
    """The next stage's VJP ``(B1(g, w), B2(g, x), sum g)`` for complex data, PyTorch's convention:
    ``(B1(g, conj w), B2(g, conj x), sum g)``, three real VJP calls (Gauss's trick), with other
    weights than ``w`` (its parts' sums and differences): the weight owner's transform cache is dropped."""
    if call is not None:
        call = replace(call, cache=None)

    def fn(g, a, v, b):
        return next(call, g, a, v, b)

    rdt = real_dtype(grad_output, x, w, bias)
    gr, gi = _parts(grad_output, rdt)
    xr, xi = _parts(np.conj(x), rdt)
    wr, wi = _parts(np.conj(w), rdt)
    gi = np.zeros_like(gr) if gi is None else gi
    xi = np.zeros_like(xr) if xi is None else xi
    wi = np.zeros_like(wr) if wi is None else wi
    zb = None if bias is None else np.zeros(np.shape(bias), rdt)
    # B(g, v) with g = gr + i gi, v = vr + i vi: k1 = B(gr + gi, vr), k2 = B(gr, vi - vr), k3 = B(gi, vr + vi)
    k1 = fn(gr + gi, xr, wr, zb)
    k2 = fn(gr, xi - xr, wi - wr, zb)
    k3 = fn(gi, xr + xi, wr + wi, zb)
    gx = _join(k1[0] - k3[0], k1[0] + k2[0], rdt)
    gw = _join(k1[1] - k3[1], k1[1] + k2[1], rdt)
    gb = None if bias is None else _join(k2[2], k3[2], rdt)
    return gx, gw, gb
