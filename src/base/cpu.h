/* cpu.h — CPU feature detection, done once and cached.
 *
 * Kernels are chosen from these flags at startup (tensor/dispatch.c). The flags mean "the CPU
 * has it AND the OS saves its registers" (__builtin_cpu_supports checks XGETBV for AVX state,
 * and for the opmask/ZMM state before reporting any AVX-512 feature);
 * F16C, which GCC/clang's builtin does not name portably, is read from CPUID and only reported
 * together with AVX. On aarch64 the NEON flags come from the kernel's AT_HWCAP (getauxval):
 * neon = Advanced SIMD (always there on Linux/aarch64), neon_dotprod = the ARMv8.2 SDOT/UDOT
 * instructions (HWCAP_ASIMDDP). Flags of the other architecture are always false. */
#ifndef HEARTH_BASE_CPU_H
#define HEARTH_BASE_CPU_H

#include <stdbool.h>

typedef struct {
    bool avx2;
    bool fma;
    bool f16c;
    bool avx512f;
    bool avx512bw;
    bool avx512vl;
    bool avx512dq;
    bool avx512vnni;
    bool avx512vbmi;
    bool neon;
    bool neon_dotprod;
} cpu_features;

/* Borrowed pointer to the process-wide flags (detected on first call). */
const cpu_features *cpu_features_get(void);

#endif
