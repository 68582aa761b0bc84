"""``auto`` with ``fft`` in the registry, on the grid of issue 20 (kernels 3..65, images 64..2048,
1-3 D, strides 1-4): the cost model's choice against timings.

The machine is 2 cores shared with other work (a load average of 1-5 during the recorded runs), so
the timing grid is a benchmark (``benchmarks/planner_fft.py``); here the model's choice on the cases
of the grid is checked against the times recorded from that script (best of 3 per run, algorithms
interleaved, two runs), within 1.25x of the fastest wherever the recorded gap is clear of the noise.
Nothing is timed here.
"""


import pytest

import tconv
from tconv.core import _native
from tconv.core.planner import plan

# the recorded times are one instruction set's kernels' (AVX-512 on a Zen 5, AVX2 on a Zen 3); with others
# (TCONV_ISA=generic, TCONV_NATIVE=0, a CPU with neither) the models are theirs and no times apply
pytestmark = pytest.mark.skipif(_native.get_isa() not in ("avx512", "avx2"),
                                reason="times recorded with the AVX-512 and AVX2 kernels; this run has others")

AVX512 = {
    ((1024, 1024), 15, 2, 1, 'float64', 'weight_grad'): {'direct': 9.23, 'fft': 13.85, 'native': 38.64},
    ((1024, 1024), 3, 1, 1, 'float32', 'conv'): {'direct': 0.32, 'fft': 8.06, 'gemm': 5.37, 'native': 1.89},
    ((1024, 1024), 3, 1, 1, 'float32', 'conv_transpose'): {'direct': 0.40, 'fft': 8.21, 'gemm': 4.61, 'native': 1.82},
    ((1024, 1024), 3, 1, 1, 'float32', 'weight_grad'): {'direct': 1.02, 'fft': 9.86, 'gemm': 15.27, 'native': 58.95},
    ((1024, 1024), 3, 1, 1, 'float64', 'conv'): {'direct': 1.06, 'fft': 17.18, 'native': 3.12},
    ((1024, 1024), 3, 1, 1, 'float64', 'conv_transpose'): {'direct': 0.71, 'fft': 15.45, 'native': 2.85},
    ((1024, 1024), 3, 1, 1, 'float64', 'weight_grad'): {'direct': 1.31, 'fft': 16.42, 'native': 71.69},
    ((1024, 1024), 31, 1, 1, 'float32', 'conv'): {'direct': 13.18, 'fft': 7.76},
    ((1024, 1024), 31, 1, 1, 'float32', 'conv_transpose'): {'direct': 12.71, 'fft': 7.80},
    ((1024, 1024), 31, 1, 1, 'float32', 'weight_grad'): {'direct': 46.01, 'fft': 8.96, 'native': 197.81},
    ((1024, 1024), 31, 1, 1, 'float64', 'conv'): {'direct': 23.21, 'fft': 10.43},
    ((1024, 1024), 31, 1, 1, 'float64', 'conv_transpose'): {'direct': 23.14, 'fft': 13.23},
    ((1024, 1024), 31, 1, 1, 'float64', 'weight_grad'): {'direct': 63.38, 'fft': 12.07},
    ((2048, 2048), 15, 1, 1, 'float32', 'conv'): {'direct': 10.78, 'fft': 16.54},
    ((2048, 2048), 15, 1, 1, 'float32', 'conv_transpose'): {'direct': 11.78, 'fft': 18.36},
    ((2048, 2048), 15, 1, 1, 'float64', 'conv'): {'direct': 18.98, 'fft': 29.31},
    ((2048, 2048), 15, 1, 1, 'float64', 'conv_transpose'): {'direct': 19.50, 'fft': 36.26},
    ((2048, 2048), 15, 1, 1, 'float64', 'weight_grad'): {'direct': 58.91, 'fft': 30.42},
    ((2048, 2048), 5, 1, 1, 'float32', 'conv'): {'direct': 2.71, 'fft': 27.50},
    ((2048, 2048), 5, 1, 1, 'float32', 'conv_transpose'): {'direct': 2.44, 'fft': 27.07},
    ((2048, 2048), 5, 1, 1, 'float32', 'weight_grad'): {'direct': 6.04, 'fft': 25.56},
    ((2048, 2048), 5, 1, 1, 'float64', 'conv'): {'direct': 3.64, 'fft': 50.56},
    ((2048, 2048), 5, 1, 1, 'float64', 'conv_transpose'): {'direct': 3.60, 'fft': 31.49},
    ((2048, 2048), 5, 1, 1, 'float64', 'weight_grad'): {'direct': 8.15, 'fft': 36.80},
    ((256, 256), 31, 1, 1, 'float32', 'weight_grad'): {'direct': 4.38, 'fft': 1.04, 'native': 9.15},
    ((256, 256), 31, 1, 1, 'float64', 'weight_grad'): {'direct': 5.17, 'fft': 2.08, 'native': 27.11},
    ((256, 256), 31, 2, 1, 'float32', 'conv'): {'direct': 1.94, 'fft': 1.13, 'gemm': 13.07},
    ((256, 256), 31, 2, 1, 'float32', 'conv_transpose'): {'direct': 1.42, 'fft': 1.54, 'gemm': 9.58, 'native': 0.36},
    ((256, 256), 31, 2, 1, 'float32', 'weight_grad'): {'direct': 3.04, 'fft': 1.39, 'gemm': 14.32, 'native': 4.98},
    ((256, 256), 31, 2, 1, 'float64', 'conv'): {'direct': 2.55, 'fft': 1.45},
    ((256, 256), 31, 2, 1, 'float64', 'weight_grad'): {'direct': 2.95, 'fft': 1.94, 'native': 9.70},
    ((32, 32, 32), 3, 1, 1, 'float64', 'weight_grad'): {'direct': 0.27, 'fft': 0.84, 'gemm': 1.07, 'native': 1.02},
    ((512, 512), 15, 3, 1, 'float32', 'conv'): {'direct': 0.67, 'fft': 2.73, 'gemm': 4.57, 'native': 8.30},
    ((512, 512), 15, 3, 1, 'float32', 'conv_transpose'): {'direct': 0.63, 'fft': 3.78, 'gemm': 2.61, 'native': 1.71},
    ((512, 512), 15, 3, 1, 'float32', 'weight_grad'): {'direct': 0.78, 'fft': 2.94, 'gemm': 6.28, 'native': 3.01},
    ((512, 512), 15, 3, 1, 'float64', 'conv'): {'direct': 1.23, 'fft': 3.85, 'gemm': 9.25, 'native': 9.03},
    ((512, 512), 15, 3, 1, 'float64', 'conv_transpose'): {'direct': 0.55, 'fft': 4.01, 'gemm': 4.37, 'native': 1.45},
    ((512, 512), 15, 3, 1, 'float64', 'weight_grad'): {'direct': 1.12, 'fft': 4.27, 'gemm': 9.13, 'native': 4.34},
    ((512, 512), 65, 1, 1, 'float32', 'conv'): {'direct': 13.88, 'fft': 3.11},
    ((512, 512), 65, 1, 1, 'float32', 'conv_transpose'): {'direct': 14.39, 'fft': 3.02},
    ((512, 512), 65, 1, 1, 'float32', 'weight_grad'): {'direct': 65.90, 'fft': 3.60, 'native': 157.38},
    ((512, 512), 65, 1, 1, 'float64', 'conv'): {'direct': 24.28, 'fft': 4.74},
    ((512, 512), 65, 1, 1, 'float64', 'conv_transpose'): {'direct': 24.14, 'fft': 4.46},
    ((512, 512), 65, 1, 1, 'float64', 'weight_grad'): {'direct': 59.05, 'fft': 4.00},
    ((512, 512), 9, 1, 1, 'float32', 'conv'): {'direct': 0.31, 'fft': 3.48, 'native': 2.60},
    ((512, 512), 9, 1, 1, 'float32', 'conv_transpose'): {'direct': 0.31, 'fft': 3.68, 'native': 2.77},
    ((512, 512), 9, 1, 1, 'float32', 'weight_grad'): {'direct': 1.62, 'fft': 2.82, 'native': 6.96},
    ((512, 512), 9, 1, 1, 'float64', 'conv'): {'direct': 0.65, 'fft': 4.34, 'native': 6.42},
    ((512, 512), 9, 1, 1, 'float64', 'conv_transpose'): {'direct': 0.66, 'fft': 3.90, 'native': 5.61},
    ((512, 512), 9, 1, 1, 'float64', 'weight_grad'): {'direct': 1.97, 'fft': 4.07, 'native': 13.81},
    ((512, 512), 9, 1, 3, 'float32', 'conv'): {'direct': 3.25, 'fft': 8.87, 'native': 6.08},
    ((512, 512), 9, 1, 3, 'float64', 'conv'): {'direct': 4.84, 'fft': 11.61, 'native': 13.13},
    ((512, 512), 9, 1, 3, 'float64', 'conv_transpose'): {'direct': 6.04, 'fft': 12.11, 'native': 11.14},
    ((64, 64, 64), 5, 2, 1, 'float32', 'conv'): {'direct': 1.34, 'fft': 3.50, 'gemm': 3.05, 'native': 6.67},
    ((64, 64, 64), 5, 2, 1, 'float32', 'weight_grad'): {'direct': 1.63, 'fft': 4.16, 'gemm': 3.37, 'native': 4.35},
    ((64, 64, 64), 5, 2, 1, 'float64', 'conv'): {'direct': 1.40, 'fft': 5.39, 'gemm': 5.42, 'native': 4.65},
    ((64, 64, 64), 5, 2, 1, 'float64', 'conv_transpose'): {'direct': 1.20, 'fft': 3.90, 'gemm': 4.39, 'native': 0.21},
    ((64, 64, 64), 5, 2, 1, 'float64', 'weight_grad'): {'direct': 1.65, 'fft': 4.16, 'gemm': 4.60, 'native': 5.17},
    ((64, 64, 64), 9, 1, 1, 'float32', 'weight_grad'): {'direct': 29.15, 'fft': 3.41, 'native': 38.55},
    ((64, 64, 64), 9, 1, 1, 'float64', 'weight_grad'): {'direct': 16.42, 'fft': 5.85, 'native': 70.62},
    ((96, 96, 96), 15, 1, 1, 'float32', 'conv'): {'direct': 55.23, 'fft': 11.55},
    ((96, 96, 96), 15, 1, 1, 'float32', 'conv_transpose'): {'direct': 56.39, 'fft': 12.05},
    ((96, 96, 96), 15, 1, 1, 'float32', 'weight_grad'): {'direct': 361.80, 'fft': 14.55},
    ((96, 96, 96), 15, 1, 1, 'float64', 'conv'): {'direct': 61.98, 'fft': 17.84},
    ((96, 96, 96), 15, 1, 1, 'float64', 'conv_transpose'): {'direct': 62.82, 'fft': 18.75},
    ((96, 96, 96), 15, 1, 1, 'float64', 'weight_grad'): {'direct': 207.33, 'fft': 21.35},
}


