/* dot_avx2.c — AVX2+FMA+F16C versions of the hot kernels: the activation quantizers (Q8_0,
 * Q8_K) and the dots of Q4_0/Q8_0 against Q8_0 and of Q4_K/Q5_K/Q6_K against Q8_K.
 *
 * (Also Q8_1 and the Q4_1/Q5_0/Q5_1 dots, which rows not divisible by 256 fall back to.)
 * Built with -mavx2 -mfma -mf16c (Makefile %_avx2.o rule); only called when dispatch.c has
 * checked the CPU. Every function here is bit-identical to its reference twin for finite
 * inputs: each block's integer dot is computed exactly in int32 (same value as the reference,
 * any summation order), then the block's float terms are combined exactly as the reference
 * writes them, in block order (Q8_0 x Q8_0: in the reference's 8 lanes, llama.cpp's order).
 * Float statements are kept separate so that a compiler allowed to contract across an expression
 * (clang's default) cannot fuse them into an FMA the reference does not have. Helpers are static
 * inline (see STYLE.md: a non-static helper built with AVX2 flags could become the copy every
 * caller links to). */
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "tensor/blocks.h"
#include "tensor/q8_lanes_x86.h"
#include "tensor/tensor_internal.h"

/* Results must not depend on the compiler fusing a*b+c into an FMA (the references are the
 * bit-exact specification; quantized files must come out identical everywhere). GCC in -std=c11
 * mode never contracts; clang does by default, so turn it off. */
#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

static inline float h2f(uint16_t h) { return _cvtsh_ss(h); } /* exact, like the reference */

/* Sum of 8 int32 lanes. */
static inline int hsum_i32(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(s);
}

/* 8 int32 partial sums of x[i] * y[i] over 32 int8 pairs. maddubs multiplies unsigned by
 * signed bytes, so x's sign moves onto y: |x| * (y * sign x). Exact as long as y != -128
 * (Q8 activations are in -127..127); x may be -128 (|x| = 128 read as unsigned). */
static inline __m256i dot_i8(__m256i x, __m256i y) {
    const __m256i ax = _mm256_sign_epi8(x, x);
    const __m256i sy = _mm256_sign_epi8(y, x);
    return _mm256_madd_epi16(_mm256_maddubs_epi16(ax, sy), _mm256_set1_epi16(1));
}

/* ---- Activation quantizers ---- */

/* Largest |x| over n (multiple of 8) floats. */
static inline float absmax(const float *x, int n) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 m = _mm256_setzero_ps();
    for (int i = 0; i < n; i += 8)
        m = _mm256_max_ps(m, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + i)));
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    h = _mm_max_ss(h, _mm_movehdup_ps(h));
    return _mm_cvtss_f32(h);
}

/* Packs 4 x 8 int32 (in range) to 32 int8 in element order. */
static inline __m256i pack_i32_to_i8(__m256i a, __m256i b, __m256i c, __m256i d) {
    const __m256i ab = _mm256_packs_epi32(a, b); /* a0-3 b0-3 | a4-7 b4-7 */
    const __m256i cd = _mm256_packs_epi32(c, d);
    const __m256i abcd = _mm256_packs_epi16(ab, cd); /* a0-3 b0-3 c0-3 d0-3 | a4-7 ... */
    return _mm256_permutevar8x32_epi32(abcd, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

/* roundf (half away from zero) of v: trunc(v + copysign(0.5 - 2^-25, v)); exact for |v| < 2^23 */
static inline __m256 round_away(__m256 v) {
    const __m256 half =
        _mm256_or_ps(_mm256_set1_ps(0.49999997f), _mm256_and_ps(v, _mm256_set1_ps(-0.0f)));
    return _mm256_round_ps(_mm256_add_ps(v, half), _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
}

/* x (n,) -> Q8_0 (n/32 blocks); see tensor_ref_q8_0_from_float */
void tensor_avx2_q8_0_from_float(const float *x, void *vy, int64_t n) {
    block_q8_0 *y = vy;
    const __m256 lo = _mm256_set1_ps(-127.0f), hi = _mm256_set1_ps(127.0f);
    for (int64_t b = 0; b < n / QK8_0; b++, x += QK8_0) {
        const float amax = absmax(x, QK8_0);
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = tensor_fp32_to_fp16(d);
        const __m256 vid = _mm256_set1_ps(id);
        __m256i q[4];
        for (int k = 0; k < 4; k++) {
            __m256 v = round_away(_mm256_mul_ps(_mm256_loadu_ps(x + 8 * k), vid));
            v = _mm256_max_ps(lo, _mm256_min_ps(hi, v));
            q[k] = _mm256_cvttps_epi32(v);
        }
        _mm256_storeu_si256((__m256i *)y[b].qs, pack_i32_to_i8(q[0], q[1], q[2], q[3]));
    }
}

/* x (n,) -> Q8_1 (n/32 blocks); see tensor_ref_q8_1_from_float */
void tensor_avx2_q8_1_from_float(const float *x, void *vy, int64_t n) {
    block_q8_1 *y = vy;
    const __m256 lo = _mm256_set1_ps(-127.0f), hi = _mm256_set1_ps(127.0f);
    for (int64_t b = 0; b < n / QK8_1; b++, x += QK8_1) {
        const float amax = absmax(x, QK8_1);
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        const __m256 vid = _mm256_set1_ps(id);
        __m256i q[4];
        for (int k = 0; k < 4; k++) {
            __m256 v = round_away(_mm256_mul_ps(_mm256_loadu_ps(x + 8 * k), vid));
            v = _mm256_max_ps(lo, _mm256_min_ps(hi, v));
            q[k] = _mm256_cvttps_epi32(v);
        }
        const int sum =
            hsum_i32(_mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3])));
        _mm256_storeu_si256((__m256i *)y[b].qs, pack_i32_to_i8(q[0], q[1], q[2], q[3]));
        y[b].d = tensor_fp32_to_fp16(d);
        y[b].s = tensor_fp32_to_fp16((float)sum * d);
    }
}

