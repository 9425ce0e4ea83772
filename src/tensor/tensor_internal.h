/* tensor_internal.h — shared between the tensor module's own files only.
 *
 * The scalar reference kernels (quant_ref.c: to_float/from_float, dot_ref.c: vec_dot) are
 * declared here so the traits table and the SIMD files' tests can reach them. Signatures are
 * those of tensor_to_float_fn / tensor_from_float_fn / tensor_vec_dot_fn; n is always a
 * multiple of the type's block size. */
#ifndef HEARTH_TENSOR_INTERNAL_H
#define HEARTH_TENSOR_INTERNAL_H

#include <math.h>

#include "tensor/tensor.h"

/* Fills t->to_float / from_float / vec_dot / vec_dot_type with the reference kernels for the
 * types that have them (quant_ref.c); leaves the others NULL. */
void tensor_kernels_attach(tensor_type type, tensor_traits *t);

/* Replaces kernels in table[TENSOR_TYPE_COUNT] (already holding the references) with the
 * fastest versions the CPU and HEARTH_ISA allow; records the choice for tensor_isa()
 * (dispatch.c). */
void tensor_dispatch_select(tensor_traits *table);

/* Round to nearest, ties to even (what ggml's nearest_int does for |v| < 2^22). */
int tensor_nearest_int(float v);

/* ---- Dequantize: x (n/bs blocks) -> y (n,) ---- */
void tensor_ref_f32_to_float(const void *x, float *y, int64_t n);
void tensor_ref_f16_to_float(const void *x, float *y, int64_t n);
void tensor_ref_bf16_to_float(const void *x, float *y, int64_t n);
void tensor_ref_q4_0_to_float(const void *x, float *y, int64_t n);
void tensor_ref_q4_1_to_float(const void *x, float *y, int64_t n);
void tensor_ref_q5_0_to_float(const void *x, float *y, int64_t n);
void tensor_ref_q5_1_to_float(const void *x, float *y, int64_t n);
void tensor_ref_q8_0_to_float(const void *x, float *y, int64_t n);
void tensor_ref_q8_1_to_float(const void *x, float *y, int64_t n);
void tensor_ref_q2_K_to_float(const void *x, float *y, int64_t n);
void tensor_ref_q3_K_to_float(const void *x, float *y, int64_t n);
void tensor_ref_q4_K_to_float(const void *x, float *y, int64_t n);
void tensor_ref_q5_K_to_float(const void *x, float *y, int64_t n);
void tensor_ref_q6_K_to_float(const void *x, float *y, int64_t n);
void tensor_ref_q8_K_to_float(const void *x, float *y, int64_t n);

/* ---- Quantize (reference, deterministic): x (n,) -> y (n/bs blocks) ---- */
void tensor_ref_f32_from_float(const float *x, void *y, int64_t n);
void tensor_ref_f16_from_float(const float *x, void *y, int64_t n);
void tensor_ref_bf16_from_float(const float *x, void *y, int64_t n);
void tensor_ref_q4_0_from_float(const float *x, void *y, int64_t n);
void tensor_ref_q4_1_from_float(const float *x, void *y, int64_t n);
void tensor_ref_q5_0_from_float(const float *x, void *y, int64_t n);
void tensor_ref_q5_1_from_float(const float *x, void *y, int64_t n);
void tensor_ref_q8_0_from_float(const float *x, void *y, int64_t n);
void tensor_ref_q8_1_from_float(const float *x, void *y, int64_t n);
void tensor_ref_q2_K_from_float(const float *x, void *y, int64_t n);
void tensor_ref_q3_K_from_float(const float *x, void *y, int64_t n);
void tensor_ref_q4_K_from_float(const float *x, void *y, int64_t n);
void tensor_ref_q5_K_from_float(const float *x, void *y, int64_t n);
void tensor_ref_q6_K_from_float(const float *x, void *y, int64_t n);
void tensor_ref_q8_K_from_float(const float *x, void *y, int64_t n);

