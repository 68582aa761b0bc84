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
from tconv.core import _native
from tconv.core.planner import plan

# the recorded times are the AVX-512 kernels'; with other kernels (TCONV_ISA, TCONV_NATIVE=0, a CPU without
# AVX-512) the models are theirs and the times do not apply
pytestmark = pytest.mark.skipif(_native.get_isa() != "avx512",
                                reason="times recorded with the AVX-512 kernels; this run has others (forced, or another CPU)")

# (spatial, kernel, stride, channels, dtype, op): measured ms per algorithm, the best of two runs of
# benchmarks/planner_fft.py --repeat 3 (2026-12-02, 2-core Xeon with AVX-512, quiet), re-recorded after
# native began reading B in place and running few output channels as one GEMM over the union of taps
# (native's single-channel times fell 3-30x); only cases with a clear winner: the same algorithm fastest in
# both runs, the second fastest at least 1.5x slower than it, and over 0.2 ms (the rest is within the
# machine's noise)
RECORDED = {
    ((1024, 1024), 15, 2, 1, 'float32', 'conv'): {'direct': 5.07, 'fft': 7.91},
    ((1024, 1024), 15, 2, 1, 'float32', 'weight_grad'): {'direct': 7.76, 'fft': 12.63, 'native': 31.46},
    ((1024, 1024), 15, 2, 1, 'float64', 'conv'): {'direct': 7.40, 'fft': 13.95},
    ((1024, 1024), 15, 2, 1, 'float64', 'weight_grad'): {'direct': 8.93, 'fft': 18.85, 'native': 48.88},
    ((1024, 1024), 3, 1, 1, 'float32', 'conv'): {'direct': 0.57, 'fft': 12.39, 'gemm': 8.51, 'native': 3.23},
    ((1024, 1024), 3, 1, 1, 'float32', 'conv_transpose'): {'direct': 0.57, 'fft': 13.44, 'gemm': 4.86, 'native': 2.68},
    ((1024, 1024), 3, 1, 1, 'float32', 'weight_grad'): {'direct': 1.95, 'fft': 18.39, 'gemm': 17.73, 'native': 119.98},
    ((1024, 1024), 3, 1, 1, 'float64', 'conv'): {'direct': 1.69, 'fft': 24.98, 'native': 4.29},
    ((1024, 1024), 3, 1, 1, 'float64', 'conv_transpose'): {'direct': 1.33, 'fft': 23.77, 'native': 3.97},
    ((1024, 1024), 3, 1, 1, 'float64', 'weight_grad'): {'direct': 1.95, 'fft': 32.18, 'native': 113.20},
    ((1024, 1024), 31, 1, 1, 'float32', 'conv'): {'direct': 31.99, 'fft': 10.78},
    ((1024, 1024), 31, 1, 1, 'float32', 'conv_transpose'): {'direct': 34.02, 'fft': 13.19},
    ((1024, 1024), 31, 1, 1, 'float32', 'weight_grad'): {'direct': 78.06, 'fft': 18.57},
    ((1024, 1024), 31, 1, 1, 'float64', 'conv'): {'direct': 44.86, 'fft': 18.00},
    ((1024, 1024), 31, 1, 1, 'float64', 'conv_transpose'): {'direct': 46.85, 'fft': 19.41},
    ((1024, 1024), 31, 1, 1, 'float64', 'weight_grad'): {'direct': 64.38, 'fft': 21.18},
    ((2048, 2048), 15, 1, 1, 'float32', 'weight_grad'): {'direct': 72.02, 'fft': 45.80},
    ((2048, 2048), 5, 1, 1, 'float32', 'conv'): {'direct': 5.84, 'fft': 44.30},
    ((2048, 2048), 5, 1, 1, 'float32', 'conv_transpose'): {'direct': 6.27, 'fft': 43.78},
    ((2048, 2048), 5, 1, 1, 'float32', 'weight_grad'): {'direct': 10.99, 'fft': 54.96},
    ((2048, 2048), 5, 1, 1, 'float64', 'conv'): {'direct': 11.96, 'fft': 67.66},
    ((2048, 2048), 5, 1, 1, 'float64', 'conv_transpose'): {'direct': 12.50, 'fft': 72.50},
    ((2048, 2048), 5, 1, 1, 'float64', 'weight_grad'): {'direct': 9.96, 'fft': 81.74},
    ((256, 256), 31, 1, 1, 'float32', 'conv'): {'direct': 2.66, 'fft': 1.36, 'native': 17.97},
    ((256, 256), 31, 1, 1, 'float32', 'conv_transpose'): {'direct': 2.79, 'fft': 1.18, 'native': 16.52},
    ((256, 256), 31, 1, 1, 'float32', 'weight_grad'): {'direct': 6.49, 'fft': 1.95, 'native': 22.44},
    ((256, 256), 31, 1, 1, 'float64', 'weight_grad'): {'direct': 4.22, 'fft': 2.76, 'native': 31.59},
    ((256, 256), 31, 2, 1, 'float32', 'conv_transpose'): {'direct': 1.38, 'fft': 1.25, 'gemm': 10.65, 'native': 0.38},
    ((256, 256), 31, 2, 1, 'float32', 'weight_grad'): {'direct': 2.48, 'fft': 1.47, 'gemm': 13.43, 'native': 5.60},
    ((256, 256), 5, 1, 1, 'float32', 'weight_grad'): {'direct': 0.23, 'fft': 1.13, 'gemm': 2.75, 'native': 3.04},
    ((32, 32, 32), 3, 1, 1, 'float64', 'conv'): {'direct': 0.50, 'fft': 1.27, 'gemm': 1.62, 'native': 0.30},
    ((32, 32, 32), 3, 1, 1, 'float64', 'conv_transpose'): {'direct': 0.48, 'fft': 1.16, 'gemm': 1.38, 'native': 0.29},
    ((32, 32, 32), 3, 1, 1, 'float64', 'weight_grad'): {'direct': 0.33, 'fft': 1.26, 'gemm': 1.86, 'native': 3.10},
    ((512, 512), 15, 3, 1, 'float32', 'conv'): {'direct': 0.84, 'fft': 4.31, 'gemm': 5.68, 'native': 9.00},
    ((512, 512), 15, 3, 1, 'float32', 'conv_transpose'): {'direct': 0.52, 'fft': 3.96, 'gemm': 2.96, 'native': 1.35},
    ((512, 512), 15, 3, 1, 'float32', 'weight_grad'): {'direct': 1.09, 'fft': 4.33, 'gemm': 7.68, 'native': 3.18},
    ((512, 512), 15, 3, 1, 'float64', 'conv'): {'direct': 1.33, 'fft': 5.91, 'gemm': 12.33, 'native': 7.95},
    ((512, 512), 15, 3, 1, 'float64', 'conv_transpose'): {'direct': 0.64, 'fft': 5.41, 'gemm': 5.24, 'native': 1.94},
    ((512, 512), 15, 3, 1, 'float64', 'weight_grad'): {'direct': 1.07, 'fft': 6.13, 'gemm': 14.43, 'native': 5.01},
    ((512, 512), 65, 1, 1, 'float32', 'conv'): {'direct': 35.35, 'fft': 5.13},
    ((512, 512), 65, 1, 1, 'float32', 'conv_transpose'): {'direct': 38.33, 'fft': 5.38},
    ((512, 512), 65, 1, 1, 'float32', 'weight_grad'): {'direct': 90.00, 'fft': 8.25},
    ((512, 512), 65, 1, 1, 'float64', 'conv'): {'direct': 49.71, 'fft': 8.53},
    ((512, 512), 65, 1, 1, 'float64', 'conv_transpose'): {'direct': 49.35, 'fft': 9.81},
    ((512, 512), 65, 1, 1, 'float64', 'weight_grad'): {'direct': 64.16, 'fft': 11.22},
    ((512, 512), 9, 1, 1, 'float32', 'conv'): {'direct': 1.09, 'fft': 3.98, 'native': 2.83},
    ((512, 512), 9, 1, 1, 'float32', 'conv_transpose'): {'direct': 1.18, 'fft': 4.39, 'native': 3.20},
    ((512, 512), 9, 1, 1, 'float32', 'weight_grad'): {'direct': 2.28, 'fft': 4.25, 'native': 17.98},
    ((512, 512), 9, 1, 1, 'float64', 'conv'): {'direct': 1.46, 'fft': 5.64, 'native': 5.55},
    ((512, 512), 9, 1, 1, 'float64', 'conv_transpose'): {'direct': 1.41, 'fft': 6.67, 'native': 5.44},
    ((512, 512), 9, 1, 1, 'float64', 'weight_grad'): {'direct': 1.68, 'fft': 7.02, 'native': 18.69},
    ((512, 512), 9, 1, 3, 'float32', 'conv'): {'direct': 8.22, 'fft': 10.69, 'native': 5.29},
    ((512, 512), 9, 1, 3, 'float64', 'weight_grad'): {'direct': 12.98, 'fft': 24.77, 'native': 56.06},
    ((64, 64, 64), 5, 2, 1, 'float32', 'conv'): {'direct': 1.46, 'fft': 4.97, 'gemm': 4.59, 'native': 6.05},
    ((64, 64, 64), 5, 2, 1, 'float32', 'weight_grad'): {'direct': 2.24, 'fft': 4.90, 'gemm': 5.27, 'native': 4.24},
    ((64, 64, 64), 5, 2, 1, 'float64', 'conv'): {'direct': 1.53, 'fft': 7.98, 'gemm': 7.78, 'native': 5.15},
    ((64, 64, 64), 5, 2, 1, 'float64', 'conv_transpose'): {'direct': 1.12, 'fft': 5.41, 'gemm': 4.78, 'native': 0.28},
    ((64, 64, 64), 5, 2, 1, 'float64', 'weight_grad'): {'direct': 1.46, 'fft': 6.96, 'gemm': 8.94, 'native': 4.37},
    ((64, 64, 64), 9, 1, 1, 'float32', 'conv'): {'direct': 25.54, 'fft': 5.68},
    ((64, 64, 64), 9, 1, 1, 'float32', 'conv_transpose'): {'direct': 26.30, 'fft': 6.34},
    ((64, 64, 64), 9, 1, 1, 'float32', 'weight_grad'): {'direct': 34.33, 'fft': 8.64, 'native': 120.35},
    ((64, 64, 64), 9, 1, 1, 'float64', 'conv'): {'direct': 25.86, 'fft': 7.97},
    ((64, 64, 64), 9, 1, 1, 'float64', 'conv_transpose'): {'direct': 24.59, 'fft': 8.82},
    ((64, 64, 64), 9, 1, 1, 'float64', 'weight_grad'): {'direct': 20.96, 'fft': 12.05, 'native': 142.80},
    ((96, 96, 96), 15, 1, 1, 'float32', 'conv'): {'direct': 268.93, 'fft': 24.28},
    ((96, 96, 96), 15, 1, 1, 'float32', 'conv_transpose'): {'direct': 280.11, 'fft': 31.48},
    ((96, 96, 96), 15, 1, 1, 'float32', 'weight_grad'): {'direct': 408.06, 'fft': 30.18},
    ((96, 96, 96), 15, 1, 1, 'float64', 'conv'): {'direct': 293.21, 'fft': 39.54},
    ((96, 96, 96), 15, 1, 1, 'float64', 'conv_transpose'): {'direct': 304.13, 'fft': 48.42},
    ((96, 96, 96), 15, 1, 1, 'float64', 'weight_grad'): {'direct': 238.24, 'fft': 46.15},
}

# cases where auto's choice is off because another algorithm's estimate is: gemm's and native's models
# (being refitted for the channel-heavy layers, not here) are 2-3x optimistic on single-channel strided 3-D
GEMM_NATIVE_OPTIMISTIC = {
    ((64, 64, 64), 5, 2, 1, "float32", "conv"),
    ((64, 64, 64), 5, 2, 1, "float32", "weight_grad"),
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
