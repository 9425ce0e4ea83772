/* lora.c — LoRA adapters: loading and validation against the base, per-context scales, the
 * unmerged low-rank products of the forward pass, and random adapters for tests (lora.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/alloc.h"
#include "model/model_internal.h"
#include "model/quantize.h"
#include "tensor/matmul.h"

static const char *const target_names[LORA_N_TARGETS] = {
    "attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"};
static const char *const target_short[LORA_N_TARGETS] = {"q", "k", "v", "o", "gate", "up", "down"};

static const hearth_weight *base_weight(const hearth_model *m, int l, int t) {
    const hearth_layer *L = &m->layers[l];
    const hearth_weight *w[LORA_N_TARGETS] = {&L->wq,     &L->wk,   &L->wv,    &L->wo,
                                              &L->w_gate, &L->w_up, &L->w_down};
    return w[t];
}

/* ---- Loading ---- */

void hearth_lora_free(hearth_lora *a) {
    if (!a) return;
    gguf_close(a->file);
    free(a->pair);
    free(a);
}

float hearth_lora_alpha(const hearth_lora *a) { return a->alpha; }
int32_t hearth_lora_n_weights(const hearth_lora *a) { return a->n_weights; }
int32_t hearth_lora_max_rank(const hearth_lora *a) { return a->max_rank; }

/* "blk.N.<target>.weight.lora_a|b" -> layer, target, half (0: a, 1: b). The error names the
 * tensor. */
static int parse_name(const hearth_model *m, const gguf_tensor *t, int *layer, int *target,
                      int *half, he_error *err) {
    char name[96];
    char show[96];
    gguf_str_show(show, sizeof show, t->name, 80);
    if (t->name.len >= sizeof name) goto bad;
    memcpy(name, t->name.ptr, t->name.len);
    name[t->name.len] = 0;
    if (strlen(name) != t->name.len) goto bad;
    size_t n = strlen(name);
    if (n > 7 && !strcmp(name + n - 7, ".lora_a"))
        *half = 0;
    else if (n > 7 && !strcmp(name + n - 7, ".lora_b"))
        *half = 1;
    else
        return he_fail(err, HE_FORMAT, "lora: tensor '%s' is neither a .lora_a nor a .lora_b",
                       show);
    name[n - 7] = 0;
    int l = -1, off = 0;
    if (sscanf(name, "blk.%d.%n", &l, &off) != 1 || off == 0) goto unsupported;
    if (l < 0 || l >= m->hp.n_layer)
        return he_fail(err, HE_INVALID, "lora: tensor '%s': the base has no layer %d (%d layers)",
                       show, l, m->hp.n_layer);
    for (int k = 0; k < LORA_N_TARGETS; k++) {
        size_t tl = strlen(target_names[k]);
        if (!strncmp(name + off, target_names[k], tl) && !strcmp(name + off + tl, ".weight")) {
            if (!base_weight(m, l, k)->data)
                return he_fail(err, HE_INVALID, "lora: tensor '%s': the base has no %s", show,
                               name);
            *layer = l;
            *target = k;
            return 0;
        }
    }
unsupported:
    return he_fail(err, HE_UNSUPPORTED,
                   "lora: tensor '%s' adapts a weight hearth cannot adapt (supported: "
                   "blk.N.{attn_q,attn_k,attn_v,attn_output,ffn_gate,ffn_up,ffn_down}.weight)",
                   show);
bad:
    return he_fail(err, HE_FORMAT, "lora: tensor '%s' has a malformed name", show);
}

