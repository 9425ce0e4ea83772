/* load.c — opening a model: architecture lookup, hyperparameters, binding the weights.
 *
 * Every hyperparameter is range-checked before it sizes anything, and every tensor's type and
 * shape is checked against them (SECURITY.md G25), so the forward pass can index without
 * checks. Missing tensors are collected and reported together. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/log.h"
#include "model/model_internal.h"
#include "tensor/matmul.h"

/* ---- Hyperparameters ---- */

typedef struct {
    gguf_file *f;
    const char *arch;
    he_error *err;
} kv_reader;

/* Reads integer {arch}.{key} into *out within [lo, hi]; def < 0 means required. */
static int read_int(kv_reader *r, const char *key, int64_t def, int64_t lo, int64_t hi,
                    int32_t *out) {
    char full[128];
    snprintf(full, sizeof full, "%s.%s", r->arch, key);
    int64_t v;
    int rc = gguf_find_i64(r->f, full, &v, r->err);
    if (rc < 0) return -1;
    if (rc == 0) {
        if (def < 0) return he_fail(r->err, HE_FORMAT, "model: missing metadata key '%s'", full);
        v = def;
    }
    if (v < lo || v > hi)
        return he_fail(r->err, HE_FORMAT,
                       "model: metadata '%s' = %lld is out of range [%lld, %lld]", full,
                       (long long)v, (long long)lo, (long long)hi);
    *out = (int32_t)v;
    return 0;
}

static int read_float(kv_reader *r, const char *key, double def, double lo, double hi, float *out) {
    char full[128];
    snprintf(full, sizeof full, "%s.%s", r->arch, key);
    double v;
    int rc = gguf_find_f64(r->f, full, &v, r->err);
    if (rc < 0) return -1;
    if (rc == 0) {
        if (isnan(def)) return he_fail(r->err, HE_FORMAT, "model: missing metadata key '%s'", full);
        v = def;
    }
    if (!(v >= lo && v <= hi)) /* also rejects NaN */
        return he_fail(r->err, HE_FORMAT, "model: metadata '%s' = %g is out of range [%g, %g]",
                       full, v, lo, hi);
    *out = (float)v;
    return 0;
}

/* Fails naming {arch}.key when the file sets it to something other than what hearth computes. */
static int refuse_key(kv_reader *r, const char *key, const char *what) {
    return he_fail(r->err, HE_UNSUPPORTED, "model: metadata '%s.%s': %s is not supported",
                   r->arch, key, what);
}

static int key_present(kv_reader *r, const char *key) {
    char full[128];
    snprintf(full, sizeof full, "%s.%s", r->arch, key);
    return gguf_find_key(r->f, full) >= 0;
}

/* Mixture-of-experts keys, as llama.cpp's converter writes them: expert_count,
 * expert_used_count, expert_feed_forward_length (default: feed_forward_length for llama,
 * feed_forward_length / expert_used_count for qwen2moe, as llama.cpp), the shared expert's
 * expert_shared_feed_forward_length (default feed_forward_length), expert_weights_norm (the
 * architecture's default: Mixtral and Qwen3-MoE renormalize, Qwen2-MoE does not). Keys that
 * would change the computation in ways hearth does not implement are refused by name. */
static int read_moe_hparams(hearth_model *m, kv_reader *r) {
    hearth_hparams *hp = &m->hp;
    const hearth_arch *a = m->arch;
    if (a->ffn == ARCH_FFN_DENSE) return 0;
    bool required = a->ffn == ARCH_FFN_MOE;
    if (read_int(r, "expert_count", required ? -1 : 0, required ? 1 : 0, HEARTH_MAX_EXPERTS,
                 &hp->n_expert))
        return -1;
    if (hp->n_expert == 0) return 0;
    if (read_int(r, "expert_used_count", -1, 1, hp->n_expert, &hp->n_expert_used)) return -1;
    int32_t def_ff = a->shared_expert ? hp->n_ff / hp->n_expert_used : hp->n_ff;
    if (def_ff < 1) def_ff = 1;
    if (read_int(r, "expert_feed_forward_length", def_ff, 1, 1 << 20, &hp->n_ff_exp)) return -1;
    if (a->shared_expert &&
        read_int(r, "expert_shared_feed_forward_length", hp->n_ff, 1, 1 << 20, &hp->n_ff_shexp))
        return -1;
    hp->moe_norm_w = a->moe_norm_w;
    char full[128];
    snprintf(full, sizeof full, "%s.expert_weights_norm", r->arch);
    bool norm;
    int rc = gguf_find_bool(r->f, full, &norm, r->err);
    if (rc < 0) return -1;
    if (rc > 0) hp->moe_norm_w = norm;
    int32_t v;
    if (key_present(r, "expert_gating_func")) {
        if (read_int(r, "expert_gating_func", 1, 0, 1 << 30, &v)) return -1;
        if (v != 1) return refuse_key(r, "expert_gating_func", "a gating function other than softmax (1)");
    }
    if (key_present(r, "expert_shared_count")) {
        if (read_int(r, "expert_shared_count", 0, 0, 1 << 30, &v)) return -1;
        if (v != (a->shared_expert ? 1 : 0))
            return refuse_key(r, "expert_shared_count", a->shared_expert ? "a count other than 1" : "a shared expert");
    }
    if (key_present(r, "expert_weights_scale")) {
        float sc;
        if (read_float(r, "expert_weights_scale", 1.0, -1e9, 1e9, &sc)) return -1;
        if (sc != 1.0f) return refuse_key(r, "expert_weights_scale", "a scale other than 1");
    }
    if (key_present(r, "leading_dense_block_count"))
        return refuse_key(r, "leading_dense_block_count", "dense leading layers");
    if (key_present(r, "expert_group_count"))
        return refuse_key(r, "expert_group_count", "grouped expert routing");
    return 0;
}

