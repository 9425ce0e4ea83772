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

#endif
