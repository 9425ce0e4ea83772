/* gemm_float_avx512.c — F16 and BF16 weights against F32 activations, for every batch size
 * (AVX-512 F/BW/VL): blocks of up to 4 weight rows × 6 tokens, each weight vector widened to
 * f32 once and multiplied into the 6 tokens, each activation vector loaded once and used for
 * the 4 rows. 24 zmm accumulators, so 24 independent FMA chains keep both FMA pipes busy.
 *
 * Result contract (what makes one kernel right for prompts and generation alike): the value
 * for (row r, token t) is a function of that row and that token only. Lane l of its
 * accumulator sums w[i] * x[i] for i = l mod 16 in increasing i, fused (one rounding per
 * step); the row's tail (n % 16 elements) enters the lanes it maps to as if zero-padded; the
 * 16 lanes are then added by _mm512_reduce_add_ps. (The body, shared with the AVX2 version, is
 * gemm_float_body.h.) Where the pair sits in
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
#include <string.h>

#include "tensor/tensor_internal.h"

#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

#define VF __m512
#define VL 16
#define FR 4 /* rows per block */
#define FT 6 /* tokens per block */
/* Tokens per pass over the rows: their activations (TB * n_in * 4 bytes, 384 KB at n_in 2048)
 * stay in L2 while every row block of the thread's range streams past them once. */
#define TB 48
#define VF_ZERO() _mm512_setzero_ps()
#define VF_LOADX(p) _mm512_loadu_ps(p)
#define VF_FMA(a, b, c) _mm512_fmadd_ps(a, b, c)
#define VF_REDUCE(v) _mm512_reduce_add_ps(v)
/* 16 weights widened to f32: exact for both formats */
#define VF_LOADW(k, p)                                                                             \
    ((k) == W_F16 ? _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)(p)))      \
                  : _mm512_castsi512_ps(_mm512_slli_epi32(                                         \
                        _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(const void *)(p))), 16)))
#define GEMMF_SHAPES_OF(R)                                                                         \
    GEMMF_SHAPE(R, 1) GEMMF_SHAPE(R, 2) GEMMF_SHAPE(R, 3) GEMMF_SHAPE(R, 4) GEMMF_SHAPE(R, 5)      \
    GEMMF_SHAPE(R, 6)
#define GEMMF_SHAPES GEMMF_SHAPES_OF(1) GEMMF_SHAPES_OF(2) GEMMF_SHAPES_OF(3) GEMMF_SHAPES_OF(4)

#include "tensor/gemm_float_body.h"

GEMMF_DEFINE(avx512)
