/* dispatch.c — picks the kernel set once, at the first traits lookup (stb's setup-once idea):
 * the table starts with the scalar references and the best ISA the CPU supports overrides the
 * kernels it has. HEARTH_ISA=ref|avx2|avx512 forces a set so any path can be reproduced or tested
 * on one machine; a forced set the CPU cannot run falls back to the best one below it, with a
 * warning. The avx512 set is the avx2 set with the AVX-512 kernels laid over it (per kernel:
 * types without an AVX-512 version keep their AVX2 one). The AVX2 set's tiled kernels use AVX-VNNI
 * where CPUID reports it (HEARTH_AVXVNNI=0: not). */
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include "base/cpu.h"
#include "base/log.h"
#include "tensor/tensor_internal.h"

static const char *selected = "ref";
static tensor_gemm_fn gemms[TENSOR_TYPE_COUNT]; /* tiled prompt kernels of the selected set */
static tensor_gemvn_fn gemvns[TENSOR_TYPE_COUNT]; /* small-batch kernels of the selected set */
static tensor_gemmf_fn gemmfs[TENSOR_TYPE_COUNT]; /* float-weight kernels of the selected set */
/* LoRA's low-rank products (the avx2 ones serve the avx512 set too) */
static tensor_dot16_fn dot16 = tensor_ref_dot16_f32;
static tensor_lowrank_fn lowrank16 = tensor_ref_lowrank16_add_f32;
static tensor_lowrank_fn lowrank_seq = tensor_ref_lowrank_seq_add_f32;

#if defined(__x86_64__) || defined(__i386__)
static bool cpu_has_avx2_set(void) {
    const cpu_features *f = cpu_features_get();
    return f->avx2 && f->fma && f->f16c;
}

/* what dot_avx512.c is compiled for (Makefile %_avx512.o), on top of the AVX2 set */
static bool cpu_has_avx512_set(void) {
    const cpu_features *f = cpu_features_get();
    return cpu_has_avx2_set() && f->avx512f && f->avx512bw && f->avx512vl && f->avx512dq &&
           f->avx512vnni;
}

