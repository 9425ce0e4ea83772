/* dot_avx512.c — AVX-512 (F, BW, VL, DQ) + VNNI versions of the dots that downloaded models
 * spend their time in: Q4_0 and Q8_0 against Q8_0, and Q2_K..Q6_K against Q8_K.
 *
 * Built with the %_avx512.o flags of the Makefile; only called when dispatch.c has checked the
 * CPU (cpu.h: avx512f/bw/vl/dq/vnni). Like dot_avx2.c, every function is bit-identical to its
 * reference twin in dot_ref.c: each (sub-)block's integer dot is computed exactly in int32 (any
 * summation order gives the same value), then the block's float terms are formed exactly as the
 * reference writes them and added to the running sum one block at a time, in block order.
 * Float statements are kept separate so no compiler contracts them into FMAs the reference lacks.
 *
 * Integer products: vpdpbusd multiplies UNSIGNED bytes by SIGNED bytes, four at a time, into
 * int32 lanes without intermediate saturation.
 *   - Q4_0: the nibble q (0..15) is the unsigned operand; the -8 comes back as a second
 *     vpdpbusd of the constant 8 against the activations: sum (q - 8) y = sum q y - sum 8 y.
 *   - Q8_0: the weight's sign moves onto the activation: |x| * (y * sign x). |x| = 128 for
 *     x = -128 is fine as an unsigned byte; y * sign x is safe because Q8 activations are in
 *     -127..127 (the quantizers guarantee it; docs/TENSOR.md).
 *   - K-quants: vpmaddubsw (unsigned q up to 63 times y, pairs summed: |2 * 63 * 127| < 2^15, so
 *     no saturation) then vpdpwssd by the 16-bit sub-block scale, accumulating in int32.
 * Helpers are static inline (STYLE.md: a non-static helper built with AVX-512 flags could
 * become the copy every caller links to). */
#include <immintrin.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/blocks.h"
#include "tensor/tensor_internal.h"

#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

static inline float h2f(uint16_t h) { return _cvtsh_ss(h); } /* exact, like the reference */

/* Sum of 8 int32 lanes. */
static inline int hsum8_i32(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(s);
}

/* Sum of 16 int32 lanes. */
static inline int hsum16_i32(__m512i v) {
    return hsum8_i32(_mm256_add_epi32(_mm512_castsi512_si256(v), _mm512_extracti64x4_epi64(v, 1)));
}

/* 32 bytes at a (low half) and 32 bytes at b (high half). */
static inline __m512i load_2x256(const void *a, const void *b) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)a)),
                              _mm256_loadu_si256((const __m256i *)b), 1);
}

/* ---- Dots against Q8_0: 16 blocks per step ----
 * Each block's 32 products land in 8 int32 lanes; a zmm holds two blocks (lanes 0-7: block 2i,
 * lanes 8-15: block 2i+1). Eight such vectors (16 blocks) are reduced together by a transpose-
 * and-add tree to one vector of 16 block totals, in block order. */

/* v[i] holds the partial sums of blocks 2i (lanes 0-7) and 2i+1 (lanes 8-15); returns the 16
 * block totals (exact int32) in block order. */
static inline __m512i reduce_16_blocks(const __m512i v[8]) {
    /* written out (no loops) so the eight vectors stay in registers */
#define PAIR32_(a, b) _mm512_add_epi32(_mm512_unpacklo_epi32(a, b), _mm512_unpackhi_epi32(a, b))
#define PAIR64_(a, b) _mm512_add_epi32(_mm512_unpacklo_epi64(a, b), _mm512_unpackhi_epi64(a, b))
    /* per 128-bit lane: [a0+a2, b0+b2, a1+a3, b1+b3] */
    const __m512i u0 = PAIR32_(v[0], v[1]), u1 = PAIR32_(v[2], v[3]);
    const __m512i u2 = PAIR32_(v[4], v[5]), u3 = PAIR32_(v[6], v[7]);
    /* per 128-bit lane L: the lane-L totals of 4 input vectors */
    const __m512i w0 = PAIR64_(u0, u1), w1 = PAIR64_(u2, u3);
#undef PAIR32_
#undef PAIR64_
    /* lanes 0+1 belong to a vector's first block, 2+3 to its second:
     * z = [blocks 0 2 4 6 | 1 3 5 7 | 8 10 12 14 | 9 11 13 15] */
    const __m512i z = _mm512_add_epi32(_mm512_shuffle_i32x4(w0, w1, _MM_SHUFFLE(2, 0, 2, 0)),
                                       _mm512_shuffle_i32x4(w0, w1, _MM_SHUFFLE(3, 1, 3, 1)));
    const __m512i order = _mm512_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7, 8, 12, 9, 13, 10, 14, 11, 15);
    return _mm512_permutexvar_epi32(order, z);
}

/* The fp16 scales d (first field) of 16 consecutive blocks, as floats. */

/* 16 blocks of 34 bytes (Q8_0): plain 16-bit loads. Measured here (Zen 5) they beat a 16-lane
 * vpgatherdd by ~20%, packing the halves in 64-bit scalars by ~2x, and picking them out of
 * eight 64-byte windows with vpermt2w (as for Q4_0 below) by ~10%. */
static inline __m512 d16_stride34(const void *first) {
    const uint8_t *p = first;
    uint16_t h[16];
    for (int i = 0; i < 16; i++)
        memcpy(&h[i], p + 34 * i, 2);
    return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)h));
}

/* 16 blocks of 18 bytes (Q4_0): the 64-byte window at 72k holds d of blocks 4k..4k+3 at words
 * 0, 9, 18, 27; one vpermt2w of two windows yields 8 scales (4 loads, 2 permutes, 1 blend: ~5%
 * faster than scalar loads here). All loads lie inside the 16 blocks (216 + 64 <= 288). */
/* the 16 scales from the four windows w0..w3 at 0, 72, 144, 216 (each holds four scales) */
static inline __m512 d16_windows18(__m512i w0, __m512i w1, __m512i w2, __m512i w3) {
    const __m512i idx =
        _mm512_set_epi16(59, 50, 41, 32, 27, 18, 9, 0, 59, 50, 41, 32, 27, 18, 9, 0, 59, 50, 41, 32,
                         27, 18, 9, 0, 59, 50, 41, 32, 27, 18, 9, 0);
    const __m512i r0 = _mm512_permutex2var_epi16(w0, idx, w1);
    const __m512i r1 = _mm512_permutex2var_epi16(w2, idx, w3);
    return _mm512_cvtph_ps(_mm512_castsi512_si256(_mm512_mask_blend_epi16(0xFF00, r0, r1)));
}

static inline __m512 d16_stride18(const void *first) {
    const uint8_t *p = first;
    return d16_windows18(_mm512_loadu_si512((const void *)p), _mm512_loadu_si512((const void *)(p + 72)),
                         _mm512_loadu_si512((const void *)(p + 144)),
                         _mm512_loadu_si512((const void *)(p + 216)));
}

/* the scales of 16 blocks of either size */
static inline __m512 load_d16(const void *first, size_t stride) {
    return stride == 18 ? d16_stride18(first) : d16_stride34(first);
}

static_assert(sizeof(block_q4_0) == 18 && sizeof(block_q8_0) == 34, "load_d16 strides");

/* sumf + t[0] + ... + t[15], one at a time in block order like the reference. */
static inline float add_in_order16(float sumf, __m512 t) {
    float v[16];
    _mm512_storeu_ps(v, t);
    for (int i = 0; i < 16; i++)
        sumf += v[i];
    return sumf;
}

/* Q4_0: two blocks' nibbles in element order: [lo(b) | hi(b) | lo(b+1) | hi(b+1)], 16 bytes
 * each, matching the two blocks' 32 activation bytes each. */
static inline __m512i q4_0_pair(const block_q4_0 *x) {
    const __m512i z = _mm512_mask_blend_epi64(
        0xF0, _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)x[0].qs)),
        _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)x[1].qs)));
    /* shift the copies in 128-bit lanes 1 and 3 by 4: their low nibbles become the highs */
    const __m512i sh = _mm512_srlv_epi64(z, _mm512_set_epi64(4, 4, 0, 0, 4, 4, 0, 0));
    return _mm512_and_si512(sh, _mm512_set1_epi8(0x0F));
}

/* int32 partials of two Q4_0 blocks against their Q8_0 activations */
static inline __m512i q4_0_pair_dot(const block_q4_0 *x, const block_q8_0 *y) {
    const __m512i qy = load_2x256(y[0].qs, y[1].qs);
    const __m512i p = _mm512_dpbusd_epi32(_mm512_setzero_si512(), q4_0_pair(x), qy);
    const __m512i c = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_set1_epi8(8), qy);
    return _mm512_sub_epi32(p, c);
}

/* int32 partials of two Q8_0 blocks against their Q8_0 activations (sign trick) */
static inline __m512i q8_0_pair_dot(const block_q8_0 *x, const block_q8_0 *y) {
    const __m512i qx = load_2x256(x[0].qs, x[1].qs);
    const __m512i qy = load_2x256(y[0].qs, y[1].qs);
    const __mmask64 neg = _mm512_movepi8_mask(qx);
    const __m512i sy = _mm512_mask_sub_epi8(qy, neg, _mm512_setzero_si512(), qy);
    return _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_abs_epi8(qx), sy);
}

/* One block, 256-bit (row tails) */
static inline int q4_0_block_dot(const block_q4_0 *x, const block_q8_0 *y) {
    const __m128i raw = _mm_loadu_si128((const __m128i *)x->qs);
    const __m256i q =
        _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(raw, 4), raw), _mm256_set1_epi8(0x0F));
    const __m256i qy = _mm256_loadu_si256((const __m256i *)y->qs);
    const __m256i p = _mm256_dpbusd_epi32(_mm256_setzero_si256(), q, qy);
    const __m256i c = _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_set1_epi8(8), qy);
    return hsum8_i32(_mm256_sub_epi32(p, c));
}

static inline int q8_0_block_dot(const block_q8_0 *x, const block_q8_0 *y) {
    const __m256i qx = _mm256_loadu_si256((const __m256i *)x->qs);
    const __m256i qy = _mm256_loadu_si256((const __m256i *)y->qs);
    const __m256i p = _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_sign_epi8(qx, qx),
                                          _mm256_sign_epi8(qy, qx));
    return hsum8_i32(p);
}

/* x (n,) . y (n,) for a 32-element format against Q8_0: 16 blocks per step, then single
 * blocks; block b contributes (float)isum_b * (dx_b * dy_b), added in block order. */
#define DOT_Q8_0_ROW(PAIR_FN, BLOCK_FN, x, y, nb, out)                                             \
    do {                                                                                           \
        float sumf_ = 0.0f;                                                                        \
        int64_t b_ = 0;                                                                            \
        for (; b_ + 16 <= (nb); b_ += 16) {                                                        \
            const __m512i v_[8] = {                                                                \
                PAIR_FN(&x[b_ + 0], &y[b_ + 0]),   PAIR_FN(&x[b_ + 2], &y[b_ + 2]),                \
                PAIR_FN(&x[b_ + 4], &y[b_ + 4]),   PAIR_FN(&x[b_ + 6], &y[b_ + 6]),                \
                PAIR_FN(&x[b_ + 8], &y[b_ + 8]),   PAIR_FN(&x[b_ + 10], &y[b_ + 10]),              \
                PAIR_FN(&x[b_ + 12], &y[b_ + 12]), PAIR_FN(&x[b_ + 14], &y[b_ + 14])};             \
            const __m512 is_ = _mm512_cvtepi32_ps(reduce_16_blocks(v_));                           \
            const __m512 dx_ = load_d16(&x[b_].d, sizeof x[0]);                                    \
            const __m512 dy_ = load_d16(&y[b_].d, sizeof y[0]);                                    \
            sumf_ = add_in_order16(sumf_, _mm512_mul_ps(is_, _mm512_mul_ps(dx_, dy_)));            \
        }                                                                                          \
        for (; b_ < (nb); b_++) {                                                                  \
            const int isum_ = BLOCK_FN(&x[b_], &y[b_]);                                            \
            const float t_ = (float)isum_ * (h2f(x[b_].d) * h2f(y[b_].d));                         \
            sumf_ += t_;                                                                           \
        }                                                                                          \
        *(out) = sumf_;                                                                            \
    } while (0)

/* Q4_0 . Q8_0 (n,) -> *s; see tensor_ref_dot_q4_0_q8_0 */
void tensor_avx512_dot_q4_0_q8_0(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q4_0 *x = vx;
    const block_q8_0 *y = vy;
    DOT_Q8_0_ROW(q4_0_pair_dot, q4_0_block_dot, x, y, n / QK4_0, s);
}

/* Q8_0 . Q8_0 (n,) -> *s; see tensor_ref_dot_q8_0_q8_0 */
void tensor_avx512_dot_q8_0_q8_0(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q8_0 *x = vx;
    const block_q8_0 *y = vy;
    DOT_Q8_0_ROW(q8_0_pair_dot, q8_0_block_dot, x, y, n / QK8_0, s);
}

/* ---- K-quants against Q8_K ---- */

/* The 8 six-bit scales and mins of a Q4_K/Q5_K block as bytes (tensor_k4_scale_min, four at a
 * time: bytes 0-3 of the packed field give the low 6 bits of sc[0..3], etc.). */
static inline void k4_scales_mins(const uint8_t *packed, __m128i *sc, __m128i *m) {
    uint32_t a, b, c;
    memcpy(&a, packed, 4);
    memcpy(&b, packed + 4, 4);
    memcpy(&c, packed + 8, 4);
    const uint32_t sc_lo = a & 0x3F3F3F3Fu;
    const uint32_t m_lo = b & 0x3F3F3F3Fu;
    const uint32_t sc_hi = (c & 0x0F0F0F0Fu) | ((a >> 2) & 0x30303030u);
    const uint32_t m_hi = ((c >> 4) & 0x0F0F0F0Fu) | ((b >> 2) & 0x30303030u);
    *sc = _mm_set_epi32(0, 0, (int)sc_hi, (int)sc_lo);
    *m = _mm_set_epi32(0, 0, (int)m_hi, (int)m_lo);
}

/* Word-index vector that spreads 16-bit scale words j0 and j1 over the low and high halves. */
static inline __m512i spread2(int j0, int j1) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set1_epi16((short)j0)),
                              _mm256_set1_epi16((short)j1), 1);
}

/* The vpermw index that rearranges eight scale words (words w0..w0+7 of a vector) so that
 * k4_chunk_scales picks each chunk's pair with an in-lane vpshufb: lanes 0-1 hold scales 0 2 4 6
 * (twice), lanes 2-3 scales 1 3 5 7. One cross-lane vpermw per super-block where spread2 took
 * one per chunk (four): tools/gemv1.c q4_K one token, one thread, from cache ~30 -> ~32.5 GB/s
 * (a CI run beside it). */
static inline __m512i k4_quads_idx(int w0) {
    const __m512i idx = _mm512_set_epi16(7, 5, 3, 1, 7, 5, 3, 1, 7, 5, 3, 1, 7, 5, 3, 1, 6, 4, 2, 0,
                                         6, 4, 2, 0, 6, 4, 2, 0, 6, 4, 2, 0);
    return _mm512_add_epi16(idx, _mm512_set1_epi16((short)w0));
}

/* chunk c's scale vector from the k4_quads_idx arrangement: sc[2c] in the low half, sc[2c+1] in the high
 * (as _mm512_permutexvar_epi16(spread2(2c, 2c + 1), scw)) */
