/* The generic build of the direct loops (compiler flags set per file by setup.py). */
#define TC_ISA TC_ISA_GENERIC
#include "direct_kernel.inc"
