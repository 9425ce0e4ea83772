/* ctx.c — contexts, batches and hearth_decode's validation (the forward pass is forward.c).
 * Everything a decode needs is allocated here, sized for n_batch tokens; hearth_decode
 * checks the whole batch before changing any state, so a rejected batch leaves the
 * context as it was. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/alloc.h"
#include "model/attention.h"
#include "tensor/matmul.h"

/* ---- Batches ---- */

void hearth_batch_init(hearth_batch *b, int32_t cap) {
    if (cap < 1) cap = 1;
    b->n_tokens = 0;
    b->cap = cap;
    b->token = xmalloc((size_t)cap * sizeof *b->token);
    b->pos = xmalloc((size_t)cap * sizeof *b->pos);
    b->seq_id = xmalloc((size_t)cap * sizeof *b->seq_id);
    b->logits = xmalloc((size_t)cap * sizeof *b->logits);
}

void hearth_batch_deinit(hearth_batch *b) {
    free(b->token);
    free(b->pos);
    free(b->seq_id);
    free(b->logits);
    memset(b, 0, sizeof *b);
}

void hearth_batch_clear(hearth_batch *b) { b->n_tokens = 0; }

int hearth_batch_add(hearth_batch *b, int32_t token, int32_t pos, int32_t seq_id, bool logits) {
    if (b->n_tokens >= b->cap) return -1;
    int32_t i = b->n_tokens++;
    b->token[i] = token;
    b->pos[i] = pos;
    b->seq_id[i] = seq_id;
    b->logits[i] = logits;
    return 0;
}

/* ---- Contexts ---- */

hearth_ctx_params hearth_ctx_params_default(void) {
    return (hearth_ctx_params){.n_ctx = 0,
                               .n_batch = 512,
                               .n_seq = 1,
                               .n_outputs = 0,
                               .n_threads = 0,
                               .pool = NULL,
                               .kv_type = HEARTH_KV_F16,
                               .swa_full = false};
}

/* he_calloc of n floats (n already bounded by the params' limits) */
static float *fbuf(size_t n, bool *ok) {
    float *p = he_calloc(n ? n : 1, sizeof(float));
    if (!p) *ok = false;
    return p;
}

