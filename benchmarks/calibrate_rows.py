"""Fit the cost model of the direct row tiles (``direct_rows.c``; ``_ROWS`` in
``tconv/core/algorithms/direct.py``) on this machine, per instruction set and dtype.

Each case (stride-1 conv, 2-D and 3-D, kernels 3..65, one to three channels) is timed through the
``direct`` algorithm (best of several calls, the instruction sets interleaved per round); the work on
one thread is the time less the model's fixed cost per call, times the threads the call gets, and ``multiply-adds / rate + output cells * cell
+ patch cells copied * copy`` is fitted to it (non-negative least squares on relative error).

    python benchmarks/calibrate_rows.py [--rounds 3]

Prints the fitted constants and each case's estimate / time with the constants in the source.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
from scipy.optimize import nnls

import tconv
from tconv.core import _native
from tconv.core.algorithms import ALGORITHMS
from tconv.core.algorithms.direct import _CALL_S, _ROWS, direct_cost, row_tiles
from tconv.core.machine import threads_for

# (spatial, kernel, channels)
CASES = [((2048, 2048), 3, 1), ((2048, 2048), 5, 1), ((1024, 1024), 15, 1), ((1024, 1024), 31, 1),
         ((512, 512), 9, 3), ((512, 512), 65, 1), ((256, 256), 5, 1), ((256, 256), 31, 1), ((64, 64), 15, 1),
         ((64, 64, 64), 9, 1), ((96, 96, 96), 15, 1), ((32, 32, 32), 3, 2)]


def best_time(fn, rounds: int) -> float:
    fn()
    best = float("inf")
    for _ in range(rounds):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    algo = ALGORITHMS["direct"]
    rows: dict = {}
    for shape, k, c in CASES:
        geom = tconv.conv_geometry((c, c, *(k,) * len(shape)), shape, 1, "same")
        x = rng.standard_normal((1, c, *geom.x_shape))
        w = rng.standard_normal(geom.weight_shape)
        for dtype in (np.float32, np.float64):
            xd, wd = x.astype(dtype), w.astype(dtype)
            for isa in _native.isas():
                with _native.use_isa(isa):
                    tiles = row_tiles(geom, xd.itemsize, "conv")
                    if tiles is None:
                        continue
                    macs = geom.macs(1)
                    if isa == "generic" and macs > 3e8:
                        continue  # seconds per call: the rate is clear from the smaller cases
                    t = best_time(lambda xd=xd, wd=wd, geom=geom: algo.run("conv", xd, wd, geom), a.rounds)
                    est = direct_cost(geom, 1, xd.itemsize, "conv")
                    feats = [macs, c * math.prod(geom.y_shape), tiles["patched"] * tiles["patch_cells"]]
                    work = max(t - _CALL_S, t / 2) * threads_for(macs)  # the call's fixed cost apart
                    rows.setdefault((isa, xd.itemsize), []).append((feats, work, t, est, shape, k, c))
    for key, data in sorted(rows.items()):
        A = np.array([[f / work for f in feats] for feats, work, *_ in data])
        coef, _ = nnls(A, np.ones(len(data)))
        rate = float(f"{1 / coef[0]:.3g}") if coef[0] else float("inf")
        fitted = (rate, *(float(f"{v:.2g}") for v in coef[1:]))
        print(f"{key}: fitted (rate, cell, copy) = {fitted}; in the source {_ROWS.get(key)}")
        for _feats, _work, t, est, shape, k, c in data:
            print(f"    {'x'.join(map(str, shape)):>10} k{k:<3} c{c}  {t * 1e3:9.3f} ms  estimate / time {est / t:5.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