static void apply_avx512(tensor_traits *t) {
    t[TENSOR_TYPE_Q4_0].vec_dot = tensor_avx512_dot_q4_0_q8_0;
    t[TENSOR_TYPE_Q8_0].vec_dot = tensor_avx512_dot_q8_0_q8_0;
    t[TENSOR_TYPE_Q4_K].vec_dot = tensor_avx512_dot_q4_K_q8_K;
    t[TENSOR_TYPE_Q5_K].vec_dot = tensor_avx512_dot_q5_K_q8_K;
    t[TENSOR_TYPE_Q6_K].vec_dot = tensor_avx512_dot_q6_K_q8_K;
    t[TENSOR_TYPE_Q2_K].vec_dot = tensor_avx512_dot_q2_K_q8_K;
    t[TENSOR_TYPE_Q3_K].vec_dot = tensor_avx512_dot_q3_K_q8_K;
    t[TENSOR_TYPE_IQ4_NL].vec_dot = tensor_avx512_dot_iq4_nl_q8_0;
    t[TENSOR_TYPE_IQ4_XS].vec_dot = tensor_avx512_dot_iq4_xs_q8_K;
    t[TENSOR_TYPE_TQ1_0].vec_dot = tensor_avx512_dot_tq1_0_q8_K;
    t[TENSOR_TYPE_TQ2_0].vec_dot = tensor_avx512_dot_tq2_0_q8_K;
    t[TENSOR_TYPE_MXFP4].vec_dot = tensor_avx512_dot_mxfp4_q8_0;
    t[TENSOR_TYPE_IQ3_S].vec_dot = tensor_avx512_dot_iq3_s_q8_K;
    t[TENSOR_TYPE_IQ2_XXS].vec_dot = tensor_avx512_dot_iq2_xxs_q8_K;
    t[TENSOR_TYPE_IQ2_XS].vec_dot = tensor_avx512_dot_iq2_xs_q8_K;
    t[TENSOR_TYPE_IQ2_S].vec_dot = tensor_avx512_dot_iq2_s_q8_K;
    t[TENSOR_TYPE_IQ3_XXS].vec_dot = tensor_avx512_dot_iq3_xxs_q8_K;
    t[TENSOR_TYPE_IQ1_S].vec_dot = tensor_avx512_dot_iq1_s_q8_K;
    t[TENSOR_TYPE_IQ1_M].vec_dot = tensor_avx512_dot_iq1_m_q8_K;
    const char *v = getenv("HEARTH_GEMV");
    if (!(v && !strcmp(v, "0"))) {
        gemvns[TENSOR_TYPE_Q4_0] = tensor_avx512_gemvn_q4_0;
        gemvns[TENSOR_TYPE_Q8_0] = tensor_avx512_gemvn_q8_0;
        gemvns[TENSOR_TYPE_Q4_K] = tensor_avx512_gemvn_q4_K;
        gemvns[TENSOR_TYPE_Q6_K] = tensor_avx512_gemvn_q6_K;
        gemvns[TENSOR_TYPE_IQ4_XS] = tensor_avx512_gemvn_iq4_xs;
        gemvns[TENSOR_TYPE_IQ4_NL] = tensor_avx512_gemvn_iq4_nl;
        gemvns[TENSOR_TYPE_MXFP4] = tensor_avx512_gemvn_mxfp4;
        /* the nibble types' byte permutes (dot_avx512.c); HEARTH_VBMI=0 keeps the forms
         * without them, for comparisons */
        const char *vb = getenv("HEARTH_VBMI");
        if (cpu_features_get()->avx512vbmi && !(vb && !strcmp(vb, "0"))) {
            gemvns[TENSOR_TYPE_Q4_0] = tensor_avx512_gemvn_q4_0_vbmi;
            gemvns[TENSOR_TYPE_IQ4_NL] = tensor_avx512_gemvn_iq4_nl_vbmi;
            gemvns[TENSOR_TYPE_MXFP4] = tensor_avx512_gemvn_mxfp4_vbmi;
        }
    }
    const char *g = getenv("HEARTH_GEMM");
    if (g && !strcmp(g, "0")) return;
    gemmfs[TENSOR_TYPE_F16] = tensor_avx512_gemmf_f16;
    gemmfs[TENSOR_TYPE_BF16] = tensor_avx512_gemmf_bf16;
    gemms[TENSOR_TYPE_Q4_0] = tensor_avx512_gemm_q4_0;
    gemms[TENSOR_TYPE_Q8_0] = tensor_avx512_gemm_q8_0;
    gemms[TENSOR_TYPE_Q4_K] = tensor_avx512_gemm_q4_K;
    gemms[TENSOR_TYPE_Q6_K] = tensor_avx512_gemm_q6_K;
    gemms[TENSOR_TYPE_IQ4_NL] = tensor_avx512_gemm_iq4_nl;
    gemms[TENSOR_TYPE_IQ4_XS] = tensor_avx512_gemm_iq4_xs;
    gemms[TENSOR_TYPE_TQ2_0] = tensor_avx512_gemm_tq2_0;
    gemms[TENSOR_TYPE_MXFP4] = tensor_avx512_gemm_mxfp4;
    gemms[TENSOR_TYPE_IQ3_S] = tensor_avx512_gemm_iq3_s;
    gemms[TENSOR_TYPE_TQ1_0] = tensor_avx512_gemm_tq1_0;
}

