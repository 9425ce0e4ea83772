/* gemm_avx512.c — tiled matrix products for prompt batches (AVX-512 F/BW + VNNI): 16 weight rows
 * against up to 8 activation rows (tokens) at a time, every weight block unpacked once per tile
 * and reused for every token of the batch.
 *
 * Result contract: y[t * ldy + r] is bit for bit what the row's vec_dot against token t's
 * activations gives (dot_ref.c): the same exact int32 per (sub-)block, the same float terms
 * formed in the same order, added to the row's running sum in block order. Only the layout
 * differs: a vector lane is one weight row, so 16 rows' running sums advance side by side and no
 * horizontal sums are needed. Batching therefore never changes a logit.
 *
 * How (per 16-row tile and per K chunk of at most KC elements):
 *   1. Repack: the rows' quantized levels are unpacked to one unsigned byte per element and
 *      transposed so that 64-byte vector g of block b holds elements 4g..4g+3 of rows 0..15
 *      (lane r = row r); per-row scales go to float / int32 vectors. This is done once per tile
 *      and chunk, and amortized over every token of the batch.
 *   2. For each group of T tokens, for each k-group: one weight vector load and T vpdpbusd whose
 *      activation operand is the token's 4 bytes broadcast to all lanes ({1to16} from memory).
 * Signed weights are made unsigned with a constant offset that comes back per (token, block)
 * through the activation sums: Q4_0 levels are q in 0..15 for q - 8 (Σ(q-8)y = Σqy - 8Σy), Q8_0
 * bytes are x + 128 (Σxy = Σ(x+128)y - 128Σy), Q6_K levels are q in 0..63 for q - 32 (through
 * Q8_K's bsums, per 16-element sub-block and its scale). The Q8_0-family correction -c·Σy and
 * the activation scale as a float are precomputed per (token, block) when the activations are
 * packed (tensor_gemm_pack: 8 tokens' 4-byte groups side by side, so one pointer with constant
 * offsets reaches every operand). Per-sub-block scales of the K-quants are applied in int32 (vpmulld)
 * before the super-block's float terms.
 *
 * Repacking reads the weights with vpgatherdd (Q4_0, Q8_0, Q4_K) or scalar unpacking (Q6_K) into
 * a thread-local tile (36-50 KB). Small batches (generation) skip the tile: matmul.c gives them
 * the tensor_avx512_gemvn_* kernels (dot_avx512.c) instead.
 *
 * Built with the %_avx512.o flags; dispatch.c hands these out only when the AVX-512 set is
 * selected. */
#include <immintrin.h>
#include <stddef.h>
#include <string.h>

#include "tensor/blocks.h"
#include "tensor/levels_avx2.h"
#include "tensor/tensor_internal.h"

#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

#define GR TENSOR_GEMM_ROWS /* rows per tile: one per lane */
#define GT 8                /* tokens per step */
#define KC 2048             /* elements per K chunk: the repacked tile stays in L1/L2 */

#define ALWAYS_INLINE static inline __attribute__((always_inline))

static inline float h2f(uint16_t h) { return _cvtsh_ss(h); }

static inline __m512i bcast32(const void *p) {
    int v;
    memcpy(&v, p, 4);
    return _mm512_set1_epi32(v);
}

/* ---- Q4_0 and Q8_0 (32-element blocks against Q8_0) ---- */

typedef struct {
    _Alignas(64) uint8_t w[KC / 32][8][64]; /* [block][k-group][row * 4 + byte] */
    _Alignas(64) float d[KC / 32][GR];      /* weight scales */
} tile32;

/* Repacking gathers straight from the weight rows: dword d of block b in the 16 rows is one
 * vpgatherdd with row offsets r * w_row (much cheaper than 16 row loads and 128 scattered
 * stores). The scales come the same way, as the low halves of 16 gathered dwords. */
static inline __m512i row_offsets(size_t w_row) {
    return _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                              _mm512_set1_epi32((int)w_row));
}

static inline __m512 gather_d16(const uint8_t *p, __m512i offs) {
    const __m512i raw = _mm512_i32gather_epi32(offs, (const void *)p, 1);
    return _mm512_cvtph_ps(_mm512_cvtepi32_epi16(raw));
}

static void repack_q4_0(tile32 *tl, const uint8_t *w, size_t w_row, int64_t b0, int nbc) {
    const __m512i offs = row_offsets(w_row), m4 = _mm512_set1_epi8(0x0F);
    for (int b = 0; b < nbc; b++) {
        const uint8_t *blk = w + (size_t)(b0 + b) * sizeof(block_q4_0);
        for (int d = 0; d < 4; d++) { /* qs dword d: elements 4d..4d+3 (low), 16+4d.. (high) */
            const __m512i x = _mm512_i32gather_epi32(offs, (const void *)(blk + 2 + 4 * d), 1);
            _mm512_store_si512((void *)tl->w[b][d], _mm512_and_si512(x, m4));
            _mm512_store_si512((void *)tl->w[b][d + 4],
                               _mm512_and_si512(_mm512_srli_epi32(x, 4), m4));
        }
        _mm512_store_ps(tl->d[b], gather_d16(blk, offs));
    }
}

