/* arch.c — the architectures hearth runs, as a table of their differences: the layer function
 * that composes forward.c's blocks, and the attention details.
 * Everything not listed here (GQA, SwiGLU, RMS norm, tied embeddings, RoPE scaling, the
 * expert counts and sizes) is
 * shared by all of them and decided by the file's metadata and tensors, not by the name. */
#include <string.h>

#include "model/model_internal.h"

// clang-format off
static const hearth_arch archs[] = {
    /* Llama 1/2/3, Mistral, TinyLlama, SmolLM: converters permute Q/K so RoPE pairs are adjacent;
     * Mixtral is llama with ffn_*_exps experts (top-k of a softmax, renormalized) */
    {.name = "llama", .layer = hearth_layer_prenorm, .rope_neox = false, .qkv_bias = false, .qk_norm = false,
     .ffn = ARCH_FFN_MOE_OPT, .moe_norm_w = true},
    /* Qwen2 / Qwen2.5: biases on Q, K, V */
    {.name = "qwen2", .layer = hearth_layer_prenorm, .rope_neox = true,  .qkv_bias = true,  .qk_norm = false},
    /* Qwen3: RMS norm per head on Q and K, head size from attention.key_length */
    {.name = "qwen3", .layer = hearth_layer_prenorm, .rope_neox = true,  .qkv_bias = false, .qk_norm = true},
    /* Qwen1.5-MoE / Qwen2-MoE: qwen2 attention; routed experts (top-k of a softmax, not
     * renormalized) plus a shared expert scaled by sigmoid(ffn_gate_inp_shexp . x) */
    {.name = "qwen2moe", .layer = hearth_layer_prenorm, .rope_neox = true, .qkv_bias = true, .qk_norm = false,
     .ffn = ARCH_FFN_MOE, .shared_expert = true, .moe_norm_w = false},
    /* Qwen3-MoE: qwen3 attention; routed experts, top-k weights renormalized (norm_topk_prob) */
    {.name = "qwen3moe", .layer = hearth_layer_prenorm, .rope_neox = true, .qkv_bias = false, .qk_norm = true,
     .ffn = ARCH_FFN_MOE, .moe_norm_w = true},
    /* Gemma 2: embeddings times sqrt(n_embd), GeGLU, post-norms on both blocks, Q scaled after
     * RoPE, attention and final logit soft-capping, even layers with a sliding window; the
     * converter stores its norm weights with Gemma's +1 already added, so plain RMS norms */
    {.name = "gemma2", .layer = hearth_layer_prenorm, .rope_neox = true, .qkv_bias = false, .qk_norm = false,
     .ffn_gelu = true, .post_norms = true, .read_hparams = hearth_read_gemma2},
    /* Gemma 3 (text): Gemma 2's layer with Q/K norms and no soft-capping; five local
     * (sliding-window, own RoPE base) layers to one global (scaled RoPE) layer */
    {.name = "gemma3", .layer = hearth_layer_prenorm, .rope_neox = true, .qkv_bias = false, .qk_norm = true,
     .ffn_gelu = true, .post_norms = true, .read_hparams = hearth_read_gemma3},
    /* Phi-3 / Phi-3.5 mini and medium: fused QKV and gate-up tensors, Q scaled after RoPE,
     * every layer with the sliding window */
    {.name = "phi3", .layer = hearth_layer_prenorm, .rope_neox = true, .qkv_bias = false, .qk_norm = false,
     .fused_qkv = true, .read_hparams = hearth_read_phi3},
    /* gpt-oss (OpenAI): biases on Q, K, V and the output, a learned sink logit per head in the
     * softmax, even layers with a sliding window (128), YaRN; experts routed by a biased router
     * (softmax over the top-k logits), with biases and a clamped SwiGLU (hearth_ffn_moe_oai) */
    {.name = "gpt-oss", .layer = hearth_layer_prenorm, .rope_neox = true, .qkv_bias = true, .qk_norm = false,
     .ffn = ARCH_FFN_MOE, .moe_ffn = hearth_ffn_moe_oai, .oai = true, .read_hparams = hearth_read_gpt_oss},
    /* Encoders (embeddings, reranking): run by encoder.c, not the decoder forward pass */
    {.name = "bert",       .rope_neox = true, .encoder = HEARTH_ENC_BERT},
    {.name = "nomic-bert", .rope_neox = true, .encoder = HEARTH_ENC_NOMIC},
};
// clang-format on

const hearth_arch *hearth_arch_find(const char *name, size_t len) {
    for (size_t i = 0; i < sizeof archs / sizeof archs[0]; i++)
        if (strlen(archs[i].name) == len && !memcmp(archs[i].name, name, len)) return &archs[i];
    return NULL;
}

const char *hearth_arch_names(void) {
    return "llama, qwen2, qwen3, qwen2moe, qwen3moe, gemma2, gemma3, phi3, gpt-oss, bert, "
           "nomic-bert";
}
