/* encoder.c — BERT-family encoders: weights, the bidirectional forward pass, pooling, and the
 * embedding API of model/embed.h (which also drives decoder embedding models through
 * hearth_decode).
 *
 * The encoder pass, per layer (post-norm, as BERT and nomic-bert are trained):
 *   x = LN(tok_embd[t] + token_types[0] + pos_embd[p])          (bert; nomic: no pos_embd)
 *   q, k, v = W x + b          (nomic: one fused QKV matrix, then RoPE on q and k)
 *   a = softmax(q k^T / sqrt(d)) v   over the tokens of the same sequence only, both directions
 *   x = LN(x + Wo a + bo)
 *   x = LN(x + down(gelu(up x + b) ) + b)                        (nomic: down(silu(gate x) * up x))
 * then pooling (mean / first / last token of each sequence) and L2 normalisation, or for a
 * reranker the classification head on the first token: cls_out(tanh(cls x + b)) + b.
 * The GGUF names and hyperparameter keys are those llama.cpp's converter writes. Many
 * sequences go through one pass (every weight read once per pass); attention is exact and per
 * sequence, so nothing grows with the square of the batch. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "model/embed.h"
#include "model/model_internal.h"
#include "tensor/matmul.h"
#include "tensor/ops.h"

typedef struct {
    hearth_weight wq, wk, wv, bq, bk, bv; /* bert */
    hearth_weight wqkv;                   /* nomic: (n_embd + 2 * n_kv, n_embd) */
    hearth_weight wo, bo;
    hearth_weight attn_ln, attn_ln_b; /* attn_output_norm */
    hearth_weight up, up_b, gate, down, down_b;
    hearth_weight out_ln, out_ln_b; /* layer_output_norm */
} enc_layer;

struct hearth_encoder {
    hearth_weight type_embd; /* (n_types, n_embd); row 0 is added ("sentence A") */
    hearth_weight pos_embd;  /* bert: (n_ctx_train, n_embd) */
    hearth_weight tok_ln, tok_ln_b;
    hearth_weight cls, cls_b, cls_out, cls_out_b; /* reranker head (optional) */
    enc_layer *layers;
    hearth_pooling pooling;
    int32_t n_cls_out; /* rows of cls_out: scores per sequence */
};

/* ---- Pooling metadata (any architecture) ---- */

static hearth_pooling read_pooling(const hearth_model *m, hearth_pooling def) {
    char key[128];
    snprintf(key, sizeof key, "%s.pooling_type", m->arch->name);
    int64_t v;
    he_error e;
    if (gguf_find_i64(m->file, key, &v, &e) != 1) return def;
    if (v < HEARTH_POOL_NONE || v > HEARTH_POOL_RANK) return def; /* unknown: as absent */
    return (hearth_pooling)v;
}

const char *hearth_pooling_name(hearth_pooling p) {
    static const char *const names[] = {"none", "mean", "cls", "last", "rank"};
    return (unsigned)p <= HEARTH_POOL_RANK ? names[p] : "?";
}

hearth_pooling hearth_model_pooling(const hearth_model *m) {
    if (m->enc) return m->enc->pooling;
    return read_pooling(m, HEARTH_POOL_NONE);
}

bool hearth_model_is_embedder(const hearth_model *m) {
    hearth_pooling p = hearth_model_pooling(m);
    return p == HEARTH_POOL_MEAN || p == HEARTH_POOL_CLS || p == HEARTH_POOL_LAST;
}

bool hearth_model_is_reranker(const hearth_model *m) {
    if (m->enc) return m->enc->pooling == HEARTH_POOL_RANK;
    /* a decoder reranker (Qwen3-Reranker as llama.cpp converts it): pooling rank and the
     * label rows of the output projection as cls.output.weight */
    return read_pooling(m, HEARTH_POOL_NONE) == HEARTH_POOL_RANK &&
           gguf_tensor_find(m->file, "cls.output.weight");
}

int32_t hearth_model_n_embd_out(const hearth_model *m) {
    if (!hearth_model_is_reranker(m)) return m->hp.n_embd;
    return m->enc ? m->enc->n_cls_out : 1;
}

int32_t hearth_model_max_seq_tokens(const hearth_model *m) { return m->hp.n_ctx_train; }

int32_t hearth_model_sep_token(const hearth_model *m) {
    if (!m->vocab) return -1;
    int64_t v;
    he_error e;
    if (gguf_find_i64(m->file, "tokenizer.ggml.seperator_token_id", &v, &e) == 1 && v >= 0 &&
        v < tok_n_vocab(m->vocab))
        return (int32_t)v;
    return tok_eos(m->vocab);
}

void hearth_l2_normalize(float *v, int32_t n) {
    double ss = 0.0;
    for (int32_t i = 0; i < n; i++)
        ss += (double)v[i] * (double)v[i];
    if (ss <= 0.0) return;
    float s = (float)(1.0 / sqrt(ss));
    for (int32_t i = 0; i < n; i++)
        v[i] *= s;
}

