/* The avx2 build of the micro-kernels (compiler flags set per file by setup.py). */
#define TC_ISA TC_ISA_AVX2
#include "gemm_kernel.inc"
