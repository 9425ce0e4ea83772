/* gemm_avx2.c — tiled matrix products for prompt batches on AVX2 (no AVX-512): 16 weight rows
 * against the batch's tokens, 4 rows × 8 tokens per register block, every weight block unpacked
 * once per tile and reused for every token.
 *
 * Result contract (as gemm_avx512.c): y[t * ldy + r] is bit for bit what the row's reference
 * vec_dot against token t gives (dot_ref.c): the same exact int32 per (sub-)block, the same float
 * terms formed in the same order, added to the (row, token) running sum in block order.
 *
 * Layout: a vector lane is one *token*. The packed activations (tensor_gemm_pack, matmul.c) hold,
 * per group of 8 tokens and per k-group of 4 elements, the 8 tokens' 4 bytes side by side: one
 * 32-byte load is a k-group of all 8 tokens, and the per-token scale, correction and bsums pairs
 * are 8-lane vectors too. The weight row's 4 bytes of the k-group are broadcast to all lanes. So
 * the weights need no transpose: the tile holds each row's levels unpacked to one unsigned byte
 * per element in element order (Q8_0: |x| and x), plus per-row scales. A 4-row × 8-token block
 * keeps 4 integer accumulators, 4 float sums and the shared activation vector in 16 ymm
 * registers; the sums are transposed into y (8 scalar stores per row) once per K chunk.
 *
 * int8 products use vpmaddubsw (unsigned × signed bytes, pairs summed to int16 with saturation),
 * so every int16 partial sum is kept provably below 2^15:
 *   Q4_0  levels q in 0..15 (q - 8 comes back as the packed -8·Σy): |pair| ≤ 2·15·127 = 3810, so
 *         the 8 k-groups of a block add up in int16 (≤ 30480) before one vpmaddwd by 1.
 *   Q8_0  |x| (≤ 128) against y·sign(x) (vpsignb; y ≠ −128): |pair| ≤ 32512, widened at once.
 *   MXFP4 |v| (≤ 12) against y·sign(v): |pair| ≤ 3048, a block's 8 k-groups add up in int16
 *         (≤ 24384) before one vpmaddwd by 1. IQ4_NL, IQ4_XS, IQ3_S, TQ1_0, TQ2_0 take Q8_0's
 *         route (|v| ≤ 127), widened per k-group, sub-block scales by vpmulld.
 *   Q4_K  levels 0..15: a 32-element sub-block's 8 k-groups add up in int16 (≤ 30480), then one
 *         vpmaddwd by the sub-block scale (≤ 63) gives sc·Σqy in int32.
 *   Q6_K  levels q in 0..63 for q - 32: |pair| ≤ 16002, two k-groups add up in int16 (≤ 32004),
 *         then vpmaddwd by the (signed) sub-block scale; −32·Σ sc·bsums via vpmaddwd of the
 *         packed bsums pairs by scale pairs.
 * Q4_K's mins: Σ_j m_j (bsums[2j] + bsums[2j+1]) is one vpmaddwd of the bsums pair j by (m_j, m_j).
 * The integer totals are those of the reference (exact, no overflow), so the float terms —
 * (float)isum · (dx·dy), Q4_K t1 − t2 — are the reference's to the bit.
 *
 * With AVX-VNNI (the *_vnni kernels), the VEX vpdpbusd sums 4 products into int32 exactly: Q4_0
 * q and Q8_0 x + 128 start from the packed -c·Σy, K-quant sub-blocks are scaled with vpmulld.
 *
 * Built with the %_avx2.o flags (-mavx2 -mfma -mf16c); dispatch.c hands these out with the AVX2
 * set (on an AVX-512 CPU the AVX-512 kernels replace them). */
#include <assert.h>
#include <immintrin.h>
#include <stddef.h>
#include <string.h>

#include "tensor/blocks.h"
#include "tensor/levels_avx2.h"
#include "tensor/tensor_internal.h"

#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

#define GR TENSOR_GEMM_ROWS   /* rows per tile (matmul.c hands out multiples of it) */
#define RB 4                  /* rows per register block */
#define GT TENSOR_GEMM_TOKENS /* tokens per group = lanes */
#define KC 2048               /* elements per K chunk */
#define KSB (KC / QK_K)       /* super-blocks per chunk */

#define ALWAYS_INLINE static inline __attribute__((always_inline))

/* Pins an accumulator in its register at this point: without it GCC reassociates the chains of
 * integer adds into trees whose temporaries spill (Q4_0 ran at a third of its speed). */
#define KEEP(v) __asm__("" : "+x"(v))

/* acc + Σ4 u8 × s8 per dword: AVX-VNNI's VEX-encoded vpdpbusd (exact int32, no saturation).
 * Inline assembly rather than the intrinsic, so the same always-inline kernels serve both
 * variants without a target attribute; dispatch.c gives the *_vnni kernels out only after CPUID
 * (leaf 7, subleaf 1, EAX bit 4) has reported AVX-VNNI. */
static inline __m256i dpbusd(__m256i acc, __m256i u, __m256i s) {
    __asm__("%{vex%} vpdpbusd %2, %1, %0" : "+x"(acc) : "x"(u), "x"(s));
    return acc;
}

static inline float h2f(uint16_t h) { return _cvtsh_ss(h); }

static inline __m256i bcast32(const void *p) {
    int v;
    memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
}

static inline __m256i ld(const void *p) { return _mm256_loadu_si256((const __m256i *)p); }

static inline __m256 ldf(const void *p) { return _mm256_loadu_ps((const float *)p); }

/* The running sums of one row for the nt real tokens of a group (lanes past nt: padding). */
static inline __m256 load_sums(const float *y, int64_t ldy, int nt, int first) {
    _Alignas(32) float v[GT] = {0};
    if (!first)
        for (int t = 0; t < nt; t++)
            v[t] = y[t * ldy];
    return _mm256_load_ps(v);
}

static inline void store_sums(float *y, int64_t ldy, int nt, __m256 f) {
    _Alignas(32) float v[GT];
    _mm256_store_ps(v, f);
    for (int t = 0; t < nt; t++)
        y[t * ldy] = v[t];
}

/* ---- Q4_0 and Q8_0 (32-element blocks against Q8_0) ---- */

typedef struct {
    _Alignas(32) uint8_t w[GR][KC / 32][32]; /* Q4_0: q (0..15); Q8_0: |x|, element order */
    _Alignas(32) int8_t x[GR][KC / 32][32];  /* Q8_0: x (the sign source) */
    float d[GR][KC / 32];                    /* weight scales */
} tile32;