/* ---- Dot products: *s = x (n,) . y (n,), x of the first type, y of the second ---- */
void tensor_ref_dot_f32_f32(int64_t n, float *s, const void *x, const void *y);
void tensor_ref_dot_f16_f32(int64_t n, float *s, const void *x, const void *y);
void tensor_ref_dot_bf16_f32(int64_t n, float *s, const void *x, const void *y);
void tensor_ref_dot_q4_0_q8_0(int64_t n, float *s, const void *x, const void *y);
void tensor_ref_dot_q4_1_q8_1(int64_t n, float *s, const void *x, const void *y);
void tensor_ref_dot_q5_0_q8_0(int64_t n, float *s, const void *x, const void *y);
void tensor_ref_dot_q5_1_q8_1(int64_t n, float *s, const void *x, const void *y);
void tensor_ref_dot_q8_0_q8_0(int64_t n, float *s, const void *x, const void *y);
void tensor_ref_dot_q2_K_q8_K(int64_t n, float *s, const void *x, const void *y);
void tensor_ref_dot_q3_K_q8_K(int64_t n, float *s, const void *x, const void *y);
void tensor_ref_dot_q4_K_q8_K(int64_t n, float *s, const void *x, const void *y);
void tensor_ref_dot_q5_K_q8_K(int64_t n, float *s, const void *x, const void *y);
void tensor_ref_dot_q6_K_q8_K(int64_t n, float *s, const void *x, const void *y);
void tensor_ref_dot_q8_K_q8_K(int64_t n, float *s, const void *x, const void *y);

/* ---- quant_nl.c: IQ4_NL, IQ4_XS, TQ1_0, TQ2_0, MXFP4 ---- */
void tensor_ref_iq4_nl_to_float(const void *x, float *y, int64_t n);
void tensor_ref_iq4_nl_from_float(const float *x, void *y, int64_t n);
void tensor_ref_iq4_xs_to_float(const void *x, float *y, int64_t n);
void tensor_ref_iq4_xs_from_float(const float *x, void *y, int64_t n);
void tensor_ref_tq1_0_to_float(const void *x, float *y, int64_t n);
void tensor_ref_tq1_0_from_float(const float *x, void *y, int64_t n);
void tensor_ref_tq2_0_to_float(const void *x, float *y, int64_t n);
void tensor_ref_tq2_0_from_float(const float *x, void *y, int64_t n);
void tensor_ref_mxfp4_to_float(const void *x, float *y, int64_t n);
void tensor_ref_mxfp4_from_float(const float *x, void *y, int64_t n);
void tensor_ref_dot_iq4_nl_q8_0(int64_t n, float *s, const void *x, const void *y);
void tensor_ref_dot_iq4_xs_q8_K(int64_t n, float *s, const void *x, const void *y);
void tensor_ref_dot_tq1_0_q8_K(int64_t n, float *s, const void *x, const void *y);
void tensor_ref_dot_tq2_0_q8_K(int64_t n, float *s, const void *x, const void *y);
void tensor_ref_dot_mxfp4_q8_0(int64_t n, float *s, const void *x, const void *y);
/* IQ3_S */
extern const uint32_t tensor_iq3s_grid[512]; /* iq3s_grid.c: the format's codebook */
void tensor_ref_iq3_s_to_float(const void *x, float *y, int64_t n);
/* llama-quantize's IQ3_S bytes without an importance matrix (quant_nl.c; thread-safe) */
void tensor_ref_iq3_s_from_float(const float *x, void *y, int64_t n);
void tensor_ref_dot_iq3_s_q8_K(int64_t n, float *s, const void *x, const void *y);

/* ---- quant_iq.c: the importance-matrix i-quants (dequantize and dot only: llama-quantize
 * writes them from an importance matrix; hearth reads them) ---- */
extern const uint64_t tensor_iq2xxs_grid[256]; /* iq_grids.c: the formats' codebooks */
extern const uint64_t tensor_iq2xs_grid[512];
extern const uint64_t tensor_iq2s_grid[1024];
extern const uint32_t tensor_iq3xxs_grid[256];
extern const uint64_t tensor_iq1s_grid[2048];
extern const uint8_t tensor_iq_ksigns[128];       /* 7 sign bits -> the byte with its parity bit */
uint16_t tensor_iq1_m_d(const void *block_iq1_m); /* the fp16 d packed in an IQ1_M block */
void tensor_ref_iq2_xxs_to_float(const void *x, float *y, int64_t n);
void tensor_ref_iq2_xs_to_float(const void *x, float *y, int64_t n);
void tensor_ref_iq2_s_to_float(const void *x, float *y, int64_t n);
void tensor_ref_iq3_xxs_to_float(const void *x, float *y, int64_t n);
void tensor_ref_iq1_s_to_float(const void *x, float *y, int64_t n);
void tensor_ref_iq1_m_to_float(const void *x, float *y, int64_t n);
void tensor_ref_dot_iq2_xxs_q8_K(int64_t n, float *s, const void *x, const void *y);
void tensor_ref_dot_iq2_xs_q8_K(int64_t n, float *s, const void *x, const void *y);
void tensor_ref_dot_iq2_s_q8_K(int64_t n, float *s, const void *x, const void *y);
void tensor_ref_dot_iq3_xxs_q8_K(int64_t n, float *s, const void *x, const void *y);
void tensor_ref_dot_iq1_s_q8_K(int64_t n, float *s, const void *x, const void *y);
void tensor_ref_dot_iq1_m_q8_K(int64_t n, float *s, const void *x, const void *y);

