/* levels_avx2.h — unpackers of weight levels shared by the tiled kernels of both x86 sets
 * (gemm_avx2.c, gemm_avx512.c: AVX2 code, which the AVX-512 build compiles too). Internal to the
 * tensor module; formats as in blocks.h. */
#ifndef HEARTH_TENSOR_LEVELS_AVX2_H
#define HEARTH_TENSOR_LEVELS_AVX2_H

#include <immintrin.h>
#include <string.h>

#include "tensor/blocks.h"
#include "tensor/tensor_internal.h"

/* IQ3_S sub-block ib's 32 signed magnitudes in element order: point g (one gathered codebook
 * dword) is elements 4g..4g+3, negated where its sign bit is set. */
static inline __m256i iq3_s_levels32(const block_iq3_s *x, int ib) {
    const __m256i idx = _mm256_or_si256(
        _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)(x->qs + 8 * ib))),
        _mm256_slli_epi32(_mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32(x->qh[ib]),
                                                              _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)),
                                           _mm256_set1_epi32(1)),
                          8));
    const __m256i mag = _mm256_i32gather_epi32((const int *)(const void *)tensor_iq3s_grid, idx, 4);
    int sg;
    memcpy(&sg, x->signs + 4 * ib, 4);
    /* byte e gets sign byte e / 8, then its bit e % 8 */
    const __m256i sb = _mm256_shuffle_epi8(
        _mm256_set1_epi32(sg), _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2,
                                                2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3));
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ull);
    const __m256i neg = _mm256_cmpeq_epi8(_mm256_and_si256(sb, bit), bit);
    return _mm256_sub_epi8(_mm256_xor_si256(mag, neg), neg);
}

/* Trit n of 32 TQ1_0 bytes b at once, pw = 3^n: ((uint8_t)(b * pw) * 3) >> 8 in 16-bit lanes
 * (an even byte's product keeps its low byte clean: carries only go up; odd bytes shifted down). */
static inline __m256i tq1_trits32(__m256i b, int pw) {
    const __m256i lo8 = _mm256_set1_epi16(0xFF), p = _mm256_set1_epi16((short)pw);
    const __m256i three = _mm256_set1_epi16(3);
    const __m256i ev = _mm256_and_si256(_mm256_mullo_epi16(b, p), lo8);
    const __m256i od = _mm256_and_si256(_mm256_mullo_epi16(_mm256_srli_epi16(b, 8), p), lo8);
    return _mm256_or_si256(_mm256_srli_epi16(_mm256_mullo_epi16(ev, three), 8),
                           _mm256_slli_epi16(_mm256_srli_epi16(_mm256_mullo_epi16(od, three), 8), 8));
}

/* A TQ1_0 block's 256 trits (0..2) in element order (blocks.h), 32-byte aligned lv. */
static inline void tq1_0_levels256(const block_tq1_0 *x, uint8_t *lv) {
    static const uint8_t pow3[5] = {1, 3, 9, 27, 81};
    const __m256i a = _mm256_loadu_si256((const __m256i *)(const void *)x->qs);
    const __m256i b = _mm256_zextsi128_si256(_mm_loadu_si128((const __m128i *)(const void *)(x->qs + 32)));
    for (int n = 0; n < 5; n++) {
        _mm256_store_si256((__m256i *)(void *)(lv + 32 * n), tq1_trits32(a, pow3[n]));
        _mm_storeu_si128((__m128i *)(void *)(lv + 160 + 16 * n),
                         _mm256_castsi256_si128(tq1_trits32(b, pow3[n])));
    }
    for (int n = 0; n < 4; n++)
        for (int j = 0; j < 4; j++)
            lv[240 + 4 * n + j] = (uint8_t)(((uint8_t)(x->qh[j] * pow3[n]) * 3) >> 8);
}

#endif
