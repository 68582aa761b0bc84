"""``method="auto"``: correctness guards first, then a cost model per operation.

1. Guards: an algorithm that cannot run the operation on the geometry (``supports``) is
   out; the reference algorithms (``reference = True``: ``scatter``, ``matrix``,
   ``zero_insertion``) are never chosen; an algorithm whose scratch exceeds
   :data:`~tconv.core.algorithms.SCRATCH_FACTOR` times the output's bytes is passed over unless
   that scratch is small in absolute terms (:data:`~tconv.core.algorithms.SMALL_SCRATCH_BYTES`) or
   nothing else can run; nothing is run whose output plus scratch exceeds the memory limit
   (:func:`tconv.set_options`), which raises a :class:`~tconv.TconvError` before any allocation.
2. Cost: every remaining algorithm estimates its time for the operation (``conv``,
   ``conv_transpose`` or ``weight_grad``) from the geometry (multiply-adds, GEMM shape, bytes
   moved) and the machine's GEMM rate (:func:`tconv.core.machine.blas_rates`: looked up, not
   timed, so the choice is the same in every process on one machine). The cheapest wins.
3. ``measure=True`` (``explain(..., measure=True)``, as ``scipy.signal.choose_conv_method``)
   times the runnable candidates once on the real shapes and reports (and returns) the timings;
   it does not change what later ``auto`` calls choose (pass the measured winner as ``method=``
   to use it), so ``auto`` stays the same function of shapes in every process.

The plan depends on shapes, dtype and operation only, so it is cached. :func:`explain` lists
every registered algorithm with its guard verdict, estimated time and scratch memory.

Accuracy on the benchmark suite (``python benchmarks/planner_accuracy.py``: for every layer of
the suite, L1-L10, and every operation, ``auto``'s choice against every candidate timed on the real
shapes; float32, 2-core Intel Xeon with AVX-512, quiet machine, 2026-11-25): ``auto`` picked the
measured-fastest algorithm in 30 of 30 (layer, operation) cases: 10/10 for ``conv_transpose``,
10/10 for ``conv``, 10/10 for ``weight_grad`` (table: ``benchmarks/planner-accuracy.md``). On a
loaded machine the same run found 25/30, all misses on gemm-vs-direct for L2, L8 and L9, where
OpenBLAS's threads competed with other processes.

With ``fft`` (``python benchmarks/planner_fft.py --repeat 3``: the large-kernel grid of issue 20,
kernels 3 to 65, images 64 to 2048, 1 to 3 axes, strides 1 to 4, 1 or 3-4 channels, float32 and
float64, every operation; table: ``benchmarks/planner-fft.md``): against the best time of each
algorithm over the runs (``--evaluate``), ``auto``'s choice is within 1.25x of the fastest in 129 of
132 cases on a 2-core Xeon with AVX-512 (two runs, 2026-12-02, ``benchmarks/planner-fft-runs/run*.txt``)
and in 130 of 132 on a 2-core AMD Zen 5 with AVX-512 (``planner-fft-runs/zen5/run17.txt``, ``run18.txt``,
2026-12-03, after ``direct``'s stride-1 register tiles made it 2-5x faster on large few-channel kernels; 127
before, in eight runs). The Xeon's misses are three 30-70 us 1-D calls with 4 channels where ``native`` beats
``direct`` by 7-18 us (1.27-1.38x); the Zen 5's a 0.15 ms float64 weight gradient of a 15x15 kernel on 64^2 where
``fft`` is 1.28x faster than ``direct`` (which has no register tiles for the weight gradient yet) and 64^3 k9
float64 conv_transpose at 1.25x (Xeon runs from before the register tiles: not re-run). On a 2-core AMD Zen 3
with AVX2 only (``planner-fft-runs/zen3/run4.txt``, ``run5.txt``, 2026-12-03, the AVX2 kernels' own models): 129
of 132; the misses a 1024^2 k15 stride-2 float64 weight gradient (``direct`` chosen, ``fft`` 1.32x faster) and
two 0.1-0.15 ms 1-D four-channel weight gradients where ``native`` beats ``direct`` by 30-50 us. After the weight
gradient's register tiles, ``brgemm`` and a memory term for the tiles past the last-level cache (2026-12-04,
``zen3/run9.txt`` to ``run11.txt``): 132 of 132.
Plans are cached per geometry, batch, dtype, op and :func:`~tconv.core.machine.cost_state` (the thread
count, the instruction set, the compiled core on or off). With ``set_options(tune=True)`` ``auto`` times the
candidates estimated within :data:`TUNE_RANGE` of the best at a shape's first call and runs the measured
fastest (:func:`tuned_plan`): on the Zen 5 grid (``planner_fft.py --tune``, run15-16) within 1.25x of the
grid's own fastest in 131 and 130 of 132 cases, where the model alone was at 129 and 128 in the same runs
(the remaining misses: a 65 us and a 0.13 ms call, timing noise).
``tests/test_planner_fft.py`` checks the model against the recorded best times of the AVX-512 and the AVX2
runs (cases whose winner was the same in both runs and clear of the noise).
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..errors import TconvError
from .algorithms import (
    ALGORITHMS,
    SCRATCH_FACTOR,
    SMALL_SCRATCH_BYTES,
    Algorithm,
    check_operation,
    get_algorithm,
)
from .geometry import ConvGeometry, conv_geometry, conv_transpose_geometry
from .machine import cost_state, cpu_has_avx512, native_summary
from .options import ALWAYS_FITS, check_bytes, format_bytes, memory_limit, tuning

__all__ = ["Plan", "Candidate", "plan", "tuned_plan", "choose", "explain", "output_bytes"]


@dataclass(frozen=True)
class Candidate:
    name: str
    reason: str | None  # why it is not a candidate, or None
    seconds: float
    scratch_bytes: int
    detail: str = ""  # what the algorithm would do (fft: its transform sizes and tiles)


@dataclass(frozen=True)
class Plan:
    """The planner's decision for one geometry, batch size, dtype and operation."""

    geometry: ConvGeometry
    batch: int
    dtype: str
    op: str
    choice: str
    candidates: tuple[Candidate, ...]
    measured: bool = False
    note: str = ""  # e.g. how complex data is computed (tconv.api.conventions.complexdata)

    def ranked(self) -> list[Candidate]:
        """The runnable candidates, cheapest first."""
        return sorted((c for c in self.candidates if c.reason is None), key=lambda c: c.seconds)

    def __str__(self) -> str:
        g = self.geometry
        lines = [
            f"operation: {self.op}; {_direction(g, self.op)}, kernel {g.kernel}, "
            f"stride {g.stride}, dilation {g.dilation}, pads {g.pads}, groups {g.groups}, "
            f"batch {self.batch}, {self.dtype}",
            f"{'algorithm':<16}{'measured' if self.measured else 'est. time':>12}{'scratch':>12}  note",
        ]
        for c in sorted(self.candidates, key=lambda c: (c.seconds == float("inf"), c.seconds)):
            mark = "<- chosen" if c.name == self.choice else (c.reason or "")
            t = "-" if c.seconds == float("inf") else f"{c.seconds * 1e3:.3f} ms"
            mem = "-" if c.seconds == float("inf") else format_bytes(c.scratch_bytes)
            lines.append(f"{c.name:<16}{t:>12}{mem:>12}  {mark}" + (f" [{c.detail}]" if c.detail else ""))
        lines.append(native_summary())
        if "Haswell" in lines[-1] and cpu_has_avx512():
            lines.append("note: OpenBLAS runs its AVX2 (Haswell) kernels on an AVX-512 CPU; start Python "
                         "without OPENBLAS_CORETYPE=Haswell (or with OPENBLAS_CORETYPE=SkylakeX) for ~2x GEMM speed")
        lines.append(f"memory limit: {format_bytes(memory_limit())} (tconv.set_options(max_bytes=...))")
        if self.note:
            lines.append(f"note: {self.note}")
        return "\n".join(lines)


