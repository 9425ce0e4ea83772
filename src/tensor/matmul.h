/* matmul.h — y = W x for a batch of activation rows, split across a thread pool.
 *
 * W is a GGUF weight (ne[0] = n_in = row length, ne[1] = n_out rows) of any type whose traits
 * have a vec_dot (the dispatched one: AVX2 where the CPU has it). Each activation row is converted
 * once to the weight type's vec_dot_type (traits from_float) into caller-provided scratch; then
 * every thread takes runs of output rows and dots each row against all activation rows, so a
 * weight row is read from memory once per batch. Each thread starts on its own contiguous share
 * of the rows; one done early takes over what is left of a slower one's (matmul.c). */
#ifndef HEARTH_TENSOR_MATMUL_H
#define HEARTH_TENSOR_MATMUL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/pool.h"
#include "tensor/tensor.h"

/* Can tensor_matmul multiply weights of this type? */
int tensor_matmul_supported(tensor_type wtype);
/* Bytes of activation scratch tensor_matmul needs for n_tok rows of n_in against wtype. */
size_t tensor_matmul_scratch(tensor_type wtype, int64_t n_in, int n_tok);

// W (n_out, n_in) @ x (n_tok, n_in) -> y (n_tok, n_out)
void tensor_matmul(he_pool *pool, float *y, const void *w, tensor_type wtype, int64_t n_in,
                   int64_t n_out, const float *x, int n_tok, void *scratch);

/* ---- LoRA's low-rank products, in llama.cpp's float order (tensor_internal.h) ----
 * Each value depends only on its output and row, so the split across the pool changes nothing. */

/* y (n_tok, n_out) = A (n_out, n_in) F32 @ x (n_tok, n_in), where llama.cpp's tinyBLAS order
 * applies (n_in % 16 == 0, n_out % 4 == 0); otherwise returns -1 and does nothing (the caller
 * uses tensor_matmul, whose F32 dot keeps ggml_vec_dot_f32's order). */
int tensor_lowrank_a(he_pool *pool, float *y, const float *a, int64_t n_in, int64_t n_out,
                     const float *x, int n_tok);

/* For each j < n_tok: y[rows[j] * ldy + o] += (B[o] . t[j]) * scale[j], o < n_out, B (n_out,
 * rank) F32, t (n_tok, rank): the product, ggml_scale and ggml_add as llama.cpp rounds them.
 * tiled: tinyBLAS's order where it applies (rank % 16 == 0, n_out % 4 == 0), else (or !tiled)
 * ggml_vec_dot_f32's; -1 (nothing done) where that is not the plain chain (rank >= 64): use
 * tensor_matmul there. */
int tensor_lowrank_b_add(he_pool *pool, float *y, int64_t ldy, const int32_t *rows, const float *b,
                         int64_t rank, int64_t n_out, const float *t, const float *scale, int n_tok,
                         bool tiled);

/* One product of tensor_matmul_many: y (n_tok, n_out) = W (n_out, n_in) @ x (n_tok, n_in). */
typedef struct {
    float *y;
    const void *w;
    tensor_type wtype;
    int64_t n_in, n_out;
    const float *x;
    int n_tok;
} tensor_mm;

#define TENSOR_MM_MANY_MAX 64

/* Units of rows run by a thread other than the one whose share they were in, since the process
 * started (tests; a count of how often the pool's threads ran unevenly). */
unsigned long long tensor_matmul_taken_over(void);

/* Several products as one: the threads share all the products' rows out, so a pool runs
 * one dispatch (and waits at one barrier) for all of them instead of one per product; an item
 * with the same x, n_tok, n_in and weight type as the item before it (and a row count on the same
 * side of the tile's minimum) reuses its quantized activations. Results are those of
 * tensor_matmul on each item, bit for bit. When the items need more than scratch_size bytes of
 * activation scratch (the sum of tensor_matmul_scratch over the quantized inputs) or n exceeds
 * TENSOR_MM_MANY_MAX, they run one tensor_matmul at a time (each must fit alone). */
void tensor_matmul_many(he_pool *pool, const tensor_mm *mm, int n, void *scratch,
                        size_t scratch_size);

#endif
