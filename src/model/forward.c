/* forward.c — the transformer forward pass over one batch, written as blocks that each
 * architecture composes (llama2.c's shape, one function per block):
 *
 *   embed -> for each layer: the architecture's layer function (arch.c), which for every
 *   architecture today is layer_prenorm:
 *       x += attention(rmsnorm(x))       attn_block: Q,K,V (+bias) -> (QK norm) -> RoPE ->
 *                                        store K,V -> attention -> output projection
 *       x += ffn(rmsnorm(x))             the layer's FFN block: dense SwiGLU (ffn_dense) or
 *                                        routed experts (+ shared expert) (ffn_moe), or
 *                                        gpt-oss's biased experts (ffn_moe_oai)
 *   -> final rmsnorm -> logits.
 *
 * A new architecture adds a layer function built from these blocks (parallel attention + FFN,
 * ...) and names it in its arch.c entry; an FFN variant is one more block (GeGLU: ffn_geglu).
 * Gemma 2's sandwich norms are the blocks' post-norms: each block's output goes through the
 * layer's attn_post_norm / ffn_post_norm before the residual add when the layer has them.
 * gpt-oss adds an output bias to attention (attn_out) and per-head sinks in the softmax
 * (attention.c), and its own MoE block (routing and activation functions for moe_experts).
 * Gemma 2's other differences are hyperparameters the blocks read: embeddings times
 * embd_scale, Q times q_scale after RoPE, attention soft-capping and sliding-window layers
 * (attention.c), final logit soft-capping. Gemma 3 is the same layer with the Q/K norms and no
 * attention soft-cap; its local (sliding-window) layers rotate with their own RoPE table
 * (rope_cs_swa: another base, unscaled), its global ones with the model's (linear scaling).
 * RoPE tables (rope_angles) carry the scalings: Llama-3 / LongRoPE divisors, linear, YaRN,
 * the attention factor; Phi-3's LongRoPE table is chosen per context (ctx_rope).
 * The last layer runs attention and FFN only for the entries that ask for logits (all entries'
 * K and V are stored): select_output_rows compacts them to the front.
 * Matmuls process all rows at once (each weight read once per batch); attention (attention.c)
 * runs over the cells each sequence sees, with per-thread scratch linear in the context. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "model/attention.h"
#include "tensor/blocks.h"
#include "tensor/matmul.h"
#include "tensor/ops.h"

/* ---- Helpers ---- */

static void matmul(hearth_ctx *c, float *y, const hearth_weight *w, const float *x, int n_tok) {
    tensor_matmul(c->pool, y, w->data, w->type, w->n_in, w->n_out, x, n_tok, c->act_q);
}

/* y = w x as one item of matmul_many */
static tensor_mm mm_item(float *y, const hearth_weight *w, const float *x, int n_tok) {
    return (tensor_mm){.y = y,
                       .w = w->data,
                       .wtype = w->type,
                       .n_in = w->n_in,
                       .n_out = w->n_out,
                       .x = x,
                       .n_tok = n_tok};
}

/* Several matmuls as one pool dispatch (a decode step issues hundreds of small ones; each
 * dispatch is a barrier every thread waits at); consecutive items with the same input and weight
 * type quantize it once. Same results as one matmul per item. */
static void matmul_many(hearth_ctx *c, const tensor_mm *mm, int n) {
    tensor_matmul_many(c->pool, mm, n, c->act_q, c->act_q_size);
}

/* y += the LoRA adapters' products for target t of layer l (rows as in f; no-op without
 * adapters) */
static void lora(const hearth_fwd *f, float *y, int l, hearth_lora_target t, const float *x,
                 int n_tok) {
    if (f->c->n_lora) hearth_lora_apply(f->c, f->b, f->row_of, y, l, t, x, n_tok);
}

static void add_bias(float *y, const hearth_weight *b, int n_tok) {
    if (!b->data) return;
    for (int t = 0; t < n_tok; t++)
        op_add(y + (int64_t)t * b->n_in, b->data, (int)b->n_in);
}