def _direction(g: ConvGeometry, op: str) -> str:
    """The operation's input and output, in the direction it runs (C x spatial each)."""
    x = f"{g.x_channels}x{'x'.join(map(str, g.x_shape))}"
    y = f"{g.y_channels}x{'x'.join(map(str, g.y_shape))}"
    if op == "conv_transpose":
        return f"input {y} -> output {x}"
    if op == "conv":
        return f"input {x} -> output {y}"
    return f"weight gradient of conv input {x} -> output {y}"


def output_bytes(geom: ConvGeometry, batch: int, itemsize: int, op: str) -> int:
    """Bytes of the operation's result."""
    if op == "conv_transpose":
        return batch * geom.x_channels * math.prod(geom.x_shape) * itemsize
    if op == "conv":
        return batch * geom.y_channels * math.prod(geom.y_shape) * itemsize
    return math.prod(geom.weight_shape) * itemsize


def _output_reason(geom: ConvGeometry, batch: int, op: str) -> str:
    if op == "conv_transpose":
        return (f"output (N={batch}, C={geom.x_channels}, *{geom.x_shape}), per axis (input - 1) * stride "
                f"- crop + dilation * (kernel - 1) + 1 + output_padding with input {geom.y_shape}, "
                f"stride {geom.stride}, crop (padding) {geom.pads}, dilation {geom.dilation}, kernel {geom.kernel}")
    if op == "conv":
        return (f"output (N={batch}, C={geom.y_channels}, *{geom.y_shape}) from input {geom.x_shape}, "
                f"padding {geom.pads}, stride {geom.stride}")
    return f"weight gradient of shape {geom.weight_shape}"


