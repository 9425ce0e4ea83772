/* synth.c — generating random-weight models of real shapes (see synth.h). */
#include "model/synth.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "gguf/gguf.h"
#include "model/embed.h"

/* ---- Shapes: the real models' hparams as their GGUF conversions carry them ---- */

static const synth_shape shapes[] = {
    {.name = "tinyllama",
     .arch = "llama",
     .n_embd = 2048,
     .n_layer = 22,
     .n_head = 32,
     .n_head_kv = 4,
     .n_ff = 5632,
     .n_ctx = 2048,
     .rope_base = 10000.0f,
     .norm_eps = 1e-5f},
    {.name = "llama3-1b",
     .arch = "llama",
     .n_embd = 2048,
     .n_layer = 16,
     .n_head = 32,
     .n_head_kv = 8,
     .n_ff = 8192,
     .n_ctx = 131072,
     .rope_base = 500000.0f,
     .norm_eps = 1e-5f,
     .tied = true,
     .rope_scale = 32.0f,
     .rope_low = 1.0f,
     .rope_high = 4.0f,
     .rope_orig_ctx = 8192},
    {.name = "qwen2.5-0.5b",
     .arch = "qwen2",
     .n_embd = 896,
     .n_layer = 24,
     .n_head = 14,
     .n_head_kv = 2,
     .n_ff = 4864,
     .n_ctx = 32768,
     .rope_base = 1000000.0f,
     .norm_eps = 1e-6f,
     .tied = true,
     .qkv_bias = true},
    {.name = "qwen3-0.6b",
     .arch = "qwen3",
     .n_embd = 1024,
     .n_layer = 28,
     .n_head = 16,
     .n_head_kv = 8,
     .n_ff = 3072,
     .head_dim = 128,
     .n_ctx = 40960,
     .rope_base = 1000000.0f,
     .norm_eps = 1e-6f,
     .tied = true,
     .qk_norm = true},
    /* Mixtures of experts (llama.cpp's converter writes expert_feed_forward_length etc.) */
    {.name = "qwen1.5-moe-a2.7b",
     .arch = "qwen2moe",
     .n_embd = 2048,
     .n_layer = 24,
     .n_head = 16,
     .n_head_kv = 16,
     .n_ff = 5632,
     .n_ctx = 8192,
     .rope_base = 1000000.0f,
     .norm_eps = 1e-6f,
     .qkv_bias = true,
     .n_expert = 60,
     .n_expert_used = 4,
     .n_ff_exp = 1408,
     .n_ff_shexp = 5632},
    {.name = "qwen3-30b-a3b",
     .arch = "qwen3moe",
     .n_embd = 2048,
     .n_layer = 48,
     .n_head = 32,
     .n_head_kv = 4,
     .n_ff = 6144,
     .head_dim = 128,
     .n_ctx = 40960,
     .rope_base = 1000000.0f,
     .norm_eps = 1e-6f,
     .qk_norm = true,
     .n_expert = 128,
     .n_expert_used = 8,
     .n_ff_exp = 768},
    /* Small shapes for tests: rows of 256 so the K-quants apply, and GQA (4 heads, 2 kv heads). */
    {.name = "tiny",
     .arch = "llama",
     .n_embd = 256,
     .n_layer = 2,
     .n_head = 4,
     .n_head_kv = 2,
     .n_ff = 512,
     .n_ctx = 512,
     .rope_base = 10000.0f,
     .norm_eps = 1e-5f},
    {.name = "tiny-llama3",
     .arch = "llama",
     .n_embd = 256,
     .n_layer = 2,
     .n_head = 4,
     .n_head_kv = 2,
     .n_ff = 512,
     .n_ctx = 2048,
     .rope_base = 500000.0f,
     .norm_eps = 1e-5f,
     .tied = true,
     .rope_scale = 32.0f,
     .rope_low = 1.0f,
     .rope_high = 4.0f,
     .rope_orig_ctx = 8192},
    {.name = "tiny-qwen2",
     .arch = "qwen2",
     .n_embd = 256,
     .n_layer = 2,
     .n_head = 4,
     .n_head_kv = 2,
     .n_ff = 512,
     .n_ctx = 512,
     .rope_base = 1000000.0f,
     .norm_eps = 1e-6f,
     .tied = true,
     .qkv_bias = true},
    {.name = "tiny-qwen3",
     .arch = "qwen3",
     .n_embd = 256,
     .n_layer = 2,
     .n_head = 4,
     .n_head_kv = 2,
     .n_ff = 512,
     .head_dim = 128,
     .n_ctx = 512,
     .rope_base = 1000000.0f,
     .norm_eps = 1e-6f,
     .tied = true,
     .qk_norm = true},
    /* Encoders: BGE-style bert (CLS pooling), nomic-bert (mean pooling, RoPE, SwiGLU), and a
     * bge-reranker-style cross-encoder (bert with the classification head). */
    /* Decoder embedding models (Qwen3-Embedding style): last-token pooling, as pooling_type */
    {.name = "tiny-qwen3-embed",
     .arch = "qwen3",
     .n_embd = 256,
     .n_layer = 2,
     .n_head = 4,
     .n_head_kv = 2,
     .n_ff = 512,
     .head_dim = 128,
     .n_ctx = 512,
     .rope_base = 1000000.0f,
     .norm_eps = 1e-6f,
     .tied = true,
     .qk_norm = true,
     .pooling = 3,
     .eos_text = "<|endoftext|>"},
    /* Qwen3-Reranker style: a qwen3 decoder whose yes/no output rows score a prompt */
    {.name = "tiny-qwen3-reranker",
     .arch = "qwen3",
     .n_embd = 256,
     .n_layer = 2,
     .n_head = 4,
     .n_head_kv = 2,
     .n_ff = 512,
     .head_dim = 128,
     .n_ctx = 512,
     .rope_base = 1000000.0f,
     .norm_eps = 1e-6f,
     .tied = true,
     .qk_norm = true,
     .pooling = 4},
    {.name = "tiny-qwen2-embed",
     .arch = "qwen2",
     .n_embd = 256,
     .n_layer = 2,
     .n_head = 4,
     .n_head_kv = 2,
     .n_ff = 512,
     .n_ctx = 512,
     .rope_base = 1000000.0f,
     .norm_eps = 1e-6f,
     .tied = true,
     .qkv_bias = true,
     .pooling = 3},
    /* BAAI/bge-small-en-v1.5's shape (benchmarks: `make bench`) */
    {.name = "bge-small",
     .arch = "bert",
     .n_embd = 384,
     .n_layer = 12,
     .n_head = 12,
     .n_head_kv = 12,
     .n_ff = 1536,
     .n_ctx = 512,
     .norm_eps = 1e-12f,
     .encoder = true,
     .pooling = 2},
    {.name = "tiny-bert",
     .arch = "bert",
     .n_embd = 128,
     .n_layer = 2,
     .n_head = 4,
     .n_head_kv = 4,
     .n_ff = 256,
     .n_ctx = 512,
     .norm_eps = 1e-12f,
     .encoder = true,
     .pooling = 2},
    {.name = "tiny-nomic-bert",
     .arch = "nomic-bert",
     .n_embd = 128,
     .n_layer = 2,
     .n_head = 4,
     .n_head_kv = 4,
     .n_ff = 256,
     .n_ctx = 2048,
     .rope_base = 1000.0f,
     .norm_eps = 1e-12f,
     .encoder = true,
     .pooling = 1},
    {.name = "tiny-bert-reranker",
     .arch = "bert",
     .n_embd = 128,
     .n_layer = 2,
     .n_head = 4,
     .n_head_kv = 4,
     .n_ff = 256,
     .n_ctx = 512,
     .norm_eps = 1e-12f,
     .encoder = true,
     .pooling = 4},
    /* tiny mixtures of experts: 8 or 16 experts of 128 or 256 rows */
    {.name = "tiny-qwen2moe",
     .arch = "qwen2moe",
     .n_embd = 256,
     .n_layer = 2,
     .n_head = 4,
     .n_head_kv = 2,
     .n_ff = 512,
     .n_ctx = 512,
     .rope_base = 1000000.0f,
     .norm_eps = 1e-6f,
     .qkv_bias = true,
     .n_expert = 8,
     .n_expert_used = 2,
     .n_ff_exp = 128,
     .n_ff_shexp = 256},
    {.name = "tiny-qwen3moe",
     .arch = "qwen3moe",
     .n_embd = 256,
     .n_layer = 2,
     .n_head = 4,
     .n_head_kv = 2,
     .n_ff = 512,
     .head_dim = 128,
     .n_ctx = 512,
     .rope_base = 1000000.0f,
     .norm_eps = 1e-6f,
     .qk_norm = true,
     .n_expert = 16,
     .n_expert_used = 4,
     .n_ff_exp = 128},
    /* Gemma 2 2B (google/gemma-2-2b) */
    {.name = "gemma-2-2b",
     .arch = "gemma2",
     .n_embd = 2304,
     .n_layer = 26,
     .n_head = 8,
     .n_head_kv = 4,
     .n_ff = 9216,
     .head_dim = 256,
     .n_ctx = 8192,
     .rope_base = 10000.0f,
     .norm_eps = 1e-6f,
     .tied = true,
     .post_norms = true,
     .n_swa = 4096,
     .attn_softcap = 50.0f,
     .final_softcap = 30.0f},
    /* tiny Gemma 2: 26 layers because llama.cpp's gemma2 graph knows only the 2B/9B/27B layer
     * counts; a sliding window of 8 so that prompts of 9+ tokens exercise it; a wider
     * embedding (tied: it is the output projection too) so logits spread by ~2, and soft-caps
     * small enough to bend these random weights' scores (~0.05) and logits */
    {.name = "tiny-gemma2",
     .arch = "gemma2",
     .n_embd = 128,
     .n_layer = 26,
     .n_head = 2,
     .n_head_kv = 1,
     .n_ff = 256,
     .head_dim = 64,
     .n_ctx = 512,
     .rope_base = 10000.0f,
     .norm_eps = 1e-6f,
     .tied = true,
     .post_norms = true,
     .embd_std = 0.2f,
     .n_swa = 8,
     .attn_softcap = 0.05f,
     .final_softcap = 2.0f},
    /* Phi-3 mini 4K (microsoft/Phi-3-mini-4k-instruct) */
    {.name = "phi-3-mini",
     .arch = "phi3",
     .n_embd = 3072,
     .n_layer = 32,
     .n_head = 32,
     .n_head_kv = 32,
     .n_ff = 8192,
     .n_ctx = 4096,
     .rope_base = 10000.0f,
     .norm_eps = 1e-5f,
     .fused = true,
     .n_swa = 2047},
    /* tiny Phi-3: a sliding window of 8 (every layer) so 9+ token prompts exercise it */
    {.name = "tiny-phi3",
     .arch = "phi3",
     .n_embd = 256,
     .n_layer = 2,
     .n_head = 4,
     .n_head_kv = 4,
     .n_ff = 512,
     .n_ctx = 512,
     .rope_base = 10000.0f,
     .norm_eps = 1e-5f,
     .fused = true,
     .n_swa = 8},
    /* tiny Phi-3 with LongRoPE: original context 256 of 2048 (attention factor 1.17), short
     * factors near 1 and long ones up to 40, so contexts of more than 256 cells rotate
     * differently from smaller ones */
    {.name = "tiny-phi3-128k",
     .arch = "phi3",
     .n_embd = 256,
     .n_layer = 2,
     .n_head = 4,
     .n_head_kv = 4,
     .n_ff = 512,
     .n_ctx = 2048,
     .rope_base = 10000.0f,
     .norm_eps = 1e-5f,
     .fused = true,
     .n_swa = 8,
     .longrope = true,
     .rope_orig_ctx = 256},
    /* Gemma 3 4B (google/gemma-3-4b-pt, its text model) */
    {.name = "gemma-3-4b",
     .arch = "gemma3",
     .n_embd = 2560,
     .n_layer = 34,
     .n_head = 8,
     .n_head_kv = 4,
     .n_ff = 10240,
     .head_dim = 256,
     .n_ctx = 131072,
     .rope_base = 1000000.0f,
     .norm_eps = 1e-6f,
     .tied = true,
     .qk_norm = true,
     .post_norms = true,
     .n_swa = 1024,
     .linear_scale = 8.0f},
    /* tiny Gemma 3: 12 layers (global: 5 and 11), head size 64 where n_embd / n_head is 32
     * (as 4B's 256 vs 320), a window of 8 so 9+ token prompts exercise it, a wider embedding
     * as tiny-gemma2 */
    {.name = "tiny-gemma3",
     .arch = "gemma3",
     .n_embd = 128,
     .n_layer = 12,
     .n_head = 4,
     .n_head_kv = 2,
     .n_ff = 256,
     .head_dim = 64,
     .n_ctx = 2048,
     .rope_base = 1000000.0f,
     .norm_eps = 1e-6f,
     .tied = true,
     .qk_norm = true,
     .post_norms = true,
     .embd_std = 0.1f,
     .n_swa = 8,
     .linear_scale = 8.0f},
    {.name = "tiny-mixtral",
     .arch = "llama",
     .n_embd = 256,
     .n_layer = 2,
     .n_head = 4,
     .n_head_kv = 2,
     .n_ff = 256,
     .n_ctx = 512,
     .rope_base = 1000000.0f,
     .norm_eps = 1e-5f,
     .n_expert = 8,
     .n_expert_used = 2},
    /* gpt-oss-20b (openai/gpt-oss-20b; vocab: the builtin one, not o200k_harmony) */
    {.name = "gpt-oss-20b",
     .arch = "gpt-oss",
     .n_embd = 2880,
     .n_layer = 24,
     .n_head = 64,
     .n_head_kv = 8,
     .head_dim = 64,
     .n_ff = 2880,
     .n_ctx = 131072,
     .rope_base = 150000.0f,
     .norm_eps = 1e-5f,
     .qkv_bias = true,
     .n_expert = 32,
     .n_expert_used = 4,
     .n_ff_exp = 2880,
     .yarn_factor = 32.0f,
     .rope_orig_ctx = 4096,
     .n_swa = 128},
    /* tiny gpt-oss: a window of 8 and YaRN over an original context of 16, so short prompts
     * cross both */
    {.name = "tiny-gpt-oss",
     .arch = "gpt-oss",
     .n_embd = 128,
     .n_layer = 2,
     .n_head = 4,
     .n_head_kv = 2,
     .head_dim = 64,
     .n_ff = 128,
     .n_ctx = 512,
     .rope_base = 150000.0f,
     .norm_eps = 1e-5f,
     .qkv_bias = true,
     .n_expert = 8,
     .n_expert_used = 2,
     .n_ff_exp = 128,
     .yarn_factor = 4.0f,
     .rope_orig_ctx = 16,
     .n_swa = 8},
    /* tiny-qwen2 with YaRN scaling (factor 4 over an original context of 32, so prompts of
     * 33+ tokens run past it) */
    {.name = "tiny-qwen2-yarn",
     .arch = "qwen2",
     .n_embd = 256,
     .n_layer = 2,
     .n_head = 4,
     .n_head_kv = 2,
     .n_ff = 512,
     .n_ctx = 512,
     .rope_base = 1000000.0f,
     .norm_eps = 1e-6f,
     .tied = true,
     .qkv_bias = true,
     .yarn_factor = 4.0f,
     .rope_orig_ctx = 32},
};