/* x[t] += y[t] for n_tok rows of n */
static void add_rows(float *x, const float *y, int n, int n_tok) {
    for (int t = 0; t < n_tok; t++)
        op_add(x + (size_t)t * n, y + (size_t)t * n, n);
}

/* c->x += c->xo for n_tok rows: a block's residual add, through the block's post-norm first
 * when the layer has one (Gemma 2's attn_post_norm / ffn_post_norm; absent: NULL data). */
static void residual_add(hearth_ctx *c, const hearth_weight *post, int n_tok) {
    const hearth_hparams *hp = &c->m->hp;
    const int E = hp->n_embd;
    if (post->data)
        for (int t = 0; t < n_tok; t++)
            op_rmsnorm(c->xo + (size_t)t * E, c->xo + (size_t)t * E, post->data, E, hp->eps);
    add_rows(c->x, c->xo, E, n_tok);
}

/* x = cap * tanh(x / cap), as ggml's scale, tanh, scale */
static void softcap(float *x, size_t n, float cap) {
    const float inv = 1.0f / cap;
    for (size_t i = 0; i < n; i++)
        x[i] = tanhf(x[i] * inv) * cap;
}

static void embed(const hearth_model *m, float *out, int32_t token) {
    const hearth_weight *w = &m->tok_embd;
    size_t row = tensor_row_size(w->type, w->n_in);
    const uint8_t *src = (const uint8_t *)w->data + row * (size_t)token;
    if (w->type == TENSOR_TYPE_F32)
        memcpy(out, src, (size_t)w->n_in * sizeof(float));
    else
        tensor_traits_of((uint32_t)w->type)->to_float(src, out, w->n_in);
}

/* K/V rows of one cell in one layer, stored as f16 (through the f16 traits, F16C where the CPU
 * has it), f32, or Q8_0 blocks (the tensor module's quantizer). off counts elements; with Q8_0
 * it is a multiple of 32 (head sizes are), so block off / 32 starts the row. */
static void kv_store(const hearth_ctx *c, void *cache, size_t off, const float *src, int n) {
    if (c->kv_elt == 4)
        memcpy((float *)cache + off, src, (size_t)n * sizeof(float));
    else if (c->kv_elt == 2)
        c->f16->from_float(src, (uint16_t *)cache + off, n);
    else
        c->q8->from_float(src, (block_q8_0 *)cache + off / 32, n);
}

/* ---- Blocks ---- */

/* out[t] = rmsnorm(in[t]) * w for n_tok rows of n_embd */
static void norm_block(const hearth_fwd *f, float *out, const float *in, const hearth_weight *w,
                       int n_tok) {
    const hearth_hparams *hp = &f->c->m->hp;
    const int E = hp->n_embd;
    for (int t = 0; t < n_tok; t++)
        op_rmsnorm(out + (size_t)t * E, in + (size_t)t * E, w->data, E, hp->eps);
}

/* Attention, first half, for every batch row: xb = norm(x) -> Q, K, V (+ bias) -> per-head Q/K
 * norm (when the layer has them) -> RoPE -> K, V into each token's cache cell. */