static void repack_q8_0(tile32 *tl, const uint8_t *w, size_t w_row, int64_t b0, int nbc) {
    const __m512i offs = row_offsets(w_row), bias = _mm512_set1_epi8((char)0x80);
    for (int b = 0; b < nbc; b++) {
        const uint8_t *blk = w + (size_t)(b0 + b) * sizeof(block_q8_0);
        for (int g = 0; g < 8; g++) {
            const __m512i x = _mm512_i32gather_epi32(offs, (const void *)(blk + 2 + 4 * g), 1);
            _mm512_store_si512((void *)tl->w[b][g], _mm512_xor_si512(x, bias));
        }
        _mm512_store_ps(tl->d[b], gather_d16(blk, offs));
    }
}

/* IQ4_NL: the nibbles (Q4_0's order) are looked up in the level table with vpshufb (the table in
 * each 128-bit lane) and biased by 128 like Q8_0's bytes (level + 128 in 1..241), so the Q8_0
 * steps apply unchanged: Σ v y = Σ (v + 128) y - 128 Σ y, with c = 128 in the packed records. */
static inline __m512i iq4_lut(void) {
    return _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)(const void *)tensor_iq4nl_values));
}

static void repack_iq4_nl(tile32 *tl, const uint8_t *w, size_t w_row, int64_t b0, int nbc) {
    const __m512i offs = row_offsets(w_row), m4 = _mm512_set1_epi8(0x0F);
    const __m512i bias = _mm512_set1_epi8((char)0x80), lut = iq4_lut();
    for (int b = 0; b < nbc; b++) {
        const uint8_t *blk = w + (size_t)(b0 + b) * sizeof(block_iq4_nl);
        for (int d = 0; d < 4; d++) {
            const __m512i x = _mm512_i32gather_epi32(offs, (const void *)(blk + 2 + 4 * d), 1);
            const __m512i lo = _mm512_shuffle_epi8(lut, _mm512_and_si512(x, m4));
            const __m512i hi = _mm512_shuffle_epi8(lut, _mm512_and_si512(_mm512_srli_epi32(x, 4), m4));
            _mm512_store_si512((void *)tl->w[b][d], _mm512_xor_si512(lo, bias));
            _mm512_store_si512((void *)tl->w[b][d + 4], _mm512_xor_si512(hi, bias));
        }
        _mm512_store_ps(tl->d[b], gather_d16(blk, offs));
    }
}

/* MXFP4 as IQ4_NL: its doubled E2M1 levels (|v| ≤ 12) from the nibbles, + 128; the block scale
 * 2^(e - 128) (tensor_e8m0_half, lane-wise: e < 2 subnormal 2^21 << e bits, else (e - 1) << 23)
 * from the gathered byte e. 17-byte blocks: e at 0, qs at 1. */
static void repack_mxfp4(tile32 *tl, const uint8_t *w, size_t w_row, int64_t b0, int nbc) {
    const __m512i offs = row_offsets(w_row), m4 = _mm512_set1_epi8(0x0F);
    const __m512i bias = _mm512_set1_epi8((char)0x80);
    const __m512i lut = _mm512_broadcast_i32x4(
        _mm_loadu_si128((const __m128i *)(const void *)tensor_mxfp4_values));
    const __m512i mff = _mm512_set1_epi32(0xFF), one = _mm512_set1_epi32(1),
                  two = _mm512_set1_epi32(2), sub = _mm512_set1_epi32(0x00200000);
    for (int b = 0; b < nbc; b++) {
        const uint8_t *blk = w + (size_t)(b0 + b) * sizeof(block_mxfp4);
        for (int d = 0; d < 4; d++) {
            const __m512i x = _mm512_i32gather_epi32(
                offs, (const void *)(blk + offsetof(block_mxfp4, qs) + 4 * d), 1);
            const __m512i lo = _mm512_shuffle_epi8(lut, _mm512_and_si512(x, m4));
            const __m512i hi = _mm512_shuffle_epi8(lut, _mm512_and_si512(_mm512_srli_epi32(x, 4), m4));
            _mm512_store_si512((void *)tl->w[b][d], _mm512_xor_si512(lo, bias));
            _mm512_store_si512((void *)tl->w[b][d + 4], _mm512_xor_si512(hi, bias));
        }
        const __m512i e = _mm512_and_si512(_mm512_i32gather_epi32(offs, (const void *)blk, 1), mff);
        const __mmask16 small = _mm512_cmplt_epu32_mask(e, two);
        const __m512i bits = _mm512_mask_blend_epi32(small, _mm512_slli_epi32(_mm512_sub_epi32(e, one), 23),
                                                     _mm512_sllv_epi32(sub, e));
        _mm512_store_ps(tl->d[b], _mm512_castsi512_ps(bits));
    }
}

/* T tokens (of a packed group) against one tile32 chunk of nbc blocks. ap: the group's packed
 * record of the chunk's first block (tensor_gemm_pack); y: outputs of (token 0, tile row 0),
 * ldy apart. first: the chunk starts the rows (sums begin at 0). */
