/* cpu.c — CPU feature detection (see cpu.h). */
#include "base/cpu.h"

#include <pthread.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif
#if defined(__aarch64__) && defined(__linux__)
#include <asm/hwcap.h>
#include <sys/auxv.h>
#endif

static cpu_features features;
static pthread_once_t detect_once = PTHREAD_ONCE_INIT;

static void detect(void) {
    cpu_features *f = &features;
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    f->avx2 = __builtin_cpu_supports("avx2");
    f->fma = __builtin_cpu_supports("fma");
    f->avx512f = __builtin_cpu_supports("avx512f");
    f->avx512bw = __builtin_cpu_supports("avx512bw");
    f->avx512vl = __builtin_cpu_supports("avx512vl");
    f->avx512dq = __builtin_cpu_supports("avx512dq");
    f->avx512vnni = __builtin_cpu_supports("avx512vnni");
    f->avx512vbmi = __builtin_cpu_supports("avx512vbmi");
    unsigned a, b, c, d;
    /* CPUID.1:ECX bit 29 = F16C; only usable when AVX state is OS-enabled, which the avx2
     * check above implies */
    if (__get_cpuid(1, &a, &b, &c, &d)) f->f16c = f->avx2 && (c & (1u << 29));
#elif defined(__aarch64__) && defined(__linux__)
    const unsigned long hw = getauxval(AT_HWCAP);
    f->neon = (hw & HWCAP_ASIMD) != 0;
    f->neon_dotprod = f->neon && (hw & HWCAP_ASIMDDP) != 0;
#else
    (void)f;
#endif
}

const cpu_features *cpu_features_get(void) {
    pthread_once(&detect_once, detect);
    return &features;
}