const synth_shape *synth_shape_find(const char *name) {
    for (size_t i = 0; name && i < sizeof shapes / sizeof shapes[0]; i++)
        if (!strcmp(shapes[i].name, name)) return &shapes[i];
    return NULL;
}

const char *synth_shape_names(void) {
    return "tinyllama, llama3-1b, qwen2.5-0.5b, qwen3-0.6b, qwen1.5-moe-a2.7b, qwen3-30b-a3b, "
           "gemma-2-2b, gemma-3-4b, phi-3-mini, tiny, tiny-llama3, tiny-qwen2, tiny-qwen3, "
           "tiny-qwen2moe, tiny-qwen3moe, tiny-mixtral, tiny-gemma2, tiny-gemma3, tiny-phi3, "
           "tiny-phi3-128k, tiny-qwen2-yarn, gpt-oss-20b, tiny-gpt-oss, "
           "tiny-qwen3-embed, tiny-qwen3-reranker, tiny-qwen2-embed, bge-small, tiny-bert, tiny-nomic-bert, "
           "tiny-bert-reranker";
}

/* ---- Deterministic random values ---- */

static uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t hash_name(const char *s) {
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 0x100000001b3ull;
    return h;
}

typedef enum { GEN_NORMAL, GEN_NEAR_ONE, GEN_ROPE_FREQS, GEN_ROPE_SHORT, GEN_ROPE_LONG } gen_kind;

