/* model_internal.h — the engine's internal structures, shared by the model module's files. */
#ifndef HEARTH_MODEL_INTERNAL_H
#define HEARTH_MODEL_INTERNAL_H

#include <stdint.h>

#include "base/pool.h"
#include "gguf/gguf.h"
#include "model/hearth.h"
#include "model/lora.h"
#include "tensor/tensor.h"

#define HEARTH_MAX_LAYERS 512
#define HEARTH_MAX_EXPERTS 1024 /* {arch}.expert_count */
/* exact attention: probability . V partial sums per output value (ggml's AVX-512
 * vec_dot_f16: 4 x 16 lanes) */
#define ATT_LANES 64

/* ---- Forward-pass blocks (forward.c) ---- */

typedef struct hearth_layer hearth_layer;

/* What one forward pass threads through the blocks of its layers. */
typedef struct {
    hearth_ctx *c;
    const hearth_batch *b;
    int n;                 /* batch entries (rows of every layer's K/V) */
    int rows;              /* rows of x still computed: n, then in the last layer those asking
                              for logits, moved to the front */
    const int32_t *row_of; /* batch entry of each row; NULL: row i is entry i */
} hearth_fwd;

/* A layer: x (f->rows rows) -> x, storing K and V of all f->n rows. */
typedef void (*hearth_layer_fn)(hearth_fwd *f, const hearth_layer *L, int l);
/* An FFN block: x += ffn(norm(x)) over f->rows rows. */
typedef void (*hearth_ffn_fn)(hearth_fwd *f, const hearth_layer *L);

/* Layers and FFN blocks the architectures compose (forward.c). */
void hearth_layer_prenorm(hearth_fwd *f, const hearth_layer *L, int l);
void hearth_ffn_dense(hearth_fwd *f, const hearth_layer *L);
void hearth_ffn_moe(hearth_fwd *f, const hearth_layer *L); /* routed experts (+ shared expert) */
/* routed experts the gpt-oss way: router bias, softmax over the top-k logits, biased experts
 * with a clamped SwiGLU */
void hearth_ffn_moe_oai(hearth_fwd *f, const hearth_layer *L);
void hearth_ffn_geglu(hearth_fwd *f, const hearth_layer *L); /* down(gelu(gate) * up) (Gemma) */

/* ---- Architectures (arch.c) ---- */

typedef enum {
    ARCH_FFN_DENSE,    /* ffn_{gate,up,down} */
    ARCH_FFN_MOE_OPT,  /* dense, or experts when {arch}.expert_count > 0 (Mixtral as llama) */
    ARCH_FFN_MOE,      /* experts always ({arch}.expert_count required) */
} hearth_arch_ffn;

typedef struct {
    const char *name;      /* general.architecture value and metadata key prefix */
    hearth_layer_fn layer; /* how a layer composes the blocks */
    bool rope_neox;        /* RoPE pairs (i, i + n_rot/2) instead of (2i, 2i+1) */
    bool qkv_bias;         /* blk.N.attn_{q,k,v}.bias present (Qwen2) */
    bool qk_norm;          /* per-head RMS norm of Q and K before RoPE (Qwen3) */
    hearth_arch_ffn ffn;   /* which FFN block the layers get */
    bool shared_expert;    /* MoE: plus ffn_*_shexp with a sigmoid gate (Qwen2-MoE) */
    bool moe_norm_w;       /* MoE: renormalize the top-k weights to sum 1 (default of
                              {arch}.expert_weights_norm) */
    int encoder;           /* HEARTH_ENC_*: a bidirectional encoder run by encoder.c (0: decoder) */
    bool ffn_gelu;         /* dense FFN is GeGLU (tanh GELU) instead of SwiGLU (Gemma) */
    bool post_norms;       /* blk.N.attn_post_norm / ffn_post_norm on each block's output
                              before the residual add (Gemma 2) */
    bool fused_qkv;        /* blk.N.attn_qkv [n_embd, nq + nk + nv] instead of attn_q/k/v, and
                              ffn_up [n_embd, 2 n_ff] holding gate then up (Phi-3): bound as
                              row views, so the blocks see separate matrices */
    hearth_ffn_fn moe_ffn; /* MoE block of the layers (NULL: hearth_ffn_moe) */
    bool oai;              /* gpt-oss: attn_output.bias, attn_sinks (n_head), the FFN norm named
                              post_attention_norm, router and expert biases */
    /* architecture-specific keys (soft-capping, sliding window, scales); NULL: none */
    int (*read_hparams)(hearth_model *m, gguf_file *f, he_error *err);
} hearth_arch;

