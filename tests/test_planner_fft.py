"""``auto`` with ``fft`` in the registry, on the grid of issue 20 (kernels 3..65, images 64..2048,
1-3 D, strides 1-4): the cost model's choice against timings.

The machine is 2 cores shared with other work (a load average of 5-9 during the recorded run), so
the full timing grid is a benchmark (``benchmarks/planner_fft.py``); here: (1) the model's choice on
every case of the grid, checked against the measured times recorded from that script (best of 3,
algorithms interleaved), within 1.25x of the fastest wherever the recorded gap is clear of the
noise; (2) a live timing of cases whose winner is decisive (over 4x), which load does not flip.
"""

import time

import numpy as np
import pytest

import tconv
from tconv.core.algorithms import ALGORITHMS
from tconv.core.planner import plan

# (spatial, kernel, stride, channels, dtype, op): measured ms per algorithm (benchmarks/planner_fft.py
# --repeat 3, 2026-12-01, 2-core Xeon shared with other sessions); cases whose recorded times were
# within the run's noise of each other (under 1.5x apart with the load at 6-9) are left out
RECORDED = {
    ((256, 256), 31, 1, 1, "float32", "conv"): {"direct": 43.73, "fft": 1.49},
    ((256, 256), 31, 1, 1, "float64", "conv_transpose"): {"direct": 20.12, "fft": 2.42},
    ((256, 256), 31, 2, 1, "float64", "conv"): {"direct": 15.86, "fft": 1.58},
    ((256, 256), 5, 1, 1, "float64", "conv_transpose"): {"direct": 0.47, "fft": 1.88, "gemm": 29.50},
    ((256, 256), 5, 1, 1, "float32", "weight_grad"): {"direct": 0.69, "fft": 2.94, "gemm": 1.91},
    ((512, 512), 9, 1, 3, "float32", "conv"): {"direct": 127.88, "fft": 18.49},
    ((512, 512), 15, 3, 1, "float64", "conv"): {"direct": 4.22, "fft": 13.48, "gemm": 46.28},
    ((64, 64, 64), 9, 1, 1, "float32", "conv"): {"direct": 87.20, "fft": 6.10},
    ((64, 64, 64), 9, 1, 1, "float64", "weight_grad"): {"direct": 167.43, "fft": 25.05},
    ((64, 64, 64), 5, 2, 1, "float32", "conv_transpose"): {"direct": 2.39, "fft": 19.94, "gemm": 4.38},
    ((32, 32, 32), 3, 1, 1, "float64", "conv"): {"direct": 0.60, "fft": 0.96, "gemm": 0.94},
    ((96, 96, 96), 15, 1, 1, "float64", "conv_transpose"): {"direct": 550.32, "fft": 37.76},
    ((96, 96, 96), 15, 1, 1, "float64", "weight_grad"): {"direct": 1557.90, "fft": 38.18},
}


def _geom(shape, k, s, c):
    return tconv.conv_geometry((c, c, *(k,) * len(shape)), shape, s, "same")


@pytest.mark.parametrize("case", sorted(RECORDED, key=str))
def test_model_choice_within_125_of_the_recorded_fastest(case):
    shape, k, s, c, dtype, op = case
    times = RECORDED[case]
    choice = plan(_geom(shape, k, s, c), 1, dtype, op).choice
    assert choice in times, (case, choice)
    assert times[choice] <= 1.25 * min(times.values()), (case, choice, times)


def _best(fn, *args, repeat=3):
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn(*args)
        best = min(best, time.perf_counter() - t)
    return best


LIVE = [((256, 256), 31, 1, 1, "float64", "conv"), ((128,), 3, 1, 1, "float64", "conv"),
        ((48, 48, 48), 9, 1, 1, "float32", "conv_transpose"), ((2048,), 65, 1, 1, "float64", "weight_grad"),
        ((512, 512), 3, 2, 1, "float32", "conv")]


@pytest.mark.parametrize("case", LIVE, ids=str)
def test_live_decisive_cases(case):
    shape, k, s, c, dtype, op = case
    g = _geom(shape, k, s, c)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, c, *g.x_shape)).astype(dtype)
    y = rng.standard_normal((1, c, *g.y_shape)).astype(dtype)
    w = rng.standard_normal(g.weight_shape).astype(dtype)
    args = {"conv": (x, w), "conv_transpose": (y, w), "weight_grad": (y, x)}[op]
    p = plan(g, 1, dtype, op)
    names = [cand.name for cand in p.candidates if cand.reason is None and cand.seconds < 1.0]
    for n in names:
        ALGORITHMS[n].run(op, *args, g)  # warm-up
    times = {n: _best(ALGORITHMS[n].run, op, *args, g) for n in names}
    assert times[p.choice] <= 1.25 * min(times.values()) or times[p.choice] < 2e-4, (case, p.choice, times)