typedef struct {
    gen_kind kind;
    uint64_t seed; /* per tensor */
    float std;
    int64_t ne0;
    const synth_shape *shape;
} gen_ctx;

/* One splitmix64 output per element, read as four 16-bit uniforms whose sum is close to normal
 * (Irwin-Hall, n = 4): mean 4 * 32767.5, standard deviation 65536 * sqrt(4 / 12). */
static void fill_random(const gen_ctx *g, int64_t row0, int64_t nrows, float *out) {
    const float center = 131070.0f, scale = g->std / 37837.23f;
    const float base = g->kind == GEN_NEAR_ONE ? 1.0f : 0.0f;
    for (int64_t r = 0; r < nrows; r++) {
        uint64_t state = mix64(g->seed ^ mix64((uint64_t)(row0 + r) + 0x632be59bd9b4e019ull));
        float *y = out + r * g->ne0;
        for (int64_t i = 0; i < g->ne0; i++) {
            uint64_t z = mix64(state += 0x9e3779b97f4a7c15ull);
            uint32_t s = (uint32_t)(z & 0xffff) + (uint32_t)((z >> 16) & 0xffff) +
                         (uint32_t)((z >> 32) & 0xffff) + (uint32_t)(z >> 48);
            y[i] = base + ((float)s - center) * scale;
        }
    }
}

/* llama3 rope scaling as per-frequency divisors (what llama.cpp's converter stores in
 * rope_freqs.weight): long wavelengths are slowed by the factor, short ones kept, and the band
 * between low and high frequency factors interpolated smoothly. */