static inline __m512i k4_chunk_scales(__m512i quads, int c) {
    return _mm512_shuffle_epi8(quads, _mm512_set1_epi16((short)(0x0100 * (2 * c + 1) + 2 * c)));
}

/* Q4_K/Q5_K min term: sum_j m_j * (bsums[2j] + bsums[2j+1]) */
static inline int k4_min_term(__m128i m8, const int16_t *bsums) {
    const __m256i mw = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(m8, m8)); /* m0 m0 m1 m1 ... */
    const __m256i bs = _mm256_loadu_si256((const __m256i *)bsums);
    return hsum8_i32(_mm256_madd_epi16(mw, bs));
}

/* 64 levels of a Q4_K/Q5_K chunk c in element order: the 32 low nibbles of qs[32c..32c+31]
 * (elements 64c..64c+31), then the 32 high nibbles (64c+32..64c+63). */
static inline __m512i k4_chunk(const uint8_t *qs) {
    const __m512i z = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)qs));
    const __m512i sh = _mm512_srlv_epi64(z, _mm512_set_epi64(4, 4, 4, 4, 0, 0, 0, 0));
    return _mm512_and_si512(sh, _mm512_set1_epi8(0x0F));
}

/* Q4_K . Q8_K (n,) -> *s; see tensor_ref_dot_q4_K_q8_K. Chunk c (64 elements) is sub-blocks 2c
 * and 2c+1; the scale vector carries sc[2c] in its low half and sc[2c+1] in its high half. */
void tensor_avx512_dot_q4_K_q8_K(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q4_K *x = vx;
    const block_q8_K *y = vy;
    float sumf = 0.0f;
    for (int64_t b = 0; b < n / QK_K; b++) {
        __m128i sc8, m8;
        k4_scales_mins(x[b].scales, &sc8, &m8);
        const __m512i scw = _mm512_castsi256_si512(_mm256_cvtepu8_epi16(sc8));
        __m512i acc = _mm512_setzero_si512();
#pragma GCC unroll 4
        for (int c = 0; c < 4; c++) {
            const __m512i q = k4_chunk(x[b].qs + 32 * c);
            const __m512i qy = _mm512_loadu_si512((const void *)(y[b].qs + 64 * c));
            const __m512i scv = _mm512_permutexvar_epi16(spread2(2 * c, 2 * c + 1), scw);
            acc = _mm512_dpwssd_epi32(acc, _mm512_maddubs_epi16(q, qy), scv);
        }
        const int isum = hsum16_i32(acc);
        const int imin = k4_min_term(m8, y[b].bsums);
        const float t1 = (float)isum * (h2f(x[b].d) * y[b].d);
        const float t2 = (float)imin * (h2f(x[b].dmin) * y[b].d);
        const float t = t1 - t2;
        sumf += t;
    }
    *s = sumf;
}

/* Q5_K . Q8_K (n,) -> *s; see tensor_ref_dot_q5_K_q8_K. As Q4_K, plus 16 where the 5th bit is
 * set: chunk c's low half takes bit 2c of qh[l], its high half bit 2c+1. */
void tensor_avx512_dot_q5_K_q8_K(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q5_K *x = vx;
    const block_q8_K *y = vy;
    const __m512i b16 = _mm512_set1_epi8(16);
    float sumf = 0.0f;
    for (int64_t b = 0; b < n / QK_K; b++) {
        __m128i sc8, m8;
        k4_scales_mins(x[b].scales, &sc8, &m8);
        const __m512i scw = _mm512_castsi256_si512(_mm256_cvtepu8_epi16(sc8));
        const __m512i qh = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)x[b].qh));
        __m512i acc = _mm512_setzero_si512();
#pragma GCC unroll 4
        for (int c = 0; c < 4; c++) {
            const __m512i bit =
                _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set1_epi8((char)(1 << (2 * c)))),
                                   _mm256_set1_epi8((char)(1 << (2 * c + 1))), 1);
            __m512i q = k4_chunk(x[b].qs + 32 * c);
            q = _mm512_mask_add_epi8(q, _mm512_test_epi8_mask(qh, bit), q, b16);
            const __m512i qy = _mm512_loadu_si512((const void *)(y[b].qs + 64 * c));
            const __m512i scv = _mm512_permutexvar_epi16(spread2(2 * c, 2 * c + 1), scw);
            acc = _mm512_dpwssd_epi32(acc, _mm512_maddubs_epi16(q, qy), scv);
        }
        const int isum = hsum16_i32(acc);
        const int imin = k4_min_term(m8, y[b].bsums);
        const float t1 = (float)isum * (h2f(x[b].d) * y[b].d);
        const float t2 = (float)imin * (h2f(x[b].dmin) * y[b].d);
        const float t = t1 - t2;
        sumf += t;
    }
    *s = sumf;
}

/* Word-index vector for 4 consecutive 16-element sub-blocks k0..k0+3 (8 words each). */
static inline __m512i spread4(int k0) {
    const __m256i lo = _mm256_set_m128i(_mm_set1_epi16((short)(k0 + 1)), _mm_set1_epi16((short)k0));
    const __m256i hi =
        _mm256_set_m128i(_mm_set1_epi16((short)(k0 + 3)), _mm_set1_epi16((short)(k0 + 2)));
    return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}

/* Q6_K . Q8_K (n,) -> *s; see tensor_ref_dot_q6_K_q8_K. The 6-bit levels are used unsigned
 * (0..63); the -32 comes back once per sub-block through Q8_K's bsums:
 * sum_k sc_k sum (q - 32) y = sum_k sc_k sum q y - 32 sum_k sc_k bsums_k (same int32).
 * Half h (128 elements): ql[64h..64h+63] loaded whole gives elements 128h+0..63 from its low
 * nibbles and 128h+64..127 from its high nibbles; qh[32h + l] supplies the two high bits, at
 * bit pairs (0, 2) and (4, 6) for the two vectors' halves. */
void tensor_avx512_dot_q6_K_q8_K(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q6_K *x = vx;
    const block_q8_K *y = vy;
    const __m512i m4 = _mm512_set1_epi8(0x0F), m30 = _mm512_set1_epi8(0x30);
    float sumf = 0.0f;
    for (int64_t b = 0; b < n / QK_K; b++) {
        const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)x[b].scales));
        const __m512i scw = _mm512_castsi256_si512(sc16);
        __m512i acc = _mm512_setzero_si512();
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            const __m512i ql = _mm512_loadu_si512((const void *)(x[b].ql + 64 * h));
            const __m512i qh =
                _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(x[b].qh + 32 * h)));
            /* elements 128h + 0..31 | 32..63: qh bits 0-1 | 2-3, moved to bits 4-5 */
            const __m512i q01 = _mm512_or_si512(
                _mm512_and_si512(ql, m4),
                _mm512_and_si512(_mm512_sllv_epi64(qh, _mm512_set_epi64(2, 2, 2, 2, 4, 4, 4, 4)),
                                 m30));
            /* elements 128h + 64..95 | 96..127: qh bits 4-5 | 6-7 */
            const __m512i q23 = _mm512_or_si512(
                _mm512_and_si512(_mm512_srli_epi16(ql, 4), m4),
                _mm512_and_si512(_mm512_srlv_epi64(qh, _mm512_set_epi64(2, 2, 2, 2, 0, 0, 0, 0)),
                                 m30));
            const __m512i y01 = _mm512_loadu_si512((const void *)(y[b].qs + 128 * h));
            const __m512i y23 = _mm512_loadu_si512((const void *)(y[b].qs + 128 * h + 64));
            const __m512i s01 = _mm512_permutexvar_epi16(spread4(8 * h), scw);
            const __m512i s23 = _mm512_permutexvar_epi16(spread4(8 * h + 4), scw);
            acc = _mm512_dpwssd_epi32(acc, _mm512_maddubs_epi16(q01, y01), s01);
            acc = _mm512_dpwssd_epi32(acc, _mm512_maddubs_epi16(q23, y23), s23);
        }
        const __m256i off =
            _mm256_madd_epi16(sc16, _mm256_loadu_si256((const __m256i *)y[b].bsums));
        const int isum = hsum16_i32(acc) - 32 * hsum8_i32(off);
        const float t = (float)isum * (h2f(x[b].d) * y[b].d);
        sumf += t;
    }
    *s = sumf;
}

/* Q2_K . Q8_K (n,) -> *s; see tensor_ref_dot_q2_K_q8_K. Half h's 32 qs bytes hold elements
 * 128h + 32j + l in bit pair j; shifting a doubled copy by 2j (low half) and 2j+2 (high half)
 * gives 64 consecutive elements, i.e. 4 sub-blocks of 16 with their 4-bit scales. */
void tensor_avx512_dot_q2_K_q8_K(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q2_K *x = vx;
    const block_q8_K *y = vy;
    const __m512i m3 = _mm512_set1_epi8(3);
    const __m128i m4 = _mm_set1_epi8(0x0F);
    float sumf = 0.0f;
    for (int64_t b = 0; b < n / QK_K; b++) {
        const __m128i sc8 = _mm_loadu_si128((const __m128i *)x[b].scales);
        const __m512i scw = _mm512_castsi256_si512(_mm256_cvtepu8_epi16(_mm_and_si128(sc8, m4)));
        const __m256i mw = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(sc8, 4), m4));
        __m512i acc = _mm512_setzero_si512();
#pragma GCC unroll 4
        for (int c = 0; c < 4; c++) { /* c = 2h + j/2: elements 64c .. 64c+63 */
            const int h = c / 2, j = 2 * (c % 2);
            const __m512i z =
                _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(x[b].qs + 32 * h)));
            const __m512i q = _mm512_and_si512(
                _mm512_srlv_epi64(z, _mm512_set_epi64(2 * j + 2, 2 * j + 2, 2 * j + 2, 2 * j + 2,
                                                      2 * j, 2 * j, 2 * j, 2 * j)),
                m3);
            const __m512i qy = _mm512_loadu_si512((const void *)(y[b].qs + 64 * c));
            const __m512i scv = _mm512_permutexvar_epi16(spread4(4 * c), scw);
            acc = _mm512_dpwssd_epi32(acc, _mm512_maddubs_epi16(q, qy), scv);
        }
        const int isum = hsum16_i32(acc);
        const int imin =
            hsum8_i32(_mm256_madd_epi16(mw, _mm256_loadu_si256((const __m256i *)y[b].bsums)));
        const float t1 = (float)isum * (h2f(x[b].d) * y[b].d);
        const float t2 = (float)imin * (h2f(x[b].dmin) * y[b].d);
        const float t = t1 - t2;
        sumf += t;
    }
    *s = sumf;
}

/* Q3_K . Q8_K (n,) -> *s; see tensor_ref_dot_q3_K_q8_K. Levels are used unsigned (low 2 bits as
 * Q2_K, plus 4 where the hmask bit 4h + j is set: 0..7); the -4 comes back per sub-block as
 * -4 * sc_k * bsums_k. Scales are signed (-32..31), which vpdpwssd takes as they are. */
void tensor_avx512_dot_q3_K_q8_K(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q3_K *x = vx;
    const block_q8_K *y = vy;
    const __m512i m3 = _mm512_set1_epi8(3), b4 = _mm512_set1_epi8(4);
    float sumf = 0.0f;
    for (int64_t b = 0; b < n / QK_K; b++) {
        /* the 16 six-bit scales, vectorized: low 4 bits of scale k are the low nibble of
         * scales[k] (k < 8) or the high nibble of scales[k - 8]; its top 2 bits are bits
         * 2(k/4)..2(k/4)+1 of scales[8 + k%4] */
        uint64_t lo8;
        uint32_t w;
        memcpy(&lo8, x[b].scales, 8);
        memcpy(&w, x[b].scales + 8, 4);
        const __m128i v = _mm_cvtsi64_si128((long long)lo8);
        const __m128i nib = _mm_set1_epi8(0x0F);
        const __m128i lo =
            _mm_unpacklo_epi64(_mm_and_si128(v, nib), _mm_and_si128(_mm_srli_epi16(v, 4), nib));
        const __m128i hi =
            _mm_set_epi32((int)((w >> 6) & 0x03030303u), (int)((w >> 4) & 0x03030303u),
                          (int)((w >> 2) & 0x03030303u), (int)(w & 0x03030303u));
        const __m128i sc8 =
            _mm_sub_epi8(_mm_or_si128(lo, _mm_slli_epi16(hi, 4)), _mm_set1_epi8(32));
        const __m256i sc16 = _mm256_cvtepi8_epi16(sc8);
        const __m512i scw = _mm512_castsi256_si512(sc16);
        const __m512i hm = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)x[b].hmask));
        __m512i acc = _mm512_setzero_si512();
#pragma GCC unroll 4
        for (int c = 0; c < 4; c++) { /* c = 2h + j/2: elements 64c .. 64c+63 */
            const int h = c / 2, j = 2 * (c % 2);
            const __m512i z =
                _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(x[b].qs + 32 * h)));
            __m512i q = _mm512_and_si512(
                _mm512_srlv_epi64(z, _mm512_set_epi64(2 * j + 2, 2 * j + 2, 2 * j + 2, 2 * j + 2,
                                                      2 * j, 2 * j, 2 * j, 2 * j)),
                m3);
            const __m512i bit = _mm512_inserti64x4(
                _mm512_castsi256_si512(_mm256_set1_epi8((char)(1 << (4 * h + j)))),
                _mm256_set1_epi8((char)(1 << (4 * h + j + 1))), 1);
            q = _mm512_mask_add_epi8(q, _mm512_test_epi8_mask(hm, bit), q, b4);
            const __m512i qy = _mm512_loadu_si512((const void *)(y[b].qs + 64 * c));
            const __m512i scv = _mm512_permutexvar_epi16(spread4(4 * c), scw);
            acc = _mm512_dpwssd_epi32(acc, _mm512_maddubs_epi16(q, qy), scv);
        }
        const __m256i off =
            _mm256_madd_epi16(sc16, _mm256_loadu_si256((const __m256i *)y[b].bsums));
        const int isum = hsum16_i32(acc) - 4 * hsum8_i32(off);
        const float t = (float)isum * (h2f(x[b].d) * y[b].d);
        sumf += t;
    }
    *s = sumf;
}

/* ---- Small batches (2..15 tokens): every weight block unpacked once for all tokens ----
 * A batch of a few tokens (generation of several sequences at once) is the matrix-vector dot
 * per token with the weights' unpacking shared: per row, per step (16 blocks / one super-block),
 * the row's levels and scales go to registers once, then every token of the pass (up to
 * GEMVN_T) is dotted against them. Each token's running sum is its own float chain, the same
 * sequence as its vec_dot, so the outputs are bit-identical; the chains of different tokens are
 * independent, which also hides the latency of the in-order additions that bounds one row's
 * single-token dot. A row (≤ a few KB) stays in L1 between passes of more than GEMVN_T tokens. */
#define GEMVN_T 8

/* HEARTH_GEMV_LANES=0: the row-wise form for every batch size (for comparisons). Worker threads
 * call this concurrently: the value is derived from the environment alone, so racing first
 * callers store the same int, and a relaxed atomic (a plain load on x86) makes that defined. */