ALWAYS_INLINE void q32_steps(const tile32 *tl, int nbc, const uint8_t *ap, float *y, int64_t ldy,
                             int first, const int T) {
    __m512 f[GT];
#pragma GCC unroll 8
    for (int t = 0; t < T; t++)
        f[t] = first ? _mm512_setzero_ps() : _mm512_loadu_ps(y + t * ldy);
    for (int b = 0; b < nbc; b++, ap += TENSOR_GEMM_PACK32) {
        __m512i a[GT];
#pragma GCC unroll 8
        for (int t = 0; t < T; t++)
            a[t] = bcast32(ap + 288 + 4 * t); /* -c * sum(qs) */
#pragma GCC unroll 8
        for (int g = 0; g < 8; g++) {
            const __m512i wv = _mm512_load_si512((const void *)tl->w[b][g]);
#pragma GCC unroll 8
            for (int t = 0; t < T; t++)
                a[t] = _mm512_dpbusd_epi32(a[t], wv, bcast32(ap + 32 * g + 4 * t));
        }
        const __m512 dx = _mm512_load_ps(tl->d[b]);
#pragma GCC unroll 8
        for (int t = 0; t < T; t++) {
            float dyf;
            memcpy(&dyf, ap + 256 + 4 * t, 4);
            const __m512 dd = _mm512_mul_ps(dx, _mm512_set1_ps(dyf));
            const __m512 term = _mm512_mul_ps(_mm512_cvtepi32_ps(a[t]), dd);
            f[t] = _mm512_add_ps(f[t], term);
        }
    }
#pragma GCC unroll 8
    for (int t = 0; t < T; t++)
        _mm512_storeu_ps(y + t * ldy, f[t]);
}

/* all n_tok tokens; pack: token group 0's record of the chunk's first block, groups nb records
 * apart */
static void q32_tokens(const tile32 *tl, int nbc, int n_tok, const uint8_t *pack, int64_t nb,
                       float *y, int64_t ldy, int first) {
    const size_t gstride = (size_t)nb * TENSOR_GEMM_PACK32;
    int t0 = 0;
    for (; t0 + GT <= n_tok; t0 += GT, pack += gstride)
        q32_steps(tl, nbc, pack, y + t0 * ldy, ldy, first, GT);
    y += t0 * ldy;
    switch (n_tok - t0) {
    case 0: break;
    case 1: q32_steps(tl, nbc, pack, y, ldy, first, 1); break;
    case 2: q32_steps(tl, nbc, pack, y, ldy, first, 2); break;
    case 3: q32_steps(tl, nbc, pack, y, ldy, first, 3); break;
    case 4: q32_steps(tl, nbc, pack, y, ldy, first, 4); break;
    case 5: q32_steps(tl, nbc, pack, y, ldy, first, 5); break;
    case 6: q32_steps(tl, nbc, pack, y, ldy, first, 6); break;
    default: q32_steps(tl, nbc, pack, y, ldy, first, 7); break;
    }
}

typedef void (*repack32_fn)(tile32 *tl, const uint8_t *w, size_t w_row, int64_t b0, int nbc);

static void gemm_q32(repack32_fn repack, int64_t n_in, int n_rows, int n_tok, float *y,
                     int64_t ldy, const void *w, size_t w_row, const void *pack) {
    _Static_assert(sizeof(tile32) <= TENSOR_TILE_BYTES, "the shared tile arena holds it");
    tile32 *const tl = tensor_tile_tls();
    const int64_t nb = n_in / 32;
    for (int r0 = 0; r0 < n_rows; r0 += GR) {
        const uint8_t *wt = (const uint8_t *)w + (size_t)r0 * w_row;
        for (int64_t b0 = 0; b0 < nb; b0 += KC / 32) {
            const int nbc = (int)(nb - b0 < KC / 32 ? nb - b0 : KC / 32);
            repack(tl, wt, w_row, b0, nbc);
            q32_tokens(tl, nbc, n_tok, (const uint8_t *)pack + (size_t)b0 * TENSOR_GEMM_PACK32,
                       nb, y + r0, ldy, b0 == 0);
        }
    }
}

void tensor_avx512_gemm_q4_0(int64_t n_in, int n_rows, int n_tok, float *y, int64_t ldy,
                             const void *w, size_t w_row, const void *pack) {
    gemm_q32(repack_q4_0, n_in, n_rows, n_tok, y, ldy, w, w_row, pack);
}

void tensor_avx512_gemm_q8_0(int64_t n_in, int n_rows, int n_tok, float *y, int64_t ldy,
                             const void *w, size_t w_row, const void *pack) {
    gemm_q32(repack_q8_0, n_in, n_rows, n_tok, y, ldy, w, w_row, pack);
}

void tensor_avx512_gemm_iq4_nl(int64_t n_in, int n_rows, int n_tok, float *y, int64_t ldy,
                               const void *w, size_t w_row, const void *pack) {
    static_assert(sizeof(block_iq4_nl) == 18 && offsetof(block_iq4_nl, qs) == 2, "gather offsets");
    gemm_q32(repack_iq4_nl, n_in, n_rows, n_tok, y, ldy, w, w_row, pack);
}