/* x (n,) -> Q8_K (n/256 blocks); see tensor_ref_q8_K_from_float */
void tensor_avx2_q8_K_from_float(const float *x, void *vy, int64_t n) {
    block_q8_K *y = vy;
    const __m256i lo = _mm256_set1_epi32(-127), hi = _mm256_set1_epi32(127);
    for (int64_t b = 0; b < n / QK_K; b++, x += QK_K) {
        const float amax = absmax(x, QK_K);
        if (amax == 0.0f) {
            memset(&y[b], 0, sizeof y[b]);
            continue;
        }
        float max = 0.0f; /* the first element of largest magnitude, with its sign */
        for (int j = 0; j < QK_K; j++) {
            if (x[j] == amax || x[j] == -amax) {
                max = x[j];
                break;
            }
        }
        const float iscale = -127.0f / max;
        const __m256 vs = _mm256_set1_ps(iscale);
        for (int g = 0; g < QK_K / 32; g++) {
            __m256i q[4];
            for (int k = 0; k < 4; k++) { /* cvtps rounds to nearest even, as lrintf */
                q[k] = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 32 * g + 8 * k), vs));
                q[k] = _mm256_max_epi32(lo, _mm256_min_epi32(hi, q[k]));
            }
            const __m256i q8 = pack_i32_to_i8(q[0], q[1], q[2], q[3]);
            _mm256_storeu_si256((__m256i *)(y[b].qs + 32 * g), q8);
            /* the two 16-element sums: pairwise, then within each 128-bit lane */
            __m256i s = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), q8),
                                          _mm256_set1_epi16(1));
            s = _mm256_hadd_epi32(s, s);
            s = _mm256_hadd_epi32(s, s);
            y[b].bsums[2 * g] = (int16_t)_mm256_extract_epi32(s, 0);
            y[b].bsums[2 * g + 1] = (int16_t)_mm256_extract_epi32(s, 4);
        }
        y[b].d = 1.0f / iscale;
    }
}

/* ---- Dots against Q8_0 ---- */

/* Four blocks' 8-lane int32 partial sums -> the four block totals (exact), as floats. */
static inline __m128 hsum4_i32(__m256i a, __m256i b, __m256i c, __m256i d) {
    const __m256i ab = _mm256_hadd_epi32(a, b);
    const __m256i cd = _mm256_hadd_epi32(c, d);
    const __m256i abcd = _mm256_hadd_epi32(ab, cd); /* per lane: a, b, c, d partial totals */
    return _mm_cvtepi32_ps(
        _mm_add_epi32(_mm256_castsi256_si128(abcd), _mm256_extracti128_si256(abcd, 1)));
}

/* sumf + t[0] + t[1] + t[2] + t[3], added one at a time in block order like the reference */
static inline float add_in_order(float sumf, __m128 t) {
    float v[4];
    _mm_storeu_ps(v, t);
    for (int i = 0; i < 4; i++)
        sumf += v[i];
    return sumf;
}

/* The per-block int32 vectors of the 32-element formats against Q8_0. */
static inline __m256i q4_0_block(const block_q4_0 *x, const block_q8_0 *y) {
    const __m128i raw = _mm_loadu_si128((const __m128i *)x->qs);
    /* low lane: low nibbles = elements 0..15; high lane: high nibbles = 16..31 */
    __m256i q =
        _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(raw, 4), raw), _mm256_set1_epi8(0x0F));
    q = _mm256_sub_epi8(q, _mm256_set1_epi8(8));
    return dot_i8(q, _mm256_loadu_si256((const __m256i *)y->qs));
}

static inline __m256i q8_0_block(const block_q8_0 *x, const block_q8_0 *y) {
    return dot_i8(_mm256_loadu_si256((const __m256i *)x->qs),
                  _mm256_loadu_si256((const __m256i *)y->qs));
}

/* x (n,) . y (n,) for a format whose block i contributes (float)isum_i * (dx_i * dy_i):
 * four blocks per step share one horizontal reduction; the float terms are formed lane-wise
 * (the same IEEE operations as the scalar code) and added in block order. */
#define DOT_32_BLOCKS(BLOCK_FN, x, y, nb, out)                                                     \
    do {                                                                                           \
        float sumf_ = 0.0f;                                                                        \
        int64_t b_ = 0;                                                                            \
        for (; b_ + 4 <= (nb); b_ += 4) {                                                          \
            const __m128 is_ =                                                                     \
                hsum4_i32(BLOCK_FN(&x[b_], &y[b_]), BLOCK_FN(&x[b_ + 1], &y[b_ + 1]),              \
                          BLOCK_FN(&x[b_ + 2], &y[b_ + 2]), BLOCK_FN(&x[b_ + 3], &y[b_ + 3]));     \
            const __m128 dx_ =                                                                     \
                _mm_setr_ps(h2f(x[b_].d), h2f(x[b_ + 1].d), h2f(x[b_ + 2].d), h2f(x[b_ + 3].d));   \
            const __m128 dy_ =                                                                     \
                _mm_setr_ps(h2f(y[b_].d), h2f(y[b_ + 1].d), h2f(y[b_ + 2].d), h2f(y[b_ + 3].d));   \
            sumf_ = add_in_order(sumf_, _mm_mul_ps(is_, _mm_mul_ps(dx_, dy_)));                    \
        }                                                                                          \
        for (; b_ < (nb); b_++) {                                                                  \
            const int isum_ = hsum_i32(BLOCK_FN(&x[b_], &y[b_]));                                  \
            const float t_ = (float)isum_ * (h2f(x[b_].d) * h2f(y[b_].d));                         \
            sumf_ += t_;                                                                           \
        }                                                                                          \
        *(out) = sumf_;                                                                            \
    } while (0)

/* Q4_0 . Q8_0 (n,) -> *s; see tensor_ref_dot_q4_0_q8_0 */
void tensor_avx2_dot_q4_0_q8_0(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q4_0 *x = vx;
    const block_q8_0 *y = vy;
    DOT_32_BLOCKS(q4_0_block, x, y, n / QK4_0, s);
}

/* Q8_0 . Q8_0 (n,) -> *s in llama.cpp's 8-lane order (see tensor_ref_dot_q8_0_q8_0 for the order
 * and why): lane j of dot_i8 is the exact int sum of elements 4j..4j+3, which is what the
 * reference's lane j takes, so one FMA per block does the reference's eight fmaf. */
void tensor_avx2_dot_q8_0_q8_0(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q8_0 *x = vx;
    const block_q8_0 *y = vy;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / QK8_0; b++) {
        const float d = h2f(x[b].d) * h2f(y[b].d);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(q8_0_block(&x[b], &y[b])), acc);
    }
    *s = q8_lanes_fold(acc);
}

