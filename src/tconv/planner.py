"""``method="auto"``: correctness guards first, then a cost model over the registry.

The plan depends on shapes and dtype only, so it is cached per geometry. The
:func:`explain` report lists every registered algorithm with its guard verdict,
estimated time and scratch memory, and marks the choice.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .algorithms import ALGORITHMS, Algorithm, get_algorithm
from .geometry import ConvGeometry

__all__ = ["Plan", "plan", "choose", "explain"]


@dataclass(frozen=True)
class Candidate:
    name: str
    reason: str | None  # why it cannot run, or None
    seconds: float
    scratch_bytes: int


@dataclass(frozen=True)
class Plan:
    """The planner's decision for one geometry, batch size and dtype."""

    geometry: ConvGeometry
    batch: int
    dtype: str
    choice: str
    candidates: tuple[Candidate, ...]

    def __str__(self) -> str:
        g = self.geometry
        lines = [
            f"geometry: x {g.x_channels}x{'x'.join(map(str, g.x_shape))}  <->  "
            f"y {g.y_channels}x{'x'.join(map(str, g.y_shape))}, kernel {g.kernel}, "
            f"stride {g.stride}, dilation {g.dilation}, pad_lo {g.pad_lo}, groups {g.groups}, "
            f"batch {self.batch}, {self.dtype}",
            f"{'algorithm':<16}{'est. time':>12}{'scratch':>12}  note",
        ]
        for c in sorted(self.candidates, key=lambda c: (c.reason is not None, c.seconds)):
            mark = "<- chosen" if c.name == self.choice else (c.reason or "")
            t = "-" if c.reason else f"{c.seconds * 1e3:.3f} ms"
            mem = "-" if c.reason else f"{c.scratch_bytes / 2**20:.1f} MiB"
            lines.append(f"{c.name:<16}{t:>12}{mem:>12}  {mark}")
        return "\n".join(lines)


# the definition and the explicit matrix are references; auto never picks them
_REFERENCE_ONLY = {"scatter": "reference algorithm (memory grows with every product)",
                   "matrix": "reference algorithm (builds the whole sparse matrix)"}


@lru_cache(maxsize=512)
def plan(geom: ConvGeometry, batch: int, dtype: str) -> Plan:
    """Choose the algorithm for ``geom`` (cached per geometry, batch size and dtype)."""
    itemsize = np.dtype(dtype).itemsize
    cands = []
    for name, algo in ALGORITHMS.items():
        reason = _REFERENCE_ONLY.get(name) or algo.supports(geom, np.dtype(dtype))
        seconds = algo.cost(geom, batch, itemsize) if reason is None else float("inf")
        scratch = algo.scratch_bytes(geom, batch, itemsize) if reason is None else 0
        cands.append(Candidate(name, reason, seconds, scratch))
    ok = [c for c in cands if c.reason is None]
    choice = min(ok, key=lambda c: c.seconds).name
    return Plan(geom, batch, dtype, choice, tuple(cands))


def choose(method: str, geom: ConvGeometry, batch: int, dtype: np.dtype) -> Algorithm:
    """The algorithm for ``method`` (``"auto"`` asks the planner)."""
    if method == "auto":
        return ALGORITHMS[plan(geom, batch, np.dtype(dtype).name).choice]
    algo = get_algorithm(method)
    reason = algo.supports(geom, np.dtype(dtype))
    if reason is not None:
        from .errors import TconvError

        raise TconvError(f"method={method!r} cannot run this geometry: {reason}")
    return algo


def explain(
    x_shape,
    weight_shape,
    stride=1,
    padding=0,
    output_padding=0,
    groups=1,
    dilation=1,
    *,
    dtype: str = "float32",
) -> Plan:
    """The planner's report for ``conv_transpose`` of an input of shape ``x_shape``
    ``(N, C_in, *spatial)`` with a weight of ``weight_shape``; ``print()`` it.

    >>> p = explain((16, 512, 8, 8), (512, 256, 4, 4), stride=2, padding=1)
    >>> p.choice in ALGORITHMS
    True
    """
    from .geometry import conv_transpose_geometry

    geom = conv_transpose_geometry(
        tuple(weight_shape), tuple(x_shape[2:]), stride, padding, output_padding, dilation, groups
    )
    return plan(geom, int(x_shape[0]), np.dtype(dtype).name)


def explain_args(args) -> str:
    cin, cout = args.channels
    if cout % args.groups:
        from .errors import TconvError

        raise TconvError(f"groups={args.groups} must divide C_out={cout}")
    weight = (cin, cout // args.groups, *(args.kernel * len(args.input) if len(args.kernel) == 1 else args.kernel))
    stride = args.stride[0] if len(args.stride) == 1 else args.stride
    dil = args.dilation[0] if len(args.dilation) == 1 else args.dilation
    op = args.output_padding[0] if len(args.output_padding) == 1 else args.output_padding
    p = explain((args.batch, cin, *args.input), weight, stride, args.padding, op, args.groups, dil, dtype=args.dtype)
    return str(p)