def plan(geom: ConvGeometry, batch: int, dtype: str, op: str = "conv_transpose") -> Plan:
    """Choose the algorithm for ``op`` on ``geom`` (cached per geometry, batch, dtype, op and the
    machine state the costs read, :func:`~tconv.core.machine.cost_state`: the thread count, the
    instruction set, the compiled core on or off)."""
    return _plan(geom, batch, dtype, op, cost_state())


@lru_cache(maxsize=1024)
def _plan(geom: ConvGeometry, batch: int, dtype: str, op: str, state: tuple) -> Plan:
    check_operation(op)
    dt = np.dtype(dtype)
    batch = max(batch, 1)
    out = output_bytes(geom, batch, dt.itemsize, op)
    cands = []
    for name, algo in ALGORITHMS.items():
        reason = ("reference algorithm" if algo.reference else None) or algo.supports(geom, dt, op)
        seconds = algo.cost(geom, batch, dt.itemsize, op) if reason is None else float("inf")
        scratch = algo.scratch_bytes(geom, batch, dt.itemsize, op) if reason is None else 0
        detail = algo.describe(geom, batch, dt.itemsize, op) if reason is None else ""
        cands.append(Candidate(name, reason, seconds, scratch, detail))
    runnable = [c for c in cands if c.reason is None]
    lean = [c for c in runnable if c.scratch_bytes <= max(SCRATCH_FACTOR * out, SMALL_SCRATCH_BYTES)]
    pool = lean or runnable
    if not pool:
        raise TconvError(f"no algorithm can compute {op} for this geometry: "
                         + "; ".join(f"{c.name}: {c.reason}" for c in cands))
    choice = min(pool, key=lambda c: c.seconds).name
    cands = [c if c.reason is not None or c in pool else
             Candidate(c.name, f"scratch {format_bytes(c.scratch_bytes)} > {SCRATCH_FACTOR}x the output",
                       c.seconds, c.scratch_bytes, c.detail) for c in cands]
    return Plan(geom, batch, dtype, op, choice, tuple(cands))


plan.cache_clear = _plan.cache_clear  # type: ignore[attr-defined]


#: ``tune=True`` times the candidates whose estimate is within this factor of the best one's
TUNE_RANGE = 3.0


def tuned_plan(geom: ConvGeometry, batch: int, dtype: str, op: str = "conv_transpose") -> Plan:
    """``auto``'s plan under ``set_options(tune=True)``: :func:`plan`'s candidates within
    :data:`TUNE_RANGE` of its best estimate (and within its scratch guard) timed once per shape
    (:func:`_measure`) and the measured fastest chosen; the model's plan, with a note, when the timing's
    data would take over a quarter of the memory limit; cached like :func:`plan`."""
    return _tuned(geom, batch, dtype, op, cost_state())


@lru_cache(maxsize=256)
def _tuned(geom: ConvGeometry, batch: int, dtype: str, op: str, state: tuple) -> Plan:
    p = plan(geom, batch, dtype, op)
    need = _measure_bytes(p)
    if need > memory_limit() // 4:  # the call's own arrays are in memory too: tune only what fits beside
        return dataclasses.replace(p, note=f"not tuned: its test data and scratch would take {format_bytes(need)}, "
                                           f"over a quarter of the memory limit")
    return _measure(p, near=TUNE_RANGE)


def _measure_bytes(p: Plan) -> int:
    """Bytes :func:`_measure` allocates: random inputs and weights of the real shapes, the result and
    the largest runnable candidate's scratch."""
    g, es = p.geometry, np.dtype(p.dtype).itemsize
    data = p.batch * (g.x_channels * math.prod(g.x_shape) + g.y_channels * math.prod(g.y_shape))
    scratch = max((c.scratch_bytes for c in p.candidates if c.reason is None), default=0)
    return (2 * data + math.prod(g.weight_shape)) * es + scratch