/* Encoder families (encoder.c): BERT (absolute positions, biases, GELU FFN, separate Q/K/V)
 * and nomic-bert (RoPE, SwiGLU FFN, fused QKV, no biases). */
enum { HEARTH_ENC_NONE = 0, HEARTH_ENC_BERT = 1, HEARTH_ENC_NOMIC = 2 };

const hearth_arch *hearth_arch_find(const char *name, size_t len); /* NULL if unknown */
/* Comma-separated names of the known architectures, for error messages. */
const char *hearth_arch_names(void);

/* ---- Model ---- */

typedef struct {
    const void *data; /* borrowed from the mapping; NULL when absent (optional tensors) */
    tensor_type type;
    int64_t n_in;  /* ne[0] */
    int64_t n_out; /* ne[1] (1 for vectors) */
    int64_t n_mat; /* ne[2]: a stack of n_mat matrices (experts); 1 otherwise */
} hearth_weight;

/* Matrix e of a stack (hearth_weight.n_mat > 1, GGUF ne = [n_in, n_out, n_mat]). */
static inline hearth_weight hearth_weight_mat(const hearth_weight *w, int e) {
    hearth_weight r = *w;
    r.data = (const uint8_t *)w->data +
             (size_t)e * (size_t)w->n_out * tensor_row_size(w->type, w->n_in);
    r.n_mat = 1;
    return r;
}

struct hearth_layer {
    hearth_ffn_fn ffn;            // the FFN block of this layer (load.c decides)
    hearth_weight attn_norm;      // (n_embd,)
    hearth_weight wq, wk, wv;     // (n_head*hd_k, n_embd), (n_kv*hd_k, n_embd), (n_kv*hd_v, n_embd)
    hearth_weight bq, bk, bv;     // biases (qkv_bias archs)
    hearth_weight q_norm, k_norm; // (hd_k,) (qk_norm archs)
    hearth_weight wo;             // (n_embd, n_head*hd_v)
    hearth_weight bo;             // (n_embd,) output bias (gpt-oss)
    hearth_weight attn_sinks;     // (n_head,) gpt-oss: a learned logit per head in the softmax
    hearth_weight ffn_norm;       // (n_embd,)
    hearth_weight attn_post_norm; // (n_embd,) post_norms archs: norm of the attention output
    hearth_weight ffn_post_norm;  // (n_embd,) and of the FFN output, before the residual add
    bool swa;                     // sliding-window layer: sees the last hp.n_swa positions
    bool rope_swa;                // uses the model's rope_swa (Gemma 3's local layers)
    hearth_weight w_gate, w_up;   // (n_ff, n_embd)
    hearth_weight w_down;         // (n_embd, n_ff)
    /* MoE layers (ffn == hearth_ffn_moe) */
    hearth_weight gate_inp;                  // router (n_expert, n_embd)
    hearth_weight gate_inp_b;                // router bias (n_expert) (gpt-oss)
    hearth_weight gate_exps_b, up_exps_b;    // expert biases (n_expert) x (n_ff_exp) (gpt-oss)
    hearth_weight down_exps_b;               // (n_expert) x (n_embd)
    hearth_weight gate_exps, up_exps;        // (n_expert) x (n_ff_exp, n_embd)
    hearth_weight down_exps;                 // (n_expert) x (n_embd, n_ff_exp)
    hearth_weight gate_shexp, up_shexp;      // shared expert (n_ff_shexp, n_embd)
    hearth_weight down_shexp;                // (n_embd, n_ff_shexp)
    hearth_weight gate_inp_shexp;            // (1, n_embd): sigmoid gate of the shared expert
};