static int gemvn_lanes(void) {
    static atomic_int v = -1;
    int x = atomic_load_explicit(&v, memory_order_relaxed);
    if (x < 0) {
        const char *e = getenv("HEARTH_GEMV_LANES");
        x = !(e && !strcmp(e, "0"));
        atomic_store_explicit(&v, x, memory_order_relaxed);
    }
    return x;
}

/* Q4_0 / Q8_0 rows against tokens packed linearly (tensor_internal.h): unsigned weight bytes
 * (nibble q for Q4_0, x ^ 0x80 = x + 128 for Q8_0) against one 64-byte activation load per
 * block pair, plus the packed -c * sum(qs). */
static inline __attribute__((always_inline)) void gemvn_q32(int64_t n_in, int n_rows, int n_tok,
                                                             float *y, int64_t ldy, const void *w,
                                                             size_t w_row, const uint8_t *lin,
                                                             const int q8) {
    const int64_t nb = n_in / QK8_0;
    const size_t tstride = (size_t)nb * TENSOR_GEMV_PACK32;
    const __m512i bias = _mm512_set1_epi8((char)0x80);
    for (int r = 0; r < n_rows; r++) {
        const uint8_t *row = (const uint8_t *)w + (size_t)r * w_row;
        const block_q4_0 *x4 = (const block_q4_0 *)(const void *)row;
        const block_q8_0 *x8 = (const block_q8_0 *)(const void *)row;
        for (int t0 = 0; t0 < n_tok; t0 += GEMVN_T) {
            const int nt = n_tok - t0 < GEMVN_T ? n_tok - t0 : GEMVN_T;
            const uint8_t *l0 = lin + (size_t)t0 * tstride;
            float sumf[GEMVN_T] = {0};
            int64_t b = 0;
            for (; b + 16 <= nb; b += 16) {
                __m512i q[8];
#pragma GCC unroll 8
                for (int i = 0; i < 8; i++)
                    q[i] = q8 ? _mm512_xor_si512(load_2x256(x8[b + 2 * i].qs, x8[b + 2 * i + 1].qs),
                                                 bias)
                              : q4_0_pair(&x4[b + 2 * i]);
                const __m512 dx = q8 ? d16_stride34(&x8[b].d) : d16_stride18(&x4[b].d);
                for (int t = 0; t < nt; t++) {
                    const uint8_t *qs = l0 + (size_t)t * tstride;
                    const float *dy = (const float *)(const void *)(qs + 32 * nb);
                    const int32_t *nc = (const int32_t *)(dy + nb);
                    __m512i v[8];
#pragma GCC unroll 8
                    for (int i = 0; i < 8; i++)
                        v[i] = _mm512_dpbusd_epi32(
                            _mm512_setzero_si512(), q[i],
                            _mm512_loadu_si512((const void *)(qs + 32 * (b + 2 * i))));
                    const __m512i is = _mm512_add_epi32(reduce_16_blocks(v),
                                                        _mm512_loadu_si512((const void *)(nc + b)));
                    const __m512 dd = _mm512_mul_ps(dx, _mm512_loadu_ps(dy + b));
                    sumf[t] = add_in_order16(sumf[t], _mm512_mul_ps(_mm512_cvtepi32_ps(is), dd));
                }
            }
            for (; b < nb; b++) {
                __m256i q;
                float dxb;
                if (q8) {
                    q = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)x8[b].qs),
                                         _mm256_set1_epi8((char)0x80));
                    dxb = h2f(x8[b].d);
                } else {
                    const __m128i raw = _mm_loadu_si128((const __m128i *)x4[b].qs);
                    q = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(raw, 4), raw),
                                         _mm256_set1_epi8(0x0F));
                    dxb = h2f(x4[b].d);
                }
                for (int t = 0; t < nt; t++) {
                    const uint8_t *qs = l0 + (size_t)t * tstride;
                    const float *dy = (const float *)(const void *)(qs + 32 * nb);
                    const int32_t *nc = (const int32_t *)(dy + nb);
                    const __m256i qy = _mm256_loadu_si256((const __m256i *)(qs + 32 * b));
                    const int isum =
                        hsum8_i32(_mm256_dpbusd_epi32(_mm256_setzero_si256(), q, qy)) + nc[b];
                    const float tb = (float)isum * (dxb * dy[b]);
                    sumf[t] += tb;
                }
            }
            for (int t = 0; t < nt; t++)
                y[(int64_t)(t0 + t) * ldy + r] = sumf[t];
        }
    }
}

/* Q4_0 / Q8_0, 16 rows at a time, lane = row (as the tiled kernels, gemm_avx512.c, but without a
 * tile): per block, the 16 rows' quant bytes are loaded as 128-bit rows, four to a vector, and
 * transposed in registers by two rounds of 32/64-bit unpacks, which leaves dword d of every row
 * in one vector with lane 4j + k holding row 4k + j (a fixed permutation, undone when the sums
 * are stored). Then per token and k-group one vpdpbusd against the token's 4 bytes broadcast,
 * and per block the float term (float)isum * (dx * dy) added lane-wise: each lane is its row's
 * own in-order sum, the same floats as vec_dot. No horizontal sums and no serial scalar chain,
 * so a token costs ~a third of a row-wise dot; the transpose is paid once for all T tokens. */
static inline __m512i load4x128(const uint8_t *p0, size_t stride) {
    __m512i z = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)p0));
    z = _mm512_inserti32x4(z, _mm_loadu_si128((const __m128i *)(p0 + stride)), 1);
    z = _mm512_inserti32x4(z, _mm_loadu_si128((const __m128i *)(p0 + 2 * stride)), 2);
    return _mm512_inserti32x4(z, _mm_loadu_si128((const __m128i *)(p0 + 3 * stride)), 3);
}

/* v[d] = dword d of the 16 bytes at p + r * stride for rows r = 0..15, lane 4j + k = row 4k + j */
static inline void transpose16x4(const uint8_t *p, size_t stride, __m512i v[4]) {
    const __m512i z0 = load4x128(p, stride), z1 = load4x128(p + 4 * stride, stride);
    const __m512i z2 = load4x128(p + 8 * stride, stride), z3 = load4x128(p + 12 * stride, stride);
    const __m512i u0 = _mm512_unpacklo_epi32(z0, z1), u1 = _mm512_unpackhi_epi32(z0, z1);
    const __m512i u2 = _mm512_unpacklo_epi32(z2, z3), u3 = _mm512_unpackhi_epi32(z2, z3);
    v[0] = _mm512_unpacklo_epi64(u0, u2);
    v[1] = _mm512_unpackhi_epi64(u0, u2);
    v[2] = _mm512_unpacklo_epi64(u1, u3);
    v[3] = _mm512_unpackhi_epi64(u1, u3);
}

#define ALWAYS_INLINE static inline __attribute__((always_inline))

ALWAYS_INLINE void gemvn_q32_16(int64_t nb, const uint8_t *w, size_t w_row, float *y, int64_t ldy,
                                const uint8_t *lin, const int q8, const int T) {
    const size_t tstride = (size_t)nb * TENSOR_GEMV_PACK32;
    const size_t bsz = q8 ? sizeof(block_q8_0) : sizeof(block_q4_0);
    /* lane L holds row 4 (L % 4) + L / 4 (and vice versa) */
    const __m512i perm = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    const __m512i offs = _mm512_mullo_epi32(perm, _mm512_set1_epi32((int)w_row));
    const __m512i m4 = _mm512_set1_epi8(0x0F), bias = _mm512_set1_epi8((char)0x80);
    /* the 16 rows are one contiguous run of memory, read here 16 streams at a time, which the
     * hardware prefetchers do not follow from DRAM; the next group's run is prefetched linearly
     * while this one is computed (a few lines per block) */
    const uint8_t *next = w + 16 * w_row;
    const int64_t lpb = ((int64_t)(16 * w_row) / 64 + nb - 1) / nb;
    __m512 f[GEMVN_T];
#pragma GCC unroll 8
    for (int t = 0; t < T; t++)
        f[t] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *blk = w + (size_t)b * bsz;
        for (int64_t l = 0; l < lpb; l++)
            _mm_prefetch((const char *)(next + 64 * (size_t)(b * lpb + l)), _MM_HINT_T0);
        __m512i wv[8];
        if (q8) {
            transpose16x4(blk + 2, w_row, wv);
            transpose16x4(blk + 18, w_row, wv + 4);
#pragma GCC unroll 8
            for (int g = 0; g < 8; g++)
                wv[g] = _mm512_xor_si512(wv[g], bias);
        } else {
            transpose16x4(blk + 2, w_row, wv);
#pragma GCC unroll 4
            for (int d = 0; d < 4; d++) {
                wv[d + 4] = _mm512_and_si512(_mm512_srli_epi32(wv[d], 4), m4);
                wv[d] = _mm512_and_si512(wv[d], m4);
            }
        }
        const __m512i raw = _mm512_i32gather_epi32(offs, (const void *)blk, 1);
        const __m512 dx = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(raw));
#pragma GCC unroll 8
        for (int t = 0; t < T; t++) {
            const uint8_t *qs = lin + (size_t)t * tstride;
            const float *dy = (const float *)(const void *)(qs + 32 * nb);
            const int32_t *nc = (const int32_t *)(dy + nb);
            __m512i a = _mm512_set1_epi32(nc[b]);
#pragma GCC unroll 8
            for (int g = 0; g < 8; g++) {
                int v;
                memcpy(&v, qs + 32 * b + 4 * g, 4);
                a = _mm512_dpbusd_epi32(a, wv[g], _mm512_set1_epi32(v));
            }
            const __m512 dd = _mm512_mul_ps(dx, _mm512_set1_ps(dy[b]));
            f[t] = _mm512_add_ps(f[t], _mm512_mul_ps(_mm512_cvtepi32_ps(a), dd));
        }
    }
#pragma GCC unroll 8
    for (int t = 0; t < T; t++)
        _mm512_storeu_ps(y + t * ldy, _mm512_permutexvar_ps(perm, f[t]));
}

/* all rows: whole groups of 16 lane-wise, the rest row-wise (gemvn_q32) */
static inline void gemvn_q32_rows(int64_t n_in, int n_rows, int n_tok, float *y, int64_t ldy,
                                  const void *w, size_t w_row, const uint8_t *lin, const int q8) {
    const int64_t nb = n_in / QK8_0;
    const size_t tstride = (size_t)nb * TENSOR_GEMV_PACK32;
    int r = 0;
    for (; r + 16 <= n_rows; r += 16) {
        const uint8_t *wr = (const uint8_t *)w + (size_t)r * w_row;
        for (int t0 = 0; t0 < n_tok; t0 += GEMVN_T) {
            const uint8_t *l0 = lin + (size_t)t0 * tstride;
            float *y0 = y + (int64_t)t0 * ldy + r;
            switch (n_tok - t0) {
            case 1: gemvn_q32_16(nb, wr, w_row, y0, ldy, l0, q8, 1); break;
            case 2: gemvn_q32_16(nb, wr, w_row, y0, ldy, l0, q8, 2); break;
            case 3: gemvn_q32_16(nb, wr, w_row, y0, ldy, l0, q8, 3); break;
            case 4: gemvn_q32_16(nb, wr, w_row, y0, ldy, l0, q8, 4); break;
            case 5: gemvn_q32_16(nb, wr, w_row, y0, ldy, l0, q8, 5); break;
            case 6: gemvn_q32_16(nb, wr, w_row, y0, ldy, l0, q8, 6); break;
            case 7: gemvn_q32_16(nb, wr, w_row, y0, ldy, l0, q8, 7); break;
            default: gemvn_q32_16(nb, wr, w_row, y0, ldy, l0, q8, 8); break;
            }
        }
    }
    if (r < n_rows)
        gemvn_q32(n_in, n_rows - r, n_tok, y + r, ldy, (const uint8_t *)w + (size_t)r * w_row,
                  w_row, lin, q8);
}

/* 16 signed levels copied to every 128-bit lane, for vpshufb lookups */
static inline __m512i lut512(const int8_t *levels) {
    return _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)levels));
}

/* the 64 bytes at p + off, those at or past p + len read as zero (a masked load: no fault) */
static inline __m512i window_upto(const uint8_t *p, int64_t off, int64_t len) {
    const int64_t have = len - off;
    const __mmask64 m = have >= 64 ? ~(__mmask64)0 : have > 0 ? (((__mmask64)1 << have) - 1) : 0;
    return _mm512_maskz_loadu_epi8(m, p + off);
}

/* d16_stride18 for the first n < 16 blocks only: its four 64-byte windows loaded under a mask
 * that stops at the n-th block's end (no read past the row: masked loads do not fault); the
 * other lanes are unused */
static inline __m512 d16_stride18_n(const void *first, const int n) {
    const uint8_t *p = first;
    const int64_t len = 18 * (int64_t)n;
    return d16_windows18(window_upto(p, 0, len), window_upto(p, 72, len), window_upto(p, 144, len),
                         window_upto(p, 216, len));
}

/* One token (plain generation, and every routed expert of a MoE layer, which sees one token per
 * sequence), four rows at a time, for the 32-element block types whose activations come packed
 * linearly (Q4_0, Q8_0, IQ4_NL, MXFP4: tensor_gemvn_pack): each row is still read as one
 * sequential stream (four streams, which the hardware prefetchers follow; sixteen side by side,
 * as gemvn_q32_16, lose ~25% from DRAM), but the four rows' in-order float sums run side by
 * side in the lanes of one 128-bit vector: per 16-block step, a 4x16 transpose of the four rows'
 * block terms, then 16 lane-wise adds in block order. Each lane is its row's own sequence of
 * additions (as add_in_order16), so the sums are bit-identical; what goes away is the row-wise
 * form's serial chain of 16 scalar adds per step (its latency bounded the single-token kernel)
 * and its store/reload of the terms. Blocks past the last whole step (n_in % 512, e.g. the
 * 1408-wide input of qwen1.5-moe's expert down projection: 12 of 44, or gpt-oss's 2880: 10 of
 * 90) go two at a time through the same integer path, their terms added per row in block order.
 * The stream is prefetched PF_AHEAD bytes ahead while this group is computed: without it the
 * MXFP4 form was 3x slower from DRAM than in cache (reverted 94b9caf). */
/* The four rows r..r+3 of a one-token four-row kernel (the rows past n_rows repeat the last
 * one: computed, not stored). */
static inline void group_rows(const void *w, size_t w_row, int r, int n_rows, const uint8_t *x[4]) {
    for (int k = 0; k < 4; k++)
        x[k] = (const uint8_t *)w + (size_t)(r + k < n_rows ? r + k : n_rows - 1) * w_row;
}

/* The one-token four-row kernels read their rows as one linear stream (a group's four rows
 * are adjacent) and prefetch it ahead of the group being computed: a group's worth of lines
 * spread over its steps (pf_step one step's share, pf_rest what is left), never past the last
 * row, starting PF_AHEAD bytes or one group past the group's start, whichever is further. The
 * four rows are read side by side, so the prefetch must start beyond the group's last row (one
 * group ahead); but MoE expert groups are 1.7-6.7 KB, too close for a DRAM stream on this
 * machine, which wants ~8 KB ahead. tools/gemv1.c --random (one thread, CPU 0, weights in 2 MiB
 * pages, alternated; against one group ahead): Q4_K 768x2048 21.6-21.9 -> 25.2-26.0 GB/s,
 * 2048x768 21.0 -> 25.1-25.2; Q6_K 2048x768 22.7-23.0 -> 29.8-30.1, 768x2048 22.5-23.2 ->
 * 26.8-27.4; Q4_0 2048x1408 25.5-25.8 -> 29.5-30.6; MXFP4 2880x2880 (compute-bound) 27 either
 * way; 4 KB and 12-16 KB were slower than 8 KB there. A fixed 8 KB for every group lost on large
 * groups (Q8_0 2880x4096, 17 KB groups: 21.4-21.9 vs 24.0-26.0 GB/s one group ahead). */
