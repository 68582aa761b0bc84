/* cpu.c: cpuid for the instructions, xgetbv for the operating system saving their registers. */
#include "cpu.h"

#if defined(__x86_64__)
#include <cpuid.h>

static unsigned long long xgetbv0(void)
{
    unsigned int lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((unsigned long long)hi << 32) | lo;
}

static void cpu_features(int *avx2, int *avx512)
{
    unsigned int a, b, c, d;
    *avx2 = *avx512 = 0;
    if (!__get_cpuid(1, &a, &b, &c, &d))
        return;
    int fma = (c >> 12) & 1, osxsave = (c >> 27) & 1, avx = (c >> 28) & 1;
    if (!osxsave || !avx)
        return;
    unsigned long long xcr0 = xgetbv0();
    int os_avx = (xcr0 & 0x6) == 0x6;        /* XMM and YMM state */
    int os_avx512 = (xcr0 & 0xe6) == 0xe6;   /* and opmask, ZMM_Hi256, Hi16_ZMM */
    if (!os_avx || __get_cpuid_max(0, NULL) < 7)
        return;
    __cpuid_count(7, 0, a, b, c, d);
    *avx2 = fma && ((b >> 5) & 1);
    int f = (b >> 16) & 1, dq = (b >> 17) & 1, bw = (b >> 30) & 1, vl = (b >> 31) & 1;
    *avx512 = *avx2 && os_avx512 && f && dq && bw && vl;
}
#else
static void cpu_features(int *avx2, int *avx512) { *avx2 = *avx512 = 0; }
#endif

int tc_cpu_tables(const tc_isa_table **out, int cap)
{
    int avx2, avx512, n = 0;
    cpu_features(&avx2, &avx512);
#if defined(__x86_64__) /* the AVX builds exist only there (setup.py) */
    if (avx512 && n < cap)
        out[n++] = &tc_isa_avx512;
    if (avx2 && n < cap)
        out[n++] = &tc_isa_avx2;
#endif
    if (n < cap)
        out[n++] = &tc_isa_generic;
    return n;
}
