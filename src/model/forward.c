/* forward.c — the transformer forward pass over one batch, written as blocks that each
 * architecture composes (llama2.c's shape, one function per block):
 *
 *   embed -> for each layer: the architecture's layer function (arch.c), which for every
 *   architecture today is layer_prenorm:
 *       x += attention(rmsnorm(x))       attn_block: Q,K,V (+bias) -> (QK norm) -> RoPE ->
 *                                        store K,V -> attention -> output projection
 *       x += ffn(rmsnorm(x))             the layer's FFN block: dense SwiGLU (ffn_dense)
 *   -> final rmsnorm -> logits.
 *
 * A new architecture adds a layer function built from these blocks (post-norms, parallel
 * attention + FFN, ...) and names it in its arch.c entry; an FFN variant is one more block.
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
    matmul(c, c->q, &L->wq, c->xb, n);
    matmul(c, c->k, &L->wk, c->xb, n);
    matmul(c, c->v, &L->wv, c->xb, n);
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
        const float *cs = c->rope_cs + (size_t)t * n_rot;
        op_rope(q, hp->n_head, hdk, cs, n_rot, neox);
        op_rope(k, hp->n_head_kv, hdk, cs, n_rot, neox);

        /* into the cache cell hearth_kv_place chose for this token */
        size_t cell = (size_t)c->cell_of[t];
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
    add_rows(c->x, c->xo, c->m->hp.n_embd, f->rows);
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
 * layers (and, with their weights, of experts). h, h2: (n_tok, gate->n_out) scratch. */
static void swiglu_ffn(hearth_ctx *c, float *out, const hearth_weight *gate,
                       const hearth_weight *up, const hearth_weight *down, const float *in,
                       int n_tok, float *h, float *h2) {
    const int F = (int)gate->n_out;
    matmul(c, h, gate, in, n_tok);
    matmul(c, h2, up, in, n_tok);
    for (int t = 0; t < n_tok; t++)
        op_swiglu(h + (size_t)t * F, h2 + (size_t)t * F, F);
    matmul(c, out, down, h, n_tok);
}

/* x += SwiGLU(norm(x)) for f->rows rows: the dense FFN block. */
void hearth_ffn_dense(hearth_fwd *f, const hearth_layer *L) {
    hearth_ctx *c = f->c;
    norm_block(f, c->xb, c->x, &L->ffn_norm, f->rows);
    swiglu_ffn(c, c->xo, &L->w_gate, &L->w_up, &L->w_down, c->xb, f->rows, c->hb, c->hb2);
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

void hearth_forward(hearth_ctx *c, const hearth_batch *b) {
    const hearth_model *m = c->m;
    const hearth_hparams *hp = &m->hp;
    const int n = b->n_tokens, E = hp->n_embd, n_rot = hp->n_rot;

    for (int t = 0; t < n; t++) {
        embed(m, c->x + (size_t)t * E, b->token[t]);
        op_rope_angles(c->rope_cs + (size_t)t * n_rot, b->pos[t], m->rope_theta_scale,
                       m->rope_div, n_rot);
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
}