static void repack_q4_0(void *vtl, const uint8_t *w, size_t w_row, int64_t b0, int nbc) {
    tile32 *tl = vtl;
    const __m128i m4 = _mm_set1_epi8(0x0F);
    for (int r = 0; r < GR; r++) {
        const block_q4_0 *x = (const block_q4_0 *)(w + (size_t)r * w_row) + b0;
        for (int b = 0; b < nbc; b++) {
            const __m128i raw = _mm_loadu_si128((const __m128i *)x[b].qs);
            _mm_store_si128((__m128i *)tl->w[r][b], _mm_and_si128(raw, m4));
            _mm_store_si128((__m128i *)(tl->w[r][b] + 16),
                            _mm_and_si128(_mm_srli_epi16(raw, 4), m4));
            tl->d[r][b] = h2f(x[b].d);
        }
    }
}

static void repack_q8_0(void *vtl, const uint8_t *w, size_t w_row, int64_t b0, int nbc) {
    tile32 *tl = vtl;
    for (int r = 0; r < GR; r++) {
        const block_q8_0 *x = (const block_q8_0 *)(w + (size_t)r * w_row) + b0;
        for (int b = 0; b < nbc; b++) {
            const __m256i q = ld(x[b].qs);
            _mm256_store_si256((__m256i *)tl->x[r][b], q);
            _mm256_store_si256((__m256i *)tl->w[r][b], _mm256_abs_epi8(q)); /* -128 -> 0x80 */
            tl->d[r][b] = h2f(x[b].d);
        }
    }
}

/* Q8_0 for vpdpbusd: the bytes x + 128 (unsigned), -128·Σy from the pack */
static void repack_q8_0_u(void *vtl, const uint8_t *w, size_t w_row, int64_t b0, int nbc) {
    tile32 *tl = vtl;
    const __m256i bias = _mm256_set1_epi8((char)0x80);
    for (int r = 0; r < GR; r++) {
        const block_q8_0 *x = (const block_q8_0 *)(w + (size_t)r * w_row) + b0;
        for (int b = 0; b < nbc; b++) {
            _mm256_store_si256((__m256i *)tl->w[r][b], _mm256_xor_si256(ld(x[b].qs), bias));
            tl->d[r][b] = h2f(x[b].d);
        }
    }
}

/* IQ4_NL: the nibbles (Q4_0's order) are looked up in the level table; the levels (|v| ≤ 127)
 * then take Q8_0's two routes: |v| and v as the sign source (vpmaddubsw), or v + 128 with the
 * packed -128·Σy (vpdpbusd). */
static inline __m128i iq4_lut128(void) {
    return _mm_loadu_si128((const __m128i *)(const void *)tensor_iq4nl_values);
}

/* the levels of 32 nibbles (Q4_0's order: low nibbles elements 0..15, high ones 16..31) */
static inline void lut_levels32(__m128i lut, const uint8_t *qs, __m128i *lo, __m128i *hi) {
    const __m128i m4 = _mm_set1_epi8(0x0F);
    const __m128i raw = _mm_loadu_si128((const __m128i *)(const void *)qs);
    *lo = _mm_shuffle_epi8(lut, _mm_and_si128(raw, m4));
    *hi = _mm_shuffle_epi8(lut, _mm_and_si128(_mm_srli_epi16(raw, 4), m4));
}

static inline void iq4_levels32(const uint8_t *qs, __m128i *lo, __m128i *hi) {
    lut_levels32(iq4_lut128(), qs, lo, hi);
}

static void repack_iq4_nl(void *vtl, const uint8_t *w, size_t w_row, int64_t b0, int nbc) {
    tile32 *tl = vtl;
    for (int r = 0; r < GR; r++) {
        const block_iq4_nl *x = (const block_iq4_nl *)(w + (size_t)r * w_row) + b0;
        for (int b = 0; b < nbc; b++) {
            __m128i lo, hi;
            iq4_levels32(x[b].qs, &lo, &hi);
            _mm_store_si128((__m128i *)(void *)tl->x[r][b], lo);
            _mm_store_si128((__m128i *)(void *)(tl->x[r][b] + 16), hi);
            _mm_store_si128((__m128i *)(void *)tl->w[r][b], _mm_abs_epi8(lo));
            _mm_store_si128((__m128i *)(void *)(tl->w[r][b] + 16), _mm_abs_epi8(hi));
            tl->d[r][b] = h2f(x[b].d);
        }
    }
}

static void repack_iq4_nl_u(void *vtl, const uint8_t *w, size_t w_row, int64_t b0, int nbc) {
    tile32 *tl = vtl;
    const __m128i bias = _mm_set1_epi8((char)0x80);
    for (int r = 0; r < GR; r++) {
        const block_iq4_nl *x = (const block_iq4_nl *)(w + (size_t)r * w_row) + b0;
        for (int b = 0; b < nbc; b++) {
            __m128i lo, hi;
            iq4_levels32(x[b].qs, &lo, &hi);
            _mm_store_si128((__m128i *)(void *)tl->w[r][b], _mm_xor_si128(lo, bias));
            _mm_store_si128((__m128i *)(void *)(tl->w[r][b] + 16), _mm_xor_si128(hi, bias));
            tl->d[r][b] = h2f(x[b].d);
        }
    }
}

/* MXFP4: the nibbles (Q4_0's order) looked up in the doubled E2M1 levels (|v| ≤ 12), the block
 * scale 2^(e - 128) (tensor_e8m0_half) in place of a fp16 d. vpmaddubsw route: |v| against
 * y·sign(v), |pair| ≤ 2·12·127 = 3048, so a block's 8 k-groups add up in int16 (≤ 24384) before
 * one vpmaddwd by 1 (the "narrow" block); vpdpbusd route: v + 128 with the packed -128·Σy, as
 * IQ4_NL's. */
static void repack_mxfp4_gen(tile32 *tl, const uint8_t *w, size_t w_row, int64_t b0, int nbc,
                             const int vnni) {
    const __m128i lut = _mm_loadu_si128((const __m128i *)(const void *)tensor_mxfp4_values);
    const __m128i bias = _mm_set1_epi8((char)0x80);
    for (int r = 0; r < GR; r++) {
        const block_mxfp4 *x = (const block_mxfp4 *)(w + (size_t)r * w_row) + b0;
        for (int b = 0; b < nbc; b++) {
            __m128i lo, hi;
            lut_levels32(lut, x[b].qs, &lo, &hi);
            __m128i *o = (__m128i *)(void *)tl->w[r][b];
            if (vnni) {
                _mm_store_si128(o, _mm_xor_si128(lo, bias));
                _mm_store_si128(o + 1, _mm_xor_si128(hi, bias));
            } else {
                _mm_store_si128((__m128i *)(void *)tl->x[r][b], lo);
                _mm_store_si128((__m128i *)(void *)(tl->x[r][b] + 16), hi);
                _mm_store_si128(o, _mm_abs_epi8(lo));
                _mm_store_si128(o + 1, _mm_abs_epi8(hi));
            }
            tl->d[r][b] = tensor_e8m0_half(x[b].e);
        }
    }
}