/* ---- Binding ---- */

typedef enum { W_VEC, W_MAT, W_EMB } wkind;

typedef struct {
    hearth_model *m;
    he_error *err;
    char missing[512];
    int n_missing;
} enc_binder;

static void missing(enc_binder *b, const char *name) {
    size_t len = strlen(b->missing);
    if (b->n_missing++ < 8)
        snprintf(b->missing + len, sizeof b->missing - len, "%s%s", len ? ", " : "", name);
}

/* name as an (n_out, n_in) matrix / (n_in,) vector; n_out < 0: any row count (read into w). */
static int bindw(enc_binder *b, hearth_weight *w, const char *name, wkind kind, int64_t n_in,
                 int64_t n_out, bool required) {
    memset(w, 0, sizeof *w);
    const gguf_tensor *t = gguf_tensor_find(b->m->file, name);
    if (!t) {
        if (required) missing(b, name);
        return 0;
    }
    int64_t rows = n_out < 0 ? t->ne[1] : n_out;
    if (t->ne[0] != n_in || t->ne[1] != rows || t->ne[2] != 1 || t->ne[3] != 1 || rows < 1)
        return he_fail(b->err, HE_FORMAT,
                       "model: tensor '%s' has shape [%lld, %lld, %lld, %lld], expected [%lld, "
                       "%lld]",
                       name, (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2],
                       (long long)t->ne[3], (long long)n_in, (long long)rows);
    const tensor_traits *tr = tensor_traits_of(t->type);
    const char *tname = tr ? tr->name : "unknown";
    if ((uintptr_t)t->data % 4 != 0)
        return he_fail(b->err, HE_FORMAT, "model: tensor '%s' data is not 4-byte aligned", name);
    if (kind == W_VEC && t->type != TENSOR_TYPE_F32)
        return he_fail(b->err, HE_UNSUPPORTED, "model: tensor '%s' has type %s, expected f32", name,
                       tname);
    if (kind == W_MAT && !tensor_matmul_supported((tensor_type)t->type))
        return he_fail(b->err, HE_UNSUPPORTED, "model: tensor '%s': no matmul kernel for type %s",
                       name, tname);
    if (kind == W_EMB && t->type != TENSOR_TYPE_F32 && !(tr && tr->to_float))
        return he_fail(b->err, HE_UNSUPPORTED, "model: tensor '%s': cannot dequantize type %s",
                       name, tname);
    w->data = t->data;
    w->type = (tensor_type)t->type;
    w->n_in = n_in;
    w->n_out = rows;
    return 0;
}

static int read_i(hearth_model *m, const char *key, int64_t def, int64_t lo, int64_t hi,
                  int32_t *out, he_error *err) {
    char full[128];
    snprintf(full, sizeof full, "%s.%s", m->arch->name, key);
    int64_t v;
    int rc = gguf_find_i64(m->file, full, &v, err);
    if (rc < 0) return -1;
    if (rc == 0) {
        if (def < 0) return he_fail(err, HE_FORMAT, "model: missing metadata key '%s'", full);
        v = def;
    }
    if (v < lo || v > hi)
        return he_fail(err, HE_FORMAT, "model: metadata '%s' = %lld is out of range [%lld, %lld]",
                       full, (long long)v, (long long)lo, (long long)hi);
    *out = (int32_t)v;
    return 0;
}

static int read_f(hearth_model *m, const char *key, double def, double lo, double hi, float *out,
                  he_error *err) {
    char full[128];
    snprintf(full, sizeof full, "%s.%s", m->arch->name, key);
    double v;
    int rc = gguf_find_f64(m->file, full, &v, err);
    if (rc < 0) return -1;
    if (rc == 0) {
        if (isnan(def)) return he_fail(err, HE_FORMAT, "model: missing metadata key '%s'", full);
        v = def;
    }
    if (!(v >= lo && v <= hi))
        return he_fail(err, HE_FORMAT, "model: metadata '%s' = %g is out of range [%g, %g]", full,
                       v, lo, hi);
    *out = (float)v;
    return 0;
}