static void attn_qkv(hearth_fwd *f, const hearth_layer *L, int l) {
    hearth_ctx *c = f->c;
    const hearth_hparams *hp = &c->m->hp;
    const int n = f->n, hdk = hp->head_dim_k, hdv = hp->head_dim_v, n_rot = hp->n_rot;
    const int nq = hp->n_head * hdk, nk = hp->n_head_kv * hdk, nv = hp->n_head_kv * hdv;
    const int neox = c->m->arch->rope_neox;

    norm_block(f, c->xb, c->x, &L->attn_norm, n);
    const tensor_mm qkv[] = {mm_item(c->q, &L->wq, c->xb, n), mm_item(c->k, &L->wk, c->xb, n),
                             mm_item(c->v, &L->wv, c->xb, n)};
    matmul_many(c, qkv, 3);
    lora(f, c->q, l, LORA_Q, c->xb, n);
    lora(f, c->k, l, LORA_K, c->xb, n);
    lora(f, c->v, l, LORA_V, c->xb, n);
    add_bias(c->q, &L->bq, n);
    add_bias(c->k, &L->bk, n);
    add_bias(c->v, &L->bv, n);

    for (int t = 0; t < n; t++) {
        float *q = c->q + (size_t)t * nq, *k = c->k + (size_t)t * nk;
        if (L->q_norm.data) {
            for (int h = 0; h < hp->n_head; h++)
                op_rmsnorm(q + h * hdk, q + h * hdk, L->q_norm.data, hdk, hp->eps);
            for (int h = 0; h < hp->n_head_kv; h++)
                op_rmsnorm(k + h * hdk, k + h * hdk, L->k_norm.data, hdk, hp->eps);
        }
        const float *cs = (L->rope_swa ? c->rope_cs_swa : c->rope_cs) + (size_t)t * n_rot;
        op_rope(q, hp->n_head, hdk, cs, n_rot, neox);
        op_rope(k, hp->n_head_kv, hdk, cs, n_rot, neox);
        if (hp->q_scale != 0.0f)
            for (int i = 0; i < nq; i++)
                q[i] *= hp->q_scale;

        /* into the cache cell hearth_kv_place chose for this token */
        size_t cell = (size_t)hearth_kv_row(c, l, c->cell_of[t]); /* its slot on a ring */
        for (int g = 0; g < hp->n_head_kv; g++) {
            kv_store(c, c->k_cache, hearth_kv_head(c, l, g, hdk) + cell * (size_t)hdk,
                     k + (size_t)g * hdk, hdk);
            kv_store(c, c->v_cache, hearth_kv_head(c, l, g, hdv) + cell * (size_t)hdv,
                     c->v + (size_t)t * nv + (size_t)g * hdv, hdv);
        }
    }
}

/* The last layer's output matters only for the rows that asked for logits (every row's K and V
 * are stored by then): move their queries and residuals to the front; f->rows becomes their
 * count and f->row_of their batch entries. */
static void select_output_rows(hearth_fwd *f) {
    hearth_ctx *c = f->c;
    const hearth_hparams *hp = &c->m->hp;
    const int E = hp->n_embd, nq = hp->n_head * hp->head_dim_k;
    int rows = 0;
    for (int t = 0; t < f->n; t++) {
        if (!f->b->logits[t]) continue;
        if (rows != t) {
            memmove(c->q + (size_t)rows * nq, c->q + (size_t)t * nq, (size_t)nq * sizeof(float));
            memmove(c->x + (size_t)rows * E, c->x + (size_t)t * E, (size_t)E * sizeof(float));
        }
        c->out_rows[rows++] = t;
    }
    f->rows = rows;
    f->row_of = c->out_rows;
}

/* Attention, second half, for f->rows rows: attention over the cache -> output projection ->
 * x += it. */
static void attn_out(hearth_fwd *f, const hearth_layer *L, int l) {
    hearth_ctx *c = f->c;
    hearth_attention(c, f->b, l, f->rows, f->row_of);
    matmul(c, c->xo, &L->wo, c->xb, f->rows);
    add_bias(c->xo, &L->bo, f->rows);
    lora(f, c->xo, l, LORA_O, c->xb, f->rows);
    residual_add(c, &L->attn_post_norm, f->rows);
}

/* x += attention(norm(x)), the whole attention block. In the last layer it narrows f->rows to
 * the rows asking for logits (possibly none: then nothing more is computed). */
static void attn_block(hearth_fwd *f, const hearth_layer *L, int l) {
    attn_qkv(f, L, l);
    if (l == f->c->m->hp.n_layer - 1) {
        select_output_rows(f);
        if (f->rows == 0) return;
    }
    attn_out(f, L, l);
}