static void repack_mxfp4(void *tl, const uint8_t *w, size_t w_row, int64_t b0, int nbc) {
    repack_mxfp4_gen(tl, w, w_row, b0, nbc, 0);
}

static void repack_mxfp4_u(void *tl, const uint8_t *w, size_t w_row, int64_t b0, int nbc) {
    repack_mxfp4_gen(tl, w, w_row, b0, nbc, 1);
}

/* RB rows (from r0) against one group of 8 tokens over a chunk of nbc blocks. ap: the group's
 * packed record of the chunk's first block; y: output of (token 0, row r0). q8: Q8_0 weights
 * (signed), else Q4_0. vnni: vpdpbusd of the unsigned levels (Q4_0 q, Q8_0 x + 128) from the packed
 * correction -c·Σy on (both formats alike). */
ALWAYS_INLINE void q32_block(const tile32 *tl, int r0, int nbc, const uint8_t *ap, float *y,
                             int64_t ldy, int nt, int first, const int q8, const int vnni,
                             const int narrow) {
    const __m256i ones = _mm256_set1_epi16(1);
    __m256 f[RB];
#pragma GCC unroll 4
    for (int r = 0; r < RB; r++)
        f[r] = load_sums(y + r, ldy, nt, first);
    for (int b = 0; b < nbc; b++, ap += TENSOR_GEMM_PACK32) {
        __m256i acc[RB];
        const __m256i nc = ld(ap + 288); /* -c * sum(qs) */
#pragma GCC unroll 4
        for (int r = 0; r < RB; r++)
            acc[r] = vnni ? nc : _mm256_setzero_si256();
#pragma GCC unroll 8
        for (int g = 0; g < 8; g++) {
            const __m256i av = ld(ap + 32 * g);
#pragma GCC unroll 4
            for (int r = 0; r < RB; r++) {
                if (vnni) {
                    acc[r] = dpbusd(acc[r], bcast32(tl->w[r0 + r][b] + 4 * g), av);
                } else if (q8) {
                    const __m256i sy = _mm256_sign_epi8(av, bcast32(tl->x[r0 + r][b] + 4 * g));
                    const __m256i p = _mm256_maddubs_epi16(bcast32(tl->w[r0 + r][b] + 4 * g), sy);
                    acc[r] = narrow ? _mm256_add_epi16(acc[r], p)
                                    : _mm256_add_epi32(acc[r], _mm256_madd_epi16(p, ones));
                } else {
                    acc[r] = _mm256_add_epi16(
                        acc[r], _mm256_maddubs_epi16(bcast32(tl->w[r0 + r][b] + 4 * g), av));
                }
                KEEP(acc[r]);
            }
        }
        const __m256 dy = ldf(ap + 256);
#pragma GCC unroll 4
        for (int r = 0; r < RB; r++) {
            const __m256i isum = vnni || (q8 && !narrow) ? acc[r]
                                 : q8 ? _mm256_madd_epi16(acc[r], ones)
                                      : _mm256_add_epi32(_mm256_madd_epi16(acc[r], ones), nc);
            const __m256 dd = _mm256_mul_ps(_mm256_set1_ps(tl->d[r0 + r][b]), dy);
            const __m256 term = _mm256_mul_ps(_mm256_cvtepi32_ps(isum), dd);
            f[r] = _mm256_add_ps(f[r], term);
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < RB; r++)
        store_sums(y + r, ldy, nt, f[r]);
}

#define Q32_BLOCK(NAME, Q8, VNNI, NARROW)                                                          \
    static void NAME(const void *tl, int r0, int nbc, const uint8_t *ap, float *y, int64_t ldy,   \
                     int nt, int first) {                                                          \
        q32_block((const tile32 *)tl, r0, nbc, ap, y, ldy, nt, first, Q8, VNNI, NARROW);           \
    }
Q32_BLOCK(q4_0_block, 0, 0, 0)
Q32_BLOCK(q8_0_block, 1, 0, 0)
Q32_BLOCK(narrow_block, 1, 0, 1) /* signed levels |v| <= 12 (MXFP4) */
Q32_BLOCK(q4_0_block_vnni, 0, 1, 0)
Q32_BLOCK(q8_0_block_vnni, 1, 1, 0)

/* Repacks K units c0 .. c0+nc-1 (blocks or super-blocks) of a GR-row tile into tl / computes
 * one RB-row register block of the tile against one token group (first: the K chunk starting
 * the rows' sums). tl is the format's tile (tile32 or tilek). */
typedef void (*repack_fn)(void *tl, const uint8_t *w, size_t w_row, int64_t c0, int nc);
typedef void (*block_fn)(const void *tl, int r0, int nc, const uint8_t *ap, float *y,
                         int64_t ldy, int nt, int first);

/* The tile loop of every format: per GR-row tile and K chunk of `chunk` units (n_units in a
 * row, unit_pack packed activation bytes per unit and token group), repack once, then every
 * token group and register block. */
static void gemm_tiles(void *tl, repack_fn repack, block_fn block, int64_t n_units, int chunk,
                       size_t unit_pack, int n_rows, int n_tok, float *y, int64_t ldy,
                       const void *w, size_t w_row, const void *pack) {
    assert(n_rows % GR == 0);
    const size_t gstride = (size_t)n_units * unit_pack;
    for (int r0 = 0; r0 < n_rows; r0 += GR) {
        const uint8_t *wt = (const uint8_t *)w + (size_t)r0 * w_row;
        for (int64_t c0 = 0; c0 < n_units; c0 += chunk) {
            const int nc = (int)(n_units - c0 < chunk ? n_units - c0 : chunk);
            repack(tl, wt, w_row, c0, nc);
            const uint8_t *ap = (const uint8_t *)pack + (size_t)c0 * unit_pack;
            for (int t0 = 0; t0 < n_tok; t0 += GT, ap += gstride) {
                const int nt = n_tok - t0 < GT ? n_tok - t0 : GT;
                for (int rb = 0; rb < GR; rb += RB)
                    block(tl, rb, nc, ap, y + t0 * ldy + r0 + rb, ldy, nt, c0 == 0);
            }
        }
    }
}

static void gemm_q32(repack_fn repack, block_fn block, int64_t n_in, int n_rows, int n_tok,
                     float *y, int64_t ldy, const void *w, size_t w_row, const void *pack) {
    _Static_assert(sizeof(tile32) <= TENSOR_TILE_BYTES, "the shared tile arena holds it");
    tile32 *const tl = tensor_tile_tls();
    gemm_tiles(tl, repack, block, n_in / QK8_0, KC / 32, TENSOR_GEMM_PACK32, n_rows, n_tok, y,
               ldy, w, w_row, pack);
}

void tensor_avx2_gemm_q4_0(int64_t n_in, int n_rows, int n_tok, float *y, int64_t ldy,
                           const void *w, size_t w_row, const void *pack) {
    gemm_q32(repack_q4_0, q4_0_block, n_in, n_rows, n_tok, y, ldy, w, w_row, pack);
}

void tensor_avx2_gemm_q8_0(int64_t n_in, int n_rows, int n_tok, float *y, int64_t ldy,
                           const void *w, size_t w_row, const void *pack) {
    gemm_q32(repack_q8_0, q8_0_block, n_in, n_rows, n_tok, y, ldy, w, w_row, pack);
}

void tensor_avx2_gemm_q4_0_vnni(int64_t n_in, int n_rows, int n_tok, float *y, int64_t ldy,
                                const void *w, size_t w_row, const void *pack) {
    gemm_q32(repack_q4_0, q4_0_block_vnni, n_in, n_rows, n_tok, y, ldy, w, w_row, pack);
}

void tensor_avx2_gemm_q8_0_vnni(int64_t n_in, int n_rows, int n_tok, float *y, int64_t ldy,
                                const void *w, size_t w_row, const void *pack) {
    gemm_q32(repack_q8_0_u, q8_0_block_vnni, n_in, n_rows, n_tok, y, ldy, w, w_row, pack);
}

void tensor_avx2_gemm_iq4_nl(int64_t n_in, int n_rows, int n_tok, float *y, int64_t ldy,
                             const void *w, size_t w_row, const void *pack) {
    gemm_q32(repack_iq4_nl, q8_0_block, n_in, n_rows, n_tok, y, ldy, w, w_row, pack);
}

void tensor_avx2_gemm_iq4_nl_vnni(int64_t n_in, int n_rows, int n_tok, float *y, int64_t ldy,
                                  const void *w, size_t w_row, const void *pack) {
    gemm_q32(repack_iq4_nl_u, q8_0_block_vnni, n_in, n_rows, n_tok, y, ldy, w, w_row, pack);
}

void tensor_avx2_gemm_mxfp4(int64_t n_in, int n_rows, int n_tok, float *y, int64_t ldy,
                            const void *w, size_t w_row, const void *pack) {
    gemm_q32(repack_mxfp4, narrow_block, n_in, n_rows, n_tok, y, ldy, w, w_row, pack);
}

void tensor_avx2_gemm_mxfp4_vnni(int64_t n_in, int n_rows, int n_tok, float *y, int64_t ldy,
                                 const void *w, size_t w_row, const void *pack) {
    gemm_q32(repack_mxfp4_u, q8_0_block_vnni, n_in, n_rows, n_tok, y, ldy, w, w_row, pack);
}

/* ---- K-quants (256-element super-blocks against Q8_K) ---- */

typedef struct {
    _Alignas(32) uint8_t w[GR][KSB][QK_K]; /* unsigned levels, element order */
    uint32_t sc[GR][KSB][16]; /* per sub-block (sc, sc) as int16 pairs (Q4_K: 8 used) */
    uint32_t mp[GR][KSB][8];  /* against bsums pair p: Q4_K (m_p, m_p); Q6_K (sc_2p, sc_2p+1) */
    int32_t sc32[GR][KSB][16]; /* per sub-block scale as int32 (the vpdpbusd variant) */
    float d[GR][KSB], dmin[GR][KSB];
} tilek;

static inline uint32_t pair16(int lo, int hi) {
    return (uint32_t)(uint16_t)(int16_t)lo | ((uint32_t)(uint16_t)(int16_t)hi << 16);
}

static void repack_q4_K(void *vtl, const uint8_t *w, size_t w_row, int64_t s0, int nsc) {
    tilek *tl = vtl;
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    for (int r = 0; r < GR; r++) {
        const block_q4_K *x = (const block_q4_K *)(w + (size_t)r * w_row) + s0;
        for (int s = 0; s < nsc; s++) {
            uint8_t *o = tl->w[r][s];
            for (int c = 0; c < 4; c++) { /* qs[32c + l]: elements 64c + l, 64c + 32 + l */
                const __m256i q = ld(x[s].qs + 32 * c);
                _mm256_store_si256((__m256i *)(o + 64 * c), _mm256_and_si256(q, m4));
                _mm256_store_si256((__m256i *)(o + 64 * c + 32),
                                   _mm256_and_si256(_mm256_srli_epi16(q, 4), m4));
            }
            for (int j = 0; j < 8; j++) {
                uint8_t sc, m;
                tensor_k4_scale_min(j, x[s].scales, &sc, &m);
                tl->sc[r][s][j] = pair16(sc, sc);
                tl->sc32[r][s][j] = sc;
                tl->mp[r][s][j] = pair16(m, m);
            }
            tl->d[r][s] = h2f(x[s].d);
            tl->dmin[r][s] = h2f(x[s].dmin);
        }
    }
}

static void repack_q6_K(void *vtl, const uint8_t *w, size_t w_row, int64_t s0, int nsc) {
    tilek *tl = vtl;
    const __m256i m4 = _mm256_set1_epi8(0x0F), m30 = _mm256_set1_epi8(0x30);
    for (int r = 0; r < GR; r++) {
        const block_q6_K *x = (const block_q6_K *)(w + (size_t)r * w_row) + s0;
        for (int s = 0; s < nsc; s++) {
            for (int h = 0; h < 2; h++) { /* element 128h + 32k + l (blocks.h) */
                const __m256i la = ld(x[s].ql + 64 * h), lb = ld(x[s].ql + 64 * h + 32);
                const __m256i hb = ld(x[s].qh + 32 * h);
                __m256i *o = (__m256i *)(tl->w[r][s] + 128 * h);
                _mm256_store_si256(o, _mm256_or_si256(_mm256_and_si256(la, m4),
                                                      _mm256_and_si256(_mm256_slli_epi16(hb, 4), m30)));
                _mm256_store_si256(o + 1, _mm256_or_si256(_mm256_and_si256(lb, m4),
                                                          _mm256_and_si256(_mm256_slli_epi16(hb, 2), m30)));
                _mm256_store_si256(o + 2,
                                   _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(la, 4), m4),
                                                   _mm256_and_si256(hb, m30)));
                _mm256_store_si256(o + 3,
                                   _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(lb, 4), m4),
                                                   _mm256_and_si256(_mm256_srli_epi16(hb, 2), m30)));
            }
            for (int k = 0; k < 16; k++) {
                tl->sc[r][s][k] = pair16(x[s].scales[k], x[s].scales[k]);
                tl->sc32[r][s][k] = x[s].scales[k];
            }
            for (int p = 0; p < 8; p++)
                tl->mp[r][s][p] = pair16(x[s].scales[2 * p], x[s].scales[2 * p + 1]);
            tl->d[r][s] = h2f(x[s].d);
        }
    }
}

