/* test_lora.c — LoRA adapters (model/lora.h).
 *
 * The tiny Llama (f32 and q8_0) and a random rank-8 adapter on every projection are regenerated
 * with make-model / make-lora's generators (deterministic for their seeds) and checked against
 * llama.cpp's llama-server run bare, with `--lora A` and with `--lora-scaled A 0.5`
 * (tests/data/lora/lora.reference.json, tools/lora_reference.py): next-token top-5 log-probs
 * within 2e-4 (f32) and 2e-6 (q8_0: equal, see ref_tol), and the adapter must
 * move them visibly. Plus: two sequences with different adapter scales in one batch equal their
 * single-sequence results, scale 0 equals the bare base bit for bit, and the loader's refusals (architecture, shapes, names, missing alpha,
 * truncation). */
#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ORACLE_TAG "lora"
#include "engine_oracle.h"
#include "fixtures.h"
#include "gguf/gguf.h"
#include "model/hearth.h"
#include "model/lora.h"
#include "model/synth.h"
#include "tensor/tensor.h"

static void tmp_path(char *path, size_t cap, const char *what) {
    snprintf(path, cap, "/tmp/hearth_test_lora_%d_%s.gguf", (int)getpid(), what);
}

static void make_lora(char *path, size_t cap, const char *base, const char *what, int rank,
                      uint64_t seed) {
    tmp_path(path, cap, what);
    he_error err = {0};
    cr_assert_eq(hearth_lora_make(base, rank, 0.0f, HEARTH_LORA_ALL, seed, path, &err), 0,
                 "make-lora: %s", err.msg);
}

static int32_t add_ok(hearth_model *m, const char *path) {
    he_error err = {0};
    hearth_lora *a = hearth_lora_load(m, path, &err);
    cr_assert_not_null(a, "lora %s: %s", path, err.msg);
    int32_t id = hearth_model_add_lora(m, a, &err);
    cr_assert_geq(id, 0, "%s", err.msg);
    return id;
}

static hearth_ctx *lora_ctx(const hearth_model *m, int n_seq) {
    hearth_ctx_params p = hearth_ctx_params_default();
    p.n_ctx = 512;
    p.n_seq = n_seq;
    p.n_batch = 128;
    p.n_threads = 2;
    he_error err = {0};
    hearth_ctx *c = hearth_ctx_new(m, &p, &err);
    cr_assert_not_null(c, "ctx: %s", err.msg);
    return c;
}

/* Last-token log-probs of ids decoded into sequence 0 of a fresh context with adapter 0 (when
 * the model has one) at scale. */
static void lora_next_logprobs(const hearth_model *m, float scale, const int32_t *ids, int n,
                          double *lp) {
    hearth_ctx *c = lora_ctx(m, 1);
    he_error err = {0};
    if (hearth_model_n_lora(m) > 0) cr_assert_eq(hearth_ctx_set_lora(c, 0, 0, scale, &err), 0);
    hearth_batch b;
    hearth_batch_init(&b, 128);
    for (int j = 0; j < n; j++)
        hearth_batch_add(&b, ids[j], j, 0, j == n - 1);
    cr_assert_eq(hearth_decode(c, &b, &err), 0, "decode: %s", err.msg);
    const float *x = hearth_logits(c, n - 1);
    cr_assert_not_null(x);
    server_logprobs(x, hearth_model_n_vocab(m), lp);
    hearth_batch_deinit(&b);
    hearth_ctx_free(c);
}