static int read_hparams(hearth_model *m, he_error *err) {
    kv_reader r = {m->file, m->arch->name, err};
    hearth_hparams *hp = &m->hp;
    if (read_int(&r, "embedding_length", -1, 1, 65536, &hp->n_embd) ||
        read_int(&r, "block_count", -1, 1, HEARTH_MAX_LAYERS, &hp->n_layer) ||
        read_int(&r, "feed_forward_length", -1, 1, 1 << 20, &hp->n_ff) ||
        read_int(&r, "attention.head_count", -1, 1, 1024, &hp->n_head) ||
        read_int(&r, "attention.head_count_kv", hp->n_head, 1, hp->n_head, &hp->n_head_kv) ||
        read_int(&r, "context_length", 2048, 1, 1 << 24, &hp->n_ctx_train) ||
        read_float(&r, "attention.layer_norm_rms_epsilon", (double)NAN, 1e-12, 1.0, &hp->eps) ||
        read_float(&r, "rope.freq_base", 10000.0, 1e-3, 1e12, &hp->rope_base))
        return -1;
    if (hp->n_head % hp->n_head_kv != 0)
        return he_fail(err, HE_FORMAT, "model: head_count %d is not a multiple of head_count_kv %d",
                       hp->n_head, hp->n_head_kv);
    /* Head size: explicit (Qwen3: key_length 128 with n_embd/n_head = 64) or n_embd / n_head. */
    int32_t def_hd = hp->n_embd % hp->n_head == 0 ? hp->n_embd / hp->n_head : -1;
    if (read_int(&r, "attention.key_length", def_hd, 2, 1024, &hp->head_dim_k) ||
        read_int(&r, "attention.value_length", hp->head_dim_k, 1, 1024, &hp->head_dim_v))
        return -1;
    if (read_int(&r, "rope.dimension_count", hp->head_dim_k, 2, hp->head_dim_k, &hp->n_rot))
        return -1;
    if (hp->n_rot % 2)
        return he_fail(err, HE_FORMAT, "model: rope.dimension_count %d must be even", hp->n_rot);
    if ((int64_t)hp->n_head * hp->head_dim_k > (1 << 20) ||
        (int64_t)hp->n_head * hp->head_dim_v > (1 << 20))
        return he_fail(err, HE_FORMAT, "model: head_count %d x head size %d is too large",
                       hp->n_head, hp->head_dim_k);
    hp->kq_scale = 1.0f / sqrtf((float)hp->head_dim_k);
    if (m->arch->read_hparams && m->arch->read_hparams(m, m->file, err)) return -1;
    return read_moe_hparams(m, &r);
}

/* gpt-oss, as llama.cpp reads it: attention.sliding_window (default 128) on the even layers
 * (layer 0 slides). */
int hearth_read_gpt_oss(hearth_model *m, gguf_file *f, he_error *err) {
    kv_reader r = {f, m->arch->name, err};
    hearth_hparams *hp = &m->hp;
    if (read_int(&r, "attention.sliding_window", 128, 1, 1 << 24, &hp->n_swa)) return -1;
    hp->swa_pattern = 2;
    return 0;
}

/* Gemma 2, as llama.cpp reads it: attention.sliding_window (default 4096) on the even layers,
 * attn_logit_softcapping (default 50) and final_logit_softcapping (default 30), embeddings
 * times sqrt(n_embd). The query scale is not in the GGUF (llama.cpp's converter drops
 * query_pre_attn_scalar): llama.cpp uses 1/sqrt(head_dim) except for the 27B model (46 layers),
 * whose query_pre_attn_scalar is n_embd / n_head; so does hearth. Q is scaled after RoPE and
 * the softmax scale is then 1. */
int hearth_read_gemma2(hearth_model *m, gguf_file *f, he_error *err) {
    kv_reader r = {f, m->arch->name, err};
    hearth_hparams *hp = &m->hp;
    if (read_int(&r, "attention.sliding_window", 4096, 1, 1 << 24, &hp->n_swa) ||
        read_float(&r, "attn_logit_softcapping", 50.0, 1e-6, 1e9, &hp->attn_softcap) ||
        read_float(&r, "final_logit_softcapping", 30.0, 1e-6, 1e9, &hp->final_softcap))
        return -1;
    hp->swa_pattern = 2;
    hp->embd_scale = sqrtf((float)hp->n_embd);
    const int hd = hp->n_layer == 46 ? hp->n_embd / hp->n_head : hp->head_dim_k;
    hp->q_scale = 1.0f / sqrtf((float)hd);
    hp->kq_scale = 1.0f;
    return 0;
}

/* ggml's YaRN correction dim: where the rotation of n_rot_beta turns over n_ctx_orig */
static float yarn_corr_dim(int n_dims, int n_ctx_orig, float n_rot_beta, float base) {
    return (float)n_dims * logf((float)n_ctx_orig / (n_rot_beta * 2.0f * (float)M_PI)) /
           (2.0f * logf(base));
}

/* YaRN (Qwen 2.5 at 128K), as llama.cpp sets it up: rope.scaling.factor (freq_scale = 1 /
 * factor), rope.scaling.original_context_length (default context_length), the attention
 * factor (m->rope.mscale, read by rope_setup), extrapolation mix 1, beta_fast 32 and beta_slow
 * 1 (its defaults; not in the GGUF). The corrections dims are ggml's (floor/ceil, clamped). */