/* 32 bits -> 32 bytes: byte i is 0xFF when bit i of the little-endian word at p is set. */
static inline __m256i bits_to_bytes(const uint8_t *p) {
    uint32_t w;
    memcpy(&w, p, 4);
    /* byte i takes source byte i / 8, then tests its bit i % 8 */
    const __m256i bytes = _mm256_shuffle_epi8(
        _mm256_set1_epi32((int)w), _mm256_setr_epi64x(0x0000000000000000, 0x0101010101010101,
                                                      0x0202020202020202, 0x0303030303030303));
    const __m256i sel = _mm256_set1_epi64x((long long)0x8040201008040201ull);
    return _mm256_cmpeq_epi8(_mm256_and_si256(bytes, sel), sel);
}

/* The 32 nibbles of a Q4/Q5 block in element order (low nibbles 0..15, high nibbles 16..31). */
static inline __m256i nibbles32(const uint8_t *qs) {
    const __m128i raw = _mm_loadu_si128((const __m128i *)qs);
    return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(raw, 4), raw), _mm256_set1_epi8(0x0F));
}

static inline __m256i q5_0_block(const block_q5_0 *x, const block_q8_0 *y) {
    __m256i q = _mm256_or_si256(nibbles32(x->qs),
                                _mm256_and_si256(bits_to_bytes(x->qh), _mm256_set1_epi8(16)));
    q = _mm256_sub_epi8(q, _mm256_set1_epi8(16));
    return dot_i8(q, _mm256_loadu_si256((const __m256i *)y->qs));
}

/* Q5_0 . Q8_0 (n,) -> *s; see tensor_ref_dot_q5_0_q8_0 */
void tensor_avx2_dot_q5_0_q8_0(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q5_0 *x = vx;
    const block_q8_0 *y = vy;
    DOT_32_BLOCKS(q5_0_block, x, y, n / QK5_0, s);
}

/* Q4_1 . Q8_1 (n,) -> *s; see tensor_ref_dot_q4_1_q8_1 (unsigned q: maddubs takes it as is) */
void tensor_avx2_dot_q4_1_q8_1(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q4_1 *x = vx;
    const block_q8_1 *y = vy;
    float sumf = 0.0f;
    for (int64_t b = 0; b < n / QK4_1; b++) {
        const __m256i qy = _mm256_loadu_si256((const __m256i *)y[b].qs);
        const __m256i p =
            _mm256_madd_epi16(_mm256_maddubs_epi16(nibbles32(x[b].qs), qy), _mm256_set1_epi16(1));
        const int isum = hsum_i32(p);
        const float t1 = (float)isum * (h2f(x[b].d) * h2f(y[b].d));
        const float t2 = h2f(x[b].m) * h2f(y[b].s);
        const float t = t1 + t2;
        sumf += t;
    }
    *s = sumf;
}

/* Q5_1 . Q8_1 (n,) -> *s; see tensor_ref_dot_q5_1_q8_1 */
void tensor_avx2_dot_q5_1_q8_1(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q5_1 *x = vx;
    const block_q8_1 *y = vy;
    float sumf = 0.0f;
    for (int64_t b = 0; b < n / QK5_1; b++) {
        const __m256i q = _mm256_or_si256(
            nibbles32(x[b].qs), _mm256_and_si256(bits_to_bytes(x[b].qh), _mm256_set1_epi8(16)));
        const __m256i qy = _mm256_loadu_si256((const __m256i *)y[b].qs);
        const int isum =
            hsum_i32(_mm256_madd_epi16(_mm256_maddubs_epi16(q, qy), _mm256_set1_epi16(1)));
        const float t1 = (float)isum * (h2f(x[b].d) * h2f(y[b].d));
        const float t2 = h2f(x[b].m) * h2f(y[b].s);
        const float t = t1 + t2;
        sumf += t;
    }
    *s = sumf;
}

/* ---- K-quants against Q8_K ---- */

/* The Q4_K/Q5_K min term: sum_j m_j * (bsums[2j] + bsums[2j+1]). */
static inline int k4_min_term(const uint8_t *m, const int16_t *bsums) {
    int imin = 0;
    for (int j = 0; j < 8; j++)
        imin += m[j] * (bsums[2 * j] + bsums[2 * j + 1]);
    return imin;
}

/* Q2_K . Q8_K (n,) -> *s; see tensor_ref_dot_q2_K_q8_K. Each 32-byte qs half holds four runs
 * of 32 elements (bit pairs 0..3); each run spans two 16-element sub-blocks, one per 128-bit
 * lane, so the scale vector carries one sub-block's scale per lane. */
void tensor_avx2_dot_q2_K_q8_K(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q2_K *x = vx;
    const block_q8_K *y = vy;
    const __m256i m3 = _mm256_set1_epi8(3);
    float sumf = 0.0f;
    for (int64_t b = 0; b < n / QK_K; b++) {
        __m256i acc = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            const __m256i qs = _mm256_loadu_si256((const __m256i *)(x[b].qs + 32 * h));
            for (int j = 0; j < 4; j++) {
                const int k = 8 * h + 2 * j; /* sub-blocks k (low lane) and k + 1 (high lane) */
                const __m256i q = _mm256_and_si256(_mm256_srli_epi16(qs, 2 * j), m3);
                const __m256i yk =
                    _mm256_loadu_si256((const __m256i *)(y[b].qs + 128 * h + 32 * j));
                const __m256i scv = _mm256_set_m128i(_mm_set1_epi16(x[b].scales[k + 1] & 0xF),
                                                     _mm_set1_epi16(x[b].scales[k] & 0xF));
                acc = _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(q, yk), scv));
            }
        }
        int imin = 0;
        for (int k = 0; k < QK_K / 16; k++)
            imin += (x[b].scales[k] >> 4) * y[b].bsums[k];
        const int isum = hsum_i32(acc);
        const float t1 = (float)isum * (h2f(x[b].d) * y[b].d);
        const float t2 = (float)imin * (h2f(x[b].dmin) * y[b].d);
        const float t = t1 - t2;
        sumf += t;
    }
    *s = sumf;
}

/* Q3_K . Q8_K (n,) -> *s; see tensor_ref_dot_q3_K_q8_K. Levels are used unsigned
 * (low 2 bits | high bit << 2, 0..7); the -4 comes back per sub-block as -4 * bsums. */
