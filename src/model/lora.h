/* lora.h — LoRA adapters in llama.cpp's GGUF adapter format, applied unmerged at run time.
 *
 * An adapter file (convert_lora_to_gguf.py, or `hearth make-lora`) has general.type =
 * "adapter", adapter.type = "lora", adapter.lora.alpha (float), general.architecture of its
 * base, and per adapted base weight W ("blk.N.attn_q.weight", GGUF ne = [n_in, n_out]) two
 * tensors "<W>.lora_a" (ne = [n_in, r]) and "<W>.lora_b" (ne = [r, n_out]), F32 or F16.
 * The forward pass then computes, for every row x of a sequence whose scale s for the adapter
 * is not 0,  y = W x + (s * alpha / r) * B (A x)  (llama.cpp's order of the float products),
 * the low-rank products in f32 (tensor_matmul) over only the rows that use the adapter.
 *
 * Targets: the dense projections attn_{q,k,v,output} and ffn_{gate,up,down} of every layer;
 * anything else (token_embd, output, experts) is refused by name at load.
 *
 * Lifecycle: hearth_lora_load validates the file against a loaded base; hearth_model_add_lora
 * hands it to the model (which frees it) and must happen before the contexts that should see
 * it are created (a context sizes its scratch for the adapters present at hearth_ctx_new).
 * Every adapter starts at scale 0 (off) for every sequence of a context;
 * hearth_ctx_set_lora turns it on per sequence. */
#ifndef HEARTH_MODEL_LORA_H
#define HEARTH_MODEL_LORA_H

#include <stdint.h>

#include "base/error.h"
#include "gguf/gguf.h"
#include "model/hearth.h"

typedef struct hearth_lora hearth_lora;

/* Maps path and validates it against m: the GGUF itself (the reader checks offsets and sizes,
 * so a truncated file fails there), general.type/adapter.type, the architecture, alpha, and
 * every tensor: a known target of an existing base weight, both halves present, 2-D, F32/F16,
 * shapes fitting the base weight and each other. The error names the first mismatch. */
hearth_lora *hearth_lora_load(const hearth_model *m, const char *path, he_error *err);
/* The same from an opened file, which the adapter takes over (closed on failure too). */
hearth_lora *hearth_lora_from_gguf(const hearth_model *m, gguf_file *f, he_error *err);
void hearth_lora_free(hearth_lora *a); /* NULL is a no-op; not for adapters given to a model */

float hearth_lora_alpha(const hearth_lora *a);
int32_t hearth_lora_n_weights(const hearth_lora *a); /* adapted base weights */
int32_t hearth_lora_max_rank(const hearth_lora *a);

/* Gives a to m (freed with m); returns its index (0, 1, ...) or -1 (err) when a was loaded
 * for another model. Call before creating the contexts that use it. */
int32_t hearth_model_add_lora(hearth_model *m, hearth_lora *a, he_error *err);
int32_t hearth_model_n_lora(const hearth_model *m);

/* Scale of adapter `lora` for sequence seq of c (seq < 0: every sequence). 0 turns it off
 * (those rows cost nothing). HE_INVALID when lora or seq is out of range or the adapter was
 * added after c was created, or scale is not finite. */
int hearth_ctx_set_lora(hearth_ctx *c, int32_t lora, int32_t seq, float scale, he_error *err);
float hearth_ctx_lora_scale(const hearth_ctx *c, int32_t lora, int32_t seq);

/* ---- Random adapters (`hearth make-lora`) ---- */

/* Target bits for hearth_lora_make's targets */
enum {
    HEARTH_LORA_Q = 1 << 0,
    HEARTH_LORA_K = 1 << 1,
    HEARTH_LORA_V = 1 << 2,
    HEARTH_LORA_O = 1 << 3,
    HEARTH_LORA_GATE = 1 << 4,
    HEARTH_LORA_UP = 1 << 5,
    HEARTH_LORA_DOWN = 1 << 6,
    HEARTH_LORA_ALL = 0x7f
};

/* "q,k,v,o,gate,up,down" (any subset, comma-separated) -> bits; -1 on an unknown name. */
int hearth_lora_targets_parse(const char *s, unsigned *out);

/* Writes a random rank-r adapter for the base model at base_path to out_path: F32 A ~ N(0,
 * 0.02)-like and B ~ N(0, 0.1)-like (both non-zero, so the adapter visibly changes the output),
 * deterministic for (seed, tensor name). alpha <= 0: alpha = r. */
int hearth_lora_make(const char *base_path, int32_t rank, float alpha, unsigned targets,
                     uint64_t seed, const char *out_path, he_error *err);

/* Writes base + scale * alpha / r * B A for every weight the adapter at lora_path adapts, every
 * other tensor and all metadata copied: a model that needs no adapter at run time. type NULL:
 * each merged weight in its own type (dequantized, merged in f32, requantized with the reference
 * quantizer). type a `hearth quantize` name (q8_0, q4_k_m, f16, ...): the merged weights stay
 * f32 in a temporary file beside out_path, which is then converted as `hearth quantize` does
 * (every weight to that type, rounded once from its f32 value). */
int hearth_lora_merge(const char *base_path, const char *lora_path, float scale, const char *type,
                      const char *out_path, he_error *err);

#endif