static void fill_rope_freqs(const gen_ctx *g, float *out) {
    const synth_shape *s = g->shape;
    int32_t hd = s->head_dim ? s->head_dim : s->n_embd / s->n_head;
    double low_wavelen = (double)s->rope_orig_ctx / (double)s->rope_low;
    double high_wavelen = (double)s->rope_orig_ctx / (double)s->rope_high;
    for (int32_t i = 0; i < hd / 2; i++) {
        double freq = pow((double)s->rope_base, -2.0 * i / hd);
        double wavelen = 2.0 * M_PI / freq;
        double f;
        if (wavelen < high_wavelen)
            f = 1.0;
        else if (wavelen > low_wavelen)
            f = (double)s->rope_scale;
        else {
            double smooth = ((double)s->rope_orig_ctx / wavelen - (double)s->rope_low) /
                            ((double)s->rope_high - (double)s->rope_low);
            f = 1.0 / ((1.0 - smooth) / (double)s->rope_scale + smooth);
        }
        out[i] = (float)f;
    }
}

/* LongRoPE factors, shaped like Phi-3-mini-128k's: short ones rising from 1 to 1.5, long ones
 * from 1 to 40 (the low frequencies stretched most), smooth in the frequency index. */
static void fill_longrope(const gen_ctx *g, float *out) {
    const int64_t n = g->ne0;
    for (int64_t i = 0; i < n; i++) {
        const double u = n > 1 ? (double)i / (double)(n - 1) : 0.0;
        out[i] = g->kind == GEN_ROPE_SHORT ? (float)(1.0 + 0.5 * u) : (float)(1.0 + 39.0 * u * u);
    }
}

static void fill_gen(void *ctx, int64_t row0, int64_t nrows, float *out) {
    const gen_ctx *g = ctx;
    if (g->kind == GEN_ROPE_FREQS)
        fill_rope_freqs(g, out);
    else if (g->kind == GEN_ROPE_SHORT || g->kind == GEN_ROPE_LONG)
        fill_longrope(g, out);
    else
        fill_random(g, row0, nrows, out);
}

/* ---- The built-in vocab: a minimal SentencePiece ("llama") vocab ---- */

static const char *const common_words[] = {
    "the",   "of",     "and",   "to",    "in",     "is",    "was",    "he",      "for",     "it",
    "with",  "as",     "his",   "on",    "be",     "at",    "by",     "that",    "had",     "not",
    "are",   "but",    "from",  "or",    "have",   "an",    "they",   "which",   "one",     "you",
    "were",  "her",    "all",   "she",   "there",  "would", "their",  "we",      "him",     "been",
    "has",   "when",   "who",   "will",  "more",   "no",    "if",     "out",     "so",      "said",
    "what",  "up",     "its",   "about", "into",   "than",  "them",   "can",     "only",    "other",
    "new",   "some",   "could", "time",  "these",  "two",   "may",    "then",    "do",      "first",
    "any",   "my",     "now",   "such",  "like",   "our",   "over",   "man",     "me",      "even",
    "most",  "made",   "after", "also",  "did",    "many",  "before", "must",    "through", "back",
    "where", "much",   "your",  "way",   "well",   "down",  "should", "because", "each",    "just",
    "those", "people", "how",   "too",   "little", "good",  "very",   "make",    "world",   "still",
    "see",   "work",   "long",  "get",   "here",   "day",   "know",   "while",   "last",    "great",
    "old",   "year",   "come",  "go",    "came",   "right", "take",   "three",   "once",    "upon",
    "girl",  "boy",    "happy", "play",  "named",  "big",   "saw",    "dog",     "cat",     "tree",
    "sun",   "friend", "mom",   "Once",  "The",    "She",   "He",     "They",    "It",      "Hello",
    "I",     "a",
};
static const char *const common_pieces[] = {
    "ing",  "ed",  "er",  "ly",  "es",  "en", "on", "at", "an", "or",  "al",   "ar",
    "st",   "th",  "he",  "in",  "re",  "nd", "ou", "it", "is", "ion", "tion", "ment",
    "ness", "ful", "est", "ter", "ver", "ay", "ow", "ll", "ck", "se",
};

typedef struct {
    char **s;
    int32_t n, cap;
} strlist;

static void strlist_add(strlist *l, const char *s) {
    for (int32_t i = 0; i < l->n; i++)
        if (!strcmp(l->s[i], s)) return;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 512;
        l->s = xrealloc(l->s, (size_t)l->cap * sizeof *l->s);
    }
    l->s[l->n++] = xstrdup(s);
}

/* Adds s and all its prefixes (at UTF-8 boundaries), so every piece is reachable by merges. */
static void strlist_add_prefixes(strlist *l, const char *s) {
    size_t n = strlen(s);
    char buf[64];
    for (size_t k = 1; k <= n && k < sizeof buf; k++) {
        if (k < n && ((uint8_t)s[k] & 0xc0) == 0x80) continue;
        memcpy(buf, s, k);
        buf[k] = 0;
        strlist_add(l, buf);
    }
}

static void strlist_free(strlist *l) {
    for (int32_t i = 0; i < l->n; i++)
        free(l->s[i]);
    free(l->s);
}

#define SPM_SPACE "\xe2\x96\x81" /* U+2581, SentencePiece's word boundary */

/* Writes tokenizer.* keys for the built-in vocab; returns its size. */
static int32_t builtin_vocab(gguf_writer *w) {
    strlist l = {0};
    strlist_add(&l, "<unk>");
    strlist_add(&l, "<s>");
    strlist_add(&l, "</s>");
    for (int b = 0; b < 256; b++) {
        char tok[8];
        snprintf(tok, sizeof tok, "<0x%02X>", b);
        strlist_add(&l, tok);
    }
    int32_t first_normal = l.n;
    strlist_add(&l, SPM_SPACE);
    for (int c = 33; c < 127; c++) {
        char one[2] = {(char)c, 0};
        strlist_add(&l, one);
    }
    char buf[64];
    for (size_t i = 0; i < sizeof common_words / sizeof common_words[0]; i++) {
        snprintf(buf, sizeof buf, SPM_SPACE "%s", common_words[i]);
        strlist_add_prefixes(&l, buf);
    }
    for (size_t i = 0; i < sizeof common_pieces / sizeof common_pieces[0]; i++)
        strlist_add_prefixes(&l, common_pieces[i]);

    float *scores = xcalloc((size_t)l.n, sizeof *scores);
    int32_t *types = xcalloc((size_t)l.n, sizeof *types);
    for (int32_t i = 0; i < l.n; i++) {
        if (i == 0)
            types[i] = 2; /* unknown */
        else if (i < 3)
            types[i] = 3; /* control */
        else if (i < first_normal)
            types[i] = 6; /* byte */
        else {
            types[i] = 1; /* normal; earlier (shorter, more frequent) pieces score higher */
            scores[i] = -(float)(i - first_normal);
        }
    }
    gguf_writer_set_str(w, "tokenizer.ggml.model", "llama");
    gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)l.s, (uint64_t)l.n);
    gguf_writer_set_arr(w, "tokenizer.ggml.scores", GGUF_TYPE_FLOAT32, scores, (uint64_t)l.n);
    gguf_writer_set_arr(w, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, types, (uint64_t)l.n);
    gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 1);
    gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", 2);
    gguf_writer_set_u32(w, "tokenizer.ggml.unknown_token_id", 0);
    gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", true);
    gguf_writer_set_bool(w, "tokenizer.ggml.add_eos_token", false);
    int32_t n = l.n;
    free(scores);
    free(types);
    strlist_free(&l);
    return n;
}

