"""The algorithm interface and the registry dictionary.

Every algorithm implements the three operations of one geometry (:data:`OPERATIONS`):

* ``conv(x, w, geom)``: ``(N, x_channels, *x_shape) -> (N, y_channels, *y_shape)``;
* ``conv_transpose(y, w, geom)``: the other way (the adjoint);
* ``weight_grad(y_side, x_side, geom)``: ``dW[cy, cx, t] = sum_{n,j} Y[n, cy, j] X[n, cx, j*s + t*d - lo]``,
  the weight gradient of both (``Y`` the y-side array, ``X`` the x-side array).

All take batched arrays without bias; ``w`` has shape ``geom.weight_shape``. ``supports``,
``cost`` and ``scratch_bytes`` take the operation, so the planner ranks each operation
with its own model. ``reference = True`` marks the algorithms that define the truth the
fast ones are tested against; ``method="auto"`` never picks them.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ...errors import TconvError
from .. import _native
from ..geometry import ConvGeometry

__all__ = ["Algorithm", "ALGORITHMS", "OPERATIONS", "Prepared", "register", "get_algorithm", "check_operation",
           "kept_plan", "PLANS_KEPT"]

OPERATIONS = ("conv", "conv_transpose", "weight_grad")

#: a prepared call: ``(a, b, bias) -> out`` (see :meth:`Algorithm.prepare`)
Prepared = Callable[[np.ndarray, np.ndarray, "np.ndarray | None"], np.ndarray]


#: prepared calls an algorithm keeps for its plain calls (:func:`kept_plan`; a few hundred bytes of tables each)
PLANS_KEPT = 64


def kept_plan(plans: dict, make: Callable[..., Prepared], op: str, a: np.ndarray, b: np.ndarray,
              geom: ConvGeometry) -> Prepared | None:
    """The prepared call ``make(op, geom, batch, dtype)`` for C-contiguous operands of one dtype, kept in
    ``plans`` per ``(op, geometry, batch, dtype, the compiled core's state)`` (a compiled plan is its ISA's,
    and none is used with the core switched off; at most :data:`PLANS_KEPT`, then all dropped): a
    repeated plain call skips the tables' construction and the parameter checks; None for any other
    operands, which take the algorithm's plain path."""
    dt = a.dtype
    if not (a.flags.c_contiguous and b.flags.c_contiguous and b.dtype == dt and a.shape[0]):
        return None
    key = (op, geom, a.shape[0], dt, _native.state())
    prepared = plans.get(key)
    if prepared is None:
        if len(plans) >= PLANS_KEPT:
            plans.clear()
        prepared = plans[key] = make(op, geom, a.shape[0], dt)
    return prepared


def check_operation(op: str) -> str:
    if op not in OPERATIONS:
        raise TconvError(f"op={op!r} is not an operation; use one of {', '.join(OPERATIONS)}")
    return op


class Algorithm:
    """Base class: one way to compute ``conv``, ``conv_transpose`` and ``weight_grad``."""

    name: str = ""
    reference: bool = False
    operations: tuple[str, ...] = OPERATIONS

    def supports(self, geom: ConvGeometry, dtype: np.dtype, op: str) -> str | None:
        """``None`` if this algorithm computes ``op`` for ``geom``, else the reason why not."""
        if op not in self.operations:
            return f"does not implement {op}"
        return None

    def conv(self, x: np.ndarray, w: np.ndarray, geom: ConvGeometry) -> np.ndarray:
        raise NotImplementedError

    def conv_transpose(self, y: np.ndarray, w: np.ndarray, geom: ConvGeometry) -> np.ndarray:
        raise NotImplementedError

    def weight_grad(self, y_side: np.ndarray, x_side: np.ndarray, geom: ConvGeometry) -> np.ndarray:
        raise NotImplementedError

    def run(self, op: str, a: np.ndarray, b: np.ndarray, geom: ConvGeometry) -> np.ndarray:
        """``getattr(self, op)(a, b, geom)``."""
        return getattr(self, op)(a, b, geom)

    def prepare(self, op: str, geom: ConvGeometry, batch: int, dtype: np.dtype) -> Prepared:
        """``op`` on ``geom`` for a batch of ``batch`` and one ``dtype``, with everything that depends
        only on these worked out once: a callable ``(a, b, bias) -> out`` that runs the operation on
        batched, C-contiguous arrays of ``dtype`` and those shapes and adds ``bias`` (``None``, or one
        entry per output channel, contiguous) as ``out += bias[:, None, ...]``. The per-call cache
        (:mod:`tconv.core.callcache`) keeps it for repeated plain calls. The default runs
        :meth:`run`; an algorithm overrides it where shape-only work (tables, a compiled call's
        parameters) can be done here instead of per call. Its result must be bit-identical to
        :meth:`run`'s plus the bias."""
        run = self.run
        bias_shape = (1, -1) + (1,) * geom.nd

        def prepared(a: np.ndarray, b: np.ndarray, bias: np.ndarray | None) -> np.ndarray:
            out = run(op, a, b, geom)
            if bias is not None:
                out += bias.reshape(bias_shape)
            return out

        return prepared

    def cost(self, geom: ConvGeometry, batch: int, itemsize: int, op: str) -> float:
        """Estimated seconds (used by the planner)."""
        raise NotImplementedError

    def scratch_bytes(self, geom: ConvGeometry, batch: int, itemsize: int, op: str) -> int:
        """Extra memory (bytes) beyond input, weight and output."""
        return 0

    def describe(self, geom: ConvGeometry, batch: int, itemsize: int, op: str) -> str:
        """A short note for ``explain`` on how ``op`` would be computed ("" for nothing to add)."""
        return ""


ALGORITHMS: dict[str, Algorithm] = {}


def register(cls: type[Algorithm]) -> type[Algorithm]:
    """Class decorator adding one instance of ``cls`` to :data:`ALGORITHMS`."""
    inst = cls()
    if not inst.name or inst.name in ALGORITHMS:
        raise RuntimeError(f"algorithm name {inst.name!r} is empty or already registered")
    ALGORITHMS[inst.name] = inst
    return cls


def get_algorithm(name: str) -> Algorithm:
    if not isinstance(name, str) or name not in ALGORITHMS:
        valid = ", ".join(["auto", *sorted(ALGORITHMS)])
        raise TconvError(f"method={name!r} is not a known algorithm; valid: {valid}")
    return ALGORITHMS[name]


#: the scratch policy, one place: algorithms chunk their scratch to about this many times the
#: output's bytes, and ``auto`` passes over an algorithm whose scratch exceeds it
SCRATCH_FACTOR = 2.0
#: ... unless the scratch is this small in absolute terms (never exclude a fast algorithm for MiBs)
SMALL_SCRATCH_BYTES = 64 << 20