hearth_lora *hearth_lora_from_gguf(const hearth_model *m, gguf_file *f, he_error *err) {
    hearth_lora *a = he_calloc(1, sizeof *a);
    if (!a) {
        gguf_close(f);
        he_fail(err, HE_NOMEM, "lora: out of memory");
        return NULL;
    }
    a->file = f;
    a->base = m;
    gguf_str s;
    char show[80];
    int r = gguf_find_str(f, "general.type", &s, err);
    if (r < 0) goto fail;
    if (r == 0 || !gguf_str_eq(s, "adapter")) {
        he_fail(err, HE_FORMAT, "lora: general.type is %s, not \"adapter\"",
                r == 0 ? "missing" : gguf_str_show(show, sizeof show, s, 40));
        goto fail;
    }
    r = gguf_find_str(f, "adapter.type", &s, err);
    if (r < 0) goto fail;
    if (r == 0 || !gguf_str_eq(s, "lora")) {
        he_fail(err, HE_UNSUPPORTED, "lora: adapter.type is %s, not \"lora\"",
                r == 0 ? "missing" : gguf_str_show(show, sizeof show, s, 40));
        goto fail;
    }
    r = gguf_find_str(f, "general.architecture", &s, err);
    if (r < 0) goto fail;
    if (r == 0 || !gguf_str_eq(s, m->arch->name)) {
        he_fail(err, HE_INVALID, "lora: general.architecture is %s, the base model is \"%s\"",
                r == 0 ? "missing" : gguf_str_show(show, sizeof show, s, 40), m->arch->name);
        goto fail;
    }
    double alpha;
    r = gguf_find_f64(f, "adapter.lora.alpha", &alpha, err);
    if (r < 0) goto fail;
    if (r == 0) {
        he_fail(err, HE_FORMAT, "lora: adapter.lora.alpha is missing");
        goto fail;
    }
    if (!isfinite(alpha) || fabs(alpha) > 1e6) {
        he_fail(err, HE_INVALID, "lora: adapter.lora.alpha %g is out of range", alpha);
        goto fail;
    }
    a->alpha = (float)alpha;
    const size_t np = (size_t)m->hp.n_layer * LORA_N_TARGETS;
    a->pair = he_calloc(np, sizeof *a->pair);
    if (!a->pair) {
        he_fail(err, HE_NOMEM, "lora: out of memory");
        goto fail;
    }
    for (int64_t i = 0; i < gguf_n_tensors(f); i++) {
        const gguf_tensor *t = gguf_tensor_at(f, i);
        int l = 0, k = 0, half = 0;
        if (parse_name(m, t, &l, &k, &half, err)) goto fail;
        gguf_str_show(show, sizeof show, t->name, 60);
        if (t->type != TENSOR_TYPE_F32 && t->type != TENSOR_TYPE_F16) {
            he_fail(err, HE_UNSUPPORTED, "lora: tensor '%s' has type %u (F32 or F16 expected)",
                    show, t->type);
            goto fail;
        }
        if (t->ne[2] != 1 || t->ne[3] != 1 || t->ne[0] < 1 || t->ne[1] < 1) {
            he_fail(err, HE_INVALID, "lora: tensor '%s' is not a 2-D matrix", show);
            goto fail;
        }
        hearth_lora_pair *p = &a->pair[(size_t)l * LORA_N_TARGETS + k];
        hearth_weight *w = half ? &p->b : &p->a;
        if (w->data) {
            he_fail(err, HE_FORMAT, "lora: tensor '%s' appears twice", show);
            goto fail;
        }
        *w = (hearth_weight){.data = t->data,
                             .type = (tensor_type)t->type,
                             .n_in = t->ne[0],
                             .n_out = t->ne[1],
                             .n_mat = 1};
    }
    for (int l = 0; l < m->hp.n_layer; l++)
        for (int k = 0; k < LORA_N_TARGETS; k++) {
            hearth_lora_pair *p = &a->pair[(size_t)l * LORA_N_TARGETS + k];
            if (!p->a.data && !p->b.data) continue;
            const hearth_weight *w = base_weight(m, l, k);
            char nm[64];
            snprintf(nm, sizeof nm, "blk.%d.%s.weight", l, target_names[k]);
            if (!p->a.data || !p->b.data) {
                he_fail(err, HE_FORMAT, "lora: %s has a %s but no %s", nm,
                        p->a.data ? "lora_a" : "lora_b", p->a.data ? "lora_b" : "lora_a");
                goto fail;
            }
            /* A: ne [n_in, r]; B: ne [r, n_out] (llama.cpp's convention) */
            if (p->a.n_in != w->n_in || p->b.n_out != w->n_out) {
                he_fail(err, HE_INVALID,
                        "lora: %s: lora_a is [%lld, %lld] and lora_b [%lld, %lld], the base "
                        "weight is [%lld, %lld] (expected lora_a [%lld, r], lora_b [r, %lld])",
                        nm, (long long)p->a.n_in, (long long)p->a.n_out, (long long)p->b.n_in,
                        (long long)p->b.n_out, (long long)w->n_in, (long long)w->n_out,
                        (long long)w->n_in, (long long)w->n_out);
                goto fail;
            }
            if (p->a.n_out != p->b.n_in) {
                he_fail(err, HE_INVALID,
                        "lora: %s: lora_a rank %lld != lora_b rank %lld (lora_a not transposed?)",
                        nm, (long long)p->a.n_out, (long long)p->b.n_in);
                goto fail;
            }
            if (p->a.n_out > 65536) {
                he_fail(err, HE_LIMIT, "lora: %s: rank %lld is too large", nm,
                        (long long)p->a.n_out);
                goto fail;
            }
            a->n_weights++;
            if (p->a.n_out > a->max_rank) a->max_rank = (int32_t)p->a.n_out;
            if (w->n_in > a->max_dim) a->max_dim = w->n_in;
            if (w->n_out > a->max_dim) a->max_dim = w->n_out;
            size_t s1 = tensor_matmul_scratch(p->a.type, p->a.n_in, 1),
                   s2 = tensor_matmul_scratch(p->b.type, p->b.n_in, 1);
            if (s1 > a->act_scratch) a->act_scratch = s1;
            if (s2 > a->act_scratch) a->act_scratch = s2;
        }
    if (a->n_weights == 0) {
        he_fail(err, HE_FORMAT, "lora: the adapter has no lora_a/lora_b tensors");
        goto fail;
    }
    return a;
fail:
    hearth_lora_free(a);
    return NULL;
}