enum { PF_AHEAD = 8192 };

typedef struct {
    const uint8_t *next;
    int64_t line, lines, per_step;
} group_prefetch;

static inline group_prefetch group_prefetch_init(const void *w, size_t w_row, int r, int n_rows,
                                                 int64_t steps) {
    const int64_t group = 4 * (int64_t)w_row;
    const int64_t start = (int64_t)r * (int64_t)w_row + (group > PF_AHEAD ? group : PF_AHEAD);
    const int64_t end = (int64_t)n_rows * (int64_t)w_row;
    const int64_t len = start + 4 * (int64_t)w_row > end ? end - start : 4 * (int64_t)w_row;
    group_prefetch g = {(const uint8_t *)w, 0, 0, 0};
    if (len > 0) g.next += start, g.lines = (len + 63) / 64;
    g.per_step = (g.lines + steps - 1) / steps;
    return g;
}

static inline void pf_step(group_prefetch *g) {
    const int64_t end = g->line + g->per_step < g->lines ? g->line + g->per_step : g->lines;
    /* a plain loop, one compare per line: unrolled (all of a step's prefetches at once) it was
     * faster from cache but slower from DRAM (Q8_0 2880x4096 32-36 -> 28-30 GB/s, tools/gemv1.c) */
#pragma GCC unroll 1
    for (int64_t l = g->line; l < end; l++)
        _mm_prefetch((const char *)(g->next + 64 * l), _MM_HINT_T0);
    if (end > g->line) g->line = end;
}

static inline void pf_rest(group_prefetch *g) {
    for (; g->line < g->lines; g->line++)
        _mm_prefetch((const char *)(g->next + 64 * g->line), _MM_HINT_T0);
}

enum { LIN_Q4_0, LIN_Q8_0, LIN_IQ4_NL, LIN_MXFP4 };

ALWAYS_INLINE size_t lin_block_size(const int kind) {
    return kind == LIN_Q8_0 ? sizeof(block_q8_0) : kind == LIN_MXFP4 ? sizeof(block_mxfp4) : 18;
}

/* the unsigned weight bytes of block x (low half) and, when two, of the block after it (high
 * half; else garbage that only reaches the unused lanes): Q4_0 nibbles q (against -8 sum), Q8_0
 * x + 128, IQ4_NL / MXFP4 table levels + 128 (against -128 sum) */
ALWAYS_INLINE __m512i lin_pair(const uint8_t *x, const int kind, const bool two) {
    const size_t bs = lin_block_size(kind);
    if (kind == LIN_Q8_0) {
        const __m512i raw =
            two ? load_2x256(x + 2, x + bs + 2)
                : _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(x + 2)));
        return _mm512_xor_si512(raw, _mm512_set1_epi8((char)0x80));
    }
    const uint8_t *qs = x + (kind == LIN_MXFP4 ? 1 : 2);
    const __m512i z = _mm512_mask_blend_epi64(
        0xF0, _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)qs)),
        two ? _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)(qs + bs)))
            : _mm512_setzero_si512());
    const __m512i sh = _mm512_srlv_epi64(z, _mm512_set_epi64(4, 4, 0, 0, 4, 4, 0, 0));
    const __m512i q = _mm512_and_si512(sh, _mm512_set1_epi8(0x0F));
    if (kind == LIN_Q4_0) return q;
    const __m512i lut = _mm512_add_epi8(
        lut512(kind == LIN_MXFP4 ? tensor_mxfp4_values : tensor_iq4nl_values),
        _mm512_set1_epi8((char)0x80));
    return _mm512_shuffle_epi8(lut, q);
}

/* dy * 2^(e-128) lane-wise, i.e. dy * tensor_e8m0_half(e): vscalefps rounds dy * 2^(e-128) once,
 * as the multiply by that exact (for e < 2 subnormal) power of two does, so the result is the
 * same bit for bit (test_kernels draws e from 0..63: subnormal scales and products included).
 * Three ops where building the float (five) and multiplying took six: tools/gemv1.c mxfp4
 * 2880 x 2880, one thread, 16.5 -> 23.6 GB/s from cache. */
static inline __m512 mul_e8m0_half16(__m512 dy, __m512i e) {
    return _mm512_scalef_ps(dy, _mm512_cvtepi32_ps(_mm512_sub_epi32(e, _mm512_set1_epi32(128))));
}

/* The exponent bytes e of MXFP4 blocks 0..n-1 (n <= 16; 17 bytes apart) as int32 lanes, lanes
 * past n zero: byte 17i is the low (i even) or high (i odd) byte of 16-bit word 17i/2; one
 * vpermt2w per 128 bytes picks the 8 words, a variable shift the byte (the scalar byte loads
 * this replaces, written to a buffer and reloaded as a vector, stalled store forwarding: 14.7 ->
 * 21 GB/s at 2880 x 2880). The 64-byte windows are loaded under a mask that stops at block n's
 * end (masked loads do not fault). */
ALWAYS_INLINE __m512i e16_stride17(const uint8_t *p, const int n) {
    __m512i win[4];
    for (int k = 0; k < 4; k++)
        win[k] = window_upto(p, 64 * k, 17 * (int64_t)n);
    /* words 17i/2 of bytes 0..127 (i < 8) and 17i/2 - 64 of bytes 128..255 (i >= 8) */
    const __m512i idx = _mm512_set_epi16(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 63, 55,
                                         46, 38, 29, 21, 12, 4, 59, 51, 42, 34, 25, 17, 8, 0);
    const __m512i r0 = _mm512_permutex2var_epi16(win[0], idx, win[1]);
    const __m512i r1 = _mm512_permutex2var_epi16(win[2], idx, win[3]);
    const __m256i w = _mm512_castsi512_si256(_mm512_mask_blend_epi16(0xFF00, r0, r1));
    const __m512i sh = _mm512_srlv_epi32(_mm512_cvtepu16_epi32(w),
                                         _mm512_set_epi32(8, 0, 8, 0, 8, 0, 8, 0, 8, 0, 8, 0, 8, 0, 8, 0));
    return _mm512_and_si512(sh, _mm512_set1_epi32(0xFF));
}

/* the fp16 scales of blocks 0..n-1 from x (n <= 16; lanes past n unused; MXFP4's are
 * mul_e8m0_half16's) */
ALWAYS_INLINE __m512 lin_dx16(const uint8_t *x, const int kind, const int n) {
    if (kind == LIN_Q8_0) {
        if (n == 16) return d16_stride34(x);
        uint16_t h[16] = {0};
        for (int i = 0; i < n; i++)
            memcpy(&h[i], x + 34 * i, 2);
        return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)h));
    }
    return n == 16 ? d16_stride18(x) : d16_stride18_n(x, n);
}

/* blocks b..b+n-1's float terms (float)(isum_b) * (dx_b * dy_b) from their integer sums against
 * the packed activations (xb: block b of the row; lanes past n are garbage and unused): the
 * packed correction nc added, then the scales (MXFP4's by vscalefps) */
ALWAYS_INLINE __m512 block_terms16(const uint8_t *xb, const int kind, __m512i sums, int64_t b,
                                   const int n, const float *dy, const int32_t *nc) {
    const __mmask16 m = n == 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1);
    const __m512i is = _mm512_add_epi32(sums, _mm512_maskz_loadu_epi32(m, nc + b));
    const __m512 dyb = _mm512_maskz_loadu_ps(m, dy + b);
    const __m512 dd = kind == LIN_MXFP4 ? mul_e8m0_half16(dyb, e16_stride17(xb, n))
                                        : _mm512_mul_ps(lin_dx16(xb, kind, n), dyb);
    return _mm512_mul_ps(_mm512_cvtepi32_ps(is), dd);
}

/* the 16 block terms (float)(isum_b) * (dx_b * dy_b) of row x, blocks b..b+15 (n = 16), or of
 * its first n blocks (n < 16: the other lanes are garbage and unused) */
ALWAYS_INLINE __m512 lin_terms16(const uint8_t *x, const int kind, int64_t b, const int n,
                                 const uint8_t *qs, const float *dy, const int32_t *nc) {
    const size_t bs = lin_block_size(kind);
    const uint8_t *xb = x + (size_t)b * bs;
    __m512i v[8];
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++) {
        if (2 * i < n) {
            const bool two = 2 * i + 1 < n;
            const __m512i a =
                two ? _mm512_loadu_si512((const void *)(qs + 32 * (b + 2 * i)))
                    : _mm512_castsi256_si512(
                          _mm256_loadu_si256((const __m256i *)(qs + 32 * (b + 2 * i))));
            v[i] = _mm512_dpbusd_epi32(_mm512_setzero_si512(),
                                       lin_pair(xb + 2 * i * bs, kind, two), a);
        } else {
            v[i] = _mm512_setzero_si512();
        }
    }
    return block_terms16(xb, kind, reduce_16_blocks(v), b, n, dy, nc);
}

/* s (lane k: row k's running sum) + the first n block terms of rows 0..3 (t0..t3, lane i: block
 * i), one block at a time in block order: a 4x16 transpose, then n lane-wise adds */
ALWAYS_INLINE __m128 add_terms_4x16(__m128 s, __m512 t0, __m512 t1, __m512 t2, __m512 t3,
                                    const int n) {
    /* per 128-bit lane j: c[i] = block 4j + i of rows 0..3 */
    const __m512 a0 = _mm512_unpacklo_ps(t0, t1), a1 = _mm512_unpackhi_ps(t0, t1);
    const __m512 a2 = _mm512_unpacklo_ps(t2, t3), a3 = _mm512_unpackhi_ps(t2, t3);
#define PD_(x) _mm512_castps_pd(x)
    const __m512 c[4] = {_mm512_castpd_ps(_mm512_unpacklo_pd(PD_(a0), PD_(a2))),
                         _mm512_castpd_ps(_mm512_unpackhi_pd(PD_(a0), PD_(a2))),
                         _mm512_castpd_ps(_mm512_unpacklo_pd(PD_(a1), PD_(a3))),
                         _mm512_castpd_ps(_mm512_unpackhi_pd(PD_(a1), PD_(a3)))};
#undef PD_
    if (n == 16) {
#pragma GCC unroll 4
        for (int i = 0; i < 4; i++)
            s = _mm_add_ps(s, _mm512_castps512_ps128(c[i]));
#pragma GCC unroll 4
        for (int i = 0; i < 4; i++)
            s = _mm_add_ps(s, _mm512_extractf32x4_ps(c[i], 1));
#pragma GCC unroll 4
        for (int i = 0; i < 4; i++)
            s = _mm_add_ps(s, _mm512_extractf32x4_ps(c[i], 2));
#pragma GCC unroll 4
        for (int i = 0; i < 4; i++)
            s = _mm_add_ps(s, _mm512_extractf32x4_ps(c[i], 3));
        return s;
    }
    /* n is a constant here (the callers' tail cases): the unrolled loop picks each block's
     * four sums straight from the registers (a store and reload of c cost ~20% of a 2880-wide
     * row: tools/gemv1.c) */
#pragma GCC unroll 16
    for (int i = 0; i < n; i++) {
        const __m512 ci = c[i & 3];
        const __m128 v = (i >> 2) == 0   ? _mm512_castps512_ps128(ci)
                         : (i >> 2) == 1 ? _mm512_extractf32x4_ps(ci, 1)
                         : (i >> 2) == 2 ? _mm512_extractf32x4_ps(ci, 2)
                                         : _mm512_extractf32x4_ps(ci, 3);
        s = _mm_add_ps(s, v);
    }
    return s;
}

/* ---- Nibble types, one 128-bit lane per block ----
 * lin_pair/lin_terms16 put two blocks in a zmm (a block's 32 products in 8 int32 lanes), so a
 * 16-block step ends in reduce_16_blocks over eight vectors. For the 4-bit types (Q4_0, IQ4_NL,
 * MXFP4) a block's 16 packed bytes fit one 128-bit lane: four blocks per zmm, the low nibbles
 * (elements 0-15) and the high ones (16-31) two vpdpbusd into the same lanes, a block's sum in 4
 * int32 lanes, and a step's four vectors reduce in 9 ops (quad_sums16) instead of 22 (tools/
 * gemv1.c, one thread, 2880 x 2880 from cache: MXFP4 23 -> 28.5 GB/s, Q4_0 27.8 -> 35, IQ4_NL
 * 25.5 -> 31.6). A step's 16 blocks are read as four quads of consecutive blocks 4j..4j+3, 68
 * (MXFP4) or 72 bytes of the row each, as two 64-byte windows (the first and the last 64 of its
 * bytes) that also carry the quad's four scales. The activations must come in the order the
 * vectors hold the blocks: quad_pack rearranges a token's packed bytes once per call (n_in
 * bytes; the rows' loads then read them as plain vectors).
 *
 * Where the CPU has AVX512-VBMI (Ice Lake, Zen 4 and later) the _vbmi kernels take a quad's 64
 * nibble bytes out of its windows with one two-source byte permute (vpermt2b) rather than a load
 * and three 128-bit inserts, look the levels up with vpermb (its 64-entry table is the 16 levels
 * four times, so the index needs no masking: two vpand fewer per quad than vpshufb) and gather
 * MXFP4's exponent bytes from the windows already loaded. tools/gemv1.c --type mxfp4 2880 x 2880,
 * one thread, alternated: from cache 26.8-28.7 -> 29.3-29.9 GB/s, scattered from DRAM 25.9-26.2
 * -> 27.1-27.8 (Q4_0, IQ4_NL within +-3%). The kernels without VBMI keep vector j = blocks j, 4 + j,
 * 8 + j, 12 + j (quad_pack's interleaved order), whose sums need no vpermd (3-6% from cache). */
enum { QUAD_STEP = 16 * 32 }; /* a 16-block step's activation bytes, in either order */

/* VBMI's byte permutes as inline asm: the _vbmi kernels run only where dispatch.c found VBMI, but
 * this file is compiled for the AVX-512 set without it (a -mavx512vbmi file or target attribute
 * would let the compiler use VBMI in code that runs everywhere) */
ALWAYS_INLINE __m512i permb(__m512i idx, __m512i table) { /* table[idx & 63] */
    __m512i r;
    __asm__("vpermb %2, %1, %0" : "=v"(r) : "v"(idx), "v"(table));
    return r;
}

ALWAYS_INLINE __m512i permt2b(__m512i a, __m512i idx, __m512i b) { /* (a:b)[idx & 127] */
    __asm__("vpermt2b %2, %1, %0" : "+v"(a) : "v"(idx), "v"(b));
    return a;
}

/* qs (nb blocks of 32 bytes) -> out, per 16-block step: for vector j = 0..3 the low halves (16
 * bytes) of its four blocks, then their high halves; past nb zeros. Lane i of vector j is block
 * 4j + i (the quads of consecutive blocks the _vbmi kernels read) or, interleaved, block 4i + j
 * (what the kernels without VBMI load: their sums then come out in block order, no vpermd). */