/* ---- AVX2+FMA+F16C versions (dot_avx2.c): quantized paths bit-identical to the references ---- */
void tensor_avx2_q8_0_from_float(const float *x, void *y, int64_t n);
void tensor_avx2_q8_1_from_float(const float *x, void *y, int64_t n);
void tensor_avx2_q8_K_from_float(const float *x, void *y, int64_t n);
void tensor_avx2_dot_q4_0_q8_0(int64_t n, float *s, const void *x, const void *y);
void tensor_avx2_dot_q8_0_q8_0(int64_t n, float *s, const void *x, const void *y);
void tensor_avx2_dot_q5_0_q8_0(int64_t n, float *s, const void *x, const void *y);
void tensor_avx2_dot_q4_1_q8_1(int64_t n, float *s, const void *x, const void *y);
void tensor_avx2_dot_q5_1_q8_1(int64_t n, float *s, const void *x, const void *y);
void tensor_avx2_dot_q2_K_q8_K(int64_t n, float *s, const void *x, const void *y);
void tensor_avx2_dot_q3_K_q8_K(int64_t n, float *s, const void *x, const void *y);
void tensor_avx2_dot_q4_K_q8_K(int64_t n, float *s, const void *x, const void *y);
void tensor_avx2_dot_q5_K_q8_K(int64_t n, float *s, const void *x, const void *y);
void tensor_avx2_dot_q6_K_q8_K(int64_t n, float *s, const void *x, const void *y);
void tensor_avx2_dot_iq4_nl_q8_0(int64_t n, float *s, const void *x, const void *y);
void tensor_avx2_dot_mxfp4_q8_0(int64_t n, float *s, const void *x, const void *y);
void tensor_avx2_dot_iq4_xs_q8_K(int64_t n, float *s, const void *x, const void *y);
void tensor_avx2_dot_tq1_0_q8_K(int64_t n, float *s, const void *x, const void *y);
void tensor_avx2_dot_tq2_0_q8_K(int64_t n, float *s, const void *x, const void *y);
void tensor_avx2_dot_iq3_s_q8_K(int64_t n, float *s, const void *x, const void *y);
void tensor_avx2_dot_iq2_xxs_q8_K(int64_t n, float *s, const void *x, const void *y);
void tensor_avx2_dot_iq2_xs_q8_K(int64_t n, float *s, const void *x, const void *y);
void tensor_avx2_dot_iq2_s_q8_K(int64_t n, float *s, const void *x, const void *y);
void tensor_avx2_dot_iq3_xxs_q8_K(int64_t n, float *s, const void *x, const void *y);
void tensor_avx2_dot_iq1_s_q8_K(int64_t n, float *s, const void *x, const void *y);
void tensor_avx2_dot_iq1_m_q8_K(int64_t n, float *s, const void *x, const void *y);
/* float weights: equal to the references up to float summation order (not bit-identical) */
void tensor_avx2_dot_f32_f32(int64_t n, float *s, const void *x, const void *y);
void tensor_avx2_dot_f16_f32(int64_t n, float *s, const void *x, const void *y);
void tensor_avx2_dot_bf16_f32(int64_t n, float *s, const void *x, const void *y);
void tensor_avx2_f16_to_float(const void *x, float *y, int64_t n);
void tensor_avx2_f16_from_float(const float *x, void *y, int64_t n); /* bit-identical */

/* ---- AVX-512 F/BW/VL/DQ + VNNI versions (dot_avx512.c): bit-identical to the references ----
 * (types without one here keep their AVX2 kernels on an AVX-512 CPU) */
void tensor_avx512_dot_q4_0_q8_0(int64_t n, float *s, const void *x, const void *y);
void tensor_avx512_dot_q8_0_q8_0(int64_t n, float *s, const void *x, const void *y);
void tensor_avx512_dot_q4_K_q8_K(int64_t n, float *s, const void *x, const void *y);
void tensor_avx512_dot_q5_K_q8_K(int64_t n, float *s, const void *x, const void *y);
void tensor_avx512_dot_q6_K_q8_K(int64_t n, float *s, const void *x, const void *y);
void tensor_avx512_dot_q2_K_q8_K(int64_t n, float *s, const void *x, const void *y);
void tensor_avx512_dot_q3_K_q8_K(int64_t n, float *s, const void *x, const void *y);
void tensor_avx512_dot_iq4_nl_q8_0(int64_t n, float *s, const void *x, const void *y);
void tensor_avx512_dot_mxfp4_q8_0(int64_t n, float *s, const void *x, const void *y);
void tensor_avx512_dot_iq4_xs_q8_K(int64_t n, float *s, const void *x, const void *y);
void tensor_avx512_dot_tq1_0_q8_K(int64_t n, float *s, const void *x, const void *y);
void tensor_avx512_dot_tq2_0_q8_K(int64_t n, float *s, const void *x, const void *y);
void tensor_avx512_dot_iq3_s_q8_K(int64_t n, float *s, const void *x, const void *y);
void tensor_avx512_dot_iq2_xxs_q8_K(int64_t n, float *s, const void *x, const void *y);
void tensor_avx512_dot_iq2_xs_q8_K(int64_t n, float *s, const void *x, const void *y);
void tensor_avx512_dot_iq2_s_q8_K(int64_t n, float *s, const void *x, const void *y);
void tensor_avx512_dot_iq3_xxs_q8_K(int64_t n, float *s, const void *x, const void *y);
void tensor_avx512_dot_iq1_s_q8_K(int64_t n, float *s, const void *x, const void *y);
void tensor_avx512_dot_iq1_m_q8_K(int64_t n, float *s, const void *x, const void *y);