hearth_ctx *hearth_ctx_new(const hearth_model *m, const hearth_ctx_params *pp, he_error *err) {
    hearth_ctx_params p = pp ? *pp : hearth_ctx_params_default();
    const hearth_hparams *hp = &m->hp;
    if (m->arch->encoder) {
        he_fail(err, HE_UNSUPPORTED,
                "ctx: '%s' is an encoder (embeddings / reranking): use model/embed.h",
                m->arch->name);
        return NULL;
    }
    if (p.n_ctx == 0) p.n_ctx = hp->n_ctx_train < 4096 ? hp->n_ctx_train : 4096;
    if (p.n_batch == 0) p.n_batch = 512;
    if (p.n_seq == 0) p.n_seq = 1;
    if (p.n_ctx < 1 || p.n_ctx > (1 << 22)) {
        he_fail(err, HE_INVALID, "ctx: n_ctx %d is out of range [1, %d]", p.n_ctx, 1 << 22);
        return NULL;
    }
    if (p.n_batch < 1 || p.n_batch > 65536) {
        he_fail(err, HE_INVALID, "ctx: n_batch %d is out of range [1, 65536]", p.n_batch);
        return NULL;
    }
    if (p.n_seq < 1 || p.n_seq > HEARTH_MAX_SEQ) {
        he_fail(err, HE_INVALID, "ctx: n_seq %d is out of range [1, %d]", p.n_seq, HEARTH_MAX_SEQ);
        return NULL;
    }
    if (p.kv_type != HEARTH_KV_F16 && p.kv_type != HEARTH_KV_F32 && p.kv_type != HEARTH_KV_Q8_0) {
        he_fail(err, HE_INVALID, "ctx: unknown kv_type %d", (int)p.kv_type);
        return NULL;
    }
    if (p.kv_type == HEARTH_KV_Q8_0 && (hp->head_dim_k % 32 || hp->head_dim_v % 32)) {
        he_fail(err, HE_UNSUPPORTED,
                "ctx: a q8_0 KV cache needs head sizes that are multiples of 32 (this model: K "
                "%d, V %d); use f16",
                hp->head_dim_k, hp->head_dim_v);
        return NULL;
    }
    if (p.n_outputs == 0) {
        /* every entry may ask when that stays small; otherwise enough for one per sequence plus
         * a speculative draft */
        int32_t all = p.n_batch;
        p.n_outputs =
            (int64_t)all * hp->n_vocab <= (16 << 20) ? all : (p.n_seq > 32 ? p.n_seq : 32);
        if (p.n_outputs > p.n_batch) p.n_outputs = p.n_batch;
    }
    if (p.n_outputs < 1 || p.n_outputs > p.n_batch) {
        he_fail(err, HE_INVALID, "ctx: n_outputs %d is out of range [1, n_batch %d]", p.n_outputs,
                p.n_batch);
        return NULL;
    }
    hearth_ctx *c = xcalloc(1, sizeof *c);
    c->m = m;
    c->p = p;
    if (p.pool) {
        c->pool = p.pool;
    } else {
        c->pool = he_pool_new(p.n_threads);
        c->own_pool = true;
    }
    c->p.n_threads = he_pool_size(c->pool);
    if (hearth_kv_alloc(c, err)) goto fail;

    size_t B = (size_t)p.n_batch, E = (size_t)hp->n_embd;
    size_t nq = (size_t)hp->n_head * hp->head_dim_k, no = (size_t)hp->n_head * hp->head_dim_v;
    size_t nk = (size_t)hp->n_head_kv * hp->head_dim_k, nv = (size_t)hp->n_head_kv * hp->head_dim_v;
    bool ok = true;
    c->x = fbuf(B * E, &ok);
    c->xb = fbuf(B * (E > no ? E : no), &ok);
    c->xo = fbuf(B * E, &ok);
    c->q = fbuf(B * nq, &ok);
    c->k = fbuf(B * nk, &ok);
    c->v = fbuf(B * nv, &ok);
    size_t F = (size_t)hp->n_ff;
    if ((size_t)hp->n_ff_exp > F) F = (size_t)hp->n_ff_exp;
    if ((size_t)hp->n_ff_shexp > F) F = (size_t)hp->n_ff_shexp;
    c->hb = fbuf(B * F, &ok);
    c->hb2 = fbuf(B * F, &ok);
    if (hp->n_expert > 0) {
        size_t X = (size_t)hp->n_expert, K = (size_t)hp->n_expert_used;
        c->moe_logits = fbuf(B * X, &ok);
        c->moe_w = fbuf(B * K, &ok);
        c->moe_in = fbuf(B * E, &ok);
        c->moe_out = fbuf(B * E, &ok);
        c->moe_y = fbuf(B * K * E, &ok);
        c->moe_gate = fbuf(B, &ok);
        c->moe_sel = he_calloc(B * K, sizeof *c->moe_sel);
        c->moe_list = he_calloc(B * K, sizeof *c->moe_list);
        c->moe_count = he_calloc(X + 2, sizeof *c->moe_count);
        if (!c->moe_sel || !c->moe_list || !c->moe_count) ok = false;
    }
    c->rope_cs = fbuf(B * (size_t)hp->n_rot, &ok);
    if (m->rope_swa.div) c->rope_cs_swa = fbuf(B * (size_t)hp->n_rot, &ok);
    c->out_x = fbuf((size_t)p.n_outputs * E, &ok);
    c->logits = fbuf((size_t)p.n_outputs * (size_t)hp->n_vocab, &ok);
    c->f16 = tensor_traits_of(TENSOR_TYPE_F16);
    if (p.kv_type == HEARTH_KV_Q8_0) {
        c->q8 = tensor_traits_of(TENSOR_TYPE_Q8_0);
        if (!c->q8 || !c->q8->from_float || !c->q8->to_float || !c->q8->vec_dot ||
            c->q8->vec_dot_type != TENSOR_TYPE_Q8_0) {
            he_fail(err, HE_UNSUPPORTED, "ctx: no q8_0 kernels for the KV cache");
            goto fail;
        }
    }
    c->cell_of = he_calloc(B, sizeof *c->cell_of);
    c->logit_row = he_calloc(B, sizeof *c->logit_row);
    c->out_rows = he_calloc(B, sizeof *c->out_rows);
    c->act_q_size = m->max_act_scratch * B;
    c->act_q = he_malloc(c->act_q_size + 64);
    if (!c->f16 || !c->f16->from_float || !c->f16->to_float) {
        he_fail(err, HE_UNSUPPORTED, "ctx: no f16 conversion kernels for the KV cache");
        goto fail;
    }
    if (!ok || !c->cell_of || !c->logit_row || !c->out_rows || !c->act_q) {
        he_fail(err, HE_NOMEM, "ctx: cannot allocate scratch for a batch of %d tokens", p.n_batch);
        goto fail;
    }
    if (hearth_ctx_lora_alloc(c, err)) goto fail;
    if (hearth_attention_alloc(c, err)) goto fail;
    return c;
fail:
    hearth_ctx_free(c);
    return NULL;
}

void hearth_ctx_free(hearth_ctx *c) {
    if (!c) return;
    if (c->own_pool) he_pool_free(c->pool);
    hearth_kv_free(c);
    free(c->x);
    free(c->xb);
    free(c->xo);
    free(c->q);
    free(c->k);
    free(c->v);
    free(c->hb);
    free(c->hb2);
    free(c->moe_logits);
    free(c->moe_sel);
    free(c->moe_w);
    free(c->moe_count);
    free(c->moe_list);
    free(c->moe_in);
    free(c->moe_out);
    free(c->moe_y);
    free(c->moe_gate);
    free(c->rope_cs);
    free(c->rope_cs_swa);
    hearth_attention_free(c);
    free(c->out_x);
    free(c->logits);
    free(c->cell_of);
    free(c->logit_row);
    free(c->out_rows);
    free(c->act_q);
    hearth_ctx_lora_free(c);
    free(c);
}