/* ---- LoRA adapters (lora.c) ---- */

/* The dense projections an adapter may target, in hearth_lora_make's bit order. */
typedef enum {
    LORA_Q, LORA_K, LORA_V, LORA_O, LORA_GATE, LORA_UP, LORA_DOWN, LORA_N_TARGETS
} hearth_lora_target;

typedef struct {
    hearth_weight a; /* (r, n_in): r rows of n_in; data NULL when the weight is not adapted */
    hearth_weight b; /* (n_out, r) */
} hearth_lora_pair;

struct hearth_lora {
    gguf_file *file;
    const hearth_model *base;
    float alpha;
    int32_t n_weights, max_rank;
    int64_t max_dim;        /* largest n_in / n_out of an adapted weight */
    size_t act_scratch;     /* tensor_matmul scratch per row for A and B */
    hearth_lora_pair *pair; /* (n_layer * LORA_N_TARGETS) */
};

/* One RoPE table as ggml's rope computes its angles: theta_i = pos * theta_scale^i / div[i],
 * times freq_scale (linear scaling, or YaRN's interpolation when yarn is set), cos and sin times
 * mscale (rope.scaling.attn_factor; YaRN's own factor on top). */
typedef struct {
    float theta_scale;  // powf(base, -2/n_rot)
    const float *div;   // (n_rot/2) per-frequency divisors (the model owns them)
    float freq_scale;   // 1 / rope.scaling.factor (1: unscaled)
    float mscale;       // 1: none
    bool yarn;          // YaRN ramp between interpolation and extrapolation
    float corr0, corr1; // YaRN correction dims
} hearth_rope;

typedef struct {
    int32_t n_vocab, n_ctx_train, n_embd, n_layer, n_ff;
    int32_t n_head, n_head_kv, head_dim_k, head_dim_v, n_rot;
    float eps, rope_base;
    /* mixture of experts (n_expert 0: dense) */
    int32_t n_expert, n_expert_used, n_ff_exp, n_ff_shexp;
    bool moe_norm_w; /* top-k weights renormalized to sum 1 */
    /* attention and output details (defaults: the Llama/Qwen behaviour) */
    float kq_scale;      /* softmax scale of q.k: 1/sqrt(head_dim_k), or 1 when Q is pre-scaled */
    float q_scale;       /* 0: none; else Q is multiplied by it after RoPE (Gemma 2) */
    float embd_scale;    /* 0: none; else embeddings are multiplied by it (Gemma: sqrt(n_embd)) */
    float attn_softcap;  /* 0: none; else scores = cap * tanh(scores / cap) before the softmax */
    float final_softcap; /* 0: none; else logits = cap * tanh(logits / cap) */
    int32_t n_swa;       /* sliding window of the layers marked swa (0: none) */
    float swa_rope_base; /* > 0: the swa layers' own RoPE base, unscaled (Gemma 3) */
    int32_t swa_pattern; /* 0: no sliding-window layers; 1: all layers (Phi-3); P > 1: layer l
                            slides when l % P < P - 1 (Gemma 2: 2, the even layers; Gemma 3: 6,
                            five local layers then a global one) */
} hearth_hparams;