/* ---- NEON versions (aarch64 only): dot_neon.c (plain ARMv8-A) and dot_neondp.c (the same
 * integer kernels with the ARMv8.2 dot-product instructions); quantized dots and F32 bit-identical
 * to the references, F16/BF16 equal up to float summation order ---- */
void tensor_neon_q8_0_from_float(const float *x, void *y, int64_t n);
void tensor_neon_f16_to_float(const void *x, float *y, int64_t n);
void tensor_neon_f16_from_float(const float *x, void *y, int64_t n); /* bit-identical */
void tensor_neon_q8_K_from_float(const float *x, void *y, int64_t n);
void tensor_neon_dot_q4_0_q8_0(int64_t n, float *s, const void *x, const void *y);
void tensor_neon_dot_q8_0_q8_0(int64_t n, float *s, const void *x, const void *y);
void tensor_neon_dot_q4_K_q8_K(int64_t n, float *s, const void *x, const void *y);
void tensor_neon_dot_q5_K_q8_K(int64_t n, float *s, const void *x, const void *y);
void tensor_neon_dot_q6_K_q8_K(int64_t n, float *s, const void *x, const void *y);
void tensor_neon_dot_f32_f32(int64_t n, float *s, const void *x, const void *y);
void tensor_neon_dot_f16_f32(int64_t n, float *s, const void *x, const void *y);
void tensor_neon_dot_bf16_f32(int64_t n, float *s, const void *x, const void *y);
void tensor_neondp_dot_q4_0_q8_0(int64_t n, float *s, const void *x, const void *y);
void tensor_neondp_dot_q8_0_q8_0(int64_t n, float *s, const void *x, const void *y);
void tensor_neondp_dot_q4_K_q8_K(int64_t n, float *s, const void *x, const void *y);
void tensor_neondp_dot_q5_K_q8_K(int64_t n, float *s, const void *x, const void *y);
void tensor_neondp_dot_q6_K_q8_K(int64_t n, float *s, const void *x, const void *y);
/* small-batch kernels (signature of tensor_gemvn_fn below; Q8_K activation rows, act_row bytes
 * apart, no pack), bit-identical to the dots */
void tensor_neon_gemvn_q4_K(int64_t n_in, int n_rows, int n_tok, float *y, int64_t ldy,
                            const void *w, size_t w_row, const void *act, size_t act_row);
void tensor_neon_gemvn_q6_K(int64_t n_in, int n_rows, int n_tok, float *y, int64_t ldy,
                            const void *w, size_t w_row, const void *act, size_t act_row);
void tensor_neondp_gemvn_q4_K(int64_t n_in, int n_rows, int n_tok, float *y, int64_t ldy,
                              const void *w, size_t w_row, const void *act, size_t act_row);
void tensor_neondp_gemvn_q6_K(int64_t n_in, int n_rows, int n_tok, float *y, int64_t ldy,
                              const void *w, size_t w_row, const void *act, size_t act_row);
/* tiled prompt kernels (SDOT only; signature of tensor_gemm_fn below, the packed layout
 * described there; n_rows a multiple of 4), bit-identical to the dots */
void tensor_neondp_gemm_q4_0(int64_t n_in, int n_rows, int n_tok, float *y, int64_t ldy,
                             const void *w, size_t w_row, const void *pack);
void tensor_neondp_gemm_q8_0(int64_t n_in, int n_rows, int n_tok, float *y, int64_t ldy,
                             const void *w, size_t w_row, const void *pack);