hearth_lora *hearth_lora_load(const hearth_model *m, const char *path, he_error *err) {
    gguf_file *f = gguf_open(path, err);
    if (!f) return NULL;
    return hearth_lora_from_gguf(m, f, err);
}

int32_t hearth_model_add_lora(hearth_model *m, hearth_lora *a, he_error *err) {
    if (a->base != m) {
        he_fail(err, HE_INVALID, "lora: the adapter was validated against another model");
        return -1;
    }
    if (m->n_lora >= 256) {
        he_fail(err, HE_LIMIT, "lora: at most 256 adapters per model");
        return -1;
    }
    hearth_lora **v = realloc(m->lora, (size_t)(m->n_lora + 1) * sizeof *v);
    if (!v) {
        he_fail(err, HE_NOMEM, "lora: out of memory");
        return -1;
    }
    m->lora = v;
    m->lora[m->n_lora] = a;
    return m->n_lora++;
}

int32_t hearth_model_n_lora(const hearth_model *m) { return m->n_lora; }

/* ---- Contexts ---- */

int hearth_ctx_lora_alloc(hearth_ctx *c, he_error *err) {
    const hearth_model *m = c->m;
    c->n_lora = m->n_lora;
    if (m->n_lora == 0) return 0;
    int64_t dim = 1, rank = 1;
    size_t act = 0;
    for (int i = 0; i < m->n_lora; i++) {
        if (m->lora[i]->max_dim > dim) dim = m->lora[i]->max_dim;
        if (m->lora[i]->max_rank > rank) rank = m->lora[i]->max_rank;
        if (m->lora[i]->act_scratch > act) act = m->lora[i]->act_scratch;
    }
    const size_t B = (size_t)c->p.n_batch;
    c->lora_scale = he_calloc((size_t)m->n_lora * HEARTH_MAX_SEQ, sizeof(float));
    c->lora_x = he_malloc(B * (size_t)dim * sizeof(float));
    c->lora_y = he_malloc(B * (size_t)dim * sizeof(float));
    c->lora_t = he_malloc(B * (size_t)rank * sizeof(float));
    c->lora_s = he_malloc(B * sizeof(float));
    c->lora_rows = he_malloc(B * sizeof(int32_t));
    c->lora_act = he_malloc(act * B + 64);
    if (!c->lora_scale || !c->lora_x || !c->lora_y || !c->lora_t || !c->lora_s || !c->lora_rows ||
        !c->lora_act)
        return he_fail(err, HE_NOMEM, "ctx: cannot allocate the LoRA scratch");
    return 0;
}

void hearth_ctx_lora_free(hearth_ctx *c) {
    free(c->lora_scale);
    free(c->lora_x);
    free(c->lora_y);
    free(c->lora_t);
    free(c->lora_s);
    free(c->lora_rows);
    free(c->lora_act);
}