/* out = down(silu(gate in) * up in) for n_tok rows of in (n_embd) — the SwiGLU FFN of dense
 * layers (and, with their weights, of experts). h, h2: (n_tok, gate->n_out) scratch. lf: the
 * pass whose LoRA adapters apply (layer l's ffn targets; rows as in lf), NULL for experts. */
static void swiglu_ffn(hearth_ctx *c, float *out, const hearth_weight *gate,
                       const hearth_weight *up, const hearth_weight *down, const float *in,
                       int n_tok, float *h, float *h2, const hearth_fwd *lf, int l) {
    const int F = (int)gate->n_out;
    const tensor_mm gu[] = {mm_item(h, gate, in, n_tok), mm_item(h2, up, in, n_tok)};
    matmul_many(c, gu, 2);
    if (lf) lora(lf, h, l, LORA_GATE, in, n_tok);
    if (lf) lora(lf, h2, l, LORA_UP, in, n_tok);
    for (int t = 0; t < n_tok; t++)
        op_swiglu(h + (size_t)t * F, h2 + (size_t)t * F, F);
    matmul(c, out, down, h, n_tok);
    if (lf) lora(lf, out, l, LORA_DOWN, h, n_tok);
}

/* x += SwiGLU(norm(x)) for f->rows rows: the dense FFN block. */
void hearth_ffn_dense(hearth_fwd *f, const hearth_layer *L) {
    hearth_ctx *c = f->c;
    norm_block(f, c->xb, c->x, &L->ffn_norm, f->rows);
    swiglu_ffn(c, c->xo, &L->w_gate, &L->w_up, &L->w_down, c->xb, f->rows, c->hb, c->hb2, f,
               (int)(L - c->m->layers));
    residual_add(c, &L->ffn_post_norm, f->rows);
}

/* x += post_norm(down(gelu(gate in) * up in)) for f->rows rows of norm(x): the GeGLU FFN
 * block (Gemma). */
void hearth_ffn_geglu(hearth_fwd *f, const hearth_layer *L) {
    hearth_ctx *c = f->c;
    const int F = (int)L->w_gate.n_out, n = f->rows;
    norm_block(f, c->xb, c->x, &L->ffn_norm, n);
    const int l = (int)(L - c->m->layers);
    /* gate and up in one dispatch: xb quantized once, one barrier (as swiglu_ffn) */
    const tensor_mm gu[] = {mm_item(c->hb, &L->w_gate, c->xb, n),
                            mm_item(c->hb2, &L->w_up, c->xb, n)};
    matmul_many(c, gu, 2);
    lora(f, c->hb, l, LORA_GATE, c->xb, n);
    lora(f, c->hb2, l, LORA_UP, c->xb, n);
    for (int t = 0; t < n; t++) {
        float *g = c->hb + (size_t)t * F;
        const float *u = c->hb2 + (size_t)t * F;
        op_gelu(g, F); /* ggml's tanh GELU through its f16 table (ops.h) */
        for (int i = 0; i < F; i++)
            g[i] *= u[i];
    }
    matmul(c, c->xo, &L->w_down, c->hb, n);
    lora(f, c->xo, l, LORA_DOWN, c->hb, n);
    residual_add(c, &L->ffn_post_norm, n);
}

/* Routing of one token: softmax over the router's logits p (X of them) as ggml computes it (max
 * subtracted; op_expf_ggml for the first X & ~15 values and expf for the rest, its 16-wide loop
 * and tail; the sum in double; times (float)(1/sum)), then the k most probable experts, best
 * first (the lower index on a tie), with their probabilities as weights, divided by their sum
 * (in double, as ggml's sum_rows) when the model renormalizes. */
