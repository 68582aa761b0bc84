"""``method="auto"``: correctness guards first, then a cost model over the registry.

1. Guards: an algorithm that cannot run the geometry (``supports``) is out; the
   reference algorithms (``scatter``, ``matrix``) are never chosen; an algorithm whose
   scratch memory exceeds ``MAX_SCRATCH`` times the output's bytes is out unless nothing
   else can run.
2. Cost: every remaining algorithm estimates its time from the geometry (multiply-adds,
   GEMM shape, bytes moved); the BLAS rate in those estimates is measured once per
   process (:func:`machine_rates`, about 2 ms), so the model follows the machine and the
   BLAS kernels in use. The cheapest wins.

The plan depends on shapes and dtype only, so it is cached per geometry. :func:`explain`
lists every registered algorithm with its guard verdict, estimated time and scratch
memory, and marks the choice.

Accuracy on the benchmark suite (``benchmarks/``, L1-L9, float32, this 2-core EPYC, with
OpenBLAS forced to its AVX2 kernels and with its own AVX-512 choice): ``auto`` picks the
measured-fastest algorithm on 9 of 9 layers; the chosen algorithm's estimate is within a
factor of 2 of its measured time on every layer (the losers' estimates are looser, up to
3-4x pessimistic for ``zero_insertion``, which never comes close).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache, lru_cache

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
    note: str = ""  # e.g. how complex data is computed (tconv.complexconv)

    def __str__(self) -> str:
        g = self.geometry
        lines = [
            f"geometry: x {g.x_channels}x{'x'.join(map(str, g.x_shape))}  <->  "
            f"y {g.y_channels}x{'x'.join(map(str, g.y_shape))}, kernel {g.kernel}, "
            f"stride {g.stride}, dilation {g.dilation}, pad_lo {g.pad_lo}, groups {g.groups}, "
            f"batch {self.batch}, {self.dtype}",
            f"{'algorithm':<16}{'est. time':>12}{'scratch':>12}  note",
        ]
        for c in sorted(self.candidates, key=lambda c: (c.seconds == float("inf"), c.seconds)):
            mark = "<- chosen" if c.name == self.choice else (c.reason or "")
            t = "-" if c.seconds == float("inf") else f"{c.seconds * 1e3:.3f} ms"
            mem = "-" if c.seconds == float("inf") else f"{c.scratch_bytes / 2**20:.1f} MiB"
            lines.append(f"{c.name:<16}{t:>12}{mem:>12}  {mark}")
        from .algorithms._blas import blas_info

        rates = machine_rates()
        lines.append(f"BLAS: {blas_info()}; measured GEMM {rates[4] / 1e9:.0f} GFLOP/s float32, "
                     f"{rates[8] / 1e9:.0f} GFLOP/s float64")
        if "Haswell" in lines[-1] and cpu_has_avx512():
            lines.append("note: OpenBLAS runs its AVX2 (Haswell) kernels on an AVX-512 CPU; start Python "
                         "without OPENBLAS_CORETYPE=Haswell (or with OPENBLAS_CORETYPE=SkylakeX) for ~2x GEMM speed")
        if self.note:
            lines.append(f"note: {self.note}")
        return "\n".join(lines)


def cpu_has_avx512() -> bool:
    try:
        with open("/proc/cpuinfo") as f:
            return " avx512f " in f.read().replace("\n", " ")
    except OSError:
        return False


# the definition and the explicit matrix are references; auto never picks them
_REFERENCE_ONLY = {"scatter": "reference algorithm (memory grows with every product)",
                   "matrix": "reference algorithm (builds the whole sparse matrix)"}


MAX_SCRATCH = 2.5  # times the output's bytes ("about 2x")


@cache
def machine_rates() -> dict[int, float]:
    """FLOP/s of tconv's BLAS GEMM for float32 (key 4) and float64 (key 8), measured once."""
    import time

    from .algorithms._blas import gemm_cm

    rates = {}
    for dt in (np.float32, np.float64):
        n = 384
        a = np.ones((n, n), dt)
        c = np.empty((n, n), dt)
        best = float("inf")
        for _ in range(5):
            t = time.perf_counter()
            gemm_cm(False, False, n, n, n, a, 0, n, a, 0, n, c, 0, n)
            best = min(best, time.perf_counter() - t)
        measured = 2 * n**3 / max(best, 1e-9)
        # a measurement taken while other work loads the cores must not upset the ranking:
        # keep it within [0.5x, 3x] of the reference machine's AVX2 rate
        ref = _REFERENCE_GEMM[np.dtype(dt).itemsize]
        rates[np.dtype(dt).itemsize] = min(max(measured, 0.5 * ref), 3 * ref)
    return rates


_REFERENCE_GEMM = {4: 2.2e11, 8: 1.1e11}  # FLOP/s, OpenBLAS AVX2 kernels, 2 cores


@lru_cache(maxsize=512)
def plan(geom: ConvGeometry, batch: int, dtype: str) -> Plan:
    """Choose the algorithm for ``geom`` (cached per geometry, batch size and dtype)."""
    itemsize = np.dtype(dtype).itemsize
    out_bytes = max(1, batch) * geom.x_channels * int(np.prod(geom.x_shape)) * itemsize
    cands = []
    for name, algo in ALGORITHMS.items():
        reason = _REFERENCE_ONLY.get(name) or algo.supports(geom, np.dtype(dtype))
        seconds = algo.cost(geom, max(batch, 1), itemsize) if reason is None else float("inf")
        scratch = algo.scratch_bytes(geom, max(batch, 1), itemsize) if reason is None else 0
        cands.append(Candidate(name, reason, seconds, scratch))
    runnable = [c for c in cands if c.reason is None]
    lean = [c for c in runnable if c.scratch_bytes <= MAX_SCRATCH * out_bytes]
    pool = lean or runnable
    choice = min(pool, key=lambda c: c.seconds).name
    cands = [c if c.reason is not None or c in pool else
             Candidate(c.name, f"scratch {c.scratch_bytes / out_bytes:.1f}x the output (> {MAX_SCRATCH}x)",
                       c.seconds, c.scratch_bytes) for c in cands]
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
    dt = np.dtype(dtype)
    if dt.kind == "c":  # complex: the real products run on the real dtype (tconv.complexconv)
        from dataclasses import replace

        from .complexconv import REAL_PRODUCTS

        real = "float32" if dt == np.complex64 else "float64"
        return replace(plan(geom, int(x_shape[0]), real), dtype=dt.name,
                       note=f"{dt.name} is computed with real arithmetic in {real}: {REAL_PRODUCTS}")
    return plan(geom, int(x_shape[0]), dt.name)