static void apply_avx2(tensor_traits *t) {
    t[TENSOR_TYPE_Q8_0].from_float = tensor_avx2_q8_0_from_float;
    t[TENSOR_TYPE_Q8_K].from_float = tensor_avx2_q8_K_from_float;
    t[TENSOR_TYPE_Q4_0].vec_dot = tensor_avx2_dot_q4_0_q8_0;
    t[TENSOR_TYPE_Q8_0].vec_dot = tensor_avx2_dot_q8_0_q8_0;
    t[TENSOR_TYPE_Q8_1].from_float = tensor_avx2_q8_1_from_float;
    t[TENSOR_TYPE_Q5_0].vec_dot = tensor_avx2_dot_q5_0_q8_0;
    t[TENSOR_TYPE_Q4_1].vec_dot = tensor_avx2_dot_q4_1_q8_1;
    t[TENSOR_TYPE_Q5_1].vec_dot = tensor_avx2_dot_q5_1_q8_1;
    t[TENSOR_TYPE_Q2_K].vec_dot = tensor_avx2_dot_q2_K_q8_K;
    t[TENSOR_TYPE_Q3_K].vec_dot = tensor_avx2_dot_q3_K_q8_K;
    t[TENSOR_TYPE_Q4_K].vec_dot = tensor_avx2_dot_q4_K_q8_K;
    t[TENSOR_TYPE_Q5_K].vec_dot = tensor_avx2_dot_q5_K_q8_K;
    t[TENSOR_TYPE_Q6_K].vec_dot = tensor_avx2_dot_q6_K_q8_K;
    t[TENSOR_TYPE_IQ4_NL].vec_dot = tensor_avx2_dot_iq4_nl_q8_0;
    t[TENSOR_TYPE_IQ4_XS].vec_dot = tensor_avx2_dot_iq4_xs_q8_K;
    t[TENSOR_TYPE_TQ1_0].vec_dot = tensor_avx2_dot_tq1_0_q8_K;
    t[TENSOR_TYPE_TQ2_0].vec_dot = tensor_avx2_dot_tq2_0_q8_K;
    t[TENSOR_TYPE_MXFP4].vec_dot = tensor_avx2_dot_mxfp4_q8_0;
    t[TENSOR_TYPE_IQ3_S].vec_dot = tensor_avx2_dot_iq3_s_q8_K;
    t[TENSOR_TYPE_IQ2_XXS].vec_dot = tensor_avx2_dot_iq2_xxs_q8_K;
    t[TENSOR_TYPE_IQ2_XS].vec_dot = tensor_avx2_dot_iq2_xs_q8_K;
    t[TENSOR_TYPE_IQ2_S].vec_dot = tensor_avx2_dot_iq2_s_q8_K;
    t[TENSOR_TYPE_IQ3_XXS].vec_dot = tensor_avx2_dot_iq3_xxs_q8_K;
    t[TENSOR_TYPE_IQ1_S].vec_dot = tensor_avx2_dot_iq1_s_q8_K;
    t[TENSOR_TYPE_IQ1_M].vec_dot = tensor_avx2_dot_iq1_m_q8_K;
    t[TENSOR_TYPE_F32].vec_dot = tensor_avx2_dot_f32_f32;
    t[TENSOR_TYPE_F16].vec_dot = tensor_avx2_dot_f16_f32;
    t[TENSOR_TYPE_BF16].vec_dot = tensor_avx2_dot_bf16_f32;
    t[TENSOR_TYPE_F16].to_float = tensor_avx2_f16_to_float;
    t[TENSOR_TYPE_F16].from_float = tensor_avx2_f16_from_float;
    dot16 = tensor_avx2_dot16_f32;
    lowrank16 = tensor_avx2_lowrank16_add_f32;
    lowrank_seq = tensor_avx2_lowrank_seq_add_f32;
    const char *g = getenv("HEARTH_GEMM");
    if (g && !strcmp(g, "0")) return;
    gemmfs[TENSOR_TYPE_F16] = tensor_avx2_gemmf_f16;
    gemmfs[TENSOR_TYPE_BF16] = tensor_avx2_gemmf_bf16;
    const char *vn = getenv("HEARTH_AVXVNNI");
    const bool vnni = tensor_cpu_has_avxvnni() && !(vn && !strcmp(vn, "0"));
    gemms[TENSOR_TYPE_Q4_0] = vnni ? tensor_avx2_gemm_q4_0_vnni : tensor_avx2_gemm_q4_0;
    gemms[TENSOR_TYPE_Q8_0] = vnni ? tensor_avx2_gemm_q8_0_vnni : tensor_avx2_gemm_q8_0;
    gemms[TENSOR_TYPE_Q4_K] = vnni ? tensor_avx2_gemm_q4_K_vnni : tensor_avx2_gemm_q4_K;
    gemms[TENSOR_TYPE_Q6_K] = vnni ? tensor_avx2_gemm_q6_K_vnni : tensor_avx2_gemm_q6_K;
    gemms[TENSOR_TYPE_IQ4_NL] = vnni ? tensor_avx2_gemm_iq4_nl_vnni : tensor_avx2_gemm_iq4_nl;
    gemms[TENSOR_TYPE_IQ4_XS] = vnni ? tensor_avx2_gemm_iq4_xs_vnni : tensor_avx2_gemm_iq4_xs;
    gemms[TENSOR_TYPE_TQ2_0] = vnni ? tensor_avx2_gemm_tq2_0_vnni : tensor_avx2_gemm_tq2_0;
    gemms[TENSOR_TYPE_MXFP4] = vnni ? tensor_avx2_gemm_mxfp4_vnni : tensor_avx2_gemm_mxfp4;
    gemms[TENSOR_TYPE_IQ3_S] = vnni ? tensor_avx2_gemm_iq3_s_vnni : tensor_avx2_gemm_iq3_s;
    gemms[TENSOR_TYPE_TQ1_0] = vnni ? tensor_avx2_gemm_tq1_0_vnni : tensor_avx2_gemm_tq1_0;
}
#endif