static void moe_route(float *p, int X, int k, bool norm, int32_t *sel, float *w) {
    float mx = p[0];
    for (int i = 1; i < X; i++)
        if (p[i] > mx) mx = p[i];
    double sum = 0.0;
    const int nv = X & ~15;
    for (int i = 0; i < X; i++) {
        p[i] = i < nv ? op_expf_ggml(p[i] - mx) : expf(p[i] - mx);
        sum += (double)p[i];
    }
    const float inv = (float)(1.0 / sum);
    for (int i = 0; i < X; i++)
        p[i] *= inv;
    bool taken[HEARTH_MAX_EXPERTS] = {0}; /* O(k X), whatever k */
    for (int j = 0; j < k; j++) {
        int best = -1;
        for (int i = 0; i < X; i++)
            if (!taken[i] && (best < 0 || p[i] > p[best])) best = i;
        taken[best] = true;
        sel[j] = best;
        w[j] = p[best];
    }
    if (norm) {
        double ws = 0.0;
        for (int j = 0; j < k; j++)
            ws += (double)w[j];
        const float fs = (float)ws;
        for (int j = 0; j < k; j++)
            w[j] /= fs;
    }
}

/* Top-k routing of one token (gpt-oss): the k largest router logits p (X of them), best first
 * (the lower index on a tie), weighted by a softmax over those k only. */
static void moe_route_topk_softmax(float *p, int X, int k, bool norm, int32_t *sel, float *w) {
    (void)norm;
    bool taken[HEARTH_MAX_EXPERTS] = {0};
    for (int j = 0; j < k; j++) {
        int best = -1;
        for (int i = 0; i < X; i++)
            if (!taken[i] && (best < 0 || p[i] > p[best])) best = i;
        taken[best] = true;
        sel[j] = best;
        w[j] = p[best];
    }
    const float mx = w[0];
    double sum = 0.0;
    for (int j = 0; j < k; j++) {
        w[j] = expf(w[j] - mx);
        sum += (double)w[j];
    }
    const float inv = (float)(1.0 / sum);
    for (int j = 0; j < k; j++)
        w[j] *= inv;
}

typedef void (*moe_router)(float *p, int X, int k, bool norm, int32_t *sel, float *w);
/* The experts' activation between their gate/up and down products: h = act(h, h2) over one row
 * of n values (n_ff_exp, already with the experts' gate/up biases when they have them). */
typedef void (*moe_act)(float *h, const float *h2, int n);

static void act_swiglu(float *h, const float *h2, int n) { op_swiglu(h, h2, n); }

/* gpt-oss's: both clamped (g <= 7, -7 <= u <= 7), h = (u + 1) * g * sigmoid(1.702 g); vectorized
 * in op_swiglu_oai (written out here with libm's expf it was ~5% of a one-thread gpt-oss-20b
 * decode step: perf) */
static void act_swiglu_oai(float *h, const float *h2, int n) { op_swiglu_oai(h, h2, n, 1.702f, 7.0f); }

/* Row e of a per-expert bias stack (ne = [n, n_expert]) as a vector; absent: NULL data. */
static hearth_weight expert_bias(const hearth_weight *b, int e) {
    hearth_weight r = *b;
    if (r.data) r.data = (const float *)b->data + (size_t)e * (size_t)b->n_in;
    r.n_out = 1;
    return r;
}

/* The chosen experts' SwiGLU for slots [s0, s1) of moe_list (whole experts, at most n_batch
 * slots): each slot's row of xb gathered into moe_in, grouped by expert (an expert with one
 * row reads it in place); one matmul_many for every expert's gate and up products, the
 * activation, one for every down product; each slot's output row into moe_y. Expert e's slots
 * start at first[e]. Biases (gpt-oss) where the layer has them. */