static void quad_pack(const uint8_t *qs, int64_t nb, uint8_t *out, const bool consecutive) {
    for (int64_t s = 0; s < nb; s += 16)
        for (int j = 0; j < 4; j++)
            for (int h = 0; h < 2; h++)
                for (int i = 0; i < 4; i++) {
                    uint8_t *dst = out + 32 * s + 64 * (2 * j + h) + 16 * i;
                    const int64_t blk = s + (consecutive ? 4 * j + i : 4 * i + j);
                    if (blk < nb)
                        memcpy(dst, qs + 32 * blk + 16 * h, 16);
                    else
                        memset(dst, 0, 16);
                }
}

/* A step's four quads as windows: lo[j] the first 64 bytes of quad j, hi[j] its last 64 (4 bs
 * bytes in all), loaded under a mask that stops at block n's end (n < 16: blocks past it read
 * as zeros, and nothing past the row is touched) */
typedef struct {
    __m512i lo[4], hi[4];
} quad_windows;

ALWAYS_INLINE quad_windows load_quads(const uint8_t *xb, const int kind, const int n) {
    const int64_t qb = 4 * (int64_t)lin_block_size(kind), len = (int64_t)lin_block_size(kind) * n;
    quad_windows w;
#pragma GCC unroll 4
    for (int j = 0; j < 4; j++) {
        if (n == 16) {
            w.lo[j] = _mm512_loadu_si512((const void *)(xb + qb * j));
            w.hi[j] = _mm512_loadu_si512((const void *)(xb + qb * j + qb - 64));
        } else {
            w.lo[j] = window_upto(xb, qb * j, len);
            w.hi[j] = window_upto(xb, qb * j + qb - 64, len);
        }
    }
    return w;
}

/* vpermt2b indices of a quad's 4 x 16 nibble bytes in (lo:hi): block i's at bs i + 1 (MXFP4:
 * after its exponent byte) or + 2 (after an fp16 scale); offsets past 63 come from hi, which
 * starts at 4 bs - 64 */
static const _Alignas(64) uint8_t quad_qs_idx17[64] = {
    1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16, 18, 19, 20, 21, 22, 23,
    24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46,
    47, 48, 49, 50, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 124, 125, 126, 127};
static const _Alignas(64) uint8_t quad_qs_idx18[64] = {
    2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16, 17, 20, 21, 22, 23, 24, 25,
    26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49,
    50, 51, 52, 53, 56, 57, 58, 59, 60, 61, 62, 63, 120, 121, 122, 123, 124, 125, 126, 127};

/* vector j's nibble bytes: with VBMI quad j's (block 4j + i's 16 in lane i), without it block
 * 4i + j's in lane i (quad_pack's two orders; lanes of blocks past n: zeros or the zero
 * windows' bytes, against zero activations) */
ALWAYS_INLINE __m512i quad_nibbles(const uint8_t *xb, const int kind, const int j, const int n,
                                   const quad_windows *w, const bool vbmi) {
    if (vbmi)
        return permt2b(w->lo[j], _mm512_load_si512((const void *)(kind == LIN_MXFP4 ? quad_qs_idx17
                                                                                    : quad_qs_idx18)),
                       w->hi[j]);
    const size_t bs = lin_block_size(kind), off = kind == LIN_MXFP4 ? 1 : 2;
    const uint8_t *q = xb + bs * (size_t)j + off;
    __m512i z = _mm512_setzero_si512();
    if (j < n) z = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)q));
    if (4 + j < n) z = _mm512_inserti32x4(z, _mm_loadu_si128((const __m128i *)(q + 4 * bs)), 1);
    if (8 + j < n) z = _mm512_inserti32x4(z, _mm_loadu_si128((const __m128i *)(q + 8 * bs)), 2);
    if (12 + j < n) z = _mm512_inserti32x4(z, _mm_loadu_si128((const __m128i *)(q + 12 * bs)), 3);
    return z;
}

/* a quad's nibbles z dotted with its activations a (low nibbles) and a + 64 (high): lane i's 4
 * int32 add up to the quad's block i's sum */
ALWAYS_INLINE __m512i quad_dot(const __m512i z, const int kind, const uint8_t *a, const bool vbmi) {
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    __m512i lo, hi;
    if (kind == LIN_Q4_0) {
        lo = _mm512_and_si512(z, m4), hi = _mm512_and_si512(_mm512_srli_epi16(z, 4), m4);
    } else {
        const __m512i lut = _mm512_add_epi8(
            lut512(kind == LIN_MXFP4 ? tensor_mxfp4_values : tensor_iq4nl_values),
            _mm512_set1_epi8((char)0x80));
        if (vbmi) {
            lo = permb(z, lut), hi = permb(_mm512_srli_epi16(z, 4), lut);
        } else {
            lo = _mm512_shuffle_epi8(lut, _mm512_and_si512(z, m4));
            hi = _mm512_shuffle_epi8(lut, _mm512_and_si512(_mm512_srli_epi16(z, 4), m4));
        }
    }
    const __m512i d = _mm512_dpbusd_epi32(_mm512_setzero_si512(), lo,
                                          _mm512_load_si512((const void *)a));
    return _mm512_dpbusd_epi32(d, hi, _mm512_load_si512((const void *)(a + 64)));
}

/* lane L: block L's sum, from v[j] (lane i's four int32 are one block's). The in-lane
 * reduction puts lane i of v[j] in lane 4i + j: block order for the interleaved vectors; the
 * consecutive quads (block 4j + i) take one vpermd more. */
static inline __m512i quad_sums16(__m512i v0, __m512i v1, __m512i v2, __m512i v3,
                                  const bool consecutive) {
    const __m512i t0 = _mm512_add_epi32(_mm512_unpacklo_epi32(v0, v1), _mm512_unpackhi_epi32(v0, v1));
    const __m512i t1 = _mm512_add_epi32(_mm512_unpacklo_epi32(v2, v3), _mm512_unpackhi_epi32(v2, v3));
    const __m512i t = _mm512_add_epi32(_mm512_unpacklo_epi64(t0, t1), _mm512_unpackhi_epi64(t0, t1));
    if (!consecutive) return t;
    return _mm512_permutexvar_epi32(
        _mm512_set_epi32(15, 11, 7, 3, 14, 10, 6, 2, 13, 9, 5, 1, 12, 8, 4, 0), t);
}

/* MXFP4's 16 exponent bytes (bytes 0, 17, 34, 51 of each quad's lo window) as int32 lanes */
ALWAYS_INLINE __m512i quad_e16(const quad_windows *w, const bool vbmi) {
    if (vbmi) {
        const __m512i idx = _mm512_set_epi32(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                             0x73625140, 0x33221100);
        const __m512i e01 = permt2b(w->lo[0], idx, w->lo[1]), e23 = permt2b(w->lo[2], idx, w->lo[3]);
        return _mm512_cvtepu8_epi32(_mm512_castsi512_si128(_mm512_unpacklo_epi64(e01, e23)));
    }
    /* without VBMI: the 16-bit words holding those bytes (0, 8, 17, 25 of a window), then a
     * variable shift picks the byte */
    const __m512i idx = _mm512_set_epi16(57, 49, 40, 32, 25, 17, 8, 0, 57, 49, 40, 32, 25, 17, 8, 0,
                                         57, 49, 40, 32, 25, 17, 8, 0, 57, 49, 40, 32, 25, 17, 8, 0);
    const __m512i r0 = _mm512_permutex2var_epi16(w->lo[0], idx, w->lo[1]);
    const __m512i r1 = _mm512_permutex2var_epi16(w->lo[2], idx, w->lo[3]);
    const __m256i words = _mm512_castsi512_si256(_mm512_mask_blend_epi16(0xFF00, r0, r1));
    const __m512i sh = _mm512_srlv_epi32(_mm512_cvtepu16_epi32(words),
                                         _mm512_set_epi32(8, 0, 8, 0, 8, 0, 8, 0, 8, 0, 8, 0, 8, 0, 8, 0));
    return _mm512_and_si512(sh, _mm512_set1_epi32(0xFF));
}

/* the fp16 scales of the 18-byte types (bytes 0, 18, 36, 54 of each quad's lo window: the
 * windows d16_stride18 loads) */
ALWAYS_INLINE __m512 quad_d16(const quad_windows *w) {
    return d16_windows18(w->lo[0], w->lo[1], w->lo[2], w->lo[3]);
}

/* lin_terms16 for the nibble types from quad_pack'ed activations qa (the step's 512 bytes at
 * qa + 32 b) */
ALWAYS_INLINE __m512 quad_terms16(const uint8_t *x, const int kind, int64_t b, const int n,
                                  const uint8_t *qa, const float *dy, const int32_t *nc,
                                  const bool vbmi) {
    const uint8_t *xb = x + (size_t)b * lin_block_size(kind), *a = qa + 32 * b;
    const quad_windows w = load_quads(xb, kind, n);
    __m512i v[4];
#pragma GCC unroll 4
    for (int j = 0; j < 4; j++)
        v[j] = quad_dot(quad_nibbles(xb, kind, j, n, &w, vbmi), kind, a + 128 * j, vbmi);
    const __mmask16 m = n == 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1);
    const __m512i is =
        _mm512_add_epi32(quad_sums16(v[0], v[1], v[2], v[3], vbmi), _mm512_maskz_loadu_epi32(m, nc + b));
    const __m512 dyb = _mm512_maskz_loadu_ps(m, dy + b);
    const __m512 dd = kind == LIN_MXFP4 ? mul_e8m0_half16(dyb, quad_e16(&w, vbmi))
                                        : _mm512_mul_ps(quad_d16(&w), dyb);
    return _mm512_mul_ps(_mm512_cvtepi32_ps(is), dd);
}

/* Rows of the given kind against n_tok linearly packed tokens: per group of four rows, every
 * token in turn (the group's rows, a few KB, stay in L1 after the first). The last group of a
 * count that is not a multiple of four repeats its last row in the missing slots (computed,
 * not stored). */
ALWAYS_INLINE void gemvn_lin4(const int kind, int64_t n_in, int n_rows, int n_tok, float *y,
                              int64_t ldy, const void *w, size_t w_row, const uint8_t *lin,
                              const uint8_t *quad, const bool vbmi) {
    const int64_t nb = n_in / QK8_0, nb16 = nb & ~(int64_t)15;
    const size_t tstride = (size_t)nb * TENSOR_GEMV_PACK32, qstride = (size_t)(nb16 + 16) * 32;
    for (int r = 0; r < n_rows; r += 4) {
        const uint8_t *x[4];
        group_rows(w, w_row, r, n_rows, x);
        /* the stream ahead, prefetched across this group's first token's steps */
        group_prefetch g = group_prefetch_init(w, w_row, r, n_rows, (nb + 15) / 16);
        for (int t = 0; t < n_tok; t++) {
            const uint8_t *qs = lin + (size_t)t * tstride;
            const float *dy = (const float *)(const void *)(qs + 32 * nb);
            const int32_t *nc = (const int32_t *)(dy + nb);
            /* quad: the nibble types' quad_pack'ed activations in place of qs */
            const uint8_t *qa = quad ? quad + (size_t)t * qstride : NULL;
#define TERMS_(K, B, N)                                                                            \
    (quad ? quad_terms16(x[K], kind, B, N, qa, dy, nc, vbmi)                               \
          : lin_terms16(x[K], kind, B, N, qs, dy, nc))
            __m128 s = _mm_setzero_ps(); /* lane k: row r + k's running sum */
            for (int64_t b = 0; b < nb16; b += 16) {
                pf_step(&g);
                s = add_terms_4x16(s, TERMS_(0, b, 16), TERMS_(1, b, 16), TERMS_(2, b, 16),
                                   TERMS_(3, b, 16), 16);
            }
            if (nb16 < nb) {
                pf_rest(&g);
                /* n as a constant in each case, so the pair loop and the masks are unrolled */
#define TAIL_(N)                                                                                   \
    case N:                                                                                        \
        s = add_terms_4x16(s, TERMS_(0, nb16, N), TERMS_(1, nb16, N), TERMS_(2, nb16, N),          \
                           TERMS_(3, nb16, N), N);                                                 \
        break;
                switch ((int)(nb - nb16)) {
                    TAIL_(1) TAIL_(2) TAIL_(3) TAIL_(4) TAIL_(5) TAIL_(6) TAIL_(7) TAIL_(8)
                    TAIL_(9) TAIL_(10) TAIL_(11) TAIL_(12) TAIL_(13) TAIL_(14) default: TAIL_(15)
                }
#undef TAIL_
#undef TERMS_
            }
            float sum[4];
            _mm_storeu_ps(sum, s);
            for (int k = 0; k < 4 && r + k < n_rows; k++)
                y[(int64_t)t * ldy + r + k] = sum[k];
        }
    }
}

/* The nibble types through quad_terms16: each token's activations quad_pack'ed into this
 * thread's buffer first (a 64 KiB buffer: up to 4 tokens of 8192 inputs, 1 of 32768; longer
 * rows keep the two-blocks-per-vector form) */
ALWAYS_INLINE void gemvn_nib4(const int kind, int64_t n_in, int n_rows, int n_tok, float *y,
                              int64_t ldy, const void *w, size_t w_row, const uint8_t *lin,
                              const bool vbmi) {
    static _Thread_local _Alignas(64) uint8_t quad_buf[1 << 16];
    const int64_t nb = n_in / QK8_0;
    const size_t qstride = (size_t)((nb & ~(int64_t)15) + 16) * 32;
    if (qstride * (size_t)n_tok > sizeof quad_buf) {
        gemvn_lin4(kind, n_in, n_rows, n_tok, y, ldy, w, w_row, lin, NULL, false);
        return;
    }
    for (int t = 0; t < n_tok; t++)
        quad_pack(lin + (size_t)t * (size_t)nb * TENSOR_GEMV_PACK32, nb, quad_buf + t * qstride, vbmi);
    gemvn_lin4(kind, n_in, n_rows, n_tok, y, ldy, w, w_row, lin, quad_buf, vbmi);
}

ALWAYS_INLINE void gemvn_q4_0(int64_t n_in, int n_rows, int n_tok, float *y, int64_t ldy,
                              const void *w, size_t w_row, const void *act, const bool vbmi) {
    /* one token (plain generation): four rows at a time, each one sequential stream (16 rows
     * side by side were ~25% slower from DRAM: hearth bench tg); HEARTH_GEMV_LANES=0: the
     * row-wise form for every batch size, one token included (for comparisons) */
    if (!gemvn_lanes())
        gemvn_q32(n_in, n_rows, n_tok, y, ldy, w, w_row, act, 0);
    else if (n_tok == 1)
        gemvn_nib4(LIN_Q4_0, n_in, n_rows, 1, y, ldy, w, w_row, act, vbmi);
    else
        gemvn_q32_rows(n_in, n_rows, n_tok, y, ldy, w, w_row, act, 0);
}

void tensor_avx512_gemvn_q4_0(int64_t n_in, int n_rows, int n_tok, float *y, int64_t ldy,
                              const void *w, size_t w_row, const void *act, size_t act_row) {
    (void)act_row;
    gemvn_q4_0(n_in, n_rows, n_tok, y, ldy, w, w_row, act, false);
}

void tensor_avx512_gemvn_q4_0_vbmi(int64_t n_in, int n_rows, int n_tok, float *y, int64_t ldy,
                                   const void *w, size_t w_row, const void *act, size_t act_row) {
    (void)act_row;
    gemvn_q4_0(n_in, n_rows, n_tok, y, ldy, w, w_row, act, true);
}