void tensor_avx2_dot_q3_K_q8_K(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q3_K *x = vx;
    const block_q8_K *y = vy;
    const __m256i m3 = _mm256_set1_epi8(3), b4 = _mm256_set1_epi8(4);
    float sumf = 0.0f;
    for (int64_t b = 0; b < n / QK_K; b++) {
        int sc[16];
        for (int k = 0; k < 16; k++) {
            const int lo = k < 8 ? x[b].scales[k] & 0xF : x[b].scales[k - 8] >> 4;
            const int hi = (x[b].scales[8 + k % 4] >> (2 * (k / 4))) & 3;
            sc[k] = (lo | (hi << 4)) - 32;
        }
        const __m256i hm = _mm256_loadu_si256((const __m256i *)x[b].hmask);
        __m256i acc = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            const __m256i qs = _mm256_loadu_si256((const __m256i *)(x[b].qs + 32 * h));
            for (int j = 0; j < 4; j++) {
                const int k = 8 * h + 2 * j;
                const __m256i bit = _mm256_set1_epi8((char)(1 << (4 * h + j)));
                const __m256i high =
                    _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(hm, bit), bit), b4);
                const __m256i q =
                    _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(qs, 2 * j), m3), high);
                const __m256i yk =
                    _mm256_loadu_si256((const __m256i *)(y[b].qs + 128 * h + 32 * j));
                const __m256i scv = _mm256_set_m128i(_mm_set1_epi16((short)sc[k + 1]),
                                                     _mm_set1_epi16((short)sc[k]));
                acc = _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(q, yk), scv));
            }
        }
        int ioff = 0;
        for (int k = 0; k < QK_K / 16; k++)
            ioff += sc[k] * y[b].bsums[k];
        const int isum = hsum_i32(acc) - 4 * ioff;
        const float t = (float)isum * (h2f(x[b].d) * y[b].d);
        sumf += t;
    }
    *s = sumf;
}

/* Q4_K . Q8_K (n,) -> *s; see tensor_ref_dot_q4_K_q8_K. q4 values are unsigned (0..15), so
 * maddubs takes them directly; madd by the sub-block scale gives int32 sc * (pair sums). */
void tensor_avx2_dot_q4_K_q8_K(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q4_K *x = vx;
    const block_q8_K *y = vy;
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    float sumf = 0.0f;
    for (int64_t b = 0; b < n / QK_K; b++) {
        uint8_t sc[8], m[8];
        for (int j = 0; j < 8; j++)
            tensor_k4_scale_min(j, x[b].scales, &sc[j], &m[j]);
        __m256i acc = _mm256_setzero_si256();
        for (int c = 0; c < 4; c++) {
            const __m256i q4 = _mm256_loadu_si256((const __m256i *)(x[b].qs + 32 * c));
            const __m256i qlo = _mm256_and_si256(q4, m4);
            const __m256i qhi = _mm256_and_si256(_mm256_srli_epi16(q4, 4), m4);
            const __m256i y0 = _mm256_loadu_si256((const __m256i *)(y[b].qs + 64 * c));
            const __m256i y1 = _mm256_loadu_si256((const __m256i *)(y[b].qs + 64 * c + 32));
            const __m256i p0 =
                _mm256_madd_epi16(_mm256_maddubs_epi16(qlo, y0), _mm256_set1_epi16(sc[2 * c]));
            const __m256i p1 =
                _mm256_madd_epi16(_mm256_maddubs_epi16(qhi, y1), _mm256_set1_epi16(sc[2 * c + 1]));
            acc = _mm256_add_epi32(acc, _mm256_add_epi32(p0, p1));
        }
        const int isum = hsum_i32(acc);
        const int imin = k4_min_term(m, y[b].bsums);
        const float t1 = (float)isum * (h2f(x[b].d) * y[b].d);
        const float t2 = (float)imin * (h2f(x[b].dmin) * y[b].d);
        const float t = t1 - t2;
        sumf += t;
    }
    *s = sumf;
}

/* Q5_K . Q8_K (n,) -> *s; see tensor_ref_dot_q5_K_q8_K. The 5th bit of sub-block j is bit j of
 * qh[l]: test it bytewise (and + cmpeq) and or in 16. */
void tensor_avx2_dot_q5_K_q8_K(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q5_K *x = vx;
    const block_q8_K *y = vy;
    const __m256i m4 = _mm256_set1_epi8(0x0F), b16 = _mm256_set1_epi8(16);
    float sumf = 0.0f;
    for (int64_t b = 0; b < n / QK_K; b++) {
        uint8_t sc[8], m[8];
        for (int j = 0; j < 8; j++)
            tensor_k4_scale_min(j, x[b].scales, &sc[j], &m[j]);
        const __m256i qh = _mm256_loadu_si256((const __m256i *)x[b].qh);
        __m256i acc = _mm256_setzero_si256();
        for (int c = 0; c < 4; c++) {
            const __m256i bl = _mm256_set1_epi8((char)(1 << (2 * c)));
            const __m256i bh = _mm256_set1_epi8((char)(1 << (2 * c + 1)));
            const __m256i q4 = _mm256_loadu_si256((const __m256i *)(x[b].qs + 32 * c));
            __m256i qlo = _mm256_and_si256(q4, m4);
            __m256i qhi = _mm256_and_si256(_mm256_srli_epi16(q4, 4), m4);
            qlo = _mm256_or_si256(
                qlo, _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(qh, bl), bl), b16));
            qhi = _mm256_or_si256(
                qhi, _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(qh, bh), bh), b16));
            const __m256i y0 = _mm256_loadu_si256((const __m256i *)(y[b].qs + 64 * c));
            const __m256i y1 = _mm256_loadu_si256((const __m256i *)(y[b].qs + 64 * c + 32));
            const __m256i p0 =
                _mm256_madd_epi16(_mm256_maddubs_epi16(qlo, y0), _mm256_set1_epi16(sc[2 * c]));
            const __m256i p1 =
                _mm256_madd_epi16(_mm256_maddubs_epi16(qhi, y1), _mm256_set1_epi16(sc[2 * c + 1]));
            acc = _mm256_add_epi32(acc, _mm256_add_epi32(p0, p1));
        }
        const int isum = hsum_i32(acc);
        const int imin = k4_min_term(m, y[b].bsums);
        const float t1 = (float)isum * (h2f(x[b].d) * y[b].d);
        const float t2 = (float)imin * (h2f(x[b].dmin) * y[b].d);
        const float t = t1 - t2;
        sumf += t;
    }
    *s = sumf;
}

/* Q6_K . Q8_K (n,) -> *s; see tensor_ref_dot_q6_K_q8_K. The 6-bit values are used unsigned
 * (0..63) and the -32 offset is applied once per sub-block through Q8_K's bsums:
 * sum (q - 32) y = sum q y - 32 * bsum. Same int32 as the reference. */