static void moe_group(hearth_ctx *c, const hearth_layer *L, moe_act act, int s0, int s1,
                      const int32_t *first, int e0, int e1) {
    const hearth_hparams *hp = &c->m->hp;
    const int E = hp->n_embd, k = hp->n_expert_used, F = (int)L->gate_exps.n_out;
    tensor_mm mm[TENSOR_MM_MANY_MAX];
    hearth_weight w[TENSOR_MM_MANY_MAX];
    int n = 0;
    for (int e = e0; e < e1; e++) {
        const int r0 = first[e] - s0, cnt = first[e + 1] - first[e];
        if (cnt == 0) continue;
        /* an expert with one row reads it where it is: in a decode step every chosen expert
         * has the same row, so matmul_many quantizes it once for all k, not k times */
        const float *in = c->xb + (size_t)(c->moe_list[first[e]] / k) * E;
        if (cnt > 1) {
            for (int i = first[e]; i < first[e + 1]; i++)
                memcpy(c->moe_in + (size_t)(i - s0) * E, c->xb + (size_t)(c->moe_list[i] / k) * E,
                       (size_t)E * sizeof(float));
            in = c->moe_in + (size_t)r0 * E;
        }
        w[n] = hearth_weight_mat(&L->gate_exps, e);
        mm[n] = mm_item(c->hb + (size_t)r0 * F, &w[n], in, cnt), n++;
        w[n] = hearth_weight_mat(&L->up_exps, e);
        mm[n] = mm_item(c->hb2 + (size_t)r0 * F, &w[n], in, cnt), n++;
    }
    if (n == 0) return; /* the caller passes slots; this tells the compiler mm is set */
    matmul_many(c, mm, n);
    for (int e = e0; e < e1; e++) {
        const int r0 = first[e] - s0, cnt = first[e + 1] - first[e];
        const hearth_weight bg = expert_bias(&L->gate_exps_b, e),
                            bu = expert_bias(&L->up_exps_b, e);
        add_bias(c->hb + (size_t)r0 * F, &bg, cnt);
        add_bias(c->hb2 + (size_t)r0 * F, &bu, cnt);
    }
    for (int i = 0; i < s1 - s0; i++) /* row by row, as ggml (a row's tail has its own path) */
        act(c->hb + (size_t)i * F, c->hb2 + (size_t)i * F, F);
    n = 0;
    for (int e = e0; e < e1; e++) {
        const int r0 = first[e] - s0, cnt = first[e + 1] - first[e];
        if (cnt == 0) continue;
        w[n] = hearth_weight_mat(&L->down_exps, e);
        mm[n] = mm_item(c->moe_out + (size_t)r0 * E, &w[n], c->hb + (size_t)r0 * F, cnt), n++;
    }
    matmul_many(c, mm, n);
    for (int e = e0; e < e1; e++) {
        const int r0 = first[e] - s0, cnt = first[e + 1] - first[e];
        const hearth_weight bd = expert_bias(&L->down_exps_b, e);
        add_bias(c->moe_out + (size_t)r0 * E, &bd, cnt);
    }
    for (int i = s0; i < s1; i++)
        memcpy(c->moe_y + (size_t)c->moe_list[i] * E, c->moe_out + (size_t)(i - s0) * E,
               (size_t)E * sizeof(float));
}

/* xo = the routed experts' weighted outputs for f->rows rows of xb.
 * Expert-parallel: every row is routed first; then each expert that any row chose runs once
 * over all of its rows, gathered into one contiguous batch (so prompt chunks use the tiled
 * matmul kernels and each expert's weights are read once per batch; a decode step reads only
 * the chosen experts). The experts run in groups (moe_group: as many whole experts as fit
 * n_batch rows and one matmul_many), so a decode step is two pool dispatches for all k experts,
 * not 3 k. Output rows go to the (row, choice) slots, and each row sums its slots' weighted
 * outputs in its own best-first order, so a row's result does not depend on which other rows
 * share the batch. */
