/* tensor.h — GGUF/ggml tensor block formats and their kernels.
 *
 * Each type has a traits entry: block size (elements per block), type size (bytes per block),
 * and the scalar reference kernels: dequantize (to_float), quantize (from_float), and the dot
 * product of a row of this type against a row of its vec_dot_type (the quantized activations:
 * Q8_0 for Q4_0/Q5_0/Q8_0, Q8_1 for Q4_1/Q5_1, Q8_K for the K-quants, and F32 for the float
 * formats: F32, F16 and BF16 weights are all dotted against F32 activations, unlike ggml's
 * F16 x F16, so activations are never rounded to 16 bits).
 * Type ids are ggml's (they are what GGUF files store). Block layouts: tensor/blocks.h. */
#ifndef HEARTH_TENSOR_H
#define HEARTH_TENSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    TENSOR_TYPE_F32 = 0,
    TENSOR_TYPE_F16 = 1,
    TENSOR_TYPE_Q4_0 = 2,
    TENSOR_TYPE_Q4_1 = 3,
    TENSOR_TYPE_Q5_0 = 6,
    TENSOR_TYPE_Q5_1 = 7,
    TENSOR_TYPE_Q8_0 = 8,
    TENSOR_TYPE_Q8_1 = 9,
    TENSOR_TYPE_Q2_K = 10,
    TENSOR_TYPE_Q3_K = 11,
    TENSOR_TYPE_Q4_K = 12,
    TENSOR_TYPE_Q5_K = 13,
    TENSOR_TYPE_Q6_K = 14,
    TENSOR_TYPE_Q8_K = 15,
    TENSOR_TYPE_IQ2_XXS = 16,
    TENSOR_TYPE_IQ2_XS = 17,
    TENSOR_TYPE_IQ3_XXS = 18,
    TENSOR_TYPE_IQ1_S = 19,
    TENSOR_TYPE_IQ4_NL = 20,
    TENSOR_TYPE_IQ3_S = 21,
    TENSOR_TYPE_IQ2_S = 22,
    TENSOR_TYPE_IQ4_XS = 23,
    TENSOR_TYPE_I8 = 24,
    TENSOR_TYPE_I16 = 25,
    TENSOR_TYPE_I32 = 26,
    TENSOR_TYPE_I64 = 27,
    TENSOR_TYPE_F64 = 28,
    TENSOR_TYPE_IQ1_M = 29,
    TENSOR_TYPE_BF16 = 30,
    TENSOR_TYPE_TQ1_0 = 34,
    TENSOR_TYPE_TQ2_0 = 35,
    TENSOR_TYPE_MXFP4 = 39,
    TENSOR_TYPE_COUNT = 40 /* ids below this may appear in files; unknown ones have no traits */
} tensor_type;

/* x: n elements of the traits' type; y: floats. n must be a multiple of block_size. */
typedef void (*tensor_to_float_fn)(const void *x, float *y, int64_t n);
typedef void (*tensor_from_float_fn)(const float *x, void *y, int64_t n);
/* *s = dot(x, y) over n elements; x of this type, y of vec_dot_type. */
typedef void (*tensor_vec_dot_fn)(int64_t n, float *s, const void *x, const void *y);

typedef struct {
    const char *name;   /* "q4_K", as ggml names it */
    int64_t block_size; /* elements per block */
    size_t type_size;   /* bytes per block */
    bool is_quantized;
    tensor_to_float_fn to_float;     /* NULL when hearth cannot compute with this type */
    tensor_from_float_fn from_float; /* reference quantizer; NULL when not supported */
    tensor_vec_dot_fn vec_dot;       /* reference dot; NULL when not supported */
    tensor_type vec_dot_type;        /* format the activations are quantized to for vec_dot */
} tensor_traits;

/* Layout traits for any type id a GGUF file may store (including types hearth cannot compute
 * with, so their sizes can still be validated); NULL for an unknown id. Borrowed pointer to a
 * process-wide table, valid forever; safe to call from any thread. */
const tensor_traits *tensor_traits_of(uint32_t type);

/* Bytes of a row of n elements, or 0 if n is not a multiple of the block size. */
size_t tensor_row_size(tensor_type type, int64_t n);

/* Case-insensitive name lookup ("Q4_K", "q8_0", "f16"); returns -1 if unknown. */
int tensor_type_from_name(const char *name);

/* ---- Kernel selection ----
 * tensor_traits_of() hands out the fastest kernels this CPU runs, chosen once on first use
 * (dispatch.c): the scalar references, with per-ISA versions swapped in where the CPU allows.
 * HEARTH_ISA=ref|avx2|avx512 in the environment forces a choice (one the CPU cannot run falls
 * back to the best set below it, with a warning). Quantized SIMD kernels give bit-identical results to their
 * references; float-weight dots (F32/F16/BF16) differ only by float summation order. */

/* The scalar reference kernels, whatever was selected (tests, debugging); NULL as
 * tensor_traits_of. */
const tensor_traits *tensor_traits_ref_of(uint32_t type);

/* Name of the selected kernel set: "ref", "avx2" or "avx512". */
const char *tensor_isa(void);

/* IEEE half and bfloat16 conversions (exact, round-to-nearest-even; NaNs stay NaN, quietened). */
float tensor_fp16_to_fp32(uint16_t h);
uint16_t tensor_fp32_to_fp16(float f);
float tensor_bf16_to_fp32(uint16_t h);
uint16_t tensor_fp32_to_bf16(float f);

#endif