/* Measured (tools/lora_reference.py fixture): f32 base bare 1.1e-5 (llama.cpp's F32 base
 * matmuls take tinyBLAS's order for prompts, hearth's ggml_vec_dot_f32's), with the adapter at
 * 1 and 0.5: 2.1e-5 and 9.5e-7 — held to 2e-4.
 *
 * q8_0 base, bare and with the adapter at 1 and 0.5: 0 (every case, with HEARTH_ISA=avx512,
 * avx2 with and without AVX-VNNI, and ref) — held to 2e-6, the fixture's printed precision with
 * room to spare. Issue 22 traced the earlier gap (3.2e-3 at scale 1, 2.7e-3 at 0.5, held to
 * 5e-3) with full tensor dumps of llama.cpp's graph (a cb_eval program on the peer's libllama)
 * against hearth's, layer by layer, to two last-bit differences, both fixed:
 *  1. rank-8 lora_b products are ggml_vec_dot_f32 with n = 8, i.e. its tail loop alone, which
 *     the peer's gcc build vectorizes with ordered adds: the product rounded, then added (its
 *     disassembly; tensor_f32_tail). hearth fused them (6.4e-3 at scale 1 then).
 *  2. every Q8_0 x Q8_0 dot: ggml's x86 kernels (vec_dot and tinyBLAS alike) keep 8 float lanes
 *     per output, lane l += d * (int sum of elements 4l..4l+3) fused, summed at the end; hearth
 *     added d * (block's int sum) to one running sum. ~70% of the base outputs differed in the
 *     last bit, which the f16 KV cache and the next layer's 8-bit activations then amplified.
 *     Every Q8_0 kernel now keeps llama.cpp's lanes (tensor_ref_dot_q8_0_q8_0). */
static double ref_tol(const char *type) { return !strcmp(type, "f32") ? 2e-4 : 2e-6; }
Test(lora, matches_llama_server_with_and_without_adapter) {
    char ref[1024];
    fixture_path(ref, sizeof ref, "lora/lora.reference.json");
    json_error_t je;
    json_t *root = json_load_file(ref, 0, &je);
    cr_assert_not_null(root, "%s: %s", ref, je.text);
    const char *shape = json_string_value(json_object_get(root, "shape"));
    uint64_t seed = (uint64_t)json_integer_value(json_object_get(root, "seed"));
    uint64_t lseed = (uint64_t)json_integer_value(json_object_get(root, "lora_seed"));
    int rank = (int)json_integer_value(json_object_get(root, "rank"));
    cr_assert(shape && rank > 0);
    double worst = 0.0, moved = 0.0;
    int n_checked = 0;
    size_t mi;
    json_t *mo;
    json_array_foreach(json_object_get(root, "models"), mi, mo) {
        const char *type = json_string_value(json_object_get(mo, "type"));
        char base[256], lora[256], what[64];
        make_model(base, sizeof base, shape, type, seed);
        snprintf(what, sizeof what, "ref_%s", type);
        make_lora(lora, sizeof lora, base, what, rank, lseed);
        hearth_model *m = load_ok(base);
        add_ok(m, lora);
        const int nv = hearth_model_n_vocab(m);
        double *lp = malloc((size_t)nv * sizeof *lp);
        cr_assert_not_null(lp);
        json_t *runs = json_object_get(mo, "runs");
        json_t *bare = NULL;
        size_t ri;
        json_t *run;
        json_array_foreach(runs, ri, run) {
            if (json_real_value(json_object_get(run, "scale")) == 0.0) bare = run;
        }
        cr_assert_not_null(bare);
        json_array_foreach(runs, ri, run) {
            const float scale = (float)json_real_value(json_object_get(run, "scale"));
            double run_worst = 0.0;
            size_t ci;
            json_t *cs;
            json_array_foreach(json_object_get(run, "cases"), ci, cs) {
                json_t *ja = json_object_get(cs, "prompt_ids");
                int n = (int)json_array_size(ja);
                cr_assert(n >= 1 && n <= 128);
                int32_t ids[128];
                for (int i = 0; i < n; i++)
                    ids[i] = (int32_t)json_integer_value(json_array_get(ja, (size_t)i));
                lora_next_logprobs(m, scale, ids, n, lp);
                json_t *top = json_object_get(cs, "top5");
                cr_assert_eq(json_array_size(top), 5);
                for (size_t k = 0; k < 5; k++) {
                    json_t *e = json_array_get(top, k);
                    int id = (int)json_integer_value(json_array_get(e, 0));
                    double r = json_real_value(json_array_get(e, 1));
                    cr_assert(id >= 0 && id < nv);
                    double d = fabs(lp[id] - r);
                    if (d > worst) worst = d;
                    if (d > run_worst) run_worst = d;
                    cr_expect_leq(d, ref_tol(type),
                                  "%s scale %g case %zu: token %d %.6f vs %.6f", type,
                                  (double)scale, ci, id, lp[id], r);
                }
                n_checked++;
                if (scale == 0.0f) continue;
                /* the adapter visibly moves the reference's own distribution */
                json_t *bc = json_array_get(json_object_get(bare, "cases"), ci);
                cr_assert_not_null(bc);
                double b0 = json_real_value(
                           json_array_get(json_array_get(json_object_get(bc, "top5"), 0), 1)),
                       l0 = json_real_value(json_array_get(json_array_get(top, 0), 1));
                int bid = (int)json_integer_value(
                    json_array_get(json_array_get(json_object_get(bc, "top5"), 0), 0));
                int lid = (int)json_integer_value(json_array_get(json_array_get(top, 0), 0));
                double mv = bid != lid ? 1.0 : fabs(b0 - l0);
                if (mv > moved) moved = mv;
            }
            cr_log_info("%s scale %g: max |d log-prob| %.2e", type, (double)scale, run_worst);
        }
        free(lp);
        hearth_model_free(m);
        unlink(base);
        unlink(lora);
    }
    json_decref(root);
    cr_assert_gt(n_checked, 10);
    cr_expect_gt(moved, 0.05, "the adapter should change the top token or its log-prob");
    cr_log_info("lora vs llama-server: %d cases, max |d log-prob| %.2e", n_checked, worst);
}