/* ---- Tiled matmul kernels for prompt batches (gemm_avx512.c) ----
 * y[t * ldy + r] = vec_dot(n_in, row r of w, activation row t) for r < n_rows (a multiple of
 * TENSOR_GEMM_ROWS) and t < n_tok, bit-identical to the reference vec_dot of each pair.
 * w: n_rows weight rows of w_row bytes; pack: the activations as tensor_gemm_pack lays them out.
 *
 * Packed activations (matmul.c), per group of TENSOR_GEMM_TOKENS tokens (the last one padded
 * with zeros), per block of the row (groups n_in/block_size records apart):
 *   Q8_0 rows (Q4_0/Q8_0 weights), TENSOR_GEMM_PACK32 bytes per 32-element block:
 *     [k-group g (8)][token t (8)] the 4 bytes qs[4g..4g+3]; float dy[8]; int32 -c*sum(qs)[8]
 *     with c = 8 for Q4_0 (levels 0..15 for q-8) and 128 for Q8_0 (bytes x+128), IQ4_NL and
 *     MXFP4 (levels v+128)
 *   Q8_K rows (Q4_K/Q6_K/IQ4_XS/IQ3_S/TQ1_0/TQ2_0 weights), TENSOR_GEMM_PACKK bytes per 256-element super-block:
 *     [k-group (64)][token (8)] 4 bytes of qs; [pair p (8)][token (8)] bsums[2p], bsums[2p+1];
 *     float d[8]
 * The small-batch kernels of Q4_0/Q8_0/IQ4_NL/MXFP4 (tensor_avx512_gemvn_*) take a linear layout instead, per
 * token (nb = n_in / 32 blocks, tokens nb * TENSOR_GEMV_PACK32 bytes apart): qs of all blocks
 * (32 bytes each), float dy[nb], int32 -c*sum(qs)[nb] (tensor_gemvn_pack). */
#define TENSOR_GEMV_PACK32 40
#define TENSOR_GEMM_ROWS 16
#define TENSOR_GEMM_TOKENS 8
#define TENSOR_GEMM_PACK32 320
#define TENSOR_GEMM_PACKK 2336
/* The tiled kernels' repacked weight tile, one per thread, shared by every kernel (each asserts
 * its tile type fits): static TLS is carried by every thread of the process — an HTTP pump's
 * 256 KiB stack included, where glibc refuses to start a thread (EINVAL) once the TLS no longer
 * fits — so one arena of the largest tile, not one per kernel that would add up. */
#define TENSOR_TILE_BYTES (80 << 10)
void *tensor_tile_tls(void); /* 64-byte aligned, TENSOR_TILE_BYTES, this thread's */
typedef void (*tensor_gemm_fn)(int64_t n_in, int n_rows, int n_tok, float *y, int64_t ldy,
                               const void *w, size_t w_row, const void *pack);
/* The selected kernel set's tiled kernel for weights of this type, or NULL (dispatch.c;
 * HEARTH_GEMM=0 turns them all off, for comparisons). */
tensor_gemm_fn tensor_gemm_of(tensor_type wtype);
/* Bytes of packed activations for n_tok rows of n_in against wtype (0: no tiled kernel). */
size_t tensor_gemm_pack_size(tensor_type wtype, int64_t n_in, int n_tok);
/* Packs n_tok activation rows (wtype's vec_dot_type, q_row bytes apart) for wtype's tiled
 * kernel into pack (tensor_gemm_pack_size bytes, 4-byte aligned). */
void tensor_gemm_pack(tensor_type wtype, int64_t n_in, const void *q, size_t q_row, int n_tok,
                      void *pack);
void tensor_avx512_gemm_q4_0(int64_t n_in, int n_rows, int n_tok, float *y, int64_t ldy,
                             const void *w, size_t w_row, const void *pack);

/* The AVX2 set's tiled kernels (gemm_avx2.c): same contract and packed layout, n_rows a
 * multiple of TENSOR_GEMM_ROWS. */
void tensor_avx2_gemm_q4_0(int64_t n_in, int n_rows, int n_tok, float *y, int64_t ldy,
                           const void *w, size_t w_row, const void *pack);
void tensor_avx2_gemm_q8_0(int64_t n_in, int n_rows, int n_tok, float *y, int64_t ldy,
                           const void *w, size_t w_row, const void *pack);
void tensor_avx2_gemm_q4_K(int64_t n_in, int n_rows, int n_tok, float *y, int64_t ldy,
                           const void *w, size_t w_row, const void *pack);
void tensor_avx2_gemm_q6_K(int64_t n_in, int n_rows, int n_tok, float *y, int64_t ldy,
                           const void *w, size_t w_row, const void *pack);
/* The same with AVX-VNNI's VEX vpdpbusd (only where CPUID reports AVX-VNNI; HEARTH_AVXVNNI=0
 * keeps the vpmaddubsw ones) */
