"""Fits ``brgemm``'s cost constants (``tconv.core.algorithms.brgemm._COSTS``) for the ISA in use.

Times ``method="brgemm"`` on one thread (best of ``--repeat`` rounds of back-to-back calls over
about 50 ms) on 23 layers (the suite's channel-heavy ones and the adjoints of its strided ones, a
grouped conv, 1-D, 3-D, few and many channels), then fits ``seconds = 2 * slots / rate + tile * tile
calls + loop * tap loops + copy * elements copied (copy_mem once a chunk's copy leaves the caches) +
wpack * weight elements + scatter * output cells of a strided conv_transpose + call`` (the terms:
``brgemm.cost_terms``) by non-negative least squares on relative errors, and prints each layer's
time, the current model's estimate, and the fitted constants::

    TCONV_NUM_THREADS=1 python benchmarks/calibrate_brgemm.py [--dtype float64] [--repeat 3]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy.optimize import nnls

import tconv
from tconv.core import _native
from tconv.core.algorithms import ALGORITHMS
from tconv.core.algorithms.brgemm import cost_terms

NAMES = ["1/rate (s per flop)", "tile", "loop", "copy", "copy_mem", "wpack", "scatter", "call"]
CASES = [
    ("conv_transpose", (4, 64, 64, 64), (64, 64, 3, 3), dict(stride=1, padding=2, dilation=2)),  # L9
    ("conv", (4, 64, 64, 64), (64, 64, 3, 3), dict(stride=1, padding=2, dilation=2)),  # F2
    ("conv", (8, 64, 56, 56), (64, 64, 3, 3), dict(stride=1, padding=1)),  # R1
    ("conv_transpose", (16, 512, 8, 8), (512, 256, 4, 4), dict(stride=2, padding=1)),  # L1
    ("conv_transpose", (4, 256, 64, 64), (256, 128, 2, 2), dict(stride=2)),  # L3
    ("conv_transpose", (4, 256, 2048), (256, 128, 16), dict(stride=8, padding=4)),  # L7
    ("conv_transpose", (1, 64, 32, 32, 32), (64, 32, 2, 2, 2), dict(stride=2)),  # L8
    ("conv_transpose", (16, 64, 32, 32), (64, 3, 4, 4), dict(stride=2, padding=1)),  # L2
    ("conv", (8, 64, 56, 56), (128, 64, 3, 3), dict(stride=2, padding=1)),
    ("conv", (8, 3, 112, 112), (32, 3, 3, 3), dict(stride=1, padding=1)),
    ("conv", (4, 32, 32, 32), (32, 32, 1, 1), dict()),
    ("conv", (2, 16, 128, 128), (16, 16, 5, 5), dict(padding=2)),
    ("conv", (1, 256, 14, 14), (256, 256, 3, 3), dict(padding=1)),
    ("conv_transpose", (2, 128, 16, 16, 16), (128, 64, 3, 3, 3), dict(padding=1)),
    ("conv", (8, 32, 1000), (64, 32, 7), dict(padding=3)),
    ("conv", (16, 128, 28, 28), (128, 8, 3, 3), dict(padding=1, groups=16)),
    ("conv", (16, 3, 64, 64), (64, 3, 4, 4), dict(stride=2, padding=1)),  # L2's adjoint
    ("conv", (1, 32, 64, 64, 64), (64, 32, 2, 2, 2), dict(stride=2)),  # L8's
    ("conv", (4, 128, 128, 128), (256, 128, 2, 2), dict(stride=2)),  # L3's
    ("conv", (4, 128, 16384), (256, 128, 16), dict(stride=8, padding=4)),  # L7's
    # small calls, where the per-call and per-tile costs decide (T1; a 4-channel 16x16)
    ("conv_transpose", (1, 2, 8, 8), (2, 2, 3, 3), dict(stride=2, padding=1)),
    ("conv_transpose", (1, 4, 16, 16), (4, 4, 3, 3), dict(padding=1)),
    ("conv", (2, 8, 32, 32), (8, 8, 3, 3), dict(padding=1)),
]


def best_time(fn, repeat: int) -> float:
    fn()
    t0 = time.perf_counter()
    fn()
    n = max(1, int(0.05 / max(time.perf_counter() - t0, 1e-6)))
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, (time.perf_counter() - t0) / n)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    dt = np.dtype(args.dtype)
    algo, rng = ALGORITHMS["brgemm"], np.random.default_rng(0)
    feats, times = [], []
    print(f"brgemm on {_native.get_isa()}, {dt.name}, {_native.get_num_threads()} thread(s)")
    for op, xs, ws, kw in CASES:
        x, w = rng.standard_normal(xs).astype(dt), rng.standard_normal(ws).astype(dt)
        geom = (tconv.conv_geometry if op == "conv" else tconv.conv_transpose_geometry)(ws, xs[2:], **kw)
        fn = getattr(tconv, op)
        seconds = best_time(lambda: fn(x, w, method="brgemm", **kw), args.repeat)  # noqa: B023 (called here)
        terms = cost_terms(geom, xs[0], dt.itemsize, op)
        feats.append([2.0 * terms["slots"]] + [terms[k] for k in NAMES[1:-1]] + [1.0])
        times.append(seconds)
        est = algo.cost(geom, xs[0], dt.itemsize, op)
        print(f"  {op:15s} {str(xs):22s} {str(ws):20s} {seconds * 1e3:8.3f} ms  model {est / seconds:5.2f}x")
    a, t = np.array(feats), np.array(times)
    sol, _ = nnls(a / t[:, None], np.ones_like(t))
    print("fit: " + ", ".join(f"{n} {v:.3g}" for n, v in zip(NAMES, sol)) + (f"; rate {1 / sol[0]:.3g}" if sol[0] else ""))
    print("fitted / measured: " + " ".join(f"{r:.2f}" for r in a @ sol / t))


if __name__ == "__main__":
    main()
