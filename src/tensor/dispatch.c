/* dispatch.c — picks the kernel set once, at the first traits lookup (stb's setup-once idea):
 * the table starts with the scalar references and the best ISA the CPU supports overrides the
 * kernels it has. HEARTH_ISA=ref|avx2 forces a set so any path can be reproduced or tested on
 * one machine; a forced set the CPU cannot run falls back to ref with a warning. */
#include <stdlib.h>
#include <string.h>

#include "base/cpu.h"
#include "base/log.h"
#include "tensor/tensor_internal.h"

static const char *selected = "ref";

static bool cpu_has_avx2_set(void) {
    const cpu_features *f = cpu_features_get();
    return f->avx2 && f->fma && f->f16c;
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
    t[TENSOR_TYPE_F32].vec_dot = tensor_avx2_dot_f32_f32;
    t[TENSOR_TYPE_F16].vec_dot = tensor_avx2_dot_f16_f32;
    t[TENSOR_TYPE_BF16].vec_dot = tensor_avx2_dot_bf16_f32;
    t[TENSOR_TYPE_F16].to_float = tensor_avx2_f16_to_float;
    t[TENSOR_TYPE_F16].from_float = tensor_avx2_f16_from_float;
}

void tensor_dispatch_select(tensor_traits *table) {
    const char *want = getenv("HEARTH_ISA");
    if (want && *want && strcmp(want, "ref") && strcmp(want, "avx2"))
        log_warn("tensor: unknown HEARTH_ISA '%s' (ref|avx2); choosing automatically", want);
    if (want && !strcmp(want, "ref")) {
        selected = "ref";
        return;
    }
    if (cpu_has_avx2_set()) {
        apply_avx2(table);
        selected = "avx2";
    } else if (want && !strcmp(want, "avx2")) {
        log_warn("tensor: HEARTH_ISA=avx2 but this CPU lacks AVX2/FMA/F16C; using ref");
    }
}

const char *tensor_isa(void) {
    tensor_traits_of(0); /* make sure the choice has been made */
    return selected;
}