int hearth_encoder_bind(hearth_model *m, he_error *err) {
    hearth_hparams *hp = &m->hp;
    const bool nomic = m->arch->encoder == HEARTH_ENC_NOMIC;
    if (read_i(m, "embedding_length", -1, 1, 65536, &hp->n_embd, err) ||
        read_i(m, "block_count", -1, 1, HEARTH_MAX_LAYERS, &hp->n_layer, err) ||
        read_i(m, "feed_forward_length", -1, 1, 1 << 20, &hp->n_ff, err) ||
        read_i(m, "attention.head_count", -1, 1, 1024, &hp->n_head, err) ||
        read_i(m, "attention.head_count_kv", hp->n_head, 1, hp->n_head, &hp->n_head_kv, err) ||
        read_i(m, "context_length", 512, 1, 1 << 20, &hp->n_ctx_train, err) ||
        read_f(m, "attention.layer_norm_epsilon", (double)NAN, 1e-15, 1.0, &hp->eps, err) ||
        read_f(m, "rope.freq_base", 10000.0, 1e-3, 1e12, &hp->rope_base, err))
        return -1;
    if (hp->n_embd % hp->n_head || hp->n_head % hp->n_head_kv)
        return he_fail(err, HE_FORMAT,
                       "model: embedding_length %d, head_count %d and head_count_kv %d do not "
                       "divide evenly",
                       hp->n_embd, hp->n_head, hp->n_head_kv);
    hp->head_dim_k = hp->head_dim_v = hp->n_embd / hp->n_head;
    if (read_i(m, "rope.dimension_count", hp->head_dim_k, 2, hp->head_dim_k, &hp->n_rot, err))
        return -1;
    if (hp->n_rot % 2)
        return he_fail(err, HE_FORMAT, "model: rope.dimension_count %d must be even", hp->n_rot);
    int32_t causal = 0;
    {
        char key[128];
        snprintf(key, sizeof key, "%s.attention.causal", m->arch->name);
        int64_t v;
        if (gguf_find_i64(m->file, key, &v, err) == 1) causal = v != 0;
    }
    if (causal)
        return he_fail(err, HE_UNSUPPORTED, "model: causal %s encoders are not supported",
                       m->arch->name);

    struct hearth_encoder *e = xcalloc(1, sizeof *e);
    m->enc = e;
    e->pooling = read_pooling(m, HEARTH_POOL_MEAN);
    if (e->pooling == HEARTH_POOL_NONE)
        return he_fail(err, HE_UNSUPPORTED,
                       "model: pooling_type none (per-token embeddings) is not supported");

    enc_binder b = {.m = m, .err = err};
    const int64_t E = hp->n_embd, nkv = (int64_t)hp->n_head_kv * hp->head_dim_k, F = hp->n_ff;
    const gguf_tensor *te = gguf_tensor_find(m->file, "token_embd.weight");
    if (te) {
        if (te->ne[1] < 1 || te->ne[1] > (1 << 24))
            return he_fail(err, HE_FORMAT, "model: token_embd.weight has %lld rows",
                           (long long)te->ne[1]);
        hp->n_vocab = (int32_t)te->ne[1];
        if (bindw(&b, &m->tok_embd, "token_embd.weight", W_EMB, E, hp->n_vocab, true)) return -1;
    } else {
        missing(&b, "token_embd.weight");
    }
    if (bindw(&b, &e->type_embd, "token_types.weight", W_EMB, E, -1, true) ||
        bindw(&b, &e->tok_ln, "token_embd_norm.weight", W_VEC, E, 1, true) ||
        bindw(&b, &e->tok_ln_b, "token_embd_norm.bias", W_VEC, E, 1, true))
        return -1;
    if (!nomic && bindw(&b, &e->pos_embd, "position_embd.weight", W_EMB, E, -1, true)) return -1;
    if (e->pos_embd.data && e->pos_embd.n_out < hp->n_ctx_train)
        hp->n_ctx_train = (int32_t)e->pos_embd.n_out; /* never index past the table */

    if (bindw(&b, &e->cls, "cls.weight", W_MAT, E, E, false) ||
        bindw(&b, &e->cls_b, "cls.bias", W_VEC, E, 1, false) ||
        bindw(&b, &e->cls_out, "cls.output.weight", W_MAT, E, -1, false))
        return -1;
    if (e->cls_out.data) {
        if (e->cls_out.n_out > 64)
            return he_fail(err, HE_FORMAT, "model: cls.output.weight has %lld rows (at most 64)",
                           (long long)e->cls_out.n_out);
        e->n_cls_out = (int32_t)e->cls_out.n_out;
        if (bindw(&b, &e->cls_out_b, "cls.output.bias", W_VEC, e->n_cls_out, 1, true)) return -1;
    }
    if (e->pooling == HEARTH_POOL_RANK) {
        if (!e->cls.data) missing(&b, "cls.weight");
        if (!e->cls_b.data) missing(&b, "cls.bias");
        if (!e->cls_out.data) e->n_cls_out = 1; /* some rerankers: the tanh output is the score */
        if (!e->cls_out.data && e->cls.data && e->cls.n_out != 1)
            return he_fail(err, HE_UNSUPPORTED,
                           "model: a rank head without cls.output must have one output");
    }

    e->layers = xcalloc((size_t)hp->n_layer, sizeof *e->layers);
    for (int l = 0; l < hp->n_layer; l++) {
        enc_layer *L = &e->layers[l];
        char n[96];
#define B(field, suffix, kind, in, out, req)                                                       \
    do {                                                                                           \
        snprintf(n, sizeof n, "blk.%d." suffix, l);                                                \
        if (bindw(&b, &L->field, n, kind, in, out, req)) return -1;                                \
    } while (0)
        if (nomic) {
            B(wqkv, "attn_qkv.weight", W_MAT, E, E + 2 * nkv, true);
            B(gate, "ffn_gate.weight", W_MAT, E, F, true);
        } else {
            B(wq, "attn_q.weight", W_MAT, E, E, true);
            B(bq, "attn_q.bias", W_VEC, E, 1, true);
            B(wk, "attn_k.weight", W_MAT, E, nkv, true);
            B(bk, "attn_k.bias", W_VEC, nkv, 1, true);
            B(wv, "attn_v.weight", W_MAT, E, nkv, true);
            B(bv, "attn_v.bias", W_VEC, nkv, 1, true);
            B(bo, "attn_output.bias", W_VEC, E, 1, true);
            B(up_b, "ffn_up.bias", W_VEC, F, 1, true);
            B(down_b, "ffn_down.bias", W_VEC, E, 1, true);
        }
        B(wo, "attn_output.weight", W_MAT, E, E, true);
        B(attn_ln, "attn_output_norm.weight", W_VEC, E, 1, true);
        B(attn_ln_b, "attn_output_norm.bias", W_VEC, E, 1, true);
        B(up, "ffn_up.weight", W_MAT, E, F, true);
        B(down, "ffn_down.weight", W_MAT, F, E, true);
        B(out_ln, "layer_output_norm.weight", W_VEC, E, 1, true);
        B(out_ln_b, "layer_output_norm.bias", W_VEC, E, 1, true);
#undef B
    }
    if (b.n_missing)
        return he_fail(err, HE_FORMAT, "model: %s model is missing %d tensor%s: %s%s",
                       m->arch->name, b.n_missing, b.n_missing == 1 ? "" : "s", b.missing,
                       b.n_missing > 8 ? ", ..." : "");

    /* RoPE (nomic): plain frequencies, ggml's angle recurrence (op_rope_angles) */
    int half = hp->n_rot / 2;
    m->rope_div = xmalloc((size_t)half * sizeof(float));
    for (int i = 0; i < half; i++)
        m->rope_div[i] = 1.0f;
    m->rope_theta_scale = powf(hp->rope_base, -2.0f / (float)hp->n_rot);
    return 0;
}