static int yarn_setup(hearth_model *m, kv_reader *r) {
    hearth_hparams *hp = &m->hp;
    float factor;
    if (read_float(r, "rope.scaling.factor", (double)NAN, 1.0, 1024.0, &factor)) return -1;
    if (key_present(r, "rope.scaling.yarn_log_multiplier"))
        return refuse_key(r, "rope.scaling.yarn_log_multiplier", "a YaRN log multiplier");
    if (read_int(r, "rope.scaling.original_context_length", hp->n_ctx_train, 1, 1 << 24,
                 &m->rope_orig_ctx))
        return -1;
    const float beta_fast = 32.0f, beta_slow = 1.0f;
    const int32_t orig = m->rope_orig_ctx;
    float start = floorf(yarn_corr_dim(hp->n_rot, orig, beta_fast, hp->rope_base));
    float end = ceilf(yarn_corr_dim(hp->n_rot, orig, beta_slow, hp->rope_base));
    m->rope.yarn = true;
    m->rope.corr0 = fmaxf(0.0f, start);
    m->rope.corr1 = fminf((float)(hp->n_rot - 1), end);
    m->rope.freq_scale = 1.0f / factor;
    return 0;
}

/* Phi-3 LongRoPE, as llama.cpp's converter stores it: rope_factors_short.weight and
 * rope_factors_long.weight (f32 [n_rot/2], per-frequency divisors of the angle), the long ones
 * for contexts above rope.scaling.original_context_length (hearth_forward chooses), and
 * rope.scaling.attn_factor on cos and sin in both (already in m->rope.mscale). */
static int longrope_setup(hearth_model *m, const gguf_tensor *fs, const gguf_tensor *fl,
                          he_error *err) {
    const int half = m->hp.n_rot / 2;
    const char *names[2] = {"rope_factors_short.weight", "rope_factors_long.weight"};
    const gguf_tensor *ts[2] = {fs, fl};
    if (strcmp(m->arch->name, "phi3"))
        return he_fail(err, HE_UNSUPPORTED,
                       "model: tensor '%s': LongRoPE factors are supported for phi3 only",
                       fs ? names[0] : names[1]);
    if (!fs || !fl)
        return he_fail(err, HE_FORMAT, "model: tensor '%s' is missing (LongRoPE needs both)",
                       fs ? names[1] : names[0]);
    kv_reader r = {m->file, m->arch->name, err};
    if (read_int(&r, "rope.scaling.original_context_length", m->hp.n_ctx_train, 1, 1 << 24,
                 &m->rope_orig_ctx))
        return -1;
    m->rope_div_long = xmalloc((size_t)half * sizeof(float));
    float *dst[2] = {m->rope_div, m->rope_div_long};
    for (int k = 0; k < 2; k++) {
        const gguf_tensor *t = ts[k];
        if (t->type != TENSOR_TYPE_F32 || t->ne[0] != half || t->ne[1] != 1 || t->ne[2] != 1 ||
            t->ne[3] != 1)
            return he_fail(err, HE_FORMAT, "model: tensor '%s': expected f32 [%d]", names[k], half);
        for (int i = 0; i < half; i++) {
            float v;
            memcpy(&v, (const float *)t->data + i, sizeof v);
            if (!(v > 0.0f) || !isfinite(v))
                return he_fail(err, HE_FORMAT,
                               "model: tensor '%s': element %d = %g is not a positive factor",
                               names[k], i, (double)v);
            dst[k][i] = v;
        }
    }
    m->rope_long = m->rope;
    m->rope_long.div = m->rope_div_long;
    return 0;
}

/* RoPE tables: the angle step and divisors of m->rope, with Llama-3 scaling from the rope_freqs
 * tensor (divisors, as llama.cpp's converter stores them) or from rope.scaling.* metadata,
 * linear or YaRN scaling, Phi-3's LongRoPE factors; Gemma 3's local-layer table. */
