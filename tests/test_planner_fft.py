"""``auto`` with ``fft`` in the registry, on the grid of issue 20 (kernels 3..65, images 64..2048,
1-3 D, strides 1-4): the cost model's choice against timings.

The machine is 2 cores shared with other work (a load average of 1-5 during the recorded runs), so
the timing grid is a benchmark (``benchmarks/planner_fft.py``); here the model's choice on the cases
of the grid is checked against the times recorded from that script (best of 3 per run, algorithms
interleaved, two runs), within 1.25x of the fastest wherever the recorded gap is clear of the noise
(``python benchmarks/planner_fft.py --record RUN RUN`` prints those cases).
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
# benchmarks/planner_fft.py --repeat 3 (2026-12-03, benchmarks/planner-fft-runs/zen3/run7.txt, run8.txt), re-recorded
# after the weight gradient's register tiles (direct_wgrad.c: direct's strided weight gradients 2.5-3.7x faster) and
# with brgemm in the registry; the same rule for a clear winner (`planner_fft.py --record run7.txt run8.txt`)
AVX2 = {
    ((1024, 1024), 15, 2, 1, 'float32', 'weight_grad'): {'direct': 4.16, 'fft': 13.13, 'native': 67.75},
    ((1024, 1024), 15, 2, 1, 'float64', 'weight_grad'): {'direct': 4.00, 'fft': 17.89, 'native': 72.89},
    ((1024, 1024), 3, 1, 1, 'float32', 'conv'): {'brgemm': 11.81, 'direct': 0.58, 'fft': 14.97, 'gemm': 8.71, 'native': 4.20},
    ((1024, 1024), 3, 1, 1, 'float32', 'conv_transpose'): {'brgemm': 11.83, 'direct': 0.69, 'fft': 22.70, 'gemm': 6.54, 'native': 4.08},
    ((1024, 1024), 3, 1, 1, 'float32', 'weight_grad'): {'direct': 3.80, 'fft': 23.86, 'gemm': 17.43, 'native': 104.63},
    ((1024, 1024), 3, 1, 1, 'float64', 'conv'): {'brgemm': 5.73, 'direct': 1.03, 'fft': 17.10, 'native': 5.78},
    ((1024, 1024), 3, 1, 1, 'float64', 'conv_transpose'): {'brgemm': 8.83, 'direct': 1.45, 'fft': 22.72, 'native': 7.59},
    ((1024, 1024), 3, 1, 1, 'float64', 'weight_grad'): {'direct': 4.68, 'fft': 24.89, 'native': 103.72},
    ((1024, 1024), 31, 1, 1, 'float32', 'conv'): {'direct': 27.71, 'fft': 11.94},
    ((1024, 1024), 31, 1, 1, 'float32', 'conv_transpose'): {'direct': 25.37, 'fft': 12.56},
    ((1024, 1024), 31, 1, 1, 'float32', 'weight_grad'): {'direct': 24.70, 'fft': 13.91, 'native': 418.45},
    ((1024, 1024), 31, 1, 1, 'float64', 'conv'): {'direct': 40.20, 'fft': 14.78},
    ((1024, 1024), 31, 1, 1, 'float64', 'conv_transpose'): {'direct': 48.63, 'fft': 15.78},
    ((1024, 1024), 31, 1, 1, 'float64', 'weight_grad'): {'direct': 48.17, 'fft': 15.64},
    ((2048, 2048), 5, 1, 1, 'float32', 'conv'): {'brgemm': 73.91, 'direct': 4.87, 'fft': 47.24},
    ((2048, 2048), 5, 1, 1, 'float32', 'conv_transpose'): {'brgemm': 82.33, 'direct': 5.46, 'fft': 57.58},
    ((2048, 2048), 5, 1, 1, 'float32', 'weight_grad'): {'direct': 21.00, 'fft': 63.21},
    ((2048, 2048), 5, 1, 1, 'float64', 'conv'): {'brgemm': 79.79, 'direct': 6.36, 'fft': 82.21},
    ((2048, 2048), 5, 1, 1, 'float64', 'conv_transpose'): {'brgemm': 80.10, 'direct': 7.44, 'fft': 72.52},
    ((2048, 2048), 5, 1, 1, 'float64', 'weight_grad'): {'direct': 53.44, 'fft': 85.17},
    ((256, 256), 31, 1, 1, 'float64', 'conv'): {'brgemm': 35.11, 'direct': 3.09, 'fft': 1.88},
    ((256, 256), 31, 1, 1, 'float64', 'weight_grad'): {'direct': 3.79, 'fft': 1.99, 'native': 57.50},
    ((256, 256), 31, 2, 1, 'float32', 'conv'): {'brgemm': 10.50, 'direct': 4.27, 'fft': 1.61, 'gemm': 15.13},
    ((256, 256), 31, 2, 1, 'float32', 'weight_grad'): {'direct': 0.58, 'fft': 1.43, 'gemm': 12.43, 'native': 13.32},
    ((256, 256), 31, 2, 1, 'float64', 'conv'): {'brgemm': 8.98, 'direct': 4.07, 'fft': 2.28},
    ((256, 256), 5, 1, 1, 'float32', 'weight_grad'): {'direct': 0.43, 'fft': 1.83, 'gemm': 2.19, 'native': 2.41},
    ((256, 256), 5, 1, 1, 'float64', 'weight_grad'): {'direct': 0.56, 'fft': 1.69, 'gemm': 3.62, 'native': 3.20},
    ((32, 32, 32), 3, 1, 1, 'float32', 'weight_grad'): {'direct': 0.50, 'fft': 0.91, 'gemm': 1.08, 'native': 1.46},
    ((32, 32, 32), 3, 1, 1, 'float64', 'weight_grad'): {'direct': 0.45, 'fft': 1.45, 'gemm': 1.86, 'native': 1.86},
    ((512, 512), 15, 3, 1, 'float32', 'conv'): {'brgemm': 4.66, 'direct': 1.51, 'fft': 4.75, 'gemm': 6.65, 'native': 10.81},
    ((512, 512), 15, 3, 1, 'float32', 'conv_transpose'): {'brgemm': 5.11, 'direct': 1.13, 'fft': 4.76, 'gemm': 3.81, 'native': 1.77},
    ((512, 512), 15, 3, 1, 'float32', 'weight_grad'): {'direct': 0.59, 'fft': 6.21, 'gemm': 5.68, 'native': 7.16},
    ((512, 512), 15, 3, 1, 'float64', 'conv'): {'brgemm': 4.16, 'direct': 1.93, 'fft': 6.34, 'gemm': 10.63, 'native': 78.33},
    ((512, 512), 15, 3, 1, 'float64', 'conv_transpose'): {'brgemm': 4.55, 'direct': 1.24, 'fft': 6.29, 'gemm': 6.30, 'native': 2.50},
    ((512, 512), 15, 3, 1, 'float64', 'weight_grad'): {'direct': 0.61, 'fft': 7.77, 'gemm': 12.12, 'native': 10.64},
    ((512, 512), 65, 1, 1, 'float32', 'conv'): {'direct': 27.96, 'fft': 4.55},
    ((512, 512), 65, 1, 1, 'float32', 'conv_transpose'): {'direct': 28.24, 'fft': 4.92},
    ((512, 512), 65, 1, 1, 'float32', 'weight_grad'): {'direct': 43.28, 'fft': 5.48, 'native': 462.17},
    ((512, 512), 65, 1, 1, 'float64', 'conv'): {'direct': 48.71, 'fft': 6.66},
    ((512, 512), 65, 1, 1, 'float64', 'conv_transpose'): {'direct': 49.05, 'fft': 7.25},
    ((512, 512), 65, 1, 1, 'float64', 'weight_grad'): {'direct': 66.23, 'fft': 6.19},
    ((512, 512), 9, 1, 1, 'float32', 'conv'): {'brgemm': 11.97, 'direct': 0.57, 'fft': 4.48, 'native': 4.89},
    ((512, 512), 9, 1, 1, 'float32', 'conv_transpose'): {'brgemm': 15.19, 'direct': 0.76, 'fft': 4.37, 'native': 5.40},
    ((512, 512), 9, 1, 1, 'float32', 'weight_grad'): {'direct': 2.46, 'fft': 4.49, 'native': 19.65},
    ((512, 512), 9, 1, 1, 'float64', 'conv'): {'brgemm': 15.20, 'direct': 1.23, 'fft': 5.69, 'native': 10.48},
    ((512, 512), 9, 1, 1, 'float64', 'conv_transpose'): {'brgemm': 10.05, 'direct': 1.16, 'fft': 5.80, 'native': 7.50},
    ((512, 512), 9, 1, 1, 'float64', 'weight_grad'): {'direct': 2.68, 'fft': 6.16, 'native': 26.03},
    ((512, 512), 9, 1, 3, 'float32', 'conv'): {'brgemm': 24.13, 'direct': 6.15, 'fft': 10.71, 'native': 12.72},
    ((512, 512), 9, 1, 3, 'float32', 'conv_transpose'): {'brgemm': 19.62, 'direct': 6.22, 'fft': 12.28, 'native': 13.02},
    ((512, 512), 9, 1, 3, 'float64', 'conv'): {'brgemm': 20.70, 'direct': 9.98, 'fft': 18.20, 'native': 29.59},
    ((512, 512), 9, 1, 3, 'float64', 'conv_transpose'): {'brgemm': 17.00, 'direct': 10.37, 'fft': 17.84, 'native': 31.49},
    ((64, 64, 64), 5, 2, 1, 'float32', 'conv'): {'brgemm': 3.43, 'direct': 2.17, 'fft': 4.91, 'gemm': 4.75, 'native': 7.91},
    ((64, 64, 64), 5, 2, 1, 'float32', 'conv_transpose'): {'brgemm': 3.03, 'direct': 1.75, 'fft': 5.99, 'gemm': 5.03, 'native': 0.46},
    ((64, 64, 64), 5, 2, 1, 'float32', 'weight_grad'): {'direct': 1.31, 'fft': 5.60, 'gemm': 4.99, 'native': 9.19},
    ((64, 64, 64), 5, 2, 1, 'float64', 'conv_transpose'): {'brgemm': 4.10, 'direct': 2.29, 'fft': 8.00, 'gemm': 5.75, 'native': 1.13},
    ((64, 64, 64), 5, 2, 1, 'float64', 'weight_grad'): {'direct': 1.13, 'fft': 8.27, 'gemm': 8.04, 'native': 8.18},
    ((64, 64, 64), 9, 1, 1, 'float32', 'weight_grad'): {'direct': 17.90, 'fft': 6.54, 'native': 74.48},
    ((64, 64, 64), 9, 1, 1, 'float64', 'weight_grad'): {'direct': 16.29, 'fft': 10.50, 'native': 180.65},
    ((96, 96, 96), 15, 1, 1, 'float32', 'conv'): {'direct': 80.63, 'fft': 15.19},
    ((96, 96, 96), 15, 1, 1, 'float32', 'conv_transpose'): {'direct': 69.93, 'fft': 14.15},
    ((96, 96, 96), 15, 1, 1, 'float32', 'weight_grad'): {'direct': 136.32, 'fft': 19.15},
    ((96, 96, 96), 15, 1, 1, 'float64', 'conv'): {'direct': 137.23, 'fft': 38.20},
    ((96, 96, 96), 15, 1, 1, 'float64', 'conv_transpose'): {'direct': 156.76, 'fft': 44.40},
    ((96, 96, 96), 15, 1, 1, 'float64', 'weight_grad'): {'direct': 131.85, 'fft': 41.00},
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