void tensor_avx2_dot_q6_K_q8_K(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q6_K *x = vx;
    const block_q8_K *y = vy;
    const __m256i m4 = _mm256_set1_epi8(0x0F), m30 = _mm256_set1_epi8(0x30);
    float sumf = 0.0f;
    for (int64_t b = 0; b < n / QK_K; b++) {
        __m256i acc = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = x[b].ql + 64 * h, *qhp = x[b].qh + 32 * h;
            const int8_t *sc = x[b].scales + 8 * h;
            const int8_t *q8 = y[b].qs + 128 * h;
            const __m256i la = _mm256_loadu_si256((const __m256i *)ql);
            const __m256i lb = _mm256_loadu_si256((const __m256i *)(ql + 32));
            const __m256i hb = _mm256_loadu_si256((const __m256i *)qhp);
            __m256i q[4];
            /* element 128h + 32k + l, k = 0..3 (see blocks.h) */
            q[0] = _mm256_or_si256(_mm256_and_si256(la, m4),
                                   _mm256_and_si256(_mm256_slli_epi16(hb, 4), m30));
            q[1] = _mm256_or_si256(_mm256_and_si256(lb, m4),
                                   _mm256_and_si256(_mm256_slli_epi16(hb, 2), m30));
            q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(la, 4), m4),
                                   _mm256_and_si256(hb, m30));
            q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(lb, 4), m4),
                                   _mm256_and_si256(_mm256_srli_epi16(hb, 2), m30));
            for (int k = 0; k < 4; k++) {
                const __m256i yk = _mm256_loadu_si256((const __m256i *)(q8 + 32 * k));
                /* low lane: sub-block 2k of this half, high lane: 2k + 1 */
                const __m256i scv =
                    _mm256_set_m128i(_mm_set1_epi16(sc[2 * k + 1]), _mm_set1_epi16(sc[2 * k]));
                acc = _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(q[k], yk), scv));
            }
        }
        int ioff = 0;
        for (int k = 0; k < QK_K / 16; k++)
            ioff += x[b].scales[k] * y[b].bsums[k];
        const int isum = hsum_i32(acc) - 32 * ioff;
        const float t = (float)isum * (h2f(x[b].d) * y[b].d);
        sumf += t;
    }
    *s = sumf;
}

/* ---- Float weights against F32 activations ----
 * F32 is bit-identical to its reference (both in ggml's order). F16/BF16 are not (their
 * references sum in double): these keep float partial sums (FMA) and add them up at the end;
 * the difference is float rounding, a few 1e-7 of sum |x y| for typical rows. Any n (block
 * size 1): a scalar tail finishes the row. */

static inline float hsum_ps(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* widen 8 bf16 to 8 floats: the bf16 bits are the float's top half */
static inline __m256 bf16x8(const uint16_t *p) {
    const __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
}

/* F32 . F32 (n,) -> *s, summed in the order of ggml's AVX-512 ggml_vec_dot_f32 (the CPU build
 * llama.cpp reference outputs come from): 64 float partial sums (4 x 16 lanes, here 8 AVX2
 * registers), folded as (a0 + a2) + (a1 + a3), the 16 lanes then halved pairwise (i + 8, i + 4,
 * i + 2, i + 1), and the n % 64 tail added one product at a time. Same cost as any other order;
 * matching it keeps f16 roundings downstream (KV cache) landing where llama.cpp's land. */
void tensor_avx2_dot_f32_f32(int64_t n, float *s, const void *vx, const void *vy) {
    const float *x = vx, *y = vy;
    __m256 acc[8]; /* acc[2k] = lanes 0..7 of partial sum k, acc[2k + 1] = lanes 8..15 */
    for (int k = 0; k < 8; k++)
        acc[k] = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 64 <= n; i += 64)
        for (int k = 0; k < 8; k++)
            acc[k] = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8 * k), _mm256_loadu_ps(y + i + 8 * k),
                                     acc[k]);
    __m256 lo = _mm256_add_ps(_mm256_add_ps(acc[0], acc[4]), _mm256_add_ps(acc[2], acc[6]));
    __m256 hi = _mm256_add_ps(_mm256_add_ps(acc[1], acc[5]), _mm256_add_ps(acc[3], acc[7]));
    float sum = hsum_ps(_mm256_add_ps(lo, hi));
    *s = tensor_f32_tail(sum, x + i, y + i, n - i); /* as gcc compiles ggml's tail loop */
}

/* ---- LoRA's low-rank products in llama.cpp's orders (tensor_internal.h), bit-identical to the
 * references in dot_ref.c ---- */

/* 16 lanes as two registers: lo = lanes 0..7, hi = lanes 8..15 */
static inline float dot16_avx2(int64_t n, const float *x, const float *y) {
    __m256 lo = _mm256_setzero_ps(), hi = _mm256_setzero_ps();
    for (int64_t i = 0; i + 16 <= n; i += 16) {
        lo = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), lo);
        hi = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8), _mm256_loadu_ps(y + i + 8), hi);
    }
    const __m256 s8 = _mm256_add_ps(lo, hi);
    const __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
    const __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4)); /* s4[0] + s4[2], s4[1] + s4[3] */
    return _mm_cvtss_f32(_mm_add_ss(s2, _mm_movehdup_ps(s2)));
}

void tensor_avx2_dot16_f32(int64_t n, float *s, const float *x, const float *y) {
    *s = dot16_avx2(n, x, y);
}

void tensor_avx2_lowrank16_add_f32(int64_t rank, int64_t n_out, const float *b, const float *t,
                                   float s, float *y) {
    for (int64_t o = 0; o < n_out; o++)
        y[o] += dot16_avx2(rank, b + o * rank, t) * s;
}