/* Two sequences with different adapter sets in one batch (prompt and decode steps) equal each
 * one decoded alone; scale 0 everywhere equals the model without adapters, bit for bit. */
Test(lora, batch_of_mixed_adapters_equals_single_sequences) {
    char base[256], la[256], lb[256];
    make_model(base, sizeof base, "tiny", "q8_0", 3);
    make_lora(la, sizeof la, base, "mix_a", 8, 21);
    make_lora(lb, sizeof lb, base, "mix_b", 4, 22);
    hearth_model *bare = load_ok(base);
    hearth_model *m = load_ok(base);
    add_ok(m, la);
    add_ok(m, lb);
    const int nv = hearth_model_n_vocab(m), n = 9;
    int32_t ids[9] = {1, 17, 300, 5, 99, 42, 7, 512, 33};
    /* sets: seq 0 adapter a at 1; seq 1 a at 0.5 and b at 2; seq 2 nothing */
    const float sc[3][2] = {{1.0f, 0.0f}, {0.5f, 2.0f}, {0.0f, 0.0f}};
    float *solo = malloc((size_t)3 * 2 * nv * sizeof(float));
    cr_assert_not_null(solo);
    he_error err = {0};
    hearth_batch b;
    hearth_batch_init(&b, 64);
    for (int s = 0; s < 3; s++) {
        hearth_ctx *c = lora_ctx(m, 1);
        for (int a = 0; a < 2; a++)
            cr_assert_eq(hearth_ctx_set_lora(c, a, 0, sc[s][a], &err), 0);
        hearth_batch_clear(&b);
        for (int j = 0; j < n; j++)
            hearth_batch_add(&b, ids[j], j, 0, j == n - 1);
        cr_assert_eq(hearth_decode(c, &b, &err), 0, "%s", err.msg);
        memcpy(solo + (size_t)(s * 2) * nv, hearth_logits(c, n - 1), (size_t)nv * sizeof(float));
        hearth_batch_clear(&b);
        hearth_batch_add(&b, 77, n, 0, true);
        cr_assert_eq(hearth_decode(c, &b, &err), 0, "%s", err.msg);
        memcpy(solo + (size_t)(s * 2 + 1) * nv, hearth_logits(c, 0), (size_t)nv * sizeof(float));
        hearth_ctx_free(c);
    }
    /* all three in one context, prompts in one batch, then one decode step together */
    hearth_ctx *c = lora_ctx(m, 3);
    for (int s = 0; s < 3; s++)
        for (int a = 0; a < 2; a++)
            cr_assert_eq(hearth_ctx_set_lora(c, a, s, sc[s][a], &err), 0);
    hearth_batch_clear(&b);
    for (int s = 0; s < 3; s++)
        for (int j = 0; j < n; j++)
            hearth_batch_add(&b, ids[j], j, s, j == n - 1);
    cr_assert_eq(hearth_decode(c, &b, &err), 0, "%s", err.msg);
    for (int s = 0; s < 3; s++)
        cr_expect_arr_eq(hearth_logits(c, s * n + n - 1), solo + (size_t)(s * 2) * nv,
                         (size_t)nv * sizeof(float), "prompt logits of seq %d differ", s);
    hearth_batch_clear(&b);
    for (int s = 0; s < 3; s++)
        hearth_batch_add(&b, 77, n, s, true);
    cr_assert_eq(hearth_decode(c, &b, &err), 0, "%s", err.msg);
    for (int s = 0; s < 3; s++)
        cr_expect_arr_eq(hearth_logits(c, s), solo + (size_t)(s * 2 + 1) * nv,
                         (size_t)nv * sizeof(float), "decode logits of seq %d differ", s);
    hearth_ctx_free(c);
    /* seq 2 (no adapter) equals the bare model; seq 0 and 1 differ from it */
    hearth_ctx *cb = lora_ctx(bare, 1);
    hearth_batch_clear(&b);
    for (int j = 0; j < n; j++)
        hearth_batch_add(&b, ids[j], j, 0, j == n - 1);
    cr_assert_eq(hearth_decode(cb, &b, &err), 0, "%s", err.msg);
    cr_expect_arr_eq(hearth_logits(cb, n - 1), solo + (size_t)4 * nv, (size_t)nv * sizeof(float));
    cr_expect_arr_neq(hearth_logits(cb, n - 1), solo, (size_t)nv * sizeof(float));
    cr_expect_arr_neq(hearth_logits(cb, n - 1), solo + (size_t)2 * nv, (size_t)nv * sizeof(float));
    hearth_ctx_free(cb);
    hearth_batch_deinit(&b);
    free(solo);
    hearth_model_free(m);
    hearth_model_free(bare);
    unlink(base);
    unlink(la);
    unlink(lb);
}