void tensor_avx2_gemm_iq4_nl(int64_t n_in, int n_rows, int n_tok, float *y, int64_t ldy,
                             const void *w, size_t w_row, const void *pack);
void tensor_avx2_gemm_iq4_xs(int64_t n_in, int n_rows, int n_tok, float *y, int64_t ldy,
                             const void *w, size_t w_row, const void *pack);
void tensor_avx2_gemm_iq4_nl_vnni(int64_t n_in, int n_rows, int n_tok, float *y, int64_t ldy,
                                  const void *w, size_t w_row, const void *pack);
void tensor_avx2_gemm_iq4_xs_vnni(int64_t n_in, int n_rows, int n_tok, float *y, int64_t ldy,
                                  const void *w, size_t w_row, const void *pack);
void tensor_avx2_gemm_tq2_0(int64_t n_in, int n_rows, int n_tok, float *y, int64_t ldy,
                            const void *w, size_t w_row, const void *pack);
void tensor_avx2_gemm_mxfp4(int64_t n_in, int n_rows, int n_tok, float *y, int64_t ldy,
                            const void *w, size_t w_row, const void *pack);
void tensor_avx2_gemm_mxfp4_vnni(int64_t n_in, int n_rows, int n_tok, float *y, int64_t ldy,
                                 const void *w, size_t w_row, const void *pack);
void tensor_avx2_gemm_iq3_s(int64_t n_in, int n_rows, int n_tok, float *y, int64_t ldy,
                            const void *w, size_t w_row, const void *pack);
void tensor_avx2_gemm_iq3_s_vnni(int64_t n_in, int n_rows, int n_tok, float *y, int64_t ldy,
                                 const void *w, size_t w_row, const void *pack);
void tensor_avx2_gemm_tq1_0(int64_t n_in, int n_rows, int n_tok, float *y, int64_t ldy,
                            const void *w, size_t w_row, const void *pack);
void tensor_avx2_gemm_tq1_0_vnni(int64_t n_in, int n_rows, int n_tok, float *y, int64_t ldy,
                                 const void *w, size_t w_row, const void *pack);
void tensor_avx2_gemm_tq2_0_vnni(int64_t n_in, int n_rows, int n_tok, float *y, int64_t ldy,
                                 const void *w, size_t w_row, const void *pack);
void tensor_avx2_gemm_q4_0_vnni(int64_t n_in, int n_rows, int n_tok, float *y, int64_t ldy,
                                const void *w, size_t w_row, const void *pack);
void tensor_avx2_gemm_q8_0_vnni(int64_t n_in, int n_rows, int n_tok, float *y, int64_t ldy,
                                const void *w, size_t w_row, const void *pack);
void tensor_avx2_gemm_q4_K_vnni(int64_t n_in, int n_rows, int n_tok, float *y, int64_t ldy,
                                const void *w, size_t w_row, const void *pack);
void tensor_avx2_gemm_q6_K_vnni(int64_t n_in, int n_rows, int n_tok, float *y, int64_t ldy,
                                const void *w, size_t w_row, const void *pack);
/* Whether this CPU has AVX-VNNI (VEX vpdpbusd on 256 bits; CPUID leaf 7 subleaf 1 EAX bit 4). */
bool tensor_cpu_has_avxvnni(void);

/* ---- Small batches (dot_avx512.c): y[t * ldy + r] = vec_dot(row r, token t) for any n_rows and
 * n_tok, bit-identical, each weight block unpacked once for up to 8 tokens. act: Q4_0/Q8_0
 * weights, the tokens' linear packs (TENSOR_GEMV_PACK32 bytes per block and token, the
 * correction -c*sum(qs) with c = 8 for Q4_0 and 128 for Q8_0; act_row unused); Q4_K/Q6_K/IQ4_XS, the
 * Q8_K activation rows, act_row bytes apart. matmul.c uses them below a per-type batch size. */
typedef void (*tensor_gemvn_fn)(int64_t n_in, int n_rows, int n_tok, float *y, int64_t ldy,
                                const void *w, size_t w_row, const void *act, size_t act_row);
/* The selected set's small-batch kernel for this weight type, or NULL (dispatch.c;
 * HEARTH_GEMV=0 turns them off, for comparisons). */
tensor_gemvn_fn tensor_gemvn_of(tensor_type wtype);
/* Largest batch tensor_matmul gives the small-batch kernel of wtype (0: never; matmul.c). */
int tensor_gemvn_max_tok(tensor_type wtype);
/* Packs n_tok Q8_0 activation rows linearly for the Q4_0/Q8_0 small-batch kernels into pack
 * (n_tok * (n_in / 32) * TENSOR_GEMV_PACK32 bytes, 4-byte aligned); other types need no pack. */