/* r[i] = row i of an 8x8 block -> r[j] = column j */
static inline void transpose8(__m256 r[8]) {
    const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    const __m256 u0 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0));
    const __m256 u1 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2));
    const __m256 u2 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0));
    const __m256 u3 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2));
    const __m256 u4 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(1, 0, 1, 0));
    const __m256 u5 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(3, 2, 3, 2));
    const __m256 u6 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(1, 0, 1, 0));
    const __m256 u7 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(3, 2, 3, 2));
    r[0] = _mm256_permute2f128_ps(u0, u4, 0x20);
    r[1] = _mm256_permute2f128_ps(u1, u5, 0x20);
    r[2] = _mm256_permute2f128_ps(u2, u6, 0x20);
    r[3] = _mm256_permute2f128_ps(u3, u7, 0x20);
    r[4] = _mm256_permute2f128_ps(u0, u4, 0x31);
    r[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
    r[6] = _mm256_permute2f128_ps(u2, u6, 0x31);
    r[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
}

/* 8 outputs per register: each 8x8 block of B is transposed so column k holds the 8 outputs'
 * k-th weights; the chain over k then runs in every lane at once, in the reference's order
 * (tensor_f32_tail: rounded products added in order, the last rank % 8 fused). */
void tensor_avx2_lowrank_seq_add_f32(int64_t rank, int64_t n_out, const float *b, const float *t,
                                     float s, float *y) {
    const int64_t r8 = rank - rank % 8;
    const __m256 vs = _mm256_set1_ps(s);
    int64_t o = 0;
    for (; o + 8 <= n_out; o += 8) {
        const float *bo = b + o * rank;
        __m256 acc = _mm256_setzero_ps();
        for (int64_t k = 0; k < r8; k += 8) {
            __m256 c[8];
            for (int i = 0; i < 8; i++)
                c[i] = _mm256_loadu_ps(bo + i * rank + k);
            transpose8(c);
            for (int j = 0; j < 8; j++) /* product rounded, then added (tensor_f32_tail) */
                acc = _mm256_add_ps(acc, _mm256_mul_ps(c[j], _mm256_set1_ps(t[k + j])));
        }
        if (r8 < rank) {
            float u[8];
            _mm256_storeu_ps(u, acc);
            for (int i = 0; i < 8; i++)
                for (int64_t k = r8; k < rank; k++)
                    u[i] = fmaf(bo[i * rank + k], t[k], u[i]);
            acc = _mm256_loadu_ps(u);
        }
        _mm256_storeu_ps(y + o, _mm256_add_ps(_mm256_loadu_ps(y + o), _mm256_mul_ps(acc, vs)));
    }
    if (o < n_out) tensor_ref_lowrank_seq_add_f32(rank, n_out - o, b + o * rank, t, s, y + o);
}

/* F16 . F32 (n,) -> *s: F16C widens the weights on the fly */
void tensor_avx2_dot_f16_f32(int64_t n, float *s, const void *vx, const void *vy) {
    const uint16_t *x = vx;
    const float *y = vy;
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                     _mm256_setzero_ps()};
    int64_t i = 0;
    for (; i + 32 <= n; i += 32)
        for (int k = 0; k < 4; k++) {
            const __m256 xf = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i + 8 * k)));
            acc[k] = _mm256_fmadd_ps(xf, _mm256_loadu_ps(y + i + 8 * k), acc[k]);
        }
    for (; i + 8 <= n; i += 8) {
        const __m256 xf = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i)));
        acc[0] = _mm256_fmadd_ps(xf, _mm256_loadu_ps(y + i), acc[0]);
    }
    float sum =
        hsum_ps(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
    for (; i < n; i++)
        sum += h2f(x[i]) * y[i];
    *s = sum;
}

/* BF16 . F32 (n,) -> *s */
void tensor_avx2_dot_bf16_f32(int64_t n, float *s, const void *vx, const void *vy) {
    const uint16_t *x = vx;
    const float *y = vy;
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                     _mm256_setzero_ps()};
    int64_t i = 0;
    for (; i + 32 <= n; i += 32)
        for (int k = 0; k < 4; k++)
            acc[k] = _mm256_fmadd_ps(bf16x8(x + i + 8 * k), _mm256_loadu_ps(y + i + 8 * k), acc[k]);
    for (; i + 8 <= n; i += 8)
        acc[0] = _mm256_fmadd_ps(bf16x8(x + i), _mm256_loadu_ps(y + i), acc[0]);
    float sum =
        hsum_ps(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
    for (; i < n; i++)
        sum += tensor_bf16_to_fp32(x[i]) * y[i];
    *s = sum;
}

/* F32 (n,) -> F16 (n,): vcvtps2ph rounds to nearest even, overflows to infinity, makes
 * subnormals and quiets NaNs keeping their top payload bits: exactly tensor_fp32_to_fp16 */
void tensor_avx2_f16_from_float(const float *x, void *vy, int64_t n) {
    uint16_t *y = vy;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(y + i),
                         _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++)
        y[i] = tensor_fp32_to_fp16(x[i]);
}

/* F16 (n,) -> F32 (n,); exact, like the reference (NaNs come out quiet in both) */
void tensor_avx2_f16_to_float(const void *vx, float *y, int64_t n) {
    const uint16_t *x = vx;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i))));
    for (; i < n; i++)
        y[i] = h2f(x[i]);
}

/* ---- Non-linear, ternary and microscaling formats (references: quant_nl.c) ---- */

/* The 32 levels of a 4-bit table format in element order: nibbles looked up in table (16
 * int8 levels, copied to both 128-bit lanes) with vpshufb. */
static inline __m256i lut_levels32(const uint8_t *qs, __m256i table) {
    return _mm256_shuffle_epi8(table, nibbles32(qs));
}

static inline __m256i iq4nl_table(void) {
    return _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)tensor_iq4nl_values));
}

static inline __m256i iq4_nl_block(const block_iq4_nl *x, const block_q8_0 *y) {
    return dot_i8(lut_levels32(x->qs, iq4nl_table()), _mm256_loadu_si256((const __m256i *)y->qs));
}

/* IQ4_NL . Q8_0 (n,) -> *s; see tensor_ref_dot_iq4_nl_q8_0 */
void tensor_avx2_dot_iq4_nl_q8_0(int64_t n, float *s, const void *vx, const void *vy) {
    const block_iq4_nl *x = vx;
    const block_q8_0 *y = vy;
    DOT_32_BLOCKS(iq4_nl_block, x, y, n / QK4_NL, s);
}

static inline __m256i mxfp4_block(const block_mxfp4 *x, const block_q8_0 *y) {
    const __m256i table =
        _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)tensor_mxfp4_values));
    return dot_i8(lut_levels32(x->qs, table), _mm256_loadu_si256((const __m256i *)y->qs));
}

/* MXFP4 . Q8_0 (n,) -> *s; see tensor_ref_dot_mxfp4_q8_0. As DOT_32_BLOCKS with the block
 * scale 2^(e-128) in place of the fp16 d. */
