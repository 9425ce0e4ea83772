/* dot_iq_body.h — the AVX2 unpacking of one sub-block (32 elements) of the importance-matrix
 * i-quants, shared by dot_avx2.c and dot_avx512.c (included by both, so each copy is compiled with
 * its own ISA flags; everything is static inline, STYLE.md). Layouts: blocks.h; the references
 * they reproduce: quant_iq.c.
 *
 * A sub-block comes out as
 *   IQ2_*, IQ3_XXS: mag, 32 unsigned bytes |v| in element order (codebook magnitudes), and sgn,
 *     32 sign bits (bit i set: element i negative);
 *   IQ1_S, IQ1_M: v, 32 signed bytes 8 g +- 1 (|v| <= 9);
 *   and scv: 16 int16, the low 128-bit lane the scale of elements 0-15, the high one of 16-31.
 * The caller moves the sign onto the activations (-y where v < 0; AVX-512: the bits as a mask)
 * and multiplies with vpmaddubsw (|v| <= 62, |y| <= 127: a pair is at most 2 * 62 * 127 < 2^15,
 * no saturation), then by scv. */
#ifndef HEARTH_TENSOR_DOT_IQ_BODY_H
#define HEARTH_TENSOR_DOT_IQ_BODY_H

#include <immintrin.h>
#include <string.h>

#include "tensor/blocks.h"
#include "tensor/tensor_internal.h"

static inline uint32_t iqb_le32(const void *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* 32 bytes: 0xFF where bit i of w is set (byte i of the result for bit i) */
static inline __m256i iqb_bits(uint32_t w) {
    const __m256i bytes = _mm256_shuffle_epi8(
        _mm256_set1_epi32((int)w), _mm256_setr_epi64x(0x0000000000000000, 0x0101010101010101,
                                                      0x0202020202020202, 0x0303030303030303));
    const __m256i sel = _mm256_set1_epi64x((long long)0x8040201008040201ull);
    return _mm256_cmpeq_epi8(_mm256_and_si256(bytes, sel), sel);
}

/* the sign bytes of the four 7-bit sign indices at bits 0, 7, 14, 21 of b */
static inline uint32_t iqb_ksigns4(uint32_t b) {
    return (uint32_t)tensor_iq_ksigns[b & 127] | (uint32_t)tensor_iq_ksigns[(b >> 7) & 127] << 8 |
           (uint32_t)tensor_iq_ksigns[(b >> 14) & 127] << 16 |
           (uint32_t)tensor_iq_ksigns[(b >> 21) & 127] << 24;
}

static inline __m256i iqb_scales(int lo, int hi) {
    return _mm256_set_m128i(_mm_set1_epi16((short)hi), _mm_set1_epi16((short)lo));
}

static inline __m256i iqb_grid4(const uint64_t *grid, int i0, int i1, int i2, int i3) {
    return _mm256_set_epi64x((long long)grid[i3], (long long)grid[i2], (long long)grid[i1],
                             (long long)grid[i0]);
}

static inline void iqb_iq2_xxs(const block_iq2_xxs *x, int ib, __m256i *mag, uint32_t *sgn,
                               __m256i *scv) {
    const uint32_t a = iqb_le32(x->qs + 4 * ib), b = iqb_le32(x->qs + 4 * ib + 2);
    *mag = iqb_grid4(tensor_iq2xxs_grid, (int)(a & 0xFF), (int)((a >> 8) & 0xFF),
                     (int)((a >> 16) & 0xFF), (int)(a >> 24));
    *sgn = iqb_ksigns4(b);
    const int sc = 2 * (int)(b >> 28) + 1;
    *scv = _mm256_set1_epi16((short)sc);
}

static inline void iqb_iq2_xs(const block_iq2_xs *x, int ib, __m256i *mag, uint32_t *sgn,
                              __m256i *scv) {
    const uint16_t *q = x->qs + 4 * ib;
    *mag = iqb_grid4(tensor_iq2xs_grid, q[0] & 511, q[1] & 511, q[2] & 511, q[3] & 511);
    *sgn = (uint32_t)tensor_iq_ksigns[q[0] >> 9] | (uint32_t)tensor_iq_ksigns[q[1] >> 9] << 8 |
           (uint32_t)tensor_iq_ksigns[q[2] >> 9] << 16 |
           (uint32_t)tensor_iq_ksigns[q[3] >> 9] << 24;
    *scv = iqb_scales(2 * (x->scales[ib] & 0xF) + 1, 2 * (x->scales[ib] >> 4) + 1);
}

static inline void iqb_iq2_s(const block_iq2_s *x, int ib, __m256i *mag, uint32_t *sgn,
                             __m256i *scv) {
    const uint8_t *q = x->qs + 4 * ib;
    const int h = x->qh[ib];
    *mag = iqb_grid4(tensor_iq2s_grid, q[0] | (h & 3) << 8, q[1] | ((h >> 2) & 3) << 8,
                     q[2] | ((h >> 4) & 3) << 8, q[3] | ((h >> 6) & 3) << 8);
    *sgn = iqb_le32(x->qs + 32 + 4 * ib);
    *scv = iqb_scales(2 * (x->scales[ib] & 0xF) + 1, 2 * (x->scales[ib] >> 4) + 1);
}

static inline void iqb_iq3_xxs(const block_iq3_xxs *x, int ib, __m256i *mag, uint32_t *sgn,
                               __m256i *scv) {
    const __m256i idx = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(x->qs + 8 * ib)));
    *mag = _mm256_i32gather_epi32((const int *)tensor_iq3xxs_grid, idx, 4);
    const uint32_t ss = iqb_le32(x->qs + 64 + 4 * ib);
    *sgn = iqb_ksigns4(ss);
    *scv = _mm256_set1_epi16((short)(2 * (int)(ss >> 28) + 1));
}