#define SYNTH_MAX_VOCAB (1 << 20)

/* Copies every tokenizer.* key of vocab; returns the token count or -1. */
static int32_t copy_vocab(gguf_writer *w, const gguf_file *v, const char *path, he_error *err) {
    gguf_value tokens;
    int r = gguf_find_arr(v, "tokenizer.ggml.tokens", GGUF_TYPE_STRING, &tokens, err);
    if (r <= 0) {
        if (r == 0)
            he_fail(err, HE_FORMAT, "vocab '%s': no tokenizer.ggml.tokens array", path);
        else
            he_prefix(err, "vocab '%s'", path);
        return -1;
    }
    /* the embedding is n_vocab rows: keep a hostile count from asking for terabytes */
    if (tokens.n == 0 || tokens.n > SYNTH_MAX_VOCAB)
        return he_fail(err, HE_LIMIT, "vocab '%s': %llu tokens (1 .. %d supported)", path,
                       (unsigned long long)tokens.n, SYNTH_MAX_VOCAB);
    for (int64_t i = 0; i < gguf_n_kv(v); i++) {
        gguf_str k = gguf_key(v, i);
        if (k.len > 10 && !memcmp(k.ptr, "tokenizer.", 10)) gguf_writer_copy_kv(w, v, i);
    }
    return (int32_t)tokens.n;
}

/* The id of the token spelled text in vocab's tokenizer.ggml.tokens; -1: none; -2: error. */
static int64_t find_token(const gguf_file *vocab, const char *text, he_error *err) {
    gguf_value toks, one;
    gguf_str str;
    size_t len = strlen(text);
    if (gguf_find_arr(vocab, "tokenizer.ggml.tokens", GGUF_TYPE_STRING, &toks, err) < 0) return -2;
    for (uint64_t j = 0; j < toks.n; j++)
        if (!gguf_value_elem(&toks, j, &one, err) && !gguf_value_str(&one, &str, err) &&
            str.len == len && !memcmp(str.ptr, text, len))
            return (int64_t)j;
    return -1;
}

/* ---- The model ---- */

static void set_hparams(gguf_writer *w, const synth_shape *s, int32_t n_vocab) {
    char key[128];
    int32_t hd = s->head_dim ? s->head_dim : s->n_embd / s->n_head;
#define KEY(suffix) (snprintf(key, sizeof key, "%s." suffix, s->arch), key)
    if (s->encoder) { /* the keys llama.cpp's converter writes for BERT-family models */
        gguf_writer_set_u32(w, KEY("context_length"), (uint32_t)s->n_ctx);
        gguf_writer_set_u32(w, KEY("embedding_length"), (uint32_t)s->n_embd);
        gguf_writer_set_u32(w, KEY("feed_forward_length"), (uint32_t)s->n_ff);
        gguf_writer_set_u32(w, KEY("block_count"), (uint32_t)s->n_layer);
        gguf_writer_set_u32(w, KEY("attention.head_count"), (uint32_t)s->n_head);
        gguf_writer_set_f32(w, KEY("attention.layer_norm_epsilon"), s->norm_eps);
        gguf_writer_set_bool(w, KEY("attention.causal"), false);
        gguf_writer_set_u32(w, KEY("pooling_type"), (uint32_t)s->pooling);
        if (s->rope_base > 0.0f) gguf_writer_set_f32(w, KEY("rope.freq_base"), s->rope_base);
        (void)n_vocab;
        return;
    }
    gguf_writer_set_u32(w, KEY("context_length"), (uint32_t)s->n_ctx);
    gguf_writer_set_u32(w, KEY("embedding_length"), (uint32_t)s->n_embd);
    gguf_writer_set_u32(w, KEY("block_count"), (uint32_t)s->n_layer);
    gguf_writer_set_u32(w, KEY("feed_forward_length"), (uint32_t)s->n_ff);
    gguf_writer_set_u32(w, KEY("attention.head_count"), (uint32_t)s->n_head);
    gguf_writer_set_u32(w, KEY("attention.head_count_kv"), (uint32_t)s->n_head_kv);
    gguf_writer_set_u32(w, KEY("attention.key_length"), (uint32_t)hd);
    gguf_writer_set_u32(w, KEY("attention.value_length"), (uint32_t)hd);
    gguf_writer_set_f32(w, KEY("rope.freq_base"), s->rope_base);
    gguf_writer_set_u32(w, KEY("rope.dimension_count"), (uint32_t)hd);
    gguf_writer_set_f32(w, KEY("attention.layer_norm_rms_epsilon"), s->norm_eps);
    gguf_writer_set_u32(w, KEY("vocab_size"), (uint32_t)n_vocab);
    if (s->pooling) gguf_writer_set_u32(w, KEY("pooling_type"), (uint32_t)s->pooling);
    if (s->n_expert > 0) {
        gguf_writer_set_u32(w, KEY("expert_count"), (uint32_t)s->n_expert);
        gguf_writer_set_u32(w, KEY("expert_used_count"), (uint32_t)s->n_expert_used);
        if (s->n_ff_exp)
            gguf_writer_set_u32(w, KEY("expert_feed_forward_length"), (uint32_t)s->n_ff_exp);
        if (s->n_ff_shexp)
            gguf_writer_set_u32(w, KEY("expert_shared_feed_forward_length"),
                                (uint32_t)s->n_ff_shexp);
    }
    if (s->yarn_factor > 0.0f) {
        gguf_writer_set_str(w, KEY("rope.scaling.type"), "yarn");
        gguf_writer_set_f32(w, KEY("rope.scaling.factor"), s->yarn_factor);
        gguf_writer_set_u32(w, KEY("rope.scaling.original_context_length"),
                            (uint32_t)s->rope_orig_ctx);
    }
    if (s->linear_scale > 0.0f) {
        gguf_writer_set_str(w, KEY("rope.scaling.type"), "linear");
        gguf_writer_set_f32(w, KEY("rope.scaling.factor"), s->linear_scale);
    }
    if (s->longrope) {
        const double scale = (double)s->n_ctx / (double)s->rope_orig_ctx;
        gguf_writer_set_u32(w, KEY("rope.scaling.original_context_length"),
                            (uint32_t)s->rope_orig_ctx);
        gguf_writer_set_f32(w, KEY("rope.scaling.attn_factor"),
                            (float)sqrt(1.0 + log(scale) / log((double)s->rope_orig_ctx)));
    }
    if (s->n_swa) gguf_writer_set_u32(w, KEY("attention.sliding_window"), (uint32_t)s->n_swa);
    if (s->attn_softcap != 0.0f)
        gguf_writer_set_f32(w, KEY("attn_logit_softcapping"), s->attn_softcap);
    if (s->final_softcap != 0.0f)
        gguf_writer_set_f32(w, KEY("final_logit_softcapping"), s->final_softcap);
#undef KEY
}