struct hearth_model {
    gguf_file *file;
    const hearth_arch *arch;
    hearth_hparams hp;
    hearth_weight tok_embd; // (n_vocab, n_embd)
    hearth_weight out_norm; // (n_embd,)
    hearth_weight output;   // (n_vocab, n_embd); = tok_embd when tied
    hearth_layer *layers;   // (n_layer)
    float *inv_freq;        // (n_rot/2) RoPE frequencies, Llama-3 scaling applied
    float *rope_div;        // (n_rot/2) divisor of the unscaled angle (1, rope_freqs, llama3,
                            // LongRoPE's short factors)
    float rope_theta_scale; // powf(rope_base, -2/n_rot), ggml's angle step
    hearth_rope rope;       // the RoPE of every layer (div = rope_div)
    /* Phi-3 LongRoPE: rope with rope_factors_long as divisors, used instead of rope by the
     * contexts of more than rope_orig_ctx cells (as llama.cpp chooses); div NULL: none */
    hearth_rope rope_long;
    float *rope_div_long;   // (n_rot/2) its divisors, owned
    int32_t rope_orig_ctx;  // rope.scaling.original_context_length
    /* Gemma 3: the sliding-window layers' own RoPE (base rope.freq_base_swa, default 10000,
     * unscaled); the global layers use rope; div NULL: the swa layers use rope too */
    hearth_rope rope_swa;
    float *rope_div_ones;   // (n_rot/2) all 1: rope_swa's divisors, owned
    size_t max_act_scratch; // bytes of quantized activations per token, largest matmul
    tok_vocab *vocab;       // NULL when absent
    struct hearth_encoder *enc; // encoder archs: their weights (encoder.c); NULL for decoders
    hearth_lora **lora;     // (n_lora) attached adapters (lora.h), owned
    int32_t n_lora;
};

/* encoder.c: reads an encoder architecture's hyperparameters and binds its weights (called by
 * hearth_model_bind for archs with .encoder set); frees them. */
int hearth_encoder_bind(hearth_model *m, he_error *err);
void hearth_encoder_free(struct hearth_encoder *e);
/* Gemma 2's keys (load.c): softcapping, sliding window, query and embedding scales. */
int hearth_read_gemma2(hearth_model *m, gguf_file *f, he_error *err);
/* gpt-oss's keys (load.c): sliding window (default 128) on the even layers. */
int hearth_read_gpt_oss(hearth_model *m, gguf_file *f, he_error *err);
/* Gemma 3's keys (load.c): sliding window on 5 of 6 layers with their own RoPE base, query
 * and embedding scales, optional final soft-cap. */
int hearth_read_gemma3(hearth_model *m, gguf_file *f, he_error *err);
/* Phi-3's keys (load.c): sliding window (llama.cpp's defaults; 0: none, Phi-4), query scale. */
int hearth_read_phi3(hearth_model *m, gguf_file *f, he_error *err);

/* Reads and validates the hyperparameters and binds every tensor (load.c). */
int hearth_model_bind(hearth_model *m, he_error *err);

/* ---- Context ---- */

typedef struct {
    int32_t pos;   /* -1: free */
    uint64_t seqs; /* bit s: sequence s sees this cell */
} kv_cell;

struct hearth_ctx {
    const hearth_model *m;
    hearth_ctx_params p;
    he_pool *pool;
    bool own_pool;

