"""``auto`` against the fastest registered algorithm on the large-kernel grid of issue 20.

The grid: kernels 3..65, images 64..2048, 1 to 3 spatial axes, strides 1 to 4, single or few
channels, float32 and float64, each operation. For every case, every runnable non-reference
algorithm (``direct``, ``gemm``, ``fft``) is timed on the real shapes, best of ``--repeat``
rounds with the algorithms interleaved within a round (so a burst of load from other
processes hits all of them), and ``auto``'s choice (the cost model, no timing) is compared with
the measured-fastest: ``auto / fastest``. Also prints, per algorithm, measured / estimated (how
the cost model's constants were checked; ``FFT_S_PER_POINT_LOG`` itself was measured with
``scipy.fft.rfftn`` alone at sizes 4096, 256^2 .. 2048^2 and 64^3, 128^3).

    python benchmarks/planner_fft.py [--repeat 3] [--quick] > run1.txt
    python benchmarks/planner_fft.py --evaluate run1.txt run2.txt ...
    python benchmarks/planner_fft.py --repeat 3 --tune > run1.txt   # also set_options(tune=True)'s choice

``--evaluate`` times nothing: it reads runs printed by this script, keeps each algorithm's best time per
case over the runs (the time it reaches when the machine lets it), and checks today's model against it.

The machine is 2 cores shared with other work: read the ratios, not the times, and rerun a
case that looks off.
"""

from __future__ import annotations

import argparse
import re
import sys
import time

import numpy as np

import tconv
from tconv.core.algorithms import ALGORITHMS
from tconv.core.planner import plan, tuned_plan

# (spatial shape, kernel, stride, channels in, channels out)
GRID = [
    ((2048,), 3, 1, 1, 1), ((2048,), 65, 1, 1, 1), ((2048,), 65, 4, 1, 1), ((2048,), 15, 2, 4, 4),
    ((64, 64), 3, 1, 1, 1), ((64, 64), 15, 1, 1, 1), ((256, 256), 5, 1, 1, 1), ((256, 256), 31, 1, 1, 1),
    ((256, 256), 31, 2, 1, 1), ((512, 512), 9, 1, 1, 1), ((512, 512), 65, 1, 1, 1), ((512, 512), 15, 3, 1, 1),
    ((512, 512), 9, 1, 3, 3), ((1024, 1024), 3, 1, 1, 1), ((1024, 1024), 31, 1, 1, 1),
    ((1024, 1024), 15, 2, 1, 1), ((2048, 2048), 5, 1, 1, 1), ((2048, 2048), 15, 1, 1, 1),
    ((32, 32, 32), 3, 1, 1, 1), ((64, 64, 64), 9, 1, 1, 1), ((64, 64, 64), 5, 2, 1, 1),
    ((96, 96, 96), 15, 1, 1, 1),
]
QUICK = [c for c in GRID if np.prod(c[0]) <= 512 * 512 and c[1] <= 31]
OPS = ("conv", "conv_transpose", "weight_grad")


def _time(fn, *args) -> float:
    """Seconds per call: one call, or for calls under 1 ms a loop of calls lasting about 2 ms (a single
    timing of a 20-100 us call is mostly the timer and the scheduler)."""
    t = time.perf_counter()
    fn(*args)
    one = time.perf_counter() - t
    if one >= 1e-3:
        return one
    n = max(2, int(2e-3 / max(one, 1e-6)))
    t = time.perf_counter()
    for _ in range(n):
        fn(*args)
    return (time.perf_counter() - t) / n


def case_times(shape, k, s, cin, cout, dtype, op, repeat):
    """``(geometry, auto's choice, {algorithm: best seconds}, {algorithm: estimate})``."""
    nd = len(shape)
    geom = tconv.conv_geometry((cout, cin, *(k,) * nd), shape, s, "same")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, cin, *geom.x_shape)).astype(dtype)
    y = rng.standard_normal((1, cout, *geom.y_shape)).astype(dtype)
    w = rng.standard_normal(geom.weight_shape).astype(dtype)
    args = {"conv": (x, w), "conv_transpose": (y, w), "weight_grad": (y, x)}[op]
    p = plan(geom, 1, np.dtype(dtype).name, op)
    runnable = [c for c in p.candidates if c.reason is None]
    estimate = {c.name: c.seconds for c in runnable}
    # skip hopeless candidates (estimated 30x slower than the best estimate and over 0.5 s)
    lead = min(estimate.values())
    names = [c.name for c in runnable if c.seconds < max(30 * lead, 0.5)]
    best = {n: float("inf") for n in names}
    for n in names:  # warm-up (compilation, caches)
        ALGORITHMS[n].run(op, *args, geom)
    for _ in range(repeat):
        for n in names:
            best[n] = min(best[n], _time(ALGORITHMS[n].run, op, *args, geom))
    return geom, p.choice, best, estimate


LINE = re.compile(r"\s*(\S+) k(\d+)\s+s(\d+) c(\d+)->(\d+) (\S+)\s+(\S+)\s+auto=\S+\s+fastest=\S+\s+[\d.]+x\s+(.*)")


