"""Test helpers for users: the dot-product (adjoint) test, and :func:`adjoint_audit` for a pair of
functions (which says where a wrong adjoint differs: boundary rows, stride phases).

The error is measured relative to the scale of the inner products,
``|<A u, v> - <u, A^T v>| / max(||A u|| ||v||, ||u|| ||A^T v||)`` (the Cauchy-Schwarz bound of
both sides): relative to the inner products themselves it would be meaningless when random
terms cancel (an inner product of 1e-3 from terms of size 1 is common in float32).

Tolerances: float64 ``1e-12``; float32 ``1e-5`` (the operator's own float32 rounding; the
inner products and norms are accumulated in float64).

>>> import numpy as np, tconv
>>> A = tconv.ConvOperator(np.ones((2, 1, 3)), (10,), stride=2, padding="same", boundary="circular")
>>> dottest(A, rng=1) < 1e-12
True
"""

from __future__ import annotations

import numpy as np

from .audit import AdjointAudit, adjoint_audit

__all__ = ["AdjointAudit", "DotTestError", "adjoint_audit", "dottest", "TOLERANCES"]

TOLERANCES = {np.dtype(np.float64): 1e-12, np.dtype(np.float32): 1e-5}


class DotTestError(AssertionError):
    """The operator's ``rmatvec`` is not the adjoint of its ``matvec`` (within tolerance)."""


def dottest(
    op,
    *,
    rng: np.random.Generator | int | None = None,
    rtol: float | None = None,
    atol: float = 0.0,
) -> float:
    """Dot-product test ``<A u, v> == <u, A^T v>`` for random ``u``, ``v`` (complex operators:
    complex vectors and ``A^H``, the inner product conjugating its second argument).

    Returns the relative error (see the module docstring); raises :class:`DotTestError`,
    printing both inner products, when ``|lhs - rhs| > rtol * scale + atol`` (``rtol``
    defaults per dtype, :data:`TOLERANCES`).
    """
    rng = np.random.default_rng(rng)
    m, n = op.shape
    dtype = np.dtype(getattr(op, "dtype", None) or np.float64)
    wide = np.complex128 if dtype.kind == "c" else np.float64  # complex: A^T is the conjugate transpose A^H

    def draw(k):
        a = rng.standard_normal(k)
        return (a + 1j * rng.standard_normal(k) if dtype.kind == "c" else a).astype(dtype)

    u, v = draw(n), draw(m)
    au = np.asarray(op.matvec(u), wide).ravel()
    atv = np.asarray(op.rmatvec(v), wide).ravel()
    u64, v64 = u.astype(wide), v.astype(wide)
    lhs, rhs = np.vdot(v64, au), np.vdot(atv, u64)
    if dtype.kind != "c":
        lhs, rhs = float(lhs.real), float(rhs.real)
    scale = max(np.linalg.norm(au) * np.linalg.norm(v64), np.linalg.norm(u64) * np.linalg.norm(atv),
                np.finfo(np.float64).tiny)
    err = float(abs(lhs - rhs) / scale)
    real = np.dtype(np.float32) if dtype in (np.float32, np.complex64) else np.dtype(np.float64)
    tol = TOLERANCES.get(real, 1e-12) if rtol is None else rtol
    if abs(lhs - rhs) > tol * scale + atol:
        raise DotTestError(
            f"dot test failed: <A u, v> = {lhs!r} but <u, A^T v> = {rhs!r} "
            f"(error {err:.3e} relative to ||A u|| ||v|| > rtol {tol:g}, atol {atol:g})"
        )
    return err
