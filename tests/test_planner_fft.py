"""``auto`` with ``fft`` in the registry, on the grid of issue 20 (kernels 3..65, images 64..2048,
1-3 D, strides 1-4): the cost model's choice against timings.

The machine is 2 cores shared with other work (a load average of 1-5 during the recorded runs), so
the timing grid is a benchmark (``benchmarks/planner_fft.py``); here the model's choice on the cases
of the grid is checked against the times recorded from that script (best of 3 per run, algorithms
interleaved, five runs), within 1.25x of the fastest wherever the recorded gap is clear of the noise.
Nothing is timed here.
"""


import pytest

import tconv
from tconv.core.planner import plan

# (spatial, kernel, stride, channels, dtype, op): measured ms per algorithm, the best of five runs of
# benchmarks/planner_fft.py --repeat 3 (2026-12-01, 2-core Xeon shared with other sessions, load 1-5),
# after direct became C; only cases with a clear winner: the same algorithm fastest in all five runs, the
# second fastest at least 1.5x slower than it, and over 0.2 ms (the rest is within the machine's noise)
RECORDED = {
    ((1024, 1024), 15, 2, 1, 'float32', 'conv'): {'direct': 4.85, 'fft': 9.02, 'native': 39.25},
    ((1024, 1024), 15, 2, 1, 'float32', 'conv_transpose'): {'direct': 2.63, 'fft': 9.86, 'native': 91.12},
    ((1024, 1024), 15, 2, 1, 'float64', 'conv'): {'direct': 6.76, 'fft': 13.43, 'native': 36.46},
    ((1024, 1024), 15, 2, 1, 'float64', 'conv_transpose'): {'direct': 3.85, 'fft': 15.18, 'native': 105.88},
    ((1024, 1024), 15, 2, 1, 'float64', 'weight_grad'): {'direct': 7.70, 'fft': 14.81, 'native': 43.97},
    ((1024, 1024), 3, 1, 1, 'float32', 'conv'): {'direct': 1.08, 'fft': 8.05, 'gemm': 8.26, 'native': 76.52},
    ((1024, 1024), 3, 1, 1, 'float32', 'conv_transpose'): {'direct': 1.12, 'fft': 9.56, 'gemm': 6.31, 'native': 104.01},
    ((1024, 1024), 3, 1, 1, 'float32', 'weight_grad'): {'direct': 1.27, 'fft': 10.17, 'gemm': 10.71, 'native': 101.21},
    ((1024, 1024), 3, 1, 1, 'float64', 'conv'): {'direct': 1.59, 'fft': 16.10, 'native': 73.44},
    ((1024, 1024), 3, 1, 1, 'float64', 'conv_transpose'): {'direct': 1.52, 'fft': 18.01, 'native': 104.23},
    ((1024, 1024), 3, 1, 1, 'float64', 'weight_grad'): {'direct': 1.23, 'fft': 16.20, 'native': 106.31},
    ((1024, 1024), 31, 1, 1, 'float32', 'conv'): {'direct': 29.19, 'fft': 12.02},
    ((1024, 1024), 31, 1, 1, 'float32', 'conv_transpose'): {'direct': 31.72, 'fft': 13.00},
    ((1024, 1024), 31, 1, 1, 'float32', 'weight_grad'): {'direct': 70.36, 'fft': 13.14},
    ((1024, 1024), 31, 1, 1, 'float64', 'conv'): {'direct': 42.78, 'fft': 20.55, 'native': 800.54},
    ((1024, 1024), 31, 1, 1, 'float64', 'conv_transpose'): {'direct': 42.77, 'fft': 21.69, 'native': 1077.08},
    ((1024, 1024), 31, 1, 1, 'float64', 'weight_grad'): {'direct': 57.69, 'fft': 20.90},
    ((2048, 2048), 15, 1, 1, 'float32', 'weight_grad'): {'direct': 61.32, 'fft': 37.25},
    ((2048, 2048), 5, 1, 1, 'float32', 'conv'): {'direct': 4.02, 'fft': 33.12},
    ((2048, 2048), 5, 1, 1, 'float32', 'conv_transpose'): {'direct': 4.53, 'fft': 35.91},
    ((2048, 2048), 5, 1, 1, 'float32', 'weight_grad'): {'direct': 7.62, 'fft': 35.15},
    ((2048, 2048), 5, 1, 1, 'float64', 'conv'): {'direct': 10.73, 'fft': 54.90},
    ((2048, 2048), 5, 1, 1, 'float64', 'conv_transpose'): {'direct': 10.44, 'fft': 62.10},
    ((2048, 2048), 5, 1, 1, 'float64', 'weight_grad'): {'direct': 8.35, 'fft': 57.91},
    ((256, 256), 31, 1, 1, 'float32', 'conv'): {'direct': 2.98, 'fft': 1.26, 'native': 15.29},
    ((256, 256), 31, 1, 1, 'float32', 'conv_transpose'): {'direct': 3.05, 'fft': 1.23, 'native': 15.27},
    ((256, 256), 31, 1, 1, 'float32', 'weight_grad'): {'direct': 5.86, 'fft': 1.36, 'native': 24.31},
    ((256, 256), 31, 1, 1, 'float64', 'conv'): {'direct': 3.46, 'fft': 1.99, 'native': 27.15},
    ((256, 256), 31, 1, 1, 'float64', 'conv_transpose'): {'direct': 3.67, 'fft': 2.22, 'native': 27.57},
    ((256, 256), 31, 1, 1, 'float64', 'weight_grad'): {'direct': 3.71, 'fft': 2.02, 'native': 36.74},
    ((256, 256), 31, 2, 1, 'float32', 'conv'): {'direct': 1.72, 'fft': 1.13, 'gemm': 20.57, 'native': 15.49},
    ((256, 256), 31, 2, 1, 'float32', 'weight_grad'): {'direct': 4.26, 'fft': 1.24, 'gemm': 10.65, 'native': 6.18},
    ((256, 256), 31, 2, 1, 'float64', 'conv'): {'direct': 2.69, 'fft': 1.66, 'native': 13.80},
    ((256, 256), 5, 1, 1, 'float64', 'conv'): {'direct': 0.28, 'fft': 1.14, 'gemm': 1.45, 'native': 2.01},
    ((256, 256), 5, 1, 1, 'float64', 'conv_transpose'): {'direct': 0.21, 'fft': 1.22, 'gemm': 1.32, 'native': 1.13},
    ((256, 256), 5, 1, 1, 'float64', 'weight_grad'): {'direct': 0.28, 'fft': 1.22, 'gemm': 1.97, 'native': 2.21},
    ((32, 32, 32), 3, 1, 1, 'float64', 'conv'): {'direct': 0.41, 'fft': 0.95, 'gemm': 0.68, 'native': 0.94},
    ((32, 32, 32), 3, 1, 1, 'float64', 'conv_transpose'): {'direct': 0.44, 'fft': 0.94, 'gemm': 0.95, 'native': 0.96},
    ((32, 32, 32), 3, 1, 1, 'float64', 'weight_grad'): {'direct': 0.31, 'fft': 1.03, 'gemm': 0.69, 'native': 2.68},
    ((512, 512), 15, 3, 1, 'float32', 'conv'): {'direct': 0.96, 'fft': 2.50, 'gemm': 7.05, 'native': 6.72},
    ((512, 512), 15, 3, 1, 'float32', 'conv_transpose'): {'direct': 0.55, 'fft': 2.68, 'gemm': 3.44, 'native': 5.53},
    ((512, 512), 15, 3, 1, 'float32', 'weight_grad'): {'direct': 1.10, 'fft': 2.65, 'gemm': 4.21, 'native': 3.59},
    ((512, 512), 15, 3, 1, 'float64', 'conv'): {'direct': 1.30, 'fft': 3.52, 'gemm': 9.08, 'native': 4.66},
    ((512, 512), 15, 3, 1, 'float64', 'conv_transpose'): {'direct': 0.62, 'fft': 4.83, 'gemm': 6.90, 'native': 7.92},
    ((512, 512), 15, 3, 1, 'float64', 'weight_grad'): {'direct': 1.25, 'fft': 4.12, 'gemm': 9.69, 'native': 5.20},
    ((512, 512), 65, 1, 1, 'float32', 'conv'): {'direct': 32.07, 'fft': 4.12},
    ((512, 512), 65, 1, 1, 'float32', 'conv_transpose'): {'direct': 33.76, 'fft': 4.47},
    ((512, 512), 65, 1, 1, 'float32', 'weight_grad'): {'direct': 80.31, 'fft': 4.69},
    ((512, 512), 65, 1, 1, 'float64', 'conv'): {'direct': 42.92, 'fft': 6.77},
    ((512, 512), 65, 1, 1, 'float64', 'conv_transpose'): {'direct': 44.06, 'fft': 7.38},
    ((512, 512), 65, 1, 1, 'float64', 'weight_grad'): {'direct': 53.33, 'fft': 7.46},
    ((512, 512), 9, 1, 1, 'float32', 'conv'): {'direct': 1.04, 'fft': 2.39, 'native': 6.25},
    ((512, 512), 9, 1, 1, 'float32', 'conv_transpose'): {'direct': 1.01, 'fft': 2.44, 'native': 6.26},
    ((512, 512), 9, 1, 1, 'float64', 'conv'): {'direct': 1.52, 'fft': 4.24, 'native': 10.74},
    ((512, 512), 9, 1, 1, 'float64', 'conv_transpose'): {'direct': 1.39, 'fft': 4.83, 'native': 10.45},
    ((512, 512), 9, 1, 1, 'float64', 'weight_grad'): {'direct': 1.34, 'fft': 4.90, 'native': 19.44},
    ((512, 512), 9, 1, 3, 'float64', 'conv_transpose'): {'direct': 9.56, 'fft': 19.07, 'native': 30.97},
    ((64, 64, 64), 5, 2, 1, 'float32', 'conv'): {'direct': 1.59, 'fft': 4.02, 'gemm': 5.68, 'native': 5.29},
    ((64, 64, 64), 5, 2, 1, 'float32', 'conv_transpose'): {'direct': 1.08, 'fft': 4.00, 'gemm': 4.80, 'native': 4.30},
    ((64, 64, 64), 5, 2, 1, 'float64', 'conv'): {'direct': 1.67, 'fft': 6.25, 'gemm': 5.97, 'native': 5.44},
    ((64, 64, 64), 5, 2, 1, 'float64', 'conv_transpose'): {'direct': 1.23, 'fft': 6.40, 'gemm': 6.82, 'native': 6.14},
    ((64, 64, 64), 5, 2, 1, 'float64', 'weight_grad'): {'direct': 1.47, 'fft': 7.17, 'gemm': 6.68, 'native': 9.28},
    ((64, 64, 64), 9, 1, 1, 'float32', 'conv'): {'direct': 22.75, 'fft': 5.73, 'native': 47.41},
    ((64, 64, 64), 9, 1, 1, 'float32', 'conv_transpose'): {'direct': 24.52, 'fft': 6.36, 'native': 49.06},
    ((64, 64, 64), 9, 1, 1, 'float32', 'weight_grad'): {'direct': 29.53, 'fft': 6.09, 'native': 113.81},
    ((64, 64, 64), 9, 1, 1, 'float64', 'conv'): {'direct': 24.62, 'fft': 8.87, 'native': 88.10},
    ((64, 64, 64), 9, 1, 1, 'float64', 'conv_transpose'): {'direct': 25.02, 'fft': 9.54, 'native': 89.28},
    ((64, 64, 64), 9, 1, 1, 'float64', 'weight_grad'): {'direct': 17.43, 'fft': 9.99, 'native': 147.59},
    ((96, 96, 96), 15, 1, 1, 'float32', 'conv'): {'direct': 235.57, 'fft': 15.74},
    ((96, 96, 96), 15, 1, 1, 'float32', 'conv_transpose'): {'direct': 242.92, 'fft': 20.38},
    ((96, 96, 96), 15, 1, 1, 'float32', 'weight_grad'): {'direct': 376.98, 'fft': 18.72},
    ((96, 96, 96), 15, 1, 1, 'float64', 'conv'): {'direct': 272.71, 'fft': 40.32},
    ((96, 96, 96), 15, 1, 1, 'float64', 'conv_transpose'): {'direct': 268.12, 'fft': 46.03},
    ((96, 96, 96), 15, 1, 1, 'float64', 'weight_grad'): {'direct': 218.97, 'fft': 44.19},
}

# cases where auto's choice is off because another algorithm's estimate is: gemm's and native's models
# (being refitted for the channel-heavy layers, not here) are 2-3x optimistic on single-channel strided 3-D
GEMM_NATIVE_OPTIMISTIC = {
    ((64, 64, 64), 5, 2, 1, "float32", "conv"),
}


def _geom(shape, k, s, c):
    return tconv.conv_geometry((c, c, *(k,) * len(shape)), shape, s, "same")


@pytest.mark.parametrize("case", [pytest.param(c, marks=pytest.mark.xfail(
    reason="gemm/native estimate 2-3x optimistic (their models)", strict=False)) if c in GEMM_NATIVE_OPTIMISTIC
    else c for c in sorted(RECORDED, key=str)], ids=str)
def test_model_choice_within_125_of_the_recorded_fastest(case):
    shape, k, s, c, dtype, op = case
    times = RECORDED[case]
    choice = plan(_geom(shape, k, s, c), 1, dtype, op).choice
    assert choice in times, (case, choice)
    assert times[choice] <= 1.25 * min(times.values()), (case, choice, times)