def run_times(path) -> dict:
    """``{(shape, k, s, cin, cout, dtype, op): {algorithm: ms}}`` of one run printed by this script."""
    out: dict = {}
    with open(path) as f:
        for line in f:
            m = LINE.match(line)
            if m:
                key = (tuple(int(v) for v in m[1].split("x")), *map(int, m.group(2, 3, 4, 5)), m[6], m[7])
                out[key] = {name: float(t) for name, t in re.findall(r"(\w+)\s+([\d.]+) ms", m[8])}
    return out


def best_times(paths) -> dict:
    """Every algorithm's best time per case over the runs in ``paths``."""
    best: dict = {}
    for path in paths:
        for key, times in run_times(path).items():
            into = best.setdefault(key, {})
            for name, t in times.items():
                into[name] = min(into.get(name, float("inf")), t)
    return best


def record(paths) -> int:
    """The cases of ``paths`` with a clear winner, as ``tests/test_planner_fft.py`` records them: the same
    algorithm fastest in every run, the second fastest at least 1.5x slower than it, over 0.2 ms; each
    algorithm's best time over the runs (ms)."""
    runs = [run_times(p) for p in paths]
    for key, times in sorted(best_times(paths).items(), key=str):
        winners = {min(r[key], key=r[key].get) for r in runs if key in r}
        ranked = sorted(times.values())
        if len(winners) == 1 and len(ranked) > 1 and ranked[1] >= 1.5 * ranked[0] and ranked[0] > 0.2:
            shape, k, s, cin, _, dtype, op = key
            body = ", ".join(f"'{n}': {t:.2f}" for n, t in sorted(times.items()))
            print(f"    ({shape}, {k}, {s}, {cin}, '{dtype}', '{op}'): {{{body}}},")
    return 0


def evaluate(paths) -> int:
    """Today's model against the best time of every algorithm over the runs in ``paths``."""
    best = best_times(paths)
    hits = 0
    for (shape, k, s, cin, cout, dtype, op), times in sorted(best.items(), key=str):
        geom = tconv.conv_geometry((cout, cin, *(k,) * len(shape)), shape, s, "same")
        choice = plan(geom, 1, dtype, op).choice
        ratio = times.get(choice, float("inf")) / min(times.values())
        hits += ratio <= 1.25
        if ratio > 1.25:
            print(f"{'x'.join(map(str, shape)):>12} k{k:<3} s{s} c{cin}->{cout} {dtype:<8}{op:<15} auto={choice:<7} "
                  f"{ratio:5.2f}x  " + "  ".join(f"{n} {t:.3f} ms" for n, t in sorted(times.items())))
    print(f"today's model within 1.25x of the best of {len(paths)} runs in {hits} of {len(best)} cases")
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="images up to 512^2 and kernels up to 31 only")
    ap.add_argument("--evaluate", nargs="+", metavar="RUN", help="runs printed by this script: evaluate, time nothing")
    ap.add_argument("--record", nargs="+", metavar="RUN",
                    help="runs printed by this script: print their clear winners as tests/test_planner_fft.py records them")
    ap.add_argument("--tune", action="store_true",
                    help="also check set_options(tune=True)'s choice (timed by the planner, apart from the grid's rounds)")
    a = ap.parse_args(argv)
    if a.evaluate:
        return evaluate(a.evaluate)
    if a.record:
        return record(a.record)
    worst, misses, total = 1.0, 0, 0
    tune_worst, tune_misses = 1.0, 0
    for shape, k, s, cin, cout in (QUICK if a.quick else GRID):
        for dtype in (np.float32, np.float64):
            for op in OPS:
                geom, choice, best, est = case_times(shape, k, s, cin, cout, dtype, op, a.repeat)
                fastest = min(best, key=best.get)
                ratio = best.get(choice, float("inf")) / best[fastest]
                worst, total, misses = max(worst, ratio), total + 1, misses + (ratio > 1.25)
                print(f"{'x'.join(map(str, shape)):>12} k{k:<3} s{s} c{cin}->{cout} {np.dtype(dtype).name:<8}"
                      f"{op:<15} auto={choice:<7} fastest={fastest:<7} {ratio:5.2f}x  "
                      + "  ".join(f"{n} {best[n] * 1e3:8.3f} ms (x{best[n] / est[n]:.2f} est)" for n in sorted(best)),
                      flush=True)
                if a.tune:
                    tuned = tuned_plan(geom, 1, np.dtype(dtype).name, op).choice
                    tr = best.get(tuned, float("inf")) / best[fastest]
                    tune_worst, tune_misses = max(tune_worst, tr), tune_misses + (tr > 1.25)
                    if tr > 1.25:
                        print(f"# tune: chose {tuned}, {tr:.2f}x the fastest ({fastest})", flush=True)
    print(f"auto within 1.25x of the fastest in {total - misses} of {total} cases; worst {worst:.2f}x")
    if a.tune:
        print(f"auto with tune=True within 1.25x of the fastest in {total - tune_misses} of {total} cases; "
              f"worst {tune_worst:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
