"""Test helpers for users: the dot-product (adjoint) test.

Tolerances (relative error ``|<A u, v> - <u, A^T v>| / max(|<A u, v>|, |<u, A^T v>|)``):
float64: ``1e-12``; float32: ``1e-4`` (float32 rounding of outputs with up to ~10^6
terms; the inner products themselves are accumulated in float64).

>>> import numpy as np, tconv
>>> A = tconv.ConvOperator(np.ones((2, 1, 3)), (10,), stride=2, padding="same", boundary="circular")
>>> dottest(A, rng=1) < 1e-12
True
"""

from __future__ import annotations

import numpy as np

__all__ = ["DotTestError", "dottest", "TOLERANCES"]

TOLERANCES = {np.dtype(np.float64): 1e-12, np.dtype(np.float32): 1e-4}


class DotTestError(AssertionError):
    """The operator's ``rmatvec`` is not the adjoint of its ``matvec`` (within tolerance)."""


def dottest(
    op,
    *,
    rng: np.random.Generator | int | None = None,
    rtol: float | None = None,
    atol: float = 0.0,
) -> float:
    """Dot-product test ``<A u, v> == <u, A^T v>`` for random ``u``, ``v``.

    Returns the relative error; raises :class:`DotTestError`, printing both inner
    products, when it exceeds ``rtol`` (default per dtype, :data:`TOLERANCES`) plus ``atol``.
    """
    rng = np.random.default_rng(rng)
    m, n = op.shape
    dtype = np.dtype(getattr(op, "dtype", None) or np.float64)
    u = rng.standard_normal(n).astype(dtype)
    v = rng.standard_normal(m).astype(dtype)
    lhs = float(np.dot(np.asarray(op.matvec(u), np.float64).ravel(), v.astype(np.float64)))
    rhs = float(np.dot(u.astype(np.float64), np.asarray(op.rmatvec(v), np.float64).ravel()))
    scale = max(abs(lhs), abs(rhs), np.finfo(np.float64).tiny)
    err = abs(lhs - rhs) / scale
    tol = TOLERANCES.get(dtype, 1e-12) if rtol is None else rtol
    if abs(lhs - rhs) > tol * scale + atol:
        raise DotTestError(
            f"dot test failed: <A u, v> = {lhs!r} but <u, A^T v> = {rhs!r} "
            f"(relative error {err:.3e} > rtol {tol:g}, atol {atol:g})"
        )
    return err
