/* cpu.h — CPU feature detection, done once and cached.
 *
 * Kernels are chosen from these flags at startup (tensor/dispatch.c). The flags mean "the CPU
 * has it AND the OS saves its registers" (__builtin_cpu_supports checks XGETBV for AVX state);
 * F16C, which GCC/clang's builtin does not name portably, is read from CPUID and only reported
 * together with AVX. All false on non-x86 builds. */
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
} cpu_features;

/* Borrowed pointer to the process-wide flags (detected on first call). */
const cpu_features *cpu_features_get(void);

#endif