void tensor_avx512_gemvn_q8_0(int64_t n_in, int n_rows, int n_tok, float *y, int64_t ldy,
                              const void *w, size_t w_row, const void *act, size_t act_row) {
    (void)act_row;
    /* one token (plain generation): four rows at a time, each one sequential stream (16 rows
     * side by side were ~25% slower from DRAM: hearth bench tg); HEARTH_GEMV_LANES=0: the
     * row-wise form */
    if (n_tok == 1 && gemvn_lanes())
        gemvn_lin4(LIN_Q8_0, n_in, n_rows, 1, y, ldy, w, w_row, act, NULL, false);
    else if (n_tok == 1)
        gemvn_q32(n_in, n_rows, 1, y, ldy, w, w_row, act, 1);
    else if (gemvn_lanes())
        gemvn_q32_rows(n_in, n_rows, n_tok, y, ldy, w, w_row, act, 1);
    else
        gemvn_q32(n_in, n_rows, n_tok, y, ldy, w, w_row, act, 1);
}

/* MXFP4 / IQ4_NL rows against a few linearly packed tokens (gemvn_lin4: every token's sums in
 * the reference's order); the _vbmi forms where dispatch.c found AVX512-VBMI */
#define GEMVN_NIB_(NAME, KIND, VBMI)                                                                \
    void NAME(int64_t n_in, int n_rows, int n_tok, float *y, int64_t ldy, const void *w,          \
              size_t w_row, const void *act, size_t act_row) {                                     \
        (void)act_row;                                                                             \
        gemvn_nib4(KIND, n_in, n_rows, n_tok, y, ldy, w, w_row, act, VBMI);                        \
    }
GEMVN_NIB_(tensor_avx512_gemvn_mxfp4, LIN_MXFP4, false)
GEMVN_NIB_(tensor_avx512_gemvn_mxfp4_vbmi, LIN_MXFP4, true)
GEMVN_NIB_(tensor_avx512_gemvn_iq4_nl, LIN_IQ4_NL, false)
GEMVN_NIB_(tensor_avx512_gemvn_iq4_nl_vbmi, LIN_IQ4_NL, true)
#undef GEMVN_NIB_

/* lane k: the sum of the 16 int32 lanes of a[k] */
static inline __m128i hsum4x16_i32(__m512i a0, __m512i a1, __m512i a2, __m512i a3) {
    const __m512i t0 = _mm512_add_epi32(_mm512_unpacklo_epi32(a0, a1), _mm512_unpackhi_epi32(a0, a1));
    const __m512i t1 = _mm512_add_epi32(_mm512_unpacklo_epi32(a2, a3), _mm512_unpackhi_epi32(a2, a3));
    /* per 128-bit lane: partials of rows 0, 1, 2, 3 */
    const __m512i u = _mm512_add_epi32(_mm512_unpacklo_epi64(t0, t1), _mm512_unpackhi_epi64(t0, t1));
    const __m256i v = _mm256_add_epi32(_mm512_castsi512_si256(u), _mm512_extracti64x4_epi64(u, 1));
    return _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
}

/* lane k: the sum of the 8 int32 lanes of a[k] */
static inline __m128i hsum4x8_i32(__m256i a0, __m256i a1, __m256i a2, __m256i a3) {
    const __m256i t0 = _mm256_add_epi32(_mm256_unpacklo_epi32(a0, a1), _mm256_unpackhi_epi32(a0, a1));
    const __m256i t1 = _mm256_add_epi32(_mm256_unpacklo_epi32(a2, a3), _mm256_unpackhi_epi32(a2, a3));
    const __m256i u = _mm256_add_epi32(_mm256_unpacklo_epi64(t0, t1), _mm256_unpackhi_epi64(t0, t1));
    return _mm_add_epi32(_mm256_castsi256_si128(u), _mm256_extracti128_si256(u, 1));
}

/* The d, dmin, scales and mins of four Q4_K super-blocks, one per row, decoded side by side:
 * lane k of v holds the first 16 bytes of row k's block (d, dmin, the 12 packed scale bytes
 * a|b|c as tensor_k4_scale_min reads them). Returns per lane the 8 mins (bytes 0-7) and the 8
 * scales (bytes 8-15), and the four rows' d and dmin as halves in one vector (words 0-3, 4-7).
 * The same bits as k4_scales_mins per row, in ~12 vector ops for four rows where the scalar
 * unpacking took ~25 scalar ops and four GPR-to-vector inserts per row. */
static inline __m512i k4_scales_mins4(const block_q4_K *x0, const block_q4_K *x1,
                                      const block_q4_K *x2, const block_q4_K *x3, __m128i *d_dmin) {
    __m512i v = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)(const void *)x0));
    v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(const void *)x1), 1);
    v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(const void *)x2), 2);
    v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(const void *)x3), 3);
    /* per lane, dword 1 (a): sc_lo, sc_hi's top bits; dword 2 (b): m_lo, m_hi's top bits */
    const __m512i lo6 = _mm512_and_si512(v, _mm512_set1_epi8(0x3F));
    const __m512i top = _mm512_and_si512(_mm512_srli_epi32(v, 2), _mm512_set1_epi8(0x30));
    /* c's low nibbles into dword 1, its high nibbles into dword 2 */
    const __m512i cn = _mm512_and_si512(
        _mm512_srlv_epi32(_mm512_shuffle_epi32(v, (_MM_PERM_ENUM)0xFF),
                          _mm512_set_epi32(0, 4, 0, 0, 0, 4, 0, 0, 0, 4, 0, 0, 0, 4, 0, 0)),
        _mm512_set1_epi8(0x0F));
    const __m512i hi6 = _mm512_or_si512(top, cn); /* dword 1: sc_hi, dword 2: m_hi */
    /* qword 0: m_lo m_hi (from unpackhi's dwords 2), qword 1: sc_lo sc_hi (unpacklo's dwords 1) */
    const __m512i ms = _mm512_mask_blend_epi64(0xAA, _mm512_unpackhi_epi32(lo6, hi6),
                                               _mm512_unpacklo_epi32(lo6, hi6));
    const __m512i dd_idx = _mm512_castsi128_si512(_mm_setr_epi16(0, 8, 16, 24, 1, 9, 17, 25));
    *d_dmin = _mm512_castsi512_si128(_mm512_permutexvar_epi16(dd_idx, v));
    return ms;
}

/* One token, Q4_K, four rows at a time (as gemvn_lin4 for the 32-element types): per
 * super-block the four rows' scales and mins decoded together (k4_scales_mins4), each row's
 * levels and integer sums as the row-wise kernel forms them, the four rows' horizontal sums in
 * one transpose-and-add (hsum4x16_i32) and their min terms in one multiply-add against the
 * super-block's pair sums of bsums; then the float terms (float)isum * (dx * dy) - (float)imin *
 * (dmin * dy) lane-wise, added to each row's own running sum in super-block order: bit-identical
 * to the reference. The stream is prefetched PF_AHEAD bytes ahead. The last group repeats its
 * last row in the missing slots (computed, not stored). Scales decoded per row in scalar code
 * instead: tools/gemv1.c from cache ~29.6 / 27.6 GB/s where skipping the decode altogether
 * gave 38.3 / 35.5 (768x2048, 2048x768). */
static void gemvn_q4_K_1tok(int64_t n_in, int n_rows, float *y, const void *w, size_t w_row,
                            const block_q8_K *yt) {
    const int64_t ns = n_in / QK_K;
    /* lane k of k4_scales_mins4's bytes: the 8 scales, the 8 mins zero-extended to words */
    const __m512i sc_words = _mm512_broadcast_i32x4(
        _mm_setr_epi8(8, -1, 9, -1, 10, -1, 11, -1, 12, -1, 13, -1, 14, -1, 15, -1));
    const __m512i m_words = _mm512_broadcast_i32x4(
        _mm_setr_epi8(0, -1, 1, -1, 2, -1, 3, -1, 4, -1, 5, -1, 6, -1, 7, -1));
    /* row k's scale words are words 8k..8k+7 of the widened scales */
    __m512i quad_idx[4];
    for (int k = 0; k < 4; k++)
        quad_idx[k] = k4_quads_idx(8 * k);
    for (int r = 0; r < n_rows; r += 4) {
        const uint8_t *rows[4];
        group_rows(w, w_row, r, n_rows, rows);
        const block_q4_K *x[4];
        for (int k = 0; k < 4; k++)
            x[k] = (const block_q4_K *)(const void *)rows[k];
        group_prefetch g = group_prefetch_init(w, w_row, r, n_rows, ns);
        __m128 s = _mm_setzero_ps(); /* lane k: row r + k's running sum */
        for (int64_t b = 0; b < ns; b++) {
            pf_step(&g);
            __m128i d_dmin;
            const __m512i ms = k4_scales_mins4(&x[0][b], &x[1][b], &x[2][b], &x[3][b], &d_dmin);
            const __m512i scw = _mm512_shuffle_epi8(ms, sc_words);
            __m512i acc[4];
#pragma GCC unroll 4
            for (int k = 0; k < 4; k++) {
                const __m512i sq = _mm512_permutexvar_epi16(quad_idx[k], scw);
                acc[k] = _mm512_setzero_si512();
#pragma GCC unroll 4
                for (int c = 0; c < 4; c++)
                    acc[k] = _mm512_dpwssd_epi32(
                        acc[k],
                        _mm512_maddubs_epi16(k4_chunk(x[k][b].qs + 32 * c),
                                             _mm512_loadu_si512((const void *)(yt[b].qs + 64 * c))),
                        k4_chunk_scales(sq, c));
            }
            /* min terms: sum_j m_j * (bsums[2j] + bsums[2j+1]); a pair sum of 32 int8 fits int16 */
            const __m256i bs = _mm256_loadu_si256((const __m256i *)yt[b].bsums);
            const __m512i bpair = _mm512_broadcast_i32x4(
                _mm256_cvtepi32_epi16(_mm256_madd_epi16(bs, _mm256_set1_epi16(1))));
            __m512i mn = _mm512_madd_epi16(_mm512_shuffle_epi8(ms, m_words), bpair);
            mn = _mm512_add_epi32(mn, _mm512_shuffle_epi32(mn, (_MM_PERM_ENUM)0x4E));
            mn = _mm512_add_epi32(mn, _mm512_shuffle_epi32(mn, (_MM_PERM_ENUM)0xB1));
            const __m128i imn = _mm512_castsi512_si128(_mm512_permutexvar_epi32(
                _mm512_castsi128_si512(_mm_setr_epi32(0, 4, 8, 12)), mn));
            const __m128 isum = _mm_cvtepi32_ps(hsum4x16_i32(acc[0], acc[1], acc[2], acc[3]));
            const __m128 imin = _mm_cvtepi32_ps(imn);
            const __m128 dx = _mm_cvtph_ps(d_dmin);
            const __m128 dm = _mm_cvtph_ps(_mm_srli_si128(d_dmin, 8));
            const __m128 dy = _mm_set1_ps(yt[b].d);
            const __m128 t1 = _mm_mul_ps(isum, _mm_mul_ps(dx, dy));
            const __m128 t2 = _mm_mul_ps(imin, _mm_mul_ps(dm, dy));
            s = _mm_add_ps(s, _mm_sub_ps(t1, t2));
        }
        float sum[4];
        _mm_storeu_ps(sum, s);
        for (int k = 0; k < 4 && r + k < n_rows; k++)
            y[r + k] = sum[k];
    }
}

/* Q4_K rows against Q8_K token rows (act_row bytes apart): per super-block the 4 level chunks,
 * their scale vectors and the min words are built once; per token the tensor_avx512_dot_q4_K_q8_K
 * steps from the loads of the activations on. */
void tensor_avx512_gemvn_q4_K(int64_t n_in, int n_rows, int n_tok, float *y, int64_t ldy,
                              const void *w, size_t w_row, const void *act, size_t act_row) {
    if (n_tok == 1 && gemvn_lanes()) {
        gemvn_q4_K_1tok(n_in, n_rows, y, w, w_row, act);
        return;
    }
    const int64_t ns = n_in / QK_K;
    for (int r = 0; r < n_rows; r++) {
        const block_q4_K *x = (const block_q4_K *)(const void *)((const uint8_t *)w + (size_t)r * w_row);
        for (int t0 = 0; t0 < n_tok; t0 += GEMVN_T) {
            const int nt = n_tok - t0 < GEMVN_T ? n_tok - t0 : GEMVN_T;
            const uint8_t *a0 = (const uint8_t *)act + (size_t)t0 * act_row;
            float sumf[GEMVN_T] = {0};
            for (int64_t b = 0; b < ns; b++) {
                __m128i sc8, m8;
                k4_scales_mins(x[b].scales, &sc8, &m8);
                const __m512i scw = _mm512_castsi256_si512(_mm256_cvtepu8_epi16(sc8));
                const __m256i mw = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(m8, m8));
                __m512i q[4], scv[4];
#pragma GCC unroll 4
                for (int c = 0; c < 4; c++) {
                    q[c] = k4_chunk(x[b].qs + 32 * c);
                    scv[c] = _mm512_permutexvar_epi16(spread2(2 * c, 2 * c + 1), scw);
                }
                const float dx = h2f(x[b].d), dm = h2f(x[b].dmin);
                for (int t = 0; t < nt; t++) {
                    const block_q8_K *yb =
                        (const block_q8_K *)(const void *)(a0 + (size_t)t * act_row) + b;
                    __m512i acc = _mm512_setzero_si512();
#pragma GCC unroll 4
                    for (int c = 0; c < 4; c++)
                        acc = _mm512_dpwssd_epi32(
                            acc,
                            _mm512_maddubs_epi16(q[c], _mm512_loadu_si512((const void *)(yb->qs + 64 * c))),
                            scv[c]);
                    const int isum = hsum16_i32(acc);
                    const int imin = hsum8_i32(
                        _mm256_madd_epi16(mw, _mm256_loadu_si256((const __m256i *)yb->bsums)));
                    const float t1 = (float)isum * (dx * yb->d);
                    const float t2 = (float)imin * (dm * yb->d);
                    const float tb = t1 - t2;
                    sumf[t] += tb;
                }
            }
            for (int t = 0; t < nt; t++)
                y[(int64_t)(t0 + t) * ldy + r] = sumf[t];
        }
    }
}

/* One token, Q6_K, four rows at a time: as gemvn_q4_K_1tok (the row-wise kernel's levels and
 * integer sums per row, the four rows' horizontal sums together, float terms lane-wise). */
