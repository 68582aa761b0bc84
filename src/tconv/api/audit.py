"""``tconv.testing.adjoint_audit``: the dot test for a user's own operator pair, and on failure
both explicit matrices and where they differ.

A wrong adjoint at the boundary is the classic bug of the field: with a non-zero boundary
(reflect, symmetric, replicate), "correlate with the flipped kernel and the same boundary" is not
the adjoint, and it is wrong by a few percent only in the rows near the image's edges; with a
stride, an off-by-one in the zero insertion is wrong in one phase of every axis. The dot test
says that something is wrong; the audit says where: it builds ``A`` column by column from
``forward`` and ``B`` from ``adjoint`` on the grid it is given (keep it small: every cell costs one
call), and reports the output cells (rows of ``A``) and input cells (columns) where ``A`` and
``B^T`` differ: how far from the edge of the grid they sit, per axis and side, and their phase
modulo the stride (read from the size ratio of the two grids).

>>> import numpy as np, tconv
>>> A = tconv.ConvOperator(np.ones((3, 3)), (8, 8), padding=1, boundary="reflect")
>>> audit = adjoint_audit(lambda x: (A @ x.ravel()).reshape(8, 8), lambda y: A.rmatvec(y.ravel()).reshape(8, 8),
...                       (8, 8), rng=0)
>>> audit.passed
True
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..errors import TconvError

__all__ = ["AdjointAudit", "adjoint_audit"]


@dataclass
class AdjointAudit:
    """The result of :func:`adjoint_audit` (``str()`` it for the report)."""

    passed: bool
    dot_error: float
    tolerance: float
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    max_difference: float | None = None  #: max |A - B^T| (None: matrices not built)
    relative_difference: float | None = None  #: max |A - B^T| / max |A|
    rows: int = 0  #: output cells whose row of A differs from B^T
    columns: int = 0  #: input cells whose column differs
    edge_distance: tuple[int, int] | None = None  #: (min, max) distance of differing rows from the grid's edge
    sides: dict[str, int] = field(default_factory=dict)  #: differing rows within the margin, per "axis a lo/hi"
    margin: int = 0  #: the margin used for ``sides``
    phases: dict[int, dict[int, int]] = field(default_factory=dict)  #: per axis: {phase: differing cells}
    stride: tuple[int, ...] = ()  #: the stride read from the grids (the finer grid's cells per coarse cell)
    report: str = ""

    def __str__(self) -> str:
        return self.report

    def __bool__(self) -> bool:
        return self.passed


def _tolerance(dtype: np.dtype) -> float:
    return 1e-5 if dtype in (np.float32, np.complex64) else 1e-12


def adjoint_audit(
    forward: Callable[[np.ndarray], np.ndarray],
    adjoint: Callable[[np.ndarray], np.ndarray],
    shape: Sequence[int],
    *,
    dtype=np.float64,
    rng: np.random.Generator | int | None = None,
    rtol: float | None = None,
    max_cells: int = 4096,
) -> AdjointAudit:
    """Audit ``adjoint`` as the adjoint of ``forward`` on arrays of ``shape`` (the forward's input).

    ``forward(x)`` maps an array of ``shape`` to any array (its shape is probed once); ``adjoint(y)``
    maps that back to ``shape``. Runs the dot test ``<A u, v> == <u, B v>`` (relative to
    ``||A u|| ||v||``, as :func:`tconv.testing.dottest`; ``rtol`` defaults to 1e-12 for float64,
    1e-5 for float32); when it fails and both grids have at most ``max_cells`` cells, builds
    ``A`` and ``B`` explicitly (one call per cell) and reports where ``A`` and ``B^T`` differ:
    the rows (output cells) near the grid's edges, per axis and side, and the phases modulo the
    stride. Returns an :class:`AdjointAudit` (``str()``: the report); raises nothing on failure.

    >>> import numpy as np
    >>> k = np.array([1.0, 2.0, 4.0])
    >>> fwd = lambda x: np.convolve(np.pad(x, 1, mode="edge"), k[::-1], mode="valid")
    >>> wrong = lambda y: np.convolve(np.pad(y, 1, mode="edge"), k, mode="valid")  # flipped kernel, same boundary
    >>> a = adjoint_audit(fwd, wrong, (12,), rng=0)
    >>> a.passed, a.rows, a.edge_distance
    (False, 2, (0, 0))
    """
    dt = np.dtype(dtype)
    if dt not in (np.float32, np.float64):
        raise TconvError(f"dtype={dt} must be float32 or float64")
    shape = tuple(int(n) for n in shape)
    if not shape or any(n < 1 for n in shape):
        raise TconvError(f"shape={shape} must be a non-empty tuple of positive sizes")
    gen = np.random.default_rng(rng)
    probe = np.asarray(forward(np.zeros(shape, dt)))
    out_shape = probe.shape
    u = gen.standard_normal(shape).astype(dt)
    v = gen.standard_normal(out_shape).astype(dt)
    au = np.asarray(forward(u), np.float64)
    bv = np.asarray(adjoint(v), np.float64)
    if bv.shape != shape:
        raise TconvError(f"adjoint returned shape {bv.shape}; it must return the forward's input shape {shape}")
    if au.shape != out_shape:
        raise TconvError(f"forward returned shape {au.shape} for a random input but {out_shape} for zeros")
    lhs, rhs = float(np.vdot(v.astype(np.float64), au)), float(np.vdot(bv, u.astype(np.float64)))
    scale = max(np.linalg.norm(au) * np.linalg.norm(v), np.linalg.norm(u) * np.linalg.norm(bv), np.finfo(float).tiny)
    err = abs(lhs - rhs) / scale
    tol = _tolerance(dt) if rtol is None else rtol
    res = AdjointAudit(passed=bool(err <= tol), dot_error=float(err), tolerance=tol, input_shape=shape, output_shape=out_shape)
    head = (f"dot test: <A u, v> = {lhs!r}, <u, A^T v> = {rhs!r}; error {err:.3e} relative to "
            f"||A u|| ||v|| ({'within' if res.passed else 'above'} rtol {tol:g})")
    if res.passed:
        res.report = head + ": the adjoint passes"
        return res
    n_in, n_out = math.prod(shape), math.prod(out_shape)
    if max(n_in, n_out) > max_cells:
        res.report = (head + f"\nthe grids have {n_in} and {n_out} cells (> max_cells={max_cells}): call "
                      "adjoint_audit again on a smaller shape to see where the matrices differ")
        return res
    A = np.empty((n_out, n_in))
    for i in range(n_in):
        e = np.zeros(n_in, dt)
        e[i] = 1
        A[:, i] = np.asarray(forward(e.reshape(shape)), np.float64).ravel()
    Bt = np.empty((n_out, n_in))
    for j in range(n_out):
        e = np.zeros(n_out, dt)
        e[j] = 1
        Bt[j] = np.asarray(adjoint(e.reshape(out_shape)), np.float64).ravel()
    diff = np.abs(A - Bt)
    big = max(float(np.abs(A).max()), np.finfo(float).tiny)
    bad = diff > max(tol, 10 * np.finfo(dt).eps) * big
    res.max_difference = float(diff.max())
    res.relative_difference = res.max_difference / big
    rows, cols = np.nonzero(bad.any(axis=1))[0], np.nonzero(bad.any(axis=0))[0]
    res.rows, res.columns = int(rows.size), int(cols.size)
    lines = [head, f"explicit matrices on the {shape} -> {out_shape} grid: max |A - B^T| = {res.max_difference:.3e} "
                   f"({res.relative_difference:.2%} of max |A|), {rows.size} of {n_out} rows (output cells) and "
                   f"{cols.size} of {n_in} columns (input cells) differ"]
    if rows.size:
        idx = np.array(np.unravel_index(rows, out_shape))  # (nd, rows)
        dims = np.array(out_shape)[:, None]
        dist = np.minimum(idx, dims - 1 - idx).min(axis=0)
        res.edge_distance = (int(dist.min()), int(dist.max()))
        interior = int((dist > 0).sum())
        res.margin = margin = max(1, int(dist.max()) + 1) if dist.max() < min(out_shape) // 2 else 0
        if margin:
            for ax in range(len(out_shape)):
                for side, near in (("lo", idx[ax] < margin), ("hi", idx[ax] >= out_shape[ax] - margin)):
                    if near.any():
                        res.sides[f"axis {ax} {side}"] = int(near.sum())
            where = ", ".join(f"{k}: {v}" for k, v in res.sides.items())
            lines.append(f"the differing rows all lie within {margin} cell(s) of the output grid's edge ({where}); "
                         f"{interior} of them are not on the edge itself: a boundary bug (e.g. a flipped-kernel "
                         "'adjoint' with a non-zero boundary, whose margins must be folded back instead)")
        else:
            lines.append(f"the differing rows reach {int(dist.max())} cells from the edge: not only a boundary bug")
    ratio = [max(a, b) / min(a, b) for a, b in zip(shape, out_shape)] if len(shape) == len(out_shape) else []
    res.stride = tuple(int(round(r)) for r in ratio)
    if any(s > 1 for s in res.stride):
        fine_is_input = math.prod(shape) >= math.prod(out_shape)
        cells = cols if fine_is_input else rows
        grid = shape if fine_is_input else out_shape
        idx = np.array(np.unravel_index(cells, grid)) if cells.size else np.zeros((len(grid), 0), int)
        for ax, s in enumerate(res.stride):
            if s > 1:
                counts = np.bincount(idx[ax] % s, minlength=s)
                res.phases[ax] = {p: int(c) for p, c in enumerate(counts)}
        desc = "; ".join(f"axis {ax}: " + ", ".join(f"phase {p}: {c}" for p, c in ph.items())
                         for ax, ph in res.phases.items())
        lines.append(f"stride {res.stride} (read from the grids); differing {'input' if fine_is_input else 'output'} "
                     f"cells per phase (index mod stride) on the finer grid: {desc}")
    res.report = "\n".join(lines)
    return res