/* Whether the type's small-batch kernel takes its tokens packed by tensor_gemvn_pack (Q4_0, Q8_0,
 * IQ4_NL, MXFP4) rather than as Q8_K/Q8_0 rows. */
bool tensor_gemvn_packs(tensor_type wtype);
void tensor_gemvn_pack(tensor_type wtype, int64_t n_in, const void *q, size_t q_row, int n_tok,
                       void *pack);
void tensor_avx512_gemvn_q4_0(int64_t n_in, int n_rows, int n_tok, float *y, int64_t ldy,
                              const void *w, size_t w_row, const void *act, size_t act_row);
void tensor_avx512_gemvn_q4_0_vbmi(int64_t n_in, int n_rows, int n_tok, float *y, int64_t ldy,
                                   const void *w, size_t w_row, const void *act, size_t act_row);
void tensor_avx512_gemvn_q8_0(int64_t n_in, int n_rows, int n_tok, float *y, int64_t ldy,
                              const void *w, size_t w_row, const void *act, size_t act_row);
void tensor_avx512_gemvn_q4_K(int64_t n_in, int n_rows, int n_tok, float *y, int64_t ldy,
                              const void *w, size_t w_row, const void *act, size_t act_row);
void tensor_avx512_gemvn_q6_K(int64_t n_in, int n_rows, int n_tok, float *y, int64_t ldy,
                              const void *w, size_t w_row, const void *act, size_t act_row);
void tensor_avx512_gemvn_iq4_xs(int64_t n_in, int n_rows, int n_tok, float *y, int64_t ldy,
                                const void *w, size_t w_row, const void *act, size_t act_row);
void tensor_avx512_gemvn_mxfp4(int64_t n_in, int n_rows, int n_tok, float *y, int64_t ldy,
                               const void *w, size_t w_row, const void *act, size_t act_row);
void tensor_avx512_gemvn_mxfp4_vbmi(int64_t n_in, int n_rows, int n_tok, float *y, int64_t ldy,
                                    const void *w, size_t w_row, const void *act, size_t act_row);
void tensor_avx512_gemvn_iq4_nl(int64_t n_in, int n_rows, int n_tok, float *y, int64_t ldy,
                                const void *w, size_t w_row, const void *act, size_t act_row);
void tensor_avx512_gemvn_iq4_nl_vbmi(int64_t n_in, int n_rows, int n_tok, float *y, int64_t ldy,
                                     const void *w, size_t w_row, const void *act, size_t act_row);
void tensor_avx512_gemm_iq4_nl(int64_t n_in, int n_rows, int n_tok, float *y, int64_t ldy,
                               const void *w, size_t w_row, const void *pack);
void tensor_avx512_gemm_iq4_xs(int64_t n_in, int n_rows, int n_tok, float *y, int64_t ldy,
                               const void *w, size_t w_row, const void *pack);
void tensor_avx512_gemm_mxfp4(int64_t n_in, int n_rows, int n_tok, float *y, int64_t ldy,
                              const void *w, size_t w_row, const void *pack);
void tensor_avx512_gemm_iq3_s(int64_t n_in, int n_rows, int n_tok, float *y, int64_t ldy,
                              const void *w, size_t w_row, const void *pack);
void tensor_avx512_gemm_tq1_0(int64_t n_in, int n_rows, int n_tok, float *y, int64_t ldy,
                              const void *w, size_t w_row, const void *pack);
void tensor_avx512_gemm_tq2_0(int64_t n_in, int n_rows, int n_tok, float *y, int64_t ldy,
                              const void *w, size_t w_row, const void *pack);
void tensor_avx512_gemm_q8_0(int64_t n_in, int n_rows, int n_tok, float *y, int64_t ldy,
                             const void *w, size_t w_row, const void *pack);
void tensor_avx512_gemm_q4_K(int64_t n_in, int n_rows, int n_tok, float *y, int64_t ldy,
                             const void *w, size_t w_row, const void *pack);
void tensor_avx512_gemm_q6_K(int64_t n_in, int n_rows, int n_tok, float *y, int64_t ldy,
                             const void *w, size_t w_row, const void *pack);

/* ---- Float weights (gemm_float_avx512.c, gemm_float_avx2.c): F16/BF16 rows against F32
 * activations ----
 * y[t * ldy + r] = row r . token t (x rows ldx floats apart) for any n_rows and n_tok; each
 * value depends on its row and token only (not on the batch or the row split), so matmul.c
 * gives these kernels every batch size, generation included. Within 1e-5 of sum |w x| of the
 * double-precision references. */
typedef void (*tensor_gemmf_fn)(int64_t n_in, int n_rows, int n_tok, float *y, int64_t ldy,
                                const void *w, size_t w_row, const float *x, int64_t ldx);