static int rope_setup(hearth_model *m, he_error *err) {
    hearth_hparams *hp = &m->hp;
    int half = hp->n_rot / 2;
    kv_reader r = {m->file, m->arch->name, err};
    m->inv_freq = xmalloc((size_t)half * sizeof(float));
    m->rope_div = xmalloc((size_t)half * sizeof(float));
    for (int i = 0; i < half; i++) {
        m->inv_freq[i] = (float)pow((double)hp->rope_base, -2.0 * i / hp->n_rot);
        m->rope_div[i] = 1.0f;
    }
    m->rope_theta_scale = powf(hp->rope_base, -2.0f / (float)hp->n_rot);
    m->rope = (hearth_rope){
        .theta_scale = m->rope_theta_scale, .div = m->rope_div, .freq_scale = 1.0f, .mscale = 1.0f};
    /* llama.cpp multiplies every architecture's cos and sin by rope.scaling.attn_factor */
    if (read_float(&r, "rope.scaling.attn_factor", 1.0, 1e-3, 1e3, &m->rope.mscale)) return -1;
    m->rope_orig_ctx = hp->n_ctx_train; /* read where it matters: YaRN, LongRoPE */
    if (hp->swa_rope_base > 0.0f) {
        m->rope_div_ones = xmalloc((size_t)half * sizeof(float));
        for (int i = 0; i < half; i++)
            m->rope_div_ones[i] = 1.0f;
        m->rope_swa =
            (hearth_rope){.theta_scale = powf(hp->swa_rope_base, -2.0f / (float)hp->n_rot),
                          .div = m->rope_div_ones,
                          .freq_scale = 1.0f,
                          .mscale = 1.0f};
    }

    const gguf_tensor *ff = gguf_tensor_find(m->file, "rope_freqs.weight");
    const gguf_tensor *fs = gguf_tensor_find(m->file, "rope_factors_short.weight");
    const gguf_tensor *fl = gguf_tensor_find(m->file, "rope_factors_long.weight");
    if (ff && (fs || fl))
        return he_fail(err, HE_UNSUPPORTED,
                       "model: tensor 'rope_freqs.weight' together with LongRoPE factors is not "
                       "supported");
    if (fs || fl) {
        if (longrope_setup(m, fs, fl, err)) return -1;
    } else if (ff) {
        if (ff->type != TENSOR_TYPE_F32 || ff->ne[0] != half || ff->ne[1] != 1 || ff->ne[2] != 1 ||
            ff->ne[3] != 1)
            return he_fail(err, HE_FORMAT, "model: tensor 'rope_freqs.weight': expected f32 [%d]",
                           half);
        const float *d = ff->data;
        for (int i = 0; i < half; i++) {
            float v;
            memcpy(&v, &d[i], sizeof v);
            if (!(v > 0.0f) || !isfinite(v))
                return he_fail(
                    err, HE_FORMAT,
                    "model: tensor 'rope_freqs.weight': element %d = %g is not a positive factor",
                    i, (double)v);
            m->inv_freq[i] /= v;
            m->rope_div[i] = v;
        }
        return 0;
    }
    char key[128];
    gguf_str type;
    snprintf(key, sizeof key, "%s.rope.scaling.type", m->arch->name);
    int rc = gguf_find_str(m->file, key, &type, err);
    if (rc < 0) return -1;
    if (rc == 0 || (type.len == 4 && !memcmp(type.ptr, "none", 4))) return 0;
    if (m->rope_div_long)
        return refuse_key(&r, "rope.scaling.type", "a scaling type together with LongRoPE factors");
    if (type.len == 4 && !memcmp(type.ptr, "yarn", 4)) return yarn_setup(m, &r);
    if (type.len == 6 && !memcmp(type.ptr, "linear", 6)) {
        /* angles times 1 / factor (Gemma 3: its global layers only; rope_swa stays unscaled) */
        float factor;
        if (read_float(&r, "rope.scaling.factor", 1.0, 1e-3, 1024.0, &factor)) return -1;
        m->rope.freq_scale = 1.0f / factor;
        for (int i = 0; i < half; i++)
            m->inv_freq[i] /= factor;
        return 0;
    }
    if (!(type.len == 6 && !memcmp(type.ptr, "llama3", 6)))
        return he_fail(err, HE_UNSUPPORTED,
                       "model: rope.scaling.type '%.*s' is not supported (llama3, yarn, linear)",
                       (int)(type.len > 64 ? 64 : type.len), type.ptr);
    float factor_f, lo_ff, hi_ff;
    int32_t orig;
    if (read_float(&r, "rope.scaling.factor", 8.0, 1.0, 1024.0, &factor_f) ||
        read_float(&r, "rope.scaling.low_freq_factor", 1.0, 1e-3, 1e3, &lo_ff) ||
        read_float(&r, "rope.scaling.high_freq_factor", 4.0, 1e-3, 1e3, &hi_ff) ||
        read_int(&r, "rope.scaling.original_context_length", 8192, 1, 1 << 24, &orig))
        return -1;
    double factor = (double)factor_f, lo_f = (double)lo_ff, hi_f = (double)hi_ff;
    if (!(hi_f > lo_f))
        return he_fail(err, HE_FORMAT,
                       "model: rope.scaling high_freq_factor %g must exceed low_freq_factor %g",
                       hi_f, lo_f);
    double lo_wavelen = orig / (double)lo_f, hi_wavelen = orig / (double)hi_f;
    for (int i = 0; i < half; i++) {
        double f = (double)m->inv_freq[i], wavelen = 2.0 * M_PI / f;
        if (wavelen < hi_wavelen) continue; /* high frequencies: unchanged */
        if (wavelen > lo_wavelen) {
            f /= factor;
        } else {
            double smooth = (orig / wavelen - lo_f) / (hi_f - lo_f);
            f = (1.0 - smooth) * f / factor + smooth * f;
        }
        m->rope_div[i] = (float)((double)m->inv_freq[i] / f);
        m->inv_freq[i] = (float)f;
    }
    return 0;
}

/* {arch}.attention.sliding_window_pattern, which newer converters write as one bool per layer
 * (true: sliding) or as a period P (layer l slides when l % P < P - 1): accepted when it says
 * what hp->swa_pattern already does, refused naming the key otherwise. */
static int check_swa_pattern(hearth_model *m, kv_reader *r) {
    const hearth_hparams *hp = &m->hp;
    char full[128];
    snprintf(full, sizeof full, "%s.attention.sliding_window_pattern", r->arch);
    gguf_value arr, e;
    int rc = gguf_find_arr(r->f, full, GGUF_TYPE_BOOL, &arr, r->err);
    if (rc == 1) {
        if (arr.n != (uint64_t)hp->n_layer)
            return refuse_key(r, "attention.sliding_window_pattern",
                              "a length other than block_count");
        for (int l = 0; l < hp->n_layer; l++) {
            bool b;
            if (gguf_value_elem(&arr, (uint64_t)l, &e, r->err) || gguf_value_bool(&e, &b, r->err))
                return -1;
            if (b != (l % hp->swa_pattern < hp->swa_pattern - 1))
                return refuse_key(r, "attention.sliding_window_pattern",
                                  "a layer pattern other than five sliding layers to one global");
        }
        return 0;
    }
    int64_t period;
    if (gguf_find_i64(r->f, full, &period, r->err) == 1 && period == hp->swa_pattern) return 0;
    return refuse_key(r, "attention.sliding_window_pattern",
                      "a layer pattern other than five sliding layers to one global");
}