void hearth_encoder_free(struct hearth_encoder *e) {
    if (!e) return;
    free(e->layers);
    free(e);
}

/* ---- The embedder ---- */

struct hearth_embedder {
    const hearth_model *m;
    he_pool *pool;
    bool own_pool;
    int32_t n_batch;
    /* encoder scratch, for n_batch tokens */
    float *x, *xb, *q, *k, *v, *qkv, *att, *hb, *hb2, *rope_cs, *scores;
    float *rows2; /* (2, n_embd): the token-type and position rows being added */
    void *act;
    /* decoder embedding models: a one-sequence context */
    hearth_ctx *ctx;
    hearth_batch batch;
    /* a decoder reranker: the label rows (n_labels, n_embd) of cls.output.weight, as floats */
    float *label_w;
    int32_t n_labels;
};

/* A decoder reranker's cls.output.weight: (n_embd, n_labels) rows, any type that dequantizes
 * (llama.cpp's converter copies them from the output projection: Qwen3-Reranker's "yes" and
 * "no" rows). */
static int bind_label_rows(hearth_embedder *e, he_error *err) {
    const gguf_tensor *t = gguf_tensor_find(e->m->file, "cls.output.weight");
    const int64_t E = e->m->hp.n_embd;
    if (!t || t->ne[0] != E || t->ne[1] < 1 || t->ne[1] > 16 || t->ne[2] != 1 || t->ne[3] != 1)
        return he_fail(err, HE_FORMAT,
                       "model: cls.output.weight must be [%lld, 1..16] (the label rows)",
                       (long long)E);
    const tensor_traits *tr = tensor_traits_of(t->type);
    if (t->type != TENSOR_TYPE_F32 && !(tr && tr->to_float))
        return he_fail(err, HE_UNSUPPORTED, "model: cls.output.weight: cannot read type %s",
                       tr ? tr->name : "unknown");
    e->n_labels = (int32_t)t->ne[1];
    e->label_w = xmalloc((size_t)e->n_labels * (size_t)E * sizeof(float));
    const size_t row = tensor_row_size((tensor_type)t->type, E);
    for (int32_t r = 0; r < e->n_labels; r++) {
        const uint8_t *src = (const uint8_t *)t->data + row * (size_t)r;
        float *dst = e->label_w + (size_t)r * (size_t)E;
        if (t->type == TENSOR_TYPE_F32)
            memcpy(dst, src, (size_t)E * sizeof(float));
        else
            tr->to_float(src, dst, E);
    }
    return 0;
}