int hearth_ctx_set_lora(hearth_ctx *c, int32_t lora, int32_t seq, float scale, he_error *err) {
    if (lora < 0 || lora >= c->n_lora)
        return he_fail(err, HE_INVALID, "lora: no adapter %d in this context (%d)", lora,
                       c->n_lora);
    if (seq >= c->p.n_seq)
        return he_fail(err, HE_INVALID, "lora: sequence %d is out of range", seq);
    if (!isfinite(scale)) return he_fail(err, HE_INVALID, "lora: scale is not finite");
    for (int s = 0; s < c->p.n_seq; s++)
        if (seq < 0 || s == seq) c->lora_scale[(size_t)lora * HEARTH_MAX_SEQ + s] = scale;
    return 0;
}

float hearth_ctx_lora_scale(const hearth_ctx *c, int32_t lora, int32_t seq) {
    if (lora < 0 || lora >= c->n_lora || seq < 0 || seq >= c->p.n_seq) return 0.0f;
    return c->lora_scale[(size_t)lora * HEARTH_MAX_SEQ + seq];
}

/* ---- Forward ---- */

/* The rows [0, k) of c->lora_rows/lora_s (their inputs at xin, k rows of n_in): t = A x, then
 * y[row] += (B t) * s. `tiled` picks llama.cpp's float order: its F32 matmuls go through
 * llamafile's tinyBLAS for two or more rows and ggml_vec_dot_f32 for one (tensor/matmul.h). */
static void apply_rows(hearth_ctx *c, const hearth_lora_pair *p, float *y, const float *xin, int k,
                       bool tiled) {
    const int64_t n_in = p->a.n_in, n_out = p->b.n_out, rank = p->a.n_out;
    if (p->a.type != TENSOR_TYPE_F32 || !tiled ||
        tensor_lowrank_a(c->pool, c->lora_t, p->a.data, n_in, rank, xin, k))
        tensor_matmul(c->pool, c->lora_t, p->a.data, p->a.type, n_in, rank, xin, k, c->lora_act);
    if (p->b.type == TENSOR_TYPE_F32 &&
        !tensor_lowrank_b_add(c->pool, y, n_out, c->lora_rows, p->b.data, rank, n_out, c->lora_t,
                              c->lora_s, k, tiled))
        return;
    tensor_matmul(c->pool, c->lora_y, p->b.data, p->b.type, rank, n_out, c->lora_t, k, c->lora_act);
    for (int j = 0; j < k; j++) {
        float *yr = y + (size_t)c->lora_rows[j] * n_out;
        const float *u = c->lora_y + (size_t)j * n_out;
        const float s = c->lora_s[j];
        for (int64_t o = 0; o < n_out; o++)
            yr[o] += u[o] * s;
    }
}

/* Which float order a row gets follows from how many rows its own sequence has in this matmul
 * (as if it were decoded alone, which is how llama.cpp's references are made): a decode step's
 * single row takes ggml_vec_dot_f32's order, a prompt's rows tinyBLAS's. So a sequence's result
 * does not depend on which other sequences share the batch. */
void hearth_lora_apply(hearth_ctx *c, const hearth_batch *b, const int32_t *row_of, float *y, int l,
                       hearth_lora_target t, const float *x, int n_tok) {
    /* llama.cpp narrows the last layer to the rows with logits after the output projection:
     * attn_output there still sees every row of the batch, the FFN only the narrowed ones */
    int seq_rows[HEARTH_MAX_SEQ] = {0};
    if (t == LORA_O)
        for (int r = 0; r < b->n_tokens; r++)
            seq_rows[b->seq_id[r]]++;
    else
        for (int r = 0; r < n_tok; r++)
            seq_rows[b->seq_id[row_of ? row_of[r] : r]]++;
    for (int i = 0; i < c->n_lora; i++) {
        const hearth_lora *a = c->m->lora[i];
        const hearth_lora_pair *p = &a->pair[(size_t)l * LORA_N_TARGETS + t];
        if (!p->a.data) continue;
        const float *scales = c->lora_scale + (size_t)i * HEARTH_MAX_SEQ;
        const int64_t n_in = p->a.n_in, rank = p->a.n_out;
        /* the rows whose sequence uses this adapter (the others cost nothing), in two passes:
         * rows of multi-row sequences, then single rows */
        for (int pass = 0; pass < 2; pass++) {
            const bool tiled = pass == 0;
            int k = 0;
            for (int r = 0; r < n_tok; r++) {
                const int32_t sq = b->seq_id[row_of ? row_of[r] : r];
                const float s = scales[sq];
                if (s == 0.0f || (seq_rows[sq] >= 2) != tiled) continue;
                c->lora_rows[k] = r;
                c->lora_s[k] = s * a->alpha / (float)rank; /* llama.cpp's order */
                k++;
            }
            if (k == 0) continue;
            const float *xin = x;
            if (k < n_tok) {
                for (int j = 0; j < k; j++)
                    memcpy(c->lora_x + (size_t)j * n_in, x + (size_t)c->lora_rows[j] * n_in,
                           (size_t)n_in * sizeof(float));
                xin = c->lora_x;
            }
            apply_rows(c, p, y, xin, k, tiled);
        }
    }
}