void tensor_avx512_gemm_mxfp4(int64_t n_in, int n_rows, int n_tok, float *y, int64_t ldy,
                              const void *w, size_t w_row, const void *pack) {
    gemm_q32(repack_mxfp4, n_in, n_rows, n_tok, y, ldy, w, w_row, pack);
}

/* ---- K-quants (256-element super-blocks against Q8_K) ---- */

#define KSB (KC / QK_K) /* super-blocks per chunk */

typedef struct {
    _Alignas(64) uint8_t w[KSB][64][64]; /* [super-block][k-group][row * 4 + byte] */
    _Alignas(64) int32_t sc[KSB][16][GR]; /* per sub-block scale (Q4_K: 8 used, Q6_K: 16) */
    _Alignas(64) int32_t mp[KSB][8][GR];  /* int16 pairs against Q8_K bsums dword p */
    _Alignas(64) float d[KSB][GR];
    _Alignas(64) float dmin[KSB][GR];
} tilek;

/* 256 unpacked levels of one row of super-block s into lane r */
static inline void put_row256(tilek *tl, int s, int r, const uint8_t lv[QK_K]) {
    for (int g = 0; g < 64; g++)
        memcpy(&tl->w[s][g][4 * r], lv + 4 * g, 4);
}

/* Q4_K by gathers: dword d of chunk c (qs[32c + 4d..]) holds k-group 16c + d in its low
 * nibbles and 16c + 8 + d in its high ones; the 12 packed scale bytes are 3 gathered dwords,
 * unpacked lane-wise as tensor_k4_scale_min does. */
static void repack_q4_K(tilek *tl, const uint8_t *w, size_t w_row, int64_t s0, int nsc) {
    const __m512i offs = row_offsets(w_row), m4 = _mm512_set1_epi8(0x0F);
    const __m512i m6 = _mm512_set1_epi32(63), m4w = _mm512_set1_epi32(15);
    for (int s = 0; s < nsc; s++) {
        const uint8_t *blk = w + (size_t)(s0 + s) * sizeof(block_q4_K);
        for (int c = 0; c < 4; c++)
            for (int d = 0; d < 8; d++) {
                const __m512i x = _mm512_i32gather_epi32(
                    offs, (const void *)(blk + offsetof(block_q4_K, qs) + 32 * c + 4 * d), 1);
                _mm512_store_si512((void *)tl->w[s][16 * c + d], _mm512_and_si512(x, m4));
                _mm512_store_si512((void *)tl->w[s][16 * c + 8 + d],
                                   _mm512_and_si512(_mm512_srli_epi32(x, 4), m4));
            }
        const uint8_t *sc = blk + offsetof(block_q4_K, scales);
        const __m512i a = _mm512_i32gather_epi32(offs, (const void *)sc, 1);
        const __m512i b = _mm512_i32gather_epi32(offs, (const void *)(sc + 4), 1);
        const __m512i cc = _mm512_i32gather_epi32(offs, (const void *)(sc + 8), 1);
        for (int j = 0; j < 4; j++) {
            const __m512i aj = _mm512_srli_epi32(a, 8 * j), bj = _mm512_srli_epi32(b, 8 * j);
            const __m512i cj = _mm512_srli_epi32(cc, 8 * j);
            const __m512i sc_lo = _mm512_and_si512(aj, m6), m_lo = _mm512_and_si512(bj, m6);
            const __m512i sc_hi = _mm512_or_si512(
                _mm512_and_si512(cj, m4w),
                _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(aj, 6), _mm512_set1_epi32(3)), 4));
            const __m512i m_hi = _mm512_or_si512(
                _mm512_and_si512(_mm512_srli_epi32(cj, 4), m4w),
                _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(bj, 6), _mm512_set1_epi32(3)), 4));
            _mm512_store_si512((void *)tl->sc[s][j], sc_lo);
            _mm512_store_si512((void *)tl->sc[s][j + 4], sc_hi);
            _mm512_store_si512((void *)tl->mp[s][j], _mm512_or_si512(m_lo, _mm512_slli_epi32(m_lo, 16)));
            _mm512_store_si512((void *)tl->mp[s][j + 4], _mm512_or_si512(m_hi, _mm512_slli_epi32(m_hi, 16)));
        }
        _mm512_store_ps(tl->d[s], gather_d16(blk + offsetof(block_q4_K, d), offs));
        _mm512_store_ps(tl->dmin[s], gather_d16(blk + offsetof(block_q4_K, dmin), offs));
    }
}