bool tensor_cpu_has_avxvnni(void) {
#if defined(__x86_64__) || defined(__i386__)
    unsigned a, b, c, d;
    /* the OS's saving of the YMM state is part of cpu_has_avx2_set's AVX2 check */
    return cpu_has_avx2_set() && __get_cpuid_count(7, 1, &a, &b, &c, &d) && (a & (1u << 4));
#else
    return false;
#endif
}

#if defined(__aarch64__)
/* aarch64: the neon set (HEARTH_ISA=neon|ref there): dot_neon.c / dot_neondp.c, the latter's
 * SDOT versions of the integer dots where AT_HWCAP reports the dot-product extension
 * (tensor_isa() then says "neondot"); the other types keep their references; the Q4_K/Q6_K
 * small-batch kernels unless HEARTH_GEMV=0; with SDOT, the Q4_0/Q8_0 tiled kernels unless
 * HEARTH_GEMM=0. */
static void apply_neon(tensor_traits *t, bool dot) {
    t[TENSOR_TYPE_Q8_0].from_float = tensor_neon_q8_0_from_float;
    t[TENSOR_TYPE_Q8_K].from_float = tensor_neon_q8_K_from_float;
    t[TENSOR_TYPE_Q4_0].vec_dot = dot ? tensor_neondp_dot_q4_0_q8_0 : tensor_neon_dot_q4_0_q8_0;
    t[TENSOR_TYPE_Q8_0].vec_dot = dot ? tensor_neondp_dot_q8_0_q8_0 : tensor_neon_dot_q8_0_q8_0;
    t[TENSOR_TYPE_Q4_K].vec_dot = dot ? tensor_neondp_dot_q4_K_q8_K : tensor_neon_dot_q4_K_q8_K;
    t[TENSOR_TYPE_Q5_K].vec_dot = dot ? tensor_neondp_dot_q5_K_q8_K : tensor_neon_dot_q5_K_q8_K;
    t[TENSOR_TYPE_Q6_K].vec_dot = dot ? tensor_neondp_dot_q6_K_q8_K : tensor_neon_dot_q6_K_q8_K;
    t[TENSOR_TYPE_F32].vec_dot = tensor_neon_dot_f32_f32;
    t[TENSOR_TYPE_F16].vec_dot = tensor_neon_dot_f16_f32;
    t[TENSOR_TYPE_BF16].vec_dot = tensor_neon_dot_bf16_f32;
    t[TENSOR_TYPE_F16].to_float = tensor_neon_f16_to_float;
    t[TENSOR_TYPE_F16].from_float = tensor_neon_f16_from_float;
    const char *v = getenv("HEARTH_GEMV");
    if (!(v && !strcmp(v, "0"))) {
        gemvns[TENSOR_TYPE_Q4_K] = dot ? tensor_neondp_gemvn_q4_K : tensor_neon_gemvn_q4_K;
        gemvns[TENSOR_TYPE_Q6_K] = dot ? tensor_neondp_gemvn_q6_K : tensor_neon_gemvn_q6_K;
    }
    const char *g = getenv("HEARTH_GEMM");
    if (!dot || (g && !strcmp(g, "0"))) return;
    gemms[TENSOR_TYPE_Q4_0] = tensor_neondp_gemm_q4_0;
    gemms[TENSOR_TYPE_Q8_0] = tensor_neondp_gemm_q8_0;
}