/* The selected set's float-weight kernel for this type, or NULL (dispatch.c; HEARTH_GEMM=0
 * turns them off too). */
tensor_gemmf_fn tensor_gemmf_of(tensor_type wtype);
void tensor_avx512_gemmf_f16(int64_t n_in, int n_rows, int n_tok, float *y, int64_t ldy,
                             const void *w, size_t w_row, const float *x, int64_t ldx);
void tensor_avx512_gemmf_bf16(int64_t n_in, int n_rows, int n_tok, float *y, int64_t ldy,
                              const void *w, size_t w_row, const float *x, int64_t ldx);
void tensor_avx2_gemmf_f16(int64_t n_in, int n_rows, int n_tok, float *y, int64_t ldy,
                           const void *w, size_t w_row, const float *x, int64_t ldx);
void tensor_avx2_gemmf_bf16(int64_t n_in, int n_rows, int n_tok, float *y, int64_t ldy,
                            const void *w, size_t w_row, const float *x, int64_t ldx);

/* ---- LoRA's low-rank products, in llama.cpp's order of float operations ----
 * llama.cpp multiplies an adapter's F32 halves with F32 activations in one of two orders (its
 * CPU build on an AVX-512 machine, which the reference fixtures come from):
 *   "dot16": llamafile's tinyBLAS (sgemm.cpp), taken when the row length is a multiple of 16 and
 *     the weight's row count a multiple of 4: 16 fused lane partials p[l] (k % 16 = l), folded
 *     as GCC's _mm512_reduce_add_ps: s8[i] = p[i] + p[i + 8], s4[i] = s8[i] + s8[i + 4], then
 *     (s4[0] + s4[2]) + (s4[1] + s4[3]);
 *   "seq": otherwise ggml_vec_dot_f32, which for fewer than 64 elements is its tail loop alone:
 *     tensor_f32_tail from 0 (the tail tensor_*_dot_f32_f32 keep for longer rows).
 * Matching them bit for bit matters on a quantized base: the next matmul rounds the activations
 * to 8 bits, so a last-bit difference in the adapter's output can move a value across a
 * rounding step (see docs/ENGINE.md "LoRA adapters"). Every set below is bit-identical to its
 * reference (test_kernels). */
/* sum + x . y over n elements in ggml_vec_dot_f32's tail order (its `sumf += x[i]*y[i]` loop
 * after the 64-wide part) as the peer's gcc -O3 -march=native build compiles it, read from its
 * disassembly: the loop is vectorized with ordered adds — products of the first n & ~7
 * elements rounded on their own (16 and then 8 at a time), then added one by one in order — and
 * only the last n % 8 go through the scalar epilogue, fused (vfmadd231ss). A rounded product
 * where a fused one is assumed gives last-bit differences; see docs/ENGINE.md "LoRA adapters".
 * Two statements, so no compiler contracts the product into the add. */
static inline float tensor_f32_tail(float sum, const float *x, const float *y, int64_t n) {
    const int64_t n8 = n & ~(int64_t)7;
    int64_t i = 0;
    for (; i < n8; i++) {
        const float p = x[i] * y[i];
        sum += p;
    }
    for (; i < n; i++)
        sum = fmaf(x[i], y[i], sum);
    return sum;
}

typedef void (*tensor_dot16_fn)(int64_t n, float *s, const float *x, const float *y);
/* y[o] += (B[o] . t) * s for o < n_out, B (n_out, rank) F32 rows, the dot in one of the orders */
typedef void (*tensor_lowrank_fn)(int64_t rank, int64_t n_out, const float *b, const float *t,
                                  float s, float *y);
tensor_dot16_fn tensor_dot16_of(void);         /* the selected set's (dispatch.c) */
tensor_lowrank_fn tensor_lowrank16_of(void);   /* rank % 16 == 0: the dot16 order */
tensor_lowrank_fn tensor_lowrank_seq_of(void); /* rank < 64: the seq order */
void tensor_ref_dot16_f32(int64_t n, float *s, const float *x, const float *y);
void tensor_ref_lowrank16_add_f32(int64_t rank, int64_t n_out, const float *b, const float *t,
                                  float s, float *y);
void tensor_ref_lowrank_seq_add_f32(int64_t rank, int64_t n_out, const float *b, const float *t,
                                    float s, float *y);
void tensor_avx2_dot16_f32(int64_t n, float *s, const float *x, const float *y);
void tensor_avx2_lowrank16_add_f32(int64_t rank, int64_t n_out, const float *b, const float *t,
                                   float s, float *y);
void tensor_avx2_lowrank_seq_add_f32(int64_t rank, int64_t n_out, const float *b, const float *t,
                                     float s, float *y);

#endif