static size_t scratch_of(const hearth_weight *w, int n_tok) {
    return w->data ? tensor_matmul_scratch(w->type, w->n_in, n_tok) : 0;
}

hearth_embedder *hearth_embedder_new(const hearth_model *m, he_pool *pool, int32_t n_batch,
                                     he_error *err) {
    if (!hearth_model_is_embedder(m) && !hearth_model_is_reranker(m)) {
        he_fail(err, HE_INVALID,
                "embed: the model (%s, pooling %s) is not an embedding or reranking model",
                m->arch->name, hearth_pooling_name(hearth_model_pooling(m)));
        return NULL;
    }
    if (n_batch == 0) n_batch = 2048;
    if (n_batch < 1 || n_batch > 65536) {
        he_fail(err, HE_INVALID, "embed: n_batch %d is out of range [1, 65536]", n_batch);
        return NULL;
    }
    if (!m->enc && hearth_model_pooling(m) == HEARTH_POOL_MEAN) {
        he_fail(err, HE_UNSUPPORTED, "embed: mean pooling of a decoder model is not supported");
        return NULL;
    }
    hearth_embedder *e = xcalloc(1, sizeof *e);
    e->m = m;
    e->n_batch = n_batch;
    e->pool = pool;
    if (!pool) {
        e->pool = he_pool_new(0);
        e->own_pool = true;
    }
    const hearth_hparams *hp = &m->hp;
    if (!m->enc) {
        hearth_ctx_params cp = hearth_ctx_params_default();
        int32_t n = n_batch < hp->n_ctx_train ? n_batch : hp->n_ctx_train;
        cp.n_ctx = n;
        cp.n_batch = n;
        cp.n_seq = 1;
        cp.n_outputs = 1;
        cp.pool = e->pool;
        e->ctx = hearth_ctx_new(m, &cp, err);
        if (!e->ctx) {
            hearth_embedder_free(e);
            return NULL;
        }
        hearth_batch_init(&e->batch, n);
        e->n_batch = n;
        if (hearth_model_is_reranker(m) && bind_label_rows(e, err)) {
            hearth_embedder_free(e);
            return NULL;
        }
        return e;
    }
    const size_t B = (size_t)n_batch, E = (size_t)hp->n_embd, F = (size_t)hp->n_ff;
    const size_t nkv = (size_t)hp->n_head_kv * (size_t)hp->head_dim_k;
    e->x = xmalloc(B * E * sizeof(float));
    e->xb = xmalloc(B * E * sizeof(float));
    e->q = xmalloc(B * E * sizeof(float));
    e->k = xmalloc(B * nkv * sizeof(float));
    e->v = xmalloc(B * nkv * sizeof(float));
    e->att = xmalloc(B * E * sizeof(float));
    e->rows2 = xmalloc(2 * E * sizeof(float));
    e->hb = xmalloc(B * F * sizeof(float));
    e->hb2 = xmalloc(B * F * sizeof(float));
    if (m->arch->encoder == HEARTH_ENC_NOMIC) {
        e->qkv = xmalloc(B * (E + 2 * nkv) * sizeof(float));
        e->rope_cs = xmalloc(B * (size_t)hp->n_rot * sizeof(float));
    }
    e->scores = xmalloc((size_t)he_pool_size(e->pool) * B * sizeof(float));
    size_t s = 0;
    const struct hearth_encoder *en = m->enc;
    for (int l = 0; l < hp->n_layer; l++) {
        const enc_layer *L = &en->layers[l];
        const hearth_weight *ws[] = {&L->wq, &L->wk, &L->wv,   &L->wqkv,
                                     &L->wo, &L->up, &L->gate, &L->down};
        for (size_t i = 0; i < sizeof ws / sizeof ws[0]; i++) {
            size_t t = scratch_of(ws[i], n_batch);
            if (t > s) s = t;
        }
    }
    size_t t = scratch_of(&en->cls, n_batch);
    if (t > s) s = t;
    t = scratch_of(&en->cls_out, n_batch);
    if (t > s) s = t;
    e->act = xmalloc(s ? s : 1);
    return e;
}

void hearth_embedder_free(hearth_embedder *e) {
    if (!e) return;
    if (e->ctx) {
        hearth_batch_deinit(&e->batch);
        hearth_ctx_free(e->ctx);
    }
    free(e->x);
    free(e->xb);
    free(e->q);
    free(e->k);
    free(e->v);
    free(e->qkv);
    free(e->att);
    free(e->rows2);
    free(e->hb);
    free(e->hb2);
    free(e->rope_cs);
    free(e->scores);
    free(e->act);
    free(e->label_w);
    if (e->own_pool) he_pool_free(e->pool);
    free(e);
}

/* ---- The encoder pass over one packed batch ---- */

typedef struct {
    int32_t n_seq;
    const int32_t *start, *len; /* (n_seq) first row and token count of each sequence */
} packing;