static void gemvn_q6_K_1tok(int64_t n_in, int n_rows, float *y, const void *w, size_t w_row,
                            const block_q8_K *yt) {
    const int64_t ns = n_in / QK_K;
    const __m512i m4 = _mm512_set1_epi8(0x0F), m30 = _mm512_set1_epi8(0x30);
    for (int r = 0; r < n_rows; r += 4) {
        const uint8_t *rows[4];
        group_rows(w, w_row, r, n_rows, rows);
        const block_q6_K *x[4];
        for (int k = 0; k < 4; k++)
            x[k] = (const block_q6_K *)(const void *)rows[k];
        group_prefetch g = group_prefetch_init(w, w_row, r, n_rows, ns);
        __m128 s = _mm_setzero_ps(); /* lane k: row r + k's running sum */
        for (int64_t b = 0; b < ns; b++) {
            pf_step(&g);
            const __m256i bs = _mm256_loadu_si256((const __m256i *)yt[b].bsums);
            __m512i acc[4];
            __m256i off[4];
            uint16_t dh[4];
#pragma GCC unroll 4
            for (int k = 0; k < 4; k++) {
                const block_q6_K *xb = &x[k][b];
                const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)xb->scales));
                const __m512i scw = _mm512_castsi256_si512(sc16);
                acc[k] = _mm512_setzero_si512();
#pragma GCC unroll 2
                for (int h = 0; h < 2; h++) {
                    const __m512i ql = _mm512_loadu_si512((const void *)(xb->ql + 64 * h));
                    const __m512i qh = _mm512_broadcast_i64x4(
                        _mm256_loadu_si256((const __m256i *)(xb->qh + 32 * h)));
                    const __m512i q0 = _mm512_or_si512(
                        _mm512_and_si512(ql, m4),
                        _mm512_and_si512(
                            _mm512_sllv_epi64(qh, _mm512_set_epi64(2, 2, 2, 2, 4, 4, 4, 4)), m30));
                    const __m512i q1 = _mm512_or_si512(
                        _mm512_and_si512(_mm512_srli_epi16(ql, 4), m4),
                        _mm512_and_si512(
                            _mm512_srlv_epi64(qh, _mm512_set_epi64(2, 2, 2, 2, 0, 0, 0, 0)), m30));
                    acc[k] = _mm512_dpwssd_epi32(
                        acc[k],
                        _mm512_maddubs_epi16(q0, _mm512_loadu_si512((const void *)(yt[b].qs + 128 * h))),
                        _mm512_permutexvar_epi16(spread4(8 * h), scw));
                    acc[k] = _mm512_dpwssd_epi32(
                        acc[k],
                        _mm512_maddubs_epi16(q1, _mm512_loadu_si512((const void *)(yt[b].qs + 128 * h + 64))),
                        _mm512_permutexvar_epi16(spread4(8 * h + 4), scw));
                }
                off[k] = _mm256_madd_epi16(sc16, bs);
                dh[k] = xb->d;
            }
            const __m128i is = _mm_sub_epi32(hsum4x16_i32(acc[0], acc[1], acc[2], acc[3]),
                                             _mm_slli_epi32(hsum4x8_i32(off[0], off[1], off[2], off[3]), 5));
            uint64_t d64;
            memcpy(&d64, dh, 8);
            const __m128 dx = _mm_cvtph_ps(_mm_cvtsi64_si128((long long)d64));
            s = _mm_add_ps(s, _mm_mul_ps(_mm_cvtepi32_ps(is), _mm_mul_ps(dx, _mm_set1_ps(yt[b].d))));
        }
        float sum[4];
        _mm_storeu_ps(sum, s);
        for (int k = 0; k < 4 && r + k < n_rows; k++)
            y[r + k] = sum[k];
    }
}

/* Q6_K rows against Q8_K token rows: the levels of both halves, their scale vectors and the
 * int16 scales are built once per super-block; per token as tensor_avx512_dot_q6_K_q8_K. */
void tensor_avx512_gemvn_q6_K(int64_t n_in, int n_rows, int n_tok, float *y, int64_t ldy,
                              const void *w, size_t w_row, const void *act, size_t act_row) {
    if (n_tok == 1 && gemvn_lanes()) {
        gemvn_q6_K_1tok(n_in, n_rows, y, w, w_row, act);
        return;
    }
    const int64_t ns = n_in / QK_K;
    const __m512i m4 = _mm512_set1_epi8(0x0F), m30 = _mm512_set1_epi8(0x30);
    for (int r = 0; r < n_rows; r++) {
        const block_q6_K *x = (const block_q6_K *)(const void *)((const uint8_t *)w + (size_t)r * w_row);
        for (int t0 = 0; t0 < n_tok; t0 += GEMVN_T) {
            const int nt = n_tok - t0 < GEMVN_T ? n_tok - t0 : GEMVN_T;
            const uint8_t *a0 = (const uint8_t *)act + (size_t)t0 * act_row;
            float sumf[GEMVN_T] = {0};
            for (int64_t b = 0; b < ns; b++) {
                const __m256i sc16 =
                    _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)x[b].scales));
                const __m512i scw = _mm512_castsi256_si512(sc16);
                __m512i q[4], sv[4];
#pragma GCC unroll 2
                for (int h = 0; h < 2; h++) {
                    const __m512i ql = _mm512_loadu_si512((const void *)(x[b].ql + 64 * h));
                    const __m512i qh = _mm512_broadcast_i64x4(
                        _mm256_loadu_si256((const __m256i *)(x[b].qh + 32 * h)));
                    q[2 * h] = _mm512_or_si512(
                        _mm512_and_si512(ql, m4),
                        _mm512_and_si512(
                            _mm512_sllv_epi64(qh, _mm512_set_epi64(2, 2, 2, 2, 4, 4, 4, 4)), m30));
                    q[2 * h + 1] = _mm512_or_si512(
                        _mm512_and_si512(_mm512_srli_epi16(ql, 4), m4),
                        _mm512_and_si512(
                            _mm512_srlv_epi64(qh, _mm512_set_epi64(2, 2, 2, 2, 0, 0, 0, 0)), m30));
                    sv[2 * h] = _mm512_permutexvar_epi16(spread4(8 * h), scw);
                    sv[2 * h + 1] = _mm512_permutexvar_epi16(spread4(8 * h + 4), scw);
                }
                const float dx = h2f(x[b].d);
                for (int t = 0; t < nt; t++) {
                    const block_q8_K *yb =
                        (const block_q8_K *)(const void *)(a0 + (size_t)t * act_row) + b;
                    __m512i acc = _mm512_setzero_si512();
#pragma GCC unroll 4
                    for (int c = 0; c < 4; c++)
                        acc = _mm512_dpwssd_epi32(
                            acc,
                            _mm512_maddubs_epi16(q[c], _mm512_loadu_si512((const void *)(yb->qs + 64 * c))),
                            sv[c]);
                    const __m256i off =
                        _mm256_madd_epi16(sc16, _mm256_loadu_si256((const __m256i *)yb->bsums));
                    const int isum = hsum16_i32(acc) - 32 * hsum8_i32(off);
                    const float tb = (float)isum * (dx * yb->d);
                    sumf[t] += tb;
                }
            }
            for (int t = 0; t < nt; t++)
                y[(int64_t)(t0 + t) * ldy + r] = sumf[t];
        }
    }
}

/* ---- Non-linear, ternary and microscaling formats (references: quant_nl.c) ---- */

/* int32 partials of 64 signed weight bytes against 64 activations: the sign moves onto y
 * (weights are table levels in -127..127, activations in -127..127). */
static inline __m512i dot_signed64(__m512i w, __m512i qy) {
    const __mmask64 neg = _mm512_movepi8_mask(w);
    const __m512i sy = _mm512_mask_sub_epi8(qy, neg, _mm512_setzero_si512(), qy);
    return _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_abs_epi8(w), sy);
}

/* Two 16-byte nibble fields a and b -> their 64 nibbles in element order
 * [lo(a) | hi(a) | lo(b) | hi(b)] (as q4_0_pair). */
static inline __m512i nibbles_pair(const uint8_t *a, const uint8_t *b) {
    const __m512i z =
        _mm512_mask_blend_epi64(0xF0, _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)a)),
                                _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)b)));
    const __m512i sh = _mm512_srlv_epi64(z, _mm512_set_epi64(4, 4, 0, 0, 4, 4, 0, 0));
    return _mm512_and_si512(sh, _mm512_set1_epi8(0x0F));
}

/* one 32-element table block against Q8_0, 256-bit (row tails) */
static inline int lut_block_dot(const uint8_t *qs, const int8_t *levels, const block_q8_0 *y) {
    const __m128i raw = _mm_loadu_si128((const __m128i *)qs);
    const __m256i q =
        _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(raw, 4), raw), _mm256_set1_epi8(0x0F));
    const __m256i w = _mm256_shuffle_epi8(
        _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)levels)), q);
    const __m256i qy = _mm256_loadu_si256((const __m256i *)y->qs);
    return hsum8_i32(_mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_sign_epi8(w, w),
                                         _mm256_sign_epi8(qy, w)));
}

static inline __m512i iq4_nl_pair_dot(const block_iq4_nl *x, const block_q8_0 *y) {
    const __m512i w =
        _mm512_shuffle_epi8(lut512(tensor_iq4nl_values), nibbles_pair(x[0].qs, x[1].qs));
    return dot_signed64(w, load_2x256(y[0].qs, y[1].qs));
}

static inline int iq4_nl_block_dot(const block_iq4_nl *x, const block_q8_0 *y) {
    return lut_block_dot(x->qs, tensor_iq4nl_values, y);
}

static_assert(sizeof(block_iq4_nl) == 18, "load_d16 stride");

/* IQ4_NL . Q8_0 (n,) -> *s; see tensor_ref_dot_iq4_nl_q8_0 (Q4_0's 16-block steps) */
void tensor_avx512_dot_iq4_nl_q8_0(int64_t n, float *s, const void *vx, const void *vy) {
    const block_iq4_nl *x = vx;
    const block_q8_0 *y = vy;
    DOT_Q8_0_ROW(iq4_nl_pair_dot, iq4_nl_block_dot, x, y, n / QK4_NL, s);
}

static inline __m512i mxfp4_pair_dot(const block_mxfp4 *x, const block_q8_0 *y) {
    const __m512i w =
        _mm512_shuffle_epi8(lut512(tensor_mxfp4_values), nibbles_pair(x[0].qs, x[1].qs));
    return dot_signed64(w, load_2x256(y[0].qs, y[1].qs));
}

/* The 16 terms (float)isum_b * (2^(e_b-128) * dy_b) of blocks b..b+15, as the reference forms
 * them (their in-order sum is the caller's). */
static inline __m512 mxfp4_terms16(const block_mxfp4 *x, const block_q8_0 *y) {
    const __m512i v[8] = {mxfp4_pair_dot(&x[0], &y[0]),   mxfp4_pair_dot(&x[2], &y[2]),
                          mxfp4_pair_dot(&x[4], &y[4]),   mxfp4_pair_dot(&x[6], &y[6]),
                          mxfp4_pair_dot(&x[8], &y[8]),   mxfp4_pair_dot(&x[10], &y[10]),
                          mxfp4_pair_dot(&x[12], &y[12]), mxfp4_pair_dot(&x[14], &y[14])};
    const __m512 is = _mm512_cvtepi32_ps(reduce_16_blocks(v));
    /* the 16 exponent bytes, 17 bytes apart (on Zen 5 a 16-lane vpgatherdd cost ~20% of the
     * whole dot, byte loads through a buffer ~25%: bench_kernels mxfp4, tools/gemv1.c) */
    return _mm512_mul_ps(is, mul_e8m0_half16(d16_stride34(&y[0].d), e16_stride17(&x[0].e, 16)));
}

static inline float mxfp4_block_term(const block_mxfp4 *x, const block_q8_0 *y) {
    const int isum = lut_block_dot(x->qs, tensor_mxfp4_values, y);
    return (float)isum * (tensor_e8m0_half(x->e) * h2f(y->d));
}

/* MXFP4 . Q8_0 (n,) -> *s; see tensor_ref_dot_mxfp4_q8_0. DOT_Q8_0_ROW's 16-block steps with
 * the scales 2^(e-128) in place of fp16 d. */
void tensor_avx512_dot_mxfp4_q8_0(int64_t n, float *s, const void *vx, const void *vy) {
    const block_mxfp4 *x = vx;
    const block_q8_0 *y = vy;
    const int64_t nb = n / QK_MXFP4;
    float sumf = 0.0f;
    int64_t b = 0;
    for (; b + 16 <= nb; b += 16)
        sumf = add_in_order16(sumf, mxfp4_terms16(&x[b], &y[b]));
    for (; b < nb; b++)
        sumf += mxfp4_block_term(&x[b], &y[b]);
    *s = sumf;
}

/* The 8 sub-block scales ls - 32 (-32..31) of an IQ4_XS super-block as int16 lanes 0..7:
 * low 4 bits from scales_l (low nibble first), high 2 bits from scales_h (2 per sub-block),
 * all 8 at once with variable 16-bit shifts (one 64-bit load: d, scales_h, scales_l). */
static inline __m128i iq4_xs_scales16(const block_iq4_xs *x) {
    static_assert(offsetof(block_iq4_xs, scales_h) == 2 && offsetof(block_iq4_xs, scales_l) == 4,
                  "one 8-byte load covers the scales");
    uint64_t raw;
    memcpy(&raw, x, 8);
    const __m128i v = _mm_cvtsi64_si128((long long)raw);
    const __m128i lo =
        _mm_and_si128(_mm_srlv_epi16(_mm_shuffle_epi8(v, _mm_setr_epi8(4, -1, 4, -1, 5, -1, 5, -1,
                                                                       6, -1, 6, -1, 7, -1, 7, -1)),
                                     _mm_setr_epi16(0, 4, 0, 4, 0, 4, 0, 4)),
                      _mm_set1_epi16(0x0F));
    const __m128i hi =
        _mm_and_si128(_mm_srlv_epi16(_mm_shuffle_epi8(v, _mm_setr_epi8(2, 3, 2, 3, 2, 3, 2, 3, 2, 3,
                                                                       2, 3, 2, 3, 2, 3)),
                                     _mm_setr_epi16(0, 2, 4, 6, 8, 10, 12, 14)),
                      _mm_set1_epi16(3));
    return _mm_sub_epi16(_mm_or_si128(lo, _mm_slli_epi16(hi, 4)), _mm_set1_epi16(32));
}

/* One IQ4_XS super-block, unpacked: per half h (sub-blocks 4h..4h+3, 64 qs bytes: 128-bit lane k
 * holds sub-block 4h+k's 16 bytes) the levels of the low and the high nibbles, each offset by
 * +128 (1..241: an unsigned vpdpbusd operand), the int32 scale of each lane's sub-block, and the
 * scale words s_0 s_0 s_1 s_1 ... against the 16 Q8_K bsums. */
typedef struct {
    __m512i wlo[2], whi[2], sc[2];
    __m256i sc_pairs;
} iq4xs_unpacked;

static inline void iq4xs_unpack(const block_iq4_xs *x, iq4xs_unpacked *u) {
    const __m512i table =
        _mm512_add_epi8(lut512(tensor_iq4nl_values), _mm512_set1_epi8((char)0x80));
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    const __m128i sc = iq4_xs_scales16(x);
    const __m512i sc32 = _mm512_castsi256_si512(_mm256_cvtepi16_epi32(sc));
    u->sc[0] = _mm512_permutexvar_epi32(
        _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3), sc32);
    u->sc[1] = _mm512_permutexvar_epi32(
        _mm512_setr_epi32(4, 4, 4, 4, 5, 5, 5, 5, 6, 6, 6, 6, 7, 7, 7, 7), sc32);
    u->sc_pairs = _mm256_set_m128i(_mm_unpackhi_epi16(sc, sc), _mm_unpacklo_epi16(sc, sc));
#pragma GCC unroll 2
    for (int h = 0; h < 2; h++) {
        const __m512i q = _mm512_loadu_si512((const void *)(x->qs + 64 * h));
        u->wlo[h] = _mm512_shuffle_epi8(table, _mm512_and_si512(q, m4));
        u->whi[h] = _mm512_shuffle_epi8(table, _mm512_and_si512(_mm512_srli_epi16(q, 4), m4));
    }
}