static void moe_experts(hearth_fwd *f, const hearth_layer *L, moe_router route, moe_act act) {
    hearth_ctx *c = f->c;
    const hearth_hparams *hp = &c->m->hp;
    const int rows = f->rows, E = hp->n_embd, X = hp->n_expert, k = hp->n_expert_used;

    matmul(c, c->moe_logits, &L->gate_inp, c->xb, rows);
    add_bias(c->moe_logits, &L->gate_inp_b, rows);
    /* a counting sort of the slots (row * k + j) by expert into moe_list: cur[e] counts, then
     * walks, expert e's slots; afterwards moe_count[e] is expert e's first slot and moe_count[X]
     * the end (cur is moe_count shifted by one) */
    memset(c->moe_count, 0, (size_t)(X + 2) * sizeof *c->moe_count);
    int32_t *cur = c->moe_count + 1;
    for (int t = 0; t < rows; t++) {
        int32_t *sel = c->moe_sel + (size_t)t * k;
        route(c->moe_logits + (size_t)t * X, X, k, hp->moe_norm_w, sel, c->moe_w + (size_t)t * k);
        for (int j = 0; j < k; j++)
            cur[sel[j] + 1]++;
    }
    for (int e = 0; e < X; e++)
        cur[e + 1] += cur[e];
    for (int t = 0; t < rows; t++)
        for (int j = 0; j < k; j++)
            c->moe_list[cur[c->moe_sel[(size_t)t * k + j]]++] = t * k + j;
    const int32_t *first = c->moe_count;
    const int cap = c->p.n_batch, max_exp = TENSOR_MM_MANY_MAX / 2;
    for (int e0 = 0; e0 < X;) {
        int e1 = e0, used = 0;
        while (e1 < X && (e1 == e0 || (first[e1 + 1] - first[e0] <= cap && used < max_exp))) {
            used += first[e1 + 1] > first[e1];
            e1++;
        }
        if (first[e1] > first[e0]) moe_group(c, L, act, first[e0], first[e1], first, e0, e1);
        e0 = e1;
    }
    /* each row: its experts' outputs times their weights, summed best first (ggml's mul, then
     * adds in that order) */
    for (int t = 0; t < rows; t++) {
        float *o = c->xo + (size_t)t * E;
        const float *w = c->moe_w + (size_t)t * k;
        const float *y = c->moe_y + (size_t)t * k * E;
        for (int i = 0; i < E; i++)
            o[i] = y[i] * w[0];
        for (int j = 1; j < k; j++)
            for (int i = 0; i < E; i++) {
                const float p = y[(size_t)j * E + i] * w[j];
                o[i] += p;
            }
    }
}

/* x += MoE(norm(x)) for f->rows rows: the mixture-of-experts FFN block (softmax over all
 * router logits, top-k, SwiGLU experts). With a shared expert (Qwen2-MoE) its output, scaled
 * by sigmoid(gate_inp_shexp . x), is added. */
void hearth_ffn_moe(hearth_fwd *f, const hearth_layer *L) {
    hearth_ctx *c = f->c;
    const int rows = f->rows, E = c->m->hp.n_embd;
    norm_block(f, c->xb, c->x, &L->ffn_norm, rows);
    moe_experts(f, L, moe_route, act_swiglu);
    if (L->gate_shexp.data) {
        /* shared expert: gate = sigmoid(s), computed as llama.cpp does, silu(s) / s */
        swiglu_ffn(c, c->moe_out, &L->gate_shexp, &L->up_shexp, &L->down_shexp, c->xb, rows, c->hb,
                   c->hb2, NULL, 0);
        matmul(c, c->moe_gate, &L->gate_inp_shexp, c->xb, rows);
        for (int t = 0; t < rows; t++) {
            const float s = c->moe_gate[t];
            const float g = s != 0.0f ? s / (1.0f + expf(-s)) / s : 0.5f;
            float *o = c->xo + (size_t)t * E;
            const float *y = c->moe_out + (size_t)t * E;
            for (int i = 0; i < E; i++) {
                const float p = y[i] * g;
                o[i] += p;
            }
        }
    }
    add_rows(c->x, c->xo, E, rows);
}