static void mm(hearth_embedder *e, float *y, const hearth_weight *w, const float *x, int n) {
    tensor_matmul(e->pool, y, w->data, w->type, w->n_in, w->n_out, x, n, e->act);
}

static void bias(float *y, const hearth_weight *b, int n) {
    if (!b->data) return;
    for (int t = 0; t < n; t++)
        op_add(y + (size_t)t * b->n_in, b->data, (int)b->n_in);
}

static void row_of(const hearth_weight *w, int64_t r, float *out) {
    size_t row = tensor_row_size(w->type, w->n_in);
    const uint8_t *src = (const uint8_t *)w->data + row * (size_t)r;
    if (w->type == TENSOR_TYPE_F32)
        memcpy(out, src, (size_t)w->n_in * sizeof(float));
    else
        tensor_traits_of((uint32_t)w->type)->to_float(src, out, w->n_in);
}

typedef struct {
    hearth_embedder *e;
    const packing *pk;
} att_job;

/* q . k over n floats in 8 lanes (the fixed-width inner loop vectorizes at -O2; one running
 * sum would not, its order being fixed without -ffast-math). */
static float dot8(const float *restrict a, const float *restrict b, int n) {
    float acc[8] = {0};
    int c = 0;
    for (; c + 8 <= n; c += 8)
        for (int l = 0; l < 8; l++)
            acc[l] += a[c + l] * b[c + l];
    float s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    for (; c < n; c++)
        s += a[c] * b[c];
    return s;
}

/* o += p v over n floats, 8 at a time */
static void axpy8(float *restrict o, float p, const float *restrict v, int n) {
    int c = 0;
    for (; c + 8 <= n; c += 8)
        for (int l = 0; l < 8; l++)
            o[c + l] += p * v[c + l];
    for (; c < n; c++)
        o[c] += p * v[c];
}

/* Work items are (sequence, head) pairs; each query row of the item attends to every row of
 * its sequence. */
static void attend(void *arg, int ith, int nth) {
    const att_job *j = arg;
    hearth_embedder *e = j->e;
    const hearth_hparams *hp = &e->m->hp;
    const int hd = hp->head_dim_k, nh = hp->n_head, grp = hp->n_head / hp->n_head_kv;
    const int E = hp->n_embd, nkv = hp->n_head_kv * hd;
    const float scale = 1.0f / sqrtf((float)hd);
    float *sc = e->scores + (size_t)ith * (size_t)e->n_batch;
    const int items = j->pk->n_seq * nh;
    for (int it = ith; it < items; it += nth) {
        int s = it / nh, h = it % nh, g = h / grp;
        int r0 = j->pk->start[s], n = j->pk->len[s];
        for (int i = 0; i < n; i++) {
            const float *q = e->q + (size_t)(r0 + i) * E + (size_t)h * hd;
            float mx = -INFINITY;
            for (int t = 0; t < n; t++) {
                const float *k = e->k + (size_t)(r0 + t) * nkv + (size_t)g * hd;
                sc[t] = dot8(q, k, hd) * scale;
                if (sc[t] > mx) mx = sc[t];
            }
            double sum = 0.0;
            for (int t = 0; t < n; t++) {
                sc[t] = expf(sc[t] - mx);
                sum += (double)sc[t];
            }
            float inv = (float)(1.0 / sum);
            float *o = e->att + (size_t)(r0 + i) * E + (size_t)h * hd;
            for (int c = 0; c < hd; c++)
                o[c] = 0.0f;
            for (int t = 0; t < n; t++)
                axpy8(o, sc[t] * inv, e->v + (size_t)(r0 + t) * nkv + (size_t)g * hd, hd);
        }
    }
}

/* The FFN activation over n rows of F, rows split over the pool (the elementwise work is as
 * large as a matmul's output and was a serial tail): GELU in place, or SwiGLU into x. */
typedef struct {
    float *x;
    const float *up; /* swiglu: the up projection */
    int F, n;
    bool swiglu;
} act_job;

static void activate(void *arg, int ith, int nth) {
    const act_job *j = arg;
    for (int r = ith; r < j->n; r += nth) {
        float *x = j->x + (size_t)r * (size_t)j->F;
        if (j->swiglu)
            op_swiglu(x, j->up + (size_t)r * (size_t)j->F, j->F);
        else
            op_gelu(x, j->F);
    }
}

/* Runs the encoder over the packed tokens toks (n rows) and writes each sequence's pooled
 * output to out (n_seq * n_embd_out). */
