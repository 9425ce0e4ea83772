/* tensor_internal.h — shared between the tensor module's own files only.
 *
 * The scalar reference kernels (quant_ref.c: to_float/from_float, dot_ref.c: vec_dot) are
 * declared here so the traits table and the SIMD files' tests can reach them. Signatures are
 * those of tensor_to_float_fn / tensor_from_float_fn / tensor_vec_dot_fn; n is always a
 * multiple of the type's block size. */
#ifndef HEARTH_TENSOR_INTERNAL_H
#define HEARTH_TENSOR_INTERNAL_H

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
/* float weights: equal to the references up to float summation order (not bit-identical) */
void tensor_avx2_dot_f32_f32(int64_t n, float *s, const void *x, const void *y);
void tensor_avx2_dot_f16_f32(int64_t n, float *s, const void *x, const void *y);
void tensor_avx2_dot_bf16_f32(int64_t n, float *s, const void *x, const void *y);
void tensor_avx2_f16_to_float(const void *x, float *y, int64_t n);
void tensor_avx2_f16_from_float(const float *x, void *y, int64_t n); /* bit-identical */

#endif