static void select_neon(tensor_traits *table, const char *want) {
    const cpu_features *f = cpu_features_get();
    if (want && strcmp(want, "neon"))
        log_warn("tensor: HEARTH_ISA=%s is an x86 set; this is aarch64: using %s", want,
                 f->neon ? "neon" : "ref");
    if (!f->neon) return;
    apply_neon(table, f->neon_dotprod);
    selected = f->neon_dotprod ? "neondot" : "neon";
}
#endif

void tensor_dispatch_select(tensor_traits *table) {
    const char *want = getenv("HEARTH_ISA");
    if (want && !*want) want = NULL;
    if (want && strcmp(want, "ref") && strcmp(want, "avx2") && strcmp(want, "avx512") &&
        strcmp(want, "neon")) {
        log_warn("tensor: unknown HEARTH_ISA '%s' (ref|avx2|avx512|neon); choosing automatically",
                 want);
        want = NULL;
    }
    if (want && !strcmp(want, "ref")) {
        selected = "ref";
        return;
    }
#if defined(__aarch64__)
    select_neon(table, want);
#elif defined(__x86_64__) || defined(__i386__)
    if (want && !strcmp(want, "neon")) {
        log_warn("tensor: HEARTH_ISA=neon is the aarch64 set; choosing automatically");
        want = NULL;
    }
    const bool allow512 = !want || !strcmp(want, "avx512");
    if (want && !strcmp(want, "avx512") && !cpu_has_avx512_set())
        log_warn("tensor: HEARTH_ISA=avx512 but this CPU lacks AVX-512 F/BW/VL/DQ/VNNI; using %s",
                 cpu_has_avx2_set() ? "avx2" : "ref");
    if (cpu_has_avx2_set()) {
        apply_avx2(table);
        selected = "avx2";
        if (allow512 && cpu_has_avx512_set()) {
            apply_avx512(table);
            selected = "avx512";
        }
    } else if (want && !strcmp(want, "avx2")) {
        log_warn("tensor: HEARTH_ISA=avx2 but this CPU lacks AVX2/FMA/F16C; using ref");
    }
#else
    (void)table; /* no SIMD set for this architecture: the references */
#endif
}

const char *tensor_isa(void) {
    tensor_traits_of(0); /* make sure the choice has been made */
    return selected;
}

tensor_gemm_fn tensor_gemm_of(tensor_type wtype) {
    tensor_traits_of(0); /* make sure the choice has been made */
    return (unsigned)wtype < TENSOR_TYPE_COUNT ? gemms[wtype] : NULL;
}

tensor_gemvn_fn tensor_gemvn_of(tensor_type wtype) {
    tensor_traits_of(0); /* make sure the choice has been made */
    return (unsigned)wtype < TENSOR_TYPE_COUNT ? gemvns[wtype] : NULL;
}

tensor_dot16_fn tensor_dot16_of(void) {
    tensor_traits_of(0); /* make sure the choice has been made */
    return dot16;
}

tensor_lowrank_fn tensor_lowrank16_of(void) {
    tensor_traits_of(0);
    return lowrank16;
}

tensor_lowrank_fn tensor_lowrank_seq_of(void) {
    tensor_traits_of(0);
    return lowrank_seq;
}

tensor_gemmf_fn tensor_gemmf_of(tensor_type wtype) {
    tensor_traits_of(0); /* make sure the choice has been made */
    return (unsigned)wtype < TENSOR_TYPE_COUNT ? gemmfs[wtype] : NULL;
}