static void repack_q6_K(tilek *tl, const uint8_t *w, size_t w_row, int64_t s0, int nsc) {
    for (int r = 0; r < GR; r++) {
        const block_q6_K *x = (const block_q6_K *)(w + (size_t)r * w_row) + s0;
        for (int s = 0; s < nsc; s++) {
            _Alignas(32) uint8_t lv[QK_K];
            for (int h = 0; h < 2; h++) { /* element order as in blocks.h */
                const uint8_t *ql = x[s].ql + 64 * h, *qh = x[s].qh + 32 * h;
                uint8_t *o = lv + 128 * h;
                for (int l = 0; l < 32; l++) {
                    o[l] = (uint8_t)((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4));
                    o[l + 32] = (uint8_t)((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4));
                    o[l + 64] = (uint8_t)((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4));
                    o[l + 96] = (uint8_t)((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4));
                }
            }
            put_row256(tl, s, r, lv);
            for (int k = 0; k < 16; k++)
                tl->sc[s][k][r] = x[s].scales[k];
            for (int p = 0; p < 8; p++)
                tl->mp[s][p][r] = (int32_t)(((uint32_t)(uint16_t)x[s].scales[2 * p]) |
                                            ((uint32_t)(uint16_t)x[s].scales[2 * p + 1] << 16));
            tl->d[s][r] = h2f(x[s].d);
        }
    }
}

/* IQ4_XS by gathers: dword d of sub-block j (qs[16j + 4d..]) holds k-group 8j + d in its low
 * nibbles and 8j + 4 + d in its high ones, looked up and biased by 128 as IQ4_NL's. The signed
 * sub-block scale ls - 32 goes to sc[j] and, as an int16 pair, to mp[j] against Q8_K's bsums
 * dword j (the two 16-element sums of sub-block j): the bias comes back as -128 Σ_j sc_j Σ y. */
static void repack_iq4_xs(tilek *tl, const uint8_t *w, size_t w_row, int64_t s0, int nsc) {
    const __m512i offs = row_offsets(w_row), m4 = _mm512_set1_epi8(0x0F);
    const __m512i bias = _mm512_set1_epi8((char)0x80), lut = iq4_lut();
    const __m512i m4w = _mm512_set1_epi32(15), m3 = _mm512_set1_epi32(3);
    const __m512i k32 = _mm512_set1_epi32(32), lo16 = _mm512_set1_epi32(0xFFFF);
    for (int s = 0; s < nsc; s++) {
        const uint8_t *blk = w + (size_t)(s0 + s) * sizeof(block_iq4_xs);
        for (int j = 0; j < 8; j++)
            for (int d = 0; d < 4; d++) {
                const __m512i x = _mm512_i32gather_epi32(
                    offs, (const void *)(blk + offsetof(block_iq4_xs, qs) + 16 * j + 4 * d), 1);
                const __m512i lo = _mm512_shuffle_epi8(lut, _mm512_and_si512(x, m4));
                const __m512i hi =
                    _mm512_shuffle_epi8(lut, _mm512_and_si512(_mm512_srli_epi32(x, 4), m4));
                _mm512_store_si512((void *)tl->w[s][8 * j + d], _mm512_xor_si512(lo, bias));
                _mm512_store_si512((void *)tl->w[s][8 * j + 4 + d], _mm512_xor_si512(hi, bias));
            }
        /* dword 0: d | scales_h << 16; dword 1: scales_l (nibble j = low 4 bits of ls_j) */
        const __m512i h = _mm512_srli_epi32(_mm512_i32gather_epi32(offs, (const void *)blk, 1), 16);
        const __m512i l = _mm512_i32gather_epi32(
            offs, (const void *)(blk + offsetof(block_iq4_xs, scales_l)), 1);
        for (int j = 0; j < 8; j++) {
            const __m512i ls = _mm512_or_si512(
                _mm512_and_si512(_mm512_srli_epi32(l, 4 * j), m4w),
                _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(h, 2 * j), m3), 4));
            const __m512i sc = _mm512_sub_epi32(ls, k32);
            _mm512_store_si512((void *)tl->sc[s][j], sc);
            _mm512_store_si512((void *)tl->mp[s][j],
                               _mm512_or_si512(_mm512_and_si512(sc, lo16), _mm512_slli_epi32(sc, 16)));
        }
        _mm512_store_ps(tl->d[s], gather_d16(blk, offs));
    }
}

/* TQ2_0 by gathers: dword d of quarter c (qs[32c + 4d..]) holds, in bit pair l of each byte,
 * k-group 32c + 8l + d (element 128c + 32l + 4d..); levels q in 0..3 as they are (unsigned), every
 * sub-block scale 1 and the bias Σy back through bsums pairs (1, 1). */
static void repack_tq2_0(tilek *tl, const uint8_t *w, size_t w_row, int64_t s0, int nsc) {
    const __m512i offs = row_offsets(w_row), m3 = _mm512_set1_epi8(3);
    const __m512i one = _mm512_set1_epi32(1), ones16 = _mm512_set1_epi32(0x00010001);
    for (int s = 0; s < nsc; s++) {
        const uint8_t *blk = w + (size_t)(s0 + s) * sizeof(block_tq2_0);
        for (int c = 0; c < 2; c++)
            for (int d = 0; d < 8; d++) {
                const __m512i x = _mm512_i32gather_epi32(
                    offs, (const void *)(blk + offsetof(block_tq2_0, qs) + 32 * c + 4 * d), 1);
                for (int l = 0; l < 4; l++)
                    _mm512_store_si512((void *)tl->w[s][32 * c + 8 * l + d],
                                       _mm512_and_si512(_mm512_srli_epi32(x, 2 * l), m3));
            }
        for (int j = 0; j < 8; j++) {
            _mm512_store_si512((void *)tl->sc[s][j], one);
            _mm512_store_si512((void *)tl->mp[s][j], ones16);
        }
        _mm512_store_ps(tl->d[s], gather_d16(blk + offsetof(block_tq2_0, d), offs));
    }
}