    /* KV cache: a unified pool of n_ctx cells (see hearth.h) */
    kv_cell *cells; // (n_ctx)
    int32_t n_used;
    int32_t seq_pos_max[HEARTH_MAX_SEQ];
    void *k_cache; // per layer (n_head_kv, rows, head_dim_k) f16, f32 or q8_0 blocks
    void *v_cache; // per layer (n_head_kv, rows, head_dim_v); see hearth_kv_head
    size_t kv_elt; // bytes per element (2 or 4); 0 for Q8_0 (34 bytes per 32 elements)
    size_t kv_bytes;          // bytes of k_cache + v_cache
    size_t kv_bytes_full;     // what they would take with n_ctx rows in every layer
    size_t *kv_base;          // (n_layer) first row of each layer: sum of n_head_kv * rows
    /* Used cells sorted by (pos, cell), built by hearth_kv_order in hearth_decode only when some
     * sequence's cells are out of position order (kv_order_n > 0); hearth_kv_list reads it. */
    int32_t *kv_order;        // (n_ctx)
    int32_t kv_order_n;       // cells in kv_order; 0: every sequence's cells are in order
    /* Sliding-window ring (kv_cache.c). When swa_ring is set, the K/V of the layers marked
     * swa keep swa_cap rows (slots) instead of n_ctx: enough for every sequence's last
     * n_swa - 1 positions plus one batch. Cell i's row there is swa_slot[i] (-1: not held:
     * no sequence's future rows can see it). Global layers keep n_ctx rows, indexed by cell. */
    bool swa_ring;
    int32_t swa_cap;          // rows of a ring layer
    int32_t *swa_slot;        // (n_ctx) slot of each cell, -1 when none
    int32_t *swa_cell;        // (swa_cap) cell each slot holds, -1 when free
    int32_t swa_next;         // where the search for a reusable slot starts
    const tensor_traits *q8;  // Q8_0 quantizer, dequantizer and dot (Q8_0 cache only)

    /* Scratch for one batch of up to n_batch tokens */
    float *x;                 // (n_batch, n_embd) residual stream
    float *xb;                // (n_batch, max(n_embd, n_head*hd_v)) normed input / attention out
    float *xo;                // (n_batch, n_embd) attention / FFN output before the residual add
    float *q;                 // (n_batch, n_head*hd_k)
    float *k;                 // (n_batch, n_head_kv*hd_k)
    float *v;                 // (n_batch, n_head_kv*hd_v)
    float *hb, *hb2;          // (n_batch, max(n_ff, n_ff_exp, n_ff_shexp))
    /* MoE scratch (models with experts only; see hearth_ffn_moe) */
    float *moe_logits;        // (n_batch, n_expert) router output, then probabilities
    int32_t *moe_sel;         // (n_batch, n_expert_used) chosen experts, best first
    float *moe_w;             // (n_batch, n_expert_used) their weights
    int32_t *moe_count;       // (n_expert + 2) tokens per expert, then each expert's first slot
    int32_t *moe_list;        // (n_batch * n_expert_used) slot (row * k + j) per expert
    float *moe_in;            // (n_batch, n_embd) the rows routed to one expert, gathered
    float *moe_out;           // (n_batch, n_embd) that expert's output rows
    float *moe_y;             // (n_batch * n_expert_used, n_embd) each slot's expert output
    float *moe_gate;          // (n_batch) shared-expert gate
    float *rope_cs;           // (n_batch, n_rot) cos/sin per position (the model's rope)
    float *rope_cs_swa;       // (n_batch, n_rot) with the model's rope_swa; NULL when it has none
    int32_t *cell_of;         // (n_batch) the cell each batch token was written to
    void *act_q;              // quantized activations for tensor_matmul
    size_t act_q_size;        // its bytes: n_batch rows of the largest matmul's
    /* attention scratch (attention.c, attn_exact.c), per thread and linear in n_ctx */
    bool att_exact;           // HEARTH_ATTN=exact: the exact path instead of the tiled one
    int32_t *att_cells;       // (n_threads, n_ctx) cells visible to the current work item
    float *att;               // exact: (n_threads, att_stride), see attn_exact.c
    size_t att_stride;        // floats per thread: grp*(n_ctx + hd_k + hd_v) + hd_k + hd_v + ...
    double *att_sum;          // exact: (n_threads, grp * hd_v) probability . V sums
    uint16_t *att_half;       // exact: (n_threads, att_half_stride) f16 rounding buffer
    size_t att_half_stride;   // max(n_ctx, grp * hd_k)
    const void *att_kern;     // tiled: its attn_kernels (attention.h)
    int att_tok, att_rp;      // tiled: tokens per work item; its rows padded to the kernel width
    char *att_tile;           // tiled: (n_threads, att_tile_stride) bytes, 64-byte aligned
    void *att_tile_mem;       // tiled: the allocation att_tile lies in
    size_t att_tile_stride;   // tiled: bytes per thread (see tile_layout)
    int32_t *att_groups;      // tiled: (n_batch + 1) first row of each token group
    const tensor_traits *f16; // f16 <-> f32 row conversions for the cache
    float *out_x;             // (n_outputs, n_embd) final hidden states to project
    float *logits;            // (n_outputs, n_vocab)
    int32_t *logit_row;       // (n_batch) row in logits, -1 when none
    int32_t *out_rows;        // (n_batch) batch entries that asked for logits, in order
    int32_t n_batch_last;     // entries of the last decoded batch
    /* LoRA (lora.c): the adapters present at hearth_ctx_new, scale per (adapter, sequence) */
    int32_t n_lora;
    float *lora_scale;        // (n_lora, HEARTH_MAX_SEQ); 0: off
    float *lora_x;            // (n_batch, lora dim) the rows using an adapter, gathered
    float *lora_t;            // (n_batch, max rank) A x
    float *lora_y;            // (n_batch, lora dim) B (A x)
    float *lora_s;            // (n_batch) each gathered row's scale * alpha / r
    int32_t *lora_rows;       // (n_batch) each gathered row's row in y
    void *lora_act;           // tensor_matmul scratch for A and B
};