/* The super-block's exact integer dot with one Q8_K block: the low nibbles meet the
 * activations' first 16 of each sub-block and the high nibbles the last 16 (picked out of two
 * 64-byte loads by vshufi32x4), so lane k of the vpdpbusd sums is sub-block 4h+k's; vpmulld
 * scales them, and the +128 comes back through the bsums: sum s (v + 128) y = sum s v y +
 * 128 sum_j s_j Y_j. Every step is exact in int32 (|terms| < 32 * 241 * 127 * 256 < 2^31). */
static inline int iq4xs_isum(const iq4xs_unpacked *u, const block_q8_K *yb) {
    const __m256i off =
        _mm256_madd_epi16(u->sc_pairs, _mm256_loadu_si256((const __m256i *)yb->bsums));
    __m512i acc =
        _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_slli_epi32(_mm512_zextsi256_si512(off), 7));
#pragma GCC unroll 2
    for (int h = 0; h < 2; h++) {
        const __m512i y0 = _mm512_loadu_si512((const void *)(yb->qs + 128 * h));
        const __m512i y1 = _mm512_loadu_si512((const void *)(yb->qs + 128 * h + 64));
        const __m512i ylo = _mm512_shuffle_i32x4(y0, y1, _MM_SHUFFLE(2, 0, 2, 0));
        const __m512i yhi = _mm512_shuffle_i32x4(y0, y1, _MM_SHUFFLE(3, 1, 3, 1));
        const __m512i d = _mm512_dpbusd_epi32(
            _mm512_dpbusd_epi32(_mm512_setzero_si512(), u->wlo[h], ylo), u->whi[h], yhi);
        acc = _mm512_add_epi32(acc, _mm512_mullo_epi32(d, u->sc[h]));
    }
    return hsum16_i32(acc);
}

/* IQ4_XS . Q8_K (n,) -> *s; see tensor_ref_dot_iq4_xs_q8_K: per super-block the exact isum,
 * then (float)isum * (d * dy) added in order, as the reference. */
void tensor_avx512_dot_iq4_xs_q8_K(int64_t n, float *s, const void *vx, const void *vy) {
    const block_iq4_xs *x = vx;
    const block_q8_K *y = vy;
    float sumf = 0.0f;
    for (int64_t b = 0; b < n / QK_K; b++) {
        iq4xs_unpacked u;
        iq4xs_unpack(&x[b], &u);
        const int isum = iq4xs_isum(&u, &y[b]);
        const float t = (float)isum * (h2f(x[b].d) * y[b].d);
        sumf += t;
    }
    *s = sumf;
}

/* IQ4_XS rows against Q8_K token rows (act_row bytes apart): each super-block unpacked once
 * (iq4xs_unpack) for up to GEMVN_T tokens, then per token tensor_avx512_dot_iq4_xs_q8_K's
 * steps (iq4xs_isum and the same float statements): bit-identical to it. */
void tensor_avx512_gemvn_iq4_xs(int64_t n_in, int n_rows, int n_tok, float *y, int64_t ldy,
                                const void *w, size_t w_row, const void *act, size_t act_row) {
    const int64_t ns = n_in / QK_K;
    for (int r = 0; r < n_rows; r++) {
        const block_iq4_xs *x =
            (const block_iq4_xs *)(const void *)((const uint8_t *)w + (size_t)r * w_row);
        for (int t0 = 0; t0 < n_tok; t0 += GEMVN_T) {
            const int nt = n_tok - t0 < GEMVN_T ? n_tok - t0 : GEMVN_T;
            const uint8_t *a0 = (const uint8_t *)act + (size_t)t0 * act_row;
            float sumf[GEMVN_T] = {0};
            for (int64_t b = 0; b < ns; b++) {
                iq4xs_unpacked u;
                iq4xs_unpack(&x[b], &u);
                const float dx = h2f(x[b].d);
                for (int t = 0; t < nt; t++) {
                    const block_q8_K *yb =
                        (const block_q8_K *)(const void *)(a0 + (size_t)t * act_row) + b;
                    const int isum = iq4xs_isum(&u, yb);
                    const float tb = (float)isum * (dx * yb->d);
                    sumf[t] += tb;
                }
            }
            for (int t = 0; t < nt; t++)
                y[(int64_t)(t0 + t) * ldy + r] = sumf[t];
        }
    }
}

/* TQ2_0 . Q8_K (n,) -> *s; see tensor_ref_dot_tq2_0_q8_K. Shift l of the 64 qs bytes gives
 * elements 32l..32l+31 (bytes 0-31) and 128+32l.. (bytes 32-63); sum (q - 1) y = sum q y -
 * sum y, both by vpdpbusd. */
void tensor_avx512_dot_tq2_0_q8_K(int64_t n, float *s, const void *vx, const void *vy) {
    const block_tq2_0 *x = vx;
    const block_q8_K *y = vy;
    const __m512i three = _mm512_set1_epi8(3), ones = _mm512_set1_epi8(1);
    float sumf = 0.0f;
    for (int64_t b = 0; b < n / QK_K; b++) {
        const __m512i raw = _mm512_loadu_si512((const void *)x[b].qs);
        __m512i acc = _mm512_setzero_si512(), sy = _mm512_setzero_si512();
        for (int l = 0; l < 4; l++) {
            const __m512i q = _mm512_and_si512(_mm512_srli_epi16(raw, 2 * l), three);
            const __m512i qy = load_2x256(y[b].qs + 32 * l, y[b].qs + 128 + 32 * l);
            acc = _mm512_dpbusd_epi32(acc, q, qy);
            sy = _mm512_dpbusd_epi32(sy, ones, qy);
        }
        const int isum = hsum16_i32(_mm512_sub_epi32(acc, sy));
        const float t = (float)isum * (h2f(x[b].d) * y[b].d);
        sumf += t;
    }
    *s = sumf;
}

/* 32 TQ1_0 trits minus one (int16) of the bytes (widened) times mult (3^k per lane) mod 256,
 * dotted with 32 activations: int32 partials */
static inline __m512i tq1_dot32(__m256i bytes, __m512i mult, const int8_t *qy) {
    const __m512i q = _mm512_and_si512(_mm512_mullo_epi16(_mm512_cvtepu8_epi16(bytes), mult),
                                       _mm512_set1_epi16(0xFF));
    const __m512i t = _mm512_sub_epi16(
        _mm512_srli_epi16(_mm512_mullo_epi16(q, _mm512_set1_epi16(3)), 8), _mm512_set1_epi16(1));
    const __m512i y16 = _mm512_cvtepi8_epi16(_mm256_loadu_si256((const __m256i *)qy));
    return _mm512_madd_epi16(t, y16);
}

/* TQ1_0 . Q8_K (n,) -> *s; see tensor_ref_dot_tq1_0_q8_K (element order: blocks.h). Vectors of
 * 32 trits: qs[0..31] once per k (elements 32k..); qs[32..47] twice with 3^k | 3^(k+1)
 * (elements 160+16k.., contiguous over the two); qs[32..47] * 81 with the 16 qh trits
 * (elements 224..255). */
void tensor_avx512_dot_tq1_0_q8_K(int64_t n, float *s, const void *vx, const void *vy) {
    const block_tq1_0 *x = vx;
    const block_q8_K *y = vy;
    static const short pow3[5] = {1, 3, 9, 27, 81};
    const __m512i m01 = _mm512_inserti64x4(_mm512_set1_epi16(1), _mm256_set1_epi16(3), 1);
    const __m512i m23 = _mm512_inserti64x4(_mm512_set1_epi16(9), _mm256_set1_epi16(27), 1);
    const __m512i m4h = _mm512_inserti64x4(
        _mm512_set1_epi16(81),
        _mm256_setr_epi16(1, 1, 1, 1, 3, 3, 3, 3, 9, 9, 9, 9, 27, 27, 27, 27), 1);
    float sumf = 0.0f;
    for (int64_t b = 0; b < n / QK_K; b++) {
        const int8_t *qy = y[b].qs;
        const __m256i head = _mm256_loadu_si256((const __m256i *)x[b].qs);
        const __m128i tail = _mm_loadu_si128((const __m128i *)(x[b].qs + 32));
        uint32_t qh;
        memcpy(&qh, x[b].qh, 4);
        const __m256i tail2 = _mm256_set_m128i(tail, tail);
        const __m256i tail_qh = _mm256_set_m128i(_mm_set1_epi32((int)qh), tail);
        __m512i acc = _mm512_setzero_si512();
        for (int k = 0; k < 5; k++)
            acc = _mm512_add_epi32(acc, tq1_dot32(head, _mm512_set1_epi16(pow3[k]), qy + 32 * k));
        acc = _mm512_add_epi32(acc, tq1_dot32(tail2, m01, qy + 160));
        acc = _mm512_add_epi32(acc, tq1_dot32(tail2, m23, qy + 192));
        acc = _mm512_add_epi32(acc, tq1_dot32(tail_qh, m4h, qy + 224));
        const int isum = hsum16_i32(acc);
        const float t = (float)isum * (h2f(x[b].d) * y[b].d);
        sumf += t;
    }
    *s = sumf;
}

/* IQ3_S . Q8_K (n,) -> *s; see tensor_ref_dot_iq3_s_q8_K. Two sub-blocks per vector: 16
 * codebook points by one vpgatherdd, the 64 sign bits as a byte mask negating the activations,
 * vpmaddubsw (at most 2 * 15 * 127 per pair), vpdpwssd by the two odd scales. */
void tensor_avx512_dot_iq3_s_q8_K(int64_t n, float *s, const void *vx, const void *vy) {
    const block_iq3_s *x = vx;
    const block_q8_K *y = vy;
    const __m512i hshift = _mm512_setr_epi32(8, 7, 6, 5, 4, 3, 2, 1, 8, 7, 6, 5, 4, 3, 2, 1);
    float sumf = 0.0f;
    for (int64_t b = 0; b < n / QK_K; b++) {
        __m512i acc = _mm512_setzero_si512();
        for (int c = 0; c < 4; c++) { /* sub-blocks 2c, 2c + 1 */
            const __m512i lo =
                _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(x[b].qs + 16 * c)));
            const __m512i qh = _mm512_inserti64x4(
                _mm512_set1_epi32(x[b].qh[2 * c]), _mm256_set1_epi32(x[b].qh[2 * c + 1]), 1);
            const __m512i hi =
                _mm512_and_si512(_mm512_sllv_epi32(qh, hshift), _mm512_set1_epi32(256));
            const __m512i mag = _mm512_i32gather_epi32(_mm512_or_si512(lo, hi),
                                                       (const void *)tensor_iq3s_grid, 4);
            uint64_t sg;
            memcpy(&sg, x[b].signs + 8 * c, 8);
            const __m512i qy = _mm512_loadu_si512((const void *)(y[b].qs + 64 * c));
            const __m512i sy = _mm512_mask_sub_epi8(qy, (__mmask64)sg, _mm512_setzero_si512(), qy);
            const uint8_t sc = x[b].scales[c];
            const __m512i scv = _mm512_inserti64x4(
                _mm512_set1_epi16((short)(1 + 2 * (sc & 0xF))),
                _mm256_set1_epi16((short)(1 + 2 * (sc >> 4))), 1);
            acc = _mm512_dpwssd_epi32(acc, _mm512_maddubs_epi16(mag, sy), scv);
        }
        const int isum = hsum16_i32(acc);
        const float t = (float)isum * (h2f(x[b].d) * y[b].d);
        sumf += t;
    }
    *s = sumf;
}

/* ---- The importance-matrix i-quants . Q8_K (see quant_iq.c): per sub-block, unpacked as in
 * dot_avx2.c (dot_iq_body.h), in 256-bit vectors with the AVX-512VL forms: the 32 sign bits are
 * the __mmask32 negating the activations (no byte expansion) and vpdpwssd applies the half
 * scales and accumulates in one step (exact in int32). The unpacking (scalar codebook and sign
 * table loads) bounds these dots, so two sub-blocks per 512-bit vector only added joins: measured
 * slower (IQ2_XS 390 vs 240 ns per 2048-element row). ---- */
#include "tensor/dot_iq_body.h"

/* per block: (float)isum * (d * dy) added in block order; *s = sumf * F, as the reference */
#define IQ_DOT_AVX512(NAME, F, SUB)                                                                \
    void tensor_avx512_dot_##NAME##_q8_K(int64_t n, float *s, const void *vx, const void *vy) {    \
        const block_##NAME *x = vx;                                                                \
        const block_q8_K *y = vy;                                                                  \
        float sumf = 0.0f;                                                                         \
        for (int64_t b = 0; b < n / QK_K; b++) {                                                   \
            __m256i acc = _mm256_setzero_si256();                                                  \
            for (int ib = 0; ib < 8; ib++) {                                                       \
                const __m256i qy = _mm256_loadu_si256((const __m256i *)(y[b].qs + 32 * ib));       \
                acc = SUB(acc, &x[b], ib, qy);                                                     \
            }                                                                                      \
            const int isum = hsum8_i32(acc);                                                       \
            const float t = (float)isum * (h2f(iqb_d_##NAME(&x[b])) * y[b].d);                     \
            sumf += t;                                                                             \
        }                                                                                          \
        *s = sumf * (F);                                                                           \
    }

/* acc + the int32 partials of sub-block ib: magnitudes and sign bits (IQ2_*, IQ3_XXS) */
#define IQ_SUB_SIGNS(NAME)                                                                         \
    static inline __m256i iq_sub_##NAME(__m256i acc, const block_##NAME *x, int ib, __m256i qy) {  \
        __m256i mag, scv;                                                                          \
        uint32_t sgn;                                                                              \
        iqb_##NAME(x, ib, &mag, &sgn, &scv);                                                       \
        const __m256i sy = _mm256_mask_sub_epi8(qy, (__mmask32)sgn, _mm256_setzero_si256(), qy);   \
        return _mm256_dpwssd_epi32(acc, _mm256_maddubs_epi16(mag, sy), scv);                       \
    }

/* ... and of the IQ1 types' signed v */
#define IQ_SUB_SIGNED(NAME)                                                                        \
    static inline __m256i iq_sub_##NAME(__m256i acc, const block_##NAME *x, int ib, __m256i qy) {  \
        __m256i v, scv;                                                                            \
        iqb_##NAME(x, ib, &v, &scv);                                                               \
        return _mm256_dpwssd_epi32(                                                                \
            acc, _mm256_maddubs_epi16(_mm256_abs_epi8(v), _mm256_sign_epi8(qy, v)), scv);          \
    }

IQ_SUB_SIGNS(iq2_xxs)
IQ_SUB_SIGNS(iq2_xs)
IQ_SUB_SIGNS(iq2_s)
IQ_SUB_SIGNS(iq3_xxs)
IQ_SUB_SIGNED(iq1_s)
IQ_SUB_SIGNED(iq1_m)

IQ_DOT_AVX512(iq2_xxs, 0.125f, iq_sub_iq2_xxs)
IQ_DOT_AVX512(iq2_xs, 0.125f, iq_sub_iq2_xs)
IQ_DOT_AVX512(iq2_s, 0.125f, iq_sub_iq2_s)
IQ_DOT_AVX512(iq3_xxs, 0.25f, iq_sub_iq3_xxs)
IQ_DOT_AVX512(iq1_s, 0.125f, iq_sub_iq1_s)
IQ_DOT_AVX512(iq1_m, 0.125f, iq_sub_iq1_m)