/* IQ1: v = 8 g + delta (g: signed grid bytes; delta: +-1 per 8-element group, as int64 lanes of
 * 0x0101... or -1) */
static inline __m256i iqb_iq1_v(__m256i g, __m256i delta) {
    const __m256i g2 = _mm256_add_epi8(g, g), g4 = _mm256_add_epi8(g2, g2);
    return _mm256_add_epi8(_mm256_add_epi8(g4, g4), delta);
}

#define IQB_ONES 0x0101010101010101ll

static inline void iqb_iq1_s(const block_iq1_s *x, int ib, __m256i *v, __m256i *scv) {
    const uint8_t *q = x->qs + 4 * ib;
    const int qh = x->qh[ib];
    const __m256i g = iqb_grid4(tensor_iq1s_grid, q[0] | (qh & 7) << 8, q[1] | ((qh >> 3) & 7) << 8,
                                q[2] | ((qh >> 6) & 7) << 8, q[3] | ((qh >> 9) & 7) << 8);
    *v = iqb_iq1_v(g, _mm256_set1_epi64x(qh & 0x8000 ? -1ll : IQB_ONES));
    *scv = _mm256_set1_epi16((short)(2 * ((qh >> 12) & 7) + 1));
}

static inline void iqb_iq1_m(const block_iq1_m *x, int ib, __m256i *v, __m256i *scv) {
    const uint8_t *q = x->qs + 4 * ib;
    const int h0 = x->qh[2 * ib], h1 = x->qh[2 * ib + 1];
    const __m256i g = iqb_grid4(tensor_iq1s_grid, q[0] | (h0 & 7) << 8, q[1] | ((h0 >> 4) & 7) << 8,
                                q[2] | (h1 & 7) << 8, q[3] | ((h1 >> 4) & 7) << 8);
    const __m256i delta =
        _mm256_setr_epi64x(h0 & 0x08 ? -1ll : IQB_ONES, h0 & 0x80 ? -1ll : IQB_ONES,
                           h1 & 0x08 ? -1ll : IQB_ONES, h1 & 0x80 ? -1ll : IQB_ONES);
    *v = iqb_iq1_v(g, delta);
    const int w = x->scales[2 * (ib / 2)] | x->scales[2 * (ib / 2) + 1] << 8;
    *scv = iqb_scales(2 * ((w >> (6 * (ib % 2))) & 7) + 1, 2 * ((w >> (6 * (ib % 2) + 3)) & 7) + 1);
}

/* the block scale d of each type (fp16 bits) */
static inline uint16_t iqb_d_iq2_xxs(const block_iq2_xxs *x) { return x->d; }
static inline uint16_t iqb_d_iq2_xs(const block_iq2_xs *x) { return x->d; }
static inline uint16_t iqb_d_iq2_s(const block_iq2_s *x) { return x->d; }
static inline uint16_t iqb_d_iq3_xxs(const block_iq3_xxs *x) { return x->d; }
static inline uint16_t iqb_d_iq1_s(const block_iq1_s *x) { return x->d; }
static inline uint16_t iqb_d_iq1_m(const block_iq1_m *x) { return tensor_iq1_m_d(x); }

#endif
