/* cpu.c: cpuid for the instructions, xgetbv for the operating system saving their registers. */
#include "cpu.h"

#include <pthread.h>
#include <unistd.h>

#include "gemm.h"

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

/* The B panel (KC x NC) is meant to stay in L2 while the micro-kernel streams it: where the
 * built-in NC (1024, measured on machines with 1-2 MiB of L2) makes a panel larger than this
 * machine's L2, NC shrinks until the panel fills half of it (Zen 3, 512 KiB: NC 256, the dilated
 * and ResNet-style layers 3-4% faster on two threads; NC 512 was no faster than 1024 there). */
static void fit_blocks(tc_isa_table *t)
{
    long l2 = sysconf(_SC_LEVEL2_CACHE_SIZE);
    if (l2 <= 0)
        return;
    for (int d = 0; d < 2; ++d) {
        tc_gemm_kernel *k = &t->gemm[d];
        long es = (long)tc_dtype_size((tc_dtype)d), panel = (long)k->kc * k->nc * es;
        if (panel <= l2)
            continue;
        long nc = l2 / 2 / ((long)k->kc * es) / k->nr * k->nr;
        k->nc = (int)(nc < 4L * k->nr ? 4L * k->nr : nc);
    }
}

static void fit_all_blocks(void)
{
#if defined(__x86_64__)
    fit_blocks(&tc_isa_avx512);
    fit_blocks(&tc_isa_avx2);
#endif
    fit_blocks(&tc_isa_generic);
}

int tc_cpu_tables(const tc_isa_table **out, int cap)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, fit_all_blocks);
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