typedef struct {
    const synth_params *p;
    const synth_shape *s;
    quant_stage *st;
    he_error *err;
} synth_run;

/* ne2 > 0: a 3-D stack of ne2 (ne1, ne0) matrices (experts) */
static int add3(synth_run *r, const char *name, gen_kind kind, float std, int64_t ne0, int64_t ne1,
                int64_t ne2) {
    int64_t ne[3] = {ne0, ne1, ne2};
    uint32_t n_dims = ne2 > 0 ? 3 : ne1 > 0 ? 2 : 1;
    gen_ctx g = {kind, mix64(r->p->seed ^ hash_name(name)), std, ne0, r->s};
    tensor_type t =
        quant_choose_type(r->p->ftype, name, n_dims, ne, r->s->n_layer, r->s->n_expert > 0);
    if (quant_stage_add(r->st, name, t, n_dims, ne, fill_gen, &g, r->err) < 0) return -1;
    return 0;
}

static int add(synth_run *r, const char *name, gen_kind kind, float std, int64_t ne0, int64_t ne1) {
    return add3(r, name, kind, std, ne0, ne1, 0);
}

/* BERT-family tensors, named as llama.cpp's converter names them. */
static int add_encoder_tensors(synth_run *r, int32_t n_vocab, int32_t n_types) {
    const synth_shape *s = r->s;
    /* Larger than a fresh init (0.02): with post-norm blocks and small weights every text's
     * pooled vector is nearly the same (the CLS row barely attends), which would make an
     * agreement test against another implementation too easy to pass. */
    const float W = 0.15f, NORM = 0.05f;
    const int64_t E = s->n_embd, F = s->n_ff;
    const bool nomic = !strcmp(s->arch, "nomic-bert");
    char name[96];
    if (add(r, "token_embd.weight", GEN_NORMAL, W, E, n_vocab) < 0 ||
        add(r, "token_types.weight", GEN_NORMAL, W, E, n_types) < 0 ||
        (!nomic && add(r, "position_embd.weight", GEN_NORMAL, W, E, s->n_ctx) < 0) ||
        add(r, "token_embd_norm.weight", GEN_NEAR_ONE, NORM, E, 0) < 0 ||
        add(r, "token_embd_norm.bias", GEN_NORMAL, W, E, 0) < 0)
        return -1;
    for (int32_t il = 0; il < s->n_layer; il++) {
#define T(suffix) (snprintf(name, sizeof name, "blk.%d." suffix, (int)il), name)
        if (nomic) {
            if (add(r, T("attn_qkv.weight"), GEN_NORMAL, W, E, 3 * E) < 0) return -1;
        } else if (add(r, T("attn_q.weight"), GEN_NORMAL, W, E, E) < 0 ||
                   add(r, T("attn_q.bias"), GEN_NORMAL, W, E, 0) < 0 ||
                   add(r, T("attn_k.weight"), GEN_NORMAL, W, E, E) < 0 ||
                   add(r, T("attn_k.bias"), GEN_NORMAL, W, E, 0) < 0 ||
                   add(r, T("attn_v.weight"), GEN_NORMAL, W, E, E) < 0 ||
                   add(r, T("attn_v.bias"), GEN_NORMAL, W, E, 0) < 0)
            return -1;
        if (add(r, T("attn_output.weight"), GEN_NORMAL, W, E, E) < 0 ||
            (!nomic && add(r, T("attn_output.bias"), GEN_NORMAL, W, E, 0) < 0) ||
            add(r, T("attn_output_norm.weight"), GEN_NEAR_ONE, NORM, E, 0) < 0 ||
            add(r, T("attn_output_norm.bias"), GEN_NORMAL, W, E, 0) < 0 ||
            add(r, T("ffn_up.weight"), GEN_NORMAL, W, E, F) < 0 ||
            (!nomic && add(r, T("ffn_up.bias"), GEN_NORMAL, W, F, 0) < 0) ||
            (nomic && add(r, T("ffn_gate.weight"), GEN_NORMAL, W, E, F) < 0) ||
            add(r, T("ffn_down.weight"), GEN_NORMAL, W, F, E) < 0 ||
            (!nomic && add(r, T("ffn_down.bias"), GEN_NORMAL, W, E, 0) < 0) ||
            add(r, T("layer_output_norm.weight"), GEN_NEAR_ONE, NORM, E, 0) < 0 ||
            add(r, T("layer_output_norm.bias"), GEN_NORMAL, W, E, 0) < 0)
            return -1;
#undef T
    }
    if (s->pooling == 4 && /* rank: the classification head (larger weights: visible scores) */
        (add(r, "cls.weight", GEN_NORMAL, 0.1f, E, E) < 0 ||
         add(r, "cls.bias", GEN_NORMAL, W, E, 0) < 0 ||
         add(r, "cls.output.weight", GEN_NORMAL, 0.5f, E, 1) < 0 ||
         add(r, "cls.output.bias", GEN_NORMAL, W, 1, 0) < 0))
        return -1;
    return 0;
}

