/* The avx512 build of the direct loops (compiler flags set per file by setup.py). */
#define TC_ISA TC_ISA_AVX512
#include "direct_kernel.inc"