static void encode(hearth_embedder *e, const int32_t *toks, int n, const packing *pk, float *out) {
    const hearth_model *m = e->m;
    const struct hearth_encoder *en = m->enc;
    const hearth_hparams *hp = &m->hp;
    const int E = hp->n_embd, F = hp->n_ff, hd = hp->head_dim_k, nkv = hp->n_head_kv * hd;
    const bool nomic = m->arch->encoder == HEARTH_ENC_NOMIC;

    float *type0 = e->rows2;
    row_of(&en->type_embd, 0, type0);
    for (int s = 0; s < pk->n_seq; s++)
        for (int i = 0; i < pk->len[s]; i++) {
            int r = pk->start[s] + i;
            float *x = e->x + (size_t)r * E;
            row_of(&m->tok_embd, toks[r], x);
            op_add(x, type0, E);
            if (en->pos_embd.data) {
                float *p = e->rows2 + E;
                row_of(&en->pos_embd, i, p);
                op_add(x, p, E);
            }
            if (nomic)
                op_rope_angles(e->rope_cs + (size_t)r * hp->n_rot, i, m->rope_theta_scale,
                               m->rope_div, hp->n_rot);
        }
    for (int r = 0; r < n; r++)
        op_layernorm(e->x + (size_t)r * E, e->x + (size_t)r * E, en->tok_ln.data, en->tok_ln_b.data,
                     E, hp->eps);

    for (int l = 0; l < hp->n_layer; l++) {
        const enc_layer *L = &en->layers[l];
        if (nomic) {
            const int W = E + 2 * nkv;
            mm(e, e->qkv, &L->wqkv, e->x, n);
            for (int r = 0; r < n; r++) {
                const float *src = e->qkv + (size_t)r * W;
                memcpy(e->q + (size_t)r * E, src, (size_t)E * sizeof(float));
                memcpy(e->k + (size_t)r * nkv, src + E, (size_t)nkv * sizeof(float));
                memcpy(e->v + (size_t)r * nkv, src + E + nkv, (size_t)nkv * sizeof(float));
                const float *cs = e->rope_cs + (size_t)r * hp->n_rot;
                op_rope(e->q + (size_t)r * E, hp->n_head, hd, cs, hp->n_rot, 1);
                op_rope(e->k + (size_t)r * nkv, hp->n_head_kv, hd, cs, hp->n_rot, 1);
            }
        } else {
            mm(e, e->q, &L->wq, e->x, n);
            mm(e, e->k, &L->wk, e->x, n);
            mm(e, e->v, &L->wv, e->x, n);
            bias(e->q, &L->bq, n);
            bias(e->k, &L->bk, n);
            bias(e->v, &L->bv, n);
        }
        att_job aj = {e, pk};
        he_pool_run(e->pool, attend, &aj);
        mm(e, e->xb, &L->wo, e->att, n);
        bias(e->xb, &L->bo, n);
        for (int r = 0; r < n; r++) {
            float *x = e->x + (size_t)r * E;
            op_add(x, e->xb + (size_t)r * E, E);
            op_layernorm(x, x, L->attn_ln.data, L->attn_ln_b.data, E, hp->eps);
        }
        mm(e, e->hb, &L->up, e->x, n);
        if (nomic) {
            mm(e, e->hb2, &L->gate, e->x, n);
            act_job aj2 = {e->hb2, e->hb, F, n, true}; /* silu(gate) * up */
            he_pool_run(e->pool, activate, &aj2);
            mm(e, e->xb, &L->down, e->hb2, n);
        } else {
            bias(e->hb, &L->up_b, n);
            act_job aj2 = {e->hb, NULL, F, n, false};
            he_pool_run(e->pool, activate, &aj2);
            mm(e, e->xb, &L->down, e->hb, n);
            bias(e->xb, &L->down_b, n);
        }
        for (int r = 0; r < n; r++) {
            float *x = e->x + (size_t)r * E;
            op_add(x, e->xb + (size_t)r * E, E);
            op_layernorm(x, x, L->out_ln.data, L->out_ln_b.data, E, hp->eps);
        }
    }

    if (en->pooling == HEARTH_POOL_RANK) {
        /* classification head on each sequence's first token */
        for (int s = 0; s < pk->n_seq; s++)
            memcpy(e->xb + (size_t)s * E, e->x + (size_t)pk->start[s] * E,
                   (size_t)E * sizeof(float));
        const int C = (int)en->cls.n_out;
        mm(e, e->att, &en->cls, e->xb, pk->n_seq);
        bias(e->att, &en->cls_b, pk->n_seq);
        for (int i = 0; i < pk->n_seq * C; i++)
            e->att[i] = tanhf(e->att[i]);
        if (en->cls_out.data) {
            mm(e, out, &en->cls_out, e->att, pk->n_seq);
            bias(out, &en->cls_out_b, pk->n_seq);
        } else {
            memcpy(out, e->att, (size_t)pk->n_seq * sizeof(float));
        }
        return;
    }
    for (int s = 0; s < pk->n_seq; s++) {
        float *o = out + (size_t)s * E;
        const float *x0 = e->x + (size_t)pk->start[s] * E;
        int len = pk->len[s];
        if (en->pooling == HEARTH_POOL_CLS) {
            memcpy(o, x0, (size_t)E * sizeof(float));
        } else if (en->pooling == HEARTH_POOL_LAST) {
            memcpy(o, x0 + (size_t)(len - 1) * E, (size_t)E * sizeof(float));
        } else { /* mean */
            for (int c = 0; c < E; c++) {
                double acc = 0.0;
                for (int i = 0; i < len; i++)
                    acc += (double)x0[(size_t)i * E + c];
                o[c] = (float)(acc / len);
            }
        }
    }
}

