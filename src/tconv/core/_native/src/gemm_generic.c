/* The generic build of the micro-kernels (compiler flags set per file by setup.py). */
#define TC_ISA TC_ISA_GENERIC
#include "gemm_kernel.inc"