/* ---- refusals ---- */

typedef struct {
    const char *arch, *gtype, *atype;
    bool alpha;
    const char *name_a, *name_b;
    int64_t a0, a1, b0, b1;
} bad_spec;

/* An adapter with one pair of tensors as spec says; returns the loader's error (code, msg). */
static he_code load_spec(const hearth_model *m, const bad_spec *s, char *msg, size_t cap) {
    gguf_writer *w = gguf_writer_new();
    if (s->arch) gguf_writer_set_str(w, "general.architecture", s->arch);
    if (s->gtype) gguf_writer_set_str(w, "general.type", s->gtype);
    if (s->atype) gguf_writer_set_str(w, "adapter.type", s->atype);
    if (s->alpha) gguf_writer_set_f32(w, "adapter.lora.alpha", 16.0f);
    float *da = calloc((size_t)(s->a0 * s->a1), sizeof(float));
    float *db = calloc((size_t)(s->b0 * s->b1), sizeof(float));
    he_error err = {0};
    const int64_t nea[2] = {s->a0, s->a1}, neb[2] = {s->b0, s->b1};
    if (s->name_a) cr_assert_eq(gguf_writer_add_tensor(w, s->name_a, 0, 2, nea, da, &err), 0);
    if (s->name_b) cr_assert_eq(gguf_writer_add_tensor(w, s->name_b, 0, 2, neb, db, &err), 0);
    char path[256];
    tmp_path(path, sizeof path, "bad");
    cr_assert_eq(gguf_writer_write(w, path, &err), 0, "%s", err.msg);
    gguf_writer_free(w);
    free(da);
    free(db);
    hearth_lora *a = hearth_lora_load(m, path, &err);
    unlink(path);
    if (a) {
        hearth_lora_free(a);
        return HE_OK;
    }
    snprintf(msg, cap, "%s", err.msg);
    return err.code;
}