/* Gemma 3 (text), as llama.cpp reads it: attention.sliding_window (required) on five of every
 * six layers (layer l is global when (l + 1) % 6 == 0, HF's sliding_window_pattern 6), those
 * local layers with their own RoPE base (rope.freq_base_swa, default 10000: HF's
 * rope_local_base_freq; llama.cpp fixes it) and no RoPE scaling, the global ones with
 * rope.freq_base and rope.scaling (linear) (attention.sliding_window_pattern, when a converter
 * writes it, must say the same); embeddings times sqrt(n_embd); Q times
 * query_pre_attn_scalar^-1/2 after RoPE, which the converter does not write: llama.cpp uses
 * head_dim except for the 27B model (62 layers), whose scalar is n_embd / n_head, and so does
 * hearth. No attention soft-capping (attn_logit_softcapping is refused); the final soft-cap
 * when final_logit_softcapping is present (llama.cpp reads it for fine-tunes that set it). */
int hearth_read_gemma3(hearth_model *m, gguf_file *f, he_error *err) {
    kv_reader r = {f, m->arch->name, err};
    hearth_hparams *hp = &m->hp;
    if (read_int(&r, "attention.sliding_window", -1, 1, 1 << 24, &hp->n_swa) ||
        read_float(&r, "final_logit_softcapping", 0.0, 0.0, 1e9, &hp->final_softcap) ||
        read_float(&r, "rope.freq_base_swa", 10000.0, 1e-3, 1e12, &hp->swa_rope_base))
        return -1;
    if (key_present(&r, "attn_logit_softcapping"))
        return refuse_key(&r, "attn_logit_softcapping", "attention soft-capping on gemma3");
    hp->swa_pattern = 6;
    if (key_present(&r, "attention.sliding_window_pattern") && check_swa_pattern(m, &r)) return -1;
    hp->embd_scale = sqrtf((float)hp->n_embd);
    const int hd = hp->n_layer == 62 ? hp->n_embd / hp->n_head : hp->head_dim_k;
    hp->q_scale = 1.0f / sqrtf((float)hd);
    hp->kq_scale = 1.0f;
    return 0;
}

/* Phi-3, as llama.cpp reads it: attention.sliding_window on every layer, with llama.cpp's
 * defaults for files that lack it (2047 for the 4K-context 32/40-layer models, 262144 for the
 * 128K mini, 131072 for the 128K medium; otherwise required), 0 meaning none (Phi-4's
 * converter writes 0); Q times 1/sqrt(head_dim) after RoPE, softmax scale 1. LongRoPE factors
 * are read by rope_setup. */
int hearth_read_phi3(hearth_model *m, gguf_file *f, he_error *err) {
    kv_reader r = {f, m->arch->name, err};
    hearth_hparams *hp = &m->hp;
    int32_t def = -1;
    if ((hp->n_layer == 32 || hp->n_layer == 40) && hp->n_ctx_train == 4096)
        def = 2047;
    else if (hp->n_layer == 32 && hp->n_head_kv == 32 && hp->n_ctx_train == 131072)
        def = 262144;
    else if (hp->n_layer == 40 && hp->n_ctx_train == 131072)
        def = 131072;
    if (read_int(&r, "attention.sliding_window", def, 0, 1 << 24, &hp->n_swa)) return -1;
    hp->swa_pattern = hp->n_swa > 0 ? 1 : 0;
    hp->q_scale = 1.0f / sqrtf((float)hp->head_dim_k);
    hp->kq_scale = 1.0f;
    return 0;
}

/* ---- Tensors ---- */

typedef enum { W_VEC, W_MAT, W_EMB } weight_kind;

typedef struct {
    hearth_model *m;
    char missing[1024];
    size_t n_missing_len;
    int n_missing;
    he_error *err;
} binder;

static void note_missing(binder *b, const char *name) {
    b->n_missing++;
    size_t cap = sizeof b->missing, len = b->n_missing_len;
    if (len + strlen(name) + 8 >= cap) {
        if (len + 5 < cap && (len < 4 || strcmp(b->missing + len - 3, "...") != 0))
            b->n_missing_len += (size_t)snprintf(b->missing + len, cap - len, ", ...");
        return;
    }
    b->n_missing_len +=
        (size_t)snprintf(b->missing + len, cap - len, "%s%s", len ? ", " : "", name);
}

/* Binds name as a (n_out, n_in) matrix — GGUF ne = [n_in, n_out] — or an (n_in,) vector. */
static int bind3(binder *b, hearth_weight *w, const char *name, weight_kind kind, int64_t n_in,
                 int64_t n_out, int64_t n_mat, bool required) {
    memset(w, 0, sizeof *w);
    const gguf_tensor *t = gguf_tensor_find(b->m->file, name);
    if (!t) {
        if (required) note_missing(b, name);
        return 0;
    }
    int64_t want[GGUF_MAX_DIMS] = {n_in, n_out, n_mat, 1};
    bool ok = true;
    for (int d = 0; d < GGUF_MAX_DIMS; d++)
        ok &= t->ne[d] == want[d];
    if (!ok) {
        if (kind == W_VEC)
            return he_fail(b->err, HE_FORMAT,
                           "model: tensor '%s' has shape [%lld, %lld, %lld, %lld], expected [%lld]",
                           name, (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2],
                           (long long)t->ne[3], (long long)n_in);
        if (n_mat > 1)
            return he_fail(b->err, HE_FORMAT,
                           "model: tensor '%s' has shape [%lld, %lld, %lld, %lld], expected "
                           "[%lld, %lld, %lld]",
                           name, (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2],
                           (long long)t->ne[3], (long long)n_in, (long long)n_out,
                           (long long)n_mat);
        return he_fail(
            b->err, HE_FORMAT,
            "model: tensor '%s' has shape [%lld, %lld, %lld, %lld], expected [%lld, %lld]", name,
            (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2], (long long)t->ne[3],
            (long long)n_in, (long long)n_out);
    }
    const tensor_traits *tr = tensor_traits_of(t->type);
    const char *tname = tr ? tr->name : "unknown";
    /* general.alignment may legally be 1 or 2; the kernels read f32 and f16 fields directly */
    if ((uintptr_t)t->data % 4 != 0)
        return he_fail(b->err, HE_FORMAT,
                       "model: tensor '%s' data at offset %llu is not 4-byte aligned", name,
                       (unsigned long long)t->offset);
    switch (kind) {
    case W_VEC:
        if (t->type != TENSOR_TYPE_F32)
            return he_fail(b->err, HE_UNSUPPORTED, "model: tensor '%s' has type %s, expected f32",
                           name, tname);
        break;
    case W_MAT:
        if (!tensor_matmul_supported((tensor_type)t->type))
            return he_fail(b->err, HE_UNSUPPORTED,
                           "model: tensor '%s': no matmul kernel for type %s", name, tname);
        break;
    case W_EMB:
        if (t->type != TENSOR_TYPE_F32 && !(tr && tr->to_float))
            return he_fail(b->err, HE_UNSUPPORTED, "model: tensor '%s': cannot dequantize type %s",
                           name, tname);
        break;
    }
    w->data = t->data;
    w->type = (tensor_type)t->type;
    w->n_in = n_in;
    w->n_out = n_out;
    w->n_mat = n_mat;
    return 0;
}