/* The FFN of one layer: dense, or routed experts (+ a shared expert). The router's weights get
 * a spread of 0.25 (router logits of spread ~4 on normed inputs) so that tokens clearly prefer
 * some experts, as trained routers do: with a near-uniform router the top-k choice would hinge
 * on rounding (measured: with 0.1, gaps of 2e-6 between the k-th and next probability flipped
 * experts against llama.cpp on quantized models). */
/* WO: the std of the down projections (make-model --tail scales it in the tail layers) */
static int add_ffn(synth_run *r, int32_t il, float W, float WO) {
    const synth_shape *s = r->s;
    char name[96];
#define T(suffix) (snprintf(name, sizeof name, "blk.%d." suffix, (int)il), name)
    if (s->fused) /* phi3: the gate's rows, then the up projection's, in one tensor */
        return add(r, T("ffn_up.weight"), GEN_NORMAL, W, s->n_embd, 2 * (int64_t)s->n_ff) < 0 ||
                       add(r, T("ffn_down.weight"), GEN_NORMAL, WO, s->n_ff, s->n_embd) < 0
                   ? -1
                   : 0;
    if (s->n_expert == 0)
        return add(r, T("ffn_gate.weight"), GEN_NORMAL, W, s->n_embd, s->n_ff) < 0 ||
                       add(r, T("ffn_up.weight"), GEN_NORMAL, W, s->n_embd, s->n_ff) < 0 ||
                       add(r, T("ffn_down.weight"), GEN_NORMAL, WO, s->n_ff, s->n_embd) < 0
                   ? -1
                   : 0;
    int64_t X = s->n_expert, Fe = s->n_ff_exp ? s->n_ff_exp : s->n_ff, Fs = s->n_ff_shexp;
    /* gpt-oss: gate and up of spread ~5 on normed inputs (std 0.5 over n_embd 128), so that
     * its clamps at 7 and +-7 bind for some values and a test sees them */
    const float WE = !strcmp(s->arch, "gpt-oss") ? 0.5f : W;
    if (!strcmp(s->arch, "gpt-oss") && /* router and expert biases */
        (add(r, T("ffn_gate_inp.bias"), GEN_NORMAL, 0.25f, X, 0) < 0 ||
         add(r, T("ffn_gate_exps.bias"), GEN_NORMAL, W, Fe, X) < 0 ||
         add(r, T("ffn_up_exps.bias"), GEN_NORMAL, W, Fe, X) < 0 ||
         add(r, T("ffn_down_exps.bias"), GEN_NORMAL, W, s->n_embd, X) < 0))
        return -1;
    if (add(r, T("ffn_gate_inp.weight"), GEN_NORMAL, 0.25f, s->n_embd, X) < 0 ||
        add3(r, T("ffn_gate_exps.weight"), GEN_NORMAL, WE, s->n_embd, Fe, X) < 0 ||
        add3(r, T("ffn_up_exps.weight"), GEN_NORMAL, WE, s->n_embd, Fe, X) < 0 ||
        add3(r, T("ffn_down_exps.weight"), GEN_NORMAL, WO, Fe, s->n_embd, X) < 0)
        return -1;
    if (Fs && (add(r, T("ffn_gate_inp_shexp.weight"), GEN_NORMAL, 5 * W, s->n_embd, 0) < 0 ||
               add(r, T("ffn_gate_shexp.weight"), GEN_NORMAL, W, s->n_embd, Fs) < 0 ||
               add(r, T("ffn_up_shexp.weight"), GEN_NORMAL, W, s->n_embd, Fs) < 0 ||
               add(r, T("ffn_down_shexp.weight"), GEN_NORMAL, WO, Fs, s->n_embd) < 0))
        return -1;
#undef T
    return 0;
}

static int add_tensors(synth_run *r, int32_t n_vocab) {
    const synth_shape *s = r->s;
    const float W = 0.02f, NORM = 0.05f;
    int32_t hd = s->head_dim ? s->head_dim : s->n_embd / s->n_head;
    int64_t q_dim = (int64_t)s->n_head * hd, kv_dim = (int64_t)s->n_head_kv * hd;
    char name[96];
    if (s->rope_scale > 0.0f && add(r, "rope_freqs.weight", GEN_ROPE_FREQS, 0.0f, hd / 2, 0) < 0)
        return -1;
    if (s->longrope && (add(r, "rope_factors_long.weight", GEN_ROPE_LONG, 0.0f, hd / 2, 0) < 0 ||
                        add(r, "rope_factors_short.weight", GEN_ROPE_SHORT, 0.0f, hd / 2, 0) < 0))
        return -1;
    if (add(r, "token_embd.weight", GEN_NORMAL, s->embd_std > 0.0f ? s->embd_std : W, s->n_embd,
            n_vocab) < 0)
        return -1;
    for (int32_t il = 0; il < s->n_layer; il++) {
        const float WO = r->p->tail_from > 0 && il >= r->p->tail_from ? W * r->p->tail_scale : W;
#define T(suffix) (snprintf(name, sizeof name, "blk.%d." suffix, (int)il), name)
        if (add(r, T("attn_norm.weight"), GEN_NEAR_ONE, NORM, s->n_embd, 0) < 0) return -1;
        if (s->fused) { /* phi3: Q's rows, then K's, then V's */
            if (add(r, T("attn_qkv.weight"), GEN_NORMAL, W, s->n_embd, q_dim + 2 * kv_dim) < 0)
                return -1;
        } else if (add(r, T("attn_q.weight"), GEN_NORMAL, W, s->n_embd, q_dim) < 0 ||
                   add(r, T("attn_k.weight"), GEN_NORMAL, W, s->n_embd, kv_dim) < 0 ||
                   add(r, T("attn_v.weight"), GEN_NORMAL, W, s->n_embd, kv_dim) < 0) {
            return -1;
        }
        if (s->qkv_bias && (add(r, T("attn_q.bias"), GEN_NORMAL, W, q_dim, 0) < 0 ||
                            add(r, T("attn_k.bias"), GEN_NORMAL, W, kv_dim, 0) < 0 ||
                            add(r, T("attn_v.bias"), GEN_NORMAL, W, kv_dim, 0) < 0))
            return -1;
        if (s->qk_norm && (add(r, T("attn_q_norm.weight"), GEN_NEAR_ONE, NORM, hd, 0) < 0 ||
                           add(r, T("attn_k_norm.weight"), GEN_NEAR_ONE, NORM, hd, 0) < 0))
            return -1;
        const bool oai = !strcmp(s->arch, "gpt-oss");
        /* gpt-oss: output bias, sinks (spread 1: comparable to the scores), and its FFN
         * pre-norm is named post_attention_norm */
        if (oai && (add(r, T("attn_output.bias"), GEN_NORMAL, W, s->n_embd, 0) < 0 ||
                    add(r, T("attn_sinks.weight"), GEN_NORMAL, 1.0f, s->n_head, 0) < 0 ||
                    add(r, T("post_attention_norm.weight"), GEN_NEAR_ONE, NORM, s->n_embd, 0) < 0))
            return -1;
        if (add(r, T("attn_output.weight"), GEN_NORMAL, WO, q_dim, s->n_embd) < 0 ||
            (s->post_norms &&
             add(r, T("post_attention_norm.weight"), GEN_NEAR_ONE, NORM, s->n_embd, 0) < 0) ||
            (!oai && add(r, T("ffn_norm.weight"), GEN_NEAR_ONE, NORM, s->n_embd, 0) < 0) ||
            add_ffn(r, il, W, WO) < 0 ||
            (s->post_norms &&
             add(r, T("post_ffw_norm.weight"), GEN_NEAR_ONE, NORM, s->n_embd, 0) < 0))
            return -1;
#undef T
    }
    if (add(r, "output_norm.weight", GEN_NEAR_ONE, NORM, s->n_embd, 0) < 0) return -1;
    if (!s->tied && add(r, "output.weight", GEN_NORMAL, W, s->n_embd, n_vocab) < 0) return -1;
    /* a decoder reranker: the yes / no rows of the output projection (larger: visible scores) */
    if (s->pooling == 4 && add(r, "cls.output.weight", GEN_NORMAL, 0.1f, s->n_embd, 2) < 0)
        return -1;
    return 0;
}

