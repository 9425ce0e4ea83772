/* forward.c — the transformer forward pass over one batch, top to bottom:
 *   embed -> for each layer: rmsnorm -> Q,K,V (+bias) -> (QK norm) -> RoPE -> store K,V ->
 *   attention -> output projection -> residual -> rmsnorm -> SwiGLU FFN -> residual
 *   -> final rmsnorm -> logits. The last layer runs attention and FFN only for the entries that
 *   ask for logits (all entries' K and V are stored).
 * Matmuls process all batch rows at once (each weight read once per batch); attention
 * (attention.c) runs over the cells each sequence sees, with per-thread scratch linear in the
 * context (nothing grows with its square). */
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

/* ---- The pass ---- */

void hearth_forward(hearth_ctx *c, const hearth_batch *b) {
    const hearth_model *m = c->m;
    const hearth_hparams *hp = &m->hp;
    const int n = b->n_tokens, E = hp->n_embd, F = hp->n_ff;
    const int hdk = hp->head_dim_k, hdv = hp->head_dim_v, n_rot = hp->n_rot;
    const int nq = hp->n_head * hdk, nk = hp->n_head_kv * hdk, nv = hp->n_head_kv * hdv;
    const int neox = m->arch->rope_neox;

    for (int t = 0; t < n; t++) {
        embed(m, c->x + (size_t)t * E, b->token[t]);
        op_rope_angles(c->rope_cs + (size_t)t * n_rot, b->pos[t], m->rope_theta_scale,
                       m->rope_div, n_rot);
    }

    for (int l = 0; l < hp->n_layer; l++) {
        const hearth_layer *L = &m->layers[l];

        /* attention: norm -> Q, K, V */
        for (int t = 0; t < n; t++)
            op_rmsnorm(c->xb + (size_t)t * E, c->x + (size_t)t * E, L->attn_norm.data, E, hp->eps);
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

        /* The last layer's output matters only for the rows that asked for logits (every row's
         * K and V are stored above): move those rows to the front and compute only them. */
        int rows = n;
        const int32_t *row_of = NULL;
        if (l == hp->n_layer - 1) {
            rows = 0;
            for (int t = 0; t < n; t++) {
                if (!b->logits[t]) continue;
                if (rows != t) {
                    memmove(c->q + (size_t)rows * nq, c->q + (size_t)t * nq,
                            (size_t)nq * sizeof(float));
                    memmove(c->x + (size_t)rows * E, c->x + (size_t)t * E,
                            (size_t)E * sizeof(float));
                }
                c->out_rows[rows++] = t;
            }
            row_of = c->out_rows;
            if (rows == 0) break;
        }

        hearth_attention(c, b, l, rows, row_of);

        matmul(c, c->xo, &L->wo, c->xb, rows);
        for (int t = 0; t < rows; t++)
            op_add(c->x + (size_t)t * E, c->xo + (size_t)t * E, E);

        /* feed-forward: norm -> SwiGLU -> down */
        for (int t = 0; t < rows; t++)
            op_rmsnorm(c->xb + (size_t)t * E, c->x + (size_t)t * E, L->ffn_norm.data, E, hp->eps);
        matmul(c, c->hb, &L->w_gate, c->xb, rows);
        matmul(c, c->hb2, &L->w_up, c->xb, rows);
        for (int t = 0; t < rows; t++)
            op_swiglu(c->hb + (size_t)t * F, c->hb2 + (size_t)t * F, F);
        matmul(c, c->xo, &L->w_down, c->hb, rows);
        for (int t = 0; t < rows; t++)
            op_add(c->x + (size_t)t * E, c->xo + (size_t)t * E, E);
    }

    /* logits: after the last layer, row r of x is the r-th entry that asked */
    int n_out = 0;
    for (int t = 0; t < n; t++)
        n_out += b->logits[t];
    for (int r = 0; r < n_out; r++)
        op_rmsnorm(c->out_x + (size_t)r * E, c->x + (size_t)r * E, m->out_norm.data, E, hp->eps);
    if (n_out) matmul(c, c->logits, &m->output, c->out_x, n_out);
}
