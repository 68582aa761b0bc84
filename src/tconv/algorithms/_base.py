"""The algorithm interface and the registry dictionary."""

from __future__ import annotations

import numpy as np

from ..errors import TconvError
from ..geometry import ConvGeometry


class Algorithm:
    """Base class: one way to compute ``conv`` and ``conv_transpose``.

    Both methods take batched arrays without bias: ``conv(x, w, geom)`` maps
    ``(N, x_channels, *x_shape)`` to ``(N, y_channels, *y_shape)`` and
    ``conv_transpose(y, w, geom)`` maps back; ``w`` has shape ``geom.weight_shape``.
    """

    name: str = ""
    summary: str = ""

    def supports(self, geom: ConvGeometry, dtype: np.dtype) -> str | None:
        """``None`` if this algorithm handles ``geom``, else the reason why not."""
        return None

    def conv(self, x: np.ndarray, w: np.ndarray, geom: ConvGeometry) -> np.ndarray:
        raise NotImplementedError

    def conv_transpose(self, y: np.ndarray, w: np.ndarray, geom: ConvGeometry) -> np.ndarray:
        raise NotImplementedError

    def cost(self, geom: ConvGeometry, batch: int, itemsize: int) -> float:
        """Estimated seconds on the reference machine (used by the planner)."""
        return float("inf")

    def scratch_bytes(self, geom: ConvGeometry, batch: int, itemsize: int) -> int:
        """Estimated extra memory (bytes) beyond input, weight and output."""
        return 0


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