def _measure(p: Plan, near: float | None = None, rounds: int = 3) -> Plan:
    """Time the runnable candidates of ``p`` on random data of the real shapes: each run once to warm
    up, then ``rounds`` rounds with the candidates interleaved within a round (so a burst of load from
    other processes hits all of them), each its best round; a round of a short call is the mean of
    back-to-back calls over about 2 ms. With ``near``, only the candidates whose estimate is within
    ``near`` times the chosen one's are timed (the others keep their estimate and a reason, so they
    are not chosen)."""
    g, dt = p.geometry, np.dtype(p.dtype)
    check_bytes(_measure_bytes(p), "timing the candidates (random data of the real shapes, result and scratch)",
                f"batch {p.batch}, channels {g.x_channels}/{g.y_channels}, sizes {g.x_shape}/{g.y_shape}")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((p.batch, g.x_channels, *g.x_shape)).astype(dt)
    y = rng.standard_normal((p.batch, g.y_channels, *g.y_shape)).astype(dt)
    w = rng.standard_normal(g.weight_shape).astype(dt)
    args = {"conv": (x, w), "conv_transpose": (y, w), "weight_grad": (y, x)}[p.op]
    best_estimate = {c.name: c for c in p.candidates}[p.choice].seconds
    timed = [c for c in p.candidates if c.reason is None and (near is None or c.seconds <= near * best_estimate)]
    reps = {}
    for c in timed:  # the warm-up call, which also sizes a round
        t = time.perf_counter()
        ALGORITHMS[c.name].run(p.op, *args, g)
        reps[c.name] = max(1, int(2e-3 / max(time.perf_counter() - t, 1e-6)))
    best = {c.name: float("inf") for c in timed}
    for _ in range(rounds):
        for c in timed:
            algo, n = ALGORITHMS[c.name], reps[c.name]
            t = time.perf_counter()
            for _ in range(n):
                algo.run(p.op, *args, g)
            best[c.name] = min(best[c.name], (time.perf_counter() - t) / n)
    cands = []
    for c in p.candidates:
        if c.name in best:
            cands.append(Candidate(c.name, None, best[c.name], c.scratch_bytes, c.detail))
        elif c.reason is None:
            cands.append(Candidate(c.name, f"not timed: estimated over {near:g}x the best", c.seconds,
                                   c.scratch_bytes, c.detail))
        else:
            cands.append(c)
    choice = min(best, key=best.get)
    return Plan(g, p.batch, p.dtype, p.op, choice, tuple(cands), measured=True)


def choose(method: str, geom: ConvGeometry, batch: int, dtype: np.dtype, op: str) -> Algorithm:
    """The algorithm for ``method`` (``"auto"`` asks the planner), after the memory guard:
    the result plus the algorithm's scratch must fit :func:`tconv.core.options.memory_limit`."""
    dt = np.dtype(dtype)
    out = output_bytes(geom, batch, dt.itemsize, op)
    check_bytes(out, f"the {op} result", lambda: _output_reason(geom, batch, op))
    if method == "auto":
        p = tuned_plan(geom, batch, dt.name, op) if tuning() else plan(geom, batch, dt.name, op)
        chosen = next(c for c in p.candidates if c.name == p.choice)
        if out + chosen.scratch_bytes <= ALWAYS_FITS:
            return ALGORITHMS[p.choice]
        ranked = [chosen] + [c for c in p.ranked() if c.name != p.choice]
        limit = memory_limit()
        for c in ranked:
            if out + c.scratch_bytes <= limit:
                return ALGORITHMS[c.name]
        c = ranked[0]
        check_bytes(out + c.scratch_bytes, f"{op} with {c.name} (result + scratch)",
                    f"scratch {format_bytes(c.scratch_bytes)} grows with the batch, channels, kernel and input size")
    algo = get_algorithm(method)
    reason = algo.supports(geom, dt, op)
    if reason is not None:
        raise TconvError(f"method={method!r} cannot run this geometry: {reason}")
    scratch = algo.scratch_bytes(geom, max(batch, 1), dt.itemsize, op)
    check_bytes(out + scratch, f"{op} with method={method!r} (result {format_bytes(out)} + scratch "
                f"{format_bytes(scratch)})", f"scratch of {method!r} for kernel {geom.kernel}, stride {geom.stride}, "
                f"channels {geom.x_channels}/{geom.y_channels}, batch {batch}")
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
    op: str = "conv_transpose",
    measure: bool = False,
) -> Plan:
    """The planner's report for ``op`` on an input of shape ``x_shape`` ``(N, C, *spatial)`` (the
    input of ``op``'s forward call: ``conv_transpose``'s input for ``"conv_transpose"`` and
    ``"weight_grad"``, ``conv``'s input for ``"conv"``) with a weight of ``weight_shape`` (PyTorch
    layout); ``print()`` it. ``measure=True`` times the candidates (the report only: later ``auto``
    calls choose as before).

    >>> p = explain((16, 512, 8, 8), (512, 256, 4, 4), stride=2, padding=1)
    >>> p.choice, p.op  # 'gemm' without the compiled core
    ('native', 'conv_transpose')
    """
    check_operation(op)
    if op == "conv":
        if any(np.atleast_1d(output_padding)):
            raise TconvError(f"output_padding={output_padding!r} has no meaning for op='conv'")
        geom = conv_geometry(tuple(weight_shape), tuple(x_shape[2:]), stride, padding, dilation, groups)
    else:
        geom = conv_transpose_geometry(
            tuple(weight_shape), tuple(x_shape[2:]), stride, padding, output_padding, dilation, groups)
    p = plan(geom, int(x_shape[0]), np.dtype(dtype).name, op)
    return _measure(p) if measure else p