/* ---- Random adapters ---- */

int hearth_lora_targets_parse(const char *s, unsigned *out) {
    unsigned bits = 0;
    while (*s) {
        size_t n = strcspn(s, ",");
        int found = -1;
        for (int k = 0; k < LORA_N_TARGETS; k++)
            if (strlen(target_short[k]) == n && !strncmp(s, target_short[k], n)) found = k;
        if (found < 0) return -1;
        bits |= 1u << found;
        s += n;
        if (*s == ',') s++;
    }
    if (!bits) return -1;
    *out = bits;
    return 0;
}

static uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t hash_str(const char *s) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 0x100000001b3ull;
    return h;
}

/* n values ~ N(0, std) (sum of four 16-bit uniforms), a function of (seed, name) only */
static void fill(float *v, size_t n, float std, uint64_t seed, const char *name) {
    uint64_t st = mix64(seed ^ hash_str(name));
    const float center = 131070.0f, scale = std / 37837.23f;
    for (size_t i = 0; i < n; i++) {
        uint64_t z = mix64(st += 0x9e3779b97f4a7c15ull);
        uint32_t s = (uint32_t)(z & 0xffff) + (uint32_t)((z >> 16) & 0xffff) +
                     (uint32_t)((z >> 32) & 0xffff) + (uint32_t)(z >> 48);
        v[i] = ((float)s - center) * scale;
    }
}

int hearth_lora_make(const char *base_path, int32_t rank, float alpha, unsigned targets,
                     uint64_t seed, const char *out_path, he_error *err) {
    if (rank < 1 || rank > 4096)
        return he_fail(err, HE_INVALID, "make-lora: rank %d is out of range [1, 4096]", rank);
    hearth_model_params mp = hearth_model_params_default();
    mp.load_vocab = false;
    hearth_model *m = hearth_model_load(base_path, &mp, err);
    if (!m) return -1;
    gguf_writer *w = gguf_writer_new();
    gguf_writer_set_str(w, "general.architecture", m->arch->name);
    gguf_writer_set_str(w, "general.type", "adapter");
    gguf_writer_set_str(w, "general.name", "hearth random LoRA");
    gguf_writer_set_str(w, "adapter.type", "lora");
    gguf_writer_set_f32(w, "adapter.lora.alpha", alpha > 0 ? alpha : (float)rank);
    float **bufs = NULL;
    int nbuf = 0, rc = -1;
    for (int l = 0; l < m->hp.n_layer; l++)
        for (int k = 0; k < LORA_N_TARGETS; k++) {
            const hearth_weight *bw = base_weight(m, l, k);
            if (!(targets & (1u << k)) || !bw->data) continue;
            float **nb = realloc(bufs, (size_t)(nbuf + 2) * sizeof *nb);
            if (!nb) {
                he_fail(err, HE_NOMEM, "make-lora: out of memory");
                goto done;
            }
            bufs = nb;
            const size_t na = (size_t)bw->n_in * (size_t)rank,
                         nbb = (size_t)rank * (size_t)bw->n_out;
            bufs[nbuf] = he_malloc(na * sizeof(float));
            bufs[nbuf + 1] = he_malloc(nbb * sizeof(float));
            nbuf += 2;
            if (!bufs[nbuf - 2] || !bufs[nbuf - 1]) {
                he_fail(err, HE_NOMEM, "make-lora: out of memory");
                goto done;
            }
            char na_[80], nb_[80];
            snprintf(na_, sizeof na_, "blk.%d.%s.weight.lora_a", l, target_names[k]);
            snprintf(nb_, sizeof nb_, "blk.%d.%s.weight.lora_b", l, target_names[k]);
            fill(bufs[nbuf - 2], na, 0.02f, seed, na_);
            fill(bufs[nbuf - 1], nbb, 0.1f, seed, nb_);
            const int64_t nea[2] = {bw->n_in, rank}, neb[2] = {rank, bw->n_out};
            if (gguf_writer_add_tensor(w, na_, TENSOR_TYPE_F32, 2, nea, bufs[nbuf - 2], err) ||
                gguf_writer_add_tensor(w, nb_, TENSOR_TYPE_F32, 2, neb, bufs[nbuf - 1], err))
                goto done;
        }
    if (nbuf == 0) {
        he_fail(err, HE_INVALID, "make-lora: the base has none of the requested targets");
        goto done;
    }
    rc = gguf_writer_write(w, out_path, err);
done:
    for (int i = 0; i < nbuf; i++)
        free(bufs[i]);
    free(bufs);
    gguf_writer_free(w);
    hearth_model_free(m);
    return rc;
}

