/* synth.h — random-weight models of real architectures' shapes (`hearth make-model`).
 *
 * A generated model has the tensor names, shapes and metadata that llama.cpp's converter writes
 * for the real model (TinyLlama, Llama 3.2 1B, Qwen2.5 0.5B, Qwen3 0.6B, and the mixtures of
 * experts Qwen1.5-MoE-A2.7B and Qwen3-30B-A3B) plus small "tiny"
 * shapes for tests, with deterministic random weights: each tensor's values are a function of
 * (seed, tensor name, row) only, so output does not depend on threads or generation order.
 * Matrices are ~N(0, 0.02) like a fresh init (a sum of four uniforms, cheap and close to
 * normal); norm weights are 1 + small noise so activations stay sane through the layers.
 * Weights are generated and quantized tensor by tensor through quantize.h's staging, so memory
 * stays bounded whatever the model size. */
#ifndef HEARTH_MODEL_SYNTH_H
#define HEARTH_MODEL_SYNTH_H

#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"
#include "model/quantize.h"

typedef struct {
    const char *name; /* "tinyllama", "tiny", ... */
    const char *arch; /* general.architecture: "llama", "qwen2", "qwen3" */
    int32_t n_embd, n_layer, n_head, n_head_kv, n_ff;
    int32_t head_dim; /* 0: n_embd / n_head */
    int32_t n_ctx;    /* context_length */
    float rope_base, norm_eps;
    bool tied;     /* no output.weight: the output projection reuses token_embd */
    bool qkv_bias; /* qwen2: attn_{q,k,v}.bias */
    bool qk_norm;  /* qwen3: attn_{q,k}_norm.weight over head_dim */
    /* llama3 rope scaling (factor 0: none), written as rope_freqs.weight like llama.cpp */
    float rope_scale, rope_low, rope_high;
    int32_t rope_orig_ctx;
    /* Encoders (bert, nomic-bert: tensors and keys as llama.cpp's converter writes them), and
     * pooling_type (0: none written; 1 mean, 2 cls, 3 last, 4 rank: rank adds the cls /
     * cls.output head). A decoder with a pooling_type is an embedding model. */
    bool encoder;
    int32_t pooling;
    float yarn_factor; /* > 0: rope.scaling.type yarn with this factor and rope_orig_ctx */
    /* mixture of experts (n_expert 0: dense): ffn_{gate,up,down}_exps of n_ff_exp (0: n_ff)
     * and the ffn_gate_inp router; n_ff_shexp > 0 adds qwen2moe's shared expert */
    int32_t n_expert, n_expert_used, n_ff_exp, n_ff_shexp;
    /* gemma2: post_attention_norm / post_ffw_norm tensors and these keys (0: not written) */
    bool post_norms;
    bool fused;     /* phi3: attn_qkv instead of attn_q/k/v, ffn_up [n_embd, 2 n_ff] (gate, up) */
    float embd_std; /* token_embd's spread (0: 0.02 like every matrix) */
    int32_t n_swa;  /* attention.sliding_window */
    float attn_softcap, final_softcap; /* attn_logit_softcapping, final_logit_softcapping */
    float linear_scale; /* > 0: rope.scaling.type linear with this factor (gemma3: global layers) */
    /* phi3 LongRoPE (as llama.cpp's converter writes it for the 128K models):
     * rope_factors_short/long.weight, rope.scaling.original_context_length = rope_orig_ctx and
     * rope.scaling.attn_factor = sqrt(1 + ln(n_ctx / rope_orig_ctx) / ln(rope_orig_ctx)) */
    bool longrope;
    /* decoder embedding / reranking models, keys as llama.cpp's converter writes Qwen3-Embedding
     * and Qwen3-Reranker: eos_text (non-NULL) becomes tokenizer.ggml.eos_token_id with
     * add_eos_token = true (Qwen3-Embedding: "<|endoftext|>", appended to every input); a
     * decoder with pooling 4 (rank) gets cls.output.weight of 2 rows (the "yes" and "no"
     * output rows), {arch}.classifier.output_labels ["yes", "no"] and the reranker prompt as
     * tokenizer.chat_template.rerank */
    const char *eos_text;
} synth_shape;

/* NULL if unknown. synth_shape_names() lists them, comma-separated. */
const synth_shape *synth_shape_find(const char *name);
const char *synth_shape_names(void);

typedef struct {
    const char *shape;      /* a synth_shape name */
    quant_ftype ftype;      /* tensor types as `hearth quantize` would choose them */
    const char *vocab_path; /* a GGUF whose tokenizer.* keys are copied; NULL or "": a built-in
                               minimal SentencePiece vocab */
    uint64_t seed;
    int n_threads; /* <= 0: online CPUs */
    /* > 0: layers tail_from .. n_layer-1 get attn_output and ffn_down weights scaled by
     * tail_scale, so they change the residual stream little and the first tail_from layers
     * plus the head predict nearly what the whole model does: a target whose layer-skip draft
     * (hearth_model_params.n_layer_use = tail_from) agrees with it, as trained models' late
     * layers mostly refine (the premise of early exit / LayerSkip). 0: off. */
    int32_t tail_from;
    float tail_scale;
} synth_params;

int synth_make_model(const synth_params *p, const char *out_path, he_error *err);

#endif