/* A decoder embedding model: one sequence through hearth_decode, the final-norm hidden state
 * of the pooled token (first or last). */
static int embed_decoder(hearth_embedder *e, const int32_t *toks, int32_t n, float *out,
                         he_error *err) {
    hearth_kv_clear(e->ctx);
    hearth_batch_clear(&e->batch);
    int32_t pick = hearth_model_pooling(e->m) == HEARTH_POOL_CLS ? 0 : n - 1;
    for (int32_t i = 0; i < n; i++)
        hearth_batch_add(&e->batch, toks[i], i, 0, i == pick);
    if (hearth_decode(e->ctx, &e->batch, err)) return -1;
    const int32_t E = e->m->hp.n_embd;
    if (e->label_w) {
        /* a reranker: the label logits of the last token; two labels (yes, no) give
         * P(first) = softmax over the two (Qwen3-Reranker's score: P(yes)); with more
         * labels the first one's softmax probability; one label: its logit */
        double l[16];
        for (int32_t r = 0; r < e->n_labels; r++) {
            const float *w = e->label_w + (size_t)r * (size_t)E;
            double d = 0.0;
            for (int32_t c = 0; c < E; c++)
                d += (double)w[c] * (double)e->ctx->out_x[c];
            l[r] = d;
        }
        double sum = 0.0;
        for (int32_t r = 0; r < e->n_labels; r++)
            sum += exp(l[r] - l[0]);
        out[0] = e->n_labels == 1 ? (float)l[0] : (float)(1.0 / sum);
    } else {
        memcpy(out, e->ctx->out_x, (size_t)E * sizeof(float));
    }
    hearth_kv_clear(e->ctx);
    return 0;
}

int hearth_embed(hearth_embedder *e, const int32_t *const *toks, const int32_t *n_toks,
                 int32_t n_seq, bool normalize, float *out, he_error *err) {
    const hearth_model *m = e->m;
    const int32_t n_out = hearth_model_n_embd_out(m);
    const int32_t max_len = e->n_batch < m->hp.n_ctx_train ? e->n_batch : m->hp.n_ctx_train;
    if (n_seq < 0) return he_fail(err, HE_INVALID, "embed: negative sequence count");
    for (int32_t s = 0; s < n_seq; s++) {
        if (n_toks[s] < 1) return he_fail(err, HE_INVALID, "embed: input %d is empty", s);
        if (n_toks[s] > max_len)
            return he_fail(err, HE_LIMIT,
                           "embed: input %d is %d tokens, more than the model's limit of %d", s,
                           n_toks[s], max_len);
        for (int32_t i = 0; i < n_toks[s]; i++)
            if (toks[s][i] < 0 || toks[s][i] >= m->hp.n_vocab)
                return he_fail(err, HE_INVALID, "embed: input %d: token id %d is out of range", s,
                               toks[s][i]);
    }
    const bool rerank = hearth_model_is_reranker(m);
    if (!m->enc) {
        for (int32_t s = 0; s < n_seq; s++) {
            if (embed_decoder(e, toks[s], n_toks[s], out + (size_t)s * n_out, err)) return -1;
            if (normalize && !rerank) hearth_l2_normalize(out + (size_t)s * n_out, n_out);
        }
        return 0;
    }
    /* pack consecutive sequences into passes of up to n_batch tokens */
    int32_t *flat = xmalloc((size_t)e->n_batch * sizeof(int32_t));
    int32_t *start = xmalloc((size_t)(n_seq ? n_seq : 1) * sizeof(int32_t));
    int32_t s0 = 0;
    while (s0 < n_seq) {
        int32_t s1 = s0, rows = 0;
        while (s1 < n_seq && rows + n_toks[s1] <= e->n_batch) {
            start[s1 - s0] = rows;
            memcpy(flat + rows, toks[s1], (size_t)n_toks[s1] * sizeof(int32_t));
            rows += n_toks[s1];
            s1++;
        }
        packing pk = {s1 - s0, start, n_toks + s0};
        float *o = out + (size_t)s0 * n_out;
        encode(e, flat, rows, &pk, o);
        if (normalize && !rerank)
            for (int32_t s = 0; s < pk.n_seq; s++)
                hearth_l2_normalize(o + (size_t)s * n_out, n_out);
        s0 = s1;
    }
    free(flat);
    free(start);
    return 0;
}