/* ---- Merging (`hearth lora merge`) ---- */

/* A (r rows of n_in) or B (n_out rows of r) as f32 (malloc'd) */
static float *lora_f32(const hearth_weight *w) {
    const size_t n = (size_t)w->n_in * (size_t)w->n_out;
    float *v = he_malloc(n * sizeof(float));
    if (!v) return NULL;
    if (w->type == TENSOR_TYPE_F32)
        memcpy(v, w->data, n * sizeof(float));
    else
        tensor_traits_of((uint32_t)w->type)->to_float(w->data, v, (int64_t)n);
    return v;
}

/* W + sc * B A of one base weight, in W's type (malloc'd, *nbytes set), row by row: dequantize,
 * add the row of the low-rank product (summed in f32 over the rank, as the runtime path), and
 * quantize back with the type's reference quantizer. */
/* as_f32: the merged rows stay f32 (for a --type conversion after), else back in w's type */
static void *merge_weight(const hearth_weight *w, const hearth_lora_pair *p, float sc, bool as_f32,
                          size_t *nbytes, he_error *err) {
    const tensor_traits *tr = tensor_traits_of((uint32_t)w->type);
    if (w->type != TENSOR_TYPE_F32 && (!tr || !tr->to_float || (!as_f32 && !tr->from_float))) {
        he_fail(err, HE_UNSUPPORTED,
                "lora merge: cannot requantize weights of type %s (hearth has no quantizer for "
                "it; merge with --type T to write another type)",
                tr ? tr->name : "?");
        return NULL;
    }
    const int64_t n_in = w->n_in, n_out = w->n_out, r = p->a.n_out;
    const size_t in_row = tensor_row_size(w->type, n_in);
    const size_t row = as_f32 ? (size_t)n_in * sizeof(float) : in_row;
    uint8_t *out = he_malloc(row * (size_t)n_out);
    float *a = lora_f32(&p->a), *b = lora_f32(&p->b);
    float *x = he_malloc((size_t)n_in * sizeof(float));
    if (!out || !a || !b || !x) {
        he_fail(err, HE_NOMEM, "lora merge: out of memory");
        free(out);
        out = NULL;
        goto done;
    }
    for (int64_t o = 0; o < n_out; o++) {
        const uint8_t *src = (const uint8_t *)w->data + (size_t)o * in_row;
        if (w->type == TENSOR_TYPE_F32)
            memcpy(x, src, (size_t)n_in * sizeof(float));
        else
            tr->to_float(src, x, n_in);
        const float *bo = b + (size_t)o * r;
        for (int64_t i = 0; i < n_in; i++) {
            float d = 0.0f;
            for (int64_t k = 0; k < r; k++)
                d += bo[k] * a[(size_t)k * n_in + i];
            x[i] += d * sc;
        }
        if (as_f32 || w->type == TENSOR_TYPE_F32)
            memcpy(out + (size_t)o * row, x, (size_t)n_in * sizeof(float));
        else
            tr->from_float(x, out + (size_t)o * row, n_in);
    }
    *nbytes = row * (size_t)n_out;
done:
    free(a);
    free(b);
    free(x);
    return out;
}

