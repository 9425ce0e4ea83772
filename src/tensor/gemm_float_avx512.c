/* gemm_float_avx512.c — F16 and BF16 weights against F32 activations, for every batch size
 * (AVX-512 F/BW/VL): blocks of up to 4 weight rows × 6 tokens, each weight vector widened to
 * f32 once and multiplied into the 6 tokens, each activation vector loaded once and used for
 * the 4 rows. 24 zmm accumulators, so 24 independent FMA chains keep both FMA pipes busy.
 *
 * Result contract (what makes one kernel right for prompts and generation alike): the value
 * for (row r, token t) is a function of that row and that token only. Lane l of its
 * accumulator sums w[i] * x[i] for i = l mod 16 in increasing i, fused (one rounding per
 * step); the row's tail (n % 16 elements) enters the lanes it maps to through masked loads, as
 * if zero-padded; the 16 lanes are then added by _mm512_reduce_add_ps. Where the pair sits in
 * a block, how many tokens the batch has and how rows are split over threads never change a
 * bit, so a prompt token's logits equal what decoding it alone gives.
 * Against the double-precision references (dot_ref.c) the error is that of a 16-way float
 * sum: tests bound it by 1e-5 of sum |w x|, as for the other float kernels.
 *
 * AVX512_BF16 (vdpbf16ps) is not used: it multiplies bf16 by bf16, so the F32 activations
 * would be rounded to 8 significant bits (or split into two or three bf16 parts, which costs
 * more instructions than widening a weight vector once per 6 tokens with a shift).
 *
 * Built with the %_avx512.o flags; dispatch.c hands these out only with the AVX-512 set. */
#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>

#include "tensor/tensor_internal.h"

#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

#define FR 4  /* rows per block */
#define FR 4 /* rows per block for a single token: 8 FMA chains and 8 streams instead of 4 */
#define FT 6 /* tokens per block */
/* Tokens per pass over the rows: their activations (TB * n_in * 4 bytes, 384 KB at n_in 2048)
 * stay in L2 while every row block of the thread's range streams past them once. */
#define TB 48

typedef enum { W_F16, W_BF16 } wkind;

/* 16 weights (the first popcount(m), the rest 0) widened to f32: exact for both formats */
static inline __attribute__((always_inline)) __m512 load_w(wkind k, const uint16_t *p,
                                                            __mmask16 m) {
    const __m256i h = _mm256_maskz_loadu_epi16(m, p);
    if (k == W_F16) return _mm512_cvtph_ps(h);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

/* One block of R rows × T tokens (compile-time constants once inlined, so acc lives in
 * registers). */
static inline __attribute__((always_inline)) void
block(wkind k, int R, int T, int64_t n, const uint8_t *w, size_t w_row, const float *x,
      int64_t ldx, float *y, int64_t ldy, const char *pf) {
    __m512 acc[FR][FT];
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 6
        for (int t = 0; t < T; t++)
            acc[r][t] = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        if (pf) /* the next block, R rows of 2n bytes, over this block's n / 16 steps */
#pragma GCC unroll 4
            for (int l = 0; l < (R + 1) / 2; l++)
                _mm_prefetch(pf + 2 * R * i + 64 * l, _MM_HINT_T0);
        __m512 wv[FR];
#pragma GCC unroll 4
        for (int r = 0; r < R; r++)
            wv[r] = load_w(k, (const uint16_t *)(const void *)(w + (size_t)r * w_row) + i, 0xFFFF);
#pragma GCC unroll 6
        for (int t = 0; t < T; t++) {
            const __m512 xv = _mm512_loadu_ps(x + (int64_t)t * ldx + i);
#pragma GCC unroll 4
            for (int r = 0; r < R; r++)
                acc[r][t] = _mm512_fmadd_ps(wv[r], xv, acc[r][t]);
        }
    }
    if (i < n) {
        const __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        __m512 wv[FR];
#pragma GCC unroll 4
        for (int r = 0; r < R; r++)
            wv[r] = load_w(k, (const uint16_t *)(const void *)(w + (size_t)r * w_row) + i, m);
#pragma GCC unroll 6
        for (int t = 0; t < T; t++) {
            const __m512 xv = _mm512_maskz_loadu_ps(m, x + (int64_t)t * ldx + i);
#pragma GCC unroll 4
            for (int r = 0; r < R; r++)
                acc[r][t] = _mm512_fmadd_ps(wv[r], xv, acc[r][t]);
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 6
        for (int t = 0; t < T; t++)
            y[(int64_t)t * ldy + r] = _mm512_reduce_add_ps(acc[r][t]);
}

/* The block for R × T known only at run time: one instantiation per shape. */
#define SHAPE(R, T)                                                                                \
    case (R) * 8 + (T):                                                                            \
        block(k, R, T, n, w, w_row, x, ldx, y, ldy, pf);                                           \
        return;
#define SHAPES_OF(R) SHAPE(R, 1) SHAPE(R, 2) SHAPE(R, 3) SHAPE(R, 4) SHAPE(R, 5) SHAPE(R, 6)

static inline __attribute__((always_inline)) void
block_any(wkind k, int R, int T, int64_t n, const uint8_t *w, size_t w_row, const float *x,
          int64_t ldx, float *y, int64_t ldy, const char *pf) {
    switch (R * 8 + T) {
        SHAPES_OF(1)
        SHAPES_OF(2)
        SHAPES_OF(3)
        SHAPES_OF(4)
    default: __builtin_unreachable();
    }
}

static inline __attribute__((always_inline)) void
gemm_float(wkind k, int64_t n_in, int n_rows, int n_tok, float *y, int64_t ldy, const void *vw,
           size_t w_row, const float *x, int64_t ldx) {
    const uint8_t *w = vw;
    for (int t0 = 0; t0 < n_tok; t0 += TB) {
        const int t1 = t0 + TB < n_tok ? t0 + TB : n_tok;
        for (int r0 = 0; r0 < n_rows; r0 += FR) {
            const int R = n_rows - r0 < FR ? n_rows - r0 : FR;
            for (int t = t0; t < t1; t += FT) {
                const int T = t1 - t < FT ? t1 - t : FT;
                /* the first pass over a row block also prefetches the next one */
                const char *pf = t == t0 && r0 + FR < n_rows
                                     ? (const char *)(w + (size_t)(r0 + FR) * w_row)
                                     : NULL;
                block_any(k, R, T, n_in, w + (size_t)r0 * w_row, w_row, x + (int64_t)t * ldx, ldx,
                          y + (int64_t)t * ldy + r0, ldy, pf);
            }
        }
    }
}

void tensor_avx512_gemmf_f16(int64_t n_in, int n_rows, int n_tok, float *y, int64_t ldy,
                             const void *w, size_t w_row, const float *x, int64_t ldx) {
    gemm_float(W_F16, n_in, n_rows, n_tok, y, ldy, w, w_row, x, ldx);
}

void tensor_avx512_gemmf_bf16(int64_t n_in, int n_rows, int n_tok, float *y, int64_t ldy,
                              const void *w, size_t w_row, const float *x, int64_t ldx) {
    gemm_float(W_BF16, n_in, n_rows, n_tok, y, ldy, w, w_row, x, ldx);
}
