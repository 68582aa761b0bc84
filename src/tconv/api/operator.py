"""``ConvOperator``: the convolution as a SciPy ``LinearOperator`` with an exact adjoint.

``matvec`` is :func:`tconv.conv` and ``rmatvec`` is :func:`tconv.conv_transpose`, on
flattened ``(C_in, *input_shape)`` / ``(C_out, *output_shape)`` vectors. Boundary modes
other than ``"zeros"`` are pad-then-convolve: ``A = C_valid P`` with ``P`` the padding
operator, so the adjoint is ``P^T C_valid^T``: the padded margins are folded back onto
the pixels they copy (not "correlate with the same boundary mode", which is not the
adjoint for reflect/replicate).

>>> import numpy as np
>>> from tconv.testing import dottest
>>> A = ConvOperator(np.ones((1, 1, 3, 3)), (8, 8), stride=2, padding=1, boundary="reflect")
>>> A.shape
(16, 64)
>>> dottest(A, rng=0) < 1e-12
True
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import LinearOperator

from ..core.border import BorderPlan
from ..core.dispatch import run
from ..core.geometry import conv_geometry, weight_rank
from ..core.options import check_bytes
from ..core.padding import BOUNDARIES, Boundary
from ..core.params import PadSpec, as_float_array, shown
from ..core.sparse import matrix_from_geometry
from ..errors import TconvError, TconvTypeError
from .conventions import complexdata
from .dask._detect import is_dask_array
from .names import checked_names

__all__ = ["ConvOperator", "BOUNDARIES"]


class ConvOperator(LinearOperator):
    """``A x = conv(x, weight, ...)`` on one sample, as a ``LinearOperator``.

    Parameters
    ----------
    weight : ``(C_out, C_in // groups, *kernel)`` (PyTorch conv layout), or a bare PSF of the image's rank
        (read as ``psf[None, None]``: one channel in, one out).
    input_shape : spatial shape of ``x`` (the vector has ``C_in * prod(input_shape)`` entries).
    stride, padding, dilation, groups : as :func:`tconv.conv` (``padding="same"`` included).
    padding_mode : ``"zeros"`` | ``"reflect"`` | ``"replicate"`` | ``"circular"`` | ``"symmetric"``: what the padding
        holds (``"symmetric"``: the edge pixel repeated, SciPy ndimage's ``reflect``; README "Boundary modes"),
        the functions' name; ``boundary`` is the same parameter under its older name (give one of them).
    data_format : how vectors are flattened: ``"channels_first"`` ``(C, *spatial)`` or ``"channels_last"``.
    weight_format : the kernel layout (``"torch"``, ``"keras"``, ``"jax"`` or a spec; :mod:`tconv.api.conventions.layout`).
    dtype : float32, float64, complex64 or complex128 (default: the weight's dtype). Complex operators
        compute with real arithmetic (:mod:`tconv.api.conventions.complexdata`); ``.H`` is the conjugate transpose.
    method : the algorithm for both directions (``"auto"`` or a name in ``tconv.ALGORITHMS``).
    """

    @checked_names
    def __init__(
        self,
        weight: np.ndarray,
        input_shape: Sequence[int],
        stride: int | Sequence[int] = 1,
        padding: PadSpec = 0,
        dilation: int | Sequence[int] = 1,
        groups: int = 1,
        *,
        boundary: str | None = None,
        padding_mode: str | None = None,
        dtype: np.dtype | type | str | None = None,
        method: str = "auto",
        data_format: str = "channels_first",
        weight_format: str = "torch",
    ) -> None:
        from .conventions import layout

        if (weight_format == "torch" and not isinstance(input_shape, (str, bytes, int, np.integer))
                and np.ndim(weight) == len(input_shape)):
            weight = np.asarray(weight)[None, None]  # a bare PSF of the image's rank
        w = layout.to_torch_weight(weight, weight_format, "conv")
        w = np.asarray(w) if np.iscomplexobj(w) else as_float_array("weight", w)  # complex: tconv.api.conventions.complexdata
        if boundary is not None and padding_mode is not None and boundary != padding_mode:
            raise TconvError(f"padding_mode={padding_mode!r} and boundary={boundary!r} were both given; they are "
                             "the same parameter (boundary is its older name): give one")
        name = "boundary" if boundary is not None else "padding_mode"
        boundary = boundary if boundary is not None else padding_mode if padding_mode is not None else "zeros"
        if boundary not in BOUNDARIES:
            raise TconvError(f"{name}={boundary!r} must be one of {', '.join(BOUNDARIES)}")
        try:
            dt = np.dtype(w.dtype if dtype is None else dtype)
        except TypeError:
            raise TconvTypeError(f"dtype={shown(dtype)} is not a NumPy dtype; use float32 or float64") from None
        if dt not in (np.float32, np.float64, np.complex64, np.complex128) or (
                np.iscomplexobj(w) and dt.kind != "c"):
            raise TconvError(f"dtype={dt} must be float32 or float64 (or complex64/complex128; complex for a "
                             "complex weight)")
        nd = weight_rank(w.shape)
        if isinstance(input_shape, (int, np.integer)) or isinstance(input_shape, str):
            raise TconvTypeError(
                f"input_shape={shown(input_shape)} must be a sequence of {nd} ints, one per spatial axis of the "
                f"weight {w.shape}"
            )
        self.weight = w.astype(dt)
        self._spectra: dict = {}  # the weight's transforms, for method fft (the operator owns its weight)
        self.boundary = boundary
        self.method = method
        geom = conv_geometry(w.shape, input_shape, stride, padding, dilation, groups)
        self.input_shape = geom.x_shape
        self.pads = geom.pads
        self._border = None  # the boundary as the zero-padded call plus its border (tconv.core.border)
        if boundary == "zeros":
            self.geometry = geom
        else:
            self._boundary = Boundary(boundary, self.pads, self.input_shape)  # the one pad/fold (tconv.api.conventions.padding_mode)
            self.geometry = geom.on_padded_input()
            border = BorderPlan(geom, self._boundary)
            if border.usable and dt.kind == "f" and border.cheaper(method, dt):
                self._border = border
        g = self.geometry
        self.output_shape = g.y_shape
        # vectors flattened in data_format: position j holds channels-first entry perm[j] (None: identity)
        self.data_format = layout.check_data_format(data_format)
        self._px = layout.flat_permutation(g.x_channels, self.input_shape, data_format)
        self._py = layout.flat_permutation(g.y_channels, g.y_shape, data_format)
        shape = (g.y_channels * math.prod(g.y_shape), g.x_channels * math.prod(self.input_shape))
        super().__init__(dtype=dt, shape=shape)

    @property
    def padding_mode(self) -> str:
        """What the padding holds (the same as :attr:`boundary`)."""
        return self.boundary

    # -- padding operator P and its adjoint (boundary modes other than zeros): tconv.api.conventions.padding_mode
    def _pad(self, x: np.ndarray) -> np.ndarray:
        # into a buffer kept per thread and shape: a fresh padded array each call costs its new pages
        # (measured: +1 ms on a 512^2 matvec, 40% of it)
        local = self.__dict__.setdefault("_pad_local", threading.local())
        shape = (*x.shape[:-len(self.input_shape)], *self._boundary.padded_shape)
        buf = getattr(local, "buf", None)
        if buf is None or buf.shape != shape or buf.dtype != x.dtype:
            buf = local.buf = np.empty(shape, dtype=x.dtype)
        return self._boundary.pad(x, out=buf)

    def _unpad(self, v: np.ndarray) -> np.ndarray:
        return self._boundary.fold(v, overwrite=True)  # v: this call's own transposed convolution

    # -- shapes
    def _as_batch(self, v: np.ndarray, cols: int, side: str) -> np.ndarray:
        g = self.geometry
        if side == "x":
            return v.T.reshape(cols, g.x_channels, *self.input_shape)
        return v.T.reshape(cols, g.y_channels, *g.y_shape)

    def _check(self, v, n: int, what: str, via: str = "") -> np.ndarray:
        """``v`` as an array of ``n`` rows (one vector or ``k`` columns), or an error that says which side
        (the forward side takes ``x``-shaped vectors, the adjoint side ``y``-shaped ones) and what was
        expected: shapes and dtypes only, never the contents."""
        if not hasattr(v, "shape") or not hasattr(v, "dtype"):
            v = np.asarray(v)
        a = v if np.iscomplexobj(v) else as_float_array(what, v)
        if a.ndim == 0 or a.shape[0] != n or a.ndim > 2:
            g = self.geometry
            if n == self.shape[1]:
                side = (f"the forward side (conv, A @ x) takes vectors of C_in * prod(input_shape) = "
                        f"{g.x_channels} * {'*'.join(map(str, self.input_shape))} = {n} entries")
            else:
                side = (f"the adjoint side (conv_transpose, A.H @ y, A.T @ y, A.rmatvec) takes vectors of "
                        f"C_out * prod(output_shape) = {g.y_channels} * {'*'.join(map(str, g.y_shape))} = {n} entries")
            raise TconvError(
                f"{what} has shape {a.shape} (dtype {a.dtype}){via}; {side}: give ({n},) or ({n}, k) "
                f"(the operator has shape {self.shape})"
            )
        return a.astype(np.result_type(a, self.dtype), copy=False)

    def _real(self, op: str):
        """One real direction of the geometry, as the next stage of :func:`tconv.api.conventions.complexdata.forward`."""
        g = self.geometry

        def real_run(_call, a, w, _bias=None):
            return run(self.method, op, a, w, g)

        return real_run

    def _forward(self, x_batch: np.ndarray) -> np.ndarray:
        if self._sliced(x_batch):
            return self._border.forward(x_batch, self.weight, self.method)
        if self.boundary != "zeros":
            x_batch = self._pad(x_batch)
        if np.iscomplexobj(x_batch) or np.iscomplexobj(self.weight):
            return complexdata.forward(None, x_batch, self.weight, None, next=self._real("conv"))
        return run(self.method, "conv", x_batch, self.weight, self.geometry, cache=self._spectra)

    def _sliced(self, batch: np.ndarray) -> bool:
        """A boundary mode run as the zero-padded call plus its border (real data, a thin border; the
        weight is real whenever ``_border`` is set: the operator's dtype is)."""
        return self._border is not None and not np.iscomplexobj(batch)

    def _backward(self, y_batch: np.ndarray) -> np.ndarray:
        if self._sliced(y_batch):
            return self._border.adjoint(y_batch, self.weight, self.method)
        g = self.geometry
        if np.iscomplexobj(y_batch) or np.iscomplexobj(self.weight):  # A^H: the conjugated weight
            x = complexdata.forward(None, y_batch, np.conj(self.weight), None, next=self._real("conv_transpose"))
            return self._unpad(x) if self.boundary != "zeros" else x
        x = run(self.method, "conv_transpose", y_batch, self.weight, g, cache=self._spectra)
        return self._unpad(x) if self.boundary != "zeros" else x

    # -- LinearOperator protocol
    # the public matvec/rmatvec/matmat/rmatmat below validate; these only convert
    def _matmat(self, X):
        X = np.asarray(X)
        X = X.astype(np.result_type(X, self.dtype), copy=False)
        cols = X.shape[1] if X.ndim == 2 else 1
        X = X.reshape(self.shape[1], cols)
        if self._px is not None:  # channels_last vectors
            X = X[np.argsort(self._px)]
        y = self._forward(self._as_batch(X, cols, "x")).reshape(cols, -1).T
        return y if self._py is None else y[self._py]

    def _rmatmat(self, Y):
        Y = np.asarray(Y)
        Y = Y.astype(np.result_type(Y, self.dtype), copy=False)
        cols = Y.shape[1] if Y.ndim == 2 else 1
        Y = Y.reshape(self.shape[0], cols)
        if self._py is not None:
            Y = Y[np.argsort(self._py)]
        x = self._backward(self._as_batch(Y, cols, "y")).reshape(cols, -1).T
        return x if self._px is None else x[self._px]

    def _matvec(self, x):
        return self._matmat(np.reshape(x, (-1, 1)) if np.ndim(x) == 1 else x).reshape(-1)

    def _rmatvec(self, y):
        return self._rmatmat(np.reshape(y, (-1, 1)) if np.ndim(y) == 1 else y).reshape(-1)

    def matvec(self, x):
        if is_dask_array(x):  # e.g. a Dask vector: lazy and chunked
            return _dask_apply(self, x, adjoint=False)
        self._check(x, self.shape[1], "x")
        return super().matvec(x)

    def rmatvec(self, x):
        if is_dask_array(x):
            return _dask_apply(self, x, adjoint=True)
        self._check(x, self.shape[0], "y")
        return super().rmatvec(x)

    def matmat(self, X):
        if is_dask_array(X):
            return _dask_apply(self, X, adjoint=False)
        self._check(X, self.shape[1], "X")
        return super().matmat(X)

    def rmatmat(self, X):
        if is_dask_array(X):
            return _dask_apply(self, X, adjoint=True)
        self._check(X, self.shape[0], "Y")
        return super().rmatmat(X)

    def dot(self, x):
        return _dask_apply(self, x, adjoint=False) if is_dask_array(x) else super().dot(x)

    def _adjoint(self):
        return _Adjoint(self)

    def _transpose(self):
        return _Adjoint(self, conjugate=self.dtype.kind == "c")  # real operator: A^T == A^H

    # -- explicit matrices
    def padding_matrix(self) -> sp.csr_array:
        """The sparse padding operator ``P`` (identity for ``boundary="zeros"``)."""
        n_in = self.shape[1]
        if self.boundary == "zeros":
            return sp.eye_array(n_in, format="csr", dtype=self.dtype)
        return self._boundary.matrix(self.geometry.x_channels, self.dtype)

    def tosparse(self, format: str = "csr"):
        """The explicit sparse matrix of ``A`` (``conv_matrix`` for ``boundary="zeros"``)."""
        c = matrix_from_geometry(self.weight, self.geometry, "csr")
        if self.boundary != "zeros":
            c = sp.csr_array(c @ self.padding_matrix())
        if self._px is not None:  # rows and columns in channels_last order
            c = c[self._py][:, self._px]
        return c.asformat(format)

    def todense(self) -> np.ndarray:
        """The dense matrix of ``A`` (small geometries only: checked against the memory limit)."""
        check_bytes(self.shape[0] * self.shape[1] * self.dtype.itemsize, "ConvOperator.todense()",
                    f"a dense {self.shape[0]} x {self.shape[1]} matrix")
        return self.tosparse().toarray()

    def __repr__(self) -> str:
        g = self.geometry
        return (f"<ConvOperator {self.shape[0]}x{self.shape[1]} {self.dtype}: "
                f"{g.x_channels}x{self.input_shape} -> {g.y_channels}x{g.y_shape}, kernel {g.kernel}, "
                f"stride {g.stride}, dilation {g.dilation}, groups {g.groups}, boundary={self.boundary!r}>")


def _dask_apply(op: ConvOperator, v, adjoint: bool):
    """``A v`` or ``A^T v`` of a Dask vector: lazy and chunked (:mod:`tconv.api.dask`)."""
    from .dask.linop import operator_apply

    return operator_apply(op, v, adjoint=adjoint)


class _Adjoint(LinearOperator):
    """``A^T`` of a :class:`ConvOperator`: ``matvec`` is the transposed convolution."""

    def __init__(self, op: ConvOperator, conjugate: bool = False):
        self.op = op
        self.conjugate = conjugate  # True: the plain transpose A^T = conj(A^H conj(.)) of a complex operator
        super().__init__(dtype=op.dtype, shape=(op.shape[1], op.shape[0]))

    def _c(self, v):
        return np.conj(v) if self.conjugate else v

    def _on_backend(self, v, adjoint: bool):
        """A back end's vector (Dask): ``A^H v`` (``adjoint``) or ``A v`` through the operator, else None."""
        if not is_dask_array(v):
            return None
        if self.conjugate:
            raise TconvError("the plain transpose A.T of a complex ConvOperator is not available on Dask vectors; "
                             "use A.H")
        return _dask_apply(self.op, v, adjoint=adjoint)

    def _checked(self, v, adjoint: bool, what: str):
        if not is_dask_array(v):
            n = self.op.shape[0] if adjoint else self.op.shape[1]
            self.op._check(v, n, what, via=" given to the adjoint A.T / A.H")

    def matvec(self, y):
        out = self._on_backend(y, adjoint=True)
        if out is None:
            self._checked(y, True, "y")
        return super().matvec(y) if out is None else out

    def rmatvec(self, x):
        out = self._on_backend(x, adjoint=False)
        if out is None:
            self._checked(x, False, "x")
        return super().rmatvec(x) if out is None else out

    def matmat(self, Y):
        self._checked(Y, True, "Y")
        return super().matmat(Y)

    def rmatmat(self, X):
        self._checked(X, False, "X")
        return super().rmatmat(X)

    def dot(self, y):
        out = self._on_backend(y, adjoint=True)
        if out is None and isinstance(y, np.ndarray) and y.ndim in (1, 2):
            self._checked(y, True, "y")
        return super().dot(y) if out is None else out

    def _matvec(self, y):
        return self._c(self.op._rmatvec(self._c(y)))

    def _rmatvec(self, x):
        return self._c(self.op._matvec(self._c(x)))

    def _matmat(self, Y):
        return self._c(self.op._rmatmat(self._c(Y)))

    def _rmatmat(self, X):
        return self._c(self.op._matmat(self._c(X)))

    def _adjoint(self):
        return _Adjoint(self.op, conjugate=not self.conjugate) if self.conjugate else self.op

    def _transpose(self):
        return self.op if self.conjugate or self.dtype.kind != "c" else _Adjoint(self.op, conjugate=True)

    def tosparse(self, format: str = "csr"):
        m = self.op.tosparse("csc").T
        return (m if self.conjugate or self.dtype.kind != "c" else m.conj()).asformat(format)

    def todense(self) -> np.ndarray:
        m = self.op.todense().T
        return m if self.conjugate or self.dtype.kind != "c" else m.conj()