/* mn[r] = Σ_p mp[p] · (bsums pair p) per token, for RB rows of super-block s */
ALWAYS_INLINE void k_bsum_terms(const tilek *tl, int r0, int s, const uint8_t *ap, __m256i *mn) {
#pragma GCC unroll 4
    for (int r = 0; r < RB; r++)
        mn[r] = _mm256_setzero_si256();
#pragma GCC unroll 8
    for (int p = 0; p < 8; p++) {
        const __m256i bv = ld(ap + 2048 + 32 * p);
#pragma GCC unroll 4
        for (int r = 0; r < RB; r++) {
            mn[r] = _mm256_add_epi32(mn[r], _mm256_madd_epi16(bv, bcast32(&tl->mp[r0 + r][s][p])));
            KEEP(mn[r]);
        }
    }
}

/* Q4_K: isum = Σ_j sc_j Σ_{sub-block j} q y, imin = Σ_j m_j (bsums[2j] + bsums[2j+1]),
 * sum += (float)isum * (d * dy) - (float)imin * (dmin * dy). */
ALWAYS_INLINE void q4_K_gen(const tilek *tl, int r0, int nsc, const uint8_t *ap, float *y,
                            int64_t ldy, int nt, int first, const int vnni) {
    __m256 f[RB];
#pragma GCC unroll 4
    for (int r = 0; r < RB; r++)
        f[r] = load_sums(y + r, ldy, nt, first);
    for (int s = 0; s < nsc; s++, ap += TENSOR_GEMM_PACKK) {
        __m256i tot[RB], acc[RB];
#pragma GCC unroll 4
        for (int r = 0; r < RB; r++)
            tot[r] = _mm256_setzero_si256();
        for (int j = 0; j < 8; j++) {
#pragma GCC unroll 4
            for (int r = 0; r < RB; r++)
                acc[r] = _mm256_setzero_si256();
#pragma GCC unroll 8
            for (int g = 0; g < 8; g++) {
                const __m256i av = ld(ap + 32 * (8 * j + g));
#pragma GCC unroll 4
                for (int r = 0; r < RB; r++) {
                    const __m256i wv = bcast32(tl->w[r0 + r][s] + 32 * j + 4 * g);
                    acc[r] = vnni ? dpbusd(acc[r], wv, av)
                                  : _mm256_add_epi16(acc[r], _mm256_maddubs_epi16(wv, av));
                    KEEP(acc[r]);
                }
            }
#pragma GCC unroll 4
            for (int r = 0; r < RB; r++) {
                const __m256i sub =
                    vnni ? _mm256_mullo_epi32(acc[r], bcast32(&tl->sc32[r0 + r][s][j]))
                         : _mm256_madd_epi16(acc[r], bcast32(&tl->sc[r0 + r][s][j]));
                tot[r] = _mm256_add_epi32(tot[r], sub);
                KEEP(tot[r]);
            }
        }
        k_bsum_terms(tl, r0, s, ap, acc);
        const __m256 dy = ldf(ap + 2304);
#pragma GCC unroll 4
        for (int r = 0; r < RB; r++) {
            const __m256 t1 = _mm256_mul_ps(_mm256_cvtepi32_ps(tot[r]),
                                            _mm256_mul_ps(_mm256_set1_ps(tl->d[r0 + r][s]), dy));
            const __m256 t2 = _mm256_mul_ps(_mm256_cvtepi32_ps(acc[r]),
                                            _mm256_mul_ps(_mm256_set1_ps(tl->dmin[r0 + r][s]), dy));
            f[r] = _mm256_add_ps(f[r], _mm256_sub_ps(t1, t2));
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < RB; r++)
        store_sums(y + r, ldy, nt, f[r]);
}

/* Q6_K: isum = Σ_k sc_k Σ_{sub-block k} q y - 32 Σ_k sc_k bsums_k (levels 0..63),
 * sum += (float)isum * (d * dy). */
ALWAYS_INLINE void q6_K_gen(const tilek *tl, int r0, int nsc, const uint8_t *ap, float *y,
                            int64_t ldy, int nt, int first, const int vnni) {
    __m256 f[RB];
#pragma GCC unroll 4
    for (int r = 0; r < RB; r++)
        f[r] = load_sums(y + r, ldy, nt, first);
    for (int s = 0; s < nsc; s++, ap += TENSOR_GEMM_PACKK) {
        __m256i tot[RB], mn[RB];
#pragma GCC unroll 4
        for (int r = 0; r < RB; r++)
            tot[r] = _mm256_setzero_si256();
        for (int k = 0; k < 16; k++) {
            if (vnni) { /* the sub-block's 4 k-groups in int32, then its scale */
                __m256i acc[RB];
#pragma GCC unroll 4
                for (int r = 0; r < RB; r++)
                    acc[r] = _mm256_setzero_si256();
#pragma GCC unroll 4
                for (int g = 4 * k; g < 4 * k + 4; g++) {
                    const __m256i av = ld(ap + 32 * g);
#pragma GCC unroll 4
                    for (int r = 0; r < RB; r++) {
                        acc[r] = dpbusd(acc[r], bcast32(tl->w[r0 + r][s] + 4 * g), av);
                        KEEP(acc[r]);
                    }
                }
#pragma GCC unroll 4
                for (int r = 0; r < RB; r++) {
                    tot[r] = _mm256_add_epi32(
                        tot[r], _mm256_mullo_epi32(acc[r], bcast32(&tl->sc32[r0 + r][s][k])));
                    KEEP(tot[r]);
                }
                continue;
            }
#pragma GCC unroll 2
            for (int h = 0; h < 2; h++) { /* k-groups 4k + 2h and 4k + 2h + 1 */
                const int g = 4 * k + 2 * h;
                const __m256i a0 = ld(ap + 32 * g), a1 = ld(ap + 32 * (g + 1));
#pragma GCC unroll 4
                for (int r = 0; r < RB; r++) {
                    const uint8_t *wr = tl->w[r0 + r][s] + 4 * g;
                    const __m256i p = _mm256_add_epi16(_mm256_maddubs_epi16(bcast32(wr), a0),
                                                       _mm256_maddubs_epi16(bcast32(wr + 4), a1));
                    tot[r] = _mm256_add_epi32(tot[r],
                                              _mm256_madd_epi16(p, bcast32(&tl->sc[r0 + r][s][k])));
                    KEEP(tot[r]);
                }
            }
        }
        k_bsum_terms(tl, r0, s, ap, mn);
        const __m256 dy = ldf(ap + 2304);
#pragma GCC unroll 4
        for (int r = 0; r < RB; r++) {
            const __m256i isum = _mm256_sub_epi32(tot[r], _mm256_slli_epi32(mn[r], 5));
            const __m256 term = _mm256_mul_ps(_mm256_cvtepi32_ps(isum),
                                              _mm256_mul_ps(_mm256_set1_ps(tl->d[r0 + r][s]), dy));
            f[r] = _mm256_add_ps(f[r], term);
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < RB; r++)
        store_sums(y + r, ldy, nt, f[r]);
}

#define K_BLOCK(NAME, GEN, VNNI)                                                                   \
    static void NAME(const void *tl, int r0, int nsc, const uint8_t *ap, float *y, int64_t ldy,   \
                     int nt, int first) {                                                          \
        GEN((const tilek *)tl, r0, nsc, ap, y, ldy, nt, first, VNNI);                              \
    }
K_BLOCK(q4_K_block, q4_K_gen, 0)
K_BLOCK(q6_K_block, q6_K_gen, 0)
K_BLOCK(q4_K_block_vnni, q4_K_gen, 1)
K_BLOCK(q6_K_block_vnni, q6_K_gen, 1)

static void gemm_k(repack_fn repack, block_fn block, int64_t n_in, int n_rows, int n_tok,
                   float *y, int64_t ldy, const void *w, size_t w_row, const void *pack) {
    _Static_assert(sizeof(tilek) <= TENSOR_TILE_BYTES, "the shared tile arena holds it");
    tilek *const tl = tensor_tile_tls();
    gemm_tiles(tl, repack, block, n_in / QK_K, KSB, TENSOR_GEMM_PACKK, n_rows, n_tok, y, ldy, w,
               w_row, pack);
}

void tensor_avx2_gemm_q4_K(int64_t n_in, int n_rows, int n_tok, float *y, int64_t ldy,
                           const void *w, size_t w_row, const void *pack) {
    gemm_k(repack_q4_K, q4_K_block, n_in, n_rows, n_tok, y, ldy, w, w_row, pack);
}

void tensor_avx2_gemm_q6_K(int64_t n_in, int n_rows, int n_tok, float *y, int64_t ldy,
                           const void *w, size_t w_row, const void *pack) {
    gemm_k(repack_q6_K, q6_K_block, n_in, n_rows, n_tok, y, ldy, w, w_row, pack);
}

void tensor_avx2_gemm_q4_K_vnni(int64_t n_in, int n_rows, int n_tok, float *y, int64_t ldy,
                                const void *w, size_t w_row, const void *pack) {
    gemm_k(repack_q4_K, q4_K_block_vnni, n_in, n_rows, n_tok, y, ldy, w, w_row, pack);
}

void tensor_avx2_gemm_q6_K_vnni(int64_t n_in, int n_rows, int n_tok, float *y, int64_t ldy,
                                const void *w, size_t w_row, const void *pack) {
    gemm_k(repack_q6_K, q6_K_block_vnni, n_in, n_rows, n_tok, y, ldy, w, w_row, pack);
}

/* ---- IQ4_XS (256-element super-blocks against Q8_K) ----
 * Levels |v| ≤ 127 with a signed 6-bit sub-block scale ls - 32. vpmaddubsw route: |v| against
 * y·sign(v) (|pair| ≤ 2·127·127, widened per k-group), a sub-block's 8 k-groups in int32, times
 * its scale (vpmulld). vpdpbusd route: v + 128 per sub-block, times the scale, and -128 Σ_j sc_j
 * (bsums[2j] + bsums[2j+1]) through the bsums pairs (sc_j, sc_j). Either total is the
 * reference's exact isum; sum += (float)isum * (d * dy). */
typedef struct {
    _Alignas(32) uint8_t w[GR][KSB][QK_K]; /* |v| (or v + 128), element order */
    _Alignas(32) int8_t x[GR][KSB][QK_K];  /* v: the sign source */
    int32_t sc[GR][KSB][8];                 /* ls - 32 */
    uint32_t mp[GR][KSB][8];                /* (ls - 32, ls - 32) as int16 pairs */
    float d[GR][KSB];
} tilexs;

static void repack_iq4_xs_gen(tilexs *tl, const uint8_t *w, size_t w_row, int64_t s0, int nsc,
                              const int vnni) {
    const __m128i bias = _mm_set1_epi8((char)0x80);
    for (int r = 0; r < GR; r++) {
        const block_iq4_xs *x = (const block_iq4_xs *)(w + (size_t)r * w_row) + s0;
        for (int s = 0; s < nsc; s++) {
            for (int j = 0; j < 8; j++) {
                __m128i lo, hi;
                iq4_levels32(x[s].qs + 16 * j, &lo, &hi);
                __m128i *o = (__m128i *)(void *)(tl->w[r][s] + 32 * j);
                if (vnni) {
                    _mm_store_si128(o, _mm_xor_si128(lo, bias));
                    _mm_store_si128(o + 1, _mm_xor_si128(hi, bias));
                } else {
                    __m128i *ox = (__m128i *)(void *)(tl->x[r][s] + 32 * j);
                    _mm_store_si128(ox, lo);
                    _mm_store_si128(ox + 1, hi);
                    _mm_store_si128(o, _mm_abs_epi8(lo));
                    _mm_store_si128(o + 1, _mm_abs_epi8(hi));
                }
                const int ls = ((x[s].scales_l[j / 2] >> (4 * (j % 2))) & 0xF) |
                               (((x[s].scales_h >> (2 * j)) & 3) << 4);
                tl->sc[r][s][j] = ls - 32;
                tl->mp[r][s][j] = pair16(ls - 32, ls - 32);
            }
            tl->d[r][s] = h2f(x[s].d);
        }
    }
}

static void repack_iq4_xs(void *tl, const uint8_t *w, size_t w_row, int64_t s0, int nsc) {
    repack_iq4_xs_gen(tl, w, w_row, s0, nsc, 0);
}

static void repack_iq4_xs_u(void *tl, const uint8_t *w, size_t w_row, int64_t s0, int nsc) {
    repack_iq4_xs_gen(tl, w, w_row, s0, nsc, 1);
}

ALWAYS_INLINE void iq4_xs_gen(const tilexs *tl, int r0, int nsc, const uint8_t *ap, float *y,
                              int64_t ldy, int nt, int first, const int vnni, const int shift) {
    const __m256i ones = _mm256_set1_epi16(1);
    __m256 f[RB];
#pragma GCC unroll 4
    for (int r = 0; r < RB; r++)
        f[r] = load_sums(y + r, ldy, nt, first);
    for (int s = 0; s < nsc; s++, ap += TENSOR_GEMM_PACKK) {
        __m256i tot[RB], acc[RB];
#pragma GCC unroll 4
        for (int r = 0; r < RB; r++)
            tot[r] = _mm256_setzero_si256();
        for (int j = 0; j < 8; j++) {
#pragma GCC unroll 4
            for (int r = 0; r < RB; r++)
                acc[r] = _mm256_setzero_si256();
#pragma GCC unroll 8
            for (int g = 0; g < 8; g++) {
                const __m256i av = ld(ap + 32 * (8 * j + g));
#pragma GCC unroll 4
                for (int r = 0; r < RB; r++) {
                    const __m256i wv = bcast32(tl->w[r0 + r][s] + 32 * j + 4 * g);
                    if (vnni) {
                        acc[r] = dpbusd(acc[r], wv, av);
                    } else {
                        const __m256i sy =
                            _mm256_sign_epi8(av, bcast32(tl->x[r0 + r][s] + 32 * j + 4 * g));
                        acc[r] = _mm256_add_epi32(
                            acc[r], _mm256_madd_epi16(_mm256_maddubs_epi16(wv, sy), ones));
                    }
                    KEEP(acc[r]);
                }
            }
#pragma GCC unroll 4
            for (int r = 0; r < RB; r++) {
                tot[r] = _mm256_add_epi32(tot[r],
                                          _mm256_mullo_epi32(acc[r], bcast32(&tl->sc[r0 + r][s][j])));
                KEEP(tot[r]);
            }
        }
        if (vnni) { /* the bias: -128 Σ_j sc_j (bsums[2j] + bsums[2j+1]) */
#pragma GCC unroll 4
            for (int r = 0; r < RB; r++)
                acc[r] = _mm256_setzero_si256();
#pragma GCC unroll 8
            for (int p = 0; p < 8; p++) {
                const __m256i bv = ld(ap + 2048 + 32 * p);
#pragma GCC unroll 4
                for (int r = 0; r < RB; r++) {
                    acc[r] = _mm256_add_epi32(acc[r],
                                              _mm256_madd_epi16(bv, bcast32(&tl->mp[r0 + r][s][p])));
                    KEEP(acc[r]);
                }
            }
#pragma GCC unroll 4
            for (int r = 0; r < RB; r++)
                tot[r] = _mm256_sub_epi32(tot[r], _mm256_slli_epi32(acc[r], shift));
        }
        const __m256 dy = ldf(ap + 2304);
#pragma GCC unroll 4
        for (int r = 0; r < RB; r++) {
            const __m256 term = _mm256_mul_ps(_mm256_cvtepi32_ps(tot[r]),
                                              _mm256_mul_ps(_mm256_set1_ps(tl->d[r0 + r][s]), dy));
            f[r] = _mm256_add_ps(f[r], term);
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < RB; r++)
        store_sums(y + r, ldy, nt, f[r]);
}

static void iq4_xs_block(const void *tl, int r0, int nsc, const uint8_t *ap, float *y, int64_t ldy,
                         int nt, int first) {
    iq4_xs_gen((const tilexs *)tl, r0, nsc, ap, y, ldy, nt, first, 0, 7);
}

static void iq4_xs_block_vnni(const void *tl, int r0, int nsc, const uint8_t *ap, float *y,
                              int64_t ldy, int nt, int first) {
    iq4_xs_gen((const tilexs *)tl, r0, nsc, ap, y, ldy, nt, first, 1, 7);
}

/* TQ2_0 through the same steps: levels q in 0..3 for q - 1, every sub-block scale 1. vpmaddubsw
 * route: v = q - 1 (|v| and its sign); vpdpbusd route: q itself and the bias Σy (shift 0) through
 * bsums pairs (1, 1). Element 128c + 32l + m is bit pair l of qs[32c + m]. */
static void repack_tq2_0_gen(tilexs *tl, const uint8_t *w, size_t w_row, int64_t s0, int nsc,
                             const int vnni) {
    const __m256i m3 = _mm256_set1_epi8(3), one8 = _mm256_set1_epi8(1);
    for (int r = 0; r < GR; r++) {
        const block_tq2_0 *x = (const block_tq2_0 *)(w + (size_t)r * w_row) + s0;
        for (int s = 0; s < nsc; s++) {
            for (int c = 0; c < 2; c++) {
                const __m256i raw = ld(x[s].qs + 32 * c);
                for (int l = 0; l < 4; l++) {
                    const __m256i q = _mm256_and_si256(_mm256_srli_epi16(raw, 2 * l), m3);
                    __m256i *o = (__m256i *)(void *)(tl->w[r][s] + 128 * c + 32 * l);
                    if (vnni) {
                        _mm256_store_si256(o, q);
                    } else {
                        const __m256i v = _mm256_sub_epi8(q, one8);
                        _mm256_store_si256((__m256i *)(void *)(tl->x[r][s] + 128 * c + 32 * l), v);
                        _mm256_store_si256(o, _mm256_abs_epi8(v));
                    }
                }
            }
            for (int j = 0; j < 8; j++) {
                tl->sc[r][s][j] = 1;
                tl->mp[r][s][j] = pair16(1, 1);
            }
            tl->d[r][s] = h2f(x[s].d);
        }
    }
}

static void repack_tq2_0(void *tl, const uint8_t *w, size_t w_row, int64_t s0, int nsc) {
    repack_tq2_0_gen(tl, w, w_row, s0, nsc, 0);
}

static void repack_tq2_0_u(void *tl, const uint8_t *w, size_t w_row, int64_t s0, int nsc) {
    repack_tq2_0_gen(tl, w, w_row, s0, nsc, 1);
}

static void tq2_0_block_vnni(const void *tl, int r0, int nsc, const uint8_t *ap, float *y,
                             int64_t ldy, int nt, int first) {
    iq4_xs_gen((const tilexs *)tl, r0, nsc, ap, y, ldy, nt, first, 1, 0);
}

/* IQ3_S through the same steps: sub-block ib's 32 signed magnitudes v (odd, |v| ≤ 15) from 8
 * codebook points (k-group g is point g: one gathered dword) and 32 sign bits, its scale 1 + 2s
 * (1..31). vpmaddubsw route: |v| against y·sign(v); vpdpbusd route: v + 128, the bias
 * -128 Σ_j sc_j Σ y through the bsums pairs (sc_j, sc_j). */
static void repack_iq3_s_gen(tilexs *tl, const uint8_t *w, size_t w_row, int64_t s0, int nsc,
                             const int vnni) {
    const __m256i bias = _mm256_set1_epi8((char)0x80);
    for (int r = 0; r < GR; r++) {
        const block_iq3_s *x = (const block_iq3_s *)(w + (size_t)r * w_row) + s0;
        for (int s = 0; s < nsc; s++) {
            for (int j = 0; j < 8; j++) {
                const __m256i v = iq3_s_levels32(&x[s], j);
                __m256i *o = (__m256i *)(void *)(tl->w[r][s] + 32 * j);
                if (vnni) {
                    _mm256_store_si256(o, _mm256_xor_si256(v, bias));
                } else {
                    _mm256_store_si256((__m256i *)(void *)(tl->x[r][s] + 32 * j), v);
                    _mm256_store_si256(o, _mm256_abs_epi8(v));
                }
                const int sc = 1 + 2 * ((x[s].scales[j / 2] >> (4 * (j % 2))) & 0xF);
                tl->sc[r][s][j] = sc;
                tl->mp[r][s][j] = pair16(sc, sc);
            }
            tl->d[r][s] = h2f(x[s].d);
        }
    }
}

static void repack_iq3_s(void *tl, const uint8_t *w, size_t w_row, int64_t s0, int nsc) {
    repack_iq3_s_gen(tl, w, w_row, s0, nsc, 0);
}

static void repack_iq3_s_u(void *tl, const uint8_t *w, size_t w_row, int64_t s0, int nsc) {
    repack_iq3_s_gen(tl, w, w_row, s0, nsc, 1);
}

/* TQ1_0 as TQ2_0: trits t in 0..2 for t - 1 (levels_avx2.h), every sub-block scale 1. */
static void repack_tq1_0_gen(tilexs *tl, const uint8_t *w, size_t w_row, int64_t s0, int nsc,
                             const int vnni) {
    const __m256i one8 = _mm256_set1_epi8(1);
    for (int r = 0; r < GR; r++) {
        const block_tq1_0 *x = (const block_tq1_0 *)(w + (size_t)r * w_row) + s0;
        for (int s = 0; s < nsc; s++) {
            tq1_0_levels256(&x[s], tl->w[r][s]);
            if (!vnni)
                for (int k = 0; k < QK_K; k += 32) {
                    __m256i *o = (__m256i *)(void *)(tl->w[r][s] + k);
                    const __m256i v = _mm256_sub_epi8(_mm256_load_si256(o), one8);
                    _mm256_store_si256((__m256i *)(void *)(tl->x[r][s] + k), v);
                    _mm256_store_si256(o, _mm256_abs_epi8(v));
                }
            for (int j = 0; j < 8; j++) {
                tl->sc[r][s][j] = 1;
                tl->mp[r][s][j] = pair16(1, 1);
            }
            tl->d[r][s] = h2f(x[s].d);
        }
    }
}

static void repack_tq1_0(void *tl, const uint8_t *w, size_t w_row, int64_t s0, int nsc) {
    repack_tq1_0_gen(tl, w, w_row, s0, nsc, 0);
}

static void repack_tq1_0_u(void *tl, const uint8_t *w, size_t w_row, int64_t s0, int nsc) {
    repack_tq1_0_gen(tl, w, w_row, s0, nsc, 1);
}

static void gemm_xs(repack_fn repack, block_fn block, int64_t n_in, int n_rows, int n_tok,
                    float *y, int64_t ldy, const void *w, size_t w_row, const void *pack) {
    _Static_assert(sizeof(tilexs) <= TENSOR_TILE_BYTES, "the shared tile arena holds it");
    tilexs *const tl = tensor_tile_tls();
    gemm_tiles(tl, repack, block, n_in / QK_K, KSB, TENSOR_GEMM_PACKK, n_rows, n_tok, y, ldy, w,
               w_row, pack);
}

void tensor_avx2_gemm_iq4_xs(int64_t n_in, int n_rows, int n_tok, float *y, int64_t ldy,
                             const void *w, size_t w_row, const void *pack) {
    gemm_xs(repack_iq4_xs, iq4_xs_block, n_in, n_rows, n_tok, y, ldy, w, w_row, pack);
}

void tensor_avx2_gemm_iq4_xs_vnni(int64_t n_in, int n_rows, int n_tok, float *y, int64_t ldy,
                                  const void *w, size_t w_row, const void *pack) {
    gemm_xs(repack_iq4_xs_u, iq4_xs_block_vnni, n_in, n_rows, n_tok, y, ldy, w, w_row, pack);
}

void tensor_avx2_gemm_tq2_0(int64_t n_in, int n_rows, int n_tok, float *y, int64_t ldy,
                            const void *w, size_t w_row, const void *pack) {
    gemm_xs(repack_tq2_0, iq4_xs_block, n_in, n_rows, n_tok, y, ldy, w, w_row, pack);
}

void tensor_avx2_gemm_tq2_0_vnni(int64_t n_in, int n_rows, int n_tok, float *y, int64_t ldy,
                                 const void *w, size_t w_row, const void *pack) {
    gemm_xs(repack_tq2_0_u, tq2_0_block_vnni, n_in, n_rows, n_tok, y, ldy, w, w_row, pack);
}

void tensor_avx2_gemm_iq3_s(int64_t n_in, int n_rows, int n_tok, float *y, int64_t ldy,
                            const void *w, size_t w_row, const void *pack) {
    gemm_xs(repack_iq3_s, iq4_xs_block, n_in, n_rows, n_tok, y, ldy, w, w_row, pack);
}

void tensor_avx2_gemm_iq3_s_vnni(int64_t n_in, int n_rows, int n_tok, float *y, int64_t ldy,
                                 const void *w, size_t w_row, const void *pack) {
    gemm_xs(repack_iq3_s_u, iq4_xs_block_vnni, n_in, n_rows, n_tok, y, ldy, w, w_row, pack);
}

void tensor_avx2_gemm_tq1_0(int64_t n_in, int n_rows, int n_tok, float *y, int64_t ldy,
                            const void *w, size_t w_row, const void *pack) {
    gemm_xs(repack_tq1_0, iq4_xs_block, n_in, n_rows, n_tok, y, ldy, w, w_row, pack);
}

void tensor_avx2_gemm_tq1_0_vnni(int64_t n_in, int n_rows, int n_tok, float *y, int64_t ldy,
                                 const void *w, size_t w_row, const void *pack) {
    gemm_xs(repack_tq1_0_u, tq2_0_block_vnni, n_in, n_rows, n_tok, y, ldy, w, w_row, pack);
}