void tensor_avx2_dot_mxfp4_q8_0(int64_t n, float *s, const void *vx, const void *vy) {
    const block_mxfp4 *x = vx;
    const block_q8_0 *y = vy;
    const int64_t nb = n / QK_MXFP4;
    float sumf = 0.0f;
    int64_t b = 0;
    for (; b + 4 <= nb; b += 4) {
        const __m128 is = hsum4_i32(mxfp4_block(&x[b], &y[b]), mxfp4_block(&x[b + 1], &y[b + 1]),
                                    mxfp4_block(&x[b + 2], &y[b + 2]),
                                    mxfp4_block(&x[b + 3], &y[b + 3]));
        const __m128 dx = _mm_setr_ps(tensor_e8m0_half(x[b].e), tensor_e8m0_half(x[b + 1].e),
                                      tensor_e8m0_half(x[b + 2].e), tensor_e8m0_half(x[b + 3].e));
        const __m128 dy =
            _mm_setr_ps(h2f(y[b].d), h2f(y[b + 1].d), h2f(y[b + 2].d), h2f(y[b + 3].d));
        sumf = add_in_order(sumf, _mm_mul_ps(is, _mm_mul_ps(dx, dy)));
    }
    for (; b < nb; b++) {
        const int isum = hsum_i32(mxfp4_block(&x[b], &y[b]));
        const float t = (float)isum * (tensor_e8m0_half(x[b].e) * h2f(y[b].d));
        sumf += t;
    }
    *s = sumf;
}

/* The 8 sub-block scales ls - 32 (-32..31) of an IQ4_XS super-block as int16 lanes 0..7 (low 4
 * bits from scales_l, low nibble first; high 2 bits from scales_h), from one 8-byte load of d,
 * scales_h and scales_l: bytes spread to 32-bit lanes by vpshufb, shifted by vpsrlvd. */
static inline __m128i iq4_xs_scales16(const block_iq4_xs *x) {
    static_assert(offsetof(block_iq4_xs, scales_h) == 2 && offsetof(block_iq4_xs, scales_l) == 4,
                  "one 8-byte load covers the scales");
    uint64_t raw;
    memcpy(&raw, x, 8);
    const __m256i v = _mm256_set1_epi64x((long long)raw);
    const __m256i lo = _mm256_and_si256(
        _mm256_srlv_epi32(
            _mm256_shuffle_epi8(v, _mm256_setr_epi8(4, -1, -1, -1, 4, -1, -1, -1, 5, -1, -1, -1, 5,
                                                    -1, -1, -1, 6, -1, -1, -1, 6, -1, -1, -1, 7, -1,
                                                    -1, -1, 7, -1, -1, -1)),
            _mm256_setr_epi32(0, 4, 0, 4, 0, 4, 0, 4)),
        _mm256_set1_epi32(0x0F));
    const __m256i hi = _mm256_and_si256(
        _mm256_srlv_epi32(
            _mm256_shuffle_epi8(v, _mm256_setr_epi8(2, 3, -1, -1, 2, 3, -1, -1, 2, 3, -1, -1, 2, 3,
                                                    -1, -1, 2, 3, -1, -1, 2, 3, -1, -1, 2, 3, -1,
                                                    -1, 2, 3, -1, -1)),
            _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14)),
        _mm256_set1_epi32(3));
    const __m256i ls =
        _mm256_sub_epi32(_mm256_or_si256(lo, _mm256_slli_epi32(hi, 4)), _mm256_set1_epi32(32));
    return _mm_packs_epi32(_mm256_castsi256_si128(ls), _mm256_extracti128_si256(ls, 1));
}

/* IQ4_XS . Q8_K (n,) -> *s; see tensor_ref_dot_iq4_xs_q8_K. 64 elements (sub-blocks 2k, 2k+1)
 * per step: 32 qs bytes (128-bit lane i = sub-block 2k+i), the low nibbles against the first 16
 * activations of each sub-block and the high ones against the last 16 (vperm2i128 of the two
 * 32-byte activation loads), so lane i holds sub-block 2k+i in both products. vpmaddubsw of
 * |level| by the sign-moved activations (pairs at most 2 * 127 * 127 < 2^15), then vpmaddwd by
 * the lane's scale word (vpshufb of the 8 scales), accumulated in int32 (exact). */
void tensor_avx2_dot_iq4_xs_q8_K(int64_t n, float *s, const void *vx, const void *vy) {
    const block_iq4_xs *x = vx;
    const block_q8_K *y = vy;
    const __m256i table = iq4nl_table(), m4 = _mm256_set1_epi8(0x0F);
    float sumf = 0.0f;
    for (int64_t b = 0; b < n / QK_K; b++) {
        const __m256i sc = _mm256_broadcastsi128_si256(iq4_xs_scales16(&x[b]));
        __m256i acc = _mm256_setzero_si256();
#pragma GCC unroll 4
        for (int k = 0; k < 4; k++) {
            /* words s_{2k} (low lane) and s_{2k+1} (high lane) */
            const char a = (char)(4 * k), c = (char)(4 * k + 2);
            const __m256i scv = _mm256_shuffle_epi8(
                sc, _mm256_setr_epi8(a, a + 1, a, a + 1, a, a + 1, a, a + 1, a, a + 1, a, a + 1, a,
                                     a + 1, a, a + 1, c, c + 1, c, c + 1, c, c + 1, c, c + 1, c,
                                     c + 1, c, c + 1, c, c + 1, c, c + 1));
            const __m256i q = _mm256_loadu_si256((const __m256i *)(x[b].qs + 32 * k));
            const __m256i y0 = _mm256_loadu_si256((const __m256i *)(y[b].qs + 64 * k));
            const __m256i y1 = _mm256_loadu_si256((const __m256i *)(y[b].qs + 64 * k + 32));
            const __m256i wlo = _mm256_shuffle_epi8(table, _mm256_and_si256(q, m4));
            const __m256i whi =
                _mm256_shuffle_epi8(table, _mm256_and_si256(_mm256_srli_epi16(q, 4), m4));
            const __m256i ylo = _mm256_permute2x128_si256(y0, y1, 0x20);
            const __m256i yhi = _mm256_permute2x128_si256(y0, y1, 0x31);
            const __m256i plo =
                _mm256_maddubs_epi16(_mm256_sign_epi8(wlo, wlo), _mm256_sign_epi8(ylo, wlo));
            const __m256i phi =
                _mm256_maddubs_epi16(_mm256_sign_epi8(whi, whi), _mm256_sign_epi8(yhi, whi));
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(plo, scv));
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(phi, scv));
        }
        const int isum = hsum_i32(acc);
        const float t = (float)isum * (h2f(x[b].d) * y[b].d);
        sumf += t;
    }
    *s = sumf;
}

/* TQ2_0 . Q8_K (n,) -> *s; see tensor_ref_dot_tq2_0_q8_K. sum (q - 1) y = sum q y - sum y, both
 * with vpmaddubsw (q in 0..3 unsigned; per lane at most 8 * 2 * 3 * 127 < 2^15). */