static int bind(binder *b, hearth_weight *w, const char *name, weight_kind kind, int64_t n_in,
                int64_t n_out, bool required) {
    return bind3(b, w, name, kind, n_in, n_out, 1, required);
}

/* *part = rows [row0, row0 + rows) of the bound matrix *whole (a fused tensor), a matrix of
 * its own for the blocks; each row's dot does not depend on its neighbours, so the results
 * are those of the fused matmul. */
static int split_rows(binder *b, const hearth_weight *whole, hearth_weight *part, int64_t row0,
                      int64_t rows, const char *name) {
    *part = *whole;
    part->data = (const uint8_t *)whole->data + (size_t)row0 * tensor_row_size(whole->type,
                                                                                whole->n_in);
    part->n_out = rows;
    if ((uintptr_t)part->data % 4 != 0)
        return he_fail(b->err, HE_FORMAT,
                       "model: tensor '%s': row %lld does not start 4-byte aligned", name,
                       (long long)row0);
    return 0;
}

static void track_scratch(hearth_model *m, const hearth_weight *w) {
    if (!w->data) return;
    size_t s = tensor_matmul_scratch(w->type, w->n_in, 1);
    if (s > m->max_act_scratch) m->max_act_scratch = s;
}

int hearth_model_bind(hearth_model *m, he_error *err) {
    if (m->arch->encoder) return hearth_encoder_bind(m, err);
    if (read_hparams(m, err)) return -1;
    hearth_hparams *hp = &m->hp;
    binder b = {.m = m, .err = err};

    const gguf_tensor *te = gguf_tensor_find(m->file, "token_embd.weight");
    if (te) {
        if (te->ne[1] < 1 || te->ne[1] > (1 << 24))
            return he_fail(
                err, HE_FORMAT,
                "model: tensor 'token_embd.weight': %lld rows is not a valid vocabulary size",
                (long long)te->ne[1]);
        hp->n_vocab = (int32_t)te->ne[1];
        if (bind(&b, &m->tok_embd, "token_embd.weight", W_EMB, hp->n_embd, hp->n_vocab, true))
            return -1;
    } else {
        note_missing(&b, "token_embd.weight");
    }
    int64_t E = hp->n_embd, nq = (int64_t)hp->n_head * hp->head_dim_k;
    int64_t nk = (int64_t)hp->n_head_kv * hp->head_dim_k,
            nv = (int64_t)hp->n_head_kv * hp->head_dim_v;
    int64_t no = (int64_t)hp->n_head * hp->head_dim_v;
    if (bind(&b, &m->out_norm, "output_norm.weight", W_VEC, E, 1, true)) return -1;
    if (te && bind(&b, &m->output, "output.weight", W_MAT, E, hp->n_vocab, false)) return -1;

    m->layers = xcalloc((size_t)hp->n_layer, sizeof *m->layers);
    const hearth_arch *a = m->arch;
    for (int l = 0; l < hp->n_layer; l++) {
        hearth_layer *L = &m->layers[l];
        char n[96];
#define BIND(field, suffix, kind, in, out, req)                                                    \
    do {                                                                                           \
        snprintf(n, sizeof n, "blk.%d." suffix, l);                                                \
        if (bind(&b, &L->field, n, kind, in, out, req)) return -1;                                 \
    } while (0)
#define BIND_TO(w, suffix, kind, in, out)                                                          \
    do {                                                                                           \
        snprintf(n, sizeof n, "blk.%d." suffix, l);                                                \
        if (bind(&b, &w, n, kind, in, out, true)) return -1;                                       \
    } while (0)
        BIND(attn_norm, "attn_norm.weight", W_VEC, E, 1, true);
        if (a->fused_qkv) {
            /* one [E, nq + nk + nv] matrix: Q's rows, then K's, then V's */
            hearth_weight qkv;
            BIND_TO(qkv, "attn_qkv.weight", W_MAT, E, nq + nk + nv);
            if (qkv.data && (split_rows(&b, &qkv, &L->wq, 0, nq, n) ||
                             split_rows(&b, &qkv, &L->wk, nq, nk, n) ||
                             split_rows(&b, &qkv, &L->wv, nq + nk, nv, n)))
                return -1;
        } else {
            BIND(wq, "attn_q.weight", W_MAT, E, nq, true);
            BIND(wk, "attn_k.weight", W_MAT, E, nk, true);
            BIND(wv, "attn_v.weight", W_MAT, E, nv, true);
        }
        BIND(wo, "attn_output.weight", W_MAT, no, E, true);
        if (a->qkv_bias) {
            BIND(bq, "attn_q.bias", W_VEC, nq, 1, true);
            BIND(bk, "attn_k.bias", W_VEC, nk, 1, true);
            BIND(bv, "attn_v.bias", W_VEC, nv, 1, true);
        }
        if (a->qk_norm) {
            BIND(q_norm, "attn_q_norm.weight", W_VEC, hp->head_dim_k, 1, true);
            BIND(k_norm, "attn_k_norm.weight", W_VEC, hp->head_dim_k, 1, true);
        }
        if (a->oai) {
            BIND(bo, "attn_output.bias", W_VEC, E, 1, true);
            BIND(attn_sinks, "attn_sinks.weight", W_VEC, hp->n_head, 1, true);
            /* gpt-oss's FFN pre-norm, named as llama.cpp's converter names it */
            BIND(ffn_norm, "post_attention_norm.weight", W_VEC, E, 1, true);
        } else {
            BIND(ffn_norm, "ffn_norm.weight", W_VEC, E, 1, true);
        }
        if (a->post_norms) {
            BIND(attn_post_norm, "post_attention_norm.weight", W_VEC, E, 1, true);
            BIND(ffn_post_norm, "post_ffw_norm.weight", W_VEC, E, 1, true);
        }
        L->swa = hp->swa_pattern == 1 ||
                 (hp->swa_pattern > 1 && l % hp->swa_pattern < hp->swa_pattern - 1);
        L->rope_swa = L->swa && hp->swa_rope_base > 0.0f;
        if (hp->n_expert == 0) {
            L->ffn = a->ffn_gelu ? hearth_ffn_geglu : hearth_ffn_dense;
            if (a->fused_qkv) {
                /* ffn_up [E, 2 n_ff]: the gate's rows, then the up projection's */
                hearth_weight gu;
                BIND_TO(gu, "ffn_up.weight", W_MAT, E, 2 * (int64_t)hp->n_ff);
                if (gu.data && (split_rows(&b, &gu, &L->w_gate, 0, hp->n_ff, n) ||
                                split_rows(&b, &gu, &L->w_up, hp->n_ff, hp->n_ff, n)))
                    return -1;
            } else {
                BIND(w_gate, "ffn_gate.weight", W_MAT, E, hp->n_ff, true);
                BIND(w_up, "ffn_up.weight", W_MAT, E, hp->n_ff, true);
            }
            BIND(w_down, "ffn_down.weight", W_MAT, hp->n_ff, E, true);
        } else {
            /* experts: 3-D tensors, one (n_out, n_in) matrix per expert */
            int64_t X = hp->n_expert, Fe = hp->n_ff_exp, Fs = hp->n_ff_shexp;
            L->ffn = a->moe_ffn ? a->moe_ffn : hearth_ffn_moe;
            BIND(gate_inp, "ffn_gate_inp.weight", W_MAT, E, X, true);
            if (a->oai) {
                BIND(gate_inp_b, "ffn_gate_inp.bias", W_VEC, X, 1, true);
                BIND(gate_exps_b, "ffn_gate_exps.bias", W_VEC, Fe, X, true);
                BIND(up_exps_b, "ffn_up_exps.bias", W_VEC, Fe, X, true);
                BIND(down_exps_b, "ffn_down_exps.bias", W_VEC, E, X, true);
            }
#define BIND3(field, suffix, in, out)                                                              \
    do {                                                                                           \
        snprintf(n, sizeof n, "blk.%d." suffix, l);                                                \
        if (bind3(&b, &L->field, n, W_MAT, in, out, X, true)) return -1;                           \
    } while (0)
            BIND3(gate_exps, "ffn_gate_exps.weight", E, Fe);
            BIND3(up_exps, "ffn_up_exps.weight", E, Fe);
            BIND3(down_exps, "ffn_down_exps.weight", Fe, E);
#undef BIND3
            if (a->shared_expert) {
                BIND(gate_inp_shexp, "ffn_gate_inp_shexp.weight", W_MAT, E, 1, true);
                BIND(gate_shexp, "ffn_gate_shexp.weight", W_MAT, E, Fs, true);
                BIND(up_shexp, "ffn_up_shexp.weight", W_MAT, E, Fs, true);
                BIND(down_shexp, "ffn_down_shexp.weight", W_MAT, Fs, E, true);
            }
        }
#undef BIND
#undef BIND_TO
    }
    if (b.n_missing)
        return he_fail(err, HE_FORMAT, "model: %s model is missing %d tensor%s: %s", a->name,
                       b.n_missing, b.n_missing == 1 ? "" : "s", b.missing);
    if (!m->output.data) {
        /* tied embeddings: the output projection is the embedding table */
        if (!tensor_matmul_supported(m->tok_embd.type))
            return he_fail(err, HE_UNSUPPORTED,
                           "model: tied output: no matmul kernel for token_embd type");
        m->output = m->tok_embd;
    }
    track_scratch(m, &m->output);
    for (int l = 0; l < hp->n_layer; l++) {
        hearth_layer *L = &m->layers[l];
        const hearth_weight *ws[] = {&L->wq,         &L->wk,         &L->wv,
                                     &L->wo,         &L->w_gate,     &L->w_up,
                                     &L->w_down,     &L->gate_inp,   &L->gate_exps,
                                     &L->up_exps,    &L->down_exps,  &L->gate_shexp,
                                     &L->up_shexp,   &L->down_shexp, &L->gate_inp_shexp};
        for (size_t i = 0; i < sizeof ws / sizeof ws[0]; i++)
            track_scratch(m, ws[i]);
    }
    return rope_setup(m, err);
}