# the same on a 2-core AMD Zen 3 with AVX2 (no AVX-512; the machine of issues 18 and 20), best of two runs of
# benchmarks/planner_fft.py --repeat 3 (2026-12-03, benchmarks/planner-fft-runs/zen3/run4.txt, run5.txt), after
# the packer's panel-major tables; the same rule for a clear winner
AVX2 = {
        ((1024, 1024), 3, 1, 1, 'float32', 'conv'): {'direct': 0.46, 'fft': 14.45, 'gemm': 7.51, 'native': 3.62},
        ((1024, 1024), 3, 1, 1, 'float32', 'conv_transpose'): {'direct': 0.44, 'fft': 13.73, 'gemm': 5.55, 'native': 3.36},
        ((1024, 1024), 3, 1, 1, 'float32', 'weight_grad'): {'direct': 1.53, 'fft': 15.09, 'gemm': 13.56, 'native': 85.76},
        ((1024, 1024), 3, 1, 1, 'float64', 'conv'): {'direct': 1.02, 'fft': 15.35, 'native': 5.81},
        ((1024, 1024), 3, 1, 1, 'float64', 'conv_transpose'): {'direct': 0.66, 'fft': 16.98, 'native': 4.45},
        ((1024, 1024), 3, 1, 1, 'float64', 'weight_grad'): {'direct': 2.05, 'fft': 21.24, 'native': 92.45},
        ((1024, 1024), 31, 1, 1, 'float32', 'conv'): {'direct': 22.03, 'fft': 8.98},
        ((1024, 1024), 31, 1, 1, 'float32', 'conv_transpose'): {'direct': 19.44, 'fft': 9.5},
        ((1024, 1024), 31, 1, 1, 'float32', 'weight_grad'): {'direct': 139.54, 'fft': 9.42, 'native': 641.72},
        ((1024, 1024), 31, 1, 1, 'float64', 'conv'): {'direct': 32.95, 'fft': 12.48},
        ((1024, 1024), 31, 1, 1, 'float64', 'conv_transpose'): {'direct': 34.22, 'fft': 12.67},
        ((1024, 1024), 31, 1, 1, 'float64', 'weight_grad'): {'direct': 153.94, 'fft': 16.23},
        ((2048, 2048), 15, 1, 1, 'float32', 'conv_transpose'): {'direct': 18.74, 'fft': 29.42},
        ((2048, 2048), 15, 1, 1, 'float32', 'weight_grad'): {'direct': 129.9, 'fft': 32.92},
        ((2048, 2048), 15, 1, 1, 'float64', 'weight_grad'): {'direct': 148.03, 'fft': 49.07},
        ((2048, 2048), 5, 1, 1, 'float32', 'conv'): {'direct': 2.62, 'fft': 35.92},
        ((2048, 2048), 5, 1, 1, 'float32', 'conv_transpose'): {'direct': 2.84, 'fft': 36.34},
        ((2048, 2048), 5, 1, 1, 'float32', 'weight_grad'): {'direct': 14.87, 'fft': 44.65},
        ((2048, 2048), 5, 1, 1, 'float64', 'conv'): {'direct': 5.07, 'fft': 47.58},
        ((2048, 2048), 5, 1, 1, 'float64', 'conv_transpose'): {'direct': 5.03, 'fft': 48.68},
        ((2048, 2048), 5, 1, 1, 'float64', 'weight_grad'): {'direct': 17.12, 'fft': 54.73},
        ((256, 256), 31, 1, 1, 'float32', 'weight_grad'): {'direct': 9.02, 'fft': 1.44, 'native': 35.27},
        ((256, 256), 31, 1, 1, 'float64', 'conv'): {'direct': 2.19, 'fft': 1.45},
        ((256, 256), 31, 1, 1, 'float64', 'weight_grad'): {'direct': 8.59, 'fft': 1.77, 'native': 32.43},
        ((256, 256), 31, 2, 1, 'float32', 'conv'): {'direct': 2.49, 'fft': 1.26, 'gemm': 10.34},
        ((256, 256), 31, 2, 1, 'float32', 'conv_transpose'): {'direct': 1.44, 'fft': 1.22, 'gemm': 10.39, 'native': 0.64},
        ((256, 256), 31, 2, 1, 'float32', 'weight_grad'): {'direct': 3.79, 'fft': 1.25, 'gemm': 11.39, 'native': 7.93},
        ((256, 256), 31, 2, 1, 'float64', 'conv'): {'direct': 2.84, 'fft': 1.41},
        ((256, 256), 31, 2, 1, 'float64', 'weight_grad'): {'direct': 4.3, 'fft': 1.75, 'native': 13.0},
        ((256, 256), 5, 1, 1, 'float32', 'weight_grad'): {'direct': 0.31, 'fft': 1.02, 'gemm': 1.53, 'native': 2.4},
        ((256, 256), 5, 1, 1, 'float64', 'weight_grad'): {'direct': 0.31, 'fft': 1.42, 'gemm': 2.48, 'native': 2.94},
        ((32, 32, 32), 3, 1, 1, 'float32', 'weight_grad'): {'direct': 0.52, 'fft': 0.84, 'gemm': 1.3, 'native': 1.55},
        ((32, 32, 32), 3, 1, 1, 'float64', 'weight_grad'): {'direct': 0.43, 'fft': 1.35, 'gemm': 1.31, 'native': 1.62},
        ((512, 512), 15, 3, 1, 'float32', 'conv'): {'direct': 1.62, 'fft': 3.96, 'gemm': 6.36, 'native': 7.12},
        ((512, 512), 15, 3, 1, 'float32', 'conv_transpose'): {'direct': 0.86, 'fft': 4.37, 'gemm': 3.3, 'native': 1.7},
        ((512, 512), 15, 3, 1, 'float32', 'weight_grad'): {'direct': 2.23, 'fft': 4.65, 'gemm': 7.72, 'native': 6.51},
        ((512, 512), 15, 3, 1, 'float64', 'conv'): {'direct': 2.33, 'fft': 7.88, 'gemm': 10.11, 'native': 65.12},
        ((512, 512), 15, 3, 1, 'float64', 'conv_transpose'): {'direct': 0.67, 'fft': 5.67, 'gemm': 5.37, 'native': 1.45},
        ((512, 512), 15, 3, 1, 'float64', 'weight_grad'): {'direct': 2.1, 'fft': 4.33, 'gemm': 8.88, 'native': 6.54},
        ((512, 512), 65, 1, 1, 'float32', 'conv'): {'direct': 20.21, 'fft': 3.02},
        ((512, 512), 65, 1, 1, 'float32', 'conv_transpose'): {'direct': 20.57, 'fft': 3.25},
        ((512, 512), 65, 1, 1, 'float32', 'weight_grad'): {'direct': 148.89, 'fft': 3.54, 'native': 584.84},
        ((512, 512), 65, 1, 1, 'float64', 'conv'): {'direct': 36.73, 'fft': 4.24},
        ((512, 512), 65, 1, 1, 'float64', 'conv_transpose'): {'direct': 43.19, 'fft': 6.23},
        ((512, 512), 65, 1, 1, 'float64', 'weight_grad'): {'direct': 156.13, 'fft': 6.22},
        ((512, 512), 9, 1, 1, 'float32', 'conv'): {'direct': 0.44, 'fft': 2.79, 'native': 3.28},
        ((512, 512), 9, 1, 1, 'float32', 'conv_transpose'): {'direct': 0.45, 'fft': 3.81, 'native': 3.23},
        ((512, 512), 9, 1, 1, 'float64', 'conv'): {'direct': 0.82, 'fft': 4.97, 'native': 6.26},
        ((512, 512), 9, 1, 1, 'float64', 'conv_transpose'): {'direct': 0.8, 'fft': 5.36, 'native': 6.3},
        ((512, 512), 9, 1, 3, 'float32', 'conv'): {'direct': 5.14, 'fft': 9.61, 'native': 10.59},
        ((512, 512), 9, 1, 3, 'float32', 'conv_transpose'): {'direct': 5.18, 'fft': 12.04, 'native': 10.83},
        ((512, 512), 9, 1, 3, 'float32', 'weight_grad'): {'direct': 32.27, 'fft': 11.27, 'native': 44.12},
        ((512, 512), 9, 1, 3, 'float64', 'weight_grad'): {'direct': 28.05, 'fft': 13.48, 'native': 42.31},
        ((64, 64), 15, 1, 1, 'float32', 'weight_grad'): {'direct': 0.33, 'fft': 0.21, 'gemm': 0.86, 'native': 1.04},
        ((64, 64, 64), 5, 2, 1, 'float32', 'conv'): {'direct': 1.6, 'fft': 3.33, 'gemm': 3.5, 'native': 3.5},
        ((64, 64, 64), 5, 2, 1, 'float32', 'conv_transpose'): {'direct': 1.24, 'fft': 4.46, 'gemm': 3.39, 'native': 0.26},
        ((64, 64, 64), 5, 2, 1, 'float32', 'weight_grad'): {'direct': 1.91, 'fft': 3.76, 'gemm': 3.91, 'native': 5.18},
        ((64, 64, 64), 5, 2, 1, 'float64', 'conv'): {'direct': 1.8, 'fft': 4.99, 'gemm': 5.78, 'native': 4.74},
        ((64, 64, 64), 5, 2, 1, 'float64', 'conv_transpose'): {'direct': 1.31, 'fft': 4.92, 'gemm': 4.38, 'native': 0.48},
        ((64, 64, 64), 5, 2, 1, 'float64', 'weight_grad'): {'direct': 1.62, 'fft': 5.94, 'gemm': 6.17, 'native': 6.77},
        ((64, 64, 64), 9, 1, 1, 'float32', 'conv'): {'direct': 5.92, 'fft': 3.87},
        ((64, 64, 64), 9, 1, 1, 'float32', 'weight_grad'): {'direct': 33.8, 'fft': 4.04, 'native': 117.19},
        ((64, 64, 64), 9, 1, 1, 'float64', 'conv'): {'direct': 9.76, 'fft': 5.76},
        ((64, 64, 64), 9, 1, 1, 'float64', 'conv_transpose'): {'direct': 8.79, 'fft': 5.63},
        ((64, 64, 64), 9, 1, 1, 'float64', 'weight_grad'): {'direct': 27.66, 'fft': 6.32, 'native': 120.87},
        ((96, 96, 96), 15, 1, 1, 'float32', 'conv'): {'direct': 64.0, 'fft': 12.29},
        ((96, 96, 96), 15, 1, 1, 'float32', 'conv_transpose'): {'direct': 64.64, 'fft': 13.22},
        ((96, 96, 96), 15, 1, 1, 'float32', 'weight_grad'): {'direct': 482.77, 'fft': 14.22},
        ((96, 96, 96), 15, 1, 1, 'float64', 'conv'): {'direct': 114.41, 'fft': 26.74},
        ((96, 96, 96), 15, 1, 1, 'float64', 'conv_transpose'): {'direct': 117.34, 'fft': 27.84},
        ((96, 96, 96), 15, 1, 1, 'float64', 'weight_grad'): {'direct': 387.56, 'fft': 31.83},
}

RECORDED = {"avx512": AVX512, "avx2": AVX2}.get(_native.get_isa(), {})

def _geom(shape, k, s, c):
    return tconv.conv_geometry((c, c, *(k,) * len(shape)), shape, s, "same")


@pytest.mark.parametrize("case", sorted(RECORDED, key=str), ids=str)
def test_model_choice_within_125_of_the_recorded_fastest(case):
    shape, k, s, c, dtype, op = case
    times = RECORDED[case]
    choice = plan(_geom(shape, k, s, c), 1, dtype, op).choice
    assert choice in times, (case, choice)
    assert times[choice] <= 1.25 * min(times.values()), (case, choice, times)