/* IQ3_S row by row: each sub-block's signed magnitudes (levels_avx2.h) + 128 transposed into
 * the row's lane; scale 1 + 2s to sc[j] and, as an int16 pair, to mp[j]: the bias comes back as
 * -128 Σ_j sc_j Σ y, as IQ4_XS's. */
static void repack_iq3_s(tilek *tl, const uint8_t *w, size_t w_row, int64_t s0, int nsc) {
    const __m256i bias = _mm256_set1_epi8((char)0x80);
    for (int r = 0; r < GR; r++) {
        const block_iq3_s *x = (const block_iq3_s *)(w + (size_t)r * w_row) + s0;
        for (int s = 0; s < nsc; s++) {
            _Alignas(32) uint8_t lv[QK_K];
            for (int j = 0; j < 8; j++) {
                _mm256_store_si256((__m256i *)(void *)(lv + 32 * j),
                                   _mm256_xor_si256(iq3_s_levels32(&x[s], j), bias));
                const int sc = 1 + 2 * ((x[s].scales[j / 2] >> (4 * (j % 2))) & 0xF);
                tl->sc[s][j][r] = sc;
                tl->mp[s][j][r] = (int32_t)((uint32_t)sc | (uint32_t)sc << 16);
            }
            put_row256(tl, s, r, lv);
            tl->d[s][r] = h2f(x[s].d);
        }
    }
}

/* TQ1_0 row by row: the trits t in 0..2 (levels_avx2.h) as they are, for t - 1 as TQ2_0's */
static void repack_tq1_0(tilek *tl, const uint8_t *w, size_t w_row, int64_t s0, int nsc) {
    const __m512i one = _mm512_set1_epi32(1), ones16 = _mm512_set1_epi32(0x00010001);
    for (int s = 0; s < nsc; s++)
        for (int j = 0; j < 8; j++) {
            _mm512_store_si512((void *)tl->sc[s][j], one);
            _mm512_store_si512((void *)tl->mp[s][j], ones16);
        }
    for (int r = 0; r < GR; r++) {
        const block_tq1_0 *x = (const block_tq1_0 *)(w + (size_t)r * w_row) + s0;
        for (int s = 0; s < nsc; s++) {
            _Alignas(32) uint8_t lv[QK_K];
            tq1_0_levels256(&x[s], lv);
            put_row256(tl, s, r, lv);
            tl->d[s][r] = h2f(x[s].d);
        }
    }
}

/* The K-quant inner sums shared by Q4_K and Q6_K, in the order both kernels need:
 * tot[t] = Σ_j sc_j Σ_{g < ng} w[ng*j+g] · y  over nsub sub-blocks of ng k-groups each, and
 * mn[t] = Σ_p mp[p] · bsums  (vpdpwssd; Q4_K's mins, Q6_K's -32 offset). */
ALWAYS_INLINE void k_subblock_sums(const tilek *tl, int s, const uint8_t *ap, const int nsub,
                                   const int ng, __m512i *tot, __m512i *mn, const int T) {
    __m512i a[GT];
#pragma GCC unroll 8
    for (int t = 0; t < T; t++)
        tot[t] = _mm512_setzero_si512();
    for (int j = 0; j < nsub; j++) {
#pragma GCC unroll 8
        for (int t = 0; t < T; t++)
            a[t] = _mm512_setzero_si512();
#pragma GCC unroll 8
        for (int g = 0; g < ng; g++) {
            const __m512i wv = _mm512_load_si512((const void *)tl->w[s][ng * j + g]);
#pragma GCC unroll 8
            for (int t = 0; t < T; t++)
                a[t] = _mm512_dpbusd_epi32(a[t], wv, bcast32(ap + 32 * (ng * j + g) + 4 * t));
        }
        const __m512i scv = _mm512_load_si512((const void *)tl->sc[s][j]);
#pragma GCC unroll 8
        for (int t = 0; t < T; t++)
            tot[t] = _mm512_add_epi32(tot[t], _mm512_mullo_epi32(a[t], scv));
    }
#pragma GCC unroll 8
    for (int t = 0; t < T; t++)
        mn[t] = _mm512_setzero_si512();
#pragma GCC unroll 8
    for (int p = 0; p < 8; p++) {
        const __m512i mv = _mm512_load_si512((const void *)tl->mp[s][p]);
#pragma GCC unroll 8
        for (int t = 0; t < T; t++)
            mn[t] = _mm512_dpwssd_epi32(mn[t], mv, bcast32(ap + 2048 + 32 * p + 4 * t));
    }
}

/* Q4_K: per super-block, isum = Σ_j sc_j Σ_{sub-block j} q y (8 sub-blocks of 8 k-groups),
 * imin = Σ_j m_j (bsums[2j] + bsums[2j+1]) (vpdpwssd of (m_j, m_j) against bsums dword j),
 * sum += (float)isum * (d * dy) - (float)imin * (dmin * dy). */