/* The merge itself; as_f32: adapted weights written as F32 (the --type path converts after). */
static int merge_file(const char *base_path, const char *lora_path, float scale, bool as_f32,
                      const char *out_path, he_error *err) {
    hearth_model_params mp = hearth_model_params_default();
    mp.load_vocab = false;
    hearth_model *m = hearth_model_load(base_path, &mp, err);
    if (!m) return -1;
    hearth_lora *a = hearth_lora_load(m, lora_path, err);
    if (!a) {
        hearth_model_free(m);
        return -1;
    }
    int rc = -1;
    const gguf_file *f = m->file;
    gguf_writer *w = gguf_writer_new();
    if (gguf_find_key(f, "general.alignment") >= 0)
        gguf_writer_set_alignment(w, (uint32_t)gguf_alignment(f));
    for (int64_t i = 0; i < gguf_n_kv(f); i++)
        gguf_writer_copy_kv(w, f, i);
    const int64_t nt = gguf_n_tensors(f);
    void **bufs = he_calloc((size_t)nt + 1, sizeof *bufs);
    if (!bufs) {
        he_fail(err, HE_NOMEM, "lora merge: out of memory");
        goto done;
    }
    for (int64_t i = 0; i < nt; i++) {
        const gguf_tensor *t = gguf_tensor_at(f, i);
        char name[96];
        if (t->name.len >= sizeof name) {
            he_fail(err, HE_LIMIT, "lora merge: a tensor name is too long");
            goto done;
        }
        memcpy(name, t->name.ptr, t->name.len);
        name[t->name.len] = 0;
        const void *data = t->data;
        int l = -1, k = -1;
        char tail[64];
        if (sscanf(name, "blk.%d.%63s", &l, tail) == 2 && l >= 0 && l < m->hp.n_layer)
            for (int q = 0; q < LORA_N_TARGETS; q++) {
                char want[64];
                snprintf(want, sizeof want, "%s.weight", target_names[q]);
                if (!strcmp(tail, want)) k = q;
            }
        if (k >= 0 && a->pair[(size_t)l * LORA_N_TARGETS + k].a.data) {
            const hearth_lora_pair *p = &a->pair[(size_t)l * LORA_N_TARGETS + k];
            const float sc = scale * a->alpha / (float)p->a.n_out;
            size_t nb = 0;
            bufs[i] = merge_weight(base_weight(m, l, k), p, sc, as_f32, &nb, err);
            if (!bufs[i]) goto done;
            data = bufs[i];
            if (as_f32) {
                if (gguf_writer_add_tensor(w, name, TENSOR_TYPE_F32, t->n_dims, t->ne, data, err))
                    goto done;
                continue;
            }
        }
        if (gguf_writer_add_tensor(w, name, t->type, t->n_dims, t->ne, data, err)) goto done;
    }
    rc = gguf_writer_write(w, out_path, err);
done:
    for (int64_t i = 0; bufs && i < nt; i++)
        free(bufs[i]);
    free(bufs);
    gguf_writer_free(w);
    hearth_lora_free(a);
    hearth_model_free(m);
    return rc;
}

int hearth_lora_merge(const char *base_path, const char *lora_path, float scale, const char *type,
                      const char *out_path, he_error *err) {
    if (!type) return merge_file(base_path, lora_path, scale, false, out_path, err);
    quant_ftype ft;
    if (quant_ftype_from_name(type, &ft, err)) return -1;
    /* merged in f32 into a file beside the output, then converted as `hearth quantize` does:
     * the adapted weights are rounded to the target type once, from their f32 sums */
    const size_t n = strlen(out_path) + 16;
    char *tmp = he_malloc(n);
    if (!tmp) return he_fail(err, HE_NOMEM, "lora merge: out of memory");
    snprintf(tmp, n, "%s.f32-merge", out_path);
    int rc = merge_file(base_path, lora_path, scale, true, tmp, err);
    if (rc == 0) rc = quant_model_file(tmp, out_path, ft, 0, err);
    unlink(tmp);
    free(tmp);
    return rc;
}