/* lora.c: allocates / frees a context's LoRA state (hearth_ctx_new / hearth_ctx_free). */
int hearth_ctx_lora_alloc(hearth_ctx *c, he_error *err);
void hearth_ctx_lora_free(hearth_ctx *c);
/* lora.c: y (n_tok rows of W's n_out) += the adapters' B (A x) for target t of layer l, for
 * the rows whose sequence has a non-zero scale; entry(r) = row_of ? row_of[r] : r. */
void hearth_lora_apply(hearth_ctx *c, const hearth_batch *b, const int32_t *row_of, float *y,
                       int l, hearth_lora_target t, const float *x, int n_tok);

/* kv_cache.c */
int hearth_kv_alloc(hearth_ctx *c, he_error *err);
void hearth_kv_free(hearth_ctx *c);
/* Finds n free cells, marks them as (pos, seq) and records them in c->cell_of; on a ring it
 * also gives each a slot, reusing those of cells no sequence can see any more. */
void hearth_kv_place(hearth_ctx *c, const hearth_batch *b);
/* The cells a sequence (bit) sees at positions <= maxpos, written to cells in POSITION order
 * (ties, which only a caller placing one position twice makes, in cell order); returns how
 * many. Attention sums over this list in its order, so a sequence's logits must not depend on
 * which cells it was given: after other sequences free cells (a finished request, a rejected
 * draft), a later token can land in a cell below earlier ones, and cell order would then sum
 * the same terms in another order than the sequence decoded alone (batch invariance).
 * Valid after hearth_kv_order, until the cells change. */
int32_t hearth_kv_list(const hearth_ctx *c, uint64_t bit, int32_t maxpos, int32_t *cells);
/* Once per decode, after hearth_kv_place: one pass over the cells checks that every sequence's
 * cells are in position order (the usual case: nothing more to do); otherwise sorts the used
 * cells by position into kv_order, once, for all the attention work items of the decode. */
void hearth_kv_order(hearth_ctx *c);

/* Whether layer's K/V live in the sliding-window ring. */
static inline bool hearth_kv_is_ring(const hearth_ctx *c, int layer) {
    return c->swa_ring && c->m->layers[layer].swa;
}
/* Row of cell in layer's K/V: the cell itself, or its ring slot (-1: not held; only cells
 * outside every window of the rows being computed). */
static inline int32_t hearth_kv_row(const hearth_ctx *c, int layer, int32_t cell) {
    return hearth_kv_is_ring(c, layer) ? c->swa_slot[cell] : cell;
}

/* forward.c: runs the model over b, whose entries are already placed in the cache. */
void hearth_forward(hearth_ctx *c, const hearth_batch *b);

#endif