ALWAYS_INLINE void q4K_steps(const tilek *tl, int nsc, const uint8_t *ap, float *y, int64_t ldy,
                             int first, const int T) {
    __m512 f[GT];
#pragma GCC unroll 8
    for (int t = 0; t < T; t++)
        f[t] = first ? _mm512_setzero_ps() : _mm512_loadu_ps(y + t * ldy);
    for (int s = 0; s < nsc; s++, ap += TENSOR_GEMM_PACKK) {
        __m512i tot[GT], a[GT];
        k_subblock_sums(tl, s, ap, 8, 8, tot, a, T);
        const __m512 d = _mm512_load_ps(tl->d[s]), dm = _mm512_load_ps(tl->dmin[s]);
#pragma GCC unroll 8
        for (int t = 0; t < T; t++) {
            float dyf;
            memcpy(&dyf, ap + 2304 + 4 * t, 4);
            const __m512 dy = _mm512_set1_ps(dyf);
            const __m512 t1 = _mm512_mul_ps(_mm512_cvtepi32_ps(tot[t]), _mm512_mul_ps(d, dy));
            const __m512 t2 = _mm512_mul_ps(_mm512_cvtepi32_ps(a[t]), _mm512_mul_ps(dm, dy));
            f[t] = _mm512_add_ps(f[t], _mm512_sub_ps(t1, t2));
        }
    }
#pragma GCC unroll 8
    for (int t = 0; t < T; t++)
        _mm512_storeu_ps(y + t * ldy, f[t]);
}

/* Q6_K: isum = Σ_k sc_k Σ_{sub-block k} q y - 32 Σ_k sc_k bsums_k (levels unsigned 0..63),
 * sum += (float)isum * (d * dy). */
ALWAYS_INLINE void q6K_steps(const tilek *tl, int nsc, const uint8_t *ap, float *y, int64_t ldy,
                             int first, const int T) {
    __m512 f[GT];
#pragma GCC unroll 8
    for (int t = 0; t < T; t++)
        f[t] = first ? _mm512_setzero_ps() : _mm512_loadu_ps(y + t * ldy);
    for (int s = 0; s < nsc; s++, ap += TENSOR_GEMM_PACKK) {
        __m512i tot[GT], a[GT];
        k_subblock_sums(tl, s, ap, 16, 4, tot, a, T);
        const __m512 d = _mm512_load_ps(tl->d[s]);
#pragma GCC unroll 8
        for (int t = 0; t < T; t++) {
            float dyf;
            memcpy(&dyf, ap + 2304 + 4 * t, 4);
            const __m512i isum = _mm512_sub_epi32(tot[t], _mm512_slli_epi32(a[t], 5));
            const __m512 term =
                _mm512_mul_ps(_mm512_cvtepi32_ps(isum), _mm512_mul_ps(d, _mm512_set1_ps(dyf)));
            f[t] = _mm512_add_ps(f[t], term);
        }
    }
#pragma GCC unroll 8
    for (int t = 0; t < T; t++)
        _mm512_storeu_ps(y + t * ldy, f[t]);
}

/* IQ4_XS: isum = Σ_j sc_j Σ_{sub-block j} (v + 128) y - 128 Σ_j sc_j Σ_{sub-block j} y (exact in
 * int32 like the reference's), sum += (float)isum * (d * dy). TQ2_0 the same with sc_j = 1 and
 * the bias 1 (levels q for q - 1): shift = log2 of the bias. */
ALWAYS_INLINE void biased_k_steps(const tilek *tl, int nsc, const uint8_t *ap, float *y,
                                  int64_t ldy, int first, const int T, const int shift) {
    __m512 f[GT];
#pragma GCC unroll 8
    for (int t = 0; t < T; t++)
        f[t] = first ? _mm512_setzero_ps() : _mm512_loadu_ps(y + t * ldy);
    for (int s = 0; s < nsc; s++, ap += TENSOR_GEMM_PACKK) {
        __m512i tot[GT], a[GT];
        k_subblock_sums(tl, s, ap, 8, 8, tot, a, T);
        const __m512 d = _mm512_load_ps(tl->d[s]);
#pragma GCC unroll 8
        for (int t = 0; t < T; t++) {
            float dyf;
            memcpy(&dyf, ap + 2304 + 4 * t, 4);
            const __m512i isum = _mm512_sub_epi32(tot[t], _mm512_slli_epi32(a[t], shift));
            const __m512 term =
                _mm512_mul_ps(_mm512_cvtepi32_ps(isum), _mm512_mul_ps(d, _mm512_set1_ps(dyf)));
            f[t] = _mm512_add_ps(f[t], term);
        }
    }
#pragma GCC unroll 8
    for (int t = 0; t < T; t++)
        _mm512_storeu_ps(y + t * ldy, f[t]);
}

