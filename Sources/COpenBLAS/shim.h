#ifndef STARLING_COPENBLAS_SHIM_H
#define STARLING_COPENBLAS_SHIM_H
#include <cblas.h>
/* OpenBLAS extensions (declared in its cblas.h on Debian, repeated for other layouts). */
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
char *openblas_get_corename(void);
char *openblas_get_config(void);

/* The processor's feature words, for choosing OpenBLAS's kernel before it loads.
 * starling_cpuid fills registers (eax, ebx, ecx, edx) for a leaf and subleaf and
 * returns 1, or returns 0 when the processor has no such leaf (and on every
 * processor that is not x86). starling_xgetbv0 is XCR0: which register files the
 * operating system saves, so whether AVX and AVX-512 may be used at all; call it only
 * when cpuid leaf 1 reports OSXSAVE. */
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
static inline int starling_cpuid(unsigned int leaf, unsigned int subleaf, unsigned int registers[4]) {
    if (__get_cpuid_max(leaf & 0x80000000u, 0) < leaf) return 0;
    __cpuid_count(leaf, subleaf, registers[0], registers[1], registers[2], registers[3]);
    return 1;
}
static inline unsigned long long starling_xgetbv0(void) {
    unsigned int eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((unsigned long long)edx << 32) | eax;
}
#else
static inline int starling_cpuid(unsigned int leaf, unsigned int subleaf, unsigned int registers[4]) {
    (void)leaf; (void)subleaf; (void)registers;
    return 0;
}
static inline unsigned long long starling_xgetbv0(void) { return 0; }
#endif
#endif