int32_t hearth_ctx_n_ctx(const hearth_ctx *c) { return c->p.n_ctx; }
int32_t hearth_ctx_n_batch(const hearth_ctx *c) { return c->p.n_batch; }
int32_t hearth_ctx_n_seq(const hearth_ctx *c) { return c->p.n_seq; }
int32_t hearth_ctx_n_threads(const hearth_ctx *c) { return c->p.n_threads; }
const hearth_model *hearth_ctx_model(const hearth_ctx *c) { return c->m; }
hearth_kv_type hearth_ctx_kv_type(const hearth_ctx *c) { return c->p.kv_type; }
size_t hearth_ctx_kv_bytes(const hearth_ctx *c) { return c->kv_bytes; }
size_t hearth_ctx_kv_bytes_full(const hearth_ctx *c) { return c->kv_bytes_full; }

static const char *const kv_names[] = {[HEARTH_KV_F16] = "f16", [HEARTH_KV_F32] = "f32",
                                       [HEARTH_KV_Q8_0] = "q8_0"};

int hearth_kv_type_from_name(const char *name, hearth_kv_type *out) {
    if (!name) return -1;
    for (int t = 0; t < (int)(sizeof kv_names / sizeof kv_names[0]); t++)
        if (!strcasecmp(name, kv_names[t])) {
            *out = (hearth_kv_type)t;
            return 0;
        }
    return -1;
}

const char *hearth_kv_type_name(hearth_kv_type t) {
    return (unsigned)t < sizeof kv_names / sizeof kv_names[0] ? kv_names[t] : "?";
}

/* ---- Decoding ---- */

static int validate(const hearth_ctx *c, const hearth_batch *b, he_error *err) {
    if (!b || b->n_tokens < 1) return he_fail(err, HE_INVALID, "decode: empty batch");
    if (b->n_tokens > c->p.n_batch)
        return he_fail(err, HE_LIMIT, "decode: batch of %d tokens exceeds n_batch %d", b->n_tokens,
                       c->p.n_batch);
    if (b->n_tokens > c->p.n_ctx - c->n_used)
        return he_fail(err, HE_LIMIT,
                       "decode: context full: batch needs %d KV cells, %d of %d free", b->n_tokens,
                       c->p.n_ctx - c->n_used, c->p.n_ctx);
    int32_t next[HEARTH_MAX_SEQ];
    for (int s = 0; s < c->p.n_seq; s++)
        next[s] = c->seq_pos_max[s] + 1;
    int32_t n_out = 0;
    for (int32_t i = 0; i < b->n_tokens; i++) {
        int32_t t = b->token[i], s = b->seq_id[i], pos = b->pos[i];
        if (t < 0 || t >= c->m->hp.n_vocab)
            return he_fail(err, HE_INVALID, "decode: entry %d: token id %d is out of range [0, %d)",
                           i, t, c->m->hp.n_vocab);
        if (s < 0 || s >= c->p.n_seq)
            return he_fail(err, HE_INVALID,
                           "decode: entry %d: sequence id %d is out of range [0, %d)", i, s,
                           c->p.n_seq);
        if (pos != next[s])
            return he_fail(
                err, HE_INVALID,
                "decode: entry %d: position %d of sequence %d does not continue it (expected %d)",
                i, pos, s, next[s]);
        if (pos == INT32_MAX)
            return he_fail(err, HE_LIMIT, "decode: entry %d: position overflows", i);
        next[s]++;
        if (b->logits[i]) n_out++;
    }
    if (n_out > c->p.n_outputs)
        return he_fail(err, HE_LIMIT,
                       "decode: %d entries ask for logits, the context keeps at most %d", n_out,
                       c->p.n_outputs);
    return 0;
}

int hearth_decode(hearth_ctx *c, const hearth_batch *b, he_error *err) {
    if (validate(c, b, err)) return -1;
    hearth_kv_place(c, b);
    hearth_kv_order(c); /* attention's lists in position order (batch invariance) */
    int32_t r = 0;
    for (int32_t i = 0; i < b->n_tokens; i++)
        c->logit_row[i] = b->logits[i] ? r++ : -1;
    c->n_batch_last = b->n_tokens;
    hearth_forward(c, b);
    return 0;
}

const float *hearth_logits(const hearth_ctx *c, int32_t batch_index) {
    if (batch_index < 0 || batch_index >= c->n_batch_last) return NULL;
    int32_t r = c->logit_row[batch_index];
    return r < 0 ? NULL : c->logits + (size_t)r * (size_t)c->m->hp.n_vocab;
}