/* ---- Public ---- */

hearth_model_params hearth_model_params_default(void) {
    return (hearth_model_params){.load_vocab = true};
}

/* Whether to map the whole file in at load (gguf_populate): HEARTH_PREFAULT=0 never, =1 always;
 * otherwise when the file is at most three quarters of the machine's RAM (llama.cpp maps every
 * file in, MAP_POPULATE; a 30B-A3B Q4_K_M, 18.6 GB, on a 24 GiB machine is under the line). A token of a MoE model touches
 * experts it has not used before for many steps, each first touch a page fault on the
 * generation path (~8% of a qwen1.5-moe-a2.7b decode profile, docs/BENCHMARKS.md); mapping it
 * all at load moves that cost there (and reads a file not yet in the page cache at disk speed,
 * in one go). Larger files are left to fault in, so that a model near the size of RAM is not
 * read in whole before its first token. */
static bool want_prefault(const gguf_file *f) {
    const char *e = getenv("HEARTH_PREFAULT");
    if (e && *e) return strcmp(e, "0") != 0;
    const long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
    if (pages <= 0 || psz <= 0) return false;
    return (double)gguf_file_size(f) <= 0.75 * (double)pages * (double)psz;
}

hearth_model *hearth_model_load(const char *path, const hearth_model_params *p, he_error *err) {
    gguf_file *f = gguf_open(path, err);
    if (!f) return NULL;
    hearth_model *m = hearth_model_from_gguf(f, p, err);
    if (!m) {
        he_prefix(err, "%s", path);
        return NULL;
    }
    if (want_prefault(f) && gguf_populate(f) != 0)
        log_debug("model: could not prefault %s (the pages fault in on first use)", path);
    return m;
}