int synth_make_model(const synth_params *p, const char *out_path, he_error *err) {
    const synth_shape *s = synth_shape_find(p->shape);
    if (!s)
        return he_fail(err, HE_INVALID, "unknown shape '%s' (expected one of %s)",
                       p->shape ? p->shape : "(null)", synth_shape_names());
    int rc = -1;
    gguf_file *vocab = NULL;
    quant_stage *st = NULL;
    gguf_writer *w = gguf_writer_new();
    char name[160];
    snprintf(name, sizeof name, "hearth synthetic %s (random weights, seed %llu)", s->name,
             (unsigned long long)p->seed);
    gguf_writer_set_str(w, "general.architecture", s->arch);
    gguf_writer_set_str(w, "general.name", name);
    gguf_writer_set_u32(w, "general.file_type", (uint32_t)p->ftype);
    gguf_writer_set_u32(w, "general.quantization_version", 2);

    /* hparams before the tokenizer keys, in the order llama.cpp's converter writes them; the
     * vocab size is filled in (in place) once the vocab is known */
    set_hparams(w, s, 0);
    int32_t n_vocab;
    if (p->vocab_path && *p->vocab_path) {
        vocab = gguf_open(p->vocab_path, err);
        if (!vocab) goto done;
        n_vocab = copy_vocab(w, vocab, p->vocab_path, err);
        if (n_vocab < 0) goto done;
    } else {
        n_vocab = builtin_vocab(w);
    }
    set_hparams(w, s, n_vocab);

    st = quant_stage_new(out_path, p->n_threads, err);
    if (!st) goto done;
    synth_run r = {p, s, st, err};
    if (s->encoder) {
        int64_t n_types = 2;
        if (vocab && gguf_find_i64(vocab, "tokenizer.ggml.token_type_count", &n_types, err) < 0)
            goto done;
        if (n_types < 1 || n_types > 16) {
            he_fail(err, HE_FORMAT, "vocab: token_type_count %lld is out of range [1, 16]",
                    (long long)n_types);
            goto done;
        }
        if (!vocab || gguf_find_key(vocab, "tokenizer.ggml.token_type_count") < 0)
            gguf_writer_set_u32(w, "tokenizer.ggml.token_type_count", (uint32_t)n_types);
        /* a cross-encoder's input ends query and document with EOS (llama.cpp's rerank format);
         * BERT vocabs name none: [SEP], as the reranker converters set it */
        if (s->pooling == 4 && vocab && gguf_find_key(vocab, "tokenizer.ggml.eos_token_id") < 0) {
            int64_t j = find_token(vocab, "[SEP]", err);
            if (j < -1) goto done;
            if (j >= 0) gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)j);
        }
        if (add_encoder_tensors(&r, n_vocab, (int32_t)n_types) < 0) goto done;
    } else {
        if (s->eos_text && vocab) { /* Qwen3-Embedding: every input ends with this token */
            int64_t j = find_token(vocab, s->eos_text, err);
            if (j < -1) goto done;
            if (j < 0) {
                he_fail(err, HE_FORMAT, "vocab: no token '%s' (shape %s appends it)", s->eos_text,
                        s->name);
                goto done;
            }
            gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)j);
            gguf_writer_set_bool(w, "tokenizer.ggml.add_eos_token", true);
        }
        if (s->pooling == 4) { /* Qwen3-Reranker, as llama.cpp's converter writes it */
            static const char *const labels[] = {"yes", "no"};
            char key[128];
            snprintf(key, sizeof key, "%s.classifier.output_labels", s->arch);
            gguf_writer_set_arr_str(w, key, labels, 2);
            gguf_writer_set_str(w, "tokenizer.chat_template.rerank", HEARTH_RERANK_PROMPT_QWEN3);
        }
        if (add_tensors(&r, n_vocab) < 0) goto done;
    }
    if (quant_stage_finish(st, w, err) < 0) goto done;
    if (gguf_writer_write(w, out_path, err) < 0) goto done;
    rc = 0;
done:
    quant_stage_free(st);
    gguf_writer_free(w);
    gguf_close(vocab);
    return rc;
}