/* x += MoE(norm(x)) for f->rows rows, gpt-oss's way: router with a bias, top-k logits then a
 * softmax over those k, experts with biases and the clamped SwiGLU (act_swiglu_oai). */
void hearth_ffn_moe_oai(hearth_fwd *f, const hearth_layer *L) {
    hearth_ctx *c = f->c;
    norm_block(f, c->xb, c->x, &L->ffn_norm, f->rows);
    moe_experts(f, L, moe_route_topk_softmax, act_swiglu_oai);
    add_rows(c->x, c->xo, c->m->hp.n_embd, f->rows);
}

/* ---- Layers: the blocks composed per architecture ---- */

/* Pre-norm decoder layer (Llama, Qwen2/3 and their MoE variants): x += attn(norm(x)), then
 * x += ffn(norm(x)) with the layer's FFN block. */
void hearth_layer_prenorm(hearth_fwd *f, const hearth_layer *L, int l) {
    attn_block(f, L, l);
    if (f->rows == 0) return;
    L->ffn(f, L);
}

/* ---- The pass ---- */

/* cos/sin of one position's angles with RoPE table r (ggml's computation for its scaling). */
static void rope_angles(const hearth_rope *r, float *cs, int32_t pos, int n_rot) {
    if (r->yarn)
        op_rope_angles_yarn(cs, pos, r->theta_scale, r->div, n_rot, r->freq_scale, r->corr0,
                            r->corr1, r->mscale);
    else if (r->freq_scale != 1.0f || r->mscale != 1.0f)
        op_rope_angles_linear(cs, pos, r->theta_scale, r->div, n_rot, r->freq_scale, r->mscale);
    else
        op_rope_angles(cs, pos, r->theta_scale, r->div, n_rot);
}

/* The RoPE table of a context: Phi-3 LongRoPE's long factors when the context has more cells
 * than the original context length (llama.cpp's choice, made once per context; hearth's cells
 * are shared, so one sequence can use them all), otherwise the model's table. */
static const hearth_rope *ctx_rope(const hearth_ctx *c) {
    const hearth_model *m = c->m;
    return m->rope_long.div && c->p.n_ctx > m->rope_orig_ctx ? &m->rope_long : &m->rope;
}

void hearth_forward(hearth_ctx *c, const hearth_batch *b) {
    const hearth_model *m = c->m;
    const hearth_hparams *hp = &m->hp;
    const int n = b->n_tokens, E = hp->n_embd, n_rot = hp->n_rot;
    const hearth_rope *rope = ctx_rope(c);

    for (int t = 0; t < n; t++) {
        embed(m, c->x + (size_t)t * E, b->token[t]);
        if (hp->embd_scale != 0.0f)
            for (int i = 0; i < E; i++)
                c->x[(size_t)t * E + i] *= hp->embd_scale;
        rope_angles(rope, c->rope_cs + (size_t)t * n_rot, b->pos[t], n_rot);
        if (c->rope_cs_swa)
            rope_angles(&m->rope_swa, c->rope_cs_swa + (size_t)t * n_rot, b->pos[t], n_rot);
    }

    hearth_fwd f = {.c = c, .b = b, .n = n, .rows = n, .row_of = NULL};
    for (int l = 0; l < hp->n_layer && f.rows > 0; l++)
        m->arch->layer(&f, &m->layers[l], l);

    /* logits: after the last layer, row r of x is the r-th entry that asked */
    int n_out = 0;
    for (int t = 0; t < n; t++)
        n_out += b->logits[t];
    norm_block(&f, c->out_x, c->x, &m->out_norm, n_out);
    if (n_out) matmul(c, c->logits, &m->output, c->out_x, n_out);
    if (n_out && hp->final_softcap != 0.0f)
        softcap(c->logits, (size_t)n_out * (size_t)hp->n_vocab, hp->final_softcap);
}