hearth_model *hearth_model_from_gguf(gguf_file *f, const hearth_model_params *p, he_error *err) {
    hearth_model_params def = hearth_model_params_default();
    if (!p) p = &def;
    hearth_model *m = xcalloc(1, sizeof *m);
    m->file = f;
    gguf_str an;
    int rc = gguf_find_str(m->file, "general.architecture", &an, err);
    if (rc < 0) goto fail;
    if (rc == 0) {
        he_fail(err, HE_FORMAT, "model: no general.architecture key");
        goto fail;
    }
    m->arch = hearth_arch_find(an.ptr, an.len);
    if (!m->arch) {
        he_fail(err, HE_UNSUPPORTED, "model: architecture '%.*s' is not supported (known: %s)",
                (int)(an.len > 64 ? 64 : an.len), an.ptr, hearth_arch_names());
        goto fail;
    }
    if (hearth_model_bind(m, err)) goto fail;
    if (p->n_layer_use < 0) {
        he_fail(err, HE_INVALID, "model: n_layer_use %d is negative", p->n_layer_use);
        goto fail;
    }
    /* layer skip: every layer is bound (validated), only the first n_layer_use run */
    if (p->n_layer_use > 0 && p->n_layer_use < m->hp.n_layer) m->hp.n_layer = p->n_layer_use;
    if (p->load_vocab && gguf_find_key(m->file, "tokenizer.ggml.tokens") >= 0) {
        m->vocab = tok_vocab_load(m->file, err);
        if (!m->vocab) goto fail;
        if (tok_n_vocab(m->vocab) > m->hp.n_vocab) {
            he_fail(err, HE_FORMAT,
                    "model: the vocabulary has %d tokens but token_embd.weight only %d rows",
                    tok_n_vocab(m->vocab), m->hp.n_vocab);
            goto fail;
        }
    }
    return m;
fail:
    hearth_model_free(m);
    return NULL;
}

void hearth_model_free(hearth_model *m) {
    if (!m) return;
    tok_vocab_free(m->vocab);
    hearth_encoder_free(m->enc);
    for (int i = 0; i < m->n_lora; i++)
        hearth_lora_free(m->lora[i]);
    free(m->lora);
    free(m->layers);
    free(m->inv_freq);
    free(m->rope_div);
    free(m->rope_div_long);
    free(m->rope_div_ones);
    gguf_close(m->file);
    free(m);
}

const char *hearth_model_arch(const hearth_model *m) { return m->arch->name; }
int32_t hearth_model_n_vocab(const hearth_model *m) { return m->hp.n_vocab; }
int32_t hearth_model_n_ctx_train(const hearth_model *m) { return m->hp.n_ctx_train; }
int32_t hearth_model_n_embd(const hearth_model *m) { return m->hp.n_embd; }
int32_t hearth_model_n_layer(const hearth_model *m) { return m->hp.n_layer; }
int32_t hearth_model_n_expert_used(const hearth_model *m) { return m->hp.n_expert_used; }
int32_t hearth_model_n_expert(const hearth_model *m) { return m->hp.n_expert; }

long long hearth_model_huge_mapped(const hearth_model *m) { return gguf_huge_mapped(m->file); }

uint64_t hearth_model_idle_bytes(const hearth_model *m) {
    const hearth_hparams *hp = &m->hp;
    uint64_t idle = 0;
    if (m->tok_embd.data && m->output.data != m->tok_embd.data)
        idle += (uint64_t)m->tok_embd.n_out * (uint64_t)tensor_row_size(m->tok_embd.type,
                                                                        m->tok_embd.n_in);
    if (hp->n_expert == 0) return idle;
    uint64_t all = 0;
    for (int l = 0; l < hp->n_layer; l++) {
        const hearth_layer *L = &m->layers[l];
        const hearth_weight *ws[] = {&L->gate_exps, &L->up_exps, &L->down_exps};
        for (int i = 0; i < 3; i++)
            if (ws[i]->data)
                all += (uint64_t)ws[i]->n_mat * (uint64_t)ws[i]->n_out *
                       (uint64_t)tensor_row_size(ws[i]->type, ws[i]->n_in);
    }
    return idle + all / (uint64_t)hp->n_expert * (uint64_t)(hp->n_expert - hp->n_expert_used);
}
const tok_vocab *hearth_model_vocab(const hearth_model *m) { return m->vocab; }
