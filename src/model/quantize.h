/* quantize.h — converting a model's weights to another tensor type (`hearth quantize`), and the
 * tensor staging both the quantizer and the model generator (synth.h) write through.
 *
 * A target is a llama.cpp "file type" (ftype): one base tensor type, or a mix (Q4_K_M, Q5_K_M)
 * that gives some tensors more bits. quant_choose_type decides each tensor's type:
 *   - 1-D tensors (norm weights, biases, rope factors) and MoE routers (ffn_gate_inp) stay F32,
 *     as llama.cpp does;
 *   - Q4_K_M / Q5_K_M: output.weight -> Q6_K; attn_v and ffn_down of the "more important" layers
 *     (the first 1/8, the last 1/8 and every third in between; ffn_down_exps / _shexp count as
 *     ffn_down) -> Q6_K; everything else, the
 *     token embedding included, -> Q4_K / Q5_K;
 *   - MXFP4 (llama.cpp's MXFP4_MOE, as gpt-oss's GGUFs have it): in a model with experts, the
 *     expert stacks (3-D, ne[2] > 1) -> MXFP4 and every other 2-D weight (the token embedding
 *     and output included) -> Q8_0, llama.cpp's llama-quant.cpp rule; in a model without experts
 *     (where that rule would make the file all Q8_0) every 2-D weight -> MXFP4;
 *   - every other ftype applies its base type to every 2-D weight ("pure");
 *   - a row length (ne[0]) that is not a multiple of the type's block falls back, as llama.cpp
 *     does: Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0, and a row that is not a multiple of 32
 *     either -> F16.
 * Inputs of any type hearth can dequantize are converted through f32; a tensor already in its
 * target type is copied byte for byte. */
#ifndef HEARTH_MODEL_QUANTIZE_H
#define HEARTH_MODEL_QUANTIZE_H

#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"
#include "gguf/gguf.h"
#include "tensor/tensor.h"

/* llama.cpp's LLAMA_FTYPE values (written to general.file_type). */
typedef enum {
    QUANT_FTYPE_ALL_F32 = 0,
    QUANT_FTYPE_MOSTLY_F16 = 1,
    QUANT_FTYPE_MOSTLY_Q4_0 = 2,
    QUANT_FTYPE_MOSTLY_Q4_1 = 3,
    QUANT_FTYPE_MOSTLY_Q8_0 = 7,
    QUANT_FTYPE_MOSTLY_Q5_0 = 8,
    QUANT_FTYPE_MOSTLY_Q5_1 = 9,
    QUANT_FTYPE_MOSTLY_Q4_K_S = 14, /* hearth's "q4_k": every weight Q4_K */
    QUANT_FTYPE_MOSTLY_Q4_K_M = 15,
    QUANT_FTYPE_MOSTLY_Q5_K_S = 16, /* hearth's "q5_k": every weight Q5_K */
    QUANT_FTYPE_MOSTLY_Q5_K_M = 17,
    QUANT_FTYPE_MOSTLY_Q6_K = 18,
    QUANT_FTYPE_MOSTLY_IQ4_NL = 25,
    QUANT_FTYPE_MOSTLY_IQ3_S = 26,
    QUANT_FTYPE_MOSTLY_IQ4_XS = 30,
    QUANT_FTYPE_MOSTLY_BF16 = 32,
    QUANT_FTYPE_MOSTLY_TQ1_0 = 36,
    QUANT_FTYPE_MOSTLY_TQ2_0 = 37,
    QUANT_FTYPE_MOSTLY_MXFP4 = 38, /* llama.cpp's MOSTLY_MXFP4_MOE (see above) */
} quant_ftype;

/* Case-insensitive: f32 f16 bf16 q8_0 q4_0 q4_1 q5_0 q5_1 q4_k (= q4_k_s) q5_k (= q5_k_s) q6_k
 * q4_k_m q5_k_m. Returns 0 and sets *out, or -1 with err naming the accepted names. */
int quant_ftype_from_name(const char *name, quant_ftype *out /* out */, he_error *err);
const char *quant_ftype_name(quant_ftype ftype); /* "Q4_K_M", ... */
tensor_type quant_ftype_base(quant_ftype ftype); /* the base tensor type */

/* True for layer i of n that a mix gives more bits (llama.cpp's use_more_bits). */
int quant_use_more_bits(int32_t i, int32_t n);

/* The type tensor `name` (n_dims, ne) gets under ftype in a model of n_layer blocks; moe: the
 * model has expert tensors (3-D ffn_*_exps; see MXFP4 above). */
tensor_type quant_choose_type(quant_ftype ftype, const char *name, uint32_t n_dims,
                              const int64_t *ne, int32_t n_layer, bool moe);

/* ---- Staging: converted tensors wait in an unlinked spill file next to the output (so a
 * 2 GB model never sits in anonymous memory) until they are handed to a gguf_writer. ---- */

typedef struct quant_stage quant_stage;

/* Fills rows [row0, row0 + nrows) of a tensor as f32 (nrows * ne[0] floats). Called from
 * several threads at once on disjoint rows. */
typedef void (*quant_fill_fn)(void *ctx, int64_t row0, int64_t nrows, float *out /* out */);

/* near_path: the output file; the spill file is created in its directory. n_threads <= 0: the
 * number of online CPUs. */
quant_stage *quant_stage_new(const char *near_path, int n_threads, he_error *err);
void quant_stage_free(quant_stage *st);
/* Converts the tensor produced by fill to type (F32, F16, BF16 or any type with a reference
 * quantizer) and appends it. */
int quant_stage_add(quant_stage *st, const char *name, tensor_type type, uint32_t n_dims,
                    const int64_t *ne, quant_fill_fn fill, void *ctx, he_error *err);
/* Appends nbytes of already-encoded data verbatim. */
int quant_stage_add_raw(quant_stage *st, const char *name, uint32_t type, uint32_t n_dims,
                        const int64_t *ne, const void *data, uint64_t nbytes, he_error *err);
/* Maps the spill file and adds every staged tensor to w (their data stays valid until
 * quant_stage_free). */
int quant_stage_finish(quant_stage *st, gguf_writer *w, he_error *err);

/* ---- The whole-file conversion ---- */

/* Reads in_path, converts every tensor as quant_choose_type says, copies all metadata, sets
 * general.file_type and general.quantization_version = 2, writes out_path. */
int quant_model_file(const char *in_path, const char *out_path, quant_ftype ftype, int n_threads,
                     he_error *err);

#endif