Test(lora, refuses_malformed_adapters) {
    char base[256], msg[512];
    make_model(base, sizeof base, "tiny", "q8_0", 5);
    hearth_model *m = load_ok(base);
    const char *qa = "blk.0.attn_q.weight.lora_a", *qb = "blk.0.attn_q.weight.lora_b";
    bad_spec good = {"llama", "adapter", "lora", true, qa, qb, 256, 8, 8, 256};
    cr_assert_eq(load_spec(m, &good, msg, sizeof msg), HE_OK, "%s", msg);
    struct {
        bad_spec s;
        const char *want;
    } cases[] = {
        {{"qwen2", "adapter", "lora", true, qa, qb, 256, 8, 8, 256}, "architecture"},
        {{"llama", "model", "lora", true, qa, qb, 256, 8, 8, 256}, "general.type"},
        {{"llama", "adapter", "control_vector", true, qa, qb, 256, 8, 8, 256}, "adapter.type"},
        {{"llama", "adapter", "lora", false, qa, qb, 256, 8, 8, 256}, "alpha"},
        {{"llama", "adapter", "lora", true, qa, qb, 128, 8, 8, 256}, "blk.0.attn_q.weight"},
        {{"llama", "adapter", "lora", true, qa, qb, 256, 8, 8, 128}, "blk.0.attn_q.weight"},
        {{"llama", "adapter", "lora", true, qa, qb, 256, 8, 4, 256}, "rank"},
        {{"llama", "adapter", "lora", true, qa, NULL, 256, 8, 8, 256}, "no lora_b"},
        {{"llama", "adapter", "lora", true, "output.weight.lora_a", NULL, 256, 8, 8, 256},
         "output.weight.lora_a"},
        {{"llama", "adapter", "lora", true, "blk.9.attn_q.weight.lora_a", NULL, 256, 8, 8, 256},
         "no layer 9"},
        {{"llama", "adapter", "lora", true, "blk.0.attn_q.weight", NULL, 256, 8, 8, 256},
         "neither"},
        {{"llama", "adapter", "lora", true, NULL, NULL, 256, 8, 8, 256}, "no lora_a/lora_b"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        he_code code = load_spec(m, &cases[i].s, msg, sizeof msg);
        cr_expect_neq(code, HE_OK, "case %zu loaded", i);
        cr_expect(strstr(msg, cases[i].want) != NULL, "case %zu: '%s' lacks '%s'", i, msg,
                  cases[i].want);
    }
    /* truncated: the GGUF reader refuses it before the adapter checks */
    char lora[256];
    make_lora(lora, sizeof lora, base, "trunc", 4, 1);
    FILE *f = fopen(lora, "rb");
    cr_assert_not_null(f);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fclose(f);
    cr_assert_eq(truncate(lora, size - 100), 0);
    he_error err = {0};
    cr_expect_null(hearth_lora_load(m, lora, &err));
    cr_expect_neq(err.code, HE_OK);
    cr_log_info("truncated adapter: %s", err.msg);
    unlink(lora);
    /* scales: bad ids and non-finite values */
    make_lora(lora, sizeof lora, base, "scales", 4, 1);
    add_ok(m, lora);
    hearth_ctx *c = lora_ctx(m, 2);
    cr_expect_neq(hearth_ctx_set_lora(c, 1, 0, 1.0f, &err), 0);
    cr_expect_neq(hearth_ctx_set_lora(c, 0, 2, 1.0f, &err), 0);
    cr_expect_neq(hearth_ctx_set_lora(c, 0, 0, NAN, &err), 0);
    cr_expect_eq(hearth_ctx_set_lora(c, 0, -1, 0.25f, &err), 0);
    cr_expect_eq(hearth_ctx_lora_scale(c, 0, 1), 0.25f);
    hearth_ctx_free(c);
    hearth_model_free(m);
    unlink(lora);
    unlink(base);
}

/* hearth_lora_merge: the merged model's logits against the base with the adapter applied at run
 * time at the same scale (0.5, rank 8, every projection). F32 base: only the order of the f32
 * sums differs — measured max |diff| 1.1e-6 with logits up to 1.05, bound 1e-5 x max |logit|.
 * Q8_0 base: the merged rows are requantized to Q8_0 — measured 1.7e-2 (1.6%), bound 5e-2 x
 * max |logit|; the bare base is 0.38 away, and the merged model must stay 4x closer than it. */
static void merged_vs_runtime(const char *type, const char *to, double rel_bound) {
    char base[256], lora[256], merged[256], what[64];
    make_model(base, sizeof base, "tiny", type, 9);
    snprintf(what, sizeof what, "merge_%s", type);
    make_lora(lora, sizeof lora, base, what, 8, 31);
    snprintf(what, sizeof what, "merged_%s", type);
    tmp_path(merged, sizeof merged, what);
    he_error err = {0};
    cr_assert_eq(hearth_lora_merge(base, lora, 0.5f, to, merged, &err), 0, "merge: %s", err.msg);
    if (to) { /* --type: every 2-D weight, the merged ones included, is in the target type now */
        gguf_file *g = gguf_open(merged, &err);
        cr_assert_not_null(g, "%s", err.msg);
        int n_q = 0;
        for (int64_t i = 0; i < gguf_n_tensors(g); i++) {
            const gguf_tensor *t = gguf_tensor_at(g, i);
            if (t->n_dims == 2) {
                cr_expect_eq(t->type, TENSOR_TYPE_Q8_0, "%.*s", (int)t->name.len, t->name.ptr);
                n_q++;
            }
        }
        cr_assert_gt(n_q, 14); /* 7 projections x 2 layers + embeddings */
        gguf_close(g);
    }
    hearth_model *m = load_ok(base), *mm = load_ok(merged), *bare = load_ok(base);
    add_ok(m, lora);
    const int nv = hearth_model_n_vocab(m), n = 7;
    const int32_t ids[7] = {1, 40, 300, 12, 650, 5, 99};
    const float *lg[3];
    hearth_ctx *cs[3];
    const hearth_model *ms[3] = {m, mm, bare};
    hearth_batch b;
    hearth_batch_init(&b, 16);
    for (int i = 0; i < 3; i++) {
        cs[i] = lora_ctx(ms[i], 1);
        if (i == 0) cr_assert_eq(hearth_ctx_set_lora(cs[0], 0, 0, 0.5f, &err), 0);
        hearth_batch_clear(&b);
        for (int j = 0; j < n; j++)
            hearth_batch_add(&b, ids[j], j, 0, j == n - 1);
        cr_assert_eq(hearth_decode(cs[i], &b, &err), 0, "%s", err.msg);
        lg[i] = hearth_logits(cs[i], n - 1);
    }
    double mx = 0, d_merge = 0, d_bare = 0;
    for (int v = 0; v < nv; v++) {
        if (fabs(lg[0][v]) > mx) mx = fabs(lg[0][v]);
        if (fabs(lg[1][v] - lg[0][v]) > d_merge) d_merge = fabs(lg[1][v] - lg[0][v]);
        if (fabs(lg[2][v] - lg[0][v]) > d_bare) d_bare = fabs(lg[2][v] - lg[0][v]);
    }
    cr_log_info(
        "lora merge %s%s%s: max |merged - runtime| %.3e, |bare - runtime| %.3e, max |logit| %.3f",
        type, to ? " --type " : "", to ? to : "", d_merge, d_bare, mx);
    cr_expect_leq(d_merge, rel_bound * mx, "%s: merged differs from runtime by %g", type, d_merge);
    cr_expect_lt(d_merge * 4, d_bare, "%s: merged (%g) not much closer than bare (%g)", type,
                 d_merge, d_bare);
    for (int i = 0; i < 3; i++)
        hearth_ctx_free(cs[i]);
    hearth_batch_deinit(&b);
    hearth_model_free(m);
    hearth_model_free(mm);
    hearth_model_free(bare);
    unlink(base);
    unlink(lora);
    unlink(merged);
}

Test(lora, merge_equals_runtime_f32) { merged_vs_runtime("f32", NULL, 1e-5); }
Test(lora, merge_equals_runtime_q8_0) { merged_vs_runtime("q8_0", NULL, 5e-2); }
/* --type q8_0 from an f32 base: the merged f32 weights rounded once to Q8_0, against the f32 base
 * with the adapter at run time — the Q8_0 rounding of every weight (measured below; same bound
 * as the Q8_0 base's merge). */
Test(lora, merge_with_type_quantizes_the_merged_model) { merged_vs_runtime("f32", "q8_0", 5e-2); }