void tensor_avx2_dot_tq2_0_q8_K(int64_t n, float *s, const void *vx, const void *vy) {
    const block_tq2_0 *x = vx;
    const block_q8_K *y = vy;
    const __m256i three = _mm256_set1_epi8(3), ones = _mm256_set1_epi8(1);
    float sumf = 0.0f;
    for (int64_t b = 0; b < n / QK_K; b++) {
        __m256i acc = _mm256_setzero_si256(), sy = _mm256_setzero_si256();
        for (int c = 0; c < 2; c++) {
            const __m256i raw = _mm256_loadu_si256((const __m256i *)(x[b].qs + 32 * c));
            for (int l = 0; l < 4; l++) {
                const __m256i q = _mm256_and_si256(_mm256_srli_epi16(raw, 2 * l), three);
                const __m256i qy =
                    _mm256_loadu_si256((const __m256i *)(y[b].qs + 128 * c + 32 * l));
                acc = _mm256_add_epi16(acc, _mm256_maddubs_epi16(q, qy));
                sy = _mm256_add_epi16(sy, _mm256_maddubs_epi16(ones, qy));
            }
        }
        const __m256i d = _mm256_madd_epi16(_mm256_sub_epi16(acc, sy), _mm256_set1_epi16(1));
        const int isum = hsum_i32(d);
        const float t = (float)isum * (h2f(x[b].d) * y[b].d);
        sumf += t;
    }
    *s = sumf;
}

/* 16 TQ1_0 trits minus one, as int16: bytes b (16, widened) times mult (per lane 3^k) mod 256,
 * then (q * 3) >> 8 (the trit), minus 1. */
static inline __m256i tq1_trits16(__m128i bytes, __m256i mult) {
    const __m256i q = _mm256_and_si256(_mm256_mullo_epi16(_mm256_cvtepu8_epi16(bytes), mult),
                                       _mm256_set1_epi16(0xFF));
    const __m256i t = _mm256_srli_epi16(_mm256_mullo_epi16(q, _mm256_set1_epi16(3)), 8);
    return _mm256_sub_epi16(t, _mm256_set1_epi16(1));
}

/* int32 partials of 16 trits (minus one) against 16 activations */
static inline __m256i tq1_dot16(__m128i bytes, __m256i mult, const int8_t *qy) {
    const __m256i y16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)qy));
    return _mm256_madd_epi16(tq1_trits16(bytes, mult), y16);
}

/* TQ1_0 . Q8_K (n,) -> *s; see tensor_ref_dot_tq1_0_q8_K (element order: blocks.h) */
void tensor_avx2_dot_tq1_0_q8_K(int64_t n, float *s, const void *vx, const void *vy) {
    const block_tq1_0 *x = vx;
    const block_q8_K *y = vy;
    static const short pow3[5] = {1, 3, 9, 27, 81};
    /* qh: lane 4k + j takes byte j times 3^k */
    const __m256i qh_mult = _mm256_setr_epi16(1, 1, 1, 1, 3, 3, 3, 3, 9, 9, 9, 9, 27, 27, 27, 27);
    float sumf = 0.0f;
    for (int64_t b = 0; b < n / QK_K; b++) {
        const int8_t *qy = y[b].qs;
        const __m128i lo = _mm_loadu_si128((const __m128i *)x[b].qs);
        const __m128i hi = _mm_loadu_si128((const __m128i *)(x[b].qs + 16));
        const __m128i tail = _mm_loadu_si128((const __m128i *)(x[b].qs + 32));
        uint32_t qh;
        memcpy(&qh, x[b].qh, 4);
        const __m128i qhv = _mm_set1_epi32((int)qh);
        __m256i acc = _mm256_setzero_si256();
        for (int k = 0; k < 5; k++) {
            const __m256i m = _mm256_set1_epi16(pow3[k]);
            acc = _mm256_add_epi32(acc, tq1_dot16(lo, m, qy + 32 * k));
            acc = _mm256_add_epi32(acc, tq1_dot16(hi, m, qy + 32 * k + 16));
            acc = _mm256_add_epi32(acc, tq1_dot16(tail, m, qy + 160 + 16 * k));
        }
        acc = _mm256_add_epi32(acc, tq1_dot16(qhv, qh_mult, qy + 240));
        const int isum = hsum_i32(acc);
        const float t = (float)isum * (h2f(x[b].d) * y[b].d);
        sumf += t;
    }
    *s = sumf;
}

/* IQ3_S . Q8_K (n,) -> *s; see tensor_ref_dot_iq3_s_q8_K. Per sub-block: the 8 codebook points
 * by one vpgatherdd (9-bit indices: qs byte | qh bit g << 8) are the 32 magnitudes in element
 * order; the sign bits move onto the activations; vpmaddubsw (at most 2 * 15 * 127 per pair),
 * then vpmaddwd by the odd scale 1 + 2s, accumulated in int32 (exact). */
void tensor_avx2_dot_iq3_s_q8_K(int64_t n, float *s, const void *vx, const void *vy) {
    const block_iq3_s *x = vx;
    const block_q8_K *y = vy;
    const __m256i hshift = _mm256_setr_epi32(8, 7, 6, 5, 4, 3, 2, 1);
    float sumf = 0.0f;
    for (int64_t b = 0; b < n / QK_K; b++) {
        __m256i acc = _mm256_setzero_si256();
        for (int ib = 0; ib < 8; ib++) {
            const __m256i lo = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(x[b].qs + 8 * ib)));
            const __m256i hi = _mm256_and_si256(
                _mm256_sllv_epi32(_mm256_set1_epi32(x[b].qh[ib]), hshift), _mm256_set1_epi32(256));
            const __m256i mag = _mm256_i32gather_epi32((const int *)tensor_iq3s_grid,
                                                       _mm256_or_si256(lo, hi), 4);
            const __m256i neg = bits_to_bytes(x[b].signs + 4 * ib);
            const __m256i qy = _mm256_loadu_si256((const __m256i *)(y[b].qs + 32 * ib));
            const __m256i sy = _mm256_sub_epi8(_mm256_xor_si256(qy, neg), neg); /* -y where set */
            const int sc = 1 + 2 * ((x[b].scales[ib / 2] >> (4 * (ib % 2))) & 0xF);
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(mag, sy),
                                                          _mm256_set1_epi16((short)sc)));
        }
        const int isum = hsum_i32(acc);
        const float t = (float)isum * (h2f(x[b].d) * y[b].d);
        sumf += t;
    }
    *s = sumf;
}
