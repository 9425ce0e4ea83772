/* gemm_float_avx2.c — F16 and BF16 weights against F32 activations on the AVX2 set (AVX2, FMA,
 * F16C), for every batch size: blocks of up to 3 weight rows × 4 tokens (12 ymm accumulators,
 * 3 weight vectors and an activation vector: all 16 registers), each 8-weight vector widened
 * once and used for 4 tokens. The body is gemm_float_body.h, shared with the AVX-512 version.
 *
 * Result contract, as there with 8 lanes: lane l of (row, token) sums w[i] * x[i] for
 * i = l mod 8 in increasing i, fused; the tail as if zero-padded; then the lanes added as
 * (l, l + 4) → (l, l + 2) → (l, l + 1). Each value depends on its row and token only, so
 * matmul.c gives this kernel every batch size on the AVX2 set (prompt and decode agree bit for
 * bit). Results differ from the AVX-512 set's in the last bits (another lane count); both are
 * within 1e-5 of Σ|w·x| of the double references.
 *
 * Built with the %_avx2.o flags; dispatch.c hands these out with the AVX2 set (the AVX-512 set
 * replaces them with its own). */
#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "tensor/tensor_internal.h"

#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

static inline float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

#define VF __m256
#define VL 8
#define FR 3  /* rows per block */
#define FT 4  /* tokens per block */
#define TB 48 /* tokens per pass over the rows (their activations stay in L2) */
#define VF_ZERO() _mm256_setzero_ps()
#define VF_LOADX(p) _mm256_loadu_ps(p)
#define VF_FMA(a, b, c) _mm256_fmadd_ps(a, b, c)
#define VF_REDUCE(v) hsum8(v)
/* 8 weights widened to f32: exact for both formats */
#define VF_LOADW(k, p)                                                                             \
    ((k) == W_F16 ? _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(p)))          \
                  : _mm256_castsi256_ps(_mm256_slli_epi32(                                         \
                        _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(const void *)(p))), 16)))
#define GEMMF_SHAPES_OF(R) GEMMF_SHAPE(R, 1) GEMMF_SHAPE(R, 2) GEMMF_SHAPE(R, 3) GEMMF_SHAPE(R, 4)
#define GEMMF_SHAPES GEMMF_SHAPES_OF(1) GEMMF_SHAPES_OF(2) GEMMF_SHAPES_OF(3)

#include "tensor/gemm_float_body.h"

GEMMF_DEFINE(avx2)
