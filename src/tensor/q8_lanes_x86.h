/* q8_lanes_x86.h — the 8-lane fold of llama.cpp's Q8_0 x Q8_0 order for the x86 kernels
 * (dot_avx2.c, dot_avx512.c, gemm_avx2.c, gemm_avx512.c; included only by files built with AVX2
 * flags or more). The order itself and why hearth follows it: tensor_ref_dot_q8_0_q8_0
 * (dot_ref.c). Static inline so each ISA's file gets its own copy (STYLE.md). */
#ifndef HEARTH_TENSOR_Q8_LANES_X86_H
#define HEARTH_TENSOR_Q8_LANES_X86_H

#include <immintrin.h>

/* ggml's hsum_float_8, as tensor_q8_0_lanes_fold writes it:
 * ((l0+l4) + (l2+l6)) + ((l1+l5) + (l3+l7)) */
static inline float q8_lanes_fold(__m256 v) {
    __m128 r = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    r = _mm_add_ps(r, _mm_movehl_ps(r, r));
    r = _mm_add_ss(r, _mm_movehdup_ps(r));
    return _mm_cvtss_f32(r);
}

#endif