#define K_TOKENS(NAME, STEPS)                                                                      \
    static void NAME(const tilek *tl, int nsc, int n_tok, const uint8_t *pack, int64_t ns,        \
                     float *y, int64_t ldy, int first) {                                           \
        const size_t gstride = (size_t)ns * TENSOR_GEMM_PACKK;                                     \
        int t0 = 0;                                                                                \
        for (; t0 + GT <= n_tok; t0 += GT, pack += gstride)                                        \
            STEPS(tl, nsc, pack, y + t0 * ldy, ldy, first, GT);                                    \
        y += t0 * ldy;                                                                             \
        switch (n_tok - t0) {                                                                      \
        case 0: break;                                                                             \
        case 1: STEPS(tl, nsc, pack, y, ldy, first, 1); break;                                     \
        case 2: STEPS(tl, nsc, pack, y, ldy, first, 2); break;                                     \
        case 3: STEPS(tl, nsc, pack, y, ldy, first, 3); break;                                     \
        case 4: STEPS(tl, nsc, pack, y, ldy, first, 4); break;                                     \
        case 5: STEPS(tl, nsc, pack, y, ldy, first, 5); break;                                     \
        case 6: STEPS(tl, nsc, pack, y, ldy, first, 6); break;                                     \
        default: STEPS(tl, nsc, pack, y, ldy, first, 7); break;                                    \
        }                                                                                          \
    }

K_TOKENS(q4K_tokens, q4K_steps)
K_TOKENS(q6K_tokens, q6K_steps)
#define IQ4XS_STEPS(tl, nsc, ap, y, ldy, first, T) biased_k_steps(tl, nsc, ap, y, ldy, first, T, 7)
#define TQ2_STEPS(tl, nsc, ap, y, ldy, first, T) biased_k_steps(tl, nsc, ap, y, ldy, first, T, 0)
K_TOKENS(iq4xs_tokens, IQ4XS_STEPS)
K_TOKENS(tq2_tokens, TQ2_STEPS)

typedef void (*repackk_fn)(tilek *tl, const uint8_t *w, size_t w_row, int64_t s0, int nsc);
typedef void (*tokensk_fn)(const tilek *tl, int nsc, int n_tok, const uint8_t *pack, int64_t ns,
                           float *y, int64_t ldy, int first);

static void gemm_k(repackk_fn repack, tokensk_fn tokens, int64_t n_in, int n_rows, int n_tok,
                   float *y, int64_t ldy, const void *w, size_t w_row, const void *pack) {
    _Static_assert(sizeof(tilek) <= TENSOR_TILE_BYTES, "the shared tile arena holds it");
    tilek *const tl = tensor_tile_tls();
    const int64_t ns = n_in / QK_K;
    for (int r0 = 0; r0 < n_rows; r0 += GR) {
        const uint8_t *wt = (const uint8_t *)w + (size_t)r0 * w_row;
        for (int64_t s0 = 0; s0 < ns; s0 += KSB) {
            const int nsc = (int)(ns - s0 < KSB ? ns - s0 : KSB);
            repack(tl, wt, w_row, s0, nsc);
            tokens(tl, nsc, n_tok, (const uint8_t *)pack + (size_t)s0 * TENSOR_GEMM_PACKK, ns,
                   y + r0, ldy, s0 == 0);
        }
    }
}

void tensor_avx512_gemm_q4_K(int64_t n_in, int n_rows, int n_tok, float *y, int64_t ldy,
                             const void *w, size_t w_row, const void *pack) {
    gemm_k(repack_q4_K, q4K_tokens, n_in, n_rows, n_tok, y, ldy, w, w_row, pack);
}

void tensor_avx512_gemm_q6_K(int64_t n_in, int n_rows, int n_tok, float *y, int64_t ldy,
                             const void *w, size_t w_row, const void *pack) {
    gemm_k(repack_q6_K, q6K_tokens, n_in, n_rows, n_tok, y, ldy, w, w_row, pack);
}

void tensor_avx512_gemm_iq4_xs(int64_t n_in, int n_rows, int n_tok, float *y, int64_t ldy,
                               const void *w, size_t w_row, const void *pack) {
    gemm_k(repack_iq4_xs, iq4xs_tokens, n_in, n_rows, n_tok, y, ldy, w, w_row, pack);
}

void tensor_avx512_gemm_tq2_0(int64_t n_in, int n_rows, int n_tok, float *y, int64_t ldy,
                              const void *w, size_t w_row, const void *pack) {
    gemm_k(repack_tq2_0, tq2_tokens, n_in, n_rows, n_tok, y, ldy, w, w_row, pack);
}

void tensor_avx512_gemm_iq3_s(int64_t n_in, int n_rows, int n_tok, float *y, int64_t ldy,
                              const void *w, size_t w_row, const void *pack) {
    gemm_k(repack_iq3_s, iq4xs_tokens, n_in, n_rows, n_tok, y, ldy, w, w_row, pack);
}

void tensor_avx512_gemm_tq1_0(int64_t n_in, int n_rows, int n_tok, float *y, int64_t ldy,
                              const void *w, size_t w_row, const void *pack) {
    gemm_k(repack_tq1_0, tq2_tokens, n_in, n_rows, n_tok, y, ldy, w, w_row, pack);
}
